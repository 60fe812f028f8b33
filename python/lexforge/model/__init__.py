"""BERT-style encoders in PyTorch: ``BertConfig`` (with presets), ``BertModel``,
``BertForMaskedLM``, ``BertForPreTraining`` and the task heads (sequence and token
classification, question answering); ``save_pretrained`` / ``from_pretrained`` read and
write HF transformers' BERT format; ``embed_words``, ``embed`` and ``fill_mask`` give
contextual representations. Importing this module imports torch."""

from .bert import (
    BatchLayout,
    BertForMaskedLM,
    BertForPreTraining,
    BertModel,
    MaskedLMOutput,
    PreTrainingOutput,
    sinusoidal_positions,
)
from .config import PRESETS, BertConfig
from .heads import (
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    QuestionAnsweringOutput,
    TaskOutput,
    align_word_labels,
)
from .represent import WordVectors

__all__ = [
    "PRESETS",
    "BatchLayout",
    "BertConfig",
    "BertForMaskedLM",
    "BertForPreTraining",
    "BertForQuestionAnswering",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertModel",
    "MaskedLMOutput",
    "PreTrainingOutput",
    "QuestionAnsweringOutput",
    "TaskOutput",
    "WordVectors",
    "align_word_labels",
    "sinusoidal_positions",
]
