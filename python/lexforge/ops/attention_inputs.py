"""What the attention kernels take besides q, k and v, made without a host
synchronisation: the per-sequence ``info`` rows (one launch in eager mode, cached for
a batch with no padding, torch operations when traced), the key-padding mask as the
backward may save it, and the dropout seed; and the lazy import of
``lexforge.kernels.attention`` (importing ``lexforge.ops`` does not import triton).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import torch

from .reproducible import capturing

if TYPE_CHECKING:
    from .attention import AttentionOptions


def _padded_info(
    mask: torch.Tensor | None,
    lengths: torch.Tensor | None,
    valid: torch.Tensor | None,
    batch: int,
    n_q: int,
    n_k: int,
    device: torch.device,
) -> torch.Tensor:
    """The kernels' per-sequence rows, computed on the device: one small launch in eager
    mode (none for a dense batch: those rows are cached), torch operations when traced."""
    if capturing():
        return _padded_info_traced(valid, lengths, batch, n_q, n_k, device)
    if mask is not None:
        return _kernels().sequence_info(mask, "mask", n_k)  # type: ignore[no-any-return]
    if lengths is not None:
        return _kernels().sequence_info(lengths.contiguous(), "lengths", n_k)  # type: ignore[no-any-return]
    return _dense_info(batch, n_q, n_k, device)


@functools.lru_cache(maxsize=64)
def _dense_info(batch: int, n_q: int, n_k: int, device: torch.device) -> torch.Tensor:
    """Rows for a batch with no padding (read-only: the kernels never write them). Made
    outside inference mode even when called in it: an inference tensor, cached, could
    never be saved for a later training step's backward."""
    with torch.inference_mode(False):
        row = torch.tensor([0, 0, n_q, n_q, 0, 0, n_k, n_k, 0], dtype=torch.int32)
        return row.expand(batch, 9).contiguous().to(device)


def _padded_info_traced(
    valid: torch.Tensor | None,
    lengths: torch.Tensor | None,
    batch: int,
    n_q: int,
    n_k: int,
    device: torch.device,
) -> torch.Tensor:
    """``_padded_info`` in torch operations, for ``torch.compile`` to trace."""
    if valid is None:
        row = torch.tensor([0, 0, n_q, n_q, 0, 0, n_k, n_k, 0], dtype=torch.int32, device=device)
        return row.expand(batch, 9).contiguous()
    n = valid.shape[1]
    positions = torch.arange(n, device=device, dtype=torch.int32)
    if lengths is not None:
        lo = torch.zeros(batch, dtype=torch.int32, device=device)
        hi = lengths.clamp(0, n).to(torch.int32)
        holes = torch.zeros_like(lo)
    else:
        real = valid.any(dim=1)
        first = torch.where(valid, positions, n).amin(dim=1)
        last = torch.where(valid, positions, -1).amax(dim=1) + 1
        lo = torch.where(real, first, 0).to(torch.int32)
        hi = torch.where(real, last, 0).to(torch.int32)
        holes = (valid.sum(dim=1) != hi - lo).to(torch.int32)
    zero = torch.zeros_like(lo)
    ext = torch.full_like(lo, n)
    return torch.stack([zero, lo, hi, ext, zero, lo, hi, ext, holes], dim=1).contiguous()


def _saveable(mask: torch.Tensor) -> torch.Tensor:
    """The mask as the backward may keep it: one made in inference mode (by a data
    pipeline, say) cannot be saved for a later backward, so it is copied (B·N bytes); the
    SDPA path saves only tensors derived from it. Eager only: a traced graph cannot ask."""
    if capturing():
        return mask
    if mask.is_inference() and not torch.is_inference_mode_enabled():
        return mask.clone()
    return mask


def _kernels() -> Any:
    from ..kernels import attention as kernels

    return kernels


def _seed(opts: AttentionOptions, device: torch.device) -> torch.Tensor:
    """The dropout seed, a (1,) int64 tensor on ``device`` that the kernels read: drawn
    from torch's generator of that device (no host synchronisation; inside a CUDA graph
    each replay draws afresh). Without dropout, a cached zero."""
    if opts.dropout_p == 0.0:
        if capturing():  # not cached: a graph's output (under CUDA
            # graphs, memory that the next replay overwrites) must not outlive its call
            return torch.zeros(1, dtype=torch.int64, device=device)
        zero = _ZERO_SEEDS.get(device)
        if zero is None:
            with torch.inference_mode(False):  # cached: see _dense_info
                zero = _ZERO_SEEDS[device] = torch.zeros(1, dtype=torch.int64, device=device)
        return zero
    return torch.randint(0, 2**31 - 1, (1,), dtype=torch.int64, device=device)


_ZERO_SEEDS: dict[torch.device, torch.Tensor] = {}
