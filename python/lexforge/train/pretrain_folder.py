"""A pretraining run's folder: an earlier run's checkpoints, log or model refused unless
the run resumes, one run at a time (the lock ``RUN_LOCK``), and a resumed run held to the
options and the shards its checkpoint was trained with. It does not read or write
checkpoints (:mod:`lexforge.train.checkpoint`).
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any

from .._json import loads_json
from ..errors import CheckpointError, ConfigError
from . import checkpoint
from .pretrain_options import PretrainOptions, _options


def _check_earlier_run(out: Path, resume: bool, rank: int) -> None:
    """A run into a folder holding an earlier one's checkpoints, log or model is refused
    unless it resumes; resuming with no checkpoint starts at step 0, and says so when an
    earlier run's log or model is there to be replaced. Resuming where every checkpoint
    folder is unusable (no ``state.json``, truncated weights) is a ``CheckpointError``
    naming each folder and what it lacks, not a silent start over; so is resuming where a
    checkpoint newer than the latest usable one is unusable (a save never leaves one: it
    was damaged since), not a silent step back."""
    found = checkpoint.latest(out / "checkpoints")
    if found is not None:
        if not resume:
            raise ConfigError(
                f"{out} already holds checkpoints; pass resume=True (lexforge pretrain "
                "--resume) to continue, or another out_dir"
            )
        # (a folder holding none of a checkpoint's files was made by hand: not one)
        after = [(p, what) for p, what in checkpoint.damaged(out / "checkpoints")
                 if checkpoint.step_of(p) > checkpoint.step_of(found)
                 and any((p / f).exists() for f in checkpoint.FILES)]  # fmt: skip
        if after:
            shown = "; ".join(f"{p.name}: {what}" for p, what in after)
            raise CheckpointError(
                f"{out / 'checkpoints'} holds checkpoints newer than {found.name} that "
                f"cannot be resumed: {shown}. Restore their files (from a complete copy), or "
                f"delete these folders to resume from {found.name} (the steps after it are "
                "trained again)"
            )
        return
    if resume and (damaged := checkpoint.damaged(out / "checkpoints")):
        # asked to resume, and there are checkpoints: starting over at step 0 would
        # silently throw away the run they hold
        shown = "; ".join(f"{p.name}: {what}" for p, what in damaged[-5:])
        more = f" (and {len(damaged) - 5} older)" if len(damaged) > 5 else ""
        raise CheckpointError(
            f"{out / 'checkpoints'} holds no checkpoint that can be resumed: {shown}{more}. "
            "Restore their files (from a complete copy), or delete these folders to train "
            "again from step 0 in their place"
        )
    log = out / "log.jsonl"
    earlier = (log.is_file() and log.stat().st_size > 0) or (out / "model").exists()
    if earlier and not resume:  # (an empty log: a run that failed before its first record)
        raise ConfigError(
            f"{out} holds an earlier run (log.jsonl or model/) but no checkpoint to continue "
            "from; pass another out_dir, or resume=True (lexforge pretrain --resume) to train "
            "again from step 0 in its place"
        )
    if earlier and rank == 0:
        warnings.warn(
            f"{out} holds no checkpoint to resume from: training starts at step 0, and its "
            "log and model are replaced",
            stacklevel=3,
        )


RUN_LOCK = ".pretrain.lock"


def _only_run(out: Path) -> contextlib.AbstractContextManager[None]:
    """Holds ``out``'s run lock (``out/.pretrain.lock``): a second run in the same folder
    would delete the first one's checkpoints in progress, and the two would log and
    export over each other."""
    from .._locks import only_writer
    from ..formats import make_folder

    make_folder(out)
    return only_writer(
        out / RUN_LOCK,
        lambda: ConfigError(
            f"another pretraining run is writing into {out}; wait for it to finish (then "
            "resume=True (--resume) continues it), or pass another out_dir"
        ),
    )


# options a resumed run may change: they do not change what is trained
_RESUMABLE = ("steps", "log_every", "eval_every", "eval_batches", "save_every", "keep",
              "compile", "device", "fsdp", "gradient_checkpointing", "precision")  # fmt: skip


def _check_resumed_options(found: Path, opts: PretrainOptions, data: dict[str, Any]) -> None:
    """``CheckpointError`` when a resumed run asks for other training options, or trains
    on other shards, than the checkpoint's run (the optimizer, the data stream or the
    objective would silently stay the old ones, or the stream would change under the
    run)."""
    try:
        state = loads_json((found / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # checkpoint.load reports a damaged checkpoint
    saved = state.get("options") if isinstance(state, dict) else None
    if not isinstance(saved, dict):
        return
    now = _options(opts)
    before = state.get("data")
    world = before.get("world_size") if isinstance(before, dict) else None
    # the data position is counted in batches of grad_accum × processes per step: that
    # product must stay (grad_accum alone, for checkpoints that did not record it)
    if isinstance(world, int) and isinstance(saved.get("grad_accum"), int):
        was, is_ = saved["grad_accum"] * world, now["grad_accum"] * data["world_size"]
        if was != is_:
            raise CheckpointError(
                f"{found}: the run trained {was} batches a step (grad_accum "
                f"{saved['grad_accum']} x {world} processes), this one would train {is_} "
                f"(grad_accum {now['grad_accum']} x {data['world_size']} processes): the data "
                "position and the global batch would change under the run. Resume with "
                f"grad_accum x processes = {was}, or start a new out_dir"
            )
        saved = {**saved, "grad_accum": now["grad_accum"]}  # the product holds: it may move
    changed = [k for k in now if k not in _RESUMABLE and k in saved and not _same(saved[k], now[k])]
    if changed:
        shown = ", ".join(f"{k} {saved[k]!r} -> {now[k]!r}" for k in changed)
        raise CheckpointError(
            f"{found}: resuming with other options than the run's ({shown}); resume with the "
            f"same ones (only {', '.join(_RESUMABLE)} may change), or start a new out_dir"
        )
    differ = [k for k in ("shards_fingerprint", "shards_sources") if isinstance(before, dict)
              and before.get(k) is not None and data.get(k) is not None
              and before[k] != data[k]]  # fmt: skip
    if differ:
        why = (
            "their tokens differ" if "shards_fingerprint" in differ
            else "the texts they were cut from have changed"
        )  # fmt: skip
        raise CheckpointError(
            f"{found}: the run trained on other shards ({before.get('shards')}) than these "
            f"({data['shards']}): {why}, and the data position would point into another "
            "stream; resume with the run's shards, or start a new out_dir"
        )
    _warn_new_schedule(found, opts, saved.get("steps"), state.get("step"))


def _same(saved: Any, now: Any) -> bool:
    """An option as the checkpoint recorded it and as given now; a schedule of one's own
    recorded by its name alone (before its rates were recorded) cannot be told apart."""
    if isinstance(saved, str) and isinstance(now, str) and now.startswith(saved + " rates "):
        return True
    return bool(saved == now)


def _warn_new_schedule(found: Path, opts: PretrainOptions, planned: Any, step: Any) -> None:
    """A resumed run with other ``steps`` than it planned stretches (or shrinks) its
    learning-rate schedule, warm-up and decay: said with the rate it jumps to."""
    import dataclasses

    from .loop import _lr_factor

    if not (isinstance(planned, int) and isinstance(step, int)) or planned == opts.steps:
        return
    if planned < 1 or step < 0:
        return
    was = opts.lr * _lr_factor(step, dataclasses.replace(opts, steps=max(planned, step)))
    now = opts.lr * _lr_factor(step, opts)
    if step >= planned:  # a finished run, continued
        said = (
            f"the run finished its {planned} planned steps, where the rate had decayed to "
            f"{was:.3g}; continuing to steps={opts.steps} recomputes the learning-rate "
            f"schedule over {opts.steps} steps, so the rate goes back up to {now:.3g} at step "
            f"{step + 1}"
        )
    else:
        said = (
            f"resuming with steps={opts.steps} (the run planned {planned}): the learning-rate "
            f"schedule is recomputed over {opts.steps} steps, so the rate at step {step + 1} "
            f"is {now:.3g} where the run's schedule gives {was:.3g}; resume with "
            f"steps={planned} to keep it"
        )
    warnings.warn(f"{found}: {said}", stacklevel=4)
