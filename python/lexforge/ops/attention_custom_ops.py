"""The attention kernels behind autograd: a ``torch.autograd.Function`` in eager mode (the
least per-call overhead), and the same computation as ``torch.library`` custom ops
(``lexforge::attention_forward``, ``lexforge::attention_backward``) with fake
implementations and an autograd formula when traced, so that ``torch.compile`` takes them
like any built-in. ``_run`` picks between the two.
"""

# no `from __future__ import annotations`: torch.library reads the op signatures' types,
# which is also why they spell out Optional[...]
from typing import Any, Optional

import torch

from .attention_inputs import _kernels
from .reproducible import capturing


def _forward_impl(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    info: torch.Tensor,
    mask: Optional[torch.Tensor],
    seed: torch.Tensor,
    n_q: int,
    n_k: int,
    varlen: bool,
    causal: bool,
    scale: float,
    dropout_p: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    q, k, v = (t if t.stride(-1) == 1 else t.contiguous() for t in (q, k, v))
    n_q, n_k = _lengths(q, k, n_q, n_k, varlen)
    return _kernels().forward(  # type: ignore[no-any-return]
        q, k, v, info, _bytes(mask), varlen=varlen, n_q=n_q, n_k=n_k, causal=causal,
        scale=scale, dropout_p=dropout_p, seed=seed,
    )  # fmt: skip


def _backward_impl(
    do: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    o: torch.Tensor,
    lse: torch.Tensor,
    info: torch.Tensor,
    mask: Optional[torch.Tensor],
    seed: torch.Tensor,
    n_q: int,
    n_k: int,
    varlen: bool,
    causal: bool,
    scale: float,
    dropout_p: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    do, q, k, v = (t if t.stride(-1) == 1 else t.contiguous() for t in (do, q, k, v))
    n_q, n_k = _lengths(q, k, n_q, n_k, varlen)
    return _kernels().backward(  # type: ignore[no-any-return]
        do, q, k, v, o, lse, info, _bytes(mask), varlen=varlen, n_q=n_q, n_k=n_k,
        causal=causal, scale=scale, dropout_p=dropout_p, seed=seed,
    )  # fmt: skip


def _lengths(q: torch.Tensor, k: torch.Tensor, n_q: int, n_k: int, varlen: bool) -> tuple[int, int]:
    """The padded batch's lengths read from q and k, not from the ints passed: a
    ``torch.jit.trace`` records those as constants, the example's, and a kernel sized by
    them for a batch of longer rows would write past its outputs. (Varlen's longest
    sequence is the caller's ``max_seqlen``: no tensor holds it.)"""
    return (n_q, n_k) if varlen else (q.shape[1], k.shape[1])


def _bytes(mask: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """The bool mask as the uint8 the kernels read (a view, inside the op: inductor
    cannot lower a bool-to-uint8 view)."""
    return None if mask is None or mask.dtype != torch.bool else mask.view(torch.uint8)


class _Attention(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        info: torch.Tensor,
        mask: Optional[torch.Tensor],
        seed: torch.Tensor,
        *options: Any,
    ) -> torch.Tensor:
        out, lse = _forward_impl(q, k, v, info, mask, seed, *options)
        ctx.save_for_backward(q, k, v, out, lse, info, mask, seed)
        ctx.options = options
        return out

    @staticmethod
    def backward(ctx: Any, d_out: torch.Tensor) -> tuple[Optional[torch.Tensor], ...]:
        if torch.is_grad_enabled():  # create_graph: the kernels' gradients have no gradient
            # (once_differentiable alone lets torch.autograd.grad drop the second-order
            # term without a word: its error node is never reached)
            raise RuntimeError(
                "lexforge.ops.attention's Triton kernels are differentiable once: a second "
                "derivative (create_graph=True, a gradient penalty) is not available; use "
                "backend='sdpa' for it"
            )
        with torch.no_grad():
            return _Attention._first_order(ctx, d_out)

    @staticmethod
    def _first_order(ctx: Any, d_out: torch.Tensor) -> tuple[Optional[torch.Tensor], ...]:
        q, k, v, out, lse, info, mask, seed = ctx.saved_tensors
        dq, dk, dv = _backward_impl(d_out, q, k, v, out, lse, info, mask, seed, *ctx.options)
        return (dq, dk, dv, *([None] * (3 + len(ctx.options))))


def _run(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    info: torch.Tensor,
    mask: Optional[torch.Tensor],
    seed: torch.Tensor,
    *options: Any,
) -> torch.Tensor:
    if capturing():
        out, _ = _forward_op(q, k, v, info, mask, seed, *options)
        return out  # type: ignore[no-any-return]
    return _Attention.apply(q, k, v, info, mask, seed, *options)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------
# the custom ops


@torch.library.custom_op("lexforge::attention_forward", mutates_args=())
def _forward_op(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    info: torch.Tensor,
    mask: Optional[torch.Tensor],
    seed: torch.Tensor,
    n_q: int,
    n_k: int,
    varlen: bool,
    causal: bool,
    scale: float,
    dropout_p: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    return _forward_impl(q, k, v, info, mask, seed, n_q, n_k, varlen, causal, scale, dropout_p)


@_forward_op.register_fake
def _forward_fake(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    info: torch.Tensor,
    mask: Optional[torch.Tensor],
    seed: torch.Tensor,
    n_q: int,
    n_k: int,
    varlen: bool,
    causal: bool,
    scale: float,
    dropout_p: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    heads = q.shape[-2]
    if varlen:
        lse = q.new_empty((heads, q.shape[0]), dtype=torch.float32)
    else:
        lse = q.new_empty((q.shape[0], heads, q.shape[1]), dtype=torch.float32)
    return torch.empty_like(q, memory_format=torch.contiguous_format), lse


@torch.library.custom_op("lexforge::attention_backward", mutates_args=())
def _backward_op(
    do: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    o: torch.Tensor,
    lse: torch.Tensor,
    info: torch.Tensor,
    mask: Optional[torch.Tensor],
    seed: torch.Tensor,
    n_q: int,
    n_k: int,
    varlen: bool,
    causal: bool,
    scale: float,
    dropout_p: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _backward_impl(
        do, q, k, v, o, lse, info, mask, seed, n_q, n_k, varlen, causal, scale, dropout_p
    )


@_backward_op.register_fake
def _backward_fake(
    do: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    o: torch.Tensor,
    lse: torch.Tensor,
    info: torch.Tensor,
    mask: Optional[torch.Tensor],
    seed: torch.Tensor,
    n_q: int,
    n_k: int,
    varlen: bool,
    causal: bool,
    scale: float,
    dropout_p: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return tuple(torch.empty_like(t, memory_format=torch.contiguous_format) for t in (q, k, v))  # type: ignore[return-value]


def _setup_context(
    ctx: torch.autograd.function.FunctionCtx,
    inputs: tuple[Any, ...],
    output: tuple[torch.Tensor, torch.Tensor],
) -> None:
    q, k, v, info, mask, seed, *options = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, out, lse, info, mask, seed)
    ctx.options = options  # type: ignore[attr-defined]


def _backward(
    ctx: torch.autograd.function.FunctionCtx, d_out: torch.Tensor, d_lse: torch.Tensor
) -> tuple[torch.Tensor | None, ...]:
    q, k, v, out, lse, info, mask, seed = ctx.saved_tensors  # type: ignore[attr-defined]
    dq, dk, dv = _backward_op(d_out, q, k, v, out, lse, info, mask, seed, *ctx.options)  # type: ignore[attr-defined]
    return dq, dk, dv, None, None, None, None, None, None, None, None, None


torch.library.register_autograd(
    "lexforge::attention_forward", _backward, setup_context=_setup_context
)
