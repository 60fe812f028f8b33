"""Question answering windows and spans: doc-stride windows of question + context
(``windows``), cutting long questions, the training targets (an answer's first and last
pieces, or [CLS]), answers no window holds whole, and mapping start/end logits back to
answer spans in the context (``best_spans``, ``null_scores``)."""

from __future__ import annotations

import collections
import dataclasses
import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np

from ..errors import ConfigError
from ._fit import encode_batch
from .qa_data import QAExample, _unpieced


@dataclass
class Windows:
    """The model's rows for a list of examples: token arrays (rows, length), the context
    pieces' character offsets, which pieces are context, and each row's example."""

    arrays: dict[str, Any]
    offsets: Any  # (rows, length, 2), into the context for context pieces
    in_context: Any  # (rows, length) bool
    example: Any  # (rows,) index into the examples
    rows_of: dict[int, list[int]] = field(default_factory=dict)


def windows(
    tok: Any, examples: Sequence[QAExample], max_length: int = 384, stride: int = 128
) -> Windows:
    """Question + context windows (see the module docstring)."""
    enc = encode_batch(
        tok, [e.question for e in examples], [e.context for e in examples], max_length=max_length,
        truncation="only_second", stride=stride, return_overflowing_tokens=True,
        padding=True, return_tensors="np", return_offsets=True, return_special_tokens_mask=True,
    )  # fmt: skip
    arrays = {k: np.asarray(enc[k]) for k in ("input_ids", "token_type_ids", "attention_mask")}
    in_context = (
        (arrays["token_type_ids"] == 1)
        & (np.asarray(enc["special_tokens_mask"]) == 0)
        & (arrays["attention_mask"] == 1)
    )
    example = np.asarray(enc["overflow_to_sample_mapping"])
    rows_of: dict[int, list[int]] = collections.defaultdict(list)
    for row, e in enumerate(example.tolist()):
        rows_of[e].append(row)
    return Windows(arrays, np.asarray(enc["offsets"]), in_context, example, dict(rows_of))


