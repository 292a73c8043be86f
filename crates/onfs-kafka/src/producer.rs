//! The Kafka sink: every message is counted when its delivery report arrives; a run succeeds only
//! when every message it sent has a successful report.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use serde::Serialize;

use crate::options::ProducerConfig;
use crate::rate::RateLimiter;
use crate::KafkaError;

/// Header carrying the message's `intra_batch_id` (the consumer ignores headers).
pub const HEADER_INTRA_BATCH_ID: &str = "onfs-intra-batch-id";
/// Header carrying the number of rows in the message.
pub const HEADER_ROWS: &str = "onfs-rows";

/// Where and how to produce.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub brokers: String,
    pub topic: String,
    pub producer: ProducerConfig,
    /// Rows per second, smoothed over the run.
    pub max_rate_rows: Option<f64>,
    /// Keep the messages that failed, to write them out.
    pub keep_failed: bool,
    /// How long to wait for the cluster's metadata before sending.
    pub connect_timeout: Duration,
}

impl SinkConfig {
    pub fn new(
        brokers: impl Into<String>,
        topic: impl Into<String>,
        producer: ProducerConfig,
    ) -> Self {
        SinkConfig {
            brokers: brokers.into(),
            topic: topic.into(),
            producer,
            max_rate_rows: None,
            keep_failed: false,
            connect_timeout: Duration::from_secs(30),
        }
    }

    /// `delivery.timeout.ms` (librdkafka's `message.timeout.ms`), default 300 s.
    pub fn delivery_timeout(&self) -> Duration {
        let ms = self
            .producer
            .get("delivery.timeout.ms")
            .or(self.producer.get("message.timeout.ms"))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(300_000);
        Duration::from_millis(ms)
    }
}

/// One message to produce.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub value: &'a [u8],
    pub key: Option<&'a [u8]>,
    pub partition: Option<i32>,
    pub intra_batch_id: i64,
    pub rows: u32,
}

/// A message that was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    pub intra_batch_id: i64,
    pub rows: u32,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub error: String,
}

/// What happened to every message.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DeliveryReport {
    pub messages: u64,
    pub rows: u64,
    pub bytes: u64,
    pub delivered: u64,
    pub delivered_rows: u64,
    pub delivered_bytes: u64,
    pub failed: u64,
    pub failed_rows: u64,
    /// Delivered messages per partition.
    pub per_partition: BTreeMap<i32, u64>,
    pub seconds: f64,
    /// The first delivery error, if any.
    pub first_error: Option<String>,
}

impl DeliveryReport {
    pub fn all_delivered(&self) -> bool {
        self.failed == 0 && self.delivered == self.messages
    }
}

struct Meta {
    intra_batch_id: i64,
    rows: u32,
}

#[derive(Default)]
struct Shared {
    delivered: AtomicU64,
    delivered_rows: AtomicU64,
    delivered_bytes: AtomicU64,
    failed: AtomicU64,
    failed_rows: AtomicU64,
    per_partition: Mutex<BTreeMap<i32, u64>>,
    undelivered: Mutex<Vec<Undelivered>>,
    first_error: Mutex<Option<String>>,
    last_client_error: Mutex<Option<String>>,
    keep_failed: bool,
    any_failed: AtomicBool,
}

impl Shared {
    fn record_failure(
        &self,
        intra_batch_id: i64,
        rows: u32,
        key: Option<&[u8]>,
        value: &[u8],
        error: String,
    ) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.failed_rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.any_failed.store(true, Ordering::Relaxed);
        self.first_error
            .lock()
            .unwrap()
            .get_or_insert_with(|| error.clone());
        if self.keep_failed {
            self.undelivered.lock().unwrap().push(Undelivered {
                intra_batch_id,
                rows,
                key: key.map(<[u8]>::to_vec),
                value: value.to_vec(),
                error,
            });
        }
    }
}

struct Ctx {
    shared: Arc<Shared>,
}

impl ClientContext for Ctx {
    fn error(&self, error: RdError, reason: &str) {
        let text = format!("{error}: {reason}");
        tracing::warn!("kafka: {text}");
        *self.shared.last_client_error.lock().unwrap() = Some(text);
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        use rdkafka::config::RDKafkaLogLevel::*;
        match level {
            Emerg | Alert | Critical | Error => {
                tracing::error!(target: "librdkafka", "{fac}: {log_message}")
            }
            Warning => tracing::warn!(target: "librdkafka", "{fac}: {log_message}"),
            Notice | Info => tracing::info!(target: "librdkafka", "{fac}: {log_message}"),
            Debug => tracing::debug!(target: "librdkafka", "{fac}: {log_message}"),
        }
    }
}

