//! From encoded sequences to model inputs: truncation (with stride windows), special-token
//! templates, padding, and the flat arrays a batch becomes. Model-independent; the
//! semantics are HF `tokenizers`' (`TruncationParams`, `TemplateProcessing`, `PaddingParams`).

use crate::error::{Error, Result};
use crate::memory::check_room;

/// One encoded sequence, before special tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seq {
    pub ids: Vec<u32>,
    /// `[start, end)` in characters of the original text.
    pub offsets: Vec<(u32, u32)>,
    /// Word index within the sequence (-1: none).
    pub words: Vec<i32>,
    /// Each token's offsets as the first of a row, where they differ from `offsets`
    /// (HF's ByteLevel `trim_offsets` with `add_prefix_space` keeps the one leading space
    /// of a row's first token, the first of every truncation window too); empty when no
    /// token's do.
    pub first_offsets: Vec<(u32, u32)>,
}

impl Seq {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it holds no token.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Empties it, keeping its memory.
    pub fn clear(&mut self) {
        self.ids.clear();
        self.offsets.clear();
        self.words.clear();
        self.first_offsets.clear();
    }

    /// Appends the tokens of one word of a text given split into words (HF's pretokenized
    /// input), numbered `index`; their offsets stay within the word, as HF's do.
    pub fn push_word(&mut self, word: &Seq, index: i32) {
        // first offsets are kept for every token once one token's differ (those before
        // it: as they are); the first word's own count as such a difference
        if !self.first_offsets.is_empty() || !word.first_offsets.is_empty() {
            let kept = self.first_offsets.len();
            self.first_offsets.extend_from_slice(&self.offsets[kept..]);
            let firsts =
                if word.first_offsets.is_empty() { &word.offsets } else { &word.first_offsets };
            self.first_offsets.extend_from_slice(firsts);
        }
        self.ids.extend_from_slice(&word.ids);
        self.offsets.extend_from_slice(&word.offsets);
        self.words.extend(std::iter::repeat_n(index, word.len()));
    }

    fn slice(&self, start: usize, end: usize) -> Seq {
        let mut offsets = self.offsets[start..end].to_vec();
        if let (Some(first), Some(&span)) = (offsets.first_mut(), self.first_offsets.get(start)) {
            *first = span; // the window's first token, as a row's first
        }
        Seq {
            ids: self.ids[start..end].to_vec(),
            offsets,
            words: self.words[start..end].to_vec(),
            first_offsets: self
                .first_offsets
                .get(start..end)
                .map_or_else(Vec::new, <[(u32, u32)]>::to_vec),
        }
    }

    /// Cuts the sequence to `max_len` tokens; the rest becomes overlapping windows of
    /// `max_len` tokens sharing `stride` tokens with their neighbour. Returns the windows,
    /// the kept part first (HF `Encoding::truncate`).
    fn windows(&self, max_len: usize, stride: usize, side: Side) -> Vec<Seq> {
        let n = self.len();
        if max_len >= n {
            return vec![self.clone()];
        }
        if max_len == 0 {
            return vec![Seq::default(), self.clone()];
        }
        let step = max_len - stride; // stride < max_len is checked by the caller
        let mut parts = Vec::new();
        match side {
            Side::Right => {
                let mut start = 0;
                loop {
                    let stop = (start + max_len).min(n);
                    parts.push((start, stop));
                    if stop == n {
                        break;
                    }
                    start += step;
                }
            }
            Side::Left => {
                let mut stop = n;
                loop {
                    let start = stop.saturating_sub(max_len);
                    parts.push((start, stop));
                    if start == 0 || stop <= step {
                        break;
                    }
                    stop -= step;
                }
            }
        }
        parts.into_iter().map(|(a, b)| self.slice(a, b)).collect()
    }
}

/// The texts (or the second texts) of a batch.
#[derive(Clone, Copy, Debug)]
pub enum Texts<'a> {
    Whole(&'a [&'a str]),
    /// Each text split into words (HF's `is_pretokenized`): every word is encoded as a text
    /// of its own, and its tokens carry the word's index.
    Words(&'a [Vec<&'a str>]),
}

impl<'a> Texts<'a> {
    /// Number of texts.
    pub fn len(&self) -> usize {
        match self {
            Texts::Whole(t) => t.len(),
            Texts::Words(w) => w.len(),
        }
    }

