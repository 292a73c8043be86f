//! `--state`: each job's lock and ledger, held for the run and committed once everything it
//! sent was delivered (else given back untouched).

use std::collections::BTreeMap;

use onfs_core::Plan;
use onfs_pipeline::{Changes, GroupCounts, PassReport, MAX_GROUPS};
use onfs_sources::{SourceRead, StorageOptions};
use onfs_state::{JobState, Ledger, RunRecord, StateError, StateLocation};
use serde::Serialize;

use super::settings::StateSettings;
use crate::error::{failed, usage, CliError, CliResult};

fn state_error(e: StateError) -> CliError {
    if e.is_usage() {
        usage(e)
    } else {
        failed(e)
    }
}

/// A commit that failed after everything was delivered: what holds and what to do.
fn not_recorded(e: StateError, location: &str) -> CliError {
    failed(anyhow::anyhow!(
        "{e}\nevery message was delivered (or written to --out), but the state at {location} \
         does not record this run (its lock was given back): the next run sends these rows \
         again; free space there (or fix its access), then run again"
    ))
}

/// Each source of a pass with its partition: what the ledger records as pushed.
pub fn partitions(sources: &[SourceRead]) -> Vec<(String, Option<String>)> {
    sources
        .iter()
        .map(|s| (s.source.clone(), s.partition.clone()))
        .collect()
}

/// What the state location says after the run, for the summary and `--report`.
#[derive(Debug, Default, Serialize)]
pub struct StateReport {
    pub location: String,
    /// Whether the run's ledger was committed (false: a dry run, or nothing was delivered).
    pub committed: bool,
    pub jobs: Vec<JobLedger>,
}

#[derive(Debug, Default, Serialize)]
pub struct JobLedger {
    pub job: String,
    pub run: String,
    pub keys: u64,
    pub ledger_bytes: u64,
}

struct Held {
    state: JobState,
    ledger: Option<Ledger>,
    passes: Vec<Vec<(String, Option<String>)>>,
    record: RunRecord,
}

pub struct Ledgers<'a> {
    settings: Option<&'a StateSettings>,
    location: Option<StateLocation>,
    held: Vec<Held>,
}

impl<'a> Ledgers<'a> {
    pub fn open(settings: Option<&'a StateSettings>, storage: &StorageOptions) -> CliResult<Self> {
        let location = match settings {
            Some(s) => Some(StateLocation::open(&s.location, storage).map_err(state_error)?),
            None => None,
        };
        Ok(Ledgers {
            settings,
            location,
            held: Vec::new(),
        })
    }

    /// Takes the job's lock; with --changed-only, the ledger to compare with.
    pub fn begin_job(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        name: &str,
        plan: &Plan,
        output: &str,
    ) -> CliResult<Option<Changes>> {
        let (Some(settings), Some(location)) = (self.settings, &self.location) else {
            return Ok(None);
        };
        let groups: Vec<String> = plan
            .feature_groups
            .iter()
            .map(|g| g.label.clone())
            .collect();
        if settings.changed_only && groups.len() > MAX_GROUPS {
            return Err(usage(anyhow::anyhow!(
                "{name}: --changed-only tracks at most {MAX_GROUPS} feature groups per job and this one pushes {}; split it with --fgs",
                groups.len()
            )));
        }
        let state = runtime
            .block_on(JobState::open(location, name, &groups))
            .map_err(state_error)?;
        let changes = if settings.changed_only {
            match runtime.block_on(state.ledger()) {
                Ok(ledger) => Some(Changes::new(ledger, settings.refresh_after)),
                Err(e) => {
                    let _ = runtime.block_on(state.release());
                    return Err(state_error(e));
                }
            }
        } else {
            None
        };
        self.held.push(Held {
            state,
            ledger: None,
            passes: Vec::new(),
            record: RunRecord {
                output: output.to_string(),
                ..Default::default()
            },
        });
        Ok(changes)
    }

    /// The run that pushed exactly these partitions, unless --force (or no --state).
    pub fn pushed_by(&self, sources: &[SourceRead]) -> Option<String> {
        let settings = self.settings?;
        if settings.force {
            return None;
        }
        let held = self.held.last()?;
        held.state
            .head
            .pushed_pass(&partitions(sources))
            .map(|p| p.run.clone())
    }

    pub fn record_pass(&mut self, pass: &PassReport) {
        if let Some(h) = self.held.last_mut() {
            h.passes.push(partitions(&pass.sources));
            h.record.rows += pass.rows;
            h.record.messages += pass.messages;
            h.record.bytes += pass.bytes;
        }
    }

    /// Everything sent so far was delivered: records the job's passes so far (and with
    /// --changed-only its ledger), keeping the lock; a run cut later leaves them pushed.
    pub fn checkpoint(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        changes: Option<&Changes>,
    ) -> CliResult<()> {
        let Some(h) = self.held.last_mut() else {
            return Ok(());
        };
        let ledger = changes.map(|c| c.ledger());
        runtime
            .block_on(h.state.checkpoint(ledger.as_deref(), &h.passes))
            .map_err(state_error)
    }

    pub fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    /// The job's passes are done: with --changed-only, its ledger and counts per group.
    pub fn end_job(&mut self, changes: Option<Changes>) -> Option<BTreeMap<String, GroupCounts>> {
        let changes = changes?;
        let counts = changes.counts();
        if let Some(h) = self.held.last_mut() {
            h.record.groups = counts
                .iter()
                .map(|(g, c)| {
                    let m = [
                        ("new", c.new),
                        ("changed", c.changed),
                        ("unchanged", c.unchanged),
                        ("refreshed", c.refreshed),
                    ];
                    (
                        g.clone(),
                        m.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                    )
                })
                .collect();
            h.ledger = Some(changes.into_ledger());
        }
        Some(counts)
    }

    /// Everything was delivered: records each job's run and ledger, and gives the locks back.
    pub fn commit(self, runtime: &tokio::runtime::Runtime) -> CliResult<Option<StateReport>> {
        let Some(location) = self.settings.map(|s| s.location.clone()) else {
            return Ok(None);
        };
        let mut report = StateReport {
            location,
            committed: true,
            jobs: Vec::new(),
        };
        let mut first_error = None;
        for h in self.held {
            let run = h.state.run_id().to_string();
            let job = h.state.head.job.clone();
            match runtime.block_on(h.state.commit(h.ledger.as_ref(), h.record, h.passes)) {
                Ok(head) => report.jobs.push(JobLedger {
                    job,
                    run,
                    keys: head.keys,
                    ledger_bytes: head.ledger_bytes,
                }),
                Err(e) => {
                    first_error.get_or_insert(not_recorded(e, &report.location));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(Some(report)),
        }
    }

    /// The run failed or sent nothing for good: every lock given back, nothing recorded.
    pub fn release(self, runtime: &tokio::runtime::Runtime) -> Option<StateReport> {
        let location = self.settings.map(|s| s.location.clone())?;
        for h in &self.held {
            if let Err(e) = runtime.block_on(h.state.release()) {
                tracing::warn!("{e}");
            }
        }
        Some(StateReport {
            location,
            committed: false,
            jobs: Vec::new(),
        })
    }
}
