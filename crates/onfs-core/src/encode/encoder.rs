//! Arrow record batches to serialized `persist.Query` messages, written straight to the wire
//! format: no per-row structs, no per-value allocation.

use std::sync::Arc;

use arrow_array::{Array, RecordBatch};

use super::column::{Bound, Leaf, LeafData, Num};
use super::error::EncodeError;
use super::wire::{begin, begin_wide, end, end_wide, put_bytes, put_varint};
use crate::datatype::{Element, WireField};
use crate::plan::Plan;
use crate::store::{FirstLengths, StoreError, StoreRules, VectorFit, VectorSpec, VectorTally};

/// Field tags (field number << 3 | wire type 2).
mod tag {
    pub const QUERY_ENTITY_LABEL: u8 = 0x0a;
    pub const QUERY_KEYS_SCHEMA: u8 = 0x12;
    pub const QUERY_FG_SCHEMA: u8 = 0x1a;
    pub const QUERY_DATA: u8 = 0x22;
    pub const FG_LABEL: u8 = 0x0a;
    pub const FG_FEATURE_LABELS: u8 = 0x12;
    pub const DATA_KEY_VALUES: u8 = 0x0a;
    pub const DATA_FEATURE_VALUES: u8 = 0x12;
    pub const FEATURE_VALUES_VALUES: u8 = 0x0a;
    pub const VALUES_VECTOR: u8 = 0x4a;
    pub const VECTOR_VALUES: u8 = 0x0a;
}

#[derive(Debug, Clone)]
pub struct EncoderOptions {
    /// Rows per message (the original's `intra_batch_size`).
    pub batch_size: usize,
    /// Send values outside their declared type as the original does, instead of failing.
    pub allow_out_of_range: bool,
    /// Close a message early rather than let it grow past this many bytes.
    pub max_message_bytes: Option<usize>,
    /// Group rows by their entity key into this many partitions (Kafka's default partitioner on
    /// the key), each message keyed by its first row's key; `None` for unkeyed messages.
    pub key_partitions: Option<u32>,
    /// The store's vector rules: declared lengths, and what to do with rows of another length.
    pub store: StoreRules,
    /// Sending while encoding: every encoder of the run shares the first length of each vector
    /// feature, and a row of another length fails at once.
    pub first_lengths: Option<Arc<FirstLengths>>,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            batch_size: 20,
            allow_out_of_range: false,
            max_message_bytes: None,
            key_partitions: None,
            store: StoreRules::default(),
            first_lengths: None,
        }
    }
}

/// One serialized `persist.Query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedMessage {
    pub value: Vec<u8>,
    /// 0, 1, 2 ... within one input partition (one encoder).
    pub intra_batch_id: i64,
    pub rows: u32,
    /// The entity key of the first row (key values joined by `,`) when keyed.
    pub key: Option<Vec<u8>>,
    /// The partition every row of the message hashes to, when keyed.
    pub partition: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EncodeStats {
    pub rows_in: u64,
    pub rows: u64,
    pub dropped_null_key_rows: u64,
    pub messages: u64,
    pub bytes: u64,
    /// The most rows one message holds: the store keeps or drops a message whole.
    pub max_rows_per_message: u32,
    /// Per vector feature: the lengths seen, rows padded or truncated.
    pub vectors: Vec<VectorTally>,
}

impl EncodeStats {
    /// Adds another encoder's counts (same plan).
    pub fn merge(&mut self, o: &EncodeStats) {
        self.rows_in += o.rows_in;
        self.rows += o.rows;
        self.dropped_null_key_rows += o.dropped_null_key_rows;
        self.messages += o.messages;
        self.bytes += o.bytes;
        self.max_rows_per_message = self.max_rows_per_message.max(o.max_rows_per_message);
        crate::store::merge_tallies(&mut self.vectors, &o.vectors);
    }

    /// The store's length rule over everything counted: an error naming every vector feature
    /// whose rows have more than one length.
    pub fn check_vector_lengths(&self) -> Result<(), StoreError> {
        crate::store::check_tallies(&self.vectors)
    }
}

