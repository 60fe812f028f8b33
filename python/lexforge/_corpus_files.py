"""Corpora in the user's data formats: JSON Lines, JSON, csv, tsv and Parquet files (and
gzip-compressed ones, ``corpus.jsonl.gz``, ``corpus.txt.gz``) are read record by record
into a plain-text corpus file, which the Rust readers then stream like any other.

The text file has the layout of :func:`lexforge.datasets.corpus_text`: each record is one
document (its lines kept, empty ones dropped), documents separated by one blank line. It
is written atomically into ``<cache>/corpora/`` under a name that depends on the source
file's path and the column read, and is reused while the source is unchanged (a file only
touched is compared by its sha256); a changed source is read afresh into the same name,
so shard builds resume against an unchanged one and refuse a changed one.

Tokenizer training reads the text as it is instead (:func:`as_raw_text`,
:func:`document_texts`): a ``.txt.gz`` decompressed byte for byte (cached under another
name), a record's text counted whole with its line ends and spaces, so that training on a
compressed file gives the tokenizer its uncompressed file gives.

How the texts are read from each format (the text column, the errors) is
:mod:`lexforge._corpus_records`.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import hashlib
import json
import os
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ._corpus_records import WHITE_SPACE, corpus_format, texts
from ._json import loads_json
from .errors import ConfigError, CorpusError

_VERSION = 2  # of the text layout: bump to rebuild every cached corpus file


def is_records(path: Path) -> bool:
    """Whether ``path`` is read record by record (JSON Lines, JSON, csv, tsv, Parquet, or
    one of those gzip-compressed), so that a text column applies to it."""
    return corpus_format(path) not in (None, "gzip") and not path.is_dir()


def check_text_column(text_column: Any, paths: Iterable[Path], name: str = "text_column") -> None:
    """Refuses a ``text_column`` that is not a name, or that no file of ``paths`` has
    (none is a records file, or a Hugging Face dataset's folder: plain text is read by its
    name, whatever it holds). ``name`` is the option's, as the messages call it."""
    if text_column is None:
        return
    if not isinstance(text_column, str) or not text_column:
        raise ConfigError(f"{name} must be a column name, got {text_column!r}")
    from ._hf_datasets import is_disk_folder

    paths = list(paths)
    if not any(is_records(p) or is_disk_folder(p) for p in paths):
        shown = ", ".join(str(p) for p in paths[:3]) + (", ..." if len(paths) > 3 else "")
        raise ConfigError(
            f"{name}={text_column!r} applies to records files (.jsonl, .json, .csv, "
            f".tsv, .parquet, or those .gz), but {shown} is read as plain text by its name; "
            f"rename a records file to its format's suffix, or leave {name} out"
        )


def as_texts(paths: list[Path], text_column: str | None = None) -> list[Path]:
    """:func:`as_text` of each file of a corpus, ``text_column`` checked once for them all;
    a records file with no text is refused only when it is the whole corpus (in a larger
    one it is as welcome as an empty text file)."""
    check_text_column(text_column, paths)
    return [as_text(p, text_column, alone=len(paths) == 1) for p in paths]


def as_text(path: Path, text_column: str | None = None, *, alone: bool = True) -> Path:
    """``path`` itself when it is plain text, else its text as a cached corpus file (a
    records file with no text is a ``CorpusError`` when ``alone``: it is the corpus)."""
    kind = corpus_format(path)
    if kind is None or path.is_dir():
        return path
    if text_column is not None and (not isinstance(text_column, str) or not text_column):
        raise ConfigError(f"text_column must be a column name, got {text_column!r}")
    from .datasets._loaders import write_corpus

    def write(building: Path) -> None:
        found = 0

        def counted() -> Iterator[str]:
            nonlocal found
            for text in texts(path, kind, text_column):
                found += bool(text.strip(WHITE_SPACE))
                yield text

        write_corpus(counted(), building)
        if not found and alone:
            building.unlink(missing_ok=True)
            what = "line" if kind == "gzip" else "record"
            raise CorpusError(f"{path}: no {what} holds any text; the corpus would be empty")

    key = [_VERSION, str(path.resolve()), kind, text_column]
    return _cached(path, key, ".txt", write)


