"""Pretraining batches from shards: instances (NSP, SOP or packed), padded, masked.

:class:`PretrainingBatches` turns a :class:`~lexforge.shards.ShardSet` into an endless (or
``epochs``-long) stream of batches, NumPy arrays ready for a BERT-style model. The stream is
a pure function of the shards and the options: epoch ``e`` visits the shards in an order
drawn from ``(seed, e)``, each shard's instances are built (Rust) from streams seeded per
document and shuffled, and batch ``g`` is instances ``g × batch_size`` onwards of that
stream, masked with the stream of ``(seed, g, row)``. So any batch can be produced on its
own, by any process, and a run resumed at step ``s`` sees exactly the batches it would have
seen. :class:`~lexforge.torch_data.PretrainingDataset` wraps it for a torch ``DataLoader``.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections import deque
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from lexforge import _core
from lexforge._mask_words import continuation_ids
from lexforge.batch import MAX_THREADS, check_fits_memory, check_int
from lexforge.errors import ConfigError, CorpusError
from lexforge.formats.bert import CLS_TOKENS, SEP_TOKENS
from lexforge.masking import MASK_TOKENS, Masker
from lexforge.shards import ShardSet

__all__ = ["PretrainingBatches"]

Objective = Literal["nsp", "sop", "none"]
Batch = dict[str, npt.NDArray[np.int64]]
_LABEL_KEY = {"nsp": "next_sentence_label", "sop": "sentence_order_label"}


def framing_ids(tokenizer: Any) -> tuple[int, int, int]:
    """The ids pretraining rows are framed and padded with: ([CLS], [SEP], [PAD]), or
    RoBERTa's names for them; a ``ConfigError`` naming the one the tokenizer lacks."""
    return (
        _special_id(tokenizer, CLS_TOKENS, "[CLS]"),
        _special_id(tokenizer, SEP_TOKENS, "[SEP]"),
        _special_id(tokenizer, ("[PAD]", "<pad>"), "[PAD]"),
    )


def _special_id(tokenizer: Any, names: tuple[str, ...], role: str) -> int:
    specials: dict[str, int] = dict(tokenizer.special_tokens)
    for name in names:
        if name in specials:
            return specials[name]
    raise ConfigError(
        f"pretraining needs a {role} token, and the tokenizer has none (looked for "
        f"{', '.join(names)}; it has {sorted(specials)}); train it with special_tokens "
        "including one of them"
    )


