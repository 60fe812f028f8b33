"""Edges of the tokenizer API that users hit: huge vocabulary sizes, thread counts, the
file's truncation and padding, formats that cannot record a tokenizer, malformed files,
wrong argument types, file modes, BOMs; each against HF ``tokenizers``/``transformers``
or a hand-checked expectation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import lexforge as lf
from lexforge import _core
from lexforge.cli import main
from lexforge.errors import (
    ConfigError,
    TokenIdError,
    TokenizerFormatError,
    TrainerConfigError,
)


def bert_specials() -> list[str]:
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _minilm() -> Path:
    from lexforge import datasets

    return datasets.files("all-MiniLM-L6-v2")["model_dir"] / "tokenizer.json"


def _bert_json() -> Path:
    from lexforge import datasets

    return datasets.files("bert-base-uncased")["tokenizer.json"]


def _wordpiece(specials: list[str] | None = None) -> Any:
    return lf.Tokenizer.train_wordpiece(
        texts=["hello world"] * 3,
        vocab_size=60,
        special_tokens=specials or ["[PAD]", "[UNK]", "[CLS]", "[SEP]"],
    )


# ----------------------------------------------------------------- 1: huge vocab_size
@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_huge_vocab_size_trains_until_the_corpus_runs_out(kind: str) -> None:
    # used to abort the process (Vec::with_capacity(vocab_size)); run in a child to see it
    code = (
        "import lexforge as lf\n"
        f"t = lf.Tokenizer.train_{kind}(texts=['hello world'], vocab_size=10**12)\n"
        "print(t.vocab_size)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 0 < int(out.stdout) < 300


# ----------------------------------------------------------------- 2: CLI tokenize
def test_cli_tokenize_wordpiece(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import BertTokenizerFast

    path = _bert_json()
    src = tmp_path / "in.txt"
    src.write_text("Hello world.\nA [MASK] b\u2028c\x0bd\n", encoding="utf-8")
    assert main(["tokenize", "--tokenizer", str(path), str(src)]) == 0
    rows = [[int(i) for i in line.split()] for line in capsys.readouterr().out.splitlines()]
    hf = BertTokenizerFast(tokenizer_file=str(path))
    # two input lines, two output rows (U+2028 and \x0b do not end lines)
    assert rows == [hf("Hello world.\n")["input_ids"], hf("A [MASK] b\u2028c\x0bd\n")["input_ids"]]
    assert main(["tokenize", "--tokenizer", str(path), str(src), "--count"]) == 0
    assert capsys.readouterr().out.startswith(f"{sum(map(len, rows))} tokens")
    assert main(["tokenize", "--tokenizer", str(path), str(src), "--no-special-tokens"]) == 0
    first = capsys.readouterr().out.splitlines()[0].split()
    assert [int(i) for i in first] == rows[0][1:-1]


def test_cli_tokenize_bpe_specials_lines_and_bad_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tok = lf.Tokenizer.train_bpe(
        texts=["hi there <|endoftext|>"] * 5, vocab_size=270, special_tokens=["<|endoftext|>"]
    )
    path = tmp_path / "tok.json"
    tok.save(path)
    src = tmp_path / "in.txt"
    src.write_text("hi <|endoftext|>\r\nthere\u2028x\n", encoding="utf-8")
    assert main(["tokenize", "--tokenizer", str(path), str(src)]) == 0
    rows = [[int(i) for i in line.split()] for line in capsys.readouterr().out.splitlines()]
    lines = ["hi <|endoftext|>\r\n", "there\u2028x\n"]
    assert rows == [tok.encode(line, disallowed_special=()) for line in lines]
    # --count counts the same tokens (it used to raise SpecialTokenError)
    assert main(["tokenize", "--tokenizer", str(path), str(src), "--count"]) == 0
    assert capsys.readouterr().out.startswith(f"{sum(map(len, rows))} tokens")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\nx\xffy\n")
    assert main(["tokenize", "--tokenizer", str(path), str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.txt:2: not UTF-8" in err and "Traceback" not in err


# ----------------------------------------------------------------- 3: encode() and file defaults
def test_wordpiece_encode_applies_the_files_truncation_and_padding() -> None:
    from tokenizers import Tokenizer as HfTokenizer

    path = _minilm()
    ours, hf = lf.Tokenizer.from_file(path), HfTokenizer.from_file(str(path))
    for text, pair in [("word " * 300, None), ("short", None), ("a b", "c " * 200)]:
        want = hf.encode(text, pair).ids
        assert len(want) == 128
        assert ours.encode(text, pair) == want
        assert (
            ours.encode(text, pair)
            == ours.encode_batch([text], None if pair is None else [pair])[0]
        )
    hf.no_truncation()
    hf.no_padding()
    long = "word " * 300
    assert ours.encode(long, truncation=False, padding=False) == hf.encode(long).ids


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_a_calls_options_replace_the_files_own_without_a_max_length(
    kind: str, tmp_path: Path
) -> None:
    """A file that sets truncation and padding: a call's ``truncation_side``, ``stride``
    (with overflow), ``padding_side``, ``pad_to_multiple_of`` and ``pad_token_id`` were
    dropped unless ``max_length`` came too (the pads, always), with nothing said. Each is
    checked against HF set up with the file's options and the call's in their place."""
    from tokenizers import Tokenizer as HfTokenizer

    if kind == "wordpiece":
        source = str(_bert_json())
    else:
        from lexforge import datasets

        tok = lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"])
        tok.add_special_tokens(["<pad>"])
        tok.with_template("<|endoftext|>", "<|endoftext|>").save(tmp_path / "gpt2.json")
        source = str(tmp_path / "gpt2.json")
    base = HfTokenizer.from_file(source)
    pad = base.token_to_id("[PAD]" if kind == "wordpiece" else "<pad>")
    other = pad + 1 if kind == "wordpiece" else 100

    def hf_with(trunc: dict[str, Any], padding: dict[str, Any]) -> Any:
        h = HfTokenizer.from_file(source)
        h.enable_truncation(**{"max_length": 6, **trunc})
        h.enable_padding(**{"pad_id": pad, "pad_token": h.id_to_token(pad), **padding})
        return h

    hf_with({}, {}).save(str(tmp_path / "defaults.json"))
    ours = lf.Tokenizer.from_file(tmp_path / "defaults.json")
    texts = ["a b c d e f g h i", "a", "one two three four"]
    cases = [
        ({"truncation_side": "left"}, {"direction": "left"}, {}),
        ({"stride": 2, "return_overflowing_tokens": True}, {"stride": 2}, {}),
        ({"padding_side": "left"}, {}, {"direction": "left"}),
        ({"pad_to_multiple_of": 8}, {}, {"pad_to_multiple_of": 8}),
        ({"pad_token_id": other}, {}, {"pad_id": other, "pad_token": base.id_to_token(other)}),
    ]
    for options, trunc, padding in cases:
        want = []
        for e in hf_with(trunc, padding).encode_batch(texts):  # (HF always keeps the rest)
            rest = e.overflowing if options.get("return_overflowing_tokens") else []
            want += [e.ids, *(o.ids for o in rest)]
        assert ours.encode_batch(texts, **options) == want, options
        assert ours.encode_batch(texts, **options) != ours.encode_batch(texts), options
    with pytest.raises(ConfigError, match="truncation_side must be 'left' or 'right'"):
        ours.encode_batch(texts, truncation_side="middle")
    with pytest.raises(ConfigError, match="pad_token_id=99999999 is not in the vocabulary"):
        ours.encode_batch(texts, pad_token_id=99_999_999)


def test_a_max_length_given_alone_cuts_rows_as_transformers_does(tmp_path: Path) -> None:
    """``max_length`` with neither ``truncation`` nor ``padding``: transformers cuts the
    rows to it (``longest_first``); it was ignored, rows coming out longer than asked. A
    file's own truncation and fixed padding take the length given too."""
    transformers = pytest.importorskip("transformers")

    texts = ["hello world this is a long sentence", "hi", "a b c d e f g h i j"]
    pairs = ["and its pair is longer than the first", "x", "y z"]
    path = _bert_json()
    ours = lf.Tokenizer.from_file(path)
    theirs = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path), pad_token="[PAD]")
    for length in (4, 7, 64):
        want = theirs(texts, max_length=length)["input_ids"]
        assert ours.encode_batch(texts, max_length=length) == want
        assert [ours.encode(t, max_length=length) for t in texts] == want
        want = theirs(texts, pairs, max_length=length)["input_ids"]
        assert ours.encode_batch(texts, pairs, max_length=length) == want
    # padding asked for with no truncation: transformers keeps the rows whole, as before
    long = ours.encode_batch(texts, max_length=4, padding="max_length")
    assert long == theirs(texts, max_length=4, padding="max_length")["input_ids"]
    # MiniLM's file truncates and pads to 128: a max_length given is the length of both
    minilm = lf.Tokenizer.from_file(_minilm())
    theirs = transformers.PreTrainedTokenizerFast(tokenizer_file=str(_minilm()), pad_token="[PAD]")
    want = theirs(texts, max_length=8, truncation=True, padding="max_length")["input_ids"]
    assert minilm.encode_batch(texts, max_length=8) == want
    assert minilm.encode_batch(texts)[0] == theirs(texts[0], max_length=128, truncation=True,
                                                   padding="max_length")["input_ids"]  # fmt: skip
    # byte-level BPE (no special tokens): the same rule
    from lexforge import datasets

    gpt2 = lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"])
    gpt2.save(tmp_path / "gpt2.json")
    theirs = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "gpt2.json"))
    want = theirs("hello world this", max_length=2)["input_ids"]
    assert gpt2.encode("hello world this", max_length=2) == want


