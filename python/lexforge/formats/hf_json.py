"""HF ``tokenizers``' ``tokenizer.json`` for byte-level BPE: read and write.

Read: a ``BPE`` model with a ``ByteLevel`` pre-tokenizer (GPT-2's regex) or a ``Sequence``
of ``Split`` (any regex, ``Isolated``) and ``ByteLevel(use_regex=false)``; merges spelled as
``"a b"`` strings or ``["a", "b"]`` pairs; ``added_tokens``, special or not (HF's
``add_tokens``: GPT-NeoX's and Phi-2's whitespace runs), with ``lstrip``, ``rstrip``,
``single_word`` and ``normalized`` as HF applies them (:mod:`lexforge.formats.added`; an
added token the vocabulary holds too keeps its vocabulary entry, as in HF); a ``ByteLevel``
post-processor and/or a template (``TemplateProcessing``, ``BertProcessing``,
``RobertaProcessing``); a ``ByteLevel`` decoder, or none (HF then joins the tokens'
byte-level spellings with spaces, and so does lexforge); a normalizer (``NFC``, ``NFD``,
``NFKC``, ``NFKD``, ``Lowercase``, ``StripAccents``, ``Strip`` or a ``Sequence`` of them:
Qwen2's and GPT-NeoX's ``NFC``) and ByteLevel's ``add_prefix_space`` (alone, or after a Split, where
HF puts the space before every pre-token), as HF applies them (the core's
``normalize`` and ``bpe::prepared``). Components that would change the ids or the decoded
text otherwise (other normalizers, dropout, an unknown token, other decoders) are refused
with a message naming them rather than silently ignored; so is a BPE file that is not
byte-level (no ByteLevel pre-tokenizer).

Write: the same shape, added tokens and their options included, which HF ``tokenizers``
loads and encodes identically. The post-processor and the decoder are
:mod:`lexforge.formats.hf_post`'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lexforge import _bytelevel
from lexforge._core import Bpe, ByteLevelTables, read_byte_level
from lexforge._warn import warn
from lexforge.errors import ConfigError, TokenizerFormatError
from lexforge.formats import read_json
from lexforge.formats.added import AddedToken, core_args, from_core, model_vocab
from lexforge.formats.added import read as read_added
from lexforge.formats.hf_post import (
    OffsetTrim,
    Template,
    flag,
    post_processing,
    post_processor,
)

GPT2_PRESET = "gpt2"
# Oniguruma (HF's regex engine) reads `{1,3}+` as "repeat the group", not as possessive, so
# presets are written in spellings that cut the same pieces there. The Rust core recognises
# these spellings as the presets when they are read back.
ONIG_SPELLING = {
    "cl100k": r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s",  # noqa: E501
}


# ids the core can hold: below 2^32 - 1 (u32::MAX marks 'no id')
_ID_LIMIT = 2**32 - 1


class _VocabEntry:
    """Where in the file a vocabulary entry is, ``model.vocab['token']``, as ``str`` gives it."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def __str__(self) -> str:
        return f"model.vocab[{self.token!r}]"


def _fail(path: Path, where: str | _VocabEntry, problem: str) -> TokenizerFormatError:
    return TokenizerFormatError(f"{path}: {where}: {problem}")


# HF's normalizers lexforge applies (the core's step names), and their JSON types
_NORMALIZERS = ("NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents")
_STRIP = {(True, True): "Strip", (True, False): "StripLeft", (False, True): "StripRight"}


