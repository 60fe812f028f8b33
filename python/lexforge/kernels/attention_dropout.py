"""Attention dropout's random numbers: Philox draws keyed by (seed, batch·head), one draw
for every 16 neighbouring keys of a query, one byte of it per key, from which the forward
and both backward kernels take the same keep-flags (``_keep``, and ``_keep_t`` for the
transposed tiles of the dK/dV kernel); and the kernel that writes the keep-mask out for
tests (``dropout_keep`` in ``lexforge.kernels.attention`` launches it).

A byte per key means the kernels drop at a rate that is a multiple of 1/256:
``dropout_rate`` rounds the asked one (FlashAttention-2 compares bytes too), and the kept
probabilities are scaled by 1/(1 - that rate), so the output's expectation is exact.
"""

# (annotations stay objects, for Triton 3.0's interpreter: see attention_common)

import triton
import triton.language as tl

from .attention_common import _program_bh

KEYS_PER_DRAW = 16
"""Neighbouring keys whose keep-flags one Philox draw (four 32-bit words) gives."""


def dropout_rate(p: float) -> float:
    """The dropout rate the kernels apply for a requested ``p`` in [0, 1): ``p`` rounded to
    the nearest multiple of 1/256, and at least 1/256 and at most 255/256 when ``p > 0``
    (a requested rate is never rounded away). Idempotent."""
    if p <= 0.0:
        return 0.0
    return min(max(round(p * 256), 1), 255) / 256


@triton.jit
def _byte_flags(word, threshold):
    """The four keep-flags (int8) of one 32-bit word of a draw: byte b keeps its key when
    it is at least ``threshold`` (256 × the rate), which happens with probability 1 - rate."""
    b0 = ((word & 0xFF) >= threshold).to(tl.int8)
    b1 = (((word >> 8) & 0xFF) >= threshold).to(tl.int8)
    b2 = (((word >> 16) & 0xFF) >= threshold).to(tl.int8)
    b3 = ((word >> 24) >= threshold).to(tl.int8)
    # join(join(a, c), join(b, d)) flattens to a, b, c, d (the outer join is the minor axis)
    return tl.join(tl.join(b0, b2), tl.join(b1, b3))


@triton.jit
def _philox_flags(seed, bh, rows, cols, stride, dropout_p):
    """Keep-flags (int8) of a (rows × cols) tile, as a (rows, cols/16, 2, 2, 2, 2) tensor
    that flattens to the tile: the flag of (row, col) is byte ``(col % 16) // 4`` of word
    ``col % 4`` of the Philox draw at counter ``row · ⌈stride/16⌉ + col // 16``, keyed by
    (seed, batch·head). ``cols`` must be consecutive from a multiple of 16 (a tile's
    positions), so every kernel and tile shape sees the same numbers. ``dropout_p`` is a
    multiple of 1/256 (``dropout_rate``)."""
    key = seed + (bh.to(tl.int64) << 32)
    groups = tl.min(cols, axis=0) // 16 + tl.arange(0, cols.shape[0] // 16)
    counters = rows[:, None] * ((stride + 15) // 16) + groups[None, :]
    w0, w1, w2, w3 = tl.randint4x(key, counters)
    threshold = tl.cast(dropout_p * 256.0 + 0.5, tl.uint32)  # a host float in the interpreter
    f0 = _byte_flags(w0, threshold)
    f1 = _byte_flags(w1, threshold)
    f2 = _byte_flags(w2, threshold)
    f3 = _byte_flags(w3, threshold)
    # [row, group, byte (2 × 2), word (2 × 2)]: position 4·byte + word in the group
    return tl.join(tl.join(f0, f2), tl.join(f1, f3))


@triton.jit
def _keep(seed, bh, rows, cols, stride, dropout_p):
    """The dropout keep-mask of a (rows × cols) tile (see ``_philox_flags``): a sixteenth
    of the Philox rounds that one draw per key would take (they dominated a dropout
    tile's instructions)."""
    flags = _philox_flags(seed, bh, rows, cols, stride, dropout_p)
    return tl.reshape(flags, (rows.shape[0], cols.shape[0])) != 0


@triton.jit
def _keep_t(seed, bh, cols, rows, stride, dropout_p):
    """``_keep`` of a (rows × cols) tile, laid out transposed: (cols × rows)."""
    flags = _philox_flags(seed, bh, rows, cols, stride, dropout_p)
    flags = tl.permute(flags, (1, 2, 3, 4, 5, 0))  # [group, byte, word, row]
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
