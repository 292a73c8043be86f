//! `Encoder`: Arrow record batches to `persist.Query` messages, continuing across batches of one
//! partition (the original's `intra_batch_id` counts within a partition).

use onfs_core::{EncodeStats, Encoder, EncoderOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyRecordBatch;

use crate::batch::messages_to_batch;
use crate::errors;
use crate::plan::PyPlan;

pub fn encoder_options(
    intra_batch_size: i64,
    allow_out_of_range: bool,
    max_message_bytes: Option<i64>,
) -> PyResult<EncoderOptions> {
    if intra_batch_size < 1 {
        return Err(PyValueError::new_err(format!(
            "intra_batch_size must be at least 1, not {intra_batch_size}"
        )));
    }
    let max_message_bytes = match max_message_bytes {
        None => None,
        Some(n) if n >= 1 => Some(n as usize),
        Some(n) => {
            return Err(PyValueError::new_err(format!(
                "max_message_bytes must be at least 1, not {n}"
            )))
        }
    };
    Ok(EncoderOptions {
        batch_size: intra_batch_size as usize,
        allow_out_of_range,
        max_message_bytes,
        key_partitions: None,
    })
}

pub fn stats_dict<'py>(py: Python<'py>, s: &EncodeStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("rows_in", s.rows_in)?;
    d.set_item("rows", s.rows)?;
    d.set_item("dropped_null_key_rows", s.dropped_null_key_rows)?;
    d.set_item("messages", s.messages)?;
    d.set_item("bytes", s.bytes)?;
    Ok(d)
}

/// Encodes the batches of one partition, in order.
#[pyclass(name = "Encoder", module = "onfs_push._onfs")]
pub struct PyEncoder {
    inner: Encoder,
}

#[pymethods]
impl PyEncoder {
    #[new]
    #[pyo3(signature = (plan, intra_batch_size=20, allow_out_of_range=false, max_message_bytes=None))]
    fn new(
        plan: &PyPlan,
        intra_batch_size: i64,
        allow_out_of_range: bool,
        max_message_bytes: Option<i64>,
    ) -> PyResult<Self> {
        let opts = encoder_options(intra_batch_size, allow_out_of_range, max_message_bytes)?;
        Ok(PyEncoder {
            inner: Encoder::new(&plan.plan, opts),
        })
    }

    /// Encodes one record batch (anything with `__arrow_c_array__`, e.g. `pyarrow.RecordBatch`);
    /// returns the messages it completed as a `pyarrow.RecordBatch` (`value`, `intra_batch_id`).
    fn encode<'py>(
        &mut self,
        py: Python<'py>,
        batch: PyRecordBatch,
    ) -> PyResult<Bound<'py, PyAny>> {
        let batch = batch.into_inner();
        let inner = &mut self.inner;
        let messages = py.detach(|| inner.encode(&batch)).map_err(errors::encode)?;
        PyRecordBatch::new(messages_to_batch(&messages)).into_pyarrow(py)
    }

    /// The last, possibly shorter, message.
    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let messages = self.inner.finish();
        PyRecordBatch::new(messages_to_batch(&messages)).into_pyarrow(py)
    }

    /// Rows read, rows encoded, rows dropped for a null key, messages and bytes so far.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, self.inner.stats())
    }

    /// Every column the encoder reads.
    fn input_columns(&self) -> Vec<String> {
        self.inner.input_columns()
    }
}
