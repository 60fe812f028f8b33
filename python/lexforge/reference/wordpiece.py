"""BERT's text pipeline in plain Python: normalize, pre-tokenize, WordPiece, [CLS]/[SEP].

The oracle lexforge's fast WordPiece is tested against. It agrees with Hugging Face
``tokenizers`` 0.23.3 (``BertNormalizer`` -> ``BertPreTokenizer`` -> ``WordPiece`` ->
``TemplateProcessing``) on ids, type ids, masks, offsets and word ids. Read top to bottom:

1. ``bert_normalize``: clean (drop control characters, map whitespace to " "), put spaces
   around CJK ideographs, strip accents (NFD, then drop nonspacing marks), lowercase (per
   character; "İ" becomes two characters). Each normalized character keeps the span of the
   original text it came from, following HF's alignment rules exactly.
2. ``bert_pre_tokenize``: words are the runs between whitespace; every punctuation
   character is a word of its own.
3. ``wordpiece``: greedy longest-match-first; continuation pieces carry the prefix ("##").
   A word that cannot be covered, or is longer than ``max_input_chars_per_word``
   characters, becomes one unknown token spanning the whole word.
4. ``ReferenceBert.encode``: the three stages and the ``[CLS] A [SEP] B [SEP]`` template.

Offsets are character indices (Python's, which is what HF's Python binding returns).

Unicode versions: HF classifies characters with tables frozen at Unicode 8.0 (control,
punctuation, nonspacing mark: crate ``unicode_categories``) and 9.0 (NFD: crate
``unicode-normalization-alignments``), and takes whitespace and lowercase from Rust's
``std`` (Unicode 16 or later). The tables at the end of this file list, relative to Python
3.11's Unicode 14.0, the characters HF's frozen tables do not know. Characters Python's
database does not know (category Cn) are kept, as HF does, but Rust may lowercase some of
them and this module cannot: they are out of scope, as are characters that a Python with a
newer database knows and these tables do not list.

Not here: truncation, padding, added tokens, decoding, speed.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from os import PathLike
from pathlib import Path
from typing import Any

__all__ = [
    "ReferenceBert",
    "Span",
    "bert_normalize",
    "bert_pre_tokenize",
    "load_vocab_txt",
    "wordpiece",
]

Span = tuple[int, int]  # (start, end) character offsets, end exclusive


# --- character classes --------------------------------------------------------------------


def _category(c: str) -> str:
    """The general category as HF's Unicode 8.0 tables see it ("Cn": unknown to them)."""
    if c in _CATEGORY_CHANGES_SINCE_8:
        return _CATEGORY_CHANGES_SINCE_8[c]
    return "Cn" if ord(c) in _UNKNOWN_TO_HF_CATEGORIES else unicodedata.category(c)


def _is_whitespace(c: str) -> bool:
    """Unicode White_Space (Rust's ``char::is_whitespace``); not Python's ``str.isspace``,
    which adds the separators U+001C..U+001F."""
    return c in _WHITE_SPACE


def _is_control(c: str) -> bool:
    """What ``clean_text`` drops: U+0000, U+FFFD and categories Cc, Cf, Co, Cs, except
    tab, newline and carriage return. Unassigned characters (Cn) are kept."""
    if c in "\t\n\r":
        return False
    return c in "\x00\ufffd" or _category(c) in ("Cc", "Cf", "Co", "Cs")


def _is_chinese(c: str) -> bool:
    """A CJK ideograph: the blocks BERT's original code lists (not Hangul or kana)."""
    return any(lo <= ord(c) <= hi for lo, hi in _CJK_RANGES)


def _is_punctuation(c: str) -> bool:
    """ASCII punctuation (which includes symbols like "$", "+", "^") or any category P*."""
    return c in string.punctuation or _category(c).startswith("P")


def _decompose(c: str) -> str:
    """The full canonical decomposition of one character (HF's Unicode 9.0 data)."""
    return c if ord(c) in _UNKNOWN_TO_HF_NFD else unicodedata.normalize("NFD", c)


def _combining_class(c: str) -> int:
    return 0 if ord(c) in _UNKNOWN_TO_HF_NFD else unicodedata.combining(c)


# --- 1. normalization ---------------------------------------------------------------------


