//! Pretraining corpora: text → documents → sentences → token ids, in pieces.
//!
//! The text model is BERT's `create_pretraining_data` input: documents are separated by
//! blank lines; within a document each line is a sentence ([`Sentences::Lines`]) or a
//! paragraph that [`split_sentences`] cuts into sentences ([`Sentences::Split`], the
//! default). A corpus of any size is processed as pieces of about `piece_bytes` of text
//! that start and end at document boundaries ([`plan_file`]), each read, checked as UTF-8
//! and tokenized on its own ([`tokenize_piece`]), so memory depends on the piece size, not
//! on the corpus.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use rayon::prelude::*;

use crate::bert::BertTokenizer;
use crate::bpe::BpeModel;
use crate::error::{Error, Result};
use crate::parallel;
use crate::special::Selection;

/// How the lines of a document become sentences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sentences {
    /// Each line is one sentence.
    Lines,
    /// Each line is a paragraph, cut into sentences by [`split_sentences`].
    Split,
}

/// Text to ids with no template (no `[CLS]`/`[SEP]`): what a corpus needs.
pub trait TextEncoder: Sync {
    fn encode_plain(&self, text: &str, out: &mut Vec<u32>) -> Result<()>;
}

impl TextEncoder for BpeModel {
    fn encode_plain(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        // corpus text is text: a special token's string in it is encoded as ordinary text,
        // while added tokens that are not special (`add_tokens`) are matched, as in `encode`
        // (and as WordPiece's `encode_plain_seq` does): shards built with no added tokens at
        // all split them into pieces, so shard ids differed from `encode`'s and HF's
        let policy = self.specials().policy(&Selection::Some(vec![]), &Selection::Some(vec![]))?;
        self.encode_text(text, &policy, 0, out)
    }
}

impl TextEncoder for BertTokenizer {
    fn encode_plain(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        // corpus text is text, as for BPE: "[SEP]" in a document is not a separator
        out.extend(self.encode_plain_seq(text)?.ids);
        Ok(())
    }
}

/// Characters that end a sentence wherever they are (no space follows in CJK text).
fn is_cjk_terminal(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '｡' | '︒' | '﹒' | '﹖' | '﹗')
}

/// Characters that end a sentence when whitespace follows.
fn is_terminal(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '‼' | '⁇' | '⁈' | '⁉' | '।' | '॥' | '؟' | '۔')
}

/// Closing quotes and brackets that stay with the sentence they end.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | ')'
            | ']'
            | '}'
            | '”'
            | '’'
            | '»'
            | '›'
            | '」'
            | '』'
            | '）'
            | '》'
            | '】'
            | '〉'
            | '〕'
            | '］'
    )
}

/// Words that a period follows without ending the sentence (compared lowercase).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "etc", "e.g", "i.e", "cf",
    "al", "no", "nos", "vol", "fig", "figs", "pp", "p", "inc", "ltd", "co", "corp", "dept", "univ",
    "approx", "gen", "col", "lt", "sgt", "capt", "gov", "sen", "rep", "rev", "hon", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "a.m",
    "p.m", "ph.d", "b.a", "m.a", "d.c",
];

/// Whether the period ending `before` (the text up to it) belongs to an abbreviation or an
/// initial ("J. R. R. Tolkien") rather than ending a sentence.
fn period_is_abbreviation(before: &str) -> bool {
    let word = before.rsplit(|c: char| c.is_whitespace() || c == '(' || c == '"').next();
    let word = word.unwrap_or("").trim_start_matches(|c: char| !c.is_alphanumeric());
    if word.is_empty() {
        return false;
    }
    let mut chars = word.chars();
    let first = chars.next();
    if first.is_some_and(char::is_uppercase) && chars.next().is_none() {
        return true; // a single capital: an initial
    }
    let lower = word.to_lowercase();
    ABBREVIATIONS.contains(&lower.as_str())
}