# ----------------------------------------------------------------- 4: thread pools
def _threads() -> int:
    return sum(1 for _ in Path("/proc/self/task").iterdir())


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_varying_num_threads_does_not_pile_up_threads() -> None:
    w = _wordpiece()
    before = _threads()
    for n in range(1, 101):
        w.encode_batch(["hello world"] * 4, num_threads=n)
    deadline = time.monotonic() + 10
    while _threads() - before > 4 * 100 // 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # dropped pools' threads exit asynchronously
    # one pool per value kept forever made 5,050 threads; now a few pools, capped in size
    assert _threads() - before <= 4 * 100 // 2


def test_a_huge_thread_count_from_the_environment_does_not_hang() -> None:
    code = (
        "import lexforge as lf\n"
        "t = lf.Tokenizer.train_bpe(texts=['hello world'] * 10, vocab_size=270)\n"
        "print(t.encode('hello'))\n"
    )
    env = {**os.environ, "LEXFORGE_NUM_THREADS": "100000"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr


# ----------------------------------------------------------------- 6: save(format="gpt2")
def test_gpt2_format_refuses_what_it_cannot_record(tmp_path: Path) -> None:
    tok = lf.Tokenizer.train_bpe(texts=["$hello $world"] * 50, vocab_size=300, pattern="cl100k")
    with pytest.raises(ConfigError, match=r"pattern 'cl100k'.*format='hf'"):
        tok.save(tmp_path / "g4", format="gpt2")
    tok2 = lf.Tokenizer.train_bpe(
        texts=["hi <pad> there"] * 50, vocab_size=300, special_tokens=["<|endoftext|>", "<pad>"]
    )
    with pytest.warns(UserWarning, match="<pad>"):
        tok2.save(tmp_path / "g3", format="gpt2")
    names = ["<|endoftext|>", "<pad>"]
    back3 = lf.Tokenizer.from_gpt2(tmp_path / "g3", special_tokens=names)
    assert back3.encode("a<pad>", allowed_special="all") == tok2.encode(
        "a<pad>", allowed_special="all"
    )
    # what the format can hold still round-trips
    ok = lf.Tokenizer.train_bpe(
        texts=["hi <|endoftext|> there"] * 50, vocab_size=300, special_tokens=["<|endoftext|>"]
    )
    ok.save(tmp_path / "g2", format="gpt2")
    back = lf.Tokenizer.from_file(tmp_path / "g2")
    text = "hi there<|endoftext|>"
    assert back.encode(text, allowed_special="all") == ok.encode(text, allowed_special="all")
    assert main(["train-tokenizer", "x", "--vocab-size", "300", "--pattern", "cl100k",
                 "--format", "gpt2", "-o", str(tmp_path / "g5")]) == 1  # fmt: skip


# ----------------------------------------------------------------- 7: padding id
def test_padding_uses_the_files_pad_id_or_pad_token_id(tmp_path: Path) -> None:
    from tokenizers import Tokenizer as HfTokenizer

    w = _wordpiece(["<pad>", "[UNK]", "[CLS]", "[SEP]"])
    # "<pad>" is a padding token's name, as for byte-level BPE; without one, padding needs
    # the id
    assert w.encode_batch(["a", "a b"], padding=True)[0][-1] == 0
    with pytest.raises(ConfigError, match="pad_token_id="):
        _wordpiece(["<s>", "[UNK]", "[CLS]", "[SEP]"]).encode_batch(["a", "a b"], padding=True)
    rows = w.encode_batch(["a", "a b"], padding=True, pad_token_id=0)
    assert rows[0][-1] == 0 and len(rows[0]) == len(rows[1])
    with pytest.raises(ConfigError, match="not in the vocabulary"):
        w.encode_batch(["a"], padding=True, pad_token_id=10_000)
    # a tokenizer.json naming "<pad>" (id 0) as its padding token
    path = tmp_path / "tok.json"
    w.save(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["padding"] = {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None,
                      "pad_id": 0, "pad_type_id": 0, "pad_token": "<pad>"}  # fmt: skip
    path.write_text(json.dumps(doc), encoding="utf-8")
    ours, hf = lf.Tokenizer.from_file(path), HfTokenizer.from_file(str(path))
    hf.enable_padding(pad_id=0, pad_token="<pad>", length=8)
    got = ours.encode_batch(["hello", "hello world"], padding="max_length", max_length=8)
    assert got == [e.ids for e in hf.encode_batch(["hello", "hello world"])]
    # a row longer than the fixed length: lists stay ragged, as HF's; arrays of one width
    # cannot hold it (transformers refuses such tensors too), so it is named
    texts = ["hello", "hello world " * 6]
    hf.no_truncation()
    got = ours.encode_batch(texts, padding="max_length", max_length=8)
    assert got == [e.ids for e in hf.encode_batch(texts)] and len(got[1]) > 8
    for tensors in ("np", "pt"):
        with pytest.raises(
            ConfigError, match=r"text 1 is \d+ tokens, longer than the fixed length 8"
        ):
            ours.encode_batch(texts, padding="max_length", max_length=8, return_tensors=tensors)
    wide = ours.encode_batch(texts, padding="max_length", max_length=8, truncation=True,
                             return_tensors="np")  # fmt: skip
    assert wide["input_ids"].shape == (2, 8)
    # MiniLM's file pads to 128 and cuts at 128: without its truncation, a row of 202
    # tokens does not fit the file's width, and the fixes are named; a max_length given is
    # the width of the file's padding too
    from lexforge import datasets

    minilm = lf.Tokenizer.from_file(
        datasets.files("all-MiniLM-L6-v2")["model_dir"] / "tokenizer.json"
    )
    long = ["short", "word " * 200]
    fix = r"pass truncation=True to cut it, or padding=True to pad to the longest row"
    with pytest.raises(ConfigError, match=rf"text 1 is 202 tokens, .* fixed length 128 .*; {fix}"):
        minilm.encode_batch(long, truncation=False, return_tensors="np")
    wide = minilm.encode_batch(long, truncation=True, max_length=256, return_tensors="np")
    assert wide["input_ids"].shape == (2, 256)
    assert wide["attention_mask"].sum(1).tolist() == [3, 202]
    assert minilm.encode_batch(long, truncation=True, max_length=256, padding=True,
                               return_tensors="np")["input_ids"].shape == (2, 202)  # fmt: skip


# ----------------------------------------------------------------- 9: malformed tokenizer.json
def _broken(tmp_path: Path, change: Any) -> Path:
    doc = json.loads(_bert_json().read_text(encoding="utf-8"))
    doc = change(doc)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _set(key: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> dict[str, Any]:
        doc[key] = value
        return doc

    return change


def _set_model(key: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> dict[str, Any]:
        doc["model"][key] = value
        return doc

    return change


def _drop_first_added_id(doc: dict[str, Any]) -> dict[str, Any]:
    del doc["added_tokens"][0]["id"]
    return doc


def _pad_id_disagrees(doc: dict[str, Any]) -> dict[str, Any]:
    first = doc["added_tokens"][0]
    assert first["content"] == "[PAD]"
    first["id"] = 5
    return doc


_BERT_PROCESSING_SEP_AS_STR = {"type": "BertProcessing", "sep": "[SEP]", "cls": ["[CLS]", 101]}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (_drop_first_added_id, "added_tokens[0].id"),
        (_set("added_tokens", ["[CLS]"]), "added_tokens[0]"),
        (_set("normalizer", "x"), "normalizer"),
        (_set("truncation", {"max_length": "x"}), "truncation.max_length"),
        (_set("truncation", {"max_length": 8, "strategy": "Weird"}), "truncation.strategy"),
        (_set("padding", {"strategy": {"Fixed": "x"}}), "padding.strategy.Fixed"),
        (_set("padding", {"pad_id": 1_000_000}), "padding.pad_id"),
        (_set_model("max_input_chars_per_word", "abc"), "max_input_chars_per_word"),
        (_set_model("max_input_chars_per_word", -1), "max_input_chars_per_word"),
        (_set_model("unk_token", None), "model.unk_token"),
        (_set_model("continuing_subword_prefix", -1), "model.continuing_subword_prefix"),
        (_set("post_processor", _BERT_PROCESSING_SEP_AS_STR), "post_processor.sep"),
        (_set("added_tokens", 5), "added_tokens"),
        (_pad_id_disagrees, "added_tokens[0]"),
        (_set("model", "WordPiece"), '"model"'),
        (lambda doc: [1, 2, 3], "not a tokenizer"),
        (lambda doc: None, "not a tokenizer"),
        (lambda doc: {}, "not a tokenizer"),
    ],
)
def test_malformed_tokenizer_json_raises_a_format_error(
    tmp_path: Path, change: Any, key: str
) -> None:
    path = _broken(tmp_path, change)
    with pytest.raises(TokenizerFormatError) as e:
        lf.Tokenizer.from_file(path)
    assert str(path) in str(e.value) and key in str(e.value)


# ----------------------------------------------------------------- 10: argument types
@pytest.mark.parametrize(
    "option", ["vocab_size", "min_frequency", "max_token_length", "num_threads"]
)
@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_negative_training_options_name_the_argument(kind: str, option: str) -> None:
    options: dict[str, Any] = {"vocab_size": 300, option: -1}
    train = lf.Tokenizer.train_bpe if kind == "bpe" else lf.Tokenizer.train_wordpiece
    with pytest.raises(TrainerConfigError, match=option):
        train(texts=["hello world"], **options)


def test_wrong_types_get_clear_errors(tmp_path: Path) -> None:
    bpe = lf.Tokenizer.train_bpe(texts=["hello world"] * 3, vocab_size=260)
    with pytest.raises(TokenIdError, match=str(2**63)):
        bpe.decode([2**63])
    with pytest.raises(TypeError, match=r"integers, got 1\.5"):
        bpe.decode([1.5])  # type: ignore[list-item]
    w = _wordpiece()
    with pytest.raises(TypeError, match=r"integers, got 1\.5"):
        w.decode([1.5, 2.9])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="max_length must be an integer"):
        w.encode_batch(["a"], max_length="8", truncation=True)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="num_threads"):
        w.encode_batch(["a"], num_threads=-1)
    with pytest.raises(ConfigError, match="num_threads"):
        bpe.encode_batch(["a"], num_threads=-1)
    for tok in (w, bpe):  # past what the core's integer holds: an error, not an overflow
        with pytest.raises(ConfigError, match="num_threads must be at most"):
            tok.encode_batch(["a"], num_threads=10**20)
    with pytest.raises(TypeError, match="allowed_special"):
        bpe.encode("a", allowed_special=None)  # type: ignore[arg-type]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("hello world\n", encoding="utf-8")
    tok = lf.Tokenizer.train_bpe(os.fsencode(corpus), vocab_size=260)  # type: ignore[arg-type]
    assert tok.decode(tok.encode("hello")) == "hello"
    assert main(["train-tokenizer", str(corpus), "--vocab-size", "-5"]) == 1


