"""Byte-level BPE encoding benchmark: lexforge against tiktoken and HF ``tokenizers`` with
the same vocabularies (GPT-2's files, cl100k_base), the same documents, the same process.

Reports MB/s of UTF-8 input and ratios. Threads: lexforge and tiktoken take a thread count
per call; HF reads ``RAYON_NUM_THREADS`` at import, so run this script once per thread count
(``--threads 1`` sets it before importing).

Every call is warmed up once on its documents, then timed best of ``--repeat``. A ratio
pairs calls with the same output: ``lists`` (a list of Python ints per text; HF's
``Encoding.ids`` are read in the timed call), ``arrays`` (a NumPy array per text) or
``flat`` (one NumPy array of every text's ids plus the boundaries; tiktoken's is its
``encode_to_numpy`` in a thread pool, as its ``encode_ordinary_batch`` runs, concatenated),
and only calls whose ids are identical to lexforge's ``encode_batch``; a pair whose ids
differ gets no ratio. HF is slow, so it is timed on the first ``--hf-mb`` of the documents,
and its ratios come from every call timed again on that same subset.

    python benches/bench_encode.py --corpus sharegpt --mb 100 --threads 1
    python benches/bench_encode.py --corpus sharegpt --mb 100 --threads 2
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import corpus, machine

CL100K = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
GPT2 = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


OUTPUTS = {
    "lists": "a list of Python ints per text",
    "arrays": "a NumPy array per text",
    "flat": "one NumPy array of all ids, plus boundaries",
}

Call = tuple[str, str, str, Callable[[list[str]], object]]  # library, call, output, fn(docs)
Row = tuple[str, str, str, float, str]  # library, call, output, bytes/s, how its ids differ


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Seconds of the fastest of ``repeat`` calls after one warm-up call, and its output."""
    out = fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def flat_ids(out: object, output: str) -> tuple[np.ndarray, np.ndarray]:
    """Any call's output as one int64 array of ids and the (texts + 1,) boundaries."""
    if output == "flat":
        ids, cu = out  # type: ignore[misc]
        return np.asarray(ids, dtype=np.int64), np.asarray(cu, dtype=np.int64)
    per_text = list(out)  # type: ignore[call-overload]
    cu = np.zeros(len(per_text) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in per_text], out=cu[1:])
    if output == "arrays":
        return np.concatenate(per_text or [[]]).astype(np.int64), cu
    return np.fromiter(itertools.chain.from_iterable(per_text), np.int64, int(cu[-1])), cu


def difference(out: object, output: str, reference: tuple[np.ndarray, np.ndarray]) -> str:
    """Where ``out``'s ids first differ from the reference's ("" when identical)."""
    ids, cu = flat_ids(out, output)
    ref_ids, ref_cu = reference
    if len(cu) != len(ref_cu):
        return f"{len(cu) - 1} texts, not {len(ref_cu) - 1}"
    if np.array_equal(cu, ref_cu) and np.array_equal(ids, ref_ids):
        return ""
    for i in range(len(cu) - 1):
        a, b = ids[cu[i] : cu[i + 1]], ref_ids[ref_cu[i] : ref_cu[i + 1]]
        if not np.array_equal(a, b):
            return f"text {i} differs first ({len(a)} ids, lexforge's {len(b)})"
    return "differs"  # (unreachable: equal texts make equal arrays)