def _normalizer_of(path: Path, raw: Any, where: str = "normalizer") -> list[str]:
    """The core's normalizer steps for the file's ``normalizer`` (null: none): NFC, NFD,
    NFKC, NFKD, Lowercase, StripAccents, Strip, or a Sequence of them; others are refused
    by name."""
    if raw is None:
        return []
    kind = raw.get("type") if isinstance(raw, dict) else raw
    if kind in _NORMALIZERS:
        return [kind]
    if kind == "Strip":
        sides = (flag(path, where, raw, "strip_left"), flag(path, where, raw, "strip_right"))
        return [_STRIP[sides]] if sides in _STRIP else []
    if kind == "Sequence":
        steps = raw.get("normalizers")
        if not isinstance(steps, list):
            raise _fail(path, f"{where}.normalizers", f"must be a list, got {steps!r}")
        return [
            name
            for i, step in enumerate(steps)
            for name in _normalizer_of(path, step, f"{where}.normalizers[{i}]")
        ]
    raise _fail(
        path, where, f"{kind!r} is not supported for byte-level BPE: lexforge applies NFC, "
        "NFD, NFKC, NFKD, Lowercase, StripAccents, Strip and a Sequence of them (or null: "
        "none)",
    )  # fmt: skip


def _normalizer_doc(steps: list[str]) -> dict[str, Any] | None:
    """The ``normalizer`` entry HF reads as these core steps."""
    sides = {name: sides for sides, name in _STRIP.items()}
    docs: list[dict[str, Any]] = [
        {"type": "Strip", "strip_left": sides[s][0], "strip_right": sides[s][1]}
        if s in sides
        else {"type": s}
        for s in steps
    ]
    if not docs:
        return None
    return docs[0] if len(docs) == 1 else {"type": "Sequence", "normalizers": docs}


def _pattern_of(path: Path, pre: Any) -> tuple[str, str]:
    """The split regex of a supported pre-tokenizer description, and where its ByteLevel
    puts a space in front of text (the core's ``add_prefix_space``: ``""``, none;
    ``"text"``, before each piece between added tokens; ``"pretoken"``, before each
    pre-token, which is what a ByteLevel after a Split does)."""
    if not isinstance(pre, dict):
        raise _fail(
            path, "pre_tokenizer", "missing; byte-level BPE needs a ByteLevel pre-tokenizer"
        )
    kind = pre.get("type")
    if kind == "ByteLevel":
        prefix = flag(path, "pre_tokenizer", pre, "add_prefix_space")
        if pre.get("use_regex", True) is False:
            raise _fail(
                path, "pre_tokenizer", "ByteLevel without a regex splits nothing; unsupported"
            )
        return GPT2_PRESET, "text" if prefix else ""
    if kind == "Sequence":
        steps = pre.get("pretokenizers") or []
        if not isinstance(steps, list):
            raise _fail(path, "pre_tokenizer.pretokenizers", "must be a list of pre-tokenizers")
        splits = [s for s in steps if isinstance(s, dict) and s.get("type") == "Split"]
        levels = [s for s in steps if isinstance(s, dict) and s.get("type") == "ByteLevel"]
        if len(steps) == 1 and len(levels) == 1:
            return _pattern_of(path, levels[0])
        if len(steps) != 2 or len(splits) != 1 or len(levels) != 1 or steps[1] is not levels[0]:
            kinds = ", ".join(str(s.get("type") if isinstance(s, dict) else s) for s in steps)
            raise _fail(
                path, "pre_tokenizer", f"Sequence[{kinds}] is not supported: lexforge reads "
                "ByteLevel alone or Sequence[Split(regex), ByteLevel(use_regex=false)] (GPT-2's, "
                "Llama 3's and Qwen2's kinds), so this file's pieces, and ids, would differ; "
                "use HF tokenizers for it",
            )  # fmt: skip
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
        if level.get("use_regex", True):
            raise _fail(
                path, "pre_tokenizer.ByteLevel", "after a Split it must have use_regex=false"
            )
        prefix = flag(path, "pre_tokenizer.ByteLevel", level, "add_prefix_space")
        return regex, "pretoken" if prefix else ""
    raise _fail(path, "pre_tokenizer", f"type {kind!r} is not supported for byte-level BPE")


