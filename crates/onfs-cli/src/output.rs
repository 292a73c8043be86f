//! Where encoded messages go: files (`--out`), Kafka (spooled per pass, or streamed), or nowhere
//! (`--dry-run`). Shared by `encode` and `run`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use onfs_core::{EncodedMessage, EncoderOptions};
use onfs_file::{DirSink, Manifest, OutFormat, RunInfo};
use onfs_kafka::{AckJournal, Deliverer, DeliveryReport};
use onfs_state::Acked;

use crate::args::{FileOutArgs, KafkaArgs, KeyMode, OutFormatArg, SpoolArgs};
use crate::deliver;
use crate::error::{file_flag, usage, write_failed, CliResult};

struct Spool {
    // A temporary spool is removed (with its files) when dropped; a resumable one (in a job's
    // resume area) is left for the state to clear once the pass is committed.
    _dir: Option<tempfile::TempDir>,
    /// Where the spool is, for errors: `--spool-dir` (or the system temp folder) and the folder,
    /// or `--state` and the job's resume area.
    flag: &'static str,
    root: PathBuf,
    path: PathBuf,
    /// `None` once the spool is complete (sealed).
    sink: Option<DirSink>,
}

/// What a failed `--out` leaves: nothing (the sink removes its files).
const OUT_LEFT: &str = "no message file of this run was left there";
/// What a failed spool leaves: the pass was not sent (its spool is removed).
const SPOOL_LEFT: &str =
    "the messages of this pass were spooled there before sending, and none of them was sent";

enum Target {
    Files(DirSink),
    Kafka {
        deliverer: Box<Deliverer>,
        spool_root: Option<PathBuf>,
        spool: Option<Spool>,
        rounds: u32,
    },
    Discard,
}

pub struct Output {
    target: Target,
    /// Where `--out` writes, for the summary.
    pub out_dir: Option<PathBuf>,
    pub messages: u64,
    pub bytes: u64,
    pub rows: u64,
}

/// What the run ends with.
pub struct OutputSummary {
    pub manifest: Option<Manifest>,
    pub delivery: Option<DeliveryReport>,
}

impl Output {
    /// Opens the output the flags ask for, and adjusts the encoder to it (message size limit
    /// and partitions for Kafka). Kafka brokers and topic are checked here, before any read.
    pub fn open(
        file_out: &FileOutArgs,
        kafka: &KafkaArgs,
        spool: &SpoolArgs,
        dry_run: bool,
        encoder: &mut EncoderOptions,
    ) -> CliResult<Output> {
        let out = |target| Output {
            target,
            out_dir: file_out.out.clone(),
            messages: 0,
            bytes: 0,
            rows: 0,
        };
        if kafka.kafka_brokers.is_some() && file_out.out.is_some() {
            return Err(usage(anyhow::anyhow!(
                "pass either --out DIR or --kafka-brokers, not both"
            )));
        }
        if spool.stream && kafka.kafka_brokers.is_none() {
            return Err(usage(anyhow::anyhow!(
                "--stream applies to Kafka output (--kafka-brokers)"
            )));
        }
        if spool.stream && kafka.kafka_num_batches > 1 {
            return Err(usage(anyhow::anyhow!(
                "--stream sends as it encodes, so it cannot send in --kafka-num-batches rounds"
            )));
        }
        if dry_run {
            return Ok(out(Target::Discard));
        }
        if kafka.kafka_brokers.is_some() {
            let producer = deliver::producer_config(kafka)?;
            encoder.max_message_bytes =
                Some(producer.max_message_value_bytes(encoder.max_message_bytes));
            let deliverer = deliver::connect(kafka, producer)?;
            if kafka.key == KeyMode::Entity {
                encoder.key_partitions = Some(deliverer.partitions());
            }
            return Ok(out(Target::Kafka {
                deliverer: Box::new(deliverer),
                spool_root: (!spool.stream)
                    .then(|| spool.spool_dir.clone().unwrap_or_else(std::env::temp_dir)),
                spool: None,
                rounds: kafka.kafka_num_batches,
            }));
        }
        let Some(dir) = &file_out.out else {
            return Err(usage(anyhow::anyhow!(
                "no output: pass --out DIR, or --kafka-brokers HOST:PORT --topic TOPIC (or --dry-run)"
            )));
        };
        let format = match file_out.out_format {
            OutFormatArg::Frames => OutFormat::Frames,
            OutFormatArg::Parquet => OutFormat::Parquet,
        };
        Ok(out(Target::Files(
            DirSink::create(dir, format, file_out.overwrite).map_err(file_flag("--out"))?,
        )))
    }

