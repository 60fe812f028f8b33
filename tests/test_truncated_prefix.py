"""A text truncated on the right is encoded only as far as its row needs: up to a space
after an ASCII letter or digit (a cut every supported pre-tokenizer ends a piece at), and
the rest of the text only when that prefix gives too few tokens. The rows must be HF's,
field for field, as when the whole text was encoded: long texts of every kind (words,
digits, punctuation, CJK, accents, runs of white space, special tokens' strings, no space
at all) at lengths around every cut, for BERT's WordPiece, GPT-2's BPE, cl100k and o200k
patterns, a BPE with normalizers and a prefix space, and a RoBERTa-style frame whose
``<mask>`` takes the space on its left. Tokenizers with an added token that holds white
space or takes it on its right are encoded whole (checked too), and the checks and errors
that look at the whole text still do."""

from __future__ import annotations

import random
from typing import Any

import pytest

import lexforge as lf
from lexforge import datasets
from lexforge.errors import SpecialTokenError

hf = pytest.importorskip("tokenizers")
np = pytest.importorskip("numpy")

from test_wordpiece import assert_same  # noqa: E402

PIECES = ["the", "cat", "Sat", "ON", "école", "naïve", "Straße", "東京", "中文字", "42",
          "1234567", "3.14", "don't", "it's", "U.S.A.", "e.g.", "!", "?!", "--", "(x)", "😀",
          "x\u0301", "ΟΔΟΣ", "ﬁne", "[MASK]", "<mask>", "<|endoftext|>", "\u00a0", "\t",
          "\n", "\r\n", "\u3000", "  ", "   "]  # fmt: skip


def _texts(seed: int, n: int = 12) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = rng.choices(PIECES, k=rng.randint(1, 120))
        glue = rng.choice([" ", " ", " ", "", "  "])
        out.append(glue.join(words))
    out += ["word " * 300, "x" * 900, "中文" * 300, " " * 50 + "tail words here", "a " * 5]
    return out


def _hf_bpe(pattern: str, **extra: Any) -> Any:
    """An HF byte-level BPE on wiki text with ``pattern`` (a Split, then ByteLevel)."""
    pre = hf.pre_tokenizers
    tok = hf.Tokenizer(hf.models.BPE())
    tok.pre_tokenizer = pre.Sequence([
        pre.Split(hf.Regex(pattern), behavior="isolated"),
        pre.ByteLevel(add_prefix_space=extra.pop("add_prefix_space", False), use_regex=False),
    ])  # fmt: skip
    if "normalizer" in extra:
        tok.normalizer = extra.pop("normalizer")
    tok.decoder = hf.decoders.ByteLevel()
    trainer = hf.trainers.BpeTrainer(
        vocab_size=700, show_progress=False, initial_alphabet=pre.ByteLevel.alphabet(),
        special_tokens=["<s>", "</s>", "<pad>", "<mask>"],
    )  # fmt: skip
    lines = list(datasets.load_corpus("wiki-leads"))[:400]
    tok.train_from_iterator(lines + PIECES * 5, trainer=trainer)
    return tok


def _pattern(preset: str) -> str:
    return lf.Tokenizer.train_bpe(
        texts=["ab"], vocab_size=257, pattern=preset, show_progress=False
    ).pattern


def _pair(theirs: Any, tmp_path: Any, name: str) -> tuple[lf.Tokenizer, Any]:
    path = tmp_path / f"{name}.json"
    theirs.save(str(path))
    return lf.Tokenizer.from_file(path), hf.Tokenizer.from_file(str(path))


def _tokenizers(tmp_path: Any) -> dict[str, tuple[lf.Tokenizer, Any]]:
    out = {}
    bert = hf.Tokenizer.from_file(str(datasets.files("bert-base-uncased")["tokenizer.json"]))
    out["bert"] = _pair(bert, tmp_path, "bert")
    for preset in ("gpt2", "cl100k", "o200k"):
        out[preset] = _pair(_hf_bpe(_pattern(preset)), tmp_path, preset)
    normalized = _hf_bpe(
        _pattern("gpt2"), add_prefix_space=True,
        normalizer=hf.normalizers.Sequence([hf.normalizers.NFKC(), hf.normalizers.Lowercase()]),
    )  # fmt: skip
    out["nfkc-lower-prefix"] = _pair(normalized, tmp_path, "normalized")
    roberta = _hf_bpe(_pattern("gpt2"))
    roberta.add_special_tokens([hf.AddedToken("<mask>", lstrip=True, special=True)])
    roberta.post_processor = hf.processors.RobertaProcessing(
        ("</s>", roberta.token_to_id("</s>")), ("<s>", roberta.token_to_id("<s>")),
        trim_offsets=True, add_prefix_space=False,
    )  # fmt: skip
    out["roberta"] = _pair(roberta, tmp_path, "roberta")
    return out


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[lf.Tokenizer, Any]]:
    return _tokenizers(tmp_path_factory.mktemp("prefix"))


def _kw(ours: lf.Tokenizer) -> dict[str, Any]:
    return {"allowed_special": "all", "pad_token_id": 0} if isinstance(
        ours, lf.BpeTokenizer) else {}  # fmt: skip


@pytest.mark.parametrize("name", ["bert", "gpt2", "cl100k", "o200k", "nfkc-lower-prefix",
                                  "roberta"])  # fmt: skip
