//! `onfs-push run`: metadata, sources, newest partition, join, default fill, encode, output.

pub mod ledger;
pub mod report;
pub mod settings;

use std::time::Instant;

use onfs_core::{EncodeStats, EncoderOptions, Plan};
use onfs_file::RunInfo;
use onfs_pipeline::Counters;
use onfs_verify::{SampleSize, Sampler};

use crate::args::RunArgs;
use crate::cmd::encode::encoder_options;
use crate::error::{failed, usage, CliResult};
use crate::metadata::load_plan;
use crate::output::Output;
use crate::progress::Progress;
use ledger::{Ledgers, ResumedPass};
use report::{JobReport, RunReport, SkippedPass};
use settings::{Given, Settings};

pub fn run(args: &RunArgs, given: &Given<'_>, quiet: bool) -> CliResult<()> {
    let s = Settings {
        quiet,
        ..settings::resolve(args, given)?
    };
    let mut report = RunReport::default();
    let result = execute(&s, args, &mut report);
    if let Some(path) = &args.metrics_file {
        let metrics = crate::metrics::Metrics::new();
        metrics.record_run(&report, result.is_ok(), None);
        metrics
            .write_file(path)
            .map_err(|e| failed(anyhow::anyhow!("--metrics-file {}: {e}", path.display())))?;
    }
    result
}

/// Runs every job of `s`, filling `report` as it goes (what was done before an error
/// included).
pub fn execute(s: &Settings, args: &RunArgs, report: &mut RunReport) -> CliResult<()> {
    let started = Instant::now();
    // --verify: the read-back's options are checked before anything is read.
    let verify = match args.verify {
        Some(size) => {
            if s.dry_run || s.kafka.kafka_brokers.is_none() {
                return Err(usage(anyhow::anyhow!(
                    "--verify reads back what a run pushed to Kafka: it needs --kafka-brokers and --topic (not --out or --dry-run); for a message folder use `onfs-push verify`"
                )));
            }
            let opts = crate::cmd::verify::options(&args.store)?;
            Some((opts, size, crate::cmd::verify::seed(&args.store)))
        }
        None => None,
    };
    let mut samples: Vec<(Plan, Sampler)> = Vec::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(failed)?;
    let mut encoder = encoder_options(&s.encode);
    let mut output = Output::open(&s.file_out, &s.kafka, &s.spool, s.dry_run, &mut encoder)?;
    *report = RunReport {
        dry_run: s.dry_run,
        output: if s.dry_run {
            "nowhere (dry run)".into()
        } else if let Some(t) = &s.kafka.topic {
            format!("Kafka topic {t}")
        } else {
            s.file_out
                .out
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        },
        ..Default::default()
    };
    let mut ledgers = Ledgers::open(s.state.as_ref(), &s.engine.storage, output.spools())?;
    let progress = Progress::start(s.quiet);
    if let Some(counter) = output.delivered_rows_counter() {
        progress.set_delivered(counter);
    }
    let cx = Context {
        s,
        runtime: &runtime,
        encoder: &encoder,
        counters: &progress.counts,
        sample: verify.as_ref().map(|(_, size, seed)| (*size, *seed)),
    };
    let result = run_jobs(&cx, &mut output, &mut ledgers, report, &mut samples);
    progress.finish();
    let info = RunInfo {
        dropped_null_key_rows: report
            .jobs
            .iter()
            .flat_map(|j| &j.passes)
            .map(|p| p.dropped_null_key_rows)
            .sum(),
        entity_label: report
            .jobs
            .first()
            .map(|j| j.entity_label.clone())
            .unwrap_or_default(),
        batch_size: encoder.batch_size,
    };
    if let Err(e) = result {
        output.abandon();
        ledgers.release(&runtime);
        return Err(e);
    }
    let deliver_started = Instant::now();
    let summary = output.finish(info);
    report.seconds.deliver += deliver_started.elapsed().as_secs_f64();
    report.seconds.total = started.elapsed().as_secs_f64();
    let delivery_error = match summary {
        Ok(sum) => {
            if let Some(d) = &sum.delivery {
                report.add_delivery(d);
            }
            None
        }
        Err(e) => Some(e),
    };
    // The ledger records the run only once everything it sent was delivered.
    let mut state_error = None;
    report.state = if delivery_error.is_some() || s.dry_run {
        ledgers.release(&runtime)
    } else {
        ledgers.commit(&runtime).unwrap_or_else(|e| {
            state_error = Some(e);
            None
        })
    };
    // Delivered: read a sample back from the store, job by job.
    let mut verify_error = None;
    if let (Some((opts, _, _)), None) = (&verify, &delivery_error) {
        for (plan, sampler) in samples {
            match onfs_verify::verify(&plan, &sampler.finish(), opts) {
                Ok(result) => {
                    if let Err(e) = crate::cmd::verify::finish(&result, None) {
                        verify_error.get_or_insert(e);
                    }
                    report.verify.push(result);
                }
                Err(e) => {
                    verify_error.get_or_insert(e.into());
                    break;
                }
            }
        }
    }
    if !s.quiet {
        report.print();
    }
    if let Some(path) = &s.report {
        let text = serde_json::to_string_pretty(&*report).expect("report serializes") + "\n";
        std::fs::write(path, text)
            .map_err(|e| failed(anyhow::anyhow!("--report {}: {e}", path.display())))?;
    }
    match delivery_error.or(state_error).or(verify_error) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Where the run's output and the progress line are, for every job.
struct Context<'a> {
    s: &'a Settings,
    runtime: &'a tokio::runtime::Runtime,
    encoder: &'a EncoderOptions,
    counters: &'a Counters,
    /// With --verify: the sample size and seed of each job's sampler.
    sample: Option<(SampleSize, u64)>,
}

