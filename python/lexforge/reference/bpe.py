"""Byte-level BPE in plain Python: pre-tokenize, train, encode, decode.

This is the definition the Rust core must match, written to be read top to bottom:

- **Pre-tokenization** uses the third-party ``regex`` module (an engine independent of the
  Rust scanners); text a pattern does not match is kept as pieces of its own.
- **Training** works in training ids (bytes are 0..255 by value, the k-th merge creates
  256 + k). Each step recounts every adjacent pair of every word, weighted by the word's
  count, and merges the most frequent pair; ties go to the smallest (left, right) pair,
  bytes ordered as HF's trainer numbers its alphabet (by the code point of each byte's
  byte-level character: printable bytes by value, then the rest) and before every merge.
  Pairs whose merged token would exceed ``max_token_length`` bytes are skipped. Training
  stops after ``num_merges`` merges, when the best count is below ``min_frequency``, or when
  no pair is left.
- **Encoding** of one piece: start from single bytes; repeatedly merge the adjacent pair
  with the lowest priority (merge-list index), the leftmost one on ties.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import pairwise


def pretokenize(pattern: str, text: str) -> list[str]:
    """Splits ``text`` with ``pattern`` (a regex, or a preset name) using ``regex``."""
    import regex  # type: ignore[import-untyped]  # installed with tiktoken; not a package dependency

    from lexforge._core import resolve_pattern

    compiled = regex.compile(resolve_pattern(pattern)[0])
    pieces: list[str] = []
    last = 0
    for m in compiled.finditer(text):
        if m.start() > last:
            pieces.append(text[last : m.start()])
        if m.end() > m.start():
            pieces.append(m.group())
        last = m.end()
    if last < len(text):
        pieces.append(text[last:])
    return pieces


def _merge_word(word: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    """Replaces each occurrence of ``pair`` in ``word``, left to right."""
    out: list[int] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def train(
    word_counts: Mapping[bytes, int],
    num_merges: int,
    *,
    min_frequency: int = 0,
    max_token_length: int | None = None,
) -> list[tuple[int, int]]:
    """Learns merges (pairs of training ids) from ``{word_bytes: count}``."""
    from lexforge._bytelevel import byte_to_char

    chars = byte_to_char()

    def order(symbol: int) -> int:
        """Where a training id sorts: a byte by its byte-level character, a merge after."""
        return ord(chars[symbol]) if symbol < 256 else 0x110000 + symbol

    words: Counter[tuple[int, ...]] = Counter()
    for word, count in word_counts.items():
        words[tuple(word)] += count
    length = [1] * 256  # byte length of each training id
    merges: list[tuple[int, int]] = []
    while len(merges) < num_merges:
        pair_counts: Counter[tuple[int, int]] = Counter()
        for symbols, count in words.items():
            for pair in pairwise(symbols):
                pair_counts[pair] += count
        allowed = [
            (count, pair)
            for pair, count in pair_counts.items()
            if max_token_length is None or length[pair[0]] + length[pair[1]] <= max_token_length
        ]
        if not allowed:
            break
        # highest count first; among equal counts the smallest pair in HF's order
        best_count, best = min(allowed, key=lambda cp: (-cp[0], order(cp[1][0]), order(cp[1][1])))
        if best_count < max(min_frequency, 1):
            break
        new_id = 256 + len(merges)
        merges.append(best)
        length.append(length[best[0]] + length[best[1]])
        merged: Counter[tuple[int, ...]] = Counter()
        for symbols, count in words.items():
            merged[_merge_word(symbols, best, new_id)] += count
        words = merged
    return merges


def encode_piece(
    piece: bytes, priority: Mapping[tuple[int, int], tuple[int, int]], byte_ids: Sequence[int]
) -> list[int]:
    """Encodes one pre-token. ``priority[(left, right)] = (rank, merged_id)``."""
    ids = [byte_ids[b] for b in piece]
    while True:
        best_at, best_rank = -1, None
        for i, pair in enumerate(pairwise(ids)):
            if pair in priority and (best_rank is None or priority[pair][0] < best_rank):
                best_at, best_rank = i, priority[pair][0]
        if best_rank is None:
            return ids
        ids[best_at : best_at + 2] = [priority[(ids[best_at], ids[best_at + 1])][1]]


class ReferenceBPE:
    """A complete byte-level BPE tokenizer (merge-list rule), slow and simple.

    Args:
        vocab: token bytes -> id.
        merges: pairs of token bytes, highest priority first.
        pattern: pre-tokenization preset or regex.
        special_tokens: special text -> id; always recognised in :meth:`encode`.
        ignore_merges: emit a whole piece directly when it is a token (HF's flag).
    """

    def __init__(
        self,
        vocab: Mapping[bytes, int],
        merges: Sequence[tuple[bytes, bytes]],
        pattern: str,
        special_tokens: Mapping[str, int] | None = None,
        *,
        ignore_merges: bool = False,
    ) -> None:
        self.vocab = dict(vocab)
        self.pattern = pattern
        self.special_tokens = dict(special_tokens or {})
        self.ignore_merges = ignore_merges
        self.byte_ids = [self.vocab[bytes([b])] for b in range(256)]
        self.priority: dict[tuple[int, int], tuple[int, int]] = {}
        for rank, (left, right) in enumerate(merges):
            self.priority[(self.vocab[left], self.vocab[right])] = (rank, self.vocab[left + right])
        self.decoder = {i: t for t, i in self.vocab.items()}
        self.decoder.update({i: t.encode("utf-8") for t, i in self.special_tokens.items()})

    def encode_ordinary(self, text: str) -> list[int]:
        """Encodes text with no special tokens."""
        ids: list[int] = []
        for piece in pretokenize(self.pattern, text):
            raw = piece.encode("utf-8")
            if self.ignore_merges and raw in self.vocab:
                ids.append(self.vocab[raw])
            else:
                ids.extend(encode_piece(raw, self.priority, self.byte_ids))
        return ids

    def encode(self, text: str) -> list[int]:
        """Encodes text, turning special tokens' text (longest first) into their ids."""
        ids: list[int] = []
        i = start = 0
        by_length = sorted(self.special_tokens, key=len, reverse=True)
        while i < len(text):
            found = next((s for s in by_length if text.startswith(s, i)), None)
            if found is None:
                i += 1
                continue
            ids += [*self.encode_ordinary(text[start:i]), self.special_tokens[found]]
            i = start = i + len(found)
        return ids + self.encode_ordinary(text[start:])

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """Concatenates the bytes of ``ids``."""
        return b"".join(self.decoder[i] for i in ids)
