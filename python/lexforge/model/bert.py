"""The BERT encoder, as plainly as it can be written: embeddings, a stack of attention +
feed-forward layers, a pooler, and the pretraining heads.

Attention goes through ``lexforge.ops``: the fused Triton kernels on CUDA, SDPA on the
CPU. On CUDA a padded batch is unpadded once (``unpad``), runs through every layer as
packed tokens with ``attention_varlen``, and is padded again at the end, so padding costs
nothing anywhere in the stack. Parameter names are our own; ``lexforge.model.hf`` maps
them to and from the names of HF transformers' BERT.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, overload

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812 (torch's own spelling)
from torch.utils.checkpoint import checkpoint

from ..errors import ConfigError
from ..ops import attention_varlen, layer_norm, linear, pad, unpad
from ..ops.attention import encoder_attention
from ..ops.dropout import Dropout
from ..ops.reproducible import capturing, jit_tracing
from . import chunked_loss
from .config import BertConfig
from .inputs import check_inputs, check_pooled_rows, class_ids
from .outputs import (
    EncoderOutput,
    EncoderOutputs,
    EncoderOutputWithAttentions,
    EncoderOutputWithStates,
    EncoderOutputWithStatesAndAttentions,
    ModelOutput,
    check_return_dict,
    model_output,
)
from .pretrained import Checkpointing, Pretrained

__all__ = [
    "BatchLayout",
    "BertForMaskedLM",
    "BertForPreTraining",
    "BertModel",
    "EncoderOutput",
    "EncoderOutputWithStates",
    "MaskedLMOutput",
    "PreTrainingOutput",
    "sinusoidal_positions",
]

Attend = Callable[[Tensor, Tensor, Tensor, float], Tensor]  # (q, k, v, dropout_p) -> out


@dataclass(frozen=True)
class BatchLayout:
    """What the host already knows about a batch, so that a forward pass on the GPU never
    waits for the device: ``real_tokens`` (how many attention-mask entries are 1),
    ``longest`` (the most in one row) and, optionally, ``label_positions``, the flat
    indices (into the B·N positions, on the model's device) of the tokens with an MLM
    label, in order. All three must be exact; the training loop computes them from the
    batch before copying it to the device. ``padded_labels``: ``label_positions`` may end
    in entries equal to B·N (no position), which keep its length fixed from batch to
    batch (static shapes, for CUDA graphs); they score nothing. ``loss_only``: the caller
    reads the MLM loss, ``correct`` and ``count`` alone, so while gradients are recorded
    on the CPU the head may score the labelled positions in chunks, computing its
    gradients as it goes (``model.chunked_loss``), and return no logits (None). That
    loss is differentiable once (a second derivative raises), and the head module is
    then not called: one with hooks, or a subclass's forward, is scored whole."""

    real_tokens: int
    longest: int
    label_positions: Tensor | None = None
    padded_labels: bool = False
    loss_only: bool = False


def sinusoidal_positions(n: int, dim: int) -> Tensor:
    """The fixed table of "Attention Is All You Need": sin on even, cos on odd features,
    wavelengths from 2π to 10000·2π. Shape (n, dim), float32."""
    position = torch.arange(n, dtype=torch.float64)[:, None]
    rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    table = torch.zeros(n, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)[:, : dim // 2]
    return table.float()


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` (same parameters, same state-dict keys) through
    ``ops.layer_norm``: on the CPU its gradients are the same bits at any thread count, so
    a training run is too."""

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, same state-dict keys) through ``ops.linear``: on the
    CPU a small product (a classifier's batch of pooled vectors) is the same bits at any
    thread count."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)


class Embeddings(nn.Module):
    """Token + position + segment embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
        self.token_type = nn.Embedding(config.type_vocab_size, config.hidden_size)
        n, dim = config.max_position_embeddings, config.hidden_size
        if config.position_embedding == "learned":
            self.position = nn.Embedding(n, dim)
        else:  # fixed: a buffer, saved with the weights so HF can read it as learned ones
            self.register_buffer("position_table", sinusoidal_positions(n, dim))
        self.norm = LayerNorm(dim, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout)

    def positions(self) -> Tensor:
        table = self.position.weight if hasattr(self, "position") else self.position_table
        assert isinstance(table, Tensor)
        return table

    def forward(
        self,
        input_ids: Tensor | None,
        token_type_ids: Tensor | None,
        position_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
    ) -> Tensor:
        """``inputs_embeds`` (B, N, hidden) stands for ``self.word(input_ids)``;
        ``position_ids`` (B, N) or (1, N) for positions 0 to N - 1 in every row."""
        table = self.positions()
        if inputs_embeds is None:
            assert input_ids is not None
            words = self.word(input_ids)
        elif inputs_embeds.dtype != self.word.weight.dtype and not torch.is_autocast_enabled(
            inputs_embeds.device.type
        ):  # (under autocast the sums below promote, as in transformers)
            raise ConfigError(
                f"inputs_embeds is {inputs_embeds.dtype}, the model "
                f"{self.word.weight.dtype}: convert them (.to(model.dtype))"
            )
        else:
            words = inputs_embeds
        if position_ids is None:
            n = words.shape[1]
            if n > table.shape[0]:
                raise ConfigError(
                    f"sequence length {n} exceeds max_position_embeddings {table.shape[0]}: "
                    f"truncate the rows to {table.shape[0]} tokens "
                    f"(max_length={table.shape[0]} when encoding)"
                )
            x = words + table[:n]
        else:
            x = words + F.embedding(position_ids, table)
        if token_type_ids is None:
            x = x + self.token_type.weight[0]
        else:
            x = x + self.token_type(token_type_ids)
        return self.dropout(self.norm(x))  # type: ignore[no-any-return]


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused QKV projection."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.heads, self.dropout_p = config.num_heads, config.attention_dropout
        self.qkv = Linear(config.hidden_size, 3 * config.hidden_size)
        self.out = Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: Tensor, attend: Attend) -> Tensor:
        # x: (B, N, hidden) padded or (tokens, hidden) packed; q, k, v: (..., heads, head_dim)
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).unbind(-3)
        out = attend(q, k, v, self.dropout_p if self.training else 0.0)
        return self.out(out.flatten(-2))  # type: ignore[no-any-return]


def _quick_gelu(x: Tensor) -> Tensor:  # a module-level function: a model pickles whole
    return x * torch.sigmoid(1.702 * x)


def activation(name: str) -> Callable[[Tensor], Tensor]:
    """The function transformers computes for ``hidden_act`` ``name`` (see
    ``config.ACTIVATIONS``)."""
    if name in ("gelu", "gelu_python"):
        return F.gelu
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):  # one formula, three names
        return functools.partial(F.gelu, approximate="tanh")
    if name == "quick_gelu":
        return _quick_gelu
    return {"relu": F.relu, "silu": F.silu, "swish": F.silu}[name]


class FeedForward(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.up = Linear(config.hidden_size, config.intermediate_size)
        self.down = Linear(config.intermediate_size, config.hidden_size)
        self.act = activation(config.hidden_act)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(self.act(self.up(x)))  # type: ignore[no-any-return]


class Layer(nn.Module):
    """Attention then feed-forward, each with a residual connection, dropout and
    LayerNorm: after the sum (post-LN, BERT) or before the sublayer (pre-LN)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = SelfAttention(config)
        self.attention_norm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn = FeedForward(config)
        self.ffn_norm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout)
        self.pre_layernorm = config.pre_layernorm

    def forward(self, x: Tensor, attend: Attend) -> Tensor:
        if self.pre_layernorm:
            x = x + self.dropout(self.attention(self.attention_norm(x), attend))
            return x + self.dropout(self.ffn(self.ffn_norm(x)))  # type: ignore[no-any-return]
        x = self.attention_norm(x + self.dropout(self.attention(x, attend)))
        return self.ffn_norm(x + self.dropout(self.ffn(x)))  # type: ignore[no-any-return]


class BertModel(Pretrained):
    """The encoder: ``forward(input_ids, attention_mask, token_type_ids)`` returns the
    hidden states (B, N, hidden) and the pooled [CLS] vector (B, hidden) (None without a
    pooler), a named tuple (``EncoderOutput``: ``hidden, pooled = model(...)``, or
    ``.last_hidden_state`` and ``.pooler_output`` as in transformers).
    ``input_ids`` and ``token_type_ids`` (B, N) are int64 or int32;
    ``attention_mask`` (B, N) is 1/True at real tokens; hidden states at padding are 0.
    The pooler reads position 0, so rows start with [CLS] (pad on the right: with left
    padding it pools a zero state, where HF pools whatever it computed there; the
    sequence classifier, and the pretraining model given next-sentence labels, refuse such
    a batch on the CPU).
    Bad inputs raise ``ConfigError`` (``TokenIdError`` for an id outside the vocabulary);
    id ranges are checked only on the CPU and outside ``torch.compile``
    (``lexforge.model.inputs`` says why).

    ``output_hidden_states=True`` adds a third item, as transformers' ``hidden_states``:
    a tuple of num_layers + 1 tensors (B, N, hidden), the embeddings' output and then each
    layer's (the last is the hidden states returned; with pre-LN it has the final
    LayerNorm), 0 at padding. The feature-based uses of BERT read them (Devlin et al.'s
    NER features: the last four layers); ``embed(layers=...)`` pools them.

    Keyword-only, as transformers takes them: ``inputs_embeds`` (B, N, hidden), the word
    vectors in place of ``input_ids`` (``get_input_embeddings()(input_ids)``, perturbed
    for adversarial training or attributions), and ``position_ids`` (B, N) or (1, N), the
    positions to embed (default 0 to N - 1 in every row). ``output_attentions=True``
    appends each layer's attention weights, (B, heads, N, N), as transformers' eager
    attention returns them (attention is then written out on the padded batch, not
    fused: for inspection, not for speed)."""

    def __init__(self, config: BertConfig, *, add_pooler: bool = True) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.num_layers))
        self.final_norm = (
            LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            if config.pre_layernorm
            else None
        )
        self.pooler = Linear(config.hidden_size, config.hidden_size) if add_pooler else None
        self.attention_backend: str | None = None  # None: kernels on CUDA, SDPA elsewhere
        self.unpad: bool | None = None  # None: on CUDA with a mask
        # activation_checkpointing_enable(): layers' activations recomputed in the backward
        self.checkpointing: Checkpointing | None = None
        self.apply(lambda m: init_weights(m, config.initializer_range))

    @overload
    def forward(
        self,
        input_ids: Tensor | None = ...,
        attention_mask: Tensor | None = ...,
        token_type_ids: Tensor | None = ...,
        layout: BatchLayout | None = ...,
        output_hidden_states: Literal[False] = ...,
        *,
        output_attentions: Literal[False] = ...,
        position_ids: Tensor | None = ...,
        inputs_embeds: Tensor | None = ...,
        return_dict: bool | None = ...,
    ) -> EncoderOutput: ...

    @overload
    def forward(
        self,
        input_ids: Tensor | None = ...,
        attention_mask: Tensor | None = ...,
        token_type_ids: Tensor | None = ...,
        layout: BatchLayout | None = ...,
        *,
        output_hidden_states: Literal[True],
        output_attentions: Literal[False] = ...,
        position_ids: Tensor | None = ...,
        inputs_embeds: Tensor | None = ...,
        return_dict: bool | None = ...,
    ) -> EncoderOutputWithStates: ...

    @overload
    def forward(
        self,
        input_ids: Tensor | None = ...,
        attention_mask: Tensor | None = ...,
        token_type_ids: Tensor | None = ...,
        layout: BatchLayout | None = ...,
        output_hidden_states: bool = ...,
        *,
        output_attentions: bool,
        position_ids: Tensor | None = ...,
        inputs_embeds: Tensor | None = ...,
        return_dict: bool | None = ...,
    ) -> EncoderOutputs: ...

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        layout: BatchLayout | None = None,
        output_hidden_states: bool = False,
        *,
        output_attentions: bool = False,
        position_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        return_dict: bool | None = None,
    ) -> EncoderOutputs:
        check_return_dict(return_dict)  # (a named tuple is both: fields and positions)
        check_inputs(
            self.config, input_ids, attention_mask, token_type_ids,
            inputs_embeds=inputs_embeds, position_ids=position_ids,
        )  # fmt: skip
        x = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        mask = None if attention_mask is None else attention_mask.bool()
        backend = self.attention_backend
        unpadded = mask is not None and (self.unpad if self.unpad is not None else x.is_cuda)
        unpadded = unpadded and not output_attentions  # (weights are per padded row)
        # (a jit trace would keep the example's longest row and token count)
        unpadded = unpadded and not jit_tracing()
        weights: list[Tensor] = []
        if unpadded:
            assert mask is not None
            batch, n = mask.shape
            if layout is None:
                packed = unpad(x, mask)
            else:
                packed = unpad(x, mask, total=layout.real_tokens, max_seqlen=layout.longest)
            cu, longest = packed.cu_seqlens, packed.max_seqlen

            def attend(q: Tensor, k: Tensor, v: Tensor, p: float) -> Tensor:
                return attention_varlen(
                    q, k, v, cu, longest, dropout_p=p, backend=backend, check=False
                )

            x = packed.values
        elif output_attentions:

            def attend(q: Tensor, k: Tensor, v: Tensor, p: float) -> Tensor:
                out, w = attention_with_weights(q, k, v, mask, p)
                weights.append(w)
                return out

        else:

            def attend(q: Tensor, k: Tensor, v: Tensor, p: float) -> Tensor:
                return encoder_attention(q, k, v, mask, p, backend)

        states = [x] if output_hidden_states else []
        # (the attention weights asked for are kept by the forward: never recomputed)
        recompute = self.training and not output_attentions and torch.is_grad_enabled()
        plan = self.checkpointing if recompute else None
        for i, layer in enumerate(self.layers):
            if plan is None or i % plan.every_n_layers:
                x = layer(x, attend)
            else:  # recomputed: the same dropout, since the RNG state is kept
                x = _recomputed(layer, x, attend, plan)
            states += [x] if output_hidden_states else []
        if self.final_norm is not None:
            x = self.final_norm(x)
            states[-1:] = [x] if output_hidden_states else []

        if unpadded:
            indices = packed.indices
            states = [pad(t, indices, batch, n, check=False) for t in states[:-1]]
            x = pad(x, indices, batch, n, check=False)
        elif mask is not None:
            states = [t.masked_fill(~mask[:, :, None], 0.0) for t in states[:-1]]
            x = x.masked_fill(~mask[:, :, None], 0.0)
        else:
            states = states[:-1]
        pooled = torch.tanh(self.pooler(x[:, 0])) if self.pooler is not None else None
        if output_hidden_states and output_attentions:
            return EncoderOutputWithStatesAndAttentions(x, pooled, (*states, x), tuple(weights))
        if output_attentions:
            return EncoderOutputWithAttentions(x, pooled, tuple(weights))
        if output_hidden_states:
            return EncoderOutputWithStates(x, pooled, (*states, x))
        return EncoderOutput(x, pooled)


def _recomputed(layer: nn.Module, x: Tensor, attend: Attend, plan: Checkpointing) -> Tensor:
    """``layer(x, attend)`` whose activations are recomputed in the backward pass."""
    if plan.offload and x.is_cuda:
        with torch.autograd.graph.save_on_cpu(pin_memory=True):
            out: Tensor = checkpoint(layer, x, attend, **plan.options)
            return out
    out = checkpoint(layer, x, attend, **plan.options)
    return out


def layer_outputs(
    encoded: EncoderOutputs,
) -> tuple[tuple[Tensor, ...] | None, tuple[Tensor, ...] | None]:
    """Every layer's states and attention weights in an encoder's output, each None when
    not asked for."""
    return getattr(encoded, "hidden_states", None), getattr(encoded, "attentions", None)


def attention_with_weights(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout_p: float
) -> tuple[Tensor, Tensor]:
    """Attention written out, for its weights: q, k, v (B, N, heads, head_dim), ``mask``
    (B, N) True at real tokens. Returns the output (B, N, heads, head_dim) and the weights
    (B, heads, N, N) the output was computed with (after dropout, as transformers returns
    them), 0 in the rows of padding queries. The softmax of 16-bit scores is taken in
    float32; float32 and float64 keep their own precision. The fused paths never hold
    these (B, heads, N, N) scores."""
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
    wide = torch.float32 if scores.element_size() < 4 else scores.dtype
    w = torch.softmax(scores, dim=-1, dtype=wide).to(scores.dtype)
    if dropout_p > 0:
        w = F.dropout(w, dropout_p)
    out = torch.einsum("bhqk,bkhd->bqhd", w, v)
    if mask is not None:
        w = w.masked_fill(~mask[:, None, :, None], 0.0)
    return out, w


class LMHead(nn.Module):
    """Transform (dense, GELU, LayerNorm), then scores against the word embeddings (tied,
    BERT's way) or a decoder matrix of its own (``tie_word_embeddings=False``), plus a
    bias."""

    def __init__(self, config: BertConfig, embeddings: nn.Embedding) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.norm = LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.embeddings = [embeddings]  # a list: not registered twice as a submodule
        self.decoder = None
        if not config.tie_word_embeddings:
            weight = torch.empty(config.vocab_size, config.hidden_size)
            self.decoder = nn.Parameter(nn.init.normal_(weight, std=config.initializer_range))
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.act = activation(config.hidden_act)

    @property
    def weight(self) -> Tensor:
        """The projection onto the vocabulary: the word embeddings when tied."""
        weight: Tensor = self.embeddings[0].weight if self.decoder is None else self.decoder
        return weight

    def transform(self, h: Tensor) -> Tensor:
        """Dense, activation, LayerNorm: the hidden states the projection scores."""
        out: Tensor = self.norm(self.act(self.dense(h)))
        return out

    def forward(self, h: Tensor) -> Tensor:
        return linear(self.transform(h), self.weight, self.bias)


@model_output
@dataclass
class MaskedLMOutput(ModelOutput):
    """The MLM head's output: ``loss`` (with labels), ``logits`` (see
    :class:`BertForMaskedLM` for their shape), the last layer's ``hidden_states``,
    ``correct`` and ``count`` (labelled tokens predicted right, and labelled), and the
    ``attentions`` asked for."""

    loss: Tensor | None
    # (B, N, vocab), as transformers gives them; with labels while training, (picked,
    # vocab): the labelled positions' alone (``all_logits`` of forward says which); None
    # when a layout asked for the loss alone (``BatchLayout.loss_only``)
    logits: Tensor | None
    hidden_states: Tensor | tuple[Tensor, ...]  # the last layer's; every layer's if asked
    correct: Tensor | None = None  # how many labelled tokens are predicted right
    count: Tensor | None = None  # how many tokens are labelled
    attentions: tuple[Tensor, ...] | None = None  # output_attentions=True: each layer's


@model_output
@dataclass
class PreTrainingOutput(MaskedLMOutput):
    mlm_loss: Tensor | None = None
    nsp_loss: Tensor | None = None
    nsp_logits: Tensor | None = None

    @property
    def prediction_logits(self) -> Tensor | None:
        """transformers' name for ``logits``."""
        return self.logits

    @property
    def seq_relationship_logits(self) -> Tensor | None:
        """transformers' name for ``nsp_logits``."""
        return self.nsp_logits


def _upcast(x: Tensor) -> Tensor:
    """Losses in at least float32 (bf16/fp16 logits under autocast)."""
    return x.float() if x.element_size() < 4 else x


def check_padding_labels(attention_mask: Tensor | None, labels: Tensor) -> None:
    """On the CPU, ``ConfigError`` for a label (not -100) at a padding position
    (``attention_mask`` 0), as the QA head refuses an answer there: the hidden state at
    padding is 0, so the loss would score the head's bias (transformers scores whatever
    its encoder computed at padding, which means nothing either). ``labels`` is (B, N),
    as ``attention_mask``. Not checked on an accelerator or under ``torch.compile``, as
    the id ranges are not (``lexforge.model.inputs`` says why)."""
    if attention_mask is None or labels.device.type != "cpu":
        return
    if attention_mask.device.type != "cpu" or capturing():
        return
    scored = (labels != -100) & ~attention_mask.bool()
    if bool(scored.any()):
        row, column = (int(i) for i in scored.nonzero()[0])
        raise ConfigError(
            f"labels[{row}, {column}] is {int(labels[row, column])} at a padding position "
            "(attention_mask 0): padding has no hidden state to score; set the labels there "
            "to -100, which the loss ignores (labels.masked_fill(attention_mask == 0, -100))"
        )


def _mlm(
    head: LMHead,
    hidden: Tensor,
    labels: Tensor | None,
    layout: BatchLayout | None = None,
    every: bool = False,
) -> tuple[Any, ...]:
    """Scores only the labelled positions when there are labels (the vocabulary projection
    is most of the head's cost, and 85% of positions carry no label), unless ``every``
    position's logits are wanted. Their positions come from the layout when it has them
    (no device synchronisation), else from the labels."""
    if labels is None:
        return None, head(hidden), None, None
    if every:  # transformers' logits, (B, N, vocab); the loss over the labelled ones
        logits = head(hidden)
        picked = labels != -100
        targets, scored, count = labels[picked], logits[picked], picked.sum()
        loss = F.cross_entropy(_upcast(scored), targets, reduction="sum")
        correct = (scored.argmax(-1) == targets).sum()
        return loss / count.clamp(min=1), logits, correct, count
    if layout is not None and layout.label_positions is not None:
        at, flat = layout.label_positions, labels.reshape(-1)
        if layout.padded_labels:  # entries past the last position score nothing
            inside = at.clamp(max=flat.numel() - 1)
            targets = flat.index_select(0, inside).masked_fill(at >= flat.numel(), -100)
            count = (targets != -100).sum()
        else:
            inside = at
            targets = flat.index_select(0, at)
            count = torch.full((), at.numel(), dtype=torch.long, device=hidden.device)
        rows = hidden.reshape(-1, hidden.shape[-1]).index_select(0, inside)
        if layout.loss_only and not layout.padded_labels and _unobserved(head):
            h = head.transform(rows)
            if chunked_loss.usable(h, head.weight, head.bias):
                total, correct = chunked_loss.loss(h, head.weight, head.bias, targets)
                return total / count.clamp(min=1), None, correct, count
            logits = linear(h, head.weight, head.bias)
        else:
            logits = head(rows)
    else:
        picked = labels != -100
        targets = labels[picked]
        logits = head(hidden[picked])
        count = picked.sum()
    loss = F.cross_entropy(_upcast(logits), targets, reduction="sum")
    correct = (logits.argmax(-1) == targets).sum()
    return loss / count.clamp(min=1), logits, correct, count


def _unobserved(head: nn.Module) -> bool:
    """Whether the head may skip its own call (its forward, which gives the logits that
    the loss scored in chunks never makes): no forward hook or pre-hook on it, none
    registered for every module, and ``LMHead``'s own forward, not a subclass's."""
    hooks = nn.modules.module
    return (
        type(head).forward is LMHead.forward
        and not head._forward_hooks
        and not head._forward_pre_hooks
        and not getattr(hooks, "_global_forward_hooks", None)
        and not getattr(hooks, "_global_forward_pre_hooks", None)
    )


def _every(model: nn.Module, all_logits: bool | None, layout: BatchLayout | None) -> bool:
    """Whether the MLM head scores every position: as asked, else in evaluation mode (what
    transformers' ``Trainer`` and metrics read) unless a layout names the labelled ones."""
    if all_logits is not None:
        return bool(all_logits)
    return not model.training and (layout is None or layout.label_positions is None)


class BertForMaskedLM(Pretrained):
    """The encoder (no pooler) and the MLM head. ``forward(..., labels)`` with labels -100
    at unpicked positions returns the mean cross-entropy over picked tokens (0 when none
    is picked, where transformers gives NaN: a pretraining micro-batch whose rows drew no
    mask adds nothing). ``labels``:
    int64 or int32, (B, N) or any shape of B·N values (as transformers flattens them); a
    label outside the vocabulary (and not -100), or one at padding (``attention_mask``
    0: -100 there), is a ``ConfigError``, checked on the CPU. With labels, the ``logits``
    are those of the labelled positions alone, (picked, vocab), while the model trains,
    and every position's, (B, N, vocab) as transformers gives them, in evaluation mode
    (``Trainer`` predictions and metrics read these); ``all_logits`` True or False
    chooses."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooler=False)
        self.mlm = LMHead(config, self.bert.embeddings.word)
        self.mlm.apply(lambda m: init_weights(m, config.initializer_range))

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        labels: Tensor | None = None,
        layout: BatchLayout | None = None,
        *,
        position_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool | None = None,
        all_logits: bool | None = None,
    ) -> MaskedLMOutput:
        check_return_dict(return_dict)
        encoded = self.bert(
            input_ids, attention_mask, token_type_ids, layout,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
            position_ids=position_ids, inputs_embeds=inputs_embeds,
        )  # fmt: skip
        states, attentions = layer_outputs(encoded)
        hidden = encoded[0]
        if labels is not None:
            shape = tuple(hidden.shape[:2])
            labels = class_ids("labels", labels, shape, self.config.vocab_size, "tokens")
            check_padding_labels(attention_mask, labels)
        loss, logits, correct, count = _mlm(
            self.mlm, hidden, labels, layout, _every(self, all_logits, layout)
        )
        every = hidden if states is None else states
        out = MaskedLMOutput(loss, logits, every, correct, count, attentions)
        return out if return_dict is not False else out.to_tuple()  # type: ignore[return-value]


class BertForPreTraining(Pretrained):
    """The encoder with its pooler, the MLM head and the next-sentence (or sentence-order)
    head. The loss is MLM + NSP when both labels are given, and the one whose labels
    are given otherwise (transformers returns none without both); ``labels`` as
    ``BertForMaskedLM`` takes them (-100 at padding); ``next_sentence_label`` is 0 or 1
    (or -100) per row, (B,) or (B, 1)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.mlm = LMHead(config, self.bert.embeddings.word)
        self.nsp = Linear(config.hidden_size, 2)
        for module in (self.mlm, self.nsp):
            module.apply(lambda m: init_weights(m, config.initializer_range))

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        labels: Tensor | None = None,
        next_sentence_label: Tensor | None = None,
        layout: BatchLayout | None = None,
        *,
        position_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool | None = None,
        all_logits: bool | None = None,
    ) -> PreTrainingOutput:
        check_return_dict(return_dict)
        encoded = self.bert(
            input_ids, attention_mask, token_type_ids, layout,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
            position_ids=position_ids, inputs_embeds=inputs_embeds,
        )  # fmt: skip
        states, attentions = layer_outputs(encoded)
        hidden, pooled = encoded[0], encoded[1]
        assert pooled is not None
        if next_sentence_label is not None:  # (MLM alone reads no pooled vector)
            check_pooled_rows(attention_mask, "the next-sentence loss")
        if labels is not None:
            shape = tuple(hidden.shape[:2])
            labels = class_ids("labels", labels, shape, self.config.vocab_size, "tokens")
            check_padding_labels(attention_mask, labels)
        mlm_loss, logits, correct, count = _mlm(
            self.mlm, hidden, labels, layout, _every(self, all_logits, layout)
        )
        nsp_logits = self.nsp(pooled)
        nsp_loss = None
        if next_sentence_label is not None:
            label = class_ids(
                "next_sentence_label", next_sentence_label, (len(hidden),), 2, "outcomes"
            )
            nsp_loss = F.cross_entropy(_upcast(nsp_logits), label)
        losses = [x for x in (mlm_loss, nsp_loss) if x is not None]
        loss = sum(losses[1:], losses[0]) if losses else None
        out = PreTrainingOutput(
            loss, logits, hidden if states is None else states, correct, count,
            attentions=attentions,
            mlm_loss=mlm_loss, nsp_loss=nsp_loss, nsp_logits=nsp_logits,
        )  # fmt: skip
        return out if return_dict is not False else out.to_tuple()  # type: ignore[return-value]


def init_weights(module: nn.Module, std: float) -> None:
    """BERT's initialisation: normal(0, std) weights, zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