# ----------------------------------------------------------------- 11, 12
def test_a_string_of_pairs_is_rejected() -> None:
    w = _wordpiece()
    with pytest.raises(TypeError, match="pairs"):
        w.encode_batch(["a", "b"], "cd")  # type: ignore[arg-type]


def test_train_wordpiece_messages() -> None:
    with pytest.raises(TypeError, match="special_tokens must be a list"):
        lf.Tokenizer.train_wordpiece(texts=["a b"], special_tokens="[UNK]")
    with pytest.raises(TrainerConfigError, match="max_token_length"):
        lf.Tokenizer.train_wordpiece(texts=["a b"], max_token_length=0)
    with pytest.raises(TypeError, match="special_tokens must be a list"):
        lf.Tokenizer.train_bpe(texts=["a b"], vocab_size=300, special_tokens="<pad>")


# ----------------------------------------------------------------- 8: \w as Oniguruma means it
def test_custom_word_patterns_split_like_hf(tmp_path: Path) -> None:
    from tokenizers import Tokenizer as HfTokenizer

    persian = "می\u200cخواهم"
    texts = [persian, "\U0001f468\u200d\U0001f469 ok", "é_9\u0301Ⅻ Ⓐb", "क्\u200dष"]
    tok = lf.Tokenizer.train_bpe(
        texts=[" ".join(texts)] * 20, vocab_size=320, pattern=r"\w+|[^\w\s]+|\s+"
    )
    tok.save(tmp_path / "fa.json")
    hf = HfTokenizer.from_file(str(tmp_path / "fa.json"))
    for text in [*texts, " ".join(texts)]:
        assert tok.encode(text) == hf.encode(text).ids, text


