"""``attention`` and ``attention_varlen``: fused Triton kernels on CUDA, SDPA elsewhere.

The two kernels (forward, backward) are registered as ``torch.library`` custom ops with
fake implementations and an autograd formula, so they run under ``torch.compile`` and
autograd like any built-in. Everything the kernels need about padding is computed on the
device (no host synchronisation) as one int32 row per sequence (see
``lexforge.kernels.attention``).
"""

# no `from __future__ import annotations`: torch.library reads the op signatures' types
import contextlib
import functools
import math
import os
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

import torch
from torch.nn import functional as F  # noqa: N812 (torch's own spelling)

from ..errors import AttentionInputError
from .reproducible import linear, softmax

__all__ = [
    "HEAD_DIMS",
    "AttentionOptions",
    "Unpadded",
    "attention",
    "attention_varlen",
    "pad",
    "unpad",
]

HEAD_DIMS = (32, 64, 128)
"""Head dimensions the Triton kernels are built for (SDPA takes any)."""

MAX_DROPOUT_LEN = 46_340
"""The longest sequence the kernels' dropout numbers cover (query × key positions index
one Philox stream per head, in 32 bits)."""

_DTYPES = (torch.float16, torch.bfloat16, torch.float32)  # the kernels'
_SDPA_DTYPES = (*_DTYPES, torch.float64)  # float64 for gradient checks
_BACKENDS = (None, "triton", "sdpa")


@dataclass(frozen=True)
class AttentionOptions:
    """What an attention call computes, besides its tensors. ``scale`` defaults to
    1/sqrt(head_dim); ``dropout_p`` drops attention probabilities (the kept ones are
    scaled by 1/(1 - p)); ``causal`` lets query position i see key positions <= i."""

    causal: bool = False
    scale: Optional[float] = None
    dropout_p: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.causal, bool):
            raise AttentionInputError(f"causal must be True or False, got {self.causal!r}")
        for name in ("dropout_p", "scale"):  # Python numbers: they are kernel arguments
            value = getattr(self, name)
            if value is None and name == "scale":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AttentionInputError(
                    f"{name} must be a Python number, got {type(value).__name__} {value!r}"
                    + (
                        " (float(t) converts a one-element tensor)"
                        if hasattr(value, "item")
                        else ""
                    )
                )
        if not 0.0 <= self.dropout_p < 1.0:
            raise AttentionInputError(f"dropout_p must be in [0, 1), got {self.dropout_p}")
        if self.scale is not None and not 0 < self.scale < math.inf:  # NaN fails too
            raise AttentionInputError(f"scale must be a positive finite number, got {self.scale}")

    def resolved_scale(self, head_dim: int) -> float:
        return self.scale if self.scale is not None else 1.0 / math.sqrt(head_dim)


