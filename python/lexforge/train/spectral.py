"""Spectral initialisation of the word embeddings: static vectors from the pretraining
corpus itself, before the first step.

A token's vector is its row of the positive pointwise mutual information (PPMI) of
co-occurrences within a window, reduced by a truncated SVD (Levy, Goldberg and Dagan
2015: PPMI with context-distribution smoothing α = 0.75, vectors ``U·sqrt(S)``). These
are the classic count-based word vectors; they need seconds on a CPU, and starting from
them a small model that pretrains for minutes begins with words that already know their
neighbourhood (random embeddings learn it only after many updates). Counting runs over
the token ids of the shards, within documents, and is exact (a sparse matrix, whatever
the vocabulary size); the SVD is the randomized one of Halko, Martinsson and Tropp (2011),
seeded. Everything is in float64 on the CPU, single-threaded where the order of sums
could follow the thread count, so the vectors are the same on every machine.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from ..errors import ConfigError
from ..ops.reproducible import one_thread

_CHUNK = 1 << 20  # tokens counted per pass (bounds the memory of the pair keys)


def cooccurrence_counts(
    shards: Any, *, window: int = 4, max_tokens: int | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Symmetric co-occurrence weights of token pairs within ``window`` positions of each
    other in the same document (weight ``1/distance``), over the first ``max_tokens``
    tokens of ``shards`` (all by default). Returns sorted pair keys ``a * vocab + b`` and
    their weights."""
    if window < 1:
        raise ConfigError(f"window must be at least 1, got {window}")
    vocab = int(shards.vocab_size)
    # each chunk's pairs are summed on their own; the partial sums merge every few chunks
    # (sorting the running total once per chunk would cost quadratic time)
    parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = []
    budget = max_tokens if max_tokens is not None else sys.maxsize
    tail = np.zeros(0, dtype=np.int64)  # the last tokens of the shard before, all counted
    for k in range(len(shards)):
        tokens, sentences, documents = shards.arrays(k)
        starts = np.asarray(sentences)[np.asarray(documents)]  # token offset of each document
        if tail.size and shards.shards[k].continues:  # a document cut at a line end
            head = np.asarray(tokens[: min(window, int(starts[1]))], dtype=np.int64)
            parts.append(_across(tail, head, window, vocab))
        whole = budget >= int(starts[-1])  # (else the budget ends in this shard)
        for at in range(0, int(starts[-1]), _CHUNK):
            if budget <= 0:
                break
            end = min(int(starts[-1]), at + min(_CHUNK, budget) + window)
            ids = np.asarray(tokens[at:end], dtype=np.int64)
            doc = np.searchsorted(starts, np.arange(at, end), side="right")
            chunk_k, chunk_w = [], []
            for d in range(1, window + 1):
                # pairs whose first token lies in this chunk (the overlap only completes them)
                n = min(len(ids) - d, _CHUNK, budget)
                if n <= 0:
                    continue
                same = doc[:n] == doc[d : d + n]
                a, b = ids[:n][same], ids[d : d + n][same]
                pair = np.concatenate([a * vocab + b, b * vocab + a])
                chunk_k.append(pair)
                chunk_w.append(np.full(pair.size, 1.0 / d))
            if chunk_k:
                parts.append(_reduce(np.concatenate(chunk_k), np.concatenate(chunk_w)))
            if len(parts) >= 8:
                parts = [_merge(parts)]
            budget -= min(_CHUNK, int(starts[-1]) - at)
        last = int(starts[-2]) if len(starts) > 1 else int(starts[-1])  # its last document
        tail = np.asarray(tokens[max(last, int(starts[-1]) - window) : int(starts[-1])],
                          dtype=np.int64) if whole and budget > 0 else tail[:0]  # fmt: skip
    return _merge(parts)