/// Byte ranges of the sentences of `text` (one paragraph), trimmed of whitespace, none
/// empty. A sentence ends after a run of terminal punctuation (and any closing quotes or
/// brackets) that is followed by whitespace and then not by a lowercase letter, except
/// after abbreviations and initials; CJK full stops, exclamation and question marks end
/// one with no space after them.
pub fn split_sentences(text: &str, out: &mut Vec<Range<usize>>) {
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let cjk = is_cjk_terminal(c);
        if !(cjk || is_terminal(c)) {
            continue;
        }
        let only_period = c == '.';
        let mut cjk_run = cjk;
        let mut only_periods = only_period;
        let mut end = i + c.len_utf8();
        // the rest of the run of terminals, then closers
        while let Some(&(j, d)) = chars.peek() {
            if is_terminal(d) || is_cjk_terminal(d) {
                cjk_run |= is_cjk_terminal(d);
                only_periods &= d == '.';
            } else if !is_closer(d) {
                break;
            }
            end = j + d.len_utf8();
            chars.next();
        }
        let boundary = if cjk_run {
            true
        } else {
            let next = text[end..].chars().next();
            match next {
                None => true,
                Some(n) if !n.is_whitespace() => false, // "3.14", "e.g.x", "U.S.-led"
                Some(_) => {
                    let after = text[end..].trim_start().chars().next();
                    let lowercase_next = after.is_some_and(char::is_lowercase);
                    let abbreviation =
                        only_periods && end - i == 1 && period_is_abbreviation(&text[start..i]);
                    !lowercase_next && !abbreviation
                }
            }
        };
        if boundary {
            push_trimmed(text, start..end, out);
            start = end;
        }
    }
    push_trimmed(text, start..text.len(), out);
}

fn push_trimmed(text: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let piece = &text[range.clone()];
    let lead = piece.len() - piece.trim_start().len();
    let trail = piece.len() - piece.trim_end().len();
    if lead + trail < piece.len() {
        out.push(range.start + lead..range.end - trail);
    }
}

/// Whether byte `k` of `bytes` ends a line: a `\n`, or a `\r` not followed by `\n`
/// (Python's universal newlines: `\n`, `\r\n` and `\r` all end lines). A `\r` that is the
/// last byte counts only when `at_eof` says nothing follows it.
fn is_line_end(bytes: &[u8], k: usize, at_eof: bool) -> bool {
    match bytes[k] {
        b'\n' => true,
        b'\r' => match bytes.get(k + 1) {
            Some(&next) => next != b'\n',
            None => at_eof,
        },
        _ => false,
    }
}

/// The lines of `bytes` as ranges that include their line ends (see [`is_line_end`]).
fn lines(bytes: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let start = at;
        let mut k = start;
        while k < bytes.len() {
            let found = bytes[k..].iter().position(|&b| b == b'\n' || b == b'\r');
            let Some(offset) = found else {
                k = bytes.len();
                break;
            };
            k += offset;
            if is_line_end(bytes, k, true) {
                k += 1;
                break;
            }
            k += 1; // the `\r` of a `\r\n`: its `\n` ends the line
        }
        at = k;
        Some(start..k)
    })
}

