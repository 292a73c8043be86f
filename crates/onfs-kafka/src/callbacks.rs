//! librdkafka's callbacks: every delivery report counted (delivered, failed, per partition), the
//! failed messages kept when asked, the client's errors remembered for the messages that explain
//! a failure.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rdkafka::error::KafkaError as RdError;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::ClientContext;

use crate::report::{DeliveryReport, Undelivered};

/// What travels with a message to its delivery report.
pub(crate) struct Meta {
    pub intra_batch_id: i64,
    pub rows: u32,
    pub ordinal: Option<u64>,
}

/// Told of each message (by its ordinal) as its successful delivery report arrives: a record of
/// what the brokers acknowledged that outlives the process, so that a cut run can be resumed
/// without sending those again. Called on the producer's thread: keep it short.
pub trait AckJournal: Send + Sync {
    fn acknowledged(&self, ordinal: u64);
}

/// The counts the delivery reports add to, shared by the producer's thread and the sender.
#[derive(Default)]
pub(crate) struct Accounting {
    delivered: AtomicU64,
    delivered_rows: AtomicU64,
    delivered_bytes: AtomicU64,
    failed: AtomicU64,
    failed_rows: AtomicU64,
    per_partition: Mutex<BTreeMap<i32, u64>>,
    undelivered: Mutex<Vec<Undelivered>>,
    first_error: Mutex<Option<String>>,
    last_client_error: Mutex<Option<String>>,
    kerberos_refresh_error: Mutex<Option<String>>,
    keep_failed: AtomicBool,
    any_failed: AtomicBool,
    journal: Mutex<Option<Arc<dyn AckJournal>>>,
}

/// What was handed to the producer, for the report.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sent {
    pub messages: u64,
    pub rows: u64,
    pub bytes: u64,
}

impl Accounting {
    pub fn new(keep_failed: bool) -> Arc<Accounting> {
        let a = Accounting::default();
        a.keep_failed.store(keep_failed, Ordering::Relaxed);
        Arc::new(a)
    }

    /// Keep (or not) the messages that fail from now on.
    pub fn keep_failed(&self, keep: bool) {
        self.keep_failed.store(keep, Ordering::Relaxed);
    }

    pub fn set_journal(&self, journal: Option<Arc<dyn AckJournal>>) {
        *self.journal.lock().unwrap() = journal;
    }

    pub fn record_delivery(&self, rows: u32, bytes: usize, partition: i32) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.delivered_rows
            .fetch_add(rows as u64, Ordering::Relaxed);
        self.delivered_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        *self
            .per_partition
            .lock()
            .unwrap()
            .entry(partition)
            .or_default() += 1;
    }

    pub fn record_failure(
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
        if self.keep_failed.load(Ordering::Relaxed) {
            self.undelivered.lock().unwrap().push(Undelivered {
                intra_batch_id,
                rows,
                key: key.map(<[u8]>::to_vec),
                value: value.to_vec(),
                error,
            });
        }
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    pub fn delivered_rows(&self) -> u64 {
        self.delivered_rows.load(Ordering::Relaxed)
    }

    /// Whether any delivery has failed so far.
    pub fn any_failed(&self) -> bool {
        self.any_failed.load(Ordering::Relaxed)
    }

    pub fn set_client_error(&self, text: String) {
        *self.last_client_error.lock().unwrap() = Some(text);
    }

    /// Remembers `text` unless an error that says why is remembered already: "all brokers are
    /// down" follows a failed TLS handshake or authentication, and would hide its cause.
    pub fn set_summary_client_error(&self, text: String) {
        let mut last = self.last_client_error.lock().unwrap();
        if last.is_none() {
            *last = Some(text);
        }
    }

    pub fn last_client_error(&self) -> Option<String> {
        self.last_client_error.lock().unwrap().clone()
    }

    /// The last failure of librdkafka's Kerberos ticket command (kinit), which explains the
    /// GSSAPI authentication failure that follows it.
    pub fn kerberos_refresh_error(&self) -> Option<String> {
        self.kerberos_refresh_error.lock().unwrap().clone()
    }

    /// The counts so far; the first error, or the client's last one when some message has no
    /// report at all.
    pub fn report(&self, sent: Sent, seconds: f64) -> DeliveryReport {
        let mut report = DeliveryReport {
            messages: sent.messages,
            rows: sent.rows,
            bytes: sent.bytes,
            delivered: self.delivered(),
            delivered_rows: self.delivered_rows(),
            delivered_bytes: self.delivered_bytes.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            failed_rows: self.failed_rows.load(Ordering::Relaxed),
            per_partition: self.per_partition.lock().unwrap().clone(),
            seconds,
            first_error: self.first_error.lock().unwrap().clone(),
        };
        if report.first_error.is_none() && !report.all_delivered() {
            report.first_error = self.last_client_error();
        }
        report
    }

    /// The failed messages kept so far, taken out.
    pub fn take_undelivered(&self) -> Vec<Undelivered> {
        std::mem::take(&mut *self.undelivered.lock().unwrap())
    }
}