    /// Whether there is no text.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The words of text `i` (a whole text is one).
    pub fn pieces(self, i: usize) -> &'a [&'a str] {
        match self {
            Texts::Whole(t) => std::slice::from_ref(&t[i]),
            Texts::Words(w) => &w[i],
        }
    }

    /// Encodes text `i` into `out` (cleared first) with `encode`, which appends one text's
    /// tokens to a sequence; `word` is scratch space.
    ///
    /// With `prefix = Some(n)` only the first `n` tokens matter (truncation keeps fewer; see
    /// [`Options::prefix_tokens`]): a long text is first encoded up to a cut where its
    /// encoding is known to split (see [`prefix_cut`]; the caller vouches that its
    /// tokenizer's pieces never cross such a cut), and that prefix is kept when it gives `n`
    /// tokens or more, so the text truncation drops is never encoded. Otherwise (or when no
    /// cut is found) the whole text is encoded. Words stop at the first that reaches `n`.
    pub fn encode_into(
        &self,
        i: usize,
        prefix: Option<usize>,
        word: &mut Seq,
        out: &mut Seq,
        mut encode: impl FnMut(&str, &mut Seq) -> Result<()>,
    ) -> Result<()> {
        out.clear();
        match self {
            Texts::Whole(t) => {
                let text = t[i];
                if let Some(n) = prefix {
                    let mut want = n.saturating_mul(PREFIX_BYTES_PER_TOKEN);
                    while let Some(cut) = prefix_cut(text.as_bytes(), want) {
                        encode(&text[..cut], out)?;
                        if out.len() >= n {
                            return Ok(());
                        }
                        out.clear();
                        want = cut.saturating_mul(4);
                    }
                }
                encode(text, out)
            }
            Texts::Words(w) => {
                for (j, piece) in w[i].iter().enumerate() {
                    if prefix.is_some_and(|n| out.len() >= n) {
                        break;
                    }
                    word.clear();
                    encode(piece, word)?;
                    let index = i32::try_from(j)
                        .map_err(|_| Error::Config(format!("text {i} has more than 2^31 words")))?;
                    out.push_word(word, index);
                }
                Ok(())
            }
        }
    }
}

/// Bytes of text first encoded per token wanted (English runs about 4.5 a token; a prefix
/// that falls short is grown fourfold).
const PREFIX_BYTES_PER_TOKEN: usize = 6;

/// The first cut at or after byte `from` of `text` (never at 0 or past the end): a space
/// (`b' '`) right after an ASCII letter or digit, the cut falling between them. Every
/// pre-tokenizer the prefix path is used with (BERT's; GPT-2's, cl100k's and o200k's
/// patterns) ends a piece there and the normalizers act per character there, so the
/// encoding of `text[..cut]` is the start of `text`'s (given no added token holds white
/// space or takes it on its right, which the callers check).
pub fn prefix_cut(text: &[u8], from: usize) -> Option<usize> {
    let mut at = from.max(1);
    while at < text.len() {
        let space = at + text[at..].iter().position(|&b| b == b' ')?;
        if text[space - 1].is_ascii_alphanumeric() {
            return Some(space);
        }
        at = space + 1;
    }
    None
}

/// `requested`, or one thread for a small batch (see [`crate::parallel::threads_for_bytes`]).
pub fn threads_for<'a>(
    requested: Option<usize>,
    texts: Texts<'a>,
    pairs: Option<Texts<'a>>,
) -> Option<usize> {
    fn lengths<'a>(t: Texts<'a>) -> impl Iterator<Item = usize> + 'a {
        (0..t.len()).flat_map(move |i| t.pieces(i).iter().map(|p| p.len()))
    }
    crate::parallel::threads_for_bytes(
        requested,
        lengths(texts).chain(pairs.into_iter().flat_map(lengths)),
    )
}

/// Checks that a batch's second texts are one per text.
pub fn check_pairs(texts: Texts<'_>, pairs: Option<Texts<'_>>) -> Result<()> {
    match pairs {
        Some(p) if p.len() != texts.len() => Err(Error::Config(format!(
            "got {} texts but {} pairs; pass one second sequence per text",
            texts.len(),
            p.len()
        ))),
        _ => Ok(()),
    }
}

