//! Maps keyed by a hash computed already (the vectorized row and key hashes): the key is its own
//! hash, so a lookup costs no second hashing.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Passes a `u64` key through as its hash.
#[derive(Default)]
pub struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | *b as u64;
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map from a hash to `V`.
pub type HashedMap<V> = HashMap<u64, V, BuildHasherDefault<PreHashed>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_its_own_hash() {
        let mut m: HashedMap<&str> = HashedMap::default();
        m.insert(0x1234_5678_9abc_def0, "a");
        m.insert(7, "b");
        assert_eq!(m.get(&0x1234_5678_9abc_def0), Some(&"a"));
        assert_eq!(m.get(&7), Some(&"b"));
        let mut h = PreHashed::default();
        h.write_u64(42);
        assert_eq!(h.finish(), 42);
    }
}
