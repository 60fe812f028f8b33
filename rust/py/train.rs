//! `lexforge._core.WordCounter` and `train_bpe`: counting and merging, with the GIL released
//! and progress reported through an optional Python callable.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::PyBytes;

use super::bpe::Bpe;
use super::errors::to_py;
use crate::bert::{train_wordpiece as learn_wordpiece, BertNormalizer, WordPieceOptions};
use crate::bpe::{train, train_owned, BpeModel, TrainOptions};
use crate::count::{Counter, Splitter, WordCounts};
use crate::error::Error;
use crate::pretokenize::Pretokenizer;
use crate::special::SpecialTokens;

/// Word counts under one splitting rule; mergeable across processes and machines.
#[pyclass(module = "lexforge._core", name = "WordCounter")]
pub(crate) struct WordCounter {
    counts: WordCounts,
    splitter: Splitter,
    specials: SpecialTokens,
}

/// Runs `work` with the GIL released, giving it a progress function that calls `callback`
/// (if any) with the GIL held and checks for Ctrl-C. A Python exception raised there stops
/// the work and is re-raised.
fn with_progress<T: Send>(
    py: Python<'_>,
    callback: Option<Py<PyAny>>,
    work: impl FnOnce(&mut dyn FnMut(u64, u64) -> bool) -> crate::Result<T> + Send,
) -> PyResult<T> {
    let mut raised: Option<PyErr> = None;
    let result = py.detach(|| {
        let mut report = |done: u64, total: u64| {
            Python::attach(|py| {
                let outcome = py.check_signals().and_then(|()| match &callback {
                    Some(cb) => cb.call1(py, (done, total)).map(drop),
                    None => Ok(()),
                });
                match outcome {
                    Ok(()) => true,
                    Err(e) => {
                        raised = Some(e);
                        false
                    }
                }
            })
        };
        work(&mut report)
    });
    match (result, raised) {
        (Err(Error::Interrupted), Some(err)) => Err(err),
        (result, _) => result.map_err(to_py),
    }
}

#[pymethods]
impl WordCounter {
    /// A counter for `pattern` (preset name or regex); `special_tokens` are cut out of the
    /// text and never counted.
    #[new]
    #[pyo3(signature = (pattern, special_tokens=Vec::new()))]
    fn new(pattern: &str, special_tokens: Vec<String>) -> PyResult<Self> {
        let pretok = Pretokenizer::new(pattern).map_err(to_py)?;
        let specials =
            SpecialTokens::new(special_tokens.into_iter().zip(0..).collect()).map_err(to_py)?;
        Ok(WordCounter { counts: WordCounts::new(), splitter: Splitter::Pattern(pretok), specials })
    }

    /// A counter of BERT words: `normalizer` is `(clean_text, handle_chinese_chars,
    /// strip_accents, lowercase)` or `None`.
    #[staticmethod]
    #[pyo3(signature = (normalizer, special_tokens=Vec::new()))]
    fn bert(
        normalizer: Option<(bool, bool, bool, bool)>,
        special_tokens: Vec<String>,
    ) -> PyResult<Self> {
        let normalizer =
            normalizer.map(|(clean_text, handle_chinese_chars, strip_accents, lowercase)| {
                BertNormalizer { clean_text, handle_chinese_chars, strip_accents, lowercase }
            });
        let specials =
            SpecialTokens::new(special_tokens.into_iter().zip(0..).collect()).map_err(to_py)?;
        Ok(WordCounter {
            counts: WordCounts::new(),
            splitter: Splitter::Bert(normalizer),
            specials,
        })
    }

    /// Counts a batch of texts, each pre-tokenized on its own.
    #[pyo3(signature = (texts, num_threads=None))]
    fn add_texts(
        &mut self,
        py: Python<'_>,
        texts: Vec<PyBackedStr>,
        num_threads: Option<usize>,
    ) -> PyResult<()> {
        let refs: Vec<&str> = texts.iter().map(|t| &**t).collect();
        let WordCounter { counts, splitter, specials } = self;
        let counter = Counter { splitter, specials };
        py.detach(|| counter.count_texts(&refs, counts, num_threads)).map_err(to_py)
    }