/// The sentences of `text` as byte ranges, and the end of each document (an index into
/// the sentences, exclusive). Lines end at `\n`, `\r\n` or `\r`; blank lines separate
/// documents; documents without sentences do not appear. A line's first sentence starts
/// at its first non-space; the next ones start where the one before ended, with the
/// whitespace between them, so that the sentences of a line, encoded one by one, give
/// the ids of the (trimmed) line.
pub fn layout(text: &str, mode: Sentences) -> (Vec<Range<usize>>, Vec<usize>) {
    let mut sentences = Vec::new();
    let mut doc_ends = Vec::new();
    for range in lines(text.as_bytes()) {
        let content = text[range.clone()].trim();
        if content.is_empty() {
            if doc_ends.last().copied().unwrap_or(0) < sentences.len() {
                doc_ends.push(sentences.len());
            }
            continue;
        }
        match mode {
            Sentences::Lines => push_trimmed(text, range, &mut sentences),
            Sentences::Split => {
                let mut local = Vec::new();
                split_sentences(&text[range.clone()], &mut local);
                // a sentence after the first keeps the whitespace before it (only whitespace
                // lies between two sentences): byte-level BPE then encodes "mat. The" as
                // the line does (" The", not "The"); WordPiece drops the whitespace anyway
                let mut previous_end = None;
                for r in local {
                    let start = previous_end.unwrap_or(r.start);
                    previous_end = Some(r.end);
                    sentences.push(start + range.start..r.end + range.start);
                }
            }
        }
    }
    if doc_ends.last().copied().unwrap_or(0) < sentences.len() {
        doc_ends.push(sentences.len());
    }
    (sentences, doc_ends)
}

/// A tokenized piece of corpus: the ids of its sentences back to back, where each sentence
/// starts (`sentence_offsets`, one more than the sentences) and where each document starts
/// in sentences (`document_offsets`, one more than the documents).
#[derive(Debug, Default, PartialEq)]
pub struct Tokenized {
    pub tokens: Vec<u32>,
    pub sentence_offsets: Vec<u64>,
    pub document_offsets: Vec<u64>,
}

/// Tokenizes `text` (documents separated by blank lines) in parallel. Sentences that
/// encode to no tokens at all (only control characters, say) and documents left without
/// sentences are skipped; nothing else is.
pub fn tokenize_text<E: TextEncoder + ?Sized>(
    encoder: &E,
    text: &str,
    mode: Sentences,
    num_threads: Option<usize>,
) -> Result<Tokenized> {
    let (sentences, doc_ends) = layout(text, mode);
    let encoded: Vec<Vec<u32>> = parallel::in_order(parallel::install(num_threads, || {
        sentences
            .par_iter()
            .with_min_len(64)
            .map(|r| {
                let mut ids = Vec::with_capacity(r.len() / 4 + 1);
                encoder.encode_plain(&text[r.clone()], &mut ids)?;
                Ok(ids)
            })
            .collect::<Vec<Result<_>>>()
    }))?;
    let mut out = Tokenized {
        tokens: Vec::with_capacity(encoded.iter().map(Vec::len).sum()),
        sentence_offsets: vec![0],
        document_offsets: vec![0],
    };
    let mut doc_start = 0;
    for &doc_end in &doc_ends {
        for ids in &encoded[doc_start..doc_end] {
            if !ids.is_empty() {
                out.tokens.extend_from_slice(ids);
                out.sentence_offsets.push(out.tokens.len() as u64);
            }
        }
        let n_sentences = out.sentence_offsets.len() as u64 - 1;
        if n_sentences > *out.document_offsets.last().unwrap_or(&0) {
            out.document_offsets.push(n_sentences);
        }
        doc_start = doc_end;
    }
    Ok(out)
}

/// How far past a nominal cut we look for a blank line before cutting at a line end.
const CUT_SEARCH: u64 = 1 << 20;

/// Cuts a file of `size` bytes into pieces of about `piece_bytes`: each cut moves forward
/// from a multiple of `piece_bytes` to just after the next blank line (a document
/// boundary), or, if none comes within 1 MiB, to just after the next line end (splitting an
/// enormous document), however far that is. Cuts are always at line starts (never inside a
/// `\r\n`), hence at UTF-8 boundaries.
pub fn plan_file(path: &Path, piece_bytes: u64) -> Result<Vec<Range<u64>>> {
    plan(path, piece_bytes, CUT_SEARCH)
}

