//! The whole BERT text pipeline for one model: special tokens found in the raw text,
//! normalizer, pre-tokenizer, WordPiece, then templates, truncation and padding
//! ([`crate::postprocess`]); single texts, pairs and parallel batches.

use rayon::prelude::*;

use super::normalize::{bert_words, BertNormalizer, Normalized};
use super::wordpiece::{Piece, WordPiece};
use crate::cache::PieceCache;
use crate::error::Result;
use crate::parallel;
use crate::postprocess::{rows, Batch, Options, Rows, Seq, Template};
use crate::special::{Policy, Segment, Selection, SpecialTokens};

/// A BERT-style tokenizer.
#[derive(Debug)]
pub struct BertTokenizer {
    /// `None`: the text goes to the pre-tokenizer as it is.
    pub normalizer: Option<BertNormalizer>,
    pub model: WordPiece,
    /// Tokens matched in the raw text before normalization (HF "added tokens"), always on.
    pub specials: SpecialTokens,
    pub template: Template,
}

/// Reusable buffers of one thread.
#[derive(Default)]
struct Scratch {
    normalized: Normalized,
    words: Vec<(u32, u32)>,
    pieces: Vec<Piece>,
}

impl BertTokenizer {
    fn policy(&self) -> Result<Policy<'_>> {
        self.specials.policy(&Selection::All, &Selection::Some(vec![]))
    }

    /// Encodes one text into a sequence (no template).
    pub fn encode_seq(&self, text: &str) -> Result<Seq> {
        self.encode_seq_with(text, &self.policy()?)
    }

    /// As [`encode_seq`](Self::encode_seq), a special token's string in the text encoded
    /// as the text it is (corpus text: "[SEP]" in a document is not a separator).
    pub fn encode_plain_seq(&self, text: &str) -> Result<Seq> {
        self.encode_seq_with(text, &Policy::none())
    }

    fn encode_seq_with(&self, text: &str, policy: &Policy<'_>) -> Result<Seq> {
        let mut seq = Seq::default();
        PieceCache::with(self.model.uid, |cache| {
            self.encode_into(text, policy, cache, &mut Scratch::default(), &mut seq)
        })?;
        Ok(seq)
    }

    fn encode_into(
        &self,
        text: &str,
        policy: &Policy<'_>,
        cache: &mut PieceCache,
        scratch: &mut Scratch,
        seq: &mut Seq,
    ) -> Result<()> {
        let mut word = 0i32;
        let (mut byte_at, mut char_at) = (0usize, 0u32);
        policy.segments(text, |segment| {
            let (start, end) = match segment {
                Segment::Text(s, e) | Segment::Special(_, s, e) => (s, e),
            };
            char_at += text[byte_at..start].chars().count() as u32;
            let chars = text[start..end].chars().count() as u32;
            match segment {
                Segment::Special(id, ..) => {
                    seq.ids.push(id);
                    seq.offsets.push((char_at, char_at + chars));
                    seq.words.push(word);
                    word += 1;
                }
                Segment::Text(..) => {
                    self.encode_text(&text[start..end], char_at, cache, scratch, seq, &mut word);
                }
            }
            byte_at = end;
            char_at += chars;
            Ok(())
        })
    }

    fn encode_text(
        &self,
        text: &str,
        first_char: u32,
        cache: &mut PieceCache,
        scratch: &mut Scratch,
        seq: &mut Seq,
        word: &mut i32,
    ) {
        let norm = &mut scratch.normalized;
        match &self.normalizer {
            Some(n) => n.normalize_into(text, first_char, norm),
            None => norm.set_plain(text, first_char),
        }
        scratch.words.clear();
        bert_words(norm, &mut scratch.words);
        for &(ws, we) in &scratch.words {
            let bytes =
                &norm.text[norm.bytes[ws as usize] as usize..norm.bytes[we as usize] as usize];
            scratch.pieces.clear();
            self.model.encode_word_cached(bytes, cache, &mut scratch.pieces);
            for &(id, cs, ce) in &scratch.pieces {
                let (a, b) = (ws + cs, ws + ce);
                seq.ids.push(id);
                seq.offsets.push((norm.origin[a as usize], norm.origin[b as usize - 1] + 1));
                seq.words.push(*word);
            }
            *word += 1;
        }
    }

    /// Encodes one input (a text or a pair) into rows (several with stride windows).
    pub fn encode_rows(
        &self,
        text: &str,
        pair: Option<&str>,
        opts: &Options,
        out: &mut Rows,
    ) -> Result<()> {
        let pairs = pair.map(|p| vec![p]);
        let batch = self.encode_batch(&[text], pairs.as_deref(), opts, Some(1))?;
        for chunk in batch.chunks {
            out.append(chunk);
        }
        Ok(())
    }

    /// Encodes a batch in parallel; rows come back in input order, each tagged with its
    /// input's index (with `overflow`, an input may give several rows).
    pub fn encode_batch(
        &self,
        texts: &[&str],
        pairs: Option<&[&str]>,
        opts: &Options,
        num_threads: Option<usize>,
    ) -> Result<Batch> {
        if let Some(p) = pairs {
            if p.len() != texts.len() {
                return Err(crate::error::Error::Config(format!(
                    "got {} texts but {} pairs; pass one second sequence per text",
                    texts.len(),
                    p.len()
                )));
            }
        }
        let policy = self.policy()?;
        let chunks = parallel::install(num_threads, || {
            let chunk = parallel::chunk_len(texts.len(), 64);
            (0..texts.len())
                .collect::<Vec<_>>()
                .par_chunks(chunk)
                .map(|idx| {
                    PieceCache::with(self.model.uid, |cache| {
                        let mut scratch = Scratch::default();
                        let mut out = Rows::default();
                        let (mut a, mut b) = (Seq::default(), Seq::default());
                        for &i in idx {
                            a.clear();
                            self.encode_into(texts[i], &policy, cache, &mut scratch, &mut a)?;
                            let second = match pairs {
                                Some(p) => {
                                    b.clear();
                                    self.encode_into(p[i], &policy, cache, &mut scratch, &mut b)?;
                                    Some(&b)
                                }
                                None => None,
                            };
                            rows(&a, second, &self.template, opts, i as u32, &mut out)?;
                        }
                        Ok(out)
                    })
                })
                .collect::<Vec<Result<_>>>()
        });
        let chunks = parallel::in_order(chunks)?;
        Ok(Batch { chunks })
    }
}
