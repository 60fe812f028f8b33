"""``lexforge bench``: a quick throughput check of this machine against the anchors, in one
process, on the same texts: WordPiece (bert-base-uncased) against HF ``tokenizers``,
byte-level BPE (cl100k) against ``tiktoken``'s own cl100k definition, MLM masking against
HF's collator. An anchor that is not installed is skipped, with a note. The outputs are
compared before anything is timed, and a ratio is only printed for the same output: the
ids for the tokenizers; for masking (random on both sides) the share of real tokens each
side picks, the 80/10/10 split of what it does to them, and that neither picks a special
or padding position. Both sides get the same thread count.

The full benchmarks, with memory, more sizes and the figures recorded in
``benches/RESULTS.md``, live in the repository's ``benches/``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

from lexforge.errors import ConfigError

KINDS = ("wordpiece", "bpe", "mask", "collate")


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
    try:
        import tokenizers
    except ImportError:
        mine = _best_of(lambda: ours.encode_batch(texts, num_threads=threads), repeat)
        return _row("wordpiece", tokens, mine, None, "HF tokenizers")
    hf = tokenizers.Tokenizer.from_file(str(path))
    if [e.ids for e in hf.encode_batch(texts)] != ids:
        raise ConfigError("lexforge and HF tokenizers gave different ids: nothing timed")
    mine = _best_of(lambda: ours.encode_batch(texts, num_threads=threads), repeat)
    theirs = _best_of(lambda: hf.encode_batch(texts), repeat)
    return _row("wordpiece", tokens, mine, theirs, "HF tokenizers")


def _tiktoken_cl100k(ranks_file: Any) -> Any:
    """tiktoken's own cl100k_base (its pattern and special tokens, from ``tiktoken_ext``),
    with the ranks read from the local file instead of downloaded: an anchor that shares
    nothing with ours but the ranks. None if this tiktoken defines it elsewhere."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    try:
        import tiktoken_ext.openai_public as public

        ranks = load_tiktoken_bpe(str(ranks_file))
        with mock.patch.object(public, "load_tiktoken_bpe", lambda *args, **kw: ranks):
            spec = public.cl100k_base()
    except (ImportError, AttributeError):
        return None
    return tiktoken.Encoding(**spec)


def _bpe(texts: list[str], threads: int, repeat: int) -> str:
    import lexforge as lf
    from lexforge import datasets

    path = datasets.files("cl100k_base")["ranks"]
    ours = lf.Tokenizer.from_tiktoken(path)
    ids = ours.encode_batch(texts, disallowed_special=(), num_threads=threads)
    tokens = sum(map(len, ids))

    def mine() -> Any:
        return ours.encode_batch(texts, disallowed_special=(), num_threads=threads)

    try:
        enc = _tiktoken_cl100k(path)
    except ImportError:
        enc = None
    if enc is None:
        return _row("bpe", tokens, _best_of(mine, repeat), None, "tiktoken")

    def theirs() -> Any:
        if threads == 1:  # its batch call would add a thread pool's cost to one thread
            return [enc.encode_ordinary(t) for t in texts]
        return enc.encode_ordinary_batch(texts, num_threads=threads)

    if theirs() != ids:
        raise ConfigError("lexforge and tiktoken's cl100k gave different ids: nothing timed")
    return _row("bpe", tokens, _best_of(mine, repeat), _best_of(theirs, repeat), "tiktoken")


def _check_masking(
    side: str, ids: Any, masked: Any, labels: Any, eligible: Any, mask_id: int
) -> None:
    """Raises unless ``side`` masked as BERT does: 15% of the real tokens picked (each
    share within 5 standard deviations of a binomial draw), 80% of them turned into the
    mask token, 10% left as they were, 10% into other ids; nothing else picked."""
    import numpy as np

    picked = labels != -100
    if bool((picked & ~eligible).any()):
        raise ConfigError(f"{side} picked a special or padding position: nothing timed")
    if not np.array_equal(labels[picked], ids[picked]):
        raise ConfigError(f"{side}'s labels are not the picked tokens' ids: nothing timed")
    n, k = int(eligible.sum()), int(picked.sum())
    shares = {"picked": (k / max(n, 1), 0.15, n)}
    if k:
        kept = masked[picked]
        shares["turned into the mask token"] = (float((kept == mask_id).mean()), 0.8, k)
        shares["left as they were"] = (float((kept == ids[picked]).mean()), 0.1, k)
    for what, (got, want, count) in shares.items():
        if abs(got - want) > 5 * math.sqrt(want * (1 - want) / max(count, 1)):
            raise ConfigError(
                f"{side}'s masking is off: {got:.3f} of the tokens {what}, where BERT's recipe "
                f"gives {want} (within {5 * math.sqrt(want * (1 - want) / max(count, 1)):.3f} "
                "here): nothing timed"
            )


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
    specials = sorted(set(tok.special_tokens.values()))
    eligible = ~np.isin(ids, specials)  # real tokens, neither padding nor [CLS]/[SEP]
    mask_id = tok.token_to_id("[MASK]")
    tokens = int((ids != tok.token_to_id("[PAD]")).sum())  # real tokens, as in the other rows
    masker = lf.Masker.from_tokenizer(tok, num_threads=threads)
    _check_masking("lexforge", ids, *masker(ids, step=1), eligible, mask_id)
    try:
        import torch
        from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerFast
    except ImportError:
        return _row("mask", tokens, _best_of(lambda: masker(ids, step=0), repeat), None,
                    "HF collator")  # fmt: skip
    fast: Any = PreTrainedTokenizerFast  # untyped in transformers
    hf_tok = fast(
        tokenizer_file=str(path), mask_token="[MASK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", unk_token="[UNK]",
    )  # fmt: skip
    collator = DataCollatorForLanguageModeling(hf_tok, mlm_probability=0.15)
    tensor = torch.from_numpy(ids)
    # given, as HF's run_mlm gives it (return_special_tokens_mask=True), so that the timing
    # is the masking's, not a per-row Python pass over the special tokens
    special = torch.from_numpy(~eligible)
    hf_masked, hf_labels = collator.torch_mask_tokens(tensor.clone(), special_tokens_mask=special)
    _check_masking("HF's collator", ids, hf_masked.numpy(), hf_labels.numpy(), eligible, mask_id)
    mine = _best_of(lambda: masker(ids, step=0), repeat)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        theirs = _best_of(
            lambda: collator.torch_mask_tokens(tensor.clone(), special_tokens_mask=special),
            repeat,
        )
    finally:
        torch.set_num_threads(torch_threads)
    return _row("mask", tokens, mine, theirs, "HF collator")


