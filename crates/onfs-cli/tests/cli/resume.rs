//! Resumable delivery: a Kafka run with `--state` killed at any point (encoding, before its
//! first message, mid-delivery, committing, after its commit) and started again with the same
//! command sends exactly the messages that had no successful delivery report, then commits a
//! ledger equal to a clean run's. Runs are cut with SIGKILL where a `fail` point holds them.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::state::{Fixture, Row};
use crate::support::*;

/// 400 rows in messages of 4: 100 messages.
const ROWS: i64 = 400;
const MESSAGES: u64 = 100;

fn rows() -> Vec<Row> {
    (0..ROWS)
        .map(|i| (i, i * 3, if i % 3 == 0 { "a" } else { "b" }))
        .collect()
}

struct Job {
    f: Fixture,
    state: String,
    bootstrap: String,
    topic: String,
}

impl Job {
    fn new(name: &str) -> Job {
        Job::on(name, &broker().bootstrap)
    }

    fn on(name: &str, bootstrap: &str) -> Job {
        let f = Fixture::new();
        f.day("2026-11-01", &rows());
        let topic = unique_topic(name);
        create_topic(bootstrap, &topic, 2);
        Job {
            state: p(&f.path("state")).to_string(),
            f,
            bootstrap: bootstrap.to_string(),
            topic,
        }
    }

    /// The command: changed-only, to the topic, with the ledger at `state`.
    fn args(&self, state: &str, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "run".into(),
            "-v".into(),
            "--metadata-file".into(),
            p(&self.f.path("metadata.json")).into(),
            "--table".into(),
            format!("db.users={}", self.f.path("users").display()),
            "--state".into(),
            state.into(),
            "--changed-only".into(),
            "--batch-size".into(),
            "4".into(),
            "--kafka-brokers".into(),
            self.bootstrap.clone(),
            "--topic".into(),
            self.topic.clone(),
            "--report".into(),
            p(&self.f.path("report.json")).into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    /// The job's folder (a path that does not exist until the run made it).
    fn job_dir(&self, state: &str) -> PathBuf {
        std::fs::read_dir(state)
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| e.unwrap().path())
            .unwrap_or_else(|| Path::new(state).join("(none yet)"))
    }

    fn area(&self) -> PathBuf {
        self.job_dir(&self.state).join("resume")
    }

