"""The public attention op (``attention``, ``attention_varlen``, ``unpad``, ``pad``) on
inputs a demanding caller gives it: strided views, empty and length-1 batches, masks of
any layout, arguments that change under ``torch.compile``, masks made in inference mode,
autocast. Both paths (the Triton kernels, under TRITON_INTERPRET=1 on the CPU, and the
SDPA fallback) against attention written out in float64.

Shapes are tiny: the interpreter runs every program of a kernel in Python.
"""

from __future__ import annotations

import math
import os
from typing import Any

import pytest

torch = pytest.importorskip("torch")
CUDA = torch.cuda.is_available()
if not CUDA:  # before triton is imported: it reads the switch once
    os.environ["TRITON_INTERPRET"] = "1"
pytest.importorskip("triton")

from lexforge.errors import AttentionInputError  # noqa: E402
from lexforge.ops import attention, attention_varlen, pad, unpad  # noqa: E402

DEVICE = "cuda" if CUDA else "cpu"
BACKENDS = ["triton", "sdpa"]
TOL = 2e-5  # float32 against float64, at these sizes


def reference(
    q: Any, k: Any, v: Any, valid: Any = None, causal: bool = False, scale: Any = None
) -> Any:
    """Attention written out in float64, (B, N, H, D) in and out; padded query rows and
    rows with no real key give 0."""
    q, k, v = (t.double() for t in (q, k, v))
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = (q.transpose(1, 2) @ k.transpose(1, 2).transpose(-1, -2)) * scale
    ok = torch.ones(s.shape[-2:], dtype=torch.bool, device=q.device)
    ok = (ok.tril() if causal else ok)[None, None].expand(s.shape).clone()
    if valid is not None:
        ok &= valid[:, None, None, :]
    probs = torch.nan_to_num(torch.softmax(s.masked_fill(~ok, float("-inf")), dim=-1), nan=0.0)
    out = (probs @ v.transpose(1, 2)).transpose(1, 2)
    if valid is not None:
        out = out.masked_fill(~valid[:, :, None, None], 0.0)
    return out


def assert_matches_reference(
    q: Any, k: Any, v: Any, backend: str, valid: Any = None, tol: float = TOL, **options: Any
) -> None:
    """The op's output and gradients (q, k, v as given: any strides) against float64."""
    q, k, v = (t.detach().requires_grad_() for t in (q, k, v))
    out = attention(q, k, v, key_padding_mask=valid, backend=backend, **options)
    assert out.shape == q.shape and out.dtype == q.dtype
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1)).to(out)
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    exact = reference(q64, k64, v64, valid, options.get("causal", False), options.get("scale"))
    if not out.numel():
        return
    assert (out.double() - exact).abs().max().item() <= tol
    grads = torch.autograd.grad(out, (q, k, v), g)
    exact_grads = torch.autograd.grad(exact, (q64, k64, v64), g.double())
    for name, ours, truth in zip("qkv", grads, exact_grads, strict=True):
        assert not torch.isnan(ours).any(), name
        assert (ours.double() - truth).abs().max().item() <= tol, name


def qkv(batch: int, n: int, heads: int, dim: int, layout: str = "contiguous") -> Any:
    """q, k, v in one of the layouts a model hands the op (all views, no copies)."""
    g = torch.Generator().manual_seed(batch * 100 + n)

    def randn(*shape: int) -> Any:
        return torch.randn(shape, generator=g).to(DEVICE)

    if layout == "split":  # one packed projection split along the last dim
        return randn(batch, n, heads, 3 * dim).split(dim, dim=-1)
    if layout == "unbind":  # .view(B, N, 3, H, D).unbind(2)
        return randn(batch, n, 3, heads, dim).unbind(2)
    if layout == "transposed":  # (B, H, N, D) tensors seen as (B, N, H, D)
        return [randn(batch, heads, n, dim).transpose(1, 2) for _ in range(3)]
    if layout == "expanded":  # stride 0 over batch and heads
        return [randn(1, n, 1, dim).expand(batch, n, heads, dim) for _ in range(3)]
    if layout == "offset":  # views that start inside a larger storage
        base = randn(3 * batch + 1, n, heads, dim)
        return [base[1 + i * batch : 1 + (i + 1) * batch] for i in range(3)]
    return [randn(batch, n, heads, dim) for _ in range(3)]


def holes(batch: int, n: int) -> Any:
    """Left padding, holes with right padding, and a fully padded row."""
    mask = torch.ones(batch, n, dtype=torch.bool)
    mask[0, : n // 3] = False
    mask[1, 2:5] = False
    mask[1, -2:] = False
    mask[-1] = False
    return mask.to(DEVICE)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layout", ["split", "unbind", "transposed", "expanded", "offset"])
def test_strided_views_match_float64(layout: str, backend: str) -> None:
    q, k, v = qkv(3, 11, 2, 32, layout)
    assert_matches_reference(q, k, v, backend)
    assert_matches_reference(q, k, v, backend, valid=holes(3, 11), causal=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(0, 9, 2, 32), (2, 0, 2, 32), (2, 1, 2, 32), (2, 9, 1, 32)])
