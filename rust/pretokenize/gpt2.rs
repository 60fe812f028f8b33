//! GPT-2's pattern, compiled by hand:
//! `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.

use super::scan::Cursor;
use crate::unicode::{L, N, WS};

/// End of the piece that starts at byte `i`.
#[inline(always)]
pub(super) fn piece_end(cur: &Cursor<'_>, i: usize) -> usize {
    let b = cur.b;
    let n = b.len();
    let (c, _, f) = cur.at(i);
    // 's 't 're 've 'm 'll 'd (case-sensitive)
    if c == u32::from(b'\'') && i + 1 < n {
        let next_is = |k: usize, x: u8| k < n && b[k] == x;
        match b[i + 1] {
            b's' | b't' | b'm' | b'd' => return i + 2,
            b'r' | b'v' if next_is(i + 2, b'e') => return i + 3,
            b'l' if next_is(i + 2, b'l') => return i + 3,
            _ => {}
        }
    }
    // ` ?X+` for X in letters, numbers, others: an optional space joins the following run.
    let (start, flags) = if c == u32::from(b' ') && i + 1 < n {
        let next = cur.flags(i + 1);
        if next & WS == 0 {
            (i + 1, next)
        } else {
            (i, f)
        }
    } else {
        (i, f)
    };
    if flags & L != 0 {
        return cur.run(start, L);
    }
    if flags & N != 0 {
        return cur.run(start, N);
    }
    if flags & WS == 0 {
        return cur.run_other(start);
    }
    // `\s+(?!\S)|\s+`
    let j = cur.run(i, WS);
    cur.space_run_end(i, j)
}
