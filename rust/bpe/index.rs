//! Token bytes → id lookup, tuned for the hot path of encoding: one lookup per pre-token.
//!
//! Most pre-tokens are short, so keys of up to 7 bytes are packed into a `u64` and keys of
//! up to 15 bytes into a `u128` (the length in the top byte keeps `"a"` and `"a\0"` apart);
//! hashing and comparing them are a multiply and an integer compare instead of a byte-slice
//! hash and a `memcmp`. Longer keys use an ordinary slice-keyed map.

use rustc_hash::FxHashMap;

/// A map from token bytes to ids.
#[derive(Clone, Debug, Default)]
pub struct TokenIndex {
    short: FxHashMap<u64, u32>,
    medium: FxHashMap<u128, u32>,
    long: FxHashMap<Box<[u8]>, u32>,
}

#[inline(always)]
fn pack64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(buf) | ((bytes.len() as u64) << 56)
}

#[inline(always)]
pub(crate) fn pack128(bytes: &[u8]) -> u128 {
    let mut buf = [0u8; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    u128::from_le_bytes(buf) | ((bytes.len() as u128) << 120)
}

impl TokenIndex {
    /// An empty index with room for `n` tokens.
    pub fn with_capacity(n: usize) -> Self {
        TokenIndex {
            short: FxHashMap::with_capacity_and_hasher(n, Default::default()),
            medium: FxHashMap::with_capacity_and_hasher(n / 2, Default::default()),
            long: FxHashMap::default(),
        }
    }

    /// Adds a token; returns the id it had if it was already present.
    pub fn insert(&mut self, bytes: &[u8], id: u32) -> Option<u32> {
        match bytes.len() {
            0..=7 => self.short.insert(pack64(bytes), id),
            8..=15 => self.medium.insert(pack128(bytes), id),
            _ => self.long.insert(bytes.into(), id),
        }
    }

    /// The id of a token.
    #[inline(always)]
    pub fn get(&self, bytes: &[u8]) -> Option<u32> {
        match bytes.len() {
            0..=7 => self.short.get(&pack64(bytes)).copied(),
            8..=15 => self.medium.get(&pack128(bytes)).copied(),
            _ => self.long.get(bytes).copied(),
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.short.len() + self.medium.len() + self.long.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_every_length_and_zero_bytes() {
        let mut index = TokenIndex::default();
        let keys: Vec<Vec<u8>> = (1..40).flat_map(|n| [vec![0u8; n], vec![b'a'; n]]).collect();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(index.insert(k, i as u32), None);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(index.get(k), Some(i as u32));
        }
        assert_eq!(index.get(b""), None);
        assert_eq!(index.get(b"b"), None);
        assert_eq!(index.insert(b"a", 7), Some(1));
        assert_eq!(index.len(), keys.len());
    }
}
