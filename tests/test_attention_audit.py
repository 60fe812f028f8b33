"""Attention inputs an audit found answered badly: sparse tensors (a raw RuntimeError from
deep inside), ``max_seqlen=True`` (taken as 1), an additive float mask (whose suggested
fix, ``.bool()``, would have inverted it); and ``torch.compile`` with dynamic shapes,
whose sizes reach the op as symbols. Both paths: the Triton kernels (under
TRITON_INTERPRET=1 on the CPU) and the SDPA fallback, against float64.
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
from lexforge.ops import attention, attention_varlen  # noqa: E402

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
