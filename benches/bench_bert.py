"""The full BERT pipeline (normalize, pre-tokenize, WordPiece, [CLS]/[SEP], truncate and pad
to 128, NumPy out) against HF ``tokenizers`` ``encode_batch`` on the same lines, same
process, with bert-base-uncased's ``tokenizer.json``; Chinese with bert-base-chinese; and a
byte-level BPE (GPT-2's vocabulary) as model inputs the same way (truncated, padded with
``<|endoftext|>``), HF reading the ``tokenizer.json`` lexforge saves.

Both sides compute the same fields: HF's Encoding always holds the ids, type ids, attention
mask, offsets, special-tokens mask and word ids, so ours is asked for all of them
(``return_offsets``, ``return_special_tokens_mask``, ``return_word_ids``); every field is
compared, and the ratio is printed only when all are equal. HF reads ``RAYON_NUM_THREADS``
at import, so run once per thread count. HF is timed on ``encode_batch`` alone (its
Encoding objects, no NumPy conversion), which favours HF.

Each side's first call over the lines is timed on its own ("first call"): a fresh process
pays the kernel for every page of its output then (ours: 7 int64 columns of 8,192 x 128,
56 MiB a batch), which later calls take back from the allocator as earlier outputs are
freed. The ratio is of the best of ``--repeat`` calls after it, as in ``bench_encode.py``;
the first calls' ratio is printed beside it. Each of those calls also releases the call
before it's output, as ``out = tok(batch)`` in a loop does: HF pays the teardown of its
Encodings there (about 8% of its call), lexforge next to nothing. Releasing it before the
timing instead (``del out`` first) changes both sides (2026-12-07, English: ours 32.1 ->
21.9 MB/s, its pages then faulted in afresh; HF 2.02 -> 2.70; 15.9x -> 8.1x).

``--drop`` frees each call's output before the next call, as a training loop or
``datasets.map`` does (the fields are then compared on one more pass that keeps them):

    python benches/bench_bert.py --threads 1 --batch 1000 --max-length 512 --drop

    python benches/bench_bert.py --threads 1
    python benches/bench_bert.py --threads 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

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


FIELDS = ("input_ids", "token_type_ids", "attention_mask", "offsets", "special_tokens_mask",
          "word_ids")  # fmt: skip


def hf_arrays(encodings: list[Any]) -> dict[str, np.ndarray]:
    """HF's Encodings of one batch as our fields' arrays (word ids -1 where HF has None)."""
    return {
        "input_ids": np.array([e.ids for e in encodings]),
        "token_type_ids": np.array([e.type_ids for e in encodings]),
        "attention_mask": np.array([e.attention_mask for e in encodings]),
        "offsets": np.array([e.offsets for e in encodings]).reshape(len(encodings), -1, 2),
        "special_tokens_mask": np.array([e.special_tokens_mask for e in encodings]),
        "word_ids": np.array([[-1 if w is None else w for w in e.word_ids] for e in encodings]),
    }


def differing_fields(ours: list[Any], hf: list[list[Any]]) -> dict[str, str]:
    """The fields in which our batches differ from HF's, with where they first differ."""
    differ: dict[str, str] = {}
    done = 0  # lines before this batch
    for o, h in zip(ours, hf, strict=True):
        for field, theirs in hf_arrays(h).items():
            mine = np.asarray(o[field])
            if field in differ or np.array_equal(mine, theirs):
                continue
            if mine.shape != theirs.shape:
                differ[field] = f"shape {mine.shape}, HF's {theirs.shape}"
            else:
                line = done + int(np.flatnonzero((mine != theirs).reshape(len(mine), -1).any(1))[0])
                differ[field] = f"line {line}"
        done += len(h)
    return differ


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
    ap.add_argument("--repeat", type=int, default=3, help="timed calls after the first")
    ap.add_argument(
        "--drop", action="store_true", help="free each call's output before the next call"
    )
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1, got {args.repeat}")
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
        f"batches of {args.batch} lines{', each freed before the next' if args.drop else ''}; "
        f"{machine()}"
    )
    print("| text | tokenizer | library | MB/s | lines/s | ratio | first call: MB/s | ratio |")
    print("|---|---|---|---|---|---|---|---|")
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
        kw = {"max_length": args.max_length, "truncation": True, "padding": "max_length",
              "return_offsets": True, "return_special_tokens_mask": True,
              "return_word_ids": True}  # fmt: skip
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

        def run_ours(keep: bool = True) -> object:
            out = []
            for b in batches:
                got = ours.encode_batch(b, return_tensors="np", num_threads=args.threads, **kw)
                if keep:
                    out.append(got)
                del got
            return out

        def run_hf(keep: bool = True) -> object:
            out = []
            for b in batches:
                got = theirs.encode_batch(b)
                if keep:
                    out.append(got)
                del got
            return out

        timings = {}
        for lib, fn in (("lexforge", run_ours), ("HF tokenizers", run_hf)):
            start = time.perf_counter()
            out = fn(not args.drop)
            first = time.perf_counter() - start
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                out = fn(not args.drop)  # (and the last call's output released)
                best = min(best, time.perf_counter() - start)
            if args.drop:
                out = fn()
            timings[lib] = (best, first, out)
        ours_out, hf_out = timings["lexforge"][2], timings["HF tokenizers"][2]
        differ = differing_fields(ours_out, hf_out)  # type: ignore[arg-type]
        hf_best, hf_first, _ = timings["HF tokenizers"]
        for lib, (t, first, _) in timings.items():
            ratio = f"{hf_best / t:.1f}x HF" if not differ else "none"
            first_ratio = f"{hf_first / first:.1f}x HF" if not differ else "none"
            print(
                f"| {name} | {path.parent.name}/{path.name} | {lib} | {nbytes / t / 1e6:.2f} | "
                f"{len(lines) / t:,.0f} | {ratio} | {nbytes / first / 1e6:.2f} | {first_ratio} |"
            )
        same = ", ".join(f"{k} ({v})" for k, v in differ.items())
        same = f"differ, so no ratio: {same}" if differ else "all identical"
        print(
            f"\n{name}: {nbytes / 1e6:.1f} MB, {len(lines):,} lines; {', '.join(FIELDS)}: {same}\n"
        )


if __name__ == "__main__":
    main()
