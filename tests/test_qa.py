"""``lf.finetune(..., task="qa")``: doc-stride windows equal HF tokenizers' (the oracle);
answers map to and from pieces through character offsets in whichever window holds
them; SQuAD metrics by hand; a small encoder learns a synthetic extraction task over
several windows per context; bad data fails clearly."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tokenizers = pytest.importorskip("tokenizers")

import lexforge as lf  # noqa: E402
from lexforge import datasets  # noqa: E402
from lexforge.errors import CheckpointError, ConfigError  # noqa: E402
from lexforge.model import BertConfig, BertForTokenClassification, BertModel  # noqa: E402
from lexforge.train import QAExample, finetune, read_qa, squad_metrics  # noqa: E402
from lexforge.train.qa import (  # noqa: E402
    _normalize,
    best_answers,
    best_threshold,
    cut_questions,
    null_scores,
    query_limit,
    unheld_answers,
    window_targets,
    windows,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tok_path() -> Path:
    return Path(datasets.files("bert-base-uncased")["tokenizer.json"])


def _examples(text: str, n: int, seed: int) -> list[QAExample]:
    """Contexts cut from real text; answers are runs of 1-4 whitespace-separated words."""
    rng = random.Random(seed)
    words = text.split()
    out = []
    for i in range(n):
        at = rng.randrange(0, len(words) - 120)
        context_words = words[at : at + rng.randrange(20, 110)]
        first = rng.randrange(0, len(context_words))
        answer_words = context_words[first : first + rng.randrange(1, 5)]
        start = len(" ".join(context_words[:first])) + (1 if first else 0)
        context = " ".join(context_words)
        answer = " ".join(answer_words)
        assert context[start : start + len(answer)] == answer
        out.append(QAExample("what is the answer ?", context, ((answer, start),), str(i)))
    return out


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_windows_match_hf_and_answers_round_trip(
    kind: str, tok_path: Path, tiny_bpe_checkpoint: Path, wiki_text: str
) -> None:
    """Both kinds of tokenizer: a byte-level BPE's pieces carry the space before a word,
    and its trimmed offsets still put each answer on exactly its characters."""
    if kind == "bpe":
        tok_path = tiny_bpe_checkpoint / "tokenizer.json"
    tok = lf.Tokenizer.from_file(tok_path)
    examples = _examples(wiki_text[:400_000], 250, seed=1)
    # answers that fit in the windows' overlap of 12 tokens (so one window holds each whole)
    sizes = tok.encode_batch([e.answers[0][0] for e in examples], add_special_tokens=False)
    examples = [e for e, ids in zip(examples, sizes, strict=True) if len(ids) <= 12][:200]
    assert len(examples) == 200
    w = windows(tok, examples, max_length=48, stride=12)
    # the same rows as HF tokenizers' only_second truncation with a stride
    hf = tokenizers.Tokenizer.from_file(str(tok_path))
    hf.enable_truncation(48, stride=12, strategy="only_second")
    rows = []
    for e in examples:
        enc = hf.encode(e.question, e.context)
        rows += [enc.ids, *[o.ids for o in enc.overflowing]]
    assert len(rows) == len(w.example)
    for row, ids in enumerate(rows):
        assert w.arrays["input_ids"][row, : len(ids)].tolist() == ids
    # every window holding the whole answer points at exactly its characters
    starts, ends = window_targets(w, examples)
    later = 0
    for row, e in enumerate(w.example.tolist()):
        text, first = examples[e].answers[0]
        if starts[row] == 0:
            continue
        later += row != w.rows_of[e][0]
        assert int(w.offsets[row, starts[row], 0]) == first
        assert int(w.offsets[row, ends[row], 1]) == first + len(text)
    assert later > 20  # answers found in second and later windows too
    for e in range(len(examples)):  # each answer is whole in at least one window
        assert any(starts[r] > 0 for r in w.rows_of[e])
    # logits that point at the targets give back every answer, from whichever window
    n, length = w.arrays["input_ids"].shape
    start_logits, end_logits = np.zeros((n, length)), np.zeros((n, length))
    start_logits[np.arange(n), starts] = 10.0
    end_logits[np.arange(n), ends] = 10.0
    found = best_answers(start_logits, end_logits, w, examples)
    assert found == [e.answers[0] for e in examples]
    scores = squad_metrics([t for t, _ in found], examples)
    # SQuAD 1.1's F1 is 0 for an answer with no token left after normalising ("the", ",")
    # even when it matches exactly
    scored = [bool(_normalize(e.answers[0][0])) for e in examples]
    assert scores == {"exact_match": 100.0, "f1": pytest.approx(100 * np.mean(scored)),
                      "n": len(examples), "unanswerable": 0}  # fmt: skip


def test_targets_along_a_long_context_are_transformers_recipes(
    tok_path: Path, wiki_text: str
) -> None:
    """A context of some hundred windows, its answers (whole words) near its start, middle
    and end: each window's targets are what transformers' ``run_qa`` preprocessing makes
    of its offsets (the pieces holding the answer's first and last characters when the
    window's context holds all of it, else [CLS]), and ``unheld_answers`` finds every
    answer held. (A window that holds none of an answer is dismissed before the context
    between them is read, which was a copy of the context for each window.)"""
    tok = lf.Tokenizer.from_file(tok_path)
    context = " ".join(wiki_text[:200_000].split())
    words = list(re.finditer(r"\b[A-Za-z]{5,}\b", context))
    picked = [words[3], words[len(words) // 2], words[-3]]
    examples = [QAExample("what is it?", context, ((m.group(), m.start()),), str(i))
                for i, m in enumerate(picked)]  # fmt: skip
    w = windows(tok, examples, max_length=128, stride=32)
    assert len(w.example) > 3 * 300
    starts, ends = window_targets(w, examples)
    for row, e in enumerate(w.example.tolist()):
        text, first = examples[e].answers[0]
        pieces = np.flatnonzero(w.in_context[row])
        spans = w.offsets[row]
        if not (spans[pieces[0], 0] <= first and spans[pieces[-1], 1] >= first + len(text)):
            want = (0, 0)  # (transformers' recipe: the answer is not all in this window)
        else:
            want = (int(pieces[spans[pieces, 0] <= first][-1]),
                    int(pieces[spans[pieces, 1] >= first + len(text)][0]))  # fmt: skip
        assert (int(starts[row]), int(ends[row])) == want, row
    assert all(starts[w.rows_of[e]].any() for e in range(len(examples)))
    assert unheld_answers(w, examples) == unheld_answers(w, examples, starts) == []


def test_answers_ending_in_characters_no_piece_holds(tok_path: Path) -> None:
    """An uncased BERT strips the accent of a decomposed "José" (e + U+0301): no piece
    holds the mark, nor a trailing space. Such an answer at the end of the context is
    still a target (not [CLS]), and the answer given back keeps its accent."""
    tok = lf.Tokenizer.from_file(tok_path)
    jose = "Jose\u0301"
    examples = [
        QAExample("who scored ?", f"The winning goal was scored by {jose}", ((jose, 31),), "0"),
        QAExample("who scored ?", f"{jose} scored the winning goal", ((jose, 0),), "1"),
        QAExample("where ?", "The match was played in Paris ", (("Paris ", 24),), "2"),
    ]
    for e in examples:
        text, first = e.answers[0]
        assert e.context[first : first + len(text)] == text
    w = windows(tok, examples, max_length=48, stride=12)
    starts, ends = window_targets(w, examples)
    assert (starts > 0).all() and (ends >= starts).all()
    n, length = w.arrays["input_ids"].shape
    start_logits, end_logits = np.zeros((n, length)), np.zeros((n, length))
    start_logits[np.arange(n), starts] = 10.0
    end_logits[np.arange(n), ends] = 10.0
    found = best_answers(start_logits, end_logits, w, examples)
    assert found == [(jose, 31), (jose, 0), ("Paris", 24)]
    assert squad_metrics([t for t, _ in found], examples)["exact_match"] == 100.0


def test_a_mark_that_is_a_piece_of_its_own_is_not_taken_into_an_answer() -> None:
    """A Devanagari vowel sign (category Mc, kept by accent stripping) after a CJK
    character is a piece of its own ([UNK] in bert-base-chinese): an answer ending at the
    character does not run over it, as transformers' post-processing reads the offsets;
    a mark no piece holds (a stripped accent) still joins the character before it."""
    tok = lf.Tokenizer.from_file(datasets.files("bert-base-chinese")["vocab.txt"])
    examples = [QAExample("哪里", "京\u093e首都", (("京", 0),), "0"),
                QAExample("哪里", "京京\u093f\u093f上上", (("京京", 0),), "1")]  # fmt: skip
    w = windows(tok, examples, max_length=32, stride=8)
    starts, ends = window_targets(w, examples)
    n, length = w.arrays["input_ids"].shape
    start_logits, end_logits = np.zeros((n, length)), np.zeros((n, length))
    start_logits[np.arange(n), starts] = 10.0
    end_logits[np.arange(n), ends] = 10.0
    # the oracle: the characters the chosen pieces' offsets cover
    offsets = [w.offsets[i, ends[i], 1] for i in range(n)]
    assert [e.context[: int(b)] for e, b in zip(examples, offsets, strict=True)] == ["京", "京京"]
    assert best_answers(start_logits, end_logits, w, examples) == [("京", 0), ("京京", 0)]


def test_squad_metrics_by_hand() -> None:
    ex = [
        QAExample("q", "c", (("the Eiffel Tower", 0), ("Eiffel tower", 0))),
        QAExample("q", "c", (("Paris, France", 0),)),
        QAExample("q", "c", (("1889", 0),)),
    ]
    got = squad_metrics(["Eiffel Tower!", "Paris", "in 1887", "x"], [*ex, QAExample("q", "c")])
    # 1: exact after normalisation; 2: F1 = 2*(1*0.5)/(1.5) = 2/3; 3: no overlap; 4: no gold
    assert got["exact_match"] == pytest.approx(100 / 3)
    assert got["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)
    assert (got["n"], got["unanswerable"]) == (3, 1)


def test_squad2_metrics_by_hand() -> None:
    ex = [QAExample("q", "c", (("Paris, France", 0),)), QAExample("q", "c"), QAExample("q", "c")]
    got = squad_metrics(["Paris", "", "Lyon"], ex, unanswerable=True)
    # 1: F1 2/3, not exact; 2: no answer, rightly empty; 3: no answer, wrongly answered
    assert got["exact_match"] == pytest.approx(100 / 3)
    assert got["f1"] == pytest.approx(100 * (2 / 3 + 1) / 3)
    assert got["has_answer_f1"] == pytest.approx(200 / 3) and got["has_answer_exact_match"] == 0
    assert got["no_answer_accuracy"] == pytest.approx(50.0)
    assert (got["n"], got["unanswerable"]) == (3, 2)
    # an answerable example given no answer scores 0
    assert squad_metrics([""], ex[:1], unanswerable=True)["f1"] == 0
    # a split without one kind of question has no score for it (SQuAD 2.0's script leaves
    # HasAns_/NoAns_ out), not a 0 for questions it does not hold
    assert "no_answer_accuracy" not in squad_metrics(["Paris"], ex[:1], unanswerable=True)
    only_none = squad_metrics([""], ex[1:2], unanswerable=True)
    assert only_none["no_answer_accuracy"] == 100 and "has_answer_f1" not in only_none
    # predictions by id, as predictions.json and SQuAD's script hold them (the dict was
    # iterated as its keys: the ids scored as answers); a bare gold text is its text
    # (unpacked as (text, start), "42" was "4")
    named = [QAExample("q", "c", (("Paris", 0),), id="a"), QAExample("q", "c", id="b")]
    by_id = squad_metrics({"b": "", "a": "Paris"}, named, unanswerable=True)
    assert by_id == squad_metrics(["Paris", ""], named, unanswerable=True)
    assert by_id["exact_match"] == 100
    with pytest.raises(ConfigError, match="no prediction for the example with id 'b'"):
        squad_metrics({"a": "Paris"}, named)
    assert squad_metrics(["42"], [QAExample("q", "42", ("42",))])["exact_match"] == 100  # type: ignore[arg-type]


def test_golds_that_normalize_to_nothing_score_as_the_official_scripts() -> None:
    # SQuAD 2.0's script drops gold answers that normalize to "" (here "the"), and an
    # example left without one is unanswerable; 1.1's F1 is 0 without a shared token
    ex = [QAExample("q", "c", (("the", 0), ("Paris", 0)))]
    v2 = squad_metrics([""], ex, unanswerable=True)
    assert (v2["exact_match"], v2["f1"]) == (0.0, 0.0)
    assert squad_metrics(["Paris"], ex, unanswerable=True)["f1"] == 100.0
    only = [QAExample("q", "c", (("The.", 0),))]
    assert squad_metrics([""], only, unanswerable=True)["f1"] == 100.0
    v1 = squad_metrics(["a"], only)
    assert (v1["exact_match"], v1["f1"]) == (100.0, 0.0)


def test_null_threshold_is_the_best_by_brute_force() -> None:
    # an example with no valid span (+inf) ties "nobody abstains" with "it abstains":
    # the threshold must still answer every example with a span
    t = best_threshold([np.inf, 1.4, -2.0], [0.0, 0.7, 1.0], [0.0, 0.0, 0.0])
    assert 1.4 <= t < np.inf
    # adjacent floats (the midpoint rounds onto the upper one) and a diff past 2**53 (where
    # d - 1 == d): the threshold still splits them as the best total asks
    close = [1.0, np.nextafter(1.0, 0)]
    t = best_threshold(close, [0.0, 1.0], [1.0, 0.0])
    assert close[0] > t >= close[1]
    assert best_threshold([1e17], [0.0], [1.0]) < 1e17
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 40, 3, 5, 9):
        diffs = np.round(rng.normal(size=n), 1)  # rounded: ties
        if n in (3, 5, 9):  # examples with no valid span: +inf, and nothing to give
            diffs[rng.choice(n, size=n // 3 + 1, replace=False)] = np.inf
        span_f1 = rng.choice([0.0, 0.5, 1.0], size=n)
        null_f1 = rng.choice([0.0, 1.0], size=n)

        span_f1 = np.where(np.isinf(diffs), 0.0, span_f1)
        totals = {t: float(np.where(diffs > t, null_f1, span_f1).sum())
                  for t in [-np.inf, np.inf, *diffs, *(diffs - 1e-3), *(diffs + 1e-3)]}  # fmt: skip
        t = best_threshold(diffs, span_f1, null_f1)
        assert float(np.where(diffs > t, null_f1, span_f1).sum()) == pytest.approx(
            max(totals.values())
        )


def test_null_scores_take_the_lowest_window() -> None:
    w = windows(
        lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"]),
        [QAExample("q?", "a b c d e f g h i j k l m n o p"), QAExample("q?", "x y")],
        max_length=10, stride=2,
    )  # fmt: skip
    rows = len(w.example)
    assert w.example.tolist().count(0) >= 2
    start = np.arange(rows * 10, dtype=float).reshape(rows, 10)
    end = np.ones((rows, 10))
    got = null_scores(start, end, w, 2)
    for e in (0, 1):
        assert got[e] == min(start[r, 0] + 1 for r in w.rows_of[e])


FILLER = [
    "we", "walked", "along", "the", "river", "and", "talked", "about", "books", "music",
    "and", "the", "weather",
]  # fmt: skip
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]


def _synthetic(n: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = rng.choices(FILLER, k=rng.randrange(20, 45))
        at = rng.randrange(0, len(words))
        name = rng.choice(NAMES)
        words[at:at] = ["the", "winner", "was", name]
        context = " ".join(words)
        start = context.index(f"the winner was {name}") + len("the winner was ")
        answers = {"text": [name], "answer_start": [start]}
        rows.append({"question": "who was the winner", "context": context,
                     "answers": answers, "id": f"s{i}"})  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint


def test_qa_learns_across_windows(checkpoint: Path, tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps(r) for r in _synthetic(384, 1)), encoding="utf-8")
    squad = {"data": [{"paragraphs": [
        {"context": r["context"], "qas": [{"question": r["question"], "id": r["id"],
         "answers": [{"text": r["answers"]["text"][0],  # type: ignore[index]
                      "answer_start": r["answers"]["answer_start"][0]}]}]}  # type: ignore[index]
        for r in _synthetic(64, 3)]}]}  # fmt: skip
    test = tmp_path / "test.json"
    test.write_text(json.dumps(squad), encoding="utf-8")
    out = tmp_path / "run"
    result = finetune(
        checkpoint, train, validation=_synthetic(64, 2), test=test, out_dir=out, task="qa",
        epochs=8, batch_size=32, lr=3e-3, max_length=40, progress=False,
    )  # fmt: skip
    assert result.test is not None
    assert result.test["exact_match"] >= 90, result.history
    report = json.loads((out / "metrics.json").read_text())
    assert report["task"] == "qa" and report["test"]["f1"] == result.test["f1"]
    assert (report["max_length"], report["stride"]) == (40, 20)  # half the window, as ever
    assert report["questions_cut"] == {"train": 0, "validation": 0, "test": 0}
    assert report["answers_cut"] == {"train": 0, "validation": 0, "test": 0}
    predictions = json.loads((out / "predictions.json").read_text())
    assert len(predictions) == 64 and set(predictions.values()) <= set(NAMES) | {""}
    assert (out / "best" / "config.json").is_file()
    # the command line prints QA scores for both splits
    done = subprocess.run(
        [sys.executable, "-m", "lexforge.cli", "finetune", str(checkpoint), str(train),
         "--task", "qa", "--validation", str(test), "--test", str(test), "--max-length", "40",
         "--max-steps", "1", "--quiet", "--out", str(tmp_path / "cli")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "validation: exact match" in done.stdout and "test: exact match" in done.stdout
    # and with no split to score: the model, no scores, no predictions
    bare = subprocess.run(
        [sys.executable, "-m", "lexforge.cli", "finetune", str(checkpoint), str(train),
         "--task", "qa", "--max-length", "40", "--max-steps", "1", "--quiet",
         "--out", str(tmp_path / "bare")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bare.returncode == 0, bare.stderr
    assert "exact match" not in bare.stdout and "best model:" in bare.stdout
    assert (tmp_path / "bare" / "best" / "config.json").is_file()
    assert not (tmp_path / "bare" / "predictions.json").exists()
    # two short runs, their greedy soup scored by F1 on validation; no predictions in the runs
    soup = finetune(checkpoint, train, validation=_synthetic(64, 2), out_dir=tmp_path / "soup",
                    task="qa", epochs=1, batch_size=32, lr=3e-3, max_length=40, runs=2,
                    progress=False)  # fmt: skip
    report = json.loads((tmp_path / "soup" / "metrics.json").read_text())
    assert [r["run"] for r in report["runs"]] == [1, 2] and report["soup"] == list(soup.soup)
    assert all("predictions" not in r["validation"] for r in report["runs"])
    assert soup.validation["f1"] >= max(r["validation"]["f1"] for r in report["runs"])


def test_qa_learns_with_a_bpe_tokenizer(tiny_bpe_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = finetune(
        tiny_bpe_checkpoint, _synthetic(384, 1), validation=_synthetic(64, 2),
        test=_synthetic(64, 3), out_dir=out, task="qa", epochs=8, batch_size=32, lr=3e-3,
        max_length=40, progress=False,
    )  # fmt: skip
    assert result.test is not None and result.test["exact_match"] >= 90, result.history
    assert (out / "best" / "tokenizer.json").is_file()
    # a tokenizer that gives a pair's second text type id 0 (RoBERTa's) cannot tell the
    # context: refused
    doc = json.loads((tiny_bpe_checkpoint / "tokenizer.json").read_text())
    for piece in doc["post_processor"]["processors"][-1]["pair"]:
        next(iter(piece.values()))["type_id"] = 0
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps(doc))
    roberta = lf.Tokenizer.from_file(flat)
    with pytest.raises(ConfigError, match="type id 1"):
        finetune(tiny_bpe_checkpoint, _synthetic(8, 1), task="qa", tokenizer=roberta,
                 max_length=40, progress=False)  # fmt: skip


def _squad2(n: int, seed: int) -> list[dict[str, object]]:
    """Half the questions have no answer: their contexts name no winner."""
    rows = _synthetic(n, seed)
    for row in rows[::2]:
        answer = row["answers"]["text"][0]  # type: ignore[index]
        row["context"] = str(row["context"]).replace(f"the winner was {answer}", "nobody won")
        row["answers"] = {"text": [], "answer_start": []}
    return rows


def test_qa_learns_unanswerable_questions(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = finetune(
        checkpoint, _squad2(384, 1), validation=_squad2(64, 2), test=_squad2(64, 3),
        out_dir=out, task="qa", epochs=4, batch_size=32, lr=3e-3, max_length=40,
        progress=False,
    )  # fmt: skip
    assert result.test is not None and result.validation is not None
    test = result.test
    assert test["n"] == 64 and test["unanswerable"] == 32
    assert test["no_answer_accuracy"] >= 90 and test["has_answer_exact_match"] >= 85, test
    assert test["exact_match"] >= 85, result.history
    predictions = test["predictions"]
    assert all(predictions[f"s{i}"] == "" for i in range(0, 64, 2) if predictions[f"s{i}"] == "")
    assert sum(predictions[f"s{i}"] == "" for i in range(0, 64, 2)) >= 29
    # the threshold is the validation split's, and the test split used it
    assert test["null_threshold"] == result.validation["null_threshold"]
    report = json.loads((out / "metrics.json").read_text())
    assert report["test"]["no_answer_accuracy"] == test["no_answer_accuracy"]
    # a threshold given is used as it is; a large one never leaves a question unanswered
    fixed = lf.train.finetune_qa(
        checkpoint, _squad2(64, 1), test=_squad2(32, 3), max_length=40, max_steps=1,
        null_threshold=1e6, progress=False,
    )  # fmt: skip
    assert fixed.test is not None and fixed.test["no_answer_accuracy"] == 0
    assert fixed.test["null_threshold"] == 1e6
    # the command line turns SQuAD 2.0 on by itself, and prints its scores
    data = tmp_path / "squad2.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in _squad2(16, 5)), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "lexforge.cli", "finetune", str(checkpoint), str(data),
         "--task", "qa", "--validation", str(data), "--max-length", "40", "--max-steps", "1",
         "--quiet", "--out", str(tmp_path / "cli")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "validation: exact match" in done.stdout and "no-answer accuracy" in done.stdout
    # --stride reaches the windows: one of max_length is refused by them
    done = subprocess.run(
        [sys.executable, "-m", "lexforge.cli", "finetune", str(checkpoint), str(data),
         "--task", "qa", "--max-length", "40", "--stride", "40", "--max-steps", "1",
         "--quiet", "--out", str(tmp_path / "cli-stride")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode != 0 and "--stride must be a whole number in [0, --max-length)" in (
        done.stderr
    )


def test_bad_qa_data(checkpoint: Path, tmp_path: Path) -> None:
    good = _synthetic(8, 4)
    wrong = [{**good[0], "answers": {"text": ["alice"], "answer_start": [0]}}]
    if good[0]["context"].startswith("alice"):  # type: ignore[union-attr]
        wrong = [{**good[0], "answers": {"text": ["zzz"], "answer_start": [0]}}]
    with pytest.raises(ConfigError, match="does not point at the answer"):
        finetune(checkpoint, wrong, task="qa")
    with pytest.raises(ConfigError, match="no column 'context'"):
        read_qa([{"question": "q", "passage": "p"}])
    dropped = "a \ufffd b"  # an answer no piece can hold: never a target, said so
    with pytest.raises(ConfigError, match="holds only characters a tokenizer drops"):
        read_qa([{"question": "q", "context": dropped,
                  "answers": {"text": ["\ufffd"], "answer_start": [2]}}])  # fmt: skip
    with pytest.raises(ConfigError, match="no training example has an answer"):
        finetune(checkpoint, [{"question": "q", "context": "c", "answers": []}], task="qa")
    with pytest.raises(ConfigError, match=r"has no answer.*unanswerable=True"):
        lf.train.finetune_qa(checkpoint, _squad2(4, 1), unanswerable=False)
    with pytest.raises(ConfigError, match="null_threshold"):
        lf.train.finetune_qa(checkpoint, good, null_threshold=float("nan"))
    with pytest.raises(ConfigError, match="stride"):
        lf.train.finetune_qa(checkpoint, good, max_length=32, stride=32)
    with pytest.raises(ConfigError, match=r"stride=8: only task='qa' takes it"):
        finetune(checkpoint, [{"text": "a", "label": "x"}], stride=8)
    # a threshold for SQuAD 1.1 data (every example answered) has nothing to decide
    with pytest.warns(UserWarning, match=r"null_threshold=0\.5 is not used: every training"):
        lf.train.finetune_qa(checkpoint, good, null_threshold=0.5, max_steps=1, progress=False)
    with pytest.raises(ConfigError, match="validation split is empty"):
        finetune(checkpoint, good, validation=[], task="qa")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigError, match="SQuAD's layout"):
        read_qa(bad)
    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    config = BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_layers=1, num_heads=2,
        intermediate_size=64, max_position_embeddings=64, labels=("O", "B-x"),
    )  # fmt: skip
    BertForTokenClassification(config).save_pretrained(tmp_path / "tagger", tokenizer=tok)
    with pytest.raises(CheckpointError, match="BertForTokenClassification"):
        finetune(tmp_path / "tagger", good, task="qa")
    one = config.replace(type_vocab_size=1)
    BertModel(one).save_pretrained(tmp_path / "one-segment", tokenizer=tok)
    with pytest.raises(ConfigError, match="two segment types; the model has type_vocab_size 1"):
        finetune(tmp_path / "one-segment", good, task="qa", max_steps=1, progress=False)
    pairs = [{"a": "the cat", "b": "a cat", "label": "same"}, {"a": "x", "b": "y", "label": "no"}]
    with pytest.raises(ConfigError, match="text pairs need two segment types"):
        finetune(tmp_path / "one-segment", pairs, text_column="a", pair_column="b", max_steps=1,
                 progress=False)  # fmt: skip


def test_a_split_of_unanswerable_questions_alone_is_refused_under_squad_1_1(
    checkpoint: Path,
) -> None:
    """SQuAD 1.1 scoring (every training example answered) leaves unanswerable questions
    out: a validation split of nothing else scored n=0 every epoch, and the first epoch
    was kept in silence. It is refused, as an empty split is, with the fix; SQuAD 2.0
    scores it."""
    good = _synthetic(8, 4)
    none = [{**r, "answers": {"text": [], "answer_start": []}} for r in _synthetic(4, 5)]
    for split in ("validation", "test"):
        held_out: dict[str, Any] = {split: none}
        with pytest.raises(ConfigError, match=rf"the {split} split holds only questions "
                           r"without an answer \(4\).*unanswerable=True"):  # fmt: skip
            finetune(checkpoint, good, task="qa", max_steps=1, progress=False, **held_out)
    scored = lf.train.finetune_qa(checkpoint, good, validation=none, unanswerable=True,
                                  max_steps=1, progress=False)  # fmt: skip
    assert scored.validation["n"] == 4 == scored.validation["unanswerable"]


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return path


def test_answers_column_must_be_there(checkpoint: Path, tmp_path: Path) -> None:
    """A row without the answers column is an error naming the file, the row and the
    column (and a similar one it has); only an empty list or null means "no answer"."""
    rows = _synthetic(4, 6)
    del rows[2]["answers"]
    with pytest.raises(ConfigError, match=r"train\.jsonl: line 3 has no column 'answers'"):
        read_qa(_jsonl(tmp_path / "train.jsonl", rows))  # not a switch to SQuAD 2.0
    renamed = [{("answer" if k == "answers" else k): v for k, v in r.items()}
               for r in _synthetic(3, 7)]  # fmt: skip
    validation = _jsonl(tmp_path / "dev.jsonl", renamed)
    named = r"dev\.jsonl: line 1 has no column 'answers'.*if 'answer' is it, pass "
    with pytest.raises(ConfigError, match=named + r"answers_column='answer' \(--label-column"):
        finetune(checkpoint, _synthetic(4, 6), validation=validation, task="qa", max_steps=1)
    with pytest.raises(ConfigError, match=r"row 0 has no column 'answers'.*answers_column="):
        read_qa([{"question": "q", "context": "c", "gold": []}])
    with pytest.raises(ConfigError, match="answers must be"):  # a dict without its lists
        read_qa([{"question": "q", "context": "c", "answers": {"texts": ["c"]}}])
    # the column named by the option, for files and through finetune's label_column
    assert read_qa(validation, answers_column="answer")[0].answers
    done = finetune(checkpoint, renamed, validation=renamed, task="qa", label_column="answer",
                    max_length=40, max_steps=1, progress=False)  # fmt: skip
    assert done.validation["n"] == 3 and done.validation["unanswerable"] == 0
    # no answer: an empty list, null, or SQuAD's is_impossible without answers
    empty = [{"question": "q", "context": "c", "answers": a}
             for a in ([], None, {"text": [], "answer_start": []})]  # fmt: skip
    assert [e.answers for e in read_qa(empty)] == [(), (), ()]
    # SQuAD 2.0's flag in a flat record (jsonl) says so too; without it the column is due
    lines = tmp_path / "flat.jsonl"
    lines.write_text(json.dumps({"question": "q", "context": "c", "is_impossible": True}))
    assert [e.answers for e in read_qa(lines)] == [()]
    with pytest.raises(ConfigError, match="has no column 'answers'"):
        read_qa([{"question": "q", "context": "c", "is_impossible": False}])
    framed = [{"question": "q", "context": "alpha beta",  # records made with pandas
               "answers": {"text": ["beta"], "answer_start": [np.int64(6)]}}]  # fmt: skip
    (example,) = read_qa(framed)
    assert example.answers == (("beta", 6),) and type(example.answers[0][1]) is int
    qas = [
        {"question": "q0", "id": "a", "answers": [{"text": "Rome", "answer_start": 0}]},
        {"question": "q1", "id": "b", "is_impossible": True},
        {"question": "q2", "id": "c", "is_impossible": False},
    ]
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "Rome is old",
                                                           "qas": qas}]}]}))  # fmt: skip
    with pytest.raises(ConfigError, match=r"paragraph 0, question 2 \(id 'c'\) has no column "):
        read_qa(squad)
    # the flag and the answers must agree (each way, it was read one way silently)
    qas[2]["answers"] = []
    squad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "Rome is old",
                                                           "qas": qas}]}]}))  # fmt: skip
    with pytest.raises(
        ConfigError,
        match=r"question 2 \(id 'c'\): is_impossible is false but "
        "the question has no answer; give its answer or set is_impossible",
    ):
        read_qa(squad)
    qas[2]["is_impossible"] = True
    qas[1]["answers"] = [{"text": "old", "answer_start": 8}]
    squad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "Rome is old",
                                                           "qas": qas}]}]}))  # fmt: skip
    with pytest.raises(
        ConfigError,
        match=r"question 1 \(id 'b'\): is_impossible is true but "
        r"the question has 1 answer\(s\); empty its answers \(SQuAD 2\.0 keeps",
    ):
        read_qa(squad)
    del qas[1]["answers"]
    squad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "Rome is old",
                                                           "qas": qas}]}]}))  # fmt: skip
    assert [e.answers for e in read_qa(squad)] == [(("Rome", 0),), (), ()]
    # an answer the context holds in another Unicode form is told so
    nfd = [{"question": "who", "context": "Jose\u0301 came",
            "answers": {"text": ["Jos\xe9"], "answer_start": [0]}}]  # fmt: skip
    with pytest.raises(ConfigError, match="holds that text in another Unicode form"):
        read_qa(nfd)


def _long_question_rows() -> list[dict[str, object]]:
    context = "Paris is nice. " * 40
    rows: list[dict[str, object]] = [
        {"question": "what is nice", "context": context,
         "answers": {"text": ["Paris"], "answer_start": [15 * k]}}
        for k in range(4)
    ]  # fmt: skip
    rows.append({"question": "why " * 70, "context": context,
                 "answers": {"text": ["Paris"], "answer_start": [0]}})  # fmt: skip
    return rows


def test_long_questions_are_cut(checkpoint: Path, tmp_path: Path) -> None:
    """A question past the query limit is cut (one warning counts them) instead of failing
    the run; the stride comes from the window the model takes; an explicit stride that
    an example cannot keep is an error naming that example."""
    assert [query_limit(n) for n in (384, 128, 64, 40, 5)] == [64, 32, 16, 10, 1]
    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    long = QAExample("what did the unaffable metropolitans say " * 8, "c")
    (cut,), (n,) = cut_questions(tok, [long], 16)
    whole = tok.encode(long.question, add_special_tokens=False)
    assert n == 16 and tok.encode(cut.question, add_special_tokens=False) == whole[:16]
    rows = _long_question_rows()
    # the default max_length (128) on a model of 64 positions: windows of 64, stride 32
    with pytest.warns(UserWarning, match=r"longer than 16 tokens .* 1 of train, 1 of test"):
        result = finetune(checkpoint, rows, test=rows, task="qa", max_steps=1, progress=False,
                          out_dir=tmp_path / "run")  # fmt: skip
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (report["max_length"], report["stride"], report["max_answer_length"]) == (64, 32, 30)
    assert report["questions_cut"] == {"train": 1, "test": 1}
    assert result.test is not None and set(result.test["predictions"]) == {"0", "1", "2", "3", "4"}
    with pytest.raises(ConfigError, match=r"the train split's example 4 \(id '4'\) does not fit.*"
                       r"lower stride \(the default fits every question\) or raise"):  # fmt: skip
        lf.train.finetune_qa(checkpoint, rows, max_length=40, stride=30, progress=False)
    # the model's 64 positions cap a max_length of 128: raising it again would not help
    with pytest.raises(ConfigError, match=r"lower stride \(the default fits every question\); "
                       r"the model's 64 positions are the window, so a larger max_length "
                       "cannot widen it$"):  # fmt: skip
        lf.train.finetune_qa(checkpoint, rows, max_length=128, stride=60, progress=False)
    with pytest.raises(ConfigError, match="no room for a context"):
        lf.train.finetune_qa(checkpoint, rows, max_length=4, progress=False)


def test_squad_json_ids(checkpoint: Path, tmp_path: Path) -> None:
    """Questions without ids are known by their index (one prediction each); an id given
    twice is an error naming it and both places."""
    qas = [{"question": q, "answers": [{"text": "Rome is old", "answer_start": 0}]}
           for q in ("what is old", "what is rome", "how old")]  # fmt: skip
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "Rome is old",
                                                           "qas": qas}]}]}))  # fmt: skip
    assert [e.id for e in read_qa(squad)] == ["0", "1", "2"]
    out = tmp_path / "run"
    finetune(checkpoint, squad, test=squad, task="qa", max_length=40, max_steps=1,
             progress=False, out_dir=out)  # fmt: skip
    predictions = json.loads((out / "predictions.json").read_text())
    assert sorted(predictions) == ["0", "1", "2"]
    qas[2]["id"] = "0"  # the first question's index
    squad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "Rome is old",
                                                           "qas": qas}]}]}))  # fmt: skip
    clash = (
        r"question 2 \(id '0'\) has the id '0', as does article 0, paragraph 0, question 0 "
        r"\(no id: its index 0 stands in\)"
    )
    with pytest.raises(ConfigError, match=clash):
        read_qa(squad)
    rows = _synthetic(3, 8)
    rows[2]["id"] = rows[0]["id"]
    with pytest.raises(ConfigError, match=r"line 3 has the id 's0', as does line 1"):
        read_qa(_jsonl(tmp_path / "twice.jsonl", rows))
    # rows and QAExamples without ids (or with null ones) fall back to their index too
    del rows[0]["id"]
    rows[1]["id"] = None
    assert [e.id for e in read_qa(rows)] == ["0", "1", "s0"]
    assert [e.id for e in read_qa([QAExample("q", "c"), QAExample("q", "c")])] == ["0", "1"]


@pytest.mark.parametrize(
    "option,value",
    [
        ("max_answer_length", 0), ("max_answer_length", -5), ("max_answer_length", None),
        ("max_answer_length", True), ("max_answer_length", 2.0), ("max_answer_length", "30"),
        ("unanswerable", "false"), ("unanswerable", "no"), ("unanswerable", 1),
        ("unanswerable", 0.0), ("null_threshold", "0.5"), ("null_threshold", True),
        ("null_threshold", float("inf")), ("null_threshold", float("nan")),
        ("null_threshold", [0.5]), ("stride", "8"), ("stride", True), ("stride", 2.0),
    ],
)  # fmt: skip
def test_qa_options_are_refused_before_anything_is_read(
    option: str, value: object, tmp_path: Path
) -> None:
    """A bad option is a ConfigError naming it, its value and the fix, raised before the
    data or the model is read (here there is neither: no training run is wasted)."""
    with pytest.raises(
        ConfigError, match=rf"^{option} must be .*got {re.escape(repr(value))}; pass"
    ):
        lf.train.finetune_qa(tmp_path / "no-model", [], **{option: value})  # type: ignore[arg-type]


def test_qa_options_take_numpy_scalars(checkpoint: Path) -> None:
    """NumPy's booleans, integers and floats are taken as Python's (as elsewhere)."""
    rows = _synthetic(8, 4)
    off = lf.train.finetune_qa(
        checkpoint, rows, test=rows, max_length=40, max_steps=1, progress=False,
        unanswerable=np.bool_(False), max_answer_length=np.int64(3),
    )  # fmt: skip
    assert off.test is not None and "no_answer_accuracy" not in off.test  # SQuAD 1.1's
    on = lf.train.finetune_qa(
        checkpoint, rows, test=rows, max_length=40, max_steps=1, progress=False,
        unanswerable=np.bool_(True), null_threshold=np.float64(1e6),
    )  # fmt: skip
    assert on.test is not None and on.test["null_threshold"] == 1e6
    assert type(on.test["null_threshold"]) is float and "has_answer_f1" in on.test
    assert "no_answer_accuracy" not in on.test  # (every test question has an answer)


def _brute_force_spans(
    start: np.ndarray, end: np.ndarray, w: Any, examples: list[QAExample], longest: int
) -> list[tuple[str, int]]:
    """The oracle: every (start, end) pair of context pieces in every window of an example,
    end not before start, at most ``longest`` pieces, text not blank; the best by score,
    its text without surrounding whitespace."""
    out = []
    for e, example in enumerate(examples):
        best, answer = -np.inf, ("", -1)
        for row in w.rows_of[e]:
            context = np.flatnonzero(w.in_context[row])
            for s in context:
                for t in context[(context >= s) & (context < s + longest)]:
                    a, b = int(w.offsets[row, s, 0]), int(w.offsets[row, t, 1])
                    text = example.context[a:b]
                    if text.strip() and start[row, s] + end[row, t] > best:
                        lead = len(text) - len(text.lstrip())
                        best, answer = start[row, s] + end[row, t], (text.strip(), a + lead)
        out.append(answer)
    return out


def test_spans_of_whitespace_pieces_are_no_answer(tiny_bpe_checkpoint: Path) -> None:
    """A byte-level BPE gives a run of spaces pieces with empty (trimmed) offsets: a span
    of them alone maps to "" or to spaces, which is no answer; the next best span is
    taken, and an answer's surrounding whitespace is trimmed. Checked against a brute
    force over every span, on logits that favour those pieces."""
    tok = lf.Tokenizer.from_file(tiny_bpe_checkpoint / "tokenizer.json")
    examples = [
        QAExample("what?", "alpha   beta gamma", (), "0"),
        QAExample("which one?", "one  two   three    four\n\n five", (), "1"),
        QAExample("where?", "in   the    north  of     the  city", (), "2"),
    ]
    w = windows(tok, examples, max_length=32, stride=8)
    blank = w.in_context & (w.offsets[..., 0] == w.offsets[..., 1])
    assert blank.sum() >= 6  # the tokenizer does make such pieces here
    # the audit's case: the best span is one empty piece, then it and the next one
    start = np.where(w.arrays["attention_mask"] == 1, 0.0, -np.inf)
    end = start.copy()
    row, piece = np.argwhere(blank)[0]
    start[row, piece] = end[row, piece] = 5.0
    (text, at), *_ = best_answers(start, end, w, examples[:1])
    assert text.strip() and text == text.strip() and examples[0].context[at:].startswith(text)
    rng = np.random.default_rng(0)
    for longest in (1, 2, 3, 30):
        for _ in range(20):
            start = rng.normal(size=blank.shape) + 3.0 * blank
            end = rng.normal(size=blank.shape) + 3.0 * blank
            got = best_answers(start, end, w, examples, max_answer_length=longest, n_best=64)
            assert got == _brute_force_spans(start, end, w, examples, longest)
            assert all(t.strip() == t != "" for t, _ in got)


@pytest.mark.parametrize("bad", [0, -5, None, True, 2.0])
def test_best_answers_refuses_a_bad_max_answer_length(bad: Any, tok_path: Path) -> None:
    tok = lf.Tokenizer.from_file(tok_path)
    examples = [QAExample("q?", "a b c")]
    w = windows(tok, examples, max_length=16, stride=4)
    logits = np.zeros(w.arrays["input_ids"].shape)
    with pytest.raises(ConfigError, match="max_answer_length must be a whole number of at least"):
        best_answers(logits, logits, w, examples, max_answer_length=bad)
    with pytest.raises(ConfigError, match="n_best must be a whole number of at least"):
        best_answers(logits, logits, w, examples, n_best=bad)


def _held_by_characters(w: Any, examples: list[QAExample]) -> list[int]:
    """The oracle for answers no window holds: a window covers the characters from its
    first context piece's start to its last one's end, and holds an answer it covers."""
    unheld = []
    for e, example in enumerate(examples):
        (text, first), *_ = example.answers
        covered = []
        for row in w.rows_of[e]:
            pieces = np.flatnonzero(w.in_context[row])
            covered.append((w.offsets[row, pieces[0], 0], w.offsets[row, pieces[-1], 1]))
        if not any(a <= first and first + len(text) <= b for a, b in covered):
            unheld.append(e)
    return unheld


def test_answers_no_window_holds_are_counted(tok_path: Path, wiki_text: str) -> None:
    """Answers longer than the windows' overlap may be whole in no window; they are
    found as a character-level check finds them, from the targets and from the offsets."""
    tok = lf.Tokenizer.from_file(tok_path)
    rng = random.Random(5)
    words = wiki_text[:200_000].split()
    examples = []
    for i in range(150):
        at = rng.randrange(0, len(words) - 80)
        context_words = words[at : at + rng.randrange(30, 70)]
        first = rng.randrange(0, len(context_words) - 1)
        answer = " ".join(context_words[first : first + rng.randrange(1, 14)])
        context = " ".join(context_words)
        start = len(" ".join(context_words[:first])) + (1 if first else 0)
        examples.append(QAExample("what is the answer ?", context, ((answer, start),), str(i)))
    w = windows(tok, examples, max_length=32, stride=6)
    starts, _ = window_targets(w, examples)
    expected = _held_by_characters(w, examples)
    assert 10 < len(expected) < 140
    assert unheld_answers(w, examples, starts) == expected
    assert unheld_answers(w, examples) == expected
    # another gold answer that a window holds is enough for scoring, not for training
    # (which reads the first answer)
    e = expected[0]
    word = examples[e].context.split()[0]
    both = dataclasses.replace(examples[e], answers=(*examples[e].answers, (word, 0)))
    w = windows(tok, [both], max_length=32, stride=6)
    assert unheld_answers(w, [both]) == []
    assert unheld_answers(w, [both], window_targets(w, [both])[0]) == [0]


def test_answers_no_window_holds_are_warned_about(checkpoint: Path, tmp_path: Path) -> None:
    """The audit's case: a 14-word answer in 32-token windows that share 16 is trained as
    "no answer"; one warning counts such examples per split and says the fix, and
    metrics.json keeps the counts. With 64-token windows every answer fits."""
    context = " ".join(f"w{i}" for i in range(60))
    long = " ".join(f"w{i}" for i in range(20, 34))
    rows = [
        {"id": "long", "question": "which words?", "context": context,
         "answers": {"text": [long], "answer_start": [context.index(long)]}},
        {"id": "short", "question": "which word?", "context": context,
         "answers": {"text": ["w41"], "answer_start": [context.index("w41")]}},
    ]  # fmt: skip
    out = tmp_path / "run"
    with pytest.warns(
        UserWarning,
        match=r"answers that no 32-token window holds whole: 1 of train, 1 of test\. Training "
        r"teaches such an example no answer \(\[CLS\]\).*stride=16 .*raise max_length",
    ):
        finetune(checkpoint, rows, test=rows, task="qa", max_length=32, max_steps=1,
                 progress=False, out_dir=out)  # fmt: skip
    report = json.loads((out / "metrics.json").read_text())
    assert report["answers_cut"] == {"train": 1, "test": 1} and report["stride"] == 16
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="answers that no")
        finetune(checkpoint, rows, task="qa", max_length=64, max_steps=1, progress=False,
                 out_dir=tmp_path / "wide")  # fmt: skip
    report = json.loads((tmp_path / "wide" / "metrics.json").read_text())
    assert report["answers_cut"] == {"train": 0}


def test_dataframe_ids_read_as_the_records_ids() -> None:
    """A DataFrame's id column with a missing cell holds floats and NaN (or pandas' NA in
    a nullable column, None in an object one): the ids are those of the same records as
    a list, 101 for 101.0 and the row's index for a missing one."""
    pd = pytest.importorskip("pandas")
    context = "The quick brown fox jumps over the lazy dog."
    records = [{"id": i, "question": "what jumps?", "context": context,
                "answers": {"text": ["fox"], "answer_start": [16]}}
               for i in (101, 102, None, None)]  # fmt: skip
    expected = [e.id for e in read_qa(records)]
    assert expected == ["101", "102", "2", "3"]
    frame = pd.DataFrame(records)
    assert frame["id"].dtype == np.float64  # NaN for None: the case at hand
    assert [e.id for e in read_qa(frame)] == expected
    nullable = frame.assign(id=frame["id"].astype("Int64"))  # pd.NA for the missing
    assert [e.id for e in read_qa(nullable)] == expected
    names = frame.assign(id=["a", "b", None, np.nan])  # an object column
    assert [e.id for e in read_qa(names)] == ["a", "b", "2", "3"]
    # only floats with no fraction are integers; a float id of 101.0 and one of 101 clash
    fractions = [{**records[0], "id": i} for i in (1.5, np.float32(7.0), np.int64(8))]
    assert [e.id for e in read_qa(fractions)] == ["1.5", "7", "8"]
    with pytest.raises(ConfigError, match=r"row 1 has the id '101', as does row 0"):
        read_qa([records[0], {**records[0], "id": 101.0}])


