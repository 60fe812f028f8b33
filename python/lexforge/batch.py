"""Batches as model inputs: :class:`BatchEncoding` and the checking of truncation and
padding options (policy: names, defaults and errors; the work happens in the Rust core)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lexforge.errors import ConfigError

__all__ = ["BatchEncoding", "Padding", "Truncation", "padding_option", "truncation_option"]

Side = Literal["left", "right"]
Strategy = Literal["longest_first", "only_first", "only_second"]


class BatchEncoding(dict[str, Any]):
    """Model inputs of a batch: a dict of arrays (NumPy, or torch with
    ``return_tensors="pt"``), also readable as attributes.

    Keys, each of shape (rows, length) unless noted: ``input_ids``, ``token_type_ids``,
    ``attention_mask`` (1 for tokens, 0 for padding); on request ``special_tokens_mask``
    (1 for template and padding tokens), ``word_ids`` (index of the word within its
    sequence, -1 for special and padding tokens), ``offsets`` (rows, length, 2: character
    span in the original text, (0, 0) for special tokens), and ``overflow_to_sample_mapping``
    (rows,: the input each row comes from, when overflow windows are returned).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no field {name!r}; fields: {', '.join(self)}") from None

    def to(self, device: Any) -> BatchEncoding:
        """Moves torch tensors to ``device`` (NumPy arrays are left as they are)."""
        return BatchEncoding({k: v.to(device) if hasattr(v, "to") else v for k, v in self.items()})


def as_tensors(arrays: Mapping[str, Any], kind: str) -> BatchEncoding:
    """Wraps NumPy arrays as ``"np"`` or torch tensors (``"pt"``, shared memory)."""
    if kind == "np":
        return BatchEncoding(arrays)
    if kind == "pt":
        import importlib

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
    def from_hf(cls, doc: Mapping[str, Any]) -> Truncation:
        """From the ``truncation`` entry of an HF ``tokenizer.json``."""
        strategy = {
            "LongestFirst": "longest_first",
            "OnlyFirst": "only_first",
            "OnlySecond": "only_second",
        }
        return cls(
            int(doc["max_length"]),
            strategy[doc.get("strategy", "LongestFirst")],  # type: ignore[arg-type]
            int(doc.get("stride", 0)),
            "left" if doc.get("direction") == "Left" else "right",
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

    @classmethod
    def from_hf(cls, doc: Mapping[str, Any]) -> Padding:
        """From the ``padding`` entry of an HF ``tokenizer.json``."""
        strategy = doc.get("strategy", "BatchLongest")
        length = int(strategy["Fixed"]) if isinstance(strategy, dict) else None
        return cls(
            length,
            doc.get("pad_to_multiple_of"),
            int(doc.get("pad_id", 0)),
            int(doc.get("pad_type_id", 0)),
            "left" if doc.get("direction") == "Left" else "right",
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
    if max_length < 0 or stride < 0:
        raise ConfigError(f"max_length and stride must be non-negative, got {max_length}, {stride}")
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
        length = max_length
    else:
        raise ConfigError(
            f"padding must be True, False, 'longest' or 'max_length'; got {padding!r}"
        )
    if pad_id is None:
        raise ConfigError("this tokenizer has no [PAD] token; pass pad_token_id=... to pad")
    if multiple_of is not None and multiple_of < 1:
        raise ConfigError(f"pad_to_multiple_of must be at least 1, got {multiple_of}")
    return Padding(length, multiple_of, pad_id, 0, _side(side, "padding_side"))
