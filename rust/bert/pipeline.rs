//! HF `tokenizers`' general normalizers and pre-tokenizers in front of WordPiece, for
//! tokenizers built without BERT's own (the `tokenizers` quicktour's `Sequence([NFD(),
//! Lowercase(), StripAccents()])` with `Whitespace()`, say).
//!
//! The normalizer is [`crate::normalize`]'s, its byte spans turned into the character
//! origins the BERT pipeline keeps ([`Normalized`]). The pre-tokenizer is a list of splits
//! applied in turn to every piece the ones before left (HF's `Sequence`), each as HF
//! defines it:
//! - `BertPreTokenizer`: [`bert_words_in`];
//! - `Whitespace`: the matches of `\w+|[^\w\s]+`, on the `regex` crate's Unicode classes
//!   (HF runs it there, not on Oniguruma: ZWJ is a word character);
//! - `WhitespaceSplit`: runs of characters that are not `char::is_whitespace`;
//! - `Punctuation`: BERT's punctuation (category P or ASCII punctuation), split with one
//!   of HF's five behaviors;
//! - `Digits`: `char::is_numeric`, each digit alone or runs of them together.
//!
//! The default, BERT's pre-tokenizer alone and no steps, is the path BERT files take;
//! [`Pipeline::words_in`] hands it to [`bert_words_in`] at once.

use std::sync::OnceLock;

use super::chars::{self, PUNCT};
use super::normalize::{bert_words_in, Normalized};
use crate::error::{Error, Result};
use crate::normalize::{self, Normalizer};

/// What a split does with the characters it splits on (HF's `SplitDelimiterBehavior`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

const BEHAVIORS: [(&str, Behavior); 5] = [
    ("Removed", Behavior::Removed),
    ("Isolated", Behavior::Isolated),
    ("MergedWithPrevious", Behavior::MergedWithPrevious),
    ("MergedWithNext", Behavior::MergedWithNext),
    ("Contiguous", Behavior::Contiguous),
];

/// One pre-tokenizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Bert,
    Whitespace,
    WhitespaceSplit,
    Punctuation(Behavior),
    Digits { individual: bool },
}

impl Split {
    /// The split named `name`: HF's type name, `"Punctuation:<behavior>"` (HF's behavior
    /// names; `"Punctuation"` alone is `Isolated`), or `"Digits:individual"`.
    pub fn parse(name: &str) -> Result<Split> {
        let (kind, option) = name.split_once(':').unwrap_or((name, ""));
        let behavior = BEHAVIORS.iter().find(|(n, _)| *n == option).map(|&(_, b)| b);
        Ok(match (kind, option, behavior) {
            ("BertPreTokenizer", "", _) => Split::Bert,
            ("Whitespace", "", _) => Split::Whitespace,
            ("WhitespaceSplit", "", _) => Split::WhitespaceSplit,
            ("Punctuation", "", _) => Split::Punctuation(Behavior::Isolated),
            ("Punctuation", _, Some(b)) => Split::Punctuation(b),
            ("Digits", "", _) => Split::Digits { individual: false },
            ("Digits", "individual", _) => Split::Digits { individual: true },
            _ => {
                return Err(Error::Config(format!(
                    "unknown pre-tokenizer {name:?}; use BertPreTokenizer, Whitespace, \
                     WhitespaceSplit, Punctuation[:Removed|Isolated|MergedWithPrevious|\
                     MergedWithNext|Contiguous], Digits or Digits:individual"
                )))
            }
        })
    }

    /// The name [`parse`](Self::parse) reads back.
    pub fn name(self) -> String {
        match self {
            Split::Bert => "BertPreTokenizer".into(),
            Split::Whitespace => "Whitespace".into(),
            Split::WhitespaceSplit => "WhitespaceSplit".into(),
            Split::Punctuation(b) => {
                let name = BEHAVIORS.iter().find(|(_, x)| *x == b).map_or("", |(n, _)| n);
                format!("Punctuation:{name}")
            }
            Split::Digits { individual: false } => "Digits".into(),
            Split::Digits { individual: true } => "Digits:individual".into(),
        }
    }

