"""``BertConfig``: the encoder's sizes and options, with the usual presets, and its HF
``config.json`` form."""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
import warnings
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

# (layers, hidden size) of the BERT sizes: Turc et al. 2019 ("Well-Read Students Learn
# Better") for tiny to medium, Devlin et al. 2019 for base and large; heads = hidden / 64,
# feed-forward = 4 x hidden
PRESETS: dict[str, tuple[int, int]] = {
    "tiny": (2, 128),
    "mini": (4, 256),
    "small": (4, 512),
    "medium": (8, 512),
    "base": (12, 768),
    "large": (24, 1024),
}

POSITIONS = ("learned", "sinusoidal")
PRE_LN_TYPE = "lexforge_bert"  # config.json's model_type for a pre-LayerNorm encoder
# the feed-forward's (and the MLM head transform's) activation, by transformers' names: the
# exact GELU, its tanh approximation (three names in transformers, one function),
# QuickGELU, ReLU and SiLU
ACTIVATIONS = (
    "gelu", "gelu_python", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "quick_gelu",
    "relu", "silu", "swish",
)  # fmt: skip
PROBLEMS = (
    None,
    "single_label_classification",
    "multi_label_classification",
    "regression",
)


@dataclass(frozen=True)
class BertConfig:
    """A BERT encoder. ``position_embedding``: "learned" (BERT) or "sinusoidal" (fixed
    sin/cos of "Attention Is All You Need"); ``pre_layernorm``: LayerNorm before each
    sublayer (and once at the end) instead of after (BERT's post-LN). The hidden and
    classifier dropout rates are torch's on a GPU; on the CPU they are rounded to a
    multiple of 1/65536 (0.1 drops 0.1000061 of the values), whose keep-flags take a fifth
    of the time (``lexforge.ops.dropout``)."""

    vocab_size: int
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    # dropout before a classification head (HF's ``classifier_dropout``; None: hidden_dropout)
    classifier_dropout: float | None = None
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    hidden_act: str = "gelu"  # one of ACTIVATIONS
    position_embedding: str = "learned"
    pre_layernorm: bool = False
    # None: no padding row (a config.json's null, as transformers reads it: the embedding
    # has no padding_idx, so every row trains)
    pad_token_id: int | None = 0
    tie_word_embeddings: bool = True  # the MLM decoder is the word embeddings (BERT's)
    # task heads: the label names (their count sizes the classifier; 1 = regression) and,
    # for sequence classification, "single_label_classification",
    # "multi_label_classification" or "regression" (None: from the labels, as HF does)
    labels: tuple[str, ...] = ("LABEL_0", "LABEL_1")
    problem_type: str | None = None

    def __post_init__(self) -> None:
        # sizes and flags kept as Python ints and bools (NumPy's are taken: config.json
        # holds only Python's); a bool is no size, and a flag is True or False, never a
        # truthy value ("false" would read as True)
        positive = ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size")
        for name in (*positive, "max_position_embeddings", "type_vocab_size"):
            size = _integer(getattr(self, name))
            if size is None or size < 1:
                raise ConfigError(
                    f"BertConfig.{name} must be a positive integer, got {getattr(self, name)!r}"
                )
            object.__setattr__(self, name, size)
        for name in ("pre_layernorm", "tie_word_embeddings"):
            flag = getattr(self, name)
            if not isinstance(flag, bool | np.bool_):
                raise ConfigError(f"BertConfig.{name} must be True or False, got {flag!r}")
            object.__setattr__(self, name, bool(flag))
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"hidden_size {self.hidden_size} is not divisible by num_heads "
                f"{self.num_heads}; pick heads that divide it (e.g. hidden_size // 64)"
            )
        # real numbers, kept as Python floats (a NumPy float would not go into config.json,
        # and transformers reads an int there as a type error)
        rates = ("hidden_dropout", "attention_dropout", "classifier_dropout")
        for name in (*rates, "layer_norm_eps", "initializer_range"):
            value = getattr(self, name)
            if name == "classifier_dropout" and value is None:
                continue
            kind = "a number in [0, 1)" if name in rates else "a positive number"
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ConfigError(f"BertConfig.{name} must be {kind}, got {value!r}")
            try:
                value = float(value)
            except OverflowError:  # an int past a float's range (10**400 in a config.json)
                raise ConfigError(
                    f"BertConfig.{name} must be {kind}, got {value!r:.40}..."
                ) from None
            object.__setattr__(self, name, value)
            if name in rates and not 0.0 <= value < 1.0:
                raise ConfigError(f"BertConfig.{name} must be in [0, 1), got {value}")
            if name not in rates and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"BertConfig.{name} must be a positive number, got {value!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(
                f"hidden_act {self.hidden_act!r} is not supported; use one of "
                f"{', '.join(ACTIVATIONS)} (transformers' names)"
            )
        if self.position_embedding not in POSITIONS:
            raise ConfigError(
                f"position_embedding must be one of {POSITIONS}, got {self.position_embedding!r}"
            )
        object.__setattr__(self, "labels", _label_names(self.labels))
        if self.problem_type not in PROBLEMS:
            raise ConfigError(f"problem_type must be one of {PROBLEMS}, got {self.problem_type!r}")
        if self.problem_type == "single_label_classification" and len(self.labels) < 2:
            raise ConfigError(
                f"problem_type 'single_label_classification' needs at least 2 labels, got 1 "
                f"({self.labels[0]!r}): a softmax over one class is always 1, so nothing "
                "would train; for one output use problem_type 'regression' (or None), or "
                "name two labels or more"
            )
        if self.pad_token_id is None:
            return
        pad = _integer(self.pad_token_id)
        if pad is None:
            raise ConfigError(
                f"BertConfig.pad_token_id must be an integer id or None, got {self.pad_token_id!r}"
            )
        if not 0 <= pad < self.vocab_size:
            raise ConfigError(
                f"pad_token_id {pad} is outside the vocabulary (size {self.vocab_size})"
            )
        object.__setattr__(self, "pad_token_id", pad)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def head_dropout(self) -> float:
        """The dropout before a classification head."""
        return self.hidden_dropout if self.classifier_dropout is None else self.classifier_dropout

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @classmethod
    def preset(cls, name: str, vocab_size: int, **overrides: Any) -> BertConfig:
        """A named size (tiny, mini, small, medium, base, large) for a vocabulary."""
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        layers, hidden = PRESETS[name]
        sizes: dict[str, Any] = {
            "hidden_size": hidden,
            "num_layers": layers,
            "num_heads": hidden // 64,
            "intermediate_size": 4 * hidden,
        }
        return cls(vocab_size=vocab_size, **sizes).replace(**overrides)

    def replace(self, **changes: Any) -> BertConfig:
        """A copy with ``changes``. transformers' names are taken for ours, as its
        ``from_pretrained(..., num_labels=3)`` takes them: ``num_labels`` (the labels kept
        if they are that many, else ``LABEL_0`` .. ``LABEL_{n-1}``), ``id2label`` and
        ``label2id`` (the names in id order) for ``labels``; ``num_hidden_layers``,
        ``num_attention_heads``, ``hidden_dropout_prob`` and
        ``attention_probs_dropout_prob`` for theirs."""
        changes = self._ours(changes)
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            fields = ", ".join(f.name for f in dataclasses.fields(self))
            raise ConfigError(f"BertConfig has no field {unknown[0]!r}; its fields: {fields}")
        return dataclasses.replace(self, **changes)

    def _ours(self, changes: dict[str, Any]) -> dict[str, Any]:
        """``changes`` with transformers' field names as ours (see :meth:`replace`)."""
        if not set(changes) & set(HF_NAMES):
            return changes
        changes = dict(changes)
        for theirs, ours in HF_NAMES.items():
            if theirs in changes and ours != "labels":
                if ours in changes:
                    raise ConfigError(f"{theirs} and {ours} name one field: pass one of them")
                changes[ours] = changes.pop(theirs)
        given = {name: changes.pop(name) for name in LABEL_NAMES if name in changes}
        if not given:
            return changes
        if "labels" in changes:
            raise ConfigError(
                f"{' and '.join(given)} and labels name the labels twice: pass labels= alone"
            )
        names = [_names_by_id(name, given[name]) for name in ("id2label", "label2id")
                 if name in given]  # fmt: skip
        if len(names) == 2 and names[0] != names[1]:
            raise ConfigError("id2label and label2id disagree: pass one of them (or labels=)")
        if "num_labels" in given:
            count = _integer(given["num_labels"])
            if count is None or count < 1:
                raise ConfigError(
                    f"num_labels must be a positive integer, got {given['num_labels']!r}"
                )
            if names and len(names[0]) != count:
                raise ConfigError(
                    f"num_labels={count} but id2label/label2id name {len(names[0])} labels"
                )
            if not names:  # transformers keeps the names when the count is theirs
                same = len(self.labels) == count
                names = [list(self.labels) if same else [f"LABEL_{i}" for i in range(count)]]
        changes["labels"] = names[0]
        return changes

    # HF transformers' config.json ----------------------------------------------------

    def to_hf(self, architecture: str) -> dict[str, Any]:
        """The ``config.json`` that stock ``transformers`` reads as a BERT; lexforge's own
        options ride along under ``"lexforge"`` (transformers keeps unknown keys). A
        pre-LayerNorm encoder has no transformers equivalent (BERT is post-LN): its
        ``model_type`` is ``"lexforge_bert"``, which lexforge loads and transformers'
        ``AutoModel*`` classes refuse; its explicit ``Bert*`` classes load it with a warning
        about the model type and then compute a post-LN model (other outputs)."""
        # one output is a regression (as our head and transformers' forward take it), said
        # outright: else HF's text-classification pipeline puts its score through a sigmoid
        problem = self.problem_type or ("regression" if len(self.labels) == 1 else None)
        return {
            "architectures": [architecture],
            "model_type": PRE_LN_TYPE if self.pre_layernorm else "bert",
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": self.hidden_act,
            "hidden_dropout_prob": self.hidden_dropout,
            "attention_probs_dropout_prob": self.attention_dropout,
            "classifier_dropout": self.classifier_dropout,
            "max_position_embeddings": self.max_position_embeddings,
            "type_vocab_size": self.type_vocab_size,
            "initializer_range": self.initializer_range,
            "layer_norm_eps": self.layer_norm_eps,
            "pad_token_id": self.pad_token_id,
            "position_embedding_type": "absolute",
            "tie_word_embeddings": self.tie_word_embeddings,
            "id2label": dict(enumerate(self.labels)),
            "label2id": {name: i for i, name in enumerate(self.labels)},
            **({"problem_type": problem} if problem else {}),
            "lexforge": {
                "position_embedding": self.position_embedding,
                "pre_layernorm": self.pre_layernorm,
            },
        }

    @classmethod
    def from_hf(cls, data: dict[str, Any]) -> BertConfig:
        """Reads a BERT ``config.json`` (ours or any HF BERT)."""
        if not isinstance(data, dict):
            raise ConfigError("config.json does not hold a JSON object")
        # no model_type: read as a BERT, as transformers' BertModel.from_pretrained does,
        # unless the architectures say otherwise (a RoBERTa's positions start past padding)
        if data.get("model_type") in (None, ""):  # (not any value that is false: 0, {})
            _check_architectures(data.get("architectures"))
            data = {**data, "model_type": "bert"}
        if data["model_type"] not in ("bert", PRE_LN_TYPE):
            raise ConfigError(
                f"not a BERT checkpoint: config.json has model_type {data.get('model_type')!r}"
                " (lexforge loads model_type 'bert')"
            )
        if data.get("hidden_act", "gelu") not in ACTIVATIONS:
            raise ConfigError(
                f"config.json: hidden_act {data['hidden_act']!r} is not supported; lexforge's "
                f"BERT computes {', '.join(ACTIVATIONS)}"
            )
        for flag in ("is_decoder", "add_cross_attention"):  # causal or cross attention
            if _flag(data, flag, False):
                raise ConfigError(
                    f"config.json sets {flag}: true (a BERT used as a decoder); lexforge's "
                    "BERT is an encoder only"
                )
        # null reads as absolute, as transformers reads it (BertEmbeddings' default)
        if data.get("position_embedding_type") not in (None, "absolute"):
            raise ConfigError(
                f"position_embedding_type {data['position_embedding_type']!r} is not supported: "
                "lexforge's BERT has absolute positions (learned or sinusoidal); a checkpoint "
                "trained with relative positions cannot run without them"
            )
        embedding_size = data.get("embedding_size")
        if embedding_size is not None and embedding_size != data.get("hidden_size"):
            raise ConfigError(
                f"config.json: embedding_size {embedding_size!r} differs from hidden_size "
                f"{data.get('hidden_size')!r}, factorised embeddings with a projection to the "
                "hidden size (ELECTRA's, ALBERT's), which BERT does not have; lexforge loads "
                "BERT checkpoints"
            )
        ours = data.get("lexforge") or {}
        if not isinstance(ours, dict):
            raise ConfigError("config.json's 'lexforge' entry is not an object")
        pre_layernorm = _flag(ours, "pre_layernorm", False, "lexforge.pre_layernorm")
        if (data["model_type"] == PRE_LN_TYPE) != pre_layernorm:
            raise ConfigError(
                f"config.json: model_type {PRE_LN_TYPE!r} goes with lexforge.pre_layernorm "
                "true, and 'bert' with false"
            )
        pad_token_id, labels = _pad_token_id(data), _labels(data)
        tie_word_embeddings = _flag(data, "tie_word_embeddings", True)
        try:
            return cls(
                vocab_size=data["vocab_size"],
                hidden_size=data["hidden_size"],
                num_layers=data["num_hidden_layers"],
                num_heads=data["num_attention_heads"],
                intermediate_size=data["intermediate_size"],
                max_position_embeddings=data.get("max_position_embeddings", 512),
                type_vocab_size=data.get("type_vocab_size", 2),
                hidden_dropout=data.get("hidden_dropout_prob", 0.1),
                attention_dropout=data.get("attention_probs_dropout_prob", 0.1),
                classifier_dropout=data.get("classifier_dropout"),
                layer_norm_eps=data.get("layer_norm_eps", 1e-12),
                initializer_range=data.get("initializer_range", 0.02),
                hidden_act=data.get("hidden_act", "gelu"),
                pad_token_id=pad_token_id,
                position_embedding=ours.get("position_embedding", "learned"),
                pre_layernorm=pre_layernorm,
                tie_word_embeddings=tie_word_embeddings,
                labels=labels,
                problem_type=data.get("problem_type"),
            )
        except KeyError as missing:
            raise ConfigError(f"config.json lacks {missing}, which a BERT config needs") from None
        except (TypeError, ValueError) as e:
            raise ConfigError(f"config.json holds a value of the wrong kind ({e})") from None


