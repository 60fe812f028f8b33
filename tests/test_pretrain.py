"""``lf.pretrain``: it learns (against unigram baselines computed from the corpus), a run
killed with SIGKILL and resumed ends with the same weights as one never stopped, two
torchrun processes (gloo) follow the same loss trajectory as one process with the same
global batch, and bad setups fail clearly."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

import lexforge as lf  # noqa: E402
from lexforge.errors import CheckpointError, ConfigError  # noqa: E402
from lexforge.model import BertConfig, BertForMaskedLM  # noqa: E402
from lexforge.train import pretrain  # noqa: E402

SMALL = {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "intermediate_size": 256,
         "max_position_embeddings": 64}  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, wiki_text: str) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("pretrain")
    docs = wiki_text.split("\n\n")
    (root / "train.txt").write_text("\n\n".join(docs[:2500]), encoding="utf-8")
    (root / "eval.txt").write_text("\n\n".join(docs[2500:2700]), encoding="utf-8")
    tok = lf.Tokenizer.train_wordpiece(
        files=[root / "train.txt"], vocab_size=300, show_progress=False
    )
    train = lf.build_shards(root / "train.txt", root / "train", tok, progress=False)
    held_out = lf.build_shards(root / "eval.txt", root / "eval", tok, progress=False)
    return {"root": root, "tok": tok, "train": train, "eval": held_out}


def _config(tok: Any, **kw: Any) -> BertConfig:
    return BertConfig(vocab_size=tok.vocab_size, **{**SMALL, **kw})


def test_pretraining_beats_unigram_baselines(corpus: dict[str, Any], tmp_path: Path) -> None:
    tok = corpus["tok"]
    config = _config(tok, hidden_size=128, num_heads=4, intermediate_size=512)
    result = pretrain(
        corpus["train"], tmp_path, model=config, eval_data=corpus["eval"], steps=300,
        batch_size=32, max_seq_len=64, lr=1e-3, log_every=50, eval_every=300, eval_batches=8,
        progress=False,
    )  # fmt: skip
    final = [r for r in result.history if r["split"] == "eval"][-1]
    # baselines on the held-out text from the training text's unigram counts: predicting
    # every masked token from that distribution (its cross-entropy, in nats), or as the
    # training text's most frequent token
    train, held_out = _unigrams(corpus["train"], tok), _unigrams(corpus["eval"], tok)
    n_train, n_held = sum(train.values()) + tok.vocab_size, sum(held_out.values())
    unigram = -sum(c / n_held * math.log((train[t] + 1) / n_train) for t, c in held_out.items())
    most_frequent = held_out[max(train, key=train.__getitem__)] / n_held
    assert final["mlm_loss"] < unigram - 0.15, (final, unigram)
    assert final["mlm_accuracy"] > most_frequent + 0.05, (final, most_frequent)
    assert 0.0 < final["nsp_accuracy"] <= 1.0
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["split"] == "train"] == [50, 100, 150, 200, 250, 300]
    assert all(r["tokens_per_s"] > 0 for r in log if r["split"] == "train")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    transformers = pytest.importorskip("transformers")
    hf = transformers.BertForPreTraining.from_pretrained(str(tmp_path / "model"))
    assert hf.config.vocab_size == tok.vocab_size


def _unigrams(shards: Any, tok: Any) -> Counter[int]:
    specials = set(tok.special_tokens.values())
    tokens = (int(t) for doc in shards.documents() for sentence in doc for t in sentence)
    return Counter(t for t in tokens if t not in specials)


# two processes of a torchrun job on this machine (gloo); append the script and its arguments
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def _one_thread() -> dict[str, str]:
    """The environment, each process on one thread (two processes share two cores)."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _script(path: Path, template: str, corpus: dict[str, Any]) -> Path:
    """``template`` filled with the corpus's vocabulary size, shards and held-out shards
    (and the small config), written to ``path``."""
    path.write_text(template.format(
        vocab=corpus["tok"].vocab_size, small=SMALL, shards=str(corpus["train"].directory),
        held_out=str(corpus["eval"].directory),
    ))  # fmt: skip
    return path


_RUN = """
import sys
from lexforge.model import BertConfig
from lexforge.train import pretrain
config = BertConfig(vocab_size={vocab}, **{small})
pretrain({shards!r}, sys.argv[1], model=config, steps=24, batch_size=8, max_seq_len=64,
         save_every=4, keep=2, log_every=4, progress=False, resume=len(sys.argv) > 2,
         seed=3)
"""


def test_kill_and_resume_gives_the_same_weights(corpus: dict[str, Any], tmp_path: Path) -> None:
    script = _script(tmp_path / "run.py", _RUN, corpus)
    env = _one_thread()
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    subprocess.run([sys.executable, script, whole], check=True, env=env)
    proc = subprocess.Popen([sys.executable, script, broken], env=env)
    deadline = time.monotonic() + 120
    while not (broken / "checkpoints" / "step-0000008").is_dir():
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (broken / "checkpoints" / "step-0000024").exists()
    subprocess.run([sys.executable, script, broken, "--resume"], check=True, env=env)
    a = (whole / "checkpoints" / "step-0000024" / "model.safetensors").read_bytes()
    b = (broken / "checkpoints" / "step-0000024" / "model.safetensors").read_bytes()
    assert a == b
    kept = sorted(p.name for p in (broken / "checkpoints").glob("step-*"))
    assert kept == ["step-0000020", "step-0000024"]


