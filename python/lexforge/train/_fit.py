"""The fine-tuning loop every task shares: AdamW with layer-wise learning-rate decay,
linear warmup then decay, bf16 autocast on CUDA, clipping, a time budget, evaluation
after each epoch with the best epoch kept, early stopping, and the run's files."""

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

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, TrainingDivergedError
from ..model.config import BertConfig, check_vocab_fits


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
    patience: int | None = None
    max_steps: int | None = None
    time_limit: float | None = None
    batch_size: int = 32
    runs: int = 1  # fine-tuning runs averaged into a greedy model soup (``fit``)
    seed: int = 0  # run r orders its data and seeds its dropout with seed + r

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "runs", "seed", "patience", "max_steps"):
            value = getattr(self, name)
            optional = name in ("patience", "max_steps")
            if not (optional and value is None) and not _integer(value):
                raise ConfigError(f"{name} must be a whole number, got {value!r}")
        for name in ("epochs", "batch_size", "runs", "max_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
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
        for name in ("lr", "warmup", "weight_decay", "layer_decay", "time_limit"):
            value = getattr(self, name)
            if name == "time_limit" and value is None:
                continue
            if not _real(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.warmup < 0 or self.weight_decay < 0:
            raise ConfigError(
                f"warmup and weight_decay must be at least 0, got {self.warmup} and "
                f"{self.weight_decay}"
            )
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


def check_out_dir(out_dir: Any) -> None:
    """``out_dir`` (None, or a directory to write into) is not an existing file: said
    before any data or model is read, not when the first file is written."""
    if out_dir is None:
        return
    path = Path(out_dir)
    for at in (path, *path.parents):  # the nearest one that exists must be a directory
        if at.exists():
            if not at.is_dir():
                where = "is a file" if at == path else f"is inside {at}, which is a file"
                raise ConfigError(f"out_dir {out_dir} {where}; pass a directory to write into")
            return


def autocast(device: torch.device) -> Any:
    """bf16 autocast on CUDA, nothing elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


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


def task_model(
    cls: Any,
    model: Any,
    labels: tuple[str, ...] | None,
    problem_type: str | None = None,
    new_head: bool = False,
) -> Any:
    """A ``cls`` task model (for ``labels`` and ``problem_type``, when the head has labels)
    from a checkpoint directory or a lexforge model: a saved model of that class with those
    labels as it is; an encoder (alone or with its pretraining heads) under a freshly
    initialised head. A model with another task head, or with the same head for other
    labels, raises ``CheckpointError`` unless ``new_head`` (then its encoder goes under a
    fresh head, with a warning). A head for the same labels in another order (an HF NER
    checkpoint's, "O" first) keeps its order, which the caller reads from
    ``config.labels``; a regression head's output takes the name of the data's target."""
    import warnings

    overrides = {} if labels is None else {"labels": labels, "problem_type": problem_type}
    if isinstance(model, (str, os.PathLike)):
        saved = _saved_head(Path(model))
        if saved is None:  # an encoder, or an encoder with the MLM/pretraining heads
            with warnings.catch_warnings():  # the new head is expected to be fresh
                warnings.filterwarnings("ignore", message=".*freshly initialised.*")
                warnings.filterwarnings("ignore", message=".*ignored .* weights.*")
                return cls.from_pretrained(model, **overrides)
        if _fits(cls, labels, problem_type, *saved):
            if labels is not None and _problem(problem_type, labels) == "regression":
                return cls.from_pretrained(model, labels=labels)  # the target's name
            return cls.from_pretrained(model)
        _other_head(model, cls, labels, *saved, new_head=new_head, problem_type=problem_type)
        from ..model import BertModel

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ignored .* weights.*")
            model = BertModel.from_pretrained(model)
    elif not isinstance(getattr(model, "config", None), BertConfig):
        raise ConfigError(
            f"the model to fine-tune must be a checkpoint directory or a lexforge model, got a "
            f"{type(model).__module__}.{type(model).__name__}; save it (model.save_pretrained"
            "(dir), transformers' too) and pass the directory"
        )
    elif model.__class__.__name__.endswith(_HEADS):
        config = model.config
        if _fits(cls, labels, problem_type, type(model).__name__, config.labels,
                 config.problem_type):  # fmt: skip
            if labels is not None and _problem(problem_type, labels) == "regression":
                model.config = config.replace(labels=labels)  # the target's name
            return model
        _other_head(type(model).__name__, cls, labels, type(model).__name__, config.labels,
                    config.problem_type, new_head=new_head, problem_type=problem_type)  # fmt: skip
    encoder = model if hasattr(model, "embeddings") else getattr(model, "bert", None)
    if encoder is None:
        raise ConfigError(f"{type(model).__name__} has no BERT encoder to fine-tune")
    head = cls(model.config.replace(**overrides))
    missing, _ = head.bert.load_state_dict(encoder.state_dict(), strict=False)
    if [m for m in missing if not m.startswith("pooler.")]:
        raise ConfigError(f"the encoder lacks weights: {missing[:3]}")
    head.tokenizer = getattr(model, "tokenizer", None)
    return head


_HEADS = ("ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering")


def _fits(
    cls: Any,
    labels: tuple[str, ...] | None,
    problem_type: str | None,
    architecture: str,
    saved_labels: tuple[str, ...],
    saved_problem: str | None,
) -> bool:
    """Whether a saved head is the one asked for: its class, its problem type and its
    labels, in any order (one name each); a regression head's outputs by their count (their
    names are only the target columns')."""
    if architecture != cls.__name__:
        return False
    if labels is None:
        return True
    problem = _problem(problem_type, labels)
    if _problem(saved_problem, saved_labels) != problem:
        return False
    if problem == "regression":
        return len(saved_labels) == len(labels)
    return len(set(saved_labels)) == len(saved_labels) and set(saved_labels) == set(labels)


def _other_head(
    where: Any,
    cls: Any,
    labels: tuple[str, ...] | None,
    architecture: str,
    saved_labels: tuple[str, ...],
    saved_problem: str | None,
    *,
    new_head: bool,
    problem_type: str | None = None,
) -> None:
    """``CheckpointError`` for a head that does not fit (a warning with ``new_head``)."""
    import warnings

    from ..errors import CheckpointError

    what = f"{where} holds a {architecture}"
    if architecture == cls.__name__:
        what += f" for labels {list(saved_labels)}"
        if saved_problem:
            what += f" ({saved_problem})"
        what += f"; the data has {list(labels or ())}"
        asked = _problem(problem_type, labels or ())
        if labels and _problem(saved_problem, labels) != asked:
            what += f" ({asked})"
    else:
        what += f"; its head does not fit a {cls.__name__}"
    if not new_head:
        raise CheckpointError(
            f"{what}: pass new_head=True (lexforge finetune --new-head) to fine-tune its "
            "encoder under a freshly initialised head"
        )
    warnings.warn(f"{what}: its encoder goes under a freshly initialised head", stacklevel=4)


def prepare(
    cls: Any,
    model: Any,
    labels: tuple[str, ...] | None,
    tokenizer: Any,
    device: str | None,
    problem_type: str | None = None,
    new_head: bool = False,
) -> tuple[Any, Any, torch.device]:
    """``task_model``, with its tokenizer (``tokenizer``, else the checkpoint's; it must
    fit the model's vocabulary; a byte-level BPE one is framed as pretraining framed its
    rows), on ``device`` (default: CUDA when there is one)."""
    from ..bpe import BpeTokenizer
    from ..model.hf import bert_framed
    from ..wordpiece import WordPieceTokenizer

    if tokenizer is not None and not isinstance(tokenizer, WordPieceTokenizer | BpeTokenizer):
        raise ConfigError(
            "fine-tuning needs the model's tokenizer (WordPiece or byte-level BPE, e.g. "
            f"Tokenizer.from_file('tokenizer.json')), got a {type(tokenizer).__name__}"
        )
    dev = resolve_device(device)  # before the model loads: fail fast
    head = task_model(cls, model, labels, problem_type, new_head)
    tok = tokenizer if tokenizer is not None else getattr(head, "tokenizer", None)
    if tok is None:
        raise ConfigError(
            "no tokenizer: pass tokenizer=, or a checkpoint directory with tokenizer.json or "
            "vocab.txt"
        )
    tok = bert_framed(tok)
    if isinstance(tok, BpeTokenizer):
        _check_bpe(tok)
    check_vocab_fits(tok, head.config.vocab_size)
    head.tokenizer = tok
    head.to(dev)
    return head, tok, dev


def _check_bpe(tok: Any) -> None:
    """A BPE tokenizer fine-tuning can use: a template that opens each text with a
    [CLS]-like token (the classifier reads it) and a padding token."""
    template = tok.template
    if template is None or not template[0]:
        raise ConfigError(
            "fine-tuning reads the token before each text ([CLS]), and this BPE tokenizer "
            f"puts none there (special tokens: {sorted(tok.special_tokens)}); use the "
            "tokenizer the model was pretrained with, or give it a template: "
            "tok.with_template(cls_token, sep_token)"
        )
    if tok._pad_id() is None:
        raise ConfigError(
            "fine-tuning pads batches, and this BPE tokenizer has no padding token ([PAD] "
            "or <pad>); use the tokenizer the model was pretrained with"
        )


def encode_batch(tok: Any, *args: Any, **kwargs: Any) -> Any:
    """``tok.encode_batch``, where a BPE tokenizer, as WordPiece and HF do, reads special
    tokens' text in the input as those tokens (``allowed_special="all"``)."""
    from ..bpe import BpeTokenizer

    if isinstance(tok, BpeTokenizer):
        kwargs.setdefault("allowed_special", "all")
    return tok.encode_batch(*args, **kwargs)


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


def resolve_device(device: Any) -> torch.device:
    """``device`` (a name or a ``torch.device``; default: CUDA when there is one) as a
    device lexforge can train on, or a ``ConfigError`` naming the choices."""
    name = device if device is not None else "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise ConfigError(
            f"device {name!r} is not a device name (cpu, cuda, cuda:1): {e}"
        ) from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {name!r}: lexforge trains on cpu or cuda")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: this machine has no CUDA GPU; use cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(
            f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)"
        )
    return dev


