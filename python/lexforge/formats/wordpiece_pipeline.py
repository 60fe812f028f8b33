"""The ``normalizer`` and ``pre_tokenizer`` of a WordPiece ``tokenizer.json``, read into
the core's terms and written back as HF spells them.

Normalizers: null, ``BertNormalizer`` (the core's four switches), or HF's general ones
(``NFC``, ``NFD``, ``NFKC``, ``NFKD``, ``Lowercase``, ``StripAccents``, ``Strip`` and a
``Sequence`` of them: the core's step names). Pre-tokenizers: null (the whole text is one
word), ``BertPreTokenizer``, ``Whitespace``, ``WhitespaceSplit``, ``Punctuation`` (any
behavior), ``Digits`` and a ``Sequence`` of them (the core's split names). Anything else is
refused by name. The mechanism is ``rust/bert/pipeline.rs``; this module does not touch
the model, the added tokens or the post-processor (:mod:`lexforge.formats.bert`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lexforge._core import BertTokenizer
from lexforge.errors import TokenizerFormatError
from lexforge.formats.hf_post import flag

BertSwitches = tuple[bool, bool, bool, bool]

_STEPS = ("NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents")
_STRIP = {(True, True): "Strip", (True, False): "StripLeft", (False, True): "StripRight"}
_SPLITS = ("BertPreTokenizer", "Whitespace", "WhitespaceSplit")
_BEHAVIORS = ("Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous")
BERT_SPLITS = ["BertPreTokenizer"]


def _fail(path: Path, where: str, problem: str) -> TokenizerFormatError:
    return TokenizerFormatError(f"{path}: {where}: {problem}")


def _kind(raw: Any) -> Any:
    return raw.get("type") if isinstance(raw, dict) else raw


def _bert_switches(path: Path, norm: dict[str, Any]) -> BertSwitches:
    lowercase = flag(path, "normalizer", norm, "lowercase", True)
    strip = norm.get("strip_accents")  # null: as lowercase
    if strip is not None:
        strip = flag(path, "normalizer", norm, "strip_accents")
    return (
        flag(path, "normalizer", norm, "clean_text", True),
        flag(path, "normalizer", norm, "handle_chinese_chars", True),
        lowercase if strip is None else strip,
        lowercase,
    )


def _steps(path: Path, raw: Any, where: str) -> list[str]:
    kind = _kind(raw)
    if kind in _STEPS:
        return [kind]
    if kind == "Strip":
        sides = (flag(path, where, raw, "strip_left"), flag(path, where, raw, "strip_right"))
        return [_STRIP[sides]] if sides in _STRIP else []
    if kind == "Sequence":
        steps = raw.get("normalizers")
        if not isinstance(steps, list):
            raise _fail(path, f"{where}.normalizers", f"must be a list, got {steps!r}")
        return [s for i, step in enumerate(steps) for s in _steps(path, step, f"{where}[{i}]")]
    raise _fail(
        path, where, f"{kind!r} is not supported with WordPiece: lexforge applies "
        "BertNormalizer alone, or NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Strip and a "
        "Sequence of them (or null: none)",
    )  # fmt: skip


def _splits(path: Path, raw: Any, where: str) -> list[str]:
    kind = _kind(raw)
    if kind in _SPLITS:
        return [kind]
    if kind == "Punctuation":
        behavior = raw.get("behavior", "Isolated")
        if behavior not in _BEHAVIORS:
            raise _fail(path, f"{where}.behavior", f"{behavior!r} is not one of {_BEHAVIORS}")
        return [f"Punctuation:{behavior}"]
    if kind == "Digits":
        return ["Digits:individual" if flag(path, where, raw, "individual_digits") else "Digits"]
    if kind == "Sequence":
        splits = raw.get("pretokenizers")
        if not isinstance(splits, list):
            raise _fail(path, f"{where}.pretokenizers", f"must be a list, got {splits!r}")
        return [s for i, one in enumerate(splits) for s in _splits(path, one, f"{where}[{i}]")]
    raise _fail(
        path, where, f"{kind!r} is not supported with WordPiece: lexforge applies "
        "BertPreTokenizer, Whitespace, WhitespaceSplit, Punctuation, Digits and a Sequence "
        "of them (or null: the whole text is one word)",
    )  # fmt: skip


def read(path: Path, doc: dict[str, Any]) -> tuple[BertSwitches | None, list[str], list[str]]:
    """The file's BERT normalizer switches (or None), the core's normalizer steps (used
    without BERT's) and its pre-tokenizer splits."""
    norm = doc.get("normalizer")
    switches, steps = None, []
    if isinstance(norm, dict) and norm.get("type") == "BertNormalizer":
        switches = _bert_switches(path, norm)
    elif norm is not None:
        steps = _steps(path, norm, "normalizer")
    pre = doc.get("pre_tokenizer")
    return switches, steps, [] if pre is None else _splits(path, pre, "pre_tokenizer")


def _doc(entries: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    if not entries:
        return None
    return entries[0] if len(entries) == 1 else {"type": "Sequence", key: entries}


def normalizer_doc(core: BertTokenizer) -> dict[str, Any] | None:
    """The ``normalizer`` entry HF reads as the core's."""
    norm = core.normalizer
    if norm is not None:
        return {
            "type": "BertNormalizer",
            "clean_text": norm[0],
            "handle_chinese_chars": norm[1],
            "strip_accents": norm[2],
            "lowercase": norm[3],
        }
    sides = {name: sides for sides, name in _STRIP.items()}
    return _doc(
        [
            {"type": "Strip", "strip_left": sides[s][0], "strip_right": sides[s][1]}
            if s in sides
            else {"type": s}
            for s in core.pipeline[0]
        ],
        "normalizers",
    )


def pre_tokenizer_doc(core: BertTokenizer) -> dict[str, Any] | None:
    """The ``pre_tokenizer`` entry HF reads as the core's."""
    entries: list[dict[str, Any]] = []
    for name in core.pipeline[1]:
        kind, _, option = name.partition(":")
        if kind == "Punctuation":
            entries.append({"type": kind, "behavior": option})
        elif kind == "Digits":
            entries.append({"type": kind, "individual_digits": option == "individual"})
        else:
            entries.append({"type": kind})
    return _doc(entries, "pretokenizers")
