"""Fused attention: the Triton kernels (under TRITON_INTERPRET=1 on the CPU, natively on
CUDA) against a float64 reference, the SDPA fallback, packed batches, determinism,
dropout, torch.compile and bad input.

The accuracy rule: the kernel's max error against float64 is at most twice the error of
PyTorch computing the same attention (naively, matmul + softmax) in the kernel's dtype.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
CUDA = torch.cuda.is_available()
if not CUDA:  # before triton is imported: it reads the switch once
    os.environ["TRITON_INTERPRET"] = "1"
triton = pytest.importorskip("triton")

from lexforge.errors import AttentionInputError  # noqa: E402
from lexforge.ops import attention, attention_varlen, pad, unpad  # noqa: E402

DEVICE = "cuda" if CUDA else "cpu"
DTYPES = [torch.float32, torch.float16]


def reference(
    q: Any, k: Any, v: Any, valid: Any = None, causal: bool = False,
    scale: float | None = None, keep: Any = None, p: float = 0.0,
) -> Any:  # fmt: skip
    """Attention written out, in the inputs' dtype: (B, N, H, D) in and out. Padded query
    rows and sequences with no real key give 0."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    qt, kt, vt = (t.transpose(1, 2) for t in (q, k, v))
    s = (qt @ kt.transpose(-1, -2)) * scale
    ok = torch.ones(s.shape[-2:], dtype=torch.bool, device=q.device)
    if causal:
        ok = ok.tril()
    ok = ok[None, None].expand(s.shape).clone()
    if valid is not None:
        ok &= valid[:, None, None, :]
    s = s.masked_fill(~ok, float("-inf"))
    probs = torch.softmax(s.float() if q.dtype == torch.float16 and not CUDA else s, dim=-1)
    probs = torch.nan_to_num(probs, nan=0.0).to(q.dtype)
    if keep is not None:
        probs = probs * keep.to(q.dtype) / (1 - p)
    out = (probs @ vt).transpose(1, 2)
    if valid is not None:
        out = out.masked_fill(~valid[:, :, None, None], 0.0)
    return out


def inputs(batch: int, n: int, heads: int, dim: int, dtype: Any, n_k: int | None = None) -> Any:
    g = torch.Generator().manual_seed(batch * 1000 + n * 10 + dim)
    shapes = [(batch, n, heads, dim), *[(batch, n_k or n, heads, dim)] * 2]
    return [torch.randn(s, generator=g).to(DEVICE, dtype).requires_grad_() for s in shapes]


def padding(batch: int, n: int, kind: str) -> Any:
    g = torch.Generator().manual_seed(n + batch)
    if kind == "none":
        return None
    if kind == "right":
        lens = torch.randint(1, n + 1, (batch,), generator=g)
        lens[0] = 0 if batch > 2 else lens[0]  # a fully padded row
        return (torch.arange(n)[None, :] < lens[:, None]).to(DEVICE)
    # random holes anywhere (whole tiles of padding included), one row fully padded
    mask = torch.rand(batch, n, generator=g) < 0.6
    mask[:, n // 3 : n // 3 + 20] = False
    mask[-1] = False
    return mask.to(DEVICE)


def errors(
    out: Any, grads: Any, ref_out: Any, ref_grads: Any, exact: Any, exact_grads: Any
) -> None:
    """Asserts kernel error <= 2 x torch-in-dtype error (plus a hair for exact ties)."""
    names = ["out", "dq", "dk", "dv"]
    for name, ours, theirs, truth in zip(
        names, [out, *grads], [ref_out, *ref_grads], [exact, *exact_grads], strict=True
    ):
        assert not torch.isnan(ours).any(), name
        ours_err = (ours.double() - truth).abs().max().item()
        torch_err = (theirs.double() - truth).abs().max().item()
        # a few ulps, for where torch is exact by cancellation (a length-1 row's
        # softmax gradient is 0 in torch, rounding-sized in a kernel that sums otherwise)
        scale = max(1.0, truth.abs().max().item())
        floor = 16 * torch.finfo(torch.float32).eps * scale if ours.dtype == torch.float32 else 1e-4
        assert ours_err <= 2 * torch_err + floor, (name, ours_err, torch_err)


def check(q: Any, k: Any, v: Any, valid: Any = None, causal: bool = False, seed: int = 0) -> Any:
    """The Triton path's output and gradients against the references (``errors``)."""
    out = attention(q, k, v, key_padding_mask=valid, causal=causal, backend="triton")
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed)).to(out)
    grads = torch.autograd.grad(out, (q, k, v), g)
    ref = reference(q, k, v, valid, causal)
    ref_grads = torch.autograd.grad(ref, (q, k, v), g)
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    exact = reference(q64, k64, v64, valid, causal)
    exact_grads = torch.autograd.grad(exact, (q64, k64, v64), g.double())
    errors(out, grads, ref, ref_grads, exact, exact_grads)
    return out


def run_case(batch: int, n: int, heads: int, dim: int, dtype: Any, kind: str, causal: bool) -> None:
    q, k, v = inputs(batch, n, heads, dim, dtype)
    valid = padding(batch, n, kind)
    out = check(q, k, v, valid, causal, seed=n)
    if valid is not None:  # padded query rows are exactly zero
        assert (out[~valid] == 0).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "fp16"])
@pytest.mark.parametrize(
    "batch,n,dim,kind",
    [
        (2, 37, 32, "right"),  # n not a multiple of any block size
        (3, 40, 64, "holes"),  # holes, a whole tile of padding, a fully padded row
        (1, 1, 64, "none"),  # a length-1 sequence
        (2, 24, 128, "none"),  # all real
        (3, 19, 32, "right"),
    ],
)
def test_matches_float64_reference(batch: int, n: int, dim: int, kind: str, dtype: Any) -> None:
    run_case(batch, n, 2, dim, dtype, kind, causal=False)


@pytest.mark.parametrize("kind", ["none", "right", "holes"])
def test_causal(kind: str) -> None:
    run_case(3, 35, 2, 32, torch.float32, kind, causal=True)


