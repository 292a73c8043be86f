//! Property tests of the encoder: random batches of all 30 data types, fed by every Arrow type
//! each accepts, with edge values (NaN, ±infinity, subnormals, extreme integers, empty, unicode
//! and huge strings and vectors, nulls in features, keys and vector elements), decoded with
//! prost. Every batch either decodes to the values a model of the documented conversions
//! predicts, or fails with the error the model predicts for its first bad value (variant,
//! column, key); rows with a null key are dropped and counted; every message but the last holds
//! `batch_size` rows; `EncodeStats` agrees with the messages.
//!
//! `PROPTEST_CASES=N` runs N cases instead of the default.

use std::sync::Arc;

use arrow_array::*;
use arrow_buffer::{NullBuffer, OffsetBuffer};
use half::f16;
use onfs_core::proto::Values;
use onfs_core::{EncodeError, EncoderOptions};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::harness::config;
use crate::support::*;

pub const TYPES: [&str; 15] = [
    "FP8E5M2", "FP8E4M3", "FP16", "FP32", "FP64", "Int8", "Int16", "Int32", "Int64", "Uint8",
    "Uint16", "Uint32", "Uint64", "String", "Bool",
];

/// The Arrow type of an input column (of a scalar, or of a vector's elements).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    F16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Utf8,
    LargeUtf8,
    Utf8View,
    Bool,
}

/// The Arrow types a data type accepts (a sample of each family).
fn kinds_for(t: &str) -> &'static [Kind] {
    use Kind::*;
    match t {
        "FP8E5M2" | "FP8E4M3" | "FP16" | "FP32" | "FP64" => &[F16, F32, F64, I64, U64, I8],
        "String" => &[Utf8, LargeUtf8, Utf8View],
        "Bool" => &[Bool, I8, I64],
        _ => &[I8, I16, I32, I64, U8, U16, U32, U64, F64, F16],
    }
}

/// One input value, in its Arrow type.
#[derive(Debug, Clone)]
enum V {
    F(f64), // F16 / F32 / F64: exact in f64
    I(i128),
    S(String),
    B(bool),
}

fn edge_f64() -> BoxedStrategy<f64> {
    prop_oneof![
        4 => any::<f64>(),
        2 => -1e3f64..1e3,
        3 => prop::sample::select(vec![
            0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE,
            5e-324, -5e-324, f64::MAX, f64::MIN, f32::MAX as f64, f32::MIN_POSITIVE as f64,
            1e-45, 3.5e38, 448.0, 448.1, 449.0, 464.0, 57344.0, 57344.5, 61440.0, 65504.0,
            65519.0, 65520.0, 70000.0, -65504.0, 1e16, i64::MAX as f64, u64::MAX as f64,
        ]),
    ]
    .boxed()
}

fn int_in(lo: i128, hi: i128) -> BoxedStrategy<i128> {
    prop_oneof![
        3 => lo..=hi,
        2 => prop::sample::select(vec![lo, hi, 0, 1, -1, 127, 128, 255, 256, 32767, 32768, 65535, 65536])
            .prop_map(move |x| x.clamp(lo, hi)),
    ]
    .boxed()
}

fn value(kind: Kind) -> BoxedStrategy<V> {
    use Kind::*;
    match kind {
        F16 => any::<u16>()
            .prop_map(|b| V::F(f16::from_bits(b).to_f64()))
            .boxed(),
        F32 => prop_oneof![
            any::<f32>().prop_map(|x| x as f64),
            edge_f64().prop_map(|x| x as f32 as f64),
            Just(f32::from_bits(1) as f64), // the smallest subnormal
        ]
        .prop_map(V::F)
        .boxed(),
        F64 => edge_f64().prop_map(V::F).boxed(),
        I8 => int_in(i8::MIN.into(), i8::MAX.into())
            .prop_map(V::I)
            .boxed(),
        I16 => int_in(i16::MIN.into(), i16::MAX.into())
            .prop_map(V::I)
            .boxed(),
        I32 => int_in(i32::MIN.into(), i32::MAX.into())
            .prop_map(V::I)
            .boxed(),
        I64 => int_in(i64::MIN.into(), i64::MAX.into())
            .prop_map(V::I)
            .boxed(),
        U8 => int_in(0, u8::MAX.into()).prop_map(V::I).boxed(),
        U16 => int_in(0, u16::MAX.into()).prop_map(V::I).boxed(),
        U32 => int_in(0, u32::MAX.into()).prop_map(V::I).boxed(),
        U64 => int_in(0, u64::MAX.into()).prop_map(V::I).boxed(),
        Utf8 | LargeUtf8 | Utf8View => prop_oneof![
            40 => "\\PC{0,12}",
            10 => ".{0,4}", // controls, quotes, newlines
            5 => Just(String::new()),
            1 => (0usize..70_000).prop_map(|n| "é日\u{1F600}".repeat(n / 3)),
        ]
        .prop_map(V::S)
        .boxed(),
        Bool => any::<bool>().prop_map(V::B).boxed(),
    }
}