    /// Starts the job with `failpoints` set, and SIGKILLs it once `cut_when` holds (checked on
    /// each line it logs, and every 20 ms).
    fn cut(&self, failpoints: &str, extra: &[&str], cut_when: impl Fn(&str) -> bool) {
        let mut child: Child = onfs_command()
            .args(self.args(&self.state, extra))
            .env("FAILPOINTS", failpoints)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                if tx.send(line.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut log = String::new();
        loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(line) => {
                    log.push_str(&line);
                    log.push('\n');
                    if cut_when(&line) {
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if cut_when("") {
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("the run ended before it was cut:\n{log}")
                }
            }
            assert!(Instant::now() < deadline, "never reached the cut:\n{log}");
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn rerun(&self) -> (Run, Value) {
        let args = self.args(&self.state, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = onfs(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(self.f.path("report.json")).unwrap())
                .unwrap();
        (run, report)
    }

    fn on_topic(&self) -> Vec<onfs_kafka::topic::Record> {
        read_topic(&self.bootstrap, &self.topic)
    }

    /// The ledger a state location's job holds: each key with its groups' value hashes.
    fn ledger(&self, state: &str) -> Vec<(u64, Vec<u64>)> {
        let dir = self.job_dir(state);
        let head: Value =
            serde_json::from_slice(&std::fs::read(dir.join("HEAD.json")).unwrap()).unwrap();
        let file = head["ledger"].as_str().expect("a ledger file");
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let groups = ["orders".to_string(), "profile".to_string()];
        let mut ledger = onfs_state::Ledger::from_parquet(bytes.into(), &groups).unwrap();
        // With the change files the head lists, in turn.
        for change in head["changes"].as_array().into_iter().flatten() {
            let bytes = std::fs::read(dir.join(change.as_str().unwrap())).unwrap();
            ledger.apply(onfs_state::Updates::from_parquet(bytes.into(), &groups).unwrap());
        }
        let mut values: Vec<(u64, Vec<u64>)> =
            ledger.values().map(|(k, h)| (k, h.to_vec())).collect();
        values.sort();
        values
    }

    /// What a clean run of the same data leaves (to another topic and state).
    fn clean_ledger(&self) -> Vec<(u64, Vec<u64>)> {
        let state = p(&self.f.path("clean-state")).to_string();
        let clean_topic = unique_topic("clean");
        create_topic(&self.bootstrap, &clean_topic, 2);
        let mut args = self.args(&state, &[]);
        let at = args.iter().position(|a| a == "--topic").unwrap();
        args[at + 1] = clean_topic;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = onfs(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        self.ledger(&state)
    }

    /// After the rerun: every row is on the topic, the ledger is a clean run's, and a third run
    /// sends nothing.
    fn assert_complete(&self) {
        let mut keys: Vec<i64> = self
            .on_topic()
            .iter()
            .flat_map(|r| decode(&r.value).data)
            .map(|d| d.key_values[0].parse().unwrap())
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys, (0..ROWS).collect::<Vec<i64>>(), "every row landed");
        assert_eq!(self.ledger(&self.state), self.clean_ledger());
        assert!(
            !self.area().join("PENDING.json").exists(),
            "the resume area is emptied"
        );
        let before = self.on_topic().len();
        let (_, report) = self.rerun();
        assert_eq!(report["messages"], 0, "{report}");
        assert_eq!(self.on_topic().len(), before);
    }
}

fn acked(area: &Path) -> u64 {
    std::fs::metadata(area.join("ACKED"))
        .map(|m| m.len() / 8)
        .unwrap_or(0)
}

/// Cut, then rerun: the rerun sends exactly the messages not acknowledged before the cut.
fn cut_and_resume(job: &Job, acknowledged_before: u64, delivered_before: usize) {
    let (run, report) = job.rerun();
    let resumed = &report["resumed"][0];
    assert_eq!(resumed["messages"], MESSAGES, "{}", run.stderr);
    assert_eq!(
        resumed["acknowledged"], acknowledged_before,
        "{}",
        run.stderr
    );
    assert_eq!(
        resumed["sent"],
        MESSAGES - acknowledged_before,
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("resumed run"), "{}", run.stderr);
    assert_eq!(
        job.on_topic().len() as u64,
        delivered_before as u64 + MESSAGES - acknowledged_before,
        "no acknowledged message is sent again"
    );
    job.assert_complete();
}

#[test]
fn killed_while_encoding_the_rerun_starts_over() {
    let job = Job::new("cut-encoding");
    let area = job.f.path("state");
    job.cut("run-encoded=sleep(60000)", &[], |_| {
        find(&area, "manifest.json").is_some() || find(&area, "messages").is_some()
    });
    assert!(!job.area().join("PENDING.json").exists());
    assert_eq!(job.on_topic().len(), 0);
    let (_, report) = job.rerun();
    assert_eq!(
        report["resumed"],
        Value::Null,
        "nothing to resume: {report}"
    );
    assert_eq!(report["messages"], MESSAGES);
    assert_eq!(job.on_topic().len() as u64, MESSAGES);
    job.assert_complete();
}

#[test]
fn killed_before_its_first_message_the_rerun_sends_the_spool() {
    let job = Job::new("cut-start");
    job.cut("run-sealed=sleep(60000)", &[], |_| {
        job.area().join("PENDING.json").exists()
    });
    assert_eq!(job.on_topic().len(), 0);
    cut_and_resume(&job, 0, 0);
}

#[test]
fn killed_mid_delivery_the_rerun_sends_only_what_was_not_acknowledged() {
    let job = Job::new("cut-middle");
    // 100 rows/s: four seconds of sending, cut after a quarter.
    job.cut("", &["--max-rate", "100"], |_| acked(&job.area()) >= 25);
    let a = acked(&job.area());
    assert!(a < MESSAGES, "cut before the end: {a}");
    let delivered = job.on_topic().len();
    assert!(
        delivered as u64 >= a,
        "{delivered} on the topic, {a} acknowledged"
    );
    assert!(
        !job.job_dir(&job.state).join("HEAD.json").exists(),
        "nothing committed"
    );
    cut_and_resume(&job, a, delivered);
}

/// A pass that changed few keys seals its sends, not the whole ledger; cut before its first
/// message, the rerun sends its spool and records the sends as a change file.
#[test]
fn a_cut_pass_of_few_changes_resumes_from_its_sends() {
    let job = Job::new("cut-changes");
    let (_, first) = job.rerun();
    assert_eq!(first["messages"], MESSAGES);
    // 40 of 400 entities change their orders: 10 messages of 4.
    let day2: Vec<Row> = rows()
        .into_iter()
        .map(|(i, o, g)| (i, if i < 40 { o + 1 } else { o }, g))
        .collect();
    job.f.day("2026-11-02", &day2);
    job.cut("run-sealed=sleep(60000)", &[], |_| {
        job.area().join("PENDING.json").exists()
    });
    assert!(job.area().join("sends.parquet").is_file());
    assert!(!job.area().join("ledger.parquet").exists());
    let before = job.on_topic().len();
    let (run, report) = job.rerun();
    let resumed = &report["resumed"][0];
    assert_eq!(resumed["messages"], 10, "{}", run.stderr);
    assert_eq!(resumed["sent"], 10, "{}", run.stderr);
    assert_eq!(job.on_topic().len(), before + 10);
    let head: Value =
        serde_json::from_slice(&std::fs::read(job.job_dir(&job.state).join("HEAD.json")).unwrap())
            .unwrap();
    assert_eq!(head["change_keys"], 40, "{head}");
    job.assert_complete();
}

#[test]
fn killed_while_committing_the_rerun_sends_nothing_and_commits() {
    let job = Job::new("cut-commit");
    job.cut("run-commit=sleep(60000)", &[], |line| {
        line.contains(" delivered, 0 failed")
    });
    assert_eq!(acked(&job.area()), MESSAGES);
    assert_eq!(job.on_topic().len() as u64, MESSAGES);
    cut_and_resume(&job, MESSAGES, MESSAGES as usize);
}

#[test]
fn killed_after_its_commit_the_rerun_finds_the_pass_pushed() {
    let job = Job::new("cut-committed");
    job.cut("run-committed=sleep(60000)", &[], |_| {
        job.job_dir(&job.state).join("HEAD.json").exists()
    });
    assert!(
        job.area().join("PENDING.json").exists(),
        "cut before it was emptied"
    );
    let (run, report) = job.rerun();
    assert_eq!(report["resumed"], Value::Null, "{report}");
    assert!(run.stderr.contains("pushed by run"), "{}", run.stderr);
    assert_eq!(job.on_topic().len() as u64, MESSAGES);
    job.assert_complete();
}

/// The broker goes down mid-delivery for longer than the delivery timeout: the run fails with
/// its counts and leaves the ledger as it was; once the broker is back, the same command sends
/// the rest.
#[test]
fn a_failed_delivery_leaves_the_ledger_and_the_rerun_sends_the_rest() {
    let broker_dir = tempfile::Builder::new()
        .prefix("onfs-kafka-resume-")
        .tempdir()
        .unwrap();
    let env = start_broker(Some(broker_dir.path()));
    let job = Job::on("down", &env["ONFS_KAFKA_BOOTSTRAP"]);
    let args = job.args(
        &job.state,
        &[
            "--max-rate",
            "100",
            "--kafka-option",
            "kafka.delivery.timeout.ms=3000",
        ],
    );
    let run = std::thread::scope(|s| {
        let runner = s.spawn(|| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            onfs(&args)
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked(&job.area()) < 20 {
            assert!(Instant::now() < deadline, "no delivery");
            std::thread::sleep(Duration::from_millis(20));
        }
        broker_script("kill9", Some(broker_dir.path()));
        runner.join().unwrap()
    });
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("not delivered"), "{}", run.stderr);
    assert!(run.stderr.contains("left as it was"), "{}", run.stderr);
    assert!(!job.job_dir(&job.state).join("HEAD.json").exists());
    let status = onfs(&["status", "--state", &job.state]);
    assert!(status.stdout.contains("pending: run"), "{}", status.stdout);
    let a = acked(&job.area());
    broker_script("restart", Some(broker_dir.path()));
    let delivered = job.on_topic().len();
    cut_and_resume(&job, a, delivered);
    broker_script("stop", Some(broker_dir.path()));
}

/// The first file or folder named `name` under `dir`.
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let path = e.path();
        if e.file_name() == name {
            return Some(path);
        }
        if path.is_dir() {
            if let Some(found) = find(&path, name) {
                return Some(found);
            }
        }
    }
    None
}
