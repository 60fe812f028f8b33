"""WordPiece training in plain Python: the oracle ``Tokenizer.train_wordpiece`` is tested
against, and the model of HF ``tokenizers``' ``WordPieceTrainer`` (BPE over characters,
continuation pieces carrying ``##``). Read top to bottom:

1. **Words**: each text is normalized and pre-tokenized as BERT does
   (:mod:`lexforge.reference.wordpiece`), and the words are counted.
2. **Alphabet**: every character, weighted by its words' counts; ``limit_alphabet`` keeps
   the most frequent (ties: the smaller code point is kept).
3. **Initial pieces**: the alphabet by code point, each character whole; then ``##c`` for
   each character ``c`` met after the first position of a word, in the order first met,
   the words taken in ``word_order`` (default: by their UTF-8 bytes). HF takes them in its
   hash map's order, which changes from run to run: this is its one free choice.
4. **Merges**: words longer than ``max_input_chars_per_word`` characters are left out
   (their characters are in the alphabet already). Each step recounts every adjacent pair
   of pieces of every word, weighted by the word's count (overlaps included), and merges
   the most frequent pair, ties to the smallest ``(left id, right id)``. The merged piece
   is the left one followed by the right one without its ``##``; a piece already in the
   vocabulary keeps its id, as in HF. Training stops after ``vocab_size`` tokens, when the
   best count is below ``min_frequency``, or when no pair is left.

The vocabulary is the special tokens, the initial pieces, then the merged pieces; a piece
spelled like a special token is that token (one spelling, one id) and the merges go on
past it, as in HF's trainer (which then breaks ties by the special token's id; this
trainer, as lexforge's, by the piece's place among the pieces).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from typing import Any

from lexforge.reference.wordpiece import bert_normalize, bert_pre_tokenize

__all__ = ["count_words", "train"]


def count_words(texts: Iterable[str], *, lowercase: bool = True) -> Counter[str]:
    """The words of ``texts`` under BERT's normalizer and pre-tokenizer, counted."""
    counts: Counter[str] = Counter()
    for text in texts:
        normalized, _ = bert_normalize(text, lowercase=lowercase)
        counts.update(normalized[a:b] for a, b in bert_pre_tokenize(normalized))
    return counts


def _utf8(word: str) -> bytes:
    return word.encode("utf-8")


def train(
    counts: Counter[str],
    vocab_size: int,
    *,
    special_tokens: Sequence[str] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
    min_frequency: int = 0,
    limit_alphabet: int | None = None,
    max_input_chars_per_word: int = 100,
    word_order: Callable[[str], Any] = _utf8,
    prefix: str = "##",
) -> list[str]:
    """The vocabulary, by id. Raises ``ValueError`` for a corpus without words, and when
    ``vocab_size`` cannot hold the special tokens and the initial pieces (lexforge refuses
    such a size; HF goes past it)."""
    words = sorted(counts, key=word_order)
    if not words:
        raise ValueError("no words: the corpus is empty")
    # 2. the alphabet
    frequency: Counter[str] = Counter()
    for word in words:
        for c in word:
            frequency[c] += counts[word]
    ranked = sorted(frequency, key=lambda c: (-frequency[c], ord(c)))
    alphabet = set(ranked if limit_alphabet is None else ranked[:limit_alphabet])
    # 3. the initial pieces
    pieces = sorted(alphabet, key=ord)
    for word in words:
        for c in word[1:]:
            if c in alphabet and prefix + c not in pieces:
                pieces.append(prefix + c)
    # a special token spelled like a piece is that piece: one spelling, one id (HF)
    floor = len(set(special_tokens) | set(pieces))
    if vocab_size < floor:
        raise ValueError(f"vocab_size {vocab_size} < {floor} special tokens and initial pieces")
    ids = {piece: i for i, piece in enumerate(pieces)}
    # 4. the merges, over the words as lists of piece ids
    split = {
        word: [ids[c if i == 0 else prefix + c] for i, c in enumerate(word) if c in alphabet]
        for word in words
        if len(word) <= max_input_chars_per_word
    }
    size = floor  # the distinct spellings so far
    while size < vocab_size:
        pairs: Counter[tuple[int, int]] = Counter()
        for word, symbols in split.items():
            for pair in pairwise(symbols):
                pairs[pair] += counts[word]
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        if pairs[best] < min_frequency:
            break
        a, b = best
        merged = pieces[a] + pieces[b].removeprefix(prefix)
        if merged not in ids:  # a piece made before by another pair keeps its id
            ids[merged] = len(pieces)
            pieces.append(merged)
            size += merged not in special_tokens  # else a special token had the spelling
        new = ids[merged]
        for word, symbols in split.items():
            out: list[int] = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(new)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            split[word] = out
    vocab = list(dict.fromkeys([*special_tokens, *pieces]))
    return vocab
