//! The resume area of a job: the spool of the pass being delivered, what that pass will commit,
//! and a journal of the messages the brokers acknowledged. A run cut at any point (killed while
//! encoding, delivering or committing) and started again finds it here and sends only the
//! messages without a successful delivery report, then commits.
//!
//! Layout, in a local folder (the state folder itself when it is local, else `--spool-dir` or
//! the system's temporary folder, under `onfs-push-resume/<job folder>-<location hash>`):
//! - `messages/`: the pass's encoded messages (a message folder, complete once it has its
//!   manifest);
//! - `sends.parquet`: what the pass sent and the ledger records (changed-only runs that kept
//!   their sends: the ledger after the pass is the head's with them applied); else
//!   `ledger.parquet`, the ledger after the pass;
//! - `PENDING.json`: what the pass commits; written last (by rename), it marks the spool as
//!   complete and ready to send;
//! - `ACKED`: the ordinals (8 bytes, little-endian) of the messages delivered, appended as
//!   their reports arrive.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::head::Head;
use crate::job::NewLedger;
use crate::ledger::{Ledger, Updates};
use crate::StateError;

const PENDING: &str = "PENDING.json";
const ACKED: &str = "ACKED";
const LEDGER: &str = "ledger.parquet";
const SENDS: &str = "sends.parquet";
const MESSAGES: &str = "messages";

/// A pass whose spool is complete and whose delivery began: what it commits once delivered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingPass {
    /// The run that encoded it.
    pub run: String,
    /// The head it was computed against ([`head_fingerprint`]): a pass made against another
    /// head is not resumed (its ledger would undo what came since).
    pub based_on: String,
    /// Where the messages go (topic, key mode, batch size): a pass for another target is not
    /// resumed.
    pub target: String,
    /// `(source, partition)` of each source read.
    pub sources: Vec<(String, Option<String>)>,
    /// Per source, a fingerprint of its partition's files when read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, String>,
    pub rows: u64,
    pub messages: u64,
    pub bytes: u64,
    /// Whether `ledger.parquet` holds the ledger after the pass.
    pub has_ledger: bool,
    /// Whether `sends.parquet` holds the run's sends since the head's ledger (the ledger after
    /// the pass is the head's with them applied).
    #[serde(default)]
    pub has_sends: bool,
    /// With changed-only: per group, entities `new`, `changed`, `unchanged`, `refreshed`.
    #[serde(default)]
    pub groups: BTreeMap<String, BTreeMap<String, u64>>,
}

