"""Loading and labelling edges met on the way in from transformers: a pickled checkpoint's
conversion keeps its task head; a single-label classifier with one label is refused; a
label at padding is refused by the token-classification and MLM heads, as by the QA head;
transformers' ``num_labels=`` (and other HF field names) are taken for ours; a null
``position_embedding_type`` reads as absolute; a failed write is reported as itself, not
as the failure to clean up after it. transformers is the oracle, used offline (models
built from configs, never downloaded)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from lexforge.errors import CheckpointError, ConfigError  # noqa: E402
from lexforge.model import (  # noqa: E402
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    hf,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hf_oracle import SIZES, VOCAB  # noqa: E402
from hf_oracle import hf_model as _hf  # noqa: E402

_MAJOR = int(transformers.__version__.split(".")[0])
# transformers 4 (the test extra's floor is 4.56) reads these files otherwise: the oracle
# of the tests so marked is transformers 5's reading, which lexforge's follows
_AS_TRANSFORMERS_5 = pytest.mark.skipif(
    _MAJOR < 5, reason=f"transformers {transformers.__version__} reads it otherwise (4.x)"
)
# transformers (4.50 on) reads no pickle with torch < 2.6 (CVE-2025-32434)
_OLD_TORCH = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]) < (2, 6)


def _batch() -> dict[str, Any]:
    torch.manual_seed(1)
    ids = torch.randint(1, VOCAB, (2, 10))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _pickled(path: Path) -> None:
    """``path``'s weights as transformers wrote them before safetensors: a pickle."""
    from safetensors.torch import load_file

    torch.save(load_file(path / "model.safetensors"), path / "pytorch_model.bin")
    (path / "model.safetensors").unlink()


# 1. a pickled checkpoint: the conversion keeps its head ----------------------------------


def test_a_pickled_classifier_converts_with_its_own_class_and_keeps_its_head(
    tmp_path: Path,
) -> None:
    theirs = _hf(transformers.BertForSequenceClassification, tmp_path, num_labels=3)
    _pickled(tmp_path)
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin") as raised:
        BertForSequenceClassification.from_pretrained(tmp_path)
    message = str(raised.value)
    assert "transformers.BertForSequenceClassification.from_pretrained(" in message
    assert "AutoModel" not in message
    # the call the message gives, run as given, converts the checkpoint with its head
    call = message.split("converts them: ", 1)[1].removesuffix(")")
    if _OLD_TORCH:
        assert "torch>=2.6" in message
        return
    eval(call, {"transformers": transformers})  # our own message, run as a user would
    ours = BertForSequenceClassification.from_pretrained(tmp_path)
    assert ours.loaded_from.fresh == ()
    batch = _batch()
    with torch.no_grad():
        diff = (ours(**batch).logits - theirs(**batch).logits).abs().max()
    assert diff <= 1e-5


def test_a_pickled_checkpoint_without_architectures_falls_back_to_automodel(
    tmp_path: Path,
) -> None:
    _hf(transformers.BertModel, tmp_path)
    _pickled(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    del data["architectures"]
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(
        CheckpointError, match=r"transformers\.AutoModel\.from_pretrained\(.*names no archit"
    ):
        BertModel.from_pretrained(tmp_path)


# 2. single-label classification needs two labels ----------------------------------------


def test_single_label_classification_with_one_label_is_refused(tmp_path: Path) -> None:
    # transformers 5 refuses it too: a softmax over one class is always 1
    if _MAJOR >= 5:
        with pytest.raises(ValueError, match="requires `num_labels > 1`"):
            transformers.BertConfig(
                **SIZES, num_labels=1, problem_type="single_label_classification"
            )
    with pytest.raises(ConfigError, match=r"at least 2 labels, got 1 .*'regression'"):
        BertConfig(VOCAB, labels=("score",), problem_type="single_label_classification")
    with pytest.raises(ConfigError, match="at least 2 labels"):
        BertConfig(VOCAB).replace(labels=("score",), problem_type="single_label_classification")
    # a config.json that says so (written by hand, or by an older transformers)
    _hf(transformers.BertForSequenceClassification, tmp_path, num_labels=1)
    data = json.loads((tmp_path / "config.json").read_text())
    data["problem_type"] = "single_label_classification"
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"config\.json: .*at least 2 labels"):
        BertForSequenceClassification.from_pretrained(tmp_path)
    # what stays legal: one label for regression, two for single-label
    BertConfig(VOCAB, labels=("score",), problem_type="regression")
    BertConfig(VOCAB, labels=("score",))
    BertConfig(VOCAB, labels=("a", "b"), problem_type="single_label_classification")


