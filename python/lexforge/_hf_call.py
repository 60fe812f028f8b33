"""``tokenizer(texts, ...)``: transformers' tokenizer call on a lexforge tokenizer.

What a ``PreTrainedTokenizerFast`` call returns for the same file and arguments (the
oracle of ``tests/test_tokenizer_call.py``): a :class:`~lexforge.batch.BatchEncoding` of
``input_ids``, ``token_type_ids`` and ``attention_mask`` (and the fields asked for), lists
of ints per row unless ``return_tensors`` asks for arrays, one row (not a list of rows)
for one text. As in transformers, the call pads and truncates only when told to: the
padding and truncation a ``tokenizer.json`` sets (which ``encode`` and ``encode_batch``
apply) are ignored, and ``max_length`` alone truncates (``"longest_first"``).

The work is ``encode_batch``'s; this module maps the arguments and shapes the output.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lexforge._core import offset_lists
from lexforge.batch import BatchEncoding, as_tensors
from lexforge.errors import ConfigError

if TYPE_CHECKING:
    from lexforge.tokenizer import Tokenizer

__all__ = ["call", "pad"]

# texts encoded in one go without padding: each group's arrays are as wide as its longest
# row, so one long text among many short ones costs at most this many rows of its width
_GROUP = 64

# transformers' names for "off" (its enums' values)
_NO_PADDING = ("do_not_pad",)
_NO_TRUNCATION = ("do_not_truncate",)


def call(
    tok: Tokenizer,
    text: Any,
    text_pair: Any = None,
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
    """See :meth:`lexforge.Tokenizer.__call__`."""
    del verbose  # transformers' switch for its warnings; lexforge raises or stays silent
    texts, pairs, single = _inputs(text, text_pair, is_split_into_words)
    given, padding = padding, _padding(padding)
    if truncation in _NO_TRUNCATION:
        truncation = False
    if truncation is None:  # transformers: max_length alone cuts (padding=False alone: not
        # its "do_not_pad"); the file's default never
        truncation = "longest_first" if max_length is not None and given is False else False
    if max_length is None and (truncation is not False or padding == "max_length"):
        max_length = _model_max_length(tok, truncation, padding)
    keep = {
        "input_ids": True,
        "token_type_ids": return_token_type_ids is not False,
        "attention_mask": return_attention_mask is not False,
        "special_tokens_mask": return_special_tokens_mask,
        "offsets": return_offsets_mapping,
        "overflow_to_sample_mapping": return_overflowing_tokens,
    }
    options.setdefault("truncation_side", tok.truncation_side)
    kwargs = dict(
        {**tok._as_hf, **options},
        add_special_tokens=add_special_tokens,
        truncation=truncation,
        max_length=max_length,
        stride=stride,
        return_special_tokens_mask=return_special_tokens_mask,
        return_offsets=return_offsets_mapping,
        return_overflowing_tokens=return_overflowing_tokens,
        is_split_into_words=is_split_into_words,
    )
    if return_tensors not in (None, "np", "pt"):
        raise ConfigError(f"return_tensors must be None, 'np' or 'pt', got {return_tensors!r}")
    side = {"padding_side": tok.padding_side if padding_side is None else padding_side}

    def encode(tok: Tokenizer, **extra: Any) -> dict[str, Any]:
        if padding is False:
            return _unpadded(tok, texts, pairs, {**kwargs, **extra})
        return tok.encode_batch(  # type: ignore[no-any-return]
            texts, pairs, padding=padding, pad_to_multiple_of=pad_to_multiple_of,
            return_tensors="np", **side, **{**kwargs, **extra},
        )  # fmt: skip

    rows = encode(tok)
    fields = {name: rows[name] for name, wanted in keep.items() if wanted and name in rows}
    if "offsets" in fields:
        fields["offset_mapping"] = fields.pop("offsets")
    if return_length:
        fields["length"] = [len(row) for row in rows["input_ids"]]
    out = _shaped(fields, return_tensors, single and not return_overflowing_tokens)
    # transformers' lookups (word_ids, char_to_token...) read the rows' word and sequence
    # indices and offsets, which transformers keeps for every call; here they are encoded
    # again on the first lookup (half the call's time otherwise), from what this call saw
    if is_split_into_words:  # (lists the caller may change meanwhile)
        texts = [list(words) for words in texts]
        pairs = None if pairs is None else [list(words) for words in pairs]
    seen = _snapshot(tok)
    out._later = lambda: encode(
        seen, return_word_ids=True, return_sequence_ids=True, return_offsets=True
    )
    out._tokenizer, out._pairs = tok, pairs is not None
    return out


def _snapshot(tok: Tokenizer) -> Tokenizer:
    """``tok`` as it is now, at the cost of a dict copy: ``add_tokens`` and attributes set
    on ``tok`` later replace its entries, not these."""
    seen: Tokenizer = object.__new__(type(tok))
    seen.__dict__.update(vars(tok))
    return seen


def _model_max_length(tok: Tokenizer, truncation: Any, padding: Any) -> int:
    """The length ``truncation`` or ``padding="max_length"`` without ``max_length`` means,
    as in transformers: the tokenizer's ``model_max_length``, when it has a real one."""
    from lexforge._hf_tokens import NO_LIMIT, check_model_max_length

    limit = check_model_max_length(tok.model_max_length)  # (an attribute anyone may set)
    if limit < NO_LIMIT:
        return limit
    what = f"truncation={truncation!r}" if truncation is not False else "padding='max_length'"
    raise ConfigError(
        f"{what} needs max_length=...: transformers uses the tokenizer's model_max_length "
        "then, which a tokenizer file alone does not set (a model folder's "
        "tokenizer_config.json does); pass max_length, or set tokenizer.model_max_length"
    )


