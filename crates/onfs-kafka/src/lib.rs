//! The Kafka sink of onfs-push: options translated from the Spark form, bounded in-flight sends,
//! a delivery report for every message, and one delivery path (fail-fast, rounds, keeping what
//! was not delivered) under both front ends.

mod callbacks;
pub mod check;
pub mod config;
pub mod deliver;
pub mod options;
pub mod rate;
pub mod report;
pub mod sink;
pub mod stores;
pub mod topic;

use std::fmt;
use std::time::Duration;

pub use callbacks::AckJournal;
pub use config::{DeliveryConfig, SinkConfig};
pub use deliver::{Deliverer, DeliveryOutcome, KeepFailed, Kept, Round};
pub use options::ProducerConfig;
pub use report::{DeliveryReport, Undelivered};
pub use sink::{redact_values, KafkaSink, Outgoing, HEADER_INTRA_BATCH_ID, HEADER_ROWS};

/// A setting given beside the producer options. The library names it in words; each front end
/// spells it its own way (a command-line flag, a keyword argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Brokers,
    Topic,
    Key,
    ConnectTimeout,
    MaxRate,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Setting::Brokers => "brokers",
            Setting::Topic => "topic",
            Setting::Key => "message key",
            Setting::ConnectTimeout => "connect timeout",
            Setting::MaxRate => "maximum rate",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// A producer option is wrong; `setting` when the option belongs to a setting of its own.
    #[error("Kafka option {option}: {problem}")]
    Option {
        option: String,
        problem: String,
        setting: Option<Setting>,
    },
    /// A key or trust store cannot be used; never with its password.
    #[error("Kafka {store} {path}: {problem}")]
    Store {
        store: stores::StoreKind,
        path: String,
        problem: stores::StoreProblem,
    },
    #[error("no Kafka {setting} given")]
    Missing { setting: Setting },
    #[error("the Kafka {setting} must be {expected}, not {value}")]
    Invalid {
        setting: Setting,
        value: f64,
        expected: &'static str,
    },
    #[error("round {index} of {count}: rounds must be at least 1 and the round in 0..rounds")]
    Round { index: i64, count: i64 },
    #[error("Kafka brokers {brokers} did not answer within {waited:?}: {detail}; check the brokers' addresses, the network and the security options")]
    Unreachable {
        brokers: String,
        waited: Duration,
        detail: String,
    },
    /// A topic name Kafka refuses whatever the brokers: checked before any connection.
    #[error("Kafka topic {topic:?} is not a valid topic name: {problem}")]
    TopicName { topic: String, problem: String },
    #[error("Kafka topic {topic:?} does not exist on {brokers}; create it (the brokers do not create topics automatically)")]
    TopicMissing { topic: String, brokers: String },
    #[error("Kafka topic {topic:?}: {detail}")]
    Topic { topic: String, detail: String },
    #[error("{waiting} messages still had no delivery report after {waited:?}")]
    FlushTimeout { waiting: u64, waited: Duration },
    #[error("reading Kafka topic {topic:?}: {detail}")]
    Consume { topic: String, detail: String },
    /// Some messages were not delivered (or, after the first failure, not sent).
    #[error(
        "{not_delivered} of {messages} messages were not delivered ({rows} rows){}: {first_error}",
        unsent_note(*.unsent)
    )]
    NotDelivered {
        not_delivered: u64,
        messages: u64,
        rows: u64,
        unsent: u64,
        first_error: String,
    },
    /// Keeping an undelivered message failed; the keeper's own error.
    #[error(transparent)]
    Keep(Box<dyn std::error::Error + Send + Sync + 'static>),
}

fn unsent_note(unsent: u64) -> String {
    if unsent > 0 {
        format!("; {unsent} were not sent after the first failure")
    } else {
        String::new()
    }
}

impl KafkaError {
    /// The setting the error is about, for a front end to name the way its users give it.
    pub fn setting(&self) -> Option<Setting> {
        match self {
            KafkaError::Option { setting, .. } => *setting,
            KafkaError::Missing { setting } | KafkaError::Invalid { setting, .. } => Some(*setting),
            KafkaError::Unreachable { .. } => Some(Setting::Brokers),
            KafkaError::TopicName { .. } => Some(Setting::Topic),
            _ => None,
        }
    }
}
