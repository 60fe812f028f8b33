"""Inputs a demanding user gives the BERT model and its HF interop: checkpoints that differ
from ours in legal ways (segment vocabularies, activations, LayerNorm eps, padding id,
positions, shards, half precision) load with transformers' outputs; MLM and next-sentence
labels are read as transformers reads them or refused with the fix; an additive attention
mask is refused, not read backwards; a missing weight is named as the checkpoint names it;
pruning training checkpoints spares folders that are not checkpoints; saving over a
checkpoint never leaves new weights under the old config.json; a position-embedding
override does not relabel learned positions as sinusoidal; integer or bool tensors where
weights belong are refused. transformers is the oracle, used offline (models built from
configs, never downloaded)."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from lexforge.errors import CheckpointError, ConfigError  # noqa: E402
from lexforge.model import BertConfig, BertForMaskedLM, BertForPreTraining, BertModel  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hf_oracle import VOCAB  # noqa: E402
from hf_oracle import hf_model as _hf  # noqa: E402


def _batch(types: int = 2) -> dict[str, Any]:
    torch.manual_seed(1)
    ids = torch.randint(1, VOCAB, (2, 10))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    segments = torch.randint(0, types, ids.shape)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": segments}


# checkpoints that differ from ours in legal ways ----------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"type_vocab_size": 1},
        {"type_vocab_size": 3},
        {"hidden_act": "gelu_new"},
        {"hidden_act": "relu"},
        {"hidden_act": "gelu_pytorch_tanh"},
        {"layer_norm_eps": 1e-5},
        {"pad_token_id": 7},
        {"max_position_embeddings": 64},
    ],
)
def test_legal_variants_give_transformers_hidden_states_and_logits(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    theirs = _hf(transformers.BertForMaskedLM, tmp_path, **config)
    ours = BertForMaskedLM.from_pretrained(tmp_path)
    batch = _batch(config.get("type_vocab_size", 2))
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        got = ours(**batch)
        want = theirs(**batch, output_hidden_states=True)
    assert (got.hidden_states - want.hidden_states[-1])[real].abs().max() <= 1e-5
    assert (got.logits - want.logits)[real].abs().max() <= 1e-5


def test_a_relative_position_checkpoint_is_refused(tmp_path: Path) -> None:
    _hf(transformers.BertModel, tmp_path, position_embedding_type="relative_key")
    with pytest.raises(CheckpointError, match="position_embedding_type 'relative_key'"):
        BertModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_weights_load_as_transformers_reads_them(tmp_path: Path, dtype: str) -> None:
    theirs = _hf(transformers.BertForMaskedLM, tmp_path / "full")
    theirs.to(getattr(torch, dtype)).save_pretrained(tmp_path / "half")
    ours = BertForMaskedLM.from_pretrained(tmp_path / "half")
    oracle = transformers.BertForMaskedLM.from_pretrained(tmp_path / "half", dtype=torch.float32)
    batch = _batch()
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        diff = (ours(**batch).logits - oracle.eval()(**batch).logits)[real].abs().max()
    assert diff <= 1e-5


# labels: as transformers reads them, or refused with the fix -----------------------------


@pytest.fixture(scope="module")
def pretraining(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("pretraining")
    _hf(transformers.BertForPreTraining, path)
    with warnings.catch_warnings():  # the MLM model ignores the next-sentence head
        warnings.simplefilter("ignore")
        return {
            "mlm": BertForMaskedLM.from_pretrained(path),
            "pre": BertForPreTraining.from_pretrained(path),
            "hf_mlm": transformers.BertForMaskedLM.from_pretrained(path).eval(),
            "hf_nsp": transformers.BertForNextSentencePrediction.from_pretrained(path).eval(),
        }


def _mlm_labels() -> Any:
    labels = torch.full((2, 10), -100)
    labels[0, 3], labels[1, 5] = 17, 4
    return labels


def test_mlm_and_next_sentence_labels_of_any_shape_transformers_takes(
    pretraining: dict[str, Any],
) -> None:
    """transformers flattens MLM labels ((B·N,) is taken) and next-sentence labels ((B, 1)
    too); int32 labels are taken as int32 ids are (torch's loss refused them)."""
    ids, labels, nsp = _batch()["input_ids"], _mlm_labels(), torch.tensor([0, 1])
    with torch.no_grad():
        want = pretraining["hf_mlm"](input_ids=ids, labels=labels).loss
        for given in (labels.reshape(-1), labels.int()):
            assert pretraining["mlm"](ids, labels=given).loss.item() == pytest.approx(
                want.item(), abs=1e-5
            )
        want = pretraining["hf_nsp"](input_ids=ids, labels=nsp).loss
        for given in (nsp[:, None], nsp.int()):
            got = pretraining["pre"](ids, next_sentence_label=given).nsp_loss
            assert got.item() == pytest.approx(want.item(), abs=1e-5)


@pytest.mark.parametrize(
    "kind,labels,message",
    [
        ("mlm", torch.full((2, 10), VOCAB), rf"labels\[0, 0\] is {VOCAB}, outside \[0, {VOCAB}\)"),
        ("mlm", torch.full((2, 10), -5), r"labels\[0, 0\] is -5, outside .*-100 marks"),
        ("mlm", torch.zeros(2, 10), r"integer class ids .*got torch.float32"),
        ("mlm", torch.zeros(2, 9, dtype=torch.long), r"shape \(2, 9\); the batch takes \(2, 10\)"),
        ("nsp", torch.tensor([0, 2]), r"next_sentence_label\[1\] is 2, outside \[0, 2\)"),
        ("nsp", torch.tensor([0, 1, 1]), r"shape \(3,\); the batch takes \(2,\): one per row"),
        ("nsp", torch.tensor([0.0, 1.0]), r"next_sentence_label must be integer class ids"),
    ],
)  # fmt: skip
def test_labels_the_loss_cannot_read_are_refused(
    pretraining: dict[str, Any], kind: str, labels: Any, message: str
) -> None:
    """Each of these was a raw IndexError or RuntimeError from the loss (on a GPU, a
    device-side assert); transformers fails on each as well."""
    ids = _batch()["input_ids"]
    if kind == "mlm":
        with pytest.raises(ConfigError, match=message):
            pretraining["mlm"](ids, labels=labels)
        with pytest.raises(ConfigError, match=message):
            pretraining["pre"](ids, labels=labels)
        oracle = pretraining["hf_mlm"]
    else:
        with pytest.raises(ConfigError, match=message):
            pretraining["pre"](ids, next_sentence_label=labels)
        oracle = pretraining["hf_nsp"]
    with pytest.raises(Exception):  # noqa: B017 (the oracle: any failure)
        oracle(input_ids=ids, labels=labels)


# the attention mask and the sequence length ----------------------------------------------


def test_an_additive_attention_mask_is_refused_not_read_backwards() -> None:
    """0 at real tokens and -10000 at padding read as a 0/1 mask attends to the padding
    alone (transformers reads it as attending everywhere): refused, with the conversion."""
    torch.manual_seed(0)
    model = BertModel(
        BertConfig(vocab_size=VOCAB, hidden_size=32, num_layers=1, num_heads=2)
    ).eval()
    batch = _batch()
    additive = (1.0 - batch["attention_mask"].float()) * -10000.0
    with pytest.raises(ConfigError, match=r"attention_mask\[1, 7\] is -10000.0.*\(mask == 0\)"):
        model(batch["input_ids"], additive)
    with torch.no_grad():  # what it says converts it; bool, int and float 0/1 masks agree
        want, _ = model(batch["input_ids"], additive == 0)
        for mask in (batch["attention_mask"], batch["attention_mask"].float()):
            assert torch.equal(model(batch["input_ids"], mask)[0], want)


def test_a_sequence_past_the_positions_says_how_to_fit(tmp_path: Path) -> None:
    _hf(transformers.BertModel, tmp_path, max_position_embeddings=64)
    model = BertModel.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match=r"length 65 exceeds .* 64: truncate .*max_length=64"):
        model(torch.ones(1, 65, dtype=torch.long))
    with pytest.raises((IndexError, RuntimeError)):  # the oracle fails as well
        transformers.BertModel.from_pretrained(tmp_path)(torch.ones(1, 65, dtype=torch.long))


