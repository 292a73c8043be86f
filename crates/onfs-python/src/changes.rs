//! Changed-only pushes from Spark over the push ledger the command line keeps: `PushState` (the
//! driver: the job's lock, the ledger file to join with, the commit), `ledger_hashes` (the
//! executors: key and group hashes as columns, for the join) and `BatchEncoder` (every
//! encoding entry point: each joined row sends the groups that changed).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use futures::StreamExt;

use arrow_array::RecordBatch;
use onfs_core::{EncodeStats, EncodedMessage, GroupSetEncoder, Plan};
use onfs_state::joined::JoinedDiff;
use onfs_state::{JobState, LedgerSideBatches, NewLedger, RunRecord, StateLocation};
use onfs_stores::StorageOptions;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyRecordBatch;

use crate::errors;
use crate::plan::PyPlan;

fn runtime() -> PyResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(errors::runtime)
}

fn location(
    url: &str,
    storage_options: Option<HashMap<String, String>>,
) -> PyResult<StateLocation> {
    let mut storage = StorageOptions::default();
    for (k, v) in storage_options.unwrap_or_default() {
        storage
            .set(&k, &v)
            .map_err(|e| errors::usage(format!("storage_options: {e}")))?;
    }
    StateLocation::open(url, &storage).map_err(errors::state)
}

fn group_labels(plan: &Plan) -> Vec<String> {
    plan.feature_groups
        .iter()
        .map(|g| g.label.clone())
        .collect()
}

/// A job's push ledger, opened by the driver: the job's lock is held until `commit` or
/// `release`.
#[pyclass(name = "PushState", module = "onfs_push._onfs")]
pub struct PyPushState {
    runtime: tokio::runtime::Runtime,
    state: Option<JobState>,
}

impl PyPushState {
    fn held(&self) -> PyResult<&JobState> {
        self.state
            .as_ref()
            .ok_or_else(|| errors::usage("this PushState was committed or released"))
    }
}

#[pymethods]
impl PyPushState {
    /// Takes the lock of `job` (its name and the plan's feature groups) at `location` (a local
    /// folder or an object store URL, as the command line's `--state`) and reads its head.
    /// Raises `StateError` naming the run that holds the job.
    #[staticmethod]
    #[pyo3(signature = (location, job, plan, storage_options=None))]
    fn open(
        py: Python<'_>,
        location: &str,
        job: &str,
        plan: &PyPlan,
        storage_options: Option<HashMap<String, String>>,
    ) -> PyResult<Self> {
        onfs_core::encode::by_groups::check_group_count(plan.plan.feature_groups.len())
            .map_err(errors::store)?;
        let at = self::location(location, storage_options)?;
        let groups = group_labels(&plan.plan);
        let runtime = runtime()?;
        let state = py
            .detach(|| runtime.block_on(JobState::open(&at, job, &groups)))
            .map_err(errors::state)?;
        Ok(PyPushState {
            runtime,
            state: Some(state),
        })
    }

    /// The ledger file to join with, as `(path under the location, row groups)` for
    /// `ledger_side`, or None: nothing pushed changed-only yet, or a ledger of another hash
    /// scheme (everything is sent once). The ledger is written whole first if runs of the
    /// command line left change files.
    #[getter]
    fn ledger_file(&mut self, py: Python<'_>) -> PyResult<Option<(String, usize)>> {
        let runtime = &self.runtime;
        let state = self
            .state
            .as_mut()
            .ok_or_else(|| errors::usage("this PushState was committed or released"))?;
        let file = py
            .detach(|| {
                runtime.block_on(async {
                    state.compact().await?;
                    state.ledger_file().await
                })
            })
            .map_err(errors::state)?;
        Ok(file.map(|f| (f.path, f.row_groups)))
    }

    /// The location as every process reaches it (a local folder as an absolute `file://`
    /// URL), for the executors.
    #[getter]
    fn location(&self) -> PyResult<String> {
        Ok(self.held()?.location().shared_url())
    }

    /// This run's id: the executors' sends are kept under it until the commit.
    #[getter]
    fn run_id(&self) -> PyResult<String> {
        Ok(self.held()?.run_id().to_string())
    }

    /// The job's folder under the location.
    #[getter]
    fn job_dir(&self) -> PyResult<String> {
        Ok(self.held()?.dir().to_string())
    }

    /// Entity keys in the ledger.
    #[getter]
    fn keys(&self) -> PyResult<u64> {
        Ok(self.held()?.head.keys)
    }