fn plan(path: &Path, piece_bytes: u64, search: u64) -> Result<Vec<Range<u64>>> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let piece_bytes = piece_bytes.max(1);
    let mut cuts = vec![0u64];
    let mut nominal = piece_bytes;
    while nominal < size {
        let last = *cuts.last().unwrap_or(&0);
        let from = nominal.max(last + 1);
        match next_cut(&mut file, from, size, search).map_err(|e| Error::io(path, e))? {
            Some(cut) if cut < size => {
                cuts.push(cut);
                nominal = (cut / piece_bytes + 1) * piece_bytes;
            }
            _ => break,
        }
    }
    cuts.push(size);
    cuts.dedup();
    Ok(cuts.windows(2).map(|w| w[0]..w[1]).filter(|r| !r.is_empty()).collect())
}

/// The first document boundary at or after `from` (see [`plan_file`]).
fn next_cut(file: &mut File, from: u64, size: u64, search: u64) -> std::io::Result<Option<u64>> {
    // look back one byte so that a line starting exactly at `from` is seen as a line start
    let start = from - 1;
    file.seek(SeekFrom::Start(start))?;
    let mut window = Vec::new();
    file.by_ref().take(search.min(size - start)).read_to_end(&mut window)?;
    let at_eof = start + window.len() as u64 >= size;
    let mut first_line_end = None;
    let mut line_start: Option<usize> = None; // only after the first line end seen
    for k in 0..window.len() {
        if !is_line_end(&window, k, at_eof) {
            continue;
        }
        if first_line_end.is_none() {
            first_line_end = Some(k + 1);
        }
        if let Some(ls) = line_start {
            if is_blank(&window[ls..k]) {
                return Ok(Some(start + k as u64 + 1)); // just after a blank line
            }
        }
        line_start = Some(k + 1);
    }
    if at_eof {
        return Ok(None); // the rest of the file is one piece
    }
    match first_line_end {
        Some(k) => Ok(Some(start + k as u64)),
        // a line longer than the window: cut after its end, wherever that is, so that one
        // long line does not make the rest of the file a single piece
        None => next_line_end(file, start + window.len() as u64 - 1, size),
    }
}

/// Whether a line's bytes (without its end) are blank as [`layout`] sees them: nothing
/// but white space, Unicode's included (a line of no-break spaces ends a document there
/// too, so it must be a cut point here).
fn is_blank(line: &[u8]) -> bool {
    std::str::from_utf8(line).is_ok_and(|s| s.trim().is_empty())
}

/// Whether a piece of `path` from byte `start` (a line start, as every cut is) starts with
/// a new document: at the file's start, or where a blank line lies just before or at
/// `start`. Else its first document continues the last one of the piece before it (a
/// document longer than a piece is cut at a line end).
pub fn starts_document(path: &Path, start: u64) -> Result<bool> {
    // a blank line longer than this (64 KiB of spaces) is taken for text
    const LOOK: u64 = 1 << 16;
    if start == 0 {
        return Ok(true);
    }
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let from = start.saturating_sub(LOOK);
    file.seek(SeekFrom::Start(from)).map_err(|e| Error::io(path, e))?;
    let mut before = Vec::new();
    file.by_ref()
        .take(start - from + LOOK)
        .read_to_end(&mut before)
        .map_err(|e| Error::io(path, e))?;
    let after = before.split_off(((start - from) as usize).min(before.len()));
    // the line at `start`: a blank one separates what comes before from what follows
    if let Some(k) = after.iter().position(|&b| b == b'\n' || b == b'\r') {
        if is_blank(&after[..k]) {
            return Ok(true);
        }
    }
    // the line end just before `start`, then the line it ends
    let mut end = before.len();
    if before.get(end.wrapping_sub(1)) == Some(&b'\n') {
        end -= 1;
    }
    if end > 0 && before[end - 1] == b'\r' {
        end -= 1;
    }
    if end == before.len() {
        return Ok(false); // not a line start: inside a line, so inside a document
    }
    match before[..end].iter().rposition(|&b| b == b'\n' || b == b'\r') {
        Some(k) => Ok(is_blank(&before[k + 1..end])),
        None if from == 0 => Ok(is_blank(&before[..end])),
        None => Ok(false),
    }
}