class Unpadded(NamedTuple):
    """A padded batch with its padding dropped: ``values`` (total_tokens, ...), the flat
    ``indices`` of the real tokens in the (B·N) positions, ``cu_seqlens`` (B+1, int32) and
    ``max_seqlen``."""

    values: torch.Tensor
    indices: torch.Tensor
    cu_seqlens: torch.Tensor
    max_seqlen: int


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    key_padding_mask: Optional[torch.Tensor] = None,
    lengths: Optional[torch.Tensor] = None,
    dropout_p: float = 0.0,
    causal: bool = False,
    scale: Optional[float] = None,
    backend: Optional[str] = None,
) -> torch.Tensor:
    """Multi-head scaled dot-product attention over a padded batch.

    Shapes: ``q`` (B, Nq, H, D); ``k``, ``v`` (B, Nk, H, D) — the layout a fused QKV
    projection gives after ``.view(B, N, 3, H, D).unbind(2)`` (any strides with a unit
    last stride; no copies). Dtypes: float16, bfloat16 or float32, all three the same, on
    one device. D is 32, 64 or 128 for the Triton kernels (SDPA takes any).

    Padding: ``key_padding_mask`` (B, N) bool, True at real tokens, or ``lengths`` (B,)
    integers (the first ``lengths[b]`` positions are real; a value outside [0, N] raises,
    except under ``torch.compile``, where checking would synchronise and it is clamped);
    either needs Nq == Nk (self-attention). Padding positions are never attended to, and
    their own output rows are 0 (as are rows of a sequence with no real token) — never
    NaN.

    ``dropout_p`` drops attention probabilities (pass 0 at evaluation); the Triton path
    draws Philox numbers seeded from torch's generator, so ``torch.manual_seed`` fixes
    them. ``causal``: query position i sees key positions <= i. ``scale`` defaults to
    1/sqrt(D).

    ``backend``: None picks the Triton kernels for CUDA tensors when D and the dtype are
    supported, else SDPA; "triton" or "sdpa" force one ("triton" runs on the CPU under
    ``TRITON_INTERPRET=1``, Triton's interpreter, which is how the tests check it).

    Returns (B, Nq, H, D) in q's dtype. Differentiable in q, k and v; the Triton backward
    is deterministic (bitwise-identical gradients across runs).
    """
    opts = AttentionOptions(causal=causal, scale=scale, dropout_p=dropout_p)
    _check_qkv(q, k, v, packed=False)
    batch, n_q, _, head_dim = q.shape
    n_k = k.shape[1]
    valid = _real_tokens(key_padding_mask, lengths, batch, n_q, n_k, q.device)
    if not _use_triton(q, head_dim, backend):
        return _sdpa(q, k, v, valid, opts)
    _check_dropout_len(opts, max(n_q, n_k))
    mask = None if key_padding_mask is None else _saveable(key_padding_mask.contiguous())
    info = _padded_info(mask, lengths, valid, batch, n_q, n_k, q.device)
    return _run(
        q, k, v, info, mask, _seed(opts, q.device), n_q, n_k, False,
        opts.causal, opts.resolved_scale(head_dim), opts.dropout_p,
    )  # fmt: skip


def attention_varlen(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_seqlens: torch.Tensor,
    max_seqlen: int,
    *,
    dropout_p: float = 0.0,
    causal: bool = False,
    scale: Optional[float] = None,
    backend: Optional[str] = None,
    check: bool = True,
) -> torch.Tensor:
    """Attention over packed variable-length sequences (no padding at all).

    ``q``, ``k``, ``v``: (total_tokens, H, D), the sequences one after another (see
    ``unpad``); ``cu_seqlens``: (B+1,) int32, starting at 0, non-decreasing, ending at
    total_tokens; ``max_seqlen``: the longest sequence. Sequence b attends only to itself.
    ``check`` validates ``cu_seqlens`` (one device synchronisation; pass False for
    ``cu_seqlens`` that ``unpad`` made; under ``torch.compile`` the values are not read, so
    wrong ones give wrong rows, not an error). Other arguments as in ``attention``.

    Returns (total_tokens, H, D) in q's dtype.
    """
    opts = AttentionOptions(causal=causal, scale=scale, dropout_p=dropout_p)
    _check_qkv(q, k, v, packed=True)
    if k.shape[0] != q.shape[0]:
        raise AttentionInputError(
            f"attention_varlen is self-attention: q has {q.shape[0]} tokens, k {k.shape[0]}"
        )
    _check_cu_seqlens(cu_seqlens, max_seqlen, q.shape[0], q.device, check)
    head_dim = q.shape[-1]
    if not _use_triton(q, head_dim, backend):
        return _sdpa_varlen(q, k, v, cu_seqlens, max_seqlen, opts)
    _check_dropout_len(opts, max_seqlen)
    if torch.compiler.is_compiling():
        starts, lens = cu_seqlens[:-1], cu_seqlens[1:] - cu_seqlens[:-1]
        zero = torch.zeros_like(lens)
        info = torch.stack([starts, zero, lens, lens, starts, zero, lens, lens, zero], dim=1)
        info = info.to(torch.int32).contiguous()
    else:
        info = _kernels().sequence_info(cu_seqlens.contiguous(), "cu_seqlens")
    return _run(
        q, k, v, info, None, _seed(opts, q.device), max_seqlen, max_seqlen,
        True, opts.causal, opts.resolved_scale(head_dim), opts.dropout_p,
    )  # fmt: skip


