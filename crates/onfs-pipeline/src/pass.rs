//! One pass: the joined sources of one partition read as parallel streams, each stream on its
//! own thread through the transform and the encoder; the messages handed to the caller on the
//! calling thread, as they are made.

use std::sync::mpsc::sync_channel;
use std::sync::Mutex;
use std::time::Instant;

use arrow_array::RecordBatch;
use futures::StreamExt;
use onfs_core::transform::{DefaultFill, DuplicateKeys, OnDuplicateKey};
use onfs_core::{EncodeStats, EncodedMessage, Encoder, EncoderOptions};
use onfs_sources::{JoinedSources, PartitionSelection};

use crate::counters::Counters;
use crate::{Job, PassReport, PipelineError};

/// What one encoding thread hands to the caller's thread.
enum Batch {
    Messages(Vec<EncodedMessage>),
    Done(Box<EncodeStats>, Vec<u64>),
}

/// One stream's steps after the join: duplicates, defaults, encoding.
struct Steps<'a> {
    keys: &'a [String],
    dedupe: &'a Mutex<DuplicateKeys>,
    fill: DefaultFill,
    encoder: Encoder,
    counters: &'a Counters,
}

impl Steps<'_> {
    fn batch(&mut self, batch: RecordBatch) -> Result<Vec<EncodedMessage>, PipelineError> {
        Counters::add(&self.counters.rows_read, batch.num_rows() as u64);
        let (keys, rows) = onfs_sources::hashing::key_and_row_hashes(&batch, self.keys)?;
        let batch = self
            .dedupe
            .lock()
            .expect("no thread panics holding it")
            .process(&batch, &keys, &rows)?;
        let batch = self.fill.fill(&batch)?;
        let mut out = Vec::new();
        let before = self.encoder.stats().rows;
        self.encoder.encode_into(&batch, &mut out)?;
        Counters::add(
            &self.counters.rows_encoded,
            self.encoder.stats().rows - before,
        );
        Counters::add(&self.counters.messages, out.len() as u64);
        Ok(out)
    }
}

impl Job<'_> {
    /// Reads, transforms and encodes one pass (`selection`: the newest partition, a value, or
    /// every row), handing each message to `on_message` in the order of its stream. Every
    /// default is checked against its column's type before a row is read. The first error of
    /// any step (or of `on_message`) stops the pass.
    ///
    /// Returns the pass's report and the encoder's counts (for checks over several passes, e.g.
    /// one length per vector feature).
    pub fn run_pass<E: From<PipelineError>>(
        &self,
        runtime: &tokio::runtime::Runtime,
        selection: &PartitionSelection,
        encoder: &EncoderOptions,
        counters: &Counters,
        mut on_message: impl FnMut(EncodedMessage) -> Result<(), E>,
    ) -> Result<(PassReport, EncodeStats), E> {
        let started = Instant::now();
        let opts = self.read_options(selection);
        let ctx = onfs_sources::joined::session(&opts).map_err(PipelineError::from)?;
        let mut joined = runtime
            .block_on(JoinedSources::build(ctx, &self.input(), &opts))
            .map_err(PipelineError::from)?;
        if self.count_sources {
            runtime
                .block_on(joined.count_sources())
                .map_err(PipelineError::from)?;
        }
        for src in &joined.sources {
            tracing::info!(
                job = %self.name,
                source = %src.source,
                partition = src.partition.as_deref().unwrap_or("(all rows)"),
                "reading"
            );
        }
        let defaults: Vec<(String, String)> = self
            .plan
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.default.clone()))
            .collect();
        let fill = DefaultFill::new(&joined.schema(), &defaults).map_err(PipelineError::from)?;
        let sources = joined.sources.clone();
        let streams = runtime
            .block_on(joined.execute())
            .map_err(PipelineError::from)?;
        let dedupe = Mutex::new(DuplicateKeys::new(
            self.on_duplicate_key,
            &self.plan.entity_columns,
        ));

        // One encoder per stream, made before any thread starts.
        let encoders = streams
            .iter()
            .map(|_| Encoder::try_new(self.plan, encoder.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(PipelineError::from)?;
        let (tx, rx) = sync_channel::<Result<Batch, PipelineError>>(16);
        let mut stats = EncodeStats::default();
        let mut filled = vec![0u64; defaults.len()];
        std::thread::scope(|scope| -> Result<(), E> {
            for (mut stream, encoder) in streams.into_iter().zip(encoders) {
                let tx = tx.clone();
                let handle = runtime.handle().clone();
                let mut steps = Steps {
                    keys: &self.plan.entity_columns,
                    dedupe: &dedupe,
                    fill: fill.clone(),
                    encoder,
                    counters,
                };
                scope.spawn(move || {
                    while let Some(next) = handle.block_on(stream.next()) {
                        let item = next
                            .map_err(PipelineError::Read)
                            .and_then(|b| steps.batch(b));
                        let stop = item.is_err();
                        if tx.send(item.map(Batch::Messages)).is_err() || stop {
                            return;
                        }
                    }
                    let last = steps.encoder.finish();
                    Counters::add(&counters.messages, last.len() as u64);
                    let _ = tx.send(Ok(Batch::Messages(last)));
                    let _ = tx.send(Ok(Batch::Done(
                        Box::new(steps.encoder.stats().clone()),
                        steps.fill.filled.clone(),
                    )));
                });
            }
            drop(tx);
            // On an error the receiver is dropped on return: every thread's next send fails
            // and it stops.
            for item in rx {
                match item? {
                    Batch::Messages(ms) => {
                        for m in ms {
                            on_message(m)?;
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
        let dedupe = dedupe.into_inner().expect("no thread panicked holding it");
        if dedupe.duplicates > 0 {
            tracing::warn!(
                job = %self.name,
                duplicates = dedupe.duplicates,
                "entity keys appear more than once after the join, e.g. {}",
                dedupe.examples.join("; ")
            );
        }
        let report = PassReport {
            partition: match selection {
                PartitionSelection::Value(v) => Some(v.clone()),
                _ => None,
            },
            sources,
            // The join's rows, less exact duplicates (as the original's distinct before it).
            rows_after_join: stats.rows_in
                + if self.on_duplicate_key == OnDuplicateKey::KeepAny {
                    dedupe.duplicates
                } else {
                    0
                },
            dropped_null_key_rows: stats.dropped_null_key_rows,
            defaults_filled: defaults.into_iter().map(|(c, _)| c).zip(filled).collect(),
            exact_duplicate_rows: dedupe.exact_duplicates,
            duplicate_keys: dedupe.duplicates,
            duplicate_key_examples: dedupe.examples,
            rows: stats.rows,
            messages: stats.messages,
            max_rows_per_message: stats.max_rows_per_message,
            vectors: stats.vectors.clone(),
            bytes: stats.bytes,
            seconds: started.elapsed().as_secs_f64(),
        };
        Ok((report, stats))
    }
}