fn run_jobs(
    cx: &Context<'_>,
    output: &mut Output,
    ledgers: &mut Ledgers<'_>,
    report: &mut RunReport,
    samples: &mut Vec<(Plan, Sampler)>,
) -> CliResult<()> {
    let s = cx.s;
    for spec in &s.jobs {
        let t = Instant::now();
        let plan = load_plan(&spec.metadata)?;
        report.seconds.metadata += t.elapsed().as_secs_f64();
        let mut job_encoder = cx.encoder.clone();
        crate::store::prepare(
            &plan,
            &s.encode,
            &mut job_encoder,
            output.sends_while_encoding(),
        )?;
        job_encoder.batch_size = spec.batch_size as usize;
        // Where the messages go: a cut run's pass is resumed only for the same.
        let target = format!(
            "{} key={:?} batch={}",
            report.output, s.kafka.key, spec.batch_size
        );
        if let Some(resume) =
            ledgers.begin_job(cx.runtime, &spec.name, &plan, &report.output, &target)?
        {
            output.journal(Some(resume.journal.clone()));
            let sent = output.resume_pass(&resume.spool, &resume.acked)?;
            let delivered = output.delivered_so_far()?;
            output.journal(None);
            report.resumed.push(ResumedPass {
                job: spec.name.clone(),
                run: resume.pending.run.clone(),
                partitions: resume.pending.sources.clone(),
                messages: resume.pending.messages,
                acknowledged: resume.acked.count(),
                sent,
            });
            if !delivered {
                // The delivery error and counts come with the output's summary.
                return Ok(());
            }
            ledgers.resumed(cx.runtime, &resume)?;
        }
        let changes = ledgers.changes(cx.runtime)?;
        let job = s.job(spec, &plan, changes.as_ref());
        // Every pass of the job counts towards one length per vector feature.
        let mut job_stats = EncodeStats::default();
        let mut sampler = cx.sample.map(|(size, seed)| Sampler::new(size, seed));
        let mut job_report = JobReport {
            name: spec.name.clone(),
            entity_label: plan.entity_label.clone(),
            feature_groups: plan
                .feature_groups
                .iter()
                .map(|g| g.label.clone())
                .collect(),
            ..Default::default()
        };
        let passes = job.passes(cx.runtime)?;
        let last = passes.len().saturating_sub(1);
        for (n, selection) in passes.into_iter().enumerate() {
            let prepared = job.prepare_pass(cx.runtime, &selection)?;
            if let Some(pushed) = ledgers.pushed_by(&spec.name, prepared.sources()) {
                if pushed.changed.is_empty() {
                    tracing::info!(job = %spec.name, run = %pushed.run, "these partitions were pushed already; --force pushes them again");
                } else {
                    tracing::warn!(job = %spec.name, run = %pushed.run, sources = %pushed.changed.join(", "), "these partitions were pushed already, but their files changed since; repush_on_change = true (--repush-on-change) pushes such partitions again, --force any");
                }
                job_report.skipped.push(SkippedPass {
                    partitions: ledger::partitions(prepared.sources()),
                    pushed_by: pushed.run,
                    changed_since: pushed.changed,
                });
                continue;
            }
            output.begin_pass(ledgers.spool_for_pass()?.as_deref())?;
            let (pass, stats) = prepared.run(
                cx.runtime,
                &job_encoder,
                cx.counters,
                |m| -> CliResult<()> {
                    if let Some(sampler) = sampler.as_mut() {
                        sampler.add_message(&m.value)?;
                    }
                    output.write(m)
                },
            )?;
            job_stats.merge(&stats);
            crate::store::check_lengths(&job_stats)?;
            report.rows += pass.rows;
            report.messages += pass.messages;
            report.bytes += pass.bytes;
            report.seconds.read_and_encode += pass.seconds;
            fail::fail_point!("run-encoded");
            let t = Instant::now();
            output.seal_pass(RunInfo {
                dropped_null_key_rows: pass.dropped_null_key_rows,
                entity_label: plan.entity_label.clone(),
                batch_size: job_encoder.batch_size,
            })?;
            // Resumable: what the pass commits is recorded beside its spool before a message
            // leaves, and each delivery report is journaled.
            let journal = ledgers.seal_pass(&pass, changes.as_ref(), &target)?;
            let journaled = journal.is_some();
            output.journal(journal);
            output.deliver_pass()?;
            report.seconds.deliver += t.elapsed().as_secs_f64();
            ledgers.record_pass(&pass);
            job_report.passes.push(pass);
            // A backfill records each pass once delivered: a cut one resumes after it. A pass
            // not delivered stops the run (its spool waits in the resume area).
            if n < last && ledgers.holds() {
                let delivered = output.delivered_so_far()?;
                if journaled {
                    output.journal(None);
                }
                if !delivered {
                    report.jobs.push(job_report);
                    return Ok(());
                }
                ledgers.checkpoint(cx.runtime, changes.as_ref())?;
                ledgers.clear_area()?;
            }
        }
        drop(job);
        job_report.changed_only = ledgers.end_job(changes);
        report.jobs.push(job_report);
        if let Some(sampler) = sampler {
            samples.push((plan, sampler));
        }
    }
    Ok(())
}
