//! One pass: the joined sources of one partition read as parallel streams, each stream on its
//! own thread through the transform and the encoder; the messages handed to the caller on the
//! calling thread, as they are made.

use std::sync::mpsc::sync_channel;
use std::sync::Mutex;
use std::time::Instant;

use arrow_array::{Array, RecordBatch};
use futures::StreamExt;
use onfs_core::transform::{DefaultFill, DuplicateKeys, OnDuplicateKey};
use onfs_core::{EncodeStats, EncodedMessage, EncoderOptions, GroupSetEncoder, Plan};
use onfs_sources::{JoinedSources, PartitionSelection, SourceRead};

use crate::changes::Changes;
use crate::counters::Counters;
use crate::{Job, PassReport, PipelineError};

/// What one encoding thread hands to the caller's thread.
enum Batch {
    Messages(Vec<EncodedMessage>),
    /// The stream's counts, nulls filled per column, rows with nothing to send.
    Done(Box<EncodeStats>, Vec<u64>, u64),
}

/// One stream's steps after the join: duplicates, defaults, (changed-only) the groups each
/// row sends, encoding.
struct Steps<'a> {
    plan: &'a Plan,
    dedupe: &'a Mutex<DuplicateKeys>,
    fill: DefaultFill,
    /// Every group's encoder, and (changed-only) one per set of groups some rows send.
    encoder: GroupSetEncoder,
    changes: Option<&'a Changes>,
    counters: &'a Counters,
}

impl Steps<'_> {
    fn batch(&mut self, batch: RecordBatch) -> Result<Vec<EncodedMessage>, PipelineError> {
        Counters::add(&self.counters.rows_read, batch.num_rows() as u64);
        let mut out = Vec::new();
        let before = self.encoder.rows();
        match self.changes {
            Some(changes) => {
                let (batch, sets) = self.changed_only(changes, batch)?;
                self.encoder.encode_into(&batch, &sets, &mut out)?
            }
            None => {
                let keys = &self.plan.entity_columns;
                let (key_hashes, rows) = onfs_sources::hashing::key_and_row_hashes(&batch, keys)?;
                let keep = self
                    .dedupe
                    .lock()
                    .expect("no thread panics holding it")
                    .check(&batch, &key_hashes, &rows, None)?;
                let batch = DuplicateKeys::apply(batch, keep);
                let batch = self.fill.fill(&batch)?;
                self.encoder.encode_all_into(&batch, &mut out)?
            }
        }
        Counters::add(&self.counters.rows_encoded, self.encoder.rows() - before);
        Counters::add(&self.counters.messages, out.len() as u64);
        Ok(out)
    }

    /// Changed-only: duplicates settled and defaults filled as without, and per row the set of
    /// groups it sends (by the ledger). Each column is hashed once: the keys and each group's
    /// values as the ledger hashes them, before the fill; a row's hash (for exact duplicates)
    /// is made of those; a group is hashed again after the fill only where it had nulls. The
    /// keys are looked up in the ledger once, for the duplicate check (a known key's slot is
    /// its entry) and the comparison.
    fn changed_only(
        &mut self,
        changes: &Changes,
        batch: RecordBatch,
    ) -> Result<(RecordBatch, Vec<u64>), PipelineError> {
        let keys = &self.plan.entity_columns;
        let groups = &self.plan.feature_groups;
        let mut lookup = changes.lookup(hash(&batch, keys)?);
        let mut values = groups
            .iter()
            .map(|g| hash(&batch, &g.columns))
            .collect::<Result<Vec<_>, _>>()?;
        let rows = row_hashes(&batch, lookup.keys(), &values, self.plan)?;
        let keep = self
            .dedupe
            .lock()
            .expect("no thread panics holding it")
            .check(&batch, lookup.keys(), &rows, Some(lookup.entries()))?;
        if let Some(keep) = &keep {
            lookup.retain(keep);
            for v in &mut values {
                crate::changes::retain_rows(v, keep);
            }
        }
        let batch = DuplicateKeys::apply(batch, keep);
        let had_nulls: Vec<bool> = groups
            .iter()
            .map(|g| {
                g.columns
                    .iter()
                    .any(|c| batch.column_by_name(c).is_some_and(|a| a.null_count() > 0))
            })
            .collect();
        let batch = self.fill.fill(&batch)?;
        for ((g, v), had) in groups.iter().zip(&mut values).zip(had_nulls) {
            if had {
                *v = hash(&batch, &g.columns)?;
            }
        }
        let key_columns: Vec<_> = keys
            .iter()
            .filter_map(|k| batch.column_by_name(k))
            .collect();
        let valid: Vec<bool> = (0..batch.num_rows())
            .map(|row| key_columns.iter().all(|c| !c.is_null(row)))
            .collect();
        let sets = changes.classify(&lookup, &values, &valid);
        Ok((batch, sets))
    }

    /// The last messages of every encoder, and their counts merged.
    fn finish(&mut self) -> (Vec<EncodedMessage>, EncodeStats) {
        (self.encoder.finish(), self.encoder.stats())
    }
}