def _inputs(
    text: Any, text_pair: Any, split: bool = False
) -> tuple[list[Any], list[Any] | None, bool]:
    """The texts, the second texts (or None) and whether one text (not a batch) came; with
    ``split`` (``is_split_into_words``) a text is a list of words, so a batch is a list of
    lists."""
    if split:
        return _word_inputs(text, text_pair)
    if isinstance(text, str):
        if text_pair is not None and not isinstance(text_pair, str):
            raise TypeError("with one text, text_pair must be one str (or None)")
        # (transformers drops an empty second text of one text: no pair; in a batch, kept)
        return [text], [text_pair] if text_pair else None, True
    if not isinstance(text, Sequence) or isinstance(text, (bytes, bytearray)):
        raise TypeError(
            f"the tokenizer takes a str or a list of str (and pairs), got {type(text).__name__}"
        )
    texts = list(text)
    if text_pair is None and texts and all(isinstance(t, (tuple, list)) for t in texts):
        if any(len(t) != 2 for t in texts):
            raise ConfigError(
                "a batch of pairs holds (text, second text) tuples; one has "
                f"{next(len(t) for t in texts if len(t) != 2)} items"
                + (
                    "; for texts split into words pass is_split_into_words=True"
                    if any(isinstance(w, str) for t in texts for w in t)
                    else ""
                )
            )
        return [t[0] for t in texts], [t[1] for t in texts], False
    if isinstance(text_pair, str):
        raise TypeError("with a batch of texts, text_pair must be a list (one per text)")
    pairs = None if text_pair is None else list(text_pair)
    if pairs is not None and len(pairs) != len(texts):
        raise ConfigError(
            f"got {len(texts)} texts but {len(pairs)} second texts; pass one per text"
        )
    return texts, pairs, False


def _word_inputs(text: Any, text_pair: Any) -> tuple[list[Any], list[Any] | None, bool]:
    """As transformers reads ``is_split_into_words=True``: a list of str is one text split
    into words, a list of such lists a batch (of pairs, with a ``text_pair`` of as many)."""

    def is_words(x: Any) -> bool:
        return isinstance(x, (list, tuple)) and all(isinstance(w, str) for w in x)

    if isinstance(text, str) or not isinstance(text, (list, tuple)):
        raise TypeError(
            "with is_split_into_words=True the tokenizer takes a list of words (str) or a "
            f"batch of such lists, got {type(text).__name__}"
            + ("; split the text first (text.split())" if isinstance(text, str) else "")
        )
    if is_words(text):  # one text (an empty list too, as in transformers)
        if text_pair is not None and not is_words(text_pair):
            raise TypeError("with one text split into words, text_pair must be one list of words")
        return [list(text)], [list(text_pair)] if text_pair else None, True
    texts = list(text)
    if (
        text_pair is None
        and texts
        and all(
            isinstance(t, tuple) and len(t) == 2 and is_words(t[0]) and is_words(t[1])
            for t in texts
        )
    ):  # (words, second words) tuples: a batch of pairs
        return [list(t[0]) for t in texts], [list(t[1]) for t in texts], False
    if text_pair is None:
        return texts, None, False
    if is_words(text_pair) and text_pair:
        raise TypeError(
            "with a batch of texts split into words, text_pair must be a batch too (one "
            "list of words per text)"
        )
    pairs = list(text_pair)
    if len(pairs) != len(texts):
        raise ConfigError(
            f"got {len(texts)} texts but {len(pairs)} second texts; pass one per text"
        )
    return texts, pairs, False


