"""What the attention kernels share: the per-sequence ``info`` rows (their layout is
described in ``lexforge.kernels.attention``), the kernel that builds them in one launch
(``sequence_info``) and the ``@triton.jit`` functions that read them; the (sequence, head)
index over the grid; and where a loop over key tiles starts and stops.

The kernel modules import these functions by name: Triton resolves the functions a kernel
calls through the kernel's own module globals. They keep their annotations as objects (no
``from __future__ import annotations``): Triton 3.0's interpreter takes a parameter as a
``tl.constexpr`` only when its annotation is the object, not the string (it read ``BLOCK``
as a tensor, and ``tl.arange(0, BLOCK)`` failed).
"""

import torch
import triton
import triton.language as tl

from .attention_configs import _interpreted

INFO_COLUMNS = 9


@triton.jit
def _program_bh():
    """The program's (sequence, head) index, ``b * H + h``, over grid axes 1 and 2: CUDA
    allows 65,535 blocks on each, so a launch of more (12 heads × 5,462 sequences) splits
    them over both (see ``_bh_grid``)."""
    return tl.program_id(1) + tl.program_id(2) * tl.num_programs(1)


@triton.jit
def _seq(info, b):
    row = info + b * 9
    return (
        tl.load(row + 0),
        tl.load(row + 1),
        tl.load(row + 2),
        tl.load(row + 3),
        tl.load(row + 4),
        tl.load(row + 5),
        tl.load(row + 6),
        tl.load(row + 7),
        tl.load(row + 8),
    )


@triton.jit
def _at(X, b, tok0, h, s_b, s_n, s_h):
    """Where sequence ``b``'s head ``h`` starts in ``X``: its token ``tok0`` (int64 offsets:
    a batch of 12 heads x 64k tokens x 128 dims passes 2**31 elements)."""
    return X + b.to(tl.int64) * s_b + tok0.to(tl.int64) * s_n + h * s_h


@triton.jit
def _real(offs, lo, hi, ext, MASK, b, s_mb, holes, HAS_MASK: tl.constexpr):
    """Which positions ``offs`` hold real tokens: inside ``[lo, hi)`` and, when the mask
    has holes, set in it."""
    ok = (offs >= lo) & (offs < hi)
    if HAS_MASK:
        if holes != 0:
            flag = tl.load(MASK + b * s_mb + offs, mask=offs < ext, other=0)
            ok = ok & (flag != 0)
    return ok


@triton.jit
def _key_start(k_lo, DROPOUT: tl.constexpr):
    """Where a loop over key tiles starts: at the first real key, or with dropout at the
    multiple of 16 below it, since a tile's keep-flags come from Philox draws of 16 keys
    each from a multiple of 16 (``_philox_flags``). A tile starting at a key left-padding
    puts elsewhere (5, say) took the numbers of its neighbours: the tiled forward and
    the dQ kernel dropped other probabilities than the dK/dV kernels (and the short
    forward, and ``dropout_keep``) did, and the gradients were not the forward's."""
    if DROPOUT:
        return k_lo // 16 * 16
    return k_lo


@triton.jit
def _interior_stop(start, stop, diagonal, BLOCK: tl.constexpr, CAUSAL: tl.constexpr):
    """Where the run of whole tiles from ``start`` ends: tiles before it lie inside
    ``[start, stop)`` and, with ``CAUSAL``, wholly at or below ``diagonal`` (the first
    query position of the other side's tile)."""
    whole = (stop - start) // BLOCK
    if CAUSAL:
        whole = tl.minimum(whole, tl.maximum(diagonal + 1 - start, 0) // BLOCK)
    return start + whole * BLOCK


@triton.jit
def _info_kernel(SRC, INFO, s_src, n, MODE: tl.constexpr, BLOCK: tl.constexpr):
    """One sequence's ``info`` row from a (B, n) uint8 key-padding mask (``MODE`` 0), from
    (B,) lengths (1), or from (B+1,) ``cu_seqlens`` (2)."""
    b = tl.program_id(0)
    row = INFO + b * 9
    zero = b * 0
    if MODE == 0:
        lo = zero + n
        hi = zero
        count = zero
        for start in range(0, n, BLOCK):
            offs = start + tl.arange(0, BLOCK)
            flag = tl.load(SRC + b.to(tl.int64) * s_src + offs, mask=offs < n, other=0) != 0
            lo = tl.minimum(lo, tl.min(tl.where(flag, offs, n), axis=0))
            hi = tl.maximum(hi, tl.max(tl.where(flag, offs + 1, 0), axis=0))
            count += tl.sum(flag.to(tl.int32), axis=0)
        lo = tl.where(hi > 0, lo, 0)  # no real token: the empty range [0, 0)
        holes = (count != hi - lo).to(tl.int32)
        tok0, ext = zero, zero + n
    elif MODE == 1:  # clamped to [0, n]: the rows are addresses, and wrong lengths that
        # reach here unchecked (``torch.compile``) must not send a kernel outside the batch
        lo, holes, tok0, ext = zero, zero, zero, zero + n
        hi = tl.minimum(tl.maximum(tl.load(SRC + b), 0), n).to(tl.int32)
    else:  # offsets clamped to [0, n], n the token count, each at or past the one before
        tok0 = tl.minimum(tl.maximum(tl.load(SRC + b), 0), n).to(tl.int32)
        hi = tl.minimum(tl.maximum(tl.load(SRC + b + 1), tok0), n).to(tl.int32) - tok0
        lo, holes, ext = zero, zero, hi
    tl.store(row + 0, tok0)
    tl.store(row + 1, lo)
    tl.store(row + 2, hi)
    tl.store(row + 3, ext)
    tl.store(row + 4, tok0)
    tl.store(row + 5, lo)
    tl.store(row + 6, hi)
    tl.store(row + 7, ext)
    tl.store(row + 8, holes)


def sequence_info(source: torch.Tensor, kind: str, n: int = 0) -> torch.Tensor:
    """The (B, 9) int32 ``info`` rows, in one launch: ``kind`` "mask" takes a (B, n) bool
    or uint8 key-padding mask, "lengths" (B,) integer lengths (positions ``[0, n)``),
    "cu_seqlens" (B+1,) int32 offsets of packed sequences, n tokens in all. Lengths and
    offsets outside ``[0, n]`` are clamped into it (so are offsets that decrease)."""
    mode = {"mask": 0, "lengths": 1, "cu_seqlens": 2}[kind]
    if kind == "mask" and source.dtype == torch.bool:
        source = source.view(torch.uint8)
    batch = source.shape[0] - 1 if kind == "cu_seqlens" else source.shape[0]
    info = torch.empty((batch, INFO_COLUMNS), dtype=torch.int32, device=source.device)
    if batch > 0:
        block = 64 if _interpreted() else 1024
        stride = source.stride(0) if kind == "mask" else 0
        _info_kernel[(batch,)](source, info, stride, n, MODE=mode, BLOCK=block)
    return info
