//! When each group of each ledger entry was last sent, kept small: a run records one time for
//! everything it sends, so a ledger holds few distinct times (with a refresh interval, about
//! the runs within it). Each distinct time is stored once and an entry's group keeps its
//! number: 1 byte while there are at most 256 times, then 2 bytes (instead of 4 per group and
//! key). Past 65,536 distinct times, each keeps its time.

use std::collections::HashMap;
use std::ops::Range;

use onfs_core::prefetch::prefetch;

/// Never sent (the time of number 0).
pub(crate) const NEVER: u32 = 0;

#[derive(Debug, Clone)]
pub(crate) enum SentTimes {
    /// `times[index[at]]`; `number` finds a time's number (`last`: the last one asked for).
    Few {
        index: Index,
        times: Vec<u32>,
        number: HashMap<u32, u16>,
        last: u16,
    },
    Many(Vec<u32>),
}

/// Each entry's time number, as narrow as the numbers given so far allow.
#[derive(Debug, Clone)]
pub(crate) enum Index {
    Byte(Vec<u8>),
    Short(Vec<u16>),
}

impl Index {
    fn len(&self) -> usize {
        match self {
            Index::Byte(v) => v.len(),
            Index::Short(v) => v.len(),
        }
    }

    fn memory_bytes(&self) -> usize {
        match self {
            Index::Byte(v) => v.capacity(),
            Index::Short(v) => v.capacity() * 2,
        }
    }

    #[inline]
    fn get(&self, at: usize) -> usize {
        match self {
            Index::Byte(v) => v[at] as usize,
            Index::Short(v) => v[at] as usize,
        }
    }

    /// Room for number `n`: two bytes an entry once a number takes more than one. (Inlined:
    /// the widening itself happens at most once.)
    #[inline]
    fn fit(&mut self, n: u16) {
        if n <= u8::MAX as u16 {
            return;
        }
        if let Index::Byte(v) = self {
            let mut wide = Vec::with_capacity(v.capacity());
            wide.extend(v.iter().map(|&i| i as u16));
            *self = Index::Short(wide);
        }
    }

    #[inline]
    fn set(&mut self, at: usize, n: u16) {
        self.fit(n);
        match self {
            Index::Byte(v) => v[at] = n as u8,
            Index::Short(v) => v[at] = n,
        }
    }

    fn push(&mut self, n: u16) {
        self.fit(n);
        match self {
            Index::Byte(v) => v.push(n as u8),
            Index::Short(v) => v.push(n),
        }
    }

    /// Appends `count` entries of number `n`.
    fn push_repeated(&mut self, n: u16, count: usize) {
        self.fit(n);
        match self {
            Index::Byte(v) => v.resize(v.len() + count, n as u8),
            Index::Short(v) => v.resize(v.len() + count, n),
        }
    }

    fn copy_within(&mut self, src: Range<usize>, dest: usize) {
        match self {
            Index::Byte(v) => v.copy_within(src, dest),
            Index::Short(v) => v.copy_within(src, dest),
        }
    }

    /// Entries `range` become number 0 (never sent).
    fn fill_zeros(&mut self, range: Range<usize>) {
        match self {
            Index::Byte(v) => v[range].fill(0),
            Index::Short(v) => v[range].fill(0),
        }
    }
}

impl Default for SentTimes {
    fn default() -> Self {
        SentTimes::with_capacity(0)
    }
}

impl PartialEq for SentTimes {
    fn eq(&self, other: &SentTimes) -> bool {
        self.len() == other.len() && (0..self.len()).all(|at| self.get(at) == other.get(at))
    }
}

impl SentTimes {
    pub fn with_capacity(n: usize) -> SentTimes {
        SentTimes::Few {
            index: Index::Byte(Vec::with_capacity(n)),
            times: vec![NEVER],
            number: HashMap::from([(NEVER, 0)]),
            last: 0,
        }
    }

    /// The times of `sent`, in order.
    #[cfg(test)]
    pub fn from_times(sent: &[u32]) -> SentTimes {
        let mut times = SentTimes::with_capacity(sent.len());
        for &t in sent {
            times.push(t);
        }
        times
    }

    pub fn len(&self) -> usize {
        match self {
            SentTimes::Few { index, .. } => index.len(),
            SentTimes::Many(sent) => sent.len(),
        }
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        match self {
            SentTimes::Few { index, times, .. } => index.memory_bytes() + times.capacity() * 10,
            SentTimes::Many(sent) => sent.capacity() * 4,
        }
    }

    #[inline]
    pub fn get(&self, at: usize) -> u32 {
        match self {
            SentTimes::Few { index, times, .. } => times[index.get(at)],
            SentTimes::Many(sent) => sent[at],
        }
    }

