//! Word counting, the first half of BPE training: pre-tokenize a corpus and count each
//! distinct piece ("word").
//!
//! Memory grows with the number of distinct words, never with the corpus: words live once
//! in an arena and a hash table holds (hash, offset, length, count). Files stream through
//! in blocks of whole lines; each line (with its newline) is pre-tokenized on its own, as
//! HF `tokenizers` does when training from files. BERT words never span white space, so
//! for WordPiece blocks and normalized pieces are also cut after a space, tab or `\r`:
//! memory stays bounded on files with `\r` line ends or enormous lines. Blocks and batches are counted in
//! parallel into per-chunk tables that are then merged, so the counts are exact whatever
//! the thread count. Counts are 64-bit: a word's count past 2^64 - 1 is refused, never wrapped.
//!
//! [`WordCounts`] is also the unit of distributed counting: count shards anywhere, merge the
//! tables ([`WordCounts::merge`]), then train once.

use std::hash::Hasher;
use std::io::Read;
use std::path::{Path, PathBuf};

use hashbrown::HashTable;
use rayon::prelude::*;
use rustc_hash::FxHasher;

use crate::bert::{bert_words, BertNormalizer, Normalized};
use crate::error::{Error, Result};
use crate::parallel;
use crate::pretokenize::Pretokenizer;
use crate::special::{Policy, Segment, Selection, SpecialTokens};

/// Bytes read from a file per block (whole lines are added on top of this).
const BLOCK: usize = 2 << 20;

/// Bytes of text normalized at once for BERT words (more only where no white space comes).
const BERT_PIECE: usize = 1 << 16;

/// The bytes after which BERT words may be cut: white space to BERT with or without its
/// normalizer (which maps these to spaces and changes each character on its own), and
/// ASCII, so never inside a UTF-8 character.
const BERT_CUTS: &[u8] = b"\n\r \t";

/// A word in the arena and its count (16 bytes; hashes are recomputed when the table grows).
#[derive(Clone, Copy)]
struct Slot {
    offset: u32,
    len: u32,
    count: u64,
}

impl Slot {
    #[inline]
    fn word<'a>(&self, arena: &'a [u8]) -> &'a [u8] {
        &arena[self.offset as usize..self.offset as usize + self.len as usize]
    }
}

/// Distinct words and their counts.
#[derive(Clone, Default)]
pub struct WordCounts {
    arena: Vec<u8>,
    table: HashTable<Slot>,
    total: u64,
    /// How many special tokens were cut out of the text (saturating): a corpus that had
    /// nothing else is told apart from an empty one.
    specials_cut: u64,
}

#[inline]
fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(bytes);
    h.finish()
}

/// A word's count that would pass 2^64 - 1: refused, never saturated (it was silently).
fn overflow(word: &[u8]) -> Error {
    Error::TrainerConfig(format!(
        "the count of the word {:?} would pass 2^64 - 1 (counts are 64-bit); scale the \
         counts down (divide them by a common factor)",
        String::from_utf8_lossy(word)
    ))
}

impl WordCounts {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct words.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no word has been counted.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Sum of all counts (saturating).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many special tokens were cut out of the counted text (saturating at 2^64 - 1).
    pub fn specials_cut(&self) -> u64 {
        self.specials_cut
    }

    /// Adds `count` occurrences of `word`.
    #[inline]
    pub fn add(&mut self, word: &[u8], count: u64) -> Result<()> {
        self.add_hashed(hash_bytes(word), word, count)
    }

    #[inline]
    fn add_hashed(&mut self, hash: u64, word: &[u8], count: u64) -> Result<()> {
        if word.is_empty() || count == 0 {
            return Ok(());
        }
        let arena = &self.arena;
        let found =
            self.table.find_mut(hash, |s| s.len as usize == word.len() && s.word(arena) == word);
        if let Some(slot) = found {
            slot.count = slot.count.checked_add(count).ok_or_else(|| overflow(word))?;
            self.total = self.total.saturating_add(count);
            return Ok(());
        }
        self.total = self.total.saturating_add(count);
        let end = self.arena.len() + word.len();
        let (Ok(offset), Ok(len), Ok(_)) =
            (u32::try_from(self.arena.len()), u32::try_from(word.len()), u32::try_from(end))
        else {
            return Err(Error::Corpus(
                "the distinct words exceed 4 GiB; train on a sample of the corpus or merge fewer shards".into(),
            ));
        };
        self.arena.extend_from_slice(word);
        let arena = &self.arena;
        self.table.insert_unique(hash, Slot { offset, len, count }, |s| hash_bytes(s.word(arena)));
        Ok(())
    }

