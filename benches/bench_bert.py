"""The full BERT pipeline (normalize, pre-tokenize, WordPiece, [CLS]/[SEP], truncate and pad
to 128, NumPy out) against HF ``tokenizers`` ``encode_batch`` on the same lines, same
process, with bert-base-uncased's ``tokenizer.json``; Chinese with bert-base-chinese; and a
byte-level BPE (GPT-2's vocabulary) as model inputs the same way (truncated, padded with
``<|endoftext|>``), HF reading the ``tokenizer.json`` lexforge saves.

HF reads ``RAYON_NUM_THREADS`` at import, so run once per thread count. HF is timed on
``encode_batch`` alone (its Encoding objects, no NumPy conversion), which favours HF.

    python benches/bench_bert.py --threads 1
    python benches/bench_bert.py --threads 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import corpus, machine


def lines_of(path: Path, limit_mb: float) -> list[str]:
    out, size = [], 0
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            out.append(line)
            size += len(line.encode("utf-8"))
            if size >= limit_mb * 1e6:
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", default="sharegpt", help="English lines (dataset name or file)")
    ap.add_argument("--mb", type=float, default=20.0)
    ap.add_argument(
        "--zh-mb", type=float, default=5.0, help="Chinese text (peoples-daily, repeated)"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8192, help="lines per encode_batch call")
    ap.add_argument("--max-length", type=int, default=128)
    args = ap.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    if args.threads == 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"

    import tokenizers

    import lexforge as lf
    from lexforge import datasets

    english = lines_of(corpus(args.corpus, args.mb * 1.5), args.mb)
    chinese_path = corpus("peoples-daily", args.zh_mb)
    chinese = lines_of(chinese_path, args.zh_mb)
    print(
        f"# BERT pipeline, truncate/pad to {args.max_length}, threads={args.threads}, "
        f"batches of {args.batch} lines; {machine()}"
    )
    print("| text | tokenizer | library | MB/s | lines/s | ratio |")
    print("|---|---|---|---|---|---|")
    gpt2 = lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"])
    gpt2_json = Path(os.environ.get("TMPDIR", "/tmp")) / "lexforge-bench-gpt2.json"
    gpt2.save(gpt2_json)
    cases = [
        ("English", english, datasets.files("bert-base-uncased")["tokenizer.json"], None),
        ("Chinese", chinese, datasets.files("bert-base-chinese")["vocab.txt"], False),
        ("English", english, gpt2_json, None),
    ]
    for name, lines, path, lowercase in cases:
        nbytes = sum(len(s.encode("utf-8")) for s in lines)
        batches = [lines[i : i + args.batch] for i in range(0, len(lines), args.batch)]
        kw = {"max_length": args.max_length, "truncation": True, "padding": "max_length"}
        pad_id = 0
        if path == gpt2_json:  # byte-level BPE: no [PAD]; "<|endoftext|>" is special, as in HF
            ours, pad_id = gpt2, 50256
            kw |= {"pad_token_id": pad_id, "allowed_special": "all"}
            theirs = tokenizers.Tokenizer.from_file(str(path))
        elif path.suffix == ".json":
            ours = lf.Tokenizer.from_file(path)
            theirs = tokenizers.Tokenizer.from_file(str(path))
        else:
            ours = lf.Tokenizer.from_vocab(path, lowercase=lowercase)
            theirs = tokenizers.BertWordPieceTokenizer(
                str(path), lowercase=bool(lowercase)
            )._tokenizer
        theirs.enable_truncation(args.max_length)
        theirs.enable_padding(length=args.max_length, pad_id=pad_id)

        def run_ours() -> object:
            return [
                ours.encode_batch(b, return_tensors="np", num_threads=args.threads, **kw)
                for b in batches
            ]

        def run_hf() -> object:
            return [theirs.encode_batch(b) for b in batches]

        timings = {}
        for lib, fn in (("lexforge", run_ours), ("HF tokenizers", run_hf)):
            best = float("inf")
            for _ in range(2):
                start = time.perf_counter()
                out = fn()
                best = min(best, time.perf_counter() - start)
            timings[lib] = (best, out)
        ours_out, hf_out = timings["lexforge"][1], timings["HF tokenizers"][1]
        same = all(
            (o["input_ids"] == [e.ids for e in h]).all()  # type: ignore[index]
            for o, h in zip(ours_out, hf_out, strict=True)  # type: ignore[call-overload]
        )
        for lib, (t, _) in timings.items():
            ratio = timings["HF tokenizers"][0] / t
            print(
                f"| {name} | {path.parent.name}/{path.name} | {lib} | {nbytes / t / 1e6:.2f} | "
                f"{len(lines) / t:,.0f} | {ratio:.1f}x HF |"
            )
        print(
            f"\n{name}: {nbytes / 1e6:.1f} MB, {len(lines):,} lines; identical input_ids: {same}\n"
        )


if __name__ == "__main__":
    main()