def _nfd(chars: Sequence[tuple[str, Span]]) -> list[tuple[str, Span]]:
    """NFD of (character, original span) pairs, re-aligned the way HF's ``transform`` does.

    The first character of each decomposition *replaces* a character, the others are
    *inserted*. After canonical reordering (a stable sort of each run of non-starters by
    combining class, the replaced/inserted mark moving with its character) the k-th
    replacing character takes the span of the k-th input character, and an inserted one
    repeats the span of the last input character replaced before it. So marks that move
    take the span of the position they move to, not of the character they came from.
    """
    pieces = [(p, k > 0) for c, _ in chars for k, p in enumerate(_decompose(c))]
    start = 0
    while start < len(pieces):  # canonical ordering, one run of non-starters at a time
        end = start
        while end < len(pieces) and _combining_class(pieces[end][0]) != 0:
            end += 1
        pieces[start:end] = sorted(pieces[start:end], key=lambda p: _combining_class(p[0]))
        start = end + 1
    out: list[tuple[str, Span]] = []
    replaced = 0
    for piece, inserted in pieces:
        if inserted:
            out.append((piece, chars[replaced - 1][1] if replaced else (0, 0)))
        else:
            out.append((piece, chars[replaced][1]))
            replaced += 1
    return out


def bert_normalize(
    text: str,
    *,
    clean_text: bool = True,
    handle_chinese_chars: bool = True,
    strip_accents: bool | None = None,
    lowercase: bool = True,
) -> tuple[str, list[Span]]:
    """HF's ``BertNormalizer``: returns the normalized string and, for each of its
    characters, the ``(start, end)`` span of ``text`` it comes from (N spans for N chars).

    Steps, in order: clean, CJK spacing, strip accents, lowercase. ``strip_accents=None``
    means "same as ``lowercase``". Characters produced from one original character (the
    spaces around an ideograph, a decomposition, "İ" -> "i̇") all share its span.
    """
    if strip_accents is None:
        strip_accents = lowercase
    chars = [(c, (i, i + 1)) for i, c in enumerate(text)]
    if clean_text:
        chars = [(" " if _is_whitespace(c) else c, s) for c, s in chars if not _is_control(c)]
    if handle_chinese_chars:
        chars = [(x, s) for c, s in chars for x in ((" ", c, " ") if _is_chinese(c) else c)]
    if strip_accents:
        chars = [(c, s) for c, s in _nfd(chars) if _category(c) != "Mn"]
    if lowercase:  # per character: no final-sigma rule, "Σ" is always "σ"
        chars = [(x, s) for c, s in chars for x in c.lower()]
    return "".join(c for c, _ in chars), [s for _, s in chars]


# --- 2. pre-tokenization ------------------------------------------------------------------


def bert_pre_tokenize(normalized: str) -> list[Span]:
    """HF's ``BertPreTokenizer``: the spans of the words of ``normalized``. Whitespace
    separates words and is dropped; each punctuation character is a word by itself."""
    spans: list[Span] = []
    start: int | None = None
    for i, c in enumerate(normalized):
        if _is_whitespace(c) or _is_punctuation(c):
            if start is not None:
                spans.append((start, i))
                start = None
            if not _is_whitespace(c):
                spans.append((i, i + 1))
        elif start is None:
            start = i
    if start is not None:
        spans.append((start, len(normalized)))
    return spans


# --- 3. WordPiece -------------------------------------------------------------------------


def wordpiece(
    word: str,
    vocab: Mapping[str, int],
    *,
    unk_token: str = "[UNK]",
    prefix: str = "##",
    max_input_chars_per_word: int = 100,
) -> list[tuple[int, int, int]]:
    """Splits one word into ``(id, start, end)`` pieces (character spans within ``word``).

    From the left, take the longest piece in ``vocab`` (looked up as ``prefix + piece``
    after the first). If some position has no piece, or the word has more than
    ``max_input_chars_per_word`` characters, the result is ``[(vocab[unk_token], 0,
    len(word))]``; a ``KeyError`` then means ``unk_token`` is missing (HF: MissingUnkToken).
    """
    if len(word) > max_input_chars_per_word:
        return [(vocab[unk_token], 0, len(word))]
    pieces: list[tuple[int, int, int]] = []
    start = 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else prefix + word[start:end]
            if piece in vocab:
                pieces.append((vocab[piece], start, end))
                break
            end -= 1
        if end == start:  # nothing in the vocabulary starts here
            return [(vocab[unk_token], 0, len(word))]
        start = end
    return pieces