    /// Splits the characters `piece` of `norm`, pushing the non-empty pieces into `out`.
    fn split(self, norm: &Normalized, piece: (u32, u32), out: &mut Vec<(u32, u32)>) {
        let (from, to) = piece;
        match self {
            Split::Bert => bert_words_in(norm, from, to, out),
            Split::Whitespace => {
                let text = &norm.text[norm.bytes[from as usize] as usize..];
                let text = &text[..(norm.bytes[to as usize] - norm.bytes[from as usize]) as usize];
                let base = norm.bytes[from as usize];
                let char_of = |b: usize| norm.bytes.partition_point(|&x| x < base + b as u32);
                for m in whitespace_regex().find_iter(text).flatten() {
                    if m.end() > m.start() {
                        out.push((char_of(m.start()) as u32, char_of(m.end()) as u32));
                    }
                }
            }
            Split::WhitespaceSplit => {
                split_on(norm, piece, char::is_whitespace, Behavior::Removed, out)
            }
            Split::Punctuation(b) => {
                let table = chars::table();
                split_on(norm, piece, |c| table.of(c as u32) & PUNCT != 0, b, out)
            }
            Split::Digits { individual } => {
                let b = if individual { Behavior::Isolated } else { Behavior::Contiguous };
                split_on(norm, piece, char::is_numeric, b, out)
            }
        }
    }
}

/// HF's `Whitespace` pattern, compiled once.
fn whitespace_regex() -> &'static fancy_regex::Regex {
    static RE: OnceLock<fancy_regex::Regex> = OnceLock::new();
    // a literal pattern that compiles: `new` cannot fail here
    RE.get_or_init(|| fancy_regex::Regex::new(r"\w+|[^\w\s]+").unwrap_or_else(|_| unreachable!()))
}

/// HF's `NormalizedString::split` with a character predicate: every matching character is
/// a match of its own, then `how` merges or drops them; empty pieces are dropped.
fn split_on(
    norm: &Normalized,
    (from, to): (u32, u32),
    is: impl Fn(char) -> bool,
    how: Behavior,
    out: &mut Vec<(u32, u32)>,
) {
    // (start, end, matched) in characters, tiling the piece
    let mut parts: Vec<(u32, u32, bool)> = Vec::new();
    let text = &norm.text[norm.bytes[from as usize] as usize..norm.bytes[to as usize] as usize];
    let mut last = from;
    for (i, c) in text.chars().enumerate() {
        let at = from + i as u32;
        if is(c) {
            if last < at {
                parts.push((last, at, false));
            }
            parts.push((at, at + 1, true));
            last = at + 1;
        }
    }
    if last < to {
        parts.push((last, to, false));
    }
    let mut kept: Vec<(u32, u32)> = Vec::with_capacity(parts.len());
    let mut previous = false;
    match how {
        Behavior::Removed => kept.extend(parts.iter().filter(|p| !p.2).map(|p| (p.0, p.1))),
        Behavior::Isolated => kept.extend(parts.iter().map(|p| (p.0, p.1))),
        Behavior::MergedWithPrevious => {
            for &(s, e, matched) in &parts {
                match kept.last_mut() {
                    Some(last) if matched && !previous => last.1 = e,
                    _ => kept.push((s, e)),
                }
                previous = matched;
            }
        }
        Behavior::MergedWithNext => {
            for &(s, e, matched) in parts.iter().rev() {
                match kept.last_mut() {
                    Some(next) if matched && !previous => next.0 = s,
                    _ => kept.push((s, e)),
                }
                previous = matched;
            }
            kept.reverse();
        }
        Behavior::Contiguous => {
            for &(s, e, matched) in &parts {
                match kept.last_mut() {
                    Some(last) if matched == previous => last.1 = e,
                    _ => kept.push((s, e)),
                }
                previous = matched;
            }
        }
    }
    out.extend(kept.into_iter().filter(|(s, e)| e > s));
}

/// A normalizer and a pre-tokenizer for WordPiece; the default is BERT's pre-tokenizer
/// and no normalizer steps (BERT's own normalizer lives in [`super::BertNormalizer`]).
#[derive(Clone, Debug)]
pub struct Pipeline {
    /// HF's normalizer steps, used when the tokenizer has no BERT normalizer.
    pub normalizer: Normalizer,
    /// Applied in order (none: the whole text is one word).
    pub splits: Vec<Split>,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline { normalizer: Normalizer::default(), splits: vec![Split::Bert] }
    }
}

/// Reusable buffers of one thread.
#[derive(Default)]
pub struct Buffers {
    normalized: normalize::Normalized,
    /// Character index of each byte of the text normalized.
    char_at: Vec<u32>,
}

impl Pipeline {
    /// Parses normalizer steps ([`normalize::Step::parse`]) and splits ([`Split::parse`]).
    pub fn parse(normalizer: &[String], splits: &[String]) -> Result<Pipeline> {
        Ok(Pipeline {
            normalizer: Normalizer::parse(normalizer)?,
            splits: splits.iter().map(|s| Split::parse(s)).collect::<Result<_>>()?,
        })
    }

