//! `onfs-push verify` against the test store (the retrieval API over gRPC on 127.0.0.1):
//! messages written by `encode --out`, stored as the consumer would, read back.

use std::path::{Path, PathBuf};

use onfs_core::{Metadata, Plan};
use onfs_verify::testing::{TestServer, TestStore};

use crate::support::*;

const CALLER: &str = "cli-verify";
const TOKEN: &str = "cli-t0ken-s3cret";

/// The metadata path, the out folder, the store and its server.
type Pushed = (PathBuf, PathBuf, TestStore, TestServer);

/// 30 rows (`f` = 3 * user_id, default 0) encoded 7 per message into `dir/out`, and a store
/// holding them, served.
fn pushed(dir: &Path) -> Pushed {
    let (meta, input) = int_dataset(dir, 30);
    let out = dir.join("out");
    let run = onfs(&[
        "encode",
        "--metadata-file",
        p(&meta),
        "--input",
        p(&input),
        "--batch-size",
        "7",
        "--out",
        p(&out),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = Plan::build(
        &Metadata::from_json(&std::fs::read_to_string(&meta).unwrap()).unwrap(),
        &[],
    )
    .unwrap();
    let store = TestStore::new(CALLER, Some(TOKEN));
    store.set_plan_defaults(&plan);
    for m in onfs_file::read_messages(&out).unwrap() {
        store.consume(&plan, &m.unwrap().value).unwrap();
    }
    let server = store.serve();
    (meta, out, store, server)
}

fn verify(meta: &Path, out: &Path, server: &TestServer, extra: &[&str], token: &str) -> Run {
    let address = server.address();
    let mut args = vec![
        "verify",
        p(out),
        "--metadata-file",
        p(meta),
        "--store",
        &address,
        "--caller-id",
        CALLER,
        "--wait",
        "0",
    ];
    args.extend(extra);
    onfs_env(&args, &[("ONFS_CALLER_TOKEN", token)])
}

#[test]
fn verify_reads_back_what_encode_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let (meta, out, store, server) = pushed(tmp.path());
    let report = tmp.path().join("report.json");
    let run = verify(
        &meta,
        &out,
        &server,
        &["--sample", "all", "--report", p(&report)],
        TOKEN,
    );
    assert_eq!(run.code, 0, "{}", run.all_output());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "GROUP  CHECKED  MATCHES  DIFFERS  DEFAULTS  INDISTINGUISHABLE"
    );
    // user_id 0 sent f = 0, the default.
    assert_eq!(
        lines[1],
        "g           30       29        0         0                  1"
    );
    assert!(
        run.stderr
            .contains("verify: 30 entities sampled from 30 rows in 5 messages"),
        "{}",
        run.stderr
    );
    assert!(!run.all_output().contains(TOKEN));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["totals"]["matches"], 29);
    assert_eq!(store.reads(), 1);

    // A sample of 5 (one per message), read 2 keys at a time.
    let run = verify(
        &meta,
        &out,
        &server,
        &["--sample", "5", "--seed", "3", "--keys-per-request", "2"],
        TOKEN,
    );
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert!(
        run.stdout
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("g            5"),
        "{}",
        run.stdout
    );
    assert_eq!(store.reads(), 4);
}

#[test]
fn a_differing_value_exits_1_and_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (meta, out, store, server) = pushed(tmp.path());
    store.put(&["4"], "g", "f", 99i64.to_le_bytes());
    store.remove(&["5"]);
    let run = verify(&meta, &out, &server, &["--sample", "all"], TOKEN);
    assert_eq!(run.code, 1, "{}", run.all_output());
    assert!(
        run.stdout
            .contains("g key 4: g/f differs: sent 12, stored 99"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("g key 5: g/f came back as the defaults: sent 15, stored 0"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("error: the store does not hold what was sent: 1 of 30 entity-groups differ, 1 came back as the defaults"), "{}", run.stderr);
    assert!(!run.all_output().contains(TOKEN));
}

#[test]
fn a_refused_token_and_bad_usage_exit_2_without_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let (meta, out, _store, server) = pushed(tmp.path());
    let run = verify(&meta, &out, &server, &[], "wr0ng-t0ken-s3cret");
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr.contains(&format!(
            "the online feature store at {} refused caller id \"{CALLER}\" and its auth token",
            server.address()
        )),
        "{}",
        run.stderr
    );
    assert!(!run.all_output().contains("wr0ng-t0ken-s3cret"));

    let run = verify(&meta, &out, &server, &["--sample", "some"], TOKEN);
    assert_eq!(run.code, 2, "{}", run.all_output());
    let run = onfs(&[
        "verify",
        p(&out),
        "--metadata-file",
        p(&meta),
        "--caller-id",
        CALLER,
    ]);
    assert_eq!(run.code, 2, "{}", run.all_output());
    assert!(
        run.stderr.contains("no store: pass --store"),
        "{}",
        run.stderr
    );
    // --help never shows the token, even from the environment.
    let run = onfs_env(&["verify", "--help"], &[("ONFS_CALLER_TOKEN", TOKEN)]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("--store <ADDR>"));
    assert!(!run.stdout.contains(TOKEN));
}

