"""The fine-tuning loop every task shares: AdamW with layer-wise learning-rate decay,
linear warmup then decay, bf16 autocast on CUDA (or asked for on the CPU), clipping, a
time budget, evaluation after each epoch with the best epoch kept, early stopping, and
the run's files.

Ctrl-C stops a run early, as early stopping does: the step under way finishes, the part
of the epoch trained is scored like an epoch, and the best epoch so far is the model; the
entry point (``one_run``) writes its files as usual, then raises ``Stopped``. A second
Ctrl-C stops at once, writing nothing.

Options and their checks are ``_fit_options``'s; the task model, its tokenizer and its
device ``_fit_model``'s. Their names are re-exported here, where callers import them."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, TrainingDivergedError
from ..formats import write_failed
from ._fit_model import check_new_head as check_new_head
from ._fit_model import encode_batch as encode_batch
from ._fit_model import prepare as prepare
from ._fit_model import resolve_device as resolve_device
from ._fit_model import task_model as task_model
from ._fit_options import STOPPED, WRITTEN
from ._fit_options import FitOptions as FitOptions
from ._fit_options import check_max_length as check_max_length
from ._fit_options import check_out_dir as check_out_dir
from ._fit_options import check_warmup as check_warmup
from ._fit_options import one_run as one_run
from ._interrupt import StopRequest, signal_name


def autocast(device: torch.device, precision: str | None = None) -> Any:
    """The context a step runs in: bf16 autocast for ``precision="bf16"``, on CUDA by
    default (None); float32 otherwise. On the CPU bf16 is asked for: its products run on
    oneDNN's bfloat16 kernels (2-4x float32's speed where the CPU has AVX512-BF16 or AMX;
    emulated, and slower, where it has not: warned once), the weights, the optimizer and
    the losses stay float32, and a run gives the same bits at any thread count, as a
    float32 run does (``ops.reproducible``)."""
    if precision is None:
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return contextlib.nullcontext()
    if device.type not in ("cuda", "cpu"):
        raise ConfigError(f"precision='bf16' runs on CUDA or the CPU, not {device.type}")
    if device.type == "cpu":
        _warn_emulated_bf16()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def native_bf16() -> bool | None:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX, as oneDNN sees
    it); None when torch cannot say."""
    native = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return None if native is None else bool(native())


def _warn_emulated_bf16() -> None:
    global _bf16_warned
    if _bf16_warned or native_bf16() in (None, True):
        return
    _bf16_warned = True
    warnings.warn(
        "precision='bf16' on a CPU without native bfloat16 (AVX512-BF16 or AMX): its "
        "products are emulated, slower than float32; precision='fp32' is faster here",
        RuntimeWarning,
        stacklevel=4,
    )


_bf16_warned = False


def param_groups(model: Any, lr: float, decay: float, weight_decay: float) -> list[dict[str, Any]]:
    """Layer-wise learning-rate decay: the head at ``lr``, layer i of L at
    ``lr × decay^(L - i)``, the embeddings at ``lr × decay^(L + 1)``; no weight decay on
    biases and norms."""
    layers = len(model.bert.layers)
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if name.startswith("bert.embeddings."):
            depth = layers + 1
        elif name.startswith("bert.layers."):
            depth = layers - int(name.split(".")[2])
        else:  # the pooler, the task head, a pre-LN final norm
            depth = 0
        wd = 0.0 if p.dim() < 2 or "norm" in name else weight_decay
        groups.setdefault((lr * decay**depth, wd), []).append(p)
    return [{"params": ps, "lr": glr, "weight_decay": wd} for (glr, wd), ps in groups.items()]


