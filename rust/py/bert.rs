//! `lexforge._core.BertTokenizer`: the BERT text pipeline as seen from Python.

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::batch::{
    arrays, id_lists, options, padding, parts, unparts, with_texts, IntTable, PaddingArg, PartsArg,
    TextsArg, TruncationArg,
};
use super::errors::to_py;
use crate::bert::Normalized;
use crate::bert::{BertNormalizer, BertTokenizer, Pipeline, WordPiece};
use crate::error::Error;
use crate::postprocess::{Batch, Options, Part, Template};
use crate::special::{Flags, SpecialTokens};

/// A BERT-style WordPiece tokenizer with its normalizer, special tokens and templates.
#[pyclass(module = "lexforge._core", name = "BertTokenizer", frozen)]
pub(crate) struct PyBert {
    inner: BertTokenizer,
    /// One Python int per id, shared by every returned list.
    ints: IntTable,
}

impl PyBert {
    pub(crate) fn tokenizer(&self) -> &BertTokenizer {
        &self.inner
    }
}

impl PyBert {
    fn rows(
        &self,
        py: Python<'_>,
        texts: &TextsArg,
        pairs: Option<&TextsArg>,
        opts: &Options,
        num_threads: Option<usize>,
    ) -> PyResult<Batch> {
        let rows = py.detach(|| {
            with_texts(texts, pairs, |a, b| self.inner.encode_batch(a, b, opts, num_threads))
        });
        py.check_signals()?; // a Ctrl-C during the encoding: raised here, before any array
        rows.map_err(to_py)
    }
}

