"""Task heads and word representations: each head learns a separable synthetic task,
exports, and gives the same logits in transformers; labels align to words (several pieces,
CJK); ``embed_words`` gives one vector per pre-tokenizer word; ``fill_mask`` on MiniLM."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import lexforge as lf  # noqa: E402
from lexforge import datasets  # noqa: E402
from lexforge.errors import CheckpointError, ConfigError  # noqa: E402
from lexforge.model import (  # noqa: E402
    BertConfig,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    align_word_labels,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

GOOD = ["wonderful", "great", "superb", "delightful", "charming"]
BAD = ["awful", "dreadful", "boring", "terrible", "clumsy"]
FILLER = ["the", "film", "was", "a", "story", "with", "actors", "and", "music", "plot"]


@pytest.fixture(scope="module")
def tok() -> Any:
    return lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])


def _config(tok: Any, **kw: Any) -> BertConfig:
    return BertConfig(
        vocab_size=tok.vocab_size, hidden_size=64, num_layers=2, num_heads=2,
        intermediate_size=128, max_position_embeddings=64, **kw,
    )  # fmt: skip


def _sentences(n: int, seed: int) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.randrange(2)
        words = rng.choices(FILLER, k=6)
        words.insert(rng.randrange(7), rng.choice(GOOD if label else BAD))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def _train(model: Any, batches: list[dict[str, Any]], steps: int, lr: float = 3e-3) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        out = model(**batches[step % len(batches)])
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    model.eval()


def _same_in_transformers(model: Any, path: Path, hf_class: Any, inputs: dict[str, Any]) -> Any:
    model.save_pretrained(path)
    theirs = hf_class.from_pretrained(str(path)).eval()
    with torch.no_grad():
        return model(**inputs), theirs(**inputs)


def test_sequence_classification(tok: Any, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = BertForSequenceClassification(_config(tok, labels=("negative", "positive")))
    texts, labels = _sentences(256, seed=1)
    batches = [
        {**tok.encode_batch(texts[i : i + 32], padding=True, return_tensors="pt"),
         "labels": torch.tensor(labels[i : i + 32])}
        for i in range(0, 256, 32)
    ]  # fmt: skip
    _train(model, batches, steps=80)
    test, truth = _sentences(128, seed=2)
    enc = dict(tok.encode_batch(test, padding=True, return_tensors="pt"))
    ours, theirs = _same_in_transformers(
        model, tmp_path, transformers.AutoModelForSequenceClassification, enc
    )
    accuracy = (ours.logits.argmax(-1) == torch.tensor(truth)).float().mean().item()
    assert accuracy >= 0.95
    assert (ours.logits - theirs.logits).abs().max() <= 1e-5
    config = transformers.AutoConfig.from_pretrained(str(tmp_path))
    assert config.id2label == {0: "negative", 1: "positive"}


def test_classifier_dropout_as_in_transformers(tok: Any, tmp_path: Path) -> None:
    """HF's ``classifier_dropout`` (before the classification layer; None: the hidden
    dropout) is read, used and written back."""
    hf = transformers.BertConfig(
        vocab_size=tok.vocab_size, hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=128, classifier_dropout=0.5, num_labels=3,
    )  # fmt: skip
    for kind in (BertForSequenceClassification, BertForTokenClassification):
        getattr(transformers, kind.__name__)(hf).save_pretrained(str(tmp_path / kind.__name__))
        model = kind.from_pretrained(tmp_path / kind.__name__)
        assert model.config.classifier_dropout == 0.5 and model.dropout.p == 0.5
        assert model.config.hidden_dropout == 0.1
    assert BertForSequenceClassification(_config(tok)).dropout.p == 0.1  # None: hidden's
    model.save_pretrained(tmp_path / "again")
    assert (
        transformers.AutoConfig.from_pretrained(str(tmp_path / "again")).classifier_dropout == 0.5
    )
    with pytest.raises(ConfigError, match="classifier_dropout"):
        _config(tok, classifier_dropout=1.0)


@pytest.mark.parametrize(
    "labels,problem",
    [
        (("score",), "regression"),
        (("score",), None),  # one output is a regression: said in config.json
        (("x", "y", "z"), "regression"),
        (("a", "b", "c"), "multi_label_classification"),
    ],
)
def test_regression_and_multi_label_losses(
    tok: Any, labels: Any, problem: str | None, tmp_path: Path
) -> None:
    """Losses as transformers computes them; a one-output head without a problem type is
    exported as a regression (HF's text-classification pipeline put it through a
    sigmoid), and the pipeline gives its raw score."""
    torch.manual_seed(0)
    model = BertForSequenceClassification(_config(tok, labels=labels, problem_type=problem))
    enc = dict(
        tok.encode_batch(["a fine film", "a dull plot here"], padding=True, return_tensors="pt")
    )
    if problem == "multi_label_classification":
        target = torch.rand(2, len(labels)).round()
    else:  # one target per output: (B,) for one, (B, outputs) for several
        target = torch.randn(2, len(labels)) if len(labels) > 1 else torch.tensor([0.3, -1.0])
    out = model(**enc, labels=target)
    hf = transformers.AutoModelForSequenceClassification
    model.save_pretrained(tmp_path, tokenizer=tok)
    theirs = hf.from_pretrained(str(tmp_path)).eval()
    model.eval()
    with torch.no_grad():
        want = theirs(**enc, labels=target)
        assert torch.allclose(model(**enc, labels=target).loss, want.loss, atol=1e-6)
    assert theirs.config.problem_type == (problem or "regression")
    assert out.logits.shape == (2, len(labels))
    if len(labels) == 1:
        said = transformers.pipeline("text-classification", model=str(tmp_path))("a fine film")
        assert said[0]["score"] == pytest.approx(float(model(**enc).logits[0, 0]), abs=1e-5)


@pytest.mark.parametrize("multi", [True, False])
def test_first_labels_record_the_problem_type(tok: Any, multi: bool, tmp_path: Path) -> None:
    """A head built without a problem type takes it from the first labels and keeps it,
    as transformers does: a user's own loop with multi-hot float labels exports a config
    that HF's pipeline scores with sigmoids, and ``classify`` answers in the multi-label
    form."""
    torch.manual_seed(0)
    model = BertForSequenceClassification(_config(tok, labels=("a", "b", "c")))
    model.save_pretrained(tmp_path / "before", tokenizer=tok)
    theirs = transformers.AutoModelForSequenceClassification.from_pretrained(
        str(tmp_path / "before")
    )
    assert model.config.problem_type is None and theirs.config.problem_type is None
    enc = dict(tok.encode_batch(["a fine film", "a dull plot"], padding=True, return_tensors="pt"))
    target = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]) if multi else torch.tensor([2, 0])
    model(**enc, labels=target)
    theirs(**enc, labels=target)
    assert model.config.problem_type == theirs.config.problem_type
    model.save_pretrained(tmp_path / "after", tokenizer=tok)
    said = transformers.AutoConfig.from_pretrained(str(tmp_path / "after")).problem_type
    assert said == theirs.config.problem_type
    answer = model.classify(["a fine film"], tokenizer=tok)[0]
    if multi:
        assert said == "multi_label_classification" and isinstance(answer, list)
        with pytest.raises(ConfigError):  # class ids no longer fit the recorded problem
            model(**enc, labels=torch.tensor([2, 0]))
    else:
        assert said == "single_label_classification" and isinstance(answer, tuple)
    fresh = BertForSequenceClassification(_config(tok, labels=("a", "b", "c")))
    with pytest.raises(ConfigError):  # labels it cannot read record nothing
        fresh(**enc, labels=torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert fresh.config.problem_type is None


def _tagged(n: int, seed: int) -> tuple[list[list[str]], list[list[int]]]:
    """Words tagged 1 when they are a 'good' word, else 0 (several are split in pieces)."""
    rng = random.Random(seed)
    sentences, tags = [], []
    for _ in range(n):
        words = rng.choices(FILLER + GOOD + BAD + ["unbelievably", "photosynthesis"], k=7)
        sentences.append(words)
        tags.append([int(w in GOOD) for w in words])
    return sentences, tags


def test_token_classification(tok: Any, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = BertForTokenClassification(_config(tok, labels=("O", "GOOD")))
    sentences, tags = _tagged(256, seed=3)
    batches = []
    for i in range(0, 256, 32):
        enc = tok.encode_batch([" ".join(s) for s in sentences[i : i + 32]], padding=True,
                               return_tensors="pt", return_word_ids=True)  # fmt: skip
        labels = torch.from_numpy(align_word_labels(enc.pop("word_ids"), tags[i : i + 32]))
        batches.append({**enc, "labels": labels})
    _train(model, batches, steps=100)
    test, truth = _tagged(64, seed=4)
    enc = dict(tok.encode_batch([" ".join(s) for s in test], padding=True, return_tensors="pt",
                                return_word_ids=True))  # fmt: skip
    word_ids = enc.pop("word_ids")
    ours, theirs = _same_in_transformers(
        model, tmp_path, transformers.AutoModelForTokenClassification, enc
    )
    gold = torch.from_numpy(align_word_labels(word_ids, truth))
    scored = gold != -100
    accuracy = (ours.logits.argmax(-1)[scored] == gold[scored]).float().mean().item()
    assert accuracy >= 0.97
    real = enc["attention_mask"].bool()
    assert (ours.logits[real] - theirs.logits[real]).abs().max() <= 1e-5


def test_word_label_alignment(tok: Any) -> None:
    texts = ["photosynthesis unbelievably fine", "中文字 ok"]
    enc = tok.encode_batch(texts, padding=True, return_tensors="np", return_word_ids=True)
    labels = align_word_labels(enc["word_ids"], [[1, 2, 3], [4, 5, 6, 7]])
    for row, words in enumerate(enc["word_ids"]):
        seen: set[int] = set()
        for position, w in enumerate(words):
            if w < 0 or w in seen:  # special, padding, or a later piece of a word
                assert labels[row, position] == -100
            else:
                seen.add(int(w))
                assert labels[row, position] == [[1, 2, 3], [4, 5, 6, 7]][row][w]
    assert (enc["word_ids"][0] == 0).sum() > 1  # photosynthesis is several pieces
    assert sorted(set(enc["word_ids"][1]) - {-1}) == [0, 1, 2, 3]  # 中, 文, 字, ok
    with pytest.raises(ConfigError, match="one label per word"):
        align_word_labels(enc["word_ids"], [[1], [4, 5, 6, 7]])


def test_word_labels_are_per_tokenizer_word(tok: Any) -> None:
    """word_ids number the tokenizer's words that have a piece: a zero-width space takes no
    number and "don't" takes three. More labels than words stay accepted (a truncated
    row); ``strict=True`` asks for exactly one per word and names the offset-based
    aligner."""
    texts = ["john \u200b smith said", "don't go"]
    enc = tok.encode_batch(texts, padding=True, return_tensors="np", return_word_ids=True)
    assert sorted(set(enc["word_ids"][0]) - {-1}) == [0, 1, 2]  # the space has no piece
    assert sorted(set(enc["word_ids"][1]) - {-1}) == [0, 1, 2, 3]  # don ' t go
    per_word = [[1, 2, 0], [0, 0, 0, 3]]
    exact = align_word_labels(enc["word_ids"], per_word, strict=True)
    assert (exact == align_word_labels(enc["word_ids"], per_word)).all()
    assert [x for x in exact[0] if x >= 0] == [1, 2, 0]
    own = [[1, 0, 2, 0], [0, 3]]  # per word as written: too many, then too few
    assert align_word_labels(enc["word_ids"], [own[0], per_word[1]]).shape == exact.shape
    for labels, error in [
        ([own[0], per_word[1]], r"row 0 has 3 words but 4 labels; .*first_piece_labels"),
        ([per_word[0], own[1]], r"row 1 has 4 words but 2 labels"),
    ]:
        with pytest.raises(ConfigError, match=error):
            align_word_labels(enc["word_ids"], labels, strict=True)


def test_question_answering(tok: Any, tmp_path: Path) -> None:
    """The answer is the word after 'is': its pieces' start and end."""
    torch.manual_seed(0)
    rng = random.Random(5)

    def examples(n: int) -> tuple[dict[str, Any], Any, Any]:
        questions, contexts = [], []
        for _ in range(n):
            words = rng.choices(FILLER, k=8)
            at = rng.randrange(1, 7)
            words[at - 1], words[at] = "is", rng.choice(GOOD + BAD)
            questions.append("what is it")
            contexts.append(" ".join(words))
        enc = tok.encode_batch(questions, contexts, padding=True, return_tensors="pt",
                               return_word_ids=True)  # fmt: skip
        starts, ends = [], []
        for row in range(n):
            types, words = enc["token_type_ids"][row], enc["word_ids"][row]
            context = (types == 1) & (words >= 0)
            positions = context.nonzero().flatten()
            target = [
                p for p in positions.tolist() if contexts[row].split()[int(words[p])] in GOOD + BAD
            ]
            starts.append(target[0])
            ends.append(target[-1])
        enc.pop("word_ids")
        return dict(enc), torch.tensor(starts), torch.tensor(ends)

    model = BertForQuestionAnswering(_config(tok))
    batches = []
    for _ in range(8):
        enc, s, e = examples(32)
        batches.append({**enc, "start_positions": s, "end_positions": e})
    _train(model, batches, steps=120)
    enc, s, e = examples(64)
    ours, theirs = _same_in_transformers(
        model, tmp_path, transformers.AutoModelForQuestionAnswering, enc
    )
    exact = ((ours.start_logits.argmax(-1) == s) & (ours.end_logits.argmax(-1) == e)).float()
    assert exact.mean().item() >= 0.9
    real = enc["attention_mask"].bool()
    assert (ours.start_logits[real] - theirs.start_logits[real]).abs().max() <= 1e-5
    assert (ours.end_logits[real] - theirs.end_logits[real]).abs().max() <= 1e-5
    # a label at a padding position (inside the row) is refused, not an infinite loss
    mask = enc["attention_mask"].clone()
    last = mask.shape[1] - 1
    mask[3, last] = 0  # row 3 ends in padding
    at = s.clone()
    at[3] = last
    with pytest.raises(ConfigError, match=r"start_positions\[3\] is \d+, a padding position"):
        model(**{**enc, "attention_mask": mask}, start_positions=at, end_positions=e)
    # ... and so is a negative one, clamped to 0 as transformers does, where a row is
    # left-padded (the loss was infinite)
    mask[3, 0] = 0
    at[3] = -1
    with pytest.raises(ConfigError, match=r"start_positions\[3\] is -1 \(read as 0.*padding"):
        model(**{**enc, "attention_mask": mask}, start_positions=at, end_positions=e)
    # a config with other labels (from a classifier) still exports a 2-output head
    three = BertForQuestionAnswering(_config(tok, labels=("a", "b", "c")))
    three.save_pretrained(tmp_path / "three", tokenizer=tok)
    loaded = transformers.AutoModelForQuestionAnswering.from_pretrained(str(tmp_path / "three"))
    assert loaded.qa_outputs.out_features == 2


