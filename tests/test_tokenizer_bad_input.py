"""Bad input to the tokenizers gets a typed error that names the problem and the fix, and
nothing is lost without a word: tiktoken rank files (which record neither the pattern nor
special tokens), text with lone surrogates, ids outside the vocabulary, and sizes too large
for the core's integer types."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lexforge as lf
from lexforge.cli import main
from lexforge.errors import (
    ConfigError,
    CorpusError,
    EncodingError,
    TokenIdError,
    TokenizerFormatError,
    TrainerConfigError,
)

TEXTS = ["hello world <|e|>", "hello there world"]


# ----------------------------------------------------------------- tiktoken rank files
def test_from_file_refuses_options_the_file_does_not_take(
    bpe: Any, wordpiece: Any, tmp_path: Path
) -> None:
    bpe.save(tmp_path / "bpe.json")
    wordpiece.save(tmp_path / "wp.json")
    wordpiece.save(tmp_path / "vocab.txt", format="vocab")
    for path, option, value, takers in [
        ("bpe.json", "pattern", "(", "a tiktoken rank file only"),
        ("wp.json", "lowercase", True, "a BERT vocab.txt only"),
        ("bpe.json", "special_tokens", ["<x>"], "GPT-2 vocab and merges files and a tiktoken"),
        ("vocab.txt", "pattern", "gpt2", "a tiktoken rank file only"),
    ]:
        with pytest.raises(ConfigError, match=f"{option}= does not apply .*{takers}"):
            lf.Tokenizer.from_file(tmp_path / path, **{option: value})
    assert main(["tokenize", "--tokenizer", str(tmp_path / "bpe.json"), "--pattern", "(",
                 str(tmp_path / "vocab.txt")]) == 1  # fmt: skip


def test_tiktoken_save_warns_what_it_loses_and_load_restores_it(bpe: Any, tmp_path: Path) -> None:
    path = tmp_path / "tt.tiktoken"
    with pytest.warns(UserWarning, match=r"cannot record .*'gpt2'.*'<\|e\|>': 0.*format='hf'"):
        bpe.save(path, format="tiktoken")
    # the file records no pattern: a typed error naming the fix, not a bare ValueError
    with pytest.raises(TokenizerFormatError, match=r"not named after a known encoding.*pattern="):
        lf.Tokenizer.from_file(path)
    # a custom file gets no preset special tokens: the size is the file's, the gap is named
    with pytest.warns(UserWarning, match=r"no rank holds the id\(s\) 0 .*special_tokens="):
        plain = lf.Tokenizer.from_file(path, pattern="gpt2")
    assert plain.special_tokens == {} and plain.vocab_size == bpe.vocab_size
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # told everything: no warning
        back = lf.Tokenizer.from_tiktoken(path, pattern="gpt2", special_tokens={"<|e|>": 0})
    assert back.special_tokens == bpe.special_tokens and back.vocab_size == bpe.vocab_size
    for text in TEXTS:
        assert back.encode(text, allowed_special="all") == bpe.encode(text, allowed_special="all")
    with pytest.raises(ConfigError, match=r"special_tokens as \{text: id\}"):
        lf.Tokenizer.from_file(path, pattern="gpt2", special_tokens=["<|e|>"])


def test_only_a_real_preset_file_gets_the_presets_special_tokens(tmp_path: Path) -> None:
    custom = lf.Tokenizer.train_bpe(texts=TEXTS * 5, vocab_size=290)
    n = custom.vocab_size  # the merges the corpus allows
    path = tmp_path / "gpt2.tiktoken"  # named like GPT-2's file, but n ranks, not 50,256
    with pytest.warns(UserWarning, match="cannot record the pre-tokenization pattern"):
        custom.save(path, format="tiktoken")
    with pytest.raises(TokenizerFormatError, match=f"named after gpt2 but holds {n} ranks"):
        lf.Tokenizer.from_file(path)
    tok = lf.Tokenizer.from_file(path, pattern="gpt2")  # not GPT-2's <|endoftext|> at 50256
    assert tok.special_tokens == {} and tok.vocab_size == n
    assert tok.encode(TEXTS[1]) == custom.encode(TEXTS[1])


def test_a_preset_file_saves_and_loads_without_loss(
    rank_files: dict[str, Path], tmp_path: Path
) -> None:
    cl100k = lf.Tokenizer.from_file(rank_files["cl100k_base"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its own name restores pattern and special tokens
        cl100k.save(tmp_path / "cl100k_base.tiktoken", format="tiktoken")
        back = lf.Tokenizer.from_file(tmp_path / "cl100k_base.tiktoken")
    assert back.special_tokens == cl100k.special_tokens and back.vocab_size == 100_277
    with pytest.warns(UserWarning, match="'cl100k'.*<\\|endoftext\\|>"):
        cl100k.save(tmp_path / "mine.tiktoken", format="tiktoken")


def test_cli_tokenize_a_rank_file(
    bpe: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tt.tiktoken"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bpe.save(path, format="tiktoken")
    src = tmp_path / "in.txt"
    src.write_text("hello world\n", encoding="utf-8")
    assert main(["tokenize", "--tokenizer", str(path), str(src)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lexforge: error:") and "--pattern" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the lost special token's id
        assert main(["tokenize", "--tokenizer", str(path), "--pattern", "gpt2", str(src)]) == 0
    assert capsys.readouterr().out.split() == [str(i) for i in bpe.encode("hello world\n")]


# ----------------------------------------------------------------- lone surrogates
BAD = "a\udcff b"  # what bytes b"a\xff b" become with errors="surrogateescape" (sys.argv)
WHERE = r"holds a lone surrogate '\\udcff' at character 1, .*byte 0xff.*errors='replace'"


@pytest.mark.parametrize(
    "call",
    ["encode", "encode_ordinary", "encode_to_numpy", "encode_with_offsets", "token_to_id"],
)
def test_bpe_encode_names_a_lone_surrogate(bpe: Any, call: str) -> None:
    with pytest.raises(EncodingError, match="^text " + WHERE):
        getattr(bpe, call)(BAD)


@pytest.mark.parametrize("call", ["encode_batch", "encode_batch_flat"])
def test_bpe_batches_name_the_text_with_a_lone_surrogate(bpe: Any, call: str) -> None:
    with pytest.raises(EncodingError, match=r"^texts\[1\] " + WHERE):
        getattr(bpe, call)(["ok", BAD])


def test_wordpiece_encode_names_a_lone_surrogate(wordpiece: Any) -> None:
    with pytest.raises(EncodingError, match="^text " + WHERE):
        wordpiece.encode(BAD)
    with pytest.raises(EncodingError, match=r"^pair holds a lone surrogate '\\ud800'"):
        wordpiece.encode("ok", "x\ud800")
    with pytest.raises(EncodingError, match=r"^texts\[1\] " + WHERE):
        wordpiece.encode_batch(["ok", BAD])
    with pytest.raises(EncodingError, match=r"^pairs\[0\] " + WHERE):
        wordpiece.encode_batch(["ok"], [BAD], return_tensors="np")
    with pytest.raises(EncodingError, match=r"^text " + WHERE):
        wordpiece.encode_with_offsets(BAD)
    assert isinstance(EncodingError("x"), ValueError)  # `except ValueError` still works


@pytest.mark.parametrize(
    "call", ["encode", "encode_ordinary", "encode_to_numpy", "encode_with_offsets"]
)
def test_bpe_encode_names_a_text_that_is_no_str(bpe: Any, call: str) -> None:
    """The core's own message ("'int' object is not an instance of 'str'") named no
    argument and no item."""
    with pytest.raises(TypeError, match=r"^text must be a str, got NoneType None$"):
        getattr(bpe, call)(None)


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_batches_name_the_item_that_is_no_str(bpe: Any, wordpiece: Any, kind: str) -> None:
    tok = bpe if kind == "bpe" else wordpiece
    with pytest.raises(TypeError, match=r"^texts\[2\] must be a str, got int 7$"):
        tok.encode_batch(["a", "b", 7])
    with pytest.raises(TypeError, match=r"^texts\[1\] must be a str, got bytes b'x': decode"):
        tok.encode_batch(["a", b"x"], return_tensors="np")
    with pytest.raises(TypeError, match=r"^pairs\[0\] must be a str, got NoneType None$"):
        tok.encode_batch(["a"], [None], max_length=8, truncation=True)
    if kind == "bpe":
        with pytest.raises(TypeError, match=r"^texts\[1\] must be a str, got float 1\.5$"):
            bpe.encode_batch_flat(["x", 1.5])


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_batches_refuse_texts_in_no_order(bpe: Any, wordpiece: Any, kind: str) -> None:
    """A set's rows could not be matched to its texts (HF tokenizers refuses one too); a
    dict would have its keys encoded."""
    tok = bpe if kind == "bpe" else wordpiece
    calls = [lambda t: tok.encode_batch(t), lambda t: tok.encode_batch(t, return_tensors="np")]
    if kind == "bpe":
        calls.append(lambda t: tok.encode_batch_flat(t))
    for call in calls:
        with pytest.raises(TypeError, match=r"^texts is a set, whose order is arbitrary"):
            call({"b", "a", "c"})
        with pytest.raises(TypeError, match=r"^texts is a frozenset"):
            call(frozenset({"b"}))
        with pytest.raises(TypeError, match=r"^texts is a dict: pass a list of texts"):
            call({"a": 1})
        assert call(("b", "a")) is not None and call({"a": 1}.keys()) is not None  # ordered
    with pytest.raises(TypeError, match=r"^pairs is a set"):
        tok.encode_batch(["a", "b"], {"c", "d"}, max_length=8, truncation=True)


def test_ids_of_the_wrong_kind_are_named(bpe: Any, wordpiece: Any) -> None:
    """bytes(5) is five NUL bytes: encode_bytes encoded an int as them; a str given as ids
    was read character by character; a 2-D tensor and a bad row of a batch were named by
    no place."""
    torch = pytest.importorskip("torch")
    for data in (5, True, [104, 105]):
        with pytest.raises(TypeError, match="encode_bytes takes bytes"):
            bpe.encode_bytes(data)
    assert bpe.encode_bytes(bytearray(b"hello")) == bpe.encode("hello")
    for tok in (bpe, wordpiece):
        with pytest.raises(TypeError, match=r"^batch\[1\]: ids must be a sequence of token ids"):
            tok.decode_batch([[1], None])
        with pytest.raises(TypeError, match="got str; to encode text, use encode"):
            tok.decode("123")
        with pytest.raises(ValueError, match=r"one-dimensional, got shape \(1, 2\)"):
            tok.decode(torch.tensor([[1, 2]]))
        assert tok.decode(torch.tensor([1, 2])) == tok.decode([1, 2])
        with pytest.raises(TokenIdError, match=r"^batch\[1\]: token id 100000"):
            tok.decode_batch([[1], [100000]])
        for one in (5, np.int64(5), torch.tensor(5)):  # one id: its text, as transformers
            assert tok.decode(one) == tok.decode([5])  # (list(5) said "'int' object...")
        with pytest.raises(TypeError, match=r"a list, array or tensor\), got object$"):
            tok.decode(object())  # type: ignore[arg-type]
        for data in (b"hi", bytearray(b"hi"), memoryview(b"hi")):  # bytearray: read as ids
            with pytest.raises(TypeError, match=r"got [a-z]+; if each byte is an id, pass list"):
                tok.decode(data)  # type: ignore[arg-type]


def test_a_cut_character_in_a_batch_raises_the_unicode_error_naming_its_row() -> None:
    """decode_batch named the row by building the error again from its message alone,
    which UnicodeDecodeError does not take: a TypeError about its arguments came out."""
    tok = lf.Tokenizer.train_bpe(texts=["😀 hi"] * 5, vocab_size=256)  # bytes alone
    ids = tok.encode("😀")
    assert len(ids) == 4
    with pytest.raises(UnicodeDecodeError) as cut:
        tok.decode(ids[:1], errors="strict")
    with pytest.raises(UnicodeDecodeError, match=r"batch\[1\]: ") as named:
        tok.decode_batch([ids, ids[:1]], errors="strict")
    assert (named.value.object, named.value.start) == (cut.value.object, cut.value.start)
    assert tok.decode_batch([ids, ids[:1]]) == ["😀", "\ufffd"]  # (errors="replace")


def test_fields_asked_of_a_batch_of_lists_are_refused_not_dropped(bpe: Any, wordpiece: Any) -> None:
    """return_tensors=None gives id lists: return_word_ids and kin were silently left out
    of them. HF gives a BatchEncoding of lists there; lexforge names the option to use."""
    for tok in (bpe, wordpiece):
        with pytest.raises(ConfigError, match=r"^return_word_ids and return_offsets needs "):
            tok.encode_batch(["hello world"], return_word_ids=True, return_offsets=True)
        with pytest.raises(ConfigError, match=r"^return_special_tokens_mask needs return_t"):
            tok.encode_batch(["hi"], return_special_tokens_mask=True, max_length=8, truncation=True)
        got = tok.encode_batch(["hello world"], return_word_ids=True, return_tensors="np")
        assert got["word_ids"].shape == got["input_ids"].shape


def test_training_texts_name_an_item_that_is_no_str() -> None:
    for train in (lf.Tokenizer.train_bpe, lf.Tokenizer.train_wordpiece):
        with pytest.raises(TypeError, match=r"^texts\[2\] must be a str, got int$"):
            train(texts=["a", "b", 5], vocab_size=300)
        with pytest.raises(TypeError, match=r"^texts\[1\] .*bytes; decode bytes first$"):
            train(texts=iter(["a", b"b"]), vocab_size=300)
        # one bytes object given whole: it was "texts[0] must be a str, got int" (a byte)
        with pytest.raises(TypeError, match=r"^texts must be an iterable of texts, got a bytes"):
            train(texts=b"abc", vocab_size=300)


@pytest.mark.parametrize("fmt", ["hf", "tiktoken", "gpt2", "vocab"])
def test_an_empty_save_path_is_refused_not_the_working_directory(
    bpe: Any, wordpiece: Any, fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Path("")`` is ".": save("") wrote ./tokenizer.json (an unset shell variable's
    path); a rank file named by an existing folder is refused as one ending in "/" is."""
    monkeypatch.chdir(tmp_path)
    tok = wordpiece if fmt == "vocab" else bpe
    with pytest.raises(ConfigError, match="empty"):
        tok.save("", format=fmt)
    if fmt == "tiktoken":
        with pytest.raises(ConfigError, match="names a folder; a tiktoken rank file"):
            tok.save(tmp_path, format=fmt)
    assert list(tmp_path.iterdir()) == []


