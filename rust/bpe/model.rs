//! The byte-level BPE model: token bytes, ids, the merge table and the special tokens.
//!
//! Two merge rules exist in the ecosystem and both are supported:
//! - [`MergeRule::MergeList`] (HF `tokenizers`, GPT-2's `merges.txt`): adjacent tokens merge
//!   only if the pair is in the list; lower list index = higher priority.
//! - [`MergeRule::Ranks`] (tiktoken): adjacent tokens merge whenever their concatenation is a
//!   token; lower rank = higher priority, and the id is the rank. Internally this is the
//!   same pair table, built from every split of every token.
//!
//! In both, the lowest-priority-value pair merges first and ties go to the leftmost pair.
//! A whole pre-token that is itself a token is emitted directly when that gives the same
//! result as merging (always under `Ranks`; checked per token at build time otherwise).

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::chars::CharTable;
use super::index::TokenIndex;
use super::merge::NO_PAIR;
use super::train::Trained;
use crate::error::{Error, Result};
use crate::pretokenize::Pretokenizer;
use crate::special::{Flags, SpecialTokens};

/// Sentinel for "no id".
pub const NO_ID: u32 = u32::MAX;

/// How merge priorities are defined (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeRule {
    /// An explicit, ordered list of merges.
    MergeList,
    /// tiktoken ranks: any two adjacent tokens whose concatenation is a token.
    Ranks,
}

/// The most ids below the largest that no token may hold (a vocabulary's gaps).
const MAX_ID_GAPS: usize = 1 << 20;

/// A byte-level BPE tokenizer model.
#[derive(Debug)]
pub struct BpeModel {
    /// id → token bytes (`None` for unused ids and ids that are only special tokens).
    pub(crate) tokens: Vec<Option<Box<[u8]>>>,
    /// token bytes → id.
    pub(crate) ids: TokenIndex,
    /// byte → id of the one-byte token (`NO_ID` if the vocabulary lacks it).
    pub(crate) byte_ids: [u32; 256],
    /// `(left << 32) | right` → `(priority << 32) | merged id`.
    pub(crate) pairs: FxHashMap<u64, u64>,
    /// `(priority << 32) | merged id` of each pair of single bytes, indexed by
    /// `first_byte << 8 | second_byte` (`NO_PAIR` when they do not merge).
    pub(crate) byte_pairs: Vec<u64>,
    /// The characters whose bytes encoding may merge ahead of the rest.
    pub(crate) chars: CharTable,
    /// The merges in priority order (`MergeList` only; empty for `Ranks`).
    pub(crate) merge_list: Vec<(u32, u32)>,
    /// Per id: may a pre-token equal to this token skip merging?
    pub(crate) whole: Vec<bool>,
    pub(crate) ignore_merges: bool,
    pub(crate) rule: MergeRule,
    pub(crate) specials: SpecialTokens,
    pub(crate) pretok: Pretokenizer,
    pub(crate) prep: super::prepared::Prep,
    pub(crate) vocab_size: u32,
    /// Identity for the per-thread piece caches.
    pub(crate) uid: u64,
}

#[inline(always)]
pub(crate) fn pair_key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

/// Each special token's id is free in `tokens`, or the id of the token it spells (as
/// text, or as a byte's byte-level character: "é" for byte 0xE9 shares that byte's id, as
/// in HF, matched as text and made from the byte).
fn check_special_ids(tokens: &[Option<Box<[u8]>>], specials: &[(String, u32)]) -> Result<()> {
    for (text, id) in specials {
        if let Some(Some(existing)) = tokens.get(*id as usize) {
            let byte_spelled = match existing.as_ref() {
                [b] => text.chars().eq(std::iter::once(byte_level_char(*b))),
                _ => false,
            };
            if existing.as_ref() != text.as_bytes() && !byte_spelled {
                return Err(Error::Format(format!(
                    "special token {text:?} has id {id}, which already belongs to the token {}; give it a free id",
                    show(existing)
                )));
            }
        }
    }
    Ok(())
}

