"""Seeded differential fuzzing of the BERT models against ``transformers``: each seed
builds a random transformers ``BertConfig`` (sizes, head counts, activation, LayerNorm
epsilon, pad id, segment count, tied or untied decoder, labels and problem type) and a
model with random weights (LayerNorms and biases too, so that a swapped or dropped one
shows), saves it, loads it in lexforge and compares, on a random batch (right padding,
holes in the mask, or none; random segments or none), the outputs at real tokens, the loss
with random labels and the gradient of every parameter; then lexforge saves the model and
transformers reads it back with the same outputs. Each of lexforge's two attention paths
(padded, and unpadded as on CUDA) is drawn at random. A failure names its seed:
``_check(seed, tmp_path)`` reproduces it.

Where lexforge differs from transformers on purpose, the comparison leaves it out, as
documented in the heads: hidden states and logits at padding (ours are 0, and the QA
head's -inf), and the QA loss of a padded batch (ours runs over real tokens only). A
``BertForPreTraining`` given MLM labels alone returns their loss in lexforge, none in
transformers: it is compared with the cross-entropy of transformers' logits.
"""

from __future__ import annotations

import copy
import os
import random
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
F = torch.nn.functional

from lexforge.model import (  # noqa: E402
    BertForMaskedLM,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from lexforge.model.hf_state import hf_names  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()

ACTIVATIONS = ["gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_python",
               "quick_gelu", "relu", "silu"]  # fmt: skip
HEADS = {
    "base": (BertModel, "BertModel"),
    "mlm": (BertForMaskedLM, "BertForMaskedLM"),
    "pretraining": (BertForPreTraining, "BertForPreTraining"),
    "sequence": (BertForSequenceClassification, "BertForSequenceClassification"),
    "token": (BertForTokenClassification, "BertForTokenClassification"),
    "qa": (BertForQuestionAnswering, "BertForQuestionAnswering"),
}
PROBLEMS = [None, "regression", "single_label_classification", "multi_label_classification"]


def _hf_config(rng: random.Random) -> Any:
    heads = rng.choice([1, 2, 3, 4])
    head = rng.choice(["sequence", "token"])
    labels = rng.randint(1, 5)
    problem = rng.choice(PROBLEMS) if head == "sequence" else None
    if problem == "regression":
        labels = rng.choice([1, 2])
    elif problem == "single_label_classification" or (problem is None and head == "token"):
        labels = max(labels, 2)
    vocab = rng.randint(8, 160)
    return transformers.BertConfig(
        vocab_size=vocab,
        hidden_size=heads * rng.choice([2, 4, 8, 16]),
        num_hidden_layers=rng.randint(1, 3),
        num_attention_heads=heads,
        intermediate_size=rng.randint(4, 80),
        hidden_act=rng.choice(ACTIVATIONS),
        max_position_embeddings=rng.randint(4, 40),
        type_vocab_size=rng.randint(1, 3),
        layer_norm_eps=rng.choice([1e-12, 1e-6, 1e-3, 0.1]),
        pad_token_id=rng.choice([0, 0, rng.randrange(vocab)]),
        tie_word_embeddings=rng.random() < 0.7,
        num_labels=labels,
        problem_type=problem,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )


def _randomise(model: Any, rng: random.Random) -> None:
    """Every parameter random: LayerNorm gains around 1, everything else around 0."""
    gen = torch.Generator().manual_seed(rng.randrange(2**31))
    scale = rng.choice([0.02, 0.1, 0.3])
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen) * scale
            p.copy_(noise + 1.0 if "LayerNorm.weight" in name else noise)


def _batch(config: Any, rng: random.Random) -> dict[str, Any]:
    b, n = rng.randint(1, 4), rng.randint(1, config.max_position_embeddings)
    gen = torch.Generator().manual_seed(rng.randrange(2**31))
    ids = torch.randint(0, config.vocab_size, (b, n), generator=gen)
    batch: dict[str, Any] = {"input_ids": ids}
    kind = rng.choice(["none", "ones", "right", "right", "holes"])
    if kind != "none":
        mask = torch.ones(b, n, dtype=torch.long)
        if kind != "ones":
            for row in range(b):
                mask[row, rng.randint(1, n) :] = 0
                if kind == "holes":  # position 0 stays real: the pooler reads it
                    for col in range(1, n):
                        if rng.random() < 0.3:
                            mask[row, col] = 0
        batch["attention_mask"] = mask
    if rng.random() < 0.6:
        batch["token_type_ids"] = torch.randint(0, config.type_vocab_size, (b, n), generator=gen)
    return batch


def _real(batch: dict[str, Any]) -> Any:
    ids = batch["input_ids"]
    mask = batch.get("attention_mask")
    return torch.ones_like(ids, dtype=torch.bool) if mask is None else mask.bool()