def _padding(padding: Any) -> bool | str:
    if padding in _NO_PADDING:
        return False
    if padding is True or padding == "longest":
        return "longest"
    if padding is False or padding == "max_length":
        return padding  # type: ignore[no-any-return]
    raise ConfigError(
        f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad'; got {padding!r}"
    )


def _unpadded(
    tok: Tokenizer, texts: list[str], pairs: list[str] | None, kwargs: dict[str, Any]
) -> dict[str, list[Any]]:
    """Each row at its own length: groups of texts padded to their longest row (with any
    id, cut off again), so a batch never holds more than a group's padding."""
    rows: dict[str, list[Any]] = {}
    for start in range(0, len(texts), _GROUP):
        group = texts[start : start + _GROUP]
        second = None if pairs is None else pairs[start : start + _GROUP]
        arrays = tok.encode_batch(  # (any padding id: the padding is cut off again)
            group, second, padding="longest", padding_side="right", pad_to_multiple_of=None,
            return_tensors="np", **{**kwargs, "pad_token_id": 0},
        )  # fmt: skip
        lengths = arrays["attention_mask"].sum(1)
        for name, column in arrays.items():
            if name == "overflow_to_sample_mapping":
                cut = [int(sample) + start for sample in column]
            else:
                cut = [row[:n] for row, n in zip(column, lengths, strict=True)]
            rows.setdefault(name, []).extend(cut)
    if not rows:  # no texts
        rows = {name: [] for name in ("input_ids", "token_type_ids", "attention_mask")}
    return rows


def _shaped(fields: dict[str, Any], return_tensors: str | None, single: bool) -> BatchEncoding:
    """Lists (rows of ints, offsets as (start, end) tuples), or arrays of the rows; each
    field is an array of rows (padded) or a list of row arrays (unpadded)."""
    if return_tensors is not None:
        import numpy as np

        widths = {len(row) for row in fields["input_ids"]}
        if len(widths) > 1:
            raise ConfigError(
                "return_tensors needs rows of one length, and these have "
                f"{min(widths)} to {max(widths)} tokens: pass padding=True (or "
                "padding='max_length' with max_length=...), or return_tensors=None for lists"
            )
        arrays = {}
        for name, rows in fields.items():
            if name in ("overflow_to_sample_mapping", "length"):
                arrays[name] = np.asarray(rows, np.int64)
            elif isinstance(rows, np.ndarray):
                arrays[name] = rows
            else:
                shape = (0, 0, 2) if name == "offset_mapping" else (0, 0)
                arrays[name] = np.stack(rows) if rows else np.zeros(shape, np.int64)
        return as_tensors(arrays, return_tensors)
    out: dict[str, Any] = {}
    for name, rows in fields.items():
        if name in ("overflow_to_sample_mapping", "length"):
            out[name] = [int(value) for value in rows]
        elif name == "offset_mapping":
            out[name] = offset_lists(list(rows))  # (the tuples made in the core: fast)
        else:
            out[name] = [row.tolist() for row in rows]
    if single:  # (transformers keeps the list of lengths)
        out = {name: value if name == "length" else value[0] for name, value in out.items()}
    return BatchEncoding(out)


# the per-token fields ``pad`` pads, with what fills padding (None: the pad id)
_PADDED = {"input_ids": None, "token_type_ids": 0, "attention_mask": 0, "special_tokens_mask": 1}