/// Bytes a token takes in a [`Seq`] (id, offsets, word, first-row offsets at most).
const SEQ_TOKEN_BYTES: usize = 4 + 8 + 4 + 8;
/// Bytes a token takes in [`Rows`] (id, type id, special flag, word, offsets).
const ROW_TOKEN_BYTES: usize = 4 + 4 + 1 + 4 + 8;
/// Bytes a row takes in [`Rows`] besides its tokens (its start and sample).
const ROW_BYTES: usize = 8 + 4;

/// How many windows [`Seq::windows`] cuts `len` tokens into (the kept part included).
fn window_count(len: usize, max_len: usize, stride: usize) -> usize {
    if max_len >= len {
        return 1;
    }
    if max_len == 0 {
        return 2;
    }
    let step = max_len - stride; // (at least 1: stride < max_len is checked first)
    1 + (len - max_len).div_ceil(step)
}

/// Which end of a sequence to cut or pad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

/// How to share the cuts between the two sequences of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    LongestFirst,
    OnlyFirst,
    OnlySecond,
}

/// Truncation options.
#[derive(Clone, Copy, Debug)]
pub struct Truncation {
    pub max_length: usize,
    pub strategy: Strategy,
    pub stride: usize,
    pub side: Side,
}

/// Padding target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadTo {
    /// The longest row of the batch.
    Longest,
    /// A fixed length (rows already longer stay as they are).
    Fixed(usize),
}

/// Padding options.
#[derive(Clone, Copy, Debug)]
pub struct Padding {
    pub to: PadTo,
    pub multiple_of: Option<usize>,
    pub pad_id: u32,
    pub pad_type_id: u32,
    pub side: Side,
}

/// A piece of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// A special token and its type id.
    Special(u32, u32),
    /// The first sequence, with this type id.
    A(u32),
    /// The second sequence, with this type id.
    B(u32),
}

/// Special-token templates for single sequences and pairs (HF `TemplateProcessing`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub single: Vec<Part>,
    pub pair: Vec<Part>,
}

impl Template {
    /// `[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]` (type ids 0, then 1 from B).
    pub fn bert(cls: u32, sep: u32) -> Template {
        use Part::*;
        Template {
            single: vec![Special(cls, 0), A(0), Special(sep, 0)],
            pair: vec![Special(cls, 0), A(0), Special(sep, 0), B(1), Special(sep, 1)],
        }
    }

    /// No special tokens; a pair is the two sequences back to back.
    pub fn none() -> Template {
        Template { single: vec![Part::A(0)], pair: vec![Part::A(0), Part::B(1)] }
    }

    /// Number of special tokens added to a single sequence or a pair.
    pub fn added(&self, pair: bool) -> usize {
        let parts = if pair { &self.pair } else { &self.single };
        parts.iter().filter(|p| matches!(p, Part::Special(..))).count()
    }
}

/// What to do with each input of a batch besides encoding it.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Apply the template's special tokens.
    pub add_special_tokens: bool,
    pub truncation: Option<Truncation>,
    /// Keep the overflow windows of truncated inputs as extra rows.
    pub overflow: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { add_special_tokens: true, truncation: None, overflow: false }
    }
}

impl Options {
    /// How many tokens of a single text (no pair) decide its row: the `max_length` less the
    /// special tokens, plus one (so that a text longer than that is still seen to be cut:
    /// the stride checks depend on it), when the text is truncated on the right and no
    /// overflow windows are asked for; `None` when every token may count.
    pub fn prefix_tokens(&self, template: &Template, pair: bool) -> Option<usize> {
        let t = self.truncation.as_ref()?;
        let right = t.side == Side::Right && t.strategy != Strategy::OnlySecond;
        if pair || self.overflow || !right {
            return None;
        }
        let added = if self.add_special_tokens { template.added(false) } else { 0 };
        t.max_length.checked_sub(added).map(|keeps| keeps + 1)
    }

