"""What every model class shares (``Pretrained``): HF-format checkpoints, saved with
:func:`lexforge.model.hf.save_pretrained` and loaded here (weights, config overrides, the
checks that a checkpoint fits the class, and the tokenizer beside it), and the contextual
representations of :mod:`lexforge.model.represent` as methods.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from typing_extensions import Self

from .._json import loads_json
from ..errors import CheckpointError, ConfigError
from ..ops.attention_checks import HEAD_DIMS
from .config import BertConfig


def _require_grad(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
    """A forward hook (module-level, so that a model holding it pickles)."""
    output.requires_grad_(True)


@dataclass(frozen=True)
class Checkpointing:
    """How an encoder recomputes its layers (``activation_checkpointing_enable``)."""

    options: dict[str, Any]  # for torch.utils.checkpoint.checkpoint
    every_n_layers: int = 1
    offload: bool = False


class Pretrained(nn.Module):
    """What every model class shares: HF-format checkpoints (``lexforge.model.hf``) and
    contextual representations (``lexforge.model.represent``). ``tokenizer`` is set by
    ``from_pretrained`` when the directory has one, ``loaded_from`` (which checkpoint, and
    which parts it lacked) always."""

    config: BertConfig
    tokenizer: Any = None
    tokenizer_unread: str | None = None  # why the folder's tokenizer file was not loaded
    loaded_from: Any = None  # a hf.LoadedFrom, set by from_pretrained

    def embed_words(self, texts: Any, **options: Any) -> Any:
        """One contextual vector per word of each text (a list of ``WordVectors``:
        ``words`` and float32 ``vectors`` (words, hidden)): the pieces of a word pooled
        (``pooling="mean"`` or ``"first"``). Words are the tokenizer's pre-tokenizer's: for
        WordPiece, split at whitespace and punctuation, each CJK character a word; for
        byte-level BPE, its pattern's pieces (``"don't"`` is ``don``, ``'t``). Options
        ``tokenizer``, ``pooling``, ``batch_size``, ``layers``: see
        :func:`lexforge.model.represent.embed_words`."""
        from .represent import embed_words

        return embed_words(self, texts, **options)

    def embed(self, texts: Any, **options: Any) -> Any:
        """One vector per text, a float32 NumPy array (n, hidden): ``pooling="mean"`` or
        ``"cls"``; ``normalize`` (both by default as the sentence-transformers checkpoint
        the model came from makes its vectors, else mean pooling, not normalized). Other
        options ``tokenizer``, ``batch_size``, ``layers``, ``max_length``: see
        :func:`lexforge.model.represent.embed`."""
        from .represent import embed

        return embed(self, texts, **options)

    def fill_mask(self, text: str, **options: Any) -> Any:
        """The ``top_k`` (default 5) tokens and probabilities for each ``[MASK]`` in
        ``text``, a list of ``(token, probability)`` lists, one per mask (``tokenizer``:
        see :func:`lexforge.model.represent.fill_mask`). A model
        loaded from a task-head checkpoint (a classifier, tagger or QA model: no MLM head
        weights) raises ``CheckpointError``; one loaded from an encoder-only checkpoint
        (``BertModel``, e.g. all-MiniLM-L6-v2) predicts with its freshly initialised head,
        with a warning."""
        from .represent import fill_mask

        return fill_mask(self, text, **options)

    def get_input_embeddings(self) -> nn.Embedding:
        """The word embedding table (transformers' name): ``get_input_embeddings()(ids)``
        gives the vectors a forward pass takes as ``inputs_embeds``."""
        encoder: Any = self if hasattr(self, "embeddings") else self.bert
        word: nn.Embedding = encoder.embeddings.word
        return word

    def activation_checkpointing_enable(
        self,
        activation_checkpointing_kwargs: dict[str, Any] | None = None,
        every_n_layers: int = 1,
        offload: bool = False,
    ) -> None:
        """Activation checkpointing, as transformers 5 names it (``transformers.Trainer``'s
        ``activation_checkpointing=True`` / ``gradient_checkpointing=True`` call this):
        while training, the activations inside every ``every_n_layers``-th encoder layer
        are recomputed in the backward pass instead of kept, which trades some compute (a
        forward pass of the layers again) for memory that no longer grows with the depth.
        The gradients are the same, bit for bit (dropout draws the same masks again: the
        RNG state is kept).
        ``offload`` keeps what the recomputation starts from in host memory (pinned) on a
        GPU. ``activation_checkpointing_kwargs`` go to ``torch.utils.checkpoint``
        (``use_reentrant`` defaults to False, the form torch recommends; with True, whose
        gradients can differ in the last bits, the word embeddings' output is made to
        require gradients (:meth:`enable_input_require_grads`), without which frozen
        embeddings, as under LoRA, would leave every checkpointed layer without any)."""
        options = dict(activation_checkpointing_kwargs or {})
        unknown = set(options) - {"use_reentrant", "preserve_rng_state", "determinism_check"}
        if unknown:
            raise ConfigError(
                f"activation checkpointing: {', '.join(sorted(unknown))} is not an option of "
                "torch.utils.checkpoint that applies here (use_reentrant, "
                "preserve_rng_state, determinism_check)"
            )
        if isinstance(every_n_layers, bool) or not isinstance(every_n_layers, int):
            raise ConfigError(f"every_n_layers must be a positive integer, got {every_n_layers!r}")
        if every_n_layers < 1:
            raise ConfigError(f"every_n_layers must be a positive integer, got {every_n_layers}")
        if not isinstance(offload, bool):
            raise ConfigError(f"offload must be True or False, got {offload!r}")
        options.setdefault("use_reentrant", False)
        if options["use_reentrant"]:
            self.enable_input_require_grads()
        self._encoder().checkpointing = Checkpointing(options, every_n_layers, offload)

    def enable_input_require_grads(self) -> None:
        """Makes the word embeddings' output require gradients even when they are frozen
        (transformers' method, which peft calls): what reentrant checkpointing needs for
        the layers' gradients to flow."""
        embeddings = self.get_input_embeddings()
        if not any(h is _require_grad for h in embeddings._forward_hooks.values()):
            embeddings.register_forward_hook(_require_grad)

    def disable_input_require_grads(self) -> None:
        embeddings = self.get_input_embeddings()
        for key, hook in list(embeddings._forward_hooks.items()):
            if hook is _require_grad:
                del embeddings._forward_hooks[key]

    def gradient_checkpointing_enable(
        self,
        gradient_checkpointing_kwargs: dict[str, Any] | None = None,
        every_n_layers: int = 1,
        offload: bool = False,
    ) -> None:
        """transformers' older name of :meth:`activation_checkpointing_enable`."""
        self.activation_checkpointing_enable(gradient_checkpointing_kwargs, every_n_layers, offload)

    def activation_checkpointing_disable(self) -> None:
        self._encoder().checkpointing = None

    gradient_checkpointing_disable = activation_checkpointing_disable

    @property
    def is_gradient_checkpointing(self) -> bool:
        return self._encoder().checkpointing is not None

    def _encoder(self) -> Any:
        return self if hasattr(self, "embeddings") else self.bert

    def resize_token_embeddings(
        self,
        new_num_tokens: int | None = None,
        pad_to_multiple_of: int | None = None,
        *,
        mean_resizing: bool = True,
    ) -> Any:
        """Resizes the vocabulary to ``new_num_tokens`` ids after tokens were added to the
        tokenizer (``model.resize_token_embeddings(len(tok))``), as transformers does: old
        rows kept, new ones at the old rows' mean (``mean_resizing``) or drawn as at
        initialisation; the MLM head follows; ``pad_to_multiple_of`` rounds the size up
        (None for ``new_num_tokens``: the size now, rounded). Returns the word embedding
        module. See :mod:`lexforge.model.resize`."""
        from .resize import resize_token_embeddings

        return resize_token_embeddings(
            self, new_num_tokens, pad_to_multiple_of, mean_resizing=mean_resizing
        )

    def save_pretrained(self, directory: str | os.PathLike[str], tokenizer: Any = None) -> Path:
        """Writes an HF-format directory (``config.json``, ``model.safetensors``, and the
        tokenizer files: WordPiece or byte-level BPE, see
        :func:`lexforge.model.hf.save_pretrained`) that ``transformers`` loads offline.
        The tokenizer is ``tokenizer``, else the model's own (``self.tokenizer``: the one
        ``from_pretrained`` read, or fine-tuning used), so a loaded model saves whole; one
        that no longer fits the model (its embeddings resized since) is left out with a
        warning, and ``tokenizer=False`` leaves it out. Saving over a checkpoint is atomic
        as a whole: a reader sees the old checkpoint or the new one, never new weights
        beside the old ``config.json``."""
        from .hf import _check_tokenizer, save_pretrained

        if tokenizer is False:
            tokenizer = None
        elif tokenizer is None and self.tokenizer is not None:
            try:
                _check_tokenizer(self.tokenizer, self.config)
                tokenizer = self.tokenizer
            except ConfigError as e:
                warnings.warn(
                    f"the model's tokenizer is not saved with it: {e}; pass the tokenizer "
                    "that fits it (save_pretrained(directory, tokenizer=...))",
                    stacklevel=2,
                )
        return save_pretrained(self, directory, type(self).__name__, tokenizer)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike[str], **overrides: Any) -> Self:
        """Loads an HF-format BERT directory (ours, or any transformers BERT checkpoint in
        safetensors). Weights the checkpoint lacks (the MLM head of an encoder-only
        checkpoint such as all-MiniLM-L6-v2) stay freshly initialised, with a warning;
        weights of a head the class lacks are ignored, with a warning (the MLM head of a
        pretraining checkpoint loaded as a task model; a classifier's head loaded as a
        ``BertForMaskedLM`` or ``BertModel``), while a task model loading another task's
        head (a sequence classifier loaded as a ``BertForQuestionAnswering``) raises
        ``CheckpointError`` naming the class to load it with (``finetune(new_head=True)``
        keeps its encoder); encoder weights that the config
        has no place for (more layers than ``num_hidden_layers``) raise ``CheckpointError``.
        ``overrides`` replace config fields (e.g. ``hidden_dropout=0.0``);
        ``position_embedding="sinusoidal"`` on learned positions raises ``ConfigError``
        (``"learned"`` on sinusoidal ones starts from their table). The model comes
        in evaluation mode (dropout off), as transformers returns it; ``.train()`` to train
        it (``finetune`` does).

        ``dtype``: the parameters' dtype. None (the default) gives float32 whatever the
        checkpoint stores (a float16 or bfloat16 file is widened exactly: the dtype to
        train in); ``"auto"`` keeps the checkpoint's own as transformers 5 picks it (its
        default: ``config.json``'s ``dtype``, else the weights' one dtype; float32 where they
        mix or are float8), and a floating ``torch.dtype`` (or its name, ``"bfloat16"``)
        converts to it.
        ``torch_dtype`` is read as ``dtype``, as transformers 4 names it.

        Of transformers' loading options, ``attn_implementation`` picks the attention
        (``"sdpa"`` and ``"eager"``: torch's SDPA, the same sums as transformers' eager
        path; ``"flash_attention_2"``: lexforge's fused Triton kernels, CUDA only; None:
        the kernels on CUDA, SDPA elsewhere) and ``local_files_only`` is taken (lexforge
        reads local folders only), as are ``low_cpu_mem_usage`` and ``use_safetensors``
        (lexforge reads safetensors alone), and ``device_map`` moves the model to one
        device (``"auto"``: the GPU if there is one). Hub options (``revision``, ``token``,
        ``cache_dir``...) raise ``ConfigError``: no hub is ever asked; so do transformers'
        other loading options (``ignore_mismatched_sizes``, ``quantization_config``...)."""
        from .heads import TASK_HEADS
        from .hf import (
            LoadedFrom,
            architecture,
            check_positions,
            check_sizes,
            checkpoint_kind,
            load_hf_state,
            read_checkpoint,
        )
        from .hf_read import fresh_digest
        from .hf_state import tied_from_decoder

        dtype = _dtype_option(overrides)
        device = _device_option(overrides)
        backend = _loading_options(overrides)
        config, state, source = read_checkpoint(directory)
        folder = source.parent  # a dataset's name (all-MiniLM-L6-v2) is read from its folder
        broken = [k for k, t in state.items() if t.is_floating_point() and not _finite(t)]
        if broken:
            warnings.warn(
                f"{source} holds NaN or infinite values in {len(broken)} tensor(s) (first: "
                f"{broken[0]}): the run that wrote it diverged, or the file is damaged; what "
                "the model computes from them is NaN",
                stacklevel=2,
            )
        # config.json's architectures, else what the head weights show
        named = architecture(folder)
        saved = checkpoint_kind(state, named)
        if (saved, cls.__name__) == ("BertForSequenceClassification",
                                     "BertForTokenClassification") and saved != named:  # fmt: skip
            # both heads are one classifier matrix; without a name, a pooler beside it was
            # the sign of a sequence classifier, but older transformers saved one with
            # taggers too: the tagger asked for loads, the pooler ignored (a classifier
            # with no pooler is still a tagger, never a sequence classifier)
            saved = cls.__name__
        if saved in TASK_HEADS and cls.__name__ in TASK_HEADS and saved != cls.__name__:
            raise CheckpointError(
                f"{directory} holds a {saved}; its head does not fit a {cls.__name__} "
                f"(load it with {saved}, or BertModel for the encoder alone)"
            )
        if saved == "BertForMultipleChoice" and cls.__name__ in TASK_HEADS:
            # its classifier scores each choice (one output): no head of ours reads it
            raise CheckpointError(
                f"{directory} holds a BertForMultipleChoice, a head lexforge does not have; "
                f"load its encoder with BertModel, or fine-tune a {cls.__name__} on it with "
                "new_head=True (lexforge finetune --new-head)"
            )
        state = tied_from_decoder(state, config.tie_word_embeddings)
        saved_config = config
        if overrides:
            config = config.replace(**overrides)
        asked = "position_embedding" in overrides
        config = check_positions(saved_config, config, state, str(source), asked)
        try:
            check_sizes(config, state, str(source))  # before the model is built at its sizes
            model = cls(config)
            tied_by_override = (
                overrides.get("tie_word_embeddings") is True
                and not saved_config.tie_word_embeddings
            )
            missing = load_hf_state(model, state, str(source), tied_by_override=tied_by_override)
        except CheckpointError as e:
            if not overrides:
                raise
            given = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
            raise CheckpointError(f"{e} (the config as changed by the overrides {given})") from None
        model.tokenizer, model.tokenizer_unread = _tokenizer(folder)
        fresh = tuple(sorted({m.removeprefix("bert.").split(".")[0] for m in missing}))
        model.loaded_from = LoadedFrom(str(directory), saved, fresh, folder=str(folder))
        if missing:
            warnings.warn(
                f"{source} has no weights for {', '.join(fresh)} ({len(missing)} tensors): "
                "they are freshly initialised and need training",
                stacklevel=2,
            )
        if dtype == "auto":
            dtype = _auto_dtype(folder, state)
        if dtype is not None and dtype != torch.float32:
            model.to(dtype)
        if device is not None:
            model.to(device)
        if missing:  # (as it is handed over: after the dtype and device moves)
            drawn = (tuple(missing), fresh_digest(model, missing))
            model.loaded_from = dataclasses.replace(model.loaded_from, drawn=drawn)
        if backend == "triton" and config.head_dim not in HEAD_DIMS:
            raise ConfigError(
                f"attn_implementation='flash_attention_2' runs lexforge's fused kernels, "
                f"which take head dims {', '.join(map(str, HEAD_DIMS))}; this model's is "
                f"{config.head_dim}: leave it out (SDPA)"
            )
        if backend is not None:
            encoder: Any = model if hasattr(model, "embeddings") else model.bert
            encoder.attention_backend = backend
        return model.eval()  # as transformers returns it: call .train() to train it


def _finite(t: torch.Tensor) -> bool:
    """Whether ``t`` holds no NaN or infinity. A float8 tensor is widened first: torch
    2.4 to 2.6 (at least) have no ``isfinite`` for float8 ("not implemented for
    'Float8_e4m3fn'")."""
    if t.element_size() == 1:
        t = t.to(torch.float32)
    return bool(t.isfinite().all())


_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
           "float64": torch.float64}  # fmt: skip