POSIX = "alnum alpha ascii blank cntrl digit graph lower print punct space upper xdigit word"


def test_posix_classes_and_line_anchors_split_like_hf() -> None:
    """Oniguruma (HF's engine) reads POSIX brackets over Unicode and ^/$ as line anchors;
    the regex crate read ASCII classes and text anchors, so a tokenizer.json with them
    split other pieces. The oracle is HF's Split run on the same pattern: every class
    (and its negation) over the first 0x3400 code points and a sample of the rest, and
    anchor patterns on text with every kind of line end."""
    from tokenizers import Regex, pre_tokenizers

    def hf(pattern: str, text: str) -> list[str]:
        split = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
        return [piece for piece, _ in split.pre_tokenize_str(text)]

    points = [*range(0x3400), *range(0x3400, 0x110000, 97)]
    text = "".join(chr(c) for c in points if not 0xD800 <= c <= 0xDFFF)
    for name in POSIX.split():
        for pattern in (f"[[:{name}:]]", f"[[:^{name}:]x]+"):
            assert _core.pretokenize(pattern, text) == hf(pattern, text), pattern
    # \w outside brackets also holds ² ³ ¹ ¼ ½ ¾ (not inside them); \p{Word} is \w
    for pattern in (r"\w+", r"\W+", r"[\w]+", r"[\W]+", r"\p{Word}+", r"\P{word}+",
                    r"[\p{Word}x]+", r"[\P{Word}]+", r"a\wb|."):  # fmt: skip
        assert _core.pretokenize(pattern, text) == hf(pattern, text), pattern
    lines = ["ab  \ncd", "ab\r\ncd \n", "\n\nab", "x ab$", "^ab \n ab\n"]
    for pattern in (r"^ab|\s+$|\w+|.", r"^|$|a", r"\w+$|\s+|.", r"[$^]|\^\w|."):
        for line in lines:
            assert _core.pretokenize(pattern, line) == hf(pattern, line), (pattern, line)


