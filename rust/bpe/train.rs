//! The merge phase of byte-level BPE training.
//!
//! Input: word counts ([`crate::count::WordCounts`]). Output: an ordered list of merges over
//! training ids (bytes are ids 0..=255 by value; the k-th merge creates id 256 + k).
//!
//! Rule: repeatedly merge the adjacent pair with the highest total count, where a pair's
//! count is the sum, over every word, of the word's count times the number of adjacent
//! positions holding the pair (overlaps included, as in HF `tokenizers`); a merge then
//! rewrites each word left to right. **Ties go to the smallest `(left id, right id)`** in
//! training ids, which makes the result a pure function of the counts. Pairs whose merged
//! token would exceed `max_token_length` bytes are never merged; training stops at
//! `vocab_size`, when the best count falls below `min_frequency`, or when nothing is left.
//!
//! Algorithm (no recount per merge): every word's symbols live in one array, one slot per
//! byte, with words separated by a sentinel. A symbol occupies the slot of its first byte,
//! so the next symbol sits `len(token)` slots later, and a `prev` array links backwards.
//! Each pair keeps its count and a list of the slots where it starts (entries may go stale
//! and are checked when used). A max-heap of (count, pair) is updated lazily: counts only
//! fall after a pair first appears, so a popped entry whose count is stale is re-pushed with
//! the current count. A merge touches only the slots where its pair occurs.

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

const SEP: u32 = u32::MAX; // between words
const DEAD: u32 = u32::MAX - 1; // slot inside a merged symbol
const NONE: u32 = u32::MAX;

#[inline(always)]
fn key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

#[derive(Default)]
struct PairStat {
    count: i64,
    slots: Vec<u32>,
}

struct State {
    sym: Vec<u32>,
    prev: Vec<u32>,
    word_start: Vec<u32>,
    word_count: Vec<i64>,
    tok_len: Vec<u32>,
    pairs: FxHashMap<u64, PairStat>,
}

impl State {
    fn new(counts: &WordCounts) -> Result<State> {
        let words = counts.sorted();
        let slots: usize = words
            .iter()
            .filter(|(w, _)| w.len() > 1)
            .map(|(w, _)| w.len() + 1)
            .sum();
        if slots >= (DEAD - 1) as usize {
            return Err(Error::Corpus(format!(
                "the distinct words hold {slots} bytes, more than the trainer's 4 GiB limit; train on a sample"
            )));
        }
        let mut st = State {
            sym: Vec::with_capacity(slots),
            prev: Vec::with_capacity(slots),
            word_start: Vec::new(),
            word_count: Vec::new(),
            tok_len: vec![1; 256],
            pairs: FxHashMap::default(),
        };
        for (word, count) in words {
            if word.len() < 2 {
                continue; // nothing to merge
            }
            let w = i64::try_from(count).unwrap_or(i64::MAX);
            let start = st.sym.len() as u32;
            st.word_start.push(start);
            st.word_count.push(w);
            for (i, &b) in word.iter().enumerate() {
                st.sym.push(u32::from(b));
                st.prev
                    .push(if i == 0 { NONE } else { start + i as u32 - 1 });
            }
            st.sym.push(SEP);
            st.prev.push(NONE);
            for (i, pair) in word.windows(2).enumerate() {
                let stat = st
                    .pairs
                    .entry(key(u32::from(pair[0]), u32::from(pair[1])))
                    .or_default();
                stat.count = stat.count.saturating_add(w);
                stat.slots.push(start + i as u32);
            }
        }
        Ok(st)
    }

    #[inline]
    fn weight(&self, slot: u32) -> i64 {
        let word = self.word_start.partition_point(|&s| s <= slot) - 1;
        self.word_count[word]
    }

    #[inline]
    fn add(&mut self, k: u64, delta: i64, slot: Option<u32>, touched: &mut Vec<u64>) {
        if delta > 0 {
            let stat = self.pairs.entry(k).or_default();
            stat.count = stat.count.saturating_add(delta);
            if let Some(slot) = slot {
                stat.slots.push(slot);
            }
            touched.push(k);
        } else if let Some(stat) = self.pairs.get_mut(&k) {
            stat.count -= -delta;
            if stat.count <= 0 {
                self.pairs.remove(&k);
            }
        }
    }