def test_embed_words_one_vector_per_word(tok: Any) -> None:
    from tokenizers import Tokenizer as HFTokenizer

    torch.manual_seed(0)
    model = BertModel(_config(tok)).eval()
    texts = ["Photosynthesis, unbelievably, works!", "我们的中文也行 ok?", "x"]
    hf = HFTokenizer.from_file(str(datasets.files("bert-base-uncased")["tokenizer.json"]))
    for pooling in ("mean", "first"):
        result = model.embed_words(texts, tokenizer=tok, pooling=pooling)
        for text, got in zip(texts, result, strict=True):
            words = [
                w for w, _ in hf.pre_tokenizer.pre_tokenize_str(hf.normalizer.normalize_str(text))
            ]
            assert [hf.normalizer.normalize_str(w).strip() for w in got.words] == words
            assert got.vectors.shape == (len(words), 64)
    # pooling by hand from the hidden states
    enc = tok.encode_batch(texts[:1], return_tensors="pt", return_word_ids=True)
    with torch.no_grad():
        hidden, _ = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    word_ids = enc["word_ids"][0]
    mean = model.embed_words(texts[:1], tokenizer=tok)[0].vectors
    first = model.embed_words(texts[:1], tokenizer=tok, pooling="first")[0].vectors
    for w in range(mean.shape[0]):
        pieces = hidden[0][word_ids == w]
        assert np.allclose(mean[w], pieces.mean(0).numpy(), atol=1e-5)
        assert np.allclose(first[w], pieces[0].numpy(), atol=1e-6)
    vectors = model.embed(texts, tokenizer=tok, normalize=True)
    assert vectors.shape == (3, 64) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_fill_mask_on_minilm() -> None:
    path = Path(datasets.files("all-MiniLM-L6-v2")["model_dir"])
    with pytest.warns(UserWarning, match="no weights for mlm"):
        model = BertForMaskedLM.from_pretrained(path)
    # an encoder-only checkpoint: its MLM head is fresh, which fill_mask says, and goes on
    with pytest.warns(UserWarning, match="it is a BertModel checkpoint .*untrained"):
        top = model.fill_mask("The capital of France is [MASK].", top_k=5)
    assert len(top) == 1 and len(top[0]) == 5
    assert all(model.tokenizer.token_to_id(t) is not None and 0 <= p <= 1 for t, p in top[0])
    with pytest.raises(ConfigError, match="no \\[MASK\\]"):
        model.fill_mask("no mask here")
    with pytest.raises(ConfigError, match="no MLM head"):
        BertModel.from_pretrained(path).fill_mask("a [MASK]")


