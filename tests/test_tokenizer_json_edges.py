"""``tokenizer.json`` files that HF ``tokenizers`` reads in ways lexforge once did not follow:
added-token ids HF renumbers, decoders, ``"normalized": true`` special tokens, damaged
fields, and special tokens that merges make. HF ``tokenizers`` is the oracle: each file
either loads and encodes and decodes as in HF, or is refused with a typed error naming the
difference."""

from __future__ import annotations

import copy
import json
import random
import warnings
from pathlib import Path
from typing import Any

import pytest

import lexforge as lf
from lexforge.errors import TokenizerFormatError

hf = pytest.importorskip("tokenizers")

TEXTS = [
    "Hello world, don't stop",
    "information about the nation's formation",
    "  spaces\tand\nlines  ",
    "Ünïcödé Straße 中文 😀",
    "<a> <b> x<a>y [CLS] <s>",
    "",
]


@pytest.fixture(scope="module")
def lines(wiki_text: str) -> list[str]:
    return wiki_text.split("\n")[:3000]


@pytest.fixture(scope="module")
def wp_doc(lines: list[str]) -> dict[str, Any]:
    """A WordPiece tokenizer.json as HF trains and saves one (BERT's pipeline)."""
    tok = hf.Tokenizer(hf.models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = hf.normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = hf.pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = hf.trainers.WordPieceTrainer(
        vocab_size=1500, special_tokens=specials, show_progress=False
    )
    tok.train_from_iterator(lines, trainer)
    tok.post_processor = hf.processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )  # fmt: skip
    tok.decoder = hf.decoders.WordPiece()
    return dict(json.loads(tok.to_str()))


