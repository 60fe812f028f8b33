"""tiktoken rank files: one ``<base64 token> <rank>`` per line; the rank is both the id and
the merge priority. The file holds no pattern and no special tokens, so they come from the
caller, or from the preset named like the file (``cl100k_base.tiktoken`` -> cl100k).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from lexforge._core import Bpe
from lexforge.errors import TokenizerFormatError
from lexforge.formats import atomic_write, read_text

# special tokens of the encodings tiktoken ships, by preset
PRESET_SPECIALS: dict[str, dict[str, int]] = {
    "gpt2": {"<|endoftext|>": 50256},
    "cl100k": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}
_FILE_PRESETS = {
    "r50k_base": "gpt2",
    "p50k_base": "gpt2",
    "gpt2": "gpt2",
    "cl100k_base": "cl100k",
    "o200k_base": "o200k",
}


def preset_for(path: Path) -> str | None:
    """The preset a rank file's name implies (``cl100k_base.tiktoken`` -> ``"cl100k"``)."""
    return _FILE_PRESETS.get(path.name.split(".")[0])


def load(path: Path, pattern: str, special_tokens: dict[str, int]) -> Bpe:
    """Reads a rank file."""
    ranks: list[tuple[bytes, int]] = []
    for lineno, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise TokenizerFormatError(
                f"{path}:{lineno}: expected '<base64 token> <rank>', got {line[:80]!r}; "
                "is this a tiktoken rank file (truncated?)"
            )
        try:
            token = base64.b64decode(parts[0], validate=True)
        except (binascii.Error, ValueError):
            raise TokenizerFormatError(
                f"{path}:{lineno}: {parts[0][:40]!r} is not base64"
            ) from None
        if not parts[1].isdigit():
            raise TokenizerFormatError(
                f"{path}:{lineno}: rank {parts[1]!r} is not a non-negative integer"
            )
        ranks.append((token, int(parts[1])))
    if not ranks:
        raise TokenizerFormatError(f"{path}: the file holds no ranks (empty or truncated)")
    try:
        return Bpe.from_ranks(ranks, sorted(special_tokens.items(), key=lambda s: s[1]), pattern)
    except TokenizerFormatError as e:
        raise TokenizerFormatError(f"{path}: {e}") from None


def save(bpe: Bpe, path: Path) -> None:
    """Writes the mergeable tokens as a rank file (ids become ranks). For a model trained or
    loaded with a merge list, tiktoken's rule (any adjacent pair whose concatenation is a
    token merges) can differ from the list on rare words; the HF format keeps the list."""
    lines = [f"{base64.b64encode(token).decode('ascii')} {tid}" for token, tid in bpe.vocab()]
    atomic_write(path, "\n".join(lines) + "\n")
