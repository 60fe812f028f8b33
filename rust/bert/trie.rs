//! A byte trie over vocabulary tokens for WordPiece's greedy longest-match-first search:
//! one walk from a position finds the longest token starting there, in time bounded by the
//! longest token, instead of HF's lookup of every shorter candidate substring.

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Node {
    first_edge: u32,
    edges: u32,
    id: u32, // NONE unless a token ends here
}

/// The trie. Children of a node sit in `edges` sorted by byte; the root also has a direct
/// 256-entry table.
#[derive(Clone, Debug)]
pub struct Trie {
    nodes: Vec<Node>,
    edges: Vec<(u8, u32)>,
    root: Box<[u32; 256]>,
}

impl Trie {
    /// Builds the trie of `tokens` (bytes, id); of tokens with the same bytes, the last
    /// one's id. Built from the tokens sorted by bytes, breadth-first: each node is a range
    /// of them that shares its path, its children the runs of that range by the next byte
    /// (no map per node: a 30,000-token vocabulary builds in about a millisecond).
    pub fn new<'a>(tokens: impl IntoIterator<Item = (&'a [u8], u32)>) -> Trie {
        // (bytes, order given, id): sorted, the last given of equal bytes ends its run; by
        // their first 8 bytes as one integer first (half the sort's time: most tokens
        // differ there)
        let mut keyed: Vec<(u64, &[u8], usize, u32)> =
            tokens.into_iter().enumerate().map(|(k, (b, id))| (head(b), b, k, id)).collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)).then(a.2.cmp(&b.2)));
        let sorted: Vec<(&[u8], usize, u32)> =
            keyed.into_iter().map(|(_, b, k, id)| (b, k, id)).collect();
        let mut nodes = vec![Node { first_edge: 0, edges: 0, id: NONE }];
        let mut edges: Vec<(u8, u32)> = Vec::new();
        // nodes in the order they were made (breadth-first): its range of `sorted`, depth
        let mut ranges: Vec<(usize, usize, usize)> = vec![(0, sorted.len(), 0)];
        let mut at = 0;
        while at < ranges.len() {
            let (mut lo, hi, depth) = ranges[at];
            // the tokens that end here sort first in the range (a prefix before its longer)
            while lo < hi && sorted[lo].0.len() == depth {
                if depth > 0 {
                    nodes[at].id = sorted[lo].2;
                }
                lo += 1;
            }
            nodes[at].first_edge = edges.len() as u32;
            while lo < hi {
                let byte = sorted[lo].0[depth];
                let mut end = lo + 1;
                while end < hi && sorted[end].0[depth] == byte {
                    end += 1;
                }
                edges.push((byte, nodes.len() as u32));
                nodes.push(Node { first_edge: 0, edges: 0, id: NONE });
                ranges.push((lo, end, depth + 1));
                lo = end;
            }
            nodes[at].edges = edges.len() as u32 - nodes[at].first_edge;
            at += 1;
        }
        let mut root = Box::new([NONE; 256]);
        for &(b, n) in &edges[..nodes[0].edges as usize] {
            root[b as usize] = n;
        }
        Trie { nodes, edges, root }
    }

    #[inline(always)]
    fn child(&self, node: u32, b: u8) -> u32 {
        if node == 0 {
            return self.root[b as usize];
        }
        let n = self.nodes[node as usize];
        let kids = &self.edges[n.first_edge as usize..(n.first_edge + n.edges) as usize];
        if kids.len() <= 8 {
            kids.iter().find(|e| e.0 == b).map_or(NONE, |e| e.1)
        } else {
            kids.binary_search_by_key(&b, |e| e.0).map_or(NONE, |i| kids[i].1)
        }
    }

    /// The longest token that `bytes` starts with: `(id, length in bytes)`.
    #[inline]
    pub fn longest_prefix(&self, bytes: &[u8]) -> Option<(u32, usize)> {
        let mut node = 0;
        let mut best = None;
        for (i, &b) in bytes.iter().enumerate() {
            node = self.child(node, b);
            if node == NONE {
                break;
            }
            let id = self.nodes[node as usize].id;
            if id != NONE {
                best = Some((id, i + 1));
            }
        }
        best
    }
}

/// The first 8 bytes of `bytes` (zeros past its end) as a big-endian integer: integers
/// compare as the bytes do, up to ties that the bytes themselves break.
fn head(bytes: &[u8]) -> u64 {
    let mut out = [0u8; 8];
    let n = bytes.len().min(8);
    out[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefixes() {
        let words: Vec<(&[u8], u32)> =
            vec![(b"a", 0), (b"ab", 1), (b"abcd", 2), (b"b", 3), ("é".as_bytes(), 4)];
        let t = Trie::new(words);
        assert_eq!(t.longest_prefix(b"abc"), Some((1, 2)));
        assert_eq!(t.longest_prefix(b"abcde"), Some((2, 4)));
        assert_eq!(t.longest_prefix(b"c"), None);
        assert_eq!(t.longest_prefix("éa".as_bytes()), Some((4, 2)));
        assert_eq!(t.longest_prefix(b""), None);
    }

    /// Against the naive search: for every start of a text, the longest token it starts
    /// with by trying every length; of equal tokens, the last given.
    #[test]
    fn matches_a_naive_search() {
        let mut rng = crate::rng::Rng::new(&[7]);
        let alphabet: &[u8] = b"ab\x00c\xc3\xa9"; // (a zero byte: as the sort pads)
        let mut pick = |n: usize| -> Vec<u8> {
            (0..n).map(|_| alphabet[rng.below(alphabet.len() as u64) as usize]).collect()
        };
        let text = pick(400);
        let mut tokens: Vec<Vec<u8>> = Vec::new();
        for k in 0..600 {
            // random tokens, and pieces of the text up to 12 bytes long (past the sort's
            // 8-byte heads), some of them twice
            let len = 1 + k % 12;
            let at = (k * 37) % (text.len() - len);
            tokens.push(if k % 2 == 0 { pick(len) } else { text[at..at + len].to_vec() });
            if k % 50 == 1 {
                tokens.push(text[at..at + len].to_vec());
            }
        }
        tokens.push(Vec::new()); // an empty token matches nothing
        let t = Trie::new(tokens.iter().enumerate().map(|(i, b)| (b.as_slice(), i as u32)));
        let mut longest = 0;
        for start in 0..text.len() {
            let rest = &text[start..];
            let naive = (1..=rest.len().min(13)).rev().find_map(|n| {
                tokens.iter().rposition(|tok| tok.as_slice() == &rest[..n]).map(|i| (i as u32, n))
            });
            assert_eq!(t.longest_prefix(rest), naive, "at {start}");
            longest = longest.max(naive.map_or(0, |m| m.1));
        }
        assert!(longest > 8, "the text should hold tokens longer than the sort's heads");
    }
}
