"""``lexforge quickstart --minutes 2``: the main job end to end (tokenizer, pretraining,
fine-tuning of ours and MiniLM, the TF-IDF baseline, the report), then a rerun that
keeps every finished stage."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")


def test_quickstart_short_run(tmp_path: Path) -> None:
    out = tmp_path / "qs"
    command = [sys.executable, "-m", "lexforge.cli", "quickstart", "--minutes", "2",
               "--out", str(out), "--quiet"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    report = json.loads((out / "report.json").read_text())
    for task in ("rt-polarity", "wiki-leads"):
        for system in ("ours", "minilm", "tfidf"):
            result = report["results"][task][system]
            assert 0.0 <= result["accuracy"] <= 1.0 and 0.0 <= result["macro_f1"] <= 1.0
    # the baseline is a real one: near the published NB-SVM figure on MR (79.4%)
    assert report["results"]["rt-polarity"]["tfidf"]["accuracy"] > 0.75
    assert "| rt-polarity | all-MiniLM-L6-v2, fine-tuned |" in done.stdout
    from lexforge.train._fit import native_bf16

    on = "cpu in bf16" if native_bf16() else "cpu"  # (bf16 where the CPU multiplies it)
    assert f"A budget of 2 minutes on {on}; the stages took " in done.stdout
    assert f"lexforge quickstart: 2 minutes, tiny BERT, {on}, into" in done.stdout
    assert (out / "pretrain" / "model" / "model.safetensors").is_file()
    # pretrained at the recipe's masking rate (40%, not BERT's 15%), as the report says
    from lexforge.quickstart import RECIPE
    from lexforge.train import checkpoint

    last = checkpoint.latest(out / "pretrain" / "checkpoints")
    assert last is not None
    trained = json.loads((last / "state.json").read_text())["options"]["mlm_probability"]
    assert trained == RECIPE["mlm_probability"] == 0.4
    assert "40% of the tokens masked" in done.stdout
    # pretrained without dropout (MLM only); exported with BERT's 0.1 for fine-tuning
    config = json.loads((out / "pretrain" / "model" / "config.json").read_text())
    assert config["hidden_dropout_prob"] == config["attention_probs_dropout_prob"] == 0.1
    assert config["architectures"] == ["BertForMaskedLM"]
    assert (out / "pretrain" / "curves.png").is_file()
    assert (out / "ours-rt-polarity" / "confusion.png").is_file()
    # the word-similarity demo: neighbours in both spaces for the probes frequent enough
    probes = report["words"]["probes"]
    assert probes and all(set(r["neighbours"]) == {"contextual", "co-occurrence"} for r in probes)
    assert "| word | contextual (ours) | co-occurrence SVD |" in done.stdout
    # task-adaptive text: rt-polarity's training sentences are in the pretraining text, its
    # test sentences (those not also in training) and wiki-leads' test leads are not
    from lexforge import datasets

    text = (out / "tokenizer" / "train.txt").read_text(encoding="utf-8")
    lines = set(text.splitlines())
    assert json.loads((out / "tokenizer" / "done.json").read_text())["task_documents"] > 0
    train = {" ".join(t.split()) for t, _ in datasets.load_labelled("rt-polarity", split="train")}
    assert sum(t in lines for t in train) > 0.99 * len(train)
    unseen = {" ".join(t.split()) for t, _ in datasets.load_labelled("rt-polarity", split="test")}
    assert not (unseen - train) & lines
    documents = set(text.split("\n\n"))
    assert not any(t in documents for t, _ in datasets.load_labelled("wiki-leads", split="test"))
    again = subprocess.run(command, capture_output=True, text=True, check=True)
    assert again.stdout.count("done before; kept") == 9  # tokenizer, pretrain, words, 6 results
    # killed after pretraining's last checkpoint, before its stage was marked done: the
    # rerun trains nothing, and the held-out scores still come from the run's log
    (out / "pretrain" / "done.json").unlink()
    subprocess.run(command, capture_output=True, text=True, check=True)
    held_out = json.loads((out / "report.json").read_text())["pretrain"]["eval"]
    assert held_out is not None and held_out["mlm_loss"] > 0
    # the pretraining plan a resumed run keeps (a new step count would change its schedule)
    plan = json.loads((out / "pretrain" / "plan.json").read_text())
    assert plan["steps"] == json.loads((out / "pretrain" / "done.json").read_text())["steps"]
    # another budget into the same folder would keep the old stages: refused, not mixed
    other = subprocess.run([*command[:5], "3", *command[6:]], capture_output=True, text=True)
    assert other.returncode != 0 and "minutes 2.0 (now 3.0)" in other.stderr, other.stderr
    assert "Traceback" not in other.stderr
    # a stage's model cut short after it was done: the stage runs again (pretraining
    # exports again from its last checkpoint); the stages after it keep their results
    weights = out / "pretrain" / "model" / "model.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[:1000])
    redone = subprocess.run(command, capture_output=True, text=True, check=True)
    assert f"[pretrain] {weights} changed since the stage was done" in redone.stdout
    assert redone.stdout.count("done before; kept") == 8
    assert weights.read_bytes() == whole


def test_bad_options_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    from lexforge import quickstart
    from lexforge.errors import ConfigError

    out = tmp_path / "qs"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"minutes": float("nan")}, "--minutes must be a positive number"),
        ({"minutes": float("inf")}, "--minutes must be a positive number"),
        ({"minutes": 0}, "--minutes must be a positive number"),
        ({"minutes": True}, "--minutes must be a positive number"),  # (was one minute)
        ({"minutes": 1e307}, "--minutes must be at most"),
        ({"preset": "bogus"}, "unknown --preset 'bogus'"),
        ({"device": "nonsense"}, "not a device name"),
        ({"precision": "fp16"}, "precision must be 'fp32', 'bf16' or None"),
    ]
    for bad, match in cases:
        with pytest.raises(ConfigError, match=match):
            quickstart.run(out=out, **bad)
        assert not out.exists(), bad
    # on the command line: one line, no traceback
    done = subprocess.run(
        [sys.executable, "-m", "lexforge.cli", "quickstart", "--preset", "bogus", "--out",
         str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "unknown --preset 'bogus'" in done.stderr and not out.exists()


def test_the_recipe_follows_the_system_not_the_folder_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An --out named after MiniLM still fine-tunes our model with our recipe."""
    import lexforge.train
    from lexforge import quickstart

    seen: list[dict[str, object]] = []

    from types import SimpleNamespace

    scores = {"accuracy": 1.0, "macro_f1": 1.0}

    def finetune(checkpoint: Path, task: str, **options: object) -> SimpleNamespace:
        seen.append(options)
        return SimpleNamespace(test=scores, validation=scores, history=[], soup=(1,))

    monkeypatch.setattr(lexforge.train, "finetune", finetune)
    ours = tmp_path / "MiniLM-vs-ours" / "pretrain" / "model"
    ours.mkdir(parents=True)
    (ours / "config.json").write_text(json.dumps({"hidden_size": 128}))
    for minilm in (False, True):
        quickstart._finetune(ours, "rt-polarity", tmp_path / "f", 10.0, "cpu", False,
                             minilm=minilm)  # fmt: skip
    assert [(o["lr"], o["runs"]) for o in seen] == [(1e-3, quickstart.OUR_RUNS), (2e-4, 1)]