/// Just after the first line end at or after byte `from` (a `\r` at `from` included), or
/// None if the file ends first.
fn next_line_end(file: &mut File, mut from: u64, size: u64) -> std::io::Result<Option<u64>> {
    const BLOCK: u64 = 1 << 16;
    while from < size {
        file.seek(SeekFrom::Start(from))?;
        // one byte more than we scan, to see what follows a `\r`
        let want = (BLOCK + 1).min(size - from);
        let mut block = Vec::new();
        file.by_ref().take(want).read_to_end(&mut block)?;
        if (block.len() as u64) < want {
            break; // the file shrank while being planned: reading it will say so
        }
        let at_eof = from + want >= size;
        let scanned = if at_eof { block.len() } else { block.len() - 1 };
        if let Some(k) = (0..scanned).find(|&k| is_line_end(&block, k, at_eof)) {
            return Ok(Some(from + k as u64 + 1));
        }
        from += scanned as u64;
    }
    Ok(None)
}

/// Reads bytes `range` of `path` as UTF-8 (a byte-order mark at the file's start is
/// dropped). Invalid UTF-8 is an error naming the file and the byte.
pub fn read_piece(path: &Path, range: Range<u64>) -> Result<String> {
    if range.end < range.start {
        return Err(Error::Config(format!(
            "bytes {}..{} of {} is no range: its end comes before its start",
            range.start,
            range.end,
            path.display()
        )));
    }
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(range.start)).map_err(|e| Error::io(path, e))?;
    // reserved up to what the file holds (a range past its end is refused below)
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let wanted = range.end - range.start;
    let mut bytes = Vec::with_capacity(wanted.min(size.saturating_sub(range.start)) as usize);
    file.take(wanted).read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    if (bytes.len() as u64) < wanted {
        return Err(Error::Corpus(format!(
            "{} is shorter than planned ({} bytes from byte {}); did it change while being read?",
            path.display(),
            bytes.len(),
            range.start
        )));
    }
    let mut skipped = 0; // the bytes of a byte-order mark, which error offsets count
    if range.start == 0 && bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
        skipped = 3;
    }
    if range.start == 0 && (bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF")) {
        return Err(Error::Corpus(format!(
            "{} is UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8; convert it \
             (e.g. iconv -f utf-16 -t utf-8 FILE > FILE.txt)",
            path.display()
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = range.start + skipped + e.utf8_error().valid_up_to() as u64;
        let line = line_at(path, at).map(|n| format!(" (line {n})")).unwrap_or_default();
        crate::error::not_utf8(
            path,
            format!(
                "{} is not valid UTF-8 at byte {at}{line}; convert it (e.g. iconv -f latin1 -t utf-8) or remove the bad bytes",
                path.display()
            ),
        )
    })
}

/// The line (from 1) that byte `at` of the file at `path` is on, for an error message:
/// the line ends before it, counted in one read through the file up to it (None if the
/// file cannot be read so far).
fn line_at(path: &Path, at: u64) -> Option<u64> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?.take(at);
    let mut buf = vec![0u8; 1 << 20];
    let (mut lines, mut read) = (1u64, 0u64);
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        read += n as u64;
    }
    (read == at).then_some(lines)
}

