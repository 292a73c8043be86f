//! What one pass read, dropped, filled and made: for the summary and `--report`.

use std::collections::BTreeMap;

use onfs_core::store::VectorTally;
use onfs_sources::SourceRead;
use serde::Serialize;

#[derive(Debug, Default, Clone, Serialize)]
pub struct PassReport {
    /// The partition value of the pass (`None`: newest or all, see each source).
    pub partition: Option<String>,
    pub sources: Vec<SourceRead>,
    pub rows_after_join: u64,
    pub dropped_null_key_rows: u64,
    /// Changed-only: rows none of whose groups changed, not sent.
    pub unchanged_rows: u64,
    pub defaults_filled: BTreeMap<String, u64>,
    /// Rows equal to an earlier row, dropped (the original's `distinct`).
    pub exact_duplicate_rows: u64,
    /// Rows whose entity key was seen before with other values.
    pub duplicate_keys: u64,
    pub duplicate_key_examples: Vec<String>,
    pub rows: u64,
    pub messages: u64,
    /// The most rows one message holds: the online store keeps or drops a message whole, so
    /// one bad row loses this many.
    pub max_rows_per_message: u32,
    /// Per vector feature: the declared length, the lengths the rows had, rows padded or
    /// truncated to the declared length.
    pub vectors: Vec<VectorTally>,
    pub bytes: u64,
    pub seconds: f64,
}