class PretrainingBatches:
    """Masked pretraining batches from shards.

    Args:
        shards: a :class:`ShardSet` or the directory of one.
        batch_size: rows per batch.
        max_seq_len: the longest row, ``[CLS]`` and ``[SEP]`` included.
        objective: ``"nsp"`` (next sentence prediction, BERT), ``"sop"`` (sentence order
            prediction, ALBERT) or ``"none"`` (full sentences packed across documents,
            RoBERTa).
        short_seq_prob: the share of documents whose instances aim at a random shorter
            length (BERT: 0.1); pairs only.
        masker: the :class:`~lexforge.masking.Masker` (default: the shards' tokenizer's,
            with ``mlm_probability`` and ``seed``); e.g.
            ``Masker.from_tokenizer(tok, whole_word=True)`` for whole-word masking (words
            from the vocabulary, and one starts at every sentence's first token: a line's
            first word is never joined to the line before's last).
        mlm_probability: the masking rate, or a schedule ``step -> rate``, for the default
            masker.
        seed: seeds shard order, instances and the default masker's masks (a ``masker``
            given draws with its own seed).
        epochs: how many passes over the shards (default: endless).
        pad_to: ``"longest"`` (each batch to its longest row, rounded up to
            ``pad_to_multiple_of`` when ``max_seq_len`` is a multiple of it, so a batch is
            never wider than ``max_seq_len``) or ``"max_length"`` (always ``max_seq_len``).
        drop_last: drop the last, short batch of a finite stream.
        num_threads: threads for building instances and masking (default: all cores;
            a ``masker`` given with its own ``num_threads`` masks on those); results do
            not depend on it.
        batches_per_step: the batches of one training step (data-parallel ranks ×
            gradient-accumulation micro-batches): a masking-rate schedule gives batch
            ``i`` the rate of step ``i // batches_per_step``.

    Each batch is a dict of int64 arrays: ``input_ids`` (masked), ``token_type_ids``,
    ``attention_mask``, ``labels`` (the original ids at masked positions, -100 elsewhere),
    and ``next_sentence_label`` (NSP: 0 = B follows A, 1 = B is random) or
    ``sentence_order_label`` (SOP: 0 = in order, 1 = swapped).
    """

    def __init__(
        self,
        shards: ShardSet | str | os.PathLike[str],
        *,
        batch_size: int,
        max_seq_len: int = 128,
        objective: Objective = "nsp",
        short_seq_prob: float = 0.1,
        masker: Masker | None = None,
        mlm_probability: Any = 0.15,
        seed: int = 0,
        epochs: int | None = None,
        pad_to: Literal["longest", "max_length"] = "longest",
        pad_to_multiple_of: int = 8,
        drop_last: bool = False,
        num_threads: int | None = None,
        batches_per_step: int = 1,
    ) -> None:
        self.shards = shards if isinstance(shards, ShardSet) else ShardSet(shards)
        # as ints: a NumPy integer would wrap (uint32) or a 0-d tensor spread through the sums
        batches_per_step = check_int("batches_per_step", batches_per_step, least=1, most=1 << 31)
        batch_size = check_int("batch_size", batch_size, least=1, most=1 << 31)
        max_seq_len = check_int("max_seq_len", max_seq_len, most=1 << 31)
        pad_to_multiple_of = check_int("pad_to_multiple_of", pad_to_multiple_of, most=1 << 31)
        if num_threads is not None:
            num_threads = check_int("num_threads", num_threads, most=MAX_THREADS)
        if objective not in ("nsp", "sop", "none"):
            raise ConfigError(f"objective must be 'nsp', 'sop' or 'none', got {objective!r}")
        if pad_to not in ("longest", "max_length"):
            raise ConfigError(f"pad_to must be 'longest' or 'max_length', got {pad_to!r}")
        m = max(1, pad_to_multiple_of)
        least = -(-(max_seq_len if pad_to == "max_length" else 1) // m) * m
        check_fits_memory(batch_size, least, 3, "batch_size or max_seq_len")
        if (
            isinstance(short_seq_prob, bool)
            or not isinstance(short_seq_prob, (int, float, np.integer, np.floating))
            or not 0.0 <= short_seq_prob <= 1.0
        ):
            raise ConfigError(f"short_seq_prob must be a number in [0, 1], got {short_seq_prob!r}")
        if epochs is not None and check_int("epochs", epochs) < 1:
            raise ConfigError(f"epochs must be at least 1 (or None for endless), got {epochs}")
        if check_int("seed", seed) >= 1 << 64:
            raise ConfigError(f"seed must be a non-negative integer below 2**64, got {seed}")
        if masker is not None and (callable(mlm_probability) or mlm_probability != 0.15):
            raise ConfigError(  # the masker's own rate holds: not ignored unsaid
                "mlm_probability is the default masker's rate; with masker= given, pass it to "
                "the masker (Masker.from_tokenizer(tok, mlm_probability=...))"
            )
        tokenizer = self.shards.tokenizer()
        self.cls, self.sep, self.pad = framing_ids(tokenizer)
        self.masker = (
            masker
            if masker is not None
            else Masker.from_tokenizer(
                tokenizer, mlm_probability=mlm_probability, seed=seed, num_threads=num_threads
            )
        )
        _check_masker(self.masker, tokenizer)
        if self.masker.num_threads is None and num_threads is not None:
            # masking too runs on the threads said here (one in each DataLoader worker)
            self.masker = Masker(**dict(self.masker._options, num_threads=num_threads))
        framing = {"[CLS]": self.cls, "[SEP]": self.sep, "[PAD]": self.pad}
        unguarded = [name for name, i in framing.items() if i not in self.masker.special_ids]
        if unguarded:  # the batches' framing and padding would be picked as MLM targets
            raise ConfigError(
                f"the masker's special_ids leave out {', '.join(unguarded)} (ids "
                f"{', '.join(str(framing[n]) for n in unguarded)}), which these batches use "
                "for framing and padding: build it with Masker.from_tokenizer(tokenizer, ...) "
                "or add them to special_ids"
            )
        self.batch_size, self.max_seq_len = batch_size, max_seq_len
        self.objective: Objective = objective
        self.short_seq_prob, self.seed, self.epochs = short_seq_prob, seed, epochs
        # round widths up only when that cannot pass max_seq_len (the model's positions)
        multiple = max(1, pad_to_multiple_of)
        self.pad_to = pad_to
        self.multiple_of = multiple if max_seq_len % multiple == 0 else 1
        self.drop_last, self.num_threads = drop_last, num_threads
        self._corpus = self.shards.core()
        # a sentence cut in two (a document's lone last one) is cut where a word starts
        self._continuation = continuation_ids(tokenizer) if objective != "none" else None
        # a rate schedule follows the training step
        self.batches_per_step = batches_per_step
        # fail now, not in a worker: the options are checked by building a first block
        first = self._block(0, 0)
        if objective != "none":
            self._warn_if_cut(first)

    def _block(self, shard: int, epoch: int) -> Any:
        return self._corpus.build_block(
            shard, epoch, self.max_seq_len, self.short_seq_prob, self.objective, self.seed,
            self.num_threads, self._continuation,
        )  # fmt: skip

    def _warn_if_cut(self, block: Any) -> None:
        """NSP/SOP pairs keep at most ``max_seq_len - 3`` tokens, as in BERT's recipe: a
        corpus whose sentences (or lines) are much longer loses most of its text. Warns
        when the first block's pairs cover under half of its shard's tokens."""
        total = self.shards.shards[0].tokens
        spans = block.spans().reshape(-1, 3)  # (shard, start, end) of every A and B
        spans = spans[(spans[:, 0] == 0) & (spans[:, 2] > spans[:, 1])]
        if total == 0 or len(spans) == 0:
            return
        spans = spans[np.argsort(spans[:, 1], kind="stable")]
        starts, ends = spans[:, 1], spans[:, 2]
        before = np.concatenate([[0], np.maximum.accumulate(ends)[:-1]])
        covered = int(np.maximum(0, ends - np.maximum(starts, before)).sum())
        if covered < total / 2:
            warnings.warn(
                f"{self.objective} pairs use {covered:,} of the first shard's {total:,} tokens: "
                f"a pair keeps at most max_seq_len - 3 = {self.max_seq_len - 3} tokens and cuts "
                "longer sentences (BERT's recipe); split long lines into sentences, raise "
                "max_seq_len, or use objective='none', which packs every token",
                UserWarning,
                stacklevel=3,
            )

    def _blocks(self) -> Iterator[Any]:
        epochs = itertools.count() if self.epochs is None else range(self.epochs)
        for epoch in epochs:
            instances = 0
            for shard in _core.shard_order(self._corpus.n_shards, self.seed, epoch):
                block = self._block(shard, epoch)
                instances += len(block)
                yield block
            if instances == 0:  # every pass would be as empty: an endless stream never yields
                raise CorpusError(
                    f"a whole pass over the shards gives no {self.objective!r} instances: "
                    "the documents are too short for it (sop swaps two segments of one "
                    "document); use objective='none' or a corpus of longer documents"
                )

    def iterate(
        self, start: int = 0, stride: int = 1, group: int = 1
    ) -> Iterator[tuple[int, Batch]]:
        """Batches ``start``, ``start + stride``, ... as ``(index, batch)`` pairs.

        ``group``: batches are used ``group`` at a time (batches ``k·group`` to
        ``k·group + group - 1`` make one step of ``group`` data-parallel ranks); a finite
        stream then ends with its last complete group, so that every rank gets the same
        number of batches (an incomplete last step would leave some ranks waiting for the
        others forever)."""
        start = check_int("start", start)
        if check_int("stride", stride) < 1 or check_int("group", group) < 1:
            raise ConfigError(
                f"start must be >= 0, stride and group >= 1, got {start}, {stride} and {group}"
            )
        size = self.batch_size
        window: deque[tuple[int, Any]] = deque()  # (stream position of the block, block)
        end = 0  # the stream position after the last block in the window
        g = start

        def group_end(index: int) -> int:  # one past the last batch of index's group
            return (index // group + 1) * group

        for block in self._blocks():
            window.append((end, block))
            end += len(block)
            while group_end(g) * size <= end:
                yield g, self._make(g, self._parts(window, g * size, (g + 1) * size))
                g += stride
            while window and window[0][0] + len(window[0][1]) <= g * size:
                window.popleft()
        # the stream has ended: the batches left, if their group is complete
        batches = end // size if self.drop_last else -(-end // size)
        while g * size < end and group_end(g) <= batches:
            yield g, self._make(g, self._parts(window, g * size, min((g + 1) * size, end)))
            g += stride

    def __iter__(self) -> Iterator[Batch]:
        return (batch for _, batch in self.iterate())

    def batch(self, index: int) -> Batch:
        """Batch ``index`` of the stream, built on its own."""
        for _, batch in self.iterate(index):
            return batch
        raise IndexError(f"batch {index} is past the end of the stream")

    @staticmethod
    def _parts(window: deque[tuple[int, Any]], lo: int, hi: int) -> list[tuple[Any, int, int]]:
        parts = []
        for at, block in window:
            a, b = max(lo, at), min(hi, at + len(block))
            if a < b:
                parts.append((block, a - at, b - at))
        return parts

    def _make(self, index: int, parts: list[tuple[Any, int, int]]) -> Batch:
        width = self.max_seq_len if self.pad_to == "max_length" else None
        batch: dict[str, Any] = self._corpus.materialize(
            parts, self.cls, self.sep, self.pad, width, self.multiple_of
        )
        pair_labels = batch.pop("labels")
        # whole words from the vocabulary start at every sentence: a line's ids are its own,
        # so its first word (no space before it) would continue the line before's last
        batch["input_ids"], batch["labels"] = self.masker(
            batch["input_ids"], step=index, schedule_step=index // self.batches_per_step,
            word_starts=batch.pop("sentence_starts"),
        )  # fmt: skip
        if self.objective in _LABEL_KEY:
            batch[_LABEL_KEY[self.objective]] = pair_labels
        return batch


def _check_masker(masker: Any, tokenizer: Any) -> None:
    """A masker given to the batches fits the shards' tokenizer: its random replacements
    stay inside the vocabulary (another vocabulary's ids would index past the model's
    embedding), it masks with the tokenizer's own mask token, and for whole words it knows
    which tokens continue a word (the shards keep no word ids)."""
    if not isinstance(masker, Masker):
        raise ConfigError(
            f"masker must be a lexforge Masker, got {type(masker).__name__}: build one with "
            "Masker.from_tokenizer(tokenizer, ...)"
        )
    if masker.vocab_size != tokenizer.vocab_size:
        raise ConfigError(
            f"the masker's vocab_size is {masker.vocab_size} but the shards' tokenizer has "
            f"{tokenizer.vocab_size} ids: build it with "
            "Masker.from_tokenizer(shards.tokenizer(), ...)"
        )
    specials = dict(tokenizer.special_tokens)
    own = next((specials[t] for t in MASK_TOKENS if t in specials), None)
    if own is not None and masker.mask_token_id != own:
        raise ConfigError(
            f"the masker masks with id {masker.mask_token_id} but the shards' tokenizer's mask "
            f"token is id {own}: build it with Masker.from_tokenizer(shards.tokenizer(), ...)"
        )
    if masker.whole_word and not masker.knows_words:
        raise ConfigError(
            "the masker picks whole words but has no continuation_ids, and the shards keep no "
            "word ids: build it with Masker.from_tokenizer(shards.tokenizer(), whole_word=True)"
        )
