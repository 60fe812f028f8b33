"""Per-call latency of small encodes and decodes: one sentence, and batches of 32, lexforge against
tiktoken and HF ``tokenizers`` in the same process on the same text (a server's case, where
the throughput benchmarks' megabytes hide a fixed cost per call).

    python benches/bench_latency.py

Each call is timed as the best mean over rounds of many calls (2,000 a round; 500 for HF,
which is slower); outputs are checked equal before timing. Ratios are the anchor's time
over ours (above 1: ours is faster). tiktoken's batch calls start a thread pool per call
(``num_threads=8``), so its time for a batch is the better of that call and a loop of its
one-text calls: the anchor at its best.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine
from bench_encode import GPT2

_Call = Callable[[], object]
SENTENCE = "The quick brown fox jumps over the lazy dog, said the 3rd editor of the Times."


def per_call(fn: Callable[[], object], calls: int = 2000, rounds: int = 7) -> float:
    """Microseconds a call: the best of ``rounds`` means over ``calls`` calls."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def main() -> None:
    import tiktoken
    import tokenizers
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks

    import lexforge as lf
    from lexforge import datasets

    files = datasets.files("gpt2")
    gpt2 = lf.Tokenizer.from_file(files["encoder.json"])
    ranks = data_gym_to_mergeable_bpe_ranks(str(files["vocab.bpe"]), str(files["encoder.json"]))
    tt = tiktoken.Encoding("gpt2", pat_str=GPT2, mergeable_ranks=ranks, special_tokens={})
    hf_gpt2 = tokenizers.Tokenizer(
        tokenizers.models.BPE.from_file(str(files["encoder.json"]), str(files["vocab.bpe"]))
    )
    hf_gpt2.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bert_file = datasets.files("bert-base-uncased")["tokenizer.json"]
    bert = lf.Tokenizer.from_file(bert_file)
    hf_bert = tokenizers.Tokenizer.from_file(str(bert_file))
    hf_padded = tokenizers.Tokenizer.from_file(str(bert_file))
    hf_padded.enable_padding(pad_id=0, pad_token="[PAD]")

    def hf_arrays(texts: list[str]) -> dict[str, np.ndarray]:
        """HF's padded batch as the arrays ours returns (what transformers builds)."""
        out = hf_padded.encode_batch(texts)
        return {
            "input_ids": np.array([e.ids for e in out], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in out], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in out], dtype=np.int64),
        }

    batch = [SENTENCE] * 32

    assert gpt2.encode(SENTENCE) == tt.encode_ordinary(SENTENCE) == hf_gpt2.encode(SENTENCE).ids
    assert bert.encode(SENTENCE) == hf_bert.encode(SENTENCE).ids
    assert gpt2.encode_batch(batch) == [e.ids for e in hf_gpt2.encode_batch(batch)]
    mixed = [SENTENCE, "Short.", SENTENCE * 2]
    ours_arrays = bert.encode_batch(mixed, padding=True, return_tensors="np")
    assert all((ours_arrays[k] == v).all() for k, v in hf_arrays(mixed).items())

    g_ids, b_ids = gpt2.encode(SENTENCE), bert.encode(SENTENCE)
    g_batch, b_batch = [g_ids] * 32, [b_ids] * 32
    hf_gpt2.decoder = tokenizers.decoders.ByteLevel()
    assert gpt2.decode(g_ids) == tt.decode(g_ids) == hf_gpt2.decode(g_ids) == SENTENCE
    assert bert.decode(b_ids) == hf_bert.decode(b_ids)

    print(f"# per-call latency, microseconds (lower is better); {machine()}")
    print(f"# text: {SENTENCE!r} ({len(SENTENCE)} bytes); batches of 32 copies")
    print("| call | lexforge | tiktoken | HF tokenizers | vs tiktoken | vs HF |")
    print("|---|---|---|---|---|---|")
    # (outputs of the batch calls, the way each is timed: the same as ours)
    assert tt.encode_ordinary_batch(batch) == [tt.encode_ordinary(s) for s in batch]
    assert gpt2.decode_batch(g_batch) == tt.decode_batch(g_batch) == hf_gpt2.decode_batch(g_batch)
    assert bert.decode_batch(b_batch) == hf_bert.decode_batch(b_batch)
    cases: list[tuple[str, _Call, tuple[_Call, ...] | None, _Call]]
    cases = [
        ("GPT-2, one sentence", lambda: gpt2.encode(SENTENCE),
         (lambda: tt.encode_ordinary(SENTENCE),), lambda: hf_gpt2.encode(SENTENCE).ids),
        ("GPT-2, 32 sentences to lists", lambda: gpt2.encode_batch(batch),
         (lambda: tt.encode_ordinary_batch(batch), lambda: [tt.encode_ordinary(s) for s in batch]),
         lambda: [e.ids for e in hf_gpt2.encode_batch(batch)]),
        ("WordPiece, one sentence (ids)", lambda: bert.encode(SENTENCE), None,
         lambda: hf_bert.encode(SENTENCE).ids),
        ("WordPiece, 32 sentences to padded arrays", lambda: bert.encode_batch(
            batch, padding=True, return_tensors="np"), None,
         lambda: hf_arrays(batch)),
        ("GPT-2, decode one sentence", lambda: gpt2.decode(g_ids), (lambda: tt.decode(g_ids),),
         lambda: hf_gpt2.decode(g_ids)),
        ("GPT-2, decode 32 sentences", lambda: gpt2.decode_batch(g_batch),
         (lambda: tt.decode_batch(g_batch), lambda: [tt.decode(x) for x in g_batch]),
         lambda: hf_gpt2.decode_batch(g_batch)),
        ("WordPiece, decode one sentence", lambda: bert.decode(b_ids), None,
         lambda: hf_bert.decode(b_ids)),
        ("WordPiece, decode 32 sentences", lambda: bert.decode_batch(b_batch), None,
         lambda: hf_bert.decode_batch(b_batch)),
    ]  # fmt: skip
    for name, ours, tiktoken_call, hf_call in cases:
        a = per_call(ours)
        t = min(per_call(c) for c in tiktoken_call) if tiktoken_call is not None else None
        h = per_call(hf_call, calls=500)
        vs_t = f"{t / a:.1f}x" if t is not None else "—"
        t_text = f"{t:.2f}" if t is not None else "—"
        print(f"| {name} | {a:.2f} | {t_text} | {h:.2f} | {vs_t} | {h / a:.1f}x |")
    print(
        "\nThe padded-arrays row: both return int64 arrays of ids, type ids and attention "
        "mask (HF pads its Encodings, then the arrays are built as transformers does)."
    )


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    main()
