"""Task heads on the encoder, with HF transformers' names and loss conventions:
sequence classification (single- or multi-label, or regression), token classification,
and extractive question answering (start and end logits).

Every forward pass takes ``input_ids`` or ``inputs_embeds`` and, keyword-only,
``position_ids``, ``output_attentions`` and ``output_hidden_states``, as ``BertModel``
does; the outputs read by name (``out.logits``) or by position over the fields that are
set (``out[0]``: the loss with labels, else the logits), as transformers' do
(``lexforge.model.outputs``). An output's ``hidden_states`` is the last layer's states,
(B, N, hidden), or with ``output_hidden_states=True`` the tuple of every layer's (the
embeddings' first), as transformers gives it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812 (torch's own spelling)

from ..errors import ConfigError
from ..ops.dropout import Dropout
from .bert import (
    BertModel,
    Linear,
    _upcast,
    check_padding_labels,
    init_weights,
    layer_outputs,
)
from .config import BertConfig
from .inputs import IGNORED, check_pooled_rows, check_span_labels, class_ids
from .outputs import ModelOutput, check_return_dict, model_output
from .pretrained import Pretrained

__all__ = [
    "TASK_HEADS",
    "BertForQuestionAnswering",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "QuestionAnsweringOutput",
    "TaskOutput",
    "align_word_labels",
]

TASK_HEADS = (
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertForQuestionAnswering",
)


def align_word_labels(
    word_ids: Any, word_labels: Sequence[Sequence[int]], *, strict: bool = False
) -> Any:
    """Token labels from word labels: each word's label on its first piece, -100 (ignored
    by the loss) on its other pieces, special tokens and padding. ``word_ids`` is the
    tokenizer's (rows, length) array (-1 for no word); returns int64 of the same shape.

    The words are the ones ``word_ids`` numbers: the tokenizer's pre-tokenizer words of
    the text (BERT's split at spaces and punctuation, so "don't" is three), counting only
    words that have a piece (a zero-width space or a control character has none, and takes
    no number). ``word_labels[row][k]`` must be the label of word ``k`` in that sense;
    labels for words of your own (a CoNLL file's tokens, joined by spaces) shift onto the
    wrong words wherever the two differ. For those, use
    ``lexforge.train.first_piece_labels``, which finds each given word's first piece
    through the character offsets, as ``finetune(task="tag")`` does.

    A row may have more labels than words (the words past a truncated row's end have
    none); ``strict=True``, for rows encoded without truncation, requires exactly one
    label per word, which catches most labels given per word of one's own. Raises
    ``ConfigError`` when a row has fewer labels than words (or, with ``strict``, another
    number), or labels that are not integers (a float would be cut to a class, a tag name
    is not one)."""
    ids = np.asarray(word_ids)
    out = np.full(ids.shape, -100, dtype=np.int64)
    if len(word_labels) != ids.shape[0]:
        raise ConfigError(f"{len(word_labels)} label rows for {ids.shape[0]} rows of tokens")
    for row, labels in enumerate(word_labels):
        words = ids[row]
        first = (words >= 0) & np.r_[True, words[1:] != words[:-1]]
        needed = int(words.max()) + 1 if first.any() else 0
        if len(labels) < needed or (strict and len(labels) != needed):
            raise ConfigError(
                f"row {row} has {needed} words but {len(labels)} labels; give one label per "
                "word as word_ids number them (the tokenizer's words that have a piece), or, "
                "for labels per word of your own, use lexforge.train.first_piece_labels"
            )
        values = np.asarray(labels)
        if values.size and values.dtype.kind not in "iu":  # not cut: 1.7 is no class 1
            raise ConfigError(
                f"row {row}: labels must be integer class ids, got {list(labels)[:5]!r}; map "
                "tag names to their ids first"
            )
        out[row, first] = values.astype(np.int64)[words[first]]
    return out


@model_output
@dataclass
class TaskOutput(ModelOutput):
    """A classifier's or tagger's output: ``loss`` (None without labels), ``logits``
    (B, labels) for a sequence classifier, (B, N, labels) for a tagger, the last layer's
    ``hidden_states`` (B, N, hidden; every layer's with ``output_hidden_states``) and the
    ``attentions`` asked for."""

    loss: Tensor | None
    logits: Tensor
    hidden_states: Tensor | tuple[Tensor, ...]  # the last layer's; every layer's if asked
    attentions: tuple[Tensor, ...] | None = None  # output_attentions=True: each layer's


@model_output
@dataclass
class QuestionAnsweringOutput(ModelOutput):
    """An extractive QA head's output: ``loss`` (None without start and end positions),
    ``start_logits`` and ``end_logits`` (B, N), ``hidden_states`` and ``attentions`` as
    :class:`TaskOutput` has them."""

    loss: Tensor | None
    start_logits: Tensor
    end_logits: Tensor
    hidden_states: Tensor | tuple[Tensor, ...]  # the last layer's; every layer's if asked
    attentions: tuple[Tensor, ...] | None = None  # output_attentions=True: each layer's


class BertForSequenceClassification(Pretrained):
    """The pooled [CLS] vector, dropout, a linear layer. ``problem_type`` (as in HF): one
    label -> regression (MSE); integer labels -> single-label (cross-entropy); float
    (B, num_labels) 0/1 labels -> multi-label (binary cross-entropy). Without a problem
    type in the config, the first labels given decide it and it is recorded there, as
    transformers does: later labels are taken the same way, and the exported
    ``config.json``, ``classify`` and HF's pipeline score a multi-label head with
    sigmoids."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.dropout = Dropout(config.head_dropout)
        self.classifier = Linear(config.hidden_size, config.num_labels)
        init_weights(self.classifier, config.initializer_range)

    def classify(self, texts: Any, pairs: Any = None, **options: Any) -> list[Any]:
        """Each text's prediction: ``(label, probability)``; for multi-label, the labels
        above 0.5 with theirs; for regression, a float. See
        :func:`lexforge.model.predict.classify` (``tokenizer``, ``batch_size``,
        ``max_length``)."""
        from .predict import classify

        return classify(self, texts, pairs, **options)

    def problem(self, labels: Tensor | None = None) -> str:
        if self.config.problem_type is not None:
            return self.config.problem_type
        if self.config.num_labels == 1:
            return "regression"
        if labels is not None and labels.is_floating_point():
            return "multi_label_classification"
        return "single_label_classification"

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        labels: Tensor | None = None,
        *,
        position_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool | None = None,
    ) -> TaskOutput:
        check_return_dict(return_dict)
        encoded = self.bert(
            input_ids, attention_mask, token_type_ids,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
            position_ids=position_ids, inputs_embeds=inputs_embeds,
        )  # fmt: skip
        states, attentions = layer_outputs(encoded)
        hidden, pooled = encoded[0], encoded[1]
        assert pooled is not None
        check_pooled_rows(attention_mask, "a sequence classifier")  # (checked by self.bert first)
        logits = in_fp32(self.classifier, self.dropout(pooled))
        loss = None
        if labels is not None:
            _check_tensor("labels", labels)
            kind = self.problem(labels)
            if kind == "regression":
                loss = _regression_loss(logits, labels)
            elif kind == "multi_label_classification":
                loss = F.binary_cross_entropy_with_logits(
                    _upcast(logits), _multi_hot(labels, logits)
                )
            else:
                loss = F.cross_entropy(_upcast(logits), _single_labels(labels, logits))
            if self.config.problem_type is None:  # as transformers: the first labels decide
                self.config = self.config.replace(problem_type=kind)  # (labels it could read)
        out = TaskOutput(loss, logits, hidden if states is None else states, attentions)
        return out if return_dict is not False else out.to_tuple()  # type: ignore[return-value]


class BertForTokenClassification(Pretrained):
    """A label per token (tagging); labels -100 are ignored (the pieces after a word's
    first, special and padding tokens: see ``align_word_labels``). A label other than
    -100 at padding (``attention_mask`` 0) is refused, a ``ConfigError`` checked on the
    CPU, as the QA head refuses an answer there: the hidden state at padding is 0, so it
    would score the classifier's bias (transformers scores its own padding states)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooler=False)
        self.dropout = Dropout(config.head_dropout)
        self.classifier = Linear(config.hidden_size, config.num_labels)
        init_weights(self.classifier, config.initializer_range)

    def tag(self, sentences: Any, **options: Any) -> list[list[tuple[str, str]]]:
        """Each word's tag, ``(word, tag)`` pairs per sentence (a list of words, or a text
        cut at whitespace), as fine-tuning scores them. See
        :func:`lexforge.model.predict.tag` (``tokenizer``, ``batch_size``,
        ``max_length``)."""
        from .predict import tag

        return tag(self, sentences, **options)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        labels: Tensor | None = None,
        *,
        position_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool | None = None,
    ) -> TaskOutput:
        check_return_dict(return_dict)
        encoded = self.bert(
            input_ids, attention_mask, token_type_ids,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
            position_ids=position_ids, inputs_embeds=inputs_embeds,
        )  # fmt: skip
        states, attentions = layer_outputs(encoded)
        hidden = encoded[0]
        logits = in_fp32(self.classifier, self.dropout(hidden))
        loss = None
        if labels is not None:
            labels = _class_ids("labels", labels, hidden.shape[:2], self.config.num_labels)
            check_padding_labels(attention_mask, labels)
            loss = F.cross_entropy(
                _upcast(logits).flatten(0, 1), labels.flatten(), ignore_index=IGNORED
            )
        out = TaskOutput(loss, logits, hidden if states is None else states, attentions)
        return out if return_dict is not False else out.to_tuple()  # type: ignore[return-value]


class BertForQuestionAnswering(Pretrained):
    """Start and end logits per token; the loss is the mean of the two cross-entropies
    (positions outside the row are clamped and ignored, as HF does). Unlike HF's, the
    logits at padding are -inf, so padding is never an answer and the cross-entropies run
    over the real tokens only: on padded rows the loss is lower than HF's (equal without
    padding); a label at padding is refused (a ``ConfigError``, checked on the CPU)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        # HF sizes qa_outputs by num_labels (start and end), and its QA configs hold the
        # default names and no problem type: a classifier's labels (even two of them) and
        # problem type, from the checkpoint fine-tuned here with new_head, are not carried
        if config.labels != ("LABEL_0", "LABEL_1") or config.problem_type is not None:
            config = config.replace(labels=("LABEL_0", "LABEL_1"), problem_type=None)
        self.config = config
        self.bert = BertModel(config, add_pooler=False)
        self.qa_outputs = Linear(config.hidden_size, 2)
        init_weights(self.qa_outputs, config.initializer_range)

    def answer(self, questions: Any, contexts: Any, **options: Any) -> list[Any]:
        """Each question's answer in its context: ``(text, character start, score)``, the
        best span over the context's windows, as fine-tuning scores them. See
        :func:`lexforge.model.predict.answer` (``max_length``, ``stride``,
        ``max_answer_length``, ``null_threshold`` for questions without an answer)."""
        from .predict import answer

        return answer(self, questions, contexts, **options)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        start_positions: Tensor | None = None,
        end_positions: Tensor | None = None,
        *,
        position_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool | None = None,
    ) -> QuestionAnsweringOutput:
        check_return_dict(return_dict)
        encoded = self.bert(
            input_ids, attention_mask, token_type_ids,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
            position_ids=position_ids, inputs_embeds=inputs_embeds,
        )  # fmt: skip
        states, attentions = layer_outputs(encoded)
        hidden = encoded[0]
        start, end = _upcast(in_fp32(self.qa_outputs, hidden)).unbind(-1)
        if attention_mask is not None:  # padding is never an answer
            start = start.masked_fill(~attention_mask.bool(), float("-inf"))
            end = end.masked_fill(~attention_mask.bool(), float("-inf"))
        loss = None
        if start_positions is not None and end_positions is not None:
            rows = (hidden.shape[0],)  # no range: positions past the row are ignored
            start_positions = _class_ids("start_positions", start_positions, rows, None)
            end_positions = _class_ids("end_positions", end_positions, rows, None)
            check_span_labels(attention_mask, start_positions, end_positions)
            n = start.shape[1]
            s, e = start_positions.clamp(0, n), end_positions.clamp(0, n)
            loss = (
                F.cross_entropy(start, s, ignore_index=n) + F.cross_entropy(end, e, ignore_index=n)
            ) / 2
        every = hidden if states is None else states
        out = QuestionAnsweringOutput(loss, start, end, every, attentions)
        return out if return_dict is not False else out.to_tuple()  # type: ignore[return-value]