def test_saved_files_get_the_usual_mode(tmp_path: Path) -> None:
    import stat

    tok = lf.Tokenizer.train_bpe(texts=["hello world"] * 10, vocab_size=270)
    umask = os.umask(0)
    os.umask(umask)
    for name in ("tokenizer.json", "ranks.tiktoken"):
        path = tmp_path / name
        with warnings.catch_warnings():  # a rank file cannot record the pattern: warned
            warnings.simplefilter("ignore")
            tok.save(path, format="hf" if name.endswith(".json") else "tiktoken")
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_bom_in_vocab_txt_is_dropped(tmp_path: Path) -> None:
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "##c"]
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(tokens).encode() + b"\n")
    tok = lf.Tokenizer.from_file(path)
    assert tok.token_to_id("[PAD]") == 0 and tok.vocab_size == len(tokens)


def test_a_normalized_special_token_matches_as_in_hf(tmp_path: Path) -> None:
    """HF finds an added token marked ``"normalized": true`` by its normalized form in the
    normalized text: "[MASK]" in "a [mask] b" under lowercasing, "<ent>" in "<ENT>"; so
    does lexforge, and its save keeps the flag."""
    hf = pytest.importorskip("tokenizers")
    doc = json.loads(_bert_json().read_text(encoding="utf-8"))
    mask = next(t for t in doc["added_tokens"] if t["content"] == "[MASK]")
    mask["normalized"] = True
    doc["added_tokens"].append({**mask, "content": "<ent>", "id": len(doc["model"]["vocab"]),
                                "normalized": True})  # fmt: skip
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    theirs = hf.Tokenizer.from_file(str(path))
    assert theirs.encode("a [mask] b").ids[2] == mask["id"]
    ours = lf.Tokenizer.from_file(path)
    ours.save(tmp_path / "again.json")
    again = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))
    assert [t["normalized"] for t in again["added_tokens"] if "normalized" in t][-1] is True
    for text in ["a [mask] b", "a [MASK] b", "<ENT><ent> <Ent>x", "[Mask]", "x[mask]y"]:
        want = theirs.encode(text)
        assert ours.encode(text) == want.ids, text
        got = ours.encode_with_offsets(text)
        assert [tuple(o) for o in got["offsets"][0].tolist()] == want.offsets, text
        assert ours.decode(want.ids) == theirs.decode(want.ids), text
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the stock file (normalized: false) loads silently
        lf.Tokenizer.from_file(_bert_json())


