"""``attention`` and ``attention_varlen``: fused Triton kernels on CUDA, SDPA elsewhere;
and ``unpad`` and ``pad``, between padded and packed batches.

The two kernels (forward, backward) are registered as ``torch.library`` custom ops with
fake implementations and an autograd formula, so they run under ``torch.compile`` and
autograd like any built-in. Everything the kernels need about padding is computed on the
device (no host synchronisation) as one int32 row per sequence (see
``lexforge.kernels.attention``).

This module holds the public functions; beside it, ``attention_checks`` (input checks),
``attention_sdpa`` (the backend choice and the SDPA path), ``attention_inputs`` (the
kernels' ``info`` rows and dropout seed) and ``attention_custom_ops`` (the custom ops and
autograd).
"""

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch
from torch.nn import functional as F  # noqa: N812 (torch's own spelling)

from ..errors import AttentionInputError
from .attention_checks import (
    HEAD_DIMS,
    _check_cu_seqlens,
    _check_dropout,
    _check_hints,
    _check_mask,
    _check_qkv,
    _check_size,
    _real_tokens,
)
from .attention_checks import MAX_DROPOUT_LEN as MAX_DROPOUT_LEN
from .attention_custom_ops import _run
from .attention_inputs import _ZERO_SEEDS as _ZERO_SEEDS
from .attention_inputs import _dense_info as _dense_info
from .attention_inputs import _kernels, _padded_info, _saveable, _seed
from .attention_inputs import _padded_info_traced as _padded_info_traced
from .attention_sdpa import _sdpa, _use_triton
from .reproducible import capturing

_MAX_SCALE = 3.4028234663852886e38 / 1.4426950408889634  # float32 max / log2(e)

__all__ = [
    "HEAD_DIMS",
    "AttentionOptions",
    "Unpadded",
    "attention",
    "attention_varlen",
    "pad",
    "unpad",
]


@dataclass(frozen=True)
class AttentionOptions:
    """What an attention call computes, besides its tensors. ``scale`` defaults to
    1/sqrt(head_dim); ``dropout_p`` drops attention probabilities (the kept ones are
    scaled by 1/(1 - p)); ``causal`` lets query position i see key positions <= i."""

    causal: bool = False
    scale: Optional[float] = None
    dropout_p: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.causal, bool):
            raise AttentionInputError(f"causal must be True or False, got {self.causal!r}")
        for name in ("dropout_p", "scale"):  # numbers: kernel arguments
            value = getattr(self, name)
            if value is None and name == "scale":
                continue
            # (a tuple: dynamo before torch 2.6 cannot trace an isinstance of int | float)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                continue
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))  # np.float32(0.125), say
            else:
                raise AttentionInputError(
                    f"{name} must be a number, got {type(value).__name__} {value!r}"
                    + (
                        " (float(t) converts a one-element tensor)"
                        if hasattr(value, "item")
                        else ""
                    )
                )
        if not 0.0 <= self.dropout_p < 1.0:
            raise AttentionInputError(f"dropout_p must be in [0, 1), got {self.dropout_p}")
        if self.scale is not None and not 0 < self.scale < _MAX_SCALE:  # NaN fails too
            raise AttentionInputError(
                f"scale must be a positive finite number below {_MAX_SCALE:.3g} (the kernels "
                f"multiply it by log2(e) in float32), got {self.scale}"
            )

    def resolved_scale(self, head_dim: int) -> float:
        return self.scale if self.scale is not None else 1.0 / math.sqrt(head_dim)