#[pymethods]
impl PyBert {
    /// Builds a tokenizer. `normalizer`: `(clean_text, handle_chinese_chars, strip_accents,
    /// lowercase)` or `None`; `specials`: special tokens found in text, `(text, id)`;
    /// templates: lists of `("special", id, type_id)`, `("A", 0, type_id)`, `("B", 0, type_id)`.
    /// `added`: how many of the last tokens of `vocab` are added tokens outside the model;
    /// `added_tokens`: the added tokens that are not special, `(text, id)`; `lstrip`,
    /// `rstrip`, `single_word`, `normalized`: the ids of the added tokens (special or not)
    /// with that flag (HF's `AddedToken` options). `steps`: HF's other normalizers
    /// (`"NFD"`, `"StripAccents"`... in order), only without `normalizer`; `splits`: the
    /// pre-tokenizers in order (`"BertPreTokenizer"`, `"Whitespace"`, `"WhitespaceSplit"`,
    /// `"Punctuation:Isolated"`, `"Digits:individual"`...; empty: none).
    #[new]
    #[pyo3(signature = (vocab, unk_token, prefix, max_input_chars_per_word, normalizer, specials, single, pair, added=0, added_tokens=Vec::new(), lstrip=Vec::new(), rstrip=Vec::new(), single_word=Vec::new(), normalized=Vec::new(), steps=Vec::new(), splits=vec!["BertPreTokenizer".to_string()]))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        vocab: Vec<String>,
        unk_token: &str,
        prefix: &str,
        max_input_chars_per_word: usize,
        normalizer: Option<(bool, bool, bool, bool)>,
        specials: Vec<(String, u32)>,
        single: PartsArg,
        pair: PartsArg,
        added: usize,
        added_tokens: Vec<(String, u32)>,
        lstrip: Vec<u32>,
        rstrip: Vec<u32>,
        single_word: Vec<u32>,
        normalized: Vec<u32>,
        steps: Vec<String>,
        splits: Vec<String>,
    ) -> PyResult<Self> {
        let pipeline = Pipeline::parse(&steps, &splits).map_err(to_py)?;
        if normalizer.is_some() && !pipeline.normalizer.is_empty() {
            return Err(to_py(Error::Config(
                "pass either BERT's normalizer or normalizer steps, not both".into(),
            )));
        }
        let model =
            WordPiece::with_added(vocab, added, unk_token, prefix, max_input_chars_per_word)
                .map_err(to_py)?;
        let n = model.len() as u32;
        let template = Template { single: parts(single)?, pair: parts(pair)? };
        for p in template.single.iter().chain(&template.pair) {
            if let Part::Special(id, _) = p {
                if *id >= n {
                    return Err(to_py(Error::Format(format!(
                        "template token id {id} is outside the vocabulary"
                    ))));
                }
            }
        }
        let normalizer =
            normalizer.map(|(clean_text, handle_chinese_chars, strip_accents, lowercase)| {
                BertNormalizer { clean_text, handle_chinese_chars, strip_accents, lowercase }
            });
        let added = (added_tokens, lstrip, rstrip, single_word, normalized);
        let specials = special_tokens(&model, normalizer.as_ref(), &pipeline, specials, added)?;
        let inner = BertTokenizer { normalizer, model, specials, template, pipeline };
        let ints = IntTable::new(inner.model.len());
        Ok(PyBert { inner, ints })
    }

    /// This tokenizer with `new` tokens past its last id (HF's `add_tokens`), and these
    /// special tokens, added tokens that are not special and ids with each of HF's
    /// options, as the constructor takes them (the new ones among them); the model's
    /// tables are shared, not built again.
    #[pyo3(signature = (new, specials, added_tokens=Vec::new(), lstrip=Vec::new(), rstrip=Vec::new(), single_word=Vec::new(), normalized=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn with_tokens(
        &self,
        new: Vec<String>,
        specials: Vec<(String, u32)>,
        added_tokens: Vec<(String, u32)>,
        lstrip: Vec<u32>,
        rstrip: Vec<u32>,
        single_word: Vec<u32>,
        normalized: Vec<u32>,
    ) -> PyResult<Self> {
        let t = &self.inner;
        let model = t.model.with_tokens(new).map_err(to_py)?;
        let added = (added_tokens, lstrip, rstrip, single_word, normalized);
        let specials = special_tokens(&model, t.normalizer.as_ref(), &t.pipeline, specials, added)?;
        let inner = BertTokenizer {
            normalizer: t.normalizer,
            model,
            specials,
            template: t.template.clone(),
            pipeline: t.pipeline.clone(),
        };
        let ints = IntTable::new(inner.model.len());
        Ok(PyBert { inner, ints })
    }

    /// Ids of one text (or pair), with the template's special tokens unless told otherwise.
    #[pyo3(signature = (text, pair=None, add_special_tokens=true))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: PyBackedStr,
        pair: Option<PyBackedStr>,
        add_special_tokens: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let pairs = pair.map(|p| TextsArg::Whole(vec![p]));
        let opts = Options { add_special_tokens, ..Options::default() };
        let rows = self.rows(py, &TextsArg::Whole(vec![text]), pairs.as_ref(), &opts, Some(1))?;
        let first = rows.rows().next().map(|(c, i)| c.ids_of(i)).unwrap_or_default();
        self.ints.get(py)?.list(py, first)
    }

    /// Id lists of a batch: truncated (with overflow windows as extra rows) and padded as
    /// asked; padding to a fixed length leaves longer rows as they are.
    /// With `words`, each text (and second text) is a list of words (HF's pretokenized
    /// input: each word encoded on its own, its tokens numbered by its index).
    #[pyo3(signature = (texts, pairs=None, add_special_tokens=true, truncation=None, padding=None, overflow=false, num_threads=None, words=false))]
    #[allow(clippy::too_many_arguments)]
    fn encode_batch_lists<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        pairs: Option<&Bound<'py, PyAny>>,
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
        let rows = self.rows(py, &texts, pairs.as_ref(), &opts, num_threads)?;
        // the collector paused only while the lists are built, the GIL held throughout
        // (paused across the encoding, other threads ran Python without it)
        let _gc = super::GcPause::new(py);
        id_lists(py, &rows, pad, &self.ints)
    }

    /// A batch as a dict of int64 NumPy arrays of shape (rows, length) (`offsets`: (rows,
    /// length, 2)), for the requested `fields` among input_ids, token_type_ids,
    /// attention_mask, special_tokens_mask, word_ids, offsets; plus
    /// overflow_to_sample_mapping (rows,). Rows of different lengths need padding. `words`:
    /// as in `encode_batch_lists`.
    #[pyo3(signature = (texts, fields, pairs=None, add_special_tokens=true, truncation=None, padding=None, overflow=false, num_threads=None, words=false))]
    #[allow(clippy::too_many_arguments)]
    fn encode_batch_arrays<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        fields: Vec<String>,
        pairs: Option<&Bound<'py, PyAny>>,
        add_special_tokens: bool,
        truncation: Option<TruncationArg>,
        padding: Option<PaddingArg>,
        overflow: bool,
        num_threads: Option<usize>,
        words: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        super::numpy_ready(py)?;
        let opts = options(add_special_tokens, truncation, overflow)?;
        let pad = self::padding(padding)?;
        let texts = TextsArg::extract(texts, words)?;
        let pairs = pairs.map(|p| TextsArg::extract(p, words)).transpose()?;
        let rows = self.rows(py, &texts, pairs.as_ref(), &opts, num_threads)?;
        arrays(py, &rows, &fields, pad, num_threads)
    }

    /// Every token by id.
    fn vocab<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.model.tokens().collect::<Vec<_>>())
    }

    /// The id of a token, or `None`.
    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.model.id(token)
    }

    /// The special tokens found in text, `(text, id)`.
    fn specials(&self) -> Vec<(String, u32)> {
        self.inner.specials.tokens().to_vec()
    }

    /// The added tokens that are not special, `(text, id)`.
    fn added_tokens(&self) -> Vec<(String, u32)> {
        self.inner.specials.added().to_vec()
    }

    /// The ids of the added tokens (special or not) with the flag `name`: "lstrip",
    /// "rstrip", "single_word" or "normalized".
    fn flagged(&self, name: &str) -> PyResult<Vec<u32>> {
        flagged(&self.inner.specials, name)
    }

    /// `text` as the normalizer leaves it (itself without a normalizer).
    fn normalize(&self, text: &str) -> String {
        normalize(self.inner.normalizer.as_ref(), &self.inner.pipeline, text)
    }

    /// The templates: `(single, pair)`.
    #[allow(clippy::type_complexity)]
    fn templates(&self) -> (Vec<(&'static str, u32, u32)>, Vec<(&'static str, u32, u32)>) {
        (unparts(&self.inner.template.single), unparts(&self.inner.template.pair))
    }

    /// The normalizer switches, or `None`.
    #[getter]
    fn normalizer(&self) -> Option<(bool, bool, bool, bool)> {
        self.inner
            .normalizer
            .map(|n| (n.clean_text, n.handle_chinese_chars, n.strip_accents, n.lowercase))
    }

    /// `(steps, splits)`: the normalizer steps and the pre-tokenizers, as the constructor
    /// takes them.
    #[getter]
    fn pipeline(&self) -> (Vec<&'static str>, Vec<String>) {
        let p = &self.inner.pipeline;
        (
            p.normalizer.steps().iter().map(|s| s.name()).collect(),
            p.splits.iter().map(|s| s.name()).collect(),
        )
    }

    /// `(unk_token, prefix, max_input_chars_per_word)`.
    #[getter]
    fn wordpiece(&self) -> (String, String, usize) {
        let m = &self.inner.model;
        (m.token(m.unk()).unwrap_or_default().to_string(), m.prefix().to_string(), m.max_chars())
    }

    /// Number of tokens.
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.model.len()
    }

    /// Number of the WordPiece model's tokens; added tokens follow them.
    #[getter]
    fn model_size(&self) -> usize {
        self.inner.model.model_len()
    }

    /// Pickling and `copy`: this class and the constructor arguments that rebuild it.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let me = slf.get();
        let t = &me.inner;
        let (unk, prefix, max_chars) = me.wordpiece();
        let (single, pair) = me.templates();
        let (steps, splits) = me.pipeline();
        let flag = |name: &str| flagged(&t.specials, name);
        let args: Vec<Bound<'py, PyAny>> = vec![
            me.vocab(py)?.into_any(),
            unk.into_pyobject(py)?.into_any(),
            prefix.into_pyobject(py)?.into_any(),
            max_chars.into_pyobject(py)?.into_any(),
            me.normalizer().into_pyobject(py)?.into_any(),
            me.specials().into_pyobject(py)?.into_any(),
            single.into_pyobject(py)?.into_any(),
            pair.into_pyobject(py)?.into_any(),
            (me.vocab_size() - me.model_size()).into_pyobject(py)?.into_any(),
            me.added_tokens().into_pyobject(py)?.into_any(),
            flag("lstrip")?.into_pyobject(py)?.into_any(),
            flag("rstrip")?.into_pyobject(py)?.into_any(),
            flag("single_word")?.into_pyobject(py)?.into_any(),
            flag("normalized")?.into_pyobject(py)?.into_any(),
            steps.into_pyobject(py)?.into_any(),
            splits.into_pyobject(py)?.into_any(),
        ];
        Ok((slf.get_type().into_any(), PyTuple::new(py, args)?))
    }
}

