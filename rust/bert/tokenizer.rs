//! The whole BERT text pipeline for one model: special tokens found in the raw text,
//! normalizer, pre-tokenizer, WordPiece, then templates, truncation and padding
//! ([`crate::postprocess`]); single texts, pairs and parallel batches.

use super::normalize::{bert_words, BertNormalizer, Normalized};
use super::pipeline::{Buffers, Pipeline};
use super::wordpiece::{Piece, WordPiece};
use crate::cache::PieceCache;
use crate::error::{Error, Result};
use crate::parallel;
use crate::postprocess::{
    check_pairs, rows, threads_for, Batch, Options, Rows, Seq, Template, Texts,
};
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
    /// HF's other normalizers (used without `normalizer`) and pre-tokenizers; the default
    /// is BERT's pre-tokenizer.
    pub pipeline: Pipeline,
}

/// Reusable buffers of one thread.
#[derive(Default)]
struct Scratch {
    normalized: Normalized,
    words: Vec<(u32, u32)>,
    pieces: Vec<Piece>,
    pipeline: Buffers,
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
    /// as the text it is (corpus text: "[SEP]" in a document is not a separator); added
    /// tokens that are not special are still found.
    pub fn encode_plain_seq(&self, text: &str) -> Result<Seq> {
        let policy = self.specials.policy(&Selection::Some(vec![]), &Selection::Some(vec![]))?;
        self.encode_seq_with(text, &policy)
    }

    fn encode_seq_with(&self, text: &str, policy: &Policy<'_>) -> Result<Seq> {
        let mut seq = Seq::default();
        PieceCache::with(self.model.uid, |cache| {
            self.encode_into(text, policy, cache, &mut Scratch::default(), &mut seq)
        })?;
        Ok(seq)
    }

