//! `onfs-push watch`: every job of the job file, polled at an interval for a new complete
//! partition (by `run`'s rules) and run for it once (the ledger of `--state` remembers what was
//! pushed, across restarts). Each job is watched by a thread of its own: a failing job is tried
//! again after a wait that doubles up to a cap, and a slow one holds back no other; SIGTERM or SIGINT stops the polling, lets the run in
//! flight finish (a cut one resumes on the next start), and exits 0.

mod poll;
mod server;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    tracing::info!(
        jobs = s.jobs.len(),
        interval = ?interval,
        "watching; SIGTERM or SIGINT stops"
    );
    // One thread per job: a slow source, metadata service or run holds back only its own job.
    let looked_at = AtomicUsize::new(0);
    let running: Vec<AtomicBool> = s.jobs.iter().map(|_| AtomicBool::new(false)).collect();
    let alive = AtomicUsize::new(s.jobs.len());
    let watch = Watch {
        args,
        given,
        quiet,
        s: &s,
        runtime: &runtime,
        metrics: &metrics,
        stop: &stop,
        running: &running,
        interval,
        max_backoff,
    };
    std::thread::scope(|scope| {
        let jobs = s.jobs.len();
        for (i, spec) in s.jobs.iter().enumerate() {
            let (watch, looked_at, ready, alive) = (&watch, &looked_at, &ready, &alive);
            std::thread::Builder::new()
                .name(format!("watch-{}", spec.name))
                .spawn_scoped(scope, move || {
                    watch.job_loop(i, || {
                        // Ready once every job was looked at.
                        if looked_at.fetch_add(1, Ordering::Relaxed) + 1 == jobs {
                            ready.store(true, Ordering::Relaxed);
                        }
                    });
                    alive.fetch_sub(1, Ordering::SeqCst);
                })
                .map(|_| ())
                .map_err(|e| {
                    // The threads already started stop too (else the scope would wait forever).
                    stop.store(true, Ordering::SeqCst);
                    failed(e)
                })?;
        }
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Stopped: a run in flight finishes (a delivery cut short resumes at the next start).
        while running.iter().any(|r| r.load(Ordering::SeqCst)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while alive.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let looking = alive.load(Ordering::SeqCst);
        if looking > 0 {
            // Waiting on a source or a metadata service, nothing in flight: not waited for.
            tracing::info!(jobs_still_looking = looking, "stopped");
            std::process::exit(0);
        }
        Ok::<(), crate::error::CliError>(())
    })?;
    tracing::info!("stopped");
    Ok(())
}

/// What every job's loop shares.
struct Watch<'a> {
    args: &'a WatchArgs,
    given: &'a Given<'a>,
    quiet: bool,
    s: &'a Settings,
    runtime: &'a tokio::runtime::Runtime,
    metrics: &'a Metrics,
    stop: &'a AtomicBool,
    /// Per job, whether a run is in flight (waited for when stopping).
    running: &'a [AtomicBool],
    interval: Duration,
    max_backoff: Duration,
}

impl Watch<'_> {
    /// Job `i` looked at every interval (after a failure, after the backoff) until stopped;
    /// `first_look` is called once, after the first look.
    fn job_loop(&self, i: usize, first_look: impl FnOnce()) {
        let mut first_look = Some(first_look);
        let mut job = JobWatch {
            name: self.s.jobs[i].name.clone(),
            failures: 0,
            waiting_since: None,
        };
        let _span = tracing::info_span!("watch", job = %job.name).entered();
        while !self.stop.load(Ordering::Relaxed) {
            let wait = match self.look(i, &mut job) {
                Ok(()) => {
                    job.failures = 0;
                    self.interval
                }
                Err(e) => {
                    job.failures += 1;
                    let wait = backoff(self.interval, self.max_backoff, job.failures);
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
            if let Some(f) = first_look.take() {
                f();
            }
            let due = Instant::now() + jitter(wait);
            while !self.stop.load(Ordering::Relaxed) && Instant::now() < due {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Looks at job `i`: runs it when its newest partition is not pushed yet.
    fn look(&self, i: usize, job: &mut JobWatch) -> CliResult<()> {
        let spec = &self.s.jobs[i];
        let newest = poll::newest(self.s, spec, self.runtime)?;
        let partitions = match newest {
            Newest::Pushed => {
                job.waiting_since = None;
                self.metrics.record_poll(&job.name, None);
                return Ok(());
            }
            Newest::Waiting(partitions) => partitions,
        };
        let since = match &job.waiting_since {
            Some((p, t)) if *p == partitions => *t,
            _ => Instant::now(),
        };
        job.waiting_since = Some((partitions.clone(), since));
        self.metrics
            .record_poll(&job.name, Some(since.elapsed().as_secs_f64()));
        tracing::info!(job = %job.name, partitions = ?partitions, "a new partition: pushing it");
        let mut one = resolve(self.args, self.given, self.quiet)?;
        one.jobs.retain(|j| j.name == job.name);
        // In flight from here: once stopping, the watch waits for the run (a stop seen first
        // starts none).
        self.running[i].store(true, Ordering::SeqCst);
        if self.stop.load(Ordering::SeqCst) {
            self.running[i].store(false, Ordering::SeqCst);
            return Ok(());
        }
        let mut report = RunReport::default();
        let result = crate::cmd::run::execute(&one, &self.args.run, &mut report);
        self.running[i].store(false, Ordering::SeqCst);
        self.metrics
            .record_run(&report, result.is_ok(), Some(&job.name));
        result?;
        job.waiting_since = None;
        self.metrics.record_poll(&job.name, None);
        Ok(())
    }
}

/// The run's settings, resolved again for every run (the job file may have changed).
fn resolve(args: &WatchArgs, given: &Given<'_>, quiet: bool) -> CliResult<Settings> {
    Ok(Settings {
        quiet,
        ..settings::resolve(&args.run, given)?
    })
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