class _Refuse:
    """Stands in for a kernel that must not run."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getitem__(self, grid: Any) -> Any:
        raise AssertionError(f"{self.name} ran")


@pytest.fixture(params=["fused", "split"])
def backward_path(request: Any, monkeypatch: Any) -> str:
    """The backward forced to one path: the fused kernel (dQ written by the dK/dV kernel,
    every key in one tile) or the split one (a dQ kernel of its own); the other path's
    kernels refuse to run."""
    from lexforge.kernels import attention as kernels

    fused = request.param == "fused"
    monkeypatch.setattr(kernels, "fused_backward_max_keys", 64 if fused else 0)
    if fused:
        monkeypatch.setattr(kernels, "_bwd_dq_kernel", _Refuse("the split dQ kernel"))
        monkeypatch.setattr(kernels, "_bwd_dkdv_kernel", _Refuse("the split dK/dV kernel"))
    else:
        monkeypatch.setattr(kernels, "_bwd_fused_kernel", _Refuse("the fused kernel"))
    return str(request.param)


@pytest.fixture(params=["short", "tiled"])
def forward_path(request: Any, monkeypatch: Any) -> str:
    """The forward forced to one kernel: the short-sequence one (one tile holds every
    query and key; a persistent loop over (sequence, head) pairs) or the tiled one (online
    softmax over key tiles); the other refuses to run."""
    from lexforge.kernels import attention as kernels

    short = request.param == "short"
    monkeypatch.setattr(kernels, "short_forward_max_len", 64 if short else 0)
    monkeypatch.setattr(kernels, "short_forward_dropout", short)
    monkeypatch.setattr(kernels, "_short_unfit", set())
    if short:
        monkeypatch.setattr(kernels, "_fwd_kernel", _Refuse("the tiled forward"))
    else:
        monkeypatch.setattr(kernels, "_fwd_short_kernel", _Refuse("the short forward"))
    return str(request.param)


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "fp16"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("kind", ["none", "right", "holes"])
def test_both_forward_paths(kind: str, causal: bool, dtype: Any, forward_path: str) -> None:
    # 45 positions: one 64-position tile for the short kernel (7 sequence-heads over its
    # 3 programs), three 16-row query tiles for the tiled one
    run_case(3, 45, 2, 32, dtype, kind, causal)


@pytest.mark.parametrize("n_q,n_k", [(37, 21), (5, 60), (1, 1)])
def test_both_forward_paths_cross_attention(n_q: int, n_k: int, forward_path: str) -> None:
    q, k, v = inputs(2, n_q, 3, 64, torch.float32, n_k=n_k)
    check(q, k, v, seed=n_q)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("kind", ["none", "right", "holes"])
def test_both_backward_paths(kind: str, causal: bool, backward_path: str) -> None:
    # 45 keys: one 64-key tile for the fused path, three 16-row query tiles either way
    run_case(3, 45, 2, 32, torch.float32, kind, causal)


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "fp16"])
def test_both_backward_paths_cross_attention(dtype: Any, backward_path: str) -> None:
    q, k, v = inputs(2, 37, 2, 64, dtype, n_k=21)  # a padding mask needs Nq == Nk
    check(q, k, v, seed=5)


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "fp16"])
@pytest.mark.parametrize("kind", ["none", "right"])
def test_rows_of_very_negative_scores_keep_finite_gradients(
    kind: str, dtype: Any, backward_path: str, forward_path: str
) -> None:
    # a query whose scores are all far below 0 has a very negative log-sum-exp; the key
    # tile's columns past the real keys (21 keys in a tile of 32 or 64) must not turn that
    # into 2^-lse = inf, and inf x 0 = NaN in dQ
    batch, n, dim = 2, 21, 32
    g = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(batch, n, 2, dim, generator=g) * 0.1 for _ in range(3))
    k[..., 0] = 1.0
    low = -100.0 if dtype == torch.float32 else -20.0  # 2^-lse overflows either dtype
    q[:, 1, :, 0] = low * math.sqrt(dim)  # every score of query 1 is about `low`
    q, k, v = (t.to(DEVICE, dtype).requires_grad_() for t in (q, k, v))
    valid = padding(batch, n, kind)
    if valid is not None:
        valid[:, :2] = True  # query 1 stays real
    check(q, k, v, valid, seed=3)


class _Fails:
    """Stands in for a kernel that cannot be built or launched on this GPU."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.launches = 0

    def __getitem__(self, grid: Any) -> Any:
        def launch(*args: Any, **kwargs: Any) -> None:
            self.launches += 1
            raise self.error

        return launch


def check_fallback(
    monkeypatch: Any, kind: str, kernel: str, limit: str, unfit: str, run: Any, key: Any
) -> None:
    """With the kernel ``kernel`` failing to launch (out of resources) or to compile, the
    call ``run`` still gives what it gives with that kernel switched off (``limit`` = 0):
    the first call tries it once and records ``key`` in ``unfit``, warning only for a
    compile error; the second goes straight to the other kernels."""
    from lexforge.kernels import attention as kernels

    monkeypatch.setattr(kernels, limit, 0)
    want = run()
    error = (
        triton.runtime.errors.OutOfResources(300_000, 232_448, "shared memory")
        if kind == "resources"
        else triton.CompilationError(None, None, "unsupported layout")  # type: ignore[arg-type]
    )
    failing = _Fails(error)
    monkeypatch.setattr(kernels, limit, 64)
    monkeypatch.setattr(kernels, kernel, failing)
    monkeypatch.setattr(kernels, unfit, set())
    said = []
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = run()
        assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))
        said.append([str(w.message) for w in caught if "does not compile" in str(w.message)])
    assert failing.launches == 1 and getattr(kernels, unfit) == {key}
    assert [len(s) for s in said] == ([1, 0] if kind == "compile" else [0, 0])


@pytest.mark.parametrize("kind", ["resources", "compile"])
def test_fused_backward_falls_back_to_split(kind: str, monkeypatch: Any) -> None:
    q, k, v = inputs(2, 21, 2, 32, torch.float32)
    g = torch.randn(q.shape, generator=torch.Generator().manual_seed(1)).to(q)

    def run() -> Any:
        return torch.autograd.grad(attention(q, k, v, backend="triton"), (q, k, v), g)

    check_fallback(
        monkeypatch, kind, "_bwd_fused_kernel", "fused_backward_max_keys", "_fused_unfit",
        run, (32, 32),
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["resources", "compile"])
def test_short_forward_falls_back_to_tiled(kind: str, monkeypatch: Any) -> None:
    q, k, v = inputs(2, 21, 2, 32, torch.float32)
    mask = padding(2, 21, "right")

    def run() -> Any:
        return [attention(q, k, v, key_padding_mask=mask, backend="triton")]

    check_fallback(
        monkeypatch, kind, "_fwd_short_kernel", "short_forward_max_len", "_short_unfit",
        run, (32, 32),
    )  # fmt: skip


def test_lengths_equal_the_mask() -> None:
    q, k, v = inputs(3, 21, 2, 32, torch.float32)
    lens = torch.tensor([21, 5, 0], device=DEVICE)
    mask = torch.arange(21, device=DEVICE)[None, :] < lens[:, None]
    a = attention(q, k, v, lengths=lens, backend="triton")
    b = attention(q, k, v, key_padding_mask=mask, backend="triton")
    assert torch.equal(a, b)
    assert (a[2] == 0).all()


@pytest.mark.parametrize("backend", ["triton", "sdpa"])
@pytest.mark.parametrize("kind", ["right", "holes"])
def test_padding_contents_never_leak(kind: str, backend: str) -> None:
    q, k, v = (t.detach() for t in inputs(3, 40, 2, 32, torch.float32))
    valid = padding(3, 40, kind)
    clean = [t.clone().requires_grad_() for t in (q, k, v)]
    dirty = [
        t.masked_fill(~valid[:, :, None, None], float("nan")).requires_grad_() for t in (q, k, v)
    ]
    a = attention(*clean, key_padding_mask=valid, causal=kind == "right", backend=backend)
    b = attention(*dirty, key_padding_mask=valid, causal=kind == "right", backend=backend)
    assert torch.equal(a, b)
    g = torch.randn_like(a)
    for x, y in zip(
        torch.autograd.grad(a, clean, g), torch.autograd.grad(b, dirty, g), strict=True
    ):
        assert torch.equal(x, y)
        assert (y[~valid] == 0).all()