impl ProducerContext for Ctx {
    type DeliveryOpaque = Box<Meta>;

    fn delivery(&self, result: &DeliveryResult<'_>, meta: Box<Meta>) {
        let s = &self.shared;
        match result {
            Ok(msg) => {
                s.delivered.fetch_add(1, Ordering::Relaxed);
                s.delivered_rows
                    .fetch_add(meta.rows as u64, Ordering::Relaxed);
                s.delivered_bytes
                    .fetch_add(msg.payload_len() as u64, Ordering::Relaxed);
                *s.per_partition
                    .lock()
                    .unwrap()
                    .entry(msg.partition())
                    .or_default() += 1;
            }
            Err((err, msg)) => s.record_failure(
                meta.intra_batch_id,
                meta.rows,
                msg.key(),
                msg.payload().unwrap_or_default(),
                err.to_string(),
            ),
        }
    }
}

/// A producer bound to one topic.
pub struct KafkaSink {
    producer: ThreadedProducer<Ctx>,
    shared: Arc<Shared>,
    cfg: SinkConfig,
    partitions: usize,
    rate: Option<RateLimiter>,
    /// When the first message was sent.
    started: Option<Instant>,
    messages: u64,
    rows: u64,
    bytes: u64,
}

impl KafkaSink {
    /// Creates the producer and checks, before anything is sent, that the brokers answer and the
    /// topic exists.
    pub fn connect(cfg: SinkConfig) -> Result<KafkaSink, KafkaError> {
        let shared = Arc::new(Shared {
            keep_failed: cfg.keep_failed,
            ..Default::default()
        });
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", &cfg.brokers);
        for (k, v) in cfg.producer.entries() {
            client.set(k, v);
        }
        let producer: ThreadedProducer<Ctx> = client
            .create_with_context(Ctx {
                shared: shared.clone(),
            })
            .map_err(|e| config_error(&cfg.producer, e))?;
        let metadata = producer
            .client()
            .fetch_metadata(Some(&cfg.topic), cfg.connect_timeout)
            .map_err(|e| {
                let detail = shared
                    .last_client_error
                    .lock()
                    .unwrap()
                    .clone()
                    .unwrap_or_else(|| e.to_string());
                KafkaError::Unreachable {
                    brokers: cfg.brokers.clone(),
                    waited: cfg.connect_timeout,
                    detail: detail.to_string(),
                }
            })?;
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == cfg.topic)
            .ok_or_else(|| KafkaError::TopicMissing {
                topic: cfg.topic.clone(),
                brokers: cfg.brokers.clone(),
            })?;
        if let Some(err) = topic.error() {
            let code: RDKafkaErrorCode = err.into();
            return Err(match code {
                RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                    KafkaError::TopicMissing {
                        topic: cfg.topic.clone(),
                        brokers: cfg.brokers.clone(),
                    }
                }
                other => KafkaError::Topic {
                    topic: cfg.topic.clone(),
                    detail: other.to_string(),
                },
            });
        }
        let partitions = topic.partitions().len();
        tracing::info!(
            brokers = %cfg.brokers,
            topic = %cfg.topic,
            partitions,
            "connected to Kafka"
        );
        Ok(KafkaSink {
            producer,
            shared,
            rate: cfg.max_rate_rows.map(RateLimiter::new),
            partitions,
            cfg,
            started: None,
            messages: 0,
            rows: 0,
            bytes: 0,
        })
    }

    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// Messages handed to the producer so far.
    pub fn messages_sent(&self) -> u64 {
        self.messages
    }

    /// Messages with a successful delivery report so far.
    pub fn delivered(&self) -> u64 {
        self.shared.delivered.load(Ordering::Relaxed)
    }

    /// A handle to read the delivered count from another thread (progress display).
    pub fn delivered_counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || shared.delivered_rows.load(Ordering::Relaxed)
    }

    /// Whether any delivery has failed so far (a reason to stop sending).
    pub fn has_failures(&self) -> bool {
        self.shared.any_failed.load(Ordering::Relaxed)
    }

    /// Queues a message, waiting while the producer's queue is full (bounded memory).
    pub fn send(&mut self, m: Outgoing<'_>) -> Result<(), KafkaError> {
        self.started.get_or_insert_with(Instant::now);
        if let Some(rate) = &mut self.rate {
            rate.wait_for(m.rows as u64);
        }
        let headers = OwnedHeaders::new_with_capacity(2)
            .insert(Header {
                key: HEADER_INTRA_BATCH_ID,
                value: Some(m.intra_batch_id.to_string().as_bytes()),
            })
            .insert(Header {
                key: HEADER_ROWS,
                value: Some(m.rows.to_string().as_bytes()),
            });
        let mut record: BaseRecord<'_, [u8], [u8], Box<Meta>> = BaseRecord::with_opaque_to(
            &self.cfg.topic,
            Box::new(Meta {
                intra_batch_id: m.intra_batch_id,
                rows: m.rows,
            }),
        )
        .payload(m.value)
        .headers(headers);
        if let Some(k) = m.key {
            record = record.key(k);
        }
        if let Some(p) = m.partition {
            record = record.partition(p);
        }
        self.messages += 1;
        self.rows += m.rows as u64;
        self.bytes += m.value.len() as u64;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, back)) => {
                    // Refused before it was queued (e.g. too large): a failed message.
                    self.shared.record_failure(
                        back.delivery_opaque.intra_batch_id,
                        m.rows,
                        m.key,
                        m.value,
                        e.to_string(),
                    );
                    return Ok(());
                }
            }
        }
    }

    /// Waits until every queued message has its delivery report (or `timeout` passes).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        match self.producer.flush(timeout) {
            Ok(()) => Ok(()),
            Err(_) => Err(KafkaError::FlushTimeout {
                waiting: self.producer.in_flight_count().max(0) as u64,
                waited: timeout,
            }),
        }
    }

    /// Flushes and reports; the messages that failed are returned for `--failed-out`.
    pub fn finish(self) -> (DeliveryReport, Vec<Undelivered>) {
        let timeout = self.cfg.delivery_timeout() + Duration::from_secs(30);
        if let Err(e) = self.flush(timeout) {
            tracing::error!("{e}");
        }
        let s = &self.shared;
        let mut report = DeliveryReport {
            messages: self.messages,
            rows: self.rows,
            bytes: self.bytes,
            delivered: s.delivered.load(Ordering::Relaxed),
            delivered_rows: s.delivered_rows.load(Ordering::Relaxed),
            delivered_bytes: s.delivered_bytes.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            failed_rows: s.failed_rows.load(Ordering::Relaxed),
            per_partition: s.per_partition.lock().unwrap().clone(),
            seconds: self.started.map_or(0.0, |t| t.elapsed().as_secs_f64()),
            first_error: s.first_error.lock().unwrap().clone(),
        };
        if report.first_error.is_none() && !report.all_delivered() {
            report.first_error = s.last_client_error.lock().unwrap().clone();
        }
        let undelivered = std::mem::take(&mut *s.undelivered.lock().unwrap());
        (report, undelivered)
    }

    /// The last error librdkafka reported for the client as a whole (e.g. authentication).
    pub fn last_client_error(&self) -> Option<String> {
        self.shared.last_client_error.lock().unwrap().clone()
    }
}

fn config_error(cfg: &ProducerConfig, e: RdError) -> KafkaError {
    // librdkafka names the property in its message; map it back to the user's spelling.
    let text = e.to_string();
    let named = cfg
        .entries()
        .map(|(k, _)| k)
        .find(|k| text.contains(&format!("\"{k}\"")) || text.contains(k));
    KafkaError::Option {
        option: named
            .map(|k| cfg.origin_of(k))
            .unwrap_or_else(|| "(producer configuration)".into()),
        problem: redact_values(cfg, &text),
    }
}

/// Removes secret values from a text (librdkafka may echo a value back).
pub fn redact_values(cfg: &ProducerConfig, text: &str) -> String {
    let mut out = text.to_string();
    for (k, v) in cfg.entries() {
        if crate::options::is_secret(k) && !v.is_empty() {
            out = out.replace(v, "<redacted>");
        }
    }
    out
}
