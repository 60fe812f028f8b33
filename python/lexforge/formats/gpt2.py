"""GPT-2's own files: ``vocab.json`` (a.k.a. ``encoder.json``: byte-level token -> id) and
``merges.txt`` (a.k.a. ``vocab.bpe``: an optional ``#version`` line, then one ``a b`` merge
per line, highest priority first). Read and write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from lexforge import _bytelevel
from lexforge._core import Bpe, ByteLevelTables, read_byte_level
from lexforge._json import loads_json
from lexforge._warn import warn
from lexforge.errors import ConfigError, TokenizerFormatError
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


def special_names(special_tokens: object) -> tuple[str, ...] | None:
    """``special_tokens`` for GPT-2 files: the texts of vocabulary tokens to make special
    (they keep the ids vocab.json gives them; a ``{text: id}`` mapping gives its texts,
    its ids checked by :func:`check_special_ids`). One str (its characters were taken for
    the tokens, then blamed on the files) or non-str items are a ``ConfigError``."""
    if special_tokens is None:
        return None
    if isinstance(special_tokens, str):
        raise ConfigError(
            f"special_tokens must be a list of token texts, not the str {special_tokens!r}; "
            f"pass [{special_tokens!r}]"
        )
    if not isinstance(special_tokens, Iterable):
        raise ConfigError(f"special_tokens must be a list of token texts, got {special_tokens!r}")
    names = tuple(special_tokens)
    bad = next((t for t in names if not isinstance(t, str) or not t), None)
    if bad is not None:
        raise ConfigError(f"special_tokens: {bad!r} is not a non-empty str")
    return names


def check_special_ids(bpe: Bpe, special_tokens: object, vocab_path: Path) -> None:
    """A ``ConfigError`` when ``special_tokens`` is a ``{text: id}`` mapping whose ids are
    not the ones ``vocab_path`` gives those tokens (they were dropped, silently)."""
    if not isinstance(special_tokens, Mapping):
        return
    ids = dict(bpe.specials())
    for text, tid in special_tokens.items():
        held = ids.get(text)
        if held is None or tid != held:
            raise ConfigError(
                f"special_tokens: {text!r} has id {held} in {vocab_path.name}, not {tid!r}; "
                "GPT-2 files give their tokens' ids: pass the texts alone, as a list"
            )


def load(
    vocab_path: Path,
    merges_path: Path,
    special_tokens: tuple[str, ...] | None = None,
    raw_vocab: Any = None,
) -> Bpe:
    """Reads a GPT-2 vocabulary and merges. Tokens listed in ``special_tokens`` (default:
    ``<|endoftext|>`` if present) become special tokens. ``raw_vocab``: the parsed
    vocabulary JSON, if at hand. A temporary file of a save beside them (one under way, or
    killed between the pair's two renames) is warned of: the two may be of two saves."""
    left = [p for f in (vocab_path, merges_path) for p in f.parent.glob(f".{f.name}.*.tmp")]
    if left:
        import warnings

        warnings.warn(
            f"{left[0]} is left by a save of this file pair that has not finished (under way, "
            f"or killed): {vocab_path.name} and {merges_path.name} may come from two saves; "
            "save the tokenizer again (and remove that file)",
            stacklevel=3,
        )
    if raw_vocab is None:
        raw_vocab = read_json(vocab_path)
    if not isinstance(raw_vocab, dict):
        raise TokenizerFormatError(f"{vocab_path}: must be a JSON object {{token: id}}")
    check_byte_level(vocab_path, raw_vocab)
    wanted = set(GPT2_SPECIALS if special_tokens is None else special_tokens)
    merges_text = read_text(merges_path)
    vocab: ByteLevelTables | list[tuple[bytes, int]] | None
    merges: list[tuple[bytes, bytes]] = []
    specials = [(token, raw_vocab[token]) for token in raw_vocab if token in wanted]
    vocab = _read_at_once(raw_vocab, specials, merges_text)
    if vocab is None:  # something to name
        vocab, specials, merges = _checked_tables(
            vocab_path, merges_path, raw_vocab, wanted, special_tokens, merges_text
        )
    elif special_tokens is not None and len(specials) != len(wanted):
        raise _missing(vocab_path, wanted, specials)
    try:
        bpe = Bpe.from_merges(vocab, merges, specials, "gpt2", False)
    except TokenizerFormatError as e:
        raise TokenizerFormatError(f"{vocab_path} + {merges_path}: {e}") from None
    warn_missing_bytes(f"{vocab_path} + {merges_path}", bpe)
    warn_side_files(vocab_path.parent, raw_vocab.keys(), {t for t, _ in specials})
    return bpe


def _read_at_once(
    raw_vocab: dict[str, Any], specials: list[tuple[str, Any]], merges_text: str
) -> ByteLevelTables | None:
    """The vocabulary and merges read in one pass by the core (``hf_json`` reads a
    ``tokenizer.json`` so), where it reads as :func:`_checked_tables` does; else None."""
    entries = []
    for token, tid in specials:
        raw = _bytelevel.decode(token)
        if raw is not None and len(raw) == 1:
            return None  # (a byte's own character: the core's reading keeps it a token)
        if isinstance(tid, bool) or not isinstance(tid, int) or not 0 <= tid < 2**32 - 1:
            return None
        entries.append((token, tid, True))
    lines = merges_text.split("\n")
    if "\r" in merges_text:
        lines = [line.rstrip("\r") for line in lines]
    if lines and lines[0].startswith("#version"):
        del lines[0]
    return read_byte_level(raw_vocab, [line for line in lines if line], entries)


def _missing(
    vocab_path: Path, wanted: set[str], specials: list[tuple[str, Any]]
) -> TokenizerFormatError:
    missing = sorted(wanted - {t for t, _ in specials})
    return TokenizerFormatError(f"{vocab_path}: special tokens {missing} are not in the vocabulary")


def _checked_tables(
    vocab_path: Path,
    merges_path: Path,
    raw_vocab: dict[str, Any],
    wanted: set[str],
    special_tokens: tuple[str, ...] | None,
    merges_text: str,
) -> tuple[list[tuple[bytes, int]], list[tuple[str, int]], list[tuple[bytes, bytes]]]:
    """The vocabulary, the special tokens and the merges, read a token and a line at a
    time, each problem named."""
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
        raise _missing(vocab_path, wanted, specials)

    merges: list[tuple[bytes, bytes]] = []
    for lineno, line in enumerate(merges_text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line or (lineno == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise TokenizerFormatError(
                f"{merges_path}:{lineno}: {line!r} is not a merge 'left right'"
            )
        for part in (*parts, parts[0] + parts[1]):
            if special_tokens is not None and part in wanted:  # (named as the caller's)
                raise ConfigError(
                    f"special_tokens: {part!r} is a token the merges take or make "
                    f"({merges_path.name} line {lineno}), not a special token; leave it out "
                    "of special_tokens"
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
    return vocab, specials, merges


# the word markers of BPE vocabularies that are not byte-level: CLIP's, OpenAI GPT's, XLM's
# and FSMT's end-of-word suffix, BlenderbotSmall's and CTRL's continuation suffix. Their
# tokens are ASCII, so they read as byte-level tokens: such a pair would load and encode
# every text with other ids than its own tokenizer (which appends the marker to words).
_WORD_MARKERS = {"</w>": "end-of-word suffix", "@@": "continuation suffix"}


def check_byte_level(vocab_path: Path, raw_vocab: dict[str, Any]) -> None:
    """Refuses a ``vocab.json`` whose tokens carry a word marker (``"</w>"``, ``"@@"``) on
    many of them: a BPE that is not byte-level (CLIP's, OpenAI GPT's, XLM's), which the
    byte-level reader would load with other ids than its own tokenizer gives, silently.
    GPT-2's vocabulary has no such tokens (a few may hold the marker as text)."""
    limit = max(50, len(raw_vocab) // 100)
    # (JSON's keys are strings: joined in C, one pass each)
    tokens = "\n".join(raw_vocab) + "\n"
    for marker, what in _WORD_MARKERS.items():
        if tokens.count(marker + "\n") - (marker in raw_vocab) <= limit:
            continue
        marked = [t for t in raw_vocab if t.endswith(marker) and t != marker]
        if len(marked) > limit:
            shown = ", ".join(map(repr, marked[:3]))
            raise TokenizerFormatError(
                f"{vocab_path}: {len(marked):,} of its {len(raw_vocab):,} tokens end with "
                f"{marker!r} ({shown}, ...): a BPE with an {what} (CLIP's, OpenAI GPT's or "
                "XLM's kind), not GPT-2's byte-level BPE, so lexforge cannot read it (its ids "
                "would differ from its tokenizer's on every word); use transformers' tokenizer "
                "for this model"
            )


# transformers' tokenizers of GPT-2's files that frame each text with special tokens
# (RoBERTa's <s> A </s>, DeBERTa's [CLS] A [SEP]), as a GPT-2 pair read alone does not
_FRAMING = ("Roberta", "Bart", "Longformer", "LED", "Blenderbot", "Deberta", "Mvp", "MarkupLM",
            "LayoutLMv3")  # fmt: skip


def warn_side_files(
    folder: Path, vocab: AbstractSet[str], specials: AbstractSet[str] = frozenset()
) -> None:
    """Warns about what transformers' files beside a GPT-2 pair say and lexforge does not
    read (it was lost silently): tokens ``added_tokens.json``, ``tokenizer_config.json``'s
    ``added_tokens_decoder`` or ``special_tokens_map.json`` add past the vocabulary, those
    they name that the vocabulary holds but lexforge did not make ``specials`` (transformers
    matches them whole in text: RoBERTa's ``<s>``, ``<mask>``), the framing of texts a
    ``tokenizer_class`` such as RobertaTokenizer adds, and ``add_prefix_space``.
    transformers' ``save_pretrained`` writes a ``tokenizer.json`` beside them, which keeps
    everything."""

    def read(name: str) -> Any:
        try:
            return loads_json((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def text(entry: Any) -> str | None:
        entry = entry.get("content") if isinstance(entry, dict) else entry
        return entry if isinstance(entry, str) else None

    added: list[str] = []
    legacy, config, roles = (read(n) for n in (
        "added_tokens.json", "tokenizer_config.json", "special_tokens_map.json"))  # fmt: skip
    if isinstance(legacy, dict):
        added += [t for t in legacy if isinstance(t, str)]
    config = config if isinstance(config, dict) else {}
    decoder = config.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        added += [t for t in map(text, decoder.values()) if t]
    for value in roles.values() if isinstance(roles, dict) else ():
        added += [t for t in map(text, value if isinstance(value, list) else [value]) if t]
    lost = sorted(set(added) - vocab)
    said = []
    if lost:
        more = f" and {len(lost) - 5} more" if len(lost) > 5 else ""
        shown = ", ".join(map(repr, lost[:5])) + more
        said.append(f"the tokens {shown} that its side files add")
    unmatched = sorted(set(added) & vocab - specials)
    if unmatched:
        more = f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else ""
        shown = ", ".join(map(repr, unmatched[:5])) + more
        said.append(f"that {shown} are special tokens, matched whole in text")
    kind = config.get("tokenizer_class")
    if isinstance(kind, str) and kind.startswith(_FRAMING):
        said.append(f"the special tokens {kind} puts around each text")
    if config.get("add_prefix_space") is True:
        said.append("add_prefix_space (a space put before each text)")
    if said:
        warn(
            f"{folder}: lexforge reads GPT-2's vocab.json and merges.txt alone, so it misses "
            f"{' and '.join(said)}, which transformers applies; save the tokenizer with "
            "transformers' save_pretrained (it writes a tokenizer.json, which lexforge reads "
            "whole) and load that, or add the tokens with add_special_tokens"
        )


def save(bpe: Bpe, folder: Path) -> tuple[Path, Path]:
    """Writes ``vocab.json`` and ``merges.txt`` into ``folder``, atomically as a pair (a
    failed save leaves the folder's earlier pair as it was)."""
    vocab, merges = bpe.byte_level_tables()
    for content, tid in bpe.specials():
        vocab[content] = tid
    lines = ["#version: 0.2", *merges]
    vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
    atomic_write_all([
        (vocab_path, json.dumps(vocab, ensure_ascii=False)),
        (merges_path, "\n".join(lines) + "\n"),
    ])  # fmt: skip
    return vocab_path, merges_path
