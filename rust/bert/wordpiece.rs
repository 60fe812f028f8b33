//! The WordPiece model: greedy longest-match-first over each word, continuation pieces
//! looked up with a prefix (`##`), and one unknown token for a word that cannot be covered
//! or has more than `max_input_chars_per_word` characters (HF `WordPiece` semantics).

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use super::trie::Trie;
use crate::cache::{PieceCache, MAX_IDS, MAX_PIECE};
use crate::error::{Error, Result};

/// A WordPiece vocabulary and its matching tables.
#[derive(Debug, Clone)]
pub struct WordPiece {
    /// The model's own tokens and tables, shared by the copies that add tokens to it.
    model: Arc<Model>,
    /// Added tokens (HF's `added_tokens` past `model.vocab`), ids from the model's size
    /// on: they have ids and decode, but words are never split into them.
    added: Vec<String>,
    added_ids: FxHashMap<String, u32>,
    prefix: String,
    unk: u32,
    max_chars: usize,
    pub(crate) uid: u64,
}

/// The model's tokens by id, their ids, and the tries words are split with.
#[derive(Debug)]
struct Model {
    tokens: Vec<String>,
    /// The ids, found by their tokens' hashes (no second copy of each token).
    ids: HashTable<u32>,
    /// Tokens that may start a word.
    first: Trie,
    /// Continuation tokens, prefix removed.
    rest: Trie,
}

/// One token of a word: id and character span within the word.
pub type Piece = (u32, u32, u32);

impl WordPiece {
    /// Builds the model. `tokens[id]` is the token with that id. The unknown token must be
    /// in the vocabulary; tokens must be unique and non-empty.
    pub fn new(
        tokens: Vec<String>,
        unk_token: &str,
        prefix: &str,
        max_input_chars_per_word: usize,
    ) -> Result<Self> {
        Self::with_added(tokens, 0, unk_token, prefix, max_input_chars_per_word)
    }

    /// As [`WordPiece::new`], the last `added` tokens being added tokens: they have ids
    /// (and decode), but words are never split into them.
    pub fn with_added(
        mut tokens: Vec<String>,
        added: usize,
        unk_token: &str,
        prefix: &str,
        max_input_chars_per_word: usize,
    ) -> Result<Self> {
        let Some(model_len) = tokens.len().checked_sub(added) else {
            return Err(Error::Format(format!(
                "{added} added tokens but only {} tokens in all",
                tokens.len()
            )));
        };
        let added = tokens.split_off(model_len);
        let ids = id_table(&tokens)?;
        let first = Trie::new(tokens.iter().enumerate().map(|(i, t)| (t.as_bytes(), i as u32)));
        // with an empty prefix every token may continue a word (HF looks up prefix + rest)
        let rest = Trie::new(tokens.iter().enumerate().filter_map(|(i, t)| {
            t.strip_prefix(prefix).filter(|r| !r.is_empty()).map(|r| (r.as_bytes(), i as u32))
        }));
        let mut wp = WordPiece {
            model: Arc::new(Model { tokens, ids, first, rest }),
            added: Vec::new(),
            added_ids: FxHashMap::default(),
            prefix: prefix.to_string(),
            unk: 0,
            max_chars: max_input_chars_per_word,
            uid: crate::cache::new_model_id(),
        };
        wp.push_added(added)?;
        let Some(unk) = wp.id(unk_token) else {
            return Err(Error::Format(format!(
                "the unknown token {unk_token:?} is not in the vocabulary; add it (BERT uses [UNK]) or pass unk_token="
            )));
        };
        wp.unk = unk;
        Ok(wp)
    }

    /// This model with `tokens` added past its last id (HF's `add_tokens`): the model's
    /// tables are shared, not copied, so adding a token costs what the added ones do.
    pub fn with_tokens(&self, tokens: Vec<String>) -> Result<Self> {
        let mut wp = self.clone();
        wp.push_added(tokens)?;
        Ok(wp)
    }

