"""Shared fixtures. Datasets come from one cache for the whole session: ``$LEXFORGE_CACHE``
when set (CI keeps it between runs), else a temporary folder created here."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import pytest

_made_cache: str | None = None  # the temporary cache this process created, if any


def pytest_configure(config: pytest.Config) -> None:
    global _made_cache
    if not os.environ.get("LEXFORGE_CACHE"):
        # xdist's workers start after this and inherit the variable: one cache per run
        _made_cache = tempfile.mkdtemp(prefix="lexforge-test-cache-")
        os.environ["LEXFORGE_CACHE"] = _made_cache
    # Without a GPU the Triton kernels run in the interpreter. Triton reads the switch when
    # it is first imported, so set it before any test module can import it.
    if "TRITON_INTERPRET" not in os.environ and not _cuda():
        os.environ["TRITON_INTERPRET"] = "1"
    # A shell starts a background job (`pytest &` in a script) with SIGINT ignored, and the
    # commands the tests start would inherit that: the Ctrl-C tests would interrupt
    # nothing. Handled here, SIGINT is back at its default in every command started.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _made_cache is not None:  # hundreds of MB of extracted datasets: not left in /tmp
        shutil.rmtree(_made_cache, ignore_errors=True)


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.fixture(scope="session")
def wiki_text() -> str:
    """English Wikipedia leads (~4.9 MB), the multi-MB parity corpus."""
    from lexforge import datasets

    return datasets.corpus_text("wiki-leads").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def gpt2_files() -> dict[str, Path]:
    from lexforge import datasets

    return datasets.files("gpt2")


@pytest.fixture(scope="session")
def rank_files() -> dict[str, Path]:
    from lexforge import datasets

    return {name: datasets.files(name)["ranks"] for name in ("cl100k_base", "o200k_base")}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small randomly initialised BERT (MLM head) with the bert-base-uncased tokenizer,
    saved in the HF format: the starting point of the fine-tuning tests."""
    import lexforge as lf
    from lexforge import datasets

    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    return _saved_tiny_model(tok, tmp_path_factory.mktemp("pretrained"))


def _saved_tiny_model(tok: Any, path: Path) -> Path:
    """A randomly initialised 2-layer BERT (hidden 64, MLM head) for ``tok``, saved with it
    in the HF format at ``path``."""
    import torch

    from lexforge.model import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(
        vocab_size=tok.vocab_size, hidden_size=64, num_layers=2, num_heads=2,
        intermediate_size=128, max_position_embeddings=64,
    ))  # fmt: skip
    model.save_pretrained(path, tokenizer=tok)
    return path


@pytest.fixture(scope="session")
def tiny_bpe_checkpoint(tmp_path_factory: pytest.TempPathFactory, wiki_text: str) -> Path:
    """``tiny_checkpoint``'s model with a byte-level BPE trained on lowercased wiki-leads
    (BERT's special tokens; the export frames texts with [CLS] and [SEP]): a RoBERTa-style
    vocabulary under a BERT."""
    import lexforge as lf

    tok = lf.Tokenizer.train_bpe(
        texts=wiki_text.lower().split("\n")[:3000], vocab_size=2000,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    )  # fmt: skip
    return _saved_tiny_model(tok, tmp_path_factory.mktemp("pretrained-bpe"))


@pytest.fixture(scope="session")
def bpe() -> Any:
    """A tiny byte-level BPE with a special token in its text, for the input-checking tests
    (a module's own ``bpe`` fixture, where it has one, is that module's)."""
    import lexforge as lf

    texts = ["hello world <|e|>", "hello there world"] * 5
    return lf.Tokenizer.train_bpe(texts=texts, vocab_size=300, special_tokens=["<|e|>"])


@pytest.fixture(scope="session")
def wordpiece() -> Any:
    """A tiny WordPiece with BERT's first four special tokens, as :func:`bpe`."""
    import lexforge as lf

    return lf.Tokenizer.train_wordpiece(
        texts=["hello world"] * 3,
        vocab_size=60,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"],
    )