def _labels(head: str, config: Any, batch: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    real = _real(batch)
    b, n = real.shape
    gen = torch.Generator().manual_seed(rng.randrange(2**31))
    if head in ("mlm", "pretraining"):
        picked = (torch.rand(b, n, generator=gen) < 0.3) & real
        picked[0, 0] = True  # one label at least: transformers' mean of none is NaN
        labels = torch.randint(0, config.vocab_size, (b, n), generator=gen)
        out = {"labels": labels.masked_fill(~picked, -100)}
        if head == "pretraining" and rng.random() < 0.7:
            out["next_sentence_label"] = torch.randint(0, 2, (b,), generator=gen)
        return out
    if head == "sequence":
        problem = config.problem_type or (
            "regression" if config.num_labels == 1 else "single_label_classification"
        )
        if problem == "regression":
            shape = (b,) if config.num_labels == 1 else (b, config.num_labels)
            return {"labels": torch.randn(shape, generator=gen)}
        if problem == "multi_label_classification":
            return {"labels": torch.randint(0, 2, (b, config.num_labels), generator=gen).float()}
        return {"labels": torch.randint(0, config.num_labels, (b,), generator=gen)}
    if head == "token":
        labels = torch.randint(0, config.num_labels, (b, n), generator=gen)
        ignored = (torch.rand(b, n, generator=gen) < 0.3) | ~real
        return {"labels": labels.masked_fill(ignored, -100)}
    if head == "qa":
        # positions inside the real tokens (ours refuses an answer at padding), or past
        # the row (both clamp and ignore them) when there is no padding
        outside = bool(real.all()) and rng.random() < 0.3
        places = [r.nonzero().flatten().tolist() for r in real]
        start = [rng.choice(p) for p in places]
        end = [n + 3 if outside and rng.random() < 0.5 else rng.choice(p) for p in places]
        return {"start_positions": torch.tensor(start), "end_positions": torch.tensor(end)}
    return {}


def _outputs(head: str, out: Any, ours: bool, real: Any, labels: dict[str, Any]) -> dict[str, Any]:
    """The outputs to compare, at real tokens; ``logits`` of an MLM with labels at the
    labelled positions (ours score those alone while training)."""
    if head == "base":
        hidden, pooled = (out[0], out[1]) if ours else (out.last_hidden_state, out.pooler_output)
        return {"hidden": hidden[real], "pooled": pooled}
    got: dict[str, Any] = {"loss": out.loss}
    if head in ("mlm", "pretraining"):
        if ours:
            logits = out.logits
        else:
            logits = out.logits if head == "mlm" else out.prediction_logits
            if got["loss"] is None:  # HF's BertForPreTraining: a loss only with both labels
                got["loss"] = F.cross_entropy(logits.flatten(0, 1), labels["labels"].flatten())
        if logits.dim() == 3:  # every position's (ours in evaluation mode too): ours are 0
            logits = logits[labels["labels"] != -100]  # at padding, so the labelled ones
        got["logits"] = logits
        if head == "pretraining":
            got["nsp"] = out.nsp_logits if ours else out.seq_relationship_logits
    elif head == "sequence":
        got["logits"] = out.logits
    elif head == "token":
        got["logits"] = out.logits[real]
    else:
        got["start"], got["end"] = out.start_logits[real], out.end_logits[real]
        if not bool(real.all()):
            del got["loss"]  # ours runs over real tokens only
    return got


def _close(name: str, ours: Any, exact: Any, rounded: Any, seed: int, scale: float = 0.0) -> None:
    """``ours`` (float32) against ``exact`` (transformers in float64), in norm: no further
    off than four times transformers' own float32 result (``rounded``), or float32's
    noise: 1e-5 of the norm, or of ``scale`` (the largest gradient's, for a gradient that
    vanishes where float32 keeps only rounding noise), or 1e-6 (all gradients vanish: a
    QA batch whose positions all get the same hidden state, where only noise is left).
    A bug is far above that: a LayerNorm epsilon of 0.1 read as 1e-12 moves the outputs
    by about 5%."""
    if exact is None:
        assert ours is None, f"seed {seed}: {name}: transformers has none, lexforge has one"
        return
    assert ours is not None, f"seed {seed}: {name}: lexforge has none"
    assert ours.shape == exact.shape, f"seed {seed}: {name}: {ours.shape} != {exact.shape}"
    ours, exact, rounded = (t.detach() for t in (ours, exact, rounded))
    exact = exact.double()
    if exact.isnan().any():  # HF's cross-entropy over no label at all (QA: every answer
        # outside the row, which both ignore)
        assert torch.equal(exact.isnan(), ours.isnan()), f"seed {seed}: {name}: NaN differs"
        ours, exact, rounded = (torch.nan_to_num(t.double()) for t in (ours, exact, rounded))
    theirs = float((rounded.double() - exact).norm())
    diff = float((ours.double() - exact).norm())
    tol = 4 * theirs + 1e-5 * max(float(exact.norm()), scale) + 1e-6
    assert diff <= tol, (
        f"seed {seed}: {name} is {diff:.3g} off float64 in norm (transformers in float32: "
        f"{theirs:.3g}; tolerance {tol:.3g}; norm {float(exact.norm()):.3g})"
    )


def _grads(ours: Any, theirs: Any) -> dict[str, Any]:
    """Gradients by our parameter names: ours, or transformers' spelled as ours (a fused
    QKV's three joined)."""
    if not isinstance(ours, transformers.PreTrainedModel):
        return {n: _grad(p) for n, p in ours.named_parameters()}
    named = dict(theirs.named_parameters())
    out = {}
    for name in _OUR_NAMES[type(theirs).__name__]:
        spelled = hf_names(name)
        if name == "mlm.bias" and "cls.predictions.decoder.bias" in named:
            spelled = ["cls.predictions.decoder.bias"]  # what HF's forward adds, untied
        if all(h in named for h in spelled):  # else a tied parameter HF lists once
            out[name] = torch.cat([_grad(named[h]) for h in spelled], 0)
    return out


def _grad(p: Any) -> Any:
    return p.grad if p.grad is not None else torch.zeros_like(p)


_OUR_NAMES: dict[str, list[str]] = {}


def _run(head: str, model: Any, batch: dict[str, Any], labels: dict[str, Any]) -> Any:
    """Outputs (at real tokens) and gradients of one model on the batch."""
    lexforge = not isinstance(model, transformers.PreTrainedModel)
    if not lexforge and next(model.parameters()).dtype == torch.float64:
        batch, labels = ({k: _wide(v) for k, v in d.items()} for d in (batch, labels))
    model.zero_grad(set_to_none=True)
    got = _outputs(head, model(**batch, **labels), lexforge, _real(batch), labels)
    grads = {}
    if got.get("loss") is not None and head != "base":
        got["loss"].backward()
        grads = _grads(model, model)
    return got, grads


def _wide(t: Any) -> Any:
    return t.double() if t.is_floating_point() else t


def _compare(head: str, ours: Any, theirs: Any, config: Any, rng: random.Random, seed: int) -> None:
    """``ours`` against ``theirs`` (transformers) on a random batch: outputs, loss and
    gradients, checked against transformers in float64. ``ours`` is a lexforge model, or
    a transformers model read from lexforge's files."""
    batch = _batch(config, rng)
    labels = _labels(head, config, batch, rng)
    exact_model = copy.deepcopy(theirs).double()
    got, grads = _run(head, ours, batch, labels)
    rounded, rounded_grads = _run(head, theirs, batch, labels)
    exact, exact_grads = _run(head, exact_model, batch, labels)
    for key in exact:
        _close(f"{head} {key}", got[key], exact[key], rounded[key], seed)
    scale = max((float(g.norm()) for g in exact_grads.values()), default=0.0)
    for name in exact_grads:
        if name in grads:
            _close(f"{head} grad of {name}", grads[name], exact_grads[name],
                   rounded_grads[name], seed, scale)  # fmt: skip


def _check(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    config = _hf_config(rng)
    torch.manual_seed(seed)
    for head in rng.sample(sorted(HEADS), 2):
        cls, hf_cls = HEADS[head]
        if head == "qa":  # start and end: two outputs (HF sizes the head by num_labels)
            # (without the label maps: transformers 4 takes num_labels from id2label)
            plain = {k: v for k, v in config.to_dict().items() if k not in ("id2label", "label2id")}
            config = transformers.BertConfig(**{**plain, "num_labels": 2})
        theirs = getattr(transformers, hf_cls)(config).eval()
        _randomise(theirs, rng)
        folder = tmp_path / f"{seed}-{head}"
        theirs.save_pretrained(folder / "hf")
        ours = cls.from_pretrained(folder / "hf")
        _OUR_NAMES[hf_cls] = [n for n, _ in ours.named_parameters()]
        (ours if head == "base" else ours.bert).unpad = rng.random() < 0.5
        _compare(head, ours, theirs, config, rng, seed)
        # and back: transformers reads what lexforge saves, with the same outputs
        ours.save_pretrained(folder / "ours")
        again = getattr(transformers, hf_cls).from_pretrained(str(folder / "ours")).eval()
        _compare(head, again, theirs, config, random.Random(seed + 1), seed)


@pytest.mark.parametrize("block", range(4))
def test_models_match_transformers(block: int, tmp_path: Path) -> None:
    for seed in range(block * 25, block * 25 + 25):
        _check(seed, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("block", range(20))
def test_models_match_transformers_long(block: int, tmp_path: Path) -> None:
    for seed in range(1000 + block * 50, 1000 + block * 50 + 50):
        _check(seed, tmp_path)
