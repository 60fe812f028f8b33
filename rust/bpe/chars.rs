//! Multi-byte UTF-8 characters merged ahead of time, where that provably changes nothing.
//!
//! Chinese, Japanese, Cyrillic or Greek pre-tokens are long (a clause, ~45 bytes) and
//! distinct, so the per-thread piece cache never hits and each is merged from its bytes;
//! most of those merges join the bytes of one character. [`CharTable`] holds, for each
//! character of the Basic Multilingual Plane that qualifies, the one or two tokens its bytes
//! merge to on their own, so encoding can start from characters instead of bytes: for
//! cl100k and Chinese text, 15 units and a few merges instead of 45 and ~30.
//!
//! # Why it is exact
//! Let `c`'s bytes, merged alone, pass through the states `s_0` (its bytes) .. `s_k` (its
//! tokens), using merges of priority at most `P_c`. In valid UTF-8 text, the token left of
//! `c` (at any time during merging) ends with the last byte `l` of the character before
//! `c`, and the token right of it starts with the first byte `r` of the character after.
//! Call this occurrence of `c` *safe* if, for every state `s_j`, every pair `(x, first
//! token of s_j)` with `x` ending in `l`, and every pair `(last token of s_j, y)` with `y`
//! starting with `r`, has priority strictly above `P_c` (or does not merge); no neighbour
//! means no condition. Then while `c` is unfinished, any pair across its edge ranks after
//! `c`'s own next merge and is never the one chosen; and once `c` is finished, pairs
//! across the edge of `s_k` rank after every merge `c` still had, so starting from `s_k`
//! cannot bring one of them forward either. By induction over the merges of the
//! byte-level run, it and the run that starts from the safe characters' tokens make the
//! same merges outside the safe characters, in the same order, and end in the same tokens
//! (the strict `>` also settles ties, which go to the leftmost pair).
//!
//! `build` works out, once per model and character, which `l` (an ASCII byte, as one
//! class, or a continuation byte) and which `r` (ASCII, as one class, or a lead byte) allow
//! it, as bit masks; encoding checks the actual neighbours' bytes against them. A character
//! in a context that fails, or whose bytes never merge, stays as bytes. Deciding by
//! neighbour matters: after `\xae`, the last byte of `の`, GPT-2 merges `の` + `\xe7`
//! before `的`'s own bytes, so `的` is unsafe there, and safe after most other characters
//! (a check against every possible neighbour would keep a quarter of GPT-2's Chinese).
//!
//! Four-byte characters (emoji, rare CJK) are left as bytes: they are rare and a dense
//! table for them would be large.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::model::{BpeModel, NO_ID};

/// The characters a table covers: U+0000 .. U+FFFF.
const PLANE: usize = 0x1_0000;
/// `Record::ascii`: the character may follow an ASCII character.
const AFTER_ASCII: u8 = 1;
/// `Record::ascii`: the character may precede an ASCII character.
const BEFORE_ASCII: u8 = 2;

/// A character whose bytes merge: its tokens and the neighbours it may be pre-merged next to.
#[derive(Clone, Copy, Debug)]
struct Record {
    /// The tokens of its bytes merged alone (`NO_ID` second when one token).
    tokens: [u32; 2],
    /// Bit `b & 0x3F`: it may follow a character ending in the continuation byte `b`.
    after: u64,
    /// Bit `b & 0x3F`: it may precede a character starting with the lead byte `b`.
    before: u64,
    /// [`AFTER_ASCII`] | [`BEFORE_ASCII`].
    ascii: u8,
}

/// The pre-merged characters of the Basic Multilingual Plane. Empty when none qualifies
/// (a model without merges inside multi-byte characters).
#[derive(Clone, Debug, Default)]
pub(crate) struct CharTable {
    /// Per code point: its index in `records`, 0 for none.
    index: Box<[u16]>,
    records: Vec<Record>,
}

/// Lowest priority of the pairs `(x, t)` per class of `x`'s last byte (bits 0..64: the
/// continuation byte `0x80 | bit`; 64: any ASCII byte), or of `(t, y)` per class of `y`'s
/// first byte (0..64: the lead byte `0xC0 | bit`; 64: ASCII).
type ByClass = [u32; 65];

fn class(b: u8) -> usize {
    if b < 0x80 {
        64
    } else {
        usize::from(b & 0x3F)
    }
}

