"""The user's data files for fine-tuning: csv, tsv, jsonl, json and CoNLL, each optionally
gzip-compressed (``train.csv.gz``), and Parquet (with pyarrow).

Text is UTF-8 (a byte-order mark is dropped); lines end at ``\\n``, ``\\r\\n`` or ``\\r``
and nowhere else, so U+2028, U+0085 or a form feed inside a text stay in it. csv fields
follow RFC 4180 quoting (a quoted field may hold the delimiter, quotes and line breaks,
kept as they are); tsv
has no quoting, as SST-2, IMDB and most NLP tsv files assume, unless a field is quoted as
csv quotes it (``"The ""best"" film"``, as pandas writes a tsv): then the file is read with
csv's quoting and tabs. A ``.json`` file is
one JSON value (a list of records, or SQuAD's layout), else JSON Lines as written by
``datasets.Dataset.to_json``. Every row comes with where it is (``line 7``, ``record 3``)
for error messages, which name the file.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import sys
import warnings
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._corpus_records import delimited_rows, tsv_quoted
from .._hf_datasets import from_disk, kind, unformatted
from ..errors import ConfigError

FORMATS = ("csv", "tsv", "jsonl", "json", "conll", "parquet")
_SUFFIXES = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".json": "json", ".conll": "conll", ".conllu": "conll", ".bio": "conll", ".iob": "conll",
    ".iob2": "conll", ".txt": "conll", ".parquet": "parquet",
}  # fmt: skip

Row = tuple[str, Any]  # (where in the file, the row)


def data_format(path: Path) -> str | None:
    """The format a file name says (case-insensitive; ``.gz`` looked through), or None."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return _SUFFIXES.get(Path(name).suffix)


