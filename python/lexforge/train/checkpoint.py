"""Training checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint is a directory ``checkpoints/step-0000100/`` holding

- ``model.safetensors``: the weights under our own parameter names;
- ``optimizer.safetensors``: every optimizer state tensor and the RNG states;
- ``state.json``: the step, the model config and the training options, and each weight
  file's size and SHA-256 as written.

No pickles anywhere. A checkpoint is written into a temporary directory that is renamed
into place when complete (its files synced to disk first, the folder after), and
``checkpoints/latest`` (a one-line file, itself replaced atomically) names the newest; a
crash at any moment, a power cut included, leaves the previous checkpoint as the latest. A
weight file that changed on disk after the save (a bit flipped by the disk, a copy of
another run's file) fails its checksum when loaded, rather than resuming from weights the
run never had (checkpoints from before the checksums load without them). A
write that fails (a full disk) removes what it wrote and says so with a
:class:`~lexforge.errors.CheckpointError`. The last ``keep`` checkpoints are kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .._json import loads_json
from ..errors import CheckpointError
from ..formats import make_folder, public_file
from ..model.config import BertConfig

LATEST = "latest"
FILES = ("model.safetensors", "optimizer.safetensors", "state.json")


def _name(step: int) -> str:
    return f"step-{step:07d}"


def step_of(folder: Path) -> int:
    """The step of a checkpoint folder (``step-0000100``: 100)."""
    return int(folder.name.removeprefix("step-"))


def _steps(root: Path) -> list[Path]:
    """The checkpoint directories under ``root``, oldest first (by step number: names
    past step 9,999,999 have more digits and would sort first as text). Only
    ``step-<digits>`` count: pruning deletes the oldest, and a folder of the user's
    beside them (``step-best``, ``step-0000100.bak``) is not ours to delete."""
    found = (p for p in root.glob("step-*") if _STEP.fullmatch(p.name) and p.is_dir())
    return sorted(found, key=step_of)


_STEP = re.compile(r"step-[0-9]+")


def _class_name(model: torch.nn.Module) -> str:
    """The model's own class: FSDP's ``fully_shard`` swaps in a subclass named
    ``FSDP<class>``, whose checkpoints an unsharded run resumes, and the other way round."""
    for cls in type(model).__mro__:
        if cls.__module__.startswith("lexforge."):
            return cls.__name__
    return type(model).__name__


def save(
    root: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    options: dict[str, Any],
    keep: int,
    *,
    weights: dict[str, torch.Tensor] | None = None,
    optimizer_state: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    rng: list[dict[str, torch.Tensor]] | None = None,
    log_window: list[float] | None = None,
) -> Path:
    """Writes the checkpoint of ``step`` under ``root`` and prunes old ones. ``weights``
    and ``optimizer_state`` replace ``model.state_dict()`` and ``optimizer.state_dict()``
    when given (the gathered, full ones of a sharded model); ``data`` (what the run
    trains on) is recorded in ``state.json``, and so is ``log_window`` (the sums of the
    steps since the last log line, so that a resumed run's next line is the same);
    ``rng``: every rank's ``rng_state()``, in rank order (default: this process's alone).
    A write that fails (``OSError``: a full disk) leaves nothing of this checkpoint and is
    a ``CheckpointError``; the latest checkpoint stays the one before."""
    make_folder(root)
    final = root / _name(step)
    # one process writes checkpoints: a temporary directory here is the leftover of a
    # killed write (a whole checkpoint's size), never another writer's
    for stale in root.glob(".step-*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = root / f".{_name(step)}.tmp-{os.getpid()}"
    try:
        tmp.mkdir()
        _write(tmp, step, model, optimizer, options, weights, optimizer_state, data, rng,
               log_window)  # fmt: skip
    except BaseException as e:  # (a Ctrl-C too: a whole checkpoint's size is not left)
        shutil.rmtree(tmp, ignore_errors=True)
        from ..model.hf import safetensors_errors

        if not isinstance(e, (OSError, *safetensors_errors())):  # (safetensors' own: a
            raise  # full disk said as "Error while serializing: ... (os error 28)")
        before = latest(root)
        raise CheckpointError(
            f"the checkpoint of step {step} could not be written into {root} ({e}); nothing "
            f"of it was kept, and the latest checkpoint is still "
            f"{before.name if before else 'none'}. Free space there (or fix what the error "
            "names), then resume=True (lexforge pretrain --resume) continues from it"
        ) from e
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    _sync_dir(root)
    try:
        _write_latest(root, final.name)
    except OSError as e:  # (the pointer's own write: a disk filled by the checkpoint)
        shutil.rmtree(final, ignore_errors=True)
        before = latest(root)
        raise CheckpointError(
            f"the checkpoint of step {step} was written into {root}, but the pointer to it "
            f"({root / LATEST}) could not be ({e}); the checkpoint was removed, and the "
            f"latest checkpoint is still {before.name if before else 'none'}. Free space "
            "there (or fix what the error names), then resume=True (lexforge pretrain "
            "--resume) continues from it"
        ) from e
    for old in _steps(root)[:-keep]:
        if old != final:  # (a later step's folder, left by hand, is older than this one)
            shutil.rmtree(old, ignore_errors=True)
    return final


def _write(
    tmp: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    options: dict[str, Any],
    weights: dict[str, torch.Tensor] | None,
    optimizer_state: dict[str, Any] | None,
    data: dict[str, Any] | None,
    rng: list[dict[str, torch.Tensor]] | None,
    log_window: list[float] | None,
) -> None:
    """The checkpoint's three files in ``tmp``, each synced to disk, and ``tmp`` itself."""
    from safetensors.torch import save_file

    if weights is None:
        weights = model.state_dict()
    if optimizer_state is None:
        optimizer_state = optimizer.state_dict()
    weights = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
    save_file(weights, str(tmp / "model.safetensors"))
    tensors = _optimizer_tensors(optimizer_state)
    for rank, states in enumerate(rng or [rng_state()]):
        tensors.update({_rng_key(device, rank): t for device, t in states.items()})
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    for written in ("model.safetensors", "optimizer.safetensors"):
        public_file(tmp / written)  # safetensors writes them owner-only
    files = {name: _digest(tmp / name) for name in ("model.safetensors", "optimizer.safetensors")}
    config: BertConfig = model.config  # type: ignore[assignment]
    state = {
        "step": step,
        "model_class": _class_name(model),
        "model_config": asdict(config),
        "options": options,
        "data": data or {},
        "param_groups": [
            {k: v for k, v in g.items() if k != "params"} for g in optimizer_state["param_groups"]
        ],
    }
    if log_window is not None:
        state["log_window"] = log_window
    state["files"] = files
    (tmp / "state.json").write_text(json.dumps(state, indent=2, default=str) + "\n")
    for written in ("model.safetensors", "optimizer.safetensors", "state.json"):
        _sync(tmp / written)
    _sync_dir(tmp)


