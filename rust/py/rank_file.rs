//! A tiktoken rank file (`<base64 token> <rank>` lines) read in one pass of the core, rather
//! than a line at a time in Python (two thirds of loading cl100k's file).
//!
//! A fast path only, like `hf_tables`: a line it does not take as it stands (anything but
//! canonical base64, one space and decimal digits; Whisper's empty token `=`; a rank past
//! 32 bits) makes it answer `None`, and the Python reader (`lexforge.formats.tiktoken`)
//! reads the file again, naming the problem or handling the line.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::bpe::rank_lines::rank_line;

/// `(token, rank)` pairs as Python takes them.
type Ranks<'py> = Vec<(Bound<'py, PyBytes>, u32)>;

/// The `(token, rank)` pairs of a rank file's text in file order, skipping empty lines;
/// `None` where the Python reader must decide (see the module's note).
#[pyfunction]
pub(crate) fn read_rank_lines<'py>(py: Python<'py>, text: &str) -> PyResult<Option<Ranks<'py>>> {
    let mut ranks = Vec::new();
    for line in text.as_bytes().split(|&c| c == b'\n') {
        if line.is_empty() || line == b"\r" {
            continue;
        }
        match rank_line(line) {
            Some((token, rank)) => ranks.push((PyBytes::new(py, &token), rank)),
            None => return Ok(None),
        }
    }
    Ok(Some(ranks))
}
