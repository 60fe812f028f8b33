"""LayerNorm, softmax and small linear layers whose results do not depend on torch's CPU thread
count, so that a training run on the CPU gives the same bits at any
``torch.set_num_threads``.

With MKL in its strict reproducible mode (``lexforge._mkl``), three things still follow
the thread count on the CPU:

- torch's LayerNorm backward sums the weight and bias gradients in one partial sum per
  thread, then adds the partial sums. ``layer_norm`` keeps torch's kernel for the input
  gradient (each row on one thread) and takes the weight and bias gradients as column
  sums, which torch splits over columns, never over rows: each is added in row order.
- torch's softmax backward (which SDPA's math path, the CPU's path with dropout, runs)
  gives rows other bits at another thread count unless their length is a multiple of 16.
  ``softmax``'s backward is the formula y·(g − Σ g·y), one row sum per output.
- MKL multiplies small matrices (a batch of 16 rows into 11 labels, or 3 rows into 100
  outputs, say) with kernels that depend on the thread count, strict mode or not.
  ``linear`` computes a product of at most ``BUDGET`` multiply-adds as a broadcast
  multiply and a sum over the inputs: each output, and each weight gradient entry, is
  summed on one thread, and the work is too little to matter (an encoder's layers are
  far above it except on batches of a few tokens). It does so when gradients are
  recorded, and inside ``thread_invariant`` (a training run, for its evaluations);
  plain inference takes MKL's product, 3-4x faster there.

Values equal torch's up to the order of those sums. ``one_thread`` is for the rest: small
computations inside library code (the TF-IDF baseline's L-BFGS, the spectral
embeddings' QR and SVD).
Under CPU autocast (bfloat16 training: ``precision="bf16"``) ``layer_norm`` and
``softmax`` keep their fixed order, a half-precision input's taken in float32 as torch's
kernels compute it, while the products are oneDNN's, whose results do not follow the
thread count at the model's shapes (tests/test_reproducible.py checks a training step).
Elsewhere (CUDA, ``torch.compile``, ``torch.jit.trace``, ``torch.func`` transforms, half
precision outside autocast, other mixed dtypes) all three are torch's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F  # noqa: N812 (torch's own spelling)

__all__ = [
    "BUDGET",
    "capturing",
    "jit_tracing",
    "layer_norm",
    "linear",
    "one_thread",
    "softmax",
    "thread_invariant",
]

# the most multiply-adds of a product that ``linear`` takes off MKL (16 MB of float32 for
# the broadcast product)
BUDGET = 2**22
# the dtypes taken (torch's kernels compute half precision in float32 inside; these would not)
_FULL = (torch.float32, torch.float64)
_HALF = (torch.bfloat16, torch.float16)
_PLAIN = (torch.Tensor, torch.nn.Parameter)
# inside a training run: its evaluations (which pick the best epoch) are forward passes
_RUNNING = ContextVar("lexforge_thread_invariant", default=False)


@contextmanager
def thread_invariant() -> Iterator[None]:
    """Small products without gradients take ``linear``'s fixed order too: for a training
    run's evaluations, whose scores pick what it keeps (outside one, inference takes
    MKL's products, 3-4x faster on a few tokens, as torch and transformers do)."""
    token = _RUNNING.set(True)
    try:
        yield
    finally:
        _RUNNING.reset(token)


def capturing() -> bool:
    """Whether torch is recording the code as a graph rather than running it:
    ``torch.compile`` and ``torch.export`` (dynamo), or ``torch.jit.trace``. Such a graph
    keeps one branch of every Python decision made on a tensor's values (a check, a
    shortcut for one sequence), so none is taken there; nor is a Python autograd Function,
    which a saved trace cannot hold."""
    return torch.compiler.is_compiling() or jit_tracing()


def jit_tracing() -> bool:
    """Whether ``torch.jit.trace`` is recording the code."""
    found = getattr(torch.jit, "is_tracing", None)  # (not in torch.jit's __all__)
    return bool(found is not None and found())


def traced() -> bool:
    """Whether torch is capturing the code (``capturing``) or transforming it
    (``torch.func``: grad, vmap, jacrev): custom autograd Functions are torch's own ops
    there."""
    if capturing():
        return True
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(active and active())


