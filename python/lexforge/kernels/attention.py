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
over (sequence, head) pairs the pipeliner prefetches (off on a GPU until timed there).

Softmax is online, in fp32, in base 2 (the scale is folded with log2(e)). The backward
recomputes probabilities from the saved log-sum-exp, with no atomics, so gradients are
bitwise reproducible: dK/dV are computed per key tile and dQ per query tile by separate
kernels, or, when one key tile holds every key of a sequence (BERT's 128 tokens), by one
kernel that writes each query tile's complete dQ as it goes. Dropout draws Philox numbers
keyed by (seed, batch·head), one draw for every 4 neighbouring keys of a query, and
redraws the same ones in the backward.

Nothing here touches the driver at import: configs are chosen when a kernel first runs,
and under ``TRITON_INTERPRET=1`` there is a single config.
"""

from __future__ import annotations

import functools
import os
import warnings

import torch
import triton
import triton.language as tl

LOG2E = 1.4426950408889634
INFO_COLUMNS = 9


def _interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


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
# ones take the tiled kernel. ``LEXFORGE_ATTENTION_SHORT`` (read at import) sets it. Off
# on a GPU until the H200 has timed it against the tiled kernel (``bench_attention.py``
# runs both at N=128); under the interpreter the tests' short sequences take it.
_short = os.environ.get("LEXFORGE_ATTENTION_SHORT", "")
short_forward_max_len = int(_short) if _short.isdigit() else 32 if _interpreted() else 0
_short_unfit: set[tuple[int, int]] = set()  # (head dim, block) whose short kernel did not fit
_RESOURCE_ERRORS = tuple(
    getattr(triton.runtime.errors, name)
    for name in ("OutOfResources", "PTXASError")
    if hasattr(triton.runtime.errors, name)
)


def _configs(kind: str) -> list[triton.Config]:
    """Block shapes, warps and pipeline stages. Under the interpreter, one small config;
    ``LEXFORGE_ATTENTION_CONFIG=i`` (read at import) pins the i-th, so GPU tests can check
    each config without tuning.
    On Hopper (sm90, 228 KB of shared memory per block) every config fits at head dim 128
    in 16-bit types: Q tile + ``num_stages`` × (K and V tiles) stays under 160 KB."""
    if kind == "short":  # PER_SM: programs per multiprocessor (the tile is the launcher's)
        return _short_configs()
    if _interpreted():
        blocks = {"BLOCK_M": 16} if kind == "fused" else {"BLOCK_M": 16, "BLOCK_N": 16}
        return [triton.Config(blocks, num_warps=4, num_stages=1)]
    if kind == "fused":  # BLOCK_N is the launcher's: every key of a sequence, up to 128
        shapes = [(64, 0, 8, 2), (64, 0, 4, 2), (64, 0, 8, 3)]
    elif kind == "fwd":
        shapes = [
            (128, 64, 8, 3),
            (128, 64, 4, 3),
            (128, 128, 8, 2),
            (64, 64, 4, 3),
            (64, 32, 4, 4),
        ]
    else:  # the backward kernels hold more tiles at once
        # (32, 64, 4, 2) is left out: on an H200 with triton 3.6 it gave a wrong dK at
        # head dim 128 in bf16 (2026-11-29), every other config and size being right
        shapes = [(64, 64, 4, 2), (128, 64, 8, 2), (64, 128, 8, 2), (64, 32, 4, 2)]
    configs = [
        triton.Config({"BLOCK_M": m, **({"BLOCK_N": n} if n else {})}, num_warps=w, num_stages=s)
        for m, n, w, s in shapes
    ]
    pinned = os.environ.get("LEXFORGE_ATTENTION_CONFIG", "")
    if pinned.isdigit():  # tests on a GPU: one config (by index), no tuning
        return [configs[int(pinned) % len(configs)]]
    return configs


def _short_configs() -> list[triton.Config]:
    if _interpreted():
        return [triton.Config({"PER_SM": 1}, num_warps=4, num_stages=1)]
    # (programs per multiprocessor, warps, stages). Compiled for sm90 offline with Triton
    # 3.6 (kernels/aot_check.py), at head dim 64: 128 positions fit one 8-warp block per
    # multiprocessor (197-255 registers, 112 KB of shared memory, no spills without
    # dropout; dropout's random numbers spill 272 bytes at 2 stages, and 4.5 KB with 4
    # warps, which only the 64-position tile takes without spilling: 127 registers, 56 KB)
    shapes = [(1, 8, 2), (1, 8, 3), (1, 8, 1), (2, 4, 2), (4, 4, 2)]
    configs = [triton.Config({"PER_SM": c}, num_warps=w, num_stages=s) for c, w, s in shapes]
    pinned = os.environ.get("LEXFORGE_ATTENTION_CONFIG", "")
    if pinned.isdigit():
        return [configs[int(pinned) % len(configs)]]
    return configs


def _prune(
    configs: list[triton.Config], named_args: dict[str, object], **kwargs: object
) -> list[triton.Config]:
    """Drops configs whose tiles would exceed the shared memory an sm90 block gets (the
    autotuner also skips any that fail to compile, so this only saves tuning time)."""
    head_dim = int(kwargs.get("HEAD_DIM", named_args.get("HEAD_DIM", 128)))  # type: ignore[call-overload]
    launcher_n = int(kwargs.get("BLOCK_N", named_args.get("BLOCK_N", 0)))  # type: ignore[call-overload]
    kept = []
    for c in configs:
        m, n = c.kwargs["BLOCK_M"], c.kwargs.get("BLOCK_N", launcher_n)
        tiles = 2 * head_dim * (m + 2 * n * max(c.num_stages, 1))  # 16-bit q, k, v tiles
        if tiles <= 160 * 1024:
            kept.append(c)
    return kept or configs[-1:]


# ---------------------------------------------------------------------------------------
# forward


@triton.jit
def _program_bh():
    """The program's (sequence, head) index, ``b * H + h``, over grid axes 1 and 2: CUDA
    allows 65,535 blocks on each, so a launch of more (12 heads × 5,462 sequences) splits
    them over both (see ``_bh_grid``)."""
    return tl.program_id(1) + tl.program_id(2) * tl.num_programs(1)


@triton.jit
def _seq(info, b):
    row = info + b * 9
    return (
        tl.load(row + 0),
        tl.load(row + 1),
        tl.load(row + 2),
        tl.load(row + 3),
        tl.load(row + 4),
        tl.load(row + 5),
        tl.load(row + 6),
        tl.load(row + 7),
        tl.load(row + 8),
    )


@triton.jit
def _at(X, b, tok0, h, s_b, s_n, s_h):
    """Where sequence ``b``'s head ``h`` starts in ``X``: its token ``tok0`` (int64 offsets:
    a batch of 12 heads x 64k tokens x 128 dims passes 2**31 elements)."""
    return X + b.to(tl.int64) * s_b + tok0.to(tl.int64) * s_n + h * s_h


@triton.jit
def _store_rows(
    O, LSE, out, lse, b, h, tok0, ext, offs_m, offs_d, s_ob, s_on, s_oh, s_lb, s_lh, s_ln
):  # fmt: skip
    """A query tile's output rows and log-sum-exp, where the rows lie in the sequence."""
    in_seq = offs_m < ext
    o_at = _at(O, b, tok0, h, s_ob, s_on, s_oh) + offs_m[:, None] * s_on + offs_d[None, :]
    tl.store(o_at, out.to(O.dtype.element_ty), mask=in_seq[:, None])
    l_at = LSE + b.to(tl.int64) * s_lb + h * s_lh + tok0.to(tl.int64) * s_ln
    tl.store(l_at + offs_m * s_ln, lse, mask=in_seq)