# What tools written for transformers' models set on or read from ``model.config`` besides
# its sizes: ``transformers.Trainer`` sets ``use_cache`` on every model it is given (an
# encoder has no cache: the flag changes nothing), reads ``keys_to_ignore_at_inference``
# (the outputs its predictions leave out: a head's ``hidden_states``, which transformers'
# heads leave unset unless asked; the MLM heads' ``correct`` and ``count``), and, given a
# tokenizer (``processing_class``), aligns the config's special tokens with it through
# ``get_text_config()``: an encoder generates nothing, so ``bos_token_id`` and
# ``eos_token_id`` are None and may be set (a tokenizer's ``pad_token_id`` must match the
# model's: it is a field). None of these is saved.
RUNTIME_ATTRIBUTES = frozenset({"use_cache", "bos_token_id", "eos_token_id"})
BertConfig.use_cache = False  # type: ignore[attr-defined]
# (and the MLM heads' counts and part losses: the predictions are the logits alone, as
# transformers' heads give them, NSP's too for pretraining)
BertConfig.keys_to_ignore_at_inference = [  # type: ignore[attr-defined]
    "hidden_states", "attentions", "correct", "count", "mlm_loss", "nsp_loss",
]  # fmt: skip
BertConfig.bos_token_id = None  # type: ignore[attr-defined]
BertConfig.eos_token_id = None  # type: ignore[attr-defined]
BertConfig.get_text_config = lambda self, *args, **kwargs: self  # type: ignore[attr-defined]
_frozen_setattr = BertConfig.__setattr__


