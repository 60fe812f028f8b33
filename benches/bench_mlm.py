"""MLM masking throughput: lexforge's ``mask_tokens`` against HF ``transformers``' collators,
their bare ``torch_mask_tokens`` and a vectorized NumPy masker, same process, same batches.

Batches are real text (English news and encyclopedia leads, packed into rows as pretraining
does), tokenized with bert-base-uncased's ``tokenizer.json`` and padded to the row length.
Throughput counts every position of the batch (rows × length), for every contender.

    python benches/bench_mlm.py              # 1 thread, then 2
    python benches/bench_mlm.py --threads 1

HF's collators take a list of examples (dicts of lists of ids, as ``datasets`` yields them)
and pad and convert them before masking; that is how they are used, so they are timed that
way, and each is compared with ``lf.MLMCollator`` on the same example dicts, which pads
them too (reading the lists in the core) and returns the same tensors (``input_ids``,
``attention_mask``, ``labels``). The ratios compare:

- ``HF DataCollatorForLanguageModeling`` (with and without the special-tokens mask): the
  two collators on the same example lists;
- ``HF whole-word collator``: HF gets ``offset_mapping`` lists, ours the word ids as lists,
  both with the special-tokens mask;
- ``HF torch_mask_tokens`` and the NumPy masker: the bare maskers on the ready (rows, length)
  array and special-tokens mask, against our masker on the same arrays (core against core).

The ``Masker from example lists`` rows (NumPy stacks the lists, then our masker) show what
reading the lists in the core saves.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine

BERT_BASE_PARAMS = 110e6
H200_BF16_FLOPS = 790e12


def numpy_masker(
    ids: np.ndarray, special: np.ndarray, rng: np.random.Generator, vocab: int, mask_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """The straightforward vectorized 80/10/10 masker."""
    picked = (rng.random(ids.shape) < 0.15) & ~special
    labels = np.where(picked, ids, -100)
    u = rng.random(ids.shape)
    out = ids.copy()
    out[picked & (u < 0.8)] = mask_id
    rand = picked & (u >= 0.8) & (u < 0.9)
    out[rand] = rng.integers(0, vocab, int(rand.sum()))
    return out, labels


def stacked(examples: list[dict[str, list[int]]], key: str) -> np.ndarray:
    """The ``key`` lists of equal-length examples as one (rows, length) int64 array."""
    return np.array([e[key] for e in examples], dtype=np.int64)


def rate(fn: Callable[[Any], object], batches: list[Any], tokens: int, budget: float) -> float:
    """Best-of tokens/s of ``fn`` over all ``batches`` (repeated within ``budget`` seconds)."""
    fn(batches[0])
    best, spent = float("inf"), 0.0
    while spent < budget or best == float("inf"):
        start = time.perf_counter()
        for b in batches:
            fn(b)
        took = time.perf_counter() - start
        best, spent = min(best, took), spent + took
    return tokens * len(batches) / best


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batches", type=int, default=8, help="distinct batches per shape")
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per measurement")
    args = ap.parse_args()

    import torch
    import transformers

    import lexforge as lf
    from lexforge import datasets

    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    ours_tok = lf.Tokenizer.from_file(path)
    hf_tok = transformers.BertTokenizerFast(tokenizer_file=str(path))
    vocab, mask_id = ours_tok.vocab_size, ours_tok.token_to_id("[MASK]")
    specials = list(ours_tok.special_tokens.values())
    words: list[str] = []
    for name in ("wiki-leads", "bbc-news"):
        words += datasets.corpus_text(name).read_text(encoding="utf-8").split()

    print(f"# MLM masking, bert-base-uncased vocab; {machine()}")
    print(f"# torch {torch.__version__}, transformers {transformers.__version__}")
    print("| batch | threads | masker | M tokens/s | lexforge faster by (which of ours) |")
    print("|---|---|---|---|---|")
    for rows, length in ((256, 128), (64, 512)):
        per_row = int(length * 0.8)  # words per row: most rows fill up, a few are padded
        texts = [
            " ".join(words[i : i + per_row])
            for i in range(0, rows * args.batches * per_row, per_row)
        ]
        enc = ours_tok.encode_batch(
            texts, max_length=length, truncation=True, padding="max_length",
            return_tensors="np", return_special_tokens_mask=True, return_word_ids=True,
            return_offsets=True,
        )  # fmt: skip
        arrays = [
            {k: v[i : i + rows] for k, v in enc.items()}
            for i in range(0, rows * args.batches, rows)
        ]
        examples = [
            [
                {
                    "input_ids": a["input_ids"][r].tolist(),
                    "special_tokens_mask": a["special_tokens_mask"][r].tolist(),
                }
                for r in range(rows)
            ]
            for a in arrays
        ]
        bare = [[{"input_ids": e["input_ids"]} for e in b] for b in examples]
        with_offsets = [
            [dict(e, offset_mapping=o.tolist()) for e, o in zip(b, a["offsets"], strict=True)]
            for b, a in zip(examples[:2], arrays, strict=False)
        ]
        with_words = [  # ours: the word ids, as lists, where HF gets offset_mapping
            [dict(e, word_ids=w.tolist()) for e, w in zip(b, a["word_ids"], strict=True)]
            for b, a in zip(examples[:2], arrays, strict=False)
        ]
        tokens = rows * length
        for threads in args.threads:
            torch.set_num_threads(threads)
            hf = transformers.DataCollatorForLanguageModeling(hf_tok, mlm_probability=0.15)
            with warnings.catch_warnings():  # it turns off random replacement for whole words
                warnings.simplefilter("ignore")
                hf_ww = transformers.DataCollatorForLanguageModeling(
                    hf_tok, mlm_probability=0.15, whole_word_mask=True
                )
            rng = np.random.default_rng(0)
            tensors = [
                (torch.from_numpy(a["input_ids"]), torch.from_numpy(a["special_tokens_mask"]))
                for a in arrays
            ]
            step = iter(range(1 << 62))

            masker = lf.Masker.from_tokenizer(ours_tok, seed=1, num_threads=threads)
            # the collator masks on its calling thread (its default): the threads do not pay
            collate = lf.MLMCollator(ours_tok, seed=1)
            ww_collate = lf.MLMCollator(ours_tok, whole_word=True, seed=1)
            ww_masker = lf.Masker.from_tokenizer(
                ours_tok, whole_word=True, seed=1, num_threads=threads
            )

            def one_off(a: dict[str, np.ndarray]) -> object:
                return lf.mask_tokens(
                    a["input_ids"], vocab_size=vocab, mask_token_id=mask_id, special_ids=specials,
                    seed=1, step=next(step), num_threads=threads,
                )  # fmt: skip

            cases: list[tuple[str, Callable[[Any], object], list[Any], float]] = [
                (
                    "lexforge Masker",
                    lambda a: masker(a["input_ids"], step=next(step)),
                    arrays,
                    args.budget,
                ),
                (
                    "lexforge Masker, special_tokens_mask",
                    lambda a: masker(
                        a["input_ids"],
                        step=next(step),
                        special_tokens_mask=a["special_tokens_mask"],
                    ),
                    arrays,
                    args.budget,
                ),
                (
                    "lexforge Masker, whole words",
                    lambda a: ww_masker(a["input_ids"], step=next(step), word_ids=a["word_ids"]),
                    arrays,
                    args.budget,
                ),
                ("lexforge mask_tokens (one-off call)", one_off, arrays, args.budget),
                # from the example dicts HF's collators get, on the same batches and budget
                (
                    "lexforge Masker from example lists",
                    lambda b: masker(stacked(b, "input_ids"), step=next(step)),
                    bare[:2],
                    0,
                ),
                (
                    "lexforge Masker from example lists, special_tokens_mask",
                    lambda b: masker(
                        stacked(b, "input_ids"),
                        step=next(step),
                        special_tokens_mask=stacked(b, "special_tokens_mask"),
                    ),
                    examples,
                    args.budget,
                ),
                (
                    "lexforge Masker from example lists, whole words",
                    lambda b: ww_masker(
                        stacked(b, "input_ids"),
                        step=next(step),
                        special_tokens_mask=stacked(b, "special_tokens_mask"),
                        word_ids=stacked(b, "word_ids"),
                    ),
                    with_words,
                    0,
                ),
                # the collator, on the example lists HF's collators get: pads and masks them
                ("lexforge MLMCollator", collate, bare[:2], 0),
                ("lexforge MLMCollator, special_tokens_mask", collate, examples, args.budget),
                ("lexforge MLMCollator, whole words", ww_collate, with_words, 0),
                (
                    "numpy vectorized 80/10/10",
                    lambda a: numpy_masker(
                        a["input_ids"], a["special_tokens_mask"].astype(bool), rng, vocab, mask_id
                    ),
                    arrays,
                    args.budget,
                ),
                (
                    "HF torch_mask_tokens (special mask)",
                    lambda t: hf.torch_mask_tokens(t[0].clone(), special_tokens_mask=t[1]),
                    tensors,
                    args.budget,
                ),
                ("HF DataCollatorForLanguageModeling (special mask)", hf, examples, args.budget),
                ("HF DataCollatorForLanguageModeling (no special mask)", hf, bare[:2], 0),
                ("HF whole-word collator (offsets, special mask)", hf_ww, with_offsets, 0),
            ]
            results = {name: rate(fn, data, tokens, budget) for name, fn, data, budget in cases}
            for name, r in results.items():
                ours = like_for_like(name)
                vs = "" if ours is None else f"{results[ours] / r:,.1f}x ({ours[9:]})"
                print(f"| {rows}x{length} | {threads} | {name} | {r / 1e6:,.2f} | {vs} |")
    gpu_tokens = H200_BF16_FLOPS / (6 * BERT_BASE_PARAMS)
    print(
        f"\nAn H200 at full bf16 rate trains BERT-base on {gpu_tokens / 1e6:.2f} M tokens/s "
        "(6 x 110 M FLOPs per token); divide a masker's tokens/s by that for the GPU-seconds "
        "one CPU core feeds per second."
    )


def like_for_like(name: str) -> str | None:
    """The lexforge case doing the same job on the same input as a reference case (None for
    our own rows): the collators against ours from the same example lists, the bare maskers
    against ours on the same arrays."""
    if name.startswith("lexforge"):
        return None
    if "whole-word" in name:
        return "lexforge MLMCollator, whole words"
    if "no special mask" in name:
        return "lexforge MLMCollator"
    if "Collator" in name:
        return "lexforge MLMCollator, special_tokens_mask"
    return "lexforge Masker, special_tokens_mask"


if __name__ == "__main__":
    main()