impl BpeModel {
    /// Builds a model from a vocabulary (token bytes, id) and an ordered list of merges given
    /// as byte strings, as HF `tokenizer.json` and GPT-2's `merges.txt` store them.
    /// `ignore_merges` is HF's flag: a pre-token found whole in the vocabulary is emitted
    /// without merging. A merge listed twice keeps its last position, as in HF.
    pub fn from_merges(
        vocab: Vec<(Vec<u8>, u32)>,
        merges: &[(Vec<u8>, Vec<u8>)],
        specials: Vec<(String, u32)>,
        pretok: Pretokenizer,
        ignore_merges: bool,
    ) -> Result<Self> {
        let mut model = Self::with_vocab(vocab, specials, pretok, MergeRule::MergeList)?;
        for (rank, (left, right)) in merges.iter().enumerate() {
            let id_of = |part: &[u8]| {
                model.ids.get(part).ok_or_else(|| {
                    Error::Format(format!(
                        "merge #{rank} ({} + {}): {} is not in the vocabulary; every merge must join two vocabulary tokens",
                        show(left), show(right), show(part)
                    ))
                })
            };
            let (a, b) = (id_of(left)?, id_of(right)?);
            let joined: Vec<u8> = [left.as_slice(), right.as_slice()].concat();
            let Some(c) = model.ids.get(joined.as_slice()) else {
                return Err(Error::Format(format!(
                    "merge #{rank} ({} + {}) produces {}, which is not in the vocabulary; add it or remove the merge",
                    show(left), show(right), show(&joined)
                )));
            };
            let rank =
                u32::try_from(rank).map_err(|_| Error::Format("more than 2^32 merges".into()))?;
            model.pairs.insert(pair_key(a, b), (u64::from(rank) << 32) | u64::from(c));
            model.merge_list.push((a, b));
        }
        model.ignore_merges = ignore_merges;
        model.byte_pairs = model.dense_byte_pairs();
        model.chars = CharTable::build(&model);
        model.whole = if ignore_merges {
            vec![true; model.tokens.len()]
        } else {
            model.self_consistent_tokens()
        };
        Ok(model)
    }

    /// Builds a model from tiktoken ranks: each token's rank is its id and its priority.
    pub fn from_ranks(
        ranks: Vec<(Vec<u8>, u32)>,
        specials: Vec<(String, u32)>,
        pretok: Pretokenizer,
    ) -> Result<Self> {
        let mut model = Self::with_vocab(ranks, specials, pretok, MergeRule::Ranks)?;
        let mut pairs = FxHashMap::default();
        for (id, token) in model.tokens.iter().enumerate() {
            let Some(token) = token else { continue };
            for k in 1..token.len() {
                if let (Some(a), Some(b)) = (model.ids.get(&token[..k]), model.ids.get(&token[k..]))
                {
                    pairs.insert(pair_key(a, b), ((id as u64) << 32) | id as u64);
                }
            }
        }
        model.pairs = pairs;
        model.byte_pairs = model.dense_byte_pairs();
        model.chars = CharTable::build(&model);
        model.ignore_merges = true;
        model.whole = vec![true; model.tokens.len()];
        Ok(model)
    }