def _auto_dtype(folder: Path, state: dict[str, torch.Tensor]) -> torch.dtype | None:
    """``dtype="auto"``'s dtype, as transformers 5 picks it: ``config.json``'s ``dtype``
    (or ``torch_dtype``, its older name), else the one floating dtype the weights are
    stored in; None (float32) where the weights mix dtypes and the config names none, and
    for a dtype no model computes in (float8: the weights are widened, as transformers
    does)."""
    try:
        doc = loads_json((folder / "config.json").read_text(encoding="utf-8"))
        named = doc.get("dtype") or doc.get("torch_dtype")
    except (OSError, ValueError, AttributeError):
        named = None  # (read_checkpoint has read it: a name it holds is all this wants)
    found: Any = _DTYPES.get(named.removeprefix("torch.")) if isinstance(named, str) else None
    if found is None:
        stored = {t.dtype for t in state.values() if t.is_floating_point()}
        found = stored.pop() if len(stored) == 1 else None
    return found if found is not None and found.itemsize >= 2 else None


# transformers' attn_implementation -> the encoder's attention_backend
_ATTENTION = {"sdpa": "sdpa", "eager": "sdpa", "flash_attention_2": "triton"}
_HUB_OPTIONS = ("revision", "token", "use_auth_token", "cache_dir", "force_download",
                "proxies", "subfolder", "trust_remote_code", "resume_download")  # fmt: skip


