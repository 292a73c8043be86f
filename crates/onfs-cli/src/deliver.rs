//! Sending messages to Kafka with every one accounted for: rounds, fail-fast, `--failed-out`,
//! and the summary.

use std::path::Path;
use std::time::Duration;

use onfs_core::partition::partition_for_key;
use onfs_file::{DirSink, Framed, OutFormat, RunInfo};
use onfs_kafka::{DeliveryReport, KafkaSink, Outgoing, ProducerConfig, SinkConfig};

use crate::args::KafkaArgs;
use crate::error::{failed, usage, CliError, CliResult};

pub fn producer_config(kafka: &KafkaArgs) -> CliResult<ProducerConfig> {
    let cfg = ProducerConfig::from_options(
        kafka
            .kafka_options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .map_err(usage)?;
    crate::logging::register_kafka_secrets(&cfg);
    Ok(cfg)
}

/// Connects to the brokers (checking the topic) before anything is read or sent.
pub fn connect(kafka: &KafkaArgs, producer: ProducerConfig) -> CliResult<KafkaSink> {
    let (Some(brokers), Some(topic)) = (&kafka.kafka_brokers, &kafka.topic) else {
        return Err(usage(anyhow::anyhow!(
            "pass --kafka-brokers HOST:PORT and --topic TOPIC"
        )));
    };
    if !kafka.kafka_connect_timeout.is_finite() || kafka.kafka_connect_timeout <= 0.0 {
        return Err(usage(anyhow::anyhow!(
            "--kafka-connect-timeout must be a positive number of seconds"
        )));
    }
    if let Some(r) = kafka.max_rate {
        if !r.is_finite() || r <= 0.0 {
            return Err(usage(anyhow::anyhow!(
                "--max-rate must be a positive number of rows per second, not {r}"
            )));
        }
    }
    let mut cfg = SinkConfig::new(brokers.clone(), topic.clone(), producer);
    cfg.max_rate_rows = kafka.max_rate;
    cfg.keep_failed = kafka.failed_out.is_some();
    // Never wait longer for the first answer than a message may wait for its delivery.
    cfg.connect_timeout =
        Duration::from_secs_f64(kafka.kafka_connect_timeout).min(cfg.delivery_timeout());
    KafkaSink::connect(cfg).map_err(|e| match e {
        onfs_kafka::KafkaError::Option { .. } => usage(e),
        _ => {
            eprintln!("sent: 0 messages delivered, 0 failed: nothing was sent");
            failed(e)
        }
    })
}

/// Feeds messages to a connected sink, stopping at the first failed delivery; what was not sent
/// or not delivered goes to `--failed-out`.
pub struct Deliverer {
    sink: KafkaSink,
    failed_out: Option<DirSink>,
    failed_out_path: Option<std::path::PathBuf>,
    unsent: u64,
    unsent_rows: u64,
    partitions: u32,
}

impl Deliverer {
    pub fn new(sink: KafkaSink, kafka: &KafkaArgs) -> CliResult<Deliverer> {
        let failed_out = match &kafka.failed_out {
            Some(dir) => Some(DirSink::create(dir, OutFormat::Frames, false)?),
            None => None,
        };
        Ok(Deliverer {
            partitions: sink.partitions() as u32,
            sink,
            failed_out,
            failed_out_path: kafka.failed_out.clone(),
            unsent: 0,
            unsent_rows: 0,
        })
    }

    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// Whether anything was handed to the producer.
    pub fn sent_any(&self) -> bool {
        self.sink.messages_sent() > 0
    }

    /// Rows delivered so far, readable from another thread.
    pub fn delivered_rows_counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        self.sink.delivered_counter()
    }

    pub fn offer(&mut self, m: &Framed) -> CliResult<()> {
        if self.sink.has_failures() {
            // Fail fast: the rest is kept, not sent.
            self.unsent += 1;
            self.unsent_rows += m.rows as u64;
            if let Some(out) = &mut self.failed_out {
                out.write(m)?;
            }
            return Ok(());
        }
        let partition = m
            .key
            .as_deref()
            .map(|k| partition_for_key(k, self.partitions) as i32);
        self.sink
            .send(Outgoing {
                value: &m.value,
                key: m.key.as_deref(),
                partition,
                intra_batch_id: m.intra_batch_id,
                rows: m.rows,
            })
            .map_err(failed)
    }

    /// Waits for every delivery report of what was sent so far (the end of a round).
    pub fn end_round(&self) -> CliResult<()> {
        self.sink
            .flush(Duration::from_secs(24 * 3600))
            .map_err(failed)
    }

    /// Flushes, writes `--failed-out`, prints the summary; fails unless every message was delivered.
    pub fn finish(mut self, what: &str) -> CliResult<DeliveryReport> {
        let (report, undelivered) = self.sink.finish();
        if let Some(mut out) = self.failed_out.take() {
            for u in &undelivered {
                out.write(&Framed {
                    intra_batch_id: u.intra_batch_id,
                    rows: u.rows,
                    key: u.key.clone(),
                    value: u.value.clone(),
                })?;
            }
            let kept = undelivered.len() as u64 + self.unsent;
            if kept > 0 {
                out.finish(RunInfo::default())?;
                eprintln!(
                    "kept {kept} undelivered messages in {}; send them with `onfs-push send {}`",
                    self.failed_out_path.as_ref().unwrap().display(),
                    self.failed_out_path.as_ref().unwrap().display()
                );
            } // else: dropped, the empty folder is left as it was made
        }
        print_summary(&report, what, self.unsent);
        if report.all_delivered() && self.unsent == 0 {
            return Ok(report);
        }
        let error = report
            .first_error
            .clone()
            .unwrap_or_else(|| "no delivery report".into());
        Err(CliError {
            code: 1,
            error: anyhow::anyhow!(
                "{} of {} messages were not delivered ({} rows){}: {error}",
                report.messages - report.delivered + self.unsent,
                report.messages + self.unsent,
                report.rows - report.delivered_rows + self.unsent_rows,
                if self.unsent > 0 {
                    format!("; {} were not sent after the first failure", self.unsent)
                } else {
                    String::new()
                }
            ),
        })
    }
}

fn print_summary(r: &DeliveryReport, what: &str, unsent: u64) {
    let secs = r.seconds.max(1e-9);
    eprintln!(
        "{what}: {} messages ({} rows, {:.1} MB): {} delivered, {} failed{}; {:.0} rows/s, {:.0} msgs/s, {:.1} MB/s over {:.2}s",
        r.messages,
        r.rows,
        r.bytes as f64 / 1e6,
        r.delivered,
        r.failed,
        if unsent > 0 { format!(", {unsent} not sent") } else { String::new() },
        r.delivered_rows as f64 / secs,
        r.delivered as f64 / secs,
        r.delivered_bytes as f64 / 1e6 / secs,
        r.seconds
    );
    if !r.per_partition.is_empty() {
        let parts: Vec<String> = r
            .per_partition
            .iter()
            .map(|(p, n)| format!("{p}={n}"))
            .collect();
        eprintln!("delivered per partition: {}", parts.join(" "));
    }
}

/// Sends every message under `path` in `rounds` rounds.
pub fn deliver_folder(d: &mut Deliverer, path: &Path, rounds: u32) -> CliResult<()> {
    for round in 0..rounds {
        for m in onfs_file::read_messages(path)? {
            let m = m?;
            if m.intra_batch_id.rem_euclid(rounds as i64) == round as i64 {
                d.offer(&m)?;
            }
        }
        if rounds > 1 {
            d.end_round()?;
            tracing::info!(round, rounds, "round delivered");
        }
    }
    Ok(())
}
