//! `onfs-push encode`: a Parquet input to messages, written to files or sent to Kafka.

use std::time::Instant;

use onfs_core::EncoderOptions;
use onfs_file::{ParquetInput, RunInfo, Threads};

use crate::args::{EncodeArgs, EncodeOptions};
use crate::error::{file_flag, CliResult};
use crate::metadata::load_plan;
use crate::output::Output;

pub fn encoder_options(o: &EncodeOptions) -> EncoderOptions {
    EncoderOptions {
        batch_size: o.batch_size as usize,
        allow_out_of_range: o.allow_out_of_range,
        max_message_bytes: o.max_message_bytes,
        key_partitions: None,
        store: onfs_core::StoreRules {
            vector_lengths: o.vector_lengths.clone(),
            vector_fit: o.vector_fit.into(),
        },
        first_lengths: None,
    }
}

pub fn run(args: &EncodeArgs) -> CliResult<()> {
    crate::deliver::check_offline(&args.kafka)?;
    let plan = load_plan(&args.metadata)?;
    let input = ParquetInput::open(&args.input).map_err(file_flag("--input"))?;
    let mut opts = encoder_options(&args.encode);
    let mut output = Output::open(&args.file_out, &args.kafka, &args.spool, false, &mut opts)?;
    crate::store::prepare(
        &plan,
        &args.encode,
        &mut opts,
        output.sends_while_encoding(),
    )?;
    let started = Instant::now();
    output.begin_pass(None)?;
    let threads = match args.threads {
        Some(n) => Threads::new(n as usize),
        None => Threads::all_cores(),
    };
    let stats = match onfs_file::encode_input(&input, &plan, &opts, &threads, |m| output.write(m))
        .and_then(|s| crate::store::check_lengths(&s).map(|()| s))
    {
        Ok(s) => s,
        Err(e) => {
            output.abandon();
            return Err(e);
        }
    };
    let info = RunInfo {
        dropped_null_key_rows: stats.dropped_null_key_rows,
        entity_label: plan.entity_label.clone(),
        batch_size: opts.batch_size,
    };
    if !crate::logging::quiet() {
        print_summary(&stats, started.elapsed().as_secs_f64());
    }
    output.end_pass(info.clone())?;
    let out_dir = output.out_dir.clone();
    let summary = output.finish(info)?;
    if let (Some(_), Some(dir), false) = (summary.manifest, out_dir, crate::logging::quiet()) {
        eprintln!("wrote {}", dir.display());
    }
    Ok(())
}

fn print_summary(stats: &onfs_core::EncodeStats, seconds: f64) {
    eprintln!(
        "encoded {} rows into {} messages of up to {} rows ({:.1} MB) in {seconds:.2}s",
        stats.rows,
        stats.messages,
        stats.max_rows_per_message,
        stats.bytes as f64 / 1e6,
    );
    if stats.dropped_null_key_rows > 0 {
        eprintln!(
            "  dropped {} rows with a null key",
            stats.dropped_null_key_rows
        );
    }
    if let Some(line) = crate::store::fitted_summary(&stats.vectors) {
        eprintln!("{line}");
    }
}
