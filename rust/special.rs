//! Added tokens: strings such as `<|endoftext|>`, `[MASK]` or a word added after training,
//! each mapped to one id, found in text before pre-tokenization and never split or merged.
//!
//! As in HF `tokenizers`' added vocabulary, a token is *special* (a control token: subject
//! to a call's [`Policy`], skipped by decoders that skip specials) or not (plain vocabulary,
//! always found), and carries [`Flags`]: `lstrip`/`rstrip` take the whitespace beside it,
//! `single_word` finds it only between non-word characters, `normalized` finds it in the
//! normalized text by its normalized form (the model's normalizer gives the form, through
//! [`SpecialTokens::set_forms`]). Matching is HF's: the tokens that are not normalized are
//! found leftmost-longest in the raw text first, then the normalized ones in each piece of
//! text between them ([`Policy::segments`]; a model with a normalizer runs the two passes
//! itself: [`Policy::raw_segments`], then [`Policy::normalized_segments`] on each normalized
//! piece).
//!
//! Which specials a call may encode, and which must raise, is a [`Policy`] built once per
//! call from two [`Selection`]s (mechanism here; the tiktoken-like defaults live in Python).

use aho_corasick::{AhoCorasick, MatchKind};

use crate::error::{Error, Result};

/// How an added token is found in text (HF's `AddedToken` options).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// Found in the normalized text, by its normalized form.
    pub normalized: bool,
    /// Takes the whitespace on its left (RoBERTa's `<mask>`: `"is <mask>"` matches `" <mask>"`).
    pub lstrip: bool,
    /// Takes the whitespace on its right.
    pub rstrip: bool,
    /// Found only where no word character (`\w`) touches it on either side.
    pub single_word: bool,
}

/// Added token ids below this get a bit table for [`SpecialTokens::is_added`] (at most
/// 512 KiB); larger ones are looked up in the map.
const ID_TABLE_LIMIT: usize = 1 << 22;

/// An ordered set of added tokens with their ids: the special ones first, then the others.
#[derive(Clone, Debug, Default)]
pub struct SpecialTokens {
    tokens: Vec<(String, u32)>,
    /// How many of `tokens` are special (they come first).
    n_special: usize,
    by_id: std::collections::HashMap<u32, usize>,
    /// Bit `id` set for each added token's id (None when the ids are too large for a
    /// table: `by_id` then answers).
    id_bits: Option<Vec<u64>>,
    flags: Vec<Flags>,
    /// The text each token is found as: its own, or its normalized form (`normalized`).
    forms: Vec<String>,
    /// The matchers over every token, and over the tokens that are not special.
    all: Passes,
    plain: Passes,
    /// The check for every special token (the default call's: none allowed), built at its
    /// first use and kept: a call's own would cost each `encode` time in the number of
    /// special tokens.
    check_all: std::sync::OnceLock<Option<AhoCorasick>>,
    /// The matchers of the last few allowed subsets and disallowed sets a call named, so
    /// that a loop naming one subset builds it once (o200k_harmony's 1,088 specials took
    /// 0.3 ms a call to build).
    subsets: Recent<Passes>,
    checks: Recent<Option<AhoCorasick>>,
}

/// A few values by the token positions they were built for, most recent last; a clone
/// starts empty (a changed copy must not find its original's).
#[derive(Debug, Default)]
struct Recent<T>(std::sync::Mutex<Vec<(Vec<usize>, T)>>);

/// How many subsets [`Recent`] keeps.
const RECENT: usize = 8;

impl<T> Clone for Recent<T> {
    fn clone(&self) -> Self {
        Recent(std::sync::Mutex::new(Vec::new()))
    }
}

impl<T: Clone> Recent<T> {
    fn get_or_build(&self, key: &[usize], build: impl FnOnce() -> Result<T>) -> Result<T> {
        let found = {
            let kept = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            kept.iter().find(|(k, _)| k.as_slice() == key).map(|(_, v)| v.clone())
        };
        if let Some(value) = found {
            return Ok(value);
        }
        let value = build()?;
        let mut kept = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.iter().any(|(k, _)| k.as_slice() == key) {
            return Ok(value); // (another thread built it meanwhile)
        }
        if kept.len() >= RECENT {
            kept.remove(0);
        }
        kept.push((key.to_vec(), value.clone()));
        Ok(value)
    }
}

