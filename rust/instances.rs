//! Pretraining instances from tokenized documents: `[CLS] A [SEP] B [SEP]` pairs for next
//! sentence prediction (NSP) or sentence order prediction (SOP), or packed full sentences
//! with no pair objective (RoBERTa).
//!
//! The corpus is a set of shards, each the ids of its sentences back to back with sentence
//! and document offsets (see [`crate::corpus::Tokenized`]). Instances are built one shard
//! (a *block*) at a time; an instance names token ranges of the corpus, and its ids are
//! copied out only when a batch is materialized. Every random choice of document `d` in
//! epoch `e` comes from a stream seeded by (seed, e, d), so blocks come out the same for
//! any thread count and any order of building.

use std::ops::Range;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::parallel;
use crate::rng::{probability_threshold, tag, Rng};

/// The pair objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// Next sentence prediction: B follows A (label 0) or comes from another document (1).
    Nsp,
    /// Sentence order prediction: A then B in order (label 0) or swapped (1).
    Sop,
    /// No pair: full sentences packed up to the length, across documents.
    None,
}

/// Instance-building options.
#[derive(Clone, Copy, Debug)]
pub struct InstanceOptions<'a> {
    /// Longest instance, special tokens included.
    pub max_seq_len: usize,
    /// The chance of aiming at a shorter random length instead (BERT: 0.1).
    pub short_seq_prob: f64,
    pub objective: Objective,
    pub seed: u64,
    /// One flag per vocabulary id (ids past its end: false): the token continues the word
    /// before it (WordPiece's `##` pieces). A sentence cut in two is cut before a token
    /// that starts a word; None: before any token.
    pub continuation: Option<&'a [bool]>,
}

/// The ids of one shard, in the width they are stored.
#[derive(Clone, Copy, Debug)]
pub enum Tokens<'a> {
    U16(&'a [u16]),
    U32(&'a [u32]),
}

impl Tokens<'_> {
    pub fn len(&self) -> usize {
        match self {
            Tokens::U16(t) => t.len(),
            Tokens::U32(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn copy_into(&self, range: Range<usize>, out: &mut [i64]) {
        match self {
            Tokens::U16(t) => out.iter_mut().zip(&t[range]).for_each(|(o, &v)| *o = i64::from(v)),
            Tokens::U32(t) => out.iter_mut().zip(&t[range]).for_each(|(o, &v)| *o = i64::from(v)),
        }
    }

    /// The id at `at`.
    fn get(&self, at: usize) -> u32 {
        match self {
            Tokens::U16(t) => u32::from(t[at]),
            Tokens::U32(t) => t[at],
        }
    }

    fn max(&self) -> u32 {
        match self {
            Tokens::U16(t) => t.iter().copied().max().map_or(0, u32::from),
            Tokens::U32(t) => t.iter().copied().max().unwrap_or(0),
        }
    }
}

/// One shard: `sentences[s]..sentences[s + 1]` are the tokens of sentence `s`, and
/// `documents[d]..documents[d + 1]` the sentences of document `d`.
#[derive(Clone, Copy, Debug)]
pub struct Shard<'a> {
    pub tokens: Tokens<'a>,
    pub sentences: &'a [i64],
    pub documents: &'a [i64],
}

impl Shard<'_> {
    /// Checks that the offsets describe the tokens: increasing (no empty sentence or
    /// document), from 0 to the end; and that every id is below `vocab_size`.
    pub fn validate(&self, name: &str, vocab_size: u32) -> Result<()> {
        let bad = |what: &str| {
            Err(Error::Shard(format!(
                "shard {name} is corrupt ({what}); delete it and build the shards again"
            )))
        };
        let (s, d) = (self.sentences, self.documents);
        if s.first() != Some(&0) || d.first() != Some(&0) {
            return bad("offsets do not start at 0");
        }
        if s.last().copied() != Some(self.tokens.len() as i64) {
            return bad("sentence offsets do not end at the number of tokens");
        }
        if d.last().copied() != Some(s.len() as i64 - 1) {
            return bad("document offsets do not end at the number of sentences");
        }
        if s.windows(2).any(|w| w[0] >= w[1]) || d.windows(2).any(|w| w[0] >= w[1]) {
            return bad("offsets are not increasing");
        }
        let max = self.tokens.max();
        if !self.tokens.is_empty() && max >= vocab_size {
            return bad(&format!("it holds id {max}, outside the vocabulary of {vocab_size}"));
        }
        Ok(())
    }

    fn n_docs(&self) -> usize {
        self.documents.len() - 1
    }

    /// The token ranges of the sentences of document `d`.
    fn doc_sentences(&self, d: usize) -> impl ExactSizeIterator<Item = Range<u64>> + '_ {
        let (a, b) = (self.documents[d] as usize, self.documents[d + 1] as usize);
        (a..b).map(|s| self.sentences[s] as u64..self.sentences[s + 1] as u64)
    }
}

