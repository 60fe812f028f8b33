"""Predictions of fine-tuned heads on new inputs (``classify``, ``tag``) against
transformers running the same exported checkpoint: its softmax (sigmoid, regression
output) for texts and sentence pairs, and the argmax at each word's first piece for
tagged words."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import lexforge as lf  # noqa: E402
from lexforge.errors import ConfigError  # noqa: E402
from lexforge.model import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXTS = [
    "The film was wonderful, a delight from start to end.",
    "Dreadful acting and a boring plot.",
    "Paris is the capital of France",
    "",
    "John Smith visited New York City in May",
    "naïve café, 北京 and emoji 🙂 too",
]


@pytest.fixture(scope="module")
def tok() -> Any:
    return lf.Tokenizer.train_wordpiece(texts=TEXTS * 20, vocab_size=200, show_progress=False)


def _saved(cls: Any, tok: Any, folder: Path, **config: Any) -> Any:
    torch.manual_seed(0)
    config = {"max_position_embeddings": 24, **config}
    base = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_layers=2, num_heads=2,
                      intermediate_size=64, **config)  # fmt: skip
    model = cls(base)
    with torch.no_grad():  # a head with something to say (random init is near uniform)
        for p in model.parameters():
            p.normal_(0, 0.5) if p.dim() > 1 else None
    model.save_pretrained(folder, tokenizer=tok)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls.from_pretrained(folder)


@pytest.mark.parametrize(
    ("labels", "problem"),
    [(("neg", "pos"), None), (("a", "b", "c"), "multi_label_classification"),
     (("score",), "regression")],
)  # fmt: skip
def test_classify_is_transformers_on_the_export(
    tok: Any, tmp_path: Path, labels: tuple[str, ...], problem: str | None
) -> None:
    ours = _saved(BertForSequenceClassification, tok, tmp_path, labels=labels,
                  problem_type=problem)  # fmt: skip
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path)
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    texts = [t for t in TEXTS if len(hf_tok(t)["input_ids"]) <= 12]
    pairs = list(reversed(texts))
    ours.train()  # (predictions are without dropout, and leave the mode as it was)
    for second in (None, pairs):
        got = ours.classify(texts, second, batch_size=2)
        assert ours.training
        enc = hf_tok(texts, second, padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = hf(**enc).logits
        assert len(got) == len(texts)
        if problem == "regression":
            np.testing.assert_allclose(got, logits[:, 0].numpy(), atol=1e-5)
        elif problem is None:
            probability = torch.softmax(logits, -1)
            assert [label for label, _ in got] == [labels[i] for i in probability.argmax(-1)]
            np.testing.assert_allclose([p for _, p in got], probability.max(-1).values, atol=1e-5)
        else:
            probability = torch.sigmoid(logits)
            assert 0 < int((probability > 0.5).sum()) < probability.numel()  # (a real test)
            for row, predicted in zip(probability, got, strict=True):
                assert {label for label, _ in predicted} == {
                    labels[i] for i in range(len(labels)) if row[i] > 0.5
                }
                assert [p for _, p in predicted] == sorted((p for _, p in predicted), reverse=True)
    with pytest.raises(ConfigError, match=r"texts\[1\] \(text number 2\) has \d+ tokens, more"):
        ours.classify(["short", "word " * 40])
    with pytest.raises(ConfigError, match="2 texts but 1 pairs"):
        ours.classify(["a", "b"], ["c"])
    with pytest.raises(TypeError, match="pass a list of texts"):
        ours.classify("one text")


def test_classify_cuts_to_max_length_as_fine_tuning_and_transformers_do(
    tok: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fine-tuning scores texts cut to its max_length; ``classify`` read them whole, so its
    predictions were not the evaluated ones (and ``lexforge predict`` refused
    --max-length for classifiers). With ``max_length`` it cuts as transformers does with
    ``truncation=True`` (the longer of a pair first), warns how many, and the CLI flag
    reaches it."""
    import json

    from lexforge.cli import main

    ours = _saved(BertForSequenceClassification, tok, tmp_path, labels=("neg", "pos"),
                  max_position_embeddings=64)  # fmt: skip
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path)
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    texts = [TEXTS[0] * 2, TEXTS[1], TEXTS[4] + " " + TEXTS[0], "short"]
    pairs = [TEXTS[2], TEXTS[0] * 2, TEXTS[5], TEXTS[1]]
    for second, length in ((None, 9), (pairs, 12)):
        enc = hf_tok(texts, second, truncation=True, max_length=length, padding=True,
                     return_tensors="pt")  # fmt: skip
        with torch.no_grad():
            probability = torch.softmax(hf(**enc).logits, -1)
        whole = [len(x) for x in hf_tok(texts, second)["input_ids"]]
        with pytest.warns(UserWarning, match=rf"{sum(n > length for n in whole)} of 4 texts are"):
            got = ours.classify(texts, second, max_length=length, batch_size=3)
        assert [label for label, _ in got] == [("neg", "pos")[i] for i in probability.argmax(-1)]
        np.testing.assert_allclose([p for _, p in got], probability.max(-1).values, atol=1e-5)
    # what fine-tuning's evaluation scored (its confusion matrix) is what classify gives
    data = tmp_path / "train.csv"
    rows = [("good " * 3 + "bad " * 20, "pos"), ("bad", "neg")] * 4
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = lf.finetune(tmp_path, str(data), test=str(data), max_length=8, epochs=1,
                             lr=1e-2, device="cpu", progress=False)  # fmt: skip
        got = result.model.classify([t for t, _ in rows], max_length=8)
    predicted = [result.labels.index(label) for label, _ in got]
    gold = [result.labels.index(y) for _, y in rows]
    confusion = [[0] * len(result.labels) for _ in result.labels]
    for g, p in zip(gold, predicted, strict=True):
        confusion[g][p] += 1
    assert confusion == result.test["confusion"]
    # the flag, from the shell
    lines = tmp_path / "in.txt"
    lines.write_text("\n".join(texts) + "\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="texts are longer than max_length=9"):
        assert main(["predict", str(tmp_path), str(lines), "--max-length", "9"]) == 0
    lines_out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    with pytest.warns(UserWarning):
        want = ours.classify(texts, max_length=9)
    assert [(r["label"], r["score"]) for r in lines_out] == [(y, pytest.approx(p)) for y, p in want]
    assert main(["predict", str(tmp_path), str(lines), "--max-length", "2"]) == 1
    assert "--max-length must be at least 3, got 2" in capsys.readouterr().err
    # past the model's positions: the length is refused, not a text cut to it (whose
    # message told the user to split it)
    lines.write_text("word " * 80 + "\n", encoding="utf-8")
    assert main(["predict", str(tmp_path), str(lines), "--max-length", "70"]) == 1
    said = capsys.readouterr().err
    assert "--max-length 70 is more than the model's 64 positions; pass at most 64" in said
    with pytest.raises(ConfigError, match="max_length=65 is more than the model's 64"):
        ours.classify(["a text"], max_length=65)


def test_classify_reads_batches_of_like_length_in_the_given_order(tok: Any, tmp_path: Path) -> None:
    """Texts (and pairs) are read longest first, in batches of like length, as cut by
    ``max_length``: the encoder reads exactly the tokens of those batches (computed here
    from transformers' tokenizer), the predictions come back in the given order, equal to
    each text's alone, and a text past the positions is named before any batch is read."""
    ours = _saved(BertForSequenceClassification, tok, tmp_path, labels=("neg", "pos"),
                  max_position_embeddings=64)  # fmt: skip
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path)
    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(TEXTS[:3], size=k)) for k in rng.integers(0, 3, size=23)]
    pairs = [TEXTS[4][: int(k)] for k in rng.integers(0, 40, size=23)]
    shapes: list[tuple[int, int]] = []
    ours.bert.embeddings.register_forward_hook(
        lambda _module, args, _out: shapes.append(tuple(args[0].shape))
    )
    for second, length in ((None, None), (pairs, None), (None, 20), (pairs, 24)):
        lengths = [len(x) for x in hf_tok(texts, second)["input_ids"]]
        lengths = sorted((min(n, length or n) for n in lengths), reverse=True)
        with warnings.catch_warnings():  # (texts cut to max_length, warned)
            warnings.simplefilter("ignore")
            alone = [ours.classify([t], None if second is None else [second[i]],
                                   max_length=length)[0] for i, t in enumerate(texts)]  # fmt: skip
            shapes.clear()
            got = ours.classify(texts, second, max_length=length, batch_size=5)
        assert shapes == [(len(lengths[i : i + 5]), lengths[i]) for i in range(0, 23, 5)]
        assert [label for label, _ in got] == [label for label, _ in alone]
        np.testing.assert_allclose([p for _, p in got], [p for _, p in alone], atol=1e-5)
    shapes.clear()
    with pytest.raises(ConfigError, match=r"^texts\[30\] \(text number 31\) has \d+ tokens"):
        ours.classify(texts + texts[:7] + ["word " * 70], batch_size=5)
    assert shapes == []


