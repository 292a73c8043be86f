//! Per entity key hash: each feature group's value hash and when it was last sent, in memory
//! and as Parquet (`key`, then `hash:<group>` and `sent:<group>` per group).

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use onfs_core::hashed::HashedMap;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// How keys and values are hashed; a ledger made another way is not compared with (the run
/// sends everything once and writes a new one).
pub const HASH_SCHEME: &str = "arrow-ahash-6f6e6673-v1";

/// Never sent.
const NEVER: u32 = 0;

/// Keys are hashes already: the map uses them as they are.
type KeyMap = HashedMap<u32>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    /// The feature groups, in the order of `hashes` and `sent` within an entry.
    pub groups: Vec<String>,
    index: KeyMap,
    keys: Vec<u64>,
    /// `entry * groups + group`.
    hashes: Vec<u64>,
    /// Seconds since the Unix epoch, `0` for never.
    sent: Vec<u32>,
}

/// What one group of one row was, by the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// No entry for the key, or the group was never sent.
    New,
    /// The same value hash, sent at this time.
    Same { sent: u32 },
    /// Another value hash.
    Changed,
}

impl Ledger {
    pub fn new(groups: Vec<String>) -> Ledger {
        Ledger {
            groups,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn width(&self) -> usize {
        self.groups.len()
    }

    /// The entry of `key`, if it has one.
    pub fn entry(&self, key: u64) -> Option<usize> {
        self.index.get(&key).map(|&e| e as usize)
    }

    /// The entry of `key`, made (nothing sent) if it has none.
    pub fn entry_or_insert(&mut self, key: u64) -> usize {
        let width = self.width();
        let next = self.keys.len() as u32;
        let e = *self.index.entry(key).or_insert(next);
        if e == next {
            self.keys.push(key);
            self.hashes.extend(std::iter::repeat_n(0, width));
            self.sent.extend(std::iter::repeat_n(NEVER, width));
        }
        e as usize
    }

    /// What group `group` of entry `entry` was when last sent, compared with `hash`.
    pub fn seen_at(&self, entry: usize, group: usize, hash: u64) -> Seen {
        let at = entry * self.width() + group;
        match self.sent[at] {
            NEVER => Seen::New,
            sent if self.hashes[at] == hash => Seen::Same { sent },
            _ => Seen::Changed,
        }
    }

    /// Records that group `group` of entry `entry` holds `hash`, sent at `sent` (seconds).
    pub fn set(&mut self, entry: usize, group: usize, hash: u64, sent: u32) {
        let at = entry * self.width() + group;
        self.hashes[at] = hash;
        self.sent[at] = sent;
    }

    /// Each key with its groups' value hashes (not when they were sent): what two ledgers
    /// agree on when they record the same values.
    pub fn values(&self) -> impl Iterator<Item = (u64, &[u64])> + '_ {
        let width = self.width().max(1);
        self.keys.iter().copied().zip(self.hashes.chunks(width))
    }

    /// What group `group` of `key` was when last sent, compared with `hash`.
    #[cfg(test)]
    fn seen(&self, key: u64, group: usize, hash: u64) -> Seen {
        match self.entry(key) {
            Some(e) => self.seen_at(e, group, hash),
            None => Seen::New,
        }
    }

    /// Records that group `group` of `key` holds `hash`, sent at `sent` (seconds).
    #[cfg(test)]
    fn record(&mut self, key: u64, group: usize, hash: u64, sent: u32) {
        let e = self.entry_or_insert(key);
        self.set(e, group, hash, sent);
    }

    /// The ledger as Parquet bytes.
    pub fn to_parquet(&self) -> Result<Vec<u8>, parquet::errors::ParquetError> {
        let width = self.width();
        let mut fields = vec![Field::new("key", DataType::UInt64, false)];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(self.keys.clone()))];
        for (g, label) in self.groups.iter().enumerate() {
            fields.push(Field::new(format!("hash:{label}"), DataType::UInt64, false));
            fields.push(Field::new(format!("sent:{label}"), DataType::UInt32, false));
            let hashes: UInt64Array = (0..self.len())
                .map(|e| self.hashes[e * width + g])
                .collect::<Vec<_>>()
                .into();
            let sent: UInt32Array = (0..self.len())
                .map(|e| self.sent[e * width + g])
                .collect::<Vec<_>>()
                .into();
            columns.push(Arc::new(hashes));
            columns.push(Arc::new(sent));
        }
        let schema = Arc::new(Schema::new(fields));
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
            .build();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, schema.clone(), Some(props))?;
        const ROWS: usize = 1 << 16;
        let all = RecordBatch::try_new(schema, columns)?;
        let mut start = 0;
        while start < all.num_rows() {
            let n = ROWS.min(all.num_rows() - start);
            writer.write(&all.slice(start, n))?;
            start += n;
        }
        writer.close()?;
        Ok(out)
    }

    /// A ledger from Parquet bytes, keeping only the groups of `groups` (a group the file lacks
    /// starts as never sent).
    pub fn from_parquet(bytes: Bytes, groups: &[String]) -> Result<Ledger, String> {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(|e| e.to_string())?
            .build()
            .map_err(|e| e.to_string())?;
        let mut ledger = Ledger::new(groups.to_vec());
        for batch in reader {
            let batch = batch.map_err(|e| e.to_string())?;
            let col = |name: &str| batch.column_by_name(name);
            let keys = col("key")
                .and_then(|a| a.as_any().downcast_ref::<UInt64Array>())
                .ok_or("no `key` column of unsigned 64-bit integers")?;
            let mut pairs = Vec::new();
            for (g, label) in groups.iter().enumerate() {
                let h = col(&format!("hash:{label}"))
                    .and_then(|a| a.as_any().downcast_ref::<UInt64Array>().cloned());
                let s = col(&format!("sent:{label}"))
                    .and_then(|a| a.as_any().downcast_ref::<UInt32Array>().cloned());
                if let (Some(h), Some(s)) = (h, s) {
                    pairs.push((g, h, s));
                }
            }
            ledger.index.reserve(keys.len());
            for row in 0..keys.len() {
                if pairs.iter().all(|(_, _, s)| s.value(row) == NEVER) {
                    continue;
                }
                let e = ledger.entry_or_insert(keys.value(row));
                for (g, h, s) in &pairs {
                    ledger.set(e, *g, h.value(row), s.value(row));
                }
            }
        }
        Ok(ledger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    #[test]
    fn seen_new_same_changed() {
        let mut l = Ledger::new(groups());
        assert_eq!(l.seen(7, 0, 1), Seen::New);
        l.record(7, 0, 1, 100);
        assert_eq!(l.seen(7, 0, 1), Seen::Same { sent: 100 });
        assert_eq!(l.seen(7, 0, 2), Seen::Changed);
        // The other group of a known key was never sent.
        assert_eq!(l.seen(7, 1, 1), Seen::New);
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn parquet_round_trip_keeps_groups_by_name() {
        let mut l = Ledger::new(groups());
        for k in 0..100_000u64 {
            l.record(k.wrapping_mul(0x9e37_79b9_7f4a_7c15), 0, k, 1_700_000_000);
            if k % 3 == 0 {
                l.record(k.wrapping_mul(0x9e37_79b9_7f4a_7c15), 1, !k, 1_700_000_500);
            }
        }
        let bytes = l.to_parquet().unwrap();
        assert_eq!(
            Ledger::from_parquet(bytes.clone().into(), &groups()).unwrap(),
            l
        );
        // Read for other groups: "b" kept, "c" new.
        let other = vec!["c".to_string(), "b".to_string()];
        let r = Ledger::from_parquet(bytes.into(), &other).unwrap();
        let key = 3u64.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        assert_eq!(r.seen(key, 0, 3), Seen::New);
        assert_eq!(
            r.seen(key, 1, !3),
            Seen::Same {
                sent: 1_700_000_500
            }
        );
        // Keys with nothing sent in the groups read carry nothing: left out.
        assert_eq!(r.len(), 33_334);
    }

    #[test]
    fn a_key_costs_under_forty_bytes_with_two_groups() {
        let mut l = Ledger::new(groups());
        let n = 200_000u64;
        for k in 0..n {
            let key = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555;
            l.record(key, 0, key.rotate_left(17), 1_764_500_000);
            l.record(key, 1, key.rotate_left(31), 1_764_500_000 + (k % 2) as u32);
        }
        let bytes = l.to_parquet().unwrap().len() as f64 / n as f64;
        eprintln!("ledger: {bytes:.1} bytes per key with two groups");
        assert!(bytes < 40.0, "{bytes:.1} bytes per key");
    }
}