    /// Adds every count of `other` to this table; all or none: a word whose count would
    /// pass 2^64 - 1 fails the merge before anything is added.
    pub fn merge(&mut self, other: &WordCounts) -> Result<()> {
        if self.total.checked_add(other.total).is_none() {
            // (totals that fit bound every count: only then can one overflow)
            for s in other.table.iter() {
                let word = s.word(&other.arena);
                let hash = hash_bytes(word);
                let arena = &self.arena;
                let mine = self
                    .table
                    .find(hash, |t| t.len as usize == word.len() && t.word(arena) == word);
                if mine.is_some_and(|t| t.count.checked_add(s.count).is_none()) {
                    return Err(overflow(word));
                }
            }
        }
        let arena = &self.arena;
        self.table.reserve(other.len(), |s| hash_bytes(s.word(arena)));
        for s in other.table.iter() {
            let word = s.word(&other.arena);
            self.add_hashed(hash_bytes(word), word, s.count)?;
        }
        self.specials_cut = self.specials_cut.saturating_add(other.specials_cut);
        Ok(())
    }

    /// The words and counts, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.table.iter().map(|s| (s.word(&self.arena), s.count))
    }

    /// The words and counts sorted by word bytes (a canonical order).
    pub fn sorted(&self) -> Vec<(&[u8], u64)> {
        let mut all: Vec<(&[u8], u64)> = self.iter().collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all
    }

    /// The count of one word (0 if absent).
    pub fn get(&self, word: &[u8]) -> u64 {
        let arena = &self.arena;
        self.table
            .find(hash_bytes(word), |s| s.len as usize == word.len() && s.word(arena) == word)
            .map_or(0, |s| s.count)
    }

    /// Counts the words of one text unit (special tokens are cut out and not counted).
    pub fn count_text(
        &mut self,
        text: &str,
        splitter: &Splitter,
        policy: &Policy<'_>,
        scratch: &mut Scratch,
    ) -> Result<()> {
        let bytes = text.as_bytes();
        let mut failed = None;
        let mut specials = 0u64;
        policy.segments(text, |segment| {
            let Segment::Text(start, end) = segment else {
                specials += 1;
                return Ok(());
            };
            let part = &text[start..end];
            match splitter {
                Splitter::Pattern(pretok) => pretok.split(part, |s, e| {
                    if failed.is_none() {
                        if let Err(err) = self.add(&bytes[start + s..start + e], 1) {
                            failed = Some(err);
                        }
                    }
                })?,
                Splitter::Bert(normalizer) => {
                    let Scratch { normalized, words } = scratch;
                    for piece in cut_after(part, BERT_PIECE, BERT_CUTS) {
                        match normalizer {
                            Some(n) => n.normalize_into(piece, 0, normalized),
                            None => normalized.set_plain(piece, 0),
                        }
                        words.clear();
                        bert_words(normalized, words);
                        for &(ws, we) in words.iter() {
                            let b = &normalized.bytes;
                            let word = &normalized.text.as_bytes()
                                [b[ws as usize] as usize..b[we as usize] as usize];
                            if failed.is_none() {
                                if let Err(err) = self.add(word, 1) {
                                    failed = Some(err);
                                }
                            }
                        }
                    }
                }
            }
            Ok(())
        })?;
        self.specials_cut = self.specials_cut.saturating_add(specials);
        failed.map_or(Ok(()), Err)
    }
}

/// How a text unit is cut into the words that are counted.
#[derive(Clone, Debug)]
pub enum Splitter {
    /// Byte-level BPE: pre-tokenization pieces.
    Pattern(Pretokenizer),
    /// WordPiece: BERT's normalizer (if any) and pre-tokenizer.
    Bert(Option<BertNormalizer>),
}

impl Splitter {
    /// A name for the splitting rule, to refuse merging counts made with different rules.
    pub fn describe(&self) -> String {
        match self {
            Splitter::Pattern(p) => format!("pattern {:?}", p.pattern()),
            Splitter::Bert(n) => format!("BERT words with normalizer {n:?}"),
        }
    }
}