def calls(ours: Any, tt: Any, hf: Any, threads: int) -> list[Call]:
    """Every contender's call on a list of documents; HF's only when ``hf`` is given."""

    def tt_flat(docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encode = functools.partial(tt.encode_to_numpy, disallowed_special=())
        with ThreadPoolExecutor(threads) as pool:
            arrays = list(pool.map(encode, docs))
        cu = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum([len(a) for a in arrays], out=cu[1:])
        return np.concatenate(arrays), cu

    out: list[Call] = [
        ("lexforge", f"encode_batch(num_threads={threads})", "lists",
         lambda d: ours.encode_batch(d, disallowed_special=(), num_threads=threads)),
        ("lexforge", f"encode_batch_flat(num_threads={threads})", "flat",
         lambda d: ours.encode_batch_flat(d, disallowed_special=(), num_threads=threads)),
        ("tiktoken", f"encode_ordinary_batch(num_threads={threads})", "lists",
         lambda d: tt.encode_ordinary_batch(d, num_threads=threads)),
        ("tiktoken", f"encode_to_numpy in a {threads}-thread pool + concatenate", "flat",
         tt_flat),
    ]  # fmt: skip
    if threads == 1:
        out += [
            ("lexforge", "encode per text", "lists",
             lambda d: [ours.encode_ordinary(t) for t in d]),
            ("tiktoken", "encode_ordinary per text", "lists",
             lambda d: [tt.encode_ordinary(t) for t in d]),
            ("lexforge", "encode_to_numpy per text", "arrays",
             lambda d: [ours.encode_to_numpy(t, disallowed_special=()) for t in d]),
            ("tiktoken", "encode_to_numpy per text", "arrays",
             lambda d: [tt.encode_to_numpy(t, disallowed_special=()) for t in d]),
        ]  # fmt: skip
    if hf is not None:
        out += [
            ("HF tokenizers", "encode_batch + .ids", "lists",
             lambda d: [e.ids for e in hf.encode_batch(d, add_special_tokens=False)]),
        ]  # fmt: skip
        if hasattr(hf, "encode_batch_fast"):  # (tokenizers >= 0.21: no offsets)
            out.append(
                ("HF tokenizers", "encode_batch_fast + .ids", "lists",
                 lambda d: [e.ids for e in hf.encode_batch_fast(d, add_special_tokens=False)])
            )  # fmt: skip
    return out


def time_calls(todo: list[Call], docs: list[str], repeat: int) -> list[Row]:
    """Times every call on ``docs`` and checks its ids against lexforge's ``encode_batch``
    (the first call), keeping no output but the reference's."""
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    rows: list[Row] = []
    reference: tuple[np.ndarray, np.ndarray] | None = None
    for lib, call, output, fn in todo:
        t, out = best_of(lambda: fn(docs), repeat)
        if reference is None:
            reference = flat_ids(out, output)
        rows.append((lib, call, output, nbytes / t, difference(out, output, reference)))
        del out
    return rows


def best(rows: list[Row], lib: str, output: str) -> tuple[str, float] | None:
    """``lib``'s fastest call with this output among those with lexforge's ids."""
    same = [(r[1], r[3]) for r in rows if r[0] == lib and r[2] == output and not r[4]]
    return max(same, key=lambda c: c[1], default=None)


def ratio(row: Row, rows: list[Row], lib: str) -> str:
    """``row``'s rate over ``lib``'s best with the same output and ids, or why none."""
    if not any(r[0] == lib and r[2] == row[2] for r in rows):
        return ""
    if row[4]:
        return f"none: ids differ ({row[4]})"
    theirs = best(rows, lib, row[2])
    if theirs is None:
        return f"none: {lib}'s ids differ"
    return f"{row[3] / theirs[1]:.2f}x"


def report(name: str, label: str, rows: list[Row], threads: int) -> None:
    """The table of ``rows`` and, per output, lexforge's best against each library's."""
    print("| encoding | documents | library | call | output | MB/s | vs tiktoken | vs HF |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        lib, call, output, rate, _ = row
        print(
            f"| {name} | {label} | {lib} | {call} | {output} | {rate / 1e6:.1f} | "
            f"{ratio(row, rows, 'tiktoken')} | {ratio(row, rows, 'HF tokenizers')} |"
        )
    print(
        f"\n{name}, {label}, {threads} thread(s), lexforge's best against the same output "
        "(targets: >= 3x tiktoken, stretch 10; >= 20x HF):"
    )
    for lib in ("tiktoken", "HF tokenizers"):
        for output in OUTPUTS:
            if not all(any(r[0] == x and r[2] == output for r in rows) for x in ("lexforge", lib)):
                continue
            ours, theirs = best(rows, "lexforge", output), best(rows, lib, output)
            if ours is None or theirs is None:
                who = "lexforge" if ours is None else lib
                print(f"  {output} vs {lib}: no ratio, {who}'s ids differ")
                continue
            print(
                f"  {output} vs {lib}: lexforge {ours[0]} {ours[1] / 1e6:.1f} MB/s = "
                f"{ours[1] / theirs[1]:.2f}x {lib} {theirs[0]} {theirs[1] / 1e6:.1f} MB/s"
            )
    for lib, call, _, _, differs in rows:
        if differs:
            print(f"  {lib} {call}: ids differ from lexforge encode_batch's: {differs}")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", default="sharegpt")
    ap.add_argument("--mb", type=float, default=100.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--hf-mb", type=float, default=10.0,
        help="HF is slow: time it, and everyone again for its ratios, on this many MB",
    )  # fmt: skip
    ap.add_argument("--repeat", type=int, default=3, help="timed calls after a warm-up")
    ap.add_argument("--encodings", nargs="+", default=["gpt2", "cl100k"])
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1, got {args.repeat}")
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
    everything = f"all {nbytes / 1e6:.1f} MB"
    subset = f"first {hf_bytes / 1e6:.1f} MB" if len(hf_docs) < len(docs) else everything
    print(
        f"# encoding {path.name}: {len(docs):,} documents, {nbytes / 1e6:.1f} MB; HF on "
        f"{subset} ({len(hf_docs):,} documents); threads={args.threads}; {machine()}"
    )

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

        if len(hf_docs) < len(docs):  # everyone on all documents, then on HF's subset
            rows = time_calls(calls(ours, tt, None, args.threads), docs, args.repeat)
            report(name, everything, rows, args.threads)
        rows = time_calls(calls(ours, tt, hf, args.threads), hf_docs, args.repeat)
        report(name, subset, rows, args.threads)


if __name__ == "__main__":
    main()
