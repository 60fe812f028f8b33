//! WordPiece training, on the byte-level trainer's machinery ([`crate::bpe::learn`]) over
//! characters: each word is split into characters, the first as itself and the rest with the
//! continuation prefix (`##`); merges join a piece with the following continuation piece.
//! The vocabulary is the special tokens, then the initial pieces (every character of the
//! alphabet sorted by code point, then the continuation pieces in the order they first
//! appear, the words taken in byte order), then the merged pieces in the order learned (a
//! piece already present is not added twice). Ties between equally frequent pairs go to the
//! smallest pair of those ids, as in HF, so the result is a pure function of the word
//! counts, whatever the thread count. HF's WordPiece training numbers the continuation
//! pieces as they first appear too, but takes the words in its hash map's order, which
//! changes from run to run (so do its ties, and its vocabulary): ours is the one HF gives
//! for one order of the words, and HF's own wherever the order cannot matter. Words longer than the tokenizer reads (`max_word_chars`, its
//! `max_input_chars_per_word`) give the alphabet their characters but no pieces.

use std::collections::{BTreeMap, HashMap};

use crate::bpe::train::empty_corpus;
use crate::bpe::{learn, TrainOptions};
use crate::count::WordCounts;
use crate::error::{Error, Result};

/// WordPiece training options.
#[derive(Clone, Debug)]
pub struct WordPieceOptions {
    pub vocab_size: usize,
    pub min_frequency: u64,
    /// Keep only this many distinct characters (the most frequent); others are skipped.
    pub limit_alphabet: Option<usize>,
    pub special_tokens: Vec<String>,
    pub prefix: String,
    /// Longest piece, in characters.
    pub max_token_length: Option<usize>,
    /// Words of more characters are left out (the tokenizer's `max_input_chars_per_word`:
    /// it encodes them as the unknown token whatever the vocabulary holds).
    pub max_word_chars: Option<usize>,
}

