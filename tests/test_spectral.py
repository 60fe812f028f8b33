"""Spectral initialisation of the word embeddings: the co-occurrence counts against a plain
loop over the documents, the vectors against an exact dense PPMI + SVD, the same bits
whatever the thread count, and the rows it sets in a model."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lexforge as lf  # noqa: E402
from lexforge.errors import ConfigError  # noqa: E402
from lexforge.model import BertConfig, BertForMaskedLM  # noqa: E402
from lexforge.train import spectral  # noqa: E402


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory, wiki_text: str) -> Any:
    root = tmp_path_factory.mktemp("spectral")
    (root / "train.txt").write_text("\n\n".join(wiki_text.split("\n\n")[:300]), encoding="utf-8")
    tok = lf.Tokenizer.train_wordpiece(files=[root / "train.txt"], vocab_size=200,
                                       show_progress=False)  # fmt: skip
    return lf.build_shards(root / "train.txt", root / "shards", tok, progress=False)


def _reference_counts(shards: Any, window: int, max_tokens: int | None = None) -> dict:
    """Pairs within ``window`` tokens of each other in a document, weighted 1/distance,
    both orders; only pairs whose first token is among the first ``max_tokens``."""
    counts: dict[tuple[int, int], float] = defaultdict(float)
    seen = 0
    for doc in shards.documents():
        ids = [int(t) for sentence in doc for t in sentence]
        for i, a in enumerate(ids):
            if max_tokens is not None and seen + i >= max_tokens:
                break
            for d in range(1, window + 1):
                if i + d < len(ids):
                    counts[a, ids[i + d]] += 1.0 / d
                    counts[ids[i + d], a] += 1.0 / d
        seen += len(ids)
    return counts


def _as_dict(keys: np.ndarray, weights: np.ndarray, vocab: int) -> dict:
    return {(int(k) // vocab, int(k) % vocab): float(w) for k, w in zip(keys, weights, strict=True)}


@pytest.mark.parametrize("chunk", [1 << 20, 97])
def test_counts_match_a_loop_over_documents(
    shards: Any, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spectral, "_CHUNK", chunk)  # chunk edges must not lose or add pairs
    keys, weights = spectral.cooccurrence_counts(shards, window=3)
    assert np.all(np.diff(keys) > 0)
    got, want = _as_dict(keys, weights, shards.vocab_size), _reference_counts(shards, 3)
    assert got.keys() == want.keys()
    assert all(math.isclose(got[k], want[k], rel_tol=1e-12) for k in want)


def test_max_tokens_counts_a_prefix(shards: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spectral, "_CHUNK", 1000)
    keys, weights = spectral.cooccurrence_counts(shards, window=2, max_tokens=2500)
    got, want = _as_dict(keys, weights, shards.vocab_size), _reference_counts(shards, 2, 2500)
    assert got.keys() == want.keys()
    assert all(math.isclose(got[k], want[k], rel_tol=1e-12) for k in want)


def _exact(shards: Any, dim: int, window: int = 4, smoothing: float = 0.75) -> np.ndarray:
    """Dense PPMI (context-distribution smoothing) and a full SVD; rows U·sqrt(S), unit."""
    vocab = shards.vocab_size
    counts = np.zeros((vocab, vocab))
    for (a, b), w in _reference_counts(shards, window).items():
        counts[a, b] = w
    rows = counts.sum(1, keepdims=True)
    cols = counts.sum(0, keepdims=True) ** smoothing
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(counts * cols.sum() / (rows * cols))
    ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)
    u, s, _ = np.linalg.svd(ppmi)
    vectors = u[:, :dim] * np.sqrt(s[:dim])
    # a token that never occurs has a zero PPMI row, so a zero row of U·S (LAPACK leaves
    # rounding noise there, which normalizing would blow up to a unit vector)
    vectors[~ppmi.any(axis=1)] = 0.0
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def test_vectors_match_an_exact_svd(shards: Any) -> None:
    # a probe as wide as the vocabulary spans everything: the randomized SVD is exact, up
    # to the signs of the singular vectors, which cosine similarities do not see
    dim = shards.vocab_size - 10
    vectors, real = spectral.spectral_embeddings(shards, dim)
    exact = _exact(shards, dim)
    assert np.array_equal(real, np.linalg.norm(exact, axis=1) > 0)
    assert np.allclose(vectors[real] @ vectors[real].T, exact[real] @ exact[real].T, atol=1e-7)
    assert np.allclose(np.linalg.norm(vectors[real], axis=1), 1.0)
    assert not vectors[~real].any()


def test_low_rank_vectors_keep_the_top_of_the_spectrum(shards: Any) -> None:
    # with 16 of ~200 dimensions, the subspace found must hold (nearly) what the top 16
    # exact singular vectors hold: compare the PPMI energy each projection keeps
    keys, counts = spectral.cooccurrence_counts(shards)
    vocab = shards.vocab_size
    dense = np.zeros((vocab, vocab))
    dense[keys // vocab, keys % vocab] = counts
    rows, cols = dense.sum(1, keepdims=True), dense.sum(0, keepdims=True) ** 0.75
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(dense * cols.sum() / (rows * cols))
    ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)
    u, _ = spectral._truncated_svd(torch.from_numpy(ppmi).to_sparse(), 16)
    exact = np.linalg.svd(ppmi)[0][:, :16]
    kept = np.linalg.norm(u.T @ ppmi) ** 2
    best = np.linalg.norm(exact.T @ ppmi) ** 2
    assert kept >= 0.99 * best, (kept, best)


def test_vectors_do_not_depend_on_the_thread_count(shards: Any) -> None:
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = spectral.spectral_embeddings(shards, 32)[0]
        torch.set_num_threads(max(2, threads))
        many = spectral.spectral_embeddings(shards, 32)[0]
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(one, many)
    assert torch.get_num_threads() == threads


def test_initialise_sets_scaled_rows_and_keeps_the_rest(shards: Any) -> None:
    config = BertConfig(vocab_size=shards.vocab_size, hidden_size=32, num_layers=1,
                        num_heads=2, intermediate_size=64, max_position_embeddings=64)  # fmt: skip
    torch.manual_seed(0)
    model = BertForMaskedLM(config)
    before = model.bert.embeddings.word.weight.detach().clone()
    n = spectral.initialise_embeddings(model, shards)
    after = model.bert.embeddings.word.weight.detach()
    vectors, real = spectral.spectral_embeddings(shards, 32)
    assert n == real.sum() > shards.vocab_size // 2
    scale = 0.02 * 32**0.5
    assert torch.allclose(after[real], torch.from_numpy(vectors[real] * scale).float())
    assert torch.allclose(after[real].norm(dim=1), torch.full((n,), scale), rtol=1e-5)
    assert torch.equal(after[~real], before[~real])  # e.g. [PAD], [MASK]: never in the text
    # the MLM decoder is tied to the embeddings: it starts from the same vectors
    assert model.mlm.embeddings[0].weight is model.bert.embeddings.word.weight


def test_pretrain_with_spectral_init(shards: Any, tmp_path: Path) -> None:
    from lexforge.train import pretrain

    config = BertConfig(vocab_size=shards.vocab_size, hidden_size=32, num_layers=1,
                        num_heads=2, intermediate_size=64, max_position_embeddings=64)  # fmt: skip
    runs = [
        pretrain(shards, tmp_path / name, model=config, steps=3, batch_size=4, max_seq_len=32,
                 objective="none", embedding_init="spectral", progress=False).history
        for name in ("a", "b")
    ]  # fmt: skip
    losses = [[(r["step"], r["mlm_loss"]) for r in run] for run in runs]
    assert losses[0] == losses[1] and len(losses[0]) == 1
    # embeddings padded past the vocabulary (to a multiple of 8, say): the extra rows stay
    wider = BertConfig(vocab_size=shards.vocab_size + 8, hidden_size=32, num_layers=1,
                       num_heads=2, intermediate_size=64, max_position_embeddings=64)  # fmt: skip
    pretrain(shards, tmp_path / "wide", model=wider, steps=1, batch_size=4, max_seq_len=32,
             objective="none", embedding_init="spectral", progress=False)  # fmt: skip
    with pytest.raises(ConfigError, match="embedding_init"):
        pretrain(shards, tmp_path / "c", model=config, steps=3, embedding_init="glove")


def test_text_without_neighbours_is_refused(tmp_path: Path, shards: Any) -> None:
    (tmp_path / "single.txt").write_text("a\n\nb\n\nc\n", encoding="utf-8")
    lone = lf.build_shards(tmp_path / "single.txt", tmp_path / "lone", shards.tokenizer(),
                           progress=False)  # fmt: skip
    assert lone.n_tokens == 3  # three documents of one token each
    with pytest.raises(ConfigError, match="co-occur"):
        spectral.spectral_embeddings(lone, 8)


@pytest.mark.parametrize("max_tokens", [None, 70_000])
def test_a_document_cut_across_shards_keeps_its_pairs(
    tmp_path: Path, wiki_text: str, max_tokens: int | None
) -> None:
    """A document longer than a piece is cut at a line end into shards that continue it;
    each shard was counted on its own, losing the pairs across every cut."""
    lines = [x for x in wiki_text.splitlines() if x.strip()][:2500]
    (tmp_path / "one.txt").write_text("\n".join(lines) + "\n\nA second one.\n", encoding="utf-8")
    tok = lf.Tokenizer.train_wordpiece(files=[tmp_path / "one.txt"], vocab_size=400,
                                       show_progress=False)  # fmt: skip
    cut = lf.build_shards(tmp_path / "one.txt", tmp_path / "s", tok, piece_mb=0.05,
                          progress=False)  # fmt: skip
    assert sum(s.continues for s in cut.shards) >= 2
    keys, weights = spectral.cooccurrence_counts(cut, window=4, max_tokens=max_tokens)
    got, want = _as_dict(keys, weights, cut.vocab_size), _reference_counts(cut, 4, max_tokens)
    assert got.keys() == want.keys()
    assert all(math.isclose(got[k], want[k], rel_tol=1e-12) for k in want)
