"""Encoding from pre-merged characters (rust/bpe/chars.rs) gives exactly the ids of merging
from bytes: against the Python reference on tokenizers trained to put merges across
characters among those inside them, and against tiktoken with GPT-2 and cl100k, on text
mixing Chinese, Japanese, Cyrillic, accents, emoji and ASCII, short and long."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lexforge as lf
from lexforge import datasets
from lexforge.reference import ReferenceBPE

# の ends in \xae and 的 starts with \xe7: GPT-2 merges の + \xe7 before 的's own bytes
ALPHABET = [*"的中国の人民я日本éü語a 1,，。!", "😀", "👍🏽", "\u0301"]
WEIGHTS = [8, 6, 6, 5, 4, 4, 3, 3, 2, 2, 2, 2, 3, 4, 1, 1, 2, 2, 1, 1, 1, 1]

texts = st.lists(st.sampled_from(ALPHABET), max_size=150).map("".join)


def mixed_lines(seed: int, lines: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(ALPHABET, WEIGHTS, k=rng.randint(5, 80))) for _ in range(lines)]


@pytest.fixture(scope="module", params=[0, 1, 2])
def trained(request: pytest.FixtureRequest) -> tuple[lf.Tokenizer, ReferenceBPE]:
    tok = lf.Tokenizer.train_bpe(
        texts=mixed_lines(request.param, 3000),
        vocab_size=[300, 600, 1500][request.param],
        show_progress=False,
    )
    return tok, ReferenceBPE(tok.vocab(), tok.merges(), tok.pattern)


@settings(max_examples=300, deadline=None)
@given(text=texts)
def test_trained_tokenizers_agree_with_the_reference(
    trained: tuple[lf.Tokenizer, ReferenceBPE], text: str
) -> None:
    tok, reference = trained
    assert tok.encode_ordinary(text) == reference.encode_ordinary(text)


def test_long_pieces_agree_with_the_reference(trained: tuple[lf.Tokenizer, ReferenceBPE]) -> None:
    tok, reference = trained
    rng = random.Random(5)
    # one letter run of 10 to 400 characters: more than 96 bytes, more than 96 units
    for n in [10, 33, 40, 97, 400]:
        text = "".join(rng.choices("的中国の人民日本語я", k=n))
        assert tok.encode_ordinary(text) == reference.encode_ordinary(text), n


@pytest.mark.parametrize("name", ["gpt2", "cl100k"])
def test_pretrained_agree_with_tiktoken(name: str) -> None:
    pytest.importorskip("tiktoken")
    from test_parity import tiktoken_encoding

    files = datasets.files("gpt2" if name == "gpt2" else "cl100k_base")
    ours = lf.Tokenizer.from_file(files["encoder.json" if name == "gpt2" else "ranks"])
    theirs = tiktoken_encoding(name if name == "gpt2" else "cl100k_base", files)
    sample = [*mixed_lines(9, 2000), "".join(random.Random(3).choices("的中国の人民", k=500))]
    want = [theirs.encode_ordinary(t) for t in sample]  # type: ignore[attr-defined]
    assert ours.encode_batch(sample, disallowed_special=()) == want