    /// Rows delivered so far, for the progress line (Kafka output only).
    pub fn delivered_rows_counter(&self) -> Option<impl Fn() -> u64 + Send + Sync + 'static> {
        match &self.target {
            Target::Kafka { deliverer, .. } => Some(deliverer.delivered_rows_counter()),
            _ => None,
        }
    }

    /// Whether messages leave as they are encoded (Kafka with `--stream`): a data error found
    /// late cannot hold back the earlier ones.
    pub fn sends_while_encoding(&self) -> bool {
        matches!(
            self.target,
            Target::Kafka {
                spool_root: None,
                ..
            }
        )
    }

    /// Whether the output spools each pass before sending it to Kafka: what a cut run can
    /// resume.
    pub fn spools(&self) -> bool {
        matches!(
            self.target,
            Target::Kafka {
                spool_root: Some(_),
                ..
            }
        )
    }

    /// Starts a pass: Kafka output gets a fresh spool, at `resumable` (a job's resume area,
    /// made empty by the caller) or in a temporary folder.
    pub fn begin_pass(&mut self, resumable: Option<&Path>) -> CliResult<()> {
        if let Target::Kafka {
            spool_root: Some(root),
            spool,
            ..
        } = &mut self.target
        {
            let (dir, path, flag, at) = match resumable {
                Some(path) => (None, path.to_path_buf(), "spool", path.to_path_buf()),
                None => {
                    let dir = tempfile::Builder::new()
                        .prefix("onfs-spool-")
                        .tempdir_in(root.as_path())
                        .map_err(|e| {
                            usage(anyhow::anyhow!("--spool-dir {}: {e}", root.display()))
                        })?;
                    let path = dir.path().join("messages");
                    (Some(dir), path, "--spool-dir", root.clone())
                }
            };
            let sink = DirSink::create(&path, OutFormat::Frames, false)
                .map_err(write_failed(flag, &at, SPOOL_LEFT))?;
            *spool = Some(Spool {
                _dir: dir,
                flag,
                root: at,
                path,
                sink: Some(sink),
            });
        }
        Ok(())
    }

    pub fn write(&mut self, m: EncodedMessage) -> CliResult<()> {
        self.messages += 1;
        self.bytes += m.value.len() as u64;
        self.rows += m.rows as u64;
        let framed = m.into();
        match &mut self.target {
            Target::Files(sink) => sink.write(&framed).map_err(write_failed(
                "--out",
                self.out_dir.as_deref().unwrap_or(Path::new("")),
                OUT_LEFT,
            ))?,
            Target::Kafka {
                spool:
                    Some(Spool {
                        sink: Some(sink),
                        flag,
                        root,
                        ..
                    }),
                ..
            } => sink
                .write(&framed)
                .map_err(write_failed(flag, root, SPOOL_LEFT))?,
            Target::Kafka { deliverer, .. } => deliver::offer(deliverer, &framed, None)?,
            Target::Discard => {}
        }
        Ok(())
    }

    /// Completes the pass's spool (its manifest written): nothing is sent yet.
    pub fn seal_pass(&mut self, info: RunInfo) -> CliResult<()> {
        if let Target::Kafka { spool: Some(s), .. } = &mut self.target {
            if let Some(sink) = s.sink.take() {
                sink.finish(info)
                    .map_err(write_failed(s.flag, &s.root, SPOOL_LEFT))?;
            }
        }
        Ok(())
    }

    /// Sends the sealed spool (in rounds); a temporary spool is removed.
    pub fn deliver_pass(&mut self) -> CliResult<()> {
        if let Target::Kafka {
            deliverer,
            spool,
            rounds,
            ..
        } = &mut self.target
        {
            if let Some(s) = spool.take() {
                deliver::deliver_folder(deliverer, &s.path, *rounds, None)?;
            }
        }
        Ok(())
    }

    /// Ends a pass: its spool is sealed, sent and removed.
    pub fn end_pass(&mut self, info: RunInfo) -> CliResult<()> {
        self.seal_pass(info)?;
        self.deliver_pass()
    }

    /// Sends the messages of a cut run's sealed spool that were not acknowledged.
    pub fn resume_pass(&mut self, spool: &Path, acked: &Acked) -> CliResult<u64> {
        match &mut self.target {
            Target::Kafka {
                deliverer, rounds, ..
            } => deliver::deliver_folder(deliverer, spool, *rounds, Some(acked)),
            _ => Ok(0),
        }
    }

    /// Tells `journal` of each spooled message delivered from now on (Kafka output).
    pub fn journal(&self, journal: Option<Arc<dyn AckJournal>>) {
        if let Target::Kafka { deliverer, .. } = &self.target {
            deliverer.journal(journal);
        }
    }

    /// Whether everything sent so far was delivered, waiting for the delivery reports (Kafka);
    /// false for files, which are complete only when finished.
    pub fn delivered_so_far(&self) -> CliResult<bool> {
        match &self.target {
            Target::Kafka { deliverer, .. } => deliverer
                .delivered_so_far()
                .map_err(crate::deliver::kafka_error),
            _ => Ok(false),
        }
    }

    /// Completes the output: files get their manifest, Kafka its final flush and summary.
    pub fn finish(self, info: RunInfo) -> CliResult<OutputSummary> {
        match self.target {
            Target::Files(sink) => Ok(OutputSummary {
                manifest: Some(sink.finish(info).map_err(write_failed(
                    "--out",
                    self.out_dir.as_deref().unwrap_or(Path::new("")),
                    OUT_LEFT,
                ))?),
                delivery: None,
            }),
            Target::Kafka { deliverer, .. } => Ok(OutputSummary {
                manifest: None,
                delivery: Some(deliver::finish(*deliverer, "sent")?),
            }),
            Target::Discard => Ok(OutputSummary {
                manifest: None,
                delivery: None,
            }),
        }
    }

    /// After an error: what was already sent is flushed and accounted for; files are removed.
    pub fn abandon(self) {
        if let Target::Kafka {
            deliverer, spool, ..
        } = self.target
        {
            if spool.is_none() && deliverer.sent_any() {
                let _ = deliver::finish(*deliverer, "sent before the error");
            }
        }
    }
}
