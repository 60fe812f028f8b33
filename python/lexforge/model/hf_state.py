"""HF's BERT parameter names and ours, and an HF state dict copied into a model: the name
tables (``hf_names``, ``to_hf_state``), ``load_hf_state`` with its checks, and the checks
of a checkpoint's sizes (``check_sizes``) and position table (``check_positions``) that
come before a model is built. Reading the files is ``hf_read``'s, writing them ``hf``'s.

Our names differ from HF's in one place of substance: the fused QKV projection, which HF
stores as separate query, key and value weights (split on save, concatenated on load).
"""

from __future__ import annotations

import re
import warnings

import torch
from torch import nn

from ..errors import CheckpointError, ConfigError
from .config import BertConfig

# our encoder-local name -> HF's (with the layer index as \1)
_ENCODER = [
    (r"embeddings\.word\.", "embeddings.word_embeddings."),
    (r"embeddings\.position\.weight", "embeddings.position_embeddings.weight"),
    (r"embeddings\.position_table", "embeddings.position_embeddings.weight"),
    (r"embeddings\.token_type\.", "embeddings.token_type_embeddings."),
    (r"embeddings\.norm\.", "embeddings.LayerNorm."),
    (r"layers\.(\d+)\.attention\.out\.", r"encoder.layer.\1.attention.output.dense."),
    (r"layers\.(\d+)\.attention_norm\.", r"encoder.layer.\1.attention.output.LayerNorm."),
    (r"layers\.(\d+)\.ffn\.up\.", r"encoder.layer.\1.intermediate.dense."),
    (r"layers\.(\d+)\.ffn\.down\.", r"encoder.layer.\1.output.dense."),
    (r"layers\.(\d+)\.ffn_norm\.", r"encoder.layer.\1.output.LayerNorm."),
    (r"pooler\.", "pooler.dense."),
    (r"final_norm\.", "encoder.final_layer_norm."),  # pre-LN only (model_type lexforge_bert)
]
_QKV = re.compile(r"layers\.(\d+)\.attention\.qkv\.(weight|bias)")
_HEADS = [
    (r"mlm\.dense\.", "cls.predictions.transform.dense."),
    (r"mlm\.norm\.", "cls.predictions.transform.LayerNorm."),
    (r"mlm\.bias", "cls.predictions.bias"),
    (r"mlm\.decoder", "cls.predictions.decoder.weight"),  # untied only
    (r"nsp\.", "cls.seq_relationship."),
    (r"classifier\.", "classifier."),
    (r"qa_outputs\.", "qa_outputs."),
]
HEADS = ("mlm.", "nsp.", "classifier.", "qa_outputs.")  # our task heads' prefixes
# HF keys that carry nothing we keep: buffers transformers makes itself (other tools save
# them: position_ids, token_type_ids), and the decoder, which is the tied word embeddings,
# with its bias, which is cls.predictions.bias
_IGNORED = re.compile(
    r"(bert\.)?embeddings\.(position_ids|token_type_ids)|cls\.predictions\.decoder\.(weight|bias)"
)


def hf_names(name: str) -> list[str]:
    """HF's name(s) for one of our parameters (three for a fused QKV projection)."""
    prefix = ""
    if name.startswith("bert."):
        prefix, name = "bert.", name[len("bert.") :]
    qkv = _QKV.fullmatch(name)
    if qkv:
        layer, kind = qkv.groups()
        return [
            f"{prefix}encoder.layer.{layer}.attention.self.{part}.{kind}"
            for part in ("query", "key", "value")
        ]
    for pattern, replacement in _ENCODER:
        if re.match(pattern, name):
            return [prefix + re.sub(pattern, replacement, name, count=1)]
    for pattern, replacement in _HEADS:
        if re.match(pattern, name):
            return [re.sub(pattern, replacement, name, count=1)]
    raise KeyError(f"no HF name for parameter {name!r}")


