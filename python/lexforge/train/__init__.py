"""Training loops: ``pretrain`` (MLM + NSP/SOP, checkpoints, resume, torchrun DDP) and
``finetune`` (text classification, or word tagging with ``task="tag"``, with validation,
early stopping and metrics; ``task="qa"`` for extractive question answering)."""

from .classify import FinetuneResult, finetune
from .loop import PretrainOptions, PretrainResult, pretrain
from .metrics import classification_metrics
from .qa import QAExample, finetune_qa, read_qa, squad_metrics
from .tagging import entity_metrics, finetune_tagger, first_piece_labels, read_tagged

__all__ = [
    "FinetuneResult",
    "PretrainOptions",
    "PretrainResult",
    "QAExample",
    "classification_metrics",
    "entity_metrics",
    "finetune",
    "finetune_qa",
    "finetune_tagger",
    "first_piece_labels",
    "pretrain",
    "read_qa",
    "read_tagged",
    "squad_metrics",
]
