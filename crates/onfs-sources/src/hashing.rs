//! Row and entity-key hashes of a batch (DataFusion's vectorized hashing, fixed seed), for the
//! streaming `distinct` and duplicate-key check after the join (the push ledger hashes in
//! `onfs_state::hashing`).

use arrow_array::{ArrayRef, RecordBatch};
use datafusion::common::hash_utils::{create_hashes, RandomState};

use crate::SourceError;

/// `(key hashes, row hashes)`, one each per row.
pub fn key_and_row_hashes(
    batch: &RecordBatch,
    keys: &[String],
) -> Result<(Vec<u64>, Vec<u64>), SourceError> {
    let state = RandomState::with_seed(0x6f6e_6673);
    let n = batch.num_rows();
    let key_arrays: Vec<ArrayRef> = keys
        .iter()
        .map(|k| {
            batch.column_by_name(k).cloned().ok_or_else(|| {
                SourceError::Engine(format!("key column {k:?} missing after the join"))
            })
        })
        .collect::<Result<_, _>>()?;
    let mut key_hashes = vec![0u64; n];
    create_hashes(&key_arrays, &state, &mut key_hashes)?;
    let mut row_hashes = vec![0u64; n];
    create_hashes(batch.columns(), &state, &mut row_hashes)?;
    Ok((key_hashes, row_hashes))
}