# 3. a label at padding is refused, as the QA head refuses an answer there ----------------


def test_a_tag_at_padding_is_refused_and_minus_100_there_gives_transformers_loss(
    tmp_path: Path,
) -> None:
    theirs = _hf(transformers.BertForTokenClassification, tmp_path, num_labels=4)
    ours = BertForTokenClassification.from_pretrained(tmp_path)
    batch = _batch()
    labels = torch.randint(0, 4, (2, 10))
    with pytest.raises(ConfigError, match=r"labels\[1, 7\] is \d+ at a padding position.*-100"):
        ours(**batch, labels=labels)
    labels = labels.masked_fill(batch["attention_mask"] == 0, -100)
    with torch.no_grad():
        got, want = ours(**batch, labels=labels).loss, theirs(**batch, labels=labels).loss
    assert abs(float(got) - float(want)) <= 1e-5
    ours(batch["input_ids"], labels=torch.randint(0, 4, (2, 10)))  # no mask: no padding


@pytest.mark.parametrize("cls", [BertForMaskedLM, BertForPreTraining])
def test_an_mlm_label_at_padding_is_refused(tmp_path: Path, cls: Any) -> None:
    theirs = _hf(getattr(transformers, cls.__name__), tmp_path)
    ours = cls.from_pretrained(tmp_path)
    batch = _batch()
    labels = torch.full((2, 10), -100)
    labels[0, 2], labels[1, 8] = 5, 6
    with pytest.raises(ConfigError, match=r"labels\[1, 8\] is 6 at a padding position"):
        ours(**batch, labels=labels)
    labels[1, 8], labels[1, 3] = -100, 6  # on a real token instead: transformers' loss
    with torch.no_grad():
        got = ours(**batch, labels=labels)
        want = theirs(**batch, labels=labels)
    got_mlm = got.loss if cls is BertForMaskedLM else got.mlm_loss
    want_logits = want.logits if cls is BertForMaskedLM else want.prediction_logits
    want_mlm = torch.nn.functional.cross_entropy(want_logits.flatten(0, 1), labels.flatten())
    assert abs(float(got_mlm) - float(want_mlm)) <= 1e-5


# 4. transformers' field names point to ours ---------------------------------------------


