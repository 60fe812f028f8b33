"""Fused multi-head attention in Triton: forward, and a deterministic backward.

One set of kernels serves padded batches (``(B, N, H, D)`` with a key-padding mask or
sequence lengths) and packed variable-length batches (``(total, H, D)`` with
``cu_seqlens``). Both are described per sequence by one int32 row of ``info``:

    [q_tok0, q_lo, q_hi, q_ext, k_tok0, k_lo, k_hi, k_ext, holes]

- ``*_tok0``: the token index where the sequence starts (0 for padded batches, whose
  sequences start at ``b * stride_b``; ``cu_seqlens[b]`` for packed ones);
- ``[*_lo, *_hi)``: the positions (from ``tok0``) of the real tokens: the first and one
  past the last real token (a right- or left-padded row), empty when there are none;
- ``*_ext``: how many positions the tensor holds for the sequence (every one is written:
  zeros outside ``[lo, hi)``);
- ``holes``: 1 when the key-padding mask has padding *inside* ``[lo, hi)``; the kernels
  then read the mask, and skip key tiles that hold no real token.

Only key tiles inside ``[k_lo, k_hi)`` are computed, and only query tiles inside
``[q_lo, q_hi)``: padding costs nothing but the zeros written for it. Padded query rows
(and rows with no real key) output 0 and get zero gradients; their log-sum-exp is stored
as +inf, which makes every probability in their row exactly 0 in the backward.

Sequences that fit one tile (up to ``short_forward_max_len`` positions) may take a
forward of their own: one key tile, so a plain softmax, and a persistent grid whose loop
over (sequence, head) pairs the pipeliner prefetches (on a GPU, only without dropout:
see ``short_forward_dropout``).

Softmax is online, in fp32, in base 2 (the scale is folded with log2(e)). The backward
recomputes probabilities from the saved log-sum-exp, with no atomics, so gradients are
bitwise reproducible: dK/dV are computed per key tile and dQ per query tile by separate
kernels, or, when one key tile holds every key of a sequence (BERT's 128 tokens), by one
kernel that writes each query tile's complete dQ as it goes. Dropout draws Philox numbers
keyed by (seed, batch·head), one draw for every 16 neighbouring keys of a query (a byte
per key, so the rate is rounded to a multiple of 1/256: ``dropout_rate``), and redraws the
same ones in the backward.

Nothing here touches the driver at import: configs are chosen when a kernel first runs,
and under ``TRITON_INTERPRET=1`` there is a single config.

This module holds the launchers (``forward``, ``backward``, ``dropout_keep``) and the
switches they read (``fused_backward_max_keys``, ``short_forward_max_len``,
``short_forward_dropout``, the kernels
they launch), which tests and benchmarks set on it. The kernels live beside it:
``attention_fwd`` (forward), ``attention_bwd`` (backward), ``attention_dropout`` (the
Philox keep-flags), ``attention_common`` (the ``info`` rows and what every kernel shares)
and ``attention_configs`` (autotune configs).
"""

from __future__ import annotations

import functools
import os
import warnings

import torch
import triton

from .attention_bwd import _bwd_delta_kernel, _bwd_dkdv_kernel, _bwd_dq_kernel, _bwd_fused_kernel
from .attention_common import INFO_COLUMNS as INFO_COLUMNS
from .attention_common import sequence_info as sequence_info
from .attention_configs import _configs as _configs
from .attention_configs import _interpreted
from .attention_configs import _prune as _prune
from .attention_configs import _prune_short as _prune_short
from .attention_dropout import _dropout_mask_kernel
from .attention_dropout import dropout_rate as dropout_rate
from .attention_fwd import _fwd_kernel, _fwd_short_kernel

LOG2E = 1.4426950408889634


