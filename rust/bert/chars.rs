//! The character classes of BERT's text pipeline, as HF `tokenizers` defines them — with the
//! same tables it uses (the `unicode_categories` crate, Unicode 8.0), so that characters
//! categorised differently by newer Unicode versions are treated exactly as HF treats them.
//!
//! - control: Cc, Cf, Co, Cs (assigned in those tables; unassigned characters are kept)
//!   except `\t`, `\n`, `\r`; removed by text cleaning together with U+0000 and U+FFFD;
//! - white space: Unicode `White_Space` plus `\t`, `\n`, `\r` (Rust's `char::is_whitespace`);
//! - punctuation: general category P, or ASCII punctuation (which adds `$+<=>^`|~`);
//! - nonspacing mark: category Mn, dropped after NFD when stripping accents;
//! - CJK ideograph: the blocks BERT surrounds with spaces.

use std::sync::OnceLock;

use unicode_categories::UnicodeCategories;

use crate::unicode::FlagTable;

/// Removed by text cleaning.
pub const CONTROL: u8 = 1 << 0;
/// Becomes a space when cleaning; separates words.
pub const SPACE: u8 = 1 << 1;
/// A word of its own.
pub const PUNCT: u8 = 1 << 2;
/// Dropped after NFD when stripping accents.
pub const MARK: u8 = 1 << 3;
/// Surrounded by spaces (Chinese-character handling).
pub const CJK: u8 = 1 << 4;
/// Anything that needs more than copying (lowercasing aside): for the ASCII fast path.
pub const SPECIAL: u8 = CONTROL | SPACE | PUNCT | MARK | CJK;

const CJK_RANGES: [(u32, u32); 8] = [
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
];

/// The table, built on first use.
pub fn table() -> &'static FlagTable {
    static TABLE: OnceLock<FlagTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        FlagTable::build(&[], |flat| {
            for (cp, flags) in flat.iter_mut().enumerate() {
                let Some(c) = char::from_u32(cp as u32) else { continue };
                if c.is_other() {
                    *flags |= CONTROL;
                }
                if c.is_whitespace() {
                    *flags |= SPACE;
                }
                if c.is_ascii_punctuation() || c.is_punctuation() {
                    *flags |= PUNCT;
                }
                if c.is_mark_nonspacing() {
                    *flags |= MARK;
                }
            }
            for c in ['\t', '\n', '\r'] {
                flat[c as usize] = (flat[c as usize] & !CONTROL) | SPACE;
            }
            for (start, end) in CJK_RANGES {
                for cp in start..=end {
                    flat[cp as usize] |= CJK;
                }
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples() {
        let t = table();
        for (c, flags) in [
            ('a', 0),
            ('\t', SPACE),
            ('\u{a0}', SPACE),
            ('\u{7}', CONTROL),
            ('\u{200b}', CONTROL), // Cf
            ('\u{1734}', MARK),    // Mn in HF's Unicode 8.0 tables (Mc since 14.0)
            ('$', PUNCT),
            ('。', PUNCT),
            ('\u{301}', MARK),
            ('中', CJK),
            ('😀', 0),
        ] {
            assert_eq!(t.of(c as u32), flags, "{c:?}");
            assert_eq!(t.of(c as u32) & SPACE != 0, c.is_whitespace(), "{c:?}");
        }
    }
}
