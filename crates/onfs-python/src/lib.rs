//! `onfs_push._onfs`: the Python face of onfs-push. It only converts types, releases the GIL
//! around the work, and maps errors; the plan, the encoder and the Kafka sink are the same code
//! the command line runs.

mod batch;
mod changes;
mod encoder;
mod errors;
mod fill;
mod partition;
mod plan;
mod sink;
mod spool;
mod verify;

use pyo3::prelude::*;

#[pymodule]
fn _onfs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<plan::PyPlan>()?;
    m.add_class::<encoder::PyEncoder>()?;
    m.add_class::<sink::PyKafkaSink>()?;
    m.add_class::<sink::PyPusher>()?;
    m.add_class::<spool::PySpooler>()?;
    m.add_class::<fill::PyDefaultFill>()?;
    m.add_class::<changes::PyPushState>()?;
    m.add_class::<changes::PyLedgerSide>()?;
    m.add_function(wrap_pyfunction!(changes::ledger_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(changes::ledger_join_columns, m)?)?;
    m.add_function(wrap_pyfunction!(changes::ledger_side, m)?)?;
    m.add_function(wrap_pyfunction!(changes::refresh_seconds, m)?)?;
    m.add_function(wrap_pyfunction!(batch::count_rows, m)?)?;
    m.add_function(wrap_pyfunction!(batch::py_message_schema, m)?)?;
    m.add_function(wrap_pyfunction!(encoder::check_vector_tallies, m)?)?;
    m.add_function(wrap_pyfunction!(partition::newest_partition, m)?)?;
    m.add_function(wrap_pyfunction!(partition::partitions_in_range, m)?)?;
    m.add_class::<verify::PySampler>()?;
    m.add_function(wrap_pyfunction!(verify::verify, m)?)?;
    errors::register(m)
}