def to_hf_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights under HF names, contiguous CPU copies (safetensors needs them).
    The MLM bias goes under both of HF's names: its forward adds the decoder's, which is
    a parameter of its own when the decoder is untied."""
    state = {}
    for name, tensor in model.state_dict().items():
        try:
            names = hf_names(name)
        except KeyError:
            raise ConfigError(_foreign_parameter(name)) from None
        parts = tensor.chunk(len(names), dim=0)
        for hf_name, part in zip(names, parts, strict=True):
            state[hf_name] = part.detach().to("cpu", copy=True).contiguous()
    if "cls.predictions.bias" in state:
        state["cls.predictions.decoder.bias"] = state["cls.predictions.bias"].clone()
    return state


def _foreign_parameter(name: str) -> str:
    """Why a model holds a parameter no BERT checkpoint has a name for, and the fix."""
    if "lora_" in name or ".base_layer." in name:
        return (
            f"the model holds adapter weights ({name}): peft's LoRA layers are still in it, "
            "and a BERT checkpoint has no place for them. Merge them first "
            "(model = peft_model.merge_and_unload()), or save the adapter alone with "
            "peft_model.save_pretrained(dir)"
        )
    return (
        f"the model holds a parameter a BERT checkpoint has no name for ({name}): a module "
        "added to or swapped into it since it was built; remove it before saving"
    )


def _prefixed(name: str, prefix: bool) -> str:
    """An encoder name with or without the ``bert.`` that head models put before it (a
    BertModel reads a BertForMaskedLM checkpoint, a BertForMaskedLM a BertModel one)."""
    bare = name[len("bert.") :] if name.startswith("bert.") else name
    if bare.startswith(("cls.", "classifier.", "qa_outputs.")):
        return bare
    return "bert." + bare if prefix else bare


def _hf_spellings(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state under today's HF names: LayerNorm ``gamma``/``beta`` (older checkpoints,
    bert-base-uncased's among them) are ``weight``/``bias``, as transformers renames them;
    and the MLM bias is the decoder's when the file has one: HF's forward adds
    ``cls.predictions.decoder.bias`` (the same tensor as ``cls.predictions.bias`` unless
    the decoder is untied)."""
    out = {
        _OLD_NORM.sub(lambda m: m.group(1) + _NEW_NORM[m.group(2)], k): v for k, v in state.items()
    }
    if "cls.predictions.decoder.bias" in out:
        out["cls.predictions.bias"] = out["cls.predictions.decoder.bias"]
    return out


def tied_from_decoder(state: dict[str, torch.Tensor], tied: bool) -> dict[str, torch.Tensor]:
    """The state with its word embeddings taken from the MLM decoder where a tied
    checkpoint stores the shared matrix under the decoder's name alone (some tools write
    it so; transformers ties the two and loads it): it was refused as missing encoder
    weights. Untied (``tied`` False), a missing matrix stays missing."""
    decoder = state.get("cls.predictions.decoder.weight")
    if not tied or decoder is None:
        return state
    prefix = "bert." if any(k.startswith("bert.") for k in state) else ""
    name = f"{prefix}embeddings.word_embeddings.weight"
    if name in state or (not prefix and "bert.embeddings.word_embeddings.weight" in state):
        return state
    return {**state, name: decoder}


_OLD_NORM = re.compile(r"(LayerNorm\.)(gamma|beta)$")
_NEW_NORM = {"gamma": "weight", "beta": "bias"}


