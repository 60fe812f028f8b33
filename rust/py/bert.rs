//! `lexforge._core.BertTokenizer`: the BERT text pipeline as seen from Python.

use numpy::ndarray::{Array2, Array3};
use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyDict, PyList};

use super::errors::to_py;
use crate::bert::{BertNormalizer, BertTokenizer, WordPiece};
use crate::error::Error;
use crate::postprocess::{
    padded_length, Batch, Field, Options, PadTo, Padding, Part, Side, Strategy, Template,
    Truncation,
};
use crate::special::SpecialTokens;

/// A BERT-style WordPiece tokenizer with its normalizer, special tokens and templates.
#[pyclass(module = "lexforge._core", name = "BertTokenizer", frozen)]
pub(crate) struct PyBert {
    inner: BertTokenizer,
}

impl PyBert {
    pub(crate) fn tokenizer(&self) -> &BertTokenizer {
        &self.inner
    }
}

fn side(name: &str) -> PyResult<Side> {
    match name {
        "left" => Ok(Side::Left),
        "right" => Ok(Side::Right),
        other => {
            Err(to_py(Error::Config(format!("side must be 'left' or 'right', got {other:?}"))))
        }
    }
}

fn parts(spec: Vec<(String, u32, u32)>) -> PyResult<Vec<Part>> {
    spec.into_iter()
        .map(|(kind, id, ty)| match kind.as_str() {
            "special" => Ok(Part::Special(id, ty)),
            "A" => Ok(Part::A(ty)),
            "B" => Ok(Part::B(ty)),
            other => Err(to_py(Error::Format(format!(
                "unknown template piece {other:?}; use 'special', 'A' or 'B'"
            )))),
        })
        .collect()
}

fn unparts(parts: &[Part]) -> Vec<(&'static str, u32, u32)> {
    parts
        .iter()
        .map(|p| match *p {
            Part::Special(id, ty) => ("special", id, ty),
            Part::A(ty) => ("A", 0, ty),
            Part::B(ty) => ("B", 0, ty),
        })
        .collect()
}

/// `(max_length, strategy, stride, side)` from Python.
type TruncationArg = (usize, String, usize, String);
/// `(length or None for longest, multiple_of, pad_id, pad_type_id, side)` from Python.
type PaddingArg = (Option<usize>, Option<usize>, u32, u32, String);

fn truncation(arg: Option<TruncationArg>) -> PyResult<Option<Truncation>> {
    let Some((max_length, strategy, stride, side_name)) = arg else { return Ok(None) };
    let strategy = match strategy.as_str() {
        "longest_first" => Strategy::LongestFirst,
        "only_first" => Strategy::OnlyFirst,
        "only_second" => Strategy::OnlySecond,
        other => {
            return Err(to_py(Error::Config(format!(
                "unknown truncation strategy {other:?}; use 'longest_first', 'only_first' or 'only_second'"
            ))))
        }
    };
    Ok(Some(Truncation { max_length, strategy, stride, side: side(&side_name)? }))
}

fn padding(arg: Option<PaddingArg>) -> PyResult<Option<Padding>> {
    let Some((length, multiple_of, pad_id, pad_type_id, side_name)) = arg else { return Ok(None) };
    let to = length.map_or(PadTo::Longest, PadTo::Fixed);
    Ok(Some(Padding { to, multiple_of, pad_id, pad_type_id, side: side(&side_name)? }))
}

impl PyBert {
    fn rows(
        &self,
        py: Python<'_>,
        texts: &[PyBackedStr],
        pairs: Option<&[PyBackedStr]>,
        opts: &Options,
        num_threads: Option<usize>,
    ) -> PyResult<Batch> {
        let a: Vec<&str> = texts.iter().map(|t| &**t).collect();
        let b: Option<Vec<&str>> = pairs.map(|p| p.iter().map(|t| &**t).collect());
        py.detach(|| self.inner.encode_batch(&a, b.as_deref(), opts, num_threads)).map_err(to_py)
    }
}

