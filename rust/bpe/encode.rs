//! Encoding whole texts: special tokens first, then pre-tokenization, then BPE per piece;
//! batches in parallel; offsets derived from the ids (token bytes tile the input exactly).

use super::model::BpeModel;
use super::prepared::Event;
use crate::cache::{PieceCache, MAX_IDS, MAX_PIECE};
use crate::error::{Error, Result};
use crate::parallel;
use crate::postprocess::{
    check_pairs, rows, threads_for, Batch, Options, Rows, Seq, Template, Texts,
};
use crate::special::{Policy, Segment};
use crate::unicode::{prev_char_start, utf8_len};

/// HF's ByteLevel post-processor with `trim_offsets`: a token's span leaves out its leading
/// and trailing spaces, except the one space `add_prefix_space` put before a text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trim {
    pub add_prefix_space: bool,
}

impl BpeModel {
    /// Encodes `text` under `policy`, appending ids to `out`. `text_index` only labels errors.
    pub fn encode_text(
        &self,
        text: &str,
        policy: &Policy<'_>,
        text_index: usize,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        policy.check(text, text_index)?;
        if self.prep.is_active() {
            return self.walk_prepared(text, policy, out, |_| {});
        }
        policy.segments(text, |segment| match segment {
            Segment::Special(id, _, _) => {
                out.push(id);
                Ok(())
            }
            Segment::Text(start, end) => self.encode_ordinary(&text[start..end], out),
        })
    }

    /// Encodes `text` with no special-token handling, normalizer or prefix space at all.
    pub fn encode_ordinary(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        self.encode_pieces(text, out, |_, _| {})
    }