/// One column's cells: scalars, or vectors of (maybe null) elements.
#[derive(Debug, Clone)]
enum Cells {
    Scalar(Vec<Option<V>>),
    Vector(Vec<Option<Vec<Option<V>>>>),
}

#[derive(Debug, Clone)]
struct Group {
    data_type: &'static str,
    vector: bool,
    kind: Kind,
    features: Vec<Cells>,
}

#[derive(Debug, Clone)]
struct Case {
    groups: Vec<Group>,
    /// `user_id`: Int64 or strings, maybe null.
    keys: Result<Vec<Option<i64>>, Vec<Option<String>>>,
    rows: usize,
    cuts: Vec<usize>,
    batch_size: usize,
    allow_out_of_range: bool,
}

/// The range of integers an Arrow type holds.
fn kind_range(kind: Kind) -> (i128, i128) {
    match kind {
        Kind::I8 => (i8::MIN.into(), i8::MAX.into()),
        Kind::I16 => (i16::MIN.into(), i16::MAX.into()),
        Kind::I32 => (i32::MIN.into(), i32::MAX.into()),
        Kind::U8 => (0, u8::MAX.into()),
        Kind::U16 => (0, u16::MAX.into()),
        Kind::U32 => (0, u32::MAX.into()),
        Kind::U64 => (0, u64::MAX.into()),
        _ => (i64::MIN.into(), i64::MAX.into()),
    }
}

/// A value brought inside data type `t` (clean cases), still of its Arrow type.
fn tame(t: &str, kind: Kind, v: V) -> V {
    let float_type = matches!(t, "FP8E5M2" | "FP8E4M3" | "FP16" | "FP32" | "FP64");
    match v {
        V::I(x) if float_type => {
            let max = float_max(t);
            if t != "FP64" && (x as f64 as f32).abs() as f64 > max {
                V::I(x % (max as i128))
            } else {
                V::I(x)
            }
        }
        V::F(f) if float_type => {
            let max = float_max(t);
            if t != "FP64" && f.is_finite() && (f as f32).abs() as f64 > max {
                let g = f % max;
                V::F(match kind {
                    Kind::F16 => f16::from_f64(g).to_f64(),
                    _ => g as f32 as f64,
                })
            } else {
                V::F(f)
            }
        }
        V::I(x) if t != "Bool" => {
            let (_, (lo, hi)) = int_ranges(t);
            let (klo, khi) = kind_range(kind);
            let (lo, hi) = (lo.max(klo), hi.min(khi));
            if x < lo || x > hi {
                V::I(lo + (x - lo).rem_euclid(hi - lo + 1))
            } else {
                V::I(x)
            }
        }
        V::F(f) => {
            let (_, (lo, hi)) = int_ranges(t);
            if !f.is_finite() || f.trunc() < lo as f64 || f.trunc() > hi as f64 {
                V::F(if f.is_finite() { f.fract() } else { 0.0 })
            } else {
                V::F(f)
            }
        }
        other => other,
    }
}

