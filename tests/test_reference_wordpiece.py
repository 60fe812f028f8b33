"""The pure-Python BERT pipeline (lexforge.reference.wordpiece) against HF ``tokenizers``.

HF is the oracle here: every normalized string, alignment, word span and encoding must be
identical, on random text (hypothesis), on every assigned code point, on real corpora
(wiki-leads, peoples-daily) and with the real bert-base-uncased/bert-base-chinese vocabs.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lexforge import datasets
from lexforge.reference.wordpiece import (
    ReferenceBert,
    Span,
    bert_normalize,
    bert_pre_tokenize,
    load_vocab_txt,
    wordpiece,
)

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import normalizers, pre_tokenizers, processors  # noqa: E402

# --- HF side ------------------------------------------------------------------------------

CONFIGS: dict[str, dict[str, Any]] = {
    "uncased": {},  # bert-base-uncased: clean, CJK, lowercase, strip accents
    "cased": {"lowercase": False, "strip_accents": False},
    "lowercase-only": {"lowercase": True, "strip_accents": False},
    "strip-only": {"lowercase": False, "strip_accents": True},
    "bare": {
        "clean_text": False,
        "handle_chinese_chars": False,
        "lowercase": False,
        "strip_accents": False,
    },
}


def hf_normalizer(options: Mapping[str, Any]) -> Any:
    return normalizers.BertNormalizer(**options)


def hf_normalize(normalizer: Any, text: str) -> tuple[str, list[Span]]:
    """HF's normalized string and, per normalized character, its original span: split the
    normalized string into single characters and ask for their offsets in the original."""
    pre = tokenizers.PreTokenizedString(text)
    pre.normalize(lambda ns: normalizer.normalize(ns))
    pre.split(lambda _, ns: [ns[i : i + 1] for i in range(len(ns.normalized))])
    splits = pre.get_splits(offset_referential="original", offset_type="char")
    return "".join(s for s, _, _ in splits), [span for _, span, _ in splits]


def hf_pre_tokenize(normalized: str) -> list[Span]:
    return [span for _, span in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(normalized)]


def hf_tokenizer(vocab: Mapping[str, int], options: Mapping[str, Any], **model: Any) -> Any:
    tok = tokenizers.Tokenizer(tokenizers.models.WordPiece(dict(vocab), **model))
    tok.normalizer = hf_normalizer(options)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tok


def hf_fields(e: Any) -> dict[str, Any]:
    """An HF ``Encoding`` as the dictionary ``ReferenceBert.encode`` returns."""
    return {
        "input_ids": e.ids,
        "token_type_ids": e.type_ids,
        "attention_mask": e.attention_mask,
        "special_tokens_mask": e.special_tokens_mask,
        "offsets": e.offsets,
        "word_ids": e.word_ids,
    }


# --- vocabularies and tokenizer pairs -----------------------------------------------------

TINY_VOCAB_TOKENS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "a",
    "b",
    "ab",
    "abc",
    "##a",
    "##b",
    "##c",
    "##bc",
    "un",
    "##able",
    "##ing",
    "run",
    "##n",
    "!",
    ".",
    "中",
    "##中",
    "é",
    "##é",
    "i",
    "##̇",
    "σ",
    "σς",
    "##ς",
]
TINY_VOCAB = {t: i for i, t in enumerate(TINY_VOCAB_TOKENS)}


@pytest.fixture(scope="module")
def vocabs() -> dict[str, dict[str, int]]:
    return {
        "uncased": load_vocab_txt(datasets.files("bert-base-uncased")["vocab.txt"]),
        "chinese": load_vocab_txt(datasets.files("bert-base-chinese")["vocab.txt"]),
        "tiny": TINY_VOCAB,
    }


MODELS = [  # (name, vocab, normalizer config)
    ("uncased-vocab/uncased", "uncased", "uncased"),
    ("chinese-vocab/uncased", "chinese", "uncased"),
    ("chinese-vocab/cased", "chinese", "cased"),
    ("tiny-vocab/uncased", "tiny", "uncased"),
    ("tiny-vocab/cased", "tiny", "cased"),
    ("tiny-vocab/lowercase-only", "tiny", "lowercase-only"),
]


@pytest.fixture(scope="module")
def models(vocabs: dict[str, dict[str, int]]) -> dict[str, tuple[ReferenceBert, Any]]:
    out = {}
    for name, vocab_name, config in MODELS:
        vocab, options = vocabs[vocab_name], CONFIGS[config]
        out[name] = (ReferenceBert(vocab, **options), hf_tokenizer(vocab, options))
    return out


def assert_same_encoding(model: tuple[ReferenceBert, Any], text: str, pair: str | None) -> None:
    ours, hf = model
    for add_special_tokens in (True, False):
        expected = hf_fields(hf.encode(text, pair, add_special_tokens=add_special_tokens))
        got = ours.encode(text, pair, add_special_tokens=add_special_tokens)
        assert got == expected, (text, pair, add_special_tokens)


# --- random text --------------------------------------------------------------------------

PIECES = [
    *"abcxyzABCXYZ0189",
    *"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    # whitespace: Unicode White_Space, and U+001C..U+001F which str.isspace also accepts
    *" \t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u2003\u200a\u2028\u2029\u202f\u205f\u3000\x1c\x1f",
    # control and format characters, the replacement character, soft hyphen
    *"\x00\x07\x1b\x7f\u200b\u200c\u200d\u200e\u2060\u202e\ufeff\ufffd\xad\U000e0001\ue000",
    # accents, precomposed and decomposed; marks that reorder (ccc 220 vs 230, Mc with ccc)
    *"éèêëÉÀçñøåßÅ",
    "e\u0301",
    "E\u0300",
    "a\u0301\u0316",
    "\u0301",
    "\u05b0",
    "\u302e",
    "\U0001d15f",
    "\U0001d16d",
    "\u0345",
    "ấ",
    "Tiếng Việt",
    # lowercase that expands or depends on context, odd case mappings
    *"İΣσςΑΩάΐẞǅǄﬁKΩÅ",
    "ΟΔΟΣ",
    # Greek, Cyrillic, Arabic, Hebrew, Thai, Devanagari
    *"αβγабвЖЯё",
    "مرحبا",
    "שָׁלוֹם",
    "ภาษาไทย",
    "हिन्दी",
    # CJK ideographs (incl. extensions and compatibility), CJK and fullwidth punctuation
    *"中文字国人的一是不了\u3400\u4dbf\u9fff\uf900\ufad9\U00020000\U0002a6df\U0002f800",
    *"。，！？、「」《》：；（）〜・ＡＢ１２！",
    # Hangul (NFD splits syllables into jamo), kana
    "한국어",
    *"가힣가あいうカタカナー",
    # emoji, with skin tones, variation selectors, ZWJ sequences, flags
    *"😀👍❤",
    "👍🏽",
    "❤️",
    "👨\u200d👩\u200d👧\u200d👦",
    "🇫🇷",
    # characters HF's Unicode 8.0/9.0 tables do not know, or classify differently
    *"\u2e43\u2e52\u061d\u166d\u1734\u08d4\u0890\u1dfb\U000111c9\U00011938\U0001e000",
    # words with known pieces
    " the ",
    " running ",
    " unable ",
    "banana",
    " [UNK] ",
    "##",
]
LONG_WORDS = st.builds(
    lambda piece, n: piece * n,
    st.sampled_from(["a", "é", "ab", "x\u0301", "İ", "中"]),
    st.integers(min_value=48, max_value=110),
)
# The module's tables describe HF against Unicode 14.0 (Python 3.11); on a newer database
# draw only from PIECES, since characters added later may be classified differently.
UNICODE_14 = tuple(map(int, unicodedata.unidata_version.split("."))) <= (14, 0, 0)
ASSIGNED = st.characters(exclude_categories=("Cn", "Cs")) if UNICODE_14 else st.nothing()
TEXT = st.lists(st.one_of(st.sampled_from(PIECES), ASSIGNED, LONG_WORDS), max_size=30).map("".join)
CHECKS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_random_alphabet_is_assigned() -> None:
    """Engines may use different Unicode versions: keep unassigned characters out."""
    for piece in PIECES:
        for c in piece:
            assert unicodedata.category(c) not in ("Cn", "Cs"), hex(ord(c))


@pytest.mark.parametrize("config", list(CONFIGS))
@CHECKS
@given(text=TEXT)
def test_normalize_matches_hf(config: str, text: str) -> None:
    expected = hf_normalize(hf_normalizer(CONFIGS[config]), text)
    assert bert_normalize(text, **CONFIGS[config]) == expected


@CHECKS
@given(text=TEXT)
def test_pre_tokenize_matches_hf(text: str) -> None:
    for config in ("uncased", "bare"):
        normalized = hf_normalizer(CONFIGS[config]).normalize_str(text)
        assert bert_pre_tokenize(normalized) == hf_pre_tokenize(normalized)


@pytest.mark.parametrize("name", [m[0] for m in MODELS])
@CHECKS
@given(text=TEXT, pair=st.none() | TEXT)
def test_encode_matches_hf(
    models: dict[str, tuple[ReferenceBert, Any]], name: str, text: str, pair: str | None
) -> None:
    assert_same_encoding(models[name], text, pair)


# --- every code point ---------------------------------------------------------------------


def assigned_code_points() -> list[str]:
    """Every character Python's database assigns (plane 15-16 private use sampled)."""
    return [
        chr(cp)
        for cp in range(0x110000)
        if unicodedata.category(chr(cp)) not in ("Cn", "Cs") and (cp < 0xF0000 or cp % 4096 == 0)
    ]


