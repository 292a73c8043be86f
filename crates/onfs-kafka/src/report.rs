//! What happened to the messages: the counts of a run, and the messages that were not delivered.

use std::collections::BTreeMap;

use serde::Serialize;

/// A message that was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    pub intra_batch_id: i64,
    pub rows: u32,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub error: String,
}

/// What happened to every message.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DeliveryReport {
    pub messages: u64,
    pub rows: u64,
    pub bytes: u64,
    pub delivered: u64,
    pub delivered_rows: u64,
    pub delivered_bytes: u64,
    pub failed: u64,
    pub failed_rows: u64,
    /// Delivered messages per partition.
    pub per_partition: BTreeMap<i32, u64>,
    pub seconds: f64,
    /// The first delivery error, if any.
    pub first_error: Option<String>,
}

impl DeliveryReport {
    pub fn all_delivered(&self) -> bool {
        self.failed == 0 && self.delivered == self.messages
    }
}
