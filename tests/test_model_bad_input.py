"""Bad input to the model gets a typed error that names the problem and the fix: fill-mask
on a checkpoint without MLM weights, a config.json with fewer layers than the weights,
and token ids, segment ids, dtypes and shapes that the encoder cannot take."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lexforge as lf  # noqa: E402
from lexforge import datasets  # noqa: E402
from lexforge.cli import main  # noqa: E402
from lexforge.errors import CheckpointError, ConfigError, TokenIdError  # noqa: E402
from lexforge.model import (  # noqa: E402
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)


@pytest.fixture(scope="module")
def tok() -> Any:
    return lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])


def _config(vocab_size: int, **kw: Any) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_layers=2, num_heads=2,
        intermediate_size=64, max_position_embeddings=32, **kw,
    )  # fmt: skip


def _save(cls: Any, tok: Any, path: Path, **kw: Any) -> Path:
    torch.manual_seed(0)
    cls(_config(tok.vocab_size, **kw)).save_pretrained(path, tokenizer=tok)
    return path


def _edit_config(path: Path, **changes: Any) -> None:
    data = json.loads((path / "config.json").read_text())
    data.update(changes)
    (path / "config.json").write_text(json.dumps(data))


# fill-mask needs MLM weights ------------------------------------------------------------


@pytest.mark.parametrize(
    "cls", [BertForSequenceClassification, BertForTokenClassification, BertForQuestionAnswering]
)
@pytest.mark.parametrize("architectures", [True, False])
def test_fill_mask_refuses_a_task_head_checkpoint(
    tok: Any, tmp_path: Path, cls: Any, architectures: bool
) -> None:
    path = _save(cls, tok, tmp_path / "m")
    if not architectures:  # then the kind comes from the head's weights
        _edit_config(path, architectures=None)
    with pytest.warns(UserWarning, match="no weights for mlm"):
        model = BertForMaskedLM.from_pretrained(path)
    want = f"{path} has no MLM head weights \\(cls.predictions.\\*\\): it is a {cls.__name__}"
    with pytest.raises(CheckpointError, match=want + ".*pretrained with MLM"):
        model.fill_mask("the film was [MASK].")


def test_cli_fill_mask_refuses_a_classifier(
    tok: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _save(BertForSequenceClassification, tok, tmp_path / "m")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loading warnings; the error is what counts
        assert main(["fill-mask", str(path), "a [MASK] b"]) == 1
    err = capsys.readouterr().err
    assert "has no MLM head weights" in err and "BertForSequenceClassification checkpoint" in err


def test_fill_mask_on_an_encoder_alone_warns_and_on_mlm_weights_says_nothing(
    tok: Any, tmp_path: Path
) -> None:
    encoder = _save(BertModel, tok, tmp_path / "encoder")
    with pytest.warns(UserWarning, match="no weights for mlm"):
        model = BertForMaskedLM.from_pretrained(encoder)
    with pytest.warns(UserWarning, match="it is a BertModel checkpoint .*untrained"):
        assert len(model.fill_mask("a [MASK] b", top_k=2)[0]) == 2
    mlm = _save(BertForMaskedLM, tok, tmp_path / "mlm")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = BertForMaskedLM.from_pretrained(mlm)
        assert len(loaded.fill_mask("a [MASK] b")[0]) == 5
        assert len(loaded.fill_mask("a [MASK] b", top_k=np.int64(3))[0]) == 3  # as sizes
    for bad in (0, 2.5, True):
        with pytest.raises(ConfigError, match="top_k must be"):
            loaded.fill_mask("a [MASK] b", top_k=bad)


# a config.json that does not describe the weights -------------------------------------


def test_fewer_layers_in_config_than_in_the_weights(tok: Any, tmp_path: Path) -> None:
    path = _save(BertForMaskedLM, tok, tmp_path / "m")
    _edit_config(path, num_hidden_layers=1)
    for cls in (BertModel, BertForMaskedLM, BertForSequenceClassification):
        with pytest.raises(
            CheckpointError,
            match=r"holds 16 encoder weights .*bert\.encoder\.layer\.1\..*the weights have 2 "
            r"layers, config.json's num_hidden_layers \(num_layers\) says 1; set "
            r"num_hidden_layers to 2",
        ):
            cls.from_pretrained(path)


def test_pre_ln_weights_under_a_post_ln_config(tok: Any, tmp_path: Path) -> None:
    path = _save(BertForMaskedLM, tok, tmp_path / "m", pre_layernorm=True)
    _edit_config(path, model_type="bert", lexforge={"pre_layernorm": False})
    with pytest.raises(CheckpointError, match=r"encoder\.final_layer_norm.*pre_layernorm"):
        BertForMaskedLM.from_pretrained(path)


def test_another_tasks_head_is_still_only_ignored(tok: Any, tmp_path: Path) -> None:
    path = _save(BertForSequenceClassification, tok, tmp_path / "m")
    with pytest.warns(UserWarning, match="ignored 2 weights .*classifier.*another task"):
        BertModel.from_pretrained(path)
    # a pretraining model read for fill-mask: its NSP head is named as such
    pretrained = _save(BertForPreTraining, tok, tmp_path / "p")
    with pytest.warns(UserWarning, match="ignored 4 weights .*next-sentence head"):
        BertForMaskedLM.from_pretrained(pretrained)
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    _edit_config(copy, num_hidden_layers=3)  # more layers than the weights: still an error
    with pytest.raises(CheckpointError, match="lacks encoder weights"):
        BertModel.from_pretrained(copy)


def test_a_query_key_or_value_of_the_wrong_shape_is_named(tok: Any, tmp_path: Path) -> None:
    """Q, K and V are joined into one projection: a part of the wrong shape is named
    before they are (a bare torch.cat error otherwise)."""
    from safetensors.torch import save_file

    from weights_io import load_file  # (a copy: the file is rewritten below)

    path = _save(BertModel, tok, tmp_path / "m")
    weights = path / "model.safetensors"
    state = load_file(weights)
    key = "encoder.layer.0.attention.self.key.weight"
    state[key] = state[key][:, :16].contiguous()
    save_file(state, weights, {"format": "pt"})
    with pytest.raises(CheckpointError, match=rf"{key} has shape \(32, 16\), the model expects"):
        BertModel.from_pretrained(path)


def test_a_tied_decoder_that_differs_from_the_embeddings_is_said(tok: Any, tmp_path: Path) -> None:
    """config.json ties the MLM decoder to the word embeddings (the default), yet the file
    holds another matrix: the tie wins (transformers 4), with a warning saying how to use
    the stored one; an equal copy (what transformers writes) says nothing."""
    from safetensors.torch import save_file

    from weights_io import load_file  # (a copy: the file is rewritten below)

    path = _save(BertForMaskedLM, tok, tmp_path / "m")
    weights = path / "model.safetensors"
    state = load_file(weights)
    words = state["bert.embeddings.word_embeddings.weight"]
    state["cls.predictions.decoder.weight"] = words.clone()
    save_file(state, weights, {"format": "pt"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BertForMaskedLM.from_pretrained(path)
    state["cls.predictions.decoder.weight"] = words + 0.5
    save_file(state, weights, {"format": "pt"})
    with pytest.warns(
        UserWarning, match='differs from the word embeddings.*"tie_word_embeddings": false'
    ):
        BertForMaskedLM.from_pretrained(path)
    _edit_config(path, tie_word_embeddings=False)
    untied = BertForMaskedLM.from_pretrained(path)
    assert torch.equal(untied.mlm.decoder, words + 0.5)


def test_an_unreadable_tokenizer_does_not_stop_the_weights(tok: Any, tmp_path: Path) -> None:
    """A tokenizer.json lexforge cannot read (a Unigram one) is skipped with a warning, as
    transformers' model classes never read it. vocab.txt beside it is not taken instead:
    transformers' AutoTokenizer reads the tokenizer.json, so vocab.txt may tokenize
    otherwise (a tokenizer.json refused for its added tokens, say)."""
    tokenizers = pytest.importorskip("tokenizers")
    path = _save(BertModel, tok, tmp_path / "m")
    vocab = [("<unk>", 0.0), *((c, -1.0) for c in "abcdefgh")]
    tokenizers.Tokenizer(tokenizers.models.Unigram(vocab, unk_id=0)).save(
        str(path / "tokenizer.json")
    )
    with pytest.warns(UserWarning, match=r"tokenizer\.json was not loaded .*Unigram"):
        model = BertModel.from_pretrained(path)
    assert model.tokenizer is None and (path / "vocab.txt").is_file()
    (path / "tokenizer.json").unlink()  # the classic folder: vocab.txt alone is read
    assert BertModel.from_pretrained(path).tokenizer.encode("hello world") == tok.encode(
        "hello world"
    )


def test_config_json_edge_cases_read_as_transformers_reads_them(tok: Any, tmp_path: Path) -> None:
    """No model_type reads as a BERT (transformers' BertModel.from_pretrained does); a
    QA head with other than 2 outputs and a mismatch made by overrides say so."""
    transformers = pytest.importorskip("transformers")
    path = _save(BertForMaskedLM, tok, tmp_path / "m")
    data = json.loads((path / "config.json").read_text())
    del data["model_type"]
    (path / "config.json").write_text(json.dumps(data))
    assert BertModel.from_pretrained(path).config.num_layers == 2
    with pytest.raises(CheckpointError, match=r"changed by the overrides num_layers=1"):
        BertModel.from_pretrained(path, num_layers=1)
    qa = transformers.BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, num_labels=3,
    )  # fmt: skip
    transformers.BertForQuestionAnswering(qa).save_pretrained(tmp_path / "qa")
    with pytest.raises(
        CheckpointError, match=r"a question-answering head has 2 outputs .* this one 3"
    ):
        BertForQuestionAnswering.from_pretrained(tmp_path / "qa")
    _edit_config(path, model_type="bert", position_embedding_type="relative_key")
    with pytest.raises(CheckpointError, match=r"relative_key' is not supported: .*absolute"):
        BertModel.from_pretrained(path)


def test_no_model_type_but_another_architecture_is_refused(tok: Any, tmp_path: Path) -> None:
    """Without model_type a config.json reads as a BERT, but not when its architectures
    name another model: a RoBERTa (positions from pad + 1) loaded that way gave hidden
    states off by up to 3 with no word. A BERT's own architectures still load."""
    transformers = pytest.importorskip("transformers")
    small = {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 1,
             "num_attention_heads": 2, "intermediate_size": 64}  # fmt: skip
    transformers.RobertaModel(transformers.RobertaConfig(**small)).save_pretrained(tmp_path / "r")
    data = json.loads((tmp_path / "r" / "config.json").read_text())
    del data["model_type"]
    (tmp_path / "r" / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"architectures name 'RobertaModel' \(a 'roberta'"):
        BertModel.from_pretrained(tmp_path / "r")
    bert = transformers.BertForMaskedLM(transformers.BertConfig(**small)).eval()
    bert.save_pretrained(tmp_path / "b")
    ids = torch.tensor([[2, 5, 7, 3]])
    # a BERT's own class, or a custom name that is no transformers model class, loads
    for names in (["BertForMaskedLM"], ["BERTClassifier"], ["SentenceTransformer"]):
        _edit_config(tmp_path / "b", model_type=None, architectures=names)
        with torch.no_grad():
            ours = BertForMaskedLM.from_pretrained(tmp_path / "b")(ids).logits
            assert (ours - bert(ids).logits).abs().max() < 1e-5, names


def test_a_roberta_naming_nothing_is_refused_by_its_padding_row(tmp_path: Path) -> None:
    """A RoBERTa-family encoder saves BertModel's very names; with neither model_type nor
    architectures in its config.json it loaded as a BERT, every state off by about 2
    (an audit). Its never-trained padding row of the position table gives it away; a
    BERT naming nothing still loads, and gives transformers' states."""
    transformers = pytest.importorskip("transformers")
    small = {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 1,
             "num_attention_heads": 2, "intermediate_size": 64}  # fmt: skip
    torch.manual_seed(0)
    for name, cls, config in (
        ("roberta", transformers.RobertaModel, transformers.RobertaConfig),
        ("xlmr", transformers.XLMRobertaModel, transformers.XLMRobertaConfig),
    ):
        cls(config(**small)).save_pretrained(tmp_path / name)
        _edit_config(tmp_path / name, model_type=None, architectures=None)
        with pytest.raises(
            CheckpointError,
            match=r"row 1 \(pad_token_id\) of the position "
            r"table is all zeros.*RoBERTa.*\"model_type\": \"bert\"",
        ):
            BertModel.from_pretrained(tmp_path / name)
    bert = transformers.BertModel(transformers.BertConfig(**small)).eval()
    bert.save_pretrained(tmp_path / "b")
    _edit_config(tmp_path / "b", model_type=None, architectures=None)
    ids = torch.tensor([[2, 5, 7, 3]])
    with torch.no_grad():
        ours = BertModel.from_pretrained(tmp_path / "b")(ids)[0]
        assert (ours - bert(ids).last_hidden_state).abs().max() < 1e-5


def test_another_models_names_and_factorised_embeddings_are_named(tmp_path: Path) -> None:
    """Without model_type, an ELECTRA's weights (electra.embeddings...) were refused as
    truncated or not a BERT, and a factorised embedding (embedding_size < hidden_size) as
    a config that does not match its weights: the messages now say what they are."""
    transformers = pytest.importorskip("transformers")
    small = {"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 1,
             "num_attention_heads": 2, "intermediate_size": 64}  # fmt: skip
    config = transformers.ElectraConfig(**small, embedding_size=32)
    transformers.ElectraForPreTraining(config).save_pretrained(tmp_path / "e")
    _edit_config(tmp_path / "e", model_type=None)
    with pytest.raises(CheckpointError, match=r"named electra\.embeddings.*another model's"):
        BertModel.from_pretrained(tmp_path / "e")
    config = transformers.ElectraConfig(**small, embedding_size=16)
    transformers.ElectraModel(config).save_pretrained(tmp_path / "f")
    _edit_config(tmp_path / "f", model_type=None, architectures=None)
    with pytest.raises(CheckpointError, match=r"embedding_size 16 differs from hidden_size 32"):
        BertModel.from_pretrained(tmp_path / "f")


def test_a_saved_token_type_ids_buffer_is_ignored(tok: Any, tmp_path: Path) -> None:
    """transformers' non-persistent token_type_ids buffer, which some tools save, loads
    as transformers loads it: ignored, with the same outputs."""
    from safetensors.torch import save_file

    from weights_io import load_file  # (a copy: the file is rewritten below)

    path = _save(BertForMaskedLM, tok, tmp_path / "m")
    ids = torch.tensor([[2, 5, 7, 3]])
    with torch.no_grad():
        want = BertForMaskedLM.from_pretrained(path)(ids).logits
        weights = load_file(path / "model.safetensors")
        weights["bert.embeddings.token_type_ids"] = torch.zeros(1, 32, dtype=torch.int64)
        save_file(weights, path / "model.safetensors", metadata={"format": "pt"})
        assert torch.equal(BertForMaskedLM.from_pretrained(path)(ids).logits, want)


def test_a_foreign_tokenizer_is_named(tok: Any, tmp_path: Path) -> None:
    """embed, embed_words and fill_mask take lexforge tokenizers: a path or another
    library's tokenizer gets a ConfigError naming the fix, not an AttributeError."""
    model = BertForMaskedLM.from_pretrained(_save(BertForMaskedLM, tok, tmp_path / "m"))
    for foreign in ("tokenizer.json", object()):
        for call in (
            lambda t: model.embed(["a b"], tokenizer=t),
            lambda t: model.embed_words(["a b"], tokenizer=t),
            lambda t: model.fill_mask("a [MASK]", tokenizer=t),
        ):
            with pytest.raises(ConfigError, match=r"must be a lexforge tokenizer.*from_file"):
                call(foreign)


def test_a_negative_pad_token_id_reads_as_transformers_reads_it(tok: Any, tmp_path: Path) -> None:
    """transformers builds a BERT with ``pad_token_id: -1`` (warning) and torch takes the
    last row; ours warns, reads the same row and gives the same hidden states. A pad id
    that is no integer is refused with its name."""
    transformers = pytest.importorskip("transformers")
    hf_config = transformers.BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, pad_token_id=-1,
    )  # fmt: skip
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf = transformers.BertModel(hf_config).eval()
    hf.save_pretrained(tmp_path / "hf")
    with pytest.warns(
        UserWarning, match=rf"pad_token_id -1 is negative; read as {tok.vocab_size - 1}"
    ):
        ours = BertModel.from_pretrained(tmp_path / "hf")
    assert ours.config.pad_token_id == tok.vocab_size - 1
    ids = torch.tensor([tok.encode("a fine film"), tok.encode("a dull one")])
    with torch.no_grad():
        expected = hf(input_ids=ids).last_hidden_state
        assert torch.allclose(ours(ids)[0], expected, atol=1e-5)
    _edit_config(tmp_path / "hf", pad_token_id="0")
    with pytest.raises(
        CheckpointError, match=r"pad_token_id must be an integer id or null, got '0'"
    ):
        BertModel.from_pretrained(tmp_path / "hf")