def test_transformers_field_names_give_transformers_head(tmp_path: Path) -> None:
    """``from_pretrained(dir, num_labels=3)``, transformers' own idiom, builds the head
    transformers builds (names ``LABEL_0``..; the checkpoint's kept when they are that
    many); ``id2label``/``label2id`` give the names in id order; the other HF names are
    ours under theirs."""
    _hf(transformers.BertModel, tmp_path)
    for options in ({"num_labels": 3}, {"id2label": {0: "a", 1: "b", 2: "c"}}):
        with pytest.warns(UserWarning, match="no weights for classifier"):  # a new head
            ours = BertForSequenceClassification.from_pretrained(tmp_path, **options)
        theirs = transformers.BertForSequenceClassification.from_pretrained(tmp_path, **options)
        assert ours.classifier.weight.shape == theirs.classifier.weight.shape
        assert ours.config.labels == tuple(theirs.config.id2label[i] for i in range(3))
    # ids as a config.json spells them (transformers keeps such keys as strings when
    # passed, and takes label2id alone without changing the number of outputs)
    for options in ({"id2label": {"1": "b", "0": "a", "2": "c"}, "num_labels": 3},
                    {"label2id": {"c": 2, "a": 0, "b": 1}}):  # fmt: skip
        with pytest.warns(UserWarning, match="no weights for classifier"):
            ours = BertForSequenceClassification.from_pretrained(tmp_path, **options)
        assert ours.config.labels == ("a", "b", "c") and ours.classifier.weight.shape[0] == 3
    config = BertConfig(VOCAB, labels=["neg", "pos"])
    assert config.replace(num_labels=2).labels == ("neg", "pos")  # kept, as transformers does
    assert config.replace(num_labels=1).labels == ("LABEL_0",)
    assert config.replace(num_hidden_layers=1, num_attention_heads=4).num_heads == 4
    assert config.replace(attention_probs_dropout_prob=0.0).attention_dropout == 0.0
    bad = [
        ({"num_labels": 0}, "num_labels must be a positive integer"),
        ({"num_labels": 2, "id2label": {0: "a", 1: "b", 2: "c"}}, "num_labels=2 but"),
        ({"id2label": {0: "a", 2: "b"}}, "ids must number the outputs 0 to 1"),
        ({"id2label": {0: "a", 1: "b"}, "label2id": {"b": 0, "a": 1}}, "disagree"),
        ({"num_labels": 2, "labels": ["x", "y"]}, "name the labels twice"),
        ({"num_hidden_layers": 1, "num_layers": 2}, "name one field"),
        ({"colour": 1}, "no field 'colour'; its fields"),
    ]
    for options, message in bad:
        with pytest.raises(ConfigError, match=message):
            config.replace(**options)


# 5. a null position_embedding_type is absolute ------------------------------------------


@_AS_TRANSFORMERS_5
def test_a_null_position_embedding_type_loads_as_absolute(tmp_path: Path) -> None:
    _hf(transformers.BertModel, tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**data, "position_embedding_type": None}))
    ours = BertModel.from_pretrained(tmp_path)
    theirs = transformers.BertModel.from_pretrained(tmp_path).eval()
    batch = _batch()
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        diff = (ours(**batch)[0] - theirs(**batch).last_hidden_state)[real].abs().max()
    assert diff <= 1e-5


def test_a_null_pad_token_id_is_no_padding_row_and_stays_null(tmp_path: Path) -> None:
    """transformers builds the word embedding without a padding row for a null
    pad_token_id, so id 0 trains as any token (lexforge read null as 0: row 0 froze)."""
    _hf(transformers.BertModel, tmp_path, pad_token_id=None)
    data = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**data, "pad_token_id": None}))
    ours = BertModel.from_pretrained(tmp_path)
    theirs = transformers.BertModel.from_pretrained(tmp_path).eval()
    assert ours.config.pad_token_id is None
    ids = torch.tensor([[0, 5, 6, 0]])  # id 0 as a real token
    ours(ids)[0].sum().backward()
    theirs(input_ids=ids).last_hidden_state.sum().backward()
    want = theirs.embeddings.word_embeddings.weight.grad[0]
    got = ours.embeddings.word.weight.grad[0]
    assert want.abs().max() > 0 and (got - want).abs().max() <= 1e-5
    ours.save_pretrained(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "config.json").read_text())["pad_token_id"] is None
    # a config.json without the key has transformers' default, 0
    del data["pad_token_id"]
    (tmp_path / "config.json").write_text(json.dumps(data))
    assert BertModel.from_pretrained(tmp_path).config.pad_token_id == 0


# 6. a failed write is reported as itself ------------------------------------------------


