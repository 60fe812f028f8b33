//! Unit tests of `mlm`.

use super::*;

fn opts(select: Select, whole_word: bool) -> MaskOptions {
    MaskOptions {
        probability: 0.15,
        mask_prob: 0.8,
        random_prob: 0.1,
        mask_token_id: 4,
        vocab_size: 1000,
        select,
        whole_word,
        seed: 1,
        step: 0,
    }
}

fn specials() -> Vec<bool> {
    (0..1000).map(|i| i < 5).collect()
}

fn rows(n: usize, width: usize) -> Vec<u32> {
    (0..n * width)
        .map(|i| {
            if i % width == 0 {
                2
            } else if i % width == width - 1 {
                3
            } else {
                5 + (i * 7919 % 995) as u32
            }
        })
        .collect()
}

#[test]
fn bernoulli_statistics_and_specials() {
    let ids = rows(2000, 128);
    let batch = Batch {
        ids: &ids,
        width: 128,
        special: None,
        words: None,
        continuation: None,
        word_ends: None,
        starts: None,
        bytes: None,
    };
    let (out, labels) =
        mask(&batch, &specials(), &opts(Select::Bernoulli, false), Some(2)).unwrap();
    let eligible = ids.iter().filter(|&&i| i >= 5).count();
    let picked = labels.iter().filter(|&&l| l >= 0).count();
    assert!((picked as f64 / eligible as f64 - 0.15).abs() < 0.003);
    let masked = out.iter().zip(&labels).filter(|(&o, &l)| l >= 0 && o == 4).count();
    assert!((masked as f64 / picked as f64 - 0.8).abs() < 0.01);
    for ((&o, &l), &i) in out.iter().zip(&labels).zip(&ids) {
        if i < 5 {
            assert_eq!((o, l), (i, -100)); // specials untouched
        }
        if l >= 0 {
            assert_eq!(l, i64::from(i));
            assert!(o >= 4); // never a special other than the mask
        } else {
            assert_eq!(o, i);
        }
    }
}

#[test]
fn exact_counts_and_thread_independence() {
    let ids = rows(300, 64);
    let batch = Batch {
        ids: &ids,
        width: 64,
        special: None,
        words: None,
        continuation: None,
        word_ends: None,
        starts: None,
        bytes: None,
    };
    let o = opts(Select::Exact, false);
    let one = mask(&batch, &specials(), &o, Some(1)).unwrap();
    for t in [2, 4] {
        assert_eq!(mask(&batch, &specials(), &o, Some(t)).unwrap(), one);
    }
    for row in one.1.chunks(64) {
        assert_eq!(row.iter().filter(|&&l| l >= 0).count(), (0.15f64 * 62.0).round() as usize);
    }
    let other = mask(&batch, &specials(), &MaskOptions { step: 1, ..o }, Some(1)).unwrap();
    assert_ne!(other.1, one.1);
}

#[test]
fn whole_words_all_or_nothing() {
    let ids = rows(200, 64);
    let words: Vec<i64> = (0..ids.len())
        .map(|i| if i % 64 == 0 || i % 64 == 63 { -1 } else { (i % 64 / 3) as i64 })
        .collect();
    let batch = Batch {
        ids: &ids,
        width: 64,
        special: None,
        words: Some(&words),
        continuation: None,
        word_ends: None,
        starts: None,
        bytes: None,
    };
    for select in [Select::Bernoulli, Select::Exact, Select::Span { p: 0.2, max: 10 }] {
        let (_, labels) = mask(&batch, &specials(), &opts(select, true), Some(2)).unwrap();
        for row in 0..200 {
            for w in 0..22 {
                let picks: Vec<bool> = (0..64)
                    .filter(|&c| words[row * 64 + c] == w)
                    .map(|c| labels[row * 64 + c] >= 0)
                    .collect();
                assert!(picks.iter().all(|&p| p) || picks.iter().all(|&p| !p), "{select:?}");
            }
        }
    }
}