def test_cross_attention_shapes_without_mask() -> None:
    q, k, v = inputs(2, 9, 2, 32, torch.float32, n_k=30)
    out = attention(q, k, v, backend="triton")
    exact = reference(*(t.double() for t in (q, k, v)))
    assert (out.double() - exact).abs().max() < 1e-5


def test_left_padding_and_scale() -> None:
    q, k, v = inputs(2, 33, 2, 64, torch.float32)
    mask = torch.ones(2, 33, dtype=torch.bool, device=DEVICE)
    mask[0, :20] = False  # left padding
    out = attention(q, k, v, key_padding_mask=mask, scale=0.3, backend="triton")
    exact = reference(*(t.double() for t in (q, k, v)), valid=mask, scale=0.3)
    assert (out.double() - exact).abs().max() < 1e-5


def test_varlen_equals_padded_and_unpad_pad_round_trip(
    backward_path: str, forward_path: str
) -> None:
    batch, n, heads, dim = 4, 29, 2, 32
    q, k, v = inputs(batch, n, heads, dim, torch.float32)
    mask = padding(batch, n, "right")
    mask[1] = True  # one full-length sequence
    dense = attention(q, k, v, key_padding_mask=mask, backend="triton")
    packed = [unpad(t, mask) for t in (q, k, v)]
    uq = packed[0]
    assert uq.cu_seqlens.dtype == torch.int32 and uq.cu_seqlens.shape == (batch + 1,)
    assert uq.max_seqlen == int(mask.sum(1).max())
    assert torch.equal(pad(uq.values, uq.indices, batch, n)[mask], q[mask])
    assert (pad(uq.values, uq.indices, batch, n)[~mask] == 0).all()
    out = attention_varlen(
        uq.values, packed[1].values, packed[2].values, uq.cu_seqlens, uq.max_seqlen,
        backend="triton",
    )  # fmt: skip
    assert out.shape == uq.values.shape
    assert (pad(out, uq.indices, batch, n)[mask] - dense[mask]).abs().max() < 1e-6
    # gradients agree too
    g = torch.randn_like(dense)
    want = torch.autograd.grad(dense, (q, k, v), g)
    out2 = attention_varlen(
        *(unpad(t, mask).values for t in (q, k, v)), uq.cu_seqlens, uq.max_seqlen,
        backend="triton",
    )  # fmt: skip
    got = torch.autograd.grad(out2, (q, k, v), unpad(g, mask).values)
    for a, b in zip(got, want, strict=True):
        assert (a - b).abs().max() < 1e-5


def test_varlen_causal_matches_sdpa_fallback() -> None:
    lens = [7, 1, 18, 0, 11]
    cu = torch.tensor([0, *torch.tensor(lens).cumsum(0).tolist()], dtype=torch.int32, device=DEVICE)
    total, heads, dim = sum(lens), 2, 32
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(total, heads, dim, generator=g).to(DEVICE) for _ in range(3))
    for causal in (False, True):
        a = attention_varlen(q, k, v, cu, max(lens), causal=causal, backend="triton")
        b = attention_varlen(q, k, v, cu, max(lens), causal=causal, backend="sdpa")
        assert (a - b).abs().max() < 1e-5


