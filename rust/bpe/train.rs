//! The merge phase of byte-level BPE training.
//!
//! Input: word counts ([`crate::count::WordCounts`]). Output: an ordered list of merges over
//! training ids (the 256 bytes are ids 0..=255 in HF's alphabet order, [`hf_byte_order`];
//! the k-th merge creates id 256 + k) and the bytes of every id. A model laid out by these
//! ids (special tokens first) numbers its tokens as HF's `BpeTrainer` does, so the same
//! corpus gives the same ids.
//!
//! Rule: repeatedly merge the adjacent pair with the highest total count, where a pair's
//! count is the sum, over every word, of the word's count times the number of adjacent
//! positions holding the pair (overlaps included, as in HF `tokenizers`); a merge then
//! rewrites each word left to right. **Ties go to the smallest `(left id, right id)`** in
//! training ids, which makes the result a pure function of the counts. Bytes take the
//! training ids HF's `BpeTrainer` gives its alphabet (the code points of their byte-level
//! characters, [`hf_byte_order`]), so ties break as there. Pairs whose merged token would
//! exceed `max_token_length` bytes are never merged; training stops at
//! `vocab_size`, when the best count falls below `min_frequency`, or when nothing is left.
//!
//! Algorithm (no recount per merge; memory a few bytes per byte of distinct words):
//! - All words live in one array of slots, one per byte, words separated by a sentinel. A
//!   token's first slot holds its id and its last slot points back to its first, so both
//!   neighbours of a token are found in O(1).
//! - Each token keeps the ascending list of slots where it starts; a merge of `(a, b)` walks
//!   the shorter of `a`'s and `b`'s lists (a leading space or a UTF-8 lead byte starts a
//!   large share of all slots), merges where the other token is next to it, and compacts
//!   the walked list. The slots each walk will read are prefetched: they are cache misses.
//! - A pair's count only falls after the merge that creates it. So only pairs counted at
//!   least `floor` times are tracked (exact counts in a map, candidates in a max-heap
//!   updated lazily: a popped entry whose count went stale is pushed back with the current
//!   count). Untracked pairs can never rise above the floor; when no tracked pair is left,
//!   the floor drops and every pair is recounted from the slots. The heap's top is thus
//!   always the global maximum, while the map holds a small fraction of all pairs.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use crate::count::WordCounts;
use crate::error::{Error, Result};

/// Training options for the merge phase.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Number of merges to learn at most (`vocab_size - 256 - specials` in the model).
    pub merges: usize,
    /// Stop once the best pair occurs fewer times than this.
    pub min_frequency: u64,
    /// Never create a token longer than this many bytes.
    pub max_token_length: Option<usize>,
}

/// The result of training: merges over training ids and the bytes of every training id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trained {
    pub merges: Vec<(u32, u32)>,
    pub tokens: Vec<Vec<u8>>,
}

/// How many list entries ahead a walk asks for the slot it will read (a cache miss each).
const PREFETCH: usize = 16;
const SEP: u32 = u32::MAX; // between words
const INNER: u32 = 1 << 31; // flag of a slot inside a token; the low bits are its first slot
const NONE: u32 = u32::MAX;

#[inline(always)]
fn key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

struct State {
    /// Per slot: a token id at a token's first slot, `INNER | first` at its last slot
    /// (other inner slots are stale and never read), `SEP` between words.
    sym: Vec<u32>,
    word_start: Vec<u32>,
    word_count: Vec<i64>,
    tok_len: Vec<u32>,
    /// Per token id: the slots where it may start, ascending (stale entries are dropped
    /// when the list is walked).
    occ: Vec<Vec<u32>>,
    /// Exact counts of the tracked pairs (every pair counted at least `floor` times).
    pairs: FxHashMap<u64, i64>,
    floor: i64,
    heap: BinaryHeap<(i64, Reverse<u64>)>,
}

