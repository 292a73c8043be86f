//! Shared helpers: metadata and plans, Arrow batches encoded into messages, options.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use onfs_core::{Encoder, EncoderOptions, Metadata, Plan};
use onfs_verify::testing::{TestServer, TestStore};
use onfs_verify::{Sample, SampleSize, Sampler, VerifyOptions};

pub const CALLER: &str = "verify-test";
pub const TOKEN: &str = "t0ken-never-shown";

/// `(group, data type without "DataType", [(feature, default)])`.
pub type GroupDef<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// Metadata with entity `user` keyed by `user_id`, a TABLE source `db.t`, and the groups.
pub fn plan(groups: &[GroupDef]) -> Plan {
    let mut paths = Vec::new();
    for (g, dt, features) in groups {
        for (f, default) in *features {
            paths.push(serde_json::json!({
                "entity-label": "user", "feature-group-label": g, "feature-label": f,
                "source-data-column": f, "default-value": default, "data-type": format!("DataType{dt}"),
            }));
        }
    }
    let json = serde_json::json!({
        "keys": {"user": ["user_id"]},
        "data": [{"storage-provider": "TABLE", "base-path": [{"source-base-path": "db.t", "data-paths": paths}]}],
    });
    Plan::build(&Metadata::from_json(&json.to_string()).unwrap(), &[]).unwrap()
}

/// The renamed column of feature `f` of group `g`.
pub fn col(g: &str, f: &str) -> String {
    format!("t___{g}___{f}")
}

/// A batch with `user_id` = `keys` and the given renamed columns.
pub fn batch(keys: &[i64], columns: Vec<(String, ArrayRef)>) -> RecordBatch {
    let mut all: Vec<(String, ArrayRef)> = vec![(
        "user_id".into(),
        Arc::new(arrow_array::Int64Array::from(keys.to_vec())),
    )];
    all.extend(columns);
    RecordBatch::try_from_iter(all).unwrap()
}

pub fn string_lists(rows: &[&[&str]]) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for row in rows {
        for s in *row {
            b.values().append_value(s);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// The batch encoded `rows_per_message` rows per message.
pub fn encode(plan: &Plan, batch: &RecordBatch, rows_per_message: usize) -> Vec<Vec<u8>> {
    let mut enc = Encoder::new(
        plan,
        EncoderOptions {
            batch_size: rows_per_message,
            ..Default::default()
        },
    );
    let mut out: Vec<Vec<u8>> = enc
        .encode(batch)
        .unwrap()
        .into_iter()
        .map(|m| m.value)
        .collect();
    out.extend(enc.finish().into_iter().map(|m| m.value));
    out
}

pub fn sample(messages: &[Vec<u8>], size: SampleSize) -> Sample {
    let mut s = Sampler::new(size, 7);
    for m in messages {
        s.add_message(m).unwrap();
    }
    s.finish()
}

/// A store holding the plan's defaults and every row of `messages`, served.
pub fn store_with(plan: &Plan, messages: &[Vec<u8>]) -> (TestStore, TestServer) {
    let store = TestStore::new(CALLER, Some(TOKEN));
    store.set_plan_defaults(plan);
    for m in messages {
        store.consume(plan, m).unwrap();
    }
    let server = store.serve();
    (store, server)
}

/// Options for `server` with the right caller and token, reading once (no wait).
pub fn options(server: &TestServer) -> VerifyOptions {
    let mut o = VerifyOptions::new(server.address(), CALLER);
    o.token = Some(TOKEN.to_string());
    o.wait = Duration::ZERO;
    o.connect_timeout = Duration::from_secs(2);
    o.request_timeout = Duration::from_secs(5);
    o
}
