"""Sentence vectors of texts of mixed lengths: ``model.embed`` (mean pooling) of the
imported all-MiniLM-L6-v2 against transformers' ``AutoModel`` on the same texts, the same
batch size and threads, pooled the same way, in the same run. transformers is timed twice:
in the given order (a plain loop over batches, as its feature-extraction pipeline reads
them) and with the texts sorted by length first (sentence-transformers' ``encode``, which
is not installed here, sorts them so). The vectors are compared too.

    python benches/bench_embed.py                    # 2,000 texts, batch 32, 2 threads
    python benches/bench_embed.py --texts 500 --threads 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--texts", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="best of this many runs each")
    args = ap.parse_args()

    import numpy as np
    import torch
    import transformers

    from lexforge import datasets
    from lexforge.model import BertModel

    torch.set_num_threads(args.threads)
    # mixed lengths: rt-polarity sentences (~20 tokens) and wiki-leads leads (~100+),
    # cut to the model's 512 positions by whole words
    sentences = [t for t, _ in datasets.load_labelled("rt-polarity", split="test")]
    leads = [" ".join(t.split()[:300]) for t in datasets.load_corpus("wiki-leads")]
    rng = np.random.default_rng(0)
    pool = sentences[: args.texts] + leads[: args.texts]
    texts = [pool[i] for i in rng.permutation(len(pool))[: args.texts]]
    folder = datasets.files("all-MiniLM-L6-v2")["model_dir"]
    ours = BertModel.from_pretrained("all-MiniLM-L6-v2").eval()
    hf_tok = transformers.AutoTokenizer.from_pretrained(folder)
    hf = transformers.AutoModel.from_pretrained(folder).eval()
    lengths = [len(ids) for ids in hf_tok(texts, truncation=False)["input_ids"]]
    keep = [i for i, n in enumerate(lengths) if n <= 512]
    texts = [texts[i] for i in keep]
    lengths = [lengths[i] for i in keep]

    @torch.no_grad()
    def transformers_embed(order: list[int]) -> np.ndarray:
        out = np.zeros((len(texts), hf.config.hidden_size), dtype=np.float32)
        for start in range(0, len(order), args.batch_size):
            rows = order[start : start + args.batch_size]
            enc = hf_tok([texts[i] for i in rows], padding=True, truncation=False,
                         return_tensors="pt")  # fmt: skip
            hidden = hf(**enc).last_hidden_state
            mask = enc["attention_mask"][..., None].float()
            out[rows] = ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).numpy()
        return out

    given = list(range(len(texts)))
    by_length = sorted(given, key=lambda i: -lengths[i])
    systems = {
        # whole texts on both sides (embed's default would cut them at the 256 tokens of
        # MiniLM's sentence-transformers config, as sentence-transformers does)
        "lexforge `model.embed`": lambda: ours.embed(
            texts, batch_size=args.batch_size, max_length=512
        ),
        "transformers, given order": lambda: transformers_embed(given),
        "transformers, sorted by length": lambda: transformers_embed(by_length),
    }
    real = sum(lengths)
    padded = sum(
        len(given[i : i + args.batch_size])
        * max(lengths[j] for j in given[i : i + args.batch_size])
        for i in range(0, len(given), args.batch_size)
    )
    print(f"# {len(texts)} texts, {real} tokens (mean {real / len(texts):.0f}, max "
          f"{max(lengths)}); batches in the given order pad to {padded / real:.2f}x; "
          f"batch {args.batch_size}, {args.threads} threads; {machine()}")  # fmt: skip
    times: dict[str, float] = {}
    vectors: dict[str, np.ndarray] = {}
    for name, run in systems.items():
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            vectors[name] = np.asarray(run())
            best = min(best, time.perf_counter() - start)
        times[name] = best
    ours_time = times["lexforge `model.embed`"]
    print("| system | texts/s | tokens/s | lexforge is |")
    print("|---|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {len(texts) / seconds:,.1f} | {real / seconds:,.0f} | "
              f"{seconds / ours_time:.2f}x |")  # fmt: skip
    diff = np.abs(vectors["lexforge `model.embed`"] - vectors["transformers, given order"]).max()
    print(f"max |lexforge - transformers| over all vectors: {diff:.2e}")


if __name__ == "__main__":
    main()
