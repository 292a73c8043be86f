//! Generated rows of every data type, encoded and decoded with prost: what was sent is what the
//! consumer reads, in every message layout (vectors longer than 127 bytes, batches that carry
//! rows over between record batches, several key types).

use std::sync::Arc;

use arrow_array::*;
use onfs_core::proto::Values;
use onfs_core::EncoderOptions;

use crate::support::*;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo) as u64 + 1)) as i64
    }
    fn float(&mut self, scale: f64) -> f64 {
        (self.next() as f64 / u64::MAX as f64 - 0.5) * 2.0 * scale
    }
}

const ROWS: usize = 997;

#[test]
fn every_type_round_trips() {
    let types = [
        "FP8E5M2", "FP8E4M3", "FP16", "FP32", "FP64", "Int8", "Int16", "Int32", "Int64", "Uint8",
        "Uint16", "Uint32", "Uint64", "String", "Bool",
    ];
    let mut groups: Vec<(String, String)> = Vec::new();
    for t in types {
        groups.push((format!("g_{t}"), t.to_string()));
        groups.push((format!("g_{t}_v"), format!("{t}Vector")));
    }
    let spec: Vec<(&str, &str, &[&str])> = groups
        .iter()
        .map(|(g, t)| (g.as_str(), t.as_str(), &["a", "b"][..]))
        .collect();
    let plan = plan_of(&metadata_json(&spec), &[]);

    let mut g = Gen(0x9e3779b97f4a7c15);
    let mut columns: Vec<(String, ArrayRef)> = vec![(
        "user_id".into(),
        Arc::new(StringArray::from(
            (0..ROWS).map(|i| format!("u-{i}")).collect::<Vec<_>>(),
        )),
    )];
    for (group, t) in &groups {
        for f in ["a", "b"] {
            columns.push((col(group, f), make_column(t, &mut g)));
        }
    }
    let full = RecordBatch::try_from_iter(columns.clone()).unwrap();
    // Record batches of uneven sizes, so messages span batches.
    let mut batches = Vec::new();
    let mut at = 0;
    for size in [1, 50, 333, 7, 606] {
        batches.push(full.slice(at, size.min(ROWS - at)));
        at += size;
    }
    assert_eq!(at, ROWS);

    let messages = encode_all(
        &plan,
        &batches,
        EncoderOptions {
            batch_size: 13,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(messages.len(), ROWS.div_ceil(13));
    let mut row = 0;
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(m.intra_batch_id, i as i64);
        let q = decode(m);
        assert_eq!(q.entity_label, "user");
        assert_eq!(q.keys_schema, vec!["user_id"]);
        assert_eq!(q.feature_group_schema.len(), groups.len());
        assert_eq!(q.data.len() as u32, m.rows);
        assert_eq!(onfs_core::proto_rows(&m.value), m.rows);
        for d in &q.data {
            assert_eq!(d.key_values, vec![format!("u-{row}")]);
            for (gi, (group, t)) in groups.iter().enumerate() {
                let values = d.feature_values[gi]
                    .values
                    .as_ref()
                    .expect("values always present");
                for (fi, f) in ["a", "b"].iter().enumerate() {
                    let source = full.column_by_name(&col(group, f)).unwrap();
                    check_value(t, source, row, values, fi);
                }
            }
            row += 1;
        }
    }
    assert_eq!(row, ROWS);
}

fn make_column(t: &str, g: &mut Gen) -> ArrayRef {
    if let Some(base) = t.strip_suffix("Vector") {
        // Lengths 0..40: FP32 vectors of 40 take 320 bytes, so lengths need two-byte varints.
        let lens: Vec<usize> = (0..ROWS).map(|_| g.int(0, 40) as usize).collect();
        let total: usize = lens.iter().sum();
        let values = make_values(base, total, g);
        let mut offsets = vec![0i32];
        for l in &lens {
            offsets.push(offsets.last().unwrap() + *l as i32);
        }
        let field = Arc::new(arrow_schema::Field::new(
            "item",
            values.data_type().clone(),
            true,
        ));
        Arc::new(ListArray::new(
            field,
            arrow_buffer::OffsetBuffer::new(offsets.into()),
            values,
            None,
        ))
    } else {
        make_values(t, ROWS, g)
    }
}

fn make_values(t: &str, n: usize, g: &mut Gen) -> ArrayRef {
    match t {
        "FP8E5M2" => Arc::new(Float32Array::from_iter_values(
            (0..n).map(|_| g.float(50_000.0) as f32),
        )),
        "FP8E4M3" => Arc::new(Float64Array::from_iter_values(
            (0..n).map(|_| g.float(440.0)),
        )),
        "FP16" => Arc::new(Float64Array::from_iter_values(
            (0..n).map(|_| g.float(65_000.0)),
        )),
        "FP32" => Arc::new(Float64Array::from_iter_values(
            (0..n).map(|_| g.float(1e30)),
        )),
        "FP64" => Arc::new(Float64Array::from_iter_values(
            (0..n).map(|_| g.float(1e300)),
        )),
        "Int8" => Arc::new(Int8Array::from_iter_values(
            (0..n).map(|_| g.int(-128, 127) as i8),
        )),
        "Int16" => Arc::new(Int32Array::from_iter_values(
            (0..n).map(|_| g.int(-32768, 32767) as i32),
        )),
        "Int32" => Arc::new(Int64Array::from_iter_values(
            (0..n).map(|_| g.int(i32::MIN as i64, i32::MAX as i64)),
        )),
        "Int64" => Arc::new(Int64Array::from_iter_values(
            (0..n).map(|_| g.next() as i64),
        )),
        "Uint8" => Arc::new(UInt8Array::from_iter_values(
            (0..n).map(|_| g.int(0, 255) as u8),
        )),
        "Uint16" => Arc::new(Int32Array::from_iter_values(
            (0..n).map(|_| g.int(0, 65535) as i32),
        )),
        "Uint32" => Arc::new(UInt32Array::from_iter_values(
            (0..n).map(|_| g.next() as u32),
        )),
        "Uint64" => Arc::new(UInt64Array::from_iter_values((0..n).map(|_| g.next()))),
        "String" => Arc::new(StringArray::from_iter_values((0..n).map(|_| {
            let len = g.int(0, 200) as usize;
            "é\"x\n".chars().cycle().take(len).collect::<String>()
        }))),
        "Bool" => Arc::new(BooleanArray::from_iter(
            (0..n).map(|_| Some(g.next() % 2 == 0)),
        )),
        other => panic!("{other}"),
    }
}

/// The expected wire values of element `i` of a leaf array, as text for easy comparison.
fn expected(t: &str, leaf: &dyn Array, i: usize) -> String {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    let as_f64 = |leaf: &dyn Array| match leaf.data_type() {
        arrow_schema::DataType::Float32 => leaf.as_primitive::<Float32Type>().value(i) as f64,
        _ => leaf.as_primitive::<Float64Type>().value(i),
    };
    let as_i128 = |leaf: &dyn Array| -> i128 {
        let c = arrow_cast::cast(
            &leaf.slice(i, 1),
            &arrow_schema::DataType::Decimal128(38, 0),
        )
        .unwrap();
        c.as_primitive::<Decimal128Type>().value(0)
    };
    match t {
        "FP8E5M2" | "FP8E4M3" | "FP16" | "FP32" => format!("{:?}", as_f64(leaf) as f32 as f64),
        "FP64" => format!("{:?}", as_f64(leaf)),
        "String" => leaf.as_string::<i32>().value(i).to_string(),
        "Bool" => leaf.as_boolean().value(i).to_string(),
        _ => as_i128(leaf).to_string(),
    }
}

fn wire(t: &str, v: &Values) -> Vec<String> {
    let base = t.strip_suffix("Vector").unwrap_or(t);
    match base {
        "FP8E5M2" | "FP8E4M3" | "FP16" | "FP32" => {
            v.fp32_values.iter().map(|x| format!("{x:?}")).collect()
        }
        "FP64" => v.fp64_values.iter().map(|x| format!("{x:?}")).collect(),
        "Int8" | "Int16" | "Int32" => v.int32_values.iter().map(|x| x.to_string()).collect(),
        "Int64" => v.int64_values.iter().map(|x| x.to_string()).collect(),
        "Uint8" | "Uint16" | "Uint32" => v.uint32_values.iter().map(|x| x.to_string()).collect(),
        "Uint64" => v.uint64_values.iter().map(|x| x.to_string()).collect(),
        "String" => v.string_values.clone(),
        "Bool" => v.bool_values.iter().map(|x| x.to_string()).collect(),
        other => panic!("{other}"),
    }
}

fn check_value(t: &str, source: &ArrayRef, row: usize, values: &Values, feature: usize) {
    use arrow_array::cast::AsArray;
    if let Some(base) = t.strip_suffix("Vector") {
        let list = source.as_list::<i32>();
        let elems = list.value(row);
        let want: Vec<String> = (0..elems.len())
            .map(|i| expected(base, elems.as_ref(), i))
            .collect();
        let got = wire(
            t,
            values.vector[feature]
                .values
                .as_ref()
                .expect("vector values present"),
        );
        assert_eq!(got, want, "{t} row {row}");
    } else {
        let got = wire(t, values);
        assert_eq!(got.len(), 2, "{t}: two features");
        assert_eq!(
            got[feature],
            expected(t, source.as_ref(), row),
            "{t} row {row}"
        );
    }
}

#[test]
fn keys_print_as_python_str() {
    let plan = {
        let meta = r#"{"keys": {"e": ["k1", "k2", "k3", "k4"]}, "data": [{"storage-provider": "TABLE", "base-path": [{"source-base-path": "db.t", "data-paths": [
            {"entity-label": "e", "feature-group-label": "g", "feature-label": "f", "source-data-column": "f", "default-value": "0", "data-type": "DataTypeInt64"}]}]}]}"#;
        plan_of(meta, &[])
    };
    let k1: ArrayRef = Arc::new(BooleanArray::from(vec![true, false]));
    let k2: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 1e16]));
    let k3: ArrayRef = Arc::new(Date32Array::from(vec![20_757, 0]));
    let k4: ArrayRef = Arc::new(Float32Array::from(vec![0.1, f32::NAN]));
    let f: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
    let b = batch(vec![
        ("k1", k1),
        ("k2", k2),
        ("k3", k3),
        ("k4", k4),
        ("t___g___f", f),
    ]);
    let m = encode_all(&plan, &[b], EncoderOptions::default()).unwrap();
    let q = decode(&m[0]);
    assert_eq!(q.keys_schema, vec!["k1", "k2", "k3", "k4"]);
    assert_eq!(
        q.data[0].key_values,
        vec!["True", "1.0", "2026-10-31", "0.10000000149011612"]
    );
    assert_eq!(
        q.data[1].key_values,
        vec!["False", "1e+16", "1970-01-01", "nan"]
    );
}

