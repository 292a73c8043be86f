//! The Kafka sink: every message is counted when its delivery report arrives; a run succeeds only
//! when every message it sent has a successful report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

use crate::callbacks::{Accounting, AckJournal, Ctx, Meta, Sent};
use crate::config::SinkConfig;
use crate::options::ProducerConfig;
use crate::rate::RateLimiter;
use crate::report::{DeliveryReport, Undelivered};
use crate::KafkaError;

/// Header carrying the message's `intra_batch_id` (the consumer ignores headers).
pub const HEADER_INTRA_BATCH_ID: &str = "onfs-intra-batch-id";
/// Header carrying the number of rows in the message.
pub const HEADER_ROWS: &str = "onfs-rows";

/// One message to produce.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub value: &'a [u8],
    pub key: Option<&'a [u8]>,
    pub partition: Option<i32>,
    pub intra_batch_id: i64,
    pub rows: u32,
    /// The message's place in its spool: handed to the acknowledgement journal, if any, when
    /// the message is delivered.
    pub ordinal: Option<u64>,
}

/// A producer bound to one topic.
pub struct KafkaSink {
    producer: ThreadedProducer<Ctx>,
    accounting: Arc<Accounting>,
    cfg: SinkConfig,
    partitions: usize,
    rate: Option<RateLimiter>,
    /// When the first message was sent.
    started: Option<Instant>,
    sent: Sent,
}

impl KafkaSink {
    /// Creates the producer and checks, before anything is sent, that the brokers answer and the
    /// topic exists.
    pub fn connect(cfg: SinkConfig) -> Result<KafkaSink, KafkaError> {
        let mut sink = KafkaSink::create(cfg)?;
        sink.partitions = sink.check_topic()?;
        tracing::info!(
            brokers = %sink.cfg.brokers,
            topic = %sink.cfg.topic,
            partitions = sink.partitions,
            "connected to Kafka"
        );
        Ok(sink)
    }

    /// The producer, not yet connected (librdkafka connects in the background).
    fn create(cfg: SinkConfig) -> Result<KafkaSink, KafkaError> {
        let accounting = Accounting::new(cfg.keep_failed);
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", &cfg.brokers);
        for (k, v) in cfg.producer.entries() {
            client.set(k, v);
        }
        let producer: ThreadedProducer<Ctx> = client
            .create_with_context(Ctx {
                accounting: accounting.clone(),
            })
            .map_err(|e| config_error(&cfg.producer, e))?;
        Ok(KafkaSink {
            producer,
            accounting,
            rate: cfg.max_rate_rows.map(RateLimiter::new),
            partitions: 0,
            cfg,
            started: None,
            sent: Sent::default(),
        })
    }

