"""The core's one-pass reading of a byte-level ``tokenizer.json``'s vocabulary and merges
(``_core.read_byte_level``) against the reading it stands in for, a token and a merge at a
time in Python (``hf_json._checked_tables``), and the core's writing of them
(``Bpe.byte_level_tables``) against ``_bytelevel``'s spelling. The two readings must build
the same model from every file the fast one takes, and every file it does not take as it
stands (a problem to name, a special token the merges take) must be left to the checked
reading, which names the problem; HF ``tokenizers`` is the oracle for the encodings."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import lexforge as lf
from lexforge import _bytelevel
from lexforge._core import Bpe, read_byte_level
from lexforge.errors import ConfigError, TokenizerFormatError
from lexforge.formats import gpt2, hf_json
from lexforge.formats.added import read as read_added

hf = pytest.importorskip("tokenizers")

TEXTS = ["Hello world, don't stop", "  spaces\tand\nlines  ", "Ünïcödé Straße 中文 😀", "<s>x</s>"]


@pytest.fixture(scope="module")
def doc(wiki_text: str) -> dict[str, Any]:
    """A byte-level BPE tokenizer.json as HF trains and saves one (specials in its vocab)."""
    tok = hf.ByteLevelBPETokenizer()  # (every byte in its alphabet)
    specials = ["<s>", "<pad>", "</s>"]
    tok.train_from_iterator(
        wiki_text.split("\n")[:2000], vocab_size=1200, special_tokens=specials, show_progress=False
    )
    tok.add_tokens(["hello world", "Ġthe"])  # not special: kept in the model where spelled
    tok.add_special_tokens(["é", ")"])  # a byte's own character: kept as that byte's token
    return dict(json.loads(tok.to_str()))


def _both(path: Path, doc: dict[str, Any]) -> tuple[Bpe, Bpe]:
    """The model built from the core's reading and from the checked one."""
    model = doc["model"]
    added = read_added(path, doc, model["vocab"])
    specials = [(t.content, t.id) for t in added if t.special]
    entries = [(t.content, t.id, t.special) for t in added]
    tables = read_byte_level(model["vocab"], model["merges"], entries)
    assert tables is not None
    fast = Bpe.from_merges(tables, [], specials, "gpt2")
    vocab, merges = hf_json._checked_tables(path, model["vocab"], model["merges"], added)
    return fast, Bpe.from_merges(vocab, merges, specials, "gpt2")


@pytest.mark.parametrize("merges_as", ["lists", "strings"])
def test_both_readings_build_the_same_model(
    doc: dict[str, Any], merges_as: str, tmp_path: Path
) -> None:
    doc = copy.deepcopy(doc)
    merges = [m if isinstance(m, list) else m.split(" ") for m in doc["model"]["merges"]]
    doc["model"]["merges"] = merges if merges_as == "lists" else [" ".join(m) for m in merges]
    fast, checked = _both(tmp_path / "tokenizer.json", doc)
    assert fast.vocab() == checked.vocab()
    assert fast.merges() == checked.merges()
    assert fast.specials() == checked.specials()
    for text in TEXTS:
        assert fast.encode(text) == checked.encode(text), text
    # and the file, loaded (through the core's reading), encodes as HF does
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    ours, theirs = lf.Tokenizer.from_file(path), hf.Tokenizer.from_file(str(path))
    for text in [*TEXTS, "hello world)é the"]:
        assert ours.encode(text, allowed_special="all") == theirs.encode(text).ids, text


def test_the_written_tables_spell_as_the_byte_level_alphabet(doc: dict[str, Any]) -> None:
    fast, _ = _both(Path("tokenizer.json"), doc)
    vocab, merges = fast.byte_level_tables()
    text = {tid: _bytelevel.encode(token) for token, tid in fast.vocab()}
    assert list(vocab.items()) == [(token, tid) for tid, token in text.items()]
    assert merges == [f"{text[a]} {text[b]}" for a, b in fast.merges()]
    # every byte, and a reading of the written tables back
    every = bytes(range(256))
    assert _bytelevel.decode(_bytelevel.encode(every)) == every
    again = read_byte_level(vocab, merges, [])
    assert again is not None
    back = Bpe.from_merges(again, [], [], "gpt2")
    assert back.vocab() == fast.vocab() and back.merges() == fast.merges()


def _token(doc: dict[str, Any], length: int) -> str:
    """A vocabulary token (not an added one) of ``length`` characters."""
    added = {t["content"] for t in doc["added_tokens"]}
    return next(t for t in doc["model"]["vocab"] if len(t) == length and t not in added)