def test_stride_with_no_room_for_text_is_refused_as_in_hf() -> None:
    hf = pytest.importorskip("tokenizers")
    ours = lf.Tokenizer.from_file(_bert_json())
    theirs = hf.Tokenizer.from_file(str(_bert_json()))
    with pytest.raises(ValueError, match="stride set to 1"):
        theirs.enable_truncation(max_length=2, stride=1)
    with pytest.raises(ConfigError, match="stride=1 needs room for text"):
        ours.encode_batch(["a b c d e f"], max_length=2, truncation=True, stride=1,
                          return_overflowing_tokens=True)  # fmt: skip
    # a stride past what a cut text keeps is refused whatever the texts, as HF refuses it
    # when truncation is set (it was refused only once a row had to be cut)
    with pytest.raises(ValueError, match="stride set to 4, which is greater than or equal to"):
        theirs.enable_truncation(max_length=5, stride=4)
    for texts in (["a"], ["a b c d e f"]):
        with pytest.raises(
            ConfigError,
            match=r"stride=4 must be smaller than the 3 tokens a "
            r"truncated sequence keeps \(max_length=5 less the 2 special",
        ):
            ours.encode_batch(texts, max_length=5, truncation=True, stride=4,
                              return_overflowing_tokens=True)  # fmt: skip
    # a stride HF takes when set is taken as long as nothing is cut
    theirs.enable_truncation(max_length=5, stride=3)
    want = theirs.encode("a").ids
    assert ours.encode_batch(["a"], max_length=5, truncation=True, stride=3) == [want]


def test_a_text_cut_away_whole_is_hfs_and_its_overflow_refused() -> None:
    """``max_length`` that leaves a text (of a pair, by ``longest_first``) no token: without
    overflow windows the row is the special tokens and the other text's part, as HF gives
    it, whatever the stride (the stride was refused); with them, the cut text's one window
    is the whole text, a row longer than ``max_length`` that transformers returns ragged
    (it came back padded to the longest such row): refused, naming the length that fits."""
    hf = pytest.importorskip("tokenizers")
    ours = lf.Tokenizer.from_file(_bert_json())
    theirs = hf.Tokenizer.from_file(str(_bert_json()))
    pair = (["hello world"], ["foo bar"])
    for max_length, stride in ((3, 1), (3, 0), (4, 0)):
        theirs.enable_truncation(max_length, strategy="longest_first", stride=stride)
        want = theirs.encode(pair[0][0], pair[1][0]).ids
        got = ours.encode_batch(*pair, max_length=max_length, truncation="longest_first",
                                stride=stride)  # fmt: skip
        assert got == [want], (max_length, stride)
        assert len(want) <= max_length
    # (at 4 with stride 1 the second text keeps 1 token, which a stride of 1 cannot step
    # over: HF panics, a PanicException; refused here)
    with pytest.raises(ConfigError, match="stride=1 must be smaller than the 1 tokens"):
        ours.encode_batch(*pair, max_length=4, truncation="longest_first", stride=1)
    for texts, max_length, which, need in ((pair, 4, "pair's first text", 5),
                                           (pair, 3, "pair's first text", 5),
                                           ((["hello world"], None), 2, "text", 3)):  # fmt: skip
        with pytest.raises(
            ConfigError,
            match=rf"max_length={max_length} leaves the {which} no token after .* the whole "
            rf"text, a row longer than max_length; use max_length >= {need}",
        ):
            ours.encode_batch(*texts, max_length=max_length, truncation="longest_first",
                              padding=True, return_overflowing_tokens=True)  # fmt: skip
    # with room for a token of each, the windows are HF's and none is longer than asked
    theirs.enable_truncation(5, strategy="longest_first")
    encoding = theirs.encode(pair[0][0], pair[1][0])
    want = [encoding.ids] + [o.ids for o in encoding.overflowing]
    got = ours.encode_batch(*pair, max_length=5, truncation="longest_first",
                            return_overflowing_tokens=True)  # fmt: skip
    assert got == want and max(map(len, got)) <= 5


