//! `--state`: each job's lock and ledger, held for the run and committed once everything it
//! sent was delivered (else given back untouched).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use onfs_core::encode::by_groups::check_group_count;
use onfs_core::Plan;
use onfs_kafka::AckJournal;
use onfs_pipeline::{Changes, GroupCounts, PassReport};
use onfs_sources::{SourceRead, StorageOptions};
use onfs_state::{
    head_fingerprint, Acked, JobState, Ledger, NewLedger, PassSources, PendingPass, Pushed,
    ResumeArea, RunRecord, StateError, StateLocation, Updates,
};
use serde::Serialize;

use super::settings::StateSettings;
use crate::deliver::JournalAcks;
use crate::error::{failed, usage, CliError, CliResult};

pub fn state_error(e: StateError) -> CliError {
    if e.is_usage() {
        usage(e)
    } else {
        failed(e)
    }
}

/// A commit that failed after everything was delivered: what holds and what to do.
fn not_recorded(e: StateError, location: &str, resumable: bool) -> CliError {
    let next = if resumable {
        "the next run resumes the pass from the job's resume area, sending only what was not \
         acknowledged, and records it"
    } else {
        "the next run sends these rows again"
    };
    failed(anyhow::anyhow!(
        "{e}\nevery message was delivered (or written to --out), but the state at {location} \
         does not record this run (its lock was given back): {next}; free space there (or fix \
         its access), then run again"
    ))
}

/// Each source of a pass with its partition: what the ledger records as pushed.
pub fn partitions(sources: &[SourceRead]) -> Vec<(String, Option<String>)> {
    sources
        .iter()
        .map(|s| (s.source.clone(), s.partition.clone()))
        .collect()
}

/// Each source of a pass with its partition and a fingerprint of that partition's files.
pub fn pass_sources(sources: &[SourceRead]) -> PassSources {
    PassSources {
        sources: partitions(sources),
        versions: sources
            .iter()
            .filter_map(|s| Some((s.source.clone(), s.version.clone()?)))
            .collect(),
    }
}

/// Why a pass is not pushed: a successful run pushed its partitions.
pub struct AlreadyPushed {
    pub run: String,
    /// Sources whose partition's files changed since (pushed again with repush_on_change).
    pub changed: Vec<String>,
}

fn group_counts(counts: &BTreeMap<String, GroupCounts>) -> BTreeMap<String, BTreeMap<String, u64>> {
    counts
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
        .collect()
}

/// The pass a cut run sealed in `area`, if this run should finish it: one for the same target,
/// computed against the head as it is, and not committed already (a run cut after its commit
/// leaves the area to be emptied). Anything else in the area is emptied.
fn resumable_pass(
    state: &JobState,
    area: &ResumeArea,
    target: &str,
) -> Result<Option<Resume>, StateError> {
    let Some((pending, acked)) = area.pending()? else {
        area.clear()?;
        return Ok(None);
    };
    let head = &state.head;
    let committed = head.runs.iter().any(|r| r.id == pending.run)
        || head
            .pushed
            .iter()
            .any(|p| p.run == pending.run && p.sources == pending.sources);
    let why_not = if committed {
        None
    } else if pending.target != target {
        Some(format!(
            "it was for another output ({}, now {target})",
            pending.target
        ))
    } else if pending.based_on != head_fingerprint(head) {
        Some("the state was changed by another run since".to_string())
    } else {
        let spool = area.spool();
        let journal = Arc::new(JournalAcks(area.journal()?));
        tracing::info!(
            job = %head.job,
            run = %pending.run,
            messages = pending.messages,
            acknowledged = acked.count(),
            "resuming the delivery of a cut run"
        );
        return Ok(Some(Resume {
            pending,
            acked,
            spool,
            journal,
        }));
    };
    if let Some(why) = why_not {
        tracing::warn!(
            job = %head.job,
            run = %pending.run,
            "a cut run's pass is not resumed: {why}; this run pushes again"
        );
    }
    area.clear()?;
    Ok(None)
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
    /// With --changed-only, once the job's passes are done: the ledger to commit, and the
    /// sends since it was last recorded (if kept).
    ledger: Option<Ledger>,
    sends: Option<Updates>,
    /// The ledger a resumed pass left, read to record it: the one this run compares with.
    loaded: Option<Ledger>,
    passes: Vec<PassSources>,
    record: RunRecord,
    /// Where a pass is spooled and journaled while it is delivered (resumable output only).
    area: Option<ResumeArea>,
    /// The sources of a cut run's pass this run delivered: not pushed again by this run.
    resumed: Vec<Vec<(String, Option<String>)>>,
    /// The resumed pass's counts per group (changed-only).
    resumed_groups: BTreeMap<String, BTreeMap<String, u64>>,
}

