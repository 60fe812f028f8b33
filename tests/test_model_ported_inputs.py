"""What code written for transformers passes to a forward pass and reads from it:
``position_ids``, ``inputs_embeds`` and ``output_attentions`` (keyword-only here),
outputs read by position (``out[0]``), by key and by transformers' field names
(``last_hidden_state``, ``pooler_output``); heads exported with ``torch.export``.
transformers is the oracle: the same weights, loaded there from our export or here from
its save, give the same logits, attention weights and gradients; used offline (models
built from configs, never downloaded)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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

from hf_oracle import VOCAB  # noqa: E402
from hf_oracle import hf_model as _hf  # noqa: E402

PAIRS = [  # ours, transformers', the output field compared
    (BertModel, transformers.BertModel, "last_hidden_state"),
    (BertForSequenceClassification, transformers.BertForSequenceClassification, "logits"),
    (BertForTokenClassification, transformers.BertForTokenClassification, "logits"),
    (BertForQuestionAnswering, transformers.BertForQuestionAnswering, "start_logits"),
    (BertForMaskedLM, transformers.BertForMaskedLM, "logits"),
    (BertForPreTraining, transformers.BertForPreTraining, "logits"),
]


def _read(out: Any, field: str) -> Any:
    # (transformers' pretraining output names the MLM logits prediction_logits)
    if field == "logits" and hasattr(out, "prediction_logits"):
        return out.prediction_logits
    return getattr(out, field)


def _batch() -> dict[str, Any]:
    torch.manual_seed(3)
    ids = torch.randint(1, VOCAB, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 4:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _pair(tmp_path: Path, ours: Any, theirs: Any) -> tuple[Any, Any]:
    hf = _hf(theirs, tmp_path)
    return ours.from_pretrained(tmp_path), hf


@pytest.mark.parametrize(
    ("ours", "theirs", "field"), PAIRS, ids=lambda p: getattr(p, "__name__", p)
)
@pytest.mark.parametrize("shared", [False, True], ids=["per-row", "shared"])
def test_position_ids_match_transformers(
    tmp_path: Path, ours: Any, theirs: Any, field: str, shared: bool
) -> None:
    """Positions of one's own (rows continuing a text at an offset, left-padded rows
    counted from their first real token), per row (B, N) or shared (1, N)."""
    model, hf = _pair(tmp_path, ours, theirs)
    batch = _batch()
    if shared:
        positions = torch.arange(5, 14)[None]
    else:
        positions = torch.stack([torch.arange(9) + offset for offset in (0, 7, 30)])
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        got = _read(model(**batch, position_ids=positions), field)
        want = _read(hf(**batch, position_ids=positions), field)
        default = _read(model(**batch), field)
    if field == "start_logits" or got.dim() == 3:  # (QA: ours is -inf at padding)
        got, want, default = got[real], want[real], default[real]
    assert (got - want).abs().max() <= 1e-5
    assert (got - default).abs().max() > 1e-3  # the positions were read


@pytest.mark.parametrize(
    ("ours", "theirs", "field"), PAIRS, ids=lambda p: getattr(p, "__name__", p)
)
def test_inputs_embeds_match_input_ids_and_transformers(
    tmp_path: Path, ours: Any, theirs: Any, field: str
) -> None:
    """The word vectors given in place of the ids give the ids' outputs, and gradients
    with respect to them (integrated gradients, adversarial training) are transformers'."""
    model, hf = _pair(tmp_path, ours, theirs)
    batch = _batch()
    ids, mask = batch["input_ids"], batch["attention_mask"]
    real = mask.bool()
    embeds = model.get_input_embeddings()(ids).detach().requires_grad_()
    theirs_embeds = embeds.detach().clone().requires_grad_()
    assert torch.equal(embeds, hf.get_input_embeddings()(ids))
    got = _read(model(inputs_embeds=embeds, attention_mask=mask), field)
    want = _read(hf(inputs_embeds=theirs_embeds, attention_mask=mask), field)
    with torch.no_grad():
        from_ids = _read(model(ids, mask), field)
    if field == "start_logits" or got.dim() == 3:
        got, want, from_ids = got[real], want[real], from_ids[real]
    assert (got - from_ids).abs().max() <= 1e-6  # (with and without autograd)
    assert (got - want).abs().max() <= 1e-5
    weights = torch.randn_like(got)
    (got * weights).sum().backward()
    (want * weights).sum().backward()
    assert embeds.grad is not None and theirs_embeds.grad is not None
    scale = float(theirs_embeds.grad.abs().max())  # (the MLM logits' sum over 120 ids: ~10)
    assert (embeds.grad - theirs_embeds.grad)[real].abs().max() <= 1e-5 * max(scale, 1.0)


