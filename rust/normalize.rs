//! HF `tokenizers`' simple normalizers (`NFC`, `NFD`, `NFKC`, `NFKD`, `Lowercase`, `Strip`,
//! `StripAccents` and a `Sequence` of them) with HF's alignments: every byte of the
//! normalized text knows the span of the original text it came from, so that token offsets
//! point into the text the caller gave.
//!
//! Alignment is HF's `NormalizedString::transform`: a normalization yields each output
//! character with a *change* (0: it replaces the next input character; > 0: it is
//! inserted; < 0: it replaces the next input character and that many after it are
//! removed). A replacing character takes the span of the input character it replaces, an
//! inserted one the span of the last input character consumed (so NFC's `é` from `e` +
//! U+0301 spans the `e` alone, as in HF). Unicode data: `unicode-normalization-alignments`,
//! the crate HF uses; lower case: Rust's `char::to_lowercase`, as HF's.
//!
//! Text a step would leave as it is (ASCII under NFC, no capital under Lowercase: a quick
//! check) is not copied: [`Normalizer::normalize_into`] says whether anything changed.

use unicode_normalization_alignments::char::is_combining_mark;
use unicode_normalization_alignments::{
    is_nfc_quick, is_nfd_quick, is_nfkc_quick, is_nfkd_quick, IsNormalized, UnicodeNormalization,
};

use crate::error::{Error, Result};

/// One normalization step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Nfc,
    Nfd,
    Nfkc,
    Nfkd,
    Lowercase,
    /// Drops the white space at the start (`left`) and/or end (`right`).
    Strip {
        left: bool,
        right: bool,
    },
    /// Drops every combining mark (category M, HF's `StripAccents`; accents come apart from
    /// their letters only after NFD or NFKD).
    StripAccents,
}

impl Step {
    /// The step named `name`: `"NFC"`, `"NFD"`, `"NFKC"`, `"NFKD"`, `"Lowercase"`,
    /// `"Strip"` (both sides), `"StripLeft"`, `"StripRight"` or `"StripAccents"` (HF's type
    /// names).
    pub fn parse(name: &str) -> Result<Step> {
        Ok(match name {
            "NFC" => Step::Nfc,
            "NFD" => Step::Nfd,
            "NFKC" => Step::Nfkc,
            "NFKD" => Step::Nfkd,
            "Lowercase" => Step::Lowercase,
            "Strip" => Step::Strip { left: true, right: true },
            "StripLeft" => Step::Strip { left: true, right: false },
            "StripRight" => Step::Strip { left: false, right: true },
            "StripAccents" => Step::StripAccents,
            _ => {
                return Err(Error::Config(format!(
                    "unknown normalizer step {name:?}; use NFC, NFD, NFKC, NFKD, Lowercase, \
                     Strip, StripLeft, StripRight or StripAccents"
                )))
            }
        })
    }

    /// The name [`parse`](Self::parse) reads back.
    pub fn name(self) -> &'static str {
        match self {
            Step::Nfc => "NFC",
            Step::Nfd => "NFD",
            Step::Nfkc => "NFKC",
            Step::Nfkd => "NFKD",
            Step::Lowercase => "Lowercase",
            Step::Strip { left: true, right: false } => "StripLeft",
            Step::Strip { left: false, right: true } => "StripRight",
            Step::Strip { .. } => "Strip",
            Step::StripAccents => "StripAccents",
        }
    }

    /// Whether the step leaves `text` as it is (a cheap check: false may still mean so).
    fn keeps(self, text: &str) -> bool {
        let quick = |check: fn(std::str::Chars<'_>) -> IsNormalized| {
            text.is_ascii() || check(text.chars()) == IsNormalized::Yes
        };
        match self {
            Step::Nfc => quick(|t| is_nfc_quick(t)),
            Step::Nfd => quick(|t| is_nfd_quick(t)),
            Step::Nfkc => quick(|t| is_nfkc_quick(t)),
            Step::Nfkd => quick(|t| is_nfkd_quick(t)),
            Step::Lowercase => {
                if text.is_ascii() {
                    !text.bytes().any(|b| b.is_ascii_uppercase())
                } else {
                    text.chars().all(|c| {
                        let mut lower = c.to_lowercase();
                        lower.next() == Some(c) && lower.next().is_none()
                    })
                }
            }
            Step::Strip { left, right } => {
                !(left && text.starts_with(char::is_whitespace)
                    || right && text.ends_with(char::is_whitespace))
            }
            Step::StripAccents => text.is_ascii() || !text.chars().any(is_combining_mark),
        }
    }
}

