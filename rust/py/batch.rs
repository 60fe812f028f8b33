//! Batch options and results shared by the tokenizers' bindings: truncation, padding and
//! template arguments as Python passes them, and rows as id lists or NumPy arrays.

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};

use super::errors::to_py;
use super::recycle::Buffer;
use crate::error::Error;
use crate::memory::check_room;
use crate::postprocess::{
    padded_length, Batch, Field, Options, PadTo, Padding, Part, Side, Strategy, Texts, Truncation,
};

/// Texts as Python passes them: a list of str, or (`words`) a list of lists of str, each
/// text split into words.
pub(crate) enum TextsArg {
    Whole(Vec<PyBackedStr>),
    Words(Vec<Vec<PyBackedStr>>),
}

impl TextsArg {
    pub(crate) fn extract(obj: &Bound<'_, PyAny>, words: bool) -> PyResult<Self> {
        Ok(if words { TextsArg::Words(obj.extract()?) } else { TextsArg::Whole(obj.extract()?) })
    }

    /// `f` of the texts, borrowed.
    pub(crate) fn with<R>(&self, f: impl FnOnce(Texts<'_>) -> R) -> R {
        match self {
            TextsArg::Whole(t) => {
                let refs: Vec<&str> = t.iter().map(|t| &**t).collect();
                f(Texts::Whole(&refs))
            }
            TextsArg::Words(w) => {
                let refs: Vec<Vec<&str>> =
                    w.iter().map(|words| words.iter().map(|t| &**t).collect()).collect();
                f(Texts::Words(&refs))
            }
        }
    }
}

/// `f` of a batch's texts and second texts (if any), borrowed.
pub(crate) fn with_texts<R>(
    texts: &TextsArg,
    pairs: Option<&TextsArg>,
    f: impl FnOnce(Texts<'_>, Option<Texts<'_>>) -> R,
) -> R {
    texts.with(|a| match pairs {
        Some(p) => p.with(|b| f(a, Some(b))),
        None => f(a, None),
    })
}

/// `(max_length, strategy, stride, side)` from Python.
pub(crate) type TruncationArg = (usize, String, usize, String);
/// `(length or None for longest, multiple_of, pad_id, pad_type_id, side)` from Python.
pub(crate) type PaddingArg = (Option<usize>, Option<usize>, u32, u32, String);
/// A template as Python passes it: `("special", id, type_id)`, `("A", 0, type_id)`,
/// `("B", 0, type_id)`.
pub(crate) type PartsArg = Vec<(String, u32, u32)>;

fn side(name: &str) -> PyResult<Side> {
    match name {
        "left" => Ok(Side::Left),
        "right" => Ok(Side::Right),
        other => {
            Err(to_py(Error::Config(format!("side must be 'left' or 'right', got {other:?}"))))
        }
    }
}

/// A template's pieces from Python's form.
pub(crate) fn parts(spec: PartsArg) -> PyResult<Vec<Part>> {
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

/// A template's pieces in Python's form.
pub(crate) fn unparts(parts: &[Part]) -> Vec<(&'static str, u32, u32)> {
    parts
        .iter()
        .map(|p| match *p {
            Part::Special(id, ty) => ("special", id, ty),
            Part::A(ty) => ("A", 0, ty),
            Part::B(ty) => ("B", 0, ty),
        })
        .collect()
}

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

/// What to do with each input besides encoding it.
pub(crate) fn options(
    add_special_tokens: bool,
    truncation: Option<TruncationArg>,
    overflow: bool,
) -> PyResult<Options> {
    Ok(Options { add_special_tokens, truncation: self::truncation(truncation)?, overflow })
}

/// Padding options from Python's form.
pub(crate) fn padding(arg: Option<PaddingArg>) -> PyResult<Option<Padding>> {
    let Some((length, multiple_of, pad_id, pad_type_id, side_name)) = arg else { return Ok(None) };
    let to = length.map_or(PadTo::Longest, PadTo::Fixed);
    Ok(Some(Padding { to, multiple_of, pad_id, pad_type_id, side: side(&side_name)? }))
}

/// "padding N rows to length L", for an error that says what would not fit.
fn padded_what(rows: usize, length: Option<usize>) -> String {
    match length {
        Some(l) => format!("padding {rows} rows to length {l}"),
        None => format!("padding {rows} rows to a multiple past the largest length"),
    }
}

/// Each row's ids, padded as `pad` says (a fixed length leaves longer rows as they are),
/// and the input each row comes from.
pub(crate) fn id_lists<'py>(
    py: Python<'py>,
    rows: &Batch,
    pad: Option<Padding>,
    ints: &IntTable,
) -> PyResult<(Bound<'py, PyList>, Vec<u32>)> {
    let ints = ints.get(py)?;
    let list = |ids: &[u32]| ints.list(py, ids);
    let lists = match pad {
        Some(p) => {
            let target = match p.to {
                PadTo::Longest => rows.longest(),
                PadTo::Fixed(n) => n,
            };
            let target = match p.multiple_of.filter(|&m| m > 1) {
                Some(m) => target.div_ceil(m).checked_mul(m),
                None => Some(target),
            };
            // (a row at least: a (0, width) array's row stride is width cells too, and one
            // past the address space made NumPy index past it)
            let cells = target.and_then(|t| t.checked_mul(rows.len().max(1)));
            // a row's ids (4 bytes each) and the list's pointer to each (8): a list that
            // cannot be made would panic inside PyO3 (a PanicException, not a MemoryError)
            check_room(cells, 12, &padded_what(rows.len(), target)).map_err(to_py)?;
            let target = target.unwrap_or(0); // (checked above)
            let out = PyList::empty(py);
            for (c, i) in rows.rows() {
                out.append(list(&c.padded_ids(i, target, &p))?)?;
            }
            out
        }
        None => {
            let out = PyList::empty(py);
            for (c, i) in rows.rows() {
                out.append(list(c.ids_of(i))?)?;
            }
            out
        }
    };
    Ok((lists, rows.samples()))
}

/// One Python int per id of a vocabulary, made on first use and shared by every list a
/// tokenizer returns: a list then costs a reference-count increment per id instead of an
/// allocated int.
pub(crate) struct IntTable {
    size: usize,
    ints: PyOnceLock<Ints>,
}

/// The ints of an [`IntTable`].
pub(crate) struct Ints(Vec<Py<PyAny>>);

impl IntTable {
    pub(crate) fn new(size: usize) -> Self {
        IntTable { size, ints: PyOnceLock::new() }
    }

