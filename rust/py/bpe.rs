//! `lexforge._core.Bpe`: the byte-level BPE model as seen from Python.

use std::sync::Arc;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::batch::{
    arrays, id_lists, options, padding, parts, with_texts, IntTable, PaddingArg, PartsArg,
    TextsArg, TruncationArg,
};
use super::errors::to_py;
use super::hf_tables::{write_byte_level, ByteLevelTables};
use crate::bpe::encode::Trim;
use crate::bpe::prepared::{PrefixSpace, Prep};
use crate::bpe::{BpeModel, MergeRule};
use crate::normalize::Normalizer;
use crate::postprocess::{Batch, Options, Seq, Template};
use crate::pretokenize::Pretokenizer;
use crate::special::{Policy, Selection};

/// A byte-level BPE model. Build it with `from_merges`, `from_ranks` or `train_bpe`.
#[pyclass(module = "lexforge._core", name = "Bpe", frozen)]
pub(crate) struct Bpe {
    pub(crate) inner: Arc<BpeModel>,
    /// One Python int per id, shared by every returned list.
    ints: IntTable,
}

/// Texts per parallel round of `encode_batch`: bounds the memory held by ids not yet
/// converted to Python lists.
const BATCH_BYTES: usize = 8 << 20;

/// Token ids as Python passes them: a NumPy array or any sequence of ints.
pub(crate) enum Ids<'py> {
    I64(PyReadonlyArray1<'py, i64>),
    U32(PyReadonlyArray1<'py, u32>),
    I32(PyReadonlyArray1<'py, i32>),
    List(Vec<i64>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for Ids<'py> {
    type Error = PyErr;

    /// A list first, then each array dtype by a cheap cast (a derived extraction built a
    /// formatted error for each variant it tried: three of them, 3 us, for every list),
    /// then any sequence. Any failure is a `TypeError`.
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let obj = obj.to_owned();
        let readonly = |e: numpy::BorrowError| PyTypeError::new_err(e.to_string());
        if !obj.is_instance_of::<PyList>() {
            if let Ok(a) = obj.cast::<PyArray1<i64>>() {
                return Ok(Ids::I64(a.try_readonly().map_err(readonly)?));
            }
            if let Ok(a) = obj.cast::<PyArray1<u32>>() {
                return Ok(Ids::U32(a.try_readonly().map_err(readonly)?));
            }
            if let Ok(a) = obj.cast::<PyArray1<i32>>() {
                return Ok(Ids::I32(a.try_readonly().map_err(readonly)?));
            }
        }
        obj.extract::<Vec<i64>>().map(Ids::List).map_err(|e| PyTypeError::new_err(e.to_string()))
    }
}

impl Ids<'_> {
    fn to_vec(&self) -> Vec<i64> {
        match self {
            Ids::I64(a) => a.as_array().iter().copied().collect(),
            Ids::U32(a) => a.as_array().iter().map(|&x| i64::from(x)).collect(),
            Ids::I32(a) => a.as_array().iter().map(|&x| i64::from(x)).collect(),
            Ids::List(v) => v.clone(),
        }
    }
}

type IdsAndOffsets<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray2<i64>>);
type FlatBatch<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<i64>>);

fn selection(indices: Option<Vec<usize>>) -> Selection {
    indices.map_or(Selection::All, Selection::Some)
}

