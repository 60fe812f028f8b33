"""Question answering scores: SQuAD's exact match and token F1 (``squad_metrics``, 1.1
and 2.0), and the no-answer threshold that maximises F1 (``best_threshold``)."""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from .qa_data import QAExample


def best_threshold(diffs: Any, span_f1: Any, null_f1: Any) -> float:
    """The no-answer threshold that maximises total F1 over examples: an example is given
    no answer when its ``diffs`` (no-answer score minus best span score) is above it.
    ``span_f1`` and ``null_f1`` are each example's F1 when answered with its best span
    and when given no answer. Thresholds fall between distinct diffs (ties move
    together); the smallest number of no-answers wins a tie in F1."""
    diffs = np.asarray(diffs, dtype=np.float64)
    if not diffs.size:
        return 0.0
    order = np.argsort(-diffs, kind="stable")
    d = diffs[order]
    gains = np.concatenate([[0.0], np.cumsum((np.asarray(null_f1) - np.asarray(span_f1))[order])])
    cuts = [0] + [k for k in range(1, d.size) if d[k - 1] > d[k]] + [d.size]
    k = max(cuts, key=lambda c: (round(float(gains[c]), 9), -c))
    if k == 0:  # nobody abstains: above every finite diff (+inf: no span to give anyway)
        finite = d[np.isfinite(d)]
        return float(finite.max()) if finite.size else 0.0
    if k == d.size:  # below the smallest diff (by one, or by a step where 1 is lost)
        if not np.isfinite(d[-1]):
            return -1e9
        return float(min(d[-1] - 1.0, np.nextafter(d[-1], -np.inf)))
    if not np.isfinite(d[k - 1]):
        return float(d[k]) + 1.0
    # between the two: the midpoint, unless it rounds onto the upper one (adjacent floats)
    middle = (d[k - 1] + d[k]) / 2
    return float(middle if middle < d[k - 1] else d[k])


def _normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _f1(predicted: str, gold: str, v2: bool) -> float:
    """SQuAD's token F1; 2.0's scores an empty prediction of an empty gold 1 (1.1's, 0)."""
    p, g = _normalize(predicted).split(), _normalize(gold).split()
    common = sum((collections.Counter(p) & collections.Counter(g)).values())
    if v2 and (not p or not g):
        return float(p == g)
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def _golds(example: QAExample, unanswerable: bool) -> list[str]:
    """The gold texts an answer is scored against: SQuAD 2.0's drop those that normalize
    to nothing, and an example left with none is answered by abstaining ("")."""
    golds = [a if isinstance(a, str) else a[0] for a in example.answers]  # (a bare text too;
    # unpacked as (text, start), "42" was the text "4")
    if unanswerable:
        return [t for t in golds if _normalize(t)] or [""]
    return golds


def _exact(text: str, golds: Sequence[str]) -> float:
    return max(float(_normalize(text) == _normalize(g)) for g in golds)


def _best_f1(text: str, golds: Sequence[str], v2: bool) -> float:
    return max(_f1(text, g, v2) for g in golds)


def squad_metrics(
    predicted: Sequence[str] | Mapping[str, str],
    examples: Sequence[QAExample],
    *,
    unanswerable: bool = False,
) -> dict[str, float]:
    """Exact match and F1 (percent), each the best over an example's gold answers.

    SQuAD 1.1's scoring by default: over the ``n`` examples that have a gold answer (the
    model always answers); ``unanswerable`` counts the examples without one, left out.
    With ``unanswerable=True``, SQuAD 2.0's: every example counts, and one without a gold
    answer scores 1 exactly when the prediction is empty (""); ``has_answer_exact_match``
    and ``has_answer_f1`` cover the answerable ones, ``no_answer_accuracy`` the others.

    ``predicted``: a text per example, in order, or a mapping of example ids to texts (as
    ``predictions.json`` and SQuAD's own script hold them)."""
    if isinstance(predicted, Mapping):
        missing = [e.id for e in examples if e.id not in predicted]
        if missing:
            raise ConfigError(
                f"no prediction for the example with id {missing[0]!r} ({len(missing)} of "
                f"{len(examples)} missing); give a text for each example's id"
            )
        predicted = [predicted[e.id] for e in examples]
    elif isinstance(predicted, str):
        raise TypeError("predicted must be a text per example (a list), not one str")
    em = f1 = 0.0
    has = [0.0, 0.0, 0]  # exact, f1, count over the answerable
    no = [0.0, 0]  # right, count over the unanswerable
    scored = 0
    for text, example in zip(predicted, examples, strict=True):
        golds = _golds(example, unanswerable)
        if not golds:
            continue
        scored += 1
        exact, best = _exact(text, golds), _best_f1(text, golds, unanswerable)
        em, f1 = em + exact, f1 + best
        if example.answers:
            has = [has[0] + exact, has[1] + best, has[2] + 1]
        else:
            no = [no[0] + exact, no[1] + 1]
    metrics = {"exact_match": 100 * em / max(1, scored), "f1": 100 * f1 / max(1, scored),
               "n": scored, "unanswerable": sum(not e.answers for e in examples)}  # fmt: skip
    # (as SQuAD 2.0's script: a kind of question the split lacks gets no score, not 0)
    if unanswerable and has[2]:
        metrics.update(
            has_answer_exact_match=100 * has[0] / has[2], has_answer_f1=100 * has[1] / has[2]
        )
    if unanswerable and no[1]:
        metrics["no_answer_accuracy"] = 100 * no[0] / no[1]
    return metrics
