"""The attention ops' input checks, all made before any launch: q, k and v; the padding
(a key-padding mask or lengths, turned into the (B, N) bool of real tokens); ``cu_seqlens``
and ``max_seqlen``; the sizes and hints ``pad`` and ``unpad`` take; and the longest
sequence dropout covers. Each raises ``AttentionInputError`` with the fix in its message.
Also the dtypes and head dimensions the kernels are built for.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import torch

from ..errors import AttentionInputError
from .reproducible import capturing

if TYPE_CHECKING:
    from .attention import AttentionOptions

HEAD_DIMS = (32, 64, 128)
"""Head dimensions the Triton kernels are built for (SDPA takes any)."""

MAX_DROPOUT_LEN = 46_340
"""The longest sequence the kernels' dropout numbers cover (query × key positions index
one Philox stream per head, in 32 bits)."""

_DTYPES = (torch.float16, torch.bfloat16, torch.float32)  # the kernels'
_SDPA_DTYPES = (*_DTYPES, torch.float64)  # float64 for gradient checks
_BACKENDS = (None, "triton", "sdpa")


def _check_size(function: str, name: str, value: object, alternative: str = "") -> None:
    if isinstance(value, torch.SymInt):  # traced: a symbolic size, as the model passes
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AttentionInputError(
            f"{function}: {name} must be a non-negative int{alternative}, got {value!r}"
        )


def _check_hints(lens: torch.Tensor, total: int | None, max_seqlen: int | None) -> None:
    """``unpad``'s hints against the mask: a wrong ``total`` repeats or drops tokens, a
    short ``max_seqlen`` has the kernels miss a sequence's last tiles (a longer one only
    costs time)."""
    real, longest = int(lens.sum()), int(lens.max()) if lens.numel() else 0
    if total is not None and total != real:
        raise AttentionInputError(
            f"unpad: total={total} but the mask has {real} real tokens; pass the exact count "
            "(or None to count)"
        )
    if max_seqlen is not None and max_seqlen < longest:
        raise AttentionInputError(
            f"unpad: max_seqlen={max_seqlen} but the longest row has {longest} real tokens; "
            "pass the exact length (or None to count)"
        )


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, packed: bool) -> None:
    rank, layout = (3, "(total_tokens, H, D)") if packed else (4, "(B, N, H, D)")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise AttentionInputError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.layout != torch.strided or t.is_nested:
            raise AttentionInputError(
                f"{name} must be a dense (strided) tensor, got layout {t.layout}"
                + (" (.to_dense() converts)" if t.is_sparse else "")
            )
        if t.dim() != rank:
            raise AttentionInputError(f"{name} must have shape {layout}, got {tuple(t.shape)}")
        if t.dtype not in _SDPA_DTYPES:
            raise AttentionInputError(
                f"{name} has dtype {t.dtype}; attention takes float16, bfloat16 or float32 "
                "(and float64 on the SDPA path)"
                + ("; .float() converts" if t.is_floating_point() else "")
            )
    if not (q.dtype == k.dtype == v.dtype):
        raise AttentionInputError(
            f"q, k and v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}"
        )
    if not (q.device == k.device == v.device):
        raise AttentionInputError(
            f"q, k and v must be on one device, got {q.device}, {k.device}, {v.device}"
        )
    if k.shape != v.shape:
        raise AttentionInputError(
            f"k and v must have one shape, got {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if q.shape[-1] != k.shape[-1] or q.shape[-2] != k.shape[-2]:
        raise AttentionInputError(
            f"q and k must have the same heads and head dim, got {tuple(q.shape)}, {tuple(k.shape)}"
        )
    if not packed and q.shape[0] != k.shape[0]:
        raise AttentionInputError(f"q has batch {q.shape[0]}, k has batch {k.shape[0]}")
    if q.shape[-1] == 0:
        raise AttentionInputError("head dim must be at least 1")


def _describe(x: object) -> str:
    if isinstance(x, torch.Tensor):
        return f"{x.dtype} of shape {tuple(x.shape)}"
    return type(x).__name__


def _check_mask(
    mask: object, batch: int, n: int, device: torch.device, of: str = "q"
) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise AttentionInputError(
            f"key_padding_mask must be a torch.Tensor, got {type(mask).__name__}"
        )
    if mask.dtype != torch.bool:
        # an additive float mask (0 at real tokens, -inf or -10000 at padding) turned
        # into bool by .bool() would be inverted: its fix is named apart
        raise AttentionInputError(
            f"key_padding_mask must be bool (True at real tokens), got {mask.dtype}; "
            "pass attention_mask.bool() for a 0/1 mask"
            + (
                ", or additive_mask == 0 for an additive one (0 at real tokens, a large "
                "negative number at padding)"
                if mask.is_floating_point()
                else ""
            )
        )
    if tuple(mask.shape) != (batch, n):
        raise AttentionInputError(
            f"key_padding_mask must have shape (B, N) = ({batch}, {n}), got {tuple(mask.shape)}"
        )
    if mask.layout != torch.strided:
        raise AttentionInputError(
            f"key_padding_mask must be a dense tensor, got layout {mask.layout}"
            " (.to_dense() converts)"
        )
    if mask.device != device:
        raise AttentionInputError(
            f"key_padding_mask is on {mask.device}, {of} on {device}; "
            f"key_padding_mask.to({of}.device) moves it"
        )
    return mask


def _real_tokens(
    mask: torch.Tensor | None,
    lengths: torch.Tensor | None,
    batch: int,
    n_q: int,
    n_k: int,
    device: torch.device,
) -> torch.Tensor | None:
    """(B, N) bool of real tokens, or None when every position is real."""
    if mask is None and lengths is None:
        return None
    if mask is not None and lengths is not None:
        raise AttentionInputError("pass key_padding_mask or lengths, not both")
    if n_q != n_k:
        raise AttentionInputError(
            f"a padding mask needs self-attention shapes (Nq == Nk), got Nq={n_q}, Nk={n_k}"
        )
    if mask is not None:
        return _check_mask(mask, batch, n_k, device)
    assert lengths is not None
    if not isinstance(lengths, torch.Tensor) or lengths.dtype not in (
        torch.int32,
        torch.int64,
    ):
        raise AttentionInputError(
            f"lengths must be an int32 or int64 tensor of shape (B,), got {_describe(lengths)}"
            + (" (lengths.long() converts)" if isinstance(lengths, torch.Tensor) else "")
        )
    if tuple(lengths.shape) != (batch,):
        raise AttentionInputError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
    if lengths.device != device:
        raise AttentionInputError(f"lengths is on {lengths.device}, q on {device}")
    # the range check reads the values (a host synchronisation): eager only; a traced
    # graph clamps them to [0, N] instead
    if not capturing() and lengths.numel() and bool((lengths < 0).any() | (lengths > n_k).any()):
        raise AttentionInputError(f"lengths must lie in [0, {n_k}]")
    return torch.arange(n_k, device=device)[None, :] < lengths[:, None]


def _check_cu_seqlens(
    cu: object, max_seqlen: int, total: int, device: torch.device, check: bool
) -> None:
    if not isinstance(cu, torch.Tensor) or cu.dtype != torch.int32 or cu.dim() != 1:
        fix = (
            " (cu_seqlens.int() converts)" if isinstance(cu, torch.Tensor) and cu.dim() == 1 else ""
        )
        raise AttentionInputError(
            f"cu_seqlens must be a 1-D int32 tensor of B+1 offsets, got {_describe(cu)}{fix}"
        )
    if cu.numel() < 1:
        raise AttentionInputError(
            "cu_seqlens must hold B+1 offsets, at least [0] (an empty batch, as unpad gives)"
        )
    if cu.device != device:
        raise AttentionInputError(f"cu_seqlens is on {cu.device}, q on {device}")
    if not isinstance(check, bool):
        raise AttentionInputError(f"check must be True or False, got {check!r}")
    _check_size("attention_varlen", "max_seqlen", max_seqlen, " (the longest sequence)")
    if not check or capturing():  # the check reads values: eager only
        return
    lens = cu[1:] - cu[:-1]
    first, last = int(cu[0]), int(cu[-1])
    if first != 0 or last != total or bool((lens < 0).any()):
        raise AttentionInputError(
            f"cu_seqlens must start at 0, never decrease and end at the token count {total}; "
            f"got {cu.tolist() if cu.numel() <= 16 else 'a tensor that does not'}"
        )
    if lens.numel() and int(lens.max()) > max_seqlen:
        raise AttentionInputError(
            f"max_seqlen={max_seqlen} but a sequence has {int(lens.max())} tokens"
        )


def _check_dropout(opts: AttentionOptions, n: int) -> None:
    """The kernels' dropout: sequences it covers, and a warning where the rate it applies
    (a multiple of 1/256) is far from the one asked for (below about 0.01)."""
    if opts.dropout_p == 0:
        return
    if n > MAX_DROPOUT_LEN:
        raise AttentionInputError(
            f"attention dropout covers sequences up to {MAX_DROPOUT_LEN} tokens, got {n}; "
            "pass dropout_p=0 for longer ones"
        )
    from ..kernels.attention_dropout import dropout_rate

    applied = dropout_rate(opts.dropout_p)
    if abs(applied - opts.dropout_p) > 0.25 * opts.dropout_p:
        warnings.warn(
            f"dropout_p={opts.dropout_p:g}: the Triton kernels drop at multiples of 1/256, so "
            f"at {applied:.6f} here; pass a rate of at least 0.01 (or backend='sdpa', which "
            "drops at the rate given)",
            RuntimeWarning,
            stacklevel=3,
        )
