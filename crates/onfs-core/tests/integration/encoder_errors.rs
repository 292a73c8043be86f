//! Every encoder error names the column and, for a value, the row's key.

use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder};
use arrow_array::*;
use onfs_core::{EncodeError, EncoderOptions};

use crate::support::*;

fn opts() -> EncoderOptions {
    EncoderOptions::default()
}

fn ids(v: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(v.to_vec()))
}

/// Encodes one group `g` of type `dt` with feature `f` fed by `values`, keys 1..=n.
fn encode_one(
    dt: &str,
    values: ArrayRef,
    o: EncoderOptions,
) -> Result<Vec<onfs_core::EncodedMessage>, EncodeError> {
    let plan = plan_of(&metadata_json(&[("g", dt, &["f"])]), &[]);
    let n = values.len() as i64;
    let c = col("g", "f");
    let b = batch(vec![
        ("user_id", ids(&(1..=n).collect::<Vec<_>>())),
        (&c, values),
    ]);
    encode_all(&plan, &[b], o)
}

fn err(dt: &str, values: ArrayRef) -> String {
    encode_one(dt, values, opts()).unwrap_err().to_string()
}

#[test]
fn missing_column_lists_the_input_columns() {
    let plan = plan_of(&metadata_json(&[("g", "Int64", &["f"])]), &[]);
    let b = batch(vec![("user_id", ids(&[1])), ("other", ids(&[2]))]);
    let e = encode_all(&plan, &[b], opts()).unwrap_err();
    assert!(matches!(e, EncodeError::MissingColumn { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("\"t___g___f\"") && msg.contains("user_id, other"),
        "{msg}"
    );
    let b = batch(vec![("uid", ids(&[1])), (&col("g", "f"), ids(&[2]))]);
    let msg = encode_all(&plan, &[b], opts()).unwrap_err().to_string();
    assert!(msg.contains("\"user_id\" is missing"), "{msg}");
}

#[test]
fn unsupported_types_name_column_arrow_type_and_data_type() {
    let strings: ArrayRef = Arc::new(StringArray::from(vec!["1"]));
    let dates: ArrayRef = Arc::new(Date32Array::from(vec![1]));
    let binary: ArrayRef = Arc::new(BinaryArray::from_vec(vec![b"x"]));
    let list: ArrayRef = {
        let mut b = ListBuilder::new(Float32Builder::new());
        b.append_value([Some(1.0)]);
        Arc::new(b.finish())
    };
    let cases: Vec<(&str, ArrayRef, &str)> = vec![
        ("FP32", strings.clone(), "Utf8"),
        ("Int64", strings.clone(), "Utf8"),
        ("Bool", strings.clone(), "Utf8"),
        ("Int32", dates.clone(), "Date32"),
        ("String", dates, "Date32"),
        ("FP64", binary.clone(), "Binary"),
        ("FP32", list.clone(), "List"),
        (
            "FP32Vector",
            Arc::new(Float32Array::from(vec![1.0])),
            "Float32",
        ),
        ("BoolVector", list, "List"),
        ("StringVector", binary, "Binary"),
    ];
    for (dt, values, arrow) in cases {
        let msg = err(dt, values);
        assert!(msg.contains("column \"t___g___f\""), "{dt}: {msg}");
        assert!(msg.contains(arrow), "{dt}: {msg}");
        assert!(msg.contains(&format!("DataType{dt}")), "{dt}: {msg}");
    }
}

#[test]
fn unsupported_key_type_is_named() {
    let plan = plan_of(&metadata_json(&[("g", "Int64", &["f"])]), &[]);
    let key: ArrayRef = Arc::new(BinaryArray::from_vec(vec![b"k"]));
    let b = batch(vec![("user_id", key), (&col("g", "f"), ids(&[1]))]);
    let msg = encode_all(&plan, &[b], opts()).unwrap_err().to_string();
    assert!(
        msg.contains("entity column \"user_id\"") && msg.contains("Binary"),
        "{msg}"
    );
}

#[test]
fn null_value_names_column_and_key() {
    let msg = err("Int64", Arc::new(Int64Array::from(vec![Some(1), None])));
    assert!(
        msg.contains("\"t___g___f\" is null for key user_id=2"),
        "{msg}"
    );
    let msg = err("String", Arc::new(StringArray::from(vec![None, Some("a")])));
    assert!(msg.contains("is null for key user_id=1"), "{msg}");
    let msg = err(
        "FP32",
        Arc::new(Float32Array::from(vec![Some(1.0), Some(2.0), None])),
    );
    assert!(msg.contains("is null for key user_id=3"), "{msg}");
}

#[test]
fn null_vector_and_null_element_name_column_and_key() {
    let mut b = ListBuilder::new(Float32Builder::new());
    b.append_value([Some(1.0)]);
    b.append_null();
    let msg = err("FP32Vector", Arc::new(b.finish()));
    assert!(
        msg.contains("\"t___g___f\" is null for key user_id=2"),
        "{msg}"
    );

    let mut b = ListBuilder::new(Float32Builder::new());
    b.append_value([Some(1.0), Some(2.0), None]);
    let msg = err("FP32Vector", Arc::new(b.finish()));
    assert!(
        msg.contains("\"t___g___f\" holds a null at element 2") && msg.contains("user_id=1"),
        "{msg}"
    );
}

fn int64(v: i64) -> ArrayRef {
    Arc::new(Int64Array::from(vec![0, v]))
}

fn f64a(v: f64) -> ArrayRef {
    Arc::new(Float64Array::from(vec![0.0, v]))
}

#[test]
fn out_of_range_names_column_key_and_value() {
    let cases: Vec<(&str, ArrayRef, &str)> = vec![
        ("Int8", int64(128), "128"),
        ("Int8", int64(-129), "-129"),
        ("Int16", int64(40_000), "40000"),
        (
            "Int8Vector",
            Arc::new(arrow_array::ListArray::from_iter_primitive::<
                arrow_array::types::Int64Type,
                _,
                _,
            >(vec![
                Some(vec![Some(1)]),
                Some(vec![Some(0), Some(200)]),
            ])),
            "200",
        ),
        ("Uint8", int64(256), "256"),
        ("Uint16", int64(65_536), "65536"),
        ("FP32", f64a(1e39), "1e+39"),
        ("FP16", f64a(70_000.0), "70000.0"),
        ("FP16", f64a(-65_505.0), "-65505.0"),
        ("FP8E4M3", f64a(449.0), "449.0"),
        ("FP8E5M2", f64a(60_000.0), "60000.0"),
    ];
    for (dt, values, value) in cases {
        let e = encode_one(dt, values, opts()).unwrap_err();
        assert!(matches!(e, EncodeError::OutOfRange { .. }), "{dt}: {e}");
        let msg = e.to_string();
        assert!(
            msg.contains("column \"t___g___f\"")
                && msg.contains("key user_id=2")
                && msg.contains(&format!("value {value} ")),
            "{dt}: {msg}"
        );
        assert!(msg.contains("allow out-of-range values"), "{msg}");
        assert!(!msg.contains("--"), "the library names no flag: {msg}");
    }
}

#[test]
fn values_no_wire_field_can_hold_are_errors_even_when_allowed() {
    let allow = EncoderOptions {
        allow_out_of_range: true,
        ..opts()
    };
    let cases: Vec<(&str, ArrayRef, &str)> = vec![
        ("Uint32", int64(-1), "negative"),
        ("Uint64", int64(-5), "negative"),
        ("Uint32", int64(4_294_967_296), "does not fit"),
        ("Int32", int64(2_147_483_648), "does not fit"),
        ("Int64", f64a(f64::NAN), "not a finite number"),
        ("Int16", f64a(f64::INFINITY), "not a finite number"),
    ];
    for (dt, values, why) in cases {
        let msg = encode_one(dt, values, allow.clone())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("\"t___g___f\"") && msg.contains("user_id=2") && msg.contains(why),
            "{dt}: {msg}"
        );
    }
}

#[test]
fn allow_out_of_range_sends_what_the_original_sent() {
    let allow = EncoderOptions {
        allow_out_of_range: true,
        ..opts()
    };
    let m = encode_one("Int8", int64(300), allow.clone()).unwrap();
    let q = decode(&m[0]);
    assert_eq!(
        q.data[1].feature_values[0]
            .values
            .as_ref()
            .unwrap()
            .int32_values,
        vec![300]
    );
    let m = encode_one("FP16", f64a(70_000.0), allow.clone()).unwrap();
    let q = decode(&m[0]);
    assert_eq!(
        q.data[1].feature_values[0]
            .values
            .as_ref()
            .unwrap()
            .fp32_values,
        vec![70_000.0]
    );
    let m = encode_one("FP32", f64a(1e39), allow).unwrap();
    let q = decode(&m[0]);
    assert_eq!(
        q.data[1].feature_values[0]
            .values
            .as_ref()
            .unwrap()
            .fp32_values,
        vec![f64::INFINITY]
    );
    // In range at the edges: no error by default.
    assert!(encode_one("Int8", int64(-128), opts()).is_ok());
    assert!(encode_one("Uint16", int64(65_535), opts()).is_ok());
    assert!(encode_one("FP16", f64a(65_504.0), opts()).is_ok());
    assert!(
        encode_one("FP32", f64a(f64::INFINITY), opts()).is_ok(),
        "infinity is a float value, not an overflow"
    );
}

#[test]
fn null_keys_drop_the_row_and_are_counted() {
    let plan = plan_of(&metadata_json(&[("g", "Int64", &["f"])]), &[]);
    let keys: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3)]));
    let b = batch(vec![
        ("user_id", keys),
        (&col("g", "f"), ids(&[10, 20, 30])),
    ]);
    let mut enc = onfs_core::Encoder::new(&plan, opts());
    let mut out = enc.encode(&b).unwrap();
    out.extend(enc.finish());
    assert_eq!(enc.stats().dropped_null_key_rows, 1);
    assert_eq!(enc.stats().rows, 2);
    let q = decode(&out[0]);
    let keys: Vec<_> = q.data.iter().map(|d| d.key_values[0].clone()).collect();
    assert_eq!(keys, vec!["1", "3"]);
}