def test_backward_is_deterministic(backward_path: str, forward_path: str) -> None:
    q, k, v = inputs(2, 45, 2, 64, torch.float16)
    mask = padding(2, 45, "holes")
    g = torch.randn(q.shape, dtype=q.dtype, device=DEVICE)
    runs = []
    for _ in range(3):
        out = attention(q, k, v, key_padding_mask=mask, backend="triton")
        runs.append([out, *torch.autograd.grad(out, (q, k, v), g)])
    for other in runs[1:]:
        for a, b in zip(runs[0], other, strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("n", [1, 37, 130])
def test_sequence_info_kernel_matches_torch(n: int) -> None:
    """The one-launch ``info`` rows equal the torch-operations ones (the traced path) for
    masks with holes, left and right padding, empty rows, lengths and cu_seqlens."""
    from lexforge.kernels.attention import sequence_info
    from lexforge.ops.attention import _padded_info_traced

    g = torch.Generator().manual_seed(n)
    masks = [torch.rand(6, n, generator=g) < 0.5]  # holes anywhere
    lens = torch.randint(0, n + 1, (6,), generator=g)
    right = torch.arange(n)[None, :] < lens[:, None]
    masks += [right, right.flip(1), torch.zeros(6, n, dtype=torch.bool)]
    for mask in masks:
        mask = mask.to(DEVICE)
        want = _padded_info_traced(mask, None, 6, n, n, mask.device)
        assert torch.equal(sequence_info(mask, "mask", n), want)
    lens = lens.to(DEVICE)
    want = _padded_info_traced(right.to(DEVICE), lens, 6, n, n, lens.device)
    assert torch.equal(sequence_info(lens, "lengths", n), want)
    cu = torch.cat([torch.zeros(1, dtype=torch.int32), lens.cpu().cumsum(0).to(torch.int32)])
    got = sequence_info(cu.to(DEVICE), "cu_seqlens", int(cu[-1])).cpu()
    starts, sizes = cu[:-1], cu[1:] - cu[:-1]
    zero = torch.zeros_like(sizes)
    want = torch.stack([starts, zero, sizes, sizes, starts, zero, sizes, sizes, zero], dim=1)
    assert torch.equal(got, want)


def philox_reference(key: int, counters: np.ndarray) -> list[np.ndarray]:
    """Philox-4x32-10 (Salmon et al., 2011), written out: the four 32-bit words of the draw
    at counter (c, 0, 0, 0) under the 64-bit ``key`` (low word first), as ``tl.randint4x``
    defines them."""
    mask = np.uint64(0xFFFFFFFF)
    round_a, round_b = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    c0 = counters.astype(np.uint64)
    c1, c2, c3 = (np.zeros_like(c0) for _ in range(3))
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64((key >> 32) & 0xFFFFFFFF)
    for _ in range(10):
        prod_b, prod_a = round_b * c2, round_a * c0  # < 2**64: exact
        c0, c1, c2, c3 = (
            (prod_b >> np.uint64(32)) ^ c1 ^ k0, prod_b & mask,
            (prod_a >> np.uint64(32)) ^ c3 ^ k1, prod_a & mask,
        )  # fmt: skip
        k0 = (k0 + np.uint64(0x9E3779B9)) & mask
        k1 = (k1 + np.uint64(0xBB67AE85)) & mask
    return [c0, c1, c2, c3]


@pytest.mark.parametrize("p", [0.1, 0.3, 0.001])
def test_dropout_flags_follow_the_documented_draws(p: float) -> None:
    """The keep-flag of (row, col) is byte (col % 16) // 4 of word col % 4 of the Philox
    draw at counter row · ceil(n_k / 16) + col // 16, keyed by seed + (batch·head << 32),
    compared with 256 × the rate: checked flag by flag against Philox written in numpy."""
    from lexforge.kernels import attention as kernels
    from lexforge.ops.attention import _dense_info

    batch, heads, n_q, n_k, seed = 2, 3, 19, 45, 987_654_321
    info = _dense_info(batch, n_q, n_k, torch.device(DEVICE))
    got = kernels.dropout_keep(info, heads, n_q, n_k, p, seed, torch.device(DEVICE)).cpu().numpy()
    rate = kernels.dropout_rate(p)
    threshold = round(rate * 256)
    rows, cols = np.meshgrid(np.arange(n_q), np.arange(n_k), indexing="ij")
    counters = rows * -(-n_k // 16) + cols // 16
    for bh in range(batch * heads):
        words = philox_reference(seed + (bh << 32), counters)
        word = np.choose(cols % 4, words)
        byte = (word >> (8 * ((cols % 16) // 4)).astype(np.uint64)) & np.uint64(0xFF)
        want = (byte >= threshold).astype(np.int8)
        assert np.array_equal(got[bh // heads, bh % heads], want), bh


def test_dropout_rate_is_a_multiple_of_1_256_never_rounded_away() -> None:
    from lexforge.kernels.attention import dropout_rate

    assert dropout_rate(0.0) == 0.0
    assert dropout_rate(0.1) == 26 / 256
    assert dropout_rate(0.25) == 0.25
    assert dropout_rate(1e-6) == 1 / 256  # not 0: asked-for dropout is never switched off
    assert dropout_rate(0.99999) == 255 / 256  # never 1: the scale 1 / (1 - rate) is finite
    for p in (0.05, 0.1, 0.5, 0.9):
        assert abs(dropout_rate(p) - p) <= 1 / 512
        assert dropout_rate(dropout_rate(p)) == dropout_rate(p)


def test_a_dropout_rate_far_from_a_multiple_of_1_256_is_named() -> None:
    q, k, v = inputs(1, 8, 1, 32, torch.float32)
    with pytest.warns(RuntimeWarning, match=r"dropout_p=0\.001: .*1/256.* 0\.003906"):
        attention(q, k, v, dropout_p=0.001, backend="triton")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # (not Triton 3.0's interpreter's
        # DeprecationWarning from NumPy, which is no warning of ours)
        attention(q, k, v, dropout_p=0.1, backend="triton")  # 0.1016: close enough
        attention(q, k, v, dropout_p=0.001, backend="sdpa")  # SDPA drops at the rate given


def test_dropout_draws_are_unbiased_and_uncorrelated() -> None:
    """One Philox draw gives the keep-flags of 16 neighbouring keys, a byte each: each of
    the 16 must keep at rate 1 - p (p rounded to a multiple of 1/256), neighbours must be
    independent, and heads and sequences differ."""
    from lexforge.kernels import attention as kernels
    from lexforge.ops.attention import _dense_info

    batch, heads, n, p = 2, 2, 128, 0.3
    rate = kernels.dropout_rate(p)
    info = _dense_info(batch, n, n, torch.device(DEVICE))
    keep = kernels.dropout_keep(info, heads, n, n, p, 1234, torch.device(DEVICE)).double().cpu()
    size = keep.numel() / 16  # flags per key residue mod 16
    sd = math.sqrt(rate * (1 - rate) / size)
    for r in range(16):
        assert abs(keep[..., r::16].mean().item() - (1 - rate)) < 5 * sd, r
    x = keep - keep.mean()
    for lag in range(1, 17):  # same draw (1-15) and the next one (16)
        corr = (x[..., lag:] * x[..., :-lag]).mean() / x.pow(2).mean()
        assert abs(corr.item()) < 5 / math.sqrt(keep[..., lag:].numel()), lag
    rows = (x[..., 1:, :] * x[..., :-1, :]).mean() / x.pow(2).mean()  # neighbouring queries
    assert abs(rows.item()) < 5 / math.sqrt(keep[..., 1:, :].numel())
    assert not torch.equal(keep[0, 0], keep[0, 1]) and not torch.equal(keep[0, 0], keep[1, 0])
    again = kernels.dropout_keep(info, heads, n, n, p, 1234, torch.device(DEVICE)).double().cpu()
    other = kernels.dropout_keep(info, heads, n, n, p, 1235, torch.device(DEVICE)).double().cpu()
    assert torch.equal(keep, again) and not torch.equal(keep, other)


def test_short_forward_is_taken_with_dropout_only_when_allowed(monkeypatch: Any) -> None:
    """The short-sequence forward is slower than the tiled one with dropout on the H200:
    with ``short_forward_dropout`` off, dropout goes to the tiled kernel, and a call
    without dropout still takes the short one."""
    from lexforge.kernels import attention as kernels

    monkeypatch.setattr(kernels, "short_forward_max_len", 64)
    monkeypatch.setattr(kernels, "short_forward_dropout", False)
    monkeypatch.setattr(kernels, "_short_unfit", set())
    q, k, v = inputs(2, 20, 2, 32, torch.float32)
    mask = padding(2, 20, "right")
    short = kernels._fwd_short_kernel
    monkeypatch.setattr(kernels, "_fwd_short_kernel", _Refuse("the short forward"))
    dropped = attention(q, k, v, key_padding_mask=mask, dropout_p=0.2, backend="triton")
    assert dropped.shape == q.shape
    monkeypatch.setattr(kernels, "_fwd_short_kernel", short)
    monkeypatch.setattr(kernels, "_fwd_kernel", _Refuse("the tiled forward"))
    out = attention(q, k, v, key_padding_mask=mask, backend="triton")
    assert (out.double() - reference(q, k, v, mask).double()).abs().max() < 1e-5
    monkeypatch.setattr(kernels, "short_forward_dropout", True)  # the tiled one refused still
    attention(q, k, v, key_padding_mask=mask, dropout_p=0.2, backend="triton")


def _drawn_seed(device: torch.device) -> int:
    """The dropout seed ``attention`` draws next: from the generator of the inputs' device
    (on a GPU the CUDA generator, whose numbers differ from the CPU one's)."""
    return int(torch.randint(0, 2**31 - 1, (1,), dtype=torch.int64, device=device))


def test_dropout_uses_the_mask_it_reports(backward_path: str, forward_path: str) -> None:
    from lexforge.kernels import attention as kernels
    from lexforge.ops.attention import _padded_info

    batch, n, heads, dim, p = 2, 26, 2, 32, 0.25
    q, k, v = inputs(batch, n, heads, dim, torch.float32)
    mask = padding(batch, n, "right")
    torch.manual_seed(7)
    out = attention(q, k, v, key_padding_mask=mask, dropout_p=p, backend="triton")
    torch.manual_seed(7)
    seed = _drawn_seed(q.device)
    info = _padded_info(mask, None, mask, batch, n, n, q.device)
    keep = kernels.dropout_keep(info, heads, n, n, p, seed, q.device)
    assert abs(keep.float().mean().item() - (1 - p)) < 0.03
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    exact = reference(q64, k64, v64, mask, keep=keep.double(), p=kernels.dropout_rate(p))
    assert (out.double() - exact).abs().max() < 1e-5
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, (q, k, v), g)
    want = torch.autograd.grad(exact, (q64, k64, v64), g.double())
    for a, b in zip(got, want, strict=True):
        assert (a.double() - b).abs().max() < 1e-5
    torch.manual_seed(7)
    again = attention(q, k, v, key_padding_mask=mask, dropout_p=p, backend="triton")
    assert torch.equal(out, again)
    other = attention(q, k, v, key_padding_mask=mask, dropout_p=p, backend="triton")
    assert not torch.equal(out, other)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_dropout_with_padding_before_the_first_real_key(
    causal: bool, backward_path: str, forward_path: str
) -> None:
    """Philox draws cover 16 keys from a multiple of 16; the tiled forward and the dQ kernel
    started their key tiles at the first real key (5 with left padding, 2 after a hole),
    so they dropped other probabilities than the dK/dV kernels and ``dropout_keep``:
    outputs and gradients off by O(1)."""
    from lexforge.kernels import attention as kernels
    from lexforge.ops.attention import _padded_info

    batch, n, heads, dim, p = 3, 21, 1, 32, 0.3
    q, k, v = inputs(batch, n, heads, dim, torch.float32)
    mask = torch.ones(batch, n, dtype=torch.bool, device=DEVICE)
    mask[0, :5] = False  # left padding
    mask[1, :2] = False  # a hole, then right padding
    mask[1, 9:12] = False
    mask[1, 18:] = False
    mask[2, :3] = False  # left padding, then every later key real
    torch.manual_seed(11)
    out = attention(q, k, v, key_padding_mask=mask, dropout_p=p, causal=causal, backend="triton")
    torch.manual_seed(11)
    seed = _drawn_seed(q.device)
    info = _padded_info(mask, None, mask, batch, n, n, q.device)
    keep = kernels.dropout_keep(info, heads, n, n, p, seed, q.device)
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    exact = reference(
        q64, k64, v64, mask, causal=causal, keep=keep.double(), p=kernels.dropout_rate(p)
    )
    assert (out.double() - exact).abs().max() < 1e-5
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(2)).to(out)
    got = torch.autograd.grad(out, (q, k, v), g)
    want = torch.autograd.grad(exact, (q64, k64, v64), g.double())
    for name, a, b in zip("qkv", got, want, strict=True):
        assert (a.double() - b).abs().max() < 1e-5, name


@pytest.mark.parametrize("kind", ["none", "right", "holes"])
def test_fallback_and_triton_agree(kind: str) -> None:
    q, k, v = inputs(3, 30, 2, 32, torch.float32)
    mask = padding(3, 30, kind)
    a = attention(q, k, v, key_padding_mask=mask, backend="triton")
    b = attention(q, k, v, key_padding_mask=mask, backend="sdpa")
    assert not torch.isnan(b).any()
    assert (a - b).abs().max() < 1e-5
    g = torch.randn_like(a)
    for x, y in zip(
        torch.autograd.grad(a, (q, k, v), g), torch.autograd.grad(b, (q, k, v), g), strict=True
    ):
        assert not torch.isnan(y).any()
        assert (x - y).abs().max() < 1e-5


class _Block(torch.nn.Module):
    def __init__(self, heads: int, dim: int) -> None:
        super().__init__()
        self.heads, self.qkv = heads, torch.nn.Linear(heads * dim, 3 * heads * dim)

    def forward(self, x: Any, mask: Any, lengths: Any = None, backend: str = "triton") -> Any:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, -1).unbind(2)
        out = attention(q, k, v, key_padding_mask=mask, lengths=lengths, backend=backend)
        return out.reshape(b, n, -1)


@pytest.mark.parametrize("backend", ["triton", "sdpa"])
@pytest.mark.parametrize("given", ["mask", "lengths"])
def test_torch_compile_runs_the_op(given: str, backend: str) -> None:
    # fullgraph: nothing in the op reads a tensor's values on the host while traced
    torch.manual_seed(0)
    block = _Block(2, 32).to(DEVICE)
    x = torch.randn(2, 20, 64, device=DEVICE)
    lengths = torch.tensor([13, 20], device=DEVICE)
    mask = torch.arange(20, device=DEVICE)[None, :] < lengths[:, None]
    args = (mask, None) if given == "mask" else (None, lengths)
    compiled = torch.compile(block, backend="aot_eager", fullgraph=True)
    want = block(x, *args, backend=backend)
    got = compiled(x, *args, backend=backend)
    assert torch.equal(got, want)
    got.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in block.parameters())


@pytest.mark.parametrize("backend", ["triton", "sdpa"])
def test_torch_compile_traces_varlen_whole(backend: str) -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(19, 2, 32, generator=g).to(DEVICE) for _ in range(3))
    cu = torch.tensor([0, 7, 19], dtype=torch.int32, device=DEVICE)

    def run(q: Any, k: Any, v: Any, cu: Any) -> Any:
        return attention_varlen(q, k, v, cu, 12, backend=backend, check=False)

    got = torch.compile(run, backend="aot_eager", fullgraph=True)(q, k, v, cu)
    assert torch.equal(got, run(q, k, v, cu))


class _Pinned(torch.nn.Module):
    def __init__(self, block: _Block, backend: str) -> None:
        super().__init__()
        self.block, self.backend = block, backend

    def forward(self, x: Any, mask: Any) -> Any:
        return self.block(x, mask, backend=self.backend)


@pytest.mark.parametrize("backend", ["triton", "sdpa"])
def test_jit_trace_records_the_op_and_saves(tmp_path: Path, backend: str) -> None:
    """``torch.jit.trace`` (gradients on) records the kernels as the custom op, not a
    Python autograd Function a saved trace cannot hold, and the saved trace gives eager's
    rows and gradients on a batch of another size, length and padding."""
    torch.manual_seed(0)
    block = _Block(2, 32).to(DEVICE)
    x = torch.randn(2, 8, 64, device=DEVICE)
    traced = torch.jit.trace(_Pinned(block, backend), (x, padding(2, 8, "right")))
    torch.jit.save(traced, tmp_path / "block.pt")
    loaded = torch.jit.load(tmp_path / "block.pt")
    assert "PythonOp" not in str(traced.inlined_graph)
    other = torch.randn(3, 11, 64, device=DEVICE, requires_grad=True)
    mask = padding(3, 11, "right")
    want = _Pinned(block, backend)(other, mask)
    (want_grad,) = torch.autograd.grad(want[mask].sum(), other)
    for fn in (traced, loaded):
        got = fn(other, mask)
        assert (got - want)[mask].abs().max() < 1e-5
        (grad,) = torch.autograd.grad(got[mask].sum(), other)
        assert (grad - want_grad).abs().max() < 1e-5


def test_torch_compile_inductor() -> None:
    block = _Block(2, 32).to(DEVICE)
    x = torch.randn(2, 20, 64, device=DEVICE)
    mask = padding(2, 20, "right")
    got = torch.compile(block, fullgraph=True)(x, mask)
    assert (got - block(x, mask)).abs().max() < 1e-5
    got.sum().backward()
    assert all(p.grad is not None for p in block.parameters())


def test_bad_input() -> None:
    q, k, v = (t.detach() for t in inputs(2, 8, 2, 32, torch.float32))
    with pytest.raises(AttentionInputError, match=r"\(B, N, H, D\)"):
        attention(q[0], k, v)
    with pytest.raises(AttentionInputError, match="share a dtype"):
        attention(q, k.half(), v)
    with pytest.raises(AttentionInputError, match=r"dtype torch\.int64"):
        attention(q.long(), k, v)
    with pytest.raises(AttentionInputError, match="one shape"):
        attention(q, k, v[:, :5])
    with pytest.raises(AttentionInputError, match="head dim"):
        attention(q[..., :16], k[..., :16], v[..., :16], backend="triton")
    with pytest.raises(AttentionInputError, match="must be bool"):
        attention(q, k, v, key_padding_mask=torch.ones(2, 8, dtype=torch.int64, device=DEVICE))
    with pytest.raises(AttentionInputError, match="shape"):
        attention(q, k, v, key_padding_mask=torch.ones(2, 7, dtype=torch.bool, device=DEVICE))
    with pytest.raises(AttentionInputError, match="lengths must lie"):
        attention(q, k, v, lengths=torch.tensor([3, 9], device=DEVICE))
    with pytest.raises(AttentionInputError, match="not both"):
        mask = torch.ones(2, 8, dtype=torch.bool, device=DEVICE)
        attention(q, k, v, key_padding_mask=mask, lengths=torch.tensor([3, 4], device=DEVICE))
    with pytest.raises(AttentionInputError, match="dropout_p"):
        attention(q, k, v, dropout_p=1.0)
    with pytest.raises(AttentionInputError, match="backend"):
        attention(q, k, v, backend="flash")
    with pytest.raises(AttentionInputError, match=r"scale must be a number.*float\(t\)"):
        attention(q, k, v, scale=torch.tensor(0.5), backend="triton")  # type: ignore[arg-type]
    with pytest.raises(AttentionInputError, match="causal must be True or False"):
        attention(q, k, v, causal="yes")  # type: ignore[arg-type]
    if not CUDA:  # the interpreter's bf16 dot products are wrong: refused, not computed
        with pytest.raises(AttentionInputError, match="bfloat16 under TRITON_INTERPRET"):
            attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), backend="triton")
    with pytest.raises(AttentionInputError, match=r"pad: index 16 is outside the 2 x 8"):
        pad(q.reshape(16, 2, 32)[:3], torch.tensor([0, 5, 16], device=DEVICE), 2, 8)
    with pytest.raises(AttentionInputError, match="pad: indices must be a 1-D int64"):
        pad(q.reshape(16, 2, 32)[:3], torch.tensor([0.0, 5.0, 6.0], device=DEVICE), 2, 8)
    full = torch.ones(2, 8, dtype=torch.bool, device=DEVICE)
    with pytest.raises(AttentionInputError, match=r"unpad: x must be a torch.Tensor.*ndarray"):
        unpad(q.cpu().numpy(), full)  # type: ignore[arg-type]
    with pytest.raises(AttentionInputError, match=r"unpad: x must be .*got shape \(8,\)"):
        unpad(q[0, :, 0, 0], full)
    with pytest.raises(AttentionInputError, match="unpad: total must be a non-negative int"):
        unpad(q, full, total=-1)
    if not CUDA:
        with pytest.raises(AttentionInputError, match="one device"):
            attention(q, k.to("meta"), v)
    packed = q.reshape(16, 2, 32)
    cu = torch.tensor([0, 9, 5, 16], dtype=torch.int32, device=DEVICE)
    with pytest.raises(AttentionInputError, match="never decrease"):
        attention_varlen(packed, packed, packed, cu, 9)
    with pytest.raises(AttentionInputError, match="end at the token count"):
        attention_varlen(packed, packed, packed, cu[:3].clone(), 9)
    with pytest.raises(AttentionInputError, match="int32"):
        attention_varlen(packed, packed, packed, cu.long(), 9)
    with pytest.raises(AttentionInputError, match="max_seqlen"):
        ok = torch.tensor([0, 10, 16], dtype=torch.int32, device=DEVICE)
        attention_varlen(packed, packed, packed, ok, 4)
    with pytest.raises(AttentionInputError, match=r"at least \[0\]"):
        attention_varlen(packed, packed, packed, cu[:0], 4)
    for bad, name in [(2.0, "batch"), (-1, "batch"), (True, "batch")]:
        with pytest.raises(AttentionInputError, match=f"pad: {name} must be a non-negative int"):
            pad(q.reshape(16, 2, 32)[:0], torch.zeros(0, dtype=torch.int64, device=DEVICE), bad, 8)
    with pytest.raises(AttentionInputError, match="pad: seqlen must be a non-negative int"):
        pad(q.reshape(16, 2, 32)[:0], torch.zeros(0, dtype=torch.int64, device=DEVICE), 2, -8)