struct GroupSpec {
    element: Element,
    vector: bool,
    data_type: String,
    columns: Vec<String>,
    /// Where each of `columns` is in `Encoder::inputs`.
    inputs: Vec<usize>,
    /// The index of the group's first column in `EncodeStats::vectors` (vector groups).
    first_slot: usize,
}

/// A stateful encoder: rows carry over from one batch to the next until a message is full.
pub struct Encoder {
    entity_columns: Vec<String>,
    /// Every column read, each once (`Plan::input_columns`); `key_inputs` and each group's
    /// `inputs` point into it.
    inputs: Vec<String>,
    key_inputs: Vec<usize>,
    groups: Vec<GroupSpec>,
    header: Vec<u8>,
    opts: EncoderOptions,
    buf: Vec<u8>,
    rows_in_buf: u32,
    /// The lane (partition) `buf` belongs to, and its first row's key.
    lane: usize,
    lane_key: Option<Vec<u8>>,
    /// The other lanes' pending messages, in key mode.
    parked: Vec<Lane>,
    key_scratch: String,
    next_id: i64,
    stats: EncodeStats,
    scratch: String,
    widths: Widths,
}

#[derive(Default)]
struct Lane {
    buf: Vec<u8>,
    rows: u32,
    key: Option<Vec<u8>>,
}

/// The length widths of the previous row's nested fields, in write order: the guesses for the
/// next row, whose layout is the same, so nested lengths rarely need moving.
#[derive(Default)]
struct Widths {
    widths: Vec<usize>,
    cursor: usize,
}

impl Widths {
    #[inline]
    fn open(&mut self, buf: &mut Vec<u8>, tag: u8) -> (usize, usize, usize) {
        let slot = self.cursor;
        self.cursor += 1;
        if slot == self.widths.len() {
            self.widths.push(1);
        }
        let width = self.widths[slot];
        (begin_wide(buf, tag, width), width, slot)
    }

    #[inline]
    fn close(&mut self, buf: &mut Vec<u8>, (start, width, slot): (usize, usize, usize)) {
        self.widths[slot] = end_wide(buf, start, width);
    }
}

const ACCEPTED_NUMERIC: &str =
    "integers, float16/32/64, decimal128 (and lists of them for vector groups)";
const ACCEPTED_STRING: &str =
    "utf8, large utf8, utf8 view, or numbers and booleans printed as Python does (and lists of them for vector groups)";
const ACCEPTED_BOOL: &str = "boolean or integers (and lists of them for vector groups)";

impl Encoder {
    /// An encoder; panics if the store rules name a feature the plan lacks (check them first
    /// with `StoreRules::check_plan`, or use `try_new`).
    pub fn new(plan: &Plan, opts: EncoderOptions) -> Encoder {
        Encoder::try_new(plan, opts).expect("store rules checked against the plan")
    }

    /// An encoder, or an error for store rules that name no vector feature of the plan.
    pub fn try_new(plan: &Plan, opts: EncoderOptions) -> Result<Encoder, StoreError> {
        let vectors = opts.store.vectors(plan)?;
        Ok(Encoder::with_vectors(plan, opts, vectors))
    }

    /// An encoder of some of the plan's groups (by index, see `Plan::with_groups`): messages
    /// that carry only those groups. The store rules are resolved against the whole plan.
    pub fn try_for_groups(
        plan: &Plan,
        keep: impl Fn(usize) -> bool,
        opts: EncoderOptions,
    ) -> Result<Encoder, StoreError> {
        let all = opts.store.vectors(plan)?;
        let subset = plan.with_groups(keep);
        let columns: Vec<&String> = subset
            .feature_groups
            .iter()
            .flat_map(|g| &g.columns)
            .collect();
        let vectors = all
            .into_iter()
            .filter(|v| columns.contains(&&v.column))
            .collect();
        Ok(Encoder::with_vectors(&subset, opts, vectors))
    }

