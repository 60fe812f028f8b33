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
use crate::rng::{probability_threshold, tag, Binary, Rng};

mod words;
pub use words::TokenBytes;

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
ids!(i64, i32, u32, u16);

/// Per-position flags (nonzero = set), in the integer width the caller has them.
#[derive(Clone, Copy, Debug)]
pub enum Flags<'a> {
    U8(&'a [u8]),
    I32(&'a [i32]),
    I64(&'a [i64]),
}

impl<'a> Flags<'a> {
    pub fn len(&self) -> usize {
        match self {
            Flags::U8(f) => f.len(),
            Flags::I32(f) => f.len(),
            Flags::I64(f) => f.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slice(&self, span: std::ops::Range<usize>) -> Flags<'a> {
        match self {
            Flags::U8(f) => Flags::U8(&f[span]),
            Flags::I32(f) => Flags::I32(&f[span]),
            Flags::I64(f) => Flags::I64(&f[span]),
        }
    }

    #[inline(always)]
    fn get(&self, i: usize) -> bool {
        match self {
            Flags::U8(f) => f[i] != 0,
            Flags::I32(f) => f[i] != 0,
            Flags::I64(f) => f[i] != 0,
        }
    }
}

/// A batch to mask: `ids` holds rows of `width` tokens; `special` (same shape, set =
/// special or padding) is optional. Words, for whole-word masking, come from `words` (same
/// shape, -1 = none) or, without it, from `continuation` (one flag per vocabulary id: the
/// token continues the word before it, like WordPiece's `##` pieces) unless the token
/// before it is in `word_ends` (one flag per id: nothing continues it, as a byte-level
/// token ending in punctuation: "." then "The" at a line's start are two words) or the
/// token is flagged in `starts` (same shape: a word starts there whatever its id, as at a
/// sentence start: "world" then "Next" at a line's start are two words). `starts` only
/// serves the words from the vocabulary: with `words`, they alone say where words are.
///
/// With `bytes` (each id's bytes: a byte-level BPE vocabulary), the words from the
/// vocabulary come from the characters on both sides of each token boundary instead of
/// the two flag tables (which must still be given): a token continues the word before it
/// when it starts inside a character, or when the character it starts with and the one
/// before it are both word characters (a letter, digit or mark that is not a CJK
/// ideograph). A character whose bytes span tokens (GPT-2's curly quotes) is read whole,
/// which no per-id flag can do.
pub struct Batch<'a, T> {
    pub ids: &'a [T],
    pub width: usize,
    pub special: Option<Flags<'a>>,
    pub words: Option<&'a [i64]>,
    pub continuation: Option<&'a [bool]>,
    pub word_ends: Option<&'a [bool]>,
    pub starts: Option<Flags<'a>>,
    pub bytes: Option<&'a TokenBytes>,
}

/// Masks a batch: returns the new ids and the labels (-100 where nothing is predicted).
pub fn mask<T: Id + Default>(
    batch: &Batch<'_, T>,
    special_ids: &[bool],
    opts: &MaskOptions,
    num_threads: Option<usize>,
) -> Result<(Vec<T>, Vec<i64>)> {
    let mut out = vec![T::default(); batch.ids.len()];
    let mut labels = vec![0i64; batch.ids.len()];
    mask_into(batch, special_ids, opts, num_threads, &mut out, &mut labels)?;
    Ok((out, labels))
}

/// Masks a batch into `out` and `labels` (each as long as `batch.ids`; their contents are
/// overwritten, each row by the thread that masks it).
pub fn mask_into<T: Id>(
    batch: &Batch<'_, T>,
    special_ids: &[bool],
    opts: &MaskOptions,
    num_threads: Option<usize>,
    out: &mut [T],
    labels: &mut [i64],
) -> Result<()> {
    opts.validate(special_ids)?;
    let width = batch.width.max(1);
    let n = batch.ids.len();
    if n % width != 0 || out.len() != n || labels.len() != n {
        return Err(Error::Config("the batch is not a whole number of rows".into()));
    }
    if batch.special.is_some_and(|f| f.len() != n)
        || batch.words.is_some_and(|w| w.len() != n)
        || batch.starts.is_some_and(|f| f.len() != n)
    {
        return Err(Error::Config(
            "special_tokens_mask, word_ids and word_starts must have the shape of input_ids".into(),
        ));
    }
    let vocab = opts.vocab_size as usize;
    if batch.continuation.is_some_and(|c| c.len() != vocab)
        || batch.word_ends.is_some_and(|c| c.len() != vocab)
        || batch.bytes.is_some_and(|b| b.len() != vocab)
    {
        return Err(Error::Config("word continuation flags must cover the vocabulary".into()));
    }
    if opts.whole_word && batch.words.is_none() && batch.continuation.is_none() {
        return Err(Error::Config(
            "whole-word masking needs word_ids (from the tokenizer's encode_batch(return_word_ids=True)) or a masker made with Masker.from_tokenizer".into(),
        ));
    }
    let one_row = |row: usize, out: &mut [T], labels: &mut [i64]| {
        let span = row * width..(row + 1) * width;
        let input = Row {
            ids: &batch.ids[span.clone()],
            special: batch.special.map(|s| s.slice(span.clone())),
            words: batch.words.map(|w| &w[span.clone()]),
            continuation: batch.continuation,
            word_ends: batch.word_ends,
            starts: batch.starts.map(|f| f.slice(span)),
            bytes: batch.bytes,
        };
        let mut rng = Rng::new(&[opts.seed, opts.step, row as u64, tag::MASK]);
        mask_row(&input, special_ids, opts, &mut rng, out, labels).map_err(|col| (row, col))
    };
    let threads = parallel::resolve_threads(num_threads);
    let bad = if threads == 1 || n < 16 * 1024 {
        // small work: skip the hand-off to the pool
        let mut rows = out.chunks_mut(width).zip(labels.chunks_mut(width)).enumerate();
        rows.find_map(|(row, (out, labels))| one_row(row, out, labels).err())
    } else {
        parallel::install(Some(threads), || {
            out.par_chunks_mut(width)
                .zip(labels.par_chunks_mut(width))
                .enumerate()
                .with_min_len(8)
                .filter_map(|(row, (out, labels))| one_row(row, out, labels).err())
                .min()
        })
    };
    if let Some((row, col)) = bad {
        return Err(Error::TokenId {
            id: batch.ids[row * width + col].value(),
            vocab_size: opts.vocab_size,
        }
        .with_position(row, col));
    }
    Ok(())
}

struct Row<'a, T> {
    ids: &'a [T],
    special: Option<Flags<'a>>,
    words: Option<&'a [i64]>,
    continuation: Option<&'a [bool]>,
    word_ends: Option<&'a [bool]>,
    starts: Option<Flags<'a>>,
    bytes: Option<&'a TokenBytes>,
}

impl<T: Id> Row<'_, T> {
    /// Whether token `i` may be picked (its id is known to be in range).
    #[inline(always)]
    fn eligible(&self, i: usize, special_ids: &[bool]) -> bool {
        !special_ids[self.ids[i].value() as usize] && !self.special.is_some_and(|f| f.get(i))
    }

    /// Whether eligible token `i` continues the word of token `i - 1` (also eligible):
    /// the same word id, or without word ids a continuation piece, not flagged as a word
    /// start, after a token that does not end a word.
    #[inline(always)]
    fn continues_word(&self, i: usize) -> bool {
        match (self.words, self.continuation) {
            (Some(w), _) => i > 0 && w[i] >= 0 && w[i] == w[i - 1],
            (None, Some(c)) => {
                if self.starts.is_some_and(|f| f.get(i)) {
                    return false;
                }
                if let Some(bytes) = self.bytes {
                    return i > 0 && words::joins(self.ids, i, bytes);
                }
                c[self.ids[i].value() as usize]
                    && !(i > 0
                        && self.word_ends.is_some_and(|e| e[self.ids[i - 1].value() as usize]))
            }
            (None, None) => false,
        }
    }
}

