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
    /// Files of sends recorded since `ledger` was written, oldest first, next to the head: the
    /// ledger is `ledger` with each applied in turn (a run that changed few keys writes its
    /// sends, not the whole ledger).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// Entries in the `changes` files, all together.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub change_keys: u64,
    /// Entity keys in the ledger.
    pub keys: u64,
    /// The size of the ledger's files (`ledger` and `changes`).
    pub ledger_bytes: u64,
    /// Every pass pushed by a successful run: its sources' partitions.
    pub pushed: Vec<PushedPass>,
    /// The last runs that committed, oldest first.
    pub runs: Vec<RunRecord>,
}

/// The partitions one pass read: each source's, and what its files were.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassSources {
    /// `(source, partition)`; `None`: every row of the source (not a partition).
    pub sources: Vec<(String, Option<String>)>,
    /// Per source, a fingerprint of the files holding its partition when it was read (a
    /// source missing here could not be listed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, String>,
}

/// One pass of a successful run: each source and the partition it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedPass {
    /// `(source, partition)`; `None`: every row of the source (not a partition).
    pub sources: Vec<(String, Option<String>)>,
    /// Per source, a fingerprint of its partition's files when it was pushed (absent in heads
    /// written before fingerprints were kept).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, String>,
    /// The run that pushed it last.
    pub run: String,
}

impl PushedPass {
    /// Whether a pass reading these partitions is this one. A pass that read a source whole
    /// (no partition) is never "already pushed": its rows may have changed.
    pub fn covers(&self, sources: &[(String, Option<String>)]) -> bool {
        sources.iter().all(|(_, p)| p.is_some()) && self.sources == sources
    }

    /// The sources whose partition's files differ now from when they were pushed (both
    /// fingerprints known).
    pub fn changed_since(&self, versions: &BTreeMap<String, String>) -> Vec<String> {
        self.versions
            .iter()
            .filter(|(s, v)| versions.get(*s).is_some_and(|now| now != *v))
            .map(|(s, _)| s.clone())
            .collect()
    }
}

/// Whether a pass was pushed by a successful run.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed<'a> {
    /// Not by any: push it.
    No,
    /// By this run, and its partitions hold the same files.
    Same(&'a PushedPass),
    /// By this run, but these sources' partitions were rewritten or added to since.
    Changed(&'a PushedPass, Vec<String>),
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

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The head's layout: 2 added `changes` (an older version reading it would miss them).
pub(crate) const HEAD_VERSION: u32 = 2;

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

    /// Whether a pass reading these partitions was pushed, and whether their files changed
    /// since.
    pub fn pushed(&self, pass: &PassSources) -> Pushed<'_> {
        match self.pushed_pass(&pass.sources) {
            None => Pushed::No,
            Some(p) => {
                let changed = p.changed_since(&pass.versions);
                if changed.is_empty() {
                    Pushed::Same(p)
                } else {
                    Pushed::Changed(p, changed)
                }
            }
        }
    }

    /// Records a pass pushed by `run`: a pass already recorded for the same partitions takes
    /// this run and these files.
    pub(crate) fn record_pass(&mut self, pass: &PassSources, run: &str) {
        match self.pushed.iter_mut().find(|p| p.sources == pass.sources) {
            Some(p) => {
                p.versions = pass.versions.clone();
                p.run = run.to_string();
            }
            None => self.pushed.push(PushedPass {
                sources: pass.sources.clone(),
                versions: pass.versions.clone(),
                run: run.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(partition: &str, version: Option<&str>) -> PassSources {
        PassSources {
            sources: vec![("db.t".into(), Some(partition.into()))],
            versions: version
                .map(|v| [("db.t".to_string(), v.to_string())].into())
                .unwrap_or_default(),
        }
    }

    #[test]
    fn a_pass_is_pushed_with_the_same_files_or_changed_since() {
        let mut head = Head::default();
        assert_eq!(head.pushed(&pass("1", Some("files:1:aa"))), Pushed::No);
        head.record_pass(&pass("1", Some("files:1:aa")), "r1");
        assert!(
            matches!(head.pushed(&pass("1", Some("files:1:aa"))), Pushed::Same(p) if p.run == "r1")
        );
        match head.pushed(&pass("1", Some("files:2:bb"))) {
            Pushed::Changed(p, sources) => {
                assert_eq!(p.run, "r1");
                assert_eq!(sources, ["db.t"]);
            }
            other => panic!("{other:?}"),
        }
        // Unknown on either side: taken as the same.
        assert!(matches!(head.pushed(&pass("1", None)), Pushed::Same(_)));
        assert_eq!(head.pushed(&pass("2", Some("files:1:aa"))), Pushed::No);
        // Pushed again: one entry, with the new run and files.
        head.record_pass(&pass("1", Some("files:2:bb")), "r2");
        assert_eq!(head.pushed.len(), 1);
        assert!(
            matches!(head.pushed(&pass("1", Some("files:2:bb"))), Pushed::Same(p) if p.run == "r2")
        );
    }

    #[test]
    fn a_head_written_without_fingerprints_reads() {
        let text = r#"{"version":1,"job":"j","groups":[],"hash_scheme":"","ledger":null,"keys":0,
            "ledger_bytes":0,"pushed":[{"sources":[["db.t","1"]],"run":"r1"}],"runs":[]}"#;
        let head: Head = serde_json::from_str(text).unwrap();
        assert!(matches!(
            head.pushed(&pass("1", Some("files:1:aa"))),
            Pushed::Same(_)
        ));
        let again = serde_json::to_string(&head).unwrap();
        assert!(!again.contains("versions"), "{again}");
    }
}
