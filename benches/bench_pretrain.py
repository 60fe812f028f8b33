"""Pretraining throughput: ``lf.pretrain`` against HF ``transformers.BertForMaskedLM`` fed by
``DataCollatorForLanguageModeling``, in one run, on the same rows, batch and optimizer.

    python benches/bench_pretrain.py                          # CPU, mini config, seq 128
    python benches/bench_pretrain.py --device cuda --preset base --seq 128 512 --batch 256

Both sides train MLM only (15%, 80/10/10) with AdamW on the same packed rows of real text
(bert-base-uncased vocabulary): ours reads them from shards through its own data path
(instance building and masking in Rust, in the loop's process); HF's collator pads and
masks the same rows, given as lists of ids, as a ``DataLoader`` hands them. Throughput is
non-padding tokens over seconds, both summed over the same timed steps (after ``--warmup``
untimed ones), data loading included; HF's tokens are counted from the collated batch on the
host, before its copy to the device, so counting adds no device sync. Both use torch's fused
AdamW (transformers' ``Trainer`` default with torch >= 2.8).

``--compile`` compiles ours (``compile=True``), ``--cuda-graphs`` adds ours with CUDA graphs
(compiled too); with either, HF is timed twice, eager (as its ``Trainer`` runs by default)
and compiled (``torch.compile(model, dynamic=True)``), and each of our rows gets both ratios: ``vs HF
eager`` and ``vs HF compiled``. On CUDA both run under bf16 autocast, HF with SDPA
attention, ours with the fused kernels on unpadded tokens. The ``6N-MFU`` column counts 6 x
parameters FLOPs per token for both sides (our parameter count), against the H200's 790
TFLOP/s bf16 (the figure DESIGN.md uses); it counts the full vocabulary decoder for both,
though ours computes it at the masked positions alone, so it overstates our FLOPs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine

PEAK_BF16 = 790e12


def workload(doc: str | None) -> argparse.ArgumentParser:
    """The arguments that say what is trained: device, preset, lengths, batch, corpus."""
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--preset", default="mini")
    ap.add_argument("--seq", type=int, nargs="+", default=[128])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--corpus", default="wiki-leads")
    return ap


def main() -> None:
    ap = workload(__doc__)
    ap.add_argument("--steps", type=int, default=30, help="timed steps per side")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first, per side")
    ap.add_argument(
        "--compile", action="store_true",
        help="torch.compile ours, and time HF both eager and compiled",
    )  # fmt: skip
    ap.add_argument(
        "--cuda-graphs", action="store_true",
        help="ours with cuda_graphs=True (static shapes, CUDA-graph replay) as well, and HF "
        "both eager and compiled",
    )  # fmt: skip
    args = ap.parse_args()
    if args.steps < 1:
        ap.error(
            f"--steps (timed steps per side, after --warmup) must be at least 1, got {args.steps}"
        )
    if args.warmup < 0:
        ap.error(
            f"--warmup (untimed steps before the timed ones) must be 0 or more, got {args.warmup}"
        )
    if args.batch < 1 or min(args.seq) < 1:
        ap.error("--batch and --seq must be at least 1")
    if args.cuda_graphs and not args.device.startswith("cuda"):
        ap.error("--cuda-graphs needs a CUDA device (--device cuda)")

    import torch
    import transformers

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error(f"--device {args.device}: this machine has no CUDA GPU; use --device cpu")

    import lexforge as lf
    from lexforge import datasets
    from lexforge.model import BertConfig
    from lexforge.train import pretrain

    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    hf_tok = transformers.BertTokenizerFast(
        tokenizer_file=str(datasets.files("bert-base-uncased")["tokenizer.json"])
    )
    compiled = ", compiled" if args.compile else ""
    print(f"# pretraining throughput, {args.preset}, {args.device}{compiled}; {machine()}")
    print(f"# torch {torch.__version__}, transformers {transformers.__version__}")
    compiled_hf = args.compile or args.cuda_graphs
    ratios = "vs HF eager | vs HF compiled" if compiled_hf else "vs HF eager"
    print(f"| seq | batch | library | non-padding tokens/s | {ratios} | 6N-MFU |")
    print(f"|---|---|---|---|{'---|' * (2 if compiled_hf else 1)}---|")
    with tempfile.TemporaryDirectory() as scratch:
        shards = lf.build_shards(datasets.corpus_text(args.corpus), Path(scratch) / "s", tok)
        for seq in args.seq:
            config = BertConfig.preset(
                args.preset, vocab_size=tok.vocab_size, max_position_embeddings=max(512, seq)
            )
            params = sum(p.numel() for p in lf.model.BertForMaskedLM(config).parameters())
            total = args.warmup + args.steps
            rows = _rows(shards, args.batch, seq, total)
            step_tokens = [sum(len(e["input_ids"]) for e in b) for b in rows]
            options = {"batch_size": args.batch, "max_seq_len": seq, "objective": "none",
                       "lr": 1e-4, "warmup": 0.0, "seed": 0}  # fmt: skip
            modes = {f"lexforge{compiled}": {"compile": args.compile}}
            if args.cuda_graphs:
                modes["lexforge, CUDA graphs"] = {"cuda_graphs": True}
            rates = {}
            for name, mode in modes.items():
                # log lines at the last warm-up step and at the end (gcd: lines every
                # log_every steps), so the timed steps are whole windows
                result = pretrain(
                    shards, Path(scratch) / f"ours-{seq}-{len(rates)}", model=config,
                    steps=total, log_every=math.gcd(args.warmup, args.steps),
                    device=args.device, progress=False, keep=0, **mode, **options,
                )  # fmt: skip
                rates[name] = _timed_rate(result.history, step_tokens, args.warmup)
            hf = "HF BertForMaskedLM + collator"
            rates[hf] = _hf(rows, hf_tok, config, args, total)
            if compiled_hf:  # HF as users run it (eager) and compiled, like ours
                rates[hf + ", compiled"] = _hf(rows, hf_tok, config, args, total, compile=True)
            for name, rate in rates.items():
                mfu = 6 * params * rate / PEAK_BF16 if args.device.startswith("cuda") else None
                vs = [f"{rate / rates[h]:.2f}x" for h in rates if h.startswith("HF")]
                print(
                    f"| {seq} | {args.batch} | {name} | {rate:,.0f} | {' | '.join(vs)} | "
                    f"{'' if mfu is None else f'{mfu:.1%}'} |",
                    flush=True,
                )
    print(json.dumps({"params": params, "preset": args.preset}))


def _timed_rate(history: list[dict[str, Any]], step_tokens: list[int], warmup: int) -> float:
    """Our run's non-padding tokens over its seconds, both summed over the steps after
    ``warmup``. A log line gives its window's tokens per second; the window's tokens come
    from the same rows (``step_tokens``, per step), so its seconds are their quotient."""
    tokens, seconds, last = 0, 0.0, 0
    for record in history:
        if record["split"] != "train":
            continue
        window = sum(step_tokens[last : record["step"]])
        if last >= warmup:
            tokens, seconds = tokens + window, seconds + window / record["tokens_per_s"]
        last = record["step"]
    return tokens / seconds


def _rows(shards: Any, batch: int, seq: int, steps: int) -> list[list[dict[str, list[int]]]]:
    """The rows our run trained on, unmasked, as lists of ids for HF's collator."""
    import numpy as np

    import lexforge as lf

    stream = lf.PretrainingBatches(
        shards, batch_size=batch, max_seq_len=seq, objective="none", seed=0
    )
    batches = []
    for _, b in zip(range(steps), stream, strict=False):
        ids = np.where(b["labels"] != -100, b["labels"], b["input_ids"])
        lengths = b["attention_mask"].sum(1)
        batches.append(
            [{"input_ids": row[:n].tolist()} for row, n in zip(ids, lengths, strict=True)]
        )
    return batches


