//! `Sampler` and `verify`: a sample of the sent messages' entities read back from the online
//! store's retrieval API and compared (the `onfs-push verify` of the command line).

use std::path::PathBuf;

use onfs_verify::{SampleSize, Sampler, TlsOptions, VerifyOptions};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::errors;
use crate::plan::{seconds, PyPlan};

/// Chooses the entities to read back as messages stream past (uniformly, every message
/// checked when the sample is at least the message count).
#[pyclass(name = "Sampler", module = "onfs_push._onfs")]
pub struct PySampler {
    inner: Option<Sampler>,
}

#[pymethods]
impl PySampler {
    /// `sample`: entities to keep (None: all); `seed`: None for a new one.
    #[new]
    #[pyo3(signature = (sample=Some(1000), seed=None))]
    fn new(sample: Option<usize>, seed: Option<u64>) -> PyResult<Self> {
        let size = match sample {
            None => SampleSize::All,
            Some(0) => return Err(errors::usage("sample must be at least 1, or None for all")),
            Some(n) => SampleSize::Count(n),
        };
        let seed = seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
        Ok(PySampler {
            inner: Some(Sampler::new(size, seed)),
        })
    }

    /// Offers serialized `persist.Query` messages (bytes).
    fn add(&mut self, py: Python<'_>, values: Vec<Vec<u8>>) -> PyResult<()> {
        let sampler = self
            .inner
            .as_mut()
            .ok_or_else(|| PyRuntimeError::new_err("this Sampler was already verified"))?;
        py.detach(|| {
            values
                .iter()
                .try_for_each(|v| sampler.add_message(v))
                .map_err(errors::verify)
        })
    }
}

/// Reads the sampled entities back from the store and compares them with what was sent;
/// returns the report as JSON. The token is never shown.
#[pyfunction]
#[pyo3(signature = (plan, sampler, store, caller_id, token=None, wait=30.0, connect_timeout=10.0, timeout=30.0, tls=false, ca_file=None, tls_domain=None, keys_per_request=100))]
#[allow(clippy::too_many_arguments)]
pub fn verify(
    py: Python<'_>,
    plan: &PyPlan,
    sampler: &mut PySampler,
    store: String,
    caller_id: String,
    token: Option<String>,
    wait: f64,
    connect_timeout: f64,
    timeout: f64,
    tls: bool,
    ca_file: Option<PathBuf>,
    tls_domain: Option<String>,
    keys_per_request: usize,
) -> PyResult<String> {
    if keys_per_request == 0 {
        return Err(errors::usage("keys_per_request must be at least 1"));
    }
    let mut opts = VerifyOptions::new(store, caller_id);
    opts.token = token.filter(|t| !t.is_empty());
    opts.tls = TlsOptions {
        enabled: tls,
        ca_file,
        domain: tls_domain,
    };
    opts.wait = seconds("wait", wait, true)?;
    opts.connect_timeout = seconds("connect_timeout", connect_timeout, false)?;
    opts.request_timeout = seconds("timeout", timeout, false)?;
    opts.keys_per_request = keys_per_request;
    let sample = sampler
        .inner
        .take()
        .ok_or_else(|| PyRuntimeError::new_err("this Sampler was already verified"))?
        .finish();
    let plan = &plan.plan;
    let report = py
        .detach(|| onfs_verify::verify(plan, &sample, &opts))
        .map_err(errors::verify)?;
    Ok(serde_json::to_string(&report).expect("the report serializes"))
}