def test_empty_and_length_one_batches(shape: tuple[int, ...], backend: str) -> None:
    q, k, v = (torch.randn(shape, device=DEVICE) for _ in range(3))
    assert_matches_reference(q, k, v, backend)
    full = torch.ones(shape[:2], dtype=torch.bool, device=DEVICE)
    assert_matches_reference(q, k, v, backend, valid=full, causal=True)
    assert_matches_reference(q, k, v, backend, valid=~full)  # no real token: zeros


@pytest.mark.parametrize("backend", BACKENDS)
def test_masks_of_any_layout_and_lengths_of_either_int_type(backend: str) -> None:
    q, k, v = qkv(3, 9, 2, 32)
    mask = holes(3, 9)
    interleaved = torch.stack([mask, ~mask], dim=2).flatten(1)[:, ::2]  # stride (18, 2)
    transposed = mask.t().contiguous().t()  # stride (1, 3)
    for layout in (interleaved, transposed, mask[:1].expand(3, 9)):
        assert_matches_reference(q, k, v, backend, valid=layout, causal=True)
    lens = torch.tensor([9, 4, 0], device=DEVICE)
    valid = torch.arange(9, device=DEVICE)[None, :] < lens[:, None]
    for dtype in (torch.int64, torch.int32):
        got = attention(q, k, v, lengths=lens.to(dtype), backend=backend)
        assert torch.equal(got, attention(q, k, v, key_padding_mask=valid, backend=backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fullgraph_compile_takes_a_scale_that_changes(backend: str) -> None:
    """The second value of a float argument makes dynamo trace it as a symbolic float,
    which ``math.isfinite`` in the option checks could not take: a fullgraph compile
    failed with 'torch.* op returned non-Tensor' on the second call."""
    torch._dynamo.reset()
    q, k, v = qkv(2, 9, 2, 32)

    def run(q: Any, k: Any, v: Any, scale: float, dropout_p: float) -> Any:
        return attention(q, k, v, scale=scale, dropout_p=dropout_p, backend=backend)

    compiled = torch.compile(run, backend="aot_eager", fullgraph=True)
    for scale, dropout_p in [(0.5, 0.0), (0.25, 0.0), (0.25, 0.1), (0.25, 0.2)]:
        torch.manual_seed(3)
        got = compiled(q, k, v, scale, dropout_p)
        torch.manual_seed(3)
        assert torch.equal(got, run(q, k, v, scale, dropout_p))
    with pytest.raises(AttentionInputError, match="positive finite"):
        attention(q, k, v, scale=float("nan"), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fullgraph_compile_of_varlen_and_pad(backend: str) -> None:
    """``attention_varlen`` and ``pad`` check their offsets and indices by reading them,
    which a fullgraph compile cannot trace ('Could not guard on data-dependent
    expression'): under compile they trust them, as ``lengths`` does, and give the eager
    result."""
    torch._dynamo.reset()
    mask = holes(3, 9)
    q, k, v = qkv(3, 9, 2, 32)
    packed = [unpad(t, mask) for t in (q, k, v)]
    cu, idx, longest = packed[0].cu_seqlens, packed[0].indices, packed[0].max_seqlen

    def run(q: Any, k: Any, v: Any, cu: Any, idx: Any) -> Any:
        out = attention_varlen(q, k, v, cu, longest, causal=True, backend=backend)
        return pad(out, idx, 3, 9)

    compiled = torch.compile(run, backend="aot_eager", fullgraph=True)
    args = (*(t.values for t in packed), cu, idx)
    assert torch.equal(compiled(*args), run(*args))


@pytest.mark.parametrize("backend", BACKENDS)
def test_mask_made_in_inference_mode_trains(backend: str) -> None:
    """A mask a data pipeline built under ``torch.inference_mode()``: the Triton path saved
    it for the backward and failed ('Inference tensors cannot be saved for backward')
    where the SDPA path trained."""
    q, k, v = qkv(3, 9, 2, 32)
    with torch.inference_mode():
        mask = holes(3, 9)
    assert_matches_reference(q, k, v, backend, valid=mask)
    with torch.inference_mode():  # and inference itself still takes it
        assert attention(q, k, v, key_padding_mask=mask, backend=backend).shape == q.shape


@pytest.mark.parametrize("backend", BACKENDS)
def test_autocast_leaves_the_dtype_and_numbers_alone(backend: str) -> None:
    """SDPA is on autocast's lower-precision list: under autocast the fallback returned
    half precision (and half-precision numbers) where the kernels return q's dtype."""
    q, k, v = qkv(2, 9, 2, 32)
    mask = holes(2, 9)
    low = torch.float16 if CUDA else torch.bfloat16
    with torch.autocast(DEVICE, dtype=low):
        assert_matches_reference(q, k, v, backend, valid=mask, causal=True)
        pq, pk, pv = (unpad(t, mask) for t in (q, k, v))
        out = attention_varlen(
            pq.values, pk.values, pv.values, pq.cu_seqlens, pq.max_seqlen, backend=backend
        )
    assert out.dtype == torch.float32
    exact = reference(q, k, v, mask)
    assert (pad(out, pq.indices, 2, 9).double() - exact).abs().max() <= TOL


def test_wrong_integer_types_are_named_with_the_fix() -> None:
    q, k, v = qkv(2, 8, 2, 32)
    packed = q.reshape(16, 2, 32)
    cu = torch.tensor([0, 9, 16], device=DEVICE)  # int64, as torch.tensor makes it
    with pytest.raises(AttentionInputError, match=r"got torch\.int64 .*cu_seqlens\.int\(\)"):
        attention_varlen(packed, packed, packed, cu, 9)
    with pytest.raises(AttentionInputError, match=r"got torch\.float32 .*lengths\.long\(\)"):
        attention(q, k, v, lengths=torch.tensor([8.0, 3.0], device=DEVICE))


def test_unpad_pad_round_trip_with_fully_padded_rows() -> None:
    q, k, v = qkv(3, 9, 2, 32)
    mask = holes(3, 9)
    for backend in BACKENDS:
        pq, pk, pv = (unpad(t, mask) for t in (q, k, v))
        assert pq.cu_seqlens.tolist() == [0, *mask.sum(1).cumsum(0).tolist()]
        out = attention_varlen(
            pq.values, pk.values, pv.values, pq.cu_seqlens, pq.max_seqlen,
            causal=True, backend=backend,
        )  # fmt: skip
        back = pad(out, pq.indices, 3, 9)
        # packing keeps the real tokens in order: causal attention over the packed
        # sequences sees the keys the mask's causal attention sees
        exact = reference(q, k, v, mask, causal=True)
        assert (back.double() - exact).abs().max() <= TOL
        assert (back[~mask] == 0).all()


def test_short_forward_ignores_non_finite_padding_inside_the_mask(monkeypatch: Any) -> None:
    from lexforge.kernels import attention as kernels

    monkeypatch.setattr(kernels, "short_forward_max_len", 64)
    monkeypatch.setattr(kernels, "_short_unfit", set())
    mask = holes(3, 20)
    q, k, v = qkv(3, 20, 2, 32)
    dirty = [t.masked_fill(~mask[:, :, None, None], float("nan")) for t in (q, k, v)]
    clean = [t.masked_fill(~mask[:, :, None, None], 0.0) for t in (q, k, v)]
    got = attention(*dirty, key_padding_mask=mask, backend="triton")
    assert torch.equal(got, attention(*clean, key_padding_mask=mask, backend="triton"))


@pytest.mark.parametrize("grad", [True, False])
def test_sdpa_is_never_given_a_row_without_keys(monkeypatch: Any, grad: bool) -> None:
    """Causal attention over left padding leaves real rows with no key at or before them.
    SDPA gave those rows NaN before torch 2.5, and NaN gradients to q, k and v through
    them; the fallback gives SDPA none (such a row attends to everything, then is zeroed)
    and the rows are 0 with finite gradients whatever torch does with an empty row."""
    from lexforge.ops import attention_sdpa

    real_sdpa = attention_sdpa.F.scaled_dot_product_attention
    empty_rows: list[bool] = []

    def sdpa(q: Any, k: Any, v: Any, attn_mask: Any = None, **kw: Any) -> Any:
        if attn_mask is not None:
            empty_rows.append(bool((~attn_mask.any(-1)).any()))
        return real_sdpa(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(attention_sdpa.F, "scaled_dot_product_attention", sdpa)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 6, 2, 8, generator=g, requires_grad=grad) for _ in range(3))
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, :3] = False  # left padding: rows 3-5 of row 1 are real, keys 0-2 padding
    mask[0, 0] = False
    out = attention(q, k, v, key_padding_mask=mask, causal=True, backend="sdpa")
    assert empty_rows == [False]
    want = torch.zeros_like(out)
    for b in range(2):  # a float64 oracle per row: real keys at or before the query
        for i in range(6):
            keys = [j for j in range(6) if mask[b, j] and j <= i]
            if mask[b, i] and keys:
                s = torch.einsum("hd,khd->kh", q[b, i].double(), k[b, keys].double())
                p = torch.softmax(s / math.sqrt(8), dim=0)
                want[b, i] = torch.einsum("kh,khd->hd", p, v[b, keys].double()).float()
    assert (out - want).abs().max() < 1e-5
    if grad:
        out.sum().backward()
        assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
