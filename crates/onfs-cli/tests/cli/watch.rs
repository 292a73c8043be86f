//! `onfs-push watch` against the real broker and a real Prometheus server: each new partition is
//! pushed once (counted on the topic), a restart pushes nothing again, SIGTERM exits 0, and the
//! metrics a Prometheus server scrapes agree with what was sent; `run --metrics-file` writes a
//! file promtool accepts.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Int64Array, RecordBatch};

use crate::support::*;

/// One table per job: `db.<name>` with an Int64 key and one Int64 feature, partitioned by
/// process_date.
fn metadata(name: &str) -> String {
    metadata_of(name, "TABLE", &format!("db.{name}"))
}

/// Job `name`'s metadata: one source of storage provider `provider` at `source`, an Int64 key
/// `<name>_id` and one Int64 feature `n`.
fn metadata_of(name: &str, provider: &str, source: &str) -> String {
    format!(
        r#"{{"keys": {{"{name}": ["{name}_id"]}}, "data": [{{"storage-provider": "{provider}", "base-path": [{{"source-base-path": "{source}", "data-paths": [
    {{"entity-label": "{name}", "feature-group-label": "{name}_stats", "feature-label": "n", "source-data-column": "n", "default-value": "0", "data-type": "DataTypeInt64"}}]}}]}}]}}"#
    )
}

/// Rows of job `name`'s keys `first..first+rows` (`n = 7 * i`), with a `ts` column when given.
fn job_rows(name: &str, first: i64, rows: i64, ts: Option<&str>) -> RecordBatch {
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(first..first + rows));
    let n: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i * 7)));
    let mut columns = vec![(format!("{name}_id"), ids), ("n".to_string(), n)];
    if let Some(ts) = ts {
        let t: ArrayRef = Arc::new(arrow_array::StringArray::from_iter_values(
            std::iter::repeat_n(ts, rows as usize),
        ));
        columns.push(("ts".to_string(), t));
    }
    RecordBatch::try_from_iter(columns).unwrap()
}

fn write_parquet(path: &std::path::Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// Appends `batch` to the Delta table at `dir` (created partitioned by `ts` on first write): a
/// new version of the table.
fn delta_append(dir: &std::path::Path, batch: RecordBatch) {
    std::fs::create_dir_all(dir).unwrap();
    let url = url::Url::from_directory_path(dir.canonicalize().unwrap()).unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        deltalake::DeltaTable::try_from_url(url)
            .await
            .unwrap()
            .write(vec![batch])
            .with_partition_columns(["ts"])
            .with_save_mode(deltalake::protocol::SaveMode::Append)
            .await
            .unwrap();
    });
}

/// Rows on `topic` per job, told apart by the entity label.
fn rows_per_job(bootstrap: &str, topic: &str) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for r in read_topic(bootstrap, topic) {
        let q = decode(&r.value);
        *out.entry(q.entity_label.clone()).or_default() += q.data.len();
    }
    out
}

struct Setup {
    tmp: tempfile::TempDir,
    topic: String,
    bootstrap: String,
}