fn token_list(tokens: Vec<(Bound<'_, PyBytes>, u32)>) -> Vec<(Vec<u8>, u32)> {
    tokens.into_iter().map(|(b, id)| (b.as_bytes().to_vec(), id)).collect()
}

/// `model` with its added tokens (not special), the flags of its added tokens and its
/// normalizer and prefix space: the steps `from_merges` and `from_ranks` share.
fn finish(
    mut model: BpeModel,
    added_tokens: Vec<(String, u32)>,
    flags: &[(u32, crate::special::Flags)],
    prep: Prep,
) -> PyResult<Bpe> {
    if !added_tokens.is_empty() || !flags.is_empty() {
        model.set_added_tokens(added_tokens, flags).map_err(to_py)?;
    }
    if prep.is_active() {
        // after the added tokens: their normalized forms come from the normalizer
        model.set_prep(prep).map_err(to_py)?;
    }
    Ok(Bpe::new(model))
}

impl Bpe {
    pub(crate) fn new(model: BpeModel) -> Self {
        let ints = IntTable::new(model.vocab_size() as usize);
        Bpe { inner: Arc::new(model), ints }
    }

    fn list<'py>(&self, py: Python<'py>, ids: &[u32]) -> PyResult<Bound<'py, PyList>> {
        self.ints.get(py)?.list(py, ids)
    }

    fn policy(
        &self,
        allowed: Option<Vec<usize>>,
        disallowed: Option<Vec<usize>>,
    ) -> PyResult<Policy<'_>> {
        self.inner.specials().policy(&selection(allowed), &selection(disallowed)).map_err(to_py)
    }

    fn encode_vec(
        &self,
        py: Python<'_>,
        text: &str,
        allowed: Option<Vec<usize>>,
        disallowed: Option<Vec<usize>>,
    ) -> PyResult<Vec<u32>> {
        let policy = self.policy(allowed, disallowed)?;
        py.detach(|| {
            let mut ids = Vec::with_capacity(text.len() / 3 + 1);
            self.inner.encode_text(text, &policy, 0, &mut ids).map(|()| ids)
        })
        .map_err(to_py)
    }
}

/// A template `(single, pair)` as Python passes it.
type TemplateArg = (PartsArg, PartsArg);

impl Bpe {
    #[allow(clippy::too_many_arguments)]
    fn rows(
        &self,
        py: Python<'_>,
        texts: &TextsArg,
        pairs: Option<&TextsArg>,
        allowed: Option<Vec<usize>>,
        disallowed: Option<Vec<usize>>,
        template: Option<TemplateArg>,
        opts: &Options,
        trim: Option<bool>,
        num_threads: Option<usize>,
    ) -> PyResult<Batch> {
        let policy = self.policy(allowed, disallowed)?;
        let template = match template {
            Some((single, pair)) => Template { single: parts(single)?, pair: parts(pair)? },
            None => Template::none(),
        };
        let trim = trim.map(|add_prefix_space| Trim { add_prefix_space });
        py.detach(|| {
            with_texts(texts, pairs, |a, b| {
                self.inner.encode_rows(a, b, &policy, &template, opts, trim, num_threads)
            })
        })
        .map_err(to_py)
    }
}

#[pymethods]
impl Bpe {
    /// Builds a model from a vocabulary `[(token_bytes, id)]`, ordered merges
    /// `[(left_bytes, right_bytes)]`, special tokens `[(text, id)]` and a pattern;
    /// `added_tokens`: added tokens that are not special, `[(text, id)]` (an id may be a
    /// vocabulary token's: it decodes as that token); `lstrip`, `rstrip`, `single_word`,
    /// `normalized`: the ids of the added tokens (special or not) with that flag (HF's
    /// `AddedToken` options; `lstrip`: the token takes the whitespace before it);
    /// `normalizer`: HF's normalizer as step names (`"NFC"`, `"NFD"`, `"NFKC"`, `"NFKD"`,
    /// `"Lowercase"`, `"Strip"`, `"StripLeft"`, `"StripRight"`), applied in order;
    /// `add_prefix_space`: HF's ByteLevel option, a space before text that does not start
    /// with one: `"text"` (before each piece between added tokens: ByteLevel with its
    /// regex), `"pretoken"` (before each pre-token: ByteLevel after a Split) or `""`.
    /// `vocab` may instead be the `ByteLevelTables` of `read_byte_level`, with `merges`
    /// empty: the vocabulary and merges it holds.
    #[staticmethod]
    #[pyo3(signature = (vocab, merges, specials, pattern, ignore_merges=false, lstrip=Vec::new(), added_tokens=Vec::new(), rstrip=Vec::new(), single_word=Vec::new(), normalized=Vec::new(), normalizer=Vec::new(), add_prefix_space=""))]
    #[allow(clippy::too_many_arguments)]
    fn from_merges(
        py: Python<'_>,
        vocab: &Bound<'_, PyAny>,
        merges: Vec<(Bound<'_, PyBytes>, Bound<'_, PyBytes>)>,
        specials: Vec<(String, u32)>,
        pattern: &str,
        ignore_merges: bool,
        lstrip: Vec<u32>,
        added_tokens: Vec<(String, u32)>,
        rstrip: Vec<u32>,
        single_word: Vec<u32>,
        normalized: Vec<u32>,
        normalizer: Vec<String>,
        add_prefix_space: &str,
    ) -> PyResult<Self> {
        let normalizer = Normalizer::parse(&normalizer).map_err(to_py)?;
        let prefix_space = PrefixSpace::parse(add_prefix_space).map_err(to_py)?;
        let (vocab, merges) = match vocab.cast::<ByteLevelTables>() {
            Ok(tables) if merges.is_empty() => tables.get().take()?,
            Ok(_) => return Err(PyTypeError::new_err("merges must be empty with ByteLevelTables")),
            Err(_) => {
                let merges = merges
                    .into_iter()
                    .map(|(a, b)| (a.as_bytes().to_vec(), b.as_bytes().to_vec()))
                    .collect();
                (token_list(vocab.extract()?), merges)
            }
        };
        let pretok = Pretokenizer::new(pattern).map_err(to_py)?;
        let model = py
            .detach(|| BpeModel::from_merges(vocab, &merges, specials, pretok, ignore_merges))
            .map_err(to_py)?;
        let flags = super::bert::flag_list(&lstrip, &rstrip, &single_word, &normalized);
        finish(model, added_tokens, &flags, Prep { normalizer, prefix_space })
    }