def test_from_pretrained_returns_an_evaluation_mode_model(tok: Any, tmp_path: Path) -> None:
    """As transformers does: dropout is off until .train(), so two calls agree."""
    path = _save(BertForSequenceClassification, tok, tmp_path / "m")
    model = BertForSequenceClassification.from_pretrained(path)
    assert not model.training
    ids = torch.tensor([tok.encode("a fine film")])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, model(ids).logits)


# forward's inputs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> Any:
    torch.manual_seed(0)
    return BertModel(_config(1000)).eval()


def _ids(*rows: list[int]) -> Any:
    return torch.tensor(rows)


@pytest.mark.parametrize(
    "args,error,message",
    [
        ((_ids([2, 5000, 3]),), TokenIdError, r"input_ids\[0, 1\] is 5000, outside \[0, 1000\)"),
        ((_ids([2, 5, 3], [2, -1, 3]),), TokenIdError, r"input_ids\[1, 1\] is -1, outside"),
        ((_ids([2, 5, 3]), None, _ids([0, 2, 1])), ConfigError,
         r"token_type_ids\[0, 1\] is 2, outside \[0, 2\)"),
        ((_ids([2, 5, 3]), None, _ids([0, -1, 1])), ConfigError, r"token_type_ids\[0, 1\] is -1"),
        ((torch.tensor([[2.0, 5.0]]),), ConfigError,
         r"input_ids must be an integer tensor .*got torch.float32"),
        ((_ids([2, 5]), None, torch.zeros(1, 2)), ConfigError,
         r"token_type_ids must be an integer tensor .*got torch.float32"),
        ((torch.zeros(1, 0, dtype=torch.long),), ConfigError,
         r"\(batch, length\) with length >= 1, got shape \(1, 0\)"),
        ((_ids([2, 5])[0],), ConfigError, r"\(batch, length\) .*got shape \(2,\)"),
        ((np.array([[2, 5]]),), ConfigError, r"input_ids must be a torch.Tensor, got ndarray"),
        ((_ids([2, 5]), torch.ones(1, 3)), ConfigError,
         r"attention_mask has shape \(1, 3\), input_ids \(1, 2\)"),
        ((_ids([2, 5]), None, _ids([0, 0, 0])), ConfigError,
         r"token_type_ids has shape \(1, 3\), input_ids \(1, 2\)"),
    ],
)  # fmt: skip
def test_forward_names_the_bad_input(
    model: Any, args: tuple[Any, ...], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        model(*args)


def test_heads_check_their_inputs_too(tok: Any) -> None:
    head = BertForSequenceClassification(_config(1000)).eval()
    with pytest.raises(TokenIdError, match="is 1000, outside"):
        head(_ids([2, 1000]))


def test_heads_reading_the_pooler_refuse_left_padding(tok: Any) -> None:
    """The pooler reads position 0, which is 0 at padding: a left-padded row scored the
    pooler's bias alone (every such row the same logits, whatever its text; an audit
    against transformers). The classifier and the next-sentence head refuse it; rows
    padded on the right, and rows of padding alone, still run, each as it runs alone."""
    from lexforge.model import BertForPreTraining

    torch.manual_seed(0)
    for head in (BertForSequenceClassification(_config(1000)), BertForPreTraining(_config(1000))):
        head.eval()
        left = _ids([2, 7, 8, 3], [0, 2, 9, 3])
        nsp = {} if hasattr(head, "classifier") else {"next_sentence_label": _ids([0, 1])[0]}
        with pytest.raises(
            ConfigError,
            match=r"attention_mask\[1\] starts with padding .*"
            r"position 1\).*pad on the right",
        ):
            head(left, left != 0, **nsp)
        with pytest.raises(ConfigError, match="starts with padding"):  # a float mask too
            head(left, (left != 0).float(), **nsp)
        if nsp:  # MLM alone reads no pooled vector: left padding is taken
            labels = torch.full_like(left, -100)
            labels[0, 1] = 7
            assert head(left, left != 0, labels=labels).loss is not None
        right = _ids([2, 7, 8, 3], [2, 9, 3, 0], [0, 0, 0, 0])
        with torch.no_grad():
            out = head(right, right != 0)
            alone = head(_ids([2, 9, 3]))
        logits = out.logits if hasattr(head, "classifier") else out.nsp_logits
        want = alone.logits if hasattr(head, "classifier") else alone.nsp_logits
        assert torch.allclose(logits[1], want[0], atol=1e-5)
    encoder = BertModel(_config(1000)).eval()  # hidden states alone: not refused
    assert encoder(left, left != 0)[0].shape == (2, 4, 32)


def test_good_inputs_still_run_int32_included(model: Any) -> None:
    ids = _ids([2, 999, 3, 0], [2, 0, 3, 0])
    with torch.no_grad():
        want, _ = model(ids, ids != 0, torch.zeros_like(ids))
        got, _ = model(ids.int(), (ids != 0).int(), torch.zeros_like(ids).int())
    assert torch.equal(want, got)
    assert model(torch.zeros(0, 4, dtype=torch.long))[0].shape == (0, 4, 32)  # no rows: fine


def test_checks_leave_compile_one_graph(model: Any) -> None:
    """fullgraph=True fails on a graph break: the value checks must not run under compile."""
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    ids = _ids([2, 7, 3], [2, 9, 3])
    with torch.no_grad():
        got, _ = compiled(ids, torch.ones_like(ids), torch.zeros_like(ids))
        want, _ = model(ids, torch.ones_like(ids), torch.zeros_like(ids))
    assert torch.allclose(got, want, atol=1e-6)
    # the free checks stay (with fullgraph=False: under fullgraph dynamo wraps any raise)
    loose = torch.compile(model, backend="eager")
    with pytest.raises(ConfigError, match="must be an integer tensor"):
        loose(ids.float())


def test_a_checkpoint_path_that_is_no_directory_is_named(tok: Any, tmp_path: Path) -> None:
    saved = _save(BertModel, tok, tmp_path / "m")
    with pytest.raises(CheckpointError, match="does not exist"):
        BertModel.from_pretrained(tmp_path / "nope")
    with pytest.raises(CheckpointError, match=r"config\.json is a file: pass the checkpoint dir"):
        BertModel.from_pretrained(saved / "config.json")


def test_embeddings_padded_past_the_tokenizer(tok: Any, tmp_path: Path) -> None:
    # vocabularies padded to a multiple of 64 are common: every id still has a row
    torch.manual_seed(0)
    padded = BertForMaskedLM(_config(tok.vocab_size + 38))
    padded.save_pretrained(tmp_path / "padded", tokenizer=tok)
    back = BertForMaskedLM.from_pretrained(tmp_path / "padded")
    with torch.no_grad():  # the padding rows (tied to the MLM decoder) would win
        back.bert.embeddings.word.weight[tok.vocab_size :] *= 100.0
    best = back.fill_mask("the capital of france is [MASK].", top_k=5)[0]
    assert len(best) == 5 and all(tok.token_to_id(t) is not None for t, _ in best)
    assert back.embed(["a short text"]).shape[0] == 1
    with pytest.raises(ConfigError, match=r"more than the model's 100 embeddings.*vocab_size >="):
        BertForMaskedLM(_config(100)).save_pretrained(tmp_path / "small", tokenizer=tok)


def test_config_numbers_are_python_floats(tok: Any, tmp_path: Path) -> None:
    # NumPy floats and ints are read as floats: config.json must hold floats (transformers
    # 5 refuses an int layer_norm_eps) and be writable at all (json refuses np.float32)
    config = _config(
        tok.vocab_size, hidden_dropout=np.float32(0.1), layer_norm_eps=1,
        initializer_range=np.float64(0.02), classifier_dropout=np.float16(0.2),
    )  # fmt: skip
    for name in ("hidden_dropout", "layer_norm_eps", "initializer_range", "classifier_dropout"):
        assert type(getattr(config, name)) is float, name
    BertModel(config).save_pretrained(tmp_path / "m", tokenizer=tok)
    written = json.loads((tmp_path / "m" / "config.json").read_text())
    assert written["layer_norm_eps"] == 1.0 and isinstance(written["layer_norm_eps"], float)
    for bad in ({"hidden_dropout": "0.1"}, {"attention_dropout": None}, {"layer_norm_eps": True}):
        with pytest.raises(ConfigError, match=r"must be a (number in|positive number)"):
            _config(tok.vocab_size, **bad)


def test_a_dataset_name_loads_its_model_and_one_without_a_model_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a checkpoint folder is expected, a dataset that holds a model (all-MiniLM-L6-v2)
    is read from its folder, tokenizer included; a folder of that name wins; a dataset of
    tokenizer files is a CheckpointError naming the models there are."""
    folder = Path(datasets.files("all-MiniLM-L6-v2")["model_dir"])
    by_name = BertModel.from_pretrained("all-MiniLM-L6-v2")
    by_folder = BertModel.from_pretrained(folder)
    assert (
        by_name.tokenizer is not None and by_name.tokenizer.vocab() == by_folder.tokenizer.vocab()
    )
    theirs = by_folder.state_dict()
    assert by_name.state_dict().keys() == theirs.keys()
    for k, a in by_name.state_dict().items():
        assert torch.equal(a, theirs[k]), k
    with pytest.raises(CheckpointError, match=r"holds no model .*\(all-MiniLM-L6-v2\)"):
        BertModel.from_pretrained("bert-base-uncased")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "all-MiniLM-L6-v2").mkdir()  # a folder of that name here: it is what is read
    with pytest.raises(CheckpointError, match=r"has no config\.json"):
        BertModel.from_pretrained("all-MiniLM-L6-v2")


def test_a_checkpoint_holding_nan_weights_is_flagged_when_it_loads(
    tok: Any, tmp_path: Path
) -> None:
    from safetensors.torch import save_file

    from weights_io import load_file  # (a copy: the file is rewritten below)

    BertModel(_config(tok.vocab_size)).save_pretrained(tmp_path, tokenizer=tok)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a sound checkpoint loads without a word
        BertModel.from_pretrained(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    name = next(k for k in state if k.endswith("attention.output.dense.weight"))
    state[name][0, 0] = float("nan")
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.warns(
        UserWarning, match=rf"NaN or infinite values in 1 tensor\(s\) \(first: {name}\)"
    ):
        BertModel.from_pretrained(tmp_path)