class Unpadded(NamedTuple):
    """A padded batch with its padding dropped: ``values`` (total_tokens, ...), the flat
    ``indices`` of the real tokens in the (B·N) positions, ``cu_seqlens`` (B+1, int32) and
    ``max_seqlen``."""

    values: torch.Tensor
    indices: torch.Tensor
    cu_seqlens: torch.Tensor
    max_seqlen: int


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    key_padding_mask: Optional[torch.Tensor] = None,
    lengths: Optional[torch.Tensor] = None,
    dropout_p: float = 0.0,
    causal: bool = False,
    scale: Optional[float] = None,
    backend: Optional[str] = None,
) -> torch.Tensor:
    """Multi-head scaled dot-product attention over a padded batch.

    Shapes: ``q`` (B, Nq, H, D); ``k``, ``v`` (B, Nk, H, D) — the layout a fused QKV
    projection gives after ``.view(B, N, 3, H, D).unbind(2)`` (any strides with a unit
    last stride; no copies). Dtypes: float16, bfloat16 or float32 (float64 too on the SDPA
    path, for gradient checks), all three the same, on one device. D is 32, 64 or 128 for
    the Triton kernels (SDPA takes any).

    Padding: ``key_padding_mask`` (B, N) bool, True at real tokens, or ``lengths`` (B,)
    integers (the first ``lengths[b]`` positions are real; a value outside [0, N] raises,
    except under ``torch.compile``, where checking would synchronise and it is clamped);
    either needs Nq == Nk (self-attention). Padding positions are never attended to, and
    their own output rows are 0 (as are rows of a sequence with no real token) — never
    NaN, whatever padding holds; a NaN or inf in a real token's q, k or v reaches the
    rows that read it, as in SDPA.

    ``dropout_p`` drops attention probabilities (pass 0 at evaluation); the Triton path
    draws Philox numbers seeded from torch's generator, so ``torch.manual_seed`` fixes
    them. It compares one byte of a draw per key (as FlashAttention-2 does), so it drops at
    ``lexforge.kernels.attention.dropout_rate(dropout_p)``: ``dropout_p`` rounded to a
    multiple of 1/256 (0.1 becomes 26/256 = 0.1016; never 0 or 1), and scales the kept
    probabilities by 1/(1 - that rate), so the output's expectation is exact. SDPA uses
    ``dropout_p`` as given. ``causal``: query position i sees key positions <= i.
    ``scale`` defaults to 1/sqrt(D).

    ``backend``: None picks the Triton kernels for CUDA tensors when D and the dtype are
    supported, else SDPA; "triton" or "sdpa" force one ("triton" runs on the CPU under
    ``TRITON_INTERPRET=1``, Triton's interpreter, which is how the tests check it).

    Returns (B, Nq, H, D) in q's dtype. Differentiable in q, k and v; the Triton backward
    is deterministic (bitwise-identical gradients across runs) and has no derivative of
    its own; the SDPA path's has (``create_graph=True``: a gradient penalty; recomputed
    through SDPA's math path, without dropout).
    """
    opts = AttentionOptions(causal=causal, scale=scale, dropout_p=dropout_p)
    _check_qkv(q, k, v, packed=False)
    batch, n_q, _, head_dim = q.shape
    n_k = k.shape[1]
    valid = _real_tokens(key_padding_mask, lengths, batch, n_q, n_k, q.device)
    if not _use_triton(q, head_dim, backend):
        return _sdpa(q, k, v, valid, opts)
    _check_dropout(opts, max(n_q, n_k))
    mask = None if key_padding_mask is None else _saveable(key_padding_mask.contiguous())
    info = _padded_info(mask, lengths, valid, batch, n_q, n_k, q.device)
    return _run(
        q, k, v, info, mask, _seed(opts, q.device), n_q, n_k, False,
        opts.causal, opts.resolved_scale(head_dim), opts.dropout_p,
    )  # fmt: skip


