//! A Parquet input encoded in row ranges on several threads gives the messages one encoder
//! gives on one thread, byte for byte and in order; also with rows dropped for a null key and
//! messages closed early at a byte limit, which leave rows pending at a range's end.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use onfs_core::sample::{realistic_batch, realistic_plan};
use onfs_core::{EncodeError, EncodeStats, EncodedMessage, EncoderOptions, StoreError};
use onfs_file::{encode_input, FileError, ParquetInput, Threads};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

#[derive(Debug)]
struct Failed(String);

impl From<FileError> for Failed {
    fn from(e: FileError) -> Self {
        Failed(e.to_string())
    }
}
impl From<EncodeError> for Failed {
    fn from(e: EncodeError) -> Self {
        Failed(e.to_string())
    }
}
impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Failed(e.to_string())
    }
}

/// Realistic rows `first..first + rows`, the key null on every `null_every`th row (0: none).
fn rows(first: usize, rows: usize, null_every: usize) -> RecordBatch {
    let b = realistic_batch(first, rows);
    if null_every == 0 {
        return b;
    }
    let keys = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
    let keys: Int64Array = (0..rows)
        .map(|i| ((first + i) % null_every != 0).then(|| keys.value(i)))
        .collect();
    let mut columns: Vec<(String, ArrayRef)> = (b.schema().fields().iter())
        .map(|f| f.name().clone())
        .zip(b.columns().iter().cloned())
        .collect();
    columns[0].1 = Arc::new(keys);
    RecordBatch::try_from_iter(columns).unwrap()
}

/// One file of `batch` in row groups of `group_rows`, its pages of 64 rows indexed or not.
fn write(path: &Path, batch: &RecordBatch, group_rows: usize, indexed: bool) {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .set_data_page_row_count_limit(64)
        .set_write_batch_size(64)
        .set_statistics_enabled(if indexed {
            EnabledStatistics::Page
        } else {
            EnabledStatistics::Chunk
        })
        .set_offset_index_disabled(!indexed)
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// An input folder of three files: pages indexed, not indexed, indexed.
fn input(dir: &Path, null_every: usize) -> ParquetInput {
    write(
        &dir.join("part-0.parquet"),
        &rows(0, 2_500, null_every),
        700,
        true,
    );
    write(
        &dir.join("part-1.parquet"),
        &rows(2_500, 1_300, null_every),
        450,
        false,
    );
    write(
        &dir.join("part-2.parquet"),
        &rows(3_800, 977, null_every),
        977,
        true,
    );
    ParquetInput::open(dir).unwrap()
}

fn encode(
    input: &ParquetInput,
    opts: &EncoderOptions,
    threads: &Threads,
) -> (Vec<EncodedMessage>, EncodeStats) {
    let mut out = Vec::new();
    let stats = encode_input::<Failed>(input, &realistic_plan(), opts, threads, |m| {
        out.push(m);
        Ok(())
    })
    .unwrap();
    (out, stats)
}

fn same_as_one_thread(null_every: usize, opts: EncoderOptions) {
    let dir = tempfile::tempdir().unwrap();
    let input = input(dir.path(), null_every);
    let ranges = input.rows().unwrap().ranges(opts.batch_size, 300);
    assert!(ranges.len() > 10, "{ranges:?}");
    assert!(ranges.iter().all(|r| r.start % opts.batch_size as u64 == 0));
    let (one, one_stats) = encode(&input, &opts, &Threads::new(1));
    assert_eq!(one_stats.rows_in, 4_777);
    for threads in [2, 3, 8] {
        let many = Threads {
            range_rows: 300,
            batch_rows: 100,
            ..Threads::new(threads)
        };
        let (got, stats) = encode(&input, &opts, &many);
        assert_eq!(got.len(), one.len(), "{threads} threads");
        for (i, (a, b)) in got.iter().zip(&one).enumerate() {
            assert!(a == b, "{threads} threads: message {i} differs");
        }
        assert_eq!(stats, one_stats, "{threads} threads");
    }
}

#[test]
fn ranges_on_threads_give_the_messages_of_one_thread() {
    same_as_one_thread(0, EncoderOptions::default());
    same_as_one_thread(
        0,
        EncoderOptions {
            batch_size: 7,
            ..Default::default()
        },
    );
}

#[test]
fn rows_dropped_for_a_null_key_move_the_messages_of_the_ranges_after() {
    same_as_one_thread(37, EncoderOptions::default());
}

#[test]
fn messages_closed_at_the_byte_limit_move_the_messages_of_the_ranges_after() {
    same_as_one_thread(
        0,
        EncoderOptions {
            max_message_bytes: Some(3_000),
            ..Default::default()
        },
    );
}

#[test]
fn an_error_stops_at_the_first_bad_range_in_order() {
    // The last file's first page header is garbage (its footer is whole): on any number of
    // threads, the messages of the rows before it are handed on, then the error.
    let dir = tempfile::tempdir().unwrap();
    let input = input(dir.path(), 0);
    let last = input.files.last().unwrap().clone();
    let mut bytes = std::fs::read(&last).unwrap();
    bytes[4..64].fill(0xff);
    std::fs::write(&last, &bytes).unwrap();
    for threads in [1, 2] {
        let mut emitted = 0;
        let e = encode_input::<Failed>(
            &input,
            &realistic_plan(),
            &EncoderOptions::default(),
            &Threads {
                range_rows: 300,
                ..Threads::new(threads)
            },
            |_| {
                emitted += 1;
                Ok(())
            },
        )
        .unwrap_err();
        assert!(e.0.contains("part-2.parquet"), "{}", e.0);
        assert_eq!(emitted, 3_800 / 20, "{threads} threads");
    }
}
