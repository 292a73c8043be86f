//! A Kafka destination checked without sending anything: the brokers answer, the topic exists
//! with a leader for each partition, and an idempotent producer is given its producer id (the
//! brokers accept this client as a writer).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::ClientContext;

use crate::config::SinkConfig;
use crate::KafkaError;

/// What the brokers said about the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicCheck {
    pub partitions: usize,
    /// The id the brokers gave the idempotent producer.
    pub producer_id: i64,
}

/// The producer's state as its statistics and errors report it.
#[derive(Default)]
struct Watch {
    /// `eos.idemp_state` and `eos.producer_id`.
    idempotence: Mutex<Option<(String, i64)>>,
    error: Mutex<Option<String>>,
}

impl ClientContext for Watch {
    fn stats(&self, statistics: Statistics) {
        if let Some(eos) = statistics.eos {
            *self.idempotence.lock().unwrap() = Some((eos.idemp_state, eos.producer_id));
        }
    }

    fn error(&self, error: RdError, reason: &str) {
        *self.error.lock().unwrap() = Some(format!("{error}: {reason}"));
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        tracing::debug!(target: "librdkafka", ?level, "{fac}: {log_message}");
    }
}

impl ProducerContext for Watch {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

/// Checks the brokers, the topic and that an idempotent producer may write, within
/// `cfg.connect_timeout` for each step; nothing is produced.
pub fn check_destination(cfg: &SinkConfig) -> Result<TopicCheck, KafkaError> {
    crate::topic::check_topic_name(&cfg.topic)?;
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &cfg.brokers);
    for (k, v) in cfg.producer.entries() {
        client.set(k, v);
    }
    client
        .set("enable.idempotence", "true")
        .set("statistics.interval.ms", "100");
    let producer: BaseProducer<Watch> = client
        .create_with_context(Watch::default())
        .map_err(|e| crate::sink::config_error(&cfg.producer, e))?;
    let last_error = || producer.context().error.lock().unwrap().clone();
    let metadata = producer
        .client()
        .fetch_metadata(Some(&cfg.topic), cfg.connect_timeout)
        .map_err(|e| KafkaError::Unreachable {
            brokers: cfg.brokers.clone(),
            waited: cfg.connect_timeout,
            detail: last_error().unwrap_or_else(|| e.to_string()),
        })?;
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == cfg.topic)
        .ok_or_else(|| missing(cfg))?;
    if let Some(err) = topic.error() {
        return Err(match RDKafkaErrorCode::from(err) {
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                missing(cfg)
            }
            other => KafkaError::Topic {
                topic: cfg.topic.clone(),
                detail: other.to_string(),
            },
        });
    }
    if let Some(p) = topic.partitions().iter().find(|p| p.leader() < 0) {
        return Err(KafkaError::Topic {
            topic: cfg.topic.clone(),
            detail: format!("partition {} has no leader", p.id()),
        });
    }
    let partitions = topic.partitions().len();
    // The producer asks for its id as soon as it is connected; its statistics say when it has one.
    let started = Instant::now();
    loop {
        producer.poll(Duration::from_millis(50));
        if let Some(e) = producer.client().fatal_error() {
            return Err(not_writable(cfg, format!("{e:?}")));
        }
        if let Some((state, id)) = producer.context().idempotence.lock().unwrap().clone() {
            if state == "Assigned" && id >= 0 {
                return Ok(TopicCheck {
                    partitions,
                    producer_id: id,
                });
            }
        }
        if started.elapsed() > cfg.connect_timeout {
            let detail = last_error().unwrap_or_else(|| "no producer id was given".into());
            return Err(not_writable(cfg, detail));
        }
    }
}

fn missing(cfg: &SinkConfig) -> KafkaError {
    KafkaError::TopicMissing {
        topic: cfg.topic.clone(),
        brokers: cfg.brokers.clone(),
    }
}

fn not_writable(cfg: &SinkConfig, detail: String) -> KafkaError {
    KafkaError::Topic {
        topic: cfg.topic.clone(),
        detail: format!(
            "an idempotent producer could not start ({}); check the client's write permissions (IdempotentWrite, Write on the topic)",
            crate::sink::redact_values(&cfg.producer, &detail)
        ),
    }
}