/// Reads and tokenizes one planned piece of a file.
pub fn tokenize_piece<E: TextEncoder + ?Sized>(
    encoder: &E,
    path: &Path,
    range: Range<u64>,
    mode: Sentences,
    num_threads: Option<usize>,
) -> Result<Tokenized> {
    let text = read_piece(path, range)?;
    tokenize_text(encoder, &text, mode, num_threads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        split_sentences(text, &mut out);
        out.into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn english_sentences() {
        assert_eq!(
            sentences("Dr. Smith went to Washington. He arrived at 3 p.m. on Monday! Did he?"),
            ["Dr. Smith went to Washington.", "He arrived at 3 p.m. on Monday!", "Did he?"]
        );
        assert_eq!(
            sentences("J. R. R. Tolkien wrote it (in 1937). \"Really?\" she asked. Pi is 3.14."),
            ["J. R. R. Tolkien wrote it (in 1937).", "\"Really?\" she asked.", "Pi is 3.14."]
        );
        assert_eq!(sentences("e.g. this one. and this"), ["e.g. this one. and this"]);
        assert_eq!(sentences("Wait... What?! Yes."), ["Wait...", "What?!", "Yes."]);
        assert_eq!(sentences("   "), Vec::<&str>::new());
        assert_eq!(sentences("No ending"), ["No ending"]);
    }

    #[test]
    fn pieces_outside_the_file_are_errors() {
        let path = std::env::temp_dir().join(format!("lexforge-piece-{}.txt", std::process::id()));
        std::fs::write(&path, "Hello world.\n").unwrap();
        assert_eq!(read_piece(&path, 0..5).unwrap(), "Hello");
        let inverted = Range { start: 5, end: 3 }; // (as a caller could pass it)
        assert!(matches!(read_piece(&path, inverted), Err(Error::Config(_))));
        // an end far past the file: refused, never reserved (a terabyte would abort)
        assert!(matches!(read_piece(&path, 0..1 << 40), Err(Error::Corpus(_))));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn chinese_sentences() {
        assert_eq!(
            sentences("今天天气很好。我们去公园吧！你来吗？“好的。”他说"),
            ["今天天气很好。", "我们去公园吧！", "你来吗？", "“好的。”", "他说"]
        );
    }

    #[test]
    fn documents_and_lines() {
        let text = "A b.  C d.\n  E f.\n\n\n  \nG h.\n";
        let (s, d) = layout(text, Sentences::Split);
        let got: Vec<&str> = s.iter().map(|r| &text[r.clone()]).collect();
        // a sentence after the first of its line keeps the whitespace before it
        assert_eq!(got, ["A b.", "  C d.", "E f.", "G h."]);
        assert_eq!(d, [3, 4]);
        let (s, d) = layout(text, Sentences::Lines);
        assert_eq!(s.len(), 3);
        assert_eq!(d, [2, 3]);
    }

    #[test]
    fn lines_end_at_lf_crlf_and_lone_cr() {
        let text = "A b.\rC d.\r\rE f.\r\n\r\nG h.\n\rI j.\r";
        let (s, d) = layout(text, Sentences::Lines);
        let got: Vec<&str> = s.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(got, ["A b.", "C d.", "E f.", "G h.", "I j."]);
        assert_eq!(d, [2, 3, 4, 5]);
        let ranges: Vec<_> = lines(b"a\r\nb\rc\n\r").collect();
        assert_eq!(ranges, [0..3, 3..5, 5..7, 7..8]);
    }

    #[test]
    fn plans_cut_past_long_lines_and_never_inside_crlf() {
        let dir = std::env::temp_dir().join(format!("lexforge-plan-long-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("corpus.txt");
        // a line far longer than the search window, between short documents
        let mut text: String = (0..50).map(|i| format!("doc {i}\r\n\r\n")).collect();
        text.push_str(&"x".repeat(5_000));
        text.push_str("\r\n");
        text.extend((0..50).map(|i| format!("doc {i}\r\rmore\r\n")));
        std::fs::write(&path, &text).unwrap();
        let pieces = plan(&path, 100, 40).unwrap();
        let longest = pieces.iter().map(|r| r.end - r.start).max().unwrap();
        assert!(longest < 5_200, "one piece holds {longest} bytes");
        assert_eq!(pieces.last().unwrap().end, text.len() as u64);
        for r in &pieces {
            let before = &text[..r.end as usize];
            assert!(before.ends_with('\n') || before.ends_with('\r'), "cut at {}", r.end);
            assert!(!text[r.end as usize..].starts_with('\n'), "cut inside \\r\\n at {}", r.end);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_piece_starts_a_document_where_layout_ends_one() {
        let dir = std::env::temp_dir().join(format!("lexforge-starts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("corpus.txt");
        // blank lines of ASCII and Unicode white space, three kinds of line end
        let parts = ["A b.", "  C d. E", "\u{a0}", "", "\u{3000} ", "f g", " ", "\t", "h"];
        let ends = ["\n", "\r\n", "\r"];
        let mut text = String::new();
        for i in 0..120 {
            text.push_str(parts[(i * 7 + i / 5) % parts.len()]);
            text.push_str(ends[(i * 5 + i / 3) % ends.len()]);
        }
        std::fs::write(&path, &text).unwrap();
        let docs = |t: &str| layout(t, Sentences::Lines).1.len();
        let total = docs(&text);
        let mut checked = 0;
        for start in lines(text.as_bytes()).map(|r| r.start).filter(|&s| s > 0) {
            let (head, tail) = text.split_at(start);
            if docs(head) == 0 || docs(tail) == 0 {
                continue;
            }
            // a new document: the two halves hold as many as the whole, else one more
            let new = starts_document(&path, start as u64).unwrap();
            assert_eq!(docs(head) + docs(tail) - usize::from(!new), total, "at {start}");
            checked += 1;
        }
        assert!(checked > 50);
        assert!(starts_document(&path, 0).unwrap());
        // a line of no-break spaces ends a document, so a plan cuts there
        let text = "one\ntwo\n\u{a0}\u{3000}\nthree\nfour\n";
        std::fs::write(&path, text).unwrap();
        let pieces = plan(&path, 2, 100).unwrap();
        assert_eq!(pieces[0].end as usize, text.find("three").unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn plans_cut_at_blank_lines_and_cover_the_file() {
        let dir = std::env::temp_dir().join(format!("lexforge-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("corpus.txt");
        let mut text = String::new();
        for d in 0..200 {
            text.push_str(&format!("Document {d} first line.\nSecond line of {d}.\n\n"));
        }
        std::fs::write(&path, &text).unwrap();
        let cuts = plan_file(&path, 500).unwrap();
        assert!(cuts.len() > 5);
        assert_eq!(cuts.first().unwrap().start, 0);
        assert_eq!(cuts.last().unwrap().end, text.len() as u64);
        for w in cuts.windows(2) {
            assert_eq!(w[0].end, w[1].start);
            let cut = w[0].end as usize;
            assert!(text[..cut].ends_with("\n\n"), "cut at {cut}");
        }
        // a file with no blank line is cut at line ends
        let lines: String = (0..300).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, &lines).unwrap();
        let pieces = plan(&path, 100, 40).unwrap();
        assert!(pieces.len() > 5);
        for r in &pieces {
            assert!(lines[..r.end as usize].ends_with('\n'));
        }
        std::fs::write(&path, b"ok\n\xff\xfe bad\n").unwrap();
        let err = read_piece(&path, 0..8).unwrap_err().to_string();
        assert!(err.contains("not valid UTF-8 at byte 3 (line 2)"), "{err}");
        // in a piece past the file's start, the line is the file's
        std::fs::write(&path, b"one\ntwo\n\nthree\nf\xffour\n").unwrap();
        let err = read_piece(&path, 9..20).unwrap_err().to_string();
        assert!(err.contains("not valid UTF-8 at byte 16 (line 5)"), "{err}");
        // a byte-order mark is read past, and counted in the offset
        std::fs::write(&path, b"\xEF\xBB\xBFok\n\xff bad\n").unwrap();
        let err = read_piece(&path, 0..11).unwrap_err().to_string();
        assert!(err.contains("not valid UTF-8 at byte 6 (line 2)"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