def _damage(doc: dict[str, Any], how: str) -> None:
    model = doc["model"]
    vocab, merges = model["vocab"], model["merges"]
    token = _token(doc, 3)
    first = " ".join(merges[0]) if isinstance(merges[0], list) else merges[0]
    if how.startswith("id "):
        vocab[token] = {"id float": 5.0, "id bool": True, "id negative": -1,
                        "id 2**32-1": 2**32 - 1, "id text": "5"}[how]  # fmt: skip
    elif how == "an added token's id differs":
        vocab["<s>"] = vocab["<s>"] + 1000
    elif how == "a vocabulary token has an added token's id":
        vocab[token] = vocab["<pad>"]
    elif how == "a token outside the alphabet":
        vocab["a b"] = len(vocab) + 10
    elif how == "a lone surrogate":
        vocab["\ud800"] = len(vocab) + 10
    elif how == "a merge of three parts":
        merges[0] = f"{first} x"
    elif how == "a merge with no space":
        merges[0] = first.replace(" ", "")
    elif how == "a list merge of three":
        merges[0] = [*first.split(" "), "x"]
    elif how == "a merge that is a number":
        merges[0] = 7
    elif how == "a part not in the vocabulary":
        merges.append("zzzqqq x")
    elif how == "a merged token not in the vocabulary":
        merges.append(f"{token} {token}")
    elif how == "merges not a list":
        model["merges"] = {"a": "b"}
    elif how == "a merge with an empty part":
        vocab[""] = len(vocab) + 10  # (kept: the empty token, as Whisper's file has)
        merges.append(f"{token} ")
    else:
        raise AssertionError(how)


DAMAGES = [
    "id float", "id bool", "id negative", "id 2**32-1", "id text",
    "an added token's id differs", "a vocabulary token has an added token's id",
    "a token outside the alphabet", "a lone surrogate", "a merge of three parts",
    "a merge with no space", "a list merge of three", "a merge that is a number",
    "a part not in the vocabulary", "a merged token not in the vocabulary", "merges not a list",
    "a merge with an empty part",
]  # fmt: skip


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_file_is_left_to_the_checked_reading_which_names_it(
    doc: dict[str, Any], how: str, tmp_path: Path
) -> None:
    doc = copy.deepcopy(doc)
    _damage(doc, how)
    model = doc["model"]
    path = tmp_path / "tokenizer.json"
    entries = [(t["content"], t["id"], t["special"]) for t in doc["added_tokens"]]
    assert read_byte_level(model["vocab"], model["merges"], entries) is None
    with pytest.raises(TokenizerFormatError, match=r"model\.|added_tokens|alphabet|id"):
        hf_json.load(path, doc)


def test_a_special_token_the_merges_make_is_left_to_the_checked_reading(
    doc: dict[str, Any], tmp_path: Path
) -> None:
    """A special token whose characters a merge joins: HF merges it; the checked reading
    adds it to the model (the core's reading leaves it, answering None)."""
    doc = copy.deepcopy(doc)
    vocab = doc["model"]["vocab"]
    new_id = max([*vocab.values(), *(t["id"] for t in doc["added_tokens"])]) + 1
    vocab["ab"] = new_id
    doc["added_tokens"].append({"id": new_id, "content": "ab", "single_word": False,
                                "lstrip": False, "rstrip": False, "normalized": False,
                                "special": True})  # fmt: skip
    doc["model"]["merges"].append(["a", "b"])
    entries = [(t["content"], t["id"], t["special"]) for t in doc["added_tokens"]]
    assert read_byte_level(vocab, doc["model"]["merges"], entries) is None
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    ours, theirs = lf.Tokenizer.from_file(path), hf.Tokenizer.from_file(str(path))
    for text in ["ab cab", "xaby", *TEXTS]:
        assert ours.encode(text, allowed_special="all") == theirs.encode(text).ids, text


def test_tables_are_used_once(doc: dict[str, Any]) -> None:
    model = doc["model"]
    entries = [(t["content"], t["id"], t["special"]) for t in doc["added_tokens"]]
    tables = read_byte_level(model["vocab"], model["merges"], entries)
    assert tables is not None
    with pytest.raises(TypeError, match="merges must be empty"):
        Bpe.from_merges(tables, [(b"a", b"b")], [], "gpt2")
    Bpe.from_merges(tables, [], [], "gpt2")
    with pytest.raises(RuntimeError, match="used already"):
        Bpe.from_merges(tables, [], [], "gpt2")


# --- GPT-2's vocab.json and merges.txt: the same reading, its lines split in Python --------


