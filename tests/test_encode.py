"""Encoding and decoding: round trips on arbitrary text and bytes, agreement with the
reference encoder, special-token safety, batches, NumPy outputs, offsets, bad ids and
pathological inputs."""

from __future__ import annotations

import gc
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lexforge as lf
from lexforge.errors import ConfigError, EncodingError, SpecialTokenError, TokenIdError
from lexforge.reference import ReferenceBPE

SPECIALS = ["<|endoftext|>", "<|pad|>"]


@pytest.fixture(scope="module")
def tok(wiki_text: str) -> lf.Tokenizer:
    return lf.Tokenizer.train_bpe(
        texts=wiki_text[:1_000_000].split("\n"),
        vocab_size=2000,
        special_tokens=SPECIALS,
        show_progress=False,
    )


@pytest.fixture(scope="module")
def reference(tok: lf.Tokenizer) -> ReferenceBPE:
    return ReferenceBPE(tok.vocab(), tok.merges(), tok.pattern, tok.special_tokens)


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=200))
def test_round_trip_text(tok: lf.Tokenizer, text: str) -> None:
    ids = tok.encode(text, disallowed_special=())
    assert tok.decode(ids) == text
    assert tok.decode_bytes(ids) == text.encode("utf-8", errors="surrogatepass")


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=200))
def test_round_trip_arbitrary_bytes(tok: lf.Tokenizer, data: bytes) -> None:
    assert tok.decode_bytes(tok.encode_bytes(data, disallowed_special=())) == data


def test_invalid_utf8_bytes() -> None:
    tok = lf.Tokenizer.train_bpe(texts=["hello world"] * 3, vocab_size=270, show_progress=False)
    for data in [
        b"\xff",
        b"ab\xc3",
        b"\xe4\xb8",
        b"x\x80\x80y",
        b"\xed\xa0\x80",
        "é".encode()[:1] * 5,
    ]:
        assert tok.decode_bytes(tok.encode_bytes(data)) == data
    assert tok.decode(tok.encode_bytes(b"ok\xff")) == "ok\ufffd"


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(list("the quick brown fox, 123 ünï中文\n\t'sll") + SPECIALS), max_size=60
    ).map("".join)
)
def test_agrees_with_the_reference(tok: lf.Tokenizer, reference: ReferenceBPE, text: str) -> None:
    assert tok.encode(text, allowed_special="all") == reference.encode(text)


def test_agrees_with_the_reference_on_real_text(
    tok: lf.Tokenizer, reference: ReferenceBPE, wiki_text: str
) -> None:
    sample = wiki_text[2_000_000:2_040_000]
    assert tok.encode(sample) == reference.encode(sample)


def test_special_token_safety(tok: lf.Tokenizer) -> None:
    text = "hi <|endoftext|> there"
    with pytest.raises(SpecialTokenError, match=r"<\|endoftext\|>.*allowed_special"):
        tok.encode(text)
    eot = tok.special_tokens["<|endoftext|>"]
    assert eot in tok.encode(text, allowed_special={"<|endoftext|>"})
    assert eot in tok.encode(text, allowed_special="all")
    plain = tok.encode(text, disallowed_special=())
    assert eot not in plain and tok.decode(plain) == text
    assert tok.encode_ordinary(text) == plain
    # allowing one special does not allow the other
    with pytest.raises(SpecialTokenError, match="pad"):
        tok.encode("<|pad|>", allowed_special={"<|endoftext|>"})
    with pytest.raises(ValueError, match="not a special token"):
        tok.encode("x", allowed_special={"<nope>"})
    with pytest.raises(TypeError):
        tok.encode("x", allowed_special="<|pad|>")
    with pytest.raises(SpecialTokenError, match="text 1"):
        tok.encode_batch(["fine", "not <|pad|> fine"])
    # as model inputs, the second text of a pair is named as such
    with pytest.raises(SpecialTokenError, match="pair 1"):
        tok.encode_batch(["a", "b"], ["fine", "not <|pad|> fine"], return_tensors="np")
    with pytest.raises(SpecialTokenError, match="text 0"):
        tok.encode_batch(["<|pad|>"], ["fine"])