/// Reusable buffers for BERT splitting.
#[derive(Default)]
pub struct Scratch {
    normalized: Normalized,
    words: Vec<(u32, u32)>,
}

/// What to count with: the splitting rule and the special tokens to cut out of the text.
pub struct Counter<'a> {
    pub splitter: &'a Splitter,
    pub specials: &'a SpecialTokens,
}

impl Counter<'_> {
    fn policy(&self) -> Result<Policy<'_>> {
        self.specials.policy(&Selection::All, &Selection::Some(vec![]))
    }

    /// The bytes a file's blocks may end after: line ends, and for BERT words the other
    /// white space of [`BERT_CUTS`] that no special token holds (none is cut in two).
    fn block_cuts(&self) -> Vec<u8> {
        match self.splitter {
            Splitter::Pattern(_) => vec![b'\n'],
            Splitter::Bert(_) => BERT_CUTS
                .iter()
                .copied()
                .filter(|&b| {
                    b == b'\n' || self.specials.tokens().iter().all(|(t, _)| !t.contains(b as char))
                })
                .collect(),
        }
    }

    /// Counts a batch of texts in parallel into `into`.
    pub fn count_texts(
        &self,
        texts: &[&str],
        into: &mut WordCounts,
        num_threads: Option<usize>,
    ) -> Result<()> {
        let policy = self.policy()?;
        let partial = parallel::install(num_threads, || -> Result<Vec<WordCounts>> {
            let chunk = parallel::chunk_len(texts.len(), 16);
            let parts: Vec<&[&str]> = texts.chunks(chunk).collect();
            self.count_parts(&parts, &policy, |part| part.iter().copied())
        })?;
        merge_all(into, &partial)
    }

    /// Counts each part into its own table, in parallel (the caller installs the pool).
    fn count_parts<'t, P: Sync, I: Iterator<Item = &'t str>>(
        &self,
        parts: &[P],
        policy: &Policy<'_>,
        units: impl Fn(&P) -> I + Sync,
    ) -> Result<Vec<WordCounts>> {
        let counted = parts
            .par_iter()
            .map(|part| {
                let mut local = WordCounts::new();
                let mut scratch = Scratch::default();
                for text in units(part) {
                    local.count_text(text, self.splitter, policy, &mut scratch)?;
                }
                Ok(local)
            })
            .collect::<Vec<Result<_>>>();
        parallel::in_order(counted)
    }

    /// Streams files line by line into `into`. `progress(done_bytes, total_bytes)` is called
    /// after each block; returning `false` stops with [`Error::Interrupted`].
    pub fn count_files(
        &self,
        paths: &[PathBuf],
        into: &mut WordCounts,
        num_threads: Option<usize>,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<()> {
        let mut total = 0u64;
        for path in paths {
            let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
            if meta.is_dir() {
                return Err(Error::Corpus(format!(
                    "{} is a directory; pass the text files inside it",
                    path.display()
                )));
            }
            total += meta.len();
        }
        let policy = self.policy()?;
        let cuts = self.block_cuts();
        let mut done = 0u64;
        for path in paths {
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            // a regular file is read as far as it reaches when opened: one growing while it
            // is read (a log being written) gives the text it had then, not text without end
            let meta = file.metadata().map_err(|e| Error::io(path, e))?;
            let limit = if meta.is_file() { meta.len() } else { u64::MAX }; // (pipes: to EOF)
            let mut reader = LineBlocks::new(file.take(limit), path, &cuts);
            while reader.fill()? {
                done += reader.block().len() as u64;
                let text = reader.check_utf8(reader.block())?;
                self.count_block(text, into, &policy, &cuts, num_threads)?;
                reader.finish_block();
                if !progress(done, total) {
                    return Err(Error::Interrupted);
                }
            }
        }
        crate::memory::release_free_memory(); // the per-block tables are gone
        Ok(())
    }

    fn count_block(
        &self,
        text: &str,
        into: &mut WordCounts,
        policy: &Policy<'_>,
        cuts: &[u8],
        threads: Option<usize>,
    ) -> Result<()> {
        let partial = parallel::install(threads, || -> Result<Vec<WordCounts>> {
            let target = text.len() / (rayon::current_num_threads() * 4) + 1;
            let parts: Vec<&str> = cut_after(text, target, cuts).collect();
            self.count_parts(&parts, policy, |part| part.split_inclusive('\n'))
        })?;
        merge_all(into, &partial)
    }
}

