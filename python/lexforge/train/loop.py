"""``lf.pretrain``: masked-language-model (+ next-sentence) pretraining from shards.

One loop for one process or many (``torchrun`` sets the environment; each rank trains its
own batches of the stream and DDP averages the gradients). The loss of a step is
normalised by the *global* number of masked tokens (and of sequences, for NSP), counted
over every micro-batch and rank before the backward passes, so gradient accumulation and
data parallelism give the same update as one big batch.

Everything a step depends on — the batch (by index in the seeded stream), its masks, the
dropout RNG (each rank its own stream, each saved in the checkpoints) — is a function of
the seed, the step and the rank, so a run resumed from a checkpoint continues bit for bit
(on the CPU) as if it had never stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from .. import _mkl
from .._extras import require
from ..errors import ConfigError, TrainingDivergedError
from ..model import BatchLayout, BertConfig, BertForMaskedLM, BertForPreTraining
from ..model.config import check_vocab_fits
from . import checkpoint
from ._fit import adamw, check_out_dir, resolve_device, warmup_steps

Schedule = Literal["linear", "cosine"]


@dataclass(frozen=True)
class PretrainOptions:
    """What a pretraining run does. ``batch_size`` is rows per micro-batch per process; the
    global batch is ``batch_size × grad_accum × world size``. ``warmup``: steps, or a
    fraction of ``steps`` when below 1. ``embedding_init="spectral"`` starts the word
    embeddings (and the tied MLM decoder) from PPMI + SVD vectors of the training shards
    (:mod:`lexforge.train.spectral`; seconds on a CPU), which short runs learn from much
    faster than from random rows. ``masking`` and ``whole_word`` pick the MLM corruption
    (:class:`~lexforge.masking.Masker`): tokens picked independently (``"bernoulli"``,
    BERT's), exactly ``mlm_probability`` of each row (``"exact"``) or in spans
    (``"span"``, SpanBERT's); ``whole_word=True`` picks all pieces of a word or none
    (BERT's whole-word masking). ``compile`` runs the model through ``torch.compile``
    (dynamic shapes: one graph for every batch); ``cuda_graphs`` compiles it for CUDA-graph
    replay instead (``mode="reduce-overhead"``), which takes the host out of the step: the
    shapes are made static (rows padded to ``max_seq_len``, the padded attention path
    rather than the unpadded one, the MLM positions padded to a fixed count). Worth it where
    launching kernels costs more host time than they take on the GPU (small batches, short
    rows, a slow host); on a CPU it only makes the shapes static. A checkpoint is saved
    every ``save_every`` steps (0: none but the last) and at the last step, and the last
    ``keep`` of them are kept (``keep=0``: none is written, for benchmarks; such a run
    cannot be resumed)."""

    steps: int = 1000
    batch_size: int = 32
    grad_accum: int = 1
    max_seq_len: int = 128
    objective: Literal["nsp", "sop", "none"] = "nsp"
    mlm_probability: float = 0.15
    masking: Literal["bernoulli", "exact", "span"] = "bernoulli"
    whole_word: bool = False
    embedding_init: Literal["random", "spectral"] = "random"
    lr: float = 5e-4
    warmup: float = 0.06
    schedule: Schedule = "linear"
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-6
    clip: float = 1.0
    seed: int = 0
    log_every: int = 10
    eval_every: int = 0
    eval_batches: int = 8
    save_every: int = 500
    keep: int = 3
    compile: bool = False
    cuda_graphs: bool = False
    fsdp: bool = False
    device: str | None = None

    def __post_init__(self) -> None:
        from ..batch import MAX_COUNT, check_int

        # whole numbers, kept as Python ints (a NumPy integer would be recorded in the
        # checkpoint's state as a type name, and so compare equal to any other on resume)
        for name in ("steps", "batch_size", "grad_accum", "max_seq_len", "keep", "log_every",
                     "eval_batches", "save_every", "eval_every", "seed"):  # fmt: skip
            least = 0 if name in ("save_every", "eval_every", "seed", "keep") else 1
            most = 2**64 - 1 if name == "seed" else MAX_COUNT if name == "max_seq_len" else None
            object.__setattr__(self, name, check_int(name, getattr(self, name), least, most))
        if self.objective not in ("nsp", "sop", "none"):
            raise ConfigError(f"objective must be nsp, sop or none, got {self.objective!r}")
        least = 3 if self.objective == "none" else 5  # [CLS] A [SEP] (B [SEP])
        if self.max_seq_len < least:
            raise ConfigError(
                f"max_seq_len={self.max_seq_len} is too short: an instance needs at least "
                f"{least} positions with objective {self.objective!r}"
            )
        # NumPy numbers (a sweep's np.float32) as Python floats, as the checkpoint records them
        for name in ("mlm_probability", "lr", "warmup", "weight_decay", "eps", "clip"):
            if isinstance(getattr(self, name), (np.integer, np.floating)):
                object.__setattr__(self, name, float(getattr(self, name)))
        if isinstance(self.betas, tuple | list):
            numpy = (np.integer, np.floating)
            betas = tuple(float(b) if isinstance(b, numpy) else b for b in self.betas)
            object.__setattr__(self, "betas", betas)
        rate = self.mlm_probability
        if not callable(rate) and not (isinstance(rate, (int, float)) and 0 < rate <= 1):
            raise ConfigError(f"mlm_probability must be in (0, 1] (or a schedule), got {rate!r}")
        if self.masking not in ("bernoulli", "exact", "span"):
            raise ConfigError(f"masking must be bernoulli, exact or span, got {self.masking!r}")
        for name in ("whole_word", "compile", "cuda_graphs", "fsdp"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.cuda_graphs and self.fsdp:
            raise ConfigError("cuda_graphs and fsdp do not go together: pick one")
        if self.embedding_init not in ("random", "spectral"):
            raise ConfigError(
                f"embedding_init must be random or spectral, got {self.embedding_init!r}"
            )
        if self.schedule not in ("linear", "cosine"):
            raise ConfigError(f"schedule must be linear or cosine, got {self.schedule!r}")
        for name in ("lr", "warmup", "weight_decay", "eps", "clip"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value}")
        if not (self.lr > 0 and self.warmup >= 0 and self.clip >= 0):
            raise ConfigError(
                f"lr must be positive, warmup and clip at least 0 (clip=0: no clipping); got "
                f"lr={self.lr:g}, warmup={self.warmup:g}, clip={self.clip:g}"
            )
        if self.warmup >= 1 and self.warmup != int(self.warmup):
            raise ConfigError(
                f"warmup={self.warmup:g}: give a fraction of the run below 1, or a whole number "
                "of steps"
            )
        if self.warmup >= 1 and self.warmup > self.steps:
            raise ConfigError(
                f"warmup={self.warmup:g} steps is longer than the run's {self.steps} steps: the "
                "rate would never reach lr; give fewer steps, or a fraction of the run (< 1)"
            )
        if self.weight_decay < 0 or not self.eps > 0:
            raise ConfigError(
                f"weight_decay must be at least 0 and eps positive, got {self.weight_decay} "
                f"and {self.eps}"
            )
        if (
            not isinstance(self.betas, tuple | list)
            or len(self.betas) != 2
            or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas)
        ):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {self.betas!r}")

    def warmup_steps(self) -> int:
        return warmup_steps(self.warmup, self.steps)


@dataclass
class PretrainResult:
    model: nn.Module
    out_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------


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
        in flight), and this waits, up to ten seconds, until gloo has let go of its tensor."""
        if not self.owns_group:
            return
        if self.device.type == "cuda":
            torch.distributed.barrier()
        else:
            done = torch.zeros(1)
            torch.distributed.all_reduce(done)
            deadline = time.monotonic() + 10.0
            while done._use_count() > 1 and time.monotonic() < deadline:
                time.sleep(0.001)
        torch.distributed.destroy_process_group()

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
        from torch.distributed.fsdp import fully_shard

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

    def load(self, path: Path, optimizer: torch.optim.Optimizer) -> int:
        """Every rank reads the checkpoint and keeps its shards; returns its step."""
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
        found = checkpoint.load(
            path, self.net, optimizer, apply=apply, template=template,
            rank=torch.distributed.get_rank(),
        )  # fmt: skip
        return int(found["step"])

    def full_model(self) -> nn.Module:
        """An unsharded copy of the model on rank 0 (the sharded one elsewhere)."""
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        weights = get_model_state_dict(self.net, options=self._options(offload=True))
        if torch.distributed.get_rank() != 0:
            return self.net
        copy: nn.Module = type(self.net)(self.net.config)
        copy.load_state_dict(weights)
        return copy


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay on biases, LayerNorms and embeddings' norms."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.dim() < 2 or "norm" in name else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _lr_factor(step: int, opts: PretrainOptions) -> float:
    warm = opts.warmup_steps()
    if step < warm:
        return (step + 1) / warm
    frac = (step - warm) / max(1, opts.steps - warm)
    if opts.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
    return max(0.0, 1.0 - frac)


def _stream(data: Any, opts: PretrainOptions, world: _World, start: int) -> Iterator[Any]:
    from ..masking import Masker
    from ..pretraining import PretrainingBatches

    masker = Masker.from_tokenizer(
        data.tokenizer(), mlm_probability=opts.mlm_probability, seed=opts.seed,
        mode=opts.masking, whole_word=opts.whole_word,
    )  # fmt: skip
    batches = PretrainingBatches(
        data, batch_size=opts.batch_size, max_seq_len=opts.max_seq_len,
        objective=opts.objective, masker=masker, seed=opts.seed,
        pad_to="max_length" if opts.cuda_graphs else "longest",
    )  # fmt: skip
    per_step = opts.grad_accum * world.size
    batches.ranks = per_step  # a masking-rate schedule follows the optimizer step
    # step s, micro-batch m, rank r trains batch (s * accum + m) * world + r
    for _, batch in batches.iterate(start=start * per_step + world.rank, stride=world.size):
        yield batch


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, torch.Tensor]:
    """The batch on the device; from pinned host memory on CUDA, so the copies are
    asynchronous and the host runs ahead of the GPU."""
    return {k: _copy(torch.as_tensor(v), device) for k, v in batch.items()}


def _copy(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


@dataclass
class _Micro:
    """One micro-batch on the device, with what the host knows about it."""

    batch: dict[str, torch.Tensor]
    layout: BatchLayout
    masked: int  # labelled tokens
    rows: int
    real: int  # non-padding tokens

    @classmethod
    def of(cls, batch: dict[str, Any], device: torch.device, slots: _Slots | None) -> _Micro:
        labels = np.asarray(batch["labels"])
        lengths = np.asarray(batch["attention_mask"]).sum(axis=1)
        found = np.flatnonzero(labels.reshape(-1) != -100)
        real = int(lengths.sum())
        if slots is None:
            layout = BatchLayout(
                real, int(lengths.max(initial=0)), _copy(torch.from_numpy(found), device)
            )
        else:  # static shapes: positions padded with B·N to a fixed count; no token counts
            padded = np.full(slots.fit(len(found)), labels.size, dtype=np.int64)
            padded[: len(found)] = found
            layout = BatchLayout(0, 0, _copy(torch.from_numpy(padded), device), padded_labels=True)
        return cls(_to(batch, device), layout, len(found), labels.shape[0], real)


class _Slots:
    """The MLM positions' fixed count under CUDA graphs: a tenth above the first batch's,
    rounded up to 256; it grows (one recompilation) only for a batch with more."""

    def __init__(self) -> None:
        self.count = 0

    def fit(self, needed: int) -> int:
        if needed > self.count:
            self.count = -(-max(needed * 11 // 10, 1) // 256) * 256
        return self.count


def _forward(
    model: nn.Module, b: dict[str, torch.Tensor], objective: str, layout: BatchLayout | None
) -> Any:
    pair = {"nsp": "next_sentence_label", "sop": "sentence_order_label"}.get(objective)
    kwargs: dict[str, Any] = {"labels": b["labels"].long(), "layout": layout}
    if pair is not None:
        kwargs["next_sentence_label"] = b[pair].long()
    return model(b["input_ids"].long(), b["attention_mask"], b["token_type_ids"].long(), **kwargs)


def pretrain(
    data: Any,
    out_dir: str | os.PathLike[str],
    *,
    model: BertConfig | str = "mini",
    eval_data: Any = None,
    tokenizer: Any = None,
    text_column: str | None = None,
    resume: bool = False,
    progress: bool | None = None,
    **options: Any,
) -> PretrainResult:
    """Pretrains a BERT on ``data`` and writes into ``out_dir``: ``checkpoints/``,
    ``log.jsonl`` (a JSON line every ``log_every`` steps, with the means of the steps
    since the line before, and one per evaluation), ``curves.png`` and, at
    the end, ``model/`` in the HF format (loads in ``transformers``).

    ``data``: a :class:`~lexforge.ShardSet` or its directory (its tokenizer defines the
    vocabulary), or text — a file, a directory of files, a list of files or a dataset
    name — with ``tokenizer`` (a tokenizer or its file), which is then cut into shards in
    ``out_dir/shards`` first (resumable; with ``torchrun``, build the shards beforehand).
    Of JSON Lines, JSON, csv, tsv and Parquet files the ``text_column`` is read (default:
    ``text``, else the records' only text column), one record per document.
    ``eval_data``: held-out shards (a ShardSet or its directory), or held-out text in any
    form ``data`` takes, cut into ``out_dir/eval-shards`` with the training shards'
    tokenizer, and evaluated (``log.jsonl``, ``"split": "eval"``) at the last step and
    every ``eval_every`` steps. ``model``: a :class:`BertConfig` or a preset name;
    ``options``: the fields of :class:`PretrainOptions`. ``resume=True`` continues from
    the latest checkpoint in ``out_dir`` (with none, it starts at step 0, with a warning
    when an earlier run's log or model is there); without it, a folder holding an earlier
    run is refused. Under ``torchrun`` every rank runs this same call.
    """

    require("pretraining", "safetensors")  # checkpoints are written with it: checked first
    unknown = set(options) - set(PretrainOptions.__dataclass_fields__)
    if unknown:
        fields = ", ".join(PretrainOptions.__dataclass_fields__)
        raise ConfigError(f"unknown option {sorted(unknown)[0]!r}; the options are {fields}")
    opts = PretrainOptions(**options)
    if opts.eval_every and eval_data is None:  # else no evaluation would ever run
        raise ConfigError(
            f"eval_every={opts.eval_every} evaluates held-out data, and none was given: pass "
            "eval_data= (lexforge pretrain --eval), or drop eval_every"
        )
    data = _corpus_arg("data", data)
    eval_data = None if eval_data is None else _corpus_arg("eval_data", eval_data)
    _check_tokenizer_arg(tokenizer)
    rank, size = _launch()  # a broken launch environment is said before anything is written
    if opts.cuda_graphs and size > 1:
        raise ConfigError(
            "cuda_graphs is for one process: DDP's gradient hooks run outside the graphs; "
            "under torchrun use compile=True instead"
        )
    # checked before any corpus is tokenized (which can take hours)
    check_out_dir(out_dir)
    ckpts = Path(out_dir) / "checkpoints"
    if ckpts.exists() and not ckpts.is_dir():  # said now, not at the first save hours later
        raise ConfigError(
            f"{ckpts} is a file, where the run writes its checkpoints; move it away, or pass "
            "another out_dir"
        )
    _check_earlier_run(Path(out_dir), resume, rank)
    with contextlib.ExitStack() as held:  # the run's folder lock, once taken
        return _pretrain(data, out_dir, opts, model, eval_data, tokenizer, text_column, resume,
                         progress, held)  # fmt: skip


def _corpus_arg(name: str, value: Any) -> Any:
    """``data`` or ``eval_data`` as given when it names a corpus (shards, a path, a dataset
    name), else its paths as a list (a list, a tuple, a generator of paths); anything else
    is a ``ConfigError`` here, not a ``TypeError`` from deep inside the shard builder."""
    from ..shards import ShardSet

    if isinstance(value, ShardSet | str | os.PathLike):
        return value
    if isinstance(value, Iterable) and not isinstance(value, bytes | dict):
        paths = list(value)
        if all(isinstance(p, str | os.PathLike) for p in paths):
            return paths
    raise ConfigError(
        f"{name} must be shards (a ShardSet or its directory), a text file, a directory of "
        f"them, a list of files or a dataset name; got {type(value).__name__} {value!r:.80}"
    )


def _check_tokenizer_arg(tokenizer: Any) -> None:
    from ..tokenizer import Tokenizer

    if tokenizer is not None and not isinstance(tokenizer, Tokenizer | str | os.PathLike):
        raise ConfigError(
            f"tokenizer must be a lexforge Tokenizer or the path of its file, got "
            f"{type(tokenizer).__name__} {tokenizer!r:.80}"
        )


def _check_earlier_run(out: Path, resume: bool, rank: int) -> None:
    """A run into a folder holding an earlier one's checkpoints, log or model is refused
    unless it resumes; resuming with no checkpoint starts at step 0, and says so when an
    earlier run's log or model is there to be replaced."""
    if checkpoint.latest(out / "checkpoints") is not None:
        if not resume:
            raise ConfigError(
                f"{out} already holds checkpoints; pass resume=True (lexforge pretrain "
                "--resume) to continue, or another out_dir"
            )
        return
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

    out.mkdir(parents=True, exist_ok=True)
    return only_writer(
        out / RUN_LOCK,
        lambda: ConfigError(
            f"another pretraining run is writing into {out}; wait for it to finish (then "
            "resume=True / --resume continues it), or pass another out_dir"
        ),
    )


def _pretrain(
    data: Any,
    out_dir: str | os.PathLike[str],
    opts: PretrainOptions,
    model: BertConfig | str,
    eval_data: Any,
    tokenizer: Any,
    text_column: str | None,
    resume: bool,
    progress: bool | None,
    held: contextlib.ExitStack,
) -> PretrainResult:
    if not isinstance(model, BertConfig):
        from ..model.config import PRESETS

        if not isinstance(model, str) or model not in PRESETS:
            raise ConfigError(
                f"unknown preset {model!r}: model= takes a BertConfig or one of "
                f"{', '.join(PRESETS)}; pretraining starts from fresh weights (to go on with a "
                "run, pass its out_dir again with resume=True)"
            )
    if opts.device is not None:
        resolve_device(opts.device)
    eval_shards = _held_out(eval_data)
    # text_column may be for the held-out text alone, when the training data is shards
    eval_text = eval_data is not None and eval_shards is None
    shards = _shards(data, Path(out_dir), tokenizer, progress, text_column, for_eval=eval_text)
    tokenizer = shards.tokenizer()
    if eval_data is not None and eval_shards is None:  # held-out text: cut it the same way
        eval_shards = _shards(
            eval_data, Path(out_dir), tokenizer, progress, text_column, "eval-shards"
        )
    pad = _pad_id(tokenizer)
    config = model if isinstance(model, BertConfig) else BertConfig.preset(
        model, vocab_size=tokenizer.vocab_size, pad_token_id=pad,
        max_position_embeddings=max(512, opts.max_seq_len),
    )  # fmt: skip
    if config.pad_token_id != pad:
        raise ConfigError(
            f"the model's pad_token_id is {config.pad_token_id}, the shards' tokenizer pads "
            f"with id {pad}; build the config with pad_token_id={pad}"
        )
    if opts.objective != "none" and config.type_vocab_size < 2:
        raise ConfigError(
            f"objective {opts.objective!r} needs two segments: type_vocab_size >= 2 (the "
            f"config has {config.type_vocab_size}); or pass objective='none'"
        )
    if eval_shards is not None:
        ours, theirs = (x.manifest.get("tokenizer_sha256") for x in (shards, eval_shards))
        if ours != theirs:
            raise ConfigError(
                "eval_data was tokenized with another tokenizer than the training shards; "
                "build both with the same tokenizer"
            )
    check_vocab_fits(tokenizer, config.vocab_size)
    if opts.max_seq_len > config.max_position_embeddings:
        raise ConfigError(
            f"max_seq_len {opts.max_seq_len} exceeds the model's max_position_embeddings "
            f"{config.max_position_embeddings}"
        )
    out = Path(out_dir)
    # one run at a time in a folder, from here on (every check above leaves nothing behind;
    # rank 0 holds it for the job: every rank of a torchrun job shares the folder)
    if _launch()[0] == 0:
        held.enter_context(_only_run(out))
    world = _World.start(opts.device)
    torch.manual_seed(opts.seed)
    net: nn.Module = (BertForMaskedLM if opts.objective == "none" else BertForPreTraining)(config)
    fresh = not (resume and checkpoint.latest(out / "checkpoints") is not None)
    if opts.embedding_init == "spectral" and fresh:
        from .spectral import initialise_embeddings

        initialise_embeddings(net, shards, seed=opts.seed)  # the same on every rank
    if world.rank > 0:  # a dropout stream of its own (rank 0 keeps a one-process run's)
        torch.manual_seed(_rank_seed(opts.seed, world.rank))
    net.to(world.device)
    sharded = _Sharded(net) if opts.fsdp and world.size > 1 else None
    optimizer = adamw(
        _param_groups(net, opts.weight_decay), lr=opts.lr, betas=opts.betas, eps=opts.eps,
        fused=sharded is None,
    )  # fmt: skip
    start = 0
    ckpt_root = out / "checkpoints"
    data = {
        "shards": str(shards.directory),
        "shards_fingerprint": shards.fingerprint(),
        "world_size": world.size,
    }
    if resume and (found := checkpoint.latest(ckpt_root)) is not None:
        if sharded is None:
            start = checkpoint.load(found, net, optimizer, rank=world.rank)["step"]
        else:
            start = sharded.load(found, optimizer)
        _check_resumed_options(found, opts, data)
        if start > opts.steps:  # (== steps: the run is complete; it exports again)
            raise ConfigError(
                f"the latest checkpoint in {out / 'checkpoints'} is at step {start}, past "
                f"steps={opts.steps}: pass steps > {start} to train on, or take the model "
                "of an earlier checkpoint (they are kept there)"
            )
    if world.size > 1:  # every rank has checked the folder before rank 0 writes into it
        torch.distributed.barrier()
    # the rate of step `start` (a resumed optimizer carries its groups' initial_lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: _lr_factor(s, opts), last_epoch=start - 1
    )
    trained: nn.Module = net
    if world.size > 1 and sharded is None:
        trained = nn.parallel.DistributedDataParallel(
            net, device_ids=[world.device.index] if world.device.type == "cuda" else None
        )
    slots = _Slots() if opts.cuda_graphs else None
    if opts.cuda_graphs:  # static shapes: the padded path, MLM positions to a fixed count
        net.bert.unpad = False  # type: ignore[union-attr]
        trained = torch.compile(trained, mode="reduce-overhead", dynamic=False)  # type: ignore[assignment]
    elif opts.compile:
        # dynamic: the batch's token counts (the layout's ints) stay symbolic, so one graph
        # serves every batch instead of a recompilation per count
        trained = torch.compile(trained, dynamic=True)  # type: ignore[assignment]

    stream = _stream(shards, opts, world, start)
    evaluator = _Evaluator(eval_shards, opts, world) if eval_shards is not None else None
    # opened last, so that a refusal above leaves no file open
    log = _Log(out, enabled=world.rank == 0, progress=progress, total=opts.steps, start=start)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if world.device.type == "cuda"
        else contextlib.nullcontext()
    )
    try:
        net.train()
        # since the last log line (or the start): real (non-padding) tokens, masked
        # tokens and NSP rows of all ranks, on the host; the loss and accuracy sums of this
        # rank, on the device (read only when a line is written). A line gives the mean over
        # its window of steps, not the last step's value
        window_tokens = window_masked = window_rows = 0.0
        window = torch.zeros(4, dtype=torch.float64, device=world.device)
        for step in range(start, opts.steps):
            # counted on the host, from the batches as they come: nothing in a step waits for
            # the device (until a log line reads the totals)
            micro = [_Micro.of(next(stream), world.device, slots) for _ in range(opts.grad_accum)]
            masked, rows, real = world.sum(
                sum(m.masked for m in micro), sum(m.rows for m in micro), sum(m.real for m in micro)
            )
            window_tokens += real
            window_masked += masked
            window_rows += rows
            for i, m in enumerate(micro):
                b = m.batch
                last = i == len(micro) - 1
                sync: Any = contextlib.nullcontext()
                if sharded is not None:
                    net.set_requires_gradient_sync(last)  # type: ignore[operator]
                elif not last and world.size > 1:
                    sync = trained.no_sync()  # type: ignore[operator]
                if opts.cuda_graphs and i == 0:  # a new step: the last step's outputs are spent
                    # (not between micro-batches: the gradients still accumulate)
                    torch.compiler.cudagraph_mark_step_begin()  # type: ignore[no-untyped-call]
                with sync, autocast:
                    o = _forward(trained, b, opts.objective, m.layout)
                    mlm_sum = o.loss * o.count if opts.objective == "none" else o.mlm_loss * o.count
                    loss = mlm_sum / max(masked, 1.0)
                    if opts.objective != "none":
                        n = b["input_ids"].shape[0]
                        loss = loss + o.nsp_loss * n / rows
                    # DDP averages gradients over ranks; the loss is already a global mean
                    (loss * world.size).backward()
                window += _step_totals(o, b, opts.objective)
            if opts.clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), opts.clip)
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            done = step + 1
            # the last step always saves: a finished run can be resumed with more steps
            saving = opts.keep > 0 and (
                done == opts.steps or (bool(opts.save_every) and done % opts.save_every == 0)
            )
            if done % opts.log_every == 0 or done == opts.steps or saving:
                # summed over ranks, so every rank stops at the same step
                mlm_loss, mlm_ok, nsp_loss, nsp_ok = world.sum(*window.tolist())
                if not math.isfinite(mlm_loss + nsp_loss):
                    raise TrainingDivergedError(
                        f"the pretraining loss is {mlm_loss + nsp_loss} by step {done}; nothing "
                        f"was saved from this step on. Lower lr (now {opts.lr:g}) and start "
                        "the run again in a new out_dir"
                    )
            if saving or done == opts.steps:  # the loss came before the step: the weights
                # it made are checked before they are saved or exported
                finite = torch.stack([p.isfinite().all() for p in net.parameters()]).all()
                (broken,) = world.sum(float(not finite))
                if broken:
                    raise TrainingDivergedError(
                        f"the weights hold NaN or infinite values after step {done} (its loss "
                        f"was finite: the update overflowed); nothing was saved from this step "
                        f"on. Lower lr (now {opts.lr:g}) and start the run again in a new out_dir"
                    )
            if done % opts.log_every == 0 or done == opts.steps:
                record = {
                    "step": done, "lr": lr, "mlm_loss": mlm_loss / max(window_masked, 1),
                    "mlm_accuracy": mlm_ok / max(window_masked, 1), "tokens": window_tokens,
                }  # fmt: skip
                if opts.objective != "none":
                    record.update(
                        nsp_loss=nsp_loss / window_rows, nsp_accuracy=nsp_ok / window_rows
                    )
                log.step(record)
                window_tokens = window_masked = window_rows = 0.0
                window.zero_()
            # held-out data is always evaluated at the end; eval_every adds evaluations
            evaluating = done == opts.steps or (opts.eval_every and done % opts.eval_every == 0)
            if evaluator is not None and evaluating:
                log.eval(done, evaluator.run(net, autocast))
                net.train()
            if saving:
                full = sharded.gather(optimizer) if sharded is not None else (None, None)
                rng = world.gather(checkpoint.rng_state())
                if world.rank == 0:
                    checkpoint.save(
                        ckpt_root, done, net, optimizer, _options(opts), opts.keep,
                        weights=full[0], optimizer_state=full[1], data=data, rng=rng,
                    )  # fmt: skip
                if world.size > 1:
                    torch.distributed.barrier()
    finally:
        log.close()
    if opts.cuda_graphs:
        net.bert.unpad = None  # type: ignore[union-attr]  # back to the default path
    if sharded is not None:  # rank 0 exports (and returns) an unsharded copy
        net = sharded.full_model()
    if world.rank == 0:
        net.eval()
        net.save_pretrained(out / "model", tokenizer=tokenizer)  # type: ignore[operator]
        log.plot()
    world.close()
    return PretrainResult(net, out, log.history)


def _options(opts: PretrainOptions) -> dict[str, Any]:
    """The options as JSON values; a callable (a masking-rate schedule) by its name."""

    def describe(value: Any) -> Any:
        if isinstance(value, np.generic):  # a NumPy number by its value
            return value.item()
        return f"<{getattr(value, '__qualname__', type(value).__name__)}>"

    return json.loads(json.dumps(asdict(opts), default=describe))  # type: ignore[no-any-return]


# options a resumed run may change: they do not change what is trained
_RESUMABLE = ("steps", "log_every", "eval_every", "eval_batches", "save_every", "keep",
              "compile", "device", "fsdp")  # fmt: skip


def _same_tokenizer(shards: Any, tokenizer: Any) -> bool:
    """Whether ``tokenizer`` (a tokenizer or its file) is the one the shards were cut with,
    by the digest of its saved file, as ``build_shards`` records it."""
    import tempfile

    from ..formats import sha256_file
    from ..tokenizer import Tokenizer

    if not isinstance(tokenizer, Tokenizer):
        tokenizer = Tokenizer.from_file(tokenizer)
    with tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / "tokenizer.json"
        tokenizer.save(saved)
        return bool(sha256_file(saved) == shards.manifest.get("tokenizer_sha256"))


def _held_out(eval_data: Any) -> Any:
    """``eval_data`` as shards when it is shards (None when it is text, to be cut once the
    tokenizer is known), after checking that held-out text exists: a typo fails before
    the training corpus is tokenized."""
    from .. import datasets
    from ..shards import ShardSet

    if eval_data is None or isinstance(eval_data, ShardSet):
        return eval_data
    paths = [eval_data] if isinstance(eval_data, str | os.PathLike) else list(eval_data)
    if len(paths) == 1 and (Path(paths[0]) / "manifest.json").is_file():
        return ShardSet(paths[0])
    for path in paths:
        if not Path(path).exists() and str(path) not in datasets.names():
            raise FileNotFoundError(
                f"eval_data: no such shard directory, text file or dataset: {path}"
            )
    return None


def _shards(
    data: Any,
    out: Path,
    tokenizer: Any,
    progress: bool | None,
    text_column: str | None = None,
    folder: str = "shards",
    *,
    for_eval: bool = False,
) -> Any:
    """``data`` as shards: a ShardSet, a shard directory, or text cut into ``out/folder``
    with ``tokenizer`` (a tokenizer or its file). ``for_eval``: ``text_column`` is also
    for held-out text, so shards given as ``data`` do not refuse it."""
    from ..masking import MASK_TOKENS
    from ..pretraining import framing_ids
    from ..shards import ShardSet, build_shards
    from ..tokenizer import Tokenizer

    shards = None
    if isinstance(data, ShardSet):
        shards = data
    elif isinstance(data, str | os.PathLike) and (Path(data) / "manifest.json").is_file():
        shards = ShardSet(data)
    if shards is not None:  # already tokenized: the text options have nothing to apply to
        if text_column is not None and not for_eval:
            raise ConfigError(
                f"text_column={text_column!r} applies to text files, but {data} holds shards "
                "(already tokenized); drop it, or pass the text"
            )
        if tokenizer is not None and not _same_tokenizer(shards, tokenizer):
            raise ConfigError(
                f"{data} holds shards cut with another tokenizer than the one given; drop "
                "tokenizer= (--tokenizer): shards train with their own, or pass the text to "
                "cut it with this one"
            )
        return shards
    if tokenizer is None:
        raise ConfigError(
            f"{data!r} is text, not shards: pass tokenizer= (a tokenizer or its file) to cut "
            "it into shards first, or shards from lexforge.build_shards"
        )
    if _launch()[1] > 1:
        raise ConfigError(
            "under torchrun every rank would tokenize the corpus into the same folder: build "
            "the shards first (lexforge.build_shards, or `lexforge pretrain` in one process) "
            "and pass their directory"
        )
    if isinstance(data, str | os.PathLike) and Path(data).is_dir():
        corpus, target = Path(data).resolve(), out.resolve()
        if target == corpus or corpus in target.parents:
            raise ConfigError(
                f"the output directory {out} is inside the corpus directory {data}: its files "
                "would become part of the corpus; put it elsewhere"
            )
    if not isinstance(tokenizer, Tokenizer):
        tokenizer = Tokenizer.from_file(tokenizer)
    # a tokenizer these shards could not pretrain with: say so before cutting them
    specials = dict(tokenizer.special_tokens)
    if not any(t in specials for t in MASK_TOKENS):
        raise ConfigError(
            f"pretraining needs a mask token, and the tokenizer has none (looked for "
            f"{', '.join(MASK_TOKENS)}; it has {sorted(specials)}); train it with "
            "special_tokens=[..., '[MASK]']"
        )
    framing_ids(tokenizer)
    return build_shards(data, out / folder, tokenizer, progress=progress, text_column=text_column)


def _check_resumed_options(found: Path, opts: PretrainOptions, data: dict[str, Any]) -> None:
    """``CheckpointError`` when a resumed run asks for other training options, or trains
    on other shards, than the checkpoint's run (the optimizer, the data stream or the
    objective would silently stay the old ones, or the stream would change under the
    run)."""
    from ..errors import CheckpointError

    try:
        state = json.loads((found / "state.json").read_text(encoding="utf-8"))
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
    changed = [k for k in now if k not in _RESUMABLE and k in saved and saved[k] != now[k]]
    if changed:
        shown = ", ".join(f"{k} {saved[k]!r} -> {now[k]!r}" for k in changed)
        raise CheckpointError(
            f"{found}: resuming with other options than the run's ({shown}); resume with the "
            f"same ones (only {', '.join(_RESUMABLE)} may change), or start a new out_dir"
        )
    if isinstance(before, dict) and before.get("shards_fingerprint") not in (
        None,
        data["shards_fingerprint"],
    ):
        raise CheckpointError(
            f"{found}: the run trained on other shards ({before.get('shards')}) than these "
            f"({data['shards']}): their tokens differ, and the data position would point "
            "into another stream; resume with the run's shards, or start a new out_dir"
        )


def _pad_id(tokenizer: Any) -> int:
    """The id the batches pad with (``[PAD]`` or ``<pad>``; 0 for a tokenizer with neither,
    as the batches then refuse it)."""
    for token in ("[PAD]", "<pad>"):
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return 0


def _step_totals(o: Any, b: dict[str, torch.Tensor], objective: str) -> torch.Tensor:
    """(MLM loss sum, MLM correct, NSP loss sum, NSP correct) of one micro-batch, float64."""
    with torch.no_grad():
        mean = o.loss if objective == "none" else o.mlm_loss
        zero = torch.zeros((), dtype=torch.float64, device=mean.device)
        nsp_sum = nsp_ok = zero
        if objective != "none":
            label = b["next_sentence_label" if objective == "nsp" else "sentence_order_label"]
            nsp_sum = o.nsp_loss.double() * b["input_ids"].shape[0]
            nsp_ok = (o.nsp_logits.argmax(-1) == label).sum().double()
        return torch.stack([mean.double() * o.count, o.correct.double(), nsp_sum, nsp_ok])


class _Evaluator:
    """Held-out batches: a fixed set, the same at every evaluation and for any number of
    processes (the first ``eval_batches`` of the held-out stream, dealt out over the
    ranks). Every rank runs as many forward passes (a sharded model gathers its weights in
    each); those past the set count nothing."""

    def __init__(self, data: Any, opts: PretrainOptions, world: _World) -> None:
        from ..shards import ShardSet

        shards = data if isinstance(data, ShardSet) else ShardSet(data)
        stream = _stream(shards, opts, world, 0)  # batches rank, rank + size, ...
        each = -(-opts.eval_batches // world.size)
        self.batches = [_to(next(stream), world.device) for _ in range(each)]
        self.counted = len(range(world.rank, opts.eval_batches, world.size))
        self.opts, self.world = opts, world

    @torch.no_grad()
    def run(self, net: nn.Module, autocast: Any) -> dict[str, float]:
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
        result = {"mlm_loss": mlm_loss / max(masked, 1), "mlm_accuracy": mlm_ok / max(masked, 1)}
        if self.opts.objective != "none":
            result.update(nsp_loss=nsp_loss / rows, nsp_accuracy=nsp_ok / rows)
        return result


class _Log:
    """The progress bar, ``log.jsonl`` (a resumed run continues it from its checkpoint's
    step; a new run starts it afresh) and the curves; only rank 0 writes."""

    def __init__(
        self, out: Path, *, enabled: bool, progress: bool | None, total: int, start: int
    ) -> None:
        from .._progress import Progress

        self.enabled, self.out, self.total, self.done = enabled, out, total, start
        self.history: list[dict[str, Any]] = []
        self.bar = Progress("pretraining", unit="steps", enabled=progress if enabled else False)
        self.started = time.perf_counter()
        self.file = None
        if enabled:
            out.mkdir(parents=True, exist_ok=True)
            path = out / "log.jsonl"
            kept = []  # a resumed run keeps the records up to its checkpoint's step
            if start > 0 and path.exists():
                # (a damaged line, even one that is not UTF-8, is dropped, not fatal)
                text = path.read_bytes().decode("utf-8", errors="replace")
                for line in text.splitlines():
                    with contextlib.suppress(ValueError, TypeError, KeyError):
                        if json.loads(line)["step"] <= start:
                            kept.append(line + "\n")
            # replaced, not rewritten in place: a kill meanwhile keeps the whole history
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            tmp.write_text("".join(kept), encoding="utf-8")
            tmp.replace(path)
            self.file = path.open("a", encoding="utf-8")

    def step(self, record: dict[str, Any]) -> None:
        elapsed = time.perf_counter() - self.started
        record["tokens_per_s"] = record.pop("tokens") / elapsed if elapsed > 0 else 0.0
        self.started = time.perf_counter()
        self._write({"split": "train", **record})
        self.bar(record["step"], self.total)

    def eval(self, step: int, result: dict[str, float]) -> None:
        self._write({"split": "eval", "step": step, **result})

    def _write(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        if self.file is not None:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    def close(self) -> None:
        self.bar.__exit__(None, None, None)
        if self.file is not None:
            self.file.close()

    def plot(self) -> None:
        from .plots import plot_curves

        plot_curves(self.out / "log.jsonl", self.out / "curves.png")
