"""HF ``tokenizers``' ``tokenizer.json`` for byte-level BPE: read and write.

Read: a ``BPE`` model with a ``ByteLevel`` pre-tokenizer (GPT-2's regex) or a ``Sequence``
of ``Split`` (any regex, ``Isolated``) and ``ByteLevel(use_regex=false)``; merges spelled as
``"a b"`` strings or ``["a", "b"]`` pairs; ``added_tokens`` marked special. Components that
would change the ids (a normalizer, ``add_prefix_space``, dropout, an unknown token, stripping
added tokens) are refused with a message naming them rather than silently ignored.

Write: the same shape, which HF ``tokenizers`` loads and encodes identically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lexforge import _bytelevel
from lexforge._core import Bpe
from lexforge.errors import TokenizerFormatError
from lexforge.formats import atomic_write, read_json

GPT2_PRESET = "gpt2"
# Oniguruma (HF's regex engine) reads `{1,3}+` as "repeat the group", not as possessive, so
# presets are written in spellings that cut the same pieces there. The Rust core recognises
# these spellings as the presets when they are read back.
ONIG_SPELLING = {
    "cl100k": r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s",  # noqa: E501
}


def _fail(path: Path, where: str, problem: str) -> TokenizerFormatError:
    return TokenizerFormatError(f"{path}: {where}: {problem}")


def _pattern_of(path: Path, pre: Any) -> str:
    """The split regex of a supported pre-tokenizer description."""
    if not isinstance(pre, dict):
        raise _fail(
            path, "pre_tokenizer", "missing; byte-level BPE needs a ByteLevel pre-tokenizer"
        )
    kind = pre.get("type")
    if kind == "ByteLevel":
        if pre.get("add_prefix_space"):
            raise _fail(
                path,
                "pre_tokenizer.add_prefix_space",
                "true is not supported (it inserts a space before each text); "
                "save the tokenizer with add_prefix_space=false",
            )
        if pre.get("use_regex", True) is False:
            raise _fail(
                path, "pre_tokenizer", "ByteLevel without a regex splits nothing; unsupported"
            )
        return GPT2_PRESET
    if kind == "Sequence":
        steps = pre.get("pretokenizers") or []
        splits = [s for s in steps if isinstance(s, dict) and s.get("type") == "Split"]
        levels = [s for s in steps if isinstance(s, dict) and s.get("type") == "ByteLevel"]
        if len(steps) == 1 and len(levels) == 1:
            return _pattern_of(path, levels[0])
        if len(steps) != 2 or len(splits) != 1 or len(levels) != 1 or steps[1] is not levels[0]:
            raise _fail(
                path,
                "pre_tokenizer",
                "only Sequence[Split(regex), ByteLevel(use_regex=false)] is supported",
            )
        split, level = splits[0], levels[0]
        regex = (
            split.get("pattern", {}).get("Regex")
            if isinstance(split.get("pattern"), dict)
            else None
        )
        if not isinstance(regex, str):
            raise _fail(path, "pre_tokenizer.Split.pattern", "must be {'Regex': '...'}")
        if split.get("behavior", "Isolated") != "Isolated" or split.get("invert", False):
            raise _fail(
                path, "pre_tokenizer.Split", "only behavior='Isolated', invert=false is supported"
            )
        if level.get("add_prefix_space") or level.get("use_regex", True):
            raise _fail(
                path,
                "pre_tokenizer.ByteLevel",
                "after a Split it must have add_prefix_space=false and use_regex=false",
            )
        return regex
    raise _fail(path, "pre_tokenizer", f"type {kind!r} is not supported for byte-level BPE")


def _check_model(path: Path, model: Any) -> dict[str, Any]:
    if not isinstance(model, dict) or model.get("type", "BPE") != "BPE":
        kind = model.get("type") if isinstance(model, dict) else model
        raise _fail(
            path,
            "model.type",
            f"{kind!r} is not supported: lexforge reads WordPiece and byte-level BPE "
            "tokenizer.json files (not Unigram, WordLevel or SentencePiece models)",
        )
    neutral: dict[str, tuple[object, ...]] = {
        "dropout": (None, 0, 0.0),
        "unk_token": (None,),
        "continuing_subword_prefix": (None, ""),
        "end_of_word_suffix": (None, ""),
        "byte_fallback": (None, False),
    }
    for key, allowed in neutral.items():
        if model.get(key) not in allowed:
            raise _fail(
                path, f"model.{key}", f"{model.get(key)!r} is not supported for byte-level BPE"
            )
    for key in ("vocab", "merges"):
        if key not in model:
            raise _fail(path, f"model.{key}", "missing (truncated or not a BPE tokenizer.json?)")
    return model


def _merges(path: Path, raw: Any) -> list[tuple[str, str]]:
    if not isinstance(raw, list):
        raise _fail(path, "model.merges", "must be a list")
    out: list[tuple[str, str]] = []
    for i, m in enumerate(raw):
        parts = m.split(" ") if isinstance(m, str) else m
        if (
            not isinstance(parts, list)
            or len(parts) != 2
            or not all(isinstance(p, str) for p in parts)
        ):
            raise _fail(
                path, f"model.merges[{i}]", f"{m!r} is not a pair of tokens ('a b' or ['a', 'b'])"
            )
        out.append((parts[0], parts[1]))
    return out


@dataclass(frozen=True)
class OffsetTrim:
    """The offset options of a ByteLevel post-processor: ``trim`` drops a token's spaces
    from its span, except (``add_prefix_space``) one space before the first token."""

    trim: bool = False
    add_prefix_space: bool = False


def offset_trim(path: Path, doc: Any) -> OffsetTrim | None:
    """The ByteLevel post-processor's offset options, None without one."""
    post = doc.get("post_processor") if isinstance(doc, dict) else None
    if not isinstance(post, dict):
        return None
    flags = {}
    for key in ("trim_offsets", "add_prefix_space"):
        value = post.get(key, False)
        if not isinstance(value, bool):
            raise _fail(path, f"post_processor.{key}", f"must be true or false, got {value!r}")
        flags[key] = value
    return OffsetTrim(flags["trim_offsets"], flags["add_prefix_space"])


