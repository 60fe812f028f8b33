//! o200k_base's pattern, compiled by hand. With `U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`,
//! `W = [\p{Ll}\p{Lm}\p{Lo}\p{M}]`, `P = [^\r\n\p{L}\p{N}]` and `C` the case-insensitive
//! contractions `'s|'t|'re|'ve|'m|'ll|'d`, it reads
//! `P?U*W+C?|P?U+W*C?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
//! Letters and marks belong to both `U` and `W` when they are `Lm`, `Lo` or `M`, so the first
//! alternative has to reproduce the engine's backtracking of `U*` to find a `W`.

use super::scan::Cursor;
use crate::unicode::{prev_char_start, CRLF, L, LOWERISH, N, UPPERISH, WS};

/// End of the piece that starts at byte `i`.
#[inline(always)]
pub(super) fn piece_end(cur: &Cursor<'_>, i: usize) -> usize {
    let (c, len, f) = cur.at(i);
    let may_lead = f & (L | N | CRLF) == 0; // `P`
    if may_lead {
        if let Some(end) = upper_star_lower_plus(cur, i + len) {
            return end;
        }
    }
    if let Some(end) = upper_star_lower_plus(cur, i) {
        return end;
    }
    if may_lead {
        if let Some(end) = upper_plus_lower_star(cur, i + len) {
            return end;
        }
    }
    if let Some(end) = upper_plus_lower_star(cur, i) {
        return end;
    }
    if f & N != 0 {
        return cur.run_numbers_max3(i);
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
    if let Some(end) = cur.other_run(i, c, f, b"\r\n/") {
        return end;
    }
    // white space: `\s*[\r\n]+`, then `\s+(?!\S)|\s+`
    let j = cur.run(i, WS);
    if let Some(q) = cur.last_newline(i, j) {
        return q + 1;
    }
    cur.space_run_end(i, j)
}

/// `U*W+C?` at byte `s`, with `U*` backtracking until `W+` can match.
#[inline(always)]
fn upper_star_lower_plus(cur: &Cursor<'_>, s: usize) -> Option<usize> {
    let k = cur.run(s, UPPERISH);
    let end = if cur.flags(k) & LOWERISH != 0 {
        cur.run(k, LOWERISH)
    } else {
        // give back characters of the U run until one of them is also in W
        let mut p = k;
        loop {
            if p == s {
                return None;
            }
            p = prev_char_start(cur.b, p);
            let (_, len, f) = cur.at(p);
            if f & LOWERISH != 0 {
                break p + len;
            }
        }
    };
    Some(with_contraction(cur, end))
}

/// `U+W*C?` at byte `s`.
#[inline(always)]
fn upper_plus_lower_star(cur: &Cursor<'_>, s: usize) -> Option<usize> {
    let k = cur.run(s, UPPERISH);
    if k == s {
        return None;
    }
    Some(with_contraction(cur, cur.run(k, LOWERISH)))
}

#[inline(always)]
fn with_contraction(cur: &Cursor<'_>, end: usize) -> usize {
    if end < cur.b.len() && cur.b[end] == b'\'' {
        if let Some(e) = cur.contraction_ci(end + 1) {
            return e;
        }
    }
    end
}
