//! The Kafka sink of onfs-push: options translated from the Spark form, bounded in-flight sends,
//! and a delivery report for every message.

pub mod options;
pub mod producer;
pub mod rate;
pub mod topic;

use std::time::Duration;

pub use options::ProducerConfig;
pub use producer::{DeliveryReport, KafkaSink, Outgoing, SinkConfig, Undelivered};

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("Kafka option {option}: {problem}")]
    Option { option: String, problem: String },
    #[error("Kafka brokers {brokers} did not answer within {waited:?}: {detail}; check --kafka-brokers, the network and the security options")]
    Unreachable {
        brokers: String,
        waited: Duration,
        detail: String,
    },
    #[error("Kafka topic {topic:?} does not exist on {brokers}; create it (the brokers do not create topics automatically)")]
    TopicMissing { topic: String, brokers: String },
    #[error("Kafka topic {topic:?}: {detail}")]
    Topic { topic: String, detail: String },
    #[error("{waiting} messages still had no delivery report after {waited:?}")]
    FlushTimeout { waiting: u64, waited: Duration },
    #[error("reading Kafka topic {topic:?}: {detail}")]
    Consume { topic: String, detail: String },
}
