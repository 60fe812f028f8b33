"""Fused attention throughput: lexforge's Triton kernels against PyTorch's SDPA (each
backend pinned) and FlexAttention, in one process, on the same inputs.

Case groups (bf16 unless ``--dtype``; fp16 under ``--smoke``, see below):

- ``bert``: H=12, D=64, N in {128, 512}, B·N = 65,536 tokens; forward, forward+backward;
- ``long``: N in {1024, 4096, 8192}, D=64 with H=16 and D=128 with H=8, B·N = 32,768;
- ``padded``: H=12, D=64, N in {128, 512, 2048}, B·N = 65,536 positions, lengths uniform
  in [N/4, N] (seeded): ours with ``key_padding_mask`` (and with ``lengths``), ours
  ``attention_varlen`` on the same real tokens (unpadded outside the timed region), SDPA
  with a (B, 1, 1, N) bool mask (each backend pinned, and unpinned), Flex with a padding
  block mask.

Where ours takes the fused backward (forward+backward, N up to
``lexforge.kernels.attention.fused_backward_max_keys``, 128 on a GPU), it also runs with
the split backward ("lexforge split bwd": dQ by a kernel of its own), for comparison. For
N up to 128 ours also runs with the other forward kernel: "lexforge short fwd" (one tile
per sequence, a persistent grid; ours without dropout since it was timed here on
2026-12-04, see ``short_forward_max_len``) or "lexforge tiled fwd", whichever ours is not.

FLOPs count real tokens only: forward 4·H·D·Σ_b len_b² (4·B·H·N²·D dense), backward 2.5×
that, forward+backward 3.5×. Times are medians of ``triton.testing.do_bench`` (L2 flushed
between calls); for N <= 512 also of ``do_bench_cudagraph`` (no launch overhead). Each
contender gets the better of the two; the table says which.

Layouts: ours takes (B, N, H, D); SDPA and Flex get contiguous (B, H, N, D) copies of the
same data (their preferred layout), so no contender pays for a transpose.

Before timing, each contender's output (and its gradients, for forward+backward) is
compared with float32 SDPA-math on the real tokens of three sequences. A backend that
refuses a case (FLASH with a mask) is "n/a"; one off by more than the tolerance is
"WRONG" and not timed; if ours is WRONG the rest of the case is skipped. Gradient errors
are divided by max(1, max |reference gradient|).

    python benches/bench_attention.py --out "$OUT"      # H200: every group
    python benches/bench_attention.py --quick           # BERT shapes + one padded case
    TRITON_INTERPRET=1 python benches/bench_attention.py --smoke --out /tmp/smoke   # CPU

``--dropout P`` times every contender with attention dropout P (BERT trains with 0.1):
the correctness guard still runs without it (no two libraries draw the same numbers);
Flex, which has no dropout, is left out.

``--quick`` is meant to fit in about two minutes. In a full run Flex is compiled afresh
for each case (and our kernels autotune once per shape), which dominates the wall time:
bound it with ``--time-limit`` (no case starts after it), ``--no-flex`` or ``--groups``.

``--smoke`` runs tiny shapes on the CPU (Triton interpreter, SDPA math only, no Flex or
CUDA graphs, a perf_counter loop for timing): a crash check, not a measurement. It runs
fp16, since triton 3.9's interpreter gets ``tl.dot`` of bf16 tiles wrong. Results:
a Markdown table per group on stdout and in ``DIR/attention.md``, every number in
``DIR/attention.json``; both are rewritten after each case, so a killed run keeps what it
measured. ``kernels/gpu_run.sh`` runs this on the GPU machine after the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import inspect
import itertools
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if "--smoke" in sys.argv:  # before triton is imported: it reads the switch once
    os.environ.setdefault("TRITON_INTERPRET", "1")

import torch
import triton
import triton.testing
from torch.nn import functional as F  # noqa: N812 (torch's own spelling)
from torch.nn.attention import SDPBackend, sdpa_kernel

import lexforge
from lexforge.kernels import attention as kernels
from lexforge.ops import attention, attention_varlen, unpad

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine

BERT_TOKENS, LONG_TOKENS = 65_536, 32_768
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
TOLERANCE = {"bf16": 2e-2, "fp16": 1e-2, "fp32": 1e-3}
CUDAGRAPH_MAX_N = 512
OURS, VARLEN, SPLIT = "lexforge", "lexforge varlen", "lexforge split bwd"
# the dropout every contender applies now: 0 while checked against the reference, the
# settings' while timed (set by run_contender)
DROPOUT = {"p": 0.0}
SHORT_MAX = 128  # the longest sequence the short-sequence forward is timed at
GROUPS = {
    "bert": "BERT shapes: H=12, D=64, B·N = 65,536 tokens",
    "long": "Long sequences: D=64 with H=16, D=128 with H=8, B·N = 32,768 tokens",
    "padded": "Padded batches: H=12, D=64, lengths uniform in [N/4, N]; FLOPs on real tokens",
}


@dataclass(frozen=True)
class Case:
    group: str
    batch: int
    seqlen: int
    heads: int
    head_dim: int
    backward: bool
    padded: bool = False

    @property
    def label(self) -> str:
        pass_ = "fwd+bwd" if self.backward else "fwd"
        return f"N={self.seqlen} B={self.batch} H={self.heads} D={self.head_dim} {pass_}"


@dataclass(frozen=True)
class Settings:
    device: str
    dtype: str
    sdpa: tuple[str, ...]  # pinned SDPA backends; the targets compare against the first
    sdpa_default: bool  # also SDPA unpinned, on padded cases
    flex: bool
    cudagraphs: bool
    warmup_ms: int
    rep_ms: int
    dropout: float = 0.0  # attention dropout while timing (the guard runs without)


@dataclass
class Inputs:
    """One case's tensors, (B, N, H, D), real at every position, and its padding."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    grad: torch.Tensor  # the upstream gradient of the output, 0 at padding
    lengths: torch.Tensor  # (B,) int32 on the device
    mask: torch.Tensor  # (B, N) bool, True at real tokens
    lens: list[int]  # the same lengths on the host


