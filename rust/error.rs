//! The crate's error type. Every fallible public function returns [`Result`]; nothing in the
//! library panics on bad input. The Python bindings map each variant onto one exception class
//! (`rust/py/errors.rs`), so messages here are written for the end user: they name the
//! offending value and say what to do about it.

use std::path::PathBuf;

/// Errors raised by the lexforge core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pre-tokenization pattern does not compile, or a regex failed at run time.
    #[error("{0}")]
    Pattern(String),
    /// A tokenizer description (vocabulary, merges, ranks) is inconsistent.
    #[error("{0}")]
    Format(String),
    /// A corpus is empty or not valid UTF-8.
    #[error("{0}")]
    Corpus(String),
    /// A shard's contents are corrupt (offsets that do not describe its tokens, ids past
    /// the vocabulary).
    #[error("{0}")]
    Shard(String),
    /// Options that cannot be satisfied (truncation, padding, templates, batches).
    #[error("{0}")]
    Config(String),
    /// Training options that cannot be satisfied.
    #[error("{0}")]
    TrainerConfig(String),
    /// Text contains a special token the caller did not allow.
    /// `input`: "text", or "pair" for the second text of a pair.
    #[error("{input} {text_index} contains the special token {token:?} at byte {byte_offset}, which this call does not allow; pass allowed_special={{{token:?}}} (or \"all\") to encode it as a special token, or disallowed_special=() to encode it as ordinary text")]
    DisallowedSpecial { token: String, input: &'static str, text_index: usize, byte_offset: usize },
    /// A token id outside the vocabulary.
    #[error("token id {id} is not in the vocabulary (valid ids are in [0, {vocab_size}), less any id the vocabulary leaves unused); decode ids this tokenizer gave")]
    TokenId { id: i64, vocab_size: u32 },
    /// Input that this vocabulary cannot encode.
    #[error("{0}")]
    Encoding(String),
    /// A path that does not exist.
    #[error("no such file: {path}; check the path (relative paths are resolved from the current directory)")]
    NotFound { path: PathBuf },
    /// Any other I/O failure, with the path it happened on.
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A progress callback asked to stop (the Python side re-raises its own exception).
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// For errors about the `i`-th text of a batch: shifts the index by `offset` (when the
    /// batch was encoded in rounds).
    pub fn offset_text_index(self, offset: usize) -> Self {
        match self {
            Error::DisallowedSpecial { token, input, text_index, byte_offset } => {
                Error::DisallowedSpecial {
                    token,
                    input,
                    text_index: text_index + offset,
                    byte_offset,
                }
            }
            other => other,
        }
    }

    /// The same error, about the second text of a pair.
    pub fn in_pair(self) -> Self {
        match self {
            Error::DisallowedSpecial { token, text_index, byte_offset, .. } => {
                Error::DisallowedSpecial { token, input: "pair", text_index, byte_offset }
            }
            other => other,
        }
    }

    /// Wraps an I/O error with the path it concerns, turning "not found" into [`Error::NotFound`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound { path }
        } else {
            Error::Io { path, source }
        }
    }
}

/// The compression format whose magic bytes start the file at `path`, if any: a corpus
/// that is not UTF-8 is most often a compressed file given by mistake.
pub fn compression(path: &std::path::Path) -> Option<&'static str> {
    use std::io::Read;
    let mut head = [0u8; 6];
    let mut file = std::fs::File::open(path).ok()?;
    let n = file.read(&mut head).ok()?;
    let formats: [(&[u8], &str); 5] = [
        (b"\x1f\x8b", "gzip"),
        (b"BZh", "bzip2"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"PK\x03\x04", "zip"),
    ];
    formats.iter().find(|(magic, _)| head[..n].starts_with(magic)).map(|&(_, name)| name)
}

/// The error for a corpus file that is not UTF-8: `problem` says where (file, line, byte);
/// a compressed file is named as such, with how to decompress it.
pub fn not_utf8(path: &std::path::Path, problem: String) -> Error {
    match compression(path) {
        Some(format) => Error::Corpus(format!(
            "{} is a {format}-compressed file, not text; decompress it first (e.g. `{}`), \
             or decode it yourself and pass the text through an iterator",
            path.display(),
            match format {
                "gzip" => "gunzip -k FILE",
                "bzip2" => "bunzip2 -k FILE",
                "xz" => "unxz -k FILE",
                "zstd" => "unzstd FILE",
                _ => "unzip FILE",
            }
        )),
        None => Error::Corpus(problem),
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
