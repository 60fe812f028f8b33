"""``lexforge.Tokenizer``: one entry point for every tokenizer lexforge builds or reads.

:class:`Tokenizer` holds the constructors (train, load) and the shared surface; the
instances are its subclasses :class:`lexforge.bpe.BpeTokenizer` (byte-level BPE, the
GPT-2 / tiktoken family) and :class:`lexforge.wordpiece.WordPieceTokenizer` (BERT's
WordPiece with its normalizer, pre-tokenizer and templates). ``Tokenizer.from_file`` picks
the kind from the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, ClassVar, Literal, overload

from lexforge import _core
from lexforge._hf_tokens import NO_LIMIT, role_token
from lexforge._hf_tokens import fixed_role as _fixed_role
from lexforge._progress import Progress
from lexforge.errors import ConfigError, TokenIdError, TokenizerFormatError, TrainerConfigError
from lexforge.formats import detect, tiktoken
from lexforge.training import (
    PathLike,
    WordCounts,
    check_counts,
    check_flags,
    naming_files,
    special_list,
)

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    import numpy.typing as npt

    from lexforge.batch import BatchEncoding
    from lexforge.bpe import BpeTokenizer
    from lexforge.wordpiece import WordPieceTokenizer

    Ids: TypeAlias = Sequence[int] | npt.NDArray[np.integer]

__all__ = ["Tokenizer"]


# which of from_file's options each kind of file takes (the others it carries itself)
_FILE_OPTIONS: dict[str, frozenset[str]] = {
    "hf": frozenset(),
    "bert-vocab": frozenset({"lowercase"}),
    "gpt2": frozenset({"special_tokens"}),
    "tiktoken": frozenset({"pattern", "special_tokens"}),
}
_KIND_NAMES = {
    "hf": "an HF tokenizer.json",
    "bert-vocab": "a BERT vocab.txt",
    "gpt2": "GPT-2 vocab and merges files",
    "tiktoken": "a tiktoken rank file",
}


def _takers(option: str) -> str:
    return " and ".join(_KIND_NAMES[k] for k, names in _FILE_OPTIONS.items() if option in names)


def _from_hf_doc(target: Path, doc: Any) -> Tokenizer:
    """The tokenizer of an HF ``tokenizer.json`` document (read from ``target``, the name
    errors give)."""
    from lexforge.bpe import BpeTokenizer
    from lexforge.formats import bert, hf_json, hf_post
    from lexforge.wordpiece import WordPieceTokenizer

    if bert.is_wordpiece_json(target, doc):
        tokens = _check_wordpiece_json(target, doc)
        core = bert.load_json(target, doc, tokens)
        truncation, padding = _file_defaults(target, doc, core.vocab_size)
        return WordPieceTokenizer(
            core,
            truncation=truncation,
            padding=padding,
            cleanup=bert.decoder_cleanup(target, doc, core.wordpiece[1]),
        )
    bpe, offsets, template = hf_json.load(target, doc)
    truncation, padding = _file_defaults(target, doc, bpe.vocab_size)
    return BpeTokenizer(
        bpe, offsets=offsets, template=template, truncation=truncation, padding=padding,
        join_tokens=not hf_post.has_decoder(target, doc),
    )  # fmt: skip


# HF's AddedToken options, in lexforge's AddedToken order (after content, id, special)
_FLAGS = ("lstrip", "rstrip", "single_word", "normalized")


def _rebuild(cls: type[Tokenizer], core: Any, options: dict[str, Any]) -> Tokenizer:
    """A pickled tokenizer, unpickled (see :meth:`Tokenizer.__reduce__`)."""
    tok: Tokenizer = cls(core, **options)
    return tok


class Tokenizer:
    """A tokenizer: :class:`~lexforge.bpe.BpeTokenizer` or
    :class:`~lexforge.wordpiece.WordPieceTokenizer`. Build one with :meth:`train_bpe`,
    :meth:`train_wordpiece`, :meth:`from_counts` or :meth:`from_file`; ``Tokenizer(core)``
    wraps a compiled model in the matching subclass."""

    _core: Any
    # where ``pad`` and the transformers-style call pad when not told (transformers'
    # attribute, which its collators read too: DataCollatorForTokenClassification)
    padding_side: str = "right"
    # the length the transformers-style call cuts to (truncation=True) and pads to
    # (padding="max_length") when no max_length is given: a model folder's
    # tokenizer_config.json sets it, else transformers' "none" (10**30)
    model_max_length: int = NO_LIMIT
    # where the transformers-style call cuts when not told (transformers' attribute)
    truncation_side: str = "right"
    # transformers' flag for a tokenizer with offsets and word ids of its own (its
    # collators read it): every lexforge tokenizer has them
    is_fast: bool = True
    # the padding token set by hand (``tok.pad_token = tok.eos_token``, transformers' way
    # to pad with a token of another role), which the default padding id follows
    _pad_override: str | None = None
    # transformers' names a tokenizer's inputs go by (its ``pad`` reads the first), and the
    # type id padding gets
    model_input_names: ClassVar[list[str]] = ["input_ids", "token_type_ids", "attention_mask"]
    pad_token_type_id: int = 0
    # where the tokenizer came from (transformers' attribute; "" when not from a file)
    name_or_path: str = ""
    # the attributes set on a tokenizer that pickling keeps
    _KEPT = ("padding_side", "model_max_length", "truncation_side", "_pad_override", "name_or_path")

    def __new__(cls, core: Any, *args: Any, **kwargs: Any) -> Any:
        if cls is Tokenizer:
            from lexforge.bpe import BpeTokenizer
            from lexforge.wordpiece import WordPieceTokenizer

            cls = BpeTokenizer if isinstance(core, _core.Bpe) else WordPieceTokenizer
        return super().__new__(cls)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickling and ``copy`` (``DataLoader`` workers, ``multiprocessing``): the class, the
        compiled core (which pickles as the arguments that rebuild it) and the options the
        tokenizer was built with; a ``padding_side``, ``truncation_side`` or
        ``model_max_length`` set on it."""
        state = {name: vars(self)[name] for name in self._KEPT if name in vars(self)}
        return (_rebuild, (type(self), self._core, self._options()), state or None)

    def _options(self) -> dict[str, Any]:
        """The keyword arguments, besides the core, that rebuild this tokenizer."""
        raise NotImplementedError

    # ----------------------------------------------------------------- the shared surface
    @overload
    def encode(
        self, text: str, *args: Any, return_tensors: None = ..., **kwargs: Any
    ) -> list[int]: ...

    @overload
    def encode(
        self, text: str, *args: Any, return_tensors: Literal["np", "pt"], **kwargs: Any
    ) -> Any: ...

    def encode(self, text: str, *args: Any, **kwargs: Any) -> list[int] | Any:
        """The ids of ``text`` (see the subclass for its options): a list, or with
        ``return_tensors="np"`` or ``"pt"`` a (1, n) int64 array or tensor."""
        raise NotImplementedError

    def encode_batch(self, texts: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        """The ids of many texts, in parallel (see the subclass for its options)."""
        raise NotImplementedError

    def __call__(
        self,
        text: str | Sequence[str] | Sequence[tuple[str, str]],
        text_pair: str | Sequence[str] | None = None,
        *,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        **options: Any,
    ) -> BatchEncoding:
        """transformers' tokenizer call: ``tok(texts, padding=True, truncation=True,
        max_length=128, return_tensors="pt")`` gives what a ``PreTrainedTokenizerFast`` on
        this tokenizer's file gives, ready for ``model(**batch)``.

        ``text``: one str, a list of str, or a list of (text, second text) pairs;
        ``text_pair``: the second text(s). With ``is_split_into_words=True`` a text is a
        list of words (so a batch is a list of lists): each word is encoded on its own (a
        byte-level BPE with ``add_prefix_space`` puts a space before each), its tokens
        carry its index in the list, offsets are within the word. Returns a
        :class:`~lexforge.batch.BatchEncoding` with ``input_ids``, ``token_type_ids`` and
        ``attention_mask`` (the last two unless ``return_token_type_ids`` /
        ``return_attention_mask`` is False), ``special_tokens_mask``, ``offset_mapping``
        ((start, end) character spans), ``overflow_to_sample_mapping`` and ``length`` on
        request. Without ``return_tensors`` each field is a list of rows (one row for one
        text), of different lengths unless padded; with ``"np"`` or ``"pt"``, int64 arrays
        of shape (rows, length) (offsets: (rows, length, 2); one text gives one row).
        ``word_ids(i)`` and ``sequence_ids(i)`` of the result give each token's word and
        text (None for special and padding tokens), as transformers' do.

        As in transformers, nothing is padded or cut unless asked, whatever the tokenizer
        file sets: ``padding`` False (default), True/``"longest"`` or ``"max_length"``
        (on the side ``padding_side`` names, default the tokenizer's ``padding_side``
        attribute: ``"right"`` unless set, as in transformers);
        ``truncation`` True/``"longest_first"``, ``"only_first"`` or ``"only_second"``, and
        ``max_length`` alone cuts (``"longest_first"``). ``stride`` with
        ``return_overflowing_tokens`` makes the cut-off tokens extra rows (then the result
        is a batch even for one text). Other keyword arguments go to :meth:`encode_batch`
        (``truncation_side``, ``pad_token_id``, ``num_threads``, and for BPE
        ``allowed_special``).

        Raises:
            ConfigError: bad option values; ``return_tensors`` on rows of different lengths
                (pass ``padding=True``); and, lists included, where transformers would
                return rows longer than asked: ``truncation=True`` or
                ``padding="max_length"`` with no length known (no ``max_length``, and no
                ``model_max_length``: a bare tokenizer file), a text longer than
                ``padding="max_length"``'s length without truncation, a ``max_length``
                below the special tokens; the errors of :meth:`encode_batch`.
            TypeError: a text that is no str (with ``is_split_into_words``, no list of
                words), named with its index.
        """
        from lexforge._hf_call import call

        return call(
            self, text, text_pair, add_special_tokens=add_special_tokens, padding=padding,
            truncation=truncation, max_length=max_length, stride=stride,
            is_split_into_words=is_split_into_words, pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side, return_tensors=return_tensors,
            return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping, return_length=return_length,
            verbose=verbose, **options,
        )  # fmt: skip

    def tokenize(
        self, text: str, pair: str | None = None, *, add_special_tokens: bool = False
    ) -> list[str]:
        """transformers' ``tokenize``: the tokens of ``text`` as strings, spelled as the
        ``tokenizer.json`` spells them (WordPiece's ``##`` pieces; byte-level BPE's
        ``Ġworld``), without ``[CLS]``/``[SEP]`` unless ``add_special_tokens``; never
        padded or cut. A special token that takes the whitespace before it (RoBERTa's
        ``<mask>``, ``with_template(lstrip=...)``) is spelled as itself, ``"<mask>"``, as
        :meth:`convert_ids_to_tokens` gives it, where transformers gives the text it
        matched, ``" <mask>"``."""
        options: dict[str, Any] = {"truncation": False, "padding": False, **self._as_hf}
        ids = self.encode(text, pair, add_special_tokens=add_special_tokens, **options)
        return self.convert_ids_to_tokens(ids)  # type: ignore[return-value]

    def convert_ids_to_tokens(
        self, ids: int | Ids, skip_special_tokens: bool = False
    ) -> str | list[str]:
        """transformers' ``convert_ids_to_tokens``: the token of one id (a str), or of each
        id of a sequence (a list), spelled as in ``tokenize``; special tokens left out of
        a list with ``skip_special_tokens``. An id outside the vocabulary raises
        :class:`~lexforge.errors.TokenIdError`."""
        rank = getattr(ids, "ndim", None)  # an array or tensor: a row, or one id (0-d)
        if rank is not None and rank > 1:
            raise ConfigError(
                f"convert_ids_to_tokens takes one id or one row of ids, got {rank} dimensions; "
                "pass one row (ids[i])"
            )
        one = rank == 0 if rank is not None else hasattr(ids, "__index__")
        if isinstance(ids, (str, bytes)) or one:
            return self._spelled(ids)  # type: ignore[arg-type]
        row: Any = ids.tolist() if rank is not None else ids  # type: ignore[union-attr]
        specials = set(self.special_tokens.values()) if skip_special_tokens else set()
        return [self._spelled(i) for i in row if int(i) not in specials]

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int | None] | None:
        """transformers' ``convert_tokens_to_ids``: the id of one token (spelled as in
        ``tokenize``), or of each token of a list; a token not in the vocabulary gives the
        unknown token's id (WordPiece's ``[UNK]``), or None where there is none; None
        gives None, as there. A token that is no str (an id) raises ``TypeError``."""
        from lexforge._text_checks import token_list

        if tokens is None:
            return None
        if isinstance(tokens, str):
            return self._id_of(tokens)
        return [self._id_of(token) for token in token_list(tokens)]

    # the encoding options that read text as transformers' tokenizers do (byte-level BPE:
    # special tokens in the text are special, where tiktoken's default refuses them)
    _as_hf: ClassVar[dict[str, Any]] = {}

    def _spelled(self, tid: int) -> str:
        """Token ``tid`` as its ``tokenizer.json`` spells it."""
        raise NotImplementedError

    def _id_of(self, token: str) -> int | None:
        """The id of a token spelled as its ``tokenizer.json`` spells it, or the unknown
        token's id (None without one)."""
        raise NotImplementedError

    @property
    def special_tokens(self) -> dict[str, int]:
        """The special tokens and their ids."""
        raise NotImplementedError

    def _template_parts(self, pair: bool) -> list[tuple[str, int, int]]:
        """The template framing one text (or a pair): ``("special", id, type id)``,
        ``("A", 0, type id)``, ``("B", 0, type id)``; empty without one."""
        raise NotImplementedError

    # transformers' special-token attributes: the token of each role (None without one),
    # as save_pretrained writes them in special_tokens_map.json and AutoTokenizer reads
    # them; read-only (a role is a special token of the vocabulary: add_special_tokens)
    @property
    def unk_token(self) -> str | None:
        """The unknown token (``[UNK]``, ``<unk>``), or None."""
        return role_token(self, "unk")

    @unk_token.setter
    def unk_token(self, token: str | None) -> None:
        _fixed_role(self, "unk", token)

    @property
    def sep_token(self) -> str | None:
        """The separator that ends a text (``[SEP]``, ``</s>``), or None."""
        return role_token(self, "sep")

    @sep_token.setter
    def sep_token(self, token: str | None) -> None:
        _fixed_role(self, "sep", token)

    @property
    def pad_token(self) -> str | None:
        """The padding token (``[PAD]``, ``<pad>``, ``<|pad|>``), or None. Settable to any
        token of the vocabulary (``tok.pad_token = tok.eos_token``, as in transformers):
        the call, :meth:`pad` and :meth:`encode_batch` then pad with its id, and
        ``save_pretrained`` writes it as the padding token; None goes back to the name."""
        return role_token(self, "pad")

    @pad_token.setter
    def pad_token(self, token: str | None) -> None:
        if token is not None:
            if not isinstance(token, str):
                raise TypeError(f"pad_token must be a str (a token) or None, got {token!r}")
            found = self._id_of(token)
            if found is None or self._spelled(found) != token:
                raise ConfigError(
                    f"pad_token={token!r} is not in the vocabulary; add it first "
                    f"(tok.add_special_tokens({{'pad_token': {token!r}}}))"
                )
        self._pad_override = token

    @property
    def cls_token(self) -> str | None:
        """The token that starts a text (``[CLS]``, ``<s>``), or None."""
        return role_token(self, "cls")

    @cls_token.setter
    def cls_token(self, token: str | None) -> None:
        _fixed_role(self, "cls", token)

    @property
    def mask_token(self) -> str | None:
        """The MLM mask token (``[MASK]``, ``<mask>``), or None."""
        return role_token(self, "mask")

    @mask_token.setter
    def mask_token(self, token: str | None) -> None:
        _fixed_role(self, "mask", token)

    @property
    def bos_token(self) -> str | None:
        """The token that begins a sequence (``<s>``, GPT-2's ``<|endoftext|>``), or None."""
        return role_token(self, "bos")

    @bos_token.setter
    def bos_token(self, token: str | None) -> None:
        _fixed_role(self, "bos", token)

    @property
    def eos_token(self) -> str | None:
        """The token that ends a sequence (``</s>``, GPT-2's ``<|endoftext|>``), or None."""
        return role_token(self, "eos")

    @eos_token.setter
    def eos_token(self, token: str | None) -> None:
        _fixed_role(self, "eos", token)

    @property
    def bos_token_id(self) -> int | None:
        """The id of :attr:`bos_token`, or None."""
        return self._role_id(self.bos_token)

    @property
    def eos_token_id(self) -> int | None:
        """The id of :attr:`eos_token`, or None."""
        return self._role_id(self.eos_token)

    @property
    def unk_token_id(self) -> int | None:
        """The id of :attr:`unk_token`, or None."""
        return self._role_id(self.unk_token)

    @property
    def sep_token_id(self) -> int | None:
        """The id of :attr:`sep_token`, or None."""
        return self._role_id(self.sep_token)

    @property
    def pad_token_id(self) -> int | None:
        """The id of :attr:`pad_token`, or None."""
        return self._role_id(self.pad_token)

    @property
    def cls_token_id(self) -> int | None:
        """The id of :attr:`cls_token`, or None."""
        return self._role_id(self.cls_token)

    @property
    def mask_token_id(self) -> int | None:
        """The id of :attr:`mask_token`, or None."""
        return self._role_id(self.mask_token)

    def _role_id(self, token: str | None) -> int | None:
        return None if token is None else self._id_of(token)

    @property
    def special_tokens_map(self) -> dict[str, str]:
        """``{"cls_token": "[CLS]", ...}``: the token of each role the tokenizer has."""
        from lexforge.formats.hf_folder import token_roles

        return {f"{role}_token": token for role, token in token_roles(self).items()}

    @property
    def all_special_tokens(self) -> list[str]:
        """Every special token: those with a role first, then the others by id."""
        from lexforge._hf_tokens import all_special_tokens

        return all_special_tokens(self)

    @property
    def all_special_ids(self) -> list[int]:
        """The ids of :attr:`all_special_tokens`."""
        specials = self.special_tokens
        return [specials.get(t, self._id_of(t)) for t in self.all_special_tokens]  # type: ignore[misc]

    def get_vocab(self) -> dict[str, int]:
        """Every token (spelled as :meth:`tokenize` spells it) and its id; an id the
        vocabulary leaves unused (tiktoken's cl100k and o200k have such gaps) has none."""
        vocab: dict[str, int] = {}
        for i in range(self.vocab_size):
            try:
                vocab[self._spelled(i)] = i
            except TokenIdError:  # (an unused id: raised for it alone)
                continue
        return vocab

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """How many tokens the template adds to one text (or a pair)."""
        return sum(kind not in ("A", "B") for kind, _, _ in self._template_parts(pair))

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        """The text of tokens spelled as :meth:`tokenize` spells them (decoded as their
        ids, special tokens kept)."""
        from lexforge._text_checks import token_list

        tokens = token_list(tokens)
        ids = [self._id_of(t) for t in tokens]
        missing = next((t for t, i in zip(tokens, ids, strict=True) if i is None), None)
        if missing is not None:
            raise ConfigError(f"{missing!r} is not a token of this tokenizer")
        return self.decode(ids, skip_special_tokens=False)  # type: ignore[arg-type]

    def get_special_tokens_mask(
        self,
        token_ids_0: Ids,
        token_ids_1: Ids | None = None,
        already_has_special_tokens: bool = False,
    ) -> list[int]:
        """transformers' ``get_special_tokens_mask``: for ids already framed
        (``already_has_special_tokens=True``, as its MLM collator asks), 1 for each special
        token; else the mask of ``token_ids_0`` (and ``token_ids_1``) once the template
        frames them (1 for each token the template adds)."""
        from lexforge._hf_tokens import special_tokens_mask
        from lexforge._text_checks import as_ids

        first = list(as_ids(token_ids_0))
        second = None if token_ids_1 is None else list(as_ids(token_ids_1))
        return special_tokens_mask(self, first, second, already_has_special_tokens)

    def batch_decode(
        self, sequences: Any, skip_special_tokens: bool = False, **kwargs: Any
    ) -> list[str]:
        """transformers' ``batch_decode``: the text of each row of ids (a list of lists, a
        2-D array or tensor). As there, special tokens are kept unless
        ``skip_special_tokens=True`` (where :meth:`decode`, as HF tokenizers' ``decode``,
        leaves them out by default). Other keyword arguments go to :meth:`decode`."""
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        kwargs.pop("clean_up_tokenization_spaces", None)  # (the file's decoder decides)
        return [self.decode(row, skip_special_tokens=skip_special_tokens, **kwargs)
                for row in sequences]  # fmt: skip

    def pad(
        self,
        encoded_inputs: Any,
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        verbose: bool = True,
        *,
        pad_token_id: int | None = None,
    ) -> BatchEncoding:
        """transformers' ``tokenizer.pad``: pads tokenized examples into one batch, so
        ``transformers.DataCollatorWithPadding(tokenizer)`` works with a lexforge tokenizer.

        ``encoded_inputs``: a list of examples (mappings with ``input_ids`` and any of
        ``token_type_ids``, ``attention_mask``, ``special_tokens_mask``, plus other fields
        such as ``labels``), a mapping of such columns, or one example. Those four fields
        are padded (with the padding id, 0, 0 and 1; an ``attention_mask`` is made where
        missing unless ``return_attention_mask=False``): ``padding`` True/``"longest"``
        (default), ``"max_length"`` (with ``max_length``; a longer example is an error:
        ``pad`` never cuts) or False; ``pad_to_multiple_of``; ``padding_side`` (default:
        the tokenizer's ``padding_side`` attribute, ``"right"`` unless set, as in
        transformers). Other fields pass through, stacked into one array each with
        ``return_tensors`` (``"np"`` or ``"pt"``). ``pad_token_id``: the id to pad with
        (default: the tokenizer's padding token).

        Raises:
            ConfigError: no ``input_ids``; a per-token field whose length differs from its
                example's ids; fields that cannot become one array; no padding token.
        """
        from lexforge._hf_call import pad

        return pad(
            self, encoded_inputs, padding=padding, max_length=max_length,
            pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
            return_attention_mask=return_attention_mask, return_tensors=return_tensors,
            verbose=verbose, pad_token_id=pad_token_id,
        )  # fmt: skip

    def decode(self, ids: Ids, *args: Any, **kwargs: Any) -> str:
        """The text of ``ids`` (special tokens left out unless ``skip_special_tokens=False``,
        as in HF tokenizers)."""
        raise NotImplementedError

    def save_pretrained(self, save_directory: PathLike) -> tuple[str, ...]:
        """transformers' ``save_pretrained``: writes the tokenizer's files of a model folder
        into ``save_directory`` (made if missing) as a model's ``save_pretrained`` writes
        them beside its weights: ``tokenizer.json`` (framing texts as BERT does, [CLS] and
        [SEP]), ``vocab.txt`` for WordPiece, ``tokenizer_config.json`` and
        ``special_tokens_map.json``, all or none: every file is written before the first
        replaces its earlier copy, so a failed write (a full disk) leaves the earlier
        tokenizer's files whole, never some of each. ``AutoTokenizer`` reads them. What
        ``transformers.Trainer(processing_class=tokenizer)`` calls when it saves. Returns
        the paths written."""
        import errno
        import shutil
        import tempfile

        from lexforge.formats import replacing_mode, through_link, write_failed
        from lexforge.formats.hf_folder import save_tokenizer_files

        out = Path(save_directory)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"save_pretrained: {out} is a file; pass a directory")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_failed(out, e) from None
        before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
        from lexforge._hf_tokens import model_max_length_beside

        # a tokenizer that knows no limit keeps the folder's (a model's, saved first)
        limit = self.model_max_length
        kept = model_max_length_beside(out) if limit >= NO_LIMIT else limit
        try:  # staged in a folder beside them (the same file system: renames, no copies)
            stage = Path(tempfile.mkdtemp(prefix=".tokenizer-save.", suffix=".tmp", dir=out))
        except OSError as e:
            raise write_failed(out, e) from None
        try:
            save_tokenizer_files(self, stage, kept)
            for staged in sorted(stage.iterdir()):
                target = through_link(out / staged.name)
                if target.is_dir():  # (its rename would fail after the others' went through)
                    raise write_failed(target, IsADirectoryError(errno.EISDIR, "Is a directory"))
            for staged in sorted(stage.iterdir()):
                target = through_link(out / staged.name)
                with staged.open("rb+") as f:  # the mode of the file it replaces
                    replacing_mode(f.fileno(), target)
                try:
                    staged.replace(target)
                except OSError as e:
                    raise write_failed(target, e) from None
        except OSError as e:  # (the file named is the one in out, not its staged copy)
            if str(stage) in str(e):
                raise OSError(e.errno, str(e).replace(str(stage), str(out))) from None
            raise
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return tuple(str(p) for p in sorted(out.iterdir())
                     if p.is_file() and before.get(p.name) != p.stat().st_mtime_ns)  # fmt: skip

    def save(self, path: PathLike, *args: Any, **kwargs: Any) -> None:
        """Writes the tokenizer to ``path`` (atomically)."""
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        """Number of ids."""
        raise NotImplementedError

    # ----------------------------------------------------------------- training
    @classmethod
    def train_bpe(
        cls,
        files: PathLike | Sequence[PathLike] | None = None,
        *,
        texts: Iterable[str] | None = None,
        vocab_size: int,
        special_tokens: Sequence[str] = (),
        pattern: str = "gpt2",
        min_frequency: int = 0,
        max_token_length: int | None = None,
        num_threads: int | None = None,
        show_progress: bool | None = None,
        text_column: str | None = None,
    ) -> BpeTokenizer:
        """Trains a byte-level BPE tokenizer.

        Args:
            files: UTF-8 text file(s), streamed line by line as they are (a ``.gz`` one
                decompressed), or a dataset name such as ``"wiki-leads"``; JSON Lines, JSON,
                csv, tsv and Parquet files give the text of their ``text_column``, each
                record's text counted whole, as it is. Give ``files``, ``texts`` or both.
            texts: any iterable of strings (consumed in buffers, trained without the GIL).
            vocab_size: total ids: special tokens + 256 bytes + merges, at most: training
                stops sooner, with fewer ids (``len(tok)``), once no pair is left to merge
                or the best one occurs fewer than ``min_frequency`` times (as HF's
                ``BpeTrainer`` does); a model's embedding size should be ``len(tok)``,
                not the ``vocab_size`` asked for. The ids are those
                HF's ``BpeTrainer`` gives on the same corpus: the special tokens, the bytes
                by the code points of their byte-level characters, then the merges.
            special_tokens: strings that get the first ids and are never split or merged;
                they are cut out of the training text (one holding a line break is refused
                with files: they are counted line by line). One spelled like a model
                token in byte-level characters (a byte's own character, ``"Ġ"``, or a
                token training makes, ``"Ġde"``) is refused: a ``tokenizer.json`` would
                give both one id.
            pattern: pre-tokenization preset (``"gpt2"``, ``"cl100k"``, ``"o200k"``) or regex.
            min_frequency: stop when the best pair occurs fewer times than this.
            max_token_length: never create tokens longer than this many bytes (tokens of
                that length are made, where HF's ``BpeTrainer`` stops one short once a merge
                joins longer parts: with this option the ids are not HF's).
            num_threads: threads for counting (default: ``LEXFORGE_NUM_THREADS`` or all
                cores). The result does not depend on it.
            show_progress: progress bars on stderr (default: when stderr is a terminal).
            text_column: the column of records files that holds the text (default:
                ``text``, else the records' only text column).
        """
        if files is None and texts is None:
            raise TypeError("train_bpe needs files=... or texts=...")
        special_tokens = special_list(special_tokens)
        check_counts(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            max_token_length=max_token_length,
            num_threads=num_threads,
        )
        counts = WordCounts(pattern=pattern, special_tokens=special_tokens)
        if files is not None:
            counts.add_files(
                files, text_column=text_column, num_threads=num_threads,
                show_progress=show_progress,
            )  # fmt: skip
        if texts is not None:
            counts.add_texts(texts, num_threads=num_threads)
        with naming_files(files):  # the counts are ours alone: training consumes them
            return _train_bpe(
                counts,
                vocab_size,
                list(special_tokens),
                min_frequency,
                max_token_length,
                show_progress,
                True,
            )

    @classmethod
    def from_counts(
        cls,
        counts: WordCounts,
        *,
        vocab_size: int,
        special_tokens: Sequence[str] | None = None,
        min_frequency: int = 0,
        max_token_length: int | None = None,
        show_progress: bool | None = None,
    ) -> BpeTokenizer:
        """Runs the BPE merge phase on word counts (possibly merged from many shards).

        Merges are chosen by highest count; ties go to the smallest (left, right) pair in
        training ids (bytes by the code points of their byte-level characters, as HF's
        trainer numbers its alphabet, then merges in creation order), so the result is a
        pure function of the counts. ``special_tokens`` defaults to the counts' own.
        ``vocab_size`` is the most ids it makes; ``min_frequency``, ``max_token_length``
        and ``show_progress`` are as for :meth:`train_bpe`.
        """
        if not isinstance(counts, WordCounts):
            raise TypeError(
                f"counts must be a lexforge.WordCounts, got {type(counts).__name__}; build one "
                "with WordCounts.from_texts(...), from_files(...) or from_items(...)"
            )
        if special_tokens is not None:
            special_tokens = special_list(special_tokens)
        check_counts(
            vocab_size=vocab_size, min_frequency=min_frequency, max_token_length=max_token_length
        )
        specials = list(counts.special_tokens if special_tokens is None else special_tokens)
        return _train_bpe(
            counts, vocab_size, specials, min_frequency, max_token_length, show_progress, False
        )

    @classmethod
    def train_wordpiece(
        cls,
        files: PathLike | Sequence[PathLike] | None = None,
        *,
        texts: Iterable[str] | None = None,
        vocab_size: int = 30_522,
        special_tokens: Sequence[str] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
        min_frequency: int = 0,
        limit_alphabet: int | None = None,
        lowercase: bool = True,
        strip_accents: bool | None = None,
        handle_chinese_chars: bool = True,
        clean_text: bool = True,
        max_token_length: int | None = None,
        max_input_chars_per_word: int = 100,
        unk_token: str = "[UNK]",
        num_threads: int | None = None,
        show_progress: bool | None = None,
        text_column: str | None = None,
    ) -> WordPieceTokenizer:
        """Trains a WordPiece tokenizer with BERT's normalizer and pre-tokenizer (the
        vocabulary and its templates as :func:`lexforge._wordpiece_train.train_wordpiece`
        says: special tokens, characters, then merged pieces; deterministic for any
        ``num_threads``; BERT's ``[CLS] A [SEP]`` template when those tokens are given).

        Args:
            files, texts, text_column, num_threads, show_progress: the corpus, as for
                :meth:`train_bpe`.
            vocab_size: the most tokens (special ones included); training stops sooner,
                with fewer (``len(tok)``), when no pair is left to merge or the best one
                occurs fewer than ``min_frequency`` times.
            special_tokens: the first ids; must include ``unk_token``
                (``TrainerConfigError`` otherwise); their text is cut out of the corpus.
            limit_alphabet: keep only this many characters (the most frequent); others
                become ``unk_token`` when encoding.
            lowercase, strip_accents, handle_chinese_chars, clean_text: BERT's normalizer
                (``strip_accents`` None: as ``lowercase``).
            max_token_length: longest piece, in characters (the ``##`` prefix not
                counted); default: ``max_input_chars_per_word``.
            max_input_chars_per_word: the tokenizer encodes a longer word as
                ``unk_token``; such words are not learned from.
        """
        from lexforge._wordpiece_train import train_wordpiece

        return train_wordpiece(
            files, texts=texts, vocab_size=vocab_size, special_tokens=special_tokens,
            min_frequency=min_frequency, limit_alphabet=limit_alphabet, lowercase=lowercase,
            strip_accents=strip_accents, handle_chinese_chars=handle_chinese_chars,
            clean_text=clean_text, max_token_length=max_token_length,
            max_input_chars_per_word=max_input_chars_per_word, unk_token=unk_token,
            num_threads=num_threads, show_progress=show_progress, text_column=text_column,
        )  # fmt: skip

    # ----------------------------------------------------------------- files
    @classmethod
    def from_file(
        cls,
        path: PathLike,
        *,
        pattern: str | None = None,
        special_tokens: dict[str, int] | Sequence[str] | None = None,
        lowercase: bool | None = None,
    ) -> Tokenizer:
        """Loads a tokenizer, picking the kind and format from the file: HF
        ``tokenizer.json`` (byte-level BPE or WordPiece), BERT ``vocab.txt`` (``lowercase``
        chooses uncased or cased; default: ``do_lower_case`` from a ``tokenizer_config.json``
        beside it, which also gives ``strip_accents`` and ``tokenize_chinese_chars``, else
        cased when a token holds an uppercase letter), GPT-2
        ``vocab.json``/``encoder.json`` (with ``merges.txt``/``vocab.bpe`` beside it, or a
        directory holding both), or a tiktoken rank file (see :meth:`from_tiktoken`). A
        ``tokenizer_config.json`` beside it (a model folder's) gives
        :attr:`model_max_length`, as transformers reads it."""
        from lexforge._hf_tokens import model_max_length_beside

        path = Path(path)
        tok = cls._read_file(path, pattern, special_tokens, lowercase)
        limit = model_max_length_beside(path)
        if limit is not None:
            tok.model_max_length = limit
        tok.name_or_path = str(path)
        return tok

    @classmethod
    def _read_file(
        cls,
        path: Path,
        pattern: str | None,
        special_tokens: dict[str, int] | Sequence[str] | None,
        lowercase: bool | None,
    ) -> Tokenizer:
        from lexforge.bpe import BpeTokenizer
        from lexforge.formats import bert_vocab, gpt2
        from lexforge.wordpiece import WordPieceTokenizer

        kind, doc = detect(path)
        given = {"pattern": pattern, "special_tokens": special_tokens, "lowercase": lowercase}
        takes = _FILE_OPTIONS[kind]
        for name, value in given.items():
            if value is not None and name not in takes:
                raise ConfigError(
                    f"{name}= does not apply to {path}, read as {_KIND_NAMES[kind]}"
                    + (" (the file defines its own)" if kind == "hf" else "")
                    + f"; it applies to {_takers(name)} only: drop it"
                )
        if kind == "hf":
            target = path / "tokenizer.json" if path.is_dir() else path
            from lexforge.formats import read_json

            return _from_hf_doc(target, read_json(target) if doc is None else doc)
        if kind == "bert-vocab":
            target = path / "vocab.txt" if path.is_dir() else path
            return WordPieceTokenizer(bert_vocab.load_vocab(target, lowercase=lowercase))
        _check_json_kind(path, kind, doc)
        if kind == "gpt2":
            vocab_path, merges_path = gpt2.find_pair(path)
            names = gpt2.special_names(special_tokens)
            raw = doc if path == vocab_path else None
            bpe = gpt2.load(vocab_path, merges_path, names, raw)
            gpt2.check_special_ids(bpe, special_tokens, vocab_path)
            return BpeTokenizer(bpe)
        if special_tokens is not None:
            special_tokens = tiktoken.check_specials(special_tokens)  # names alone: no ids
        return cls.from_tiktoken(path, pattern=pattern, special_tokens=special_tokens)

    @classmethod
    def from_str(cls, json_text: str) -> Tokenizer:
        """Loads a tokenizer from the text of an HF ``tokenizer.json`` (what HF's
        ``Tokenizer.to_str()`` and :meth:`to_str` give), as :meth:`from_file` loads the
        file: byte-level BPE or WordPiece. Errors name the text ``<string>``."""
        from lexforge.formats import parse_json

        if not isinstance(json_text, str):
            raise TypeError(
                f"from_str takes the JSON text of a tokenizer.json as a str, not "
                f"{type(json_text).__name__}"
                + ("; decode it first (UTF-8)" if isinstance(json_text, bytes | bytearray) else "")
                + (
                    "; for a file, use Tokenizer.from_file"
                    if isinstance(json_text, PurePath)
                    else ""
                )
            )
        name = "<string>"
        doc = parse_json(json_text, name)
        model = doc.get("model") if isinstance(doc, dict) else None
        if not isinstance(model, dict):
            found = (
                f"its top level is {type(doc).__name__}, not an object"
                if not isinstance(doc, dict)
                else 'it has no "model" object'
            )
            raise TokenizerFormatError(
                f"{name}: not the text of an HF tokenizer.json ({found}); for GPT-2, BERT "
                "vocab.txt or tiktoken files, use Tokenizer.from_file"
            )
        return _from_hf_doc(Path(name), doc)

    def to_str(self, pretty: bool = False) -> str:
        """The tokenizer as the text of an HF ``tokenizer.json`` (what :meth:`save` writes,
        on one line unless ``pretty``): HF's ``Tokenizer.from_str`` and :meth:`from_str`
        load it with the same ids."""
        import json

        return json.dumps(self._hf_doc(), ensure_ascii=False, indent=2 if pretty else None)

    def _hf_doc(self, file: bool = True) -> dict[str, Any]:
        """The ``tokenizer.json`` document of this tokenizer (``file`` False: for a rebuild
        in memory; see :func:`lexforge.formats.hf_json.dump`)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- adding tokens
    def add_tokens(
        self,
        tokens: Sequence[str],
        *,
        lstrip: bool = False,
        rstrip: bool = False,
        single_word: bool = False,
        normalized: bool = True,
        special_tokens: bool = False,
    ) -> int:
        """Adds words to the vocabulary, in place, as HF's ``Tokenizer.add_tokens``: each
        is found in the text before the model splits it, and decoded as text. A token the
        vocabulary holds keeps its id; the others get new ids from :attr:`vocab_size` up
        (grow a model's embeddings to match: ``model.resize_token_embeddings(len(tok))``).
        The options are HF's ``AddedToken``'s (``normalized``: found in the normalized text
        by its normalized form). Returns how many were added (as HF counts: those not empty
        and not added already alike). Not while other threads use the tokenizer.
        ``special_tokens=True`` (transformers' flag): as :meth:`add_special_tokens`."""
        if special_tokens:
            return self.add_special_tokens(
                tokens, lstrip=lstrip, rstrip=rstrip, single_word=single_word, normalized=False
            )
        return self._add(tokens, False, lstrip, rstrip, single_word, normalized)

    def add_special_tokens(
        self,
        tokens: Sequence[str] | Mapping[str, Any],
        *,
        lstrip: bool = False,
        rstrip: bool = False,
        single_word: bool = False,
        normalized: bool = False,
    ) -> int:
        """Adds special tokens (control tokens such as entity markers), in place, as HF's
        ``Tokenizer.add_special_tokens``: as :meth:`add_tokens`, but skipped by
        ``decode(skip_special_tokens=True)``, marked in ``special_tokens_mask`` and, for
        byte-level BPE, under its ``allowed_special`` rule. transformers' form, a dict
        such as ``{"pad_token": "[PAD]", "additional_special_tokens": ["<e1>"]}``, is
        taken too: ``pad_token`` may be any token (it becomes :attr:`pad_token`); another
        role's token must have a name lexforge finds the role by (``[MASK]``/``<mask>``...)
        and not compete with the tokenizer's own, else ``ConfigError``. Returns how many
        tokens are new."""
        pad = None
        if isinstance(tokens, Mapping):
            from lexforge._hf_tokens import tokens_of_roles

            pad = tokens.get("pad_token")
            tokens = tokens_of_roles(self, tokens)
        added = self._add(tokens, True, lstrip, rstrip, single_word, normalized)
        if pad is not None and pad != self.pad_token:
            self.pad_token = pad  # (a name not taken as padding by itself: set, as there)
        return added

    def _add(self, tokens: Sequence[str], special: bool, *flags: bool) -> int:
        from lexforge._text_checks import check_flag, check_text
        from lexforge.formats.added import (
            AddedToken,
            add_to_doc,
            changes_nothing,
            from_core,
            ids_as_given,
        )

        if isinstance(tokens, str) or not isinstance(tokens, Iterable):
            raise TypeError(f"tokens must be a list of strings, not {tokens!r}")
        names = ("lstrip", "rstrip", "single_word", "normalized")
        flags = tuple(check_flag(name, value) for name, value in zip(names, flags, strict=True))
        added = []
        for i, token in enumerate(list(tokens)):
            options = (special, *flags)
            if not isinstance(token, str) and isinstance(getattr(token, "content", None), str):
                # HF's AddedToken (tokenizers, transformers): its own options
                options = (special or bool(getattr(token, "special", False)),
                           *(bool(getattr(token, n, False)) for n in _FLAGS))  # fmt: skip
                token = token.content
            if not isinstance(token, str):
                raise TypeError(f"tokens must be strings, got {token!r} (or HF AddedToken objects)")
            if not token.isascii():  # (a lone surrogate: named, where the core's str failed)
                check_text(**{f"tokens[{i}]": token})
            added.append(AddedToken(token, -1, *options))
        tokens = [t.content for t in added]
        if changes_nothing(from_core(self._core), added):  # (HF's 0, without a rebuild)
            return 0
        count = self._add_new(added)  # (new tokens: in place, where the kind can)
        if count is not None:
            return count
        doc = self._hf_doc(file=False)
        count = add_to_doc(doc, added)
        try:
            with ids_as_given():
                rebuilt = _from_hf_doc(Path("<added tokens>"), doc)
        except TokenizerFormatError as e:  # (one the core cannot hold, named by the reader)
            framing = "not one of added_tokens (special tokens)" in str(e)
            raise ConfigError(
                f"cannot add {tokens!r}: "
                + ("a token of the template, put around every text, must stay special; "
                   "add it with add_special_tokens" if framing else str(e))
            ) from None  # fmt: skip
        self._become(rebuilt)
        return count

    def _add_new(self, added: list[Any]) -> int | None:
        """Adds ``added`` (``formats.added.AddedToken``, ids to be given) in place of a
        rebuild when each is new (see ``formats.added.ids_of_new``), returning HF's count;
        None to rebuild."""
        return None

    def _become(self, rebuilt: Tokenizer) -> None:
        """Takes ``rebuilt``'s state (``add_tokens``); the tables this one cached at first
        use go."""
        for name in [k for k in vars(self) if _cached(type(self), k)]:
            del self.__dict__[name]
        self.__dict__.update(vars(rebuilt))

    def __len__(self) -> int:
        """:attr:`vocab_size`: the number of ids (as ``len`` of a transformers tokenizer)."""
        return self.vocab_size

    @classmethod
    def from_vocab(
        cls,
        path: PathLike,
        *,
        lowercase: bool | None = None,
        strip_accents: bool | None = None,
        handle_chinese_chars: bool | None = None,
        unk_token: str = "[UNK]",
        cls_token: str | None = "[CLS]",
        sep_token: str | None = "[SEP]",
        max_input_chars_per_word: int = 100,
    ) -> WordPieceTokenizer:
        """Loads a BERT ``vocab.txt`` with explicit options. Those left at None come from a
        ``tokenizer_config.json`` beside it, as transformers reads it (``do_lower_case``,
        ``strip_accents``, ``tokenize_chinese_chars``); without one, ``lowercase`` is False
        when a token (other than bracketed special ones) holds an uppercase letter, else
        True, ``strip_accents`` follows it (as in BERT) and Chinese characters are split.
        ``cls_token=None, sep_token=None``: no template."""
        from lexforge.formats import bert_vocab
        from lexforge.wordpiece import WordPieceTokenizer

        check_flags(
            lowercase=lowercase, strip_accents=strip_accents,
            handle_chinese_chars=handle_chinese_chars,
        )  # fmt: skip
        check_counts(max_input_chars_per_word=max_input_chars_per_word)
        if (cls_token is None) != (sep_token is None):
            raise ConfigError(
                f"cls_token={cls_token!r} and sep_token={sep_token!r}: pass both (BERT's "
                "template) or neither (no template)"
            )
        return WordPieceTokenizer(
            bert_vocab.load_vocab(
                Path(path),
                lowercase=lowercase,
                strip_accents=strip_accents,
                handle_chinese_chars=handle_chinese_chars,
                unk_token=unk_token,
                cls_token=cls_token,
                sep_token=sep_token,
                max_input_chars_per_word=max_input_chars_per_word,
            )
        )

    @classmethod
    def from_gpt2(
        cls,
        path: PathLike,
        merges: PathLike | None = None,
        *,
        special_tokens: Sequence[str] | None = None,
    ) -> BpeTokenizer:
        """Loads GPT-2's ``vocab.json`` + ``merges.txt`` (``path`` may be either file or
        their directory; ``merges`` names the merges file explicitly)."""
        from lexforge.bpe import BpeTokenizer
        from lexforge.formats import gpt2

        vocab_path, merges_path = gpt2.find_pair(Path(path))
        if merges is not None:
            merges_path = Path(merges)
        specials = gpt2.special_names(special_tokens)
        return BpeTokenizer(gpt2.load(vocab_path, merges_path, specials))

    @classmethod
    def from_tiktoken(
        cls,
        path: PathLike,
        *,
        pattern: str | None = None,
        special_tokens: dict[str, int] | None = None,
    ) -> BpeTokenizer:
        """Loads a tiktoken rank file. The file records neither the pre-tokenization pattern
        nor special tokens: for the file of an encoding tiktoken ships (named after it, as
        ``cl100k_base.tiktoken``, and holding its number of ranks) they default to that
        encoding's preset; any other file needs ``pattern`` (a preset name or a regex) and,
        if it had special tokens, ``special_tokens`` (``{text: id}``). The vocabulary size
        comes from the file (and ``special_tokens``).

        Raises:
            TokenizerFormatError: a malformed file, or no ``pattern`` for a file that is
                not a known encoding's.
        """
        import warnings

        from lexforge.bpe import BpeTokenizer

        path = Path(path)
        if special_tokens is not None:
            special_tokens = tiktoken.check_specials(special_tokens)
        ranks = tiktoken.read_ranks(path)
        preset = tiktoken.preset_for(path, len(ranks))
        if pattern is None:
            if preset is None:
                raise TokenizerFormatError(tiktoken.no_pattern(path, len(ranks)))
            pattern = preset
        specials = special_tokens
        if specials is None:
            specials = tiktoken.PRESET_SPECIALS[preset] if preset else {}
        tok = BpeTokenizer(tiktoken.load(path, ranks, pattern, specials))
        from lexforge.formats.hf_json import warn_missing_bytes

        # (a byte's token deleted leaves a hole too: said as such, not as lost specials)
        bytes_missing = warn_missing_bytes(str(path), tok._core)
        missing = tiktoken.missing_ids(ranks) if special_tokens is None and preset is None else ""
        if missing and not bytes_missing:
            warnings.warn(
                f"{path}: no rank holds the id(s) {missing} (a rank file cannot record "
                "special tokens, so they were probably lost when it was saved); pass "
                "special_tokens={text: id, ...} to restore them",
                UserWarning,
                stacklevel=2,
            )
        return tok


def _check_json_kind(path: Path, kind: str, doc: Any) -> None:
    """Refuses JSON that is neither a ``tokenizer.json`` nor a GPT-2 ``vocab.json`` (which
    :func:`lexforge.formats.detect` would send to the GPT-2 or tiktoken reader)."""
    if kind == "tiktoken" and path.suffix == ".json" and path.is_file():
        from lexforge.formats import read_json

        doc = read_json(path)  # not an object: a list, a number, null...
    if (kind == "tiktoken" and path.suffix == ".json") or (kind == "gpt2" and doc is not None):
        model = doc.get("model") if isinstance(doc, dict) else None
        if (
            isinstance(doc, dict)
            and isinstance(doc.get("config"), dict)
            and isinstance(doc.get("vocab"), list)
        ):
            raise TokenizerFormatError(
                f"{path}: a Mistral tekken.json (tiktoken-style ranks with its own pattern and "
                "special tokens), which lexforge does not read; use mistral-common's "
                "tokenizer for it"
            )
        if isinstance(doc, dict) and doc and (model is None or isinstance(model, int)):
            bad = next(((k, v) for k, v in doc.items()
                        if isinstance(v, bool) or not isinstance(v, int)), None)  # fmt: skip
            if bad is None:
                return  # a GPT-2 vocab.json: {token: id}
            raise TokenizerFormatError(
                f"{path}: JSON that is not a tokenizer: {bad[0]!r} holds "
                f"{repr(bad[1])[:60]}, where a GPT-2 vocab.json gives each token an "
                'integer id, and a tokenizer.json needs a "model" object; is the file the '
                "wrong one?"
            )
        found = f'"model" is {model!r}' if model is not None else f"found {type(doc).__name__}"
        raise TokenizerFormatError(
            f"{path}: JSON that is not a tokenizer ({found}); a tokenizer.json needs a "
            '"model" object, a GPT-2 vocab.json is a non-empty {token: id} object; '
            "is the file truncated or the wrong one?"
        )


def _cached(cls: type, name: str) -> bool:
    """Whether ``name`` is a ``functools.cached_property`` of ``cls``."""
    import functools

    return isinstance(getattr(cls, name, None), functools.cached_property)


def _check_wordpiece_json(path: Path, doc: dict[str, Any]) -> list[str] | None:
    """The checks :func:`lexforge.formats.bert.load_json` leaves out: the shapes of
    ``normalizer``, ``added_tokens`` and ``model.max_input_chars_per_word``, and added
    tokens whose ids disagree with ``model.vocab`` (HF uses the vocabulary's id). Returns
    the tokens of ``model.vocab`` by id where its ids are 0..n-1 (``bert.tokens_by_id``,
    for ``load_json``), else None."""

    from lexforge.formats import bert

    def fail(key: str, problem: str) -> TokenizerFormatError:
        return TokenizerFormatError(f"{path}: {key}: {problem}; fix the file")

    if not isinstance(doc.get("normalizer"), dict | None):
        raise fail("normalizer", f"{doc['normalizer']!r} is not an object or null")
    model = doc["model"]
    limit = model.get("max_input_chars_per_word", 100)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit < 2**32 - 1:
        raise fail(
            "model.max_input_chars_per_word", f"{limit!r} is not an integer in [0, 2^32 - 2]"
        )
    vocab, unk = model.get("vocab"), model.get("unk_token", "[UNK]")
    if not isinstance(unk, str):
        raise fail("model.unk_token", f"{unk!r} is not a token (a string such as '[UNK]')")
    if isinstance(vocab, dict) and unk not in vocab:
        # (HF loads such a file, then fails on the first word it cannot cover)
        raise fail(
            "model.vocab",
            f"the unknown token {unk!r} (model.unk_token) is not in it ({len(vocab)} tokens)",
        )
    # the tokens by id (ids 0..n-1, the common file, told in C) or a dict of them
    by_id: list[str] | dict[int, str] | None = (
        bert.tokens_by_id(vocab) if isinstance(vocab, dict) else {}
    )
    if by_id is None:
        bad = next(((k, v) for k, v in vocab.items()
                    if isinstance(v, bool) or not isinstance(v, int)), None)  # fmt: skip
        if bad is not None:
            raise fail("model.vocab", f"token {bad[0]!r} has id {bad[1]!r}, not an integer")
        by_id = {v: k for k, v in vocab.items()}
    added = doc.get("added_tokens") or []
    if not isinstance(added, list):
        raise fail("added_tokens", "must be a list of objects")
    for i, token in enumerate(added):
        if not isinstance(token, dict):
            raise fail(f"added_tokens[{i}]", f'{token!r} is not an object {{"id", "content"}}')
        tid, content = token.get("id"), token.get("content")
        if isinstance(tid, bool) or not isinstance(tid, int) or not 0 <= tid < 2**32 - 1:
            raise fail(f"added_tokens[{i}].id", f"{tid!r} is not an integer in [0, 2^32 - 1)")
        if not isinstance(content, str) or not content:
            raise fail(f"added_tokens[{i}].content", f"{content!r} is not a non-empty string")
        if isinstance(vocab, dict) and vocab.get(content, tid) != tid:
            raise fail(
                f"added_tokens[{i}]",
                f"{content!r} has id {tid} but model.vocab gives it {vocab[content]}; "
                "make the two ids agree",
            )
        if isinstance(by_id, list):
            holder = by_id[tid] if tid < len(by_id) else content
        else:
            holder = by_id.get(tid, content)
        if holder != content:
            raise fail(
                f"added_tokens[{i}]",
                f"{content!r} has id {tid}, which model.vocab gives to {holder!r}; give "
                "one of the two another id",
            )
    return by_id if isinstance(by_id, list) else None


def _train_bpe(
    counts: WordCounts,
    vocab_size: int,
    specials: list[str],
    min_frequency: int,
    max_token_length: int | None,
    show_progress: bool | None,
    consume: bool,
) -> BpeTokenizer:
    from lexforge import _bytelevel
    from lexforge.bpe import BpeTokenizer

    # A tokenizer.json gives a spelling one id: a special token spelled like a token of
    # the model (in its byte-level characters) gets that token's id in HF's trainer, and
    # a lexforge tokenizer, which keeps the two apart, would write a file that loads
    # nowhere. A byte's character is a token of every vocabulary: refused before training.
    for token in specials:
        byte = _bytelevel.char_to_byte().get(token)
        if byte is not None:
            raise TrainerConfigError(_spelled_like(token, bytes([byte])))
    # (the counts' lock: no count into them meanwhile)
    with Progress("learning merges", enabled=show_progress) as bar, counts._core.lock:
        core = _core.train_bpe(
            counts._core.core, vocab_size, specials, min_frequency, max_token_length, bar, consume
        )
    trained = BpeTokenizer(core)
    spelled = {_bytelevel.encode(token): token for token in trained.vocab()}
    clash = next((t for t in specials if t in spelled), None)
    if clash is not None:  # a merge made it: said now, before anything is saved
        raise TrainerConfigError(_spelled_like(clash, spelled[clash]))
    return trained


def _spelled_like(special: str, token: bytes) -> str:
    return (
        f"the special token {special!r} is how a tokenizer.json spells the model's token "
        f"{token!r} (in byte-level characters), so the two would share one id there, "
        "which lexforge cannot hold (the saved file would not load back): pick another "
        "special token, such as '<|x|>'"
    )


def _file_defaults(path: Path, doc: Any, vocab_size: int) -> tuple[Any, Any]:
    """The ``truncation`` and ``padding`` a ``tokenizer.json`` sets (HF applies them in
    ``encode`` and ``encode_batch``), checked: (Truncation | None, Padding | None)."""
    from lexforge.batch import Padding, Truncation

    trunc, pad = doc.get("truncation"), doc.get("padding")
    padding = None if pad is None else Padding.from_hf(pad, str(path))
    if padding is not None and padding.pad_id >= vocab_size:
        raise TokenizerFormatError(
            f"{path}: padding.pad_id {padding.pad_id} is not in the vocabulary "
            f"(0..{vocab_size - 1}); set it to the id of the padding token"
        )
    return None if trunc is None else Truncation.from_hf(trunc, str(path)), padding