@dataclass
class Contender:
    """A forward call returning the output; gradients are taken w.r.t. ``inputs``.
    ``layout`` is "bnhd", "bhnd" or "packed" (its cu_seqlens in ``starts``)."""

    name: str
    call: Callable[[], torch.Tensor]
    inputs: tuple[torch.Tensor, ...]
    grad: torch.Tensor
    layout: str
    context: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
    graphable: bool = True  # no host synchronisation: may be captured in a CUDA graph
    starts: tuple[int, ...] = ()


def case_list(args: argparse.Namespace) -> list[Case]:
    """The cases of the chosen groups, in order; --quick and --smoke pick their own."""
    passes = (False, True)  # forward, forward+backward
    if args.smoke:
        cases = [
            *(Case("bert", 2, 32, 2, 32, b) for b in passes),
            Case("long", 1, 64, 2, 64, False),
            *(Case("padded", 2, 32, 2, 32, b, padded=True) for b in passes),
        ]
        return [c for c in cases if c.group in args.groups]
    bert = [Case("bert", BERT_TOKENS // n, n, 12, 64, b) for n in (128, 512) for b in passes]
    long = [
        Case("long", max(1, LONG_TOKENS // n), n, 1024 // d, d, b)
        for n in (1024, 4096, 8192)
        for d in (64, 128)
        for b in passes
    ]
    padded = [
        Case("padded", BERT_TOKENS // n, n, 12, 64, b, padded=True)
        for n in (128, 512, 2048)
        for b in passes
    ]
    if args.quick:
        padded = [c for c in padded if c.seqlen == 512 and not c.backward]
        long = []
    return [c for c in (*bert, *long, *padded) if c.group in args.groups]


def flops(case: Case, lens: list[int]) -> float:
    forward = 4.0 * case.heads * case.head_dim * sum(n * n for n in lens)
    return forward * (3.5 if case.backward else 1.0)


def make_inputs(case: Case, s: Settings) -> Inputs:
    g = torch.Generator(device=s.device).manual_seed(case.seqlen * 100 + case.head_dim)
    shape = (case.batch, case.seqlen, case.heads, case.head_dim)
    q, k, v, grad = (
        torch.randn(shape, generator=g, device=s.device).to(DTYPES[s.dtype]) for _ in range(4)
    )
    n = case.seqlen
    if case.padded:
        host = torch.Generator().manual_seed(n)
        lengths = torch.randint(n // 4, n + 1, (case.batch,), generator=host, dtype=torch.int32)
    else:
        lengths = torch.full((case.batch,), n, dtype=torch.int32)
    lengths = lengths.to(s.device)
    mask = torch.arange(n, device=s.device)[None, :] < lengths[:, None]
    grad = grad.masked_fill(~mask[:, :, None, None], 0.0)  # a loss ignores the padding
    return Inputs(q, k, v, grad, lengths, mask, lengths.tolist())


def leaves(*ts: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(t.detach().contiguous().requires_grad_() for t in ts)


def contenders(case: Case, x: Inputs, s: Settings) -> list[Contender]:
    """Ours first: the case stops if ours is wrong."""
    mask = x.mask if case.padded else None
    bnhd = leaves(x.q, x.k, x.v)
    bhnd = leaves(*(t.transpose(1, 2) for t in (x.q, x.k, x.v)))
    grad_bhnd = x.grad.transpose(1, 2).contiguous()
    out = [
        Contender(
            OURS, lambda: ours(bnhd, mask), bnhd, x.grad, "bnhd",
        )
    ]  # fmt: skip
    if case.backward and triton.next_power_of_2(case.seqlen) <= kernels.fused_backward_max_keys:
        # ours uses the fused backward here: the split one beside it, for the record
        out.append(
            Contender(SPLIT, lambda: ours(bnhd, mask), bnhd, x.grad, "bnhd", split_backward)
        )  # fmt: skip
    if triton.next_power_of_2(case.seqlen) <= SHORT_MAX:
        # the other forward kernel beside ours: short if ours is tiled here, else tiled
        short_default = triton.next_power_of_2(case.seqlen) <= kernels.short_forward_max_len and (
            DROPOUT["p"] == 0 or kernels.short_forward_dropout
        )
        out.append(
            Contender(
                "lexforge tiled fwd" if short_default else "lexforge short fwd",
                lambda: ours(bnhd, mask), bnhd, x.grad, "bnhd",
                lambda: forward_kernel_limit(0 if short_default else SHORT_MAX),
            )
        )  # fmt: skip
    if case.padded:
        out += [
            Contender(
                "lexforge lengths",
                lambda: attention(
                    *bnhd, lengths=x.lengths, dropout_p=DROPOUT["p"], backend="triton"
                ),
                bnhd, x.grad, "bnhd", graphable=False,  # it checks the lengths on the host
            ),
            varlen_contender(x),
        ]  # fmt: skip
    sdpa_mask = x.mask[:, None, None, :] if case.padded else None

    def sdpa() -> torch.Tensor:
        return F.scaled_dot_product_attention(
            bhnd[0], bhnd[1], bhnd[2], attn_mask=sdpa_mask, dropout_p=DROPOUT["p"]
        )

    for name in s.sdpa:
        pin = getattr(SDPBackend, name)
        pinned = Contender(
            f"SDPA {name}", sdpa, bhnd, grad_bhnd, "bhnd", lambda p=pin: sdpa_kernel(p)
        )
        out.append(pinned)
    if case.padded and s.sdpa_default:
        out.append(Contender("SDPA unpinned", sdpa, bhnd, grad_bhnd, "bhnd"))
    if s.flex and not s.dropout:
        out.append(flex_contender(case, x, bhnd, grad_bhnd))
    return out


def ours(qkv: tuple[torch.Tensor, ...], mask: torch.Tensor | None) -> torch.Tensor:
    return attention(*qkv, key_padding_mask=mask, dropout_p=DROPOUT["p"], backend="triton")


@contextlib.contextmanager
def split_backward() -> Any:
    """Our kernels with the fused backward turned off (dQ by a kernel of its own)."""
    limit = kernels.fused_backward_max_keys
    kernels.fused_backward_max_keys = 0
    try:
        yield
    finally:
        kernels.fused_backward_max_keys = limit


@contextlib.contextmanager
def forward_kernel_limit(limit: int) -> Any:
    """Our forward with ``short_forward_max_len`` set to ``limit`` (0: the tiled kernel
    always; 128: the short-sequence kernel up to 128 positions)."""
    before = kernels.short_forward_max_len, kernels.short_forward_dropout
    kernels.short_forward_max_len, kernels.short_forward_dropout = limit, limit > 0
    try:
        yield
    finally:
        kernels.short_forward_max_len, kernels.short_forward_dropout = before


def varlen_contender(x: Inputs) -> Contender:
    packed = [unpad(t, x.mask) for t in (x.q, x.k, x.v, x.grad)]
    cu, max_seqlen = packed[0].cu_seqlens, packed[0].max_seqlen
    qkv = leaves(*(p.values for p in packed[:3]))
    return Contender(
        VARLEN,
        lambda: attention_varlen(
            qkv[0], qkv[1], qkv[2], cu, max_seqlen, check=False, dropout_p=DROPOUT["p"],
            backend="triton",
        ),
        qkv, packed[3].values, "packed", starts=tuple(cu.tolist()),
    )  # fmt: skip


def flex_contender(
    case: Case, x: Inputs, bhnd: tuple[torch.Tensor, ...], grad: torch.Tensor
) -> Contender:
    """Flex compiled for this shape alone (past Dynamo's recompile limit it would silently
    run eagerly). The block mask, built at the first call so that a failure there is
    reported like any other, drops padded keys and padded queries."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    torch._dynamo.reset()
    compiled = torch.compile(flex_attention, dynamic=False)
    lengths, n = x.lengths, case.seqlen

    def real(b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
        return (q_idx < lengths[b]) & (kv_idx < lengths[b])

    @functools.cache
    def block_mask() -> Any:
        if not case.padded:
            return None
        return create_block_mask(real, case.batch, None, n, n, device=x.q.device)

    return Contender(
        "FlexAttention", lambda: compiled(*bhnd, block_mask=block_mask()), bhnd, grad, "bhnd"
    )


# ---------------------------------------------------------------------------------------
# correctness guard


def sequence(t: torch.Tensor, c: Contender, b: int, length: int) -> torch.Tensor:
    """Sequence b's real tokens of an output-shaped tensor, as (length, H, D) float32."""
    if c.layout == "bnhd":
        rows = t[b, :length]
    elif c.layout == "bhnd":
        rows = t[b, :, :length].transpose(0, 1)
    else:
        rows = t[c.starts[b] : c.starts[b] + length]
    return rows.float()


def references(x: Inputs, samples: list[int], backward: bool) -> list[list[torch.Tensor]]:
    """Per sampled sequence: float32 SDPA-math output (and dq, dk, dv) on its real tokens."""
    refs = []
    for b in samples:
        n = x.lens[b]
        q, k, v = leaves(*(t[b, :n].float().transpose(0, 1)[None] for t in (x.q, x.k, x.v)))
        with sdpa_kernel(SDPBackend.MATH):
            out = F.scaled_dot_product_attention(q, k, v)
        found = [out]
        if backward:
            grad = x.grad[b, :n].float().transpose(0, 1)[None]
            found += torch.autograd.grad(out, (q, k, v), grad)
        refs.append([r.detach()[0].transpose(0, 1) for r in found])
    return refs


def errors(
    c: Contender, x: Inputs, samples: list[int], refs: list[list[torch.Tensor]]
) -> tuple[float, float]:
    """Max error of the output, and of the gradients (scaled), on the sampled sequences."""
    backward = len(refs[0]) > 1
    with torch.set_grad_enabled(backward):  # as timed: Flex compiles per grad mode
        out = c.call()
    got = [out]
    if backward:
        got += torch.autograd.grad(out, c.inputs, c.grad)
    out_err, grad_err = 0.0, 0.0
    for b, ref in zip(samples, refs, strict=True):
        n = x.lens[b]
        out_err = max(out_err, (sequence(got[0], c, b, n) - ref[0]).abs().max().item())
        for t, r in zip(got[1:], ref[1:], strict=True):
            err = (sequence(t, c, b, n) - r).abs().max().item()
            grad_err = max(grad_err, err / max(1.0, r.abs().max().item()))
    return out_err, grad_err


# ---------------------------------------------------------------------------------------
# timing


def timed(c: Contender, backward: bool) -> Callable[[], object]:
    """The timed call: the forward (without autograd: nothing follows it), or the forward
    and the gradients of q, k and v."""
    if backward:
        return lambda: torch.autograd.grad(c.call(), c.inputs, c.grad)

    def forward() -> object:
        with torch.no_grad():
            return c.call()

    return forward


def measure(fn: Callable[[], object], graph: bool, s: Settings) -> dict[str, Any]:
    """Milliseconds by each method that applies, and the better one."""
    found: dict[str, float] = {}
    row: dict[str, Any] = {"ms_by_method": found}
    if s.device == "cpu":  # smoke mode: the timing code runs, the number means little
        found["perf_counter"] = wall_ms(fn)
    else:
        bench = triton.testing.do_bench(fn, warmup=s.warmup_ms, rep=s.rep_ms, return_mode="median")
        found["do_bench"] = float(bench)
    if graph:
        try:
            found["cudagraph"] = cudagraph_ms(fn, s.rep_ms)
        except Exception as e:  # a failed capture leaves do_bench's time
            row["cudagraph_error"] = describe(e)
    row["method"] = min(found, key=found.__getitem__)
    row["ms"] = found[row["method"]]
    return row


def wall_ms(fn: Callable[[], object], calls: int = 2) -> float:
    walls = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        walls.append((time.perf_counter() - start) * 1e3)
    return statistics.median(walls)


def cudagraph_ms(fn: Callable[[], object], rep_ms: int) -> float:
    bench = triton.testing.do_bench_cudagraph
    options: dict[str, Any] = {"rep": rep_ms}
    if "return_mode" in inspect.signature(bench).parameters:
        options["return_mode"] = "median"
    torch.cuda.synchronize()
    with torch.cuda.stream(torch.cuda.Stream()):  # older triton refuses the default stream
        return float(bench(fn, **options))


def run_contender(
    c: Contender, case: Case, x: Inputs, refs: list[list[torch.Tensor]], s: Settings
) -> dict[str, Any]:
    row: dict[str, Any] = {"name": c.name, "status": "ok"}
    samples = sample_rows(case)
    with c.context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SDPA explains at length why a backend refused
        try:
            start = time.perf_counter()
            row["err"], row["grad_err"] = errors(c, x, samples, refs)
            row["first_call_s"] = time.perf_counter() - start  # autotuning, compiling
        except Exception as e:  # an SDPA backend refusing the case is not a failure
            refused = "error" if c.name.startswith("lexforge") else "n/a"
            return {**row, "status": refused, "error": describe(e)}
        if max(row["err"], row["grad_err"]) >= TOLERANCE[s.dtype]:
            return {**row, "status": "WRONG"}
        DROPOUT["p"] = s.dropout
        try:
            fn = timed(c, case.backward)
            fn()  # the backward's autotuning, outside the timed region
            graph = s.cudagraphs and c.graphable and case.seqlen <= CUDAGRAPH_MAX_N
            row.update(measure(fn, graph, s))
            row["tflops"] = flops(case, x.lens) / row["ms"] / 1e9
        except Exception as e:
            refused = "error" if c.name.startswith("lexforge") or not s.dropout else "n/a"
            return {**row, "status": refused, "error": describe(e)}
        finally:
            DROPOUT["p"] = 0.0
    return row


def sample_rows(case: Case) -> list[int]:
    return sorted({0, case.batch // 2, case.batch - 1})


def describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


# ---------------------------------------------------------------------------------------
# one case, the targets


def run_case(case: Case, s: Settings) -> dict[str, Any]:
    record: dict[str, Any] = {**asdict(case), "label": case.label, "contenders": []}
    x = make_inputs(case, s)
    record["real_tokens"] = sum(x.lens)
    record["flops"] = flops(case, x.lens)
    refs = references(x, sample_rows(case), case.backward)
    for c in contenders(case, x, s):
        row = run_contender(c, case, x, refs, s)
        record["contenders"].append(row)
        print(f"  {c.name:<18} {cell(row)}", flush=True)
        if c.name == OURS and row["status"] != "ok":
            record["error"] = f"ours is {row['status']}: case not timed"
            break
    record["targets"] = targets(case, record["contenders"], s)
    for t in record["targets"]:
        print(f"  {target_line(t)}", flush=True)
    return record


def targets(case: Case, rows: list[dict[str, Any]], s: Settings) -> list[dict[str, Any]]:
    """The goals of the fused-attention issue, each with its measured ratio."""
    timed_rows = {r["name"]: r for r in rows if "ms" in r}
    ours = timed_rows.get(OURS)
    sdpa = [r for name, r in timed_rows.items() if name.startswith("SDPA")]
    best = min(sdpa, key=lambda r: r["ms"], default=None)
    best_name = best["name"] if best else "none ran"
    if case.padded:
        return [
            target(case, f"time / best masked SDPA ({best_name})", ours, best, 0.5, True),
            target(case, f"time / {VARLEN}", ours, timed_rows.get(VARLEN), 1.25, True),
        ]
    primary = f"SDPA {s.sdpa[0]}"
    found = [
        target(
            case, f"TFLOP/s / {primary}", ours, timed_rows.get(primary),
            1.0 if case.backward else 1.15, False,
        )
    ]  # fmt: skip
    if case.seqlen <= 512:
        found.append(target(case, f"TFLOP/s / best SDPA ({best_name})", ours, best, 1.0, False))
    return found


def target(
    case: Case, what: str, ours: dict[str, Any] | None, other: dict[str, Any] | None,
    goal: float, by_time: bool,
) -> dict[str, Any]:  # fmt: skip
    """Ours against ``other``: a time ratio (at most ``goal``) or a TFLOP/s ratio (at least)."""
    ratio = None
    if ours and other:
        ratio = ours["ms"] / other["ms"] if by_time else ours["tflops"] / other["tflops"]
    met = ratio is not None and (ratio <= goal if by_time else ratio >= goal)
    verdict = "n/a" if ratio is None else "PASS" if met else "MISS"
    return {
        "case": case.label, "what": what, "ratio": ratio, "goal": goal, "by_time": by_time,
        "verdict": verdict,
    }  # fmt: skip


# ---------------------------------------------------------------------------------------
# the report


def cell(row: dict[str, Any]) -> str:
    err = f"err {row['err']:.1e}/{row['grad_err']:.1e}" if "err" in row else ""
    if row["status"] != "ok":
        return f"{row['status']} {err} {row.get('error', '')}".strip()
    return f"{row['ms']:.3f} ms  {row['tflops']:.1f} TFLOP/s  ({row['method']})  {err}"


def target_line(t: dict[str, Any]) -> str:
    ratio = "n/a" if t["ratio"] is None else f"{t['ratio']:.2f}x"
    sign = "<=" if t["by_time"] else ">="
    return f"{t['verdict']} {t['case']}: {t['what']} = {ratio} (goal {sign} {t['goal']}x)"


def render(report: dict[str, Any]) -> str:
    """The whole report: the header, then a table and the targets per group."""
    parts = [render_header(report["header"])]
    parts += [render_group(report, group) for group in report["groups"]]
    return "\n".join(parts)


def render_header(h: dict[str, Any]) -> str:
    return (
        f"# Fused attention: {h['gpu']}; torch {h['torch']}, triton {h['triton']}, "
        f"lexforge {h['lexforge']}; {h['dtype']}"
        f"{'; attention dropout ' + str(h['settings']['dropout']) if h['settings'].get('dropout') else ''}"
        f"; {h['date']}\n# {h['machine']}\n"
    )


def render_group(report: dict[str, Any], group: str) -> str:
    cases = [c for c in report["cases"] if c["group"] == group]
    lines = [
        f"## {GROUPS[group]} ({report['groups'][group]['elapsed_s']:.0f} s)",
        "",
        "| case | contender | ms | TFLOP/s | lexforge faster by | timing, ms | max err (out / grad) |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        lines += table_rows(case)
    lines += ["", "Targets:", ""]
    lines += [f"- {target_line(t)}" for c in cases for t in c.get("targets", [])]
    return "\n".join(lines) + "\n"


def table_rows(case: dict[str, Any]) -> list[str]:
    if "contenders" not in case or not case["contenders"]:
        return [f"| {case['label']} | — | {case.get('error', 'not run')} | | | | |"]
    ours = next((r for r in case["contenders"] if r["name"] == OURS and "ms" in r), None)
    lines = []
    for r in case["contenders"]:
        err = f"{r['err']:.1e} / {r['grad_err']:.1e}" if "err" in r else ""
        if "ms" not in r:
            status = f"{r['status']}: {r.get('error', '')}".rstrip(": ")
            lines.append(f"| {case['label']} | {r['name']} | {status} | | | | {err} |")
            continue
        faster = f"{r['ms'] / ours['ms']:.2f}x" if ours else ""
        others = [f"{k} {v:.3f}" for k, v in r["ms_by_method"].items() if k != r["method"]]
        timing = r["method"] + (f" ({', '.join(others)})" if others else "")
        lines.append(
            f"| {case['label']} | {r['name']} | {r['ms']:.3f} | {r['tflops']:.1f} | {faster} "
            f"| {timing} | {err} |"
        )
    return lines


def header(s: Settings) -> dict[str, Any]:
    cuda = s.device == "cuda"
    return {
        "gpu": torch.cuda.get_device_name() if cuda else "CPU (smoke run, Triton interpreter)",
        "torch": torch.__version__,
        "triton": triton.__version__,
        "lexforge": f"{getattr(lexforge, '__version__', '?')} ({Path(lexforge.__file__).parent})",
        "dtype": s.dtype,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "settings": asdict(s),
    }


def save(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "attention.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "attention.md").write_text(render(report))


def settings_from(args: argparse.Namespace) -> Settings:
    if args.smoke:  # the interpreter multiplies bf16 tiles wrongly in tl.dot (triton 3.9)
        return Settings(
            "cpu", args.dtype or "fp16", ("MATH",), False, False, False, 0, 0, args.dropout
        )  # fmt: skip
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --smoke on the CPU")
    return Settings(
        "cuda", args.dtype or "bf16", ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION"),
        True, not args.no_flex, True, args.warmup, args.rep, args.dropout,
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--dtype", choices=DTYPES, help="bf16 (fp16 with --smoke)")
    ap.add_argument(
        "--out", type=Path, default=Path(os.environ.get("OUT") or "bench-attention-out")
    )
    ap.add_argument("--quick", action="store_true", help="BERT shapes and one padded case")
    ap.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU (interpreter)")
    ap.add_argument("--groups", nargs="+", choices=GROUPS, default=list(GROUPS))
    ap.add_argument("--no-flex", action="store_true", help="skip FlexAttention (compiles)")
    ap.add_argument("--warmup", type=int, default=25, help="do_bench warm-up, ms")
    ap.add_argument("--rep", type=int, default=100, help="do_bench repetitions, ms")
    ap.add_argument("--time-limit", type=float, help="start no case after this many seconds")
    ap.add_argument("--dropout", type=float, default=0.0, help="attention dropout while timed")
    args = ap.parse_args()

    s = settings_from(args)
    report: dict[str, Any] = {"header": header(s), "groups": {}, "cases": []}
    print(render_header(report["header"]), flush=True)
    began = time.monotonic()
    for group, cases in itertools.groupby(case_list(args), key=lambda c: c.group):
        info = report["groups"].setdefault(group, {"elapsed_s": 0.0})
        for case in cases:
            start = time.monotonic()
            late = args.time_limit is not None and start - began > args.time_limit
            report["cases"].append(guarded_case(case, s, late))
            info["elapsed_s"] += time.monotonic() - start
            save(report, args.out)
        print(f"\n[{group}] {info['elapsed_s']:.1f} s\n\n{render_group(report, group)}", flush=True)
    print(f"total {time.monotonic() - began:.1f} s; written to {args.out}/attention.md and .json")


def guarded_case(case: Case, s: Settings, late: bool) -> dict[str, Any]:
    """run_case, with its failure recorded instead of raised, and memory freed after."""
    print(f"[{case.group}] {case.label}", flush=True)
    record: dict[str, Any] = {**asdict(case), "label": case.label}
    if late:
        return {**record, "error": "skipped: --time-limit"}
    try:
        record = run_case(case, s)
    except Exception as e:  # recorded; the next case still runs
        record["error"] = describe(e)
        print(f"  case failed: {record['error']}", flush=True)
    gc.collect()
    if s.device == "cuda":
        torch.cuda.empty_cache()
    return record


if __name__ == "__main__":
    main()
