//! `lexforge._core.mask_tokens`: batched MLM masking on NumPy arrays, GIL released.

use numpy::{PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::errors::to_py;
use super::recycle::{Buffer, Plain};
use crate::error::Error;
use crate::mlm::{mask_into, Batch, Flags, Id, MaskOptions, Select, TokenBytes};

/// Token ids of the integer dtypes we accept.
pub(crate) enum IdArray<'py> {
    I64(PyReadonlyArray2<'py, i64>),
    I32(PyReadonlyArray2<'py, i32>),
    U32(PyReadonlyArray2<'py, u32>),
    U16(PyReadonlyArray2<'py, u16>),
}

/// Per-position flags (a special-tokens mask, word starts) of the dtypes we accept as they
/// are (bool arrives as uint8).
pub(crate) enum FlagArray<'py> {
    U8(PyReadonlyArray2<'py, u8>),
    I64(PyReadonlyArray2<'py, i64>),
    I32(PyReadonlyArray2<'py, i32>),
}

/// Tries each `(variant, element type)` in turn with a cheap cast (a failed derived
/// `FromPyObject` builds a formatted error per variant, which costs more than masking a
/// small batch), else a `TypeError` naming the accepted dtypes.
macro_rules! pick_array {
    ($value:expr, $what:expr, $($variant:path => $t:ty),+) => {{
        let value = $value;
        $(if let Ok(a) = value.cast::<PyArray2<$t>>() {
            return Ok($variant(a.try_readonly().map_err(|e| {
                PyTypeError::new_err(format!("{} cannot be read: {e}", $what))
            })?));
        })+
        Err(PyTypeError::new_err(format!(
            "{} must be a 2-D numpy array of {}; got {}",
            $what,
            [$(stringify!($t)),+].join(", "),
            describe(value),
        )))
    }};
}

/// The array's values in row-major order, or None when they are not laid out so (a
/// Fortran-ordered array is contiguous too, but its flat values are the columns').
fn c_slice<'a, T: numpy::Element>(a: &'a PyReadonlyArray2<'_, T>) -> Option<&'a [T]> {
    if a.is_c_contiguous() {
        a.as_slice().ok()
    } else {
        None
    }
}

/// What a rejected argument is: an array's dtype and rank, or another object's type.
fn describe(value: &Bound<'_, PyAny>) -> String {
    match value.cast::<PyUntypedArray>() {
        Ok(a) => format!("a {}-D array of {}", a.ndim(), a.dtype()),
        Err(_) => value.get_type().name().map_or_else(|_| "an object".into(), |n| n.to_string()),
    }
}

impl<'py> IdArray<'py> {
    fn extract(value: &Bound<'py, PyAny>) -> PyResult<Self> {
        pick_array!(value, "input_ids", IdArray::I64 => i64, IdArray::I32 => i32,
            IdArray::U32 => u32, IdArray::U16 => u16)
    }

    fn shape(&self) -> &[usize] {
        match self {
            IdArray::I64(a) => a.shape(),
            IdArray::I32(a) => a.shape(),
            IdArray::U32(a) => a.shape(),
            IdArray::U16(a) => a.shape(),
        }
    }
}

impl<'py> FlagArray<'py> {
    /// The array passed as argument `what`.
    fn extract(value: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        pick_array!(value, what, FlagArray::U8 => u8, FlagArray::I64 => i64,
            FlagArray::I32 => i32)
    }

    fn shape(&self) -> &[usize] {
        match self {
            FlagArray::U8(a) => a.shape(),
            FlagArray::I64(a) => a.shape(),
            FlagArray::I32(a) => a.shape(),
        }
    }

    fn flags(&self, what: &str) -> PyResult<Flags<'_>> {
        let contiguous = || {
            to_py(Error::Config(format!(
                "{what} must be C-contiguous; pass numpy.ascontiguousarray({what})"
            )))
        };
        Ok(match self {
            FlagArray::U8(a) => Flags::U8(c_slice(a).ok_or_else(contiguous)?),
            FlagArray::I64(a) => Flags::I64(c_slice(a).ok_or_else(contiguous)?),
            FlagArray::I32(a) => Flags::I32(c_slice(a).ok_or_else(contiguous)?),
        })
    }
}

/// What one `mask` call masks with, besides the ids.
struct Call<'a> {
    special: Option<Flags<'a>>,
    words: Option<&'a [i64]>,
    starts: Option<Flags<'a>>,
    masker: &'a Masker,
    opts: MaskOptions,
    num_threads: Option<usize>,
}

fn run<'py, T: Id + Plain>(
    py: Python<'py>,
    ids: &PyReadonlyArray2<'py, T>,
    call: &Call<'_>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyArray2<i64>>)> {
    let shape = ids.shape();
    let (rows, width) = (shape[0], shape[1]);
    let flat = c_slice(ids).ok_or_else(|| {
        to_py(Error::Config(
            "input_ids must be C-contiguous; pass numpy.ascontiguousarray(input_ids)".into(),
        ))
    })?;
    let batch = Batch {
        ids: flat,
        width,
        special: call.special,
        words: call.words,
        continuation: call.masker.continuation.as_deref(),
        word_ends: call.masker.word_ends.as_deref(),
        starts: call.starts,
        bytes: call.masker.bytes.as_ref(),
    };
    let (mut out, mut labels) = (Buffer::<T>::take(flat.len()), Buffer::<i64>::take(flat.len()));
    let (o, l) = (out.as_mut_slice(), labels.as_mut_slice());
    let (flags, opts, threads) = (&call.masker.flags, &call.opts, call.num_threads);
    py.detach(|| mask_into(&batch, flags, opts, threads, o, l)).map_err(to_py)?;
    Ok((out.into_array(py, (rows, width))?.into_any(), labels.into_array(py, (rows, width))?))
}

/// A configured masker: the special-id table and the options, built once; `mask` masks
/// a (rows, length) batch and returns `(input_ids, labels)` (the input's dtype, and int64
/// with -100 where nothing is predicted). See `lexforge.masking` for the semantics.
#[pyclass(module = "lexforge._core", frozen)]
pub(crate) struct Masker {
    flags: Vec<bool>,
    /// Per id: the token continues the word before it (whole words without word ids).
    continuation: Option<Vec<bool>>,
    /// Per id: nothing continues the token (a word ends with it).
    word_ends: Option<Vec<bool>>,
    /// Per id: its bytes (byte-level BPE), so that words follow whole characters.
    bytes: Option<TokenBytes>,
    opts: MaskOptions,
}

#[pymethods]
impl Masker {
    #[new]
    #[pyo3(signature = (special_ids, vocab_size, mask_token_id, probability, mask_prob, random_prob, select, whole_word, seed, span_p=0.2, max_span=10, continuation_ids=None, word_end_ids=None, token_bytes=None, token_ends=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        special_ids: Vec<u32>,
        vocab_size: u32,
        mask_token_id: u32,
        probability: f64,
        mask_prob: f64,
        random_prob: f64,
        select: &str,
        whole_word: bool,
        seed: u64,
        span_p: f64,
        max_span: usize,
        continuation_ids: Option<Vec<u32>>,
        word_end_ids: Option<Vec<u32>>,
        token_bytes: Option<&[u8]>,
        token_ends: Option<Vec<u32>>,
    ) -> PyResult<Self> {
        let select = match select {
            "bernoulli" => Select::Bernoulli,
            "exact" => Select::Exact,
            "span" => Select::Span { p: span_p, max: max_span },
            other => {
                return Err(to_py(Error::Config(format!(
                    "mode must be 'bernoulli', 'exact' or 'span', got {other:?}"
                ))))
            }
        };
        // a flag per id in up to three tables: a vocabulary size past memory is an error,
        // not an abort of the process on the allocation
        let tables =
            1 + usize::from(continuation_ids.is_some()) + usize::from(word_end_ids.is_some());
        crate::memory::check_room((vocab_size as usize).checked_mul(tables), 1, "").map_err(
            |_| {
                to_py(Error::Config(format!(
                "vocab_size {vocab_size} needs {tables} table(s) of a byte per id, more memory \
                 than can be allocated; pass the tokenizer's vocabulary size"
            )))
            },
        )?;
        let mut flags = vec![false; vocab_size as usize];
        for id in special_ids {
            if let Some(f) = flags.get_mut(id as usize) {
                *f = true;
            }
        }
        let opts = MaskOptions {
            probability,
            mask_prob,
            random_prob,
            mask_token_id,
            vocab_size,
            select,
            whole_word,
            seed,
            step: 0,
        };
        opts.validate(&flags).map_err(to_py)?;
        let table = |ids: Vec<u32>| {
            let mut table = vec![false; vocab_size as usize];
            for id in ids {
                if let Some(c) = table.get_mut(id as usize) {
                    *c = true;
                }
            }
            table
        };
        let continuation = continuation_ids.map(table);
        let word_ends = word_end_ids.map(table);
        let bytes = match (token_bytes, token_ends) {
            (Some(data), Some(ends)) => {
                if ends.len() != vocab_size as usize {
                    return Err(to_py(Error::Config(format!(
                        "token bytes cover {} ids, the vocabulary {vocab_size}",
                        ends.len()
                    ))));
                }
                Some(TokenBytes::new(data.to_vec(), ends).map_err(to_py)?)
            }
            (None, None) => None,
            _ => return Err(to_py(Error::Config("token_bytes and token_ends go together".into()))),
        };
        Ok(Masker { flags, continuation, word_ends, bytes, opts })
    }

    /// Masks `input_ids` for training step `step`; `probability` overrides the masking
    /// rate for this call (a schedule); `word_starts` flags positions where a word starts
    /// whatever the token (whole words from the vocabulary only).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (input_ids, step, special_mask=None, word_ids=None, probability=None, num_threads=None, word_starts=None))]
    fn mask<'py>(
        &self,
        py: Python<'py>,
        input_ids: &Bound<'py, PyAny>,
        step: u64,
        special_mask: Option<&Bound<'py, PyAny>>,
        word_ids: Option<PyReadonlyArray2<'py, i64>>,
        probability: Option<f64>,
        num_threads: Option<usize>,
        word_starts: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyArray2<i64>>)> {
        let opts = MaskOptions {
            step,
            probability: probability.unwrap_or(self.opts.probability),
            ..self.opts
        };
        let input_ids = IdArray::extract(input_ids)?;
        let special_mask =
            special_mask.map(|m| FlagArray::extract(m, "special_tokens_mask")).transpose()?;
        let special = special_mask.as_ref().map(|m| m.flags("special_tokens_mask")).transpose()?;
        let word_starts = word_starts.map(|m| FlagArray::extract(m, "word_starts")).transpose()?;
        let starts = word_starts.as_ref().map(|m| m.flags("word_starts")).transpose()?;
        // (the same number of values in another shape would be read as other positions)
        let shape = input_ids.shape();
        let others = [
            ("special_tokens_mask", special_mask.as_ref().map(FlagArray::shape)),
            ("word_ids", word_ids.as_ref().map(|w| w.shape())),
            ("word_starts", word_starts.as_ref().map(FlagArray::shape)),
        ];
        for (what, other) in others {
            if let Some(other) = other.filter(|o| *o != shape) {
                return Err(to_py(Error::Config(format!(
                    "{what} has shape {other:?} but input_ids has {shape:?}; give one value \
                     per position of input_ids"
                ))));
            }
        }
        let words = word_ids.as_ref().map(|w| c_slice(w).ok_or(())).transpose().map_err(|()| {
            to_py(Error::Config(
                "word_ids must be C-contiguous; pass numpy.ascontiguousarray(word_ids)".into(),
            ))
        })?;
        let call = Call { special, words, starts, masker: self, opts, num_threads };
        match &input_ids {
            IdArray::I64(a) => run(py, a, &call),
            IdArray::I32(a) => run(py, a, &call),
            IdArray::U32(a) => run(py, a, &call),
            IdArray::U16(a) => run(py, a, &call),
        }
    }
}