def _across(
    tail: npt.NDArray[np.int64], head: npt.NDArray[np.int64], window: int, vocab: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The pairs of one document across a shard's edge: a token of ``tail`` (the end of
    one shard) and one of ``head`` (the start of the next) within ``window`` positions."""
    joined = np.concatenate([tail, head])
    keys, weights = [], []
    for d in range(1, window + 1):
        first = np.arange(max(0, tail.size - d), tail.size)
        first = first[first + d < joined.size]
        a, b = joined[first], joined[first + d]
        keys.append(np.concatenate([a * vocab + b, b * vocab + a]))
        weights.append(np.full(2 * a.size, 1.0 / d))
    return _reduce(np.concatenate(keys), np.concatenate(weights))


def _merge(
    parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    if len(parts) == 1:
        return parts[0]
    return _reduce(np.concatenate([k for k, _ in parts]), np.concatenate([w for _, w in parts]))


def _reduce(
    keys: npt.NDArray[np.int64], weights: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    unique, inverse = np.unique(keys, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=weights, minlength=unique.size)
    return unique, summed.astype(np.float64, copy=False)


def spectral_embeddings(
    shards: Any,
    dim: int,
    *,
    window: int = 4,
    smoothing: float = 0.75,
    max_tokens: int | None = 20_000_000,
    iterations: int = 3,
    seed: int = 0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """PPMI + truncated-SVD vectors, one row per token id of the shards' vocabulary, each
    of unit length; and which rows are real (the token occurs with a neighbour: the other
    rows are zero and are best left to the model's own initialisation).

    Raises ``ConfigError`` when no two tokens co-occur (too little text)."""
    if dim < 1:
        raise ConfigError(f"dim must be at least 1, got {dim}")
    vocab = int(shards.vocab_size)
    keys, counts = cooccurrence_counts(shards, window=window, max_tokens=max_tokens)
    if keys.size == 0:
        raise ConfigError("no two tokens of the corpus co-occur; give the pretraining more text")
    rows, cols = keys // vocab, keys % vocab
    row_sum = np.bincount(rows, weights=counts, minlength=vocab)
    col_sum = np.bincount(cols, weights=counts, minlength=vocab) ** smoothing
    pmi = np.log(counts) + np.log(col_sum.sum()) - np.log(row_sum[rows]) - np.log(col_sum[cols])
    keep = pmi > 0
    matrix = torch.sparse_coo_tensor(
        torch.from_numpy(np.stack([rows[keep], cols[keep]])), torch.from_numpy(pmi[keep]),
        (vocab, vocab), check_invariants=True,
    ).coalesce()  # fmt: skip
    u, s = _truncated_svd(matrix, min(dim, vocab - 1), iterations=iterations, seed=seed)
    vectors = u * np.sqrt(s)
    vectors = np.pad(vectors, ((0, 0), (0, dim - vectors.shape[1])))
    norms = np.linalg.norm(vectors, axis=1)
    real = (row_sum > 0) & (norms > 0)
    vectors[real] /= norms[real, None]
    vectors[~real] = 0.0
    return vectors, real


def _truncated_svd(
    m: torch.Tensor, k: int, *, oversample: int = 10, iterations: int = 3, seed: int = 0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The top ``k`` left singular vectors and values of the sparse ``m`` (randomized range
    finding with power iterations)."""
    with warnings.catch_warnings():  # "sparse CSR support is in beta": products suffice
        warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support.*")
        mt = m.t().coalesce().to_sparse_csr()
        m = m.to_sparse_csr()
    rng = np.random.default_rng(seed)
    width = min(k + oversample, m.shape[0], m.shape[1])
    q = torch.from_numpy(rng.standard_normal((m.shape[1], width)))
    # one thread: dense products and factorisations may block (and sum) by thread count;
    # these are small, and the vectors must not depend on the machine
    with one_thread():
        q = torch.linalg.qr(m @ q).Q
        for _ in range(iterations):
            q = torch.linalg.qr(mt @ q).Q
            q = torch.linalg.qr(m @ q).Q
        u_small, s, _ = torch.linalg.svd((mt @ q).t(), full_matrices=False)  # q^T m
        u = q @ u_small
    return u[:, :k].numpy(), s[:k].numpy()


def initialise_embeddings(model: Any, shards: Any, *, seed: int = 0) -> int:
    """Sets the word embeddings of ``model`` (a lexforge BERT) to the spectral vectors of
    ``shards``, each scaled to the norm a random initial row has (``initializer_range ·
    sqrt(hidden)``); tokens without vectors keep their random rows. Returns how many rows
    were set."""
    weight: torch.Tensor = model.bert.embeddings.word.weight
    dim = int(weight.shape[1])
    vectors, real = spectral_embeddings(shards, dim, seed=seed)
    if vectors.shape[0] > weight.shape[0]:
        raise ConfigError(
            f"the shards' vocabulary has {vectors.shape[0]} tokens, more than the model's "
            f"{weight.shape[0]} embeddings"
        )
    scale = float(model.config.initializer_range) * dim**0.5
    with torch.no_grad():  # rows past the vocabulary (embeddings padded to a multiple) stay
        rows = torch.from_numpy(np.flatnonzero(real))
        weight[rows] = torch.from_numpy(vectors[real] * scale).to(weight.dtype).to(weight.device)
    return int(real.sum())