def plan(tok: Any, length: int, stride: int | None) -> tuple[int, int, int]:
    """(the most tokens a question keeps, the special tokens a window adds, the tokens
    neighbouring windows share) for windows of ``length`` tokens; ``stride`` None is the
    default: half a window, at most 128, less than the room a window keeps for its context.
    ``ConfigError`` for a tokenizer that does not tell the context by its type id, or a
    window with no room for a context."""
    plain = {"truncation": False, "padding": False}
    pair = encode_batch(tok, ["a"], ["a"], return_tensors="np", **plain)
    single = encode_batch(tok, ["a"], add_special_tokens=False, **plain)[0]
    added = pair["input_ids"].shape[1] - 2 * len(single)  # [CLS] and two [SEP]
    if not pair["token_type_ids"].any():
        raise ConfigError(
            "question answering tells the context by its type id 1, and this tokenizer gives "
            "the second text of a pair type id 0 (RoBERTa's framing); use a BERT-style "
            "template (tok.with_template(cls_token, sep_token))"
        )
    limit = query_limit(length)
    room = length - added - limit  # the fewest context tokens a window keeps
    if room < 1:
        raise ConfigError(
            f"a window of {length} tokens leaves no room for a context after {added} special "
            f"tokens and a question of {limit}; raise max_length (--max-length)"
        )
    return limit, added, max(0, min(128, length // 2, room - 1)) if stride is None else stride


def query_limit(length: int) -> int:
    """The most tokens a question keeps in a window of ``length``: BERT's SQuAD recipe's
    64 (its max_query_length), and at most a quarter of the window, so that the context
    keeps most of it and neighbouring windows move on by a quarter at least."""
    return max(1, min(64, length // 4))


def cut_questions(
    tok: Any, examples: Sequence[QAExample], limit: int
) -> tuple[list[QAExample], list[int]]:
    """``examples`` with each question longer than ``limit`` tokens cut to its first
    ``limit`` (at a piece's last character), and each question's tokens after the cut."""
    plain = {"add_special_tokens": False, "truncation": False, "padding": False}
    counts = [len(ids) for ids in encode_batch(tok, [e.question for e in examples], **plain)]
    long = [i for i, n in enumerate(counts) if n > limit]
    out = list(examples)
    if not long:
        return out, counts
    enc = encode_batch(
        tok, [examples[i].question for i in long], add_special_tokens=False, truncation=False,
        padding=True, return_tensors="np", return_offsets=True,
    )  # fmt: skip
    offsets = np.asarray(enc["offsets"])
    for row, i in enumerate(long):
        question = examples[i].question
        for keep in range(limit, 0, -1):  # a word cut inside may become more pieces
            cut = question[: int(offsets[row, keep - 1, 1])].rstrip()
            counts[i] = len(encode_batch(tok, [cut], **plain)[0])
            if counts[i] <= limit:
                break
        out[i] = dataclasses.replace(examples[i], question=cut)
    return out, counts


def _check_fit(
    tok: Any, examples: Sequence[QAExample], counts: Sequence[int], name: Callable[[int], str],
    *, length: int, stride: int, added: int, capped: bool = False,
) -> None:  # fmt: skip
    """``ConfigError`` naming the first example whose windows cannot share ``stride``
    tokens (by ``name(i)``): its context is cut, and its question leaves no more than
    that. ``capped``: ``length`` is the model's positions, which max_length cannot pass."""
    tight = [i for i, n in enumerate(counts) if stride >= length - added - n]
    if not tight:
        return
    plain = {"add_special_tokens": False, "truncation": False, "padding": False}
    contexts = encode_batch(tok, [examples[i].context for i in tight], **plain)
    for i, context in zip(tight, contexts, strict=True):
        if counts[i] + len(context) + added > length:
            room = length - added - counts[i]
            raise ConfigError(
                f"{name(i)} does not fit: its "
                f"question keeps {counts[i]} tokens, which leaves {room} of the {length}-token "
                f"window for its context, and windows that share stride={stride} tokens need "
                "more; lower stride (the default fits every question)"
                + (
                    f"; the model's {length} positions are the window, so a larger max_length "
                    "cannot widen it"
                    if capped
                    else " or raise max_length (--max-length)"
                )
            )


def window_targets(w: Windows, examples: Sequence[QAExample]) -> tuple[Any, Any]:
    """(start, end) piece positions of each row's first answer: its first and last pieces
    when the row's context holds all of it, else 0 and 0 ([CLS]). Characters no piece
    holds (``_unpieced``) at either end of the answer need not be in the window: an
    answer ending in a combining accent, at the end of the context, is still answered."""
    starts = np.zeros(len(w.example), dtype=np.int64)
    ends = np.zeros(len(w.example), dtype=np.int64)
    for row, e in enumerate(w.example.tolist()):
        if not examples[e].answers:
            continue
        span = _answer_pieces(w, row, examples[e].context, *examples[e].answers[0])
        if span is not None:
            starts[row], ends[row] = span
    return starts, ends


def _answer_pieces(
    w: Windows, row: int, context: str, text: str, first: int
) -> tuple[int, int] | None:
    """The first and last pieces of the answer ``text`` at character ``first`` in window
    ``row``, or None when the window's context does not hold all of it."""
    last = first + len(text)  # one past the answer's last character
    pieces = np.flatnonzero(w.in_context[row])
    if not len(pieces):
        return None
    spans = w.offsets[row, pieces]
    inside = np.flatnonzero((spans[:, 1] > first) & (spans[:, 0] < last))
    if not len(inside):
        return None  # (before the slices below: from a window far from the answer they
        # would span the context between them, for each window of a long context)
    outside = (
        context[first : max(first, int(spans[0, 0]))] + context[min(last, int(spans[-1, 1])) : last]
    )
    if not all(map(_unpieced, outside)):
        return None  # not all of the answer is in this window
    return int(pieces[inside[0]]), int(pieces[inside[-1]])


def unheld_answers(w: Windows, examples: Sequence[QAExample], starts: Any = None) -> list[int]:
    """The examples with answers of which no window holds one whole: cut by the edge of
    every window that holds part of it. Given the training targets ``starts`` (from
    :func:`window_targets`), only an example's first answer counts, the one it trains on
    (a target at 0, [CLS], is no answer): such an example is taught that its context
    holds none."""
    targets = None if starts is None else np.asarray(starts)
    cut = []
    for e, example in enumerate(examples):
        if not example.answers:
            continue
        rows = w.rows_of.get(e, [])
        if targets is not None:
            held = bool(targets[rows].any())
        else:
            held = any(_answer_pieces(w, row, example.context, text, first) is not None
                       for row in rows for text, first in example.answers)  # fmt: skip
        if not held:
            cut.append(e)
    return cut


def best_answers(
    start_logits: Any, end_logits: Any, w: Windows, examples: Sequence[QAExample],
    *, max_answer_length: int = 30, n_best: int = 20,
) -> list[tuple[str, int]]:  # fmt: skip
    """Each example's best answer over its windows, as (text, character start); ("", -1)
    when no window proposes a valid span."""
    spans = best_spans(start_logits, end_logits, w, examples, max_answer_length=max_answer_length,
                       n_best=n_best)  # fmt: skip
    return [(text, start) for text, start, _ in spans]


def best_spans(
    start_logits: Any, end_logits: Any, w: Windows, examples: Sequence[QAExample],
    *, max_answer_length: int = 30, n_best: int = 20,
) -> list[tuple[str, int, float]]:  # fmt: skip
    """Each example's best span over its windows, as (text, character start, score: start
    + end logit), from the ``n_best`` best starts and ends of each window or, when no pair
    of them is a valid span (every end before every start, or too far after it) and the
    scores are finite, from all of them; ("", -1, -inf) when no span is valid. A span is
    valid when its end is not before its start, it takes at most ``max_answer_length``
    pieces, and its text is not blank: a byte-level BPE's pieces for a run of spaces have
    empty (trimmed) offsets, and a span of them alone is no answer. A span's text is given
    without the whitespace at either end. Raises ``ConfigError`` when ``max_answer_length``
    or ``n_best`` is not a positive whole number."""
    _check_count("max_answer_length", max_answer_length, "the most pieces an answer takes", 30)
    _check_count("n_best", n_best, "the starts and ends tried per window", 20)
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)

    def best_of(e: int, example: QAExample, n: int) -> tuple[str, int, float]:
        best, answer = -math.inf, ("", -1)
        rows = w.rows_of.get(e, [])
        # where the context's pieces start: a mark that is a piece of its own is not taken
        starts = {int(a) for row in rows for a in w.offsets[row, w.in_context[row], 0]}
        for row in rows:
            ctx = w.in_context[row]
            s_scores = np.where(ctx, start_logits[row], -np.inf)
            e_scores = np.where(ctx, end_logits[row], -np.inf)
            for s in np.argsort(-s_scores)[:n]:
                if not ctx[s]:
                    break
                for t in np.argsort(-e_scores)[:n]:
                    if not ctx[t]:
                        break
                    if t < s or t - s + 1 > max_answer_length:
                        continue
                    score = s_scores[s] + e_scores[t]
                    if score > best:
                        a, b = int(w.offsets[row, s, 0]), int(w.offsets[row, t, 1])
                        b = _marks_after(example.context, b, starts)
                        text = example.context[a:b] if a < b else ""
                        if not text.strip():  # whitespace pieces alone: the next best span
                            continue
                        lead = len(text) - len(text.lstrip())
                        best, answer = score, (text.strip(), a + lead)
        return (*answer, float(best))

    found: list[tuple[str, int, float]] = []
    for e, example in enumerate(examples):
        span = best_of(e, example, n_best)
        rows = w.rows_of.get(e, [])
        ctx = w.in_context[rows]
        if span[1] < 0 and ctx.any():  # finite scores: a valid span among all of them
            scores = np.concatenate([start_logits[rows][ctx], end_logits[rows][ctx]])
            if np.isfinite(scores).all():
                span = best_of(e, example, ctx.shape[-1])
        found.append(span)
    return found


def _whole(value: Any) -> bool:
    """An integer (NumPy's too), and not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _check_count(name: str, value: Any, meaning: str, default: int) -> None:
    """``ConfigError`` unless ``value`` is a positive integer: 0 or less would leave no
    span to answer with, and None would fail only after training."""
    if not _whole(value) or value < 1:
        raise ConfigError(
            f"{name} must be a whole number of at least 1 ({meaning}), got {value!r}; pass "
            f"one such as {default} (the default)"
        )


def _marks_after(text: str, end: int, starts: set[int]) -> int:
    """``end`` moved past the combining marks that follow it up to where a piece starts
    (``starts``): they belong to the character before them, and a tokenizer that strips
    accents gives them to no piece (decomposed "José" would be answered "Jose"); a mark
    that is a piece of its own (a Devanagari vowel sign, which accent stripping keeps) is
    the model's to take or leave, as transformers' post-processing leaves it."""
    while (
        end < len(text)
        and end not in starts
        and unicodedata.category(text[end]) in ("Mn", "Mc", "Me")
    ):  # fmt: skip
        end += 1
    return end


def null_scores(start_logits: Any, end_logits: Any, w: Windows, n: int) -> Any:
    """Each example's no-answer score: start + end logit at [CLS], the lowest over its
    windows (a window that does not hold the answer says [CLS]; one that holds it should
    not), as in BERT's SQuAD 2.0 recipe."""
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    null = start_logits[:, 0] + end_logits[:, 0]
    out = np.full(n, np.inf)
    np.minimum.at(out, w.example, null)
    return out