# The backward computes dQ inside the dK/dV kernel (5 matrix products, one kernel) when one
# key tile holds every key of a sequence, i.e. for up to this many keys; longer sequences
# take the split backward (dK/dV per key tile, then dQ per query tile: 7 products). Both
# are deterministic. ``LEXFORGE_ATTENTION_FUSED_KEYS`` (read at import) sets it; 0 turns
# the fused backward off. Under the interpreter the limit is low, so that the tests' short
# and long sequences exercise both.
_fused_keys = os.environ.get("LEXFORGE_ATTENTION_FUSED_KEYS", "")
fused_backward_max_keys = (
    int(_fused_keys) if _fused_keys.isdigit() else 32 if _interpreted() else 128
)
_fused_unfit: set[tuple[int, int]] = set()  # (head dim, keys) whose fused kernel did not fit

# The forward takes the short-sequence kernel (one tile holds every query and every key of
# a sequence; a persistent grid walks the (sequence, head) pairs, prefetching the next
# pair's tiles while it computes one) for sequences of up to this many positions; longer
# ones take the tiled kernel. ``LEXFORGE_ATTENTION_SHORT`` (read at import) sets it; under
# the interpreter the tests' short sequences take it. Timed on the H200 (2026-12-04,
# ``bench_attention.py --quick``, N=128, B=512, H=12, D=64, bf16): 0.138 ms against the
# tiled kernel's 0.145 without dropout, but 0.330 against 0.275 with BERT's attention
# dropout of 0.1, so with dropout it is taken only when ``short_forward_dropout`` says so.
_short = os.environ.get("LEXFORGE_ATTENTION_SHORT", "")
short_forward_max_len = int(_short) if _short.isdigit() else 32 if _interpreted() else 128
short_forward_dropout = _interpreted()
_short_unfit: set[tuple[int, int]] = set()  # (head dim, block) whose short kernel did not fit
_RESOURCE_ERRORS = tuple(
    getattr(triton.runtime.errors, name)
    for name in ("OutOfResources", "PTXASError")
    if hasattr(triton.runtime.errors, name)
)


# ---------------------------------------------------------------------------------------
# launchers


def _layout(x: torch.Tensor, varlen: bool) -> tuple[int, int, int]:
    """(batch, token, head) strides; a packed batch has no batch stride."""
    if varlen:
        return 0, x.stride(0), x.stride(1)
    return x.stride(0), x.stride(1), x.stride(2)


def _lse_layout(lse: torch.Tensor, varlen: bool) -> tuple[int, int, int]:
    if varlen:  # (H, total)
        return 0, lse.stride(0), lse.stride(1)
    return lse.stride(0), lse.stride(1), lse.stride(2)  # (B, H, N)


# CUDA's limit on grid axes 1 and 2 (axis 0 takes 2**31 - 1)
_GRID_YZ = 65_535


def _bh_grid(n: int) -> tuple[int, int]:
    """Grid axes 1 and 2 for ``n`` (sequence, head) programs, at most 65,535 on each; the
    kernels skip the indices past ``n`` (``N_BH``) that the rounding adds. Up to 65,535
    programs, axis 2 is 1 and the launch order is the plain one's."""
    y = min(n, _GRID_YZ)
    return y, triton.cdiv(n, y) if y else 1