@pytest.mark.skipif(not UNICODE_14, reason="the module's tables are relative to Unicode 14.0")
@pytest.mark.parametrize("config", ["uncased", "lowercase-only", "strip-only", "bare"])
def test_every_code_point_matches_hf(config: str) -> None:
    """Each character after an "x" (so marks have a base), in chunks: normalized string,
    alignments, and word spans on the normalized string."""
    chars = assigned_code_points()
    normalizer = hf_normalizer(CONFIGS[config])
    for i in range(0, len(chars), 256):  # HF's per-character split is quadratic in length
        text = "".join("x" + c for c in chars[i : i + 256])
        normalized, alignments = bert_normalize(text, **CONFIGS[config])
        expected_normalized, expected_alignments = hf_normalize(normalizer, text)
        assert normalized == expected_normalized
        assert alignments == expected_alignments
        assert bert_pre_tokenize(normalized) == hf_pre_tokenize(normalized)


# --- pinned behaviour ---------------------------------------------------------------------

TRICKY = [
    "",
    " \t\n ",
    "Hello, World!",
    "İstanbul",
    "ΟΔΟΣ ΟΔΟΣ.",  # no final-sigma rule: every Σ lowercases to σ
    "naïve cafe\u0301 ÉCOLE",
    "x\u0301\u302e y\U0001d15f\u05b0\u05b0z",  # marks that move take their new position's span
    "中文abc中",
    "한국어 텍스트",  # uncased: Hangul syllables become jamo
    "a\x00b\x07c\x1bd\u200be\u200df\ufeffg\ufffdh\x85i\x1cj",
    "$5+3=8 ^_^ ~tilde~ `tick`",
    "\u2e43dash\u2e52 \u166d \U000111c9",  # punctuation per Unicode 8.0
    "a" * 100 + " " + "a" * 101 + " " + "é" * 101,
    "👨\u200d👩\u200d👧 🇫🇷 👍🏽",
    "banana unable running ##a [UNK] [CLS]",
]