_LONG = """
import sys
from lexforge.model import BertConfig
from lexforge.train import pretrain
config = BertConfig(vocab_size={vocab}, **{small})
pretrain({shards!r}, sys.argv[1], model=config, steps=int(sys.argv[2]), batch_size=8,
         max_seq_len=64, save_every=0, keep=2, log_every=1, progress=False,
         resume=len(sys.argv) > 3, seed=5)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_saves_the_step_it_stops_after_and_resumes_the_same(
    corpus: dict[str, Any], tmp_path: Path, sig: int
) -> None:
    """Ctrl-C, or SIGTERM (how batch schedulers and torchrun stop a job; it killed the run
    with nothing saved), ends the step under way and saves it; the resumed run ends with
    the weights of the run that never stopped."""
    # no periodic checkpoints: without the one Ctrl-C writes, the run would start over
    script = _script(tmp_path / "run.py", _LONG, corpus)
    env = _one_thread()
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    proc = subprocess.Popen(
        [sys.executable, script, broken, "400"], env=env, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    log = broken / "log.jsonl"
    while not (log.is_file() and log.read_text().count("\n") >= 3):
        assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    saved = sorted((broken / "checkpoints").glob("step-*"))
    assert len(saved) == 1, (saved, err)
    stopped = int(saved[0].name.removeprefix("step-"))
    assert 3 <= stopped < 400
    assert f"Stopped: stopped after step {stopped}; its checkpoint is saved" in err
    again = "Ctrl-C again" if sig == signal.SIGINT else "another SIGTERM or Ctrl-C"
    assert f"({again} stops at once; resume=True (--resume) then continues from " in err
    subprocess.run([sys.executable, script, broken, "400", "--resume"], check=True, env=env)
    subprocess.run([sys.executable, script, whole, "400"], check=True, env=env)
    a = (whole / "checkpoints" / "step-0000400" / "model.safetensors").read_bytes()
    b = (broken / "checkpoints" / "step-0000400" / "model.safetensors").read_bytes()
    assert a == b


def test_a_first_ctrl_c_is_recorded_a_second_one_raises() -> None:
    from lexforge.train._interrupt import StopRequest

    with StopRequest("finishing") as stop:
        assert not stop.asked
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # (the handler runs between bytecodes)
        assert stop.asked
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # a handler of the caller's own is left in place
    seen: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda n, f: seen.append(n))
    try:
        with StopRequest("finishing") as stop:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        assert seen == [signal.SIGINT] and not stop.asked
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


_DDP = """
import json, sys
from lexforge.model import BertConfig
from lexforge.train import pretrain
config = BertConfig(vocab_size={vocab}, hidden_dropout=0.0, attention_dropout=0.0, **{small})
result = pretrain({shards!r}, sys.argv[1], model=config, steps=6, batch_size=8,
                  grad_accum=int(sys.argv[2]), max_seq_len=64, log_every=1, progress=False,
                  eval_data={held_out!r}, eval_every=3, eval_batches=3)
"""


def test_ddp_matches_one_process_with_the_same_global_batch(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    script = _script(tmp_path / "ddp.py", _DDP, corpus)
    subprocess.run([sys.executable, script, tmp_path / "one", "2"], check=True, env=_one_thread())
    subprocess.run([*TORCHRUN, str(script), str(tmp_path / "two"), "1"], check=True,
                   env=_one_thread())  # fmt: skip

    def losses(run: str, split: str = "train") -> list[float]:
        lines = map(json.loads, (tmp_path / run / "log.jsonl").read_text().splitlines())
        return [x["mlm_loss"] + x["nsp_loss"] + x["nsp_accuracy"] for x in lines
                if x["split"] == split]  # fmt: skip

    one, two = losses("one"), losses("two")
    assert len(one) == len(two) == 6
    assert max(abs(a - b) for a, b in zip(one, two, strict=True)) < 1e-4, (one, two)
    assert one[-1] < one[0]
    # the held-out set is the same for any number of processes (3 batches over 2 ranks)
    one, two = losses("one", "eval"), losses("two", "eval")
    assert len(one) == len(two) == 2
    assert max(abs(a - b) for a, b in zip(one, two, strict=True)) < 1e-4, (one, two)


_DROPOUT = """
import sys
from lexforge.model import BertConfig
from lexforge.train import pretrain
config = BertConfig(vocab_size={vocab}, **{small})
pretrain({shards!r}, sys.argv[1], model=config, steps=6, batch_size=8, max_seq_len=64,
         save_every=3, keep=2, log_every=1, progress=False, resume=True, seed=5)
"""


def test_ddp_ranks_draw_their_own_dropout_and_resume_it(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    """Under torchrun each rank has a dropout stream of its own, and a resumed run gives
    every rank back its own: steps 4-6 trained again from the step-3 checkpoint end with
    the weights of the run that never stopped (on the CPU, bit for bit)."""
    from safetensors.torch import load_file

    script = _script(tmp_path / "dropout.py", _DROPOUT, corpus)
    torchrun = [*TORCHRUN, str(script), str(tmp_path / "run")]
    subprocess.run(torchrun, check=True, env=_one_thread())
    checkpoints = tmp_path / "run" / "checkpoints"
    rng = load_file(str(checkpoints / "step-0000003" / "optimizer.safetensors"))
    assert not torch.equal(rng["rng.cpu"], rng["rng.cpu.rank1"])  # two streams
    whole = (checkpoints / "step-0000006" / "model.safetensors").read_bytes()
    shutil.rmtree(checkpoints / "step-0000006")
    subprocess.run(torchrun, check=True, env=_one_thread())  # resumes at step 3
    assert (checkpoints / "step-0000006" / "model.safetensors").read_bytes() == whole


_FSDP = """
import sys
from lexforge.model import BertConfig
from lexforge.train import pretrain
config = BertConfig(vocab_size={vocab}, hidden_dropout=0.0, attention_dropout=0.0, **{small})
out, accum, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pretrain({shards!r}, out, model=config, steps=steps, batch_size=8, grad_accum=accum,
         max_seq_len=64, log_every=1, save_every=3, fsdp=True, resume=steps > 6,
         progress=False)
"""


@pytest.mark.skipif(
    tuple(int(x) for x in torch.__version__.split(".")[:2]) < (2, 6),
    reason="FSDP needs torch.distributed.fsdp.fully_shard, public from torch 2.6",
)
def test_fsdp_matches_one_process_and_resumes(corpus: dict[str, Any], tmp_path: Path) -> None:
    """FSDP over two gloo processes follows one process's loss trajectory, writes the same
    (full, unsharded) checkpoints and export, and resumes from its checkpoints."""
    from safetensors.torch import load_file

    script = _script(tmp_path / "fsdp.py", _FSDP, corpus)
    env = _one_thread()
    torchrun = [*TORCHRUN, str(script)]
    subprocess.run([sys.executable, script, tmp_path / "one", "2", "6"], check=True, env=env)
    subprocess.run([*torchrun, str(tmp_path / "two"), "1", "6"], check=True, env=env)

    def losses(run: str) -> list[float]:
        lines = (tmp_path / run / "log.jsonl").read_text().splitlines()
        return [json.loads(x)["mlm_loss"] + json.loads(x)["nsp_loss"] for x in lines]

    one, two = losses("one"), losses("two")
    assert len(one) == len(two) == 6
    assert max(abs(a - b) for a, b in zip(one, two, strict=True)) < 1e-4, (one, two)
    step = "checkpoints/step-0000006"
    a = load_file(str(tmp_path / "one" / step / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / step / "model.safetensors"))
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4
    exported = lf.model.BertForPreTraining.from_pretrained(tmp_path / "two" / "model")
    assert torch.equal(
        exported.state_dict()["bert.embeddings.word.weight"], b["bert.embeddings.word.weight"]
    )
    subprocess.run([*torchrun, str(tmp_path / "two"), "1", "8"], check=True, env=env)
    subprocess.run([sys.executable, script, tmp_path / "one", "2", "8"], check=True, env=env)
    one, two = losses("one"), losses("two")
    assert len(one) == len(two) == 8
    assert max(abs(a - b) for a, b in zip(one, two, strict=True)) < 1e-4, (one, two)
    assert (tmp_path / "two" / "checkpoints" / "step-0000008" / "state.json").is_file()


@pytest.mark.parametrize("mode", ["compile", "cuda_graphs"])
def test_compiled_training_follows_the_eager_one(
    corpus: dict[str, Any], tmp_path: Path, mode: str
) -> None:
    """``compile=True`` (torch.compile of the model, inductor on the CPU) and
    ``cuda_graphs=True`` (static shapes: rows padded to max_seq_len, MLM positions padded
    to a fixed count) train the same function: their loss trajectories stay within
    rounding of the eager run's. Static shapes compile once: no recompilation."""
    config = _config(corpus["tok"], hidden_dropout=0.0, attention_dropout=0.0)
    runs = []
    for compiled in (False, True):
        torch._dynamo.reset()
        static = compiled and mode == "cuda_graphs"
        said = pytest.warns(UserWarning, match="cuda_graphs=True on cpu: no CUDA graphs there")
        with (
            torch._dynamo.config.patch(error_on_recompile=static),
            said if static else contextlib.nullcontext(),
        ):
            result = pretrain(
                corpus["train"], tmp_path / str(compiled), model=config, steps=4,
                batch_size=8, max_seq_len=64, log_every=1, progress=False, **{mode: compiled},
            )  # fmt: skip
        runs.append([r["mlm_loss"] for r in result.history if r["split"] == "train"])
        assert result.model.bert.unpad is None  # the default path again, for what follows
    eager, compiled = runs
    assert len(eager) == len(compiled) == 4
    for a, b in zip(eager, compiled, strict=True):
        assert abs(a - b) <= 1e-3 * abs(a), (eager, compiled)


