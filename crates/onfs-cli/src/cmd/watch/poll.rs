//! Whether a job's newest complete partition (by `run`'s rules, nothing read) was pushed: the
//! ledger's head, read without its lock. With repush_on_change, a pushed partition whose files
//! changed since is taken as not pushed.

use onfs_state::{job_key, Pushed, StateLocation};

use crate::cmd::run::ledger::{pass_sources, state_error};
use crate::cmd::run::settings::{JobSpec, Settings};
use crate::error::{usage, CliResult};
use crate::metadata::load_plan;

pub enum Newest {
    /// Pushed by a successful run.
    Pushed,
    /// Not pushed yet: each source and its partition.
    Waiting(Vec<(String, Option<String>)>),
}

pub fn newest(
    s: &Settings,
    spec: &JobSpec,
    runtime: &tokio::runtime::Runtime,
) -> CliResult<Newest> {
    let state = s.state.as_ref().expect("watch has a state location");
    let plan = load_plan(&spec.metadata)?;
    let job = s.job(spec, &plan, None);
    let Some(selection) = job.passes(runtime)?.into_iter().next() else {
        return Ok(Newest::Pushed);
    };
    let prepared = job.prepare_pass(runtime, &selection)?;
    let pass = pass_sources(prepared.sources());
    let newest = pass.sources.clone();
    if newest.iter().any(|(_, p)| p.is_none()) {
        // A source without partitions never "lands": its rows are compared, not its partition.
        if !state.changed_only {
            return Err(usage(anyhow::anyhow!(
                "{}: a source without partitions ({}) would be pushed whole at every --interval; watch it with --changed-only (only what changed is sent)",
                spec.name,
                newest
                    .iter()
                    .filter(|(_, p)| p.is_none())
                    .map(|(s, _)| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        return Ok(Newest::Waiting(newest));
    }
    let location = StateLocation::open(&state.location, &s.engine.storage).map_err(state_error)?;
    let groups: Vec<String> = plan
        .feature_groups
        .iter()
        .map(|g| g.label.clone())
        .collect();
    let head = runtime
        .block_on(location.head(&job_key(&spec.name, &groups)))
        .map_err(state_error)?;
    let Some(head) = head else {
        return Ok(Newest::Waiting(newest));
    };
    Ok(match head.pushed(&pass) {
        Pushed::No => Newest::Waiting(newest),
        Pushed::Same(_) => Newest::Pushed,
        Pushed::Changed(_, changed) if state.repush_on_change => {
            tracing::info!(job = %spec.name, sources = %changed.join(", "), "a pushed partition's files changed: pushing it again (repush_on_change)");
            Newest::Waiting(newest)
        }
        Pushed::Changed(_, changed) => {
            tracing::debug!(job = %spec.name, sources = %changed.join(", "), "a pushed partition's files changed; not pushed again without repush_on_change");
            Newest::Pushed
        }
    })
}
