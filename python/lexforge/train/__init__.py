"""Training loops: ``pretrain`` (MLM + NSP/SOP, checkpoints, resume, torchrun DDP) and
``finetune`` (text classification with validation, early stopping and metrics)."""

from .classify import FinetuneResult, classification_metrics, finetune
from .loop import PretrainOptions, PretrainResult, pretrain

__all__ = [
    "FinetuneResult",
    "PretrainOptions",
    "PretrainResult",
    "classification_metrics",
    "finetune",
    "pretrain",
]
