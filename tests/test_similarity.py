"""Word similarity: the randomized SVD against numpy's full SVD; co-occurrence vectors
recover word groups planted in a synthetic corpus; contextual vectors are means over
occurrences of ``embed_words`` vectors, with one entry per word the tokenizer splits;
neighbours and bad requests behave."""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lexforge as lf  # noqa: E402
from lexforge import datasets  # noqa: E402
from lexforge.errors import ConfigError  # noqa: E402
from lexforge.model import BertConfig, BertModel  # noqa: E402
from lexforge.model.similarity import (  # noqa: E402
    compare,
    contextual_space,
    cooccurrence_space,
    truncated_svd,
    words_of,
)


def test_truncated_svd_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    m = rng.standard_normal((120, 12)) @ rng.standard_normal((12, 90)) * 3
    m += 0.01 * rng.standard_normal(m.shape)
    u, s = truncated_svd(m, 8)
    u_ref, s_ref, _ = np.linalg.svd(m, full_matrices=False)
    np.testing.assert_allclose(s, s_ref[:8], rtol=1e-6)
    # the same subspace: projections onto each basis agree
    np.testing.assert_allclose(u @ u.T, u_ref[:, :8] @ u_ref[:, :8].T, atol=1e-6)


ANIMALS = ["cat", "dog", "horse", "cow"]
TOOLS = ["hammer", "saw", "drill", "wrench"]


def _corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        if rng.random() < 0.5:
            a, b = rng.sample(ANIMALS, 2)
            lines.append(f"the {a} eats grass and the {b} sleeps in the barn")
        else:
            a, b = rng.sample(TOOLS, 2)
            lines.append(f"a {a} cuts wood while the {b} fixes metal in the workshop")
    return lines


def test_cooccurrence_recovers_planted_groups() -> None:
    space = cooccurrence_space(_corpus(600, 1), dim=8, min_count=3)
    for group in (ANIMALS, TOOLS):
        for word in group:
            top = [w for w, _ in space.neighbours(word, k=3)]
            assert set(top) <= set(group) | {"the", "a"}, (word, top)
            assert len(set(top) & set(group)) >= 2, (word, top)
    scores = [s for _, s in space.neighbours("cat", k=10)]
    assert scores == sorted(scores, reverse=True)
    assert "cat" not in [w for w, _ in space.neighbours("cat", k=20)]
    every = space.neighbours("cat", k=len(space.words) + 5)  # k past the vocabulary
    assert len(every) == len(space.words) - 1 and "cat" not in [w for w, _ in every]
    for bad in (0, -1, 2.5):
        with pytest.raises(ConfigError, match="k must be"):
            space.neighbours("cat", k=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="min_count must be at least 0"):
        cooccurrence_space(["one two"], min_count=-3)
    for bad in (1.5, -1, None):  # (None would be a space no one can make again)
        with pytest.raises(ConfigError, match="seed must be"):
            cooccurrence_space(["one two"], seed=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not among"):
        space.neighbours("giraffe")
    with pytest.raises(ConfigError, match="min_count"):
        cooccurrence_space(["one two"], min_count=5)


def test_words_of_and_tokenizer_words_agree_on_plain_text(wiki_text: str) -> None:
    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    lines = [x for x in wiki_text.splitlines() if x.isascii() and x.strip()][:300]
    a = cooccurrence_space(lines, min_count=3, dim=16)
    b = cooccurrence_space(lines, tokenizer=tok, min_count=3, dim=16)
    assert a.words == b.words
    assert words_of("Don't pay $5, 北京!") == [
        "don",
        "'",
        "t",
        "pay",
        "$",
        "5",
        ",",
        "北",
        "京",
        "!",
    ]


@pytest.fixture(scope="module")
def model() -> Any:
    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    torch.manual_seed(0)
    encoder = BertModel(BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_layers=1, num_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    ))  # fmt: skip
    encoder.tokenizer = tok
    return encoder


