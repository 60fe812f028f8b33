"""Padded NumPy outputs reuse the memory of freed ones (a small pool in the core, so a loop
over large batches does not fault in fresh pages every call). What must hold: a reused
buffer's old contents never show (every cell of every field is written again, padding
included, whatever the new shape), and an array that is still alive is never handed out a
second time. The rows are checked against HF ``tokenizers`` after the pool was filled with
a sentinel value from arrays of the same or larger sizes."""

from __future__ import annotations

import gc
import random
from typing import Any

import pytest

import lexforge as lf
from lexforge import datasets

hf = pytest.importorskip("tokenizers")
np = pytest.importorskip("numpy")

from test_wordpiece import assert_same  # noqa: E402

SENTINEL = 0x5A5A5A5A5A5A5A5A
FIELDS = {"return_offsets": True, "return_special_tokens_mask": True, "return_word_ids": True}


@pytest.fixture(scope="module")
def bert() -> tuple[lf.Tokenizer, Any]:
    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    return lf.Tokenizer.from_file(path), hf.Tokenizer.from_file(str(path))


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return [line for line in datasets.load_corpus("wiki-leads") if line.strip()][:3000]


def _poison(tok: lf.Tokenizer, texts: list[str], **kw: Any) -> None:
    """Arrays of `texts` (every field) overwritten with a sentinel, then freed: their
    buffers go back to the pool holding it."""
    out = tok.encode_batch(texts, return_tensors="np", **FIELDS, **kw)
    for arr in out.values():
        arr[...] = SENTINEL
    del out, arr
    gc.collect()


def test_reused_buffers_never_show_their_old_contents(
    bert: tuple[lf.Tokenizer, Any], lines: list[str]
) -> None:
    ours, theirs = bert
    rng = random.Random(0)
    for _ in range(12):
        n = rng.randint(50, 300)
        max_length = rng.choice([16, 64, 128])
        kw: dict[str, Any] = {
            "max_length": max_length,
            "truncation": True,
            "padding": rng.choice(["max_length", True]),
            "padding_side": rng.choice(["left", "right"]),
        }
        # a larger batch first (reused up to twice a call's size), then this one's size
        _poison(ours, rng.sample(lines, min(2 * n - 1, len(lines))), **kw)
        _poison(ours, rng.sample(lines, n), **kw)
        texts = [t[: rng.randint(0, 400)] for t in rng.sample(lines, n)]
        got = ours.encode_batch(texts, return_tensors="np", **FIELDS, **kw)
        for field, arr in got.items():
            assert not (arr == SENTINEL).any(), field
        del got
        _poison(ours, rng.sample(lines, n), **kw)
        assert_same(ours, theirs, texts, None, **kw)
    # pairs, whose rows hold both texts' type ids and sequence ids
    pairs = rng.sample(lines, 200)
    _poison(ours, pairs, max_length=96, truncation=True, padding="max_length")
    got = ours.encode_batch(
        pairs[:100], pairs[100:], return_tensors="np", return_sequence_ids=True,
        max_length=96, truncation=True, padding="max_length", **FIELDS,
    )  # fmt: skip
    assert not any((arr == SENTINEL).any() for arr in got.values())
    del got
    _poison(ours, pairs, max_length=96, truncation=True, padding="max_length")
    assert_same(
        ours, theirs, pairs[:100], pairs[100:], max_length=96, truncation=True,
        padding="max_length",
    )  # fmt: skip


def test_live_arrays_are_never_handed_out_again(
    bert: tuple[lf.Tokenizer, Any], lines: list[str]
) -> None:
    ours, _ = bert
    kw: dict[str, Any] = dict(max_length=64, truncation=True, padding="max_length", **FIELDS)
    for _ in range(3):  # the pool holds buffers of this size from the second round on
        kept = [ours.encode_batch(lines[:256], return_tensors="np", **kw) for _ in range(3)]
        copies = [{k: v.copy() for k, v in out.items()} for out in kept]
        for field in kept[0]:
            arrays = [out[field] for out in kept]
            for i in range(len(arrays)):
                for j in range(i):
                    assert not np.shares_memory(arrays[i], arrays[j]), field
            arrays[-1][...] = -7  # writeable, and no one else's
        for out, copy in zip(kept[:-1], copies[:-1], strict=True):
            for field, arr in out.items():
                assert np.array_equal(arr, copy[field]), field
        assert all(arr.flags.writeable and arr.flags.c_contiguous for arr in kept[0].values())
        del kept, copies, arrays, arr
        gc.collect()


def test_a_view_keeps_its_buffer_out_of_the_pool(
    bert: tuple[lf.Tokenizer, Any], lines: list[str]
) -> None:
    ours, _ = bert
    kw: dict[str, Any] = {"max_length": 32, "truncation": True, "padding": "max_length"}
    view = ours.encode_batch(lines[:512], return_tensors="np", **kw)["input_ids"][10:20]
    want = view.copy()
    gc.collect()  # the dict and the whole array are gone; the view holds the buffer
    for _ in range(4):
        out = ours.encode_batch(lines[512:1024], return_tensors="np", **kw)
        out["input_ids"][...] = SENTINEL
        del out
    assert np.array_equal(view, want)
