//! Words from the characters on both sides of each token boundary, for whole-word
//! masking with a byte-level BPE vocabulary (the masker's `Batch::bytes`): a token
//! continues the word before it when it starts inside a character, or when the character
//! it starts with and the one before it are both word characters (a letter, digit or mark
//! that is not a CJK ideograph). A character whose bytes span tokens (GPT-2's curly quotes)
//! is read whole, which no per-id flag can do; where both characters lie whole in their
//! tokens, per-id flags computed once ([`TokenBytes`]) answer without reading bytes.

use super::Id;
use crate::error::{Error, Result};

/// The bytes of every id of a vocabulary, in one buffer: id `i`'s are
/// `data[ends[i - 1]..ends[i]]` (from 0 for id 0); with each id's [`edges`] flags.
pub struct TokenBytes {
    data: Vec<u8>,
    ends: Vec<u32>,
    edges: Vec<u8>,
}

/// What a token's edges hold ([`TokenBytes`]): it starts inside a character; its first
/// character is a word character, or lies partly in the tokens after it; its last
/// character is a word character, or lies partly in the tokens before it (or after).
mod edges {
    pub const STARTS_INSIDE: u8 = 1;
    pub const FIRST_WORD: u8 = 2;
    pub const FIRST_PARTIAL: u8 = 4;
    pub const LAST_WORD: u8 = 8;
    pub const LAST_PARTIAL: u8 = 16;
}

fn edge_flags(token: &[u8]) -> u8 {
    use edges::*;
    let Some(&lead) = token.first() else { return 0 };
    let mut flags = 0;
    if is_tail(lead) {
        flags |= STARTS_INSIDE;
    } else {
        let width = crate::unicode::utf8_len(lead);
        if token.len() < width {
            flags |= FIRST_PARTIAL;
        } else if one_char(&token[..width]).is_some_and(word_char) {
            flags |= FIRST_WORD;
        }
    }
    match token.iter().rposition(|&b| !is_tail(b)) {
        Some(k) if token.len() - k <= 4 => {
            let width = crate::unicode::utf8_len(token[k]);
            if token.len() - k < width {
                flags |= LAST_PARTIAL;
            } else if one_char(&token[k..]).is_some_and(word_char) {
                flags |= LAST_WORD;
            }
        }
        Some(_) => {} // more continuation bytes than a character holds: no word
        None => flags |= LAST_PARTIAL,
    }
    flags
}

impl TokenBytes {
    /// Checks that `ends` rises from 0 to `data.len()` at most.
    pub fn new(data: Vec<u8>, ends: Vec<u32>) -> Result<TokenBytes> {
        let rising = ends.windows(2).all(|w| w[0] <= w[1]);
        if !rising || ends.last().is_some_and(|&e| e as usize > data.len()) {
            return Err(Error::Config(
                "token bytes: the ends must rise and stay within the data".into(),
            ));
        }
        let mut bytes = TokenBytes { data, ends, edges: Vec::new() };
        bytes.edges = (0..bytes.ends.len()).map(|id| edge_flags(bytes.get(id))).collect();
        Ok(bytes)
    }

    /// How many ids it covers.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether it covers no id.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    #[inline(always)]
    pub(super) fn get(&self, id: usize) -> &[u8] {
        let start = if id == 0 { 0 } else { self.ends[id - 1] as usize };
        &self.data[start..self.ends[id] as usize]
    }
}

#[inline(always)]
fn is_tail(byte: u8) -> bool {
    (0x80..0xC0).contains(&byte)
}

/// Whether code point `cp` belongs in a word: a letter, number or mark, not a CJK
/// ideograph (each of which is a word of its own, as BERT's pre-tokenizer has them).
fn word_char(cp: u32) -> bool {
    use crate::unicode::{Classes, L, LOWERISH, N, UPPERISH};
    let f = Classes::get().of(cp);
    let mark = f & UPPERISH != 0 && f & LOWERISH != 0 && f & L == 0; // \p{M}
    (f & (L | N) != 0 || mark) && crate::bert::chars::table().of(cp) & crate::bert::chars::CJK == 0
}

/// The one character that `bytes` spell, if they spell exactly one.
fn one_char(bytes: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut chars = text.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c as u32)
}

/// Whether token `i` (`i > 0`) continues the word before it, from the characters on
/// both sides of its start: it starts inside a character, or its first character and
/// the last one before it are both word characters. Either may span tokens.
pub(super) fn joins<T: Id>(ids: &[T], i: usize, bytes: &TokenBytes) -> bool {
    use edges::*;
    let (here, before) =
        (bytes.edges[ids[i].value() as usize], bytes.edges[ids[i - 1].value() as usize]);
    if here & STARTS_INSIDE != 0 {
        return true; // the rest of a character the tokens before began
    }
    if here & FIRST_PARTIAL == 0 && before & LAST_PARTIAL == 0 {
        // both characters lie whole in their tokens
        return here & FIRST_WORD != 0 && before & LAST_WORD != 0;
    }
    let token = |j: usize| bytes.get(ids[j].value() as usize);
    let Some(&lead) = token(i).first() else { return false };
    let width = crate::unicode::utf8_len(lead);
    let mut first = [0u8; 4];
    let mut n = 0;
    'ahead: for j in i..ids.len() {
        for &b in token(j) {
            if n == width || (n > 0 && !is_tail(b)) {
                break 'ahead;
            }
            first[n] = b;
            n += 1;
        }
    }
    if !one_char(&first[..n]).is_some_and(word_char) {
        return false;
    }
    let mut last = [0u8; 4];
    let mut m = 0;
    'back: for j in (0..i).rev() {
        for &b in token(j).iter().rev() {
            last[m] = b;
            m += 1;
            if !is_tail(b) || m == 4 {
                break 'back;
            }
        }
    }
    last[..m].reverse();
    one_char(&last[..m]).is_some_and(word_char)
}