impl State {
    /// Lays out the words: `words()` yields each word as symbols below `n_symbols` (every
    /// symbol one slot), with its count; it is called twice. The slots are indexed by
    /// [`indexed`](Self::indexed), which needs no words: their source can be freed first
    /// (the peak of training's memory was the two side by side).
    fn new<I, S>(words: impl Fn() -> I, n_symbols: usize) -> Result<State>
    where
        I: Iterator<Item = (S, u64)>,
        S: ExactSizeIterator<Item = u32>,
    {
        // Word order does not matter: counts and the tie-break do not depend on slots.
        let (mut slots, mut n_words) = (0usize, 0usize);
        // every pair count is at most the sum of count × (length - 1) over the words: while
        // that fits in an i64, the counts stay exact (they would saturate past it, and the
        // more frequent of two huge pairs could lose)
        let mut occurrences = 0u128;
        for (word, count) in words() {
            if word.len() > 1 {
                occurrences += u128::from(count) * (word.len() as u128 - 1);
                slots += word.len() + 1;
                n_words += 1;
            }
        }
        if occurrences > i64::MAX as u128 {
            return Err(Error::Corpus(format!(
                "the word counts add up to {occurrences} pairs of symbols, past the trainer's \
                 limit of 2^63 - 1; scale the counts down (divide them by a common factor)"
            )));
        }
        if slots >= (INNER - 1) as usize {
            return Err(Error::Corpus(format!(
                "the distinct words hold {slots} symbols, more than the trainer's 2 G limit; train on a sample"
            )));
        }
        let mut st = State {
            sym: Vec::with_capacity(slots),
            word_start: Vec::with_capacity(n_words),
            word_count: Vec::with_capacity(n_words),
            tok_len: vec![1; n_symbols],
            occ: Vec::new(),
            pairs: FxHashMap::default(),
            floor: 1,
            heap: BinaryHeap::new(),
        };
        for (word, count) in words() {
            if word.len() < 2 {
                continue; // nothing to merge
            }
            let start = st.sym.len() as u32;
            st.word_start.push(start);
            st.word_count.push(i64::try_from(count).unwrap_or(i64::MAX)); // fits: checked above
            st.sym.extend(word);
            st.sym.push(SEP);
        }
        Ok(st)
    }

    /// The laid-out words with each symbol's slots listed, ascending.
    fn indexed(mut self) -> State {
        let mut per_symbol = vec![0usize; self.tok_len.len()];
        for &s in self.sym.iter().filter(|&&s| s != SEP) {
            per_symbol[s as usize] += 1;
        }
        self.occ = per_symbol.iter().map(|&n| Vec::with_capacity(n)).collect();
        for (slot, &s) in self.sym.iter().enumerate().filter(|&(_, &s)| s != SEP) {
            self.occ[s as usize].push(slot as u32);
        }
        self
    }

    /// Counts every adjacent pair from the slots, keeps those counted at least `floor`
    /// times, and refills the heap with them.
    fn recount(&mut self, floor: i64) {
        self.pairs.clear();
        for (&start, &w) in self.word_start.iter().zip(&self.word_count) {
            let mut pos = start as usize;
            let mut left = self.sym[pos];
            pos += self.tok_len[left as usize] as usize;
            while self.sym[pos] != SEP {
                let right = self.sym[pos];
                let n = self.pairs.entry(key(left, right)).or_default();
                *n = n.saturating_add(w);
                left = right;
                pos += self.tok_len[right as usize] as usize;
            }
        }
        self.floor = floor;
        self.pairs.retain(|_, n| *n >= floor);
        self.pairs.shrink_to_fit();
        self.heap = self.pairs.iter().map(|(&k, &n)| (n, Reverse(k))).collect();
    }

    /// The pair with the highest count (ties: smallest pair), or `None` once no pair is
    /// counted at least `lowest` times.
    fn best(&mut self, lowest: i64) -> Option<(i64, u64)> {
        loop {
            match self.heap.pop() {
                Some((count, Reverse(k))) => {
                    let current = self.pairs.get(&k).copied().unwrap_or(0);
                    if current == count {
                        return Some((count, k));
                    }
                    if current >= self.floor {
                        self.heap.push((current, Reverse(k))); // stale: it fell since
                    }
                }
                None if self.floor <= lowest => return None,
                None => {
                    let floor = (self.floor / 8).max(lowest);
                    self.recount(floor);
                }
            }
        }
    }