/// A sequence of steps, applied in order (HF's `Sequence` normalizer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Normalizer {
    steps: Vec<Step>,
}

/// Normalized text and, per byte, the span `[start, end)` of the original text (bytes,
/// from the start of the text normalized) it comes from.
#[derive(Clone, Debug, Default)]
pub struct Normalized {
    text: String,
    /// Empty while every byte is its own origin (nothing moved yet).
    align: Vec<(u32, u32)>,
}

impl Normalizer {
    /// A normalizer of these steps (see [`Step::parse`]).
    pub fn new(steps: Vec<Step>) -> Normalizer {
        Normalizer { steps }
    }

    /// Parses step names (see [`Step::parse`]).
    pub fn parse(names: &[String]) -> Result<Normalizer> {
        Ok(Normalizer::new(names.iter().map(|n| Step::parse(n)).collect::<Result<_>>()?))
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Normalizes `text` into `out`; false (and `out` left as it was) when no step changes
    /// it, which is the common case and copies nothing.
    pub fn normalize_into(&self, text: &str, out: &mut Normalized) -> bool {
        let mut changed = false;
        for &step in &self.steps {
            if step.keeps(if changed { &out.text } else { text }) {
                continue;
            }
            if !changed {
                out.text.clear();
                out.text.push_str(text);
                out.align.clear();
                changed = true;
            }
            out.apply(step);
        }
        changed
    }

    /// The normalized form of `text` (an added token's, say).
    pub fn normalize(&self, text: &str) -> String {
        let mut out = Normalized::default();
        if self.normalize_into(text, &mut out) {
            out.text
        } else {
            text.to_string()
        }
    }
}

impl Normalized {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The span of the original text (bytes) that the normalized bytes `[lo, hi)` come
    /// from: the smallest holding every byte's (HF's `convert_offsets`).
    pub fn span(&self, lo: usize, hi: usize) -> (usize, usize) {
        if self.align.is_empty() {
            return (lo, hi);
        }
        let (mut s, mut e) = (u32::MAX, 0);
        for &(a, b) in &self.align[lo..hi.max(lo + 1).min(self.align.len())] {
            s = s.min(a);
            e = e.max(b);
        }
        (s.min(e) as usize, e as usize)
    }

    fn apply(&mut self, step: Step) {
        match step {
            Step::Nfc => self.transform(|t| t.nfc().collect()),
            Step::Nfd => self.transform(|t| t.nfd().collect()),
            Step::Nfkc => self.transform(|t| t.nfkc().collect()),
            Step::Nfkd => self.transform(|t| t.nfkd().collect()),
            Step::Lowercase if self.align.is_empty() && self.text.is_ascii() => {
                self.text.make_ascii_lowercase(); // same bytes, same places
            }
            Step::Lowercase => self.transform(|t| {
                t.chars()
                    .flat_map(|c| {
                        c.to_lowercase().enumerate().map(|(i, l)| (l, isize::from(i > 0)))
                    })
                    .collect()
            }),
            Step::Strip { left, right } => {
                let mut start = 0;
                let mut end = self.text.len();
                if left {
                    start = end - self.text.trim_start().len();
                }
                if right {
                    end = start + self.text[start..].trim_end().len();
                }
                self.materialize();
                self.align.truncate(end);
                self.align.drain(..start);
                self.text.truncate(end);
                self.text.drain(..start);
            }
            Step::StripAccents => {
                // HF's `filter`: a kept character keeps its span, the dropped ones go
                self.materialize();
                let old = std::mem::take(&mut self.text);
                let old_align = std::mem::take(&mut self.align);
                for (at, c) in old.char_indices() {
                    if !is_combining_mark(c) {
                        self.text.push(c);
                        self.align.extend_from_slice(&old_align[at..at + c.len_utf8()]);
                    }
                }
            }
        }
    }

    /// Gives every byte its origin explicitly: each byte of a character spans the whole
    /// character, as HF starts.
    fn materialize(&mut self) {
        if !self.align.is_empty() || self.text.is_empty() {
            return;
        }
        self.align.reserve(self.text.len());
        for (at, c) in self.text.char_indices() {
            let span = (at as u32, (at + c.len_utf8()) as u32);
            self.align.extend(std::iter::repeat_n(span, c.len_utf8()));
        }
    }