    /// Refuses a stride longer than what a truncated single sequence keeps (`max_length`
    /// less the template's special tokens), whatever the texts, as HF does when truncation
    /// is set; a stride equal to it is refused once a row must be cut (see [`rows`]).
    pub fn check(&self, template: &Template) -> Result<()> {
        let Some(t) = &self.truncation else { return Ok(()) };
        let added = if self.add_special_tokens { template.added(false) } else { 0 };
        let keeps = t.max_length.saturating_sub(added);
        if t.stride > keeps && keeps == 0 {
            return Err(Error::Config(format!(
                "stride={} needs room for text, but max_length={} leaves none after the {added} special tokens; raise max_length or use stride=0",
                t.stride, t.max_length
            )));
        }
        if t.stride > keeps {
            return Err(Error::Config(format!(
                "stride={} must be smaller than the {keeps} tokens a truncated sequence keeps \
                 (max_length={} less the {added} special tokens); lower stride or raise \
                 max_length",
                t.stride, t.max_length
            )));
        }
        Ok(())
    }
}

/// A token of the first sequence (in [`Rows::special`]).
pub const FIRST: u8 = 0;
/// A token the template added.
pub const TEMPLATE: u8 = 1;
/// A token of the second sequence.
pub const SECOND: u8 = 2;

/// The rows of a batch (model inputs), stored field by field: row `i` spans
/// `starts[i]..starts[i + 1]` of every field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rows {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    /// Where each token comes from: [`FIRST`], [`TEMPLATE`] or [`SECOND`].
    pub special: Vec<u8>,
    pub words: Vec<i32>,
    pub offsets: Vec<(u32, u32)>,
    starts: Vec<usize>,
    /// Index of the input each row comes from (several rows with overflow windows).
    pub samples: Vec<u32>,
}

impl Default for Rows {
    fn default() -> Self {
        Rows {
            ids: Vec::new(),
            type_ids: Vec::new(),
            special: Vec::new(),
            words: Vec::new(),
            offsets: Vec::new(),
            starts: vec![0],
            samples: Vec::new(),
        }
    }
}

impl Rows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Where row `i` sits in each field.
    pub fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.starts[i]..self.starts[i + 1]
    }

    /// The ids of row `i`.
    pub fn ids_of(&self, i: usize) -> &[u32] {
        &self.ids[self.range(i)]
    }

    /// Length of the longest row.
    pub fn longest(&self) -> usize {
        self.starts.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
    }

    fn push_seq(&mut self, seq: &Seq, type_id: u32, source: u8) {
        self.ids.extend_from_slice(&seq.ids);
        self.type_ids.extend(std::iter::repeat_n(type_id, seq.len()));
        self.special.extend(std::iter::repeat_n(source, seq.len()));
        self.words.extend_from_slice(&seq.words);
        self.offsets.extend_from_slice(&seq.offsets);
    }

    fn push_special(&mut self, id: u32, type_id: u32) {
        self.ids.push(id);
        self.type_ids.push(type_id);
        self.special.push(TEMPLATE);
        self.words.push(-1);
        self.offsets.push((0, 0));
    }

    fn end_row(&mut self, sample: u32) {
        self.starts.push(self.ids.len());
        self.samples.push(sample);
    }

    /// Appends the rows of `other`.
    pub fn append(&mut self, other: Rows) {
        let base = self.ids.len();
        self.ids.extend(other.ids);
        self.type_ids.extend(other.type_ids);
        self.special.extend(other.special);
        self.words.extend(other.words);
        self.offsets.extend(other.offsets);
        self.starts.extend(other.starts[1..].iter().map(|s| s + base));
        self.samples.extend(other.samples);
    }

    /// Row `i`'s ids padded to `len` (HF `Encoding::pad`: nothing if already as long).
    pub fn padded_ids(&self, i: usize, len: usize, p: &Padding) -> Vec<u32> {
        let ids = self.ids_of(i);
        let n = len.saturating_sub(ids.len());
        let pad = std::iter::repeat_n(p.pad_id, n);
        match p.side {
            Side::Right => ids.iter().copied().chain(pad).collect(),
            Side::Left => pad.chain(ids.iter().copied()).collect(),
        }
    }
}