def _setattr(self: BertConfig, name: str, value: Any) -> None:
    if name in RUNTIME_ATTRIBUTES:
        object.__setattr__(self, name, value)
    else:
        _frozen_setattr(self, name, value)  # the fields stay frozen: replace() makes another


BertConfig.__setattr__ = _setattr  # type: ignore[method-assign,assignment]


# transformers' names for BertConfig's fields (as passed to its from_pretrained)
HF_NAMES = {
    "num_labels": "labels", "id2label": "labels", "label2id": "labels",
    "num_hidden_layers": "num_layers", "num_attention_heads": "num_heads",
    "hidden_dropout_prob": "hidden_dropout", "attention_probs_dropout_prob": "attention_dropout",
}  # fmt: skip


LABEL_NAMES = ("num_labels", "id2label", "label2id")


def _names_by_id(name: str, mapping: Any) -> list[str]:
    """The label names of an ``id2label`` or ``label2id`` mapping, in id order; its ids
    (ints, or strings of them as in a ``config.json``) must number the outputs 0..n-1."""
    if not isinstance(mapping, Mapping) or not mapping:
        raise ConfigError(f"{name} must be a non-empty dict, got {mapping!r}")
    pairs = mapping.items() if name == "id2label" else ((i, n) for n, i in mapping.items())
    ids: dict[int, Any] = {}
    for key, label in pairs:
        number = _integer(key)
        if number is None and isinstance(key, str) and key.isdigit():
            number = int(key)
        if number is None or number in ids:
            ids = {}
            break
        ids[number] = label
    if sorted(ids) != list(range(len(mapping))):
        raise ConfigError(
            f"{name}'s ids must number the outputs 0 to {len(mapping) - 1}, one label each; "
            f"got {mapping!r}"
        )
    return [str(ids[i]) for i in range(len(ids))]