    fn with_vectors(plan: &Plan, opts: EncoderOptions, vectors: Vec<VectorSpec>) -> Encoder {
        let mut header = Vec::new();
        put_bytes(
            &mut header,
            tag::QUERY_ENTITY_LABEL,
            plan.entity_label.as_bytes(),
        );
        if plan.entity_label.is_empty() {
            header.clear(); // proto3 leaves an empty string out
        }
        for c in &plan.entity_columns {
            put_bytes(&mut header, tag::QUERY_KEYS_SCHEMA, c.as_bytes());
        }
        for g in &plan.feature_groups {
            let s = begin(&mut header, tag::QUERY_FG_SCHEMA);
            if !g.label.is_empty() {
                put_bytes(&mut header, tag::FG_LABEL, g.label.as_bytes());
            }
            for f in &g.features {
                put_bytes(&mut header, tag::FG_FEATURE_LABELS, f.as_bytes());
            }
            end(&mut header, s);
        }
        let inputs = plan.input_columns();
        let input = |name: &String| {
            inputs
                .iter()
                .position(|c| c == name)
                .expect("every planned column is an input column")
        };
        let mut slot = 0;
        let groups = plan
            .feature_groups
            .iter()
            .map(|g| {
                let first_slot = slot;
                if g.data_type.vector {
                    slot += g.columns.len();
                }
                GroupSpec {
                    element: g.data_type.element,
                    vector: g.data_type.vector,
                    data_type: g.data_type.to_string(),
                    columns: g.columns.clone(),
                    inputs: g.columns.iter().map(input).collect(),
                    first_slot,
                }
            })
            .collect();
        let stats = EncodeStats {
            vectors: vectors
                .into_iter()
                .map(|v| VectorTally {
                    feature: v.feature,
                    column: v.column,
                    expected: v.expected,
                    default: v.default,
                    default_len: v.default_len,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let opts = EncoderOptions {
            batch_size: opts.batch_size.max(1),
            ..opts
        };
        let lanes = opts.key_partitions.unwrap_or(1).max(1);
        Encoder {
            parked: (0..lanes).map(|_| Lane::default()).collect(),
            entity_columns: plan.entity_columns.clone(),
            key_inputs: plan.entity_columns.iter().map(input).collect(),
            inputs,
            groups,
            buf: Vec::with_capacity(header.len() + 512 * opts.batch_size),
            header,
            opts,
            rows_in_buf: 0,
            lane: 0,
            lane_key: None,
            key_scratch: String::new(),
            next_id: 0,
            stats,
            scratch: String::new(),
            widths: Widths::default(),
        }
    }

    pub fn stats(&self) -> &EncodeStats {
        &self.stats
    }

    /// Whether no row waits for its message: the next row opens one.
    pub fn is_idle(&self) -> bool {
        self.rows_in_buf == 0
            && (self.parked.iter().enumerate()).all(|(i, l)| i == self.lane || l.rows == 0)
    }

    /// Every column the encoder reads, each once: entity columns, then each group's renamed
    /// columns (`Plan::input_columns`).
    pub fn input_columns(&self) -> &[String] {
        &self.inputs
    }

    /// Encodes a batch; returns the messages it completed.
    pub fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<EncodedMessage>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(batch, &mut out)?;
        Ok(out)
    }

    /// Encodes a batch, pushing the messages it completed onto `out`.
    pub fn encode_into(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<EncodedMessage>,
    ) -> Result<(), EncodeError> {
        let bound = self.bind(batch)?;
        let n = batch.num_rows();
        self.stats.rows_in += n as u64;
        'rows: for row in 0..n {
            for k in &bound.keys {
                if k.is_null(row) {
                    self.stats.dropped_null_key_rows += 1;
                    continue 'rows;
                }
            }
            if let Some(partitions) = self.opts.key_partitions {
                self.key_scratch.clear();
                for (i, k) in bound.keys.iter().enumerate() {
                    if i > 0 {
                        self.key_scratch.push(',');
                    }
                    k.write_py_str(row, &mut self.key_scratch);
                }
                let lane =
                    crate::partition::partition_for_key(self.key_scratch.as_bytes(), partitions)
                        as usize;
                if lane != self.lane {
                    self.switch_lane(lane);
                }
                if self.rows_in_buf == 0 {
                    self.lane_key = Some(self.key_scratch.as_bytes().to_vec());
                }
            }
            if self.rows_in_buf == 0 {
                self.buf.clear();
                self.buf.extend_from_slice(&self.header);
            }
            let row_start = self.buf.len();
            self.write_row(&bound, row)?;
            self.rows_in_buf += 1;
            self.stats.rows += 1;
            if let Some(limit) = self.opts.max_message_bytes {
                if self.buf.len() > limit {
                    self.split_oversized(&bound, row, row_start, limit, out)?;
                }
            }
            if self.rows_in_buf as usize >= self.opts.batch_size {
                out.push(self.take_message());
            }
        }
        Ok(())
    }

    /// The last, possibly shorter, messages (one per partition in key mode).
    pub fn finish(&mut self) -> Vec<EncodedMessage> {
        let mut out = Vec::new();
        for lane in 0..self.parked.len() {
            self.switch_lane(lane);
            if self.rows_in_buf > 0 {
                out.push(self.take_message());
            }
        }
        out
    }

    fn switch_lane(&mut self, lane: usize) {
        if lane == self.lane {
            return;
        }
        let parked = &mut self.parked[self.lane];
        std::mem::swap(&mut parked.buf, &mut self.buf);
        parked.rows = self.rows_in_buf;
        parked.key = self.lane_key.take();
        let next = &mut self.parked[lane];
        std::mem::swap(&mut next.buf, &mut self.buf);
        self.rows_in_buf = next.rows;
        self.lane_key = next.key.take();
        self.lane = lane;
    }

    fn take_message(&mut self) -> EncodedMessage {
        let cap = self.buf.capacity().max(self.header.len() + 512);
        let value = std::mem::replace(&mut self.buf, Vec::with_capacity(cap));
        let keyed = self.opts.key_partitions.is_some();
        let msg = EncodedMessage {
            intra_batch_id: self.next_id,
            rows: self.rows_in_buf,
            value,
            key: if keyed { self.lane_key.take() } else { None },
            partition: keyed.then_some(self.lane as i32),
        };
        self.next_id += 1;
        self.rows_in_buf = 0;
        self.stats.messages += 1;
        self.stats.max_rows_per_message = self.stats.max_rows_per_message.max(msg.rows);
        self.stats.bytes += msg.value.len() as u64;
        msg
    }

    /// The message outgrew the limit with the row just written: send what came before it and
    /// start the next message with that row.
    fn split_oversized(
        &mut self,
        bound: &BoundBatch<'_>,
        row: usize,
        row_start: usize,
        limit: usize,
        out: &mut Vec<EncodedMessage>,
    ) -> Result<(), EncodeError> {
        let row_bytes = self.buf.len() - row_start;
        if self.header.len() + row_bytes > limit {
            return Err(EncodeError::RowTooLarge {
                key: self.key_of(bound, row),
                bytes: self.header.len() + row_bytes,
                limit,
            });
        }
        let tail = self.buf.split_off(row_start);
        self.rows_in_buf -= 1;
        out.push(self.take_message());
        if self.opts.key_partitions.is_some() {
            self.lane_key = Some(self.key_scratch.as_bytes().to_vec());
        }
        self.buf.clear();
        self.buf.extend_from_slice(&self.header);
        self.buf.extend_from_slice(&tail);
        self.rows_in_buf = 1;
        Ok(())
    }

    fn bind<'a>(&self, batch: &'a RecordBatch) -> Result<BoundBatch<'a>, EncodeError> {
        let schema = batch.schema_ref();
        let column = |name: &str| -> Result<(&'a str, &'a dyn Array), EncodeError> {
            match schema.index_of(name) {
                Ok(i) => Ok((schema.field(i).name().as_str(), batch.column(i).as_ref())),
                Err(_) => Err(EncodeError::MissingColumn {
                    column: name.to_string(),
                    available: schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        };
        // Every input column looked up once, in order: the first missing one is the error.
        let arrays = self
            .inputs
            .iter()
            .map(|name| column(name))
            .collect::<Result<Vec<_>, _>>()?;
        let mut keys = Vec::with_capacity(self.entity_columns.len());
        for (name, &i) in self.entity_columns.iter().zip(&self.key_inputs) {
            let (_, array) = arrays[i];
            let leaf = Leaf::bind(array).ok_or_else(|| EncodeError::UnsupportedKeyType {
                column: name.clone(),
                arrow_type: array.data_type().to_string(),
            })?;
            keys.push(leaf);
        }
        let mut groups = Vec::with_capacity(self.groups.len());
        for g in &self.groups {
            let mut cols = Vec::with_capacity(g.columns.len());
            for (name, &i) in g.columns.iter().zip(&g.inputs) {
                let (field_name, array) = arrays[i];
                let unsupported = || EncodeError::UnsupportedType {
                    column: name.clone(),
                    arrow_type: array.data_type().to_string(),
                    data_type: g.data_type.clone(),
                    accepted: match g.element {
                        Element::String => ACCEPTED_STRING,
                        Element::Bool => ACCEPTED_BOOL,
                        _ => ACCEPTED_NUMERIC,
                    },
                };
                let b = Bound::bind(array).ok_or_else(unsupported)?;
                let ok = match (&b, g.vector) {
                    (Bound::Scalar(leaf), false) => leaf.can_feed(g.element),
                    (Bound::List { child, .. }, true) => child.can_feed(g.element),
                    _ => false,
                };
                if !ok {
                    return Err(unsupported());
                }
                cols.push((field_name, b));
            }
            groups.push(cols);
        }
        Ok(BoundBatch { keys, groups })
    }

    fn key_of(&self, bound: &BoundBatch<'_>, row: usize) -> String {
        let mut s = String::new();
        for (i, (name, leaf)) in self.entity_columns.iter().zip(&bound.keys).enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(name);
            s.push('=');
            if leaf.is_null(row) {
                s.push_str("null");
            } else {
                leaf.write_py_str(row, &mut s);
            }
        }
        s
    }

    /// The store's length rule for one vector: how many of its `n` elements to write and how
    /// many zeros to pad with, counting the row.
    #[inline(always)]
    fn fit(
        &self,
        tally: &mut VectorTally,
        slot: usize,
        n: usize,
        bound: &BoundBatch<'_>,
        row: usize,
    ) -> Result<(usize, usize), EncodeError> {
        let fit = self.opts.store.vector_fit;
        if fit == VectorFit::Keep {
            return Ok((n, 0));
        }
        // The common case: a row of the length the feature's rows have had so far (declared
        // or not), counted in place.
        if tally.expected.is_none_or(|e| e == n)
            && (self.opts.first_lengths.is_none() || tally.expected.is_some())
            && tally.count_common(n)
        {
            return Ok((n, 0));
        }
        self.fit_rest(tally, slot, n, bound, row)
    }

    /// `fit` for the rows that need more than a count: the first rows of a feature, other
    /// lengths, fitting, errors.
    #[inline(never)]
    fn fit_rest(
        &self,
        tally: &mut VectorTally,
        slot: usize,
        n: usize,
        bound: &BoundBatch<'_>,
        row: usize,
    ) -> Result<(usize, usize), EncodeError> {
        let fit = self.opts.store.vector_fit;
        if tally.expected.is_some() {
            // The lengths the rows came with, for the report (a declared feature is never
            // "ragged": its rows are checked or fitted one by one).
            tally.count(n, || self.key_of(bound, row));
        }
        let wrong = |expected: usize, basis: &'static str, what: &'static str| {
            EncodeError::from(StoreError::WrongLength {
                feature: tally.feature.clone(),
                column: tally.column.clone(),
                key: self.key_of(bound, row),
                found: n,
                expected,
                basis,
                what,
            })
        };
        match tally.expected {
            Some(e) if n == e => Ok((n, 0)),
            Some(e) if n < e && fit.pads() => {
                tally.padded_rows += 1;
                Ok((n, e - n))
            }
            Some(e) if n > e && fit.truncates() => {
                tally.truncated_rows += 1;
                Ok((e, 0))
            }
            Some(e) => Err(wrong(
                e,
                "its declared length is",
                if n < e {
                    "Pad shorter rows with zeros, or fix the data."
                } else {
                    "Truncate longer rows, or fix the data."
                },
            )),
            None => {
                if let Some(first) = &self.opts.first_lengths {
                    let e = first.first(slot, n);
                    if e != n {
                        return Err(wrong(
                            e,
                            "the rows before it have length",
                            "Declare the feature's length to pad or truncate rows, or fix the data.",
                        ));
                    }
                }
                tally.count(n, || self.key_of(bound, row));
                Ok((n, 0))
            }
        }
    }

    fn write_row(&mut self, bound: &BoundBatch<'_>, row: usize) -> Result<(), EncodeError> {
        let mut buf = std::mem::take(&mut self.buf);
        let mut widths = std::mem::take(&mut self.widths);
        let mut tallies = std::mem::take(&mut self.stats.vectors);
        widths.cursor = 0;
        let result = self.write_row_into(&mut buf, &mut widths, &mut tallies, bound, row);
        self.buf = buf;
        self.widths = widths;
        self.stats.vectors = tallies;
        result
    }

    fn write_row_into(
        &mut self,
        buf: &mut Vec<u8>,
        w: &mut Widths,
        tallies: &mut [VectorTally],
        bound: &BoundBatch<'_>,
        row: usize,
    ) -> Result<(), EncodeError> {
        let data = w.open(buf, tag::QUERY_DATA);
        for leaf in &bound.keys {
            match leaf.str_bytes(row) {
                Some(bytes) => put_bytes(buf, tag::DATA_KEY_VALUES, bytes),
                None => {
                    self.scratch.clear();
                    leaf.write_py_str(row, &mut self.scratch);
                    put_bytes(buf, tag::DATA_KEY_VALUES, self.scratch.as_bytes());
                }
            }
        }
        for (g, cols) in self.groups.iter().zip(&bound.groups) {
            let fv = w.open(buf, tag::DATA_FEATURE_VALUES);
            let values = w.open(buf, tag::FEATURE_VALUES_VALUES);
            let ctx = Ctx {
                enc: self,
                bound,
                row,
                element: g.element,
                data_type: &g.data_type,
            };
            if g.vector {
                for (i, (name, b)) in cols.iter().enumerate() {
                    let Bound::List {
                        offsets,
                        nulls,
                        child,
                    } = b
                    else {
                        unreachable!("checked in bind")
                    };
                    if nulls.is_some_and(|n| n.is_null(row)) {
                        return Err(ctx.null(name));
                    }
                    let (start, stop) = offsets.range(row);
                    let slot = g.first_slot + i;
                    let (take, pad) =
                        self.fit(&mut tallies[slot], slot, stop - start, bound, row)?;
                    let stop = start + take;
                    let vector = w.open(buf, tag::VALUES_VECTOR);
                    let inner = w.open(buf, tag::VECTOR_VALUES);
                    if child.nulls.is_some_and(|n| n.null_count() > 0) {
                        if let Some(i) = (start..stop).find(|&i| child.is_null(i)) {
                            return Err(EncodeError::NullElement {
                                column: name.to_string(),
                                key: self.key_of(bound, row),
                                index: i - start,
                            });
                        }
                    }
                    write_vector(buf, &ctx, name, child, start, stop, pad)?;
                    w.close(buf, inner);
                    w.close(buf, vector);
                }
            } else {
                for (name, b) in cols {
                    if let Bound::Scalar(leaf) = b {
                        if leaf.is_null(row) {
                            return Err(ctx.null(name));
                        }
                    }
                }
                let items = cols.iter().map(|(name, b)| match b {
                    Bound::Scalar(leaf) => (*name, leaf, row),
                    Bound::List { .. } => unreachable!("checked in bind"),
                });
                write_field(buf, &ctx, cols.len(), items, 0)?;
            }
            w.close(buf, values);
            w.close(buf, fv);
        }
        w.close(buf, data);
        Ok(())
    }
}

struct BoundBatch<'a> {
    keys: Vec<Leaf<'a>>,
    groups: Vec<Vec<(&'a str, Bound<'a>)>>,
}