    /// Waits for the brokers' answer about the topic; its number of partitions.
    fn check_topic(&self) -> Result<usize, KafkaError> {
        let cfg = &self.cfg;
        let metadata = self
            .producer
            .client()
            .fetch_metadata(Some(&cfg.topic), cfg.connect_timeout)
            .map_err(|e| KafkaError::Unreachable {
                brokers: cfg.brokers.clone(),
                waited: cfg.connect_timeout,
                detail: kerberos_hint(
                    certificate_hint(
                        self.accounting
                            .last_client_error()
                            .unwrap_or_else(|| e.to_string()),
                    ),
                    self.accounting.kerberos_refresh_error(),
                ),
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
        Ok(topic.partitions().len())
    }

    /// A sink that has not asked the brokers anything, with `partitions` assumed: for tests of
    /// what happens before a message reaches a broker.
    #[cfg(test)]
    pub(crate) fn unconnected(cfg: SinkConfig, partitions: usize) -> KafkaSink {
        let mut sink = KafkaSink::create(cfg).expect("producer configuration");
        sink.partitions = partitions;
        sink
    }

    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// Messages handed to the producer so far.
    pub fn messages_sent(&self) -> u64 {
        self.sent.messages
    }

    /// Messages with a successful delivery report so far.
    pub fn delivered(&self) -> u64 {
        self.accounting.delivered()
    }

    /// A handle to read the delivered rows from another thread (progress display).
    pub fn delivered_counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let accounting = self.accounting.clone();
        move || accounting.delivered_rows()
    }

    /// Whether any delivery has failed so far (a reason to stop sending).
    pub fn has_failures(&self) -> bool {
        self.accounting.any_failed()
    }

    /// Tells `journal` of every message with an ordinal delivered from now on (`None`: no one).
    pub fn journal(&self, journal: Option<Arc<dyn AckJournal>>) {
        self.accounting.set_journal(journal);
    }

    /// Keep (or not) the messages that fail from now on, for [`KafkaSink::finish`] to return.
    pub fn keep_failed(&mut self, keep: bool) {
        self.cfg.keep_failed = keep;
        self.accounting.keep_failed(keep);
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
                ordinal: m.ordinal,
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
        self.sent.messages += 1;
        self.sent.rows += m.rows as u64;
        self.sent.bytes += m.value.len() as u64;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, back)) => {
                    // Refused before it was queued (e.g. too large): a failed message.
                    self.accounting.record_failure(
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

    /// Flushes and reports; the messages that failed are returned when they were kept.
    pub fn finish(self) -> (DeliveryReport, Vec<Undelivered>) {
        let timeout = self.cfg.delivery_timeout() + Duration::from_secs(30);
        if let Err(e) = self.flush(timeout) {
            tracing::error!("{e}");
        }
        let seconds = self.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let report = self.accounting.report(self.sent, seconds);
        (report, self.accounting.take_undelivered())
    }

    /// The last error librdkafka reported for the client as a whole (e.g. authentication).
    pub fn last_client_error(&self) -> Option<String> {
        self.accounting.last_client_error()
    }
}

pub(crate) fn config_error(cfg: &ProducerConfig, e: RdError) -> KafkaError {
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
        setting: None,
    }
}

/// librdkafka says only "certificate verify failed" when the broker's certificate names another
/// host: both causes are named.
fn certificate_hint(detail: String) -> String {
    if detail.contains("certificate verify failed") {
        format!(
            "{detail} (the broker's certificate is not from a CA the truststore holds, or does not \
             name the host connected to; kafka.ssl.endpoint.identification.algorithm= turns the \
             host check off)"
        )
    } else {
        detail
    }
}

/// A GSSAPI failure says only that no Kerberos credentials were available: the ticket command's
/// failure before it (librdkafka runs kinit with the keytab and principal) is named with it.
fn kerberos_hint(detail: String, refresh: Option<String>) -> String {
    match refresh {
        // sh's "not found".
        Some(r) if r.ends_with("exited with code 127") => format!(
            "{detail} (no Kerberos ticket: {r}: kinit was not found; install MIT Kerberos' kinit \
             (Debian: krb5-user) or set sasl.kerberos.kinit.cmd)"
        ),
        Some(r) => format!(
            "{detail} (no Kerberos ticket: {r}; kinit's message above names the cause: the keytab \
             must hold keys of the principal, and the principal must be known to the KDC that \
             KRB5_CONFIG names)"
        ),
        None if detail.contains("No Kerberos credentials available") => format!(
            "{detail} (no Kerberos ticket: run kinit first, or give the login line \
             useKeyTab=true keyTab=\"...\" principal=\"...\")"
        ),
        None => detail,
    }
}

/// Removes secret values from a text (librdkafka may echo a value back).
pub fn redact_values(cfg: &ProducerConfig, text: &str) -> String {
    let mut out = text.to_string();
    for v in cfg.secrets() {
        out = out.replace(v, "<redacted>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_kerberos_ticket_command_is_named_with_the_gssapi_failure() {
        let gss = "GSSAPI Error: No credentials were supplied (No Kerberos credentials available)";
        let refresh =
            r#"Kerberos ticket refresh failed: kinit -t "/k.keytab" -k a@B: exited with code 1"#;
        let text = kerberos_hint(gss.into(), Some(refresh.into()));
        assert!(text.starts_with(gss), "{text}");
        assert!(text.contains(refresh), "{text}");
        assert!(
            text.contains("keytab must hold keys of the principal"),
            "{text}"
        );
        let text = kerberos_hint(gss.into(), Some("kinit: exited with code 127".into()));
        assert!(text.contains("kinit was not found"), "{text}");
        let text = kerberos_hint(gss.into(), None);
        assert!(text.contains("run kinit first"), "{text}");
        assert_eq!(kerberos_hint("refused".into(), None), "refused");
    }
}