#[cfg(feature = "service-tests")]
/// The example job (store-valid vectors) as a config without an output: `run` sends to Kafka.
fn example_job(dir: &Path) -> PathBuf {
    let repo = repo();
    let tables = repo.join("testdata/reference/tables-pipeline/tables");
    let text = format!(
        "[tables]\n\"fs.user_orders\" = {{ format = \"parquet\", location = {:?} }}\n\
         \"fs.user_embeddings\" = {{ format = \"parquet\", location = {:?} }}\n\
         [encode]\nbatch_size = 6\n\
         [[jobs]]\nmetadata_file = {:?}\n",
        tables.join("fs.user_orders").display().to_string(),
        tables.join("fs.user_embeddings").display().to_string(),
        repo.join("examples/metadata.json").display().to_string(),
    );
    let path = dir.join("job.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[cfg(feature = "service-tests")]
/// `run --verify=all` to a fresh topic while a consumer (this thread) feeds the test store from
/// the topic, skipping the first `lose` messages as the store would drop them.
fn run_and_consume(lose: usize, wait: &str) -> (Run, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let config = example_job(tmp.path());
    let topic = unique_topic("verify");
    create_topic(&broker().bootstrap, &topic, 1);
    let plan = Plan::build(
        &Metadata::from_json(
            &std::fs::read_to_string(repo().join("examples/metadata.json")).unwrap(),
        )
        .unwrap(),
        &[],
    )
    .unwrap();
    let store = TestStore::new(CALLER, Some(TOKEN));
    store.set_plan_defaults(&plan);
    let server = store.serve();
    let report = tmp.path().join("report.json");
    let mut child = onfs_command()
        .args(["run", "--config", p(&config), "--kafka-brokers"])
        .arg(&broker().bootstrap)
        .args([
            "--topic",
            &topic,
            "--verify=all",
            "--store",
            &server.address(),
        ])
        .args([
            "--caller-id",
            CALLER,
            "--wait",
            wait,
            "--report",
            p(&report),
        ])
        .env("ONFS_CALLER_TOKEN", TOKEN)
        .env_remove("ONFS_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut consumed = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "run --verify hangs");
        let records = read_topic(&broker().bootstrap, &topic);
        for r in records.iter().skip(consumed) {
            if consumed >= lose {
                store.consume(&plan, &r.value).unwrap();
            }
            consumed += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.all_output().contains(TOKEN));
    let report = std::fs::read_to_string(&report)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (run, report)
}

#[cfg(feature = "service-tests")]
#[test]
fn run_verify_reads_the_push_back_once_the_consumer_caught_up() {
    let (run, report) = run_and_consume(0, "60");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let totals = &report["verify"][0]["totals"];
    // 59 entities, 7 groups each, every one read back as sent.
    assert_eq!(
        totals["matches"].as_u64().unwrap() + totals["indistinguishable"].as_u64().unwrap(),
        59 * 7,
        "{report}"
    );
    assert_eq!(totals["differs"], 0);
    assert_eq!(totals["defaults"], 0);
    assert!(run.stdout.contains("user_taste"), "{}", run.stdout);
}

#[cfg(feature = "service-tests")]
#[test]
fn run_verify_fails_when_the_store_dropped_a_message() {
    let (run, report) = run_and_consume(1, "3");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("the store does not hold what was sent"),
        "{}",
        run.stderr
    );
    // The first message's 6 rows came back as the defaults (some groups may equal them).
    let defaults = report["verify"][0]["totals"]["defaults"].as_u64().unwrap();
    assert!(defaults > 0 && defaults <= 6 * 7, "{report}");
    assert_eq!(report["delivered"], report["messages"]);
}

#[test]
fn run_verify_needs_kafka_and_a_store() {
    let run = onfs(&[
        "run",
        "--metadata-file",
        p(&repo().join("examples/metadata.json")),
        "--out",
        "/tmp/onfs-never-written",
        "--verify",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--verify reads back"), "{}", run.stderr);
}
