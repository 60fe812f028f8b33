"""Tokenizer files: round trips through every format, both merges spellings, and typed
errors naming file, line and fix for malformed, truncated or inconsistent files."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import lexforge as lf
from lexforge.errors import ConfigError, TokenIdError, TokenizerFormatError

TEXTS = ["the cat sat on the mat", "théâtre 中文 emoji 😀", "  spaces\n\nand lines  "]


@pytest.fixture(scope="module")
def tok() -> lf.Tokenizer:
    return lf.Tokenizer.train_bpe(
        texts=TEXTS * 20, vocab_size=320, special_tokens=["<|endoftext|>"], show_progress=False
    )


def same(a: lf.Tokenizer, b: lf.Tokenizer) -> bool:
    return all(a.encode(t) == b.encode(t) for t in TEXTS) and a.special_tokens == b.special_tokens


def test_round_trips(tok: lf.Tokenizer, tmp_path: Path) -> None:
    tok.save(tmp_path / "tokenizer.json")
    hf = lf.Tokenizer.from_file(tmp_path / "tokenizer.json")
    assert same(tok, hf) and hf.vocab() == tok.vocab() and hf.merges() == tok.merges()
    assert same(tok, lf.Tokenizer.from_file(tmp_path))  # a directory with tokenizer.json
    (tmp_path / "gpt2").mkdir()
    tok.save(tmp_path / "gpt2", format="gpt2")
    for path in (
        tmp_path / "gpt2",
        tmp_path / "gpt2" / "vocab.json",
        tmp_path / "gpt2" / "merges.txt",
    ):
        assert same(tok, lf.Tokenizer.from_file(path))
    with pytest.warns(UserWarning, match="format='tiktoken' cannot record"):
        tok.save(tmp_path / "x.tiktoken", format="tiktoken")
    tt = lf.Tokenizer.from_tiktoken(
        tmp_path / "x.tiktoken", pattern="gpt2", special_tokens=tok.special_tokens
    )
    assert all(tt.decode(tt.encode(t)) == t for t in TEXTS)
    assert not list(tmp_path.glob("**/*.tmp"))  # atomic writes leave no temporaries


def test_a_rank_file_named_txt_is_read_as_one(
    rank_files: dict[str, Path], gpt2_files: dict[str, Path], tmp_path: Path
) -> None:
    """A tiktoken rank file saved as .txt was read as GPT-2 merges (its "base64 rank"
    lines are pairs by their shape), and pattern= was then refused. merges.txt and
    vocab.txt files are still told apart as before."""
    import shutil

    text = "Hello world, this is 2026!  Ünïcödé and 漢字 too."
    original = lf.Tokenizer.from_file(rank_files["cl100k_base"], pattern="cl100k")
    shutil.copy(rank_files["cl100k_base"], tmp_path / "cl100k_base.txt")
    renamed = lf.Tokenizer.from_file(tmp_path / "cl100k_base.txt", pattern="cl100k")
    assert renamed.encode(text) == original.encode(text)
    shutil.copy(gpt2_files["vocab.bpe"], tmp_path / "merges.txt")  # (it begins #version)
    lines = (tmp_path / "merges.txt").read_text(encoding="utf-8").split("\n")[1:]
    (tmp_path / "merges.txt").write_text("\n".join(lines), encoding="utf-8")  # (now it does not)
    shutil.copy(gpt2_files["encoder.json"], tmp_path / "vocab.json")
    gpt2 = lf.Tokenizer.from_file(gpt2_files["encoder.json"])
    assert lf.Tokenizer.from_file(tmp_path / "merges.txt").encode(text) == gpt2.encode(text)
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n", encoding="utf-8")
    assert lf.Tokenizer.from_file(tmp_path / "vocab.txt").encode("hello") == [2, 4, 3]


def test_both_merges_spellings(tok: lf.Tokenizer, tmp_path: Path) -> None:
    tok.save(tmp_path / "tokenizer.json")
    doc = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    doc["model"]["merges"] = [m.split(" ") for m in doc["model"]["merges"]]
    (tmp_path / "pairs.json").write_text(json.dumps(doc), encoding="utf-8")
    assert same(tok, lf.Tokenizer.from_file(tmp_path / "pairs.json"))


def corrupt(tok: lf.Tokenizer, tmp_path: Path, edit: object) -> Path:
    tok.save(tmp_path / "tokenizer.json")
    doc = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    edit(doc)  # type: ignore[operator]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["model"]["merges"].append("Ġzz qq"),
            r"model\.merges\[\d+\].*not in model\.vocab",
        ),
        (lambda d: d["model"]["merges"].append("a"), r"model\.merges\[\d+\].*not a pair"),
        (lambda d: d["model"].pop("vocab"), r"model\.vocab.*missing"),
        (lambda d: d["model"].update(type="Unigram"), "'Unigram' is not supported"),
        (lambda d: d.update(normalizer={"type": "Replace"}), "normalizer: 'Replace' is not"),
        (lambda d: d["pre_tokenizer"].update(add_prefix_space="yes"),
         r"add_prefix_space: must be true or false"),
        (lambda d: d["model"].update(dropout=0.1), "dropout"),
        (lambda d: d["added_tokens"][0].update(rstrip="yes"), "rstrip.*true or false"),
        (lambda d: d["model"]["vocab"].update({"Ġthe": 5}), "unique|twice|both"),
        # one stray id must not size a table of gigabytes (it aborted the process)
        (lambda d: d["model"]["vocab"].update({"Ġthe": 2**31 - 1}), "far past the 3.. tokens"),
        (lambda d: d["model"]["vocab"].update({"Ġthe": 10**30}), r"not an integer in \[0, "),
        (lambda d: d["added_tokens"][0].update(id=2**40), r"id: .* not an integer in \[0, "),
        # a special token's id and text must agree between added_tokens and model.vocab
        (lambda d: d["model"]["vocab"].update({"<|endoftext|>": 5000}),
         "has id 0 in added_tokens but 5000 here"),
        (lambda d: d["added_tokens"][0].update(content="<|other|>"),
         r"added_tokens\[0\]: '<\|other\|>' has id 0, but HF tokenizers numbers .* gives it 3"),
    ],
)  # fmt: skip
def test_inconsistent_tokenizer_json(
    tok: lf.Tokenizer, tmp_path: Path, edit: object, message: str
) -> None:
    path = corrupt(tok, tmp_path, edit)
    with pytest.raises(TokenizerFormatError, match=message) as info:
        lf.Tokenizer.from_file(path)
    assert "bad.json" in str(info.value)
    assert isinstance(info.value, ValueError)


_TEMPLATE = {
    "type": "TemplateProcessing",
    "single": [
        {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
        {"Sequence": {"id": "A", "type_id": 0}},
    ],
    "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
    "special_tokens": {
        "<|endoftext|>": {"id": "<|endoftext|>", "ids": [0], "tokens": ["<|endoftext|>"]}
    },
}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d.update(post_processor={**_TEMPLATE, "single": _TEMPLATE["pair"]}),
            r"single.*\$A once",
        ),
        (
            lambda d: d.update(
                post_processor={**_TEMPLATE, "special_tokens": {"<|endoftext|>": {"ids": [7]}}}
            ),
            "id 7 is not one of added_tokens",
        ),
        (
            lambda d: d.update(
                post_processor={"type": "Sequence", "processors": [_TEMPLATE, _TEMPLATE]}
            ),
            "second template",
        ),
        (
            lambda d: d.update(post_processor={"type": "Sequence", "processors": 3}),
            "processors.*list",
        ),
        (lambda d: d.update(post_processor={"type": "Fancy"}), "'Fancy' is not supported"),
        (
            lambda d: d.update(
                post_processor={
                    "type": "RobertaProcessing",
                    "cls": ["<s>", 0],
                    "sep": ["<|endoftext|>", 0],
                }
            ),
            r"cls.*not one of added_tokens",
        ),
        (lambda d: d["added_tokens"][0].update(lstrip="yes"), "lstrip.*true or false"),
        (lambda d: d.update(post_processor={**_TEMPLATE, "single": True}),
         "single: must be a list of pieces"),
        (lambda d: d.update(post_processor={**_TEMPLATE, "single": [None]}),
         r"single\[0\]: None is not"),
        (lambda d: d.update(post_processor={**_TEMPLATE, "single": [{"SpecialToken": {}}]}),
         r"special token None needs one id"),
        (lambda d: d.update(post_processor={**_TEMPLATE, "pair": [
            {"Sequence": {"id": "A", "type_id": -1}}, {"Sequence": {"id": "B"}}]}),
         r"pair\[0\]\.Sequence\.type_id: -1 is not an integer"),
        (lambda d: d.update(post_processor={**_TEMPLATE, "special_tokens": [1, 2]}),
         "special_tokens: must be an object"),
    ],
)  # fmt: skip
def test_bad_templates(tok: lf.Tokenizer, tmp_path: Path, edit: object, message: str) -> None:
    """A post-processor lexforge cannot follow is named, never ignored (HF would put
    other tokens around each text)."""
    path = corrupt(tok, tmp_path, edit)
    with pytest.raises(TokenizerFormatError, match=message):
        lf.Tokenizer.from_file(path)


def test_with_template_checks(tok: lf.Tokenizer) -> None:
    assert isinstance(tok, lf.BpeTokenizer)
    with pytest.raises(ConfigError, match="'<cls>' is not one of the special tokens"):
        tok.with_template("<cls>", None)
    with pytest.raises(ConfigError, match="lstrip names '<mask>'"):
        tok.with_template(None, "<|endoftext|>", lstrip=["<mask>"])
    with pytest.raises(TypeError, match="collection"):
        tok.with_template(None, "<|endoftext|>", lstrip="<|endoftext|>")
    framed = tok.with_template(None, "<|endoftext|>")
    eot = tok.token_to_id("<|endoftext|>")
    assert framed.encode("ab c") == [*tok.encode("ab c"), eot]
    assert framed.encode("ab c", add_special_tokens=False) == tok.encode("ab c")
    assert framed.with_template(None, None).encode("ab c") == tok.encode("ab c")


def test_truncated_and_non_utf8_json(tok: lf.Tokenizer, tmp_path: Path) -> None:
    tok.save(tmp_path / "tokenizer.json")
    data = (tmp_path / "tokenizer.json").read_bytes()
    (tmp_path / "cut.json").write_bytes(data[: len(data) // 2])
    with pytest.raises(TokenizerFormatError, match=r"cut\.json:\d+:\d+: invalid JSON.*truncated"):
        lf.Tokenizer.from_file(tmp_path / "cut.json")
    (tmp_path / "latin.json").write_bytes(b'{"model": "caf\xe9"}')
    with pytest.raises(TokenizerFormatError, match=r"latin\.json:1: not UTF-8"):
        lf.Tokenizer.from_file(tmp_path / "latin.json")


def test_gpt2_files_errors(tok: lf.Tokenizer, tmp_path: Path) -> None:
    tok.save(tmp_path, format="gpt2")
    merges = (tmp_path / "merges.txt").read_text(encoding="utf-8").split("\n")
    (tmp_path / "merges.txt").write_text(
        "\n".join([*merges[:3], "Ġnot there", *merges[3:]]), encoding="utf-8"
    )
    with pytest.raises(TokenizerFormatError, match=r"merges\.txt:4: 'Ġnot' is not in vocab\.json"):
        lf.Tokenizer.from_file(tmp_path)
    (tmp_path / "merges.txt").write_text(
        "\n".join([*merges[:3], "onlyone", *merges[3:]]), encoding="utf-8"
    )
    with pytest.raises(TokenizerFormatError, match=r"merges\.txt:4: 'onlyone' is not a merge"):
        lf.Tokenizer.from_file(tmp_path)
    (tmp_path / "merges.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"merges\.txt"):
        lf.Tokenizer.from_file(tmp_path / "vocab.json")


def test_tiktoken_file_errors(tmp_path: Path) -> None:
    good = [f"{base64.b64encode(bytes([b])).decode()} {b}" for b in range(256)]
    path = tmp_path / "r.tiktoken"
    path.write_text("\n".join([*good[:10], "not base64! 10", *good[11:]]), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"r\.tiktoken:11:"):
        lf.Tokenizer.from_tiktoken(path, pattern="gpt2")
    path.write_text("\n".join([*good[:10], "YQ==", *good[11:]]), encoding="utf-8")
    with pytest.raises(
        TokenizerFormatError, match=r"r\.tiktoken:11: expected '<base64 token> <rank>'"
    ):
        lf.Tokenizer.from_tiktoken(path, pattern="gpt2")
    path.write_text("\n".join([*good[:10], "YQ== x1", *good[11:]]), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"r\.tiktoken:11: rank 'x1'"):
        lf.Tokenizer.from_tiktoken(path, pattern="gpt2")
    path.write_text("\n".join([*good, good[5].split()[0] + " 300"]), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match="appears twice"):
        lf.Tokenizer.from_tiktoken(path, pattern="gpt2")
    path.write_text("", encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match="no ranks"):
        lf.Tokenizer.from_tiktoken(path, pattern="gpt2")
    path.write_text("\n".join(good), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"not named after a known encoding.*pattern="):
        lf.Tokenizer.from_tiktoken(path)
    path.write_text("\n".join([*good[:10], "YQ== 99999999999", *good[11:]]), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"r\.tiktoken:11: rank 99999999999 is above"):
        lf.Tokenizer.from_tiktoken(path, pattern="gpt2")
    path.write_text("\n".join([*good[:10], "YQ== ²", *good[11:]]), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"r\.tiktoken:11: rank '²'"):
        lf.Tokenizer.from_tiktoken(path, pattern="gpt2")
    path.write_text("\n".join([*good, "YWJj 2147483647"]), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match="token id 2147483647 is far past the 257"):
        lf.Tokenizer.from_tiktoken(path, pattern="gpt2")
    path.write_text("\n".join(good), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match="far past"):
        lf.Tokenizer.from_tiktoken(path, pattern="gpt2", special_tokens={"<|x|>": 2**31 - 1})


def test_ids_past_int64_are_named_not_wrapped(tok: lf.Tokenizer) -> None:
    import numpy as np

    with pytest.raises(TokenIdError, match=f"token id {2**63 + 5} is not in the vocabulary"):
        tok.decode(np.array([1, 2**63 + 5], dtype=np.uint64))
    with pytest.raises(TokenIdError, match=rf"valid ids are in \[0, {tok.vocab_size}\)"):
        tok.decode([tok.vocab_size])


def test_a_vocab_txt_with_trailing_spaces_is_a_vocabulary(tmp_path: Path) -> None:
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s"]
    path = tmp_path / "vocab.txt"
    path.write_text("".join(t + " \n" for t in tokens), encoding="utf-8")  # not merges
    tok = lf.Tokenizer.from_file(path)
    assert isinstance(tok, lf.WordPieceTokenizer)
    assert tok.encode("hello worlds") == [2, 5, 6, 7, 3]


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.json"):
        lf.Tokenizer.from_file(tmp_path / "nothing.json")
    with pytest.raises(FileNotFoundError, match="holds no tokenizer"):
        lf.Tokenizer.from_file(tmp_path)


def test_merges_referencing_unknown_ids_in_the_core() -> None:
    from lexforge._core import Bpe

    vocab = [(bytes([b]), b) for b in range(256)]
    with pytest.raises(TokenizerFormatError, match=r"merge #0 .*not in the vocabulary"):
        Bpe.from_merges(vocab, [(b"a", b"b")], [], "gpt2")
    with pytest.raises(TokenizerFormatError, match="already belongs"):
        Bpe.from_merges(vocab, [], [("<s>", 1)], "gpt2")


def test_files_that_cannot_record_the_text_handling_are_refused(tmp_path: Path) -> None:
    """GPT-2's pair and a rank file hold no normalizer and no prefix space: saved anyway,
    they loaded into a tokenizer that gave other ids for most texts."""
    tok = lf.Tokenizer.train_bpe(texts=["Hello world, the quick brown fox. " * 40], vocab_size=300)
    doc = json.loads(tok.to_str())
    for edit, named in (({"normalizer": {"type": "Lowercase"}}, r"the normalizer \(Lowercase\)"),
                        ({"pre_tokenizer": {**doc["pre_tokenizer"], "add_prefix_space": True}},
                         r"the space put before each text")):  # fmt: skip
        changed = lf.Tokenizer.from_str(json.dumps({**doc, **edit}))
        assert changed.encode("Hello world") != tok.encode("Hello world")  # (what is at stake)
        for fmt, path in (("gpt2", tmp_path / "g"), ("tiktoken", tmp_path / "r.tiktoken")):
            with pytest.raises(ConfigError, match=f"format='{fmt}' cannot record {named}"):
                changed.save(path, format=fmt)  # type: ignore[arg-type]
            assert not path.exists()


def test_a_failed_gpt2_save_leaves_the_earlier_pair_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vocab.json and merges.txt were replaced one by one: a failure at the second left a
    new vocabulary beside the old merges, a pair no reader loads."""
    import errno
    import os

    import lexforge.formats as formats

    old = lf.Tokenizer.train_bpe(texts=["aaa bbb ccc " * 50], vocab_size=270)
    new = lf.Tokenizer.train_bpe(texts=["the quick brown fox " * 50], vocab_size=280)
    old.save(tmp_path, format="gpt2")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = []
    real_fsync = os.fsync

    def full_at_the_second(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(formats.os, "fsync", full_at_the_second)
    with pytest.raises(OSError, match=r"merges\.txt: the disk is full"):
        new.save(tmp_path, format="gpt2")
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporaries
    (tmp_path / "merges.txt").unlink()
    (tmp_path / "merges.txt").mkdir()  # a folder in a file's place: refused before writing
    with pytest.raises(OSError, match=r"merges\.txt: Is a directory"):
        new.save(tmp_path, format="gpt2")
    assert (tmp_path / "vocab.json").read_bytes() == before["vocab.json"]


def test_a_gpt2_pair_beside_a_save_that_did_not_finish_is_warned_of(tmp_path: Path) -> None:
    """A save of the pair killed between its two renames leaves the new vocab.json beside
    the old merges.txt, and the new merges.txt as a temporary file: loading the pair then
    warns that the two may be of two saves (it loaded the mix silently); without such a
    file it loads quietly."""
    import warnings

    texts = ["the quick brown fox jumps over the lazy dog " * 50]
    old = lf.Tokenizer.train_bpe(texts=texts, vocab_size=265)
    new = lf.Tokenizer.train_bpe(texts=texts, vocab_size=285)  # (old's merges and more)
    old.save(tmp_path, format="gpt2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lf.Tokenizer.from_file(tmp_path / "vocab.json")
    staged = tmp_path / "staged"
    new.save(staged, format="gpt2")
    # the kill: vocab.json renamed in, merges.txt still its temporary file
    (staged / "vocab.json").replace(tmp_path / "vocab.json")
    (staged / "merges.txt").replace(tmp_path / ".merges.txt.k1ll3d.tmp")
    with pytest.warns(UserWarning, match=r"\.merges\.txt\.k1ll3d\.tmp is left by a save .* "
                                         r"may come from two saves"):  # fmt: skip
        lf.Tokenizer.from_file(tmp_path / "vocab.json")


def test_byte_level_strings_read_and_write_as_the_byte_table_says() -> None:
    """``_bytelevel`` converts through ``str.translate`` (a character at a time in Python
    before, a fifth of a large tokenizer.json's load): the same bytes as a lookup in the
    256-entry table, and None for any character that stands for no byte."""
    import random

    from lexforge import _bytelevel

    chars = _bytelevel.byte_to_char()
    back = _bytelevel.char_to_byte()
    rng = random.Random(0)
    pool = [*chars, *map(chr, range(400)), "\uffff", "中", "😀"]
    for _ in range(20_000):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(8)))
        assert _bytelevel.encode(raw) == "".join(chars[b] for b in raw)
        text = "".join(rng.choice(pool) for _ in range(rng.randrange(6)))
        expected = bytes(back[c] for c in text) if all(c in back for c in text) else None
        assert _bytelevel.decode(text) == expected, text


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base"])
def test_merges_read_at_once_equal_the_checked_reading(
    name: str, gpt2_files: dict[str, Path], rank_files: dict[str, Path], tmp_path: Path
) -> None:
    """A tokenizer.json's merges are read in one pass of lookups where every part and
    result is a vocabulary token, else a merge at a time with each one checked (and a
    special token a merge makes added): both give the same merges, and a file the pass
    refuses still gets the checked reading's error."""
    from lexforge.formats import hf_json

    tok = (
        lf.Tokenizer.from_gpt2(gpt2_files["encoder.json"], gpt2_files["vocab.bpe"])
        if name == "gpt2" else lf.Tokenizer.from_file(rank_files[name])
    )  # fmt: skip
    tok.save(tmp_path / "tokenizer.json")
    doc = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    pairs = hf_json._merges(tmp_path, doc["model"]["merges"])
    by_text = {t: hf_json._bytelevel.decode(t) for t in doc["model"]["vocab"]}
    by_text = {t: b for t, b in by_text.items() if b is not None}
    fast = hf_json._merges_at_once(pairs, by_text)
    assert fast is not None
    assert fast == hf_json._merges_checked(tmp_path, pairs, dict(by_text), {}, {}, [])
    del by_text[pairs[-1][0] + pairs[-1][1]]  # the last merge's result, gone
    assert hf_json._merges_at_once(pairs, by_text) is None
    vocab = doc["model"]["vocab"]
    chars = hf_json._bytelevel.byte_to_char()
    odd = next(f"{a} {b}" for a in chars for b in chars if a + b not in vocab)
    doc["model"]["merges"][-1] = odd  # (as its own spelling: "a b" or ["a", "b"])
    if isinstance(doc["model"]["merges"][0], list):
        doc["model"]["merges"][-1] = odd.split(" ")
    with pytest.raises(TokenizerFormatError, match=r"model\.merges\[\d+\]: the merged token"):
        lf.Tokenizer.from_str(json.dumps(doc))
