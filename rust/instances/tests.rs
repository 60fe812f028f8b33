//! Unit tests of `instances`.

use super::*;

/// Documents of 1-8 sentences of 1-40 tokens; token = doc * 10_000 + sentence * 100 + k.
fn corpus_data(docs: usize, seed: u64) -> (Vec<u32>, Vec<i64>, Vec<i64>) {
    let mut rng = Rng::new(&[seed]);
    let (mut tokens, mut sentences, mut documents) = (Vec::new(), vec![0i64], vec![0i64]);
    for d in 0..docs {
        for s in 0..1 + rng.below(8) {
            for k in 0..1 + rng.below(40) {
                tokens.push((d as u64 * 10_000 + s * 100 + k) as u32);
            }
            sentences.push(tokens.len() as i64);
        }
        documents.push(sentences.len() as i64 - 1);
    }
    (tokens, sentences, documents)
}

fn doc_of(t: u32) -> u32 {
    t / 10_000
}

fn opts(objective: Objective) -> InstanceOptions<'static> {
    InstanceOptions { max_seq_len: 64, short_seq_prob: 0.1, objective, seed: 7, continuation: None }
}

#[test]
fn nsp_pairs() {
    let (t, s, d) = corpus_data(3000, 1);
    let shard = Shard { tokens: Tokens::U32(&t), sentences: &s, documents: &d };
    shard.validate("test", 1 << 30).unwrap();
    let corpus = Corpus::new(vec![shard]);
    let o = opts(Objective::Nsp);
    let block = build_block(&corpus, 0, 0, &o, Some(1)).unwrap();
    assert_eq!(block, build_block(&corpus, 0, 0, &o, Some(4)).unwrap());
    assert_ne!(block, build_block(&corpus, 0, 1, &o, Some(2)).unwrap());
    let next = block.iter().filter(|i| i.label == 0).count() as f64 / block.len() as f64;
    assert!((0.4..0.6).contains(&next), "IsNext share {next}");
    for i in &block {
        assert!(i.len() <= 64 && !i.a.is_empty() && !i.b.is_empty());
        let (a0, a1) = (t[i.a.start as usize], t[i.a.end as usize - 1]);
        let (b0, b1) = (t[i.b.start as usize], t[i.b.end as usize - 1]);
        assert_eq!(doc_of(a0), doc_of(a1));
        assert_eq!(doc_of(b0), doc_of(b1));
        if i.label == 1 {
            assert_ne!(doc_of(a0), doc_of(b0), "NotNext B from the same document");
        } else {
            assert_eq!(doc_of(a0), doc_of(b0));
            assert!(i.a.end <= i.b.start, "B follows A");
        }
    }
    let m = materialize(&corpus, &block[..10], Framing { cls: 1, sep: 2, pad: 0 }, 64).unwrap();
    for (r, inst) in block[..10].iter().enumerate() {
        let row = &m.input_ids[r * 64..(r + 1) * 64];
        let types = &m.token_type_ids[r * 64..(r + 1) * 64];
        let (la, lb) = (inst.a.len(), inst.b.len());
        assert_eq!(row[0], 1);
        assert_eq!(row[1], i64::from(t[inst.a.start as usize]));
        assert_eq!((row[1 + la], row[2 + la + lb]), (2, 2));
        assert!(row[3 + la + lb..].iter().all(|&x| x == 0));
        assert!(types[..2 + la].iter().all(|&x| x == 0));
        assert!(types[2 + la..3 + la + lb].iter().all(|&x| x == 1));
        let mask = &m.attention_mask[r * 64..(r + 1) * 64];
        assert_eq!(mask.iter().sum::<i64>() as usize, 3 + la + lb);
        // a sentence's first token is k = 0; framing and padding start none
        let starts = &m.sentence_starts[r * 64..(r + 1) * 64];
        for (c, (&id, &flag)) in row.iter().zip(starts).enumerate() {
            let copied = (1..1 + la).contains(&c) || (2 + la..2 + la + lb).contains(&c);
            assert_eq!(flag == 1, copied && id % 100 == 0, "row {r} column {c}");
        }
    }
}

/// Tokens, sentence offsets, document offsets.
type Data = (Vec<u32>, Vec<i64>, Vec<i64>);

/// The shards of `(t, s, d)` cut before the sentences `cuts`, each with whether its
/// first document continues the one before (the cut fell inside a document).
fn cut_shards((t, s, d): &Data, cuts: &[usize]) -> Vec<(Data, bool)> {
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(s.len() - 1);
    let doc_ends: Vec<usize> = d.iter().map(|&x| x as usize).collect();
    bounds
        .windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let tokens = t[s[a] as usize..s[b] as usize].to_vec();
            let sentences = s[a..=b].iter().map(|&x| x - s[a]).collect();
            let mut documents = vec![0i64];
            documents.extend(doc_ends.iter().filter(|&&x| a < x && x < b).map(|&x| (x - a) as i64));
            documents.push((b - a) as i64);
            ((tokens, sentences, documents), a > 0 && !doc_ends.contains(&a))
        })
        .collect()
}