def unpad(
    x: torch.Tensor,
    key_padding_mask: torch.Tensor,
    *,
    total: Optional[int] = None,
    max_seqlen: Optional[int] = None,
) -> Unpadded:
    """Drops the padding of ``x`` (B, N, ...) given ``key_padding_mask`` (B, N) bool (True
    at real tokens): the real tokens in order, their flat indices, ``cu_seqlens`` and the
    longest length. Finding how many tokens are real takes one device synchronisation,
    unless the caller knows: ``total`` (the number of True in the mask) and ``max_seqlen``
    (the most in one row), both exact, as a data loader that built the mask on the host
    does. On the CPU the hints are checked (AttentionInputError); on a GPU that would
    cost the synchronisation they save, so there they are trusted."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise AttentionInputError(
            "unpad: x must be a torch.Tensor of shape (B, N, ...), got "
            + (f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__)
        )
    for name, value in (("total", total), ("max_seqlen", max_seqlen)):
        if value is not None:
            _check_size("unpad", name, value, " (or None to count)")
    mask = _check_mask(key_padding_mask, x.shape[0], x.shape[1], x.device)
    lens = mask.sum(dim=1, dtype=torch.int32)
    cu_seqlens = F.pad(torch.cumsum(lens, dim=0, dtype=torch.int32), (1, 0))
    if total is None:
        indices = torch.nonzero(mask.flatten(), as_tuple=False).flatten()
    else:
        indices = torch.nonzero_static(mask.flatten(), size=total).flatten()
    if (total is not None or max_seqlen is not None) and (
        x.device.type == "cpu" and not torch.compiler.is_compiling()
    ):
        _check_hints(lens, total, max_seqlen)  # free here; on a GPU, a synchronisation
    if max_seqlen is None:
        max_seqlen = int(lens.max()) if lens.numel() else 0
    values = x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])[indices]
    return Unpadded(values, indices, cu_seqlens, max_seqlen)


def _check_size(function: str, name: str, value: object, alternative: str = "") -> None:
    if isinstance(value, torch.SymInt):  # traced: a symbolic size, as the model passes
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AttentionInputError(
            f"{function}: {name} must be a non-negative int{alternative}, got {value!r}"
        )


def _check_hints(lens: torch.Tensor, total: Optional[int], max_seqlen: Optional[int]) -> None:
    """``unpad``'s hints against the mask: a wrong ``total`` repeats or drops tokens, a
    short ``max_seqlen`` has the kernels miss a sequence's last tiles (a longer one only
    costs time)."""
    real, longest = int(lens.sum()), int(lens.max()) if lens.numel() else 0
    if total is not None and total != real:
        raise AttentionInputError(
            f"unpad: total={total} but the mask has {real} real tokens; pass the exact count "
            "(or None to count)"
        )
    if max_seqlen is not None and max_seqlen < longest:
        raise AttentionInputError(
            f"unpad: max_seqlen={max_seqlen} but the longest row has {longest} real tokens; "
            "pass the exact length (or None to count)"
        )


def pad(
    values: torch.Tensor, indices: torch.Tensor, batch: int, seqlen: int, *, check: bool = True
) -> torch.Tensor:
    """The inverse of ``unpad``: (B, N, ...) with ``values`` at ``indices`` and zeros at the
    padding. ``check`` validates ``indices`` (on a GPU one device synchronisation; pass
    False for indices that ``unpad`` made; not under ``torch.compile``, which does not
    read values)."""
    if not isinstance(values, torch.Tensor) or values.dim() < 1:
        raise AttentionInputError("pad: values must be a torch.Tensor of shape (total, ...)")
    if (
        not isinstance(indices, torch.Tensor)
        or indices.dim() != 1
        or indices.dtype not in (torch.int32, torch.int64)
    ):
        raise AttentionInputError(
            "pad: indices must be a 1-D int64 (or int32) tensor, as unpad returns; got "
            + (
                f"{indices.dtype} of shape {tuple(indices.shape)}"
                if isinstance(indices, torch.Tensor)
                else type(indices).__name__
            )
        )
    if indices.device != values.device:
        raise AttentionInputError(
            f"pad: indices are on {indices.device}, values on {values.device}"
        )
    if values.shape[0] != indices.shape[0]:
        raise AttentionInputError(f"pad: {values.shape[0]} values for {indices.shape[0]} indices")
    _check_size("pad", "batch", batch)
    _check_size("pad", "seqlen", seqlen)
    if check and indices.numel() and not torch.compiler.is_compiling():
        low, high = (int(x) for x in torch.aminmax(indices))
        if low < 0 or high >= batch * seqlen:
            raise AttentionInputError(
                f"pad: index {low if low < 0 else high} is outside the {batch} x {seqlen} "
                "positions; pass the batch and length unpad was given"
            )
    out = values.new_zeros((batch * seqlen, *values.shape[1:]))
    out = out.index_put((indices,), values)
    return out.view(batch, seqlen, *values.shape[1:])


# ---------------------------------------------------------------------------------------
# checks (all before any launch)


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, packed: bool) -> None:
    rank, layout = (3, "(total_tokens, H, D)") if packed else (4, "(B, N, H, D)")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise AttentionInputError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.layout != torch.strided or t.is_nested:
            raise AttentionInputError(
                f"{name} must be a dense (strided) tensor, got layout {t.layout}"
                + (" (.to_dense() converts)" if t.is_sparse else "")
            )
        if t.dim() != rank:
            raise AttentionInputError(f"{name} must have shape {layout}, got {tuple(t.shape)}")
        if t.dtype not in _SDPA_DTYPES:
            raise AttentionInputError(
                f"{name} has dtype {t.dtype}; attention takes float16, bfloat16 or float32 "
                "(and float64 on the SDPA path)"
            )
    if not (q.dtype == k.dtype == v.dtype):
        raise AttentionInputError(
            f"q, k and v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}"
        )
    if not (q.device == k.device == v.device):
        raise AttentionInputError(
            f"q, k and v must be on one device, got {q.device}, {k.device}, {v.device}"
        )
    if k.shape != v.shape:
        raise AttentionInputError(
            f"k and v must have one shape, got {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if q.shape[-1] != k.shape[-1] or q.shape[-2] != k.shape[-2]:
        raise AttentionInputError(
            f"q and k must have the same heads and head dim, got {tuple(q.shape)}, {tuple(k.shape)}"
        )
    if not packed and q.shape[0] != k.shape[0]:
        raise AttentionInputError(f"q has batch {q.shape[0]}, k has batch {k.shape[0]}")
    if q.shape[-1] == 0:
        raise AttentionInputError("head dim must be at least 1")


def _describe(x: object) -> str:
    if isinstance(x, torch.Tensor):
        return f"{x.dtype} of shape {tuple(x.shape)}"
    return type(x).__name__


def _check_mask(mask: object, batch: int, n: int, device: torch.device) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise AttentionInputError(
            f"key_padding_mask must be a torch.Tensor, got {type(mask).__name__}"
        )
    if mask.dtype != torch.bool:
        # an additive float mask (0 at real tokens, -inf or -10000 at padding) turned
        # into bool by .bool() would be inverted: its fix is named apart
        raise AttentionInputError(
            f"key_padding_mask must be bool (True at real tokens), got {mask.dtype}; "
            "pass attention_mask.bool() for a 0/1 mask"
            + (
                ", or additive_mask == 0 for an additive one (0 at real tokens, a large "
                "negative number at padding)"
                if mask.is_floating_point()
                else ""
            )
        )
    if tuple(mask.shape) != (batch, n):
        raise AttentionInputError(
            f"key_padding_mask must have shape (B, N) = ({batch}, {n}), got {tuple(mask.shape)}"
        )
    if mask.layout != torch.strided:
        raise AttentionInputError(
            f"key_padding_mask must be a dense tensor, got layout {mask.layout}"
            " (.to_dense() converts)"
        )
    if mask.device != device:
        raise AttentionInputError(f"key_padding_mask is on {mask.device}, q on {device}")
    return mask


def _real_tokens(
    mask: Optional[torch.Tensor],
    lengths: Optional[torch.Tensor],
    batch: int,
    n_q: int,
    n_k: int,
    device: torch.device,
) -> Optional[torch.Tensor]:
    """(B, N) bool of real tokens, or None when every position is real."""
    if mask is None and lengths is None:
        return None
    if mask is not None and lengths is not None:
        raise AttentionInputError("pass key_padding_mask or lengths, not both")
    if n_q != n_k:
        raise AttentionInputError(
            f"a padding mask needs self-attention shapes (Nq == Nk), got Nq={n_q}, Nk={n_k}"
        )
    if mask is not None:
        return _check_mask(mask, batch, n_k, device)
    assert lengths is not None
    if not isinstance(lengths, torch.Tensor) or lengths.dtype not in (
        torch.int32,
        torch.int64,
    ):
        raise AttentionInputError(
            f"lengths must be an int32 or int64 tensor of shape (B,), got {_describe(lengths)}"
            + (" (lengths.long() converts)" if isinstance(lengths, torch.Tensor) else "")
        )
    if tuple(lengths.shape) != (batch,):
        raise AttentionInputError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
    if lengths.device != device:
        raise AttentionInputError(f"lengths is on {lengths.device}, q on {device}")
    # the range check reads the values (a host synchronisation): eager only; a traced
    # graph clamps them to [0, N] instead
    if (
        not torch.compiler.is_compiling()
        and lengths.numel()
        and bool((lengths < 0).any() | (lengths > n_k).any())
    ):
        raise AttentionInputError(f"lengths must lie in [0, {n_k}]")
    return torch.arange(n_k, device=device)[None, :] < lengths[:, None]


def _check_cu_seqlens(
    cu: object, max_seqlen: int, total: int, device: torch.device, check: bool
) -> None:
    if not isinstance(cu, torch.Tensor) or cu.dtype != torch.int32 or cu.dim() != 1:
        fix = (
            " (cu_seqlens.int() converts)" if isinstance(cu, torch.Tensor) and cu.dim() == 1 else ""
        )
        raise AttentionInputError(
            f"cu_seqlens must be a 1-D int32 tensor of B+1 offsets, got {_describe(cu)}{fix}"
        )
    if cu.numel() < 1:
        raise AttentionInputError(
            "cu_seqlens must hold B+1 offsets, at least [0] (an empty batch, as unpad gives)"
        )
    if cu.device != device:
        raise AttentionInputError(f"cu_seqlens is on {cu.device}, q on {device}")
    _check_size("attention_varlen", "max_seqlen", max_seqlen, " (the longest sequence)")
    if not check or torch.compiler.is_compiling():  # the check reads values: eager only
        return
    lens = cu[1:] - cu[:-1]
    first, last = int(cu[0]), int(cu[-1])
    if first != 0 or last != total or bool((lens < 0).any()):
        raise AttentionInputError(
            f"cu_seqlens must start at 0, never decrease and end at the token count {total}; "
            f"got {cu.tolist() if cu.numel() <= 16 else 'a tensor that does not'}"
        )
    if lens.numel() and int(lens.max()) > max_seqlen:
        raise AttentionInputError(
            f"max_seqlen={max_seqlen} but a sequence has {int(lens.max())} tokens"
        )


def _check_dropout_len(opts: AttentionOptions, n: int) -> None:
    if opts.dropout_p > 0 and n > MAX_DROPOUT_LEN:
        raise AttentionInputError(
            f"attention dropout covers sequences up to {MAX_DROPOUT_LEN} tokens, got {n}; "
            "pass dropout_p=0 for longer ones"
        )


# ---------------------------------------------------------------------------------------
# backend choice, the SDPA path


def _triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _use_triton(q: torch.Tensor, head_dim: int, backend: Optional[str]) -> bool:
    if backend not in _BACKENDS:
        raise AttentionInputError(f"backend must be None, 'triton' or 'sdpa', got {backend!r}")
    if backend == "sdpa":
        return False
    if backend is None:  # automatic: the kernels on CUDA, SDPA elsewhere
        return q.is_cuda and head_dim in HEAD_DIMS and q.dtype in _DTYPES and _triton_available()
    interpreted = os.environ.get("TRITON_INTERPRET") == "1"
    device_ok = q.is_cuda or (interpreted and q.device.type == "cpu")
    if q.dtype not in _DTYPES:
        raise AttentionInputError(
            f"the Triton kernels take float16, bfloat16 or float32, got {q.dtype}"
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
    valid: Optional[torch.Tensor],
    opts: AttentionOptions,
) -> torch.Tensor:
    """The same semantics through ``F.scaled_dot_product_attention``."""
    n_q, n_k = q.shape[1], k.shape[1]
    mask = None
    if valid is not None:
        # padding may hold anything (NaN included): it must not reach real rows' gradients
        pad_rows = ~valid[:, :, None, None]
        q, k, v = (t.masked_fill(pad_rows, 0.0) for t in (q, k, v))
        # a sequence with no real token attends to everything (finite, then zeroed)
        keys = valid | ~valid.any(dim=1, keepdim=True)
        mask = keys[:, None, None, :]
    if opts.causal:
        tri = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril()
        mask = tri if mask is None else mask & tri
    with _without_autocast(q.device):  # the kernels compute in q's dtype, autocast or not
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        scale = opts.resolved_scale(q.shape[-1])
        if _thread_count_matters(q, k, v, opts):
            out = _math(q, k, v, mask, opts.dropout_p, scale)
        else:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=opts.dropout_p, scale=scale
            )
        out = out.transpose(1, 2)
    if valid is not None:
        out = out.masked_fill(~valid[:, :, None, None], 0.0)
    return out


def _thread_count_matters(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, opts: AttentionOptions
) -> bool:
    """Whether SDPA would train with other bits at another thread count on the CPU: with
    dropout it takes its math path, whose softmax backward does (``ops.reproducible``);
    and with one sequence of one head, MKL splits its products over the threads."""
    if q.device.type != "cpu" or torch.compiler.is_compiling():
        return False
    if not torch.is_grad_enabled() or not (q.requires_grad or k.requires_grad or v.requires_grad):
        return False
    if opts.dropout_p == 0.0 and q.shape[0] * q.shape[1] != 1:
        return False
    return q.dtype in (torch.float32, torch.float64)


def _math(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: Optional[torch.Tensor],
    dropout_p: float,
    scale: float,
) -> torch.Tensor:
    """SDPA's math path, (B, H, N, D) in and out, with ``reproducible.softmax`` (and
    ``reproducible.linear`` for the products of one sequence of one head); a row with no
    key to attend to gives zeros, as SDPA's does."""
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