def test_bpe_special_tokens_spelled_like_model_tokens_are_refused(tmp_path: Path) -> None:
    """A special token spelled, in byte-level characters, like a token of the model (a
    byte's own character: "a", "Ġ"; or a merge training makes: "Ġde" for " de") shares
    that token's id in a tokenizer.json, which lexforge cannot hold: training wrote a
    file that loaded nowhere. Refused by name; others train and load back."""
    from lexforge.errors import TrainerConfigError

    texts = ["x de de de la la lune"] * 50
    for special, token in (("a", b"a"), ("Ġ", b" "), ("é", b"\xe9"), ("Ġde", b" de")):
        message = f"'{special}' is how .* token {re.escape(repr(token))} "
        with pytest.raises(TrainerConfigError, match=message):
            lf.Tokenizer.train_bpe(texts=texts, vocab_size=263, special_tokens=[special])
    for special in ("<|x|>", "dé", "Ġzzz", "de"):  # "de" is cut out of the text
        tok = lf.Tokenizer.train_bpe(texts=texts, vocab_size=263, special_tokens=[special])
        tok.save(tmp_path / "tokenizer.json")
        again = lf.Tokenizer.from_file(tmp_path / "tokenizer.json")
        assert again.encode("x de", disallowed_special=()) == tok.encode(
            "x de", disallowed_special=()
        )


