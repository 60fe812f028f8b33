"""lexforge: build BERT-style language models from scratch.

Tokenizers (byte-level BPE, WordPiece) are trained and run by a Rust core; attention runs in
Triton kernels; the model and its training loops are PyTorch. Heavy modules load lazily:
``import lexforge`` imports neither torch nor the compiled core until they are used.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from lexforge import _mkl  # noqa: F401 (sets MKL_CBWR before torch's first matrix product)
from lexforge.errors import (
    AttentionInputError,
    CheckpointError,
    ConfigError,
    CorpusError,
    DatasetDownloadError,
    DatasetError,
    DatasetIntegrityError,
    EncodingError,
    LexforgeError,
    PatternError,
    ShardError,
    SpecialTokenError,
    TokenIdError,
    TokenizerFormatError,
    TrainerConfigError,
    TrainingDivergedError,
)

if TYPE_CHECKING:
    __version__: str
    from lexforge import datasets, model, ops
    from lexforge.batch import BatchEncoding
    from lexforge.bpe import BpeTokenizer
    from lexforge.collate import MLMCollator
    from lexforge.masking import Masker, mask_tokens
    from lexforge.pretraining import PretrainingBatches
    from lexforge.shards import ShardSet, build_shards, split_sentences, write_corpus
    from lexforge.tokenizer import Tokenizer
    from lexforge.torch_data import PretrainingDataset
    from lexforge.train import finetune, pretrain
    from lexforge.training import WordCounts
    from lexforge.wordpiece import WordPieceTokenizer

# public name -> module that defines it; resolved on first attribute access (PEP 562)
_LAZY = {
    "BatchEncoding": "lexforge.batch",
    "BpeTokenizer": "lexforge.bpe",
    "Tokenizer": "lexforge.tokenizer",
    "WordPieceTokenizer": "lexforge.wordpiece",
    "WordCounts": "lexforge.training",
    "datasets": "lexforge.datasets",
    "Masker": "lexforge.masking",
    "MLMCollator": "lexforge.collate",
    "ShardSet": "lexforge.shards",
    "PretrainingBatches": "lexforge.pretraining",
    "PretrainingDataset": "lexforge.torch_data",
    "build_shards": "lexforge.shards",
    "split_sentences": "lexforge.shards",
    "write_corpus": "lexforge.shards",
    "mask_tokens": "lexforge.masking",
    "pretrain": "lexforge.train",
    "finetune": "lexforge.train",
    "model": "lexforge.model",
    "ops": "lexforge.ops",
    "train": "lexforge.train",
}

__all__ = [
    "AttentionInputError",
    "BatchEncoding",
    "BpeTokenizer",
    "CheckpointError",
    "ConfigError",
    "CorpusError",
    "DatasetDownloadError",
    "DatasetError",
    "DatasetIntegrityError",
    "EncodingError",
    "LexforgeError",
    "MLMCollator",
    "Masker",
    "PatternError",
    "PretrainingBatches",
    "PretrainingDataset",
    "ShardError",
    "ShardSet",
    "SpecialTokenError",
    "TokenIdError",
    "Tokenizer",
    "TokenizerFormatError",
    "TrainerConfigError",
    "TrainingDivergedError",
    "WordCounts",
    "WordPieceTokenizer",
    "__version__",
    "build_shards",
    "datasets",
    "finetune",
    "mask_tokens",
    "model",
    "ops",
    "pretrain",
    "split_sentences",
    "train",
    "write_corpus",
]


if importlib.util.find_spec("torch") is None:  # `from lexforge import *` imports them all
    _TORCH = {"PretrainingDataset", "finetune", "model", "ops", "pretrain", "train"}
    __all__ = [name for name in __all__ if name not in _TORCH]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read at first use: importlib.metadata takes most of the
        # import's time (about 40 ms of 55)
        globals()[name] = _version()
        return globals()[name]
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'lexforge' has no attribute {name!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:  # torch for the models and loops: the extra named
        from lexforge._extras import missing_module

        raise (missing_module(e) or e) from None
    value = module if module_name == f"lexforge.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("lexforge")
    except metadata.PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"


def __dir__() -> list[str]:
    return sorted(__all__)


def _check_threads() -> None:
    """Warns when ``LEXFORGE_NUM_THREADS`` is set to what the core cannot read as a count
    (it ignores it then and uses every core, which the user did not ask for)."""
    import os
    import re
    import warnings

    value = os.environ.get("LEXFORGE_NUM_THREADS")
    if value is not None and not (
        re.fullmatch(r"\+?[0-9]+", value.strip()) and int(value.strip()) > 0
    ):
        warnings.warn(
            f"LEXFORGE_NUM_THREADS={value!r} is not a whole number of at least 1, so it is "
            "ignored and every core is used; set it to a count such as 2, or unset it",
            stacklevel=3,
        )


_check_threads()