/// Shards with a global document numbering.
pub struct Corpus<'a> {
    shards: Vec<Shard<'a>>,
    /// The global index of each shard's first document, and the total at the end.
    doc_start: Vec<u64>,
    /// Whether each shard's first document continues the last one of the shard before: a
    /// document of the source longer than a piece, cut at a line end.
    continues: Vec<bool>,
}

impl<'a> Corpus<'a> {
    /// A corpus of already validated shards, each starting with a document of its own.
    pub fn new(shards: Vec<Shard<'a>>) -> Corpus<'a> {
        let mut doc_start = vec![0u64];
        for s in &shards {
            doc_start.push(doc_start.last().copied().unwrap_or(0) + s.n_docs() as u64);
        }
        let continues = vec![false; shards.len()];
        Corpus { shards, doc_start, continues }
    }

    /// The corpus where shard `k`'s first document continues the one before it when
    /// `continues[k]` (the first shard's, and a shard's after one with no documents, never).
    pub fn continuing(mut self, continues: &[bool]) -> Corpus<'a> {
        for k in 1..self.shards.len() {
            let before = self.shards[k - 1].n_docs() > 0 && self.shards[k].n_docs() > 0;
            self.continues[k] = before && continues.get(k).copied().unwrap_or(false);
        }
        self
    }

    /// The number of documents: pieces of one document of the source count once each.
    pub fn n_docs(&self) -> u64 {
        self.doc_start.last().copied().unwrap_or(0)
    }

    /// The number of documents of the source, a document cut across shards counted once.
    pub fn n_source_docs(&self) -> u64 {
        self.n_docs() - self.continues.iter().filter(|&&c| c).count() as u64
    }

    /// The global documents that are pieces of the same document of the source as `g`.
    fn source_doc(&self, g: u64) -> Range<u64> {
        let joined = |g: u64| {
            let (shard, d) = self.locate(g);
            d == 0 && self.continues[shard]
        };
        let (mut lo, mut hi) = (g, g + 1);
        while lo > 0 && joined(lo) {
            lo -= 1;
        }
        while hi < self.n_docs() && joined(hi) {
            hi += 1;
        }
        lo..hi
    }

    pub fn n_shards(&self) -> usize {
        self.shards.len()
    }

    pub fn shard(&self, k: usize) -> &Shard<'a> {
        &self.shards[k]
    }

    /// The length of `inst` as a row: its tokens, `[CLS]`, `[SEP]`s (one between documents
    /// of a packed instance).
    pub fn framed_len(&self, inst: &Instance) -> usize {
        if !inst.b.is_empty() {
            return inst.len();
        }
        let seps = self
            .shards
            .get(inst.a.shard as usize)
            .map_or(0, |s| doc_starts_within(s, inst.a.start, inst.a.end).len());
        inst.len() + seps
    }

    /// (shard, local document) of global document `g`.
    fn locate(&self, g: u64) -> (usize, usize) {
        let shard = self.doc_start.partition_point(|&s| s <= g) - 1;
        (shard, (g - self.doc_start[shard]) as usize)
    }
}

/// A token range of one shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub shard: u32,
    pub start: u64,
    pub end: u64,
}

impl Span {
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// One pretraining example: segments A and B (B empty without a pair objective) and the
/// pair label (0 or 1; -1 without a pair objective).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instance {
    pub a: Span,
    pub b: Span,
    pub label: i8,
}