#[pymethods]
impl PyBert {
    /// Builds a tokenizer. `normalizer`: `(clean_text, handle_chinese_chars, strip_accents,
    /// lowercase)` or `None`; `specials`: tokens matched in raw text, `(text, id)`;
    /// templates: lists of `("special", id, type_id)`, `("A", 0, type_id)`, `("B", 0, type_id)`.
    #[new]
    /// `added`: how many of the last tokens of `vocab` are added tokens outside the model.
    #[pyo3(signature = (vocab, unk_token, prefix, max_input_chars_per_word, normalizer, specials, single, pair, added=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        vocab: Vec<String>,
        unk_token: &str,
        prefix: &str,
        max_input_chars_per_word: usize,
        normalizer: Option<(bool, bool, bool, bool)>,
        specials: Vec<(String, u32)>,
        single: Vec<(String, u32, u32)>,
        pair: Vec<(String, u32, u32)>,
        added: usize,
    ) -> PyResult<Self> {
        let model =
            WordPiece::with_added(vocab, added, unk_token, prefix, max_input_chars_per_word)
                .map_err(to_py)?;
        let n = model.tokens().len() as u32;
        for (text, id) in &specials {
            if *id >= n {
                return Err(to_py(Error::Format(format!(
                    "special token {text:?} has id {id}, outside the vocabulary of {n} tokens"
                ))));
            }
        }
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
        let specials = SpecialTokens::new(specials).map_err(to_py)?;
        Ok(PyBert { inner: BertTokenizer { normalizer, model, specials, template } })
    }

    /// Ids of one text (or pair), with the template's special tokens unless told otherwise.
    #[pyo3(signature = (text, pair=None, add_special_tokens=true))]
    fn encode(
        &self,
        py: Python<'_>,
        text: PyBackedStr,
        pair: Option<PyBackedStr>,
        add_special_tokens: bool,
    ) -> PyResult<Vec<u32>> {
        let pairs = pair.map(|p| vec![p]);
        let opts = Options { add_special_tokens, ..Options::default() };
        let rows = self.rows(py, &[text], pairs.as_deref(), &opts, Some(1))?;
        let first = rows.rows().next().map(|(c, i)| c.ids_of(i).to_vec());
        Ok(first.unwrap_or_default())
    }

    /// Id lists of a batch: truncated (with overflow windows as extra rows) and padded as
    /// asked; padding to a fixed length leaves longer rows as they are.
    #[pyo3(signature = (texts, pairs=None, add_special_tokens=true, truncation=None, padding=None, overflow=false, num_threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn encode_batch_lists(
        &self,
        py: Python<'_>,
        texts: Vec<PyBackedStr>,
        pairs: Option<Vec<PyBackedStr>>,
        add_special_tokens: bool,
        truncation: Option<TruncationArg>,
        padding: Option<PaddingArg>,
        overflow: bool,
        num_threads: Option<usize>,
    ) -> PyResult<(Vec<Vec<u32>>, Vec<u32>)> {
        let opts =
            Options { add_special_tokens, truncation: self::truncation(truncation)?, overflow };
        let pad = self::padding(padding)?;
        let rows = self.rows(py, &texts, pairs.as_deref(), &opts, num_threads)?;
        let ids: Vec<Vec<u32>> = match pad {
            Some(p) => {
                let target = match p.to {
                    PadTo::Longest => rows.longest(),
                    PadTo::Fixed(n) => n,
                };
                let target =
                    p.multiple_of.filter(|&m| m > 1).map_or(target, |m| target.div_ceil(m) * m);
                rows.rows().map(|(c, i)| c.padded_ids(i, target, &p)).collect()
            }
            None => rows.rows().map(|(c, i)| c.ids_of(i).to_vec()).collect(),
        };
        Ok((ids, rows.samples()))
    }

    /// A batch as a dict of int64 NumPy arrays of shape (rows, length) (`offsets`: (rows,
    /// length, 2)), for the requested `fields` among input_ids, token_type_ids,
    /// attention_mask, special_tokens_mask, word_ids, offsets; plus
    /// overflow_to_sample_mapping (rows,). Rows of different lengths need padding.
    #[pyo3(signature = (texts, fields, pairs=None, add_special_tokens=true, truncation=None, padding=None, overflow=false, num_threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn encode_batch_arrays<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<PyBackedStr>,
        fields: Vec<String>,
        pairs: Option<Vec<PyBackedStr>>,
        add_special_tokens: bool,
        truncation: Option<TruncationArg>,
        padding: Option<PaddingArg>,
        overflow: bool,
        num_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let opts =
            Options { add_special_tokens, truncation: self::truncation(truncation)?, overflow };
        let pad = self::padding(padding)?;
        let rows = self.rows(py, &texts, pairs.as_deref(), &opts, num_threads)?;
        let width = match &pad {
            Some(p) => padded_length(&rows, p),
            None => {
                let width = rows.longest();
                if rows.rows().any(|(c, i)| c.range(i).len() != width) {
                    return Err(to_py(Error::Config(
                        "the rows have different lengths, so they cannot form arrays; pass padding=True (or 'max_length'), or return_tensors=None for lists".into(),
                    )));
                }
                width
            }
        };
        let out = PyDict::new(py);
        let n = rows.len();
        for name in &fields {
            let field = match name.as_str() {
                "input_ids" => Field::Ids,
                "token_type_ids" => Field::TypeIds,
                "attention_mask" => Field::Attention,
                "special_tokens_mask" => Field::Special,
                "word_ids" => Field::Words,
                "offsets" => Field::Offsets,
                other => return Err(to_py(Error::Config(format!("unknown field {other:?}")))),
            };
            let flat = py.detach(|| rows.grid(width, pad.as_ref(), field, num_threads));
            let shape_error =
                |e: numpy::ndarray::ShapeError| PyRuntimeError::new_err(e.to_string());
            if field == Field::Offsets {
                let arr = Array3::from_shape_vec((n, width, 2), flat).map_err(shape_error)?;
                out.set_item(name, arr.into_pyarray(py))?;
            } else {
                let arr = Array2::from_shape_vec((n, width), flat).map_err(shape_error)?;
                out.set_item(name, arr.into_pyarray(py))?;
            }
        }
        let samples: Vec<i64> = rows.samples().into_iter().map(i64::from).collect();
        out.set_item("overflow_to_sample_mapping", PyArray1::from_vec(py, samples))?;
        Ok(out)
    }

    /// Every token by id.
    fn vocab<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.model.tokens())
    }

    /// The id of a token, or `None`.
    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.model.id(token)
    }

    /// The special tokens matched in raw text, `(text, id)`.
    fn specials(&self) -> Vec<(String, u32)> {
        self.inner.specials.tokens().to_vec()
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

    /// `(unk_token, prefix, max_input_chars_per_word)`.
    #[getter]
    fn wordpiece(&self) -> (String, String, usize) {
        let m = &self.inner.model;
        (m.token(m.unk()).unwrap_or_default().to_string(), m.prefix().to_string(), m.max_chars())
    }

    /// Number of tokens.
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.model.tokens().len()
    }

    /// Number of the WordPiece model's tokens; added tokens follow them.
    #[getter]
    fn model_size(&self) -> usize {
        self.inner.model.model_len()
    }
}