def _sdpa_varlen(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu: torch.Tensor,
    max_seqlen: int,
    opts: AttentionOptions,
) -> torch.Tensor:
    batch = cu.numel() - 1
    lens = (cu[1:] - cu[:-1]).long()
    valid = torch.arange(max_seqlen, device=q.device)[None, :] < lens[:, None]
    # the real tokens number q.shape[0]: a static size, so no synchronisation (and a
    # graph torch.compile can trace whole); the indices are in range by construction
    indices = torch.nonzero_static(valid.flatten(), size=q.shape[0]).flatten()
    dq, dk, dv = (pad(t, indices, batch, max_seqlen, check=False) for t in (q, k, v))
    out = _sdpa(dq, dk, dv, valid, opts)
    return out.reshape(batch * max_seqlen, *out.shape[2:])[indices]


def _padded_info(
    mask: Optional[torch.Tensor],
    lengths: Optional[torch.Tensor],
    valid: Optional[torch.Tensor],
    batch: int,
    n_q: int,
    n_k: int,
    device: torch.device,
) -> torch.Tensor:
    """The kernels' per-sequence rows, computed on the device: one small launch in eager
    mode (none for a dense batch: those rows are cached), torch operations when traced."""
    if torch.compiler.is_compiling():
        return _padded_info_traced(valid, lengths, batch, n_q, n_k, device)
    if mask is not None:
        return _kernels().sequence_info(mask, "mask", n_k)  # type: ignore[no-any-return]
    if lengths is not None:
        return _kernels().sequence_info(lengths.contiguous(), "lengths", n_k)  # type: ignore[no-any-return]
    return _dense_info(batch, n_q, n_k, device)