def adamw(groups: Any, *, fused: bool = True, **options: Any) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` over ``groups`` with torch's fused kernel where it has one for
    the parameters' device (CUDA; the CPU from torch 2.4 on, where it is about 10x faster
    than the default per-tensor loop: a step over a 30k-token embedding table costs ms),
    else the default implementation. The fused update is elementwise: it does not depend
    on the thread count."""
    groups = list(groups)
    if fused:
        try:
            return torch.optim.AdamW(groups, fused=True, **options)
        except (RuntimeError, TypeError, ValueError):  # no fused kernel here (older torch)
            pass
    return torch.optim.AdamW(groups, **options)


def save_best(model: Any, out: Path, tokenizer: Any) -> None:
    """Saves the fine-tuned ``model`` as ``out/best``, in place of an earlier run's: its
    scores (metrics.json, confusion.png, predictions.json) go now, not when this run
    started (a run that failed or was killed kept the earlier model without them), and so
    do the temporary files of writes a kill cut short."""
    from .loop import _drop_stale_export

    for name in ("metrics.json", "confusion.png", "predictions.json"):
        (out / name).unlink(missing_ok=True)
    for stale in out.glob(".*.tmp-*"):
        if stale.is_file() and stale.name.split(".tmp-")[0][1:] in WRITTEN:
            stale.unlink(missing_ok=True)
    _drop_stale_export(out / "best")
    model.save_pretrained(out / "best", tokenizer=tokenizer)


def write_json(path: Path, payload: Any) -> None:
    """Writes ``payload`` as JSON atomically (a temporary file, then a rename); a failed
    write (a full disk) leaves no temporary file and names ``path`` and the fix."""
    from ..formats import write_failed

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise write_failed(path, e) from None
        raise


def warmup_steps(warmup: float, steps: int) -> int:
    """The warm-up's step count: ``warmup`` steps, or that share of ``steps`` when below 1,
    rounded down as written (0.29 of 100 is 29, though 0.29 * 100 is 28.999999999999996)."""
    return math.floor(warmup * steps + 1e-9) if warmup < 1 else int(warmup)


class Schedule:
    """The learning-rate factor of step ``s``: a linear warm-up over ``warmup`` (a share of
    the run, or a step count), then a linear decay to 0 at the run's last step. A time
    limit may change the run's length as it goes (``replan``, see :class:`Budget`): a
    warm-up still under way is fitted to the new length (it ends at once when the new one
    is already past), and a decay under way goes on from the present rate to 0 at the new
    last step, so the rate never jumps back up."""

    def __init__(self, warmup: float, total: int) -> None:
        self.warmup, self.total = warmup, total
        self.warm = self._warm(total)
        self.decay_from = (self.warm, 1.0)  # (step, factor) the decay starts from

    def _warm(self, total: int) -> int:
        return warmup_steps(self.warmup, total)

    def __call__(self, s: int) -> float:
        if s < self.warm:
            return (s + 1) / max(1, self.warm)
        start, rate = self.decay_from
        return max(0.0, rate * (self.total - s) / max(1, self.total - start))

    def replan(self, step: int, total: int) -> None:
        """The run now ends after ``total`` steps; ``step`` steps are done."""
        if total == self.total:
            return
        if step < self.warm:  # warming up: to the new share, or done now
            self.warm = max(self._warm(total), step) if self.warmup < 1 else self.warm
            self.decay_from = (self.warm, 1.0)
        else:
            self.decay_from = (step, self(step))
        self.total = total


class Budget:
    """Cuts a run of ``planned`` steps to fit ``seconds`` of training: a first estimate
    after 5 steps (they include warm-up costs, so it is cautious), a second from the
    speed of the next 20, which may give back steps up to ``planned``."""

    FIRST, SECOND = 5, 25

    def __init__(self, seconds: float, planned: int, started: float) -> None:
        self.seconds, self.planned, self.started = seconds, planned, started
        self.mark: tuple[int, float] | None = None

    def fit(self, step: int, total: int, now: float) -> int:
        """The run's step count after ``step`` steps, at time ``now``."""
        if step == min(self.FIRST, total) and self.mark is None:
            self.mark = (step, now)
            per_step = (now - self.started) / step
            return max(step, min(total, int(self.seconds / per_step)))
        if self.mark is not None and step == self.SECOND:
            first, then = self.mark
            per_step = max(now - then, 1e-9) / (step - first)
            left = self.seconds - (now - self.started)
            return max(step, min(self.planned, step + int(left / per_step)))
        return total


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of state dicts of one architecture (floating tensors averaged
    in float32 and cast back; other tensors, such as position ids, from the first)."""
    mean = {}
    for name, first in states[0].items():
        if first.is_floating_point():
            total = torch.stack([s[name].float() for s in states]).mean(0)
            mean[name] = total.to(first.dtype)
        else:
            mean[name] = first.clone()
    return mean


def greedy_soup(
    states: list[dict[str, torch.Tensor]],
    scores: list[float],
    score_state: Callable[[dict[str, torch.Tensor]], float] | None,
) -> tuple[dict[str, torch.Tensor], list[int]]:
    """A greedy model soup (Wortsman et al. 2022) of runs fine-tuned from one checkpoint:
    runs in order of ``scores`` (best first, ties by run order), each kept in the
    average only when ``score_state`` of the new average is at least the soup's score so
    far. Without ``score_state`` (no validation data), the uniform soup of all runs.
    Returns the averaged weights and the indices of the runs in it."""
    if score_state is None:
        return average_states(states), list(range(len(states)))
    order = sorted(range(len(states)), key=lambda i: (-scores[i], i))
    kept, best = [order[0]], scores[order[0]]
    for i in order[1:]:
        candidate = score_state(average_states([states[j] for j in [*kept, i]]))
        if candidate >= best:
            kept, best = [*kept, i], candidate
    return average_states([states[j] for j in kept]), sorted(kept)


@dataclass
class Fitted:
    """What ``fit`` leaves: every run's history (records tagged with their ``run``
    when there are several), the validation metrics of the model it leaves, the runs
    averaged into it (from 1; empty for a single run) and each run's best validation."""

    history: list[dict[str, Any]]
    best: dict[str, Any] | None
    soup: tuple[int, ...] = ()
    runs: list[dict[str, Any] | None] = field(default_factory=list)
    notice: str | None = None  # a warning for :meth:`warn`, once the model is saved

    def warn(self) -> None:
        """Issues the run's warning, if it has one; called after the caller saves the model,
        so that warnings made errors (``-W error``, pytest's filterwarnings) cannot lose it."""
        if self.notice is not None:
            warnings.warn(self.notice, stacklevel=3)

    def report(self, clean: Callable[[Any], Any] = lambda m: m) -> dict[str, Any]:
        """The runs and the soup for ``metrics.json`` (nothing for a single run)."""
        if not self.runs:
            return {}
        return {"runs": [{"run": i + 1, "validation": clean(b)} for i, b in enumerate(self.runs)],
                "soup": list(self.soup)}  # fmt: skip


def fit(
    model: nn.Module,
    batches: Callable[[int], Callable[[int], Iterable[tuple[dict[str, torch.Tensor], int]]]],
    steps_per_epoch: int,
    options: FitOptions,
    *,
    evaluate: Callable[[], dict[str, Any]] | None,
    score: Callable[[dict[str, Any]], float],
    summary: Callable[[dict[str, Any]], dict[str, Any]],
    device: torch.device,
    out: Path | None,
    progress: bool | None,
    label: str = "fine-tuning",
) -> Fitted:
    """Trains ``model`` on ``batches(seed)(epoch)`` (model keyword arguments, labels
    included, and the batch's weight in the epoch's mean loss: the rows, or the labelled
    pieces its loss averages); after each epoch ``evaluate()`` (when given) is
    scored by ``score`` and logged through ``summary``, and the best epoch's weights are
    kept. With ``options.runs`` > 1 it trains that many times from the model's present
    weights, run r on ``batches(options.seed + r)`` with its dropout seeded by the same
    (run 0 keeps the RNG as it is), ``options.time_limit`` shared among the runs; then the
    greedy soup of the runs (``greedy_soup``, scored on ``evaluate()``) is left in
    ``model``."""
    from .. import _mkl
    from .._progress import Progress

    if device.type == "cpu":
        _mkl.check()
    if options.patience is not None and evaluate is None:
        warnings.warn(
            f"patience={options.patience} stops early on the validation score, and there is "
            "no validation data: every epoch runs; pass validation= (--validation)",
            stacklevel=3,
        )
    from_start = options.runs > 1
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()} if from_start else {}
    ctrl_c = StopRequest(
        f"finishing this step, scoring it and keeping the best {'epoch' if evaluate else 'model'}"
        " so far", "stops at once, writing nothing"
    )  # fmt: skip

    def once(run: int, limit: float | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        tag = {"run": run + 1} if from_start else {}
        total = steps_per_epoch * options.epochs
        if options.max_steps is not None:
            total = min(options.max_steps, total)
        schedule = Schedule(options.warmup, total)
        warned = False

        def check_warm_up() -> None:
            nonlocal warned
            if schedule.warm > total and run == 0 and not warned:
                warned = True
                warnings.warn(
                    f"warmup={options.warmup:g} steps is longer than the run's {total} steps"
                    f"{' (cut to fit time_limit)' if budget is not None else ''}: the rate "
                    "never reaches lr; give a fraction of the run (< 1) or fewer steps",
                    stacklevel=6,
                )

        groups = param_groups(model, options.lr, options.layer_decay, options.weight_decay)
        optimizer = adamw(groups, lr=options.lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        mixed = autocast(device, options.precision)
        history: list[dict[str, Any]] = []
        best: dict[str, Any] | None = None
        best_state: dict[str, torch.Tensor] | None = None
        stale, step = 0, 0
        model.train()
        started = time.perf_counter()
        budget = None if limit is None else Budget(limit, total, started)
        check_warm_up()
        name = label if options.runs == 1 else f"{label} (run {run + 1}/{options.runs})"
        with Progress(name, unit="steps", enabled=progress) as bar:
            for epoch in range(options.epochs):
                running, seen, norms, taken = 0.0, 0, 0.0, 0
                last: dict[str, Any] | None = None  # the epoch's last batch trained on
                for kwargs, rows in batches(options.seed + run)(epoch):
                    if step >= total:
                        break
                    with mixed:
                        loss = model(**kwargs).loss
                    value = loss.detach().item()
                    if not math.isfinite(value):
                        raise TrainingDivergedError(
                            f"the training loss is {value} at step {step + 1} (epoch "
                            f"{epoch + 1}); lower lr (now {options.lr:g}) or check the "
                            "inputs and labels for non-finite values"
                        )
                    loss.backward()
                    # the norm before clipping (logged; inf: no clipping, the norm alone)
                    norm = torch.nn.utils.clip_grad_norm_(
                        model.parameters(), options.clip or math.inf
                    ).item()
                    if not math.isfinite(norm):  # (the update would make the weights NaN)
                        raise TrainingDivergedError(
                            f"the gradient's norm is {norm} at step {step + 1} (epoch "
                            f"{epoch + 1}; the loss was {value:.4g}); lower lr (now "
                            f"{options.lr:g}), or check the inputs and labels for non-finite "
                            "values"
                        )
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    running += value * rows
                    seen += rows
                    norms, taken = norms + norm, taken + 1
                    step += 1
                    last = kwargs
                    if budget is not None:
                        total = budget.fit(step, total, time.perf_counter())
                        schedule.replan(step, total)
                        check_warm_up()
                    scheduler.step()  # the next step's rate, from the plan as it now stands
                    bar(step, total)
                    if ctrl_c.asked:  # the epoch ends here, scored as one
                        break
                if not all(bool(torch.isfinite(w).all()) for w in model.parameters()):
                    raise TrainingDivergedError(
                        f"the weights hold NaN or infinite values after step {step} (epoch "
                        f"{epoch + 1}); lower lr (now {options.lr:g})"
                    )
                if last is not None:  # finite weights may still overflow the outputs (a
                    # last step's update): its batch again, before anything is scored or kept
                    model.eval()  # (no dropout: nothing drawn from the generator)
                    with torch.no_grad(), mixed:
                        after = model(**last).loss.detach().item()
                    model.train()
                    if not math.isfinite(after):
                        raise TrainingDivergedError(
                            f"the training loss is {after} with the weights of step {step} "
                            f"(epoch {epoch + 1}; its own loss was finite: the update "
                            f"overflowed); lower lr (now {options.lr:g})"
                        )
                record: dict[str, Any] = {**tag, "epoch": epoch + 1, "step": step,
                                          "train_loss": running / max(1, seen)}  # fmt: skip
                if taken:  # the epoch's mean gradient norm, before clipping
                    record["grad_norm"] = norms / taken
                if evaluate is not None:
                    metrics = evaluate()
                    record.update(summary(metrics))
                    if best is None or _better(score(metrics), score(best)):
                        best, stale = {**metrics, "epoch": epoch + 1}, 0
                        state = model.state_dict().items()
                        best_state = copy.deepcopy({k: v.detach().cpu() for k, v in state})
                    else:
                        stale += 1
                stopping = ctrl_c.asked  # (a signal during the evaluation too: it is done)
                if stopping:
                    record["stopped"] = signal_name(ctrl_c.signum)
                    STOPPED.set({"step": step, "epoch": epoch + 1, "run": run + 1,
                                 "signum": ctrl_c.signum})  # fmt: skip
                history.append(record)
                if out is not None:
                    try:
                        with (out / "log.jsonl").open("a", encoding="utf-8") as f:
                            f.write(json.dumps(record) + "\n")
                    except OSError as e:
                        raise write_failed(out / "log.jsonl", e) from None
                # as transformers' EarlyStoppingCallback: after `patience` epochs in a row
                # without a better validation score
                if (options.patience is not None and stale >= options.patience) or step >= total:
                    break
                if stopping:
                    break
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return history, best

    if out is not None:  # this run's log only, not beside an earlier run's in the folder
        if (out / "best").exists():  # said, not replaced silently
            warnings.warn(
                f"{out} holds an earlier run's model (best/); this run replaces it and its "
                "scores when it finishes (its log.jsonl is this run's from now on): pass "
                "another out_dir to keep it",
                stacklevel=3,
            )
        (out / "log.jsonl").unlink(missing_ok=True)
    clock = time.perf_counter()
    notices: list[str] = []  # said by Fitted.warn, after the caller saves the model

    def runs() -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[Any]]:
        history: list[dict[str, Any]] = []
        finished: list[tuple[dict[str, torch.Tensor], dict[str, Any] | None]] = []
        best: dict[str, Any] | None = None
        for run in range(options.runs):
            limit = options.time_limit
            if limit is not None:  # what is left, shared among the runs still to come
                limit = (limit - (time.perf_counter() - clock)) / (options.runs - run)
                if run and limit <= 0:  # said, not left to an empty soup in the report
                    done = "run 1 alone" if run == 1 else f"the soup of runs 1-{run} only"
                    notices.append(
                        f"time_limit={options.time_limit:g}s ran out after {run} of the "
                        f"{options.runs} runs: the model is {done}; raise time_limit "
                        "(--time-limit) or ask for fewer runs (--runs)"
                    )
                    break
            if run:
                model.load_state_dict(initial)
                torch.manual_seed(options.seed + run)
            run_history, best = once(run, limit)
            history += run_history
            if from_start:
                finished.append(
                    ({k: v.detach().clone() for k, v in model.state_dict().items()}, best)
                )
            if STOPPED.get() is not None:  # (the runs after it are not started)
                break
        return history, best, finished

    with ctrl_c:
        history, best, finished = runs()
    if len(finished) < 2:
        return Fitted(history, best, (), [b for _, b in finished], *notices[:1])

    def score_state(state: dict[str, torch.Tensor]) -> float:
        model.load_state_dict(state)
        assert evaluate is not None
        return score(evaluate())

    scores = [score(b) if b else 0.0 for _, b in finished]
    soup, kept = greedy_soup([w for w, _ in finished], scores,
                             score_state if evaluate is not None else None)  # fmt: skip
    model.load_state_dict(soup)
    model.eval()
    return Fitted(history, evaluate() if evaluate is not None else None,
                  tuple(i + 1 for i in kept), [b for _, b in finished], *notices[:1])  # fmt: skip


def _better(new: float, old: float) -> bool:
    """Whether a validation score beats the best so far: a NaN never does, and any number
    beats a NaN (``x > nan`` is False: a NaN kept first would stay best)."""
    return not math.isnan(new) and (math.isnan(old) or new > old)
