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
    /// Builds the trie of `tokens` (bytes, id).
    pub fn new<'a>(tokens: impl IntoIterator<Item = (&'a [u8], u32)>) -> Trie {
        // build with per-node sorted maps, then flatten breadth-first
        let mut children: Vec<std::collections::BTreeMap<u8, usize>> = vec![Default::default()];
        let mut ids: Vec<u32> = vec![NONE];
        for (bytes, id) in tokens {
            let mut at = 0;
            for &b in bytes {
                let next = children.len();
                let child = *children[at].entry(b).or_insert(next);
                if child == next {
                    children.push(Default::default());
                    ids.push(NONE);
                }
                at = child;
            }
            if !bytes.is_empty() {
                ids[at] = id;
            }
        }
        let mut nodes = Vec::with_capacity(children.len());
        let mut edges = Vec::new();
        for (kids, &id) in children.iter().zip(&ids) {
            nodes.push(Node { first_edge: edges.len() as u32, edges: kids.len() as u32, id });
            edges.extend(kids.iter().map(|(&b, &n)| (b, n as u32)));
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
}