#[test]
fn a_document_cut_across_shards_is_one_document() {
    let data = corpus_data(30, 9);
    let d = &data.2;
    // cut inside the documents that have at least two sentences, three of them
    let cuts: Vec<usize> = (0..d.len() - 1)
        .filter(|&k| d[k + 1] - d[k] >= 2)
        .map(|k| d[k] as usize + 1)
        .step_by(4)
        .take(3)
        .collect();
    assert_eq!(cuts.len(), 3);
    let pieces = cut_shards(&data, &cuts);
    let shards: Vec<Shard<'_>> = pieces
        .iter()
        .map(|((t, s, d), _)| Shard { tokens: Tokens::U32(t), sentences: s, documents: d })
        .collect();
    let continues: Vec<bool> = pieces.iter().map(|p| p.1).collect();
    assert_eq!(continues, [false, true, true, true]);
    let corpus = Corpus::new(shards).continuing(&continues);
    assert_eq!((corpus.n_docs(), corpus.n_source_docs()), (33, 30));
    let o = opts(Objective::Nsp);
    let mut not_next = 0;
    for k in 0..corpus.n_shards() {
        for epoch in 0..20 {
            for i in build_block(&corpus, k, epoch, &o, Some(1)).unwrap() {
                let shard_of = |span: &Span| &pieces[span.shard as usize].0 .0;
                let a = doc_of(shard_of(&i.a)[i.a.start as usize]);
                let b = doc_of(shard_of(&i.b)[i.b.start as usize]);
                if i.label == 1 {
                    assert_ne!(a, b, "NotNext B from another piece of A's document");
                    not_next += 1;
                }
            }
        }
    }
    assert!(not_next > 500, "{not_next} NotNext pairs");
    // one document cut in two is still one: no pair can be drawn
    let one = corpus_data(1, 4);
    assert!(one.1.len() >= 3, "a document of one sentence cannot be cut");
    let pieces = cut_shards(&one, &[1]);
    let shards = pieces
        .iter()
        .map(|((t, s, d), _)| Shard { tokens: Tokens::U32(t), sentences: s, documents: d })
        .collect();
    let corpus = Corpus::new(shards).continuing(&[false, true]);
    let err = build_block(&corpus, 0, 0, &o, None).unwrap_err();
    assert!(err.to_string().contains("at least 2 documents"), "{err}");
}

#[test]
fn sop_orders_and_packing_covers_everything() {
    let (t, s, d) = corpus_data(2000, 2);
    let corpus = Corpus::new(vec![Shard { tokens: Tokens::U32(&t), sentences: &s, documents: &d }]);
    let block = build_block(&corpus, 0, 0, &opts(Objective::Sop), None).unwrap();
    let swapped = block.iter().filter(|i| i.label == 1).count() as f64 / block.len() as f64;
    assert!((0.45..0.55).contains(&swapped));
    for i in &block {
        assert_eq!(doc_of(t[i.a.start as usize]), doc_of(t[i.b.start as usize]));
        assert_eq!(i.label == 1, i.a.start > i.b.start);
    }
    let mut packed = build_block(&corpus, 0, 0, &opts(Objective::None), None).unwrap();
    packed.sort_by_key(|i| i.a.start);
    let mut at = 0;
    for i in &packed {
        assert_eq!(i.a.start, at, "packing must not drop or repeat tokens");
        at = i.a.end;
        let seps = doc_starts_within(&corpus.shards[0], i.a.start, i.a.end).len();
        assert!(i.a.len() + seps + 2 <= 64);
    }
    assert_eq!(at as usize, t.len());
    let framing = Framing { cls: 1 << 30, sep: (1 << 30) + 1, pad: (1 << 30) + 2 };
    let m = materialize(&corpus, &packed[..5], framing, 64).unwrap();
    for (r, inst) in packed[..5].iter().enumerate() {
        let row = &m.input_ids[r * 64..(r + 1) * 64];
        let body: Vec<i64> = row[1..].iter().copied().filter(|&x| x < 1 << 30).collect();
        let want: Vec<i64> =
            t[inst.a.start as usize..inst.a.end as usize].iter().map(|&x| i64::from(x)).collect();
        assert_eq!(body, want);
        let starts = &m.sentence_starts[r * 64..(r + 1) * 64];
        for (&id, &flag) in row.iter().zip(starts) {
            assert_eq!(flag == 1, id < 1 << 30 && id % 100 == 0);
        }
    }
}