    /// The shared part of the constructors: token tables, byte ids, specials.
    fn with_vocab(
        vocab: Vec<(Vec<u8>, u32)>,
        specials: Vec<(String, u32)>,
        pretok: Pretokenizer,
        rule: MergeRule,
    ) -> Result<Self> {
        if vocab.is_empty() {
            return Err(Error::Format("the vocabulary is empty".into()));
        }
        let max_id =
            vocab.iter().map(|(_, id)| *id).chain(specials.iter().map(|(_, id)| *id)).max();
        let size = max_id.map_or(0, |m| m as usize + 1);
        if size > (u32::MAX - 1) as usize {
            return Err(Error::Format("token ids must be below 2^32 - 1".into()));
        }
        // the id table is dense: gaps are allowed (tiktoken's special ids leave some), but
        // not so many that one stray id allocates gigabytes
        let count = vocab.len() + specials.len();
        if size > count + MAX_ID_GAPS {
            return Err(Error::Format(format!(
                "token id {} is far past the {count} tokens: the ids leave {} unused, and at \
                 most {MAX_ID_GAPS} may be; number the tokens from 0 (is that id a typo?)",
                size - 1,
                size - count
            )));
        }
        let mut tokens: Vec<Option<Box<[u8]>>> = vec![None; size];
        let mut ids = TokenIndex::with_capacity(vocab.len());
        for (bytes, id) in vocab {
            if bytes.is_empty() {
                return Err(Error::Format(format!("token id {id} is the empty string; remove it")));
            }
            if let Some(prev) = &tokens[id as usize] {
                return Err(Error::Format(format!(
                    "id {id} is given to both {} and {}; ids must be unique",
                    show(prev),
                    show(&bytes)
                )));
            }
            let bytes: Box<[u8]> = bytes.into_boxed_slice();
            if let Some(other) = ids.insert(&bytes, id) {
                return Err(Error::Format(format!(
                    "the token {} appears twice (ids {other} and {id}); tokens must be unique",
                    show(&bytes)
                )));
            }
            tokens[id as usize] = Some(bytes);
        }
        check_special_ids(&tokens, &specials)?;
        let mut byte_ids = [NO_ID; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            if let Some(id) = ids.get([b as u8].as_slice()) {
                *slot = id;
            }
        }
        Ok(BpeModel {
            tokens,
            ids,
            byte_ids,
            pairs: FxHashMap::default(),
            byte_pairs: Vec::new(),
            chars: CharTable::default(),
            merge_list: Vec::new(),
            whole: Vec::new(),
            ignore_merges: false,
            rule,
            specials: SpecialTokens::new(specials)?,
            pretok,
            prep: Default::default(),
            vocab_size: size as u32,
            uid: crate::cache::new_model_id(),
        })
    }

    /// This model with other special and added tokens (`specials`, then `added` and the
    /// flags of both, as [`set_added_tokens`](Self::set_added_tokens) takes them): its
    /// vocabulary, merges, pattern and normalizer kept, its id space sized to the new
    /// tokens, the rest as the constructor and `set_added_tokens` make it. Adding tokens to
    /// a large vocabulary then costs a copy of its tables, not a rebuild from them.
    pub fn with_tokens(
        &self,
        specials: Vec<(String, u32)>,
        added: Vec<(String, u32)>,
        flags: &[(u32, Flags)],
    ) -> Result<BpeModel> {
        let vocab_end = self.tokens.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
        let size =
            specials.iter().map(|(_, id)| *id as usize + 1).max().unwrap_or(0).max(vocab_end);
        if size > (u32::MAX - 1) as usize {
            return Err(Error::Format("token ids must be below 2^32 - 1".into()));
        }
        let count = self.ids.len() + specials.len();
        if size > count + MAX_ID_GAPS {
            return Err(Error::Format(format!(
                "special token id {} is far past the {count} tokens: the ids leave {} unused, \
                 and at most {MAX_ID_GAPS} may be; number the special tokens from the \
                 vocabulary's size up (is that id a typo?)",
                size - 1,
                size - count
            )));
        }
        let mut tokens = self.tokens.clone();
        tokens.resize(size, None);
        check_special_ids(&tokens, &specials)?;
        let mut whole = self.whole.clone();
        if !whole.is_empty() {
            whole.resize(size, self.ignore_merges); // (ids no piece is: never read)
        }
        let mut model = BpeModel {
            tokens,
            ids: self.ids.clone(),
            byte_ids: self.byte_ids,
            pairs: self.pairs.clone(),
            byte_pairs: self.byte_pairs.clone(),
            chars: self.chars.clone(),
            merge_list: self.merge_list.clone(),
            whole,
            ignore_merges: self.ignore_merges,
            rule: self.rule,
            specials: SpecialTokens::new(specials)?,
            pretok: self.pretok.clone(),
            prep: Default::default(),
            vocab_size: size as u32,
            uid: crate::cache::new_model_id(),
        };
        if !added.is_empty() || !flags.is_empty() {
            model.set_added_tokens(added, flags)?;
        }
        if self.prep.is_active() {
            // after the added tokens: their normalized forms come from the normalizer
            model.set_prep(self.prep.clone())?;
        }
        Ok(model)
    }

