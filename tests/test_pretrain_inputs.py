"""``lf.pretrain`` with inputs a demanding user gives it: options of the wrong kind or
that would be silently ignored, held-out records that need a text column while training
on shards, a damaged log on resume, an ``out_dir`` whose ``checkpoints`` is a file. Each
either works or fails at once with a ``ConfigError`` that names the problem."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

import lexforge as lf  # noqa: E402
from lexforge.errors import ConfigError, CorpusError  # noqa: E402
from lexforge.model import BertConfig  # noqa: E402
from lexforge.pretraining import PretrainingBatches  # noqa: E402
from lexforge.train import pretrain  # noqa: E402
from lexforge.train.loop import PretrainOptions  # noqa: E402

WORDS = ("the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", "house", "tree",
         "green", "blue", "red", "sky", "sun")  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("pretrain-inputs")
    rng = random.Random(0)
    docs = [
        "\n".join(" ".join(rng.choice(WORDS) for _ in range(6)) + "." for _ in range(3))
        for _ in range(20)
    ]
    corpus = root / "train.txt"
    corpus.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    tok = lf.Tokenizer.train_wordpiece(files=[corpus], vocab_size=100, show_progress=False)
    shards = lf.build_shards(corpus, root / "shards", tok, progress=False)
    return {"root": root, "corpus": corpus, "tok": tok, "shards": shards}


def _run(setup: dict[str, Any], out: Path, **kw: Any) -> Any:
    tok = setup["tok"]
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_layers=1, num_heads=2,
                        intermediate_size=32, max_position_embeddings=32)  # fmt: skip
    options = {"model": config, "steps": 2, "batch_size": 4, "max_seq_len": 24,
               "objective": "none", "progress": False, **kw}  # fmt: skip
    data = options.pop("data", setup["shards"])
    return pretrain(data, out, **options)


def test_text_column_names_the_held_out_records_when_training_on_shards(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    # two text columns: the held-out file needs text_column, and the shards have no text
    held_out = tmp_path / "held_out.jsonl"
    lines = [json.dumps({"title": f"t{i}", "body": "The cat sat. The dog ran far away."})
             for i in range(6)]  # fmt: skip
    held_out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _run(setup, tmp_path / "run", eval_data=held_out, text_column="body")
    evals = [r for r in result.history if r["split"] == "eval"]
    assert [r["step"] for r in evals] == [2]
    cut = lf.ShardSet(tmp_path / "run" / "eval-shards")
    assert cut.n_documents == 6
    assert cut.manifest["tokenizer_sha256"] == setup["shards"].manifest["tokenizer_sha256"]
    # with nothing to apply to, text_column is still refused
    with pytest.raises(ConfigError, match="text_column"):
        _run(setup, tmp_path / "other", text_column="body")


def test_text_column_names_the_column_of_whichever_corpus_holds_records(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    """One text_column serves the training and the held-out text: records training data
    with plain held-out text (and the other way round) were refused whichever way the
    option was set, the held-out text refusing the column and the records needing it."""
    records = tmp_path / "records.jsonl"
    text = setup["corpus"].read_text(encoding="utf-8").split("\n\n")
    records.write_text("".join(json.dumps({"title": "t", "body": d}) + "\n" for d in text),
                       encoding="utf-8")  # fmt: skip
    plain = tmp_path / "held.txt"
    plain.write_text("The cat sat on the mat.\n\nThe dog ran far away.\n", encoding="utf-8")
    tok = setup["tok"]
    for data, held in ((records, plain), (setup["corpus"], records)):
        out = tmp_path / f"run-{data.suffix}"
        result = _run(setup, out, data=data, tokenizer=tok, eval_data=held, text_column="body")
        assert [r["step"] for r in result.history if r["split"] == "eval"] == [2]
        expected = {records: len(text), plain: 2}
        assert lf.ShardSet(out / "shards").n_documents == expected.get(data, 20)
        assert lf.ShardSet(out / "eval-shards").n_documents == expected[held]
    # neither corpus holds records: refused, naming the option
    with pytest.raises(ConfigError, match="text_column='body' applies to records files"):
        _run(setup, tmp_path / "run3", data=setup["corpus"], tokenizer=tok, eval_data=plain,
             text_column="body")  # fmt: skip


def test_a_corpus_folder_with_a_manifest_json_of_its_own_is_text(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    """A corpus folder holding its own manifest.json (not build_shards') is text, as
    build_shards reads it; pretrain and the CLI took it for shards and failed."""
    from lexforge.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(setup["corpus"].read_text(encoding="utf-8"), encoding="utf-8")
    (corpus / "manifest.json").write_text(json.dumps({"name": "mine", "files": ["a.txt"]}))
    expected = lf.build_shards(corpus, tmp_path / "built", setup["tok"], progress=False)
    # (held-out text that is the training text: warned of, the scores being of seen text)
    with pytest.warns(UserWarning, match=r"corpus.a\.txt is also part of the training corpus"):
        result = _run(setup, tmp_path / "run", data=corpus, tokenizer=setup["tok"],
                      eval_data=corpus)  # fmt: skip
    assert [r["step"] for r in result.history if r["split"] == "eval"] == [2]
    for folder in ("shards", "eval-shards"):
        assert lf.ShardSet(tmp_path / "run" / folder).n_tokens == expected.n_tokens
    tok_file = tmp_path / "tok.json"
    setup["tok"].save(tok_file)
    assert main(["pretrain", str(corpus), str(tmp_path / "cli"), "--tokenizer", str(tok_file),
                 "--preset", "tiny", "--steps", "1", "--batch-size", "2", "--quiet",
                 "--device", "cpu"]) == 0  # fmt: skip
    # a shard folder whose manifest is damaged is still named as shards, not read as text
    (expected.directory / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(lf.errors.ShardError):
        _run(setup, tmp_path / "run2", data=expected.directory)


@pytest.mark.parametrize("content", ["", "\n  \n\n"])
def test_held_out_text_with_nothing_in_it_fails_before_the_corpus_is_cut(
    setup: dict[str, Any], tmp_path: Path, content: str
) -> None:
    held_out = tmp_path / "held_out.txt"
    held_out.write_text(content, encoding="utf-8")
    out = tmp_path / "run"
    with pytest.raises(CorpusError, match=r"eval_data \(--eval\): .*held_out\.txt"):
        _run(setup, out, data=setup["corpus"], tokenizer=setup["tok"], eval_data=held_out)
    assert not (out / "shards").exists()  # the training corpus was never tokenized
    # training on shards: the same error
    with pytest.raises(CorpusError, match=r"eval_data \(--eval\)"):
        _run(setup, tmp_path / "run2", eval_data=held_out)


def test_held_out_text_that_gives_no_pairs_is_named_before_the_corpus_is_cut(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    """NSP needs two documents: one held-out document is eval_data's problem (the training
    corpus has twenty), found before the corpus is tokenized."""
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("The cat sat on the mat.\nThe dog ran far away.\n", encoding="utf-8")
    out = tmp_path / "run"
    nsp = {"eval_data": held_out, "objective": "nsp"}
    with pytest.raises(CorpusError, match=r"eval_data \(--eval\): next sentence prediction needs"):
        _run(setup, out, data=setup["corpus"], tokenizer=setup["tok"], **nsp)
    assert not (out / "shards").exists()
    held = lf.build_shards(held_out, tmp_path / "held-shards", setup["tok"], progress=False)
    with pytest.raises(CorpusError, match=r"eval_data \(--eval\)"):  # given as shards
        _run(setup, tmp_path / "run2", **{**nsp, "eval_data": held})
    assert len(_run(setup, tmp_path / "run3", eval_data=held).history) > 0  # MLM alone: fine


def test_a_list_of_shard_folders_is_named_as_such(setup: dict[str, Any], tmp_path: Path) -> None:
    folder = setup["shards"].directory
    for tok in (None, setup["tok"]):
        with pytest.raises(ConfigError, match="the list holds shard folders"):
            _run(setup, tmp_path, data=[folder, folder], tokenizer=tok)


def test_held_out_data_among_the_training_data_is_warned_of(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    """A held-out file inside the training folder, or the training shards as held-out
    data, ran without a word: its "held-out" scores were of text the model trained on."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = setup["corpus"].read_text(encoding="utf-8")
    (corpus / "a.txt").write_text(text, encoding="utf-8")
    (corpus / "held.txt").write_text(text[: len(text) // 3], encoding="utf-8")
    with pytest.warns(UserWarning, match=r"held\.txt is also part of the training corpus"):
        _run(setup, tmp_path / "run", data=corpus, tokenizer=setup["tok"],
             eval_data=corpus / "held.txt")  # fmt: skip
    with pytest.warns(UserWarning, match="is the training shards"):
        _run(setup, tmp_path / "run2", eval_data=setup["shards"])
    # held-out text kept apart: no such warning
    apart = tmp_path / "held.txt"
    apart.write_text(text[: len(text) // 3], encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _run(setup, tmp_path / "run3", data=corpus / "a.txt", tokenizer=setup["tok"],
             eval_data=apart)  # fmt: skip
    assert not [w for w in caught if "training" in str(w.message)], caught


def test_tokens_per_second_leave_out_evaluations_and_checkpoints(
    setup: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An evaluation or a checkpoint (here made to take 0.3 s) is not training time: the
    rate of the steps after them is of the order of the others' (steps of a millisecond or
    two: noisy), not a hundred times lower. Their median is compared: counted, the 0.3 s
    would slow all three; a busy machine slowed one of them 38x in a CI run."""
    import time

    from lexforge.train import checkpoint
    from lexforge.train.pretrain_log import _Evaluator

    def slow(f: Any) -> Any:
        def call(*args: Any, **kw: Any) -> Any:
            time.sleep(0.3)
            return f(*args, **kw)

        return call

    monkeypatch.setattr(_Evaluator, "run", slow(_Evaluator.run))
    monkeypatch.setattr(checkpoint, "save", slow(checkpoint.save))
    result = _run(setup, tmp_path, steps=12, log_every=1, eval_every=3, save_every=3,
                  eval_data=setup["shards"])  # fmt: skip
    rates = [r["tokens_per_s"] for r in result.history if r["split"] == "train"]
    after = [rates[i] for i in (3, 6, 9)]  # the steps after an evaluation and a checkpoint
    others = sorted(r for i, r in enumerate(rates) if i not in (3, 6, 9))
    assert sorted(after)[1] > others[len(others) // 2] / 20, (after, others)


def test_a_resumed_window_divides_its_tokens_by_all_of_its_training_time(
    setup: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint inside a log window saves the window's tokens; resumed, the next line
    divided them by this process's seconds alone (steps 3-4 of a 4-step window: twice the
    rate of the same line unbroken). It now counts the window's earlier training seconds
    too. The log reads a clock that only the batches move, a second each: exact rates."""
    import shutil
    import types

    from lexforge.train import loop, pretrain_log

    clock = [0.0]

    def timed(*args: Any) -> Any:
        for batch in stream(*args):
            clock[0] += 1.0
            yield batch

    stream = loop._stream
    monkeypatch.setattr(loop, "_stream", timed)
    monkeypatch.setattr(pretrain_log, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    options = {"steps": 4, "log_every": 4, "save_every": 2, "keep": 3, "batch_size": 2}
    straight = _run(setup, tmp_path / "straight", **options)
    (tmp_path / "resumed" / "checkpoints").mkdir(parents=True)
    kept = tmp_path / "straight" / "checkpoints" / "step-0000002"
    shutil.copytree(kept, tmp_path / "resumed" / "checkpoints" / kept.name)
    resumed = _run(setup, tmp_path / "resumed", resume=True, **options)
    (want,) = [r["tokens_per_s"] for r in straight.history if r["split"] == "train"]
    (got,) = [r["tokens_per_s"] for r in resumed.history if r["split"] == "train"]
    assert got == want > 0


def test_fsdp_in_one_process_says_it_trains_unsharded(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.warns(UserWarning, match="nothing to shard the model across"):
        _run(setup, tmp_path, fsdp=True, steps=1)


def test_fsdp_on_a_torch_without_fully_shard_names_the_version(monkeypatch: Any) -> None:
    """``torch.distributed.fsdp.fully_shard`` is public from torch 2.6 (2.4 and 2.5, which
    the floor admits, lack it): the error names the version and the other way, DDP."""
    import types

    from lexforge.errors import MissingDependencyError
    from lexforge.model import BertConfig, BertForMaskedLM
    from lexforge.train.distributed import _Sharded

    monkeypatch.setitem(sys.modules, "torch.distributed.fsdp", types.ModuleType("fsdp"))
    net = BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=16, num_layers=1, num_heads=2,
                                     intermediate_size=32))  # fmt: skip
    with pytest.raises(MissingDependencyError, match=r"torch>=2\.6.*without fsdp"):
        _Sharded(net)


def test_a_window_with_no_masked_token_logs_null_not_a_perfect_loss(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    """``exact`` masking of 1% of rows of 24 tokens masks none: the log's MLM loss and
    accuracy are null there (they were 0.0, a perfect score), and the curves still draw."""
    result = _run(setup, tmp_path, steps=3, log_every=1, masking="exact",
                  mlm_probability=0.01, eval_data=setup["shards"])  # fmt: skip
    logged = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["split"] for r in logged] == ["train"] * 3 + ["eval"]
    for r in logged:
        assert r["mlm_loss"] is None and r["mlm_accuracy"] is None, r
    assert result.history == logged
    pytest.importorskip("matplotlib")
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_eval_every_without_eval_data_is_refused(setup: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"eval_every=1 .* eval_data="):
        _run(setup, tmp_path, eval_every=1)
    assert not (tmp_path / "log.jsonl").exists()  # refused before anything is written


@pytest.mark.parametrize(
    ("kw", "named"),
    [({"data": None}, "data must be"), ({"data": 5}, "data must be"),
     ({"data": [Path("a.txt"), 3]}, "data must be"), ({"eval_data": 3}, "eval_data must be"),
     ({"tokenizer": 42}, "tokenizer must be"),
     # a count of 10**30 (a typo) ran, with a warm-up of 6% of it: nothing was learned
     ({"steps": 10**30}, "steps must be at most 2,147,483,647"),
     ({"save_every": 2**31}, "save_every must be at most")],
)  # fmt: skip
def test_inputs_of_the_wrong_kind_are_config_errors(
    setup: dict[str, Any], tmp_path: Path, kw: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        _run(setup, tmp_path, **kw)


def test_corpus_and_stream_arguments_of_the_wrong_kind(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    for corpus in (None, 5, str(setup["corpus"]).encode()):
        with pytest.raises(ConfigError, match="corpus must be"):
            lf.build_shards(corpus, tmp_path / "s", setup["tok"], progress=False)  # type: ignore[arg-type]
    batches = PretrainingBatches(setup["shards"], batch_size=2, max_seq_len=16, objective="none")
    with pytest.raises(ConfigError, match="start must be an integer"):
        next(batches.iterate(1.5))  # type: ignore[arg-type]
    # a generator of paths is a list of files
    built = lf.build_shards((p for p in [setup["corpus"]]), tmp_path / "g", setup["tok"],
                            progress=False)  # fmt: skip
    assert built.n_tokens == setup["shards"].n_tokens


def test_numpy_numbers_are_options_like_any_others(setup: dict[str, Any], tmp_path: Path) -> None:
    given = {"lr": np.float32(1e-3), "warmup": np.int64(1), "mlm_probability": np.float32(0.2),
             "clip": np.float64(0.5), "betas": (np.float32(0.9), np.float32(0.99))}  # fmt: skip
    opts = PretrainOptions(**given)  # type: ignore[arg-type]
    assert opts.lr == float(given["lr"]) and type(opts.lr) is float
    assert all(type(b) is float for b in opts.betas)
    assert type(opts.mlm_probability) is float and type(opts.warmup) is float
    # a run with them checkpoints and resumes (the options compare equal after JSON)
    _run(setup, tmp_path, **given)
    _run(setup, tmp_path, resume=True, **{**given, "steps": 3})
    # the refusal of a bad one names the value
    with pytest.raises(ConfigError, match=r"warmup must be at least 0, got -0\.1"):
        PretrainOptions(warmup=-0.1)


def test_resume_drops_a_log_line_that_is_not_utf8(setup: dict[str, Any], tmp_path: Path) -> None:
    _run(setup, tmp_path, steps=2, log_every=1, save_every=1)
    log = tmp_path / "log.jsonl"
    first = log.read_text(encoding="utf-8").splitlines()[0]
    log.write_bytes(first.encode() + b"\n\xff\xfe damaged\n")
    _run(setup, tmp_path, steps=3, log_every=1, save_every=1, resume=True)
    steps = [json.loads(line)["step"] for line in log.read_text(encoding="utf-8").splitlines()]
    assert steps == [1, 3]  # step 2's line was the damaged one: only later ones are new


def test_a_file_named_checkpoints_is_refused_before_training(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "checkpoints").write_text("notes\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="checkpoints"):
        _run(setup, tmp_path, data=setup["corpus"], tokenizer=setup["tok"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints"]  # nothing was cut


@pytest.mark.parametrize("pointer", [b"\xff\xfe\n", b"../elsewhere\n", b"step-0000009\n"])
def test_a_damaged_latest_pointer_resumes_from_the_newest_checkpoint(
    setup: dict[str, Any], tmp_path: Path, pointer: bytes
) -> None:
    """``checkpoints/latest`` that is not UTF-8, points outside, or names a checkpoint that
    is gone: the newest complete checkpoint on disk is the one to resume from."""
    from lexforge.train import checkpoint

    _run(setup, tmp_path, steps=2, save_every=1)
    root = tmp_path / "checkpoints"
    (root / checkpoint.LATEST).write_bytes(pointer)
    assert checkpoint.latest(root) == root / "step-0000002"
    result = _run(setup, tmp_path, steps=3, save_every=1, resume=True)
    assert [r["step"] for r in result.history if r["split"] == "train"][-1] == 3


@pytest.mark.parametrize(
    "env",
    [{"WORLD_SIZE": "2"}, {"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "127.0.0.1"},
     {"WORLD_SIZE": "two"}, {"WORLD_SIZE": "0"}],
)  # fmt: skip
def test_an_incomplete_launch_environment_is_refused_before_anything_is_written(
    setup: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    """``WORLD_SIZE=2`` left in the environment of a plain ``python`` run: a
    ``ConfigError`` naming what is missing, not torch's error from inside
    ``init_process_group`` after the output folder is taken."""
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=r"WORLD_SIZE.*torchrun"):
        _run(setup, tmp_path / "run")
    assert not (tmp_path / "run").exists()


_SPAWNED = """
import os
import sys
import torch.distributed as dist
import torch.multiprocessing as mp
from lexforge.model import BertConfig
from lexforge.train import pretrain

def run(out, accum):
    config = BertConfig(vocab_size={vocab}, hidden_size=16, num_layers=1, num_heads=2,
                        intermediate_size=32, max_position_embeddings=32, hidden_dropout=0.0,
                        attention_dropout=0.0)
    pretrain({shards!r}, out, model=config, steps=3, batch_size=4, grad_accum=accum,
             max_seq_len=24, objective="none", log_every=1, progress=False)

def work(rank, out, store):
    # the caller's own group, without torchrun's environment (RANK, WORLD_SIZE)
    dist.init_process_group("gloo", init_method="file://" + store, rank=rank, world_size=2)
    run(out, 1)
    dist.destroy_process_group()
    # (what is tested is done: gloo's worker threads can still abort a process as the
    # interpreter tears them down on a loaded machine, 'terminate called without an active
    # exception', once in CI; the run's files are written and closed by now)
    sys.stdout.flush()
    os._exit(0)

if __name__ == "__main__":
    if len(sys.argv) == 2:
        run(sys.argv[1], 2)
    else:
        mp.spawn(work, args=(sys.argv[1], sys.argv[2]), nprocs=2)
"""


def test_a_process_group_the_caller_started_trains_data_parallel(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    """Processes from ``torch.multiprocessing`` in a group their caller initialised (no
    ``RANK``/``WORLD_SIZE`` in the environment, as in PyTorch's DDP tutorial) are ranks
    of one run, following one process's trajectory with the same global batch; not each
    a run of its own, one of them refused for the other's folder lock."""
    script = tmp_path / "spawned.py"
    script.write_text(_SPAWNED.format(
        vocab=setup["tok"].vocab_size, shards=str(setup["shards"].directory)
    ))  # fmt: skip
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
    }
    env["OMP_NUM_THREADS"] = "1"  # fmt: skip
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, script, one], check=True, env=env, timeout=120)
    subprocess.run([sys.executable, script, two, str(tmp_path / "store")], check=True, env=env,
                   timeout=120)  # fmt: skip

    def losses(run: Path) -> list[float]:
        return [json.loads(x)["mlm_loss"] for x in (run / "log.jsonl").read_text().splitlines()]

    assert len(losses(one)) == len(losses(two)) == 3
    assert max(abs(a - b) for a, b in zip(losses(one), losses(two), strict=True)) < 1e-5
    state = json.loads((two / "checkpoints" / "step-0000003" / "state.json").read_text())
    assert state["data"]["world_size"] == 2


def test_a_run_that_fails_before_writing_a_file_leaves_no_folder(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    """An empty corpus (or held-out text, or a bad option found while the inputs are cut)
    failed with a typed error but left the run's folder behind, empty."""
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    out = tmp_path / "new" / "run"
    with pytest.raises(CorpusError):
        _run(setup, out, data=empty, tokenizer=setup["tok"])
    assert not out.exists()
    # a folder that was there before stays, and so does one holding what the run wrote
    out.mkdir(parents=True)
    with pytest.raises(CorpusError):
        _run(setup, out, data=empty, tokenizer=setup["tok"])
    assert out.is_dir()


def test_precision_bf16_on_the_cpu_trains_and_may_change_on_resume(
    setup: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from lexforge.train import _fit

    for bad in ("fp16", "bfloat16", 16):
        with pytest.raises(ConfigError, match=r"precision must be 'fp32', 'bf16' or None"):
            PretrainOptions(precision=bad)  # type: ignore[arg-type]
    seen = []
    autocast = torch.autocast

    def spy(device_type: str, *args: Any, **kwargs: Any) -> Any:  # the loop's context
        seen.append((device_type, kwargs.get("dtype")))
        return autocast(device_type, *args, **kwargs)

    monkeypatch.setattr(torch, "autocast", spy)
    result = _run(setup, tmp_path, steps=2, save_every=1, precision="bf16")
    assert ("cpu", torch.bfloat16) in seen
    assert all(p.dtype == torch.float32 for p in result.model.parameters())  # weights stay
    # resumed in float32: the precision is not the run's identity (hardware may change)
    seen.clear()
    resumed = _run(setup, tmp_path, steps=3, resume=True, precision="fp32")
    assert resumed.history[-1]["step"] == 3 and not seen
    # a CPU without native bfloat16 is warned that it emulates it (slower than float32)
    monkeypatch.setattr(_fit, "_bf16_warned", False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    with pytest.warns(RuntimeWarning, match="without native bfloat16"):
        _run(setup, tmp_path / "emulated", precision="bf16")


def test_folders_that_cannot_be_written_are_named_with_the_fix(
    setup: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's folder on read-only media (its lock file cannot be made) or with a file in
    the way of the shards' folder: an OSError naming the folder and the fix, where pathlib's
    bare '[Errno 30] Read-only file system: .../.pretrain.lock' came through."""
    import errno

    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match=r"could not write .*file/sub: .*file is a file, where "
                                      r"a folder would be; move that file away"):  # fmt: skip
        lf.build_shards(setup["corpus"], tmp_path / "file" / "sub", setup["tok"], progress=False)
    real = Path.open

    def read_only(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name.endswith(".lock"):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", read_only)
    out = tmp_path / "run"
    with pytest.raises(OSError, match=f"could not write {out}: Read-only file system; write "
                                      "where you may"):  # fmt: skip
        _run(setup, out)
    with pytest.raises(OSError, match=f"could not write {tmp_path / 'ft'}: Read-only"):
        lf.finetune(tmp_path / "nope", [("a", "x"), ("b", "y")], out_dir=tmp_path / "ft")
