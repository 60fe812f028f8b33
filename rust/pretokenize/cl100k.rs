//! cl100k_base's pattern, compiled by hand:
//! `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+`
//! `|\s++$|\s*[\r\n]|\s+(?!\S)|\s`.

use super::scan::Cursor;
use crate::unicode::{CRLF, L, N, WS};

/// End of the piece that starts at byte `i`.
#[inline(always)]
pub(super) fn piece_end(cur: &Cursor<'_>, i: usize) -> usize {
    piece_end_as(cur, i, true, true)
}

/// End of the piece that starts at byte `i`, under cl100k's pattern or one of its kin
/// ([`super::llama3`]): `up_to_three`, numbers three digits a piece (`\p{N}{1,3}`), else one;
/// `tail_whole`, a white-space run that ends the text is one piece (`\s++$`), else it ends
/// after its last line break as anywhere else.
#[inline(always)]
pub(super) fn piece_end_as(
    cur: &Cursor<'_>,
    i: usize,
    up_to_three: bool,
    tail_whole: bool,
) -> usize {
    let n = cur.b.len();
    let (c, len, f) = cur.at(i);
    if c == u32::from(b'\'') {
        if let Some(end) = cur.contraction_ci(i + 1) {
            return end;
        }
    }
    // `[^\r\n\p{L}\p{N}]?+\p{L}++`: one non-letter, non-number, non-newline may lead a word.
    if f & (L | N | CRLF) == 0 && i + len < n && cur.flags(i + len) & L != 0 {
        return cur.run(i + len, L);
    }
    if f & L != 0 {
        return cur.run(i, L);
    }
    if f & N != 0 {
        return if up_to_three { cur.run_numbers_max3(i) } else { i + len };
    }
    // ` ?[^\s\p{L}\p{N}]++[\r\n]*+`
    if let Some(end) = cur.other_run(i, c, f, b"\r\n") {
        return end;
    }
    // white space: `\s++$`, then `\s*[\r\n]`, then `\s+(?!\S)|\s`
    let j = cur.run(i, WS);
    if j == n && tail_whole {
        return n;
    }
    if let Some(q) = cur.last_newline(i, j) {
        return q + 1;
    }
    cur.space_run_end(i, j)
}
