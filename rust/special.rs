//! Special tokens: strings such as `<|endoftext|>` that map to one id, are found in text
//! before pre-tokenization, and are never split or merged.
//!
//! Which specials a call may encode, and which must raise, is a [`Policy`] built once per
//! call from two [`Selection`]s (mechanism here; the tiktoken-like defaults live in Python).
//! Allowed specials are found leftmost-longest, as HF `tokenizers` finds added tokens.

use aho_corasick::{AhoCorasick, MatchKind};

use crate::error::{Error, Result};

/// An ordered set of special tokens with their ids.
#[derive(Clone, Debug, Default)]
pub struct SpecialTokens {
    tokens: Vec<(String, u32)>,
    by_id: std::collections::HashMap<u32, usize>,
    /// Per token: whether it takes the whitespace on its left (HF's `lstrip`).
    lstrip: Vec<bool>,
    /// Leftmost-longest matcher over every token (pattern index = position in `tokens`).
    all: Option<AhoCorasick>,
}

/// Which special tokens a call refers to.
#[derive(Clone, Debug)]
pub enum Selection {
    /// Every special token.
    All,
    /// The tokens at these positions of [`SpecialTokens::tokens`] (possibly none).
    Some(Vec<usize>),
}

/// A piece of text between special tokens, or a special token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Ordinary text, `[start, end)` in bytes.
    Text(usize, usize),
    /// A special token with its id, found at `[start, end)`.
    Special(u32, usize, usize),
}

impl SpecialTokens {
    /// Builds the set. Tokens must be non-empty and distinct; ids must be distinct.
    pub fn new(tokens: Vec<(String, u32)>) -> Result<Self> {
        let mut seen_text = std::collections::HashSet::new();
        let mut seen_id = std::collections::HashMap::new();
        for (text, id) in &tokens {
            if text.is_empty() {
                return Err(Error::Format(
                    "a special token is the empty string; remove it from special_tokens".into(),
                ));
            }
            if !seen_text.insert(text.as_str()) {
                return Err(Error::Format(format!(
                    "the special token {text:?} is listed twice; list each special token once"
                )));
            }
            if let Some(other) = seen_id.insert(*id, text.as_str()) {
                return Err(Error::Format(format!(
                    "the special tokens {other:?} and {text:?} both have id {id}; give each its own id"
                )));
            }
        }
        let all = build(tokens.iter().map(|(t, _)| t.as_str()), MatchKind::LeftmostLongest)?;
        let by_id = tokens.iter().enumerate().map(|(i, (_, id))| (*id, i)).collect();
        let lstrip = vec![false; tokens.len()];
        Ok(SpecialTokens { tokens, by_id, lstrip, all })
    }

    /// Marks the tokens with these ids as taking the whitespace before them (HF's `lstrip`,
    /// as RoBERTa's `<mask>`): in `"is <mask>"` the match is `" <mask>"`. Every id must
    /// be a special token's.
    pub fn set_lstrip(&mut self, ids: &[u32]) -> Result<()> {
        self.lstrip.iter_mut().for_each(|f| *f = false);
        for id in ids {
            let Some(&i) = self.by_id.get(id) else {
                return Err(Error::Config(format!(
                    "id {id} is not a special token's; lstrip applies to special tokens only"
                )));
            };
            self.lstrip[i] = true;
        }
        Ok(())
    }

    /// Whether any token takes the whitespace before it.
    pub fn any_lstrip(&self) -> bool {
        self.lstrip.iter().any(|&f| f)
    }

    /// The text of the token with this id when it takes the whitespace before it.
    pub fn lstrip_text(&self, id: u32) -> Option<&str> {
        let &i = self.by_id.get(&id)?;
        self.lstrip[i].then(|| self.tokens[i].0.as_str())
    }

    /// The ids of the tokens that take the whitespace before them.
    pub fn lstrip_ids(&self) -> Vec<u32> {
        self.tokens.iter().zip(&self.lstrip).filter(|(_, &f)| f).map(|((_, id), _)| *id).collect()
    }

    /// The tokens and their ids, in the order given.
    pub fn tokens(&self) -> &[(String, u32)] {
        &self.tokens
    }

    /// Number of special tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The token with this id, if it is special.
    pub fn text_of(&self, id: u32) -> Option<&str> {
        self.by_id.get(&id).map(|&i| self.tokens[i].0.as_str())
    }

