//! `onfs-push watch`: every job of the job file, polled at an interval for a new complete
//! partition (by `run`'s rules) and run for it once (the ledger of `--state` remembers what was
//! pushed, across restarts). A failing job is tried again after a wait that doubles up to a
//! cap, without holding back the others; SIGTERM or SIGINT stops the polling, lets the run in
//! flight finish (a cut one resumes on the next start), and exits 0.

mod poll;
mod server;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::args::WatchArgs;
use crate::cmd::run::report::RunReport;
use crate::cmd::run::settings::{self, parse_duration, Given, Settings};
use crate::error::{failed, usage, CliResult};
use crate::metrics::Metrics;
use poll::Newest;

/// Each source of a pass and its partition.
type Partitions = Vec<(String, Option<String>)>;

/// What the watch knows of one job between polls.
struct JobWatch {
    name: String,
    /// When the job is looked at next.
    due: Instant,
    /// Failed runs (or polls) in a row: the wait before the next try doubles with each.
    failures: u32,
    /// When the newest partition, not pushed yet, was first seen.
    waiting_since: Option<(Partitions, Instant)>,
}

fn duration(flag: &str, text: &str) -> CliResult<Duration> {
    match parse_duration(text) {
        Ok(Some(d)) if !d.is_zero() => Ok(d),
        Ok(_) => Err(usage(anyhow::anyhow!(
            "{flag} must be a positive duration (30s, 5m, 1h), not {text}"
        ))),
        Err(e) => Err(usage(anyhow::anyhow!("{flag}: {e}"))),
    }
}

pub fn run(args: &WatchArgs, given: &Given<'_>, quiet: bool) -> CliResult<()> {
    let interval = duration("--interval", &args.interval)?;
    let max_backoff = duration("--max-backoff", &args.max_backoff)?.max(interval);
    let s = resolve(args, given, quiet)?;
    if s.state.is_none() {
        return Err(usage(anyhow::anyhow!(
            "watch pushes each partition once by remembering what it pushed: give the ledger's location with --state URL (or [state] location)"
        )));
    }
    if s.state.as_ref().is_some_and(|st| st.force) {
        return Err(usage(anyhow::anyhow!(
            "--force would push the newest partitions again at every --interval; it applies to run"
        )));
    }
    if s.dry_run {
        return Err(usage(anyhow::anyhow!(
            "watch pushes; --dry-run applies to run"
        )));
    }
    if args.run.partition.is_some() || args.run.partition_range.is_some() || args.run.all_partitions
    {
        return Err(usage(anyhow::anyhow!(
            "watch pushes the newest partition of each source as it lands: --partition, --partition-range and --all-partitions apply to run"
        )));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone()).map_err(failed)?;
    }
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let _server = match &args.listen {
        Some(addr) => Some(server::serve(addr, metrics.clone(), ready.clone())?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(failed)?;
    let mut jobs: Vec<JobWatch> = s
        .jobs
        .iter()
        .map(|j| JobWatch {
            name: j.name.clone(),
            due: Instant::now(),
            failures: 0,
            waiting_since: None,
        })
        .collect();
    tracing::info!(
        jobs = jobs.len(),
        interval = ?interval,
        "watching; SIGTERM or SIGINT stops"
    );
    while !stop.load(Ordering::Relaxed) {
        for (i, job) in jobs.iter_mut().enumerate() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if Instant::now() < job.due {
                continue;
            }
            let wait = match watch_job(args, given, quiet, &s, i, job, &runtime, &metrics) {
                Ok(()) => {
                    job.failures = 0;
                    interval
                }
                Err(e) => {
                    job.failures += 1;
                    let wait = backoff(interval, max_backoff, job.failures);
                    tracing::error!(
                        job = %job.name,
                        failures = job.failures,
                        retry_in = ?wait,
                        "{}",
                        crate::logging::redact(&e.to_string())
                    );
                    wait
                }
            };
            job.due = Instant::now() + jitter(wait);
        }
        ready.store(true, Ordering::Relaxed);
        let next = jobs
            .iter()
            .map(|j| j.due)
            .min()
            .unwrap_or_else(Instant::now);
        while !stop.load(Ordering::Relaxed) && Instant::now() < next {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The run's settings, resolved again for every run (the job file may have changed).
fn resolve(args: &WatchArgs, given: &Given<'_>, quiet: bool) -> CliResult<Settings> {
    Ok(Settings {
        quiet,
        ..settings::resolve(&args.run, given)?
    })
}

/// Looks at job `i`: runs it when its newest partition is not pushed yet.
#[allow(clippy::too_many_arguments)]
fn watch_job(
    args: &WatchArgs,
    given: &Given<'_>,
    quiet: bool,
    s: &Settings,
    i: usize,
    job: &mut JobWatch,
    runtime: &tokio::runtime::Runtime,
    metrics: &Metrics,
) -> CliResult<()> {
    let spec = &s.jobs[i];
    let newest = poll::newest(s, spec, runtime)?;
    let partitions = match newest {
        Newest::Pushed => {
            job.waiting_since = None;
            metrics.record_poll(&job.name, None);
            return Ok(());
        }
        Newest::Waiting(partitions) => partitions,
    };
    let since = match &job.waiting_since {
        Some((p, t)) if *p == partitions => *t,
        _ => Instant::now(),
    };
    job.waiting_since = Some((partitions.clone(), since));
    metrics.record_poll(&job.name, Some(since.elapsed().as_secs_f64()));
    tracing::info!(job = %job.name, partitions = ?partitions, "a new partition: pushing it");
    let mut one = resolve(args, given, quiet)?;
    one.jobs.retain(|j| j.name == job.name);
    let mut report = RunReport::default();
    let result = crate::cmd::run::execute(&one, &args.run, &mut report);
    metrics.record_run(&report, result.is_ok(), Some(&job.name));
    result?;
    job.waiting_since = None;
    metrics.record_poll(&job.name, None);
    Ok(())
}

/// `interval` doubled for each failure in a row, at most `cap`.
fn backoff(interval: Duration, cap: Duration, failures: u32) -> Duration {
    interval
        .saturating_mul(2u32.saturating_pow(failures.min(20)))
        .min(cap)
}

/// `d` plus up to a tenth at random, so that several watchers do not poll in step.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d + d.mul_f64((nanos % 1000) as f64 / 10_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_the_cap() {
        let i = Duration::from_secs(10);
        let cap = Duration::from_secs(100);
        let waits: Vec<u64> = (1..6).map(|f| backoff(i, cap, f).as_secs()).collect();
        assert_eq!(waits, [20, 40, 80, 100, 100]);
        assert_eq!(backoff(i, cap, u32::MAX), cap);
    }

    #[test]
    fn jitter_adds_at_most_a_tenth() {
        let d = Duration::from_secs(60);
        let j = jitter(d);
        assert!(j >= d && j <= d + Duration::from_secs(6), "{j:?}");
    }

    #[test]
    fn durations_must_be_positive() {
        assert!(matches!(duration("--interval", "5m"), Ok(d) if d == Duration::from_secs(300)));
        for bad in ["never", "0", "soon"] {
            let Err(e) = duration("--interval", bad) else {
                panic!("{bad} taken")
            };
            assert_eq!(e.code, 2);
            assert!(e.to_string().starts_with("--interval"), "{e}");
        }
    }
}
