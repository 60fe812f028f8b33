"""Which block shapes, warps and pipeline stages the attention kernels should offer: every
candidate timed on its own, at BERT's shapes, on this GPU.

The autotuner only ever chooses among the configs in ``lexforge.kernels.attention_configs``
(``_configs``); this script measures a wider grid, so that the list can be changed on
evidence. For each kernel and case it pins one candidate at a time (the autotuner is
given that single config, so nothing else is tried), checks the result against the
library's own (autotuned) output, and times the kernel call alone: no autograd, no
wrapper, with CUDA-graph replay where it captures (no launch overhead), else
``do_bench``. Candidates that do not fit the GPU (out of resources, ptxas) are listed as
such.

Kernels and cases (bf16, H=12, D=64, B·N = 65,536 positions; padded: lengths uniform in
[N/4, N], the key-padding mask given):

- ``fwd``: the tiled forward, N=128 and N=512, dense and padded;
- ``short``: the short-sequence forward (one tile per sequence, a persistent grid of
  ``PER_SM`` programs per multiprocessor), N=128, dense and padded;
- ``fused``: the backward that writes dQ in the dK/dV kernel (one key tile holds every
  key), N=128 dense and padded;
- ``dkdv``, ``dq``: the split backward's two kernels, N=512 dense (the other kernel keeps
  its autotuned config; the time is the whole backward's).

    python benches/sweep_attention_configs.py --out DIR                # H200
    python benches/sweep_attention_configs.py --kernels fwd --time-limit 120
    TRITON_INTERPRET=1 python benches/sweep_attention_configs.py --smoke   # CPU crash check

Results: a Markdown table per kernel and case (fastest first; "listed" marks the configs
the library offers, "tuned" the one the autotuner picked) on stdout and in
``DIR/configs.md``, every number in ``DIR/configs.json``, both rewritten after each case.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if "--smoke" in sys.argv:  # before triton is imported: it reads the switch once
    os.environ.setdefault("TRITON_INTERPRET", "1")

import torch
import triton

from lexforge.kernels import attention as kernels

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine
from bench_attention import cudagraph_ms, describe, wall_ms

TOLERANCE = {torch.bfloat16: 2e-2, torch.float16: 1e-2}


@dataclass(frozen=True)
class Shape:
    batch: int
    seqlen: int
    padded: int  # 0 or 1
    heads: int = 12
    head_dim: int = 64

    @property
    def label(self) -> str:
        return f"N={self.seqlen} B={self.batch}{' padded' if self.padded else ''}"


def candidates(kernel: str, smoke: bool) -> list[triton.Config]:
    """The grid for ``kernel``: (BLOCK_M, BLOCK_N or 0 for the launcher's, warps, stages);
    for the short forward, (programs per multiprocessor, warps, stages)."""
    if kernel == "short":
        grid = [
            triton.Config({"PER_SM": c}, num_warps=w, num_stages=s)
            for c, w, s in (
                [(1, 4, 1), (2, 4, 1)] if smoke else itertools.product((1, 2, 4), (4, 8), (1, 2, 3))
            )
        ]
        listed_short = [key(c) for c in kernels._configs("short")]
        return sorted(grid, key=lambda c: key(c) not in listed_short)
    if smoke:
        shapes = [(16, 0, 4, 1), (32, 0, 4, 1)] if kernel == "fused" else [
            (16, 16, 4, 1), (32, 16, 4, 1), (16, 32, 4, 1),
        ]  # fmt: skip
    elif kernel == "fused":
        shapes = [(m, 0, w, s) for m in (16, 32, 64, 128) for w in (4, 8) for s in (1, 2, 3)]
    elif kernel == "fwd":
        shapes = [
            (m, n, w, s)
            for m, n in ((64, 32), (64, 64), (64, 128), (128, 32), (128, 64), (128, 128))
            for w in (4, 8)
            for s in (1, 2, 3, 4)
        ]
    else:  # dkdv, dq
        shapes = [
            (m, n, w, s)
            for m, n in ((32, 64), (64, 32), (64, 64), (64, 128), (128, 64), (32, 128))
            for w in (4, 8)
            for s in (1, 2, 3)
        ]
    grid = [
        triton.Config({"BLOCK_M": m, **({"BLOCK_N": n} if n else {})}, num_warps=w, num_stages=s)
        for m, n, w, s in shapes
    ]
    listed = [key(c) for c in kernels._configs("bwd" if kernel in ("dkdv", "dq") else kernel)]
    # the library's own first: under a time limit they are measured before the rest
    return sorted(grid, key=lambda c: key(c) not in listed)


def key(c: triton.Config) -> tuple[int, int, int, int, int]:
    return (
        c.kwargs.get("BLOCK_M", 0), c.kwargs.get("BLOCK_N", 0), c.kwargs.get("PER_SM", 0),
        c.num_warps, c.num_stages,
    )  # fmt: skip


def name(c: tuple[int, int, int, int, int]) -> str:
    m, n, per_sm, w, s = c
    if per_sm:
        return f"{per_sm}/SM w{w} s{s}"
    return f"{m}x{n or 'all'} w{w} s{s}"


def tuner(kernel: str) -> Any:
    return {
        "fwd": kernels._fwd_kernel,
        "short": kernels._fwd_short_kernel,
        "fused": kernels._bwd_fused_kernel,
        "dkdv": kernels._bwd_dkdv_kernel,
        "dq": kernels._bwd_dq_kernel,
    }[kernel]


@contextlib.contextmanager
def pinned(kernel: str, config: triton.Config | None) -> Iterator[None]:
    """The kernel's autotuner holding only ``config`` (None: its own list, tuned afresh).
    The backward's kernel choice follows ``kernel``: the fused one, or the split pair; the
    forward's too: the short-sequence kernel for ``short``, else the tiled one."""
    t = tuner(kernel)
    configs, cache = t.configs, dict(t.cache)
    fused_keys = kernels.fused_backward_max_keys
    short_len, short_dropout = kernels.short_forward_max_len, kernels.short_forward_dropout
    kernels.short_forward_max_len = 128 if kernel == "short" else 0
    kernels.short_forward_dropout = kernel == "short"
    if config is not None:
        t.configs = [config]
    t.cache.clear()
    kernels.fused_backward_max_keys = fused_keys if kernel == "fused" else 0
    try:
        yield
    finally:
        t.configs = configs
        t.cache.clear()
        t.cache.update(cache)
        kernels.fused_backward_max_keys = fused_keys
        kernels.short_forward_max_len, kernels.short_forward_dropout = short_len, short_dropout


class Case:
    """One shape's tensors, and the kernel calls on them."""

    def __init__(self, shape: Shape, dtype: torch.dtype, device: str) -> None:
        g = torch.Generator(device=device).manual_seed(shape.seqlen)
        dims = (shape.batch, shape.seqlen, shape.heads, shape.head_dim)
        self.q, self.k, self.v, self.do = (
            torch.randn(dims, generator=g, device=device).to(dtype) for _ in range(4)
        )
        n = shape.seqlen
        if shape.padded:
            host = torch.Generator().manual_seed(n)
            lengths = torch.randint(n // 4, n + 1, (shape.batch,), generator=host)
        else:
            lengths = torch.full((shape.batch,), n)
        mask = torch.arange(n)[None, :] < lengths[:, None]
        self.mask = mask.to(device) if shape.padded else None
        self.info = (
            kernels.sequence_info(self.mask, "mask", n)
            if self.mask is not None
            else kernels.sequence_info(lengths.to(device), "lengths", n)
        )
        self.seed = torch.zeros(1, dtype=torch.int64, device=device)
        self.options = {
            "varlen": False, "n_q": n, "n_k": n, "causal": False,
            "scale": shape.head_dim**-0.5, "dropout_p": 0.0, "seed": self.seed,
        }  # fmt: skip
        self.o, self.lse = self.forward()

    def bytes_mask(self) -> torch.Tensor | None:
        return None if self.mask is None else self.mask.view(torch.uint8)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return kernels.forward(  # type: ignore[no-any-return]
            self.q, self.k, self.v, self.info, self.bytes_mask(), **self.options
        )

    def backward(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return kernels.backward(  # type: ignore[no-any-return]
            self.do, self.q, self.k, self.v, self.o, self.lse, self.info, self.bytes_mask(),
            **self.options,
        )  # fmt: skip

    def call(self, kernel: str) -> Callable[[], tuple[torch.Tensor, ...]]:
        return self.forward if kernel in ("fwd", "short") else self.backward


def error(got: tuple[torch.Tensor, ...], want: tuple[torch.Tensor, ...]) -> float:
    """The largest difference over the outputs, relative to each one's largest value."""
    worst = 0.0
    for a, b in zip(got, want, strict=True):
        scale = max(1.0, float(b.float().abs().max()))
        worst = max(worst, float((a.float() - b.float()).abs().max()) / scale)
    return worst


def time_ms(fn: Callable[[], object], device: str, rep_ms: int) -> tuple[float, str]:
    if device == "cpu":  # smoke mode: the timing code runs, the number means little
        return wall_ms(fn), "perf_counter"
    try:
        return cudagraph_ms(fn, rep_ms), "cudagraph"
    except Exception:  # a failed capture: do_bench, launch overhead included
        bench = triton.testing.do_bench(fn, rep=rep_ms, return_mode="median")
        return float(bench), "do_bench"


def sweep(kernel: str, shape: Shape, args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    case = Case(shape, args.dtype, args.device)
    run = case.call(kernel)
    with pinned(kernel, None):  # the library as it ships: tuned among its own list
        want = run()
        tuned = tuner(kernel).best_config if hasattr(tuner(kernel), "best_config") else None
        baseline, _ = time_ms(run, args.device, args.rep_ms)
    listed = {key(c) for c in kernels._configs("bwd" if kernel in ("dkdv", "dq") else kernel)}
    kernels._short_unfit.clear()
    rows = []
    for config in candidates(kernel, args.smoke):
        if time.monotonic() > deadline:
            rows.append({"config": name(key(config)), "status": "not run (time limit)"})
            continue
        row: dict[str, Any] = {"config": name(key(config)), "listed": key(config) in listed}
        with pinned(kernel, config):
            try:
                err = error(run(), want)
                row["error"] = err
                if err > TOLERANCE[args.dtype]:
                    row["status"] = "WRONG"
                else:
                    row["ms"], row["method"] = time_ms(run, args.device, args.rep_ms)
                    row["status"] = "ok"
            except Exception as e:  # out of resources, ptxas, a compile error
                row["status"] = describe(e)
        if kernels._fused_unfit:  # the fused kernel did not fit: backward() fell back
            row.pop("ms", None)
            row["status"] = "does not fit (the backward fell back to the split kernels)"
            kernels._fused_unfit.clear()
        if kernels._short_unfit:  # the short forward did not fit: the tiled one ran
            row.pop("ms", None)
            row["status"] = "does not fit (the forward fell back to the tiled kernel)"
            kernels._short_unfit.clear()
        rows.append(row)
    timed = sorted((r for r in rows if "ms" in r), key=lambda r: r["ms"])
    rest = [r for r in rows if "ms" not in r]
    return {
        "kernel": kernel,
        "case": shape.label,
        "library_ms": baseline,
        "tuned": None if tuned is None else name(key(tuned)),
        "rows": timed + rest,
    }


def render(results: list[dict[str, Any]], header: str) -> str:
    out = [header, ""]
    for r in results:
        out += [
            f"## {r['kernel']}, {r['case']}: the library (autotuned, picks "
            f"{r['tuned'] or '?'}) {r['library_ms']:.4f} ms",
            "",
            "| config | ms | vs library | listed | max error | status |",
            "|---|---|---|---|---|---|",
        ]
        for row in r["rows"]:
            ms, err = row.get("ms"), row.get("error")
            cells = [
                row["config"],
                "" if ms is None else f"{ms:.4f}",
                "" if ms is None else f"{r['library_ms'] / ms:.2f}x",
                "yes" if row.get("listed") else "",
                "" if err is None else f"{err:.1e}",
                row["status"],
            ]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    kinds = ("fwd", "short", "fused", "dkdv", "dq")
    ap.add_argument("--kernels", nargs="+", choices=kinds, default=list(kinds))
    ap.add_argument("--out", type=Path)
    ap.add_argument("--time-limit", type=float, default=float("inf"), help="seconds")
    ap.add_argument("--rep-ms", type=int, default=60)
    ap.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU (interpreter)")
    args = ap.parse_args()
    args.device = "cpu" if args.smoke else "cuda"
    args.dtype = torch.float16 if args.smoke else torch.bfloat16
    if not args.smoke and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --smoke (and TRITON_INTERPRET=1) on the CPU")
    deadline = time.monotonic() + args.time_limit
    if args.smoke:
        plan = {"fwd": [Shape(2, 40, False), Shape(2, 40, True)], "fused": [Shape(2, 24, True)],
                "short": [Shape(2, 24, True)], "dkdv": [Shape(2, 40, False)],
                "dq": [Shape(2, 40, False)]}  # fmt: skip
    else:
        s128, p128, s512, p512 = (Shape(65_536 // n, n, p) for n in (128, 512) for p in (0, 1))
        plan = {"fwd": [s128, s512, p128, p512], "short": [s128, p128], "fused": [s128, p128],
                "dkdv": [s512], "dq": [s512]}  # fmt: skip
    header = (
        f"# attention kernel configs, {'smoke (CPU interpreter)' if args.smoke else 'bf16'}; "
        f"{machine()}; torch {torch.__version__}, triton {triton.__version__}"
    )
    results: list[dict[str, Any]] = []
    for kernel, shape in itertools.chain.from_iterable(
        ((k, s) for s in plan[k]) for k in args.kernels
    ):
        results.append(sweep(kernel, shape, args, deadline))
        text = render(results[-1:], "")
        print(text, flush=True)
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "configs.md").write_text(render(results, header))
            (args.out / "configs.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