@pytest.mark.parametrize("name", [m[0] for m in MODELS])
@pytest.mark.parametrize("text", TRICKY)
def test_tricky_strings_match_hf(
    models: dict[str, tuple[ReferenceBert, Any]], name: str, text: str
) -> None:
    assert_same_encoding(models[name], text, None)
    assert_same_encoding(models[name], text, TRICKY[2])


def test_documented_alignments() -> None:
    assert bert_normalize("İ", lowercase=True, strip_accents=False) == ("i\u0307", [(0, 1)] * 2)
    assert bert_normalize("中") == (" 中 ", [(0, 1)] * 3)
    assert bert_normalize("a\x85b\x1cc\u3000d") == (
        "abc d",
        [(0, 1), (2, 3), (4, 5), (5, 6), (6, 7)],
    )
    assert bert_normalize("ΟΔΟΣ") == ("οδοσ", [(0, 1), (1, 2), (2, 3), (3, 4)])
    # the Mc U+302E moves before U+0301 (ccc 224 < 230) and takes U+0301's span
    assert bert_normalize("x\u0301\u302e", lowercase=False, strip_accents=True) == (
        "x\u302e",
        [(0, 1), (1, 2)],
    )
    assert bert_normalize("한") == ("\u1112\u1161\u11ab", [(0, 1)] * 3)
    assert bert_pre_tokenize("a$b,  c\u2e43d") == [(0, 1), (1, 2), (2, 3), (3, 4), (6, 9)]