def _integer(value: Any) -> int | None:
    """``value`` as a Python int (a NumPy integer too); None for anything else, a bool
    included."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return None


def _label_names(labels: Any) -> tuple[str, ...]:
    """The label names, in output order, as strings: a list or tuple (or another ordered
    iterable) of names; numbers are taken as names ("0", "1"). A lone string is refused,
    not split into its characters, and so is anything without an order (a set, a dict)."""
    if isinstance(labels, str | bytes):
        raise ConfigError(
            f"BertConfig.labels must be a list of label names, got the string {labels!r}; "
            f"pass a list, e.g. [{labels!r}]"
        )
    if isinstance(labels, Mapping | Set) or not isinstance(labels, Iterable):
        hint = (
            "; of an id2label dict, its values in id order" if isinstance(labels, Mapping) else ""
        )
        raise ConfigError(
            f"BertConfig.labels must be a list of label names in output order, got {labels!r}{hint}"
        )
    names = tuple(labels)
    for name in names:
        if not isinstance(name, str) and _integer(name) is None:
            raise ConfigError(f"BertConfig.labels holds {name!r}, which is not a label name")
    if not names:
        raise ConfigError("labels must name at least one label (one: regression)")
    return tuple(str(name) for name in names)


def _flag(data: dict[str, Any], key: str, default: bool, name: str | None = None) -> bool:
    """``data[key]`` (``default`` when absent), which must be true or false: transformers
    refuses anything else, and ``bool("false")`` would read it backwards."""
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"config.json: {name or key} must be true or false, got {value!r}")
    return value


def _pad_token_id(data: dict[str, Any]) -> int | None:
    """``pad_token_id`` as transformers reads it: missing is 0 (its default), null is no
    padding row, a negative id counts back.

    transformers builds a BERT whose ``pad_token_id`` is -1 (with a warning) and torch's
    ``nn.Embedding`` takes it as the last row; an id at or past the vocabulary is refused
    there too (by ``BertConfig`` below).
    """
    if "pad_token_id" not in data:
        return 0
    pad = data["pad_token_id"]
    if pad is None:
        return None
    vocab = data.get("vocab_size")
    if isinstance(pad, int) and isinstance(vocab, int) and -vocab <= pad < 0:
        warnings.warn(
            f"config.json: pad_token_id {pad} is negative; read as {vocab + pad}, the row "
            "torch's embedding takes for it (transformers does the same, with a warning)",
            stacklevel=3,
        )
        return vocab + pad
    if not isinstance(pad, int) or isinstance(pad, bool):
        raise ConfigError(f"config.json: pad_token_id must be an integer id or null, got {pad!r}")
    return pad


def _labels(data: dict[str, Any]) -> tuple[str, ...]:
    """Label names from ``id2label`` (keys are strings in JSON), else ``num_labels``."""
    id2label = data.get("id2label")
    if id2label:
        if not isinstance(id2label, dict):
            raise ConfigError("config.json's id2label is not an object")
        # the keys number the outputs 0..n-1, as transformers reads them (by int(key))
        try:
            ids = {int(k): v for k, v in id2label.items()}
        except ValueError:
            ids = {}
        if sorted(ids) != list(range(len(id2label))):
            raise ConfigError(
                f"config.json's id2label has the keys {sorted(id2label)}; they must number the "
                f'outputs 0 to {len(id2label) - 1} ("0", "1", ...), one name each'
            )
        named = [ids[i] for i in range(len(ids))]
        odd = [i for i, v in enumerate(named) if not isinstance(v, str) and _integer(v) is None]
        if odd:  # (null, a list, a float: str() would make a name of anything)
            raise ConfigError(
                f"config.json's id2label names output {odd[0]} {named[odd[0]]!r}, which is not "
                "a label name; name each output with a string"
            )
        return tuple(str(v) for v in named)
    given = data.get("num_labels", 2)
    count = _integer(given)
    if count is None or count < 1:
        raise ConfigError(f"config.json: num_labels must be a positive integer, got {given!r}")
    return tuple(f"LABEL_{i}" for i in range(count))


def check_vocab_fits(tokenizer: Any, vocab_size: int) -> None:
    """A ``ConfigError`` unless every id of ``tokenizer`` has a row in a model's embeddings
    of ``vocab_size`` rows. A larger model is fine: embeddings padded past the tokenizer
    (to a multiple of 64, say) only hold rows that no text gives an id."""
    if tokenizer.vocab_size > vocab_size:
        raise ConfigError(
            f"the tokenizer has {tokenizer.vocab_size} tokens, more than the model's "
            f"{vocab_size} embeddings (ids {vocab_size} and up would have none); after "
            "adding tokens to it, grow the model to match "
            "(model.resize_token_embeddings(len(tokenizer))); else use the tokenizer the "
            f"model was trained with, or a config with vocab_size >= {tokenizer.vocab_size}"
        )


# classes that are BERTs in all but name: their weights and computation are BERT's
_BERT_LIKE = ("bert", "electra", "ernie")
# a transformers model class: a model name, then Model or For<Task>
_MODEL_CLASS = re.compile(r"([A-Za-z0-9]+?)(Model|LMHeadModel|For[A-Z]\w*)")


def _check_architectures(architectures: Any) -> None:
    """A config.json without ``model_type`` whose ``architectures`` name another model
    (``RobertaModel``, ``DistilBertForMaskedLM``...) is refused, not read as a BERT."""
    if isinstance(architectures, str):  # one name, not in a list: transformers takes it
        architectures = [architectures]
    if not isinstance(architectures, list):
        return
    for name in architectures:
        match = _MODEL_CLASS.fullmatch(name) if isinstance(name, str) else None
        if match and not name.lower().startswith(_BERT_LIKE):  # (a custom name is let be)
            guess = match.group(1).lower()
            raise ConfigError(
                f"not a BERT checkpoint: config.json has no model_type and its architectures "
                f"name {name!r} (a {guess!r} model, whose layout or positions differ from "
                "BERT's); lexforge loads BERT checkpoints (model_type 'bert')"
            )
