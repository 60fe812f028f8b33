"""Byte-level BPE ``tokenizer.json`` files with a normalizer (NFC, NFD, NFKC, NFKD,
Lowercase, Strip, a Sequence of them) and/or ByteLevel's ``add_prefix_space`` (alone, and
after a Split, where HF puts the space before every pre-token): ids, tokens, offsets into
the original text, word ids, decode, batches truncated and padded, added tokens normalized
and not, as HF ``tokenizers`` gives them on adversarial text; the files lexforge saves load
in HF with the same ids; normalizers lexforge does not apply are refused by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import lexforge as lf
from lexforge import _bytelevel
from lexforge.errors import TokenizerFormatError

hf = pytest.importorskip("tokenizers")
np = pytest.importorskip("numpy")

from test_added_tokens import _mixed, assert_saved_alike  # noqa: E402
from test_wordpiece import assert_same  # noqa: E402

AddedToken = hf.AddedToken
N = hf.normalizers

# precomposed and decomposed letters, ligatures, full-width forms, Hangul both ways,
# capitals whose lower case is longer ('İ') or contextual ('Σ'), emoji, CJK, white space
TEXTS = [
    "", " ", "  ", "\n\n", "école École ÉCOLE e\u0301cole E\u0301COLE",
    "ﬁne ﬁ ﬃ ﬂour", "ＡＢＣ１２３ ｶﾀｶﾅ", "한국어 \u1112\u1161\u11ab\u1100\u1173\u11af",
    "İstanbul İ i\u0307 ı", "ß Straße STRASSE ẞ", "ΣΑΣ ΟΔΥΣΣΕΥΣ", "ǅ ǆ Ǆ ﬅ",
    "😀 👍🏽 👨\u200d👩\u200d👧 ❤\ufe0f", "東京 中文字 ｢全角｣", "  leading and trailing  ",
    "\u3000full\u3000width\u3000", "x\u0301\u0323\u0302 q\u0323\u0301", "Å \u212b A\u030a Ω",
    "<s>ÉCOLE<s> école", "a <mask> b <mask>", "ÉCOLE ﬁne Straße straße İx İX", "x\u00a0y\u2000z",
    "Hello, World! It's 2024.", "\t tab\ttab \r\n", "e\u0301\u0301\u0301", "\u0301start",
]  # fmt: skip
PARTS = ["É", "e\u0301", "cole", "ﬁ", "ne", "Ａ", "한", "\u1112\u1161", "İ", "x", "ß", "Σ",
         "😀", "東", " ", "  ", "\u3000", "<s>", "<mask>", "ÉCOLE", "Straße", "\u0301", "ǅ",
         "\n", "a", "İx"]  # fmt: skip
ADDED = ["ÉCOLE", AddedToken("ﬁne", normalized=True), AddedToken("Straße", normalized=False),
         "İx", AddedToken("ǅ", normalized=False)]  # fmt: skip
SPECIAL = ["<s>", AddedToken("<mask>", lstrip=True, special=True)]


def _their_token(ours: lf.BpeTokenizer, theirs: Any, tid: int) -> bytes | None:
    """HF's token as lexforge gives its bytes: an added token's text (a normalized one's
    normalized form: HF's), else the bytes of its byte-level spelling."""
    token = theirs.id_to_token(tid)
    if tid in {**ours.special_tokens, **ours.added_tokens}.values() and (
        ours.vocab().get(_bytelevel.decode(token) or b"") != tid
    ):
        return str(token).encode()
    return _bytelevel.decode(token)


def assert_like_hf(ours: lf.BpeTokenizer, theirs: Any, texts: list[str]) -> None:
    """Every field of every text, one by one, and decode both ways."""
    for text in texts:
        want = theirs.encode(text)
        got = ours.encode_batch(
            [text], return_tensors="np", return_offsets=True, return_word_ids=True,
            return_special_tokens_mask=True, allowed_special="all",
        )  # fmt: skip
        ids = got["input_ids"][0].tolist()
        assert ids == want.ids, text
        assert ours.encode(text, allowed_special="all") == want.ids, text
        assert [tuple(o) for o in got["offsets"][0].tolist()] == want.offsets, text
        assert got["word_ids"][0].tolist() == [-1 if w is None else w for w in want.word_ids], text
        assert got["special_tokens_mask"][0].tolist() == want.special_tokens_mask, text
        tokens = [ours.id_to_token(i) for i in ids]
        assert tokens == [_their_token(ours, theirs, i) for i in ids], text
        for skip in (True, False):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(
                want.ids, skip_special_tokens=skip
            ), (text, skip)


@pytest.fixture(scope="module")
def trained() -> str:
    """A small byte-level BPE trained by HF on the texts, as JSON (no normalizer)."""
    corpus = [*TEXTS, *_mixed(PARTS, 400, 11)] * 3
    trainer = hf.trainers.BpeTrainer(
        vocab_size=500, show_progress=False, initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet()
    )
    tok = hf.Tokenizer(hf.models.BPE())
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = hf.decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainer=trainer)
    return str(tok.to_str())


