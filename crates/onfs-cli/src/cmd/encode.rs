//! `onfs-push encode`: a Parquet input to messages.

use std::time::Instant;

use onfs_core::{Encoder, EncoderOptions, Plan};
use onfs_file::{DirSink, OutFormat, ParquetInput, RunInfo};

use crate::args::{EncodeArgs, EncodeOptions, FileOutArgs, KeyMode, OutFormatArg};
use crate::deliver;
use crate::error::{usage, CliResult};
use crate::metadata::load_plan;

/// Arrow rows per record batch read from Parquet.
const READ_BATCH_ROWS: usize = 8192;

pub fn encoder_options(o: &EncodeOptions) -> EncoderOptions {
    EncoderOptions {
        batch_size: o.batch_size as usize,
        allow_out_of_range: o.allow_out_of_range,
        max_message_bytes: o.max_message_bytes,
        key_partitions: None,
    }
}

pub fn run(args: &EncodeArgs) -> CliResult<()> {
    let plan = load_plan(&args.metadata)?;
    let input = ParquetInput::open(&args.input)?;
    if args.kafka.kafka_brokers.is_some() {
        if args.file_out.out.is_some() {
            return Err(usage(anyhow::anyhow!(
                "pass either --out DIR or --kafka-brokers, not both"
            )));
        }
        return run_kafka(args, &plan, &input);
    }
    let FileOutArgs {
        out,
        out_format,
        overwrite,
    } = &args.file_out;
    let Some(out) = out else {
        return Err(usage(anyhow::anyhow!(
            "no output: pass --out DIR, or --kafka-brokers HOST:PORT --topic TOPIC"
        )));
    };
    let format = match out_format {
        OutFormatArg::Frames => OutFormat::Frames,
        OutFormatArg::Parquet => OutFormat::Parquet,
    };
    let started = Instant::now();
    let mut sink = DirSink::create(out, format, *overwrite)?;
    let stats = encode_input(&plan, &input, &encoder_options(&args.encode), |m| {
        sink.write(&m.into()).map_err(Into::into)
    })?;
    let manifest = sink.finish(RunInfo {
        dropped_null_key_rows: stats.dropped_null_key_rows,
        entity_label: plan.entity_label.clone(),
        batch_size: args.encode.batch_size as usize,
    })?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "encoded {} rows into {} messages ({} bytes) in {:.2}s ({:.0} rows/s); dropped {} rows with a null key; wrote {}",
        manifest.rows,
        manifest.messages,
        manifest.bytes,
        secs,
        manifest.rows as f64 / secs.max(1e-9),
        manifest.dropped_null_key_rows,
        out.display()
    );
    Ok(())
}

/// `encode` to Kafka: connect first, encode everything to a spool (so a data error sends
/// nothing), then send; or, with `--stream`, send while encoding.
fn run_kafka(args: &EncodeArgs, plan: &Plan, input: &ParquetInput) -> CliResult<()> {
    let kafka = &args.kafka;
    if args.stream && kafka.kafka_num_batches > 1 {
        return Err(usage(anyhow::anyhow!(
            "--stream sends as it encodes, so it cannot send in --kafka-num-batches rounds"
        )));
    }
    let producer = deliver::producer_config(kafka)?;
    let mut opts = encoder_options(&args.encode);
    opts.max_message_bytes = Some(deliver::max_message_bytes(
        args.encode.max_message_bytes,
        &producer,
    ));
    let sink = deliver::connect(kafka, producer)?;
    let mut deliverer = deliver::Deliverer::new(sink, kafka)?;
    if kafka.key == KeyMode::Entity {
        opts.key_partitions = Some(deliverer.partitions());
    }
    if args.stream {
        let encoded = encode_input(plan, input, &opts, |m| deliverer.offer(&m.into()));
        if let Err(e) = encoded {
            // Account for what was already sent before reporting the data error.
            let _ = deliverer.finish("sent before the error");
            return Err(e);
        }
    } else {
        let spool_root = match &args.spool_dir {
            Some(d) => d.clone(),
            None => std::env::temp_dir(),
        };
        let spool = tempfile::Builder::new()
            .prefix("onfs-spool-")
            .tempdir_in(&spool_root)
            .map_err(|e| usage(anyhow::anyhow!("--spool-dir {}: {e}", spool_root.display())))?;
        let spool_out = spool.path().join("messages");
        let mut sink = DirSink::create(&spool_out, OutFormat::Frames, false)?;
        let stats = encode_input(plan, input, &opts, |m| {
            sink.write(&m.into()).map_err(Into::into)
        })?;
        sink.finish(RunInfo {
            dropped_null_key_rows: stats.dropped_null_key_rows,
            entity_label: plan.entity_label.clone(),
            batch_size: opts.batch_size,
        })?;
        eprintln!(
            "encoded {} rows into {} messages; sending to {}",
            stats.rows,
            stats.messages,
            kafka.topic.as_deref().unwrap_or_default()
        );
        deliver::deliver_folder(&mut deliverer, &spool_out, kafka.kafka_num_batches)?;
    }
    deliverer.finish("sent")?;
    Ok(())
}

/// Encodes every batch of `input`, handing each message to `emit` in order.
pub fn encode_input(
    plan: &Plan,
    input: &ParquetInput,
    opts: &EncoderOptions,
    mut emit: impl FnMut(onfs_core::EncodedMessage) -> CliResult<()>,
) -> CliResult<onfs_core::EncodeStats> {
    let mut encoder = Encoder::new(plan, opts.clone());
    let mut messages = Vec::new();
    for batch in input.batches(READ_BATCH_ROWS) {
        encoder.encode_into(&batch?, &mut messages)?;
        for m in messages.drain(..) {
            emit(m)?;
        }
    }
    for m in encoder.finish() {
        emit(m)?;
    }
    if encoder.stats().dropped_null_key_rows > 0 {
        tracing::warn!(
            rows = encoder.stats().dropped_null_key_rows,
            "dropped rows whose entity key has a null"
        );
    }
    Ok(encoder.stats().clone())
}
