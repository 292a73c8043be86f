//! `HEAD.json`: the ledger file in effect, the partitions pushed, the last runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Runs kept in the head, newest last.
const RUNS_KEPT: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Head {
    pub version: u32,
    pub job: String,
    pub groups: Vec<String>,
    /// How keys and values were hashed (`ledger::HASH_SCHEME`).
    pub hash_scheme: String,
    /// The ledger file, next to the head; `None` before the first changed-only run.
    pub ledger: Option<String>,
    /// Entity keys in the ledger.
    pub keys: u64,
    /// The ledger file's size.
    pub ledger_bytes: u64,
    /// Every pass pushed by a successful run: its sources' partitions.
    pub pushed: Vec<PushedPass>,
    /// The last runs that committed, oldest first.
    pub runs: Vec<RunRecord>,
}

/// One pass of a successful run: each source and the partition it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedPass {
    /// `(source, partition)`; `None`: every row of the source (not a partition).
    pub sources: Vec<(String, Option<String>)>,
    pub run: String,
}

impl PushedPass {
    /// Whether a pass reading these partitions is this one. A pass that read a source whole
    /// (no partition) is never "already pushed": its rows may have changed.
    pub fn covers(&self, sources: &[(String, Option<String>)]) -> bool {
        sources.iter().all(|(_, p)| p.is_some()) && self.sources == sources
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub started: String,
    pub finished: String,
    /// Where the messages went (`Kafka topic t`, a folder).
    pub output: String,
    pub rows: u64,
    pub messages: u64,
    pub bytes: u64,
    /// With changed-only: per group, entities `new`, `changed`, `unchanged`, `refreshed`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Head {
    pub(crate) fn add_run(&mut self, run: RunRecord) {
        self.runs.push(run);
        let extra = self.runs.len().saturating_sub(RUNS_KEPT);
        self.runs.drain(..extra);
    }

    /// The pass of an earlier successful run that read exactly these partitions.
    pub fn pushed_pass(&self, sources: &[(String, Option<String>)]) -> Option<&PushedPass> {
        self.pushed.iter().find(|p| p.covers(sources))
    }
}