@pytest.mark.skipif(CUDA, reason="the hints are checked on the CPU only (free there)")
def test_wrong_unpad_hints_are_refused() -> None:
    """A wrong ``total`` repeated or dropped tokens, a short ``max_seqlen`` had the kernels
    read memory no sequence owns: the oracle is the mask itself."""
    x = torch.randn(2, 4, 3)
    mask = torch.tensor([[True, True, False, False], [True, True, True, False]])
    want = unpad(x, mask)
    got = unpad(x, mask, total=5, max_seqlen=3)  # exact hints: the same result
    assert torch.equal(got.values, want.values) and torch.equal(got.indices, want.indices)
    assert unpad(x, mask, max_seqlen=4).max_seqlen == 4  # longer only costs time
    for total in (7, 3):
        with pytest.raises(AttentionInputError, match=f"total={total} but the mask has 5"):
            unpad(x, mask, total=total)
    with pytest.raises(AttentionInputError, match="max_seqlen=2 but the longest row has 3"):
        unpad(x, mask, max_seqlen=2)


@pytest.mark.parametrize("backend", ["triton", "sdpa"])
def test_empty_batches_pack_and_attend(backend: str) -> None:
    """A batch of no sequences: unpad gives cu_seqlens [0], which attention_varlen takes
    (as attention takes B = 0), so the unpadded model path handles it as the padded one."""
    x = torch.randn(0, 5, 2, 32, device=DEVICE)
    packed = unpad(x, torch.zeros(0, 5, dtype=torch.bool, device=DEVICE))
    assert packed.cu_seqlens.tolist() == [0] and packed.values.shape == (0, 2, 32)
    out = attention_varlen(packed.values, packed.values, packed.values, packed.cu_seqlens,
                           packed.max_seqlen, backend=backend)  # fmt: skip
    assert out.shape == (0, 2, 32)
    assert pad(out, packed.indices, 0, 5).shape == (0, 5, 2, 32)
    assert attention(x, x, x, backend=backend).shape == x.shape


