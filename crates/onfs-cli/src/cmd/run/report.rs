//! The run's summary: printed at the end, and written as JSON with `--report FILE`.

use std::collections::BTreeMap;

use onfs_kafka::DeliveryReport;
use onfs_pipeline::PassReport;
use serde::Serialize;

#[derive(Debug, Default, Serialize)]
pub struct RunReport {
    pub dry_run: bool,
    pub output: String,
    pub jobs: Vec<JobReport>,
    pub rows: u64,
    pub messages: u64,
    pub bytes: u64,
    pub delivered: Option<u64>,
    pub failed: Option<u64>,
    pub delivered_per_partition: Option<BTreeMap<i32, u64>>,
    /// With --verify: per job, the sample read back from the store and how it compared.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verify: Vec<onfs_verify::VerifyReport>,
    /// With --state: the ledger's location and what was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<super::ledger::StateReport>,
    /// With --state: the passes of cut runs this run finished.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resumed: Vec<super::ledger::ResumedPass>,
    pub seconds: Durations,
}

#[derive(Debug, Default, Serialize)]
pub struct Durations {
    pub metadata: f64,
    pub read_and_encode: f64,
    pub deliver: f64,
    pub total: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct JobReport {
    pub name: String,
    pub entity_label: String,
    pub feature_groups: Vec<String>,
    pub passes: Vec<PassReport>,
    /// With --state: passes not run because a successful run pushed their partitions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedPass>,
    /// With --changed-only: per feature group, entities new, changed, unchanged, refreshed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_only: Option<BTreeMap<String, onfs_pipeline::GroupCounts>>,
}

#[derive(Debug, Default, Serialize)]
pub struct SkippedPass {
    /// Each source and its partition.
    pub partitions: Vec<(String, Option<String>)>,
    /// The run that pushed them.
    pub pushed_by: String,
    /// Sources whose partition's files changed since that run (not pushed again without
    /// repush_on_change).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_since: Vec<String>,
}

impl RunReport {
    pub fn add_delivery(&mut self, d: &DeliveryReport) {
        self.delivered = Some(d.delivered);
        self.failed = Some(d.failed);
        self.delivered_per_partition = Some(d.per_partition.clone());
    }

    /// A few human lines for stderr.
    /// The summary on stderr, a short line per step: what each job read, joined, encoded,
    /// and where it went.
    pub fn print(&self) {
        for r in &self.resumed {
            let parts: Vec<String> = r
                .partitions
                .iter()
                .map(|(s, p)| format!("{s} {}", p.as_deref().unwrap_or("(all rows)")))
                .collect();
            eprintln!(
                "{}: resumed run {} ({}): {} of its {} messages were delivered before it was cut; sent the other {}",
                r.job,
                r.run,
                parts.join(", "),
                r.acknowledged,
                r.messages,
                r.sent
            );
        }
        for job in &self.jobs {
            for skipped in &job.skipped {
                let parts: Vec<String> = skipped
                    .partitions
                    .iter()
                    .map(|(s, p)| format!("{s} {}", p.as_deref().unwrap_or("(all rows)")))
                    .collect();
                if skipped.changed_since.is_empty() {
                    eprintln!(
                        "{}: skipped {}: pushed by run {} (--force pushes again)",
                        job.name,
                        parts.join(", "),
                        skipped.pushed_by
                    );
                } else {
                    eprintln!(
                        "{}: skipped {}: pushed by run {}, but the files of {} changed since (--repush-on-change or [state] repush_on_change = true pushes such partitions again)",
                        job.name,
                        parts.join(", "),
                        skipped.pushed_by,
                        skipped.changed_since.join(", ")
                    );
                }
            }
            if let Some(groups) = &job.changed_only {
                let parts: Vec<String> = groups
                    .iter()
                    .map(|(g, c)| {
                        format!(
                            "{g} {} new, {} changed, {} unchanged, {} refreshed",
                            c.new, c.changed, c.unchanged, c.refreshed
                        )
                    })
                    .collect();
                eprintln!("{}: changed only: {}", job.name, parts.join("; "));
            }
            for pass in &job.passes {
                eprintln!("{}", job.name);
                for s in &pass.sources {
                    let part = match (&s.partition_column, &s.partition) {
                        (Some(c), Some(v)) => format!(" {c}={v}"),
                        _ => " (all rows)".into(),
                    };
                    let rows = s.rows.map(|r| format!(", {r} rows")).unwrap_or_default();
                    eprintln!("  read    {}{part}{rows}", s.source);
                }
                let filled: u64 = pass.defaults_filled.values().sum();
                eprintln!(
                    "  join    {} rows; dropped {} exact duplicates, {} null keys; {} defaults filled",
                    pass.rows_after_join,
                    pass.exact_duplicate_rows,
                    pass.dropped_null_key_rows,
                    filled,
                );
                eprintln!(
                    "  encode  {} rows in {} messages of up to {} rows ({:.1} MB) in {:.2}s",
                    pass.rows,
                    pass.messages,
                    pass.max_rows_per_message,
                    pass.bytes as f64 / 1e6,
                    pass.seconds
                );
                if let Some(line) = crate::store::fitted_summary(&pass.vectors) {
                    eprintln!("  {line}");
                }
                if pass.duplicate_keys > 0 {
                    let examples = pass.duplicate_key_examples.iter().take(3).cloned();
                    eprintln!(
                        "  keys    {} duplicate keys, e.g. {}",
                        pass.duplicate_keys,
                        examples.collect::<Vec<_>>().join("; ")
                    );
                }
            }
        }
        if let Some(state) = &self.state {
            let jobs: Vec<String> = state
                .jobs
                .iter()
                .map(|j| {
                    format!(
                        "{} run {} ({} keys, {} bytes)",
                        j.job, j.run, j.keys, j.ledger_bytes
                    )
                })
                .collect();
            if state.committed {
                eprintln!("ledger {}: recorded {}", state.location, jobs.join("; "));
            } else {
                eprintln!("ledger {}: left as it was", state.location);
            }
        }
        let rate = self.rows as f64 / self.seconds.read_and_encode.max(1e-9);
        eprintln!(
            "{}: {} rows, {} messages, {:.1} MB to {}",
            if self.dry_run {
                "dry run (nothing sent)"
            } else {
                "done"
            },
            self.rows,
            self.messages,
            self.bytes as f64 / 1e6,
            self.output,
        );
        eprintln!(
            "  {rate:.0} rows/s read+encode; {:.2}s in all",
            self.seconds.total
        );
    }
}
