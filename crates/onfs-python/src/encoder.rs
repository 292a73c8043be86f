//! `Encoder`: Arrow record batches to `persist.Query` messages, continuing across batches of one
//! partition (the original's `intra_batch_id` counts within a partition).

use std::collections::HashMap;
use std::sync::Arc;

use onfs_core::encode::by_groups::check_group_count;
use onfs_core::store::{FirstLengths, VectorTally};
use onfs_core::{EncodeStats, EncoderOptions, GroupSetEncoder, Plan, StoreRules, VectorFit};
use pyo3::exceptions::PyUserWarning;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyRecordBatch;

use crate::batch::messages_to_batch;
use crate::changes::{BatchEncoder, ChangedOnly};
use crate::errors;
use crate::plan::PyPlan;

/// The store-rule keywords every encoding entry point takes.
#[derive(Debug, Clone, Default)]
pub struct StoreKw {
    pub vector_lengths: Option<HashMap<String, usize>>,
    pub vector_fit: Option<String>,
    pub strict_store: bool,
}

impl StoreKw {
    fn rules(&self) -> PyResult<StoreRules> {
        let vector_fit = match &self.vector_fit {
            None => VectorFit::Check,
            Some(t) => t
                .parse::<VectorFit>()
                .map_err(|e| errors::usage(format!("vector_fit: {e}")))?,
        };
        let mut vector_lengths: Vec<(String, usize)> = self
            .vector_lengths
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        vector_lengths.sort();
        Ok(StoreRules {
            vector_lengths,
            vector_fit,
        })
    }
}

/// An encoder with the store rules checked against the plan: declared names, vector defaults,
/// types the store cannot keep (a `UserWarning`, or `StoreError` with `strict_store`). With
/// `streaming` (sending while encoding), a vector of another length than the first fails at once.
///
/// `changed_only`: each batch is joined with the push ledger, and each row sends only the
/// groups that changed (`crate::changes`).
pub fn new_encoder(
    py: Python<'_>,
    plan: &Plan,
    mut opts: EncoderOptions,
    store: &StoreKw,
    streaming: bool,
    changed_only: Option<ChangedOnly>,
) -> PyResult<BatchEncoder> {
    opts.store = store.rules()?;
    opts.store.check_plan(plan).map_err(errors::store)?;
    if let Some(e) = StoreRules::unkept(plan) {
        if store.strict_store {
            return Err(errors::store(e));
        }
        PyErr::warn(
            py,
            &py.get_type::<PyUserWarning>(),
            &std::ffi::CString::new(format!(
                "{e}; every message holding them is dropped by the store (leave these groups out with fgs_to_consider; strict_store=True makes this an error)"
            ))
            .expect("no NUL in the text"),
            1,
        )?;
    }
    if streaming && opts.store.vector_fit != VectorFit::Keep {
        opts.first_lengths = Some(Arc::new(FirstLengths::new(plan)));
    }
    if changed_only.is_some() {
        check_group_count(plan.feature_groups.len()).map_err(errors::store)?;
    }
    let encoder = GroupSetEncoder::try_new(plan, opts).map_err(errors::store)?;
    Ok(BatchEncoder::new(plan, encoder, changed_only))
}

/// Merges the vector length counts of several encoders (JSON, from `Encoder.vector_tallies`)
/// and raises `StoreError` naming every vector feature with rows of more than one length.
#[pyfunction]
pub fn check_vector_tallies(py: Python<'_>, tallies: Vec<String>) -> PyResult<()> {
    py.detach(|| {
        let mut all = EncodeStats::default();
        for t in &tallies {
            let vectors: Vec<VectorTally> = serde_json::from_str(t)
                .map_err(|e| errors::usage(format!("not vector tallies: {e}")))?;
            all.merge(&EncodeStats {
                vectors,
                ..Default::default()
            });
        }
        all.check_vector_lengths().map_err(errors::store)
    })
}

