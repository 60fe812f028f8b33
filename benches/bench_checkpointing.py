"""Activation checkpointing: what a training step costs with the layers' activations
recomputed in the backward (``model.activation_checkpointing_enable()``, ``lf.pretrain(...,
gradient_checkpointing=True)``) against keeping them, on the same model and batch.

    python benches/bench_checkpointing.py                                  # CPU, mini, 32 x 128
    python benches/bench_checkpointing.py --device cuda --preset base --batch 64 --seq 512

Per mode: the median seconds of a forward + backward (after warm-up steps), and the bytes
autograd keeps for the backward (``saved_tensors_hooks``; on CUDA also the peak allocated
memory of the step). The gradients of both modes are compared: with the default
(non-reentrant) checkpointing they are equal bit for bit, dropout included.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="mini")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per mode")
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()

    import torch

    from lexforge.model import BertConfig, BertForMaskedLM

    device = torch.device(args.device)
    config = BertConfig.preset(args.preset, vocab_size=30522,
                               max_position_embeddings=max(512, args.seq))  # fmt: skip
    torch.manual_seed(0)
    model = BertForMaskedLM(config).to(device).train()
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, config.vocab_size, (args.batch, args.seq), generator=generator)
    labels = torch.where(torch.rand(ids.shape, generator=generator) < 0.15, ids, -100)
    batch = {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device),
             "labels": labels.to(device)}  # fmt: skip
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else torch.autocast("cpu", enabled=False))  # fmt: skip

    def step(measure: bool) -> tuple[float, int, dict[str, Any]]:
        kept = 0

        def pack(t: Any) -> Any:
            nonlocal kept
            kept += t.numel() * t.element_size()
            return t

        model.zero_grad(set_to_none=True)
        torch.manual_seed(7)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
            if measure:
                with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                    loss = model(**batch).loss
            else:
                loss = model(**batch).loss
        loss.backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        return time.perf_counter() - start, kept, grads

    print(f"# activation checkpointing, {args.preset}, {args.batch} x {args.seq}, "
          f"{args.device}; {machine()}")  # fmt: skip
    print("| mode | step, s (median) | kept for the backward, MB | peak allocated, MB | time |")
    print("|---|---|---|---|---|")
    rows: dict[str, tuple[float, int, float | None]] = {}
    grads: dict[str, dict[str, Any]] = {}
    for mode in ("keep", "recompute"):
        if mode == "recompute":
            model.activation_checkpointing_enable()
        _, kept, grads[mode] = step(measure=True)
        grads[mode] = {n: g.clone() for n, g in grads[mode].items()}
        for _ in range(args.warmup):
            step(measure=False)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = [step(measure=False)[0] for _ in range(args.steps)]
        peak = torch.cuda.max_memory_allocated() / 1e6 if device.type == "cuda" else None
        rows[mode] = (statistics.median(times), kept, peak)
    base = rows["keep"][0]
    for mode, (seconds, kept, peak) in rows.items():
        peak_text = "" if peak is None else f"{peak:,.0f}"
        print(f"| {mode} | {seconds:.3f} | {kept / 1e6:,.1f} | {peak_text} | "
              f"{seconds / base:.2f}x |")  # fmt: skip
    same = all(torch.equal(grads["keep"][n], grads["recompute"][n]) for n in grads["keep"])
    print(f"gradients equal bit for bit: {same}")


if __name__ == "__main__":
    main()
