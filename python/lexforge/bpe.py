"""The byte-level BPE tokenizer (:class:`BpeTokenizer`): encode, decode, save.

Policy lives here (defaults, special-token safety, file formats, argument checks); the
mechanism is the Rust core (``lexforge._core.Bpe``), which runs every O(n) step with the
GIL released. Special tokens follow tiktoken's safety rule: by default a special token's
text inside ordinary input raises :class:`SpecialTokenError` instead of silently becoming
a control token; pass ``allowed_special`` to encode it, or ``disallowed_special=()`` to
encode it as plain text.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from lexforge._core import Bpe
from lexforge.batch import (
    MAX_THREADS,
    BatchEncoding,
    Padding,
    Truncation,
    check_int,
    model_inputs,
    resolve_options,
)
from lexforge.errors import ConfigError, EncodingError
from lexforge.formats import gpt2, hf_json, names_folder, save_target, tiktoken
from lexforge.tokenizer import (
    Tokenizer,
    as_ids,
    bad_ids,
    bad_text,
    check_text,
    not_texts,
)
from lexforge.training import PathLike

if TYPE_CHECKING:  # numpy loads only when arrays are used, so training stays lean
    import numpy as np
    import numpy.typing as npt

    from lexforge.tokenizer import Ids

__all__ = ["BpeTokenizer"]

SpecialSet = Literal["all"] | Collection[str]


class BpeTokenizer(Tokenizer):
    """A byte-level BPE tokenizer (GPT-2 / tiktoken family).

    Build one with :meth:`Tokenizer.train_bpe`, :meth:`Tokenizer.from_counts`,
    :meth:`Tokenizer.from_file`, :meth:`Tokenizer.from_tiktoken` or
    :meth:`Tokenizer.from_gpt2`.
    """

    _core: Bpe

    def __init__(
        self,
        core: Bpe,
        *,
        offsets: hf_json.OffsetTrim | None = None,
        template: hf_json.Template | None = None,
        truncation: Truncation | None = None,
        padding: Padding | None = None,
        join_tokens: bool = False,
    ) -> None:
        self._core = core
        # a tokenizer.json without a decoder: decode joins the tokens' spellings, as HF does
        self._join_tokens = join_tokens
        # defaults from a tokenizer.json for encode and encode_batch (HF applies them there)
        self._truncation = truncation
        self._padding = padding
        # special tokens put around every text by the encode methods (BERT's [CLS] A [SEP])
        self._template = template
        self._lstrip = frozenset(core.lstrip())
        self._specials: dict[str, int] = dict(core.specials())
        self._special_index = {text: i for i, (text, _) in enumerate(core.specials())}
        self._decoded_specials: dict[int, bytes] | None = None  # see _special_bytes
        # HF's ByteLevel post-processor with trim_offsets: spans without their spaces
        self._offsets = offsets

    def save(self, path: PathLike, *, format: Literal["hf", "gpt2", "tiktoken"] = "hf") -> None:
        """Saves the tokenizer: ``"hf"`` writes ``tokenizer.json`` (loads in HF
        ``tokenizers`` with identical ids; a directory, or a path ending in a separator
        (created), gets ``tokenizer.json`` inside),
        ``"gpt2"`` writes ``vocab.json`` + ``merges.txt`` into the directory ``path`` (only
        for the ``gpt2`` pattern, which the files cannot record: :class:`ConfigError`
        otherwise; special tokens other than ``<|endoftext|>`` lose their mark, with a
        warning),
        ``"tiktoken"`` writes a rank file, which records neither the pattern nor special
        tokens (a warning names what a plain load would not restore). Writes are atomic."""
        if format == "hf":
            target = save_target(path, "tokenizer.json")
            pad = self._padding
            hf_json.save(
                self._core, target, offsets=self._offsets, template=self._template,
                truncation=None if self._truncation is None else self._truncation.to_hf(),
                padding=None if pad is None else pad.to_hf(self._token_text(pad.pad_id)),
                decoder=not self._join_tokens,
            )  # fmt: skip
        elif format == "gpt2":
            self._check_gpt2_format()
            self._warn_lost("gpt2")
            gpt2.save(self._core, Path(path))
        elif format == "tiktoken":
            if names_folder(path):
                raise ConfigError(
                    f"{os.fsdecode(path)} names a folder; a tiktoken rank file is one file: "
                    "name it (e.g. ranks.tiktoken)"
                )
            self._check_tiktoken_format(Path(path))
            self._warn_lost("tiktoken")
            tiktoken.save(self._core, Path(path))
        else:
            raise ValueError(f"unknown format {format!r}; use 'hf', 'gpt2' or 'tiktoken'")

    def _warn_lost(self, format: str) -> None:
        """Warns about what only tokenizer.json records: the template, lstrip, trimming."""
        lost = []
        if self._template is not None:
            lost.append("the special tokens put around each text (the template)")
        if self._truncation is not None or self._padding is not None:
            lost.append("the file's truncation and padding")
        if self._lstrip:
            names = sorted(t for t, i in self._specials.items() if i in self._lstrip)
            lost.append(f"that {names} take the whitespace before them (lstrip)")
        if lost:
            warnings.warn(
                f"format={format!r} cannot record {' or '.join(lost)}; save with format='hf' "
                "to keep it",
                UserWarning,
                stacklevel=3,
            )
        if self._offsets is not None and self._offsets.trim:
            warnings.warn(
                f"format={format!r} cannot record that offsets leave out a token's spaces "
                "(trim_offsets in the tokenizer.json this was loaded from); a load of it "
                "gives spans with the spaces; save with format='hf' to keep it",
                UserWarning,
                stacklevel=3,
            )

    def _check_gpt2_format(self) -> None:
        """GPT-2's file pair records neither a pattern nor special tokens: every reader
        (lexforge, HF, GPT-2's own code) loads it with GPT-2's regex and ``<|endoftext|>``
        as the only special token. Another pattern would silently give other ids: refused.
        Other special tokens stay in ``vocab.json`` and only lose their mark (a reader can
        name them again): a warning."""
        if self.preset != "gpt2":
            raise ConfigError(
                f"format='gpt2' cannot record the pre-tokenization pattern "
                f"{self.preset or self.pattern!r}: vocab.json + merges.txt always load with "
                "GPT-2's pattern, which would give different ids; save with format='hf' "
                "(tokenizer.json) or format='tiktoken' (load with pattern=...)"
            )
        extra = sorted(set(self._specials) - set(gpt2.GPT2_SPECIALS))
        if extra:
            warnings.warn(
                f"format='gpt2' cannot mark {extra} as special tokens: vocab.json + merges.txt "
                "load them as ordinary tokens (encoded piece by piece in text); reload with "
                f"Tokenizer.from_gpt2(path, special_tokens={sorted(self._specials)!r}), or "
                "save with format='hf' (tokenizer.json), which keeps them",
                UserWarning,
                stacklevel=3,
            )

    def _check_tiktoken_format(self, path: Path) -> None:
        """A rank file holds only the mergeable tokens: loading takes the pattern and
        special tokens from the caller, or from the preset when the file is a shipped
        encoding's (``cl100k_base.tiktoken`` with cl100k's ranks). Whatever a plain load of
        ``path`` would not give back: a warning naming it and how to get it back."""
        preset = tiktoken.preset_for(path, len(self._core.vocab()))
        restored = tiktoken.PRESET_SPECIALS[preset] if preset else {}
        lost = []
        if self.preset is None or self.preset != preset:
            lost.append(f"the pre-tokenization pattern {self.preset or self.pattern!r}")
        if self._specials and self._specials != restored:
            lost.append(f"the special tokens {self._specials}")
        if lost:
            pattern = self.preset or self.pattern
            warnings.warn(
                f"format='tiktoken' cannot record {' or '.join(lost)}: a rank file holds only "
                f"the mergeable tokens; reload with Tokenizer.from_tiktoken(path, "
                f"pattern={pattern!r}, special_tokens={self._specials!r}), or save with "
                "format='hf' (tokenizer.json), which keeps them",
                UserWarning,
                stacklevel=3,
            )

    # ----------------------------------------------------------------- encoding
    def _policy(
        self, allowed: SpecialSet, disallowed: SpecialSet
    ) -> tuple[list[int] | None, list[int] | None]:
        return self._indices(allowed, "allowed_special"), self._indices(
            disallowed, "disallowed_special"
        )

    def _indices(self, names: SpecialSet, arg: str) -> list[int] | None:
        if names == "all":
            return None
        if isinstance(names, str) or not isinstance(names, Iterable):
            raise TypeError(f'{arg} must be "all" or a collection of special tokens, not {names!r}')
        out = []
        for name in names:
            i = self._special_index.get(name)
            if i is None:
                known = ", ".join(repr(s) for s in self._specials) or "none"
                raise ValueError(
                    f"{arg} names {name!r}, which is not a special token (special tokens: {known})"
                )
            out.append(i)
        return out

    def _framed(self, ids: list[int], add: bool) -> list[int]:
        """``ids`` inside the template's special tokens (when there is one and ``add``)."""
        if self._template is None or not add:
            return ids
        return [*self._template.prefix, *ids, *self._template.suffix]

    def _framed_array(self, ids: Any, add: bool) -> Any:
        if self._template is None or not add:
            return ids
        import numpy as np

        t = self._template
        return np.concatenate([np.array(t.prefix, np.uint32), ids, np.array(t.suffix, np.uint32)])

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
    ) -> list[int]:
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

        Raises:
            SpecialTokenError: a disallowed special token's text is in ``text``.
            EncodingError: ``text`` holds a lone surrogate (no UTF-8 form), as do every
                encode method and batch here; the message names where.
        """
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

    def _trim(self) -> bool | None:
        """The core's offset trimming: None (spans as encoded), else HF's ByteLevel
        ``trim_offsets`` with this ``add_prefix_space``."""
        if self._offsets is None or not self._offsets.trim:
            return None
        return self._offsets.add_prefix_space

    def _template_arg(self) -> tuple[list[hf_json.Piece], list[hf_json.Piece]] | None:
        if self._template is None:
            return None
        return list(self._template.single), list(self._template.pair)

    def _pad_id(self) -> int | None:
        """The padding id: the tokenizer.json's ``padding.pad_id``, else the id of the
        padding token (``[PAD]``, ``<pad>`` or ``<|pad|>``), if any."""
        if self._padding is not None:
            return self._padding.pad_id
        return next(
            (self._specials[t] for t in ("[PAD]", "<pad>", "<|pad|>") if t in self._specials),
            None,
        )

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
        texts: Sequence[str],
        pairs: Sequence[str] | None = ...,
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
        return_offsets: bool = ...,
        return_overflowing_tokens: bool = ...,
        num_threads: int | None = ...,
    ) -> list[list[int]]: ...
    @overload
    def encode_batch(
        self,
        texts: Sequence[str],
        pairs: Sequence[str] | None = ...,
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
        return_offsets: bool = ...,
        return_overflowing_tokens: bool = ...,
        num_threads: int | None = ...,
    ) -> BatchEncoding: ...
    def encode_batch(
        self,
        texts: Sequence[str],
        pairs: Sequence[str] | None = None,
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
        return_offsets: bool = False,
        return_overflowing_tokens: bool = False,
        num_threads: int | None = None,
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
        truncation or padding, if the file sets one (as HF applies it), else none.

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
        if plain and return_tensors is None and not isinstance(texts, str):
            batch = list(texts)  # the fast path: no rows to build
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
            lambda t, p, trunc, pad, overflow: core.encode_batch_lists(
                t, p, allowed, disallowed, template, add_special_tokens, trunc, pad, overflow,
                num_threads,
            ),
            lambda t, f, p, trunc, pad, overflow: core.encode_batch_arrays(
                t, f, p, allowed, disallowed, template, add_special_tokens, trunc, pad,
                overflow, trim, num_threads,
            ),
            texts, pairs, truncation=trunc, padding=pad, overflow=return_overflowing_tokens,
            return_tensors=return_tensors, special_tokens_mask=return_special_tokens_mask,
            word_ids=return_word_ids, offsets=return_offsets,
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
        batch = list(texts)
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

    def with_template(
        self,
        cls_token: str | None = "[CLS]",
        sep_token: str | None = "[SEP]",
        *,
        lstrip: Collection[str] = (),
    ) -> BpeTokenizer:
        """A copy that puts BERT's special tokens around every text: ``cls_token text
        sep_token`` (pairs in a saved file: ``cls A sep B sep``, B with type id 1), in the
        encode methods and in the ``tokenizer.json`` it saves, which HF loads the same
        (RoBERTa's framing is ``with_template("<s>", "</s>")``). The special tokens named
        in ``lstrip`` take the whitespace before them, as RoBERTa's ``<mask>`` does, so
        that ``"is [MASK]."`` masks the word ``" Paris"`` and not ``"Paris"`` after a lone
        space. ``with_template(None, None)``: no template. Offsets leave out a token's
        spaces (HF's ``trim_offsets``) in the copy."""
        for role, token in (("cls_token", cls_token), ("sep_token", sep_token)):
            if token is not None and token not in self._specials:
                raise ConfigError(
                    f"{role} {token!r} is not one of the special tokens "
                    f"{sorted(self._specials)}; train the tokenizer with it"
                )
        if isinstance(lstrip, str):
            raise TypeError(f"lstrip must be a collection of special tokens, not {lstrip!r}")
        strip = []
        for token in lstrip:
            if token not in self._specials:
                raise ConfigError(
                    f"lstrip names {token!r}, which is not a special token "
                    f"({sorted(self._specials)})"
                )
            strip.append(self._specials[token])
        core = self._core
        if sorted(strip) != sorted(self._lstrip):
            vocab, text = self._core.vocab(), {i: t for t, i in self._core.vocab()}
            core = Bpe.from_merges(
                vocab, [(text[a], text[b]) for a, b in self._core.merges()],
                self._core.specials(), self._core.pattern, self._core.ignore_merges, strip,
            )  # fmt: skip
        pieces: list[hf_json.Piece] = []
        if cls_token is not None:
            pieces.append(("special", self._specials[cls_token], 0))
        pieces.append(("A", 0, 0))
        single = [*pieces]
        if sep_token is not None:
            single.append(("special", self._specials[sep_token], 0))
        pair = [*single, ("B", 0, 1)]
        if sep_token is not None:
            pair.append(("special", self._specials[sep_token], 1))
        template = None
        if cls_token is not None or sep_token is not None:
            template = hf_json.Template(tuple(single), tuple(pair))
        offsets = hf_json.OffsetTrim(trim=True, add_prefix_space=False)
        return BpeTokenizer(
            core, offsets=offsets, template=template, truncation=self._truncation,
            padding=self._padding, join_tokens=self._join_tokens,
        )  # fmt: skip

    @property
    def template(self) -> tuple[list[str], list[str]] | None:
        """The special tokens put before and after each text, None without a template."""
        if self._template is None:
            return None
        names = {i: t for t, i in self._specials.items()}
        t = self._template
        return [names[i] for i in t.prefix], [names[i] for i in t.suffix]

    @property
    def lstrip(self) -> list[str]:
        """The special tokens that take the whitespace before them."""
        return sorted(t for t, i in self._specials.items() if i in self._lstrip)

    # ----------------------------------------------------------------- decoding
    def decode_bytes(self, ids: Ids) -> bytes:
        """The bytes of ``ids``; raises :class:`TokenIdError` for an id not in the vocabulary."""
        core_ids = as_ids(ids)
        try:
            return self._core.decode_bytes(core_ids)
        except TypeError:
            raise bad_ids(core_ids, self.vocab_size) from None

    def decode(self, ids: Ids, *, skip_special_tokens: bool = True, errors: str = "replace") -> str:
        """The text of ``ids``, as HF tokenizers decodes them from the ``tokenizer.json``
        this tokenizer saves. Special tokens are left out unless ``skip_special_tokens`` is
        False (True by default, as in HF tokenizers and lexforge's WordPiece). A special
        token kept is read as HF's ByteLevel decoder reads it: when each of its characters
        is one of the byte-level alphabet's, as the bytes they stand for (``"<Ġx>"`` is
        ``"< x>"``, ``"<café>"`` holds the lone byte of ``é``), else as its UTF-8 text.
        Bytes that are not valid UTF-8 (a sequence cut mid-character) are handled by
        ``errors`` as in ``bytes.decode`` (default: U+FFFD). Loaded from a
        ``tokenizer.json`` without a decoder, as HF decodes then: the tokens as the file
        spells them (``"Ġworld"``), joined by spaces."""
        core_ids = as_ids(ids)
        data = self.decode_bytes(core_ids)  # checks the ids
        specials = self._special_bytes()
        if self._join_tokens:
            keep = [int(t) for t in core_ids if not (skip_special_tokens and int(t) in specials)]
            return " ".join(self._token_text(tid) for tid in keep)
        if specials and self._holds_special(core_ids):
            # the runs between special tokens as the core decodes them, each special's bytes
            # (or nothing) between them
            parts: list[bytes] = []
            listed, start = [int(t) for t in core_ids], 0
            for at, tid in enumerate(listed):
                if tid in specials:
                    parts.append(self._core.decode_bytes(listed[start:at]))
                    parts.append(b"" if skip_special_tokens else specials[tid])
                    start = at + 1
            parts.append(self._core.decode_bytes(listed[start:]))
            data = b"".join(parts)
        return data.decode("utf-8", errors=errors)

    def decode_batch(
        self, batch: Iterable[Ids], *, skip_special_tokens: bool = True, errors: str = "replace"
    ) -> list[str]:
        """Decodes each sequence of ``batch`` (options as in :meth:`decode`)."""
        out = []
        for row, ids in enumerate(batch):
            try:
                out.append(self.decode(ids, skip_special_tokens=skip_special_tokens, errors=errors))
            except (TypeError, ValueError) as e:  # which row: the message names no place
                raise type(e)(f"batch[{row}]: {e}") from None
        return out

    def _special_bytes(self) -> dict[int, bytes]:
        """Each special token's id and the bytes HF's ByteLevel decoder reads its text as:
        those its characters stand for in the byte-level alphabet when all are in it, else
        its UTF-8 encoding."""
        if self._decoded_specials is None:
            from lexforge import _bytelevel

            self._decoded_specials = {
                tid: _bytelevel.decode(text) or text.encode()
                for text, tid in self._specials.items()
            }
        return self._decoded_specials

    def _holds_special(self, ids: npt.NDArray[Any] | list[int]) -> bool:
        """Whether ``ids`` (checked) holds a special token's id."""
        specials = self._special_bytes()
        if isinstance(ids, list):
            return not specials.keys().isdisjoint(ids)
        import numpy as np

        return bool(np.isin(ids, list(specials)).any())

    # ----------------------------------------------------------------- vocabulary
    @property
    def vocab_size(self) -> int:
        """One more than the largest id (special tokens included)."""
        return self._core.vocab_size

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special tokens and their ids."""
        return dict(self._specials)

    @property
    def pattern(self) -> str:
        """The pre-tokenization regex."""
        return self._core.pattern

    @property
    def preset(self) -> str | None:
        """``"gpt2"``, ``"cl100k"`` or ``"o200k"`` when the pattern is a preset."""
        return self._core.preset

    def token_to_id(self, token: bytes | str) -> int | None:
        """The id of a token given as bytes, or as a special token's text."""
        if isinstance(token, str):
            if token in self._specials:
                return self._specials[token]
            try:
                token = token.encode("utf-8")
            except UnicodeEncodeError as e:
                raise bad_text(e) from None
        return self._core.token_id(token)

    def _token_text(self, tid: int) -> str:
        """A token as a ``tokenizer.json`` spells it: a special token's text, else its
        bytes in the byte-level alphabet."""
        from lexforge import _bytelevel

        names = {i: t for t, i in self._specials.items()}
        return names[tid] if tid in names else _bytelevel.encode(self.id_to_token(tid))

    def id_to_token(self, id: int) -> bytes:
        """The bytes of a token; raises :class:`TokenIdError` for an unknown id."""
        return self.decode_bytes([id])

    def vocab(self) -> dict[bytes, int]:
        """Every mergeable token (bytes) and its id."""
        return dict(self._core.vocab())

    def merges(self) -> list[tuple[bytes, bytes]]:
        """The merges in priority order, as pairs of token bytes."""
        text = {tid: tok for tok, tid in self._core.vocab()}
        return [(text[a], text[b]) for a, b in self._core.merges()]

    def __repr__(self) -> str:
        return (
            f"BpeTokenizer(vocab_size={self.vocab_size}, pattern={self.preset or self.pattern!r}, "
            f"special_tokens={len(self._specials)}"
            + (f", template={self.template}" if self._template is not None else "")
            + ")"
        )
