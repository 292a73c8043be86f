//! Which entities to read back: chosen at random while the messages stream by, in memory
//! proportional to the sample, spread so that every message is checked when the sample has at
//! least as many entities as there are messages.
//!
//! Two reservoirs of `n`: one over messages (each contributing one row chosen uniformly within
//! it) and one over all rows. The sample is the first, filled up to `n` from the second. An
//! entity sent more than once keeps every version sent after the one chosen (the store keeps
//! whichever it consumed last; with several Kafka partitions the order is not known).

use std::collections::HashMap;
use std::sync::Arc;

use onfs_core::proto::{Data, FeatureGroupSchema, Values};
use prost::Message;

use crate::error::VerifyError;

/// How many entities to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleSize {
    Count(usize),
    /// Every entity (memory grows with the rows).
    All,
}

/// What every row of a message shares: the entity and its groups, in message order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub entity_label: String,
    pub keys_schema: Vec<String>,
    /// `(group, feature labels)`.
    pub groups: Vec<(String, Vec<String>)>,
}

/// One row as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// The message's position in the input, from 0.
    pub message: u64,
    pub schema: Arc<Schema>,
    /// One per group of the schema.
    pub values: Vec<Values>,
}

/// An entity to read back, with every version of it that was sent, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledEntity {
    pub keys: Vec<String>,
    pub versions: Vec<Sent>,
}

impl SampledEntity {
    /// The key columns joined by `,`.
    pub fn key_text(&self) -> String {
        self.keys.join(",")
    }

    pub fn latest(&self) -> &Sent {
        self.versions.last().expect("an entity has a version")
    }
}

/// The entities chosen from a run's messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub messages: u64,
    pub rows: u64,
    pub entities: Vec<SampledEntity>,
}

/// At most this many later versions of an entity are kept.
const MAX_LATER_VERSIONS: usize = 16;

#[derive(Debug)]
struct Pick {
    key: String,
    row: u64,
    sent: Sent,
    keys: Vec<String>,
}

#[derive(Debug, Default)]
struct Live {
    picks: u32,
    /// `(row, version)` of rows seen after a pick of the key.
    later: Vec<(u64, Sent)>,
}

/// Chooses the entities to check, message by message.
#[derive(Debug)]
pub struct Sampler {
    size: SampleSize,
    rng: SplitMix64,
    messages: u64,
    rows: u64,
    /// Messages with at least one row so far.
    filled_messages: u64,
    by_message: Vec<Pick>,
    by_row: Vec<Pick>,
    live: HashMap<String, Live>,
    /// With [`SampleSize::All`]: every entity, and where it is.
    all: Vec<SampledEntity>,
    all_index: HashMap<String, usize>,
    schema: Option<Arc<Schema>>,
    key_buf: String,
}

impl Sampler {
    pub fn new(size: SampleSize, seed: u64) -> Sampler {
        Sampler {
            size,
            rng: SplitMix64(seed),
            messages: 0,
            rows: 0,
            filled_messages: 0,
            by_message: Vec::new(),
            by_row: Vec::new(),
            live: HashMap::new(),
            all: Vec::new(),
            all_index: HashMap::new(),
            schema: None,
            key_buf: String::new(),
        }
    }

    /// Takes the next message (a serialized `persist.Query`).
    pub fn add_message(&mut self, value: &[u8]) -> Result<(), VerifyError> {
        let message = self.messages;
        self.messages += 1;
        let bad = |reason: String| VerifyError::BadMessage { message, reason };
        let rows = data_rows(value).map_err(bad)?;
        let first_row = self.rows;
        self.rows += rows.len() as u64;
        if rows.is_empty() {
            return Ok(());
        }
        let mut ctx = MessageCtx {
            value,
            message,
            schema: None,
        };
        match self.size {
            SampleSize::All => self.add_all(&mut ctx, &rows),
            SampleSize::Count(0) => Ok(()),
            SampleSize::Count(n) => self.add_sampled(&mut ctx, &rows, first_row, n),
        }
    }

    fn add_all(&mut self, ctx: &mut MessageCtx, rows: &[&[u8]]) -> Result<(), VerifyError> {
        for row in rows {
            let (keys, sent) = self.decode_row(ctx, row)?;
            let key = keys.join("\u{1f}");
            match self.all_index.get(&key) {
                Some(&i) => self.all[i].versions.push(sent),
                None => {
                    self.all_index.insert(key, self.all.len());
                    self.all.push(SampledEntity {
                        keys,
                        versions: vec![sent],
                    });
                }
            }
        }
        Ok(())
    }