/// One hash per row of `batch` over `columns`, as the ledger hashes them.
fn hash(batch: &RecordBatch, columns: &[String]) -> Result<Vec<u64>, PipelineError> {
    onfs_state::hashing::column_hashes(batch, columns).map_err(PipelineError::Hash)
}

/// Per row, a hash of all its values (for exact duplicates), made of its key's hash (`keys`)
/// and its groups' (`groups`), and of any column of `batch` the plan neither keys nor groups.
fn row_hashes(
    batch: &RecordBatch,
    keys: &[u64],
    groups: &[Vec<u64>],
    plan: &Plan,
) -> Result<Vec<u64>, PipelineError> {
    let planned = |c: &String| {
        plan.entity_columns.contains(c) || plan.feature_groups.iter().any(|g| g.columns.contains(c))
    };
    let others: Vec<String> = (batch.schema().fields().iter())
        .map(|f| f.name().clone())
        .filter(|c| !planned(c))
        .collect();
    let rest = match others.is_empty() {
        true => None,
        false => Some(hash(batch, &others)?),
    };
    let mix = |h: u64, v: u64| (h.rotate_left(23) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    Ok((0..keys.len())
        .map(|row| {
            let h = groups.iter().fold(keys[row], |h, g| mix(h, g[row]));
            rest.as_ref().map_or(h, |r| mix(h, r[row]))
        })
        .collect())
}

/// A pass whose partitions are chosen (each source's, in [`PreparedPass::sources`]) and
/// whose plan is built, before a row is read.
pub struct PreparedPass<'a> {
    job: &'a Job<'a>,
    selection: PartitionSelection,
    joined: JoinedSources,
    started: Instant,
}

impl<'a> Job<'a> {
    /// Chooses each source's partition for `selection` (the newest, a value, or every row) and
    /// builds the read; nothing is read yet.
    pub fn prepare_pass(
        &'a self,
        runtime: &tokio::runtime::Runtime,
        selection: &PartitionSelection,
    ) -> Result<PreparedPass<'a>, PipelineError> {
        let started = Instant::now();
        let opts = self.read_options(selection);
        let ctx = onfs_sources::joined::session(&opts)?;
        let joined = runtime.block_on(JoinedSources::build(ctx, &self.input(), &opts))?;
        Ok(PreparedPass {
            job: self,
            selection: selection.clone(),
            joined,
            started,
        })
    }

    /// [`Job::prepare_pass`], then [`PreparedPass::run`].
    pub fn run_pass<E: From<PipelineError>>(
        &'a self,
        runtime: &tokio::runtime::Runtime,
        selection: &PartitionSelection,
        encoder_options: &EncoderOptions,
        counters: &Counters,
        on_message: impl FnMut(EncodedMessage) -> Result<(), E>,
    ) -> Result<(PassReport, EncodeStats), E> {
        self.prepare_pass(runtime, selection)?
            .run(runtime, encoder_options, counters, on_message)
    }
}