    /// Streams UTF-8 text files line by line. `progress(done_bytes, total_bytes)` is called
    /// after each block.
    #[pyo3(signature = (paths, num_threads=None, progress=None))]
    fn add_files(
        &mut self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        num_threads: Option<usize>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let WordCounter { counts, splitter, specials } = self;
        let counter = Counter { splitter, specials };
        with_progress(py, progress, |report| {
            counter.count_files(&paths, counts, num_threads, report)
        })
    }

    /// Adds `count` occurrences of one pre-tokenized word.
    fn add_word(&mut self, word: &[u8], count: u64) -> PyResult<()> {
        self.counts.add(word, count).map_err(to_py)
    }

    /// Adds every count of `other`, which must be made alike: the same pattern (or BERT
    /// normalizer) and the same special tokens, in the same order. Counts merged into
    /// themselves double.
    fn merge(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        other: &Bound<'_, WordCounter>,
    ) -> PyResult<()> {
        if slf.is(other) {
            // (borrowed mutably and shared at once: PyO3's "already borrowed" RuntimeError)
            let mut this = slf.borrow_mut();
            let counts = &mut this.counts;
            let theirs = counts.clone();
            return py.detach(|| counts.merge(&theirs)).map_err(to_py);
        }
        let other = other.borrow();
        let mut this = slf.borrow_mut();
        if other.splitter.describe() != this.splitter.describe() {
            return Err(to_py(Error::TrainerConfig(format!(
                "cannot merge counts made with {} into counts made with {}; count every shard with the same pattern",
                other.splitter.describe(),
                this.splitter.describe()
            ))));
        }
        let (theirs, ours) = (other.special_tokens(), this.special_tokens());
        if theirs != ours {
            return Err(to_py(Error::TrainerConfig(format!(
                "cannot merge counts made with special tokens {theirs:?} into counts made with \
                 {ours:?}: each cut other text out of the corpus (and the tokens' order gives \
                 their ids); count every shard with the same special_tokens, in the same order"
            ))));
        }
        let theirs = other.counts.clone();
        drop(other);
        let counts = &mut this.counts;
        py.detach(|| counts.merge(&theirs)).map_err(to_py)
    }

    /// The count of one word (0 if it was never seen).
    fn get(&self, word: &[u8]) -> u64 {
        self.counts.get(word)
    }

    /// All `(word, count)` pairs, sorted by word bytes.
    fn items<'py>(&self, py: Python<'py>) -> Vec<(Bound<'py, PyBytes>, u64)> {
        self.counts.sorted().into_iter().map(|(w, c)| (PyBytes::new(py, w), c)).collect()
    }

    /// Number of distinct words.
    fn __len__(&self) -> usize {
        self.counts.len()
    }

    /// Total number of words counted (saturating at 2^64 - 1).
    #[getter]
    fn total(&self) -> u64 {
        self.counts.total()
    }

    /// The pre-tokenization regex (`None` for BERT words).
    #[getter]
    fn pattern(&self) -> Option<&str> {
        match &self.splitter {
            Splitter::Pattern(p) => Some(p.pattern()),
            Splitter::Bert(_) => None,
        }
    }

    /// The BERT normalizer switches (`None` for pattern counts or no normalizer).
    #[getter]
    fn normalizer(&self) -> Option<(bool, bool, bool, bool)> {
        match &self.splitter {
            Splitter::Bert(Some(n)) => {
                Some((n.clean_text, n.handle_chinese_chars, n.strip_accents, n.lowercase))
            }
            _ => None,
        }
    }

    /// The special tokens cut out of the text.
    #[getter]
    fn special_tokens(&self) -> Vec<String> {
        self.specials.tokens().iter().map(|(t, _)| t.clone()).collect()
    }
}