    /// The count of the word holding `slot`. `word` is where the previous lookup of this
    /// walk landed (the walks go left to right): the search gallops on from there.
    #[inline]
    fn weight(&self, slot: u32, word: &mut usize) -> i64 {
        let starts = &self.word_start;
        let mut lo = *word; // starts[lo] <= slot, or lo == 0
        if lo + 1 < starts.len() && starts[lo + 1] <= slot {
            let mut step = 1;
            lo += 1;
            while lo + step < starts.len() && starts[lo + step] <= slot {
                lo += step;
                step *= 2;
            }
            let hi = (lo + step).min(starts.len());
            lo += starts[lo..hi].partition_point(|&s| s <= slot) - 1;
        }
        *word = lo;
        self.word_count[lo]
    }

    /// First slot of the token before the one starting at `pos`, or `NONE`.
    #[inline]
    fn prev(&self, pos: u32) -> u32 {
        if pos == 0 {
            return NONE;
        }
        match self.sym[pos as usize - 1] {
            SEP => NONE,
            v if v & INNER != 0 => v & !INNER,
            _ => pos - 1,
        }
    }

    /// Applies a count change: to the map for a tracked pair, else to `fresh` (the pairs
    /// this merge creates, and decrements of untracked pairs, which are dropped).
    #[inline]
    fn change(&mut self, k: u64, delta: i64, fresh: &mut FxHashMap<u64, i64>) {
        if let Some(n) = self.pairs.get_mut(&k) {
            *n = n.saturating_add(delta);
            if *n < self.floor {
                self.pairs.remove(&k); // untracked from now on; it can only fall further
            }
        } else {
            let n = fresh.entry(k).or_default();
            *n = n.saturating_add(delta);
        }
    }

    /// Merges every occurrence of `(a, b)` into the new token `c`. The occurrences are found
    /// from the shorter of the two tokens' lists (a frequent left token such as a leading
    /// space or a lead byte would otherwise be walked for every merge it takes part in);
    /// either way they are visited left to right, so the counts change in the same order.
    fn merge(&mut self, a: u32, b: u32, c: u32) {
        if a != b && self.occ[b as usize].len() < self.occ[a as usize].len() {
            self.merge_from_right(a, b, c);
            return;
        }
        let mut list = std::mem::take(&mut self.occ[a as usize]);
        let mut made = Vec::new();
        let mut fresh = FxHashMap::default();
        let mut word = 0;
        let len_a = self.tok_len[a as usize];
        let mut kept = 0;
        for r in 0..list.len() {
            if let Some(&ahead) = list.get(r + PREFETCH) {
                prefetch(&self.sym, ahead);
            }
            let pos = list[r];
            if self.sym[pos as usize] != a {
                continue; // stale: this slot became part of another token
            }
            let nx = pos + len_a;
            if self.sym[nx as usize] != b {
                list[kept] = pos;
                kept += 1;
                continue;
            }
            self.merge_at(pos, (a, b, c), &mut fresh, &mut word);
            made.push(pos);
        }
        list.truncate(kept);
        self.occ[a as usize] = shrunk(list);
        self.finish(a, b, made, fresh);
    }

    /// [`State::merge`] walking `b`'s list (`a != b`, so occurrences never overlap): each
    /// `b` whose token before is an `a`. `a`'s list keeps the merged slots as stale entries,
    /// dropped when it is next walked.
    fn merge_from_right(&mut self, a: u32, b: u32, c: u32) {
        let mut list = std::mem::take(&mut self.occ[b as usize]);
        let mut made = Vec::new();
        let mut fresh = FxHashMap::default();
        let mut word = 0;
        let mut kept = 0;
        for r in 0..list.len() {
            if let Some(&ahead) = list.get(r + PREFETCH) {
                prefetch(&self.sym, ahead.saturating_sub(1));
            }
            let nx = list[r];
            if self.sym[nx as usize] != b {
                continue; // stale
            }
            let pos = self.prev(nx);
            if pos == NONE || self.sym[pos as usize] != a {
                list[kept] = nx;
                kept += 1;
                continue;
            }
            self.merge_at(pos, (a, b, c), &mut fresh, &mut word);
            made.push(pos);
        }
        list.truncate(kept);
        self.occ[b as usize] = shrunk(list);
        self.finish(a, b, made, fresh);
    }

