"""Scores of word tagging: ``is_bio`` (is a tag set BIO/IOB2), ``_other_scheme`` (BIOES or
BILOU, which are not scored as entities), ``_not_quite_bio`` (tags meant as BIO that are
not), ``bio_entities`` (the entities of a BIO
sequence as ``conlleval`` finds them) and ``entity_metrics`` (micro precision, recall and
F1 over exact entity matches, overall and per type)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError


def is_bio(tags: Sequence[str]) -> bool:
    """True when every tag is ``O`` or ``B-``/``I-`` followed by a type."""
    return all(t == "O" or (t[:2] in ("B-", "I-") and len(t) > 2) for t in tags)


def _other_scheme(tags: Sequence[str]) -> str | None:
    """``"BIOES"`` or ``"BILOU"`` when the tags look like that scheme (every tag ``O`` or a
    one-letter prefix, a hyphen and a type, with some ``S-``/``E-`` or ``L-``/``U-``),
    else None."""
    prefixes = {t[:2] for t in tags if t != "O"}
    if not prefixes or any(len(t) < 3 for t in tags if t != "O"):
        return None
    if prefixes <= {"B-", "I-", "E-", "S-"} and prefixes & {"E-", "S-"}:
        return "BIOES"
    if prefixes <= {"B-", "I-", "L-", "U-"} and prefixes & {"L-", "U-"}:
        return "BILOU"
    return None


# B-PER, B_PER, PER-B, PER_B, b-per
_BIO_LIKE = re.compile(r"[BI][-_.:].+|.+[-_.:][BI]", re.IGNORECASE)


def _not_quite_bio(tags: Sequence[str]) -> list[str]:
    """For a tag set that looks meant as BIO (it has ``O``, or tags such as ``B_PER``,
    ``PER-B`` or ``b-per``, in either case) but is not BIO, BIOES or BILOU: the tags that
    are not BIO; else []. A lowercase ``o`` alone is not BIO's outside tag: the PKU
    parts of speech (peoples-daily) have it, for onomatopoeia."""
    if is_bio(tags) or _other_scheme(tags) is not None:
        return []
    if "O" not in tags and not any(_BIO_LIKE.fullmatch(t) for t in tags):
        return []  # another kind of tags (parts of speech, say)
    return [t for t in tags if not is_bio([t])]


def bio_entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """The entities ``(type, first word, one past the last)`` of a BIO sequence, as
    ``conlleval`` finds them: B-X starts an entity, I-X continues one of type X and
    otherwise starts one, anything else ends it."""
    found: set[tuple[str, int, int]] = set()
    kind, start = None, 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, name = tag.partition("-")
        continues = prefix == "I" and name == kind
        if kind is not None and not continues:
            found.add((kind, start, i))
            kind = None
        if prefix == "B" or (prefix == "I" and not continues):
            kind, start = name, i
    return found


def entity_metrics(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """Micro precision/recall/F1 over exact entity matches, and the same per type. Each
    predicted sentence must have its gold sentence's length (``ConfigError`` otherwise);
    each side is a list of sentences, each a list of tags (a flat list of tags was read
    as sentences of one-letter tags: ``TypeError``, as seqeval)."""
    for side, sentences in (("gold", gold), ("predicted", predicted)):
        if isinstance(sentences, str) or any(isinstance(s, str) for s in sentences):
            raise TypeError(
                f"{side} must be a list of sentences, each a list of tags, not a list of "
                "tags: wrap one sentence's tags in a list"
            )
    if len(gold) != len(predicted):
        raise ConfigError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    counts: dict[str, list[int]] = {}  # type -> [true positives, predicted, gold]
    for i, (g_tags, p_tags) in enumerate(zip(gold, predicted, strict=True)):
        if len(g_tags) != len(p_tags):
            raise ConfigError(
                f"sentence {i} has {len(g_tags)} gold tags but {len(p_tags)} predicted: "
                "entities would be scored at positions the other side does not have"
            )
        g, p = bio_entities(g_tags), bio_entities(p_tags)
        for kind, *_ in g | p:
            counts.setdefault(kind, [0, 0, 0])
        for e in g & p:
            counts[e[0]][0] += 1
        for e in p:
            counts[e[0]][1] += 1
        for e in g:
            counts[e[0]][2] += 1

    def prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}

    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    return {**prf(*total), "per_type": {k: prf(*c) for k, c in sorted(counts.items())}}
