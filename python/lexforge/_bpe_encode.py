"""The encode methods of :class:`~lexforge.bpe.BpeTokenizer`: one text (ids, a NumPy
array, offsets, word ids, raw bytes) and many texts in parallel with the GIL released
(id lists, padded model inputs with HF's truncation and padding options, or one flat
array with boundaries).

Each checks its arguments and the special-token policy in Python, then hands the O(n)
work to the Rust core; the policy and template framing they share are
:class:`~lexforge._bpe_base.BpeBase`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from lexforge._bpe_base import BpeBase, SpecialSet
from lexforge._text_checks import bad_text, check_text, in_order, not_texts
from lexforge.batch import (
    MAX_THREADS,
    BatchEncoding,
    check_int,
    model_inputs,
    resolve_options,
)
from lexforge.errors import EncodingError

if TYPE_CHECKING:  # numpy loads only when arrays are used, so training stays lean
    import numpy as np
    import numpy.typing as npt


class BpeEncoding(BpeBase):
    """:class:`~lexforge.bpe.BpeTokenizer`'s encode methods."""

    @overload  # type: ignore[override]  # (the base takes any arguments)
    def encode(
        self,
        text: str,
        pair: str | None = ...,
        *,
        allowed_special: SpecialSet = ...,
        disallowed_special: SpecialSet = ...,
        add_special_tokens: bool = ...,
        max_length: int | None = ...,
        truncation: bool | str | None = ...,
        padding: bool | str | None = ...,
        return_tensors: None = ...,
    ) -> list[int]: ...

    @overload
    def encode(
        self,
        text: str,
        pair: str | None = ...,
        *,
        allowed_special: SpecialSet = ...,
        disallowed_special: SpecialSet = ...,
        add_special_tokens: bool = ...,
        max_length: int | None = ...,
        truncation: bool | str | None = ...,
        padding: bool | str | None = ...,
        return_tensors: Literal["np", "pt"],
    ) -> Any: ...

    def encode(
        self,
        text: str,
        pair: str | None = None,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
        add_special_tokens: bool = True,
        max_length: int | None = None,
        truncation: bool | str | None = None,
        padding: bool | str | None = None,
        return_tensors: Literal["np", "pt"] | None = None,
    ) -> list[int] | Any:
        """Encodes one text (or a pair) to a list of ids.

        Like HF's ``Tokenizer.encode``, the truncation and padding of the ``tokenizer.json``
        the tokenizer came from apply (the first window when truncation cuts);
        ``truncation=False`` or ``padding=False`` turn them off, or options as for
        :meth:`encode_batch` choose others. The other encode methods here leave them out.

        Args:
            pair: a second text; the pair is framed by the template as HF frames it
                (``[CLS] A [SEP] B [SEP]``), or without a template put back to back.
            allowed_special: special tokens to encode as such (``"all"`` for every one).
            disallowed_special: special tokens whose text raises :class:`SpecialTokenError`
                if found (default ``"all"``: every special not allowed; a set named
                explicitly is checked as given, even where it overlaps ``allowed_special``,
                as in tiktoken). Special tokens in neither set are encoded as ordinary text.
            add_special_tokens: put the template's tokens around the text (a tokenizer with
                a template, see :meth:`with_template`, as HF does; the others have none).
                So do every encode method and batch here but :meth:`encode_ordinary`.
            return_tensors: ``"np"`` or ``"pt"`` (transformers' option): the ids as a
                (1, n) int64 array or tensor.

        Raises:
            SpecialTokenError: a disallowed special token's text is in ``text``.
            EncodingError: ``text`` holds a lone surrogate (no UTF-8 form), as do every
                encode method and batch here; the message names where.
        """
        if return_tensors is not None:
            from lexforge._hf_tokens import one_row

            ids = self.encode(
                text, pair, allowed_special=allowed_special,
                disallowed_special=disallowed_special, add_special_tokens=add_special_tokens,
                max_length=max_length, truncation=truncation, padding=padding,
            )  # fmt: skip
            return one_row(ids, return_tensors)
        policy = self._policy(allowed_special, disallowed_special)
        plain = (max_length, truncation, padding) == (None, None, None)
        if pair is not None or not plain or self._truncation or self._padding:
            if not isinstance(text, str) or not (pair is None or isinstance(pair, str)):
                raise TypeError(
                    "encode takes a str and an optional str pair; for many, encode_batch"
                )
            try:
                return self.encode_batch(
                    [text], None if pair is None else [pair], allowed_special=allowed_special,
                    disallowed_special=disallowed_special, add_special_tokens=add_special_tokens,
                    max_length=max_length, truncation=truncation, padding=padding, num_threads=1,
                )[0]  # fmt: skip
            except EncodingError:
                check_text(text=text, pair=pair)  # name the argument, not texts[0]
                raise
        try:
            return self._framed(self._core.encode(text, *policy), add_special_tokens)
        except UnicodeEncodeError as e:
            raise bad_text(e) from None
        except TypeError as e:
            raise not_texts(e, text=text) from None

    def encode_ordinary(self, text: str) -> list[int]:
        """Encodes ``text`` treating special tokens' text as ordinary text, with no
        template."""
        try:
            return self._core.encode(text, [], [])
        except UnicodeEncodeError as e:
            raise bad_text(e) from None
        except TypeError as e:
            raise not_texts(e, text=text) from None

    def encode_to_numpy(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
        add_special_tokens: bool = True,
    ) -> npt.NDArray[np.uint32]:
        """Like :meth:`encode`, returning a uint32 array of shape (n,) (without copying
        when there is no template)."""
        policy = self._policy(allowed_special, disallowed_special)
        try:
            ids = self._core.encode_array(text, *policy)
        except UnicodeEncodeError as e:
            raise bad_text(e) from None
        except TypeError as e:
            raise not_texts(e, text=text) from None
        return self._framed_array(ids, add_special_tokens)  # type: ignore[no-any-return]

    def encode_with_offsets(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
        add_special_tokens: bool = True,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
        """Encodes and returns ``(ids, offsets)``: uint32 (n,) and int64 (n, 2), where
        ``text[start:end]`` is the span of each token (character indices). A token holding
        part of a multi-byte character spans that whole character; the template's tokens
        span (0, 0), as in HF."""
        policy = self._policy(allowed_special, disallowed_special)
        try:
            ids, offsets = self._core.encode_with_offsets(text, *policy, self._trim())
        except UnicodeEncodeError as e:
            raise bad_text(e) from None
        except TypeError as e:
            raise not_texts(e, text=text) from None
        if self._template is not None and add_special_tokens:
            import numpy as np

            t = self._template
            ids = self._framed_array(ids, True)
            offsets = np.concatenate(
                [np.zeros((len(t.prefix), 2), np.int64), offsets,
                 np.zeros((len(t.suffix), 2), np.int64)]
            )  # fmt: skip
        return ids, offsets

    def word_ids(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
        add_special_tokens: bool = True,
    ) -> npt.NDArray[np.int64]:
        """The word of each token of :meth:`encode`'s ids, as HF's ``Encoding.word_ids``:
        int64 (n,), words numbered from 0 in the order of the text, a word being a piece the
        pattern cuts (``" world"``, ``","``) or a special token found in the text; -1 for
        the template's tokens."""
        policy = self._policy(allowed_special, disallowed_special)
        try:
            words = self._core.encode_batch_arrays(
                [text], ["word_ids"], None, *policy, self._template_arg(), add_special_tokens,
                num_threads=1,
            )["word_ids"][0]  # fmt: skip
        except UnicodeEncodeError as e:
            raise bad_text(e) from None
        return words  # type: ignore[no-any-return]

    def encode_bytes(
        self,
        data: bytes,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
        add_special_tokens: bool = True,
    ) -> list[int]:
        """Encodes raw bytes, invalid UTF-8 included: valid stretches are encoded as text,
        each invalid sequence as bytes of its own. ``decode_bytes`` inverts it exactly
        (with ``add_special_tokens=False`` when there is a template)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):  # bytes(5) is five NULs
            raise TypeError(
                f"encode_bytes takes bytes (or a bytearray or memoryview), got "
                f"{type(data).__name__}; for a str, use encode"
            )
        ids = self._core.encode_bytes(
            bytes(data), *self._policy(allowed_special, disallowed_special)
        )
        return self._framed(ids, add_special_tokens)

    @overload
    def encode_batch(
        self,
        texts: Sequence[str] | Sequence[Sequence[str]],
        pairs: Sequence[str] | Sequence[Sequence[str]] | None = ...,
        *,
        allowed_special: SpecialSet = ...,
        disallowed_special: SpecialSet = ...,
        add_special_tokens: bool = ...,
        max_length: int | None = ...,
        truncation: bool | str | None = ...,
        padding: bool | str | None = ...,
        stride: int = ...,
        truncation_side: str = ...,
        padding_side: str = ...,
        pad_to_multiple_of: int | None = ...,
        pad_token_id: int | None = ...,
        return_tensors: None = ...,
        return_special_tokens_mask: bool = ...,
        return_word_ids: bool = ...,
        return_sequence_ids: bool = ...,
        return_offsets: bool = ...,
        return_overflowing_tokens: bool = ...,
        num_threads: int | None = ...,
        is_split_into_words: bool = ...,
    ) -> list[list[int]]: ...
    @overload
    def encode_batch(
        self,
        texts: Sequence[str] | Sequence[Sequence[str]],
        pairs: Sequence[str] | Sequence[Sequence[str]] | None = ...,
        *,
        allowed_special: SpecialSet = ...,
        disallowed_special: SpecialSet = ...,
        add_special_tokens: bool = ...,
        max_length: int | None = ...,
        truncation: bool | str | None = ...,
        padding: bool | str | None = ...,
        stride: int = ...,
        truncation_side: str = ...,
        padding_side: str = ...,
        pad_to_multiple_of: int | None = ...,
        pad_token_id: int | None = ...,
        return_tensors: Literal["np", "pt"],
        return_special_tokens_mask: bool = ...,
        return_word_ids: bool = ...,
        return_sequence_ids: bool = ...,
        return_offsets: bool = ...,
        return_overflowing_tokens: bool = ...,
        num_threads: int | None = ...,
        is_split_into_words: bool = ...,
    ) -> BatchEncoding: ...
    def encode_batch(
        self,
        texts: Sequence[str] | Sequence[Sequence[str]],
        pairs: Sequence[str] | Sequence[Sequence[str]] | None = None,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
        add_special_tokens: bool = True,
        max_length: int | None = None,
        truncation: bool | str | None = None,
        padding: bool | str | None = None,
        stride: int = 0,
        truncation_side: str = "right",
        padding_side: str = "right",
        pad_to_multiple_of: int | None = None,
        pad_token_id: int | None = None,
        return_tensors: Literal["np", "pt"] | None = None,
        return_special_tokens_mask: bool = False,
        return_word_ids: bool = False,
        return_sequence_ids: bool = False,
        return_offsets: bool = False,
        return_overflowing_tokens: bool = False,
        num_threads: int | None = None,
        is_split_into_words: bool = False,
    ) -> list[list[int]] | BatchEncoding:
        """Encodes many texts (or pairs ``texts[i], pairs[i]``) in parallel with the GIL
        released; results do not depend on ``num_threads`` (default
        ``LEXFORGE_NUM_THREADS`` or all cores).

        With ``return_tensors=None``: a list of id lists, one per row, each framed by the
        template (see :meth:`with_template`) unless ``add_special_tokens=False``. With
        ``"np"`` or ``"pt"``: a :class:`~lexforge.batch.BatchEncoding` of int64 arrays of
        shape (rows, length), ``input_ids``, ``token_type_ids`` (0 for the first text, 1
        for the pair), ``attention_mask`` and the fields the ``return_*`` flags ask for;
        offsets are character spans trimmed of their spaces as HF's ``trim_offsets`` does
        when the tokenizer has a template. For ragged NumPy ids without padding, use
        :meth:`encode_batch_flat`.

        The truncation and padding options are HF's, as for
        :meth:`lexforge.wordpiece.WordPieceTokenizer.encode_batch`:
        ``truncation`` True (``"longest_first"``), ``"only_first"`` or ``"only_second"``
        cuts rows to ``max_length`` (with ``return_overflowing_tokens``, the rest becomes
        windows sharing ``stride`` tokens); ``padding`` True/``"longest"`` or
        ``"max_length"`` pads with ``pad_token_id`` (default: the id of ``[PAD]``,
        ``<pad>`` or ``<|pad|>``). ``None`` for either: the ``tokenizer.json``'s own
        truncation or padding, if the file sets one (as HF applies it), else none. A
        ``max_length`` given is the length of the file's truncation and fixed padding too,
        and given with neither option it cuts rows to it (``"longest_first"``), as
        transformers does.

        ``is_split_into_words=True``: each text (and second text) is a list of words, each
        encoded on its own (with ``add_prefix_space``, a space before each), its tokens'
        ``word_ids`` its index in the list, their offsets within it (HF's
        ``is_pretokenized``). ``return_sequence_ids`` adds ``sequence_ids`` (0 for the first
        text's tokens, 1 for the second's, -1 for special and padding tokens).

        Raises:
            ConfigError: impossible truncation, bad option values, rows of different
                lengths for arrays without padding, no padding token.
            SpecialTokenError, EncodingError: as :meth:`encode`; the message names the text.
        """
        if num_threads is not None:
            check_int("num_threads", num_threads, most=MAX_THREADS)
        allowed, disallowed = self._policy(allowed_special, disallowed_special)
        trunc, pad = resolve_options(
            truncation, padding, max_length=max_length, stride=stride,
            truncation_side=truncation_side, pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side, pad_token_id=pad_token_id,
            defaults=(self._truncation, self._padding), default_pad_id=self._pad_id(),
            vocab_size=self.vocab_size,
        )  # fmt: skip
        plain = pairs is None and trunc is None and pad is None and not return_overflowing_tokens
        plain &= not (return_special_tokens_mask or return_word_ids or return_offsets)  # (refused)
        plain &= not (return_sequence_ids or is_split_into_words)
        if plain and return_tensors is None and not isinstance(texts, str):
            batch = in_order(texts)  # the fast path: no rows to build
            try:
                rows = self._core.encode_batch(batch, allowed, disallowed, num_threads, False)
            except UnicodeEncodeError as e:
                raise bad_text(e, texts=batch) from None
            except TypeError as e:
                raise not_texts(e, texts=batch) from None
            lists = cast("list[list[int]]", rows)
            if self._template is None or not add_special_tokens:
                return lists
            return [self._framed(r, True) for r in lists]
        core, template, trim = self._core, self._template_arg(), self._trim()
        return model_inputs(
            lambda t, p, trunc, pad, overflow, words: core.encode_batch_lists(
                t, p, allowed, disallowed, template, add_special_tokens, trunc, pad, overflow,
                num_threads, words,
            ),
            lambda t, f, p, trunc, pad, overflow, words: core.encode_batch_arrays(
                t, f, p, allowed, disallowed, template, add_special_tokens, trunc, pad,
                overflow, trim, num_threads, words,
            ),
            texts, pairs, truncation=trunc, padding=pad, overflow=return_overflowing_tokens,
            return_tensors=return_tensors, special_tokens_mask=return_special_tokens_mask,
            word_ids=return_word_ids, offsets=return_offsets,
            sequence_ids=return_sequence_ids, words=is_split_into_words,
        )  # fmt: skip

    def encode_batch_flat(
        self,
        texts: Sequence[str],
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
        num_threads: int | None = None,
        add_special_tokens: bool = True,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
        """Encodes many texts into one flat uint32 array ``ids`` plus int64 boundaries
        ``cu`` of shape (len(texts) + 1,): text ``i`` is ``ids[cu[i]:cu[i + 1]]``."""
        if isinstance(texts, str):
            raise TypeError("encode_batch_flat takes a sequence of texts")
        if num_threads is not None:
            check_int("num_threads", num_threads, most=MAX_THREADS)
        allowed, disallowed = self._policy(allowed_special, disallowed_special)
        batch = in_order(texts)
        try:
            ids, cu = self._core.encode_batch_flat(batch, allowed, disallowed, num_threads)
        except UnicodeEncodeError as e:
            raise bad_text(e, texts=batch) from None
        except TypeError as e:
            raise not_texts(e, texts=batch) from None
        if self._template is None or not add_special_tokens:
            return ids, cu
        import numpy as np

        prefix = np.array(self._template.prefix, np.uint32)
        suffix = np.array(self._template.suffix, np.uint32)
        p, q = len(prefix), len(suffix)
        n = len(cu) - 1
        new_cu = cu + np.arange(n + 1, dtype=np.int64) * (p + q)
        out = np.empty(len(ids) + n * (p + q), np.uint32)
        lengths = np.diff(cu)
        # the text's ids land after each row's prefix: position = own index + shift of row
        row = np.repeat(np.arange(n), lengths)
        out[np.arange(len(ids)) + row * (p + q) + p] = ids
        for k in range(p):
            out[new_cu[:-1] + k] = prefix[k]
        for k in range(q):
            out[new_cu[1:] - q + k] = suffix[k]
        return out, new_cu
