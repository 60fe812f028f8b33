"""The model a fine-tuning run trains, and what it runs on: ``task_model`` (a checkpoint
or a lexforge model under the task's head: kept when it fits the labels, else refused or,
with ``new_head``, replaced), ``prepare`` (that model with its tokenizer, on its device),
``resolve_device`` and ``encode_batch``. The loop itself is ``_fit``'s."""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._json import loads_json
from ..errors import ConfigError
from ..model.config import BertConfig, check_vocab_fits


def check_new_head(new_head: object) -> None:
    """``ConfigError`` for a ``new_head`` that is not True or False (NumPy's too): a truthy
    value such as "false" would put the encoder under a fresh head."""
    if not isinstance(new_head, bool | np.bool_):
        raise ConfigError(
            f"new_head must be True or False, got {new_head!r}; pass a bool, not a "
            f"{type(new_head).__name__}"
        )


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
    check_new_head(new_head)
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
        numbered = _numbered(cls, labels, problem_type, *saved)
        if numbered is not None:
            return cls.from_pretrained(model, labels=numbered)
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
            return _drawn_again(model)
        numbered = _numbered(cls, labels, problem_type, type(model).__name__, config.labels,
                             config.problem_type)  # fmt: skip
        if numbered is not None:
            model.config = config.replace(labels=numbered)
            return _drawn_again(model)
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
    # how the encoder runs (not weights): activation checkpointing, the attention backend
    for setting in ("checkpointing", "attention_backend", "unpad"):
        setattr(head.bert, setting, getattr(encoder, setting))
    return head


def _drawn_again(model: Any) -> Any:
    """``model`` with the parts ``from_pretrained`` initialised afresh (a new head) drawn
    again from torch's generator, as loading the checkpoint now would draw them, when they
    are untouched since: the caller has seeded the generator, so fine-tuning a model
    object is as reproducible as fine-tuning its directory (whose load draws the head
    from the seed), and gives the same run. A head changed since loading (trained, moved
    to another dtype, initialised by hand) is the caller's and stays."""
    from ..model.hf_read import fresh_digest

    loaded = getattr(model, "loaded_from", None)
    names, digest = getattr(loaded, "drawn", ((), ""))
    if loaded is None or not names or fresh_digest(model, names) != digest:
        return model
    template = type(model)(model.config).state_dict()  # the draws of a load, in order
    state = model.state_dict()
    with torch.no_grad():
        for name in names:
            state[name].copy_(template[name])
    model.loaded_from = dataclasses.replace(loaded, drawn=(names, fresh_digest(model, names)))
    return model


_HEADS = ("ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering",
          "ForMultipleChoice")  # fmt: skip


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


def _numbered(
    cls: Any,
    labels: tuple[str, ...] | None,
    problem_type: str | None,
    architecture: str,
    saved_labels: tuple[str, ...],
    saved_problem: str | None,
) -> tuple[str, ...] | None:
    """For a head whose labels have transformers' default names (``LABEL_0``, ``LABEL_1``,
    ...: a model made with ``num_labels=n``, its classes known by number only) and data
    whose labels are those numbers (0 .. n-1): the data's names in the head's order (class
    i is ``"i"``), which the head is then read with; else None."""
    if architecture != cls.__name__ or labels is None or not saved_labels:
        return None
    problem = _problem(problem_type, labels)
    if problem == "regression" or _problem(saved_problem, saved_labels) != problem:
        return None
    if list(saved_labels) != [f"LABEL_{i}" for i in range(len(saved_labels))]:
        return None
    numbers = tuple(str(i) for i in range(len(saved_labels)))
    return numbers if set(labels) == set(numbers) else None


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

    try:
        data = loads_json((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # loading the checkpoint says what is wrong with it
    if not isinstance(data, dict):
        return None
    try:  # as the model reads them: LABEL_0... without id2label (keys that do not number
        # the outputs are refused when it loads)
        labels = _labels(data)
    except ConfigError:
        labels = ()
    # config.json's first name (a lone string is one) when it is a BERT class, else what
    # the head weights show (and tags for labels: a tagger saved with a pooler)
    architecture = checkpoint_kind(_weight_names(path), first_architecture(path), labels)
    if not architecture.endswith(_HEADS):
        return None
    return architecture, labels, data.get("problem_type")


def _weight_names(path: Path) -> Any:
    """The names of a checkpoint's tensors (as the keys of a dict), read from the
    safetensors header or the shards' index without loading a weight; none when they
    cannot be read (loading the checkpoint then says why)."""
    try:
        index = path / "model.safetensors.index.json"
        if index.is_file():
            return dict.fromkeys(loads_json(index.read_text(encoding="utf-8"))["weight_map"])
        from safetensors import SafetensorError

        from ..model.safetensors_read import tensor_names

        try:
            return dict.fromkeys(tensor_names(path / "model.safetensors"))
        except SafetensorError:
            return {}
    except (ImportError, OSError, ValueError, KeyError, TypeError):
        return {}
