"""Classification scores: accuracy and macro-F1 with the confusion matrix, multi-label
scores, and regression errors and correlations, computed with NumPy alone."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError


def classification_metrics(gold: Sequence[int], predicted: Sequence[int], n: int) -> dict[str, Any]:
    """Accuracy, macro-F1 (the mean over labels of F1; a label never predicted nor present
    counts 0 only when present), per-label F1 and the confusion matrix (rows: gold).
    Labels are the ids 0..n-1; another value (GLUE's -1 for an unlabelled test example, a
    float) is a ``ConfigError``: as a matrix position -1 was read as the last label."""
    g_ids, p_ids = _label_ids(gold, n, "gold"), _label_ids(predicted, n, "predicted")
    if len(g_ids) != len(p_ids):
        raise ConfigError(f"{len(g_ids)} gold labels but {len(p_ids)} predicted; give one "
                          "prediction per example")  # fmt: skip
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (g_ids, p_ids), 1)
    tp = np.diag(matrix).astype(np.float64)
    precision = np.divide(tp, matrix.sum(0), out=np.zeros(n), where=matrix.sum(0) > 0)
    recall = np.divide(tp, matrix.sum(1), out=np.zeros(n), where=matrix.sum(1) > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(n), where=both > 0)
    present = (matrix.sum(0) + matrix.sum(1)) > 0
    return {
        "accuracy": float(tp.sum() / max(1, matrix.sum())),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "f1": f1.tolist(),
        "confusion": matrix.tolist(),
        "n": int(matrix.sum()),
    }


def _label_ids(values: Sequence[int], n: int, side: str) -> Any:
    """``values`` as an int64 array of label ids in 0..n-1, or a ``ConfigError``."""
    ids = np.asarray(values)
    if ids.size and (ids.ndim != 1 or ids.dtype.kind not in "iu"):
        raise ConfigError(
            f"{side} labels must be a flat sequence of integer ids, got "
            f"{ids.dtype} values of shape {ids.shape}"
        )
    ids = ids.astype(np.int64, copy=False).reshape(-1)
    bad = np.flatnonzero((ids < 0) | (ids >= n))
    if bad.size:
        raise ConfigError(
            f"{side} label {int(ids[bad[0]])} (example {int(bad[0])}) is not one of the "
            f"{n} label ids 0..{n - 1}; leave out examples with no label (GLUE's test "
            "splits mark them -1)"
        )
    return ids


def multi_label_metrics(gold: Any, predicted: Any) -> dict[str, Any]:
    """Multi-label scores from (texts, labels) boolean arrays: ``accuracy`` (the whole set
    right), micro-F1 (over all decisions), macro-F1 (the mean over every label; one
    neither gold nor predicted scores 0, as in scikit-learn), per-label F1. Arrays of
    other shapes are a ``ConfigError`` (broadcast, they scored F1 above 1)."""
    gold, predicted = np.asarray(gold, dtype=bool), np.asarray(predicted, dtype=bool)
    if gold.ndim != 2 or gold.shape != predicted.shape:
        raise ConfigError(
            f"gold and predicted must be (texts, labels) arrays of one shape, got "
            f"{gold.shape} and {predicted.shape}"
        )
    tp = (gold & predicted).sum(0).astype(np.float64)
    n_pred, n_gold = predicted.sum(0), gold.sum(0)
    both = n_pred + n_gold
    f1 = np.divide(2 * tp, both, out=np.zeros(len(tp)), where=both > 0)
    micro = 2 * tp.sum() / max(1, both.sum())
    return {
        "accuracy": float((gold == predicted).all(1).mean()) if len(gold) else 0.0,
        "micro_f1": float(micro),
        "macro_f1": float(f1.mean()) if len(f1) else 0.0,
        "f1": f1.tolist(),
        "n": len(gold),
    }


def regression_metrics(gold: Any, predicted: Any) -> dict[str, Any]:
    """Mean squared and absolute errors, Pearson's and Spearman's correlations (0 when
    either side is constant; Pearson's is NaN when a value is NaN or infinite, as a
    diverged model predicts, and Spearman's when one is NaN)."""
    g = np.asarray(gold, dtype=np.float64).reshape(-1)
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if g.shape != p.shape:  # broadcasting would score one prediction against every gold
        raise ConfigError(
            f"{g.size} gold values but {p.size} predictions; give one prediction per example"
        )

    def pearson(a: Any, b: Any) -> float:
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            return math.nan
        if not a.size or np.ptp(a) == 0 or np.ptp(b) == 0:  # (centring leaves rounding dust)
            return 0.0
        # scaled to at most 1 first: the mean and the centring of values near the largest
        # float would overflow; scaled again after centring: no overflow or underflow below
        a, b = a / np.abs(a).max(), b / np.abs(b).max()
        a, b = a - a.mean(), b - b.mean()
        a, b = a / np.abs(a).max(), b / np.abs(b).max()
        scale = math.sqrt(float((a * a).sum() * (b * b).sum()))
        return float((a * b).sum() / scale) if scale > 0 else 0.0

    def ranks(a: Any) -> Any:  # average ranks of ties
        order = np.argsort(a, kind="stable")
        r = np.empty(len(a))
        r[order] = np.arange(len(a), dtype=np.float64)
        _, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
        sums = np.bincount(inverse, weights=r)
        return sums[inverse] / counts[inverse]

    nan = np.isnan(g).any() or np.isnan(p).any()  # ranks would take NaN for the largest
    spearman = math.nan if nan else pearson(ranks(g), ranks(p))
    return {
        "mse": float(((g - p) ** 2).mean()),
        "mae": float(np.abs(g - p).mean()),
        "pearson": pearson(g, p),
        "spearman": spearman,
        "n": len(g),
    }
