//! Pretraining-data bindings: sentence splitting, corpus pieces → token ids, and the
//! instance blocks and batches built over memory-mapped shards.

use std::path::PathBuf;

use numpy::{IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::bert::PyBert;
use super::bpe::Bpe;
use super::errors::to_py;
use super::recycle::Buffer;
use crate::corpus::{self, Sentences, TextEncoder, Tokenized};
use crate::error::Error;
use crate::instances::{
    block_order, build_block, materialize_into, Columns, Corpus, Framing, Instance,
    InstanceOptions, Objective, Shard, Tokens,
};
use crate::memory::check_room;

fn sentences_mode(name: &str) -> PyResult<Sentences> {
    match name {
        "split" => Ok(Sentences::Split),
        "lines" => Ok(Sentences::Lines),
        other => Err(to_py(Error::Config(format!(
            "sentences must be 'split' (cut paragraphs into sentences) or 'lines' (one sentence per line), got {other:?}"
        )))),
    }
}

/// Runs `f` with the Rust encoder inside a `Bpe` or `BertTokenizer`.
fn with_encoder<R>(
    tokenizer: &Bound<'_, PyAny>,
    f: impl FnOnce(&dyn TextEncoder) -> R,
) -> PyResult<R> {
    if let Ok(bpe) = tokenizer.cast::<Bpe>() {
        return Ok(f(&*bpe.get().inner));
    }
    if let Ok(bert) = tokenizer.cast::<PyBert>() {
        return Ok(f(bert.get().tokenizer()));
    }
    Err(to_py(Error::Config("expected a lexforge tokenizer's core (Bpe or BertTokenizer)".into())))
}

type TokenizedArrays<'py> =
    (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>);

fn arrays(py: Python<'_>, t: Tokenized) -> TokenizedArrays<'_> {
    let to_i64 = |v: Vec<u64>| v.into_iter().map(|x| x as i64).collect::<Vec<i64>>();
    (
        t.tokens.into_pyarray(py),
        to_i64(t.sentence_offsets).into_pyarray(py),
        to_i64(t.document_offsets).into_pyarray(py),
    )
}

/// The sentences of one paragraph (see `corpus::split_sentences`).
#[pyfunction]
pub(crate) fn split_sentences(text: &str) -> Vec<&str> {
    let mut ranges = Vec::new();
    corpus::split_sentences(text, &mut ranges);
    ranges.into_iter().map(|r| &text[r]).collect()
}

/// Byte ranges `(start, end)` cutting a file into pieces of about `piece_bytes` at
/// document boundaries.
#[pyfunction]
pub(crate) fn plan_file(
    py: Python<'_>,
    path: PathBuf,
    piece_bytes: u64,
) -> PyResult<Vec<(u64, u64)>> {
    let plan = py.detach(|| corpus::plan_file(&path, piece_bytes)).map_err(to_py)?;
    Ok(plan.into_iter().map(|r| (r.start, r.end)).collect())
}

/// Whether the piece of `path` from byte `start` (a cut of `plan_file`) starts with a new
/// document, or continues the last one of the piece before it.
#[pyfunction]
pub(crate) fn starts_document(py: Python<'_>, path: PathBuf, start: u64) -> PyResult<bool> {
    py.detach(|| corpus::starts_document(&path, start)).map_err(to_py)
}

/// Tokenizes bytes `start..end` of `path`: `(tokens uint32, sentence_offsets int64,
/// document_offsets int64)`.
#[pyfunction]
#[pyo3(signature = (tokenizer, path, start, end, sentences="split", num_threads=None))]
pub(crate) fn tokenize_piece<'py>(
    py: Python<'py>,
    tokenizer: &Bound<'py, PyAny>,
    path: PathBuf,
    start: u64,
    end: u64,
    sentences: &str,
    num_threads: Option<usize>,
) -> PyResult<TokenizedArrays<'py>> {
    super::numpy_ready(py)?;
    let mode = sentences_mode(sentences)?;
    let out = with_encoder(tokenizer, |enc| {
        py.detach(|| corpus::tokenize_piece(enc, &path, start..end, mode, num_threads))
    })?
    .map_err(to_py)?;
    py.check_signals()?; // a Ctrl-C meanwhile: raised now, not inside the arrays' making
    Ok(arrays(py, out))
}

