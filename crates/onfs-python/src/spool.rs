//! `Spooler`: a partition's messages encoded once, into a file local to the executor (the message
//! file framing), so that a check pass that refuses bad data before anything is sent does not
//! cost a second encoding: the sending pass sends the file (`KafkaSink.send_spool`).
//!
//! The messages are exactly those a `Pusher` over the same rows makes: the same encoder, store
//! rules and producer-derived message size limit. The file appears under its name only when
//! complete (written as `NAME.part`, renamed by `finish`); a spooler dropped unfinished removes
//! its part file.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use onfs_core::frame::{write_record, Framed, MAGIC};
use onfs_core::EncodedMessage;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyRecordBatch;

use crate::changes::{BatchEncoder, ChangedOnly};
use crate::encoder::{encoder_options, new_encoder, tallies_json, StoreKw};
use crate::errors;
use crate::plan::PyPlan;
use crate::sink::producer_config;

/// What a spool write buffers before it reaches the file.
const WRITE_BUFFER: usize = 1 << 20;

/// Encodes the record batches of one partition into a spool file.
#[pyclass(name = "Spooler", module = "onfs_push._onfs")]
pub struct PySpooler {
    encoder: BatchEncoder,
    out: Option<BufWriter<File>>,
    path: PathBuf,
    part: PathBuf,
    messages: Vec<EncodedMessage>,
    spooled_bytes: u64,
}

impl PySpooler {
    fn write(&mut self) -> PyResult<()> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| errors::usage("this spooler is finished"))?;
        for m in self.messages.drain(..) {
            self.spooled_bytes +=
                write_record(out, &Framed::from(m)).map_err(|e| errors::spool_io(&self.part, e))?;
        }
        Ok(())
    }
}

#[pymethods]
impl PySpooler {
    /// `options`: the producer options the messages will be sent with (their size limit,
    /// `message.max.bytes`, shapes the messages as it does for `Pusher`).
    #[new]
    #[pyo3(signature = (plan, path, options=None, intra_batch_size=20, allow_out_of_range=false, max_message_bytes=None, *, vector_lengths=None, vector_fit=None, strict_store=false, streaming=false, changed_only=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        plan: &PyPlan,
        path: PathBuf,
        options: Option<HashMap<String, String>>,
        intra_batch_size: i64,
        allow_out_of_range: bool,
        max_message_bytes: Option<i64>,
        vector_lengths: Option<HashMap<String, usize>>,
        vector_fit: Option<String>,
        strict_store: bool,
        streaming: bool,
        changed_only: Option<ChangedOnly>,
    ) -> PyResult<Self> {
        let mut opts = encoder_options(intra_batch_size, allow_out_of_range, max_message_bytes)?;
        let producer = producer_config(options)?;
        opts.max_message_bytes = Some(producer.max_message_value_bytes(opts.max_message_bytes));
        let store = StoreKw {
            vector_lengths,
            vector_fit,
            strict_store,
        };
        let encoder = new_encoder(py, &plan.plan, opts, &store, streaming, changed_only)?;
        let mut part = path.clone().into_os_string();
        part.push(".part");
        let part = PathBuf::from(part);
        let out = py.detach(|| -> std::io::Result<_> {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut out = BufWriter::with_capacity(WRITE_BUFFER, File::create(&part)?);
            out.write_all(MAGIC)?;
            Ok(out)
        });
        let out = out.map_err(|e| errors::spool_io(&part, e))?;
        Ok(PySpooler {
            encoder,
            out: Some(out),
            path,
            part,
            messages: Vec::new(),
            spooled_bytes: MAGIC.len() as u64,
        })
    }

    /// Encodes one record batch and spools the messages it completed.
    fn encode(&mut self, py: Python<'_>, batch: PyRecordBatch) -> PyResult<()> {
        let batch = batch.into_inner();
        py.detach(|| {
            self.encoder.encode_into(&batch, &mut self.messages)?;
            self.write()
        })
    }

    /// Spools the last message and closes the file under its name; returns the encoder's counts
    /// (`rows`, `messages`, `bytes` ...) with `spool` (the path) and `spooled_bytes`.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        py.detach(|| -> PyResult<()> {
            self.messages = self.encoder.finish();
            self.write()?;
            let out = self.out.take().expect("written above");
            let file = out
                .into_inner()
                .map_err(|e| errors::spool_io(&self.part, e.into_error()))?;
            drop(file);
            fs::rename(&self.part, &self.path).map_err(|e| errors::spool_io(&self.path, e))
        })?;
        let d = self.encoder.report(py)?;
        d.set_item("spool", self.path.to_string_lossy())?;
        d.set_item("spooled_bytes", self.spooled_bytes)?;
        Ok(d)
    }

    /// The vector length counts so far, as JSON for `check_vector_tallies`.
    #[getter]
    fn vector_tallies(&self) -> String {
        tallies_json(&self.encoder.stats())
    }
}

impl Drop for PySpooler {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = fs::remove_file(&self.part);
        }
    }
}
