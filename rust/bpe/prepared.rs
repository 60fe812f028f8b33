//! Encoding through what HF puts before the byte-level pre-tokenizer: a normalizer
//! ([`crate::normalize`]) and ByteLevel's `add_prefix_space`, in HF's order.
//!
//! 1. The added tokens that are not `normalized` are found in the raw text.
//! 2. Each piece of text between them is normalized (aligned to the original), and the
//!    `normalized` added tokens are found in it by their normalized forms.
//! 3. Each piece left is pre-tokenized and merged, after a space put in front of it when
//!    `add_prefix_space` is set and it does not start with one (HF does this per piece:
//!    after an added token, and, behind a `Split`, before every pre-token). The space
//!    spans the piece's first character in the original text, as in HF.
//!
//! A model with neither takes [`super::encode`]'s path alone, untouched.

use super::model::BpeModel;
use crate::error::{Error, Result};
use crate::normalize::{Normalized, Normalizer};
use crate::special::{Policy, Segment};

/// HF's ByteLevel `add_prefix_space`: where a space goes in front of text that does not
/// start with one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrefixSpace {
    #[default]
    Off,
    /// Before each piece of text between added tokens (ByteLevel splitting with its regex).
    EachText,
    /// Before each pre-token (ByteLevel with `use_regex: false` after a `Split`).
    EachPretoken,
}

impl PrefixSpace {
    /// `""` (off), `"text"` or `"pretoken"`.
    pub fn parse(name: &str) -> Result<PrefixSpace> {
        match name {
            "" => Ok(PrefixSpace::Off),
            "text" => Ok(PrefixSpace::EachText),
            "pretoken" => Ok(PrefixSpace::EachPretoken),
            _ => Err(Error::Config(format!(
                "add_prefix_space {name:?} is not one of \"\", \"text\", \"pretoken\""
            ))),
        }
    }

    /// The name [`parse`](Self::parse) reads back.
    pub fn name(self) -> &'static str {
        match self {
            PrefixSpace::Off => "",
            PrefixSpace::EachText => "text",
            PrefixSpace::EachPretoken => "pretoken",
        }
    }
}

/// What happens to text before pre-tokenization (both off by default).
#[derive(Clone, Debug, Default)]
pub struct Prep {
    /// HF's normalizer (no steps: none).
    pub normalizer: Normalizer,
    pub prefix_space: PrefixSpace,
}

impl Prep {
    /// Whether text goes through anything at all.
    #[inline]
    pub fn is_active(&self) -> bool {
        !self.normalizer.is_empty() || self.prefix_space != PrefixSpace::Off
    }
}

/// Where the bytes of a piece handed to BPE come from in the original text.
pub(crate) struct Origin<'a> {
    /// The normalized text the piece is part of (`None`: the raw text, unchanged).
    norm: Option<&'a Normalized>,
    /// Byte offset in the original text of the raw piece that was normalized.
    base: usize,
    /// Byte offset of the piece in the normalized text.
    offset: usize,
    /// Whether a space was put in front of the piece.
    prefixed: bool,
}

impl Origin<'_> {
    /// The original bytes (possibly part of a character) that bytes `[a, b)` of the piece
    /// come from; the prefix space comes from the piece's first character.
    #[inline]
    pub(crate) fn span(&self, a: usize, b: usize) -> (usize, usize) {
        let (lo, hi) = if self.prefixed {
            let lo = a.saturating_sub(1);
            (lo, (b - 1).max(lo + 1))
        } else {
            (a, b)
        };
        let (lo, hi) = (self.offset + lo, self.offset + hi);
        let (s, e) = match self.norm {
            Some(n) => n.span(lo, hi),
            None => (lo, hi),
        };
        (self.base + s, self.base + e)
    }
}