# transformers' loading options with no lexforge meaning: refused by name (rather than read
# as a config field the config lacks)
_OTHER_LOADING = ("ignore_mismatched_sizes", "output_loading_info", "quantization_config",
                  "max_memory", "offload_folder", "offload_state_dict", "variant", "from_tf",
                  "from_flax", "state_dict", "key_mapping", "weights_only", "tp_plan",
                  "gguf_file", "adapter_name", "adapter_kwargs")  # fmt: skip


def _device_option(overrides: dict[str, Any]) -> torch.device | None:
    """transformers' ``device_map`` as far as one device goes: a device (``"cpu"``,
    ``"cuda:0"``, a ``torch.device`` or an index) moves the loaded model there; ``"auto"``
    is the GPU when there is one, else the CPU; ``{"": device}`` is that device. A map of
    modules to devices (model parallelism through accelerate) is refused."""
    if "device_map" not in overrides:
        return None
    where = overrides.pop("device_map")
    if where is None:
        return None
    if where == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(where, dict) and list(where) == [""]:  # the whole model on one device
        where = where[""]
    if isinstance(where, str | torch.device) and torch.device(where).type == "meta":
        raise ConfigError(
            "device_map='meta' would load the weights and then drop them (a meta tensor holds "
            "no values): build the model on the meta device instead (with "
            "torch.device('meta'): BertModel(config)), or load onto a real device"
        )
    try:
        if isinstance(where, bool) or not isinstance(where, str | int | torch.device):
            raise TypeError
        return torch.device(where)
    except (TypeError, RuntimeError):
        raise ConfigError(
            f'device_map={where!r}: lexforge loads a model onto one device ("cpu", '
            '"cuda", "cuda:1", "auto"); a map of modules to devices is not taken: '
            "load it, then move it with model.to(device)"
        ) from None