#[test]
fn forced_word_starts_split_words_from_the_vocabulary() {
    // ids from 500 on continue a word; `starts` forces a word to start at some of them (a
    // sentence start): the same masks as word ids that start a word there
    let (n, width) = (300, 64);
    let ids: Vec<u32> = rows(n, width)
        .into_iter()
        .enumerate()
        .map(|(i, id)| if id >= 5 && i % 3 != 1 { 500 + id % 500 } else { id })
        .collect();
    let continuation: Vec<bool> = (0..1000).map(|i| i >= 500).collect();
    let starts: Vec<u8> = (0..ids.len()).map(|i| u8::from(i % 11 == 4)).collect();
    let mut words = vec![-1i64; ids.len()];
    let mut word = -1;
    for i in 0..ids.len() {
        if ids[i] < 5 {
            continue;
        }
        if !continuation[ids[i] as usize] || starts[i] == 1 || words[i - 1] < 0 {
            word += 1;
        }
        words[i] = word;
    }
    let by_vocab = Batch {
        ids: &ids,
        width,
        special: None,
        words: None,
        continuation: Some(&continuation),
        word_ends: None,
        starts: None,
        bytes: None,
    };
    let forced = Batch { starts: Some(Flags::U8(&starts)), ..by_vocab };
    let by_words = Batch { words: Some(&words), continuation: None, ..by_vocab };
    let wide: Vec<i64> = starts.iter().map(|&s| i64::from(s)).collect();
    let as_i64 = Batch { starts: Some(Flags::I64(&wide)), ..by_vocab };
    let all = vec![1u8; ids.len()];
    // word ids alone say where words are: the flags change nothing with them
    let both = Batch { starts: Some(Flags::U8(&all)), ..by_words };
    for select in [Select::Bernoulli, Select::Exact, Select::Span { p: 0.2, max: 10 }] {
        let o = opts(select, true);
        let want = mask(&by_words, &specials(), &o, Some(1)).unwrap();
        for threads in [1, 2] {
            assert_eq!(mask(&forced, &specials(), &o, Some(threads)).unwrap(), want, "{select:?}");
        }
        assert_eq!(mask(&as_i64, &specials(), &o, Some(2)).unwrap(), want, "{select:?}");
        assert_eq!(mask(&both, &specials(), &o, Some(1)).unwrap(), want, "{select:?}");
        assert_ne!(mask(&by_vocab, &specials(), &o, Some(1)).unwrap(), want, "{select:?}");
        // the flags do nothing for single tokens
        let single = opts(select, false);
        let plain = mask(&by_vocab, &specials(), &single, Some(1)).unwrap();
        assert_eq!(mask(&forced, &specials(), &single, Some(1)).unwrap(), plain);
    }
    let short = Batch { starts: Some(Flags::U8(&starts[1..])), ..by_vocab };
    let err = mask(&short, &specials(), &opts(Select::Exact, true), None).unwrap_err();
    assert!(err.to_string().contains("and word_starts must have the shape"), "{err}");
}

#[test]
fn bad_input() {
    let mut ids = rows(2, 8);
    ids[11] = 5000;
    let batch = Batch {
        ids: &ids,
        width: 8,
        special: None,
        words: None,
        continuation: None,
        word_ends: None,
        starts: None,
        bytes: None,
    };
    let err = mask(&batch, &specials(), &opts(Select::Bernoulli, false), None).unwrap_err();
    assert!(err.to_string().contains("input_ids[1, 3] = 5000"), "{err}");
    let ok = rows(2, 8);
    let batch = Batch {
        ids: &ok,
        width: 8,
        special: None,
        words: None,
        continuation: None,
        word_ends: None,
        starts: None,
        bytes: None,
    };
    let bad = MaskOptions { mask_prob: 0.9, random_prob: 0.2, ..opts(Select::Bernoulli, false) };
    assert!(mask(&batch, &specials(), &bad, None).is_err());
    let bad = MaskOptions { mask_token_id: 1000, ..opts(Select::Bernoulli, false) };
    assert!(mask(&batch, &specials(), &bad, None).is_err());
    assert!(mask(&batch, &specials(), &opts(Select::Bernoulli, true), None).is_err());
}

