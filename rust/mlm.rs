//! Masked-language-model masking of a batch of token rows (BERT's objective).
//!
//! Each row picks tokens to predict (its `labels` keep the original id there and -100
//! elsewhere) and replaces each picked token by the mask token, a random token or itself,
//! with probabilities `mask_prob`, `random_prob` and the rest. Picking:
//! - [`Select::Bernoulli`]: every eligible token (or word) independently with probability
//!   `p` (HF `DataCollatorForLanguageModeling` semantics);
//! - [`Select::Exact`]: exactly `round(p × eligible tokens)` per row (with whole words: whole
//!   words in random order, skipping any that would overshoot, as HF's whole-word collator);
//! - [`Select::Span`]: SpanBERT spans of geometric length (of tokens, or of words with
//!   `word_ids`) until `round(p × eligible tokens)` are picked.
//!
//! Special tokens (by a mask, by id, or both) are never picked and never drawn as random
//! replacements. Row `r` draws from its own stream seeded by (seed, step, r), so the output
//! is the same for any thread count.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::parallel;
use crate::rng::{probability_threshold, Rng};

/// How tokens are picked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Select {
    Bernoulli,
    Exact,
    /// Geometric span lengths with success probability `p`, at most `max` units long.
    Span {
        p: f64,
        max: usize,
    },
}

/// Masking options.
#[derive(Clone, Copy, Debug)]
pub struct MaskOptions {
    pub probability: f64,
    pub mask_prob: f64,
    pub random_prob: f64,
    pub mask_token_id: u32,
    pub vocab_size: u32,
    pub select: Select,
    /// Pick whole words (needs word ids).
    pub whole_word: bool,
    pub seed: u64,
    pub step: u64,
}

impl MaskOptions {
    /// Checks the options against `special_ids` (one flag per id).
    pub fn validate(&self, special_ids: &[bool]) -> Result<()> {
        let prob = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::Config(format!("{name}={v} must be a probability in [0, 1]")))
            }
        };
        prob("mlm_probability", self.probability)?;
        prob("mask_probability", self.mask_prob)?;
        prob("random_probability", self.random_prob)?;
        if self.mask_prob + self.random_prob > 1.0 + 1e-12 {
            return Err(Error::Config(format!(
                "mask_probability + random_probability = {} exceeds 1; the rest is the chance of keeping the token",
                self.mask_prob + self.random_prob
            )));
        }
        if self.vocab_size == 0 || self.mask_token_id >= self.vocab_size {
            return Err(Error::Config(format!(
                "mask_token_id={} is outside the vocabulary (vocab_size={}); pass the tokenizer's [MASK] id",
                self.mask_token_id, self.vocab_size
            )));
        }
        if special_ids.len() != self.vocab_size as usize {
            return Err(Error::Config(
                "special id flags must have one entry per vocabulary id".into(),
            ));
        }
        if self.random_prob > 0.0 && special_ids.iter().all(|&s| s) {
            return Err(Error::Config(
                "every id is special, so no random replacement can be drawn; set random_probability=0".into(),
            ));
        }
        if let Select::Span { p, max } = self.select {
            if !(p > 0.0 && p <= 1.0) || max == 0 {
                return Err(Error::Config(format!(
                    "span masking needs 0 < span_probability <= 1 and max_span >= 1, got {p} and {max}"
                )));
            }
        }
        Ok(())
    }
}

/// Integer token ids of any width.
pub trait Id: Copy + Send + Sync {
    fn value(self) -> i64;
    fn from_id(id: u32) -> Self;
}

macro_rules! ids {
    ($($t:ty),*) => {$(
        impl Id for $t {
            #[inline(always)]
            fn value(self) -> i64 {
                self as i64
            }
            #[inline(always)]
            fn from_id(id: u32) -> Self {
                id as $t
            }
        }
    )*};
}
ids!(i64, i32, u32, u16, u8);

/// A batch to mask: `ids` holds rows of `width` tokens; `special` (same shape, nonzero =
/// special) and `words` (same shape, -1 = none) are optional.
pub struct Batch<'a, T> {
    pub ids: &'a [T],
    pub width: usize,
    pub special: Option<&'a [u8]>,
    pub words: Option<&'a [i64]>,
}

