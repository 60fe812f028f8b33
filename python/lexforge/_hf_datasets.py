"""Hugging Face ``datasets`` objects as lexforge data, without importing ``datasets``
unless a folder that ``save_to_disk`` wrote must be read: a program that made a Dataset
has imported it.

:func:`from_disk` reads such a folder; :func:`dataset_records` turns a Dataset (a
DatasetDict's "train" split, a folder) into a cached JSON Lines file of its text column,
which corpora (shards, pretraining, tokenizer training) read as any records file."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._json import loads_json
from .errors import ConfigError, CorpusError


def kind(value: Any) -> str | None:
    """``"Dataset"``, ``"IterableDataset"`` or ``"DatasetDict"`` for those ``datasets``
    objects (an ``IterableDatasetDict``, what ``load_dataset(..., streaming=True)`` gives,
    is a ``"DatasetDict"``: splits by name), else None."""
    module = sys.modules.get("datasets")
    for name in ("DatasetDict", "IterableDatasetDict", "IterableDataset", "Dataset"):
        cls = getattr(module, name, None)
        if cls is not None and isinstance(value, cls):
            return "DatasetDict" if name.endswith("Dict") else name
    return None


def unformatted(data: Any) -> Any:
    """A Dataset (or IterableDataset) with no format set: rows of plain Python values and
    every column, whatever ``set_format``/``with_format`` (torch, pandas, arrow, a subset
    of the columns) the caller left on it."""
    reset = getattr(data, "with_format", None)
    return data if reset is None else reset(None)


def is_disk_folder(source: Any) -> bool:
    """Whether ``source`` is a folder that ``save_to_disk`` wrote: a DatasetDict's (its
    ``dataset_dict.json`` lists the splits) or a Dataset's (a ``state.json`` that names
    its Arrow files, beside a ``dataset_info.json``). A corpus folder that merely holds a
    ``state.json`` (a checkpoint's, say) is not one."""
    # (os.path: False for a name the file system cannot hold, a text passed as a path,
    # where Path.is_dir raises)
    if not isinstance(source, (str, os.PathLike)) or not os.path.isdir(source):  # noqa: PTH112
        return False
    folder = Path(source)
    if "splits" in _json_object(folder / "dataset_dict.json"):
        return True
    return (folder / "dataset_info.json").is_file() and "_data_files" in _json_object(
        folder / "state.json"
    )


def _json_object(path: Path) -> dict[str, Any]:
    """The JSON object in a small file, or {} for anything else (no file, not JSON)."""
    try:
        if path.stat().st_size > 1 << 20:
            return {}
        value = loads_json(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def from_disk(source: Any) -> Any:
    """A ``save_to_disk`` folder as the Dataset or DatasetDict it holds; anything else as
    it is."""
    if not is_disk_folder(source):
        return source
    try:
        datasets = importlib.import_module("datasets")  # (untyped: no stubs)
    except ImportError:
        raise ConfigError(
            f"{source} is a Hugging Face dataset folder (save_to_disk's); reading it needs "
            "the datasets package: pip install datasets (or save it as csv, JSON Lines or "
            "Parquet)"
        ) from None
    try:
        return datasets.load_from_disk(str(source))
    except Exception as e:  # (datasets' own errors, and IndexError for an empty one)
        raise ConfigError(
            f"{source}: a Hugging Face dataset folder (save_to_disk's) that datasets could "
            f"not read ({type(e).__name__}: {e}); save the dataset again, or as JSON Lines"
        ) from None


def dataset_records(source: Any, text_column: str | None) -> Path | None:
    """A Dataset (a DatasetDict: its "train" split; a ``save_to_disk`` folder) as a cached
    JSON Lines file of its ``text_column`` (default: ``text``, else its only text column),
    under that column's name, one record a text (null ones left out): read as any records
    file is (a document each, texts as they are); None for anything else. ``CorpusError``
    when no record holds text, or one holds what is not text."""
    data = _one_split(from_disk(source))
    if data is None:
        return None
    column = _text_column(data, text_column)
    digest, count = hashlib.sha256(), 0
    raw_column = column.encode("utf-8", "surrogatepass")  # (the records carry its name)
    digest.update(len(raw_column).to_bytes(8, "little") + raw_column)
    for i, text in enumerate(_texts(data, column)):
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise CorpusError(
                f"the dataset's record {i}: its {column!r} holds a lone surrogate "
                f"{text[e.start]!r} (half of a UTF-16 pair); fix or drop it"
            ) from None
        digest.update(len(raw).to_bytes(8, "little") + raw)
        count += bool(text.strip())
    if not count:
        raise CorpusError(f"no record of the dataset holds any text in {column!r}")
    from ._corpus_files import sweep_building
    from .datasets._fetch import cache_root
    from .formats import write_failed

    name = column.encode("utf-8")[:40].decode("utf-8", "ignore").replace(os.sep, "_")
    target = cache_root() / "corpora" / f"dataset-{name}.{digest.hexdigest()[:24]}.jsonl"
    if target.is_file():
        return target
    building: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        sweep_building(target)  # (what a write into it that was killed left)
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.building-", dir=target.parent)
        building = Path(name)
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            for text in _texts(data, column):
                out.write(json.dumps({column: text}, ensure_ascii=False) + "\n")
        building.chmod(0o644)
        building.replace(target)
    except OSError as e:
        raise write_failed(target, e, " (LEXFORGE_CACHE sets the cache)") from None
    finally:
        if building is not None:
            building.unlink(missing_ok=True)
    return target


def _text_column(data: Any, text_column: str | None) -> str:
    names = [str(n) for n in (getattr(data, "column_names", None) or [])]
    if not names and kind(data) == "IterableDataset":  # (columns unknown: the first row's)
        first = next(iter(unformatted(data)), None)
        names = [str(n) for n in first] if isinstance(first, dict) else []
    if text_column is not None:
        if text_column not in names:
            raise ConfigError(
                f"the dataset has no column {text_column!r} (it has "
                f"{', '.join(map(repr, names))}); name the text column with text_column= "
                "(--text-column)"
            )
        return text_column
    if "text" in names:
        return "text"
    features = getattr(data, "features", None) or {}
    strings = [
        n for n in names
        if getattr(features.get(n), "dtype", None) in ("string", "large_string")
    ]  # fmt: skip
    if len(strings) == 1:
        return strings[0]
    raise ConfigError(
        f"which column is the text? The dataset has {', '.join(map(repr, names))}; name it "
        "with text_column= (--text-column)"
    )


def _texts(data: Any, column: str) -> Iterator[str]:
    """The column's texts, in order; null ones skipped, anything else not a str refused."""
    for i, text in enumerate(_column(data, column)):
        if text is None:
            continue
        if not isinstance(text, str):
            raise CorpusError(
                f"the dataset's record {i}: its {column!r} holds a {type(text).__name__} "
                f"({str(text)[:40]!r}), not text; name the text column with text_column="
            )
        yield text


def _column(data: Any, column: str) -> Iterator[Any]:
    """The column's values, a thousand rows at a time (a corpus column may not fit in
    memory as one list)."""
    data = unformatted(data)
    if kind(data) != "Dataset":
        for i, row in enumerate(data):
            if column not in row:  # (a streamed dataset's rows may differ)
                raise CorpusError(
                    f"the dataset's record {i} has no column {column!r} (it has "
                    f"{', '.join(map(repr, row))}); name the text column with text_column="
                )
            yield row[column]
        return
    if hasattr(data, "select_columns"):
        data = data.select_columns([column])
    for batch in data.iter(batch_size=1000):
        yield from batch[column]


def column_texts(source: Any, text_column: str | None) -> list[str] | None:
    """A Dataset's (a DatasetDict's "train" split, a ``save_to_disk`` folder's) text column
    as a list with one text per row, a null one as "" (rows stay aligned with the
    records: ``lexforge embed`` writes a vector per row); None for anything else."""
    rows = row_texts(source, text_column)
    return None if rows is None else list(rows)


def row_texts(source: Any, text_column: str | None) -> Iterator[str] | None:
    """:func:`column_texts` as it is read, for a column too big to hold as one list; its
    column is checked at once (it raises here, not while iterating)."""
    data = _one_split(from_disk(source))
    if data is None:
        return None
    column = _text_column(data, text_column)

    def rows() -> Iterator[str]:
        for i, text in enumerate(_column(data, column)):
            if text is not None and not isinstance(text, str):
                raise CorpusError(
                    f"the dataset's record {i}: its {column!r} holds a "
                    f"{type(text).__name__} ({str(text)[:40]!r}), not text; name the text "
                    "column with text_column="
                )
            yield text or ""

    return rows()


def _one_split(data: Any) -> Any:
    """A Dataset as it is, a DatasetDict's "train" split, None for anything else."""
    found = kind(data)
    if found is None:
        return None
    if found == "DatasetDict":
        splits = list(data)
        if "train" not in splits:
            raise ConfigError(
                f"the DatasetDict has no 'train' split (it has {', '.join(map(repr, splits))})"
                "; pass the split to read, e.g. dataset['<name>'] (from the shell: save "
                "that split alone with save_to_disk and pass its folder)"
            )
        return data["train"]
    return data