def test_a_failed_write_is_reported_not_the_failed_cleanup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def write(tmp: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    def unlink(self: Path, missing_ok: bool = False) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.raises(OSError) as raised:
        hf._write_atomic(tmp_path / "config.json", write)
    assert raised.value.errno == errno.ENOSPC
    assert not (tmp_path / "config.json").exists()


# 7. what transformers 5 loads: dtype="auto", float8, sharded indexes, nameless taggers ---


def test_dtype_auto_follows_the_config_as_transformers_does(tmp_path: Path) -> None:
    """``dtype="auto"`` read only the tensors (float32 where they mixed); transformers 5
    reads config.json's dtype (or torch_dtype) first."""
    from safetensors.torch import save_file

    from weights_io import load_file  # (a copy: the file is rewritten below)

    _hf(transformers.BertModel, tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    mixed = {k: v if "LayerNorm" in k else v.to(torch.bfloat16) for k, v in state.items()}
    config = json.loads((tmp_path / "config.json").read_text())
    cases = [  # (weights, config's dtype entry)
        (mixed, {"dtype": "bfloat16"}),
        (state, {"dtype": "bfloat16"}),
        ({k: v.to(torch.bfloat16) for k, v in state.items()}, {"torch_dtype": "float16"}),
        (state, {}),
        (mixed, {}),  # mixed, and the config names none: float32
    ]
    for weights, entry in cases:
        save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
        plain = {k: v for k, v in config.items() if k not in ("dtype", "torch_dtype")}
        (tmp_path / "config.json").write_text(json.dumps({**plain, **entry}))
        theirs = transformers.BertModel.from_pretrained(tmp_path, dtype="auto")
        ours = BertModel.from_pretrained(tmp_path, dtype="auto")
        assert next(ours.parameters()).dtype == theirs.dtype, entry


def test_float8_weights_are_widened_not_a_raw_torch_error(tmp_path: Path) -> None:
    """A float8 query beside float32 key and value raised torch's "Promotion for Float8
    Types is not supported" from the fused projection's concatenation; an all-float8
    file under dtype="auto" built a model no operator runs. Both load in float32, as
    transformers loads them."""
    from safetensors.torch import save_file

    from weights_io import load_file  # (a copy: the file is rewritten below)

    _hf(transformers.BertModel, tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    query = next(k for k in state if k.endswith("attention.self.query.weight"))
    for weights in ({**state, query: state[query].to(torch.float8_e4m3fn)},
                    {k: v.to(torch.float8_e4m3fn) for k, v in state.items()}):  # fmt: skip
        save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
        # (transformers 4 keeps the float8 weights, and its model then fails to run)
        theirs = transformers.BertModel.from_pretrained(tmp_path).eval() if _MAJOR >= 5 else None
        for dtype in (None, "auto"):
            ours = BertModel.from_pretrained(tmp_path, dtype=dtype)
            assert next(ours.parameters()).dtype == torch.float32
            batch = _batch()
            real = batch["attention_mask"].bool()
            with torch.no_grad():
                got = ours(**batch)[0]
                assert got.isfinite().all()
                if theirs is not None:
                    diff = (got - theirs(**batch).last_hidden_state)[real].abs().max()
                    assert diff <= 1e-5


@_AS_TRANSFORMERS_5
def test_a_shards_tensors_the_index_does_not_name_are_loaded(tmp_path: Path) -> None:
    """Tensors in a shard that an (edited) index leaves out were dropped, the head then
    initialised afresh with a warning that the checkpoint had none; transformers loads
    them from the shard."""
    torch.manual_seed(0)
    config = transformers.BertConfig(**SIZES, num_labels=3)
    model = transformers.BertForSequenceClassification(config).eval()
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    index = tmp_path / "model.safetensors.index.json"
    doc = json.loads(index.read_text())
    for name in ("classifier.weight", "classifier.bias"):
        doc["weight_map"].pop(name)
    index.write_text(json.dumps(doc))
    theirs = transformers.BertForSequenceClassification.from_pretrained(tmp_path).eval()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no "has no weights for classifier")
        ours = BertForSequenceClassification.from_pretrained(tmp_path)
    batch = _batch()
    with torch.no_grad():
        assert (ours(**batch).logits - theirs(**batch).logits).abs().max() <= 1e-5


def test_a_tagger_saved_with_a_pooler_and_no_architectures_loads_as_one(tmp_path: Path) -> None:
    """Older transformers saved token classifiers with a pooler, and older configs name
    no architecture: the pooler made lexforge take the checkpoint for a sequence
    classifier and refuse to load it as a tagger, which transformers does."""
    from safetensors.torch import save_file

    from weights_io import load_file  # (a copy: the file is rewritten below)

    _hf(transformers.BertForTokenClassification, tmp_path, num_labels=5)
    pooler = transformers.BertModel(transformers.BertConfig(**SIZES)).pooler.state_dict()
    state = load_file(tmp_path / "model.safetensors")
    state.update({f"bert.pooler.{k}": v for k, v in pooler.items()})
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((tmp_path / "config.json").read_text())
    config.pop("architectures")
    (tmp_path / "config.json").write_text(json.dumps(config))
    theirs = transformers.BertForTokenClassification.from_pretrained(tmp_path).eval()
    with pytest.warns(UserWarning, match="ignored 2 weights .* the pooler"):
        ours = BertForTokenClassification.from_pretrained(tmp_path)
    batch = _batch()
    real = batch["attention_mask"].bool()
    with torch.no_grad():
        assert (ours(**batch).logits - theirs(**batch).logits)[real].abs().max() <= 1e-5
    # a config that names the class still decides
    (tmp_path / "config.json").write_text(
        json.dumps({**config, "architectures": ["BertForSequenceClassification"]})
    )
    with pytest.raises(CheckpointError, match="holds a BertForSequenceClassification"):
        BertForTokenClassification.from_pretrained(tmp_path)


def test_a_tokenizer_config_that_says_another_case_is_warned_about(tmp_path: Path) -> None:
    """transformers' AutoTokenizer rebuilds BertTokenizer's normalizer from
    tokenizer_config.json's do_lower_case / strip_accents / tokenize_chinese_chars; lexforge
    runs tokenizer.json as it is. When the two files disagree the ids differ: said."""
    import warnings

    import lexforge as lf
    from lexforge import datasets

    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    model = BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_layers=1,
                                 num_heads=2, intermediate_size=37))  # fmt: skip
    folder = model.save_pretrained(tmp_path / "m", tokenizer=tok)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # what lexforge writes agrees with itself
        assert BertModel.from_pretrained(folder).tokenizer is not None
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.update(do_lower_case=False)
    config.pop("strip_accents")  # None: follows do_lower_case, as in BertTokenizer
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning, match="sets do_lower_case=False, strip_accents=False, but"):
        ours = BertModel.from_pretrained(folder).tokenizer
    theirs = transformers.AutoTokenizer.from_pretrained(str(folder))
    assert ours.encode("Hello") != theirs("Hello")["input_ids"]  # why it is said


