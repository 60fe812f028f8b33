"""lexforge's own model objects in the tools written for transformers' models:
``transformers.Trainer`` (which sets ``config.use_cache``, reads outputs as dicts and leaves
out ``config.keys_to_ignore_at_inference``), peft's task wrappers (which pass
``return_dict``), and transformers' loading options of ``from_pretrained``. The oracle is
transformers' own BERT, exported to the same weights, and lexforge's forward itself."""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
from pathlib import Path
from typing import Any, ClassVar

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from lexforge.errors import ConfigError  # noqa: E402
from lexforge.model import (  # noqa: E402
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

VOCAB = 40
HEADS = [BertForSequenceClassification, BertForTokenClassification, BertForQuestionAnswering]
THEIRS = {
    BertModel: "BertModel",
    BertForMaskedLM: "BertForMaskedLM",
    BertForPreTraining: "BertForPreTraining",
    BertForSequenceClassification: "BertForSequenceClassification",
    BertForTokenClassification: "BertForTokenClassification",
    BertForQuestionAnswering: "BertForQuestionAnswering",
}


def _config() -> BertConfig:
    return BertConfig(vocab_size=VOCAB, hidden_size=16, num_layers=2, num_heads=2,
                      intermediate_size=32, hidden_dropout=0.0, attention_dropout=0.0)  # fmt: skip


def _batch(rows: int = 3) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(rows)
    ids = torch.randint(1, VOCAB, (rows, 9), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _labels(cls: Any, rows: int) -> dict[str, Any]:
    if cls is BertForQuestionAnswering:
        return {"start_positions": torch.tensor([1, 2, 0][:rows]),
                "end_positions": torch.tensor([3, 2, 5][:rows])}  # fmt: skip
    if cls is BertForTokenClassification:
        labels = torch.zeros(rows, 9, dtype=torch.long)
        labels[:, ::2] = 1
        labels[1, 6:] = -100
        return {"labels": labels}
    return {"labels": torch.tensor([0, 1, 1][:rows])}


@pytest.mark.parametrize("cls", list(THEIRS), ids=lambda c: c.__name__)
def test_return_dict_false_gives_transformers_tuples(tmp_path: Path, cls: Any) -> None:
    """``return_dict=False`` returns the plain tuple transformers returns (the fields that
    are set, in order); its leading entries equal transformers' on the same weights."""
    torch.manual_seed(0)
    model = cls(_config()).eval()
    model.save_pretrained(tmp_path)
    theirs = getattr(transformers, THEIRS[cls]).from_pretrained(tmp_path).eval()
    batch = _batch()
    if cls is BertForQuestionAnswering:  # (ours: -inf at padding, so its loss differs there)
        batch["attention_mask"][:] = 1
    labelled = cls in HEADS
    extra = _labels(cls, 3) if labelled else {}
    with torch.no_grad():
        got = model(**batch, **extra, return_dict=False)
        want = theirs(**batch, **extra, return_dict=False)
        as_object = model(**batch, **extra)
    assert type(got) is tuple or cls is BertModel  # (BertModel's named tuple is one)
    assert isinstance(got, tuple)
    assert len(got) == len(as_object.to_tuple() if hasattr(as_object, "to_tuple") else as_object)
    for ours_item, object_item in zip(got, as_object.to_tuple() if labelled else (), strict=False):
        assert ours_item is object_item or torch.equal(ours_item, object_item)
    real = batch["attention_mask"].bool()
    leading = 2 if cls in (BertModel, *HEADS) else 1  # (the MLM heads' logits: all positions)
    for ours_item, their_item in list(zip(got, want, strict=False))[:leading]:
        if ours_item.dim() >= 2 and ours_item.shape[:2] == real.shape:
            ours_item, their_item = ours_item[real], their_item[real]
        assert (ours_item - their_item).abs().max() <= 1e-5


@pytest.mark.parametrize("value", ["no", 0, 1.0])
def test_return_dict_other_than_a_flag_is_refused(value: Any) -> None:
    model = BertForSequenceClassification(_config())
    with pytest.raises(ConfigError, match="return_dict must be True, False or None"):
        model(**_batch(), return_dict=value)


def test_head_outputs_are_dicts_of_their_set_fields() -> None:
    """As transformers' ``ModelOutput``: a ``dict`` of the fields that are set, in order,
    kept in step with the fields; mutators that would break the two views are refused;
    pickles and copies keep the class."""
    model = BertForSequenceClassification(_config()).eval()
    with torch.no_grad():
        out = model(**_batch(), labels=torch.tensor([0, 1, 1]))
    assert isinstance(out, dict)
    assert list({**out}) == ["loss", "logits", "hidden_states"] == list(dict(out))
    assert all(dict(out)[k] is getattr(out, k) for k in out)
    out.loss = None
    assert list(out) == ["logits", "hidden_states"] and out[0] is out.logits
    out["loss"] = torch.tensor(2.0)
    assert list(out) == ["loss", "logits", "hidden_states"] and float(out[0]) == 2.0
    with pytest.raises(KeyError, match="no field"):
        out["nothing"] = 1
    for refused in (lambda: out.pop("loss"), lambda: out.update(loss=1), out.clear):
        with pytest.raises(TypeError, match="set a field"):
            refused()
    with pytest.raises(TypeError):
        del out["loss"]
    for again in (pickle.loads(pickle.dumps(out)), copy.deepcopy(out), copy.copy(out)):
        assert type(again) is type(out) and list(again) == list(out)
        assert torch.equal(again.logits, out.logits)
    # rebuilt as a dict is, from a mapping or (name, value) pairs, the rest None: how
    # nn.DataParallel's gather and accelerate's conversions remake a dict they map over
    halved = type(out)((k, v / 2) for k, v in out.items() if k != "loss")
    assert halved.loss is None and list(halved) == ["logits", "hidden_states"]
    assert torch.equal(halved.logits, out.logits / 2)
    assert list(type(out)(dict(out))) == list(out)
    with pytest.raises(TypeError, match="no field 'nope'"):
        type(out)({"nope": 1})
    assert list(type(out)(out.items())) == list(type(out)(list(out.items()))) == list(out)
    with pytest.raises(TypeError, match="set a field"):
        out |= {"loss": torch.tensor(1.0), "bogus": 3}


def test_accelerate_maps_over_head_outputs() -> None:
    """accelerate's mixed-precision wrapper (``convert_outputs_to_fp32``, which
    ``Trainer`` puts on ``forward`` under bf16/fp16) gives back the same output class."""
    operations = pytest.importorskip("accelerate.utils.operations")
    model = BertForQuestionAnswering(_config()).eval()
    with torch.no_grad():
        out = model(**_batch())
    half = type(out)((k, v.half()) for k, v in out.items())
    again = operations.convert_to_fp32(half)
    assert type(again) is type(out) and list(again) == list(out)
    assert again.start_logits.dtype == torch.float32
    assert torch.equal(again.start_logits, out.start_logits.half().float())


def test_config_takes_the_flags_trainer_sets_and_keeps_its_fields_frozen() -> None:
    config = _config()
    config.use_cache = True  # type: ignore[misc]  # (transformers.Trainer does this)
    assert config.use_cache and not _config().use_cache  # type: ignore[attr-defined]
    assert config == _config() and "use_cache" not in dataclasses.asdict(config)
    assert "hidden_states" in config.keys_to_ignore_at_inference  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="hidden_size"):
        config.hidden_size = 8  # type: ignore[misc]
    with pytest.raises(AttributeError, match="hiden_size"):
        config.hiden_size = 8  # type: ignore[attr-defined]  # (a typo is no new attribute)


def test_transformers_trainer_trains_evaluates_and_predicts_a_lexforge_head(
    tmp_path: Path,
) -> None:
    """``Trainer`` takes a lexforge model as it is: it trains it (the loss falls on a
    separable task), evaluates it, and its predictions, with labels and without, are the
    model's own logits (the hidden states left out, as for transformers' heads)."""
    pytest.importorskip("accelerate")
    torch.manual_seed(0)
    model = BertForSequenceClassification(_config())
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, VOCAB, (64, 8), generator=generator)
    labels = (ids[:, 0] % 2).long()  # the first token's parity: separable
    rows = [{"input_ids": i, "attention_mask": torch.ones_like(i), "labels": y}
            for i, y in zip(ids, labels, strict=True)]  # fmt: skip
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), report_to=[], use_cpu=True, num_train_epochs=30,
        per_device_train_batch_size=16, per_device_eval_batch_size=16, learning_rate=3e-3,
        save_strategy="no", logging_strategy="no", seed=0, disable_tqdm=True,
    )  # fmt: skip
    trainer = transformers.Trainer(model=model, args=args, train_dataset=rows, eval_dataset=rows)
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    after = trainer.evaluate()["eval_loss"]
    assert after < 0.5 * before
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    labelled = trainer.predict(rows)
    unlabelled = trainer.predict([{k: v for k, v in r.items() if k != "labels"} for r in rows])
    for predicted in (labelled.predictions, unlabelled.predictions):
        assert predicted.shape == (64, 2)
        assert abs(torch.from_numpy(predicted) - logits).max() <= 1e-5
    assert (labelled.predictions.argmax(-1) == labels.numpy()).mean() >= 0.9


