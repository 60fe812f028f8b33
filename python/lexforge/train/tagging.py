"""Fine-tuning for word tagging (BIO named entities, part-of-speech tags):
``lf.finetune(..., task="tag")``.

Data: sentences as ``(tokens, tags)`` — a tagged dataset (``twitter-ner``,
``peoples-daily``) by name, a CoNLL-style file (one ``token tag`` per line, whitespace
separated, a blank line between sentences, ``-DOCSTART-`` lines skipped), a CoNLL-U file
(``.conllu``: FORM and UPOS), a jsonl file with a list of tokens and a list of tags per
line (column names configurable; integer tags, as HF ``datasets`` exports ``ner_tags``,
are named by their decimal form), or a list of pairs. The given tokens are the words:
each word's tag is learned and predicted on its first subword piece (found through the
tokenizer's character offsets, so words the tokenizer would split further, like ``@user``
or ``'s``, still count as one), the other pieces are ignored by the loss.

Metrics, per word: tag accuracy and macro-F1 (with a confusion matrix), and, when the
tags are BIO, entity-level precision, recall and F1 as CoNLL's ``conlleval`` counts them
(an entity is a maximal B-X I-X ... run; a stray I-X starts one), overall and per type.
The best epoch is chosen by entity F1 (BIO) or tag accuracy. Integer tags (``"3"``) are
not BIO, so they get word metrics only: map them to their names for entity scores. Nor
are BIOES/BILOU tags (``S-``, ``E-``, ``L-``, ``U-`` prefixes): a warning says to convert
them to BIO (IOB2) for entity scores. Tags meant as BIO that are not (``B_PER``, ``PER-B``,
a stray tag beside ``O``, ``B-`` and ``I-`` ones) get a warning naming them.

This module aligns words with their first pieces and runs the loop; reading the data is
``tagging_data``'s, the entity scores ``tagging_score``'s (their names re-exported here).
"""

from __future__ import annotations

import bisect
import math
import os
import random
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._extras import require
from ..errors import ConfigError
from ._files import check_splits, split_at
from ._fit import (
    FitOptions,
    autocast,
    check_max_length,
    check_out_dir,
    encode_batch,
    fit,
    one_run,
    prepare,
    save_best,
    write_json,
)
from .classify import FinetuneResult
from .metrics import classification_metrics
from .plots import plot_confusion
from .records import dataset_name, sorted_labels
from .tagging_data import Sentence as Sentence
from .tagging_data import read_tagged as read_tagged
from .tagging_score import _not_quite_bio as _not_quite_bio
from .tagging_score import _other_scheme as _other_scheme
from .tagging_score import bio_entities as bio_entities
from .tagging_score import entity_metrics as entity_metrics
from .tagging_score import is_bio as is_bio

# ---------------------------------------------------------------------------------------
# words and their first pieces


def first_piece_labels(
    offsets: Any,
    special: Any,
    words: Sequence[Sequence[str]],
    labels: Sequence[Sequence[int]],
    continued: Any = None,
    stride: int = 0,
) -> Any:
    """Token labels for sentences given as words joined by single spaces: each word's label
    on the first piece that starts inside it, -100 (ignored by the loss) on its other
    pieces, on special tokens and on padding; int64 (rows, length).

    The words are yours (a CoNLL file's tokens), whatever the tokenizer's pre-tokenizer
    makes of them: "don't" stays one word, and a word with no piece (a zero-width space, a
    control character) gets no label without shifting the others', unlike
    ``lexforge.model.align_word_labels``, whose labels are per tokenizer word::

        enc = tok.encode_batch([" ".join(w) for w in words], padding=True,
                               return_tensors="np", return_offsets=True,
                               return_special_tokens_mask=True)
        target = first_piece_labels(enc["offsets"], enc["special_tokens_mask"], words, labels)

    ``offsets`` (rows, length, 2) are the pieces' character spans in the joined text;
    ``special`` (rows, length) marks special tokens and padding; ``labels[row][k]`` is the
    integer class id of ``words[row][k]``. ``continued`` (rows,) marks windows after a
    sentence's first (sharing ``stride`` pieces with the row before), whose opening piece
    may continue a word of the window before (then that word gets no label here). Words
    left without a piece (cut by truncation) get no label."""
    offsets, special = np.asarray(offsets), np.asarray(special)
    out = np.full(special.shape, -100, dtype=np.int64)
    flags = np.zeros(len(words), dtype=bool) if continued is None else np.asarray(continued)
    before = preceding_pieces(offsets, special, flags, stride)
    spans, spanned = _word_spans(()), None
    for row, (tokens, tags) in enumerate(zip(words, labels, strict=True)):
        if tokens is not spanned:  # (a sentence's windows share its words: spans once)
            spans, spanned = _word_spans(tokens), tokens
        for j, word in _first_pieces(offsets[row], special[row], spans, before[row]):
            out[row, j] = tags[word]
    return out