/// Values at and just past the edges of data type `t`, in Arrow type `kind` (clamped to it).
fn border(t: &'static str, kind: Kind) -> BoxedStrategy<V> {
    let float_type = matches!(t, "FP8E5M2" | "FP8E4M3" | "FP16" | "FP32" | "FP64");
    let floats: Vec<f64> = if float_type {
        let max = float_max(t);
        let up = f32::from_bits((max as f32).to_bits() + 1) as f64;
        vec![max, -max, up, -up, max + 0.25, max * (1.0 + 1e-9), f64::MAX]
    } else {
        let (_, (lo, hi)) = int_ranges(t);
        let (lo, hi) = (lo as f64, hi as f64);
        vec![lo, hi, lo - 1.0, hi + 1.0, hi + 0.5, lo - 0.5, f64::NAN]
    };
    let as_kind = move |x: f64| match kind {
        Kind::F16 => V::F(f16::from_f64(x).to_f64()),
        Kind::F32 => V::F(x as f32 as f64),
        Kind::F64 => V::F(x),
        Kind::Bool | Kind::Utf8 | Kind::LargeUtf8 | Kind::Utf8View => unreachable!(),
        _ => {
            let (lo, hi) = kind_range(kind);
            V::I((x as i128).clamp(lo, hi))
        }
    };
    match kind {
        Kind::Bool | Kind::Utf8 | Kind::LargeUtf8 | Kind::Utf8View => value(kind),
        _ => prop::sample::select(floats).prop_map(as_kind).boxed(),
    }
}

/// `Some` of `s`, or `None` with probability `p_null`.
fn nullable<T: std::fmt::Debug + Clone + 'static>(
    p_null: f64,
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    if p_null == 0.0 {
        s.prop_map(Some).boxed()
    } else {
        prop::option::weighted(1.0 - p_null, s).boxed()
    }
}

/// A column's cells; a clean column holds no null and no value outside its data type.
fn cells(
    t: &'static str,
    kind: Kind,
    vector: bool,
    rows: usize,
    clean: bool,
) -> BoxedStrategy<Cells> {
    let (null_feature, null_element) = if clean { (0.0, 0.0) } else { (0.005, 0.002) };
    let tamed = value(kind).prop_map(move |v| tame(t, kind, v));
    let value = if clean {
        tamed.boxed()
    } else {
        prop_oneof![12 => tamed, 1 => value(kind), 1 => border(t, kind)].boxed()
    };
    if vector {
        let len = prop_oneof![40 => 0usize..6, 1 => 100usize..1_500];
        let element = nullable(null_element, value);
        let vector = len.prop_flat_map(move |n| prop::collection::vec(element.clone(), n));
        prop::collection::vec(nullable(null_feature, vector), rows)
            .prop_map(Cells::Vector)
            .boxed()
    } else {
        prop::collection::vec(nullable(null_feature, value), rows)
            .prop_map(Cells::Scalar)
            .boxed()
    }
}

fn case() -> impl Strategy<Value = Case> {
    let group = (
        0..TYPES.len(),
        any::<bool>(),
        1usize..=2,
        any::<prop::sample::Index>(),
    );
    (
        prop::collection::vec(group, 1..=5),
        0usize..=40,
        1usize..=9,
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.5),
    )
        .prop_flat_map(|(specs, rows, batch_size, allow, string_keys, clean)| {
            let groups: Vec<BoxedStrategy<Group>> = specs
                .into_iter()
                .map(|(t, vector, n, pick)| {
                    let data_type = TYPES[t];
                    let kind = *pick.get(kinds_for(data_type));
                    prop::collection::vec(cells(data_type, kind, vector, rows, clean), n)
                        .prop_map(move |features| Group {
                            data_type,
                            vector,
                            kind,
                            features,
                        })
                        .boxed()
                })
                .collect();
            let keys = if string_keys {
                prop::collection::vec(prop::option::weighted(0.9, "\\PC{0,8}"), rows)
                    .prop_map(Err)
                    .boxed()
            } else {
                prop::collection::vec(prop::option::weighted(0.9, any::<i64>()), rows)
                    .prop_map(Ok)
                    .boxed()
            };
            (
                groups,
                keys,
                prop::collection::vec(0..=rows, 0..4),
                Just((rows, batch_size, allow)),
            )
        })
        .prop_map(|(groups, keys, mut cuts, (rows, batch_size, allow))| {
            cuts.sort();
            Case {
                groups,
                keys,
                rows,
                cuts,
                batch_size,
                allow_out_of_range: allow,
            }
        })
}

