"""tiktoken rank files: one ``<base64 token> <rank>`` per line; the rank is both the id and
the merge priority. The file holds no pattern and no special tokens, so they come from the
caller, or from the preset of an encoding tiktoken ships when the file is that encoding's:
named after it (``cl100k_base.tiktoken`` -> cl100k) and holding its number of ranks.
"""

from __future__ import annotations

from pathlib import Path

from lexforge._core import Bpe, read_rank_lines
from lexforge.errors import ConfigError, TokenizerFormatError
from lexforge.formats import atomic_write, read_text, sha256_file

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
# the rank files of the encodings tiktoken ships, by name: their preset and number of ranks
ENCODINGS: dict[str, tuple[str, int]] = {
    "r50k_base": ("gpt2", 50_256),
    "gpt2": ("gpt2", 50_256),
    "p50k_base": ("gpt2", 50_280),
    "cl100k_base": ("cl100k", 100_256),
    "o200k_base": ("o200k", 199_998),
}
_MAX_RANK = 2**32 - 1  # ranks are 32-bit ids


# the same files by their sha256 (tiktoken's expected_hash): tiktoken's cache keeps them
# under the sha1 of their URL (9b5ad71b2ce5302211f9c61530b329a4922fc6a4 is cl100k_base's),
# and so do packages shipping that cache (litellm's litellm_core_utils/tokenizers/)
BY_SHA256: dict[str, str] = {
    "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930": "r50k_base",
    "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069": "p50k_base",
    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7": "cl100k_base",
    "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d": "o200k_base",
}


def encoding_for(path: Path) -> str | None:
    """The encoding a rank file is named after (``cl100k_base.tiktoken`` -> ``"cl100k_base"``),
    or, named otherwise, whose file it is byte for byte (tiktoken's cache names files by
    the sha1 of their URL)."""
    name = path.name.split(".")[0]
    if name in ENCODINGS:
        return name
    return BY_SHA256.get(sha256_file(path)) if path.is_file() else None


def preset_for(path: Path, n_ranks: int) -> str | None:
    """The preset of the encoding whose file this is: named after it and holding its number
    of ranks (``cl100k_base.tiktoken`` with 100,256 ranks -> ``"cl100k"``); else None."""
    name = encoding_for(path)
    if name is None or ENCODINGS[name][1] != n_ranks:
        return None
    return ENCODINGS[name][0]


def read_ranks(path: Path) -> list[tuple[bytes, int]]:
    """The ``(token, rank)`` pairs of a rank file, in file order: read in one pass by the
    core where every line is a plain ``<base64> <rank>``, else a line at a time here, each
    problem named."""
    text = read_text(path)
    ranks = read_rank_lines(text)
    if ranks is None:
        ranks = _checked_ranks(path, text)
    if not ranks:
        raise TokenizerFormatError(f"{path}: the file holds no ranks (empty or truncated)")
    return ranks


def _checked_ranks(path: Path, text: str) -> list[tuple[bytes, int]]:
    import base64
    import binascii

    ranks: list[tuple[bytes, int]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise TokenizerFormatError(
                f"{path}:{lineno}: expected '<base64 token> <rank>', got {line[:80]!r}; "
                "is this a tiktoken rank file (truncated?)"
            )
        if parts[0] == "=":
            # the empty token (Whisper's multilingual.tiktoken ends with "= 50256"), which
            # tiktoken reads as b"" and never matches: its rank stays unused, as there
            continue
        try:
            token = base64.b64decode(parts[0], validate=True)
        except (binascii.Error, ValueError):
            raise TokenizerFormatError(
                f"{path}:{lineno}: {parts[0][:40]!r} is not base64; a tiktoken rank file "
                "holds '<base64 token> <rank>' lines: is the file damaged, or of another kind?"
            ) from None
        if not (parts[1].isascii() and parts[1].isdigit()):
            raise TokenizerFormatError(
                f"{path}:{lineno}: rank {parts[1]!r} is not a non-negative integer; a tiktoken "
                "rank file holds '<base64 token> <rank>' lines: is the file damaged?"
            )
        rank = int(parts[1])
        if rank > _MAX_RANK:
            raise TokenizerFormatError(
                f"{path}:{lineno}: rank {rank} is above {_MAX_RANK} (ranks are 32-bit ids); "
                "is the file corrupt?"
            )
        ranks.append((token, rank))
    return ranks


def load(
    path: Path, ranks: list[tuple[bytes, int]], pattern: str, special_tokens: dict[str, int]
) -> Bpe:
    """Builds the model of a rank file read by :func:`read_ranks`."""
    try:
        return Bpe.from_ranks(ranks, sorted(special_tokens.items(), key=lambda s: s[1]), pattern)
    except TokenizerFormatError as e:
        raise TokenizerFormatError(f"{path}: {e}") from None


def no_pattern(path: Path, n_ranks: int) -> str:
    """Why a rank file cannot load without ``pattern=``, and what to pass."""
    fix = (
        "pass pattern= (the pattern it was trained with: a preset such as 'gpt2' or "
        "'cl100k', or a regex; `lexforge tokenize --pattern`) and, if it had special "
        "tokens, special_tokens={text: id}; a tokenizer.json records both"
    )
    name = encoding_for(path)
    if name is None:
        known = ", ".join(f"{n}.tiktoken" for n in ENCODINGS)
        return (
            f"{path}: a tiktoken rank file records no pre-tokenization pattern, and this one "
            f"is not named after a known encoding ({known}); {fix}"
        )
    expected = ENCODINGS[name][1]
    return (
        f"{path}: named after {name} but holds {n_ranks:,} ranks, not {expected:,}, so it is "
        f"not that encoding's file (truncated? fetch it again); for a file of your own, {fix}"
    )


def missing_ids(ranks: list[tuple[bytes, int]], shown: int = 5) -> str:
    """The first ids below the largest rank that no rank holds, as text ("" if none)."""
    top = max(rank for _, rank in ranks)
    if len(ranks) > top:  # distinct ranks (the core checked): all of 0..top are there
        return ""
    held = {rank for _, rank in ranks}
    missing = [i for i in range(top) if i not in held]
    more = f" and {len(missing) - shown:,} more" if len(missing) > shown else ""
    return ", ".join(map(str, missing[:shown])) + more


def check_specials(special_tokens: object) -> dict[str, int]:
    """``special_tokens`` for a rank file: ``{text: id}`` with 32-bit ids (a rank file has
    no ids of its own to give them)."""
    if not isinstance(special_tokens, dict):
        raise ConfigError(
            f"a tiktoken rank file needs special_tokens as {{text: id}}, got "
            f"{special_tokens!r}; the file holds no ids for special tokens to take"
        )
    for text, tid in special_tokens.items():
        if not isinstance(text, str) or not text:
            raise ConfigError(f"special_tokens: {text!r} is not a non-empty str")
        if isinstance(tid, bool) or not isinstance(tid, int) or not 0 <= tid < 2**32:
            raise ConfigError(
                f"special_tokens: the id of {text!r} must be an integer in 0..{2**32 - 1}, "
                f"got {tid!r}"
            )
    return special_tokens


def save(bpe: Bpe, path: Path) -> None:
    """Writes the mergeable tokens as a rank file (ids become ranks). For a model trained or
    loaded with a merge list, tiktoken's rule (any adjacent pair whose concatenation is a
    token merges) can differ from the list on rare words; the HF format keeps the list."""
    import base64

    lines = [f"{base64.b64encode(token).decode('ascii')} {tid}" for token, tid in bpe.vocab()]
    atomic_write(path, "\n".join(lines) + "\n")