def test_training_texts_name_a_lone_surrogate() -> None:
    with pytest.raises(CorpusError, match=r"^texts\[2\] " + WHERE):
        lf.Tokenizer.train_bpe(texts=["a", "b", BAD], vocab_size=300)


# ----------------------------------------------------------------- ids outside the vocabulary
def test_wordpiece_id_to_token_refuses_ids_outside_the_vocabulary(wordpiece: Any, bpe: Any) -> None:
    last = wordpiece.vocab_size - 1
    assert wordpiece.id_to_token(0) == "[PAD]" and wordpiece.id_to_token(last)
    for tok in (wordpiece, bpe):  # both kinds answer alike
        for tid in (-1, tok.vocab_size, 10**6):
            with pytest.raises(TokenIdError, match=f"token id {tid} is not in the vocabulary"):
                tok.id_to_token(tid)
            with pytest.raises(TokenIdError, match=f"token id {tid} is not in the vocabulary"):
                tok.decode([tid])
    for tok in (wordpiece, bpe):  # bpe looked a float up among its added tokens first
        for tid in (1.5, 1.0, [1], "1"):
            with pytest.raises(TypeError, match="token ids must be integers"):
                tok.id_to_token(tid)


# ----------------------------------------------------------------- sizes too large
# (a huge size that fits trains until the corpus runs out: test_tokenizer_edges.py)
@pytest.mark.parametrize("option", ["vocab_size", "min_frequency", "max_token_length"])
@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_training_sizes_too_large_for_the_core(kind: str, option: str) -> None:
    options: dict[str, Any] = {"vocab_size": 300, option: 10**20}
    train = lf.Tokenizer.train_bpe if kind == "bpe" else lf.Tokenizer.train_wordpiece
    with pytest.raises(
        TrainerConfigError, match=rf"{option} must be in the range \d\.\.{2**64 - 1}"
    ):
        train(texts=["hello world"], **options)
    with pytest.raises(TrainerConfigError, match=r"vocab_size .*got 18446744073709551616"):
        train(texts=["hello world"], vocab_size=2**64)


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_special_tokens_in_any_order_kept_and_checked(kind: str) -> None:
    """special_tokens given as a generator keep every token (the counter once consumed
    it: none were left for the vocabulary); a set, whose order and so ids change with the
    hash seed, non-strings and lone surrogates are named."""
    train = lf.Tokenizer.train_bpe if kind == "bpe" else lf.Tokenizer.train_wordpiece
    specials = ["[PAD]", "[UNK]", "<ent>"]
    listed = train(texts=TEXTS * 5, vocab_size=300, special_tokens=specials)
    generated = train(texts=TEXTS * 5, vocab_size=300, special_tokens=(t for t in specials))
    assert generated.special_tokens == listed.special_tokens
    assert generated.vocab() == listed.vocab()
    for bad, message in [
        (set(specials), "must be ordered"),
        (["[UNK]", 5], "special_tokens must be strings, got 5"),
        (["[UNK]", "<\udc80>"], "lone surrogate"),
        (7, "must be a list of strings, got int"),
        # (the file reader's TokenizerFormatError before, for BPE and WordPiece alike)
        (["[UNK]", "<ent>", "<ent>"], "the special token '<ent>' is listed twice"),
        (["[UNK]", ""], "a special token is the empty string"),
    ]:
        with pytest.raises(TrainerConfigError, match=message):
            train(texts=TEXTS, vocab_size=300, special_tokens=bad)