def _hf(
    rows: list[Any], hf_tok: Any, config: Any, args: Any, total: int, compile: bool = False
) -> float:
    import contextlib

    import torch
    import transformers

    from lexforge.train._fit import adamw

    hf_config = transformers.BertConfig(
        vocab_size=config.vocab_size, hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_position_embeddings, attn_implementation="sdpa",
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BertForMaskedLM(hf_config).to(args.device)
    model.train()
    # dynamic, as ours: the collator pads each batch to its longest row
    step_model = torch.compile(model, dynamic=True) if compile else model
    # fused, as transformers' Trainer defaults to with torch >= 2.8 ("adamw_torch_fused"),
    # and as lf.pretrain does
    opt = adamw(model.parameters(), lr=1e-4, eps=1e-6, weight_decay=0.01)
    collator = transformers.DataCollatorForLanguageModeling(hf_tok, mlm_probability=0.15)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if args.device.startswith("cuda")
        else contextlib.nullcontext()
    )
    tokens, start = 0, 0.0
    for i, examples in enumerate(rows[:total]):
        if i == args.warmup:
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            tokens, start = 0, time.perf_counter()
        on_host = collator(examples)
        tokens += int(on_host["attention_mask"].sum())  # on the host: no device sync
        batch = {k: v.to(args.device) for k, v in on_host.items()}
        with autocast:
            loss = step_model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    return tokens / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
