//! Turning the bytes of one pre-token into token ids.
//!
//! Rule (both merge rules reduce to it, see [`super::model`]): repeatedly merge the adjacent
//! pair with the lowest priority value, the leftmost one on ties, until no pair merges.
//! Two implementations of that one rule:
//! - [`BpeModel::merge_short`]: tiktoken's scan, O(n·m) for n bytes and m merges, fastest
//!   for the short pieces that make up almost all text;
//! - [`BpeModel::merge_long`]: a binary heap of (priority, position) over a linked list,
//!   O(n log n), so a 10 MB piece with no spaces costs seconds, not days.
//!
//! Tests check that both agree with each other and with the Python reference.
//!
//! # Performance notes
//! Short pieces are merged on the stack: ids and packed pairs `(priority << 32) | id` in
//! two arrays, a linear scan for the smallest pair (one compare per pair, so ties go left),
//! and `memmove`s to close the gap, cheap at these lengths (a tournament tree and split
//! scans were both slower, see benches/RESULTS.md). Pieces of ASCII bytes start from the
//! dense byte-pair table; pieces with multi-byte characters start from the characters'
//! own tokens where [`CharTable`](super::chars::CharTable) proves that exact, which for
//! Chinese removes two thirds of the units and most of the merges and pair-table probes
//! before the scan begins (and lets clauses of up to 96 units, not bytes, use the scan).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::model::{pair_key, BpeModel, NO_ID};
use crate::error::{Error, Result};

/// Pieces up to this many bytes use the short scan.
const SHORT_PIECE: usize = 96;
/// A packed (priority, id) that sorts after every real pair.
pub(crate) const NO_PAIR: u64 = u64::MAX;
const NONE: u32 = u32::MAX;

impl BpeModel {
    /// Priority and merged id of the pair `(a, b)`, if it merges.
    #[inline(always)]
    pub(crate) fn pair(&self, a: u32, b: u32) -> Option<(u32, u32)> {
        self.pairs.get(&pair_key(a, b)).map(|&v| ((v >> 32) as u32, v as u32))
    }

    /// `(priority << 32) | merged id` of the pair `(a, b)`, or [`NO_PAIR`].
    #[inline(always)]
    pub(crate) fn pair_packed(&self, a: u32, b: u32) -> u64 {
        self.pairs.get(&pair_key(a, b)).copied().unwrap_or(NO_PAIR)
    }