def test_inference_mode_call_leaves_training_working() -> None:
    """Tensors the op caches (a dense batch's rows, the zero dropout seed) were made in
    inference mode when its first call was: a later training step then failed to save
    them for backward."""
    from lexforge.ops.attention import _ZERO_SEEDS, _dense_info

    _dense_info.cache_clear()
    _ZERO_SEEDS.clear()
    q, k, v = inputs(2, 9, 2, 32, torch.float32)
    mask = padding(2, 9, "right")
    with torch.inference_mode():
        attention(q, k, v, backend="triton")
        attention(q, k, v, key_padding_mask=mask, backend="triton")
    for m in (None, mask):
        out = attention(q, k, v, key_padding_mask=m, backend="triton")
        grads = torch.autograd.grad(out.sum(), (q, k, v))
        ref = torch.autograd.grad(reference(q, k, v, m).sum(), (q, k, v))
        for a, b in zip(grads, ref, strict=True):
            assert (a - b).abs().max() < 1e-5


def test_double_backward_is_refused_not_wrong() -> None:
    """The kernels' gradients have no gradient of their own: a second derivative (a
    gradient penalty) raises instead of silently dropping the second-order term."""
    q, k, v = inputs(1, 8, 1, 32, torch.float32)
    out = attention(q, k, v, backend="triton")
    # (once_differentiable refused .backward() of the penalty, but torch.autograd.grad
    # never reached its error node and dropped the second-order term unsaid)
    with pytest.raises(RuntimeError, match="differentiable once: a second derivative"):
        torch.autograd.grad((out**2).sum(), (q,), create_graph=True)