def test_wordpiece_options_checked_before_the_core_sees_them(tmp_path: Path) -> None:
    """NumPy integers are integers; flags must be booleans; a word limit past what a
    tokenizer.json loads with, or negative, is refused (it once saved a file lexforge then
    refused to load, or raised OverflowError); cls and sep come together."""
    import numpy as np

    tok = lf.Tokenizer.train_wordpiece(texts=["hello world"] * 3, vocab_size=np.int64(60))
    assert tok.vocab_size == lf.Tokenizer.train_wordpiece(texts=["hello world"] * 3,
                                                          vocab_size=60).vocab_size  # fmt: skip
    numpy_flag = lf.Tokenizer.train_wordpiece(texts=["Hello"], vocab_size=60, lowercase=np.False_)
    assert numpy_flag.encode("Hello") != tok.encode("Hello")  # NumPy's booleans are booleans
    with pytest.raises(TrainerConfigError, match="lowercase must be True or False, got 'no'"):
        lf.Tokenizer.train_wordpiece(texts=["hello"], vocab_size=60, lowercase="no")  # type: ignore[arg-type]
    with pytest.raises(TrainerConfigError, match="max_input_chars_per_word must be at most"):
        lf.Tokenizer.train_wordpiece(texts=["hello"], vocab_size=60,
                                     max_input_chars_per_word=2**40)  # fmt: skip
    tok.save(tmp_path / "vocab.txt", format="vocab")
    for options, error, message in [
        ({"max_input_chars_per_word": -1}, TrainerConfigError, "max_input_chars_per_word"),
        ({"max_input_chars_per_word": 2**32 - 1}, TrainerConfigError, "at most 4294967294"),
        ({"strip_accents": "yes"}, TrainerConfigError, "strip_accents must be True or False"),
        ({"sep_token": None}, ConfigError, "pass both .* or neither"),
    ]:
        with pytest.raises(error, match=message):
            lf.Tokenizer.from_vocab(tmp_path / "vocab.txt", **options)
    limit = lf.Tokenizer.from_vocab(tmp_path / "vocab.txt", max_input_chars_per_word=2**32 - 2)
    limit.save(tmp_path / "limit.json")
    assert lf.Tokenizer.from_file(tmp_path / "limit.json").encode("hello") == limit.encode("hello")