/// Trains a byte-level BPE model from word counts. Ids: `special_tokens` first, then the
/// 256 bytes (in HF's order: by the code points of their byte-level characters), then
/// merges, for `vocab_size` ids in all (fewer if the corpus runs out).
/// With `consume`, the counts are moved into training (freeing them early) and the counter
/// is left empty.
#[pyfunction]
#[pyo3(signature = (counter, vocab_size, special_tokens, min_frequency=0, max_token_length=None, progress=None, consume=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_bpe(
    py: Python<'_>,
    mut counter: PyRefMut<'_, WordCounter>,
    vocab_size: usize,
    special_tokens: Vec<String>,
    min_frequency: u64,
    max_token_length: Option<usize>,
    progress: Option<Py<PyAny>>,
    consume: bool,
) -> PyResult<Bpe> {
    let floor = 256 + special_tokens.len();
    if vocab_size < floor {
        return Err(to_py(Error::TrainerConfig(format!(
            "vocab_size={vocab_size} is smaller than the alphabet: 256 byte tokens + {} special tokens = {floor}; use vocab_size >= {floor}",
            special_tokens.len()
        ))));
    }
    if max_token_length == Some(0) {
        return Err(to_py(Error::TrainerConfig(
            "max_token_length must be at least 1 (or None for no limit)".into(),
        )));
    }
    let opts = TrainOptions { merges: vocab_size - floor, min_frequency, max_token_length };
    let Splitter::Pattern(pretok) = counter.splitter.clone() else {
        return Err(to_py(Error::TrainerConfig(
            "these counts hold BERT words (WordCounts.bert()), which only WordPiece training takes, and that from the text: use Tokenizer.train_wordpiece(files=..., texts=...); for BPE, count with WordCounts(pattern=...)".into(),
        )));
    };
    // `consume`: the counts move into training and are freed before merging (the counter
    // is left empty); otherwise training borrows them.
    let owned = consume.then(|| std::mem::take(&mut counter.counts));
    let counts = &counter.counts;
    let model = with_progress(py, progress, |report| {
        let trained = match owned {
            Some(counts) => train_owned(counts, &opts, report)?,
            None => train(counts, &opts, report)?,
        };
        BpeModel::from_trained(&trained, special_tokens, pretok)
    })?;
    Ok(Bpe::new(model))
}

/// Learns a WordPiece vocabulary (tokens by id) from BERT word counts; see
/// `rust/bert/train.rs` for the rule and the order of the vocabulary. Words of more than
/// `max_word_chars` characters give the alphabet their characters but no pieces.
#[pyfunction]
#[pyo3(signature = (counter, vocab_size, special_tokens, min_frequency=0, limit_alphabet=None, prefix="##".to_string(), max_token_length=None, progress=None, max_word_chars=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_wordpiece(
    py: Python<'_>,
    counter: PyRef<'_, WordCounter>,
    vocab_size: usize,
    special_tokens: Vec<String>,
    min_frequency: u64,
    limit_alphabet: Option<usize>,
    prefix: String,
    max_token_length: Option<usize>,
    progress: Option<Py<PyAny>>,
    max_word_chars: Option<usize>,
) -> PyResult<Vec<String>> {
    if !matches!(counter.splitter, Splitter::Bert(_)) {
        return Err(to_py(Error::TrainerConfig(
            "these counts hold BPE pre-tokens; count BERT words (WordCounts.bert()) to train WordPiece".into(),
        )));
    }
    let opts = WordPieceOptions {
        vocab_size,
        min_frequency,
        limit_alphabet,
        special_tokens,
        prefix,
        max_token_length,
        max_word_chars,
    };
    let counts = &counter.counts;
    with_progress(py, progress, |report| learn_wordpiece(counts, &opts, report))
}