impl Setup {
    fn new(jobs: &[&str]) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let bootstrap = broker().bootstrap.clone();
        let topic = unique_topic("watch");
        create_topic(&bootstrap, &topic, 2);
        let mut cfg = String::from("[tables]\n");
        for j in jobs {
            std::fs::write(tmp.path().join(format!("{j}.json")), metadata(j)).unwrap();
            cfg += &format!(
                "\"db.{j}\" = {{ format = \"parquet\", location = \"{}\" }}\n",
                tmp.path().join(j).display()
            );
        }
        cfg += &format!(
            "[source]\npartition_columns = {{ table = \"process_date\" }}\n[encode]\nbatch_size = 4\n\
             [kafka]\nbrokers = \"{bootstrap}\"\ntopic = \"{topic}\"\n[state]\nlocation = \"{}\"\n",
            tmp.path().join("state").display()
        );
        for j in jobs {
            cfg += &format!(
                "[[jobs]]\nname = \"{j}\"\nmetadata_file = \"{}\"\n",
                tmp.path().join(format!("{j}.json")).display()
            );
        }
        std::fs::write(tmp.path().join("job.toml"), cfg).unwrap();
        Setup {
            tmp,
            topic,
            bootstrap,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Writes partition `day` of `db.<job>`: keys `first..first+rows`.
    fn day(&self, job: &str, day: &str, first: i64, rows: i64) {
        let dir = self.path(job).join(format!("process_date={day}"));
        std::fs::create_dir_all(&dir).unwrap();
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(first..first + rows));
        let n: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i * 7)));
        let batch =
            RecordBatch::try_from_iter([(format!("{job}_id"), ids), ("n".to_string(), n)]).unwrap();
        // Written aside and renamed in: the partition appears complete.
        let tmp = self.path(&format!("{job}-{day}.parquet"));
        let file = std::fs::File::create(&tmp).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        std::fs::rename(&tmp, dir.join("part-0.parquet")).unwrap();
    }

    fn rows_on_topic(&self) -> usize {
        read_topic(&self.bootstrap, &self.topic)
            .iter()
            .map(|r| decode(&r.value).data.len())
            .sum()
    }

    /// `watch` over the job file, polling every second, `extra` added.
    fn watch(&self, extra: &[&str]) -> Watching {
        Watching(Some(
            onfs_command()
                .args([
                    "watch",
                    "--config",
                    p(&self.path("job.toml")),
                    "--interval",
                    "1s",
                ])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn get(url: &str) -> (u16, String) {
    match ureq::get(url).call() {
        Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap()),
        Err(ureq::Error::StatusCode(code)) => (code, String::new()),
        Err(e) => panic!("{url}: {e}"),
    }
}

/// The value of the series `name{labels}` in a text-format scrape.
fn series(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

/// A running watch, killed if the test ends without stopping it.
struct Watching(Option<Child>);

impl Drop for Watching {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// SIGTERM, then the exit code within `limit`.
fn terminate(mut watching: Watching, limit: Duration) -> i32 {
    let mut child = watching.0.take().expect("running");
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("watch did not stop within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn prometheus_bin() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo().join("scripts/prometheus.sh"))
        .output()
        .expect("run scripts/prometheus.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(stdout.lines().last().unwrap().trim())
}

/// A Prometheus server scraping `target` every second; stopped when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        // honor_labels: the series keep their own `job` label (the onfs-push job).
        let cfg = format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: onfs-push\n    honor_labels: true\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), cfg).unwrap();
        let port = free_port();
        let child = Command::new(prometheus_bin().join("prometheus"))
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// The value of an instant query with one series, if it has one.
    fn query(&self, q: &str) -> Option<f64> {
        let url = format!("{}/api/v1/query", self.url);
        let mut r = ureq::get(&url).query("query", q).call().ok()?;
        let v: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

#[test]
fn watch_pushes_each_new_partition_once_and_prometheus_sees_it() {
    let s = Setup::new(&["users", "items"]);
    s.day("users", "2026-11-01", 0, 10);
    s.day("items", "2026-11-01", 1000, 6);
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let prometheus = Prometheus::start(&listen);
    let watch = s.watch(&["--listen", &listen]);
    wait_for("the first partitions", Duration::from_secs(60), || {
        s.rows_on_topic() == 16
    });
    assert_eq!(get(&format!("{base}/healthz")).0, 200);
    wait_for("ready", Duration::from_secs(10), || {
        get(&format!("{base}/readyz")).0 == 200
    });
    // A new partition of one job, while it runs: pushed once, within two intervals or so.
    s.day("users", "2026-11-02", 0, 10);
    wait_for("the new partition", Duration::from_secs(30), || {
        s.rows_on_topic() == 26
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(s.rows_on_topic(), 26, "each partition is pushed once");
    let (code, text) = get(&format!("{base}/metrics"));
    assert_eq!(code, 200);
    assert_eq!(
        series(&text, r#"onfs_push_rows_sent_total{job="users"}"#),
        Some(20.0),
        "{text}"
    );
    assert_eq!(
        series(&text, r#"onfs_push_rows_sent_total{job="items"}"#),
        Some(6.0)
    );
    assert_eq!(
        series(
            &text,
            r#"onfs_push_last_partition_info{job="users",partition="2026-11-02",source="db.users"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series(&text, r#"onfs_push_partition_pending{job="users"}"#),
        Some(0.0)
    );
    // The Prometheus server scraped the same counts.
    wait_for("Prometheus to scrape", Duration::from_secs(30), || {
        prometheus.query(r#"onfs_push_rows_sent_total{job="users"}"#) == Some(20.0)
    });
    assert_eq!(
        prometheus.query(r#"onfs_push_delivered_messages_total{job="items"}"#),
        Some(2.0),
        "6 rows in messages of 4"
    );
    assert_eq!(terminate(watch, Duration::from_secs(20)), 0);
    // Started again: the ledger says both partitions were pushed; nothing is sent.
    let watch = s.watch(&["--listen", &listen]);
    wait_for(
        "ready again",
        Duration::from_secs(30),
        || matches!(ureq::get(&format!("{base}/readyz")).call(), Ok(r) if r.status() == 200),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.rows_on_topic(), 26, "a restart pushes nothing again");
    let (_, text) = get(&format!("{base}/metrics"));
    assert_eq!(
        series(&text, r#"onfs_push_rows_sent_total{job="users"}"#),
        None,
        "nothing sent since the restart: {text}"
    );
    assert_eq!(terminate(watch, Duration::from_secs(20)), 0);
}

#[test]
fn watch_refuses_what_it_cannot_do() {
    let s = Setup::new(&["users"]);
    let cfg = p(&s.path("job.toml")).to_string();
    for (extra, says) in [
        (vec!["--partition", "2026-11-01"], "--partition"),
        (vec!["--force"], "--force"),
        (vec!["--interval", "never"], "--interval"),
    ] {
        let mut args = vec!["watch", "--config", cfg.as_str()];
        args.extend(extra);
        let run = onfs(&args);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains(says), "{}", run.stderr);
    }
    let no_state = s.path("no-state.toml");
    let text = std::fs::read_to_string(s.path("job.toml")).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("[state]") && !l.starts_with("location"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&no_state, text).unwrap();
    let run = onfs(&["watch", "--config", p(&no_state)]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--state"), "{}", run.stderr);
}

#[test]
fn a_run_writes_its_metrics_for_the_textfile_collector() {
    let s = Setup::new(&["users"]);
    s.day("users", "2026-11-01", 0, 10);
    let file = s.path("onfs.prom");
    let run = onfs(&[
        "run",
        "--config",
        p(&s.path("job.toml")),
        "--metrics-file",
        p(&file),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&file).unwrap();
    let promtool = Command::new(prometheus_bin().join("promtool"))
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        promtool.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&promtool.stdout),
        String::from_utf8_lossy(&promtool.stderr)
    );
    assert_eq!(
        series(&text, r#"onfs_push_rows_sent_total{job="users"}"#),
        Some(10.0),
        "{text}"
    );
    assert_eq!(
        series(&text, r#"onfs_push_runs_total{job="users",outcome="ok"}"#),
        Some(1.0)
    );
    assert!(
        series(
            &text,
            r#"onfs_push_last_success_timestamp_seconds{job="users"}"#
        )
        .unwrap()
            > 1e9
    );
    assert_eq!(s.rows_on_topic(), 10);
}

/// SIGTERM while a partition is being delivered: the run in flight finishes, the watch exits 0,
/// and every row landed once.
#[test]
fn sigterm_during_delivery_finishes_the_run_and_exits_0() {
    let s = Setup::new(&["users"]);
    s.day("users", "2026-11-01", 0, 400);
    let watch = s.watch(&["--max-rate", "200"]);
    wait_for("the delivery to begin", Duration::from_secs(30), || {
        s.rows_on_topic() > 0
    });
    assert!(s.rows_on_topic() < 400, "stopped during the delivery");
    assert_eq!(terminate(watch, Duration::from_secs(30)), 0);
    assert_eq!(s.rows_on_topic(), 400, "every row landed once");
}

/// The broker down: the job fails and is tried again with backoff; once the broker is back,
/// the partition is pushed.
#[test]
fn a_job_failing_on_a_down_broker_is_retried_until_it_pushes() {
    let broker_dir = tempfile::Builder::new()
        .prefix("onfs-kafka-watch-")
        .tempdir()
        .unwrap();
    let env = start_broker(Some(broker_dir.path()));
    let bootstrap = env["ONFS_KAFKA_BOOTSTRAP"].clone();
    let topic = unique_topic("watch-down");
    create_topic(&bootstrap, &topic, 1);
    let s = Setup::new(&["users"]);
    let cfg = std::fs::read_to_string(s.path("job.toml"))
        .unwrap()
        .replace(&s.bootstrap, &bootstrap)
        .replace(&s.topic, &topic);
    std::fs::write(s.path("job.toml"), cfg).unwrap();
    let rows = || -> usize {
        read_topic(&bootstrap, &topic)
            .iter()
            .map(|r| decode(&r.value).data.len())
            .sum()
    };
    s.day("users", "2026-11-01", 0, 10);
    let listen = format!("127.0.0.1:{}", free_port());
    let watch = s.watch(&[
        "--max-backoff",
        "2s",
        "--kafka-connect-timeout",
        "2",
        "--listen",
        &listen,
    ]);
    wait_for("the first partition", Duration::from_secs(60), || {
        rows() == 10
    });
    broker_script("kill9", Some(broker_dir.path()));
    s.day("users", "2026-11-02", 0, 10);
    let metrics = format!("http://{listen}/metrics");
    wait_for("failed runs", Duration::from_secs(60), || {
        series(
            &get(&metrics).1,
            r#"onfs_push_consecutive_failures{job="users"}"#,
        )
        .is_some_and(|n| n >= 2.0)
    });
    broker_script("restart", Some(broker_dir.path()));
    wait_for(
        "the push once the broker is back",
        Duration::from_secs(90),
        || rows() == 20,
    );
    // The run that pushed it ends (commit, metrics) just after its rows land.
    wait_for("the success to be counted", Duration::from_secs(30), || {
        series(
            &get(&metrics).1,
            r#"onfs_push_consecutive_failures{job="users"}"#,
        ) == Some(0.0)
    });
    let text = get(&metrics).1;
    assert!(
        series(
            &text,
            r#"onfs_push_runs_total{job="users",outcome="failed"}"#
        )
        .unwrap()
            >= 2.0
    );
    assert_eq!(terminate(watch, Duration::from_secs(20)), 0);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(rows(), 20, "each partition once");
    broker_script("stop", Some(broker_dir.path()));
}

/// Two jobs of two kinds: Parquet partition folders, complete once `_SUCCESS` is written, and a
/// Delta table partitioned by `ts`. A new complete folder and a new Delta version are each
/// pushed once, soon after they appear; a folder without `_SUCCESS` is not; a restart pushes
/// nothing again; a Delta version adding rows to a pushed partition is pushed again only with
/// --repush-on-change, once.
#[test]
fn a_new_success_folder_and_a_new_delta_version_are_each_pushed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let bootstrap = broker().bootstrap.clone();
    let topic = unique_topic("watch-kinds");
    create_topic(&bootstrap, &topic, 1);
    let visits = tmp.path().join("visits");
    let scores = tmp.path().join("scores");
    let folder = |day: &str, first: i64, rows: i64, complete: bool| {
        let dir = visits.join(format!("ts={day}"));
        std::fs::create_dir_all(&dir).unwrap();
        write_parquet(
            &dir.join("part-0.parquet"),
            &job_rows("visits", first, rows, None),
        );
        if complete {
            std::fs::write(dir.join("_SUCCESS"), "").unwrap();
        }
    };
    folder("2026-11-01", 0, 5, true);
    delta_append(&scores, job_rows("scores", 100, 3, Some("2026-11-01")));
    let mut cfg = format!(
        "[encode]\nbatch_size = 4\n[kafka]\nbrokers = \"{bootstrap}\"\ntopic = \"{topic}\"\n\
         [state]\nlocation = \"{}\"\n",
        tmp.path().join("state").display()
    );
    for (name, provider, dir) in [
        ("visits", "PARQUET_S3", &visits),
        ("scores", "DELTA_S3", &scores),
    ] {
        let meta = tmp.path().join(format!("{name}.json"));
        std::fs::write(&meta, metadata_of(name, provider, p(dir))).unwrap();
        cfg += &format!(
            "[[jobs]]\nname = \"{name}\"\nmetadata_file = \"{}\"\n",
            meta.display()
        );
    }
    let config = tmp.path().join("job.toml");
    std::fs::write(&config, &cfg).unwrap();
    let interval = Duration::from_secs(2);
    let watch = |extra: &[&str]| {
        Watching(Some(
            onfs_command()
                .args(["watch", "--config", p(&config), "--interval", "2s"])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ))
    };
    let rows = |job: &str| {
        rows_per_job(&bootstrap, &topic)
            .get(job)
            .copied()
            .unwrap_or(0)
    };

    let w = watch(&[]);
    wait_for("the first partitions", Duration::from_secs(60), || {
        rows("visits") == 5 && rows("scores") == 3
    });
    // A folder without _SUCCESS (incomplete) and a new Delta version with a new partition.
    folder("2026-11-02", 0, 6, false);
    let landed = Instant::now();
    delta_append(&scores, job_rows("scores", 100, 4, Some("2026-11-02")));
    wait_for("the new Delta version", Duration::from_secs(60), || {
        rows("scores") == 7
    });
    // Noticed at the next look (an interval and its jitter), then pushed: a run here takes
    // a few seconds.
    assert!(
        landed.elapsed() < 2 * interval + Duration::from_secs(10),
        "pushed {:?} after it landed",
        landed.elapsed()
    );
    std::thread::sleep(3 * interval);
    assert_eq!(
        rows("visits"),
        5,
        "a folder without _SUCCESS is not complete"
    );
    std::fs::write(visits.join("ts=2026-11-02/_SUCCESS"), "").unwrap();
    wait_for("the folder once complete", Duration::from_secs(60), || {
        rows("visits") == 11
    });
    // A version adding to the pushed partition: not pushed again without repush_on_change.
    delta_append(&scores, job_rows("scores", 104, 2, Some("2026-11-02")));
    std::thread::sleep(3 * interval);
    assert_eq!(terminate(w, Duration::from_secs(30)), 0);
    assert_eq!(
        (rows("visits"), rows("scores")),
        (11, 7),
        "each pushed once"
    );

    // A restart: nothing again.
    let w = watch(&[]);
    std::thread::sleep(4 * interval);
    assert_eq!(terminate(w, Duration::from_secs(30)), 0);
    assert_eq!(
        (rows("visits"), rows("scores")),
        (11, 7),
        "a restart pushes nothing"
    );

    // With --repush-on-change, the partition the new version added to is pushed again, once.
    let w = watch(&["--repush-on-change"]);
    wait_for(
        "the changed partition again",
        Duration::from_secs(60),
        || rows("scores") == 13,
    );
    std::thread::sleep(3 * interval);
    assert_eq!(terminate(w, Duration::from_secs(30)), 0);
    assert_eq!(
        (rows("visits"), rows("scores")),
        (11, 13),
        "pushed again once"
    );
}

/// A job whose metadata service accepts connections and never answers: its look waits for
/// its timeout, and meanwhile the other job's partitions are pushed as they land.
#[test]
fn a_job_stuck_on_its_metadata_service_holds_back_no_other() {
    let s = Setup::new(&["users"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("http://{}/metadata", listener.local_addr().unwrap());
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let accepted = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for c in listener.incoming() {
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(c); // never answered
            }
        });
    }
    let cfg = std::fs::read_to_string(s.path("job.toml")).unwrap()
        + &format!("[[jobs]]\nname = \"stuck\"\nmetadata_url = \"{silent}\"\njob_id = \"stuck\"\njob_token = \"t\"\n");
    std::fs::write(s.path("job.toml"), cfg).unwrap();
    s.day("users", "2026-11-01", 0, 10);
    let watch = s.watch(&["--metadata-timeout", "40"]);
    wait_for("the stuck job's request", Duration::from_secs(30), || {
        accepted.load(std::sync::atomic::Ordering::SeqCst) > 0
    });
    let started = Instant::now();
    wait_for("the first partition", Duration::from_secs(30), || {
        s.rows_on_topic() == 10
    });
    s.day("users", "2026-11-02", 0, 10);
    wait_for("the second partition", Duration::from_secs(30), || {
        s.rows_on_topic() == 20
    });
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "pushed while the other job waited for its metadata: {:?}",
        started.elapsed()
    );
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "still on its first look"
    );
    // Stopping waits for runs in flight, not for a look stuck on its metadata service.
    assert_eq!(terminate(watch, Duration::from_secs(10)), 0);
    assert_eq!(s.rows_on_topic(), 20);
}