/// A cut run's pass to finish: its sealed spool and what the brokers acknowledged.
pub struct Resume {
    pub pending: PendingPass,
    pub acked: Acked,
    pub spool: PathBuf,
    /// Where the deliveries of what is sent again are journaled.
    pub journal: Arc<dyn AckJournal>,
}

/// What a resumed pass was, for the summary and `--report`.
#[derive(Debug, Clone, Serialize)]
pub struct ResumedPass {
    pub job: String,
    /// The run that was cut.
    pub run: String,
    pub partitions: Vec<(String, Option<String>)>,
    pub messages: u64,
    /// Acknowledged before the cut: not sent again.
    pub acknowledged: u64,
    /// Sent by this run.
    pub sent: u64,
}

pub struct Ledgers<'a> {
    settings: Option<&'a StateSettings>,
    location: Option<StateLocation>,
    /// Whether passes are spooled before they are sent (Kafka output): then they resume.
    resumable: bool,
    held: Vec<Held>,
}

impl<'a> Ledgers<'a> {
    /// `resumable`: the output spools each pass before sending it (see [`Output::spools`]).
    ///
    /// [`Output::spools`]: crate::output::Output::spools
    pub fn open(
        settings: Option<&'a StateSettings>,
        storage: &StorageOptions,
        resumable: bool,
    ) -> CliResult<Self> {
        let location = match settings {
            Some(s) => Some(StateLocation::open(&s.location, storage).map_err(state_error)?),
            None => None,
        };
        Ok(Ledgers {
            settings,
            location,
            resumable,
            held: Vec::new(),
        })
    }

    /// Takes the job's lock; a pass a cut run left to finish, if there is one for `target`
    /// (where the messages go: topic, key, batch size).
    pub fn begin_job(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        name: &str,
        plan: &Plan,
        output: &str,
        target: &str,
    ) -> CliResult<Option<Resume>> {
        let (Some(settings), Some(location)) = (self.settings, &self.location) else {
            return Ok(None);
        };
        let groups: Vec<String> = plan
            .feature_groups
            .iter()
            .map(|g| g.label.clone())
            .collect();
        if settings.changed_only {
            if let Err(e) = check_group_count(groups.len()) {
                return Err(usage(anyhow::anyhow!("{name}: {e} (--fgs)")));
            }
        }
        let state = runtime
            .block_on(JobState::open(location, name, &groups))
            .map_err(state_error)?;
        let area = self
            .resumable
            .then(|| location.resume_area(state.dir(), settings.spool_dir.as_deref()));
        let resume = match &area {
            Some(area) => match resumable_pass(&state, area, target) {
                Ok(r) => r,
                Err(e) => {
                    let _ = runtime.block_on(state.release());
                    return Err(state_error(e));
                }
            },
            None => None,
        };
        self.held.push(Held {
            state,
            ledger: None,
            sends: None,
            loaded: None,
            passes: Vec::new(),
            record: RunRecord {
                output: output.to_string(),
                ..Default::default()
            },
            area,
            resumed: Vec::new(),
            resumed_groups: BTreeMap::new(),
        });
        Ok(resume)
    }