def _class_ids(name: str, labels: Any, shape: Sequence[int], classes: int | None) -> Tensor:
    return class_ids(name, labels, tuple(shape), classes, "labels")


def _check_tensor(name: str, labels: Any) -> None:
    if not isinstance(labels, Tensor):
        raise ConfigError(
            f"{name} must be a torch.Tensor, got {type(labels).__name__} "
            f"(torch.as_tensor({name}) converts a list or a NumPy array)"
        )


def _single_labels(labels: Tensor, logits: Tensor) -> Tensor:
    """Single-label classes, one per row; 0/1 columns of integers (multi-hot) are refused
    with the fix, as transformers reads them as classes and fails on the batch size."""
    batch, classes = logits.shape
    if labels.is_floating_point():
        raise ConfigError(
            "single-label classification takes integer labels (class ids, shape (batch,)); "
            "float labels of shape (batch, num_labels) are multi-label"
        )
    if labels.dim() == 2 and classes > 1 and tuple(labels.shape) == (batch, classes):
        raise ConfigError(
            f"labels of shape {tuple(labels.shape)} and dtype {labels.dtype} look multi-hot "
            f"(a 0/1 column per label): multi-label labels are float, (batch, num_labels); "
            "pass labels.float(), or class ids of shape (batch,) for single-label"
        )
    return _class_ids("labels", labels, (batch,), classes)


