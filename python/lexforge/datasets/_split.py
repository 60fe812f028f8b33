"""Seeded, deterministic, disjoint train/validation/test splits.

Records are first grouped by a key (their text), so duplicates always land in the same
split and no text leaks from train into test. Groups are stratified by label: within each
label the groups are shuffled by a generator seeded from ``(seed, label)`` and cut at the
cumulative fractions, so a label's split does not depend on the other labels. The records
of a split come back in an order shuffled by ``(seed, split)``. Nothing here depends on
``PYTHONHASHSEED``, the platform or the Python version (``random.Random`` seeded with a
string hashes it with SHA-512).
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

from lexforge.errors import ConfigError

T = TypeVar("T")

SPLITS = ("train", "validation", "test")


def check_options(split: str, fractions: Sequence[float], seed: int = 0) -> None:
    """``ValueError`` unless ``split`` is a split name, ``fractions`` are three
    non-negative numbers summing to 1, and ``seed`` is an integer (a float or None would
    seed a different split than the integer it looks like, silently)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ConfigError(f"seed must be an integer; got {seed!r}")
    if split not in (*SPLITS, "all"):
        raise ConfigError(
            f"split must be one of 'train', 'validation', 'test', 'all'; got {split!r}"
        )
    if getattr(fractions, "ndim", None) == 1 and hasattr(fractions, "tolist"):
        fractions = fractions.tolist()  # (a NumPy array of three, or a tensor)
    if (
        isinstance(fractions, str)
        or not isinstance(fractions, Sequence)
        or len(fractions) != 3
        or any(isinstance(f, bool) or not isinstance(f, numbers.Real) for f in fractions)
        or any(not (f >= 0 and math.isfinite(f)) for f in fractions)
    ):
        raise ConfigError(
            "fractions must be three non-negative numbers (train, validation, test); "
            f"got {fractions!r}"
        )
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-9):
        raise ConfigError(
            f"fractions must sum to 1; got {tuple(fractions)!r} (sum {sum(fractions)})"
        )


def split_records(
    records: Sequence[T],
    *,
    split: str,
    seed: int,
    fractions: Sequence[float],
    key: Callable[[T], Hashable],
    label: Callable[[T], Hashable] | None = None,
    units: Callable[[T], Iterable[Hashable]] | None = None,
    near: Callable[[T], Hashable] | None = None,
) -> list[T]:
    """The records of one split (``"all"``: every record, in source order).

    ``near``: a looser key than ``key`` (a text with its white space collapsed): groups
    that share it go to the split of the one that comes first in the source, so that
    copies differing only so never straddle train and test. Every other group keeps the
    split ``key`` alone gives it.

    ``units``: what a model learns from a record and must have seen in training to be
    evaluated on it (a tagged sentence's tags). A validation or test group holding a unit
    that no training group holds moves to train, in a fixed order, so a tag that occurs
    once in the data is trained on instead of being unseen at evaluation."""
    check_options(split, fractions, seed)
    seed = int(seed)  # a NumPy integer seeds as the int it equals
    fractions = [float(f) for f in fractions]  # (and NumPy's numbers as Python's)
    if split == "all":
        return list(records)
    groups: dict[Hashable, list[int]] = {}
    for index, record in enumerate(records):
        groups.setdefault(key(record), []).append(index)
    strata: dict[str, list[list[int]]] = {}
    for members in groups.values():
        stratum = repr(label(records[members[0]])) if label is not None else ""
        strata.setdefault(stratum, []).append(members)
    assigned: list[tuple[int, list[int]]] = []  # (split index, group), in a fixed order
    for stratum in sorted(strata):
        stratum_groups = strata[stratum]
        random.Random(f"{seed}:{stratum}").shuffle(stratum_groups)
        n = len(stratum_groups)
        cut1 = round(n * fractions[0])
        cut2 = max(cut1, min(n, round(n * (fractions[0] + fractions[1]))))
        for i, members in enumerate(stratum_groups):
            assigned.append((0 if i < cut1 else 1 if i < cut2 else 2, members))
    if near is not None:
        first: dict[Hashable, int] = {}
        for i in sorted(range(len(assigned)), key=lambda i: assigned[i][1][0]):
            where, members = assigned[i]
            leader = first.setdefault(near(records[members[0]]), where)
            if leader != where:
                assigned[i] = (leader, members)
    if units is not None:
        seen = {u for where, members in assigned if where == 0 for u in units(records[members[0]])}
        for i, (where, members) in enumerate(assigned):
            found = set(units(records[members[0]]))
            if where != 0 and not found <= seen:
                assigned[i] = (0, members)
                seen |= found
    wanted = SPLITS.index(split)
    chosen = [index for where, members in assigned if where == wanted for index in members]
    chosen.sort()
    random.Random(f"{seed}:order:{split}").shuffle(chosen)
    return [records[i] for i in chosen]
