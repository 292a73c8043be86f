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
