"""What a fine-tuning run is asked for, checked before any data or model is read:
``FitOptions`` (epochs, learning rate, warm-up, decay, patience, budgets, runs, seed),
``check_warmup`` (shared with pretraining), ``check_max_length`` and ``check_out_dir``;
``one_run``, which keeps a run alone in its out_dir and its process group."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from ..errors import ConfigError

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: Any) -> None:
    """``precision`` is None (bf16 autocast on CUDA, float32 elsewhere), "fp32" or "bf16"."""
    if precision is not None and precision not in PRECISIONS:
        raise ConfigError(
            f"precision must be 'fp32', 'bf16' or None (bf16 on CUDA, fp32 on the CPU), got "
            f"{precision!r}"
        )


def check_warmup(warmup: float) -> None:
    """A warmup is a fraction of the run (below 1) or a whole number of steps."""
    if warmup >= 1 and warmup != int(warmup):
        raise ConfigError(
            f"warmup={warmup:g}: give a fraction of the run below 1, or a whole number of steps"
        )


@dataclass(frozen=True)
class FitOptions:
    epochs: int = 3
    lr: float = 5e-5
    warmup: float = 0.1
    weight_decay: float = 0.01
    layer_decay: float = 1.0
    clip: float = 1.0  # the gradient's largest norm (0: no clipping)
    patience: int | None = None
    max_steps: int | None = None
    time_limit: float | None = None
    batch_size: int = 32
    runs: int = 1  # fine-tuning runs averaged into a greedy model soup (``fit``)
    seed: int = 0  # run r orders its data and seeds its dropout with seed + r
    precision: str | None = None  # "bf16" (autocast) or "fp32"; None: bf16 on CUDA only

    def __post_init__(self) -> None:
        check_precision(self.precision)
        for name in ("epochs", "batch_size", "runs", "seed", "patience", "max_steps"):
            value = getattr(self, name)
            optional = name in ("patience", "max_steps")
            if not (optional and value is None) and not _integer(value):
                raise ConfigError(f"{name} must be a whole number, got {value!r}")
            if value is not None:  # NumPy's integers as Python's: their arithmetic
                # (2**64 - runs) overflows, and random.Random refuses them as seeds
                object.__setattr__(self, name, int(value))
        for name in ("epochs", "batch_size", "runs", "max_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if self.runs > 1000:  # (past it, the seeds' range below would be blamed on seed)
            raise ConfigError(
                f"runs must be at most 1,000 (fine-tuning runs of one model, their weights "
                f"averaged), got {self.runs}"
            )
        if not -(2**63) <= self.seed <= 2**64 - self.runs:  # what torch.manual_seed takes
            raise ConfigError(
                f"seed must be in [-2**63, 2**64 - runs] (run r seeds with seed + r), got "
                f"{self.seed}"
            )
        if self.patience is not None and self.patience < 1:
            raise ConfigError(
                f"patience must be at least 1 (epochs in a row without a better validation "
                f"score before stopping), got {self.patience}"
            )
        for name in ("lr", "warmup", "weight_decay", "layer_decay", "clip", "time_limit"):
            value = getattr(self, name)
            if name == "time_limit" and value is None:
                continue
            if not _real(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        for name in ("warmup", "weight_decay", "clip"):
            if getattr(self, name) < 0:
                what = " (0: no clipping)" if name == "clip" else ""
                raise ConfigError(f"{name} must be at least 0{what}, got {getattr(self, name)}")
        check_warmup(self.warmup)
        if not 0 < self.layer_decay <= 1:
            raise ConfigError(f"layer_decay must be in (0, 1], got {self.layer_decay}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise ConfigError(f"time_limit must be positive (seconds), got {self.time_limit}")


def _integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _real(value: Any) -> bool:
    """A finite int or float (not a bool, a string or a tensor)."""
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def check_max_length(max_length: Any) -> None:
    """``max_length`` leaves room for [CLS], one token and [SEP]."""
    if not _integer(max_length) or max_length < 3:
        raise ConfigError(
            f"max_length must be a whole number of at least 3 ([CLS], a token, [SEP]), got "
            f"{max_length!r}"
        )


# what fine-tuning writes into out_dir (best/ whole): an input there would be lost
WRITTEN = ("log.jsonl", "metrics.json", "confusion.png", "predictions.json")


def check_out_dir(out_dir: Any, *, model: Any = None, data: tuple[Any, ...] = ()) -> None:
    """``out_dir`` (None, or a directory to write into) is not an existing file, and
    fine-tuning there would replace none of its inputs: ``model`` (a checkpoint folder in
    ``out_dir/best``) or a ``data`` file named as one of the files it writes. Said before
    any data or model is read, not when the first file is written."""
    if out_dir is None:
        return
    path = Path(out_dir)
    if path.is_dir():
        best = (path / "best").resolve()
        sources = [("model", model), *(("data file", d) for d in data)]
        for kind, source in sources:
            if not isinstance(source, (str, os.PathLike)) or not Path(source).exists():
                continue
            at = Path(source).resolve()
            if (
                at == best
                or best in at.parents
                or (at.parent == path.resolve() and at.name in WRITTEN)
            ):
                raise ConfigError(
                    f"out_dir {out_dir} would replace the {kind} {os.fspath(source)} (fine-"
                    f"tuning writes best/ and {', '.join(WRITTEN)} there); pass another out_dir"
                )
    for at in (path, *path.parents):  # the nearest one that exists must be a directory
        if at.exists():
            if not at.is_dir():
                where = "is a file" if at == path else f"is inside {at}, which is a file"
                raise ConfigError(f"out_dir {out_dir} {where}; pass a directory to write into")
            return


FIT_LOCK = ".finetune.lock"
# where a Ctrl-C (or SIGTERM) stopped the fine-tuning loop ({"step", "epoch", "run",
# "signum"}), for the entry point to raise ``Stopped`` once the run's files are written
STOPPED: ContextVar[dict[str, int] | None] = ContextVar("lexforge_fit_stopped", default=None)
_HELD: set[Path] = set()  # the out_dirs this process is fine-tuning into
_F = TypeVar("_F", bound=Callable[..., Any])


def one_run(fn: _F) -> _F:
    """A fine-tuning entry point, run alone: in one process (under torchrun each rank would
    train the whole job and write over the others' files) and as the only run writing into
    its ``out_dir`` (the lock ``FIT_LOCK`` there: a second run's deletions of the first
    one's files broke both). A run that fails before writing anything leaves no folder."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        from ..ops.reproducible import thread_invariant

        token = STOPPED.set(None)
        try:
            with thread_invariant():
                result = _run(*args, **kwargs)
            stopped = STOPPED.get()
        finally:
            STOPPED.reset(token)
        if stopped is not None:
            raise _stopped(stopped, kwargs.get("out_dir"), result)
        return result

    def _run(*args: Any, **kwargs: Any) -> Any:
        from .._locks import only_writer
        from ..formats import make_folder
        from .distributed import _launch

        size = _launch()[1]
        if size > 1:
            raise ConfigError(
                f"fine-tuning runs in one process, and this is one of {size} (torchrun): each "
                "would train the whole job and write over the others' files; launch it "
                "without torchrun (it is pretraining that torchrun spreads over processes)"
            )
        out_dir = kwargs.get("out_dir")
        if out_dir is None:
            return fn(*args, **kwargs)
        check_out_dir(out_dir)  # a file in the way is named before a folder is made
        path = Path(out_dir)
        if path.resolve() in _HELD:  # finetune(task=...) handing the run on
            return fn(*args, **kwargs)
        made = [at for at in (path, *path.parents) if not at.exists()]
        make_folder(path)
        refusal = lambda: ConfigError(  # noqa: E731
            f"another fine-tuning run is writing into {out_dir}; wait for it to finish, or "
            "pass another out_dir"
        )
        with only_writer(path / FIT_LOCK, refusal):  # (refused: another run's folder)
            _HELD.add(path.resolve())
            try:
                return fn(*args, **kwargs)
            finally:
                _HELD.discard(path.resolve())
                if made and [at.name for at in path.iterdir()] == [FIT_LOCK]:
                    (path / FIT_LOCK).unlink(missing_ok=True)
                    for at in made:  # nothing was written: the folders made for it go
                        try:
                            at.rmdir()
                        except OSError:
                            break

    return cast(_F, run)


def _stopped(where: dict[str, int], out_dir: Any, result: Any) -> BaseException:
    """The ``Stopped`` (a ``KeyboardInterrupt``) of a run that Ctrl-C stopped early, its
    files written; the run's result (``FinetuneResult``) is its ``result``."""
    from ._interrupt import Stopped, signal_name

    at = f"step {where['step']} (epoch {where['epoch']}"
    at += f", run {where['run']})" if where["run"] > 1 else ")"
    epoch = (getattr(result, "validation", None) or {}).get("epoch")
    model = f"its best epoch so far (epoch {epoch})" if epoch else "the model at that step"
    kept = (
        f"{Path(out_dir) / 'best'} holds {model}, metrics.json its scores"
        if out_dir is not None else f"the returned model is {model} (this exception's .result)"
    )  # fmt: skip
    stopped = Stopped(
        f"fine-tuning stopped by {signal_name(where['signum'])} after {at}: {kept}; it does "
        "not resume (the same command trains again from the start)",
        where["step"], out_dir is not None, where["signum"],
    )  # fmt: skip
    stopped.result = result  # type: ignore[attr-defined]
    return stopped
