"""BERT's tokenizer (:class:`WordPieceTokenizer`): the BERT normalizer and pre-tokenizer,
WordPiece, ``[CLS] A [SEP] B [SEP]`` templates, truncation with stride windows, padding, and
batches as arrays. Identical to HF ``tokenizers`` on the same files, several times faster.

Special tokens listed by the tokenizer (``[CLS]``, ``[SEP]``, ``[MASK]``...) are recognised
in the raw text, as HF does for BERT.
"""

from __future__ import annotations

import functools
import json
import operator
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from lexforge._core import BertTokenizer
from lexforge._json import loads_json
from lexforge._text_checks import as_ids, at_row, bad_text, check_flag, check_text, one_or_many
from lexforge.batch import (
    MAX_THREADS,
    BatchEncoding,
    Padding,
    Truncation,
    check_int,
    model_inputs,
    resolve_options,
)
from lexforge.errors import ConfigError, EncodingError, LexforgeError, TokenIdError
from lexforge.formats import atomic_write, bert, bert_vocab, save_target
from lexforge.tokenizer import Tokenizer
from lexforge.training import PathLike

if TYPE_CHECKING:
    from lexforge.tokenizer import Ids

__all__ = ["WordPieceTokenizer"]

_CLEANUP = [
    (" .", "."),
    (" ?", "?"),
    (" !", "!"),
    (" ,", ","),
    (" ' ", "'"),
    (" n't", "n't"),
    (" 'm", "'m"),
    (" do not", " don't"),
    (" 's", "'s"),
    (" 've", "'ve"),
    (" 're", "'re"),
]


def cleaned(text: str) -> str:
    """``text`` with the spaces before punctuation and contractions removed: transformers'
    ``clean_up_tokenization`` (HF's WordPiece decoder's, but for "do not")."""
    for before, after in _CLEANUP:
        if before != " do not":
            text = text.replace(before, after)
    return text