    fn add_sampled(
        &mut self,
        ctx: &mut MessageCtx,
        rows: &[&[u8]],
        first_row: u64,
        n: usize,
    ) -> Result<(), VerifyError> {
        // One row of this message into the reservoir of messages.
        self.filled_messages += 1;
        let slot = if self.by_message.len() < n {
            Some(self.by_message.len())
        } else {
            let j = self.rng.below(self.filled_messages) as usize;
            (j < n).then_some(j)
        };
        if let Some(slot) = slot {
            let i = self.rng.below(rows.len() as u64) as usize;
            let pick = self.pick(ctx, rows[i], first_row + i as u64)?;
            self.place(Reservoir::Messages, slot, pick);
        }
        // Every row into the reservoir of rows.
        for (i, row) in rows.iter().enumerate() {
            let t = first_row + i as u64;
            let slot = if self.by_row.len() < n {
                Some(self.by_row.len())
            } else {
                let j = self.rng.below(t + 1) as usize;
                (j < n).then_some(j)
            };
            if let Some(slot) = slot {
                let pick = self.pick(ctx, row, t)?;
                self.place(Reservoir::Rows, slot, pick);
            }
        }
        // Later versions of the entities chosen so far, this message's picks included (an entity may
        // stand twice in one message: `choose` keeps the versions after the picked row).
        if !self.live.is_empty() {
            for (i, row) in rows.iter().enumerate() {
                let mut key = std::mem::take(&mut self.key_buf);
                row_key(row, &mut key).map_err(|reason| VerifyError::BadMessage {
                    message: ctx.message,
                    reason,
                })?;
                if self.live.contains_key(key.as_str()) {
                    let (_, sent) = self.decode_row(ctx, row)?;
                    let live = self.live.get_mut(key.as_str()).expect("checked");
                    if live.later.len() == MAX_LATER_VERSIONS {
                        live.later.remove(0);
                    }
                    live.later.push((first_row + i as u64, sent));
                }
                self.key_buf = key;
            }
        }
        Ok(())
    }

    fn pick(&mut self, ctx: &mut MessageCtx, row: &[u8], t: u64) -> Result<Pick, VerifyError> {
        let (keys, sent) = self.decode_row(ctx, row)?;
        Ok(Pick {
            key: keys.join("\u{1f}"),
            row: t,
            sent,
            keys,
        })
    }

    fn place(&mut self, reservoir: Reservoir, slot: usize, pick: Pick) {
        self.live.entry(pick.key.clone()).or_default().picks += 1;
        let list = match reservoir {
            Reservoir::Messages => &mut self.by_message,
            Reservoir::Rows => &mut self.by_row,
        };
        let old = if slot == list.len() {
            list.push(pick);
            None
        } else {
            Some(std::mem::replace(&mut list[slot], pick))
        };
        if let Some(old) = old {
            let live = self.live.get_mut(&old.key).expect("a placed pick is live");
            live.picks -= 1;
            if live.picks == 0 {
                self.live.remove(&old.key);
            }
        }
    }

    /// Decodes one `Data` of the message in `ctx` (and its schema, once per message).
    fn decode_row(
        &mut self,
        ctx: &mut MessageCtx,
        row: &[u8],
    ) -> Result<(Vec<String>, Sent), VerifyError> {
        let message = ctx.message;
        let bad = |reason: String| VerifyError::BadMessage { message, reason };
        if ctx.schema.is_none() {
            let schema = decode_schema(ctx.value).map_err(bad)?;
            let schema = match &self.schema {
                Some(s) if **s == schema => s.clone(),
                _ => {
                    let s = Arc::new(schema);
                    self.schema = Some(s.clone());
                    s
                }
            };
            ctx.schema = Some(schema);
        }
        let schema = ctx.schema.clone().expect("decoded above");
        let data = Data::decode(row).map_err(|e| bad(e.to_string()))?;
        if data.feature_values.len() != schema.groups.len() {
            return Err(bad(format!(
                "a row holds {} feature groups, the message lists {}",
                data.feature_values.len(),
                schema.groups.len()
            )));
        }
        let values = data
            .feature_values
            .into_iter()
            .map(|f| f.values.unwrap_or_default())
            .collect();
        Ok((
            data.key_values,
            Sent {
                message,
                schema,
                values,
            },
        ))
    }

    /// The chosen entities.
    pub fn finish(mut self) -> Sample {
        let entities = match self.size {
            SampleSize::All => std::mem::take(&mut self.all),
            SampleSize::Count(n) => self.choose(n),
        };
        Sample {
            messages: self.messages,
            rows: self.rows,
            entities,
        }
    }

