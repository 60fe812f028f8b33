"""Question answering data: SQuAD-style examples (``QAExample``) read from a jsonl file,
SQuAD's own ``.json`` layout, a list of dicts or a DataFrame (``read_qa``), with the
checks and messages for missing columns, misplaced answers and repeated ids."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import unicodedata
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from ._files import given_rows, read_rows
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
        if not path.exists():
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
        if answers_column not in row and row.get("is_impossible") is True:
            row = {**row, answers_column: []}  # SQuAD 2.0's flag, in any layout
        missing = [c for c in columns if c not in row]
        if missing:
            raise ConfigError(_no_column(where, at, row, missing[0], columns))
        question, context = row[question_column], row[context_column]
        for name, value in (("question", question), ("context", context)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{where}: {at}: the {name} must be a non-empty string")
        answers = _answers(row[answers_column], where, at)
        impossible = row.get("is_impossible")
        if isinstance(impossible, bool) and impossible == bool(answers):  # SQuAD 2.0's flag
            raise ConfigError(
                f"{where}: {at}: is_impossible is {str(impossible).lower()} but the question "
                + (f"has {len(answers)} answer(s); empty its answers (SQuAD 2.0 keeps an "
                   "unanswerable question's under plausible_answers) or set is_impossible to "
                   "false" if impossible else
                   "has no answer; give its answer or set is_impossible to true")
            )  # fmt: skip
        for text, start in answers:
            if not text.strip():
                raise ConfigError(f"{where}: {at}: an answer text is empty")
            if all(map(_unpieced, text)):  # no window could hold it: never a target
                raise ConfigError(
                    f"{where}: {at}: the answer {text!r} holds only characters a tokenizer "
                    "drops (zero-width, control, lone accent marks, U+FFFD), so no span can "
                    "be trained on it; correct it or drop the example"
                )
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
        forms: tuple[Literal["NFC", "NFD", "NFKC"], ...] = ("NFC", "NFD", "NFKC")
        if any(unicodedata.normalize(f, text) in unicodedata.normalize(f, context) for f in forms):
            return (  # "José" with é as one code point, the context's as e + U+0301
                "the context holds that text in another Unicode form (letters composed in "
                "one, decomposed in the other); normalize both the same way "
                "(unicodedata.normalize('NFC', ...)) before fine-tuning"
            )
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


def _unpieced(ch: str) -> bool:
    """Characters a tokenizer may leave out of every piece: whitespace, combining marks
    (accents an uncased BERT strips from decomposed text), format and control characters,
    and U+FFFD (BERT's normalizer drops the last three)."""
    return ch.isspace() or ch == "\ufffd" or unicodedata.category(ch) in _UNPIECED


_UNPIECED = frozenset({"Mn", "Mc", "Me", "Cf", "Cc"})