@pytest.mark.parametrize("cls", [BertForMaskedLM, BertForPreTraining], ids=lambda c: c.__name__)
def test_trainer_mlm_metrics_match_transformers(tmp_path: Path, cls: Any) -> None:
    """transformers' ``run_mlm.py`` evaluation (``preprocess_logits_for_metrics`` takes the
    argmax of the logits, ``compute_metrics`` the accuracy where labels are not -100) on a
    lexforge MLM model gives what it gives on transformers' BERT with the same weights:
    in evaluation mode the logits are every position's, (B, N, vocab); while training,
    only the labelled positions are scored."""
    pytest.importorskip("accelerate")
    torch.manual_seed(0)
    model = cls(_config())
    model.save_pretrained(tmp_path / "model")
    theirs = getattr(transformers, THEIRS[cls]).from_pretrained(tmp_path / "model")
    generator = torch.Generator().manual_seed(2)
    ids = torch.randint(3, VOCAB, (40, 8), generator=generator)
    picked = torch.rand(ids.shape, generator=generator) < 0.3
    labels = torch.where(picked, torch.randint(3, VOCAB, ids.shape, generator=generator), -100)
    rows = [{"input_ids": i, "attention_mask": torch.ones_like(i), "labels": y}
            for i, y in zip(ids, labels, strict=True)]  # fmt: skip
    if cls is BertForPreTraining:
        for r in rows:
            r["next_sentence_label"] = r["input_ids"][0] % 2

    def argmax(logits: Any, _: Any) -> Any:
        return (logits[0] if isinstance(logits, tuple) else logits).argmax(dim=-1)

    def accuracy(prediction: Any) -> dict[str, float]:
        preds, gold = prediction
        preds = preds[0] if isinstance(preds, tuple) else preds
        gold = gold[0] if isinstance(gold, tuple) else gold
        keep = gold.reshape(-1) != -100
        return {"accuracy": float((preds.reshape(-1)[keep] == gold.reshape(-1)[keep]).mean())}

    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), report_to=[], use_cpu=True, per_device_eval_batch_size=16,
        disable_tqdm=True,
    )  # fmt: skip
    results = []
    for net in (model, theirs):
        trainer = transformers.Trainer(
            model=net, args=args, eval_dataset=rows, compute_metrics=accuracy,
            preprocess_logits_for_metrics=argmax,
        )  # fmt: skip
        results.append(trainer.evaluate())
    ours, want = results
    assert abs(ours["eval_loss"] - want["eval_loss"]) <= 1e-5
    assert ours["eval_accuracy"] == want["eval_accuracy"]
    model.eval()
    with torch.no_grad():
        batch = {"input_ids": ids, "labels": labels}
        every = model(**batch)
        alone = model(**batch, all_logits=False)
    assert every.logits.shape == (40, 8, VOCAB)
    assert alone.logits.shape == (int(picked.sum()), VOCAB)
    torch.testing.assert_close(every.logits[picked], alone.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(every.loss, alone.loss, atol=1e-6, rtol=1e-6)
    assert every.correct == alone.correct and every.count == alone.count
    model.train()
    assert model(**batch).logits.shape == (int(picked.sum()), VOCAB)


@pytest.mark.parametrize("cls", HEADS, ids=lambda c: c.__name__)
def test_peft_task_wrappers_train_merge_and_save(tmp_path: Path, cls: Any) -> None:
    """peft's task wrappers (which pass ``return_dict``) over lexforge's fused attention
    projections (``qkv``, ``out``): a LoRA step trains, merging gives the wrapped outputs,
    and only the merged model saves (an unmerged one names the fix)."""
    peft = pytest.importorskip("peft")
    task = {BertForSequenceClassification: "SEQ_CLS", BertForTokenClassification: "TOKEN_CLS",
            BertForQuestionAnswering: "QUESTION_ANS"}[cls]  # fmt: skip
    torch.manual_seed(0)
    model = cls(_config())
    lora = peft.LoraConfig(task_type=task, r=4, lora_alpha=8, target_modules=["qkv", "out"])
    wrapped = peft.get_peft_model(model, lora)
    batch, labels = _batch(), _labels(cls, 3)
    optimizer = torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(5):
        loss = wrapped(**batch, **labels).loss
        losses.append(float(loss.detach()))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert losses[-1] < losses[0]
    wrapped.eval()
    with torch.no_grad():
        want = wrapped(**batch).to_tuple()[0]
    with pytest.raises(ConfigError, match="merge_and_unload"):
        wrapped.base_model.model.save_pretrained(tmp_path / "unmerged")
    merged = wrapped.merge_and_unload()
    with torch.no_grad():
        got = merged(**batch).to_tuple()[0]
    finite = want.isfinite()
    assert torch.equal(finite, got.isfinite())
    assert (got[finite] - want[finite]).abs().max() <= 1e-5
    merged.save_pretrained(tmp_path / "merged")
    again = cls.from_pretrained(tmp_path / "merged")
    with torch.no_grad():
        reloaded = again(**batch).to_tuple()[0]
    assert (reloaded[finite] - want[finite]).abs().max() <= 1e-5


def test_from_pretrained_takes_one_device_and_names_other_loading_options(
    tmp_path: Path,
) -> None:
    BertForSequenceClassification(_config()).save_pretrained(tmp_path)
    for where in ("cpu", "auto", torch.device("cpu"), {"": "cpu"}):
        model = BertForSequenceClassification.from_pretrained(tmp_path, device_map=where)
        assert next(model.parameters()).device.type == "cpu"
    loaded = BertForSequenceClassification.from_pretrained(
        tmp_path, low_cpu_mem_usage=True, use_safetensors=True
    )
    assert loaded.config.hidden_size == 16
    with pytest.raises(ConfigError, match="one device"):
        BertForSequenceClassification.from_pretrained(
            tmp_path, device_map={"bert": "cpu", "classifier": "cpu"}
        )
    with pytest.raises(ConfigError, match="device_map='meta' would load the weights"):
        BertForSequenceClassification.from_pretrained(tmp_path, device_map="meta")
    with pytest.raises(ConfigError, match="safetensors weights only"):
        BertForSequenceClassification.from_pretrained(tmp_path, use_safetensors=False)
    for option in ("ignore_mismatched_sizes", "quantization_config", "output_loading_info"):
        with pytest.raises(ConfigError, match=f"{option}= is a transformers loading option"):
            BertForSequenceClassification.from_pretrained(tmp_path, **{option: True})


def _saved_bytes(model: Any, batch: dict[str, Any], labels: dict[str, Any]) -> tuple[int, Any]:
    """The bytes autograd keeps for the backward of one forward pass, and the loss."""
    kept = 0

    def pack(t: Any) -> Any:
        nonlocal kept
        kept += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(**batch, **labels).loss
    return kept, loss


@pytest.mark.parametrize("reentrant", [False, True], ids=["non-reentrant", "reentrant"])
@pytest.mark.parametrize("cls", [BertForMaskedLM, BertForPreTraining, *HEADS],
                         ids=lambda c: c.__name__)  # fmt: skip
def test_gradient_checkpointing_gives_the_same_gradients_for_less_memory(
    cls: Any, reentrant: bool
) -> None:
    """transformers' ``gradient_checkpointing_enable``: with dropout on, the recomputed
    layers draw the same masks, so the loss and every gradient equal those of a plain
    backward bit for bit, while autograd keeps a fraction of the activations."""
    config = dataclasses.replace(_config(), num_layers=4, hidden_dropout=0.1,
                                 attention_dropout=0.1)  # fmt: skip
    torch.manual_seed(0)
    model = cls(config).train()
    batch = _batch()
    labels = _labels(cls, 3)
    if cls in (BertForMaskedLM, BertForPreTraining):
        labels = {"labels": batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)}
    runs = []
    for on in (False, True):
        if on:
            model.gradient_checkpointing_enable({"use_reentrant": reentrant})
        assert model.is_gradient_checkpointing is on
        model.zero_grad()
        torch.manual_seed(7)
        kept, loss = _saved_bytes(model, batch, labels)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        runs.append((kept, loss.detach(), grads))
    (plain_kept, plain_loss, plain), (kept, loss, grads) = runs
    assert torch.equal(loss, plain_loss)
    assert plain.keys() == grads.keys() and len(grads) > 10
    # (the reentrant backward sums some products in another order: differences ~1e-7 of
    # the largest gradient, which an absolute 1e-8 missed on torch 2.4)
    scale = max(float(g.abs().max()) for g in plain.values())
    for name, grad in plain.items():
        if reentrant:
            assert torch.allclose(grad, grads[name], rtol=1e-5, atol=1e-6 * scale), name
        else:
            assert torch.equal(grad, grads[name]), name
    assert kept < 0.6 * plain_kept, (kept, plain_kept)
    model.activation_checkpointing_enable(every_n_layers=2)  # layers 0 and 2 of 4
    half, _ = _saved_bytes(model, batch, labels)
    assert kept < half < plain_kept, (kept, half, plain_kept)
    model.gradient_checkpointing_disable()
    assert not model.is_gradient_checkpointing