/// The producer's context: client errors and logs to tracing, delivery reports to the accounting.
pub(crate) struct Ctx {
    pub accounting: Arc<Accounting>,
}

impl ClientContext for Ctx {
    fn error(&self, error: RdError, reason: &str) {
        let text = format!("{error}: {reason}");
        tracing::warn!("kafka: {text}");
        if error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::AllBrokersDown) {
            self.accounting.set_summary_client_error(text);
        } else {
            self.accounting.set_client_error(text);
        }
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        use rdkafka::config::RDKafkaLogLevel::*;
        if fac == "SASLREFRESH" && matches!(level, Emerg | Alert | Critical | Error) {
            // Without librdkafka's "[thrd:main]: " prefix.
            let text = match log_message.split_once("]: ") {
                Some((thread, rest)) if thread.starts_with("[thrd:") => rest,
                _ => log_message,
            };
            *self.accounting.kerberos_refresh_error.lock().unwrap() = Some(text.into());
        }
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
        match result {
            Ok(msg) => {
                self.accounting
                    .record_delivery(meta.rows, msg.payload_len(), msg.partition());
                if let Some(ordinal) = meta.ordinal {
                    if let Some(j) = &*self.accounting.journal.lock().unwrap() {
                        j.acknowledged(ordinal);
                    }
                }
            }
            Err((err, msg)) => self.accounting.record_failure(
                meta.intra_batch_id,
                meta.rows,
                msg.key(),
                msg.payload().unwrap_or_default(),
                err.to_string(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(messages: u64, rows: u64) -> Sent {
        Sent {
            messages,
            rows,
            bytes: messages * 10,
        }
    }

    #[test]
    fn deliveries_and_failures_are_counted() {
        let a = Accounting::new(false);
        a.record_delivery(5, 10, 0);
        a.record_delivery(5, 10, 2);
        a.record_delivery(3, 10, 2);
        assert!(!a.any_failed());
        a.record_failure(3, 7, None, b"v", "too large".into());
        a.record_failure(4, 1, None, b"v", "later".into());
        assert!(a.any_failed());
        let r = a.report(sent(5, 21), 1.5);
        assert_eq!(
            (r.delivered, r.delivered_rows, r.delivered_bytes),
            (3, 13, 30)
        );
        assert_eq!((r.failed, r.failed_rows), (2, 8));
        assert_eq!(r.per_partition, BTreeMap::from([(0, 1), (2, 2)]));
        assert_eq!(r.first_error.as_deref(), Some("too large"));
        assert!(!r.all_delivered());
        assert!(a.take_undelivered().is_empty(), "not kept unless asked");
    }

    #[test]
    fn failed_messages_are_kept_once_asked() {
        let a = Accounting::new(false);
        a.record_failure(0, 1, None, b"a", "e0".into());
        a.keep_failed(true);
        a.record_failure(1, 2, Some(b"k"), b"b", "e1".into());
        let kept = a.take_undelivered();
        assert_eq!(
            kept,
            vec![Undelivered {
                intra_batch_id: 1,
                rows: 2,
                key: Some(b"k".to_vec()),
                value: b"b".to_vec(),
                error: "e1".into(),
            }]
        );
        assert!(a.take_undelivered().is_empty());
    }

    #[test]
    fn a_message_without_report_is_explained_by_the_client_error() {
        let a = Accounting::new(false);
        a.set_client_error("Local: Authentication failure".into());
        let r = a.report(sent(2, 2), 0.0);
        assert_eq!(
            r.first_error.as_deref(),
            Some("Local: Authentication failure")
        );
        let a = Accounting::new(false);
        a.set_client_error("transient".into());
        a.record_delivery(1, 10, 0);
        assert_eq!(a.report(sent(1, 1), 0.0).first_error, None, "all delivered");
    }
}
