"""``tokenizer.json`` files that HF ``tokenizers`` reads in ways lexforge once did not follow:
added-token ids HF renumbers, decoders, ``"normalized": true`` special tokens, damaged
fields, special tokens that merges make, template shapes, non-byte-level BPE and byte-level
decoding of special tokens. HF ``tokenizers`` is the oracle: each file
either loads and encodes and decodes as in HF, or is refused with a typed error naming the
difference."""

from __future__ import annotations

import copy
import json
import random
import re
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
        assert ours.decode(ids) == again.decode(ids) == theirs.decode(ids), text
        for skip in (True, False):
            want = theirs.decode(ids, skip_special_tokens=skip)
            assert ours.decode(ids, skip_special_tokens=skip) == want, (text, skip)
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


def test_normalized_special_tokens_match_as_in_hf(wp_doc: dict[str, Any], tmp_path: Path) -> None:
    """A special token marked ``"normalized": true`` is found by its normalized form in the
    normalized text, after the tokens that are not normalized, as HF finds it: "<a\tb>"
    in "x <a b> y" under clean_text, "<中>" as "< 中 >" under CJK spacing, "<ab>" in the
    text between a token it overlaps ("b>c", found first); a save keeps the flag."""
    doc = copy.deepcopy(wp_doc)
    doc["normalizer"] = {"type": "BertNormalizer", "clean_text": True,
                         "handle_chinese_chars": True, "strip_accents": False,
                         "lowercase": False}  # fmt: skip
    n = len(doc["model"]["vocab"])
    rng = random.Random(0)
    parts = ["<ab>", "<a", "b>", "c", "[SEP]", "[MASK", "]", "中", "<中>", " ", "\t", "x",
             "<", "ab", "<a\tb>", "<a b>"]  # fmt: skip
    texts = [*TEXTS, *("".join(rng.choices(parts, k=rng.randint(1, 8))) for _ in range(300))]
    for tokens in (["<a\tb>"], ["<中>"], ["中"], ["<ab>", "b>c"]):
        doc["added_tokens"] = doc["added_tokens"][:5] + [
            _special(n + k, t, normalized=k == 0) for k, t in enumerate(tokens)
        ]
        path = _write(doc, tmp_path / "tokenizer.json")
        theirs = hf.Tokenizer.from_file(str(path))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ours = lf.Tokenizer.from_file(path)
        ours.save(tmp_path / "again.json")
        again = hf.Tokenizer.from_file(str(tmp_path / "again.json"))
        for text in texts:
            assert ours.encode(text) == theirs.encode(text).ids == again.encode(text).ids, text
    assert theirs.encode("<ab>c").ids[-2] == n + 1  # "b>c" first, as not normalized


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
        for skip in (True, False):
            got = ours.decode(want, skip_special_tokens=skip)
            assert got == theirs.decode(want, skip_special_tokens=skip)
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


# --- template shapes ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["wp", "bpe"])
@pytest.mark.parametrize(
    ("single", "pair", "named"),
    [
        ("{c} $A {s}", "{c} $B:1 {s}:1 $A {s}", "pair: '{c} $B:1 {s}:1 $A {s}' must hold $A then"),
        ("{c} $A {s} $A {s}", "{c} $A {s} $B:1 {s}:1", "single: '{c} $A {s} $A {s}' must hold"),
        ("{c} {s}", "{c} $A {s} $B:1 {s}:1", "single: '{c} {s}' must hold $A once"),
        ("{c} $A {s} $B {s}", "{c} $A {s} $B:1 {s}:1", "single: '{c} $A {s} $B {s}' must hold"),
    ],
)  # fmt: skip
def test_templates_placing_their_texts_otherwise_are_refused(
    kind: str, single: str, pair: str, named: str,
    wp_doc: dict[str, Any], bpe_doc: dict[str, Any], tmp_path: Path,
) -> None:  # fmt: skip
    """HF loads templates whose texts are not $A (then $B) once each, and truncates them
    into other overflow windows than lexforge would ($B first: the pair's windows come in
    another order; $A twice: each window holds it twice): both readers refuse them alike."""
    doc = _docs(kind, wp_doc, bpe_doc)
    cls, sep = ("[CLS]", "[SEP]") if kind == "wp" else ("<s>", "</s>")
    ids = {t["content"]: t["id"] for t in doc["added_tokens"]}
    tok = hf.Tokenizer.from_str(json.dumps(doc))
    tok.post_processor = hf.processors.TemplateProcessing(
        single=single.format(c=cls, s=sep), pair=pair.format(c=cls, s=sep),
        special_tokens=[(cls, ids[cls]), (sep, ids[sep])],
    )  # fmt: skip
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    hf.Tokenizer.from_file(str(path))  # HF loads it
    message = re.escape(f"post_processor.{named.format(c=cls, s=sep)}")
    with pytest.raises(TokenizerFormatError, match=f"{message}.*write the template that way"):
        lf.Tokenizer.from_file(path)


# --- BPE files that are not byte-level ------------------------------------------------------