def test_gradient_checkpointing_steps_aside_where_nothing_is_kept() -> None:
    """Evaluation, ``no_grad`` and ``output_attentions`` run the layers plainly; unknown
    options of torch's checkpoint are refused by name."""
    torch.manual_seed(0)
    model = BertForSequenceClassification(_config())
    model.gradient_checkpointing_enable()
    batch = _batch()
    with torch.no_grad():
        model.eval()
        evaluated = model(**batch).logits
        model.gradient_checkpointing_disable()
        assert torch.equal(evaluated, model(**batch).logits)
    model.gradient_checkpointing_enable()
    model.train()
    weights = model(**batch, output_attentions=True).attentions
    assert len(weights) == 2  # (one per layer: nothing recomputed, nothing appended twice)
    with pytest.raises(ConfigError, match="use_rentrant"):
        model.gradient_checkpointing_enable({"use_rentrant": False})
    for bad in (0, 1.5, True):
        with pytest.raises(ConfigError, match="every_n_layers must be a positive integer"):
            model.activation_checkpointing_enable(every_n_layers=bad)


def test_trainer_with_gradient_checkpointing(tmp_path: Path) -> None:
    pytest.importorskip("accelerate")
    torch.manual_seed(0)
    model = BertForSequenceClassification(_config())
    rows = [{"input_ids": torch.tensor([1 + i % 30, 5, 6]), "labels": torch.tensor(i % 2)}
            for i in range(16)]  # fmt: skip
    names = {f.name for f in dataclasses.fields(transformers.TrainingArguments)}
    # (transformers 5 renamed it; the old name warns)
    flag = next(n for n in ("activation_checkpointing", "gradient_checkpointing") if n in names)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), report_to=[], use_cpu=True, max_steps=2,
        per_device_train_batch_size=8, save_strategy="no", disable_tqdm=True, **{flag: True},
    )  # fmt: skip
    transformers.Trainer(model=model, args=args, train_dataset=rows).train()
    assert model.is_gradient_checkpointing


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_activation_checkpointing_gives_the_same_gradients() -> None:
    """On CUDA (the unpadded path, the fused kernels' attention dropout drawn from the
    device's generator): the recomputed layers give the plain backward's gradients."""
    config = BertConfig(
        vocab_size=500, hidden_size=128, num_layers=3, num_heads=2, intermediate_size=256
    )  # fmt: skip (BERT's dropout of 0.1)
    torch.manual_seed(0)
    model = BertForPreTraining(config).cuda().train()
    ids = torch.randint(5, 500, (6, 70), device="cuda")
    mask = torch.ones_like(ids)
    for row, length in enumerate((70, 12, 40, 1, 64, 33)):
        mask[row, length:] = 0
    labels = ids.masked_fill(mask == 0, -100)
    runs = []
    for on in (False, True):
        if on:
            model.activation_checkpointing_enable()
        model.zero_grad()
        torch.manual_seed(3)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        runs.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                                     if p.grad is not None}))  # fmt: skip
    (plain_loss, plain), (loss, grads) = runs
    assert torch.equal(loss, plain_loss)
    for name, grad in plain.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-5, atol=1e-7, msg=name)