impl PreparedPass<'_> {
    /// Each source with the partition chosen (`None`: every row).
    pub fn sources(&self) -> &[SourceRead] {
        &self.joined.sources
    }

    /// Reads, transforms and encodes the pass, handing each message to `on_message` in the
    /// order of its stream. Every default is checked against its column's type before a row
    /// is read. The first error of any step (or of `on_message`) stops the pass.
    ///
    /// Returns the pass's report and the encoders' counts (for checks over several passes,
    /// e.g. one length per vector feature).
    pub fn run<E: From<PipelineError>>(
        self,
        runtime: &tokio::runtime::Runtime,
        encoder_options: &EncoderOptions,
        counters: &Counters,
        mut on_message: impl FnMut(EncodedMessage) -> Result<(), E>,
    ) -> Result<(PassReport, EncodeStats), E> {
        let PreparedPass {
            job,
            selection,
            mut joined,
            started,
        } = self;
        let selection = &selection;
        if job.count_sources {
            runtime
                .block_on(joined.count_sources())
                .map_err(PipelineError::from)?;
        }
        for src in &joined.sources {
            tracing::info!(
                job = %job.name,
                source = %src.source,
                partition = src.partition.as_deref().unwrap_or("(all rows)"),
                "reading"
            );
        }
        let defaults: Vec<(String, String)> = job
            .plan
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.default.clone()))
            .collect();
        let fill = DefaultFill::new(&joined.schema(), &defaults).map_err(PipelineError::from)?;
        let sources = joined.sources.clone();
        let (streams, expected_rows) = runtime
            .block_on(joined.execute_counted())
            .map_err(PipelineError::from)?;
        let dedupe = Mutex::new(DuplicateKeys::with_slots(
            job.on_duplicate_key,
            &job.plan.entity_columns,
            job.changes.map_or(0, |c| c.dedupe_slots(expected_rows)),
        ));

        // One encoder per stream, made before any thread starts.
        let encoders = streams
            .iter()
            .map(|_| GroupSetEncoder::try_new(job.plan, encoder_options.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(PipelineError::from)?;
        let (tx, rx) = sync_channel::<Result<Batch, PipelineError>>(16);
        let mut stats = EncodeStats::default();
        let mut filled = vec![0u64; defaults.len()];
        let mut unchanged = 0u64;
        std::thread::scope(|scope| -> Result<(), E> {
            for (mut stream, encoder) in streams.into_iter().zip(encoders) {
                let tx = tx.clone();
                let handle = runtime.handle().clone();
                let mut steps = Steps {
                    plan: job.plan,
                    dedupe: &dedupe,
                    fill: fill.clone(),
                    encoder,
                    changes: job.changes,
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
                    let (last, stats) = steps.finish();
                    Counters::add(&counters.messages, last.len() as u64);
                    let _ = tx.send(Ok(Batch::Messages(last)));
                    let _ = tx.send(Ok(Batch::Done(
                        Box::new(stats),
                        steps.fill.filled.clone(),
                        steps.encoder.unchanged(),
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
                    Batch::Done(st, f, u) => {
                        stats.merge(&st);
                        unchanged += u;
                        for (a, b) in filled.iter_mut().zip(f) {
                            *a += b;
                        }
                    }
                }
            }
            Ok(())
        })?;
        if let Some(changes) = job.changes {
            changes.end_pass();
        }
        let dedupe = dedupe.into_inner().expect("no thread panicked holding it");
        if dedupe.duplicates > 0 {
            tracing::warn!(
                job = %job.name,
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
                + unchanged
                + if job.on_duplicate_key == OnDuplicateKey::KeepAny {
                    dedupe.duplicates
                } else {
                    0
                },
            dropped_null_key_rows: stats.dropped_null_key_rows,
            unchanged_rows: unchanged,
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