    /// A cut run's pass was delivered: it is recorded (with the ledger it leaves) as this run's
    /// first pass, and its resume area emptied.
    pub fn resumed(&mut self, runtime: &tokio::runtime::Runtime, r: &Resume) -> CliResult<()> {
        let Some(h) = self.held.last_mut() else {
            return Ok(());
        };
        let p = &r.pending;
        // The ledger the pass leaves: the head's with the pass's sends, or as sealed whole.
        let ledger = match &h.area {
            Some(area) if p.has_sends => {
                let sends = area.sends(h.state.groups()).map_err(state_error)?;
                let mut ledger = runtime.block_on(h.state.ledger()).map_err(state_error)?;
                ledger.apply(&sends);
                Some((ledger, Some(sends)))
            }
            Some(area) if p.has_ledger => {
                Some((area.ledger(h.state.groups()).map_err(state_error)?, None))
            }
            _ => None,
        };
        h.passes.push(PassSources {
            sources: p.sources.clone(),
            versions: p.versions.clone(),
        });
        h.resumed.push(p.sources.clone());
        h.record.rows += p.rows;
        h.record.messages += p.messages;
        h.record.bytes += p.bytes;
        h.resumed_groups = p.groups.clone();
        let new = ledger.as_ref().map(|(ledger, sends)| NewLedger {
            ledger,
            sends: sends.as_ref(),
        });
        runtime
            .block_on(h.state.checkpoint(new, &h.passes))
            .map_err(state_error)?;
        h.loaded = ledger.map(|(ledger, _)| ledger);
        if let Some(area) = &h.area {
            area.clear().map_err(state_error)?;
        }
        Ok(())
    }

    /// With --changed-only, the ledger to compare with (the last commit's, a resumed pass's
    /// included).
    pub fn changes(&mut self, runtime: &tokio::runtime::Runtime) -> CliResult<Option<Changes>> {
        let (Some(settings), Some(h)) = (self.settings, self.held.last_mut()) else {
            return Ok(None);
        };
        if !settings.changed_only {
            return Ok(None);
        }
        let ledger = match h.loaded.take() {
            Some(ledger) => ledger,
            None => runtime.block_on(h.state.ledger()).map_err(state_error)?,
        };
        Ok(Some(Changes::new(ledger, settings.refresh_after)))
    }

    /// Where the next pass is spooled: the job's resume area, emptied (resumable output with
    /// --state), else `None` (a temporary spool).
    pub fn spool_for_pass(&self) -> CliResult<Option<PathBuf>> {
        match self.held.last().and_then(|h| h.area.as_ref()) {
            Some(area) => {
                area.clear().map_err(state_error)?;
                Ok(Some(area.spool()))
            }
            None => Ok(None),
        }
    }

    /// The pass's spool is complete: records what it will commit next to it, and gives the
    /// journal its delivery appends to. `None` without a resume area.
    pub fn seal_pass(
        &self,
        pass: &PassReport,
        changes: Option<&Changes>,
        target: &str,
    ) -> CliResult<Option<Arc<dyn AckJournal>>> {
        let Some(h) = self.held.last() else {
            return Ok(None);
        };
        let Some(area) = &h.area else {
            return Ok(None);
        };
        let pending = PendingPass {
            run: h.state.run_id().to_string(),
            based_on: head_fingerprint(&h.state.head),
            target: target.to_string(),
            sources: partitions(&pass.sources),
            versions: pass_sources(&pass.sources).versions,
            rows: pass.rows,
            messages: pass.messages,
            bytes: pass.bytes,
            has_ledger: changes.is_some(),
            has_sends: changes.is_some_and(Changes::keeps_sends),
            groups: changes
                .map(|c| group_counts(&c.counts()))
                .unwrap_or_default(),
        };
        match changes {
            Some(c) => c.with_new_ledger(|new| area.seal(&pending, Some(new))),
            None => area.seal(&pending, None),
        }
        .map_err(state_error)?;
        fail::fail_point!("run-sealed");
        let journal = area.journal().map_err(state_error)?;
        Ok(Some(Arc::new(JournalAcks(journal)) as Arc<dyn AckJournal>))
    }