def load_hf_state(
    model: nn.Module, state: dict[str, torch.Tensor], source: str, *, tied_by_override: bool = False
) -> list[str]:
    """Copies an HF state dict into ``model``; returns our names that the checkpoint lacks
    (left as initialised). Raises ``CheckpointError`` on shape mismatches or when the
    encoder itself is incomplete. ``tied_by_override``: the caller's
    ``tie_word_embeddings=True`` ties the decoder, not config.json (for the warning)."""
    state = _hf_spellings(state)
    has_prefix = any(k.startswith("bert.") for k in state)
    missing, used = [], set()
    ours = model.state_dict()
    with torch.no_grad():
        for name, target in ours.items():
            names = [_prefixed(n, has_prefix) for n in hf_names(name)]
            if not all(n in state for n in names):
                missing.append(name)
                continue
            for n in names:  # copy_ would cast ints and bools to floats, silently
                if not state[n].is_floating_point():
                    raise CheckpointError(
                        f"{source}: {n} holds {state[n].dtype} values where weights belong "
                        "(floating point): a corrupt checkpoint, or a quantized one, which "
                        "lexforge does not read"
                    )
            if len(names) > 1:  # query, key and value, each a third of our fused projection
                part = (target.shape[0] // len(names), *target.shape[1:])
                for n in names:
                    if tuple(state[n].shape) != part:
                        raise CheckpointError(
                            f"{source}: {n} has shape {tuple(state[n].shape)}, the model "
                            f"expects {part}: config.json does not match the weights"
                        )
                # (each cast first: the three may be stored in different dtypes, and torch
                # promotes no float8 one)
                value = torch.cat([state[n].to(target.dtype) for n in names], dim=0)
            else:
                value = state[names[0]]
            if value.shape != target.shape:
                if names[0].startswith("qa_outputs."):
                    raise CheckpointError(
                        f"{source}: {names[0]} has shape {tuple(value.shape)}: a question-"
                        f"answering head has 2 outputs (start, end), this one {value.shape[0]}; "
                        "transformers cannot run it either. Load the encoder with BertModel, "
                        "or pass new_head=True to finetune"
                    )
                raise CheckpointError(
                    f"{source}: {names[0]} has shape {tuple(value.shape)}, the model expects "
                    f"{tuple(target.shape)}: config.json does not match the weights"
                )
            target.copy_(value)
            used.update(names)
    # heads and the pooler may be absent (an encoder-only or a tagging checkpoint)
    optional = (*HEADS, "pooler.", "bert.pooler.")
    encoder_missing = [  # as the checkpoint names them (HF's names), not as we do
        hf_name
        for name in missing
        if not name.startswith(optional)
        for hf_name in (_prefixed(n, has_prefix) for n in hf_names(name))
        if hf_name not in state
    ]
    if encoder_missing:
        raise CheckpointError(
            f"{source} lacks encoder weights {encoder_missing[:4]}"
            f"{' ...' if len(encoder_missing) > 4 else ''}: truncated, or not a BERT checkpoint"
            + _foreign_prefix(state)
        )
    _warn_if_untied(model, state, source, tied_by_override)
    unused = [k for k in state if k not in used and not _IGNORED.fullmatch(k)]
    stray = [k for k in unused if k.removeprefix("bert.").startswith(_ENCODER_PARTS)]
    if stray:
        raise CheckpointError(_stray_encoder(source, stray, model.config))  # type: ignore[arg-type]
    if unused:  # another task's head (or a pooler the model does not have): not ours to use
        kinds = {
            "pooler" if k.removeprefix("bert.").startswith("pooler.")
            else "nsp" if k.startswith("cls.seq_relationship.") else "head"
            for k in unused
        }  # fmt: skip
        what = (
            "a head for another task" if "head" in kinds
            else "the pooler, which this model does not use" if kinds == {"pooler"}
            else "pretraining's next-sentence head (and pooler), which this model does not use"
        )  # fmt: skip
        warnings.warn(
            f"{source}: ignored {len(unused)} weights the model has no place for "
            f"(e.g. {unused[0]}): {what}",
            stacklevel=3,
        )
    return missing


def _foreign_prefix(state: dict[str, torch.Tensor]) -> str:
    """What a message adds where the encoder's weights are under another model's name
    (``electra.embeddings...``, ``roberta.embeddings...``): that name."""
    prefixes = sorted(
        {k.split(".", 1)[0] for k in state if k.split(".", 1)[-1].startswith(_ENCODER_PARTS)}
        - {"bert", *_ENCODER_PARTS_NAMES}
    )
    if not prefixes:
        return ""
    return (
        f" (its encoder's weights are named {prefixes[0]}.embeddings..., "
        f"{prefixes[0]}.encoder...: another model's names, where BERT's are bert.)"
    )


def check_sizes(config: BertConfig, state: dict[str, torch.Tensor], source: str) -> None:
    """``CheckpointError`` unless the weights' embedding tables, first feed-forward and
    layer count fit ``config``: checked before a model is built at the config's sizes,
    which a config.json saying 10**12 tokens or layers would otherwise try to allocate.
    (Fewer layers in the config than in the weights, and every other shape, are checked
    as the weights are copied: see ``load_hf_state``.)"""
    state = {k.removeprefix("bert."): v for k, v in state.items()}
    hidden = ("hidden_size", config.hidden_size)
    tables = {
        "embeddings.word_embeddings.weight": (("vocab_size", config.vocab_size), hidden),
        "embeddings.position_embeddings.weight": (
            ("max_position_embeddings", config.max_position_embeddings),
            hidden,
        ),
        "embeddings.token_type_embeddings.weight": (
            ("type_vocab_size", config.type_vocab_size),
            hidden,
        ),
        "encoder.layer.0.intermediate.dense.weight": (
            ("intermediate_size", config.intermediate_size),
            hidden,
        ),
    }
    for name, fields in tables.items():
        if name not in state:
            raise CheckpointError(
                f"{source} lacks encoder weights ['{name}']: truncated, or not a BERT checkpoint"
                + _foreign_prefix(state)
            )
        shape = tuple(state[name].shape)
        if len(shape) != 2:
            raise CheckpointError(
                f"{source}: {name} has shape {shape}, not a matrix: not a BERT checkpoint"
            )
        for (field, value), size in zip(fields, shape, strict=True):
            if size != value:
                raise CheckpointError(
                    f"{source}: {name} has shape {shape}, but config.json's {field} is "
                    f"{value}, the weights' {size}: config.json does not match the weights"
                )
    layers = 1 + max((int(m.group(1)) for k in state if (m := _LAYER.match(k))), default=-1)
    if layers < config.num_layers:
        raise CheckpointError(
            f"{source} lacks encoder weights for layers {layers} to {config.num_layers - 1}: "
            f"the weights have {layers} layers, config.json's num_hidden_layers (num_layers) "
            f"says {config.num_layers}"
            + (f"; set num_hidden_layers to {layers}" if layers else ": not a BERT checkpoint")
        )


def check_positions(
    saved: BertConfig,
    config: BertConfig,
    state: dict[str, torch.Tensor],
    source: str,
    asked: bool = False,
) -> BertConfig:
    """The config to build from a checkpoint (``saved`` is its own config, ``config`` that
    config overridden; ``asked``: the overrides name ``position_embedding``), settled
    against its position table. ``ConfigError`` when the config says sinusoidal positions
    by override and the table is learned: the model
    would hold the learned table in the fixed one's place and say it is sinusoidal (and
    save it so). A checkpoint that says sinusoidal itself but holds another table (it was
    trained since, in transformers, which keeps lexforge's entry in config.json) loads as
    learned positions, with a warning: that is the table its encoder was trained with.
    A table that is the sinusoidal one passes; so does the other way round: learned
    positions start from a sinusoidal checkpoint's table."""
    if config.position_embedding != "sinusoidal":
        return config
    from .bert import sinusoidal_positions

    name = "embeddings.position_embeddings.weight"
    table = {k.removeprefix("bert."): v for k, v in state.items()}.get(name)
    if table is None or not table.is_floating_point() or table.dim() != 2:
        return config  # load_hf_state names what is wrong with it
    # within 1e-2: the table rounded to bfloat16, or computed in float32; learned ones are not
    if torch.allclose(table.float(), sinusoidal_positions(*table.shape), rtol=0.0, atol=1e-2):
        return config
    if saved.position_embedding == "sinusoidal" and not asked:
        warnings.warn(
            f"{source}: config.json says sinusoidal positions, but {name} is not the "
            "sin/cos table (it was trained since it was written, e.g. by transformers): "
            "loaded as learned positions, the table as it is",
            stacklevel=3,
        )
        return config.replace(position_embedding="learned")
    raise ConfigError(
        f"position_embedding='sinusoidal' asks for the fixed sin/cos table, but the positions "
        f"of {source} are learned ({name} is not that table): its encoder was trained with "
        "them. Drop the override to load them as they are (to keep them fixed while "
        "training: model.embeddings.position.weight.requires_grad_(False))"
    )


def _warn_if_untied(
    model: nn.Module, state: dict[str, torch.Tensor], source: str, by_override: bool = False
) -> None:
    """A model whose MLM decoder is tied to the word embeddings ignores the checkpoint's
    decoder matrix: say so when that matrix is not the word embeddings."""
    ours = model.state_dict()
    decoder = state.get("cls.predictions.decoder.weight")
    if decoder is None or "mlm.bias" not in ours or "mlm.decoder" in ours:
        return
    words = next((v for k, v in ours.items() if k.endswith("embeddings.word.weight")), None)
    if words is not None and (decoder.shape != words.shape or not torch.equal(decoder, words)):
        if by_override:
            warnings.warn(
                f"{source}: cls.predictions.decoder.weight differs from the word embeddings "
                "(config.json unties them), but tie_word_embeddings=True ties them, so the "
                "decoder used is the word embeddings; drop the override to use the stored "
                "matrix",
                stacklevel=4,
            )
            return
        warnings.warn(
            f"{source}: cls.predictions.decoder.weight differs from the word embeddings, "
            "but config.json ties them (tie_word_embeddings, default true), so the decoder "
            "used is the word embeddings, as transformers 4 loads it (transformers 5 keeps "
            'the stored matrix); set "tie_word_embeddings": false in config.json to use it',
            stacklevel=4,
        )


_ENCODER_PARTS = ("embeddings.", "encoder.")  # HF names of the encoder (bar the pooler)
_ENCODER_PARTS_NAMES = ("embeddings", "encoder")
_LAYER = re.compile(r"(?:bert\.)?encoder\.layer\.(\d+)\.")


def _stray_encoder(source: str, stray: list[str], config: BertConfig) -> str:
    """The message for encoder weights the model has no place for: the encoder would run
    without them, so they are never dropped with a mere warning."""
    found = (
        f"{source} holds {len(stray)} encoder weights the model has no place for (e.g. {stray[0]})"
    )
    layers = [int(m.group(1)) for k in stray if (m := _LAYER.match(k))]
    if layers and max(layers) >= config.num_layers:
        return (
            f"{found}: the weights have {max(layers) + 1} layers, config.json's "
            f"num_hidden_layers (num_layers) says {config.num_layers}; set num_hidden_layers "
            f"to {max(layers) + 1}"
        )
    if any(".final_layer_norm." in k for k in stray):
        return (
            f"{found}: they are a pre-LayerNorm encoder's, config.json describes a post-LN one; "
            f'set "model_type": "lexforge_bert" and "lexforge": {{"pre_layernorm": true}}'
        )
    return f"{found}: config.json does not describe these weights (not a BERT of this layout)"