/// Whether a token ending in `b` can end where a character ends (ASCII or continuation).
fn ends_char(b: u8) -> bool {
    b < 0xC0
}

/// Whether a token starting with `b` can start where a character starts (not continuation).
fn starts_char(b: u8) -> bool {
    !(0x80..0xC0).contains(&b)
}

impl CharTable {
    /// Whether no character is pre-merged.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Merges every two- and three-byte character of `model` alone and works out next to
    /// which neighbours that is exact (see the module docs).
    pub(crate) fn build(model: &BpeModel) -> CharTable {
        // per character: its final tokens, the edge tokens of each state, the top priority
        // (on the pool's threads, in code point order: a third of loading GPT-2's files)
        let merged: Vec<(u32, Alone)> = crate::parallel::install(None, || {
            (0x80..PLANE as u32)
                .into_par_iter()
                .filter_map(|cp| {
                    let c = char::from_u32(cp)?; // (none for surrogates)
                    merge_alone(model, c.encode_utf8(&mut [0u8; 4]).as_bytes()).map(|a| (cp, a))
                })
                .collect()
        });
        let mut firsts: FxHashMap<u32, ByClass> = FxHashMap::default();
        let mut lasts: FxHashMap<u32, ByClass> = FxHashMap::default();
        for (_, alone) in &merged {
            for &(first, last) in &alone.edges {
                firsts.entry(first).or_insert([u32::MAX; 65]);
                lasts.entry(last).or_insert([u32::MAX; 65]);
            }
        }
        if merged.is_empty() {
            return CharTable::default();
        }
        let bytes_of = |id: u32| model.tokens.get(id as usize).and_then(|t| t.as_deref());
        for (&key, &val) in &model.pairs {
            let (a, b, prio) = ((key >> 32) as u32, key as u32, (val >> 32) as u32);
            if let (Some(by), Some(&last)) =
                (firsts.get_mut(&b), bytes_of(a).and_then(<[u8]>::last))
            {
                if ends_char(last) {
                    let m = &mut by[class(last)];
                    *m = (*m).min(prio);
                }
            }
            if let (Some(by), Some(&first)) =
                (lasts.get_mut(&a), bytes_of(b).and_then(<[u8]>::first))
            {
                if starts_char(first) {
                    let m = &mut by[class(first)];
                    *m = (*m).min(prio);
                }
            }
        }
        let mut index = vec![0u16; PLANE];
        // index 0 means "none": a placeholder that allows nothing
        let mut records = vec![Record { tokens: [NO_ID; 2], after: 0, before: 0, ascii: 0 }];
        for (cp, Alone { tokens, edges, top }) in merged {
            let (mut after, mut before) = ([true; 65], [true; 65]);
            for (first, last) in edges {
                // (both are there: every edge token was entered above)
                let none = [0; 65];
                let left = firsts.get(&first).unwrap_or(&none);
                let right = lasts.get(&last).unwrap_or(&none);
                for k in 0..65 {
                    after[k] &= left[k] > top;
                    before[k] &= right[k] > top;
                }
            }
            let mask = |ok: &[bool; 65]| (0..64).filter(|&k| ok[k]).fold(0u64, |m, k| m | 1 << k);
            let ascii =
                if after[64] { AFTER_ASCII } else { 0 } | if before[64] { BEFORE_ASCII } else { 0 };
            let Ok(at) = u16::try_from(records.len()) else { break };
            index[cp as usize] = at;
            records.push(Record { tokens, after: mask(&after), before: mask(&before), ascii });
        }
        CharTable { index: index.into_boxed_slice(), records }
    }

