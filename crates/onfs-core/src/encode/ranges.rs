//! One input encoded on several threads, its messages byte for byte those of one encoder.
//!
//! The input is cut into row ranges, each starting at a multiple of the batch size
//! ([`cut_rows`]). Worker threads encode the ranges, each with an encoder of its own; the
//! caller's thread takes them in order, numbers their messages on and hands them to `emit`
//! (writing or sending them while the next ranges are encoded). A range's messages are those
//! one encoder makes when that encoder holds no pending rows at the range's start: true at the
//! first range, and after every range whose rows filled its last message exactly. When a range
//! leaves rows pending (rows dropped for a null key, a message closed early at its byte limit),
//! the next range is encoded again, in order, by the encoder holding them.
//!
//! Key lanes (`key_partitions`) and first lengths shared while sending (`first_lengths`)
//! depend on every row before: with either, [`can_split`] says no and one encoder does it all.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

use arrow_array::RecordBatch;

use super::encoder::{EncodeStats, EncodedMessage, Encoder, EncoderOptions};
use super::error::EncodeError;
use crate::plan::Plan;
use crate::store::StoreError;

/// Whether an input may be encoded in ranges apart with these options.
pub fn can_split(opts: &EncoderOptions) -> bool {
    opts.key_partitions.is_none() && opts.first_lengths.is_none()
}

/// `0..rows` cut at the given rows (e.g. where row groups begin), each cut moved up to the
/// next multiple of `batch_size`, so that a range's first row opens a message.
pub fn cut_rows(
    rows: u64,
    batch_size: usize,
    cuts: impl IntoIterator<Item = u64>,
) -> Vec<Range<u64>> {
    let batch = batch_size.max(1) as u64;
    let mut at: Vec<u64> = cuts
        .into_iter()
        .map(|c| c.div_ceil(batch) * batch)
        .filter(|&c| c > 0 && c < rows)
        .collect();
    at.push(0);
    at.push(rows);
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| w[0]..w[1]).collect()
}

/// A range's messages and the encoder that made them (its counts, and its state at the
/// range's end).
type Encoded = (Vec<EncodedMessage>, Encoder);

/// Encodes `ranges` ranges of an input on up to `threads` threads; `read(i)` gives the record
/// batches of range `i` (ranges cut by [`cut_rows`], in input order). `emit` gets every message
/// in the order, and with the numbers, one encoder of the whole input gives them; on the
/// caller's thread. Returns the counts of the whole input. Check [`can_split`] first.
pub fn encode_ranges<I, E>(
    plan: &Plan,
    opts: &EncoderOptions,
    ranges: usize,
    threads: usize,
    read: impl Fn(usize) -> Result<I, E> + Sync,
    mut emit: impl FnMut(EncodedMessage) -> Result<(), E>,
) -> Result<EncodeStats, E>
where
    I: IntoIterator<Item = Result<RecordBatch, E>>,
    E: From<EncodeError> + From<StoreError> + Send,
{
    debug_assert!(can_split(opts));
    // Fails here, not on a worker, for store rules naming no feature of the plan; its counts
    // (none yet, each vector feature named) are what the ranges' add to.
    let mut total = Encoder::try_new(plan, opts.clone())?.stats().clone();
    let threads = threads.clamp(1, ranges.max(1));
    // Ranges encoded ahead of the one being emitted, at most: bounds the messages held.
    let gate = Gate::new(threads + 1);
    let next = AtomicUsize::new(0);
    let encode = |i: usize| -> Result<Encoded, E> {
        let mut encoder = Encoder::try_new(plan, opts.clone())?;
        let mut out = Vec::new();
        for batch in read(i)? {
            encoder.encode_into(&batch?, &mut out)?;
        }
        Ok((out, encoder))
    };
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, Result<Encoded, E>)>();
        for _ in 0..threads {
            let tx = tx.clone();
            let (gate, next, encode) = (&gate, &next, &encode);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ranges || !gate.wait_for(i) {
                    return;
                }
                if tx.send((i, encode(i))).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut arrived = BTreeMap::new();
        let mut next_id = 0i64;
        let mut emit_numbered = |mut m: EncodedMessage| {
            m.intra_batch_id = next_id;
            next_id += 1;
            emit(m)
        };
        let result = (|| {
            // The encoder of the ranges so far, while it holds pending rows.
            let mut carry: Option<Encoder> = None;
            for i in 0..ranges {
                let encoded = loop {
                    if let Some(r) = arrived.remove(&i) {
                        break r;
                    }
                    let (j, r) = rx.recv().expect("a range worker stopped before its range");
                    arrived.insert(j, r);
                };
                gate.emitted(i);
                match carry.take() {
                    Some(mut encoder) if !encoder.is_idle() => {
                        let mut out = Vec::new();
                        for batch in read(i)? {
                            encoder.encode_into(&batch?, &mut out)?;
                        }
                        out.into_iter().try_for_each(&mut emit_numbered)?;
                        carry = Some(encoder);
                    }
                    earlier => {
                        if let Some(e) = earlier {
                            total.merge(e.stats());
                        }
                        let (messages, encoder) = encoded?;
                        messages.into_iter().try_for_each(&mut emit_numbered)?;
                        carry = Some(encoder);
                    }
                }
            }
            if let Some(mut encoder) = carry {
                encoder
                    .finish()
                    .into_iter()
                    .try_for_each(&mut emit_numbered)?;
                total.merge(encoder.stats());
            }
            Ok(total)
        })();
        gate.stop();
        drop(rx);
        result
    })
}

/// Lets a worker start range `i` once `i` is within `ahead` of the range being emitted.
struct Gate {
    ahead: usize,
    state: Mutex<(usize, bool)>,
    moved: Condvar,
}

impl Gate {
    fn new(ahead: usize) -> Gate {
        Gate {
            ahead,
            state: Mutex::new((0, false)),
            moved: Condvar::new(),
        }
    }

    /// Waits until range `i` may start; false once stopped.
    fn wait_for(&self, i: usize) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while !s.1 && i >= s.0 + self.ahead {
            s = self.moved.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        !s.1
    }

    fn emitted(&self, i: usize) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0 = i + 1;
        self.moved.notify_all();
    }

    fn stop(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.moved.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_move_up_to_a_multiple_of_the_batch_size() {
        assert_eq!(
            cut_rows(100, 20, [0, 30, 45, 100, 250]),
            [0..40, 40..60, 60..100]
        );
        assert_eq!(cut_rows(100, 7, [50]), [0..56, 56..100]);
        // A cut past the last multiple before the end falls away.
        assert_eq!(cut_rows(10, 20, [3]), vec![Range { start: 0, end: 10 }]);
        assert_eq!(cut_rows(0, 20, [0]), Vec::<Range<u64>>::new());
    }

    #[test]
    fn key_lanes_and_shared_first_lengths_keep_one_encoder() {
        assert!(can_split(&EncoderOptions::default()));
        let keyed = EncoderOptions {
            key_partitions: Some(3),
            ..Default::default()
        };
        assert!(!can_split(&keyed));
    }
}