    /// Records a run whose every message was delivered: the executors' sends (the files
    /// their report rows named) merged into the ledger, the run's counts; then releases the
    /// lock. A failure leaves the previous ledger as it was.
    #[pyo3(signature = (sends, groups, rows, messages, bytes, output))]
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        py: Python<'_>,
        sends: Vec<String>,
        groups: BTreeMap<String, BTreeMap<String, u64>>,
        rows: u64,
        messages: u64,
        bytes: u64,
        output: String,
    ) -> PyResult<()> {
        let state = self
            .state
            .take()
            .ok_or_else(|| errors::usage("this PushState was committed or released"))?;
        let runtime = &self.runtime;
        py.detach(|| {
            runtime.block_on(async move {
                let result = async {
                    let mut ledger = state.ledger().await?;
                    ledger.apply(state.read_sends(&sends).await?);
                    Ok::<_, onfs_state::StateError>(ledger)
                }
                .await;
                let ledger = match result {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = state.release().await;
                        return Err(e);
                    }
                };
                state.remove_sends().await;
                let record = RunRecord {
                    output,
                    rows,
                    messages,
                    bytes,
                    groups,
                    ..Default::default()
                };
                state
                    .commit(Some(NewLedger::whole(&ledger)), record, Vec::new())
                    .await
                    .map(|_| ())
            })
        })
        .map_err(errors::state)
    }

    /// Gives the job back without recording anything (a failed run): the ledger stays as the
    /// last successful run left it.
    fn release(&mut self, py: Python<'_>) -> PyResult<()> {
        let Some(state) = self.state.take() else {
            return Ok(());
        };
        let runtime = &self.runtime;
        py.detach(|| {
            runtime.block_on(async {
                state.remove_sends().await;
                state.release().await
            })
        })
        .map_err(errors::state)
    }
}

/// `batch` with the columns a changed-only push joins on: the entity key's hash and each
/// group's value hash (`onfs_state::joined`), as signed 64-bit integers.
#[pyfunction]
pub fn ledger_hashes<'py>(
    py: Python<'py>,
    plan: &PyPlan,
    batch: PyRecordBatch,
) -> PyResult<Bound<'py, PyAny>> {
    let batch = batch.into_inner();
    let plan = &plan.plan;
    let groups: Vec<Vec<String>> = plan
        .feature_groups
        .iter()
        .map(|g| g.columns.clone())
        .collect();
    let out = py
        .detach(|| onfs_state::joined::with_hashes(&batch, &plan.entity_columns, &groups))
        .map_err(|e| errors::usage(format!("changed-only: {e}")))?;
    PyRecordBatch::new(out).into_pyarrow(py)
}

/// Row group `row_group` of the ledger file at `path` under `location` (`PushState.ledger_file`)
/// as the ledger side of the join (`ledger_join_columns`: the key hash, then per group of the
/// plan its hash and sent time, signed 64-bit), read through the store with `storage_options`:
/// an executor's share of the ledger, as an iterator of batches read one at a time.
#[pyfunction]
#[pyo3(signature = (location, path, row_group, plan, storage_options=None))]
pub fn ledger_side(
    py: Python<'_>,
    location: &str,
    path: &str,
    row_group: usize,
    plan: &PyPlan,
    storage_options: Option<HashMap<String, String>>,
) -> PyResult<PyLedgerSide> {
    let at = self::location(location, storage_options)?;
    let groups = group_labels(&plan.plan);
    let runtime = runtime()?;
    let batches = py
        .detach(|| runtime.block_on(onfs_state::read_ledger_side(&at, path, &groups, row_group)))
        .map_err(errors::state)?;
    Ok(PyLedgerSide {
        runtime,
        batches: Mutex::new(Some(batches)),
    })
}

/// The batches of `ledger_side`, each read when asked for.
#[pyclass(name = "LedgerSide")]
pub struct PyLedgerSide {
    runtime: tokio::runtime::Runtime,
    /// `None` once read to the end or failed.
    batches: Mutex<Option<LedgerSideBatches>>,
}

#[pymethods]
impl PyLedgerSide {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut batches = self.batches.lock().expect("no thread panics holding it");
        let Some(stream) = batches.as_mut() else {
            return Ok(None);
        };
        let runtime = &self.runtime;
        match py.detach(|| runtime.block_on(stream.next())) {
            Some(Ok(batch)) => PyRecordBatch::new(batch).into_pyarrow(py).map(Some),
            Some(Err(e)) => {
                *batches = None;
                Err(errors::state(e))
            }
            None => {
                *batches = None;
                Ok(None)
            }
        }
    }
}

/// `refresh_after` as written (`7d`, `12h`, `30m`, seconds, `never`): seconds, or None for
/// never.
#[pyfunction]
pub fn refresh_seconds(text: &str) -> PyResult<Option<u32>> {
    onfs_state::parse_duration(text)
        .map(|d| d.map(|d| d.as_secs().min(u32::MAX as u64) as u32))
        .map_err(|e| errors::usage(format!("refresh_after: {e}")))
}