def test_qa_from_a_two_label_classifier_exports_a_qa_config(
    checkpoint: Path, tmp_path: Path
) -> None:
    """A sentiment classifier (two labels) fine-tuned into QA under a new head: the saved
    config holds what transformers' own QA configs hold (its defaults: LABEL_0/LABEL_1,
    no problem type), not the classifier's labels."""
    transformers = pytest.importorskip("transformers")
    from lexforge.model import BertForQuestionAnswering, BertForSequenceClassification

    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    config = BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_layers=1, num_heads=2,
        intermediate_size=64, max_position_embeddings=64, labels=("neg", "pos"),
        problem_type="single_label_classification",
    )  # fmt: skip
    assert BertForQuestionAnswering(config).config.labels == ("LABEL_0", "LABEL_1")
    BertForSequenceClassification(config).save_pretrained(tmp_path / "cls", tokenizer=tok)
    with pytest.warns(UserWarning, match="fresh"):
        finetune(tmp_path / "cls", _synthetic(8, 4), task="qa", new_head=True, max_length=40,
                 max_steps=1, progress=False, out_dir=tmp_path / "qa")  # fmt: skip
    saved = json.loads((tmp_path / "qa" / "best" / "config.json").read_text())
    assert saved["architectures"] == ["BertForQuestionAnswering"]
    assert "problem_type" not in saved
    theirs = transformers.BertConfig()  # what transformers' QA model is built with
    loaded = transformers.AutoConfig.from_pretrained(str(tmp_path / "qa" / "best"))
    assert loaded.id2label == theirs.id2label and loaded.label2id == theirs.label2id
    assert loaded.problem_type is None and loaded.num_labels == 2