// ---------------------------------------------------------------------------------------------
// Building the Arrow input

fn leaf_array(kind: Kind, values: &[Option<V>]) -> ArrayRef {
    let f = |v: &Option<V>| match v {
        Some(V::F(x)) => Some(*x),
        _ => None,
    };
    let i = |v: &Option<V>| match v {
        Some(V::I(x)) => Some(*x),
        _ => None,
    };
    let s = |v: &Option<V>| match v {
        Some(V::S(x)) => Some(x.clone()),
        _ => None,
    };
    macro_rules! ints {
        ($arr:ty, $t:ty) => {
            Arc::new(<$arr>::from_iter(
                values.iter().map(|v| i(v).map(|x| x as $t)),
            ))
        };
    }
    match kind {
        Kind::F16 => Arc::new(Float16Array::from_iter(
            values.iter().map(|v| f(v).map(f16::from_f64)),
        )),
        Kind::F32 => Arc::new(Float32Array::from_iter(
            values.iter().map(|v| f(v).map(|x| x as f32)),
        )),
        Kind::F64 => Arc::new(Float64Array::from_iter(values.iter().map(f))),
        Kind::I8 => ints!(Int8Array, i8),
        Kind::I16 => ints!(Int16Array, i16),
        Kind::I32 => ints!(Int32Array, i32),
        Kind::I64 => ints!(Int64Array, i64),
        Kind::U8 => ints!(UInt8Array, u8),
        Kind::U16 => ints!(UInt16Array, u16),
        Kind::U32 => ints!(UInt32Array, u32),
        Kind::U64 => ints!(UInt64Array, u64),
        Kind::Utf8 => Arc::new(StringArray::from_iter(values.iter().map(s))),
        Kind::LargeUtf8 => Arc::new(LargeStringArray::from_iter(values.iter().map(s))),
        Kind::Utf8View => Arc::new(StringViewArray::from_iter(values.iter().map(s))),
        Kind::Bool => Arc::new(BooleanArray::from_iter(values.iter().map(|v| match v {
            Some(V::B(b)) => Some(*b),
            _ => None,
        }))),
    }
}

fn column(kind: Kind, cells: &Cells) -> ArrayRef {
    match cells {
        Cells::Scalar(values) => leaf_array(kind, values),
        Cells::Vector(rows) => {
            let mut offsets = vec![0i32];
            let mut flat = Vec::new();
            for r in rows {
                flat.extend(r.iter().flatten().cloned());
                offsets.push(flat.len() as i32);
            }
            let child = leaf_array(kind, &flat);
            let field = Arc::new(arrow_schema::Field::new(
                "item",
                child.data_type().clone(),
                true,
            ));
            let nulls = NullBuffer::from(rows.iter().map(Option::is_some).collect::<Vec<_>>());
            Arc::new(ListArray::new(
                field,
                OffsetBuffer::new(offsets.into()),
                child,
                Some(nulls),
            ))
        }
    }
}

fn plan_and_batches(c: &Case) -> (onfs_core::Plan, Vec<RecordBatch>) {
    let names: Vec<String> = (0..c.groups.len()).map(|i| format!("g{i}")).collect();
    let features = ["f0", "f1"];
    let dts: Vec<String> = c
        .groups
        .iter()
        .map(|g| format!("{}{}", g.data_type, if g.vector { "Vector" } else { "" }))
        .collect();
    let spec: Vec<(&str, &str, &[&str])> = c
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            (
                names[i].as_str(),
                dts[i].as_str(),
                &features[..g.features.len()],
            )
        })
        .collect();
    let plan = plan_of(&metadata_json(&spec), &[]);
    let key: ArrayRef = match &c.keys {
        Ok(ints) => Arc::new(Int64Array::from(ints.clone())),
        Err(strings) => Arc::new(StringArray::from(strings.clone())),
    };
    let mut columns = vec![("user_id".to_string(), key)];
    for (i, g) in c.groups.iter().enumerate() {
        for (j, cells) in g.features.iter().enumerate() {
            columns.push((col(&names[i], features[j]), column(g.kind, cells)));
        }
    }
    let full = RecordBatch::try_from_iter(columns).unwrap();
    let mut batches = Vec::new();
    let mut at = 0;
    for &cut in c.cuts.iter().chain([&c.rows]) {
        batches.push(full.slice(at, cut - at));
        at = cut;
    }
    (plan, batches)
}

