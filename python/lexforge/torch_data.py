"""torch integration of the pretraining data path: :class:`PretrainingDataset`.

Imports torch; ``import lexforge`` does not import this module until
``lexforge.PretrainingDataset`` is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lexforge._extras import require

# without torch: one error naming the extra that installs it, not a bare ModuleNotFoundError
require("lexforge.torch_data", "torch")

import torch  # noqa: E402
from torch.utils.data import IterableDataset, get_worker_info  # noqa: E402

from lexforge.batch import check_int  # noqa: E402
from lexforge.errors import ConfigError  # noqa: E402
from lexforge.pretraining import PretrainingBatches  # noqa: E402
from lexforge.shards import ShardSet  # noqa: E402

__all__ = ["PretrainingDataset"]


class PretrainingDataset(IterableDataset[dict[str, torch.Tensor]]):
    """Ready, masked pretraining batches as torch tensors, for a ``DataLoader`` with
    ``batch_size=None`` (the dataset batches; ``num_workers`` and ``pin_memory`` as usual)::

        data = lf.PretrainingDataset("shards/", batch_size=256, max_seq_len=128)
        loader = DataLoader(data, batch_size=None, num_workers=2, pin_memory=True)
        for step, batch in enumerate(loader, start=data.start_step): ...

    Batches are split between data-parallel ranks (``rank``/``world_size``, by default from
    ``torch.distributed`` when it is initialized) and between the loader's workers without
    overlap: rank ``r`` of ``W`` trains on batches ``r, W + r, 2W + r, ...`` of the stream,
    and a loader with any number of workers yields them in that order. ``start_step``
    resumes: the rank's first batch is then its ``start_step``-th, exactly the one it would
    have seen without the interruption. ``grad_accum``: the micro-batches each rank adds up
    per optimizer step, so that a masking-rate schedule follows the optimizer step, and a
    finite stream ends with a whole step (``start_step`` still counts batches). See
    :class:`~lexforge.pretraining.PretrainingBatches` for the other options (objective,
    lengths, masking, seed, epochs).

    Workers use one thread each unless ``num_threads`` says otherwise; the batches do not
    depend on it. The dataset pickles as its directory and options, so it works with any
    multiprocessing start method.
    """

    def __init__(
        self,
        shards: ShardSet | str | os.PathLike[str],
        *,
        batch_size: int,
        start_step: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        grad_accum: int = 1,
        **options: Any,
    ) -> None:
        super().__init__()
        check_int("grad_accum", grad_accum, least=1, most=1 << 31)
        if "batches_per_step" in options:
            raise ConfigError(
                "batches_per_step is set from world_size and grad_accum here; pass "
                "grad_accum= (the micro-batches per optimizer step) instead"
            )
        if rank is None or world_size is None:
            distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
            if world_size is None:
                world_size = torch.distributed.get_world_size() if distributed else 1
            if rank is None:
                rank = torch.distributed.get_rank() if distributed else 0
        check_int("rank", rank)
        if check_int("world_size", world_size, least=1) <= rank:
            raise ConfigError(f"need 0 <= rank < world_size, got {rank} and {world_size}")
        check_int("start_step", start_step, most=2**63 - 1)
        self.directory = Path(shards.directory if isinstance(shards, ShardSet) else shards)
        self.batch_size, self.options = batch_size, options
        # in shared memory: a loader's persistent workers keep their copy of the dataset,
        # and read set_step's step from it when the next pass starts
        self._start = torch.tensor(start_step, dtype=torch.int64)
        self._start.share_memory_()  # type: ignore[no-untyped-call]
        self.rank, self.world_size = rank, world_size
        self.grad_accum = grad_accum
        self._batches: PretrainingBatches | None = self._open(options.get("num_threads"))

    def _open(self, num_threads: int | None) -> PretrainingBatches:
        options = dict(self.options, num_threads=num_threads)
        per_step = self.world_size * self.grad_accum
        return PretrainingBatches(
            self.directory, batch_size=self.batch_size, batches_per_step=per_step, **options
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_batches"] = None  # Rust objects and memory maps are reopened per process
        return state

    @property
    def start_step(self) -> int:
        """The rank's batch the next iteration starts at."""
        return int(self._start)

    @start_step.setter
    def start_step(self, step: int) -> None:
        self.set_step(step)

    def set_step(self, step: int) -> None:
        """Makes the next iteration start at the rank's batch ``step`` (resume), in a
        loader's workers too, persistent ones included (``persistent_workers=True``
        keeps its workers' copies of the dataset between passes)."""
        self._start.fill_(check_int("step", step, most=2**63 - 1))

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        if info is not None:
            threads = self.options.get("num_threads") or 1
            batches = self._open(threads)
        else:
            batches = self._batches or self._open(self.options.get("num_threads"))
        # worker w yields the rank's steps start + w, start + w + K, ...; the loader takes
        # them from its workers in turn, so they arrive in step order
        first = self.start_step + worker
        start = first * self.world_size + self.rank
        # a finite stream ends with a step that every rank has a batch for
        per_step = self.world_size * self.grad_accum
        steps = batches.iterate(start, stride=workers * self.world_size, group=per_step)
        for _, batch in steps:
            yield {name: torch.from_numpy(array) for name, array in batch.items()}
