"""Exception classes raised by lexforge.

Every class subclasses a built-in (``ValueError``, ``OSError``, ``ImportError`` for a
missing optional dependency, or ``FloatingPointError`` for a training run whose loss
stopped being a number) so that callers can
catch either the precise lexforge class or the built-in they already handle. The Rust
core maps its error kinds onto these classes in exactly one place (``rust/py/errors.rs``).
Messages name the offending file, line, token or id and say how to fix the problem.
"""

from __future__ import annotations

__all__ = [
    "AttentionInputError",
    "CheckpointError",
    "ConfigError",
    "CorpusError",
    "DatasetDownloadError",
    "DatasetError",
    "DatasetIntegrityError",
    "EncodingError",
    "LexforgeError",
    "MissingDependencyError",
    "PatternError",
    "ShardError",
    "SpecialTokenError",
    "TokenIdError",
    "TokenizerFormatError",
    "TrainerConfigError",
    "TrainingDivergedError",
]


class LexforgeError(Exception):
    """Base class of every error lexforge raises on purpose."""


class TokenizerFormatError(LexforgeError, ValueError):
    """A tokenizer file (tokenizer.json, vocab.json, merges.txt, a tiktoken rank file) is
    malformed, truncated, inconsistent, or uses a component lexforge does not support."""


class PatternError(LexforgeError, ValueError):
    """A pre-tokenization pattern is not a valid regular expression or is an unknown preset."""


class CorpusError(LexforgeError, ValueError):
    """A training corpus is empty, or a file that must be text is not valid UTF-8."""


class ConfigError(LexforgeError, ValueError):
    """Options that cannot be satisfied: truncation that cannot fit a pair, ``max_length``
    below the special tokens, rows that need padding to form arrays, unknown option values."""


class TrainerConfigError(ConfigError):
    """Training options are inconsistent (for example ``vocab_size`` below the alphabet size)."""


class SpecialTokenError(LexforgeError, ValueError):
    """Text contains a special token that the caller did not allow."""


class TokenIdError(LexforgeError, ValueError):
    """A token id is outside the vocabulary."""


class EncodingError(LexforgeError, ValueError):
    """Input cannot be encoded: a byte with no token in this vocabulary, or a str that is
    not valid Unicode (a lone surrogate, which has no UTF-8 form)."""


class ShardError(LexforgeError, ValueError):
    """A shard directory is missing its manifest, unfinished, built from a different corpus
    or tokenizer, or holds a file that is missing, truncated or corrupt."""


class DatasetError(LexforgeError):
    """Base class of dataset fetching and parsing errors."""


class DatasetDownloadError(DatasetError, OSError):
    """The package registry could not be reached or refused the pinned package."""


class DatasetIntegrityError(DatasetError, ValueError):
    """A fetched package does not match its pinned sha256, or its files are not laid out
    as expected."""


class AttentionInputError(LexforgeError, ValueError):
    """Tensors given to ``lexforge.ops`` do not fit together: shapes, dtypes, devices, an
    unsupported head dimension, a padding mask or lengths of the wrong shape or dtype, or
    ``cu_seqlens`` that are not increasing. Raised before any kernel is launched."""


class CheckpointError(LexforgeError, ValueError):
    """A model checkpoint cannot be used: missing, truncated or corrupt files, a
    ``config.json`` that is not a BERT's, or weights whose names or shapes do not match."""


class TrainingDivergedError(LexforgeError, FloatingPointError):
    """A training run's loss became NaN or infinite (a learning rate too high, or
    non-finite inputs or labels), or an update left the weights, or the outputs they
    give, non-finite. Raised before the diverged weights are saved anywhere: by
    fine-tuning at the step where it happened (an epoch's last update is checked on its
    batch again); by pretraining at the first log, save or evaluation step after it
    (checking the loss every step would wait on the device every step)."""


class MissingDependencyError(LexforgeError, ImportError):
    """An optional dependency a feature needs is not installed (the models and training
    loops need ``torch`` and ``safetensors``: ``pip install 'lexforge[train]'``). Raised
    before any work starts, so that no training is lost to a missing writer."""
