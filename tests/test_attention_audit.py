"""Attention inputs an audit found answered badly: sparse tensors (a raw RuntimeError from
deep inside), ``max_seqlen=True`` (taken as 1), an additive float mask (whose suggested
fix, ``.bool()``, would have inverted it); and ``torch.compile`` with dynamic shapes,
whose sizes reach the op as symbols. Both paths: the Triton kernels (under
TRITON_INTERPRET=1 on the CPU) and the SDPA fallback, against float64.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from typing import Any

import pytest

torch = pytest.importorskip("torch")
CUDA = torch.cuda.is_available()
if not CUDA:  # before triton is imported: it reads the switch once
    os.environ["TRITON_INTERPRET"] = "1"
pytest.importorskip("triton")

from lexforge.errors import AttentionInputError  # noqa: E402
from lexforge.ops import attention, attention_varlen, unpad  # noqa: E402

DEVICE = "cuda" if CUDA else "cpu"
BACKENDS = ["triton", "sdpa"]


def reference(q: Any, k: Any, v: Any, valid: Any, causal: bool) -> Any:
    """Attention written out in float64, (B, N, H, D); padded query rows give 0."""
    q, k, v = (t.double() for t in (q, k, v))
    s = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(q.shape[-1])
    ok = torch.ones(s.shape[-2:], dtype=torch.bool, device=q.device)
    ok = (ok.tril() if causal else ok)[None, None] & valid[:, None, None, :]
    probs = torch.nan_to_num(torch.softmax(s.masked_fill(~ok, float("-inf")), -1), nan=0.0)
    out = torch.einsum("bhqk,bkhd->bqhd", probs, v)
    return out.masked_fill(~valid[:, :, None, None], 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_inputs_are_refused_by_name(backend: str) -> None:
    q, k, v = (torch.randn(2, 5, 2, 32, device=DEVICE) for _ in range(3))
    with pytest.raises(AttentionInputError, match=r"q must be a dense .*to_dense"):
        attention(q.to_sparse(), k, v, backend=backend)
    mask = torch.ones(2, 5, dtype=torch.bool, device=DEVICE).to_sparse()
    with pytest.raises(AttentionInputError, match=r"key_padding_mask must be a dense"):
        attention(q, k, v, key_padding_mask=mask, backend=backend)


def test_max_seqlen_must_be_an_int_not_a_bool() -> None:
    packed = torch.randn(1, 2, 32, device=DEVICE)
    cu = torch.tensor([0, 1], dtype=torch.int32, device=DEVICE)
    with pytest.raises(AttentionInputError, match="max_seqlen must be a non-negative int"):
        attention_varlen(packed, packed, packed, cu, True, check=False)


def test_an_additive_float_mask_is_told_its_own_fix() -> None:
    q, k, v = (torch.randn(2, 5, 2, 32, device=DEVICE) for _ in range(3))
    additive = torch.zeros(2, 5, device=DEVICE)
    additive[0, 3:] = -10_000.0
    with pytest.raises(AttentionInputError, match=r"additive_mask == 0") as caught:
        attention(q, k, v, key_padding_mask=additive)
    assert "additive" not in str(caught.value).split(".bool()")[0]
    # the fix it names gives the mask meant
    got = attention(q, k, v, key_padding_mask=additive == 0)
    assert (got.double() - reference(q, k, v, additive == 0, False)).abs().max() < 2e-5
    with pytest.raises(AttentionInputError, match=r"\.bool\(\) for a 0/1 mask$"):
        attention(q, k, v, key_padding_mask=torch.ones(2, 5, dtype=torch.int64, device=DEVICE))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fullgraph_compile_with_dynamic_shapes(backend: str) -> None:
    """A projection and the op, compiled once with symbolic batch and length, run two
    shapes with a padding mask and causal attention as eager does, forward and backward."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    qkv = torch.nn.Linear(64, 3 * 64).to(DEVICE)

    def block(x: Any, mask: Any) -> Any:
        b, n, _ = x.shape
        q, k, v = qkv(x).view(b, n, 3, 2, 32).unbind(2)
        out = attention(q, k, v, key_padding_mask=mask, causal=True, backend=backend)
        return out.reshape(b, n, -1)

    compiled = torch.compile(block, backend="aot_eager", fullgraph=True, dynamic=True)
    for batch, n in [(2, 9), (3, 13)]:
        x = torch.randn(batch, n, 64, device=DEVICE)
        mask = torch.rand(batch, n, device=DEVICE) < 0.7
        mask[0, :3] = False  # left padding
        mask[-1] = False  # a sequence with no real token
        want = block(x, mask)
        got = compiled(x, mask)
        assert (got - want).abs().max() < 1e-6
        assert (got.view(batch, n, 2, 32)[~mask] == 0).all()
        grads = torch.autograd.grad(got.sum(), list(qkv.parameters()))
        wants = torch.autograd.grad(want.sum(), list(qkv.parameters()))
        for a, b in zip(grads, wants, strict=True):
            assert torch.isfinite(a).all() and (a - b).abs().max() < 1e-5


