//! The WordPiece model: greedy longest-match-first over each word, continuation pieces
//! looked up with a prefix (`##`), and one unknown token for a word that cannot be covered
//! or has more than `max_input_chars_per_word` characters (HF `WordPiece` semantics).

use rustc_hash::FxHashMap;

use super::trie::Trie;
use crate::cache::{PieceCache, MAX_IDS, MAX_PIECE};
use crate::error::{Error, Result};

/// A WordPiece vocabulary and its matching tables.
#[derive(Debug)]
pub struct WordPiece {
    tokens: Vec<String>,
    ids: FxHashMap<String, u32>,
    /// Tokens that may start a word.
    first: Trie,
    /// Continuation tokens, prefix removed.
    rest: Trie,
    prefix: String,
    unk: u32,
    max_chars: usize,
    /// Tokens `[0, model_len)` are the model's; the rest are added tokens (HF's
    /// `added_tokens` past `model.vocab`), which words are never split into.
    model_len: usize,
    pub(crate) uid: u64,
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
        tokens: Vec<String>,
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
        let mut ids = FxHashMap::default();
        for (id, token) in tokens.iter().enumerate() {
            if token.is_empty() {
                return Err(Error::Format(format!(
                    "token {id} of the vocabulary is empty; every line of a vocabulary must hold a token"
                )));
            }
            if let Some(first) = ids.insert(token.clone(), id as u32) {
                return Err(Error::Format(format!(
                    "the vocabulary lists {token:?} twice (ids {first} and {id}); remove the duplicate"
                )));
            }
        }
        let Some(&unk) = ids.get(unk_token) else {
            return Err(Error::Format(format!(
                "the unknown token {unk_token:?} is not in the vocabulary; add it (BERT uses [UNK]) or pass unk_token="
            )));
        };
        let model = &tokens[..model_len];
        let first = Trie::new(model.iter().enumerate().map(|(i, t)| (t.as_bytes(), i as u32)));
        // with an empty prefix every token may continue a word (HF looks up prefix + rest)
        let rest = Trie::new(model.iter().enumerate().filter_map(|(i, t)| {
            t.strip_prefix(prefix).filter(|r| !r.is_empty()).map(|r| (r.as_bytes(), i as u32))
        }));
        Ok(WordPiece {
            tokens,
            ids,
            first,
            rest,
            prefix: prefix.to_string(),
            unk,
            max_chars: max_input_chars_per_word,
            model_len,
            uid: crate::cache::new_model_id(),
        })
    }

    /// Number of the model's own tokens (the added ones follow them).
    pub fn model_len(&self) -> usize {
        self.model_len
    }

    /// The token with this id.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of a token.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// Every token, by id.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
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
            let trie = if pos == 0 { &self.first } else { &self.rest };
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
    fn bad_vocabularies() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(WordPiece::new(v(&["a", "b"]), "[UNK]", "##", 100).is_err());
        assert!(WordPiece::new(v(&["[UNK]", "a", "a"]), "[UNK]", "##", 100).is_err());
        assert!(WordPiece::new(v(&["[UNK]", ""]), "[UNK]", "##", 100).is_err());
    }
}