def test_activation_checkpointing_trains_the_same_weights(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    """``gradient_checkpointing=True`` recomputes the layers in the backward: with dropout
    on, the run's weights equal a plain run's bit for bit (and it may change on resume)."""
    config = _config(corpus["tok"])
    weights = []
    for on in (False, True):
        result = pretrain(
            corpus["train"], tmp_path / str(on), model=config, steps=3, batch_size=8,
            max_seq_len=64, progress=False, gradient_checkpointing=on,
        )  # fmt: skip
        assert result.model.is_gradient_checkpointing is on
        weights.append({k: v.clone() for k, v in result.model.state_dict().items()})
    plain, recomputed = weights
    assert all(torch.equal(plain[k], recomputed[k]) for k in plain)
    again = pretrain(
        corpus["train"], tmp_path / "False", model=config, steps=4, batch_size=8,
        max_seq_len=64, progress=False, gradient_checkpointing=True, resume=True,
    )  # fmt: skip
    assert again.model.is_gradient_checkpointing
    with pytest.raises(ConfigError, match="gradient_checkpointing must be True or False"):
        pretrain(corpus["train"], tmp_path / "x", model=config, gradient_checkpointing="yes")


def test_bad_setups(
    corpus: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tok = corpus["tok"]
    with monkeypatch.context() as env:
        # torchrun's environment for rank 0 of 2 (refused before any group is joined)
        for name, value in [("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_ADDR", "127.0.0.1"),
                            ("MASTER_PORT", "29500")]:  # fmt: skip
            env.setenv(name, value)
        with pytest.raises(ConfigError, match="cuda_graphs is for one process"):
            pretrain(corpus["train"], tmp_path / "g", model=_config(tok), cuda_graphs=True)
    with pytest.raises(ConfigError, match="cuda_graphs must be True or False"):
        pretrain(corpus["train"], tmp_path / "g", model=_config(tok), cuda_graphs="yes")
    with pytest.raises(ConfigError, match="vocab_size"):
        pretrain(corpus["train"], tmp_path / "a", model=BertConfig(vocab_size=50, **SMALL), steps=1)
    with pytest.raises(ConfigError, match="max_position_embeddings"):
        pretrain(corpus["train"], tmp_path / "b", model=_config(tok), steps=1, max_seq_len=128)
    with pytest.raises(ConfigError, match="batch_size"):
        pretrain(corpus["train"], tmp_path / "c", model=_config(tok), steps=1, batch_size=0)
    run = tmp_path / "d"
    pretrain(corpus["train"], run, model=_config(tok), steps=2, batch_size=4, max_seq_len=64,
             save_every=2, progress=False)  # fmt: skip
    with pytest.raises(ConfigError, match="resume=True"):
        pretrain(corpus["train"], run, model=_config(tok), steps=4, max_seq_len=64)
    # weights get the usual file mode, as every other file lexforge writes (safetensors
    # itself writes them owner-only)
    umask = os.umask(0)
    os.umask(umask)
    step = run / "checkpoints" / "step-0000002"
    for written in (step / "model.safetensors", step / "optimizer.safetensors",
                    run / "model" / "model.safetensors"):  # fmt: skip
        assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask, written
    with pytest.raises(CheckpointError, match="another model config"):
        pretrain(corpus["train"], run, model=_config(tok, num_layers=1), steps=4,
                 max_seq_len=64, resume=True)  # fmt: skip
    (run / "checkpoints" / "step-0000002" / "optimizer.safetensors").write_bytes(b"\0" * 10)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        pretrain(corpus["train"], run, model=_config(tok), steps=4, max_seq_len=64, resume=True)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n")
    with pytest.raises(lf.CorpusError):
        lf.build_shards(empty, tmp_path / "empty", tok)
    small = {"model": _config(tok), "steps": 1, "max_seq_len": 64, "progress": False}
    for bad in ({"eval_batches": 0}, {"save_every": -1}, {"device": "no-such-device"},
                {"model": _config(tok, type_vocab_size=1)}, {"learning_rate": 1e-3},
                {"lr": float("inf")}, {"lr": float("nan")}, {"weight_decay": float("nan")},
                {"warmup": float("inf")}, {"eps": 0.0}, {"clip": float("nan")},
                {"betas": (0.9, 1.5)}, {"lr": "1e-3"}, {"warmup": 5}, {"betas": 0.9},
                {"warmup": 1.5}, {"seed": 2**64}, {"seed": "1"}, {"seed": 1.0}, {"steps": 4.0},
                {"grad_accum": 1.0}, {"keep": 1.5}, {"keep": -1}, {"save_every": 1.5}):  # fmt: skip
        with pytest.raises(ConfigError):
            pretrain(corpus["train"], tmp_path / "e", **{**small, **bad})
    # True is no rate (it is the int 1): refused with the options, before the corpus is
    # read and the run's folder made (it was refused by the masker at the first step)
    from lexforge.train.pretrain_options import PretrainOptions

    with pytest.raises(ConfigError, match="mlm_probability must be in"):
        PretrainOptions(mlm_probability=True)
    with pytest.raises(ConfigError, match="mlm_probability must be in"):
        pretrain(corpus["train"], tmp_path / "t", **{**small, "mlm_probability": True})
    assert not (tmp_path / "t").exists()
    # a run whose loss stops being a number stops there, with nothing saved
    with pytest.raises(lf.TrainingDivergedError, match="by step 4; nothing was saved"):
        pretrain(corpus["train"], tmp_path / "f", model=_config(tok), steps=8, lr=1e30,
                 warmup=0, batch_size=4, max_seq_len=64, log_every=100, save_every=4,
                 progress=False)  # fmt: skip
    assert not (tmp_path / "f" / "model").exists()
    assert not (tmp_path / "f" / "checkpoints").exists() or not any(
        (tmp_path / "f" / "checkpoints").glob("step-*")
    )
    # one whose last update overflows the weights (its loss, taken before it, was finite)
    # stops before they are saved or exported
    with pytest.raises(lf.TrainingDivergedError, match="NaN or infinite values after step 1"):
        pretrain(corpus["train"], tmp_path / "g", model=_config(tok), steps=1, lr=1e39,
                 warmup=0, batch_size=4, max_seq_len=64, progress=False)  # fmt: skip
    assert not (tmp_path / "g" / "model").exists()
    assert not any((tmp_path / "g").glob("checkpoints/step-*"))
    # one whose last update leaves the weights finite but their outputs not (the export's
    # logits were NaN, though its own held-out loss was logged as NaN)
    for name, extra, said in (("h", {}, "non-finite loss on its last batch"),
                              ("i", {"steps": 3, "eval_every": 1, "save_every": 0},
                               "held-out mlm_loss is nan after step 1")):  # fmt: skip
        with pytest.raises(lf.TrainingDivergedError, match=said):
            pretrain(corpus["train"], tmp_path / name, **{
                "model": _config(tok), "steps": 1, "lr": 1e6, "warmup": 0, "batch_size": 4,
                "max_seq_len": 64, "progress": False, "log_every": 100,
                "eval_data": corpus["train"], "eval_batches": 1, **extra})  # fmt: skip
        assert not (tmp_path / name / "model").exists()
        assert not any((tmp_path / name).glob("checkpoints/step-*"))
        # the log stays JSON (its held-out NaN line was written before the stop)
        log = (tmp_path / name / "log.jsonl").read_text(encoding="utf-8")
        assert "NaN" not in log and "Infinity" not in log, log
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            pretrain(corpus["train"], tmp_path / "e", **{**small, "device": "cuda"})


def test_resume_refuses_other_options_and_cuts_the_log(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    tok = corpus["tok"]
    run = tmp_path / "run"
    common = {"model": _config(tok), "batch_size": 4, "max_seq_len": 64, "save_every": 2,
              "log_every": 1, "progress": False}  # fmt: skip
    pretrain(corpus["train"], run, steps=4, **common)
    # as if killed after step 4 was logged but before its checkpoint was written
    shutil.rmtree(run / "checkpoints" / "step-0000004")
    with pytest.raises(CheckpointError, match=r"lr 0\.0005 -> 0\.01"):
        pretrain(corpus["train"], run, steps=6, resume=True, lr=1e-2, **common)
    with pytest.raises(CheckpointError, match="objective 'nsp' -> 'sop'"):
        pretrain(corpus["train"], run, steps=6, resume=True, objective="sop", **common)
    # options given as NumPy integers are recorded by value, so a change is still seen
    numpy_run = tmp_path / "numpy"
    pretrain(corpus["train"], numpy_run, steps=2, **{**common, "batch_size": np.int64(4)},
             seed=np.int64(1))  # fmt: skip
    with pytest.raises(CheckpointError, match="seed 1 -> 99"):
        pretrain(corpus["train"], numpy_run, steps=4, resume=True, seed=99, **common)
    pretrain(corpus["train"], numpy_run, steps=4, resume=True, seed=1, **common)
    with pytest.raises(CheckpointError, match="other shards"):
        pretrain(corpus["eval"], run, steps=6, resume=True, **common)  # same tokenizer
    moved = tmp_path / "moved"  # the same shards elsewhere resume
    shutil.copytree(corpus["train"].directory, moved)
    assert lf.ShardSet(moved).fingerprint() == corpus["train"].fingerprint()
    pretrain(moved, run, steps=6, resume=True, **{**common, "save_every": 3})
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    # damaged contents of a checkpoint that reads fine: a CheckpointError, never a bare one
    state_file = run / "checkpoints" / "step-0000006" / "state.json"
    state = json.loads(state_file.read_text())
    for damaged in ([1, 2], {**state, "param_groups": "x"}, {k: v for k, v in state.items()
                                                            if k != "step"},
                    {**state, "step": -1}, {**state, "step": 2.5}):  # fmt: skip
        state_file.write_text(json.dumps(damaged))
        with pytest.raises(CheckpointError):
            pretrain(corpus["train"], run, steps=8, resume=True, **common)
    # an optimizer setting of the wrong kind (the scheduler's initial_lr among them) is
    # named, not left to fail inside torch
    group = state["param_groups"][0]
    for edit in ({"initial_lr": None}, {"lr": "0.1"}, {"betas": [0.9]}, {"eps": float("nan")},
                 {k: v for k, v in group.items() if k != "initial_lr"}):  # fmt: skip
        changed = {**group, **edit} if "weight_decay" not in edit else edit
        damaged = {**state, "param_groups": [changed, *state["param_groups"][1:]]}
        state_file.write_text(json.dumps(damaged))
        with pytest.raises(CheckpointError, match="the optimizer's group 0 has"):
            pretrain(corpus["train"], run, steps=8, resume=True, **common)
    state_file.write_text(json.dumps(state))
    # save_every=0 still saves the last step: a finished run is never started over
    fresh = tmp_path / "fresh"
    pretrain(corpus["train"], fresh, steps=2, **{**common, "save_every": 0})
    assert [p.name for p in (fresh / "checkpoints").glob("step-*")] == ["step-0000002"]
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        pretrain(corpus["train"], fresh, steps=2, **{**common, "save_every": 0})
    # a run killed before its first checkpoint left a log: refused before the corpus is
    # read, or started over, with a warning, on resume
    shutil.rmtree(fresh / "checkpoints")
    shutil.rmtree(fresh / "model")
    with pytest.raises(ConfigError, match=r"earlier run .* no checkpoint"):
        pretrain(tmp_path / "no-such-corpus.txt", fresh, steps=2, **{**common, "save_every": 0})
    with pytest.warns(UserWarning, match="no checkpoint to resume from: training starts at"):
        pretrain(corpus["train"], fresh, steps=2, resume=True, **{**common, "save_every": 0})
    steps = [json.loads(line)["step"] for line in (fresh / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
    # a run that failed before its first record (an empty log) is no earlier run
    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / "log.jsonl").touch()
    pretrain(corpus["train"], failed, steps=2, **common)
    # keep=0 writes none (benchmarks), and the model still comes out
    bare = tmp_path / "bare"
    pretrain(corpus["train"], bare, steps=2, keep=0, **common)
    assert not list((bare / "checkpoints").glob("step-*")) and (bare / "model").is_dir()


def test_resume_follows_the_global_batch_and_the_checkpoint_files_stay_sound(
    corpus: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resumed run keeps grad_accum x processes (the data position counts in it);
    leftovers of killed writes go; step numbers past seven digits sort as numbers; an
    optimizer state that lacks moments is refused; a sharded run's class name (FSDP's
    subclass) resumes unsharded; the log is replaced, never truncated in place."""
    from safetensors.torch import load_file, save_file

    from lexforge.model import BertForPreTraining
    from lexforge.train import checkpoint
    from lexforge.train.loop import _param_groups
    from lexforge.train.pretrain_log import _Log

    tok = corpus["tok"]
    run = tmp_path / "run"
    common = {"model": _config(tok), "batch_size": 4, "max_seq_len": 64, "save_every": 2,
              "log_every": 1, "progress": False}  # fmt: skip
    pretrain(corpus["train"], run, steps=2, grad_accum=2, **common)
    last = run / "checkpoints" / "step-0000002"
    state = json.loads((last / "state.json").read_text())
    assert state["data"]["world_size"] == 1
    with pytest.raises(CheckpointError, match=r"grad_accum 2 x 1 processes.*grad_accum 1 x 1"):
        pretrain(corpus["train"], run, steps=4, grad_accum=1, resume=True, **common)
    # as if the run had been two processes with grad_accum 1: one process with 2 resumes it
    state["data"]["world_size"], state["options"]["grad_accum"] = 2, 1
    (last / "state.json").write_text(json.dumps(state))
    pretrain(corpus["train"], run, steps=3, grad_accum=2, resume=True, **common)
    assert json.loads((run / "checkpoints" / "step-0000003" / "state.json").read_text())[
        "options"]["grad_accum"] == 2  # fmt: skip

    # the class a sharded run records (FSDP's subclass, before the fix) loads unsharded
    state["model_class"] = "FSDPBertForPreTraining"
    (last / "state.json").write_text(json.dumps(state))
    net = BertForPreTraining(_config(tok))
    optimizer = torch.optim.AdamW(_param_groups(net, 0.01))
    assert checkpoint.load(last, net, optimizer)["step"] == 2
    fsdp_module = type("FSDPModule", (), {"__module__": "torch.distributed.fsdp"})
    sharded = type("FSDPBertForPreTraining", (fsdp_module, BertForPreTraining), {})
    sharded.__module__ = "torch.distributed.fsdp._fully_shard._fully_shard"
    assert checkpoint._class_name(sharded(_config(tok))) == "BertForPreTraining"

    # an optimizer state without one parameter's second moment, or without any state
    # (copies: older safetensors map the file, which the writes below replace)
    tensors = {k: v.clone() for k, v in load_file(str(last / "optimizer.safetensors")).items()}
    for drop in ("state.3.exp_avg_sq", "state."):
        kept = {k: v for k, v in tensors.items() if not k.startswith(drop)}
        save_file(kept, str(last / "optimizer.safetensors"))
        with pytest.raises(CheckpointError, match="optimizer state is incomplete"):
            checkpoint.load(last, BertForPreTraining(_config(tok)), optimizer)
    save_file(tensors, str(last / "optimizer.safetensors"))

    # a killed write's temporary directory goes with the next save; 10,000,000 > 9,999,999
    root = tmp_path / "ckpt"
    (root / ".step-0000001.tmp-99999").mkdir(parents=True)
    for step in (9_999_999, 10_000_000):
        checkpoint.save(root, step, net, optimizer, {}, keep=1)
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-10000000"]
    (root / "latest").unlink()
    found = checkpoint.latest(root)
    assert found is not None and found.name == "step-10000000"

    # a kill while the log is cut back to the checkpoint's step loses nothing
    before = (run / "log.jsonl").read_text()

    def killed(self: Path, *args: Any, **kwargs: Any) -> None:
        self.open("w").close()  # write_text truncates first; then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", killed)
    with pytest.raises(KeyboardInterrupt):
        _Log(run, enabled=True, progress=False, total=4, start=2)
    monkeypatch.undo()
    assert (run / "log.jsonl").read_text() == before


def test_pretrain_checks_its_inputs_against_the_shards(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    from lexforge.masking import linear_schedule

    tok = corpus["tok"]
    # another tokenizer, [PAD] not at id 0: the preset pads with its id; a config must agree
    root = corpus["root"]
    other = lf.Tokenizer.train_wordpiece(
        files=[root / "train.txt"], vocab_size=300, show_progress=False,
        special_tokens=["[UNK]", "[CLS]", "[SEP]", "[MASK]", "[PAD]"],
    )  # fmt: skip
    assert other.token_to_id("[PAD]") == 4
    shards = lf.build_shards(root / "eval.txt", tmp_path / "other", other, progress=False)
    result = pretrain(shards, tmp_path / "p", model="tiny", steps=1, batch_size=2,
                      max_seq_len=32, progress=False)  # fmt: skip
    assert result.model.config.pad_token_id == 4
    assert json.loads((tmp_path / "p" / "model" / "config.json").read_text())["pad_token_id"] == 4
    with pytest.raises(ConfigError, match="pad_token_id=4"):
        pretrain(shards, tmp_path / "q", model=_config(other), steps=1, max_seq_len=32)
    with pytest.raises(ConfigError, match="another tokenizer"):
        pretrain(corpus["train"], tmp_path / "r", model=_config(tok), steps=1, max_seq_len=64,
                 eval_data=shards, eval_every=1)  # fmt: skip
    # held-out data is evaluated at the last step even with no eval_every (the README's
    # --eval example once tokenized it and never evaluated it)
    run = pretrain(
        corpus["train"], tmp_path / "e", model=_config(tok), steps=3, batch_size=4,
        max_seq_len=64, eval_data=corpus["eval"], eval_batches=2, progress=False,
    )  # fmt: skip
    assert [r["step"] for r in run.history if r["split"] == "eval"] == [3]
    # a width that is not a multiple of 8 never pads past it; a rate schedule checkpoints
    pretrain(corpus["train"], tmp_path / "s", model=_config(tok, max_position_embeddings=36),
             steps=2, batch_size=4, max_seq_len=36, save_every=1, progress=False,
             mlm_probability=linear_schedule(0.3, 0.15, 2))  # fmt: skip


def test_masking_options_reach_the_batches(corpus: dict[str, Any], tmp_path: Path) -> None:
    """``whole_word`` labels all pieces of a word or none; ``masking="span"`` labels runs
    of neighbours; both are options of a run (recorded, and a resume may not change them)."""
    from lexforge.masking import continuation_ids
    from lexforge.train.distributed import _World
    from lexforge.train.pretrain_options import PretrainOptions
    from lexforge.train.pretrain_stream import _stream

    tok = corpus["tok"]
    continues = set(continuation_ids(tok))
    specials = set(dict(tok.special_tokens).values())
    world = _World(0, 1, torch.device("cpu"))

    def counts(**options: Any) -> tuple[int, int, int]:
        """(words of several pieces partly labelled, labelled tokens, labelled tokens
        whose left neighbour is labelled) over 6 batches."""
        opts = PretrainOptions(batch_size=8, max_seq_len=64, **options)
        split = labelled = runs = 0
        for _, batch in zip(range(6), _stream(corpus["train"], opts, world, 0), strict=False):
            for ids, labels in zip(batch["input_ids"], batch["labels"], strict=True):
                original = np.where(labels != -100, labels, ids)
                hit = labels != -100
                labelled += int(hit.sum())
                runs += int((hit[1:] & hit[:-1]).sum())
                # a word starts at a piece that does not continue one, or after a special
                # token (a segment cut at its front may start mid-word)
                starts = [i for i, t in enumerate(original) if int(t) not in continues
                          or i == 0 or int(original[i - 1]) in specials]  # fmt: skip
                for a, b in zip(starts, [*starts[1:], len(original)], strict=True):
                    split += b - a > 1 and 0 < int(hit[a:b].sum()) < b - a
        return split, labelled, runs

    plain, whole = counts(), counts(whole_word=True)
    assert plain[0] > 0 and whole[0] == 0 and whole[1] > 0
    span = counts(masking="span")
    assert span[2] / span[1] > 2 * plain[2] / plain[1]
    run = tmp_path / "run"
    common = {"model": _config(tok), "batch_size": 4, "max_seq_len": 64, "save_every": 1,
              "progress": False, "whole_word": True, "masking": "span"}  # fmt: skip
    pretrain(corpus["train"], run, steps=1, **common)
    state = json.loads((run / "checkpoints" / "step-0000001" / "state.json").read_text())
    assert state["options"]["whole_word"] is True and state["options"]["masking"] == "span"
    with pytest.raises(CheckpointError, match="whole_word True -> False"):
        pretrain(corpus["train"], run, steps=2, resume=True, **{**common, "whole_word": False})
    for bad in ({"masking": "words"}, {"whole_word": 1}, {"mlm_probability": 0.0},
                {"mlm_probability": 1.5}):  # fmt: skip
        with pytest.raises(ConfigError, match=next(iter(bad))):
            pretrain(corpus["train"], tmp_path / "bad", **{**common, **bad})


def test_cli_pretrain_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lexforge.cli", "pretrain", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "--preset" in out.stdout and "--resume" in out.stdout
    assert "--whole-word" in out.stdout and "--masking" in out.stdout
    assert textwrap.dedent(out.stdout)


def test_pretrain_cuts_text_into_shards_first(corpus: dict[str, Any], tmp_path: Path) -> None:
    """Text and a tokenizer go in; the shards are built in out_dir/shards, the same shards
    build_shards makes, and the run is the run on them."""
    tok, text = corpus["tok"], corpus["root"] / "eval.txt"
    run = {"model": _config(tok), "steps": 2, "batch_size": 4, "max_seq_len": 64,
           "objective": "none", "log_every": 1, "progress": False}  # fmt: skip
    with pytest.raises(ConfigError, match="is text, not shards: pass tokenizer="):
        pretrain(text, tmp_path / "a", **run)
    tok.save(tmp_path / "tok.json")
    from_text = pretrain(text, tmp_path / "a", tokenizer=tmp_path / "tok.json", **run)
    built = lf.ShardSet(tmp_path / "a" / "shards")
    assert built.fingerprint() == corpus["eval"].fingerprint()
    from_shards = pretrain(corpus["eval"], tmp_path / "b", **run)

    def losses(result: Any) -> list[Any]:  # not tokens/s: timing differs
        return [(r["step"], r["mlm_loss"], r["mlm_accuracy"]) for r in result.history]

    assert losses(from_text) == losses(from_shards) and len(losses(from_text)) == 2


def test_log_lines_give_the_mean_of_their_steps(corpus: dict[str, Any], tmp_path: Path) -> None:
    """A line every log_every steps reports the window's mean, not its last step: the same
    run logged every step has its per-step values around the windowed one."""
    run = {"model": _config(corpus["tok"]), "steps": 6, "batch_size": 4, "max_seq_len": 64,
           "objective": "nsp", "progress": False}  # fmt: skip
    each = [r for r in pretrain(corpus["eval"], tmp_path / "a", log_every=1, **run).history
            if r["split"] == "train"]  # fmt: skip
    windows = [r for r in pretrain(corpus["eval"], tmp_path / "b", log_every=3, **run).history
               if r["split"] == "train"]  # fmt: skip
    assert [r["step"] for r in windows] == [3, 6]
    for line, steps in zip(windows, (each[:3], each[3:]), strict=True):
        for key in ("mlm_loss", "mlm_accuracy", "nsp_loss", "nsp_accuracy"):
            values = [r[key] for r in steps]
            assert min(values) - 1e-9 <= line[key] <= max(values) + 1e-9, (key, line, values)
        # NSP has the same rows every step: its mean is the plain mean of the steps'
        assert line["nsp_loss"] == pytest.approx(np.mean([r["nsp_loss"] for r in steps]))
        assert line["mlm_loss"] != steps[-1]["mlm_loss"]


def test_setup_errors_come_before_the_corpus_is_read(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    """What cannot pretrain is refused before hours of tokenizing, and options that have
    nothing to apply to are refused rather than ignored."""
    import gc
    import warnings

    tok, text = corpus["tok"], corpus["root"] / "eval.txt"
    tok.save(tmp_path / "tok.json")
    run = {"steps": 2, "batch_size": 4, "max_seq_len": 64, "progress": False}
    bad = [({"model": "huge"}, "unknown preset 'huge'")]
    if not torch.cuda.is_available():
        bad.append(({"model": _config(tok), "device": "cuda"}, "no CUDA GPU"))
    no_cls = lf.Tokenizer.train_wordpiece(
        files=[text], vocab_size=200, show_progress=False,
        special_tokens=["[PAD]", "[UNK]", "[SEP]", "[MASK]"],
    )  # fmt: skip
    no_mask = lf.Tokenizer.train_wordpiece(
        files=[text], vocab_size=200, show_progress=False,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"],
    )  # fmt: skip
    bad += [({"tokenizer": no_cls}, r"needs a \[CLS\] token, and the tokenizer has none"),
            ({"tokenizer": no_mask}, "needs a mask token, and the tokenizer has none")]  # fmt: skip
    for i, (options, message) in enumerate(bad):
        options = {"tokenizer": tmp_path / "tok.json", **options}
        with pytest.raises(ConfigError, match=message):
            pretrain(text, tmp_path / f"bad{i}", **{**run, **options})
        assert not (tmp_path / f"bad{i}" / "shards").exists()
    # shards carry their tokenizer: another one, or a text column, has nothing to apply to
    with pytest.raises(ConfigError, match="shards cut with another tokenizer"):
        pretrain(corpus["eval"], tmp_path / "c", model=_config(tok), tokenizer=no_cls, **run)
    with pytest.raises(ConfigError, match="text_column='body' applies to text files"):
        pretrain(corpus["eval"], tmp_path / "c", model=_config(tok), text_column="body", **run)
    same = pretrain(corpus["eval"], tmp_path / "c", model=_config(tok), save_every=2,
                    tokenizer=tmp_path / "tok.json", **run)  # fmt: skip
    assert same.model.config.vocab_size == tok.vocab_size
    # resuming past the requested steps would hand back more training than asked for
    with pytest.raises(ConfigError, match="at step 2, past steps=1: pass steps > 2"):
        pretrain(corpus["eval"], tmp_path / "c", model=_config(tok), resume=True,
                 save_every=2, **{**run, "steps": 1})  # fmt: skip
    again = pretrain(corpus["eval"], tmp_path / "c", model=_config(tok), resume=True,
                     save_every=2, **run)  # fmt: skip
    assert again.history == []  # complete: it exports again, training nothing
    # a run that fails after its log is opened closes it
    one = tmp_path / "one.txt"
    one.write_text("Just one document here. With two sentences.\n", encoding="utf-8")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(lf.CorpusError, match="at least 2 documents"):
            pretrain(one, tmp_path / "d", model=_config(tok), tokenizer=tok, **run)
        gc.collect()
    assert not [w for w in seen if "unclosed file" in str(w.message)]


def test_held_out_text_is_cut_with_the_training_tokenizer(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    """eval_data as text (a records file here) gives the evaluations that its shards give;
    a held-out path that does not exist fails before anything is tokenized."""
    tok, root = corpus["tok"], corpus["root"]
    docs = (root / "eval.txt").read_text(encoding="utf-8").split("\n\n")
    records = tmp_path / "held-out.jsonl"
    records.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs), encoding="utf-8")
    run = {"model": _config(tok), "steps": 2, "batch_size": 4, "max_seq_len": 64,
           "objective": "none", "log_every": 1, "eval_every": 2, "eval_batches": 2,
           "progress": False}  # fmt: skip
    from_text = pretrain(corpus["train"], tmp_path / "a", eval_data=records, **run)
    assert lf.ShardSet(tmp_path / "a" / "eval-shards").fingerprint() == (
        corpus["eval"].fingerprint()
    )
    from_shards = pretrain(corpus["train"], tmp_path / "b", eval_data=corpus["eval"], **run)

    def evals(result: Any) -> list[Any]:
        return [(r["step"], r["mlm_loss"]) for r in result.history if r["split"] == "eval"]

    assert evals(from_text) == evals(from_shards) and len(evals(from_text)) == 1
    with pytest.raises(FileNotFoundError, match="eval_data: no such shard directory, text"):
        pretrain(root / "train.txt", tmp_path / "c", tokenizer=tok,
                 eval_data=tmp_path / "nope.txt", **run)  # fmt: skip
    assert not (tmp_path / "c" / "shards").exists()


def test_bpe_pretraining_exports_a_model_transformers_reads(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    """A byte-level BPE (RoBERTa-style) pretraining run: out/model holds a tokenizer that
    frames texts as the training rows were ([CLS] ... [SEP]) and that transformers reads,
    so its fill-mask pipeline and ours give the same predictions."""
    import transformers

    text = corpus["root"] / "eval.txt"
    tok = lf.Tokenizer.train_bpe(
        text, vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    result = pretrain(text, tmp_path / "run", tokenizer=tok, model=_config(tok), steps=2,
                      batch_size=4, max_seq_len=64, objective="none", progress=False)  # fmt: skip
    model_dir = tmp_path / "run" / "model"
    assert (model_dir / "tokenizer.json").is_file()
    assert not (model_dir / "vocab.txt").exists()  # a BPE vocabulary is not BERT's
    rows = next(iter(lf.PretrainingBatches(tmp_path / "run" / "shards", batch_size=1,
                                           max_seq_len=64, objective="none")))  # fmt: skip
    first = rows["input_ids"][0]
    assert int(first[0]) == tok.token_to_id("[CLS]")  # the rows it learned from ...
    theirs = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    assert theirs("a b")["input_ids"][0] == tok.token_to_id("[CLS]")  # ... and the export
    assert theirs("a b")["input_ids"][-1] == tok.token_to_id("[SEP]")
    fill = transformers.pipeline("fill-mask", model=str(model_dir))
    mine = result.model.fill_mask("The river [MASK] into the sea.", tokenizer=tok, top_k=3)
    top = fill("The river [MASK] into the sea.", top_k=3)
    assert [t["token_str"] for t in top] == [s for s, _ in mine[0]]
    assert max(abs(t["score"] - p) for t, (_, p) in zip(top, mine[0], strict=True)) <= 1e-5
    again = BertForMaskedLM.from_pretrained(model_dir)  # its own tokenizer: the same
    same = again.fill_mask("The river [MASK] into the sea.", top_k=3)[0]
    assert [s for s, _ in same] == [s for s, _ in mine[0]]
    assert [p for _, p in same] == pytest.approx([p for _, p in mine[0]], abs=1e-6)


@pytest.mark.filterwarnings("ignore:.*model.safetensors")  # (the new head's weights)
@pytest.mark.parametrize("names", ["roberta", "template-less file"])
def test_wordpiece_with_robertas_names_frames_texts_as_pretraining_rows(
    names: str, corpus: dict[str, Any], tmp_path: Path
) -> None:
    """A WordPiece tokenizer whose framing tokens go by RoBERTa's names (``<s>``,
    ``</s>``), trained here or loaded from a tokenizer.json with no post-processor: the
    rows pretraining learns from, the exported tokenizer (ours and transformers') and
    fine-tuning's all frame a text and a pair the same way, ``<s> A </s> B </s>``."""
    import transformers

    text = corpus["root"] / "eval.txt"
    specials = ["<pad>", "[UNK]", "<s>", "</s>", "<mask>"]
    tok = lf.Tokenizer.train_wordpiece(text, vocab_size=300, special_tokens=specials)
    if names == "template-less file":
        doc = json.loads(tok.to_str())
        doc["post_processor"] = None
        tok = lf.Tokenizer.from_str(json.dumps(doc))
        assert tok.encode("a b") == tok.encode("a b", add_special_tokens=False)  # bare
    s, e = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    bare = tok.encode("the river", add_special_tokens=False)
    pretrain(text, tmp_path / "run", tokenizer=tok, model=_config(tok), steps=1,
             batch_size=2, max_seq_len=64, objective="none", progress=False)  # fmt: skip
    rows = next(iter(lf.PretrainingBatches(tmp_path / "run" / "shards", batch_size=1,
                                           max_seq_len=64, objective="none")))  # fmt: skip
    assert int(rows["input_ids"][0][0]) == s
    framed = [s, *bare, e]
    pair = [s, *bare, e, *bare, e]
    model_dir = tmp_path / "run" / "model"
    theirs = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    assert theirs("the river")["input_ids"] == framed
    assert theirs("the river", "the river")["input_ids"] == pair
    ours = lf.Tokenizer.from_file(model_dir / "tokenizer.json")
    assert ours.encode("the river") == framed
    assert ours.encode("the river", "the river") == pair
    head = lf.model.BertForSequenceClassification.from_pretrained(model_dir, labels=["a", "b"])
    assert head.tokenizer.encode("the river") == framed


def test_two_runs_never_share_a_folder(corpus: dict[str, Any], tmp_path: Path) -> None:
    """A second run into a folder a run is writing is refused: it would delete the first
    one's checkpoints in progress, and both would log and export over each other."""
    import fcntl

    from lexforge.train.pretrain_folder import RUN_LOCK

    run = tmp_path / "run"
    run.mkdir()
    with (run / RUN_LOCK).open("a+b") as held:  # as the first run holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ConfigError, match="another pretraining run is writing into"):
            pretrain(corpus["train"], run, model=_config(corpus["tok"]), steps=1,
                     batch_size=4, max_seq_len=64, progress=False)  # fmt: skip
    # released (also when the holder dies): the run goes ahead, and its own lock is freed
    for resume in (False, True):
        pretrain(corpus["train"], run, model=_config(corpus["tok"]), steps=2, batch_size=4,
                 max_seq_len=64, save_every=2, progress=False, resume=resume)  # fmt: skip


def test_curves_name_the_pair_task_and_show_a_lone_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run no longer than its log interval has one training point, which a plain line
    drew as nothing (its legend entry alone showed); an SOP run's pair task was labelled
    NSP. The figure's own lines are read here."""
    pytest.importorskip("matplotlib")
    from lexforge.train import plots

    log = tmp_path / "log.jsonl"
    records = [
        {"split": "train", "step": 8, "mlm_loss": 5.0, "mlm_accuracy": 0.1,
         "nsp_loss": 0.7, "nsp_accuracy": 0.5},
        *({"split": "eval", "step": s, "mlm_loss": 5.5, "mlm_accuracy": 0.1, "nsp_loss": 0.69,
           "nsp_accuracy": 0.5} for s in (4, 8)),
    ]  # fmt: skip
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    figures: list[Any] = []
    monkeypatch.setattr(plots, "save_png", lambda fig, png: figures.append(fig) or png)
    for objective, pair in (("sop", "SOP"), ("nsp", "NSP")):
        plots.plot_curves(log, tmp_path / "curves.png", objective)
        loss_ax = figures[-1].axes[0]
        shown = {line.get_label(): line for line in loss_ax.lines}
        assert sorted(shown) == sorted(f"{t} {s}" for t in ("MLM", pair) for s in ("train", "eval"))
        for split in ("train", "eval"):  # one point or two: each drawn with its markers
            assert shown[f"MLM {split}"].get_marker() == "o"


def test_the_chunked_head_trains_as_the_whole_one(
    corpus: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the CPU the loop scores the MLM head in chunks (``model.chunked_loss``) once its
    product is large; forced on this small model (and cut into chunks of a few rows), a
    run gives the loss trajectory and weights of the head scored whole."""
    import lexforge.model.chunked_loss as chunked_loss

    config = _config(corpus["tok"], hidden_dropout=0.0, attention_dropout=0.0)
    options: dict[str, Any] = {"model": config, "steps": 8, "batch_size": 8,
                               "max_seq_len": 64, "log_every": 1, "keep": 0, "seed": 3,
                               "progress": False}  # fmt: skip
    taken = []
    usable = chunked_loss.usable

    def spy(h: Any, w: Any, b: Any) -> bool:
        taken.append(usable(h, w, b))
        return taken[-1]

    monkeypatch.setattr(chunked_loss, "usable", spy)
    monkeypatch.setattr(chunked_loss, "BUDGET", 0)
    monkeypatch.setattr(chunked_loss, "CHUNK_BYTES", 7 * config.vocab_size * 4)
    chunked = pretrain(corpus["train"], tmp_path / "chunked", **options)
    assert taken and all(taken)
    monkeypatch.setattr(chunked_loss, "usable", lambda *_: False)
    whole = pretrain(corpus["train"], tmp_path / "whole", **options)
    got = [r["mlm_loss"] for r in chunked.history if "mlm_loss" in r]
    want = [r["mlm_loss"] for r in whole.history if "mlm_loss" in r]
    assert len(got) == len(want) == 8
    assert np.allclose(got, want, rtol=1e-4), (got, want)
    from safetensors.torch import load_file

    a = load_file(tmp_path / "chunked" / "model" / "model.safetensors")
    b = load_file(tmp_path / "whole" / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    for name, value in a.items():
        assert torch.allclose(value, b[name], rtol=1e-3, atol=1e-5), name


def test_held_out_data_shorter_than_an_evaluation_is_scored_once(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    """Held-out data with fewer rows than eval_batches x batch_size is scored once, its
    last batch short: any eval_batches from its batch count up gives the same scores
    (the stream is endless, and its rows were scored over again with other masks,
    unevenly), and the rows scored are the pass's (counted from the finite stream)."""
    tok, root = corpus["tok"], corpus["root"]
    docs = (root / "eval.txt").read_text(encoding="utf-8").split("\n\n")[:3]
    (tmp_path / "small.txt").write_text("\n\n".join(docs), encoding="utf-8")
    small = lf.build_shards(tmp_path / "small.txt", tmp_path / "small", tok, progress=False)
    once = list(lf.PretrainingBatches(small, batch_size=4, max_seq_len=64, objective="none",
                                      epochs=1))  # fmt: skip
    rows = sum(len(b["input_ids"]) for b in once)
    assert rows % 4 and len(once) < 8  # a short last batch, fewer batches than asked
    run = {"model": _config(tok), "steps": 1, "batch_size": 4, "max_seq_len": 64,
           "objective": "none", "progress": False, "keep": 0}  # fmt: skip

    def scores(folder: str, batches: int) -> tuple[Any, ...]:
        result = pretrain(corpus["train"], tmp_path / folder, eval_data=small,
                          eval_batches=batches, **run)  # fmt: skip
        (ev,) = [r for r in result.history if r["split"] == "eval"]
        return ev["mlm_loss"], ev["mlm_accuracy"]

    whole = scores("a", len(once))
    assert scores("b", 8) == whole == scores("c", 50)
    assert scores("d", len(once) - 1) != whole
