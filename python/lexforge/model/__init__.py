"""BERT-style encoders in PyTorch: ``BertConfig`` (with presets), ``BertModel``,
``BertForMaskedLM``, ``BertForPreTraining`` and the task heads (sequence and token
classification, question answering); ``save_pretrained`` / ``from_pretrained`` read and
write HF transformers' BERT format; ``embed_words``, ``embed`` and ``fill_mask`` give
contextual representations. Importing this module imports torch."""

from lexforge._extras import require

# without torch: one error naming the extra that installs it, not a bare ModuleNotFoundError
require("lexforge.model", "torch")

from .bert import (  # noqa: E402
    BatchLayout,
    BertForMaskedLM,
    BertForPreTraining,
    BertModel,
    MaskedLMOutput,
    PreTrainingOutput,
    sinusoidal_positions,
)
from .config import PRESETS, BertConfig  # noqa: E402
from .heads import (  # noqa: E402
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    QuestionAnsweringOutput,
    TaskOutput,
    align_word_labels,
)
from .outputs import (  # noqa: E402
    EncoderOutput,
    EncoderOutputWithAttentions,
    EncoderOutputWithStates,
    EncoderOutputWithStatesAndAttentions,
)
from .represent import WordVectors  # noqa: E402

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
    "EncoderOutput",
    "EncoderOutputWithAttentions",
    "EncoderOutputWithStates",
    "EncoderOutputWithStatesAndAttentions",
    "MaskedLMOutput",
    "PreTrainingOutput",
    "QuestionAnsweringOutput",
    "TaskOutput",
    "WordVectors",
    "align_word_labels",
    "sinusoidal_positions",
]