def _check_model_kind(path: Path, model: Any) -> dict[str, Any]:
    """The model, if it is a BPE model (its type given or not)."""
    if not isinstance(model, dict) or model.get("type", "BPE") != "BPE":
        kind = model.get("type") if isinstance(model, dict) else model
        raise _fail(
            path,
            "model.type",
            f"{kind!r} is not supported: lexforge reads WordPiece and byte-level BPE "
            "tokenizer.json files (not Unigram, WordLevel or SentencePiece models)",
        )
    return model


def _check_byte_level(path: Path, pre: Any, model: dict[str, Any]) -> None:
    """Refuses a BPE file that is not byte-level: its pre-tokenizer has no ByteLevel step
    (SentencePiece-style BPE with Metaspace and byte_fallback, or word-level BPE with an
    end_of_word_suffix), so its tokens are not bytes in the byte-level alphabet."""
    steps = pre.get("pretokenizers") if isinstance(pre, dict) else None
    if isinstance(pre, dict) and pre.get("type") == "Sequence":
        if not isinstance(steps, list):
            return  # damaged: the pre-tokenizer's reading names it
        kinds = [s.get("type") if isinstance(s, dict) else s for s in steps]
        spelled = f"Sequence[{', '.join(map(str, kinds))}]"
    elif isinstance(pre, dict) or pre is None:
        kinds = [None if pre is None else pre.get("type")]
        spelled = "null" if pre is None else str(kinds[0])
    else:
        return  # damaged: as above
    if "ByteLevel" in kinds:
        return
    traits = [f"{key} {model[key]!r}" for key in ("end_of_word_suffix", "byte_fallback",
              "continuing_subword_prefix", "unk_token") if model.get(key)]  # fmt: skip
    raise _fail(
        path, "pre_tokenizer", f"{spelled} holds no ByteLevel pre-tokenizer, so this BPE "
        "tokenizer.json is not byte-level BPE"
        + (f" (its model also has {', '.join(traits)})" if traits else "")
        + ", which lexforge does not read; lexforge reads byte-level BPE (GPT-2's, "
        "RoBERTa's, Llama 3's kind) and WordPiece files: use HF tokenizers for this one, "
        "or train a byte-level BPE with lf.Tokenizer.train_bpe",
    )  # fmt: skip


def _check_model(path: Path, raw: Any) -> dict[str, Any]:
    model = _check_model_kind(path, raw)
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


def _merges_at_once(
    pairs: list[tuple[str, str]], by_text: dict[str, bytes]
) -> list[tuple[bytes, bytes]] | None:
    """The merges as bytes, in one pass of lookups (a merge at a time, checked and named,
    took a third of a large file's load), where every part and result of a merge is in
    ``by_text``; else None, for the checked loop. (A special token kept out of
    ``by_text`` that a merge takes or makes fails that test: the loop adds it.)"""
    try:
        merges = [(by_text[a], by_text[b]) for a, b in pairs]
    except KeyError:
        return None
    return merges if all(a + b in by_text for a, b in pairs) else None


def _merges_checked(
    path: Path,
    pairs: list[tuple[str, str]],
    by_text: dict[str, bytes],
    by_added: dict[str, Any],
    vocab_raw: dict[str, int],
    vocab: list[tuple[bytes, int]],
) -> list[tuple[bytes, bytes]]:
    """The merges as bytes, a merge at a time: a special token a merge takes or makes
    joins ``by_text`` and ``vocab`` as it is met; a part or result that is no vocabulary
    token is named with its merge's index."""
    merges: list[tuple[bytes, bytes]] = []
    for i, (a, b) in enumerate(pairs):
        for token in (a, b, a + b):  # special tokens a merge takes or makes merge too
            if token not in by_text and token in by_added and token in vocab_raw:
                by_text[token] = _mergeable_special(path, f"model.merges[{i}]", token)
                vocab.append((by_text[token], by_added[token].id))
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
    return merges