@triton.jit
def _real(offs, lo, hi, ext, MASK, b, s_mb, holes, HAS_MASK: tl.constexpr):
    """Which positions ``offs`` hold real tokens: inside ``[lo, hi)`` and, when the mask
    has holes, set in it."""
    ok = (offs >= lo) & (offs < hi)
    if HAS_MASK:
        if holes != 0:
            flag = tl.load(MASK + b * s_mb + offs, mask=offs < ext, other=0)
            ok = ok & (flag != 0)
    return ok


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
def _fwd_step(
    acc, m_i, l_i, q, k_base, v_base, offs_m, offs_n, offs_d, col_ok,
    s_kn, s_vn, qk_scale, dropout_p, seed, bh, rand_stride,
    MASKED: tl.constexpr, CAUSAL: tl.constexpr, DROPOUT: tl.constexpr, IEEE: tl.constexpr,
):  # fmt: skip
    """One key tile of the online softmax: scores, running max and sum, P·V. Unmasked
    tiles (every key real, none past the causal diagonal) skip the masking work."""
    k_at = k_base + offs_n[:, None] * s_kn + offs_d[None, :]
    v_at = v_base + offs_n[:, None] * s_vn + offs_d[None, :]
    if MASKED:
        k = tl.load(k_at, mask=col_ok[:, None], other=0.0)
    else:
        k = tl.load(k_at)
    if IEEE:
        s = tl.dot(q, tl.trans(k), input_precision="ieee")
    else:
        s = tl.dot(q, tl.trans(k))
    s = s * qk_scale
    if MASKED:
        ok = col_ok[None, :]
        if CAUSAL:
            ok = ok & (offs_n[None, :] <= offs_m[:, None])
        s = tl.where(ok, s, float("-inf"))
    m_new = tl.maximum(m_i, tl.max(s, axis=1))
    m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
    p = tl.math.exp2(s - m_safe[:, None])
    alpha = tl.math.exp2(m_i - m_safe)
    l_i = l_i * alpha + tl.sum(p, axis=1)
    if DROPOUT:
        keep = _keep(seed, bh, offs_m, offs_n, rand_stride, dropout_p)
        p = tl.where(keep, p / (1.0 - dropout_p), 0.0)
    if MASKED:
        v = tl.load(v_at, mask=col_ok[:, None], other=0.0)
    else:
        v = tl.load(v_at)
    acc = acc * alpha[:, None]  # rescaled, then accumulated into by the matrix unit
    if IEEE:
        acc = tl.dot(p.to(v.dtype), v, acc, input_precision="ieee")
    else:
        acc = tl.dot(p.to(v.dtype), v, acc)
    return acc, m_new, l_i


@triton.jit
def _key_start(k_lo, DROPOUT: tl.constexpr):
    """Where a loop over key tiles starts: at the first real key, or with dropout at the
    multiple of 4 below it, since a tile's keep-flags come from Philox draws of 4 keys
    each from a multiple of 4 (``_philox_groups``). A tile starting at a key left-padding
    puts elsewhere (5, say) took the numbers of its neighbours: the tiled forward and
    the dQ kernel dropped other probabilities than the dK/dV kernels (and the short
    forward, and ``dropout_keep``) did, and the gradients were not the forward's."""
    if DROPOUT:
        return k_lo // 4 * 4
    return k_lo