@functools.lru_cache(maxsize=64)
def _dense_info(batch: int, n_q: int, n_k: int, device: torch.device) -> torch.Tensor:
    """Rows for a batch with no padding (read-only: the kernels never write them). Made
    outside inference mode even when called in it: an inference tensor, cached, could
    never be saved for a later training step's backward."""
    with torch.inference_mode(False):
        row = torch.tensor([0, 0, n_q, n_q, 0, 0, n_k, n_k, 0], dtype=torch.int32)
        return row.expand(batch, 9).contiguous().to(device)


def _padded_info_traced(
    valid: Optional[torch.Tensor],
    lengths: Optional[torch.Tensor],
    batch: int,
    n_q: int,
    n_k: int,
    device: torch.device,
) -> torch.Tensor:
    """``_padded_info`` in torch operations, for ``torch.compile`` to trace."""
    if valid is None:
        row = torch.tensor([0, 0, n_q, n_q, 0, 0, n_k, n_k, 0], dtype=torch.int32, device=device)
        return row.expand(batch, 9).contiguous()
    n = valid.shape[1]
    positions = torch.arange(n, device=device, dtype=torch.int32)
    if lengths is not None:
        lo = torch.zeros(batch, dtype=torch.int32, device=device)
        hi = lengths.clamp(0, n).to(torch.int32)
        holes = torch.zeros_like(lo)
    else:
        real = valid.any(dim=1)
        first = torch.where(valid, positions, n).amin(dim=1)
        last = torch.where(valid, positions, -1).amax(dim=1) + 1
        lo = torch.where(real, first, 0).to(torch.int32)
        hi = torch.where(real, last, 0).to(torch.int32)
        holes = (valid.sum(dim=1) != hi - lo).to(torch.int32)
    zero = torch.zeros_like(lo)
    ext = torch.full_like(lo, n)
    return torch.stack([zero, lo, hi, ext, zero, lo, hi, ext, holes], dim=1).contiguous()