// ---------------------------------------------------------------------------------------------
// The model: what the consumer reads, or the first error

/// A value as the wire carries it.
#[derive(Debug, Clone)]
enum W {
    F(f64),
    I(i128),
    S(String),
    B(bool),
}

/// The error the model predicts, without its wording.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    Null,
    NullElement(usize),
    OutOfRange,
    NotRepresentable,
}

fn float_max(t: &str) -> f64 {
    match t {
        "FP8E5M2" => 57344.0,
        "FP8E4M3" => 448.0,
        "FP16" => 65504.0,
        _ => f32::MAX as f64,
    }
}

/// (wire range, declared range) of an integer type.
fn int_ranges(t: &str) -> ((i128, i128), (i128, i128)) {
    let i32r = (i32::MIN as i128, i32::MAX as i128);
    let u32r = (0, u32::MAX as i128);
    match t {
        "Int8" => (i32r, (-128, 127)),
        "Int16" => (i32r, (-32768, 32767)),
        "Int32" => (i32r, i32r),
        "Int64" => (
            (i64::MIN.into(), i64::MAX.into()),
            (i64::MIN.into(), i64::MAX.into()),
        ),
        "Uint8" => (u32r, (0, 255)),
        "Uint16" => (u32r, (0, 65535)),
        "Uint32" => (u32r, u32r),
        _ => ((0, u64::MAX.into()), (0, u64::MAX.into())),
    }
}

fn expect(t: &str, v: &V, allow: bool) -> Result<W, Want> {
    match t {
        "String" => match v {
            V::S(s) => Ok(W::S(s.clone())),
            other => panic!("{other:?} feeding String"),
        },
        "Bool" => Ok(W::B(match v {
            V::B(b) => *b,
            V::I(x) => *x != 0,
            other => panic!("{other:?} feeding Bool"),
        })),
        "FP8E5M2" | "FP8E4M3" | "FP16" | "FP32" | "FP64" => {
            let x = match v {
                V::F(x) => *x,
                V::I(i) => *i as f64,
                other => panic!("{other:?} feeding {t}"),
            };
            if t == "FP64" {
                return Ok(W::F(x));
            }
            let narrowed = x as f32;
            if !allow
                && x.is_finite()
                && (narrowed.is_infinite() || narrowed.abs() as f64 > float_max(t))
            {
                return Err(Want::OutOfRange);
            }
            Ok(W::F(narrowed as f64))
        }
        _ => {
            let x = match v {
                V::I(i) => *i,
                V::F(f) if !f.is_finite() => return Err(Want::NotRepresentable),
                V::F(f) => f.trunc() as i128,
                other => panic!("{other:?} feeding {t}"),
            };
            let ((wlo, whi), (lo, hi)) = int_ranges(t);
            if x < wlo || x > whi {
                return Err(Want::NotRepresentable);
            }
            if !allow && (x < lo || x > hi) {
                return Err(Want::OutOfRange);
            }
            Ok(W::I(x))
        }
    }
}

/// One kept row: its key text and, per group, per feature, its wire values.
struct Row {
    key: String,
    groups: Vec<Vec<Vec<W>>>,
}

