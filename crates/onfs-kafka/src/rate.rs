//! `--max-rate`: a smooth limit on rows per second, so the online store's ingest is not flooded.

use std::time::{Duration, Instant};

/// Lets `rows` through at `rate` per second on average: the n-th row may go at `start + n / rate`.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    start: Option<Instant>,
    sent: u64,
}

impl RateLimiter {
    pub fn new(rows_per_sec: f64) -> Self {
        RateLimiter {
            rate: rows_per_sec.max(f64::MIN_POSITIVE),
            start: None,
            sent: 0,
        }
    }

    /// Sleeps until `rows` more rows may go.
    pub fn wait_for(&mut self, rows: u64) {
        let start = *self.start.get_or_insert_with(Instant::now);
        let due = start + Duration::from_secs_f64(self.sent as f64 / self.rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        self.sent += rows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_messages_by_their_rows() {
        let mut r = RateLimiter::new(1000.0);
        let t = Instant::now();
        for _ in 0..5 {
            r.wait_for(20);
        }
        // The fifth message waits for the 80 rows before it: 80 ms at 1000 rows/s.
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(80), "{waited:?}");
    }
}
