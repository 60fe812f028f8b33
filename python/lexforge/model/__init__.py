"""BERT-style encoders in PyTorch: ``BertConfig`` (with presets), ``BertModel``,
``BertForMaskedLM`` and ``BertForPreTraining``; ``save_pretrained`` / ``from_pretrained``
read and write HF transformers' BERT format. Importing this module imports torch."""

from .bert import (
    BertForMaskedLM,
    BertForPreTraining,
    BertModel,
    MaskedLMOutput,
    PreTrainingOutput,
    sinusoidal_positions,
)
from .config import PRESETS, BertConfig

__all__ = [
    "PRESETS",
    "BertConfig",
    "BertForMaskedLM",
    "BertForPreTraining",
    "BertModel",
    "MaskedLMOutput",
    "PreTrainingOutput",
    "sinusoidal_positions",
]
