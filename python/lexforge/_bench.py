"""``lexforge bench``: a quick throughput check of this machine against the anchors, in one
process, on the same texts: WordPiece (bert-base-uncased) against HF ``tokenizers``,
byte-level BPE (cl100k) against ``tiktoken``, MLM masking against HF's collator. An anchor
that is not installed is skipped, with a note. The ids (and the masking rates) are compared
before anything is timed: a ratio is only printed for the same output.

The full benchmarks, with memory, more sizes and the figures recorded in
``benches/RESULTS.md``, live in the repository's ``benches/``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from lexforge.errors import ConfigError

KINDS = ("wordpiece", "bpe", "mask")


def _best_of(fn: Callable[[], Any], repeat: int) -> float:
    """The fastest of ``repeat`` calls, in seconds (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _row(name: str, tokens: int, ours: float, theirs: float | None, anchor: str) -> str:
    line = f"{name:<10} {tokens:>12,} tokens  lexforge {tokens / ours:>14,.0f} tokens/s"
    if theirs is None:
        return line + f"  ({anchor} not installed: no ratio)"
    return line + f"  {anchor} {tokens / theirs:>14,.0f} tokens/s  ratio {theirs / ours:.2f}x"


def _wordpiece(texts: list[str], threads: int, repeat: int) -> str:
    import lexforge as lf
    from lexforge import datasets

    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    ours = lf.Tokenizer.from_file(path)
    ids = ours.encode_batch(texts, num_threads=threads)
    tokens = sum(map(len, ids))
    mine = _best_of(lambda: ours.encode_batch(texts, num_threads=threads), repeat)
    # HF's batch encoding runs on every core unless told otherwise (read when its thread
    # pool starts): the same thread count as ours
    if threads == 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    else:
        os.environ.setdefault("RAYON_NUM_THREADS", str(threads))
    try:
        import tokenizers
    except ImportError:
        return _row("wordpiece", tokens, mine, None, "HF tokenizers")
    hf = tokenizers.Tokenizer.from_file(str(path))
    if [e.ids for e in hf.encode_batch(texts)] != ids:
        raise ConfigError("lexforge and HF tokenizers gave different ids: nothing timed")
    theirs = _best_of(lambda: hf.encode_batch(texts), repeat)
    return _row("wordpiece", tokens, mine, theirs, "HF tokenizers")


def _bpe(texts: list[str], threads: int, repeat: int) -> str:
    import lexforge as lf
    from lexforge import datasets

    path = datasets.files("cl100k_base")["ranks"]
    ours = lf.Tokenizer.from_tiktoken(path)
    ids = ours.encode_batch(texts, disallowed_special=(), num_threads=threads)
    tokens = sum(map(len, ids))
    mine = _best_of(
        lambda: ours.encode_batch(texts, disallowed_special=(), num_threads=threads), repeat
    )
    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
    except ImportError:
        return _row("bpe", tokens, mine, None, "tiktoken")
    enc = tiktoken.Encoding(
        "cl100k_base", pat_str=ours.pattern, mergeable_ranks=load_tiktoken_bpe(str(path)),
        special_tokens=ours.special_tokens,
    )  # fmt: skip
    if enc.encode_ordinary_batch(texts, num_threads=threads) != ids:
        raise ConfigError("lexforge and tiktoken gave different ids: nothing timed")
    theirs = _best_of(lambda: enc.encode_ordinary_batch(texts, num_threads=threads), repeat)
    return _row("bpe", tokens, mine, theirs, "tiktoken")


def _mask(texts: list[str], threads: int, repeat: int) -> str:
    import numpy as np

    import lexforge as lf
    from lexforge import datasets

    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    tok: Any = lf.Tokenizer.from_file(path)
    batch = tok.encode_batch(
        texts, max_length=128, truncation=True, padding="max_length", return_tensors="np"
    )
    ids = np.asarray(batch["input_ids"])
    masker = lf.Masker.from_tokenizer(tok, num_threads=threads)
    tokens = int(ids.size)
    mine = _best_of(lambda: masker(ids, step=0), repeat)
    try:
        import torch
        from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerFast
    except ImportError:
        return _row("mask", tokens, mine, None, "HF collator")
    fast: Any = PreTrainedTokenizerFast  # untyped in transformers
    hf_tok = fast(
        tokenizer_file=str(path), mask_token="[MASK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", unk_token="[UNK]",
    )  # fmt: skip
    collator = DataCollatorForLanguageModeling(hf_tok, mlm_probability=0.15)
    tensor = torch.from_numpy(ids)
    picked = {
        "lexforge": float((masker(ids, step=1)[1] != -100).mean()),
        "HF": float((collator.torch_mask_tokens(tensor.clone())[1] != -100).float().mean()),
    }
    real = float((ids != tok.token_to_id("[PAD]")).mean())
    if abs(picked["lexforge"] - picked["HF"]) > 0.02 * real + 0.01:
        raise ConfigError(f"the masking rates differ ({picked}): nothing timed")
    theirs = _best_of(lambda: collator.torch_mask_tokens(tensor.clone()), repeat)
    return _row("mask", tokens, mine, theirs, "HF collator")


def run(
    kinds: list[str], *, corpus: str = "wiki-leads", texts: int = 2000, threads: int = 1,
    repeat: int = 3,
) -> int:  # fmt: skip
    """Prints one line per kind: tokens, tokens/s of lexforge and of its anchor, the
    ratio (anchor time / lexforge time; above 1: lexforge is faster)."""
    from lexforge import datasets
    from lexforge.batch import MAX_THREADS, check_int

    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ConfigError(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(KINDS)}")
    check_int("texts", texts, least=1)
    check_int("threads", threads, least=1, most=MAX_THREADS)
    check_int("repeat", repeat, least=1)
    sample = [t for t in datasets.load_corpus(corpus) if t.strip()][:texts]
    if not sample:
        raise ConfigError(f"the corpus {corpus!r} has no text")
    print(f"lexforge bench: {len(sample):,} texts of {corpus}, {threads} thread(s), "
          f"best of {repeat}")  # fmt: skip
    runs = {"wordpiece": _wordpiece, "bpe": _bpe, "mask": _mask}
    for kind in kinds or list(KINDS):
        print(runs[kind](sample, threads, repeat), flush=True)
    return 0