def test_truncated_rows_are_hfs(name: str, tokenizers: dict[str, Any]) -> None:
    ours, theirs = tokenizers[name]
    for seed in range(4):
        texts = _texts(seed)
        for max_length in (2, 3, 5, 9, 17, 40, 130):
            assert_same(ours, theirs, texts, None, max_length=max_length, truncation=True,
                        padding=True, **_kw(ours))  # fmt: skip
    # words given split: the words after the row's last are not needed
    words = [t.split() for t in _texts(9)]
    theirs.enable_truncation(7)
    theirs.enable_padding()
    try:
        expected = theirs.encode_batch(words, is_pretokenized=True)
    finally:
        theirs.no_truncation()
        theirs.no_padding()
    got = ours.encode_batch(words, max_length=7, truncation=True, padding=True,
                            is_split_into_words=True, return_word_ids=True, return_offsets=True,
                            return_tensors="np", **_kw(ours))  # fmt: skip
    assert got["input_ids"].tolist() == [e.ids for e in expected]
    assert got["word_ids"].tolist() == [[-1 if w is None else w for w in e.word_ids]
                                        for e in expected]  # fmt: skip
    assert got["offsets"].tolist() == [[list(o) for o in e.offsets] for e in expected]


def test_a_stride_too_long_for_a_cut_text_is_refused_as_before(
    tokenizers: dict[str, Any],
) -> None:
    """The stride check looks at whether the text is cut: the prefix keeps one token more
    than the row, so a text longer than the row is still seen to be cut."""
    for name in ("bert", "gpt2"):
        ours, _ = tokenizers[name]
        long_text = "word " * 400
        with pytest.raises(lf.errors.ConfigError, match="stride"):
            ours.encode_batch([long_text], max_length=6, truncation=True, stride=8, **_kw(ours))


def test_a_disallowed_special_token_past_the_cut_is_still_refused(
    tokenizers: dict[str, Any],
) -> None:
    ours, _ = tokenizers["gpt2"]
    text = "word " * 400 + "<mask>"
    with pytest.raises(SpecialTokenError, match="<mask>"):
        ours.encode_batch([text], max_length=8, truncation=True, pad_token_id=0)
    assert len(ours.encode_batch([text], max_length=8, truncation=True, pad_token_id=0,
                                 allowed_special="all")[0]) == 8  # fmt: skip


def test_added_tokens_with_spaces_or_rstrip_encode_whole_texts(tmp_path: Any) -> None:
    """An added token holding a space ("New York") may be found across a cut, and one that
    takes the space on its right would lose it there: such tokenizers encode the whole
    text (the rows still HF's)."""
    for token in (hf.AddedToken("New York", special=False),
                  hf.AddedToken("[E1]", rstrip=True, special=True)):  # fmt: skip
        bert = hf.Tokenizer.from_file(str(datasets.files("bert-base-uncased")["tokenizer.json"]))
        bert.add_tokens([token]) if not token.special else bert.add_special_tokens([token])
        ours, theirs = _pair(bert, tmp_path, "spaced")
        texts = [("word " * k) + "New York [E1]   next " * 3 for k in range(20)]
        for max_length in (3, 6, 9, 14, 25):
            assert_same(ours, theirs, texts, None, max_length=max_length, truncation=True,
                        padding=True)  # fmt: skip


def _cuts(text: str) -> list[int]:
    """Where the core may cut (``postprocess::prefix_cut``): a space after an ASCII letter
    or digit, counted in characters here (byte and character indices agree up to an ASCII
    character only in ASCII text, so the test cuts the string, not its bytes)."""
    return [k for k in range(1, len(text)) if text[k] == " " and text[k - 1].isascii()
            and text[k - 1].isalnum()]  # fmt: skip


@pytest.mark.parametrize("name", ["bert", "gpt2", "cl100k", "o200k", "nfkc-lower-prefix",
                                  "roberta"])  # fmt: skip
def test_a_cut_texts_encoding_is_the_start_of_the_whole_texts(
    name: str, tokenizers: dict[str, Any]
) -> None:
    """The property the prefix rests on, at every kind of cut, whatever the row's length:
    the tokens, offsets and word numbers of ``text[:cut]`` are the first ones of
    ``text``'s."""
    ours, _ = tokenizers[name]
    rng = random.Random(7)
    bpe = {"allowed_special": "all", "pad_token_id": 0} if isinstance(
        ours, lf.BpeTokenizer) else {}  # fmt: skip
    fields = {"add_special_tokens": False, "return_offsets": True, "return_word_ids": True,
              **bpe}  # fmt: skip
    for text in _texts(3, n=30):
        cuts = _cuts(text)
        heads = [text[:k] for k in rng.sample(cuts, min(len(cuts), 12))]
        if not heads:
            continue
        got = ours.encode_batch([text, *heads], padding=True, return_tensors="np",
                                return_special_tokens_mask=True, **fields)  # fmt: skip
        lengths = got["attention_mask"].sum(axis=1)
        for k, head in enumerate(heads, start=1):
            n = int(lengths[k])
            for field in ("input_ids", "offsets", "word_ids"):
                assert got[field][k][:n].tolist() == got[field][0][:n].tolist(), (field, head[-40:])