def forward(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, info: torch.Tensor,
    mask: torch.Tensor | None, *, varlen: bool, n_q: int, n_k: int, causal: bool,
    scale: float, dropout_p: float, seed: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Runs the forward kernel; returns the output (q's shape and dtype) and the base-2
    log-sum-exp (fp32; (B, H, N) padded, (H, total) packed). ``dropout_p`` is applied as
    ``dropout_rate(dropout_p)``."""
    batch, heads, head_dim = info.shape[0], q.shape[-2], q.shape[-1]
    dropout_p = dropout_rate(dropout_p)
    o = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    if varlen:
        lse = torch.empty((heads, q.shape[0]), dtype=torch.float32, device=q.device)
    else:
        lse = torch.empty((batch, heads, n_q), dtype=torch.float32, device=q.device)
    m = mask if mask is not None else info

    block = max(16, triton.next_power_of_2(max(n_q, n_k, 1)))
    short = block <= short_forward_max_len and (dropout_p == 0 or short_forward_dropout)
    if short and (head_dim, block) not in _short_unfit:
        try:
            _forward_short(
                q, k, v, o, lse, info, m, varlen=varlen, heads=heads, block=block,
                causal=causal, has_mask=mask is not None, scale=scale, dropout_p=dropout_p,
                seed=seed, n_k=n_k,
            )  # fmt: skip
            return o, lse
        except _RESOURCE_ERRORS:  # no config fits this GPU: the tiled kernel, from now on
            _short_unfit.add((head_dim, block))
        except triton.CompilationError as e:  # a Triton that cannot build it
            _short_unfit.add((head_dim, block))
            warnings.warn(
                f"the short-sequence attention forward does not compile with Triton "
                f"{triton.__version__} (head dim {head_dim}, {block} positions): {e}; using "
                "the tiled forward (set LEXFORGE_ATTENTION_SHORT=0 to skip this attempt)",
                RuntimeWarning,
                stacklevel=2,
            )

    def grid(meta: dict[str, int]) -> tuple[int, int, int]:
        return triton.cdiv(n_q, meta["BLOCK_M"]), *_bh_grid(batch * heads)

    _fwd_kernel[grid](
        q, k, v, o, lse, info, m,
        *_layout(q, varlen), *_layout(k, varlen), *_layout(v, varlen), *_layout(o, varlen),
        *_lse_layout(lse, varlen), m.stride(0),
        heads, batch * heads, scale * LOG2E, dropout_p, seed, n_k,
        triton.next_power_of_2(n_q),
        HEAD_DIM=head_dim, CAUSAL=causal, HAS_MASK=mask is not None,
        DROPOUT=dropout_p > 0, IEEE=q.dtype == torch.float32,
    )  # fmt: skip
    return o, lse


@functools.cache
def _programs(device: torch.device) -> int:
    """Multiprocessors, for a persistent grid; a few under the interpreter, so that its
    programs each take several (sequence, head) pairs."""
    if device.type != "cuda":
        return 3
    return int(torch.cuda.get_device_properties(device).multi_processor_count)


def _forward_short(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, o: torch.Tensor, lse: torch.Tensor,
    info: torch.Tensor, m: torch.Tensor, *, varlen: bool, heads: int, block: int,
    causal: bool, has_mask: bool, scale: float, dropout_p: float, seed: torch.Tensor,
    n_k: int,
) -> None:  # fmt: skip
    n_bh = info.shape[0] * heads
    if n_bh == 0:
        return
    processors = _programs(q.device)

    def grid(meta: dict[str, int]) -> tuple[int]:
        return (max(1, min(n_bh, processors * meta["PER_SM"])),)

    _fwd_short_kernel[grid](
        q, k, v, o, lse, info, m,
        *_layout(q, varlen), *_layout(k, varlen), *_layout(v, varlen), *_layout(o, varlen),
        *_lse_layout(lse, varlen), m.stride(0),
        heads, n_bh, scale * LOG2E, dropout_p, seed, n_k,
        HEAD_DIM=q.shape[-1], CAUSAL=causal, HAS_MASK=has_mask, DROPOUT=dropout_p > 0,
        IEEE=q.dtype == torch.float32, BLOCK=block,
    )  # fmt: skip


def backward(
    do: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, o: torch.Tensor,
    lse: torch.Tensor, info: torch.Tensor, mask: torch.Tensor | None, *, varlen: bool,
    n_q: int, n_k: int, causal: bool, scale: float, dropout_p: float, seed: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """dQ, dK, dV (the inputs' shapes and dtypes) from the saved log-sum-exp."""
    batch, heads, head_dim = info.shape[0], q.shape[-2], q.shape[-1]
    dropout_p = dropout_rate(dropout_p)
    m = mask if mask is not None else info
    delta = torch.empty_like(lse)
    block = 16 if _interpreted() else 64
    rows = _bh_grid(batch * heads)
    _bwd_delta_kernel[triton.cdiv(n_q, block), rows[0], rows[1]](
        o, do, delta, info, *_layout(o, varlen), *_layout(do, varlen),
        *_lse_layout(lse, varlen), heads, batch * heads, HEAD_DIM=head_dim, BLOCK_M=block,
    )  # fmt: skip
    dq = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    dk = torch.empty(k.shape, dtype=k.dtype, device=k.device)
    dv = torch.empty(v.shape, dtype=v.dtype, device=v.device)
    common = {
        "HEAD_DIM": head_dim, "CAUSAL": causal, "HAS_MASK": mask is not None,
        "DROPOUT": dropout_p > 0, "IEEE": q.dtype == torch.float32,
    }  # fmt: skip
    strides = (*_layout(q, varlen), *_layout(k, varlen), *_layout(v, varlen), *_layout(do, varlen))
    args = (
        q, k, v, do, lse, delta, dk, dv, dq, info, m, *strides,
        *_layout(dk, varlen), *_layout(dv, varlen), *_layout(dq, varlen),
        *_lse_layout(lse, varlen), m.stride(0),
        heads, batch * heads, scale * LOG2E, scale, dropout_p, seed, n_k,
        triton.next_power_of_2(n_k),
    )  # fmt: skip
    keys = max(16, triton.next_power_of_2(max(n_k, 1)))
    if keys <= fused_backward_max_keys and (head_dim, keys) not in _fused_unfit:
        try:  # one key tile per sequence: dQ on the way
            _bwd_fused_kernel[1, rows[0], rows[1]](*args, FUSED_DQ=True, BLOCK_N=keys, **common)
            return dq, dk, dv
        except _RESOURCE_ERRORS:  # no config fits this GPU: the split kernels, from now on
            _fused_unfit.add((head_dim, keys))
        except triton.CompilationError as e:  # a Triton that cannot build it
            _fused_unfit.add((head_dim, keys))
            warnings.warn(
                f"the fused attention backward does not compile with Triton "
                f"{triton.__version__} (head dim {head_dim}, {keys} keys): {e}; using the "
                "split backward (set LEXFORGE_ATTENTION_FUSED_KEYS=0 to skip this attempt)",
                RuntimeWarning,
                stacklevel=2,
            )

    def grid_k(meta: dict[str, int]) -> tuple[int, int, int]:
        return triton.cdiv(n_k, meta["BLOCK_N"]), *_bh_grid(batch * heads)

    _bwd_dkdv_kernel[grid_k](*args, FUSED_DQ=False, **common)

    def grid_q(meta: dict[str, int]) -> tuple[int, int, int]:
        return triton.cdiv(n_q, meta["BLOCK_M"]), *_bh_grid(batch * heads)

    _bwd_dq_kernel[grid_q](
        q, k, v, do, lse, delta, dq, info, m, *strides,
        *_layout(dq, varlen), *_lse_layout(lse, varlen), m.stride(0),
        heads, batch * heads, scale * LOG2E, scale, dropout_p, seed, n_k,
        triton.next_power_of_2(n_q), **common,
    )  # fmt: skip
    return dq, dk, dv


def dropout_keep(
    info: torch.Tensor, heads: int, n_q: int, n_k: int, dropout_p: float,
    seed: int | torch.Tensor, device: torch.device,
) -> torch.Tensor:  # fmt: skip
    """The (B, H, n_q, n_k) keep-mask (int8) the kernels apply at ``dropout_p`` (as
    ``dropout_rate(dropout_p)``), for tests and references."""
    batch = info.shape[0]
    dropout_p = dropout_rate(dropout_p)
    seed = torch.as_tensor(seed, dtype=torch.int64, device=device).reshape(1)
    keep = torch.zeros((batch, heads, n_q, n_k), dtype=torch.int8, device=device)
    block = 16
    grid = (triton.cdiv(n_q, block) * triton.cdiv(n_k, block), *_bh_grid(batch * heads))
    _dropout_mask_kernel[grid](
        keep, info, keep.stride(0), keep.stride(1), keep.stride(2), heads, batch * heads,
        dropout_p, seed, n_k,
        BLOCK_M=block, BLOCK_N=block,
    )  # fmt: skip
    return keep
