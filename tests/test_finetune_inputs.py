"""Inputs a demanding user gives the fine-tuning and representation API: checkpoints whose
head holds the data's labels in its own order (an HF NER model's, "O" first), a regression
head for another target column, a classifier whose config.json names no architecture;
tagged sentences whose words have no subword piece; words ending in combining marks;
empty texts under a tokenizer that adds no special tokens; word labels that are not ids."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

import lexforge as lf  # noqa: E402
from lexforge.errors import CheckpointError, ConfigError  # noqa: E402
from lexforge.model import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    align_word_labels,
)
from lexforge.train import finetune  # noqa: E402
from lexforge.train.classify import _warn_if_one_class  # noqa: E402
from lexforge.train.qa import read_qa  # noqa: E402
from lexforge.train.records import read_records  # noqa: E402
from lexforge.train.tagging import read_tagged  # noqa: E402

QUIET = {"max_steps": 1, "lr": 1e-9, "progress": False}  # the saved head stays as it is


def _head(cls: Any, checkpoint: Path, labels: tuple[str, ...], favoured: int, **config: Any) -> Any:
    """``cls`` on ``checkpoint``'s encoder for ``labels``, predicting ``favoured`` always."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cls.from_pretrained(checkpoint, labels=labels, **config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.bias[favoured] = 20.0
    return model


