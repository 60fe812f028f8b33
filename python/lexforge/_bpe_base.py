"""The state of a :class:`~lexforge.bpe.BpeTokenizer` and what reads it without encoding.

:class:`BpeBase` holds the compiled core (``lexforge._core.Bpe``) and the options a
``tokenizer.json`` gave (template, truncation, padding, offset trimming); the
special-token policy and template framing that every encode method applies; decoding
(ids to bytes and text, special tokens read as HF's ByteLevel decoder reads them); and the
vocabulary. The encode methods are :mod:`lexforge._bpe_encode`'s, saving
:mod:`lexforge._bpe_save`'s, templates :mod:`lexforge.bpe`'s.
"""

from __future__ import annotations

import operator
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from lexforge._core import Bpe
from lexforge._text_checks import as_ids, at_row, bad_ids, bad_text, check_flag, one_or_many
from lexforge.batch import Padding, Truncation
from lexforge.formats import hf_post
from lexforge.tokenizer import Tokenizer

if TYPE_CHECKING:  # numpy loads only when arrays are used, so training stays lean
    import numpy.typing as npt

    from lexforge.tokenizer import Ids

SpecialSet = Literal["all"] | Collection[str]


class BpeBase(Tokenizer):
    """A byte-level BPE tokenizer's state, special-token policy, decoding and vocabulary:
    the part of :class:`~lexforge.bpe.BpeTokenizer` its other parts build on."""

    _core: Bpe

    def __init__(
        self,
        core: Bpe,
        *,
        offsets: hf_post.OffsetTrim | None = None,
        template: hf_post.Template | None = None,
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
        # added tokens that are not special: always found in text, kept by decode
        self._added: dict[str, int] = dict(core.added_tokens())
        self._special_index = {text: i for i, (text, _) in enumerate(core.specials())}
        self._decoded_specials: dict[int, bytes] | None = None  # see _special_bytes
        self._skipped_ids: frozenset[int] | None = None  # see _skipped
        # what decode and id_to_token read a normalized added token as: its normalized form
        # (HF's, which decodes what the normalizer made of it)
        normalized = set(core.flagged("normalized")) if core.normalizer else set()
        self._forms = {
            tid: core.normalize(text)
            for text, tid in [*core.specials(), *core.added_tokens()]
            if tid in normalized and core.normalize(text) != text
        }
        # HF's ByteLevel post-processor with trim_offsets: spans without their spaces
        self._offsets = offsets

    def _add_new(self, added: list[Any]) -> int | None:
        """New added tokens (none added before, none a vocabulary token) in a copy of the
        core's tables, with the ids HF's ``add_tokens`` gives them: what the rebuild
        through the ``tokenizer.json`` document gives, without it (0.2 s a call for
        cl100k)."""
        from lexforge import _bytelevel
        from lexforge.formats.added import core_args, from_core, ids_of_new

        core = self._core

        def in_model(text: str) -> bool:
            raw = _bytelevel.decode(text)
            return raw is not None and core.token_id(raw) is not None

        count, top = core.model_span()
        now = from_core(core)
        is_token = (lambda tid: core.token_bytes(tid) is not None, -1 if top is None else top)
        new = ids_of_new(now, added, in_model, count, is_token)
        if new is None:
            return None
        every = [*now, *new]  # (new ids are past every id: last, as the document lists them)
        specials = [(t.content, t.id) for t in every if t.special]
        self._become(type(self)(core.with_tokens(specials, **core_args(every)), **self._options()))
        return len(new)

    def _options(self) -> dict[str, Any]:
        return {
            "offsets": self._offsets, "template": self._template,
            "truncation": self._truncation, "padding": self._padding,
            "join_tokens": self._join_tokens,
        }  # fmt: skip

    # ----------------------------------------------------------------- special tokens and framing
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

    def _trim(self) -> bool | None:
        """The core's offset trimming: None (spans as encoded), else HF's ByteLevel
        ``trim_offsets`` with this ``add_prefix_space``."""
        if self._offsets is None or not self._offsets.trim:
            return None
        return self._offsets.add_prefix_space

    def _template_arg(self) -> tuple[list[hf_post.Piece], list[hf_post.Piece]] | None:
        if self._template is None:
            return None
        return list(self._template.single), list(self._template.pair)

    def _pad_id(self) -> int | None:
        """The padding id: the tokenizer.json's ``padding.pad_id``, else the id of the
        padding token (``[PAD]``, ``<pad>`` or ``<|pad|>``), if any."""
        if self._pad_override is not None:  # (set by hand: tok.pad_token = ...)
            return self._id_of(self._pad_override)
        if self._padding is not None:
            return self._padding.pad_id
        return next(
            (self._specials[t] for t in ("[PAD]", "<pad>", "<|pad|>") if t in self._specials),
            None,
        )

    # ----------------------------------------------------------------- decoding
    def decode_bytes(self, ids: Ids) -> bytes:
        """The bytes of ``ids``; raises :class:`TokenIdError` for an id not in the vocabulary."""
        core_ids = as_ids(ids)
        try:
            return self._core.decode_bytes(core_ids)
        except TypeError:
            raise bad_ids(core_ids, self.vocab_size) from None

    def decode(
        self,
        ids: Ids | int,
        *,
        skip_special_tokens: bool = True,
        errors: str = "replace",
        clean_up_tokenization_spaces: bool | None = None,
    ) -> str:
        """The text of ``ids`` (or of one id), as HF tokenizers decodes them from the
        ``tokenizer.json`` this tokenizer saves. Special tokens are left out unless
        ``skip_special_tokens`` is False (True by default, as in HF tokenizers and
        lexforge's WordPiece). A special
        token kept is read as HF's ByteLevel decoder reads it: when each of its characters
        is one of the byte-level alphabet's, as the bytes they stand for (``"<Ġx>"`` is
        ``"< x>"``, ``"<café>"`` holds the lone byte of ``é``), else as its UTF-8 text.
        Bytes that are not valid UTF-8 (a sequence cut mid-character) are handled by
        ``errors`` as in ``bytes.decode`` (default: U+FFFD). Loaded from a
        ``tokenizer.json`` without a decoder, as HF decodes then: the tokens as the file
        spells them (``"Ġworld"``), joined by spaces. ``clean_up_tokenization_spaces``
        (transformers' option, off as there for byte-level BPE): the spaces before
        punctuation and contractions removed."""
        if skip_special_tokens is not True and skip_special_tokens is not False:
            skip_special_tokens = check_flag("skip_special_tokens", skip_special_tokens)
        tried = False
        if type(ids) is list and errors == "replace" and not self._join_tokens:
            tried = True  # the common case in one core call (no added token among the ids)
            try:
                text = self._core.decode_plain(ids)
            except TypeError:
                raise bad_ids(ids, self.vocab_size) from None
            if text is not None:
                return cleaned_text(text) if clean_up_tokenization_spaces else text
        text = self._decode(one_or_many(ids), skip_special_tokens, errors, tried)
        return cleaned_text(text) if clean_up_tokenization_spaces else text

    def _decode(self, ids: Ids, skip_special_tokens: bool, errors: str, tried: bool) -> str:
        """:meth:`decode`'s reading of the ids (``tried``: the core's plain reading of
        them gave nothing, an added token among them)."""
        if not tried and type(ids) is list and errors == "replace" and not self._join_tokens:
            try:  # (one id, given alone, as a list)
                text = self._core.decode_plain(ids)
            except TypeError:
                raise bad_ids(ids, self.vocab_size) from None
            if text is not None:
                return text
        core_ids = ids if type(ids) is list else as_ids(ids)  # (the core reads a list)
        if not isinstance(core_ids, list) and len(core_ids) < 1 << 12:
            core_ids = core_ids.tolist()  # a short array reads faster as a list here
        try:
            data = self._core.decode_bytes(core_ids)  # checks the ids
        except TypeError:
            raise bad_ids(core_ids, self.vocab_size) from None
        specials = self._special_bytes()
        skipped = self._skipped() if skip_special_tokens else frozenset()
        if self._join_tokens:
            keep = [int(t) for t in core_ids if int(t) not in skipped]
            return " ".join(self._token_text(tid) for tid in keep)
        if specials and self._holds_special(core_ids):
            # the runs between added tokens as the core decodes them, each added token's
            # bytes (or nothing, for a special one skipped) between them
            parts: list[bytes] = []
            listed, start = [int(t) for t in core_ids], 0
            for at, tid in enumerate(listed):
                if tid in specials:
                    parts.append(self._core.decode_bytes(listed[start:at]))
                    parts.append(b"" if tid in skipped else specials[tid])
                    start = at + 1
            parts.append(self._core.decode_bytes(listed[start:]))
            data = b"".join(parts)
        return data.decode("utf-8", errors=errors)

    def decode_batch(
        self, batch: Iterable[Ids], *, skip_special_tokens: bool = True, errors: str = "replace"
    ) -> list[str]:
        """Decodes each sequence of ``batch`` (options as in :meth:`decode`)."""
        out = []
        # a list of vocabulary ids in one core call (as decode's common case), else decode
        plain = None
        if type(skip_special_tokens) is bool and errors == "replace" and not self._join_tokens:
            plain = self._core.decode_plain
        for row, ids in enumerate(batch):
            text = None
            if plain is not None and type(ids) is list:
                try:
                    text = plain(ids)
                except (TypeError, ValueError):
                    text = None  # (decode names the bad id, and this row)
            if text is None:
                try:
                    text = self.decode(ids, skip_special_tokens=skip_special_tokens, errors=errors)
                except (TypeError, ValueError) as e:  # which row: the message names no place
                    raise at_row(e, row) from None
            out.append(text)
        return out

    def _skipped(self) -> frozenset[int]:
        """The ids ``decode(skip_special_tokens=True)`` leaves out: as HF, those whose text
        (a normalized token's: its normalized form) is a special token's, so a special
        token the normalizer changes ("[X]" under Lowercase) is kept, as in WordPiece."""
        if self._skipped_ids is None:
            self._skipped_ids = frozenset(
                tid
                for text, tid in [*self._specials.items(), *self._added.items()]
                if self._forms.get(tid, text) in self._specials
            )
        return self._skipped_ids

    def _special_bytes(self) -> dict[int, bytes]:
        """Each added token's id (special ones, and the others that are no vocabulary
        token, which the core decodes as such) and the bytes HF's ByteLevel decoder reads
        its text as: those its characters stand for in the byte-level alphabet when all are
        in it, else its UTF-8 encoding (a normalized added token's text: its normalized
        form, vocabulary token or not)."""
        if self._decoded_specials is None:
            from lexforge import _bytelevel

            added = [
                (t, i)
                for t, i in self._added.items()
                if self._core.token_bytes(i) is None or i in self._forms
            ]
            decoded: dict[int, bytes] = {}
            for text, tid in [*self._specials.items(), *added]:  # a shared id: the first
                text = self._forms.get(tid, text)
                decoded.setdefault(tid, _bytelevel.decode(text) or text.encode())
            self._decoded_specials = decoded
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

    def _template_parts(self, pair: bool) -> list[tuple[str, int, int]]:
        template = self._template_arg()
        if template is None:
            return [("A", 0, 0), ("B", 0, 0)] if pair else [("A", 0, 0)]
        return list(template[1] if pair else template[0])

    @property
    def added_tokens(self) -> dict[str, int]:
        """The added tokens that are not special (HF's ``add_tokens``: found in text before
        pre-tokenization whatever ``allowed_special`` says, kept by ``decode``) and their
        ids."""
        return dict(self._added)

    @property
    def pattern(self) -> str:
        """The pre-tokenization regex."""
        return self._core.pattern

    @property
    def preset(self) -> str | None:
        """``"gpt2"``, ``"cl100k"`` or ``"o200k"`` when the pattern is a preset."""
        return self._core.preset

    def token_to_id(self, token: bytes | str) -> int | None:
        """The id of a token given as bytes, or as a special token's text (or its UTF-8
        bytes, as ``id_to_token`` gives them back and tiktoken's ``encode_single_token``
        takes them)."""
        if isinstance(token, (bytes, bytearray)):
            found = self._core.token_id(bytes(token))
            if found is not None:
                return found
            try:
                token = bytes(token).decode("utf-8")
            except UnicodeDecodeError:
                return None
            if token in self._specials or token in self._added:
                return self._specials.get(token, self._added.get(token))
            return None
        if isinstance(token, str):
            if token in self._specials or token in self._added:
                return self._specials.get(token, self._added.get(token))
            try:
                token = token.encode("utf-8")
            except UnicodeEncodeError as e:
                raise bad_text(e) from None
        else:
            raise TypeError(
                f"token_to_id takes a token as bytes or str, got {type(token).__name__}"
            )
        return self._core.token_id(token)

    def _token_text(self, tid: int) -> str:
        """A token as a ``tokenizer.json`` spells it: a special token's text, else its
        bytes in the byte-level alphabet."""
        from lexforge import _bytelevel

        names: dict[int, str] = {}
        for t, i in [*self._specials.items(), *self._added.items()]:
            names.setdefault(i, t)  # (two specials sharing an id: the first)
        names.update(self._forms)
        return names[tid] if tid in names else _bytelevel.encode(self.id_to_token(tid))

    _as_hf: ClassVar[dict[str, Any]] = {"allowed_special": "all"}

    def _spelled(self, tid: int) -> str:
        self.id_to_token(tid)  # (an unknown id: TokenIdError)
        return self._token_text(tid)

    def _id_of(self, token: str) -> int | None:
        from lexforge import _bytelevel

        named = {**self._added, **self._specials}
        named.update({form: tid for tid, form in self._forms.items()})
        if token in named:
            return named[token]
        raw = _bytelevel.decode(token)
        tid = None if raw is None else self._core.token_id(raw)
        if tid is None:  # the unknown token, where a special one has that role (as the
            # exported folder's tokenizer_config.json names it)
            tid = next((self._specials[t] for t in ("[UNK]", "<unk>") if t in self._specials), None)
        return tid

    def id_to_token(self, id: int) -> bytes:
        """The bytes of a token (a normalized added token's: those of its normalized
        form); raises :class:`TokenIdError` for an unknown id."""
        try:
            tid = operator.index(id)  # ints only: 800.0 is not an id, nor a list
        except TypeError:
            raise TypeError(f"token ids must be integers, got {id!r}") from None
        if tid in self._forms:
            return self._forms[tid].encode()
        return self.decode_bytes([tid])

    def vocab(self) -> dict[bytes, int]:
        """Every mergeable token (bytes) and its id."""
        return dict(self._core.vocab())

    def merges(self) -> list[tuple[bytes, bytes]]:
        """The merges in priority order, as pairs of token bytes."""
        text = {tid: tok for tok, tid in self._core.vocab()}
        return [(text[a], text[b]) for a, b in self._core.merges()]


def cleaned_text(text: str) -> str:
    """transformers' ``clean_up_tokenization_spaces`` on decoded text (see ``decode``)."""
    from lexforge.wordpiece import cleaned

    return cleaned(text)
