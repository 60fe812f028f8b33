//! Unit tests of `train`.

use super::*;
use proptest::prelude::*;

/// The definition, recounting everything at every step (ties by HF's alphabet order).
fn naive(words: &[(Vec<u8>, u64)], opts: &TrainOptions) -> Vec<(u32, u32)> {
    let rank = hf_byte_order();
    let mut ws: Vec<(Vec<u32>, i64)> = words
        .iter()
        .map(|(w, c)| (w.iter().map(|&b| rank[b as usize]).collect(), *c as i64))
        .collect();
    let mut lens: Vec<usize> = vec![1; 256];
    let mut merges = Vec::new();
    while merges.len() < opts.merges {
        let mut counts: std::collections::BTreeMap<(u32, u32), i64> = Default::default();
        for (w, c) in &ws {
            let mut i = 0;
            while i + 1 < w.len() {
                *counts.entry((w[i], w[i + 1])).or_default() += c;
                i += 1;
            }
        }
        let best = counts
            .iter()
            .filter(|(&(a, b), _)| {
                opts.max_token_length.is_none_or(|m| lens[a as usize] + lens[b as usize] <= m)
            })
            .max_by(|x, y| x.1.cmp(y.1).then(y.0.cmp(x.0)));
        let Some((&(a, b), &n)) = best else { break };
        if n < opts.min_frequency.max(1) as i64 {
            break;
        }
        let c = 256 + merges.len() as u32;
        lens.push(lens[a as usize] + lens[b as usize]);
        merges.push((a, b));
        for (w, _) in ws.iter_mut() {
            let mut out = Vec::with_capacity(w.len());
            let mut i = 0;
            while i < w.len() {
                if i + 1 < w.len() && w[i] == a && w[i + 1] == b {
                    out.push(c);
                    i += 2;
                } else {
                    out.push(w[i]);
                    i += 1;
                }
            }
            *w = out;
        }
    }
    merges
}

#[test]
fn ties_break_in_hfs_alphabet_order() {
    // GPT-2's byte-level characters: printable bytes by value, then the others ("Ġ",
    // the space, is U+0120), so of pairs counted alike ('a','b') goes before (' ','c')
    let words = [(b"ab".to_vec(), 1), (b" cd".to_vec(), 1)];
    let opts = TrainOptions { merges: 3, min_frequency: 1, max_token_length: None };
    let rank = hf_byte_order();
    let a = rank[usize::from(b'a')];
    assert_eq!(fast(&words, &opts)[0], (a, a + 1));
    assert!(rank[usize::from(b'~')] < rank[0xA1] && rank[0xFF] < rank[0]);
    assert!(rank[usize::from(b' ')] < rank[0x7F] && rank[0x7F] < rank[0xAD]);
}

#[test]
fn bytes_take_hfs_alphabet_ids() {
    // HF's BpeTrainer numbers the byte-level alphabet by code point: "!" (U+0021) first,
    // then the other printable bytes, then the rest ("Ā" = byte 0 is U+0100)
    let mut wc = WordCounts::new();
    wc.add(b"ab ab", 2).unwrap();
    let opts = TrainOptions { merges: 2, min_frequency: 1, max_token_length: None };
    let got = train(&wc, &opts, &mut |_, _| true).unwrap();
    assert_eq!(
        (&got.tokens[0], &got.tokens[93], &got.tokens[94]),
        (&b"!".to_vec(), &b"~".to_vec(), &vec![0xA1])
    );
    assert_eq!(got.tokens[188], [0u8]);
    let rank = hf_byte_order();
    for b in 0..=255u8 {
        assert_eq!(got.tokens[rank[usize::from(b)] as usize], [b]);
    }
    assert_eq!(got.tokens[256..], [b"ab".to_vec(), b" ab".to_vec()]);
}

