"""Where a pretraining process stands among the others: its rank and the number of
processes (:func:`_launch`, from the running process group or ``torchrun``'s
environment), its device and the process group (:class:`_World`, with the few
collectives the loop uses), each rank's dropout seed, and FSDP sharding of the model
(:class:`_Sharded`). One process is a world of size 1, with no group. It does not decide
what a rank trains on (:mod:`lexforge.train.pretrain_stream`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from .. import _mkl
from ..errors import ConfigError, MissingDependencyError
from . import checkpoint
from ._fit import resolve_device

_Error = TypeVar("_Error", bound=BaseException)


@dataclass(frozen=True)
class _World:
    rank: int
    size: int
    device: torch.device
    owns_group: bool = False  # this run started the process group, so it ends it

    @classmethod
    def start(cls, device: str | None) -> _World:
        """This process's place (:func:`_launch`); joins the process group (NCCL on CUDA,
        gloo on the CPU) unless the caller has started one."""
        rank, size = _launch()
        gpus = max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1
        local = int(os.environ.get("LOCAL_RANK", str(rank % gpus)))
        if device is None:
            device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
        dev = resolve_device(device)
        if dev.type == "cuda":
            if dev.index is None:  # "cuda": this process's GPU (torchrun's LOCAL_RANK)
                dev = torch.device("cuda", local if size > 1 else torch.cuda.current_device())
            torch.cuda.set_device(dev)
        else:
            _mkl.check()
        owns = size > 1 and not torch.distributed.is_initialized()
        if owns:
            torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        return cls(rank, size, dev, owns)

    def gather(self, value: Any) -> list[Any]:
        """``value`` from every rank, in rank order (every rank calls it)."""
        if self.size == 1:
            return [value]
        found: list[Any] = [None] * self.size
        torch.distributed.all_gather_object(found, value)
        return found

    def close(self) -> None:
        """Ends the process group this run started: every rank at once, after rank 0's
        export. On gloo, a collective's worker thread lets go of its tensors a moment after
        ``wait()`` returns; if the interpreter is already shutting down then, freeing them
        aborts the process ("terminate called without an active exception": the group
        outlives ``destroy_process_group`` while the sharded model refers to it). So the
        last collective is an all-reduce (a barrier would also hold the collectives still
        in flight), and this waits, up to ten seconds, until gloo has let go of its tensor.
        A group the caller started is left to the caller, settled the same way (the caller
        ending it right after the run aborted a rank now and then)."""
        if self.size == 1 and not self.owns_group:
            return
        if self.device.type == "cuda":
            torch.distributed.barrier()
        else:
            done = torch.zeros(1)
            torch.distributed.all_reduce(done)
            deadline = time.monotonic() + 10.0
            while done._use_count() > 1 and time.monotonic() < deadline:
                time.sleep(0.001)
        if self.owns_group:
            torch.distributed.destroy_process_group()

    def stop_all(self, error: _Error) -> _Error:
        """``error``, once the process group has ended as at a normal finish (:meth:`close`):
        for an error every rank raises at once, because a sum over the ranks said to stop.
        Leaving with the group still open lets gloo abort the process as it exits."""
        self.close()
        return error

    def sum(self, *values: float) -> list[float]:
        """Sums numbers over the ranks (float64, so token counts stay exact); one process
        keeps them on the host (no device round trip)."""
        if self.size == 1:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.size > 1:
            torch.distributed.all_reduce(t)
        total: list[float] = t.tolist()
        return total


def _rank_seed(seed: int, rank: int) -> int:
    """The dropout seed of ``rank`` > 0: spread from ``seed`` by the golden ratio (so seed
    s's rank 1 is not seed s + 1's rank 0), within torch's 64-bit range."""
    return (seed + rank * 0x9E3779B97F4A7C15) % 2**64