/// What an error about one value needs to name it.
struct Ctx<'e, 'b, 'a> {
    enc: &'e Encoder,
    bound: &'b BoundBatch<'a>,
    row: usize,
    element: Element,
    data_type: &'e str,
}

impl Ctx<'_, '_, '_> {
    fn null(&self, column: &str) -> EncodeError {
        EncodeError::NullValue {
            column: column.to_string(),
            key: self.enc.key_of(self.bound, self.row),
        }
    }

    fn out_of_range(&self, column: &str, value: String, range: String) -> EncodeError {
        EncodeError::OutOfRange {
            column: column.to_string(),
            key: self.enc.key_of(self.bound, self.row),
            value,
            data_type: self.data_type.to_string(),
            range,
        }
    }

    fn not_representable(&self, column: &str, value: String, reason: &'static str) -> EncodeError {
        EncodeError::NotRepresentable {
            column: column.to_string(),
            key: self.enc.key_of(self.bound, self.row),
            value,
            data_type: self.data_type.to_string(),
            reason,
        }
    }

    /// A float element as the double the wire carries, range-checked against the declared type.
    #[inline]
    fn float(&self, column: &str, leaf: &Leaf<'_>, i: usize) -> Result<f64, EncodeError> {
        match (&leaf.data, self.element) {
            (LeafData::F32(v), Element::Fp32) => return Ok(v[i] as f64),
            (LeafData::F64(v), Element::Fp64) => return Ok(v[i]),
            _ => {}
        }
        let v = leaf.f64(i);
        match self.element {
            Element::Fp64 => Ok(v),
            _ => {
                let narrowed = v as f32;
                if !self.enc.opts.allow_out_of_range && v.is_finite() {
                    let max = self.element.float_max().expect("float element");
                    if narrowed.is_infinite() || (narrowed.abs() as f64) > max {
                        let mut value = String::new();
                        super::pyfmt::write_float(&mut value, v);
                        return Err(self.out_of_range(
                            column,
                            value,
                            format!("largest finite value {max}"),
                        ));
                    }
                }
                Ok(narrowed as f64)
            }
        }
    }

    /// An integer element, checked against the wire field and the declared type.
    #[inline]
    fn int(&self, column: &str, leaf: &Leaf<'_>, i: usize) -> Result<i128, EncodeError> {
        match (&leaf.data, self.element) {
            (LeafData::I64(v), Element::Int64) => return Ok(v[i] as i128),
            (LeafData::I32(v), Element::Int32 | Element::Int64) => return Ok(v[i] as i128),
            _ => {}
        }
        let v = match leaf.num(i) {
            Num::Int(x) => x,
            Num::Float(f) => {
                if !f.is_finite() {
                    let mut value = String::new();
                    super::pyfmt::write_float(&mut value, f);
                    return Err(self.not_representable(column, value, "not a finite number"));
                }
                f.trunc() as i128
            }
            Num::Dec(u, s) => {
                if s > 0 {
                    u / 10i128.pow(s as u32)
                } else {
                    u.saturating_mul(10i128.pow((-(s as i32)) as u32))
                }
            }
        };
        let (wlo, whi) = self.element.wire_int_range().expect("integer element");
        if v < wlo || v > whi {
            return Err(self.not_representable(
                column,
                v.to_string(),
                if v < 0 && wlo == 0 {
                    "a negative value has no unsigned wire field"
                } else {
                    "it does not fit the wire field"
                },
            ));
        }
        if !self.enc.opts.allow_out_of_range {
            let (lo, hi) = self.element.int_range().expect("integer element");
            if v < lo || v > hi {
                return Err(self.out_of_range(column, v.to_string(), format!("{lo}..={hi}")));
            }
        }
        Ok(v)
    }
}