/// Masks one row (`out` holds a copy of its ids, `labels` -100s); `Err(col)` names the
/// first id outside the vocabulary, found before anything is drawn.
fn mask_row<T: Id>(
    row: &Row<'_, T>,
    special_ids: &[bool],
    opts: &MaskOptions,
    rng: &mut Rng,
    out: &mut [T],
    labels: &mut [i64],
) -> std::result::Result<(), usize> {
    let vocab = u64::from(opts.vocab_size);
    if start_row(row.ids, vocab, out, labels) {
        return Err(row.ids.iter().position(|&id| id.value() as u64 >= vocab).unwrap_or(0));
    }
    match (opts.select, opts.whole_word) {
        (Select::Bernoulli, false) => bernoulli_tokens(row, special_ids, opts, rng, out, labels),
        (Select::Bernoulli, true) => bernoulli_words(row, special_ids, opts, rng, out, labels),
        _ => counted_units(row, special_ids, opts, rng, out, labels),
    }
    Ok(())
}

/// Copies the ids to `out`, fills `labels` with -100 and says whether an id is outside
/// `[0, vocab)`: one branch-free pass (negative ids wrap to huge values), vectorized with
/// AVX2 where the CPU has it.
#[inline]
fn start_row<T: Id>(ids: &[T], vocab: u64, out: &mut [T], labels: &mut [i64]) -> bool {
    #[inline(always)]
    fn pass<T: Id>(ids: &[T], vocab: u64, out: &mut [T], labels: &mut [i64]) -> bool {
        let mut bad = false;
        for ((o, l), &id) in out.iter_mut().zip(labels.iter_mut()).zip(ids) {
            *o = id;
            *l = -100;
            bad |= id.value() as u64 >= vocab;
        }
        bad
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn pass_avx2<T: Id>(ids: &[T], vocab: u64, out: &mut [T], labels: &mut [i64]) -> bool {
            pass(ids, vocab, out, labels)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above)
            return unsafe { pass_avx2(ids, vocab, out, labels) };
        }
    }
    pass(ids, vocab, out, labels)
}