/// Truncates a sequence or pair to fit `t.max_length` minus the template's special tokens;
/// returns the (first, second) windows, each with the kept part first.
fn truncate(
    a: &Seq,
    b: Option<&Seq>,
    t: &Truncation,
    added: usize,
    overflow: bool,
) -> Result<(Vec<Seq>, Option<Vec<Seq>>)> {
    let Some(max) = t.max_length.checked_sub(added) else {
        return Err(Error::Config(format!(
            "max_length={} is smaller than the {added} special tokens added to each {}; use max_length >= {added}",
            t.max_length,
            if b.is_some() { "pair" } else { "sequence" }
        )));
    };
    let total = a.len() + b.map_or(0, Seq::len);
    let cut = |s: &Seq, n: usize| -> Result<Vec<Seq>> {
        if n < s.len() && n == 0 {
            if !overflow {
                // the text is cut away whole (HF: [CLS] [SEP] [SEP]); a stride is unused
                return Ok(vec![Seq::default()]);
            }
            // its one overflow window would be the whole text: a row longer than
            // max_length, which transformers returns (ragged) and a grid cannot hold
            let need =
                added + if b.is_some() && t.strategy == Strategy::LongestFirst { 2 } else { 1 };
            return Err(Error::Config(format!(
                "max_length={} leaves the {} no token after the {added} special tokens: its overflow window (return_overflowing_tokens) would be the whole text, a row longer than max_length; use max_length >= {need}",
                t.max_length,
                if b.is_none() { "text" } else if std::ptr::eq(s, a) { "pair's first text" } else { "pair's second text" },
            )));
        }
        if n < s.len() && n > 0 && t.stride >= n {
            return Err(Error::Config(format!(
                "stride={} must be smaller than the {n} tokens a truncated sequence keeps; lower stride or raise max_length",
                t.stride
            )));
        }
        let count = window_count(s.len(), n, t.stride);
        check_room(
            count.checked_mul(n.max(1)),
            SEQ_TOKEN_BYTES,
            "the overflow windows of one text (return_overflowing_tokens)",
        )?;
        Ok(s.windows(n, t.stride, t.side))
    };
    if max == 0 {
        return Ok((cut(a, 0)?, b.map(|b| cut(b, 0)).transpose()?));
    }
    if total <= max {
        return Ok((vec![a.clone()], b.map(|b| vec![b.clone()])));
    }
    let to_remove = total - max;
    match (t.strategy, b) {
        (Strategy::LongestFirst, Some(b)) => {
            let (mut n1, mut n2) = (a.len(), b.len());
            let swap = n1 > n2;
            if swap {
                std::mem::swap(&mut n1, &mut n2);
            }
            n2 = if n1 > max { n1 } else { (max - n1).max(n1) };
            if n1 + n2 > max {
                n1 = max / 2;
                n2 = n1 + max % 2;
            }
            if swap {
                std::mem::swap(&mut n1, &mut n2);
            }
            Ok((cut(a, n1)?, Some(cut(b, n2)?)))
        }
        (Strategy::LongestFirst, None) | (Strategy::OnlyFirst, None) => {
            Ok((cut(a, total - to_remove)?, None))
        }
        (Strategy::OnlySecond, None) => Err(Error::Config(
            "truncation='only_second' needs pairs; pass pairs or use 'longest_first'".into(),
        )),
        (Strategy::OnlyFirst, Some(b)) => {
            if a.len() <= to_remove {
                return Err(too_short("only_first", "first", a.len(), to_remove, t.max_length));
            }
            Ok((cut(a, a.len() - to_remove)?, Some(vec![b.clone()])))
        }
        (Strategy::OnlySecond, Some(b)) => {
            if b.len() <= to_remove {
                return Err(too_short("only_second", "second", b.len(), to_remove, t.max_length));
            }
            Ok((vec![a.clone()], Some(cut(b, b.len() - to_remove)?)))
        }
    }
}

fn too_short(
    strategy: &str,
    which: &str,
    len: usize,
    to_remove: usize,
    max_length: usize,
) -> Error {
    Error::Config(format!(
        "truncation='{strategy}' cannot fit this pair in max_length={max_length}: {to_remove} tokens must go but the {which} sequence has only {len}; use truncation='longest_first' or a larger max_length"
    ))
}