#[test]
fn bad_input() {
    let (t, s, d) = corpus_data(1, 3);
    let shard = Shard { tokens: Tokens::U32(&t), sentences: &s, documents: &d };
    assert!(shard.validate("x", 100).unwrap_err().to_string().contains("outside the vocabulary"));
    let short = &s[..s.len() - 1];
    let bad = Shard { sentences: short, ..shard };
    assert!(bad.validate("x", 1 << 30).is_err());
    let corpus = Corpus::new(vec![shard]);
    let err = build_block(&corpus, 0, 0, &opts(Objective::Nsp), None).unwrap_err();
    assert!(err.to_string().contains("at least 2 documents"));
    let tiny = InstanceOptions { max_seq_len: 4, ..opts(Objective::Sop) };
    assert!(build_block(&corpus, 0, 0, &tiny, None).is_err());
}

#[test]
fn a_lone_last_sentence_is_cut_where_a_word_starts() {
    // short documents (no truncation), most of one sentence; tokens whose k is odd
    // continue the word before them
    let (t, s, d) = corpus_data(3000, 5);
    let flags: Vec<bool> = (0..=*t.iter().max().unwrap()).map(|id| id % 2 == 1).collect();
    let corpus = Corpus::new(vec![Shard { tokens: Tokens::U32(&t), sentences: &s, documents: &d }]);
    let is_sentence_start = |at: u64| s.binary_search(&(at as i64)).is_ok();
    for objective in [Objective::Nsp, Objective::Sop] {
        let o = InstanceOptions { max_seq_len: 512, continuation: Some(&flags), ..opts(objective) };
        let (mut cut, mut plain) = (0, 0);
        for epoch in 0..4 {
            let block = build_block(&corpus, 0, epoch, &o, Some(2)).unwrap();
            // without flags the same draws, and cuts at any token
            let free = InstanceOptions { continuation: None, ..o };
            let any = build_block(&corpus, 0, epoch, &free, Some(2)).unwrap();
            plain += any.iter().filter(|i| !is_sentence_start(i.a.start.max(i.b.start))).count();
            for i in &block {
                let second = i.a.start.max(i.b.start);
                if i.a.shard == i.b.shard && !is_sentence_start(second) {
                    cut += 1; // a sentence cut in two: the second half starts a word
                    assert!(!flags[t[second as usize] as usize], "cut inside a word at {second}");
                }
            }
        }
        assert!(cut > 100 && plain > 100, "{objective:?}: {cut} cuts, {plain} without flags");
    }
}

#[test]
fn a_random_b_draws_documents_alike_however_they_are_cut() {
    // document 0 of 8 sentences cut into pieces of 1, 1 and 6 sentences across 3 shards,
    // then documents 1-5 of 2 sentences; token = doc * 10_000 + sentence * 100 + k
    let (mut tokens, mut sentences, mut documents) = (Vec::new(), vec![0i64], vec![0i64]);
    for (doc, n) in [(0u32, 8u32), (1, 2), (2, 2), (3, 2), (4, 2), (5, 2)] {
        for s in 0..n {
            tokens.extend((0..5).map(|k| doc * 10_000 + s * 100 + k));
            sentences.push(tokens.len() as i64);
        }
        documents.push(sentences.len() as i64 - 1);
    }
    let pieces = cut_shards(&(tokens, sentences, documents), &[1, 2]);
    let shards: Vec<Shard<'_>> = pieces
        .iter()
        .map(|((t, s, d), _)| Shard { tokens: Tokens::U32(t), sentences: s, documents: d })
        .collect();
    let continues: Vec<bool> = pieces.iter().map(|p| p.1).collect();
    assert_eq!(continues, [false, true, true]);
    let corpus = Corpus::new(shards).continuing(&continues);
    assert_eq!((corpus.n_docs(), corpus.n_source_docs()), (8, 6));
    // random Bs for A = document 5 (the last shard's last)
    let last = corpus.n_shards() - 1;
    let a = corpus.shard(last).n_docs() - 1;
    let mut rng = Rng::new(&[11]);
    let (draws, mut docs, mut starts) = (30_000, [0u32; 6], [0u32; 8]);
    for _ in 0..draws {
        let b = random_b(&corpus, last, a, 1, &mut rng);
        let first = pieces[b.shard as usize].0 .0[b.start as usize];
        docs[doc_of(first) as usize] += 1;
        if doc_of(first) == 0 {
            starts[(first / 100 % 100) as usize] += 1;
        }
    }
    assert_eq!(docs[5], 0, "a random B from A's own document");
    for (d, &n) in docs[..5].iter().enumerate() {
        let share = f64::from(n) / f64::from(draws);
        assert!((share - 0.2).abs() < 0.015, "document {d}: {share} of the draws, not 1/5");
    }
    for (s, &n) in starts.iter().enumerate() {
        let share = f64::from(n) / f64::from(docs[0]);
        assert!((share - 0.125).abs() < 0.025, "sentence {s} of document 0: {share}, not 1/8");
    }
}
