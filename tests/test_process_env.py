"""The process a user runs lexforge in, rather than the inputs: no standard error at all
(``pythonw``, a service, ``2>&-``: Python's ``sys.stderr`` is None), closed standard input
or output, a standard output that cannot encode every character (``PYTHONIOENCODING=ascii``,
a Latin-1 locale), folders whose names are not UTF-8, and warnings turned into errors
(``-W error``, pytest's ``filterwarnings = error``). Each was found by an audit that ran
the commands in those environments and compared their files with a default run's."""

from __future__ import annotations

import io
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import lexforge as lf
from lexforge.cli import main

TEXTS = ["the cat sat on the mat", "a dog ran in the park", "café naïve 北京 🙂"] * 20


def test_without_stderr_tokenizers_train_and_commands_write_their_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every tokenizer training and shard build asked ``sys.stderr.isatty()`` for its
    progress bar, even with ``show_progress=False``: with no stderr it was an
    ``AttributeError``, and ``lexforge train-tokenizer ... 2>&-`` exited 1 with no file
    and, stderr being closed, no word."""
    from lexforge._progress import Progress

    expected = lf.Tokenizer.train_wordpiece(texts=TEXTS, vocab_size=80, show_progress=False)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    monkeypatch.setattr(sys, "stderr", None)
    for shown in (False, None, True):
        got = lf.Tokenizer.train_wordpiece(texts=TEXTS, vocab_size=80, show_progress=shown)
        assert got.to_str() == expected.to_str()
    with Progress("work", enabled=True) as bar:  # told to draw, with nowhere to: nothing
        bar(1, 2)
    out = tmp_path / "tokenizer.json"
    args = ["train-tokenizer", str(corpus), "--model", "wordpiece", "--vocab-size", "80"]
    assert main([*args, "-o", str(out)]) == 0
    assert lf.Tokenizer.from_file(out).to_str() == expected.to_str()


def test_a_signal_with_no_stderr_is_still_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Ctrl-C handler of the training loops wrote its notice to ``sys.stderr``: with
    none, the handler raised inside the loop instead of letting the step finish."""
    import signal

    from lexforge.train._interrupt import StopRequest

    monkeypatch.setattr(sys, "stderr", None)
    request = StopRequest("finishing this step")
    request._handle(signal.SIGINT, None)
    assert request.asked and request.signum == signal.SIGINT


def test_closed_stdin_and_stdout_are_named_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``lexforge tokenize <&-`` and ``>&-`` (a service, a cron job) ended in an
    ``AttributeError`` traceback on ``None.buffer`` / ``None.write``."""
    tok = lf.Tokenizer.train_wordpiece(texts=TEXTS, vocab_size=80, show_progress=False)
    tok.save(tmp_path / "tok.json")
    text = tmp_path / "t.txt"
    text.write_text("the cat\n", encoding="utf-8")
    tokenize = ["tokenize", "--tokenizer", str(tmp_path / "tok.json")]
    with monkeypatch.context() as m:
        m.setattr(sys, "stdin", None)
        assert main(tokenize) == 1
        assert "standard input is closed: name a file" in capsys.readouterr().err
        assert main(["train-tokenizer", "-", "--vocab-size", "300", "-o", str(tmp_path / "x")]) == 1
        assert "standard input is closed" in capsys.readouterr().err
    with monkeypatch.context() as m:
        m.setattr(sys, "stdout", None)
        for extra in ([], ["--count"]):
            assert main([*tokenize, *extra, str(text)]) == 1
            assert "standard output is closed: redirect it" in capsys.readouterr().err


def _classifier(checkpoint: Path, folder: Path) -> Path:
    """A neg/pos classifier on ``checkpoint``'s encoder that says "pos" to every text."""
    torch = pytest.importorskip("torch")
    from lexforge.model import BertForSequenceClassification

    tok = lf.Tokenizer.from_file(checkpoint / "tokenizer.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BertForSequenceClassification.from_pretrained(checkpoint, labels=("neg", "pos"))
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 20.0]))
    model.save_pretrained(folder, tokenizer=tok)
    return folder


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_predict_writes_json_to_a_stdout_that_cannot_spell_the_text(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    """Under ``PYTHONIOENCODING=ascii`` (or latin-1) the command's ``backslashreplace``
    wrote an é as ``\\xe9`` and an emoji as ``\\U0001f642``, which are not JSON: every
    line of ``lexforge predict`` failed to parse. JSON's own ``\\u`` escapes are written
    there instead, the same texts once read."""
    folder = _classifier(tiny_checkpoint, tmp_path / "clf")
    texts = ["café naïve", "北京 🙂 déjà vu", "plain"]
    inputs = tmp_path / "in.txt"
    inputs.write_text("\n".join(texts) + "\n", encoding="utf-8")
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding=encoding))
    assert main(["predict", str(folder), str(inputs)]) == 0
    sys.stdout.flush()
    rows = [json.loads(line) for line in raw.getvalue().decode(encoding).splitlines()]
    assert [row["text"] for row in rows] == texts
    assert [row["label"] for row in rows] == ["pos"] * 3


def _not_utf8_folder(tmp_path: Path) -> Path:
    folder = tmp_path / os.fsdecode(b"mod\xe8les")  # "modèles" in Latin-1
    try:
        folder.mkdir()
    except (OSError, UnicodeError):  # (a file system that keeps UTF-8 names only)
        pytest.skip("this file system refuses names that are not UTF-8")
    return folder


