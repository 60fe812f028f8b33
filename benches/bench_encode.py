"""Byte-level BPE encoding benchmark: lexforge against tiktoken and HF ``tokenizers`` with
the same vocabularies (GPT-2's files, cl100k_base), the same documents, the same process.

Reports MB/s of UTF-8 input and ratios. Threads: lexforge and tiktoken take a thread count
per call; HF reads ``RAYON_NUM_THREADS`` at import, so run this script once per thread count
(``--threads 1`` sets it before importing). Checks that every library returns identical ids.

    python benches/bench_encode.py --corpus sharegpt --mb 100 --threads 1
    python benches/bench_encode.py --corpus sharegpt --mb 100 --threads 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import corpus, machine

CL100K = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
GPT2 = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", default="sharegpt")
    ap.add_argument("--mb", type=float, default=100.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hf-mb", type=float, default=10.0, help="HF is slow: time it on this many MB")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--encodings", nargs="+", default=["gpt2", "cl100k"])
    args = ap.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    if args.threads == 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"

    import tiktoken
    import tokenizers
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks, load_tiktoken_bpe

    import lexforge as lf
    from lexforge import datasets

    path = corpus(args.corpus, args.mb)
    docs = [d for d in path.read_text(encoding="utf-8").split("\n\n") if d]
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    hf_docs, hf_bytes = [], 0
    for d in docs:
        if hf_bytes >= args.hf_mb * 1e6:
            break
        hf_docs.append(d)
        hf_bytes += len(d.encode("utf-8"))
    print(
        f"# encoding {path.name}: {len(docs):,} documents, {nbytes / 1e6:.1f} MB; threads={args.threads}; {machine()}"
    )
    print("| encoding | library | call | MB/s | vs tiktoken | vs HF |")
    print("|---|---|---|---|---|---|")

    for name in args.encodings:
        if name == "gpt2":
            files = datasets.files("gpt2")
            ours = lf.Tokenizer.from_file(files["encoder.json"])
            ranks = data_gym_to_mergeable_bpe_ranks(
                str(files["vocab.bpe"]), str(files["encoder.json"])
            )
            tt = tiktoken.Encoding(
                "gpt2", pat_str=GPT2, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256}
            )
            hf = tokenizers.Tokenizer(
                tokenizers.models.BPE.from_file(str(files["encoder.json"]), str(files["vocab.bpe"]))
            )
            hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
        else:
            rank_file = datasets.files("cl100k_base")["ranks"]
            ours = lf.Tokenizer.from_file(rank_file)
            tt = tiktoken.Encoding(
                "cl100k_base",
                pat_str=CL100K,
                mergeable_ranks=load_tiktoken_bpe(str(rank_file)),
                special_tokens={},
            )
            tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "lexforge-bench-cl100k.json"
            ours.save(tmp)
            hf = tokenizers.Tokenizer.from_file(str(tmp))

        rows: list[tuple[str, str, float]] = []
        t, ours_ids = best_of(
            lambda: ours.encode_batch(docs, disallowed_special=(), num_threads=args.threads),
            args.repeat,
        )
        rows.append(("lexforge", f"encode_batch(num_threads={args.threads})", nbytes / t))
        t, _ = best_of(
            lambda: ours.encode_batch_flat(docs, disallowed_special=(), num_threads=args.threads),
            args.repeat,
        )
        rows.append(("lexforge", f"encode_batch_flat(num_threads={args.threads})", nbytes / t))
        if args.threads == 1:
            t, _ = best_of(lambda: [ours.encode_ordinary(d) for d in docs], args.repeat)
            rows.append(("lexforge", "encode per text", nbytes / t))
            t, _tt_ids = best_of(lambda: [tt.encode_ordinary(d) for d in docs], args.repeat)
            rows.append(("tiktoken", "encode_ordinary per text", nbytes / t))
            # the same with NumPy output (no Python int per token on either side)
            t, _ = best_of(
                lambda: [ours.encode_to_numpy(d, disallowed_special=()) for d in docs], args.repeat
            )
            rows.append(("lexforge", "encode_to_numpy per text", nbytes / t))
            t, _ = best_of(
                lambda: [tt.encode_to_numpy(d, disallowed_special=()) for d in docs], args.repeat
            )
            rows.append(("tiktoken", "encode_to_numpy per text", nbytes / t))
        t, tt_batch = best_of(
            lambda: tt.encode_ordinary_batch(docs, num_threads=args.threads), args.repeat
        )
        rows.append(("tiktoken", f"encode_ordinary_batch(num_threads={args.threads})", nbytes / t))
        t, hf_out = best_of(lambda: hf.encode_batch(hf_docs, add_special_tokens=False), 1)
        rows.append(("HF tokenizers", f"encode_batch ({hf_bytes / 1e6:.0f} MB)", hf_bytes / t))

        same_tt = ours_ids == tt_batch
        same_hf = [e.ids for e in hf_out] == ours_ids[: len(hf_docs)]  # type: ignore[index]
        tiktoken_best = max(r[2] for r in rows if r[0] == "tiktoken")
        hf_best = max(r[2] for r in rows if r[0] == "HF tokenizers")
        for lib, call, rate in rows:
            print(
                f"| {name} | {lib} | {call} | {rate / 1e6:.1f} | {rate / tiktoken_best:.2f} | {rate / hf_best:.1f} |"
            )
        ours_best = max(r[2] for r in rows if r[0] == "lexforge")
        like = {call.split(" ")[0]: rate for lib, call, rate in rows if lib == "lexforge"}
        theirs = {call.split(" ")[0]: rate for lib, call, rate in rows if lib == "tiktoken"}
        pairs = [("encode", "encode_ordinary"), ("encode_to_numpy", "encode_to_numpy")]
        same_call = ", ".join(
            f"{a}: {like[a] / theirs[b]:.2f}x" for a, b in pairs if a in like and b in theirs
        )
        print(
            f"\n{name}, {args.threads} thread(s): lexforge best {ours_best / 1e6:.1f} MB/s = "
            f"{ours_best / tiktoken_best:.2f}x tiktoken's best (target >= 3, stretch 10), "
            f"{ours_best / hf_best:.1f}x HF (target >= 20); same call vs tiktoken: "
            f"{same_call or 'n/a'}; ids identical to tiktoken: {same_tt}, to HF: {same_hf}\n"
        )


if __name__ == "__main__":
    main()