    /// Encodes one pre-token, appending its ids to `out`.
    #[inline]
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) -> Result<()> {
        if piece.len() == 1 {
            let id = self.byte_ids[piece[0] as usize];
            if id == NO_ID {
                return Err(missing_byte(piece[0]));
            }
            out.push(id);
            return Ok(());
        }
        if let Some(id) = self.ids.get(piece) {
            if self.whole[id as usize] {
                out.push(id);
                return Ok(());
            }
        }
        self.merge_bytes(piece, out)
    }

    /// Applies the merges to `piece` (no whole-token shortcut): from its characters where
    /// the model has them pre-merged ([`CharTable`](super::chars::CharTable)), else from its single bytes.
    pub fn merge_bytes(&self, piece: &[u8], out: &mut Vec<u32>) -> Result<()> {
        // a byte >= 0xC0 leads a multi-byte character
        if !self.chars.is_empty() && piece.iter().any(|&b| b >= 0xC0) {
            let mut ids = [0u32; SHORT_PIECE];
            if let Some(len) = self.chars.units(self, piece, &mut ids) {
                self.merge_units(&mut ids, len, out);
                return Ok(());
            }
            if piece.len() > SHORT_PIECE {
                let mut ids = vec![0u32; piece.len()];
                if let Some(len) = self.chars.units(self, piece, &mut ids) {
                    ids.truncate(len);
                    self.merge_long_ids(ids, out);
                    return Ok(());
                }
            }
        }
        if piece.len() <= SHORT_PIECE {
            self.merge_short(piece, out)
        } else {
            self.merge_long(piece, out)
        }
    }

    fn byte_tokens(&self, piece: &[u8]) -> Result<Vec<u32>> {
        piece
            .iter()
            .map(|&b| match self.byte_ids[b as usize] {
                NO_ID => Err(missing_byte(b)),
                id => Ok(id),
            })
            .collect()
    }

    /// The short-piece scan: keep each adjacent pair's (priority, merged id), merge the
    /// minimum, update its two neighbours, repeat. Everything lives on the stack, and the
    /// first round of lookups (pairs of single bytes) reads a dense 256 x 256 table.
    pub fn merge_short(&self, piece: &[u8], out: &mut Vec<u32>) -> Result<()> {
        let n = piece.len();
        if n > SHORT_PIECE {
            return self.merge_long(piece, out);
        }
        let mut ids = [0u32; SHORT_PIECE];
        // pairs[i]: (priority << 32) | merged id of (ids[i], ids[i + 1]); NO_PAIR if none
        let mut pairs = [NO_PAIR; SHORT_PIECE];
        for (i, &b) in piece.iter().enumerate() {
            ids[i] = match self.byte_ids[b as usize] {
                NO_ID => return Err(missing_byte(b)),
                id => id,
            };
        }
        for i in 0..n.saturating_sub(1) {
            pairs[i] = self.byte_pairs[(piece[i] as usize) << 8 | piece[i + 1] as usize];
        }
        let len = self.scan(&mut ids, &mut pairs, n);
        out.extend_from_slice(&ids[..len]);
        Ok(())
    }

    /// [`merge_short`](Self::merge_short) from `ids[..len]`, the units of a piece.
    fn merge_units(&self, ids: &mut [u32; SHORT_PIECE], len: usize, out: &mut Vec<u32>) {
        let mut pairs = [NO_PAIR; SHORT_PIECE];
        for i in 0..len.saturating_sub(1) {
            pairs[i] = self.pair_packed(ids[i], ids[i + 1]);
        }
        let len = self.scan(ids, &mut pairs, len);
        out.extend_from_slice(&ids[..len]);
    }

    /// The scan of [`merge_short`](Self::merge_short) over `ids[..len]`, with `pairs[i]` the
    /// packed pair `(ids[i], ids[i + 1])`; returns the number of ids left.
    #[inline(always)]
    fn scan(
        &self,
        ids: &mut [u32; SHORT_PIECE],
        pairs: &mut [u64; SHORT_PIECE],
        mut len: usize,
    ) -> usize {
        while len > 1 {
            let mut best = NO_PAIR;
            let mut at = 0;
            for (i, &p) in pairs[..len - 1].iter().enumerate() {
                if p < best {
                    best = p;
                    at = i;
                }
            }
            if best == NO_PAIR {
                break;
            }
            ids[at] = best as u32;
            ids.copy_within(at + 2..len, at + 1);
            pairs.copy_within(at + 1..len - 1, at);
            len -= 1;
            if at + 1 < len {
                pairs[at] = self.pair_packed(ids[at], ids[at + 1]);
            }
            if at > 0 {
                pairs[at - 1] = self.pair_packed(ids[at - 1], ids[at]);
            }
        }
        len
    }

    /// The long-piece heap: entries `(priority, position)` are checked when popped, since a
    /// merge next to them may have made them stale.
    pub fn merge_long(&self, piece: &[u8], out: &mut Vec<u32>) -> Result<()> {
        let ids = self.byte_tokens(piece)?;
        self.merge_long_ids(ids, out);
        Ok(())
    }

    /// [`merge_long`](Self::merge_long) from units (at least one).
    fn merge_long_ids(&self, mut ids: Vec<u32>, out: &mut Vec<u32>) {
        let n = ids.len();
        if n == 0 {
            return;
        }
        let mut next: Vec<u32> = (1..=n as u32).collect();
        next[n - 1] = NONE;
        let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
        prev[0] = NONE;
        let mut heap: BinaryHeap<Reverse<(u32, u32)>> = ids
            .windows(2)
            .enumerate()
            .filter_map(|(i, w)| self.pair(w[0], w[1]).map(|(p, _)| Reverse((p, i as u32))))
            .collect();
        while let Some(Reverse((prio, pos))) = heap.pop() {
            let pos = pos as usize;
            let nx = next[pos];
            if ids[pos] == NO_ID || nx == NONE {
                continue;
            }
            let Some((p, merged)) = self.pair(ids[pos], ids[nx as usize]) else {
                continue;
            };
            if p != prio {
                continue; // stale: this position's pair changed since it was pushed
            }
            ids[pos] = merged;
            ids[nx as usize] = NO_ID;
            let after = next[nx as usize];
            next[pos] = after;
            if after != NONE {
                prev[after as usize] = pos as u32;
                if let Some((p, _)) = self.pair(merged, ids[after as usize]) {
                    heap.push(Reverse((p, pos as u32)));
                }
            }
            let before = prev[pos];
            if before != NONE {
                if let Some((p, _)) = self.pair(ids[before as usize], merged) {
                    heap.push(Reverse((p, before)));
                }
            }
        }
        out.extend(ids.into_iter().filter(|&id| id != NO_ID));
    }
}

