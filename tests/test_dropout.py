"""``lexforge.ops.dropout``: the CPU's keep-flags from 16-bit draws. The oracle is the
definition: each value kept with probability 1 - rate (rate = p rounded to 1/65536),
independently, and scaled by 1/(1 - rate); the gradient is the same mask and scale; a
seed fixes the flags at any thread count; torch's own dropout elsewhere."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from lexforge.ops.dropout import Dropout, dropout, dropout_rate16  # noqa: E402


@pytest.mark.parametrize("p", [0.1, 0.5, 0.013])
def test_the_rate_the_scale_and_independence(p: float) -> None:
    torch.manual_seed(0)
    n = 400_000
    x = torch.rand(n) + 0.5  # (no zeros of its own)
    y = dropout(x, p)
    dropped = y == 0
    rate = dropout_rate16(p)
    assert abs(rate - p) <= 2**-17
    # within 5 standard deviations of the rate
    assert abs(float(dropped.float().mean()) - rate) < 5 * math.sqrt(rate * (1 - rate) / n)
    kept = ~dropped
    assert torch.allclose(y[kept], x[kept] / (1 - rate), rtol=1e-6)
    # neighbours (the four flags of one 64-bit draw among them) are independent
    for lag in (1, 2, 3, 4):
        a, b = dropped[:-lag].float(), dropped[lag:].float()
        both = float((a * b).mean())
        assert abs(both - rate * rate) < 5 * math.sqrt(rate * rate / (n - lag)) + 1e-4


def test_the_gradient_is_the_mask_and_a_seed_fixes_it_at_any_thread_count() -> None:
    x = torch.randn(7, 33, 10, requires_grad=True)  # (an odd size: the last draw is cut)
    threads = torch.get_num_threads()
    outs = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            torch.manual_seed(5)
            outs.append(dropout(x, 0.3))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(outs[0], outs[1])
    (grad,) = torch.autograd.grad(outs[0].sum(), x)
    scale = 1 / (1 - dropout_rate16(0.3))
    expected = (outs[0] != 0).float() * scale
    assert torch.allclose(grad, expected)
    torch.manual_seed(6)
    assert not torch.equal(dropout(x, 0.3), outs[0])  # another seed, other flags


def test_evaluation_zero_rate_and_the_module() -> None:
    x = torch.randn(4, 5)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    assert dropout(x, 1e-7) is x  # (rounds to a rate of 0)
    module = Dropout(0.25)
    assert isinstance(module, torch.nn.Dropout)
    assert torch.equal(module.eval()(x), x)
    torch.manual_seed(1)
    got = module.train()(x)
    torch.manual_seed(1)
    assert torch.equal(got, dropout(x, 0.25))
    half = dropout(torch.ones(1000, dtype=torch.bfloat16), 0.5)  # (CPU half precision)
    assert half.dtype == torch.bfloat16 and set(half.unique().tolist()) <= {0.0, 2.0}


def test_torch_func_transforms_take_torchs_own_dropout() -> None:
    """Under vmap, draws are per batch entry (randomness='different'), which torch's own
    dropout supports and raw draws in the function would not."""
    x = torch.ones(3, 1000)
    out = torch.func.vmap(lambda row: dropout(row, 0.5), randomness="different")(x)
    assert out.shape == x.shape and not torch.equal(out[0], out[1])