def test_outputs_read_by_position_and_key_as_transformers_reads_them(tmp_path: Path) -> None:
    model, hf = _pair(
        tmp_path, BertForSequenceClassification, transformers.BertForSequenceClassification
    )
    batch = _batch()
    labels = torch.tensor([0, 1, 1])
    with torch.no_grad():
        ours, theirs = model(**batch, labels=labels), hf(**batch, labels=labels)
        ours_bare, theirs_bare = model(**batch), hf(**batch)
    # with labels the loss comes first; without, it is no field at all
    for i in range(2):
        assert (ours[i] - theirs[i]).abs().max() <= 1e-5
    assert (ours_bare[0] - theirs_bare[0]).abs().max() <= 1e-5
    assert list(ours.keys())[:2] == list(theirs.keys()) == ["loss", "logits"]
    assert next(iter(ours_bare)) == next(iter(theirs_bare)) == "logits"
    assert (ours["logits"] - theirs["logits"]).abs().max() <= 1e-5
    with pytest.raises(KeyError):
        theirs_bare["loss"]
    with pytest.raises(KeyError, match="loss"):
        ours_bare["loss"]
    assert ours.to_tuple()[2] is ours.hidden_states  # (ours: the last layer's states)
    assert len(ours) == 3 and len(ours_bare) == 2


def test_the_encoder_output_unpacks_and_reads_by_transformers_names(tmp_path: Path) -> None:
    model, hf = _pair(tmp_path, BertModel, transformers.BertModel)
    batch = _batch()
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        out, theirs = model(**batch), hf(**batch)
        hidden, pooled = out  # a tuple still
        every = model(**batch, output_hidden_states=True)
        theirs_every = hf(**batch, output_hidden_states=True)
    assert hidden is out.last_hidden_state is out[0] and pooled is out.pooler_output
    assert (out.last_hidden_state - theirs.last_hidden_state)[real].abs().max() <= 1e-5
    assert (out.pooler_output - theirs.pooler_output).abs().max() <= 1e-5
    assert len(every.hidden_states) == len(theirs_every.hidden_states) == 3
    for a, b in zip(every.hidden_states, theirs_every.hidden_states, strict=True):
        assert (a - b)[real].abs().max() <= 1e-5


