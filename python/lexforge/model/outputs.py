"""What the models' forward passes return, readable both ways code written for
transformers reads them: by field name (``out.logits``, ``out.last_hidden_state``) and by
position (``out[0]``).

``BertModel`` returns a tuple, ``(last_hidden_state, pooler_output)``, plus
``hidden_states`` when asked for every layer's: named tuples, so that ``hidden, pooled =
model(...)`` unpacks as before and ``model(...).last_hidden_state`` reads as in
transformers. The heads return dataclasses whose positions skip the fields that are None,
as transformers' ``ModelOutput`` does: ``out[0]`` is the loss when labels were given and
the logits otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import Any, NamedTuple, TypeVar

import torch
from torch import Tensor

__all__ = [
    "EncoderOutput",
    "EncoderOutputWithAttentions",
    "EncoderOutputWithStates",
    "EncoderOutputWithStatesAndAttentions",
    "EncoderOutputs",
    "ModelOutput",
    "model_output",
]

T = TypeVar("T")


class EncoderOutput(NamedTuple):
    """``BertModel``'s output: the last layer's states (B, N, hidden), 0 at padding, and
    the pooled [CLS] vector (None for an encoder built without a pooler)."""

    last_hidden_state: Tensor
    pooler_output: Tensor | None


class EncoderOutputWithStates(NamedTuple):
    """``BertModel(..., output_hidden_states=True)``: as ``EncoderOutput``, plus every
    layer's states, the embeddings' first (``num_layers + 1`` tensors; the last is
    ``last_hidden_state``)."""

    last_hidden_state: Tensor
    pooler_output: Tensor | None
    hidden_states: tuple[Tensor, ...]


class EncoderOutputWithAttentions(NamedTuple):
    """``BertModel(..., output_attentions=True)``: as ``EncoderOutput``, plus each layer's
    attention weights, (B, heads, N, N) (a query row's weights over the keys; 0 at
    padding)."""

    last_hidden_state: Tensor
    pooler_output: Tensor | None
    attentions: tuple[Tensor, ...]


class EncoderOutputWithStatesAndAttentions(NamedTuple):
    """Both asked for: every layer's states, then every layer's attention weights (the
    order of transformers' tuples)."""

    last_hidden_state: Tensor
    pooler_output: Tensor | None
    hidden_states: tuple[Tensor, ...]
    attentions: tuple[Tensor, ...]


EncoderOutputs = (
    EncoderOutput
    | EncoderOutputWithStates
    | EncoderOutputWithAttentions
    | EncoderOutputWithStatesAndAttentions
)


class ModelOutput:
    """A head's output dataclass read as transformers' ``ModelOutput`` is: ``out[i]`` and
    ``to_tuple()`` over the fields that are not None, in their order; ``out["logits"]``,
    ``get``, ``keys()``, ``items()`` and iteration by name (a field that is None is no
    key). Positions past the logits can differ from transformers': ``hidden_states``
    (the last layer's) is always set here, and the MLM outputs carry their counts."""

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(value for _, value in self._set())

    def keys(self) -> list[str]:
        return [name for name, _ in self._set()]

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self._set()).get(key, default)

    def values(self) -> list[Any]:
        return [value for _, value in self._set()]

    def items(self) -> list[tuple[str, Any]]:
        return self._set()

    def __iter__(self) -> Iterator[str]:  # the keys, as a dict's (and transformers')
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._set())

    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            found = dict(self._set())
            if key not in found:
                raise KeyError(
                    f"{key!r}: this output has {self.keys()} (a field that is None, such as "
                    "the loss without labels, is no key)"
                )
            return found[key]
        return self.to_tuple()[key]

    def _set(self) -> list[tuple[str, Any]]:
        pairs = ((f.name, getattr(self, f.name)) for f in fields(self))  # type: ignore[arg-type]
        return [(name, value) for name, value in pairs if value is not None]


def model_output(cls: type[T]) -> type[T]:
    """Registers an output dataclass (a decorator, above ``@dataclass``) with torch's
    pytrees, as transformers registers its outputs: ``torch.export`` (and ONNX export
    through it) then traces a head whose forward returns one."""
    torch.export.register_dataclass(cls, serialized_type_name=f"lexforge.model.{cls.__name__}")
    return cls