def _problem(problem_type: str | None, labels: tuple[str, ...]) -> str:
    """``problem_type`` with None read as HF reads it for integer labels."""
    if problem_type is not None:
        return problem_type
    return "regression" if len(labels) == 1 else "single_label_classification"


def _saved_head(path: Path) -> tuple[str, tuple[str, ...], str | None] | None:
    """(architecture, labels, problem_type) of a saved task model: one whose architecture
    (``config.json``'s, else what its head weights show, as ``from_pretrained`` reads it)
    has a task head (not BertModel, BertForMaskedLM or BertForPreTraining); else None."""
    from ..model.config import _labels
    from ..model.hf import architecture as first_architecture
    from ..model.hf import checkpoint_kind

    # config.json's first name (a lone string is one) when it is a BERT class, else what
    # the head weights show
    architecture = checkpoint_kind(_weight_names(path), first_architecture(path))
    if not architecture.endswith(_HEADS):
        return None
    try:
        data = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # loading the checkpoint says what is wrong with it
    if not isinstance(data, dict):
        return None
    try:  # as the model reads them: LABEL_0... without id2label (keys that do not number
        # the outputs are refused when it loads)
        labels = _labels(data)
    except ConfigError:
        labels = ()
    return architecture, labels, data.get("problem_type")


