//! Per entity key hash: each feature group's value hash and when it was last sent, in memory
//! and as Parquet (`key`, then `hash:<group>` and `sent:<group>` per group, rows in key order).
//!
//! In memory the entries are sorted by key, with a directory of where each range of keys (by
//! the key's top bits) starts: a lookup reads a slot and a few neighbouring keys, nothing is
//! hashed again and nothing needs a lock while a run compares. What a run sends is gathered as
//! [`Sends`](crate::Sends) and recorded once per pass, in place ([`Ledger::record`]; sends
//! read back from a file as [`Updates`], [`Ledger::apply`]).

use std::sync::{Arc, OnceLock};

use arrow_array::{Array, ArrayRef, UInt32Array, UInt64Array};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowSchemaConverter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

/// How keys and values are hashed; a ledger made another way is not compared with (the run
/// sends everything once and writes a new one).
/// (v2: values hashed in one canonical Arrow type per kind, `hashing`, so that the command line
/// and Spark hash alike.)
pub const HASH_SCHEME: &str = "arrow-foldhash-6f6e6673-v2";

use crate::sent_times::{SentTimes, NEVER};

mod merge;
use onfs_core::prefetch::{prefetch, AHEAD};

/// The ledger file's columns: the key hash, then per group its value hash and when it was
/// last sent.
pub(crate) const KEY_COLUMN: &str = "key";

pub(crate) fn hash_column(label: &str) -> String {
    format!("hash:{label}")
}

pub(crate) fn sent_column(label: &str) -> String {
    format!("sent:{label}")
}

/// No entry, in [`Ledger::entries`].
pub const NO_ENTRY: u32 = u32::MAX;

/// Rows per array handed to a column's encoder (smaller in tests, to write several).
#[cfg(not(test))]
const WRITE_ROWS: usize = 1 << 16;
#[cfg(test)]
const WRITE_ROWS: usize = 1 << 12;

/// Rows per batch read from a ledger file.
const READ_ROWS: usize = 1 << 13;

/// Rows per Parquet row group (smaller in tests, to write several).
#[cfg(not(test))]
const ROW_GROUP: usize = 1 << 20;
#[cfg(test)]
const ROW_GROUP: usize = 1 << 15;

#[derive(Debug, Clone)]
pub struct Ledger {
    /// The feature groups, in the order of `hashes` and `sent` within an entry.
    pub groups: Vec<String>,
    /// Sorted, each once.
    keys: Vec<u64>,
    /// `entry * groups + group`.
    hashes: Vec<u64>,
    /// `entry * groups + group`: seconds since the Unix epoch, `0` for never.
    sent: SentTimes,
    /// Where the keys whose top `64 - shift` bits are `s` start: `dir[s]..dir[s + 1]`.
    dir: Vec<u32>,
    shift: u32,
    /// The Parquet file of the entries as they are, once made (a run writes it to its resume
    /// area, then commits it).
    encoded: OnceLock<Bytes>,
}

impl PartialEq for Ledger {
    fn eq(&self, other: &Ledger) -> bool {
        self.groups == other.groups
            && self.keys == other.keys
            && self.hashes == other.hashes
            && self.sent == other.sent
    }
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

impl Seen {
    /// A group's entry as the ledger keeps it (`hash`, and `sent`: `0` for never) compared
    /// with the group's value hash now.
    pub fn of(hash: u64, sent: u32, now: u64) -> Seen {
        match sent {
            NEVER => Seen::New,
            sent if hash == now => Seen::Same { sent },
            _ => Seen::Changed,
        }
    }

    /// What a changed-only run does with the group: sends it if it is new or changed, or was
    /// last sent `refresh_after` seconds or more before `now` (seconds since the epoch).
    pub fn verdict(self, now: u32, refresh_after: Option<u32>) -> Verdict {
        match self {
            Seen::New => Verdict::New,
            Seen::Changed => Verdict::Changed,
            Seen::Same { sent } => match refresh_after {
                Some(after) if now.saturating_sub(sent) >= after => Verdict::Refreshed,
                _ => Verdict::Unchanged,
            },
        }
    }
}

/// A changed-only run's verdict on one group of one row (the index of its count in a
/// report: new, changed, unchanged, refreshed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    New = 0,
    Changed = 1,
    Unchanged = 2,
    Refreshed = 3,
}