/// The names of the join's columns, for the Python side: the key hash's, then per feature
/// group of the plan (in its order): its label, its hash's in the rows, and the ledger's hash
/// and sent time for it.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn ledger_join_columns(plan: &PyPlan) -> (String, Vec<(String, String, String, String)>) {
    use onfs_state::joined::*;
    (
        KEY.to_string(),
        group_labels(&plan.plan)
            .into_iter()
            .enumerate()
            .map(|(g, label)| {
                (
                    label,
                    hash_column(g),
                    ledger_hash_column(g),
                    ledger_sent_column(g),
                )
            })
            .collect(),
    )
}

/// What a changed-only encoder needs besides the plan (a dict from the driver, one for the
/// run): the time recorded for its sends and the refresh interval (seconds since the epoch,
/// seconds), and where its sends go for the commit (`name` under the run's sends folder of
/// the job's folder at `location`).
#[derive(Debug, Clone, FromPyObject)]
#[pyo3(from_item_all)]
pub struct ChangedOnly {
    now: u32,
    refresh_after: Option<u32>,
    location: String,
    storage_options: Option<HashMap<String, String>>,
    job_dir: String,
    run: String,
    /// The file of what this encoder sends; None: not recorded (a later round, which sends
    /// what round 0 recorded, or a counting pass).
    name: Option<String>,
}

/// The encoder of every entry point: every row with every group, or (changed-only) each row of
/// a batch joined with the ledger with the groups that changed.
pub struct BatchEncoder {
    encoder: GroupSetEncoder,
    changed: Option<(JoinedDiff, ChangedOnly)>,
    groups: Vec<String>,
}

impl BatchEncoder {
    pub fn new(
        plan: &Plan,
        encoder: GroupSetEncoder,
        changed_only: Option<ChangedOnly>,
    ) -> BatchEncoder {
        let groups = plan.feature_groups.len();
        BatchEncoder {
            encoder,
            changed: changed_only.map(|c| (JoinedDiff::new(groups, c.now, c.refresh_after), c)),
            groups: group_labels(plan),
        }
    }

    pub fn encode_into(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<EncodedMessage>,
    ) -> PyResult<()> {
        match &mut self.changed {
            None => self.encoder.encode_all_into(batch, out),
            Some((diff, _)) => {
                let sets = diff
                    .classify(batch)
                    .map_err(|e| errors::usage(format!("changed-only: {e}")))?;
                self.encoder.encode_into(batch, &sets, out)
            }
        }
        .map_err(errors::encode)
    }

    pub fn finish(&mut self) -> Vec<EncodedMessage> {
        self.encoder.finish()
    }

    pub fn stats(&self) -> EncodeStats {
        self.encoder.stats()
    }

    pub fn input_columns(&self) -> &[String] {
        self.encoder.input_columns()
    }

    /// Changed-only: per group label, entities `new`, `changed`, `unchanged`, `refreshed`, and
    /// `unchanged_rows` (rows with nothing to send); None otherwise.
    pub fn changes<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some((diff, _)) = &self.changed else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        for (label, c) in self.groups.iter().zip(diff.counts()) {
            let g = PyDict::new(py);
            for (name, n) in ["new", "changed", "unchanged", "refreshed"].iter().zip(c) {
                g.set_item(name, n)?;
            }
            d.set_item(label, g)?;
        }
        d.set_item("unchanged_rows", self.encoder.unchanged())?;
        Ok(Some(d))
    }

    /// Changed-only, once every batch is encoded: writes what this encoder sends for the
    /// driver's commit; returns the file's name (None otherwise, or when it sends nothing).
    pub fn write_sends(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let Some((diff, c)) = &self.changed else {
            return Ok(None);
        };
        let Some(name) = &c.name else {
            return Ok(None);
        };
        if diff.sends().is_empty() {
            return Ok(None);
        }
        let at = location(&c.location, c.storage_options.clone())?;
        let runtime = runtime()?;
        let name = py
            .detach(|| {
                runtime.block_on(onfs_state::put_sends(
                    &at,
                    &c.job_dir,
                    &c.run,
                    name,
                    diff.sends(),
                    &self.groups,
                ))
            })
            .map_err(errors::state)?;
        Ok(Some(name))
    }

    /// The encoder's counts as a dict (`stats_dict`), with `changes` and `sends` when
    /// changed-only (the sends written here).
    pub fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = crate::encoder::stats_dict(py, &self.stats())?;
        if self.changed.is_some() {
            d.set_item("changes", self.changes(py)?)?;
            d.set_item("sends", self.write_sends(py)?)?;
        }
        Ok(d)
    }
}