def _multi_hot(labels: Tensor, logits: Tensor) -> Tensor:
    """Multi-label targets: one 0/1 (or soft) value per label, (batch, num_labels)."""
    if tuple(labels.shape) != tuple(logits.shape):
        raise ConfigError(
            f"multi-label classification takes labels of shape (batch, num_labels) = "
            f"{tuple(logits.shape)}, got {tuple(labels.shape)}"
        )
    return labels.to(_upcast(logits).dtype)


def in_fp32(head: nn.Module, x: Tensor) -> Tensor:
    """A task head's outputs at its weights' precision under autocast (bf16 on CUDA):
    bf16 outputs hold 8 significant bits, which rounds a regression's predictions (a year
    to a multiple of 8) and breaks near-ties between classes and spans."""
    kind = x.device.type
    if not torch.is_autocast_enabled(kind):
        out: Tensor = head(x)
        return out
    with torch.autocast(kind, enabled=False):
        out = head(x.to(next(head.parameters()).dtype))
        return out


def _regression_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean squared error, as transformers computes it: one target per row ((B,) or (B, 1))
    for one output, (B, num_labels) for several."""
    outputs = logits.shape[-1]
    if outputs == 1:
        if labels.numel() != logits.shape[0]:
            raise ConfigError(
                f"regression with one output takes one target per row, shape (batch,), got "
                f"labels of shape {tuple(labels.shape)}"
            )
        wide = _upcast(logits.squeeze(-1))
        return F.mse_loss(wide, labels.to(wide.dtype).reshape(-1))
    if tuple(labels.shape) != tuple(logits.shape):
        raise ConfigError(
            f"regression with {outputs} outputs takes labels of shape (batch, {outputs}), "
            f"got {tuple(labels.shape)}"
        )
    return F.mse_loss(_upcast(logits), labels.to(_upcast(logits).dtype))
