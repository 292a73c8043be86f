//! The metrics of runs in Prometheus' text format: served by `watch --listen` at `/metrics`,
//! written by `run --metrics-file` for node_exporter's textfile collector. Every series is
//! labelled with the job; delivery counts of a run of several jobs go to `job=""`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::cmd::run::report::RunReport;

/// Every metric name, for dashboards (listed in the README).
pub const NAMES: &[(&str, &str)] = &[
    ("onfs_push_runs_total", "runs by outcome (ok, failed)"),
    (
        "onfs_push_rows_read_total",
        "rows read from the sources after the join",
    ),
    (
        "onfs_push_rows_sent_total",
        "rows encoded into messages and sent",
    ),
    ("onfs_push_messages_total", "messages sent"),
    ("onfs_push_bytes_total", "message bytes sent"),
    (
        "onfs_push_delivered_messages_total",
        "messages with a successful delivery report",
    ),
    (
        "onfs_push_failed_messages_total",
        "messages whose delivery failed",
    ),
    (
        "onfs_push_last_success_timestamp_seconds",
        "when the job last ran successfully",
    ),
    (
        "onfs_push_last_partition_info",
        "the partition of each source last pushed (value 1)",
    ),
    (
        "onfs_push_run_duration_seconds",
        "histogram of run durations",
    ),
    (
        "onfs_push_source_lag_seconds",
        "how long the newest partition has waited to be pushed (0: pushed)",
    ),
    (
        "onfs_push_partition_pending",
        "1 while the newest partition is not pushed yet",
    ),
    (
        "onfs_push_consecutive_failures",
        "failed runs since the last success",
    ),
];

fn help(name: &str) -> &'static str {
    NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, h)| *h)
        .expect("a listed metric")
}

pub struct Metrics {
    registry: Registry,
    runs: IntCounterVec,
    rows_read: IntCounterVec,
    rows_sent: IntCounterVec,
    messages: IntCounterVec,
    bytes: IntCounterVec,
    delivered: IntCounterVec,
    failed: IntCounterVec,
    last_success: GaugeVec,
    last_partition: IntGaugeVec,
    run_seconds: HistogramVec,
    source_lag: GaugeVec,
    pending: IntGaugeVec,
    failures: IntGaugeVec,
    /// (job, source) -> the partition of its `last_partition` series.
    last_pushed: Mutex<HashMap<(String, String), String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help(name)), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("registered once");
            c
        };
        let gauge = |name: &str| {
            let g = GaugeVec::new(Opts::new(name, help(name)), &["job"]).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let int_gauge = |name: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help(name)), labels).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let name = "onfs_push_run_duration_seconds";
        let run_seconds = HistogramVec::new(
            HistogramOpts::new(name, help(name)).buckets(vec![
                1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
            ]),
            &["job"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(run_seconds.clone()))
            .expect("registered once");
        Metrics {
            runs: counter("onfs_push_runs_total", &["job", "outcome"]),
            rows_read: counter("onfs_push_rows_read_total", &["job"]),
            rows_sent: counter("onfs_push_rows_sent_total", &["job"]),
            messages: counter("onfs_push_messages_total", &["job"]),
            bytes: counter("onfs_push_bytes_total", &["job"]),
            delivered: counter("onfs_push_delivered_messages_total", &["job"]),
            failed: counter("onfs_push_failed_messages_total", &["job"]),
            last_success: gauge("onfs_push_last_success_timestamp_seconds"),
            last_partition: int_gauge(
                "onfs_push_last_partition_info",
                &["job", "source", "partition"],
            ),
            source_lag: gauge("onfs_push_source_lag_seconds"),
            pending: int_gauge("onfs_push_partition_pending", &["job"]),
            failures: int_gauge("onfs_push_consecutive_failures", &["job"]),
            run_seconds,
            registry,
            last_pushed: Mutex::default(),
        }
    }

    /// Adds what a run did (`ok`: it succeeded). `job`: the one job it ran, when known (a run
    /// that failed before its job began has none in its report).
    pub fn record_run(&self, report: &RunReport, ok: bool, job: Option<&str>) {
        let run_job = match (job, report.jobs.as_slice()) {
            (Some(name), _) => name.to_string(),
            (None, [one]) => one.name.clone(),
            _ => String::new(),
        };
        for job in &report.jobs {
            let l = [job.name.as_str()];
            for pass in &job.passes {
                self.rows_read
                    .with_label_values(&l)
                    .inc_by(pass.rows_after_join);
                self.rows_sent.with_label_values(&l).inc_by(pass.rows);
                self.messages.with_label_values(&l).inc_by(pass.messages);
                self.bytes.with_label_values(&l).inc_by(pass.bytes);
            }
            if let (true, Some(last)) = (ok, job.passes.last()) {
                // One series per source: the partition last pushed.
                let mut last_pushed = self.last_pushed.lock().unwrap_or_else(|e| e.into_inner());
                for src in &last.sources {
                    let partition = src.partition.clone().unwrap_or_default();
                    let key = (job.name.clone(), src.source.clone());
                    if let Some(before) = last_pushed.insert(key, partition.clone()) {
                        if before != partition {
                            let _ = self.last_partition.remove_label_values(&[
                                &job.name,
                                &src.source,
                                &before,
                            ]);
                        }
                    }
                    self.last_partition
                        .with_label_values(&[job.name.as_str(), src.source.as_str(), &partition])
                        .set(1);
                }
            }
            if ok {
                self.last_success.with_label_values(&l).set(unix_seconds());
            }
        }
        let l = [run_job.as_str()];
        self.delivered
            .with_label_values(&l)
            .inc_by(report.delivered.unwrap_or(0));
        self.failed
            .with_label_values(&l)
            .inc_by(report.failed.unwrap_or(0));
        self.runs
            .with_label_values(&[run_job.as_str(), if ok { "ok" } else { "failed" }])
            .inc();
        self.run_seconds
            .with_label_values(&l)
            .observe(report.seconds.total);
        let failures = self.failures.with_label_values(&l);
        if ok {
            failures.set(0);
        } else {
            failures.inc();
        }
    }

    /// A job's newest partition: pushed, or waiting since `waiting` seconds.
    pub fn record_poll(&self, job: &str, waiting: Option<f64>) {
        self.pending
            .with_label_values(&[job])
            .set(waiting.is_some() as i64);
        self.source_lag
            .with_label_values(&[job])
            .set(waiting.unwrap_or(0.0));
    }

    /// Every series in the text format.
    pub fn text(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).expect("utf-8")
    }

    /// Writes the text format to `path` (through a temporary file renamed over it, so the
    /// textfile collector never reads half a file).
    pub fn write_file(&self, path: &Path) -> std::io::Result<()> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "metrics".into());
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        std::fs::write(&tmp, self.text())?;
        std::fs::rename(&tmp, path)
    }
}

fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::run::report::JobReport;

    fn report(rows: u64) -> RunReport {
        RunReport {
            jobs: vec![JobReport {
                name: "users".into(),
                passes: vec![onfs_pipeline::PassReport {
                    rows,
                    rows_after_join: rows + 1,
                    messages: 2,
                    bytes: 100,
                    sources: vec![onfs_sources::SourceRead {
                        source: "db.users".into(),
                        partition: Some(format!("2026-11-0{rows}")),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            delivered: Some(2),
            failed: Some(0),
            ..Default::default()
        }
    }

    #[test]
    fn runs_add_up_and_the_last_partition_replaces_the_one_before() {
        let m = Metrics::new();
        m.record_run(&report(1), true, None);
        m.record_run(&report(2), true, None);
        m.record_run(&report(3), false, None);
        m.record_run(&RunReport::default(), false, Some("users"));
        let text = m.text();
        for line in [
            r#"onfs_push_rows_sent_total{job="users"} 6"#,
            r#"onfs_push_rows_read_total{job="users"} 9"#,
            r#"onfs_push_delivered_messages_total{job="users"} 6"#,
            r#"onfs_push_runs_total{job="users",outcome="ok"} 2"#,
            r#"onfs_push_runs_total{job="users",outcome="failed"} 2"#,
            r#"onfs_push_last_partition_info{job="users",partition="2026-11-02",source="db.users"} 1"#,
            r#"onfs_push_consecutive_failures{job="users"} 2"#,
            r#"onfs_push_run_duration_seconds_count{job="users"} 4"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains("2026-11-01"), "{text}");
        assert!(!text.contains("2026-11-03"), "a failed run is not pushed");
    }

    #[test]
    fn a_poll_says_whether_the_newest_partition_waits() {
        let m = Metrics::new();
        m.record_poll("users", Some(12.5));
        let text = m.text();
        assert!(
            text.contains("onfs_push_partition_pending{job=\"users\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("onfs_push_source_lag_seconds{job=\"users\"} 12.5"),
            "{text}"
        );
        m.record_poll("users", None);
        assert!(m
            .text()
            .contains("onfs_push_source_lag_seconds{job=\"users\"} 0"));
    }
}
