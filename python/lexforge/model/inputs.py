"""The checks a forward pass makes of its inputs before anything runs, so that a bad batch
gets a typed error naming the tensor, the bad value and what is valid, not an
``IndexError`` from deep inside an embedding lookup.

Types, dtypes and shapes are checked always: they cost nothing, as no tensor is read.
Value ranges (token ids in ``[0, vocab_size)``, segment ids in ``[0, type_vocab_size)``)
are checked only for tensors on the CPU, with one ``aminmax`` per tensor. On an
accelerator a range check would copy the result back to the host, a device
synchronisation on every step, which the pretraining loop is written to avoid; there an
id out of range is reported by the device itself (a device-side assert). Under
``torch.compile`` the range checks are skipped as well: a Python branch on a tensor's
values would break the graph.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError, TokenIdError
from .config import BertConfig

ID_DTYPES = (torch.int64, torch.int32)  # what nn.Embedding indexes with


def check_inputs(
    config: BertConfig, input_ids: Any, attention_mask: Any, token_type_ids: Any
) -> None:
    """Raises ``ConfigError`` for an ``input_ids`` that is not an int64/int32 tensor of
    shape (batch, length) with length >= 1, or an ``attention_mask`` or ``token_type_ids``
    of another shape; on the CPU, ``TokenIdError`` for an id outside the vocabulary and
    ``ConfigError`` for a segment id outside ``[0, type_vocab_size)``."""
    _check_ids("input_ids", input_ids)
    if input_ids.dim() != 2 or input_ids.shape[1] == 0:
        raise ConfigError(
            f"input_ids must be (batch, length) with length >= 1, got shape "
            f"{tuple(input_ids.shape)}: pass a batch of rows (ids[None] for a single row)"
        )
    for name, tensor in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
        if tensor is None:
            continue
        if name == "token_type_ids":
            _check_ids(name, tensor)
        elif not isinstance(tensor, Tensor):
            raise ConfigError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
        if tensor.shape != input_ids.shape:
            raise ConfigError(
                f"{name} has shape {tuple(tensor.shape)}, input_ids "
                f"{tuple(input_ids.shape)}: they must be the same"
            )
    if input_ids.device.type != "cpu" or torch.compiler.is_compiling():
        return
    hint = "the ids come from another tokenizer than the model's (its vocab_size is {})"
    _check_range("input_ids", input_ids, config.vocab_size, hint, TokenIdError)
    if token_type_ids is not None:
        hint = "segment ids number the texts of a row from 0 (the model's type_vocab_size is {})"
        _check_range("token_type_ids", token_type_ids, config.type_vocab_size, hint, ConfigError)


def _check_ids(name: str, ids: Any) -> None:
    if not isinstance(ids, Tensor):
        raise ConfigError(
            f"{name} must be a torch.Tensor, got {type(ids).__name__} "
            "(torch.as_tensor(ids) converts a list or a NumPy array)"
        )
    if ids.dtype not in ID_DTYPES:
        raise ConfigError(
            f"{name} must be an integer tensor (torch.int64 or torch.int32), got {ids.dtype}: "
            "ids index an embedding table (.long() converts them)"
        )


def _check_range(
    name: str, ids: Tensor, size: int, hint: str, error: type[ConfigError | TokenIdError]
) -> None:
    """One ``aminmax`` over ``ids``; the position of a bad value only when there is one."""
    if ids.numel() == 0:
        return
    low, high = (int(v) for v in torch.aminmax(ids))
    if low >= 0 and high < size:
        return
    bad = low if low < 0 else high
    row, column = (int(i) for i in (ids == bad).nonzero()[0])
    raise error(f"{name}[{row}, {column}] is {bad}, outside [0, {size}): {hint.format(size)}")


def check_span_labels(attention_mask: Tensor | None, *positions: Tensor) -> None:
    """On the CPU, ``ConfigError`` for an answer start or end that points at padding inside
    the row: a span's logits there are -inf, so its loss would be infinite. Positions past
    the row are clamped and ignored, as HF does."""
    if attention_mask is None or attention_mask.device.type != "cpu":
        return
    if torch.compiler.is_compiling():
        return
    n = attention_mask.shape[1]
    for name, at in zip(("start_positions", "end_positions"), positions, strict=True):
        inside = (at >= 0) & (at < n)
        where = at.clamp(0, n - 1).long()
        padded = inside & ~attention_mask.bool().gather(1, where[:, None]).squeeze(1)
        if bool(padded.any()):
            row = int(padded.nonzero()[0])
            raise ConfigError(
                f"{name}[{row}] is {int(at[row])}, a padding position of that row: an answer "
                "lies on real tokens (point at 0, [CLS], for none)"
            )
