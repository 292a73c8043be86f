//! A job: one plan's sources read with the engine's limits, in one pass per partition.

use std::path::PathBuf;

use onfs_core::transform::OnDuplicateKey;
use onfs_core::Plan;
use onfs_sources::{
    Catalog, JobInput, JoinedSources, PartitionColumns, PartitionSelection, ReadOptions,
    SourceRead, StorageOptions,
};

use crate::{Changes, PipelineError};

/// The query engine's limits and the object store options, the same for every job of a run.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Bytes the engine may hold before spilling to disk.
    pub memory_limit: usize,
    /// Where it spills (the system's temporary folder if `None`).
    pub spill_dir: Option<PathBuf>,
    /// Streams read and encoded in parallel.
    pub target_partitions: usize,
    /// Object store options (endpoint, region, credentials ...) for every source.
    pub storage: StorageOptions,
}

impl EngineOptions {
    /// The default memory limit: half of this machine's memory (at least 256 MiB).
    pub fn default_memory_limit() -> usize {
        let total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| {
                        l.split_whitespace()
                            .nth(1)
                            .and_then(|kb| kb.parse::<usize>().ok())
                    })
            })
            .map(|kb| kb * 1024)
            .unwrap_or(4 << 30);
        (total / 2).max(256 << 20)
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            memory_limit: EngineOptions::default_memory_limit(),
            spill_dir: None,
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            storage: StorageOptions::default(),
        }
    }
}

/// What one job reads and how it treats the rows.
pub struct Job<'a> {
    /// Names the job in logs and errors.
    pub name: &'a str,
    pub plan: &'a Plan,
    pub catalog: &'a Catalog,
    pub partition_columns: PartitionColumns,
    /// The newest partition, a value, a range (one pass per value) or every row.
    pub selection: PartitionSelection,
    /// At most this many joined rows.
    pub limit: Option<usize>,
    pub on_duplicate_key: OnDuplicateKey,
    /// Count each source's rows for the report (one extra scan per source).
    pub count_sources: bool,
    pub engine: EngineOptions,
    /// Changed-only: the push ledger rows are compared with (and recorded in).
    pub changes: Option<&'a Changes>,
}

impl Job<'_> {
    pub(crate) fn read_options(&self, selection: &PartitionSelection) -> ReadOptions {
        ReadOptions {
            partition_columns: self.partition_columns.clone(),
            selection: selection.clone(),
            limit: self.limit,
            memory_limit: self.engine_memory(),
            target_partitions: self.engine.target_partitions,
            spill_dir: self.engine.spill_dir.clone(),
            storage: self.engine.storage.clone(),
        }
    }

    pub(crate) fn input(&self) -> JobInput<'_> {
        JobInput {
            plan: self.plan,
            catalog: self.catalog,
        }
    }

    /// The passes of the job: one per partition value of a range (over every source, in
    /// partition order), else the selection itself.
    pub fn passes(
        &self,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Vec<PartitionSelection>, PipelineError> {
        self.warn_of_ledger_memory();
        let PartitionSelection::Range(from, to) = &self.selection else {
            return Ok(vec![self.selection.clone()]);
        };
        let opts = self.read_options(&self.selection);
        let ctx = onfs_sources::joined::session(&opts)?;
        let values = runtime.block_on(JoinedSources::range_values(&ctx, &self.input(), &opts))?;
        if values.is_empty() {
            return Err(PipelineError::EmptyRange {
                job: self.name.to_string(),
                from: from.clone(),
                to: to.clone(),
            });
        }
        Ok(values.into_iter().map(PartitionSelection::Value).collect())
    }

    /// What the engine may hold before it spills: the memory limit less the push ledger held
    /// beside it (changed-only), as the ledger stands when a pass begins.
    fn engine_memory(&self) -> usize {
        let held = self.changes.map_or(0, Changes::memory_bytes);
        engine_share(self.engine.memory_limit, held)
    }

    /// The changed-only comparison holds the job's ledger in memory beside the engine, within
    /// the same limit: says so when the ledger leaves the engine less than it keeps at least,
    /// so that the run holds more than the limit.
    fn warn_of_ledger_memory(&self) {
        let Some(changes) = self.changes else {
            return;
        };
        let held = changes.memory_bytes();
        let limit = self.engine.memory_limit;
        if held > limit - limit / 4 {
            tracing::warn!(
                job = %self.name,
                keys = changes.known_keys(),
                "the push ledger takes {} in memory, more than the memory limit of {} leaves \
                 beside the quarter of it the engine keeps (the run may hold {}): raise \
                 --memory-limit, or push fewer feature groups per job",
                shown_bytes(held),
                shown_bytes(limit),
                shown_bytes(held + engine_share(limit, held))
            );
        }
    }

    /// Each source checked as the job's first pass would open it, without reading its rows
    /// (see [`JoinedSources::check_sources`]); for a range, each source's newest partition.
    pub fn check_sources(
        &self,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Vec<Result<SourceRead, onfs_sources::SourceError>>, PipelineError> {
        let selection = match &self.selection {
            PartitionSelection::Range(..) => PartitionSelection::Newest,
            s => s.clone(),
        };
        let opts = self.read_options(&selection);
        let ctx = onfs_sources::joined::session(&opts)?;
        Ok(runtime.block_on(JoinedSources::check_sources(&ctx, &self.input(), &opts)))
    }
}

/// Of a memory `limit`, what the engine may hold when `held` bytes are held beside it: the
/// rest, and at least a quarter of the limit.
fn engine_share(limit: usize, held: usize) -> usize {
    limit.saturating_sub(held).max(limit / 4)
}

/// `bytes` in MiB, or in bytes below one.
fn shown_bytes(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::engine_share;

    #[test]
    fn the_engine_keeps_what_the_ledger_leaves_and_at_least_a_quarter() {
        assert_eq!(engine_share(1000, 0), 1000);
        assert_eq!(engine_share(1000, 600), 400);
        assert_eq!(engine_share(1000, 800), 250);
        assert_eq!(engine_share(1000, 5000), 250);
    }
}
