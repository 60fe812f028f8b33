"""Labelled texts for classification: records ``(text, label)`` or ``(text, pair,
label)`` read from a dataset name, a data file or in-memory rows, with their labels read
as ``problem_type`` says (class names, lists of them, or numbers), checked on the way in:
missing cells, multi-hot vectors, scores without a problem type, columns that are not
there."""

from __future__ import annotations

import ast
import math
import os
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ._files import data_format, given_rows, read_rows

Record = tuple[str, Any] | tuple[str, str, Any]  # (text, label) or (text, pair, label)

# the largest regression target whose square float32 holds (about 1.8e19)
_LARGEST_TARGET = float(np.sqrt(np.finfo(np.float32).max))


PROBLEMS = ("single_label_classification", "multi_label_classification", "regression")


def dataset_name(source: Any) -> str | None:
    """The dataset name ``source`` may be: a str or a path that is no file or folder on
    disk (``Path("rt-polarity")`` names the dataset as ``"rt-polarity"`` does); None for
    rows, or a path that exists. Whether such a dataset exists is the caller's to check."""
    if not isinstance(source, (str, os.PathLike)) or Path(source).exists():
        return None
    name = os.fspath(source)
    return name if isinstance(name, str) else None


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
    names (a list or 1-D NumPy array of them, or a string cut at ``label_separator``; an
    empty list or a blank string, a csv's empty cell, is a text of none of the classes);
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
    if (name := dataset_name(source)) is not None:
        from .. import datasets

        if name not in datasets.names():
            raise no_such_source(source, "labelled")
        named: list[Record] = list(datasets.load_labelled(name, split=split, seed=seed))
        if problem_type in (None, PROBLEMS[0]):
            return named
        return [(*r[:-1], _label(r[-1], "label", name, f"record {i}", problem_type,
                                 label_separator)) for i, r in enumerate(named)]  # fmt: skip
    rows: list[tuple[str, Any]]
    if isinstance(source, (str, os.PathLike)):
        kind, rows = read_rows(
            Path(source), ("csv", "tsv", "jsonl", "json", "parquet"), given=source
        )
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
    if problem_type != "regression":
        _no_list_text(given, [at for at, _ in table], label_column, where)
    records: list[Record] = []
    for (at, values), value in zip(table, given, strict=True):
        texts = [_text(v, c, where, at) for v, c in zip(values[:-1], columns, strict=False)]
        label = _label(value, label_column, where, at, problem_type, label_separator)
        records.append((*texts, label))
    if inferred and problem_type == PROBLEMS[0]:
        _no_scores(given, [at for at, _ in table], label_column, where)
    if problem_type == PROBLEMS[1] and label_separator is None:
        _no_joined_labels(given, label_column, where)
    return records


def _no_list_text(labels: list[Any], ats: list[str], column: str, where: str) -> None:
    """Refuses a label that is a list written as text (``"['pos', 'film']"``, as pandas'
    ``to_csv`` writes a list column): read as it is, it would be one class of that name."""
    for value, at in zip(labels, ats, strict=True):
        if not (isinstance(value, str) and value.strip()[:1] == "[" and value.strip()[-1:] == "]"):
            continue
        try:
            items = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue  # "[CLS]", "[x y]": names that happen to have brackets
        if isinstance(items, list) and all(isinstance(i, str | int) for i in items):
            raise ConfigError(
                f"{where}: {at}: the label {value!r} in column {column!r} is a list written "
                "as text (pandas' to_csv writes list columns so); write the labels as JSON "
                "Lines lists (DataFrame.to_json(orient='records', lines=True)), or join them "
                "with a separator such as '|' and pass label_separator='|' (--label-separator)"
            )


def _no_joined_labels(labels: list[Any], column: str, where: str) -> None:
    """Refuses multi-label data without a separator whose every row has one label, some of
    them joined with "|", ";" or "," ("pos|film"): each would be a class of its own."""
    if any(not isinstance(value, str) for value in labels):
        return  # lists: the labels are given apart
    for mark in ("|", ";", ","):
        joined = next((v for v in labels if mark in v.strip(mark + " ")), None)
        if joined is not None:
            raise ConfigError(
                f"{where}: multi-label classification, but no label_separator and labels such "
                f"as {joined!r} in column {column!r} hold {mark!r}: each would be one class of "
                f"that name; pass label_separator={mark!r} (--label-separator '{mark}')"
            )


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
    have = ", ".join(str(k).replace("\t", "\\t") for k in row)
    found = f"{where}: {at} has no column {column!r} (columns: {have})"
    kind = data_format(Path(where))  # None for records given in memory
    if len(row) == 1 and ";" in next(iter(row)):  # one column named "text;label"
        return (
            f"{found}: the header is cut at ';', not ','; save the file comma-separated "
            "(or tab-separated, as .tsv)"
        )
    if kind == "csv" and len(row) == 1 and "\t" in next(iter(row)):  # "text<TAB>label"
        return f"{found}: the file is tab-separated; name it .tsv (or save it comma-separated)"
    options = ("text_column", *(("pair_column",) if pair else ()), "label_column")
    if all(re.fullmatch(r"[0-9]+", str(k)) for k in row) and len(row) >= len(options):
        shown = ", ".join(f"{o}={k}" for o, k in zip(options, row, strict=False))
        return (  # pd.read_csv(header=None) numbers the columns
            f"{found}: the columns are numbered (a file read without its header, as "
            f"pd.read_csv(header=None) does); name yours by number, such as {shown}"
        )
    flags = "text_column=/pair_column=/label_column=" if pair else "text_column=/label_column="
    alike = next((str(k) for k in row if str(k).strip().lower() == column.lower()), None)
    if alike is not None:  # "Text" for "text": the header is there, spelled otherwise
        return (
            f"{found}: {alike!r} differs from it only in case or spaces; name the column as "
            f"the file spells it ({flags}, --text-column, --label-column in the CLI), or "
            "rename it in the file"
        )
    header = ""
    if kind in ("csv", "tsv"):  # naming a headerless file's first row would lose that row
        sep = "," if kind == "csv" else "\\t"
        names = sep.join(("text", *(("pair",) if pair else ()), "label"))
        header = (
            f"; the first line of a {kind} file is its header, naming the columns: a file "
            f"without one needs such a line first (e.g. {names})"
        )
    return (
        f"{found}{header}; pass {flags} to name yours (--text-column, --label-column in the "
        "CLI; task='tag' or 'qa' for tagged words or questions)"
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
# a number written with a fraction (ASCII; no leading zeros: "007.5" is a code)
_FRACTION = re.compile(r"[+-]?(?:0|[1-9][0-9]*)?\.[0-9]+")
# a number written with an exponent (ASCII; a mantissa without leading zeros)
_EXPONENT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?[eE][+-]?[0-9]+")


def no_such_source(source: object, task: str) -> ConfigError:
    """The error of a data argument that is neither a file nor a dataset name: the file
    named as missing, and only the datasets that hold ``task`` data offered instead."""
    from .. import datasets

    fitting = [n for n in datasets.names() if task in datasets.info(n).tasks]
    return ConfigError(
        f"no such file: {source} (nor is it a dataset name; those with {task} data: "
        f"{', '.join(fitting)})"
    )


def _label(
    value: Any, column: str, where: str, at: str, problem: str, separator: str | None
) -> Any:
    several = problem == "multi_label_classification"
    if _missing(value) or (isinstance(value, str) and not value.strip() and not several):
        none = " (a text with none of the classes: an empty list, or an empty csv cell)"
        raise ConfigError(
            f"{where}: {at} has no label in column {column!r}; fill it in or drop the row"
            f"{none if several else ''}"
        )
    if problem == "regression":
        try:  # float() reads "1_000" as Python source would (in a data file, a typo), and
            # "١٢" or "３.５" as 12 and 3.5: a data file's numbers are ASCII, as pandas reads them
            written = not isinstance(value, str) or _NUMBER.fullmatch(value.strip())
            number = float(value) if written else math.nan
        except (TypeError, ValueError, OverflowError):  # (OverflowError: an int past 1e308)
            number = math.nan
        if isinstance(value, (bool, np.bool_)) or not math.isfinite(number):
            raise ConfigError(
                f"{where}: {at}: the regression target {value!r} is not a finite number"
            )
        if abs(number) > _LARGEST_TARGET:  # (its float32 square, the loss, is inf: it was
            # reported as a divergence blamed on the learning rate)
            raise ConfigError(
                f"{where}: {at}: the regression target {value!r} is too large for the "
                f"model's float32 loss (its square overflows past {_LARGEST_TARGET:.1e}); "
                "rescale the targets (divide them all by a constant, or take logarithms)"
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
    booleans (Python's and NumPy's too) as JSON spells them (``"true"``, ``"false"``), and
    so are the spellings csv writers give them (pandas' ``True``, a spreadsheet's ``TRUE``:
    one frame saved as csv and as Parquet has one set of classes); spaces around a name
    dropped."""
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
    if _EXPONENT.fullmatch(name):  # "1e+20", as pandas writes the float 1e20 to a csv: the
        # class its float has in a JSON or Parquet copy of the same frame
        number = float(name)
        if math.isfinite(number) and number.is_integer():
            return str(int(number))
    if _FRACTION.fullmatch(name) or _EXPONENT.fullmatch(name):
        # a number with a fraction, one value however written ("1.5", "1.50", "+1.5";
        # "1e-3" and JSON's 0.001): exactly, in decimal (through a float, 0.1 and
        # 0.10000000000000001 would be one)
        return format(Decimal(name).normalize(), "f")
    if name in ("True", "False", "TRUE", "FALSE"):
        return name.lower()
    return name


def sorted_labels(names: Any) -> tuple[str, ...]:
    """Class names in order: numerically when all are numbers (2 before 10, 2.5 before
    10; names of one number, such as "007" and "7", by their text), else as text."""
    names = set(names)
    if names and all(_DECIMAL.fullmatch(n) for n in names):  # ASCII: "٣" is 3 to int()
        return tuple(sorted(names, key=lambda n: (Decimal(n), n)))
    return tuple(sorted(names))


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
