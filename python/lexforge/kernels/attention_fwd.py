"""The attention forward kernels: ``_fwd_kernel`` (an online softmax over key tiles, one
program per query tile and (sequence, head)) and ``_fwd_short_kernel`` (sequences that fit
one tile: a plain softmax, and a persistent grid over (sequence, head) pairs). Both write
the output and the base-2 log-sum-exp the backward recomputes probabilities from. Their
launcher is ``forward`` in ``lexforge.kernels.attention``.
"""

# (annotations stay objects, for Triton 3.0's interpreter: see attention_common)

import triton
import triton.language as tl

from .attention_common import _at, _interior_stop, _key_start, _program_bh, _real, _seq
from .attention_configs import _configs, _prune, _prune_short
from .attention_dropout import _keep


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
    if DROPOUT:  # the kept ones' 1/(1 - p) is applied once, to the output row
        keep = _keep(seed, bh, offs_m, offs_n, rand_stride, dropout_p)
        p = tl.where(keep, p, 0.0)
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
    # dropout they start at a multiple of 16, as the Philox draws do (``_philox_flags``)
    k_start = _key_start(k_lo, DROPOUT)
    k_stop = k_hi
    if CAUSAL:
        k_stop = tl.minimum(k_stop, start_m + BLOCK_M)
    if (start_m + BLOCK_M <= q_lo) | (start_m >= q_hi):
        k_stop = k_start

    # padding rows before q_lo and past q_hi are not read (their output is 0 whatever they
    # hold): a padded batch's query tiles of padding alone load nothing
    q_in = (offs_m >= q_lo) & (offs_m < q_hi)
    q = tl.load(q_base + offs_m[:, None] * s_qn + offs_d[None, :], mask=q_in[:, None], other=0.0)
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

    # a row with no key has l_i == 0 exactly: 0 out. NaN in q or k makes l_i NaN, which
    # passes (NaN != 0) and reaches the output as SDPA's does, not hidden as a zero row
    live = row_real & (l_i != 0)
    norm = tl.where(live, l_i, 1.0)
    if DROPOUT:  # the kept probabilities' scale, left out of the tiles
        norm = norm * (1.0 - dropout_p)
    out = tl.where(live[:, None], acc / norm[:, None], 0.0)
    m_safe = tl.where(m_i == float("-inf"), 0.0, m_i)
    lse = tl.where(live, m_safe + tl.math.log2(tl.where(live, l_i, 1.0)), float("inf"))
    _store_rows(
        O, LSE, out, lse, b, h, q_tok0, q_ext, offs_m, offs_d, s_ob, s_on, s_oh, s_lb, s_lh, s_ln
    )  # fmt: skip


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
        live = row_in & (l_i != 0)  # NaN passes, as in ``_fwd_kernel``
        norm = tl.where(live, l_i, 1.0)
        if DROPOUT:  # the kept ones' 1/(1 - p) is applied once, to the output row
            keep = _keep(seed, bh, offs, offs, rand_stride, dropout_p)
            p = tl.where(keep, p, 0.0)
            norm = norm * (1.0 - dropout_p)
        if IEEE:
            acc = tl.dot(p.to(v.dtype), v, input_precision="ieee")
        else:
            acc = tl.dot(p.to(v.dtype), v)
        out = tl.where(live[:, None], acc / norm[:, None], 0.0)
        lse = tl.where(live, m_safe + tl.math.log2(tl.where(live, l_i, 1.0)), float("inf"))
        _store_rows(
            O, LSE, out, lse, b, h, q_tok0, q_ext, offs, offs_d, s_ob, s_on, s_oh, s_lb, s_lh, s_ln
        )  # fmt: skip
