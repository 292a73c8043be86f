//! Changed-only pushes where the engine joins the rows with the ledger itself (Spark): the
//! rows get their key and group hashes as columns ([`with_hashes`]), the engine joins them on
//! the key hash with the ledger file's columns, and each joined batch is classified here
//! ([`JoinedDiff::classify`]) by the same rule as the command line's in-memory ledger.
//!
//! Hashes travel as signed 64-bit integers holding the unsigned hash's bits (an engine without
//! unsigned types joins and carries them as they are).

use std::sync::Arc;

use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};

use crate::hashing::column_hashes;
use crate::ledger::Seen;
use crate::Updates;

/// The key hash column of the rows and of the ledger side of the join.
pub const KEY: &str = "__onfs_key";

/// Group `g`'s value hash in the rows.
pub fn hash_column(g: usize) -> String {
    format!("__onfs_hash_{g}")
}

/// Group `g`'s value hash as the ledger has it (null: no entry for the key).
pub fn ledger_hash_column(g: usize) -> String {
    format!("__onfs_ledger_hash_{g}")
}

/// When group `g` was last sent, by the ledger (seconds since the epoch; null or 0: never).
pub fn ledger_sent_column(g: usize) -> String {
    format!("__onfs_ledger_sent_{g}")
}

/// Unsigned hashes as the signed integers holding their bits (a cast would make every value
/// of 2^63 or more null).
pub(crate) fn signed(hashes: &UInt64Array) -> Int64Array {
    hashes.unary::<_, Int64Type>(|v| v as i64)
}