    /// `t`'s number, given one if it has none; `None` once every number is taken.
    fn number(&mut self, t: u32) -> Option<u16> {
        let SentTimes::Few {
            times,
            number,
            last,
            ..
        } = self
        else {
            return None;
        };
        // Mostly never, or the time asked for just before (entries are written a run's time
        // at a time).
        if t == NEVER {
            return Some(0);
        }
        if times[*last as usize] == t {
            return Some(*last);
        }
        let n = match number.get(&t) {
            Some(&n) => n,
            None => {
                let n = u16::try_from(times.len()).ok()?;
                times.push(t);
                number.insert(t, n);
                n
            }
        };
        *last = n;
        Some(n)
    }

    /// Each entry keeps its own time from now on.
    fn widen(&mut self) {
        if let SentTimes::Few { index, times, .. } = self {
            let mut sent = Vec::with_capacity(index.len());
            sent.extend((0..index.len()).map(|at| times[index.get(at)]));
            *self = SentTimes::Many(sent);
        }
    }

    /// `t`'s number while the times are few; `None` once each entry keeps its own time (the
    /// entries widened first if every number is taken).
    fn numbered(&mut self, t: u32) -> Option<u16> {
        let n = self.number(t);
        if n.is_none() {
            self.widen();
        }
        n
    }

    pub fn set(&mut self, at: usize, t: u32) {
        match (self.numbered(t), self) {
            (Some(n), SentTimes::Few { index, .. }) => index.set(at, n),
            (_, SentTimes::Many(sent)) => sent[at] = t,
            (None, SentTimes::Few { .. }) => unreachable!("widened when not numbered"),
        }
    }

    pub fn push(&mut self, t: u32) {
        match (self.numbered(t), self) {
            (Some(n), SentTimes::Few { index, .. }) => index.push(n),
            (_, SentTimes::Many(sent)) => sent.push(t),
            (None, SentTimes::Few { .. }) => unreachable!("widened when not numbered"),
        }
    }

    /// Sets every `stride`-th entry from `start` to `times` in turn, leaving the entries of
    /// never-sent times as they are.
    pub fn set_strided(&mut self, start: usize, stride: usize, times: &[u32]) {
        let mut at = start;
        let mut last = (NEVER, 0u16);
        for &t in times {
            if t != NEVER {
                match self {
                    SentTimes::Few { index, .. } if t == last.0 => index.set(at, last.1),
                    _ => {
                        self.set(at, t);
                        if let SentTimes::Few { index, .. } = self {
                            last = (t, index.get(at) as u16);
                        }
                    }
                }
            }
            at += stride;
        }
    }

    /// Starts loading the memory of the time at `at` (see [`onfs_core::prefetch`]).
    #[inline(always)]
    pub fn prefetch(&self, at: usize) {
        match self {
            SentTimes::Few {
                index: Index::Byte(index),
                ..
            } => prefetch(index, at),
            SentTimes::Few {
                index: Index::Short(index),
                ..
            } => prefetch(index, at),
            SentTimes::Many(sent) => prefetch(sent, at),
        }
    }

    /// Appends the times at `range` to `out`.
    #[inline]
    pub fn copy_to(&self, range: Range<usize>, out: &mut Vec<u32>) {
        match self {
            SentTimes::Few {
                index: Index::Byte(index),
                times,
                ..
            } => out.extend(index[range].iter().map(|&i| times[i as usize])),
            SentTimes::Few {
                index: Index::Short(index),
                times,
                ..
            } => out.extend(index[range].iter().map(|&i| times[i as usize])),
            SentTimes::Many(sent) => out.extend_from_slice(&sent[range]),
        }
    }

    /// Appends `n` never-sent entries.
    pub fn push_never(&mut self, n: usize) {
        self.push_repeated(NEVER, n);
    }

    /// Appends `n` entries sent at `t`.
    pub fn push_repeated(&mut self, t: u32, n: usize) {
        match (self.numbered(t), self) {
            (Some(number), SentTimes::Few { index, .. }) => index.push_repeated(number, n),
            (_, SentTimes::Many(sent)) => sent.resize(sent.len() + n, t),
            (None, SentTimes::Few { .. }) => unreachable!("widened when not numbered"),
        }
    }

    /// Copies the times at `src` to the entries from `dest` on (the ranges may overlap).
    pub fn copy_within(&mut self, src: Range<usize>, dest: usize) {
        match self {
            SentTimes::Few { index, .. } => index.copy_within(src, dest),
            SentTimes::Many(sent) => sent.copy_within(src, dest),
        }
    }

    /// The entries at `range` become never sent.
    pub fn fill_never(&mut self, range: Range<usize>) {
        match self {
            SentTimes::Few { index, .. } => index.fill_zeros(range),
            SentTimes::Many(sent) => sent[range].fill(NEVER),
        }
    }