def test_reentrant_checkpointing_trains_adapters_over_frozen_embeddings() -> None:
    """Reentrant checkpointing passes gradients only to layers whose input requires them:
    with the word embeddings frozen (LoRA freezes every base weight) the embeddings'
    output is made to require them, so the adapters inside the layers still train."""
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    model = BertForSequenceClassification(_config()).train()
    lora = peft.LoraConfig(r=2, target_modules=["qkv"], modules_to_save=["classifier"])
    wrapped = peft.get_peft_model(model, lora)
    wrapped.activation_checkpointing_enable({"use_reentrant": True})
    wrapped(**_batch(), labels=torch.tensor([0, 1, 1])).loss.backward()
    adapters = [p for n, p in wrapped.named_parameters() if "lora_" in n]
    assert adapters and all(p.grad is not None for p in adapters)
    assert any(p.grad.abs().sum() > 0 for p in adapters)  # (LoRA's B starts at zero: A's is 0)
    pickle.dumps(model)  # (the hook that does it is a module-level function)
    model.disable_input_require_grads()
    assert not model.get_input_embeddings()._forward_hooks


def test_finetune_keeps_how_the_encoder_runs() -> None:
    """A task head made from a pretrained encoder keeps its activation checkpointing and
    attention backend (settings, not weights)."""
    from lexforge.train._fit_model import task_model

    encoder = BertForMaskedLM(_config())
    encoder.gradient_checkpointing_enable()
    encoder.bert.attention_backend = "sdpa"
    head = task_model(BertForSequenceClassification, encoder, ("a", "b"))
    assert type(head) is BertForSequenceClassification and head.is_gradient_checkpointing
    assert head.bert.attention_backend == "sdpa"