    /// [`encode_ordinary`](Self::encode_ordinary), calling `piece(start, ids)` after each
    /// pre-token with its byte offset in `text` and the ids it became.
    #[inline]
    pub(crate) fn encode_pieces(
        &self,
        text: &str,
        out: &mut Vec<u32>,
        mut piece_done: impl FnMut(usize, &[u32]),
    ) -> Result<()> {
        let bytes = text.as_bytes();
        let mut failed = None;
        PieceCache::with(self.uid, |cache| {
            self.pretok.split(text, |start, end| {
                let piece = &bytes[start..end];
                let at = out.len();
                if piece.len() > MAX_PIECE || piece.len() == 1 {
                    if let Err(e) = self.encode_piece(piece, out) {
                        failed.get_or_insert(e);
                    }
                } else {
                    let key = PieceCache::key(piece);
                    if let Some((ids, _)) = cache.get(key) {
                        out.reserve(MAX_IDS);
                        for &id in ids {
                            out.push(id); // a few pushes beat a call to memcpy
                        }
                    } else {
                        match self.encode_piece(piece, out) {
                            Ok(()) => cache.put(key, &out[at..], &[]),
                            Err(e) => {
                                failed.get_or_insert(e);
                            }
                        }
                    }
                }
                piece_done(start, &out[at..]);
            })
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// Encodes `text` into `seq` as a model input: ids, character offsets (trimmed as
    /// `trim` says) and word indices (a word is a pre-token, or a special token found in
    /// the text; HF's `Encoding::word_ids`). `text_index` only labels errors.
    pub fn encode_seq(
        &self,
        text: &str,
        policy: &Policy<'_>,
        text_index: usize,
        trim: Option<Trim>,
        seq: &mut Seq,
    ) -> Result<()> {
        policy.check(text, text_index)?;
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(text.len() / 3 + 1);
        // the added tokens found in the text: (position, leading and trailing spaces of the
        // text they matched), for trim_offsets
        let mut found: Vec<(usize, u32, u32)> = Vec::new();
        let mut word = -1i32;
        let (ids, words) = (&mut seq.ids, &mut seq.words);
        let first = ids.len();
        if self.prep.is_active() {
            self.walk_prepared(text, policy, ids, |event| match event {
                Event::Added { at, span, matched } => {
                    if trim.is_some() {
                        let (lead, trail) = spaces(matched);
                        found.push((at - first, lead, trail));
                    }
                    spans.push(span);
                    word += 1;
                    words.push(word);
                }
                Event::Piece { start, ids: new, origin } => {
                    word += 1;
                    let mut at = start;
                    for &id in new {
                        let next = at + self.id_len(id);
                        spans.push(origin.span(at, next));
                        words.push(word);
                        at = next;
                    }
                }
            })?;
        } else {
            self.segment_spans(text, policy, ids, words, &mut spans, &mut found, trim.is_some())?;
        }
        self.finish_seq(text, text_index, &spans, &found, trim, seq)
    }

    /// [`encode_seq`](Self::encode_seq)'s ids, byte spans, words and found added tokens
    /// without a normalizer or prefix space.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn segment_spans(
        &self,
        text: &str,
        policy: &Policy<'_>,
        ids: &mut Vec<u32>,
        words: &mut Vec<i32>,
        spans: &mut Vec<(usize, usize)>,
        found: &mut Vec<(usize, u32, u32)>,
        trim: bool,
    ) -> Result<()> {
        let mut word = -1i32;
        let first = ids.len();
        policy.segments(text, |segment| match segment {
            Segment::Special(id, start, end) => {
                if trim {
                    let (lead, trail) = spaces(&text[start..end]);
                    found.push((ids.len() - first, lead, trail));
                }
                ids.push(id);
                spans.push((start, end));
                word += 1;
                words.push(word);
                Ok(())
            }
            Segment::Text(start, end) => {
                self.encode_pieces(&text[start..end], ids, |piece_start, new| {
                    word += 1;
                    let mut at = start + piece_start;
                    for &id in new {
                        let next = at + self.id_len(id);
                        spans.push((at, next));
                        words.push(word);
                        at = next;
                    }
                })
            }
        })
    }

    /// The rest of [`encode_seq`](Self::encode_seq): byte spans to character offsets,
    /// trimmed as `trim` says.
    fn finish_seq(
        &self,
        text: &str,
        text_index: usize,
        spans: &[(usize, usize)],
        found: &[(usize, u32, u32)],
        trim: Option<Trim>,
        seq: &mut Seq,
    ) -> Result<()> {
        let to_u32 = |x: usize| {
            u32::try_from(x).map_err(|_| {
                Error::Config(format!(
                    "text {text_index} is too long for offsets ({x} characters; at most 4 GiB)"
                ))
            })
        };
        let first = seq.offsets.len();
        for (s, e) in char_spans(text.as_bytes(), spans.iter().copied()) {
            seq.offsets.push((to_u32(s)?, to_u32(e)?));
        }
        if let Some(t) = trim {
            let firsts = t.add_prefix_space.then(|| {
                // the tokens before this text's: as they are
                let kept = seq.first_offsets.len();
                seq.first_offsets.extend_from_slice(&seq.offsets[kept..first]);
                &mut seq.first_offsets
            });
            self.trim_offsets(&seq.ids[first..], &mut seq.offsets[first..], found, firsts, t);
        }
        Ok(())
    }

    /// HF's ByteLevel `trim_offsets` on the character `offsets` of `ids` (one text's):
    /// a token's span leaves out the spaces of its byte-level spelling, an added token's
    /// those (white space or `Ġ`) of the text it matched (`found`: its position, leading and
    /// trailing count); with `firsts`, also each token's span as the first of a row (HF
    /// trims offsets per row, so the first token of every truncation window keeps its one
    /// leading space under `add_prefix_space`), pushed there.
    fn trim_offsets(
        &self,
        ids: &[u32],
        offsets: &mut [(u32, u32)],
        found: &[(usize, u32, u32)],
        mut firsts: Option<&mut Vec<(u32, u32)>>,
        trim: Trim,
    ) {
        let mut found = found.iter().peekable();
        for (k, (&id, span)) in ids.iter().zip(offsets.iter_mut()).enumerate() {
            let (start, end) = *span;
            let (lead, trail) = match found.next_if(|(at, _, _)| *at == k) {
                Some(&(_, lead, trail)) => (lead, trail),
                None => {
                    let bytes = self.token_bytes(id).unwrap_or_default();
                    let lead = bytes.iter().take_while(|&&b| b == b' ').count() as u32;
                    (lead, bytes.iter().rev().take_while(|&&b| b == b' ').count() as u32)
                }
            };
            let trimmed = |first: bool| {
                // a row's first token keeps the one space add_prefix_space put there
                let lead = if trim.add_prefix_space && first && lead == 1 { 0 } else { lead };
                let start = if lead > 0 { (start + lead).min(end) } else { start };
                let end = if trail > 0 && end >= trail { (end - trail).max(start) } else { end };
                (start, end)
            };
            *span = trimmed(k == 0 || start == 0);
            if let Some(firsts) = firsts.as_deref_mut() {
                firsts.push(trimmed(true));
            }
        }
    }

    /// Model inputs for a batch: each text (or pair) encoded as [`encode_seq`]
    /// (Self::encode_seq) does, then truncated, framed by `template` and cut into rows as
    /// `opts` says, in parallel.
    #[allow(clippy::too_many_arguments)]
    pub fn encode_rows(
        &self,
        texts: Texts<'_>,
        pairs: Option<Texts<'_>>,
        policy: &Policy<'_>,
        template: &Template,
        opts: &Options,
        trim: Option<Trim>,
        num_threads: Option<usize>,
    ) -> Result<Batch> {
        check_pairs(texts, pairs)?;
        opts.check(template)?;
        let threads = threads_for(num_threads, texts, pairs);
        let prefix = opts.prefix_tokens(template, pairs.is_some()).filter(|_| self.prefix_safe());
        let chunks = parallel::map_ranges(threads, texts.len(), 64, |idx| {
            let mut out = Rows::default();
            let (mut a, mut b, mut word) = (Seq::default(), Seq::default(), Seq::default());
            for i in idx {
                if prefix.is_some() {
                    // a disallowed special token is refused wherever it is, as without it
                    for piece in texts.pieces(i) {
                        policy.check(piece, i)?;
                    }
                }
                let mut encode =
                    |text: &str, seq: &mut Seq| self.encode_seq(text, policy, i, trim, seq);
                texts.encode_into(i, prefix, &mut word, &mut a, &mut encode)?;
                let second = match pairs {
                    Some(p) => {
                        p.encode_into(i, None, &mut word, &mut b, &mut encode)
                            .map_err(Error::in_pair)?;
                        Some(&b)
                    }
                    None => None,
                };
                rows(&a, second, template, opts, i as u32, &mut out)?;
            }
            Ok(out)
        });
        let chunks = parallel::in_order(chunks)?;
        Ok(Batch { chunks })
    }

    /// Whether a truncated text may be encoded only up to a
    /// [`prefix_cut`](crate::postprocess::prefix_cut): the pre-tokenizer is one of the
    /// hand-compiled presets (each ends a piece before such a space), every byte has a
    /// token (no text past the cut could fail to encode), and no added token could be found
    /// across the cut. The normalizers (NFC, NFKC, lowercase, strip...) act per character
    /// there, and the prefix space goes before the text, which the prefix starts too.
    fn prefix_safe(&self) -> bool {
        use crate::pretokenize::Pretokenizer;
        matches!(self.pretok, Pretokenizer::Gpt2 | Pretokenizer::Cl100k | Pretokenizer::O200k)
            && self.byte_ids.iter().all(|&id| id != super::model::NO_ID)
            && self.specials.cut_safe()
    }

    /// Encodes arbitrary bytes. Runs of valid UTF-8 are encoded as text; each invalid
    /// sequence becomes a piece of its own, so `decode_bytes(encode_bytes(x)) == x` for all x.
    pub fn encode_bytes(&self, data: &[u8], policy: &Policy<'_>, out: &mut Vec<u32>) -> Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            match std::str::from_utf8(rest) {
                Ok(text) => return self.encode_text(text, policy, 0, out),
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    if let Ok(text) = std::str::from_utf8(valid) {
                        self.encode_text(text, policy, 0, out)?;
                    }
                    let bad = e.error_len().unwrap_or(after.len());
                    self.merge_bytes(&after[..bad], out)?;
                    rest = &after[bad..];
                }
            }
        }
        Ok(())
    }

    /// Encodes many texts in parallel (`num_threads`: see [`crate::parallel`]).
    pub fn encode_batch(
        &self,
        texts: &[&str],
        policy: &Policy<'_>,
        num_threads: Option<usize>,
    ) -> Result<Vec<Vec<u32>>> {
        use rayon::prelude::*;
        let one = |(i, text): (usize, &&str)| {
            let mut ids = Vec::with_capacity(text.len() / 3 + 1);
            self.encode_text(text, policy, i, &mut ids)?;
            Ok(ids)
        };
        let threads = parallel::threads_for_texts(num_threads, texts, None);
        if parallel::resolve_threads(threads) == 1 {
            // on the calling thread, stopping at the first error (the lowest index's)
            return texts.iter().enumerate().map(one).collect();
        }
        let encoded = parallel::install(threads, || {
            texts.par_iter().enumerate().with_min_len(8).map(one).collect::<Vec<Result<_>>>()
        });
        parallel::in_order(encoded)
    }

    /// Byte offsets `(start, end)` of each id of `text`'s encoding, starting at `base`. A
    /// special token that took the whitespace before it (lstrip) spans that whitespace.
    pub fn byte_offsets(&self, text: &[u8], ids: &[u32], base: usize) -> Vec<(usize, usize)> {
        let mut at = base;
        let lstrip = self.specials.any_lstrip();
        ids.iter()
            .map(|&id| {
                let start = at;
                match if lstrip { self.specials.lstrip_text(id) } else { None } {
                    // the token took the whitespace before it: it ends after its own text
                    Some(own) => {
                        let rest = text.get(at..).unwrap_or_default();
                        let own = own.as_bytes();
                        let found = rest.windows(own.len()).position(|w| w == own).unwrap_or(0);
                        at += found + own.len();
                    }
                    None => at += self.id_len(id),
                }
                (start, at)
            })
            .collect()
    }

    /// Character offsets (Python `str` indices) of each id of `text`'s encoding. A token
    /// that covers part of a multi-byte character covers that whole character.
    pub fn char_offsets(&self, text: &str, ids: &[u32]) -> Vec<(usize, usize)> {
        char_spans(text.as_bytes(), self.byte_offsets(text.as_bytes(), ids, 0))
    }
}

