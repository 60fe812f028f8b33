"""The BERT pipeline against HF ``tokenizers`` on real vocabularies and corpora: ids, type
ids, masks, offsets and word ids for single texts and pairs, every truncation strategy
(with stride windows) and padding; formats, decoding and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lexforge as lf
from lexforge import datasets
from lexforge.errors import ConfigError, TokenizerFormatError
from lexforge.reference import wordpiece as reference
from test_reference_wordpiece import CHECKS, TEXT, TINY_VOCAB_TOKENS

hf = pytest.importorskip("tokenizers")

FIELDS = {
    "input_ids": lambda e: e.ids,
    "token_type_ids": lambda e: e.type_ids,
    "attention_mask": lambda e: e.attention_mask,
    "special_tokens_mask": lambda e: e.special_tokens_mask,
    "offsets": lambda e: e.offsets,
    "word_ids": lambda e: [-1 if w is None else w for w in e.word_ids],
}
TRICKY = [
    "",
    "   ",
    "Hello, World! naïve CAFÉ déjà-vu Ünïcode",
    "don't won't y'all U.S.A. e.g. 3.14 $5 #1 @user",
    "x\u0301\u302e İstanbul ΟΔΟΣ ǅ ß ﬁ",
    "中文字符和标点。你好！Mixed 中英 text",
    "emoji 😀👍🏽 👨\u200d👩\u200d👧 and \u200b zero width",
    "control\x00\x07\x1bchars\ufffd and\ttabs\nnewlines\r\n",
    "[CLS] inside [SEP] text [MASK] [UNK] [PAD]",
    "supercalifragilisticexpialidocious" * 4,
    "a" * 101,
]


@pytest.fixture(scope="module")
def english() -> list[str]:
    lines = list(datasets.load_corpus("wiki-leads"))[:600]
    return [s for d in lines for s in d.split(". ")][:1500] + TRICKY


@pytest.fixture(scope="module")
def chinese() -> list[str]:
    return list(datasets.load_corpus("peoples-daily"))[:1200] + TRICKY


@pytest.fixture(scope="module")
def uncased() -> tuple[lf.WordPieceTokenizer, Any]:
    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    return lf.Tokenizer.from_file(path), hf.Tokenizer.from_file(str(path))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def chinese_cased() -> tuple[lf.WordPieceTokenizer, Any]:
    path = datasets.files("bert-base-chinese")["vocab.txt"]
    ours = lf.Tokenizer.from_file(path, lowercase=False)
    theirs = hf.BertWordPieceTokenizer(str(path), lowercase=False, strip_accents=False)._tokenizer
    return ours, theirs  # type: ignore[return-value]


def hf_rows(theirs: Any, texts: list[str], pairs: list[str] | None, **kw: Any) -> list[Any]:
    theirs.no_truncation()
    theirs.no_padding()
    if kw.get("max_length") and kw.get("truncation"):
        theirs.enable_truncation(
            kw["max_length"],
            stride=kw.get("stride", 0),
            strategy=kw["truncation"] if isinstance(kw["truncation"], str) else "longest_first",
            direction=kw.get("truncation_side", "right"),
        )
    if kw.get("padding"):
        length = kw["max_length"] if kw["padding"] == "max_length" else None
        theirs.enable_padding(direction=kw.get("padding_side", "right"), length=length)
    out = []
    for e in theirs.encode_batch(list(zip(texts, pairs, strict=True)) if pairs else texts):
        out.append(e)
        if kw.get("return_overflowing_tokens"):
            out.extend(e.overflowing)
    return out


def assert_same(
    ours: lf.Tokenizer, theirs: Any, texts: list[str], pairs: list[str] | None, **kw: Any
) -> None:
    got = ours.encode_batch(
        texts,
        pairs,
        return_tensors="np",
        return_special_tokens_mask=True,
        return_word_ids=True,
        return_offsets=True,
        **kw,
    )
    expected = hf_rows(theirs, texts, pairs, **kw)
    assert len(got["input_ids"]) == len(expected)
    for field, get in FIELDS.items():
        want = np.array([get(e) for e in expected])
        if field == "offsets" and want.size == 0:
            want = want.reshape(len(expected), -1, 2)
        assert got[field].shape == want.shape, field
        bad = np.nonzero((got[field] != want).reshape(len(expected), -1).any(axis=1))[0]
        assert not len(bad), f"{field} differs on row {bad[0]}: {texts[bad[0]]!r}"


@pytest.mark.parametrize("corpus", ["english", "chinese"])
def test_single_texts_match_hf(
    corpus: str, request: pytest.FixtureRequest, uncased: Any, chinese_cased: Any
) -> None:
    texts = request.getfixturevalue(corpus)
    for ours, theirs in (uncased, chinese_cased):
        assert ours.encode_batch(texts) == [e.ids for e in hf_rows(theirs, texts, None)]
        assert_same(ours, theirs, texts, None, padding=True)


@pytest.mark.parametrize("strategy", ["longest_first", "only_first", "only_second"])
@pytest.mark.parametrize("sides", [("right", "right"), ("left", "left")])
def test_pairs_with_truncation_and_padding_match_hf(
    strategy: str, sides: tuple[str, str], english: list[str], uncased: Any
) -> None:
    ours, theirs = uncased
    questions = [t[:40] for t in english[:300]]
    contexts = english[300:600]
    a, b = (questions, contexts) if strategy != "only_first" else (contexts, questions)
    for padding in ("longest", "max_length"):
        assert_same(
            ours, theirs, a, b, max_length=48, truncation=strategy, padding=padding,
            truncation_side=sides[0], padding_side=sides[1],
        )  # fmt: skip


@pytest.mark.parametrize("stride", [0, 5, 16])
def test_stride_windows_match_hf(
    stride: int, english: list[str], chinese: list[str], uncased: Any, chinese_cased: Any
) -> None:
    ours, theirs = uncased
    docs = [" ".join(english[i : i + 8]) for i in range(0, 400, 8)]
    questions = [t[:30] for t in english[:50]]
    kw = {
        "max_length": 64,
        "stride": stride,
        "padding": "max_length",
        "return_overflowing_tokens": True,
    }
    assert_same(ours, theirs, questions, docs, truncation="only_second", **kw)
    assert_same(ours, theirs, docs, None, truncation=True, **kw)
    assert_same(ours, theirs, docs, docs[::-1], truncation="longest_first", **kw)
    zh_ours, zh_theirs = chinese_cased
    zh_docs = ["".join(chinese[i : i + 4]) for i in range(0, 200, 4)]
    assert_same(zh_ours, zh_theirs, zh_docs, None, truncation=True, **kw)


def test_vocab_txt_and_tokenizer_json_agree(english: list[str], uncased: Any) -> None:
    ours, _ = uncased
    from_vocab = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["vocab.txt"])
    assert from_vocab.encode_batch(english, english[::-1]) == ours.encode_batch(
        english, english[::-1]
    )


def test_saved_files_load_in_hf_identically(
    tmp_path: Path, english: list[str], chinese: list[str], chinese_cased: Any
) -> None:
    ours, _ = chinese_cased
    ours.save(tmp_path / "tokenizer.json")
    again = hf.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    texts = chinese[:300] + english[:300]
    assert_same(ours, again, texts, texts[::-1], max_length=40, truncation=True, padding=True)
    ours.save(tmp_path / "vocab.txt", format="vocab")
    reloaded = lf.Tokenizer.from_file(tmp_path / "vocab.txt", lowercase=False)
    assert reloaded.encode_batch(texts) == ours.encode_batch(texts)


def test_decode_matches_hf(english: list[str], uncased: Any) -> None:
    ours, theirs = uncased
    for text in english[:200]:
        ids = ours.encode(text)
        assert ours.decode(ids) == theirs.decode(ids)
        assert ours.decode(ids, skip_special_tokens=False) == theirs.decode(
            ids, skip_special_tokens=False
        )


def test_decode_of_any_ids_matches_hf_and_the_one_by_one_path(uncased: Any) -> None:
    """Random ids over the whole vocabulary (specials, ## pieces, punctuation), through
    the per-id tables: HF's text in every cleanup and skip mode, the same as the checked
    one-id-at-a-time path, NumPy ids and bools alike; after add_tokens, the new ids."""
    ours, theirs = uncased
    rng = np.random.default_rng(4)
    n = ours.vocab_size
    for _ in range(300):
        ids = rng.integers(0, n, int(rng.integers(0, 40))).tolist()
        if ids and rng.random() < 0.5:
            ids[int(rng.integers(len(ids)))] = int(rng.choice([0, 100, 101, 102, 103]))
        for skip in (True, False):
            want = theirs.decode(ids, skip_special_tokens=skip)
            assert ours.decode(ids, skip_special_tokens=skip) == want
            assert ours.decode(np.array(ids, dtype=np.int32), skip_special_tokens=skip) == want
            for cleanup in (True, False):
                slow = ours._decode_slowly(ids, skip, cleanup, False)
                assert ours.decode(ids, skip_special_tokens=skip, cleanup=cleanup) == slow
    assert ours.decode([True, 2000]) == ours.decode([1, 2000])
    with pytest.raises(TypeError, match=r"must be integers, got 101\.0"):
        ours.decode([101.0])
    with pytest.raises(lf.errors.TokenIdError, match=f"token id {n} is not in the vocabulary"):
        ours.decode([5, n])
    with pytest.raises(lf.errors.TokenIdError, match="token id -1"):
        ours.decode([-1])
    grown = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    grown.decode([2000])  # the tables are built, then the vocabulary grows
    grown.add_tokens(["covidlike"])
    grown.add_special_tokens(["[ENT]"])
    new = grown.encode("a covidlike [ENT] b", add_special_tokens=False)
    assert grown.decode(new) == "a covidlike b"
    assert grown.decode(new, skip_special_tokens=False) == "a covidlike [ENT] b"


def test_torch_tensors(uncased: Any) -> None:
    torch = pytest.importorskip("torch")
    ours, _ = uncased
    batch = ours.encode_batch(["a b c", "d"], padding=True, return_tensors="pt")
    assert isinstance(batch.input_ids, torch.Tensor) and batch.input_ids.dtype == torch.int64


def test_bad_vocabularies(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[CLS]\n[SEP]\nhello\n", encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r'unknown token "\[UNK\]".*unk_token='):
        lf.Tokenizer.from_file(path)
    assert lf.Tokenizer.from_vocab(path, unk_token="hello").encode("hello xyz") == [1, 3, 3, 2]
    path.write_text("[UNK]\nhello\nworld\n", encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"\[CLS\].*template"):
        lf.Tokenizer.from_file(path)
    path.write_text("[UNK]\n[CLS]\n[SEP]\nhello\nhello\n", encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match="twice"):
        lf.Tokenizer.from_file(path)
    path.write_text("[UNK]\n[CLS]\n\n[SEP]\n", encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=r"vocab\.txt:3: empty line"):
        lf.Tokenizer.from_file(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["added_tokens"][0].update(content="é"),
         r"'é' has id 0, which model.vocab gives to '\[PAD\]'"),
        (lambda d: d["model"].update(vocab={}), r"unknown token '\[UNK\]'.*is not in it"),
        (lambda d: d["model"].update(max_input_chars_per_word=10**30), "max_input_chars"),
        (lambda d: d["post_processor"].update(single=True), "must be a list of pieces"),
        (lambda d: d["post_processor"]["single"][0]["SpecialToken"].update(type_id="x"),
         r"type_id: 'x' is not an integer"),
        (lambda d: d["post_processor"]["special_tokens"]["[CLS]"].update(ids=0),
         r"special token '\[CLS\]' needs one id"),
        (lambda d: d["added_tokens"][1].update(id=2**40), r"is not an integer in \[0, "),
    ],
)  # fmt: skip
def test_inconsistent_wordpiece_json(uncased: Any, tmp_path: Path, edit: Any, message: str) -> None:
    import json

    ours, _ = uncased
    ours.save(tmp_path / "tokenizer.json")
    doc = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    assert doc["post_processor"]["type"] == "TemplateProcessing"
    edit(doc)
    (tmp_path / "bad.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(TokenizerFormatError, match=message):
        lf.Tokenizer.from_file(tmp_path / "bad.json")


def test_an_empty_continuation_prefix_matches_hf(english: list[str], tmp_path: Path) -> None:
    # HF looks a continuation up as prefix + rest: with "" every token may continue a word
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    theirs = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix=""))
    theirs.normalizer = normalizers.BertNormalizer()
    theirs.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=800, continuing_subword_prefix="", special_tokens=["[UNK]"]
    )
    theirs.train_from_iterator(english[:1000], trainer)
    theirs.save(str(tmp_path / "tokenizer.json"))
    ours = lf.Tokenizer.from_file(tmp_path / "tokenizer.json")
    texts = english[1000:]
    pieces = sum(len(e.ids) for e in theirs.encode_batch(texts))
    assert pieces > 1.2 * sum(len(t.split()) for t in texts)  # words split into pieces here
    assert [ours.encode(t) for t in texts] == [e.ids for e in theirs.encode_batch(texts)]


def test_impossible_options(uncased: Any) -> None:
    ours, _ = uncased
    long_a, short_b = "many words here " * 20, "two words"
    with pytest.raises(ConfigError, match=r"only_second.*longest_first"):
        ours.encode_batch([long_a], [short_b], max_length=16, truncation="only_second")
    with pytest.raises(ConfigError, match=r"only_second.*needs pairs"):
        ours.encode_batch([long_a], max_length=16, truncation="only_second")
    with pytest.raises(ConfigError, match=r"max_length=2 is smaller than the 3 special tokens"):
        ours.encode_batch([long_a], [short_b], max_length=2, truncation=True)
    with pytest.raises(ConfigError, match="stride"):
        ours.encode_batch(
            [long_a], max_length=8, truncation=True, stride=6, return_overflowing_tokens=True
        )
    with pytest.raises(ConfigError, match="padding"):
        ours.encode_batch(["a", "a b c"], return_tensors="np")
    with pytest.raises(ConfigError, match="max_length"):
        ours.encode_batch(["a"], truncation=True)
    with pytest.raises(ConfigError, match="pairs"):
        ours.encode_batch(["a", "b"], ["c"])
    with pytest.raises(ConfigError, match="truncation must be"):
        ours.encode_batch(["a"], max_length=4, truncation="bogus")
    assert issubclass(ConfigError, ValueError)


# --- against the readable reference (lexforge.reference.wordpiece) on random text ----------

CASES = {  # name: (vocab file or tiny, lowercase, strip_accents)
    "uncased": ("bert-base-uncased", True, True),
    "chinese-cased": ("bert-base-chinese", False, False),
    "tiny-uncased": ("tiny", True, True),
    "tiny-cased": ("tiny", False, False),
    "tiny-lowercase-only": ("tiny", True, False),
    "tiny-strip-only": ("tiny", False, True),
}


@pytest.fixture(scope="module")
def pairs_of_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Any]]:
    tiny = tmp_path_factory.mktemp("tiny") / "vocab.txt"
    tiny.write_text("".join(t + "\n" for t in TINY_VOCAB_TOKENS), encoding="utf-8")
    out = {}
    for name, (source, lower, strip) in CASES.items():
        path = tiny if source == "tiny" else datasets.files(source)["vocab.txt"]
        ours = lf.Tokenizer.from_vocab(path, lowercase=lower, strip_accents=strip)
        ref = reference.ReferenceBert(
            reference.load_vocab_txt(path),
            lowercase=lower,
            strip_accents=strip,
            special_tokens=("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
        )
        out[name] = (ours, ref)
    return out


@pytest.mark.parametrize("case", list(CASES))
@CHECKS
@given(text=TEXT, pair=st.none() | TEXT)
def test_agrees_with_the_reference(
    case: str, text: str, pair: str | None, pairs_of_models: Any
) -> None:
    ours, ref = pairs_of_models[case]
    got = ours.encode_with_offsets(text, pair)
    want = ref.encode(text, pair)
    for field in ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask"):
        assert got[field][0].tolist() == want[field], field
    assert [tuple(o) for o in got["offsets"][0].tolist()] == [tuple(o) for o in want["offsets"]]
    assert got["word_ids"][0].tolist() == [-1 if w is None else w for w in want["word_ids"]]


@pytest.mark.parametrize("case", ["uncased", "chinese_cased"])
def test_every_code_point_matches_hf(case: str, request: pytest.FixtureRequest) -> None:
    ours, theirs = request.getfixturevalue(case)
    chars = [chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
    # each character alone, glued to letters, doubled and after a space
    texts = [
        "".join(f"{c}a{c}{c} b{c}" for c in chars[i : i + 64]) for i in range(0, len(chars), 64)
    ]
    assert_same(ours, theirs, texts, None, padding=True)


# --- training --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(english: list[str], chinese: list[str]) -> lf.WordPieceTokenizer:
    return lf.Tokenizer.train_wordpiece(
        texts=english + chinese, vocab_size=3000, show_progress=False
    )


def test_trained_vocabulary_loads_in_hf_identically(
    trained: lf.WordPieceTokenizer, english: list[str], chinese: list[str], tmp_path: Path
) -> None:
    vocab = list(trained.vocab())
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert 2000 < trained.vocab_size <= 3000 and any(t.startswith("##") for t in vocab)
    trained.save(tmp_path / "tokenizer.json")
    theirs = hf.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    texts = english[::3] + chinese[::3]
    assert_same(trained, theirs, texts, None, padding=True)
    assert_same(trained, theirs, texts, texts[::-1], max_length=32, truncation=True, padding=True)
    trained.save(tmp_path / "vocab.txt", format="vocab")
    from_vocab = hf.BertWordPieceTokenizer(str(tmp_path / "vocab.txt"))._tokenizer
    assert_same(trained, from_vocab, texts, None, padding=True)


def test_trained_alphabet_is_hfs(english: list[str], chinese: list[str]) -> None:
    """Every character is a token whole, as HF's WordPieceTrainer (the oracle) keeps it,
    besides the ## form of those seen inside words: a character met only inside words
    ("ß" of "straße") once had no whole token, so alone it became [UNK]."""
    from tokenizers import models, normalizers, pre_tokenizers, trainers

    texts = [*english[:1500], *chinese[:300], "straße groß maß"]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ours = lf.Tokenizer.train_wordpiece(texts=texts, vocab_size=3000, show_progress=False)
    theirs = hf.Tokenizer(models.WordPiece(unk_token="[UNK]"))
    theirs.normalizer = normalizers.BertNormalizer()
    theirs.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=3000, special_tokens=specials, show_progress=False
    )
    theirs.train_from_iterator(texts, trainer)

    def alphabet(vocab: dict[str, int]) -> set[str]:
        return {t for t in vocab if t not in specials and len(t.removeprefix("##")) == 1}

    assert alphabet(ours.vocab()) == alphabet(theirs.get_vocab())
    assert ours.encode("ß", add_special_tokens=False) == [ours.token_to_id("ß")]
    # limit_alphabet drops the rarest "c": in "cde" the "d" is still a continuation, as the
    # character's place in its word, not among the kept ones, decides
    texts = ["cde", "cde", "ab ab ab", "de", "de", "de", "de"]
    ours = lf.Tokenizer.train_wordpiece(texts=texts, vocab_size=14, special_tokens=["[UNK]"],
                                        limit_alphabet=4, show_progress=False)  # fmt: skip
    theirs = hf.Tokenizer(models.WordPiece(unk_token="[UNK]"))
    theirs.normalizer = normalizers.BertNormalizer()
    theirs.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=14, special_tokens=["[UNK]"], limit_alphabet=4,
                                        show_progress=False)  # fmt: skip
    theirs.train_from_iterator(texts, trainer)
    assert "##d" in alphabet(ours.vocab())
    assert alphabet(ours.vocab()) == alphabet(theirs.get_vocab())


def test_a_special_token_spelled_like_a_piece_takes_one_place(tmp_path: Path) -> None:
    """A special token spelled like a piece training makes ("##es") is that piece, one
    spelling and one id, and the merges go on past it as in HF's trainer: the
    vocabulary was one token short of ``vocab_size``. The files load back in both."""
    from tokenizers import models, normalizers, pre_tokenizers, trainers

    texts = ["les enfants jouent dans les rues des villes anciennes et les places des marchés "
             "sont pleines de fleurs rouges"] * 50  # fmt: skip
    specials = ["[UNK]", "##es"]
    ours = lf.Tokenizer.train_wordpiece(texts=texts, vocab_size=80, special_tokens=specials,
                                        show_progress=False)  # fmt: skip
    theirs = hf.Tokenizer(models.WordPiece(unk_token="[UNK]"))
    theirs.normalizer = normalizers.BertNormalizer()
    theirs.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=80, special_tokens=specials,
                                        show_progress=False)  # fmt: skip
    theirs.train_from_iterator(texts, trainer)
    assert len(ours.vocab()) == theirs.get_vocab_size() == 80
    assert ours.token_to_id("##es") == theirs.token_to_id("##es") == 1
    assert ours.encode("tes") == [ours.token_to_id("t"), 1]  # the piece, by the special id
    ours.save(tmp_path / "tokenizer.json")
    again = hf.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert again.encode("les rues").ids == ours.encode("les rues")


def test_training_is_deterministic(english: list[str], tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(english), encoding="utf-8")
    runs = [
        lf.Tokenizer.train_wordpiece(
            path, vocab_size=800, num_threads=n, show_progress=False
        ).vocab()
        for n in (1, 2, 4, 4)
    ]
    runs.append(
        lf.Tokenizer.train_wordpiece(texts=english, vocab_size=800, show_progress=False).vocab()
    )
    assert all(r == runs[0] for r in runs)


def test_training_options_and_errors(english: list[str]) -> None:
    small = lf.Tokenizer.train_wordpiece(
        texts=english, vocab_size=400, limit_alphabet=40, show_progress=False
    )
    chars = {t.removeprefix("##") for t in small.vocab() if len(t.removeprefix("##")) == 1}
    assert len(chars) <= 40
    cased = lf.Tokenizer.train_wordpiece(
        texts=["Hello World"] * 10, vocab_size=100, lowercase=False, show_progress=False
    )
    assert "H" in cased.vocab() and cased.encode("Hello World")[1:-1] != []
    from lexforge.errors import CorpusError, TrainerConfigError

    with pytest.raises(TrainerConfigError, match="smaller than"):
        lf.Tokenizer.train_wordpiece(texts=english, vocab_size=20, show_progress=False)
    with pytest.raises(TrainerConfigError, match="unknown token"):
        lf.Tokenizer.train_wordpiece(
            texts=english, special_tokens=["[CLS]", "[SEP]"], show_progress=False
        )
    with pytest.raises(CorpusError, match="empty"):
        lf.Tokenizer.train_wordpiece(texts=["", "  "], show_progress=False)


def test_bert_word_counts_round_trip(tmp_path: Path, english: list[str]) -> None:
    counts = lf.WordCounts.bert()
    counts.add_texts(english[:100])
    counts.save(tmp_path / "bert.counts")
    again = lf.WordCounts.load(tmp_path / "bert.counts")
    assert again.items() == counts.items() and again.normalizer == counts.normalizer
    from lexforge.errors import TrainerConfigError

    with pytest.raises(TrainerConfigError, match="same pattern"):
        counts.merge(lf.WordCounts())
    with pytest.raises(TrainerConfigError, match="train_wordpiece"):
        lf.Tokenizer.from_counts(counts, vocab_size=300)


def test_file_defaults_for_truncation_and_padding(english: list[str], tmp_path: Path) -> None:
    # all-MiniLM-L6-v2's tokenizer.json truncates to 128 and pads to 128 by default
    path = datasets.files("all-MiniLM-L6-v2")["model_dir"] / "tokenizer.json"
    ours, theirs = lf.Tokenizer.from_file(path), hf.Tokenizer.from_file(str(path))
    texts = [" ".join(english[i : i + 12]) for i in range(0, 240, 12)] + ["short"]
    got = ours.encode_batch(texts, return_tensors="np")
    assert got["input_ids"].shape == (len(texts), 128)
    assert got["input_ids"].tolist() == [e.ids for e in theirs.encode_batch(texts)]
    # explicit False turns the file's defaults off
    assert len(ours.encode_batch(texts[:1], truncation=False, padding=False)[0]) > 128
    ours.save(tmp_path / "tokenizer.json")
    again = hf.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert [e.ids for e in again.encode_batch(texts)] == got["input_ids"].tolist()


def test_with_template_frames_as_hf_does_and_refuses_unknown_tokens(tmp_path: Path) -> None:
    """``with_template`` gives BERT's framing with any two special tokens; the copy's
    tokenizer.json encodes identically in HF, and the original is left as it was."""
    hf = pytest.importorskip("tokenizers")
    lines = [f"line {i} of the corpus, with words" for i in range(200)]
    tok = lf.Tokenizer.train_wordpiece(
        texts=lines, vocab_size=120, special_tokens=["[UNK]", "<pad>", "<go>", "<end>"]
    )
    assert tok.encode("line of words") == tok.encode("line of words", add_special_tokens=False)
    framed = tok.with_template("<go>", "<end>")
    go, end = tok.token_to_id("<go>"), tok.token_to_id("<end>")
    bare = tok.encode("line of words", add_special_tokens=False)
    word = tok.encode("words", add_special_tokens=False)
    assert framed.encode("line of words") == [go, *bare, end]
    assert framed.encode("line of words", "words") == [go, *bare, end, *word, end]
    framed.save(tmp_path / "tokenizer.json")
    theirs = hf.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for a, b in [("line of words", None), ("line 3", "of the corpus"), ("", None)]:
        mine = framed.encode_batch([a], None if b is None else [b], return_tensors="np")
        enc = theirs.encode(a, b)
        assert mine.input_ids[0].tolist() == enc.ids
        assert mine.token_type_ids[0].tolist() == enc.type_ids
    assert tok.encode("words") == word  # the original: unchanged
    assert framed.with_template(None, None).encode("words") == word
    with pytest.raises(ConfigError, match=r"cls_token '\[CLS\]' is not one of the special"):
        tok.with_template()
    with pytest.raises(ConfigError, match="both cls_token and sep_token"):
        tok.with_template("<go>", None)


def test_train_wordpiece_shows_and_passes_every_option() -> None:
    """``Tokenizer.train_wordpiece`` has the trainer's signature (help() and type checkers
    see the options and their defaults: it took ``*args, **kwargs``) and passes each on."""
    import inspect

    from lexforge._wordpiece_train import train_wordpiece
    from lexforge.formats import bert

    public = inspect.signature(lf.Tokenizer.train_wordpiece).parameters
    private = inspect.signature(train_wordpiece).parameters
    assert [(p.name, p.kind, p.default) for p in public.values()] == [
        (p.name, p.kind, p.default) for p in private.values()
    ]
    assert public["special_tokens"].default == bert.SPECIALS
    texts = ["Ab ab ab abc", "abc ab"] * 5
    tok = lf.Tokenizer.train_wordpiece(
        texts=texts, vocab_size=40, special_tokens=["<unk>"], unk_token="<unk>",
        lowercase=False, max_token_length=2,
    )  # fmt: skip
    assert tok.tokenize("Ab abc") == ["Ab", "ab", "##c"]  # (cased; no 3-character piece)
    with pytest.raises(lf.TrainerConfigError, match="unknown token"):
        lf.Tokenizer.train_wordpiece(texts=texts, special_tokens=["[PAD]"])
