//! Recording what a run sent into the ledger, in place: keys the ledger has are changed where
//! they are, and new keys are merged in from the back of the grown arrays (no second copy of
//! the ledger, whatever the share of new keys). A first run's sends become the ledger's arrays
//! themselves, put in key order where they are.

use std::sync::OnceLock;

use super::Ledger;
use crate::sent_times::{SentTimes, NEVER};
use crate::{Sends, Updates};

/// Sends or updates by key (`(key, index)`, a key's in the order given), to record.
type Order = Vec<(u64, u32)>;

fn by_key(keys: &[u64]) -> Order {
    let n = u32::try_from(keys.len()).expect("fewer than 2^32 sends a pass");
    let mut order: Order = keys.iter().copied().zip(0..n).collect();
    order.sort_unstable();
    order
}

impl Ledger {
    /// Records `updates` (in their order: a later update of a key and group wins). Keys the
    /// ledger has are changed in place; new keys are merged in, in key order.
    pub fn apply(&mut self, updates: impl std::borrow::Borrow<Updates>) {
        let updates = updates.borrow();
        if updates.is_empty() {
            return;
        }
        self.encoded = OnceLock::new();
        let w = self.width();
        debug_assert_eq!(updates.width, w);
        let put = |l: &mut Ledger, entry: usize, u: u32| {
            let from = u as usize * w;
            for g in 0..w {
                let sent = updates.sent[from + g];
                if sent != NEVER {
                    l.hashes[entry * w + g] = updates.hashes[from + g];
                    l.sent.set(entry * w + g, sent);
                }
            }
        };
        let mut order = by_key(&updates.keys);
        self.change_known(&mut order, put);
        self.merge_new(&order, put);
    }

    /// Records what a run sent at `at` (seconds since the epoch): each sent group's value
    /// hash, sent at `at`.
    pub fn record(&mut self, sends: Sends, at: u32) {
        if sends.is_empty() {
            return;
        }
        self.encoded = OnceLock::new();
        let w = self.width();
        let starts = sends.starts(w);
        let order = by_key(&sends.keys);
        if self.is_empty() && starts.is_none() && order.windows(2).all(|p| p[0].0 != p[1].0) {
            return self.adopt(sends, order, at);
        }
        let Sends { groups, hashes, .. } = sends;
        let put = |l: &mut Ledger, entry: usize, s: u32| {
            let s = s as usize;
            let first = starts.as_ref().map_or(s * w, |starts| starts[s]);
            let sent = (0..w).filter(|g| groups[s] >> g & 1 == 1);
            for (g, &hash) in sent.zip(&hashes[first..]) {
                l.hashes[entry * w + g] = hash;
                l.sent.set(entry * w + g, at);
            }
        };
        let mut order = order;
        self.change_known(&mut order, put);
        self.merge_new(&order, put);
    }

    /// An empty ledger takes `sends` (every group of every key sent once, `order` their keys
    /// sorted) as its entries: the hashes are put in key order where they are.
    fn adopt(&mut self, sends: Sends, order: Order, at: u32) {
        let w = self.width();
        let Sends { mut hashes, .. } = sends;
        let mut from: Vec<u32> = order.iter().map(|&(_, s)| s).collect();
        self.keys = order.into_iter().map(|(k, _)| k).collect();
        // Entry `e` takes send `from[e]`'s hashes: each cycle of the permutation is followed
        // once, an entry's hashes held aside while its cycle moves the others up.
        let mut held = vec![0u64; w];
        for start in 0..from.len() {
            if from[start] as usize == start {
                continue;
            }
            held.copy_from_slice(&hashes[start * w..(start + 1) * w]);
            let mut e = start;
            loop {
                let source = from[e] as usize;
                from[e] = e as u32;
                if source == start {
                    hashes[e * w..(e + 1) * w].copy_from_slice(&held);
                    break;
                }
                hashes.copy_within(source * w..(source + 1) * w, e * w);
                e = source;
            }
        }
        hashes.shrink_to_fit();
        self.hashes = hashes;
        let mut sent = SentTimes::with_capacity(self.keys.len() * w);
        sent.push_repeated(at, self.keys.len() * w);
        self.sent = sent;
        self.index();
    }

    /// Puts the items of `order` whose key the ledger has into its entry (`put(ledger, entry,
    /// index)`, a key's in order); leaves the others in `order`.
    fn change_known(&mut self, order: &mut Order, mut put: impl FnMut(&mut Ledger, usize, u32)) {
        let mut kept = 0;
        let mut i = 0;
        while i < order.len() {
            let key = order[i].0;
            let j = i + order[i..].iter().take_while(|(k, _)| *k == key).count();
            match self.entry(key) {
                Some(e) => (i..j).for_each(|at| put(self, e, order[at].1)),
                None => {
                    order.copy_within(i..j, kept);
                    kept += j - i;
                }
            }
            i = j;
        }
        order.truncate(kept);
    }

