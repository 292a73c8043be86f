//! After the join: exact duplicate rows removed (the original's per-source `distinct`, done here
//! in one streaming pass with 16 bytes per key instead of a hash table of whole rows), and
//! entity keys seen more than once with different values: an error, a warning (both rows sent,
//! as the original does), or one row kept.
//!
//! Keys the caller can number already (a changed-only run's keys known to the push ledger, by
//! their entry) are tracked in a dense array instead, 4 bytes and a bit per known key, with no
//! hash table to grow.

use std::collections::hash_map::Entry;

use arrow_array::{Array, BooleanArray, RecordBatch};

use crate::encode::key_text;
use crate::hashed::HashedMap;
use crate::prefetch::{prefetch, AHEAD};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDuplicateKey {
    /// Fail, naming the key.
    Error,
    /// Count, show examples, send every row.
    #[default]
    Warn,
    /// Keep the first row of each key.
    KeepAny,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entity key {key} appears more than once after the join, with different values")]
pub struct DuplicateKeyError {
    pub key: String,
}

/// Tracks the rows seen so far by key hash and row hash.
pub struct DuplicateKeys {
    mode: OnDuplicateKey,
    key_columns: Vec<String>,
    /// Key hash to the hash of its first row (keys with no slot).
    first: HashedMap<u64>,
    /// By slot: the top half of the hash of the key's first row (a fingerprint), if
    /// `known_seen` has its bit.
    known_rows: Vec<u32>,
    known_seen: Vec<u64>,
    /// Further distinct rows of keys seen more than once.
    more: HashedMap<Vec<u64>>,
    /// Rows equal to an earlier row, dropped.
    pub exact_duplicates: u64,
    /// Rows whose key was seen before with other values.
    pub duplicates: u64,
    /// Up to 5 of those keys.
    pub examples: Vec<String>,
}

impl DuplicateKeys {
    pub fn new(mode: OnDuplicateKey, key_columns: &[String]) -> Self {
        Self::with_slots(mode, key_columns, 0)
    }

    /// Also tracks keys by a slot below `slots` that the caller gives per row
    /// ([`DuplicateKeys::check`]); one key always has the same slot, or none.
    pub fn with_slots(mode: OnDuplicateKey, key_columns: &[String], slots: usize) -> Self {
        DuplicateKeys {
            mode,
            key_columns: key_columns.to_vec(),
            first: HashedMap::default(),
            // Zeroed allocations: pages are only touched as keys are met.
            known_rows: vec![0; slots],
            known_seen: vec![0; slots.div_ceil(64)],
            more: HashedMap::default(),
            exact_duplicates: 0,
            duplicates: 0,
            examples: Vec::new(),
        }
    }

    /// Checks a batch given each row's key hash and row hash; returns it without the rows to
    /// drop (exact duplicates, and repeated keys in keep-any mode).
    pub fn process(
        &mut self,
        batch: &RecordBatch,
        key_hashes: &[u64],
        row_hashes: &[u64],
    ) -> Result<RecordBatch, DuplicateKeyError> {
        let keep = self.check(batch, key_hashes, row_hashes, None)?;
        Ok(Self::apply(batch.clone(), keep))
    }

    /// Whether a row of the key (`slot`, else `kh`) was met before and whether it is the same
    /// as the first one met (by row hash `rh`); records `rh` as the first row if the key is new.
    /// A slot keeps half the row hash: two different rows of one key are taken for one with
    /// odds of 1 in 2^32 (a key without a slot: 2^64), for half the memory.
    fn first_row(&mut self, kh: u64, slot: Option<usize>, rh: u64) -> Option<bool> {
        match slot {
            Some(s) => {
                let (word, bit) = (s / 64, 1u64 << (s % 64));
                let fingerprint = (rh >> 32) as u32;
                if self.known_seen[word] & bit == 0 {
                    self.known_seen[word] |= bit;
                    self.known_rows[s] = fingerprint;
                    None
                } else {
                    Some(self.known_rows[s] == fingerprint)
                }
            }
            None => match self.first.entry(kh) {
                Entry::Vacant(v) => {
                    v.insert(rh);
                    None
                }
                Entry::Occupied(o) => Some(*o.get() == rh),
            },
        }
    }

    /// [`DuplicateKeys::process`]'s bookkeeping alone (for a caller that shares this between
    /// threads: only this needs the lock): the rows to keep, or `None` for all of them.
    /// `slots`: per row, its key's slot (see [`DuplicateKeys::with_slots`]; `u32::MAX` or
    /// any value past the slots for none).
    pub fn check(
        &mut self,
        batch: &RecordBatch,
        key_hashes: &[u64],
        row_hashes: &[u64],
        slots: Option<&[u32]>,
    ) -> Result<Option<BooleanArray>, DuplicateKeyError> {
        let keys: Vec<&dyn Array> = self
            .key_columns
            .iter()
            .map(|c| batch.column_by_name(c).map(|a| a.as_ref()))
            .collect::<Option<_>>()
            .expect("key columns present (checked by the plan)");
        let nullable: Vec<&dyn Array> = keys
            .iter()
            .copied()
            .filter(|k| k.null_count() > 0)
            .collect();
        let mut keep = vec![true; batch.num_rows()];
        let mut dropped = false;
        for row in 0..batch.num_rows() {
            if nullable.iter().any(|k| k.is_null(row)) {
                continue; // dropped and counted by the encoder
            }
            let (kh, rh) = (key_hashes[row], row_hashes[row]);
            if let Some(&next) = slots.and_then(|s| s.get(row + AHEAD)) {
                prefetch(&self.known_rows, next as usize);
                prefetch(&self.known_seen, next as usize / 64);
            }
            let slot = slots
                .map(|s| s[row] as usize)
                .filter(|&s| s < self.known_rows.len());
            let Some(same_as_first) = self.first_row(kh, slot, rh) else {
                continue;
            };
            let others = self.more.entry(kh).or_default();
            if same_as_first || others.contains(&rh) {
                self.exact_duplicates += 1;
                keep[row] = false;
                dropped = true;
                continue;
            }
            others.push(rh);
            self.duplicates += 1;
            let shown = || {
                self.key_columns
                    .iter()
                    .zip(&keys)
                    .map(|(c, k)| {
                        let mut v = String::new();
                        key_text(*k, row, &mut v);
                        format!("{c}={v}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match self.mode {
                OnDuplicateKey::Error => return Err(DuplicateKeyError { key: shown() }),
                OnDuplicateKey::Warn | OnDuplicateKey::KeepAny => {
                    if self.examples.len() < 5 {
                        let s = shown();
                        self.examples.push(s);
                    }
                    if self.mode == OnDuplicateKey::KeepAny {
                        keep[row] = false;
                        dropped = true;
                    }
                }
            }
        }
        Ok(dropped.then(|| BooleanArray::from(keep)))
    }

    /// The batch without the rows [`DuplicateKeys::check`] dropped.
    pub fn apply(batch: RecordBatch, keep: Option<BooleanArray>) -> RecordBatch {
        match keep {
            None => batch,
            Some(keep) => {
                arrow_select::filter::filter_record_batch(&batch, &keep).expect("same length")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn batch(keys: &[Option<&str>]) -> RecordBatch {
        let k: arrow_array::ArrayRef = Arc::new(arrow_array::StringArray::from(keys.to_vec()));
        RecordBatch::try_from_iter([("id", k)]).unwrap()
    }

    #[test]
    fn modes() {
        let cols = vec!["id".to_string()];
        // a, b, a (other values), a (same values as the first), null, null
        let b = batch(&[Some("a"), Some("b"), Some("a"), Some("a"), None, None]);
        let keys = [1, 2, 1, 1, 0, 0];
        let rows = [10, 20, 11, 10, 0, 0];
        let mut warn = DuplicateKeys::new(OnDuplicateKey::Warn, &cols);
        assert_eq!(
            warn.process(&b, &keys, &rows).unwrap().num_rows(),
            5,
            "the exact duplicate goes"
        );
        assert_eq!((warn.duplicates, warn.exact_duplicates), (1, 1));
        assert_eq!(warn.examples, vec!["id=a"]);
        let mut keep = DuplicateKeys::new(OnDuplicateKey::KeepAny, &cols);
        assert_eq!(keep.process(&b, &keys, &rows).unwrap().num_rows(), 4);
        assert_eq!(
            keep.process(&batch(&[Some("b")]), &[2], &[21])
                .unwrap()
                .num_rows(),
            0,
            "across batches"
        );
        let mut err = DuplicateKeys::new(OnDuplicateKey::Error, &cols);
        assert_eq!(err.process(&b, &keys, &rows).unwrap_err().key, "id=a");
    }

    #[test]
    fn keys_with_a_slot_are_tracked_alike() {
        let cols = vec!["id".to_string()];
        // a, b, a (other values), a (same values as the first), c, c (same values), null
        let b = batch(&[
            Some("a"),
            Some("b"),
            Some("a"),
            Some("a"),
            Some("c"),
            Some("c"),
            None,
        ]);
        let keys = [1, 2, 1, 1, 3, 3, 0];
        // Row hashes spread over 64 bits, as real ones are (a slot keeps their top half).
        let spread = |rows: &[u64]| -> Vec<u64> {
            rows.iter()
                .map(|r| r.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .collect()
        };
        let rows = spread(&[10, 20, 11, 10, 30, 30, 0]);
        // a and b have slots (a's is the last one); c has none.
        let slots = [129, 0, 129, 129, u32::MAX, u32::MAX, 0];
        for mode in [OnDuplicateKey::Warn, OnDuplicateKey::KeepAny] {
            let mut plain = DuplicateKeys::new(mode, &cols);
            let mut dense = DuplicateKeys::with_slots(mode, &cols, 130);
            let expected = plain.check(&b, &keys, &rows, None).unwrap();
            assert_eq!(
                dense.check(&b, &keys, &rows, Some(&slots)).unwrap(),
                expected
            );
            assert_eq!(
                (dense.duplicates, dense.exact_duplicates, &dense.examples),
                (plain.duplicates, plain.exact_duplicates, &plain.examples)
            );
            assert_eq!((dense.duplicates, dense.exact_duplicates), (1, 2));
            // Across batches: a's first row is remembered by its slot, b's too.
            let again = batch(&[Some("a"), Some("b")]);
            let again_rows = spread(&[10, 21]);
            let keep = dense
                .check(&again, &[1, 2], &again_rows, Some(&[129, 0]))
                .unwrap();
            let expected = plain.check(&again, &[1, 2], &again_rows, None).unwrap();
            assert_eq!(keep, expected);
            assert_eq!(dense.exact_duplicates, 3);
            assert!(dense.first.len() == 1, "only c is in the map");
        }
    }
}