#[test]
fn max_message_bytes_splits_and_rejects_a_row_too_large() {
    let plan = plan_of(&metadata_json(&[("g", "String", &["f"])]), &[]);
    let n = 100;
    let strings: ArrayRef = Arc::new(StringArray::from(
        (0..n).map(|i| "x".repeat(10 + i % 50)).collect::<Vec<_>>(),
    ));
    let b = batch(vec![
        ("user_id", ids(&(0..n as i64).collect::<Vec<_>>())),
        (&col("g", "f"), strings.clone()),
    ]);
    let limit = 400;
    let o = EncoderOptions {
        batch_size: 20,
        max_message_bytes: Some(limit),
        ..opts()
    };
    let out = encode_all(&plan, std::slice::from_ref(&b), o).unwrap();
    assert!(
        out.len() > 5,
        "split into more than 100/20 messages: {}",
        out.len()
    );
    let mut rows = 0;
    for (i, m) in out.iter().enumerate() {
        assert!(
            m.value.len() <= limit,
            "message {i} has {} bytes",
            m.value.len()
        );
        assert_eq!(m.intra_batch_id, i as i64);
        assert_eq!(decode(m).data.len() as u32, m.rows);
        rows += m.rows;
    }
    assert_eq!(rows, n as u32);
    let o = EncoderOptions {
        max_message_bytes: Some(60),
        ..opts()
    };
    let msg = encode_all(&plan, &[b], o).unwrap_err().to_string();
    assert!(
        msg.contains("key user_id=") && msg.contains("limit of 60 bytes"),
        "{msg}"
    );
}