def _saveable(mask: torch.Tensor) -> torch.Tensor:
    """The mask as the backward may keep it: one made in inference mode (by a data
    pipeline, say) cannot be saved for a later backward, so it is copied (B·N bytes); the
    SDPA path saves only tensors derived from it. Eager only: a traced graph cannot ask."""
    if torch.compiler.is_compiling():
        return mask
    if mask.is_inference() and not torch.is_inference_mode_enabled():
        return mask.clone()
    return mask


def _kernels() -> Any:
    from ..kernels import attention as kernels

    return kernels


def _seed(opts: AttentionOptions, device: torch.device) -> torch.Tensor:
    """The dropout seed, a (1,) int64 tensor on ``device`` that the kernels read: drawn
    from torch's generator of that device (no host synchronisation; inside a CUDA graph
    each replay draws afresh). Without dropout, a cached zero."""
    if opts.dropout_p == 0.0:
        if torch.compiler.is_compiling():  # not cached: a graph's output (under CUDA
            # graphs, memory that the next replay overwrites) must not outlive its call
            return torch.zeros(1, dtype=torch.int64, device=device)
        zero = _ZERO_SEEDS.get(device)
        if zero is None:
            with torch.inference_mode(False):  # cached: see _dense_info
                zero = _ZERO_SEEDS[device] = torch.zeros(1, dtype=torch.int64, device=device)
        return zero
    return torch.randint(0, 2**31 - 1, (1,), dtype=torch.int64, device=device)


_ZERO_SEEDS: dict[torch.device, torch.Tensor] = {}


# ---------------------------------------------------------------------------------------
# the kernels behind autograd: a torch.autograd.Function in eager mode (the least
# per-call overhead), the same computation as torch.library custom ops when traced


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
    return _kernels().backward(  # type: ignore[no-any-return]
        do, q, k, v, o, lse, info, _bytes(mask), varlen=varlen, n_q=n_q, n_k=n_k,
        causal=causal, scale=scale, dropout_p=dropout_p, seed=seed,
    )  # fmt: skip


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
    @torch.autograd.function.once_differentiable  # the kernels' gradients have no gradient
    def backward(ctx: Any, d_out: torch.Tensor) -> tuple[Optional[torch.Tensor], ...]:
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
    if torch.compiler.is_compiling():
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
        lse = q.new_empty((q.shape[0], heads, n_q), dtype=torch.float32)
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
