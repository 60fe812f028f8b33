"""GPT-2's own files: ``vocab.json`` (a.k.a. ``encoder.json``: byte-level token -> id) and
``merges.txt`` (a.k.a. ``vocab.bpe``: an optional ``#version`` line, then one ``a b`` merge
per line, highest priority first). Read and write.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lexforge import _bytelevel
from lexforge._core import Bpe
from lexforge.errors import TokenizerFormatError
from lexforge.formats import atomic_write_all, read_json, read_text
from lexforge.formats.hf_json import warn_missing_bytes

GPT2_SPECIALS = ("<|endoftext|>",)


def find_pair(path: Path) -> tuple[Path, Path]:
    """Given a directory, a vocab file or a merges file, the (vocab, merges) pair."""
    folder = path if path.is_dir() else path.parent
    vocab = next(
        (folder / n for n in ("vocab.json", "encoder.json") if (folder / n).exists()), None
    )
    merges = next((folder / n for n in ("merges.txt", "vocab.bpe") if (folder / n).exists()), None)
    if not path.is_dir():
        if path.suffix == ".json":
            vocab = path
        else:
            merges = path
    if vocab is None or merges is None:
        missing = "vocab.json (or encoder.json)" if vocab is None else "merges.txt (or vocab.bpe)"
        raise FileNotFoundError(
            f"{missing} not found next to {path}; GPT-2 tokenizers need both files"
        )
    return vocab, merges


def load(
    vocab_path: Path,
    merges_path: Path,
    special_tokens: tuple[str, ...] | None = None,
    raw_vocab: Any = None,
) -> Bpe:
    """Reads a GPT-2 vocabulary and merges. Tokens listed in ``special_tokens`` (default:
    ``<|endoftext|>`` if present) become special tokens. ``raw_vocab``: the parsed
    vocabulary JSON, if at hand."""
    if raw_vocab is None:
        raw_vocab = read_json(vocab_path)
    if not isinstance(raw_vocab, dict):
        raise TokenizerFormatError(f"{vocab_path}: must be a JSON object {{token: id}}")
    wanted = set(GPT2_SPECIALS if special_tokens is None else special_tokens)
    vocab: list[tuple[bytes, int]] = []
    specials: list[tuple[str, int]] = []
    by_text: dict[str, bytes] = {}
    for token, tid in raw_vocab.items():
        if isinstance(tid, bool) or not isinstance(tid, int) or not 0 <= tid < 2**32:
            raise TokenizerFormatError(
                f"{vocab_path}: token {token!r} has id {tid!r}, not an integer in [0, 2**32)"
            )
        if token in wanted:
            specials.append((token, tid))
            continue
        raw = _bytelevel.decode(token)
        if raw is None:
            raise TokenizerFormatError(
                f"{vocab_path}: token {token!r} has characters outside the byte-level alphabet; "
                "if it is a special token, pass it in special_tokens"
            )
        vocab.append((raw, tid))
        by_text[token] = raw
    if special_tokens is not None and len(specials) != len(wanted):
        missing = sorted(wanted - {t for t, _ in specials})
        raise TokenizerFormatError(
            f"{vocab_path}: special tokens {missing} are not in the vocabulary"
        )

    merges: list[tuple[bytes, bytes]] = []
    for lineno, line in enumerate(read_text(merges_path).split("\n"), start=1):
        line = line.rstrip("\r")
        if not line or (lineno == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise TokenizerFormatError(
                f"{merges_path}:{lineno}: {line!r} is not a merge 'left right'"
            )
        for part in parts:
            if part not in by_text:
                raise TokenizerFormatError(
                    f"{merges_path}:{lineno}: {part!r} is not in {vocab_path.name}; "
                    "the two files do not belong together"
                )
        if parts[0] + parts[1] not in by_text:
            raise TokenizerFormatError(
                f"{merges_path}:{lineno}: the merged token {parts[0] + parts[1]!r} "
                f"is not in {vocab_path.name}"
            )
        merges.append((by_text[parts[0]], by_text[parts[1]]))
    try:
        bpe = Bpe.from_merges(vocab, merges, specials, "gpt2", False)
    except TokenizerFormatError as e:
        raise TokenizerFormatError(f"{vocab_path} + {merges_path}: {e}") from None
    warn_missing_bytes(f"{vocab_path} + {merges_path}", bpe)
    return bpe


def save(bpe: Bpe, folder: Path) -> tuple[Path, Path]:
    """Writes ``vocab.json`` and ``merges.txt`` into ``folder``, atomically as a pair (a
    failed save leaves the folder's earlier pair as it was)."""
    text = {tid: _bytelevel.encode(token) for token, tid in bpe.vocab()}
    vocab = {t: tid for tid, t in sorted(text.items())}
    for content, tid in bpe.specials():
        vocab[content] = tid
    lines = ["#version: 0.2", *(f"{text[a]} {text[b]}" for a, b in bpe.merges())]
    vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
    atomic_write_all([
        (vocab_path, json.dumps(vocab, ensure_ascii=False)),
        (merges_path, "\n".join(lines) + "\n"),
    ])  # fmt: skip
    return vocab_path, merges_path