    fn choose(&mut self, n: usize) -> Vec<SampledEntity> {
        let mut by_row = std::mem::take(&mut self.by_row);
        // Fill from the reservoir of rows in random order.
        for i in (1..by_row.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            by_row.swap(i, j);
        }
        let mut chosen: Vec<Pick> = Vec::with_capacity(n);
        let mut index: HashMap<String, usize> = HashMap::new();
        for (from_rows, pick) in std::mem::take(&mut self.by_message)
            .into_iter()
            .map(|p| (false, p))
            .chain(by_row.into_iter().map(|p| (true, p)))
        {
            match index.get(&pick.key) {
                // The same entity chosen twice: keep its earliest row.
                Some(&i) => {
                    if pick.row < chosen[i].row {
                        chosen[i] = pick;
                    }
                }
                None if from_rows && chosen.len() >= n => {}
                None => {
                    index.insert(pick.key.clone(), chosen.len());
                    chosen.push(pick);
                }
            }
        }
        chosen
            .into_iter()
            .map(|pick| {
                let mut versions = vec![pick.sent];
                if let Some(live) = self.live.get(&pick.key) {
                    versions.extend(
                        live.later
                            .iter()
                            .filter(|(row, _)| *row > pick.row)
                            .map(|(_, s)| s.clone()),
                    );
                }
                SampledEntity {
                    keys: pick.keys,
                    versions,
                }
            })
            .collect()
    }
}

enum Reservoir {
    Messages,
    Rows,
}

struct MessageCtx<'a> {
    value: &'a [u8],
    message: u64,
    schema: Option<Arc<Schema>>,
}

/// A fast, seedable generator (SplitMix64).
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
}

/// The `(field number, wire type, payload)` of each field of a protobuf message; the payload of
/// a length-delimited field is its bytes, others are skipped over.
fn fields(buf: &[u8]) -> impl Iterator<Item = Result<(u64, u64, &[u8]), String>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= buf.len() {
            return None;
        }
        let field = (|| {
            let key = varint(buf, &mut at)?;
            let (start, len) = match key & 7 {
                0 => {
                    varint(buf, &mut at)?;
                    (at, 0)
                }
                1 => (at, 8),
                2 => {
                    let len = varint(buf, &mut at)? as usize;
                    (at, len)
                }
                5 => (at, 4),
                w => return Err(format!("unknown wire type {w}")),
            };
            let end = start
                .checked_add(len)
                .filter(|e| *e <= buf.len())
                .ok_or("truncated")?;
            at = end;
            Ok((key >> 3, key & 7, &buf[start..end]))
        })();
        if field.is_err() {
            at = buf.len();
        }
        Some(field)
    })
}

fn varint(buf: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at).ok_or("truncated")?;
        *at += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte < 0x80 {
            return Ok(v);
        }
    }
    Err("bad varint".to_string())
}

/// The serialized `Data` of each row of a `persist.Query`.
fn data_rows(value: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut rows = Vec::new();
    for f in fields(value) {
        let (number, wire, payload) = f?;
        if number == 4 && wire == 2 {
            rows.push(payload);
        }
    }
    Ok(rows)
}

/// The key values of a serialized `Data`, joined by U+001F, into `out`.
fn row_key(data: &[u8], out: &mut String) -> Result<(), String> {
    out.clear();
    let mut first = true;
    for f in fields(data) {
        let (number, wire, payload) = f?;
        if number == 1 && wire == 2 {
            if !first {
                out.push('\u{1f}');
            }
            first = false;
            out.push_str(std::str::from_utf8(payload).map_err(|e| e.to_string())?);
        }
    }
    Ok(())
}

