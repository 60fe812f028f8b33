"""``lexforge quickstart``: the whole journey on a laptop, from raw text to fine-tuned
models, in a time budget (``--minutes``, 15 by default on a 2-core CPU).

1. Train a WordPiece tokenizer on the ``wiki-leads`` and ``news-2017`` corpora (the
   validation and test articles of the wiki-leads topic task are left out).
   The tasks' unlabelled training text that the corpora lack (rt-polarity's reviews) is
   added, four times over: task-adaptive pretraining.
2. Tokenize the text into shards and pretrain a small BERT (MLM; NSP costs steps and
   scored worse downstream at this budget, see benches/RESULTS.md), its word embeddings
   started from PPMI + SVD vectors of the same text.
3. Fit a TF-IDF + logistic-regression baseline on ``rt-polarity`` (movie-review
   sentiment) and ``wiki-leads`` topics.
4. Fine-tune our model on the same splits, twice each, the runs' weights averaged (a
   model soup), and the imported all-MiniLM-L6-v2 encoder beside it, task by task.
5. Report accuracy and macro-F1 of the three side by side (``report.md``,
   ``report.json``), with the HF-format model (``pretrain/model``), the pretraining
   curves and confusion matrices.

Pretraining and fine-tuning fit the budget: each gets its share of the time left when
it starts (see ``_Clock``), so the whole run ends near ``--minutes`` (below about three
minutes on two cores the fixed costs, evaluations above all, take more than the budget).
Each stage records its result in ``<stage>/done.json``; a rerun skips finished stages
(an interrupted pretraining resumes from its last checkpoint; an interrupted fine-tuning
starts again, replacing what it had written).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lexforge import datasets
from lexforge._json import loads_json
from lexforge.batch import check_int
from lexforge.errors import CheckpointError, ConfigError
from lexforge.formats import atomic_write

TASKS = ("rt-polarity", "wiki-leads")
# words whose neighbours the report shows, in both word spaces (those frequent enough)
PROBES = ("city", "music", "war", "university", "river", "film", "king", "team", "church",
          "president", "company", "game")  # fmt: skip
CORPORA = ("wiki-leads", "news-2017")
# the pretraining recipe for minutes on a CPU: small batches (more updates per second: the
# MLM loss leaves its unigram plateau after a number of updates, not of tokens) at a high
# rate; measured in benches/RESULTS.md (quickstart)
# The word embeddings start from PPMI + SVD vectors of the same text (seconds): at this
# budget they, not the MLM steps, carry most of what fine-tuning gains (benches/RESULTS.md)
# 40% of the tokens are masked, not BERT's 15% (as Wettig et al. 2023 found for small
# budgets): a step costs ~40% more (the MLM head scores every masked token), and in the
# same time the model still gained ~3 points on wiki-leads, none lost on rt-polarity
# (benches/RESULTS.md, 2026-12-06)
RECIPE: dict[str, Any] = {
    "batch_size": 16, "max_seq_len": 128, "lr": 2e-3, "warmup": 0.06, "objective": "none",
    "embedding_init": "spectral", "mlm_probability": 0.4,
}  # fmt: skip
# the rate above is the tiny model's (hidden 128); wider models take it scaled by
# 128 / hidden: at 2e-3 the mini model (256) never left the unigram plateau in 2,368 steps,
# at 1e-3 it leaves it as early as the tiny one does (benches/RESULTS.md, session 5)
RECIPE_WIDTH = 128


def _recipe(hidden_size: int) -> dict[str, Any]:
    return {**RECIPE, "lr": RECIPE["lr"] * min(1.0, RECIPE_WIDTH / hidden_size)}


# passes over the tasks' unlabelled training text added to the pretraining corpus
TASK_TEXT_REPEATS = 4
# shares of the time budget among the stages that fit a time limit (see _Clock; the
# tokenizer, the word-similarity demo and the baseline take seconds, out of the same
# budget); with the spectral start, our fine-tuning gains more from two full runs averaged
# (a model soup) than from more MLM steps (benches/RESULTS.md)
SHARE = {"pretrain": 0.30, "ours": 0.36, "minilm": 0.30}
# what each stage says as it starts (a stage's first progress may be a while coming)
STARTS = {
    "tokenizer": "reading the corpora and training the WordPiece tokenizer",
    "pretrain": "building the shards, then timing and running the pretraining",
    "words": "contextual and co-occurrence word vectors over the corpus",
    "tfidf": "TF-IDF + logistic regression",
    "ours": "fine-tuning the model pretrained here",
    "minilm": "fine-tuning all-MiniLM-L6-v2",
}
# our fine-tuning runs per task, their weights averaged (``finetune(runs=...)``)
OUR_RUNS = 2


class _Clock:
    """The run's time budget. A stage with a time limit gets its share of the time *left*
    when it starts (the shares of the stages still to come summing to one), so the
    seconds any stage took past its plan (the tokenizer, the word demo and the baseline,
    which have no limit; pretraining's spectral start and export; stages kept from an
    earlier run, at the seconds they took then) come out of the stages after it, not on
    top of the budget. Fine-tuning's ``time_limit`` covers its training steps only: its
    evaluations, loading and saving come on top, so what a system's last stage took past
    its limit is set aside, before the time left is shared, for each stage of that
    system still to come (MiniLM's evaluations are many times ours). A limit is never
    cut below a quarter of the stage's share of the whole budget (a budget shorter than
    the fixed costs is overrun rather than left with no training)."""

    FLOOR = 0.25

    def __init__(self, seconds: float, stages: list[tuple[str, str, float]]) -> None:
        """``stages``: (name, system, share of the budget), in the order they run."""
        self.seconds = seconds
        total = sum(share for _, _, share in stages)
        self.shares = {name: share / total for name, _, share in stages}
        self.system = {name: system for name, system, _ in stages}
        self.spent = 0.0
        self.past: dict[str, float] = {}  # system -> seconds its last stage ran past its limit

    def spend(self, seconds: float) -> None:
        self.spent += seconds

    def limit(self, stage: str) -> float:
        """Seconds for ``stage`` (whose share is then spent: later calls divide the rest)."""
        share = self.shares.pop(stage)
        ahead = [self.system[stage], *(self.system[s] for s in self.shares)]
        set_aside = sum(self.past.get(system, 0.0) for system in ahead)
        left = (self.seconds - self.spent - set_aside) * share / (share + sum(self.shares.values()))
        return max(left, self.FLOOR * share * self.seconds)

    def ran(self, stage: str, seconds: float, limit: float) -> None:
        """Records that ``stage``, given ``limit`` seconds, took ``seconds``."""
        self.past[self.system[stage]] = max(0.0, seconds - limit)
        self.spend(seconds)


class _Stages:
    """Runs each stage once: its result is kept in ``<out>/<name>/done.json``, with the
    size and SHA-256 of the files it made that later stages and the report use (see
    :func:`_outputs`); a rerun finding one of them changed or gone runs the stage again."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def run(self, name: str, fn: Any, inputs: tuple[str, ...] = ()) -> Any:
        """Runs stage ``name`` (``fn(folder)``), or keeps its earlier result; ``inputs``
        are the stages whose outputs it reads: one of them made again (a new model), it
        runs again too, so that no result of an earlier model is reported beside it."""
        folder = self.out / name
        marker = folder / "done.json"
        given = {stage: self._made(stage) for stage in inputs}
        if marker.is_file():
            try:
                done = loads_json(marker.read_text(encoding="utf-8"))
            except ValueError:  # not JSON, or not UTF-8 (a copy cut short): run it again
                done = None
            check = done.pop("check", None) if isinstance(done, dict) else None
            # (an earlier lexforge recorded no digest: its record is taken if it has the
            # stage's time, which every record has)
            legacy = check is None and isinstance(done, dict) and isinstance(
                done.get("seconds"), (int, float))  # fmt: skip
            if isinstance(done, dict) and not legacy and check != _check(done):
                _say(f"[{name}] {marker} changed since the stage was done; running the "
                      "stage again")  # fmt: skip
            elif isinstance(done, dict):
                recorded = done.pop("outputs", None)
                changed = _changed(folder, recorded) if isinstance(recorded, dict) else None
                # (a stage done by an earlier lexforge recorded no inputs: kept)
                was = done.pop("inputs", given)
                new = [stage for stage in inputs if was.get(stage) != given[stage]] if (
                    isinstance(was, dict)) else list(inputs)  # fmt: skip
                if changed is None and not new:
                    _say(f"[{name}] done before; kept ({marker})")
                    return done
                if changed is not None:
                    _say(f"[{name}] {folder / changed} changed since the stage was done; "
                          "running the stage again")  # fmt: skip
                else:
                    _say(f"[{name}] {new[0]} was made again since the stage was done; "
                          "running the stage again")  # fmt: skip
            else:
                _say(f"[{name}] {marker} is unreadable; running the stage again")
        # what a run made is gone once its stage runs again: an interrupt meanwhile leaves
        # neither the old done.json nor a report of the old results beside the new stage
        marker.unlink(missing_ok=True)
        for report in ("report.md", "report.json"):
            (self.out / report).unlink(missing_ok=True)
        _say(f"[{name}] {STARTS.get(name.split('-')[0], 'running')}")
        start = time.perf_counter()
        result = fn(folder)
        # a stage that resumed an interrupted attempt's work counts that attempt's time too
        earlier = float(result.pop("earlier_seconds", 0.0))
        result = {**result, "seconds": round(time.perf_counter() - start + earlier, 1)}
        record = {**result, "outputs": _outputs(folder), "inputs": given}
        _write_json(marker, {**record, "check": _check(record)})
        _say(f"[{name}] {result['seconds']:.0f} s")
        return result

    def _made(self, stage: str) -> str | None:
        """A digest of what stage ``stage`` made, as its ``done.json`` records it."""
        try:
            done = loads_json((self.out / stage / "done.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        made = json.dumps(done.get("outputs") if isinstance(done, dict) else None, sort_keys=True)
        return hashlib.sha256(made.encode()).hexdigest()


def _say(*parts: Any) -> None:
    """``print``, flushed: a run into a log file (nohup, CI) shows each line as it comes."""
    print(*parts, flush=True)


def _check(record: dict[str, Any]) -> str:
    """A digest of a stage's ``done.json`` record (less the digest itself): a record
    edited since (valid JSON with a key gone or a value of another kind) no longer matches
    it, and its stage runs again rather than reporting what it holds."""
    text = json.dumps(record, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _earlier_attempts(folder: Path) -> float:
    """The seconds that interrupted attempts at a resumable stage spent on the work the
    attempt now starting resumes: from each one's start to its newest checkpoint, summed
    in ``.attempt.json`` (0 when no checkpoint is left). Without them a resumed stage
    would count only its last stretch, and the stages after it would share time an
    uninterrupted run never had. The attempt now starting is recorded there."""
    record = folder / ".attempt.json"
    checkpoints = folder / "checkpoints"
    saved = [p.stat().st_mtime for p in checkpoints.rglob("*") if p.is_file()] if (
        checkpoints.is_dir()) else []  # fmt: skip
    kept = 0.0
    if saved:
        try:
            last = loads_json(record.read_text(encoding="utf-8"))
            kept = float(last["kept"]) + max(0.0, max(saved) - float(last["started"]))
        except (OSError, ValueError, KeyError, TypeError, OverflowError):
            kept = 0.0  # no record (a run of an earlier lexforge): its time is unknown
    if not math.isfinite(kept):  # (a damaged record: NaN or infinite seconds)
        kept = 0.0
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(record, {"started": time.time(), "kept": round(kept, 1)})
    return kept


def _outputs(folder: Path) -> dict[str, list[Any]]:
    """``{path in folder: [size, sha256]}`` of what a stage made for later stages and the
    report: its model (``model/``, ``best/``) and its top-level .json and .txt files (the
    tokenizer, its texts, the pretraining plan, metrics); not its checkpoints, shards or
    logs, which resuming checks by itself, nor plots."""
    from lexforge.formats import sha256_file

    found: dict[str, list[Any]] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        kept = rel.parts[0] in ("model", "best") and len(rel.parts) == 2
        kept |= len(rel.parts) == 1 and rel.suffix in (".json", ".txt") and rel.name != "done.json"
        if kept:
            found[rel.as_posix()] = [path.stat().st_size, sha256_file(path)]
    return found


def _changed(folder: Path, recorded: dict[str, Any]) -> str | None:
    """The first recorded output of a stage that is gone or not as recorded, or None."""
    for rel, value in recorded.items():
        path = folder / rel
        if not path.is_file() or not isinstance(value, list) or len(value) != 2:
            return rel
        if path.stat().st_size != value[0]:
            return rel
    from lexforge.formats import sha256_file

    for rel, (_, digest) in recorded.items():  # (sizes first: a cut file is found at once)
        if sha256_file(folder / rel) != digest:
            return rel
    return None


def _write_json(path: Path, value: Any) -> None:
    """Writes ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _check_same_run(out: Path, options: dict[str, Any]) -> None:
    """Records the run's options in ``<out>/quickstart.json``; a rerun into the same
    folder with other options would keep stages made with the old ones, so it is refused
    (``--device`` and ``--precision`` may change). Where no stage finished (nor planned its
    pretraining) there is nothing to keep: the new options replace the old (a run that
    failed at once, as one whose options the tokenizer refused, is no trap)."""
    recorded = out / "quickstart.json"
    kept = any(out.glob("*/done.json")) or (out / "pretrain" / "plan.json").is_file()
    if recorded.is_file() and kept:
        try:
            before = loads_json(recorded.read_text(encoding="utf-8"))
        except ValueError:  # not JSON, or not UTF-8
            before = None
        if not isinstance(before, dict):
            # the stages were made with options no longer known: keeping them could
            # report one run's stages under another's options
            raise ConfigError(
                f"{recorded}, the record of the options the stages in {out} were made "
                "with, is damaged, so they cannot be checked against this run's and are "
                "not kept: pass another --out for a new run, or empty this one to start "
                "afresh there"
            )
        if before != options:
            shown = ", ".join(f"{k} {before.get(k)!r} (now {v!r})" for k, v in options.items()
                              if before.get(k) != v)  # fmt: skip
            raise ConfigError(
                f"{out} holds a quickstart run made with other options: {shown}; rerun with "
                "its options to resume it, or pass another --out for a new run"
            )
    _write_json(recorded, options)


def run(
    *,
    minutes: float = 15.0,
    preset: str | None = None,
    device: str | None = None,
    out: Path = Path("lexforge-quickstart"),
    vocab_size: int = 8192,
    show_progress: bool | None = None,
    precision: str | None = None,
) -> int:
    """Runs the quickstart and prints its report; returns an exit code. A second
    quickstart into the same ``out`` while one runs is refused at once (it would time its
    pretraining against the first, rewrite its plan, and train into its folders)."""
    from lexforge._extras import require
    from lexforge._progress import log_lines

    require("the quickstart", "torch", "safetensors")
    with contextlib.ExitStack() as held:
        if show_progress is None:  # a log (nohup, CI) shows progress too: in lines
            held.enter_context(log_lines())
        try:
            return _run(held, minutes, preset, device, out, vocab_size, show_progress, precision)
        except KeyboardInterrupt as e:
            if str(e):  # (pretraining says what it saved)
                raise
            raise _interrupted(  # the stage under way starts again, the others are kept
                f"the same quickstart command (--out {out}) resumes: the stages done are kept",
                e,
            ) from None


def _interrupted(message: str, cause: KeyboardInterrupt) -> KeyboardInterrupt:
    """A ``KeyboardInterrupt`` saying ``message`` that keeps the signal of ``cause`` (a
    SIGTERM's: the command exits 143, as the loops' own ``Stopped`` makes it)."""
    interrupted = KeyboardInterrupt(message) if message else KeyboardInterrupt()
    interrupted.signum = getattr(cause, "signum", signal.SIGINT)  # type: ignore[attr-defined]
    return interrupted


def _run(
    held: contextlib.ExitStack,
    minutes: float,
    preset: str | None,
    device: str | None,
    out: Path,
    vocab_size: int,
    show_progress: bool | None,
    precision: str | None = None,
) -> int:
    import torch

    from ._locks import only_writer
    from .model.config import PRESETS
    from .train._fit import resolve_device
    from .train._fit_options import check_precision

    # every option is checked before anything is written: a bad one is never recorded
    number = isinstance(minutes, (int, float)) and not isinstance(minutes, bool)
    if not (number and math.isfinite(minutes) and minutes > 0):
        raise ConfigError(f"--minutes must be a positive number, got {minutes}")
    if minutes > 1e6:  # (past it, seconds overflow into inf on the way)
        raise ConfigError(f"--minutes must be at most 1,000,000 (about two years), got {minutes}")
    budget = minutes * 60
    check_int("vocab_size", vocab_size, least=1)
    if not isinstance(out, Path):
        if not isinstance(out, (str, os.PathLike)):
            raise ConfigError(f"out must be a path, got {type(out).__name__}")
        if not os.fspath(out):  # (Path("") is the working directory)
            raise ConfigError(
                "--out is empty (an unset shell variable?); name the run's folder, or leave "
                "--out out for ./lexforge-quickstart"
            )
        out = Path(out)
    # tiny at every budget: the one measured end to end on two cores (15 and 30 minutes);
    # --preset picks another, its rate scaled to its width
    preset = preset or "tiny"
    if preset not in PRESETS:
        raise ConfigError(f"unknown --preset {preset!r}; choose one of {', '.join(PRESETS)}")
    resolve_device(device)
    check_precision(precision)
    for at in (out, *out.parents):  # the nearest one that exists must be a directory
        if at.exists():
            if not at.is_dir():
                where = "is a file" if at == out else f"is inside {at}, which is a file"
                raise ConfigError(
                    f"--out {out} {where}; pass a directory (a new one, or an earlier run's to "
                    "resume it)"
                )
            break
    if out.is_dir() and not (out / "quickstart.json").is_file():  # a run's is recorded first
        others = sorted(p.name for p in out.iterdir() if p.name != ".quickstart.lock")
        finished = sorted(p.parent.name for p in out.glob("*/done.json"))
        if finished:  # a run's stages, whose options went with their record
            raise ConfigError(
                f"--out {out} holds the stages of a quickstart run ({', '.join(finished[:3])}"
                f"{', ...' if len(finished) > 3 else ''}) but not its quickstart.json, the "
                "record of the options they were made with, so they cannot be checked "
                "against this run's and are not kept: pass another --out for a new run, or "
                "empty this one to start afresh there"
            )
        if others:  # (its report.md, say, would be replaced)
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise ConfigError(
                f"--out {out} holds files of its own ({shown}) and no quickstart run; the "
                "quickstart writes report.md, tokenizer/, pretrain/... there: pass a new or "
                "empty directory (or an earlier run's, to resume it)"
            )
    for managed in ("datasets", "corpora"):  # the cache's folders, which lexforge replaces
        cache = (datasets._fetch.cache_root() / managed).resolve()
        if out.resolve() == cache or cache in out.resolve().parents:
            raise ConfigError(
                f"--out {out} is inside lexforge's cache ({cache}), whose folders are "
                "replaced when a dataset is fetched again; pass a directory outside it"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
        held.enter_context(only_writer(out / ".quickstart.lock", lambda: ConfigError(
            f"another lexforge quickstart is running into {out}; wait for it to finish (a "
            "rerun then resumes it), or pass another --out"
        )))  # fmt: skip
    except OSError as e:
        raise ConfigError(
            f"--out {out}: cannot write there ({e.strerror or e}); pass a directory you "
            "may write to"
        ) from None
    _check_same_run(out, {"minutes": minutes, "preset": preset, "vocab_size": vocab_size})
    stages = _Stages(out)
    # task by task, ours then MiniLM: what MiniLM's first stage takes past its limit (its
    # evaluations) is then known while two stages are left to share it
    finetuning = [(f"{system}-{task}", system) for task in TASKS for system in ("ours", "minilm")]
    names = ["tokenizer", "pretrain", "words", *(f"tfidf-{t}" for t in TASKS)]
    for name in [*names, *(n for n, _ in finetuning)]:  # said now, not after stages ran
        if (out / name).exists() and not (out / name).is_dir():
            raise ConfigError(
                f"--out {out} holds a file {name}, where the quickstart writes its {name} "
                "stage; move it away, or pass another --out"
            )
    clock = _Clock(budget, [("pretrain", "pretrain", SHARE["pretrain"])] + [
        (name, system, SHARE[system] / len(TASKS)) for name, system in finetuning
    ])  # fmt: skip
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    precision = _precision(dev, precision)
    on = dev if precision is None else f"{dev} in {precision}"
    _say(f"lexforge quickstart: {minutes:g} minutes, {preset} BERT, {on}, into {out}/")

    held_out = {t for split in ("validation", "test") for t, _ in
                datasets.load_labelled("wiki-leads", split=split)}  # fmt: skip

    def tokenizer(folder: Path) -> dict[str, Any]:
        from lexforge.tokenizer import Tokenizer

        folder.mkdir(parents=True, exist_ok=True)
        docs = [d for name in CORPORA for d in datasets.load_corpus(name)
                if d.strip() and d not in held_out]  # fmt: skip
        rng = random.Random(0)
        rng.shuffle(docs)
        cut = max(1, len(docs) // 50)  # the held-out MLM text: corpus documents only
        extra = _task_documents(set(docs), rng)
        train = docs[cut:] + extra
        rng.shuffle(train)
        atomic_write(folder / "eval.txt", "\n\n".join(docs[:cut]) + "\n")
        atomic_write(folder / "train.txt", "\n\n".join(train) + "\n")
        tok = Tokenizer.train_wordpiece(files=[folder / "train.txt"], vocab_size=vocab_size,
                                        show_progress=show_progress)  # fmt: skip
        tok.save(folder / "tokenizer.json")
        return {"documents": len(docs), "task_documents": len(extra),
                "vocab_size": tok.vocab_size}  # fmt: skip

    clock.spend(stages.run("tokenizer", tokenizer)["seconds"])
    tok_dir = out / "tokenizer"

    def pretraining(folder: Path) -> dict[str, Any]:
        started = time.perf_counter()
        earlier = _earlier_attempts(folder)
        from lexforge.model import BertConfig, BertForMaskedLM, BertForPreTraining
        from lexforge.shards import build_shards
        from lexforge.tokenizer import Tokenizer
        from lexforge.train import pretrain
        from lexforge.train._interrupt import Stopped

        tok = Tokenizer.from_file(tok_dir / "tokenizer.json")
        shards = build_shards(tok_dir / "train.txt", folder / "shards", tok, progress=show_progress)
        eval_shards = build_shards(tok_dir / "eval.txt", folder / "eval-shards", tok,
                                   progress=show_progress)  # fmt: skip
        # no dropout while pretraining: the run sees the corpus about once, and dropout
        # only slows it (cramming, Geiping & Goldstein 2022); the exported model carries
        # BERT's 0.1 for fine-tuning
        config = BertConfig.preset(preset, vocab_size=tok.vocab_size, hidden_dropout=0.0,
                                   attention_dropout=0.0)  # fmt: skip
        recipe = _recipe(config.hidden_size)
        plan_file = folder / "plan.json"
        planned = _planned_steps(plan_file) if (folder / "checkpoints").is_dir() else None
        if planned is None and (folder / "checkpoints").is_dir():
            # an interrupted attempt's checkpoints without its plan: their learning-rate
            # schedule is unknown, so they are not resumed
            _say(f"[pretrain] {plan_file} is missing or damaged: the checkpoints of the "
                  "interrupted attempt are not resumed; pretraining starts afresh")  # fmt: skip
            shutil.rmtree(folder / "checkpoints")
            (folder / "log.jsonl").unlink(missing_ok=True)
        if planned is not None:
            # an interrupted run resumes with its plan: a new step count would change its
            # learning-rate schedule halfway
            steps = planned
            _say(f"[pretrain] resuming: {steps} steps, as planned")
        else:
            seconds = _seconds_per_step(shards, config, recipe, dev, precision)
            # the stage's limit, less what building the shards and timing took
            left = pretrain_limit - (time.perf_counter() - started)
            steps = max(20, int(left / seconds))
            _say(f"[pretrain] {seconds:.2f} s per step: {steps} steps of "
                  f"{RECIPE['batch_size']} x {RECIPE['max_seq_len']}")  # fmt: skip
            _write_json(plan_file, {"steps": steps, "seconds_per_step": seconds})
        try:
            pretrain(
                shards, folder, model=config, eval_data=eval_shards, steps=steps,
                save_every=max(10, steps // 4), eval_every=steps, eval_batches=8,
                # (a stage killed before its first checkpoint starts again from step 0)
                log_every=max(1, steps // 20), resume=True,
                device=dev, precision=precision, progress=show_progress, **recipe,
            )  # fmt: skip
        except CheckpointError as e:  # (a full disk): what resumes it is this command
            again = f"the same quickstart command (--out {out}) resumes from it"
            raise CheckpointError(
                str(e).replace("resume=True (lexforge pretrain --resume) continues from it", again)
            ) from e
        except Stopped as e:  # Ctrl-C: the step it stopped after is saved
            raise _interrupted(
                f"pretraining stopped after step {e.step} of {steps}, saved: the same "
                f"quickstart command (--out {out}) resumes from it", e,
            ) from None  # fmt: skip
        kind = BertForMaskedLM if RECIPE["objective"] == "none" else BertForPreTraining
        exported = kind.from_pretrained(folder / "model", hidden_dropout=0.1, attention_dropout=0.1)
        exported.save_pretrained(folder / "model", tokenizer=tok)
        # the log's, not this process's history: a run killed after its last step
        # resumes with nothing left to train, and evaluates nothing
        records = [loads_json(line) for line in
                   (folder / "log.jsonl").read_text(encoding="utf-8").splitlines()]  # fmt: skip
        final = [r for r in records if r.get("split") == "eval"]
        return {"steps": steps, "tokens": shards.n_tokens, "eval": final[-1] if final else None,
                "earlier_seconds": earlier}  # fmt: skip

    pretrain_limit = clock.limit("pretrain")
    pretrained = stages.run("pretrain", pretraining, inputs=("tokenizer",))
    clock.spend(pretrained["seconds"])

    def words(folder: Path) -> dict[str, Any]:
        from lexforge.model import BertModel
        from lexforge.model.similarity import compare, contextual_space, cooccurrence_space

        docs = (tok_dir / "train.txt").read_text(encoding="utf-8").split("\n\n")
        docs = docs[: 400 if minutes < 6 else 1500]
        with warnings.catch_warnings():  # the MLM head is left out on purpose, and an
            # MLM-only run has no pooler: word vectors are hidden states, which need neither
            warnings.filterwarnings("ignore", message=".*ignored .* weights.*")
            warnings.filterwarnings("ignore", message=".*no weights for pooler.*")
            model = BertModel.from_pretrained(out / "pretrain" / "model").to(dev)
        spaces = [
            contextual_space(model, docs, min_count=5, max_words=3000),
            cooccurrence_space(docs, tokenizer=model.tokenizer, min_count=5, max_words=3000),
        ]
        rows = compare(spaces, PROBES, k=6)
        return {"documents": len(docs), "words": len(spaces[0].words), "probes": rows}

    neighbours = stages.run("words", words, inputs=("tokenizer", "pretrain"))
    clock.spend(neighbours["seconds"])
    # the baseline first (seconds): the fine-tuning stages then share all that is left
    baseline = {task: stages.run(f"tfidf-{task}", lambda folder, t=task: _baseline(t))
                for task in TASKS}  # fmt: skip
    for result in baseline.values():
        clock.spend(result["seconds"])
    minilm = Path(datasets.files("all-MiniLM-L6-v2")["model_dir"])
    systems = {"ours": out / "pretrain" / "model", "minilm": minilm}
    results: dict[str, dict[str, Any]] = {task: {} for task in TASKS}
    for name, system in finetuning:
        task = name.removeprefix(f"{system}-")
        limit = clock.limit(name)
        results[task][system] = done = stages.run(
            name,
            lambda folder, c=systems[system], t=task, s=system, limit=limit: _finetune(
                c,
                t,
                folder,
                limit,
                dev,
                show_progress,
                minilm=s == "minilm",
                precision=precision,
            ),
            inputs=("pretrain",) if system == "ours" else (),
        )
        # (a stage kept from a run made before limits were recorded: this run's)
        clock.ran(name, done["seconds"], done.get("time_limit", limit))
    for task in TASKS:  # (the report's order: ours, MiniLM, the baseline)
        results[task] = {s: results[task][s] for s in systems} | {"tfidf": baseline[task]}
    report = _report(out, minutes, preset, pretrained, results, neighbours, clock.spent, on)
    _say(report)
    return 0


def _precision(device: str, precision: str | None) -> str | None:
    """The run's precision: as asked, else bf16 on a CPU that multiplies bfloat16 natively
    (on a 2-core AMD EPYC the 15 minutes then pretrain 1.7x the steps and fine-tune MiniLM
    2.3x, every score level or higher: ``benches/RESULTS.md``, 2026-12-07), else the
    device's default (bf16 on CUDA, float32 on a CPU without it)."""
    from .train._fit import native_bf16

    if precision is None and device == "cpu" and native_bf16():
        return "bf16"
    return precision


def _planned_steps(plan_file: Path) -> int | None:
    """The step count an interrupted pretraining attempt planned, or None when its plan is
    missing or damaged."""
    try:
        steps = loads_json(plan_file.read_text(encoding="utf-8"))["steps"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return steps if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 else None


def _task_documents(corpus: set[str], rng: random.Random) -> list[str]:
    """The tasks' unlabelled training text that the corpora lack (rt-polarity's reviews),
    as documents of a few sentences, repeated ``TASK_TEXT_REPEATS`` times in new orders:
    task-adaptive pretraining (Gururangan et al. 2020). Validation and test text is never
    used."""
    docs = []
    for task in TASKS:
        texts = [" ".join(t.split()) for t, _ in datasets.load_labelled(task, split="train")
                 if t not in corpus]  # fmt: skip
        texts = [t for t in texts if t]
        for _ in range(TASK_TEXT_REPEATS):
            rng.shuffle(texts)
            docs += ["\n".join(texts[i : i + 8]) for i in range(0, len(texts), 8)]
    return docs


def _seconds_per_step(
    shards: Any, config: Any, options: dict[str, Any], device: str, precision: str | None = None
) -> float:
    """Times a few training steps of the model the run will train (after one warm-up)."""
    import torch

    from lexforge.model import BertForMaskedLM, BertForPreTraining
    from lexforge.pretraining import PretrainingBatches
    from lexforge.train._fit import adamw, autocast
    from lexforge.train.pretrain_stream import _forward, _Micro

    nsp = options["objective"] != "none"
    model = (BertForPreTraining if nsp else BertForMaskedLM)(config).to(device)
    opt = adamw(model.parameters(), lr=1e-4)  # the optimizer the run will use
    # the run's batches: its objective (packed rows, or NSP/SOP pairs, which hold fewer
    # tokens) at its masking rate (the MLM head scores every masked token)
    batches = iter(PretrainingBatches(shards, batch_size=options["batch_size"],
                                      max_seq_len=options["max_seq_len"], seed=1,
                                      objective=options["objective"],
                                      mlm_probability=options["mlm_probability"]))  # fmt: skip
    times = []
    for _ in range(9):
        # the loop's own batch layout and forward (on the CPU the head scored in chunks)
        micro = _Micro.of(next(batches), torch.device(device), None)
        start = time.perf_counter()
        with autocast(torch.device(device), precision):  # the loop's (bf16 on CUDA)
            out = _forward(model, micro.batch, options["objective"], micro.layout)
        out.loss.backward()
        opt.step()
        opt.zero_grad()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    # the lower quartile, plus the data path: a moment of load from another process (a
    # pip install) slows some of the steps timed, and a plan made from them would keep
    # the whole run short
    return sorted(times[1:])[len(times[1:]) // 4] * 1.2


def _finetune(
    checkpoint: Path, task: str, folder: Path, seconds: float, device: str,
    progress: bool | None, *, minilm: bool, precision: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    from lexforge.train import finetune

    # short budgets want high rates: MiniLM at 2e-4 with layer decay 0.9 (its lower layers
    # move less), our small model at 1e-3 for 4 epochs (2e-3 sometimes never leaves chance
    # on rt-polarity), twice, the two runs averaged (a greedy model soup: +1.4 points on
    # rt-polarity over a single run); inputs cut to 64 tokens (twice the steps of 128;
    # rt-polarity sentences fit, wiki-leads topics show in the first sentences)
    # ours: 1e-3 for the tiny model, scaled to a wider one's width as in pretraining
    hidden = loads_json((checkpoint / "config.json").read_text(encoding="utf-8"))["hidden_size"]
    ours_lr = 1e-3 * min(1.0, RECIPE_WIDTH / hidden)
    if (folder / "best").exists():  # this stage's own, from a run killed before done.json
        _say(f"[{folder.name}] replacing the model of an earlier attempt ({folder / 'best'})")
        shutil.rmtree(folder / "best")
    with warnings.catch_warnings(record=True) as caught, _stops_at_once():
        warnings.simplefilter("always")
        try:
            result = finetune(
                checkpoint, task, out_dir=folder, epochs=3 if minilm else 4, batch_size=32,
                lr=2e-4 if minilm else ours_lr, layer_decay=0.9 if minilm else 1.0,
                max_length=64, time_limit=seconds, device=device, precision=precision,
                progress=progress, runs=1 if minilm else OUR_RUNS,
            )  # fmt: skip
        except KeyboardInterrupt as e:  # (fine-tuning's Ctrl-C: its own advice is not ours)
            raise _interrupted("", e) from None
    for w in caught:  # finetune's advice names its own options; the quickstart's is --minutes
        text = str(w.message).replace(
            "raise time_limit (--time-limit) or ask for fewer runs (--runs)",
            "give the quickstart more --minutes",
        )
        warnings.warn_explicit(text, w.category, w.filename, w.lineno)
    test = result.test or {}
    steps = {h.get("run", 1): h["step"] for h in result.history}  # each run's last record
    return {"accuracy": test.get("accuracy"), "macro_f1": test.get("macro_f1"),
            "validation_macro_f1": result.validation.get("macro_f1"),
            "steps": sum(steps.values()), "soup": list(result.soup),
            "time_limit": round(seconds, 1)}  # fmt: skip


@contextlib.contextmanager
def _stops_at_once() -> Iterator[None]:
    """Ctrl-C or SIGTERM in a fine-tuning stage stops it at once: on its own, fine-tuning
    finishes the step, scores it and writes ``best/`` before it stops (a minute for
    MiniLM), which the rerun then replaces, since a stage starts again from its start.
    Over Python's own handlers only (a caller's own stays), in the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        interrupted = KeyboardInterrupt()
        interrupted.signum = signum  # type: ignore[attr-defined]
        raise interrupted

    defaults: dict[int, Any] = {
        signal.SIGINT: signal.default_int_handler,
        signal.SIGTERM: signal.SIG_DFL,
    }
    replaced = [s for s, default in defaults.items() if signal.getsignal(s) is default]
    for signum in replaced:
        signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum in replaced:
            signal.signal(signum, defaults[signum])


def _baseline(task: str) -> dict[str, Any]:
    from lexforge.train.baseline import tfidf_baseline

    train = datasets.load_labelled(task, split="train")
    test = datasets.load_labelled(task, split="test")
    labels = sorted({y for _, y in train})
    metrics = tfidf_baseline(train, test, labels)
    return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def _report(
    out: Path,
    minutes: float,
    preset: str,
    pretrained: dict[str, Any],
    results: dict[str, Any],
    neighbours: dict[str, Any],
    spent: float,
    device: str,
) -> str:
    names = {
        "ours": f"lexforge BERT ({preset}, pretrained here)",
        "minilm": "all-MiniLM-L6-v2, fine-tuned",
        "tfidf": "TF-IDF + logistic regression",
    }
    took = f"{int(spent // 60)} min {spent % 60:.0f} s"
    lines = [
        "# lexforge quickstart",
        "",
        f"A budget of {minutes:g} minutes on {device}; the stages took {took} in all "
        "(an interrupted pretraining's time up to its last checkpoint included; an "
        "interrupted stage that started again counts its last attempt alone).",
        "",
    ]
    ev = {k: v for k, v in (pretrained.get("eval") or {}).items() if v is not None}
    curves = out / "pretrain" / "curves.png"
    plotted = f"; curves: {curves}." if curves.is_file() else " (its curves.png is gone)."
    lines.append(
        f"Pretraining: {pretrained['steps']} steps of {RECIPE['batch_size']} x "
        f"{RECIPE['max_seq_len']} tokens, over a corpus of {pretrained['tokens']:,}, "
        f"{RECIPE['mlm_probability']:.0%} of the tokens masked; "
        f"held-out MLM loss {ev.get('mlm_loss', float('nan')):.3f}, "
        f"accuracy {ev.get('mlm_accuracy', float('nan')):.3f} (at that rate). "
        f"Model: {out / 'pretrain' / 'model'}{plotted}"
    )
    lines += [
        "",
        "| task | system | test accuracy | test macro-F1 | training steps | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for task, systems in results.items():
        for system, r in systems.items():
            acc, f1 = r.get("accuracy"), r.get("macro_f1")
            steps = r.get("steps", "-")
            if system == "ours" and len(r.get("soup") or ()) > 1:
                steps = f"{steps} ({len(r['soup'])} runs averaged)"
            lines.append(f"| {task} | {names[system]} | {_pct(acc)} | {_pct(f1)} | {steps} "
                         f"| {r.get('seconds', float('nan')):.0f} |")  # fmt: skip
    gone = sorted(p.parent.name for p in (out / f"{n}" / "confusion.png"
                                          for t in results for n in (f"ours-{t}", f"minilm-{t}"))
                  if not p.is_file())  # fmt: skip
    lines += ["", f"Confusion matrices: {out}/<system>-<task>/confusion.png"
              + (f" (gone: {', '.join(gone)})." if gone else ".")]  # fmt: skip
    if neighbours.get("probes"):
        lines += [
            "",
            f"Nearest words ({neighbours['words']:,} words of {neighbours['documents']:,} "
            "documents): contextual vectors of our model averaged over the corpus, against "
            "static co-occurrence (PPMI + SVD) vectors of the same words.",
            "",
            "| word | contextual (ours) | co-occurrence SVD |",
            "|---|---|---|",
        ]
        for row in neighbours["probes"]:
            shown = [", ".join(w for w, _ in row["neighbours"][kind])
                     for kind in ("contextual", "co-occurrence")]  # fmt: skip
            lines.append(f"| {row['word']} | {shown[0]} | {shown[1]} |")
    text = "\n".join(lines) + "\n"
    atomic_write(out / "report.md", text)
    _write_json(out / "report.json", {"pretrain": pretrained, "results": results,
                                       "words": neighbours})  # fmt: skip
    return text


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
