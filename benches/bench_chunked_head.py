"""The MLM head scored in chunks (``lexforge.model.chunked_loss``, which ``lf.pretrain`` takes on
the CPU) against the same head scored whole, in one process: the same shards, model,
seed and steps, ``lf.pretrain`` run twice, the second time with the chunked path turned
off. Prints non-padding tokens/s (the mean of the log lines after the first) and the
ratio, and checks that both runs end at the same loss.

    python benches/bench_chunked_head.py                              # tiny, 40% masked
    python benches/bench_chunked_head.py --preset mini --mlm 0.15
    python benches/bench_chunked_head.py --tokenizer /tmp/qs/tokenizer/tokenizer.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--mlm", type=float, default=0.4, help="masking rate")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--corpus", default="wiki-leads")
    ap.add_argument("--tokenizer", help="a tokenizer file (default: bert-base-uncased's)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each, alternating")
    args = ap.parse_args()

    import lexforge as lf
    import lexforge.model.chunked_loss as chunked_loss
    from lexforge import datasets
    from lexforge.model import BertConfig
    from lexforge.train import pretrain

    path = args.tokenizer or datasets.files("bert-base-uncased")["tokenizer.json"]
    tok = lf.Tokenizer.from_file(path)
    config = BertConfig.preset(args.preset, vocab_size=tok.vocab_size)
    usable = chunked_loss.usable
    print(f"# {args.preset}, vocabulary {tok.vocab_size:,}, {args.batch} x {args.seq}, "
          f"{args.mlm:.0%} masked, {args.steps} steps; {machine()}")  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        shards = lf.build_shards(
            datasets.corpus_text(args.corpus), Path(scratch) / "s", tok, progress=False
        )
        rates: dict[str, list[float]] = {"chunked": [], "whole": []}
        losses: dict[str, list[float]] = {"chunked": [], "whole": []}
        for i in range(args.repeat):
            for name in rates:
                chunked_loss.usable = usable if name == "chunked" else (lambda *_: False)
                history: list[dict[str, Any]] = pretrain(
                    shards, Path(scratch) / f"{name}-{i}", model=config, steps=args.steps,
                    log_every=max(1, args.steps // 5), progress=False, keep=0, device="cpu",
                    batch_size=args.batch, max_seq_len=args.seq, objective="none",
                    mlm_probability=args.mlm, lr=1e-3, seed=0,
                ).history  # fmt: skip
                lines = [r["tokens_per_s"] for r in history if "tokens_per_s" in r][1:]
                rates[name].append(sum(lines) / len(lines))
                losses[name].append(history[-1]["mlm_loss"])
        chunked_loss.usable = usable
    print("| head | non-padding tokens/s (each run) | ratio | last MLM loss |")
    print("|---|---|---|---|")
    best = {name: max(r) for name, r in rates.items()}
    for name, r in rates.items():
        runs = ", ".join(f"{x:,.0f}" for x in r)
        last = ", ".join(f"{x:.4f}" for x in losses[name])
        print(f"| {name} | {runs} | {best[name] / best['whole']:.2f}x | {last} |")
    # the same steps on the same batches: the two heads' losses agree to float32 rounding
    apart = [abs(a - b) / abs(b) for a, b in zip(losses["chunked"], losses["whole"], strict=True)]
    if max(apart) > 1e-3:
        sys.exit(f"the chunked and whole heads' last losses differ (by {max(apart):.2e}, "
                 "relative): the runs did not train alike")  # fmt: skip


if __name__ == "__main__":
    main()