/// Leftmost-longest matchers for the two passes, each with the position in the token list
/// of each of its patterns.
#[derive(Clone, Debug, Default)]
struct Passes {
    raw: Option<(AhoCorasick, Vec<usize>)>,
    normalized: Option<(AhoCorasick, Vec<usize>)>,
}

/// Which special tokens a call refers to.
#[derive(Clone, Debug)]
pub enum Selection {
    /// Every special token.
    All,
    /// The special tokens at these positions of [`SpecialTokens::tokens`] (possibly none).
    Some(Vec<usize>),
}

/// A piece of text between added tokens, or an added token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Ordinary text, `[start, end)` in bytes.
    Text(usize, usize),
    /// An added token with its id, found at `[start, end)` (with the whitespace `lstrip` or
    /// `rstrip` took; after an `rstrip` token, the next may start inside its span, as in HF).
    Special(u32, usize, usize),
}

impl SpecialTokens {
    /// Builds a set of special tokens. Tokens must be non-empty and distinct; ids must be
    /// distinct.
    pub fn new(tokens: Vec<(String, u32)>) -> Result<Self> {
        Self::with_added(tokens, Vec::new())
    }

    /// Builds a set of special tokens and of `added` tokens that are not special. Every
    /// token must be non-empty and distinct, every id distinct.
    pub fn with_added(specials: Vec<(String, u32)>, added: Vec<(String, u32)>) -> Result<Self> {
        let n_special = specials.len();
        let tokens: Vec<(String, u32)> = specials.into_iter().chain(added).collect();
        let mut seen_text = std::collections::HashSet::new();
        let mut seen_id = std::collections::HashMap::new();
        for (k, (text, id)) in tokens.iter().enumerate() {
            let (kind, list) = if k < n_special {
                ("special", "special_tokens")
            } else {
                ("added", "added_tokens")
            };
            if text.is_empty() {
                return Err(Error::Format(format!(
                    "a {kind} token is the empty string; remove it from {list}"
                )));
            }
            if !seen_text.insert(text.as_str()) {
                return Err(Error::Format(format!(
                    "the {kind} token {text:?} is listed twice; list each added token once"
                )));
            }
            // two special texts may share an id, as tiktoken lets them (o200k_harmony's
            // <|endofprompt|> and <|reserved_200018|>): both encode to it, and it decodes to
            // the first (tiktoken's decoder takes one by its hash order); an added token's
            // id is its own
            if let Some((other, k_other)) = seen_id.insert(*id, (text.as_str(), k)) {
                if k >= n_special || k_other >= n_special {
                    return Err(Error::Format(format!(
                        "the {kind} tokens {other:?} and {text:?} both have id {id}; give each its own id"
                    )));
                }
            }
        }
        let mut by_id = std::collections::HashMap::new();
        for (i, (_, id)) in tokens.iter().enumerate() {
            by_id.entry(*id).or_insert(i); // a shared id decodes to its first text
        }
        let largest = tokens.iter().map(|(_, id)| *id as usize).max().unwrap_or(0);
        let id_bits = (largest < ID_TABLE_LIMIT).then(|| {
            let mut bits = vec![0u64; if tokens.is_empty() { 0 } else { largest / 64 + 1 }];
            for (_, id) in &tokens {
                bits[*id as usize / 64] |= 1 << (id % 64);
            }
            bits
        });
        let forms = tokens.iter().map(|(t, _)| t.clone()).collect();
        let flags = vec![Flags::default(); tokens.len()];
        let mut out = SpecialTokens {
            tokens,
            n_special,
            by_id,
            id_bits,
            flags,
            forms,
            all: Passes::default(),
            plain: Passes::default(),
            check_all: std::sync::OnceLock::new(),
            subsets: Recent::default(),
            checks: Recent::default(),
        };
        out.rebuild()?;
        Ok(out)
    }

    /// Sets the flags of the tokens with these ids (the others keep theirs). Every id must
    /// be an added token's.
    pub fn set_flags(&mut self, flags: &[(u32, Flags)]) -> Result<()> {
        for (id, f) in flags {
            for i in self.indices_of(*id, "flags")? {
                self.flags[i] = *f;
            }
        }
        self.rebuild()
    }

