//! Llama 3's pattern (also Qwen2's, which takes digits one at a time), compiled by hand:
//! `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*`
//! `|\s*[\r\n]+|\s+(?!\S)|\s+`. These are cl100k's pieces except at the end of the text: a
//! white-space run there that holds a line break ends after its last line break, where
//! cl100k's `\s++$` takes the whole run. On `fancy-regex`, `\s+(?!\S)` keeps a backtracking
//! entry per character and fails on a run of about a million spaces; this scanner is linear.

use super::cl100k::piece_end_as;
use super::scan::Cursor;

/// End of the piece that starts at byte `i`, Llama 3's pattern (`\p{N}{1,3}`).
#[inline(always)]
pub(super) fn piece_end(cur: &Cursor<'_>, i: usize) -> usize {
    piece_end_as(cur, i, true, false)
}

/// End of the piece that starts at byte `i`, Qwen2's pattern (`\p{N}`: one digit a piece).
#[inline(always)]
pub(super) fn piece_end_qwen2(cur: &Cursor<'_>, i: usize) -> usize {
    piece_end_as(cur, i, false, false)
}
