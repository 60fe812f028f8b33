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

import collections
import dataclasses
import difflib
import math
import os
import random
import re
import string
import unicodedata
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._extras import require
from ..errors import ConfigError
from ._files import check_splits, given_rows, read_rows
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
from .classify import FinetuneResult
from .records import _missing, dataset_name


@dataclass(frozen=True)
class QAExample:
    question: str
    context: str
    answers: tuple[tuple[str, int], ...] = ()  # (text, character start in the context)
    id: str = ""


# ---------------------------------------------------------------------------------------
# data


def read_qa(
    source: Any,
    *,
    question_column: str = "question",
    context_column: str = "context",
    answers_column: str = "answers",
) -> list[QAExample]:
    """Examples from a jsonl or SQuAD json file, or a list of dicts (or a pandas DataFrame;
    an ``answer_start`` may be a float with no fraction, as pandas writes it). Every example
    needs its answers column: an empty list (or null, or SQuAD's ``is_impossible: true``
    without answers) says its context holds no answer, so a missing or misnamed column is
    an error, not a split of unanswerable questions. An example without an ``id`` (or with
    a missing one: None, NaN or pandas' NA, as a DataFrame holds it) is known by its index
    in the file (SQuAD's layout: its question's, over the whole file); an id that is a
    float with no fraction (pandas' for an integer column with a missing cell) is read as
    its integer, ``101.0`` as ``"101"``.
    Raises ``ConfigError`` for a dataset name (none holds QA data), a missing column, an
    answer whose start does not point at its text, or an id given twice."""
    rows: list[tuple[str, Any]]
    columns = (question_column, context_column, answers_column)
    if (name := dataset_name(source)) is not None:
        from .. import datasets

        if name in datasets.names():  # (a str or a Path alike)
            raise ConfigError(
                f"{name} is a dataset name, and no dataset holds question answering data; "
                "pass a jsonl or SQuAD json file, or a list of examples"
            )
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(
                f"{source}: no such file (question answering reads jsonl or SQuAD json)"
            )
        kind, rows = read_rows(path, ("jsonl", "json", "parquet"))
        if kind == "json" and rows and rows[0][0] == "the file":
            rows = _squad_rows(rows[0][1], path, columns)
        where = str(source)
    else:
        rows, where = given_rows(source, "examples", "row"), "the examples"
    examples: list[QAExample] = []
    seen: dict[str, str] = {}  # id -> where it first came
    for i, (at, row) in enumerate(rows):
        if isinstance(row, QAExample):
            example = row if row.id else dataclasses.replace(row, id=str(i))
            examples.append(_unique(example, at, seen, where))
            continue
        if not isinstance(row, dict):
            raise ConfigError(
                f"{where}: {at} is not an example (a dict with {question_column!r}, "
                f"{context_column!r} and {answers_column!r}; a .json file may also hold "
                f"SQuAD's layout): {str(row)[:40]!r}"
            )
        missing = [c for c in columns if c not in row]
        if missing:
            raise ConfigError(_no_column(where, at, row, missing[0], columns))
        question, context = row[question_column], row[context_column]
        for name, value in (("question", question), ("context", context)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{where}: {at}: the {name} must be a non-empty string")
        answers = _answers(row[answers_column], where, at)
        for text, start in answers:
            if not text.strip():
                raise ConfigError(f"{where}: {at}: an answer text is empty")
            if not 0 <= start <= len(context) - len(text) or not (
                context[start : start + len(text)] == text
            ):
                raise ConfigError(
                    f"{where}: {at}: answer_start {start} does not point at the answer "
                    f"{text!r} in the context; {_misplaced(context, text, start)}"
                )
        given = row.get("id")
        implicit = _missing(given) or given == ""
        ident = str(i) if implicit else _ident(given)
        # a row without an id is named by its index: say so where that id clashes
        label = f"{at} (no id: its index {i} stands in)" if implicit else at
        examples.append(_unique(QAExample(question, context, answers, ident), label, seen, where))
    return examples


def _misplaced(context: str, text: str, start: int) -> str:
    """What to say of an answer whose start does not point at its text: where the text is
    (the nearest place, and whether ``start`` counts UTF-8 bytes or UTF-16 code units
    there, as other tools' offsets do), or that the context does not hold it."""
    found = [m.start() for m in re.finditer(re.escape(text), context)]
    if not found:
        return (
            "the context does not hold that text (as written, case and spaces included); "
            "fix the answer or the context, or drop the example"
        )
    at = min(found, key=lambda i: (abs(i - start), i))
    units = {"UTF-8 bytes": len(context[:at].encode("utf-8")),
             "UTF-16 code units": len(context[:at].encode("utf-16-le")) // 2}  # fmt: skip
    counted = next((f" ({start} counts {u} up to it)" for u, n in units.items() if n == start), "")
    more = f", and {len(found) - 1} more place(s)" if len(found) > 1 else ""
    return (
        f"the text is at character {at}{counted}{more}: answer_start counts characters (Python "
        "str indices) from the start of the context"
    )


def _ident(value: Any) -> str:
    """An example's id as text; a float with no fraction as its integer (a DataFrame's
    integer ids become floats when a cell is missing: 101 would read "101.0")."""
    if isinstance(value, Real) and not isinstance(value, (bool, Integral)):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            return str(int(number))
    return str(value)


def _no_column(
    where: str, at: str, row: dict[str, Any], column: str, columns: tuple[str, str, str]
) -> str:
    """The message for a row without ``column``: its columns, the option (and command-line
    flag) that names the column, a similarly named column of the row if it has one."""
    option, flag = dict(
        zip(columns, [("question_column", "--text-column"), ("context_column", "--pair-column"),
                      ("answers_column", "--label-column")], strict=True)
    )[column]  # fmt: skip
    others = [str(k) for k in row if k not in columns]
    close = difflib.get_close_matches(column, others, n=1, cutoff=0.6)
    fix = (
        f"; if {close[0]!r} is it, pass {option}={close[0]!r} ({flag} {close[0]})"
        if close
        else f"; name yours with {option}= ({flag})"
    )
    if column == columns[2]:
        fix += "; a question its context does not answer has an empty list ([])"
    return f"{where}: {at} has no column {column!r} (columns: {', '.join(map(str, row))}){fix}"


def _unique(example: QAExample, at: str, seen: dict[str, str], where: str) -> QAExample:
    """``example``, after checking that no earlier example has its id (predictions are
    written by id, so a second one would overwrite the first)."""
    if example.id in seen:
        raise ConfigError(
            f"{where}: {at} has the id {example.id!r}, as does {seen[example.id]}; ids must be "
            "unique (predictions.json is keyed by them)"
        )
    seen[example.id] = at
    return example


def _squad_rows(
    data: Any, path: Path, columns: tuple[str, str, str]
) -> list[tuple[str, dict[str, Any]]]:
    """SQuAD's layout as rows: each question's entry with its paragraph's context.
    ``is_impossible: true`` without an answers entry is an empty list of answers."""
    layout = "SQuAD's layout: {'data': [{'paragraphs': [{'context': ..., 'qas': [...]}]}]}"
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ConfigError(f"{path}: a .json file must be a list of examples or hold {layout}")
    _, context_column, answers_column = columns
    rows = []
    try:
        for a, article in enumerate(data["data"]):
            for p, paragraph in enumerate(article["paragraphs"]):
                context = paragraph[context_column]
                for q, qa in enumerate(paragraph["qas"]):
                    row = {**qa, context_column: context}
                    if answers_column not in qa and qa.get("is_impossible") is True:
                        row[answers_column] = []
                    given = qa.get("id")
                    named = "" if given is None or given == "" else f" (id {given!r})"
                    rows.append((f"article {a}, paragraph {p}, question {q}{named}", row))
    except (KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not {layout} (missing or wrong {e})") from None
    return rows


def _answers(value: Any, where: str, at: str) -> tuple[tuple[str, int], ...]:
    form = (
        "answers must be {'text': [...], 'answer_start': [...]} or a list of "
        "{'text', 'answer_start'}"
    )
    if value is None:  # null: no answer, as an empty list
        return ()
    if isinstance(value, dict):  # HF datasets' squad: {"text": [...], "answer_start": [...]}
        if "text" not in value or "answer_start" not in value:
            raise ConfigError(f"{where}: {at}: {form} (keys: {', '.join(map(str, value))})")
        texts, starts = value["text"], value["answer_start"]
        if not isinstance(texts, list) or not isinstance(starts, list):
            raise ConfigError(f"{where}: {at}: {form} (lists, even for one answer)")
        if len(texts) != len(starts):
            raise ConfigError(f"{where}: {at}: {len(texts)} answer texts, {len(starts)} starts")
        pairs = list(zip(texts, starts, strict=True))
    elif isinstance(value, list) and all(isinstance(a, dict) for a in value):
        try:
            pairs = [(a["text"], a["answer_start"]) for a in value]
        except KeyError:
            raise ConfigError(f"{where}: {at}: {form}") from None
    else:
        raise ConfigError(f"{where}: {at}: {form}")
    for text, start in pairs:
        if not isinstance(text, str) or _start(start) is None:
            raise ConfigError(
                f"{where}: {at}: an answer's text must be a string, its start an int (got "
                f"answer_start {start!r})"
            )
    return tuple((text, int(start)) for text, start in pairs)  # NumPy's integers too (pandas)


def _start(value: Any) -> int | None:
    """An answer start as an int: an integer (NumPy's too), or a float with no fraction
    (``2.0``, as pandas writes an integer column that has a missing value); None for
    anything else (a bool, ``2.5``, NaN, a string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Integral):
        return int(value)
    number = float(value) if isinstance(value, Real) else math.nan
    return int(number) if math.isfinite(number) and number.is_integer() else None


# ---------------------------------------------------------------------------------------
# windows, targets, answers


@dataclass
class Windows:
    """The model's rows for a list of examples: token arrays (rows, length), the context
    pieces' character offsets, which pieces are context, and each row's example."""

    arrays: dict[str, Any]
    offsets: Any  # (rows, length, 2), into the context for context pieces
    in_context: Any  # (rows, length) bool
    example: Any  # (rows,) index into the examples
    rows_of: dict[int, list[int]] = field(default_factory=dict)


def windows(
    tok: Any, examples: Sequence[QAExample], max_length: int = 384, stride: int = 128
) -> Windows:
    """Question + context windows (see the module docstring)."""
    enc = encode_batch(
        tok, [e.question for e in examples], [e.context for e in examples], max_length=max_length,
        truncation="only_second", stride=stride, return_overflowing_tokens=True,
        padding=True, return_tensors="np", return_offsets=True, return_special_tokens_mask=True,
    )  # fmt: skip
    arrays = {k: np.asarray(enc[k]) for k in ("input_ids", "token_type_ids", "attention_mask")}
    in_context = (
        (arrays["token_type_ids"] == 1)
        & (np.asarray(enc["special_tokens_mask"]) == 0)
        & (arrays["attention_mask"] == 1)
    )
    example = np.asarray(enc["overflow_to_sample_mapping"])
    rows_of: dict[int, list[int]] = collections.defaultdict(list)
    for row, e in enumerate(example.tolist()):
        rows_of[e].append(row)
    return Windows(arrays, np.asarray(enc["offsets"]), in_context, example, dict(rows_of))


def query_limit(length: int) -> int:
    """The most tokens a question keeps in a window of ``length``: BERT's SQuAD recipe's
    64 (its max_query_length), and at most a quarter of the window, so that the context
    keeps most of it and neighbouring windows move on by a quarter at least."""
    return max(1, min(64, length // 4))


def cut_questions(
    tok: Any, examples: Sequence[QAExample], limit: int
) -> tuple[list[QAExample], list[int]]:
    """``examples`` with each question longer than ``limit`` tokens cut to its first
    ``limit`` (at a piece's last character), and each question's tokens after the cut."""
    plain = {"add_special_tokens": False, "truncation": False, "padding": False}
    counts = [len(ids) for ids in encode_batch(tok, [e.question for e in examples], **plain)]
    long = [i for i, n in enumerate(counts) if n > limit]
    out = list(examples)
    if not long:
        return out, counts
    enc = encode_batch(
        tok, [examples[i].question for i in long], add_special_tokens=False, truncation=False,
        padding=True, return_tensors="np", return_offsets=True,
    )  # fmt: skip
    offsets = np.asarray(enc["offsets"])
    for row, i in enumerate(long):
        question = examples[i].question
        for keep in range(limit, 0, -1):  # a word cut inside may become more pieces
            cut = question[: int(offsets[row, keep - 1, 1])].rstrip()
            counts[i] = len(encode_batch(tok, [cut], **plain)[0])
            if counts[i] <= limit:
                break
        out[i] = dataclasses.replace(examples[i], question=cut)
    return out, counts


def _check_fit(
    tok: Any, examples: Sequence[QAExample], counts: Sequence[int], split: str, *,
    length: int, stride: int, added: int,
) -> None:  # fmt: skip
    """``ConfigError`` naming the first example whose windows cannot share ``stride``
    tokens: its context is cut, and its question leaves no more than that."""
    tight = [i for i, n in enumerate(counts) if stride >= length - added - n]
    if not tight:
        return
    plain = {"add_special_tokens": False, "truncation": False, "padding": False}
    contexts = encode_batch(tok, [examples[i].context for i in tight], **plain)
    for i, context in zip(tight, contexts, strict=True):
        if counts[i] + len(context) + added > length:
            room = length - added - counts[i]
            raise ConfigError(
                f"the {split} split's example {i} (id {examples[i].id!r}) does not fit: its "
                f"question keeps {counts[i]} tokens, which leaves {room} of the {length}-token "
                f"window for its context, and windows that share stride={stride} tokens need "
                "more; lower stride (the default fits every question) or raise max_length "
                "(--max-length)"
            )


def _unpieced(ch: str) -> bool:
    """Characters a tokenizer may leave out of every piece: whitespace, combining marks
    (accents an uncased BERT strips from decomposed text), format and control characters,
    and U+FFFD (BERT's normalizer drops the last three)."""
    return ch.isspace() or ch == "\ufffd" or unicodedata.category(ch) in _UNPIECED


_UNPIECED = frozenset({"Mn", "Mc", "Me", "Cf", "Cc"})


def window_targets(w: Windows, examples: Sequence[QAExample]) -> tuple[Any, Any]:
    """(start, end) piece positions of each row's first answer: its first and last pieces
    when the row's context holds all of it, else 0 and 0 ([CLS]). Characters no piece
    holds (``_unpieced``) at either end of the answer need not be in the window: an
    answer ending in a combining accent, at the end of the context, is still answered."""
    starts = np.zeros(len(w.example), dtype=np.int64)
    ends = np.zeros(len(w.example), dtype=np.int64)
    for row, e in enumerate(w.example.tolist()):
        if not examples[e].answers:
            continue
        span = _answer_pieces(w, row, examples[e].context, *examples[e].answers[0])
        if span is not None:
            starts[row], ends[row] = span
    return starts, ends


def _answer_pieces(
    w: Windows, row: int, context: str, text: str, first: int
) -> tuple[int, int] | None:
    """The first and last pieces of the answer ``text`` at character ``first`` in window
    ``row``, or None when the window's context does not hold all of it."""
    last = first + len(text)  # one past the answer's last character
    pieces = np.flatnonzero(w.in_context[row])
    if not len(pieces):
        return None
    spans = w.offsets[row, pieces]
    inside = np.flatnonzero((spans[:, 1] > first) & (spans[:, 0] < last))
    outside = (
        context[first : max(first, int(spans[0, 0]))] + context[min(last, int(spans[-1, 1])) : last]
    )
    if not len(inside) or not all(map(_unpieced, outside)):
        return None  # not all of the answer is in this window
    return int(pieces[inside[0]]), int(pieces[inside[-1]])


def unheld_answers(w: Windows, examples: Sequence[QAExample], starts: Any = None) -> list[int]:
    """The examples with answers of which no window holds one whole: cut by the edge of
    every window that holds part of it. Given the training targets ``starts`` (from
    :func:`window_targets`), only an example's first answer counts, the one it trains on
    (a target at 0, [CLS], is no answer): such an example is taught that its context
    holds none."""
    targets = None if starts is None else np.asarray(starts)
    cut = []
    for e, example in enumerate(examples):
        if not example.answers:
            continue
        rows = w.rows_of.get(e, [])
        if targets is not None:
            held = bool(targets[rows].any())
        else:
            held = any(_answer_pieces(w, row, example.context, text, first) is not None
                       for row in rows for text, first in example.answers)  # fmt: skip
        if not held:
            cut.append(e)
    return cut


def best_answers(
    start_logits: Any, end_logits: Any, w: Windows, examples: Sequence[QAExample],
    *, max_answer_length: int = 30, n_best: int = 20,
) -> list[tuple[str, int]]:  # fmt: skip
    """Each example's best answer over its windows, as (text, character start); ("", -1)
    when no window proposes a valid span."""
    spans = best_spans(start_logits, end_logits, w, examples, max_answer_length=max_answer_length,
                       n_best=n_best)  # fmt: skip
    return [(text, start) for text, start, _ in spans]


def best_spans(
    start_logits: Any, end_logits: Any, w: Windows, examples: Sequence[QAExample],
    *, max_answer_length: int = 30, n_best: int = 20,
) -> list[tuple[str, int, float]]:  # fmt: skip
    """Each example's best span over its windows, as (text, character start, score: start
    + end logit); ("", -1, -inf) when no window proposes a valid span. A span is valid
    when its end is not before its start, it takes at most ``max_answer_length`` pieces,
    and its text is not blank: a byte-level BPE's pieces for a run of spaces have empty
    (trimmed) offsets, and a span of them alone is no answer. A span's text is given
    without the whitespace at either end. Raises ``ConfigError`` when ``max_answer_length``
    or ``n_best`` is not a positive whole number."""
    _check_count("max_answer_length", max_answer_length, "the most pieces an answer takes", 30)
    _check_count("n_best", n_best, "the starts and ends tried per window", 20)
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    found: list[tuple[str, int, float]] = []
    for e, example in enumerate(examples):
        best, answer = -math.inf, ("", -1)
        for row in w.rows_of.get(e, []):
            ctx = w.in_context[row]
            s_scores = np.where(ctx, start_logits[row], -np.inf)
            e_scores = np.where(ctx, end_logits[row], -np.inf)
            for s in np.argsort(-s_scores)[:n_best]:
                if not ctx[s]:
                    break
                for t in np.argsort(-e_scores)[:n_best]:
                    if not ctx[t]:
                        break
                    if t < s or t - s + 1 > max_answer_length:
                        continue
                    score = s_scores[s] + e_scores[t]
                    if score > best:
                        a, b = int(w.offsets[row, s, 0]), int(w.offsets[row, t, 1])
                        b = _marks_after(example.context, b)
                        text = example.context[a:b] if a < b else ""
                        if not text.strip():  # whitespace pieces alone: the next best span
                            continue
                        lead = len(text) - len(text.lstrip())
                        best, answer = score, (text.strip(), a + lead)
        found.append((*answer, float(best)))
    return found


def _whole(value: Any) -> bool:
    """An integer (NumPy's too), and not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _check_count(name: str, value: Any, meaning: str, default: int) -> None:
    """``ConfigError`` unless ``value`` is a positive integer: 0 or less would leave no
    span to answer with, and None would fail only after training."""
    if not _whole(value) or value < 1:
        raise ConfigError(
            f"{name} must be a whole number of at least 1 ({meaning}), got {value!r}; pass "
            f"one such as {default} (the default)"
        )


def _marks_after(text: str, end: int) -> int:
    """``end`` moved past the combining marks that follow it: they belong to the character
    before them, and a tokenizer that strips accents gives them to no piece (decomposed
    "José" would be answered "Jose")."""
    while end < len(text) and unicodedata.category(text[end]) in ("Mn", "Mc", "Me"):
        end += 1
    return end


def null_scores(start_logits: Any, end_logits: Any, w: Windows, n: int) -> Any:
    """Each example's no-answer score: start + end logit at [CLS], the lowest over its
    windows (a window that does not hold the answer says [CLS]; one that holds it should
    not), as in BERT's SQuAD 2.0 recipe."""
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    null = start_logits[:, 0] + end_logits[:, 0]
    out = np.full(n, np.inf)
    np.minimum.at(out, w.example, null)
    return out


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
    if k == d.size:
        return float(d[-1]) - 1.0 if np.isfinite(d[-1]) else -1e9
    return float((d[k - 1] + d[k]) / 2) if np.isfinite(d[k - 1]) else float(d[k]) + 1.0


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
    golds = [t for t, _ in example.answers]
    if unanswerable:
        return [t for t in golds if _normalize(t)] or [""]
    return golds


def _exact(text: str, golds: Sequence[str]) -> float:
    return max(float(_normalize(text) == _normalize(g)) for g in golds)


def _best_f1(text: str, golds: Sequence[str], v2: bool) -> float:
    return max(_f1(text, g, v2) for g in golds)


def squad_metrics(
    predicted: Sequence[str], examples: Sequence[QAExample], *, unanswerable: bool = False
) -> dict[str, float]:
    """Exact match and F1 (percent), each the best over an example's gold answers.

    SQuAD 1.1's scoring by default: over the ``n`` examples that have a gold answer (the
    model always answers); ``unanswerable`` counts the examples without one, left out.
    With ``unanswerable=True``, SQuAD 2.0's: every example counts, and one without a gold
    answer scores 1 exactly when the prediction is empty (""); ``has_answer_exact_match``
    and ``has_answer_f1`` cover the answerable ones, ``no_answer_accuracy`` the others."""
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
    if unanswerable:
        metrics.update(
            has_answer_exact_match=100 * has[0] / max(1, has[2]),
            has_answer_f1=100 * has[1] / max(1, has[2]),
            no_answer_accuracy=100 * no[0] / max(1, no[1]),
        )
    return metrics


# ---------------------------------------------------------------------------------------
# the loop


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
    epochs: int = 2,
    batch_size: int = 32,
    lr: float = 5e-5,
    warmup: float = 0.1,
    weight_decay: float = 0.01,
    layer_decay: float = 1.0,
    max_length: int = 384,
    stride: int | None = None,
    max_answer_length: int = 30,
    patience: int | None = None,
    max_steps: int | None = None,
    time_limit: float | None = None,
    seed: int = 0,
    device: str | None = None,
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
        patience=patience, max_steps=max_steps, time_limit=time_limit, batch_size=batch_size,
        runs=runs, seed=seed,
    )  # fmt: skip
    check_max_length(max_length)
    check_out_dir(out_dir)
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
    plain = {"truncation": False, "padding": False}
    pair = encode_batch(tok, ["a"], ["a"], return_tensors="np", **plain)
    single = encode_batch(tok, ["a"], add_special_tokens=False, **plain)[0]
    added = pair["input_ids"].shape[1] - 2 * len(single)  # [CLS] and two [SEP]
    if not pair["token_type_ids"].any():
        raise ConfigError(
            "question answering tells the context by its type id 1, and this tokenizer gives "
            "the second text of a pair type id 0 (RoBERTa's framing); use a BERT-style "
            "template (tok.with_template(cls_token, sep_token))"
        )
    limit = query_limit(length)
    room = length - added - limit  # the fewest context tokens a window keeps
    if room < 1:
        raise ConfigError(
            f"a window of {length} tokens leaves no room for a context after {added} special "
            f"tokens and a question of {limit}; raise max_length (--max-length)"
        )
    default = max(0, min(128, length // 2, room - 1))
    if stride is None:
        stride = default
    cut: dict[str, int] = {}
    for name, given in list(splits.items()):
        splits[name], counts = cut_questions(tok, given, limit)
        cut[name] = sum(a is not b for a, b in zip(given, splits[name], strict=True))
        _check_fit(tok, splits[name], counts, name, length=length, stride=stride, added=added)
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
    mixed = autocast(dev)

    @torch.no_grad()
    def evaluate(name: str, tune: bool = True) -> dict[str, Any]:
        was_training = qa.training
        qa.eval()
        examples, w = splits[name], framed[name]
        start_logits, end_logits = [], []
        for at in range(0, len(w.example), batch_size):
            index = slice(at, at + batch_size)
            with mixed:
                out = qa(**rows(w.arrays, index))
            start_logits.append(out.start_logits.float().cpu().numpy())
            end_logits.append(out.end_logits.float().cpu().numpy())
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
        qa.save_pretrained(out / "best", tokenizer=tok)
        shown = result.test or result.validation  # the split whose predictions are kept
        predictions = shown.pop("predictions", {}) if shown else {}
        report = {"task": "qa", "validation": _scores(result.validation),
                  "test": _scores(result.test), "history": result.history,
                  "max_length": length, "stride": stride, "questions_cut": cut,
                  "answers_cut": cut_answers,
                  **fitted.report(_scores)}  # fmt: skip
        write_json(out / "metrics.json", report)
        if shown:  # no evaluated split (no validation, no test): no predictions to write
            write_json(out / "predictions.json", predictions)
            shown["predictions"] = predictions
    return result


def _scores(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    if metrics is None:
        return None
    return {k: v for k, v in metrics.items() if k != "predictions"}