def test_no_valid_span_among_the_n_best_falls_back_to_all_spans(tok_path: Path) -> None:
    """Finite scores whose best starts all come after their best ends left no valid
    span among the 20 x 20 tried: ``answer`` then blamed NaN weights, and evaluation
    predicted "". Every span is now tried, as a brute force over them finds."""
    tok = lf.Tokenizer.from_file(tok_path)
    examples = [QAExample("which word?", " ".join(f"w{i}" for i in range(60)), (), "0")]
    w = windows(tok, examples, max_length=128, stride=32)
    ramp = np.arange(w.in_context.shape[1], dtype=np.float64)[None, :].repeat(len(w.in_context), 0)
    for longest in (1, 3):  # (ends fall a little faster: no ties to break)
        got = best_answers(ramp, -1.01 * ramp, w, examples, max_answer_length=longest)
        assert got == _brute_force_spans(ramp, -1.01 * ramp, w, examples, longest)
        assert got[0][1] >= 0
    nan = ramp.copy()
    nan[w.in_context] = np.nan  # scores that are not finite: no span, and said so below
    assert best_answers(nan, nan, w, examples) == [("", -1)]

    from lexforge.model import BertForQuestionAnswering

    class Ramp(BertForQuestionAnswering):  # finite scores: starts rise, ends fall
        def forward(self, input_ids: Any, *args: Any, **kwargs: Any) -> Any:
            pos = torch.arange(input_ids.shape[1], dtype=torch.float32).expand(input_ids.shape)
            return SimpleNamespace(start_logits=pos * self.slope, end_logits=-pos * self.slope)

    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_layers=1, num_heads=2,
                        intermediate_size=64, max_position_embeddings=512)  # fmt: skip
    model = Ramp(config)
    model.slope = 1.0
    ((text, at, score),) = model.answer(["which word?"], [examples[0].context], tokenizer=tok)
    assert examples[0].context[at:].startswith(text) and text and math.isfinite(score)
    model.slope = float("nan")
    with pytest.raises(ConfigError, match="not finite"):
        model.answer(["which word?"], [examples[0].context], tokenizer=tok)