    /// Marks the tokens with these ids, and no others, as taking the whitespace before them
    /// (HF's `lstrip`, as RoBERTa's `<mask>`): in `"is <mask>"` the match is `" <mask>"`.
    /// Every id must be an added token's.
    pub fn set_lstrip(&mut self, ids: &[u32]) -> Result<()> {
        let mut flags = self.flags.clone();
        flags.iter_mut().for_each(|f| f.lstrip = false);
        for id in ids {
            for i in self.indices_of(*id, "lstrip")? {
                flags[i].lstrip = true;
            }
        }
        self.flags = flags;
        self.rebuild()
    }

    /// Gives each `normalized` token the form it is found as: `normalize` of its text (the
    /// model's normalizer; HF normalizes the token as it normalizes text).
    pub fn set_forms(&mut self, normalize: impl Fn(&str) -> String) -> Result<()> {
        for (i, (text, _)) in self.tokens.iter().enumerate() {
            self.forms[i] = if self.flags[i].normalized { normalize(text) } else { text.clone() };
            if self.forms[i].is_empty() {
                return Err(Error::Format(format!(
                    "the added token {text:?} has \"normalized\": true and normalizes to \
                     nothing, so it could never be found; set \"normalized\": false or remove it"
                )));
            }
        }
        self.rebuild()
    }

    /// The positions of the texts with this id: one, or several that share it (flags given
    /// by id apply to each of them).
    fn indices_of(&self, id: u32, what: &str) -> Result<Vec<usize>> {
        let first = *self.by_id.get(&id).ok_or_else(|| {
            Error::Config(format!(
                "id {id} is not an added token's; {what} applies to added tokens only"
            ))
        })?;
        Ok((first..self.tokens.len()).filter(|&i| self.tokens[i].1 == id).collect())
    }

    fn rebuild(&mut self) -> Result<()> {
        self.all = self.passes((0..self.tokens.len()).collect())?;
        self.plain = self.passes((self.n_special..self.tokens.len()).collect())?;
        self.check_all = std::sync::OnceLock::new();
        self.subsets = Recent::default();
        self.checks = Recent::default();
        Ok(())
    }

    /// The matchers of both passes over the tokens at these positions.
    fn passes(&self, idx: Vec<usize>) -> Result<Passes> {
        let (normalized, raw): (Vec<usize>, Vec<usize>) =
            idx.into_iter().partition(|&i| self.flags[i].normalized);
        let raw_ac =
            build(raw.iter().map(|&i| self.tokens[i].0.as_str()), MatchKind::LeftmostLongest)?;
        let norm_ac =
            build(normalized.iter().map(|&i| self.forms[i].as_str()), MatchKind::LeftmostLongest)?;
        Ok(Passes {
            raw: raw_ac.map(|ac| (ac, raw)),
            normalized: norm_ac.map(|ac| (ac, normalized)),
        })
    }

    /// The flags of the token with this id, if it is an added token.
    pub fn flags_of(&self, id: u32) -> Option<Flags> {
        self.by_id.get(&id).map(|&i| self.flags[i])
    }

    /// The ids of the added tokens whose flags pass `test`, in order.
    pub fn ids_where(&self, test: impl Fn(&Flags) -> bool) -> Vec<u32> {
        self.tokens
            .iter()
            .zip(&self.flags)
            .filter(|(_, f)| test(f))
            .map(|((_, id), _)| *id)
            .collect()
    }

    /// Whether any token takes the whitespace before it.
    pub fn any_lstrip(&self) -> bool {
        self.flags.iter().any(|f| f.lstrip)
    }

    /// The text of the token with this id when it takes the whitespace before it.
    pub fn lstrip_text(&self, id: u32) -> Option<&str> {
        let &i = self.by_id.get(&id)?;
        self.flags[i].lstrip.then(|| self.tokens[i].0.as_str())
    }

    /// The ids of the tokens that take the whitespace before them.
    pub fn lstrip_ids(&self) -> Vec<u32> {
        self.ids_where(|f| f.lstrip)
    }

    /// The special tokens and their ids, in the order given.
    pub fn tokens(&self) -> &[(String, u32)] {
        &self.tokens[..self.n_special]
    }

