"""The transformers models the HF-interop tests compare with: tiny BERTs built from a
config (never downloaded), their weights moved off the initialisation so that every tensor
matters. Imported by test modules after they skip without torch and transformers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import transformers

VOCAB = 120
SIZES = {"vocab_size": VOCAB, "hidden_size": 32, "num_hidden_layers": 2,
         "num_attention_heads": 2, "intermediate_size": 37}  # fmt: skip


def hf_model(cls: Any, path: Path, **config: Any) -> Any:
    """A transformers model of ``cls`` with weights off their initialisation, saved to
    ``path``."""
    torch.manual_seed(0)
    model = cls(transformers.BertConfig(**{**SIZES, **config})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(path)
    return model
