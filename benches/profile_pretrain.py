"""Where a pretraining step's time goes: ``lf.pretrain`` and HF ``BertForMaskedLM`` (the
two sides of ``bench_pretrain.py``, on the same rows) under ``torch.profiler``.

    python benches/profile_pretrain.py --device cuda --preset base --seq 128 --batch 128 --out DIR

For each side it prints the host's wall time per optimizer step (between optimizer-step
hooks, so nothing is synchronised that the loop does not synchronise itself), the device's
kernel time per step, and the kernels and host operators that take the most time, over
``--active`` steps after ``--skip`` steps (autotuning, allocator warm-up). The ratio of
kernel time to wall time says whether a side is bound by the GPU (near 1) or by the host
(well under 1). With ``--out`` the tables go to ``DIR/profile-<side>-<mode>-<seq>.txt`` and our
trace to ``DIR/trace-ours-<mode>-<seq>.json.gz`` (chrome://tracing, Perfetto).
"""

from __future__ import annotations

import gzip
import importlib
import itertools
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pretrain import _hf, _rows, workload


@contextmanager
def profiled(skip: int, active: int, device: str) -> Iterator[tuple[Any, list[float]]]:
    """A profiler that advances at every optimizer step (of any optimizer), and the host
    times of those steps."""
    import torch

    hooks = importlib.import_module("torch.optim.optimizer")
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.startswith("cuda"):
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    schedule = torch.profiler.schedule(wait=skip, warmup=1, active=active, repeat=1)
    stamps: list[float] = []
    with torch.profiler.profile(activities=activities, schedule=schedule) as prof:

        def advance(*_: Any) -> None:
            stamps.append(time.perf_counter())
            prof.step()

        handle = hooks.register_optimizer_step_post_hook(advance)
        try:
            yield prof, stamps
        finally:
            handle.remove()


def report(name: str, prof: Any, stamps: list[float], skip: int, active: int) -> str:
    """Per-step wall and kernel times, then the top kernels and host operators."""
    events = prof.key_averages()
    import torch

    kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
    device_total = sum(e.self_device_time_total for e in kernels) / 1e3
    intervals = [b - a for a, b in itertools.pairwise(stamps)][skip + 1 :]
    intervals = intervals[:active] or [float("nan")]
    wall = statistics.median(intervals) * 1e3
    per_step = device_total / active
    lines = [
        f"## {name}",
        f"host wall per step (median of {len(intervals)}): {wall:.2f} ms; "
        f"device kernel time per step: {per_step:.2f} ms; ratio {per_step / wall:.2f}",
        "",
    ]
    for key, rows in (("self_device_time_total", 30), ("self_cpu_time_total", 25)):
        try:
            lines.append(events.table(sort_by=key, row_limit=rows, max_name_column_width=70))
        except (KeyError, AttributeError, RuntimeError) as e:  # a torch without the key
            lines.append(f"(no table by {key}: {e})")
    return "\n".join(lines)


def main() -> None:
    ap = workload(__doc__)
    ap.add_argument("--skip", type=int, default=4, help="steps before profiling")
    ap.add_argument("--active", type=int, default=3, help="profiled steps")
    ap.add_argument("--sides", nargs="+", choices=("ours", "hf"), default=["ours", "hf"])
    ap.add_argument("--out", type=Path)
    ap.add_argument(
        "--mode", nargs="+", choices=("eager", "compile", "cuda_graphs"), default=["eager"],
        help="how ours runs, one profile per mode (HF: compiled unless eager)",
    )  # fmt: skip
    args = ap.parse_args()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error(f"--device {args.device}: this machine has no CUDA GPU; use --device cpu")

    import lexforge as lf
    from lexforge import datasets
    from lexforge.model import BertConfig

    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    total = args.skip + 1 + args.active + 1
    with tempfile.TemporaryDirectory() as scratch:
        shards = lf.build_shards(datasets.corpus_text(args.corpus), Path(scratch) / "s", tok)
        for seq in args.seq:
            config = BertConfig.preset(
                args.preset, vocab_size=tok.vocab_size, max_position_embeddings=max(512, seq)
            )
            for mode in args.mode:
                sides = _sides(shards, scratch, seq, config, total, mode, args)
                for side in args.sides:
                    with profiled(args.skip, args.active, args.device) as (prof, stamps):
                        sides[side]()
                    text = report(f"{side}, {mode}, seq {seq}, batch {args.batch}", prof, stamps,
                                  args.skip, args.active)  # fmt: skip
                    print(text, flush=True)
                    if args.out is not None:
                        _save(args.out, side, mode, seq, text, prof, Path(scratch))


def _sides(
    shards: Any, scratch: str, seq: int, config: Any, total: int, mode: str, args: Any
) -> dict[str, Callable[[], None]]:
    """The two sides' runs, ours in ``mode``, HF compiled unless ``mode`` is eager."""
    from lexforge import datasets
    from lexforge.train import pretrain

    def ours() -> None:
        run = Path(scratch) / f"ours-{seq}-{mode}"
        shutil.rmtree(run, ignore_errors=True)
        pretrain(
            shards, run, model=config, steps=total, log_every=total, keep=0,
            device=args.device, progress=False, batch_size=args.batch,
            max_seq_len=seq, objective="none", lr=1e-4, warmup=0.0, seed=0,
            **({} if mode == "eager" else {mode: True}),
        )  # fmt: skip

    def hf() -> None:
        import transformers

        hf_tok = transformers.BertTokenizerFast(
            tokenizer_file=str(datasets.files("bert-base-uncased")["tokenizer.json"])
        )
        rows = _rows(shards, args.batch, seq, total)
        opts = SimpleNamespace(device=args.device, compile=False, warmup=args.skip)
        _hf(rows, hf_tok, config, opts, total, compile=mode != "eager")

    return {"ours": ours, "hf": hf}


def _save(out: Path, side: str, mode: str, seq: int, text: str, prof: Any, scratch: Path) -> None:
    """The tables, and for ours the trace (gzipped chrome://tracing JSON)."""
    (out / f"profile-{side}-{mode}-{seq}.txt").write_text(text + "\n")
    if side == "ours":
        trace = scratch / "trace.json"
        prof.export_chrome_trace(str(trace))
        target = out / f"trace-ours-{mode}-{seq}.json.gz"
        with trace.open("rb") as src, gzip.open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)


if __name__ == "__main__":
    main()
