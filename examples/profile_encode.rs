use lexforge::bpe::BpeModel;
use lexforge::pretokenize::Pretokenizer;
use lexforge::special::{Selection, SpecialTokens};
fn main() {
    let ranks_path = std::env::args().nth(1).unwrap();
    let text_path = std::env::args().nth(2).unwrap();
    let data = std::fs::read_to_string(&ranks_path).unwrap();
    let mut ranks = Vec::new();
    for line in data.lines() {
        let mut it = line.split(' ');
        let tok = it.next().unwrap();
        let r: u32 = it.next().unwrap().parse().unwrap();
        ranks.push((base64_decode(tok), r));
    }
    let model = BpeModel::from_ranks(ranks, vec![], Pretokenizer::new("cl100k").unwrap()).unwrap();
    let text = std::fs::read_to_string(&text_path).unwrap();
    let docs: Vec<&str> = text.split("\n\n").collect();
    let sp = SpecialTokens::new(vec![]).unwrap();
    let policy = sp.policy(&Selection::Some(vec![]), &Selection::Some(vec![])).unwrap();
    let mut best = f64::MAX;
    let mut n = 0;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        n = 0;
        for d in &docs {
            let mut out = Vec::with_capacity(d.len() / 3);
            model.encode_text(d, &policy, 0, &mut out).unwrap();
            n += out.len();
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    eprintln!("{} tokens, best {:.1} MB/s", n, text.len() as f64 / best / 1e6);
}
fn base64_decode(s: &str) -> Vec<u8> {
    let table = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => 0,
        }
    };
    let b = s.as_bytes();
    let mut out = Vec::new();
    for ch in b.chunks(4) {
        let n = ch.iter().take_while(|&&c| c != b'=').count();
        let mut v = 0u32;
        for (i, &c) in ch.iter().enumerate() {
            v |= table(c) << (18 - 6 * i);
        }
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..n.saturating_sub(1)]);
    }
    out
}
