//! BERT's normalizer (HF `BertNormalizer`), keeping, for every output character, the index
//! of the input character it came from, so that token offsets point into the original text.
//!
//! Steps, each switchable, in HF's order: clean text (drop U+0000, U+FFFD and control
//! characters, turn white space into " "), surround CJK ideographs with spaces, strip
//! accents (canonical decomposition, then drop nonspacing marks), lowercase (per character,
//! as Rust's `char::to_lowercase`, which may expand one character into several).
//! Accent stripping is NFD: canonical decomposition, then the stable sort of each run of
//! combining marks by combining class, whose positions keep their origins (as HF aligns),
//! with HF's NFD tables (Unicode 9.0).

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

    /// The text as it is (no normalization): each character is its own origin.
    pub fn set_plain(&mut self, text: &str, first: u32) {
        self.clear();
        self.text.push_str(text);
        for (i, (b, _)) in text.char_indices().enumerate() {
            self.bytes.push(b as u32);
            self.origin.push(first + i as u32);
        }
        self.bytes.push(text.len() as u32);
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
        let mut w = Writer {
            n: self,
            table: chars::table(),
            out,
            marks: Vec::new(),
            inputs: Default::default(),
            last_replaced: first,
        };
        for (i, c) in text.chars().enumerate() {
            let at = first + i as u32;
            if c.is_ascii() && w.table.of(c as u32) & SPECIAL == 0 {
                // ASCII letters and digits: only the case may change (after any pending
                // marks; with nothing pending, NFD's queue is empty and this char is its
                // own input)
                w.flush();
                w.last_replaced = at;
                w.out.push(if self.lowercase { c.to_ascii_lowercase() } else { c }, at);
            } else {
                w.one(c, at);
            }
        }
        w.flush();
        out.finish();
    }
}

/// The state of one normalization. When accents are stripped, characters go through NFD,
/// aligned as HF aligns it: the first character of each decomposition *replaces* an input
/// character, the others are *inserted*. Runs of combining marks wait in `marks` to be
/// sorted by combining class (each mark keeping its replaced/inserted role); then the k-th
/// replacing character takes the origin of the k-th input character (`inputs`), and an
/// inserted one the origin of the last replacing character before it.
struct Writer<'a> {
    n: &'a BertNormalizer,
    table: &'static crate::unicode::FlagTable,
    out: &'a mut Normalized,
    marks: Vec<(char, bool)>,
    inputs: std::collections::VecDeque<u32>,
    last_replaced: u32,
}

impl Writer<'_> {
    #[inline]
    fn one(&mut self, c: char, at: u32) {
        let flags = self.table.of(c as u32);
        let mut c = c;
        if self.n.clean_text {
            if c == '\0' || c == '\u{FFFD}' || flags & CONTROL != 0 {
                return;
            }
            if flags & SPACE != 0 {
                c = ' ';
            }
        }
        if self.n.handle_chinese_chars && flags & CJK != 0 {
            self.accents(' ', at);
            self.accents(c, at);
            self.accents(' ', at);
        } else {
            self.accents(c, at);
        }
    }

    #[inline]
    fn accents(&mut self, c: char, at: u32) {
        if !self.n.strip_accents {
            self.last(c, at);
            return;
        }
        self.inputs.push_back(at);
        if c.is_ascii() {
            self.decomposed(c, false);
        } else {
            let mut inserted = false;
            unicode_normalization_alignments::char::decompose_canonical(c, |d| {
                self.decomposed(d, inserted);
                inserted = true;
            });
        }
    }

    /// A character out of decomposition: starters go out at once (after the pending
    /// marks), marks wait for their run to end.
    #[inline]
    fn decomposed(&mut self, c: char, inserted: bool) {
        if !c.is_ascii()
            && unicode_normalization_alignments::char::canonical_combining_class(c) != 0
        {
            self.marks.push((c, inserted));
            return;
        }
        self.flush();
        let at = self.origin(inserted);
        self.last(c, at);
    }

    #[inline]
    fn origin(&mut self, inserted: bool) -> u32 {
        if !inserted {
            if let Some(at) = self.inputs.pop_front() {
                self.last_replaced = at;
            }
        }
        self.last_replaced
    }

    /// Ends a run of combining marks: NFD sorts it by combining class (stable).
    fn flush(&mut self) {
        if self.marks.is_empty() {
            return;
        }
        let mut run = std::mem::take(&mut self.marks);
        run.sort_by_key(|m| unicode_normalization_alignments::char::canonical_combining_class(m.0));
        for &(c, inserted) in &run {
            let at = self.origin(inserted);
            self.last(c, at);
        }
        run.clear();
        self.marks = run;
    }

    /// Accent stripping's filter, then lowercasing.
    #[inline]
    fn last(&mut self, c: char, at: u32) {
        if self.n.strip_accents && self.table.of(c as u32) & MARK != 0 {
            return;
        }
        if !self.n.lowercase {
            self.out.push(c, at);
        } else if c.is_ascii() {
            self.out.push(c.to_ascii_lowercase(), at);
        } else {
            for l in c.to_lowercase() {
                self.out.push(l, at);
            }
        }
    }
}

/// BERT's pre-tokenizer (HF `BertPreTokenizer`) on normalized text: words are maximal runs
/// of characters that are neither white space nor punctuation; each punctuation character
/// is a word of its own. Pushes `(first, end)` character ranges into `words`.
pub fn bert_words(text: &Normalized, words: &mut Vec<(u32, u32)>) {
    bert_words_in(text, 0, text.len() as u32, words);
}

/// [`bert_words`] on the characters `[from, to)` of `text` alone, as if they were all of it.
pub fn bert_words_in(text: &Normalized, from: u32, to: u32, words: &mut Vec<(u32, u32)>) {
    let table = chars::table();
    let mut start: Option<u32> = None;
    let piece = &text.text[text.bytes[from as usize] as usize..text.bytes[to as usize] as usize];
    for (i, c) in piece.chars().enumerate() {
        let i = from + i as u32;
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
        words.push((s, to));
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
    fn canonical_reordering() {
        // U+302E (class 224) moves before U+0301 (230); positions keep their origins
        let (text, origin) = norm(
            BertNormalizer { lowercase: false, ..BertNormalizer::default() },
            "x\u{301}\u{302e}",
        );
        assert_eq!(text, "x\u{302e}");
        assert_eq!(origin, [0, 1]);
        // é decomposes: its inserted accent moves after U+302E, which replaces input 1
        let (text, origin) = norm(BertNormalizer::default(), "é\u{302e}");
        assert_eq!(text, "e\u{302e}");
        assert_eq!(origin, [0, 1]);
        assert_eq!(norm(BertNormalizer::default(), "한").0, "\u{1112}\u{1161}\u{11ab}");
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