    /// Prepares the matchers for one call: specials in `allowed` become their ids, finding one
    /// in `disallowed` is an error, the rest are ordinary text. As in tiktoken, `All` for
    /// `disallowed` means every special not allowed, while a set named explicitly is checked
    /// as given, even where it overlaps `allowed`.
    pub fn policy(&self, allowed: &Selection, disallowed: &Selection) -> Result<Policy<'_>> {
        let allowed_idx = self.indices(allowed)?;
        let mut is_allowed = vec![false; self.tokens.len()];
        for &i in &allowed_idx {
            is_allowed[i] = true;
        }
        let every = matches!(disallowed, Selection::All);
        let disallowed_idx: Vec<usize> =
            self.indices(disallowed)?.into_iter().filter(|&i| !(every && is_allowed[i])).collect();
        let split = if allowed_idx.len() == self.tokens.len() {
            self.all.as_ref().map(|ac| Matcher::Borrowed(ac, None))
        } else {
            build(
                allowed_idx.iter().map(|&i| self.tokens[i].0.as_str()),
                MatchKind::LeftmostLongest,
            )?
            .map(|ac| Matcher::Owned(ac, Some(allowed_idx)))
        };
        let check =
            build(disallowed_idx.iter().map(|&i| self.tokens[i].0.as_str()), MatchKind::Standard)?
                .map(|ac| Matcher::Owned(ac, Some(disallowed_idx)));
        Ok(Policy { specials: self, split, check })
    }

    fn indices(&self, selection: &Selection) -> Result<Vec<usize>> {
        match selection {
            Selection::All => Ok((0..self.tokens.len()).collect()),
            Selection::Some(idx) => {
                if let Some(&bad) = idx.iter().find(|&&i| i >= self.tokens.len()) {
                    return Err(Error::Config(format!(
                        "special token index {bad} is out of range (there are {} special tokens)",
                        self.tokens.len()
                    )));
                }
                Ok(idx.clone())
            }
        }
    }
}

fn build<'a>(
    patterns: impl Iterator<Item = &'a str>,
    kind: MatchKind,
) -> Result<Option<AhoCorasick>> {
    let patterns: Vec<&str> = patterns.collect();
    if patterns.is_empty() {
        return Ok(None);
    }
    AhoCorasick::builder()
        .match_kind(kind)
        .build(&patterns)
        .map(Some)
        .map_err(|e| Error::Format(format!("cannot index the special tokens: {e}")))
}

/// An automaton plus the map from its pattern index to a position in the token list
/// (`None`: the identity).
#[derive(Debug)]
enum Matcher<'a> {
    Borrowed(&'a AhoCorasick, Option<Vec<usize>>),
    Owned(AhoCorasick, Option<Vec<usize>>),
}

impl Matcher<'_> {
    fn parts(&self) -> (&AhoCorasick, Option<&[usize]>) {
        match self {
            Matcher::Borrowed(ac, map) => (ac, map.as_deref()),
            Matcher::Owned(ac, map) => (ac, map.as_deref()),
        }
    }
}

/// The special-token handling of one encode call. Build it with [`SpecialTokens::policy`].
#[derive(Debug)]
pub struct Policy<'a> {
    specials: &'a SpecialTokens,
    split: Option<Matcher<'a>>,
    check: Option<Matcher<'a>>,
}