pub fn encoder_options(
    intra_batch_size: i64,
    allow_out_of_range: bool,
    max_message_bytes: Option<i64>,
) -> PyResult<EncoderOptions> {
    if intra_batch_size < 1 {
        return Err(errors::usage(format!(
            "intra_batch_size must be at least 1, not {intra_batch_size}"
        )));
    }
    let max_message_bytes = match max_message_bytes {
        None => None,
        Some(n) if n >= 1 => Some(n as usize),
        Some(n) => {
            return Err(errors::usage(format!(
                "max_message_bytes must be at least 1, not {n}"
            )))
        }
    };
    Ok(EncoderOptions {
        batch_size: intra_batch_size as usize,
        allow_out_of_range,
        max_message_bytes,
        ..Default::default()
    })
}

/// An encoder's vector length counts as JSON, for `check_vector_tallies`.
pub fn tallies_json(stats: &EncodeStats) -> String {
    serde_json::to_string(&stats.vectors).expect("tallies serialize")
}

pub fn stats_dict<'py>(py: Python<'py>, s: &EncodeStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("rows_in", s.rows_in)?;
    d.set_item("rows", s.rows)?;
    d.set_item("dropped_null_key_rows", s.dropped_null_key_rows)?;
    d.set_item("messages", s.messages)?;
    d.set_item("bytes", s.bytes)?;
    d.set_item("max_rows_per_message", s.max_rows_per_message)?;
    let fitted = PyDict::new(py);
    for t in s
        .vectors
        .iter()
        .filter(|t| t.padded_rows + t.truncated_rows > 0)
    {
        let f = PyDict::new(py);
        f.set_item("length", t.expected)?;
        f.set_item("padded_rows", t.padded_rows)?;
        f.set_item("truncated_rows", t.truncated_rows)?;
        fitted.set_item(&t.feature, f)?;
    }
    d.set_item("vectors_fitted", fitted)?;
    Ok(d)
}

/// Encodes the batches of one partition, in order.
#[pyclass(name = "Encoder", module = "onfs_push._onfs")]
pub struct PyEncoder {
    inner: BatchEncoder,
}

#[pymethods]
impl PyEncoder {
    #[new]
    #[pyo3(signature = (plan, intra_batch_size=20, allow_out_of_range=false, max_message_bytes=None, *, vector_lengths=None, vector_fit=None, strict_store=false, streaming=false, changed_only=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        plan: &PyPlan,
        intra_batch_size: i64,
        allow_out_of_range: bool,
        max_message_bytes: Option<i64>,
        vector_lengths: Option<HashMap<String, usize>>,
        vector_fit: Option<String>,
        strict_store: bool,
        streaming: bool,
        changed_only: Option<ChangedOnly>,
    ) -> PyResult<Self> {
        let opts = encoder_options(intra_batch_size, allow_out_of_range, max_message_bytes)?;
        let store = StoreKw {
            vector_lengths,
            vector_fit,
            strict_store,
        };
        Ok(PyEncoder {
            inner: new_encoder(py, &plan.plan, opts, &store, streaming, changed_only)?,
        })
    }

    /// Raises `StoreError` if a vector feature's rows had more than one length so far (the
    /// online store keeps one length per feature).
    fn check_vector_lengths(&self) -> PyResult<()> {
        self.inner
            .stats()
            .check_vector_lengths()
            .map_err(errors::store)
    }

    /// The vector length counts so far, as JSON for `check_vector_tallies`.
    #[getter]
    fn vector_tallies(&self) -> String {
        tallies_json(&self.inner.stats())
    }

    /// Changed-only: per group, entities new, changed, unchanged, refreshed so far (and
    /// `unchanged_rows`); None otherwise.
    #[getter]
    fn changes<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.inner.changes(py)
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
        let messages = py.detach(|| {
            let mut out = Vec::new();
            inner.encode_into(&batch, &mut out).map(|()| out)
        })?;
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
        stats_dict(py, &self.inner.stats())
    }

    /// Every column the encoder reads, each once (`Plan.input_columns`).
    fn input_columns(&self) -> Vec<String> {
        self.inner.input_columns().to_vec()
    }
}