impl Verdict {
    /// Whether the group is sent.
    pub fn sends(self) -> bool {
        self != Verdict::Unchanged
    }
}

/// Sends to record: per key, each group's value hash and when it was sent (`0`: not sent by
/// this update, the ledger keeps what it had).
#[derive(Debug, Clone, Default)]
pub struct Updates {
    width: usize,
    keys: Vec<u64>,
    hashes: Vec<u64>,
    sent: Vec<u32>,
    /// The Parquet file of these sends as they are, for the groups named, once made (a run
    /// writes it to its resume area before it delivers, then commits the same file).
    encoded: OnceLock<(Vec<String>, Bytes)>,
}

impl PartialEq for Updates {
    fn eq(&self, other: &Updates) -> bool {
        self.width == other.width
            && self.keys == other.keys
            && self.hashes == other.hashes
            && self.sent == other.sent
    }
}

impl Updates {
    pub fn new(groups: usize) -> Updates {
        Updates {
            width: groups,
            ..Default::default()
        }
    }

    /// Room for `keys` keys' updates.
    pub fn with_capacity(groups: usize, keys: usize) -> Updates {
        Updates {
            width: groups,
            keys: Vec::with_capacity(keys),
            hashes: Vec::with_capacity(keys * groups),
            sent: Vec::with_capacity(keys * groups),
            encoded: OnceLock::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Records `key`'s groups: `(hash, sent)` per group, in the ledger's order (`sent` 0 for a
    /// group this update leaves as it was).
    pub fn push(&mut self, key: u64, groups: impl IntoIterator<Item = (u64, u32)>) {
        self.encoded.take();
        self.keys.push(key);
        let before = self.hashes.len();
        for (hash, sent) in groups {
            self.hashes.push(hash);
            self.sent.push(sent);
        }
        debug_assert_eq!(self.hashes.len() - before, self.width);
    }

    /// Appends `other`'s updates after these.
    pub fn append(&mut self, mut other: Updates) {
        debug_assert_eq!(self.width, other.width);
        self.encoded.take();
        self.keys.append(&mut other.keys);
        self.hashes.append(&mut other.hashes);
        self.sent.append(&mut other.sent);
    }

    /// As a file of the ledger's layout (`key`, `hash:<group>`, `sent:<group>`): how an
    /// executor hands its sends to the process that commits them. Made once for the sends as
    /// they are.
    pub fn to_parquet(&self, groups: &[String]) -> Result<Bytes, ParquetError> {
        if let Some((made_for, bytes)) = self.encoded.get() {
            if made_for == groups {
                return Ok(bytes.clone());
            }
        }
        let mut ledger = Ledger::new(groups.to_vec());
        ledger.apply(self);
        let bytes = ledger.to_parquet()?;
        // Kept for the first groups asked for (the ledger's, in every use).
        let _ = self.encoded.set((groups.to_vec(), bytes.clone()));
        Ok(bytes)
    }

    /// Sends written by [`Updates::to_parquet`].
    pub fn from_parquet(bytes: Bytes, groups: &[String]) -> Result<Updates, String> {
        let ledger = Ledger::from_parquet(bytes, groups)?;
        let w = ledger.width();
        let mut updates = Updates::new(w);
        for (i, key) in ledger.keys.iter().enumerate() {
            updates.push(
                *key,
                (0..w).map(|g| (ledger.hashes[i * w + g], ledger.sent.get(i * w + g))),
            );
        }
        Ok(updates)
    }
}

impl Ledger {
    pub fn new(groups: Vec<String>) -> Ledger {
        let mut ledger = Ledger {
            groups,
            keys: Vec::new(),
            hashes: Vec::new(),
            sent: SentTimes::default(),
            dir: Vec::new(),
            shift: 0,
            encoded: OnceLock::new(),
        };
        ledger.index();
        ledger
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Bytes the entries take in memory.
    pub fn memory_bytes(&self) -> usize {
        self.keys.capacity() * 8
            + self.hashes.capacity() * 8
            + self.sent.memory_bytes()
            + self.dir.capacity() * 4
    }

    fn width(&self) -> usize {
        self.groups.len()
    }

    /// Builds the directory over the sorted keys: about four keys a slot, at most 2^24 slots.
    fn index(&mut self) {
        let bits = (usize::BITS - (self.keys.len() / 4).leading_zeros()).clamp(1, 24);
        self.shift = 64 - bits;
        let slots = 1usize << bits;
        let mut dir = Vec::with_capacity(slots + 1);
        let mut at = 0usize;
        for s in 0..slots as u64 {
            while at < self.keys.len() && self.keys[at] >> self.shift < s {
                at += 1;
            }
            dir.push(at as u32);
        }
        dir.push(self.keys.len() as u32);
        self.dir = dir;
    }

    /// The entry of `key`, if it has one.
    pub fn entry(&self, key: u64) -> Option<usize> {
        let (lo, hi) = self.slot(key);
        self.find(key, lo, hi)
    }

    /// The entries `dir` gives for `key`'s slot.
    fn slot(&self, key: u64) -> (u32, u32) {
        let s = (key >> self.shift) as usize;
        (self.dir[s], self.dir[s + 1])
    }

    /// `key`'s entry among entries `lo..hi`, if it is there.
    fn find(&self, key: u64, lo: u32, hi: u32) -> Option<usize> {
        let (lo, hi) = (lo as usize, hi as usize);
        self.keys[lo..hi]
            .iter()
            .position(|&k| k == key)
            .map(|i| lo + i)
    }

    /// The entry of each of `keys` ([`NO_ENTRY`] for none). Done in steps over the whole
    /// slice (the directory slots, then the keys), so that the memory reads of many keys are
    /// in flight at once rather than one key's after another's.
    /// Each step asks for the memory of the key [`AHEAD`] rows on.
    pub fn entries(&self, keys: &[u64]) -> Vec<u32> {
        let slots: Vec<(u32, u32)> = (keys.iter().enumerate())
            .map(|(row, &k)| {
                if let Some(&next) = keys.get(row + AHEAD) {
                    prefetch(&self.dir, (next >> self.shift) as usize);
                }
                self.slot(k)
            })
            .collect();
        (keys.iter().zip(&slots).enumerate())
            .map(|(row, (&key, &(lo, hi)))| {
                if let Some(&(next, _)) = slots.get(row + AHEAD) {
                    prefetch(&self.keys, next as usize);
                }
                self.find(key, lo, hi).map_or(NO_ENTRY, |e| e as u32)
            })
            .collect()
    }

    /// Each of `entries`' group value hashes and send times, a row after another (`groups`
    /// values a row; `NO_ENTRY`: 0 and never). One copy of each entry's neighbouring values
    /// per row, the memory of the entry [`AHEAD`] rows on asked for meanwhile, rather than one
    /// read per group and row, each waited for.
    pub fn gather(&self, entries: &[u32]) -> (Vec<u64>, Vec<u32>) {
        let w = self.width();
        let mut hashes = Vec::with_capacity(entries.len() * w);
        let mut sent = Vec::with_capacity(entries.len() * w);
        for (row, &e) in entries.iter().enumerate() {
            if let Some(&next) = entries.get(row + AHEAD).filter(|&&n| n != NO_ENTRY) {
                let at = next as usize * w;
                prefetch(&self.hashes, at);
                prefetch(&self.hashes, at + w.saturating_sub(1));
                self.sent.prefetch(at);
            }
            if e == NO_ENTRY {
                hashes.extend(std::iter::repeat_n(0, w));
                sent.extend(std::iter::repeat_n(NEVER, w));
            } else {
                let at = e as usize * w;
                hashes.extend_from_slice(&self.hashes[at..at + w]);
                self.sent.copy_to(at..at + w, &mut sent);
            }
        }
        (hashes, sent)
    }

    /// What group `group` of entry `entry` was when last sent, compared with `hash`.
    #[inline]
    pub fn seen_at(&self, entry: usize, group: usize, hash: u64) -> Seen {
        let at = entry * self.width() + group;
        Seen::of(self.hashes[at], self.sent.get(at), hash)
    }

    /// What group `group` of `key` was when last sent, compared with `hash`.
    #[cfg(test)]
    fn seen(&self, key: u64, group: usize, hash: u64) -> Seen {
        match self.entry(key) {
            Some(e) => self.seen_at(e, group, hash),
            None => Seen::New,
        }
    }

    /// Each key with its groups' value hashes (not when they were sent): what two ledgers
    /// agree on when they record the same values.
    pub fn values(&self) -> impl Iterator<Item = (u64, &[u64])> + '_ {
        let width = self.width().max(1);
        self.keys.iter().copied().zip(self.hashes.chunks(width))
    }

    fn schema(&self) -> SchemaRef {
        let mut fields = vec![Field::new(KEY_COLUMN, DataType::UInt64, false)];
        for label in &self.groups {
            fields.push(Field::new(hash_column(label), DataType::UInt64, false));
            fields.push(Field::new(sent_column(label), DataType::UInt32, false));
        }
        Arc::new(Schema::new(fields))
    }

    /// Column `c` of the file (`key`, then per group its hashes and when sent) for entries
    /// `start..end`.
    fn column(&self, c: usize, start: usize, end: usize) -> ArrayRef {
        let w = self.width();
        if c == 0 {
            return Arc::new(UInt64Array::from(self.keys[start..end].to_vec()));
        }
        let g = (c - 1) / 2;
        if c % 2 == 1 {
            Arc::new(
                (start..end)
                    .map(|e| self.hashes[e * w + g])
                    .collect::<UInt64Array>(),
            )
        } else {
            Arc::new(
                (start..end)
                    .map(|e| self.sent.get(e * w + g))
                    .collect::<UInt32Array>(),
            )
        }
    }

    /// The ledger as Parquet bytes, in key order (made once for the entries as they are).
    pub fn to_parquet(&self) -> Result<Bytes, ParquetError> {
        if let Some(bytes) = self.encoded.get() {
            return Ok(bytes.clone());
        }
        let bytes = Bytes::from(self.encode()?);
        Ok(self.encoded.get_or_init(|| bytes).clone())
    }

    /// The columns of each row group are encoded on as many threads as there are cores, a
    /// slice of rows at a time.
    fn encode(&self) -> Result<Vec<u8>, ParquetError> {
        let schema = self.schema();
        // Keys are all different: a dictionary would only cost time. (A group's value hashes
        // repeat as often as its values do, and send times are few: theirs is kept.)
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
                .set_column_dictionary_enabled(ColumnPath::from(KEY_COLUMN), false)
                .build(),
        );
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)?;
        let mut out = Vec::new();
        let mut writer =
            SerializedFileWriter::new(&mut out, parquet_schema.root_schema_ptr(), props)?;
        let factory = ArrowRowGroupWriterFactory::new(&writer, schema.clone());
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut start = 0;
        let mut group = 0;
        while start < self.len() {
            let end = (start + ROW_GROUP).min(self.len());
            let mut shares: Vec<Vec<(usize, ArrowColumnWriter)>> =
                (0..threads).map(|_| Vec::new()).collect();
            for (c, w) in factory
                .create_column_writers(group)?
                .into_iter()
                .enumerate()
            {
                shares[c % threads].push((c, w));
            }
            let mut chunks = std::thread::scope(|scope| {
                let workers: Vec<_> = shares
                    .into_iter()
                    .map(|share| {
                        let schema = &schema;
                        scope.spawn(move || -> Result<Vec<_>, ParquetError> {
                            let mut done = Vec::new();
                            for (c, mut writer) in share {
                                let mut at = start;
                                while at < end {
                                    let to = (at + WRITE_ROWS).min(end);
                                    let array = self.column(c, at, to);
                                    for leaf in compute_leaves(schema.field(c), &array)? {
                                        writer.write(&leaf)?;
                                    }
                                    at = to;
                                }
                                done.push((c, writer.close()?));
                            }
                            Ok(done)
                        })
                    })
                    .collect();
                let mut chunks = Vec::new();
                for worker in workers {
                    chunks.extend(worker.join().expect("an encoding thread panicked")?);
                }
                Ok::<_, ParquetError>(chunks)
            })?;
            chunks.sort_by_key(|(c, _)| *c);
            let mut row_group = writer.next_row_group()?;
            for (_, chunk) in chunks {
                chunk.append_to_row_group(&mut row_group)?;
            }
            row_group.close()?;
            start = end;
            group += 1;
        }
        writer.close()?;
        Ok(out)
    }

    /// A ledger from Parquet bytes, keeping only the groups of `groups` (a group the file lacks
    /// starts as never sent).
    pub fn from_parquet(bytes: Bytes, groups: &[String]) -> Result<Ledger, String> {
        let mut ledger = Ledger::read_entries(bytes, groups)?;
        if !ledger.keys.is_sorted_by(|a, b| a < b) {
            ledger.sort();
        }
        ledger.index();
        Ok(ledger)
    }

    /// The file's entries, in file order (not indexed). Its row groups are decoded on as many
    /// threads as there are cores (row group `r` on thread `r % threads`), each thread up to a
    /// row group ahead, while the entries are laid out here, a row group after another.
    fn read_entries(bytes: Bytes, groups: &[String]) -> Result<Ledger, String> {
        let meta =
            ArrowReaderMetadata::load(&bytes, Default::default()).map_err(|e| e.to_string())?;
        let rows = usize::try_from(meta.metadata().file_metadata().num_rows()).unwrap_or(0);
        let row_groups = meta.metadata().num_row_groups();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, row_groups.max(1));
        // Room for a whole row group's batches and its end: a thread decodes its next row
        // group while the ones before it are laid out.
        let ahead = (0..row_groups)
            .map(|g| usize::try_from(meta.metadata().row_group(g).num_rows()).unwrap_or(0))
            .max()
            .unwrap_or(0)
            .div_ceil(READ_ROWS)
            + 1;
        std::thread::scope(|scope| {
            let mut channels = Vec::with_capacity(threads);
            for first in 0..threads {
                // A row group's batches, then `None` at its end.
                let (tx, rx) =
                    std::sync::mpsc::sync_channel::<Result<Option<_>, ArrowError>>(ahead);
                channels.push(rx);
                let (bytes, meta) = (bytes.clone(), meta.clone());
                scope.spawn(move || {
                    for group in (first..row_groups).step_by(threads) {
                        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
                            bytes.clone(),
                            meta.clone(),
                        )
                        .with_row_groups(vec![group])
                        .with_batch_size(READ_ROWS)
                        .build();
                        let batches = match reader {
                            Ok(reader) => reader,
                            Err(e) => {
                                let _ = tx.send(Err(e.into()));
                                return;
                            }
                        };
                        for batch in batches.map(|b| b.map(Some)).chain([Ok(None)]) {
                            let stop = batch.is_err();
                            if tx.send(batch).is_err() || stop {
                                return;
                            }
                        }
                    }
                });
            }
            let in_order = (0..row_groups).flat_map(|group| {
                let rx = &channels[group % threads];
                std::iter::from_fn(move || match rx.recv() {
                    Ok(batch) => batch.transpose(),
                    // Only a thread that panicked leaves without its row group's end.
                    Err(_) => Some(Err(ArrowError::ExternalError(
                        "a thread decoding the ledger stopped before its row group's end".into(),
                    ))),
                })
            });
            Ledger::lay_out(in_order, rows, groups)
        })
    }

    /// The entries of the batches of a ledger file (`rows` in all).
    fn lay_out(
        batches: impl IntoIterator<Item = Result<arrow_array::RecordBatch, ArrowError>>,
        rows: usize,
        groups: &[String],
    ) -> Result<Ledger, String> {
        let mut ledger = Ledger::new(groups.to_vec());
        let w = ledger.width();
        // Room for every entry at once (no copy as the arrays grow).
        ledger.keys.reserve_exact(rows);
        ledger.hashes.reserve_exact(rows * w);
        ledger.sent = SentTimes::with_capacity(rows * w);
        for batch in batches {
            let batch = batch.map_err(|e| e.to_string())?;
            let col = |name: &str| batch.column_by_name(name);
            let keys = col(KEY_COLUMN)
                .and_then(|a| a.as_any().downcast_ref::<UInt64Array>())
                .ok_or("no `key` column of unsigned 64-bit integers")?;
            let mut pairs = Vec::new();
            for (g, label) in groups.iter().enumerate() {
                let h = col(&hash_column(label))
                    .and_then(|a| a.as_any().downcast_ref::<UInt64Array>().cloned());
                let s = col(&sent_column(label))
                    .and_then(|a| a.as_any().downcast_ref::<UInt32Array>().cloned());
                if let (Some(h), Some(s)) = (h, s) {
                    pairs.push((g, h, s));
                }
            }
            let n = keys.len();
            // A row whose every group was never sent holds nothing (a file of sends may have
            // some): then row by row; else each column in one go.
            let empty_rows = pairs.is_empty()
                || (pairs.iter().any(|(_, _, s)| s.values().contains(&NEVER))
                    && (0..n).any(|row| pairs.iter().all(|(_, _, s)| s.value(row) == NEVER)));
            if !empty_rows {
                let base = ledger.hashes.len();
                ledger.keys.extend_from_slice(keys.values());
                ledger.hashes.resize(base + n * w, 0);
                ledger.sent.push_never(n * w);
                for (g, h, s) in &pairs {
                    let into = ledger.hashes[base..].iter_mut().skip(*g).step_by(w);
                    for (to, &v) in into.zip(h.values().iter()) {
                        *to = v;
                    }
                    ledger.sent.set_strided(base + g, w, s.values());
                }
                continue;
            }
            for row in 0..n {
                if pairs.iter().all(|(_, _, s)| s.value(row) == NEVER) {
                    continue;
                }
                ledger.keys.push(keys.value(row));
                let at = ledger.hashes.len();
                ledger.hashes.extend(std::iter::repeat_n(0, w));
                ledger.sent.push_never(w);
                for (g, h, s) in &pairs {
                    ledger.hashes[at + g] = h.value(row);
                    if s.value(row) != NEVER {
                        ledger.sent.set(at + g, s.value(row));
                    }
                }
            }
        }
        Ok(ledger)
    }

    /// Puts the entries in key order (a file written before the ledger kept one); of a key
    /// found twice, the later entry is kept.
    fn sort(&mut self) {
        let w = self.width();
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.sort_unstable_by_key(|&i| (self.keys[i as usize], std::cmp::Reverse(i)));
        order.dedup_by_key(|i| self.keys[*i as usize]);
        let keys = order.iter().map(|&i| self.keys[i as usize]).collect();
        let mut hashes = Vec::with_capacity(order.len() * w);
        let mut sent = SentTimes::with_capacity(order.len() * w);
        for &i in &order {
            let i = i as usize;
            hashes.extend_from_slice(&self.hashes[i * w..(i + 1) * w]);
            sent.extend_from(&self.sent, i * w..(i + 1) * w);
        }
        self.keys = keys;
        self.hashes = hashes;
        self.sent = sent;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::RecordBatch;
    use parquet::arrow::ArrowWriter;

    fn groups() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    /// Records that group `group` of `key` holds `hash`, sent at `sent`.
    fn record(l: &mut Ledger, key: u64, group: usize, hash: u64, sent: u32) {
        let mut u = Updates::new(l.width());
        u.push(
            key,
            (0..l.width()).map(|g| if g == group { (hash, sent) } else { (0, NEVER) }),
        );
        l.apply(u);
    }

    #[test]
    fn gathered_entries_read_as_each_entry() {
        let mut l = Ledger::new(groups());
        record(&mut l, 5, 0, 50, 100);
        record(&mut l, 7, 1, 71, 200);
        let entries = l.entries(&[7, 9, 5]);
        let (hashes, sent) = l.gather(&entries);
        assert_eq!(hashes, [0, 71, 0, 0, 50, 0]);
        assert_eq!(sent, [NEVER, 200, NEVER, NEVER, 100, NEVER]);
    }

    #[test]
    fn seen_new_same_changed() {
        let mut l = Ledger::new(groups());
        assert_eq!(l.seen(7, 0, 1), Seen::New);
        record(&mut l, 7, 0, 1, 100);
        assert_eq!(l.seen(7, 0, 1), Seen::Same { sent: 100 });
        assert_eq!(l.seen(7, 0, 2), Seen::Changed);
        // The other group of a known key was never sent.
        assert_eq!(l.seen(7, 1, 1), Seen::New);
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn updates_travel_as_parquet_and_keep_what_they_leave_alone() {
        let groups = vec!["a".to_string(), "b".to_string()];
        let mut ledger = Ledger::new(groups.clone());
        let mut first = Updates::new(2);
        first.push(1, [(10, 5), (11, 5)]);
        ledger.apply(first);
        // Key 1 sends only group b; key 2 is new with group a.
        let mut sends = Updates::new(2);
        sends.push(1, [(0, 0), (99, 7)]);
        sends.push(2, [(20, 7), (0, 0)]);
        let file = sends.to_parquet(&groups).unwrap();
        // Made once for the sends as they are; again once they change or for other groups.
        assert_eq!(sends.to_parquet(&groups).unwrap().as_ptr(), file.as_ptr());
        let other = vec!["b".to_string(), "a".to_string()];
        assert_ne!(sends.to_parquet(&other).unwrap(), file);
        let mut more = sends.clone();
        more.push(3, [(30, 7), (0, 0)]);
        assert_eq!(
            Updates::from_parquet(more.to_parquet(&groups).unwrap(), &groups)
                .unwrap()
                .len(),
            3
        );
        let back = Updates::from_parquet(file, &groups).unwrap();
        let mut expected = ledger.clone();
        expected.apply(sends);
        ledger.apply(back);
        assert_eq!(ledger, expected);
        assert_eq!(ledger.seen(1, 0, 10), Seen::Same { sent: 5 });
        assert_eq!(ledger.seen(1, 1, 99), Seen::Same { sent: 7 });
        assert_eq!(ledger.seen(2, 1, 0), Seen::New);
    }

    #[test]
    fn updates_change_known_keys_in_place_and_merge_new_ones_in_key_order() {
        let mut l = Ledger::new(groups());
        let mut u = Updates::new(2);
        for k in [50u64, 10, u64::MAX, 0, 30] {
            u.push(k, [(k, 100), (k.wrapping_add(1), 100)]);
        }
        l.apply(u);
        assert_eq!(
            l.values().map(|(k, _)| k).collect::<Vec<_>>(),
            vec![0, 10, 30, 50, u64::MAX]
        );
        let mut u = Updates::new(2);
        // 10's group b changes, group a is left; 20 is new with only group a; a later update
        // of 20 wins.
        u.push(10, [(0, NEVER), (99, 200)]);
        u.push(20, [(5, 200), (0, NEVER)]);
        u.push(20, [(6, 201), (0, NEVER)]);
        l.apply(u);
        assert_eq!(l.len(), 6);
        assert_eq!(l.seen(10, 0, 10), Seen::Same { sent: 100 });
        assert_eq!(l.seen(10, 1, 99), Seen::Same { sent: 200 });
        assert_eq!(l.seen(20, 0, 6), Seen::Same { sent: 201 });
        assert_eq!(l.seen(20, 1, 0), Seen::New);
        for k in [0, 30, 50, u64::MAX] {
            assert_eq!(l.seen(k, 1, k.wrapping_add(1)), Seen::Same { sent: 100 });
        }
        assert_eq!(l.entry(40), None);
    }

    #[test]
    fn many_keys_are_all_found_and_others_are_not() {
        let mut l = Ledger::new(groups());
        let key = |k: u64| k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut u = Updates::new(2);
        for k in 0..300_000u64 {
            u.push(key(k), [(k, 1), (!k, 2)]);
        }
        l.apply(u);
        for k in 0..300_000u64 {
            assert_eq!(l.seen(key(k), 0, k), Seen::Same { sent: 1 });
        }
        for k in 300_000..310_000u64 {
            assert_eq!(l.entry(key(k)), None);
        }
        let asked: Vec<u64> = (299_990..300_010).map(key).collect();
        let found = l.entries(&asked);
        for (k, e) in asked.iter().zip(found) {
            assert_eq!(l.entry(*k).map_or(NO_ENTRY, |e| e as u32), e);
        }
    }

    #[test]
    fn parquet_round_trip_keeps_groups_by_name() {
        let mut l = Ledger::new(groups());
        let mut u = Updates::new(2);
        for k in 0..100_000u64 {
            let b = if k % 3 == 0 {
                (!k, 1_700_000_500)
            } else {
                (0, NEVER)
            };
            u.push(
                k.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                [(k, 1_700_000_000), b],
            );
        }
        l.apply(u);
        let bytes = l.to_parquet().unwrap();
        let row_groups = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
            .unwrap()
            .metadata()
            .num_row_groups();
        assert!(row_groups > 2, "row groups decoded on several threads");
        let read = Ledger::read_entries(bytes.clone(), &groups()).unwrap();
        assert!(read.keys.is_sorted(), "row groups laid out in file order");
        assert_eq!(Ledger::from_parquet(bytes.clone(), &groups()).unwrap(), l);
        // Made once for the entries as they are, made again once they change.
        assert_eq!(l.to_parquet().unwrap().as_ptr(), bytes.as_ptr());
        let mut changed = l.clone();
        record(&mut changed, 1, 0, 1, 1);
        let again = changed.to_parquet().unwrap();
        assert_ne!(again, bytes);
        assert_eq!(Ledger::from_parquet(again, &groups()).unwrap(), changed);
        // Read for other groups: "b" kept, "c" new.
        let other = vec!["c".to_string(), "b".to_string()];
        let r = Ledger::from_parquet(bytes, &other).unwrap();
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
    fn a_file_not_in_key_order_is_put_in_order() {
        // As a ledger written before entries were kept in key order: keys in arrival order.
        let schema = Ledger::new(groups()).schema();
        let keys = [9u64, 3, 7, 3];
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(UInt64Array::from(keys.to_vec())),
                Arc::new(UInt64Array::from(vec![90, 30, 70, 31])),
                Arc::new(UInt32Array::from(vec![1, 1, 1, 2])),
                Arc::new(UInt64Array::from(vec![0, 0, 0, 0])),
                Arc::new(UInt32Array::from(vec![0, 0, 0, 0])),
            ],
        )
        .unwrap();
        let mut bytes = Vec::new();
        let mut w = ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let l = Ledger::from_parquet(bytes.into(), &groups()).unwrap();
        assert_eq!(
            l.values().map(|(k, h)| (k, h[0])).collect::<Vec<_>>(),
            vec![(3, 31), (7, 70), (9, 90)]
        );
        assert_eq!(l.seen(3, 0, 31), Seen::Same { sent: 2 });
    }

    #[test]
    fn a_key_costs_under_forty_bytes_with_two_groups() {
        let mut l = Ledger::new(groups());
        let n = 200_000u64;
        let mut u = Updates::new(2);
        for k in 0..n {
            let key = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555;
            u.push(
                key,
                [
                    (key.rotate_left(17), 1_764_500_000),
                    (key.rotate_left(31), 1_764_500_000 + (k % 2) as u32),
                ],
            );
        }
        l.apply(u);
        let bytes = l.to_parquet().unwrap().len() as f64 / n as f64;
        eprintln!("ledger: {bytes:.1} bytes per key with two groups");
        assert!(bytes < 40.0, "{bytes:.1} bytes per key");
    }
}