/// Merges per-part tables in their fixed order (so the result never depends on threads).
fn merge_all(into: &mut WordCounts, partial: &[WordCounts]) -> Result<()> {
    for local in partial {
        into.merge(local)?;
    }
    Ok(())
}

/// Cuts `text` into pieces of at least `target` bytes (the last may be shorter), each
/// ending just after the first of the ASCII bytes `cuts` from there (or at the end).
fn cut_after<'t>(
    text: &'t str,
    target: usize,
    cuts: &'t [u8],
) -> impl Iterator<Item = &'t str> + 't {
    let target = target.max(1);
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = if rest.len() <= target {
            rest.len()
        } else {
            rest.as_bytes()[target..]
                .iter()
                .position(|b| cuts.contains(b))
                .map_or(rest.len(), |p| target + p + 1)
        };
        let (head, tail) = rest.split_at(cut);
        rest = tail;
        Some(head)
    })
}

/// Reads a file in blocks that end on line boundaries (or after another of the bytes
/// `cuts`).
struct LineBlocks<'p, R> {
    reader: R,
    path: &'p Path,
    cuts: &'p [u8],
    buf: Vec<u8>,
    /// Bytes of `buf` that belong to the block handed out (the rest is a partial line).
    block_len: usize,
    /// How many bytes at the start of `buf` are known to hold no line end (a line longer
    /// than a block is searched once, not again after every read: linear, not quadratic).
    scanned: usize,
    /// Lines and bytes before the current block (for error positions).
    lines_before: u64,
    bytes_before: u64,
    eof: bool,
    /// Whether the file's start has been looked at (for a byte-order mark).
    started: bool,
}

impl<'p, R: Read> LineBlocks<'p, R> {
    fn new(reader: R, path: &'p Path, cuts: &'p [u8]) -> Self {
        LineBlocks {
            reader,
            path,
            cuts,
            buf: Vec::new(),
            block_len: 0,
            scanned: 0,
            lines_before: 0,
            bytes_before: 0,
            eof: false,
            started: false,
        }
    }

