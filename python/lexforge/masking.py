"""Masked-language-model masking: ``mask_tokens`` and masking-rate schedules.

The work runs in Rust (``lexforge._core.mask_tokens``) in parallel over rows with the GIL
released; each row draws from a stream seeded by ``(seed, step, row)``, so the output
depends only on the inputs and never on the thread count. This module owns the policy:
argument checking, defaults, dtypes, and NumPy/torch in and out.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from lexforge import _core
from lexforge.errors import ConfigError

__all__ = ["Schedule", "cosine_schedule", "linear_schedule", "mask_tokens"]

Schedule = Callable[[int], float]
Mode = Literal["bernoulli", "exact", "span"]
_ID_DTYPES = (np.int64, np.int32, np.uint32, np.uint16)


def linear_schedule(start: float, end: float, steps: int) -> Schedule:
    """A masking rate going linearly from ``start`` to ``end`` over ``steps``, then staying
    at ``end`` (e.g. 0.30 decaying to 0.15)."""
    if steps <= 0:
        raise ConfigError(f"steps must be positive, got {steps}")
    return lambda step: start + (end - start) * min(max(step, 0), steps) / steps


def cosine_schedule(start: float, end: float, steps: int) -> Schedule:
    """A masking rate going from ``start`` to ``end`` along half a cosine over ``steps``."""
    if steps <= 0:
        raise ConfigError(f"steps must be positive, got {steps}")
    return lambda step: (
        end + (start - end) * 0.5 * (1 + math.cos(math.pi * min(max(step, 0), steps) / steps))
    )


def _array(value: Any, name: str) -> npt.NDArray[Any]:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ConfigError(f"{name} must have shape (batch, length), got shape {array.shape}")
    return array


def mask_tokens(
    input_ids: Any,
    *,
    vocab_size: int,
    mask_token_id: int,
    special_tokens_mask: Any = None,
    special_ids: Iterable[int] | None = None,
    mlm_probability: float | Schedule = 0.15,
    mask_probability: float = 0.8,
    random_probability: float = 0.1,
    mode: Mode = "bernoulli",
    whole_word: bool = False,
    word_ids: Any = None,
    span_probability: float = 0.2,
    max_span: int = 10,
    seed: int = 0,
    step: int = 0,
    num_threads: int | None = None,
) -> tuple[Any, Any]:
    """Picks tokens to predict and corrupts them, BERT-style.

    Args:
        input_ids: (batch, length) integer array (int64, int32, uint32 or uint16; NumPy or
            a CPU torch tensor). Not modified.
        vocab_size: ids must be below it; random replacements are drawn below it.
        mask_token_id: the ``[MASK]`` id.
        special_tokens_mask: (batch, length), nonzero where a token is special or padding.
        special_ids: ids that are special (``[CLS]``, ``[SEP]``, ``[PAD]``...). At least one
            of the two must be given; either way special tokens are never picked and never
            drawn as random replacements.
        mlm_probability: the share of tokens to predict, or a schedule ``step -> share``
            (see :func:`linear_schedule`).
        mask_probability, random_probability: of the picked tokens, the shares replaced by
            ``[MASK]`` and by a random non-special token; the rest stay as they are.
        mode: ``"bernoulli"`` (each token, or word, independently: HF's collator),
            ``"exact"`` (exactly ``round(p × eligible tokens)`` per row) or ``"span"``
            (SpanBERT: geometric spans, ``span_probability`` and ``max_span``, until that
            many tokens are picked).
        whole_word: pick whole words, from ``word_ids`` ((batch, length), -1 for none, as
            ``encode_batch(..., return_word_ids=True)`` gives).
        seed, step: the random stream of row ``r`` is seeded by ``(seed, step, r)``.
        num_threads: threads (default ``LEXFORGE_NUM_THREADS`` or all cores); the result
            does not depend on it.

    Returns:
        ``(input_ids, labels)``: the corrupted ids, same dtype and kind as the input, and
        int64 labels holding the original id at picked positions and -100 elsewhere.

    Raises:
        ConfigError: a wrong dtype or shape, an id outside the vocabulary, a mask id outside
            it, probabilities outside [0, 1] or whose sum exceeds 1, no special-token
            information.
    """
    torch = sys.modules.get("torch")
    was_torch = torch is not None and isinstance(input_ids, torch.Tensor)
    ids = _array(input_ids, "input_ids")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ConfigError(f"input_ids must be integers, got dtype {ids.dtype}")
    if ids.dtype.type not in _ID_DTYPES:
        ids = ids.astype(np.int64)
    ids = np.ascontiguousarray(ids)
    if special_tokens_mask is None and special_ids is None:
        raise ConfigError(
            "pass special_tokens_mask= or special_ids= so that special and padding tokens "
            "are never masked (e.g. special_ids=tokenizer.special_tokens.values())"
        )
    special = None
    if special_tokens_mask is not None:
        special = np.ascontiguousarray(
            _array(special_tokens_mask, "special_tokens_mask"), dtype=np.uint8
        )
        if special.shape != ids.shape:
            raise ConfigError(
                f"special_tokens_mask has shape {special.shape}, input_ids {ids.shape}"
            )
    words = None
    if word_ids is not None:
        words = np.ascontiguousarray(_array(word_ids, "word_ids"), dtype=np.int64)
        if words.shape != ids.shape:
            raise ConfigError(f"word_ids has shape {words.shape}, input_ids {ids.shape}")
    probability = mlm_probability(step) if callable(mlm_probability) else mlm_probability
    if vocab_size <= 0 or not 0 <= mask_token_id < vocab_size:
        raise ConfigError(f"mask_token_id={mask_token_id} must be in [0, vocab_size={vocab_size})")
    flags = sorted({int(i) for i in (special_ids or ()) if 0 <= int(i) < vocab_size})
    out, labels = _core.mask_tokens(
        ids, flags, vocab_size, mask_token_id, float(probability), float(mask_probability),
        float(random_probability), mode, whole_word, seed, step, special, words,
        float(span_probability), max_span, num_threads,
    )  # fmt: skip
    if was_torch:
        assert torch is not None
        return torch.from_numpy(out), torch.from_numpy(labels)
    return out, labels
