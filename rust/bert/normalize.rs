//! BERT's normalizer (HF `BertNormalizer`), keeping, for every output character, the index
//! of the input character it came from, so that token offsets point into the original text.
//!
//! Steps, each switchable, in HF's order: clean text (drop U+0000, U+FFFD and control
//! characters, turn white space into " "), surround CJK ideographs with spaces, strip
//! accents (canonical decomposition, then drop nonspacing marks), lowercase (per character,
//! as Rust's `char::to_lowercase`, which may expand one character into several).
//! Decomposition is applied per character; the canonical reordering of combining marks that
//! full NFD also performs matters only for marks that survive accent stripping, which no
//! vocabulary we know of contains.

use super::chars::{self, CJK, CONTROL, MARK, SPACE, SPECIAL};

/// Normalizer switches (all on for uncased BERT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BertNormalizer {
    pub clean_text: bool,
    pub handle_chinese_chars: bool,
    pub strip_accents: bool,
    pub lowercase: bool,
}

impl Default for BertNormalizer {
    fn default() -> Self {
        BertNormalizer {
            clean_text: true,
            handle_chinese_chars: true,
            strip_accents: true,
            lowercase: true,
        }
    }
}

/// Normalized text with its alignment to the original.
#[derive(Clone, Debug, Default)]
pub struct Normalized {
    /// The normalized text.
    pub text: String,
    /// Byte offset in `text` of each character, plus `text.len()` at the end.
    pub bytes: Vec<u32>,
    /// Index (in characters) of the original character each normalized character comes from.
    pub origin: Vec<u32>,
}

impl Normalized {
    /// Empties the buffers, keeping their memory.
    pub fn clear(&mut self) {
        self.text.clear();
        self.bytes.clear();
        self.origin.clear();
    }

    /// Number of normalized characters.
    pub fn len(&self) -> usize {
        self.origin.len()
    }

    /// Whether it holds no character.
    pub fn is_empty(&self) -> bool {
        self.origin.is_empty()
    }

    #[inline(always)]
    fn push(&mut self, c: char, origin: u32) {
        self.bytes.push(self.text.len() as u32);
        self.text.push(c);
        self.origin.push(origin);
    }

    /// Closes the byte index with the end of the text.
    fn finish(&mut self) {
        self.bytes.push(self.text.len() as u32);
    }
}

impl BertNormalizer {
    /// Normalizes `text` into `out` (cleared first). `first` is the character index of
    /// `text` within the whole input, added to every origin.
    pub fn normalize_into(&self, text: &str, first: u32, out: &mut Normalized) {
        out.clear();
        out.text.reserve(text.len() + 8);
        let table = chars::table();
        for (i, c) in text.chars().enumerate() {
            let at = first + i as u32;
            if c.is_ascii() && table.of(c as u32) & SPECIAL == 0 {
                // ASCII letters and digits: only the case may change
                out.push(if self.lowercase { c.to_ascii_lowercase() } else { c }, at);
            } else {
                self.one(c, at, table, out);
            }
        }
        out.finish();
    }

    #[inline]
    fn one(&self, c: char, at: u32, table: &crate::unicode::FlagTable, out: &mut Normalized) {
        let flags = table.of(c as u32);
        let mut c = c;
        if self.clean_text {
            if c == '\0' || c == '\u{FFFD}' || flags & CONTROL != 0 {
                return;
            }
            if flags & SPACE != 0 {
                c = ' ';
            }
        }
        if self.handle_chinese_chars && flags & CJK != 0 {
            out.push(' ', at);
            self.accents_and_case(c, at, table, out);
            out.push(' ', at);
        } else {
            self.accents_and_case(c, at, table, out);
        }
    }

    #[inline]
    fn accents_and_case(
        &self,
        c: char,
        at: u32,
        table: &crate::unicode::FlagTable,
        out: &mut Normalized,
    ) {
        if self.strip_accents && !c.is_ascii() {
            unicode_normalization::char::decompose_canonical(c, |d| {
                if table.of(d as u32) & MARK == 0 {
                    self.case(d, at, out);
                }
            });
        } else {
            self.case(c, at, out);
        }
    }

    #[inline]
    fn case(&self, c: char, at: u32, out: &mut Normalized) {
        if self.lowercase {
            if c.is_ascii() {
                out.push(c.to_ascii_lowercase(), at);
            } else {
                for l in c.to_lowercase() {
                    out.push(l, at);
                }
            }
        } else {
            out.push(c, at);
        }
    }
}

/// BERT's pre-tokenizer (HF `BertPreTokenizer`) on normalized text: words are maximal runs
/// of characters that are neither white space nor punctuation; each punctuation character
/// is a word of its own. Pushes `(first, end)` character ranges into `words`.
pub fn bert_words(text: &Normalized, words: &mut Vec<(u32, u32)>) {
    let table = chars::table();
    let mut start: Option<u32> = None;
    for (i, c) in text.text.chars().enumerate() {
        let i = i as u32;
        let flags = table.of(c as u32);
        if flags & (SPACE | chars::PUNCT) != 0 {
            if let Some(s) = start.take() {
                words.push((s, i));
            }
            if flags & SPACE == 0 {
                words.push((i, i + 1));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        words.push((s, text.len() as u32));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(n: BertNormalizer, s: &str) -> (String, Vec<u32>) {
        let mut out = Normalized::default();
        n.normalize_into(s, 0, &mut out);
        (out.text, out.origin)
    }

    #[test]
    fn uncased() {
        let n = BertNormalizer::default();
        assert_eq!(norm(n, "Héllo\tWORLD\u{7}!").0, "hello world!");
        let (text, origin) = norm(n, "a中b");
        assert_eq!(text, "a 中 b");
        assert_eq!(origin, [0, 1, 1, 1, 2]);
        assert_eq!(norm(n, "İ").0, "i"); // decomposes to I + dot above (Mn), then lowercases
    }

    #[test]
    fn cased_keeps_accents() {
        let n =
            BertNormalizer { strip_accents: false, lowercase: false, ..BertNormalizer::default() };
        assert_eq!(norm(n, "Héllo İ").0, "Héllo İ");
    }

    #[test]
    fn words() {
        let mut out = Normalized::default();
        BertNormalizer::default().normalize_into("Hi, there!  ok", 0, &mut out);
        let mut w = Vec::new();
        bert_words(&out, &mut w);
        assert_eq!(w, [(0, 2), (2, 3), (4, 9), (9, 10), (12, 14)]);
    }
}
