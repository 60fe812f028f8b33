"""Training loops: ``pretrain`` (MLM + NSP/SOP, checkpoints, resume, torchrun DDP) and
``finetune`` (text classification, or word tagging with ``task="tag"``, with validation,
early stopping and metrics; ``task="qa"`` for extractive question answering)."""

from lexforge._extras import require

# without torch: one error naming the extra that installs it, not a bare ModuleNotFoundError
require("lexforge.train", "torch")

from ._interrupt import Stopped  # noqa: E402
from .classify import FinetuneResult, finetune  # noqa: E402
from .loop import PretrainOptions, PretrainResult, pretrain  # noqa: E402
from .metrics import classification_metrics  # noqa: E402
from .qa import QAExample, finetune_qa, read_qa, squad_metrics  # noqa: E402
from .tagging import entity_metrics, finetune_tagger, first_piece_labels, read_tagged  # noqa: E402

__all__ = [
    "FinetuneResult",
    "PretrainOptions",
    "PretrainResult",
    "QAExample",
    "Stopped",
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