def load(path: Path, doc: Any = None) -> Bpe:
    """Reads a byte-level BPE ``tokenizer.json`` (``doc``: its parsed JSON, if at hand)."""
    if doc is None:
        doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict):
        raise _fail(path, "top level", "no 'model' key; this is not a tokenizer.json")
    _check_model(path, doc["model"])  # the model's kind first: it names what the file is
    if doc.get("normalizer") is not None:
        kind = (
            doc["normalizer"].get("type")
            if isinstance(doc["normalizer"], dict)
            else doc["normalizer"]
        )
        raise _fail(
            path, "normalizer", f"{kind!r} is not supported for byte-level BPE (expected null)"
        )
    post = doc.get("post_processor")
    if post is not None and not (isinstance(post, dict) and post.get("type") == "ByteLevel"):
        raise _fail(
            path,
            "post_processor",
            f"{post.get('type') if isinstance(post, dict) else post!r} is not supported yet",
        )
    pattern = _pattern_of(path, doc.get("pre_tokenizer"))
    model = _check_model(path, doc["model"])

    specials: list[tuple[str, int]] = []
    added_tokens = doc.get("added_tokens") or []
    if not isinstance(added_tokens, list):
        raise _fail(path, "added_tokens", f"must be a list, got {added_tokens!r}")
    for i, added in enumerate(added_tokens):
        where = f"added_tokens[{i}]"
        if (
            not isinstance(added, dict)
            or not isinstance(added.get("content"), str)
            or not isinstance(added.get("id"), int)
            or isinstance(added["id"], bool)
            or added["id"] < 0
        ):
            raise _fail(path, where, "needs 'content' (str) and 'id' (an int >= 0)")
        if not added.get("special", False):
            raise _fail(
                path, where, f"{added['content']!r} is a non-special added token; not supported yet"
            )
        for flag in ("lstrip", "rstrip", "single_word"):
            if added.get(flag):
                raise _fail(path, f"{where}.{flag}", "true is not supported")
        specials.append((added["content"], added["id"]))
    special_ids = {i for _, i in specials}

    vocab_raw = model["vocab"]
    if not isinstance(vocab_raw, dict):
        raise _fail(path, "model.vocab", "must be an object {token: id}")
    vocab: list[tuple[bytes, int]] = []
    by_text: dict[str, bytes] = {}
    for token, tid in vocab_raw.items():
        if not isinstance(tid, int) or tid < 0:
            raise _fail(
                path, f"model.vocab[{token!r}]", f"id {tid!r} is not a non-negative integer"
            )
        if tid in special_ids:
            continue  # special tokens are listed in the vocabulary too; they never merge
        raw = _bytelevel.decode(token)
        if raw is None:
            raise _fail(
                path,
                f"model.vocab[{token!r}]",
                "contains characters outside the byte-level alphabet; is this a byte-level BPE?",
            )
        vocab.append((raw, tid))
        by_text[token] = raw

    merges: list[tuple[bytes, bytes]] = []
    for i, (a, b) in enumerate(_merges(path, model["merges"])):
        for part in (a, b):
            if part not in by_text:
                raise _fail(
                    path,
                    f"model.merges[{i}]",
                    f"{part!r} is not in model.vocab; the file is inconsistent",
                )
        if a + b not in by_text:
            raise _fail(
                path, f"model.merges[{i}]", f"the merged token {a + b!r} is not in model.vocab"
            )
        merges.append((by_text[a], by_text[b]))
    try:
        return Bpe.from_merges(
            vocab, merges, specials, pattern, bool(model.get("ignore_merges", False))
        )
    except TokenizerFormatError as e:
        raise TokenizerFormatError(f"{path}: {e}") from None


def dump(bpe: Bpe, offsets: OffsetTrim | None = None) -> dict[str, Any]:
    """The ``tokenizer.json`` document for a model."""
    if bpe.preset == GPT2_PRESET:
        pre: dict[str, Any] = {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        }
    else:
        pre = {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": ONIG_SPELLING.get(bpe.preset or "", bpe.pattern)},
                    "behavior": "Isolated",
                    "invert": False,
                },
                {
                    "type": "ByteLevel",
                    "add_prefix_space": False,
                    "trim_offsets": True,
                    "use_regex": False,
                },
            ],
        }
    vocab = {_bytelevel.encode(token): tid for token, tid in bpe.vocab()}
    # HF finds an added token's id by looking its text up in the model's vocabulary
    vocab.update(bpe.specials())
    text = {tid: _bytelevel.encode(token) for token, tid in bpe.vocab()}
    merges = [f"{text[a]} {text[b]}" for a, b in bpe.merges()]
    added = [
        {
            "id": tid,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for content, tid in sorted(bpe.specials(), key=lambda s: s[1])
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": pre,
        "post_processor": {
            "type": "ByteLevel",
            "add_prefix_space": offsets is not None and offsets.add_prefix_space,
            "trim_offsets": offsets is not None and offsets.trim,
            "use_regex": False,
        },
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": bpe.ignore_merges,
            "vocab": vocab,
            "merges": merges,
        },
    }


def save(bpe: Bpe, path: Path, offsets: OffsetTrim | None = None) -> None:
    """Writes ``tokenizer.json`` atomically."""
    atomic_write(path, json.dumps(dump(bpe, offsets), ensure_ascii=False, indent=1))