def _build(trained: str, normalizer: Any, prefix: bool, split: bool, trim: bool) -> Any:
    tok = hf.Tokenizer.from_str(trained)
    if normalizer is not None:
        tok.normalizer = normalizer
    if split:
        regex = hf.Regex(r"\p{L}+|\p{N}+|[^\s\p{L}\p{N}]+|\s+")
        tok.pre_tokenizer = hf.pre_tokenizers.Sequence([
            hf.pre_tokenizers.Split(regex, "isolated"),
            hf.pre_tokenizers.ByteLevel(add_prefix_space=prefix, use_regex=False),
        ])  # fmt: skip
    else:
        tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=prefix)
    if trim:
        tok.post_processor = hf.processors.ByteLevel(trim_offsets=True, add_prefix_space=prefix)
    tok.add_tokens(ADDED)
    tok.add_special_tokens(SPECIAL)
    return tok


CASES = {
    "nfc": (N.NFC(), False, False, False),
    "nfd": (N.NFD(), False, False, True),
    "nfkc": (N.NFKC(), False, False, False),
    "nfkd": (N.NFKD(), False, False, False),
    "lowercase": (N.Lowercase(), False, False, True),
    "strip": (N.Strip(), False, False, False),
    "strip-left": (N.Strip(left=True, right=False), False, False, False),
    "nfkc-lowercase": (N.Sequence([N.NFKC(), N.Lowercase()]), False, False, True),
    "nfd-lowercase-nfc": (N.Sequence([N.NFD(), N.Lowercase(), N.NFC()]), False, False, False),
    "nfd-stripaccents": (N.Sequence([N.NFD(), N.StripAccents()]), False, False, True),
    "prefix": (None, True, False, False),
    "prefix-trim": (None, True, False, True),
    "nfc-prefix-trim": (N.NFC(), True, False, True),
    "split-prefix": (None, True, True, False),
    "split-lowercase-prefix-trim": (N.Lowercase(), True, True, True),
    "split-nfkc": (N.NFKC(), False, True, False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_hf(case: str, trained: str, tmp_path: Path) -> None:
    theirs = _build(trained, *CASES[case])
    theirs.save(str(tmp_path / "tokenizer.json"))
    ours = lf.Tokenizer.from_file(tmp_path / "tokenizer.json")
    assert isinstance(ours, lf.BpeTokenizer)
    texts = TEXTS + _mixed(PARTS, 150, 7)
    assert_like_hf(ours, theirs, texts)
    assert_saved_alike(ours, theirs, texts, tmp_path)
    flat, cu = ours.encode_batch_flat(texts, allowed_special="all")
    assert [flat[cu[i] : cu[i + 1]].tolist() for i in range(len(texts))] == [
        e.ids for e in theirs.encode_batch(texts)
    ]


@pytest.mark.parametrize("case", ["nfkc-lowercase", "split-lowercase-prefix-trim", "prefix-trim"])
def test_batches_match_hf(case: str, trained: str, tmp_path: Path) -> None:
    theirs = _build(trained, *CASES[case])
    theirs.save(str(tmp_path / "tokenizer.json"))
    ours = lf.Tokenizer.from_file(tmp_path / "tokenizer.json")
    texts = TEXTS + _mixed(PARTS, 60, 8)
    kw = {"allowed_special": "all", "pad_token_id": 0}  # HF pads with id 0 by default
    assert_same(ours, theirs, texts, None, padding=True, **kw)
    assert_same(ours, theirs, texts, texts[::-1], padding=True, **kw)
    assert_same(ours, theirs, texts, texts[::-1], max_length=9, truncation=True,
                padding="max_length", **kw)  # fmt: skip
    assert_same(ours, theirs, texts, None, max_length=5, truncation=True, padding=True,
                stride=2, return_overflowing_tokens=True, **kw)  # fmt: skip


def test_gpt2_with_nfc_and_prefix_space(gpt2_files: dict[str, Path], tmp_path: Path) -> None:
    """GPT-2's own vocabulary under Qwen2's NFC, with RoBERTa's add_prefix_space."""
    bpe = hf.models.BPE.from_file(str(gpt2_files["encoder.json"]), str(gpt2_files["vocab.bpe"]))
    theirs = hf.Tokenizer(bpe)
    theirs.normalizer = N.NFC()
    theirs.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=True)
    theirs.decoder = hf.decoders.ByteLevel()
    theirs.post_processor = hf.processors.ByteLevel(trim_offsets=True, add_prefix_space=True)
    theirs.add_tokens(ADDED)
    theirs.add_special_tokens(SPECIAL)
    ours = lf.Tokenizer.from_file(_saved(theirs, tmp_path))
    texts = TEXTS + _mixed(PARTS, 100, 9)
    assert_like_hf(ours, theirs, texts)
    assert_saved_alike(ours, theirs, texts, tmp_path)
    # a copy with a template keeps the normalizer and the prefix space
    framed = ours.with_template("<s>", "<s>")
    assert framed.encode("e\u0301cole", add_special_tokens=False) == ours.encode("e\u0301cole")


def test_what_is_written(trained: str, tmp_path: Path) -> None:
    theirs = _build(trained, N.Sequence([N.NFKC(), N.Strip(left=False, right=True)]), True,
                    True, False)  # fmt: skip
    ours = lf.Tokenizer.from_file(_saved(theirs, tmp_path))
    ours.save(tmp_path / "ours.json")
    doc = json.loads((tmp_path / "ours.json").read_text(encoding="utf-8"))
    assert doc["normalizer"] == {
        "type": "Sequence",
        "normalizers": [
            {"type": "NFKC"},
            {"type": "Strip", "strip_left": False, "strip_right": True},
        ],
    }
    assert doc["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] is True


def _saved(theirs: Any, tmp_path: Path) -> Path:
    path = tmp_path / "theirs.json"
    theirs.save(str(path))
    return path


@pytest.mark.parametrize(
    ("normalizer", "name"),
    [
        ({"type": "Replace", "pattern": {"String": "a"}, "content": "b"}, "'Replace'"),
        ({"type": "Prepend", "prepend": "▁"}, "'Prepend'"),
        ({"type": "Precompiled", "precompiled_charsmap": ""}, "'Precompiled'"),
        ({"type": "BertNormalizer", "clean_text": True}, "'BertNormalizer'"),
        ({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Replace"}]},
         r"normalizer\.normalizers\[1\]: 'Replace'"),
        ({"type": "Strip", "strip_left": "yes", "strip_right": True}, "strip_left"),
    ],
)  # fmt: skip
def test_other_normalizers_are_refused(
    trained: str, tmp_path: Path, normalizer: dict[str, Any], name: str
) -> None:
    doc = json.loads(trained)
    doc["normalizer"] = normalizer
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=name):
        lf.Tokenizer.from_file(path)


def test_without_a_normalizer_nothing_changes(trained: str, tmp_path: Path) -> None:
    """The plain file keeps the plain path: no normalizer written, none applied."""
    ours = lf.Tokenizer.from_file(_saved(hf.Tokenizer.from_str(trained), tmp_path))
    assert isinstance(ours, lf.BpeTokenizer)
    assert ours._core.normalizer == [] and ours._core.add_prefix_space == ""
    assert ours.decode(ours.encode("e\u0301 ＡＢ")) == "e\u0301 ＡＢ"
    ours.save(tmp_path / "ours.json")
    assert json.loads((tmp_path / "ours.json").read_text(encoding="utf-8"))["normalizer"] is None
