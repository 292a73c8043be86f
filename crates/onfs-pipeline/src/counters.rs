//! Counts a pass updates as it goes, readable from another thread (a progress line).

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Counters {
    /// Rows read from the joined sources.
    pub rows_read: AtomicU64,
    /// Rows encoded into messages.
    pub rows_encoded: AtomicU64,
    /// Messages made.
    pub messages: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