    /// Builds a model from tiktoken ranks `[(token_bytes, rank)]` (rank = id = priority);
    /// the other arguments as for `from_merges`.
    #[staticmethod]
    #[pyo3(signature = (ranks, specials, pattern, lstrip=Vec::new(), added_tokens=Vec::new(), rstrip=Vec::new(), single_word=Vec::new(), normalized=Vec::new(), normalizer=Vec::new(), add_prefix_space=""))]
    #[allow(clippy::too_many_arguments)]
    fn from_ranks(
        py: Python<'_>,
        ranks: Vec<(Bound<'_, PyBytes>, u32)>,
        specials: Vec<(String, u32)>,
        pattern: &str,
        lstrip: Vec<u32>,
        added_tokens: Vec<(String, u32)>,
        rstrip: Vec<u32>,
        single_word: Vec<u32>,
        normalized: Vec<u32>,
        normalizer: Vec<String>,
        add_prefix_space: &str,
    ) -> PyResult<Self> {
        let normalizer = Normalizer::parse(&normalizer).map_err(to_py)?;
        let prefix_space = PrefixSpace::parse(add_prefix_space).map_err(to_py)?;
        let ranks = token_list(ranks);
        let pretok = Pretokenizer::new(pattern).map_err(to_py)?;
        let model = py.detach(|| BpeModel::from_ranks(ranks, specials, pretok)).map_err(to_py)?;
        let flags = super::bert::flag_list(&lstrip, &rstrip, &single_word, &normalized);
        finish(model, added_tokens, &flags, Prep { normalizer, prefix_space })
    }

    /// Pickling and `copy`: the constructor (`from_merges`, or `from_ranks` for a tiktoken
    /// model) and the arguments that rebuild this model.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let me = slf.get();
        let m = &me.inner;
        let bytes = |id: u32| -> PyResult<Bound<'py, PyBytes>> {
            let b = m.token_bytes(id).ok_or_else(|| {
                PyRuntimeError::new_err(format!("merge part {id} is not a token"))
            })?;
            Ok(PyBytes::new(py, b))
        };
        let pretok = m.pretokenizer();
        let pattern = pretok.preset().unwrap_or_else(|| pretok.pattern());
        let flag = |name: &str| super::bert::flagged(m.specials(), name);
        let mut args: Vec<Bound<'py, PyAny>> = vec![me.vocab(py).into_pyobject(py)?.into_any()];
        let ctor = match m.rule() {
            MergeRule::MergeList => {
                let merges = m
                    .merges()
                    .iter()
                    .map(|&(a, b)| Ok((bytes(a)?, bytes(b)?)))
                    .collect::<PyResult<Vec<_>>>()?;
                args.push(merges.into_pyobject(py)?.into_any());
                "from_merges"
            }
            MergeRule::Ranks => "from_ranks",
        };
        args.push(me.specials().into_pyobject(py)?.into_any());
        args.push(pattern.into_pyobject(py)?.into_any());
        if ctor == "from_merges" {
            args.push(m.ignore_merges().into_pyobject(py)?.to_owned().into_any());
        }
        args.push(flag("lstrip")?.into_pyobject(py)?.into_any());
        args.push(me.added_tokens().into_pyobject(py)?.into_any());
        for name in ["rstrip", "single_word", "normalized"] {
            args.push(flag(name)?.into_pyobject(py)?.into_any());
        }
        args.push(me.normalizer().into_pyobject(py)?.into_any());
        args.push(me.add_prefix_space().into_pyobject(py)?.into_any());
        Ok((slf.get_type().getattr(ctor)?, PyTuple::new(py, args)?))
    }

    /// Encodes one text. `allowed`/`disallowed`: indices into `specials()`, `None` = all.
    #[pyo3(signature = (text, allowed=None, disallowed=None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed: Option<Vec<usize>>,
        disallowed: Option<Vec<usize>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let ids = self.encode_vec(py, text, allowed, disallowed)?;
        self.list(py, &ids)
    }

    /// Like `encode`, returning a uint32 NumPy array (no copy).
    #[pyo3(signature = (text, allowed=None, disallowed=None))]
    fn encode_array<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed: Option<Vec<usize>>,
        disallowed: Option<Vec<usize>>,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        Ok(self.encode_vec(py, text, allowed, disallowed)?.into_pyarray(py))
    }

    /// Encodes one text and returns `(ids, offsets)`: uint32 `(n,)` and int64 `(n, 2)`
    /// character offsets `[start, end)` into `text`; `trim` (`add_prefix_space`) trims
    /// them as HF's ByteLevel post-processor with `trim_offsets` does.
    #[pyo3(signature = (text, allowed=None, disallowed=None, trim=None))]
    fn encode_with_offsets<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed: Option<Vec<usize>>,
        disallowed: Option<Vec<usize>>,
        trim: Option<bool>,
    ) -> PyResult<IdsAndOffsets<'py>> {
        let policy = self.policy(allowed, disallowed)?;
        let trim = trim.map(|add_prefix_space| Trim { add_prefix_space });
        let mut seq = Seq::default();
        py.detach(|| self.inner.encode_seq(text, &policy, 0, trim, &mut seq)).map_err(to_py)?;
        let flat: Vec<i64> = seq.offsets.iter().flat_map(|&(s, e)| [s as i64, e as i64]).collect();
        let offsets = Array2::from_shape_vec((seq.ids.len(), 2), flat)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok((seq.ids.into_pyarray(py), offsets.into_pyarray(py)))
    }

    /// Id lists of a batch of texts (or pairs) as model inputs: framed by `template`
    /// (`(single, pair)` pieces; `None`: none, a pair back to back), truncated (overflow
    /// windows as extra rows) and padded as asked; and each row's input.
    #[pyo3(signature = (texts, pairs=None, allowed=None, disallowed=None, template=None, add_special_tokens=true, truncation=None, padding=None, overflow=false, num_threads=None, words=false))]
    #[allow(clippy::too_many_arguments)]
    fn encode_batch_lists<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        pairs: Option<&Bound<'py, PyAny>>,
        allowed: Option<Vec<usize>>,
        disallowed: Option<Vec<usize>>,
        template: Option<TemplateArg>,
        add_special_tokens: bool,
        truncation: Option<TruncationArg>,
        padding: Option<PaddingArg>,
        overflow: bool,
        num_threads: Option<usize>,
        words: bool,
    ) -> PyResult<(Bound<'py, PyList>, Vec<u32>)> {
        let opts = options(add_special_tokens, truncation, overflow)?;
        let pad = self::padding(padding)?;
        let texts = TextsArg::extract(texts, words)?;
        let pairs = pairs.map(|p| TextsArg::extract(p, words)).transpose()?;
        let rows = self.rows(
            py,
            &texts,
            pairs.as_ref(),
            allowed,
            disallowed,
            template,
            &opts,
            None,
            num_threads,
        )?;
        id_lists(py, &rows, pad, &self.ints)
    }

    /// A batch as model inputs (see `encode_batch_lists`) in int64 NumPy arrays: the
    /// requested `fields` (BertTokenizer.encode_batch_arrays' names) and
    /// overflow_to_sample_mapping; offsets trimmed as `trim` says (see
    /// `encode_with_offsets`).
    #[pyo3(signature = (texts, fields, pairs=None, allowed=None, disallowed=None, template=None, add_special_tokens=true, truncation=None, padding=None, overflow=false, trim=None, num_threads=None, words=false))]
    #[allow(clippy::too_many_arguments)]
    fn encode_batch_arrays<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        fields: Vec<String>,
        pairs: Option<&Bound<'py, PyAny>>,
        allowed: Option<Vec<usize>>,
        disallowed: Option<Vec<usize>>,
        template: Option<TemplateArg>,
        add_special_tokens: bool,
        truncation: Option<TruncationArg>,
        padding: Option<PaddingArg>,
        overflow: bool,
        trim: Option<bool>,
        num_threads: Option<usize>,
        words: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        super::numpy_ready(py)?;
        let opts = options(add_special_tokens, truncation, overflow)?;
        let pad = self::padding(padding)?;
        let texts = TextsArg::extract(texts, words)?;
        let pairs = pairs.map(|p| TextsArg::extract(p, words)).transpose()?;
        let rows = self.rows(
            py,
            &texts,
            pairs.as_ref(),
            allowed,
            disallowed,
            template,
            &opts,
            trim,
            num_threads,
        )?;
        arrays(py, &rows, &fields, pad, num_threads)
    }

    /// Encodes arbitrary bytes (invalid UTF-8 included); returns a list of ids.
    #[pyo3(signature = (data, allowed=None, disallowed=None))]
    fn encode_bytes<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        allowed: Option<Vec<usize>>,
        disallowed: Option<Vec<usize>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let policy = self.policy(allowed, disallowed)?;
        let ids = py
            .detach(|| {
                let mut ids = Vec::with_capacity(data.len() / 3 + 1);
                self.inner.encode_bytes(data, &policy, &mut ids).map(|()| ids)
            })
            .map_err(to_py)?;
        self.list(py, &ids)
    }

    /// Encodes many texts in parallel; a list of lists, or of uint32 arrays with `as_arrays`.
    #[pyo3(signature = (texts, allowed=None, disallowed=None, num_threads=None, as_arrays=false))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<PyBackedStr>,
        allowed: Option<Vec<usize>>,
        disallowed: Option<Vec<usize>>,
        num_threads: Option<usize>,
        as_arrays: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        if as_arrays {
            super::numpy_ready(py)?;
        }
        let policy = self.policy(allowed, disallowed)?;
        // Rounds of about BATCH_BYTES: while this thread turns round k into Python objects
        // (which needs the GIL), a helper thread encodes round k + 1 in parallel. With one
        // thread requested, the rounds run one after the other on this thread.
        let pipelined = crate::parallel::resolve_threads(num_threads) > 1;
        let mut rounds = Vec::new();
        let mut start = 0;
        while start < texts.len() {
            let mut end = start;
            let mut size = 0;
            while end < texts.len() && (end == start || size < BATCH_BYTES) {
                size += texts[end].len();
                end += 1;
            }
            rounds.push((start, end));
            start = end;
        }
        let refs: Vec<&str> = texts.iter().map(|t| &**t).collect();
        let (model, refs, policy) = (&*self.inner, &refs[..], &policy);
        let out = PyList::empty(py);
        std::thread::scope(|scope| -> PyResult<()> {
            let work = move |(start, end): (usize, usize)| {
                model
                    .encode_batch(&refs[start..end], policy, num_threads)
                    .map_err(|e| e.offset_text_index(start))
            };
            let spawn = |r: (usize, usize)| scope.spawn(move || work(r));
            // one round: no helper thread to overlap with (spawning one costs more than a
            // few sentences)
            let pipelined = pipelined && rounds.len() > 1;
            let mut pending = if pipelined { rounds.first().map(|&r| spawn(r)) } else { None };
            for k in 0..rounds.len() {
                let round = match pending.take() {
                    Some(handle) => {
                        let joined = py.detach(|| handle.join());
                        pending = rounds.get(k + 1).map(|&r| spawn(r));
                        joined
                            .map_err(|_| PyRuntimeError::new_err("an encoding thread panicked"))?
                    }
                    None => py.detach(|| work(rounds[k])),
                }
                .map_err(to_py)?;
                py.check_signals()?; // a Ctrl-C meanwhile: raised before any array is made
                let _gc = super::GcPause::new(py);
                for ids in round {
                    if as_arrays {
                        out.append(ids.into_pyarray(py))?;
                    } else {
                        out.append(self.list(py, &ids)?)?;
                    }
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Encodes many texts into one flat uint32 array plus int64 boundaries `cu` of length
    /// `len(texts) + 1`: text `i` is `ids[cu[i]:cu[i + 1]]`.
    #[pyo3(signature = (texts, allowed=None, disallowed=None, num_threads=None))]
    fn encode_batch_flat<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<PyBackedStr>,
        allowed: Option<Vec<usize>>,
        disallowed: Option<Vec<usize>>,
        num_threads: Option<usize>,
    ) -> PyResult<FlatBatch<'py>> {
        super::numpy_ready(py)?;
        let policy = self.policy(allowed, disallowed)?;
        let refs: Vec<&str> = texts.iter().map(|t| &**t).collect();
        let (flat, cu) = py
            .detach(|| {
                let all = self.inner.encode_batch(&refs, &policy, num_threads)?;
                let mut cu = Vec::with_capacity(all.len() + 1);
                cu.push(0i64);
                let total: usize = all.iter().map(Vec::len).sum();
                let mut flat = Vec::with_capacity(total);
                for ids in all {
                    flat.extend_from_slice(&ids);
                    cu.push(flat.len() as i64);
                }
                Ok((flat, cu))
            })
            .map_err(to_py)?;
        py.check_signals()?; // a Ctrl-C meanwhile: raised now, not inside the arrays' making
        Ok((flat.into_pyarray(py), cu.into_pyarray(py)))
    }

    /// The bytes of a sequence of ids (special tokens decode to their text).
    fn decode_bytes<'py>(&self, py: Python<'py>, ids: Ids<'_>) -> PyResult<Bound<'py, PyBytes>> {
        let ids = ids.to_vec();
        let mut out = Vec::with_capacity(ids.len() * 4);
        let decode = |out: &mut Vec<u8>| self.inner.decode_into(ids.iter().copied(), out);
        if ids.len() < 1 << 12 {
            decode(&mut out) // microseconds: releasing the GIL would cost more
        } else {
            py.detach(|| decode(&mut out))
        }
        .map_err(to_py)?;
        Ok(PyBytes::new(py, &out))
    }

    /// The text of a sequence of vocabulary ids, bytes that are not UTF-8 read as U+FFFD
    /// (Python's `errors="replace"`), or `None` when one is an added token (special or
    /// not), whose text the caller reads its own way.
    fn decode_plain<'py>(
        &self,
        py: Python<'py>,
        ids: Ids<'_>,
    ) -> PyResult<Option<Bound<'py, PyString>>> {
        let ids = ids.to_vec();
        let mut out = Vec::with_capacity(ids.len() * 4);
        let decode = |out: &mut Vec<u8>| self.inner.decode_vocab_into(ids.iter().copied(), out);
        let plain =
            if ids.len() < 1 << 12 { decode(&mut out) } else { py.detach(|| decode(&mut out)) };
        if !plain.map_err(to_py)? {
            return Ok(None);
        }
        Ok(Some(PyString::new(py, &String::from_utf8_lossy(&out))))
    }

    /// The bytes of one token, or `None` if the id is not a mergeable token.
    fn token_bytes<'py>(&self, py: Python<'py>, id: u32) -> Option<Bound<'py, PyBytes>> {
        self.inner.token_bytes(id).map(|b| PyBytes::new(py, b))
    }

    /// The id of a mergeable token given by its bytes, or `None`.
    fn token_id(&self, token: &[u8]) -> Option<u32> {
        self.inner.token_id(token)
    }

    /// Every mergeable token as `(bytes, id)`, in id order.
    fn vocab<'py>(&self, py: Python<'py>) -> Vec<(Bound<'py, PyBytes>, u32)> {
        self.inner.vocab().map(|(id, b)| (PyBytes::new(py, b), id)).collect()
    }

    /// The merges as `(left_id, right_id)` in priority order. For a ranks model: every
    /// mergeable pair, sorted by (priority, left, right).
    fn merges(&self) -> Vec<(u32, u32)> {
        match self.inner.rule() {
            MergeRule::MergeList => self.inner.merges().to_vec(),
            MergeRule::Ranks => self.inner.pairs_by_priority(),
        }
    }

    /// This model with other special tokens `(text, id)`, added tokens that are not
    /// special, and the ids of the added tokens (of both kinds) with each of HF's options:
    /// the vocabulary, merges, pattern and normalizer kept (a copy of the tables, not a
    /// rebuild from them).
    #[pyo3(signature = (specials, added_tokens=Vec::new(), lstrip=Vec::new(), rstrip=Vec::new(), single_word=Vec::new(), normalized=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn with_tokens(
        &self,
        py: Python<'_>,
        specials: Vec<(String, u32)>,
        added_tokens: Vec<(String, u32)>,
        lstrip: Vec<u32>,
        rstrip: Vec<u32>,
        single_word: Vec<u32>,
        normalized: Vec<u32>,
    ) -> PyResult<Bpe> {
        let flags = super::bert::flag_list(&lstrip, &rstrip, &single_word, &normalized);
        let model =
            py.detach(|| self.inner.with_tokens(specials, added_tokens, &flags)).map_err(to_py)?;
        Ok(Bpe::new(model))
    }

    /// The number of the model's own tokens (the vocabulary's, not the added ones) and
    /// the largest of their ids.
    fn model_span(&self) -> (usize, Option<u32>) {
        let end = self.inner.tokens.iter().rposition(Option::is_some);
        (self.inner.ids.len(), end.map(|i| i as u32))
    }

    /// `vocab()` as `{byte-level token: id}` and `merges()` as `"left right"` lines of
    /// byte-level tokens: a `tokenizer.json`'s `model.vocab` and `model.merges`.
    fn byte_level_tables<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyList>)> {
        write_byte_level(py, self.inner.vocab(), &self.merges())
    }

    /// The special tokens as `(text, id)`.
    fn specials(&self) -> Vec<(String, u32)> {
        self.inner.specials().tokens().to_vec()
    }

    /// The ids of the added tokens that take the whitespace before them.
    fn lstrip(&self) -> Vec<u32> {
        self.inner.specials().lstrip_ids()
    }

    /// The added tokens that are not special, `(text, id)`.
    fn added_tokens(&self) -> Vec<(String, u32)> {
        self.inner.specials().added().to_vec()
    }

    /// The ids of the added tokens (special or not) with the flag `name`: "lstrip",
    /// "rstrip", "single_word" or "normalized".
    fn flagged(&self, name: &str) -> PyResult<Vec<u32>> {
        super::bert::flagged(self.inner.specials(), name)
    }

    /// The normalizer's steps (see `from_merges`), empty without one.
    #[getter]
    fn normalizer(&self) -> Vec<&'static str> {
        self.inner.prep().normalizer.steps().iter().map(|s| s.name()).collect()
    }

    /// `text` through the normalizer (an added token's form; no prefix space).
    fn normalize(&self, text: &str) -> String {
        self.inner.prep().normalizer.normalize(text)
    }

    /// HF's ByteLevel `add_prefix_space`: `"text"`, `"pretoken"` or `""` (see
    /// `from_merges`).
    #[getter]
    fn add_prefix_space(&self) -> &'static str {
        self.inner.prep().prefix_space.name()
    }

    /// The pre-tokenization regex.
    #[getter]
    fn pattern(&self) -> &str {
        self.inner.pretokenizer().pattern()
    }

    /// The preset name of the pattern (`"gpt2"`, `"cl100k"`, `"o200k"`), or `None`.
    #[getter]
    fn preset(&self) -> Option<&'static str> {
        self.inner.pretokenizer().preset()
    }

    /// One more than the largest id.
    #[getter]
    fn vocab_size(&self) -> u32 {
        self.inner.vocab_size()
    }

    /// `"merges"` (HF / GPT-2 merge list) or `"ranks"` (tiktoken).
    #[getter]
    fn rule(&self) -> &'static str {
        match self.inner.rule() {
            MergeRule::MergeList => "merges",
            MergeRule::Ranks => "ranks",
        }
    }

    /// HF's `ignore_merges` flag.
    #[getter]
    fn ignore_merges(&self) -> bool {
        self.inner.ignore_merges()
    }
}