def test_a_head_with_the_data_labels_in_its_own_order_is_kept(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    tok = lf.Tokenizer.from_file(tiny_checkpoint / "tokenizer.json")
    # a classifier whose outputs are ("pos", "neg"), not the sorted ("neg", "pos")
    _head(BertForSequenceClassification, tiny_checkpoint, ("pos", "neg"), 0).save_pretrained(
        tmp_path / "clf", tokenizer=tok
    )
    train = [("a fine film", "pos"), ("a dull film", "neg")]
    result = finetune(tmp_path / "clf", train, validation=[("x", "pos"), ("y", "pos")], **QUIET)
    assert result.labels == ("pos", "neg")
    assert result.validation["accuracy"] == 1.0  # its "pos" output read as "pos"
    # a tagger saved with "O" first, as HF NER checkpoints are
    tags = ("O", "B-PER", "I-PER", "B-ORG")
    _head(BertForTokenClassification, tiny_checkpoint, tags, 3).save_pretrained(
        tmp_path / "ner", tokenizer=tok
    )
    sentences = [(["EU", "rejects"], ["B-ORG", "O"]), (["Peter", "Blackburn"], ["B-PER", "I-PER"])]
    tagged = finetune(tmp_path / "ner", sentences, validation=[(["EU", "x"], ["B-ORG", "B-ORG"])],
                      task="tag", **QUIET)  # fmt: skip
    assert tagged.labels == tags and tagged.validation["accuracy"] == 1.0
    # other labels still need new_head
    with pytest.raises(CheckpointError, match="new_head"):
        finetune(tmp_path / "clf", [("a", "pos"), ("b", "mid")], **QUIET)


def test_a_model_that_gives_every_text_one_class_is_warned_of(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """A run whose kept model gives every validation text one class, the gold labels holding
    two, learned nothing it uses (the journey of a barely pretrained model at lr 5e-5: 23%
    on five topics, said by nothing but the scores). Validation labels of one class, or
    predictions of several, are not warned of."""
    tok = lf.Tokenizer.from_file(tiny_checkpoint / "tokenizer.json")
    _head(BertForSequenceClassification, tiny_checkpoint, ("neg", "pos"), 1).save_pretrained(
        tmp_path / "clf", tokenizer=tok
    )
    train = [("a fine film", "pos"), ("a dull film", "neg")]
    both = [("x", "pos"), ("y", "neg"), ("z", "neg")]
    with pytest.warns(UserWarning, match=r"gives every text the class 'pos' \(training loss "):
        result = finetune(tmp_path / "clf", train, validation=both, **QUIET)
    assert result.validation["confusion"] == [[0, 2], [0, 1]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        finetune(tmp_path / "clf", train, validation=[("x", "pos"), ("y", "pos")], **QUIET)
        for confusion in ([[1, 1], [0, 1]], [[0, 0], [0, 3]], [[1, 0, 1], [0, 0, 0], [1, 0, 0]]):
            _warn_if_one_class({"confusion": confusion}, ("a", "b", "c")[: len(confusion)],
                               5e-5, [])  # fmt: skip
    with pytest.warns(UserWarning, match=r"the class 'a': it learned nothing .* \(lr=5e-05; "):
        _warn_if_one_class({"confusion": [[2, 0, 0], [1, 0, 0], [0, 0, 0]]}, "abc", 5e-5, [])


def test_a_transformers_head_with_numbered_labels_fine_tunes_on_those_numbers(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """transformers names a head made with num_labels=n LABEL_0 .. LABEL_{n-1}: its classes
    known by number, as the data's labels 0 .. n-1 are; the head is kept, class i as "i"."""
    import shutil

    transformers = pytest.importorskip("transformers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf = transformers.BertForSequenceClassification.from_pretrained(
            tiny_checkpoint, num_labels=3
        )
    assert hf.config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    with torch.no_grad():
        hf.classifier.weight.zero_()
        hf.classifier.bias.copy_(torch.tensor([0.0, 0.0, 20.0]))  # always class 2
    hf.save_pretrained(tmp_path / "hf")
    shutil.copy(tiny_checkpoint / "tokenizer.json", tmp_path / "hf")
    train = [("a fine film", 0), ("a dull film", 1), ("a film", 2)]
    result = finetune(tmp_path / "hf", train, validation=[("x", 2), ("y", "2")],
                      out_dir=tmp_path / "out", **QUIET)  # fmt: skip
    assert result.labels == ("0", "1", "2")
    assert result.validation["accuracy"] == 1.0  # its class 2 read as label 2
    back = transformers.AutoConfig.from_pretrained(tmp_path / "out" / "best")
    assert back.id2label == {0: "0", 1: "1", 2: "2"}
    # named labels are no numbers: still another head
    with pytest.raises(CheckpointError, match=r"LABEL_0.*new_head"):
        finetune(tmp_path / "hf", [("a", "neg"), ("b", "pos"), ("c", "mid")], **QUIET)
    with pytest.raises(CheckpointError, match="new_head"):  # two of its three classes
        finetune(tmp_path / "hf", [("a", 0), ("b", 1)], **QUIET)


@pytest.mark.parametrize("num_labels", [1, 2])
def test_a_multiple_choice_checkpoint_gives_its_encoder_only(
    tiny_checkpoint: Path, tmp_path: Path, num_labels: int
) -> None:
    """transformers' BertForMultipleChoice scores each choice with a 1-output classifier
    over the pooler, which looks like a sequence classifier's weights: it was read as one
    (a regression head, or a size error), and fine-tuning with new_head=True failed."""
    import shutil

    transformers = pytest.importorskip("transformers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf = transformers.BertForMultipleChoice.from_pretrained(
            tiny_checkpoint, num_labels=num_labels
        )
    hf.save_pretrained(tmp_path / "mc")
    shutil.copy(tiny_checkpoint / "tokenizer.json", tmp_path / "mc")
    for cls in (BertForSequenceClassification, BertForTokenClassification):
        with pytest.raises(CheckpointError, match="holds a BertForMultipleChoice, a head"):
            cls.from_pretrained(tmp_path / "mc")
    with pytest.warns(UserWarning, match="ignored"):
        encoder = BertModel.from_pretrained(tmp_path / "mc")
    ids = torch.tensor([[2, 7, 9, 11, 3]])
    with torch.no_grad():
        want = hf.bert(input_ids=ids).last_hidden_state
        got = encoder.eval()(ids)[0]
    assert torch.allclose(got, want, atol=1e-5)
    train = [("a fine film", 1), ("a dull film", 0)]
    with pytest.raises(CheckpointError, match=r"holds a BertForMultipleChoice.*new_head"):
        finetune(tmp_path / "mc", train, **QUIET)
    with pytest.warns(UserWarning, match="freshly initialised head"):
        result = finetune(tmp_path / "mc", train, new_head=True, **QUIET)
    assert result.labels == ("0", "1")


@pytest.mark.parametrize("saved_name", ["label", "LABEL_0"])
def test_a_regression_head_fine_tunes_on_another_target_column(
    tiny_checkpoint: Path, tmp_path: Path, saved_name: str
) -> None:
    tok = lf.Tokenizer.from_file(tiny_checkpoint / "tokenizer.json")
    problem = "regression" if saved_name == "label" else None  # HF's: one output, no type
    model = _head(BertForSequenceClassification, tiny_checkpoint, (saved_name,), 0,
                  problem_type=problem)  # fmt: skip
    model.save_pretrained(tmp_path / "reg", tokenizer=tok)
    rows = [{"text": "a", "score": 1.0}, {"text": "b", "score": 3.0}]
    result = finetune(tmp_path / "reg", rows, validation=rows, label_column="score",
                      problem_type="regression", **QUIET)  # fmt: skip
    assert result.labels == ("score",) and result.model.config.labels == ("score",)
    # the saved head's output (20) is what the run starts from, not a fresh one's
    assert result.validation["mse"] == pytest.approx(((20 - 1) ** 2 + (20 - 3) ** 2) / 2, rel=1e-3)


def test_a_head_is_told_by_its_weights_when_config_json_names_none(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    tok = lf.Tokenizer.from_file(tiny_checkpoint / "tokenizer.json")
    _head(BertForSequenceClassification, tiny_checkpoint, ("neg", "pos"), 0).save_pretrained(
        tmp_path, tokenizer=tok
    )
    config = json.loads((tmp_path / "config.json").read_text())
    del config["architectures"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    # as many labels, other names: refused, not the trained head silently renamed
    with pytest.raises(CheckpointError, match=r"for labels \['neg', 'pos'\].*new_head=True"):
        finetune(tmp_path, [("a", "bad"), ("b", "good")], **QUIET)
    with pytest.raises(CheckpointError, match=r"for labels \['neg', 'pos'\].*new_head=True"):
        finetune(tmp_path, [("a", "x"), ("b", "y"), ("c", "z")], **QUIET)
    # a truthy new_head that is no bool ("false") put the encoder under a fresh head
    for bad in ("false", 1, None):
        with pytest.raises(ConfigError, match=r"new_head must be True or False, got"):
            finetune(tmp_path, [("a", "bad"), ("b", "good")], new_head=bad, **QUIET)
    kept = finetune(tmp_path, [("a", "neg"), ("b", "pos")], validation=[("c", "neg")], **QUIET)
    assert kept.validation["accuracy"] == 1.0


def test_a_tagged_sentence_whose_words_have_no_piece_does_not_diverge(
    tiny_checkpoint: Path,
) -> None:
    # BERT's normalizer drops U+FFFD: the sentence's one word has no piece, so its batch
    # has no label (a loss over nothing is NaN, which read as a diverged run)
    sentences = [(["EU", "rejects"], ["B-ORG", "O"]), (["\ufffd"], ["O"]),
                 (["Peter", "Blackburn"], ["B-PER", "I-PER"])]  # fmt: skip
    result = finetune(tiny_checkpoint, sentences, task="tag", batch_size=1, epochs=1,
                      progress=False)  # fmt: skip
    assert all(np.isfinite(r["train_loss"]) for r in result.history)


def _model(vocab_size: int) -> Any:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_layers=1, num_heads=2,
                        intermediate_size=64, max_position_embeddings=64)  # fmt: skip
    return BertModel(config).eval()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("cafe\u0301 ok", ["cafe\u0301", "ok"]),  # decomposed: the accent is no piece's
        ("ok \u2764\ufe0f", ["ok", "\u2764\ufe0f"]),  # an emoji's variation selector
        ("e\u0301\u0301x y", ["e\u0301\u0301x", "y"]),
        ("x \u0301 y", ["x", "y"]),  # a mark after a space belongs to no word
    ],
)
def test_embed_words_keeps_the_combining_marks_of_a_word(
    tiny_checkpoint: Path, text: str, words: list[str]
) -> None:
    tok = lf.Tokenizer.from_file(tiny_checkpoint / "tokenizer.json")
    model = _model(tok.vocab_size)
    for pooling in ("mean", "first"):
        got = model.embed_words([text], tokenizer=tok, pooling=pooling)[0]
        assert got.words == words
        assert got.vectors.shape == (len(words), 32)


@pytest.fixture(scope="module")
def frameless() -> Any:
    """A byte-level BPE with no special tokens: it frames no text with [CLS] and [SEP]."""
    texts = ["the cat sat on the mat", "a dog ran in the park", "hello world"] * 20
    return lf.Tokenizer.train_bpe(texts=texts, vocab_size=300)


def test_empty_texts_under_a_tokenizer_without_special_tokens(frameless: Any) -> None:
    model = _model(frameless.vocab_size)
    # a batch of empty texts has no token at all: no words, a zero mean, as beside others
    assert model.embed_words([""], tokenizer=frameless)[0].words == []
    assert model.embed_words(["hello", ""], tokenizer=frameless, batch_size=1)[1].words == []
    alone = model.embed([""], tokenizer=frameless)
    beside = model.embed(["", "hello world"], tokenizer=frameless)
    assert alone.shape == (1, 32) and np.array_equal(alone[0], beside[0])
    # no [CLS] to read: said, not the first word's (or padding's) vector returned
    with pytest.raises(ConfigError, match=r"pooling='cls'.*pooling='mean'"):
        model.embed(["hello world"], tokenizer=frameless, pooling="cls")


@pytest.mark.parametrize("labels", [[0.0, 1.7], ["B-PER", "O"], [True, False]])
def test_align_word_labels_takes_class_ids_only(labels: list[Any]) -> None:
    word_ids = np.array([[-1, 0, 0, 1, -1]])
    with pytest.raises(ConfigError, match="integer class ids"):
        align_word_labels(word_ids, [labels])
    assert align_word_labels(word_ids, [[2, 1]]).tolist() == [[-100, 2, -100, 1, -100]]


def test_tagging_data_where_no_word_has_a_piece_is_refused(tiny_checkpoint: Path) -> None:
    # BERT's normalizer drops U+FFFD and a lone combining mark: every batch would be
    # skipped, and the run would end after 0 steps with nothing said
    sentences = [(["\ufffd"], ["O"]), (["\u0301"], ["B-X"])]
    with pytest.raises(ConfigError, match=r"no word of the 2 training sentences has a subword"):
        finetune(tiny_checkpoint, sentences, task="tag", progress=False)


def test_a_pandas_data_frame_is_read_as_its_records(tiny_checkpoint: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{"text": "a fine film", "label": "pos"}, {"text": "a dull film", "label": "neg"}]
    frame = pd.DataFrame(rows)
    assert read_records(frame) == [("a fine film", "pos"), ("a dull film", "neg")]
    result = finetune(tiny_checkpoint, frame, validation=frame, **QUIET)
    assert result.labels == ("neg", "pos") and result.history[0]["step"] == 1
    # list columns read from Parquet are NumPy arrays in a frame, structs dicts of them
    tagged = [{"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]}]
    pq.write_table(pa.Table.from_pylist(tagged), tmp_path / "tags.parquet")
    assert read_tagged(pd.read_parquet(tmp_path / "tags.parquet")) == [
        (["EU", "rejects"], ["B-ORG", "O"])
    ]
    qa = [{"question": "who?", "context": "so Bob ran",
           "answers": {"text": ["Bob"], "answer_start": [3]}}]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(qa), tmp_path / "qa.parquet")
    (example,) = read_qa(pd.read_parquet(tmp_path / "qa.parquet"))
    assert example.answers == (("Bob", 3),)
    twice = pd.DataFrame([["a", "pos", "b"]], columns=["text", "label", "text"])
    with pytest.raises(ConfigError, match="2 columns named 'text'"):
        read_records(twice)


@pytest.mark.parametrize("start", [3, 3.0, np.float64(3.0), np.int32(3)])
def test_an_integral_answer_start_is_taken_as_written_by_pandas(start: Any) -> None:
    row = {"question": "who?", "context": "so Bob ran",
           "answers": {"text": ["Bob"], "answer_start": [start]}}  # fmt: skip
    (example,) = read_qa([row])
    assert example.answers == (("Bob", 3),) and type(example.answers[0][1]) is int


@pytest.mark.parametrize("start", [3.5, float("nan"), float("inf"), -3.0, True, "3"])
def test_an_answer_start_that_is_no_character_count_is_refused(start: Any) -> None:
    row = {"question": "who?", "context": "so Bob ran",
           "answers": [{"text": "Bob", "answer_start": start}]}  # fmt: skip
    with pytest.raises(ConfigError, match="answer"):
        read_qa([row])


def test_a_regression_target_with_digit_underscores_is_refused(tmp_path: Path) -> None:
    # float() reads "1_000" as 1000.0 (Python's digit grouping); in a data file it is a typo
    with pytest.raises(ConfigError, match=r"'1_000' is not a finite number"):
        read_records([{"text": "a", "label": "1_000"}], problem_type="regression")
    (tmp_path / "r.csv").write_text("text,label\na,2.5\nb,1_0.5\n")
    with pytest.raises(ConfigError, match=r"r\.csv: line 3: the regression target '1_0\.5'"):
        read_records(tmp_path / "r.csv", problem_type="regression")
    kept = read_records([{"text": "a", "label": " 1000 "}, {"text": "b", "label": "1e3"},
                 {"text": "c", "label": 2.5}], problem_type="regression")  # fmt: skip
    assert [r[-1] for r in kept] == [1000.0, 1000.0, 2.5]
    # digits of other scripts are no number in a data file (pandas.to_numeric refuses them;
    # float() read "\u0661\u0662" as 12)
    for written in ("\u0661\u0662", "\uff13.\uff15"):
        with pytest.raises(ConfigError, match="is not a finite number"):
            read_records([{"text": "a", "label": written}], problem_type="regression")
    # finite, but its float32 square is not: the loss was inf at step 1, reported as a
    # divergence with advice to lower the learning rate
    for big in (1e39, "-2e19"):
        with pytest.raises(ConfigError, match="too large for the model's float32 loss"):
            read_records([{"text": "a", "label": big}], problem_type="regression")
    assert read_records([{"text": "a", "label": 1e18}], problem_type="regression")[0][-1] == 1e18


def test_a_classifier_whose_config_names_no_classes_is_read_as_from_pretrained_reads_it(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """transformers may save a classifier without ``id2label``: its classes are then
    LABEL_0, LABEL_1 (as ``from_pretrained`` and transformers read them), not none."""
    tok = lf.Tokenizer.from_file(tiny_checkpoint / "tokenizer.json")
    _head(BertForSequenceClassification, tiny_checkpoint, ("neg", "pos"), 1).save_pretrained(
        tmp_path, tokenizer=tok
    )
    config = json.loads((tmp_path / "config.json").read_text())
    for key in ("id2label", "label2id", "num_labels"):
        config.pop(key, None)
    (tmp_path / "config.json").write_text(json.dumps(config))
    read = BertForSequenceClassification.from_pretrained(tmp_path).config.labels
    assert read == ("LABEL_0", "LABEL_1")
    with pytest.raises(CheckpointError, match=r"for labels \['LABEL_0', 'LABEL_1'\]"):
        finetune(tmp_path, [("a", "neg"), ("b", "pos")], **QUIET)
    kept = finetune(tmp_path, [("a", "LABEL_0"), ("b", "LABEL_1")],
                    validation=[("c", "LABEL_1")], **QUIET)  # fmt: skip
    assert kept.validation["accuracy"] == 1.0


def test_a_transformers_model_object_is_refused_with_the_fix(tiny_checkpoint: Path) -> None:
    transformers = pytest.importorskip("transformers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = transformers.BertForMaskedLM.from_pretrained(tiny_checkpoint)
    tok = lf.Tokenizer.from_file(tiny_checkpoint / "tokenizer.json")
    with pytest.raises(ConfigError, match=r"transformers\..*BertForMaskedLM; save it"):
        finetune(theirs, [("a", "neg"), ("b", "pos")], tokenizer=tok, **QUIET)


def test_missing_cells_of_a_data_frame_are_named(tmp_path: Path) -> None:
    """pandas reads a blank csv cell as NaN (pd.NA in its nullable dtypes): a missing text
    or label, said as such, for classification and regression alike."""
    pd = pytest.importorskip("pandas")
    (tmp_path / "t.csv").write_text("text,label\na fine film,pos\n,neg\na dull film,\n")
    frame = pd.read_csv(tmp_path / "t.csv")
    with pytest.raises(ConfigError, match=r"record 1 has no value in column 'text'.*fill it in"):
        read_records(frame)
    with pytest.raises(ConfigError, match=r"record 2 has no label in column 'label'; fill it in"):
        read_records(frame.assign(text="x"))
    numbers = pd.DataFrame({"text": ["a", "b"], "label": pd.array([1.5, None], dtype="Float64")})
    with pytest.raises(ConfigError, match=r"record 1 has no label in column 'label'"):
        read_records(numbers, problem_type="regression")


def test_classes_that_differ_only_in_case_are_flagged(tiny_checkpoint: Path) -> None:
    """'pos' and 'Pos' stay two classes (a class name is kept as written), with a warning
    naming them; a held-out label unseen in training but for its case is pointed at."""
    rows = [("a", "pos"), ("b", "Pos"), ("c", "neg")]
    with pytest.warns(UserWarning, match=r"differ only in case \('Pos' and 'pos'\)"):
        result = finetune(tiny_checkpoint, rows, **QUIET)
    assert result.labels == ("Pos", "neg", "pos")
    with pytest.raises(
        ConfigError, match=r"\['NEG'\]; in another case: 'NEG' \(training has 'neg'\)"
    ):
        finetune(tiny_checkpoint, [("a", "pos"), ("c", "neg")], validation=[("d", "NEG")], **QUIET)
    # alike on screen, not in code points: NFC in training, NFD held out
    with pytest.raises(
        ConfigError, match=r"another Unicode form: 'cafe\u0301' \(training has 'caf\xe9'\)"
    ):
        finetune(tiny_checkpoint, [("a", "caf\u00e9"), ("c", "neg")],
                 validation=[("d", "cafe\u0301")], **QUIET)  # fmt: skip


def test_fine_tuning_into_an_earlier_runs_folder_says_its_model_is_replaced(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    rows = [("a", "pos"), ("b", "neg")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fresh folder: no word
        warnings.filterwarnings("ignore", "the fine-tuned model gives every text")  # lr 1e-9
        finetune(tiny_checkpoint, rows, validation=rows, out_dir=tmp_path / "run", **QUIET)
    assert (tmp_path / "run" / "best" / "config.json").is_file()
    with pytest.warns(UserWarning, match=r"holds an earlier run's model \(best/\); this run"):
        finetune(tiny_checkpoint, rows, out_dir=tmp_path / "run", **QUIET)


def test_fine_tuning_never_replaces_its_own_inputs(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """A data file named as a file fine-tuning writes into out_dir (its log.jsonl), or the
    model being fine-tuned in out_dir/best: refused before anything is read or deleted
    (the data file was deleted, the model replaced with a generic warning)."""
    rows = [("a", "pos"), ("b", "neg")]
    run = tmp_path / "run"
    finetune(tiny_checkpoint, rows, out_dir=run, **QUIET)
    data = run / "log.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    before = data.read_bytes()
    with pytest.raises(ConfigError, match=r"would replace the data file .*log.jsonl"):
        finetune(tiny_checkpoint, data, out_dir=run, **QUIET)
    with pytest.raises(ConfigError, match=r"would replace the data file"):
        finetune(tiny_checkpoint, rows, validation=data, out_dir=run, **QUIET)
    assert data.read_bytes() == before
    weights = (run / "best" / "model.safetensors").read_bytes()
    with pytest.raises(ConfigError, match=r"would replace the model .*best"):
        finetune(run / "best", rows, out_dir=run, **QUIET)
    assert (run / "best" / "model.safetensors").read_bytes() == weights
    finetune(run / "best", rows, out_dir=tmp_path / "next", **QUIET)  # elsewhere: fine


def test_column_options_for_a_dataset_name_are_refused(tiny_checkpoint: Path) -> None:
    """A dataset's columns are its own: a pair column given for rt-polarity was dropped
    (the run trained on single texts), a text column ignored."""
    for column in ("text_column", "pair_column", "label_column"):
        with pytest.raises(ConfigError, match=rf"^{column}='x': rt-polarity is a dataset"):
            finetune(tiny_checkpoint, "rt-polarity", **{column: "x"}, **QUIET)


def test_multi_label_cells_that_join_or_list_their_labels_are_named(tmp_path: Path) -> None:
    """Multi-label labels in one csv cell ("pos|film") without a separator, or a list
    written as text as pandas' to_csv writes it ("['pos', 'film']"), were each one class
    of that name."""
    multi = "multi_label_classification"
    for cell, fix in (("pos|film", "label_separator='|'"), ("pos;film", "label_separator=';'")):
        path = tmp_path / "joined.csv"
        path.write_text(f"text,label\nsuperb film,{cell}\nawful,neg\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=rf"such as '{cell}' .* pass {fix}"):
            read_records(path, problem_type=multi)
        sep = fix.split("'")[1]
        assert read_records(path, problem_type=multi, label_separator=sep)[0][1] == ("film", "pos")
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"text": ["superb film", "awful"], "label": [["pos", "film"], ["neg"]]})
    frame.to_csv(tmp_path / "lists.csv", index=False)
    for problem in (None, multi):
        with pytest.raises(ConfigError, match=r"is a list written as text .*JSON Lines"):
            read_records(tmp_path / "lists.csv", problem_type=problem)
    frame.to_json(tmp_path / "lists.jsonl", orient="records", lines=True)  # the fix it names
    assert read_records(tmp_path / "lists.jsonl")[0][1] == ("film", "pos")
    # names with brackets are still names, and one label per row of plain names is fine
    path = tmp_path / "plain.csv"
    path.write_text("text,label\na,[CLS]\nb,film\n", encoding="utf-8")
    assert [r[1] for r in read_records(path, problem_type=multi)] == [("[CLS]",), ("film",)]


def test_tagged_records_with_no_tokens_are_left_out_with_a_word() -> None:
    rows = [(["EU", "rejects"], ["B-ORG", "O"]), ([], []), (["Peter"], ["B-PER"])]
    with pytest.warns(UserWarning, match=r"1 record\(s\) with no tokens left out"):
        assert len(read_tagged(rows)) == 2


def test_a_header_spelled_in_another_case_is_named(tmp_path: Path) -> None:
    """ "Text,Label": the file has a header, so the advice to add one was wrong."""
    path = tmp_path / "cased.csv"
    path.write_text("Text,Label\nsuperb,pos\nawful,neg\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"no column 'text' .*'Text' differs from it only in"):
        read_records(path)
    assert read_records(path, text_column="Text", label_column="Label")[0] == ("superb", "pos")


def test_numpy_numbers_are_options_like_any_others(tiny_checkpoint: Path) -> None:
    """A seed sweep over ``np.arange`` (and NumPy runs, epochs, rates) trains as Python's
    numbers do: the same run, not a raw TypeError from random.Random at the first batch."""
    rows = [{"text": t, "label": t.split()[0]} for t in ["cats purr", "dogs bark"] * 4]
    kw = {**QUIET, "epochs": 1, "batch_size": 4}
    want = finetune(tiny_checkpoint, rows, seed=1, runs=2, **{**kw, "lr": 1e-3})
    got = finetune(tiny_checkpoint, rows, seed=np.arange(3)[1], runs=np.int64(2),
                   **{**kw, "lr": np.float64(1e-3)})  # fmt: skip
    assert got.history == want.history and got.soup == want.soup


def test_numpy_array_labels_fine_tune_as_their_names(tiny_checkpoint: Path) -> None:
    """``list(zip(texts, Y))`` with NumPy rows: names are multi-label classes (not the
    classes "['x' 'y']"), a multi-hot matrix is refused (not the classes "[0 1 0]"), NumPy
    bools are the classes Python's are, in every split."""
    texts = ["cats", "dogs", "cars", "cats and dogs"]
    names = [np.array(["x"]), np.array(["y"]), np.array(["x", "y"]), np.array(["y", "x"])]
    rows = [{"text": t, "label": n} for t, n in zip(texts, names, strict=True)]
    result = finetune(tiny_checkpoint, rows, **QUIET)
    assert result.problem_type == "multi_label_classification" and result.labels == ("x", "y")
    hot = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    with pytest.raises(ConfigError, match=r"multi-hot vectors \(record 0: \[1, 0, 1\]"):
        finetune(tiny_checkpoint, list(zip(texts, hot, strict=True)), **QUIET)
    flags = np.array([True, False, True, False])
    bools = finetune(tiny_checkpoint, list(zip(texts, flags, strict=True)),
                     validation=list(zip(texts, flags.tolist(), strict=True)), **QUIET)  # fmt: skip
    assert bools.labels == ("false", "true") and bools.validation["n"] == 4


def test_score_labels_need_a_problem_type_in_the_api_and_the_cli(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lexforge.cli import main

    path = tmp_path / "scores.csv"
    path.write_text("text,label\n" + "".join(f"text {i},{i * 0.37:.2f}\n" for i in range(6)))
    with pytest.raises(ConfigError, match=r"numbers with fractions \(line 3: '0\.37'\)"):
        finetune(tiny_checkpoint, path, **QUIET)
    result = finetune(tiny_checkpoint, path, problem_type="regression", **QUIET)
    assert result.problem_type == "regression" and result.labels == ("label",)
    args = ["finetune", str(tiny_checkpoint), str(path), "--max-steps", "1", "--quiet",
            "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(args) == 1
    assert "--problem-type 'regression' to predict" in capsys.readouterr().err
    assert main([*args, "--problem-type", "regression"]) == 0
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert report["problem_type"] == "regression"
    # integral numbers, however written, stay classes
    whole = finetune(tiny_checkpoint, [("a", 1.0), ("b", "5.00"), ("c", 5)], **QUIET)
    assert whole.problem_type == "single_label_classification" and whole.labels == ("1", "5")


def test_labels_read_as_pandas_reads_their_files(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """A number with a fraction is one class however written ("1.5", "1.50", "+1.5";
    "1e-3" and JSON's 0.001), as pandas reads them one value (they were four classes); a
    class that differs from another only by the quotes a tsv file keeps ('"pos"', read
    unquoted) and one spelled as pandas spells a missing value ("NA") are warned of, since
    pd.read_csv of the same file gives other classes (the oracle here)."""
    pd = pytest.importorskip("pandas")
    rows = [("a", "1.5"), ("b", "1.50"), ("c", 2.5), ("d", "+2.50"), ("e", "1e-3"),
            ("f", 0.001), ("g", ".5")]  # fmt: skip
    result = finetune(tiny_checkpoint, rows, problem_type="single_label_classification",
                      **QUIET)  # fmt: skip
    frame = pd.DataFrame(rows, columns=["text", "label"])
    assert len(result.labels) == pd.to_numeric(frame["label"]).nunique() == 4
    assert result.labels == ("0.001", "0.5", "1.5", "2.5")
    tsv = tmp_path / "q.tsv"
    tsv.write_text("text\tlabel\n" + "".join(f"film {i}\t{['pos', 'neg'][i % 2]}\n"
                   for i in range(8)) + 'great film\t"pos"\n')  # fmt: skip
    assert pd.read_csv(tsv, sep="\t")["label"].nunique() == 2
    with pytest.warns(UserWarning, match=r"""differ only by the quotes around them \('"pos"' """
                                         r"and 'pos'\)"):  # fmt: skip
        finetune(tiny_checkpoint, tsv, **QUIET)
    csv = tmp_path / "na.csv"
    csv.write_text("text,label\n" + "".join(f"film {i},{['pos', 'NA'][i % 2]}\n"
                   for i in range(8)))  # fmt: skip
    assert pd.read_csv(csv)["label"].isna().sum() == 4
    with pytest.warns(UserWarning, match=r"the class\(es\) 'NA', spelled as pandas spells a "
                                         r"missing value"):  # fmt: skip
        finetune(tiny_checkpoint, csv, **QUIET)


def test_numbered_columns_of_a_data_frame(tiny_checkpoint: Path) -> None:
    """``pd.read_csv(header=None)`` numbers the columns 0, 1, ...: they are named by number
    (``text_column=0``, or ``"0"`` as a csv header names them) in every task."""
    pd = pytest.importorskip("pandas")
    import io

    frame = pd.read_csv(io.StringIO("good movie,pos\nbad movie,neg\n"), header=None)
    with pytest.raises(
        ConfigError, match=r"the columns are numbered .* such as text_column=0, label_column=1$"
    ):
        finetune(tiny_checkpoint, frame, **QUIET)
    for columns in ({"text_column": 0, "label_column": 1},
                    {"text_column": "0", "label_column": "1"},
                    {"text_column": np.int64(0), "label_column": 1}):  # fmt: skip
        result = finetune(tiny_checkpoint, frame, validation=frame, **columns, **QUIET)
        assert result.labels == ("neg", "pos") and result.validation["n"] == 2
    assert read_records(frame, text_column="0", label_column="1")[0] == ("good movie", "pos")
    with pytest.raises(ConfigError, match=r"text_column must be a column name .* got True"):
        finetune(tiny_checkpoint, frame, text_column=True, **QUIET)
    tagged = pd.DataFrame([[["EU", "rejects"], ["B-ORG", "O"]]])
    tags = finetune(tiny_checkpoint, tagged, task="tag", text_column=0, label_column=1, **QUIET)
    assert tags.labels == ("B-ORG", "O")
    qa = pd.DataFrame([["who?", "so Bob ran", {"text": ["Bob"], "answer_start": [3]}]])
    (example,) = read_qa(qa, question_column="0", context_column="1", answers_column="2")
    assert example.answers == (("Bob", 3),)
    twice = pd.DataFrame([["a", "b", "pos"]], columns=[0, "0", "label"])
    with pytest.raises(ConfigError, match="2 columns named '0'; rename all but one"):
        read_records(twice)


def test_a_run_with_nothing_held_out_says_it_is_not_scored(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """A data file has no splits of its own: with no validation= or test= the run kept
    its last epoch and returned no scores, without a word."""
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"text": f"t {i}", "label": i % 2}) + "\n"
                            for i in range(8)), encoding="utf-8")  # fmt: skip
    with pytest.warns(UserWarning, match="no validation or test data: the run is not scored"):
        result = finetune(tiny_checkpoint, path, batch_size=4, **QUIET)
    assert result.validation == {} and result.test is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", "the fine-tuned model gives every text")  # lr 1e-9
        finetune(tiny_checkpoint, path, test=path, batch_size=4, **QUIET)


def test_hugging_face_datasets_train_with_their_splits_and_label_names(
    tiny_checkpoint: Path,
) -> None:
    """A datasets.DatasetDict gives its train, validation and test splits; ClassLabel ids
    read as their names (alone, or in lists as NER tags are); a split without labels (-1,
    as GLUE's test splits) is left out, with a warning."""
    hf = pytest.importorskip("datasets")
    features = hf.Features({"sentence": hf.Value("string"),
                            "label": hf.ClassLabel(names=["neg", "pos"])})  # fmt: skip
    texts = ["a fine film", "a dull film", "superb", "awful"]

    def split(labels: list[int]) -> Any:
        return hf.Dataset.from_dict({"sentence": texts, "label": labels}, features=features)

    glue = hf.DatasetDict({"train": split([1, 0, 1, 0]), "validation": split([1, 0, 0, 1]),
                           "test": split([-1, -1, -1, -1])})  # fmt: skip
    with pytest.warns(UserWarning, match="'test' split has no labels"):
        result = finetune(tiny_checkpoint, glue, text_column="sentence", **QUIET)
    assert result.labels == ("neg", "pos") and result.test is None
    assert set(result.validation) >= {"accuracy", "macro_f1"}
    # the same with a format set (as a training script leaves it), or streamed
    streamed = hf.IterableDatasetDict({k: v.to_iterable_dataset() for k, v in glue.items()
                                       if k != "test"})  # fmt: skip
    for given in (glue.with_format("pandas"), glue.with_format("arrow"), streamed):
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            again = finetune(tiny_checkpoint, given, text_column="sentence", **QUIET)
        assert again.labels == result.labels and again.test is None, given
        assert again.validation == result.validation, given
        if given is not streamed:
            assert any("'test' split has no labels" in str(w.message) for w in said), given
    with pytest.raises(ConfigError, match="pass one split of the DatasetDict"):
        finetune(tiny_checkpoint, glue["train"], validation=glue, text_column="sentence", **QUIET)
    with pytest.raises(ConfigError, match=r"no 'train' split \(it has 'dev'\)"):
        finetune(tiny_checkpoint, hf.DatasetDict({"dev": glue["train"]}), **QUIET)
    # NER tags as ClassLabel ids in lists, as conll2003 has them
    tagged = hf.Dataset.from_dict(
        {"tokens": [["EU", "rejects", "German"], ["Peter", "Blackburn"]],
         "ner_tags": [[3, 0, 7], [1, 2]]},
        features=hf.Features({"tokens": hf.Sequence(hf.Value("string")), "ner_tags": hf.Sequence(
            hf.ClassLabel(names=["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC",
                                 "B-MISC", "I-MISC"]))}),
    )  # fmt: skip
    ner = finetune(tiny_checkpoint, tagged, validation=tagged, task="tag",
                   label_column="ner_tags", **QUIET)  # fmt: skip
    assert set(ner.labels) == {"O", "B-PER", "I-PER", "B-ORG", "B-MISC"}
    assert "entity" in ner.validation  # BIO names: entity scores
    # SQuAD's columns, answers as a struct of lists
    squad = hf.Dataset.from_list([
        {"id": "1", "question": "Where?", "context": "Paris is big.",
         "answers": {"text": ["Paris"], "answer_start": [0]}},
        {"id": "2", "question": "What?", "context": "The cat sat.",
         "answers": {"text": ["cat"], "answer_start": [4]}},
    ])  # fmt: skip
    qa = finetune(tiny_checkpoint, squad, validation=squad, task="qa", **QUIET)
    assert set(qa.validation) >= {"exact_match", "f1"}
    # SQuAD 2.0's options pass through; a split without unanswerable questions gets no
    # no-answer score (not a 0 for questions it does not hold)
    qa = finetune(tiny_checkpoint, squad, validation=squad, task="qa", unanswerable=True,
                  null_threshold=0.0, max_answer_length=5, **QUIET)  # fmt: skip
    assert qa.validation["null_threshold"] == 0.0 and "has_answer_f1" in qa.validation
    assert "no_answer_accuracy" not in qa.validation
    with pytest.raises(ConfigError, match=r"max_answer_length=5: only task='qa' takes it"):
        finetune(
            tiny_checkpoint, glue["train"], text_column="sentence", max_answer_length=5, **QUIET
        )


def test_a_save_to_disk_folder_is_read_as_its_dataset(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI takes the folder datasets' save_to_disk writes (a DatasetDict's splits, or
    one Dataset), as the API takes the objects."""
    hf = pytest.importorskip("datasets")
    from lexforge.cli import main

    features = hf.Features({"text": hf.Value("string"),
                            "label": hf.ClassLabel(names=["neg", "pos"])})  # fmt: skip
    rows = {"text": ["a fine film", "a dull film", "superb", "awful"], "label": [1, 0, 1, 0]}
    one = hf.Dataset.from_dict(rows, features=features)
    hf.DatasetDict({"train": one, "validation": one}).save_to_disk(str(tmp_path / "dd"))
    one.save_to_disk(str(tmp_path / "test"))
    argv = ["finetune", str(tiny_checkpoint), str(tmp_path / "dd"), "--test",
            str(tmp_path / "test"), "--max-steps", "1", "--out", str(tmp_path / "out"),
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "validation: accuracy" in said and "test: accuracy" in said
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert report["labels"] == ["neg", "pos"]


@pytest.mark.parametrize("suffix", ["jsonl", "json"])
def test_records_written_as_json_arrays_are_refused_not_read_by_position(
    tmp_path: Path, suffix: str
) -> None:
    """An array row has no column names: ["pos", "a great film"] was read as (text,
    label), whatever text_column and label_column said, so the labels became the texts."""
    rows = [["pos", "a great film"], ["neg", "an awful film"]]
    path = tmp_path / f"train.{suffix}"
    text = "\n".join(json.dumps(r) for r in rows) if suffix == "jsonl" else json.dumps(rows)
    path.write_text(text + "\n", encoding="utf-8")
    where = "line 1" if suffix == "jsonl" else "record 1"
    with pytest.raises(ConfigError, match=rf"{where} is a JSON array .* not an object"):
        read_records(path, text_column="review", label_column="sentiment")
    tagged = tmp_path / f"tags.{suffix}"
    pairs = [[["B-PER", "O"], ["Bob", "ran"]]]
    tagged.write_text(
        json.dumps(pairs[0]) if suffix == "jsonl" else json.dumps(pairs), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="is a JSON array"):
        read_tagged(tagged, tokens_column="words", tags_column="ner")