    pub(crate) fn get(&self, py: Python<'_>) -> PyResult<&Ints> {
        self.ints.get_or_try_init(py, || {
            (0..self.size)
                .map(|i| Ok(i.into_pyobject(py)?.into_any().unbind()))
                .collect::<PyResult<Vec<_>>>()
                .map(Ints)
        })
    }
}

impl Ints {
    /// `ids` as a Python list (ints past the table, which no tokenizer gives, made anew).
    pub(crate) fn list<'py>(&self, py: Python<'py>, ids: &[u32]) -> PyResult<Bound<'py, PyList>> {
        if ids.iter().all(|&id| (id as usize) < self.0.len()) {
            PyList::new(py, ids.iter().map(|&id| self.0[id as usize].bind(py)))
        } else {
            PyList::new(py, ids)
        }
    }
}

/// The rows as a dict of int64 NumPy arrays of shape (rows, length) (`offsets`: (rows,
/// length, 2)) for the requested `fields` among input_ids, token_type_ids, attention_mask,
/// special_tokens_mask, word_ids, offsets; plus overflow_to_sample_mapping (rows,). Rows of
/// different lengths need padding.
pub(crate) fn arrays<'py>(
    py: Python<'py>,
    rows: &Batch,
    fields: &[String],
    pad: Option<Padding>,
    num_threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let width = match &pad {
        Some(p) => {
            let width = padded_length(rows, p);
            // every field's array at once (they are all held until returned), offsets two
            // cells a token: an allocation past the room would abort the process
            let k: usize = fields.iter().map(|f| if f == "offsets" { 2 } else { 1 }).sum();
            let cells =
                width.and_then(|w| w.checked_mul(rows.len().max(1))).and_then(|c| c.checked_mul(k));
            check_room(cells, 8, &padded_what(rows.len(), width)).map_err(to_py)?;
            width.unwrap_or(0) // (checked above)
        }
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
    for name in fields {
        let field = match name.as_str() {
            "input_ids" => Field::Ids,
            "token_type_ids" => Field::TypeIds,
            "attention_mask" => Field::Attention,
            "special_tokens_mask" => Field::Special,
            "word_ids" => Field::Words,
            "sequence_ids" => Field::Sequence,
            "offsets" => Field::Offsets,
            other => return Err(to_py(Error::Config(format!("unknown field {other:?}")))),
        };
        // from the pool of freed outputs: a loop over large batches otherwise faults in
        // fresh pages for every call (1,000 texts at 512: a third of the speed)
        let k = if field == Field::Offsets { 2 } else { 1 };
        let mut flat = Buffer::<i64>::take(n * width * k);
        py.detach(|| rows.grid_into(width, pad.as_ref(), field, num_threads, flat.as_mut_slice()));
        py.check_signals()?; // a Ctrl-C meanwhile: raised now, not inside the array's making
        if field == Field::Offsets {
            out.set_item(name, flat.into_array(py, (n, width, 2))?)?;
        } else {
            out.set_item(name, flat.into_array(py, (n, width))?)?;
        }
    }
    let samples: Vec<i64> = rows.samples().into_iter().map(i64::from).collect();
    out.set_item("overflow_to_sample_mapping", PyArray1::from_vec(py, samples))?;
    Ok(out)
}