    /// Adds an entry for each key of `fresh` (sorted, none of them the ledger's), never sent
    /// until `put` writes its items into it. The arrays grow once; from the back, the entries
    /// above each new key move up by the new keys still to come, a run at a time.
    fn merge_new(&mut self, fresh: &[(u64, u32)], mut put: impl FnMut(&mut Ledger, usize, u32)) {
        if fresh.is_empty() {
            return;
        }
        let w = self.width();
        let new = 1 + fresh.windows(2).filter(|p| p[0].0 != p[1].0).count();
        let had = self.len();
        self.keys.resize(had + new, 0);
        self.hashes.resize((had + new) * w, 0);
        self.sent.push_never(new * w);
        let (mut a, mut b, mut p) = (had, fresh.len(), had + new);
        while b > 0 {
            let key = fresh[b - 1].0;
            let s = b - fresh[..b]
                .iter()
                .rev()
                .take_while(|(k, _)| *k == key)
                .count();
            let below = self.keys[..a].partition_point(|&k| k < key);
            if below < a {
                let moved = a - below;
                p -= moved;
                self.keys.copy_within(below..a, p);
                self.hashes.copy_within(below * w..a * w, p * w);
                self.sent.copy_within(below * w..a * w, p * w);
                a = below;
            }
            p -= 1;
            self.keys[p] = key;
            self.hashes[p * w..(p + 1) * w].fill(0);
            self.sent.fill_never(p * w..(p + 1) * w);
            for &(_, item) in &fresh[s..b] {
                put(self, p, item);
            }
            b = s;
        }
        debug_assert_eq!(
            a, p,
            "the entries below the first new key stay where they are"
        );
        self.index();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Seen;

    fn groups(n: usize) -> Vec<String> {
        (0..n).map(|g| format!("g{g}")).collect()
    }

    /// A key hash spread over the whole range.
    fn key(k: u64) -> u64 {
        k.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    /// The sends of keys `keys`, group `g` sent where `mask(k)` has bit `g`, hash `k * 10 + g`.
    fn sends(keys: impl IntoIterator<Item = u64>, w: usize, mask: impl Fn(u64) -> u64) -> Sends {
        let mut s = Sends::default();
        for k in keys {
            let m = mask(k);
            s.push(
                key(k),
                m,
                (0..w as u64)
                    .filter(|g| m >> g & 1 == 1)
                    .map(|g| k * 10 + g),
            );
        }
        s
    }

    /// `record`, checked against recording the same sends as updates.
    fn recorded_both_ways(l: &Ledger, s: Sends, at: u32) -> Ledger {
        let mut by_updates = l.clone();
        by_updates.apply(s.clone().into_updates(l.width(), at));
        let mut recorded = l.clone();
        recorded.record(s, at);
        assert_eq!(recorded, by_updates);
        assert!(recorded.keys.is_sorted_by(|a, b| a < b));
        recorded
    }

    #[test]
    fn a_first_run_s_sends_become_the_ledger_in_key_order() {
        let l = Ledger::new(groups(3));
        let l = recorded_both_ways(&l, sends((0..5000).rev(), 3, |_| 0b111), 100);
        assert_eq!(l.len(), 5000);
        for k in 0..5000 {
            for g in 0..3 {
                assert_eq!(
                    l.seen(key(k), g, k * 10 + g as u64),
                    Seen::Same { sent: 100 }
                );
            }
        }
    }

    #[test]
    fn some_groups_sent_and_new_keys_merged_among_known_ones() {
        let l = Ledger::new(groups(3));
        let l = recorded_both_ways(&l, sends((0..3000).step_by(2), 3, |_| 0b111), 100);
        // Odd keys are new (some groups each); every third even key changes group 1 only.
        let odd = sends((1..3000).step_by(2), 3, |k| 1 + k % 7);
        let l = recorded_both_ways(&l, odd, 200);
        let even = sends((0..3000).step_by(6), 3, |_| 0b010);
        let l = recorded_both_ways(&l, even, 300);
        assert_eq!(l.len(), 3000);
        // 7 sent group 0 only (1 + 7 % 7), 9 groups 0 and 1.
        assert_eq!(l.seen(key(7), 0, 70), Seen::Same { sent: 200 });
        assert_eq!(l.seen(key(7), 1, 71), Seen::New);
        assert_eq!(l.seen(key(9), 1, 91), Seen::Same { sent: 200 });
        assert_eq!(l.seen(key(9), 2, 92), Seen::New);
        assert_eq!(l.seen(key(6), 1, 61), Seen::Same { sent: 300 });
        assert_eq!(l.seen(key(6), 0, 60), Seen::Same { sent: 100 });
        assert_eq!(l.entry(key(3001)), None);
    }

    #[test]
    fn a_key_sent_twice_keeps_the_later_send() {
        let l = Ledger::new(groups(2));
        let mut s = sends([1, 2], 2, |_| 0b11);
        s.push(key(1), 0b01, [99]);
        let l = recorded_both_ways(&l, s, 100);
        assert_eq!(l.seen(key(1), 0, 99), Seen::Same { sent: 100 });
        assert_eq!(l.seen(key(1), 1, 11), Seen::Same { sent: 100 });
    }

    #[test]
    fn updates_merged_in_from_the_back_equal_a_ledger_made_at_once() {
        let mut l = Ledger::new(groups(2));
        let mut all = Updates::new(2);
        for round in 0..4u64 {
            let mut u = Updates::new(2);
            for k in (round..2000).step_by(4) {
                u.push(key(k), [(k, 100 + round as u32), (k + 1, NEVER)]);
                all.push(key(k), [(k, 100 + round as u32), (k + 1, NEVER)]);
            }
            l.apply(u);
        }
        let mut at_once = Ledger::new(groups(2));
        at_once.apply(all);
        assert_eq!(l, at_once);
        assert_eq!(l.len(), 2000);
        assert_eq!(l.seen(key(5), 0, 5), Seen::Same { sent: 101 });
        assert_eq!(l.seen(key(5), 1, 6), Seen::New);
    }
}