@triton.jit
def _interior_stop(start, stop, diagonal, BLOCK: tl.constexpr, CAUSAL: tl.constexpr):
    """Where the run of whole tiles from ``start`` ends: tiles before it lie inside
    ``[start, stop)`` and, with ``CAUSAL``, wholly at or below ``diagonal`` (the first
    query position of the other side's tile)."""
    whole = (stop - start) // BLOCK
    if CAUSAL:
        whole = tl.minimum(whole, tl.maximum(diagonal + 1 - start, 0) // BLOCK)
    return start + whole * BLOCK


@triton.autotune(
    configs=_configs("fwd"),
    key=["N_Q_BUCKET", "HEAD_DIM", "CAUSAL", "HAS_MASK", "DROPOUT", "IEEE"],
    prune_configs_by={"early_config_prune": _prune},
)
@triton.jit
def _fwd_kernel(
    Q, K, V, O, LSE, INFO, MASK,
    s_qb, s_qn, s_qh, s_kb, s_kn, s_kh, s_vb, s_vn, s_vh, s_ob, s_on, s_oh,
    s_lb, s_lh, s_ln, s_mb,
    H, N_BH, qk_scale, dropout_p, SEED, rand_stride,
    N_Q_BUCKET,
    HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr,
    DROPOUT: tl.constexpr, IEEE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    seed = tl.load(SEED)  # a device scalar: a CUDA graph replays a fresh draw
    pid_m, bh = tl.program_id(0), _program_bh()
    if bh >= N_BH:
        return
    b, h = bh // H, bh % H
    q_tok0, q_lo, q_hi, q_ext, k_tok0, k_lo, k_hi, k_ext, holes = _seq(INFO, b)
    start_m = pid_m * BLOCK_M
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    offs_n0 = tl.arange(0, BLOCK_N)
    q_base = _at(Q, b, q_tok0, h, s_qb, s_qn, s_qh)
    k_base = _at(K, b, k_tok0, h, s_kb, s_kn, s_kh)
    v_base = _at(V, b, k_tok0, h, s_vb, s_vn, s_vh)

    row_real = _real(offs_m, q_lo, q_hi, q_ext, MASK, b, s_mb, holes, HAS_MASK)
    # the key tiles this query tile needs: none when the tile holds no real query. With
    # dropout they start at a multiple of 4, as the Philox draws do (``_philox_groups``)
    k_start = _key_start(k_lo, DROPOUT)
    k_stop = k_hi
    if CAUSAL:
        k_stop = tl.minimum(k_stop, start_m + BLOCK_M)
    if (start_m + BLOCK_M <= q_lo) | (start_m >= q_hi):
        k_stop = k_start

    q = tl.load(
        q_base + offs_m[:, None] * s_qn + offs_d[None, :], mask=(offs_m < q_ext)[:, None], other=0.0
    )
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], tl.float32)
    # whole tiles of real keys first, without masking; then the rest (the last partial
    # tile, the causal diagonal, or everything when the mask has holes), masked, with
    # tiles that hold no real key skipped
    inner_stop = _interior_stop(k_start, k_stop, start_m, BLOCK_N, CAUSAL)
    if k_start != k_lo:  # the first tile holds padding: every tile masked
        inner_stop = k_start
    if HAS_MASK:
        if holes != 0:
            inner_stop = k_start
    for start_n in range(k_start, inner_stop, BLOCK_N):
        offs_n = start_n + offs_n0
        acc, m_i, l_i = _fwd_step(
            acc, m_i, l_i, q, k_base, v_base, offs_m, offs_n, offs_d, offs_n < k_stop,
            s_kn, s_vn, qk_scale, dropout_p, seed, bh, rand_stride, False, CAUSAL, DROPOUT, IEEE,
        )  # fmt: skip
    for start_n in range(inner_stop, k_stop, BLOCK_N):
        offs_n = start_n + offs_n0
        col_ok = _real(offs_n, k_lo, k_stop, k_ext, MASK, b, s_mb, holes, HAS_MASK)
        if tl.max(col_ok.to(tl.int32), axis=0) > 0:  # skip tiles of padding only
            acc, m_i, l_i = _fwd_step(
                acc, m_i, l_i, q, k_base, v_base, offs_m, offs_n, offs_d, col_ok,
                s_kn, s_vn, qk_scale, dropout_p, seed, bh, rand_stride, True, CAUSAL, DROPOUT, IEEE,
            )  # fmt: skip

    live = row_real & (l_i > 0)
    out = tl.where(live[:, None], acc / tl.where(live, l_i, 1.0)[:, None], 0.0)
    m_safe = tl.where(m_i == float("-inf"), 0.0, m_i)
    lse = tl.where(live, m_safe + tl.math.log2(tl.where(live, l_i, 1.0)), float("inf"))
    _store_rows(
        O, LSE, out, lse, b, h, q_tok0, q_ext, offs_m, offs_d, s_ob, s_on, s_oh, s_lb, s_lh, s_ln
    )  # fmt: skip


def _prune_short(
    configs: list[triton.Config], named_args: dict[str, object], **kwargs: object
) -> list[triton.Config]:
    """``_prune`` for the short kernel: ``num_stages`` copies of the Q, K and V tiles."""
    head_dim = int(kwargs.get("HEAD_DIM", named_args.get("HEAD_DIM", 128)))  # type: ignore[call-overload]
    block = int(kwargs.get("BLOCK", named_args.get("BLOCK", 128)))  # type: ignore[call-overload]
    kept = [c for c in configs if 2 * head_dim * 3 * block * max(c.num_stages, 1) <= 160 * 1024]
    return kept or configs[-1:]