    /// Writes the units of `piece` to `ids`: the tokens of each character that may be
    /// pre-merged where it stands, the token of every other byte. Returns how many, or
    /// `None` if `piece` is not valid UTF-8 (the proof needs it), a byte has no token, or
    /// `ids` is too short.
    #[inline]
    pub(crate) fn units(&self, model: &BpeModel, piece: &[u8], ids: &mut [u32]) -> Option<usize> {
        let (mut i, mut len) = (0, 0);
        while i < piece.len() {
            let lead = piece[i];
            let (width, cp) = match lead {
                0x00..=0x7F => (1, u32::from(lead)),
                0xC2..=0xDF => (2, u32::from(lead & 0x1F)),
                0xE0..=0xEF => (3, u32::from(lead & 0x0F)),
                0xF0..=0xF4 => (4, u32::from(lead & 0x07)),
                _ => return None,
            };
            let tail = piece.get(i + 1..i + width)?;
            let mut cp = cp;
            for &b in tail {
                if b & 0xC0 != 0x80 {
                    return None;
                }
                cp = (cp << 6) | u32::from(b & 0x3F);
            }
            // overlong three-byte forms, surrogates and four-byte forms out of range
            if (width == 3 && (cp < 0x800 || (0xD800..0xE000).contains(&cp)))
                || (width == 4 && !(0x1_0000..0x11_0000).contains(&cp))
            {
                return None;
            }
            let at = self.index.get(cp as usize).copied().unwrap_or(0);
            let record = self.records.get(usize::from(at)).filter(|_| at != 0);
            let ok = |r: &Record| {
                let after = match i.checked_sub(1).map(|p| piece[p]) {
                    None => true,
                    Some(b) if b < 0x80 => r.ascii & AFTER_ASCII != 0,
                    Some(b) => r.after >> (b & 0x3F) & 1 != 0,
                };
                let before = match piece.get(i + width) {
                    None => true,
                    Some(&b) if b < 0x80 => r.ascii & BEFORE_ASCII != 0,
                    Some(&b) => r.before >> (b & 0x3F) & 1 != 0,
                };
                after && before
            };
            match record.filter(|r| ok(r)) {
                Some(r) => {
                    *ids.get_mut(len)? = r.tokens[0];
                    len += 1;
                    if r.tokens[1] != NO_ID {
                        *ids.get_mut(len)? = r.tokens[1];
                        len += 1;
                    }
                }
                None => {
                    for &b in &piece[i..i + width] {
                        match model.byte_ids[b as usize] {
                            NO_ID => return None,
                            id => *ids.get_mut(len)? = id,
                        }
                        len += 1;
                    }
                }
            }
            i += width;
        }
        Some(len)
    }
}

/// One character's bytes merged on their own.
struct Alone {
    /// The tokens they end in (`NO_ID` second when one token).
    tokens: [u32; 2],
    /// The (first, last) token of every state, from the bytes to the tokens.
    edges: Vec<(u32, u32)>,
    /// The largest priority merged.
    top: u32,
}

