"""The transformers tokenizer call, lexforge's against transformers' own on the same file:
``tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")`` and the
other forms a transformers script writes (lists for ``datasets.map``, one sentence, words
for tagging, pairs for QA with overflow windows, lookups along one long row), in the same
process on the same text.

    python benches/bench_call.py [--texts 2000] [--threads 1]

transformers' side is ``BertTokenizerFast`` on bert-base-uncased's ``tokenizer.json``
(Rust ``tokenizers`` underneath, its batch encoding on ``RAYON_NUM_THREADS`` threads) and
ours ``lf.Tokenizer.from_file`` of the same file on ``--threads`` threads. Outputs are
checked equal before timing; each case is the best of several rounds. Ratios are
transformers' time over ours (above 1: ours is faster).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine


def best_of(fn: Callable[[], object], seconds: float = 1.5, least: int = 3) -> float:
    """Milliseconds a call: the best over rounds filling about ``seconds`` (at least
    ``least`` rounds)."""
    fn()
    best, spent, rounds = float("inf"), 0.0, 0
    while rounds < least or spent < seconds:
        start = time.perf_counter()
        fn()
        took = time.perf_counter() - start
        best, spent, rounds = min(best, took), spent + took, rounds + 1
    return best * 1e3


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=2000, help="texts a batch (wiki-leads)")
    parser.add_argument("--threads", type=int, default=1, help="threads, both sides")
    args = parser.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # (before tokenizers starts its pool)
    os.environ["LEXFORGE_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    import transformers

    import lexforge as lf
    from lexforge import datasets

    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    ours = lf.Tokenizer.from_file(path)
    theirs = transformers.BertTokenizerFast(tokenizer_file=str(path))
    lines = [t for t in datasets.corpus_text("wiki-leads").read_text().split("\n") if t.strip()]
    texts = lines[: args.texts]
    words = [t.split() for t in texts]
    questions = [t[:60] for t in lines[args.texts : 2 * args.texts]]
    sentence = texts[0][:100]
    long = " ".join(texts[:200])  # (one row of about 20,000 tokens)
    cases: list[tuple[str, Callable[[Any], Any]]] = [
        ("padded tensors (pt), max_length 128", lambda tok: tok(
            texts, padding=True, truncation=True, max_length=128, return_tensors="pt")),
        ("lists, max_length 128 (datasets.map)", lambda tok: tok(
            texts, truncation=True, max_length=128)),
        ("one sentence, pt", lambda tok: tok(sentence, return_tensors="pt")),
        ("words (is_split_into_words), lists + word_ids of every row", lambda tok: [
            (e := tok(words, truncation=True, max_length=128, is_split_into_words=True)),
            [e.word_ids(i) for i in range(len(words))]][1]),
        ("QA pairs, 384/128 windows, offsets + sequence_ids", lambda tok: [
            (e := tok(questions, texts, truncation="only_second", max_length=384, stride=128,
                      return_overflowing_tokens=True, return_offsets_mapping=True,
                      padding="max_length")),
            [e.sequence_ids(i) for i in range(len(e["input_ids"]))]][1]),
        ("one long row, token_to_chars of every token, char_to_token of every 50th char",
         lambda tok: [(e := tok(long)), [e.token_to_chars(i) for i in range(len(e["input_ids"]))],
                      [e.char_to_token(c) for c in range(0, len(long), 50)]][1:]),
    ]  # fmt: skip
    print(f"# the transformers tokenizer call, ms a call (lower is better); {machine()}")
    print(f"# {len(texts)} wiki-leads texts, {args.threads} thread(s); transformers "
          f"{transformers.__version__}")  # fmt: skip
    print("| call | lexforge | transformers | ratio |")
    print("|---|---|---|---|")
    for name, call in cases:
        got, want = call(ours), call(theirs)
        if isinstance(want, list):
            assert got == want, name
        else:
            assert sorted(got) == sorted(want), name
            assert all(_plain(got[k]) == _plain(want[k]) for k in want), name
        a, b = best_of(lambda: call(ours)), best_of(lambda: call(theirs))
        print(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.1f}x |")


if __name__ == "__main__":
    main()