/// A fingerprint of what a head records: the ledger's files, the passes pushed, the last run.
pub fn head_fingerprint(head: &Head) -> String {
    let last = head.runs.last().map(|r| &r.id);
    let text = if head.changes.is_empty() {
        serde_json::to_string(&(&head.ledger, &head.pushed, last))
    } else {
        serde_json::to_string(&(&head.ledger, &head.changes, &head.pushed, last))
    }
    .expect("head serializes");
    format!("{:016x}", fnv1a(text.as_bytes()))
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A job's resume area (a local folder).
#[derive(Debug, Clone)]
pub struct ResumeArea {
    dir: PathBuf,
}

fn io(path: &Path, e: std::io::Error) -> StateError {
    StateError::Resume {
        path: path.display().to_string(),
        source: e,
    }
}

impl ResumeArea {
    pub fn new(dir: PathBuf) -> ResumeArea {
        ResumeArea { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the pass's messages are spooled.
    pub fn spool(&self) -> PathBuf {
        self.dir.join(MESSAGES)
    }

    /// The sealed pass waiting for delivery, if there is one, with the ordinals acknowledged.
    pub fn pending(&self) -> Result<Option<(PendingPass, Acked)>, StateError> {
        let path = self.dir.join(PENDING);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path, e)),
        };
        let pending: PendingPass =
            serde_json::from_slice(&text).map_err(|e| StateError::Corrupt {
                path: path.display().to_string(),
                problem: e.to_string(),
            })?;
        let acked = Acked::read(&self.dir.join(ACKED), pending.messages)?;
        Ok(Some((pending, acked)))
    }

    /// The ledger a sealed pass leaves (`has_ledger`).
    pub fn ledger(&self, groups: &[String]) -> Result<Ledger, StateError> {
        let path = self.dir.join(LEDGER);
        let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
        Ledger::from_parquet(bytes.into(), groups).map_err(|problem| StateError::Corrupt {
            path: path.display().to_string(),
            problem,
        })
    }

    /// The sends a sealed pass records (`has_sends`).
    pub fn sends(&self, groups: &[String]) -> Result<Updates, StateError> {
        let path = self.dir.join(SENDS);
        let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
        Updates::from_parquet(bytes.into(), groups).map_err(|problem| StateError::Corrupt {
            path: path.display().to_string(),
            problem,
        })
    }

    /// Empties the area (a pass delivered and committed, or one that will not be resumed),
    /// leaving the folder for the next pass.
    pub fn clear(&self) -> Result<(), StateError> {
        // The marker first: a clear cut half-way leaves no pass that looks resumable.
        for name in [PENDING, ACKED, LEDGER, SENDS] {
            let path = self.dir.join(name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path, e)),
            }
        }
        let spool = self.spool();
        match std::fs::remove_dir_all(&spool) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&spool, e)),
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))
    }

    /// Marks the spool complete and ready to send: what the pass records in the ledger (its
    /// sends when `pending.has_sends`, else the ledger after it when `pending.has_ledger`),
    /// then the pending record (by rename, so it is whole or absent).
    pub fn seal(
        &self,
        pending: &PendingPass,
        ledger: Option<NewLedger<'_>>,
    ) -> Result<(), StateError> {
        if let Some(new) = ledger {
            let (path, bytes) = match new.sends {
                Some(sends) if pending.has_sends => {
                    let path = self.dir.join(SENDS);
                    (path, sends.to_parquet(&new.ledger.groups))
                }
                _ => (self.dir.join(LEDGER), new.ledger.to_parquet()),
            };
            let bytes = bytes.map_err(|e| StateError::Encode {
                path: path.display().to_string(),
                problem: e.to_string(),
            })?;
            write_synced(&path, &bytes)?;
        }
        let path = self.dir.join(PENDING);
        let tmp = self.dir.join(format!("{PENDING}.tmp"));
        write_synced(
            &tmp,
            &serde_json::to_vec_pretty(pending).expect("pending serializes"),
        )?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))
    }

    /// The journal the delivery of the sealed pass appends to.
    pub fn journal(&self) -> Result<Journal, StateError> {
        let path = self.dir.join(ACKED);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        Ok(Journal {
            path,
            file: Mutex::new(Some(file)),
        })
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let mut f = File::create(path).map_err(|e| io(path, e))?;
    f.write_all(bytes).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

/// The messages of a pending pass acknowledged so far, by ordinal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Acked {
    seen: Vec<bool>,
    count: u64,
}

impl Acked {
    fn read(path: &Path, messages: u64) -> Result<Acked, StateError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(path, e)),
        };
        let mut acked = Acked {
            seen: vec![false; messages as usize],
            count: 0,
        };
        // A record cut short by a kill is ignored (its message is sent again).
        for chunk in bytes.chunks_exact(8) {
            let ordinal = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            if let Some(seen) = acked.seen.get_mut(ordinal as usize) {
                if !*seen {
                    *seen = true;
                    acked.count += 1;
                }
            }
        }
        Ok(acked)
    }

    pub fn contains(&self, ordinal: u64) -> bool {
        self.seen.get(ordinal as usize).copied().unwrap_or(false)
    }

    /// How many messages were acknowledged.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Appends the ordinal of each message delivered. A write that fails is logged once and the