/// Replaces token `i` (picked): `[MASK]`, a random non-special token or itself, with one
/// draw; its label becomes its original id.
struct Replacer {
    t_mask: u64,
    t_random: u64,
    mask_token_id: u32,
    vocab_size: u32,
}

impl Replacer {
    fn new(opts: &MaskOptions) -> Replacer {
        Replacer {
            t_mask: probability_threshold(opts.mask_prob),
            t_random: probability_threshold(opts.mask_prob + opts.random_prob),
            mask_token_id: opts.mask_token_id,
            vocab_size: opts.vocab_size,
        }
    }

    #[inline]
    fn replace<T: Id>(
        &self,
        i: usize,
        ids: &[T],
        special_ids: &[bool],
        rng: &mut Rng,
        out: &mut [T],
        labels: &mut [i64],
    ) {
        labels[i] = ids[i].value();
        let u = rng.next_u64();
        if u < self.t_mask {
            out[i] = T::from_id(self.mask_token_id);
        } else if u < self.t_random {
            out[i] = T::from_id(random_token(rng, special_ids, self.vocab_size));
        }
    }
}

/// The hot path, Bernoulli picking of single tokens, 64 at a time: the picks, and of those
/// the masked and the randomised, are drawn as bit words (see [`Rng::bernoulli_lanes`]);
/// only drawn tokens are looked at, and the ineligible among them dropped, which gives every
/// eligible token the same independent chance.
fn bernoulli_tokens<T: Id>(
    row: &Row<'_, T>,
    special_ids: &[bool],
    opts: &MaskOptions,
    rng: &mut Rng,
    out: &mut [T],
    labels: &mut [i64],
) {
    // one loop per kind of special mask, so the hot loop does no dispatch
    let ids = row.ids;
    match row.special {
        None => bernoulli_tokens_with(ids, special_ids, opts, rng, out, labels, |_| false),
        Some(Flags::U8(f)) => {
            bernoulli_tokens_with(ids, special_ids, opts, rng, out, labels, |i| f[i] != 0)
        }
        Some(Flags::I32(f)) => {
            bernoulli_tokens_with(ids, special_ids, opts, rng, out, labels, |i| f[i] != 0)
        }
        Some(Flags::I64(f)) => {
            bernoulli_tokens_with(ids, special_ids, opts, rng, out, labels, |i| f[i] != 0)
        }
    }
}

#[inline(always)]
fn bernoulli_tokens_with<T: Id>(
    ids: &[T],
    special_ids: &[bool],
    opts: &MaskOptions,
    rng: &mut Rng,
    out: &mut [T],
    labels: &mut [i64],
    flagged: impl Fn(usize) -> bool,
) {
    let pick = Binary::new(opts.probability);
    let masked = Binary::new(opts.mask_prob);
    // of the picked tokens not masked, the share replaced by a random token
    let rest = 1.0 - opts.mask_prob;
    let random = Binary::new(if rest > 0.0 { opts.random_prob / rest } else { 0.0 });
    let mask_id = T::from_id(opts.mask_token_id);
    for (w, chunk) in ids.chunks(64).enumerate() {
        let base = w * 64;
        let lanes = if chunk.len() == 64 { u64::MAX } else { (1u64 << chunk.len()) - 1 };
        let drawn = rng.bernoulli_lanes(&pick) & lanes;
        if drawn == 0 {
            continue;
        }
        let to_mask = rng.bernoulli_lanes(&masked);
        let to_random = !to_mask & rng.bernoulli_lanes(&random);
        let mut picked = 0u64;
        for j in Bits(drawn) {
            // branch-free: an ineligible token keeps its id and its -100 label
            let (i, id) = (base + j, chunk[j]);
            let keep = !special_ids[id.value() as usize] & !flagged(i);
            labels[i] = if keep { id.value() } else { -100 };
            out[i] = if keep && to_mask >> j & 1 == 1 { mask_id } else { id };
            picked |= u64::from(keep) << j;
        }
        for j in Bits(picked & to_random) {
            out[base + j] = T::from_id(random_token(rng, special_ids, opts.vocab_size));
        }
    }
}

