"""Extractive question answering: ``lf.finetune(..., task="qa")``.

Data: SQuAD-style examples (question, context, answers with character starts) from a
jsonl file (one example per line, ``answers`` as ``{"text": [...], "answer_start":
[...]}`` or a list of ``{"text", "answer_start"}``), SQuAD's own ``.json`` layout
(``data`` / ``paragraphs`` / ``qas``), or a list of dicts.

Contexts longer than a window are cut into overlapping windows (``max_length`` tokens,
``stride`` tokens shared between neighbours, the question repeated in each): the
tokenizer's ``only_second`` truncation with overflowing rows, as in BERT's SQuAD recipe,
which also cuts a question to its first 64 tokens (here: at most a quarter of a window).
A training window whose context holds the whole answer is labelled with the answer's
first and last pieces; one that does not is labelled with [CLS] (position 0). An answer
that no window holds whole (longer than neighbouring windows share) is counted per split,
with a warning: its training example teaches [CLS] alone. At
prediction time every window of an example proposes its best spans (start and end pieces
in its context, end not before start, at most ``max_answer_length`` pieces), scored by
start + end logits; the best span over all windows is mapped back through the pieces'
character offsets to a substring of the context. Metrics are SQuAD's exact match and
token F1 (lower-cased, punctuation and articles removed), best over the gold answers.

SQuAD 2.0 (questions whose context holds no answer, given as an empty list of answers;
on by default when a training example has none): such examples train every window
towards [CLS], and an example gets no answer when its [CLS] score beats its best span's
by more than a threshold tuned on the validation split.
"""

from __future__ import annotations

import functools
import math
import os
import random
import warnings
from collections.abc import Iterator, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._extras import require
from .._progress import Progress
from ..errors import ConfigError
from ._files import check_splits
from ._fit import (
    FitOptions,
    autocast,
    check_max_length,
    check_out_dir,
    fit,
    one_run,
    prepare,
    save_best,
    write_json,
)
from .classify import FinetuneResult
from .qa_data import QAExample as QAExample
from .qa_data import read_qa as read_qa
from .qa_score import _best_f1 as _best_f1
from .qa_score import _golds as _golds
from .qa_score import _normalize as _normalize
from .qa_score import best_threshold as best_threshold
from .qa_score import squad_metrics as squad_metrics
from .qa_windows import Windows as Windows
from .qa_windows import _check_count as _check_count
from .qa_windows import _check_fit as _check_fit
from .qa_windows import _whole as _whole
from .qa_windows import best_answers as best_answers
from .qa_windows import best_spans as best_spans
from .qa_windows import cut_questions as cut_questions
from .qa_windows import null_scores as null_scores
from .qa_windows import plan as plan
from .qa_windows import query_limit as query_limit
from .qa_windows import unheld_answers as unheld_answers
from .qa_windows import window_targets as window_targets
from .qa_windows import windows as windows


