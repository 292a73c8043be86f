//! `--state`: the push ledger. Changed-only pushes send exactly the groups that changed, a
//! partition already pushed is skipped, a failed run leaves the ledger as it was, and two runs
//! of one job never overlap.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use serde_json::Value;

use crate::support::*;

/// Two groups of one entity: `orders` (Int64) and `profile` (String).
const META: &str = r#"{"keys": {"user": ["user_id"]}, "data": [{"storage-provider": "TABLE", "base-path": [{"source-base-path": "db.users", "data-paths": [
    {"entity-label": "user", "feature-group-label": "orders", "feature-label": "n", "source-data-column": "n", "default-value": "0", "data-type": "DataTypeInt64"},
    {"entity-label": "user", "feature-group-label": "profile", "feature-label": "segment", "source-data-column": "segment", "default-value": "none", "data-type": "DataTypeString"}]}]}]}"#;

pub(crate) struct Fixture {
    tmp: tempfile::TempDir,
}

pub(crate) type Row = (i64, i64, &'static str);

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let f = Fixture {
            tmp: tempfile::tempdir().unwrap(),
        };
        std::fs::write(f.path("metadata.json"), META).unwrap();
        f
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Writes the partition `process_date=day` of the table.
    pub(crate) fn day(&self, day: &str, rows: &[Row]) {
        let dir = self.path("users").join(format!("process_date={day}"));
        std::fs::create_dir_all(&dir).unwrap();
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0)));
        let n: ArrayRef = Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1)));
        let s: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2)));
        let batch =
            RecordBatch::try_from_iter([("user_id", ids), ("n", n), ("segment", s)]).unwrap();
        let file = std::fs::File::create(dir.join("part-0.parquet")).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    /// `run` into the folder `out` with the ledger at `state/`.
    fn run(&self, out: &str, extra: &[&str]) -> Run {
        self.run_at(p(&self.path("state")), out, extra)
    }

    /// `run` into the folder `out` with the ledger at `state`.
    pub(crate) fn run_at(&self, state: &str, out: &str, extra: &[&str]) -> Run {
        let out = p(&self.path(out)).to_string();
        let mut extra: Vec<&str> = extra.to_vec();
        extra.extend(["--out", out.as_str()]);
        self.run_to(state, &extra)
    }

    /// `run` with the ledger at `state` to the output `extra` names (the report beside
    /// the state).
    pub(crate) fn run_to(&self, state: &str, extra: &[&str]) -> Run {
        let out = extra
            .iter()
            .position(|a| *a == "--out" || *a == "--topic")
            .map(|i| extra[i + 1].rsplit('/').next().unwrap().to_string())
            .expect("an output");
        let mut args = vec![
            "run".to_string(),
            "--metadata-file".into(),
            p(&self.path("metadata.json")).into(),
            "--table".into(),
            format!("db.users={}", self.path("users").display()),
            "--state".into(),
            state.into(),
            "--batch-size".into(),
            "4".into(),
            "--report".into(),
            p(&self.path(&format!("{out}.json"))).into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        onfs(&args)
    }

    pub(crate) fn report(&self, out: &str) -> Value {
        let text = std::fs::read_to_string(self.path(&format!("{out}.json"))).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Each sent row: key -> the groups it carries with their values.
    pub(crate) fn sent(&self, out: &str) -> BTreeMap<i64, BTreeMap<String, String>> {
        let mut rows = BTreeMap::new();
        for m in onfs_file::read_messages(&self.path(out)).unwrap() {
            let q = decode(&m.unwrap().value);
            for d in q.data {
                let key: i64 = d.key_values[0].parse().unwrap();
                let groups: BTreeMap<String, String> = q
                    .feature_group_schema
                    .iter()
                    .zip(&d.feature_values)
                    .map(|(g, v)| {
                        let v = v.values.as_ref().unwrap();
                        let text = match v.int64_values.first() {
                            Some(n) => n.to_string(),
                            None => v.string_values[0].clone(),
                        };
                        (g.label.clone(), text)
                    })
                    .collect();
                assert!(rows.insert(key, groups).is_none(), "key {key} sent twice");
            }
        }
        rows
    }

    fn head(&self) -> Vec<u8> {
        let state = self.path("state");
        let job = std::fs::read_dir(&state)
            .unwrap()
            .next()
            .expect("a job folder")
            .unwrap()
            .path();
        std::fs::read(job.join("HEAD.json")).unwrap()
    }

    fn job_dir(&self) -> PathBuf {
        std::fs::read_dir(self.path("state"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    }
}

pub(crate) fn base() -> Vec<Row> {
    (0..10)
        .map(|i| (i, i * 10, if i % 2 == 0 { "a" } else { "b" }))
        .collect()
}

fn groups(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(g, v)| (g.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn counts(report: &Value, group: &str) -> (u64, u64, u64, u64) {
    let c = &report["jobs"][0]["changed_only"][group];
    let n = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{k} in {c}"));
    (n("new"), n("changed"), n("unchanged"), n("refreshed"))
}

#[test]
fn changed_only_sends_exactly_the_groups_that_changed() {
    let f = Fixture::new();
    f.day("2026-11-01", &base());
    let run = f.run("out1", &["--changed-only"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sent = f.sent("out1");
    assert_eq!(sent.len(), 10);
    assert_eq!(sent[&3], groups(&[("orders", "30"), ("profile", "b")]));
    assert_eq!(counts(&f.report("out1"), "orders"), (10, 0, 0, 0));

    // The next day holds the same values: nothing to send.
    f.day("2026-11-02", &base());
    let run = f.run("out2", &["--changed-only"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(f.sent("out2").is_empty());
    let report = f.report("out2");
    assert_eq!(counts(&report, "orders"), (0, 0, 10, 0));
    assert_eq!(counts(&report, "profile"), (0, 0, 10, 0));
    assert_eq!(report["messages"], 0);
    assert!(run.stderr.contains("changed only"), "{}", run.stderr);

    // One feature of 3 entities, the other group of 2 more, and a new entity.
    let mut day3 = base();
    for r in day3.iter_mut() {
        match r.0 {
            1..=3 => r.1 += 1,
            4 | 5 => r.2 = "c",
            _ => {}
        }
    }
    day3.push((10, 100, "a"));
    f.day("2026-11-03", &day3);
    let run = f.run("out3", &["--changed-only"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sent = f.sent("out3");
    let expected: BTreeMap<i64, BTreeMap<String, String>> = [
        (1, groups(&[("orders", "11")])),
        (2, groups(&[("orders", "21")])),
        (3, groups(&[("orders", "31")])),
        (4, groups(&[("profile", "c")])),
        (5, groups(&[("profile", "c")])),
        (10, groups(&[("orders", "100"), ("profile", "a")])),
    ]
    .into_iter()
    .collect();
    assert_eq!(sent, expected);
    let report = f.report("out3");
    assert_eq!(counts(&report, "orders"), (1, 3, 7, 0));
    assert_eq!(counts(&report, "profile"), (1, 2, 8, 0));
    assert_eq!(report["state"]["committed"], true);
    assert_eq!(report["state"]["jobs"][0]["keys"], 11);

    // Refreshing everything older than zero seconds sends every group again.
    f.day("2026-11-04", &day3);
    let run = f.run("out4", &["--changed-only", "--refresh-after", "0s"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(f.sent("out4").len(), 11);
    assert_eq!(counts(&f.report("out4"), "orders"), (0, 0, 0, 11));
}

#[test]
fn changed_only_settles_duplicates_of_known_and_new_keys() {
    let f = Fixture::new();
    f.day("2026-11-01", &base());
    assert_eq!(f.run("out1", &["--changed-only"]).code, 0);
    // Key 1 changed and its row twice; key 2 unchanged, twice; key 20 new, twice; key 3 (known)
    // and key 21 (new) each with two different rows: the first of each is kept.
    let mut day = base();
    day[1].1 = 11;
    day.extend([day[1], day[2], (20, 200, "a"), (20, 200, "a")]);
    day.extend([(3, 30, "zz"), (21, 210, "a"), (21, 211, "a")]);
    f.day("2026-11-02", &day);
    let run = f.run(
        "out2",
        &["--changed-only", "--on-duplicate-key", "keep-any"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected: BTreeMap<i64, BTreeMap<String, String>> = [
        (1, groups(&[("orders", "11")])),
        (20, groups(&[("orders", "200"), ("profile", "a")])),
        (21, groups(&[("orders", "210"), ("profile", "a")])),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        f.sent("out2"),
        expected,
        "each key sent once, its first row"
    );
    let report = f.report("out2");
    let pass = &report["jobs"][0]["passes"][0];
    assert_eq!(pass["exact_duplicate_rows"], 3, "{pass:#}");
    assert_eq!(pass["duplicate_keys"], 2, "{pass:#}");
    assert_eq!(counts(&report, "orders"), (2, 1, 9, 0));
    assert_eq!(counts(&report, "profile"), (2, 0, 10, 0));
    assert_eq!(report["state"]["jobs"][0]["keys"], 12);
}

#[test]
fn a_ledger_over_the_memory_limit_is_said() {
    let f = Fixture::new();
    f.day("2026-11-01", &base());
    let run = f.run("out1", &["--changed-only"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    f.day("2026-11-02", &base());
    // Ten keys of two groups take more than 64 bytes.
    let run = f.run("out2", &["--changed-only", "--memory-limit", "64B"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("push ledger takes")
            && run
                .stderr
                .contains("more than the memory limit of 64 bytes leaves"),
        "{}",
        run.stderr
    );
    let run = f.run("out3", &["--changed-only", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("push ledger takes"), "{}", run.stderr);
}

#[test]
fn a_partition_already_pushed_is_skipped_unless_forced() {
    let f = Fixture::new();
    f.day("2026-11-01", &base());
    assert_eq!(f.run("out1", &[]).code, 0);
    assert_eq!(f.sent("out1").len(), 10);
    let run = f.run("out2", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(f.sent("out2").is_empty());
    let report = f.report("out2");
    assert_eq!(
        report["jobs"][0]["skipped"][0]["partitions"][0],
        serde_json::json!(["db.users", "2026-11-01"])
    );
    assert!(
        run.stderr.contains("--force pushes again"),
        "{}",
        run.stderr
    );
    let run = f.run("out3", &["--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(f.sent("out3").len(), 10);
    // A new partition is pushed.
    f.day("2026-11-02", &base());
    assert_eq!(f.run("out4", &[]).code, 0);
    assert_eq!(f.sent("out4").len(), 10);
}

/// A pushed partition rewritten (other files): skipped with a warning naming the source, pushed
/// again with --repush-on-change, once; the head keeps one entry, with the new run and files.
#[test]
fn a_rewritten_partition_is_pushed_again_only_with_repush_on_change() {
    let f = Fixture::new();
    f.day("2026-11-01", &base());
    assert_eq!(f.run("out1", &[]).code, 0);
    assert_eq!(f.sent("out1").len(), 10);
    let first: Value = serde_json::from_slice(&f.head()).unwrap();
    let version = first["pushed"][0]["versions"]["db.users"].clone();
    assert!(
        version.as_str().is_some_and(|v| v.starts_with("files:1:")),
        "{first:#}"
    );
    // The partition rewritten with two more rows.
    let mut more = base();
    more.extend([(10, 100, "a"), (11, 110, "b")]);
    f.day("2026-11-01", &more);
    let run = f.run("out2", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(f.sent("out2").is_empty());
    assert_eq!(
        f.report("out2")["jobs"][0]["skipped"][0]["changed_since"],
        serde_json::json!(["db.users"])
    );
    assert!(
        run.stderr.contains("the files of db.users changed since")
            && run.stderr.contains("--repush-on-change"),
        "{}",
        run.stderr
    );
    let run = f.run("out3", &["--repush-on-change"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(f.sent("out3").len(), 12);
    let head: Value = serde_json::from_slice(&f.head()).unwrap();
    assert_eq!(head["pushed"].as_array().unwrap().len(), 1, "{head:#}");
    assert_ne!(head["pushed"][0]["versions"]["db.users"], version);
    // The run that pushed it again (the last one; skipping runs are recorded too).
    let runs = head["runs"].as_array().unwrap();
    assert_eq!(head["pushed"][0]["run"], runs[runs.len() - 1]["id"]);
    // The same files again: skipped, repush_on_change or not.
    let run = f.run("out4", &["--repush-on-change"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(f.sent("out4").is_empty());
    assert!(
        run.stderr.contains("--force pushes again"),
        "{}",
        run.stderr
    );
    // repush_on_change needs a ledger.
    let run = onfs(&[
        "run",
        "--metadata-file",
        p(&f.path("metadata.json")),
        "--repush-on-change",
        "--out",
        p(&f.path("out5")),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("it needs --state URL"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_failed_run_leaves_the_ledger_as_it_was() {
    let f = Fixture::new();
    f.day("2026-11-01", &base());
    assert_eq!(f.run("out1", &["--changed-only"]).code, 0);
    let before = f.head();
    let ledger_files = || {
        let mut names: Vec<String> = std::fs::read_dir(f.job_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let files = ledger_files();
    // A key with two different rows fails the run (--on-duplicate-key error) midway.
    let mut bad = base();
    bad[0].1 = 1;
    bad.push((5, 999, "z"));
    f.day("2026-11-02", &bad);
    let run = f.run("out2", &["--changed-only", "--on-duplicate-key", "error"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(f.head(), before, "the head is unchanged");
    assert_eq!(ledger_files(), files, "no lock or ledger file left");
    // The next good run sends what changed since the last successful one.
    bad.pop();
    f.day("2026-11-02", &bad);
    let run = f.run("out3", &["--changed-only"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        f.sent("out3"),
        [(0, groups(&[("orders", "1")]))].into_iter().collect()
    );
}

#[test]
fn a_second_run_of_a_job_fails_at_once_naming_the_first() {
    let f = Fixture::new();
    f.day("2026-11-01", &base());
    assert_eq!(f.run("out1", &[]).code, 0);
    let lock = f.job_dir().join("LOCK.json");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    // Held by a live process of this host (this test).
    let holder = serde_json::json!({"run": "20261130T000000Z-1", "host": host, "pid": std::process::id(), "started": "2026-11-30T00:00:00Z"});
    std::fs::write(&lock, holder.to_string()).unwrap();
    f.day("2026-11-02", &base());
    let run = f.run("out2", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("being pushed by another run")
            && run.stderr.contains("20261130T000000Z-1")
            && run.stderr.contains("LOCK.json"),
        "{}",
        run.stderr
    );
    assert!(!f.path("out2").join("manifest.json").exists());
    // A lock left by a process that is gone (killed) is taken over.
    let dead = serde_json::json!({"run": "20261130T000000Z-2", "host": host, "pid": 4_000_000, "started": "2026-11-30T00:00:00Z"});
    std::fs::write(&lock, dead.to_string()).unwrap();
    let run = f.run("out3", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(f.sent("out3").len(), 10);
    assert!(!lock.exists());
}

#[test]
fn state_flags_are_checked() {
    let f = Fixture::new();
    f.day("2026-11-01", &base());
    let run = onfs(&[
        "run",
        "--metadata-file",
        p(&f.path("metadata.json")),
        "--changed-only",
        "--out",
        p(&f.path("out")),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--state"), "{}", run.stderr);
    let run = f.run("out", &["--changed-only", "--refresh-after", "soon"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--refresh-after"), "{}", run.stderr);
}

#[test]
fn status_shows_the_jobs_runs_and_holder() {
    let f = Fixture::new();
    f.day("2026-11-01", &base());
    assert_eq!(f.run("out1", &["--changed-only"]).code, 0);
    let state = f.path("state");
    let run = onfs(&["status", "--state", p(&state)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("1 job")
            && run.stdout.contains("groups: orders, profile")
            && run.stdout.contains("10 keys")
            && run.stdout.contains("db.users 2026-11-01"),
        "{}",
        run.stdout
    );
    let run = onfs(&["status", "--state", p(&state), "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let jobs: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(jobs[0]["head"]["keys"], 10);
    assert_eq!(jobs[0]["head"]["runs"][0]["rows"], 10);
    assert_eq!(jobs[0]["lock"], Value::Null);
}

/// Changed-only to a real broker: the rows that land on the topic are exactly the changes.
#[cfg(feature = "service-tests")]
#[test]
fn changed_only_to_kafka_lands_exactly_the_changes() {
    let f = Fixture::new();
    let state = p(&f.path("state")).to_string();
    let bootstrap = broker().bootstrap.clone();
    let send = |topic: &str| {
        create_topic(&bootstrap, topic, 2);
        let run = f.run_to(
            &state,
            &[
                "--changed-only",
                "--kafka-brokers",
                &bootstrap,
                "--topic",
                topic,
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let mut rows: Vec<(i64, Vec<String>)> = read_topic(&bootstrap, topic)
            .iter()
            .flat_map(|r| {
                let q = decode(&r.value);
                let labels: Vec<String> = q
                    .feature_group_schema
                    .iter()
                    .map(|g| g.label.clone())
                    .collect();
                q.data
                    .into_iter()
                    .map(move |d| (d.key_values[0].parse().unwrap(), labels.clone()))
            })
            .collect();
        rows.sort();
        rows
    };
    // 40 entities: a run sending a few records them as a change file beside the ledger.
    let forty: Vec<Row> = (0..40)
        .map(|i| (i, i * 10, if i % 2 == 0 { "a" } else { "b" }))
        .collect();
    f.day("2026-11-01", &forty);
    assert_eq!(send(&unique_topic("changed-1")).len(), 40);
    f.day("2026-11-02", &forty);
    assert!(send(&unique_topic("changed-2")).is_empty());
    let mut day3 = forty.clone();
    day3[7].1 = -7;
    day3[8].2 = "z";
    f.day("2026-11-03", &day3);
    assert_eq!(
        send(&unique_topic("changed-3")),
        vec![
            (7, vec!["orders".to_string()]),
            (8, vec!["profile".to_string()])
        ]
    );
    // The two sends were recorded as a change file; the next runs read the ledger with it
    // applied: the same values again send nothing, a change back sends just that.
    let head: Value = serde_json::from_slice(&f.head()).unwrap();
    assert_eq!(head["changes"].as_array().map(Vec::len), Some(1), "{head}");
    assert_eq!(head["change_keys"], 2);
    f.day("2026-11-04", &day3);
    assert!(send(&unique_topic("changed-4")).is_empty());
    day3[7].1 = 7;
    f.day("2026-11-05", &day3);
    assert_eq!(
        send(&unique_topic("changed-5")),
        vec![(7, vec!["orders".to_string()])]
    );
}

/// A backfill to Kafka records each pass once delivered: cut by a bad day, it resumes there.
#[cfg(feature = "service-tests")]
#[test]
fn a_cut_backfill_resumes_where_it_stopped() {
    let f = Fixture::new();
    let state = p(&f.path("state")).to_string();
    let bootstrap = broker().bootstrap.clone();
    let topic = unique_topic("backfill");
    create_topic(&bootstrap, &topic, 1);
    let backfill = || {
        f.run_to(
            &state,
            &[
                "--partition-range",
                "2026-11-01..2026-11-03",
                "--on-duplicate-key",
                "error",
                "--kafka-brokers",
                &bootstrap,
                "--topic",
                &topic,
            ],
        )
    };
    f.day("2026-11-01", &base());
    f.day("2026-11-02", &base());
    let mut bad = base();
    bad.push((1, 7, "x"));
    f.day("2026-11-03", &bad);
    let run = backfill();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        read_topic(&bootstrap, &topic)
            .iter()
            .map(|r| decode(&r.value).data.len())
            .sum::<usize>(),
        20
    );
    f.day("2026-11-03", &base());
    let run = backfill();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("pushed by run").count(),
        2,
        "the two delivered days are skipped: {}",
        run.stderr
    );
    assert_eq!(
        read_topic(&bootstrap, &topic)
            .iter()
            .map(|r| decode(&r.value).data.len())
            .sum::<usize>(),
        30
    );
}

#[test]
fn a_ledger_file_left_by_a_killed_commit_is_removed_by_the_next() {
    let f = Fixture::new();
    f.day("2026-11-01", &base());
    assert_eq!(f.run("out1", &["--changed-only"]).code, 0);
    // A run killed after writing its ledger file, before replacing the head.
    let orphan = f.job_dir().join("ledger-20261130T000000Z-1-1.parquet");
    std::fs::write(&orphan, b"cut").unwrap();
    f.day("2026-11-02", &base());
    let run = f.run("out2", &["--changed-only"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!orphan.exists());
    let ledgers: Vec<String> = std::fs::read_dir(f.job_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ledger-"))
        .collect();
    assert_eq!(ledgers.len(), 1, "{ledgers:?}");
}