# magic bytes of the packed files a data file is most often mistaken for
_PACKED = (
    (b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"), (b"PK\x03\x04", "zip (or xlsx)"),
)  # fmt: skip


def read_text(path: Path, *, newlines: bool = True, given: Any = None) -> str:
    """The file's text: gunzipped when its name ends in ``.gz``, UTF-8 (BOM dropped), line
    ends made ``\\n`` (unless ``newlines=False``: the csv reader finds row ends itself and
    keeps a quoted field's ``\\r`` as it is). ``ConfigError`` for a directory, a corrupt
    gzip file or bytes that are not UTF-8 (with the line and column of the first bad
    byte). ``given``: the path as the caller was given it (``./imdb``, not ``imdb``)."""
    if path.is_dir():
        from .. import datasets

        raise ConfigError(
            f"{path} is a directory; pass a data file (csv, tsv, jsonl, json)"
            + datasets.shadowed(path if given is None else given, ("labelled", "tagged"))
        )
    data = path.read_bytes()
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise ConfigError(f"{path}: not a readable gzip file ({e})") from None
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        packed = next((name for magic, name in _PACKED if data.startswith(magic)), None)
        if packed == "gzip":
            raise ConfigError(
                f"{path} is gzip-compressed; name it {path.name}.gz (read as it is) or gunzip it"
            ) from None
        if packed is not None:
            raise ConfigError(f"{path} is a {packed} file, not text; unpack it first") from None
        body = data[bom:]  # (positions count from after the BOM: column 1 is the text's)
        line = body.count(b"\n", 0, e.start) + 1
        column = e.start - (body.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{body[e.start]:02x} at line {line}, column "
            f"{column}); re-save the file as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n") if newlines else text


def lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number from 1, line) at ``\\n`` only (``str.splitlines`` also breaks at
    U+2028, U+0085, form feeds and other characters that belong to a text)."""
    parts = text.split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    return enumerate(parts, start=1)


def given_rows(source: Any, what: str, name: str) -> list[tuple[str, Any]]:
    """In-memory data (a list of records, sentences or examples, or a pandas DataFrame of
    them) as ``(where, row)`` pairs, each named ``"{name} {i}"``; anything else is a
    ``ConfigError`` naming what to pass."""
    frame = _frame_records(source)
    if frame is None:
        frame = _hf_records(source)
    if frame is not None:
        source = frame
    if kind(source) == "DatasetDict":  # (given as validation= or test=)
        raise ConfigError(
            f"pass one split of the DatasetDict (e.g. dataset['validation']), not all of "
            f"them ({', '.join(map(repr, source))}); as train=, its splits are read by name "
            "(from the shell: save the one split with save_to_disk and pass its folder)"
        )
    if isinstance(source, (str, bytes, dict)) or not isinstance(source, Iterable):
        raise ConfigError(
            f"pass a file, a dataset name, or a list of {what}; got {type(source).__name__}"
        )
    return [(f"{name} {i}", row) for i, row in enumerate(source)]


def _frame_records(source: Any) -> list[dict[str, Any]] | None:
    """A pandas DataFrame's rows as dicts, as the Parquet reader gives them (the NumPy
    arrays that hold a frame's list columns as lists), or None for anything else. Columns
    are named as text, as a file's header names them: the numbered columns of
    ``pd.read_csv(header=None)`` are "0", "1", ... pandas is not imported: a program that
    made a DataFrame has imported it."""
    frame = getattr(sys.modules.get("pandas"), "DataFrame", None)
    if frame is None or not isinstance(source, frame):
        return None
    names = [str(n) for n in source.columns]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:  # (rows are dicts: one of the two would be lost)
        raise ConfigError(
            f"the DataFrame has {names.count(twice)} columns named {twice!r}; rename all but "
            "one of them"
        )
    return [{str(k): _plain(v) for k, v in row.items()} for row in source.to_dict("records")]


def _hf_records(source: Any) -> list[dict[str, Any]] | None:
    """A Hugging Face ``datasets.Dataset`` (or ``IterableDataset``) as its rows, with
    ``ClassLabel`` ids, alone or in lists (``ner_tags``), as their names ("pos", "B-PER"),
    as the dataset's features name them; -1 (no label) as None. None for anything else.
    ``datasets`` is not imported: a program that made a Dataset has imported it."""
    if kind(source) not in ("Dataset", "IterableDataset"):
        return None
    source = unformatted(source)  # (rows of Python values, whatever format was set)
    classes: dict[str, tuple[bool, list[str]]] = {}  # column -> (a list of ids?, names)
    for column, feature in (getattr(source, "features", None) or {}).items():
        inner = feature[0] if isinstance(feature, list) and len(feature) == 1 else None
        inner = getattr(feature, "feature", inner)  # Sequence(ClassLabel), List(ClassLabel)
        for nested, label in ((False, feature), (True, inner)):
            names = getattr(label, "names", None)
            if type(label).__name__ == "ClassLabel" and isinstance(names, list):
                classes[str(column)] = (nested, [str(n) for n in names])
    rows = source.to_list() if hasattr(source, "to_list") else [dict(r) for r in source]

    def name(i: Any, names: list[str]) -> Any:
        if isinstance(i, int) and 0 <= i < len(names):
            return names[i]
        return None if i == -1 or i is None else i  # an id out of range: the checks name it

    for row in rows:
        for column, (nested, names) in classes.items():
            value = row.get(column)
            if nested and isinstance(value, list):
                row[column] = [name(i, names) for i in value]
            elif not nested:
                row[column] = name(value, names)
    return [{str(k): v for k, v in row.items()} for row in rows]


def dataset_dict_splits(
    train: Any, validation: Any, test: Any, label_column: str
) -> tuple[Any, Any, Any]:
    """``train``, ``validation`` and ``test``, where ``train`` is a Hugging Face
    ``DatasetDict``: its "train" split, its "validation" (or "valid", "dev", "val") split
    and its "test" split, unless given. A split whose labels are all -1 (GLUE's test
    splits: no labels) is left out, with a warning. A folder that ``save_to_disk`` wrote
    (any of the three) is loaded first. Anything else passes as it is."""
    train, validation, test = (from_disk(x) for x in (train, validation, test))
    if kind(train) != "DatasetDict":
        return train, validation, test
    splits = dict(train)
    if "train" not in splits:
        raise ConfigError(
            f"the DatasetDict has no 'train' split (it has {', '.join(map(repr, splits))}); "
            "pass the one to train on, e.g. dataset['<name>'], and validation=/test="
        )

    def labelled(name: str) -> Any:
        split = splits[name]
        if kind(split) != "Dataset":  # (a streamed split is read once, by the readers)
            return split
        try:
            feature = split.features[label_column]
            values = unformatted(split).select_columns([label_column])[label_column]
        except (KeyError, TypeError, AttributeError, ValueError):
            return split  # the readers name a missing column
        values = list(values)
        if type(feature).__name__ == "ClassLabel" and values and all(v == -1 for v in values):
            warnings.warn(
                f"the DatasetDict's {name!r} split has no labels (every {label_column!r} is "
                "-1): it is left out; pass a labelled split as test=",
                stacklevel=4,
            )
            return None
        return split

    if validation is None:
        found = next((n for n in ("validation", "valid", "dev", "val") if n in splits), None)
        validation = labelled(found) if found else None
    if test is None and "test" in splits:
        test = labelled("test")
    return splits["train"], validation, test


def _plain(value: Any) -> Any:
    """``value`` with NumPy arrays, at any depth in dicts and lists, as lists."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def empty_split(name: str, source: Any) -> ConfigError:
    """The error for a split with no rows, naming its file when it came from one."""
    where = f" ({source} has no rows)" if isinstance(source, (str, os.PathLike)) else ""
    return ConfigError(f"the {name} split is empty{where}")