@triton.autotune(
    configs=_configs("short"),
    key=["BLOCK", "HEAD_DIM", "CAUSAL", "HAS_MASK", "DROPOUT", "IEEE"],
    prune_configs_by={"early_config_prune": _prune_short},
)
@triton.jit
def _fwd_short_kernel(
    Q, K, V, O, LSE, INFO, MASK,
    s_qb, s_qn, s_qh, s_kb, s_kn, s_kh, s_vb, s_vn, s_vh, s_ob, s_on, s_oh,
    s_lb, s_lh, s_ln, s_mb,
    H, N_BH, qk_scale, dropout_p, SEED, rand_stride,
    HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr,
    DROPOUT: tl.constexpr, IEEE: tl.constexpr, BLOCK: tl.constexpr, PER_SM: tl.constexpr,
):  # fmt: skip
    """The forward for sequences that fit one tile (``BLOCK`` queries and keys): a plain
    softmax, no online rescaling, and a persistent loop over (sequence, head) pairs, so the
    pipeliner loads pair i+1's tiles while pair i computes (at BERT's 128 tokens the
    forward is bound by memory traffic, and a pair is one short matrix product). Only real
    rows and keys are read; same outputs and log-sum-exp as ``_fwd_kernel``."""
    seed = tl.load(SEED)
    offs = tl.arange(0, BLOCK)
    offs_d = tl.arange(0, HEAD_DIM)
    pid, programs = tl.program_id(0), tl.num_programs(0)
    for i in tl.range(0, tl.cdiv(N_BH - pid, programs)):
        bh = pid + i * programs
        b, h = bh // H, bh % H
        q_tok0, q_lo, q_hi, q_ext, k_tok0, k_lo, k_hi, k_ext, holes = _seq(INFO, b)
        row_in = (offs >= q_lo) & (offs < q_hi)
        col_in = (offs >= k_lo) & (offs < k_hi)
        q_base = _at(Q, b, q_tok0, h, s_qb, s_qn, s_qh)
        k_base = _at(K, b, k_tok0, h, s_kb, s_kn, s_kh)
        v_base = _at(V, b, k_tok0, h, s_vb, s_vn, s_vh)
        if HAS_MASK:  # a key-padding mask (Nq == Nk): its holes are padding on both sides
            flag = tl.load(MASK + b * s_mb + offs, mask=offs < k_ext, other=0) != 0
            row_in = row_in & flag
            col_in = col_in & flag
        # holes are never read: a NaN there would reach every row through P·V (0 · NaN)
        rows, cols = row_in[:, None], col_in[:, None]
        q = tl.load(q_base + offs[:, None] * s_qn + offs_d[None, :], mask=rows, other=0.0)
        k = tl.load(k_base + offs[:, None] * s_kn + offs_d[None, :], mask=cols, other=0.0)
        v = tl.load(v_base + offs[:, None] * s_vn + offs_d[None, :], mask=cols, other=0.0)
        if IEEE:
            s = tl.dot(q, tl.trans(k), input_precision="ieee")
        else:
            s = tl.dot(q, tl.trans(k))
        ok = col_in[None, :]
        if CAUSAL:
            ok = ok & (offs[None, :] <= offs[:, None])
        s = tl.where(ok, s * qk_scale, float("-inf"))
        m = tl.max(s, axis=1)
        m_safe = tl.where(m == float("-inf"), 0.0, m)
        p = tl.math.exp2(s - m_safe[:, None])
        l_i = tl.sum(p, axis=1)
        live = row_in & (l_i > 0)
        if DROPOUT:
            keep = _keep(seed, bh, offs, offs, rand_stride, dropout_p)
            p = tl.where(keep, p / (1.0 - dropout_p), 0.0)
        if IEEE:
            acc = tl.dot(p.to(v.dtype), v, input_precision="ieee")
        else:
            acc = tl.dot(p.to(v.dtype), v)
        out = tl.where(live[:, None], acc / tl.where(live, l_i, 1.0)[:, None], 0.0)
        lse = tl.where(live, m_safe + tl.math.log2(tl.where(live, l_i, 1.0)), float("inf"))
        _store_rows(
            O, LSE, out, lse, b, h, q_tok0, q_ext, offs, offs_d, s_ob, s_on, s_oh, s_lb, s_lh, s_ln
        )  # fmt: skip


# ---------------------------------------------------------------------------------------
# backward


@triton.jit
def _bwd_delta_kernel(
    O, DO, DELTA, INFO,
    s_ob, s_on, s_oh, s_db, s_dn, s_dh, s_lb, s_lh, s_ln,
    H, N_BH, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr,
):  # fmt: skip
    """delta = rowsum(O ∘ dO), per query row, fp32."""
    pid_m, bh = tl.program_id(0), _program_bh()
    if bh >= N_BH:
        return
    b, h = bh // H, bh % H
    q_tok0 = tl.load(INFO + b * 9 + 0)
    q_ext = tl.load(INFO + b * 9 + 3)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    rows = (offs_m < q_ext)[:, None]
    tokens = (q_tok0 + offs_m).to(tl.int64)[:, None]
    o_at = O + b.to(tl.int64) * s_ob + tokens * s_on + h * s_oh + offs_d[None, :]
    do_at = DO + b.to(tl.int64) * s_db + tokens * s_dn + h * s_dh + offs_d[None, :]
    o = tl.load(o_at, mask=rows, other=0.0).to(tl.float32)
    do = tl.load(do_at, mask=rows, other=0.0).to(tl.float32)
    delta = tl.sum(o * do, axis=1)
    l_base = DELTA + b.to(tl.int64) * s_lb + h * s_lh + q_tok0.to(tl.int64) * s_ln
    tl.store(l_base + offs_m * s_ln, delta, mask=offs_m < q_ext)


@triton.jit
def _probabilities(
    q, k, lse, offs_m, offs_n, ok, qk_scale,
    MASKED: tl.constexpr, CAUSAL: tl.constexpr, IEEE: tl.constexpr,
):  # fmt: skip
    """P of a (query tile × key tile), recomputed from the saved base-2 log-sum-exp. Rows
    that are padding, or have no real key, carry lse = +inf, so their P is exactly 0
    without a mask; ``ok`` (broadcastable to the tile) masks the rest when ``MASKED``."""
    if IEEE:
        s = tl.dot(q, tl.trans(k), input_precision="ieee")
    else:
        s = tl.dot(q, tl.trans(k))
    p = tl.math.exp2(s * qk_scale - lse[:, None])
    if MASKED:
        if CAUSAL:
            ok = ok & (offs_n[None, :] <= offs_m[:, None])
        p = tl.where(ok, p, 0.0)
    return p