def encoder_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_padding_mask: Optional[torch.Tensor],
    dropout_p: float,
    backend: Optional[str],
) -> torch.Tensor:
    """:func:`attention` for the encoder's own layers, whose padding rows hold finite
    values (computed from the [PAD] embedding) and are zeroed at the encoder's end, never
    read: the SDPA path skips zeroing them (the Triton kernels never read them). Real rows
    are the same as :func:`attention`'s; padding rows are not 0."""
    if key_padding_mask is None or _use_triton(q, q.shape[-1], backend):
        return attention(q, k, v, key_padding_mask=key_padding_mask, dropout_p=dropout_p,
                         backend=backend)  # fmt: skip
    opts = AttentionOptions(dropout_p=dropout_p)
    _check_qkv(q, k, v, packed=False)
    batch, n_q, _, _ = q.shape
    valid = _real_tokens(key_padding_mask, None, batch, n_q, k.shape[1], q.device)
    return _sdpa(q, k, v, valid, opts, finite_padding=True)


def attention_varlen(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_seqlens: torch.Tensor,
    max_seqlen: int,
    *,
    dropout_p: float = 0.0,
    causal: bool = False,
    scale: Optional[float] = None,
    backend: Optional[str] = None,
    check: bool = True,
) -> torch.Tensor:
    """Attention over packed variable-length sequences (no padding at all).

    ``q``, ``k``, ``v``: (total_tokens, H, D), the sequences one after another (see
    ``unpad``); ``cu_seqlens``: (B+1,) int32, starting at 0, non-decreasing, ending at
    total_tokens; ``max_seqlen``: the longest sequence. Sequence b attends only to itself.
    ``check`` validates ``cu_seqlens`` (one device synchronisation; pass False for
    ``cu_seqlens`` that ``unpad`` made; under ``torch.compile`` the values are not read, so
    wrong ones give wrong rows, not an error: offsets are clamped into ``[0,
    total_tokens]``, never read or written outside the tensors). Other arguments as in
    ``attention``.

    Returns (total_tokens, H, D) in q's dtype.
    """
    opts = AttentionOptions(causal=causal, scale=scale, dropout_p=dropout_p)
    _check_qkv(q, k, v, packed=True)
    if k.shape[0] != q.shape[0]:
        raise AttentionInputError(
            f"attention_varlen is self-attention: q has {q.shape[0]} tokens, k {k.shape[0]}"
        )
    _check_cu_seqlens(cu_seqlens, max_seqlen, q.shape[0], q.device, check)
    head_dim = q.shape[-1]
    if not _use_triton(q, head_dim, backend):
        return _sdpa_varlen(q, k, v, cu_seqlens, max_seqlen, opts)
    _check_dropout(opts, max_seqlen)
    if capturing():  # clamped as ``sequence_info`` clamps: unchecked
        # offsets past the tokens would send the kernels outside q, k and v
        total = q.shape[0]
        starts = cu_seqlens[:-1].clamp(0, total)
        lens = torch.maximum(cu_seqlens[1:].clamp(0, total), starts) - starts
        zero = torch.zeros_like(lens)
        info = torch.stack([starts, zero, lens, lens, starts, zero, lens, lens, zero], dim=1)
        info = info.to(torch.int32).contiguous()
    else:
        info = _kernels().sequence_info(cu_seqlens.contiguous(), "cu_seqlens", q.shape[0])
    return _run(
        q, k, v, info, None, _seed(opts, q.device), max_seqlen, max_seqlen,
        True, opts.causal, opts.resolved_scale(head_dim), opts.dropout_p,
    )  # fmt: skip