/// Turns one input (a sequence or a pair) into rows: truncation windows, template, in HF's
/// order (the kept part first; with a pair, each window of the first with the second's kept
/// part and then with each of its windows, and finally the first's kept part with each window
/// of the second). Without `overflow`, only the kept part.
pub fn rows(
    a: &Seq,
    b: Option<&Seq>,
    template: &Template,
    opts: &Options,
    sample: u32,
    out: &mut Rows,
) -> Result<()> {
    let add_special_tokens = opts.add_special_tokens;
    let added = if add_special_tokens { template.added(b.is_some()) } else { 0 };
    let (wa, wb) = match &opts.truncation {
        Some(t) => truncate(a, b, t, added, opts.overflow).map_err(|e| match e {
            // which input of the batch: the error of a big batch must lead to it
            Error::Config(m) => Error::Config(format!(
                "{} {sample}: {m}",
                if b.is_some() { "pair" } else { "text" }
            )),
            other => other,
        })?,
        None => (vec![a.clone()], b.map(|b| vec![b.clone()])),
    };
    let parts = if b.is_some() { &template.pair } else { &template.single };
    let mut emit = |sa: &Seq, sb: Option<&Seq>| {
        for part in parts {
            match *part {
                Part::Special(id, ty) if add_special_tokens => out.push_special(id, ty),
                Part::Special(..) => {}
                Part::A(ty) => out.push_seq(sa, ty, FIRST),
                Part::B(ty) => {
                    if let Some(sb) = sb {
                        out.push_seq(sb, ty, SECOND);
                    }
                }
            }
        }
        out.end_row(sample);
    };
    if !opts.overflow {
        emit(&wa[0], wb.as_ref().map(|w| &w[0]));
        return Ok(());
    }
    match wb {
        None => {
            for w in &wa {
                emit(w, None);
            }
        }
        Some(wb) => {
            // every window of the first with every window of the second: a product, which
            // two long texts and a short max_length make past any memory (an abort)
            let longest = |w: &[Seq]| w.iter().map(Seq::len).max().unwrap_or(0);
            let row = (longest(&wa) + longest(&wb) + added) * ROW_TOKEN_BYTES + ROW_BYTES;
            check_room(
                wa.len().checked_mul(wb.len()),
                row,
                "the overflow windows of a pair (return_overflowing_tokens: each window of \
                 the first text with each of the second)",
            )?;
            emit(&wa[0], Some(&wb[0]));
            for oa in &wa[1..] {
                emit(oa, Some(&wb[0]));
                for ob in &wb[1..] {
                    emit(oa, Some(ob));
                }
            }
            for ob in &wb[1..] {
                emit(&wa[0], Some(ob));
            }
        }
    }
    Ok(())
}

/// A batch's rows in chunks (as the parallel workers made them), in input order.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub chunks: Vec<Rows>,
}

impl Batch {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Rows::len).sum()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Length of the longest row.
    pub fn longest(&self) -> usize {
        self.chunks.iter().map(Rows::longest).max().unwrap_or(0)
    }

    /// Every row as (its chunk, its index there).
    pub fn rows(&self) -> impl Iterator<Item = (&Rows, usize)> {
        self.chunks.iter().flat_map(|c| (0..c.len()).map(move |i| (c, i)))
    }

    /// The input each row comes from.
    pub fn samples(&self) -> Vec<u32> {
        self.chunks.iter().flat_map(|c| c.samples.iter().copied()).collect()
    }

    /// One field of every row as a row-major `(rows, width)` grid (`(rows, width, 2)` for
    /// offsets), padded on the padding's side with the field's padding value, filled in
    /// parallel by chunk; rows must be at most `width` long (see [`padded_length`]).
    pub fn grid(
        &self,
        width: usize,
        pad: Option<&Padding>,
        field: Field,
        num_threads: Option<usize>,
    ) -> Vec<i64> {
        let k = if field == Field::Offsets { 2 } else { 1 };
        let mut out = vec![0i64; self.len() * width * k];
        self.grid_into(width, pad, field, num_threads, &mut out);
        out
    }

    /// [`Batch::grid`] written into `out`, which must hold exactly the grid; every element
    /// is written, whatever it held.
    pub fn grid_into(
        &self,
        width: usize,
        pad: Option<&Padding>,
        field: Field,
        num_threads: Option<usize>,
        out: &mut [i64],
    ) {
        use rayon::prelude::*;
        let k = if field == Field::Offsets { 2 } else { 1 };
        assert_eq!(out.len(), self.len() * width * k, "the grid's buffer has another size");
        let out_len = out.len();
        let mut parts = Vec::with_capacity(self.chunks.len());
        let mut rest = out;
        for chunk in &self.chunks {
            let (head, tail) = rest.split_at_mut(chunk.len() * width * k);
            parts.push((chunk, head));
            rest = tail;
        }
        // small arrays are filled on the calling thread: a pool's hand-off costs more
        let serial = parts.len() <= 1
            || out_len < 1 << 16
            || crate::parallel::resolve_threads(num_threads) == 1;
        if serial {
            parts.into_iter().for_each(|(chunk, dst)| fill(chunk, width, pad, field, dst));
        } else {
            crate::parallel::install(num_threads, || {
                parts.into_par_iter().for_each(|(chunk, dst)| fill(chunk, width, pad, field, dst));
            });
        }
    }
}