impl Instance {
    /// Its length with `[CLS]` and `[SEP]`s, but without the separators between documents
    /// of a packed instance (see [`Corpus::framed_len`]).
    pub fn len(&self) -> usize {
        self.a.len() + self.b.len() + if self.b.is_empty() { 2 } else { 3 }
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl InstanceOptions<'_> {
    pub fn validate(&self, corpus: &Corpus<'_>) -> Result<()> {
        let least = if self.objective == Objective::None { 3 } else { 5 };
        if self.max_seq_len < least {
            return Err(Error::Config(format!(
                "max_seq_len={} is too short: an instance needs at least {least} positions",
                self.max_seq_len
            )));
        }
        if !(0.0..=1.0).contains(&self.short_seq_prob) {
            return Err(Error::Config(format!(
                "short_seq_prob={} must be a probability in [0, 1]",
                self.short_seq_prob
            )));
        }
        if corpus.n_docs() == 0 {
            return Err(Error::Corpus("the corpus has no documents".into()));
        }
        if self.objective == Objective::Nsp && corpus.n_source_docs() < 2 {
            return Err(Error::Corpus(
                "next sentence prediction needs at least 2 documents (B is drawn from another document) and the corpus has 1 (a document longer than a shard is still one); in text files a blank line ends a document: separate the documents with blank lines (or give one record per document in JSON Lines or csv), or use objective='sop' or 'none'".into(),
            ));
        }
        Ok(())
    }
}

/// The order in which epoch `epoch` visits the shards.
pub fn block_order(n_shards: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n_shards).collect();
    shuffle(&mut order, &mut Rng::new(&[seed, epoch, tag::ORDER]));
    order
}

fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// The instances of shard `shard` for epoch `epoch`, in their shuffled order.
pub fn build_block(
    corpus: &Corpus<'_>,
    shard: usize,
    epoch: u64,
    opts: &InstanceOptions<'_>,
    num_threads: Option<usize>,
) -> Result<Vec<Instance>> {
    opts.validate(corpus)?;
    let s = corpus.shards.get(shard).ok_or_else(|| {
        Error::Config(format!("shard {shard} does not exist ({} shards)", corpus.n_shards()))
    })?;
    let mut instances = match opts.objective {
        Objective::None => pack_sentences(s, shard as u32, opts.max_seq_len - 2),
        _ => {
            let first = corpus.doc_start[shard];
            let per_doc: Vec<Vec<Instance>> = parallel::install(num_threads, || {
                (0..s.n_docs())
                    .into_par_iter()
                    .with_min_len(64)
                    .map(|d| {
                        let mut rng =
                            Rng::new(&[opts.seed, epoch, first + d as u64, tag::DOCUMENT]);
                        pair_instances(corpus, shard, d, opts, &mut rng)
                    })
                    .collect()
            });
            per_doc.into_iter().flatten().collect()
        }
    };
    shuffle(&mut instances, &mut Rng::new(&[opts.seed, epoch, shard as u64, tag::SHUFFLE]));
    Ok(instances)
}

/// The token range from the start of `a` to the end of `b` (consecutive sentences).
fn span(shard: usize, a: &Range<u64>, b: &Range<u64>) -> Span {
    Span { shard: shard as u32, start: a.start, end: b.end }
}