def test_head_mismatch_and_bad_labels(tok: Any, tmp_path: Path) -> None:
    model = BertForTokenClassification(_config(tok, labels=("O", "B", "I")))
    model.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="BertForTokenClassification"):
        BertForSequenceClassification.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="does not match"):
        BertForTokenClassification.from_pretrained(tmp_path, labels=("O", "B"))
    assert BertModel.from_pretrained(tmp_path).config.labels == ("O", "B", "I")
    # without "architectures" in config.json, the head weights tell the task
    config = json.loads((tmp_path / "config.json").read_text())
    del config["architectures"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="holds a BertForTokenClassification"):
        BertForSequenceClassification.from_pretrained(tmp_path)
    # nor does a custom name there (it skipped the check: a tagger's head read as a
    # sequence classifier's)
    (tmp_path / "config.json").write_text(json.dumps({**config, "architectures": ["MyNer"]}))
    with pytest.raises(CheckpointError, match="holds a BertForTokenClassification"):
        BertForSequenceClassification.from_pretrained(tmp_path)
    kind = BertForTokenClassification.from_pretrained(tmp_path).loaded_from.kind
    assert kind == "BertForTokenClassification"
    with pytest.raises(ConfigError, match="at least one label"):
        _config(tok, labels=())
    with pytest.raises(ConfigError, match="integer labels"):
        BertForSequenceClassification(
            _config(tok, labels=("a", "b"), problem_type="single_label_classification")
        )(torch.tensor([[101, 102]]), labels=torch.tensor([0.5]))