/// Masks a batch: returns the new ids and the labels (-100 where nothing is predicted).
pub fn mask<T: Id>(
    batch: &Batch<'_, T>,
    special_ids: &[bool],
    opts: &MaskOptions,
    num_threads: Option<usize>,
) -> Result<(Vec<T>, Vec<i64>)> {
    opts.validate(special_ids)?;
    let width = batch.width.max(1);
    if batch.ids.len() % width != 0 {
        return Err(Error::Config("the batch is not a whole number of rows".into()));
    }
    if opts.whole_word && batch.words.is_none() {
        return Err(Error::Config(
            "whole-word masking needs word_ids (from the tokenizer's encode_batch(return_word_ids=True))".into(),
        ));
    }
    let mut out = batch.ids.to_vec();
    let mut labels = vec![-100i64; batch.ids.len()];
    let bad = parallel::install(num_threads, || {
        out.par_chunks_mut(width)
            .zip(labels.par_chunks_mut(width))
            .enumerate()
            .with_min_len(16)
            .map(|(row, (out, labels))| {
                let at = row * width;
                let span = at..at + width;
                let mut rng = Rng::new(&[opts.seed, opts.step, row as u64]);
                let input = Row {
                    ids: &batch.ids[span.clone()],
                    special: batch.special.map(|s| &s[span.clone()]),
                    words: batch.words.map(|w| &w[span]),
                };
                mask_row(&input, special_ids, opts, &mut rng, out, labels).map_err(|col| (row, col))
            })
            .filter_map(|e| e.err())
            .min()
    });
    if let Some((row, col)) = bad {
        return Err(Error::TokenId {
            id: batch.ids[row * width + col].value(),
            vocab_size: opts.vocab_size,
        }
        .with_position(row, col));
    }
    Ok((out, labels))
}

struct Row<'a, T> {
    ids: &'a [T],
    special: Option<&'a [u8]>,
    words: Option<&'a [i64]>,
}

/// Masks one row; `Err(col)` names the first id outside the vocabulary.
fn mask_row<T: Id>(
    row: &Row<'_, T>,
    special_ids: &[bool],
    opts: &MaskOptions,
    rng: &mut Rng,
    out: &mut [T],
    labels: &mut [i64],
) -> std::result::Result<(), usize> {
    let vocab = i64::from(opts.vocab_size);
    let t_mask = probability_threshold(opts.mask_prob);
    let t_random = probability_threshold(opts.mask_prob + opts.random_prob);
    let replace = |i: usize, rng: &mut Rng, out: &mut [T], labels: &mut [i64]| {
        labels[i] = row.ids[i].value();
        let u = rng.next_u64();
        if u < t_mask {
            out[i] = T::from_id(opts.mask_token_id);
        } else if u < t_random {
            let id = loop {
                let r = rng.below(u64::from(opts.vocab_size)) as usize;
                if !special_ids[r] {
                    break r as u32;
                }
            };
            out[i] = T::from_id(id);
        }
    };
    let eligible = |i: usize| -> std::result::Result<bool, usize> {
        let id = row.ids[i].value();
        if !(0..vocab).contains(&id) {
            return Err(i);
        }
        Ok(!special_ids[id as usize] && row.special.is_none_or(|s| s[i] == 0))
    };
    let t_pick = probability_threshold(opts.probability);
    if opts.select == Select::Bernoulli && !opts.whole_word {
        // the hot path: one pass, a draw per eligible token
        for i in 0..row.ids.len() {
            if eligible(i)? && rng.chance(t_pick) {
                replace(i, rng, out, labels);
            }
        }
        return Ok(());
    }
    // units to pick from: runs of eligible tokens sharing a word (or single tokens)
    let mut units: Vec<(u32, u32)> = Vec::new();
    let mut n_tokens = 0usize;
    for i in 0..row.ids.len() {
        if !eligible(i)? {
            continue;
        }
        n_tokens += 1;
        let same_word = opts.whole_word
            && matches!(units.last(), Some(&(s, l)) if s as usize + l as usize == i
                && row.words.is_some_and(|w| w[i] >= 0 && w[i] == w[i - 1]));
        match units.last_mut() {
            Some(last) if same_word => last.1 += 1,
            _ => units.push((i as u32, 1)),
        }
    }
    let budget = (opts.probability * n_tokens as f64).round_ties_even() as usize;
    let mut picked: Vec<usize> = Vec::new(); // unit indices, in the order chosen
    match opts.select {
        Select::Bernoulli => {
            picked.extend((0..units.len()).filter(|_| rng.chance(t_pick)));
        }
        Select::Exact => {
            let mut order: Vec<usize> = (0..units.len()).collect();
            let mut covered = 0;
            for j in 0..order.len() {
                if covered >= budget {
                    break;
                }
                let r = j + rng.below((order.len() - j) as u64) as usize;
                order.swap(j, r);
                let len = units[order[j]].1 as usize;
                if covered + len <= budget {
                    covered += len;
                    picked.push(order[j]);
                }
            }
        }
        Select::Span { p, max } => {
            let mut taken = vec![false; units.len()];
            let (mut covered, mut tries) = (0, 0);
            let log_q = (1.0 - p).ln();
            while covered < budget && !units.is_empty() && tries < 64 * budget.max(1) {
                tries += 1;
                let len = if p >= 1.0 {
                    1
                } else {
                    1 + (rng.uniform().max(f64::MIN_POSITIVE).ln() / log_q) as usize
                };
                let start = rng.below(units.len() as u64) as usize;
                for u in start..(start + len.min(max)).min(units.len()) {
                    let n = units[u].1 as usize;
                    if taken[u] {
                        continue;
                    }
                    if covered + n > budget {
                        break;
                    }
                    taken[u] = true;
                    covered += n;
                    picked.push(u);
                }
            }
            picked.sort_unstable(); // replacements drawn in position order
        }
    }
    for u in picked {
        let (start, len) = units[u];
        for i in start as usize..(start + len) as usize {
            replace(i, rng, out, labels);
        }
    }
    Ok(())
}