def split_at(name: str, source: Any, what: str, index: int) -> str:
    """A split as an error names it: with its file and the 1-based number of its row
    ``index`` (a record, a sentence) when it came from a file."""
    from .records import dataset_name

    if isinstance(source, (str, os.PathLike)) and dataset_name(source) is None:
        return f"the {name} split ({os.fspath(source)}, {what} {index + 1})"
    return f"the {name} split ({what} {index + 1})"


def check_splits(splits: dict[str, list[Any]], sources: dict[str, Any]) -> None:
    """Raises :func:`empty_split` for a split with no rows; warns when there is nothing
    but training data (a file has no splits of its own, unlike a dataset name): no epoch
    is scored, so the last one is kept and no scores come back."""
    for name, rows in splits.items():
        if not rows:
            raise empty_split(name, sources[name])
    if set(splits) == {"train"}:
        warnings.warn(
            "no validation or test data: the run is not scored (no best epoch: the last is "
            "kept, and the result holds no scores); pass validation= and test= "
            "(--validation, --test) with held-out files",
            stacklevel=4,
        )


def read_rows(
    path: Path, formats: tuple[str, ...], default: str | None = None, *, given: Any = None
) -> tuple[str, list[Row]]:
    """(format, rows) of a data file whose format is one of ``formats`` (``default`` for a
    name with no known suffix): dicts from csv, tsv, jsonl and a json list; for a json
    object (SQuAD's layout) the one object; for CoNLL the lines. The format comes from the
    name and is checked before the file is read. ``given``: the path as the caller was
    given it (``./imdb`` names no dataset, where ``imdb`` does)."""
    if path.is_dir():  # (said as such, not as a name of no known format)
        from .. import datasets

        raise ConfigError(
            f"{path} is a directory; pass a data file ({', '.join(formats)})"
            + datasets.shadowed(path if given is None else given, ("labelled", "tagged"))
        )
    kind = data_format(path) or default
    if kind not in formats:
        shown = ", ".join(f".{f}" for f in formats)
        from .. import datasets

        hint = "; tagged words (CoNLL) need task='tag' (--task tag)" if kind == "conll" else ""
        named = path if given is None else given
        hint += datasets.shadowed(named, ("labelled", "tagged")) if path.exists() else ""
        raise ConfigError(f"{path}: unknown or unsupported format; use {shown}{hint}")
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    if kind == "parquet":
        return kind, _parquet(path)
    if kind in ("csv", "tsv"):
        return kind, _delimited(path, read_text(path, newlines=False, given=given), kind)
    text = read_text(path, given=given)
    if kind == "jsonl":
        return kind, _json_lines(path, text)
    if kind == "json":
        try:
            value = json.loads(text, object_pairs_hook=_object)
        except RecursionError:
            raise ConfigError(_DEEP.format(path=path, where="the file")) from None
        except _KeyTwiceError as e:
            raise ConfigError(_TWICE.format(path=path, where="an object", key=e.key)) from None
        except json.JSONDecodeError as e:
            first = text.strip().split("\n", 1)[0]
            if text.lstrip().startswith("[") or "\n" not in text.strip() or not _json(first):
                # one value (a list, one line, or an object spread over lines: SQuAD's)
                raise ConfigError(
                    f"{path}: not JSON (line {e.lineno}, column {e.colno}: {e.msg})"
                ) from None
            return "jsonl", _json_lines(path, text)  # JSON Lines under a .json name
        except ValueError as e:  # an integer of thousands of digits
            raise ConfigError(_LONG_NUMBER.format(path=path, where="the file", e=e)) from None
        if isinstance(value, list):
            rows = [(f"record {i}", row) for i, row in enumerate(value, start=1)]
            return kind, _no_surrogates(path, _objects(path, rows))
        if isinstance(value, dict) and "\n" not in text.strip() and "data" not in value:
            # one record on one line: JSON Lines of one record, as datasets' to_json writes
            # a split of one row (SQuAD's layout, a "data" list, may be one line too)
            number = next(n for n, line in lines(text) if line.strip())
            return "jsonl", _no_surrogates(path, [(f"line {number}", value)])
        return kind, _no_surrogates(path, [("the file", value)])
    return kind, [(f"line {n}", line) for n, line in lines(text)]