    fn push_added(&mut self, tokens: Vec<String>) -> Result<()> {
        for token in tokens {
            let id = self.len();
            check_new(&token, id, self.id(&token))?;
            self.added_ids.insert(token.clone(), id as u32);
            self.added.push(token);
        }
        Ok(())
    }

    /// Number of the model's own tokens (the added ones follow them).
    pub fn model_len(&self) -> usize {
        self.model.tokens.len()
    }

    /// Number of tokens, added ones included.
    pub fn len(&self) -> usize {
        self.model.tokens.len() + self.added.len()
    }

    /// Whether there are no tokens (a model always has its unknown token: never).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The token with this id.
    pub fn token(&self, id: u32) -> Option<&str> {
        let id = id as usize;
        let n = self.model.tokens.len();
        if id < n { self.model.tokens.get(id) } else { self.added.get(id - n) }.map(String::as_str)
    }

    /// The id of a token.
    pub fn id(&self, token: &str) -> Option<u32> {
        let model = &self.model;
        let found = model.ids.find(hash(token), |&i| model.tokens[i as usize] == token);
        found.or_else(|| self.added_ids.get(token)).copied()
    }

    /// Every token, by id.
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.model.tokens.iter().chain(&self.added).map(String::as_str)
    }

    /// The continuation prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The unknown token's id.
    pub fn unk(&self) -> u32 {
        self.unk
    }

    /// `max_input_chars_per_word`.
    pub fn max_chars(&self) -> usize {
        self.max_chars
    }

    /// Encodes one word, appending `(id, first char, end char)` spans relative to the word.
    pub fn encode_word(&self, word: &str, out: &mut Vec<Piece>) {
        let chars = word.chars().count();
        let whole = (self.unk, 0, chars as u32);
        if chars > self.max_chars {
            out.push(whole);
            return;
        }
        let bytes = word.as_bytes();
        let start = out.len();
        let (mut pos, mut cpos) = (0usize, 0u32);
        while pos < bytes.len() {
            let trie = if pos == 0 { &self.model.first } else { &self.model.rest };
            let Some((id, len)) = trie.longest_prefix(&bytes[pos..]) else {
                out.truncate(start);
                out.push(whole);
                return;
            };
            let n = bytes[pos..pos + len].iter().filter(|&&b| b & 0xC0 != 0x80).count() as u32;
            out.push((id, cpos, cpos + n));
            pos += len;
            cpos += n;
        }
    }

    /// Like [`encode_word`](Self::encode_word), through this thread's cache of recent words.
    #[inline]
    pub(crate) fn encode_word_cached(
        &self,
        word: &str,
        cache: &mut PieceCache,
        out: &mut Vec<Piece>,
    ) {
        let bytes = word.as_bytes();
        if bytes.len() > MAX_PIECE {
            return self.encode_word(word, out);
        }
        let key = PieceCache::key(bytes);
        if let Some((ids, lens)) = cache.get(key) {
            let mut at = 0u32;
            for (&id, &n) in ids.iter().zip(lens) {
                out.push((id, at, at + u32::from(n)));
                at += u32::from(n);
            }
            return;
        }
        let start = out.len();
        self.encode_word(word, out);
        let pieces = &out[start..];
        if pieces.len() <= MAX_IDS && pieces.iter().all(|p| p.2 - p.1 < 256) {
            let mut ids = [0u32; MAX_IDS];
            let mut lens = [0u8; MAX_IDS];
            for (k, p) in pieces.iter().enumerate() {
                ids[k] = p.0;
                lens[k] = (p.2 - p.1) as u8;
            }
            cache.put(key, &ids[..pieces.len()], &lens[..pieces.len()]);
        }
    }
}