def _weight_names(path: Path) -> Any:
    """The names of a checkpoint's tensors (as the keys of a dict), read from the
    safetensors header or the shards' index without loading a weight; none when they
    cannot be read (loading the checkpoint then says why)."""
    try:
        index = path / "model.safetensors.index.json"
        if index.is_file():
            return dict.fromkeys(json.loads(index.read_text(encoding="utf-8"))["weight_map"])
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path / "model.safetensors"), framework="pt") as f:
                return dict.fromkeys(f.keys())
        except SafetensorError:
            return {}
    except (ImportError, OSError, ValueError, KeyError, TypeError):
        return {}


def write_json(path: Path, payload: Any) -> None:
    """Writes ``payload`` as JSON atomically (a temporary file, then a rename)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


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
    included, and the batch's row count); after each epoch ``evaluate()`` (when given) is
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
                    stacklevel=5,
                )

        groups = param_groups(model, options.lr, options.layer_decay, options.weight_decay)
        optimizer = adamw(groups, lr=options.lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        mixed = autocast(device)
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
                running, seen = 0.0, 0
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
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    running += value * rows
                    seen += rows
                    step += 1
                    if budget is not None:
                        total = budget.fit(step, total, time.perf_counter())
                        schedule.replan(step, total)
                        check_warm_up()
                    scheduler.step()  # the next step's rate, from the plan as it now stands
                    bar(step, total)
                if not all(bool(torch.isfinite(w).all()) for w in model.parameters()):
                    raise TrainingDivergedError(
                        f"the weights hold NaN or infinite values after step {step} (epoch "
                        f"{epoch + 1}); lower lr (now {options.lr:g})"
                    )
                record: dict[str, Any] = {**tag, "epoch": epoch + 1, "step": step,
                                          "train_loss": running / max(1, seen)}  # fmt: skip
                if evaluate is not None:
                    metrics = evaluate()
                    record.update(summary(metrics))
                    if best is None or score(metrics) > score(best):
                        best, stale = {**metrics, "epoch": epoch + 1}, 0
                        state = model.state_dict().items()
                        best_state = copy.deepcopy({k: v.detach().cpu() for k, v in state})
                    else:
                        stale += 1
                history.append(record)
                if out is not None:
                    with (out / "log.jsonl").open("a", encoding="utf-8") as f:
                        f.write(json.dumps(record) + "\n")
                # as transformers' EarlyStoppingCallback: after `patience` epochs in a row
                # without a better validation score
                if (options.patience is not None and stale >= options.patience) or step >= total:
                    break
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return history, best

    if out is not None:  # this run's files only, not beside an earlier run's in the folder
        if (out / "best").exists():  # said, not replaced silently
            warnings.warn(
                f"{out} holds an earlier run's model (best/); this run replaces it when it "
                "finishes: pass another out_dir to keep it",
                stacklevel=3,
            )
        for name in ("log.jsonl", "metrics.json", "confusion.png", "predictions.json"):
            (out / name).unlink(missing_ok=True)
    clock = time.perf_counter()
    history: list[dict[str, Any]] = []
    finished: list[tuple[dict[str, torch.Tensor], dict[str, Any] | None]] = []
    best: dict[str, Any] | None = None
    for run in range(options.runs):
        limit = options.time_limit
        if limit is not None:  # what is left, shared among the runs still to come
            limit = (limit - (time.perf_counter() - clock)) / (options.runs - run)
            if run and limit <= 0:  # said, not left to an empty soup in the report
                done = "run 1 alone" if run == 1 else f"the soup of runs 1-{run} only"
                warnings.warn(
                    f"time_limit={options.time_limit:g}s ran out after {run} of the "
                    f"{options.runs} runs: the model is {done}; raise time_limit "
                    "(--time-limit) or ask for fewer runs (--runs)",
                    stacklevel=3,
                )
                break
        if run:
            model.load_state_dict(initial)
            torch.manual_seed(options.seed + run)
        run_history, best = once(run, limit)
        history += run_history
        if from_start:
            finished.append(({k: v.detach().clone() for k, v in model.state_dict().items()}, best))
    if len(finished) < 2:
        return Fitted(history, best, (), [b for _, b in finished])

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
                  tuple(i + 1 for i in kept), [b for _, b in finished])  # fmt: skip