@pytest.mark.parametrize("flavour", ["end_of_word_suffix", "byte_fallback"])
def test_a_bpe_that_is_not_byte_level_is_named_as_such(
    flavour: str, lines: list[str], tmp_path: Path
) -> None:
    """Word-level BPE (Whitespace, "</w>") and SentencePiece-style BPE (Metaspace,
    byte_fallback) are not byte-level: the error says so first, not "remove unk_token"."""
    if flavour == "end_of_word_suffix":
        tok = hf.Tokenizer(hf.models.BPE(unk_token="<unk>", end_of_word_suffix="</w>"))
        tok.pre_tokenizer = hf.pre_tokenizers.Whitespace()
        trainer = hf.trainers.BpeTrainer(
            vocab_size=400, special_tokens=["<unk>"], end_of_word_suffix="</w>",
            show_progress=False,
        )  # fmt: skip
    else:
        tok = hf.Tokenizer(hf.models.BPE(unk_token="<unk>", byte_fallback=True))
        tok.pre_tokenizer = hf.pre_tokenizers.Metaspace()
        trainer = hf.trainers.BpeTrainer(
            vocab_size=400, special_tokens=["<unk>"], show_progress=False
        )
    tok.train_from_iterator(lines[:500], trainer)
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    pre = "Whitespace" if flavour == "end_of_word_suffix" else "Metaspace"
    with pytest.raises(
        TokenizerFormatError,
        match=rf"pre_tokenizer: {pre} holds no ByteLevel pre-tokenizer, so this BPE "
        rf"tokenizer\.json is not byte-level BPE \(its model also has {flavour}.*use HF",
    ):
        lf.Tokenizer.from_file(path)


def test_a_byte_level_bpe_missing_byte_tokens_warns_at_load_and_never_drops_text(
    tmp_path: Path,
) -> None:
    """HF's BpeTrainer without ``initial_alphabet`` makes a byte-level vocabulary holding
    only the corpus's bytes; HF then drops the other bytes silently. lexforge warns when
    the file loads, gives HF's ids where every byte has a token, and raises a typed error
    naming the byte and the fix where one has none, rather than lose the text."""
    tok = hf.Tokenizer(hf.models.BPE())
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = hf.decoders.ByteLevel()
    trainer = hf.trainers.BpeTrainer(vocab_size=60, show_progress=False)
    tok.train_from_iterator(["hello world, the quick brown fox"] * 20, trainer)
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    absent = [b for b in range(256) if tok.token_to_id(_bytelevel_char(b)) is None]
    with pytest.warns(UserWarning, match=rf"{len(absent)} of the 256 bytes have no token"):
        ours = lf.Tokenizer.from_file(path)
    for text in ["hello world", "the quick brown fox, hello"]:
        assert ours.encode(text) == tok.encode(text).ids
    fix = r"initial_alphabet=pre_tokenizers\.ByteLevel\.alphabet\(\)"
    for text, byte in [("hello cafe", "'a'"), ("hi \U0001f600", "0xF0")]:
        with pytest.raises(lf.errors.EncodingError, match=rf"the byte {byte} has no token.*{fix}"):
            ours.encode(text)
        assert len(tok.encode(text).ids) < len(text.encode())  # (HF drops what it lacks)


