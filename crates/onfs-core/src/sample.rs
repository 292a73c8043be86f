//! The realistic row used by the benchmarks and the examples: 8 FP32, 2 String, 4 Int64,
//! 2 Bool, one FP32Vector of 32, one StringVector of 3 items. Every vector feature has one
//! length, and its default that length, as the online store requires.

use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, BooleanArray, Float32Array, Int64Array, RecordBatch, StringArray};

use crate::{Metadata, Plan};

/// `(group, data type, features)` of the realistic row.
pub const GROUPS: [(&str, &str, &[&str]); 6] = [
    (
        "user_fp32",
        "DataTypeFP32",
        &["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"],
    ),
    ("user_str", "DataTypeString", &["city", "segment"]),
    (
        "user_i64",
        "DataTypeInt64",
        &["orders_7d", "orders_30d", "views_7d", "views_30d"],
    ),
    ("user_bool", "DataTypeBool", &["is_buyer", "is_new"]),
    ("user_emb", "DataTypeFP32Vector", &["embedding"]),
    ("user_tags", "DataTypeStringVector", &["tags"]),
];

/// 32 zeros: the embedding's default, of its length.
const EMBEDDING_DEFAULT: &str = "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]";

/// The metadata service's answer for the realistic row (a PARQUET_S3 source named `features`).
pub fn realistic_metadata_json() -> String {
    let mut paths = Vec::new();
    for (g, dt, features) in GROUPS {
        for f in features {
            let default = match dt {
                "DataTypeString" => "unknown",
                "DataTypeBool" => "false",
                "DataTypeFP32Vector" => EMBEDDING_DEFAULT,
                "DataTypeStringVector" => "[unknown,unknown,unknown]",
                _ => "0",
            };
            paths.push(serde_json::json!({
                "entity-label": "user", "feature-group-label": g, "feature-label": f,
                "source-data-column": f, "default-value": default, "data-type": dt,
            }));
        }
    }
    serde_json::json!({
        "keys": {"user": ["user_id"]},
        "data": [{"storage-provider": "PARQUET_S3",
                  "base-path": [{"source-base-path": "s3://bucket/features/", "data-paths": paths}]}],
    })
    .to_string()
}

pub fn realistic_plan() -> Plan {
    let meta = Metadata::from_json(&realistic_metadata_json()).expect("valid sample metadata");
    Plan::build(&meta, &[]).expect("valid sample plan")
}

/// `rows` realistic rows with keys `first..first+rows`, columns already renamed for the plan.
pub fn realistic_batch(first: usize, rows: usize) -> RecordBatch {
    let mut columns: Vec<(String, ArrayRef)> = vec![(
        "user_id".into(),
        Arc::new(Int64Array::from_iter_values(
            (first..first + rows).map(|i| i as i64 * 7919 % 100_000_007),
        )),
    )];
    let name = |g: &str, f: &str| format!("features___{g}___{f}");
    for (k, f) in GROUPS[0].2.iter().enumerate() {
        columns.push((
            name("user_fp32", f),
            Arc::new(Float32Array::from_iter_values(
                (first..first + rows).map(|i| ((i * 31 + k * 7) % 1000) as f32 / 7.0),
            )),
        ));
    }
    let cities = ["bengaluru", "mumbai", "delhi", "kolkata", "chennai", "pune"];
    let segments = ["high_value", "regular", "dormant"];
    columns.push((
        name("user_str", "city"),
        Arc::new(StringArray::from_iter_values(
            (first..first + rows).map(|i| cities[i % cities.len()]),
        )),
    ));
    columns.push((
        name("user_str", "segment"),
        Arc::new(StringArray::from_iter_values(
            (first..first + rows).map(|i| segments[i % 3]),
        )),
    ));
    for (k, f) in GROUPS[2].2.iter().enumerate() {
        columns.push((
            name("user_i64", f),
            Arc::new(Int64Array::from_iter_values(
                (first..first + rows).map(|i| ((i * (k + 3)) % 5000) as i64),
            )),
        ));
    }
    for (k, f) in GROUPS[3].2.iter().enumerate() {
        columns.push((
            name("user_bool", f),
            Arc::new(BooleanArray::from_iter(
                (first..first + rows).map(|i| Some((i + k) % 3 == 0)),
            )),
        ));
    }
    let mut emb = ListBuilder::with_capacity(Float32Builder::with_capacity(rows * 32), rows);
    for i in first..first + rows {
        for j in 0..32 {
            emb.values()
                .append_value(((i * 13 + j * 17) % 2000) as f32 / 1000.0 - 1.0);
        }
        emb.append(true);
    }
    columns.push((name("user_emb", "embedding"), Arc::new(emb.finish())));
    let tags = ["electronics", "fashion", "home", "beauty", "toys"];
    let mut tag_col = ListBuilder::new(StringBuilder::new());
    for i in first..first + rows {
        for j in 0..3 {
            tag_col.values().append_value(tags[(i + j) % tags.len()]);
        }
        tag_col.append(true);
    }
    columns.push((name("user_tags", "tags"), Arc::new(tag_col.finish())));
    RecordBatch::try_from_iter(columns).expect("consistent sample columns")
}