def test_second_derivatives_of_the_reproducible_cpu_path() -> None:
    """The SDPA fallback's fixed-order softmax and layer norm (CPU, fp32/fp64, recording
    gradients) had once_differentiable backwards: a gradient penalty through
    torch.autograd.grad lost its second-order term silently (off by 14 on attention).
    They now give torch's own second derivatives."""
    from lexforge.ops import reproducible

    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 7, dtype=torch.float64, generator=g, requires_grad=True)
    weight = torch.randn(7, dtype=torch.float64, generator=g, requires_grad=True)
    bias = torch.randn(7, dtype=torch.float64, generator=g, requires_grad=True)

    def penalty(fn: Any) -> list[Any]:
        out = fn()
        grads = torch.autograd.grad((out**3).sum(), (x, weight, bias), create_graph=True,
                                    allow_unused=True)  # fmt: skip
        total = (out**2).sum() + sum((d**2).sum() for d in grads if d is not None)
        return [t if t is not None else torch.zeros(()) for t in
                torch.autograd.grad(total, (x, weight, bias), allow_unused=True)]  # fmt: skip

    for ours, theirs in (
        (lambda: reproducible.softmax(x), lambda: torch.softmax(x, -1)),
        (lambda: reproducible.layer_norm(x, (7,), weight, bias, 1e-5),
         lambda: torch.nn.functional.layer_norm(x, (7,), weight, bias, 1e-5)),
    ):  # fmt: skip
        for a, b in zip(penalty(ours), penalty(theirs), strict=True):
            torch.testing.assert_close(a, b)
    q, k, v = (t.detach().double().requires_grad_() for t in inputs(1, 6, 1, 32, torch.float32))
    assert torch.autograd.gradgradcheck(lambda q, k, v: attention(q, k, v, backend="sdpa"),
                                        (q, k, v))  # fmt: skip


def test_second_derivatives_through_sdpa_of_several_heads() -> None:
    """SDPA's fused backwards have no derivative of their own: a gradient penalty through
    backend='sdpa' (the one the Triton kernels' refusal names, and the CPU model's) failed
    with torch's "derivative for aten::_scaled_dot_product_flash_attention_for_cpu_backward
    is not implemented" whenever batch x heads > 1. It now goes through the math path."""
    q, k, v = (t.detach().double().requires_grad_() for t in inputs(2, 6, 2, 16, torch.float32))
    valid = torch.ones(2, 6, dtype=torch.bool, device=DEVICE)
    valid[1, 4:] = False

    def penalty(fn: Any) -> list[Any]:
        out = fn(q, k, v)
        grads = torch.autograd.grad((out**3).sum(), (q, k, v), create_graph=True)
        total = (out**2).sum() + sum((d**2).sum() for d in grads)
        return list(torch.autograd.grad(total, (q, k, v)))

    ours = penalty(lambda a, b, c: attention(a, b, c, key_padding_mask=valid, backend="sdpa"))
    theirs = penalty(lambda a, b, c: reference(a, b, c, valid))
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b)
    for mask in (valid, None):
        assert torch.autograd.gradgradcheck(
            lambda a, b, c, m=mask: attention(a, b, c, key_padding_mask=m, backend="sdpa"),
            (q, k, v),
        )


def test_sdpa_first_derivatives_keep_their_graph_semantics() -> None:
    """The SDPA path's first-order backward is SDPA's own graph kept inside the op: the
    same gradients, a graph that two backwards may share under retain_graph=True, and
    torch's own error for a second backward without it."""
    from torch.nn import functional as F  # noqa: N812 (torch's own spelling)

    q, k, v = inputs(2, 5, 3, 16, torch.float32)
    out = attention(q, k, v, backend="sdpa")
    plain = F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v)))
    torch.testing.assert_close(out, plain.transpose(1, 2), rtol=0, atol=0)
    loss = (out**2).sum()
    loss.backward(retain_graph=True)
    first = q.grad.clone()
    loss.backward()
    torch.testing.assert_close(q.grad, 2 * first)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()
    qh, kh, vh = (t.detach().half().requires_grad_() for t in (q, k, v))
    if DEVICE == "cpu":  # with dropout, any dtype takes the math path there (SDPA's own
        # draws follow the thread count), whose graph keeps the mask: a second derivative
        out = attention(qh, kh, vh, backend="sdpa", dropout_p=0.25)
        (g,) = torch.autograd.grad(out.float().sum(), (qh,), create_graph=True)
        assert g.requires_grad and torch.isfinite(g).all()
    # SDPA's fused kernel with dropout cannot draw its mask again: refused, not wrong
    from lexforge.ops.attention_sdpa import _FusedOnceMathTwice

    heads = (t.transpose(1, 2) for t in (qh, kh, vh))
    out = _FusedOnceMathTwice.apply(*heads, None, 0.25, 0.25)
    with pytest.raises(RuntimeError, match="set the attention dropout to 0"):
        torch.autograd.grad(out.float().sum(), (qh,), create_graph=True)