    /// Reads until a block of whole lines is ready; `false` at the end of the file.
    fn fill(&mut self) -> Result<bool> {
        loop {
            if self.eof {
                self.block_len = self.buf.len();
                return Ok(!self.buf.is_empty());
            }
            if self.buf.len() >= BLOCK {
                if let Some(p) =
                    self.buf[self.scanned..].iter().rposition(|b| self.cuts.contains(b))
                {
                    self.block_len = self.scanned + p + 1;
                    return Ok(true);
                }
                self.scanned = self.buf.len();
            }
            let start = self.buf.len();
            self.buf.resize(start + BLOCK, 0);
            let mut filled = start;
            while filled < self.buf.len() {
                match self.reader.read(&mut self.buf[filled..]) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::io(self.path, e)),
                }
            }
            self.buf.truncate(filled);
            if !self.started {
                // a UTF-8 byte-order mark is not text (shard building drops it too)
                self.started = true;
                if self.buf.starts_with(b"\xEF\xBB\xBF") {
                    self.buf.drain(..3);
                    self.bytes_before = 3;
                }
            }
        }
    }

    /// The block that [`fill`](Self::fill) made ready.
    fn block(&self) -> &[u8] {
        &self.buf[..self.block_len]
    }

    /// The block as text, or an error naming the file, line and byte of the first bad byte
    /// (or saying the file is UTF-16).
    fn check_utf8<'b>(&self, block: &'b [u8]) -> Result<&'b str> {
        if self.bytes_before == 0
            && (block.starts_with(b"\xFF\xFE") || block.starts_with(b"\xFE\xFF"))
        {
            return Err(crate::error::not_utf8(
                self.path,
                format!(
                    "{} is UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8; convert it \
                     (e.g. iconv -f utf-16 -t utf-8 FILE > FILE.txt)",
                    self.path.display()
                ),
            ));
        }
        std::str::from_utf8(block).map_err(|e| {
            let at = e.valid_up_to();
            let line = self.lines_before + block[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            crate::error::not_utf8(
                self.path,
                format!(
                    "{}:{line}: invalid UTF-8 at byte {} (the file is not UTF-8 text); convert it, \
                     e.g. `iconv -f latin1 -t utf-8`, or decode it yourself and pass the text through an iterator",
                    self.path.display(),
                    self.bytes_before + at as u64
                ),
            )
        })
    }

    /// Drops the block handed out, keeping the partial line after it.
    fn finish_block(&mut self) {
        let block = &self.buf[..self.block_len];
        self.lines_before += block.iter().filter(|&&b| b == b'\n').count() as u64;
        self.bytes_before += self.block_len as u64;
        self.buf.drain(..self.block_len);
        self.block_len = 0;
        self.scanned = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_past_64_bits_is_refused_and_changes_nothing() {
        let mut a = WordCounts::new();
        a.add(b"x", u64::MAX).unwrap();
        a.add(b"y", 5).unwrap();
        assert!(matches!(a.add(b"x", 1), Err(Error::TrainerConfig(_))));
        let mut b = WordCounts::new();
        b.add(b"y", 2).unwrap();
        b.add(b"z", 3).unwrap();
        b.add(b"x", 1).unwrap();
        let before = a.sorted().into_iter().map(|(w, n)| (w.to_vec(), n)).collect::<Vec<_>>();
        assert!(matches!(a.merge(&b), Err(Error::TrainerConfig(_))));
        let after = a.sorted().into_iter().map(|(w, n)| (w.to_vec(), n)).collect::<Vec<_>>();
        assert_eq!(before, after); // all or none
                                   // totals past 64 bits whose counts fit still merge
        let mut c = WordCounts::new();
        c.add(b"w", u64::MAX).unwrap();
        let mut d = WordCounts::new();
        d.add(b"v", 7).unwrap();
        c.merge(&d).unwrap();
        assert_eq!(c.sorted().len(), 2);
    }

    fn counter_counts(texts: &[&str], threads: usize) -> Vec<(Vec<u8>, u64)> {
        let splitter = Splitter::Pattern(Pretokenizer::new("gpt2").unwrap());
        let specials = SpecialTokens::new(vec![("<|x|>".into(), 0)]).unwrap();
        let c = Counter { splitter: &splitter, specials: &specials };
        let mut wc = WordCounts::new();
        c.count_texts(texts, &mut wc, Some(threads)).unwrap();
        wc.sorted().into_iter().map(|(w, n)| (w.to_vec(), n)).collect()
    }

    #[test]
    fn counts_words_and_skips_specials() {
        let counts = counter_counts(&["a b a<|x|>b", "b"], 1);
        let expect: Vec<(Vec<u8>, u64)> =
            vec![(b" a".to_vec(), 1), (b" b".to_vec(), 1), (b"a".to_vec(), 1), (b"b".to_vec(), 2)];
        assert_eq!(counts, expect);
    }

    #[test]
    fn special_tokens_cut_out_are_counted_and_merged() {
        let splitter = Splitter::Pattern(Pretokenizer::new("gpt2").unwrap());
        let specials = SpecialTokens::new(vec![("<|x|>".into(), 0)]).unwrap();
        let c = Counter { splitter: &splitter, specials: &specials };
        let mut wc = WordCounts::new();
        c.count_texts(&["<|x|><|x|>", "a<|x|>"], &mut wc, Some(2)).unwrap();
        assert_eq!((wc.specials_cut(), wc.len()), (3, 1));
        let mut all = WordCounts::new();
        all.merge(&wc).unwrap();
        all.merge(&wc).unwrap();
        assert_eq!(all.specials_cut(), 6);
    }

    #[test]
    fn thread_count_does_not_matter() {
        let texts: Vec<String> =
            (0..500).map(|i| format!("w{} x{} w{}", i % 7, i % 13, i % 5)).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        assert_eq!(counter_counts(&refs, 1), counter_counts(&refs, 4));
    }

    #[test]
    fn counts_pass_32_bits_and_merge() {
        let mut a = WordCounts::new();
        a.add(b"w", 3_000_000_000).unwrap();
        a.add(b"w", 3_000_000_000).unwrap();
        assert_eq!(a.get(b"w"), 6_000_000_000);
        let mut b = WordCounts::new();
        b.add(b"w", u64::MAX - 6_000_000_000).unwrap();
        b.merge(&a).unwrap();
        assert_eq!(b.get(b"w"), u64::MAX);
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn line_blocks_cover_the_input() {
        let data: Vec<u8> = (0..50_000).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
        let path = Path::new("mem");
        let mut r = LineBlocks::new(&data[..], path, b"\n");
        let mut seen = Vec::new();
        while r.fill().unwrap() {
            let b = r.block();
            assert_eq!(b.last(), Some(&b'\n'));
            seen.extend_from_slice(b);
            r.finish_block();
        }
        assert_eq!(seen, data);
    }

    /// The first block of `data` read as corpus.txt, and the error of checking it.
    fn first_block(data: &[u8]) -> (Vec<u8>, String) {
        let mut r = LineBlocks::new(data, Path::new("corpus.txt"), b"\n");
        assert!(r.fill().unwrap());
        let block = r.block().to_vec();
        let err = r.check_utf8(&block).unwrap_err().to_string();
        (block, err)
    }

    #[test]
    fn bad_utf8_names_the_line() {
        let (_, err) = first_block(b"ok\nfine\nbad \xff here\n");
        assert!(err.starts_with("corpus.txt:3: invalid UTF-8 at byte 12"), "{err}");
    }

    #[test]
    fn utf16_is_named() {
        let text: Vec<u8> = "the cat\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let (_, err) = first_block(&[b"\xFF\xFE".as_slice(), &text].concat());
        assert!(
            err.contains("corpus.txt is UTF-16 text") && err.contains("iconv -f utf-16"),
            "{err}"
        );
    }

    #[test]
    fn bert_blocks_end_after_white_space() {
        // `\r` line ends, then one line of 6 MB: blocks stay near BLOCK, and cover the input
        let data = ["w \r".repeat(1_000_000), "x\ty ".repeat(1_200_000)].concat().into_bytes();
        let cr_only = &data[..3_000_000];
        for (data, cuts) in [(&data[..], BERT_CUTS), (cr_only, b"\n\r"), (cr_only, b"\n ")] {
            let mut r = LineBlocks::new(data, Path::new("mem"), cuts);
            let mut seen = Vec::new();
            while r.fill().unwrap() {
                assert!(r.block().len() <= BLOCK + 4, "{}", r.block().len());
                seen.extend_from_slice(r.block());
                r.finish_block();
            }
            assert_eq!(seen, data);
        }
        let pieces: Vec<&str> = cut_after("ab cd\tef\rgh", 1, BERT_CUTS).collect();
        assert_eq!(pieces, ["ab ", "cd\t", "ef\r", "gh"]);
    }

    #[test]
    fn bert_counts_do_not_depend_on_line_ends() {
        // lines longer than BERT_PIECE, with LF, CR and CRLF ends, in one text and in many
        let line: String = (0..30_000).map(|i| format!("W{} ", i % 11)).collect();
        let mut expect: Vec<(Vec<u8>, u64)> =
            (0..11).map(|i| (format!("w{i}").into_bytes(), 0)).collect();
        for w in line.split_whitespace() {
            expect[w[1..].parse::<usize>().unwrap()].1 += 4;
        }
        expect.sort();
        let splitter = Splitter::Bert(Some(BertNormalizer::default()));
        let specials = SpecialTokens::new(vec![]).unwrap();
        let c = Counter { splitter: &splitter, specials: &specials };
        for end in ["\n", "\r", "\r\n"] {
            let text = [line.as_str(), end].concat().repeat(4);
            let mut wc = WordCounts::new();
            c.count_texts(&[&text], &mut wc, Some(2)).unwrap();
            let got: Vec<(Vec<u8>, u64)> =
                wc.sorted().into_iter().map(|(w, n)| (w.to_vec(), n)).collect();
            assert_eq!(got, expect, "{end:?}");
        }
    }

    #[test]
    fn bert_blocks_keep_special_tokens_whole() {
        let splitter = Splitter::Bert(None);
        let specials = SpecialTokens::new(vec![("<end of text>".into(), 0)]).unwrap();
        assert_eq!(Counter { splitter: &splitter, specials: &specials }.block_cuts(), b"\n\r\t");
        let splitter = Splitter::Pattern(Pretokenizer::new("gpt2").unwrap());
        assert_eq!(Counter { splitter: &splitter, specials: &specials }.block_cuts(), b"\n");
    }

    #[test]
    fn a_byte_order_mark_is_not_text() {
        let (block, err) = first_block(b"\xEF\xBB\xBFfirst\nbad \xff\n");
        assert!(block.starts_with(b"first\n"));
        // positions still count the mark's 3 bytes: they name the file's own bytes
        assert!(err.starts_with("corpus.txt:2: invalid UTF-8 at byte 13"), "{err}");
    }
}