/// Added tokens as the constructor takes them: those that are not special `(text, id)`,
/// and the ids with each of HF's options (`lstrip`, `rstrip`, `single_word`, `normalized`).
type AddedArgs = (Vec<(String, u32)>, Vec<u32>, Vec<u32>, Vec<u32>, Vec<u32>);

/// The special and added tokens of a tokenizer of `model`: ids checked against it, flags
/// set, normalized forms made.
fn special_tokens(
    model: &WordPiece,
    normalizer: Option<&BertNormalizer>,
    pipeline: &Pipeline,
    specials: Vec<(String, u32)>,
    (added_tokens, lstrip, rstrip, single_word, normalized): AddedArgs,
) -> PyResult<SpecialTokens> {
    let n = model.len() as u32;
    for (kind, (text, id)) in
        specials.iter().map(|t| ("special", t)).chain(added_tokens.iter().map(|t| ("added", t)))
    {
        if *id >= n {
            return Err(to_py(Error::Format(format!(
                "{kind} token {text:?} has id {id}, outside the vocabulary of {n} tokens"
            ))));
        }
    }
    let mut tokens = SpecialTokens::with_added(specials, added_tokens).map_err(to_py)?;
    tokens.set_flags(&flag_list(&lstrip, &rstrip, &single_word, &normalized)).map_err(to_py)?;
    tokens.set_forms(|text| normalize(normalizer, pipeline, text)).map_err(to_py)?;
    Ok(tokens)
}

