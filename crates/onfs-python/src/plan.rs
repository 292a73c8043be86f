//! `Plan`: the metadata service's answer made into a plan, picklable for Spark executors.

use onfs_core::metadata::{fetch_metadata, MetadataRequest};
use onfs_core::{Metadata, Plan};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::time::Duration;

use crate::errors;

/// Which offline columns feed which feature groups, under which names, with which defaults.
#[pyclass(name = "Plan", module = "onfs_push._onfs", frozen)]
pub struct PyPlan {
    pub plan: Plan,
    metadata: Metadata,
    groups: Vec<String>,
}

impl PyPlan {
    fn build(metadata: Metadata, groups: Vec<String>) -> PyResult<PyPlan> {
        let plan = Plan::build(&metadata, &groups).map_err(errors::plan)?;
        Ok(PyPlan {
            plan,
            metadata,
            groups,
        })
    }
}

/// Seconds as a duration: positive (or also zero with `zero_ok`), else a `ValueError` naming the
/// argument.
pub(crate) fn seconds(name: &str, v: f64, zero_ok: bool) -> PyResult<Duration> {
    if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(errors::usage(format!(
            "{name} must be a {} number of seconds, not {v}",
            if zero_ok { "non-negative" } else { "positive" }
        )))
    }
}

#[pymethods]
impl PyPlan {
    /// Asks the metadata service (`POST url?jobId=..&jobToken=..`), retrying connection errors,
    /// timeouts and 5xx answers. The token never appears in an error.
    #[staticmethod]
    #[pyo3(signature = (url, job_id, job_token, fgs_to_consider=None, connect_timeout=10.0, timeout=60.0, tries=3))]
    #[allow(clippy::too_many_arguments)]
    fn fetch(
        py: Python<'_>,
        url: &str,
        job_id: &str,
        job_token: &str,
        fgs_to_consider: Option<Vec<String>>,
        connect_timeout: f64,
        timeout: f64,
        tries: u32,
    ) -> PyResult<PyPlan> {
        let mut req = MetadataRequest::new(url, job_id, job_token);
        req.connect_timeout = seconds("connect_timeout", connect_timeout, false)?;
        req.total_timeout = seconds("timeout", timeout, false)?;
        req.tries = tries.max(1);
        let metadata = py
            .detach(|| fetch_metadata(&req))
            .map_err(errors::metadata)?;
        PyPlan::build(metadata, fgs_to_consider.unwrap_or_default())
    }

    /// A plan from the metadata service's JSON answer, as text.
    #[staticmethod]
    #[pyo3(signature = (metadata_json, fgs_to_consider=None))]
    fn from_metadata_json(
        metadata_json: &str,
        fgs_to_consider: Option<Vec<String>>,
    ) -> PyResult<PyPlan> {
        let metadata = Metadata::from_json(metadata_json).map_err(errors::metadata_format)?;
        PyPlan::build(metadata, fgs_to_consider.unwrap_or_default())
    }

    #[getter]
    fn entity_label(&self) -> &str {
        &self.plan.entity_label
    }

    #[getter]
    fn entity_columns(&self) -> Vec<String> {
        self.plan.entity_columns.clone()
    }

    #[getter]
    fn fgs_to_consider(&self) -> Vec<String> {
        self.groups.clone()
    }

    /// Every column the encoder reads, each once: the entity columns, then each group's
    /// renamed columns.
    fn input_columns(&self) -> Vec<String> {
        self.plan.input_columns()
    }

    /// The plan as JSON text, in the shape `onfs-push plan --json` prints.
    fn to_json(&self) -> String {
        self.plan.to_json().to_string()
    }

    /// The metadata answer the plan was made from, as JSON text.
    fn metadata_json(&self) -> String {
        self.metadata.to_value().to_string()
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let me = slf.get();
        let ctor = py.get_type::<PyPlan>().getattr("from_metadata_json")?;
        let args = (me.metadata_json(), me.groups.clone()).into_pyobject(py)?;
        PyTuple::new(py, [ctor, args.into_any()])
    }

    fn __repr__(&self) -> String {
        format!(
            "Plan(entity_label={:?}, entity_columns={:?}, feature_groups={:?})",
            self.plan.entity_label,
            self.plan.entity_columns,
            self.plan
                .feature_groups
                .iter()
                .map(|g| g.label.as_str())
                .collect::<Vec<_>>()
        )
    }
}