/// Tokenizes in-memory text (documents separated by blank lines), as `tokenize_piece`.
#[pyfunction]
#[pyo3(signature = (tokenizer, text, sentences="split", num_threads=None))]
pub(crate) fn tokenize_text<'py>(
    py: Python<'py>,
    tokenizer: &Bound<'py, PyAny>,
    text: &str,
    sentences: &str,
    num_threads: Option<usize>,
) -> PyResult<TokenizedArrays<'py>> {
    super::numpy_ready(py)?;
    let mode = sentences_mode(sentences)?;
    let out = with_encoder(tokenizer, |enc| {
        py.detach(|| corpus::tokenize_text(enc, text, mode, num_threads))
    })?
    .map_err(to_py)?;
    py.check_signals()?; // a Ctrl-C meanwhile: raised now, not inside the arrays' making
    Ok(arrays(py, out))
}

/// The shard order of an epoch.
#[pyfunction]
pub(crate) fn shard_order(n_shards: usize, seed: u64, epoch: u64) -> PyResult<Vec<usize>> {
    // (a count past memory: a panic on the capacity, or an abort on the allocation)
    check_room(Some(n_shards), 2 * std::mem::size_of::<usize>(), "the shard order")
        .map_err(to_py)?;
    Ok(block_order(n_shards, seed, epoch))
}

