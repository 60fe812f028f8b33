"""``lexforge quickstart``: the main job, end to end on a laptop.

Today it is the tokenizer stage: train a byte-level BPE tokenizer on a default corpus
(90% of the documents), then report training speed, vocabulary statistics, compression and
encoding speed on the held-out 10% beside GPT-2's tokenizer, and save it in the HF format.
Pretraining and fine-tuning stages join as they land.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from lexforge import datasets
from lexforge.formats import atomic_write
from lexforge.tokenizer import Tokenizer
from lexforge.training import WordCounts


def _documents(corpus: str) -> list[str]:
    path = Path(corpus)
    if path.exists():
        return [d for d in path.read_text(encoding="utf-8").split("\n\n") if d.strip()]
    return [d for d in datasets.load_corpus(corpus) if d.strip()]


def run(
    *,
    corpus: str = "wiki-leads",
    vocab_size: int = 16_384,
    out: Path = Path("lexforge-quickstart"),
    num_threads: int | None = None,
    show_progress: bool | None = None,
) -> int:
    """Runs the quickstart and prints its report; returns an exit code."""
    print(f"lexforge quickstart: tokenizer on {corpus!r}, vocab {vocab_size:,}")
    docs = _documents(corpus)
    random.Random(0).shuffle(docs)
    cut = max(1, len(docs) // 10)
    held_out, train_docs = docs[:cut], docs[cut:]
    out.mkdir(parents=True, exist_ok=True)
    train_file = out / "train.txt"
    atomic_write(train_file, "\n\n".join(train_docs) + "\n")
    train_bytes = train_file.stat().st_size
    print(
        f"  corpus: {len(docs):,} documents; "
        f"training on {len(train_docs):,} ({train_bytes / 1e6:.1f} MB)"
    )

    start = time.perf_counter()
    counts = WordCounts.from_files(train_file, num_threads=num_threads, show_progress=show_progress)
    counted = time.perf_counter()
    tok = Tokenizer.from_counts(
        counts, vocab_size=vocab_size, special_tokens=["<|endoftext|>"], show_progress=show_progress
    )
    trained = time.perf_counter()
    print(
        f"  counted {counts.total:,} words ({len(counts):,} distinct) in {counted - start:.2f} s, "
        f"learned {len(tok.merges()):,} merges in {trained - counted:.2f} s"
    )

    lengths = sorted(len(t) for t in tok.vocab())
    longest = sorted(tok.vocab(), key=len)[-5:]
    print(
        f"  token length: median {lengths[len(lengths) // 2]} bytes, max {lengths[-1]}; "
        f"longest: {longest}"
    )

    text_bytes = sum(len(d.encode("utf-8")) for d in held_out)
    rows = [("lexforge (this run)", tok)]
    try:
        gpt2_files = datasets.files("gpt2")
        rows.append(("GPT-2 (50,257)", Tokenizer.from_gpt2(gpt2_files["encoder.json"])))
    except (OSError, ValueError) as e:  # offline without a cache: report ours alone
        print(f"  (GPT-2 baseline unavailable: {e})")
    print(f"  held-out: {len(held_out):,} documents, {text_bytes / 1e6:.2f} MB")
    for name, t in rows:
        start = time.perf_counter()
        encoded = t.encode_batch(held_out, disallowed_special=(), num_threads=num_threads)
        seconds = time.perf_counter() - start
        n = sum(len(ids) for ids in encoded)
        ok = all(t.decode(ids) == d for ids, d in zip(encoded[:200], held_out[:200], strict=True))
        print(
            f"    {name:<22} {n:>10,} tokens  {text_bytes / n:5.2f} bytes/token  "
            f"{text_bytes / seconds / 1e6:7.1f} MB/s  round trip {'ok' if ok else 'FAILED'}"
        )
        if not ok:
            return 1
    sample = held_out[0][:120]
    pieces = [tok.decode([i]) for i in tok.encode(sample, disallowed_special=())]
    print(f"  sample: {pieces[:24]}")
    saved = out / "tokenizer.json"
    tok.save(saved)
    again = Tokenizer.from_file(saved)
    assert again.encode(sample, disallowed_special=()) == tok.encode(sample, disallowed_special=())
    print(f"  saved {saved} (HF tokenizers format; reloads with identical ids)")
    return 0
