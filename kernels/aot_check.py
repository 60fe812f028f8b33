"""Compiles every autotune config of the attention kernels for a GPU that is not here.

Triton compiles ahead of time for any target without a GPU (``triton.compile`` with a
``GPUTarget``; ptxas ships with Triton), so the resources a config needs on an H200 can
be known on the CPU machine: registers per thread, bytes spilled to local memory, shared
memory per block, and whether the loads were software-pipelined (asynchronous copies in
the loop). A config whose shared memory exceeds the block limit would raise
``OutOfResources`` on the GPU; one that spills runs, slowly.

The arguments are specialised as the JIT specialises them at BERT's shapes: pointers and
strides divisible by 16 (without that, 16-bit loads are not vectorised and nothing is
pipelined, so an unspecialised compile says little), the log-sum-exp's unit stride a
constant. Run it with the Triton the GPU machine has (3.6 on the H200 machine: install it
in a separate environment, first on ``PYTHONPATH``), since register allocation changes
between versions.

    python kernels/aot_check.py                  # every kernel, head dims 32/64/128
    python kernels/aot_check.py --quick          # head dim 64, no mask or dropout
    python kernels/aot_check.py --kernels short --dims 64 --blocks 128
    python kernels/aot_check.py --flags dropout mask+dropout   # BERT training's cases
    python kernels/aot_check.py --sass ...       # also SASS instructions and multiply-highs

Prints a Markdown table; exits 1 if a config the pruning keeps needs more shared memory
than the target's block limit.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if os.environ.get("TRITON_INTERPRET") == "1":
    sys.exit("aot_check compiles for a GPU: run it without TRITON_INTERPRET=1")

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from lexforge.kernels import attention as kernels

# sm90: 228 KB of shared memory per multiprocessor, at most 227 KB to one block
SHARED_LIMIT = {90: 232_448, 80: 166_912, 89: 101_376, 100: 232_448}
POINTERS = {"Q", "K", "V", "O", "DO", "DQ", "DK", "DV", "LSE", "DELTA", "INFO", "MASK", "SEED"}
FLOATS = {"qk_scale", "sm_scale", "dropout_p"}


@dataclass(frozen=True)
class Kernel:
    name: str  # attribute of lexforge.kernels.attention (which re-exports the kernels)
    kind: str  # for _configs
    launcher: dict[str, Any]  # constexprs the launcher sets (besides the flags)
    block_arg: str | None = None  # the launcher's tile size, if any ("BLOCK", "BLOCK_N")


KERNELS = {
    "fwd": Kernel("_fwd_kernel", "fwd", {}),
    "short": Kernel("_fwd_short_kernel", "short", {}, "BLOCK"),
    "fused": Kernel("_bwd_fused_kernel", "fused", {"FUSED_DQ": True}, "BLOCK_N"),
    "dkdv": Kernel("_bwd_dkdv_kernel", "bwd", {"FUSED_DQ": False}),
    "dq": Kernel("_bwd_dq_kernel", "bwd", {}),
}


def jit_function(obj: Any) -> Any:
    while not isinstance(obj, triton.runtime.jit.JITFunction):
        obj = obj.fn
    return obj


def source(fn: Any, constexprs: dict[str, Any], dtype: str, mask: bool) -> ASTSource:
    """The kernel's signature, specialised as at BERT's shapes (see the module doc)."""
    signature: dict[str, str] = {}
    attrs: dict[tuple[int, ...], list[list[Any]]] = {}
    consts = dict(constexprs)
    for i, (name, param) in enumerate(zip(fn.arg_names, fn.params, strict=True)):
        if param.is_constexpr:
            signature[name] = "constexpr"
        elif name in POINTERS:
            elem = {"LSE": "fp32", "DELTA": "fp32", "INFO": "i32", "SEED": "i64"}.get(name, dtype)
            if name == "MASK":
                elem = "u8" if mask else "i32"
            signature[name] = "*" + elem
            attrs[(i,)] = [["tt.divisibility", 16]]
        elif name in FLOATS:
            signature[name] = "fp32"
        elif name == "s_ln":  # the log-sum-exp's positions are contiguous
            signature[name] = "constexpr"
            consts[name] = 1
        else:
            signature[name] = "i32"
            if name != "H":  # 12 heads: not a multiple of 16; strides and counts are
                attrs[(i,)] = [["tt.divisibility", 16]]
    if "constexprs" in inspect.signature(ASTSource.__init__).parameters:
        return ASTSource(fn, signature, constexprs=consts, attrs=attrs)
    # Triton 3.0 and 3.1 (torch 2.4's and 2.5's): arguments by index, constexprs apart,
    # the divisibility in an AttrsDescriptor
    from triton.compiler.compiler import AttrsDescriptor

    index = {name: i for i, name in enumerate(fn.arg_names)}
    return ASTSource(
        fn,
        {index[n]: t for n, t in signature.items() if t != "constexpr"},
        constants={index[n]: v for n, v in consts.items()},
        attrs=AttrsDescriptor(divisible_by_16={i for (i,) in attrs}),
    )


def resources(compiled: Any) -> tuple[int, int]:
    """(registers per thread, spill bytes per thread) from the cubin."""
    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(compiled.asm["cubin"])
        f.flush()
        out = subprocess.run(
            [str(tool), "-res-usage", f.name], capture_output=True, text=True, check=True
        ).stdout
    found = re.search(r"REG:(\d+).*?STACK:(\d+)", out)
    if found is None:
        raise RuntimeError(f"cuobjdump gave no resource usage:\n{out}")
    return int(found.group(1)), int(found.group(2))


def sass_counts(compiled: Any) -> tuple[int, int]:
    """(SASS instructions, multiply-highs) of the cubin: static counts, whole kernel. The
    multiply-highs (``IMAD.HI``, ``IMAD.WIDE.U32``) are mostly Philox rounds when dropout
    is on, so they show what the dropout draws cost a tile."""
    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(compiled.asm["cubin"])
        f.flush()
        out = subprocess.run(
            [str(tool), "-sass", f.name], capture_output=True, text=True, check=True
        ).stdout
    lines = [line for line in out.splitlines() if re.search(r"/\*[0-9a-f]{4,}\*/", line)]
    highs = sum(1 for line in lines if re.search(r"IMAD\.(HI|WIDE\.U32)", line))
    return len(lines), highs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernels", nargs="+", choices=sorted(KERNELS), default=list(KERNELS))
    ap.add_argument("--dims", nargs="+", type=int, default=[32, 64, 128])
    ap.add_argument("--blocks", nargs="+", type=int, default=[128, 64],
                    help="the launcher's tile (every key) for the short and fused kernels")  # fmt: skip
    ap.add_argument("--arch", type=int, default=90, help="compute capability x 10")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16"])
    ap.add_argument("--quick", action="store_true", help="head dim 64, the plain case only")
    ap.add_argument("--flags", nargs="+", default=["plain", "causal+mask+dropout"],
                    help="flag sets: plain, or '+'-joined of causal, mask, dropout")  # fmt: skip
    ap.add_argument("--sass", action="store_true",
                    help="also count SASS instructions and multiply-highs")  # fmt: skip
    args = ap.parse_args()
    if "TRITON_INTERPRET" in os.environ:
        del os.environ["TRITON_INTERPRET"]
    dims = [64] if args.quick else args.dims
    names = {"causal": "CAUSAL", "mask": "HAS_MASK", "dropout": "DROPOUT"}
    flag_sets = []
    for text in ["plain"] if args.quick else args.flags:
        on = set() if text == "plain" else set(text.split("+"))
        if not on <= set(names):
            ap.error(f"--flags {text!r}: use plain, or '+'-joined of {', '.join(names)}")
        flag_sets.append({flag: name in on for name, flag in names.items()})
    target = GPUTarget("cuda", args.arch, 128 if args.arch >= 90 else 64)
    limit = SHARED_LIMIT.get(args.arch, 101_376)
    print(f"Triton {triton.__version__}, sm{args.arch}, {args.dtype}; shared limit {limit} B")
    print()
    extra = " SASS | multiply-highs |" if args.sass else ""
    print("| kernel | head dim | tile | config | flags | registers | spill B | shared B | "
          f"async copies | status |{extra}")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if args.sass else ""))
    failures = 0
    for key in args.kernels:
        kernel = KERNELS[key]
        fn = jit_function(getattr(kernels, kernel.name))
        configs = kernels._configs(kernel.kind)
        prune = kernels._prune_short if key == "short" else kernels._prune
        for dim in dims:
            for block in args.blocks if kernel.block_arg else [0]:
                launcher = dict(kernel.launcher, HEAD_DIM=dim, IEEE=False)
                if kernel.block_arg:
                    launcher[kernel.block_arg] = block
                kept = prune(configs, {}, **launcher)
                for config in configs:
                    for flags in flag_sets:
                        constexprs = {**launcher, **flags, **config.kwargs}
                        shape = ", ".join(f"{k}={v}" for k, v in config.kwargs.items())
                        label = f"{shape} w{config.num_warps} s{config.num_stages}"
                        flag_text = "+".join(k for k, v in flags.items() if v) or "plain"
                        if config not in kept:
                            print(f"| {key} | {dim} | {block or ''} | {label} | {flag_text} "
                                  "| | | | | pruned |")  # fmt: skip
                            continue
                        t = time.perf_counter()
                        compiled = triton.compile(
                            source(fn, constexprs, args.dtype, flags["HAS_MASK"]),
                            target=target,
                            options={
                                "num_warps": config.num_warps,
                                "num_stages": config.num_stages,
                            },
                        )
                        regs, spill = resources(compiled)
                        shared = compiled.metadata.shared
                        copies = len(re.findall(r"async_copy_global_to_local|async_tma_copy",
                                                compiled.asm["ttgir"]))  # fmt: skip
                        status = "ok"
                        if shared > limit:
                            status = "**too much shared memory**"
                            failures += 1
                        elif spill:
                            status = "spills"
                        counts = ""
                        if args.sass:
                            counts = " {:,} | {:,} |".format(*sass_counts(compiled))
                        print(
                            f"| {key} | {dim} | {block or ''} | {label} | {flag_text} | {regs} | "
                            f"{spill} | {shared} | {copies} | {status} "
                            f"({time.perf_counter() - t:.1f} s) |{counts}",
                            flush=True,
                        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
