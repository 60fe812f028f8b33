"""Seeded differential fuzzing of byte-level BPE training against HF's ``BpeTrainer``: each
seed draws a small corpus from a few pieces (so that pair counts tie often: the tie order
is where trainers part), a vocabulary size, ``min_frequency`` and a pre-tokenization
preset (GPT-2's through HF's ``ByteLevel``; cl100k's and o200k's through a ``Split`` on
the same regex), trains both and compares the merge lists. A failure names its seed:
``_check(seed)`` reproduces it. A corpus of white space only is refused by lexforge (a
``CorpusError``), where HF merges the spaces; such seeds check the refusal.
"""

from __future__ import annotations

import json
import random

import pytest

import lexforge as lf
from lexforge import _bytelevel
from lexforge.errors import CorpusError

hf = pytest.importorskip("tokenizers")

# pieces that make ties, every kind of white space and line end, letters with and without
# case, marks, CJK, emoji, digit runs and contractions
PIECES = ["a", "b", "c", "ab", "ba", "abc", " ", "  ", "\n", "\t", "\r\n", "\r", "é", "e\u0301",
          "東", "😀", "1", "22", " 123456", "'s", "I'm", "!", "-", "A", "Ab", "ÀB", "ǅ", "ü",
          "\u00a0", "\u3000"]  # fmt: skip


def _pattern(preset: str) -> str:
    return lf.Tokenizer.train_bpe(
        texts=["ab"], vocab_size=257, pattern=preset, show_progress=False
    ).pattern


def _hf_merges(texts: list[str], preset: str, vocab_size: int, min_frequency: int) -> list:
    pre = hf.pre_tokenizers
    theirs = hf.Tokenizer(hf.models.BPE())
    if preset == "gpt2":
        theirs.pre_tokenizer = pre.ByteLevel(add_prefix_space=False)
    else:
        theirs.pre_tokenizer = pre.Sequence([
            pre.Split(hf.Regex(_pattern(preset)), behavior="isolated"),
            pre.ByteLevel(add_prefix_space=False, use_regex=False),
        ])  # fmt: skip
    trainer = hf.trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
        initial_alphabet=pre.ByteLevel.alphabet(),
    )  # fmt: skip
    theirs.train_from_iterator(texts, trainer=trainer)
    merges = json.loads(theirs.to_str())["model"]["merges"]
    return [tuple(m.split(" ") if isinstance(m, str) else m) for m in merges]


def _check(seed: int) -> None:
    rng = random.Random(seed)
    pieces = rng.sample(PIECES, rng.choice([2, 4, 8, len(PIECES)]))
    texts = ["".join(rng.choices(pieces, k=rng.randint(0, 30))) for _ in range(rng.randint(1, 40))]
    vocab_size, min_frequency = rng.randint(256, 400), rng.choice([0, 0, 1, 2, 3, 5])
    preset = rng.choice(["gpt2", "cl100k", "o200k"])
    want = _hf_merges(texts, preset, vocab_size, min_frequency)
    kw = {"vocab_size": vocab_size, "min_frequency": min_frequency, "pattern": preset}
    if not "".join(texts).strip():
        with pytest.raises(CorpusError, match=r"only white space|is empty"):
            lf.Tokenizer.train_bpe(texts=texts, show_progress=False, **kw)
        return
    ours = lf.Tokenizer.train_bpe(texts=texts, show_progress=False, **kw)
    got = [(_bytelevel.encode(a), _bytelevel.encode(b)) for a, b in ours.merges()]
    first = next((i for i, (x, y) in enumerate(zip(got, want, strict=False)) if x != y), None)
    assert got == want, (
        f"seed {seed} ({preset}, vocab_size {vocab_size}, min_frequency {min_frequency}): "
        f"{len(got)} merges against HF's {len(want)}, first difference at {first}; "
        f"corpus {texts[:3]!r}..."
    )


@pytest.mark.parametrize("block", range(4))
def test_bpe_training_matches_hf(block: int) -> None:
    for seed in range(block * 250, block * 250 + 250):
        _check(seed)


@pytest.mark.slow
@pytest.mark.parametrize("block", range(20))
def test_bpe_training_matches_hf_long(block: int) -> None:
    for seed in range(10_000 + block * 500, 10_000 + block * 500 + 500):
        _check(seed)