/// The schema of a `persist.Query` (its fields other than the rows).
fn decode_schema(value: &[u8]) -> Result<Schema, String> {
    let mut schema = Schema {
        entity_label: String::new(),
        keys_schema: Vec::new(),
        groups: Vec::new(),
    };
    let text = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|e| e.to_string())
    };
    for f in fields(value) {
        match f? {
            (1, 2, b) => schema.entity_label = text(b)?,
            (2, 2, b) => schema.keys_schema.push(text(b)?),
            (3, 2, b) => {
                let g = FeatureGroupSchema::decode(b).map_err(|e| e.to_string())?;
                schema.groups.push((g.label, g.feature_labels));
            }
            _ => {}
        }
    }
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use onfs_core::proto::{FeatureValues, Query};

    /// A message of `rows` rows with keys `first..first+rows` and one Int64 feature (the key).
    fn message(first: u64, rows: u64) -> Vec<u8> {
        Query {
            entity_label: "user".into(),
            keys_schema: vec!["user_id".into()],
            feature_group_schema: vec![FeatureGroupSchema {
                label: "g".into(),
                feature_labels: vec!["f".into()],
            }],
            data: (first..first + rows)
                .map(|k| Data {
                    key_values: vec![k.to_string()],
                    feature_values: vec![FeatureValues {
                        values: Some(Values {
                            int64_values: vec![k as i64],
                            ..Default::default()
                        }),
                    }],
                })
                .collect(),
        }
        .encode_to_vec()
    }

    fn sample(size: SampleSize, seed: u64, messages: &[Vec<u8>]) -> Sample {
        let mut s = Sampler::new(size, seed);
        for m in messages {
            s.add_message(m).unwrap();
        }
        s.finish()
    }

    #[test]
    fn every_message_contributes_when_the_sample_is_large_enough() {
        // 40 messages of 1..80 rows: small messages would be missed by a plain reservoir.
        let mut messages = Vec::new();
        let mut first = 0;
        for i in 0..40u64 {
            let rows = if i % 4 == 0 { 80 } else { 1 + i % 3 };
            messages.push(message(first, rows));
            first += rows;
        }
        for seed in 0..20 {
            let s = sample(SampleSize::Count(40), seed, &messages);
            assert_eq!(s.entities.len(), 40);
            assert_eq!(s.messages, 40);
            assert_eq!(s.rows, first);
            let mut seen: Vec<u64> = s.entities.iter().map(|e| e.latest().message).collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 40, "seed {seed}");
            // The sent values are those of the key.
            for e in &s.entities {
                let k: i64 = e.keys[0].parse().unwrap();
                assert_eq!(e.latest().values[0].int64_values, vec![k]);
                assert_eq!(e.latest().schema.groups[0].0, "g");
            }
        }
    }

    #[test]
    fn fills_up_to_n_with_distinct_entities() {
        let messages: Vec<Vec<u8>> = (0..5).map(|i| message(i * 20, 20)).collect();
        let s = sample(SampleSize::Count(30), 7, &messages);
        assert_eq!(s.entities.len(), 30);
        let mut keys: Vec<&str> = s.entities.iter().map(|e| e.keys[0].as_str()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 30);
        let s = sample(SampleSize::Count(1000), 7, &messages);
        assert_eq!(s.entities.len(), 100);
        let s = sample(SampleSize::All, 7, &messages);
        assert_eq!(s.entities.len(), 100);
        assert_eq!(s.entities[42].keys, vec!["42"]);
    }

    #[test]
    fn rows_are_chosen_about_uniformly() {
        // 10 messages of 10 rows, 10 entities per run: each row ~10% of 2000 runs.
        let messages: Vec<Vec<u8>> = (0..10).map(|i| message(i * 10, 10)).collect();
        let mut counts = [0u32; 100];
        for seed in 0..2000 {
            for e in sample(SampleSize::Count(10), seed, &messages).entities {
                counts[e.keys[0].parse::<usize>().unwrap()] += 1;
            }
        }
        for (row, c) in counts.iter().enumerate() {
            assert!(
                (120..=290).contains(c),
                "row {row} chosen {c} times of 2000"
            );
        }
    }

    #[test]
    fn an_entity_sent_twice_keeps_its_later_versions() {
        // Key 3 is sent in message 0 (value 3) and again in message 2 (value 103).
        let mut later = Query::decode(message(3, 1).as_slice()).unwrap();
        later.data[0].feature_values[0]
            .values
            .as_mut()
            .unwrap()
            .int64_values = vec![103];
        let messages = vec![message(0, 5), message(5, 5), later.encode_to_vec()];
        let s = sample(SampleSize::All, 1, &messages);
        let e = s.entities.iter().find(|e| e.keys == ["3"]).unwrap();
        assert_eq!(e.versions.len(), 2);
        assert_eq!(e.latest().values[0].int64_values, vec![103]);
        for seed in 0..50 {
            let s = sample(SampleSize::Count(11), seed, &messages);
            assert_eq!(s.entities.len(), 10); // 10 distinct keys
            let e = s.entities.iter().find(|e| e.keys == ["3"]).unwrap();
            assert_eq!(e.latest().values[0].int64_values, vec![103], "seed {seed}");
        }
    }

    #[test]
    fn an_entity_twice_in_one_message_keeps_the_later_version() {
        // Key 1 with value 1, then again in the same message with value 20.
        let mut q = Query::decode(message(0, 3).as_slice()).unwrap();
        let mut again = q.data[1].clone();
        again.feature_values[0]
            .values
            .as_mut()
            .unwrap()
            .int64_values = vec![20];
        q.data.push(again);
        let messages = vec![q.encode_to_vec()];
        for seed in 0..100 {
            for n in [1, 2, 3] {
                let s = sample(SampleSize::Count(n), seed, &messages);
                if let Some(e) = s.entities.iter().find(|e| e.keys == ["1"]) {
                    assert_eq!(
                        e.latest().values[0].int64_values,
                        vec![20],
                        "seed {seed}, n {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_bytes_name_the_message() {
        let mut s = Sampler::new(SampleSize::Count(5), 0);
        s.add_message(&message(0, 2)).unwrap();
        let e = s.add_message(&[0x22, 0x05, 0x01]).unwrap_err();
        assert!(e.to_string().contains("message 1"), "{e}");
    }
}