def test_cli_train_tokenizer_with_a_huge_vocab_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "one.txt"
    src.write_text("hello world\n", encoding="utf-8")
    argv = ["train-tokenizer", str(src), "--vocab-size", str(10**20), "-o", str(tmp_path / "t")]
    assert main([*argv, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"--vocab-size must be in the range 0..{2**64 - 1}" in err and "Traceback" not in err


def test_cli_train_tokenizer_with_an_empty_pattern(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--pattern '' (an unset shell variable) is refused, not taken as GPT-2's pattern."""
    src = tmp_path / "one.txt"
    src.write_text("hello world\n", encoding="utf-8")
    argv = ["train-tokenizer", str(src), "--vocab-size", "270", "--pattern", ""]
    assert main([*argv, "-o", str(tmp_path / "t.json"), "--quiet"]) == 1
    assert "pattern is empty" in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


def test_a_vocab_txt_that_would_not_load_back_is_refused(wordpiece: Any, tmp_path: Path) -> None:
    """vocab.txt holds one token per line, read without trailing spaces: a token with a
    line break (or ending in a space) would shift or change every id after it."""
    import json

    for bad in ("a\nb", "ab "):
        doc = json.loads(wordpiece.to_str())
        vocab = doc["model"]["vocab"]
        vocab[bad] = vocab.pop(next(t for t, i in vocab.items() if i == 10))
        tok = lf.Tokenizer.from_str(json.dumps(doc))
        with pytest.raises(ConfigError, match=r"id 10\) cannot be a line of vocab.txt"):
            tok.save(tmp_path / "vocab.txt", format="vocab")
        assert not (tmp_path / "vocab.txt").exists()
        tok.save(tmp_path / "tokenizer.json")  # the fix the message names
        assert lf.Tokenizer.from_file(tmp_path / "tokenizer.json").token_to_id(bad) == 10


def test_a_batch_with_several_bad_inputs_names_the_first_at_any_thread_count(
    bpe: Any, wordpiece: Any
) -> None:
    """Rayon keeps whichever error a thread meets first in time; the batch calls report
    the lowest-index bad input instead, as one thread does, whatever the thread count."""
    from lexforge.errors import SpecialTokenError

    texts = ["hello world"] * 20_000
    texts[5_000], texts[10_000] = "x <|e|>", "y <|e|>"
    firsts, seconds = ["hello"] * 20_000, ["world"] * 20_000
    firsts[5_000], firsts[10_000] = "hello " * 30, "hello " * 50  # neither fits 16 tokens
    for threads in (1, 2, 8):
        for _ in range(3):
            for tensors in (None, "np"):
                with pytest.raises(SpecialTokenError, match=r"^text 5000 "):
                    bpe.encode_batch(texts, num_threads=threads, return_tensors=tensors,
                                     disallowed_special="all")  # fmt: skip
            with pytest.raises(ConfigError, match=r"^pair 5000: truncation='only_second'"):
                wordpiece.encode_batch(firsts, seconds, truncation="only_second",
                                       max_length=16, num_threads=threads)  # fmt: skip


def test_counts_too_large_for_exact_pair_counts_are_refused() -> None:
    from lexforge.training import WordCounts

    # as integers, "cd" is the more frequent pair; saturated at 2^63 - 1 both would tie
    counts = WordCounts.from_items([(b"ab", 2**63), (b"cd", 2**63 + 1000)])
    with pytest.raises(CorpusError, match=r"past the trainer's limit of 2\^63 - 1; scale the"):
        lf.Tokenizer.from_counts(counts, vocab_size=257)
    fine = WordCounts.from_items([(b"ab", 2**61), (b"cd", 2**61 + 1000)])
    assert lf.Tokenizer.from_counts(fine, vocab_size=257).id_to_token(256) == b"cd"


# ----------------------------------------------------------------- sizes and damaged files
def test_padding_sizes_that_would_exhaust_memory_are_refused(
    wordpiece: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A padded length or multiple past 2**31 - 1 is refused as an option and in a file; a
    batch whose padding needs more than the machine's memory is refused before the core
    allocates it (the allocation aborted the process, or its size overflowed)."""
    for options in ({"max_length": 2**40, "padding": "max_length"},
                    {"max_length": 2**64, "padding": "max_length", "truncation": True},
                    {"padding": True, "pad_to_multiple_of": 2**63}):  # fmt: skip
        for tensors in (None, "np"):
            with pytest.raises(ConfigError, match="must be at most 2,147,483,647"):
                wordpiece.encode_batch(["hello"], return_tensors=tensors, **options)
    from lexforge import batch

    monkeypatch.setattr(batch.os, "sysconf", lambda name: 1024 if name == "SC_PHYS_PAGES" else 4096)
    big = {"max_length": 2**20, "padding": "max_length", "truncation": True}
    with pytest.raises(
        ConfigError, match=r"padding 10 rows to 1,048,576 tokens needs .* GiB, more"
    ):
        wordpiece.encode_batch(["hello"] * 10, return_tensors="np", **big)
    assert len(wordpiece.encode_batch(["hello"], max_length=8, padding="max_length")[0]) == 8


def _damaged(tmp_path: Path, change: Any) -> Path:
    import json

    from lexforge import datasets

    doc = json.loads(datasets.files("bert-base-uncased")["tokenizer.json"].read_text("utf-8"))
    change(doc)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["normalizer"].update(lowercase="false"), "normalizer.lowercase: must be true"),
        (lambda d: d["normalizer"].update(strip_accents=0), "normalizer.strip_accents: must be"),
        (lambda d: d["normalizer"].update(handle_chinese_chars=None), "handle_chinese_chars"),
        (lambda d: d["added_tokens"][0].update(special="false"), r"added_tokens\[0\].special"),
        (lambda d: d.update(truncation={"strategy": {}, "max_length": 8}), "truncation.strategy"),
        (lambda d: d.update(padding={"strategy": {"Fixed": 2**40}}), r"Fixed is 1099511627776"),
        (lambda d: d.update(padding={"pad_to_multiple_of": 2**40}), "pad_to_multiple_of is"),
        (lambda d: d["model"]["vocab"].update(the=[1, 2]), "token 'the' has id \\[1, 2\\]"),
    ],
)  # fmt: skip
def test_damaged_tokenizer_files_are_named(tmp_path: Path, change: Any, message: str) -> None:
    """Values HF refuses are refused, never read backwards (bool("false") is True) or let
    through to a raw error."""
    with pytest.raises(TokenizerFormatError, match=message):
        lf.Tokenizer.from_file(_damaged(tmp_path, change))


def test_damaged_bpe_files_are_named(bpe: Any, tmp_path: Path) -> None:
    import json

    bpe.save(tmp_path / "bpe.json")
    doc = json.loads((tmp_path / "bpe.json").read_text(encoding="utf-8"))
    doc["model"]["ignore_merges"] = "false"
    (tmp_path / "a.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"model\.ignore_merges: must be true or false"):
        lf.Tokenizer.from_file(tmp_path / "a.json")
    doc["model"]["ignore_merges"] = False
    doc["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": 5}
    (tmp_path / "b.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match="pretokenizers: must be a list"):
        lf.Tokenizer.from_file(tmp_path / "b.json")
    gpt2 = tmp_path / "gpt2"
    gpt2.mkdir()
    (gpt2 / "vocab.json").write_text(json.dumps({"a": 0, "b": 1, "ab": 2**40}), encoding="utf-8")
    (gpt2 / "merges.txt").write_text("#version: 0.2\na b\n", encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"'ab' has id 1099511627776, not an integer"):
        lf.Tokenizer.from_file(gpt2)


def test_a_word_count_past_64_bits_is_named(tmp_path: Path) -> None:
    from lexforge.training import WordCounts

    counts = WordCounts.from_items([(b"ab", 3)])
    counts.save(tmp_path / "counts.txt")
    header, line = (tmp_path / "counts.txt").read_text(encoding="utf-8").splitlines()[:2]
    word = line.split("\t")[1]
    (tmp_path / "counts.txt").write_text(f"{header}\n{2**64}\t{word}\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"counts.txt:2: the count 18446744073709551616 is not"):
        WordCounts.load(tmp_path / "counts.txt")


def test_word_counts_cut_at_a_line_end_are_refused(tmp_path: Path) -> None:
    """A count file cut short between lines parsed as fewer words; its header now lists
    how many it holds (a file without that number, from before, still loads)."""
    from lexforge.training import WordCounts

    counts = WordCounts.from_texts([f"hello world the cat sat {i}" for i in range(50)])
    counts.save(tmp_path / "counts.txt")
    lines = (tmp_path / "counts.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    assert WordCounts.load(tmp_path / "counts.txt").items() == counts.items()
    (tmp_path / "cut.txt").write_text("".join(lines[:-2]), encoding="utf-8")
    with pytest.raises(CorpusError, match=r"cut.txt: holds 53 words of the 55 its header"):
        WordCounts.load(tmp_path / "cut.txt")
    header = lines[0].replace(', "words": 55', "")
    (tmp_path / "old.txt").write_text("".join([header, *lines[1:]]), encoding="utf-8")
    assert WordCounts.load(tmp_path / "old.txt").items() == counts.items()


def test_loaded_word_counts_are_what_add_counts(tmp_path: Path) -> None:
    """``load`` hands each line it has checked to the core itself (``add``'s checks and
    lock were most of its time): the counts are those ``add`` makes of the same lines, for
    any bytes, the largest count, a word listed twice (summed) and BERT words, and a
    negative count is still named."""
    from lexforge.training import WordCounts

    lines = [(b"", 3), (b"\xff\x00 raw", 2**64 - 1), ("café".encode(), 1), (b"x", 0), (b"x", 5)]
    for made in (WordCounts(pattern="cl100k", special_tokens=["<s>"]), WordCounts.bert()):
        for word, n in lines:
            made.add(word, n)
        made.save(tmp_path / "counts.txt")
        text = (tmp_path / "counts.txt").read_text(encoding="utf-8")
        listed = f'"words": {len(made.items())}'
        twice = f"{text}5\teA==\n".replace(listed, f'"words": {len(made.items()) + 1}')
        (tmp_path / "twice.txt").write_text(twice, encoding="utf-8")
        loaded = WordCounts.load(tmp_path / "twice.txt")
        made.add(b"x", 5)
        assert loaded.items() == made.items() and (b"x", 10) in loaded.items()
        assert (loaded.pattern, loaded.normalizer) == (made.pattern, made.normalizer)
        assert loaded.special_tokens == made.special_tokens
    (tmp_path / "bad.txt").write_text(f"{text.splitlines()[0]}\n-1\teA==\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad.txt:2: the count -1 is not in"):
        WordCounts.load(tmp_path / "bad.txt")


@pytest.mark.parametrize("value", ["abc", "0", "-1", "2.5"])
def test_a_thread_count_the_core_cannot_read_is_named(value: str) -> None:
    """The core ignored it without a word and used every core."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "LEXFORGE_NUM_THREADS": value}
    done = subprocess.run([sys.executable, "-c", "import lexforge"], env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert f"LEXFORGE_NUM_THREADS={value!r} is not a whole number of at least 1" in done.stderr
    env["LEXFORGE_NUM_THREADS"] = " 3"
    done = subprocess.run([sys.executable, "-W", "error", "-c", "import lexforge"], env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0 and not done.stderr


def test_a_corpus_of_white_space_trains_no_bpe(tmp_path: Path) -> None:
    """A byte-level pattern keeps runs of white space as words, so the empty-corpus check
    never fired: a tokenizer of spaces was saved. WordPiece and shards already refused."""
    with pytest.raises(CorpusError, match="only white space"):
        lf.Tokenizer.train_bpe(texts=["  ", "\n\t\n", "\u3000"], vocab_size=300)
    path = tmp_path / "ws.txt"
    path.write_text("  \n\t\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="only white space"):
        lf.Tokenizer.train_bpe(path, vocab_size=300)
    assert lf.Tokenizer.train_bpe(texts=["  a "], vocab_size=260).vocab_size >= 256


@pytest.mark.parametrize(
    "name",
    ["hello world", "a" * 5000, "x\x00y", '{"model": {"type": "BPE"}}'],
    ids=["text", "too-long-for-a-file-name", "nul", "json-text"],
)
def test_a_text_passed_as_a_file_is_a_missing_file(name: str) -> None:
    """A text where a path goes (the name too long for the file system, or holding a NUL
    byte, among them) is a FileNotFoundError that shows the name cut and quoted, not an
    OSError; training says how to pass texts."""
    for call in (
        lambda: lf.Tokenizer.from_file(name),
        lambda: lf.WordCounts.load(name),
        lambda: lf.Tokenizer.train_bpe([name], vocab_size=300),
        lambda: lf.Tokenizer.train_wordpiece(name, vocab_size=300),
    ):
        with pytest.raises(FileNotFoundError, match="no such file") as caught:
            call()
        message = str(caught.value)
        assert len(message) < 600 and "\x00" not in message
        if name == "a" * 5000:
            assert "(5,000 characters)" in message
    with pytest.raises(FileNotFoundError) as caught:
        lf.Tokenizer.train_bpe([name], vocab_size=300)
    assert str(caught.value).endswith("pass them as texts=...") == (name != "x\x00y")


_PADDED_PAST_A_LIMIT = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
import lexforge as lf
from lexforge.errors import ConfigError
tok = lf.Tokenizer.from_file(sys.argv[1])
kw = {"return_tensors": "np"} if sys.argv[2] == "np" else {}
try:
    tok.encode_batch(["a b"], padding="max_length", max_length=300_000_000, **kw)
except ConfigError as e:
    print("ConfigError:", e)
"""


@pytest.mark.parametrize("kind", ["np", "lists"])
def test_padding_past_an_address_space_limit_is_a_config_error(tmp_path: Path, kind: str) -> None:
    """Under a memory limit (ulimit -v; also strict overcommit) padding that fits one array
    but not all of a call's fields aborted the process (arrays), or raised PyO3's
    PanicException (lists): the room is checked for everything the call holds."""
    import subprocess
    import sys

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-c", _PADDED_PAST_A_LIMIT, str(vocab), kind],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "ConfigError: padding 1 rows to length 300000000 would need" in run.stdout


@pytest.mark.parametrize("fmt", ["hf", "gpt2"])
def test_a_save_writes_through_a_link_and_keeps_the_files_mode(
    bpe: Any, fmt: str, tmp_path: Path
) -> None:
    """Saving over a symbolic link replaced the link with a file of its own (the target
    kept its old content), and over a file gave it the new-file mode (a 0444 file came
    back 0644). As ``open()`` writes: through the link, the mode kept; still atomic."""
    import stat

    out = tmp_path / "out"
    out.mkdir()
    real = tmp_path / "store" / "real.json"
    real.parent.mkdir()
    real.write_text("old", encoding="utf-8")
    real.chmod(0o640)
    # hf: the file is a link; gpt2 (a pair written all or none): vocab.json is the link
    link = out / ("tokenizer.json" if fmt == "hf" else "vocab.json")
    link.symlink_to(real)
    bpe.save(link if fmt == "hf" else out, format=fmt)
    assert link.is_symlink() and link.readlink() == real
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert real.read_text(encoding="utf-8") != "old"
    again = lf.Tokenizer.from_file(link if fmt == "hf" else out)
    assert again.encode("hello there", disallowed_special=()) == bpe.encode(
        "hello there", disallowed_special=()
    )
    assert not list(tmp_path.rglob("*.tmp"))


def test_overflow_windows_past_memory_are_a_config_error_not_an_abort(wordpiece: Any) -> None:
    """Overflow windows were built with no memory check: a pair of long texts and a short
    max_length (every window of the first with every window of the second), or a long text
    with a stride near max_length, aborted the process on the allocation (or the OOM
    killer took it). Here petabytes and terabytes: refused on any machine."""
    text = "cat " * 200_000
    options = {"add_special_tokens": False, "return_overflowing_tokens": True}
    with pytest.raises(ConfigError, match=r"the overflow windows of a pair .* would need"):
        wordpiece.encode_batch([text], [text], max_length=2, truncation=True, **options)
    with pytest.raises(ConfigError, match=r"the overflow windows of one text .* would need"):
        wordpiece.encode_batch(
            [text * 5], max_length=100_000, stride=99_999, truncation=True, **options
        )
    rows = wordpiece.encode_batch(["a b c d e"], ["f g h"], max_length=4, truncation=True,
                                  **options)  # fmt: skip
    assert len(rows) == 6  # small ones still give every window