    /// The added tokens that are not special, with their ids, in the order given.
    pub fn added(&self) -> &[(String, u32)] {
        &self.tokens[self.n_special..]
    }

    /// Whether no added token can be found across a [`crate::postprocess::prefix_cut`]
    /// (a space after an ASCII letter or digit): none holds white space, as written or
    /// normalized, and none takes the white space on its right (`rstrip`).
    pub fn cut_safe(&self) -> bool {
        let spaced = |t: &str| t.chars().any(char::is_whitespace);
        self.flags.iter().all(|f| !f.rstrip)
            && self.tokens.iter().all(|(t, _)| !spaced(t))
            && self.forms.iter().all(|t| !spaced(t))
    }

    /// Number of special tokens.
    pub fn len(&self) -> usize {
        self.n_special
    }

    /// Whether there are no special tokens.
    pub fn is_empty(&self) -> bool {
        self.n_special == 0
    }

    /// Whether there are no added tokens at all, special or not.
    pub fn is_empty_all(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The text of the added token (special or not) with this id.
    pub fn text_of(&self, id: u32) -> Option<&str> {
        self.by_id.get(&id).map(|&i| self.tokens[i].0.as_str())
    }

    /// Whether the token with this id is an added token, special or not.
    #[inline]
    pub fn is_added(&self, id: u32) -> bool {
        match &self.id_bits {
            Some(bits) => bits.get(id as usize / 64).is_some_and(|w| w >> (id % 64) & 1 == 1),
            None => self.by_id.contains_key(&id),
        }
    }

    /// Whether the token with this id is a special token.
    pub fn is_special(&self, id: u32) -> bool {
        self.by_id.get(&id).is_some_and(|&i| i < self.n_special)
    }

    /// Prepares the matchers for one call: specials in `allowed` become their ids, finding one
    /// in `disallowed` is an error, the rest are ordinary text; added tokens that are not
    /// special are always found. As in tiktoken, `All` for `disallowed` means every special
    /// not allowed, while a set named explicitly is checked as given, even where it overlaps
    /// `allowed`.
    pub fn policy(&self, allowed: &Selection, disallowed: &Selection) -> Result<Policy<'_>> {
        let mut allowed_idx = self.indices(allowed)?;
        allowed_idx.sort_unstable();
        allowed_idx.dedup();
        let mut is_allowed = vec![false; self.n_special];
        for &i in &allowed_idx {
            is_allowed[i] = true;
        }
        let every = matches!(disallowed, Selection::All);
        let disallowed_idx: Vec<usize> =
            self.indices(disallowed)?.into_iter().filter(|&i| !(every && is_allowed[i])).collect();
        let (raw, normalized) = if allowed_idx.len() == self.n_special {
            (borrowed(&self.all.raw), borrowed(&self.all.normalized))
        } else if allowed_idx.is_empty() {
            (borrowed(&self.plain.raw), borrowed(&self.plain.normalized))
        } else {
            let Passes { raw, normalized } = self.subsets.get_or_build(&allowed_idx, || {
                self.passes(
                    allowed_idx.iter().copied().chain(self.n_special..self.tokens.len()).collect(),
                )
            })?;
            (raw.map(Matcher::Owned), normalized.map(Matcher::Owned))
        };
        let check = if disallowed_idx.len() == self.n_special
            && disallowed_idx.iter().enumerate().all(|(k, &i)| k == i)
        {
            let all = (0..self.n_special).map(|i| self.tokens[i].0.as_str());
            let built = match self.check_all.get() {
                Some(built) => built,
                None => {
                    let made = build(all, MatchKind::LeftmostLongest)?;
                    self.check_all.get_or_init(|| made)
                }
            };
            built.as_ref().map(|ac| Matcher::Owned((ac.clone(), disallowed_idx)))
        } else {
            // leftmost: the error names the first disallowed token in the text, as tiktoken
            // does (the one ending first could start after it)
            self.checks
                .get_or_build(&disallowed_idx, || {
                    build(
                        disallowed_idx.iter().map(|&i| self.tokens[i].0.as_str()),
                        MatchKind::LeftmostLongest,
                    )
                })?
                .map(|ac| Matcher::Owned((ac, disallowed_idx)))
        };
        Ok(Policy { specials: self, raw, normalized, check })
    }