def test_batches_match_single_calls_for_any_thread_count(tok: lf.Tokenizer, wiki_text: str) -> None:
    texts = wiki_text[:300_000].split("\n")
    single = [tok.encode(t) for t in texts]
    for threads in (1, 2, 4):
        assert tok.encode_batch(texts, num_threads=threads) == single
    # as model inputs (pairs, windows, padding): the same rows for any thread count
    kw = {"max_length": 24, "truncation": True, "stride": 4, "padding": True,
          "return_overflowing_tokens": True, "return_tensors": "np", "return_offsets": True,
          "return_word_ids": True, "pad_token_id": 0}  # fmt: skip
    runs = [tok.encode_batch(texts, texts[::-1], num_threads=t, **kw) for t in (1, 2, 4)]
    assert all(
        all((r[k] == runs[0][k]).all() for k in runs[0]) and r.keys() == runs[0].keys()
        for r in runs[1:]
    )
    # as model inputs: padded int64 arrays whose real tokens are the same ids
    with pytest.raises(ConfigError, match="padding=True"):
        tok.encode_batch(texts, return_tensors="np")
    batch = tok.encode_batch(texts[:200], return_tensors="np", padding=True, pad_token_id=0)
    assert batch["input_ids"].dtype == np.int64
    mask = batch["attention_mask"].astype(bool)
    assert [row[m].tolist() for row, m in zip(batch["input_ids"], mask, strict=True)] == single[
        :200
    ]
    flat, cu = tok.encode_batch_flat(texts)
    assert flat.dtype == np.uint32 and cu.dtype == np.int64 and len(cu) == len(texts) + 1
    assert [flat[cu[i] : cu[i + 1]].tolist() for i in range(len(texts))] == single
    with pytest.raises(TypeError, match="sequence of texts"):
        tok.encode_batch("one text")  # type: ignore[call-overload]


def test_batches_leave_the_garbage_collector_as_they_found_it(tok: lf.Tokenizer) -> None:
    # the id lists are built with the collector paused (they hold no cycles); its state
    # comes back afterwards, also when an error stops the batch
    texts = ["some text to encode"] * 50
    assert gc.isenabled()
    assert tok.encode_batch(texts, num_threads=2) == [tok.encode(texts[0])] * 50
    assert gc.isenabled()
    gc.disable()
    try:
        tok.encode_batch(texts)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(SpecialTokenError):
        tok.encode_batch([*texts, "<|pad|>"])
    assert gc.isenabled()


def test_numpy_output_and_input(tok: lf.Tokenizer) -> None:
    arr = tok.encode_to_numpy("numpy arrays")
    assert (arr.dtype == np.uint32 and arr.flags["OWNDATA"] is False) or arr.base is not None
    assert arr.tolist() == tok.encode("numpy arrays")
    for dtype in (np.int64, np.uint32, np.int32, np.uint16):
        assert tok.decode(arr.astype(dtype)) == "numpy arrays"
    with pytest.raises(ValueError, match="one-dimensional"):
        tok.decode(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="integers"):
        tok.decode(np.zeros(2, dtype=np.float32))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_offsets_cover_the_text(tok: lf.Tokenizer, text: str) -> None:
    ids, offsets = tok.encode_with_offsets(text, disallowed_special=())
    assert offsets.shape == (len(ids), 2)
    if len(ids):
        assert offsets[0, 0] == 0 and offsets[-1, 1] == len(text)
        assert (offsets[1:, 0] >= offsets[:-1, 0]).all()
    for (start, end), token_id in zip(offsets.tolist(), ids.tolist(), strict=True):
        piece = tok.id_to_token(token_id)
        assert piece in text[start:end].encode("utf-8")


def test_offsets_of_ascii_tokens(tok: lf.Tokenizer) -> None:
    text = "Hello wörld <|pad|>!"
    _, offsets = tok.encode_with_offsets(text, allowed_special="all")
    pairs = offsets.tolist()
    # tokens that split one character (ö is two bytes) share that character's span
    distinct = [p for i, p in enumerate(pairs) if i == 0 or p != pairs[i - 1]]
    assert "".join(text[s:e] for s, e in distinct) == text
    assert [text[s:e] for s, e in pairs][-2:] == ["<|pad|>", "!"]


def test_unknown_ids(tok: lf.Tokenizer) -> None:
    for bad in ([tok.vocab_size], [-1], [2**40]):
        with pytest.raises(TokenIdError, match="not in the vocabulary"):
            tok.decode(bad)
    pad = tok.special_tokens["<|pad|>"]
    assert tok.decode([pad], skip_special_tokens=False) == "<|pad|>"
    assert tok.decode([pad]) == ""  # left out by default, as in HF and WordPiece