fn fast(words: &[(Vec<u8>, u64)], opts: &TrainOptions) -> Vec<(u32, u32)> {
    let mut wc = WordCounts::new();
    for (w, c) in words {
        wc.add(w, *c).unwrap();
    }
    train(&wc, opts, &mut |_, _| true).unwrap().merges
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn matches_the_definition(
        words in prop::collection::vec((prop::collection::vec(prop::sample::select(b"aabbcd ".to_vec()), 1..12), 1u64..50), 1..30),
        merges in 1usize..40,
        min_frequency in 1u64..4,
        max_len in prop::option::of(2usize..6),
    ) {
        let mut merged: std::collections::BTreeMap<Vec<u8>, u64> = Default::default();
        for (w, c) in &words {
            *merged.entry(w.clone()).or_default() += c;
        }
        let words: Vec<(Vec<u8>, u64)> = merged.into_iter().collect();
        // (a corpus of nothing but spaces is refused, not trained)
        prop_assume!(words.iter().any(|(w, _)| w.iter().any(|&b| b != b' ')));
        let opts = TrainOptions { merges, min_frequency, max_token_length: max_len };
        prop_assert_eq!(fast(&words, &opts), naive(&words, &opts));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    /// Skewed counts make the floor rise above 1, so untracked pairs and recounts occur.
    #[test]
    fn matches_the_definition_with_skewed_counts(
        words in prop::collection::vec((prop::collection::vec(prop::sample::select(b"abcdeff ".to_vec()), 2..10), 1u64..1_000_000), 1..60),
        merges in 1usize..80,
    ) {
        let mut merged: std::collections::BTreeMap<Vec<u8>, u64> = Default::default();
        for (w, c) in &words {
            *merged.entry(w.clone()).or_default() += c;
        }
        let words: Vec<(Vec<u8>, u64)> = merged.into_iter().collect();
        prop_assume!(words.iter().any(|(w, _)| w.iter().any(|&b| b != b' ')));
        let opts = TrainOptions { merges, min_frequency: 1, max_token_length: None };
        prop_assert_eq!(fast(&words, &opts), naive(&words, &opts));
    }
}

#[test]
fn huge_counts_do_not_overflow() {
    let words = vec![(b"abab".to_vec(), 3_000_000_000u64), (b"ab".to_vec(), 2_000_000_000)];
    let opts = TrainOptions { merges: 5, min_frequency: 0, max_token_length: None };
    let rank = hf_byte_order();
    assert_eq!(fast(&words, &opts), [(rank[97], rank[98]), (256, 256)]);
}

#[test]
fn a_huge_merge_budget_stops_when_the_corpus_runs_out() {
    // `merges` comes from a user's `vocab_size`: it must never size an allocation
    let words = vec![(b"hello".to_vec(), 3u64), (b"world".to_vec(), 2)];
    let opts = TrainOptions { merges: usize::MAX, min_frequency: 0, max_token_length: None };
    let mut calls = Vec::new();
    let wc = {
        let mut wc = WordCounts::new();
        for (w, c) in &words {
            wc.add(w, *c).unwrap();
        }
        wc
    };
    let got = train(&wc, &opts, &mut |done, total| {
        calls.push((done, total));
        true
    })
    .unwrap();
    assert_eq!(got.merges, naive(&words, &opts));
    assert_eq!(got.merges.len(), 8); // each word merged down to one token
    assert!(calls.iter().all(|&(done, total)| done <= total && total <= 8));
}

#[test]
fn empty_corpus_is_an_error() {
    let opts = TrainOptions { merges: 5, min_frequency: 0, max_token_length: None };
    assert!(matches!(train(&WordCounts::new(), &opts, &mut |_, _| true), Err(Error::Corpus(_))));
}

#[test]
fn a_corpus_of_white_space_is_an_error() {
    let opts = TrainOptions { merges: 5, min_frequency: 0, max_token_length: None };
    let mut counts = WordCounts::new();
    for w in [&b"  "[..], b"\n\n", b"\t", "\u{3000}".as_bytes()] {
        counts.add(w, 3).unwrap();
    }
    let got = train(&counts, &opts, &mut |_, _| true);
    assert!(matches!(got, Err(Error::Corpus(m)) if m.contains("only white space")));
    counts.add(b" a", 1).unwrap();
    assert!(train(&counts, &opts, &mut |_, _| true).is_ok());
}

#[test]
fn a_long_repeated_word_trains_quickly() {
    // 10 MB in one word: each merge only touches its own occurrences
    let a = hf_byte_order()[usize::from(b'a')];
    let words = vec![(b"a".repeat(10_000_000), 1u64)];
    let opts = TrainOptions { merges: 40, min_frequency: 0, max_token_length: None };
    let m = fast(&words, &opts);
    let doubling: Vec<(u32, u32)> =
        (0..22).map(|k| if k == 0 { (a, a) } else { (255 + k, 255 + k) }).collect();
    assert_eq!(m[..22], doubling[..]);
    let words = vec![(b"a".repeat(100_003), 1u64)];
    assert_eq!(fast(&words, &opts), naive(&words, &opts));
}