def test_sdpa_path_under_torch_func_grad() -> None:
    """``torch.func.grad`` through backend='sdpa' equals autograd's gradients (the SDPA
    path's custom Function, for second derivatives, is left out under a transform)."""
    q, k, v = inputs(2, 5, 2, 16, torch.float32)
    valid = torch.ones(2, 5, dtype=torch.bool, device=DEVICE)
    valid[0, 3:] = False

    def loss(a: Any, b: Any, c: Any) -> Any:
        return (attention(a, b, c, key_padding_mask=valid, backend="sdpa") ** 2).sum()

    ours = torch.func.grad(loss, argnums=(0, 1, 2))(q.detach(), k.detach(), v.detach())
    want = torch.autograd.grad(loss(q, k, v), (q, k, v))
    for a, b in zip(ours, want, strict=True):
        torch.testing.assert_close(a, b)


def test_dropout_draws_the_same_with_gradients_or_without() -> None:
    """The CPU fallback took SDPA's own kernel without gradients and the math path with
    them: one seed gave other bits (by 1e-6) depending on requires_grad. With dropout it
    now takes the math path either way."""
    q, k, v = inputs(2, 6, 2, 32, torch.float32)
    torch.manual_seed(4)
    with_grad = attention(q, k, v, dropout_p=0.5, backend="sdpa")
    for fixed in (True, False):  # inputs that need no gradient; gradients off
        torch.manual_seed(4)
        with torch.set_grad_enabled(not fixed):
            without = attention(q.detach(), k.detach(), v.detach(), dropout_p=0.5,
                                backend="sdpa")  # fmt: skip
        assert torch.equal(with_grad.detach(), without)


def test_more_sequences_than_a_grid_axis_holds(backward_path: str, monkeypatch: Any) -> None:
    """CUDA takes at most 65,535 blocks on grid axes 1 and 2, which batch x heads once
    filled alone (12 heads x 5,462 sequences failed to launch). The (sequence, head)
    programs now spread over both axes; with the limit lowered to 5 here, 3 x 4 = 12
    programs take a 5 x 3 grid, and output, gradients and dropout are bitwise the same."""
    from lexforge.kernels import attention as kernels
    from lexforge.ops.attention import _padded_info

    q, k, v = inputs(3, 21, 4, 32, torch.float32)
    mask = padding(3, 21, "holes")
    g = torch.randn(q.shape, generator=torch.Generator().manual_seed(1)).to(DEVICE)

    def run() -> list[Any]:
        torch.manual_seed(5)
        out = attention(q, k, v, key_padding_mask=mask, dropout_p=0.2, backend="triton")
        packed = [unpad(t, mask) for t in (q, k, v)]
        cu, longest = packed[0].cu_seqlens, packed[0].max_seqlen
        varlen = attention_varlen(*(p.values for p in packed), cu, longest, backend="triton")
        info = _padded_info(mask, None, mask, 3, 21, 21, q.device)
        keep = kernels.dropout_keep(info, 4, 21, 21, 0.2, 11, q.device)
        return [out, *torch.autograd.grad(out, (q, k, v), g), varlen, keep]

    plain = run()
    monkeypatch.setattr(kernels, "_GRID_YZ", 5)
    assert kernels._bh_grid(12) == (5, 3)
    split = run()
    for a, b in zip(plain, split, strict=True):
        assert torch.equal(a, b)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("dim", [32, 64, 128])
def test_gpu_bf16_and_larger_shapes(dtype: Any, dim: int) -> None:
    for n in (333, 100):  # the split backward, then the fused one (one key tile)
        for kind in ("none", "right", "holes"):
            for causal in (False, True):
                run_case(4, n, 4, dim, dtype, kind, causal)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("dim", [32, 64, 128])
def test_gpu_short_forward(dtype: Any, dim: int, monkeypatch: Any) -> None:
    """The short-sequence forward at BERT's lengths (tiles of 128 and 64 positions), the
    tiled kernel refused: natively, every (sequence, head) pair walked by a persistent grid
    of one program per multiprocessor or so."""
    from lexforge.kernels import attention as kernels

    monkeypatch.setattr(kernels, "short_forward_max_len", 128)
    monkeypatch.setattr(kernels, "_fwd_kernel", _Refuse("the tiled forward"))
    for n in (128, 100, 33):  # tiles of 128 (a whole one, a partial one) and of 64
        for kind in ("none", "right", "holes"):
            for causal in (False, True):
                run_case(4, n, 4, dim, dtype, kind, causal)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_gpu_cuda_graph_replays_draw_fresh_dropout() -> None:
    """The dropout seed lives on the device: a captured forward and backward with dropout
    draws a new mask at each replay (a host seed would be frozen into the graph), and each
    replay's gradients are those of an eager call that draws the same seed."""
    q, k, v = inputs(2, 100, 4, 64, torch.bfloat16)
    mask = torch.ones(2, 100, dtype=torch.bool, device="cuda")
    mask[1, 60:] = False
    grad = torch.randn_like(q)

    def step() -> torch.Tensor:
        for t in (q, k, v):
            t.grad = None
        out = attention(q, k, v, key_padding_mask=mask, dropout_p=0.3)
        out.backward(grad)
        return out

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):  # warm-up (autotuning) outside the capture
            step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static = step()
    outputs, grads = [], []
    for _ in range(2):
        torch.manual_seed(7)  # reseeds the CUDA generator the capture draws from
        graph.replay()
        torch.cuda.synchronize()
        outputs.append(static.clone())
        grads.append(q.grad.clone())
    torch.manual_seed(7)
    eager = step()
    # the same generator state, the same draw: replay and eager agree
    assert torch.equal(outputs[0], eager) and torch.equal(grads[0], q.grad)
    graph.replay()  # no reseed: a fresh draw, a different mask
    torch.cuda.synchronize()
    assert not torch.equal(static, outputs[0])


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_gpu_more_than_65535_sequence_heads_launch() -> None:
    """12 heads x 5,462 sequences: past CUDA's 65,535 blocks on a grid's second axis (the
    launch failed with 'invalid argument' when batch x heads filled it alone)."""
    q, k, v = inputs(5462, 16, 12, 32, torch.float16)
    mask = torch.rand(5462, 16, device="cuda") < 0.8
    out = attention(q, k, v, key_padding_mask=mask, backend="triton")
    want = attention(q, k, v, key_padding_mask=mask, backend="sdpa")
    assert (out - want).abs().max() < 2e-3
    grads = torch.autograd.grad(out.float().sum(), (q, k, v))
    ref = torch.autograd.grad(want.float().sum(), (q, k, v))
    for a, b in zip(grads, ref, strict=True):
        assert (a - b).abs().max() < 5e-3
    packed = [unpad(t, mask) for t in (q, k, v)]
    varlen = attention_varlen(*(p.values for p in packed), packed[0].cu_seqlens,
                              packed[0].max_seqlen, backend="triton")  # fmt: skip
    assert (varlen - want[mask]).abs().max() < 2e-3
