//! Errors as Python exceptions, carrying the command line's messages.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
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
    StoreError,
    EncodeError,
    "The online store would drop rows: vectors of more than one length in a feature, a vector of another length than declared, a type the store cannot keep."
);
create_exception!(
    onfs_push._onfs,
    StoreReadError,
    OnfsError,
    "The online store's retrieval API could not be read: unreachable, a refused caller id or token, a malformed answer."
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
    m.add("StoreError", py.get_type::<StoreError>())?;
    m.add("KafkaError", py.get_type::<KafkaError>())?;
    m.add("StoreReadError", py.get_type::<StoreReadError>())?;
    Ok(())
}

pub fn metadata(e: onfs_core::MetadataError) -> PyErr {
    MetadataError::new_err(e.to_string())
}

pub fn plan(e: onfs_core::plan::PlanError) -> PyErr {
    PlanError::new_err(e.to_string())
}

pub fn store(e: onfs_core::StoreError) -> PyErr {
    use onfs_core::StoreError::*;
    let hint = match &e {
        Ragged(_) => "\nhint: vector_lengths={'GROUP.FEATURE': N} declares a feature's registered length (with vector_fit='pad', 'truncate' or 'pad-truncate' to fit the rows to it); vector_fit='keep' sends them as they are, for a store without this rule",
        WrongLength { .. } => "\nhint: vector_fit='pad', 'truncate' or 'pad-truncate' fits rows to the declared length (vector_lengths); vector_fit='keep' turns the check off",
        _ => "",
    };
    StoreError::new_err(format!("{e}{hint}"))
}

pub fn encode(e: onfs_core::EncodeError) -> PyErr {
    if let onfs_core::EncodeError::Store(s) = e {
        return store(*s);
    }
    // The command line's advice, in this API's spelling.
    EncodeError::new_err(
        e.to_string()
            .replace("--allow-out-of-range", "allow_out_of_range=True"),
    )
}

/// A Kafka error; a bad argument is a ValueError naming its keyword, as Python's checks say.
pub fn kafka(e: onfs_kafka::KafkaError) -> PyErr {
    use onfs_kafka::{KafkaError as E, Setting};
    let keyword = |s: Setting| match s {
        Setting::Brokers => "bootstrap_servers",
        Setting::Topic => "topic",
        Setting::Key => "key",
        Setting::ConnectTimeout => "connect_timeout",
        Setting::MaxRate => "max_rate",
    };
    match e {
        E::Missing {
            setting: Setting::Brokers,
        } => {
            PyValueError::new_err("kafka_bootstrap_servers is empty; pass HOST:PORT[,HOST:PORT...]")
        }
        E::Missing {
            setting: Setting::Topic,
        } => PyValueError::new_err("kafka_topic is empty"),
        E::Missing { setting } => PyValueError::new_err(format!("{} is empty", keyword(setting))),
        E::Invalid {
            setting,
            value,
            expected,
        } => PyValueError::new_err(format!(
            "{} must be {expected}, not {value}",
            keyword(setting)
        )),
        E::Round { index, count } => PyValueError::new_err(format!(
            "round_index must be in 0..rounds and rounds at least 1, not {index} of {count}"
        )),
        e => KafkaError::new_err(e.to_string()),
    }
}

pub fn verify(e: onfs_verify::VerifyError) -> PyErr {
    StoreReadError::new_err(e.to_string())
}
