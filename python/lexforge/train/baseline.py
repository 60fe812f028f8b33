"""The classic text-classification baseline, computed in the same run as the models:
TF-IDF over word unigrams and bigrams, then an L2-regularised multinomial logistic
regression (full-batch L-BFGS on a sparse matrix)."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch

from ..ops.reproducible import one_thread
from .metrics import classification_metrics

_WORD = re.compile(r"\w+", re.UNICODE)


def _features(text: str) -> list[str]:
    words = _WORD.findall(text.lower())
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


class TfidfLogReg:
    """``fit(texts, labels)`` then ``predict(texts)``; ``min_df`` drops rare features."""

    def __init__(self, *, min_df: int = 2, l2: float = 1e-4, iterations: int = 100) -> None:
        self.min_df, self.l2, self.iterations = min_df, l2, iterations
        self.vocab: dict[str, int] = {}
        self.idf: torch.Tensor | None = None
        self.weight: torch.Tensor | None = None
        self.labels: list[str] = []

    def _matrix(self, texts: Sequence[str]) -> torch.Tensor:
        rows, cols, vals = [], [], []
        for i, text in enumerate(texts):
            counts = Counter(f for f in _features(text) if f in self.vocab)
            for feature, c in counts.items():
                rows.append(i)
                cols.append(self.vocab[feature])
                vals.append(1.0 + math.log(c))  # sublinear term frequency
        n = len(self.vocab)
        shape = (len(texts), n)
        where = torch.tensor([rows, cols], dtype=torch.int64)
        x = torch.sparse_coo_tensor(where, torch.tensor(vals), shape, check_invariants=True)
        x = x.coalesce()
        assert self.idf is not None
        values = x.values() * self.idf[x.indices()[1]]
        norms = torch.zeros(len(texts)).index_add_(0, x.indices()[0], values**2).sqrt()
        values = values / norms[x.indices()[0]].clamp(min=1e-12)
        return torch.sparse_coo_tensor(
            x.indices(), values, x.shape, check_invariants=True
        ).coalesce()

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> TfidfLogReg:
        df = Counter(f for text in texts for f in set(_features(text)))
        kept = sorted(f for f, c in df.items() if c >= self.min_df)
        self.vocab = {f: i for i, f in enumerate(kept)}
        n = len(texts)
        self.idf = torch.tensor([math.log((1 + n) / (1 + df[f])) + 1 for f in kept])
        self.labels = sorted(set(labels))
        y = torch.tensor([self.labels.index(label) for label in labels])
        x = self._matrix(texts)
        weight = torch.zeros(len(kept) + 1, len(self.labels), requires_grad=True)
        opt = torch.optim.LBFGS([weight], max_iter=self.iterations, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            logits = torch.sparse.mm(x, weight[:-1]) + weight[-1]
            loss = torch.nn.functional.cross_entropy(logits, y) + self.l2 * (weight[:-1] ** 2).sum()
            loss.backward()  # type: ignore[no-untyped-call]
            return loss

        with one_thread():  # the L2 term's and L-BFGS's sums follow the thread count
            opt.step(closure)  # type: ignore[no-untyped-call]
        self.weight = weight.detach()
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        assert self.weight is not None
        logits = torch.sparse.mm(self._matrix(texts), self.weight[:-1]) + self.weight[-1]
        return [self.labels[i] for i in logits.argmax(-1).tolist()]


def tfidf_baseline(
    train: Sequence[tuple[str, str]], test: Sequence[tuple[str, str]], labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 and confusion of the baseline trained on ``train``."""
    model = TfidfLogReg().fit([t for t, _ in train], [y for _, y in train])
    predicted = model.predict([t for t, _ in test])
    index = {label: i for i, label in enumerate(labels)}
    return classification_metrics(
        [index[y] for _, y in test], [index[p] for p in predicted], len(labels)
    )
