//! Encoding whole texts: special tokens first, then pre-tokenization, then BPE per piece;
//! batches in parallel; offsets derived from the ids (token bytes tile the input exactly).

use rayon::prelude::*;

use super::model::BpeModel;
use crate::cache::{PieceCache, MAX_IDS, MAX_PIECE};
use crate::error::Result;
use crate::parallel;
use crate::special::{Policy, Segment};

impl BpeModel {
    /// Encodes `text` under `policy`, appending ids to `out`. `text_index` only labels errors.
    pub fn encode_text(
        &self,
        text: &str,
        policy: &Policy<'_>,
        text_index: usize,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        policy.check(text, text_index)?;
        policy.segments(text, |segment| match segment {
            Segment::Special(id, _, _) => {
                out.push(id);
                Ok(())
            }
            Segment::Text(start, end) => self.encode_ordinary(&text[start..end], out),
        })
    }

    /// Encodes `text` with no special-token handling at all.
    pub fn encode_ordinary(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let bytes = text.as_bytes();
        let mut failed = None;
        PieceCache::with(self.uid, |cache| {
            self.pretok.split(text, |start, end| {
                let piece = &bytes[start..end];
                if piece.len() > MAX_PIECE || piece.len() == 1 {
                    if let Err(e) = self.encode_piece(piece, out) {
                        failed.get_or_insert(e);
                    }
                    return;
                }
                let key = PieceCache::key(piece);
                if let Some((ids, _)) = cache.get(key) {
                    out.reserve(MAX_IDS);
                    for &id in ids {
                        out.push(id); // a few pushes beat a call to memcpy
                    }
                    return;
                }
                let at = out.len();
                match self.encode_piece(piece, out) {
                    Ok(()) => cache.put(key, &out[at..], &[]),
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            })
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// Encodes arbitrary bytes. Runs of valid UTF-8 are encoded as text; each invalid
    /// sequence becomes a piece of its own, so `decode_bytes(encode_bytes(x)) == x` for all x.
    pub fn encode_bytes(&self, data: &[u8], policy: &Policy<'_>, out: &mut Vec<u32>) -> Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            match std::str::from_utf8(rest) {
                Ok(text) => return self.encode_text(text, policy, 0, out),
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    if let Ok(text) = std::str::from_utf8(valid) {
                        self.encode_text(text, policy, 0, out)?;
                    }
                    let bad = e.error_len().unwrap_or(after.len());
                    self.merge_bytes(&after[..bad], out)?;
                    rest = &after[bad..];
                }
            }
        }
        Ok(())
    }

    /// Encodes many texts in parallel (`num_threads`: see [`crate::parallel`]).
    pub fn encode_batch(
        &self,
        texts: &[&str],
        policy: &Policy<'_>,
        num_threads: Option<usize>,
    ) -> Result<Vec<Vec<u32>>> {
        parallel::install(num_threads, || {
            texts
                .par_iter()
                .enumerate()
                .with_min_len(8)
                .map(|(i, text)| {
                    let mut ids = Vec::with_capacity(text.len() / 3 + 1);
                    self.encode_text(text, policy, i, &mut ids)?;
                    Ok(ids)
                })
                .collect()
        })
    }

    /// Byte offsets `(start, end)` of each id of `text`'s encoding, starting at `base`. A
    /// special token that took the whitespace before it (lstrip) spans that whitespace.
    pub fn byte_offsets(&self, text: &[u8], ids: &[u32], base: usize) -> Vec<(usize, usize)> {
        let mut at = base;
        let lstrip = self.specials.any_lstrip();
        ids.iter()
            .map(|&id| {
                let start = at;
                match if lstrip { self.specials.lstrip_text(id) } else { None } {
                    // the token took the whitespace before it: it ends after its own text
                    Some(own) => {
                        let rest = text.get(at..).unwrap_or_default();
                        let own = own.as_bytes();
                        let found = rest.windows(own.len()).position(|w| w == own).unwrap_or(0);
                        at += found + own.len();
                    }
                    None => at += self.id_len(id),
                }
                (start, at)
            })
            .collect()
    }

    /// Character offsets (Python `str` indices) of each id of `text`'s encoding. A token
    /// that covers part of a multi-byte character covers that whole character.
    pub fn char_offsets(&self, text: &str, ids: &[u32]) -> Vec<(usize, usize)> {
        let bytes = text.as_bytes();
        let (mut p, mut c) = (0usize, 0usize); // byte p starts character number c
        let mut char_of = |x: usize| {
            while p < bytes.len() {
                let len = utf8_len(bytes[p]);
                if p + len > x {
                    break;
                }
                p += len;
                c += 1;
            }
            c
        };
        self.byte_offsets(bytes, ids, 0)
            .into_iter()
            .map(|(start, end)| {
                let s = char_of(start);
                let e = if end > start { char_of(end - 1) + 1 } else { s };
                (s, e)
            })
            .collect()
    }
}

#[inline]
fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}
