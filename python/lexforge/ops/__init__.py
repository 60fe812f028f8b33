"""Fused operations for the encoder: attention over padded and packed batches; and
LayerNorm, softmax and linear layers whose training is the same bits at any CPU thread
count (``lexforge.ops.reproducible``).

    from lexforge.ops import attention, attention_varlen, layer_norm, linear, pad, unpad

On CUDA the Triton kernels in ``lexforge.kernels`` run; on the CPU (or with an
unsupported head dimension) the same semantics come from PyTorch's SDPA.
``backend="triton"`` forces the kernels, which run on the CPU under ``TRITON_INTERPRET=1``
(Triton's interpreter) for tests. Importing this module
imports torch (not triton).
"""

from lexforge._extras import require

# without torch: one error naming the extra that installs it, not a bare ModuleNotFoundError
require("lexforge.ops", "torch")

from .attention import (  # noqa: E402
    HEAD_DIMS,
    AttentionOptions,
    Unpadded,
    attention,
    attention_varlen,
    pad,
    unpad,
)
from .reproducible import layer_norm, linear, softmax  # noqa: E402

__all__ = [
    "HEAD_DIMS",
    "AttentionOptions",
    "Unpadded",
    "attention",
    "attention_varlen",
    "layer_norm",
    "linear",
    "pad",
    "softmax",
    "unpad",
]