/// `batch` with [`KEY`] (the hash of `keys`) and each group's [`hash_column`] (the hash of
/// its columns) appended; a row whose key has a null is left without a key hash (null).
pub fn with_hashes(
    batch: &RecordBatch,
    keys: &[String],
    groups: &[Vec<String>],
) -> Result<RecordBatch, String> {
    let signed = |h: Vec<u64>| -> ArrayRef {
        Arc::new(Int64Array::from(
            h.into_iter().map(|v| v as i64).collect::<Vec<_>>(),
        ))
    };
    let key_columns = keys
        .iter()
        .map(|k| {
            batch
                .column_by_name(k)
                .ok_or(format!("column {k:?} is missing"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let key_hashes = column_hashes(batch, keys)?;
    let key: ArrayRef = Arc::new(Int64Array::from(
        key_hashes
            .iter()
            .enumerate()
            .map(|(row, h)| {
                key_columns
                    .iter()
                    .all(|c| !c.is_null(row))
                    .then_some(*h as i64)
            })
            .collect::<Vec<_>>(),
    ));
    let mut extra = vec![(Field::new(KEY, DataType::Int64, true), key)];
    for (g, group) in groups.iter().enumerate() {
        let hashes = signed(column_hashes(batch, group)?);
        extra.push((Field::new(hash_column(g), DataType::Int64, false), hashes));
    }
    Ok(appended(batch, extra))
}

/// `batch` with `extra` columns after its own.
fn appended(batch: &RecordBatch, extra: Vec<(Field, ArrayRef)>) -> RecordBatch {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for (f, c) in extra {
        fields.push(f);
        columns.push(c);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .expect("columns as long as the batch")
}

/// One executor's share of a changed-only push: each joined row's set of groups to send, the
/// counts per group, and the sends to record.
pub struct JoinedDiff {
    groups: usize,
    now: u32,
    refresh_after: Option<u32>,
    /// Per group: new, changed, unchanged, refreshed (by `ledger::Verdict`).
    counts: Vec<[u64; 4]>,
    sends: Updates,
}

impl JoinedDiff {
    /// `now`: the time recorded for what is sent (one for the whole run); `refresh_after`:
    /// seconds after which an unchanged group is sent again.
    pub fn new(groups: usize, now: u32, refresh_after: Option<u32>) -> JoinedDiff {
        JoinedDiff {
            groups,
            now,
            refresh_after,
            counts: vec![[0; 4]; groups],
            sends: Updates::new(groups),
        }
    }

    /// Per row of a joined batch, the set of groups it sends (bit `g` for group `g`); a row
    /// without a key hash (a null key) gets every group, for the encoder to count and drop.
    pub fn classify(&mut self, batch: &RecordBatch) -> Result<Vec<u64>, String> {
        let int64 = |name: &str| -> Result<Int64Array, String> {
            let a = batch
                .column_by_name(name)
                .ok_or(format!("column {name:?} is missing from the joined rows"))?;
            // Unsigned hashes (the ledger file's) keep their bits: a cast would make every
            // value of 2^63 or more null.
            if let Some(u) = a.as_any().downcast_ref::<UInt64Array>() {
                return Ok(signed(u));
            }
            let a = arrow_cast::cast(a, &DataType::Int64)
                .map_err(|e| format!("column {name:?}: {e}"))?;
            Ok(a.as_any()
                .downcast_ref::<Int64Array>()
                .expect("cast to Int64")
                .clone())
        };
        let keys = int64(KEY)?;
        let mut now_hashes = Vec::with_capacity(self.groups);
        let mut ledger = Vec::with_capacity(self.groups);
        for g in 0..self.groups {
            now_hashes.push(int64(&hash_column(g))?);
            ledger.push((
                int64(&ledger_hash_column(g))?,
                int64(&ledger_sent_column(g))?,
            ));
        }
        let all = if self.groups >= 64 {
            u64::MAX
        } else {
            (1u64 << self.groups) - 1
        };
        let mut sets = vec![0u64; batch.num_rows()];
        for (row, set) in sets.iter_mut().enumerate() {
            if keys.is_null(row) {
                *set = all;
                continue;
            }
            for g in 0..self.groups {
                let (hashes, sent) = &ledger[g];
                let now_hash = now_hashes[g].value(row) as u64;
                let seen = if hashes.is_null(row) || sent.is_null(row) {
                    Seen::New
                } else {
                    Seen::of(hashes.value(row) as u64, sent.value(row) as u32, now_hash)
                };
                let verdict = seen.verdict(self.now, self.refresh_after);
                self.counts[g][verdict as usize] += 1;
                if verdict.sends() {
                    *set |= 1 << g;
                }
            }
            if *set != 0 {
                let s = *set;
                let now = self.now;
                self.sends.push(
                    keys.value(row) as u64,
                    now_hashes.iter().enumerate().map(|(g, h)| {
                        if s >> g & 1 == 1 {
                            (h.value(row) as u64, now)
                        } else {
                            (0, 0)
                        }
                    }),
                );
            }
        }
        Ok(sets)
    }

    /// Per group: entities new, changed, unchanged, refreshed.
    pub fn counts(&self) -> &[[u64; 4]] {
        &self.counts
    }

    /// The sends to record once they are delivered.
    pub fn sends(&self) -> &Updates {
        &self.sends
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::StringArray;

    use super::*;
    use crate::Ledger;

    fn rows(keys: &[Option<&str>], values: &[&str]) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(keys.to_vec())) as ArrayRef),
            (
                "v",
                Arc::new(StringArray::from(values.to_vec())) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    /// The join an engine would make: each row with the ledger's entry of its key.
    fn joined(batch: &RecordBatch, ledger: &Ledger) -> RecordBatch {
        let hashed = with_hashes(batch, &["id".into()], &[vec!["v".into()]]).unwrap();
        let keys = hashed
            .column_by_name(KEY)
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .clone();
        let entries: std::collections::HashMap<u64, u64> =
            ledger.values().map(|(k, h)| (k, h[0])).collect();
        let hash: Int64Array = keys
            .iter()
            .map(|k| k.and_then(|k| entries.get(&(k as u64)).map(|h| *h as i64)))
            .collect();
        let sent: Int64Array = hash.iter().map(|h| h.map(|_| 100)).collect();
        appended(
            &hashed,
            vec![
                (
                    Field::new(ledger_hash_column(0), DataType::Int64, true),
                    Arc::new(hash),
                ),
                (
                    Field::new(ledger_sent_column(0), DataType::Int64, true),
                    Arc::new(sent),
                ),
            ],
        )
    }

    #[test]
    fn a_joined_batch_is_classified_as_the_ledger_would() {
        let groups = vec!["g".to_string()];
        let first = rows(&[Some("a"), Some("b"), None], &["1", "2", "3"]);
        let mut diff = JoinedDiff::new(1, 1_000, None);
        let sets = diff
            .classify(&joined(&first, &Ledger::new(groups.clone())))
            .unwrap();
        assert_eq!(sets, vec![1, 1, 1]);
        assert_eq!(diff.counts()[0], [2, 0, 0, 0]);
        let mut ledger = Ledger::new(groups);
        ledger.apply(diff.sends());
        assert_eq!(ledger.len(), 2);
        // b changed, a did not: only b; with a refresh interval that has passed, a too.
        let second = rows(&[Some("a"), Some("b")], &["1", "9"]);
        let mut diff = JoinedDiff::new(1, 2_000, None);
        assert_eq!(
            diff.classify(&joined(&second, &ledger)).unwrap(),
            vec![0, 1]
        );
        assert_eq!(diff.counts()[0], [0, 1, 1, 0]);
        assert_eq!(diff.sends().len(), 1);
        let mut diff = JoinedDiff::new(1, 2_000, Some(500));
        assert_eq!(
            diff.classify(&joined(&second, &ledger)).unwrap(),
            vec![1, 1]
        );
        assert_eq!(diff.counts()[0], [0, 1, 0, 1]);
    }

    #[test]
    fn unsigned_hashes_of_2_pow_63_and_more_keep_their_bits() {
        // The ledger file's columns are unsigned: a key and hash with the top bit set.
        let (key, hash) = (u64::MAX - 5, 1u64 << 63 | 7);
        let u = |v: u64| Arc::new(UInt64Array::from(vec![v])) as ArrayRef;
        let batch = RecordBatch::try_from_iter([
            (KEY, u(key)),
            (hash_column(0).as_str(), u(hash)),
            (ledger_hash_column(0).as_str(), u(hash)),
            (ledger_sent_column(0).as_str(), u(100)),
        ])
        .unwrap();
        let mut diff = JoinedDiff::new(1, 200, None);
        assert_eq!(diff.classify(&batch).unwrap(), vec![0]);
        assert_eq!(diff.counts()[0], [0, 0, 1, 0]);
        // Changed: sent, recorded under the key's own bits.
        let batch = RecordBatch::try_from_iter([
            (KEY, u(key)),
            (hash_column(0).as_str(), u(hash + 1)),
            (ledger_hash_column(0).as_str(), u(hash)),
            (ledger_sent_column(0).as_str(), u(100)),
        ])
        .unwrap();
        assert_eq!(diff.classify(&batch).unwrap(), vec![1]);
        let mut ledger = crate::Ledger::new(vec!["g".into()]);
        ledger.apply(diff.sends());
        let entries: Vec<(u64, Vec<u64>)> = ledger.values().map(|(k, h)| (k, h.to_vec())).collect();
        assert_eq!(entries, vec![(key, vec![hash + 1])]);
    }

    #[test]
    fn a_missing_column_is_named() {
        let batch = rows(&[Some("a")], &["1"]);
        let e = JoinedDiff::new(1, 0, None).classify(&batch).unwrap_err();
        assert!(e.contains(KEY), "{e}");
    }
}
