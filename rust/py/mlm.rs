//! `lexforge._core.mask_tokens`: batched MLM masking on NumPy arrays, GIL released.

use numpy::ndarray::Array2;
use numpy::{Element, IntoPyArray, PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::errors::to_py;
use crate::error::Error;
use crate::mlm::{mask, Batch, Id, MaskOptions, Select};

/// Token ids of the integer dtypes we accept.
#[derive(FromPyObject)]
pub(crate) enum IdArray<'py> {
    I64(PyReadonlyArray2<'py, i64>),
    I32(PyReadonlyArray2<'py, i32>),
    U32(PyReadonlyArray2<'py, u32>),
    U16(PyReadonlyArray2<'py, u16>),
}

fn run<'py, T: Id + Element>(
    py: Python<'py>,
    ids: &PyReadonlyArray2<'py, T>,
    special: Option<&[u8]>,
    words: Option<&[i64]>,
    special_ids: &[bool],
    opts: &MaskOptions,
    num_threads: Option<usize>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyArray2<i64>>)> {
    let shape = ids.shape();
    let (rows, width) = (shape[0], shape[1]);
    let flat = ids.as_slice().map_err(|_| {
        to_py(Error::Config(
            "input_ids must be C-contiguous; pass numpy.ascontiguousarray(input_ids)".into(),
        ))
    })?;
    let batch = Batch { ids: flat, width, special, words };
    let (out, labels) =
        py.detach(|| mask(&batch, special_ids, opts, num_threads)).map_err(to_py)?;
    let shape_error =
        |e: numpy::ndarray::ShapeError| pyo3::exceptions::PyRuntimeError::new_err(e.to_string());
    let out = Array2::from_shape_vec((rows, width), out)
        .map_err(shape_error)?
        .into_pyarray(py)
        .into_any();
    let labels =
        Array2::from_shape_vec((rows, width), labels).map_err(shape_error)?.into_pyarray(py);
    Ok((out, labels))
}

/// Masks a (rows, length) batch; returns `(input_ids, labels)` (same dtype as the input,
/// and int64 with -100 where nothing is predicted). `select`: "bernoulli", "exact" or
/// "span". See `lexforge.masking.mask_tokens` for the semantics.
#[pyfunction]
#[pyo3(signature = (input_ids, special_ids, vocab_size, mask_token_id, probability, mask_prob, random_prob, select, whole_word, seed, step, special_mask=None, word_ids=None, span_p=0.2, max_span=10, num_threads=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn mask_tokens<'py>(
    py: Python<'py>,
    input_ids: IdArray<'py>,
    special_ids: Vec<u32>,
    vocab_size: u32,
    mask_token_id: u32,
    probability: f64,
    mask_prob: f64,
    random_prob: f64,
    select: &str,
    whole_word: bool,
    seed: u64,
    step: u64,
    special_mask: Option<PyReadonlyArray2<'py, u8>>,
    word_ids: Option<PyReadonlyArray2<'py, i64>>,
    span_p: f64,
    max_span: usize,
    num_threads: Option<usize>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyArray2<i64>>)> {
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
        step,
    };
    let special = special_mask
        .as_ref()
        .map(|m| m.as_slice())
        .transpose()
        .map_err(|_| to_py(Error::Config("special_tokens_mask must be C-contiguous".into())))?;
    let words = word_ids
        .as_ref()
        .map(|w| w.as_slice())
        .transpose()
        .map_err(|_| to_py(Error::Config("word_ids must be C-contiguous".into())))?;
    let t = num_threads;
    match &input_ids {
        IdArray::I64(a) => run(py, a, special, words, &flags, &opts, t),
        IdArray::I32(a) => run(py, a, special, words, &flags, &opts, t),
        IdArray::U32(a) => run(py, a, special, words, &flags, &opts, t),
        IdArray::U16(a) => run(py, a, special, words, &flags, &opts, t),
    }
}
