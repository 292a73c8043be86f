//! Changed-only pushes: each row's feature groups compared with the push ledger by a hash of
//! their values; a row sends only the groups that are new, changed, or not sent for longer than
//! the refresh interval. The ledger is updated as rows go (the caller commits it once
//! everything was delivered).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use onfs_state::ledger::Seen;
use onfs_state::{Ledger, NewLedger, Sends, Updates};
use serde::Serialize;

/// Per feature group: entities whose values were new, changed, unchanged (not sent), or
/// unchanged but sent again because the last send is older than the refresh interval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupCounts {
    pub new: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub refreshed: u64,
}

#[derive(Default)]
struct Counts {
    new: AtomicU64,
    changed: AtomicU64,
    unchanged: AtomicU64,
    refreshed: AtomicU64,
}

pub struct Changes {
    /// What the last successful run left, with the sends of this run's finished passes.
    /// Compared with as it is (no lock held while a batch is classified).
    ledger: RwLock<Arc<Ledger>>,
    /// This pass's sends, merged into `ledger` when the pass ends.
    pending: Mutex<Sends>,
    /// The sends merged into `ledger` since it was last recorded, for the state to record as
    /// a change file (`None`: more than `sends_kept`, the ledger is recorded whole).
    unrecorded: Mutex<Option<Updates>>,
    /// Sends kept in `unrecorded` at most: an eighth of the keys the ledger had (a run sending
    /// more writes the ledger whole: its sends would take more memory than they save).
    sends_kept: usize,
    /// Seconds since the epoch: the time recorded for what this run sends.
    now: u32,
    refresh_after: Option<u32>,
    counts: Vec<Counts>,
}

use onfs_core::encode::by_groups::every_group;

/// Rows' key hashes looked up in the ledger as a pass finds it: each key's entry
/// ([`NO_ENTRY`](onfs_state::ledger::NO_ENTRY) for none), below [`Changes::known_keys`] and the same for a key all pass long.
pub struct Lookup {
    ledger: Arc<Ledger>,
    keys: Vec<u64>,
    entries: Vec<u32>,
}

impl Lookup {
    /// Per row, its key's hash.
    pub fn keys(&self) -> &[u64] {
        &self.keys
    }

    /// Per row, its key's entry (`NO_ENTRY`: none).
    pub fn entries(&self) -> &[u32] {
        &self.entries
    }

    /// Keeps the rows `keep` says, as their batch is filtered.
    pub fn retain(&mut self, keep: &arrow_array::BooleanArray) {
        retain_rows(&mut self.keys, keep);
        retain_rows(&mut self.entries, keep);
    }
}

/// Keeps the values of the rows `keep` says.
pub(crate) fn retain_rows<T>(values: &mut Vec<T>, keep: &arrow_array::BooleanArray) {
    let mut row = 0;
    values.retain(|_| {
        row += 1;
        keep.value(row - 1)
    });
}

