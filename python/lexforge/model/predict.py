"""Predictions of fine-tuned heads on new inputs: :func:`classify` (a text classifier's
classes, or scores) and :func:`tag` (a tagger's tag for each word), as the fine-tuning
loops score them, batch by batch, on the model's device.

A text longer than the model's positions is refused, naming it, before any batch is read
(nothing is truncated silently), unless ``classify`` is given a ``max_length`` to cut
texts to, as fine-tuning cut them (its ``metrics.json`` records the length); a tagged
sentence that long is read in overlapping windows, as in fine-tuning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from .represent import _config, _texts, _tokenizer, check_counts, longest_first, token_counts


@torch.no_grad()
def classify(
    model: nn.Module,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    *,
    tokenizer: Any = None,
    batch_size: int = 32,
    max_length: int | None = None,
) -> list[Any]:
    """Each text's prediction (with its ``pairs`` text, for a sentence-pair classifier):
    ``(label, probability)`` for single-label classification (the softmax's most likely
    class), the ``(label, probability)`` pairs above 0.5 (most likely first) for
    multi-label, a float for regression (a dict of each output's label and value when the
    head has several).

    Texts are read whole by default. ``max_length`` cuts longer ones (the longer of a
    pair first) to that many tokens, as fine-tuning cuts its texts (its ``max_length``,
    128 by default, is in ``metrics.json``), so that predictions are the ones its
    evaluation scored; how many were cut is warned. Texts are read in batches of like
    length, longest first; the predictions keep the given order."""
    from ..batch import check_int
    from ..train._fit_model import encode_batch

    _expect_head(model, "classify")
    texts = _texts(texts, batch_size)
    if pairs is not None:
        pairs = _texts(pairs, batch_size, "pairs")
        if len(pairs) != len(texts):
            raise ConfigError(f"{len(texts)} texts but {len(pairs)} pairs; give one pair a text")
    if max_length is not None:  # [CLS] a [SEP], and b [SEP] for a pair
        max_length = check_int("max_length", max_length, least=3 if pairs is None else 5)
    tok = _tokenizer(model, tokenizer)
    config = _config(model)
    if pairs is not None and config.type_vocab_size < 2:
        raise ConfigError(
            f"the model has type_vocab_size={config.type_vocab_size}: one segment, so it "
            "reads no sentence pairs; pass the texts alone (or each pair joined into one)"
        )
    if max_length is not None and max_length > config.max_position_embeddings:
        raise ConfigError(  # (its rows would be refused as longer than the model reads)
            f"max_length={max_length} is more than the model's "
            f"{config.max_position_embeddings} positions; pass at most "
            f"{config.max_position_embeddings}"
        )
    problem = model.problem()  # type: ignore[operator]
    device = next(model.parameters()).device
    counts = token_counts(tok, texts, pairs)
    cut = 0
    if max_length is not None:  # the rows fine-tuning made (and the count it would warn of)
        cut = int((counts > max_length).sum())
        counts = counts.clip(max=max_length)
    check_counts(counts, config.max_position_embeddings)
    was_training = model.training
    model.eval()
    out: list[Any] = [None] * len(texts)
    try:
        for indices in longest_first(counts, batch_size):
            chunk = [texts[i] for i in indices]
            second = None if pairs is None else [pairs[i] for i in indices]
            cutting = {} if max_length is None else {"max_length": max_length}
            enc = encode_batch(tok, chunk, second, truncation=max_length is not None,
                               padding=True, return_tensors="pt", **cutting)  # fmt: skip
            got: list[Any]
            inputs = {k: enc[k].to(device) for k in ("input_ids", "attention_mask",
                                                     "token_type_ids")}  # fmt: skip
            logits = model(**inputs).logits.float().cpu()
            if problem == "regression" and logits.shape[1] == 1:
                got = [float(v) for v in logits[:, 0]]
            elif problem == "regression":  # every output, by its label
                got = [dict(zip(config.labels, row, strict=True)) for row in logits.tolist()]
            elif problem == "multi_label_classification":
                got = []
                for row in torch.sigmoid(logits).tolist():
                    kept = sorted(((p, i) for i, p in enumerate(row) if p > 0.5), reverse=True)
                    got.append([(config.labels[i], p) for p, i in kept])
            else:
                probability, best = torch.softmax(logits, -1).max(-1)
                got = [(config.labels[i], p) for i, p in zip(best.tolist(), probability.tolist(),
                                                              strict=True)]  # fmt: skip
            for i, value in zip(indices.tolist(), got, strict=True):
                out[i] = value
    finally:
        model.train(was_training)
    if cut:
        warnings.warn(
            f"{cut} of {len(texts)} texts are longer than max_length={max_length} tokens: "
            "cut to it, as fine-tuning cut its texts",
            stacklevel=2,
        )
    return out


def tag(
    model: nn.Module,
    sentences: Sequence[str | Sequence[str]],
    *,
    tokenizer: Any = None,
    batch_size: int = 32,
    max_length: int | None = None,
) -> list[list[tuple[str, str]]]:
    """Each word's tag, as ``(word, tag)`` pairs per sentence. A sentence is a list of
    words (as the tagger was trained on: CoNLL tokens), or a text, cut into words at
    whitespace. Windows of ``max_length`` pieces (default: the model's positions) overlap
    as in fine-tuning, and a word takes its tag from the one where it has the most context
    on both sides; a word with no piece (a zero-width space) is tagged "O" (else the first
    tag). Sentences are read in batches of like length, longest first; the tags keep the
    given order."""
    from ..batch import check_int
    from ..train.tagging import tag_words

    _expect_head(model, "tag")
    if isinstance(sentences, str):
        raise TypeError("pass a list of sentences (texts, or lists of words)")
    check_int("batch_size", batch_size, least=1)
    words: list[list[str]] = []
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, str):
            words.append(sentence.split())
            continue
        if not isinstance(sentence, Sequence) or not all(isinstance(w, str) for w in sentence):
            raise TypeError(
                f"sentence {i} is not a text or a list of words (str): {sentence!r:.60}"
            )
        blank = next((j for j, w in enumerate(sentence) if not w.strip()), None)
        if blank is not None:
            raise ConfigError(f"sentence {i}: word {blank} is blank; drop it or give its text")
        words.append(list(sentence))
    tok = _tokenizer(model, tokenizer)
    limit = _config(model).max_position_embeddings
    length = limit if max_length is None else check_int("max_length", max_length, least=3)
    tags = tag_words(model, tok, words, length=min(length, limit), batch_size=batch_size)
    return [list(zip(w, t, strict=True)) for w, t in zip(words, tags, strict=True)]


@torch.no_grad()
def answer(
    model: nn.Module,
    questions: Sequence[str],
    contexts: Sequence[str],
    *,
    tokenizer: Any = None,
    batch_size: int = 32,
    max_length: int = 384,
    stride: int | None = None,
    max_answer_length: int = 30,
    null_threshold: float | None = None,
) -> list[tuple[str, int, float]]:
    """Each question's answer in its context, as fine-tuning scores them: ``(text,
    character start in the context, score)``, the best span over the context's windows of
    ``max_length`` tokens (sharing ``stride``; by default half a window, at most 128),
    at most ``max_answer_length`` pieces; the score is its start + end logit. A question
    past 64 tokens (or a quarter of the window) is cut to them, with a warning counting
    such questions. With ``null_threshold``
    (SQuAD 2.0's, as ``finetune_qa`` reports it), a question whose no-answer score beats
    its best span's by more gets ``("", -1, score)``: no answer; without, every question
    gets its best span. ``ConfigError`` for a blank question or context, a context with no
    token (only characters the tokenizer drops), and a question that leaves its windows
    too little room to share ``stride`` tokens, each named by its index. Pairs are read in
    batches of like length, longest first; the answers keep the given order."""
    from numbers import Real

    from ..batch import check_int
    from ..train.qa_data import QAExample
    from ..train.qa_windows import (
        _check_fit,
        best_spans,
        cut_questions,
        null_scores,
        plan,
        windows,
    )

    _expect_head(model, "answer")
    questions = _texts(questions, batch_size, "questions")
    contexts = _texts(contexts, batch_size, "contexts")
    if len(questions) != len(contexts):
        raise ConfigError(
            f"{len(questions)} questions but {len(contexts)} contexts; give a context each"
        )
    for name, given in (("questions", questions), ("contexts", contexts)):
        blank = next((i for i, c in enumerate(given) if not c.strip()), None)
        if blank is not None:
            raise ConfigError(
                f"{name}[{blank}] is blank; "
                + ("an answer is a span of its context" if name == "contexts" else "ask something")
            )
    if null_threshold is not None:
        if isinstance(null_threshold, bool) or not isinstance(null_threshold, Real) or (
            not math.isfinite(null_threshold)
        ):  # fmt: skip
            raise ConfigError(
                f"null_threshold must be a finite number or None, got {null_threshold!r}"
            )
        null_threshold = float(null_threshold)
    max_answer_length = check_int("max_answer_length", max_answer_length, least=1)
    tok = _tokenizer(model, tokenizer)
    config = _config(model)
    length = min(check_int("max_length", max_length, least=1), config.max_position_embeddings)
    limit, added, stride = plan(tok, length, stride)
    check_int("stride", stride, most=length - 1)
    # questions cut, and each pair's fit checked, over the whole list: errors name the pair
    asked = [QAExample(q, c) for q, c in zip(questions, contexts, strict=True)]
    examples, counts = cut_questions(tok, asked, limit)
    cut = [i for i, (a, b) in enumerate(zip(asked, examples, strict=True)) if a is not b]
    if cut:
        warnings.warn(
            f"{len(cut)} of {len(asked)} questions are longer than {limit} tokens and are "
            f"cut to their first {limit} (questions[{cut[0]}] first), so that a "
            f"{length}-token window keeps room for the context"
            + ("" if limit == 64 else " (a max_length of 256 or more keeps 64: BERT's)"),
            stacklevel=2,
        )
    _check_fit(tok, examples, counts, lambda i: f"questions[{i}] with contexts[{i}]",
               length=length, stride=stride, added=added)  # fmt: skip
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[tuple[str, int, float]] = [("", -1, 0.0)] * len(examples)
    # batches of like length, longest first (each is padded to its longest window);
    # characters stand in for tokens
    chars = np.array([len(e.question) + len(e.context) for e in examples], np.int64)
    failed: dict[int, ConfigError] = {}  # (the first in the given order is raised)
    try:
        for indices in longest_first(chars, batch_size):
            chunk = [examples[i] for i in indices]
            w = windows(tok, chunk, length, stride)
            logits = model(**{k: torch.as_tensor(v).to(device) for k, v in w.arrays.items()})
            start = logits.start_logits.float().cpu().numpy()
            end = logits.end_logits.float().cpu().numpy()
            found = best_spans(start, end, w, chunk, max_answer_length=max_answer_length)
            for empty, span in enumerate(found):
                if span[1] >= 0:
                    continue
                rows = w.rows_of.get(empty, [])
                ctx = w.in_context[rows]
                at = int(indices[empty])
                if ctx.any():  # only scores that are not finite leave no span to answer with
                    if not np.isfinite(np.concatenate([start[rows][ctx], end[rows][ctx]])).all():
                        failed[at] = not_finite(f"questions[{at}]")
                    continue  # (only blank spans: no answer)
                failed[at] = ConfigError(
                    f"contexts[{at}] has no token: this tokenizer drops each of its "
                    "characters (zero-width, control or lone accent characters); an answer "
                    "is a span of its context, so give it text"
                )
            if null_threshold is not None:
                nulls = null_scores(start, end, w, len(chunk))
                found = [
                    ("", -1, float(null)) if null - span[2] > null_threshold else span
                    for span, null in zip(found, nulls, strict=True)
                ]
            for i, span in zip(indices.tolist(), found, strict=True):
                out[i] = span
    finally:
        model.train(was_training)
    if failed:
        raise failed[min(failed)]
    return out


_HEADS = {
    "classify": "BertForSequenceClassification",
    "tag": "BertForTokenClassification",
    "answer": "BertForQuestionAnswering",
}


def _expect_head(model: object, function: str) -> None:
    """``model`` has the head ``function`` reads, else a ConfigError that names the head
    it has and the function for it (its outputs have other fields: an AttributeError)."""
    from . import heads

    want = _HEADS[function]
    if isinstance(model, getattr(heads, want)):
        return
    has = type(model).__name__
    other = next((f for f, head in _HEADS.items() if head == has), None)
    fix = (
        f"use {other}() for it"
        if other is not None
        else "fine-tune one for the task (lexforge.finetune), or load a checkpoint that has it"
    )
    raise ConfigError(f"{function}() needs a {want}, got a {has}; {fix}")


def not_finite(where: str) -> ConfigError:
    """The error for a prediction that is not a number (NaN, or infinite): the model's
    weights are (``from_pretrained`` warns of such a checkpoint)."""
    return ConfigError(
        f"{where}: the model's scores are not finite (NaN or infinite): its weights hold "
        "such values (from_pretrained warned of them) or overflowed in a low precision; "
        "load another checkpoint, or the model in float32"
    )