    fn dense_byte_pairs(&self) -> Vec<u64> {
        let mut table = vec![NO_PAIR; 1 << 16];
        for (i, slot) in table.iter_mut().enumerate() {
            let (a, b) = (self.byte_ids[i >> 8], self.byte_ids[i & 0xFF]);
            if a != NO_ID && b != NO_ID {
                *slot = self.pair_packed(a, b);
            }
        }
        table
    }

    /// Under `MergeList`, a whole pre-token may skip merging only if merging its bytes gives
    /// the token itself; this computes that once per token.
    /// (On the pool's threads: a third of loading GPT-2's files.)
    fn self_consistent_tokens(&self) -> Vec<bool> {
        crate::parallel::install(None, || {
            self.tokens
                .par_iter()
                .enumerate()
                .map_init(Vec::new, |scratch, (id, token)| {
                    let Some(token) = token else { return false };
                    scratch.clear();
                    self.merge_bytes(token, scratch).is_ok()
                        && scratch.len() == 1
                        && scratch[0] == id as u32
                })
                .collect()
        })
    }

    /// Builds the model a training run produced. Ids: the special tokens first (0..k, in the
    /// order given), then the 256 bytes in byte order, then the merges in the order learned.
    pub fn from_trained(
        trained: &Trained,
        specials: Vec<String>,
        pretok: Pretokenizer,
    ) -> Result<Self> {
        let k = u32::try_from(specials.len())
            .map_err(|_| Error::TrainerConfig("too many special tokens".into()))?;
        let vocab: Vec<(Vec<u8>, u32)> =
            trained.tokens.iter().enumerate().map(|(i, t)| (t.clone(), k + i as u32)).collect();
        let merges: Vec<(Vec<u8>, Vec<u8>)> = trained
            .merges
            .iter()
            .map(|&(a, b)| (trained.tokens[a as usize].clone(), trained.tokens[b as usize].clone()))
            .collect();
        let specials = specials.into_iter().zip(0..).collect();
        Self::from_merges(vocab, &merges, specials, pretok, false)
    }

    /// HF's `ignore_merges`: whether whole pre-tokens found in the vocabulary skip merging.
    pub fn ignore_merges(&self) -> bool {
        self.ignore_merges
    }

    /// One more than the largest id (mergeable or special).
    pub fn vocab_size(&self) -> u32 {
        self.vocab_size
    }

    /// The merge rule.
    pub fn rule(&self) -> MergeRule {
        self.rule
    }

    /// The pre-tokenizer.
    pub fn pretokenizer(&self) -> &Pretokenizer {
        &self.pretok
    }

    /// The special tokens.
    pub fn specials(&self) -> &SpecialTokens {
        &self.specials
    }

    /// Marks special tokens as taking the whitespace before them: [`SpecialTokens::set_lstrip`].
    pub fn set_lstrip(&mut self, ids: &[u32]) -> Result<()> {
        self.specials.set_lstrip(ids)
    }