@pytest.mark.parametrize("n", [5, 40])  # under the interpreter: the short kernel, the tiled
def test_nan_in_real_tokens_reaches_the_output_as_sdpas_does(n: int) -> None:
    """A NaN in a real query gives that row NaN, in a real key every row of its sequence
    (head 0 only): as SDPA does, not the zero rows of a sequence with no key. Padding is
    never read, so a NaN there changes nothing, and fully padded rows stay 0."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, n, 2, 32, device=DEVICE) for _ in range(3))
    valid = torch.ones(3, n, dtype=torch.bool, device=DEVICE)
    valid[1, n // 2 :] = False
    valid[2] = False
    q[0, 1, 0, 3] = float("nan")
    k[1, 0, 0, 7] = float("nan")
    q[1, -1, 1, 0] = k[1, -1, 1, 0] = v[1, -1, 1, 0] = float("nan")  # padding
    got, want = (attention(q, k, v, key_padding_mask=valid, backend=b) for b in BACKENDS)
    nan = torch.zeros_like(got, dtype=torch.bool)
    nan[0, 1, 0] = True
    nan[1, : n // 2, 0] = True
    assert torch.equal(got.isnan(), nan) and torch.equal(want.isnan(), nan)
    assert not got[2].any() and not got[1, n // 2 :].any()
    fine = ~nan
    assert (got[fine] - want[fine]).abs().max() < 2e-5


def test_nan_reaches_the_output_without_a_mask_too() -> None:
    """With no mask, the SDPA path handed the call to torch's CPU flash kernel, which gives
    a row whose scores hold a NaN zeros: a NaN in a query came back as a row of 0.0 (with
    an all-True mask, the same math, it was NaN). Every backend now gives the NaN, with
    and without gradients, one head or several."""
    torch.manual_seed(0)
    for heads in (1, 2):
        q, k, v = (torch.randn(2, 5, heads, 32, device=DEVICE) for _ in range(3))
        q[0, 2, 0, 3] = float("nan")
        full = torch.ones(2, 5, dtype=torch.bool, device=DEVICE)
        for b in BACKENDS:
            for grad in (False, True):
                got = attention(q.clone().requires_grad_(grad), k, v, backend=b)
                masked = attention(q, k, v, key_padding_mask=full, backend=b)
                assert torch.equal(got.isnan(), masked.isnan()), (b, heads, grad)
                assert got[0, 2, 0].isnan().all() and not got[1].isnan().any(), (b, heads)


def test_offsets_past_the_tokens_are_clamped_not_followed() -> None:
    """``cu_seqlens`` that ``check=False`` (or ``torch.compile``) lets through unread are
    clamped into [0, total_tokens]: an offset past the end, a negative one, or offsets
    that decrease give the rows of the clamped offsets, forward and backward, and no
    read or write outside q, k, v (which once corrupted the heap: run in a child)."""
    code = f"""
import os
if {not CUDA}:
    os.environ["TRITON_INTERPRET"] = "1"
import torch
from lexforge.ops import attention_varlen
torch.manual_seed(0)
q, k, v = (torch.randn(9, 2, 32, device={DEVICE!r}, requires_grad=True) for _ in range(3))
def run(cu, fn=attention_varlen):
    cu = torch.tensor(cu, dtype=torch.int32, device={DEVICE!r})
    out = fn(q, k, v, cu, 9, backend="triton", check=False)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    return [out.detach(), *grads]
def same(a, b):
    return all(torch.allclose(x, y, atol=1e-5) for x, y in zip(a, b))
good = run([0, 4, 9])
print(same(run([0, 4, 10**6]), good), same(run([-50, 4, 9]), good))
print(same(run([0, 9, 4]), run([0, 9, 9])), same(run([0, 2**31 - 1, 9]), run([0, 9, 9])))
compiled = torch.compile(attention_varlen, fullgraph=True)
print(same(run([0, 4, 10**6], compiled), good), same(run([0, 9, 4], compiled), run([0, 9, 9])))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-3000:])
    assert done.stdout.split() == ["True"] * 6, done.stdout + done.stderr[-3000:]


def test_numbers_from_numpy_and_scale_bounds() -> None:
    np = pytest.importorskip("numpy")
    q, k, v = (torch.randn(1, 4, 1, 32, device=DEVICE) for _ in range(3))
    for backend in BACKENDS:
        got = attention(q, k, v, scale=np.float32(0.25), backend=backend)
        assert torch.allclose(got, attention(q, k, v, scale=0.25, backend=backend))
    with pytest.raises(AttentionInputError, match=r"scale must be a positive finite .*below"):
        attention(q, k, v, scale=3e38)
    with pytest.raises(AttentionInputError, match=r"check must be True or False"):
        cu = torch.tensor([0, 4], dtype=torch.int32, device=DEVICE)
        attention_varlen(q[0], k[0], v[0], cu, 4, check="no")  # type: ignore[arg-type]
    with pytest.raises(AttentionInputError, match=r"float64.*backend='sdpa'"):
        attention(q.double(), k.double(), v.double(), backend="triton")
    mask = torch.ones(1, 4, dtype=torch.bool, device="meta")
    with pytest.raises(AttentionInputError, match=r"on meta, x on .*key_padding_mask\.to"):
        unpad(q, mask)