    /// Whether this is the default: BERT's pre-tokenizer, no steps.
    pub fn is_default(&self) -> bool {
        self.normalizer.is_empty() && self.splits == [Split::Bert]
    }

    /// Normalizes `text` with the steps into `out` (cleared first), each character's origin
    /// being its character index in `text` plus `first`.
    pub fn normalize_into(&self, text: &str, first: u32, buf: &mut Buffers, out: &mut Normalized) {
        if !self.normalizer.normalize_into(text, &mut buf.normalized) {
            out.set_plain(text, first);
            return;
        }
        buf.char_at.clear();
        buf.char_at.resize(text.len() + 1, 0);
        for (i, (b, _)) in text.char_indices().enumerate() {
            buf.char_at[b] = i as u32;
        }
        buf.char_at[text.len()] = text.chars().count() as u32;
        out.clear();
        let norm = buf.normalized.as_str();
        out.text.push_str(norm);
        for (b, c) in norm.char_indices() {
            let (start, _) = buf.normalized.span(b, b + c.len_utf8());
            out.bytes.push(b as u32);
            out.origin.push(first + buf.char_at[start.min(text.len())]);
        }
        out.bytes.push(norm.len() as u32);
    }

    /// `text` as the steps leave it.
    pub fn normalize(&self, text: &str) -> String {
        self.normalizer.normalize(text)
    }

    /// The words of the characters `[from, to)` of `norm`, as if they were all of it,
    /// pushed into `words` as character ranges.
    #[inline]
    pub fn words_in(&self, norm: &Normalized, from: u32, to: u32, words: &mut Vec<(u32, u32)>) {
        if let [Split::Bert] = self.splits[..] {
            return bert_words_in(norm, from, to, words);
        }
        let mut pieces = if from < to { vec![(from, to)] } else { Vec::new() };
        for &split in &self.splits {
            let mut next = Vec::with_capacity(pieces.len() * 2);
            for &piece in &pieces {
                split.split(norm, piece, &mut next);
            }
            pieces = next;
        }
        words.extend(pieces);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(steps: &[&str], splits: &[&str], text: &str) -> Vec<String> {
        let names = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = Pipeline::parse(&names(steps), &names(splits)).unwrap();
        let mut norm = Normalized::default();
        p.normalize_into(text, 0, &mut Buffers::default(), &mut norm);
        let mut out = Vec::new();
        p.words_in(&norm, 0, norm.len() as u32, &mut out);
        let chars: Vec<char> = norm.text.chars().collect();
        out.iter().map(|&(s, e)| chars[s as usize..e as usize].iter().collect()).collect()
    }

    #[test]
    fn quicktour() {
        let steps = ["NFD", "Lowercase", "StripAccents"];
        assert_eq!(words(&steps, &["Whitespace"], "Héllo, wörld!?"), ["hello", ",", "world", "!?"]);
        let mut norm = Normalized::default();
        let p = Pipeline::parse(&steps.map(String::from), &[]).unwrap();
        p.normalize_into("aÉb", 5, &mut Buffers::default(), &mut norm);
        assert_eq!((norm.text.as_str(), norm.origin.as_slice()), ("aeb", &[5, 6, 7][..]));
    }

    #[test]
    fn behaviors() {
        let text = "a!!b !";
        let p = |b: &str| words(&[], &[&format!("Punctuation:{b}")], text);
        assert_eq!(p("Isolated"), ["a", "!", "!", "b ", "!"]);
        assert_eq!(p("Removed"), ["a", "b "]);
        assert_eq!(p("MergedWithPrevious"), ["a!", "!", "b !"]);
        assert_eq!(p("MergedWithNext"), ["a", "!", "!b ", "!"]);
        assert_eq!(p("Contiguous"), ["a", "!!", "b ", "!"]);
        assert_eq!(words(&[], &["Digits"], "a123b4"), ["a", "123", "b", "4"]);
        assert_eq!(words(&[], &["Digits:individual"], "a12"), ["a", "1", "2"]);
        assert_eq!(words(&[], &["WhitespaceSplit", "Digits"], " x1\ty "), ["x", "1", "y"]);
        assert_eq!(words(&[], &[], "a b"), ["a b"]);
        for name in ["BertPreTokenizer", "Whitespace", "Punctuation:Contiguous", "Digits"] {
            assert_eq!(Split::parse(name).unwrap().name(), name);
        }
        assert!(Split::parse("Metaspace").is_err());
    }
}