@one_run
def finetune_qa(
    model: Any,
    train: Any,
    *,
    validation: Any = None,
    test: Any = None,
    tokenizer: Any = None,
    out_dir: str | os.PathLike[str] | None = None,
    question_column: str = "question",
    context_column: str = "context",
    answers_column: str = "answers",
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 5e-5,
    warmup: float = 0.1,
    weight_decay: float = 0.01,
    layer_decay: float = 1.0,
    clip: float = 1.0,
    max_length: int = 384,
    stride: int | None = None,
    max_answer_length: int = 30,
    patience: int | None = None,
    max_steps: int | None = None,
    time_limit: float | None = None,
    seed: int = 0,
    device: str | None = None,
    precision: str | None = None,
    progress: bool | None = None,
    runs: int = 1,
    new_head: bool = False,
    unanswerable: bool | None = None,
    null_threshold: float | None = None,
) -> FinetuneResult:
    """Fine-tunes ``model`` (a checkpoint directory or a lexforge model) to answer
    questions by extracting spans; see the module docstring. ``result.validation`` and
    ``result.test`` hold ``exact_match`` and ``f1`` (percent) and the predictions. Writes
    into ``out_dir`` ``best/`` (HF format), ``metrics.json``, ``log.jsonl`` and
    ``predictions.json`` (keyed by the examples' ids). Windows are ``max_length`` tokens,
    fewer when the model has fewer positions. A question keeps at most 64 tokens (BERT's
    SQuAD recipe), and at most a quarter of the window: longer ones are cut, with one
    warning that counts them. ``stride`` is the number of tokens neighbouring windows
    share; by default half of the window, at most 128, and less than the room a window
    keeps for its context. Answers that no window holds whole (an answer of more than
    ``stride + 1`` tokens may fall across every window's edge) are counted per split, with
    a warning, and in ``metrics.json`` (``answers_cut``): their training examples teach
    "no answer" ([CLS]). ``max_answer_length`` is the most pieces a predicted answer
    takes.

    ``unanswerable=True`` is SQuAD 2.0: questions may have no answer in their context.
    Training examples without answers teach [CLS]; an example is predicted to have no
    answer (``""``) when its no-answer score exceeds its best span's by more than
    ``null_threshold``, and scored as in :func:`squad_metrics` with
    ``unanswerable=True``. The threshold is chosen on the validation split to maximise F1
    (as SQuAD 2.0's evaluation script does; 0 without one) unless given, and reported as
    ``null_threshold``. The default (``None``) turns it on when a training example has no
    answer.

    Raises ``ConfigError`` for an option of the wrong type or range (``unanswerable`` must
    be a bool or None, ``null_threshold`` a finite number or None, ``max_answer_length`` a
    positive int), an empty split, a validation or test split of unanswerable questions
    alone under SQuAD 1.1 scoring (nothing to score), a missing column (answers included: an
    unanswerable question has an empty list), an id given twice, a training example
    without an answer (with ``unanswerable=False``), an answer that is not where its
    start says, or an example whose windows cannot share ``stride`` tokens."""
    if out_dir is not None:  # best/ is written with safetensors: checked before training
        require("fine-tuning into out_dir", "safetensors")
    options = FitOptions(
        epochs=epochs, lr=lr, warmup=warmup, weight_decay=weight_decay, layer_decay=layer_decay,
        clip=clip, patience=patience, max_steps=max_steps, time_limit=time_limit,
        batch_size=batch_size, runs=runs, seed=seed, precision=precision,
    )  # fmt: skip
    check_max_length(max_length)
    check_out_dir(out_dir, model=model, data=(train, validation, test))
    if stride is not None and (not _whole(stride) or not 0 <= stride < max_length):
        raise ConfigError(
            f"stride must be a whole number in [0, max_length), got {stride!r}; pass fewer "
            "tokens than max_length, or None (half of the window, at most 128)"
        )
    _check_count("max_answer_length", max_answer_length, "the most pieces an answer takes", 30)
    chosen = (question_column, context_column, answers_column)
    if len(set(chosen)) < len(chosen):  # a question read as its own context, say
        raise ConfigError(
            f"the question, context and answers columns must differ, got "
            f"{', '.join(map(repr, chosen))} (question_column=, context_column=, "
            "answers_column=; text_column=, pair_column=, label_column= in finetune)"
        )
    # flags are True or False (NumPy's too), never a truthy value: "false" would read True
    if unanswerable is not None and not isinstance(unanswerable, bool | np.bool_):
        raise ConfigError(
            f"unanswerable must be True, False or None (on when a training example has no "
            f"answer), got {unanswerable!r}; pass a bool, not a {type(unanswerable).__name__}"
        )
    if null_threshold is not None and (
        isinstance(null_threshold, bool | np.bool_)
        or not isinstance(null_threshold, Real)
        or not math.isfinite(null_threshold)
    ):
        raise ConfigError(
            f"null_threshold must be a finite number (how far the no-answer score must beat "
            f"the best span's), got {null_threshold!r}; pass a float such as 0.0, or None to "
            "tune it on the validation split"
        )

    def read(source: Any) -> list[QAExample]:
        return read_qa(source, question_column=question_column, context_column=context_column,
                       answers_column=answers_column)  # fmt: skip

    splits = {"train": read(train)}
    sources = {"train": train}
    for name, given in (("validation", validation), ("test", test)):
        if given is not None:
            splits[name], sources[name] = read(given), given
    check_splits(splits, sources)
    unanswered = [i for i, e in enumerate(splits["train"]) if not e.answers]
    unanswerable = bool(unanswered) if unanswerable is None else bool(unanswerable)
    if unanswered and not unanswerable:
        raise ConfigError(
            f"training example {unanswered[0]} has no answer; every one needs one, or pass "
            "unanswerable=True (SQuAD 2.0: questions without an answer in their context)"
        )
    if len(unanswered) == len(splits["train"]):
        raise ConfigError("no training example has an answer; the model would learn none")
    if null_threshold is not None and not unanswerable:
        warnings.warn(
            f"null_threshold={null_threshold!r} is not used: every training example has an "
            "answer, so no question is predicted to have none (pass unanswerable=True for "
            "SQuAD 2.0)",
            stacklevel=2,
        )
    for name in ("validation", "test"):  # nothing SQuAD 1.1 scores: as an empty split
        if name in splits and not unanswerable and not any(e.answers for e in splits[name]):
            raise ConfigError(
                f"the {name} split holds only questions without an answer "
                f"({len(splits[name])}), and SQuAD 1.1 scoring (every training example has "
                "an answer) leaves those out: it would score nothing (n=0, every epoch alike). "
                f"Give the {name} split answered questions, or score it as SQuAD 2.0: "
                "unanswerable=True (lf.train.finetune_qa), or training data that has "
                "unanswerable questions too"
            )
    threshold = {"tuned": 0.0 if null_threshold is None else float(null_threshold)}
    torch.manual_seed(seed)
    from ..model import BertForQuestionAnswering

    qa, tok, dev = prepare(
        BertForQuestionAnswering, model, None, tokenizer, device, new_head=new_head
    )
    if qa.config.type_vocab_size < 2:
        raise ConfigError(
            f"question answering reads (question, context) pairs, which need two segment "
            f"types; the model has type_vocab_size {qa.config.type_vocab_size}: start from a "
            "model pretrained with two segments"
        )
    length = min(max_length, qa.config.max_position_embeddings)
    limit, added, stride = plan(tok, length, stride)
    cut: dict[str, int] = {}
    for name, given in list(splits.items()):
        splits[name], counts = cut_questions(tok, given, limit)
        cut[name] = sum(a is not b for a, b in zip(given, splits[name], strict=True))
        _check_fit(tok, splits[name], counts, functools.partial(_example, name, splits[name]),
                   length=length, stride=stride, added=added,
                   capped=length < max_length)  # fmt: skip
    if any(cut.values()):
        counted = ", ".join(f"{n} of {name}" for name, n in cut.items() if n)
        warnings.warn(
            f"questions longer than {limit} tokens are cut to their first {limit}, so that "
            f"a {length}-token window keeps room for the context: {counted}",
            stacklevel=2,
        )

    def rows(arrays: dict[str, Any], index: Any) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(v[index]).to(dev) for k, v in arrays.items()}

    framed = {name: windows(tok, examples, length, stride) for name, examples in splits.items()}
    train_w = framed["train"]
    starts, ends = window_targets(train_w, splits["train"])
    cut_answers = {name: len(unheld_answers(w, splits[name], starts if name == "train" else None))
                   for name, w in framed.items()}  # fmt: skip
    if any(cut_answers.values()):
        counted = ", ".join(f"{n} of {name}" for name, n in cut_answers.items() if n)
        warnings.warn(
            f"answers that no {length}-token window holds whole: {counted}. Training teaches "
            "such an example no answer ([CLS]), and no prediction can give one whole; "
            f"windows that share stride={stride} tokens hold every answer of up to "
            f"{stride + 1} tokens: raise max_length (--max-length; the default stride grows "
            "with it) or stride (--stride)",
            stacklevel=2,
        )
    n_rows = len(train_w.example)
    mixed = autocast(dev, options.precision)

    @torch.no_grad()
    def evaluate(name: str, tune: bool = True) -> dict[str, Any]:
        was_training = qa.training
        qa.eval()
        examples, w = splits[name], framed[name]
        start_logits, end_logits = [], []
        with Progress("scoring", unit="windows", enabled=progress) as bar:
            for at in range(0, len(w.example), batch_size):
                index = slice(at, at + batch_size)
                with mixed:
                    out = qa(**rows(w.arrays, index))
                start_logits.append(out.start_logits.float().cpu().numpy())
                end_logits.append(out.end_logits.float().cpu().numpy())
                bar(min(at + batch_size, len(w.example)), len(w.example))
        qa.train(was_training)
        starts_, ends_ = np.concatenate(start_logits), np.concatenate(end_logits)
        found = best_spans(starts_, ends_, w, examples, max_answer_length=max_answer_length)
        texts = [text for text, _, _ in found]
        if not unanswerable:
            metrics: dict[str, Any] = squad_metrics(texts, examples)
        else:
            diffs = null_scores(starts_, ends_, w, len(examples)) - np.array(
                [score for _, _, score in found]
            )
            if tune and null_threshold is None:
                golds = [_golds(e, True) for e in examples]
                span_f1 = [_best_f1(t, g, True) for t, g in zip(texts, golds, strict=True)]
                null_f1 = [_best_f1("", g, True) for g in golds]
                threshold["tuned"] = best_threshold(diffs, span_f1, null_f1)
            texts = ["" if d > threshold["tuned"] else t for t, d in zip(texts, diffs, strict=True)]
            metrics = squad_metrics(texts, examples, unanswerable=True)
            metrics["null_threshold"] = threshold["tuned"]
        metrics["predictions"] = {e.id: text for e, text in zip(examples, texts, strict=True)}
        return metrics

    def training(run_seed: int) -> Any:
        def epochs(epoch: int) -> Iterator[tuple[dict[str, torch.Tensor], int]]:
            shuffled = list(range(n_rows))
            random.Random(run_seed * 1000 + epoch).shuffle(shuffled)
            for at in range(0, n_rows, batch_size):
                index = np.asarray(shuffled[at : at + batch_size])
                targets = {"start_positions": torch.as_tensor(starts[index]).to(dev),
                           "end_positions": torch.as_tensor(ends[index]).to(dev)}  # fmt: skip
                yield {**rows(train_w.arrays, index), **targets}, len(index)

        return epochs

    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    fitted = fit(
        qa, training, math.ceil(n_rows / batch_size), options,
        evaluate=(lambda: evaluate("validation")) if "validation" in splits else None,
        score=lambda m: float(m["f1"]),
        summary=lambda m: {"exact_match": m["exact_match"], "f1": m["f1"]},
        device=dev, out=out, progress=progress, label="fine-tuning (QA)",
    )  # fmt: skip
    result = FinetuneResult(qa, (), fitted.history, fitted.best or {}, soup=fitted.soup)
    if unanswerable and "validation" in splits:  # the kept model's threshold
        result.validation = evaluate("validation")
    if "test" in splits:
        result.test = evaluate("test", tune=False)
    if out is not None:
        save_best(qa, out, tok)
        shown = result.test or result.validation  # the split whose predictions are kept
        predictions = shown.pop("predictions", {}) if shown else {}
        report = {"task": "qa", "validation": _scores(result.validation),
                  "test": _scores(result.test), "history": result.history,
                  "max_length": length, "stride": stride,
                  "max_answer_length": max_answer_length, "questions_cut": cut,
                  "answers_cut": cut_answers,
                  **fitted.report(_scores)}  # fmt: skip
        write_json(out / "metrics.json", report)
        if shown:  # no evaluated split (no validation, no test): no predictions to write
            write_json(out / "predictions.json", predictions)
            shown["predictions"] = predictions
    fitted.warn()
    return result


def _example(split: str, examples: Sequence[QAExample], i: int) -> str:
    return f"the {split} split's example {i} (id {examples[i].id!r})"


def _scores(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    if metrics is None:
        return None
    return {k: v for k, v in metrics.items() if k != "predictions"}