/// Bernoulli picking of whole words in one pass: a draw at each word's first eligible
/// piece, which the rest of the word follows.
fn bernoulli_words<T: Id>(
    row: &Row<'_, T>,
    special_ids: &[bool],
    opts: &MaskOptions,
    rng: &mut Rng,
    out: &mut [T],
    labels: &mut [i64],
) {
    let pick = Binary::new(opts.probability);
    let replacer = Replacer::new(opts);
    let (mut draws, mut left) = (0u64, 0u32); // unused lanes of the last pick word
    let (mut previous_eligible, mut picked) = (false, false);
    for i in 0..row.ids.len() {
        if !row.eligible(i, special_ids) {
            previous_eligible = false;
            continue;
        }
        if !(previous_eligible && row.continues_word(i)) {
            if left == 0 {
                draws = rng.bernoulli_lanes(&pick);
                left = 64;
            }
            picked = draws & 1 == 1;
            draws >>= 1;
            left -= 1;
        }
        previous_eligible = true;
        if picked {
            replacer.replace(i, row.ids, special_ids, rng, out, labels);
        }
    }
}

/// Exact-count and span picking: units (runs of eligible tokens of one word, or single
/// tokens) are picked until `round(p × eligible tokens)` tokens are covered.
fn counted_units<T: Id>(
    row: &Row<'_, T>,
    special_ids: &[bool],
    opts: &MaskOptions,
    rng: &mut Rng,
    out: &mut [T],
    labels: &mut [i64],
) {
    let mut units: Vec<(u32, u32)> = Vec::new();
    let mut n_tokens = 0usize;
    let mut previous_eligible = false;
    for i in 0..row.ids.len() {
        if !row.eligible(i, special_ids) {
            previous_eligible = false;
            continue;
        }
        n_tokens += 1;
        match units.last_mut() {
            Some(last) if opts.whole_word && previous_eligible && row.continues_word(i) => {
                last.1 += 1
            }
            _ => units.push((i as u32, 1)),
        }
        previous_eligible = true;
    }
    let budget = (opts.probability * n_tokens as f64).round_ties_even() as usize;
    let mut picked: Vec<usize> = Vec::new(); // unit indices
    match opts.select {
        Select::Exact | Select::Bernoulli => {
            // units in random order (a partial Fisher-Yates shuffle), each taken unless it
            // would overshoot the budget
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
            picked.sort_unstable(); // replacements drawn in position order
        }
        Select::Span { p, max } => {
            let mut taken = vec![false; units.len()];
            let (mut covered, mut tries) = (0, 0);
            while covered < budget && !units.is_empty() && tries < 64 * budget.max(1) {
                tries += 1;
                let len = span_length(rng.uniform(), p, max);
                let start = rng.below(units.len() as u64) as usize;
                for u in start..(start + len).min(units.len()) {
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
            picked.sort_unstable();
        }
    }
    let replacer = Replacer::new(opts);
    for u in picked {
        let (start, len) = units[u];
        for i in start as usize..(start + len) as usize {
            replacer.replace(i, row.ids, special_ids, rng, out, labels);
        }
    }
}

/// A uniform id among the non-special ones (validation ensures there is one).
#[inline]
fn random_token(rng: &mut Rng, special_ids: &[bool], vocab_size: u32) -> u32 {
    loop {
        let r = rng.below(u64::from(vocab_size)) as usize;
        if !special_ids[r] {
            return r as u32;
        }
    }
}

/// The positions of the set bits of a word, lowest first.
struct Bits(u64);

impl Iterator for Bits {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let j = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(j)
    }
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

/// A span length drawn from SpanBERT's distribution: geometric with parameter `p`,
/// truncated to `[1, max]` and renormalised (P(k) ∝ p(1-p)^(k-1); mean 3.8 at p = 0.2,
/// max = 10), by inverting its distribution function at `u` in [0, 1). (Cutting an
/// unbounded draw at `max` instead would pile the tail onto `max`: 13% of spans, not 3%.)
fn span_length(u: f64, p: f64, max: usize) -> usize {
    if p >= 1.0 || max <= 1 {
        return 1;
    }
    // ln and exp near 1 through ln_1p/exp_m1: a tiny p stays a near-uniform length
    let log_q = (-p).ln_1p();
    let mass = -(max as f64 * log_q).exp_m1(); // 1 - (1-p)^max
    let k = ((-u * mass).ln_1p() / log_q).floor();
    if k.is_finite() {
        (1 + k.max(0.0) as usize).min(max)
    } else {
        1
    }
}

#[cfg(test)]
mod tests;
