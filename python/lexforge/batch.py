"""Batches as model inputs: :class:`BatchEncoding` and the checking of truncation and
padding options (policy: names, defaults and errors; the work happens in the Rust core)."""

from __future__ import annotations

import operator
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from lexforge._lookups import Lookups
from lexforge.errors import ConfigError, TokenizerFormatError

__all__ = [
    "BatchEncoding",
    "Padding",
    "Truncation",
    "check_int",
    "model_inputs",
    "padding_option",
    "resolve_options",
    "truncation_option",
]

Side = Literal["left", "right"]
Strategy = Literal["longest_first", "only_first", "only_second"]


class BatchEncoding(dict[str, Any], Lookups):
    """Model inputs of a batch: a dict of arrays (NumPy, or torch with
    ``return_tensors="pt"``), also readable as attributes.

    Keys, each of shape (rows, length) unless noted: ``input_ids``, ``token_type_ids``,
    ``attention_mask`` (1 for tokens, 0 for padding); on request ``special_tokens_mask``
    (1 for template and padding tokens), ``word_ids`` (index of the word within its
    sequence, -1 for special and padding tokens), ``offsets`` (rows, length, 2: character
    span in the original text, (0, 0) for special tokens), ``sequence_ids`` (0 or 1: which
    text of a pair, -1 for special and padding tokens), and ``overflow_to_sample_mapping``
    (rows,: the input each row comes from, when overflow windows are returned).
    transformers' lookups (:meth:`word_ids`, :meth:`sequence_ids`, :meth:`tokens`,
    :meth:`char_to_token`, :meth:`word_to_tokens`...) read a row's as there
    (:mod:`lexforge._lookups`).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no field {name!r}; fields: {', '.join(self)}") from None

    def __getstate__(self) -> dict[str, Any]:
        # pickled with its rows' word and sequence indices and offsets, without its
        # tokenizer (DataLoader workers pickle every batch): tokens() needs the
        # tokenizer's own convert_ids_to_tokens then
        if self._later is not None:
            self._kept("word_ids")
        return {k: v for k, v in vars(self).items() if k not in ("_tokenizer", "_later")}

    # transformers' BatchEncoding flag: the lookups below are there
    is_fast = True

    @property
    def data(self) -> dict[str, Any]:
        """The fields as a plain dict (transformers' ``BatchEncoding.data``)."""
        return dict(self)

    @property
    def encodings(self) -> None:
        """transformers' ``Encoding`` objects: lexforge has none (its lookups read the
        rows: :meth:`word_ids`, :meth:`char_to_token`...)."""
        return None

    @property
    def n_sequences(self) -> int | None:
        """1 for texts, 2 for pairs; None when not known (a batch not from the call)."""
        return None if self._pairs is None else 1 + self._pairs

    def convert_to_tensors(
        self, tensor_type: str | None = None, prepend_batch_axis: bool = False
    ) -> BatchEncoding:
        """Turns the fields into int64 arrays (``"np"``) or torch tensors (``"pt"``), in
        place (transformers' method): rows of one length, else ``ConfigError``."""
        import numpy as np

        if tensor_type is None:
            return self
        kind = getattr(tensor_type, "value", tensor_type)  # (transformers' TensorType too)
        for name, value in list(self.items()):
            try:
                array = np.asarray(value.cpu() if hasattr(value, "cpu") else value)
            except ValueError:
                array = None
            if array is None or array.dtype == object:
                raise ConfigError(
                    f"{name} holds rows of different lengths, which no array holds; pad them "
                    "first (padding=True)"
                )
            array = array[None] if prepend_batch_axis else array
            self[name] = as_tensors({name: array.astype(np.int64)}, kind)[name]
        return self

    def to(self, device: Any) -> BatchEncoding:
        """Moves torch tensors to ``device`` (NumPy arrays are left as they are)."""
        moved = {k: v.to(device) if hasattr(v, "to") else v for k, v in self.items()}
        return self._with(moved)

    def _with(self, fields: Mapping[str, Any]) -> BatchEncoding:
        """A BatchEncoding of ``fields`` keeping what this one kept of its rows."""
        out = BatchEncoding(fields)
        out.__dict__.update(vars(self))
        return out


def as_tensors(arrays: Mapping[str, Any], kind: str) -> BatchEncoding:
    """Wraps NumPy arrays as ``"np"`` or torch tensors (``"pt"``, shared memory)."""
    if kind == "np":
        return BatchEncoding(arrays)
    if kind == "pt":
        import importlib

        from lexforge._extras import require

        if sys.modules.get("torch") is None:
            require("return_tensors='pt'", "torch")
        torch: Any = sys.modules.get("torch") or importlib.import_module("torch")
        return BatchEncoding({k: torch.from_numpy(v) for k, v in arrays.items()})
    raise ConfigError(f"return_tensors must be None, 'np' or 'pt', got {kind!r}")


@dataclass(frozen=True)
class Truncation:
    """Validated truncation options."""

    max_length: int
    strategy: Strategy
    stride: int
    side: Side

    def as_core(self) -> tuple[int, str, int, str]:
        return (self.max_length, self.strategy, self.stride, self.side)

    @classmethod
    def from_hf(cls, doc: Any, where: str = "tokenizer.json") -> Truncation:
        """From the ``truncation`` entry of an HF ``tokenizer.json``; ``where`` (the file)
        prefixes the :class:`TokenizerFormatError` a malformed entry raises."""
        strategy = {
            "LongestFirst": "longest_first",
            "OnlyFirst": "only_first",
            "OnlySecond": "only_second",
        }
        if not isinstance(doc, Mapping):
            raise _bad(where, "truncation", "must be an object or null")
        name = doc.get("strategy", "LongestFirst")
        if not isinstance(name, str) or name not in strategy:
            known = ", ".join(strategy)
            raise _bad(where, "truncation.strategy", f"{name!r} is not one of {known}")
        return cls(
            _count(doc, "max_length", None, where, "truncation"),
            strategy[name],  # type: ignore[arg-type]
            _count(doc, "stride", 0, where, "truncation"),
            _direction(doc, where, "truncation"),
        )

    def to_hf(self) -> dict[str, Any]:
        """The ``truncation`` entry of an HF ``tokenizer.json``."""
        names = {
            "longest_first": "LongestFirst",
            "only_first": "OnlyFirst",
            "only_second": "OnlySecond",
        }
        return {
            "direction": self.side.capitalize(),
            "max_length": self.max_length,
            "strategy": names[self.strategy],
            "stride": self.stride,
        }


@dataclass(frozen=True)
class Padding:
    """Validated padding options (``length`` None: pad to the longest row)."""

    length: int | None
    multiple_of: int | None
    pad_id: int
    pad_type_id: int
    side: Side

    def as_core(self) -> tuple[int | None, int | None, int, int, str]:
        return (self.length, self.multiple_of, self.pad_id, self.pad_type_id, self.side)

    def least_width(self) -> int:
        """The fewest tokens a padded row has (the rows may be longer)."""
        m = self.multiple_of or 1
        return -(-max(self.length or 1, 1) // m) * m

    @classmethod
    def from_hf(cls, doc: Any, where: str = "tokenizer.json") -> Padding:
        """From the ``padding`` entry of an HF ``tokenizer.json``; ``where`` (the file)
        prefixes the :class:`TokenizerFormatError` a malformed entry raises."""
        if not isinstance(doc, Mapping):
            raise _bad(where, "padding", "must be an object or null")
        strategy = doc.get("strategy", "BatchLongest")
        if isinstance(strategy, Mapping) and set(strategy) == {"Fixed"}:
            length: int | None = _count(strategy, "Fixed", None, where, "padding.strategy")
        elif strategy == "BatchLongest":
            length = None
        else:
            raise _bad(
                where, "padding.strategy", f'{strategy!r} is not "BatchLongest" or {{"Fixed": n}}'
            )
        multiple = doc.get("pad_to_multiple_of")
        if multiple is not None:
            multiple = _count(doc, "pad_to_multiple_of", None, where, "padding", least=1)
        return cls(
            length,
            multiple,
            _count(doc, "pad_id", 0, where, "padding"),
            _count(doc, "pad_type_id", 0, where, "padding"),
            _direction(doc, where, "padding"),
        )

    def to_hf(self, pad_token: str) -> dict[str, Any]:
        """The ``padding`` entry of an HF ``tokenizer.json``."""
        return {
            "strategy": "BatchLongest" if self.length is None else {"Fixed": self.length},
            "direction": self.side.capitalize(),
            "pad_to_multiple_of": self.multiple_of,
            "pad_id": self.pad_id,
            "pad_type_id": self.pad_type_id,
            "pad_token": pad_token,
        }


# the largest length, stride or padding multiple (a row of ids past it is gigabytes)
MAX_COUNT = 2**31 - 1


def _bad(where: str, key: str, problem: str) -> TokenizerFormatError:
    return TokenizerFormatError(f"{where}: {key} {problem}; fix the file or remove the entry")


def _count(
    doc: Mapping[str, Any], key: str, default: int | None, where: str, entry: str, least: int = 0
) -> int:
    """``doc[key]`` as an integer >= ``least`` (``default`` when absent, if allowed)."""
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= MAX_COUNT:
        raise _bad(
            where, f"{entry}.{key}", f"is {value!r}, not an integer in [{least}, {MAX_COUNT:,}]"
        )
    return value


def _direction(doc: Mapping[str, Any], where: str, entry: str) -> Side:
    value = doc.get("direction", "Right")
    if value not in ("Left", "Right"):
        raise _bad(where, f"{entry}.direction", f'is {value!r}, not "Left" or "Right"')
    return "left" if value == "Left" else "right"


def _side(value: str, name: str) -> Side:
    if value not in ("left", "right"):
        raise ConfigError(f"{name} must be 'left' or 'right', got {value!r}")
    return value  # type: ignore[return-value]


def truncation_option(
    truncation: bool | str | None, max_length: int | None, stride: int, side: str
) -> Truncation | None:
    """``truncation``: False/None (off), True (``"longest_first"``) or a strategy name."""
    if truncation is None or truncation is False:
        return None
    strategy = "longest_first" if truncation is True else truncation
    if strategy not in ("longest_first", "only_first", "only_second"):
        raise ConfigError(
            f"truncation must be True, False or one of 'longest_first', 'only_first', "
            f"'only_second'; got {truncation!r}"
        )
    if max_length is None:
        raise ConfigError("truncation needs max_length=...; pass the length to cut rows to")
    max_length = check_int("max_length", max_length, most=MAX_COUNT)  # (NumPy ints as int)
    stride = check_int("stride", stride, most=MAX_COUNT)
    return Truncation(max_length, strategy, stride, _side(side, "truncation_side"))  # type: ignore[arg-type]


def padding_option(
    padding: bool | str,
    max_length: int | None,
    multiple_of: int | None,
    side: str,
    pad_id: int | None,
) -> Padding | None:
    """``padding``: False (off), True or ``"longest"`` (longest row), ``"max_length"``."""
    if padding is False or padding == "do_not_pad":
        return None
    if padding is True or padding == "longest":
        length = None
    elif padding == "max_length":
        if max_length is None:
            raise ConfigError("padding='max_length' needs max_length=...")
        length = check_int("max_length", max_length, most=MAX_COUNT)
    else:
        raise ConfigError(
            f"padding must be True, False, 'longest' or 'max_length'; got {padding!r}"
        )
    if pad_id is None:
        raise ConfigError(
            "this tokenizer has no padding token ([PAD], <pad> or <|pad|>) and its file sets "
            "no padding id; "
            "pass pad_token_id=... (the id of its padding token) to pad"
        )
    check_int("pad_token_id", pad_id)
    if multiple_of is not None:  # (a NumPy integer as an int: Padding does arithmetic)
        multiple_of = check_int("pad_to_multiple_of", multiple_of, least=1, most=MAX_COUNT)
    return Padding(length, multiple_of, pad_id, 0, _side(side, "padding_side"))


def resolve_options(
    truncation: bool | str | None,
    padding: bool | str | None,
    *,
    max_length: int | None,
    stride: int,
    truncation_side: str,
    pad_to_multiple_of: int | None,
    padding_side: str,
    pad_token_id: int | None,
    defaults: tuple[Truncation | None, Padding | None],
    default_pad_id: int | None,
    vocab_size: int,
) -> tuple[Truncation | None, Padding | None]:
    """A batch's truncation and padding from ``encode_batch``'s arguments: None for either
    means the tokenizer file's (``defaults``), with what the call gives in place of its
    parts; ``pad_token_id`` defaults to ``default_pad_id`` and must be in the vocabulary.

    A ``max_length`` given is the length, whatever the file says: it replaces the length
    of the file's truncation and fixed padding, and given with neither ``truncation`` nor
    ``padding`` it cuts rows to it (``"longest_first"``) where the file sets no
    truncation, as transformers does (it was ignored: rows came out longer than asked).
    Likewise a ``stride``, a side other than the default ``"right"``, a
    ``pad_to_multiple_of`` or a ``pad_token_id`` replaces the file's (they were dropped
    unless ``max_length`` came too, or always)."""
    file_trunc, file_pad = defaults
    if truncation is not None:
        trunc = truncation_option(truncation, max_length, stride, truncation_side)
    elif file_trunc is not None:
        length = file_trunc.max_length if max_length is None else max_length
        side = file_trunc.side if truncation_side == "right" else truncation_side
        trunc = truncation_option(file_trunc.strategy, length, stride or file_trunc.stride, side)
    elif max_length is not None and padding in (None, False):
        trunc = truncation_option(True, max_length, stride, truncation_side)
    else:
        trunc = None
    if padding is None:
        if file_pad is None:
            return trunc, None
        width = file_pad.length
        if width is not None and max_length is not None:
            width = check_int("max_length", max_length, most=MAX_COUNT)
        side = file_pad.side if padding_side == "right" else _side(padding_side, "padding_side")
        multiple = file_pad.multiple_of
        if pad_to_multiple_of is not None:
            multiple = check_int("pad_to_multiple_of", pad_to_multiple_of, least=1, most=MAX_COUNT)
        file_id = file_pad.pad_id
        if pad_token_id is not None:
            file_id = _pad_id_in(check_int("pad_token_id", pad_token_id), vocab_size)
        return trunc, replace(file_pad, length=width, multiple_of=multiple, pad_id=file_id,
                              side=side)  # fmt: skip
    pad_id = default_pad_id if pad_token_id is None else pad_token_id
    pad = padding_option(padding, max_length, pad_to_multiple_of, padding_side, pad_id)
    if pad is not None:
        _pad_id_in(pad.pad_id, vocab_size)
    return trunc, pad


def _pad_id_in(pad_id: int, vocab_size: int) -> int:
    """``pad_id``, or a ``ConfigError`` when the vocabulary has no such id."""
    if pad_id >= vocab_size:
        raise ConfigError(f"pad_token_id={pad_id} is not in the vocabulary (0..{vocab_size - 1})")
    return pad_id


# the most threads a call may ask for (the pools are capped at 4 x cores anyway); above it
# the number would not fit the core's integer
MAX_THREADS = 2**32


def check_int(name: str, value: Any, least: int = 0, most: int | None = None) -> int:
    """``value`` if it is an integer in [``least``, ``most``], else a :class:`ConfigError`
    naming ``name``."""
    try:
        number: int = operator.index(value)  # ints and NumPy integers; not floats or str
    except TypeError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if number < least:
        raise ConfigError(f"{name} must be at least {least}, got {number}")
    if most is not None and number > most:
        raise ConfigError(f"{name} must be at most {most:,}, got {number:,}")
    return number


def model_inputs(
    lists: Callable[..., tuple[list[list[int]], list[int]]],
    arrays: Callable[..., dict[str, Any]],
    texts: Sequence[Any],
    pairs: Sequence[Any] | None,
    *,
    truncation: Truncation | None,
    padding: Padding | None,
    overflow: bool,
    return_tensors: str | None,
    special_tokens_mask: bool,
    word_ids: bool,
    offsets: bool,
    sequence_ids: bool = False,
    words: bool = False,
) -> list[list[int]] | BatchEncoding:
    """A batch through a tokenizer core: ``lists(texts, pairs, truncation, padding,
    overflow, words)`` gives the id lists, ``arrays(texts, fields, pairs, truncation,
    padding, overflow, words)`` the arrays of the named fields (the two ``encode_batch_*``
    methods of the cores, options already bound). Checks the texts, names a text the core
    cannot take. ``words``: each text (and second text) is a list of words."""
    from lexforge._text_checks import bad_text, in_order, not_texts, word_lists

    if isinstance(texts, str):
        raise TypeError("encode_batch takes a sequence of texts; for one text use encode()")
    if isinstance(pairs, str):
        raise TypeError(
            "pairs must be a sequence of second texts (one per text), not one str; "
            "wrap it in a list"
        )
    texts = in_order(texts)
    pairs = None if pairs is None else in_order(pairs, "pairs")
    if words:
        texts = word_lists(texts, "texts")
        pairs = None if pairs is None else word_lists(pairs, "pairs")
    if pairs is not None and len(pairs) != len(texts):
        raise ConfigError(
            f"got {len(texts)} texts but {len(pairs)} pairs; pass one second text per text"
        )
    if return_tensors not in (None, "np", "pt"):
        raise ConfigError(f"return_tensors must be None, 'np' or 'pt', got {return_tensors!r}")
    extras = {
        "special_tokens_mask": special_tokens_mask, "word_ids": word_ids, "offsets": offsets,
        "sequence_ids": sequence_ids,
    }  # fmt: skip
    if return_tensors is None:  # a list of id lists has no place for them: not dropped
        asked = [f"return_{name}" for name, wanted in extras.items() if wanted]
        if asked:
            raise ConfigError(
                f"{' and '.join(asked)} needs return_tensors='np' or 'pt' (a BatchEncoding "
                "of arrays); return_tensors=None gives the id lists alone"
            )
    texts_list, pairs_list = list(texts), None if pairs is None else list(pairs)
    if padding is not None:
        per_token = 3 + special_tokens_mask + word_ids + sequence_ids + 2 * offsets
        per_token = per_token if return_tensors else 1
        check_fits_memory(len(texts_list), padding.least_width(), per_token)
    core_trunc = None if truncation is None else truncation.as_core()
    core_pad = None if padding is None else padding.as_core()
    try:
        if return_tensors is None:
            # (the core pauses the collector while it builds the lists, GIL held)
            ids, _ = lists(texts_list, pairs_list, core_trunc, core_pad, overflow, words)
            return ids
        fields = ["input_ids", "token_type_ids", "attention_mask"]
        fields += [name for name, wanted in extras.items() if wanted]
        out = arrays(texts_list, fields, pairs_list, core_trunc, core_pad, overflow, words)
    except (UnicodeEncodeError, TypeError) as e:
        sources: dict[str, Any] = {"texts": texts_list, "pairs": pairs_list}
        if words:  # each text a list: name the word (texts[2][5])
            sources = {
                f"{name}[{i}]": text
                for name, batch in sources.items()
                for i, text in enumerate(batch or ())
            }
        if isinstance(e, UnicodeEncodeError):
            raise bad_text(e, **sources) from None
        raise not_texts(e, **sources) from None
    if padding is not None and padding.length is not None:
        _check_fixed_width(out, padding, truncation)
    if not overflow:
        del out["overflow_to_sample_mapping"]
    return as_tensors(out, return_tensors)


def check_fits_memory(rows: int, width: int, fields: int, what: str = "max_length") -> None:
    """A ``ConfigError`` when ``rows`` rows padded to ``width`` tokens, ``fields`` int64
    values a token, need more than this machine's memory (the allocation would abort the
    process, or the system would kill it), naming ``what`` to lower."""
    need = rows * width * fields * 8
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: the 64-bit limit
        memory = 2**63
    if need > memory:
        raise ConfigError(
            f"padding {rows:,} rows to {width:,} tokens needs {need / 2**30:,.1f} GiB, more "
            f"than this machine's {memory / 2**30:,.1f} GiB of memory; lower {what} (or "
            "pad_to_multiple_of), or encode fewer texts at a time"
        )


def _check_fixed_width(out: dict[str, Any], padding: Padding, cut: Truncation | None) -> None:
    """Arrays padded to a fixed length are that wide: a longer row is a ``ConfigError``
    naming its text, as transformers refuses to make such tensors."""
    assert padding.length is not None
    width = padding.least_width()
    if out["input_ids"].shape[1] <= width:
        return
    real = out["attention_mask"].sum(1)
    row = int(real.argmax())
    text = int(out["overflow_to_sample_mapping"][row])
    fix = (
        f"pass padding=True to pad to the longest row, or padding='max_length' with "
        f"max_length={cut.max_length}"
        if cut is not None  # cut at a longer length than the padding's (a file's padding)
        else "pass truncation=True to cut it, or padding=True to pad to the longest row"
    )
    raise ConfigError(
        f"text {text} is {int(real[row])} tokens, longer than the fixed length {padding.length} "
        f"the rows are padded to (padding='max_length', or the file's padding): arrays of one "
        f"width cannot hold it; {fix}"
    )
