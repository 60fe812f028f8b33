"""Pretraining throughput: ``lf.pretrain`` against HF ``transformers.BertForMaskedLM`` fed by
``DataCollatorForLanguageModeling``, in one run, on the same rows, batch and optimizer.

    python benches/bench_pretrain.py                          # CPU, mini config, seq 128
    python benches/bench_pretrain.py --device cuda --preset base --seq 128 512 --batch 256

Both sides train MLM only (15%, 80/10/10) with AdamW on the same packed rows of real text
(bert-base-uncased vocabulary): ours reads them from shards through its own data path
(instance building and masking in Rust, in the loop's process); HF's collator pads and
masks the same rows, given as lists of ids, as a ``DataLoader`` hands them. Throughput
counts non-padding tokens per second over the timed steps (after warm-up), data loading
included; both use torch's fused AdamW (transformers' ``Trainer`` default with torch >= 2.8).
``--compile`` compiles ours (``compile=True``) and times HF twice, eager (as its
``Trainer`` runs by default) and compiled; ratios are against HF eager. On CUDA both run
under bf16 autocast, HF with SDPA attention, ours with the
fused kernels on unpadded tokens; MFU uses 6 x parameters FLOPs per token against the
H200's 790 TFLOP/s bf16 (the figure DESIGN.md uses).
"""

from __future__ import annotations

import argparse
import json
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
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument(
        "--compile", action="store_true",
        help="torch.compile ours, and time HF both eager and compiled",
    )  # fmt: skip
    ap.add_argument(
        "--cuda-graphs", action="store_true",
        help="ours with cuda_graphs=True (static shapes, CUDA-graph replay) as well",
    )  # fmt: skip
    args = ap.parse_args()

    import torch
    import transformers

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
    print("| seq | batch | library | non-padding tokens/s | ratio | MFU |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        shards = lf.build_shards(datasets.corpus_text(args.corpus), Path(scratch) / "s", tok)
        for seq in args.seq:
            config = BertConfig.preset(
                args.preset, vocab_size=tok.vocab_size, max_position_embeddings=max(512, seq)
            )
            params = sum(p.numel() for p in lf.model.BertForMaskedLM(config).parameters())
            total = args.warmup + args.steps
            options = {"batch_size": args.batch, "max_seq_len": seq, "objective": "none",
                       "lr": 1e-4, "warmup": 0.0, "seed": 0}  # fmt: skip
            modes = {f"lexforge{compiled}": {"compile": args.compile}}
            if args.cuda_graphs:
                modes["lexforge, CUDA graphs"] = {"cuda_graphs": True}
            rates = {}
            for name, mode in modes.items():
                result = pretrain(
                    shards, Path(scratch) / f"ours-{seq}-{len(rates)}", model=config,
                    steps=total, log_every=args.warmup, device=args.device, progress=False, keep=0,
                    **mode, **options,
                )  # fmt: skip
                timed = [r for r in result.history if r["split"] == "train"][1:]
                rates[name] = sum(r["tokens_per_s"] for r in timed) / len(timed)
            rows = _rows(shards, args.batch, seq, total)
            hf = "HF BertForMaskedLM + collator"
            rates[hf] = _hf(rows, hf_tok, config, args, total)
            if args.compile:  # HF as users run it (eager) and compiled
                rates[hf + ", compiled"] = _hf(rows, hf_tok, config, args, total, compile=True)
            theirs = rates[hf]
            for name, rate in rates.items():
                mfu = 6 * params * rate / PEAK_BF16 if args.device.startswith("cuda") else None
                print(
                    f"| {seq} | {args.batch} | {name} | {rate:,.0f} | {rate / theirs:.2f}x HF | "
                    f"{'' if mfu is None else f'{mfu:.1%}'} |",
                    flush=True,
                )
    print(json.dumps({"params": params, "preset": args.preset}))


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
    step_model = torch.compile(model) if compile else model
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
        batch = {k: v.to(args.device) for k, v in collator(examples).items()}
        with autocast:
            loss = step_model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    return tokens / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