def preceding_pieces(
    offsets: Any, special: Any, continued: Any, stride: int
) -> list[tuple[int, int] | None]:
    """For each row, the span of the piece just before its opening piece in the whole
    sentence: in a continued window (which repeats the last ``stride`` pieces of the row
    before), the row before's piece ahead of those; None for a sentence's first row."""
    out: list[tuple[int, int] | None] = [None] * len(continued)
    for row in np.flatnonzero(np.asarray(continued, dtype=bool)):
        content = np.flatnonzero(~np.asarray(special[row - 1], dtype=bool))
        at = len(content) - stride - 1
        if at >= 0:
            s, e = (int(x) for x in offsets[row - 1][content[at]])
            out[row] = (s, e)
    return out


def _word_spans(tokens: Sequence[str]) -> tuple[list[int], list[int]]:
    """Where each word starts and ends in the words joined by single spaces. Made once
    per sentence, not per window: a long sentence's windows each made them again, time
    quadratic in its words (32,000 words: 85,000 windows)."""
    starts, ends, at = [], [], 0
    for t in tokens:
        starts.append(at)
        ends.append(at + len(t))
        at += len(t) + 1
    return starts, ends


def _first_pieces(
    offsets: Any,
    special: Any,
    spans: tuple[list[int], list[int]],
    before: tuple[int, int] | None = None,
) -> Iterator[tuple[int, int]]:
    """(piece index, word index) of each word's first piece, the words' ``spans`` from
    :func:`_word_spans`; in a continued window (the span of the piece ahead of it given as
    ``before``), not of the word that piece belongs to: its first piece is in the window
    before."""
    starts, ends = spans

    def word_of(s: int, e: int) -> tuple[int, int]:
        """The word a piece belongs to, and where the piece starts within it."""
        word = bisect.bisect_right(starts, s) - 1
        if s >= ends[word] and word + 1 < len(starts) and e > starts[word + 1]:
            word, s = word + 1, starts[word + 1]  # a piece holding the space before a word
        return word, s

    seen: set[int] = set()
    if before is not None and before[1] > before[0]:
        seen.add(word_of(*before)[0])  # a word the piece ahead belongs to began before
    for j, ((s, e), sp) in enumerate(zip(offsets.tolist(), special.tolist(), strict=True)):
        if sp or e <= s:
            continue
        word, s = word_of(s, e)
        if word >= 0 and s < ends[word] and word not in seen:
            seen.add(word)
            yield j, word


def _no_pieces(sentences: list[Sentence]) -> ConfigError:
    """The error for training sentences none of whose words has a subword piece (an epoch
    of them trains no step)."""
    word = sentences[0][0][0]
    return ConfigError(
        f"no word of the {len(sentences)} training sentences has a subword piece: the "
        "tokenizer's normalizer drops all of their characters (as BERT's drops U+FFFD and "
        f"lone combining marks, such as the word {word[:20]!r}), so there is nothing to "
        "train on; check the data's encoding, or use a tokenizer that keeps these characters"
    )


# ---------------------------------------------------------------------------------------
# the loop


