"""Dropout whose keep-flags come from random 16-bit numbers on the CPU (the model's hidden
and classifier dropout; attention's stays SDPA's, whose compiled and eager draws agree).

torch's CPU dropout draws one Bernoulli variable per element (a uniform float each, then
a comparison), and at BERT's sizes that costs more than the layer it follows: 5.3 ms for
a (32, 64, 384) activation on two threads, a third of a MiniLM forward pass in training.
Here one 64-bit draw of torch's generator gives the flags of four elements (each a 16-bit
number compared with the rate): 1.0 ms for the same tensor. The rate is rounded to a
multiple of 1/65536 (0.1 is 0.1000061) and the kept values are scaled by the inverse of
its complement, so the output's expectation is exact. ``torch.manual_seed`` fixes the
flags, and they do not depend on the thread count (the draws are serial). On other
devices (CUDA's dropout is fused and fast) and under ``torch.func`` transforms, torch's
own dropout runs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812 (torch's own spelling)

from .reproducible import traced

__all__ = ["Dropout", "dropout", "dropout_rate16"]

_SPAN = 1 << 16


def dropout_rate16(p: float) -> float:
    """The rate the CPU path drops at: ``p`` rounded to a multiple of 1/65536."""
    return round(p * _SPAN) / _SPAN


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``F.dropout(x, p, training)``, from 16-bit draws on the CPU (see the module)."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or not x.is_floating_point() or _transformed():
        return F.dropout(x, p, True)
    dropped = round(p * _SPAN)
    if dropped == 0:
        return x
    n = x.numel()
    words = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64)
    draws = words.view(torch.int16)[:n].view(x.shape)  # uniform in [-32768, 32767]
    keep = draws >= dropped - _SPAN // 2
    return x * (keep.to(x.dtype) * (_SPAN / (_SPAN - dropped)))


def _transformed() -> bool:
    """Under a ``torch.func`` transform (vmap draws per batch entry through torch's own
    ops); ``torch.compile`` traces the 16-bit draws as they are."""
    return traced() and not torch.compiler.is_compiling()


class Dropout(nn.Dropout):
    """``nn.Dropout`` through :func:`dropout`."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)