fn missing_byte(b: u8) -> Error {
    let byte = if b.is_ascii() { format!("{:?}", b as char) } else { format!("0x{b:02X}") };
    Error::Encoding(format!(
        "the byte {byte} has no token in this vocabulary, so text containing it cannot be \
         encoded (HF tokenizers drops such bytes silently; lexforge refuses rather than lose \
         text); use a vocabulary with all 256 byte tokens (HF's BpeTrainer makes them with \
         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()) or remove the character"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretokenize::Pretokenizer;
    use proptest::prelude::*;

    /// A tiny merge-list model over the bytes a, b, c.
    fn model() -> BpeModel {
        let mut vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], u32::from(b))).collect();
        let merges: Vec<(Vec<u8>, Vec<u8>)> =
            [("a", "b"), ("b", "c"), ("a", "bc"), ("ab", "ab"), ("c", "c"), ("a", "a")]
                .iter()
                .map(|(l, r)| (l.as_bytes().to_vec(), r.as_bytes().to_vec()))
                .collect();
        for (i, (l, r)) in merges.iter().enumerate() {
            vocab.push(([l.as_slice(), r.as_slice()].concat(), 256 + i as u32));
        }
        BpeModel::from_merges(vocab, &merges, vec![], Pretokenizer::new("gpt2").unwrap(), false)
            .unwrap()
    }

    fn short(m: &BpeModel, s: &[u8]) -> Vec<u32> {
        let mut v = vec![];
        m.merge_short(s, &mut v).unwrap();
        v
    }

    fn long(m: &BpeModel, s: &[u8]) -> Vec<u32> {
        let mut v = vec![];
        m.merge_long(s, &mut v).unwrap();
        v
    }

    #[test]
    fn merges_in_priority_order() {
        let m = model();
        // "abc": (a,b) has priority 0 and wins over (b,c); (ab, c) is not a merge.
        assert_eq!(short(&m, b"abc"), [256, u32::from(b'c')]);
        // the whole token "abc" exists (a + bc) but merging does not reach it
        let mut v = vec![];
        m.encode_piece(b"abc", &mut v).unwrap();
        assert_eq!(v, [256, u32::from(b'c')]);
        assert_eq!(short(&m, b"abab"), [259]);
        assert_eq!(short(&m, b"aaa"), [261, u32::from(b'a')]);
    }

    proptest! {
        #[test]
        fn short_and_long_agree(s in prop::collection::vec(prop::sample::select(b"abc".to_vec()), 1..300)) {
            let m = model();
            prop_assert_eq!(short(&m, &s), long(&m, &s));
        }
    }
}
