"""``model.resize_token_embeddings``, against transformers' on the same checkpoint: tied and
untied MLM decoders, with and without ``mean_resizing``, grown and shrunk, the old rows
kept and the new ones made as transformers makes them; the resized model saves a
checkpoint transformers loads with the same logits; with ``add_special_tokens`` it is the
usual entity-marker workflow; bad sizes are named."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from lexforge.errors import ConfigError  # noqa: E402
from lexforge.model import BertConfig, BertForMaskedLM, BertForSequenceClassification  # noqa: E402


def _model(tie: bool, path: Path) -> Any:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
        max_position_embeddings=16, tie_word_embeddings=tie,
    )  # fmt: skip
    model = BertForMaskedLM(config)
    with torch.no_grad():
        model.mlm.bias.normal_()
    model.save_pretrained(path)
    return model


def _theirs(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return transformers.BertForMaskedLM.from_pretrained(path).eval()


@pytest.mark.parametrize("size", [60, 40])
@pytest.mark.parametrize("mean", [True, False])
@pytest.mark.parametrize("tie", [True, False])
def test_resizing_matches_transformers(tie: bool, mean: bool, size: int, tmp_path: Path) -> None:
    ours = _model(tie, tmp_path / "before")
    theirs = _theirs(tmp_path / "before")
    theirs.resize_token_embeddings(size, mean_resizing=mean)
    embedding = ours.resize_token_embeddings(size, mean_resizing=mean)
    assert embedding is ours.bert.embeddings.word and embedding.num_embeddings == size
    assert ours.config.vocab_size == ours.bert.config.vocab_size == size
    kept = min(size, 50)
    head = theirs.cls.predictions
    pairs = [
        (ours.bert.embeddings.word.weight, theirs.bert.embeddings.word_embeddings.weight),
        (ours.mlm.bias, head.bias),
    ]
    if not tie:
        pairs.append((ours.mlm.decoder, head.decoder.weight))
    for got, want in pairs:
        assert got.shape == want.shape
        assert torch.equal(got[:kept], want[:kept])  # the old rows, kept as they were
        if size <= 50:
            continue
        if mean or got.dim() == 1:  # at the old mean (drawn within 1e-9 of its covariance), or 0
            torch.testing.assert_close(got[kept:], want[kept:], atol=1e-4, rtol=0)
        else:  # drawn as at initialisation: N(0, initializer_range)
            std = float(got[kept:].detach().std())
            assert 0.5 * ours.config.initializer_range < std < 1.5 * ours.config.initializer_range
    ours.eval()
    ours.save_pretrained(tmp_path / "after")
    again = _theirs(tmp_path / "after")
    ids = torch.tensor([[2, size - 1, 7, size - 2, 3]])
    torch.testing.assert_close(ours(ids).logits, again(input_ids=ids).logits, atol=1e-5, rtol=1e-5)


def test_entity_markers_added_then_fine_tuned(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """The usual workflow: markers added to the tokenizer, the model grown to match, its
    checkpoint read by transformers' AutoTokenizer and AutoModel alike."""
    with pytest.warns(UserWarning, match="freshly initialised"):
        model = BertForSequenceClassification.from_pretrained(tiny_checkpoint, labels=["no", "yes"])
    tok = model.tokenizer
    size = len(tok)
    assert tok.add_special_tokens(["[E1]", "[/E1]"]) == 2
    with pytest.raises(ConfigError, match=r"resize_token_embeddings\(len\(tokenizer\)\)"):
        model.save_pretrained(tmp_path / "unfit", tokenizer=tok)  # the model lacks 2 rows
    model.resize_token_embeddings(len(tok))
    assert model.config.vocab_size == size + 2
    batch = tok.encode_batch(
        ["[E1] Marie Curie [/E1] was born in Warsaw."] * 2, padding=True, return_tensors="pt"
    )
    assert int(batch["input_ids"].max()) == size + 1
    logits = model(batch["input_ids"], batch["attention_mask"]).logits
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1]))
    loss.backward()
    grad = model.bert.embeddings.word.weight.grad
    assert grad is not None and grad[size:].abs().sum() > 0  # the new rows train
    model.eval()
    model.save_pretrained(tmp_path / "markers", tokenizer=tok)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "markers")
        theirs = transformers.AutoModelForSequenceClassification.from_pretrained(
            tmp_path / "markers"
        ).eval()
    text = "[E1] Marie Curie [/E1] was born in Warsaw."
    want = theirs_tok(text)["input_ids"]
    assert want == tok.encode(text) and theirs.config.vocab_size == size + 2
    ids = torch.tensor([want])
    torch.testing.assert_close(model(ids).logits, theirs(input_ids=ids).logits)


def test_bad_sizes_are_named(tmp_path: Path) -> None:
    model = _model(True, tmp_path / "m")
    with pytest.raises(TypeError, match="must be an int"):
        model.resize_token_embeddings(60.0)
    with pytest.raises(TypeError, match="must be an int"):
        model.resize_token_embeddings(True)
    with pytest.raises(ConfigError, match="leaves out the padding token"):
        model.resize_token_embeddings(0)
    assert model.resize_token_embeddings(50) is model.bert.embeddings.word  # unchanged


@pytest.mark.parametrize(("size", "multiple"), [(53, 8), (None, 64), (56, 8), (None, None)])
def test_padding_to_a_multiple_matches_transformers(
    size: int | None, multiple: int | None, tmp_path: Path
) -> None:
    ours = _model(False, tmp_path / "before")
    theirs = _theirs(tmp_path / "before")
    want = theirs.resize_token_embeddings(size, pad_to_multiple_of=multiple)
    got = ours.resize_token_embeddings(size, pad_to_multiple_of=multiple)
    assert got.num_embeddings == want.num_embeddings == ours.config.vocab_size
    assert ours.mlm.decoder.shape == theirs.cls.predictions.decoder.weight.shape
    assert torch.equal(got.weight[:50], want.weight[:50])


def test_bad_multiples_are_named(tmp_path: Path) -> None:
    model = _model(True, tmp_path / "m")
    with pytest.raises(TypeError, match="pad_to_multiple_of must be an int"):
        model.resize_token_embeddings(60, pad_to_multiple_of=8.0)
    with pytest.raises(ConfigError, match="pad_to_multiple_of must be at least 1"):
        model.resize_token_embeddings(60, pad_to_multiple_of=0)
    assert model.config.vocab_size == 50