class WordPieceTokenizer(Tokenizer):
    """A BERT-style WordPiece tokenizer. Load one with :meth:`Tokenizer.from_file`
    (``vocab.txt`` or ``tokenizer.json``) or train one with :meth:`Tokenizer.train_wordpiece`."""

    _core: BertTokenizer

    def __init__(
        self,
        core: BertTokenizer,
        *,
        truncation: Truncation | None = None,
        padding: Padding | None = None,
        cleanup: bool | None = True,
    ) -> None:
        self._core = core
        # the file's decoder: spaces before punctuation removed; None: no decoder
        self._cleanup = cleanup
        # defaults from a tokenizer.json, used when encode_batch is not told otherwise
        self._truncation = truncation
        self._padding = padding
        self._specials = dict(core.specials())
        # added tokens that are not special (HF's add_tokens): found in text, kept by decode
        self._added = dict(core.added_tokens())
        # what decode and id_to_token read a normalized added token as: its normalized form
        # (HF's, which decodes what the normalizer made of it)
        normalized = set(core.flagged("normalized"))
        self._forms = {
            tid: core.normalize(text)
            for text, tid in [*self._specials.items(), *self._added.items()]
            if tid in normalized and core.normalize(text) != text
        }
        # decode's text of each id, by (cleanup, plain): (first kept token, later ones),
        # built at the first decode in that mode (`_add` replaces it with a fresh dict)
        self._decode_tables: dict[tuple[bool, bool], tuple[list[str], list[str]]] = {}
        self._skip_ids: frozenset[int] | None = None

    # every token by id, and back: built at their first use (a tokenizer that only
    # encodes never needs them; a 30,000-token vocabulary's take a few milliseconds)
    @functools.cached_property
    def _vocab(self) -> list[str]:
        return self._core.vocab()

    @functools.cached_property
    def _ids(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self._vocab)}

    def _options(self) -> dict[str, Any]:
        return {"truncation": self._truncation, "padding": self._padding, "cleanup": self._cleanup}

    def _add_new(self, added: list[Any]) -> int | None:
        """New added tokens (none added before, none a vocabulary token) past the last id,
        in a tokenizer that shares the core's tables, with the ids HF's ``add_tokens``
        gives them: what the rebuild through the ``tokenizer.json`` document gives (30 ms
        a call for BERT), without it."""
        from lexforge.formats.added import core_args, from_core, ids_of_new

        core = self._core
        size, model_size = core.vocab_size, core.model_size

        def in_model(text: str) -> bool:
            tid = core.token_to_id(text)
            return tid is not None and tid < model_size

        now = from_core(core)
        if {t.id for t in now if t.id >= model_size} != set(range(model_size, size)):
            return None  # (an id past the model that no added token holds: the rebuild's)
        is_token = (lambda tid: tid < model_size, model_size - 1)
        new = ids_of_new(now, added, in_model, model_size, is_token)
        if new is None or [t.id for t in new] != list(range(size, size + len(new))):
            return None  # (ids the core cannot hold in order: the rebuild names them)
        every = [*now, *new]
        specials = [(t.content, t.id) for t in every if t.special]
        texts = [t.content for t in new]
        self._become(
            type(self)(core.with_tokens(texts, specials, **core_args(every)), **self._options())
        )
        return len(new)

    # ----------------------------------------------------------------- encoding
    @overload  # type: ignore[override]  # (the base takes any arguments)
    def encode(
        self,
        text: str,
        pair: str | None = ...,
        *,
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
        add_special_tokens: bool = True,
        max_length: int | None = None,
        truncation: bool | str | None = None,
        padding: bool | str | None = None,
        return_tensors: Literal["np", "pt"] | None = None,
    ) -> list[int] | Any:
        """The ids of one text (or pair), with ``[CLS]``/``[SEP]`` unless told otherwise.

        Like HF's ``Tokenizer.encode``, the truncation and padding of the ``tokenizer.json``
        the tokenizer came from apply (the first window when truncation cuts); pass
        ``truncation=False`` or ``padding=False`` to turn them off, or options as for
        :meth:`encode_batch` to choose others. The result is always ``encode_batch``'s row.
        ``return_tensors="np"`` or ``"pt"`` (transformers' option): the ids as a (1, n)
        int64 array or tensor.
        """
        if return_tensors is not None:
            from lexforge._hf_tokens import one_row

            ids = self.encode(
                text,
                pair,
                add_special_tokens=add_special_tokens,
                max_length=max_length,
                truncation=truncation,
                padding=padding,
            )
            return one_row(ids, return_tensors)
        if not isinstance(text, str) or not (pair is None or isinstance(pair, str)):
            raise TypeError("encode takes a str and an optional str pair; for many, encode_batch")
        options = (max_length, truncation, padding)
        if self._truncation is None and self._padding is None and options == (None,) * 3:
            try:
                return self._core.encode(text, pair, add_special_tokens)  # the fast path
            except UnicodeEncodeError as e:
                raise bad_text(e, text=text, pair=pair) from None
        try:
            return self.encode_batch(
                [text],
                None if pair is None else [pair],
                add_special_tokens=add_special_tokens,
                max_length=max_length,
                truncation=truncation,
                padding=padding,
                num_threads=1,
            )[0]
        except EncodingError:
            check_text(text=text, pair=pair)  # name the argument, not texts[0]
            raise

    @overload
    def encode_batch(
        self,
        texts: Sequence[str] | Sequence[Sequence[str]],
        pairs: Sequence[str] | Sequence[Sequence[str]] | None = ...,
        *,
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
        """Encodes a batch of texts (or of pairs ``texts[i], pairs[i]``) in parallel.

        Args:
            max_length: the length ``truncation`` cuts to and ``padding="max_length"`` pads to
                (and the file's truncation and fixed padding, replacing its length); given
                with neither option, rows are cut to it (``"longest_first"``), as
                transformers does.
            truncation: False, True (``"longest_first"``: cut the longer sequence of a pair
                first), ``"only_first"`` or ``"only_second"``; None: the default of the
                ``tokenizer.json`` the tokenizer came from, if it sets one, else none.
            padding: False, True/``"longest"`` (the longest row), or ``"max_length"``;
                None: the file's default, as for truncation.
            stride: with ``return_overflowing_tokens``, the cut-off tokens become extra rows
                (windows of ``max_length`` sharing ``stride`` tokens with the previous one).
            truncation_side, padding_side: ``"right"`` or ``"left"``.
            pad_to_multiple_of: round the padded length up to a multiple of this.
            pad_token_id: the id padding uses (default: the file's ``padding.pad_id``, else
                the id of ``[PAD]``).
            return_tensors: None for a list of id lists (one per row); ``"np"`` or ``"pt"``
                for a :class:`~lexforge.batch.BatchEncoding` of int64 arrays of shape
                (rows, length) with ``input_ids``, ``token_type_ids``, ``attention_mask`` and
                the fields requested by the ``return_*`` flags.
            num_threads: threads (default ``LEXFORGE_NUM_THREADS`` or all cores); results
                do not depend on it.
            is_split_into_words: each text (and second text) is a list of words, each
                encoded on its own; its tokens' ``word_ids`` are its index in the list and
                their offsets are within it (HF's ``is_pretokenized``).
            return_sequence_ids: add ``sequence_ids`` (0 for the first text's tokens, 1 for
                the second's, -1 for special and padding tokens).

        Raises:
            ConfigError: impossible truncation (e.g. ``"only_second"`` cannot shorten a pair
                enough), ``max_length`` below the template's special tokens, rows of
                different lengths for arrays without padding, bad option values.
            EncodingError: a text holds a lone surrogate (no UTF-8 form); names which.
        """
        if num_threads is not None:
            check_int("num_threads", num_threads, most=MAX_THREADS)
        trunc, pad = resolve_options(
            truncation, padding, max_length=max_length, stride=stride,
            truncation_side=truncation_side, pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side, pad_token_id=pad_token_id,
            defaults=(self._truncation, self._padding), default_pad_id=self._pad_id(),
            vocab_size=self.vocab_size,
        )  # fmt: skip
        core = self._core
        return model_inputs(
            lambda t, p, trunc, pad, overflow, words: core.encode_batch_lists(
                t, p, add_special_tokens, trunc, pad, overflow, num_threads, words
            ),
            lambda t, f, p, trunc, pad, overflow, words: core.encode_batch_arrays(
                t, f, p, add_special_tokens, trunc, pad, overflow, num_threads, words
            ),
            texts, pairs, truncation=trunc, padding=pad, overflow=return_overflowing_tokens,
            return_tensors=return_tensors, special_tokens_mask=return_special_tokens_mask,
            word_ids=return_word_ids, offsets=return_offsets,
            sequence_ids=return_sequence_ids, words=is_split_into_words,
        )  # fmt: skip

    def encode_with_offsets(
        self, text: str, pair: str | None = None, *, add_special_tokens: bool = True
    ) -> BatchEncoding:
        """One text (or pair) with every field (arrays of shape (1, length))."""
        try:
            return self.encode_batch(
                [text],
                None if pair is None else [pair],
                add_special_tokens=add_special_tokens,
                return_tensors="np",
                return_special_tokens_mask=True,
                return_word_ids=True,
                return_offsets=True,
            )
        except EncodingError:
            check_text(text=text, pair=pair)  # name the argument, not texts[0]
            raise

    def _pad_id(self) -> int | None:
        """The padding id: the tokenizer.json's ``padding.pad_id``, else the id of the
        padding token (``[PAD]``, ``<pad>`` or ``<|pad|>``), if any."""
        if self._pad_override is not None:  # (set by hand: tok.pad_token = ...)
            return self._id_of(self._pad_override)
        if self._padding is not None:
            return self._padding.pad_id
        names = ("[PAD]", "<pad>", "<|pad|>")
        special = (self._specials[t] for t in names if t in self._specials)
        return next(special, self._ids.get("[PAD]"))  # [PAD] in the vocabulary also serves

    # ----------------------------------------------------------------- decoding
    def decode(
        self,
        ids: Ids | int,
        *,
        skip_special_tokens: bool = True,
        cleanup: bool | None = None,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> str:
        """Text from ids, as HF's WordPiece decoder writes it: continuation pieces glued
        to the previous token, other tokens separated by spaces, and (``cleanup``) the spaces
        before punctuation and contractions removed (None: as the ``tokenizer.json``'s
        decoder says). A ``tokenizer.json`` without a decoder decodes as HF does then: the
        tokens joined by spaces, unless ``cleanup`` is given. ``ids`` may be one id;
        ``clean_up_tokenization_spaces=True`` (transformers' option) cleans the text up
        after the decoder, as there."""
        if skip_special_tokens is not True and skip_special_tokens is not False:
            skip_special_tokens = check_flag("skip_special_tokens", skip_special_tokens)
        if clean_up_tokenization_spaces:
            text = self.decode(ids, skip_special_tokens=skip_special_tokens, cleanup=cleanup)
            return cleaned(text)
        ids = cast("Ids", one_or_many(ids))
        plain = cleanup is None and self._cleanup is None
        if cleanup is None:
            cleanup = self._cleanup
        listed = ids if type(ids) is list else as_ids(ids)
        if not isinstance(listed, list):
            listed = listed.tolist()
        try:  # ids checked at once, then each one's text from the tables
            if not all(type(tid) is int for tid in listed):
                raise TypeError  # NumPy ints, bools: read one by one (floats refused)
            if listed and (min(listed) < 0 or max(listed) >= len(self._vocab)):
                raise IndexError
            first, later = self._decode_table(bool(cleanup), plain)
            if skip_special_tokens:
                skip = self._skipped_ids()
                listed = [tid for tid in listed if tid not in skip]
            if not listed:
                return ""
            return first[listed[0]] + "".join([later[tid] for tid in listed[1:]])
        except (TypeError, IndexError):  # an id that is no int, or out of range: named below
            pass
        return self._decode_slowly(listed, skip_special_tokens, bool(cleanup), plain)

    def _decode_table(self, cleanup: bool, plain: bool) -> tuple[list[str], list[str]]:
        """Each id's text as :meth:`decode` writes it first and after another token."""
        table = self._decode_tables.get((cleanup, plain))
        if table is None:
            prefix = self._core.wordpiece[1]

            def clean(token: str) -> str:
                if cleanup:
                    for dirty, tidy in _CLEANUP:
                        token = token.replace(dirty, tidy)
                return token

            tokens = [self._forms.get(tid) or t for tid, t in enumerate(self._vocab)]
            later = [
                " " + t if plain or not t.startswith(prefix) else t[len(prefix) :] for t in tokens
            ]
            table = ([clean(t) for t in tokens], [clean(t) for t in later])
            self._decode_tables[(cleanup, plain)] = table
        return table

    def _skipped_ids(self) -> frozenset[int]:
        """The ids ``skip_special_tokens`` leaves out: those whose text is a special token's
        (HF skips by the text)."""
        if self._skip_ids is None:
            self._skip_ids = frozenset(
                tid for tid, t in enumerate(self._vocab)
                if (self._forms.get(tid) or t) in self._specials
            )  # fmt: skip
        return self._skip_ids

    def _decode_slowly(
        self, ids: list[Any], skip_special_tokens: bool, cleanup: bool, plain: bool
    ) -> str:
        """:meth:`decode` one id at a time, each checked (the error names the first bad
        one); the tables give the same text."""
        prefix = self._core.wordpiece[1]
        out: list[str] = []
        for tid in ids:
            tid = self._check_id(tid)
            token = self._forms.get(tid) or self._vocab[tid]
            if skip_special_tokens and token in self._specials:  # HF skips by the text
                continue
            if out and plain:
                token = " " + token
            elif out:
                token = token[len(prefix) :] if token.startswith(prefix) else " " + token
            if cleanup:
                for dirty, clean in _CLEANUP:
                    token = token.replace(dirty, clean)
            out.append(token)
        return "".join(out)

    def decode_batch(
        self, batch: Iterable[Ids], *, skip_special_tokens: bool = True, cleanup: bool | None = None
    ) -> list[str]:
        """Decodes each sequence of ``batch``."""
        out = []
        for row, ids in enumerate(batch):
            try:
                text = self.decode(ids, skip_special_tokens=skip_special_tokens, cleanup=cleanup)
                out.append(text)
            except (TypeError, ValueError) as e:  # which row: the message names no place
                raise at_row(e, row) from None
        return out

    # ----------------------------------------------------------------- vocabulary and files
    @property
    def vocab_size(self) -> int:
        """Number of tokens."""
        return self._core.vocab_size

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special tokens (recognised in raw text) and their ids."""
        return dict(self._specials)

    def _template_parts(self, pair: bool) -> list[tuple[str, int, int]]:
        single, pairs = self._core.templates()
        return list(pairs if pair else single)

    @property
    def added_tokens(self) -> dict[str, int]:
        """The added tokens that are not special (HF's ``add_tokens``: found in text before
        the normalizer and pre-tokenizer, kept by ``decode``) and their ids."""
        return dict(self._added)

    def token_to_id(self, token: str) -> int | None:
        """The id of a token (None where the vocabulary has no such token)."""
        if not isinstance(token, str):
            raise TypeError(f"token_to_id takes a token (str), got {type(token).__name__}")
        return self._ids.get(token)

    def id_to_token(self, id: int) -> str:
        """The token with this id (a ``normalized`` added token: its normalized form, as
        HF gives it); raises :class:`TokenIdError` for an id outside the vocabulary
        (negative ids included: -1 is not the last token)."""
        tid = self._check_id(id)
        return self._forms.get(tid) or self._vocab[tid]

    def _spelled(self, tid: int) -> str:
        return self.id_to_token(tid)

    def _id_of(self, token: str) -> int | None:
        tid = self._ids.get(token)
        return tid if tid is not None else self._ids.get(self._core.wordpiece[0])

    def _check_id(self, tid: Any) -> int:
        """``tid`` as an int, or :class:`TokenIdError` / ``TypeError`` naming it."""
        try:
            value = operator.index(tid)  # ints only: 1.5 is not an id
        except TypeError:
            raise TypeError(f"token ids must be integers, got {tid!r}") from None
        if not 0 <= value < len(self._vocab):
            raise TokenIdError(
                f"token id {value} is not in the vocabulary (valid ids are "
                f"0..{len(self._vocab) - 1}); check the ids came from this tokenizer"
            )
        return value

    def vocab(self) -> dict[str, int]:
        """Every token and its id."""
        return dict(self._ids)

    def with_template(
        self, cls_token: str | None = "[CLS]", sep_token: str | None = "[SEP]"
    ) -> WordPieceTokenizer:
        """A copy that puts these special tokens around every text, as BERT does:
        ``cls_token A sep_token``, pairs ``cls_token A sep_token B sep_token`` (B with type
        id 1), in the encode methods and in the ``tokenizer.json`` it saves, which HF loads
        the same (RoBERTa's names: ``with_template("<s>", "</s>")``).
        ``with_template(None, None)``: no template. Everything else is kept."""
        for role, token in (("cls_token", cls_token), ("sep_token", sep_token)):
            if token is not None and token not in self._specials:
                raise ConfigError(
                    f"{role} {token!r} is not one of the special tokens "
                    f"{sorted(self._specials)}; train the tokenizer with it"
                )
        if (cls_token is None) != (sep_token is None):
            raise ConfigError(
                "give both cls_token and sep_token (BERT's template needs both), or neither "
                "for no template"
            )
        doc = self._hf_doc()
        single, pair = bert.bert_template(self._vocab, cls_token, sep_token)
        doc["post_processor"] = bert.template_doc(self._vocab, single, pair)
        copy = Tokenizer.from_str(json.dumps(doc, ensure_ascii=False))
        assert isinstance(copy, WordPieceTokenizer)
        return copy

    def save(self, path: PathLike, *, format: Literal["hf", "vocab"] = "hf") -> None:
        """Saves ``tokenizer.json`` (``"hf"``: loads in HF ``tokenizers`` with identical
        outputs) or ``vocab.txt`` (``"vocab"``); a directory, or a path ending in a
        separator (created), gets the file inside. Writes are atomic."""
        if format == "hf":
            target = save_target(path, "tokenizer.json")
            atomic_write(target, json.dumps(self._hf_doc(), ensure_ascii=False, indent=1))
        elif format == "vocab":
            target = save_target(path, "vocab.txt")
            bert_vocab.save_vocab(self._core, target)
            self._warn_lost(target)
        else:
            raise ValueError(f"unknown format {format!r}; use 'hf' or 'vocab'")

    def _hf_doc(self, file: bool = True) -> dict[str, Any]:
        pad_token = self._vocab[self._padding.pad_id] if self._padding else "[PAD]"
        return bert.dump_json(
            self._core,
            None if self._truncation is None else self._truncation.to_hf(),
            None if self._padding is None else self._padding.to_hf(pad_token),
            self._cleanup,
        )

    def _warn_lost(self, target: Path) -> None:
        """Warns about what a ``vocab.txt`` (with the ``tokenizer_config.json`` beside it,
        if any) does not give back: loaded the way ``from_file`` loads it, is it this
        tokenizer?"""
        lost = []
        try:
            back: BertTokenizer | None = bert_vocab.load_vocab(target)
        except LexforgeError as e:  # a vocabulary without [CLS], say
            back, reason = None, str(e)
        if back is None:
            lost.append(f"enough to load it back ({reason})")
        else:
            ours, theirs = self._core.normalizer, back.normalizer
            steps, splits = self._core.pipeline
            if steps or splits != ["BertPreTokenizer"]:
                lost.append(f"its normalizer {steps} and pre-tokenizer {splits}")
            elif ours is None:
                lost.append("that it has no normalizer")
            elif ours != theirs:
                assert theirs is not None
                lost += [
                    f"{name}={mine} (it loads as {theirs[k]})"
                    for k, (name, mine) in enumerate(zip(_NORMALIZER, ours, strict=True))
                    if mine != theirs[k]
                ]
            unk, prefix, longest = self._core.wordpiece
            if unk != back.wordpiece[0]:
                lost.append(f"the unknown token {unk!r}")
            if prefix != back.wordpiece[1]:
                lost.append(f"the continuing prefix {prefix!r}")
            if longest != back.wordpiece[2]:
                lost.append(f"max_input_chars_per_word={longest}")
            extra = sorted(set(self._specials) - set(dict(back.specials())))
            if extra:
                lost.append(f"the special tokens {extra}")
            if self._added:
                lost.append(f"the added tokens {sorted(self._added)}")
            if self._core.templates() != back.templates():
                lost.append("the special tokens put around each text (the template)")
        if self._truncation is not None or self._padding is not None:
            lost.append("the truncation and padding")
        ours = self._core.normalizer
        if ours is not None and not ours[3] and not _says_cased(target.parent):
            # lexforge reads the case from the tokens; HF's BertWordPieceTokenizer and
            # transformers' BertTokenizer lowercase a lone vocab.txt (do_lower_case=True)
            lost.append(
                "that it is cased (HF tokenizers and transformers read a vocab.txt alone as "
                'uncased; a tokenizer_config.json beside it with "do_lower_case": false '
                "tells them)"
            )
        if lost:
            warnings.warn(
                f"format='vocab' cannot record {'; '.join(lost)}: {target} loads as another "
                "tokenizer; save with format='hf' (tokenizer.json) to keep everything, or "
                "load it with Tokenizer.from_vocab(...) and the options",
                UserWarning,
                stacklevel=3,
            )

    def __repr__(self) -> str:
        lower, (steps, splits) = self._core.normalizer, self._core.pipeline
        case = "no normalizer" if lower is None else ("uncased" if lower[3] else "cased")
        if steps or splits != ["BertPreTokenizer"]:
            case = f"{'normalizer ' + '+'.join(steps) if steps else case}, pre-tokenizer "
            case += "+".join(splits) or "none"
        return f"WordPieceTokenizer(vocab_size={self.vocab_size}, {case})"


# the normalizer's options, in the order the core gives them
_NORMALIZER = ("clean_text", "handle_chinese_chars", "strip_accents", "lowercase")


def _says_cased(folder: Path) -> bool:
    """Whether ``folder``'s tokenizer_config.json sets ``do_lower_case`` false."""
    try:
        config = loads_json((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("do_lower_case") is False