/// The bytes of one character merged on their own, if any merge applies and they end in at
/// most two tokens.
fn merge_alone(model: &BpeModel, bytes: &[u8]) -> Option<Alone> {
    // (a character below PLANE is at most 3 bytes: no allocation for the ids, and none
    // for the edges of the many characters that merge nothing)
    let mut ids = [NO_ID; 4];
    if bytes.len() > ids.len() {
        return None;
    }
    for (id, &b) in ids.iter_mut().zip(bytes) {
        *id = model.byte_ids[b as usize];
    }
    let mut n = bytes.len();
    if n == 0 || ids[..n].contains(&NO_ID) {
        return None;
    }
    let mut edges = Vec::new();
    let mut top = None;
    loop {
        let best = (0..n - 1)
            .filter_map(|i| model.pair(ids[i], ids[i + 1]).map(|(p, id)| (p, i, id)))
            .min();
        let Some((prio, at, merged)) = best else { break };
        if edges.is_empty() {
            edges.push((ids[0], ids[n - 1]));
        }
        top = top.max(Some(prio));
        ids[at] = merged;
        ids.copy_within(at + 2..n, at + 1);
        n -= 1;
        edges.push((ids[0], ids[n - 1]));
    }
    let tokens = match ids[..n] {
        [one] => [one, NO_ID],
        [a, b] => [a, b],
        _ => return None,
    };
    Some(Alone { tokens, edges, top: top? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretokenize::Pretokenizer;
    use crate::rng::Rng;

    /// Characters of one to three bytes; `の` ends in `\xae` and `的` starts with `\xe7`,
    /// GPT-2's unsafe neighbours.
    const ALPHABET: [&str; 9] = ["a", " ", "!", "é", "中", "国", "の", "的", "я"];

    fn random_text(rng: &mut Rng, chars: usize) -> String {
        (0..chars).map(|_| ALPHABET[rng.next_u64() as usize % ALPHABET.len()]).collect()
    }

    /// Random merges learned from a random text: at each step a random adjacent pair of the
    /// current segmentation becomes the next merge, so merges across characters rank
    /// anywhere among those inside them. Returns the tokens in the order made (ids after
    /// the 256 bytes) and the merges.
    type Merges = Vec<(Vec<u8>, Vec<u8>)>;

    fn random_merges(rng: &mut Rng, steps: usize) -> (Vec<Vec<u8>>, Merges) {
        let text = random_text(rng, 200);
        let mut seg: Vec<Vec<u8>> = text.bytes().map(|b| vec![b]).collect();
        let (mut tokens, mut merges) = (Vec::new(), Vec::new());
        for _ in 0..steps {
            if seg.len() < 2 {
                break;
            }
            let at = rng.next_u64() as usize % (seg.len() - 1);
            let (a, b) = (seg[at].clone(), seg[at + 1].clone());
            let joined = [a.as_slice(), b.as_slice()].concat();
            if joined.len() > 1 && !tokens.contains(&joined) {
                tokens.push(joined.clone());
                merges.push((a.clone(), b.clone()));
            }
            let mut next = Vec::with_capacity(seg.len());
            let mut i = 0;
            while i < seg.len() {
                if i + 1 < seg.len() && seg[i] == a && seg[i + 1] == b {
                    next.push(joined.clone());
                    i += 2;
                } else {
                    next.push(seg[i].clone());
                    i += 1;
                }
            }
            seg = next;
        }
        (tokens, merges)
    }

    fn vocab(tokens: &[Vec<u8>]) -> Vec<(Vec<u8>, u32)> {
        let bytes = (0..=255u8).map(|b| (vec![b], u32::from(b)));
        bytes.chain(tokens.iter().cloned().zip(256..)).collect()
    }

    /// The byte-level scan or heap (no characters merged ahead), the oracle.
    fn from_bytes(m: &BpeModel, piece: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        m.merge_long(piece, &mut out).unwrap();
        let mut short = Vec::new();
        m.merge_short(piece, &mut short).unwrap();
        assert_eq!(out, short);
        out
    }

    #[test]
    fn pre_merged_characters_change_nothing() {
        let mut safe = 0;
        for seed in 0..300u64 {
            let mut rng = Rng::new(&[seed]);
            let steps = 20 + (seed as usize % 5) * 40;
            let (tokens, merges) = random_merges(&mut rng, steps);
            let pretok = || Pretokenizer::new("gpt2").unwrap();
            let by_list = BpeModel::from_merges(vocab(&tokens), &merges, vec![], pretok(), false);
            let by_rank = BpeModel::from_ranks(vocab(&tokens), vec![], pretok());
            for m in [by_list.unwrap(), by_rank.unwrap()] {
                safe += m.chars.records.len();
                for n in [1, 2, 5, 17, 40] {
                    let text = random_text(&mut rng, n);
                    let mut out = Vec::new();
                    m.merge_bytes(text.as_bytes(), &mut out).unwrap();
                    assert_eq!(out, from_bytes(&m, text.as_bytes()), "seed {seed}, {text:?}");
                }
            }
        }
        assert!(safe > 300, "too few characters pre-merged ({safe}) to test anything");
    }

    #[test]
    fn invalid_utf8_and_long_pieces_fall_back() {
        let mut rng = Rng::new(&[7]);
        let (tokens, merges) = random_merges(&mut rng, 150);
        let m = BpeModel::from_merges(
            vocab(&tokens),
            &merges,
            vec![],
            Pretokenizer::new("gpt2").unwrap(),
            false,
        )
        .unwrap();
        let long = random_text(&mut rng, 400);
        let mut cases: Vec<Vec<u8>> = vec![long.clone().into_bytes()];
        for cut in [1, 2, 40, 97] {
            // a character cut in two, a stray continuation byte, a lone lead byte
            let bytes = long.as_bytes();
            cases.push([&bytes[..cut], &bytes[cut + 1..]].concat());
            cases.push([&bytes[..cut], &[0x9a], &bytes[cut..cut + 60]].concat());
            cases.push([&bytes[..cut], &[0xe4, b'a'], &bytes[cut..cut + 200]].concat());
        }
        for piece in cases {
            let mut out = Vec::new();
            m.merge_bytes(&piece, &mut out).unwrap();
            assert_eq!(out, from_bytes(&m, &piece));
        }
    }
}
