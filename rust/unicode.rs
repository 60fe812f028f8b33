//! Per-code-point flag tables ([`FlagTable`]), and the classes the pre-tokenizers use.
//!
//! The tables are built once, at first use, from `regex-syntax`'s Unicode data, so the
//! hand-compiled splitters in [`crate::pretokenize`] classify every character exactly as the
//! regex engines behind tiktoken (`fancy-regex`, which delegates to `regex`) do. Lookup is a
//! two-level table: ASCII directly, other code points through a 256-entry block index with
//! identical blocks shared (about 100 KiB in all).

use std::sync::OnceLock;

/// `\p{L}`: letters.
pub const L: u8 = 1 << 0;
/// `\p{N}`: numbers.
pub const N: u8 = 1 << 1;
/// `\s`: Unicode `White_Space`.
pub const WS: u8 = 1 << 2;
/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`: o200k's "upper-case-like" letters and marks.
pub const UPPERISH: u8 = 1 << 3;
/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`: o200k's "lower-case-like" letters and marks.
pub const LOWERISH: u8 = 1 << 4;
/// `[\r\n]`.
pub const CRLF: u8 = 1 << 5;

const BLOCK: usize = 256;
const N_BLOCKS: usize = 0x110000 / BLOCK;

/// A table of one byte of flags per code point, compressed into shared 256-entry blocks.
pub struct FlagTable {
    ascii: [u8; 128],
    index: Box<[u16]>,
    blocks: Vec<[u8; BLOCK]>,
}

impl FlagTable {
    /// Builds a table: each `(regex class, flag)` sets `flag` on the class's code points;
    /// `extra` may then edit the flat table (one byte per code point) directly.
    pub fn build(sets: &[(&str, u8)], extra: impl FnOnce(&mut [u8])) -> FlagTable {
        let mut flat = vec![0u8; N_BLOCKS * BLOCK];
        for &(pattern, flag) in sets {
            for (start, end) in class_ranges(pattern) {
                for cp in start..=end {
                    flat[cp as usize] |= flag;
                }
            }
        }
        extra(&mut flat);
        let mut ascii = [0u8; 128];
        ascii.copy_from_slice(&flat[..128]);
        let mut blocks: Vec<[u8; BLOCK]> = Vec::new();
        let mut seen: std::collections::HashMap<[u8; BLOCK], u16> = Default::default();
        let mut index = vec![0u16; N_BLOCKS];
        for (b, chunk) in flat.chunks_exact(BLOCK).enumerate() {
            let mut block = [0u8; BLOCK];
            block.copy_from_slice(chunk);
            let id = *seen.entry(block).or_insert_with(|| {
                blocks.push(block);
                (blocks.len() - 1) as u16
            });
            index[b] = id;
        }
        FlagTable { ascii, index: index.into_boxed_slice(), blocks }
    }

    /// The flags of code point `cp` (any `u32`; values past U+10FFFF have none).
    #[inline(always)]
    pub fn of(&self, cp: u32) -> u8 {
        if cp < 128 {
            self.ascii[cp as usize]
        } else if (cp as usize) < N_BLOCKS * BLOCK {
            let block = self.index[cp as usize / BLOCK] as usize;
            self.blocks[block][cp as usize % BLOCK]
        } else {
            0
        }
    }
}

/// The pre-tokenizers' classes (the flags above). Get it with [`Classes::get`].
pub struct Classes;

impl Classes {
    /// The process-wide table, built on first use (about a millisecond).
    pub fn get() -> &'static FlagTable {
        static TABLE: OnceLock<FlagTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            FlagTable::build(
                &[
                    (r"\p{L}", L),
                    (r"\p{N}", N),
                    (r"\s", WS),
                    (r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", UPPERISH),
                    (r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]", LOWERISH),
                ],
                |flat| {
                    flat['\r' as usize] |= CRLF;
                    flat['\n' as usize] |= CRLF;
                },
            )
        })
    }
}

/// The code point ranges of a one-class regex, from `regex-syntax` (the tables `regex` uses).
fn class_ranges(pattern: &str) -> Vec<(u32, u32)> {
    use regex_syntax::hir::{Class, HirKind};
    // The patterns are constants of this module; they always parse to a Unicode class.
    let hir = match regex_syntax::parse(pattern) {
        Ok(hir) => hir,
        Err(_) => return Vec::new(),
    };
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => {
            class.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect()
        }
        _ => Vec::new(),
    }
}

/// Decodes the UTF-8 character starting at byte `i` of `b`, which must be valid UTF-8 (it
/// comes from a `&str`). Returns the code point and its length in bytes.
#[inline(always)]
pub fn decode_at(b: &[u8], i: usize) -> (u32, usize) {
    let x = b[i] as u32;
    if x < 0x80 {
        (x, 1)
    } else if x < 0xE0 {
        (((x & 0x1F) << 6) | (b[i + 1] as u32 & 0x3F), 2)
    } else if x < 0xF0 {
        (((x & 0x0F) << 12) | ((b[i + 1] as u32 & 0x3F) << 6) | (b[i + 2] as u32 & 0x3F), 3)
    } else {
        (
            ((x & 0x07) << 18)
                | ((b[i + 1] as u32 & 0x3F) << 12)
                | ((b[i + 2] as u32 & 0x3F) << 6)
                | (b[i + 3] as u32 & 0x3F),
            4,
        )
    }
}

/// The length in bytes of the UTF-8 character whose first byte is `first`.
#[inline(always)]
pub fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// The byte index where the character that ends at byte `j` (exclusive) starts.
#[inline(always)]
pub fn prev_char_start(b: &[u8], j: usize) -> usize {
    let mut i = j - 1;
    while i > 0 && (b[i] & 0xC0) == 0x80 {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_agree_with_regex_on_samples() {
        let t = Classes::get();
        let letter = regex_syntax::parse(r"\p{L}").is_ok();
        assert!(letter);
        for (c, flags) in [
            ('a', L | LOWERISH),
            ('Z', L | UPPERISH),
            ('7', N),
            (' ', WS),
            ('\n', WS | CRLF),
            ('\u{a0}', WS),
            ('\u{3000}', WS),
            ('中', L | UPPERISH | LOWERISH),
            ('\u{301}', UPPERISH | LOWERISH),
            ('ǅ', L | UPPERISH),
            ('²', N),
            ('!', 0),
            ('\u{1F600}', 0),
        ] {
            assert_eq!(t.of(c as u32), flags, "class of {c:?}");
        }
        assert_eq!(t.of(0x110000), 0);
    }

    #[test]
    fn decode_matches_std() {
        let s = "aé中😀\u{7ff}\u{800}\u{ffff}\u{10000}";
        let b = s.as_bytes();
        let mut i = 0;
        for c in s.chars() {
            let (cp, len) = decode_at(b, i);
            assert_eq!((cp, len), (c as u32, c.len_utf8()));
            i += len;
            assert_eq!(prev_char_start(b, i), i - len);
        }
    }
}