def test_contextual_space_averages_occurrences(model: Any) -> None:
    lines = [*_corpus(40, 2), "unbelievably rare words, once."]
    space = contextual_space(model, lines, min_count=1, max_words=1000)
    counts = Counter(w for line in lines for w in words_of(line))
    assert dict(zip(space.words, space.counts.tolist(), strict=True)) == dict(counts)
    np.testing.assert_allclose(np.linalg.norm(space.vectors, axis=1), 1.0, rtol=1e-5)
    # a word seen once: its vector is its embed_words vector (unit length)
    once = model.embed_words(["unbelievably rare words, once."])[0]
    v = once.vectors[0] / np.linalg.norm(once.vectors[0])
    np.testing.assert_allclose(space.vectors[space.words.index("unbelievably")], v, atol=1e-5)
    static = cooccurrence_space(lines, tokenizer=model.tokenizer, min_count=1, dim=8)
    rows = compare([space, static], ["cat", "hammer", "giraffe"], k=3)
    assert [r["word"] for r in rows] == ["cat", "hammer"]
    assert set(rows[0]["neighbours"]) == {"contextual", "co-occurrence"}


def test_words_of_splits_as_bert_does() -> None:
    """Against HF's BERT normalizer and pre-tokenizer: letters keep their combining marks
    (Devanagari), symbols and emoji stay in runs, a CJK character after digits is apart."""
    tokenizers = pytest.importorskip("tokenizers")
    normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    split = tokenizers.pre_tokenizers.BertPreTokenizer()
    for text in ("हिंदी भाषा", "5€ and 🙂🙂", "2017年的北京", "Don't pay $5, 北京!",
                 "a_b ___ «x» 3.14", "naïve café — “quoted”"):  # fmt: skip
        expected = [w for w, _ in split.pre_tokenize_str(normalizer.normalize_str(text))]
        assert words_of(text) == expected, text
    # each word lower-cased alone: the whole text lower-cased spelled a final sigma by what
    # followed ("οδοσ'" before an apostrophe, "οδος." before a full stop), two entries
    assert words_of("ΟΔΟΣ'Α ΟΔΟΣ.") == ["οδος", "'", "α", "οδος", "."]


def test_contextual_space_cuts_texts_to_fit_the_model(model: Any) -> None:
    """Texts with no spaces (Chinese) or very long words (URLs) are cut at word starts
    to fit the model's 128 positions, not refused; every word is still counted."""
    chinese = "北京欢迎你今天天气很好我们去公园散步吧" * 20  # 400 characters, one "word"
    url = "see https://example.com/" + "/".join(f"segment{i}" for i in range(60)) + " now"
    # Hindi through an accent-stripping tokenizer: a cut kept the vowel sign ending the
    # word before it (है was counted as ह)
    hindi = " ".join(["पानी है"] * 40)
    texts = [chinese, url, hindi]
    space = contextual_space(model, texts, min_count=1, max_words=5000)
    counts = Counter(w for line in texts for w in words_of(line))
    assert dict(zip(space.words, space.counts.tolist(), strict=True)) == dict(counts)


def test_words_ending_in_combining_marks_are_the_same_in_both_spaces(model: Any) -> None:
    """An uncased BERT tokenizer strips accents: the co-occurrence space spelled है as ह
    and decomposed café as cafe, where embed_words keeps the marks, so a frequent word
    was "not frequent enough" for the comparison. Both give BERT's words (words_of,
    checked against HF's normalizer and pre-tokenizer above)."""
    from lexforge.model.similarity import _tokenizer_words

    texts = ["घर में पानी है", "cafe\u0301 au lait, cafe\u0301 noir", "كَتَبَ الوَلَدُ"]
    expected = [words_of(t) for t in texts]
    assert _tokenizer_words(model.tokenizer, texts) == expected
    assert [[w.lower() for w in f.words] for f in model.embed_words(texts)] == expected