def test_a_run_that_never_finished_a_stage_does_not_hold_the_folder(tmp_path: Path) -> None:
    """Options are recorded to keep a resumed run's stages consistent; where no stage has
    finished there is nothing to keep, and other options replace the record."""
    from lexforge import quickstart
    from lexforge.errors import ConfigError

    out = tmp_path / "qs"
    with pytest.raises(ConfigError, match="vocab_size must be an integer, got 'x'"):
        quickstart.run(out=out, vocab_size="x")  # type: ignore[arg-type]
    assert not out.exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is a file; pass a directory"):
        quickstart.run(out=str(tmp_path / "file"))  # type: ignore[arg-type]
    out.mkdir()
    first = {"minutes": 2.0, "preset": "tiny", "vocab_size": 50}
    quickstart._check_same_run(out, first)
    other = {**first, "vocab_size": 8192}  # the first failed before a stage finished
    quickstart._check_same_run(out, other)
    assert json.loads((out / "quickstart.json").read_text()) == other
    (out / "tokenizer").mkdir()
    (out / "tokenizer" / "done.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"vocab_size 8192 \(now 50\)"):
        quickstart._check_same_run(out, first)
    assert json.loads((out / "quickstart.json").read_text()) == other


def test_a_fine_tuning_stage_killed_before_done_json_is_rerun_in_place(
    tiny_checkpoint: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A stage killed after its best/ was written, before its done.json: the rerun warned
    "pass another out_dir to keep it", which a quickstart user cannot do. The quickstart
    replaces its own stage's partial output, saying so in its own words."""
    import warnings

    import lexforge.train
    from lexforge import quickstart

    real = lexforge.train.finetune
    texts = [("a good film", "pos"), ("a bad film", "neg")] * 4

    def finetune(checkpoint: Path, task: str, **options: Any) -> Any:  # tiny data
        return real(checkpoint, texts, validation=texts, test=texts, **options)

    monkeypatch.setattr(lexforge.train, "finetune", finetune)
    folder = tmp_path / "ours-rt-polarity"
    (folder / "best").mkdir(parents=True)
    (folder / "best" / "model.safetensors").write_bytes(b"cut short")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*earlier run's model.*")
        quickstart._finetune(tiny_checkpoint, "rt-polarity", folder, 60.0, "cpu", False,
                             minilm=True)  # fmt: skip
    assert "[ours-rt-polarity] replacing the model of an earlier attempt" in capsys.readouterr().out
    assert (folder / "best" / "config.json").is_file()


def test_an_interrupt_in_any_stage_says_the_command_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C outside pretraining's loop (building shards, fine-tuning, MiniLM) ended with
    a bare "lexforge: interrupted": nothing said that the same command resumes. What
    pretraining says of its checkpoint is kept as it is."""
    from lexforge import quickstart
    from lexforge.cli import main

    def stopped(*args: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(quickstart, "_run", stopped)
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--quiet"]) == 130
    said = capsys.readouterr().err
    assert f"interrupted: the same quickstart command (--out {out}) resumes" in said

    def saved(*args: Any) -> int:
        raise KeyboardInterrupt("pretraining stopped after step 3 of 9, saved")

    monkeypatch.setattr(quickstart, "_run", saved)
    with pytest.raises(KeyboardInterrupt, match=r"^pretraining stopped after step 3 of 9, saved$"):
        quickstart.run(out=out)


def test_a_sigterm_in_any_stage_exits_143(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """SIGTERM (how a batch scheduler stops a job) stops pretraining and fine-tuning as
    Ctrl-C does; the quickstart turned their ``Stopped`` into a bare KeyboardInterrupt, so
    the command exited 130 (Ctrl-C's) where ``lexforge pretrain`` and ``finetune`` exit
    143. The signal is kept through each stage's message."""
    import signal

    import lexforge.train
    from lexforge import quickstart
    from lexforge.cli import main
    from lexforge.train import Stopped

    def stopped(*args: Any, **kwargs: Any) -> Any:
        raise Stopped("fine-tuning stopped by SIGTERM after step 1", 1, True, signal.SIGTERM)

    monkeypatch.setattr(lexforge.train, "finetune", stopped)
    with pytest.raises(KeyboardInterrupt) as caught:
        quickstart._finetune(tiny_checkpoint, "rt-polarity", tmp_path / "ft", 60.0, "cpu",
                             False, minilm=True)  # fmt: skip
    assert str(caught.value) == "" and caught.value.signum == signal.SIGTERM

    def inner(*args: Any) -> int:
        raise caught.value

    monkeypatch.setattr(quickstart, "_run", inner)
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--quiet"]) == 128 + signal.SIGTERM
    assert f"interrupted: the same quickstart command (--out {out}) resumes" in (
        capsys.readouterr().err
    )


def test_a_second_quickstart_into_a_running_ones_folder_is_refused(tmp_path: Path) -> None:
    """Two quickstarts into one --out: the second timed its pretraining against the first,
    rewrote its plan (a resume then stopped at the second's step count) and trained into
    its folders. It is refused before it writes anything; once the first is done, a
    rerun goes ahead."""
    from lexforge import quickstart
    from lexforge._locks import only_writer
    from lexforge.errors import ConfigError

    out = tmp_path / "qs"
    out.mkdir()
    (out / "pretrain").mkdir()
    (out / "pretrain" / "plan.json").write_text('{"steps": 532}')
    (out / "quickstart.json").write_text('{"minutes": 2.0}')
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with (
        only_writer(out / ".quickstart.lock", lambda: AssertionError("not held")),
        pytest.raises(ConfigError, match="another lexforge quickstart is running into"),
    ):
        quickstart.run(out=out, minutes=2)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name[0] != "."}
    assert after == before  # (the lock file aside)
    # the lock is let go when a run ends, even in an error
    with pytest.raises(ConfigError, match="holds a quickstart run made with other options"):
        quickstart.run(out=out, minutes=3)
    with only_writer(out / ".quickstart.lock", lambda: AssertionError("still held")):
        pass


def test_a_folder_of_other_files_is_refused_as_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--out at a folder of the user's own files started a run there, whose report.md
    would replace theirs. Refused before anything is written; an empty folder, or one a
    run was killed in before it recorded its options (its lock alone), goes ahead."""
    from lexforge import quickstart
    from lexforge.errors import ConfigError

    def recorded(out: Path, options: dict[str, Any]) -> None:  # where a run begins
        raise AssertionError("went on")

    monkeypatch.setattr(quickstart, "_check_same_run", recorded)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.md").write_text("my notes")
    (out / "data.csv").write_text("a,b")
    with pytest.raises(ConfigError, match=r"holds files of its own \(data.csv, report.md\)"):
        quickstart.run(out=out, minutes=0.5)
    assert sorted(p.name for p in out.iterdir()) == ["data.csv", "report.md"]
    for name in ("report.md", "data.csv"):
        (out / name).unlink()
    (out / ".quickstart.lock").touch()
    with pytest.raises(AssertionError, match="went on"):
        quickstart.run(out=out, minutes=0.5)


def test_the_clock_gives_each_stage_its_share_of_the_time_left() -> None:
    """A stage's limit is its share of what is left: time another stage took past its
    plan comes out of the stages after it, not on top of the budget."""
    from lexforge.quickstart import _Clock

    stages = [("a", "x", 0.5), ("b", "y", 0.3), ("c", "z", 0.2)]
    on_plan = _Clock(100.0, stages)
    limits = []
    for stage in ("a", "b", "c"):
        limits.append(on_plan.limit(stage))
        on_plan.spend(limits[-1])
    assert limits == pytest.approx([50.0, 30.0, 20.0])

    late = _Clock(100.0, stages)
    assert late.limit("a") == pytest.approx(50.0)
    late.spend(60.0)  # ten seconds past its limit
    late.spend(4.0)  # a stage with no limit of its own (the baseline)
    b = late.limit("b")
    assert b == pytest.approx(36.0 * 0.3 / 0.5)
    late.spend(b)
    assert late.limit("c") == pytest.approx(100.0 - 64.0 - b)  # the run ends on time


def test_the_clock_sets_aside_what_a_systems_stages_take_past_their_limits() -> None:
    """Fine-tuning's time_limit covers training only; its evaluations come on top. What
    a system's last stage took past its limit is set aside for each of its stages still
    to come before the rest is shared (not cut from the last stage alone), and no limit
    falls below a quarter of the stage's share of the whole budget."""
    from lexforge.quickstart import _Clock

    clock = _Clock(100.0, [("m-1", "m", 0.25), ("n-1", "n", 0.25), ("m-2", "m", 0.25),
                           ("n-2", "n", 0.25)])  # fmt: skip
    first = clock.limit("m-1")
    assert first == pytest.approx(25.0)
    clock.ran("m-1", 31.0, first)  # six seconds of evaluation past its limit
    # n has run nothing yet; m's six seconds are set aside for m-2
    assert clock.limit("n-1") == pytest.approx((69.0 - 6.0) / 3)
    clock.ran("n-1", 21.0, 21.0)  # on time
    m2 = clock.limit("m-2")
    assert m2 == pytest.approx((48.0 - 6.0) / 2)
    clock.ran("m-2", m2 + 6.0, m2)
    assert clock.limit("n-2") == pytest.approx(100.0 - 31.0 - 21.0 - m2 - 6.0)  # on time
    late = _Clock(100.0, [("m-1", "m", 0.5), ("m-2", "m", 0.5)])
    late.ran("m-1", 120.0, late.limit("m-1"))  # far past: the budget is spent
    assert late.limit("m-2") == pytest.approx(_Clock.FLOOR * 50.0)


def test_out_inside_the_cache_or_unwritable_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--out inside the dataset cache was accepted, and a later fetch of that dataset
    replaced its folder, the run with it; an --out that cannot be written gave the bare
    OS error (or a misleading "No such file" for the lock) without naming --out."""
    import errno

    import lexforge._locks
    from lexforge import quickstart
    from lexforge.errors import ConfigError

    cache = tmp_path / "cache"
    monkeypatch.setenv("LEXFORGE_CACHE", str(cache))
    for inside in (cache / "datasets" / "rt-polarity-3.3.2" / "run", cache / "corpora"):
        with pytest.raises(ConfigError, match=r"--out .* is inside lexforge's cache"):
            quickstart.run(out=inside, minutes=2)
        assert not inside.exists()
    monkeypatch.delenv("LEXFORGE_CACHE")

    def read_only(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(lexforge._locks, "only_writer", read_only)
    with pytest.raises(ConfigError, match=r"--out .*: cannot write there \(Read-only file "):
        quickstart.run(out=tmp_path / "ro", minutes=2)


def test_a_resumed_pretraining_counts_the_time_its_interrupted_attempts_spent(
    tmp_path: Path,
) -> None:
    """A pretraining stage killed after a checkpoint and resumed counted only the last
    attempt's seconds, so the stages after it shared time an uninterrupted run never had
    (at 15 minutes, 42-78% more per fine-tuning stage). The earlier attempts' time up to
    their newest checkpoint now counts."""
    import os
    import time

    from lexforge import quickstart

    folder = tmp_path / "pretrain"
    record = folder / ".attempt.json"

    def began(seconds_ago: float) -> float:  # the attempt recorded last began then
        attempt = json.loads(record.read_text())
        attempt["started"] = time.time() - seconds_ago
        record.write_text(json.dumps(attempt))
        return float(attempt["started"])

    def checkpoint(step: int, at: float) -> None:
        saved = folder / "checkpoints" / f"step-{step}" / "model.safetensors"
        saved.parent.mkdir(parents=True)
        saved.write_bytes(b"")
        os.utime(saved, (at, at))

    assert quickstart._earlier_attempts(folder) == 0.0  # a first attempt
    checkpoint(20, began(100) + 30)  # killed 30 s in, after a checkpoint
    assert quickstart._earlier_attempts(folder) == pytest.approx(30.0)
    checkpoint(40, began(50) + 12)  # and again, 12 s into the second
    assert quickstart._earlier_attempts(folder) == pytest.approx(42.0)
    # an attempt that saved nothing new adds nothing; with no checkpoint left, nothing counts
    assert quickstart._earlier_attempts(folder) == pytest.approx(42.0)
    for step in ("step-20", "step-40"):
        for f in (folder / "checkpoints" / step).iterdir():
            f.unlink()
    assert quickstart._earlier_attempts(folder) == 0.0
    # the stage's seconds carry them
    stages = quickstart._Stages(tmp_path)
    done = stages.run("stage", lambda f: {"value": 1, "earlier_seconds": 100.0})
    assert done["value"] == 1 and "earlier_seconds" not in done
    assert 100.0 <= done["seconds"] < 105.0


def test_a_stage_runs_again_when_a_stage_it_reads_was_made_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pretraining made again (its model deleted, say) left the fine-tuning and word
    stages kept: the report showed their scores of the earlier model beside the new
    pretraining. A stage now records what its inputs made, and runs again when it changed;
    a stage that reads nothing else is kept."""
    from lexforge import quickstart

    calls = {"model": 0, "scores": 0, "other": 0}

    def model(folder: Path) -> dict[str, Any]:
        calls["model"] += 1
        (folder / "model").mkdir(parents=True, exist_ok=True)
        (folder / "model" / "w.bin").write_text(f"weights {calls['model']}")
        return {}

    def stage(name: str) -> Any:
        def run(folder: Path) -> dict[str, Any]:
            calls[name] += 1
            return {}

        return run

    def everything() -> None:
        stages = quickstart._Stages(tmp_path)
        stages.run("pretrain", model)
        stages.run("scores", stage("scores"), inputs=("pretrain",))
        stages.run("other", stage("other"))

    everything()
    everything()  # all kept
    assert calls == {"model": 1, "scores": 1, "other": 1}
    (tmp_path / "pretrain" / "model" / "w.bin").unlink()  # made again: a new model
    everything()
    assert calls == {"model": 2, "scores": 2, "other": 1}
    assert "[scores] pretrain was made again since the stage was done" in capsys.readouterr().out
    everything()
    assert calls == {"model": 2, "scores": 2, "other": 1}
    # a stage recorded before inputs were (an earlier lexforge, which wrote no digest of
    # the record either): kept
    done = json.loads((tmp_path / "scores" / "done.json").read_text())
    del done["inputs"], done["check"]
    (tmp_path / "scores" / "done.json").write_text(json.dumps(done))
    everything()
    assert calls == {"model": 2, "scores": 2, "other": 1}
    # a stage run again and interrupted: its old done.json and the report of the old
    # results were left, the report showing scores of a model no longer there
    (tmp_path / "report.md").write_text("old scores")
    (tmp_path / "pretrain" / "model" / "w.bin").unlink()

    def interrupted(folder: Path) -> dict[str, Any]:
        raise KeyboardInterrupt

    stages = quickstart._Stages(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        stages.run("pretrain", interrupted)
    assert not (tmp_path / "pretrain" / "done.json").exists()
    assert not (tmp_path / "report.md").exists()
    assert (tmp_path / "scores" / "done.json").is_file()  # (found stale by its inputs)


def test_fine_tuning_advice_names_the_quickstarts_option(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fine-tuning stage whose time ran out before its second run warned "raise
    time_limit (--time-limit) or ask for fewer runs (--runs)": options the quickstart
    does not have. It names --minutes."""
    import lexforge.train
    from lexforge import quickstart

    real = lexforge.train.finetune
    texts = [("a good film", "pos"), ("a bad film", "neg")] * 4

    def finetune(checkpoint: Path, task: str, **options: Any) -> Any:  # tiny data
        return real(checkpoint, texts, validation=texts, test=texts, **options)

    monkeypatch.setattr(lexforge.train, "finetune", finetune)
    with pytest.warns(UserWarning, match=r"ran out after 1 of the 2 runs") as caught:
        quickstart._finetune(tiny_checkpoint, "rt-polarity", tmp_path / "ours-rt-polarity",
                             1e-3, "cpu", False, minilm=False)  # fmt: skip
    said = [str(w.message) for w in caught if "ran out" in str(w.message)]
    assert said and all("give the quickstart more --minutes" in m for m in said)
    assert not any("--time-limit" in str(w.message) for w in caught)


def test_a_damaged_record_of_options_is_refused_not_overwritten(tmp_path: Path) -> None:
    """A quickstart.json that was not a dict any more let any options through: the report
    then named a preset and a budget the kept stages were not made with (found by the
    kill/resume audit). Refused, the record left as it is; with no record at all, the
    stages are named, not called the user's own files."""
    from lexforge import quickstart
    from lexforge.errors import ConfigError

    out = tmp_path / "qs"
    (out / "pretrain").mkdir(parents=True)
    (out / "pretrain" / "done.json").write_text("{}")
    options = {"minutes": 2.0, "preset": "mini", "vocab_size": 8192}
    for damaged in ("[]", "garbage{", "\udcff"):
        (out / "quickstart.json").write_text(damaged, errors="surrogateescape")
        with pytest.raises(ConfigError, match=r"quickstart\.json, the record of the options"):
            quickstart._check_same_run(out, options)
        assert (out / "quickstart.json").read_text(errors="surrogateescape") == damaged
    (out / "quickstart.json").unlink()
    with pytest.raises(ConfigError, match=r"holds the stages of a quickstart run \(pretrain\)"):
        quickstart.run(out=out, minutes=2)


def test_an_edited_stage_record_runs_the_stage_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A done.json edited into valid JSON of other content (a key gone, a number made a
    string) was a KeyError or a format error deep in the report; its digest no longer
    matches, and the stage runs again."""
    from lexforge.quickstart import _Stages

    calls = []

    def stage(folder: Path) -> dict[str, Any]:
        calls.append(folder)
        return {"accuracy": 0.8, "steps": 3}

    marker = tmp_path / "tfidf" / "done.json"
    assert _Stages(tmp_path).run("tfidf", stage)["accuracy"] == 0.8
    for edit in ({}, {"accuracy": "garbage"}):
        record = json.loads(marker.read_text())
        marker.write_text(json.dumps(edit if not edit else {**record, **edit}))
        assert _Stages(tmp_path).run("tfidf", stage)["accuracy"] == 0.8
        assert "changed since the stage was done; running the stage again" in (
            capsys.readouterr().out
        )
    assert len(calls) == 3
    assert _Stages(tmp_path).run("tfidf", stage)["seconds"] >= 0 and len(calls) == 3


def test_a_damaged_pretraining_plan_is_no_plan(tmp_path: Path) -> None:
    """A plan.json cut short beside an interrupted attempt's checkpoints was a JSON
    traceback on every rerun; it reads as no plan (the attempt starts afresh)."""
    from lexforge.quickstart import _planned_steps

    plan = tmp_path / "plan.json"
    assert _planned_steps(plan) is None  # gone
    for damaged in ('{"steps": 53', '{"steps": "53"}', '{"steps": 0}', "[]", '{"steps": true}'):
        plan.write_text(damaged)
        assert _planned_steps(plan) is None, damaged
    plan.write_text('{"steps": 53, "seconds_per_step": 0.1}')
    assert _planned_steps(plan) == 53


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_in_a_fine_tuning_stage_stops_it_at_once(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Ctrl-C in a quickstart fine-tuning stage waited a minute while fine-tuning scored
    and saved its best epoch, which the rerun then replaced (the kill/resume audit). It
    stops at once now, with its signal kept (the command exits 130 or 143); Python's own
    handlers are back after the stage."""
    import os
    import signal

    import lexforge.train
    from lexforge import quickstart

    signum = getattr(signal, name)
    went_on = []

    def finetune(*args: Any, **kwargs: Any) -> Any:
        from lexforge.train._interrupt import StopRequest

        with StopRequest("finishing this step"):  # as fine-tuning's loop takes signals
            os.kill(os.getpid(), signum)
            time.sleep(0.5)  # (a handler runs at the next bytecode)
            went_on.append(True)  # the loop's own handler lets the step finish

    monkeypatch.setattr(lexforge.train, "finetune", finetune)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as caught:
        quickstart._finetune(tiny_checkpoint, "rt-polarity", tmp_path / "ft", 60.0, "cpu",
                             False, minilm=True)  # fmt: skip
    assert caught.value.signum == signum and not went_on
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_precision_defaults_to_bf16_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from lexforge import quickstart
    from lexforge.train import _fit

    for native, want in ((True, "bf16"), (False, None), (None, None)):
        monkeypatch.setattr(_fit, "native_bf16", lambda native=native: native)
        assert quickstart._precision("cpu", None) == want
        assert quickstart._precision("cpu", "fp32") == "fp32"  # as asked
        assert quickstart._precision("cuda", None) is None  # CUDA's default: bf16