/// Writes the elements `start..stop` of a vector's child array and `pad` zeros after them,
/// with fast paths for the common float layouts that need no range check.
#[inline]
fn write_vector(
    buf: &mut Vec<u8>,
    ctx: &Ctx<'_, '_, '_>,
    name: &str,
    child: &Leaf<'_>,
    start: usize,
    stop: usize,
    pad: usize,
) -> Result<(), EncodeError> {
    let n = stop - start;
    if n + pad == 0 {
        return Ok(());
    }
    let field = ctx.element.wire_field();
    let tag = ((field as u8) << 3) | 2;
    let unchecked = ctx.element == Element::Fp32 || ctx.enc.opts.allow_out_of_range;
    match (field, &child.data) {
        (WireField::Fp32, LeafData::F32(v)) if unchecked => {
            buf.push(tag);
            put_varint(buf, ((n + pad) * 8) as u64);
            buf.reserve((n + pad) * 8);
            for &x in &v[start..stop] {
                buf.extend_from_slice(&(x as f64).to_le_bytes());
            }
            buf.resize(buf.len() + pad * 8, 0);
            Ok(())
        }
        (WireField::Fp64, LeafData::F64(v)) => {
            buf.push(tag);
            put_varint(buf, ((n + pad) * 8) as u64);
            buf.reserve((n + pad) * 8);
            for &x in &v[start..stop] {
                buf.extend_from_slice(&x.to_le_bytes());
            }
            buf.resize(buf.len() + pad * 8, 0);
            Ok(())
        }
        _ => write_field(buf, ctx, n, (start..stop).map(|i| (name, child, i)), pad),
    }
}