/// NSP/SOP instances of one document, after Google's `create_instances_from_document`:
/// sentences are gathered into a chunk up to a target length (the maximum, or with
/// `short_seq_prob` a random shorter one); a random prefix of the chunk is A; B is the
/// rest of the chunk or, for half of the NSP instances, a run of sentences from a random
/// other document (the chunk's unused sentences then start the next chunk). A chunk of
/// one sentence borrows the next sentence of the document as B, or, being the document's
/// last, is cut in two before a random token that starts a word (`continuation`), so that
/// every pair is IsNext (or in order) with probability exactly 1/2. Pairs too long lose tokens one at a time from the longer
/// segment, at its front or back at random.
fn pair_instances(
    corpus: &Corpus<'_>,
    shard: usize,
    d: usize,
    opts: &InstanceOptions<'_>,
    rng: &mut Rng,
) -> Vec<Instance> {
    let s = &corpus.shards[shard];
    let sentences: Vec<Range<u64>> = s.doc_sentences(d).collect();
    let max_tokens = opts.max_seq_len - 3;
    let half = probability_threshold(0.5);
    let target = if rng.chance(probability_threshold(opts.short_seq_prob)) {
        2 + rng.below(max_tokens as u64 - 1) as usize // 2..=max_tokens
    } else {
        max_tokens
    };
    let mut out = Vec::new();
    let (mut chunk_start, mut length) = (0usize, 0usize);
    let mut i = 0;
    while i < sentences.len() {
        length += (sentences[i].end - sentences[i].start) as usize;
        if i + 1 < sentences.len() && length < target {
            i += 1;
            continue;
        }
        // the chunk is sentences[chunk_start..=i]
        let mut chunk = chunk_start..i + 1;
        let single = chunk.len() == 1;
        let a_end = if single {
            chunk.start + 1
        } else {
            chunk.start + 1 + rng.below(chunk.len() as u64 - 1) as usize
        };
        let a = span(shard, &sentences[chunk.start], &sentences[a_end - 1]);
        let nsp = opts.objective == Objective::Nsp;
        let mut random_next = nsp && rng.chance(half);
        let last = single && i + 1 >= sentences.len();
        let cuts = if last { word_starts(s, &a, opts.continuation) } else { Vec::new() };
        if !random_next && last && cuts.is_empty() {
            // a last sentence of one token (or one word) cannot be cut in two: NSP takes a
            // random B, SOP has no pair to make
            if !nsp {
                i += 1;
                chunk_start = i;
                length = 0;
                continue;
            }
            random_next = true;
        }
        let (a, b, label) = if random_next {
            let b = random_b(corpus, shard, d, target.saturating_sub(a.len()).max(1), rng);
            // the chunk's sentences after A go back to the document
            chunk.end = a_end;
            (a, b, 1)
        } else if single && i + 1 < sentences.len() {
            // a chunk of one sentence borrows the next one as B
            i += 1;
            chunk.end = i + 1;
            (a, span(shard, &sentences[i], &sentences[i]), 0)
        } else if single {
            // the document's last sentence alone: its two halves, cut before a random
            // token that starts a word (a half that began inside a word, with a ## piece,
            // would tell the order)
            let cut = cuts[rng.below(cuts.len() as u64) as usize];
            (Span { end: cut, ..a }, Span { start: cut, ..a }, 0)
        } else {
            (a, span(shard, &sentences[a_end], &sentences[chunk.end - 1]), 0)
        };
        out.push(finish(a, b, label, opts, max_tokens, rng));
        i = chunk.end;
        chunk_start = i;
        length = 0;
    }
    out
}

/// The places `a` can be cut in two (after its first token): before each token that
/// starts a word, as `continuation` says (every token without it).
fn word_starts(s: &Shard<'_>, a: &Span, continuation: Option<&[bool]>) -> Vec<u64> {
    (a.start + 1..a.end)
        .filter(|&at| {
            continuation.is_none_or(|c| {
                !c.get(s.tokens.get(at as usize) as usize).copied().unwrap_or(false)
            })
        })
        .collect()
}

/// Truncates the pair to `max_tokens` and, for SOP, swaps it with probability 1/2.
fn finish(
    mut a: Span,
    mut b: Span,
    label: i8,
    opts: &InstanceOptions<'_>,
    max_tokens: usize,
    rng: &mut Rng,
) -> Instance {
    let half = probability_threshold(0.5);
    while a.len() + b.len() > max_tokens {
        let longer = if a.len() > b.len() { &mut a } else { &mut b };
        if rng.chance(half) {
            longer.start += 1;
        } else {
            longer.end -= 1;
        }
    }
    if opts.objective == Objective::Sop && rng.chance(half) {
        return Instance { a: b, b: a, label: 1 };
    }
    Instance { a, b, label }
}

/// A run of sentences of a random document other than `d` (and other than the rest of its
/// document of the source), from a random sentence on, until `target` tokens (or the
/// document's end).
fn random_b(corpus: &Corpus<'_>, shard: usize, d: usize, target: usize, rng: &mut Rng) -> Span {
    let own = corpus.source_doc(corpus.doc_start[shard] + d as u64);
    let width = own.end - own.start;
    // a document of the source, each as likely as Google's draw makes it: a piece drawn
    // at random, kept with a chance of one over its document's pieces (a document cut
    // across k shards would otherwise be drawn k times as often); then a sentence of the
    // whole document. A document in one piece, the usual case, draws nothing more.
    let (rs, rd, first) = loop {
        let mut g = rng.below(corpus.n_docs() - width);
        if g >= own.start {
            g += width;
        }
        let theirs = corpus.source_doc(g);
        let pieces = theirs.end - theirs.start;
        if pieces == 1 {
            let (rs, rd) = corpus.locate(g);
            let n = corpus.shards[rs].doc_sentences(rd).len() as u64;
            break (rs, rd, if n > 0 { rng.below(n) as usize } else { 0 });
        }
        if rng.below(pieces) != 0 {
            continue;
        }
        let counts: Vec<u64> = theirs
            .clone()
            .map(|p| {
                let (ps, pd) = corpus.locate(p);
                corpus.shards[ps].doc_sentences(pd).len() as u64
            })
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            let (rs, rd) = corpus.locate(g);
            break (rs, rd, 0);
        }
        let mut k = rng.below(total);
        let mut p = theirs.start;
        for &c in &counts {
            if k < c {
                break;
            }
            k -= c;
            p += 1;
        }
        let (rs, rd) = corpus.locate(p);
        break (rs, rd, k as usize);
    };
    // walked from the random sentence on, not collected: a document of n sentences would
    // cost n for each of its random Bs
    let sentences = corpus.shards[rs].doc_sentences(rd);
    let mut run = sentences.skip(first);
    let Some(head) = run.next() else {
        return Span { shard: rs as u32, start: 0, end: 0 }; // no sentence: never built
    };
    let (mut length, mut last) = ((head.end - head.start) as usize, head.clone());
    for r in run {
        if length >= target {
            break;
        }
        length += (r.end - r.start) as usize;
        last = r;
    }
    span(rs, &head, &last)
}