/// The length every row is padded to; None when rounding it up to the multiple
/// overflows.
pub fn padded_length(batch: &Batch, p: &Padding) -> Option<usize> {
    let longest = batch.longest();
    let len = match p.to {
        PadTo::Longest => longest,
        PadTo::Fixed(n) => n.max(longest),
    };
    match p.multiple_of {
        Some(m) if m > 1 => len.div_ceil(m).checked_mul(m),
        _ => Some(len),
    }
}

/// A field of the rows, as one array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Ids,
    TypeIds,
    Attention,
    Special,
    Words,
    /// 0 for the first sequence's tokens, 1 for the second's, -1 for the others (HF's
    /// `sequence_ids`).
    Sequence,
    /// Two values per token.
    Offsets,
}

/// Writes one field of `rows` into `out`, a `(rows, width[, 2])` grid.
fn fill(rows: &Rows, width: usize, pad: Option<&Padding>, field: Field, out: &mut [i64]) {
    let k = if field == Field::Offsets { 2 } else { 1 };
    let fill = match field {
        Field::Ids => pad.map_or(0, |p| i64::from(p.pad_id)),
        Field::TypeIds => pad.map_or(0, |p| i64::from(p.pad_type_id)),
        Field::Special => 1,
        Field::Words | Field::Sequence => -1,
        Field::Attention | Field::Offsets => 0,
    };
    let left = pad.is_some_and(|p| p.side == Side::Left);
    out.fill(fill);
    for i in 0..rows.len() {
        let range = rows.range(i);
        let len = range.len().min(width);
        let start = i * width + if left { width - len } else { 0 };
        let dst = &mut out[start * k..(start + len) * k];
        match field {
            Field::Ids => copy(dst, &rows.ids[range]),
            Field::TypeIds => copy(dst, &rows.type_ids[range]),
            Field::Attention => dst.fill(1),
            Field::Special => {
                for (d, &s) in dst.iter_mut().zip(&rows.special[range]) {
                    *d = i64::from(s == TEMPLATE);
                }
            }
            Field::Sequence => {
                for (d, &s) in dst.iter_mut().zip(&rows.special[range]) {
                    *d = match s {
                        FIRST => 0,
                        SECOND => 1,
                        _ => -1,
                    };
                }
            }
            Field::Words => copy(dst, &rows.words[range]),
            Field::Offsets => {
                for (d, &(s, e)) in dst.chunks_exact_mut(2).zip(&rows.offsets[range]) {
                    d[0] = i64::from(s);
                    d[1] = i64::from(e);
                }
            }
        }
    }
}

