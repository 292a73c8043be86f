//! `DefaultFill`: nulls of every feature column replaced by the metadata's default, with the
//! command line's parsing rules (scalars cast to the column's type, vectors written `[a,b]`).

use crate::errors;
use onfs_core::transform::DefaultFill;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyRecordBatch;

use crate::plan::PyPlan;

#[pyclass(name = "DefaultFill", module = "onfs_push._onfs")]
pub struct PyDefaultFill {
    defaults: Vec<(String, String)>,
    /// Made from the first batch's schema.
    fill: Option<DefaultFill>,
}

#[pymethods]
impl PyDefaultFill {
    #[new]
    fn new(plan: &PyPlan) -> Self {
        PyDefaultFill {
            defaults: plan
                .plan
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.default.clone()))
                .collect(),
            fill: None,
        }
    }

    /// The batch with every null of a feature column replaced by its default.
    fn fill<'py>(&mut self, py: Python<'py>, batch: PyRecordBatch) -> PyResult<Bound<'py, PyAny>> {
        let batch = batch.into_inner();
        let (defaults, slot) = (&self.defaults, &mut self.fill);
        let filled = py.detach(|| {
            if slot.is_none() {
                *slot = Some(DefaultFill::new(&batch.schema(), defaults)?);
            }
            slot.as_mut().expect("made above").fill(&batch)
        });
        let filled = filled.map_err(errors::fill)?;
        PyRecordBatch::new(filled).into_pyarrow(py)
    }

    /// Nulls filled so far, per column.
    #[getter]
    fn filled<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        if let Some(f) = &self.fill {
            for (name, n) in f.columns().zip(&f.filled) {
                d.set_item(name, n)?;
            }
        }
        Ok(d)
    }
}