ACTIVATIONS = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_python", "quick_gelu", "relu"]


@pytest.mark.parametrize("act", [*ACTIVATIONS, "silu"])
def test_transformers_activations_load_with_the_same_logits(act: str, tmp_path: Path) -> None:
    """A transformers BERT with another hidden_act (the feed-forward's and the MLM head
    transform's) loads with the same logits, and exports it again."""
    config = transformers.BertConfig(
        vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=48, hidden_act=act,
    )  # fmt: skip
    torch.manual_seed(0)
    theirs = transformers.BertForMaskedLM(config).eval()
    theirs.save_pretrained(tmp_path / "hf")
    ours = BertForMaskedLM.from_pretrained(tmp_path / "hf")
    assert ours.config.hidden_act == act
    ids = torch.randint(1, 120, (2, 9))
    with torch.no_grad():
        want = theirs(input_ids=ids).logits
        assert (ours(ids).logits - want).abs().max() <= 1e-5
        ours.save_pretrained(tmp_path / "ours")
        again = transformers.BertForMaskedLM.from_pretrained(str(tmp_path / "ours")).eval()
        assert (again(input_ids=ids).logits - want).abs().max() <= 1e-5
    with pytest.raises(ConfigError, match="hidden_act 'tanh' is not supported; use one of"):
        BertConfig(vocab_size=10, hidden_size=8, num_heads=2, hidden_act="tanh")