    /// Merges every valid occurrence of `(a, b)` into `c`; returns the pairs whose count rose.
    fn merge(&mut self, a: u32, b: u32, c: u32) -> Vec<u64> {
        let mut slots = self
            .pairs
            .get_mut(&key(a, b))
            .map(|s| std::mem::take(&mut s.slots))
            .unwrap_or_default();
        slots.sort_unstable();
        slots.dedup();
        let (len_a, len_b) = (self.tok_len[a as usize], self.tok_len[b as usize]);
        let mut touched = Vec::new();
        for pos in slots {
            if self.sym[pos as usize] != a {
                continue;
            }
            let nx = pos + len_a;
            if self.sym[nx as usize] != b {
                continue;
            }
            let w = self.weight(pos);
            let left = self.prev[pos as usize];
            if left != NONE {
                let la = self.sym[left as usize];
                self.add(key(la, a), -w, None, &mut touched);
                self.add(key(la, c), w, Some(left), &mut touched);
            }
            let after = nx + len_b;
            let rb = self.sym[after as usize];
            if rb != SEP {
                self.add(key(b, rb), -w, None, &mut touched);
                self.add(key(c, rb), w, Some(pos), &mut touched);
                self.prev[after as usize] = pos;
            }
            self.add(key(a, b), -w, None, &mut touched);
            self.sym[pos as usize] = c;
            self.sym[nx as usize] = DEAD;
        }
        self.pairs.remove(&key(a, b));
        touched.sort_unstable();
        touched.dedup();
        touched
    }
}