def test_special_tokens_added_after_training_load_as_in_hf(tmp_path: Path) -> None:
    """HF's ``add_special_tokens`` gives new tokens ids past ``model.vocab`` and lists them
    only in ``added_tokens``: they load, match in text, and are never word pieces."""
    hf = pytest.importorskip("tokenizers")
    trained = hf.BertWordPieceTokenizer(lowercase=True)
    trained.train_from_iterator(
        ["a b c hello entity ent"] * 10, vocab_size=100, show_progress=False
    )
    trained.add_special_tokens(["<ent>", "hello2", "[E2]"])
    trained.save(str(tmp_path / "added.json"))
    ours = lf.Tokenizer.from_file(tmp_path / "added.json")
    assert ours.vocab_size == trained.get_vocab_size() and ours.token_to_id("[E2]") is not None
    texts = ["a <ent> b", "hello2 hellohello2 [E2]x", "<ENT> entity ent", "", "[E2][E2]", "HELLO2"]
    for text in texts:
        want = trained.encode(text)
        got = ours.encode_batch([text], return_tensors="np", return_offsets=True)
        assert got["input_ids"][0].tolist() == want.ids, text
        assert [tuple(o) for o in got["offsets"][0].tolist()] == want.offsets, text
        assert ours.decode(want.ids) == trained.decode(want.ids)
    # saved by us, read by HF (and by us) the same way
    ours.save(tmp_path / "again.json")
    again = hf.Tokenizer.from_file(str(tmp_path / "again.json"))
    assert [again.encode(t).ids for t in texts] == [trained.encode(t).ids for t in texts]
    assert lf.Tokenizer.from_file(tmp_path / "again.json").encode("x hello2 y") == ours.encode(
        "x hello2 y"
    )
    # ids that leave a gap after the vocabulary are refused, naming the next free id
    doc = json.loads((tmp_path / "added.json").read_text(encoding="utf-8"))
    doc["added_tokens"][-1]["id"] += 1
    (tmp_path / "gap.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match="without gaps"):
        lf.Tokenizer.from_file(tmp_path / "gap.json")


def test_the_files_decoder_decides_the_cleanup(tmp_path: Path) -> None:
    hf = pytest.importorskip("tokenizers")
    doc = json.loads(_bert_json().read_text(encoding="utf-8"))
    doc["decoder"]["cleanup"] = False
    (tmp_path / "raw.json").write_text(json.dumps(doc), encoding="utf-8")
    theirs = hf.Tokenizer.from_file(str(tmp_path / "raw.json"))
    ours = lf.Tokenizer.from_file(tmp_path / "raw.json")
    text = "it's here , isn't it ? yes ."
    ids = theirs.encode(text).ids
    assert ours.decode(ids) == theirs.decode(ids) == "it ' s here , isn ' t it ? yes ."
    assert ours.decode(ids, cleanup=True) == lf.Tokenizer.from_file(_bert_json()).decode(ids)
    ours.save(tmp_path / "again.json")  # kept on save
    assert lf.Tokenizer.from_file(tmp_path / "again.json").decode(ids) == theirs.decode(ids)


def test_an_unsupported_model_kind_is_named(tmp_path: Path) -> None:
    hf = pytest.importorskip("tokenizers")
    unigram = hf.Tokenizer(hf.models.Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -2.0)], 0))
    unigram.save(str(tmp_path / "unigram.json"))
    with pytest.raises(TokenizerFormatError, match="'Unigram' is not supported"):
        lf.Tokenizer.from_file(tmp_path / "unigram.json")


def test_vocab_txt_lines_and_casing_as_hf_reads_them(tmp_path: Path) -> None:
    hf = pytest.importorskip("tokenizers")
    lines = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe \nt\t\n##h\r\n##e\nhe\nllo\n##llo\nhello\n"
    (tmp_path / "vocab.txt").write_text(lines, encoding="utf-8", newline="")
    theirs = hf.BertWordPieceTokenizer(str(tmp_path / "vocab.txt"))
    ours = lf.Tokenizer.from_file(tmp_path / "vocab.txt")
    for text in ("the", "The hello", "t h"):
        assert ours.encode(text) == theirs.encode(text).ids, text
    # casing: the folder's tokenizer_config.json, else the vocabulary's own letters
    mixed = lines + "Hello\n"
    for folder, config, lower in [
        ("cased-by-content", None, False),  # "Hello" could never come out of lowercasing
        ("said-uncased", {"do_lower_case": True}, True),
    ]:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "vocab.txt").write_text(mixed, encoding="utf-8")
        if config is not None:
            (tmp_path / folder / "tokenizer_config.json").write_text(json.dumps(config))
        tok = lf.Tokenizer.from_file(tmp_path / folder / "vocab.txt")
        assert tok.encode("HELLO", add_special_tokens=False) == (
            [tok.token_to_id("hello")] if lower else [tok.token_to_id("[UNK]")]
        ), folder
    assert ours.encode("HELLO") == ours.encode("hello")  # no uppercase token: uncased


