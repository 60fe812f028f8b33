"""The MLM head's vocabulary projection and cross-entropy in chunks of rows, with the
gradients computed as each chunk is scored, for pretraining on the CPU.

Scored whole, the masked positions' logits are one (picked, vocab) matrix: a tiny model's
batch of 16 x 128 at 40% masking gives 819 x 30,522 float32, 100 MB, and ``log_softmax``,
its gradient and the logits' gradient are three more. Memory that size comes from
``mmap`` and goes back to the kernel when freed, so every step faults 400 MB of fresh
pages in: most of what a step of the quickstart's model spent outside its matrix
products (``benches/RESULTS.md``, 2026-12-06). Here each chunk's logits (at most
``CHUNK_BYTES``) are scored, turned into their gradient in place (softmax minus the
target's one-hot) and multiplied out into the hidden states' and the projection's
gradients, then dropped; the backward only scales what the forward kept. The same
products as the whole path (MKL's, in its strict mode: the same bits at any thread
count), summed chunk by chunk in order.

Only the pretraining loop asks for it (``BatchLayout.loss_only``): it reads the loss and
the accuracy, never the logits. Elsewhere (inference, evaluation, CUDA, autocast, half
precision, ``torch.compile``, ``torch.func`` transforms, tensor subclasses, a head with
hooks) the head scores whole. Its gradients are numbers, not a graph: a second
derivative (``create_graph=True``) raises rather than leave out what passes the head.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..ops.reproducible import BUDGET, _plain, traced

# the most bytes of one chunk's logits (8 MiB: 68 rows of a 30,522-token vocabulary)
CHUNK_BYTES = 8 << 20


def usable(h: Tensor, weight: Tensor, bias: Tensor | None = None) -> bool:
    """Whether ``loss`` takes these: plain float32 or float64 tensors on the CPU (no
    tensor subclass: a quantized or distributed weight implements the library's product,
    not this one), gradients recorded, no autocast, graph capture or ``torch.func``
    transform, and a product past ``BUDGET`` (smaller ones take ``ops.linear``'s
    fixed-order product, whole)."""
    return (
        h.device.type == "cpu"
        and h.dtype in (torch.float32, torch.float64)
        and weight.dtype == h.dtype
        and (bias is None or bias.dtype == h.dtype)
        and _plain(h, weight, bias)
        and torch.is_grad_enabled()
        and (h.requires_grad or weight.requires_grad)
        and not torch.is_autocast_enabled("cpu")
        and not traced()
        and h.shape[0] * h.shape[1] * weight.shape[0] > BUDGET
    )


def loss(h: Tensor, weight: Tensor, bias: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """The summed cross-entropy of ``h @ weight.T + bias`` (rows, vocab) against
    ``targets`` (rows,), and how many rows' highest score is their target (an int64
    count, no gradient)."""
    total, correct = _ChunkedCrossEntropy.apply(h, weight, bias, targets)
    return total, correct


def _chunks(rows: int, vocab: int, itemsize: int) -> list[tuple[int, int]]:
    """(start, stop) of nearly equal chunks of at most ``CHUNK_BYTES`` of logits each."""
    most = max(1, CHUNK_BYTES // max(1, vocab * itemsize))
    n = max(1, -(-rows // most))
    bounds = [rows * i // n for i in range(n + 1)]
    return list(itertools.pairwise(bounds))


class _ChunkedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, h: Tensor, weight: Tensor, bias: Tensor, targets: Tensor
    ) -> tuple[Tensor, Tensor]:
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        total = torch.zeros((), dtype=h.dtype)
        correct = torch.zeros((), dtype=torch.long)
        grad_h = torch.empty_like(h) if need_h else None
        grad_w = torch.zeros_like(weight) if need_w else None
        grad_b = torch.zeros_like(bias) if need_b else None
        for start, stop in _chunks(h.shape[0], weight.shape[0], h.element_size()):
            rows, wanted = h[start:stop], targets[start:stop]
            logits = torch.addmm(bias, rows, weight.t())
            lse = torch.logsumexp(logits, dim=1)
            at = wanted[:, None]
            total += (lse - logits.gather(1, at).squeeze(1)).sum()
            correct += (logits.argmax(dim=1) == wanted).sum()
            # the logits' gradient, in place: softmax, less 1 at the target
            grad = logits.sub_(lse[:, None]).exp_()
            grad.scatter_add_(1, at, torch.full_like(at, -1, dtype=grad.dtype))
            if grad_h is not None:
                torch.mm(grad, weight, out=grad_h[start:stop])
            if grad_w is not None:
                grad_w.addmm_(grad.t(), rows)
            if grad_b is not None:
                grad_b += grad.sum(dim=0)
        ctx.save_for_backward(*(g for g in (grad_h, grad_w, grad_b) if g is not None))
        ctx.mark_non_differentiable(correct)
        return total, correct

    @staticmethod
    def backward(ctx: Any, g: Tensor, _: Tensor) -> tuple[Tensor | None, ...]:
        if torch.is_grad_enabled():  # create_graph: the gradients were computed, as
            # numbers, in the forward; a second derivative through them would be wrong
            # without a word (``once_differentiable`` raises only when ``g`` itself
            # requires grad, which a loss's ones do not)
            raise RuntimeError(
                "the MLM loss scored in chunks (BatchLayout(loss_only=True)) is "
                "differentiable once: for a second derivative (create_graph=True, a "
                "gradient penalty) score the head whole, with loss_only=False"
            )
        return _ChunkedCrossEntropy._first_order(ctx, g)

    @staticmethod
    @once_differentiable
    def _first_order(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        saved = iter(ctx.saved_tensors)
        need = ctx.needs_input_grad[:3]
        grads = tuple(next(saved) * g if wanted else None for wanted in need)
        return (*grads, None)