/// What [`BpeModel::walk_prepared`] found, in order.
pub(crate) enum Event<'a> {
    /// An added token, its id pushed at position `at`, from `span` of the original text
    /// (bytes), where it matched `matched` (raw or normalized text).
    Added { at: usize, span: (usize, usize), matched: &'a str },
    /// A pre-token: its ids, and its byte offset in the piece `origin` maps back.
    Piece { start: usize, ids: &'a [u32], origin: &'a Origin<'a> },
}

impl BpeModel {
    /// Sets the normalizer and `add_prefix_space`; the `normalized` added tokens are then
    /// found by their forms under this normalizer (HF normalizes them as it does text).
    pub fn set_prep(&mut self, prep: Prep) -> Result<()> {
        let normalizer = &prep.normalizer;
        self.specials.set_forms(|t| normalizer.normalize(t))?;
        self.prep = prep;
        Ok(())
    }

    /// The normalizer and `add_prefix_space`.
    pub fn prep(&self) -> &Prep {
        &self.prep
    }

    /// Encodes `text` as the module docs say, pushing ids into `ids` and telling `on` what
    /// each came from. `text` must have passed `policy.check`.
    pub(crate) fn walk_prepared(
        &self,
        text: &str,
        policy: &Policy<'_>,
        ids: &mut Vec<u32>,
        mut on: impl FnMut(Event<'_>),
    ) -> Result<()> {
        let prep = &self.prep;
        let mut norm = Normalized::default();
        let mut buf = String::new();
        let mut bytes = Vec::new();
        policy.raw_segments(text, |segment| match segment {
            Segment::Special(id, s, e) => {
                on(Event::Added { at: ids.len(), span: (s, e), matched: &text[s..e] });
                ids.push(id);
                Ok(())
            }
            Segment::Text(s, e) => {
                let raw = &text[s..e];
                let changed = prep.normalizer.normalize_into(raw, &mut norm);
                let (normal, by) = if changed { (norm.as_str(), Some(&norm)) } else { (raw, None) };
                policy.normalized_segments(normal, |piece| match piece {
                    Segment::Special(id, a, b) => {
                        let origin = Origin { norm: by, base: s, offset: 0, prefixed: false };
                        let (span, matched) = (origin.span(a, b), &normal[a..b]);
                        on(Event::Added { at: ids.len(), span, matched });
                        ids.push(id);
                        Ok(())
                    }
                    Segment::Text(a, b) if prep.prefix_space == PrefixSpace::EachPretoken => self
                        .each_pretoken(&normal[a..b], ids, &mut bytes, |start, prefixed, new| {
                            let origin = Origin { norm: by, base: s, offset: a + start, prefixed };
                            on(Event::Piece { start: 0, ids: new, origin: &origin })
                        }),
                    Segment::Text(a, b) => {
                        let piece = &normal[a..b];
                        let prefixed =
                            prep.prefix_space == PrefixSpace::EachText && !piece.starts_with(' ');
                        let src = if prefixed {
                            buf.clear();
                            buf.push(' ');
                            buf.push_str(piece);
                            buf.as_str()
                        } else {
                            piece
                        };
                        let origin = Origin { norm: by, base: s, offset: a, prefixed };
                        self.encode_pieces(src, ids, |start, new| {
                            on(Event::Piece { start, ids: new, origin: &origin })
                        })
                    }
                })
            }
        })
    }

    /// Pre-tokenizes `text` and merges each pre-token with a space in front unless it
    /// starts with one (`buf` holds it), calling `piece(start, prefixed, ids)` with its
    /// byte offset in `text`, whether a space went in front, and its ids.
    fn each_pretoken(
        &self,
        text: &str,
        ids: &mut Vec<u32>,
        buf: &mut Vec<u8>,
        mut piece: impl FnMut(usize, bool, &[u32]),
    ) -> Result<()> {
        let mut failed = None;
        self.pretok.split(text, |start, end| {
            let own = &text.as_bytes()[start..end];
            buf.clear();
            if own.first() != Some(&b' ') {
                buf.push(b' ');
            }
            let prefixed = !buf.is_empty();
            buf.extend_from_slice(own);
            let at = ids.len();
            if let Err(e) = self.encode_piece(buf, ids) {
                failed.get_or_insert(e);
            }
            piece(start, prefixed, &ids[at..]);
        })?;
        failed.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::Step;
    use crate::postprocess::Seq;
    use crate::pretokenize::Pretokenizer;
    use crate::special::{Flags, Selection};

    /// Bytes and the merges " w" + "o"; "WO" (id 300) added, normalized; "<s>" special.
    fn model(steps: Vec<Step>, add_prefix_space: bool) -> BpeModel {
        let vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], u32::from(b))).collect();
        let mut vocab = vocab;
        vocab.push((b" w".to_vec(), 256));
        vocab.push((b" wo".to_vec(), 257));
        let merges = vec![(b" ".to_vec(), b"w".to_vec()), (b" w".to_vec(), b"o".to_vec())];
        let pretok = Pretokenizer::new("gpt2").unwrap();
        let mut m = BpeModel::from_merges(vocab, &merges, vec![("<s>".into(), 301)], pretok, false)
            .unwrap();
        let normalized = Flags { normalized: true, ..Flags::default() };
        m.set_added_tokens(vec![("WO".into(), 300)], &[(300, normalized)]).unwrap();
        let prefix_space = if add_prefix_space { PrefixSpace::EachText } else { PrefixSpace::Off };
        m.set_prep(Prep { normalizer: Normalizer::new(steps), prefix_space }).unwrap();
        m
    }

    fn seq(m: &BpeModel, text: &str) -> Seq {
        let policy = m.specials().policy(&Selection::All, &Selection::Some(vec![])).unwrap();
        let mut seq = Seq::default();
        m.encode_seq(text, &policy, 0, None, &mut seq).unwrap();
        let mut ids = Vec::new();
        m.encode_text(text, &policy, 0, &mut ids).unwrap();
        assert_eq!(ids, seq.ids);
        seq
    }

    #[test]
    fn lowercase_finds_the_normalized_token_and_maps_back() {
        let m = model(vec![Step::Lowercase], false);
        let s = seq(&m, " WO İwo");
        // "wo" (lowercased "WO") is the added token; "İ" is "i" + U+0307, both from it
        assert_eq!(s.ids, [32, 300, 32, 105, 204, 135, 300]);
        assert_eq!(s.offsets, [(0, 1), (1, 3), (3, 4), (4, 5), (4, 5), (4, 5), (5, 7)]);
        assert_eq!(s.words, [0, 1, 2, 2, 3, 3, 4]);
    }

    #[test]
    fn prefix_space_per_piece() {
        let m = model(vec![], true);
        let s = seq(&m, "wo<s>wo wo");
        assert_eq!(s.ids, [257, 301, 257, 257]);
        assert_eq!(s.offsets, [(0, 2), (2, 5), (5, 7), (7, 10)]);
        let s = seq(&m, "é");
        assert_eq!(s.ids, [32, 0xC3, 0xA9]);
        assert_eq!(s.offsets, [(0, 1), (0, 1), (0, 1)]);
    }

    #[test]
    fn prefix_space_per_pretoken() {
        let mut m = model(vec![], false);
        let prep = Prep { prefix_space: PrefixSpace::EachPretoken, ..Prep::default() };
        m.set_prep(prep).unwrap();
        // "wo" gets its space, " wo" has one; "," gets one too
        let s = seq(&m, "wo wo,");
        assert_eq!(s.ids, [257, 257, 32, 44]);
        assert_eq!(s.offsets, [(0, 2), (2, 5), (5, 6), (5, 6)]);
        assert_eq!(s.words, [0, 1, 2, 2]);
    }

    #[test]
    fn nfc_composes() {
        let m = model(vec![Step::Nfc], false);
        let s = seq(&m, "e\u{301}x");
        assert_eq!(s.ids, [0xC3, 0xA9, 120]);
        assert_eq!(s.offsets, [(0, 1), (0, 1), (2, 3)]);
    }
}
