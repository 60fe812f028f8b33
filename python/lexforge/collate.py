"""``MLMCollator``: pads a list of tokenized examples and masks them for masked-language-model
training, as HF's ``DataCollatorForLanguageModeling`` does, with the work in Rust.

HF's collator pads in Python, builds tensors from nested lists and masks with a chain of
torch ops; a data loader spends most of its time there (DESIGN.md: "HF's collators ... starve
GPUs"). Here the examples' lists are read straight into one padded array by the core
(``_core.pad_lists``) and masked by a :class:`~lexforge.masking.Masker` (its semantics,
seeding and DataLoader-worker behaviour are the masker's).
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from lexforge import _core
from lexforge.batch import check_int
from lexforge.errors import ConfigError
from lexforge.masking import INT64_MAX, Masker, _loader_batch

__all__ = ["Batch", "MLMCollator"]

# the per-token fields the collator pads, with what fills padding (None: the pad id)
_PADDED = {"input_ids": None, "token_type_ids": 0, "attention_mask": 0,
           "special_tokens_mask": 1, "word_ids": -1}  # fmt: skip
# read to mask, not returned (HF's collator drops special_tokens_mask too)
_CONSUMED = ("special_tokens_mask", "word_ids")


class MLMCollator:
    """Pads examples to one batch and masks it: a ``collate_fn`` for a torch ``DataLoader``
    or a ``data_collator`` for HF's ``Trainer``, in place of
    ``transformers.DataCollatorForLanguageModeling(tokenizer, mlm_probability=...)``.

    The arguments transformers' collator takes come in its order and mean what they mean
    there, so that it can be replaced by name.

    Args:
        tokenizer: a lexforge tokenizer, or a transformers one (``mask_token_id``,
            ``all_special_ids``, ``pad_token_id``, ``padding_side`` are read from it).
            Optional when ``masker`` and ``pad_token_id`` are given.
        mlm: False for causal language modelling: the ids unmasked, and labels that are
            the ids with -100 where they equal the padding id (as transformers labels them).
        whole_word_mask (or ``whole_word``): pick whole words (see
            :class:`~lexforge.masking.Masker`). Words are WordPiece's ``##`` pieces (as
            BERT's own whole-word masking has them; byte-level BPE: see the masker),
            where transformers 5 groups tokens whose offsets touch (words between white
            space, punctuation included); the picked tokens are replaced 80/10/10 as
            BERT's were, where transformers 5 puts [MASK] in them all
            (``mask_replace_prob=1.0`` asks for that).
        mlm_probability: the share of tokens picked.
        mask_replace_prob, random_replace_prob: of the picked tokens, the shares replaced
            by [MASK] and by a random token that is not special (transformers draws from
            the whole vocabulary, specials included); the rest are kept.
        pad_to_multiple_of: round the batch's length up to a multiple of this (8 for
            tensor cores).
        return_tensors: ``"pt"`` (torch tensors, the default) or ``"np"``.
        seed: the masks' seed (with the call's step: see the masker). None, as in
            transformers, takes each batch's masks from torch's global generator (in a
            DataLoader, from the pass's seed, as with a seed).
        masker: the :class:`~lexforge.masking.Masker` to mask with; by default one built
            from the tokenizer with the options above (which are then not used).
        pad_token_id: the id padding fills ``input_ids`` with (default: the tokenizer's).
        padding_side: ``"right"`` (default, or the transformers tokenizer's) or ``"left"``.
        pad_token_type_id: what padding fills ``token_type_ids`` with (default 0, or the
            transformers tokenizer's).
        num_threads: the default masker's threads (1: reading the examples' lists, which
            holds the GIL, costs more than masking the batch, and DataLoader workers run
            batches side by side).

    Each example is a mapping with ``input_ids`` (a list or tuple of ints, a 1-D integer
    array or tensor) and optionally ``token_type_ids``, ``attention_mask``,
    ``special_tokens_mask`` (nonzero: never masked) and ``word_ids`` (-1 or None for none;
    whole words), each as long as its ``input_ids``; fields holding one number per example (a
    ``label``, a ``next_sentence_label``) are stacked. A bare sequence of ids is an example
    with ``input_ids`` alone; one mapping of columns (a dataset's slice, ``dataset[:32]``)
    is a batch too. Padding positions, positions with ``attention_mask`` 0 and special ids
    are never masked.

    Returns a dict (a :class:`Batch`, which ``.to(device)`` moves): ``input_ids``
    (masked), ``token_type_ids`` (when the examples have them), ``attention_mask``, ``labels``
    (the original id at masked positions, -100 elsewhere), then the stacked per-example
    fields; int64 throughout (per-example floats stay floats).

    Raises:
        ConfigError: no examples; an example without a field the first one has, or with a
            field whose length differs from its ``input_ids``; a value that is not an
            integer; a text field (drop text columns before collating); a ``labels``
            field (the collator makes the labels); an id outside the vocabulary (named
            by example and position in the padded batch); no padding id.
    """

    def __init__(
        self,
        tokenizer: Any = None,
        mlm: bool = True,
        whole_word_mask: bool = False,
        mlm_probability: float = 0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        pad_to_multiple_of: int | None = None,
        return_tensors: str = "pt",
        seed: int | None = 0,
        *,
        masker: Masker | None = None,
        whole_word: bool | None = None,
        pad_token_id: int | None = None,
        padding_side: str | None = None,
        pad_token_type_id: int | None = None,
        num_threads: int | None = 1,
    ) -> None:
        if return_tensors not in ("pt", "np"):
            raise ConfigError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}")
        if not isinstance(mlm, (bool, np.bool_)):
            raise ConfigError(f"mlm must be True or False, got {mlm!r}")
        if whole_word is not None and bool(whole_word) != bool(whole_word_mask):
            if whole_word_mask:
                raise ConfigError(
                    "whole_word and whole_word_mask (transformers' name) are one option: "
                    f"got whole_word={whole_word!r} and whole_word_mask={whole_word_mask!r}"
                )
            whole_word_mask = whole_word
        if not mlm and whole_word_mask:
            raise ConfigError("whole-word masking needs mlm=True (mlm=False makes causal labels)")
        hf = tokenizer is not None and hasattr(tokenizer, "all_special_ids")
        self.mlm = bool(mlm)
        # seed None: masks follow torch's global generator outside a DataLoader, as
        # transformers' collator does without a seed (the masker's own seed is then 0)
        self.follow_torch = seed is None and masker is None  # (a given masker counts its own)
        if masker is None and mlm:
            if tokenizer is None:
                raise ConfigError("MLMCollator needs a tokenizer, or a masker and pad_token_id")
            options = {"mlm_probability": mlm_probability, "whole_word": whole_word_mask,
                       "mask_probability": mask_replace_prob,
                       "random_probability": random_replace_prob,
                       "seed": 0 if seed is None else seed, "num_threads": num_threads}  # fmt: skip
            masker = (
                _hf_masker(tokenizer, options)
                if hf
                else Masker.from_tokenizer(tokenizer, **options)
            )
        elif masker is not None and not isinstance(masker, Masker):
            raise ConfigError(f"masker must be a lexforge Masker, got {type(masker).__name__}")
        if masker is not None and not mlm:
            raise ConfigError(
                "mlm=False makes causal labels and masks nothing: pass no masker with it"
            )
        if pad_token_id is None and tokenizer is not None:
            pad_token_id = tokenizer.pad_token_id if hf else tokenizer._pad_id()
        if pad_token_id is None:
            raise ConfigError("no padding id: the tokenizer has no [PAD] token; pass pad_token_id=")
        check_int("pad_token_id", pad_token_id)
        if masker is not None and pad_token_id >= masker.vocab_size:
            raise ConfigError(
                f"pad_token_id={pad_token_id} is outside the vocabulary [0, "
                f"{masker.vocab_size}); pass the tokenizer's padding id"
            )
        if padding_side is None:
            padding_side = getattr(tokenizer, "padding_side", "right") if hf else "right"
        if padding_side not in ("right", "left"):
            raise ConfigError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        if pad_token_type_id is None:
            pad_token_type_id = getattr(tokenizer, "pad_token_type_id", 0) if hf else 0
        self.masker: Masker | None = masker
        self.pad_token_id = int(pad_token_id)
        self.pad_to_multiple_of = 1
        if pad_to_multiple_of is not None:
            self.pad_to_multiple_of = check_int("pad_to_multiple_of", pad_to_multiple_of, 1)
        self.padding_side = padding_side
        self.pad_token_type_id = check_int("pad_token_type_id", pad_token_type_id, most=2**31)
        self.return_tensors = return_tensors

    def __call__(self, examples: Iterable[Any] | Mapping[str, Any]) -> dict[str, Any]:
        columns = _columns(examples)
        if "input_ids" not in columns:
            raise ConfigError(f"examples have no 'input_ids' (fields: {list(columns)})")
        if "labels" in columns:
            raise ConfigError(
                "examples carry 'labels', which the collator makes (the masked positions' "
                "ids): drop that field before collating"
            )
        left = self.padding_side == "left"
        ids, lengths = self._pad(columns.pop("input_ids"), self.pad_token_id, "input_ids")
        padded = {"input_ids": ids}
        for key in [k for k in columns if k in _PADDED]:
            rows = columns.pop(key)
            if key == "word_ids":  # as transformers' Encoding.word_ids() gives them: None
                rows = [_no_none(r) for r in rows]  # at special tokens, which is -1 here
            padded[key], seen = self._pad(rows, _PADDED[key], key, ids.shape[1])
            if not np.array_equal(seen, lengths):
                i = int(np.flatnonzero(seen != lengths)[0])
                raise ConfigError(
                    f"examples[{i}] has {seen[i]} {key} for {lengths[i]} input_ids; each "
                    "per-token field must be as long as the example's input_ids"
                )
        positions = np.arange(ids.shape[1])
        if left:
            real = positions[None, :] >= (ids.shape[1] - lengths)[:, None]
        else:
            real = positions[None, :] < lengths[:, None]
        attention = padded.pop("attention_mask", None)
        never = ~real if attention is None else ~real | (attention == 0)
        special = padded.pop("special_tokens_mask", None)
        if special is not None:
            never |= special != 0
        words = padded.pop("word_ids", None)
        if self.masker is None:  # mlm=False: causal labels, -100 at the padding id as HF has
            masked, labels = ids, np.where(ids == self.pad_token_id, -100, ids)
        else:
            step = counted = None
            if self.follow_torch and _loader_batch() is None:
                # masks from torch's generator; a rate schedule still read at the call count
                step, (_, counted) = _torch_step(), self.masker._next_step()
            masked, labels = self.masker(ids, special_tokens_mask=never, word_ids=words,
                                         step=step, schedule_step=counted)  # fmt: skip
        out: dict[str, Any] = {"input_ids": masked}
        if "token_type_ids" in padded:
            out["token_type_ids"] = padded["token_type_ids"]
        out["attention_mask"] = real.astype(np.int64) if attention is None else attention
        out["labels"] = labels
        if self.return_tensors == "pt":
            import torch

            out = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}
            for key, values in columns.items():  # as transformers stacks them: float32, bool
                out[key] = torch.tensor(_numbers(key, values))
        else:
            for key, values in columns.items():
                out[key] = np.array(_numbers(key, values))
        return Batch(out)

    def _pad(
        self, rows: list[Any], value: int | None, name: str, width: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """``rows`` as one padded int64 array (at least ``width`` long) and their lengths."""
        fill = self.pad_token_type_id if name == "token_type_ids" else value
        fill = self.pad_token_id if fill is None else fill
        left = self.padding_side == "left"
        return pad_rows(rows, fill, name, self.pad_to_multiple_of, width, left)


def pad_rows(
    rows: list[Any], fill: int, name: str, multiple: int, width: int = 0, left: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` (lists, tuples, arrays or tensors of ints: one example's ``name`` each) as
    one int64 array filled with ``fill`` past each row (before it with ``left``), as wide
    as the longest row, at least ``width``, rounded up to a multiple of ``multiple``; and
    the rows' lengths. A row that is not a flat sequence of integers is a ``ConfigError``
    naming it."""
    if set(map(type, rows)) <= _SEQUENCES:  # (map and set: no Python loop per row)
        array, lengths = _core.pad_lists(rows, fill, name, multiple, width, left)
        return array, lengths
    arrays = [_row(name, i, r) for i, r in enumerate(rows)]
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    longest = max(int(lengths.max()) if len(arrays) else 0, width)
    # the padding alone, sized and checked (a width past memory is a ConfigError) by
    # the core, then each row's values
    array, _ = _core.pad_lists([[]] * len(arrays), fill, name, multiple, longest, left)
    longest = array.shape[1]
    for i, a in enumerate(arrays):
        if len(a):
            if left:
                array[i, longest - len(a) :] = a
            else:
                array[i, : len(a)] = a
    return array, lengths


_SEQUENCES = {list, tuple}  # rows the core reads as they are


class Batch(dict):  # type: ignore[type-arg]
    """The collator's output: a dict of its fields that also moves to a device as
    transformers' ``BatchEncoding`` does (``batch.to("cuda")``: every tensor moved, the
    batch itself returned)."""

    def to(self, device: Any, non_blocking: bool = False) -> Batch:
        torch = sys.modules.get("torch")
        for key, value in self.items():
            if torch is not None and isinstance(value, torch.Tensor):
                self[key] = value.to(device, non_blocking=non_blocking)
        return self


def _torch_step() -> int:
    """A step drawn from torch's global generator (NumPy's without torch), so that masks
    follow ``torch.manual_seed`` as transformers' collator's do without a seed."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.randint(0, 2**63 - 1, (1,)).item())
    return int(np.random.randint(0, 2**63 - 1, dtype=np.int64))


def _no_none(row: Any) -> Any:
    """A row of word ids with None (transformers' "no word") as -1."""
    if isinstance(row, (list, tuple)) and None in row:
        return [-1 if w is None else w for w in row]
    return row


def _columns(examples: Iterable[Any] | Mapping[str, Any]) -> dict[str, list[Any]]:
    """The batch's fields, each a list with one value per example: from a list of
    examples (mappings, or bare id sequences), or from a mapping of columns (a batch
    sliced from a dataset, ``dataset[:32]``)."""
    if isinstance(examples, Mapping):
        ids = examples.get("input_ids")
        first = next(iter(ids), None) if isinstance(ids, (list, tuple)) else None
        # (a 1-D array of ids is one example; one of objects, a column of rows of
        # different lengths: a numpy-format dataset's slice)
        ragged = getattr(getattr(ids, "dtype", None), "kind", None) == "O"
        one = (
            isinstance(first, (int, np.integer))
            or (getattr(ids, "ndim", None) == 1 and not ragged)
            or any(isinstance(v, (numbers.Number, str, np.generic)) for v in examples.values())
        )
        if one:
            raise ConfigError(
                "the batch is one example (a mapping of its fields), not a list of examples "
                "or a mapping of columns; pass [example]"
            )
        columns = {str(k): list(v) for k, v in examples.items()}
        sizes = {k: len(v) for k, v in columns.items()}
        if len(set(sizes.values())) > 1:
            raise ConfigError(f"the batch's columns differ in length: {sizes}")
        if not any(sizes.values()):
            raise ConfigError("no examples to collate: the batch is empty")
        return columns
    examples = examples if isinstance(examples, list) else list(examples)
    if not examples:
        raise ConfigError("no examples to collate: the batch is empty")
    if not isinstance(examples[0], Mapping):
        mixed = next((i for i, e in enumerate(examples) if isinstance(e, Mapping)), None)
        if mixed is not None:
            raise ConfigError(
                f"examples[0] is a bare sequence of ids and examples[{mixed}] a mapping; "
                "pass examples of one kind"
            )
        return {"input_ids": examples}
    keys = list(examples[0])
    try:
        columns = {k: [e[k] for e in examples] for k in keys}
        same = set(map(len, examples)) == {len(keys)}  # no field beyond the first's
    except (KeyError, TypeError, IndexError):
        same = False
    if not same:
        first = examples[0].keys()
        i, e = next((i, e) for i, e in enumerate(examples)
                    if not isinstance(e, Mapping) or e.keys() != first)  # fmt: skip
        fields = list(e) if isinstance(e, Mapping) else f"a {type(e).__name__}"
        raise ConfigError(
            f"examples[{i}] has fields {fields}, examples[0] {keys}; every example needs the "
            "same fields"
        )
    return columns


def _row(name: str, i: int, row: Any) -> np.ndarray:
    """One example's field (an array, a tensor, any sequence of ints) as 1-D int64."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(row, torch.Tensor):
        row = row.detach().cpu().numpy()
    if isinstance(row, (str, bytes)):
        raise ConfigError(
            f"examples[{i}][{name!r}] is text, not ids: tokenize first (and drop text columns)"
        )
    try:
        array = np.asarray(row)
    except ValueError:
        raise ConfigError(f"examples[{i}][{name!r}] is not a flat sequence of ids") from None
    if array.ndim != 1:
        raise ConfigError(
            f"examples[{i}][{name!r}] has shape {array.shape}; one example's field is 1-D"
        )
    if array.dtype.kind not in "biu":
        if array.size == 0:
            return np.zeros(0, dtype=np.int64)
        raise ConfigError(
            f"examples[{i}][{name!r}] holds {array.dtype} values; ids and masks must be integers"
        )
    if array.dtype == np.uint64 and array.size and array.max() > INT64_MAX:
        raise ConfigError(f"examples[{i}][{name!r}] holds {int(array.max())}, past int64")
    return array.astype(np.int64, copy=False)


def _numbers(key: str, values: Sequence[Any]) -> list[Any]:
    """A per-example field (one number each) as Python numbers; anything else is refused
    by name."""
    out = []
    torch = sys.modules.get("torch")
    for i, v in enumerate(values):
        if torch is not None and isinstance(v, torch.Tensor) and v.ndim == 0:
            v = v.item()
        if isinstance(v, np.generic):
            v = v.item()
        if not isinstance(v, numbers.Number) or isinstance(v, complex):
            what = "text" if isinstance(v, str) else f"a {type(v).__name__}"
            raise ConfigError(
                f"examples[{i}][{key!r}] is {what}: the collator pads {sorted(_PADDED)} and "
                "stacks fields of one number per example; drop other fields before collating"
            )
        if isinstance(v, int) and not -(2**63) <= v < 2**63:
            raise ConfigError(f"examples[{i}][{key!r}] = {v} does not fit int64")
        out.append(v)
    return out


def _hf_masker(tokenizer: Any, options: dict[str, Any]) -> Masker:
    """A masker for a transformers tokenizer: its mask id, special ids and length."""
    mask = getattr(tokenizer, "mask_token_id", None)
    if mask is None:
        raise ConfigError(
            "the tokenizer has no mask token, which masked-language modelling needs; "
            "add one (tokenizer.add_special_tokens({'mask_token': '[MASK]'}))"
        )
    words: dict[str, Any] = {}
    if options.get("whole_word"):  # words from its vocabulary, as a lexforge tokenizer's
        # (else only from the examples' word_ids)
        from .masking import lexforge_twin

        twin = lexforge_twin(tokenizer)
        if twin is not None and twin.vocab_size == len(tokenizer):
            from ._mask_words import continuation_ids, vocabulary_bytes, word_end_ids

            words = {
                "continuation_ids": continuation_ids(twin),
                "word_end_ids": word_end_ids(twin),
                "token_bytes": vocabulary_bytes(twin),
            }
    return Masker(
        vocab_size=len(tokenizer), mask_token_id=mask, special_ids=tokenizer.all_special_ids,
        **options, **words,
    )  # fmt: skip