@pytest.fixture(scope="module")
def bpe_doc(lines: list[str]) -> dict[str, Any]:
    """A byte-level BPE tokenizer.json as HF trains and saves one."""
    tok = hf.Tokenizer(hf.models.BPE())
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = hf.decoders.ByteLevel()
    trainer = hf.trainers.BpeTrainer(
        vocab_size=1500, special_tokens=["<s>", "<pad>", "</s>"], show_progress=False,
        initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    tok.train_from_iterator(lines, trainer)
    tok.post_processor = hf.processors.ByteLevel(trim_offsets=False)
    return dict(json.loads(tok.to_str()))


def _write(doc: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _special(tid: int, content: str, normalized: bool = False) -> dict[str, Any]:
    return {"id": tid, "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": normalized, "special": True}  # fmt: skip


def _docs(kind: str, wp_doc: dict[str, Any], bpe_doc: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(wp_doc if kind == "wp" else bpe_doc)


# --- added tokens: HF numbers those not in model.vocab itself ------------------------------


@pytest.mark.parametrize("kind", ["wp", "bpe"])
@pytest.mark.parametrize("shape", ["out of order", "a gap", "twice"])
def test_added_token_ids_hf_would_renumber_are_refused(
    kind: str, shape: str, wp_doc: dict[str, Any], bpe_doc: dict[str, Any], tmp_path: Path
) -> None:
    """HF ignores the id of an added token that is not in model.vocab and numbers such
    tokens in file order from the vocabulary's size: a file whose ids say otherwise would
    give other ids in lexforge, so it is refused, naming the id HF gives."""
    doc = _docs(kind, wp_doc, bpe_doc)
    n = len(doc["model"]["vocab"])
    extra = {
        "out of order": [_special(n + 1, "<b>"), _special(n, "<a>")],
        "a gap": [_special(n + 100, "<a>")],
        "twice": [_special(n, "<a>"), _special(n + 1, "<a>")],
    }[shape]
    doc["added_tokens"] += extra
    path = _write(doc, tmp_path / "tokenizer.json")
    theirs = hf.Tokenizer.from_file(str(path))
    # HF renumbers (the first entry it does not give its id)
    want = next(hf_id for e in extra if (hf_id := theirs.token_to_id(e["content"])) != e["id"])
    with pytest.raises(TokenizerFormatError, match=rf"added_tokens\[\d+\]: .* gives it {want};"):
        lf.Tokenizer.from_file(path)
    # listed in HF's order, they load with HF's ids
    doc["added_tokens"][-len(extra) :] = [_special(n, "<a>"), _special(n + 1, "<b>")]
    ours = lf.Tokenizer.from_file(_write(doc, path))
    theirs = hf.Tokenizer.from_file(str(path))
    kw = {"allowed_special": "all"} if kind == "bpe" else {}
    for text in TEXTS:
        assert ours.encode(text, **kw) == theirs.encode(text).ids, text


# --- decoders -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["wp", "bpe"])
@pytest.mark.parametrize("decoder", ["null", "missing", "Sequence of one"])
def test_the_files_decoder_decodes_as_in_hf(
    kind: str, decoder: str, wp_doc: dict[str, Any], bpe_doc: dict[str, Any], tmp_path: Path
) -> None:
    """No decoder: HF joins the tokens with spaces ("h ##el ##lo", "H ell o Ġworld"); a
    Sequence holding one decoder decodes as that one (here WordPiece without cleanup)."""
    doc = _docs(kind, wp_doc, bpe_doc)
    if decoder == "missing":
        del doc["decoder"]
    elif decoder == "null":
        doc["decoder"] = None
    else:
        one = {**doc["decoder"], "cleanup": False} if kind == "wp" else doc["decoder"]
        doc["decoder"] = {"type": "Sequence", "decoders": [one]}
    path = _write(doc, tmp_path / "tokenizer.json")
    theirs = hf.Tokenizer.from_file(str(path))
    ours = lf.Tokenizer.from_file(path)
    ours.save(tmp_path / "again.json")  # and kept on save
    again = lf.Tokenizer.from_file(tmp_path / "again.json")
    for text in TEXTS:
        ids = theirs.encode(text).ids
        want = theirs.decode(ids, skip_special_tokens=kind == "wp")
        assert ours.decode(ids) == again.decode(ids) == want, text
    if kind == "wp" and decoder == "Sequence of one":
        assert "don ' t" in ours.decode(theirs.encode(TEXTS[0]).ids)  # no cleanup


@pytest.mark.parametrize(
    ("kind", "decoder", "message"),
    [
        ("wp", {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always",
                "split": True}, r"decoder: 'Metaspace' is not supported with WordPiece"),
        ("wp", {"type": "BPEDecoder", "suffix": "</w>"}, "'BPEDecoder' is not supported"),
        ("wp", {"type": "Sequence", "decoders": [{"type": "ByteLevel", "add_prefix_space": False,
                "trim_offsets": True, "use_regex": True}]},
         r"decoder\.decoders\[0\]: 'ByteLevel' is not supported with WordPiece"),
        ("wp", {"type": "WordPiece", "prefix": "@@", "cleanup": True},
         r"decoder\.prefix: '@@' differs from the model's continuing_subword_prefix '##'"),
        ("wp", {"type": "Sequence", "decoders": []}, "a Sequence of 0 decoders"),
        ("bpe", {"type": "WordPiece", "prefix": "##", "cleanup": True},
         "'WordPiece' is not supported for byte-level BPE"),
        ("bpe", {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always",
                 "split": True}, "'Metaspace' is not supported for byte-level BPE"),
    ],
)  # fmt: skip
def test_other_decoders_are_refused(
    kind: str, decoder: Any, message: str, wp_doc: Any, bpe_doc: Any, tmp_path: Path
) -> None:
    """HF loads these and decodes otherwise than lexforge would: refused, named."""
    doc = _docs(kind, wp_doc, bpe_doc)
    doc["decoder"] = decoder
    path = _write(doc, tmp_path / "tokenizer.json")
    theirs = hf.Tokenizer.from_file(str(path))
    ids = theirs.encode(TEXTS[0]).ids
    plain = _docs(kind, wp_doc, bpe_doc)
    standard = hf.Tokenizer.from_file(str(_write(plain, tmp_path / "plain.json")))
    assert theirs.decode(ids) != standard.decode(ids)  # the decoder changes the text
    with pytest.raises(TokenizerFormatError, match=message):
        lf.Tokenizer.from_file(path)


# --- "normalized": true special tokens ----------------------------------------------------


def test_a_normalized_special_token_under_a_cleaning_normalizer_is_warned_about(
    wp_doc: dict[str, Any], tmp_path: Path
) -> None:
    """Under BertNormalizer(clean_text, no lowercasing or accent stripping), HF matches
    "<a\\tb>" marked normalized in "x <a b> y" (a tab normalizes to a space); lexforge
    matches it as written, and says so."""
    doc = copy.deepcopy(wp_doc)
    doc["normalizer"] = {"type": "BertNormalizer", "clean_text": True,
                         "handle_chinese_chars": True, "strip_accents": False,
                         "lowercase": False}  # fmt: skip
    n = len(doc["model"]["vocab"])
    doc["added_tokens"] += [_special(n, "<a\tb>", normalized=True)]
    path = _write(doc, tmp_path / "tokenizer.json")
    theirs = hf.Tokenizer.from_file(str(path))
    assert n in theirs.encode("x <a b> y").ids  # HF matches the normalized form
    with pytest.warns(UserWarning, match=r"'<a\\tb>'\) has \"normalized\": true.*'<a b>'"):
        ours = lf.Tokenizer.from_file(path)
    assert n not in ours.encode("x <a b> y")  # the difference warned about
    # CJK spacing changes "<中>" too
    doc["added_tokens"][-1] = _special(n, "<中>", normalized=True)
    doc["normalizer"]["clean_text"] = False
    with pytest.warns(UserWarning, match=r"'<中>'\) has \"normalized\": true.*'< 中 >'"):
        lf.Tokenizer.from_file(_write(doc, path))
    # a token the normalizer leaves alone, nothing else can normalize to: silent
    doc["added_tokens"][-1] = _special(n, "<ab>", normalized=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lf.Tokenizer.from_file(_write(doc, path))


# --- damaged fields -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["model"].update(unk_token=["[UNK]"]), r"model\.unk_token: \['\[UNK\]'\]"),
        (lambda d: d.update(post_processor={"type": "BertProcessing", "sep": ["[SEP]", -1],
                                            "cls": ["[CLS]", 2]}),
         r"post_processor\.sep: must be \[token, id\] with an id in \[0, 2\^32 - 1\)"),
        (lambda d: d.update(post_processor={"type": "BertProcessing", "sep": ["[SEP]", 3],
                                            "cls": ["[CLS]", 2**40]}),
         r"post_processor\.cls: must be \[token, id\]"),
        (lambda d: d.update(model=None), '"model" is null, not an object'),
        (lambda d: d.update(model=[1, 2]), r'"model" is \[1, 2\], not an object'),
        (lambda d: d.update(model="WordPiece"), '"model" is "WordPiece", not an object'),
    ],
)  # fmt: skip
def test_damaged_fields_get_typed_errors(
    wp_doc: dict[str, Any], tmp_path: Path, edit: Any, message: str
) -> None:
    doc = copy.deepcopy(wp_doc)
    edit(doc)
    with pytest.raises(TokenizerFormatError, match=message):
        lf.Tokenizer.from_file(_write(doc, tmp_path / "tokenizer.json"))


# --- special tokens that merges take or make ----------------------------------------------


def _merges(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m)  # type: ignore[misc]
            for m in doc["model"]["merges"]]  # fmt: skip


@pytest.mark.parametrize("role", ["made", "taken"])
def test_a_special_token_merges_make_or_take_encodes_as_in_hf(
    role: str, bpe_doc: dict[str, Any], lines: list[str], tmp_path: Path
) -> None:
    """HF loads a byte-level BPE whose special token is also a merge's result or part
    (matched in the text first, it splits "information" into in / form / ation)."""
    doc = copy.deepcopy(bpe_doc)
    merges = _merges(doc)
    words = [a + b if role == "made" else a for a, b in merges]
    later = len(merges) // 3  # a common piece, made or used well into the list
    word = next(w for w in words[later:] if w.isascii() and w.isalpha() and len(w) >= 3)
    doc["added_tokens"].append(_special(doc["model"]["vocab"][word], word))
    path = _write(doc, tmp_path / "tokenizer.json")
    theirs = hf.Tokenizer.from_file(str(path))
    ours = lf.Tokenizer.from_file(path)
    rng = random.Random(0)
    texts = [*TEXTS, word, word * 2, f"x{word}y {word}s", *rng.sample(lines[2000:], 200)]
    for text in texts:
        want = theirs.encode(text).ids
        assert ours.encode(text, allowed_special="all") == want, text
        assert ours.decode(want) == theirs.decode(want, skip_special_tokens=False)
    ours.save(tmp_path / "again.json")  # saved and read back (by HF too) the same
    again = hf.Tokenizer.from_file(str(tmp_path / "again.json"))
    assert [again.encode(t).ids for t in texts] == [theirs.encode(t).ids for t in texts]


def test_a_special_token_without_text_is_named(bpe_doc: dict[str, Any], tmp_path: Path) -> None:
    doc = copy.deepcopy(bpe_doc)
    doc["added_tokens"][0]["content"] = ""
    with pytest.raises(TokenizerFormatError, match=r"added_tokens\[0\]\.content: is empty"):
        lf.Tokenizer.from_file(_write(doc, tmp_path / "tokenizer.json"))


# --- a template's type ids in overflow windows -----------------------------------------------


def test_a_templates_type_ids_hold_in_every_overflow_window(
    wp_doc: dict[str, Any], tmp_path: Path
) -> None:
    """A template may give a text another type id than its own ("$B:0", as transformers'
    MarkupLM converter writes). The first window equals HF's; HF's later windows fall back
    to the id each text was made with (1 for the second text: HF PRs #1965 and #2110),
    where ours keep the template's in every window (a documented difference)."""
    doc = copy.deepcopy(wp_doc)
    processor = doc["post_processor"]
    processor["pair"] = [
        {"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
        {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 0}},
        {"SpecialToken": {"id": "[SEP]", "type_id": 1}},
    ]  # fmt: skip
    path = _write(doc, tmp_path / "tokenizer.json")
    theirs, ours = hf.Tokenizer.from_file(str(path)), lf.Tokenizer.from_file(path)
    theirs.enable_truncation(8, stride=1, strategy="only_second")
    want = theirs.encode("g h", "a b c d e f")
    got = ours.encode_batch(
        ["g h"], ["a b c d e f"], max_length=8, truncation="only_second", stride=1,
        return_overflowing_tokens=True, return_tensors="np", padding=True,
    )  # fmt: skip
    real = got["attention_mask"].sum(1).tolist()
    rows = [row[:n] for row, n in zip(got["token_type_ids"].tolist(), real, strict=True)]
    assert len(rows) == 1 + len(want.overflowing) >= 3
    assert got["input_ids"][0].tolist()[: real[0]] == want.ids
    assert rows[0] == want.type_ids
    # every window: [CLS] A [SEP] B as type 0, the last [SEP] as type 1, as the template says
    assert all(row == [0] * (len(row) - 1) + [1] for row in rows)
    assert [o.type_ids for o in want.overflowing][-1] != rows[-1]  # HF's fallback, pinned