def _loading_options(overrides: dict[str, Any]) -> str | None:
    """transformers' loading options taken out of ``overrides``: the attention backend
    ``attn_implementation`` asks for (None: automatic); ``local_files_only`` (always so
    here); ``ConfigError`` for a hub option, which has nothing to act on."""
    hub = [name for name in _HUB_OPTIONS if name in overrides]
    if hub:
        raise ConfigError(
            f"from_pretrained reads a local folder (or a lexforge dataset's model, by name) "
            f"and never asks a model hub: {', '.join(hub)}= has no meaning here; download "
            "the checkpoint with transformers or huggingface_hub first and pass its folder"
        )
    other = [name for name in _OTHER_LOADING if name in overrides]
    if other:
        raise ConfigError(
            f"{', '.join(other)}= is a transformers loading option that lexforge's "
            "from_pretrained does not take (it reads a folder's safetensors weights into the "
            "class asked for: a head of another size is refused, or made afresh by "
            "finetune(..., new_head=True)); leave it out"
        )
    overrides.pop("local_files_only", None)
    overrides.pop("low_cpu_mem_usage", None)  # (the weights are read once either way)
    if overrides.pop("use_safetensors", None) is False:
        raise ConfigError(
            "use_safetensors=False: lexforge reads safetensors weights only (never pickle); "
            "leave it out"
        )
    implementation = overrides.pop("attn_implementation", None)
    if implementation is None:
        return None
    if implementation not in _ATTENTION:
        raise ConfigError(
            f"attn_implementation must be None, {', '.join(map(repr, _ATTENTION))}, got "
            f"{implementation!r}"
        )
    backend = _ATTENTION[implementation]
    interpreted = os.environ.get("TRITON_INTERPRET") == "1"  # (how the tests run them)
    if backend == "triton" and not torch.cuda.is_available() and not interpreted:
        raise ConfigError(
            f"attn_implementation={implementation!r} runs lexforge's fused kernels, which "
            "need a CUDA GPU and none is available: leave it out (SDPA on the CPU)"
        )
    return backend