/// The rows the consumer reads, or the first error with its column and key.
fn model(c: &Case) -> Result<(Vec<Row>, u64), (Want, String, String)> {
    let mut rows = Vec::new();
    let mut dropped = 0;
    for r in 0..c.rows {
        let key = match &c.keys {
            Ok(k) => k[r].map(|x| x.to_string()),
            Err(k) => k[r].clone(),
        };
        let Some(key) = key else {
            dropped += 1;
            continue;
        };
        let fail = |w: Want, g: usize, f: usize| {
            (
                w,
                col(&format!("g{g}"), &format!("f{f}")),
                format!("user_id={key}"),
            )
        };
        let mut groups = Vec::new();
        for (gi, g) in c.groups.iter().enumerate() {
            let mut features = Vec::new();
            if !g.vector {
                // Every column's null first, then the values in order.
                for (fi, cells) in g.features.iter().enumerate() {
                    let Cells::Scalar(v) = cells else {
                        unreachable!()
                    };
                    if v[r].is_none() {
                        return Err(fail(Want::Null, gi, fi));
                    }
                }
            }
            for (fi, cells) in g.features.iter().enumerate() {
                let values = match cells {
                    Cells::Scalar(v) => vec![v[r].clone()],
                    Cells::Vector(v) => match &v[r] {
                        None => return Err(fail(Want::Null, gi, fi)),
                        Some(elems) => {
                            if let Some(i) = elems.iter().position(Option::is_none) {
                                return Err(fail(Want::NullElement(i), gi, fi));
                            }
                            elems.clone()
                        }
                    },
                };
                let mut wire = Vec::new();
                for v in values.iter().flatten() {
                    wire.push(
                        expect(g.data_type, v, c.allow_out_of_range)
                            .map_err(|w| fail(w, gi, fi))?,
                    );
                }
                features.push(wire);
            }
            groups.push(features);
        }
        rows.push(Row { key, groups });
    }
    Ok((rows, dropped))
}

// ---------------------------------------------------------------------------------------------
// The check

fn wire_of(t: &str, v: &Values) -> Vec<W> {
    match t {
        "FP8E5M2" | "FP8E4M3" | "FP16" | "FP32" => v.fp32_values.iter().map(|x| W::F(*x)).collect(),
        "FP64" => v.fp64_values.iter().map(|x| W::F(*x)).collect(),
        "Int8" | "Int16" | "Int32" => v.int32_values.iter().map(|x| W::I(*x as i128)).collect(),
        "Int64" => v.int64_values.iter().map(|x| W::I(*x as i128)).collect(),
        "Uint8" | "Uint16" | "Uint32" => v.uint32_values.iter().map(|x| W::I(*x as i128)).collect(),
        "Uint64" => v.uint64_values.iter().map(|x| W::I(*x as i128)).collect(),
        "String" => v.string_values.iter().map(|x| W::S(x.clone())).collect(),
        _ => v.bool_values.iter().map(|x| W::B(*x)).collect(),
    }
}

