"""A safetensors file's tensors in memory of their own. ``safetensors.torch.load_file``
before safetensors 0.8 returns tensors mapped (privately) from the file, read as they are
used: a test that rewrites the file in place afterwards sees its tensors change, or, when
the new file is shorter, dies of SIGBUS (the whole pytest run with it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_file(path: str | Path) -> dict[str, Any]:
    from safetensors.torch import load_file as mapped

    return {name: tensor.clone() for name, tensor in mapped(str(path)).items()}
