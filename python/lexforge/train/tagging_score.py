"""Scores of word tagging: ``is_bio`` (is a tag set BIO/IOB2), ``_other_scheme`` (BIOES or
BILOU), ``_not_quite_bio`` (tags meant as BIO that are not), ``bio_entities`` (the
entities of a BIO or BIOES sequence as ``conlleval`` finds them) and ``entity_metrics``
(micro precision, recall and F1 over exact entity matches, overall and per type)."""

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


def _chunk_tag(tag: str) -> tuple[str, str]:
    """``(prefix, type)`` of an entity tag: ``("O", "")``, or ``B``/``I``/``E``/``S`` and
    the type after its hyphen (``""`` for a bare ``B``); ``ConfigError`` for any other
    tag, whose entities would be found wrongly with nothing said."""
    if tag == "O":
        return "O", ""
    if isinstance(tag, str) and tag[:1] in ("B", "I", "E", "S") and tag[1:2] in ("", "-"):
        return tag[0], tag[2:]
    raise ConfigError(
        f"tag {tag!r} is not an entity tag: entity scores read O and B-TYPE, I-TYPE "
        "(BIO: IOB2 or IOB1) or also E-TYPE, S-TYPE (BIOES), prefixes in capitals (BILOU's "
        "L-/U-, lowercase prefixes and bare types are not read: convert them, e.g. U-X to "
        "S-X and L-X to E-X)"
    )


def bio_entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """The entities ``(type, first word, one past the last)`` of a BIO or BIOES sequence,
    as ``conlleval`` (and seqeval's default mode) find them: B-X and S-X start an entity,
    I-X and E-X continue one of type X and otherwise start one, E-X and S-X end theirs,
    O or another type ends it. ``ConfigError`` for a tag of another kind."""
    found: set[tuple[str, int, int]] = set()
    prev, prev_type, start = "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        kind, name = _chunk_tag(tag)
        ends = prev != "O" and (
            prev in ("E", "S")
            or (prev in ("B", "I") and kind in ("B", "S", "O"))
            or prev_type != name
        )
        if ends:
            found.add((prev_type, start, i))
        starts = kind != "O" and (
            kind in ("B", "S")
            or (prev in ("O", "E", "S") and kind in ("I", "E"))
            or prev_type != name
        )
        if starts:
            start = i
        prev, prev_type = kind, name
    return found


def entity_metrics(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """Micro precision/recall/F1 over exact entity matches, and the same per type, of BIO
    (IOB2, IOB1) or BIOES tags (:func:`bio_entities`; other tags are a ``ConfigError``:
    their entities would be found wrongly). Each
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
