"""What a pretraining run is asked to do and what it returns: :class:`PretrainOptions`
(every field checked when built, so a bad option fails before anything is read or
written), :class:`PretrainResult`, and the options as JSON values, as the checkpoints
record them. Nothing here trains: the loop is :mod:`lexforge.train.loop`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from torch import nn

from ..errors import ConfigError
from ._fit import check_warmup, warmup_steps

Schedule = Literal["linear", "cosine"]


@dataclass(frozen=True)
class PretrainOptions:
    """What a pretraining run does. ``batch_size`` is rows per micro-batch per process; the
    global batch is ``batch_size × grad_accum × world size``. ``warmup``: steps, or a
    fraction of ``steps`` when below 1 (rounded down: under 17 steps the default 0.06 is
    no warm-up); step s of a warm-up of w runs at (s + 1) / w of ``lr``, so the first
    step already trains (transformers' schedules start at 0, a step later), and the
    decay starts from ``lr`` at step w. ``embedding_init="spectral"`` starts the word
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
    rows, a slow host); on a CPU it only makes the shapes static. ``gradient_checkpointing``
    recomputes each encoder layer's activations in the backward pass instead of keeping
    them (the same gradients, bit for bit, for some more compute: 1.05-1.21x the step
    time on a CPU), so that longer rows or larger batches fit in memory. A checkpoint is saved
    every ``save_every`` steps (0: none but the last) and at the last step, and the last
    ``keep`` of them are kept (``keep=0``: none is written, for benchmarks; such a run
    cannot be resumed). A Ctrl-C (SIGINT), or a SIGTERM (a batch scheduler's or torchrun's
    stop), during the steps lets the step under way finish, saves its checkpoint, then
    raises ``KeyboardInterrupt`` (``lexforge.train.Stopped``) saying where it stopped (a
    second signal stops at once, losing the steps since the last checkpoint); a SIGKILL
    loses them too. ``precision`` is "bf16" (autocast: the products in bfloat16, the
    weights, optimizer and losses in float32) or "fp32"; None takes bf16 on CUDA and fp32
    on the CPU, where bf16 pays only on a CPU with AVX512-BF16 or AMX
    (``lexforge.train._fit.autocast``).

    The other fields: ``steps`` (optimizer steps); ``max_seq_len`` (the longest row,
    [CLS] and [SEP] included); ``objective``, the sentence task beside MLM: ``"nsp"``
    (BERT's next sentence prediction), ``"sop"`` (ALBERT's sentence order) or ``"none"``
    (RoBERTa's full sentences packed across documents; see
    :class:`~lexforge.pretraining.PretrainingBatches`); ``lr``, ``betas``, ``eps`` and
    ``weight_decay``: AdamW's (no decay on biases and LayerNorms); ``schedule``: after the
    warm-up, ``"linear"`` or ``"cosine"`` decay to 0 at ``steps``; ``clip``: the gradient
    norm each step is clipped to (0: not clipped); ``seed``: the model's initial weights,
    the data order and the masks; ``log_every``: steps per ``log.jsonl`` line;
    ``eval_every``: steps between evaluations of ``eval_data`` (0: at the last step only),
    each on its first ``eval_batches`` batches; ``fsdp``: shard the model across
    ``torchrun``'s processes (FSDP) rather than replicate it (DDP); ``device``: ``"cpu"``,
    ``"cuda"``, ``"cuda:1"``... (None: CUDA when there is one)."""

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
    gradient_checkpointing: bool = False
    device: str | None = None
    precision: str | None = None

    def __post_init__(self) -> None:
        from ..batch import MAX_COUNT, check_int
        from ._fit_options import check_precision

        check_precision(self.precision)

        # whole numbers, kept as Python ints (a NumPy integer would be recorded in the
        # checkpoint's state as a type name, and so compare equal to any other on resume)
        for name in ("steps", "batch_size", "grad_accum", "max_seq_len", "keep", "log_every",
                     "eval_batches", "save_every", "eval_every", "seed"):  # fmt: skip
            least = 0 if name in ("save_every", "eval_every", "seed", "keep") else 1
            # (counts past 2**31 - 1 are typos: 10**30 steps ran with a warm-up of 6% of them)
            most = 2**64 - 1 if name == "seed" else MAX_COUNT
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
        number = isinstance(rate, (int, float)) and not isinstance(rate, bool)  # (True is 1)
        if not callable(rate) and not (number and 0 < rate <= 1):
            raise ConfigError(f"mlm_probability must be in (0, 1] (or a schedule), got {rate!r}")
        if self.masking not in ("bernoulli", "exact", "span"):
            raise ConfigError(f"masking must be bernoulli, exact or span, got {self.masking!r}")
        for name in ("whole_word", "compile", "cuda_graphs", "fsdp", "gradient_checkpointing"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
            object.__setattr__(self, name, bool(getattr(self, name)))  # NumPy's as Python's
        if self.cuda_graphs and self.fsdp:
            raise ConfigError("cuda_graphs=True and fsdp=True do not go together: pick one")
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
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr:g}")
        for name in ("warmup", "clip"):
            if getattr(self, name) < 0:
                what = " (0: no clipping)" if name == "clip" else ""
                raise ConfigError(f"{name} must be at least 0{what}, got {getattr(self, name):g}")
        check_warmup(self.warmup)
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
    """What :func:`~lexforge.train.pretrain` returns: the trained ``model`` (also saved in
    HF format under ``out_dir / "model"``), ``out_dir``, and ``history``, the records of
    ``log.jsonl`` (one dict a line: training means every ``log_every`` steps, and each
    evaluation)."""

    model: nn.Module
    out_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)


# the steps where a masking-rate schedule of one's own is sampled, to tell it from another
_PROBES = (0, 1, 2, 5, 10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 1_000_000)


def _options(opts: PretrainOptions) -> dict[str, Any]:
    """The options as JSON values; a callable (a masking-rate schedule of one's own) by
    its name and its rates at ``_PROBES`` (two lambdas share a name)."""

    def describe(value: Any) -> Any:
        if isinstance(value, np.generic):  # a NumPy number by its value
            return value.item()
        name = f"<{getattr(value, '__qualname__', type(value).__name__)}>"
        try:
            rates = [float(value(step)) for step in _PROBES]
        except Exception:  # (not callable at every probe: its name alone)
            return name
        return f"{name} rates {' '.join(f'{r:.6g}' for r in rates)}"

    return json.loads(json.dumps(asdict(opts), default=describe))  # type: ignore[no-any-return]