/// One shard's arrays: tokens, sentence offsets, document offsets.
type ShardArrays = (TokenArray, Py<PyArray1<i64>>, Py<PyArray1<i64>>);
/// A shard as Python passes it: name, tokens, sentence offsets, document offsets.
type ShardArgs<'py> =
    (String, Bound<'py, PyAny>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>);

enum TokenArray {
    U16(Py<PyArray1<u16>>),
    U32(Py<PyArray1<u32>>),
}

enum TokenGuard<'py> {
    U16(PyReadonlyArray1<'py, u16>),
    U32(PyReadonlyArray1<'py, u32>),
}

/// `a` itself when nothing in this process can change its values (a read-only view of a
/// read-only buffer: a shard memory-mapped with `mmap_mode="r"`), else a copy. The shards
/// are validated once, when the corpus is made; offsets changed after that (an array the
/// caller still writes to, or one whose owner can be made writeable again) would send the
/// instance builder out of bounds or into allocations of any size.
fn frozen<T: numpy::Element + Copy>(a: &Bound<'_, PyArray1<T>>) -> PyResult<Py<PyArray1<T>>> {
    let unchangeable = || -> PyResult<bool> {
        if a.getattr("flags")?.getattr("writeable")?.extract::<bool>()? {
            return Ok(false);
        }
        let mut base = a.getattr("base")?;
        while let Ok(array) = base.cast::<numpy::PyUntypedArray>() {
            if array.getattr("flags")?.getattr("owndata")?.extract::<bool>()? {
                return Ok(false); // (its owner's flag can be set back)
            }
            base = array.getattr("base")?;
        }
        if base.is_none() {
            return Ok(false); // (an array owning its data: the same)
        }
        let view = base.py().import("builtins")?.getattr("memoryview")?.call1((&base,));
        Ok(view.and_then(|v| v.getattr("readonly")?.extract::<bool>()).unwrap_or(false))
    };
    if unchangeable()? {
        Ok(a.clone().unbind())
    } else {
        Ok(a.readonly().as_array().to_owned().into_pyarray(a.py()).unbind())
    }
}

/// Shards (token ids with sentence and document offsets, typically memory-mapped), checked
/// once when the corpus is made. Arrays the caller could still change are copied first.
#[pyclass(module = "lexforge._core", frozen)]
pub(crate) struct ShardCorpus {
    shards: Vec<ShardArrays>,
    /// Whether each shard's first document continues the shard before's last.
    continues: Vec<bool>,
    n_docs: u64,
    /// The vocabulary the tokens were checked against.
    vocab_size: u32,
}

impl ShardCorpus {
    /// Runs `f` on a view of the shards, the GIL released.
    fn with_view<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&Corpus<'_>) -> R + Send,
    ) -> PyResult<R> {
        let mut guards = Vec::with_capacity(self.shards.len());
        for (tokens, sentences, documents) in &self.shards {
            let t = match tokens {
                TokenArray::U16(a) => TokenGuard::U16(a.bind(py).readonly()),
                TokenArray::U32(a) => TokenGuard::U32(a.bind(py).readonly()),
            };
            guards.push((t, sentences.bind(py).readonly(), documents.bind(py).readonly()));
        }
        let contiguous = |_| to_py(Error::Config("shard arrays must be contiguous".into()));
        let mut shards = Vec::with_capacity(guards.len());
        for (t, s, d) in &guards {
            let tokens = match t {
                TokenGuard::U16(a) => Tokens::U16(a.as_slice().map_err(contiguous)?),
                TokenGuard::U32(a) => Tokens::U32(a.as_slice().map_err(contiguous)?),
            };
            shards.push(Shard {
                tokens,
                sentences: s.as_slice().map_err(contiguous)?,
                documents: d.as_slice().map_err(contiguous)?,
            });
        }
        let corpus = Corpus::new(shards).continuing(&self.continues);
        Ok(py.detach(|| f(&corpus)))
    }
}

#[pymethods]
impl ShardCorpus {
    /// `shards`: `(name, tokens (uint16 or uint32), sentence_offsets (int64),
    /// document_offsets (int64))` per shard; each is validated against `vocab_size`.
    /// `continues[k]`: shard `k`'s first document continues shard `k - 1`'s last (one
    /// document of the source; never a pair of "other" documents for NSP).
    #[new]
    #[pyo3(signature = (shards, vocab_size, continues=None))]
    fn new(
        py: Python<'_>,
        shards: Vec<ShardArgs<'_>>,
        vocab_size: u32,
        continues: Option<Vec<bool>>,
    ) -> PyResult<Self> {
        let continues = continues.unwrap_or_else(|| vec![false; shards.len()]);
        if continues.len() != shards.len() {
            return Err(to_py(Error::Config(format!(
                "continues has {} entries for {} shards; give one per shard",
                continues.len(),
                shards.len()
            ))));
        }
        let mut kept = Vec::with_capacity(shards.len());
        let mut names = Vec::with_capacity(shards.len());
        for (name, tokens, sentences, documents) in shards {
            let tokens = if let Ok(a) = tokens.cast::<PyArray1<u16>>() {
                TokenArray::U16(frozen(a)?)
            } else if let Ok(a) = tokens.cast::<PyArray1<u32>>() {
                TokenArray::U32(frozen(a)?)
            } else {
                return Err(to_py(Error::Shard(format!(
                    "shard {name}: tokens must be a 1-D uint16 or uint32 array"
                ))));
            };
            kept.push((tokens, frozen(&sentences)?, frozen(&documents)?));
            names.push(name);
        }
        let mut corpus = ShardCorpus { shards: kept, continues, n_docs: 0, vocab_size };
        let checked = corpus.with_view(py, |c| {
            (0..c.n_shards()).try_for_each(|k| c.shard(k).validate(&names[k], vocab_size))?;
            Ok::<u64, Error>(c.n_source_docs())
        })?;
        corpus.n_docs = checked.map_err(to_py)?;
        Ok(corpus)
    }

    /// The number of documents (one cut across shards counted once).
    #[getter]
    fn n_docs(&self) -> u64 {
        self.n_docs
    }

    #[getter]
    fn n_shards(&self) -> usize {
        self.shards.len()
    }

    /// The instances of shard `shard` for epoch `epoch`, shuffled.
    /// `continuation_ids`: the ids of tokens that continue the word before them, so that a
    /// sentence cut in two is cut where a word starts.
    #[pyo3(signature = (shard, epoch, max_seq_len, short_seq_prob, objective, seed, num_threads=None, continuation_ids=None))]
    #[allow(clippy::too_many_arguments)]
    fn build_block(
        &self,
        py: Python<'_>,
        shard: usize,
        epoch: u64,
        max_seq_len: usize,
        short_seq_prob: f64,
        objective: &str,
        seed: u64,
        num_threads: Option<usize>,
        continuation_ids: Option<Vec<u32>>,
    ) -> PyResult<InstanceBlock> {
        let objective = match objective {
            "nsp" => Objective::Nsp,
            "sop" => Objective::Sop,
            "none" => Objective::None,
            other => {
                return Err(to_py(Error::Config(format!(
                    "objective must be 'nsp', 'sop' or 'none', got {other:?}"
                ))))
            }
        };
        // (a table by id: an id past the vocabulary, 2^32 - 1 say, sized it at 4 GiB)
        if let Some(&id) = continuation_ids.iter().flatten().find(|&&id| id >= self.vocab_size) {
            return Err(to_py(Error::Config(format!(
                "continuation_ids holds {id}, outside the vocabulary (0..{}); give the ids of \
                 the tokenizer whose tokens the shards hold",
                self.vocab_size
            ))));
        }
        let table = continuation_ids.map(|ids| {
            let mut table = vec![false; ids.iter().max().map_or(0, |&m| m as usize + 1)];
            ids.iter().for_each(|&id| table[id as usize] = true);
            table
        });
        let continuation = table.as_deref();
        let opts = InstanceOptions { max_seq_len, short_seq_prob, objective, seed, continuation };
        let built = self.with_view(py, |c| {
            let instances = build_block(c, shard, epoch, &opts, num_threads)?;
            let lengths = instances.iter().map(|i| c.framed_len(i) as u32).collect();
            Ok::<_, Error>((instances, lengths))
        })?;
        let (instances, lengths) = built.map_err(to_py)?;
        Ok(InstanceBlock { instances, lengths })
    }

    /// Rows for `parts` (`(block, start, end)`: instances `start..end` of each block, in
    /// order), padded to `width` (None: the longest row, rounded up to `multiple_of`):
    /// a dict of int64 arrays input_ids, token_type_ids, attention_mask (rows, width) and
    /// labels (rows,), and of uint8 sentence_starts (rows, width: 1 at the first token of
    /// every sentence of the shards).
    #[pyo3(signature = (parts, cls, sep, pad, width=None, multiple_of=1))]
    #[allow(clippy::too_many_arguments)]
    fn materialize<'py>(
        &self,
        py: Python<'py>,
        parts: Vec<(PyRef<'py, InstanceBlock>, usize, usize)>,
        cls: u32,
        sep: u32,
        pad: u32,
        width: Option<usize>,
        multiple_of: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut chosen: Vec<Instance> = Vec::new();
        let mut longest = 0usize;
        for (block, start, end) in &parts {
            let (start, end) = (*start, *end);
            if start > end || end > block.instances.len() {
                return Err(to_py(Error::Config(format!(
                    "instances {start}..{end} are outside the block of {}",
                    block.instances.len()
                ))));
            }
            chosen.extend_from_slice(&block.instances[start..end]);
            longest =
                longest.max(block.lengths[start..end].iter().copied().max().unwrap_or(0) as usize);
        }
        let width = match width {
            Some(w) => Some(w),
            None => longest.div_ceil(multiple_of.max(1)).checked_mul(multiple_of.max(1)),
        };
        let n = chosen.len();
        // three int64 arrays and one uint8 array of (rows, width)
        let what =
            format!("{n} rows of width {}", width.map_or("past usize".into(), |w| w.to_string()));
        // (a row at least: an empty array's row stride is the width too)
        check_room(width.and_then(|w| w.checked_mul(n.max(1))), 25, &what).map_err(to_py)?;
        let width = width.unwrap_or(0); // (checked above)
        let mut ids = Buffer::<i64>::take(n * width);
        let mut types = Buffer::<i64>::take(n * width);
        let mut attention = Buffer::<i64>::take(n * width);
        let mut starts = Buffer::<u8>::take(n * width);
        let mut labels = vec![0i64; n];
        let framing = Framing { cls, sep, pad };
        let done = {
            let columns = Columns {
                input_ids: ids.as_mut_slice(),
                token_type_ids: types.as_mut_slice(),
                attention_mask: attention.as_mut_slice(),
                sentence_starts: starts.as_mut_slice(),
                labels: &mut labels,
            };
            self.with_view(py, |c| materialize_into(c, &chosen, framing, width, columns))?
        };
        done.map_err(to_py)?;
        let out = PyDict::new(py);
        out.set_item("input_ids", ids.into_array(py, (n, width))?)?;
        out.set_item("token_type_ids", types.into_array(py, (n, width))?)?;
        out.set_item("attention_mask", attention.into_array(py, (n, width))?)?;
        out.set_item("sentence_starts", starts.into_array(py, (n, width))?)?;
        out.set_item("labels", labels.into_pyarray(py))?;
        Ok(out)
    }
}

/// The instances of one shard for one epoch, in order (see `ShardCorpus.build_block`).
#[pyclass(module = "lexforge._core", frozen)]
pub(crate) struct InstanceBlock {
    instances: Vec<Instance>,
    lengths: Vec<u32>,
}

#[pymethods]
impl InstanceBlock {
    fn __len__(&self) -> usize {
        self.instances.len()
    }

    /// Row lengths (tokens and special tokens) of the instances.
    fn lengths<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        self.lengths.clone().into_pyarray(py)
    }

    /// Pair labels (-1 without a pair objective).
    fn labels<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i8>> {
        self.instances.iter().map(|i| i.label).collect::<Vec<i8>>().into_pyarray(py)
    }

    /// `(shard, start, end)` token ranges of segments A and B of each instance, as an
    /// (n, 6) int64 array (for inspection and tests).
    fn spans<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, numpy::PyArray2<i64>>> {
        let flat: Vec<i64> = self
            .instances
            .iter()
            .flat_map(|i| {
                [
                    i.a.shard as i64,
                    i.a.start as i64,
                    i.a.end as i64,
                    i.b.shard as i64,
                    i.b.start as i64,
                    i.b.end as i64,
                ]
            })
            .collect();
        numpy::ndarray::Array2::from_shape_vec((self.instances.len(), 6), flat)
            .map(|a| a.into_pyarray(py))
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))
    }
}
