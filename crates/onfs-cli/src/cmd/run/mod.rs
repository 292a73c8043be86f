//! `onfs-push run`: metadata, sources, newest partition, join, default fill, encode, output.

mod report;
pub mod settings;

use std::sync::atomic::Ordering;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use onfs_core::transform::{DefaultFill, DuplicateKeys};
use onfs_core::{EncodeStats, EncodedMessage, Encoder, EncoderOptions, Plan};
use onfs_file::RunInfo;
use onfs_sources::{JobInput, PartitionSelection, Pipeline, PipelineOptions};
use onfs_verify::{SampleSize, Sampler};

use crate::args::RunArgs;
use crate::cmd::encode::encoder_options;
use crate::error::{failed, usage, CliError, CliResult};
use crate::metadata::load_plan;
use crate::output::Output;
use crate::progress::{Counts, Progress};
use report::{JobReport, PassReport, RunReport};
use settings::{Given, JobSpec, Settings};

fn source_error(e: onfs_sources::SourceError) -> CliError {
    if e.is_usage() {
        usage(e)
    } else {
        failed(e)
    }
}

pub fn run(args: &RunArgs, given: &Given<'_>) -> CliResult<()> {
    let started = Instant::now();
    let s = settings::resolve(args, given)?;
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
    let mut report = RunReport {
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
    let progress = Progress::start(s.quiet);
    if let Some(counter) = output.delivered_rows_counter() {
        progress.set_delivered(counter);
    }
    let result = run_jobs(
        &s,
        &runtime,
        &mut output,
        &encoder,
        &progress.counts,
        &mut report,
        verify.as_ref().map(|(_, size, seed)| (*size, *seed)),
        &mut samples,
    );
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
    report.print();
    if let Some(path) = &s.report {
        let text = serde_json::to_string_pretty(&report).expect("report serializes") + "\n";
        std::fs::write(path, text)
            .map_err(|e| failed(anyhow::anyhow!("--report {}: {e}", path.display())))?;
    }
    match delivery_error.or(verify_error) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[allow(clippy::too_many_arguments)]
fn run_jobs(
    s: &Settings,
    runtime: &tokio::runtime::Runtime,
    output: &mut Output,
    encoder: &EncoderOptions,
    counts: &Arc<Counts>,
    report: &mut RunReport,
    sample: Option<(SampleSize, u64)>,
    samples: &mut Vec<(Plan, Sampler)>,
) -> CliResult<()> {
    for job in &s.jobs {
        let t = Instant::now();
        let plan = load_plan(&job.metadata)?;
        report.seconds.metadata += t.elapsed().as_secs_f64();
        let mut job_encoder = encoder.clone();
        crate::store::prepare(
            &plan,
            &s.encode,
            &mut job_encoder,
            output.sends_while_encoding(),
        )?;
        // Every pass of the job counts towards one length per vector feature.
        let mut job_stats = EncodeStats::default();
        let mut sampler = sample.map(|(size, seed)| Sampler::new(size, seed));
        let mut job_report = JobReport {
            name: job.name.clone(),
            entity_label: plan.entity_label.clone(),
            feature_groups: plan
                .feature_groups
                .iter()
                .map(|g| g.label.clone())
                .collect(),
            passes: Vec::new(),
        };
        let base = PipelineOptions {
            partition_columns: job.partition_columns.clone(),
            selection: s.selection.clone(),
            limit: job.limit,
            memory_limit: s.memory_limit,
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            spill_dir: s.spill_dir.clone(),
            storage: s.storage.clone(),
        };
        let passes = match &s.selection {
            PartitionSelection::Range(..) => {
                let ctx = onfs_sources::pipeline::session(&base).map_err(source_error)?;
                let input = JobInput {
                    plan: &plan,
                    catalog: &s.catalog,
                };
                let values = runtime
                    .block_on(Pipeline::range_values(&ctx, &input, &base))
                    .map_err(source_error)?;
                if values.is_empty() {
                    return Err(failed(anyhow::anyhow!(
                        "{}: no partition in the range {:?}",
                        job.name,
                        s.selection
                    )));
                }
                values.into_iter().map(PartitionSelection::Value).collect()
            }
            other => vec![other.clone()],
        };
        for selection in passes {
            let opts = PipelineOptions {
                selection: selection.clone(),
                ..base.clone()
            };
            let mut enc = job_encoder.clone();
            enc.batch_size = job.batch_size as usize;
            let (pass, stats) = run_pass(
                s,
                job,
                &plan,
                &opts,
                &enc,
                runtime,
                output,
                counts,
                sampler.as_mut(),
            )?;
            job_stats.merge(&stats);
            crate::store::check_lengths(&job_stats)?;
            report.rows += pass.rows;
            report.messages += pass.messages;
            report.bytes += pass.bytes;
            report.seconds.read_and_encode += pass.seconds;
            let t = Instant::now();
            output.end_pass(RunInfo {
                dropped_null_key_rows: pass.dropped_null_key_rows,
                entity_label: plan.entity_label.clone(),
                batch_size: enc.batch_size,
            })?;
            report.seconds.deliver += t.elapsed().as_secs_f64();
            job_report.passes.push(PassReport {
                partition: match selection {
                    PartitionSelection::Value(v) => Some(v),
                    _ => None,
                },
                ..pass
            });
        }
        report.jobs.push(job_report);
        if let Some(sampler) = sampler {
            samples.push((plan, sampler));
        }
    }
    Ok(())
}

/// What one encoding thread hands to the output.
enum Batch {
    Messages(Vec<EncodedMessage>),
    Done(Box<EncodeStats>, Vec<u64>),
}

#[allow(clippy::too_many_arguments)]
fn run_pass(
    s: &Settings,
    job: &JobSpec,
    plan: &Plan,
    opts: &PipelineOptions,
    encoder: &EncoderOptions,
    runtime: &tokio::runtime::Runtime,
    output: &mut Output,
    counts: &Arc<Counts>,
    mut sampler: Option<&mut Sampler>,
) -> CliResult<(PassReport, EncodeStats)> {
    let started = Instant::now();
    let ctx = onfs_sources::pipeline::session(opts).map_err(source_error)?;
    let input = JobInput {
        plan,
        catalog: &s.catalog,
    };
    let mut pipeline = runtime
        .block_on(Pipeline::build(ctx, &input, opts))
        .map_err(source_error)?;
    if s.report.is_some() || s.dry_run {
        runtime
            .block_on(pipeline.count_sources())
            .map_err(source_error)?;
    }
    for src in &pipeline.sources {
        tracing::info!(
            job = %job.name,
            source = %src.source,
            partition = src.partition.as_deref().unwrap_or("(all rows)"),
            "reading"
        );
    }
    let defaults: Vec<(String, String)> = plan
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.default.clone()))
        .collect();
    // A default that does not parse for its column fails here, before anything is read.
    let fill = DefaultFill::new(&pipeline.schema(), &defaults).map_err(usage)?;
    let sources = pipeline.sources.clone();
    let streams = runtime.block_on(pipeline.execute()).map_err(source_error)?;
    let dedupe = Arc::new(Mutex::new(DuplicateKeys::new(
        s.on_duplicate_key,
        &plan.entity_columns,
    )));

    output.begin_pass()?;
    let (tx, rx) = sync_channel::<CliResult<Batch>>(16);
    let mut stats = EncodeStats::default();
    let mut filled = vec![0u64; defaults.len()];
    std::thread::scope(|scope| -> CliResult<()> {
        for mut stream in streams {
            let tx = tx.clone();
            let mut fill = fill.clone();
            let dedupe = dedupe.clone();
            let handle = runtime.handle().clone();
            let mut enc = Encoder::try_new(plan, encoder.clone())?;
            let counts = counts.clone();
            scope.spawn(move || {
                let step = |batch: arrow_array::RecordBatch,
                            fill: &mut DefaultFill,
                            enc: &mut Encoder|
                 -> CliResult<Vec<EncodedMessage>> {
                    counts
                        .rows_read
                        .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                    let (keys, rows) =
                        onfs_sources::hashing::key_and_row_hashes(&batch, &plan.entity_columns)
                            .map_err(source_error)?;
                    let batch = dedupe
                        .lock()
                        .unwrap()
                        .process(&batch, &keys, &rows)
                        .map_err(failed)?;
                    let batch = fill.fill(&batch).map_err(failed)?;
                    let mut out = Vec::new();
                    let before = enc.stats().rows;
                    enc.encode_into(&batch, &mut out)?;
                    counts
                        .rows_encoded
                        .fetch_add(enc.stats().rows - before, Ordering::Relaxed);
                    counts
                        .messages
                        .fetch_add(out.len() as u64, Ordering::Relaxed);
                    Ok(out)
                };
                while let Some(next) = handle.block_on(stream.next()) {
                    let item = next
                        .map_err(|e| failed(anyhow::anyhow!("reading the sources: {e}")))
                        .and_then(|b| step(b, &mut fill, &mut enc));
                    let stop = item.is_err();
                    if tx.send(item.map(Batch::Messages)).is_err() || stop {
                        return;
                    }
                }
                let last = enc.finish();
                counts
                    .messages
                    .fetch_add(last.len() as u64, Ordering::Relaxed);
                let _ = tx.send(Ok(Batch::Messages(last)));
                let _ = tx.send(Ok(Batch::Done(
                    Box::new(enc.stats().clone()),
                    fill.filled.clone(),
                )));
            });
        }
        drop(tx);
        for item in rx {
            match item? {
                Batch::Messages(ms) => {
                    for m in ms {
                        if let Some(sampler) = sampler.as_deref_mut() {
                            sampler.add_message(&m.value)?;
                        }
                        output.write(m)?;
                    }
                }
                Batch::Done(st, f) => {
                    stats.merge(&st);
                    for (a, b) in filled.iter_mut().zip(f) {
                        *a += b;
                    }
                }
            }
        }
        Ok(())
    })?;
    let dedupe = dedupe.lock().unwrap();
    if dedupe.duplicates > 0 {
        tracing::warn!(
            job = %job.name,
            duplicates = dedupe.duplicates,
            "entity keys appear more than once after the join, e.g. {}",
            dedupe.examples.join("; ")
        );
    }
    let pass = PassReport {
        partition: None,
        sources,
        // The join's rows, less exact duplicates (as the original's distinct before it).
        rows_after_join: stats.rows_in
            + if s.on_duplicate_key == onfs_core::transform::OnDuplicateKey::KeepAny {
                dedupe.duplicates
            } else {
                0
            },
        dropped_null_key_rows: stats.dropped_null_key_rows,
        defaults_filled: defaults
            .iter()
            .map(|(c, _)| c.clone())
            .zip(filled)
            .collect(),
        exact_duplicate_rows: dedupe.exact_duplicates,
        duplicate_keys: dedupe.duplicates,
        duplicate_key_examples: dedupe.examples.clone(),
        rows: stats.rows,
        messages: stats.messages,
        max_rows_per_message: stats.max_rows_per_message,
        vectors: stats.vectors.clone(),
        bytes: stats.bytes,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((pass, stats))
}