    /// Merges the `a` at slot `pos` with the `b` after it into `c`, recording the count
    /// changes of the pairs around it.
    #[inline]
    fn merge_at(
        &mut self,
        pos: u32,
        (a, b, c): (u32, u32, u32),
        fresh: &mut FxHashMap<u64, i64>,
        word: &mut usize,
    ) {
        let nx = pos + self.tok_len[a as usize];
        let w = self.weight(pos, word);
        let left = self.prev(pos);
        if left != NONE {
            let la = self.sym[left as usize];
            self.change(key(la, a), -w, fresh);
            *fresh.entry(key(la, c)).or_default() += w; // `c` is new: never tracked yet
        }
        let after = nx + self.tok_len[b as usize];
        let rb = self.sym[after as usize];
        if rb != SEP {
            self.change(key(b, rb), -w, fresh);
            *fresh.entry(key(c, rb)).or_default() += w;
        }
        // (a, b) itself is dropped once every occurrence is merged
        self.sym[pos as usize] = c;
        self.sym[nx as usize] = INNER | pos;
        self.sym[after as usize - 1] = INNER | pos;
    }

    /// After a merge: `c`'s list of slots (`made`, ascending), and the pairs it created.
    fn finish(&mut self, a: u32, b: u32, mut made: Vec<u32>, fresh: FxHashMap<u64, i64>) {
        made.shrink_to_fit();
        self.occ.push(made);
        self.pairs.remove(&key(a, b));
        // new pairs: only the merge that creates a pair raises its count
        let mut fresh: Vec<(u64, i64)> =
            fresh.into_iter().filter(|&(_, n)| n >= self.floor).collect();
        fresh.sort_unstable();
        for (k, n) in fresh {
            self.pairs.insert(k, n);
            self.heap.push((n, Reverse(k)));
        }
    }
}

/// Asks the cache for `sym[at]`, which a walk reads a few entries from now.
#[inline(always)]
fn prefetch(sym: &[u32], at: u32) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (sym, at);
    #[cfg(target_arch = "x86_64")]
    if let Some(p) = sym.get(at as usize) {
        // SAFETY: a prefetch never faults and reads nothing
        unsafe {
            core::arch::x86_64::_mm_prefetch(
                std::ptr::from_ref(p).cast::<i8>(),
                core::arch::x86_64::_MM_HINT_T0,
            );
        }
    }
}

/// A walked list, its spare capacity released once it is mostly empty.
fn shrunk(mut list: Vec<u32>) -> Vec<u32> {
    if list.capacity() > 4 * list.len() + 16 {
        list.shrink_to_fit();
    }
    list
}