def _model() -> Any:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_layers=1,
        num_heads=2,
        intermediate_size=32,
        max_position_embeddings=20,
    )
    return BertForSequenceClassification(config).eval()


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "neither"),
        (
            {
                "input_ids": torch.ones(2, 4, dtype=torch.long),
                "inputs_embeds": torch.zeros(2, 4, 16),
            },
            "both",
        ),
        ({"inputs_embeds": torch.zeros(2, 4, 8)}, r"\(batch, length, 16\)"),
        ({"inputs_embeds": torch.zeros(2, 4)}, r"\(batch, length, 16\)"),
        ({"inputs_embeds": torch.zeros(2, 4, 16, dtype=torch.long)}, "token ids go in input_ids"),
        ({"inputs_embeds": torch.zeros(2, 4, 16, dtype=torch.float64)}, r"\.to\(model\.dtype\)"),
        (
            {"inputs_embeds": torch.zeros(2, 4, 16), "attention_mask": torch.ones(2, 5)},
            r"attention_mask has shape \(2, 5\)",
        ),
        (
            {
                "input_ids": torch.ones(2, 4, dtype=torch.long),
                "position_ids": torch.tensor([[0, 1, 2, 20]] * 2),
            },
            r"position_ids\[0, 3\] is 20",
        ),
        (
            {
                "input_ids": torch.ones(2, 4, dtype=torch.long),
                "position_ids": torch.tensor([[0, -1, 2, 3]]),
            },
            r"position_ids\[0, 1\] is -1",
        ),
        (
            {"input_ids": torch.ones(2, 4, dtype=torch.long), "position_ids": torch.arange(4)},
            r"or \(1, length\)",
        ),
        (
            {"input_ids": torch.ones(2, 4, dtype=torch.long), "position_ids": torch.zeros(2, 4)},
            "integer tensor",
        ),
    ],
    ids=[
        "neither",
        "both",
        "width",
        "rank",
        "ids-as-embeds",
        "dtype",
        "mask-shape",
        "position-too-far",
        "position-negative",
        "position-1d",
        "position-float",
    ],
)
def test_bad_embeds_and_positions_are_refused_with_the_fix(
    inputs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _model()(**inputs)


def test_position_ids_lift_the_length_limit_only_within_the_table() -> None:
    """Rows longer than the position table need positions of their own that lie in it."""
    model = _model()
    ids = torch.ones(1, 24, dtype=torch.long)
    with pytest.raises(ConfigError, match="exceeds max_position_embeddings 20"):
        model(ids)
    positions = torch.arange(24)[None] % 20
    assert model(ids, position_ids=positions).logits.shape == (1, 2)


HEADS = [
    BertForSequenceClassification,
    BertForTokenClassification,
    BertForQuestionAnswering,
    BertForMaskedLM,
    BertForPreTraining,
]


@pytest.mark.parametrize("cls", HEADS, ids=lambda c: c.__name__)
def test_heads_export_with_torch_export_and_run_other_shapes(cls: Any) -> None:
    """The output dataclasses are registered pytrees, as transformers' are: a head exports
    (``torch.export``, the road to ONNX and AOTInductor) with a dynamic batch and length,
    and the exported program gives the eager model's outputs on a batch of another shape."""
    if tuple(int(x) for x in torch.__version__.split(".")[:2]) < (2, 7):
        # (2.4 also fails on tied weights: pytorch#133252)
        pytest.skip(
            "torch 2.4-2.6's dynamo cannot build the output dataclasses (dict subclasses): "
            "'Unsupported call_function UserDefinedClassVariable(TaskOutput)'"
        )
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_layers=1, num_heads=2,
                        intermediate_size=32)  # fmt: skip
    model = cls(config).eval()
    ids = torch.randint(1, 50, (3, 7))
    batch, length = torch.export.Dim("batch", min=1), torch.export.Dim("length", min=2, max=512)
    shapes = {"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}}
    program = torch.export.export(model, (ids, torch.ones_like(ids)), dynamic_shapes=shapes)
    other = torch.randint(1, 50, (2, 11))
    mask = torch.ones_like(other)
    mask[1, 6:] = 0
    with torch.no_grad():
        got, want = program.module()(other, mask), model(other, mask)
    assert type(got) is type(want) and got.keys() == want.keys()
    real = mask.bool()
    for name in want:
        a, b = got[name], want[name]
        if a.dim() >= 2 and a.shape[:2] == other.shape:
            a, b = a[real], b[real]  # (QA: -inf at padding in both)
        assert a.shape == b.shape and (a - b).abs().max() <= 1e-5, name


@pytest.mark.parametrize(
    ("ours", "theirs", "field"), PAIRS, ids=lambda p: getattr(p, "__name__", p)
)
def test_attention_weights_match_transformers_eager_attention(
    tmp_path: Path, ours: Any, theirs: Any, field: str
) -> None:
    """``output_attentions=True``: each layer's (B, heads, N, N) weights, transformers'
    at every real query (padding queries: 0 here), last in the output as in its tuples,
    and the outputs themselves unchanged."""
    _hf(theirs, tmp_path)
    model = ours.from_pretrained(tmp_path)
    hf = theirs.from_pretrained(tmp_path, attn_implementation="eager").eval()
    batch = _batch()
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
        want = hf(**batch, output_attentions=True)
        plain = model(**batch)
    got_field, plain_field = _read(out, field), _read(plain, field)
    if got_field.dim() >= 2 and got_field.shape[:2] == real.shape:
        got_field, plain_field = got_field[real], plain_field[real]
    assert (got_field - plain_field).abs().max() <= 1e-5
    assert len(out.attentions) == len(want.attentions) == 2
    if ours is not BertForPreTraining:  # (its NSP fields come after)
        assert out[-1] is out.attentions
    for a, b in zip(out.attentions, want.attentions, strict=True):
        assert a.shape == b.shape == (3, 2, 9, 9)
        assert (a - b)[real[:, None, :, None].expand_as(a)].abs().max() <= 1e-5
        assert torch.all(a[~real[:, None, :, None].expand_as(a)] == 0)
        sums = a.sum(-1)[real[:, None, :].expand(-1, 2, -1)]
        assert (sums - 1).abs().max() <= 1e-5


def test_the_encoder_tuple_orders_states_then_attentions_as_transformers_does(
    tmp_path: Path,
) -> None:
    _hf(transformers.BertModel, tmp_path)
    model = BertModel.from_pretrained(tmp_path)
    hf = transformers.BertModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    batch = _batch()
    with torch.no_grad():
        both = model(**batch, output_hidden_states=True, output_attentions=True)
        theirs = hf(**batch, output_hidden_states=True, output_attentions=True)
        hidden, _, attentions = model(**batch, output_attentions=True)
    # (transformers' tuple also holds an empty past_key_values between the two)
    assert len(both) == 4 and both.hidden_states is both[2] and both.attentions is both[3]
    assert len(both[2]) == len(theirs.hidden_states) == 3
    assert len(both[3]) == len(theirs.attentions) == 2
    real = batch["attention_mask"].bool()
    assert (hidden - theirs.last_hidden_state)[real].abs().max() <= 1e-5
    for a, b in zip(attentions, theirs.attentions, strict=True):
        assert (a - b)[real[:, None, :, None].expand_as(a)].abs().max() <= 1e-5


def test_attention_weights_carry_gradients_and_unpad_is_skipped(tmp_path: Path) -> None:
    """Attention weights are differentiable (attention-based attributions) and are asked
    of the padded path even where the model would unpad (CUDA's default, forced here)."""
    model = _model().train()
    model.bert.unpad = True
    ids = torch.randint(1, 50, (2, 6))
    mask = torch.ones_like(ids)
    mask[0, 4:] = 0
    model.eval()
    out = model(ids, mask, output_attentions=True)
    assert out.attentions is not None and out.attentions[0].shape == (2, 2, 6, 6)
    out.attentions[0][:, :, 0].sum().backward()
    grads = [p.grad for p in model.bert.layers[0].attention.qkv.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize(
    ("ours", "theirs", "field"), PAIRS[1:], ids=lambda p: getattr(p, "__name__", p)
)
def test_heads_give_every_layers_states_when_asked_as_transformers_does(
    tmp_path: Path, ours: Any, theirs: Any, field: str
) -> None:
    """A head's ``hidden_states``: the last layer's (B, N, hidden) by default; with
    ``output_hidden_states=True`` the tuple of every layer's, transformers'."""
    model, hf = _pair(tmp_path, ours, theirs)
    batch = _batch()
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        plain = model(**batch)
        every = model(**batch, output_hidden_states=True)
        want = hf(**batch, output_hidden_states=True).hidden_states
    assert isinstance(plain.hidden_states, torch.Tensor)
    assert isinstance(every.hidden_states, tuple) and len(every.hidden_states) == len(want) == 3
    assert torch.equal(every.hidden_states[-1], plain.hidden_states)
    for a, b in zip(every.hidden_states, want, strict=True):
        assert (a - b)[real].abs().max() <= 1e-5


def test_transformers_loading_options_are_taken_or_refused_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``attn_implementation`` picks the attention (eager and sdpa: SDPA, the same sums;
    flash_attention_2: the fused kernels), ``local_files_only`` is always so; hub
    options were read as config fields ("BertConfig has no field 'revision'")."""
    hf = _hf(transformers.BertForSequenceClassification, tmp_path)
    batch = _batch()
    with torch.no_grad():
        want = hf(**batch).logits
    for name in ("eager", "sdpa"):
        model = BertForSequenceClassification.from_pretrained(
            tmp_path, attn_implementation=name, local_files_only=True
        )
        assert model.bert.attention_backend == "sdpa", name
        with torch.no_grad():
            assert (model(**batch).logits - want).abs().max() <= 1e-5
    assert BertModel.from_pretrained(tmp_path).attention_backend is None  # automatic
    # the fused kernels: head dims 32, 64, 128 (this model's is 16), and CUDA (or, as in
    # these tests, Triton's interpreter)
    with pytest.raises(ConfigError, match="take head dims 32, 64, 128; this model's is 16"):
        BertModel.from_pretrained(tmp_path, attn_implementation="flash_attention_2")
    wide = tmp_path / "wide"
    _hf(transformers.BertModel, wide, hidden_size=64)
    fused = BertModel.from_pretrained(wide, attn_implementation="flash_attention_2")
    assert fused.attention_backend == "triton"
    if not torch.cuda.is_available():
        with monkeypatch.context() as m:
            m.setenv("TRITON_INTERPRET", "0")
            with pytest.raises(ConfigError, match="need a CUDA GPU and none is available"):
                BertModel.from_pretrained(wide, attn_implementation="flash_attention_2")
    with pytest.raises(ConfigError, match="attn_implementation must be None, 'sdpa'"):
        BertModel.from_pretrained(tmp_path, attn_implementation="flex")
    with pytest.raises(ConfigError, match=r"never asks a model hub: revision="):
        BertModel.from_pretrained(tmp_path, revision="main")


def test_attention_weights_keep_float64_precision(tmp_path: Path) -> None:
    """The written-out attention took its softmax in float32 whatever the model's dtype:
    a float64 model lost its precision (1e-8 off) and failed gradcheck."""
    model, hf = _pair(tmp_path, BertModel, transformers.BertModel)
    hf = transformers.BertModel.from_pretrained(tmp_path, attn_implementation="eager")
    model, hf = model.double(), hf.double().eval()
    batch = _batch()
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
        want = hf(**batch, output_attentions=True)
    assert (out.last_hidden_state - want.last_hidden_state)[real].abs().max() <= 1e-12
    for a, b in zip(out.attentions, want.attentions, strict=True):
        assert a.dtype == torch.float64
        assert (a - b)[real[:, None, :, None].expand_as(a)].abs().max() <= 1e-12
    embeds = model.get_input_embeddings()(batch["input_ids"][:1, :4]).detach()
    assert torch.autograd.gradcheck(
        lambda x: model(inputs_embeds=x, output_attentions=True).attentions[0],
        (embeds.requires_grad_(),), eps=1e-6, atol=1e-6,
    )  # fmt: skip


def test_pretraining_output_reads_by_transformers_names_and_get(tmp_path: Path) -> None:
    model, hf = _pair(tmp_path, BertForPreTraining, transformers.BertForPreTraining)
    batch = _batch()
    with torch.no_grad():
        out, want = model(**batch), hf(**batch)
    assert out.prediction_logits is out.logits and out.seq_relationship_logits is out.nsp_logits
    assert (out.seq_relationship_logits - want.seq_relationship_logits).abs().max() <= 1e-5
    assert out.get("loss") is None and want.get("loss") is None
    assert out.get("nsp_logits") is out.nsp_logits


def test_inputs_embeds_of_another_dtype_are_taken_under_autocast() -> None:
    """Mixed-precision adversarial training perturbs bf16 vectors of an fp32 model under
    autocast: taken there (the sums promote, as in transformers); refused outside it."""
    model = _model()
    ids = torch.randint(1, 50, (2, 5))
    embeds = model.get_input_embeddings()(ids).detach().bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(inputs_embeds=embeds).logits
    assert logits.shape == (2, 2) and logits.isfinite().all()
    with pytest.raises(ConfigError, match=r"inputs_embeds is torch.bfloat16, the model"):
        model(inputs_embeds=embeds)


class _Tuple(torch.nn.Module):
    """A head's outputs as a plain tuple, which ``torch.jit.trace`` needs (transformers'
    ``return_dict=False``; lexforge's heads return dataclasses)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: Any, mask: Any) -> Any:
        return self.model(ids, mask).to_tuple()


def _real_rows(got: Any, want: Any, mask: Any) -> None:
    for a, b in zip(got, want, strict=True):
        if a.dim() >= 2 and a.shape[:2] == mask.shape:
            a, b = a[mask.bool()], b[mask.bool()]
        assert a.shape == b.shape and (a - b).abs().max() <= 1e-5


@pytest.mark.parametrize("heads", [2, 1])
@pytest.mark.parametrize("cls", [BertModel, *HEADS], ids=lambda c: c.__name__)
def test_jit_trace_with_autograd_on_saves_and_generalises(
    tmp_path: Path, cls: Any, heads: int
) -> None:
    """``torch.jit.trace`` as transformers' TorchScript guide calls it (gradients on):
    its own check passes, the trace saves and loads, and on batches of other sizes,
    lengths and padding it gives eager's outputs. Once the trace recorded the training
    paths (Python autograd Functions: unsaveable; products as broadcast sums), and with one
    head and a one-row example a shortcut that served every later row row 0's keys."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_layers=2, num_heads=heads,
                        intermediate_size=32)  # fmt: skip
    model = cls(config).eval()
    wrapped = model if cls is BertModel else _Tuple(model)
    ids = torch.randint(1, 50, (1, 8))  # one row: the example that froze the shortcut
    traced = torch.jit.trace(wrapped, (ids, torch.ones_like(ids)))  # check_trace: on
    torch.jit.save(traced, tmp_path / "model.pt")
    loaded = torch.jit.load(tmp_path / "model.pt")
    for batch, length, cut in ((3, 8, 5), (2, 13, 4), (4, 5, 5)):
        other = torch.randint(1, 50, (batch, length))
        mask = torch.ones_like(other)
        mask[-1, cut:] = 0
        with torch.no_grad():
            want = wrapped(other, mask)
            for got in (traced(other, mask), loaded(other, mask)):
                _real_rows(got, want, mask)
    graph = str(traced.inlined_graph)
    assert "PythonOp" not in graph


@pytest.mark.parametrize("act", ["quick_gelu", "gelu", "gelu_new", "relu", "silu"])
def test_models_pickle_whole_with_every_activation(act: str) -> None:
    """``torch.save(model)`` and spawned workers pickle the module: quick_gelu was a
    lambda, which pickle refuses."""
    import pickle

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_layers=1, num_heads=2,
                        intermediate_size=32, hidden_act=act)  # fmt: skip
    model = BertForSequenceClassification(config).eval()
    copy = pickle.loads(pickle.dumps(model))
    ids = torch.randint(1, 50, (2, 6))
    with torch.no_grad():
        assert torch.equal(copy(ids).logits, model(ids).logits)
