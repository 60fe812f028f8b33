"""Words from a vocabulary alone, for whole-word masking without word ids: which tokens
continue the word before them (:func:`continuation_ids`: WordPiece's ``##`` pieces, and
byte-level BPE tokens that start with a letter, digit or mark) and which end a word so that
nothing continues it (:func:`word_end_ids`: byte-level BPE tokens ending in punctuation, a
symbol or a CJK ideograph). The Rust masker reads both as one flag per id. For a
byte-level vocabulary it also takes each id's bytes (:func:`vocabulary_bytes`, packed by
:func:`packed_bytes`), and then reads words from whole characters, even those split across
tokens (``rust/mlm/words.rs``).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from lexforge import _core
from lexforge.errors import ConfigError


def continuation_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokens that continue the word before them, for whole-word masking
    without word ids: WordPiece pieces carrying the continuing prefix (``##``); byte-level
    BPE tokens that start inside a character, or with a letter, digit or combining mark
    that is not a CJK ideograph (see :func:`_continues_word`). A GPT-2-style word starts
    with its space; punctuation, symbols and each CJK ideograph start words of their own,
    as BERT's pre-tokenizer has them."""
    specials = set(tokenizer.special_tokens.values())
    vocab: dict[Any, int] = tokenizer.vocab()
    core = getattr(tokenizer, "_core", None)
    if isinstance(core, _core.BertTokenizer):
        prefix = core.wordpiece[1]
        return sorted(i for t, i in vocab.items() if t.startswith(prefix) and i not in specials)
    return sorted(i for t, i in vocab.items() if _continues_word(t) and i not in specials)


def word_end_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokens that no token continues, for whole-word masking without word ids:
    byte-level BPE tokens that end with anything but a letter, digit or combining mark (or
    end with a CJK ideograph), as a pre-tokenizer cuts there. So where a line's first word
    follows the line before in a row ("." then "The", with no space between), it is a word
    of its own. Special tokens end words too. WordPiece has none: its ``##`` pieces say it
    all. After a letter ("world" then "Next") the ids cannot tell: the masker's
    ``word_starts`` can (pretraining batches pass their sentence starts)."""
    core = getattr(tokenizer, "_core", None)
    if isinstance(core, _core.BertTokenizer):
        return []
    specials = set(tokenizer.special_tokens.values())
    vocab: dict[Any, int] = tokenizer.vocab()
    return sorted(i for t, i in vocab.items() if i in specials or _ends_word(t))


# BERT's "Chinese characters": CJK ideographs, each a word of its own
_CJK_IDEOGRAPHS = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)  # fmt: skip


def _continues_word(token: bytes) -> bool:
    """Whether a byte-level BPE token continues the word before it. It does when it starts
    inside a UTF-8 character (a continuation byte), or with a letter, digit or combining
    mark that is not a CJK ideograph. A token holding only the first bytes of a character
    is judged by the lead byte: U+0100-U+07FF (two-byte leads past 0xC3, from U+00C0 on),
    U+0800-U+1FFF and U+A000-U+D7FF are almost all letters of scripts written with
    spaces (or Hangul); the rest (symbols, CJK, emoji, private use) start words."""
    if not token:
        return False
    lead = token[0]
    if 0x80 <= lead < 0xC0:
        return True
    width = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    try:
        char = token[:width].decode("utf-8")
    except UnicodeDecodeError:  # only the start of a character
        return 0xC3 <= lead <= 0xDF or lead in (0xE0, 0xE1) or 0xEA <= lead <= 0xED
    point = ord(char)
    if any(lo <= point <= hi for lo, hi in _CJK_IDEOGRAPHS):
        return False
    return char.isalnum() or unicodedata.category(char).startswith("M")


def _ends_word(token: bytes) -> bool:
    """Whether a byte-level BPE token ends a word: its last character is not a letter,
    digit or combining mark, or is a CJK ideograph (a token ending inside a character, in
    its middle bytes, ends no word)."""
    for width in range(1, min(4, len(token)) + 1):
        try:
            char = token[-width:].decode("utf-8")
        except UnicodeDecodeError:
            continue
        point = ord(char)
        if any(lo <= point <= hi for lo, hi in _CJK_IDEOGRAPHS):
            return True
        return not (char.isalnum() or unicodedata.category(char).startswith("M"))
    return not token  # the first bytes of a character: its word goes on


def vocabulary_bytes(tokenizer: Any) -> list[bytes] | None:
    """Each id's bytes, for a byte-level BPE vocabulary (the masker then reads words from
    whole characters, see ``Masker``'s ``token_bytes``); None for WordPiece, whose ``##``
    pieces say where words are. An id the vocabulary lacks gets no bytes."""
    core = getattr(tokenizer, "_core", None)
    if isinstance(core, _core.BertTokenizer):
        return None
    out = [b""] * tokenizer.vocab_size
    for token, i in tokenizer.vocab().items():
        if 0 <= i < len(out):
            out[i] = token if isinstance(token, bytes) else str(token).encode("utf-8")
    return out


def packed_bytes(token_bytes: Any, vocab_size: int) -> tuple[bytes | None, list[int] | None]:
    """``token_bytes`` (one ``bytes`` per id) as the core takes them: one buffer and each
    id's end in it. ``ConfigError`` unless there is one ``bytes`` per id."""
    if token_bytes is None:
        return None, None
    tokens = list(token_bytes)
    if len(tokens) != vocab_size or not all(isinstance(t, bytes) for t in tokens):
        kinds = sorted({type(t).__name__ for t in tokens})
        raise ConfigError(
            f"token_bytes must hold one bytes object per id ({vocab_size}), got "
            f"{len(tokens)} of {', '.join(kinds) or 'nothing'}"
        )
    ends, total = [], 0
    for token in tokens:
        total += len(token)
        ends.append(total)
    if total >= 2**32:
        raise ConfigError("token_bytes hold 4 GiB or more: no vocabulary is that large")
    return b"".join(tokens), ends