def test_heads_score_in_fp32_under_bf16_autocast() -> None:
    """Fine-tuning evaluates under bf16 autocast on CUDA: a head in bf16 rounded each
    regression prediction to 8 significant bits (2000.3 to 2000) and tied near classes.
    CPU autocast runs the same code."""
    config = BertConfig(vocab_size=50, hidden_size=32, num_layers=1, num_heads=2,
                        intermediate_size=64, max_position_embeddings=16)  # fmt: skip
    ids = torch.tensor([[1, 5, 7, 2], [1, 9, 2, 0]])
    heads = (
        (BertForSequenceClassification(config.replace(labels=["score"])), "classifier"),
        (BertForTokenClassification(config.replace(labels=["O", "B-X", "I-X"])), "classifier"),
        (BertForQuestionAnswering(config), "qa_outputs"),
    )
    for model, name in heads:
        head, seen = getattr(model, name), {}
        head.register_forward_hook(lambda m, a, out, seen=seen: seen.update(x=a[0], out=out))
        with torch.no_grad():
            head.bias.fill_(2000.3)
            head.weight.mul_(1e-3)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                model.eval()(ids, (ids != 0).long())
            expected = torch.nn.functional.linear(seen["x"].float(), head.weight, head.bias)
        assert seen["out"].dtype == torch.float32, name
        torch.testing.assert_close(seen["out"], expected)
        assert (seen["out"] - 2000.3).abs().max() < 1.0, name  # bf16 holds 2000 or 2008
