"""Readers for plain-text files: ``bbc-news`` (one article per file, one folder per topic)
and ``chinese-reviews`` (one review per line, ``pos.txt`` and ``neg.txt``).

BBC articles are UTF-8 except one latin-1 file (``sports/199.txt``); each is decoded on its
own with a latin-1 fallback. The review files repeat most lines two or three times and 47
reviews appear in both files; ``chinese_reviews`` keeps the first copy of each review and
drops the contradictory ones.
"""

from __future__ import annotations

import re
from pathlib import Path

from lexforge.datasets._delimited import decode
from lexforge.errors import DatasetIntegrityError

BBC_TOPICS = ("business", "entertainment", "politics", "sports", "tech")
_ARTICLE = re.compile(r"[0-9]+\.txt")


def bbc_news(folder: Path) -> list[tuple[str, str]]:
    """(article, topic) for every article, by topic then file name."""
    root = folder / "data"
    # (hidden entries are no data: a desktop's ._001.txt, .DS_Store, .ipynb_checkpoints/)
    topics = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if tuple(topics) != BBC_TOPICS:
        raise DatasetIntegrityError(f"{root} has topic folders {topics}, expected {BBC_TOPICS}")
    records: list[tuple[str, str]] = []
    for topic in topics:
        for path in sorted((root / topic).glob("*.txt")):
            if not _ARTICLE.fullmatch(path.name):  # the corpus names its articles 001.txt...
                continue
            text = decode(path.read_bytes()).replace("\r\n", "\n").strip()
            if text:
                records.append((text, topic))
    return records


def chinese_reviews(folder: Path) -> list[tuple[str, str]]:
    """(review, "pos" | "neg"): unique reviews, positives first, each in file order."""
    lines = {label: _unique_lines(folder / f"{label}.txt") for label in ("pos", "neg")}
    both = set(lines["pos"]) & set(lines["neg"])
    return [(text, label) for label, texts in lines.items() for text in texts if text not in both]


def _unique_lines(path: Path) -> list[str]:
    seen: dict[str, None] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text:
            seen.setdefault(text, None)
    return list(seen)
