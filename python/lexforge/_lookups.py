"""transformers' ``BatchEncoding`` lookups between tokens, words and characters
(``word_ids``, ``tokens``, ``char_to_token``...), on what the tokenizer call keeps of each
row: its word and sequence indices and its character offsets (transformers keeps its
``Encoding`` objects for the same). Their oracle is transformers on the same file and
arguments (``tests/test_tokenizer_call.py``).

As there, a lookup takes ``(batch_index, index)``, or ``(index)`` alone for the first row;
a token index may count from the end; offsets are within the text (within the word for
texts split into words), and a special or padding token has no word, sequence or span.

Each lookup reads the row's arrays where they lie (the call keeps NumPy rows): a token's
word, sequence or span is one element, and a word's tokens or a character's token one
vectorized pass over the row, as transformers' ``Encoding`` scans it in Rust. Converting
the whole row to Python values for each lookup made a loop over a row's tokens quadratic
(a 400,000-token row: 150 ms a lookup).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from lexforge.errors import ConfigError

__all__ = ["CharSpan", "Lookups", "TokenSpan"]


class TokenSpan(NamedTuple):
    """Tokens ``start`` to ``end`` (excluded) of a row (transformers' ``TokenSpan``)."""

    start: int
    end: int


class CharSpan(NamedTuple):
    """Characters ``start`` to ``end`` (excluded) of a text (transformers' ``CharSpan``)."""

    start: int
    end: int


# where each lookup finds its rows: a field of the batch (encode_batch's names, or the
# call's), else what the call kept
_SOURCES = {
    "word_ids": ("word_ids",),
    "sequence_ids": ("sequence_ids",),
    "offsets": ("offset_mapping", "offsets"),
}


class Lookups:
    """The lookups, for :class:`~lexforge.batch.BatchEncoding` (a dict of fields)."""

    # what the tokenizer call keeps besides the fields: each row's word and sequence
    # indices (-1 for none) and character offsets, and the tokenizer (for ``tokens``)
    _word_ids: Any = None
    _sequence_ids: Any = None
    _offsets: Any = None
    _tokenizer: Any = None
    _pairs: bool | None = None  # whether the rows are of pairs (None: not known)
    _later: Callable[[], dict[str, Any]] | None = None  # what gives them, until asked

    get: Callable[..., Any]  # (dict's, in the subclass)

    def _kept(self, name: str) -> Any:
        """The rows of ``name``: what the call kept (rows, even for one text), else the
        batch's field (``encode_batch``'s arrays)."""
        if self._later is not None:  # (the call's rows, encoded again on first use)
            rows, self._later = self._later(), None
            self._word_ids, self._sequence_ids = rows["word_ids"], rows["sequence_ids"]
            self._offsets = rows["offsets"]
        kept = getattr(self, f"_{name}")
        if kept is not None:
            return kept
        for field in _SOURCES[name]:
            rows = self.get(field)
            if rows is not None:
                return rows
        return None

    def _row(self, name: str, batch_index: int) -> list[Any]:
        """Row ``batch_index`` of ``name`` as a list (offsets: (start, end) pairs)."""
        row = self._stored_row(name, batch_index)
        return row.tolist() if hasattr(row, "tolist") else list(row)

    def _array(self, name: str, batch_index: int) -> Any:
        """Row ``batch_index`` of ``name`` as an array (the call's rows are not copied):
        (tokens,), offsets (tokens, 2)."""
        import numpy as np  # (here: training a tokenizer never loads NumPy)

        row = np.asarray(self._stored_row(name, batch_index))
        return row.reshape(-1, 2) if name == "offsets" else row

    def _stored_row(self, name: str, batch_index: int) -> Any:
        """Row ``batch_index`` of ``name`` as the batch holds it, after the checks."""
        from lexforge.batch import check_int

        rows = self._kept(name)
        if rows is None:
            raise ConfigError(
                f"this batch holds no {name}: they come with the "
                "tokenizer call (tokenizer(texts, ...)) or encode_batch(..., "
                f"return_{name}=True); a padded batch from pad() has none"
            )
        check_int("batch_index", batch_index, least=-len(rows))  # (from the end, as a list)
        if batch_index >= len(rows):
            raise ConfigError(
                f"batch_index={batch_index} is past the {len(rows)} rows of this batch"
            )
        return rows[batch_index]

    def _indices(self, name: str, batch_index: int) -> list[int | None]:
        return [None if v < 0 else int(v) for v in self._row(name, batch_index)]

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """The word each token of row ``batch_index`` comes from, None for special and
        padding tokens (transformers' ``BatchEncoding.word_ids``): the index of the word
        within its text, or with ``is_split_into_words`` the index in the list of words.

        Raises:
            ConfigError: the batch holds no word indices (``pad`` output, or
                ``encode_batch`` without ``return_word_ids=True``).
        """
        return self._indices("word_ids", batch_index)

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """For each token of row ``batch_index``: 0 for the first text's tokens, 1 for the
        second text's, None for special and padding tokens (transformers'
        ``BatchEncoding.sequence_ids``).

        Raises:
            ConfigError: the batch holds no sequence indices (``pad`` output, or
                ``encode_batch`` without ``return_sequence_ids=True``).
        """
        return self._indices("sequence_ids", batch_index)

    def tokens(self, batch_index: int = 0) -> list[str]:
        """The tokens of row ``batch_index`` as strings (padding included), spelled as the
        tokenizer's ``convert_ids_to_tokens`` spells them."""
        if self._tokenizer is None:
            raise ConfigError(
                "this batch does not know its tokenizer (only the tokenizer call's result "
                "does); use tokenizer.convert_ids_to_tokens(batch['input_ids'][i])"
            )
        self._row("word_ids", batch_index)  # (checks the index)
        ids = self.get("input_ids")
        if isinstance(ids, list) and ids and not isinstance(ids[0], list):
            ids = [ids]  # (one text's lists: one row)
        row = ids[batch_index]
        spelled: list[str] = self._tokenizer.convert_ids_to_tokens(
            row.tolist() if hasattr(row, "tolist") else list(row)
        )
        return spelled

    def _where(self, first: int, second: int | None) -> tuple[int, int]:
        """(batch index, index) from transformers' ``(batch_or_index, index=None)``."""
        return (0, first) if second is None else (first, second)

    def _token(self, batch_index: int, token_index: int) -> tuple[int, int]:
        """The row and the token (counted from the end when negative) after checks."""
        from lexforge.batch import check_int

        width = len(self._stored_row("word_ids", batch_index))
        token = check_int("token_index", token_index, least=-width) % max(width, 1)
        if token_index >= width:
            raise ConfigError(f"token_index={token_index} is past the {width} tokens of the row")
        return batch_index, token

    def token_to_word(
        self, batch_or_token_index: int, token_index: int | None = None
    ) -> int | None:
        """The word of a token (None for special and padding tokens)."""
        row, token = self._token(*self._where(batch_or_token_index, token_index))
        return self._index_at("word_ids", row, token)

    def token_to_sequence(
        self, batch_or_token_index: int, token_index: int | None = None
    ) -> int | None:
        """The text (0 or 1 of a pair) of a token (None for special and padding tokens)."""
        row, token = self._token(*self._where(batch_or_token_index, token_index))
        return self._index_at("sequence_ids", row, token)

    def _index_at(self, name: str, row: int, token: int) -> int | None:
        """A token's word or sequence index, None for none (-1)."""
        index = int(self._stored_row(name, row)[token])
        return None if index < 0 else index

    def token_to_chars(
        self, batch_or_token_index: int, token_index: int | None = None
    ) -> CharSpan | None:
        """The characters of its text a token spans (None for special and padding
        tokens)."""
        row, token = self._token(*self._where(batch_or_token_index, token_index))
        if self._index_at("sequence_ids", row, token) is None:
            return None
        start, end = self._stored_row("offsets", row)[token]
        return CharSpan(int(start), int(end))

    def word_to_tokens(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> TokenSpan | None:
        """The tokens of a word of text ``sequence_index`` (None for a word with no token
        in the row: cut off, or empty)."""
        from lexforge.batch import check_int

        row, word = self._where(batch_or_word_index, word_index)
        word = check_int("word_index", word)  # (as HF's: -1 is no word, nor is 1.5)
        words = self._array("word_ids", row)
        span = self._span(row, sequence_index)
        at = span.start + (words[span.start : span.stop] == word).nonzero()[0]
        return TokenSpan(int(at[0]), int(at[-1]) + 1) if at.size else None

    def _span(self, row: int, sequence_index: int) -> range:
        """The tokens of text ``sequence_index`` of a row, or (as HF's ``Encoding`` reads a
        sequence the row does not have) all of them."""
        sequences = self._array("sequence_ids", row)
        at = (sequences == sequence_index).nonzero()[0]
        if at.size:
            return range(int(at[0]), int(at[-1]) + 1)
        pair = self._pairs if self._pairs is not None else bool((sequences == 1).any())
        made_of = (0, 1) if pair else (0,)  # (an empty text of a pair: no tokens)
        return range(0) if sequence_index in made_of else range(len(sequences))

    def word_to_chars(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> CharSpan | None:
        """The characters of a word of text ``sequence_index``: from its first token's
        start to its last token's end (None as for :meth:`word_to_tokens`)."""
        row, word = self._where(batch_or_word_index, word_index)
        span = self.word_to_tokens(row, word, sequence_index)
        if span is None:
            return None
        offsets = self._stored_row("offsets", row)
        return CharSpan(int(offsets[span.start][0]), int(offsets[span.end - 1][1]))

    def char_to_token(
        self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0
    ) -> int | None:
        """The token spanning character ``char_index`` of text ``sequence_index`` (None
        where no token does: spaces, or a part cut off)."""
        from lexforge.batch import check_int

        row, char = self._where(batch_or_char_index, char_index)
        char = check_int("char_index", char)  # (as HF's: -1 is no character, nor is 1.5)
        offsets = self._array("offsets", row)
        span = self._span(row, sequence_index)
        offsets = offsets[span.start : span.stop]
        at = ((offsets[:, 0] <= char) & (char < offsets[:, 1])).nonzero()[0]
        return span.start + int(at[0]) if at.size else None

    def char_to_word(
        self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0
    ) -> int | None:
        """The word of the token spanning character ``char_index`` of text
        ``sequence_index`` (None where no token does)."""
        row, char = self._where(batch_or_char_index, char_index)
        token = self.char_to_token(row, char, sequence_index)
        return None if token is None else self._index_at("word_ids", row, token)