def _longest_first(sizes: list[int], batch_size: int) -> list[list[int]]:
    """Indices in batches, longest first (ties in the given order)."""
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def test_tag_and_answer_read_batches_of_like_length_in_the_given_order(
    tok: Any, tmp_path: Path
) -> None:
    """``tag`` and ``answer`` read their inputs longest first (by characters), so each
    batch is padded to about its own length: the encoder reads exactly those batches'
    tokens (counted by transformers' tokenizer), and the results come back in the given
    order, equal to each input's alone."""
    from lexforge.model import BertForQuestionAnswering

    rng = np.random.default_rng(2)
    words = " ".join(TEXTS).split()
    sentences = [list(rng.choice(words, size=k)) for k in rng.integers(1, 9, size=17)]
    tagger = _saved(BertForTokenClassification, tok, tmp_path / "tag",
                    labels=("B-LOC", "I-LOC", "O"), max_position_embeddings=64)  # fmt: skip
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "tag")
    shapes: list[tuple[int, int]] = []
    hook = lambda _module, args, _out: shapes.append(tuple(args[0].shape))  # noqa: E731
    tagger.bert.embeddings.register_forward_hook(hook)
    alone = [tagger.tag([s])[0] for s in sentences]
    shapes.clear()
    assert tagger.tag(sentences, batch_size=4) == alone
    pieces = [len(hf_tok(s, is_split_into_words=True)["input_ids"]) for s in sentences]
    chars = [sum(map(len, s)) + len(s) for s in sentences]
    assert shapes == [(len(b), max(pieces[i] for i in b)) for b in _longest_first(chars, 4)]

    reader = _saved(BertForQuestionAnswering, tok, tmp_path / "qa", max_position_embeddings=64)
    reader.bert.embeddings.register_forward_hook(hook)
    questions = [" ".join(rng.choice(words, size=k)) + "?" for k in rng.integers(1, 4, size=13)]
    contexts = [" ".join(rng.choice(words, size=k)) for k in rng.integers(1, 30, size=13)]
    alone_qa = [reader.answer([q], [c])[0] for q, c in zip(questions, contexts, strict=True)]
    shapes.clear()
    got = reader.answer(questions, contexts, batch_size=4)
    assert [(text, start) for text, start, _ in got] == [(t, s) for t, s, _ in alone_qa]
    np.testing.assert_allclose([x[2] for x in got], [x[2] for x in alone_qa], atol=1e-4)
    tokens = [len(x) for x in hf_tok(questions, contexts)["input_ids"]]
    chars = [len(q) + len(c) for q, c in zip(questions, contexts, strict=True)]
    assert max(tokens) <= 64  # (one window each)
    assert shapes == [(len(b), max(tokens[i] for i in b)) for b in _longest_first(chars, 4)]


