"""pytest-benchmark suite: the same comparisons as the scripts, on small inputs so it runs
in a minute. ``pytest benches --benchmark-only`` (not part of the test run). The scripts
``bench_train.py`` and ``bench_encode.py`` measure the full-size targets and print ratios."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lexforge as lf
from _common import GPT2_REGEX
from lexforge import datasets

tiktoken = pytest.importorskip("tiktoken")
tokenizers = pytest.importorskip("tokenizers")
GPT2_TT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


@pytest.fixture(scope="module")
def docs() -> list[str]:
    text = datasets.corpus_text("wiki-leads").read_text(encoding="utf-8")
    return [d for d in text.split("\n\n") if d]


@pytest.fixture(scope="module")
def gpt2() -> tuple[lf.Tokenizer, object, object]:
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks

    files = datasets.files("gpt2")
    ours = lf.Tokenizer.from_file(files["encoder.json"])
    ranks = data_gym_to_mergeable_bpe_ranks(str(files["vocab.bpe"]), str(files["encoder.json"]))
    tt = tiktoken.Encoding("gpt2", pat_str=GPT2_TT, mergeable_ranks=ranks, special_tokens={})
    hf = tokenizers.Tokenizer(
        tokenizers.models.BPE.from_file(str(files["encoder.json"]), str(files["vocab.bpe"]))
    )
    hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    return ours, tt, hf


@pytest.mark.benchmark(group="encode-gpt2-1thread")
def test_encode_lexforge(benchmark, gpt2, docs) -> None:  # type: ignore[no-untyped-def]
    ours, _, _ = gpt2
    benchmark(lambda: ours.encode_batch(docs, disallowed_special=(), num_threads=1))


@pytest.mark.benchmark(group="encode-gpt2-1thread")
def test_encode_tiktoken(benchmark, gpt2, docs) -> None:  # type: ignore[no-untyped-def]
    _, tt, _ = gpt2
    benchmark(lambda: [tt.encode_ordinary(d) for d in docs])


@pytest.mark.benchmark(group="encode-gpt2-1thread")
def test_encode_hf(benchmark, gpt2, docs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, _, hf = gpt2
    # one thread, as the others (HF reads this at each call), the whole corpus, ids read
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    benchmark.pedantic(lambda: [e.ids for e in hf.encode_batch(docs)], rounds=3)


def test_encoders_agree(gpt2, docs) -> None:  # type: ignore[no-untyped-def]
    """The group above times the same work: the three give the same ids."""
    ours, tt, hf = gpt2
    some = docs[:300]
    want = [tt.encode_ordinary(d) for d in some]
    assert ours.encode_batch(some, disallowed_special=(), num_threads=1) == want
    assert [e.ids for e in hf.encode_batch(some)] == want


@pytest.mark.benchmark(group="train-8k")
def test_train_lexforge(benchmark) -> None:  # type: ignore[no-untyped-def]
    path = datasets.corpus_text("wiki-leads")
    benchmark.pedantic(
        lambda: lf.Tokenizer.train_bpe(path, vocab_size=8192, num_threads=1, show_progress=False),
        rounds=3,
    )


@pytest.mark.benchmark(group="train-8k")
def test_train_hf(benchmark, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    path = datasets.corpus_text("wiki-leads")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")  # one thread, as lexforge's

    def run() -> None:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(
            vocab_size=8192,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train([str(path)], trainer)

    benchmark.pedantic(run, rounds=3)


def test_same_regex_constant() -> None:
    assert lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"]).pattern.startswith(
        GPT2_REGEX[:10]
    )