    /// HF's order: the added tokens that are not normalized found in the raw text; each
    /// piece between them normalized, the normalized added tokens found in it, and the
    /// rest pre-tokenized into words for WordPiece.
    fn encode_into(
        &self,
        text: &str,
        policy: &Policy<'_>,
        cache: &mut PieceCache,
        scratch: &mut Scratch,
        seq: &mut Seq,
    ) -> Result<()> {
        // offsets are u32 characters and word ids i32: a text past 2 GiB would wrap them
        if text.len() > i32::MAX as usize {
            return Err(Error::Config(format!(
                "a text of {} bytes is too long for WordPiece's offsets and word ids (at most \
                 2 GiB a text): split it into smaller texts (lines, documents)",
                text.len()
            )));
        }
        let mut word = 0i32;
        let (mut byte_at, mut char_at) = (0usize, 0u32);
        policy.raw_segments(text, |segment| {
            let (start, end) = match segment {
                Segment::Text(s, e) | Segment::Special(_, s, e) => (s, e),
            };
            if start >= byte_at {
                char_at += text[byte_at..start].chars().count() as u32;
            } else {
                // a token inside the span of an rstrip token before it (as HF finds it)
                char_at -= text[start..byte_at].chars().count() as u32;
            }
            let chars = text[start..end].chars().count() as u32;
            match segment {
                Segment::Special(id, ..) => {
                    seq.ids.push(id);
                    seq.offsets.push((char_at, char_at + chars));
                    seq.words.push(word);
                    word += 1;
                }
                Segment::Text(..) => {
                    let piece = &text[start..end];
                    self.encode_text(piece, char_at, policy, cache, scratch, seq, &mut word)?;
                }
            }
            byte_at = end;
            char_at += chars;
            Ok(())
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn encode_text(
        &self,
        text: &str,
        first_char: u32,
        policy: &Policy<'_>,
        cache: &mut PieceCache,
        scratch: &mut Scratch,
        seq: &mut Seq,
        word: &mut i32,
    ) -> Result<()> {
        let norm = &mut scratch.normalized;
        let general = !self.pipeline.is_default();
        match &self.normalizer {
            Some(n) => n.normalize_into(text, first_char, norm),
            None if general => {
                self.pipeline.normalize_into(text, first_char, &mut scratch.pipeline, norm)
            }
            None => norm.set_plain(text, first_char),
        }
        scratch.words.clear();
        if !policy.has_normalized() {
            if general {
                self.pipeline.words_in(norm, 0, norm.len() as u32, &mut scratch.words);
            } else {
                bert_words(norm, &mut scratch.words);
            }
            self.encode_words(scratch, cache, seq, word);
            return Ok(());
        }
        let norm = &scratch.normalized;
        let char_of = |byte: usize| norm.bytes.partition_point(|&b| (b as usize) < byte) as u32;
        policy.normalized_segments(&norm.text, |segment| {
            match segment {
                Segment::Text(start, end) => {
                    let (from, to) = (char_of(start), char_of(end));
                    self.pipeline.words_in(norm, from, to, &mut scratch.words);
                    // words are numbered as they come: encode the ones found so far
                    for &(ws, we) in &scratch.words {
                        self.encode_word(norm, ws, we, cache, &mut scratch.pieces, seq, word);
                    }
                    scratch.words.clear();
                }
                Segment::Special(id, start, end) => {
                    let (from, to) = (char_of(start), char_of(end));
                    let last = (to as usize).saturating_sub(1).max(from as usize);
                    let (a, b) = (norm.origin[from as usize], norm.origin[last] + 1);
                    seq.ids.push(id);
                    seq.offsets.push((a, b.max(a)));
                    seq.words.push(*word);
                    *word += 1;
                }
            }
            Ok(())
        })
    }

    /// WordPiece on each of `scratch.words`.
    fn encode_words(
        &self,
        scratch: &mut Scratch,
        cache: &mut PieceCache,
        seq: &mut Seq,
        word: &mut i32,
    ) {
        let norm = &scratch.normalized;
        for &(ws, we) in &scratch.words {
            self.encode_word(norm, ws, we, cache, &mut scratch.pieces, seq, word);
        }
    }

    /// WordPiece on the word `[ws, we)` (characters of `norm`), its ids, offsets in the
    /// original text and word index pushed into `seq`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn encode_word(
        &self,
        norm: &Normalized,
        ws: u32,
        we: u32,
        cache: &mut PieceCache,
        pieces: &mut Vec<Piece>,
        seq: &mut Seq,
        word: &mut i32,
    ) {
        let bytes = &norm.text[norm.bytes[ws as usize] as usize..norm.bytes[we as usize] as usize];
        pieces.clear();
        self.model.encode_word_cached(bytes, cache, pieces);
        for &(id, cs, ce) in pieces.iter() {
            let (a, b) = (ws + cs, ws + ce);
            seq.ids.push(id);
            seq.offsets.push((norm.origin[a as usize], norm.origin[b as usize - 1] + 1));
            seq.words.push(*word);
        }
        *word += 1;
    }

    /// Encodes one input (a text or a pair) into rows (several with stride windows).
    pub fn encode_rows(
        &self,
        text: &str,
        pair: Option<&str>,
        opts: &Options,
        out: &mut Rows,
    ) -> Result<()> {
        let (texts, pairs) = ([text], pair.map(|p| [p]));
        let pairs = pairs.as_ref().map(|p| Texts::Whole(p));
        let batch = self.encode_batch(Texts::Whole(&texts), pairs, opts, Some(1))?;
        for chunk in batch.chunks {
            out.append(chunk);
        }
        Ok(())
    }

    /// Encodes a batch in parallel; rows come back in input order, each tagged with its
    /// input's index (with `overflow`, an input may give several rows).
    pub fn encode_batch(
        &self,
        texts: Texts<'_>,
        pairs: Option<Texts<'_>>,
        opts: &Options,
        num_threads: Option<usize>,
    ) -> Result<Batch> {
        check_pairs(texts, pairs)?;
        opts.check(&self.template)?;
        let policy = self.policy()?;
        let threads = threads_for(num_threads, texts, pairs);
        // BERT's pre-tokenizer ends a word at every space and its normalizer acts per
        // character: a truncated text needs only the start of its encoding
        let prefix = opts
            .prefix_tokens(&self.template, pairs.is_some())
            .filter(|_| self.pipeline.is_default() && self.specials.cut_safe());
        let chunks = parallel::map_ranges(threads, texts.len(), 64, |idx| {
            PieceCache::with(self.model.uid, |cache| {
                let mut scratch = Scratch::default();
                let mut out = Rows::default();
                let (mut a, mut b, mut word) = (Seq::default(), Seq::default(), Seq::default());
                for i in idx {
                    let mut encode = |text: &str, seq: &mut Seq| {
                        self.encode_into(text, &policy, cache, &mut scratch, seq)
                    };
                    texts.encode_into(i, prefix, &mut word, &mut a, &mut encode)?;
                    let second = match pairs {
                        Some(p) => {
                            p.encode_into(i, None, &mut word, &mut b, &mut encode)?;
                            Some(&b)
                        }
                        None => None,
                    };
                    rows(&a, second, &self.template, opts, i as u32, &mut out)?;
                }
                Ok(out)
            })
        });
        let chunks = parallel::in_order(chunks)?;
        Ok(Batch { chunks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postprocess::Template;
    use crate::special::Flags;

    /// Uncased BERT over a few letters; "covid" added (normalized), "<L>" special (lstrip).
    fn tokenizer() -> BertTokenizer {
        let mut vocab: Vec<String> = ["[UNK]", "a", "b", "x", "##x"].map(String::from).to_vec();
        vocab.extend(["covid", "<L>"].map(String::from));
        let model = WordPiece::with_added(vocab, 2, "[UNK]", "##", 100).unwrap();
        let mut specials =
            SpecialTokens::with_added(vec![("<L>".into(), 6)], vec![("COVID".into(), 5)]).unwrap();
        let normalized = Flags { normalized: true, ..Flags::default() };
        let lstrip = Flags { lstrip: true, ..Flags::default() };
        specials.set_flags(&[(5, normalized), (6, lstrip)]).unwrap();
        let normalizer = BertNormalizer::default();
        specials
            .set_forms(|t| {
                let mut out = Normalized::default();
                normalizer.normalize_into(t, 0, &mut out);
                out.text
            })
            .unwrap();
        let template = Template::none();
        let pipeline = Pipeline::default();
        BertTokenizer { normalizer: Some(normalizer), model, specials, template, pipeline }
    }

    #[test]
    fn added_tokens_are_found_before_words() {
        let t = tokenizer();
        // "Covid" normalizes to the token's form; inside a word it still cuts the word
        let s = t.encode_seq("a Covid xcovidx  <L>").unwrap();
        assert_eq!(s.ids, [1, 5, 3, 5, 3, 6]);
        assert_eq!(s.offsets, [(0, 1), (2, 7), (8, 9), (9, 14), (14, 15), (15, 20)]);
        assert_eq!(s.words, [0, 1, 2, 3, 4, 5]);
        // corpus text: the special is text, the added token is still found
        let s = t.encode_plain_seq("<L>covid").unwrap();
        assert_eq!(s.ids.last(), Some(&5));
        assert!(!s.ids.contains(&6));
    }
}