/// Learns up to `opts.merges` merges from `counts`. `progress(done, total)` is called about
/// a hundred times; returning `false` stops with [`Error::Interrupted`].
pub fn train(
    counts: &WordCounts,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<Trained> {
    train_from(std::borrow::Cow::Borrowed(counts), opts, progress)
}

/// Like [`train`], taking the counts by value so their memory is freed before merging.
pub fn train_owned(
    counts: WordCounts,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<Trained> {
    train_from(std::borrow::Cow::Owned(counts), opts, progress)
}

fn train_from(
    counts: std::borrow::Cow<'_, WordCounts>,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<Trained> {
    if counts.is_empty() {
        return Err(empty_corpus(counts.specials_cut(), ""));
    }
    // a byte-level pattern keeps runs of white space as words: a corpus of nothing else
    // would train a tokenizer of spaces and newlines
    let blank = |w: &[u8]| std::str::from_utf8(w).is_ok_and(|s| s.chars().all(char::is_whitespace));
    if counts.iter().all(|(w, _)| blank(w)) {
        if counts.specials_cut() > 0 {
            return Err(empty_corpus(counts.specials_cut(), " and white space"));
        }
        return Err(Error::Corpus(
            "the corpus holds only white space: no words to learn; check the input files or \
             iterator"
                .into(),
        ));
    }
    let rank = hf_byte_order();
    let st =
        State::new(|| counts.iter().map(|(w, n)| (w.iter().map(|&b| rank[b as usize]), n)), 256)?;
    drop(counts);
    crate::memory::release_free_memory();
    let merges = learn_merges(st.indexed(), opts, progress, &mut |_, _| true)?;
    let mut tokens: Vec<Vec<u8>> = vec![Vec::new(); 256];
    for (b, &r) in rank.iter().enumerate() {
        tokens[r as usize] = vec![b as u8];
    }
    for &(a, b) in &merges {
        tokens.push([tokens[a as usize].as_slice(), tokens[b as usize].as_slice()].concat());
    }
    Ok(Trained { merges, tokens })
}

/// Each byte's training id: its rank by the code point of its byte-level character (GPT-2's
/// `bytes_to_unicode`: printable bytes stand for themselves, the others for 256 + n in byte
/// order), the order HF's `BpeTrainer` numbers its alphabet in, so count ties break the same.
fn hf_byte_order() -> [u32; 256] {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut chars: Vec<(u32, u8)> = Vec::with_capacity(256);
    let mut n = 0;
    for b in 0..=255u8 {
        if printable(b) {
            chars.push((u32::from(b), b));
        } else {
            chars.push((256 + n, b));
            n += 1;
        }
    }
    chars.sort_unstable();
    let mut rank = [0u32; 256];
    for (r, &(_, b)) in chars.iter().enumerate() {
        rank[b as usize] = r as u32;
    }
    rank
}

/// The error of a corpus with no words: empty, or (`specials_cut > 0`) nothing but special
/// tokens (and `rest`, e.g. " and white space").
pub(crate) fn empty_corpus(specials_cut: u64, rest: &str) -> Error {
    if specials_cut == 0 {
        return Error::Corpus(
            "the corpus is empty: no words were counted; check the input files or iterator".into(),
        );
    }
    Error::Corpus(format!(
        "the corpus holds only special tokens{rest} ({specials_cut} of them cut out): nothing is \
         left to learn from once they are cut out; check the input, and that the special tokens \
         given (special_tokens / --special) are not the text itself"
    ))
}

/// The merge phase over any alphabet: `words()` yields each word as symbols below
/// `n_symbols` with its count (it is called twice). Merge `k` creates symbol
/// `n_symbols + k`; `max_token_length` counts initial symbols. Same rule and tie-break as
/// the byte-level trainer (WordPiece training uses it on characters).
///
/// `adds(a, b)`, called once per merge in order, says whether the merge adds a token to
/// the vocabulary (WordPiece: not when its piece is spelled like a special token, which
/// already holds the spelling and its id, as in HF's trainer); `opts.merges` counts the
/// merges that do.
pub fn learn<I, S>(
    words: impl Fn() -> I,
    n_symbols: usize,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(u64, u64) -> bool,
    adds: &mut dyn FnMut(u32, u32) -> bool,
) -> Result<Vec<(u32, u32)>>
where
    I: Iterator<Item = (S, u64)>,
    S: ExactSizeIterator<Item = u32>,
{
    learn_merges(State::new(words, n_symbols)?.indexed(), opts, progress, adds)
}

fn learn_merges(
    mut st: State,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(u64, u64) -> bool,
    adds: &mut dyn FnMut(u32, u32) -> bool,
) -> Result<Vec<(u32, u32)>> {
    let lowest = i64::try_from(opts.min_frequency.max(1)).unwrap_or(i64::MAX);
    st.recount(lowest);
    let top = st.heap.peek().map_or(0, |(n, _)| *n);
    st.recount((top >> 8).max(lowest)); // track the frequent pairs only, to begin with
    let first = st.tok_len.len() as u32;
    // `opts.merges` comes from the user (`vocab_size`): never allocate by it. Each merge
    // removes at least one symbol from some word, so a word of `n` symbols takes part in at
    // most `n - 1` merges and the corpus bounds how many merges can be learned at all.
    let possible = st.sym.len().saturating_sub(2 * st.word_start.len());
    let total = opts.merges.min(possible);
    let mut merges = Vec::with_capacity(total);
    let every = (total / 100).max(1);
    let mut added = 0usize;
    while added < total && merges.len() < possible {
        let Some((_, k)) = st.best(lowest) else { break };
        let (a, b) = ((k >> 32) as u32, k as u32);
        let len = (st.tok_len[a as usize] + st.tok_len[b as usize]) as usize;
        if opts.max_token_length.is_some_and(|max| len > max) {
            continue; // never merged; its count can only fall, so it never returns
        }
        let c = first + merges.len() as u32;
        st.tok_len.push(len as u32);
        merges.push((a, b));
        st.merge(a, b, c);
        added += usize::from(adds(a, b));
        if merges.len() % every == 0 && !progress(added as u64, total as u64) {
            return Err(Error::Interrupted);
        }
    }
    // finished (possibly early, when the corpus ran out of pairs)
    progress(added as u64, added as u64);
    Ok(merges)
}

#[cfg(test)]
mod tests;