def _digest(path: Path) -> dict[str, Any]:
    """``path``'s size and SHA-256 (hex), read in blocks."""
    import hashlib

    sha = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            sha.update(block)
    return {"bytes": path.stat().st_size, "sha256": sha.hexdigest()}


def _check_digests(path: Path, state: dict[str, Any]) -> None:
    """A ``CheckpointError`` when a weight file's size or SHA-256 is not the one
    ``state.json`` recorded when it was written (none recorded: nothing to check)."""
    files = state.get("files")
    if files is None:
        return
    if not isinstance(files, dict):
        raise CheckpointError(
            f"checkpoint {path} is damaged: its state.json's files is {files!r:.80}; resume "
            "from an earlier one (delete this directory) or start a new run"
        )
    for name in ("model.safetensors", "optimizer.safetensors"):
        want = files.get(name)
        if not isinstance(want, dict):
            continue
        have = _digest(path / name)
        if have != {k: want.get(k) for k in have}:
            what = (f"{have['bytes']:,} bytes, {want.get('bytes')!r} when saved"
                    if have["bytes"] != want.get("bytes") else
                    f"SHA-256 {have['sha256'][:16]}..., {str(want.get('sha256'))[:16]}... "
                    "when saved")  # fmt: skip
            raise CheckpointError(
                f"checkpoint {path} is damaged: its {name} is not the file that was saved "
                f"({what}): it changed on disk since (a disk error, an interrupted or "
                "mixed-up copy); resume from an earlier one (delete this directory), restore "
                "the file from a complete copy, or start a new run"
            )


