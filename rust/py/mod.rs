//! PyO3 bindings: the `lexforge._core` extension module (cargo feature `python`).
//!
//! Bindings only: argument conversion, releasing the GIL around every O(n) call, and
//! mapping [`crate::Error`] onto Python exceptions ([`errors`], the one place that does).
//! Defaults, file formats and user-facing policy live in the Python package.

mod batch;
mod bert;
mod bpe;
mod data;
mod errors;
mod hf_tables;
mod mlm;
mod pad;
mod rank_file;
mod recycle;
mod train;
mod vocab_file;

use pyo3::prelude::*;

/// Pauses Python's cyclic garbage collector while it lives. Building a batch's id lists
/// allocates one list per text, and every 700 allocations the collector walks the young
/// lists and each of their items, two or three times over a list's life: a tenth of a
/// batch call on long texts. Lists of ints hold no cycles, so nothing is lost. Hold it
/// only while the GIL is held throughout (never across `detach`), so no other thread runs
/// Python with the collector paused; the previous state comes back on drop.
pub(crate) struct GcPause(bool);

impl GcPause {
    pub(crate) fn new(_py: Python<'_>) -> Self {
        // SAFETY: the GIL is held (the `Python` token); PyGC_Disable only flips a flag
        GcPause(unsafe { pyo3::ffi::PyGC_Disable() } == 1)
    }
}

impl Drop for GcPause {
    fn drop(&mut self) {
        if self.0 {
            // SAFETY: dropped where it was made, the GIL still held
            unsafe {
                pyo3::ffi::PyGC_Enable();
            }
        }
    }
}

/// Looks NumPy's C API up before a call that makes arrays, while no Ctrl-C is pending:
/// rust-numpy does it at a process's first array by running Python code (importing NumPy
/// when no one has), and a Ctrl-C raised in there became a panic. Imported here, an
/// interrupted import is a plain KeyboardInterrupt.
pub(crate) fn numpy_ready(py: Python<'_>) -> PyResult<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static READY: AtomicBool = AtomicBool::new(false);
    if READY.load(Ordering::Relaxed) {
        return Ok(());
    }
    py.import("numpy")?;
    py.check_signals()?;
    let _ = numpy::PyArray1::<u8>::zeros(py, 0, false);
    READY.store(true, Ordering::Relaxed);
    Ok(())
}

/// Splits `text` with a pre-tokenization preset or pattern (for tests and inspection).
#[pyfunction]
fn pretokenize(py: Python<'_>, pattern: &str, text: &str) -> PyResult<Vec<String>> {
    let pretok = crate::pretokenize::Pretokenizer::new(pattern).map_err(errors::to_py)?;
    let pieces =
        py.detach(|| pretok.pieces(text).map(|p| p.into_iter().map(String::from).collect()));
    pieces.map_err(errors::to_py)
}

/// The canonical regex of a preset name or pattern, and the preset name if it is one.
#[pyfunction]
fn resolve_pattern(pattern: &str) -> PyResult<(String, Option<&'static str>)> {
    let pretok = crate::pretokenize::Pretokenizer::new(pattern).map_err(errors::to_py)?;
    Ok((pretok.pattern().to_string(), pretok.preset()))
}

/// The number of threads a call with `num_threads=None` uses.
#[pyfunction]
#[pyo3(signature = (num_threads=None))]
fn resolve_threads(num_threads: Option<usize>) -> usize {
    crate::parallel::resolve_threads(num_threads)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // NumPy's C API is looked up lazily, by running Python code, at the first array made:
    // a Ctrl-C pending then would turn into a panic. Made here, at import, it is done, when
    // NumPy is loaded already: otherwise it is left for the first array (whose Python
    // caller has imported NumPy itself), so that training a tokenizer from text never loads
    // NumPy (13 MiB of resident memory).
    let loaded = m.py().import("sys")?.getattr("modules")?.contains("numpy")?;
    if loaded {
        let _ = numpy::PyArray1::<u8>::zeros(m.py(), 0, false);
    }
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<bpe::Bpe>()?;
    m.add_class::<hf_tables::ByteLevelTables>()?;
    m.add_function(wrap_pyfunction!(hf_tables::read_byte_level, m)?)?;
    m.add_function(wrap_pyfunction!(rank_file::read_rank_lines, m)?)?;
    m.add_function(wrap_pyfunction!(vocab_file::read_vocab_lines, m)?)?;
    m.add_class::<bert::PyBert>()?;
    m.add_class::<train::WordCounter>()?;
    m.add_function(wrap_pyfunction!(train::train_bpe, m)?)?;
    m.add_function(wrap_pyfunction!(train::train_wordpiece, m)?)?;
    m.add_class::<mlm::Masker>()?;
    m.add_function(wrap_pyfunction!(pad::pad_lists, m)?)?;
    m.add_function(wrap_pyfunction!(pad::offset_lists, m)?)?;
    m.add_class::<data::ShardCorpus>()?;
    m.add_class::<data::InstanceBlock>()?;
    m.add_function(wrap_pyfunction!(data::split_sentences, m)?)?;
    m.add_function(wrap_pyfunction!(data::plan_file, m)?)?;
    m.add_function(wrap_pyfunction!(data::starts_document, m)?)?;
    m.add_function(wrap_pyfunction!(data::tokenize_piece, m)?)?;
    m.add_function(wrap_pyfunction!(data::tokenize_text, m)?)?;
    m.add_function(wrap_pyfunction!(data::shard_order, m)?)?;
    m.add_function(wrap_pyfunction!(pretokenize, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_pattern, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_threads, m)?)?;
    Ok(())
}