def as_raw_text(path: Path) -> Path:
    """For tokenizer training: ``path`` itself when it is plain text, and a gzip-compressed
    text (``corpus.txt.gz``) as its bytes decompressed unchanged (line ends, blank lines,
    spaces at line ends all kept) into a cached file, so it trains exactly like the
    uncompressed file. Records files are not text: read them with :func:`document_texts`."""
    kind = corpus_format(path)
    if kind is None or path.is_dir():
        return path
    if kind != "gzip":
        raise ValueError(f"{path} is a records file; read its texts with document_texts")

    def write(building: Path) -> None:
        try:
            out = building.open("wb")
        except OSError as e:
            raise _cache_write_failed(building, e) from None
        with out, gzip.open(path) as source:
            while True:
                try:
                    chunk = source.read(1 << 20)
                except (OSError, EOFError, zlib.error) as e:
                    raise CorpusError(f"{path}: cannot be read ({e})") from None
                if not chunk:
                    break
                try:
                    out.write(chunk)
                except OSError as e:
                    raise _cache_write_failed(building, e) from None

    # its own name: the paragraph layout of the same file (as_text) is another text
    return _cached(path, ["raw", _VERSION, str(path.resolve()), kind], ".raw.txt", write)


def document_texts(path: Path, text_column: str | None = None) -> Iterator[str]:
    """The texts of a records file's records exactly as they are (line ends and spaces
    kept), one per record; empty and null texts are skipped."""
    kind = corpus_format(path)
    if kind in (None, "gzip"):
        raise ValueError(f"{path} is not a records file")
    yield from texts(path, kind, text_column)


def _cache_write_failed(path: Path, e: OSError) -> OSError:
    from .formats import write_failed

    return write_failed(path, e, " (LEXFORGE_CACHE sets the cache)")


def _cached(path: Path, key: list[Any], suffix: str, write: Callable[[Path], None]) -> Path:
    """The cached file for the text of ``path`` under ``key`` (the layout, the source's
    path and what is read of it), (re)written by ``write(building)`` unless it holds the
    text of the source as it is now."""
    from .datasets._fetch import cache_root
    from .formats import atomic_write, sha256_file

    digest = hashlib.sha256(json.dumps(key).encode("utf-8")).hexdigest()[:16]
    # the name's start only: with the digest and the temporary names' decorations a
    # legal name near 255 bytes would pass the file system's limit
    short = path.name.encode("utf-8", "surrogateescape")[:96].decode("utf-8", "ignore")
    target = cache_root() / "corpora" / f"{short}.{digest}{suffix}"
    record = target.with_name(f"{short}.{digest}.source.json")
    stat = path.stat()
    # the size and times say the source is unchanged: its change time too, which no copy
    # sets (cp -p, rsync -t and tar give a new file the old file's size and mtime)
    now = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns,
           "inode": stat.st_ino}  # fmt: skip
    seen = _read_record(record) if target.is_file() else None
    if seen is not None and seen.get("size") == stat.st_size:
        if all(seen.get(name) == value for name, value in now.items()):
            return target
        if seen.get("sha256") == sha256_file(path):  # touched, not changed
            atomic_write(record, json.dumps({**seen, **now}))
            return target
    # this process's own file: processes converting the same source at once each write
    # theirs, and each rename leaves the same text in place
    building = target.with_name(f".{target.name}.building.{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _cache_write_failed(target, e) from None
    building.unlink(missing_ok=True)
    sweep_building(target)
    try:
        write(building)
        building.replace(target)
    finally:
        building.unlink(missing_ok=True)
    atomic_write(
        record, json.dumps({"path": str(path.resolve()), **now, "sha256": sha256_file(path)})
    )
    return target


def sweep_building(target: Path) -> None:
    """Removes what conversions into ``target`` that were killed left (their files, as big
    as the corpus): those untouched for ten minutes, since a running conversion (another
    process's, say) writes to its file all the time."""
    cutoff = time.time() - 600
    # (".NAME.building.PID", and write_corpus's "..NAME.building.PID-XXXXXXXX")
    for stale in target.parent.glob(f".*{glob.escape(target.name)}.building*"):
        with contextlib.suppress(OSError):
            if stale.stat().st_mtime < cutoff:
                stale.unlink()


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        value = loads_json(path.read_bytes())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