# a checkpoint without a weight -----------------------------------------------------------


def test_a_missing_weight_is_named_as_the_checkpoint_names_it(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from weights_io import load_file  # (a copy: the file is rewritten below)

    _hf(transformers.BertForMaskedLM, tmp_path)
    weights = tmp_path / "model.safetensors"
    state = load_file(weights)
    gone = "bert.encoder.layer.1.output.LayerNorm.bias"
    save_file({k: v for k, v in state.items() if k != gone}, weights, metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=rf"lacks encoder weights \['{gone}'\]"):
        BertForMaskedLM.from_pretrained(tmp_path)
    query = "bert.encoder.layer.0.attention.self.query.weight"  # a third of our fused QKV
    save_file({k: v for k, v in state.items() if k != query}, weights, metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=rf"lacks encoder weights \['{query}'\]"):
        BertForMaskedLM.from_pretrained(tmp_path)


# training checkpoints ---------------------------------------------------------------------


def test_pruning_spares_folders_that_are_not_checkpoints(tmp_path: Path) -> None:
    """A copy the user keeps beside the checkpoints (step-best, step-0000001.bak) is not
    one of them: pruning the oldest used to delete it (its name sorted before step 0)."""
    from lexforge.train import checkpoint

    config = BertConfig(vocab_size=VOCAB, hidden_size=32, num_layers=1, num_heads=2)
    model = BertForMaskedLM(config)
    optimizer = torch.optim.AdamW(model.parameters())
    root = tmp_path / "checkpoints"
    first = checkpoint.save(root, 1, model, optimizer, {}, keep=1)
    for name in ("step-best", "step-0000001.bak"):
        shutil.copytree(first, root / name)
    for step in (2, 3):
        checkpoint.save(root, step, model, optimizer, {}, keep=1)
    names = sorted(p.name for p in root.iterdir())
    assert names == ["latest", "step-0000001.bak", "step-0000003", "step-best"]
    (root / "latest").unlink()  # the newest by number, the user's copies aside
    assert checkpoint.latest(root) == root / "step-0000003"


# saving over a checkpoint -----------------------------------------------------------------


def _states_equal(a: Any, b: Any) -> bool:
    a, b = a.state_dict(), b.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_save_killed_between_its_files_leaves_the_old_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same shapes, another activation and eps: the new weights under the old config.json
    loaded without a word (each file was replaced on its own). Every file is staged first
    and config.json goes in last: a failure while writing leaves the old checkpoint, and
    the files the user put beside it, as they were; a save that completes leaves no
    staging folder."""
    from lexforge.model import hf

    path = tmp_path / "m"
    old = BertForMaskedLM(BertConfig(vocab_size=VOCAB, hidden_size=32, num_layers=1,
                                     num_heads=2)).eval()  # fmt: skip
    old.save_pretrained(path)
    (path / "README.md").write_text("mine")
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    torch.manual_seed(1)
    new = BertForMaskedLM(old.config.replace(hidden_act="relu", layer_norm_eps=1e-5)).eval()

    def killed(target: Path, text: str) -> None:
        raise KeyboardInterrupt  # the process dies while writing config.json

    with monkeypatch.context() as patch:
        patch.setattr(hf, "_write_text", killed)
        with pytest.raises(KeyboardInterrupt):
            new.save_pretrained(path)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before  # no staging left
    loaded = BertForMaskedLM.from_pretrained(path)
    assert loaded.config == old.config and _states_equal(loaded, old)
    ids = _batch()["input_ids"]
    with torch.no_grad():  # and transformers reads the old model too
        want = old(ids).logits
        assert torch.equal(loaded(ids).logits, want)
        theirs = transformers.BertForMaskedLM.from_pretrained(path).eval()(ids).logits
        assert (theirs - want).abs().max() <= 1e-5

    new.save_pretrained(path)
    assert sorted(p.name for p in path.iterdir()) == [
        "README.md", "config.json", "model.safetensors"
    ]  # fmt: skip
    assert (path / "README.md").read_text() == "mine"
    loaded = BertForMaskedLM.from_pretrained(path)
    assert loaded.config == new.config and _states_equal(loaded, new)


def test_a_save_killed_while_its_files_move_in_leaves_nothing_loadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the staged files are renamed in (new weights, still no new config) config.json
    holds a placeholder that neither lexforge nor transformers loads; without any
    config.json, transformers' BertModel would load the weights under a default config.
    lexforge says a save was interrupted."""
    path = tmp_path / "m"
    config = BertConfig(vocab_size=VOCAB, hidden_size=32, num_layers=1, num_heads=2)
    BertModel(config).save_pretrained(path)
    rename = Path.replace

    def killed(self: Path, target: Any) -> Any:
        if self.name == "config.json" and Path(target) == path / "config.json":
            raise KeyboardInterrupt  # the last rename, which commits the save
        return rename(self, target)

    new = BertModel(config.replace(hidden_act="relu"))
    with monkeypatch.context() as patch:
        patch.setattr(Path, "replace", killed)
        with pytest.raises(KeyboardInterrupt):
            new.save_pretrained(path)
    with pytest.raises(CheckpointError, match=r"m is being saved: .* killed before it finished"):
        BertModel.from_pretrained(path)
    with pytest.raises(OSError, match="not a valid JSON"):  # the oracle: no model either
        transformers.BertModel.from_pretrained(path)
    new.save_pretrained(path)  # saving again mends it
    assert _states_equal(BertModel.from_pretrained(path), new)


# position embeddings ----------------------------------------------------------------------


def test_a_sinusoidal_override_does_not_relabel_learned_positions(tmp_path: Path) -> None:
    """position_embedding="sinusoidal" put a checkpoint's learned table in the fixed one's
    place and called the model sinusoidal: refused, naming the mismatch. A learned-labelled
    checkpoint whose table is the sinusoidal one is taken; so is "learned" over a
    sinusoidal checkpoint, which starts from its table and computes as transformers does."""
    from lexforge.model import sinusoidal_positions

    theirs = _hf(transformers.BertModel, tmp_path / "learned")
    with pytest.raises(ConfigError, match=r"'sinusoidal' .* learned \(embeddings\.position_"):
        BertModel.from_pretrained(tmp_path / "learned", position_embedding="sinusoidal")

    with torch.no_grad():  # transformers' learned table, set to the sinusoidal one
        theirs.embeddings.position_embeddings.weight.copy_(sinusoidal_positions(512, 32))
    theirs.save_pretrained(tmp_path / "fixed")
    fixed = BertModel.from_pretrained(tmp_path / "fixed", position_embedding="sinusoidal")
    assert torch.equal(fixed.embeddings.positions(), sinusoidal_positions(512, 32))

    fixed.save_pretrained(tmp_path / "ours")  # config.json says sinusoidal
    learned = BertModel.from_pretrained(tmp_path / "ours", position_embedding="learned")
    assert learned.embeddings.position.weight.requires_grad
    batch = _batch()
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        diff = (learned(**batch)[0] - theirs(**batch).last_hidden_state)[real].abs().max()
    assert diff <= 1e-5


def test_a_sinusoidal_checkpoint_trained_since_loads_as_learned(tmp_path: Path) -> None:
    """A lexforge sinusoidal model, trained in transformers (which moves the table and
    keeps lexforge's entry in config.json), loaded as sinusoidal with the moved table in
    the fixed buffer: frozen for further training and saved as sinusoidal. It loads as
    learned positions (trainable), with a warning, and computes as transformers does; the
    override asking for the fixed table is refused."""
    config = BertConfig(vocab_size=VOCAB, hidden_size=32, num_layers=2, num_heads=2,
                        intermediate_size=37, position_embedding="sinusoidal")  # fmt: skip
    ours = BertModel(config)
    ours.save_pretrained(tmp_path / "ours")
    theirs = transformers.BertModel.from_pretrained(tmp_path / "ours")
    with torch.no_grad():  # what fine-tuning in transformers does to the table
        theirs.embeddings.position_embeddings.weight.add_(0.1)
    theirs.save_pretrained(tmp_path / "theirs")
    assert json.loads((tmp_path / "theirs" / "config.json").read_text())["lexforge"]

    with pytest.warns(UserWarning, match=r"says sinusoidal .* not the sin/cos table"):
        loaded = BertModel.from_pretrained(tmp_path / "theirs")
    assert loaded.config.position_embedding == "learned"
    assert loaded.embeddings.position.weight.requires_grad
    batch = _batch()
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        diff = (loaded(**batch)[0] - theirs(**batch).last_hidden_state)[real].abs().max()
    assert diff <= 1e-5
    with pytest.raises(ConfigError, match=r"'sinusoidal' .* learned \(embeddings\.position_"):
        BertModel.from_pretrained(tmp_path / "theirs", position_embedding="sinusoidal")
    with warnings.catch_warnings():  # the table that is still the sin/cos one: no warning
        warnings.simplefilter("error")
        assert BertModel.from_pretrained(tmp_path / "ours").config.position_embedding == (
            "sinusoidal"
        )


# weights of the wrong kind ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int64", "bool", "int8"])
def test_integer_or_bool_tensors_where_weights_belong_are_refused(
    tmp_path: Path, dtype: str
) -> None:
    """They were cast to float and loaded without a word (a bool LayerNorm weight reads as
    1.0 everywhere). The integer buffers other tools save (position_ids) are still taken."""
    from safetensors.torch import save_file

    from weights_io import load_file  # (a copy: the file is rewritten below)

    _hf(transformers.BertModel, tmp_path)
    weights = tmp_path / "model.safetensors"
    state = load_file(weights)
    state["embeddings.position_ids"] = torch.arange(512)[None]
    save_file(state, weights, metadata={"format": "pt"})
    BertModel.from_pretrained(tmp_path)
    name = "encoder.layer.1.output.LayerNorm.weight"
    state[name] = (state[name] * 3).to(getattr(torch, dtype))
    save_file(state, weights, metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=rf"{name} holds torch\.{dtype} values"):
        BertModel.from_pretrained(tmp_path)
    query = "encoder.layer.0.attention.self.query.weight"  # a third of our fused QKV
    state = load_file(weights)
    state[name] = state[name].float()
    state[query] = state[query].long()
    save_file(state, weights, metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=rf"{query} holds torch\.int64 values"):
        BertModel.from_pretrained(tmp_path)