/// Full sentences packed in order into instances of at most `capacity` tokens plus the
/// separators between documents; a sentence longer than `capacity` fills instances on its
/// own, in pieces. No tokens are dropped.
fn pack_sentences(s: &Shard<'_>, shard: u32, capacity: usize) -> Vec<Instance> {
    let mut out = Vec::new();
    let none = Span { shard, start: 0, end: 0 };
    let emit = |start: u64, end: u64, out: &mut Vec<Instance>| {
        if end > start {
            out.push(Instance { a: Span { shard, start, end }, b: none, label: -1 });
        }
    };
    let (mut start, mut end, mut used) = (0u64, 0u64, 0usize);
    for d in 0..s.n_docs() {
        for (k, r) in s.doc_sentences(d).enumerate() {
            let len = (r.end - r.start) as usize;
            // a document boundary inside an instance costs a separator
            let sep = usize::from(k == 0 && used > 0);
            if used > 0 && used + sep + len > capacity {
                emit(start, end, &mut out);
                used = 0;
            }
            if used == 0 {
                start = r.start;
                let mut at = r.start;
                while (r.end - at) as usize > capacity {
                    emit(at, at + capacity as u64, &mut out);
                    at += capacity as u64;
                }
                start = start.max(at);
                end = r.end;
                used = (r.end - at) as usize;
            } else {
                end = r.end;
                used += sep + len;
            }
        }
    }
    if used > 0 {
        emit(start, end, &mut out);
    }
    out
}

/// Token ids of the special tokens an instance is framed with.
#[derive(Clone, Copy, Debug)]
pub struct Framing {
    pub cls: u32,
    pub sep: u32,
    pub pad: u32,
}

/// A materialized batch, row-major (rows, width), and one label per row.
#[derive(Debug, Default)]
pub struct Materialized {
    pub input_ids: Vec<i64>,
    pub token_type_ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    /// 1 where a sentence of the shards starts (its first token), else 0.
    pub sentence_starts: Vec<u8>,
    pub labels: Vec<i64>,
}

/// Where [`materialize_into`] writes: (rows × width) slices and one label per row.
pub struct Columns<'m> {
    pub input_ids: &'m mut [i64],
    pub token_type_ids: &'m mut [i64],
    pub attention_mask: &'m mut [i64],
    pub sentence_starts: &'m mut [u8],
    pub labels: &'m mut [i64],
}

/// [`materialize_into`] into new vectors.
pub fn materialize(
    corpus: &Corpus<'_>,
    instances: &[Instance],
    framing: Framing,
    width: usize,
) -> Result<Materialized> {
    let n = instances.len();
    let mut m = Materialized {
        input_ids: vec![0; n * width],
        token_type_ids: vec![0; n * width],
        attention_mask: vec![0; n * width],
        sentence_starts: vec![0; n * width],
        labels: vec![0; n],
    };
    let columns = Columns {
        input_ids: &mut m.input_ids,
        token_type_ids: &mut m.token_type_ids,
        attention_mask: &mut m.attention_mask,
        sentence_starts: &mut m.sentence_starts,
        labels: &mut m.labels,
    };
    materialize_into(corpus, instances, framing, width, columns)?;
    Ok(m)
}