@contextmanager
def one_thread() -> Iterator[None]:
    """Runs the block with torch on one thread: for small computations whose library
    kernels (L-BFGS's sums and dot products, QR, SVD) sum in an order that follows the
    thread count, and that cost too little for the threads to matter."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def layer_norm(
    x: Tensor,
    normalized_shape: tuple[int, ...] | list[int] | torch.Size,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """``F.layer_norm``, with gradients that are the same bits at any CPU thread count."""
    if _half_under_autocast(x, weight, bias):  # torch's kernel computes it in float32
        with torch.autocast("cpu", enabled=False):
            y = layer_norm(x.float(), normalized_shape, weight, bias, eps)
        return y.to(x.dtype)
    if not _fixed_order(x, normalized_shape, weight, bias):
        return F.layer_norm(x, normalized_shape, weight, bias, eps)
    return _FixedOrderLayerNorm.apply(x, tuple(normalized_shape), weight, bias, eps)  # type: ignore[no-any-return]


def _half_under_autocast(x: Tensor, weight: Tensor | None, bias: Tensor | None) -> bool:
    """A bfloat16 or float16 input with float32 weights under CPU autocast (a product's
    output normalised, as in the MLM head's transform), whose gradients are recorded."""
    return (
        x.device.type == "cpu"
        and x.dtype in _HALF
        and weight is not None
        and weight.dtype == torch.float32
        and (bias is None or bias.dtype == torch.float32)
        and torch.is_autocast_enabled("cpu")
        and torch.is_grad_enabled()
        and not traced()
    )


def _fixed_order(x: Tensor, shape: Any, weight: Tensor | None, bias: Tensor | None) -> bool:
    if x.device.type != "cpu" or weight is None or bias is None or len(shape) != 1:
        return False  # the device first: the cheapest way out on a GPU
    if not torch.is_grad_enabled() or traced():
        return False
    if not (x.dtype == weight.dtype == bias.dtype) or x.dtype not in _FULL:
        return False
    if not _plain(x, weight, bias):
        return False
    return x.requires_grad or weight.requires_grad or bias.requires_grad


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear``, the same bits at any CPU thread count."""
    if not _small(x, weight, bias):
        return F.linear(x, weight, bias)
    y = (x.unsqueeze(-2) * weight).sum(-1)
    return y if bias is None else y + bias


def _small(x: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    if x.device.type != "cpu" or traced() or torch.is_autocast_enabled("cpu"):
        return False
    if not torch.is_grad_enabled() and not _RUNNING.get():
        return False
    if weight.dim() != 2 or x.dim() == 0 or x.shape[-1] != weight.shape[1]:
        return False  # F.linear names the mismatch
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        return False
    if weight.device != x.device or (bias is not None and bias.device != x.device):
        return False
    if not _plain(x, weight, bias):
        return False
    return x.dtype in _FULL and x.numel() * weight.shape[0] <= BUDGET


def _plain(*tensors: Tensor | None) -> bool:
    """Whether every tensor is a plain one (a ``Tensor`` or ``Parameter``): a tensor
    subclass (torchao's quantized weights, a ``DTensor``) implements the library's
    operation and maybe not the fixed-order path's, so it gets the library's."""
    return all(t is None or type(t) in _PLAIN for t in tensors)


def softmax(x: Tensor) -> Tensor:
    """``torch.softmax(x, -1)``, with a backward that is the same bits at any CPU thread
    count (torch's own elsewhere, as for ``layer_norm``); a bfloat16 or float16 input's
    backward in float32, as torch's kernel computes it."""
    if x.device.type != "cpu" or x.dtype not in (*_FULL, *_HALF) or not x.requires_grad:
        return torch.softmax(x, -1)
    if traced():
        return torch.softmax(x, -1)
    return _RowSoftmax.apply(x)  # type: ignore[no-any-return]


class _RowSoftmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        y = torch.softmax(x, -1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        # (under create_graph, recorded: y is a saved output, so a second derivative,
        # a gradient penalty's, flows through it)
        y: Tensor = ctx.saved_tensors[0]
        if y.dtype in _HALF:
            wide, g32 = y.float(), g.float()
            return (wide * (g32 - (g32 * wide).sum(-1, keepdim=True))).to(y.dtype)
        return y * (g - (g * y).sum(-1, keepdim=True))


class _FixedOrderLayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: Tensor, shape: tuple[int, ...], weight: Tensor, bias: Tensor, eps: float
    ) -> Tensor:
        y, mean, rstd = torch.native_layer_norm(x, shape, weight, bias, eps)
        ctx.save_for_backward(x, weight, bias, mean, rstd)
        ctx.shape, ctx.eps = shape, eps
        return y

    @staticmethod
    def backward(ctx: Any, dy: Tensor) -> tuple[Tensor | None, ...]:
        x, weight, bias, mean, rstd = ctx.saved_tensors
        need_x, _, need_weight, need_bias, _ = ctx.needs_input_grad
        if torch.is_grad_enabled():  # create_graph: a second derivative will be asked for,
            # and mean and rstd were computed outside the graph; torch's own, recorded
            y = F.layer_norm(x, ctx.shape, weight, bias, ctx.eps)
            wanted = [t for t, need in ((x, need_x), (weight, need_weight), (bias, need_bias))
                      if need]  # fmt: skip
            grads = iter(torch.autograd.grad(y, wanted, dy, create_graph=True))
            return (next(grads) if need_x else None, None,
                    next(grads) if need_weight else None,
                    next(grads) if need_bias else None, None)  # fmt: skip
        dx = None
        if need_x:
            dx = torch.ops.aten.native_layer_norm_backward(
                dy, x, ctx.shape, mean, rstd, weight, bias, [True, False, False]
            )[0]
        rows = dy.reshape(-1, x.shape[-1])
        dweight = dbias = None
        if need_weight:
            dweight = (rows * ((x - mean) * rstd).reshape(rows.shape)).sum(0)
        if need_bias:
            dbias = rows.sum(0)
        return dx, None, dweight, dbias, None