_TEXTS = ["the quick fox [MASK] and [PAD] here", "jumps over [E1] the <ent> dog"]


def _saved_with(tmp_path: Path, specials: list[str], added: list[str] = ()) -> tuple[Any, Any]:
    """A WordPiece tokenizer trained with ``specials`` (and ``added`` special tokens), in a
    model folder: (lexforge's tokenizer, transformers' AutoTokenizer of the folder)."""
    import lexforge as lf

    corpus = ["the quick brown fox jumps over the lazy dog and runs here"] * 50
    tok = lf.Tokenizer.train_wordpiece(texts=corpus, vocab_size=90, special_tokens=specials,
                                       show_progress=False)  # fmt: skip
    if added:
        tok.add_special_tokens(list(added))
    model = BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_layers=1,
                                 num_heads=2, intermediate_size=37))  # fmt: skip
    folder = model.save_pretrained(tmp_path / "m", tokenizer=tok)
    return tok, transformers.AutoTokenizer.from_pretrained(str(folder))


@pytest.mark.parametrize(
    "specials",
    [["[UNK]", "[CLS]", "[SEP]"], ["[PAD]", "[UNK]", "[MASK]"]],
    ids=["no pad", "no cls"],
)
def test_a_wordpiece_tokenizer_without_some_roles_gets_no_tokens_from_transformers(
    tmp_path: Path, specials: list[str]
) -> None:
    """transformers' BertTokenizer gives every role a token: named BertTokenizer, a folder
    without [PAD] or [MASK] got them added past the vocabulary (and texts without a
    template were framed in new [CLS]/[SEP] ids)."""
    ours, theirs = _saved_with(tmp_path, specials)
    assert len(theirs) == ours.vocab_size
    for text in _TEXTS:
        assert theirs(text)["input_ids"] == ours.encode(text), text