def test_checkpoints_in_a_folder_not_named_in_utf8_load_and_resume(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """safetensors writes to a path that is not UTF-8 but refuses to read one: a model
    saved there could not be loaded ("cannot be read ... truncated or corrupt"), and a
    run's good checkpoint there was "corrupt or truncated ... delete this directory"."""
    torch = pytest.importorskip("torch")
    from lexforge.model import BertForMaskedLM
    from lexforge.train import checkpoint

    folder = _not_utf8_folder(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BertForMaskedLM.from_pretrained(tiny_checkpoint)
    model.save_pretrained(folder / "model")
    again = BertForMaskedLM.from_pretrained(folder / "model")
    theirs = again.state_dict()
    assert all(torch.equal(a, theirs[name]) for name, a in model.state_dict().items())

    def optimizer(net: Any) -> Any:  # AdamW under a schedule, as a training run's
        adamw = torch.optim.AdamW(net.parameters())
        torch.optim.lr_scheduler.LambdaLR(adamw, lambda step: 1.0)
        return adamw

    first = optimizer(model)
    for param in model.parameters():  # (a step: the optimizer's state to save)
        param.grad = torch.zeros_like(param)
    first.step()
    root = folder / "checkpoints"
    saved = checkpoint.save(root, 1, model, first, {}, keep=1)
    assert checkpoint.damaged(root) == []
    assert checkpoint.load(saved, again, optimizer(again))["step"] == 1


def test_a_warning_made_an_error_comes_after_the_model_is_saved(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """The warning that a fine-tuned classifier gives every text one class was raised
    before ``best/`` was written: under ``-W error`` (pytest's ``filterwarnings = error``)
    the run trained, raised, and its model was lost."""
    pytest.importorskip("torch")
    from lexforge.train import finetune

    folder = _classifier(tiny_checkpoint, tmp_path / "clf")
    train: list[Any] = [("a fine film", "pos"), ("a dull film", "neg")]
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="gives every text the class 'pos'"):
            finetune(folder, train, validation=[("x", "pos"), ("y", "neg"), ("z", "neg")],
                     out_dir=out, max_steps=1, lr=1e-9, progress=False)  # fmt: skip
    assert (out / "best" / "model.safetensors").is_file()
    assert (out / "metrics.json").is_file()


@pytest.mark.parametrize("task", ["classify", "tag"])
def test_runs_cut_by_the_time_limit_are_saved_before_it_is_said(
    tiny_checkpoint: Path, tmp_path: Path, task: str
) -> None:
    """The warning that ``time_limit`` left no time for the later runs was raised inside
    the runs' loop: under ``-W error`` the finished run was thrown away, nothing saved."""
    pytest.importorskip("torch")
    from lexforge.train import finetune

    data: list[Any] = (
        [("a fine film", "pos"), ("a dull film", "neg")] if task == "classify"
        else [(["Paris", "is", "big"], ["B-LOC", "O", "O"]), (["we", "ran"], ["O", "O"])]
    )  # fmt: skip
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*gives every text the class")  # (2 texts)
        with pytest.raises(UserWarning, match="ran out after 1 of the 3 runs"):
            finetune(tiny_checkpoint, data, validation=data, task=task, runs=3,
                     time_limit=1e-6, epochs=1, out_dir=out, progress=False)  # fmt: skip
    assert (out / "best" / "model.safetensors").is_file()
    assert json.loads((out / "metrics.json").read_text())["history"]


def test_split_sentences_names_a_lone_surrogate_as_every_entry_does() -> None:
    """Every encode, call and training path named a text with no UTF-8 form with an
    ``EncodingError`` giving the position; ``split_sentences`` let the core's bare
    ``UnicodeEncodeError`` out (found by the pathological-inputs audit)."""
    with pytest.raises(lf.EncodingError, match="at character 4"):
        lf.split_sentences("Hi. \ud800 there.")
    assert lf.split_sentences("Hi there. Bye now.") == ["Hi there.", "Bye now."]


def test_text_arguments_under_a_c_locale_without_utf8_mode_read_as_utf8(
    tmp_path: Path,
) -> None:
    """With ``PYTHONUTF8=0 PYTHONCOERCECLOCALE=0`` under ``LC_ALL=C``, Python hands each
    byte of a UTF-8 argument over as a lone surrogate: ``lexforge fill-mask`` refused
    "The café is [MASK]." as holding one. Text arguments read as UTF-8 (as in any UTF-8
    locale) and give the results of one; a path with such bytes still opens."""
    import subprocess

    folder = tmp_path / "café"
    folder.mkdir()
    tok = lf.Tokenizer.train_wordpiece(texts=TEXTS, vocab_size=80, show_progress=False)
    tok.save(folder / "tok.json")
    (folder / "t.jsonl").write_text(
        json.dumps({"naïve": "café naïve", "x": 1}) + "\n", encoding="utf-8"
    )
    tokenizer, records = str(folder / "tok.json"), str(folder / "t.jsonl")
    args = [sys.executable, "-m", "lexforge", "tokenize", "--tokenizer", tokenizer,
            "--text-column", "naïve", records]  # fmt: skip
    runs = {}
    for name, env in {
        "utf8": {"LC_ALL": "C.UTF-8", "PYTHONUTF8": "1"},
        "c": {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
    }.items():
        full = {**os.environ, **env, "PYTHONIOENCODING": "utf-8"}
        done = subprocess.run(args, env=full, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
        runs[name] = done.stdout
    assert runs["c"] == runs["utf8"]
    assert runs["c"].decode().split() == [str(i) for i in tok.encode("café naïve")]


def test_text_arguments_that_are_not_utf8_are_left_for_the_checks_to_name() -> None:
    from lexforge.cli.parser import _argv_text

    assert _argv_text("caf\udcc3\udca9") == "café"
    assert _argv_text("plain") == "plain"
    assert _argv_text("caf\udce9") == "caf\udce9"  # Latin-1 bytes: not UTF-8, named later
