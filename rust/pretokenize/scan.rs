//! Shared machinery of the hand-compiled scanners: a cursor over UTF-8 bytes that classifies
//! characters with [`crate::unicode::Classes`], and the loop that tiles a text with pieces.

use crate::error::Result;
use crate::unicode::{decode_at, prev_char_start, Classes, FlagTable, L, N, WS};

/// Read-only view of the text being scanned.
pub(super) struct Cursor<'a> {
    pub b: &'a [u8],
    t: &'static FlagTable,
}

impl<'a> Cursor<'a> {
    /// The character at byte `i` (which must be `< len`): code point, byte length, flags.
    #[inline(always)]
    pub fn at(&self, i: usize) -> (u32, usize, u8) {
        let x = self.b[i];
        if x < 0x80 {
            (x as u32, 1, self.t.of(x as u32))
        } else {
            let (cp, len) = decode_at(self.b, i);
            (cp, len, self.t.of(cp))
        }
    }

    /// The flags of the character at `i`, or 0 past the end.
    #[inline(always)]
    pub fn flags(&self, i: usize) -> u8 {
        if i < self.b.len() {
            self.at(i).2
        } else {
            0
        }
    }

    /// End of the run of characters, starting at `i`, whose flags intersect `mask`.
    #[inline(always)]
    pub fn run(&self, mut i: usize, mask: u8) -> usize {
        while i < self.b.len() {
            let (_, len, f) = self.at(i);
            if f & mask == 0 {
                break;
            }
            i += len;
        }
        i
    }

    /// End of the run, starting at `i`, of characters that are neither letters, numbers nor
    /// white space (`[^\s\p{L}\p{N}]`).
    #[inline(always)]
    pub fn run_other(&self, mut i: usize) -> usize {
        while i < self.b.len() {
            let (_, len, f) = self.at(i);
            if f & (L | N | WS) != 0 {
                break;
            }
            i += len;
        }
        i
    }

    /// End of `\p{N}{1,3}` starting at `i` (the character at `i` is a number).
    #[inline(always)]
    pub fn run_numbers_max3(&self, mut i: usize) -> usize {
        for _ in 0..3 {
            if i >= self.b.len() {
                break;
            }
            let (_, len, f) = self.at(i);
            if f & N == 0 {
                break;
            }
            i += len;
        }
        i
    }

    /// End of the run of bytes in `set` starting at `i` (ASCII sets only).
    #[inline(always)]
    pub fn run_bytes(&self, mut i: usize, set: &[u8]) -> usize {
        while i < self.b.len() && set.contains(&self.b[i]) {
            i += 1;
        }
        i
    }

    /// Where white space starting at `i` ends, for the trailing alternatives every preset
    /// shares: `\s+(?!\S)|\s+` given the run end `j` (the run minus its last character when
    /// it is followed by a non-space and longer than one character).
    #[inline(always)]
    pub fn space_run_end(&self, i: usize, j: usize) -> usize {
        if j == self.b.len() {
            return j;
        }
        let last = prev_char_start(self.b, j);
        if last > i {
            last
        } else {
            j
        }
    }

    /// ` ?[^\s\p{L}\p{N}]+` at `i` (whose character is `c` with flags `f`), followed by a
    /// run of the bytes in `tail`: the end of the piece, or `None` if it does not match.
    #[inline(always)]
    pub fn other_run(&self, i: usize, c: u32, f: u8, tail: &[u8]) -> Option<usize> {
        let n = self.b.len();
        let start = if c == u32::from(b' ') && i + 1 < n && self.flags(i + 1) & (L | N | WS) == 0 {
            i + 1
        } else if f & (L | N | WS) == 0 {
            i
        } else {
            return None;
        };
        Some(self.run_bytes(self.run_other(start), tail))
    }

    /// The last `\r` or `\n` in `[i, j)`, if any.
    #[inline(always)]
    pub fn last_newline(&self, i: usize, j: usize) -> Option<usize> {
        self.b[i..j].iter().rposition(|&c| c == b'\r' || c == b'\n').map(|q| i + q)
    }

    /// After an apostrophe ending at `k`: the end of a case-insensitive `s|t|re|ve|m|ll|d`.
    /// (`ſ`, U+017F, case-folds to `s` and matches like it, as in the regex engines.)
    #[inline(always)]
    pub fn contraction_ci(&self, k: usize) -> Option<usize> {
        let b = self.b;
        if k >= b.len() {
            return None;
        }
        let second = |c: u8| k + 1 < b.len() && b[k + 1].eq_ignore_ascii_case(&c);
        match b[k].to_ascii_lowercase() {
            b's' | b'd' | b'm' | b't' => Some(k + 1),
            b'l' if second(b'l') => Some(k + 2),
            b'v' | b'r' if second(b'e') => Some(k + 2),
            0xC5 if k + 1 < b.len() && b[k + 1] == 0xBF => Some(k + 2), // ſ
            _ => None,
        }
    }
}

/// Tiles `text` with the pieces `piece_end` finds, calling `f(start, end)` for each.
#[inline(always)]
pub(super) fn tile(
    text: &str,
    piece_end: fn(&Cursor<'_>, usize) -> usize,
    mut f: impl FnMut(usize, usize),
) -> Result<()> {
    let cur = Cursor { b: text.as_bytes(), t: Classes::get() };
    let mut i = 0;
    while i < cur.b.len() {
        let j = piece_end(&cur, i);
        debug_assert!(j > i && j <= cur.b.len());
        f(i, j);
        i = j;
    }
    Ok(())
}
