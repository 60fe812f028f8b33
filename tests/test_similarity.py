"""Word similarity: the randomized SVD against numpy's full SVD; co-occurrence vectors
recover word groups planted in a synthetic corpus; contextual vectors are means over
occurrences of ``embed_words`` vectors, with one entry per word the tokenizer splits;
neighbours and bad requests behave."""

from __future__ import annotations

import random
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


def test_contextual_space_cuts_texts_to_fit_the_model(model: Any) -> None:
    """Texts with no spaces (Chinese) or very long words (URLs) are cut at word starts
    to fit the model's 128 positions, not refused; every word is still counted."""
    chinese = "北京欢迎你今天天气很好我们去公园散步吧" * 20  # 400 characters, one "word"
    url = "see https://example.com/" + "/".join(f"segment{i}" for i in range(60)) + " now"
    space = contextual_space(model, [chinese, url], min_count=1, max_words=5000)
    counts = Counter(w for line in (chinese, url) for w in words_of(line))
    assert dict(zip(space.words, space.counts.tolist(), strict=True)) == dict(counts)


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
    capsys.readouterr()
    assert main([*argv[:-1], "0"]) == 1  # refused before the model loads
    assert "k must be at least 1" in capsys.readouterr().err


def test_embedding_batch_sizes_must_be_whole_numbers(model: Any) -> None:
    for bad in (2.5, "4", True, 0):
        for call in (model.embed, model.embed_words):
            with pytest.raises(ConfigError, match="batch_size must be"):
                call(["a text"], batch_size=bad)
