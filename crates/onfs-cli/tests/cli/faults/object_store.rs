//! Faults of the object store (moto's S3) through the fault proxy: `run` reads the reference
//! tables from S3 with `aws_endpoint` at the proxy. Either the run writes the reference's
//! messages, or it exits 1 naming the table's location, within its bound, having written no
//! message file.

use std::time::Duration;

use super::onfs_within;
use super::proxy::{Fault, FaultProxy};
use crate::run::{
    assert_like_reference, messages_in, out_of, pipeline, reference_meta, EMBEDDINGS, ORDERS,
};
use crate::stores::{env, real_secret, root, upload, Store};
use crate::support::*;

const BOUND: Duration = Duration::from_secs(120);

/// The reference tables uploaded to moto under a fresh prefix; the proxy in front of moto.
fn tables_on_s3() -> (String, FaultProxy) {
    let base = format!("{}/{}", root(Store::S3, "s3"), unique_topic("faults"));
    for t in [ORDERS, EMBEDDINGS] {
        upload(
            Store::S3,
            &pipeline().join("tables").join(t),
            &format!("{base}/{t}/"),
        );
    }
    let endpoint = env("ONFS_S3_ENDPOINT");
    let moto = endpoint.trim_start_matches("http://").trim_end_matches('/');
    (base, FaultProxy::start(moto))
}

/// `run` of the reference case on S3 through `proxy`, writing to `<tmp>/out`.
fn run_through(base: &str, proxy: &FaultProxy, extra: &[&str]) -> (tempfile::TempDir, Run) {
    let tmp = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "run",
        "--metadata-file",
        p(&reference_meta()),
        "--batch-size",
        "6",
        "--vector-fit",
        "keep",
        "--out",
        p(&out_of(&tmp)),
        "--table",
        &format!("{ORDERS}={base}/{ORDERS}"),
        "--table",
        &format!("{EMBEDDINGS}={base}/{EMBEDDINGS}/"),
        "--storage-option",
        &format!("aws_endpoint=http://{}", proxy.addr()),
        "--storage-option",
        "aws_allow_http=true",
        "--storage-option",
        "aws_region=us-east-1",
        "--storage-option",
        "aws_access_key_id=test-key",
        "--storage-option",
        &format!("aws_secret_access_key={}", real_secret(Store::S3)),
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(extra.iter().map(|s| s.to_string()))
    .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = onfs_within(BOUND, &args, &[]);
    (tmp, run)
}

#[test]
fn the_object_store_answering_503_several_times_is_retried() {
    let (base, proxy) = tables_on_s3();
    proxy.set(Fault::Http503(4));
    let (tmp, run) = run_through(&base, &proxy, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(proxy.answered_503(), 4);
    assert_like_reference(&messages_in(&out_of(&tmp)), 6);
}

#[test]
fn a_slow_object_store_is_waited_for() {
    let (base, proxy) = tables_on_s3();
    proxy.set(Fault::Latency(Duration::from_millis(100)));
    let (tmp, run) = run_through(&base, &proxy, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_like_reference(&messages_in(&out_of(&tmp)), 6);
}

#[test]
fn object_store_connections_reset_mid_stream_are_retried() {
    let (base, proxy) = tables_on_s3();
    proxy.set(Fault::Reset {
        every: 1_000,
        times: 3,
    });
    let (tmp, run) = run_through(&base, &proxy, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(proxy.resets(), 3);
    assert_like_reference(&messages_in(&out_of(&tmp)), 6);
}

#[test]
fn an_object_store_answering_only_503_exits_1_naming_the_table() {
    let (base, proxy) = tables_on_s3();
    proxy.set(Fault::Http503(u32::MAX));
    let (tmp, run) = run_through(&base, &proxy, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(&base), "{}", run.stderr);
    assert!(run.stderr.contains("503"), "{}", run.stderr);
    assert!(!out_of(&tmp).join("manifest.json").exists());
    assert!(!run.all_output().contains(&real_secret(Store::S3)));
}