    /// Appends the times of `other` at `range`.
    pub fn extend_from(&mut self, other: &SentTimes, range: Range<usize>) {
        for at in range {
            self.push(other.get(at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_times_are_numbered_and_many_kept_each() {
        let mut s = SentTimes::with_capacity(4);
        s.push(100);
        s.push_never(2);
        s.push(100);
        s.set(1, 200);
        assert_eq!(
            (0..4).map(|at| s.get(at)).collect::<Vec<_>>(),
            [100, 200, NEVER, 100]
        );
        assert!(matches!(&s, SentTimes::Few { times, .. } if times.len() == 3));
    }

    #[test]
    fn numbers_take_a_byte_until_there_are_more_than_256_times() {
        let mut s = SentTimes::default();
        let mut plain = Vec::new();
        // Never plus 255 times: every number fits a byte.
        for t in 1..=255u32 {
            s.push(t);
            plain.push(t);
        }
        s.push_never(3);
        plain.extend([NEVER; 3]);
        assert!(matches!(
            &s,
            SentTimes::Few {
                index: Index::Byte(_),
                ..
            }
        ));
        // The 257th time, set in the middle, makes them two bytes; every entry reads the same.
        s.set(10, 1_000);
        plain[10] = 1_000;
        assert!(matches!(
            &s,
            SentTimes::Few {
                index: Index::Short(_),
                ..
            }
        ));
        s.set_strided(0, 100, &[1_000, 1_000, 7]);
        plain[0] = 1_000;
        plain[100] = 1_000;
        plain[200] = 7;
        assert!((0..plain.len()).all(|at| s.get(at) == plain[at]));
        let mut copied = Vec::new();
        s.copy_to(0..plain.len(), &mut copied);
        assert_eq!(copied, plain);
    }

    /// Times as a plain array would keep them, through pushes, sets and copies from other
    /// tables, across the point where every number is taken.
    #[test]
    fn every_time_reads_back_as_kept_across_widening() {
        let mut plain: Vec<u32> = Vec::new();
        let mut s = SentTimes::default();
        // Never-sent entries between distinct times; 65,535 times fill every number.
        for t in 1..=65_535u32 {
            s.push(t);
            plain.push(t);
            s.push_never(1);
            plain.push(NEVER);
        }
        assert!(matches!(s, SentTimes::Few { .. }));
        s.set(3, 7);
        plain[3] = 7;
        // A set of a new time widens.
        s.set(5, 1_000_000);
        plain[5] = 1_000_000;
        assert!(matches!(s, SentTimes::Many(_)));
        s.push(1_000_001);
        plain.push(1_000_001);
        assert_eq!(s.len(), plain.len());
        assert!((0..plain.len()).all(|at| s.get(at) == plain[at]));
        // Copies from a table numbered otherwise keep each time.
        let other = SentTimes::from_times(&[9, NEVER, 8, 9]);
        let mut few = SentTimes::from_times(&[8, 1]);
        few.extend_from(&other, 0..4);
        few.extend_from(&s, 5..7);
        assert_eq!(
            (0..few.len()).map(|at| few.get(at)).collect::<Vec<_>>(),
            [8, 1, 9, NEVER, 8, 9, 1_000_000, 4]
        );
        // Strided sets, never-sent times left alone, across widening.
        let mut strided = SentTimes::from_times(&[1, 2, 3, 4, 5, 6]);
        strided.set_strided(1, 2, &[9, NEVER, 9]);
        assert_eq!(
            (0..6).map(|at| strided.get(at)).collect::<Vec<_>>(),
            [1, 9, 3, 4, 5, 9]
        );
        let mut crowded = s.clone();
        crowded.set_strided(0, 3, &[2_000_000, 2_000_000, 5]);
        assert_eq!(crowded.get(0), 2_000_000);
        assert_eq!(crowded.get(3), 2_000_000);
        assert_eq!(crowded.get(6), 5);
        assert_eq!(crowded.get(1), plain[1]);
        let mut wide = few.clone();
        wide.widen();
        assert_eq!(few, wide);
        assert_ne!(
            few,
            SentTimes::from_times(&[8, 1, 9, NEVER, 8, 9, 1_000_000, 5])
        );
    }

    /// Runs of one time, moves within the table and entries made never sent read back as a
    /// plain array's would, few times or many.
    #[test]
    fn repeated_moved_and_cleared_times_read_back_as_kept() {
        for mut s in [SentTimes::from_times(&[4, 5]), {
            let mut many = SentTimes::from_times(&[4, 5]);
            many.widen();
            many
        }] {
            let mut plain = vec![4, 5];
            s.push_repeated(7, 3);
            plain.extend([7, 7, 7]);
            s.push_never(2);
            plain.extend([NEVER, NEVER]);
            s.copy_within(0..3, 2);
            plain.copy_within(0..3, 2);
            s.fill_never(0..1);
            plain[0..1].fill(NEVER);
            assert_eq!((0..s.len()).map(|at| s.get(at)).collect::<Vec<_>>(), plain);
        }
    }
}