def _dtype_option(overrides: dict[str, Any]) -> Any:
    """``dtype=`` (or transformers 4's ``torch_dtype=``), taken out of ``overrides``:
    None, ``"auto"`` or a floating ``torch.dtype``; ``ConfigError`` for anything else."""
    if "dtype" in overrides and "torch_dtype" in overrides:
        raise ConfigError("pass dtype= or torch_dtype= (its older name), not both")
    value = overrides.pop("dtype", overrides.pop("torch_dtype", None))
    if value is None or value == "auto":
        return value
    if isinstance(value, str):
        value = _DTYPES.get(value.removeprefix("torch."), value)
    if not isinstance(value, torch.dtype) or not value.is_floating_point or value.itemsize < 2:
        raise ConfigError(
            f"dtype must be None (float32), 'auto' (the checkpoint's own) or a floating dtype "
            f"(torch.float32, torch.bfloat16, torch.float16, or their names), got {value!r}"
        )
    return value


def _tokenizer(directory: Path) -> tuple[Any, str | None]:
    """The tokenizer of a checkpoint directory, for embed_words, embed and fill_mask:
    ``tokenizer.json``, else ``vocab.txt`` (HF's classic BERT folder), else ``vocab.json``
    with ``merges.txt`` (GPT-2's), else None. One that lexforge cannot read (a
    SentencePiece/Unigram tokenizer.json, say) is skipped with a warning, and so are the
    others: a ``vocab.txt`` beside a refused ``tokenizer.json`` lacks what made it
    refused. The weights load without it. With it, why a file was not loaded (for the
    error that follows when the model is asked to read text)."""
    from ..errors import LexforgeError
    from ..tokenizer import Tokenizer

    for name in ("tokenizer.json", "vocab.txt", "vocab.json"):
        path = directory / name
        if not path.is_file():
            continue
        try:
            tokenizer = Tokenizer.from_file(path)
            if name == "tokenizer.json":
                _check_tokenizer_config(directory, tokenizer)
            return tokenizer, None
        except LexforgeError as e:
            warnings.warn(
                f"{path} was not loaded ({e}); the model loads without a tokenizer. Pass "
                "one to embed, embed_words and fill_mask, or set model.tokenizer",
                stacklevel=3,
            )
            return None, f"{path} could not be read ({e})"
    return None, None