# --- 4. the whole pipeline ----------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceBert:
    """A BERT tokenizer: ``bert_normalize`` -> ``bert_pre_tokenize`` -> ``wordpiece`` ->
    ``[CLS] A [SEP]`` / ``[CLS] A [SEP] B [SEP]``. Defaults are bert-base-uncased's."""

    vocab: Mapping[str, int]
    _: KW_ONLY
    clean_text: bool = True
    handle_chinese_chars: bool = True
    strip_accents: bool | None = None
    lowercase: bool = True
    unk_token: str = "[UNK]"
    prefix: str = "##"
    max_input_chars_per_word: int = 100
    cls_token: str = "[CLS]"
    sep_token: str = "[SEP]"
    # tokens found in the raw text before anything else (HF's added tokens), longest first
    special_tokens: tuple[str, ...] = ()

    def segments(self, text: str) -> list[tuple[int, int, bool]]:
        """``(start, end, is_special)``: the special tokens of ``text`` (leftmost, then
        longest match) and the text between them."""
        out, start, i = [], 0, 0
        by_length = sorted(self.special_tokens, key=len, reverse=True)
        while i < len(text):
            found = next((s for s in by_length if text.startswith(s, i)), None)
            if found is None:
                i += 1
                continue
            if i > start:
                out.append((start, i, False))
            out.append((i, i + len(found), True))
            i = start = i + len(found)
        if start < len(text):
            out.append((start, len(text), False))
        return out

    def tokenize(self, text: str) -> list[tuple[int, Span, int]]:
        """``(id, offsets into text, word index)`` for each token of one sequence. A
        special token found in the text is a word of its own."""
        tokens: list[tuple[int, Span, int]] = []
        word_index = 0
        for seg_start, seg_end, special in self.segments(text):
            if special:
                tokens.append(
                    (self.vocab[text[seg_start:seg_end]], (seg_start, seg_end), word_index)
                )
                word_index += 1
                continue
            normalized, alignments = bert_normalize(
                text[seg_start:seg_end],
                clean_text=self.clean_text,
                handle_chinese_chars=self.handle_chinese_chars,
                strip_accents=self.strip_accents,
                lowercase=self.lowercase,
            )
            for w_start, w_end in bert_pre_tokenize(normalized):
                word = normalized[w_start:w_end]
                for token_id, start, end in wordpiece(
                    word,
                    self.vocab,
                    unk_token=self.unk_token,
                    prefix=self.prefix,
                    max_input_chars_per_word=self.max_input_chars_per_word,
                ):
                    # HF: from the first normalized character's start to the last one's end
                    first, last = alignments[w_start + start], alignments[w_start + end - 1]
                    tokens.append(
                        (token_id, (seg_start + first[0], seg_start + last[1]), word_index)
                    )
                word_index += 1
        return tokens

    def encode(
        self, text: str, pair: str | None = None, *, add_special_tokens: bool = True
    ) -> dict[str, list[Any]]:
        """Encodes ``text`` (and ``pair``) like HF's ``Tokenizer.encode``; returns lists of
        equal length under ``input_ids``, ``token_type_ids`` (0 for ``[CLS] A [SEP]``, 1 for
        ``B [SEP]``), ``attention_mask`` (all 1), ``special_tokens_mask``, ``offsets``
        (into the sequence the token comes from; (0, 0) for specials) and ``word_ids``
        (None for specials; the pair's words count from 0 again)."""
        rows: list[tuple[int, int, int, Span, int | None]] = []  # id, type, special, offsets, word
        cls, sep = self.vocab[self.cls_token], self.vocab[self.sep_token]
        if add_special_tokens:
            rows.append((cls, 0, 1, (0, 0), None))
        for type_id, sequence in enumerate([text] if pair is None else [text, pair]):
            rows.extend((i, type_id, 0, span, w) for i, span, w in self.tokenize(sequence))
            if add_special_tokens:
                rows.append((sep, type_id, 1, (0, 0), None))
        return {
            "input_ids": [r[0] for r in rows],
            "token_type_ids": [r[1] for r in rows],
            "attention_mask": [1] * len(rows),
            "special_tokens_mask": [r[2] for r in rows],
            "offsets": [r[3] for r in rows],
            "word_ids": [r[4] for r in rows],
        }