def test_decode_of_any_ids_matches_hf_and_the_array_path(
    tok: lf.Tokenizer, tmp_path: object
) -> None:
    """Lists of ids decode in one core call when no added token is among them (invalid
    UTF-8 replaced as Python's ``errors="replace"`` does); with special tokens, other
    ``errors`` or arrays, through the general path. Both agree with each other and with
    HF on random ids from the whole vocabulary, a special token now and then."""
    hf = pytest.importorskip("tokenizers")
    from pathlib import Path

    path = Path(str(tmp_path)) / "tokenizer.json"
    tok.save(path)
    theirs = hf.Tokenizer.from_file(str(path))
    rng = random.Random(0)
    specials = list(tok.special_tokens.values())
    for _ in range(300):
        ids = [rng.randrange(tok.vocab_size) for _ in range(rng.randrange(0, 12))]
        if rng.random() < 0.3:
            ids.insert(rng.randrange(len(ids) + 1), rng.choice(specials))
        for skip in (True, False):
            mine = tok.decode(ids, skip_special_tokens=skip)
            assert mine == theirs.decode(ids, skip_special_tokens=skip), ids
            assert mine == tok.decode(np.array(ids, dtype=np.int64), skip_special_tokens=skip)
        kept = [i for i in ids if i not in specials]
        data = tok.decode_bytes(kept)
        for errors in ("replace", "ignore", "backslashreplace"):
            assert tok.decode(kept, errors=errors) == data.decode("utf-8", errors)
    with pytest.raises(TypeError, match="must be integers"):
        tok.decode([1, "2"])
    with pytest.raises(TokenIdError, match="not in the vocabulary"):
        tok.decode([1, tok.vocab_size + 5])


def test_missing_byte_tokens_raise(tmp_path: object) -> None:
    from lexforge._core import Bpe

    vocab = [(bytes([b]), b) for b in range(128)]  # ASCII only
    partial = lf.Tokenizer(Bpe.from_merges(vocab, [], [], "gpt2"))
    assert partial.decode(partial.encode("plain")) == "plain"
    with pytest.raises(EncodingError, match="no token"):
        partial.encode("café")


def test_pathological_inputs(tok: lf.Tokenizer) -> None:
    same = "a" * 1_000_000
    assert tok.decode(tok.encode(same)) == same
    rng = random.Random(1)
    no_spaces = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz.,;") for _ in range(10_000_000))
    ids = tok.encode(no_spaces)
    assert tok.decode(ids) == no_spaces
    assert len(ids) < len(no_spaces)
    spaces = " " * 100_000 + "x"
    assert tok.decode(tok.encode(spaces)) == spaces


def test_models_sharing_a_thread_do_not_mix(tok: lf.Tokenizer, wiki_text: str) -> None:
    other = lf.Tokenizer.train_bpe(
        texts=wiki_text[:200_000].split("\n"), vocab_size=700, show_progress=False
    )
    text = wiki_text[:20_000]
    a, b = tok.encode(text), other.encode(text)
    assert a != b
    for _ in range(3):  # each switch must not serve the other model's cached pieces
        assert tok.encode(text) == a
        assert other.encode(text) == b
        assert other.encode_batch([text] * 3, num_threads=2) == [b] * 3
    assert lf.Tokenizer(tok._core).encode(text) == a


def test_large_batches_report_the_right_text(tok: lf.Tokenizer) -> None:
    texts = ["plain text " * 100] * 12_000  # about 13 MB: encoded in several rounds
    texts[-2] = "a late <|pad|> here"
    with pytest.raises(SpecialTokenError, match=f"text {len(texts) - 2} "):
        tok.encode_batch(texts)
    ok = tok.encode_batch(texts, disallowed_special=())
    assert len(ok) == len(texts) and ok[0] == tok.encode(texts[0])


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_parallel_encoding_works_after_fork(tok: lf.Tokenizer) -> None:
    import os

    texts = ["fork safety " * 50] * 200
    expected = tok.encode_batch(texts, num_threads=2)  # the pool exists before the fork
    pid = os.fork()
    if pid == 0:  # child: the inherited pool has no threads; a new one must be built
        ok = tok.encode_batch(texts, num_threads=2) == expected
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


def test_thread_count_from_the_environment() -> None:
    import subprocess
    import sys

    code = (
        "from lexforge import _core; print(_core.resolve_threads(None), _core.resolve_threads(3))"
    )
    env = {**__import__("os").environ, "LEXFORGE_NUM_THREADS": "5"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["5", "3"]


@pytest.mark.parametrize("cls", [lf.Tokenizer, lf.BpeTokenizer, lf.WordPieceTokenizer])
def test_encode_is_typed_by_return_tensors(cls: type) -> None:
    """``encode`` is typed ``list[int]`` for ids and not for ``return_tensors``, which
    returns a (1, n) array or tensor (its one annotation, ``list[int]``, had a type checker
    reject ``tok.encode(text, return_tensors="pt").shape``)."""
    import typing

    if not hasattr(typing, "get_overloads"):  # (Python 3.11)
        pytest.skip("typing.get_overloads is Python 3.11's")
    returns = {
        str(item.__annotations__["return_tensors"]): str(item.__annotations__["return"])
        for item in typing.get_overloads(cls.encode)
    }
    assert returns == {"None": "list[int]", "Literal['np', 'pt']": "Any"}
    tok = lf.Tokenizer.train_wordpiece(texts=["a b c"] * 3, vocab_size=40)
    row = tok.encode("a b", return_tensors="np")
    assert row.shape == (1, 4) and row.dtype == np.int64