def _launch() -> tuple[int, int]:
    """This process's (rank, number of processes): the process group's when one is running
    (torchrun's, or one the caller started, e.g. under ``torch.multiprocessing`` without
    torchrun's environment), else torchrun's environment (``RANK``, ``WORLD_SIZE``), else
    (0, 1). An environment asking for more than one process that cannot start a group (a
    variable missing, or not a number) is a ``ConfigError`` naming it, said before anything
    is read or written, not an error from inside torch on one rank."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    env = os.environ
    try:
        size, rank = int(env.get("WORLD_SIZE", "1")), int(env.get("RANK", "0"))
    except ValueError:
        raise ConfigError(
            f"WORLD_SIZE and RANK must be whole numbers (torchrun sets them), got "
            f"WORLD_SIZE={env.get('WORLD_SIZE')!r}, RANK={env.get('RANK')!r}"
        ) from None
    needed = ("RANK", "MASTER_ADDR", "MASTER_PORT") if size > 1 else ()
    missing = [k for k in needed if not env.get(k)]
    if missing or size < 1 or not 0 <= rank < size:
        problem = f"{', '.join(missing)} not set" if missing else f"RANK={rank} not a rank of it"
        raise ConfigError(
            f"the environment has WORLD_SIZE={size}, but {problem}: no process group can "
            f"start. Launch with torchrun (torchrun "
            f"--nproc_per_node={max(size, 2)} ...), which sets them, or unset WORLD_SIZE to "
            "train in one process"
        )
    return rank, size


class _Sharded:
    """FSDP (``torch.distributed.fsdp.fully_shard``): each encoder layer, then the whole
    model, sharded over the ranks; full states are gathered for checkpoints and export,
    in the same files as an unsharded run writes (so either kind of run resumes the
    other's checkpoints)."""

    def __init__(self, net: nn.Module) -> None:
        try:
            from torch.distributed.fsdp import fully_shard
        except ImportError as e:  # public from torch 2.6
            raise MissingDependencyError(
                f"fsdp=True (--fsdp) needs torch>=2.6 (torch.distributed.fsdp.fully_shard), "
                f"and this is torch {torch.__version__}: pip install -U 'torch>=2.6', or train "
                "without fsdp (DDP)"
            ) from e

        for layer in net.bert.layers:  # type: ignore[union-attr]
            fully_shard(layer)
        fully_shard(net)
        self.net = net

    def _options(self, offload: bool) -> Any:
        from torch.distributed.checkpoint.state_dict import StateDictOptions

        return StateDictOptions(full_state_dict=True, cpu_offload=offload)

    def gather(self, optimizer: torch.optim.Optimizer) -> tuple[Any, Any]:
        """The full model and optimizer states (on rank 0; every rank must call this)."""
        from torch.distributed.checkpoint.state_dict import (
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        options = self._options(offload=True)
        return (
            get_model_state_dict(self.net, options=options),
            get_optimizer_state_dict(self.net, optimizer, options=options),
        )

    def load(self, path: Path, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """Every rank reads the checkpoint and keeps its shards; returns its
        ``state.json``."""
        from torch.distributed.checkpoint.state_dict import (
            get_optimizer_state_dict,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        def apply(weights: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
            full: dict[str, Any] = dict(weights)
            set_model_state_dict(self.net, full, options=self._options(offload=False))
            # torch's loader knows only the keys a fresh optimizer's groups have; the rest
            # (the scheduler's initial_lr) are set on the groups directly
            known = [set(g) for g in template["param_groups"]]
            groups = [{k: v for k, v in g.items() if k in keys} for g, keys in
                      zip(state["param_groups"], known, strict=True)]  # fmt: skip
            set_optimizer_state_dict(
                self.net, optimizer, {**state, "param_groups": groups},
                options=self._options(offload=False),
            )  # fmt: skip
            for group, saved in zip(optimizer.param_groups, state["param_groups"], strict=True):
                group.update({k: v for k, v in saved.items() if k != "params"})

        template = get_optimizer_state_dict(self.net, optimizer, options=self._options(False))
        return checkpoint.load(
            path, self.net, optimizer, apply=apply, template=template,
            rank=torch.distributed.get_rank(),
        )  # fmt: skip

    def full_model(self) -> nn.Module:
        """An unsharded copy of the model on rank 0 (the sharded one elsewhere)."""
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        weights = get_model_state_dict(self.net, options=self._options(offload=True))
        if torch.distributed.get_rank() != 0:
            return self.net
        copy: nn.Module = type(self.net)(self.net.config)
        copy.load_state_dict(weights)
        return copy
