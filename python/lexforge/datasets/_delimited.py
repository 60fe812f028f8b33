"""Readers for delimited text: ``rt-polarity`` (TSV) and ``news-2017`` (CSV).

``movieReviewSnippets_GroundTruth.txt`` has CRLF lines ``id<TAB>score<TAB>sentence`` with
a mean human rating in [-4, 4]; it is UTF-8 (a few bytes of curly quotes), read with a
latin-1 fallback. ``NewsArticles.csv`` has the header
``article_id,publish_date,article_source_link,title,subtitle,text``; its text keeps the
source's mangled quotes (``"?``) as published.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from lexforge.errors import DatasetIntegrityError

RT_FILE = "movieReviewSnippets_GroundTruth.txt"
NEWS_FILE = "NewsArticles.csv"


def decode(data: bytes) -> str:
    """UTF-8 if the bytes are valid UTF-8, else latin-1 (which accepts any byte)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def rt_scored(folder: Path) -> list[tuple[str, float]]:
    """(sentence, mean score) for every line, in the file's order."""
    path = folder / RT_FILE
    records: list[tuple[str, float]] = []
    for number, line in enumerate(decode(path.read_bytes()).splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            if len(fields) != 3:
                raise ValueError(f"{len(fields)} tab-separated fields, expected 3")
            records.append((fields[2].strip(), float(fields[1])))
        except ValueError as exc:
            raise DatasetIntegrityError(f"{path}:{number}: {exc}") from exc
    return records


def rt_polarity(folder: Path) -> list[tuple[str, str]]:
    """(sentence, "pos" | "neg") by the sign of the score; the 37 zero scores are dropped."""
    return [(text, "pos" if score > 0 else "neg") for text, score in rt_scored(folder) if score]


def news_articles(folder: Path) -> Iterator[str]:
    """Each article as title, subtitle and text on their own lines (empty parts left out)."""
    path = folder / NEWS_FILE
    reader = csv.DictReader(io.StringIO(decode(path.read_bytes()), newline=""))
    expected = {"title", "subtitle", "text"}
    if reader.fieldnames is None or not expected <= set(reader.fieldnames):
        raise DatasetIntegrityError(
            f"{path} has columns {reader.fieldnames}, expected at least {sorted(expected)}"
        )
    for row in reader:
        parts = (row["title"], row["subtitle"], row["text"])
        document = "\n".join(p.strip() for p in parts if p and p.strip())
        if document:
            yield document
