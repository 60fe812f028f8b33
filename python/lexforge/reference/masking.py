"""MLM masking written out plainly, one token at a time: the oracle the Rust masker's
statistics are compared with. Uses Python's ``random`` (a different stream than the Rust
masker, so the two agree in distribution, not token for token).

Rules (the same as ``lexforge.mask_tokens``):

1. A token is *eligible* unless it is special (by the mask or by id).
2. Picking: ``bernoulli``: each eligible unit (token, or whole word) with probability p;
   ``exact``: units in random order, each taken if it does not overshoot
   ``round(p × eligible tokens)``.
3. Each picked token becomes ``[MASK]`` with ``mask_probability``, a random non-special
   token with ``random_probability``, else stays; its label is its original id. Labels are
   -100 everywhere else.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def mask_row(
    ids: Sequence[int],
    *,
    special: Sequence[bool],
    special_ids: set[int],
    vocab_size: int,
    mask_token_id: int,
    probability: float = 0.15,
    mask_probability: float = 0.8,
    random_probability: float = 0.1,
    mode: str = "bernoulli",
    word_ids: Sequence[int] | None = None,
    rng: random.Random,
) -> tuple[list[int], list[int]]:
    """Masks one row; returns ``(ids, labels)``."""
    eligible = [i for i, t in enumerate(ids) if not special[i] and t not in special_ids]
    units: list[list[int]] = []  # runs of eligible positions of one word (or single tokens)
    for i in eligible:
        same_word = (
            word_ids is not None
            and units
            and units[-1][-1] == i - 1
            and word_ids[i] >= 0
            and word_ids[i] == word_ids[i - 1]
        )
        if same_word:
            units[-1].append(i)
        else:
            units.append([i])
    picked: list[list[int]] = []
    if mode == "bernoulli":
        picked = [u for u in units if rng.random() < probability]
    elif mode == "exact":
        budget = round(probability * len(eligible))
        covered = 0
        for unit in rng.sample(units, len(units)):
            if covered >= budget:
                break
            if covered + len(unit) <= budget:
                picked.append(unit)
                covered += len(unit)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    out, labels = list(ids), [-100] * len(ids)
    for unit in picked:
        for i in unit:
            labels[i] = ids[i]
            u = rng.random()
            if u < mask_probability:
                out[i] = mask_token_id
            elif u < mask_probability + random_probability:
                while True:  # uniform over the non-special ids
                    token = rng.randrange(vocab_size)
                    if token not in special_ids:
                        out[i] = token
                        break
    return out, labels
