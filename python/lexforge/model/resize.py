"""Growing (or shrinking) a model's vocabulary after tokens were added to its tokenizer,
as transformers' ``resize_token_embeddings`` does: the word embeddings, and the MLM head's
decoder and bias with them, keep their rows; new rows start at the mean of the old ones
(with ``mean_resizing``, transformers' default: a draw around that mean with a billionth of
their covariance, as transformers draws them) or are drawn as at initialisation; new MLM
biases are 0 (the old ones' mean for a decoder of its own, with ``mean_resizing``); the
config's ``vocab_size`` follows.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from .config import BertConfig


def resize_token_embeddings(
    model: nn.Module,
    new_num_tokens: int | None = None,
    pad_to_multiple_of: int | None = None,
    *,
    mean_resizing: bool = True,
) -> nn.Embedding:
    """Resizes ``model``'s vocabulary to ``new_num_tokens`` ids in place (None: its size
    now), rounded up to a multiple of ``pad_to_multiple_of`` when given (64 suits tensor
    cores), as transformers does; returns the word embedding module (the same object,
    with a new weight). Optimizer state for the old weights does not carry over: build the
    optimizer after resizing."""
    config: BertConfig = model.config  # type: ignore[assignment]
    embedding: nn.Embedding = _encoder(model).embeddings.word
    old = embedding.weight
    if new_num_tokens is None:
        new_num_tokens = old.shape[0]
    if isinstance(new_num_tokens, bool) or not isinstance(new_num_tokens, numbers.Integral):
        raise TypeError(f"new_num_tokens must be an int, not {new_num_tokens!r}")
    n = int(new_num_tokens)
    if pad_to_multiple_of is not None:
        multiple = pad_to_multiple_of
        if isinstance(multiple, bool) or not isinstance(multiple, numbers.Integral):
            raise TypeError(f"pad_to_multiple_of must be an int or None, not {multiple!r}")
        if multiple < 1:
            raise ConfigError(f"pad_to_multiple_of must be at least 1, got {multiple}")
        n = -(-n // int(multiple)) * int(multiple)
    if config.pad_token_id is not None and n <= config.pad_token_id:
        raise ConfigError(
            f"new_num_tokens={n} leaves out the padding token (id {config.pad_token_id}); "
            f"keep at least {config.pad_token_id + 1} ids"
        )
    if n == old.shape[0]:
        return embedding
    with torch.no_grad():
        embedding.weight = nn.Parameter(
            _rows(old, n, config.initializer_range, mean_resizing, sample=True),
            requires_grad=old.requires_grad,
        )
    embedding.num_embeddings = n
    head: Any = getattr(model, "mlm", None)
    if head is not None:
        with torch.no_grad():
            if head.decoder is not None:  # its own decoder (tie_word_embeddings=False)
                head.decoder = nn.Parameter(
                    _rows(head.decoder, n, config.initializer_range, mean_resizing, sample=True)
                )
            # new biases: 0, or (an own decoder, mean_resizing) the old ones' mean, as
            # transformers makes them
            mean_bias = mean_resizing and head.decoder is not None
            head.bias = nn.Parameter(
                _rows(head.bias[:, None], n, 0.0, mean_bias, sample=False)[:, 0]
            )
    new_config = config.replace(vocab_size=n)
    for module in model.modules():
        if isinstance(getattr(module, "config", None), BertConfig):
            module.config = new_config
    return embedding


def _encoder(model: nn.Module) -> Any:
    return model if hasattr(model, "embeddings") else model.bert


def _rows(old: torch.Tensor, n: int, std: float, mean: bool, *, sample: bool) -> torch.Tensor:
    """``old`` (rows, dim) cut or grown to ``n`` rows: new rows at the mean of the old
    ones (``sample``: drawn around it with 1e-9 of their covariance, where that is positive
    definite, as transformers draws them), or drawn from N(0, ``std``) (zeros for 0)."""
    kept = min(n, old.shape[0])
    out = old.new_empty((n, old.shape[1]))
    out[:kept] = old[:kept]
    extra = n - kept
    if extra <= 0:
        return out
    if not mean:
        out[kept:] = torch.randn_like(out[kept:]) * std if std else 0.0
        return out
    values = old.detach().float()
    centre = values.mean(0)
    new = centre.expand(extra, -1).clone()
    if sample and values.shape[0] > 1:
        centred = values - centre
        covariance = centred.T @ centred / values.shape[0]
        try:
            draw = torch.distributions.MultivariateNormal(
                centre, covariance_matrix=1e-9 * covariance
            )
            new = draw.sample((extra,))
        except ValueError:  # not positive definite (fewer rows than dims, say): the mean
            pass
    out[kept:] = new.to(out.dtype)
    return out