    fn indices(&self, selection: &Selection) -> Result<Vec<usize>> {
        match selection {
            Selection::All => Ok((0..self.n_special).collect()),
            Selection::Some(idx) => {
                if let Some(&bad) = idx.iter().find(|&&i| i >= self.n_special) {
                    return Err(Error::Config(format!(
                        "special token index {bad} is out of range (there are {} special tokens)",
                        self.n_special
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
    // the crate's DFA (its choice for up to 100 patterns) takes time quadratic in a
    // repetitive pattern's length to build (a token of 40,000 "x": 3.8 s); long tokens get
    // its contiguous NFA, which builds in linear time
    let long = patterns.iter().any(|p| p.len() > 256);
    AhoCorasick::builder()
        .match_kind(kind)
        .kind(long.then_some(aho_corasick::AhoCorasickKind::ContiguousNFA))
        .build(&patterns)
        .map(Some)
        .map_err(|e| Error::Format(format!("cannot index the added tokens: {e}")))
}

fn borrowed(m: &Option<(AhoCorasick, Vec<usize>)>) -> Option<Matcher<'_>> {
    m.as_ref().map(|(ac, map)| Matcher::Borrowed(ac, map))
}

/// An automaton plus the position in the token list of each of its patterns.
#[derive(Debug)]
enum Matcher<'a> {
    Borrowed(&'a AhoCorasick, &'a [usize]),
    Owned((AhoCorasick, Vec<usize>)),
}

impl Matcher<'_> {
    fn parts(&self) -> (&AhoCorasick, &[usize]) {
        match self {
            Matcher::Borrowed(ac, map) => (ac, map),
            Matcher::Owned((ac, map)) => (ac, map),
        }
    }
}

/// The added-token handling of one encode call. Build it with [`SpecialTokens::policy`].
#[derive(Debug)]
pub struct Policy<'a> {
    specials: &'a SpecialTokens,
    raw: Option<Matcher<'a>>,
    normalized: Option<Matcher<'a>>,
    check: Option<Matcher<'a>>,
}

/// Whether `c` is a word character (regex `\w`, as HF's `single_word` reads it).
fn is_word(c: char) -> bool {
    regex_syntax::try_is_word_character(c).unwrap_or(c.is_alphanumeric() || c == '_')
}

impl Policy<'_> {
    /// Fails if `text` (the `text_index`-th of a batch) contains a disallowed special token.
    pub fn check(&self, text: &str, text_index: usize) -> Result<()> {
        let Some(matcher) = &self.check else {
            return Ok(());
        };
        let (ac, map) = matcher.parts();
        if let Some(m) = ac.find(text) {
            let idx = map[m.pattern().as_usize()];
            return Err(Error::DisallowedSpecial {
                token: self.specials.tokens[idx].0.clone(),
                input: "text",
                text_index,
                byte_offset: m.start(),
            });
        }
        Ok(())
    }

    /// Whether the normalized pass finds anything (some allowed token is `normalized`).
    pub fn has_normalized(&self) -> bool {
        self.normalized.is_some()
    }

    /// Calls `f` with the text segments and allowed added tokens of `text`, in order: both
    /// passes on the raw text (models without a normalizer).
    #[inline]
    pub fn segments(&self, text: &str, mut f: impl FnMut(Segment) -> Result<()>) -> Result<()> {
        match &self.normalized {
            None => self.split(self.raw.as_ref(), text, 0, &mut f),
            Some(norm) => self.split(self.raw.as_ref(), text, 0, &mut |segment| match segment {
                Segment::Text(start, end) => {
                    self.split(Some(norm), &text[start..end], start, &mut f)
                }
                found => f(found),
            }),
        }
    }

    /// The first pass alone: the tokens that are not normalized, in the raw `text`.
    #[inline]
    pub fn raw_segments(&self, text: &str, mut f: impl FnMut(Segment) -> Result<()>) -> Result<()> {
        self.split(self.raw.as_ref(), text, 0, &mut f)
    }

    /// The second pass alone: the normalized tokens, in `text` (a normalized piece).
    #[inline]
    pub fn normalized_segments(
        &self,
        text: &str,
        mut f: impl FnMut(Segment) -> Result<()>,
    ) -> Result<()> {
        self.split(self.normalized.as_ref(), text, 0, &mut f)
    }

    /// HF's `find_matches`: the matches of `matcher` in `text` (offsets plus `base`), the
    /// flags applied, and the text between them.
    #[inline]
    fn split(
        &self,
        matcher: Option<&Matcher<'_>>,
        text: &str,
        base: usize,
        f: &mut impl FnMut(Segment) -> Result<()>,
    ) -> Result<()> {
        let Some(matcher) = matcher else {
            return if text.is_empty() {
                Ok(())
            } else {
                f(Segment::Text(base, base + text.len()))
            };
        };
        let (ac, map) = matcher.parts();
        let mut last = 0;
        for m in ac.find_iter(text) {
            let idx = map[m.pattern().as_usize()];
            let flags = self.specials.flags[idx];
            let (mut start, mut end) = (m.start(), m.end());
            if flags.single_word {
                let before = text[..start].chars().next_back().is_some_and(is_word);
                let after = text[end..].chars().next().is_some_and(is_word);
                if before || after {
                    continue;
                }
            }
            if flags.lstrip {
                // only the gap since the previous match: a token never reaches back into one
                start = last.max(text[..start].trim_end().len());
            }
            if flags.rstrip {
                end = text.len() - text[end..].trim_start().len();
            }
            if start >= end {
                // an lstrip match inside the white space the previous match's rstrip took:
                // HF's piece is empty and dropped (or, ending before that, a panic)
                continue;
            }
            if start > last {
                f(Segment::Text(base + last, base + start))?;
            }
            f(Segment::Special(self.specials.tokens[idx].1, base + start, base + end))?;
            last = end;
        }
        if last < text.len() {
            f(Segment::Text(base + last, base + text.len()))?;
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

    #[test]
    fn is_added_knows_every_added_id_and_no_other() {
        let t = SpecialTokens::with_added(
            vec![("<s>".into(), 0), ("<big>".into(), 5_000_000)],
            vec![("<x>".into(), 63), ("<y>".into(), 64)],
        )
        .unwrap();
        let small = SpecialTokens::with_added(
            vec![("<s>".into(), 0)],
            vec![("<x>".into(), 63), ("<y>".into(), 64)],
        )
        .unwrap();
        for tokens in [&t, &small] {
            for id in [0, 63, 64] {
                assert!(tokens.is_added(id), "{id}");
            }
            for id in [1, 62, 65, 128, 4_999_999, u32::MAX] {
                assert!(!tokens.is_added(id), "{id}");
            }
        }
        assert!(t.is_added(5_000_000) && !small.is_added(5_000_000));
        assert!(!SpecialTokens::default().is_added(0));
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
        // two specials may share an id (tiktoken's o200k_harmony); it names the first
        let shared = SpecialTokens::new(vec![("a".into(), 1), ("b".into(), 1)]).unwrap();
        assert_eq!(shared.text_of(1), Some("a"));
        // flags given by id apply to every text with it
        let mut shared = shared;
        shared.set_lstrip(&[1]).unwrap();
        let p = shared.policy(&Selection::All, &Selection::Some(vec![])).unwrap();
        assert_eq!(
            segs(&p, "x a x b"),
            [
                Segment::Text(0, 1),
                Segment::Special(1, 1, 3),
                Segment::Text(3, 5),
                Segment::Special(1, 5, 7)
            ]
        );
        assert!(specials().policy(&Selection::Some(vec![9]), &Selection::All).is_err());
        let added =
            |a: &str, b: u32| SpecialTokens::with_added(vec![("a".into(), 1)], vec![(a.into(), b)]);
        assert!(added("a", 2).is_err() && added("b", 1).is_err() && added("", 2).is_err());
        let mut s = specials();
        assert!(s.set_flags(&[(99, Flags::default())]).is_err());
        s.set_flags(&[(12, Flags { normalized: true, ..Flags::default() })]).unwrap();
        assert!(s.set_forms(|_| String::new()).is_err());
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

    fn flagged(flags: Flags) -> SpecialTokens {
        let mut s =
            SpecialTokens::with_added(vec![("<s>".into(), 1)], vec![("ab".into(), 2)]).unwrap();
        s.set_flags(&[(2, flags)]).unwrap();
        s
    }

    #[test]
    fn plain_added_tokens_are_always_found() {
        let s = flagged(Flags::default());
        assert_eq!(s.tokens(), [("<s>".to_string(), 1)]);
        assert_eq!(s.added(), [("ab".to_string(), 2)]);
        assert!(s.is_special(1) && !s.is_special(2) && s.text_of(2) == Some("ab"));
        // no special allowed: the added token is still found, and never disallowed
        let p = s.policy(&Selection::Some(vec![]), &Selection::All).unwrap();
        assert_eq!(
            segs(&p, "xab<s>"),
            [Segment::Text(0, 1), Segment::Special(2, 1, 3), Segment::Text(3, 6)]
        );
        assert!(p.check("ab", 0).is_ok() && p.check("<s>", 0).is_err());
    }

    #[test]
    fn rstrip_and_single_word() {
        let s = flagged(Flags { rstrip: true, ..Flags::default() });
        let p = s.policy(&Selection::All, &Selection::Some(vec![])).unwrap();
        assert_eq!(segs(&p, "ab \t c"), [Segment::Special(2, 0, 5), Segment::Text(5, 6)]);
        let s = flagged(Flags { single_word: true, ..Flags::default() });
        let p = s.policy(&Selection::All, &Selection::Some(vec![])).unwrap();
        assert_eq!(segs(&p, "xab"), [Segment::Text(0, 3)]);
        assert_eq!(segs(&p, "_ab"), [Segment::Text(0, 3)]);
        assert_eq!(segs(&p, "éab"), [Segment::Text(0, 4)]);
        assert_eq!(
            segs(&p, "(ab) ab"),
            [
                Segment::Text(0, 1),
                Segment::Special(2, 1, 3),
                Segment::Text(3, 5),
                Segment::Special(2, 5, 7)
            ]
        );
        // a match inside the specials' piece is its own text: the boundary is the piece's
        assert_eq!(
            segs(&p, "<s>ab<s>"),
            [Segment::Special(1, 0, 3), Segment::Special(2, 3, 5), Segment::Special(1, 5, 8)]
        );
    }

    #[test]
    fn an_lstrip_match_in_the_space_an_rstrip_one_took_is_dropped() {
        // HF: "\t" (lstrip, rstrip) takes "\t\t" whole; its second match is an empty piece
        let mut s = SpecialTokens::with_added(vec![], vec![("\t".into(), 2)]).unwrap();
        let both = Flags { lstrip: true, rstrip: true, ..Flags::default() };
        s.set_flags(&[(2, both)]).unwrap();
        let p = s.policy(&Selection::All, &Selection::All).unwrap();
        assert_eq!(
            segs(&p, "a\t\tb"),
            [Segment::Text(0, 1), Segment::Special(2, 1, 3), Segment::Text(3, 4)]
        );
    }

    #[test]
    fn normalized_tokens_come_second() {
        let mut s =
            SpecialTokens::with_added(vec![], vec![("AB".into(), 2), ("bc".into(), 3)]).unwrap();
        s.set_flags(&[(2, Flags { normalized: true, ..Flags::default() })]).unwrap();
        s.set_forms(|t| t.to_lowercase()).unwrap();
        let p = s.policy(&Selection::All, &Selection::All).unwrap();
        assert!(p.has_normalized());
        // "bc" (raw pass) first, then "ab" in what is left: not leftmost-longest over both
        assert_eq!(segs(&p, "abc"), [Segment::Text(0, 1), Segment::Special(3, 1, 3)]);
        assert_eq!(
            segs(&p, "ab bc"),
            [Segment::Special(2, 0, 2), Segment::Text(2, 3), Segment::Special(3, 3, 5)]
        );
        let mut raw = Vec::new();
        p.raw_segments("ab", |seg| {
            raw.push(seg);
            Ok(())
        })
        .unwrap();
        assert_eq!(raw, [Segment::Text(0, 2)]);
        let mut norm = Vec::new();
        p.normalized_segments("xab", |seg| {
            norm.push(seg);
            Ok(())
        })
        .unwrap();
        assert_eq!(norm, [Segment::Text(0, 1), Segment::Special(2, 1, 3)]);
    }
}