    /// Adds tokens that are not special (HF's `add_tokens`), found in text before
    /// pre-tokenization like the specials, and sets the flags of added tokens of both kinds
    /// ([`SpecialTokens::set_flags`]; without a normalizer, a `normalized` token is found by
    /// its own text, in the second pass). An added token may take the id of a vocabulary
    /// token (HF: the model has it already): it decodes as that token's bytes, which the
    /// caller keeps consistent with its text.
    pub fn set_added_tokens(
        &mut self,
        added: Vec<(String, u32)>,
        flags: &[(u32, Flags)],
    ) -> Result<()> {
        let top = added.iter().map(|(_, id)| *id as usize + 1).max().unwrap_or(0);
        if top > (u32::MAX - 1) as usize {
            return Err(Error::Format("token ids must be below 2^32 - 1".into()));
        }
        let size = top.max(self.vocab_size as usize);
        let count = self.ids.len() + self.specials.len() + added.len();
        if size > count + MAX_ID_GAPS {
            return Err(Error::Format(format!(
                "added token id {} is far past the {count} tokens; number the added tokens \
                 from the vocabulary's size up (is that id a typo?)",
                size - 1
            )));
        }
        let mut specials = SpecialTokens::with_added(self.specials.tokens().to_vec(), added)?;
        let kept: Vec<(u32, Flags)> = self
            .specials
            .tokens()
            .iter()
            .filter_map(|(_, id)| self.specials.flags_of(*id).map(|f| (*id, f)))
            .collect();
        specials.set_flags(&kept)?;
        specials.set_flags(flags)?;
        self.specials = specials;
        self.vocab_size = size as u32;
        Ok(())
    }

    /// The bytes of a mergeable token.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.tokens.get(id as usize).and_then(|t| t.as_deref())
    }

    /// The id of a mergeable token.
    pub fn token_id(&self, bytes: &[u8]) -> Option<u32> {
        self.ids.get(bytes)
    }

    /// Every mergeable token with its id, in id order.
    pub fn vocab(&self) -> impl Iterator<Item = (u32, &[u8])> {
        self.tokens.iter().enumerate().filter_map(|(id, t)| t.as_deref().map(|t| (id as u32, t)))
    }

    /// The merges in priority order (`MergeList` models).
    pub fn merges(&self) -> &[(u32, u32)] {
        &self.merge_list
    }

    /// All mergeable pairs with their priority, sorted by (priority, left, right): the
    /// merge list a `Ranks` model needs when it is written in a merges-based format.
    pub fn pairs_by_priority(&self) -> Vec<(u32, u32)> {
        let mut all: Vec<(u32, u32, u32)> = self
            .pairs
            .iter()
            .map(|(&key, &val)| ((val >> 32) as u32, (key >> 32) as u32, key as u32))
            .collect();
        all.sort_unstable();
        all.into_iter().map(|(_, a, b)| (a, b)).collect()
    }

    /// Concatenates the bytes of `ids` (special tokens decode to their text).
    pub fn decode_into(&self, ids: impl IntoIterator<Item = i64>, out: &mut Vec<u8>) -> Result<()> {
        for id in ids {
            let bytes = u32::try_from(id).ok().and_then(|id| {
                self.token_bytes(id).or_else(|| self.specials.text_of(id).map(str::as_bytes))
            });
            match bytes {
                Some(b) => out.extend_from_slice(b),
                None => return Err(Error::TokenId { id, vocab_size: self.vocab_size }),
            }
        }
        Ok(())
    }

    /// [`decode_into`](Self::decode_into) for ids that are all vocabulary tokens: false
    /// (with `out` partly written) at the first added token, special or not, whose text
    /// the caller reads its own way.
    pub fn decode_vocab_into(
        &self,
        ids: impl IntoIterator<Item = i64>,
        out: &mut Vec<u8>,
    ) -> Result<bool> {
        for id in ids {
            let token = u32::try_from(id).ok().and_then(|id| {
                if self.specials.is_added(id) {
                    Some(None)
                } else {
                    self.token_bytes(id).map(Some)
                }
            });
            match token {
                Some(Some(b)) => out.extend_from_slice(b),
                Some(None) => return Ok(false),
                None => return Err(Error::TokenId { id, vocab_size: self.vocab_size }),
            }
        }
        Ok(true)
    }

    /// Byte length of the text of each id (for offsets); the ids come from this model.
    #[inline]
    pub(crate) fn id_len(&self, id: u32) -> usize {
        match self.token_bytes(id) {
            Some(b) => b.len(),
            None => self.specials.text_of(id).map_or(0, str::len),
        }
    }
}