impl Error {
    fn with_position(self, row: usize, col: usize) -> Error {
        match self {
            Error::TokenId { id, vocab_size } => Error::Config(format!(
                "input_ids[{row}, {col}] = {id} is outside the vocabulary [0, {vocab_size}); check vocab_size and the ids' dtype"
            )),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(select: Select, whole_word: bool) -> MaskOptions {
        MaskOptions {
            probability: 0.15,
            mask_prob: 0.8,
            random_prob: 0.1,
            mask_token_id: 4,
            vocab_size: 1000,
            select,
            whole_word,
            seed: 1,
            step: 0,
        }
    }

    fn specials() -> Vec<bool> {
        (0..1000).map(|i| i < 5).collect()
    }

    fn rows(n: usize, width: usize) -> Vec<u32> {
        (0..n * width)
            .map(|i| {
                if i % width == 0 {
                    2
                } else if i % width == width - 1 {
                    3
                } else {
                    5 + (i * 7919 % 995) as u32
                }
            })
            .collect()
    }

    #[test]
    fn bernoulli_statistics_and_specials() {
        let ids = rows(2000, 128);
        let batch = Batch { ids: &ids, width: 128, special: None, words: None };
        let (out, labels) =
            mask(&batch, &specials(), &opts(Select::Bernoulli, false), Some(2)).unwrap();
        let eligible = ids.iter().filter(|&&i| i >= 5).count();
        let picked = labels.iter().filter(|&&l| l >= 0).count();
        assert!((picked as f64 / eligible as f64 - 0.15).abs() < 0.003);
        let masked = out.iter().zip(&labels).filter(|(&o, &l)| l >= 0 && o == 4).count();
        assert!((masked as f64 / picked as f64 - 0.8).abs() < 0.01);
        for ((&o, &l), &i) in out.iter().zip(&labels).zip(&ids) {
            if i < 5 {
                assert_eq!((o, l), (i, -100)); // specials untouched
            }
            if l >= 0 {
                assert_eq!(l, i64::from(i));
                assert!(o >= 4); // never a special other than the mask
            } else {
                assert_eq!(o, i);
            }
        }
    }

    #[test]
    fn exact_counts_and_thread_independence() {
        let ids = rows(300, 64);
        let batch = Batch { ids: &ids, width: 64, special: None, words: None };
        let o = opts(Select::Exact, false);
        let one = mask(&batch, &specials(), &o, Some(1)).unwrap();
        for t in [2, 4] {
            assert_eq!(mask(&batch, &specials(), &o, Some(t)).unwrap(), one);
        }
        for row in one.1.chunks(64) {
            assert_eq!(row.iter().filter(|&&l| l >= 0).count(), (0.15f64 * 62.0).round() as usize);
        }
        let other = mask(&batch, &specials(), &MaskOptions { step: 1, ..o }, Some(1)).unwrap();
        assert_ne!(other.1, one.1);
    }

    #[test]
    fn whole_words_all_or_nothing() {
        let ids = rows(200, 64);
        let words: Vec<i64> = (0..ids.len())
            .map(|i| if i % 64 == 0 || i % 64 == 63 { -1 } else { (i % 64 / 3) as i64 })
            .collect();
        let batch = Batch { ids: &ids, width: 64, special: None, words: Some(&words) };
        for select in [Select::Bernoulli, Select::Exact, Select::Span { p: 0.2, max: 10 }] {
            let (_, labels) = mask(&batch, &specials(), &opts(select, true), Some(2)).unwrap();
            for row in 0..200 {
                for w in 0..22 {
                    let picks: Vec<bool> = (0..64)
                        .filter(|&c| words[row * 64 + c] == w)
                        .map(|c| labels[row * 64 + c] >= 0)
                        .collect();
                    assert!(picks.iter().all(|&p| p) || picks.iter().all(|&p| !p), "{select:?}");
                }
            }
        }
    }

    #[test]
    fn bad_input() {
        let mut ids = rows(2, 8);
        ids[11] = 5000;
        let batch = Batch { ids: &ids, width: 8, special: None, words: None };
        let err = mask(&batch, &specials(), &opts(Select::Bernoulli, false), None).unwrap_err();
        assert!(err.to_string().contains("input_ids[1, 3] = 5000"), "{err}");
        let ok = rows(2, 8);
        let batch = Batch { ids: &ok, width: 8, special: None, words: None };
        let bad =
            MaskOptions { mask_prob: 0.9, random_prob: 0.2, ..opts(Select::Bernoulli, false) };
        assert!(mask(&batch, &specials(), &bad, None).is_err());
        let bad = MaskOptions { mask_token_id: 1000, ..opts(Select::Bernoulli, false) };
        assert!(mask(&batch, &specials(), &bad, None).is_err());
        assert!(mask(&batch, &specials(), &opts(Select::Bernoulli, true), None).is_err());
    }
}