def test_control_characters_bert_deletes_join_words_in_every_space(model: Any) -> None:
    """BERT deletes \\x0c, \\x0b, \\x1c-\\x1f, \\x85 where str.split cuts at them: one word
    "page\\x0cbreak" to the tokenizer was two in the contextual space (its texts cut and
    joined again with spaces) and in words_of."""
    from lexforge.model.similarity import _tokenizer_words

    texts = ["page\x0cbreak here a\x0bb", "x\x85y then \x1c alone\x1f", "so\u2028on"] * 2
    expected = _tokenizer_words(model.tokenizer, texts)
    assert expected[0] == ["page\x0cbreak", "here", "a\x0bb"]  # one word each, as in HF
    assert [words_of(t) for t in texts] == expected
    space = contextual_space(model, texts, min_count=1)
    assert sorted(space.words) == sorted({w for ws in expected for w in ws})
    tokenizers = pytest.importorskip("tokenizers")
    normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    split = tokenizers.pre_tokenizers.BertPreTokenizer()
    for text in texts:  # the same words as HF's, with the deleted characters taken out
        hf = [w for w, _ in split.pre_tokenize_str(normalizer.normalize_str(text))]
        gone = str.maketrans("", "", "\x0b\x0c\x1c\x1f\x85")
        assert [w.translate(gone) for w in words_of(text)] == hf, text