impl Policy<'_> {
    /// A policy with no special tokens at all: everything is text.
    pub fn none() -> Policy<'static> {
        static EMPTY: std::sync::OnceLock<SpecialTokens> = std::sync::OnceLock::new();
        let specials = EMPTY.get_or_init(SpecialTokens::default);
        Policy { specials, split: None, check: None }
    }

    /// Fails if `text` (the `text_index`-th of a batch) contains a disallowed special token.
    pub fn check(&self, text: &str, text_index: usize) -> Result<()> {
        let Some(matcher) = &self.check else {
            return Ok(());
        };
        let (ac, map) = matcher.parts();
        if let Some(m) = ac.find(text) {
            let idx = map.map_or(m.pattern().as_usize(), |map| map[m.pattern().as_usize()]);
            return Err(Error::DisallowedSpecial {
                token: self.specials.tokens[idx].0.clone(),
                input: "text",
                text_index,
                byte_offset: m.start(),
            });
        }
        Ok(())
    }

    /// Calls `f` with the text segments and allowed special tokens of `text`, in order.
    #[inline]
    pub fn segments(&self, text: &str, mut f: impl FnMut(Segment) -> Result<()>) -> Result<()> {
        let Some(matcher) = &self.split else {
            return if text.is_empty() { Ok(()) } else { f(Segment::Text(0, text.len())) };
        };
        let (ac, map) = matcher.parts();
        let mut last = 0;
        for m in ac.find_iter(text) {
            let idx = map.map_or(m.pattern().as_usize(), |map| map[m.pattern().as_usize()]);
            let start = if self.specials.lstrip[idx] {
                last + text[last..m.start()].trim_end().len()
            } else {
                m.start()
            };
            if start > last {
                f(Segment::Text(last, start))?;
            }
            f(Segment::Special(self.specials.tokens[idx].1, start, m.end()))?;
            last = m.end();
        }
        if last < text.len() {
            f(Segment::Text(last, text.len()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specials() -> SpecialTokens {
        SpecialTokens::new(vec![("<|a|>".into(), 10), ("<|a|>x".into(), 11), ("<s>".into(), 12)])
            .unwrap()
    }

    fn segs(p: &Policy<'_>, text: &str) -> Vec<Segment> {
        let mut out = Vec::new();
        p.segments(text, |s| {
            out.push(s);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn leftmost_longest_split() {
        let s = specials();
        let p = s.policy(&Selection::All, &Selection::Some(vec![])).unwrap();
        assert_eq!(
            segs(&p, "hi<|a|>xy<s>"),
            [
                Segment::Text(0, 2),
                Segment::Special(11, 2, 8),
                Segment::Text(8, 9),
                Segment::Special(12, 9, 12)
            ]
        );
    }

    #[test]
    fn subsets_and_checks() {
        let s = specials();
        let p = s.policy(&Selection::Some(vec![2]), &Selection::All).unwrap();
        assert_eq!(segs(&p, "<s>"), [Segment::Special(12, 0, 3)]);
        assert!(matches!(
            p.check("x<|a|>", 3),
            Err(Error::DisallowedSpecial { text_index: 3, byte_offset: 1, .. })
        ));
        assert!(p.check("<s> plain", 0).is_ok());
        let p = s.policy(&Selection::Some(vec![]), &Selection::Some(vec![])).unwrap();
        assert_eq!(segs(&p, "<s>"), [Segment::Text(0, 3)]);
        // tiktoken's precedence: a disallowed set named explicitly is checked even where it
        // overlaps the allowed one; "all" disallowed means all but the allowed
        let p = s.policy(&Selection::Some(vec![2]), &Selection::Some(vec![2])).unwrap();
        assert!(matches!(p.check("<s>", 0), Err(Error::DisallowedSpecial { .. })));
        let p = s.policy(&Selection::Some(vec![2]), &Selection::All).unwrap();
        assert!(p.check("<s>", 0).is_ok());
    }

    #[test]
    fn bad_sets() {
        assert!(SpecialTokens::new(vec![("".into(), 1)]).is_err());
        assert!(SpecialTokens::new(vec![("a".into(), 1), ("a".into(), 2)]).is_err());
        assert!(SpecialTokens::new(vec![("a".into(), 1), ("b".into(), 1)]).is_err());
        assert!(specials().policy(&Selection::Some(vec![9]), &Selection::All).is_err());
    }

    #[test]
    fn lstrip_takes_the_whitespace_before() {
        let mut s = specials();
        s.set_lstrip(&[12]).unwrap();
        assert_eq!(s.lstrip_ids(), [12]);
        let p = s.policy(&Selection::All, &Selection::Some(vec![])).unwrap();
        assert_eq!(
            segs(&p, "a \n <s> b"),
            [Segment::Text(0, 1), Segment::Special(12, 1, 7), Segment::Text(7, 9)]
        );
        assert_eq!(segs(&p, "  <s>"), [Segment::Special(12, 0, 5)]);
        assert_eq!(segs(&p, "<s><s>"), [Segment::Special(12, 0, 3), Segment::Special(12, 3, 6)]);
        // only the gap since the previous special: a token never reaches back into one
        assert_eq!(segs(&p, "<|a|> <s>"), [Segment::Special(10, 0, 5), Segment::Special(12, 5, 9)]);
        assert!(s.set_lstrip(&[3]).is_err());
    }
}