impl Changes {
    /// `ledger`: what the last successful run left (for the job's groups, in plan order).
    /// `refresh_after`: send again what was last sent longer ago (`None`: never).
    pub fn new(ledger: Ledger, refresh_after: Option<Duration>) -> Changes {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() as u32);
        let sends_kept = ledger.len() / 8;
        let width = ledger.groups.len();
        Changes {
            counts: ledger.groups.iter().map(|_| Counts::default()).collect(),
            pending: Mutex::new(Sends::default()),
            unrecorded: Mutex::new((sends_kept > 0).then(|| Updates::new(width))),
            sends_kept,
            ledger: RwLock::new(Arc::new(ledger)),
            now,
            refresh_after: refresh_after.map(|d| d.as_secs().min(u32::MAX as u64) as u32),
        }
    }

    /// Bytes the ledger takes in memory.
    pub fn memory_bytes(&self) -> usize {
        self.ledger
            .read()
            .expect("no thread panics holding it")
            .memory_bytes()
    }

    /// Keys the ledger had when the pass began: the entries of a [`Lookup`] are below this.
    pub fn known_keys(&self) -> usize {
        self.ledger
            .read()
            .expect("no thread panics holding it")
            .len()
    }

    /// Slots for the duplicate check of a pass expected to read `rows` (`None`: unknown): a
    /// slot per key the ledger knows (4 bytes each, all soon touched) when the pass meets at
    /// least a sixth of them, else none (its hash table costs about 24 bytes a key met).
    pub fn dedupe_slots(&self, rows: Option<usize>) -> usize {
        let known = self.known_keys();
        match rows {
            Some(rows) if rows.saturating_mul(6) >= known => known,
            _ => 0,
        }
    }

    /// Each of `keys` (key hashes) looked up in the ledger as the pass found it.
    pub fn lookup(&self, keys: Vec<u64>) -> Lookup {
        let ledger = Arc::clone(&self.ledger.read().expect("no thread panics holding it"));
        let entries = ledger.entries(&keys);
        Lookup {
            ledger,
            keys,
            entries,
        }
    }

    /// Per row, the groups to send (bit `g` for group `g`). The rows' keys are `lookup`'s;
    /// `groups[g][row]` is the hash of group `g`'s values in `row`; rows that are not `valid`
    /// (a null key) are left to the encoder (every bit set) and not recorded. Rows are
    /// compared with the ledger as the pass found it: a key is met once in a pass (duplicates
    /// are settled before).
    pub fn classify(&self, lookup: &Lookup, groups: &[Vec<u64>], valid: &[bool]) -> Vec<u64> {
        debug_assert_eq!(groups.len(), self.counts.len(), "the ledger's groups");
        let all = every_group(groups.len());
        let Lookup {
            ledger,
            keys,
            entries,
        } = lookup;
        let mut tally = vec![[0u64; 4]; groups.len()];
        let mut sends = Sends::default();
        // Each row's entry read once (its groups side by side), then compared group by group.
        let w = groups.len();
        let (old_hashes, old_sent) = ledger.gather(entries);
        let mut masks = vec![0u64; keys.len()];
        for (g, hashes) in groups.iter().enumerate() {
            for (row, mask) in masks.iter_mut().enumerate() {
                if !valid[row] {
                    continue;
                }
                let at = row * w + g;
                let seen = Seen::of(old_hashes[at], old_sent[at], hashes[row]);
                let verdict = seen.verdict(self.now, self.refresh_after);
                tally[g][verdict as usize] += 1;
                if verdict.sends() {
                    *mask |= 1 << g;
                }
            }
        }
        for (row, mask) in masks.iter_mut().enumerate() {
            if !valid[row] {
                *mask = all;
            } else if *mask != 0 {
                let m = *mask;
                sends.push(
                    keys[row],
                    m,
                    (groups.iter().enumerate())
                        .filter(|(g, _)| m >> g & 1 == 1)
                        .map(|(_, hashes)| hashes[row]),
                );
            }
        }
        self.pending
            .lock()
            .expect("no thread panics holding it")
            .append(sends);
        for (c, t) in self.counts.iter().zip(tally) {
            c.new.fetch_add(t[0], Ordering::Relaxed);
            c.changed.fetch_add(t[1], Ordering::Relaxed);
            c.unchanged.fetch_add(t[2], Ordering::Relaxed);
            c.refreshed.fetch_add(t[3], Ordering::Relaxed);
        }
        masks
    }

    /// Merges the sends classified so far into the ledger: the end of a pass (a key met again
    /// in the next pass is compared with what this one sent).
    pub fn end_pass(&self) {
        let pending =
            std::mem::take(&mut *self.pending.lock().expect("no thread panics holding it"));
        if pending.is_empty() {
            return;
        }
        let mut unrecorded = self.unrecorded.lock().expect("no thread panics holding it");
        let mut ledger = self.ledger.write().expect("no thread panics holding it");
        let ledger = Arc::make_mut(&mut ledger);
        match &mut *unrecorded {
            // Few enough to record as a change file: kept as updates too.
            Some(kept) if kept.len() + pending.len() <= self.sends_kept => {
                let sends = pending.into_updates(self.counts.len(), self.now);
                ledger.apply(&sends);
                kept.append(sends);
            }
            // Else recorded straight into the ledger (a first run's become its entries).
            _ => {
                *unrecorded = None;
                ledger.record(pending, self.now);
            }
        }
    }

    /// Whether the sends since the ledger was last recorded are kept (few enough to record
    /// as a change file).
    pub fn keeps_sends(&self) -> bool {
        self.end_pass();
        self.unrecorded
            .lock()
            .expect("no thread panics holding it")
            .is_some()
    }

    /// `f` given the ledger as it stands and the sends since it was last recorded (if kept),
    /// e.g. to checkpoint or seal them.
    pub fn with_new_ledger<R>(&self, f: impl FnOnce(NewLedger<'_>) -> R) -> R {
        let ledger = self.ledger();
        let sends = self.unrecorded.lock().expect("no thread panics holding it");
        f(NewLedger {
            ledger: &ledger,
            sends: sends.as_ref(),
        })
    }

    /// The ledger as it stands was recorded: the sends kept start again from none.
    pub fn recorded(&self) {
        *self.unrecorded.lock().expect("no thread panics holding it") =
            (self.sends_kept > 0).then(|| Updates::new(self.counts.len()));
    }

    /// Per group (by label): new, changed, unchanged, refreshed, so far.
    pub fn counts(&self) -> BTreeMap<String, GroupCounts> {
        let ledger = self.ledger.read().expect("no thread panics holding it");
        ledger
            .groups
            .iter()
            .zip(&self.counts)
            .map(|(label, c)| {
                (
                    label.clone(),
                    GroupCounts {
                        new: c.new.load(Ordering::Relaxed),
                        changed: c.changed.load(Ordering::Relaxed),
                        unchanged: c.unchanged.load(Ordering::Relaxed),
                        refreshed: c.refreshed.load(Ordering::Relaxed),
                    },
                )
            })
            .collect()
    }

    /// The ledger as it stands (this run's sends so far recorded), e.g. to checkpoint it.
    pub fn ledger(&self) -> Arc<Ledger> {
        self.end_pass();
        Arc::clone(&self.ledger.read().expect("no thread panics holding it"))
    }

    /// The ledger with this run's sends recorded, and the sends since it was last recorded
    /// (if kept): to commit once everything was delivered.
    pub fn into_parts(self) -> (Ledger, Option<Updates>) {
        self.end_pass();
        let ledger = self
            .ledger
            .into_inner()
            .expect("no thread panicked holding it");
        let sends = self
            .unrecorded
            .into_inner()
            .expect("no thread panicked holding it");
        (
            Arc::try_unwrap(ledger).unwrap_or_else(|shared| (*shared).clone()),
            sends,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_new_and_changed_groups_and_refreshes_old_ones() {
        let ledger = Ledger::new(vec!["a".into(), "b".into()]);
        let c = Changes::new(ledger, None);
        let keys = [1, 2, 3];
        let valid = [true, true, false];
        // First run: everything new; the null-key row goes to the encoder whole.
        let classify = |c: &Changes, keys: &[u64], groups: &[Vec<u64>], valid: &[bool]| {
            c.classify(&c.lookup(keys.to_vec()), groups, valid)
        };
        let masks = classify(&c, &keys, &[vec![10, 20, 30], vec![11, 21, 31]], &valid);
        assert_eq!(masks, vec![0b11, 0b11, 0b11]);
        c.end_pass();
        // Same values: nothing; key 2's group b changed: only that.
        assert_eq!(c.known_keys(), 2);
        assert_eq!(c.dedupe_slots(Some(1)), 2, "a pass meeting half the keys");
        assert_eq!(c.dedupe_slots(Some(0)), 0);
        assert_eq!(c.dedupe_slots(None), 0);
        let masks = classify(&c, &keys[..2], &[vec![10, 20], vec![11, 99]], &valid[..2]);
        assert_eq!(masks, vec![0, 0b10]);
        let counts = c.counts();
        assert_eq!(
            counts["a"],
            GroupCounts {
                new: 2,
                changed: 0,
                unchanged: 2,
                refreshed: 0
            }
        );
        assert_eq!(
            counts["b"],
            GroupCounts {
                new: 2,
                changed: 1,
                unchanged: 1,
                refreshed: 0
            }
        );
        // A refresh interval of zero sends unchanged groups again, counted as refreshed.
        let c = Changes::new(c.into_parts().0, Some(Duration::ZERO));
        let masks = classify(&c, &keys[..1], &[vec![10], vec![11]], &valid[..1]);
        assert_eq!(masks, vec![0b11]);
        assert_eq!(c.counts()["a"].refreshed, 1);
        assert_eq!(c.into_parts().0.len(), 2);
    }

    #[test]
    fn the_sends_since_the_ledger_was_recorded_are_kept_while_few() {
        let mut first = Updates::new(1);
        for key in 0..16 {
            first.push(key, [(key * 10, 5)]);
        }
        let mut ledger = Ledger::new(vec!["a".into()]);
        ledger.apply(first);
        // 16 keys: up to 2 sends kept.
        let c = Changes::new(ledger, None);
        let classify = |keys: &[u64], hashes: Vec<u64>| {
            c.classify(&c.lookup(keys.to_vec()), &[hashes], &vec![true; keys.len()])
        };
        classify(&[1, 2], vec![11, 21]);
        assert!(c.keeps_sends());
        c.with_new_ledger(|new| {
            let sends = new.sends.unwrap();
            assert_eq!(sends.len(), 2);
            let mut from = Ledger::new(vec!["a".into()]);
            let mut all = Updates::new(1);
            for key in 0..16 {
                all.push(key, [(key * 10, 5)]);
            }
            from.apply(all);
            from.apply(sends);
            assert!(
                from.values().eq(new.ledger.values()),
                "the sends make the ledger"
            );
        });
        // Recorded: kept again from none; a third send in the same stretch would be too many.
        c.recorded();
        c.with_new_ledger(|new| assert_eq!(new.sends.unwrap().len(), 0));
        classify(&[3, 4], vec![31, 41]);
        assert!(c.keeps_sends());
        classify(&[5], vec![51]);
        assert!(!c.keeps_sends(), "three sends over a ledger of 16 keys");
        c.with_new_ledger(|new| assert!(new.sends.is_none()));
        let (ledger, sends) = c.into_parts();
        assert_eq!(ledger.len(), 16);
        assert!(sends.is_none());
    }
}