def _parquet(path: Path) -> list[Row]:
    """A Parquet table's rows as dicts (lists and structs as Python lists and dicts)."""
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; pass one Parquet file")
    from .._corpus_records import pyarrow

    pa, pq = pyarrow(f"reading {path}")
    try:
        names = list(pq.read_schema(path).names)
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # (rows are dicts: one of the two would be lost)
            raise ConfigError(
                f"{path} has {names.count(twice[0])} columns named {twice[0]!r}; rename "
                "all but one of them"
            )
        table = pq.read_table(path)
        rows = table.to_pylist()
    except (pa.ArrowException, OSError) as e:
        raise ConfigError(f"{path}: not a readable Parquet file ({e})") from None
    except UnicodeDecodeError as e:  # (Arrow reads names and strings unchecked)
        raise ConfigError(
            f"{path}: a column name or string is not UTF-8 (byte 0x{e.object[e.start]:02x}); "
            "write the file from valid text"
        ) from None
    return [(f"row {i}", row) for i, row in enumerate(rows, start=1)]


def _json(line: str) -> bool:
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


def _json_lines(path: Path, text: str) -> list[Row]:
    rows: list[Row] = []
    for number, line in lines(text):
        if not line.strip():
            continue
        try:
            rows.append((f"line {number}", json.loads(line, object_pairs_hook=_object)))
        except _KeyTwiceError as e:
            where = f"line {number}"
            raise ConfigError(_TWICE.format(path=path, where=where, key=e.key)) from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: line {number} is not JSON ({e.msg})") from None
        except RecursionError:
            raise ConfigError(_DEEP.format(path=path, where=f"line {number}")) from None
        except ValueError as e:
            where = f"line {number}"
            raise ConfigError(_LONG_NUMBER.format(path=path, where=where, e=e)) from None
    return _no_surrogates(path, _objects(path, rows))


def _objects(path: Path, rows: list[Row]) -> list[Row]:
    """``rows``, each a JSON object: a record written as an array (``["pos", "a great
    film"]``) would be read by position, whatever columns were named (a label first became
    the text), so it is refused."""
    for where, row in rows:
        if isinstance(row, list):
            shown = json.dumps(row, ensure_ascii=False)
            shown = shown if len(shown) <= 60 else shown[:60] + "..."
            raise ConfigError(
                f"{path}: {where} is a JSON array ({shown}), "
                "not an object: its fields have no names, so no column can be found in it; "
                'write each record as an object, e.g. {"text": "...", "label": "..."}'
            )
    return rows


class _KeyTwiceError(Exception):
    """A JSON object that names a key twice (``json.loads`` would keep the last value)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, or ``_KeyTwiceError`` for a key given twice: a record's second
    "label" would silently replace its first, as a csv header's would (refused too)."""
    value = dict(pairs)
    if len(value) < len(pairs):
        keys = [k for k, _ in pairs]
        raise _KeyTwiceError(next(k for i, k in enumerate(keys) if k in keys[:i]))
    return value


_TWICE = (
    "{path}: {where} names the key {key!r} twice, and only one of its values could be "
    "read; rename or drop the other"
)

_LONG_NUMBER = (
    "{path}: {where} holds a number too long to read ({e}); write it as a string (in quotes)"
)

_DEEP = (
    "{path}: {where} nests JSON arrays or objects too deeply to read (thousands of levels); "
    "flatten the records"
)


def _no_surrogates(path: Path, rows: list[Row]) -> list[Row]:
    """The rows, checked for lone surrogates: JSON can spell one (``"\\ud800"``, half of a
    UTF-16 pair, common in scraped text), which no tokenizer can encode."""
    for where, row in rows:
        stack = [row]
        while stack:
            value = stack.pop()
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as e:
                    raise ConfigError(
                        f"{path}: {where}: the text {value[max(0, e.start - 20) : e.start]!r}... "
                        f"holds a lone surrogate {value[e.start]!r} (an escape that is half of a "
                        "UTF-16 pair); fix or drop that escape"
                    ) from None
            elif isinstance(value, dict):
                stack.extend(value.values())
                stack.extend(value.keys())
            elif isinstance(value, list):
                stack.extend(value)
    return rows


def _delimited(path: Path, text: str, kind: str) -> list[Row]:
    quoted = kind == "tsv" and tsv_quoted(io.StringIO(text, newline=""), path)
    source = io.StringIO(text, newline="")
    return list(delimited_rows(source, path, kind, ConfigError, quoted=quoted))
