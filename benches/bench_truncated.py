"""Long documents cut to model inputs: lexforge's ``encode_batch`` against HF ``tokenizers``
(``enable_truncation`` + ``enable_padding``, ``encode_batch``) on the same documents, same
process, one thread each (``RAYON_NUM_THREADS=1`` is set before HF loads). lexforge encodes
a text cut on the right only as far as its row needs; HF encodes the whole text and then
cuts it. The rows (ids, type ids, attention mask, offsets) are checked equal before
anything is timed.

    python benches/bench_truncated.py                      # news-2017 articles
    python benches/bench_truncated.py --corpus imdb --docs 3000 --max-length 128 256 512

Tokenizers: bert-base-uncased's ``tokenizer.json`` (WordPiece) and GPT-2's BPE saved as a
``tokenizer.json`` (padded with ``<|endoftext|>``, as HF is told).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # HF reads it when its pool starts

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine


def best_of(fn: Any, seconds: float) -> float:
    """The fastest of at least three calls, repeated for about ``seconds``."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--corpus", default="news-2017", help="a corpus dataset name")
    ap.add_argument("--docs", type=int, default=1500)
    ap.add_argument("--max-length", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--seconds", type=float, default=2.0, help="timing budget per call")
    args = ap.parse_args()

    import tokenizers as hf

    import lexforge as lf
    from lexforge import datasets

    docs = [d for d in datasets.load_corpus(args.corpus) if d.strip()][: args.docs]
    chars = sum(len(d) for d in docs)
    print(f"# truncated model inputs, one thread; {machine()}")
    print(f"# {len(docs)} {args.corpus} documents, {chars / len(docs):,.0f} characters each "
          f"on average; tokenizers {hf.__version__}")  # fmt: skip
    print("| tokenizer | max_length | lexforge ms | HF ms | ratio |")
    print("|---|---|---|---|---|")
    gpt2 = datasets.files("gpt2")
    with tempfile.TemporaryDirectory() as scratch:
        bpe = lf.Tokenizer.from_gpt2(gpt2["encoder.json"], gpt2["vocab.bpe"])
        bpe_path = Path(scratch) / "gpt2.json"
        bpe.save(bpe_path)
        sides = {
            "bert-base-uncased (WordPiece)": str(datasets.files("bert-base-uncased")["tokenizer.json"]),
            "GPT-2 (byte-level BPE)": str(bpe_path),
        }  # fmt: skip
        for name, path in sides.items():
            ours, theirs = lf.Tokenizer.from_file(path), hf.Tokenizer.from_file(path)
            extra: dict[str, Any] = {}
            pad_id = 0
            if isinstance(ours, lf.BpeTokenizer):
                pad_id = ours.token_to_id("<|endoftext|>")
                extra = {"pad_token_id": pad_id, "allowed_special": "all"}
            for max_length in args.max_length:
                kw = {"max_length": max_length, "truncation": True, "padding": True,
                      "return_tensors": "np", "num_threads": 1, **extra}  # fmt: skip
                theirs.enable_truncation(max_length)
                theirs.enable_padding(pad_id=pad_id)
                got = ours.encode_batch(docs, return_offsets=True, **kw)
                want = theirs.encode_batch(docs)
                assert np.array_equal(got["input_ids"], np.array([e.ids for e in want]))
                assert np.array_equal(got["attention_mask"],
                                      np.array([e.attention_mask for e in want]))  # fmt: skip
                assert np.array_equal(got["token_type_ids"], np.array([e.type_ids for e in want]))
                assert np.array_equal(got["offsets"], np.array([e.offsets for e in want]))
                t_ours = best_of(lambda kw=kw: ours.encode_batch(docs, **kw), args.seconds)
                t_hf = best_of(lambda: theirs.encode_batch(docs), args.seconds)
                print(f"| {name} | {max_length} | {t_ours * 1e3:.1f} | {t_hf * 1e3:.1f} | "
                      f"{t_hf / t_ours:.1f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
