"""Training loops: ``pretrain`` (MLM + NSP/SOP, checkpoints, resume, torchrun DDP) and
``finetune`` (text classification, or word tagging with ``task="tag"``, with validation,
early stopping and metrics)."""

from .classify import FinetuneResult, classification_metrics, finetune
from .loop import PretrainOptions, PretrainResult, pretrain
from .tagging import entity_metrics, finetune_tagger, read_tagged

__all__ = [
    "FinetuneResult",
    "PretrainOptions",
    "PretrainResult",
    "classification_metrics",
    "entity_metrics",
    "finetune",
    "finetune_tagger",
    "pretrain",
    "read_tagged",
]