def unpad(
    x: torch.Tensor,
    key_padding_mask: torch.Tensor,
    *,
    total: Optional[int] = None,
    max_seqlen: Optional[int] = None,
) -> Unpadded:
    """Drops the padding of ``x`` (B, N, ...) given ``key_padding_mask`` (B, N) bool (True
    at real tokens): the real tokens in order, their flat indices, ``cu_seqlens`` and the
    longest length. Finding how many tokens are real takes one device synchronisation,
    unless the caller knows: ``total`` (the number of True in the mask) and ``max_seqlen``
    (the most in one row), both exact, as a data loader that built the mask on the host
    does. On the CPU the hints are checked (AttentionInputError); on a GPU that would
    cost the synchronisation they save, so there they are trusted."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise AttentionInputError(
            "unpad: x must be a torch.Tensor of shape (B, N, ...), got "
            + (f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__)
        )
    for name, value in (("total", total), ("max_seqlen", max_seqlen)):
        if value is not None:
            _check_size("unpad", name, value, " (or None to count)")
    mask = _check_mask(key_padding_mask, x.shape[0], x.shape[1], x.device, of="x")
    lens = mask.sum(dim=1, dtype=torch.int32)
    cu_seqlens = F.pad(torch.cumsum(lens, dim=0, dtype=torch.int32), (1, 0))
    if total is None:
        indices = torch.nonzero(mask.flatten(), as_tuple=False).flatten()
    else:
        indices = torch.nonzero_static(mask.flatten(), size=total).flatten()
    if (total is not None or max_seqlen is not None) and (
        x.device.type == "cpu" and not capturing()
    ):
        _check_hints(lens, total, max_seqlen)  # free here; on a GPU, a synchronisation
    if max_seqlen is None:
        max_seqlen = int(lens.max()) if lens.numel() else 0
    values = x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])[indices]
    return Unpadded(values, indices, cu_seqlens, max_seqlen)


def pad(
    values: torch.Tensor, indices: torch.Tensor, batch: int, seqlen: int, *, check: bool = True
) -> torch.Tensor:
    """The inverse of ``unpad``: (B, N, ...) with ``values`` at ``indices`` and zeros at the
    padding. ``check`` validates ``indices`` (on a GPU one device synchronisation; pass
    False for indices that ``unpad`` made; not under ``torch.compile``, which does not
    read values)."""
    if not isinstance(values, torch.Tensor) or values.dim() < 1:
        raise AttentionInputError("pad: values must be a torch.Tensor of shape (total, ...)")
    if (
        not isinstance(indices, torch.Tensor)
        or indices.dim() != 1
        or indices.dtype not in (torch.int32, torch.int64)
    ):
        raise AttentionInputError(
            "pad: indices must be a 1-D int64 (or int32) tensor, as unpad returns; got "
            + (
                f"{indices.dtype} of shape {tuple(indices.shape)}"
                if isinstance(indices, torch.Tensor)
                else type(indices).__name__
            )
        )
    if indices.device != values.device:
        raise AttentionInputError(
            f"pad: indices are on {indices.device}, values on {values.device}"
        )
    if values.shape[0] != indices.shape[0]:
        raise AttentionInputError(f"pad: {values.shape[0]} values for {indices.shape[0]} indices")
    _check_size("pad", "batch", batch)
    _check_size("pad", "seqlen", seqlen)
    if check and indices.numel() and not capturing():
        low, high = (int(x) for x in torch.aminmax(indices))
        if low < 0 or high >= batch * seqlen:
            raise AttentionInputError(
                f"pad: index {low if low < 0 else high} is outside the {batch} x {seqlen} "
                "positions; pass the batch and length unpad was given"
            )
    out = values.new_zeros((batch * seqlen, *values.shape[1:]))
    out = out.index_put((indices,), values)
    return out.view(batch, seqlen, *values.shape[1:])


def _sdpa_varlen(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu: torch.Tensor,
    max_seqlen: int,
    opts: AttentionOptions,
) -> torch.Tensor:
    batch = cu.numel() - 1
    lens = (cu[1:] - cu[:-1]).long()
    valid = torch.arange(max_seqlen, device=q.device)[None, :] < lens[:, None]
    # the real tokens number q.shape[0]: a static size, so no synchronisation (and a
    # graph torch.compile can trace whole); the indices are in range by construction
    indices = torch.nonzero_static(valid.flatten(), size=q.shape[0]).flatten()
    dq, dk, dv = (pad(t, indices, batch, max_seqlen, check=False) for t in (q, k, v))
    out = _sdpa(dq, dk, dv, valid, opts, finite_padding=True)  # (padded with zeros)
    return out.reshape(batch * max_seqlen, *out.shape[2:])[indices]