def load_vocab_txt(path: str | PathLike[str]) -> dict[str, int]:
    """Reads a BERT ``vocab.txt``: one token per line, id = line number (0-based).

    Lines end at "\\n" only (bert-base-chinese has tokens made of U+2028, which
    ``str.splitlines`` would split on); a trailing "\\r" is dropped. HF's own
    ``WordPiece.read_file`` differs here: it strips all trailing whitespace, turning
    "\\u2028" into "" and "##\\u2028" into "##".
    """
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":  # the newline that ends the last line
        lines.pop()
    return {line.removesuffix("\r"): i for i, line in enumerate(lines)}


# --- Unicode data -------------------------------------------------------------------------


def _code_points(ranges: str) -> frozenset[int]:
    """Parses "0890-0891 08E2 ..." (hex, inclusive ranges) into code points."""
    points: set[int] = set()
    for item in ranges.split():
        lo, _, hi = item.partition("-")
        points.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    return frozenset(points)


_CJK_RANGES = [
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
]  # fmt: skip

_WHITE_SPACE = frozenset(chr(cp) for cp in _code_points(
    "0009-000D 0020 0085 00A0 1680 2000-200A 2028 2029 202F 205F 3000"
))  # fmt: skip

# Characters whose category changed since Unicode 8.0 in a way HF's tables still reflect.
_CATEGORY_CHANGES_SINCE_8 = {"\u1734": "Mn", "\u166d": "Po", "\U000111c9": "Po"}

# Every character Python (Unicode 14.0) puts in Cf, P* or Mn that HF's Unicode 8.0
# category tables do not have: HF keeps them in clean_text, does not isolate them as
# punctuation and does not strip them as accents.
_UNKNOWN_TO_HF_CATEGORIES = _code_points("""
061D 07FD 0890-0891 0898-089F 08CA-08E2 09FD-09FE 0A76 0AFA-0AFF 0B55 0C04 0C3C 0C77 0C84
0D00 0D3B-0D3C 0D81 0EBA 180F 1885-1886 1ABF-1ACE 1B7D-1B7E 1DF6-1DFB 2E43-2E4F 2E52-2E5D
A82C A8C5 A8FF A9BD 10D24-10D27 10EAB-10EAD 10F46-10F50 10F55-10F59 10F82-10F89 11070
11073-11074 110C2 110CD 111CF 1123E 1133B 11438-1143F 11442-11444 11446 1144B-1144F
1145A-1145B 1145D-1145E 11660-1166C 116B9 1182F-11837 11839-1183B 1193B-1193C 1193E
11943-11946 119D4-119D7 119DA-119DB 119E0 119E2 11A01-11A0A 11A33-11A38 11A3B-11A47
11A51-11A56 11A59-11A5B 11A8A-11A96 11A98-11A9C 11A9E-11AA2 11C30-11C36 11C38-11C3D 11C3F
11C41-11C45 11C70-11C71 11C92-11CA7 11CAA-11CB0 11CB2-11CB3 11CB5-11CB6 11D31-11D36 11D3A
11D3C-11D3D 11D3F-11D45 11D47 11D90-11D91 11D95 11D97 11EF3-11EF4 11EF7-11EF8 11FFF
12FF1-12FF2 13430-13438 16E97-16E9A 16F4F 16FE2 16FE4 1CF00-1CF2D 1CF30-1CF46 1E000-1E006
1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E130-1E136 1E2AE 1E2EC-1E2EF 1E944-1E94A
1E95E-1E95F
""")

# Every character with a canonical decomposition or a nonzero combining class in Unicode
# 14.0 that HF's Unicode 9.0 NFD tables do not have: HF neither decomposes nor reorders it.
_UNKNOWN_TO_HF_NFD = _code_points("""
07FD 0898-089F 08CA-08D3 09FE 0C3C 0D3B-0D3C 0EBA 1715 1ABF-1ACE 1DF6-1DFA A82C 10D24-10D27
10EAB-10EAC 10F46-10F50 10F82-10F85 11070 1133B 1145E 11839-1183A 11938 1193D-1193E 11943
119E0 11A34 11A47 11A99 11D42 11D44-11D45 11D97 16FF0-16FF1 1E130-1E136 1E2AE 1E2EC-1E2EF
""")
