"""``lf.pretrain`` killed, failing or resumed where the other tests do not look: a process
killed (``os._exit``, as SIGKILL: no cleanup runs) between a checkpoint's weight file and
its state file, between its rename and the ``latest`` pointer, while old checkpoints are
pruned, or while ``model/`` is exported, then resumed, ends with the weights, the export
and the log of the run that never stopped; a full disk while saving; options changed on
resume; a checkpoint folder edited by hand; a rank that a resumed run adds; thread counts.
The oracle is always the same run, uninterrupted."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

import lexforge as lf  # noqa: E402
from lexforge.errors import CheckpointError  # noqa: E402
from lexforge.model import BertConfig  # noqa: E402
from lexforge.train import checkpoint, pretrain  # noqa: E402

WORDS = ("the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", "house", "tree",
         "green", "blue", "red", "sky", "sun")  # fmt: skip
SMALL = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32,
         "max_position_embeddings": 32}  # fmt: skip
# 8 steps, a checkpoint every 2 (the last 2 kept), a log line every 3 (so that a resumed
# run's first line spans steps before its checkpoint), an evaluation every 4
RUN = {"steps": 8, "batch_size": 4, "max_seq_len": 24, "save_every": 2, "keep": 2,
       "log_every": 3, "eval_every": 4, "eval_batches": 2, "progress": False}  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("resume-audit")
    rng = random.Random(0)
    docs = [
        "\n".join(" ".join(rng.choice(WORDS) for _ in range(6)) + "." for _ in range(3))
        for _ in range(40)
    ]
    corpus = root / "train.txt"
    corpus.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    tok = lf.Tokenizer.train_wordpiece(files=[corpus], vocab_size=100, show_progress=False)
    shards = lf.build_shards(corpus, root / "shards", tok, progress=False)
    held_out = lf.build_shards(corpus, root / "eval", tok, progress=False)
    return {"root": root, "tok": tok, "shards": shards, "eval": held_out}


def _config(setup: dict[str, Any], **kw: Any) -> BertConfig:
    return BertConfig(**{"vocab_size": setup["tok"].vocab_size, **SMALL, **kw})


def _run(setup: dict[str, Any], out: Path, **kw: Any) -> Any:
    options = {"model": _config(setup), "eval_data": setup["eval"], **RUN, **kw}
    return pretrain(setup["shards"], out, **options)


def _log(out: Path) -> list[dict[str, Any]]:
    """The log's records without their timings."""
    lines = (out / "log.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "tokens_per_s"} for x in lines]


def _files(out: Path) -> dict[str, bytes]:
    """What a run leaves that must not depend on its having been killed: the checkpoints'
    weights and optimizer states, the export, and every file's name (no temporary or
    staging folder left behind)."""
    found = {}
    for p in sorted(out.rglob("*")):
        name = str(p.relative_to(out))
        if p.is_dir() or name.startswith(".pretrain.lock"):
            found[name] = b""
        elif p.suffix == ".safetensors":
            found[name] = p.read_bytes()
        elif p.name != "latest" and p.suffix != ".png":
            found[name] = b""
    return found


@pytest.fixture(scope="module")
def whole(setup: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The oracle: the run, never stopped."""
    out = tmp_path_factory.mktemp("whole") / "run"
    _run(setup, out)
    return out


# a pretraining run that dies (os._exit: no finally, no atexit, as SIGKILL) at the n-th
# call of the function POINT names
_KILLED = """
import os, sys
from pathlib import Path
import safetensors.torch as st
from lexforge.model import BertConfig, hf
from lexforge.train import checkpoint, pretrain

out, point, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls = [0]

def dying(real, when):
    def call(*args, **kwargs):
        if when(*args):
            calls[0] += 1
            if calls[0] == nth:
                os._exit(9)
        return real(*args, **kwargs)
    return call

if point == "state":  # the weights written, the optimizer and state files not
    st.save_file = dying(st.save_file, lambda t, p, *a: p.endswith("optimizer.safetensors"))
elif point == "pointer":  # renamed into place, `latest` not yet moved on
    checkpoint._write_latest = dying(checkpoint._write_latest, lambda *a: True)
elif point == "prune":  # the new one in place, an old one being deleted
    checkpoint.shutil.rmtree = dying(checkpoint.shutil.rmtree,
                                     lambda p, *a: ".tmp" not in Path(p).name)
elif point == "export":  # model/ half renamed into place
    Path.replace = dying(Path.replace, lambda p, *a: ".save_pretrained" in str(p)
                         and p.name == "model.safetensors")
config = BertConfig(vocab_size={vocab}, **{small})
pretrain({shards!r}, out, model=config, eval_data={held_out!r}, resume=point == "none",
         **{options})
"""


@pytest.mark.parametrize(("point", "nth"), [("state", 2), ("pointer", 2), ("prune", 1),
                                            ("export", 1)])  # fmt: skip
def test_a_run_killed_anywhere_resumes_to_the_uninterrupted_run(
    setup: dict[str, Any], whole: Path, tmp_path: Path, point: str, nth: int
) -> None:
    script = tmp_path / "killed.py"
    script.write_text(_KILLED.format(
        vocab=setup["tok"].vocab_size, small=SMALL, shards=str(setup["shards"].directory),
        held_out=str(setup["eval"].directory), options=RUN,
    ))  # fmt: skip
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, script, out, point, str(nth)], env=env)
    assert killed.returncode == 9, "the run was not killed"
    subprocess.run([sys.executable, script, out, "none", "0"], env=env, check=True)
    assert _files(out) == _files(whole)
    # the log of the steps trained twice is cut back, and the line that spans the
    # checkpoint averages the same steps as the oracle's
    assert _log(out) == _log(whole)


def test_a_full_disk_while_saving_leaves_the_last_checkpoint_and_nothing_else(
    setup: dict[str, Any], whole: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors.torch

    out = tmp_path / "run"
    real = safetensors.torch.save_file
    calls = []

    def full(tensors: Any, path: str, *args: Any, **kwargs: Any) -> None:
        calls.append(path)
        if len(calls) == 5:  # the third checkpoint's weights: half a file, then no space
            Path(path).write_bytes(b"\0" * 64)
            raise OSError(errno.ENOSPC, "No space left on device", path)
        real(tensors, path, *args, **kwargs)

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(CheckpointError, match=r"(?s)step 6 could not be written.*No space "
                       r"left.*still step-0000004.*resume=True"):  # fmt: skip
        _run(setup, out)
    monkeypatch.undo()
    ckpts = out / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest", "step-0000002", "step-0000004"]
    assert checkpoint.latest(ckpts) == ckpts / "step-0000004"
    _run(setup, out, resume=True)
    assert _files(out) == _files(whole)
    assert _log(out) == _log(whole)


def test_a_full_disk_at_the_latest_pointer_is_a_checkpoint_error(
    setup: dict[str, Any], whole: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills just as the pointer to a new checkpoint is written: a
    CheckpointError naming the pointer and the checkpoint still latest (it was a bare
    OSError), no temporary pointer left, and resuming gives the uninterrupted weights."""
    out = tmp_path / "run"
    real = checkpoint._sync
    calls = []

    def full(path: Path) -> None:
        if path.name.startswith(".latest.tmp-"):
            calls.append(path)
            if len(calls) == 3:
                raise OSError(errno.ENOSPC, "No space left on device")
        real(path)

    monkeypatch.setattr(checkpoint, "_sync", full)
    with pytest.raises(CheckpointError, match=r"(?s)step 6 was written .*latest\) could not "
                       r"be .*No space left.*still step-0000004.*resume=True"):  # fmt: skip
        _run(setup, out)
    monkeypatch.undo()
    ckpts = out / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest", "step-0000002", "step-0000004"]
    _run(setup, out, resume=True)
    assert _files(out) == _files(whole)


def test_checkpoint_files_reach_the_disk_before_they_are_renamed_in(
    setup: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut keeps the renames but not always the data behind them: every file of
    a checkpoint and the pointer are synced before the rename that publishes them."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name a synced descriptor")
    synced: list[str] = []
    real_sync, real_rename = os.fsync, Path.rename
    renamed: dict[str, list[str]] = {}

    def fsync(fd: int) -> None:
        synced.append(str(Path(f"/proc/self/fd/{fd}").readlink()))
        real_sync(fd)

    def rename(self: Path, target: Any) -> Any:
        renamed[self.name] = list(synced)
        return real_rename(self, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(Path, "rename", rename)
    _run(setup, tmp_path / "run", steps=2, eval_data=None, eval_every=0)
    monkeypatch.undo()
    (tmp,) = [name for name in renamed if name.startswith(".step-0000002.tmp-")]
    before = renamed[tmp]
    for name in ("model.safetensors", "optimizer.safetensors", "state.json"):
        assert any(s.endswith(f"{tmp}/{name}") for s in before), (name, before)
    assert any(s.endswith(tmp) for s in before)
    assert any(".latest.tmp-" in s for s in synced)


def test_resume_refuses_what_changes_training_and_names_it(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    common: dict[str, Any] = {"eval_data": None, "eval_every": 0, "steps": 4, "resume": True}
    _run(setup, out, steps=2, eval_data=None, eval_every=0)
    # what changes the batches, the update or the model: named, old -> new
    changes: list[tuple[dict[str, Any], str]] = [
        # another model class: said before the options are compared
        (
            {"objective": "none"},
            r"another objective \(the checkpoint's is 'nsp' or 'sop', "
            r"this run's 'none'\); resume with the checkpoint's",
        ),
        ({"batch_size": 8}, "batch_size 4 -> 8"),
        ({"max_seq_len": 16}, "max_seq_len 24 -> 16"),
        ({"masking": "span"}, "masking 'bernoulli' -> 'span'"),
        ({"mlm_probability": 0.3}, "mlm_probability 0.15 -> 0.3"),
        ({"whole_word": True}, "whole_word False -> True"),
        ({"grad_accum": 2}, "grad_accum 1 x 1 processes"),
        ({"warmup": 0}, "warmup 0.06 -> 0"),
        ({"model": _config(setup, hidden_dropout=0.0)}, "hidden_dropout 0.1 -> 0.0"),
    ]
    for changed, said in changes:
        with pytest.raises(CheckpointError, match=said):
            _run(setup, out, **{**common, **changed})
    # a vocabulary of another size (another tokenizer's): said as such
    bigger = _config(setup, vocab_size=setup["tok"].vocab_size + 8)
    with pytest.raises(CheckpointError, match=r"vocab_size \d+ -> \d+\) \(the vocabulary"):
        _run(setup, out, **{**common, "model": bigger})
    # a schedule of one's own (a lambda, by name "<lambda>" like any other): by its rates
    with pytest.raises(
        CheckpointError, match=r"mlm_probability 0.15 -> '<.*<lambda>> rates 0.3 0.3"
    ):
        _run(setup, out, **{**common, "mlm_probability": lambda step: 0.3})
    # what does not: more steps (warned: the schedule is recomputed over them, so a
    # finished run's rate, decayed to 0, goes back up), another log_every, keep, save_every
    with pytest.warns(UserWarning, match=r"finished its 2 planned steps, where the rate had "
                      r"decayed to 0; continuing to steps=4 .* goes back up to 0.00025 at step "
                      "3"):  # fmt: skip
        _run(setup, out, **common, log_every=1, keep=1, save_every=1)
    assert [p.name for p in (out / "checkpoints").glob("step-*")] == ["step-0000004"]
    assert [r["step"] for r in _log(out)] == [2, 3, 4]


def test_a_schedule_of_ones_own_is_compared_by_its_rates(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    """Two lambdas were one option (both recorded as "<<lambda>>"), so a resumed run could
    mask at another rate unnoticed; now their rates at sampled steps tell them apart, and
    another lambda with the same rates resumes."""
    out = tmp_path / "run"
    base: dict[str, Any] = {"eval_data": None, "eval_every": 0, "steps": 4, "save_every": 2}
    _run(setup, out, **base, mlm_probability=lambda step: 0.2 if step < 3 else 0.1,
         log_every=1, keep=2)  # fmt: skip
    shutil.rmtree(out / "checkpoints" / "step-0000004")  # as if stopped after step 2
    with pytest.raises(CheckpointError, match=r"rates 0.2 0.2 0.2 0.1 .* -> '<.*<lambda>> "
                       r"rates 0.2 0.2 0.2 0.2"):  # fmt: skip
        _run(setup, out, **base, mlm_probability=lambda step: 0.2, resume=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (the same steps: no schedule warning)
        _run(setup, out, **base, mlm_probability=lambda s: 0.2 if s < 3 else 0.1,
             log_every=1, resume=True)  # fmt: skip
    assert [r["step"] for r in _log(out)] == [1, 2, 3, 4]


def test_a_resumed_run_removes_what_killed_writes_left(
    setup: dict[str, Any], whole: Path, tmp_path: Path
) -> None:
    """A kill while the log was rewritten, the curves drawn or the ``latest`` pointer
    moved left a temporary file that no later run removed; the resumed run does (and
    keeps the files that are not its own)."""
    out = tmp_path / "run"
    _run(setup, out)
    shutil.rmtree(out / "checkpoints" / "step-0000008")  # as if killed after step 6
    left = [out / ".log.jsonl.tmp-99999", out / ".curves.png.tmp-99999.png",
            out / "checkpoints" / ".latest.tmp-99999"]  # fmt: skip
    for path in left:
        path.write_text("half")
    (out / "notes.tmp-1").write_text("mine")
    _run(setup, out, resume=True)
    assert not any(p.exists() for p in left)
    assert (out / "notes.tmp-1").read_text() == "mine"
    (out / "notes.tmp-1").unlink()
    assert _files(out) == _files(whole)


def _resume_all(setup: dict[str, Any], out: Path, **kw: Any) -> Any:
    return _run(setup, out, resume=True, **kw)


def test_checkpoint_folders_edited_by_hand(setup: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "run"
    base = {"eval_data": None, "eval_every": 0}
    _run(setup, out, steps=4, **base)
    ckpts = out / "checkpoints"
    # an extra file is no matter; a later step's folder left by hand (not a checkpoint)
    # is never taken for the newest, and pruning keeps the checkpoint it just wrote
    (ckpts / "step-0000004" / "notes.txt").write_text("mine")
    (ckpts / "step-0009999").mkdir()
    _resume_all(setup, out, steps=6, keep=1, **base)
    assert checkpoint.latest(ckpts) == ckpts / "step-0000006"
    assert (ckpts / "step-0000006" / "state.json").is_file()
    # a missing weight file: a CheckpointError that names the folder, and the fix
    shutil.rmtree(ckpts / "step-0009999")
    (ckpts / "step-0000006" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"step-0000006 cannot be read.*delete this"):
        _resume_all(setup, out, steps=8, **base)
    # a truncated optimizer file, likewise
    shutil.rmtree(ckpts / "step-0000006")
    (ckpts / "latest").unlink()
    _run(setup, tmp_path / "again", steps=2, **base)
    state = tmp_path / "again" / "checkpoints" / "step-0000002" / "optimizer.safetensors"
    state.write_bytes(state.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        _resume_all(setup, tmp_path / "again", steps=4, **base)


def test_resuming_where_no_checkpoint_can_be_used_names_them(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    """resume=True where every checkpoint folder is unusable (no state.json, its weights
    cut short) started again at step 0, saying nothing when no log or model was there; it
    is a CheckpointError naming each folder, what is wrong with it, and the fix. A folder
    with no checkpoint at all still starts at step 0."""
    out = tmp_path / "run"
    base = {"eval_data": None, "eval_every": 0, "steps": 2}
    _run(setup, out, **base)
    ckpts = out / "checkpoints"
    (ckpts / "step-0000002" / "state.json").unlink()
    weights = ckpts / "step-0000002" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-50])
    (ckpts / "step-0000001").mkdir()  # a bare folder left by hand
    shutil.rmtree(out / "model")
    (out / "log.jsonl").unlink()
    with pytest.raises(CheckpointError) as e:
        _resume_all(setup, out, **base)
    said = str(e.value)
    assert "step-0000001: no state.json; no model.safetensors; no optimizer" in said
    assert "step-0000002: no state.json; model.safetensors is truncated or corrupt" in said
    assert "Restore their files" in said and "delete these folders" in said
    assert (ckpts / "step-0000002" / "optimizer.safetensors").is_file()  # nothing touched
    shutil.rmtree(ckpts)  # none at all: from step 0, as before
    assert _resume_all(setup, out, **base).history[-1]["step"] == 2


def test_a_damaged_latest_checkpoint_is_named_not_stepped_past_or_misread(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    """The newest checkpoint damaged on disk: without its state.json the resume went back
    to the one before, silently; a NaN weight (training never saves one) was blamed on the
    learning rate at the next step; a truncated weight file was not named; an optimizer
    file of another step was taken (Adam's bias correction then wrong). Each is now a
    CheckpointError that names it and the fix, and the fix it names resumes to the weights
    of the run that was never damaged."""
    from safetensors.torch import save_file

    from weights_io import load_file  # (a copy: the file is rewritten below)

    made = tmp_path / "made"
    base = {"eval_data": None, "eval_every": 0, "steps": 4}
    _run(setup, made, **base)

    def damaged(name: str, damage: Any) -> Path:
        out = tmp_path / name
        shutil.copytree(made, out)
        shutil.rmtree(out / "model")
        damage(out / "checkpoints" / "step-0000004")
        return out

    def nan(folder: Path) -> None:
        weights = load_file(str(folder / "model.safetensors"))
        first = sorted(weights)[0]
        weights[first][(0,) * weights[first].dim()] = float("nan")
        save_file(weights, str(folder / "model.safetensors"))

    cases = [
        ("state", lambda f: (f / "state.json").unlink(),
         r"checkpoints newer than step-0000002 that cannot be resumed: step-0000004: no "
         r"state\.json\. .*delete these folders to resume from step-0000002"),
        ("nan", nan, r"step-0000004 is damaged: its model\.safetensors holds NaN or infinite "
         r"values in \S+, which training never saves; resume from an earlier one"),
        ("cut", lambda f: (f / "model.safetensors").write_bytes(
            (f / "model.safetensors").read_bytes()[:4000]),
         r"step-0000004 cannot be read: its model\.safetensors is corrupt or truncated"),
        ("mixed", lambda f: shutil.copy(f.parent / "step-0000002" / "optimizer.safetensors",
                                        f / "optimizer.safetensors"),
         r"step-0000004 is at step 4 \(state\.json\) but its optimizer\.safetensors has "
         r"taken 2 steps: the files come from different checkpoints"),
    ]  # fmt: skip
    for name, damage, said in cases:
        out = damaged(name, damage)
        with pytest.raises(CheckpointError, match=said):
            _resume_all(setup, out, **base)
        shutil.rmtree(out / "checkpoints" / "step-0000004")  # the fix: from step 2
        _resume_all(setup, out, **base)
        final = out / "checkpoints" / "step-0000004"
        want = made / "checkpoints" / "step-0000004"
        for file in ("model.safetensors", "optimizer.safetensors"):
            assert (final / file).read_bytes() == (want / file).read_bytes(), (name, file)


def test_a_value_changed_on_disk_fails_the_checkpoints_checksum(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    """A weight changed on disk by a bit or two (a disk error) leaves a well-formed, finite
    file that every structure check takes: state.json records each file's size and SHA-256
    as written, and loading compares them, so the resume is a CheckpointError naming the
    file and the fix, not a run continued from weights it never had. A checkpoint written
    before the checksums (no ``files`` in state.json) still resumes, to the same weights."""
    import hashlib

    made = tmp_path / "made"
    base = {"eval_data": None, "eval_every": 0, "steps": 4}
    _run(setup, made, **base)
    final = made / "checkpoints" / "step-0000004"
    state = json.loads((final / "state.json").read_text())
    for name in ("model.safetensors", "optimizer.safetensors"):
        data = (final / name).read_bytes()  # the oracle: hashlib over the bytes on disk
        assert state["files"][name] == {"bytes": len(data),
                                        "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip

    for name in ("model.safetensors", "optimizer.safetensors"):
        out = tmp_path / f"flipped-{name}"
        shutil.copytree(made, out)
        shutil.rmtree(out / "model")
        target = out / "checkpoints" / "step-0000004" / name
        data = bytearray(target.read_bytes())
        data[-4] ^= 0x01  # the lowest mantissa bit of the file's last float32
        target.write_bytes(bytes(data))
        with pytest.raises(CheckpointError, match=(
            rf"step-0000004 is damaged: its {name} is not the file that was saved \(SHA-256 "
            r".*changed on disk.*delete this directory")):  # fmt: skip
            _resume_all(setup, out, **base)

    # no checksums recorded (an older checkpoint): loaded as before, to the same weights
    out = tmp_path / "older"
    shutil.copytree(made, out)
    shutil.rmtree(out / "model")
    shutil.rmtree(out / "checkpoints" / "step-0000004")
    (out / "checkpoints" / "latest").unlink()
    older = out / "checkpoints" / "step-0000002" / "state.json"
    saved = json.loads(older.read_text())
    del saved["files"]
    older.write_text(json.dumps(saved))
    _resume_all(setup, out, **base)
    for name in ("model.safetensors", "optimizer.safetensors"):
        assert (out / "checkpoints" / "step-0000004" / name).read_bytes() == (
            final / name).read_bytes()  # fmt: skip


def test_a_rank_the_checkpoint_did_not_have_gets_a_dropout_stream_of_its_own(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    """A one-process run resumed under two processes (grad_accum 2 -> 1): rank 1 does not
    take rank 0's generator, which would give both ranks the same dropout masks."""
    from lexforge.model import BertForPreTraining
    from lexforge.train.loop import _param_groups

    out = tmp_path / "run"
    _run(setup, out, steps=2, eval_data=None, eval_every=0)
    found = out / "checkpoints" / "step-0000002"
    states = []
    for rank in (0, 1, 1):
        net = BertForPreTraining(_config(setup))
        checkpoint.load(found, net, torch.optim.AdamW(_param_groups(net, 0.01)), rank=rank)
        states.append(torch.get_rng_state())
    assert not torch.equal(states[0], states[1])
    assert torch.equal(states[1], states[2])  # the same on every resume


def test_a_resumed_run_does_not_depend_on_the_thread_count(
    setup: dict[str, Any], whole: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run to step 4 on one thread, the rest (data and masks too) on two."""
    out = tmp_path / "run"
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        monkeypatch.setenv("LEXFORGE_NUM_THREADS", "1")
        _run(setup, out, keep=4)
        for step in ("step-0000006", "step-0000008"):
            shutil.rmtree(out / "checkpoints" / step)
        (out / "checkpoints" / "latest").unlink()
        assert checkpoint.latest(out / "checkpoints") == out / "checkpoints" / "step-0000004"
        torch.set_num_threads(2)
        monkeypatch.setenv("LEXFORGE_NUM_THREADS", "2")
        _run(setup, out, resume=True)
    finally:
        torch.set_num_threads(threads)
    for name in ("checkpoints/step-0000008/model.safetensors", "model/model.safetensors"):
        assert (out / name).read_bytes() == (whole / name).read_bytes()
    assert _log(out) == _log(whole)


# one rank of a two-process job started without an agent (as srun starts them: no
# torchrun to end the others when one fails); rank 0's disk is full at its first save
_RANK = """
import errno, sys
import safetensors.torch as st
from lexforge.errors import CheckpointError
from lexforge.model import BertConfig
from lexforge.train import pretrain

def full(tensors, path, *args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", path)

if sys.argv[2] == "0" and sys.argv[3] == "save":
    st.save_file = full
if sys.argv[2] == "0" and sys.argv[3] == "export":
    from lexforge.model.pretrained import Pretrained
    Pretrained.save_pretrained = full
config = BertConfig(vocab_size={vocab}, **{small})
try:
    pretrain({shards!r}, sys.argv[1], model=config, steps=4, batch_size=4, max_seq_len=24,
             save_every=2, progress=False)
except CheckpointError as e:
    print("CheckpointError:", e)
    sys.exit(3)
"""


@pytest.mark.parametrize("fails", ["save", "export"])
def test_a_failed_save_under_ddp_stops_every_rank(
    setup: dict[str, Any], tmp_path: Path, fails: str
) -> None:
    """Rank 0 alone writes checkpoints and the exported model: when it cannot, the other
    ranks are told and stop with a CheckpointError too (they used to crash on gloo's lost
    connection, or wait at the barrier, while rank 0 died of a bare OSError)."""
    import socket

    script = tmp_path / "rank.py"
    script.write_text(_RANK.format(
        vocab=setup["tok"].vocab_size, small=SMALL, shards=str(setup["shards"].directory)
    ))  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in (0, 1):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "RANK": str(rank), "WORLD_SIZE": "2",
               "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port)}  # fmt: skip
        argv = [sys.executable, script, tmp_path / "run", str(rank), fails]
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True))
    try:
        said = [p.communicate(timeout=90)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [3, 3], said
    if fails == "save":
        assert "step 2 could not be written" in said[0] and "No space left" in said[0]
        assert "rank 0 could not write the checkpoint of step 2" in said[1]
        assert not list((tmp_path / "run" / "checkpoints").iterdir())
        return
    assert "could not export the trained model" in said[0] and "No space left" in said[0]
    assert "could not export the trained model" in said[1]
    assert not (tmp_path / "run" / "model").exists()
    # one process resumes the finished run from its last checkpoint, and exports it
    config = BertConfig(vocab_size=setup["tok"].vocab_size, **SMALL)
    pretrain(setup["shards"].directory, tmp_path / "run", model=config, steps=4, batch_size=4,
             max_seq_len=24, save_every=2, grad_accum=2, progress=False, resume=True)  # fmt: skip
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()


def test_shards_rebuilt_from_an_edited_corpus_are_not_the_runs(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    """The shards' fingerprint samples their first and last 4,096 tokens: one word changed
    in the middle of a longer corpus, the shards rebuilt in place, and the run resumed on
    them as its own. The sha256 of the texts the manifest records tells them apart."""
    rng = random.Random(1)
    sentences = [" ".join(rng.choice(WORDS) for _ in range(8)) + "." for _ in range(1500)]
    words = "\n\n".join("\n".join(sentences[i : i + 3]) for i in range(0, 1500, 3)).split(" ")
    tok = setup["tok"]
    assert len(tok.encode("cat")) == len(tok.encode("sat")) == 3  # ([CLS] piece [SEP])
    middle = next(i for i in range(len(words) // 2, len(words)) if words[i] == "cat")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(" ".join(words) + "\n", encoding="utf-8")
    shards = lf.build_shards(corpus, tmp_path / "shards", tok, progress=False)
    assert shards.n_tokens > 3 * 4096
    base: dict[str, Any] = {"eval_data": None, "eval_every": 0, "steps": 4}
    pretrain(shards.directory, tmp_path / "run", model=_config(setup), **{**RUN, **base})
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "step-0000004")
    words[middle] = "sat"
    corpus.write_text(" ".join(words) + "\n", encoding="utf-8")
    shutil.rmtree(tmp_path / "shards")
    rebuilt = lf.build_shards(corpus, tmp_path / "shards", tok, progress=False)
    assert rebuilt.fingerprint() == shards.fingerprint()  # (what the run could check before)
    with pytest.raises(CheckpointError, match="the texts they were cut from have changed"):
        pretrain(rebuilt.directory, tmp_path / "run", model=_config(setup), resume=True,
                 **{**RUN, **base})  # fmt: skip
