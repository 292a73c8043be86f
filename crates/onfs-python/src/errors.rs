//! Errors as Python exceptions, carrying the command line's messages.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    onfs_push._onfs,
    OnfsError,
    PyException,
    "Base class of every onfs-push error."
);
create_exception!(
    onfs_push._onfs,
    MetadataError,
    OnfsError,
    "The metadata service could not be asked, refused, or answered something unusable."
);
create_exception!(
    onfs_push._onfs,
    PlanError,
    OnfsError,
    "The metadata cannot make a plan (e.g. an unknown feature group)."
);
create_exception!(
    onfs_push._onfs,
    EncodeError,
    OnfsError,
    "A row cannot be encoded: a missing column, a null, a value outside its type."
);
create_exception!(
    onfs_push._onfs,
    KafkaError,
    OnfsError,
    "Kafka cannot be reached, the topic is missing, or an option is wrong."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("OnfsError", py.get_type::<OnfsError>())?;
    m.add("MetadataError", py.get_type::<MetadataError>())?;
    m.add("PlanError", py.get_type::<PlanError>())?;
    m.add("EncodeError", py.get_type::<EncodeError>())?;
    m.add("KafkaError", py.get_type::<KafkaError>())?;
    Ok(())
}

pub fn metadata(e: onfs_core::MetadataError) -> PyErr {
    MetadataError::new_err(e.to_string())
}

pub fn plan(e: onfs_core::plan::PlanError) -> PyErr {
    PlanError::new_err(e.to_string())
}

pub fn encode(e: onfs_core::EncodeError) -> PyErr {
    // The command line's advice, in this API's spelling.
    EncodeError::new_err(
        e.to_string()
            .replace("--allow-out-of-range", "allow_out_of_range=True"),
    )
}

pub fn kafka(e: onfs_kafka::KafkaError) -> PyErr {
    KafkaError::new_err(e.to_string())
}