def load(path: Path, doc: Any = None) -> tuple[Bpe, OffsetTrim | None, Template | None]:
    """Reads a byte-level BPE ``tokenizer.json`` (``doc``: its parsed JSON, if at hand):
    the model, and its post-processor's offset options and template (the decoder:
    :func:`has_decoder`)."""
    if doc is None:
        doc = read_json(path)
    if not isinstance(doc, dict) or "model" not in doc:
        raise _fail(path, "top level", "no 'model' key; this is not a tokenizer.json")
    if not isinstance(doc["model"], dict):
        raise TokenizerFormatError(
            f'{path}: "model" is {json.dumps(doc["model"])[:60]}, not an object: the '
            "tokenizer.json is damaged (truncated or edited?); fetch or save it again"
        )
    # the model's kind first, then whether it is byte-level: they name what the file is
    _check_model_kind(path, doc["model"])
    _check_byte_level(path, doc.get("pre_tokenizer"), doc["model"])
    normalizer = _normalizer_of(path, doc.get("normalizer"))
    pattern, prefix = _pattern_of(path, doc.get("pre_tokenizer"))
    model = _check_model(path, doc["model"])

    vocab_raw = model["vocab"]
    if not isinstance(vocab_raw, dict):
        raise _fail(path, "model.vocab", "must be an object {token: id}")
    added = read_added(path, doc, vocab_raw)
    specials = [(t.content, t.id) for t in added if t.special]
    offsets, template = post_processing(path, doc, dict(specials))

    entries = [(t.content, t.id, t.special) for t in added]
    tables = read_byte_level(vocab_raw, model["merges"], entries)
    vocab: ByteLevelTables | list[tuple[bytes, int]]
    merges: list[tuple[bytes, bytes]] = []
    if tables is not None:
        vocab = tables
    else:  # something to name, or special tokens the merges take
        vocab, merges = _checked_tables(path, vocab_raw, model["merges"], added)
    args = core_args(added)
    try:
        bpe = Bpe.from_merges(
            vocab, merges, specials, pattern,
            flag(path, "model", model, "ignore_merges"),
            **args, normalizer=normalizer, add_prefix_space=prefix,
        )  # fmt: skip
    except TokenizerFormatError as e:
        raise TokenizerFormatError(f"{path}: {e}") from None
    warn_missing_bytes(str(path), bpe)
    return bpe, offsets, template


def _checked_tables(
    path: Path, vocab_raw: dict[str, Any], merges_raw: Any, added: list[AddedToken]
) -> tuple[list[tuple[bytes, int]], list[tuple[bytes, bytes]]]:
    """The vocabulary and merges read a token and a merge at a time, each problem named:
    the core's ``read_byte_level`` reads a well-formed file in one pass (three quarters of
    cl100k's load time here) and leaves the others to this."""
    vocab: list[tuple[bytes, int]] = []
    by_text: dict[str, bytes] = {}
    by_added = {t.content: t for t in added}
    added_ids = {t.id: t.content for t in added}
    for token, tid in vocab_raw.items():
        where = _VocabEntry(token)  # (spelled only in an error: a repr a token was slow)
        if not isinstance(tid, int) or isinstance(tid, bool) or not 0 <= tid < _ID_LIMIT:
            raise _fail(path, where, f"id {tid!r} is not an integer in [0, {_ID_LIMIT})")
        raw = _bytelevel.decode(token)
        if token in by_added:  # added tokens are listed in the vocabulary too
            if by_added[token].id != tid:
                raise _fail(
                    path, where, f"the added token has id {by_added[token].id} in "
                    f"added_tokens but {tid} here; make the two ids agree",
                )  # fmt: skip
            if raw is None or (by_added[token].special and len(raw) > 1):
                continue  # matched in the text first; a merge may make one (below)
            # a special token that is a byte's token (")", or "é", byte 0xE9's character)
            # keeps its vocabulary entry: the model still makes it from that byte where the
            # token is not matched (single_word, not allowed, or the byte inside another
            # character: 递 is E9 80 92), as in HF
        elif tid in added_ids:
            raise _fail(
                path, where, f"id {tid} belongs to the added token {added_ids[tid]!r} "
                "(added_tokens); give one of the two another id",
            )  # fmt: skip
        if raw is None:
            raise _fail(
                path,
                f"model.vocab[{token!r}]",
                "contains characters outside the byte-level alphabet; is this a byte-level BPE?",
            )
        # an added token that is not special keeps its vocabulary entry, which the model
        # can make too (as in HF) and which it decodes as
        vocab.append((raw, tid))
        by_text[token] = raw

    pairs = _merges(path, merges_raw)
    merges = _merges_at_once(pairs, by_text)
    if merges is None:
        merges = _merges_checked(path, pairs, by_text, by_added, vocab_raw, vocab)
    return vocab, merges


