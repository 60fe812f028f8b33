"""Which backend an attention call takes (the Triton kernels, or SDPA), and the SDPA path:
the same semantics as the kernels (zeros at padding rows, never NaN; q's dtype under
autocast) through ``F.scaled_dot_product_attention``, or through its math path with
``ops.reproducible``'s softmax where SDPA's bits would depend on the CPU thread count.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

import torch
from torch.nn import functional as F  # noqa: N812 (torch's own spelling)

from ..errors import AttentionInputError
from .attention_checks import _BACKENDS, _DTYPES, HEAD_DIMS
from .reproducible import capturing, linear, softmax, traced

if TYPE_CHECKING:
    from .attention import AttentionOptions


def _triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


_INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"


def _interpreted() -> bool:
    """Whether ``TRITON_INTERPRET=1``: read in eager calls, and as the last eager call read
    it while torch.compile traces (dynamo before torch 2.5 cannot trace ``os.environ``)."""
    global _INTERPRETED
    if not capturing():
        _INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
    return _INTERPRETED


def _use_triton(q: torch.Tensor, head_dim: int, backend: str | None) -> bool:
    if backend not in _BACKENDS:
        raise AttentionInputError(f"backend must be None, 'triton' or 'sdpa', got {backend!r}")
    if backend == "sdpa":
        return False
    if backend is None:  # automatic: the kernels on CUDA, SDPA elsewhere
        return q.is_cuda and head_dim in HEAD_DIMS and q.dtype in _DTYPES and _triton_available()
    device_ok = q.is_cuda or (_interpreted() and q.device.type == "cpu")
    if q.dtype not in _DTYPES:
        raise AttentionInputError(
            f"the Triton kernels take float16, bfloat16 or float32, got {q.dtype}; "
            "convert q, k and v (.float()), or pass backend='sdpa' to keep it"
        )
    if backend == "triton":
        if head_dim not in HEAD_DIMS:
            raise AttentionInputError(
                f"the Triton kernels take head dim {', '.join(map(str, HEAD_DIMS))}, "
                f"got {head_dim}; use backend='sdpa' for other sizes"
            )
        if not device_ok:
            raise AttentionInputError(
                f"the Triton kernels need CUDA tensors (or TRITON_INTERPRET=1 on the CPU); "
                f"q is on {q.device}"
            )
        if not _triton_available():
            raise AttentionInputError("backend='triton' but triton is not installed")
        if q.dtype == torch.bfloat16 and not q.is_cuda:
            raise AttentionInputError(
                "bfloat16 under TRITON_INTERPRET gives wrong numbers (the interpreter's own "
                "bf16 dot products are off); use float16 or float32 on the CPU, bf16 on a GPU"
            )
    return True


def _sdpa(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    valid: torch.Tensor | None,
    opts: AttentionOptions,
    *,
    finite_padding: bool = False,
) -> torch.Tensor:
    """The same semantics through ``F.scaled_dot_product_attention``. ``finite_padding``:
    the caller's padding rows hold finite values and their outputs are not read (the
    encoder's own layers, which zero them at the end; varlen's zero-filled padding), so
    they are not zeroed here (four masked copies of (B, N, H, D) a call: a fifth of a CPU
    forward). A masked key's probability is 0 either way, so real rows read nothing of
    padding, and get no gradient from it."""
    n_q, n_k = q.shape[1], k.shape[1]
    mask = None
    if valid is not None:
        if not finite_padding:
            # padding may hold anything (NaN included): it must not reach real rows'
            # gradients (0 x NaN is NaN)
            pad_rows = ~valid[:, :, None, None]
            q, k, v = (t.masked_fill(pad_rows, 0.0) for t in (q, k, v))
        # a sequence with no real token attends to everything (finite, then zeroed)
        keys = valid | ~valid.any(dim=1, keepdim=True)
        mask = keys[:, None, None, :]
    empty = None
    if opts.causal:
        tri = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril()
        mask = tri if mask is None else mask & tri
        if valid is not None:  # left padding: a real row may have no key at or before it.
            # It attends to everything (finite), then is zeroed: SDPA gave such rows NaN
            # before torch 2.5, and NaN gradients through them
            empty = ~mask.any(dim=-1, keepdim=True)
            mask = mask | empty
    with _without_autocast(q.device):  # the kernels compute in q's dtype, autocast or not
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        scale = opts.resolved_scale(q.shape[-1])
        if _thread_count_matters(q, k, v, opts) or _nan_unmasked(q, k, v, mask):
            out = _math(q, k, v, mask, opts.dropout_p, scale)
        elif _records_gradients(q, k, v):
            out = _FusedOnceMathTwice.apply(q, k, v, mask, opts.dropout_p, scale)
        else:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=opts.dropout_p, scale=scale
            )
        out = out.transpose(1, 2)
    if valid is not None and not finite_padding:
        out = out.masked_fill(~valid[:, :, None, None], 0.0)
    if empty is not None:  # (B, 1, Nq, 1) -> (B, Nq, 1, 1)
        out = out.masked_fill(empty[:, 0, :, :, None], 0.0)
    return out


def _nan_unmasked(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
) -> bool:
    """Whether a NaN would be lost: torch's CPU flash kernel, taken when there is no mask,
    gives a row whose scores hold a NaN zeros (the masked and math kernels give NaN, as
    the docstring promises). A pass over the inputs, small beside the products."""
    if mask is not None or q.device.type != "cpu" or traced():  # (a jit trace would keep its
        # example's answer, and warn)
        return False
    return bool(q.isnan().any() or k.isnan().any() or v.isnan().any())


def _thread_count_matters(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, opts: AttentionOptions
) -> bool:
    """Whether SDPA would train with other bits at another thread count on the CPU: with
    dropout it takes its math path, whose softmax backward does (``ops.reproducible``);
    and with one sequence of one head, MKL splits its products over the threads. With
    dropout the math path is taken whether gradients are recorded or not, so that a seed
    drops the same probabilities either way (SDPA draws its own otherwise)."""
    if q.device.type != "cpu" or traced():
        return False
    if opts.dropout_p > 0.0:  # in any dtype: bfloat16 under CPU autocast
        # (``precision="bf16"``) drew other masks at another thread count in SDPA
        return True
    if q.dtype not in (torch.float32, torch.float64):
        return False
    if not torch.is_grad_enabled() or not (q.requires_grad or k.requires_grad or v.requires_grad):
        return False
    return q.shape[0] * q.shape[1] == 1


def _records_gradients(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> bool:
    if not torch.is_grad_enabled() or traced():
        return False
    return q.requires_grad or k.requires_grad or v.requires_grad


class _FusedOnceMathTwice(torch.autograd.Function):
    """``F.scaled_dot_product_attention`` with its own fused backward, and a second
    derivative (``create_graph=True``: a gradient penalty, MAML) through the math path,
    recomputed: SDPA's fused backwards (CPU flash, CUDA flash, efficient, cuDNN) have no
    derivative of their own, and torch failed with ``derivative for
    aten::_scaled_dot_product_flash_attention_for_cpu_backward is not implemented``.

    The first-order backward is SDPA's own graph, built in ``forward`` on detached views
    of q, k and v and kept as a saved tensor, so that it lives exactly as long as a graph
    of SDPA's would (freed by a backward without ``retain_graph``), with the same tensors
    saved."""

    @staticmethod
    def forward(
        ctx: Any,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None,
        dropout_p: float,
        scale: float,
    ) -> torch.Tensor:
        with torch.enable_grad():
            vq, vk, vv = (t.detach().requires_grad_(t.requires_grad) for t in (q, k, v))
            out = F.scaled_dot_product_attention(
                vq, vk, vv, attn_mask=mask, dropout_p=dropout_p, scale=scale
            )
        ctx.save_for_backward(q, k, v, mask, vq, vk, vv, out)
        ctx.dropout_p, ctx.scale = dropout_p, scale
        return out.detach()

    @staticmethod
    def backward(ctx: Any, d_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        q, k, v, mask, *views, out = ctx.saved_tensors
        need = ctx.needs_input_grad[:3]
        if torch.is_grad_enabled():  # create_graph: a second derivative will be asked for
            if ctx.dropout_p > 0.0:
                raise RuntimeError(
                    "a second derivative (create_graph=True, a gradient penalty) through "
                    "attention with dropout is not available here (SDPA's dropout mask "
                    "cannot be drawn again); set the attention dropout to 0 for it"
                )
            with _without_autocast(q.device):
                again = _math(q, k, v, mask, 0.0, ctx.scale)
            wanted = [t for t, n in zip((q, k, v), need, strict=True) if n]
            grads = iter(torch.autograd.grad(again, wanted, d_out, create_graph=True))
        else:
            # retained: the saved tensor holds the graph, and is freed with this node's
            # buffers unless the caller's backward retains them (retain_graph=True)
            wanted = [t for t, n in zip(views, need, strict=True) if n]
            grads = iter(torch.autograd.grad(out, wanted, d_out, retain_graph=True))
        return (*(next(grads) if n else None for n in need), None, None, None)


def _math(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    dropout_p: float,
    scale: float,
) -> torch.Tensor:
    """SDPA's math path, (B, H, N, D) in and out, with ``reproducible.softmax`` (and
    ``reproducible.linear`` for the products of one sequence of one head); a row with no
    key to attend to gives zeros, as SDPA's does from torch 2.5 (``_sdpa`` passes none)."""
    single = q.shape[0] * q.shape[1] == 1
    if single:
        scores = linear(q[0, 0], k[0, 0])[None, None] * scale
    else:
        scores = (q @ k.transpose(-2, -1)) * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = softmax(scores)
    if mask is not None:
        probs = probs.masked_fill(~mask.any(-1, keepdim=True), 0.0)
    if dropout_p > 0.0:
        probs = F.dropout(probs, dropout_p)
    return linear(probs[0, 0], v[0, 0].t())[None, None] if single else probs @ v


def _without_autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """SDPA is on autocast's lower-precision list: under autocast it would return half
    precision where the kernels return q's dtype, as the docstring promises."""
    if device.type in ("cpu", "cuda") and torch.is_autocast_enabled(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()
