//! A byte-level `tokenizer.json`'s `model.vocab` and `model.merges`, read from and written
//! to the objects `json` makes in one pass of the core, rather than a token at a time in
//! Python (which took three quarters of loading cl100k's file: 233,000 merges).
//!
//! Reading is a fast path only: anything it does not take as it stands (an id that is
//! not an integer, a token outside the byte-level alphabet, a merge that is no pair or
//! whose parts are empty or not kept tokens, a special token a merge takes) makes it answer
//! `None`, and the Python reader goes through the file again to name the problem or to
//! handle the case (`lexforge.formats.hf_json`). So every message lives in one place.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyString};
use rustc_hash::FxHashSet;

use crate::bpe::model::{byte_level_bytes, byte_level_text};

type Vocab = Vec<(Vec<u8>, u32)>;
type Merges = Vec<(Vec<u8>, Vec<u8>)>;

/// A vocabulary and merges read by [`read_byte_level`], handed to `Bpe.from_merges` as
/// its `vocab` (with no `merges`), which takes them out: a second use raises.
#[pyclass(module = "lexforge._core", name = "ByteLevelTables", frozen)]
pub(crate) struct ByteLevelTables {
    tables: Mutex<Option<(Vocab, Merges)>>,
}

impl ByteLevelTables {
    /// The tables, taken out (they are large: no copy).
    pub(crate) fn take(&self) -> PyResult<(Vocab, Merges)> {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        tables.take().ok_or_else(|| PyRuntimeError::new_err("these tables were used already"))
    }
}

/// The text of a Python `str`, `None` for anything else (or a `str` that is not UTF-8: a
/// lone surrogate).
fn text<'a>(obj: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    obj.cast::<PyString>().ok()?.to_str().ok()
}

/// A merge's two parts as `json` gives them: `"left right"` (one space), or a list of two
/// strings; neither empty.
fn merge_parts(obj: &Bound<'_, PyAny>) -> Option<(Vec<u8>, Vec<u8>)> {
    let (left, right) = if let Some(line) = text(obj) {
        let (left, right) = line.split_once(' ')?;
        if right.contains(' ') {
            return None;
        }
        (byte_level_bytes(left)?, byte_level_bytes(right)?)
    } else {
        let pair = obj.cast::<PyList>().ok()?;
        if pair.len() != 2 {
            return None;
        }
        let part = |i: usize| byte_level_bytes(text(&pair.get_item(i).ok()?)?);
        (part(0)?, part(1)?)
    };
    (!left.is_empty() && !right.is_empty()).then_some((left, right))
}

/// Reads a byte-level BPE's `vocab` (`{token: id}`) and `merges` as the Python reader
/// does, given the file's added tokens as `(content, id, special)`: a token listed among
/// the added tokens is left out of the model's vocabulary where the byte-level alphabet
/// cannot spell it, or, for a special token, where it spells more than one byte (it is
/// matched in the text before the model runs). `None` where the Python reader must decide
/// (see the module's note).
#[pyfunction]
pub(crate) fn read_byte_level(
    vocab: &Bound<'_, PyAny>,
    merges: &Bound<'_, PyAny>,
    added: Vec<(String, u32, bool)>,
) -> Option<ByteLevelTables> {
    let vocab = vocab.cast::<PyDict>().ok()?;
    let merges = merges.cast::<PyList>().ok()?;
    let by_added: HashMap<&str, (u32, bool)> =
        added.iter().map(|(content, id, special)| (content.as_str(), (*id, *special))).collect();
    let added_ids: HashSet<u32> = added.iter().map(|&(_, id, _)| id).collect();

    let mut kept: Vocab = Vec::with_capacity(vocab.len());
    for (token, id) in vocab.iter() {
        let token = text(&token)?;
        if !id.is_exact_instance_of::<PyInt>() {
            return None; // a float, a bool, an int subclass: the reader names it
        }
        let id: u32 = id.extract().ok().filter(|&id| id != u32::MAX)?;
        let raw = byte_level_bytes(token);
        if let Some(&(added_id, special)) = by_added.get(token) {
            if added_id != id {
                return None;
            }
            match &raw {
                None => continue,
                Some(raw) if special && raw.len() > 1 => continue,
                Some(_) => {}
            }
        } else if added_ids.contains(&id) {
            return None;
        }
        kept.push((raw?, id));
    }

    let known: FxHashSet<&[u8]> = kept.iter().map(|(raw, _)| raw.as_slice()).collect();
    let mut pairs: Merges = Vec::with_capacity(merges.len());
    let mut joined = Vec::new();
    for merge in merges.iter() {
        let (left, right) = merge_parts(&merge)?;
        joined.clear();
        joined.extend_from_slice(&left);
        joined.extend_from_slice(&right);
        if !(known.contains(left.as_slice())
            && known.contains(right.as_slice())
            && known.contains(joined.as_slice()))
        {
            return None;
        }
        pairs.push((left, right));
    }
    drop(known);
    Some(ByteLevelTables { tables: Mutex::new(Some((kept, pairs))) })
}

/// A model's vocabulary as `{byte-level token: id}` in id order, and its merges as
/// `"left right"` in priority order: a `tokenizer.json`'s `model.vocab` and
/// `model.merges` (and the lines of GPT-2's `merges.txt`).
pub(crate) fn write_byte_level<'py, 'a>(
    py: Python<'py>,
    vocab: impl Iterator<Item = (u32, &'a [u8])>,
    merges: &[(u32, u32)],
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyList>)> {
    let mut texts: Vec<Option<String>> = Vec::new();
    let dict = PyDict::new(py);
    for (id, raw) in vocab {
        let token = byte_level_text(raw);
        dict.set_item(&token, id)?;
        let at = id as usize;
        if texts.len() <= at {
            texts.resize(at + 1, None);
        }
        texts[at] = Some(token);
    }
    let text = |id: u32| {
        texts.get(id as usize).and_then(Option::as_deref).ok_or_else(|| {
            PyRuntimeError::new_err(format!("merge part {id} is not a vocabulary token"))
        })
    };
    let lines = merges
        .iter()
        .map(|&(a, b)| Ok(format!("{} {}", text(a)?, text(b)?)))
        .collect::<PyResult<Vec<String>>>()?;
    Ok((dict, PyList::new(py, lines)?))
}
