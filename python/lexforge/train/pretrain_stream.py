"""The batches a pretraining run trains on, from the shards to the model: the seeded
stream each rank reads its own batches of (:func:`_stream`), their copy to the device
(:class:`_Micro`, with the token counts the host knows; :class:`_Slots` under CUDA
graphs), the forward pass over one and its loss and accuracy sums (:func:`_step_totals`).
It does not step the optimizer (:mod:`lexforge.train.loop`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..model import BatchLayout
from .distributed import _World
from .pretrain_options import PretrainOptions


def _stream(
    data: Any,
    opts: PretrainOptions,
    world: _World,
    start: int,
    what: str | None = None,
    epochs: int | None = None,
) -> Iterator[Any]:
    """This rank's batches from step ``start`` (of ``epochs`` passes; None: endless). What
    the data warns of (pairs that cut most of the text) is said by rank 0 alone, every
    rank's data being alike, and prefixed with ``what`` (the held-out data's stream:
    ``"eval_data"``)."""
    import warnings

    from ..masking import Masker
    from ..pretraining import PretrainingBatches

    masker = Masker.from_tokenizer(
        data.tokenizer(), mlm_probability=opts.mlm_probability, seed=opts.seed,
        mode=opts.masking, whole_word=opts.whole_word,
    )  # fmt: skip
    per_step = opts.grad_accum * world.size  # a masking-rate schedule follows the step
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        batches = PretrainingBatches(
            data, batch_size=opts.batch_size, max_seq_len=opts.max_seq_len,
            objective=opts.objective, masker=masker, seed=opts.seed,
            pad_to="max_length" if opts.cuda_graphs else "longest", batches_per_step=per_step,
            epochs=epochs,
        )  # fmt: skip
    for w in said if world.rank == 0 else ():
        message = f"{what}: {w.message}" if what else str(w.message)
        warnings.warn_explicit(message, w.category, w.filename, w.lineno)
    # step s, micro-batch m, rank r trains batch (s * accum + m) * world + r
    for _, batch in batches.iterate(start=start * per_step + world.rank, stride=world.size):
        yield batch


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, torch.Tensor]:
    """The batch on the device; from pinned host memory on CUDA, so the copies are
    asynchronous and the host runs ahead of the GPU."""
    return {k: _copy(torch.as_tensor(v), device) for k, v in batch.items()}


def _copy(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


@dataclass
class _Micro:
    """One micro-batch on the device, with what the host knows about it."""

    batch: dict[str, torch.Tensor]
    layout: BatchLayout
    masked: int  # labelled tokens
    rows: int
    real: int  # non-padding tokens

    @classmethod
    def of(cls, batch: dict[str, Any], device: torch.device, slots: _Slots | None) -> _Micro:
        labels = np.asarray(batch["labels"])
        lengths = np.asarray(batch["attention_mask"]).sum(axis=1)
        found = np.flatnonzero(labels.reshape(-1) != -100)
        real = int(lengths.sum())
        if slots is None:
            # (the loop reads the loss and accuracy alone: on the CPU the head scores the
            # labelled positions in chunks, model.chunked_loss)
            layout = BatchLayout(
                real, int(lengths.max(initial=0)), _copy(torch.from_numpy(found), device),
                loss_only=True,
            )  # fmt: skip
        else:  # static shapes: positions padded with B·N to a fixed count; no token counts
            padded = np.full(slots.fit(len(found)), labels.size, dtype=np.int64)
            padded[: len(found)] = found
            layout = BatchLayout(0, 0, _copy(torch.from_numpy(padded), device), padded_labels=True)
        return cls(_to(batch, device), layout, len(found), labels.shape[0], real)


class _Slots:
    """The MLM positions' fixed count under CUDA graphs: a tenth above the first batch's,
    rounded up to 256; it grows (one recompilation) only for a batch with more."""

    def __init__(self) -> None:
        self.count = 0

    def fit(self, needed: int) -> int:
        if needed > self.count:
            self.count = -(-max(needed * 11 // 10, 1) // 256) * 256
        return self.count


def _forward(
    model: nn.Module, b: dict[str, torch.Tensor], objective: str, layout: BatchLayout | None
) -> Any:
    pair = {"nsp": "next_sentence_label", "sop": "sentence_order_label"}.get(objective)
    # (the labelled positions' logits alone, in evaluations too: only loss and accuracy)
    kwargs: dict[str, Any] = {"labels": b["labels"].long(), "layout": layout, "all_logits": False}
    if pair is not None:
        kwargs["next_sentence_label"] = b[pair].long()
    return model(b["input_ids"].long(), b["attention_mask"], b["token_type_ids"].long(), **kwargs)


def _step_totals(o: Any, b: dict[str, torch.Tensor], objective: str) -> torch.Tensor:
    """(MLM loss sum, MLM correct, NSP loss sum, NSP correct) of one micro-batch, float64."""
    with torch.no_grad():
        mean = o.loss if objective == "none" else o.mlm_loss
        zero = torch.zeros((), dtype=torch.float64, device=mean.device)
        nsp_sum = nsp_ok = zero
        if objective != "none":
            label = b["next_sentence_label" if objective == "nsp" else "sentence_order_label"]
            nsp_sum = o.nsp_loss.double() * b["input_ids"].shape[0]
            nsp_ok = (o.nsp_logits.argmax(-1) == label).sum().double()
        return torch.stack([mean.double() * o.count, o.correct.double(), nsp_sum, nsp_ok])