fn same(a: &W, b: &W) -> bool {
    match (a, b) {
        // NaN payloads may be quieted by a conversion; any NaN is the value NaN.
        (W::F(x), W::F(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        (W::I(x), W::I(y)) => x == y,
        (W::S(x), W::S(y)) => x == y,
        (W::B(x), W::B(y)) => x == y,
        _ => false,
    }
}

fn check(c: &Case) -> Result<(), TestCaseError> {
    let (plan, batches) = plan_and_batches(c);
    let opts = EncoderOptions {
        batch_size: c.batch_size,
        allow_out_of_range: c.allow_out_of_range,
        ..Default::default()
    };
    let mut enc = onfs_core::Encoder::new(&plan, opts);
    let mut messages = Vec::new();
    let mut result = Ok(());
    for b in &batches {
        if let Err(e) = enc.encode_into(b, &mut messages) {
            result = Err(e);
            break;
        }
    }
    let (want_rows, dropped) = match (model(c), result) {
        (Err((want, column, key)), Err(e)) => {
            let got = match &e {
                EncodeError::NullValue { column, key } => (Want::Null, column, key),
                EncodeError::NullElement { column, key, index } => {
                    (Want::NullElement(*index), column, key)
                }
                EncodeError::OutOfRange { column, key, .. } => (Want::OutOfRange, column, key),
                EncodeError::NotRepresentable { column, key, .. } => {
                    (Want::NotRepresentable, column, key)
                }
                other => return Err(TestCaseError::fail(format!("unexpected error {other}"))),
            };
            prop_assert_eq!((&want, &column, &key), (&got.0, got.1, got.2), "{}", e);
            let text = e.to_string();
            prop_assert!(text.contains(&column) && text.contains(&key), "{}", text);
            return Ok(());
        }
        (Err(want), Ok(())) => {
            return Err(TestCaseError::fail(format!(
                "encoded, but expected {want:?}"
            )))
        }
        (Ok(_), Err(e)) => return Err(TestCaseError::fail(format!("unexpected error: {e}"))),
        (Ok(model), Ok(())) => model,
    };
    messages.extend(enc.finish());
    let stats = enc.stats().clone();

    // Message boundaries and the stats.
    prop_assert_eq!(stats.rows_in, c.rows as u64);
    prop_assert_eq!(stats.dropped_null_key_rows, dropped);
    prop_assert_eq!(stats.rows, want_rows.len() as u64);
    prop_assert_eq!(messages.len(), want_rows.len().div_ceil(c.batch_size));
    prop_assert_eq!(stats.messages, messages.len() as u64);
    prop_assert_eq!(
        stats.bytes,
        messages.iter().map(|m| m.value.len() as u64).sum::<u64>()
    );
    prop_assert_eq!(
        stats.max_rows_per_message,
        messages.iter().map(|m| m.rows).max().unwrap_or(0)
    );

    let mut next = want_rows.iter();
    for (i, m) in messages.iter().enumerate() {
        prop_assert_eq!(m.intra_batch_id, i as i64);
        let full = want_rows.len() - i * c.batch_size >= c.batch_size;
        let want = if full {
            c.batch_size
        } else {
            want_rows.len() % c.batch_size
        };
        prop_assert_eq!(m.rows as usize, want);
        prop_assert_eq!(onfs_core::proto_rows(&m.value), m.rows);
        let q = decode(m);
        prop_assert_eq!(q.entity_label, "user");
        prop_assert_eq!(q.keys_schema, vec!["user_id".to_string()]);
        prop_assert_eq!(q.feature_group_schema.len(), c.groups.len());
        prop_assert_eq!(q.data.len(), m.rows as usize);
        for d in &q.data {
            let row = next.next().unwrap();
            prop_assert_eq!(&d.key_values, &vec![row.key.clone()]);
            prop_assert_eq!(d.feature_values.len(), c.groups.len());
            for (gi, g) in c.groups.iter().enumerate() {
                let values = d.feature_values[gi].values.clone().unwrap_or_default();
                let got: Vec<Vec<W>> = if g.vector {
                    prop_assert_eq!(values.vector.len(), g.features.len());
                    values
                        .vector
                        .iter()
                        .map(|v| wire_of(g.data_type, &v.values.clone().unwrap_or_default()))
                        .collect()
                } else {
                    wire_of(g.data_type, &values)
                        .into_iter()
                        .map(|w| vec![w])
                        .collect()
                };
                let want = &row.groups[gi];
                prop_assert_eq!(got.len(), want.len(), "group g{}", gi);
                for (fi, (got, want)) in got.iter().zip(want).enumerate() {
                    prop_assert!(
                        got.len() == want.len() && got.iter().zip(want).all(|(a, b)| same(a, b)),
                        "g{} f{} key {}: got {:?}, want {:?}",
                        gi,
                        fi,
                        row.key,
                        got,
                        want
                    );
                }
            }
        }
    }
    prop_assert!(next.next().is_none());

    // The store's one-length rule over the rows sent.
    let ragged = c.groups.iter().enumerate().any(|(gi, g)| {
        g.vector
            && (0..g.features.len()).any(|fi| {
                let lens: std::collections::BTreeSet<usize> =
                    want_rows.iter().map(|r| r.groups[gi][fi].len()).collect();
                lens.len() > 1
            })
    });
    prop_assert_eq!(stats.check_vector_lengths().is_err(), ragged);
    Ok(())
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn random_batches_of_every_type_decode_to_their_values_or_a_precise_error(c in case()) {
        check(&c)?;
    }
}