/// journal stops: the messages it misses are sent again by a resumed run (at least once).
pub struct Journal {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl Journal {
    pub fn record(&self, ordinal: u64) {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = file.as_mut() {
            if let Err(e) = f.write_all(&ordinal.to_le_bytes()) {
                tracing::warn!(
                    "{}: {e}; a resumed run will send again what this one delivers from now on",
                    self.path.display()
                );
                *file = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(messages: u64) -> PendingPass {
        PendingPass {
            run: "r1".into(),
            based_on: "0".into(),
            target: "t".into(),
            sources: vec![("s".into(), Some("dt=1".into()))],
            messages,
            ..Default::default()
        }
    }

    #[test]
    fn a_sealed_pass_comes_back_with_what_was_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let area = ResumeArea::new(dir.path().join("job"));
        area.clear().unwrap();
        assert_eq!(area.pending().unwrap(), None, "nothing sealed yet");
        area.seal(&pending(5), None).unwrap();
        let journal = area.journal().unwrap();
        for o in [3, 0, 3, 99] {
            journal.record(o);
        }
        drop(journal);
        // A record cut short by a kill.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("job").join(ACKED))
            .unwrap();
        f.write_all(&[1, 0, 0]).unwrap();
        let (p, acked) = area.pending().unwrap().unwrap();
        assert_eq!(p, pending(5));
        assert_eq!(
            acked.count(),
            2,
            "duplicates and out-of-range ordinals ignored"
        );
        assert!(acked.contains(0) && acked.contains(3));
        assert!(!acked.contains(1) && !acked.contains(4) && !acked.contains(99));
        area.clear().unwrap();
        assert_eq!(area.pending().unwrap(), None);
        assert!(dir.path().join("job").is_dir());
    }

    #[test]
    fn the_ledger_of_a_sealed_pass_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let area = ResumeArea::new(dir.path().to_path_buf());
        let groups = vec!["g".to_string()];
        let mut ledger = Ledger::new(groups.clone());
        let mut u = crate::Updates::new(1);
        u.push(42, [(7, 100)]);
        ledger.apply(u);
        let mut p = pending(1);
        p.has_ledger = true;
        area.seal(&p, Some(NewLedger::whole(&ledger))).unwrap();
        let back = area.ledger(&groups).unwrap();
        assert_eq!(back.len(), 1);
        let e = back.entry(42).unwrap();
        assert!(matches!(
            back.seen_at(e, 0, 7),
            crate::ledger::Seen::Same { .. }
        ));
    }

    #[test]
    fn the_sends_of_a_sealed_pass_are_kept_instead_of_its_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let area = ResumeArea::new(dir.path().to_path_buf());
        let groups = vec!["g".to_string(), "h".to_string()];
        let mut sends = crate::Updates::new(2);
        sends.push(42, [(7, 100), (0, 0)]);
        sends.push(9, [(0, 0), (8, 100)]);
        let mut ledger = Ledger::new(groups.clone());
        ledger.apply(&sends);
        let mut p = pending(1);
        p.has_ledger = true;
        p.has_sends = true;
        let new = NewLedger {
            ledger: &ledger,
            sends: Some(&sends),
        };
        area.seal(&p, Some(new)).unwrap();
        assert!(!dir.path().join(LEDGER).exists(), "the sends stand for it");
        let back = area.sends(&groups).unwrap();
        // In key order, each group as sent (0: left as it was).
        let mut expected = crate::Updates::new(2);
        expected.push(9, [(0, 0), (8, 100)]);
        expected.push(42, [(7, 100), (0, 0)]);
        assert_eq!(back, expected);
        let (p, _) = area.pending().unwrap().unwrap();
        assert!(p.has_sends);
        area.clear().unwrap();
        assert!(!dir.path().join(SENDS).exists());
    }

    #[test]
    fn the_head_fingerprint_follows_what_the_head_records() {
        let mut head = Head::default();
        let a = head_fingerprint(&head);
        head.keys = 9; // not recorded by the fingerprint
        assert_eq!(head_fingerprint(&head), a);
        head.ledger = Some("ledger-x.parquet".into());
        let b = head_fingerprint(&head);
        assert_ne!(b, a);
        head.changes.push("ledger-y-1-sends.parquet".into());
        assert_ne!(head_fingerprint(&head), b);
    }
}