def test_trainer_aligns_a_tokenizers_special_tokens_with_a_lexforge_config(
    tmp_path: Path,
) -> None:
    """``Trainer(processing_class=tokenizer)`` (its usual call) reads the config's text
    config and special tokens: an encoder's has no BOS or EOS; a tokenizer's are recorded
    (not fields, never saved)."""
    pytest.importorskip("accelerate")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                               + [f"w{i}" for i in range(VOCAB - 5)]) + "\n")  # fmt: skip
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(vocab), bos_token="[CLS]",
                                               eos_token="[SEP]")  # fmt: skip
    model = BertForSequenceClassification(_config())
    rows = [{**tokenizer(f"w{i} w{i + 1}"), "labels": i % 2} for i in range(8)]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), report_to=[], use_cpu=True, max_steps=1, save_strategy="no",
        disable_tqdm=True,
    )  # fmt: skip
    trainer = transformers.Trainer(model=model, args=args, train_dataset=rows,
                                   processing_class=tokenizer)  # fmt: skip
    trainer.train()
    assert model.config.get_text_config() is model.config
    assert model.config.pad_token_id == tokenizer.pad_token_id == 0
    assert "eos_token_id" not in dataclasses.asdict(model.config)


def test_what_trainer_saves_of_a_lexforge_model_is_named_and_loads(tmp_path: Path) -> None:
    """``Trainer.save_model`` writes a model that is not transformers' own as its state
    dict alone: ``from_pretrained`` says so and how to load it, and that way gives the
    trained weights back."""
    pytest.importorskip("accelerate")
    from safetensors.torch import load_file

    from lexforge.errors import CheckpointError

    torch.manual_seed(0)
    model = BertForMaskedLM(_config())  # (tied decoder: one tensor in the file)
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "run"), report_to=[],
                                          use_cpu=True, disable_tqdm=True)  # fmt: skip
    trainer = transformers.Trainer(model=model, args=args)
    trainer.save_model(str(tmp_path / "saved"))
    with pytest.raises(CheckpointError, match=r"transformers\.Trainer wrote it"):
        BertForMaskedLM.from_pretrained(tmp_path / "saved")
    again = BertForMaskedLM(_config())
    again.load_state_dict(load_file(tmp_path / "saved" / "model.safetensors"))
    pairs = zip(again.state_dict().values(), model.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


class _Wrapped(torch.Tensor):
    """A tensor subclass that records the torch functions run on it, as a quantized
    weight (torchao's ``Int8Tensor``) implements its own ``linear`` and little else."""

    seen: ClassVar[list[str]] = []

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        cls.seen.append(getattr(func, "__name__", str(func)))
        return super().__torch_function__(func, types, args, kwargs or {})


def test_a_tensor_subclass_weight_gets_the_librarys_linear() -> None:
    """The fixed-order path of a small product (a broadcast multiply and a sum) is taken
    only for plain tensors: a weight of a tensor subclass gets ``F.linear``, which such
    subclasses implement (torchao's int8 weights crashed in the multiply)."""
    from lexforge.ops.reproducible import linear

    weight = torch.randn(4, 8)
    x = torch.randn(2, 8, requires_grad=True)
    wrapped = torch.Tensor._make_subclass(_Wrapped, weight)
    _Wrapped.seen.clear()
    got = linear(x, wrapped).as_subclass(torch.Tensor)
    assert "linear" in _Wrapped.seen and not {"mul", "__mul__", "sum"} & set(_Wrapped.seen)
    torch.testing.assert_close(got, torch.nn.functional.linear(x, weight), rtol=0, atol=0)


_TORCHAO = r"""
import sys, warnings
warnings.simplefilter("ignore")
import torch
try:
    from torchao.quantization import (
        Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_)
except Exception as e:  # not installed, or not for this torch
    print("no torchao:", e); sys.exit(77)
import transformers
from lexforge.model import BertConfig, BertForSequenceClassification
folder = sys.argv[1]
torch.manual_seed(0)
config = BertConfig(vocab_size=300, hidden_size=64, num_layers=2, num_heads=2,
                    intermediate_size=128, hidden_dropout=0.0, attention_dropout=0.0)
BertForSequenceClassification(config).save_pretrained(folder)
ids = torch.randint(5, 300, (3, 11), generator=torch.Generator().manual_seed(1))
mask = torch.ones_like(ids); mask[1, 7:] = 0
for make in (Int8WeightOnlyConfig, Int8DynamicActivationInt8WeightConfig):
    ours = BertForSequenceClassification.from_pretrained(folder).eval()
    theirs = transformers.BertForSequenceClassification.from_pretrained(folder).eval()
    plain = ours(ids, attention_mask=mask).logits.detach()
    quantize_(ours, make()); quantize_(theirs, make())
    kinds = {type(m.weight).__name__ for m in ours.modules() if isinstance(m, torch.nn.Linear)}
    assert kinds and not kinds & {"Parameter", "Tensor"}, kinds
    for grad in (True, False):  # (eval without no_grad took the fixed-order path)
        with torch.set_grad_enabled(grad):
            got = ours(ids, attention_mask=mask).logits
            want = theirs(ids, attention_mask=mask).logits
        # int8 activations: the scales follow the inputs' last bits, which differ (about
        # 1e-7) between the two models; ours is then no further from transformers' than
        # transformers' quantized model is from the float one
        off = 1e-5 if make is Int8WeightOnlyConfig else (want - plain).abs().max()
        assert (got - want).abs().max() <= off, (make.__name__, grad, got, want)
        assert 0 < (got - plain).abs().max() < 0.05 * plain.abs().max() + 1e-3
print("ok")
"""


def test_torchao_int8_quantization_matches_transformers_quantized(tmp_path: Path) -> None:
    """torchao's ``quantize_`` (int8 weights, with or without int8 activations) on a
    lexforge head gives the logits transformers' BERT gives quantized the same way from
    the same weights. In a child process: importing torchao registers global hooks."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _TORCHAO, str(tmp_path)], capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    if done.returncode == 77:
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


@pytest.mark.parametrize("cls", [BertForMaskedLM, BertForPreTraining], ids=lambda c: c.__name__)
def test_trainer_mlm_predictions_are_the_logits(tmp_path: Path, cls: Any) -> None:
    """Without ``preprocess_logits_for_metrics``, ``Trainer``'s predictions of an MLM model
    are its logits, as with transformers' model of the same weights (and the NSP logits
    beside them for pretraining), not a tuple with the heads' counts."""
    pytest.importorskip("accelerate")
    torch.manual_seed(0)
    model = cls(_config())
    model.save_pretrained(tmp_path / "model")
    theirs = getattr(transformers, THEIRS[cls]).from_pretrained(tmp_path / "model")
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(3, VOCAB, (12, 8), generator=generator)
    labels = torch.where(torch.rand(ids.shape, generator=generator) < 0.3, ids, -100)
    rows = [{"input_ids": i, "labels": y} for i, y in zip(ids, labels, strict=True)]
    if cls is BertForPreTraining:  # (both labels: with MLM labels alone, lexforge's model
        for r in rows:  # returns their loss, transformers' none, and Trainer keeps it)
            r["next_sentence_label"] = r["input_ids"][0] % 2
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), report_to=[], use_cpu=True, per_device_eval_batch_size=4,
        disable_tqdm=True,
    )  # fmt: skip
    got, want = (transformers.Trainer(model=net, args=args).predict(rows).predictions
                 for net in (model, theirs))  # fmt: skip
    if cls is BertForMaskedLM:
        assert got.shape == want.shape == (12, 8, VOCAB)
        assert abs(got - want).max() <= 1e-4
    else:
        assert isinstance(got, tuple) and len(got) == len(want) == 2
        assert all(abs(a - b).max() <= 1e-4 for a, b in zip(got, want, strict=True))