def test_cli_similar(model: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from lexforge.cli import main

    model.save_pretrained(tmp_path / "m", tokenizer=model.tokenizer)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(_corpus(60, 3)), encoding="utf-8")
    argv = ["similar", str(tmp_path / "m"), "cat", "giraffe", "--files", str(corpus), "-k", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("cat\n") and "contextual:" in out and "co-occurrence:" in out
    assert "not frequent enough in these 60 texts: giraffe" in out
    # a probe is looked up as the tokenizer's word: " cat " is "cat"
    assert main([*argv[:2], " cat ", *argv[4:]]) == 0
    assert capsys.readouterr().out == out.split("not frequent")[0]
    # the same word twice, in two cases: one block
    assert main([*argv[:2], "cat", "CAT", *argv[4:]]) == 0
    assert capsys.readouterr().out == out.split("not frequent")[0]
    assert main([*argv[:-1], "0"]) == 1  # refused before the model loads
    assert "k must be at least 1" in capsys.readouterr().err


def test_embedding_batch_sizes_must_be_whole_numbers(model: Any) -> None:
    for bad in (2.5, "4", True, 0):
        for call in (model.embed, model.embed_words):
            with pytest.raises(ConfigError, match="batch_size must be"):
                call(["a text"], batch_size=bad)


SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BPE_TEXT = ["the cat sat on the mat, naïve café 北京 unbelievable", "dogs and cats! 🤗 émoji"]


@pytest.fixture(scope="module")
def bpe() -> Any:
    return lf.Tokenizer.train_bpe(texts=BPE_TEXT * 30, vocab_size=300, special_tokens=SPECIALS)


def _small_model(tok: Any, positions: int) -> Any:
    torch.manual_seed(0)
    model = BertModel(BertConfig(
        vocab_size=tok.vocab_size, hidden_size=16, num_layers=1, num_heads=1,
        intermediate_size=16, max_position_embeddings=positions,
    )).eval()  # fmt: skip
    model.tokenizer = tok
    return model


def test_texts_are_cut_between_characters_and_every_piece_fits(bpe: Any) -> None:
    """Unspaced Chinese with a byte-level BPE that spells its characters in several byte
    tokens: cuts fall between characters (none is lost or repeated: the pieces put
    together are the text without its spaces), and every piece, framed, fits the model."""
    from lexforge.model.represent import _tokenizer
    from lexforge.model.similarity import _fitting

    rng = random.Random(0)
    alphabet = [*"abcdefghijklmnopqrstuvwxyzéï北京東拍照传网站🤗,.! ", "the", "cat", "synthesis"]
    wordpiece = lf.Tokenizer.train_wordpiece(texts=BPE_TEXT * 30, vocab_size=200,
                                             special_tokens=SPECIALS)  # fmt: skip
    for tok in (bpe, wordpiece):
        for positions in (8, 16):
            framed = _tokenizer(_small_model(tok, positions), None)
            for _ in range(60):
                text = "".join(rng.choice(alphabet) for _ in range(rng.randint(5, 60)))
                pieces = _fitting(framed, [text], positions)
                assert "".join(pieces).replace(" ", "") == text.replace(" ", ""), text
                options = {"allowed_special": "all"} if tok is bpe else {}
                lengths = [len(framed.encode(p, **options)) for p in pieces]
                assert max(lengths) <= positions, (text, pieces, lengths)
    space = contextual_space(_small_model(bpe, 16), ["我用iPhone拍照然后上传到网站"], min_count=1)
    assert sorted("".join(space.words)) == sorted("我用iphone拍照然后上传到网站")  # each once


def test_cooccurrence_words_of_a_bpe_tokenizer_are_its_pre_tokens(bpe: Any) -> None:
    """Against HF's byte-level pre-tokenizer (GPT-2's pattern): a word is a pre-token
    without its leading space, whitespace-only pre-tokens are no words, for the tokenizer
    as trained and as a saved model loads it (framed with [CLS]/[SEP]); a special token's
    text in the corpus is read, not refused."""
    tokenizers = pytest.importorskip("tokenizers")
    from lexforge.model.hf import bert_framed
    from lexforge.model.similarity import _tokenizer_words

    split = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    texts = ["the cat  sat on the Mat", "the dog\tsat on the log", "the cat and\n\nthe dog ran",
             "naïve café 北京 🤗🤗 x", "a \x1c b x\x1fy ok\x1e",
             "a \x85 b\u2028c \u3000 d"]  # fmt: skip
    # Unicode's White_Space (the pattern's \s); str.strip() also takes U+001C..U+001F, which
    # the pattern reads as words
    white = "".join(
        c for c in map(chr, range(0x3001)) if unicodedata.category(c) in ("Zs", "Zl", "Zp")
    )
    white += "\t\n\v\f\r\x85"
    expected = [[text[a:b].strip(white).lower() for _, (a, b) in split.pre_tokenize_str(text)
                 if text[a:b].strip(white)] for text in texts]  # fmt: skip
    assert [w for w in expected[4] if len(w) == 1 and w < " "] == ["\x1c", "\x1f", "\x1e"]
    # one without [CLS]/[SEP] is not framed: its spans keep the space before a word
    plain = lf.Tokenizer.train_bpe(texts=BPE_TEXT * 30, vocab_size=300)
    for tok in (bpe, bert_framed(bpe), plain):
        assert _tokenizer_words(tok, texts) == expected
    found = _small_model(bpe, 64).embed_words(texts)
    assert [[w.lower() for w in f.words] for f in found] == expected
    space = cooccurrence_space(["the [MASK] sat on the mat", *texts] * 3, tokenizer=bpe,
                               min_count=1, dim=4)  # fmt: skip
    assert "cat" in space and not [w for w in space.words if not w.strip(white)]


def test_compare_keeps_spaces_of_one_kind_apart() -> None:
    lines = _corpus(200, 4)
    wide = cooccurrence_space(lines, window=4, dim=8, min_count=3)
    narrow = cooccurrence_space(lines, window=1, dim=8, min_count=3)
    (row,) = compare([wide, narrow], ["cat"], k=3)
    assert row["neighbours"] == {"co-occurrence 1": wide.neighbours("cat", 3),
                                 "co-occurrence 2": narrow.neighbours("cat", 3)}  # fmt: skip
    with pytest.raises(ConfigError, match="at least one word space"):
        compare([], ["cat"])


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("dim", 0, "dim must be at least 1"), ("dim", -3, "dim must be at least 1"),
     ("dim", 2.5, "dim must be an integer"), ("window", 0, "window must be at least 1"),
     ("window", 2.5, "window must be an integer")],
)  # fmt: skip
def test_cooccurrence_options_are_checked(option: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cooccurrence_space(_corpus(20, 5), min_count=1, **{option: value})


def test_a_tokenizer_that_is_no_lexforge_one_is_named(tmp_path: Any) -> None:
    """``cooccurrence_space(tokenizer=...)`` with a transformers tokenizer or a path raised
    a bare AttributeError (``_pad_id``); as ``embed_words``, a ConfigError saying how to
    load it."""
    for tok in ("tokenizer.json", object()):
        with pytest.raises(ConfigError, match="tokenizer must be a lexforge tokenizer"):
            cooccurrence_space(["a b c"] * 3, tokenizer=tok, min_count=1)


def test_a_string_is_not_a_list_of_texts(model: Any) -> None:
    for call in (cooccurrence_space, lambda t, **kw: contextual_space(model, t, **kw)):
        with pytest.raises(TypeError, match="pass a list of texts"):
            call("the cat sat on the mat", min_count=1)
    for value in (None, 3):  # not iterable at all
        with pytest.raises(TypeError, match=f"pass a list of texts, got a {type(value).__name__}"):
            model.embed(value)
    for bad in (0, -1, 2.0):
        with pytest.raises(ConfigError, match="max_words_per_text must be"):
            contextual_space(model, ["the cat sat"], min_count=1, max_words_per_text=bad)


def test_cooccurrence_space_against_a_dense_reference() -> None:
    """The counts are sparse now (a dense n x n matrix and its PPMI took ~3 copies of n^2
    floats: 22 GB at 30,000 words); the space is the dense reference's. A kept word that
    never co-occurs with another kept word has no vector: asking for its neighbours is
    refused (it got SVD rounding noise, which ranked words at random), and it is no
    one's neighbour."""
    from lexforge.model.similarity import _vocabulary

    texts = _corpus(300, 2) + ["hello"] * 5  # "hello" alone: in no window
    window, dim = 3, 8
    space = cooccurrence_space(texts, window=window, dim=dim, min_count=3)
    sentences = [words_of(t) for t in texts]
    vocab = _vocabulary(sentences, 3, 3000)
    assert space.words == vocab
    n, index = len(vocab), {w: i for i, w in enumerate(vocab)}
    counts = np.zeros((n, n))
    for s in sentences:
        ids = [index.get(w, -1) for w in s]
        for d in range(1, window + 1):
            for a, b in zip(ids, ids[d:], strict=False):
                if a >= 0 and b >= 0:
                    counts[a, b] += 1 / d
                    counts[b, a] += 1 / d
    with np.errstate(divide="ignore", invalid="ignore"):  # (0/0 for the word alone)
        pmi = np.log(counts * counts.sum() / np.outer(counts.sum(1), counts.sum(0)))
    ppmi = np.where(pmi > 0, pmi, 0.0)
    u, values = truncated_svd(ppmi, dim)
    want = u * np.sqrt(values)
    want /= np.maximum(np.linalg.norm(want, axis=1, keepdims=True), 1e-12)
    real = ppmi.any(1)
    assert not real[index["hello"]] and real.sum() == n - 1
    gram = space.vectors[real] @ space.vectors[real].T
    np.testing.assert_allclose(gram, (want[real] @ want[real].T), atol=1e-5)
    assert not space.vectors[index["hello"]].any()
    with pytest.raises(ConfigError, match="'hello' has no vector"):
        space.neighbours("hello")
    # every word with a vector but the one asked about, never the word itself nor one
    # without a vector: those were kept at -inf once k passed the others (a word after
    # "hello" in the vocabulary got them both)
    for word in vocab:
        if word == "hello":
            continue
        got = space.neighbours(word, k=n + 5)
        assert sorted(w for w, _ in got) == sorted(w for w in vocab if w not in (word, "hello"))
        assert all(np.isfinite(score) for _, score in got)
        assert [w for w, _ in space.neighbours(word, k=2)] == [w for w, _ in got[:2]]