def _sync(path: Path) -> None:
    """``path``'s contents on disk (before a rename makes them the checkpoint)."""
    with path.open("rb") as f:
        os.fsync(f.fileno())


def _sync_dir(path: Path) -> None:
    """``path``'s entries on disk (a rename into it); a no-op where folders cannot be
    opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_latest(root: Path, name: str) -> None:
    tmp = root / f".{LATEST}.tmp-{os.getpid()}"
    try:
        tmp.write_text(name + "\n")
        _sync(tmp)
        tmp.replace(root / LATEST)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_dir(root)


def latest(root: Path) -> Path | None:
    """The newest complete checkpoint under ``root`` (None if there is none): the one the
    ``latest`` pointer names, else (no pointer, a damaged one, or one naming a checkpoint
    that is gone) the complete one with the highest step."""
    pointer = root / LATEST
    try:
        name = pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else ""
    except (OSError, UnicodeDecodeError):
        name = ""
    if _STEP.fullmatch(name) and (root / name / "state.json").is_file():
        return root / name
    done = [p for p in _steps(root) if (p / "state.json").is_file()]
    return done[-1] if done else None


def damaged(root: Path) -> list[tuple[Path, str]]:
    """The checkpoint folders under ``root`` (oldest first) that cannot be resumed, each
    with what is wrong: a missing or unreadable ``state.json``, a weight or optimizer file
    that is missing, empty or cut short. Only the files' headers are read; :func:`load`
    checks the rest of a checkpoint it is given."""
    from safetensors import SafetensorError

    from ..model.safetensors_read import tensor_names

    found = []
    for folder in _steps(root):
        wrong = []
        try:
            state = loads_json((folder / "state.json").read_text(encoding="utf-8"))
            if not isinstance(state, dict):
                wrong.append("state.json does not hold an object")
        except FileNotFoundError:
            wrong.append("no state.json")
        except (OSError, ValueError) as e:
            wrong.append(f"state.json is unreadable ({e})")
        for name in ("model.safetensors", "optimizer.safetensors"):
            if not (folder / name).is_file():
                wrong.append(f"no {name}")
                continue
            try:
                tensor_names(folder / name)
            except (OSError, SafetensorError) as e:
                wrong.append(f"{name} is truncated or corrupt ({e})")
        if wrong:
            found.append((folder, "; ".join(wrong)))
    return found


def load(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    apply: Callable[[dict[str, torch.Tensor], dict[str, Any]], None] | None = None,
    template: dict[str, Any] | None = None,
    rank: int = 0,
) -> dict[str, Any]:
    """Restores model, optimizer and RNG states (``rank``'s) from ``path``; returns
    ``state.json``.
    ``apply(weights, optimizer_state)``, when given, loads the full states instead of
    ``load_state_dict`` (a sharded model scatters them); ``template``, the optimizer's
    full state dict, then names the parameters."""
    from safetensors import SafetensorError

    from ..model.safetensors_read import load_file

    reading = "state.json"
    try:
        state: dict[str, Any] = loads_json((path / reading).read_text(encoding="utf-8"))
        reading = "model.safetensors"
        weights = load_file(path / reading)
        reading = "optimizer.safetensors"
        tensors = load_file(path / reading)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, SafetensorError) as e:
        raise CheckpointError(
            f"checkpoint {path} cannot be read: its {reading} is corrupt or truncated ({e}); "
            "resume from an earlier one (delete this directory) or start a new run"
        ) from None
    _check_finite(path, weights, tensors)
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path}: state.json does not hold an object")
    step = state.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(
            f"checkpoint {path} is damaged: its step is {step!r}, not a whole number >= 0; "
            "resume from an earlier one (delete this directory) or start a new run"
        )
    saved_class = state.get("model_class")
    if isinstance(saved_class, str):  # written by a sharded run before the name was fixed
        saved_class = saved_class.removeprefix("FSDP")
    if saved_class != _class_name(model):
        objectives = {"BertForMaskedLM": "'none'", "BertForPreTraining": "'nsp' or 'sop'"}
        raise CheckpointError(
            f"checkpoint {path} holds a {saved_class}, the run builds a {_class_name(model)}: "
            f"another objective (the checkpoint's is {objectives.get(str(saved_class), '?')}, "
            f"this run's {objectives.get(_class_name(model), '?')}); resume with the "
            "checkpoint's objective, or start a new out_dir"
        )
    config: BertConfig = model.config  # type: ignore[assignment]
    ours_config = loads_json(json.dumps(asdict(config)))  # as saved
    if state.get("model_config") != ours_config:
        raise CheckpointError(
            f"checkpoint {path} {_config_change(state.get('model_config'), ours_config)}"
        )
    expected = set(model.state_dict())
    missing = sorted(expected - set(weights))
    unexpected = sorted(set(weights) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path} does not fit the model: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    current = template if template is not None else optimizer.state_dict()
    try:
        ours = model.state_dict()
        wrong = [k for k, v in weights.items() if v.shape != ours[k].shape]
        if wrong:
            raise CheckpointError(
                f"checkpoint {path}: {wrong[0]} has shape {tuple(weights[wrong[0]].shape)}, the "
                f"model's is {tuple(ours[wrong[0]].shape)}"
            )
        full = _optimizer_state(current, tensors, state["param_groups"])
        _check_optimizer_state(full, optimizer, path, int(state["step"]))
        # last: the checks above name what is wrong when they can; this catches the rest,
        # a changed value no structure check can see
        _check_digests(path, state)
        if apply is not None:
            apply(weights, full)
        else:
            model.load_state_dict(weights)
            optimizer.load_state_dict(full)
        # this rank's generators (a checkpoint of fewer ranks: rank 0's)
        mine = rank if _rng_key("cpu", rank) in tensors else 0
        torch.set_rng_state(tensors[_rng_key("cpu", mine)])
        if torch.cuda.is_available() and _rng_key("cuda", mine) in tensors:
            torch.cuda.set_rng_state(tensors[_rng_key("cuda", mine)])
        if mine != rank:  # a rank the run did not have: rank 0's stream would repeat its
            # dropout masks on this rank; one of its own, from rank 0's state and the rank
            torch.manual_seed(_new_rank_seed(tensors[_rng_key("cpu", 0)], rank))
        int(state["step"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
        raise CheckpointError(
            f"checkpoint {path} is damaged ({type(e).__name__}: {e}); resume from an earlier "
            "one (delete this directory) or start a new run"
        ) from None
    return state


def _check_finite(
    path: Path, weights: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor]
) -> None:
    """A ``CheckpointError`` for a NaN or infinite weight, or a NaN optimizer state: a run
    checks its weights (and their loss) before it saves them, and a NaN moment makes NaN
    weights at the next step, so such values were damaged on disk (a diverged run is not
    saved, and its advice, a lower learning rate, would not help)."""
    for file, found, bad in (
        ("model.safetensors", weights, lambda t: ~t.isfinite()),
        ("optimizer.safetensors", tensors, torch.isnan),
    ):
        for name, tensor in found.items():
            if tensor.is_floating_point() and bool(bad(tensor).any()):
                raise CheckpointError(
                    f"checkpoint {path} is damaged: its {file} holds NaN or infinite values "
                    f"in {name}, which training never saves; resume from an earlier one "
                    "(delete this directory) or start a new run"
                )


def _config_change(saved: Any, ours: dict[str, Any]) -> str:
    """What differs between the checkpoint's model config and the run's, field by field,
    and the fix."""
    if not isinstance(saved, dict):
        return f"is damaged: its model_config is {saved!r:.80}; resume from an earlier one"
    changed = [k for k in {**saved, **ours} if saved.get(k) != ours.get(k)]
    shown = ", ".join(f"{k} {saved.get(k)!r} -> {ours.get(k)!r}" for k in changed)
    hint = ""
    if "vocab_size" in changed:
        hint = (
            " (the vocabulary's size differs: the run's tokenizer, or its config's vocab_size, "
            "is not the checkpoint's)"
        )
    return (
        f"was trained with another model config ({shown}){hint}; resume with the "
        "checkpoint's config and shards, or start a new out_dir"
    )


# what AdamW keeps per parameter once it has stepped
_ADAM_STATE = frozenset({"step", "exp_avg", "exp_avg_sq"})
# the settings AdamW reads from each group with no default of its own (torch fills in its
# flags, amsgrad, foreach and the others, where a group lacks them)
_ADAM_SETTINGS = frozenset({"lr", "betas", "eps", "weight_decay"})
# the flags that choose AdamW's kernels: the run's own, not the saved (a fused kernel this
# torch or device lacks; a damaged flag failed at the first step, untyped)
_ADAM_KERNELS = ("foreach", "fused", "capturable", "differentiable")


def _check_optimizer_state(
    full: dict[str, Any], optimizer: torch.optim.Optimizer, path: Path, step: int
) -> None:
    """After a step every parameter has its moments (Adam would otherwise restart them
    silently, or fail with a KeyError), and each has its parameter's shape (else Adam fails
    at its first step); keys are positions in the optimizer's parameters (a sharded run's
    are names, whose shapes are skipped)."""
    if step > 0:
        wanted = len(_group_params(full))
        amsgrad = any(g.get("amsgrad") for g in full["param_groups"])
        needed = _ADAM_STATE | ({"max_exp_avg_sq"} if amsgrad else set())
        have = {k: v for k, v in full["state"].items() if needed <= set(v)}
        if len(have) != wanted:
            short = next(
                (f"parameter {k} lacks {sorted(needed - set(v))}" for k, v in
                 full["state"].items() if not needed <= set(v)),
                f"{wanted - len(have)} of {wanted} parameters have no state",
            )  # fmt: skip
            raise CheckpointError(
                f"checkpoint {path} is at step {step} but its optimizer state is incomplete "
                f"({short}); resume from an earlier one (delete this directory) or start a "
                "new run"
            )
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for key, per_param in full["state"].items():
        if not isinstance(key, int) or key >= len(params):
            continue
        for name, tensor in per_param.items():
            shape = () if name == "step" else params[key].shape  # (the step: one number)
            if tensor.shape != shape:
                raise CheckpointError(
                    f"checkpoint {path}: the optimizer's {name} for parameter {key} has the "
                    f"wrong shape {tuple(tensor.shape)}"
                )
    # Adam counts its updates per parameter (its bias correction reads the count): after
    # `step` steps the most updated parameter has `step` (one without a gradient in some
    # step may have fewer), and none more
    counts = [float(v["step"]) for v in full["state"].values() if "step" in v]
    if counts and max(counts) != step:
        raise CheckpointError(
            f"checkpoint {path} is at step {step} (state.json) but its optimizer.safetensors "
            f"has taken {max(counts):g} steps: the files come from different checkpoints; "
            "resume from an earlier one (delete this directory) or start a new run"
        )
    pairs = zip(full["param_groups"], optimizer.param_groups, strict=False)  # (counts: checked)
    for i, (group, now) in enumerate(pairs):
        lacking = sorted((_ADAM_SETTINGS & set(now)) - set(group))
        if lacking:  # (else Adam fails with a KeyError at the run's first step)
            raise CheckpointError(
                f"checkpoint {path}: the optimizer's group {i} has no {lacking[0]}; resume "
                "from an earlier one (delete this directory) or start a new run"
            )
        # the settings the run goes on with (the scheduler's initial_lr among them): each
        # of the kind the optimizer keeps, or Adam and the scheduler fail later, untyped
        # (a flag it lacks, as from an older torch, takes the optimizer's default)
        for name in sorted({*group, "initial_lr"} & {*now, "initial_lr"} - {"params"}):
            value, kind = group.get(name), now.get(name, 0.0)
            if not _same_kind(value, kind):
                raise CheckpointError(
                    f"checkpoint {path}: the optimizer's group {i} has {name}={value!r}, not "
                    f"{'a number' if isinstance(kind, float | int) else type(kind).__name__}"
                    "; resume from an earlier one (delete this directory) or start a new run"
                )


def check_settings(path: Path, saved: list[dict[str, Any]], built: list[dict[str, Any]]) -> None:
    """A ``CheckpointError`` when a saved group's update settings are not those of the
    optimizer the run built from its options (``built``, before the checkpoint loaded).
    Called once the options are known to be the checkpoint's run's: a group that differs
    (its betas, eps, weight decay, amsgrad, maximize, or the scheduler's initial rate) was
    changed on disk, and AdamW, which takes a loaded group's settings, would train on with
    it silently. The rate itself is the scheduler's, set from ``initial_lr``; the kernel
    flags are the run's own (``_ADAM_KERNELS``)."""
    skip = {"params", "lr", "initial_lr", *_ADAM_KERNELS}
    for i, (group, now) in enumerate(zip(saved, built, strict=False)):  # (counts: checked)
        pairs = [(name, group[name], now[name]) for name in sorted(set(group) & set(now) - skip)]
        if "initial_lr" in group:  # the run's rate before its scheduler: its lr
            pairs.append(("initial_lr", group["initial_lr"], now.get("initial_lr", now["lr"])))
        for name, value, run in pairs:
            as_run = tuple(value) if isinstance(run, tuple) and isinstance(value, list) else value
            if as_run != run:
                raise CheckpointError(
                    f"checkpoint {path}: the optimizer's group {i} has {name}={value!r}, the "
                    f"run's options give {run!r}: state.json was changed since it was saved "
                    "(the options it records are the run's); resume from an earlier one "
                    "(delete this directory), or start a new run"
                )


def _same_kind(value: Any, kind: Any) -> bool:
    """Whether a saved optimizer setting is of the kind of the optimizer's own: a finite
    number for a number, a flag for a flag, numbers of the same count for a tuple (None
    and others: anything)."""
    if isinstance(kind, bool):
        return isinstance(value, bool)
    if isinstance(kind, float | int):
        # (a float's range: NaN and infinities fail it, and so does 10**400, whose
        # math.isfinite raised OverflowError)
        number = isinstance(value, float | int) and not isinstance(value, bool)
        return number and abs(value) <= sys.float_info.max
    if isinstance(kind, tuple | list):
        return (
            isinstance(value, tuple | list)
            and len(value) == len(kind)
            and all(_same_kind(v, k) for v, k in zip(value, kind, strict=True))
        )
    return True


def _optimizer_tensors(optimizer_state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The per-parameter states, keyed by the parameter's position across the groups (a
    sharded model's full state, keyed by parameter name, is put in that order)."""
    order = {name: i for i, name in enumerate(_group_params(optimizer_state))}
    tensors = {}
    for key_, per_param in optimizer_state["state"].items():
        index = order.get(key_, key_)
        for key, value in per_param.items():
            tensor = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"state.{index}.{key}"] = tensor.detach().cpu().contiguous()
    return tensors


def rng_state() -> dict[str, torch.Tensor]:
    """This process's generators: the CPU's, and the current GPU's when there is one."""
    states = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def _new_rank_seed(rank0: torch.Tensor, rank: int) -> int:
    """The seed of a rank that a resumed run adds: a digest of rank 0's saved generator
    and the rank (the same on every resume, another for every rank)."""
    import hashlib

    digest = hashlib.sha256(rank0.numpy().tobytes() + rank.to_bytes(8, "little")).digest()
    return int.from_bytes(digest[:8], "little")


def _rng_key(device: str, rank: int) -> str:
    # rank 0's under the names of checkpoints from before ranks were told apart
    return f"rng.{device}" if rank == 0 else f"rng.{device}.rank{rank}"


def _group_params(optimizer_state: dict[str, Any]) -> list[Any]:
    return [p for g in optimizer_state["param_groups"] for p in g["params"]]


def _optimizer_state(
    current: dict[str, Any], tensors: dict[str, torch.Tensor], groups: list[Any]
) -> dict[str, Any]:
    """An optimizer state dict in ``current``'s keys (parameter ids, or names for a
    sharded model's full state) from the saved tensors and groups."""
    keys = _group_params(current)
    state: dict[Any, dict[str, torch.Tensor]] = {}
    for name, tensor in tensors.items():
        if name.startswith("state."):
            _, index, key = name.split(".", 2)
            if int(index) >= len(keys):
                raise CheckpointError("the checkpoint's optimizer has more parameters")
            state.setdefault(keys[int(index)], {})[key] = tensor
    if len(groups) != len(current["param_groups"]):
        raise CheckpointError("the checkpoint's optimizer has other parameter groups")
    restored = [
        {**saved, **{k: now[k] for k in _ADAM_KERNELS if k in now}, "params": now["params"]}
        for saved, now in zip(groups, current["param_groups"], strict=True)
    ]
    return {"state": state, "param_groups": restored}
