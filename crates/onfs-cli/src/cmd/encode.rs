//! `onfs-push encode`: a Parquet input to messages.

use std::time::Instant;

use onfs_core::{Encoder, EncoderOptions, Plan};
use onfs_file::{DirSink, OutFormat, ParquetInput, RunInfo};

use crate::args::{EncodeArgs, EncodeOptions, FileOutArgs, OutFormatArg};
use crate::error::{usage, CliResult};
use crate::metadata::load_plan;

/// Arrow rows per record batch read from Parquet.
const READ_BATCH_ROWS: usize = 8192;

pub fn encoder_options(o: &EncodeOptions) -> EncoderOptions {
    EncoderOptions {
        batch_size: o.batch_size as usize,
        allow_out_of_range: o.allow_out_of_range,
        max_message_bytes: o.max_message_bytes,
    }
}

pub fn run(args: &EncodeArgs) -> CliResult<()> {
    let plan = load_plan(&args.metadata)?;
    let input = ParquetInput::open(&args.input)?;
    let FileOutArgs {
        out,
        out_format,
        overwrite,
    } = &args.file_out;
    let Some(out) = out else {
        return Err(usage(anyhow::anyhow!("no output: pass --out DIR")));
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
    if let Some(m) = encoder.finish() {
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
