//! `lexforge._core.pad_lists`: examples' id lists, as Python gives them, read into one
//! padded int64 array in Rust. NumPy's own conversion of nested lists costs more than
//! masking the batch it makes; here each value is read once, straight into place.

use numpy::{PyArray1, PyArray2, PyReadonlyArray2};
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use super::errors::to_py;
use super::recycle::Buffer;
use crate::error::Error;

/// One example's values: a list or a tuple.
enum Seq<'py> {
    List(Bound<'py, PyList>),
    Tuple(Bound<'py, PyTuple>),
}

impl<'py> Seq<'py> {
    fn len(&self) -> usize {
        match self {
            Seq::List(l) => l.len(),
            Seq::Tuple(t) => t.len(),
        }
    }

    /// Writes the values into `out` (as long as the sequence was when the batch was
    /// sized). `Err((j, None))`: value `j` is not an integer within int64 (or the row
    /// shrank before it); `Err((j, Some(e)))`: reading it raised `e`, which is not about
    /// the value's type or size (a KeyboardInterrupt in an `__index__`), passed on as it is.
    fn read_into(&self, py: Python<'_>, out: &mut [i64]) -> Result<(), (usize, Option<PyErr>)> {
        let (ptr, get): (*mut ffi::PyObject, GetItem) = match self {
            Seq::List(l) => (l.as_ptr(), ffi::PyList_GetItem),
            Seq::Tuple(t) => (t.as_ptr(), ffi::PyTuple_GetItem),
        };
        for (j, slot) in out.iter_mut().enumerate() {
            // SAFETY: the GIL is held and `ptr` is a live list or tuple (owned by `self`);
            // the item is a borrowed reference. `get` checks the index: past the end (a
            // list that shrank while read) gives null and an IndexError. PyLong_AsLongLong
            // reads an int (bool is one) or anything with __index__ (NumPy's integers), and
            // sets an error for anything else (a float, a str, None) or past int64.
            let value = unsafe {
                let item = get(ptr, j as ffi::Py_ssize_t);
                if item.is_null() {
                    ffi::PyErr_Clear();
                    return Err((j, None));
                }
                // an int is read as it is; anything else may run Python (__index__),
                // which could drop the list's reference to it: hold one meanwhile
                let exact = ffi::PyLong_CheckExact(item) != 0;
                if !exact {
                    ffi::Py_IncRef(item);
                }
                let value = ffi::PyLong_AsLongLong(item);
                if !exact {
                    ffi::Py_DecRef(item);
                }
                value
            };
            if value == -1 {
                if let Some(err) = PyErr::take(py) {
                    let bad_value = err.is_instance_of::<PyTypeError>(py)
                        || err.is_instance_of::<PyOverflowError>(py);
                    return Err((j, (!bad_value).then_some(err)));
                }
            }
            *slot = value;
        }
        Ok(())
    }
}

/// `PyList_GetItem` or `PyTuple_GetItem`: a borrowed item, or null past the end.
type GetItem = unsafe extern "C" fn(*mut ffi::PyObject, ffi::Py_ssize_t) -> *mut ffi::PyObject;

/// The padded array and the rows' lengths.
type Padded<'py> = (Bound<'py, PyArray2<i64>>, Bound<'py, PyArray1<i64>>);

/// Pads `rows` (a list of lists or tuples of integers: one example's `name` each) into a
/// `(len(rows), width)` int64 array filled with `pad` past each row's values (before them
/// with `left`): `width` is the longest row, at least `min_width`, rounded up to a multiple
/// of `multiple`. Returns the array and each row's length. A row that is not a list or a
/// tuple, or a value that is not an integer within int64, is a `ConfigError` naming the
/// example and the position.
#[pyfunction]
#[pyo3(signature = (rows, pad, name, multiple=1, min_width=0, left=false))]
pub(crate) fn pad_lists<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyList>,
    pad: i64,
    name: &str,
    multiple: usize,
    min_width: usize,
    left: bool,
) -> PyResult<Padded<'py>> {
    let mut seqs = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let seq = match row.cast_into::<PyList>() {
            Ok(l) => Seq::List(l),
            Err(e) => match e.into_inner().cast_into::<PyTuple>() {
                Ok(t) => Seq::Tuple(t),
                Err(e) => {
                    let kind =
                        e.into_inner().get_type().name().map_or("?".into(), |n| n.to_string());
                    return Err(to_py(Error::Config(format!(
                        "examples[{i}]['{name}'] is a {kind}, not a list of ids"
                    ))));
                }
            },
        };
        seqs.push(seq);
    }
    let lengths: Vec<i64> = seqs.iter().map(|s| s.len() as i64).collect();
    let longest = seqs.iter().map(Seq::len).max().unwrap_or(0).max(min_width);
    let multiple = multiple.max(1);
    let width = longest.div_ceil(multiple).checked_mul(multiple).ok_or_else(|| {
        to_py(Error::Config(format!("pad_to_multiple_of={multiple} overflows the width")))
    })?;
    let n = seqs.len();
    // (a row at least: an empty (0, width) array's row stride is the width too)
    crate::memory::check_room(n.max(1).checked_mul(width), 8, "padding the batch")
        .map_err(to_py)?;
    let mut buffer = Buffer::<i64>::take(n * width);
    let flat = buffer.as_mut_slice();
    flat.fill(pad);
    for (i, seq) in seqs.iter().enumerate() {
        let len = lengths[i] as usize; // as sized, whatever Python code read meanwhile did
        let row = &mut flat[i * width..(i + 1) * width];
        let at = if left { width - len } else { 0 };
        let read = seq.read_into(py, &mut row[at..at + len]);
        if matches!(read, Ok(()) | Err((_, None))) && seq.len() != len {
            return Err(to_py(Error::Config(format!(
                "examples[{i}]['{name}'] changed length while it was read (an item's \
                 __index__ changed it); pass rows that stay as they are"
            ))));
        }
        read.map_err(|(j, raised)| {
            if let Some(err) = raised {
                return err;
            }
            let value = match &seq {
                Seq::List(l) => l.get_item(j).ok(),
                Seq::Tuple(t) => t.get_item(j).ok(),
            };
            let shown = value
                .and_then(|v| v.repr().ok().map(|r| r.to_string()))
                .unwrap_or_else(|| "?".into());
            to_py(Error::Config(format!(
                "examples[{i}]['{name}'][{j}] is {shown}, not an integer within int64; ids \
                 and masks must be whole numbers"
            )))
        })?;
    }
    let lengths = PyArray1::from_vec(py, lengths);
    Ok((buffer.into_array(py, (n, width))?, lengths))
}

/// Rows of character offsets as Python lists of `(start, end)` tuples, as transformers'
/// `offset_mapping` comes without tensors: each of `rows` a `(n, 2)` int64 array (a batch's
/// row, cut to its length). Building them in Python took most of a call asking for them.
#[pyfunction]
pub(crate) fn offset_lists<'py>(
    py: Python<'py>,
    rows: Vec<PyReadonlyArray2<'py, i64>>,
) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for (i, row) in rows.iter().enumerate() {
        let view = row.as_array();
        if view.ncols() != 2 {
            return Err(to_py(Error::Config(format!(
                "offsets row {i} has shape {:?}; (n, 2) expected",
                view.shape()
            ))));
        }
        let pairs: Vec<(i64, i64)> = view.rows().into_iter().map(|p| (p[0], p[1])).collect();
        out.append(PyList::new(py, pairs)?)?;
    }
    Ok(out)
}
