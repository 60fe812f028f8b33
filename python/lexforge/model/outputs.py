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

import functools
import warnings
from collections.abc import ItemsView, Iterator, Mapping
from dataclasses import fields
from typing import Any, NamedTuple, TypeVar

import torch
from torch import Tensor

from ..errors import ConfigError

__all__ = [
    "EncoderOutput",
    "EncoderOutputWithAttentions",
    "EncoderOutputWithStates",
    "EncoderOutputWithStatesAndAttentions",
    "EncoderOutputs",
    "ModelOutput",
    "check_return_dict",
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


class ModelOutput(dict):  # type: ignore[type-arg]
    """A head's output dataclass that is also a ``dict`` of its fields that are not None,
    as transformers' ``ModelOutput`` is (so tools that branch on ``isinstance(out,
    dict)``, such as ``transformers.Trainer``, read it as they read transformers' outputs):
    ``out["logits"]``, ``get``, ``keys()``, ``items()``, ``{**out}`` and iteration by name
    (a field that is None is no key), and ``out[i]`` and ``to_tuple()`` over the same
    fields, in their order. Setting a field (``out.loss = ...`` or ``out["loss"] =
    ...``) updates both views; ``pop``, ``del``, ``update`` and ``setdefault`` are refused.
    Positions past the logits can differ from transformers': ``hidden_states`` (the last
    layer's) is always set here, and the MLM outputs carry their counts."""

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in getattr(self, "__dataclass_fields__", {}):
            self._sync()

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in getattr(self, "__dataclass_fields__", {}):
            raise KeyError(f"{key!r}: {type(self).__name__} has no field of that name")
        setattr(self, key, value)

    def _sync(self) -> None:
        """The dict's entries: the fields that are set, in the fields' order."""
        dict.clear(self)
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name, None)
            if value is not None:
                dict.__setitem__(self, f.name, value)

    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            if key not in self:
                raise KeyError(
                    f"{key!r}: this output has {list(self.keys())} (a field that is None, "
                    "such as the loss without labels, is no key)"
                )
            return dict.__getitem__(self, key)
        return self.to_tuple()[key]

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(self.values())

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"{type(self).__name__} holds a model's outputs, one per field: set a field "
            "(out.loss = ...) instead; it cannot be popped, deleted or updated"
        )

    __delitem__ = pop = popitem = update = setdefault = clear = __ior__ = _refuse

    def __reduce__(self) -> tuple[Any, ...]:  # pickles and copies as the dataclass it is
        return (_rebuild, (type(self), {f.name: getattr(self, f.name) for f in fields(self)}))  # type: ignore[arg-type]


def _rebuild(cls: type[ModelOutput], values: dict[str, Any]) -> ModelOutput:
    return cls(**values)


def model_output(cls: type[T]) -> type[T]:
    """Registers an output dataclass (a decorator, above ``@dataclass``) with torch's
    pytrees, as transformers registers its outputs: ``torch.export`` (and ONNX export
    through it) then traces a head whose forward returns one. And it is built, as a
    ``dict`` subclass is, from one mapping or iterable of (name, value) pairs, the fields
    left out being None, as transformers' outputs are: tools that map over a dict's values
    rebuild it with ``type(out)({...})`` (``nn.DataParallel``'s gather, accelerate's
    fp32 conversion under mixed precision)."""
    init = cls.__init__
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]

    @functools.wraps(init)
    def built(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) == 1 and not kwargs and _pairs(args[0]):
            kwargs = dict.fromkeys(names)
            for name, value in dict(args[0]).items():
                if name not in kwargs:
                    raise TypeError(f"{cls.__name__} has no field {name!r}")
                kwargs[name] = value
            args = ()
        init(self, *args, **kwargs)

    cls.__init__ = built  # type: ignore[method-assign]
    with warnings.catch_warnings():  # torch 2.4's calls its own deprecated registration
        warnings.filterwarnings(
            "ignore", "`torch.utils._pytree._register_pytree_node` is deprecated", FutureWarning
        )
        torch.export.register_dataclass(cls, serialized_type_name=f"lexforge.model.{cls.__name__}")
    return cls


def _pairs(value: Any) -> bool:
    """A mapping, an iterator (a generator) or a dict's items: what a dict is built from,
    and no field's value (a tensor, a tuple of tensors); or a list or tuple of (name,
    value) pairs, whose names are strings (a field's tuple holds tensors)."""
    if isinstance(value, (Mapping, Iterator, ItemsView)):
        return True
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in value)
    )


def check_return_dict(return_dict: Any) -> None:
    """transformers' ``return_dict`` (passed by tools such as peft's task wrappers):
    None or True, the output object; False, its ``to_tuple()`` (``BertModel``'s named
    tuple is both already). Anything else is refused."""
    if return_dict is not None and not isinstance(return_dict, bool):
        raise ConfigError(f"return_dict must be True, False or None; got {return_dict!r}")
