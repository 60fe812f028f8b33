//! Llama 3's pattern (also Qwen2's, which takes digits one at a time), compiled by hand:
//! `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*`
//! `|\s*[\r\n]+|\s+(?!\S)|\s+`. These are cl100k's pieces except at the end of the text: a
//! white-space run there that holds a line break ends after its last line break, where
//! cl100k's `\s++$` takes the whole run. On `fancy-regex`, `\s+(?!\S)` keeps a backtracking
//! entry per character and fails on a run of about a million spaces; this scanner is linear.

use super::scan::Cursor;
use crate::unicode::{CRLF, L, N, WS};

/// End of the piece that starts at byte `i`, Llama 3's pattern (`\p{N}{1,3}`).
#[inline(always)]
pub(super) fn piece_end(cur: &Cursor<'_>, i: usize) -> usize {
    piece_end_digits(cur, i, true)
}

/// End of the piece that starts at byte `i`, Qwen2's pattern (`\p{N}`: one digit a piece).
#[inline(always)]
pub(super) fn piece_end_qwen2(cur: &Cursor<'_>, i: usize) -> usize {
    piece_end_digits(cur, i, false)
}

#[inline(always)]
fn piece_end_digits(cur: &Cursor<'_>, i: usize, up_to_three: bool) -> usize {
    let n = cur.b.len();
    let (c, len, f) = cur.at(i);
    if c == u32::from(b'\'') {
        if let Some(end) = cur.contraction_ci(i + 1) {
            return end;
        }
    }
    // `[^\r\n\p{L}\p{N}]?\p{L}+`: one non-letter, non-number, non-newline may lead a word.
    if f & (L | N | CRLF) == 0 && i + len < n && cur.flags(i + len) & L != 0 {
        return cur.run(i + len, L);
    }
    if f & L != 0 {
        return cur.run(i, L);
    }
    if f & N != 0 {
        return if up_to_three { cur.run_numbers_max3(i) } else { i + len };
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    if let Some(end) = cur.other_run(i, c, f, b"\r\n") {
        return end;
    }
    // white space: `\s*[\r\n]+` (up to the run's last line break, even at the end of the
    // text), then `\s+(?!\S)|\s+`
    let j = cur.run(i, WS);
    if let Some(q) = cur.last_newline(i, j) {
        return q + 1;
    }
    cur.space_run_end(i, j)
}