@triton.jit
def _keep_t(seed, bh, cols, rows, stride, dropout_p):
    """``_keep`` of a (rows × cols) tile, laid out transposed: (cols × rows)."""
    k0, k1, k2, k3 = _philox_groups(seed, bh, rows, cols, stride, dropout_p)
    flags = tl.join(tl.join(k0, k1), tl.join(k2, k3))  # [row, group, a, b]
    flags = tl.permute(flags, (1, 2, 3, 0))  # [group, a, b, row]
    return tl.reshape(flags, (cols.shape[0], rows.shape[0])) != 0


@triton.jit
def _dkdv_step(
    dk, dv, k, v, q_base, do_base, lse_base, delta_base, offs_m, offs_n, offs_d, rows_ok,
    s_qn, s_dn, s_ln, qk_scale, dropout_p, seed, bh, rand_stride,
    MASKED: tl.constexpr, CAUSAL: tl.constexpr, DROPOUT: tl.constexpr, IEEE: tl.constexpr,
):  # fmt: skip
    """One query tile's contribution to a key tile's dK and dV. Works on the transposed
    tiles (keys × queries: Pᵀ = exp2(K·Qᵀ - lse), dPᵀ = V·dOᵀ), so that dV += Pᵀ·dO and
    dK += dSᵀ·Q take their left operands as computed, with no transpose of a register
    tile; only the loaded Q and dO tiles are read transposed."""
    q_at = q_base + offs_m[:, None] * s_qn + offs_d[None, :]
    do_at = do_base + offs_m[:, None] * s_dn + offs_d[None, :]
    if MASKED:
        q = tl.load(q_at, mask=rows_ok[:, None], other=0.0)
        do = tl.load(do_at, mask=rows_ok[:, None], other=0.0)
        lse = tl.load(lse_base + offs_m * s_ln, mask=rows_ok, other=float("inf"))
        delta = tl.load(delta_base + offs_m * s_ln, mask=rows_ok, other=0.0)
    else:
        q = tl.load(q_at)
        do = tl.load(do_at)
        lse = tl.load(lse_base + offs_m * s_ln)
        delta = tl.load(delta_base + offs_m * s_ln)
    if IEEE:
        s_t = tl.dot(k, tl.trans(q), input_precision="ieee")
        dp_t = tl.dot(v, tl.trans(do), input_precision="ieee")
    else:
        s_t = tl.dot(k, tl.trans(q))
        dp_t = tl.dot(v, tl.trans(do))
    p_t = tl.math.exp2(s_t * qk_scale - lse[None, :])  # padded rows: lse = +inf, P = 0
    if MASKED:
        ok = rows_ok[None, :]
        if CAUSAL:
            ok = ok & (offs_n[:, None] <= offs_m[None, :])
        p_t = tl.where(ok, p_t, 0.0)
    if DROPOUT:
        keep = _keep_t(seed, bh, offs_n, offs_m, rand_stride, dropout_p)
        p_drop = tl.where(keep, p_t / (1.0 - dropout_p), 0.0)
        dp_t = tl.where(keep, dp_t / (1.0 - dropout_p), 0.0)
    else:
        p_drop = p_t
    ds_t = p_t * (dp_t - delta[None, :])
    if IEEE:
        dv = tl.dot(p_drop.to(do.dtype), do, dv, input_precision="ieee")
        dk = tl.dot(ds_t.to(q.dtype), q, dk, input_precision="ieee")
    else:
        dv = tl.dot(p_drop.to(do.dtype), do, dv)
        dk = tl.dot(ds_t.to(q.dtype), q, dk)
    return dk, dv, ds_t


@triton.jit
def _dq_tile(
    ds_t, k, DQ, dq_base, offs_m, offs_d, rows_ok, store_ok, cols_ok, s_dqn, sm_scale,
    IEEE: tl.constexpr,
):  # fmt: skip
    """The fused backward's dQ of one query tile, when a single key tile holds every key:
    dQ = dS·K, complete in one product, stored once (no atomics, no second kernel). The
    key tile's columns past the real keys hold junk (score 0, so P = 2^-lse, which
    overflows for a row whose scores are all very negative); unlike dK and dV, dQ sums
    over the columns, so they are zeroed first."""
    ds = tl.trans(tl.where(cols_ok[:, None], ds_t, 0.0).to(k.dtype))
    if IEEE:
        dq = tl.dot(ds, k, input_precision="ieee")
    else:
        dq = tl.dot(ds, k)
    dq = tl.where(rows_ok[:, None], dq * sm_scale, 0.0)
    tl.store(
        dq_base + offs_m[:, None] * s_dqn + offs_d[None, :],
        dq.to(DQ.dtype.element_ty), mask=store_ok[:, None],
    )  # fmt: skip


