//! A BERT `vocab.txt` (one token a line) read in one pass of the core, rather than a line
//! at a time in Python (a third of loading bert-base-uncased's).
//!
//! A fast path only, like `rank_file`: a file it does not take as it stands (an empty
//! line, or no line) makes it answer `None`, and the Python reader
//! (`lexforge.formats.bert_vocab`) reads the text again and names the problem.

use pyo3::prelude::*;
use pyo3::types::PyList;

/// The tokens of a `vocab.txt`'s text by id, as `bert_vocab.read_vocab` reads them (lines
/// split on "\n" alone after an editor's byte-order mark, the white space ending a line
/// not part of its token unless the line holds nothing else, "\r" aside), and those of
/// them that lowercasing may change (a superset of those Python's `str.lower` changes:
/// any with a character whose lowercase is another). `None` where the Python reader must
/// decide (see the module's note).
#[pyfunction]
pub(crate) fn read_vocab_lines<'py>(
    py: Python<'py>,
    text: &str,
) -> PyResult<Option<(Bound<'py, PyList>, Bound<'py, PyList>)>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return Ok(None);
    }
    let mut tokens = Vec::new();
    let mut cased = Vec::new();
    for line in text.split('\n') {
        let token = match line.trim_end() {
            "" => line.strip_suffix('\r').unwrap_or(line),
            token => token,
        };
        if token.is_empty() {
            return Ok(None);
        }
        if may_change_when_lowercased(token) {
            cased.push(token);
        }
        tokens.push(token);
    }
    Ok(Some((PyList::new(py, tokens)?, PyList::new(py, cased)?)))
}

/// Whether a character of `token` has a lowercase other than itself.
fn may_change_when_lowercased(token: &str) -> bool {
    if token.is_ascii() {
        return token.bytes().any(|b| b.is_ascii_uppercase());
    }
    token.chars().any(|c| {
        let mut lower = c.to_lowercase();
        lower.next() != Some(c) || lower.next().is_some()
    })
}
