"""Arguments of the wrong type get a ``TypeError`` or a typed error naming the argument,
never an ``AttributeError`` from inside or a result read from them in some other way; and
NumPy's numbers and booleans, where ints and bools are taken, give what Python's give.
Found by a sweep of the public calls over a panel of values (None, bools, NumPy scalars,
bytes, sets, generators, 0-d tensors...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lexforge as lf
from lexforge.errors import ConfigError, TrainerConfigError

TEXTS = ["hello world", "hello there world"]


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
@pytest.mark.parametrize("token", [5, None, 1.5, np.int64(3)])
def test_token_to_id_of_no_token_is_a_type_error(
    kind: str, token: Any, request: pytest.FixtureRequest
) -> None:
    tok = request.getfixturevalue(kind)
    # WordPiece answered None (as for a token it lacks), BPE named no argument
    with pytest.raises(TypeError, match="token_to_id takes a token"):
        tok.token_to_id(token)


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
@pytest.mark.parametrize("tokens", [[None], ["hello", 5], [np.int64(7)], [b"hello"]])
def test_tokens_that_are_no_str_are_named_not_read_as_unknown(
    kind: str, tokens: list[Any], request: pytest.FixtureRequest
) -> None:
    tok = request.getfixturevalue(kind)
    # BPE raised AttributeError ('int' object has no attribute 'translate'); WordPiece
    # gave [UNK]'s id, and decoded them as [UNK]
    with pytest.raises(TypeError, match=r"tokens\[\d\] must be a token \(str\)"):
        tok.convert_tokens_to_ids(tokens)
    with pytest.raises(TypeError, match=r"tokens\[\d\] must be a token \(str\)"):
        tok.convert_tokens_to_string(tokens)


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_token_lists_of_other_kinds(kind: str, request: pytest.FixtureRequest) -> None:
    tok = request.getfixturevalue(kind)
    pieces = tok.tokenize("hello world")
    assert tok.convert_tokens_to_ids(tuple(pieces)) == tok.convert_tokens_to_ids(pieces)
    assert tok.convert_tokens_to_ids(None) is None  # as transformers
    # a generator gave "zip() argument 2 is longer than argument 1"
    with pytest.raises(TypeError, match="tokens must be a list of tokens"):
        tok.convert_tokens_to_string(t for t in pieces)
    with pytest.raises(TypeError, match="tokens must be a list of tokens"):
        tok.convert_tokens_to_ids(b"hello")


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
@pytest.mark.parametrize("unordered", [set, frozenset, dict.fromkeys])
def test_ids_in_no_order_are_refused_not_decoded_in_hash_order(
    kind: str, unordered: Any, request: pytest.FixtureRequest
) -> None:
    tok = request.getfixturevalue(kind)
    ids = tok.encode("hello there world", add_special_tokens=False)
    with pytest.raises(TypeError, match="whose order is arbitrary"):
        tok.decode(unordered(ids))
    with pytest.raises(TypeError, match=r"batch\[0\]: .*whose order is arbitrary"):
        tok.decode_batch([unordered(ids)])


@pytest.mark.parametrize("multiple", [np.uint32(4), np.uint64(4), np.int32(4), np.int64(4)])
def test_numpy_pad_to_multiple_of_pads_as_an_int(wordpiece: Any, multiple: Any) -> None:
    # a NumPy unsigned multiple raised OverflowError (Python integer -1 out of bounds)
    want = wordpiece(TEXTS, padding=True, pad_to_multiple_of=4)["input_ids"]
    assert wordpiece(TEXTS, padding=True, pad_to_multiple_of=multiple)["input_ids"] == want
    got = wordpiece.encode_batch(TEXTS, padding=True, pad_to_multiple_of=multiple)
    assert got == wordpiece.encode_batch(TEXTS, padding=True, pad_to_multiple_of=4)


def test_numpy_booleans_are_added_token_flags(wordpiece: Any) -> None:
    tok = lf.Tokenizer.from_str(wordpiece.to_str())
    assert tok.add_tokens(["covid"], lstrip=np.False_, normalized=np.True_) == 1
    with pytest.raises(TypeError, match="lstrip must be True or False"):
        tok.add_tokens(["other"], lstrip="no")


@pytest.mark.parametrize("special_tokens", ["<s>", {"<s>", "</s>"}, ["<s>", 5]])
def test_word_counts_special_tokens_are_checked_as_the_trainers_check_them(
    special_tokens: Any,
) -> None:
    # a str was cut into one-character special tokens, and a set taken in hash order
    with pytest.raises((TypeError, TrainerConfigError), match="special_tokens"):
        lf.WordCounts(special_tokens=special_tokens)
    with pytest.raises((TypeError, TrainerConfigError), match="special_tokens"):
        lf.WordCounts.bert(special_tokens=special_tokens)
    assert lf.WordCounts(special_tokens=("<s>",)).special_tokens == ["<s>"]


@pytest.mark.parametrize("count", [None, "3", 1.5, True])
def test_word_counts_count_that_is_no_integer_is_named(count: Any) -> None:
    # None and "3" raised "'<' not supported between instances"; True counted as 1
    with pytest.raises(TypeError, match="count must be an integer"):
        lf.WordCounts().add(b"hello", count)


def test_word_counts_count_as_a_numpy_or_torch_integer() -> None:
    torch = pytest.importorskip("torch")
    counts = lf.WordCounts()
    counts.add(b"hello", np.uint64(2))
    counts.add(b"hello", torch.tensor(3))  # was "count must be at most 2^64 - 1, got 3"
    assert counts.items() == [(b"hello", 5)]


@pytest.mark.parametrize("step", ["5", 1.5, None, -1])
def test_masker_rate_names_a_step_that_is_no_step(step: Any) -> None:
    # a constant rate was returned for any argument at all
    masker = lf.Masker(vocab_size=100, mask_token_id=3, special_ids=[0])
    with pytest.raises(ConfigError, match="step must be"):
        masker.rate(step)
    assert masker.rate(np.int64(7)) == masker.rate(7) == 0.15


def test_numpy_booleans_are_pretraining_flags() -> None:
    pytest.importorskip("torch")
    from lexforge.train.pretrain_options import PretrainOptions

    # "whole_word must be True or False, got np.True_"
    options = PretrainOptions(whole_word=np.True_, gradient_checkpointing=np.False_)
    assert options.whole_word is True and options.gradient_checkpointing is False
    with pytest.raises(ConfigError, match="compile must be True or False"):
        PretrainOptions(compile="yes")


def test_embed_max_length_as_a_0d_tensor(wordpiece: Any) -> None:
    torch = pytest.importorskip("torch")
    from lexforge.model import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(wordpiece), hidden_size=32, num_layers=1, num_heads=2)
    model = BertModel(config).eval()
    want = model.embed(TEXTS, tokenizer=wordpiece, max_length=8)
    # "'>' not supported between instances of 'numpy.ndarray' and 'Tensor'"
    got = model.embed(TEXTS, tokenizer=wordpiece, max_length=torch.tensor(8))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(
        model.embed(TEXTS, tokenizer=wordpiece, max_length=np.uint32(8)), want
    )


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
@pytest.mark.parametrize("flag", ["no", None, 0, 1.0])
def test_skip_special_tokens_takes_a_bool_as_in_hf(
    kind: str, flag: Any, request: pytest.FixtureRequest
) -> None:
    tok = request.getfixturevalue(kind)
    ids = tok.encode("hello world")
    # "no" was read as True and the special tokens left out; HF tokenizers refuses it
    with pytest.raises(TypeError, match="skip_special_tokens must be True or False"):
        tok.decode(ids, skip_special_tokens=flag)
    with pytest.raises(TypeError, match="skip_special_tokens must be True or False"):
        tok.batch_decode([ids], skip_special_tokens=flag)
    assert tok.decode(ids, skip_special_tokens=np.False_) == tok.decode(
        ids, skip_special_tokens=False
    )


@pytest.mark.parametrize("rows", [(i for i in [5, 6, 7]), {"input_ids": [5, 6, 7]}])
def test_mask_tokens_names_input_that_is_no_array(rows: Any) -> None:
    # was "input_ids must have shape (batch, length), got shape ()"
    with pytest.raises(ConfigError, match=r"input_ids must be a .* got (generator|dict)"):
        lf.mask_tokens(rows, vocab_size=100, mask_token_id=3, special_ids=[0])


@pytest.mark.parametrize("name", ["pad_to_multiple_of", "max_seq_len", "batch_size"])
def test_pretraining_batches_take_numpy_unsigned_sizes(name: str, tmp_path: Path) -> None:
    bert = lf.Tokenizer.from_file(lf.datasets.files("bert-base-uncased")["tokenizer.json"])
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The cat sat on the mat. It was warm there. The dog came in later.\n\n" * 20)
    shards = lf.build_shards(corpus, tmp_path / "shards", bert, progress=False)
    options: dict[str, Any] = {"batch_size": 4, "max_seq_len": 32, "pad_to_multiple_of": 8}

    def first(**changed: Any) -> dict[str, Any]:
        batches = lf.PretrainingBatches(shards, seed=1, epochs=1, **{**options, **changed})
        return {k: np.asarray(v).tolist() for k, v in next(iter(batches)).items()}

    # pad_to_multiple_of=np.uint32(8) raised OverflowError (Python integer -1 out of bounds)
    assert first(**{name: np.uint32(options[name])}) == first()


@pytest.mark.parametrize("index", [-1, 1.5, "1", np.float64(2.0)])
def test_word_and_char_lookups_name_an_index_that_is_no_index(wordpiece: Any, index: Any) -> None:
    enc = wordpiece(TEXTS, return_offsets_mapping=True)
    # -1, 1.5 and "1" were looked up as no word (None); HF's Encoding refuses them
    with pytest.raises(ConfigError, match="word_index must be"):
        enc.word_to_tokens(1, index)
    with pytest.raises(ConfigError, match="word_index must be"):
        enc.word_to_chars(1, index)
    with pytest.raises(ConfigError, match="char_index must be"):
        enc.char_to_token(1, index)
    with pytest.raises(ConfigError, match="char_index must be"):
        enc.char_to_word(1, index)
    assert enc.word_to_tokens(1, np.int64(1)) == enc.word_to_tokens(1, 1) is not None
    assert enc.char_to_token(1, np.uint32(7)) == enc.char_to_token(1, 7) is not None


@pytest.mark.parametrize("counts", [None, {b"hello": 3}, [(b"hello", 3)]])
def test_from_counts_names_counts_that_are_no_word_counts(counts: Any) -> None:
    # was "'NoneType' object has no attribute 'special_tokens'"
    with pytest.raises(TypeError, match=r"counts must be a lexforge\.WordCounts"):
        lf.Tokenizer.from_counts(counts, vocab_size=300)