def test_special_tokens_of_no_role_stay_special_in_transformers(tmp_path: Path) -> None:
    ours, theirs = _saved_with(
        tmp_path, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[E1]"], added=["<ent>"]
    )
    assert {"[E1]", "<ent>"} <= set(theirs.all_special_tokens)
    for text in _TEXTS:
        ids = ours.encode(text)
        assert theirs(text)["input_ids"] == ids
        assert theirs.decode(ids, skip_special_tokens=True) == ours.decode(ids), text
        flags = theirs.get_special_tokens_mask(ids, already_has_special_tokens=True)
        assert flags == [int(i in ours.special_tokens.values()) for i in ids]


@pytest.mark.parametrize(
    ("cls", "config", "labels"),
    [
        ("BertForSequenceClassification", {"num_labels": 3}, lambda: torch.tensor([2, 0])),
        ("BertForSequenceClassification", {"num_labels": 3,
         "problem_type": "multi_label_classification"}, lambda: torch.rand(2, 3).round()),
        ("BertForSequenceClassification", {"num_labels": 1}, lambda: torch.randn(2)),
        ("BertForTokenClassification", {"num_labels": 4},
         lambda: torch.randint(0, 4, (2, 10)).masked_fill(_batch()["attention_mask"] == 0, -100)),
        ("BertForQuestionAnswering", {}, lambda: (torch.tensor([1, 2]), torch.tensor([3, 6]))),
    ],
)  # fmt: skip
def test_a_float64_model_computes_its_loss_in_float64(
    tmp_path: Path, cls: str, config: dict[str, Any], labels: Any
) -> None:
    """Each head's loss in the model's dtype when wider than float32, as transformers (and
    our MLM and NSP losses) keep it: float64 heads computed theirs in float32 (a gradient
    check read float32 errors), and cut QA's logits to float32."""
    import lexforge.model as ours_models

    theirs = _hf(getattr(transformers, cls), tmp_path, **config).double()
    ours = getattr(ours_models, cls).from_pretrained(tmp_path, dtype=torch.float64)
    target = labels()
    kwargs = (
        {"start_positions": target[0], "end_positions": target[1]}
        if cls == "BertForQuestionAnswering"
        else {"labels": target.double() if target.is_floating_point() else target}
    )
    batch = _batch()
    if cls == "BertForQuestionAnswering":
        batch = {"input_ids": batch["input_ids"]}  # (our padding logits are -inf: no mask)
    with torch.no_grad():
        got, want = ours(**batch, **kwargs), theirs(**batch, **kwargs)
    assert got.loss.dtype == torch.float64
    assert abs(float(got.loss) - float(want.loss)) <= 1e-12
    if cls == "BertForQuestionAnswering":
        assert got.start_logits.dtype == torch.float64


@_AS_TRANSFORMERS_5
def test_a_tied_matrix_stored_under_the_decoders_name_alone_loads_as_in_transformers(
    tmp_path: Path,
) -> None:
    """Some tools write a tied MLM checkpoint's shared matrix once, as
    ``cls.predictions.decoder.weight``: transformers ties it to the word embeddings and
    loads it; lexforge refused it as "lacks encoder weights". Untied, it stays refused."""
    from safetensors.torch import save_file

    from weights_io import load_file  # (a copy: the file is rewritten below)

    theirs = _hf(transformers.BertForMaskedLM, tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["cls.predictions.decoder.weight"] = state.pop("bert.embeddings.word_embeddings.weight")
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    batch = _batch()
    reloaded = transformers.BertForMaskedLM.from_pretrained(tmp_path).eval()
    ours = BertForMaskedLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        want = theirs(**batch).logits
        assert torch.equal(reloaded(**batch).logits, want)  # (the oracle agrees)
        got = ours(batch["input_ids"], batch["attention_mask"]).logits
    real = batch["attention_mask"].bool()
    assert (got[real] - want[real]).abs().max() <= 1e-5
    config = json.loads((tmp_path / "config.json").read_text())
    config["tie_word_embeddings"] = False
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="lacks encoder weights"):
        BertForMaskedLM.from_pretrained(tmp_path)