/// Learns up to `opts.merges` merges from `counts`. `progress(done, total)` is called about
/// a hundred times; returning `false` stops with [`Error::Interrupted`].
pub fn train(
    counts: &WordCounts,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<Trained> {
    if counts.is_empty() {
        return Err(Error::Corpus(
            "the corpus is empty: no words were counted; check the input files or iterator".into(),
        ));
    }
    let mut st = State::new(counts)?;
    let mut heap: BinaryHeap<(i64, Reverse<u64>)> = st
        .pairs
        .iter()
        .map(|(&k, s)| (s.count, Reverse(k)))
        .collect();
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut merges = Vec::with_capacity(opts.merges);
    let min_frequency = i64::try_from(opts.min_frequency.max(1)).unwrap_or(i64::MAX);
    let every = (opts.merges / 100).max(1);
    while merges.len() < opts.merges {
        let Some((count, Reverse(k))) = heap.pop() else {
            break;
        };
        let current = st.pairs.get(&k).map_or(0, |s| s.count);
        if current != count {
            if current > 0 {
                heap.push((current, Reverse(k)));
            }
            continue;
        }
        if count < min_frequency {
            break;
        }
        let (a, b) = ((k >> 32) as u32, k as u32);
        let len = (st.tok_len[a as usize] + st.tok_len[b as usize]) as usize;
        if opts.max_token_length.is_some_and(|max| len > max) {
            if let Some(stat) = st.pairs.get_mut(&k) {
                stat.slots = Vec::new(); // never merged; its count can only fall from here
            }
            continue;
        }
        let c = tokens.len() as u32;
        tokens.push([tokens[a as usize].as_slice(), tokens[b as usize].as_slice()].concat());
        st.tok_len.push(len as u32);
        merges.push((a, b));
        for k in st.merge(a, b, c) {
            if let Some(stat) = st.pairs.get(&k) {
                heap.push((stat.count, Reverse(k)));
            }
        }
        if merges.len() % every == 0 && !progress(merges.len() as u64, opts.merges as u64) {
            return Err(Error::Interrupted);
        }
    }
    // finished (possibly early, when the corpus ran out of pairs)
    progress(merges.len() as u64, merges.len() as u64);
    Ok(Trained { merges, tokens })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, recounting everything at every step.
    fn naive(words: &[(Vec<u8>, u64)], opts: &TrainOptions) -> Vec<(u32, u32)> {
        let mut ws: Vec<(Vec<u32>, i64)> = words
            .iter()
            .map(|(w, c)| (w.iter().map(|&b| u32::from(b)).collect(), *c as i64))
            .collect();
        let mut lens: Vec<usize> = vec![1; 256];
        let mut merges = Vec::new();
        while merges.len() < opts.merges {
            let mut counts: std::collections::BTreeMap<(u32, u32), i64> = Default::default();
            for (w, c) in &ws {
                let mut i = 0;
                while i + 1 < w.len() {
                    *counts.entry((w[i], w[i + 1])).or_default() += c;
                    i += 1;
                }
            }
            let best = counts
                .iter()
                .filter(|(&(a, b), _)| {
                    opts.max_token_length
                        .is_none_or(|m| lens[a as usize] + lens[b as usize] <= m)
                })
                .max_by(|x, y| x.1.cmp(y.1).then(y.0.cmp(x.0)));
            let Some((&(a, b), &n)) = best else { break };
            if n < opts.min_frequency.max(1) as i64 {
                break;
            }
            let c = 256 + merges.len() as u32;
            lens.push(lens[a as usize] + lens[b as usize]);
            merges.push((a, b));
            for (w, _) in ws.iter_mut() {
                let mut out = Vec::with_capacity(w.len());
                let mut i = 0;
                while i < w.len() {
                    if i + 1 < w.len() && w[i] == a && w[i + 1] == b {
                        out.push(c);
                        i += 2;
                    } else {
                        out.push(w[i]);
                        i += 1;
                    }
                }
                *w = out;
            }
        }
        merges
    }

    fn fast(words: &[(Vec<u8>, u64)], opts: &TrainOptions) -> Vec<(u32, u32)> {
        let mut wc = WordCounts::new();
        for (w, c) in words {
            wc.add(w, *c).unwrap();
        }
        train(&wc, opts, &mut |_, _| true).unwrap().merges
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        #[test]
        fn matches_the_definition(
            words in prop::collection::vec((prop::collection::vec(prop::sample::select(b"aabbcd ".to_vec()), 1..12), 1u64..50), 1..30),
            merges in 1usize..40,
            min_frequency in 1u64..4,
            max_len in prop::option::of(2usize..6),
        ) {
            let mut merged: std::collections::BTreeMap<Vec<u8>, u64> = Default::default();
            for (w, c) in &words {
                *merged.entry(w.clone()).or_default() += c;
            }
            let words: Vec<(Vec<u8>, u64)> = merged.into_iter().collect();
            let opts = TrainOptions { merges, min_frequency, max_token_length: max_len };
            prop_assert_eq!(fast(&words, &opts), naive(&words, &opts));
        }
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let words = vec![
            (b"abab".to_vec(), 3_000_000_000u64),
            (b"ab".to_vec(), 2_000_000_000),
        ];
        let opts = TrainOptions {
            merges: 5,
            min_frequency: 0,
            max_token_length: None,
        };
        assert_eq!(fast(&words, &opts), [(97, 98), (256, 256)]);
    }

    #[test]
    fn empty_corpus_is_an_error() {
        let opts = TrainOptions {
            merges: 5,
            min_frequency: 0,
            max_token_length: None,
        };
        assert!(matches!(
            train(&WordCounts::new(), &opts, &mut |_, _| true),
            Err(Error::Corpus(_))
        ));
    }

    #[test]
    fn a_long_repeated_word_trains_quickly() {
        // 10 MB in one word: each merge only touches its own occurrences
        let words = vec![(b"a".repeat(10_000_000), 1u64)];
        let opts = TrainOptions {
            merges: 40,
            min_frequency: 0,
            max_token_length: None,
        };
        let m = fast(&words, &opts);
        let doubling: Vec<(u32, u32)> = (0..22)
            .map(|k| if k == 0 { (97, 97) } else { (255 + k, 255 + k) })
            .collect();
        assert_eq!(m[..22], doubling[..]);
        let words = vec![(b"a".repeat(100_003), 1u64)];
        assert_eq!(fast(&words, &opts), naive(&words, &opts));
    }
}
