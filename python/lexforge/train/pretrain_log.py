"""What a pretraining run reports: held-out evaluations (:class:`_Evaluator`, a fixed set
of batches dealt out over the ranks) and the log (:class:`_Log`: the progress bar,
``log.jsonl`` and the curves, written by rank 0). It does not train.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._json import loads_json
from .distributed import _World
from .pretrain_options import PretrainOptions
from .pretrain_stream import _forward, _step_totals, _stream, _to


class _Evaluator:
    """Held-out batches: a fixed set, the same at every evaluation and for any number of
    processes (the first ``eval_batches`` of one pass over the held-out data, or the whole
    pass when it is shorter, dealt out over the ranks). Every rank runs as many forward
    passes (a sharded model gathers its weights in each); those past the set count
    nothing."""

    def __init__(self, data: Any, opts: PretrainOptions, world: _World) -> None:
        from ..shards import ShardSet

        shards = data if isinstance(data, ShardSet) else ShardSet(data)
        # batches rank, rank + size, ... of one pass: held-out data shorter than the set is
        # scored once, its last batch short, not over again with other masks
        once = _stream(shards, opts, world, 0, "eval_data", epochs=1)
        each = -(-opts.eval_batches // world.size)
        self.batches = [_to(b, world.device) for b in itertools.islice(once, each)]
        self.counted = min(len(self.batches), len(range(world.rank, opts.eval_batches, world.size)))
        if len(self.batches) < each:  # a rank past the pass's end still runs each forward
            filler = self.batches[0] if self.batches else _to(
                next(_stream(shards, opts, world, 0, "eval_data")), world.device
            )  # fmt: skip
            self.batches += [filler] * (each - len(self.batches))
        self.opts, self.world = opts, world

    @torch.no_grad()
    def run(self, net: nn.Module, autocast: Any) -> dict[str, float | None]:
        net.eval()
        totals = torch.zeros(4, dtype=torch.float64, device=self.world.device)
        masked = rows = 0.0
        for i, b in enumerate(self.batches):
            with autocast:
                o = _forward(net, b, self.opts.objective, None)
            if i >= self.counted:
                continue
            totals += _step_totals(o, b, self.opts.objective)
            masked += float((b["labels"] != -100).sum())
            rows += b["input_ids"].shape[0]
        mlm_loss, mlm_ok, nsp_loss, nsp_ok = self.world.sum(*totals.tolist())
        masked, rows = self.world.sum(masked, rows)
        result: dict[str, float | None] = _mlm_means(mlm_loss, mlm_ok, masked)
        if self.opts.objective != "none":
            result.update(nsp_loss=nsp_loss / rows, nsp_accuracy=nsp_ok / rows)
        return result


def _mlm_means(loss: float, correct: float, masked: float) -> dict[str, float | None]:
    """The MLM loss and accuracy per masked token; None (null in ``log.jsonl``) when no
    token was masked (a low or scheduled-to-zero rate): a 0 loss would read as perfect."""
    if masked == 0:
        return {"mlm_loss": None, "mlm_accuracy": None}
    return {"mlm_loss": loss / masked, "mlm_accuracy": correct / masked}


class _Log:
    """The progress bar, ``log.jsonl`` (a resumed run continues it from its checkpoint's
    step; a new run starts it afresh) and the curves; only rank 0 writes."""

    def __init__(
        self, out: Path, *, enabled: bool, progress: bool | None, total: int, start: int
    ) -> None:
        from .._progress import Progress

        self.enabled, self.out, self.total, self.done = enabled, out, total, start
        self.history: list[dict[str, Any]] = []
        self.bar = Progress(
            "pretraining", unit="steps", enabled=progress if enabled else False, done=start,
            total=total,
        )  # fmt: skip
        self.started = time.perf_counter()
        self.aside = 0.0  # seconds of the window spent on evaluations and checkpoints
        self.file = None
        if enabled:
            from ..formats import make_folder, write_failed

            make_folder(out)
            path = out / "log.jsonl"
            kept = []  # a resumed run keeps the records up to its checkpoint's step
            if start > 0 and path.exists():
                # (a damaged line, even one that is not UTF-8, is dropped, not fatal)
                text = path.read_bytes().decode("utf-8", errors="replace")
                for line in text.splitlines():
                    with contextlib.suppress(ValueError, TypeError, KeyError):
                        if loads_json(line)["step"] <= start:
                            kept.append(line + "\n")
            # replaced, not rewritten in place: a kill meanwhile keeps the whole history
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            try:
                tmp.write_text("".join(kept), encoding="utf-8")
                tmp.replace(path)
            except OSError as e:
                tmp.unlink(missing_ok=True)
                raise write_failed(path, e) from None
            self.file = path.open("a", encoding="utf-8")

    def seconds(self) -> float:
        """Training seconds since the last line (evaluations and checkpoints left out)."""
        return time.perf_counter() - self.started - self.aside

    def resume_window(self, seconds: float) -> None:
        """Counts ``seconds`` of training before this process (the window a checkpoint
        saved) into the next line's, beside the tokens they trained on."""
        if math.isfinite(seconds) and seconds > 0:
            self.started -= seconds

    def step(self, record: dict[str, Any]) -> None:
        elapsed = self.seconds()
        record["tokens_per_s"] = record.pop("tokens") / elapsed if elapsed > 0 else 0.0
        self.started, self.aside = time.perf_counter(), 0.0
        self._write({"split": "train", **record})
        self.bar(record["step"], self.total)

    @contextlib.contextmanager
    def set_aside(self) -> Iterator[None]:
        """Time that is not training (an evaluation, a checkpoint): left out of the
        window's tokens per second."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.aside += time.perf_counter() - start

    def eval(self, step: int, result: dict[str, float | None]) -> None:
        self._write({"split": "eval", "step": step, **result})

    def _write(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        if self.file is not None:
            try:
                self.file.write(json.dumps(record) + "\n")
                self.file.flush()
            except OSError as e:  # (a full disk): the file named, and how to go on
                raise self._failed(e) from None

    def _failed(self, e: OSError) -> OSError:
        from ..formats import write_failed

        hint = " (then resume=True, --resume, continues from the last checkpoint)"
        return write_failed(self.out / "log.jsonl", e, hint)

    def close(self) -> None:
        """Ends the bar (where it stopped, when an error or Ctrl-C is on its way out: this
        runs in the loop's ``finally``) and the log file."""
        self.bar.__exit__(*sys.exc_info())
        if self.file is not None:
            try:
                self.file.close()
            except OSError as e:  # the rest of a write that failed: said once, by it
                if sys.exc_info()[0] is None:
                    raise self._failed(e) from None

    def plot(self, objective: str = "nsp") -> None:
        from .plots import plot_curves

        plot_curves(self.out / "log.jsonl", self.out / "curves.png", objective)
