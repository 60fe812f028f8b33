"""The attention kernels' autotune configs: block shapes, warps and pipeline stages for
each kernel, and the pruning that drops those whose tiles would not fit an sm90 block's
shared memory. Read when the kernel modules are imported (no driver calls: configs are
chosen when a kernel first runs); ``kernels/aot_check.py`` compiles every one for sm90
offline, and ``benches/sweep_attention_configs.py`` times them.
"""

from __future__ import annotations

import os
import re

import triton


def _interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def _configs(kind: str) -> list[triton.Config]:
    """Block shapes, warps and pipeline stages. Under the interpreter, one small config;
    ``LEXFORGE_ATTENTION_CONFIG=i`` (read at import) pins the i-th, so GPU tests can check
    each config without tuning.
    On Hopper (sm90, 228 KB of shared memory per block) every config fits at head dim 128
    in 16-bit types: Q tile + ``num_stages`` × (K and V tiles) stays under 160 KB."""
    if kind == "short":  # PER_SM: programs per multiprocessor (the tile is the launcher's)
        return _short_configs()
    if _interpreted():
        blocks = {"BLOCK_M": 16} if kind == "fused" else {"BLOCK_M": 16, "BLOCK_N": 16}
        return [triton.Config(blocks, num_warps=4, num_stages=1)]
    if kind == "fused":  # BLOCK_N is the launcher's: every key of a sequence, up to 128
        shapes = [(64, 0, 8, 2), (64, 0, 4, 2), (64, 0, 8, 3)]
    elif kind == "fwd":
        shapes = [
            (128, 64, 8, 3),
            (128, 64, 4, 3),
            (128, 128, 8, 2),
            (64, 64, 4, 3),
            (64, 32, 4, 4),
        ]
    else:  # the backward kernels hold more tiles at once
        # (32, 64, 4, 2) is left out: on an H200 with triton 3.6 it gave a wrong dK at
        # head dim 128 in bf16 (2026-11-29), every other config and size being right
        shapes = [(64, 64, 4, 2), (128, 64, 8, 2), (64, 128, 8, 2), (64, 32, 4, 2)]
    configs = [
        triton.Config({"BLOCK_M": m, **({"BLOCK_N": n} if n else {})}, num_warps=w, num_stages=s)
        for m, n, w, s in shapes
    ]
    pinned = os.environ.get("LEXFORGE_ATTENTION_CONFIG", "")
    if pinned.isdigit():  # tests on a GPU: one config (by index), no tuning
        return [configs[int(pinned) % len(configs)]]
    return configs


def _short_configs() -> list[triton.Config]:
    if _interpreted():
        return [triton.Config({"PER_SM": 1}, num_warps=4, num_stages=1)]
    # (programs per multiprocessor, warps, stages). Compiled for sm90 offline with Triton
    # 3.6 (kernels/aot_check.py), at head dim 64: 128 positions fit one 8-warp block per
    # multiprocessor (197-255 registers, 112 KB of shared memory, no spills without
    # dropout; dropout's random numbers spill 272 bytes at 2 stages, and 4.5 KB with 4
    # warps, which only the 64-position tile takes without spilling: 127 registers, 56 KB)
    shapes = [(1, 8, 2), (1, 8, 3), (1, 8, 1), (2, 4, 2), (4, 4, 2)]
    configs = [triton.Config({"PER_SM": c}, num_warps=w, num_stages=s) for c, w, s in shapes]
    pinned = os.environ.get("LEXFORGE_ATTENTION_CONFIG", "")
    if pinned.isdigit():
        return [configs[int(pinned) % len(configs)]]
    return configs


def _prune(
    configs: list[triton.Config], named_args: dict[str, object], **kwargs: object
) -> list[triton.Config]:
    """Drops configs whose tiles would exceed the shared memory an sm90 block gets (the
    autotuner also skips any that fail to compile, so this only saves tuning time)."""
    head_dim = int(kwargs.get("HEAD_DIM", named_args.get("HEAD_DIM", 128)))  # type: ignore[call-overload]
    launcher_n = int(kwargs.get("BLOCK_N", named_args.get("BLOCK_N", 0)))  # type: ignore[call-overload]
    kept = []
    for c in configs:
        m, n = c.kwargs["BLOCK_M"], c.kwargs.get("BLOCK_N", launcher_n)
        tiles = 2 * head_dim * (m + 2 * n * max(c.num_stages, 1))  # 16-bit q, k, v tiles
        if tiles <= 160 * 1024:
            kept.append(c)
    return kept or configs[-1:]


def _prune_short(
    configs: list[triton.Config], named_args: dict[str, object], **kwargs: object
) -> list[triton.Config]:
    """``_prune`` for the short kernel: ``num_stages`` copies of the Q, K and V tiles. With
    a Triton older than 3.6 (the one checked on sm90), no 8 warps on tiles of 64 positions
    or fewer: Triton 3.0 aborts the process compiling them for sm90 (an assertion,
    "mma -> mma layout conversion is only supported on Ampere", which no fallback can
    catch; found compiling every config offline, ``kernels/aot_check.py``)."""
    head_dim = int(kwargs.get("HEAD_DIM", named_args.get("HEAD_DIM", 128)))  # type: ignore[call-overload]
    block = int(kwargs.get("BLOCK", named_args.get("BLOCK", 128)))  # type: ignore[call-overload]
    kept = [c for c in configs if 2 * head_dim * 3 * block * max(c.num_stages, 1) <= 160 * 1024]
    if block <= 64 and _triton_older_than(3, 6):
        kept = [c for c in kept if c.num_warps <= 4] or [
            triton.Config(c.kwargs, num_warps=4, num_stages=c.num_stages) for c in kept[:1]
        ]
    return kept or configs[-1:]


def _triton_older_than(major: int, minor: int) -> bool:
    found = re.match(r"(\d+)\.(\d+)", triton.__version__)
    return found is not None and (int(found[1]), int(found[2])) < (major, minor)
