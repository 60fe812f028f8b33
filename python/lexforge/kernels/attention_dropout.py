"""Attention dropout's random numbers: Philox draws keyed by (seed, batch·head), one draw
for every 4 neighbouring keys of a query, from which the forward and both backward
kernels take the same keep-flags (``_keep``, and ``_keep_t`` for the transposed tiles of
the dK/dV kernel); and the kernel that writes the keep-mask out for tests
(``dropout_keep`` in ``lexforge.kernels.attention`` launches it).
"""

from __future__ import annotations

import triton
import triton.language as tl

from .attention_common import _program_bh


@triton.jit
def _philox_groups(seed, bh, rows, cols, stride, dropout_p):
    """Keep-flags (int8) for the element (row, col) of every group of 4 columns, as four
    (rows × cols/4) tiles: one Philox draw gives four numbers, and the one for column
    ``col`` is number ``col % 4`` of the draw at counter ``row · ⌈stride/4⌉ + col // 4``,
    keyed by (seed, batch·head). ``cols`` must be consecutive from a multiple of 4 (a tile's
    positions), so every kernel and tile shape sees the same numbers."""
    key = seed + (bh.to(tl.int64) << 32)
    groups = tl.min(cols, axis=0) // 4 + tl.arange(0, cols.shape[0] // 4)
    counters = rows[:, None] * ((stride + 3) // 4) + groups[None, :]
    r0, r1, r2, r3 = tl.rand4x(key, counters)
    return (
        (r0 >= dropout_p).to(tl.int8),
        (r1 >= dropout_p).to(tl.int8),
        (r2 >= dropout_p).to(tl.int8),
        (r3 >= dropout_p).to(tl.int8),
    )


@triton.jit
def _keep(seed, bh, rows, cols, stride, dropout_p):
    """The dropout keep-mask of a (rows × cols) tile (see ``_philox_groups``): a quarter
    of the Philox rounds that one draw per element would take, which dominated the
    instructions of a dropout tile."""
    k0, k1, k2, k3 = _philox_groups(seed, bh, rows, cols, stride, dropout_p)
    flags = tl.join(tl.join(k0, k1), tl.join(k2, k3))  # [row, group, a, b]: number 2a + b
    return tl.reshape(flags, (rows.shape[0], cols.shape[0])) != 0


@triton.jit
def _keep_t(seed, bh, cols, rows, stride, dropout_p):
    """``_keep`` of a (rows × cols) tile, laid out transposed: (cols × rows)."""
    k0, k1, k2, k3 = _philox_groups(seed, bh, rows, cols, stride, dropout_p)
    flags = tl.join(tl.join(k0, k1), tl.join(k2, k3))  # [row, group, a, b]
    flags = tl.permute(flags, (1, 2, 3, 0))  # [group, a, b, row]
    return tl.reshape(flags, (cols.shape[0], rows.shape[0])) != 0


@triton.jit
def _dropout_mask_kernel(
    KEEP, INFO, s_b, s_h, s_m, H, N_BH, dropout_p, SEED, rand_stride,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    """The keep-mask the kernels use, written out (B, H, N, N) for tests."""
    seed = tl.load(SEED)  # a device scalar: a CUDA graph replays a fresh draw
    tiles_n = tl.cdiv(rand_stride, BLOCK_N)
    pid_m, pid_n = tl.program_id(0) // tiles_n, tl.program_id(0) % tiles_n
    bh = _program_bh()
    if bh >= N_BH:
        return
    b, h = bh // H, bh % H
    q_ext = tl.load(INFO + b * 9 + 3)
    k_ext = tl.load(INFO + b * 9 + 7)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    keep = _keep(seed, bh, offs_m, offs_n, rand_stride, dropout_p)
    ok = (offs_m < q_ext)[:, None] & (offs_n < k_ext)[None, :]
    base = KEEP + b.to(tl.int64) * s_b + h * s_h
    tl.store(base + offs_m[:, None] * s_m + offs_n[None, :], keep.to(tl.int8), mask=ok)
