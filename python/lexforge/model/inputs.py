"""The checks a forward pass makes of its inputs before anything runs, so that a bad batch
gets a typed error naming the tensor, the bad value and what is valid, not an
``IndexError`` from deep inside an embedding lookup.

Types, dtypes and shapes are checked always: they cost nothing, as no tensor is read.
Value ranges (token ids in ``[0, vocab_size)``, segment ids in ``[0, type_vocab_size)``,
no negative attention mask values, labels in ``[0, classes)`` or -100) are checked only
for tensors on the CPU, with one reduction per tensor. On an accelerator a range check
would copy the result back to the host, a device synchronisation on every step, which the
pretraining loop is written to avoid; there an id out of range is reported by the device
itself (a device-side assert). Under ``torch.compile`` the range checks are skipped as
well: a Python branch on a tensor's values would break the graph.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError, TokenIdError
from ..ops.reproducible import capturing
from .config import BertConfig

ID_DTYPES = (torch.int64, torch.int32)  # what nn.Embedding indexes with
IGNORED = -100  # a label the loss skips (transformers' and torch's ignore_index)


def check_inputs(
    config: BertConfig,
    input_ids: Any,
    attention_mask: Any,
    token_type_ids: Any,
    *,
    inputs_embeds: Any = None,
    position_ids: Any = None,
) -> tuple[int, int]:
    """The batch's (rows, length). Raises ``ConfigError`` for an ``input_ids`` that is not
    an int64/int32 tensor of shape (batch, length) with length >= 1 (or, given instead,
    an ``inputs_embeds`` that is not a floating-point (batch, length, hidden_size) tensor;
    one of the two, not both), or an ``attention_mask``, ``token_type_ids`` or
    ``position_ids`` of another shape (``position_ids`` may also be (1, length), shared
    by the rows, as transformers takes them); on the CPU, ``TokenIdError`` for an id
    outside the vocabulary and ``ConfigError`` for a segment id outside
    ``[0, type_vocab_size)``, a position outside ``[0, max_position_embeddings)`` and
    a negative attention mask value (an additive mask, which would be read backwards)."""
    if (input_ids is None) == (inputs_embeds is None):
        raise ConfigError(
            "give input_ids (token ids) or inputs_embeds (their vectors, (batch, length, "
            f"hidden_size)), one of the two; got {'both' if input_ids is not None else 'neither'}"
        )
    if input_ids is not None:
        _check_ids("input_ids", input_ids)
        if input_ids.dim() != 2 or input_ids.shape[1] == 0:
            raise ConfigError(
                f"input_ids must be (batch, length) with length >= 1, got shape "
                f"{tuple(input_ids.shape)}: pass a batch of rows (ids[None] for a single row)"
            )
        shape = tuple(input_ids.shape)
    else:
        _check_embeds(config, inputs_embeds)
        shape = tuple(inputs_embeds.shape[:2])
    checked = (
        ("attention_mask", attention_mask),
        ("token_type_ids", token_type_ids),
        ("position_ids", position_ids),
    )
    for name, tensor in checked:
        if tensor is None:
            continue
        if name != "attention_mask":
            _check_ids(name, tensor)
        elif not isinstance(tensor, Tensor):
            raise ConfigError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
        shared = name == "position_ids" and tuple(tensor.shape) == (1, shape[1])
        if tuple(tensor.shape) != shape and not shared:
            also = " (or (1, length), the same for every row)" if name == "position_ids" else ""
            source = "input_ids" if input_ids is not None else "inputs_embeds' (batch, length)"
            raise ConfigError(
                f"{name} has shape {tuple(tensor.shape)}, {source} {shape}: they must be "
                f"the same{also}"
            )
    device = (input_ids if input_ids is not None else inputs_embeds).device
    if device.type != "cpu" or capturing():
        return shape
    if input_ids is not None:
        hint = "the ids come from another tokenizer than the model's (its vocab_size is {})"
        _check_range("input_ids", input_ids, config.vocab_size, hint, TokenIdError)
    if token_type_ids is not None:
        hint = "segment ids number the texts of a row from 0 (the model's type_vocab_size is {})"
        _check_range("token_type_ids", token_type_ids, config.type_vocab_size, hint, ConfigError)
    if position_ids is not None:
        hint = "the model has positions 0 to {} - 1 (max_position_embeddings)"
        size = config.max_position_embeddings
        _check_range("position_ids", position_ids, size, hint, ConfigError)
    if attention_mask is not None:
        _check_mask(attention_mask)
    return shape


def _check_embeds(config: BertConfig, embeds: Any) -> None:
    if not isinstance(embeds, Tensor):
        raise ConfigError(f"inputs_embeds must be a torch.Tensor, got {type(embeds).__name__}")
    if not embeds.is_floating_point():
        raise ConfigError(
            f"inputs_embeds must be floating-point vectors, got {embeds.dtype}: token ids go "
            "in input_ids"
        )
    if embeds.dim() != 3 or embeds.shape[1] == 0 or embeds.shape[2] != config.hidden_size:
        raise ConfigError(
            f"inputs_embeds must be (batch, length, hidden_size) = (batch, length, "
            f"{config.hidden_size}) with length >= 1, got shape {tuple(embeds.shape)} "
            "(model.get_input_embeddings()(input_ids) gives the model's own)"
        )


def _check_mask(mask: Tensor) -> None:
    """A mask is 1 (or True) at real tokens and 0 at padding; any other nonzero value reads
    as 1, as transformers reads it. A negative value belongs to an additive mask (0 at
    real tokens, -10000 or -inf at padding), which read as 0/1 would attend to the padding
    alone: refused."""
    if mask.dtype == torch.bool or mask.numel() == 0 or not float(mask.min()) < 0:
        return  # (a NaN reads as 1, as any nonzero value)
    row, column = (int(i) for i in (mask < 0).nonzero()[0])
    raise ConfigError(
        f"attention_mask[{row}, {column}] is {mask[row, column].item()}: the mask is 1 (True) "
        "at real tokens and 0 at padding, not an additive mask (0 and a large negative "
        "number); (mask == 0) converts an additive one"
    )


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


def class_ids(
    name: str, labels: Any, shape: tuple[int, ...], classes: int | None, what: str = "classes"
) -> Tensor:
    """``labels`` as int64 of ``shape`` (any shape with as many values, as transformers
    flattens them; any integer type), each a class in ``[0, classes)`` or -100
    (ignored); ``ConfigError`` otherwise. The range is checked on the CPU only, as ids are;
    ``classes`` None: no range (answer positions, which the loss clamps). ``what`` names
    the classes in the message (the model's labels, its vocabulary)."""
    if not isinstance(labels, Tensor):
        raise ConfigError(
            f"{name} must be a torch.Tensor, got {type(labels).__name__} "
            f"(torch.as_tensor({name}) converts a list or a NumPy array)"
        )
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ConfigError(f"{name} must be integer class ids (int64 or int32), got {labels.dtype}")
    if labels.numel() != math.prod(shape):
        raise ConfigError(
            f"{name} has shape {tuple(labels.shape)}; the batch takes {tuple(shape)}: "
            + ("one per row" if len(shape) == 1 else "one per token (-100: ignored)")
        )
    ids = labels.reshape(tuple(shape)).long()
    if classes is None or ids.device.type != "cpu" or capturing():
        return ids
    bad = (ids != IGNORED) & ((ids < 0) | (ids >= classes))
    if bool(bad.any()):
        at = ", ".join(str(int(i)) for i in bad.nonzero()[0])
        raise ConfigError(
            f"{name}[{at}] is {int(ids[bad][0])}, outside [0, {classes}) (the model has "
            f"{classes} {what}); -100 marks a label the loss ignores"
        )
    return ids


def check_span_labels(attention_mask: Tensor | None, *positions: Tensor) -> None:
    """On the CPU, ``ConfigError`` for an answer start or end that points at padding inside
    the row: a span's logits there are -inf, so its loss would be infinite. Positions past
    the row are clamped and ignored, as HF does."""
    if attention_mask is None or attention_mask.device.type != "cpu":
        return
    if capturing():
        return
    n = attention_mask.shape[1]
    for name, at in zip(("start_positions", "end_positions"), positions, strict=True):
        # (a negative position is clamped to 0, as HF does: padding under left padding)
        inside = at < n
        where = at.clamp(0, n - 1).long()
        padded = inside & ~attention_mask.bool().gather(1, where[:, None]).squeeze(1)
        if bool(padded.any()):
            row = int(padded.nonzero()[0])
            given = int(at[row])
            read = " (read as 0: clamped, as transformers does)" if given < 0 else ""
            raise ConfigError(
                f"{name}[{row}] is {given}{read}, a padding position of that row: an answer "
                "lies on real tokens (point at [CLS] for none; with left padding it is not "
                "at 0)"
            )


def check_pooled_rows(attention_mask: Tensor | None, head: str) -> None:
    """On the CPU, ``ConfigError`` for a row whose position 0 is padding while later
    positions hold real tokens (left padding), in a model whose ``head`` reads the pooled
    vector of position 0: that row's hidden state there is 0, so its pooled vector would
    be the pooler's bias alone, the same for every such row, whatever its text
    (transformers pools whatever it computed at the padding, which means nothing either:
    [CLS] is not there). A row of padding alone is let be (a batch padded with empty
    rows). Not checked on an accelerator or under ``torch.compile``, as the id ranges are
    not (the module's docstring says why)."""
    if attention_mask is None or attention_mask.device.type != "cpu" or capturing():
        return
    if attention_mask.dim() != 2 or attention_mask.shape[1] < 2:
        return
    real = attention_mask != 0  # (any nonzero value reads as 1: NaN too)
    late = real[:, 0].logical_not() & real[:, 1:].any(dim=1)
    if bool(late.any()):
        row = int(late.nonzero()[0])
        first = int(real[row].nonzero()[0])
        raise ConfigError(
            f"attention_mask[{row}] starts with padding (its first real token is at "
            f"position {first}): {head} reads the pooled vector of position 0, where BERT "
            "puts [CLS], so rows must start with their first token; pad on the right "
            "(a tokenizer's padding_side='right')"
        )