def windows(
    tok: Any, sentences: Sequence[Sequence[str]], length: int, stride: int, device: Any
) -> tuple[dict[str, torch.Tensor], Any]:
    """The sentences' windows (their words joined by single spaces): a sentence longer than
    ``length`` pieces becomes several rows sharing ``stride`` pieces, so no word goes
    unseen. The model's inputs on ``device``, and (offsets, special-or-padding flags, each
    row's sentence, whether a row continues the one before)."""
    enc = encode_batch(
        tok, [" ".join(tokens) for tokens in sentences], max_length=length, truncation=True,
        stride=stride, return_overflowing_tokens=True, padding=True, return_tensors="np",
        return_offsets=True, return_special_tokens_mask=True,
    )  # fmt: skip
    special = (np.asarray(enc["special_tokens_mask"]) != 0) | (
        np.asarray(enc["attention_mask"]) == 0
    )
    sample = np.asarray(enc["overflow_to_sample_mapping"])
    continued = np.r_[False, sample[1:] == sample[:-1]]
    pieces = {k: torch.as_tensor(np.asarray(enc[k])).to(device)
              for k in ("input_ids", "attention_mask", "token_type_ids")}  # fmt: skip
    return pieces, (np.asarray(enc["offsets"]), special, sample, continued)


def window_stride(length: int) -> int:
    """The pieces neighbouring windows of ``length`` share: a quarter of the room for words,
    at most 128."""
    return max(0, min(128, (length - 2) // 4))


@torch.no_grad()
def tag_words(
    tagger: Any,
    tok: Any,
    sentences: Sequence[Sequence[str]],
    *,
    length: int,
    batch_size: int = 32,
    mixed: Any = None,
) -> list[list[str]]:
    """Each word's tag (the name ``tagger.config.labels`` gives it), as fine-tuning scores
    them: from the window where the word's first piece is furthest from the window's ends
    (the most context on both sides); a word with no piece (a zero-width space) gets "O"
    (else the first tag). Windows of ``length`` pieces; ``mixed`` is the autocast context
    (none by default)."""
    import contextlib

    from ..model.represent import longest_first

    labels = tagger.config.labels
    fallback = labels.index("O") if "O" in labels else 0  # for a word with no piece
    device = next(tagger.parameters()).device
    stride = window_stride(length)
    was_training = tagger.training
    tagger.eval()
    out: list[list[str]] = [[] for _ in sentences]
    # batches of like length, longest first (each batch is padded to its longest window):
    # characters stand in for pieces, which the windows count
    chars = np.array([sum(map(len, words)) + len(words) for words in sentences], np.int64)
    try:
        for indices in longest_first(chars, batch_size):
            chunk = [sentences[i] for i in indices]
            pieces, (offsets, special, sample, continued) = windows(
                tok, chunk, length, stride, device
            )
            before = preceding_pieces(offsets, special, continued, stride)
            with mixed if mixed is not None else contextlib.nullcontext():
                best = tagger(**pieces).logits.argmax(-1).cpu().numpy()
            spans = [_word_spans(tokens) for tokens in chunk]
            tags = [[fallback] * len(tokens) for tokens in chunk]
            margin = [[-1] * len(tokens) for tokens in chunk]
            for row, e in enumerate(sample.tolist()):
                content = np.flatnonzero(~np.asarray(special[row], dtype=bool))
                if not len(content):
                    continue
                first, last = int(content[0]), int(content[-1])
                for j, word in _first_pieces(offsets[row], special[row], spans[e], before[row]):
                    m = min(j - first, last - j)
                    if m > margin[e][word]:
                        margin[e][word], tags[e][word] = m, int(best[row, j])
            for i, row_tags in zip(indices.tolist(), tags, strict=True):
                out[i] = [labels[t] for t in row_tags]
    finally:
        tagger.train(was_training)
    return out


@one_run
def finetune_tagger(
    model: Any,
    train: Any,
    *,
    validation: Any = None,
    test: Any = None,
    tokenizer: Any = None,
    out_dir: str | os.PathLike[str] | None = None,
    tokens_column: str = "tokens",
    tags_column: str = "tags",
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 5e-5,
    warmup: float = 0.1,
    weight_decay: float = 0.01,
    layer_decay: float = 1.0,
    clip: float = 1.0,
    max_length: int = 128,
    patience: int | None = None,
    max_steps: int | None = None,
    time_limit: float | None = None,
    seed: int = 0,
    device: str | None = None,
    precision: str | None = None,
    progress: bool | None = None,
    runs: int = 1,
    new_head: bool = False,
) -> FinetuneResult:
    """Fine-tunes ``model`` (a checkpoint directory or a lexforge model) to tag words; see
    the module docstring. Arguments as in ``finetune``. ``result.validation`` and
    ``result.test`` hold ``accuracy``, ``macro_f1`` and ``confusion`` over word tags and,
    for BIO tags, ``entity`` (precision, recall, f1, per type). Writes into ``out_dir``
    ``best/`` (HF format), ``metrics.json``, ``log.jsonl`` and ``confusion.png``.

    Raises ``ConfigError`` for an empty split, malformed sentences, validation/test tags
    never seen in training, or training words none of which has a subword piece."""
    if out_dir is not None:  # best/ is written with safetensors: checked before training
        require("fine-tuning into out_dir", "safetensors")
    options = FitOptions(
        epochs=epochs, lr=lr, warmup=warmup, weight_decay=weight_decay, layer_decay=layer_decay,
        clip=clip, patience=patience, max_steps=max_steps, time_limit=time_limit,
        batch_size=batch_size, runs=runs, seed=seed, precision=precision,
    )  # fmt: skip
    check_max_length(max_length)
    check_out_dir(out_dir, model=model, data=(train, validation, test))
    if tokens_column == tags_column:  # the words would be read as their own tags
        raise ConfigError(
            f"the tokens and tags columns must differ, got {tokens_column!r} for both; name "
            "the tags column with tags_column= (label_column= in finetune, --label-column)"
        )
    named = dataset_name(train) is not None  # (a str or a Path): its own splits follow

    def read(source: Any, split: str) -> list[Sentence]:
        return read_tagged(source, split=split, tokens_column=tokens_column,
                           tags_column=tags_column, seed=seed)  # fmt: skip

    splits = {"train": read(train, "train")}
    sources = {"train": train}
    for name, given in (("validation", validation), ("test", test)):
        if given is None and named:
            given = train
        if given is not None:
            splits[name], sources[name] = read(given, name), given
    check_splits(splits, sources)
    labels = sorted_labels({t for _, tags in splits["train"] for t in tags})  # "2" before "10"
    if len(labels) < 2:
        raise ConfigError(f"training data has {len(labels)} tag(s); tagging needs 2+")
    for name, sentences in splits.items():
        unseen = sorted({t for _, tags in sentences for t in tags} - set(labels))
        if unseen:
            first = next(i for i, (_, tags) in enumerate(sentences) if set(tags) - set(labels))
            raise ConfigError(
                f"{split_at(name, sources[name], 'sentence', first)} has tags never seen in "
                f"training: {unseen[:5]}; fix the data or the split"
            )
    scheme = _other_scheme(labels)
    bio = is_bio(labels) or scheme == "BIOES"  # entities scored as conlleval finds them
    if scheme == "BILOU":
        warnings.warn(
            "the tags look like BILOU (U-/L- prefixes): entity precision, recall and F1 "
            "are scored for BIO (IOB2) and BIOES tags only, so this run reports word "
            "metrics and keeps the epoch with the best tag accuracy; for entity scores, "
            "convert the tags to BIOES (U-X to S-X, L-X to E-X)",
            stacklevel=3,
        )
    off = _not_quite_bio(labels)
    if off:
        more = f" and {len(off) - 5} more" if len(off) > 5 else ""
        warnings.warn(
            "the tags look like entity tags but are not all BIO (IOB2): "
            f"{', '.join(map(repr, off[:5]))}{more}; entity "
            "precision, recall and F1 are scored for BIO tags only (O, B-TYPE, I-TYPE), so "
            "this run reports word metrics and keeps the epoch with the best tag accuracy; "
            "for entity scores, write the tags as B-TYPE and I-TYPE",
            stacklevel=3,
        )
    torch.manual_seed(seed)
    from ..model import BertForTokenClassification

    tagger, tok, dev = prepare(BertForTokenClassification, model, labels, tokenizer, device,
                            new_head=new_head)  # fmt: skip
    labels = tagger.config.labels  # a checkpoint's head may hold the tags in its own order
    index = {label: i for i, label in enumerate(labels)}

    length = min(max_length, tagger.config.max_position_embeddings)
    stride = window_stride(length)

    def encode(chunk: list[Sentence]) -> tuple[dict[str, torch.Tensor], Any]:
        return windows(tok, [tokens for tokens, _ in chunk], length, stride, dev)

    def batches(
        sentences: list[Sentence], shuffle: bool, epoch: int, order_seed: int = seed
    ) -> Iterator[Any]:
        order = list(range(len(sentences)))
        if shuffle:
            random.Random(order_seed * 1000 + epoch).shuffle(order)
        for start in range(0, len(order), batch_size):
            yield [sentences[i] for i in order[start : start + batch_size]]

    mixed = autocast(dev, options.precision)

    def predict(sentences: list[Sentence]) -> list[list[str]]:
        return tag_words(tagger, tok, [tokens for tokens, _ in sentences], length=length,
                         batch_size=batch_size, mixed=mixed)  # fmt: skip

    def evaluate(sentences: list[Sentence]) -> dict[str, Any]:
        predicted = predict(sentences)
        gold = [tags for _, tags in sentences]
        flat_gold = [index[t] for tags in gold for t in tags]
        flat_pred = [index[t] for tags in predicted for t in tags]
        metrics = classification_metrics(flat_gold, flat_pred, len(labels))
        if bio:
            metrics["entity"] = entity_metrics(gold, predicted)
        return metrics

    def score(metrics: dict[str, Any]) -> float:
        return float(metrics["entity"]["f1"] if bio else metrics["accuracy"])

    def training(run_seed: int) -> Any:
        def epochs(epoch: int) -> Iterator[tuple[dict[str, torch.Tensor], int]]:
            trained = False
            for chunk in batches(splits["train"], True, epoch, run_seed):
                pieces, (offsets, special, sample, continued) = encode(chunk)
                words = [chunk[e][0] for e in sample.tolist()]
                tag_ids = [[index[g] for g in sentence[1]] for sentence in chunk]  # (once each)
                ids = [tag_ids[e] for e in sample.tolist()]
                target = first_piece_labels(offsets, special, words, ids, continued, stride)
                if not (target != -100).any():  # no word has a piece (all dropped by the
                    continue  # normalizer, as U+FFFD): a loss over nothing would be NaN
                trained = True
                # (weighted by its labelled pieces: the epoch's loss is their mean, as each
                # batch's is)
                labelled = int((target != -100).sum())
                yield {**pieces, "labels": torch.as_tensor(target).to(dev)}, labelled
            if not trained:  # every batch skipped: the run would end after 0 steps
                raise _no_pieces(splits["train"])

        return epochs

    def summary(metrics: dict[str, Any]) -> dict[str, Any]:
        shown = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
        return {**shown, "entity_f1": metrics["entity"]["f1"]} if bio else shown

    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    fitted = fit(
        tagger, training, math.ceil(len(splits["train"]) / batch_size), options,
        evaluate=(lambda: evaluate(splits["validation"])) if "validation" in splits else None,
        score=score, summary=summary, device=dev, out=out, progress=progress,
        label="fine-tuning (tags)",
    )  # fmt: skip
    result = FinetuneResult(tagger, labels, fitted.history, fitted.best or {}, soup=fitted.soup)
    if "test" in splits:
        result.test = evaluate(splits["test"])
    if out is not None:
        save_best(tagger, out, tok)
        report = {"task": "tag", "labels": list(labels), "validation": result.validation,
                  "test": result.test, "history": result.history, **fitted.report()}  # fmt: skip
        write_json(out / "metrics.json", report)
        shown = result.test or result.validation
        if shown:
            plot_confusion(shown["confusion"], labels, out / "confusion.png",
                           "test" if result.test else "validation")  # fmt: skip
    fitted.warn()
    return result
