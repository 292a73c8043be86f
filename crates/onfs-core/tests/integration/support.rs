//! Shared helpers: the project's fixtures live in `testdata/` at the repository root.

#![allow(dead_code)]

use std::path::PathBuf;

use arrow_array::RecordBatch;
use onfs_core::{EncodedMessage, Encoder, EncoderOptions, Metadata, Plan};

pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

pub fn reference_case(name: &str) -> PathBuf {
    testdata().join("reference").join(name)
}

pub fn read_parquet(path: &std::path::Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .with_batch_size(16) // several batches, so rows carry over between them
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

pub fn plan_of(metadata_json: &str, groups: &[&str]) -> Plan {
    let meta = Metadata::from_json(metadata_json).unwrap();
    let groups: Vec<String> = groups.iter().map(|s| s.to_string()).collect();
    Plan::build(&meta, &groups).unwrap()
}

pub fn encode_all(
    plan: &Plan,
    batches: &[RecordBatch],
    opts: EncoderOptions,
) -> Result<Vec<EncodedMessage>, onfs_core::EncodeError> {
    let mut enc = Encoder::new(plan, opts);
    let mut out = Vec::new();
    for b in batches {
        enc.encode_into(b, &mut out)?;
    }
    out.extend(enc.finish());
    Ok(out)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Metadata with one entity column `user_id` and one group per `(group, data type, features)`.
pub fn metadata_json(groups: &[(&str, &str, &[&str])]) -> String {
    let paths: Vec<serde_json::Value> = groups
        .iter()
        .flat_map(|(g, dt, features)| {
            features.iter().map(move |f| {
                serde_json::json!({
                    "entity-label": "user", "feature-group-label": g, "feature-label": f,
                    "source-data-column": f, "default-value": "0", "data-type": format!("DataType{dt}"),
                })
            })
        })
        .collect();
    serde_json::json!({
        "keys": {"user": ["user_id"]},
        "data": [{"storage-provider": "TABLE", "base-path": [{"source-base-path": "db.t", "data-paths": paths}]}],
    })
    .to_string()
}

/// The renamed column of feature `f` of group `g` in [`metadata_json`].
pub fn col(g: &str, f: &str) -> String {
    format!("t___{g}___{f}")
}

pub fn batch(columns: Vec<(&str, arrow_array::ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns.into_iter().map(|(n, a)| (n.to_string(), a))).unwrap()
}

pub fn decode(m: &EncodedMessage) -> onfs_core::proto::Query {
    use prost::Message;
    onfs_core::proto::Query::decode(m.value.as_slice()).unwrap()
}