#[inline]
fn copy<T: Copy + Into<i64>>(dst: &mut [i64], src: &[T]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_cuts_fall_before_a_space_after_an_ascii_letter_or_digit() {
        let text = "ab  é x! y7 z";
        let cuts: Vec<usize> =
            (0..text.len()).filter_map(|at| prefix_cut(text.as_bytes(), at)).collect();
        // after "ab" (byte 2) and "y7" (12); none after "é", "x!" or a space
        assert!(cuts.iter().all(|&c| c == 2 || c == 12), "{cuts:?}");
        assert_eq!(prefix_cut(text.as_bytes(), 0), Some(2));
        assert_eq!(prefix_cut(text.as_bytes(), 3), Some(12));
        assert_eq!(prefix_cut(text.as_bytes(), 13), None);
        assert_eq!(prefix_cut(b" a", 0), None);
        assert_eq!(prefix_cut(b"a ", 0), Some(1));
        assert_eq!(prefix_cut(b"", 0), None);
    }

    #[test]
    fn only_a_single_text_cut_on_the_right_without_windows_is_encoded_in_part() {
        let template = Template::bert(1, 2);
        let cut = |max_length, strategy, side, overflow| Options {
            add_special_tokens: true,
            truncation: Some(Truncation { max_length, strategy, stride: 0, side }),
            overflow,
        };
        let (first, right) = (Strategy::LongestFirst, Side::Right);
        assert_eq!(cut(10, first, right, false).prefix_tokens(&template, false), Some(9));
        assert_eq!(
            cut(10, Strategy::OnlyFirst, right, false).prefix_tokens(&template, false),
            Some(9)
        );
        assert_eq!(cut(10, first, right, false).prefix_tokens(&template, true), None);
        assert_eq!(cut(10, first, Side::Left, false).prefix_tokens(&template, false), None);
        assert_eq!(cut(10, first, right, true).prefix_tokens(&template, false), None);
        assert_eq!(
            cut(10, Strategy::OnlySecond, right, false).prefix_tokens(&template, false),
            None
        );
        assert_eq!(cut(1, first, right, false).prefix_tokens(&template, false), None);
        assert_eq!(Options::default().prefix_tokens(&template, false), None);
        let plain = Options { add_special_tokens: false, ..cut(10, first, right, false) };
        assert_eq!(plain.prefix_tokens(&template, false), Some(11));
    }

    fn seq(n: usize) -> Seq {
        let n32 = n as u32;
        Seq {
            ids: (0..n32).collect(),
            offsets: (0..n32).map(|i| (i, i + 1)).collect(),
            words: (0..n as i32).collect(),
            first_offsets: Vec::new(),
        }
    }

    #[test]
    fn words_keep_their_first_offsets_from_the_first_word_on() {
        let word = |start: u32, firsts: bool| Seq {
            ids: vec![1, 2],
            offsets: vec![(start + 1, start + 3), (start + 3, start + 4)],
            words: vec![0, 0],
            first_offsets: if firsts {
                vec![(start, start + 3), (start + 3, start + 4)]
            } else {
                Vec::new()
            },
        };
        for (a, b) in [(true, true), (false, true), (true, false), (false, false)] {
            let mut seq = Seq::default();
            seq.push_word(&word(0, a), 0);
            seq.push_word(&word(0, b), 1);
            assert_eq!(seq.words, vec![0, 0, 1, 1]);
            assert_eq!(seq.offsets, vec![(1, 3), (3, 4), (1, 3), (3, 4)]);
            let first = |on: bool| if on { [(0, 3), (3, 4)] } else { [(1, 3), (3, 4)] };
            let want: Vec<(u32, u32)> =
                if a || b { first(a).into_iter().chain(first(b)).collect() } else { Vec::new() };
            assert_eq!(seq.first_offsets, want, "{a} {b}");
        }
    }

    #[test]
    fn window_counts_are_the_windows_cut() {
        for n in 0..40 {
            for max_len in 0..12 {
                for stride in 0..max_len.max(1) {
                    for side in [Side::Right, Side::Left] {
                        let cut = seq(n).windows(max_len, stride, side);
                        assert_eq!(
                            window_count(n, max_len, stride),
                            cut.len(),
                            "{n} {max_len} {stride}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn overflow_past_memory_is_a_config_error_not_an_abort() {
        let truncation = |max_length, stride| Truncation {
            max_length,
            strategy: Strategy::LongestFirst,
            stride,
            side: Side::Right,
        };
        let opts = |t| Options { add_special_tokens: false, truncation: Some(t), overflow: true };
        let template = Template { single: vec![Part::A(0)], pair: vec![Part::A(0), Part::B(1)] };
        // one text: 3 * 10^6 windows of 10^6 tokens each (stride max_length - 1)
        let long = seq(1 << 22);
        let e = rows(
            &long,
            None,
            &template,
            &opts(truncation(1 << 20, (1 << 20) - 1)),
            0,
            &mut Rows::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("the overflow windows of one text"), "{e}");
        // a pair: every window of the first with every window of the second
        let (a, b) = (seq(1 << 18), seq(1 << 18));
        let e = rows(&a, Some(&b), &template, &opts(truncation(2, 0)), 0, &mut Rows::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("the overflow windows of a pair"), "{e}");
        // a small pair still makes its rows
        let mut out = Rows::default();
        rows(&seq(5), Some(&seq(4)), &template, &opts(truncation(4, 0)), 0, &mut out).unwrap();
        assert_eq!(out.len(), 3 * 2);
    }
}