def _collate(texts: list[str], threads: int, repeat: int) -> str:
    """``MLMCollator`` against transformers' ``DataCollatorForLanguageModeling`` on the
    same list of examples (lists of ids and the special-tokens mask, unpadded, as a
    dataset ``map`` gives them); both outputs are checked before anything is timed.
    The collators mask on the calling thread (``threads`` is torch's, for HF's side)."""
    import numpy as np

    import lexforge as lf
    from lexforge import datasets

    path = datasets.files("bert-base-uncased")["tokenizer.json"]
    tok: Any = lf.Tokenizer.from_file(path)
    enc = tok.encode_batch(
        texts, max_length=128, truncation=True, padding=True, return_tensors="np",
        return_special_tokens_mask=True,
    )  # fmt: skip
    lengths = enc["attention_mask"].sum(axis=1)
    examples = [
        {"input_ids": ids[:n].tolist(), "special_tokens_mask": flags[:n].tolist()}
        for ids, flags, n in zip(enc["input_ids"], enc["special_tokens_mask"], lengths, strict=True)
    ]
    tokens = int(lengths.sum())
    ids = np.asarray(enc["input_ids"])
    eligible = (np.asarray(enc["special_tokens_mask"]) == 0) & (enc["attention_mask"] == 1)
    mask_id = tok.token_to_id("[MASK]")

    def check(side: str, batch: Any) -> None:
        got = {k: np.asarray(v) for k, v in batch.items()}
        if not np.array_equal(got["attention_mask"], enc["attention_mask"]):
            raise ConfigError(f"{side} padded the batch differently: nothing timed")
        _check_masking(side, ids, got["input_ids"], got["labels"], eligible, mask_id)

    ours = lf.MLMCollator(tok, seed=1)
    check("lexforge", ours(examples))
    try:
        import torch
        from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerFast
    except ImportError:
        return _row("collate", tokens, _best_of(lambda: ours(examples), repeat), None,
                    "HF collator")  # fmt: skip
    fast: Any = PreTrainedTokenizerFast  # untyped in transformers
    hf_tok = fast(
        tokenizer_file=str(path), mask_token="[MASK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", unk_token="[UNK]",
    )  # fmt: skip
    collator = DataCollatorForLanguageModeling(hf_tok, mlm_probability=0.15)
    check("HF's collator", collator(examples))
    mine = _best_of(lambda: ours(examples), repeat)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        theirs = _best_of(lambda: collator(examples), repeat)
    finally:
        torch.set_num_threads(torch_threads)
    return _row("collate", tokens, mine, theirs, "HF collator")


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
    from lexforge._core import resolve_threads

    most = resolve_threads(threads)
    if most < threads:  # ours would run fewer threads than the anchors were given
        raise ConfigError(
            f"--threads {threads}: lexforge runs at most {most} threads on this machine (4 per "
            f"core, at least 8); pass --threads {most} or fewer, so both sides get the same count"
        )
    sample = [t for t in datasets.load_corpus(corpus) if t.strip()][:texts]
    if not sample:
        raise ConfigError(f"the corpus {corpus!r} has no text")
    print(f"lexforge bench: {len(sample):,} texts of {corpus}, {threads} thread(s), "
          f"best of {repeat}; ratio: the anchor's time over lexforge's (above 1: lexforge "
          "is faster)")  # fmt: skip
    # HF tokenizers sizes its thread pool from these when it first starts (in this process)
    saved = {name: os.environ.get(name) for name in ("RAYON_NUM_THREADS", "TOKENIZERS_PARALLELISM")}
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"
    try:
        runs = {"wordpiece": _wordpiece, "bpe": _bpe, "mask": _mask, "collate": _collate}
        for kind in kinds or list(KINDS):
            print(runs[kind](sample, threads, repeat), flush=True)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return 0
