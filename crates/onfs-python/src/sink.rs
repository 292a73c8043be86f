//! `KafkaSink` (send message batches) and `Pusher` (encode and send in one pass), both with the
//! command line's delivery accounting: every message counted when its delivery report arrives,
//! sending stops at the first failure, and the report says what was not delivered.
//!
//! A producer is created when one of these is constructed, inside the process that uses it
//! (librdkafka is not fork-safe: never create one before Spark forks its workers).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use onfs_core::frame::RecordReader;
use onfs_core::EncodedMessage;
use onfs_kafka::{Deliverer, DeliveryConfig, DeliveryOutcome, Outgoing, ProducerConfig, Round};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyRecordBatch;

use crate::batch::batch_messages;
use crate::changes::{BatchEncoder, ChangedOnly};
use crate::encoder::{encoder_options, new_encoder, StoreKw};
use crate::errors;
use crate::plan::PyPlan;

/// What reading a spool file back buffers.
const SPOOL_READ_BUFFER: usize = 1 << 20;

/// Checks the arguments, then connects (the brokers answer, the topic exists).
fn connect(
    bootstrap_servers: &str,
    topic: &str,
    producer: ProducerConfig,
    connect_timeout: f64,
    max_rate: Option<f64>,
) -> PyResult<Deliverer> {
    let mut cfg = DeliveryConfig::new(bootstrap_servers, topic, producer);
    cfg.connect_timeout = connect_timeout;
    cfg.max_rate = max_rate;
    Deliverer::connect(cfg).map_err(errors::kafka)
}

/// Offers the messages of `round` (`intra_batch_id % rounds`), unkeyed.
fn offer_encoded(d: &mut Deliverer, messages: &[EncodedMessage], round: Round) -> PyResult<()> {
    for m in messages {
        if round.includes(m.intra_batch_id) {
            offer(d, &m.value, m.intra_batch_id, m.rows)?;
        }
    }
    Ok(())
}

fn offer(d: &mut Deliverer, value: &[u8], intra_batch_id: i64, rows: u32) -> PyResult<()> {
    d.offer(Outgoing {
        value,
        key: None,
        partition: None,
        intra_batch_id,
        rows,
        ordinal: None,
    })
    .map_err(errors::kafka)
}

pub fn producer_config(options: Option<HashMap<String, String>>) -> PyResult<ProducerConfig> {
    let options = options.unwrap_or_default();
    let mut pairs: Vec<(&str, &str)> = options
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.sort();
    ProducerConfig::from_options(pairs).map_err(errors::kafka)
}

fn report_dict<'py>(py: Python<'py>, outcome: DeliveryOutcome) -> PyResult<Bound<'py, PyDict>> {
    let DeliveryOutcome {
        report: r,
        unsent,
        unsent_rows,
        ..
    } = outcome;
    let d = PyDict::new(py);
    d.set_item("messages", r.messages + unsent)?;
    d.set_item("rows", r.rows + unsent_rows)?;
    d.set_item("bytes", r.bytes)?;
    d.set_item("delivered", r.delivered)?;
    d.set_item("delivered_rows", r.delivered_rows)?;
    d.set_item("delivered_bytes", r.delivered_bytes)?;
    d.set_item("failed", r.failed)?;
    d.set_item("failed_rows", r.failed_rows)?;
    d.set_item("unsent", unsent)?;
    d.set_item("unsent_rows", unsent_rows)?;
    d.set_item("seconds", r.seconds)?;
    d.set_item("first_error", r.first_error)?;
    let parts = PyDict::new(py);
    for (p, n) in &r.per_partition {
        parts.set_item(p, n)?;
    }
    d.set_item("per_partition", parts)?;
    Ok(d)
}

fn finished() -> PyErr {
    PyRuntimeError::new_err("this sink is finished; create a new one to send more")
}

/// Sends message batches (a `value` binary column and an `intra_batch_id` column) to one topic.
#[pyclass(name = "KafkaSink", module = "onfs_push._onfs")]
pub struct PyKafkaSink {
    sending: Option<Deliverer>,
}

#[pymethods]
impl PyKafkaSink {
    /// Connects (checking that the brokers answer and the topic exists) before anything is sent.
    /// `options` are producer options in Spark's form (`kafka.acks`) or librdkafka's own.
    #[new]
    #[pyo3(signature = (bootstrap_servers, topic, options=None, connect_timeout=30.0, max_rate=None))]
    fn new(
        py: Python<'_>,
        bootstrap_servers: &str,
        topic: &str,
        options: Option<HashMap<String, String>>,
        connect_timeout: f64,
        max_rate: Option<f64>,
    ) -> PyResult<Self> {
        let producer = producer_config(options)?;
        let sending = py.detach(|| {
            connect(
                bootstrap_servers,
                topic,
                producer,
                connect_timeout,
                max_rate,
            )
        })?;
        Ok(PyKafkaSink {
            sending: Some(sending),
        })
    }

    /// Queues every message of a batch, waiting while the producer's queue is full.
    fn send(&mut self, py: Python<'_>, batch: PyRecordBatch) -> PyResult<()> {
        let sending = self.sending.as_mut().ok_or_else(finished)?;
        let batch = batch.into_inner();
        py.detach(|| {
            for m in batch_messages(&batch)? {
                offer(
                    sending,
                    m.value,
                    m.intra_batch_id,
                    onfs_core::proto_rows(m.value),
                )?;
            }
            Ok(())
        })
    }