/// The ids of `tokens` (by id), found by their hashes; an error for an empty or
/// repeated token.
fn id_table(tokens: &[String]) -> Result<HashTable<u32>> {
    let mut ids = HashTable::with_capacity(tokens.len());
    for (id, token) in tokens.iter().enumerate() {
        let hash = hash(token);
        let first = ids.find(hash, |&i: &u32| tokens[i as usize] == *token).copied();
        check_new(token, id, first)?;
        ids.insert_unique(hash, id as u32, |&i| self::hash(&tokens[i as usize]));
    }
    Ok(ids)
}

/// A token's hash in the model's table.
fn hash(token: &str) -> u64 {
    FxBuildHasher.hash_one(token)
}

/// An error unless `token` may take `id`: not empty, and no other token's (`first`: the
/// id of the token spelled alike, if any).
fn check_new(token: &str, id: usize, first: Option<u32>) -> Result<()> {
    if token.is_empty() {
        return Err(Error::Format(format!(
            "token {id} of the vocabulary is empty; every line of a vocabulary must hold a token"
        )));
    }
    if let Some(first) = first {
        return Err(Error::Format(format!(
            "the vocabulary lists {token:?} twice (ids {first} and {id}); remove the duplicate"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> WordPiece {
        let vocab = ["[UNK]", "un", "##aff", "##able", "a", "##b", "é", "##é"];
        WordPiece::new(vocab.iter().map(|s| s.to_string()).collect(), "[UNK]", "##", 10).unwrap()
    }

    #[test]
    fn greedy_longest_match() {
        let m = model();
        let mut out = Vec::new();
        m.encode_word("unaffable", &mut out);
        assert_eq!(out, [(1, 0, 2), (2, 2, 5), (3, 5, 9)]);
        out.clear();
        m.encode_word("éé", &mut out);
        assert_eq!(out, [(6, 0, 1), (7, 1, 2)]);
        out.clear();
        m.encode_word("unx", &mut out); // cannot be covered: one [UNK] for the word
        assert_eq!(out, [(0, 0, 3)]);
        out.clear();
        m.encode_word("abbbbbbbbbb", &mut out); // 11 chars > 10
        assert_eq!(out, [(0, 0, 11)]);
    }

    #[test]
    fn added_tokens_share_the_model() {
        let m = WordPiece::with_added(
            ["[UNK]", "un", "##aff", "[E1]"].iter().map(|s| s.to_string()).collect(),
            1,
            "[UNK]",
            "##",
            10,
        )
        .unwrap();
        assert_eq!((m.model_len(), m.len(), m.id("[E1]")), (3, 4, Some(3)));
        let more = m.with_tokens(vec!["<x>".into(), "<y>".into()]).unwrap();
        assert!(Arc::ptr_eq(&m.model, &more.model));
        assert_eq!(
            more.tokens().collect::<Vec<_>>(),
            ["[UNK]", "un", "##aff", "[E1]", "<x>", "<y>"]
        );
        assert_eq!((more.id("<y>"), more.token(4), more.token(6)), (Some(5), Some("<x>"), None));
        assert_eq!((m.len(), m.id("<x>")), (4, None)); // the original is unchanged
                                                       // words are never split into added tokens
        let mut out = Vec::new();
        more.encode_word("unaff", &mut out);
        assert_eq!(out, [(1, 0, 2), (2, 2, 5)]);
        for bad in [
            vec!["un".to_string()],
            vec!["[E1]".into()],
            vec!["<z>".into(), "<z>".into()],
            vec![String::new()],
        ] {
            assert!(m.with_tokens(bad).is_err());
        }
    }

    #[test]
    fn bad_vocabularies() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(WordPiece::new(v(&["a", "b"]), "[UNK]", "##", 100).is_err());
        assert!(WordPiece::new(v(&["[UNK]", "a", "a"]), "[UNK]", "##", 100).is_err());
        assert!(WordPiece::new(v(&["[UNK]", ""]), "[UNK]", "##", 100).is_err());
    }
}