#[test]
fn span_lengths_follow_the_truncated_geometric() {
    // the exact distribution function inverted on a fine grid of u gives each length
    // its probability p(1-p)^(k-1) / (1 - (1-p)^max)
    let (p, max, n) = (0.2, 10, 1_000_000);
    let mut counts = vec![0usize; max + 1];
    for i in 0..n {
        counts[span_length((i as f64 + 0.5) / n as f64, p, max)] += 1;
    }
    let q: f64 = 1.0 - p;
    let norm = 1.0 - q.powi(max as i32);
    let mut mean = 0.0;
    for (k, &c) in counts.iter().enumerate().skip(1) {
        let want = p * q.powi(k as i32 - 1) / norm;
        assert!((c as f64 / n as f64 - want).abs() < 1e-5, "length {k}");
        mean += k as f64 * c as f64 / n as f64;
    }
    assert_eq!(counts[0], 0);
    assert!((mean - 3.8).abs() < 0.05, "SpanBERT's mean span length is 3.8, got {mean}");
    // edges: p = 1 always 1; a tiny p is near uniform over [1, max], never 0 or NaN
    assert_eq!(span_length(0.99, 1.0, 10), 1);
    let tiny: Vec<usize> =
        (0..10).map(|i| span_length((i as f64 + 0.5) / 10.0, 1e-300, 10)).collect();
    assert_eq!(tiny, (1..=10).collect::<Vec<_>>());
    assert_eq!(span_length(0.0, 0.2, 10), 1);
    assert!(span_length(1.0 - f64::EPSILON, 0.2, 10) == 10);
}

#[test]
fn token_bytes_are_checked() {
    assert!(TokenBytes::new(b"abc".to_vec(), vec![1, 3]).is_ok());
    assert!(TokenBytes::new(b"abc".to_vec(), vec![2, 1]).is_err()); // falling
    assert!(TokenBytes::new(b"abc".to_vec(), vec![1, 4]).is_err()); // past the data
}

#[test]
fn words_follow_characters_split_across_tokens() {
    // "“" is E2 80 9C, spelled here as two tokens (as GPT-2 does): 0 = E2 80, 1 = 9C;
    // 2 = "Hi", 3 = " there", 4 = "é" as C3 then A9 (5, 6), 7 = "x"
    let vocab: [&[u8]; 8] = [b"\xe2\x80", b"\x9c", b"Hi", b" there", b"-", b"\xc3", b"\xa9", b"x"];
    let ends: Vec<u32> = vocab
        .iter()
        .scan(0u32, |end, t| {
            *end += t.len() as u32;
            Some(*end)
        })
        .collect();
    let bytes = TokenBytes::new(vocab.concat(), ends).unwrap();
    let every = vec![true; vocab.len()]; // the tables say nothing here: bytes decide
    let row: Vec<u32> = vec![0, 1, 2, 3, 5, 6, 7, 4, 7];
    let r = Row {
        ids: &row,
        special: None,
        words: None,
        continuation: Some(&every),
        word_ends: None,
        starts: None,
        bytes: Some(&bytes),
    };
    let joined: Vec<bool> = (1..row.len()).map(|i| r.continues_word(i)).collect();
    // 9C ends the quote it began; "Hi" starts after it; " there" starts; C3 starts "é"
    // (a letter, but after a space-led word: " there" ends in a letter, so "é" joins it);
    // A9 finishes "é"; "x" joins "é"; "-" starts; "x" after "-" starts
    assert_eq!(joined, [true, false, false, true, true, true, false, false]);
}
