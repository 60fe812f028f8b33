"""Reading safetensors files whatever the bytes of their path. safetensors (0.8) writes to
a path that is not valid UTF-8 (a folder named in Latin-1 on Linux, kept by Python as
lone surrogates) but refuses to read from one, with a ``SafetensorError`` that the
callers took for damage: a good checkpoint was "corrupt or truncated", to be deleted.
Such a path is read through its bytes instead: the same tensors, held in memory twice
while they load. Writing is safetensors' own."""

from __future__ import annotations

from pathlib import Path

import torch


def load_file(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of the safetensors file ``path`` (``SafetensorError`` when it is not
    one, ``OSError`` when it cannot be read)."""
    from safetensors.torch import load, load_file

    if _utf8(path):
        return load_file(str(path))
    return load(path.read_bytes())


def tensor_names(path: Path) -> list[str]:
    """The names of the tensors of ``path``, from its header alone where the path is
    UTF-8 (else the whole file is read); errors as :func:`load_file`'s."""
    from safetensors import safe_open

    if _utf8(path):
        with safe_open(str(path), framework="pt") as f:
            return list(f.keys())
    return list(load_file(path))


def _utf8(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # (bytes that are not UTF-8, kept as lone surrogates)
        return False
    return True