def test_a_special_token_spelled_as_a_bytes_character_keeps_that_byte_encodable(
    tmp_path: Path,
) -> None:
    """HF gives a special token spelled as one byte's byte-level character ("é" is byte
    0xE9's, "Ġ" the space's) that byte's id: matched as text, and still made from the byte
    where it is part of other text ("递" is E9 80 92). lexforge encodes, decodes (skipping
    special tokens or not) and saves such a file as HF does."""
    tok = hf.Tokenizer(hf.models.BPE())
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = hf.decoders.ByteLevel()
    alphabet = hf.pre_tokenizers.ByteLevel.alphabet()
    trainer = hf.trainers.BpeTrainer(vocab_size=300, initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(["hello world, the quick brown fox (twice)"] * 20, trainer)
    tok.add_special_tokens(["é", ")", "Ġ"])
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every byte has its token: no warning
        ours = lf.Tokenizer.from_file(path)
    ours.save(tmp_path / "back.json")
    back = hf.Tokenizer.from_file(str(tmp_path / "back.json"))
    for text in ["\u9012", "x\u9012y", "café", "é", "a)b (c)", "a b", "aĠb", "é\u9012é"]:
        ids = tok.encode(text).ids
        assert ours.encode(text, allowed_special="all") == ids, text
        assert back.encode(text).ids == ids, text
        for skip in (True, False):
            want = tok.decode(ids, skip_special_tokens=skip)
            assert ours.decode(ids, skip_special_tokens=skip) == want, (text, skip)


def _bytelevel_char(b: int) -> str:
    """The byte-level alphabet's character for byte ``b`` (GPT-2's table)."""
    visible = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    if b in visible:
        return chr(b)
    return chr(256 + sum(1 for x in range(b) if x not in visible))


# --- byte-level BPE: decoding special tokens --------------------------------------------------


def test_bpe_decode_skips_special_tokens_and_reads_kept_ones_as_hf(
    bpe_doc: dict[str, Any], tmp_path: Path
) -> None:
    """HF's decode leaves special tokens out by default (as lexforge's WordPiece does); kept,
    its ByteLevel decoder reads a special token made of byte-level characters as the bytes
    they stand for ("<Ġx>" is "< x>", the "é" of "<café>" a lone byte, so U+FFFD), others
    as their UTF-8 text. Lists and arrays alike; also without a decoder."""
    np = pytest.importorskip("numpy")
    tok = hf.Tokenizer.from_str(json.dumps(bpe_doc))
    tok.add_special_tokens(["<café>", "<Ġx>", "日本", "<|im_start|>", "é"])
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    plain = json.loads(path.read_text(encoding="utf-8"))
    plain["decoder"] = None
    for file in (path, _write(plain, tmp_path / "plain.json")):
        theirs, ours = hf.Tokenizer.from_file(str(file)), lf.Tokenizer.from_file(file)
        specials = list(ours.special_tokens.values())
        texts = [*TEXTS, "a <café> b", "<Ġx>y", "日本語", "<|im_start|>user", "é<café>é"]
        rng = random.Random(0)
        runs = [theirs.encode(t).ids for t in texts] + [
            [rng.choice(specials) if rng.random() < 0.4 else rng.randrange(ours.vocab_size)
             for _ in range(rng.randint(0, 12))] for _ in range(300)
        ]  # fmt: skip
        for ids in runs:
            want = theirs.decode(ids)
            assert ours.decode(ids) == ours.decode(np.array(ids, np.int64)) == want, ids
            kept = theirs.decode(ids, skip_special_tokens=False)
            assert ours.decode(ids, skip_special_tokens=False) == kept, ids
            assert ours.decode(np.array(ids, np.int64), skip_special_tokens=False) == kept, ids
        assert ours.decode_batch(runs[:5], skip_special_tokens=False) == theirs.decode_batch(
            runs[:5], skip_special_tokens=False
        )
    assert ours.decode(theirs.encode("<Ġx>").ids, skip_special_tokens=False) == "<Ġx>"  # joined


# --- post-processor sequences with several offset steps -----------------------------------


def _level(trim: bool) -> dict[str, Any]:
    return {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": trim,
            "use_regex": False}  # fmt: skip


def _roberta(doc: dict[str, Any], trim: bool) -> dict[str, Any]:
    ids = {t["content"]: t["id"] for t in doc["added_tokens"]}
    return {"type": "RobertaProcessing", "sep": ["</s>", ids["</s>"]],
            "cls": ["<s>", ids["<s>"]], "trim_offsets": trim, "add_prefix_space": True}  # fmt: skip


@pytest.mark.parametrize("first", ["level", "roberta"])
@pytest.mark.parametrize(
    ("trim_first", "trim_second"), [(True, False), (False, True), (False, False)]
)
def test_a_sequence_trimming_offsets_in_one_step_gives_hfs_offsets(
    bpe_doc: dict[str, Any], tmp_path: Path, first: str, trim_first: bool, trim_second: bool
) -> None:
    """HF applies each step of a post-processor Sequence in turn: one that does not trim
    leaves the offsets as the other made them (lexforge took the last step's settings)."""
    doc = copy.deepcopy(bpe_doc)
    steps = [_level(trim_first), _roberta(doc, trim_second)]
    if first == "roberta":
        steps = [_roberta(doc, trim_first), _level(trim_second)]
    doc["post_processor"] = {"type": "Sequence", "processors": steps}
    path = _write(doc, tmp_path / "tokenizer.json")
    ours, theirs = lf.Tokenizer.from_file(path), hf.Tokenizer.from_file(str(path))
    for text in TEXTS:
        got = ours.encode_batch(
            [text], return_offsets=True, return_tensors="np", allowed_special="all"
        )
        want = theirs.encode(text)
        assert got["input_ids"][0].tolist() == want.ids, text
        assert [tuple(o) for o in got["offsets"][0].tolist()] == want.offsets, text


def test_a_sequence_trimming_offsets_twice_is_refused(
    bpe_doc: dict[str, Any], tmp_path: Path
) -> None:
    doc = copy.deepcopy(bpe_doc)
    doc["post_processor"] = {"type": "Sequence", "processors": [_level(True), _roberta(doc, True)]}
    with pytest.raises(TokenizerFormatError, match=r"processors\[1\]: trims offsets again"):
        lf.Tokenizer.from_file(_write(doc, tmp_path / "tokenizer.json"))
    # (what it stands for: HF trims a second time)
    path = _write(doc, tmp_path / "tokenizer.json")
    once = copy.deepcopy(doc)
    once["post_processor"]["processors"][1]["trim_offsets"] = False
    twice_hf = hf.Tokenizer.from_file(str(path))
    once_hf = hf.Tokenizer.from_file(str(_write(once, tmp_path / "once.json")))
    assert any(twice_hf.encode(t).offsets != once_hf.encode(t).offsets for t in TEXTS)