def test_tag_is_the_argmax_at_each_words_first_piece(tok: Any, tmp_path: Path) -> None:
    labels = ("B-LOC", "B-PER", "I-LOC", "I-PER", "O")
    ours = _saved(BertForTokenClassification, tok, tmp_path, labels=labels)
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path)
    hf = transformers.AutoModelForTokenClassification.from_pretrained(tmp_path).eval()
    sentences = [["John", "Smith", "visited", "New", "York"], ["Paris", "is", "naïve", "🙂"],
                 ["the", "capital", "of", "France", "in", "May"]]  # fmt: skip
    got = ours.tag(sentences, batch_size=2)
    for words, tagged in zip(sentences, got, strict=True):
        enc = hf_tok(words, is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            best = hf(**enc).logits[0].argmax(-1).tolist()
        ids = enc.word_ids(0)
        first = {w: j for j, w in reversed(list(enumerate(ids))) if w is not None}
        assert [w for w, _ in tagged] == words
        assert [t for _, t in tagged] == [labels[best[first[k]]] for k in range(len(words))]
    # a text is cut at whitespace; a sentence longer than the model's positions is read in
    # windows: a tag for every word, nothing dropped
    assert ours.tag(["John Smith visited New York"]) == got[:1]
    long = ["word"] * 60
    assert [w for w, _ in ours.tag([long])[0]] == long
    with pytest.raises(ConfigError, match="sentence 0: word 1 is blank"):
        ours.tag([["a", " ", "b"]])
    with pytest.raises(TypeError, match="sentence 0 is not a text or a list of words"):
        ours.tag([[1, 2]])


def test_answer_is_the_best_span_of_the_exports_logits(tok: Any, tmp_path: Path) -> None:
    """The best span of context pieces (start + end logit; end not before start, at most
    max_answer_length pieces, not blank) from transformers' logits on the same folder."""
    from lexforge.model import BertForQuestionAnswering

    ours = _saved(BertForQuestionAnswering, tok, tmp_path, max_position_embeddings=64)
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path)
    hf = transformers.AutoModelForQuestionAnswering.from_pretrained(tmp_path).eval()
    questions = ["Who visited?", "Where is Paris?", "What was the film?"]
    contexts = [TEXTS[4], TEXTS[2] + ". " + TEXTS[5], TEXTS[0]]
    got = ours.answer(questions, contexts, max_answer_length=4, batch_size=2)
    for question, context, (text, start, score) in zip(questions, contexts, got, strict=True):
        enc = hf_tok(question, context, return_offsets_mapping=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping")[0].tolist()
        with torch.no_grad():
            out = hf(**enc)
        s_logits, e_logits = out.start_logits[0].tolist(), out.end_logits[0].tolist()
        in_context = [i for i, kind in enumerate(enc.sequence_ids(0)) if kind == 1]
        best = (-np.inf, "")
        for s in in_context:
            for t in in_context:
                span = context[offsets[s][0] : offsets[t][1]]
                if s <= t < s + 4 and span.strip() and s_logits[s] + e_logits[t] > best[0]:
                    best = (s_logits[s] + e_logits[t], span.strip())
        assert text == best[1] and score == pytest.approx(best[0], abs=1e-4), (text, best)
        assert context[start : start + len(text)] == text
    # no answer where [CLS] beats the best span by more than the threshold
    assert all(a == ("", -1, a[2]) for a in ours.answer(questions, contexts, null_threshold=-1e9))
    assert ours.answer(questions, contexts, null_threshold=1e9) == ours.answer(questions, contexts)
    # a context longer than a window: read in windows, the span still the context's
    long = " ".join([TEXTS[0]] * 12)
    ((text, start, _),) = ours.answer(["What was the film?"], [long], max_length=32)
    assert text and long[start : start + len(text)] == text
    # a question past a quarter of the window is cut to it, as fine-tuning cuts it, and
    # said (the cut question's answer is the one given)
    asked = " ".join(["who visited the city"] * 6) + "?"
    with pytest.warns(UserWarning, match=r"1 of 2 questions are longer than 16 tokens .*"
                                         r"questions\[1\] first"):  # fmt: skip
        cut = ours.answer(["Who?", asked], [TEXTS[4]] * 2, max_length=64)
    pieces = hf_tok(asked, add_special_tokens=False, return_offsets_mapping=True)
    shorter = asked[: pieces["offset_mapping"][15][1]]
    assert cut[1][:2] == ours.answer([shorter], [TEXTS[4]], max_length=64)[0][:2]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ours.answer(["Who?", shorter], [TEXTS[4]] * 2, max_length=64)
    with pytest.raises(ConfigError, match="2 questions but 1 contexts"):
        ours.answer(["a", "b"], ["c"])
    with pytest.raises(ConfigError, match=r"contexts\[0\] is blank"):
        ours.answer(["a"], [" "])


def test_lexforge_predict_writes_what_the_api_gives(
    tok: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``lexforge predict`` picks the head from the checkpoint: a classifier's label and
    probability per line, a tagger's tags per word, a QA model's answers per record; an
    encoder is refused with the command to use."""
    import json

    from lexforge.cli import main
    from lexforge.model import BertForQuestionAnswering, BertModel

    lines = tmp_path / "in.txt"
    lines.write_text("\n".join(t for t in TEXTS if t) + "\n", encoding="utf-8")
    texts = lines.read_text(encoding="utf-8").splitlines()
    clf = _saved(BertForSequenceClassification, tok, tmp_path / "clf", labels=("neg", "pos"))
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "clf"), str(lines)]) == 0
    got = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    want = clf.classify(texts)
    assert [r["text"] for r in got] == texts
    assert [r["label"] for r in got] == [label for label, _ in want]
    np.testing.assert_allclose([r["score"] for r in got], [w[1] for w in want], atol=1e-6)
    tagger = _saved(BertForTokenClassification, tok, tmp_path / "tag", labels=("B-X", "O"))
    out = tmp_path / "tags.jsonl"
    assert main(["predict", str(tmp_path / "tag"), str(lines), "-o", str(out)]) == 0
    tagged = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [list(zip(r["words"], r["tags"], strict=True)) for r in tagged] == [
        list(s) for s in tagger.tag(texts)
    ]
    qa = _saved(BertForQuestionAnswering, tok, tmp_path / "qa", max_position_embeddings=64)
    records = tmp_path / "qa.jsonl"
    pairs = [("Who visited?", TEXTS[4]), ("Where?", TEXTS[2])]
    records.write_text("".join(json.dumps({"question": q, "context": c}) + "\n"
                               for q, c in pairs))  # fmt: skip
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "qa"), str(records)]) == 0
    answers = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    expected = qa.answer([q for q, _ in pairs], [c for _, c in pairs])
    assert [(a["answer"], a["start"]) for a in answers] == [(t, s) for t, s, _ in expected]
    # the longest answer fine-tuning scored, given as it recorded it
    for most in (1, 2):
        assert main(["predict", str(tmp_path / "qa"), str(records),
                     "--max-answer-length", str(most)]) == 0  # fmt: skip
        answers = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        bounded = qa.answer([q for q, _ in pairs], [c for _, c in pairs], max_answer_length=most)
        assert [(a["answer"], a["start"]) for a in answers] == [(t, s) for t, s, _ in bounded]
        assert all(len(tok.encode(t, add_special_tokens=False)) <= most for t, _, _ in bounded)
    assert main(["predict", str(tmp_path / "qa"), str(records), "--max-answer-length", "0"]) == 1
    assert "--max-answer-length" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "tag"), str(lines), "--max-answer-length", "3"]) == 1
    assert "--max-answer-length is for QA models" in capsys.readouterr().err
    # SQuAD's own .json layout, beside a jsonl file: each question with its id
    squad = tmp_path / "dev.json"
    squad.write_text(json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": [
        {"context": c, "qas": [{"id": f"q{i}", "question": q, "answers": [],
                                "is_impossible": True}]}
        for i, (q, c) in enumerate(pairs)]}]}))  # fmt: skip
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "qa"), str(squad), str(records)]) == 0
    answers = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [a.get("id") for a in answers] == ["q0", "q1", None, None]
    assert [(a["answer"], a["start"]) for a in answers] == [(t, s) for t, s, _ in expected] * 2
    squad.write_text(json.dumps({"data": [{"paragraphs": [{"qas": []}]}]}))
    assert main(["predict", str(tmp_path / "qa"), str(squad)]) == 1
    assert "missing or wrong 'context'" in capsys.readouterr().err
    BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_layers=1, num_heads=2,
                         intermediate_size=64)).save_pretrained(tmp_path / "enc")  # fmt: skip
    assert main(["predict", str(tmp_path / "enc"), str(lines)]) == 1
    assert "not a fine-tuned classifier, tagger or QA model" in capsys.readouterr().err


def test_regression_of_several_outputs_gives_each_by_its_label(tok: Any, tmp_path: Path) -> None:
    """A regression head with several outputs: every one, named by its label (not the
    first alone), as transformers computes them; ``lexforge predict`` writes them all."""
    import json

    from lexforge.cli import main

    ours = _saved(BertForSequenceClassification, tok, tmp_path, labels=("x", "y", "z"),
                  problem_type="regression")  # fmt: skip
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path)
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    texts = TEXTS[1:4]
    got = ours.classify(texts, batch_size=2)
    with torch.no_grad():
        logits = hf(**hf_tok(texts, padding=True, return_tensors="pt")).logits
    assert [list(row) for row in got] == [["x", "y", "z"]] * len(texts)
    np.testing.assert_allclose([list(row.values()) for row in got], logits.numpy(), atol=1e-5)
    lines = tmp_path / "in.txt"
    lines.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", str(tmp_path), str(lines), "-o", str(out)]) == 0
    written = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [list(r["scores"]) for r in written] == [list(row) for row in got]
    np.testing.assert_allclose([list(r["scores"].values()) for r in written],
                               [list(row.values()) for row in got], atol=1e-5)  # fmt: skip


def test_errors_name_the_input_by_its_place_in_the_whole_list(tok: Any, tmp_path: Path) -> None:
    """Past the first batch, a bad input is named by its index in the caller's list (the
    batch's encoder knows only its own), and as the argument it came from."""
    from lexforge.errors import EncodingError
    from lexforge.model import BertForQuestionAnswering

    clf = _saved(BertForSequenceClassification, tok, tmp_path / "clf", labels=("a", "b"))
    with pytest.raises(EncodingError, match=r"^texts\[5\] holds a lone surrogate"):
        clf.classify(["a"] * 5 + ["a\ud800b"], batch_size=2)
    with pytest.raises(EncodingError, match=r"^pairs\[3\] holds a lone surrogate"):
        clf.classify(["a"] * 4, ["b", "b", "b", "\udcff"], batch_size=2)
    qa = _saved(BertForQuestionAnswering, tok, tmp_path / "qa", max_position_embeddings=64)
    questions = ["a"] * 5 + ["Who visited New York City in May"]
    with pytest.raises(ConfigError, match=r"^questions\[5\] with contexts\[5\] does not fit"):
        qa.answer(questions, [TEXTS[0] * 3] * 6, max_length=16, stride=9, batch_size=2)
    with pytest.raises(EncodingError, match=r"^contexts\[2\] holds a lone surrogate"):
        qa.answer(["a"] * 3, ["b", "b", "b\ud800"])
    with pytest.raises(ConfigError, match=r"^questions\[1\] is blank"):
        qa.answer(["a", " "], ["b", "c"])
    # a context whose every character the tokenizer drops has no span to give
    with pytest.raises(ConfigError, match=r"^contexts\[3\] has no token"):
        qa.answer(["Who?"] * 4, [TEXTS[4]] * 3 + ["\u200b\u0301"], batch_size=2)
    # several: the first in the given order, though pairs are read longest first
    with pytest.raises(ConfigError, match=r"^contexts\[1\] has no token"):
        qa.answer(["Who?"] * 4, [TEXTS[4], "\u200b", TEXTS[0], "\u200b" * 9], batch_size=1)
    # a NumPy number is a number
    assert qa.answer(["Who?"], [TEXTS[4]], null_threshold=np.float32(0.5)) == qa.answer(
        ["Who?"], [TEXTS[4]], null_threshold=0.5
    )
    one = _saved(BertForSequenceClassification, tok, tmp_path / "one", labels=("a", "b"),
                 type_vocab_size=1)  # fmt: skip
    with pytest.raises(ConfigError, match=r"type_vocab_size=1: one segment, so it reads no"):
        one.classify(["a"], ["b"])
    # the module's functions given another head: named, not an AttributeError from inside
    from lexforge.model import predict

    with pytest.raises(ConfigError, match=r"^classify\(\) needs a BertForSequence.*answer\(\)"):
        predict.classify(qa, ["a"])
    with pytest.raises(ConfigError, match=r"^answer\(\) needs a BertForQuestion.*classify\(\)"):
        predict.answer(clf, ["a"], ["b"])
    with pytest.raises(ConfigError, match=r"^tag\(\) needs a BertForToken.*got a BertModel"):
        predict.tag(lf.model.BertModel(clf.config), ["a b"])


def test_lexforge_predict_refuses_before_the_model_runs_and_writes_strict_json(
    tok: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o`` naming the input, or a path through a file, is refused before the model runs
    (a missing folder is made); a NaN score (a diverged checkpoint) is an error naming the
    line, never ``NaN`` in the output; a checkpoint whose config.json names no
    architecture is told by its head; QA's options reach the model; options of another
    kind of model are refused."""
    import json

    from safetensors.torch import save_file

    from lexforge.cli import main
    from lexforge.model import BertForQuestionAnswering
    from weights_io import load_file  # (a copy: the file is rewritten below)

    lines = tmp_path / "in.txt"
    lines.write_text("hello\nworld\n", encoding="utf-8")
    clf = _saved(BertForSequenceClassification, tok, tmp_path / "clf", labels=("a", "b"))
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "clf"), str(lines), "-o", str(lines)]) == 1
    assert "would replace the input" in capsys.readouterr().err
    assert lines.read_text(encoding="utf-8") == "hello\nworld\n"
    # a folder that does not exist yet is made (as train-tokenizer and finetune do)
    made = tmp_path / "nowhere" / "deeper" / "out.jsonl"
    assert main(["predict", str(tmp_path / "clf"), str(lines), "-o", str(made)]) == 0
    assert [json.loads(x)["text"] for x in made.read_text(encoding="utf-8").splitlines()] == [
        "hello", "world"]  # fmt: skip
    assert main(["predict", str(tmp_path / "clf"), str(lines), "-o",
                 str(lines / "out.jsonl")]) == 1  # fmt: skip
    assert f"{lines} is a file, not a directory" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "clf"), str(lines), "--stride", "4"]) == 1
    assert "--stride is for QA models" in capsys.readouterr().err
    # no architectures in config.json: the head's weights say it is a classifier
    config = json.loads((tmp_path / "clf" / "config.json").read_text(encoding="utf-8"))
    del config["architectures"]
    (tmp_path / "clf" / "config.json").write_text(json.dumps(config), encoding="utf-8")
    assert main(["predict", str(tmp_path / "clf"), str(lines)]) == 0
    got = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    want = clf.classify(["hello", "world"])
    assert [r["label"] for r in got] == [label for label, _ in want]
    np.testing.assert_allclose([r["score"] for r in got], [p for _, p in want], atol=1e-6)
    # NaN weights: the warning shown, and an error instead of invalid JSON
    weights = tmp_path / "clf" / "model.safetensors"
    state = load_file(weights)
    state["classifier.weight"][0, 0] = float("nan")
    save_file(state, weights, metadata={"format": "pt"})
    capsys.readouterr()
    with pytest.warns(UserWarning, match="NaN or infinite values"):  # not filtered away
        assert main(["predict", str(tmp_path / "clf"), str(lines)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{lines}:1: the model's scores are not finite" in captured.err
    # QA: --null-threshold, --max-length and --stride reach answer; stdin is no records file
    qa = _saved(BertForQuestionAnswering, tok, tmp_path / "qa", max_position_embeddings=64)
    records = tmp_path / "qa.jsonl"
    pairs = [("Who visited?", " ".join([TEXTS[4]] * 4)), ("Where?", TEXTS[2])]
    records.write_text("".join(json.dumps({"question": q, "context": c}) + "\n"
                               for q, c in pairs))  # fmt: skip
    for flags, options in (
        (["--null-threshold=-1e9"], {"null_threshold": -1e9}),
        (["--max-length", "16", "--stride", "3"], {"max_length": 16, "stride": 3}),
    ):
        capsys.readouterr()
        assert main(["predict", str(tmp_path / "qa"), str(records), *flags]) == 0
        answers = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        want = qa.answer([q for q, _ in pairs], [c for _, c in pairs], **options)
        assert [(a["answer"], a["start"]) for a in answers] == [(t, s) for t, s, _ in want]
    assert answers[0]["answer"] and answers != [{"answer": "", "start": -1}] * 2
    assert main(["predict", str(tmp_path / "qa"), "-"]) == 1
    assert "not lines of stdin" in capsys.readouterr().err
    # a bad --max-length is named by its flag (it was the API's max_length)
    assert main(["predict", str(tmp_path / "qa"), str(records), "--max-length", "0"]) == 1
    assert "--max-length must be at least 1, got 0" in capsys.readouterr().err


def test_a_nameless_tagger_with_a_pooler_is_a_tagger_by_its_tags(
    tok: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Older transformers saved taggers with a pooler, and older configs name no
    architecture: ``lexforge predict`` took such a tagger for a sentence classifier. Its
    labels (``O``, ``B-X``) say what it is; names that are not tags leave it a classifier."""
    import json

    from safetensors.torch import save_file

    from lexforge.cli import main
    from weights_io import load_file  # (a copy: the file is rewritten below)

    lines = tmp_path / "in.txt"
    lines.write_text("John Smith visited New York\nParis is the capital\n", encoding="utf-8")
    folder = tmp_path / "tag"
    tagger = _saved(BertForTokenClassification, tok, folder, labels=("O", "B-X", "I-X"))
    pooler = BertForSequenceClassification(tagger.config).bert.pooler.state_dict()
    state = load_file(folder / "model.safetensors")
    state.update({f"bert.pooler.{k}": v for k, v in pooler.items()})
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((folder / "config.json").read_text())
    config.pop("architectures")
    (folder / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["predict", str(folder), str(lines)]) == 0
    got = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    want = tagger.tag(lines.read_text(encoding="utf-8").splitlines())
    assert [list(zip(r["words"], r["tags"], strict=True)) for r in got] == [list(s) for s in want]
    # the same weights with labels that are not tags: a sentence classifier, as before
    config["id2label"] = {"0": "neg", "1": "neutral", "2": "pos"}
    config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    (folder / "config.json").write_text(json.dumps(config))
    assert main(["predict", str(folder), str(lines)]) == 0
    assert all("label" in json.loads(x) for x in capsys.readouterr().out.splitlines())
    from lexforge.model.hf_read import is_tagging

    assert is_tagging(("O", "B-PER", "I-PER", "E-LOC", "S-LOC"))
    assert not is_tagging(("O",)) and not is_tagging(("neg", "pos")) and not is_tagging(())
    assert not is_tagging(("B-", "O"))


def test_lexforge_predict_reads_a_conll_file_as_its_sentences_words(
    tok: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tagger's test set in CoNLL was read a line at a time: each ``John B-PER`` a
    sentence of two words (the gold tag tagged as a word), each blank line an empty one.
    Its sentences are read as fine-tuning reads them, tags unread (and none needed); a
    classifier refuses the file by name."""
    import json

    from lexforge.cli import main

    tagger = _saved(BertForTokenClassification, tok, tmp_path / "tag", labels=("O", "B-X"))
    sentences = [["John", "Smith", "visited", "New", "York"], ["Paris", "is", "nice"], ["x"]]
    tagged = tmp_path / "test.conll"
    tagged.write_text(
        "-DOCSTART- O\n\n"
        + "\n\n".join("\n".join(f"{w} NNP B-X" for w in s) for s in sentences)
        + "\n",
        encoding="utf-8",
    )
    words = tmp_path / "words.bio"  # a word per line, no tags
    words.write_text("\n\n".join("\n".join(s) for s in sentences) + "\n\n\n", encoding="utf-8")
    lines = tmp_path / "lines.txt"  # (.txt stays a text per line)
    lines.write_text("Paris is nice\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", str(tmp_path / "tag"), str(tagged), str(words), str(lines),
                 "-o", str(out)]) == 0  # fmt: skip
    got = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    want = tagger.tag([*sentences, *sentences, "Paris is nice"])
    assert [list(zip(r["words"], r["tags"], strict=True)) for r in got] == [list(s) for s in want]
    assert [r["words"] for r in got[:3]] == sentences
    clf = tmp_path / "clf"
    _saved(BertForSequenceClassification, tok, clf, labels=("neg", "pos"))
    capsys.readouterr()
    assert main(["predict", str(clf), str(tagged)]) == 1
    assert f"{tagged} is CoNLL (a word per line" in capsys.readouterr().err


def test_lexforge_predict_refuses_conll_columns_named_txt(
    tok: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CoNLL test set named .txt (seqeval's tests/data/ground_truth.txt, CoNLL-2003's
    train.txt), which fine-tuning reads as CoNLL, was tagged a line at a time by predict:
    each 'word POS tag' line a sentence of its columns, 1000 outputs for 40 sentences.
    It is refused, naming the .conll name that reads it; text lines stay texts."""
    import json

    from lexforge.cli import main

    _saved(BertForTokenClassification, tok, tmp_path / "tag", labels=("O", "B-X"))
    sentences = [["John", "Smith", "visited", "York"], ["Paris", "is", "nice"]]
    conll = "\n\n".join("\n".join(f"{w} NNP B-NP O" for w in s) for s in sentences) + "\n"
    tagged = tmp_path / "ground_truth.txt"
    tagged.write_text(conll, encoding="utf-8")
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "tag"), str(tagged)]) == 1
    assert "ground_truth.txt holds CoNLL columns" in (err := capsys.readouterr().err)
    assert "name it ground_truth.conll" in err
    renamed = tmp_path / "ground_truth.conll"
    renamed.write_text(conll, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["predict", str(tmp_path / "tag"), str(renamed), "-o", str(out)]) == 0
    got = [json.loads(x)["words"] for x in out.read_text(encoding="utf-8").splitlines()]
    assert got == sentences
    lines = tmp_path / "lines.txt"  # texts of equal length, a blank line: still texts
    lines.write_text("Paris is nice\n\nRome is old\nOslo is cold\n", encoding="utf-8")
    assert main(["predict", str(tmp_path / "tag"), str(lines), "-o", str(out)]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 4


def test_lexforge_predict_refuses_plain_text_beside_pairs(
    tok: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--pair-column`` with a plain text file beside a records file scored each of the
    file's lines as its own pair (exit 0, nothing said); alone, the plain file was refused.
    Now both are refused before the model runs, and the records file alone is the API's
    ``classify(texts, pairs)``."""
    import json

    from lexforge.cli import main

    clf = _saved(BertForSequenceClassification, tok, tmp_path / "clf", labels=("a", "b", "c"))
    plain = tmp_path / "a.txt"
    plain.write_text("First line\nthird line\n", encoding="utf-8")
    records = tmp_path / "pairs.csv"
    records.write_text("text,pair\nplain,p2\nParis is nice,Dreadful acting\n", encoding="utf-8")
    capsys.readouterr()
    for files in ([str(plain), str(records)], [str(records), str(plain)], [str(records), "-"]):
        assert main(["predict", str(tmp_path / "clf"), *files, "--pair-column", "pair"]) == 1
        err = capsys.readouterr().err
        name = "standard input" if "-" in files else str(plain)
        assert "--pair-column='pair' reads each text's pair from records files" in err
        assert f"but {name} is plain text" in err
    assert main(["predict", str(tmp_path / "clf"), str(plain), "--pair-column", "pair"]) == 1
    assert "applies to records files" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "clf"), str(records), "--pair-column", "pair"]) == 0
    got = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    want = clf.classify(["plain", "Paris is nice"], ["p2", "Dreadful acting"])
    assert [r["label"] for r in got] == [label for label, _ in want]
    np.testing.assert_allclose([r["score"] for r in got], [p for _, p in want], atol=1e-6)