/// Byte spans of `bytes` (mostly in order: a token may start inside an `rstrip` token's
/// span, or, through a normalizer, before the one before it) as character spans; a span
/// covering part of a multi-byte character covers all of it.
fn char_spans(
    bytes: &[u8],
    spans: impl IntoIterator<Item = (usize, usize)>,
) -> Vec<(usize, usize)> {
    let (mut p, mut c) = (0usize, 0usize); // byte p starts character number c
    let mut char_of = |x: usize| {
        while x < p {
            p = prev_char_start(bytes, p); // back, character by character: rare and short
            c -= 1;
        }
        while p < bytes.len() {
            let len = utf8_len(bytes[p]);
            if p + len > x {
                break;
            }
            p += len;
            c += 1;
        }
        c
    };
    spans
        .into_iter()
        .map(|(start, end)| {
            let s = char_of(start);
            let e = if end > start { char_of(end - 1) + 1 } else { s };
            (s, e)
        })
        .collect()
}

/// The leading and trailing characters of `text` that HF's ByteLevel `trim_offsets` leaves
/// out of an added token's span: white space, and `Ġ` (a space's byte-level spelling).
fn spaces(text: &str) -> (u32, u32) {
    let space = |c: &char| c.is_whitespace() || *c == '\u{120}';
    let lead = text.chars().take_while(space).count() as u32;
    (lead, text.chars().rev().take_while(space).count() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postprocess::Seq;
    use crate::pretokenize::Pretokenizer;
    use crate::special::{Flags, Selection};

    /// Bytes, the merges " w" + "o", and `<m>` (id 300) that takes the space before it.
    fn model() -> BpeModel {
        let mut vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], u32::from(b))).collect();
        let merges = vec![(b" ".to_vec(), b"w".to_vec()), (b" w".to_vec(), b"o".to_vec())];
        vocab.push((b" w".to_vec(), 256));
        vocab.push((b" wo".to_vec(), 257));
        let specials = vec![("<m>".to_string(), 300)];
        let mut m = BpeModel::from_merges(
            vocab,
            &merges,
            specials,
            Pretokenizer::new("gpt2").unwrap(),
            false,
        )
        .unwrap();
        m.set_lstrip(&[300]).unwrap();
        m
    }

    fn seq(m: &BpeModel, text: &str, trim: Option<Trim>) -> Seq {
        let policy = m.specials().policy(&Selection::All, &Selection::Some(vec![])).unwrap();
        let mut s = Seq::default();
        m.encode_seq(text, &policy, 0, trim, &mut s).unwrap();
        s
    }

    #[test]
    fn sequences_agree_with_ids_and_offsets() {
        let m = model();
        let policy = m.specials().policy(&Selection::All, &Selection::Some(vec![])).unwrap();
        for text in ["hé wo  wo!", "x <m> wo", "<m>", "  é", ""] {
            let s = seq(&m, text, None);
            let mut ids = Vec::new();
            m.encode_text(text, &policy, 0, &mut ids).unwrap();
            assert_eq!(s.ids, ids, "{text:?}");
            let want: Vec<(u32, u32)> =
                m.char_offsets(text, &ids).into_iter().map(|(a, b)| (a as u32, b as u32)).collect();
            assert_eq!(s.offsets, want, "{text:?}");
        }
    }

    #[test]
    fn words_are_pretokens_and_specials() {
        let m = model();
        // pieces: "hé" " wo" " " " wo" "!": é is two byte tokens of one word
        let s = seq(&m, "hé wo  wo!", None);
        assert_eq!(s.words, [0, 0, 0, 1, 2, 3, 4]);
        // "<m>" takes " " before it: "x", " <m>", " wo"
        let s = seq(&m, "x <m> wo", None);
        assert_eq!(s.ids, [u32::from(b'x'), 300, 257]);
        assert_eq!(s.words, [0, 1, 2]);
        assert_eq!(s.offsets, [(0, 1), (1, 5), (5, 8)]);
    }

    #[test]
    fn added_tokens_that_are_not_special() {
        let mut m = model();
        // "  " (a whitespace run, found in the second pass) and " wo" (a vocabulary token
        // too, taking the whitespace after it)
        let normalized = Flags { normalized: true, ..Flags::default() };
        let rstrip = Flags { rstrip: true, ..Flags::default() };
        let added = vec![("  ".to_string(), 301), (" wo".to_string(), 257)];
        m.set_added_tokens(added, &[(301, normalized), (257, rstrip)]).unwrap();
        assert_eq!(m.vocab_size(), 302);
        let s = seq(&m, "a  b", Some(Trim::default()));
        assert_eq!(s.ids, [u32::from(b'a'), 301, u32::from(b'b')]);
        assert_eq!(s.offsets, [(0, 1), (3, 3), (3, 4)]);
        let s = seq(&m, " wo  x", Some(Trim::default()));
        assert_eq!((s.ids, s.offsets), (vec![257, u32::from(b'x')], vec![(1, 3), (5, 6)]));
        // no special allowed: the added tokens are still found
        let policy = m.specials().policy(&Selection::Some(vec![]), &Selection::All).unwrap();
        let mut ids = Vec::new();
        m.encode_text("a  b", &policy, 0, &mut ids).unwrap();
        assert_eq!(ids, [u32::from(b'a'), 301, u32::from(b'b')]);
        let mut out = Vec::new();
        m.decode_into([301, 257].map(i64::from), &mut out).unwrap();
        assert_eq!(out, b"   wo");
        // an id clash with a special token is refused
        assert!(m.set_added_tokens(vec![("x".into(), 300)], &[]).is_err());
    }

    #[test]
    fn trimmed_offsets_leave_out_spaces() {
        let m = model();
        let s = seq(&m, "x <m> wo", Some(Trim::default()));
        assert_eq!(s.offsets, [(0, 1), (2, 5), (6, 8)]);
        // a token of spaces only keeps an empty span at its end ("a", " ", " ", "b")
        let s = seq(&m, "a  b", Some(Trim::default()));
        assert_eq!(s.offsets, [(0, 1), (2, 2), (3, 3), (3, 4)]);
        // add_prefix_space: the first token's one space is the text's own
        let s = seq(&m, " wo", Some(Trim { add_prefix_space: true }));
        assert_eq!(s.offsets, [(0, 3)]);
        let s = seq(&m, " wo", Some(Trim::default()));
        assert_eq!(s.offsets, [(1, 3)]);
    }
}