@pytest.mark.parametrize(
    "config",
    [
        {"do_lower_case": True, "strip_accents": False},
        {"do_lower_case": False, "strip_accents": True},
        {"do_lower_case": True, "tokenize_chinese_chars": False},
        {"do_lower_case": True, "strip_accents": None},  # null: accents follow lowercasing
    ],
)
def test_vocab_txt_takes_the_configs_normalizer_options(tmp_path: Path, config: Any) -> None:
    """A vocab.txt folder's tokenizer_config.json says more than do_lower_case: transformers'
    BertTokenizer (the oracle) reads strip_accents and tokenize_chinese_chars too."""
    transformers = pytest.importorskip("transformers")
    tokens = "[PAD] [UNK] [CLS] [SEP] [MASK] café cafe caf ##é ##e Café 中 文 中文 ##文 a"
    (tmp_path / "vocab.txt").write_text(tokens.replace(" ", "\n") + "\n", encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    ours = lf.Tokenizer.from_file(tmp_path / "vocab.txt")
    theirs = transformers.BertTokenizer.from_pretrained(str(tmp_path))
    for text in ("café", "Café a", "CAFÉ", "中文", "a中文a"):
        assert ours.encode(text) == theirs(text)["input_ids"], (config, text)


def test_vocab_format_warns_about_what_it_cannot_record(tmp_path: Path) -> None:
    """vocab.txt alone records tokens: a save whose load gives another tokenizer (the
    oracle: loading it back) warns and names what is lost; a plain BERT one does not."""
    texts = ["Café résumé naïve élan", "中文字 mixed text <ent> here", "plain words"] * 30
    plain = lf.Tokenizer.train_wordpiece(texts=texts, vocab_size=150)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain.save(tmp_path / "plain.txt", format="vocab")
    back = lf.Tokenizer.from_file(tmp_path / "plain.txt")
    assert back.encode("Café 中文字") == plain.encode("Café 中文字")
    for options, lost in [
        ({"strip_accents": False}, r"strip_accents=False \(it loads as True\)"),
        ({"handle_chinese_chars": False}, r"handle_chinese_chars=False"),
        ({"lowercase": False}, r"lowercase=False \(it loads as True\)"),
        ({"special_tokens": [*bert_specials(), "<ent>"]}, r"the special tokens \['<ent>'\]"),
    ]:
        tok = lf.Tokenizer.train_wordpiece(texts=[t.lower() for t in texts], vocab_size=150,
                                           **options)  # fmt: skip
        with pytest.warns(UserWarning, match=lost):
            tok.save(tmp_path / "lossy.txt", format="vocab")


def test_bpe_pads_with_the_files_pad_id(tmp_path: Path) -> None:
    """A tokenizer.json whose padding names its id (GPT-2-style files pad with
    <|endoftext|>) pads with it when asked, as transformers does (the oracle), even when a
    <pad> token exists or none does."""
    hf = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    texts = ["hello", "hello world there"]
    for specials in (["<|endoftext|>", "<pad>"], ["<|endoftext|>"]):
        tok = lf.Tokenizer.train_bpe(texts=["hello world, hello there"] * 20, vocab_size=280,
                                     special_tokens=specials, show_progress=False)  # fmt: skip
        path = tmp_path / f"{len(specials)}.json"
        tok.save(path)
        theirs = hf.Tokenizer.from_file(str(path))
        theirs.enable_padding(pad_id=0, pad_token="<|endoftext|>")
        theirs.save(str(path))
        fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
        ours = lf.Tokenizer.from_file(path)
        want = fast(texts, padding=True)["input_ids"]
        assert ours.encode_batch(texts, padding=True) == want, specials
        assert ours.encode_batch(texts) == [e.ids for e in theirs.encode_batch(texts)]


def test_a_path_written_as_a_folder_is_one(tmp_path: Path) -> None:
    """``save("out/")``: the slash says folder (Path drops it), as ``open("out/", "w")``
    would refuse to write a file there; the folder is made and gets the usual file."""
    bpe = lf.Tokenizer.train_bpe(texts=["hello world"] * 10, vocab_size=270)
    wp = lf.Tokenizer.train_wordpiece(texts=["hello world"] * 10, vocab_size=40)
    for tok, format, name in ((bpe, "hf", "tokenizer.json"), (wp, "hf", "tokenizer.json"),
                              (wp, "vocab", "vocab.txt")):  # fmt: skip
        folder = tmp_path / f"{type(tok).__name__}-{format}"
        tok.save(f"{folder}{os.sep}", format=format)
        assert folder.is_dir() and (folder / name).is_file()
        assert lf.Tokenizer.from_file(folder / name).vocab() == tok.vocab()
    with pytest.raises(ConfigError, match="names a folder"):
        bpe.save(f"{tmp_path / 'ranks'}/", format="tiktoken")
    assert not (tmp_path / "ranks").exists()
    (tmp_path / "tok.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"names a folder, but .*tok\.json is a file"):
        bpe.save(f"{tmp_path / 'tok.json'}/")
    assert (tmp_path / "tok.json").read_text() == "{}"


def test_batches_of_lists_leave_the_garbage_collector_as_they_found_it() -> None:
    """encode_batch pauses Python's cyclic collector while the core builds its lists (one
    container per row), and restores it: on, off, and after an error."""
    import gc

    from lexforge import datasets
    from lexforge.errors import EncodingError

    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    bpe = lf.Tokenizer.train_bpe(texts=["hello world"] * 5, vocab_size=260)
    was = gc.isenabled()
    try:
        for state in (True, False):
            (gc.enable if state else gc.disable)()
            for t in (tok, bpe):
                assert t.encode_batch(["a b", "c"], truncation=True, max_length=8)
                assert gc.isenabled() is state
                with pytest.raises(EncodingError):
                    t.encode_batch(["ok", "bad \ud800"], truncation=True, max_length=8)
                assert gc.isenabled() is state
    finally:
        (gc.enable if was else gc.disable)()
