"""The whole pretraining data path on one core: text → shards (tokenized, on disk), then
shards → NSP instances → padded, masked batches, as a training loop pulls them.

    python benches/bench_pretraining_data.py

Reports shard building (MB of text per second, 1 and 2 threads) and batch throughput
(tokens per second, rows × length) for 256 × 128 and 64 × 512 batches, and how many
H200-seconds of BERT-base training one CPU core feeds per second.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine

BERT_BASE_PARAMS = 110e6
H200_BF16_FLOPS = 790e12


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpora", nargs="+", default=["wiki-leads", "bbc-news", "news-2017"])
    ap.add_argument("--batches", type=int, default=500, help="batches timed per shape")
    args = ap.parse_args()

    import lexforge as lf
    from lexforge import datasets

    tok = lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])
    files = [datasets.corpus_text(name) for name in args.corpora]
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    gpu_tokens = H200_BF16_FLOPS / (6 * BERT_BASE_PARAMS)
    print(f"# pretraining data path, bert-base-uncased; {machine()}")
    print(f"# corpus: {', '.join(args.corpora)} ({megabytes:.1f} MB)\n")
    print("| stage | threads | throughput |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        shards = None
        for threads in (1, 2):
            out = Path(scratch) / f"shards-{threads}"
            start = time.perf_counter()
            shards = lf.build_shards(files, out, tok, piece_mb=8, num_threads=threads)
            took = time.perf_counter() - start
            print(
                f"| text → shards | {threads} | {megabytes / took:.1f} MB/s, "
                f"{shards.n_tokens / took / 1e6:.2f} M tokens/s |"
            )
        assert shards is not None
        print(f"\n{shards}\n")
        print("| batches | threads | batches/s | M tokens/s | H200-seconds fed per second |")
        print("|---|---|---|---|---|")
        for rows, length in ((256, 128), (64, 512)):
            for threads in (1, 2):
                start = time.perf_counter()  # everything: options check, instance blocks, masks
                stream = lf.PretrainingBatches(
                    shards, batch_size=rows, max_seq_len=length, pad_to="max_length",
                    seed=0, num_threads=threads,
                )  # fmt: skip
                for _ in itertools.islice(stream.iterate(), args.batches):
                    pass
                took = time.perf_counter() - start
                rate = args.batches * rows * length / took
                print(
                    f"| {rows}x{length} NSP, masked | {threads} | {args.batches / took:,.0f} | "
                    f"{rate / 1e6:.1f} | {rate / gpu_tokens:,.0f} |"
                )
    print(
        f"\nAn H200 at full bf16 rate trains BERT-base on {gpu_tokens / 1e6:.2f} M tokens/s "
        "(6 x 110 M FLOPs per token)."
    )


if __name__ == "__main__":
    main()
