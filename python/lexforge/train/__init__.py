"""Training loops: ``pretrain`` (MLM + NSP/SOP, checkpoints, resume, torchrun DDP)."""

from .loop import PretrainOptions, PretrainResult, pretrain

__all__ = ["PretrainOptions", "PretrainResult", "pretrain"]
