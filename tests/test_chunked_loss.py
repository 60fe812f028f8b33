"""The MLM head scored in chunks (``model.chunked_loss``, which pretraining on the CPU takes):
the same summed cross-entropy, accuracy count and gradients as the head scored whole
(``F.cross_entropy`` over the full logits, the oracle), at any chunking, with frozen
inputs, and the same bits at any CPU thread count; through the model, a layout asking
for the loss alone gives the whole path's loss and gradients and no logits."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")

from torch.nn import functional as F  # noqa: E402, N812 (torch's own spelling)

import lexforge.model.chunked_loss as chunked_loss  # noqa: E402
from lexforge.model import BertConfig, BertForMaskedLM, BertForPreTraining  # noqa: E402
from lexforge.model.bert import BatchLayout  # noqa: E402


def _inputs(n: int, hidden: int, vocab: int, dtype: Any, seed: int = 0) -> tuple[Any, ...]:
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, hidden, generator=g, dtype=dtype).requires_grad_()
    w = (torch.randn(vocab, hidden, generator=g, dtype=dtype) * 0.5).requires_grad_()
    b = (torch.randn(vocab, generator=g, dtype=dtype) * 0.1).requires_grad_()
    targets = torch.randint(0, vocab, (n,), generator=g)
    return h, w, b, targets


def _whole(h: Any, w: Any, b: Any, targets: Any) -> tuple[Any, Any]:
    logits = torch.addmm(b, h, w.t())
    return F.cross_entropy(logits, targets, reduction="sum"), (logits.argmax(1) == targets).sum()


@pytest.mark.parametrize("chunk_bytes", [1, 3 * 97 * 8, 40 * 97 * 8, 1 << 30])
def test_chunks_give_the_whole_heads_loss_count_and_gradients(
    chunk_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chunks of one row, of three (the last one shorter), of forty, and one chunk
    monkeypatch.setattr(chunked_loss, "CHUNK_BYTES", chunk_bytes)
    h, w, b, targets = _inputs(101, 24, 97, torch.float64)
    want_loss, want_correct = _whole(h, w, b, targets)
    (want_loss * 0.37).backward()
    want = [x.grad.clone() for x in (h, w, b)]
    for x in (h, w, b):
        x.grad = None
    loss, correct = chunked_loss.loss(h, w, b, targets)
    (loss * 0.37).backward()
    assert torch.allclose(loss, want_loss, rtol=1e-12, atol=1e-10)
    assert int(correct) == int(want_correct) and correct.dtype == torch.long
    for got, expected in zip((h.grad, w.grad, b.grad), want, strict=True):
        assert torch.allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_frozen_inputs_get_no_gradient() -> None:
    h, w, b, targets = _inputs(40, 16, 50, torch.float64)
    w.requires_grad_(False)
    b.requires_grad_(False)
    loss, _ = chunked_loss.loss(h, w, b, targets)
    loss.backward()
    assert w.grad is None and b.grad is None and h.grad is not None
    h2 = h.detach().requires_grad_()
    _whole(h2, w, b, targets)[0].backward()
    assert torch.allclose(h.grad, h2.grad, rtol=1e-10, atol=1e-12)


def test_the_same_bits_at_any_thread_count() -> None:
    before = torch.get_num_threads()
    h, w, b, targets = _inputs(300, 64, 3000, torch.float32, seed=1)
    runs = []
    try:
        for threads in (1, 2, 1):
            torch.set_num_threads(threads)
            for x in (h, w, b):
                x.grad = None
            loss, correct = chunked_loss.loss(h, w, b, targets)
            loss.backward()
            runs.append([loss.detach().clone(), correct, h.grad, w.grad, b.grad])
    finally:
        torch.set_num_threads(before)
    for other in runs[1:]:
        for x, y in zip(runs[0], other, strict=True):
            assert torch.equal(x, y)


def test_only_the_cpu_in_full_precision_with_gradients_takes_it() -> None:
    h, w, _, _ = _inputs(300, 64, 3000, torch.float32)
    assert chunked_loss.usable(h, w)
    assert not chunked_loss.usable(h.detach(), w.detach())  # nothing to differentiate
    with torch.no_grad():
        assert not chunked_loss.usable(h, w)
    assert not chunked_loss.usable(h.half(), w.half())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not chunked_loss.usable(h, w)
    small_h, small_w, _, _ = _inputs(3, 8, 50, torch.float32)  # under ops.linear's budget
    assert not chunked_loss.usable(small_h, small_w)


def _model_and_batch(kind: Any, num_layers: int) -> tuple[Any, ...]:
    """A model with BERT's vocabulary size and a padded batch with 40% of its real tokens
    labelled: the model, ids, attention mask, labels and the labelled flat positions."""
    config = BertConfig(vocab_size=3000, hidden_size=64, num_layers=num_layers, num_heads=2,
                        intermediate_size=128, max_position_embeddings=64,
                        hidden_dropout=0.0, attention_dropout=0.0)  # fmt: skip
    torch.manual_seed(0)
    model = kind(config)
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(5, 3000, (8, 48), generator=g)
    mask = torch.ones_like(ids)
    mask[5:, 30:] = 0
    labels = torch.where(torch.rand(ids.shape, generator=g) < 0.4, ids, -100)
    labels[mask == 0] = -100
    return model, ids, mask, labels, torch.nonzero(labels.reshape(-1) != -100).squeeze(1)


@pytest.mark.parametrize("kind", [BertForMaskedLM, BertForPreTraining])
def test_a_loss_only_layout_gives_the_whole_heads_loss_and_gradients(kind: Any) -> None:
    model, ids, mask, labels, found = _model_and_batch(kind, 2)
    outs, grads = [], []
    for loss_only in (False, True):
        layout = BatchLayout(int(mask.sum()), 48, found, loss_only=loss_only)
        model.zero_grad()
        out = model(ids, mask, torch.zeros_like(ids), labels=labels, layout=layout,
                    all_logits=False)  # fmt: skip
        out.loss.backward()
        outs.append(out)
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    whole, chunked = outs
    assert chunked.logits is None and whole.logits.shape == (len(found), 3000)
    assert torch.allclose(chunked.loss, whole.loss, rtol=1e-5, atol=1e-6)
    assert int(chunked.correct) == int(whole.correct) and int(chunked.count) == len(found)
    assert grads[0].keys() == grads[1].keys()
    for name, want in grads[0].items():
        assert torch.allclose(grads[1][name], want, rtol=1e-4, atol=1e-6), name
    with torch.no_grad():  # evaluation: the whole head, logits and all
        layout = BatchLayout(int(mask.sum()), 48, found, loss_only=True)
        out = model(ids, mask, torch.zeros_like(ids), labels=labels, layout=layout,
                    all_logits=False)  # fmt: skip
        assert out.logits is not None and torch.allclose(out.loss, whole.loss, rtol=1e-5)


def test_a_second_derivative_is_refused_not_dropped() -> None:
    # the gradients are numbers computed in the forward: create_graph=True would treat
    # them as constants and lose every second-order term through the head
    h, w, b, targets = _inputs(40, 16, 50, torch.float64)
    loss, _ = chunked_loss.loss(torch.tanh(h), w, b, targets)
    with pytest.raises(RuntimeError, match=r"differentiable once.*loss_only=False"):
        torch.autograd.grad(loss, w, create_graph=True)
    loss, _ = chunked_loss.loss(torch.tanh(h), w, b, targets)  # once: as the whole head
    (got,) = torch.autograd.grad(loss, w)
    (want,) = torch.autograd.grad(_whole(torch.tanh(h), w, b, targets)[0], w)
    assert torch.allclose(got, want, rtol=1e-10, atol=1e-12)


def test_transforms_and_tensor_subclasses_score_whole() -> None:
    h, w, b, _ = _inputs(300, 64, 3000, torch.float32)
    seen = []

    def f(x: Any) -> Any:
        seen.append(chunked_loss.usable(x, w, b))
        return x.sum()

    torch.func.grad(f)(h.detach())
    assert seen == [False]

    class Wrapped(torch.Tensor):  # a subclass implements the library's product, not ours
        pass

    assert chunked_loss.usable(h, w, b)
    assert not chunked_loss.usable(h, w.detach().as_subclass(Wrapped).requires_grad_(), b)
    assert not chunked_loss.usable(h, w, b.double())


def test_a_head_with_hooks_is_called_as_before() -> None:
    # the chunked path never calls the head (no logits to give a hook): a forward hook,
    # pre-hook or subclass's forward on it makes the model score it whole, and call it
    model, ids, mask, labels, found = _model_and_batch(BertForMaskedLM, 1)
    layout = BatchLayout(int(mask.sum()), 48, found, loss_only=True)
    plain = model(ids, mask, torch.zeros_like(ids), labels=labels, layout=layout)
    assert plain.logits is None  # no hook: chunked
    calls = []
    for register in (model.mlm.register_forward_hook, model.mlm.register_forward_pre_hook):
        handle = register(lambda *args: calls.append(len(args)))
        try:
            out = model(ids, mask, torch.zeros_like(ids), labels=labels, layout=layout)
        finally:
            handle.remove()
        assert out.logits is not None and out.logits.shape == (len(found), 3000)
        assert torch.allclose(out.loss, plain.loss, rtol=1e-5, atol=1e-6)
    assert calls == [3, 2]  # (module, input, output), then (module, input)