/// Learns a WordPiece vocabulary (tokens by id) from word counts.
pub fn train_wordpiece(
    counts: &WordCounts,
    opts: &WordPieceOptions,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<Vec<String>> {
    let mut freq: HashMap<char, u64> = HashMap::new();
    let mut words: Vec<(String, u64)> = Vec::with_capacity(counts.len());
    // (the words in byte order: the continuation pieces are numbered as they first appear)
    let sorted = counts.sorted();
    for &(bytes, n) in &sorted {
        let Ok(word) = std::str::from_utf8(bytes) else { continue };
        for c in word.chars() {
            let f = freq.entry(c).or_default();
            *f = f.saturating_add(n);
        }
        // a word longer than the tokenizer reads (it encodes as the unknown token) gives
        // the alphabet its characters, as in HF, but no pieces: a 4 MB word would otherwise
        // hold a gigabyte of training state for pieces no text could use
        // (no more characters than bytes: most words are kept without counting them)
        if opts.max_word_chars.is_some_and(|max| bytes.len() > max && word.chars().count() > max) {
            continue;
        }
        words.push((word.to_string(), n));
    }
    if freq.is_empty() {
        return Err(empty_corpus(counts.specials_cut(), ""));
    }
    // the alphabet: the most frequent characters (ties by code point)
    let mut chars: Vec<(char, u64)> = freq.into_iter().collect();
    chars.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if let Some(limit) = opts.limit_alphabet {
        chars.truncate(limit);
    }
    let alphabet: std::collections::HashSet<char> = chars.iter().map(|c| c.0).collect();
    // initial pieces: each character as itself, by code point, as HF keeps it (a character
    // seen only inside words, "ß" of "straße", still encodes alone, not as [UNK])
    let mut first_chars: BTreeMap<char, u32> = alphabet.iter().map(|&c| (c, 0)).collect();
    let mut pieces: Vec<String> = Vec::new();
    for (c, id) in first_chars.iter_mut() {
        *id = pieces.len() as u32;
        pieces.push(c.to_string());
    }
    // continuations: a character's place in its word decides whether it continues one, as
    // in HF (a kept character after a dropped first one is a continuation); every word
    // counts, the long ones left out below too, as HF reads them all
    let mut rest_chars: HashMap<char, u32> = HashMap::new();
    for &(bytes, _) in &sorted {
        let Ok(word) = std::str::from_utf8(bytes) else { continue };
        for c in word.chars().skip(1).filter(|c| alphabet.contains(c)) {
            rest_chars.entry(c).or_insert_with(|| {
                pieces.push(format!("{}{c}", opts.prefix));
                pieces.len() as u32 - 1
            });
        }
    }
    drop(sorted);
    // a special token spelled like a piece is that piece (one spelling, one id), as in HF
    let specials: std::collections::HashSet<&str> =
        opts.special_tokens.iter().map(String::as_str).collect();
    let floor = opts.special_tokens.len()
        + pieces.iter().filter(|p| !specials.contains(p.as_str())).count();
    if opts.vocab_size < floor {
        return Err(Error::TrainerConfig(format!(
            "vocab_size={} is smaller than the {} special tokens plus the {} initial pieces (characters, and ## continuations) = {floor}; raise vocab_size or pass limit_alphabet=",
            opts.vocab_size,
            opts.special_tokens.len(),
            pieces.len()
        )));
    }
    let symbols = |word: &'_ str| -> Vec<u32> {
        word.chars()
            .enumerate()
            .filter(|(_, c)| alphabet.contains(c))
            .map(|(i, c)| if i == 0 { first_chars[&c] } else { rest_chars[&c] })
            .collect()
    };
    let encoded: Vec<(Vec<u32>, u64)> = words.iter().map(|(w, n)| (symbols(w), *n)).collect();
    drop(words);
    let train = TrainOptions {
        merges: opts.vocab_size - floor,
        min_frequency: opts.min_frequency,
        max_token_length: opts.max_token_length,
    };
    let initial = pieces.len();
    // the merged pieces, made as the merges are learned: one spelled like a special token
    // (or a piece made before) adds nothing to the vocabulary, so the merges go on past
    // it, as in HF's trainer
    let mut spelled: std::collections::HashSet<String> =
        opts.special_tokens.iter().chain(&pieces).cloned().collect();
    let mut merged = pieces;
    learn(
        || encoded.iter().map(|(s, n)| (s.iter().copied(), *n)),
        initial,
        &train,
        progress,
        &mut |a, b| {
            let right =
                merged[b as usize].strip_prefix(&opts.prefix).unwrap_or(&merged[b as usize]);
            let joined = format!("{}{right}", merged[a as usize]);
            let adds = spelled.insert(joined.clone());
            merged.push(joined);
            adds
        },
    )?;
    let pieces = merged;
    let mut seen = std::collections::HashSet::new();
    let mut vocab = Vec::with_capacity(opts.special_tokens.len() + pieces.len());
    for token in opts.special_tokens.iter().chain(&pieces) {
        if seen.insert(token.clone()) {
            vocab.push(token.clone());
        }
    }
    Ok(vocab)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(words: &[(&str, u64)]) -> WordCounts {
        let mut wc = WordCounts::new();
        for (w, n) in words {
            wc.add(w.as_bytes(), *n).unwrap();
        }
        wc
    }

    fn opts(vocab_size: usize) -> WordPieceOptions {
        WordPieceOptions {
            vocab_size,
            min_frequency: 0,
            limit_alphabet: None,
            special_tokens: vec!["[UNK]".into()],
            prefix: "##".into(),
            max_token_length: None,
            max_word_chars: None,
        }
    }

    #[test]
    fn learns_pieces() {
        let wc = counts(&[("hug", 10), ("pug", 5), ("pun", 12), ("bun", 4), ("hugs", 5)]);
        let vocab = train_wordpiece(&wc, &opts(18), &mut |_, _| true).unwrap();
        // every character whole (as HF keeps them: "g" occurs only inside words), then the
        // continuations
        assert_eq!(&vocab[..8], ["[UNK]", "b", "g", "h", "n", "p", "s", "u"]);
        // the continuations as they first appear, the words in byte order: bun, hug, hugs...
        assert_eq!(&vocab[8..12], ["##u", "##n", "##g", "##s"]);
        assert!(vocab.contains(&"##ug".to_string()));
        assert_eq!(vocab.len(), 18);
    }

    #[test]
    fn a_huge_vocab_size_stops_when_the_corpus_runs_out() {
        let wc = counts(&[("hug", 10), ("pug", 5)]);
        let vocab = train_wordpiece(&wc, &opts(usize::MAX), &mut |_, _| true).unwrap();
        assert!(vocab.contains(&"hug".to_string()) && vocab.contains(&"pug".to_string()));
        assert!(vocab.len() < 20);
    }

    #[test]
    fn words_longer_than_the_tokenizer_reads_are_left_out() {
        // "ß" is 2 bytes: the limit counts characters
        let wc = counts(&[("ab", 3), ("ßßß", 1), (&"x".repeat(4_000_000), 1)]);
        let mut o = opts(100);
        o.max_word_chars = Some(3);
        let vocab = train_wordpiece(&wc, &o, &mut |_, _| true).unwrap();
        assert!(vocab.contains(&"ßßß".to_string()));
        // its characters stay in the alphabet (as in HF's), its pieces are never learned
        assert!(vocab.contains(&"x".to_string()) && vocab.contains(&"##x".to_string()));
        assert!(!vocab.iter().any(|t| t.contains("xx")), "{vocab:?}");
        // a corpus of long words only: the alphabet
        o.max_word_chars = Some(2);
        let vocab = train_wordpiece(&counts(&[("xyz", 5)]), &o, &mut |_, _| true).unwrap();
        assert_eq!(vocab, ["[UNK]", "x", "y", "z", "##y", "##z"]);
    }

    #[test]
    fn limit_alphabet_and_errors() {
        let wc = counts(&[("aab", 10), ("ac", 1)]);
        let mut o = opts(10);
        o.limit_alphabet = Some(2);
        let vocab = train_wordpiece(&wc, &o, &mut |_, _| true).unwrap();
        assert!(!vocab.iter().any(|t| t.contains('c')));
        assert!(train_wordpiece(&wc, &opts(2), &mut |_, _| true).is_err());
        assert!(train_wordpiece(&WordCounts::new(), &opts(10), &mut |_, _| true).is_err());
    }
}