/// The character GPT-2's byte-level alphabet spells byte `b` with: the byte itself where
/// it is a printable Latin-1 character, else U+0100 onwards in byte order.
pub(crate) fn byte_level_char(b: u8) -> char {
    if visible_byte(b) {
        return char::from(b);
    }
    let before = (0..b).filter(|&x| !visible_byte(x)).count() as u32;
    char::from_u32(256 + before).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Whether byte `b` is a printable Latin-1 character, which the byte-level alphabet spells
/// as itself.
fn visible_byte(b: u8) -> bool {
    matches!(b, 33..=126 | 161..=172 | 174..=255)
}

/// A token's bytes spelled in the byte-level alphabet (a `tokenizer.json`'s spelling).
pub fn byte_level_text(bytes: &[u8]) -> String {
    static CHARS: std::sync::OnceLock<[char; 256]> = std::sync::OnceLock::new();
    let chars = CHARS.get_or_init(|| std::array::from_fn(|b| byte_level_char(b as u8)));
    bytes.iter().map(|&b| chars[usize::from(b)]).collect()
}

/// The bytes a byte-level spelling stands for (the inverse of [`byte_level_text`]), or
/// `None` where a character is not one of the alphabet's 256.
pub fn byte_level_bytes(text: &str) -> Option<Vec<u8>> {
    static HIDDEN: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let hidden = HIDDEN.get_or_init(|| (0..=255u8).filter(|&b| !visible_byte(b)).collect());
    text.chars()
        .map(|c| match u32::from(c) {
            n @ 0..=255 => visible_byte(n as u8).then_some(n as u8),
            n => hidden.get(usize::try_from(n - 256).ok()?).copied(),
        })
        .collect()
}

/// A token's bytes for error messages: the text if it is UTF-8, else hex.
pub(crate) fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => format!("{s:?}"),
        Err(_) => {
            let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("bytes [{}]", hex.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{byte_level_bytes, byte_level_char, byte_level_text};

    #[test]
    fn byte_level_characters_are_gpt2s() {
        // GPT-2's bytes_to_unicode: printable Latin-1 stays, the rest from U+0100 in order
        let cases = [(b'!', '!'), (0xE9, 'é'), (b' ', 'Ġ'), (b'\n', 'Ċ'), (0x00, 'Ā'), (0xAD, 'Ń')];
        for (byte, want) in cases {
            assert_eq!(byte_level_char(byte), want, "byte {byte:#04x}");
        }
        let all: std::collections::HashSet<char> = (0..=255u8).map(byte_level_char).collect();
        assert_eq!(all.len(), 256);
        assert!(all.iter().all(|&c| (c as u32) < 0x144));
    }

    #[test]
    fn byte_level_spellings_round_trip() {
        let every: Vec<u8> = (0..=255u8).collect();
        let text = byte_level_text(&every);
        assert_eq!(text, every.iter().map(|&b| byte_level_char(b)).collect::<String>());
        assert_eq!(byte_level_bytes(&text), Some(every));
        assert_eq!(byte_level_bytes(""), Some(Vec::new()));
        assert_eq!(byte_level_bytes("Ġthe"), Some(b" the".to_vec()));
        // characters outside the alphabet: a space, a soft hyphen, U+0144 on, CJK
        for bad in [" ", "\u{AD}", "\u{144}", "a\u{3000}", "中"] {
            assert_eq!(byte_level_bytes(bad), None, "{bad:?}");
        }
    }
}
