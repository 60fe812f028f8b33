"""Readable pure-Python reference implementations, the oracles the fast paths are tested
against. They are slow by design; use them to understand or check, not to run."""

from lexforge.reference.bpe import ReferenceBPE, encode_piece, pretokenize, train

__all__ = ["ReferenceBPE", "encode_piece", "pretokenize", "train"]