/// `text` normalized by `normalizer`, if any, else by the pipeline's steps.
fn normalize(normalizer: Option<&BertNormalizer>, pipeline: &Pipeline, text: &str) -> String {
    let Some(n) = normalizer else {
        return pipeline.normalize(text);
    };
    let mut out = Normalized::default();
    n.normalize_into(text, 0, &mut out);
    out.text
}

/// The flags of each id named in any of the four lists.
pub(crate) fn flag_list(
    lstrip: &[u32],
    rstrip: &[u32],
    single_word: &[u32],
    normalized: &[u32],
) -> Vec<(u32, Flags)> {
    let mut by_id: std::collections::BTreeMap<u32, Flags> = std::collections::BTreeMap::new();
    for &id in lstrip {
        by_id.entry(id).or_default().lstrip = true;
    }
    for &id in rstrip {
        by_id.entry(id).or_default().rstrip = true;
    }
    for &id in single_word {
        by_id.entry(id).or_default().single_word = true;
    }
    for &id in normalized {
        by_id.entry(id).or_default().normalized = true;
    }
    by_id.into_iter().collect()
}

/// The ids of the added tokens with the flag `name`.
pub(crate) fn flagged(specials: &SpecialTokens, name: &str) -> PyResult<Vec<u32>> {
    let test: fn(&Flags) -> bool = match name {
        "lstrip" => |f| f.lstrip,
        "rstrip" => |f| f.rstrip,
        "single_word" => |f| f.single_word,
        "normalized" => |f| f.normalized,
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown flag {other:?}; use 'lstrip', 'rstrip', 'single_word' or 'normalized'"
            )))
        }
    };
    Ok(specials.ids_where(test))
}