@triton.jit
def _bwd_dkdv(
    Q, K, V, DO, LSE, DELTA, DK, DV, DQ, INFO, MASK,
    s_qb, s_qn, s_qh, s_kb, s_kn, s_kh, s_vb, s_vn, s_vh, s_db, s_dn, s_dh,
    s_dkb, s_dkn, s_dkh, s_dvb, s_dvn, s_dvh, s_dqb, s_dqn, s_dqh, s_lb, s_lh, s_ln, s_mb,
    H, N_BH, qk_scale, sm_scale, dropout_p, SEED, rand_stride,
    N_K_BUCKET,
    HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr,
    DROPOUT: tl.constexpr, IEEE: tl.constexpr, FUSED_DQ: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    """dK and dV of one key tile, looping over the query tiles that see it. With
    ``FUSED_DQ`` the tile holds every key of the sequence (one program per sequence and
    head), so each query tile's dQ is complete after its step and is written there too:
    5 matrix products instead of 7, one kernel instead of two."""
    seed = tl.load(SEED)  # a device scalar: a CUDA graph replays a fresh draw
    pid_n, bh = tl.program_id(0), _program_bh()
    if bh >= N_BH:
        return
    b, h = bh // H, bh % H
    q_tok0, q_lo, q_hi, q_ext, k_tok0, k_lo, k_hi, k_ext, holes = _seq(INFO, b)
    start_n = pid_n * BLOCK_N
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    offs_m0 = tl.arange(0, BLOCK_M)
    b64 = b.to(tl.int64)
    cols_ok = _real(offs_n, k_lo, k_hi, k_ext, MASK, b, s_mb, holes, HAS_MASK)
    # the key tile is loaded once, zeros outside the real keys; its padding columns get
    # junk gradients (column-local), zeroed at the store
    kv_rows = cols_ok[:, None]
    k_tokens = (k_tok0 + offs_n).to(tl.int64)[:, None]
    k = tl.load(
        K + b64 * s_kb + k_tokens * s_kn + h * s_kh + offs_d[None, :], mask=kv_rows, other=0.0
    )
    v = tl.load(
        V + b64 * s_vb + k_tokens * s_vn + h * s_vh + offs_d[None, :], mask=kv_rows, other=0.0
    )
    dk = tl.zeros([BLOCK_N, HEAD_DIM], tl.float32)
    dv = tl.zeros([BLOCK_N, HEAD_DIM], tl.float32)

    m_start = q_lo
    if CAUSAL:
        m_start = tl.maximum(m_start, start_n)
    m_stop = q_hi
    if tl.max(cols_ok.to(tl.int32), axis=0) == 0:  # no real key here: nothing to compute
        m_stop = m_start
    # query tiles: those crossing the causal diagonal (masked), whole tiles of real queries
    # past it (unmasked), the last partial tile (masked); all masked when there are holes
    diag_stop = m_start
    if CAUSAL:
        crossing = tl.maximum(start_n + BLOCK_N - 1 - m_start, 0)
        diag_stop = tl.minimum(m_stop, m_start + (crossing + BLOCK_M - 1) // BLOCK_M * BLOCK_M)
    inner_stop = diag_stop + tl.maximum(m_stop - diag_stop, 0) // BLOCK_M * BLOCK_M
    if HAS_MASK:
        if holes != 0:
            diag_stop = m_stop
            inner_stop = m_stop
    q_base = Q + b64 * s_qb + q_tok0.to(tl.int64) * s_qn + h * s_qh
    do_base = DO + b64 * s_db + q_tok0.to(tl.int64) * s_dn + h * s_dh
    dq_base = DQ + b64 * s_dqb + q_tok0.to(tl.int64) * s_dqn + h * s_dqh
    l_off = b64 * s_lb + h * s_lh + q_tok0.to(tl.int64) * s_ln
    if FUSED_DQ:  # the query rows no step writes (padding, or no real key) get zeros
        zero_stop = q_ext
        if (m_start == 0) & (m_stop >= q_ext):
            zero_stop = 0
        for start_m in range(0, zero_stop, BLOCK_M):
            offs_m = start_m + offs_m0
            outside = ((offs_m < m_start) | (offs_m >= m_stop)) & (offs_m < q_ext)
            tl.store(
                dq_base + offs_m[:, None] * s_dqn + offs_d[None, :],
                tl.zeros([BLOCK_M, HEAD_DIM], DQ.dtype.element_ty), mask=outside[:, None],
            )  # fmt: skip
    for start_m in range(m_start, diag_stop, BLOCK_M):
        offs_m = start_m + offs_m0
        rows_ok = _real(offs_m, m_start, m_stop, q_ext, MASK, b, s_mb, holes, HAS_MASK)
        dk, dv, ds_t = _dkdv_step(
            dk, dv, k, v, q_base, do_base, LSE + l_off, DELTA + l_off, offs_m, offs_n, offs_d,
            rows_ok, s_qn, s_dn, s_ln, qk_scale, dropout_p, seed, bh, rand_stride,
            True, CAUSAL, DROPOUT, IEEE,
        )  # fmt: skip
        if FUSED_DQ:
            _dq_tile(
                ds_t, k, DQ, dq_base, offs_m, offs_d, rows_ok, offs_m < m_stop, cols_ok,
                s_dqn, sm_scale, IEEE,
            )  # fmt: skip
    for start_m in range(diag_stop, inner_stop, BLOCK_M):
        offs_m = start_m + offs_m0
        dk, dv, ds_t = _dkdv_step(
            dk, dv, k, v, q_base, do_base, LSE + l_off, DELTA + l_off, offs_m, offs_n, offs_d,
            offs_m < m_stop, s_qn, s_dn, s_ln, qk_scale, dropout_p, seed, bh, rand_stride,
            False, CAUSAL, DROPOUT, IEEE,
        )  # fmt: skip
        if FUSED_DQ:
            _dq_tile(
                ds_t, k, DQ, dq_base, offs_m, offs_d, offs_m < m_stop, offs_m < m_stop,
                cols_ok, s_dqn, sm_scale, IEEE,
            )  # fmt: skip
    for start_m in range(inner_stop, m_stop, BLOCK_M):
        offs_m = start_m + offs_m0
        dk, dv, ds_t = _dkdv_step(
            dk, dv, k, v, q_base, do_base, LSE + l_off, DELTA + l_off, offs_m, offs_n, offs_d,
            offs_m < m_stop, s_qn, s_dn, s_ln, qk_scale, dropout_p, seed, bh, rand_stride,
            True, CAUSAL, DROPOUT, IEEE,
        )  # fmt: skip
        if FUSED_DQ:
            _dq_tile(
                ds_t, k, DQ, dq_base, offs_m, offs_d, offs_m < m_stop, offs_m < m_stop,
                cols_ok, s_dqn, sm_scale, IEEE,
            )  # fmt: skip

    dk = tl.where(kv_rows, dk, 0.0)
    dv = tl.where(kv_rows, dv, 0.0)
    dk = dk * sm_scale
    out_rows = (offs_n < k_ext)[:, None]
    tokens = (k_tok0 + offs_n).to(tl.int64)[:, None]
    dk_at = DK + b64 * s_dkb + tokens * s_dkn + h * s_dkh + offs_d[None, :]
    dv_at = DV + b64 * s_dvb + tokens * s_dvn + h * s_dvh + offs_d[None, :]
    tl.store(dk_at, dk.to(DK.dtype.element_ty), mask=out_rows)
    tl.store(dv_at, dv.to(DV.dtype.element_ty), mask=out_rows)


_BWD_KEY = ["N_K_BUCKET", "HEAD_DIM", "CAUSAL", "HAS_MASK", "DROPOUT", "IEEE"]
_bwd_dkdv_kernel = triton.autotune(
    configs=_configs("bwd"), key=_BWD_KEY, prune_configs_by={"early_config_prune": _prune}
)(_bwd_dkdv)
# the fused backward: BLOCK_N (every key in one tile) is the launcher's, not a config's
_bwd_fused_kernel = triton.autotune(
    configs=_configs("fused"), key=_BWD_KEY, prune_configs_by={"early_config_prune": _prune}
)(_bwd_dkdv)


@triton.jit
def _dq_step(
    dq, q, do, lse, delta, k_base, v_base, offs_m, offs_n, offs_d, cols_ok,
    s_kn, s_vn, qk_scale, dropout_p, seed, bh, rand_stride,
    MASKED: tl.constexpr, CAUSAL: tl.constexpr, DROPOUT: tl.constexpr, IEEE: tl.constexpr,
):  # fmt: skip
    """One key tile's contribution to dQ."""
    k_at = k_base + offs_n[:, None] * s_kn + offs_d[None, :]
    v_at = v_base + offs_n[:, None] * s_vn + offs_d[None, :]
    if MASKED:
        k = tl.load(k_at, mask=cols_ok[:, None], other=0.0)
        v = tl.load(v_at, mask=cols_ok[:, None], other=0.0)
    else:
        k = tl.load(k_at)
        v = tl.load(v_at)
    p = _probabilities(q, k, lse, offs_m, offs_n, cols_ok[None, :], qk_scale, MASKED, CAUSAL, IEEE)
    if IEEE:
        dp = tl.dot(do, tl.trans(v), input_precision="ieee")
    else:
        dp = tl.dot(do, tl.trans(v))
    if DROPOUT:
        keep = _keep(seed, bh, offs_m, offs_n, rand_stride, dropout_p)
        dp = tl.where(keep, dp / (1.0 - dropout_p), 0.0)
    ds = p * (dp - delta[:, None])
    if IEEE:
        return tl.dot(ds.to(k.dtype), k, dq, input_precision="ieee")
    return tl.dot(ds.to(k.dtype), k, dq)


@triton.autotune(
    configs=_configs("bwd"),
    key=["N_Q_BUCKET", "HEAD_DIM", "CAUSAL", "HAS_MASK", "DROPOUT", "IEEE"],
    prune_configs_by={"early_config_prune": _prune},
)
@triton.jit
def _bwd_dq_kernel(
    Q, K, V, DO, LSE, DELTA, DQ, INFO, MASK,
    s_qb, s_qn, s_qh, s_kb, s_kn, s_kh, s_vb, s_vn, s_vh, s_db, s_dn, s_dh,
    s_dqb, s_dqn, s_dqh, s_lb, s_lh, s_ln, s_mb,
    H, N_BH, qk_scale, sm_scale, dropout_p, SEED, rand_stride,
    N_Q_BUCKET,
    HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr,
    DROPOUT: tl.constexpr, IEEE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    """dQ of one query tile, looping over the key tiles it sees."""
    seed = tl.load(SEED)  # a device scalar: a CUDA graph replays a fresh draw
    pid_m, bh = tl.program_id(0), _program_bh()
    if bh >= N_BH:
        return
    b, h = bh // H, bh % H
    q_tok0, q_lo, q_hi, q_ext, k_tok0, k_lo, k_hi, k_ext, holes = _seq(INFO, b)
    start_m = pid_m * BLOCK_M
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    offs_n0 = tl.arange(0, BLOCK_N)
    b64 = b.to(tl.int64)
    rows_ok = _real(offs_m, q_lo, q_hi, q_ext, MASK, b, s_mb, holes, HAS_MASK)
    in_seq = (offs_m < q_ext)[:, None]
    q_rows = (q_tok0 + offs_m).to(tl.int64)[:, None]
    real = rows_ok[:, None]  # padding rows read as zeros, whatever they hold
    q = tl.load(Q + b64 * s_qb + q_rows * s_qn + h * s_qh + offs_d[None, :], mask=real, other=0.0)
    do = tl.load(DO + b64 * s_db + q_rows * s_dn + h * s_dh + offs_d[None, :], mask=real, other=0.0)
    l_base = b64 * s_lb + h * s_lh + q_tok0.to(tl.int64) * s_ln
    lse = tl.load(LSE + l_base + offs_m * s_ln, mask=rows_ok, other=float("inf"))
    delta = tl.load(DELTA + l_base + offs_m * s_ln, mask=rows_ok, other=0.0)
    dq = tl.zeros([BLOCK_M, HEAD_DIM], tl.float32)

    n_stop = k_hi
    if CAUSAL:
        n_stop = tl.minimum(n_stop, start_m + BLOCK_M)
    n_start = _key_start(k_lo, DROPOUT)
    if tl.max(rows_ok.to(tl.int32), axis=0) == 0:
        n_stop = n_start
    k_base = K + b64 * s_kb + k_tok0.to(tl.int64) * s_kn + h * s_kh
    v_base = V + b64 * s_vb + k_tok0.to(tl.int64) * s_vn + h * s_vh
    # as in the forward: whole tiles of real keys unmasked, then the rest masked
    inner_stop = _interior_stop(n_start, n_stop, start_m, BLOCK_N, CAUSAL)
    if n_start != k_lo:
        inner_stop = n_start
    if HAS_MASK:
        if holes != 0:
            inner_stop = n_start
    for start_n in range(n_start, inner_stop, BLOCK_N):
        offs_n = start_n + offs_n0
        dq = _dq_step(
            dq, q, do, lse, delta, k_base, v_base, offs_m, offs_n, offs_d, offs_n < n_stop,
            s_kn, s_vn, qk_scale, dropout_p, seed, bh, rand_stride, False, CAUSAL, DROPOUT, IEEE,
        )  # fmt: skip
    for start_n in range(inner_stop, n_stop, BLOCK_N):
        offs_n = start_n + offs_n0
        cols_ok = _real(offs_n, k_lo, n_stop, k_ext, MASK, b, s_mb, holes, HAS_MASK)
        if tl.max(cols_ok.to(tl.int32), axis=0) > 0:
            dq = _dq_step(
                dq, q, do, lse, delta, k_base, v_base, offs_m, offs_n, offs_d, cols_ok,
                s_kn, s_vn, qk_scale, dropout_p, seed, bh, rand_stride, True, CAUSAL, DROPOUT, IEEE,
            )  # fmt: skip

    dq = tl.where(real, dq * sm_scale, 0.0)
    tl.store(
        DQ + b64 * s_dqb + q_rows * s_dqn + h * s_dqh + offs_d[None, :],
        dq.to(DQ.dtype.element_ty), mask=in_seq,
    )  # fmt: skip


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


@triton.jit
def _info_kernel(SRC, INFO, s_src, n, MODE: tl.constexpr, BLOCK: tl.constexpr):
    """One sequence's ``info`` row from a (B, n) uint8 key-padding mask (``MODE`` 0), from
    (B,) lengths (1), or from (B+1,) ``cu_seqlens`` (2)."""
    b = tl.program_id(0)
    row = INFO + b * 9
    zero = b * 0
    if MODE == 0:
        lo = zero + n
        hi = zero
        count = zero
        for start in range(0, n, BLOCK):
            offs = start + tl.arange(0, BLOCK)
            flag = tl.load(SRC + b.to(tl.int64) * s_src + offs, mask=offs < n, other=0) != 0
            lo = tl.minimum(lo, tl.min(tl.where(flag, offs, n), axis=0))
            hi = tl.maximum(hi, tl.max(tl.where(flag, offs + 1, 0), axis=0))
            count += tl.sum(flag.to(tl.int32), axis=0)
        lo = tl.where(hi > 0, lo, 0)  # no real token: the empty range [0, 0)
        holes = (count != hi - lo).to(tl.int32)
        tok0, ext = zero, zero + n
    elif MODE == 1:
        lo, holes, tok0, ext = zero, zero, zero, zero + n
        hi = tl.load(SRC + b).to(tl.int32)
    else:
        tok0 = tl.load(SRC + b).to(tl.int32)
        hi = tl.load(SRC + b + 1).to(tl.int32) - tok0
        lo, holes, ext = zero, zero, hi
    tl.store(row + 0, tok0)
    tl.store(row + 1, lo)
    tl.store(row + 2, hi)
    tl.store(row + 3, ext)
    tl.store(row + 4, tok0)
    tl.store(row + 5, lo)
    tl.store(row + 6, hi)
    tl.store(row + 7, ext)
    tl.store(row + 8, holes)


def sequence_info(source: torch.Tensor, kind: str, n: int = 0) -> torch.Tensor:
    """The (B, 9) int32 ``info`` rows, in one launch: ``kind`` "mask" takes a (B, n) bool
    or uint8 key-padding mask, "lengths" (B,) integer lengths (positions ``[0, n)``),
    "cu_seqlens" (B+1,) int32 offsets of packed sequences."""
    mode = {"mask": 0, "lengths": 1, "cu_seqlens": 2}[kind]
    if kind == "mask" and source.dtype == torch.bool:
        source = source.view(torch.uint8)
    batch = source.shape[0] - 1 if kind == "cu_seqlens" else source.shape[0]
    info = torch.empty((batch, INFO_COLUMNS), dtype=torch.int32, device=source.device)
    if batch > 0:
        block = 64 if _interpreted() else 1024
        stride = source.stride(0) if kind == "mask" else 0
        _info_kernel[(batch,)](source, info, stride, n, MODE=mode, BLOCK=block)
    return info


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
    log-sum-exp (fp32; (B, H, N) padded, (H, total) packed)."""
    batch, heads, head_dim = info.shape[0], q.shape[-2], q.shape[-1]
    o = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    if varlen:
        lse = torch.empty((heads, q.shape[0]), dtype=torch.float32, device=q.device)
    else:
        lse = torch.empty((batch, heads, n_q), dtype=torch.float32, device=q.device)
    m = mask if mask is not None else info

    block = max(16, triton.next_power_of_2(max(n_q, n_k, 1)))
    if block <= short_forward_max_len and (head_dim, block) not in _short_unfit:
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
    """The (B, H, n_q, n_k) keep-mask (int8) the kernels apply, for tests and references."""
    batch = info.shape[0]
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