def pad(
    tok: Tokenizer,
    encoded_inputs: Any,
    padding: bool | str = True,
    max_length: int | None = None,
    pad_to_multiple_of: int | None = None,
    padding_side: str | None = None,
    return_attention_mask: bool | None = None,
    return_tensors: str | None = None,
    verbose: bool = True,
    pad_token_id: int | None = None,
) -> BatchEncoding:
    """See :meth:`lexforge.Tokenizer.pad`."""
    import numpy as np

    from lexforge.batch import check_int
    from lexforge.collate import _columns, pad_rows

    del verbose
    if return_tensors not in (None, "np", "pt"):
        raise ConfigError(f"return_tensors must be None, 'np' or 'pt', got {return_tensors!r}")
    single = isinstance(encoded_inputs, Mapping) and _flat(encoded_inputs.get("input_ids"))
    columns = _columns([encoded_inputs] if single else encoded_inputs)
    if "input_ids" not in columns:
        raise ConfigError(
            f"pad needs the examples' input_ids; they hold {sorted(columns)}: tokenize first"
        )
    padding = _padding(padding)
    if padding == "max_length" and max_length is None:
        raise ConfigError("padding='max_length' needs max_length=...")
    width = 0 if padding != "max_length" else check_int("max_length", max_length, least=1)
    multiple = 1 if pad_to_multiple_of is None else check_int(
        "pad_to_multiple_of", pad_to_multiple_of, least=1)  # fmt: skip
    side = tok.padding_side if padding_side is None else padding_side
    if side not in ("left", "right"):
        raise ConfigError(f"padding_side must be 'left' or 'right', got {side!r}")
    pad_id = tok._pad_id() if pad_token_id is None else pad_token_id  # type: ignore[attr-defined]
    if pad_id is None and padding is not False:
        raise ConfigError(
            "this tokenizer has no padding token ([PAD], <pad> or <|pad|>); pass "
            "pad_token_id=... (the id of its padding token) to pad"
        )
    out: dict[str, Any] = {}
    ids, lengths = pad_rows(columns.pop("input_ids"), -1 if pad_id is None else pad_id,
                            "input_ids", multiple, width, side == "left")  # fmt: skip
    if padding is False and len(set(lengths.tolist())) > 1 and return_tensors is not None:
        raise ConfigError(
            "return_tensors needs rows of one length: pass padding=True, or "
            "return_tensors=None for lists"
        )
    if padding == "max_length" and ids.shape[1] > _rounded(width, multiple):
        row = int(lengths.argmax())
        raise ConfigError(
            f"example {row} has {int(lengths[row])} tokens, more than max_length={width}: "
            "pad does not cut; truncate when tokenizing (truncation=True, max_length=...)"
        )
    out["input_ids"] = ids
    if return_attention_mask is not False and "attention_mask" not in columns:
        columns["attention_mask"] = [[1] * int(n) for n in lengths]
    for name in [name for name in _PADDED if name in columns]:
        fill = _PADDED[name]
        array, seen = pad_rows(columns.pop(name), 0 if fill is None else fill, name, multiple,
                               ids.shape[1], side == "left")  # fmt: skip
        if not np.array_equal(seen, lengths):
            row = int(np.flatnonzero(seen != lengths)[0])
            raise ConfigError(
                f"example {row}'s {name} has {int(seen[row])} values and its input_ids "
                f"{int(lengths[row])}; every per-token field has one value per token"
            )
        out[name] = array
    rows = {name: _unpadded_rows(out[name], lengths, side) for name in out} if (
        padding is False) else {name: list(array) for name, array in out.items()}  # fmt: skip
    fields: dict[str, Any] = dict(rows)
    if return_tensors is None:
        result = {name: [r.tolist() for r in value] for name, value in fields.items()}
        result.update(columns)  # the other fields as they came
        if single:
            result = {name: value[0] for name, value in result.items()}
        return BatchEncoding(result)
    arrays = {name: np.stack(value) if value else np.zeros((0, 0), np.int64)
              for name, value in fields.items()}  # fmt: skip
    for name, values in columns.items():  # labels and other fields: one array each
        arrays[name] = _stacked(name, values)
    if single:
        arrays = {name: value[0] for name, value in arrays.items()}
    return as_tensors(arrays, return_tensors)


def _flat(ids: Any) -> bool:
    """Whether ``ids`` is one example's ids (not a column of rows)."""
    if isinstance(ids, (list, tuple)):
        return bool(ids) and not isinstance(ids[0], (list, tuple)) and not hasattr(
            ids[0], "__len__")  # fmt: skip
    return (
        getattr(ids, "ndim", None) == 1 and getattr(getattr(ids, "dtype", None), "kind", "") != "O"
    )


def _rounded(width: int, multiple: int) -> int:
    return -(-width // multiple) * multiple


def _unpadded_rows(array: Any, lengths: Any, side: str) -> list[Any]:
    width = array.shape[1]
    if side == "left":
        return [row[width - n :] for row, n in zip(array, lengths, strict=True)]
    return [row[:n] for row, n in zip(array, lengths, strict=True)]


def _stacked(name: str, values: list[Any]) -> Any:
    """A field that is not padded (``labels``, say) as one array, or a ``ConfigError``
    naming it when its values are text or of different lengths."""
    import numpy as np

    torch = sys.modules.get("torch")
    if torch is not None and values and all(isinstance(v, torch.Tensor) for v in values):
        values = [v.detach().cpu().numpy() for v in values]
    try:
        array = np.asarray(values)
    except ValueError:
        array = None
    if array is None or array.dtype.kind not in "biuf":
        what = "text" if array is not None and array.dtype.kind in "USO" and any(
            isinstance(v, str) for v in values) else "rows of different lengths"  # fmt: skip
        raise ConfigError(
            f"the examples' {name!r} cannot become one array: {what}; pad does not pad "
            f"{name!r} (token labels: pad them first, or use return_tensors=None), and "
            "text must be dropped before padding"
        )
    return array
