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

/// The bytes of `b` (1 to 8 of them) as a little-endian integer, zero-padded, read with at
/// most two overlapping loads instead of a variable-length copy.
#[inline(always)]
fn load_le(b: &[u8]) -> u64 {
    let n = b.len();
    let word = |at: usize| -> u64 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[at..at + 4]);
        u64::from(u32::from_le_bytes(w))
    };
    if n >= 8 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[..8]);
        u64::from_le_bytes(w)
    } else if n >= 4 {
        word(0) | (word(n - 4) << ((n - 4) * 8))
    } else if n > 0 {
        u64::from(b[0])
            | (u64::from(b[n / 2]) << (8 * (n / 2)))
            | (u64::from(b[n - 1]) << (8 * (n - 1)))
    } else {
        0
    }
}

/// A key of at most 7 bytes packed with its length in the top byte.
#[inline(always)]
fn pack64(bytes: &[u8]) -> u64 {
    load_le(bytes) | ((bytes.len() as u64) << 56)
}

/// A key of at most 15 bytes packed with its length in the top byte.
#[inline(always)]
pub(crate) fn pack128(bytes: &[u8]) -> u128 {
    let n = bytes.len();
    let (lo, hi) =
        if n > 8 { (load_le(&bytes[..8]), load_le(&bytes[8..])) } else { (load_le(bytes), 0) };
    u128::from(lo) | (u128::from(hi) << 64) | ((n as u128) << 120)
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
            1..=7 => self.short.insert(pack64(bytes), id),
            8..=15 => self.medium.insert(pack128(bytes), id),
            _ => self.long.insert(bytes.into(), id), // (and the empty key, never a token)
        }
    }

    /// The id of a token.
    #[inline(always)]
    pub fn get(&self, bytes: &[u8]) -> Option<u32> {
        match bytes.len() {
            0 => None,
            1..=7 => self.short.get(&pack64(bytes)).copied(),
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
    fn packing_matches_a_plain_copy() {
        let data: Vec<u8> = (1..=16u8).map(|b| b.wrapping_mul(37)).collect();
        for n in 0..=15 {
            let mut buf = [0u8; 16];
            buf[..n].copy_from_slice(&data[..n]);
            let plain = u128::from_le_bytes(buf) | ((n as u128) << 120);
            assert_eq!(pack128(&data[..n]), plain, "length {n}");
            if n <= 7 {
                assert_eq!(
                    u128::from(pack64(&data[..n])) & ((1 << 56) - 1),
                    plain & ((1 << 56) - 1)
                );
            }
        }
    }

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