/// Writes instances as `[CLS] A [SEP] B [SEP]` rows (`[CLS] tokens [SEP]` with a `[SEP]`
/// between documents when there is no pair), padded to `width`, and flags the first token
/// of every sentence in them (a segment cut by truncation starts with none); every element
/// of `out` is overwritten.
pub fn materialize_into(
    corpus: &Corpus<'_>,
    instances: &[Instance],
    framing: Framing,
    width: usize,
    out: Columns<'_>,
) -> Result<()> {
    let n = instances.len();
    if out.input_ids.len() != n * width
        || out.token_type_ids.len() != n * width
        || out.attention_mask.len() != n * width
        || out.sentence_starts.len() != n * width
        || out.labels.len() != n
    {
        return Err(Error::Config("output columns do not match the batch shape".into()));
    }
    for (row, inst) in instances.iter().enumerate() {
        if instances_shard(corpus, &inst.a).is_none() || instances_shard(corpus, &inst.b).is_none()
        {
            return Err(Error::Config("an instance names a shard outside this corpus".into()));
        }
        let len = corpus.framed_len(inst);
        if len > width {
            return Err(Error::Config(format!(
                "an instance of {len} tokens does not fit width {width}"
            )));
        }
        out.labels[row] = i64::from(inst.label);
        let span = row * width..(row + 1) * width;
        let mut w = Row {
            corpus,
            ids: &mut out.input_ids[span.clone()],
            types: &mut out.token_type_ids[span.clone()],
            starts: &mut out.sentence_starts[span.clone()],
            at: 0,
        };
        w.put(framing.cls, 0);
        if inst.b.is_empty() {
            // a separator wherever a document starts inside the span
            let mut from = inst.a.start;
            let shard = &corpus.shards[inst.a.shard as usize];
            for cut in doc_starts_within(shard, inst.a.start, inst.a.end) {
                w.copy(Span { start: from, end: cut, ..inst.a }, 0);
                w.put(framing.sep, 0);
                from = cut;
            }
            w.copy(Span { start: from, ..inst.a }, 0);
            w.put(framing.sep, 0);
        } else {
            w.copy(inst.a, 0);
            w.put(framing.sep, 0);
            w.copy(inst.b, 1);
            w.put(framing.sep, 1);
        }
        let used = w.at;
        out.input_ids[span.start + used..span.end].fill(i64::from(framing.pad));
        out.token_type_ids[span.start + used..span.end].fill(0);
        out.sentence_starts[span.start + used..span.end].fill(0);
        out.attention_mask[span.start..span.start + used].fill(1);
        out.attention_mask[span.start + used..span.end].fill(0);
    }
    Ok(())
}

fn instances_shard<'c, 'a>(corpus: &'c Corpus<'a>, span: &Span) -> Option<&'c Shard<'a>> {
    corpus.shards.get(span.shard as usize).filter(|s| span.end as usize <= s.tokens.len())
}

/// One row being written (its length was checked against the width).
struct Row<'r, 'a> {
    corpus: &'r Corpus<'a>,
    ids: &'r mut [i64],
    types: &'r mut [i64],
    starts: &'r mut [u8],
    at: usize,
}

impl Row<'_, '_> {
    fn put(&mut self, id: u32, type_id: i64) {
        self.ids[self.at] = i64::from(id);
        self.types[self.at] = type_id;
        self.starts[self.at] = 0;
        self.at += 1;
    }

    fn copy(&mut self, span: Span, type_id: i64) {
        let (len, at) = (span.len(), self.at);
        let shard = &self.corpus.shards[span.shard as usize];
        shard.tokens.copy_into(span.start as usize..span.end as usize, &mut self.ids[at..at + len]);
        self.types[at..at + len].fill(type_id);
        let starts = &mut self.starts[at..at + len];
        starts.fill(0);
        let first = shard.sentences.partition_point(|&t| (t as u64) < span.start);
        for &t in shard.sentences[first..].iter().take_while(|&&t| (t as u64) < span.end) {
            starts[(t as u64 - span.start) as usize] = 1;
        }
        self.at += len;
    }
}

/// Token positions in `(start, end)` where a document of `s` begins.
fn doc_starts_within(s: &Shard<'_>, start: u64, end: u64) -> Vec<u64> {
    let token_of_doc = |d: usize| s.sentences[s.documents[d] as usize] as u64;
    // binary search: the first document starting after `start`
    let (mut lo, mut hi) = (0, s.n_docs());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if token_of_doc(mid) <= start {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    (lo..s.n_docs()).map(token_of_doc).take_while(|&t| t < end).collect()
}

#[cfg(test)]
mod tests;