/// Writes `count` values of the context's element, then `pad` zeros (`0`, `false`, `""`), into
/// one `Values` field.
#[inline]
fn write_field<'l, 'a: 'l>(
    buf: &mut Vec<u8>,
    ctx: &Ctx<'_, '_, '_>,
    count: usize,
    items: impl Iterator<Item = (&'l str, &'l Leaf<'a>, usize)>,
    pad: usize,
) -> Result<(), EncodeError> {
    if count + pad == 0 {
        return Ok(());
    }
    let field = ctx.element.wire_field();
    let tag = ((field as u8) << 3) | 2;
    match field {
        WireField::Fp32 | WireField::Fp64 => {
            buf.push(tag);
            put_varint(buf, ((count + pad) * 8) as u64);
            for (name, leaf, i) in items {
                let v = ctx.float(name, leaf, i)?;
                buf.extend_from_slice(&v.to_le_bytes());
            }
            buf.resize(buf.len() + pad * 8, 0);
        }
        WireField::Int32 | WireField::Int64 | WireField::Uint32 | WireField::Uint64 => {
            let s = begin(buf, tag);
            for (name, leaf, i) in items {
                let v = ctx.int(name, leaf, i)?;
                // Negative int32/int64 are sign-extended to ten bytes, as protobuf does.
                put_varint(buf, v as i64 as u64);
            }
            buf.resize(buf.len() + pad, 0);
            end(buf, s);
        }
        WireField::Bool => {
            buf.push(tag);
            put_varint(buf, (count + pad) as u64);
            for (_, leaf, i) in items {
                buf.push(leaf.bool(i) as u8);
            }
            buf.resize(buf.len() + pad, 0);
        }
        WireField::String => {
            let mut scratch = String::new();
            for (_, leaf, i) in items {
                match leaf.str_bytes(i) {
                    Some(bytes) => put_bytes(buf, tag, bytes),
                    None => {
                        scratch.clear();
                        leaf.write_py_str(i, &mut scratch);
                        put_bytes(buf, tag, scratch.as_bytes());
                    }
                }
            }
            for _ in 0..pad {
                put_bytes(buf, tag, b"");
            }
        }
    }
    Ok(())
}
