"""Fused operations for the encoder: attention over padded and packed batches.

    from lexforge.ops import attention, attention_varlen, pad, unpad

On CUDA the Triton kernels in ``lexforge.kernels`` run; on the CPU (or with an
unsupported head dimension) the same semantics come from PyTorch's SDPA, and
``TRITON_INTERPRET=1`` forces the Triton path on the CPU for tests. Importing this module
imports torch (not triton).
"""

from .attention import (
    HEAD_DIMS,
    AttentionOptions,
    Unpadded,
    attention,
    attention_varlen,
    pad,
    unpad,
)

__all__ = [
    "HEAD_DIMS",
    "AttentionOptions",
    "Unpadded",
    "attention",
    "attention_varlen",
    "pad",
    "unpad",
]
