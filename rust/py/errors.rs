//! The one mapping from [`crate::Error`] to Python exceptions. The classes are defined in
//! `lexforge/errors.py` (each subclasses a built-in) and looked up by name.

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::error::Error;

/// Converts a core error into the matching `lexforge.errors` exception.
pub(crate) fn to_py(err: Error) -> PyErr {
    let class = match &err {
        Error::Pattern(_) => "PatternError",
        Error::Format(_) => "TokenizerFormatError",
        Error::Corpus(_) => "CorpusError",
        Error::Shard(_) => "ShardError",
        Error::Config(_) => "ConfigError",
        Error::TrainerConfig(_) => "TrainerConfigError",
        Error::DisallowedSpecial { .. } => "SpecialTokenError",
        Error::TokenId { .. } => "TokenIdError",
        Error::Encoding(_) => "EncodingError",
        Error::NotFound { .. } => return PyFileNotFoundError::new_err(err.to_string()),
        Error::Io { .. } => return PyOSError::new_err(err.to_string()),
        Error::Interrupted => return PyRuntimeError::new_err("interrupted"),
    };
    let message = err.to_string();
    Python::attach(|py| {
        let class = py
            .import("lexforge.errors")
            .and_then(|m| m.getattr(class))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
        match class {
            Ok(class) => PyErr::from_type(class, message),
            Err(import_failed) => import_failed,
        }
    })
}