    /// Queues the messages of round `round_index` of `rounds` (`intra_batch_id % rounds`) from a
    /// spool file a `Spooler` wrote, in order; returns how many were queued.
    #[pyo3(signature = (path, round_index=0, rounds=1))]
    fn send_spool(
        &mut self,
        py: Python<'_>,
        path: PathBuf,
        round_index: i64,
        rounds: i64,
    ) -> PyResult<u64> {
        let sending = self.sending.as_mut().ok_or_else(finished)?;
        let round = Round::new(round_index, rounds).map_err(errors::kafka)?;
        py.detach(|| {
            let file = File::open(&path).map_err(|e| errors::spool_io(&path, e))?;
            let reader = BufReader::with_capacity(SPOOL_READ_BUFFER, file);
            let records =
                RecordReader::new(reader, path.to_string_lossy()).map_err(errors::spool)?;
            let mut queued = 0;
            for m in records {
                let m = m.map_err(errors::spool)?;
                if round.includes(m.intra_batch_id) {
                    offer(sending, &m.value, m.intra_batch_id, m.rows)?;
                    queued += 1;
                }
            }
            Ok(queued)
        })
    }

    /// Waits until every message sent so far has its delivery report.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let sending = self.sending.as_ref().ok_or_else(finished)?;
        py.detach(|| sending.flush().map_err(errors::kafka))
    }

    /// Waits for every delivery report; returns the counts (`messages`, `delivered`, `failed`,
    /// `unsent` ... and `first_error`). It does not raise on failed deliveries: check `failed`
    /// and `unsent`.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let sending = self.sending.take().ok_or_else(finished)?;
        let outcome = py.detach(|| sending.finish().map_err(errors::kafka))?;
        report_dict(py, outcome)
    }
}

/// Encodes record batches and sends the messages in one pass, never holding more than the
/// producer's queue.
#[pyclass(name = "Pusher", module = "onfs_push._onfs")]
pub struct PyPusher {
    encoder: BatchEncoder,
    sending: Option<Deliverer>,
    messages: Vec<EncodedMessage>,
    /// The round this pass sends.
    round: Round,
}

#[pymethods]
impl PyPusher {
    #[new]
    #[pyo3(signature = (plan, bootstrap_servers, topic, options=None, intra_batch_size=20, allow_out_of_range=false, max_message_bytes=None, connect_timeout=30.0, max_rate=None, round_index=0, rounds=1, *, vector_lengths=None, vector_fit=None, strict_store=false, changed_only=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        plan: &PyPlan,
        bootstrap_servers: &str,
        topic: &str,
        options: Option<HashMap<String, String>>,
        intra_batch_size: i64,
        allow_out_of_range: bool,
        max_message_bytes: Option<i64>,
        connect_timeout: f64,
        max_rate: Option<f64>,
        round_index: i64,
        rounds: i64,
        vector_lengths: Option<HashMap<String, usize>>,
        vector_fit: Option<String>,
        strict_store: bool,
        changed_only: Option<ChangedOnly>,
    ) -> PyResult<Self> {
        let round = Round::new(round_index, rounds).map_err(errors::kafka)?;
        let mut opts = encoder_options(intra_batch_size, allow_out_of_range, max_message_bytes)?;
        let store = StoreKw {
            vector_lengths,
            vector_fit,
            strict_store,
        };
        let producer = producer_config(options)?;
        opts.max_message_bytes = Some(producer.max_message_value_bytes(opts.max_message_bytes));
        // Checked before connecting: a store rule the plan breaks fails at once.
        let encoder = new_encoder(py, &plan.plan, opts, &store, true, changed_only)?;
        let sending = py.detach(|| {
            connect(
                bootstrap_servers,
                topic,
                producer,
                connect_timeout,
                max_rate,
            )
        })?;
        Ok(PyPusher {
            encoder,
            sending: Some(sending),
            messages: Vec::new(),
            round,
        })
    }

    /// Encodes one record batch and sends the messages it completed.
    fn push(&mut self, py: Python<'_>, batch: PyRecordBatch) -> PyResult<()> {
        let sending = self.sending.as_mut().ok_or_else(finished)?;
        let batch = batch.into_inner();
        let (encoder, messages, round) = (&mut self.encoder, &mut self.messages, self.round);
        py.detach(|| {
            messages.clear();
            encoder.encode_into(&batch, messages)?;
            offer_encoded(sending, messages, round)
        })
    }

    /// Sends the last message, waits for every delivery report, and returns the counts with the
    /// encoder's (`encode`: rows, dropped null-key rows ...).
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut sending = self.sending.take().ok_or_else(finished)?;
        let tail = self.encoder.finish();
        let round = self.round;
        let outcome = py.detach(|| -> PyResult<_> {
            offer_encoded(&mut sending, &tail, round)?;
            sending.finish().map_err(errors::kafka)
        })?;
        let d = report_dict(py, outcome)?;
        d.set_item("encode", self.encoder.report(py)?)?;
        Ok(d)
    }
}
