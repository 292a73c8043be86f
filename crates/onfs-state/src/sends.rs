//! What one run sends, gathered as a pass classifies its rows: per key that sends, which
//! groups (a bit each) and their value hashes, in order; all sent at the run's time. Kept as
//! small as a send allows (a first run sends every key), and recorded into the ledger without
//! an intermediate copy ([`Ledger::record`](crate::Ledger::record)).

use crate::Updates;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sends {
    pub(crate) keys: Vec<u64>,
    /// Per key, a bit per group sent.
    pub(crate) groups: Vec<u64>,
    /// The hashes of the groups sent, a key's after the one's before it.
    pub(crate) hashes: Vec<u64>,
}

impl Sends {
    /// `key` sends the groups of `groups` (bit `g` for group `g`) with `hashes`, one per
    /// group sent, in group order.
    pub fn push(&mut self, key: u64, groups: u64, hashes: impl IntoIterator<Item = u64>) {
        let before = self.hashes.len();
        self.keys.push(key);
        self.groups.push(groups);
        self.hashes.extend(hashes);
        debug_assert_eq!(
            self.hashes.len() - before,
            groups.count_ones() as usize,
            "a hash per group sent"
        );
    }

    /// Appends `other`'s sends after these.
    pub fn append(&mut self, mut other: Sends) {
        self.keys.append(&mut other.keys);
        self.groups.append(&mut other.groups);
        self.hashes.append(&mut other.hashes);
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Where each send's hashes start in `hashes` (`None`: every send has `width` of them,
    /// at `send * width`).
    pub(crate) fn starts(&self, width: usize) -> Option<Vec<usize>> {
        if self.hashes.len() == self.keys.len() * width {
            return None;
        }
        let mut at = 0;
        Some(
            (self.groups.iter())
                .map(|g| {
                    let start = at;
                    at += g.count_ones() as usize;
                    start
                })
                .collect(),
        )
    }

    /// As [`Updates`] for `width` groups, each sent group at `at` (seconds since the epoch).
    pub fn into_updates(self, width: usize, at: u32) -> Updates {
        let mut updates = Updates::with_capacity(width, self.keys.len());
        let mut hashes = self.hashes.into_iter();
        for (key, groups) in self.keys.into_iter().zip(self.groups) {
            updates.push(
                key,
                (0..width).map(|g| match groups >> g & 1 {
                    1 => (hashes.next().expect("a hash per group sent"), at),
                    _ => (0, 0),
                }),
            );
        }
        debug_assert!(hashes.next().is_none(), "no group past the ledger's");
        updates
    }
}
