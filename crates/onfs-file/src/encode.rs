//! A Parquet input to messages: on one thread, or in row ranges on several
//! ([`onfs_core::encode::ranges`]), the messages the same byte for byte and in the same order.

use onfs_core::encode::ranges::{can_split, encode_ranges};
use onfs_core::{
    EncodeError, EncodeStats, EncodedMessage, Encoder, EncoderOptions, Plan, StoreError,
};

use crate::ranges::RANGE_ROWS;
use crate::{FileError, ParquetInput};

/// How an input is read and spread over threads.
#[derive(Debug, Clone)]
pub struct Threads {
    /// Threads encoding at once (1: the caller's thread only).
    pub threads: usize,
    /// Arrow rows per record batch read from Parquet.
    pub batch_rows: usize,
    /// Rows a range holds, about, where a row group can be split.
    pub range_rows: u64,
}

impl Threads {
    /// Every core of the machine.
    pub fn all_cores() -> Threads {
        Threads::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    pub fn new(threads: usize) -> Threads {
        Threads {
            threads: threads.max(1),
            batch_rows: 8192,
            range_rows: RANGE_ROWS,
        }
    }
}

/// Encodes every row of `input`, handing each message to `emit` in order (on the caller's
/// thread, while other threads encode the ranges after it). Returns the counts.
pub fn encode_input<E>(
    input: &ParquetInput,
    plan: &Plan,
    opts: &EncoderOptions,
    threads: &Threads,
    mut emit: impl FnMut(EncodedMessage) -> Result<(), E>,
) -> Result<EncodeStats, E>
where
    E: From<FileError> + From<EncodeError> + From<StoreError> + Send,
{
    let stats = if threads.threads > 1 && can_split(opts) {
        let rows = input.rows()?;
        let ranges = rows.ranges(opts.batch_size, threads.range_rows);
        tracing::debug!(
            ranges = ranges.len(),
            threads = threads.threads,
            "encoding in row ranges"
        );
        encode_ranges(
            plan,
            opts,
            ranges.len(),
            threads.threads,
            |i| {
                Ok(rows
                    .batches(ranges[i].clone(), threads.batch_rows)
                    .map(|b| b.map_err(E::from)))
            },
            emit,
        )?
    } else {
        let mut encoder = Encoder::try_new(plan, opts.clone())?;
        let mut messages = Vec::new();
        for batch in input.batches(threads.batch_rows) {
            encoder.encode_into(&batch?, &mut messages)?;
            messages.drain(..).try_for_each(&mut emit)?;
        }
        encoder.finish().into_iter().try_for_each(&mut emit)?;
        encoder.stats().clone()
    };
    if stats.dropped_null_key_rows > 0 {
        tracing::warn!(
            rows = stats.dropped_null_key_rows,
            "dropped rows whose entity key has a null"
        );
    }
    Ok(stats)
}
