//! Errors as Python exceptions, carrying the command line's messages. Each Rust error *variant*
//! picks its class of the hierarchy documented in `onfs_push.errors`:
//!
//! ```text
//! OnfsError
//! ├── MetadataError          metadata service / metadata JSON
//! ├── PlanError              no plan from the metadata (unknown group ...)
//! ├── SourceError (+ValueError, defined in Python)
//! ├── EncodeError            a row cannot be encoded
//! │   └── StoreError         the online store's rules
//! ├── DeliveryError (defined in Python), KafkaError
//! ├── StateError             the push ledger (locked, unreachable, damaged)
//! ├── UsageError (+ValueError, defined in Python)   bad arguments and options
//! └── VerifyError (defined in Python), StoreReadError
//! ```

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::import_exception;
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
    "Kafka cannot be reached, the topic is missing, or a send failed."
);
create_exception!(
    onfs_push._onfs,
    StateError,
    OnfsError,
    "The push ledger (state=...) cannot be read, written or locked: another run holds the job, the location is unreachable, a file is damaged."
);
// Both an `OnfsError` and a `ValueError` (a class of two bases), so defined in Python; imported
// when first raised.
import_exception!(onfs_push.errors, UsageError);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("OnfsError", py.get_type::<OnfsError>())?;
    m.add("MetadataError", py.get_type::<MetadataError>())?;
    m.add("PlanError", py.get_type::<PlanError>())?;
    m.add("EncodeError", py.get_type::<EncodeError>())?;
    m.add("StoreError", py.get_type::<StoreError>())?;
    m.add("KafkaError", py.get_type::<KafkaError>())?;
    m.add("StoreReadError", py.get_type::<StoreReadError>())?;
    m.add("StateError", py.get_type::<StateError>())?;
    Ok(())
}

/// A bad argument or option: `UsageError` (a `ValueError`).
pub fn usage(message: impl Into<String>) -> PyErr {
    UsageError::new_err(message.into())
}

pub fn metadata(e: onfs_core::MetadataError) -> PyErr {
    match e {
        onfs_core::MetadataError::BadUrl { .. } => usage(e.to_string()),
        e => MetadataError::new_err(e.to_string()),
    }
}

pub fn metadata_format(e: onfs_core::metadata::MetadataFormatError) -> PyErr {
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
    let hint = match &e {
        onfs_core::EncodeError::OutOfRange { .. } => {
            "\nhint: allow_out_of_range=True sends such values as the original client did"
        }
        _ => "",
    };
    EncodeError::new_err(format!("{e}{hint}"))
}

/// Filling nulls: a default the metadata gives that does not parse is the metadata's fault; a
/// feature column missing from the DataFrame is the caller's.
pub fn fill(e: onfs_core::transform::FillError) -> PyErr {
    use onfs_core::transform::FillError::*;
    match e {
        BadDefault { .. } => MetadataError::new_err(e.to_string()),
        MissingColumn { .. } => usage(e.to_string()),
    }
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
        } => usage("kafka_bootstrap_servers is empty; pass HOST:PORT[,HOST:PORT...]"),
        E::Missing {
            setting: Setting::Topic,
        } => usage("kafka_topic is empty"),
        E::Missing { setting } => usage(format!("{} is empty", keyword(setting))),
        E::Invalid {
            setting,
            value,
            expected,
        } => usage(format!(
            "{} must be {expected}, not {value}",
            keyword(setting)
        )),
        E::Option { ref option, .. } => {
            // The option's name as given, for the callers that choose an engine by it.
            let err = usage(e.to_string());
            let option = option.clone();
            Python::attach(|py| err.value(py).setattr("option", option))
                .map(|()| err)
                .unwrap_or_else(|set| set)
        }
        E::Store { .. } | E::TopicName { .. } => usage(e.to_string()),
        E::Round { index, count } => usage(format!(
            "round_index must be in 0..rounds and rounds at least 1, not {index} of {count}"
        )),
        e => KafkaError::new_err(e.to_string()),
    }
}

pub fn verify(e: onfs_verify::VerifyError) -> PyErr {
    use onfs_verify::VerifyError::*;
    match e {
        BadAddress { .. } | BadCredential { .. } => usage(e.to_string()),
        e => StoreReadError::new_err(e.to_string()),
    }
}

/// The push ledger: a bad location is the caller's; the rest (locked, unreachable, damaged)
/// `StateError`.
pub fn state(e: onfs_state::StateError) -> PyErr {
    if e.is_usage() {
        return usage(e.to_string());
    }
    StateError::new_err(e.to_string())
}

/// The push ledger's I/O runtime could not start (the process is out of threads or file
/// descriptors): a failed run, not bad arguments.
pub fn runtime(e: std::io::Error) -> PyErr {
    StateError::new_err(format!(
        "could not start the push ledger's I/O runtime: {e}"
    ))
}

/// An executor spool that cannot be written or read back (a full or unwritable disk, a file
/// damaged since). `what` names the file and the cause; the ways round it are added.
pub fn spool(what: impl std::fmt::Display) -> PyErr {
    OnfsError::new_err(format!(
        "spool {what}\nhint: spool=\"DIR\" puts the executors' spools on a disk with room (as large as the messages of a partition); spool=False encodes each row twice instead of spooling"
    ))
}

/// A spool file's I/O error.
pub fn spool_io(path: &std::path::Path, e: std::io::Error) -> PyErr {
    spool(format!("{}: {e}", path.display()))
}
