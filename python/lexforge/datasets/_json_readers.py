"""Readers for the JSON datasets: ``wiki-leads`` and ``sharegpt``.

``wiki-leads`` is a JSON object per language, title -> {title, extract, description, topic}.
``sharegpt`` is one 125 MB JSON array of {id, conversations: [{from, value}]}, cut off in
the middle of its last conversation; it is parsed as a stream with ``raw_decode``, one
element at a time, so memory stays bounded and the cut tail ends the stream quietly
instead of raising. Files are read, never imported.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from lexforge._json import loads_json
from lexforge.errors import DatasetIntegrityError

_WIKI_FILES = {"en": "en-us.json", "fr": "fr-fr.json", "es": "es-es.json"}
SHAREGPT_FILE = "ShareGPT_V3_unfiltered_cleaned_split.json"


def wiki_leads(folder: Path, lang: str) -> list[tuple[str, str]]:
    """(lead, topic) for every article of one language, in the file's order."""
    path = folder / _WIKI_FILES[lang]
    try:
        data = loads_json(path.read_text(encoding="utf-8"))
        return [(str(a["extract"]).strip(), str(a["topic"])) for a in data.values()]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DatasetIntegrityError(f"{path} is not the expected wiki-leads JSON: {exc!r}") from exc


def sharegpt(folder: Path) -> Iterator[str]:
    """Each complete conversation's turns joined by newlines; empty ones are skipped."""
    for element in iter_json_array(folder / SHAREGPT_FILE):
        turns = element.get("conversations") if isinstance(element, dict) else None
        if not isinstance(turns, list):
            continue
        values = [t.get("value") for t in turns if isinstance(t, dict)]
        text = "\n".join(v.strip() for v in values if isinstance(v, str) and v.strip())
        if text:
            yield text


def iter_json_array(path: Path, *, chunk_chars: int = 1 << 22) -> Iterator[Any]:
    """Yield the elements of a top-level JSON array, tolerating a truncated end.

    The file is decoded incrementally (an incomplete UTF-8 sequence at the cut is held
    back, not an error). An element is only yielded once text follows it or the file
    ends, so a value cut at a chunk boundary is re-read whole. At end of file, an element
    that does not parse (the truncated tail) ends the iteration.
    """
    decoder = json.JSONDecoder()
    with path.open("rb") as raw:
        text = _Text(raw, chunk_chars)
        first = text.skip(_SPACE)
        if first is None:
            return
        if first != "[":
            raise DatasetIntegrityError(f"{path} does not start with a JSON array")
        text.pos += 1
        while True:
            char = text.skip(_SPACE + ",")
            if char is None or char == "]":
                return
            try:
                value, end = decoder.raw_decode(text.buffer, text.pos)
            except json.JSONDecodeError:
                if text.more():
                    continue
                return  # the truncated tail
            if end >= len(text.buffer) and text.more():
                continue  # the value may go on in the next chunk: parse it again
            text.pos = end
            yield value


_SPACE = " \t\r\n"


class _Text:
    """A window of decoded text over a binary stream; ``pos`` is the read position."""

    def __init__(self, raw: IO[bytes], chunk_chars: int) -> None:
        self.raw = raw
        self.chunk = chunk_chars
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.buffer = ""
        self.pos = 0
        self.eof = False

    def more(self) -> bool:
        """Append the next chunk, dropping consumed text; False at end of file."""
        if self.eof:
            return False
        block = self.raw.read(self.chunk)
        self.eof = not block
        self.buffer = self.buffer[self.pos :] + self.utf8.decode(block, final=False)
        self.pos = 0
        return True

    def skip(self, chars: str) -> str | None:
        """Move past ``chars``; the next other character, or None at end of file."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in chars:
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self.more():
                return None