def warn_missing_bytes(where: str, bpe: Bpe) -> bool:
    """Warns when some of the 256 bytes have no token (HF's ``BpeTrainer`` run without
    ``initial_alphabet=ByteLevel.alphabet()`` makes such files): text holding them cannot
    be encoded, which lexforge says with an ``EncodingError`` where HF tokenizers drops the
    bytes silently. Said at load time, not first on some later input. Returns whether it
    warned."""
    missing = [b for b in range(256) if bpe.token_id(bytes([b])) is None]
    if not missing:
        return False
    shown = ", ".join(repr(chr(b)) if b < 0x80 else f"0x{b:02X}" for b in missing[:8])
    more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
    warn(
        f"{where}: {len(missing)} of the 256 bytes have no token ({shown}{more}), so text "
        "containing them cannot be encoded: lexforge raises EncodingError for it where HF "
        "tokenizers drops those bytes silently. A byte-level BPE needs all 256 byte tokens "
        "(HF's BpeTrainer: initial_alphabet=pre_tokenizers.ByteLevel.alphabet())"
    )
    return True


def _mergeable_special(path: Path, where: str, token: str) -> bytes:
    """The bytes of a special token that a merge takes or makes, which must be those its
    byte-level spelling stands for: lexforge keeps one text per id."""
    if _bytelevel.decode(token) != token.encode():
        raise _fail(
            path, where, f"merges the added token {token!r} (added_tokens), whose text is "
            "not the bytes its byte-level spelling stands for; lexforge cannot hold both: "
            "remove the merge or the added token",
        )  # fmt: skip
    return token.encode()


def dump(
    bpe: Bpe,
    offsets: OffsetTrim | None = None,
    template: Template | None = None,
    truncation: dict[str, Any] | None = None,
    padding: dict[str, Any] | None = None,
    decoder: bool = True,
    file: bool = True,
) -> dict[str, Any]:
    """The ``tokenizer.json`` document for a model (``truncation`` and ``padding``: the
    entries as HF writes them; ``decoder`` False: none). ``file`` False: ``model.vocab``
    holds the model's tokens alone, for a rebuild in memory (``added.ids_as_given``), not
    the added tokens a file lists there for HF to read their ids back."""
    if bpe.preset == GPT2_PRESET and bpe.add_prefix_space != "pretoken":
        pre: dict[str, Any] = {
            "type": "ByteLevel",
            "add_prefix_space": bpe.add_prefix_space == "text",
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
                    "add_prefix_space": bpe.add_prefix_space == "pretoken",
                    "trim_offsets": True,
                    "use_regex": False,
                },
            ],
        }
        if bpe.add_prefix_space == "text":  # HF's ByteLevel splits with GPT-2's regex only
            raise ConfigError(
                f"a space before each text (add_prefix_space) with the pattern "
                f"{bpe.preset or bpe.pattern!r} has no tokenizer.json form: HF's ByteLevel "
                "puts it there only with GPT-2's regex"
            )
    added = from_core(bpe)
    vocab, merges = bpe.byte_level_tables()
    vocab = model_vocab(vocab, added) if file else vocab
    return {
        "version": "1.0",
        "truncation": truncation,
        "padding": padding,
        "added_tokens": [t.entry() for t in added],
        "normalizer": _normalizer_doc(bpe.normalizer),
        "pre_tokenizer": pre,
        "post_processor": post_processor(bpe, offsets, template),
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        }
        if decoder
        else None,
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