def _gpt2_both(vocab_path: Path, merges_path: Path, specials: Any) -> tuple[Bpe, Bpe]:
    """The model of ``gpt2.load`` (through the core's reading where it takes the pair) and
    of the checked reading alone."""
    loaded = gpt2.load(vocab_path, merges_path, specials)
    raw = json.loads(vocab_path.read_text(encoding="utf-8"))
    wanted = set(gpt2.GPT2_SPECIALS if specials is None else specials)
    text = merges_path.read_text(encoding="utf-8")
    vocab, names, merges = gpt2._checked_tables(
        vocab_path, merges_path, raw, wanted, specials, text
    )
    return loaded, Bpe.from_merges(vocab, merges, names, "gpt2", False)


@pytest.mark.parametrize("shape", ["as saved", "crlf", "no header", "blank lines"])
def test_gpt2_pairs_read_as_the_checked_reading_reads_them(
    gpt2_files: dict[str, Path], shape: str, tmp_path: Path
) -> None:
    vocab_path, merges_path = gpt2_files["encoder.json"], gpt2_files["vocab.bpe"]
    text = merges_path.read_text(encoding="utf-8")
    if shape != "as saved":
        lines = text.split("\n")
        if shape == "crlf":
            text = "\r\n".join(lines)
        elif shape == "no header":
            text = "\n".join(lines[1:])
        else:
            text = "\n\n".join(lines) + "\n\n"
        merges_path = tmp_path / "merges.txt"
        merges_path.write_bytes(text.encode("utf-8"))
    raw = json.loads(vocab_path.read_text(encoding="utf-8"))
    specials = [("<|endoftext|>", raw["<|endoftext|>"], True)]
    kept = [line.rstrip("\r") for line in text.split("\n")]
    kept = [line for i, line in enumerate(kept) if line and not (i == 0 and "#version" in line)]
    assert read_byte_level(raw, kept, specials) is not None  # the fast path takes it
    fast, checked = _gpt2_both(vocab_path, merges_path, None)
    assert fast.vocab() == checked.vocab() and fast.merges() == checked.merges()
    assert fast.specials() == checked.specials() == [("<|endoftext|>", 50256)]
    for sample in TEXTS:
        assert fast.encode(sample) == checked.encode(sample), sample


def test_a_gpt2_special_token_spelled_as_one_byte_is_read_as_special(
    doc: dict[str, Any], tmp_path: Path
) -> None:
    """A special token named by the caller that is a byte's own character ("Ā", byte 0's,
    which no merge of English text takes) is left out of the model's vocabulary by the
    checked reading (the core's reading would keep it)."""
    model, _ = _both(tmp_path / "tokenizer.json", doc)
    vocab_path, merges_path = gpt2.save(model, tmp_path)
    assert not any("Ā" in line for line in merges_path.read_text(encoding="utf-8").split("\n"))
    with pytest.warns(UserWarning, match="1 of the 256 bytes have no token"):
        fast, checked = _gpt2_both(vocab_path, merges_path, ("<s>", "Ā"))
    assert fast.vocab() == checked.vocab() and fast.specials() == checked.specials()
    assert "Ā" in dict(fast.specials()) and fast.token_id(b"\x00") is None


@pytest.mark.parametrize(
    "line, error",
    [("a b c", TokenizerFormatError), ("a ", TokenizerFormatError), ("ab", TokenizerFormatError),
     ("zzzqqq x", TokenizerFormatError), ("<|endoftext|> x", TokenizerFormatError)],
)  # fmt: skip
def test_a_damaged_gpt2_merges_file_is_named_by_the_checked_reading(
    gpt2_files: dict[str, Path], line: str, error: type[Exception], tmp_path: Path
) -> None:
    merges_path = tmp_path / "merges.txt"
    text = gpt2_files["vocab.bpe"].read_text(encoding="utf-8")
    merges_path.write_text(text + line + "\n", encoding="utf-8")
    with pytest.raises(error, match=r"merges\.txt:\d+"):
        gpt2.load(gpt2_files["encoder.json"], merges_path)


def test_a_gpt2_special_token_the_merges_take_is_named(
    gpt2_files: dict[str, Path], tmp_path: Path
) -> None:
    merges_path = tmp_path / "merges.txt"
    text = gpt2_files["vocab.bpe"].read_text(encoding="utf-8")
    merges_path.write_text(text + "Ġt he\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="a token the merges take or make"):
        gpt2.load(gpt2_files["encoder.json"], merges_path, ("<|endoftext|>", "he"))