def test_wordpiece_pieces_and_unknowns() -> None:
    v = TINY_VOCAB
    assert wordpiece("abc", v) == [(v["abc"], 0, 3)]
    assert wordpiece("abca", v) == [(v["abc"], 0, 3), (v["##a"], 3, 4)]
    assert wordpiece("unable", v) == [(v["un"], 0, 2), (v["##able"], 2, 6)]
    assert wordpiece("ba", v) == [(v["b"], 0, 1), (v["##a"], 1, 2)]
    assert wordpiece("abd", v) == [(v["[UNK]"], 0, 3)]  # no "##d": the whole word
    assert wordpiece("d", v) == [(v["[UNK]"], 0, 1)]
    assert wordpiece("a" * 100, v) == [(v["a"], 0, 1)] + [
        (v["##a"], i, i + 1) for i in range(1, 100)
    ]
    assert wordpiece("a" * 101, v) == [(v["[UNK]"], 0, 101)]
    assert wordpiece("aaa", v, max_input_chars_per_word=2) == [(v["[UNK]"], 0, 3)]
    assert wordpiece("ab", v, prefix="@@") == [(v["ab"], 0, 2)]
    with pytest.raises(KeyError):
        wordpiece("aa", {"a": 0})  # needs the unknown token, which is missing


@pytest.mark.parametrize("max_chars", [1, 3, 100])
@pytest.mark.parametrize("prefix", ["##", "@@"])
def test_wordpiece_options_match_hf(max_chars: int, prefix: str) -> None:
    vocab = {k.replace("##", prefix): i for k, i in TINY_VOCAB.items()}
    hf = hf_tokenizer(
        vocab,
        CONFIGS["uncased"],
        max_input_chars_per_word=max_chars,
        continuing_subword_prefix=prefix,
    )
    ours = ReferenceBert(vocab, prefix=prefix, max_input_chars_per_word=max_chars)
    for text in ["a ab abc abca abcab unable bab aaaa bd", "中中 éé İİ", TRICKY[12]]:
        assert_same_encoding((ours, hf), text, "b abc")


def test_load_vocab_txt(tmp_path: Path, vocabs: dict[str, dict[str, int]]) -> None:
    assert len(vocabs["uncased"]) == 30522
    assert vocabs["uncased"]["[UNK]"] == 100
    assert len(vocabs["chinese"]) == 21128
    assert vocabs["chinese"]["\u2028"] == 343  # str.splitlines would split these lines
    assert vocabs["chinese"]["##\u2028"] == 13502
    path = tmp_path / "vocab.txt"
    path.write_bytes("[UNK]\r\na \n\n##b\u2028\nb".encode())
    assert load_vocab_txt(path) == {"[UNK]": 0, "a ": 1, "": 2, "##b\u2028": 3, "b": 4}


# --- real text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("corpus", "name"),
    [("wiki-leads", "uncased-vocab/uncased"), ("peoples-daily", "chinese-vocab/uncased")],
)
def test_real_text_matches_hf(
    models: dict[str, tuple[ReferenceBert, Any]], corpus: str, name: str
) -> None:
    docs = list(islice(datasets.load_corpus(corpus), 300))
    ours, hf = models[name]
    for doc, e in zip(docs, hf.encode_batch(docs), strict=True):
        assert ours.encode(doc) == hf_fields(e)
    for text, pair in pairwise(docs[:51]):
        assert_same_encoding(models[name], text, pair)


def test_real_text_matches_bert_base_uncased_tokenizer_json() -> None:
    """The published artifact too (its added tokens, e.g. "[MASK]" in raw text, are not
    part of the reference; the corpus has none)."""
    files = datasets.files("bert-base-uncased")
    hf = tokenizers.Tokenizer.from_file(str(files["tokenizer.json"]))
    ours = ReferenceBert(load_vocab_txt(files["vocab.txt"]))
    docs = list(islice(datasets.load_corpus("wiki-leads"), 300, 500))
    for doc, e in zip(docs, hf.encode_batch(docs), strict=True):
        assert ours.encode(doc) == hf_fields(e)
