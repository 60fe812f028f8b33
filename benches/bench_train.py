"""BPE training benchmark: lexforge against HF ``tokenizers``, ``rustbpe``, ``bpeasy`` and
``sentencepiece`` on the same file, same vocabulary size, same thread count.

Each trainer runs in a fresh subprocess so that its time and peak memory are its own;
threads are set with ``num_threads`` (lexforge, sentencepiece) or ``RAYON_NUM_THREADS``
(the rayon-based others). Prints seconds, peak RSS and the ratios the issue targets.

    python benches/bench_train.py --corpus sharegpt --mb 100 --vocab 32768 --threads 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import GPT2_REGEX, corpus, machine, peak_rss_mib, reset_peak_rss

TRAINERS = ["lexforge", "hf", "rustbpe", "bpeasy", "sentencepiece"]


def lines(path: Path):  # type: ignore[no-untyped-def]
    with path.open(encoding="utf-8") as f:
        yield from f


def train_one(name: str, path: Path, vocab: int, threads: int) -> dict[str, float]:
    """Runs one trainer in this process; returns seconds and peak RSS (MiB)."""
    if name == "lexforge":
        import lexforge as lf

        def run() -> int:
            tok = lf.Tokenizer.train_bpe(
                path, vocab_size=vocab, num_threads=threads, show_progress=False
            )
            return tok.vocab_size
    elif name == "hf":
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        def run() -> int:
            tok = Tokenizer(models.BPE())
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            trainer = trainers.BpeTrainer(
                vocab_size=vocab,
                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                show_progress=False,
            )
            tok.train([str(path)], trainer)
            return tok.get_vocab_size()
    elif name == "rustbpe":
        import rustbpe

        def run() -> int:
            tok = rustbpe.Tokenizer()
            tok.train_from_iterator(lines(path), vocab, pattern=GPT2_REGEX)
            return tok.vocab_size
    elif name == "bpeasy":
        import bpeasy

        def run() -> int:
            return len(bpeasy.train_bpe(lines(path), GPT2_REGEX, 128, vocab))
    elif name == "sentencepiece":
        import sentencepiece as spm

        def run() -> int:
            prefix = Path(os.environ.get("TMPDIR", "/tmp")) / f"spm-bench-{os.getpid()}"
            spm.SentencePieceTrainer.train(
                input=str(path),
                model_prefix=str(prefix),
                model_type="bpe",
                vocab_size=vocab,
                num_threads=threads,
                input_sentence_size=0,
                max_sentence_length=1 << 20,
                character_coverage=1.0,
                byte_fallback=True,
                minloglevel=2,
            )
            return vocab
    else:
        raise SystemExit(f"unknown trainer {name}")
    reset_peak_rss()
    start = time.perf_counter()
    size = run()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": peak_rss_mib(), "vocab": size}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--corpus",
        default="sharegpt",
        help="dataset name, text file, or synthetic-cjk (distinct Chinese-like clauses)",
    )
    ap.add_argument(
        "--mb", type=float, default=100.0, help="cut (or repeat) the corpus to this many MB"
    )
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--only", nargs="+", choices=TRAINERS, default=TRAINERS)
    ap.add_argument("--child", nargs=3, metavar=("NAME", "PATH", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        name, path, threads = args.child
        print(json.dumps(train_one(name, Path(path), args.vocab, int(threads))))
        return

    path = corpus(args.corpus, args.mb)
    size_mb = path.stat().st_size / 1e6
    print(f"# BPE training, vocab {args.vocab:,}, {path.name} ({size_mb:.1f} MB); {machine()}")
    print("| threads | trainer | seconds | peak RSS MiB | vs lexforge (time) |")
    print("|---|---|---|---|---|")
    for threads in args.threads:
        results: dict[str, dict[str, float]] = {}
        for name in args.only:
            env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true")
            cmd = [
                sys.executable,
                __file__,
                "--vocab",
                str(args.vocab),
                "--child",
                name,
                str(path),
                str(threads),
            ]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(
                    f"| {threads} | {name} | failed: {out.stderr.strip().splitlines()[-1:]} | | |"
                )
                continue
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        ours = results.get("lexforge")
        for name, r in results.items():
            ratio = (
                f"{r['seconds'] / ours['seconds']:.1f}x slower"
                if ours and name != "lexforge"
                else ""
            )
            print(f"| {threads} | {name} | {r['seconds']:.2f} | {r['peak_mib']:.0f} | {ratio} |")
        if ours:
            others = {n: r for n, r in results.items() if n not in ("lexforge", "hf")}
            if "hf" in results:
                hf = results["hf"]
                print(
                    f"\n{threads} thread(s): lexforge time = {ours['seconds'] / hf['seconds']:.3f}x HF "
                    f"(target <= 0.2), peak RSS = {ours['peak_mib'] / hf['peak_mib']:.3f}x HF (target <= 0.25)"
                )
            if others:
                best = min(others, key=lambda n: others[n]["seconds"])
                print(
                    f"{threads} thread(s): lexforge time = {ours['seconds'] / others[best]['seconds']:.3f}x "
                    f"the fastest other ({best}) (target <= 0.5)\n"
                )


if __name__ == "__main__":
    main()
