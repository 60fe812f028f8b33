"""The attention backward kernels, deterministic (no atomics): ``_bwd_delta_kernel``
(rowsum(O ∘ dO)); ``_bwd_dkdv_kernel`` (dK and dV per key tile) and ``_bwd_dq_kernel`` (dQ
per query tile), the split backward; and ``_bwd_fused_kernel``, the same dK/dV kernel with
every key of a sequence in one tile, which writes each query tile's complete dQ on the
way. Their launcher is ``backward`` in ``lexforge.kernels.attention``.
"""

# (annotations stay objects, for Triton 3.0's interpreter: see attention_common)

import triton
import triton.language as tl

from .attention_common import _interior_stop, _key_start, _program_bh, _real, _seq
from .attention_configs import _configs, _prune
from .attention_dropout import _keep, _keep_t


@triton.jit
def _bwd_delta_kernel(
    O, DO, DELTA, INFO,
    s_ob, s_on, s_oh, s_db, s_dn, s_dh, s_lb, s_lh, s_ln,
    H, N_BH, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr,
):  # fmt: skip
    """delta = rowsum(O ∘ dO), per query row, fp32. Rows outside ``[q_lo, q_hi)`` are
    padding, whose delta no kernel reads (their lse is +inf, their loads masked): they get
    0, and their O and dO are not read."""
    pid_m, bh = tl.program_id(0), _program_bh()
    if bh >= N_BH:
        return
    b, h = bh // H, bh % H
    q_tok0 = tl.load(INFO + b * 9 + 0)
    q_lo = tl.load(INFO + b * 9 + 1)
    q_hi = tl.load(INFO + b * 9 + 2)
    q_ext = tl.load(INFO + b * 9 + 3)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    rows = ((offs_m >= q_lo) & (offs_m < q_hi))[:, None]
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
    if DROPOUT:  # dV's 1/(1 - p) is applied once, at its store
        keep = _keep_t(seed, bh, offs_n, offs_m, rand_stride, dropout_p)
        p_drop = tl.where(keep, p_t, 0.0)
        dp_t = tl.where(keep, dp_t, 0.0) * (1.0 / (1.0 - dropout_p))
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
    if DROPOUT:  # the kept probabilities' scale, left out of the tiles
        dv = dv * (1.0 / (1.0 - dropout_p))
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
        dp = tl.where(keep, dp, 0.0) * (1.0 / (1.0 - dropout_p))
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