def _check_tokenizer_config(directory: Path, tokenizer: Any) -> None:
    """Warns when ``tokenizer_config.json`` sets ``BertTokenizer``'s options otherwise than
    ``tokenizer.json``'s normalizer: transformers' ``AutoTokenizer`` rebuilds the
    normalizer from those options, lexforge runs ``tokenizer.json`` as it is, so the two
    would give other ids (a cased config beside an uncased ``tokenizer.json``, say)."""
    normalizer = getattr(getattr(tokenizer, "_core", None), "normalizer", None)
    path = directory / "tokenizer_config.json"
    if not isinstance(normalizer, tuple) or not path.is_file():
        return
    try:
        config = loads_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # (read for its special tokens elsewhere, which names a broken file)
    if not isinstance(config, dict) or not str(config.get("tokenizer_class")).startswith(
        "BertTokenizer"
    ):
        return
    _, chinese, strip, lower = (bool(x) for x in normalizer)
    said = {k: config[k] for k in ("do_lower_case", "strip_accents", "tokenize_chinese_chars")
            if isinstance(config.get(k), bool)}  # fmt: skip
    if "strip_accents" not in said and "do_lower_case" in said:  # (None follows lowercasing)
        said["strip_accents"] = said["do_lower_case"]
    has = {"do_lower_case": lower, "strip_accents": strip, "tokenize_chinese_chars": chinese}
    differ = [f"{k}={said[k]}" for k in has if k in said and said[k] != has[k]]
    if differ:
        warnings.warn(
            f"{path} sets {', '.join(differ)}, but {directory / 'tokenizer.json'}'s normalizer "
            f"does otherwise ({', '.join(f'{k}={has[k]}' for k in has)}); lexforge runs "
            "tokenizer.json as it is, transformers' AutoTokenizer follows the config, so "
            "the two give other ids: make the files agree",
            stacklevel=4,
        )