    /// Empties the job's resume area: its pass is recorded.
    pub fn clear_area(&self) -> CliResult<()> {
        match self.held.last().and_then(|h| h.area.as_ref()) {
            Some(area) => area.clear().map_err(state_error),
            None => Ok(()),
        }
    }

    /// Whether a successful run pushed exactly these partitions (and their files are the
    /// same, with repush_on_change): then the pass is skipped, unless --force (or no --state).
    pub fn pushed_by(&self, job: &str, sources: &[SourceRead]) -> Option<AlreadyPushed> {
        let settings = self.settings?;
        if settings.force {
            return None;
        }
        let held = self.held.last()?;
        let pass = pass_sources(sources);
        if held.resumed.contains(&pass.sources) {
            return Some(AlreadyPushed {
                run: held.state.run_id().to_string(),
                changed: Vec::new(),
            });
        }
        match held.state.head.pushed(&pass) {
            Pushed::No => None,
            Pushed::Same(p) => Some(AlreadyPushed {
                run: p.run.clone(),
                changed: Vec::new(),
            }),
            Pushed::Changed(p, changed) if settings.repush_on_change => {
                tracing::info!(
                    job,
                    run = %p.run,
                    sources = %changed.join(", "),
                    "pushed by an earlier run, but the files of the partition changed since: pushing it again (repush_on_change)"
                );
                None
            }
            Pushed::Changed(p, changed) => Some(AlreadyPushed {
                run: p.run.clone(),
                changed,
            }),
        }
    }

    pub fn record_pass(&mut self, pass: &PassReport) {
        if let Some(h) = self.held.last_mut() {
            h.passes.push(pass_sources(&pass.sources));
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
        match changes {
            Some(c) => {
                c.with_new_ledger(|new| runtime.block_on(h.state.checkpoint(Some(new), &h.passes)))
                    .map_err(state_error)?;
                c.recorded();
                Ok(())
            }
            None => runtime
                .block_on(h.state.checkpoint(None, &h.passes))
                .map_err(state_error),
        }
    }

    pub fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    /// The job's passes are done: with --changed-only, its ledger and counts per group.
    pub fn end_job(&mut self, changes: Option<Changes>) -> Option<BTreeMap<String, GroupCounts>> {
        let changes = changes?;
        let mut counts = changes.counts();
        if let Some(h) = self.held.last_mut() {
            // A resumed pass's counts, then this run's.
            for (g, c) in &h.resumed_groups {
                let into = counts.entry(g.clone()).or_default();
                let get = |k: &str| c.get(k).copied().unwrap_or(0);
                into.new += get("new");
                into.changed += get("changed");
                into.unchanged += get("unchanged");
                into.refreshed += get("refreshed");
            }
            h.record.groups = group_counts(&counts);
            let (ledger, sends) = changes.into_parts();
            h.ledger = Some(ledger);
            h.sends = sends;
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
            fail::fail_point!("run-commit");
            let new = h.ledger.as_ref().map(|ledger| NewLedger {
                ledger,
                sends: h.sends.as_ref(),
            });
            match runtime.block_on(h.state.commit(new, h.record, h.passes)) {
                Ok(head) => {
                    fail::fail_point!("run-committed");
                    if let Some(area) = &h.area {
                        if let Err(e) = area.clear() {
                            tracing::warn!(
                                "{e}; the next run finds the pass recorded and empties it"
                            );
                        }
                    }
                    report.jobs.push(JobLedger {
                        job,
                        run,
                        keys: head.keys,
                        ledger_bytes: head.ledger_bytes,
                    })
                }
                Err(e) => {
                    first_error.get_or_insert(not_recorded(e, &report.location, h.area.is_some()));
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