    /// HF's `transform` over the whole text: `new` gives the output characters with their
    /// changes (see the module docs).
    fn transform(&mut self, new: impl FnOnce(&str) -> Vec<(char, isize)>) {
        self.materialize();
        let new = new(&self.text);
        let old = std::mem::take(&mut self.text);
        let old_align = std::mem::take(&mut self.align);
        let bytes = old.as_bytes();
        let next_len = |at: usize| bytes.get(at).map_or(0, |&b| crate::unicode::utf8_len(b));
        let mut at = 0usize; // bytes of `old` consumed
        self.text.reserve(old.len());
        self.align.reserve(old.len());
        for (c, change) in new {
            let span = if change > 0 {
                if at == 0 {
                    (0, 0)
                } else {
                    old_align[at - 1]
                }
            } else {
                let span = old_align.get(at).copied().unwrap_or((0, 0));
                at += next_len(at);
                for _ in 0..(-change) {
                    at += next_len(at);
                }
                span
            };
            self.text.push(c);
            self.align.extend(std::iter::repeat_n(span, c.len_utf8()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(steps: &[&str], text: &str) -> (String, Vec<(usize, usize)>) {
        let n =
            Normalizer::parse(&steps.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let mut out = Normalized::default();
        if !n.normalize_into(text, &mut out) {
            out.text = text.to_string();
        }
        let spans = out.text.char_indices().map(|(i, c)| out.span(i, i + c.len_utf8())).collect();
        (out.text, spans)
    }

    #[test]
    fn composition_spans_the_first_character() {
        assert_eq!(norm(&["NFC"], "e\u{301}x"), ("éx".into(), vec![(0, 1), (3, 4)]));
        assert_eq!(norm(&["NFD"], "éx"), ("e\u{301}x".into(), vec![(0, 2), (0, 2), (2, 3)]));
        assert_eq!(norm(&["NFKC"], "\u{fb01}").0, "fi");
        assert_eq!(norm(&["NFKC"], "\u{fb01}").1, [(0, 3), (0, 3)]);
    }

    #[test]
    fn already_normal_text_is_not_copied() {
        let n = Normalizer::new(vec![Step::Nfc, Step::Lowercase]);
        let mut out = Normalized::default();
        assert!(!n.normalize_into("plain text, é", &mut out));
        assert!(n.normalize_into("Plain", &mut out));
        assert_eq!((out.as_str(), out.span(0, 5)), ("plain", (0, 5)));
        // precomposed text under NFC: the quick check and the transform agree
        for text in ["é 각 x", "ǅ", "\u{1e0c}\u{307}"] {
            let mut full = Normalized { text: text.into(), align: Vec::new() };
            full.apply(Step::Nfc);
            let spans: Vec<_> = (0..full.text.len()).map(|i| full.span(i, i + 1)).collect();
            let mut plain = Normalized { text: text.into(), align: Vec::new() };
            plain.materialize();
            assert_eq!(full.text, text);
            assert_eq!(
                spans,
                plain.align.iter().map(|&(a, b)| (a as usize, b as usize)).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn lowercase_and_strip() {
        assert_eq!(norm(&["Lowercase"], "İx").0, "i\u{307}x");
        assert_eq!(norm(&["Lowercase"], "İx").1, [(0, 2), (0, 2), (2, 3)]);
        assert_eq!(
            norm(&["Strip"], "  a b \u{3000}"),
            ("a b".into(), vec![(2, 3), (3, 4), (4, 5)])
        );
        assert_eq!(norm(&["StripRight"], " a ").0, " a");
        assert_eq!(norm(&["Strip"], "   ").0, "");
        assert!(Step::parse("Replace").is_err());
        assert_eq!(norm(&["NFD", "StripAccents"], "xé\u{903}y").0, "xey");
        assert_eq!(norm(&["NFD", "StripAccents"], "xé\u{903}y").1, [(0, 1), (1, 3), (6, 7)]);
        assert_eq!(norm(&["StripAccents"], "\u{301}a").1, [(2, 3)]);
        for s in [
            "NFC",
            "NFD",
            "NFKC",
            "NFKD",
            "Lowercase",
            "Strip",
            "StripLeft",
            "StripRight",
            "StripAccents",
        ] {
            assert_eq!(Step::parse(s).unwrap().name(), s);
        }
    }
}