#[test]
fn key_mode_groups_rows_by_partition_and_keys_messages() {
    let plan = plan_of(&metadata_json(&[("g", "Int64", &["f"])]), &[]);
    let n = 500i64;
    let keys: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
    let vals: ArrayRef = Arc::new(Int64Array::from_iter_values((0..n).map(|i| i * 10)));
    let b = batch(vec![("user_id", keys), (&col("g", "f"), vals)]);
    let o = EncoderOptions {
        batch_size: 7,
        key_partitions: Some(6),
        ..Default::default()
    };
    let messages = encode_all(&plan, &[b.slice(0, 123), b.slice(123, 377)], o).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(m.intra_batch_id, i as i64);
        let p = m.partition.expect("keyed messages have a partition");
        let q = decode(m);
        assert!(q.data.len() <= 7);
        assert_eq!(
            m.key.as_deref(),
            Some(q.data[0].key_values[0].as_bytes()),
            "key of the first row"
        );
        for d in &q.data {
            let k = &d.key_values[0];
            assert_eq!(
                onfs_core::partition::partition_for_key(k.as_bytes(), 6) as i32,
                p,
                "row {k} in partition {p}"
            );
            let v = d.feature_values[0].values.as_ref().unwrap().int64_values[0];
            assert_eq!(v, k.parse::<i64>().unwrap() * 10);
            assert!(seen.insert(k.clone()), "row {k} twice");
        }
    }
    assert_eq!(seen.len(), n as usize);
    let partitions: std::collections::BTreeSet<_> =
        messages.iter().map(|m| m.partition.unwrap()).collect();
    assert_eq!(partitions.len(), 6, "500 keys spread over all 6 partitions");
}
