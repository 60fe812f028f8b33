"""transformers' tokenizer attributes on a lexforge tokenizer: the special tokens by role
(``mask_token``, ``pad_token_id``...), ``all_special_ids``, ``get_vocab``,
``get_special_tokens_mask``, ``batch_decode`` and ``model_max_length``, as
``AutoTokenizer`` reads them from the folder :meth:`~lexforge.Tokenizer.save_pretrained`
writes (the oracle of ``tests/test_tokenizer_call.py``), so transformers' collators
(``DataCollatorForLanguageModeling``) and scripts take a lexforge tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lexforge._json import loads_json
from lexforge.errors import ConfigError

if TYPE_CHECKING:
    from lexforge.tokenizer import Tokenizer

__all__ = [
    "NO_LIMIT",
    "all_special_tokens",
    "check_model_max_length",
    "fixed_role",
    "model_max_length_beside",
    "one_row",
    "role_token",
    "special_tokens_mask",
]

# transformers' ``model_max_length`` when nothing sets it (its VERY_LARGE_INTEGER)
NO_LIMIT = int(1e30)

# transformers' order of the roles in ``all_special_tokens``
_ORDER = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")


def role_token(tok: Tokenizer, role: str) -> str | None:
    """The special token playing ``role`` (``"mask"``, ``"pad"``...), as ``save_pretrained``
    names it in ``special_tokens_map.json``; None where the tokenizer has none."""
    from lexforge.formats.hf_folder import token_roles

    return token_roles(tok).get(role)


def fixed_role(tok: Tokenizer, role: str, token: Any) -> None:
    """Setting a role other than padding: refused, naming what the role is and the fix
    (lexforge's masking, pretraining and fill-mask find these tokens by their names)."""
    from lexforge.formats.hf_folder import ROLES

    now = role_token(tok, role)
    if token == now:
        return
    raise ConfigError(
        f"{role}_token cannot be set (to {token!r}): lexforge finds the {role} token by its "
        f"name ({', '.join(ROLES[role])}), which is {now!r} for this tokenizer; add a token "
        f"of one of those names (tok.add_special_tokens([...])). Only pad_token can be set "
        "to any token"
    )


def all_special_tokens(tok: Tokenizer) -> list[str]:
    """Every special token: those with a role first (transformers' order), then the others
    by id (``save_pretrained`` lists them as extra special tokens)."""
    from lexforge.formats.hf_folder import token_roles

    roles = token_roles(tok)
    named = [roles[r] for r in _ORDER if r in roles]
    specials = tok.special_tokens
    others = sorted((t for t in specials if t not in named), key=specials.__getitem__)
    return list(dict.fromkeys(named + others))


def special_tokens_mask(
    tok: Tokenizer, ids: Sequence[int], pair: Sequence[int] | None, formatted: bool
) -> list[int]:
    """transformers' ``get_special_tokens_mask``: 1 for a special token of ``ids`` (already
    framed), or the mask of ``ids`` (and ``pair``) once the template frames them."""
    if formatted:
        if pair is not None:
            raise ConfigError(
                "get_special_tokens_mask: with already_has_special_tokens=True pass one "
                "framed sequence, not a pair (its ids already hold both texts)"
            )
        special = set(tok.all_special_ids)
        return [1 if int(i) in special else 0 for i in ids]
    parts = tok._template_parts(pair is not None)
    mask: list[int] = []
    for kind, _, _ in parts:
        if kind == "A":
            mask += [0] * len(ids)
        elif kind == "B":
            mask += [0] * len(pair or ())
        else:
            mask.append(1)
    if not any(kind == "B" for kind, _, _ in parts) and pair is not None:
        mask += [0] * len(pair)  # no template for pairs: back to back
    return mask


def model_max_length_beside(path: Path) -> int | None:
    """``model_max_length`` of the ``tokenizer_config.json`` beside a tokenizer file (a
    model folder's), when it sets a real one (transformers writes 1e30 for none)."""
    config = (path.parent if path.is_file() else path) / "tokenizer_config.json"
    try:
        value = loads_json(config.read_text(encoding="utf-8")).get("model_max_length")
    except (OSError, ValueError, AttributeError):
        return None  # (no config, or one transformers would refuse: not this file's concern)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not 0 < value < NO_LIMIT or value != int(value):  # (NaN, infinities, 10**400: out)
        return None
    return int(value)


def check_model_max_length(value: Any) -> int:
    """A ``model_max_length`` set by hand: a positive integer (``NO_LIMIT`` for none)."""
    from lexforge.batch import check_int

    return check_int("model_max_length", value, least=1)


def tokens_of_roles(tok: Tokenizer, spec: Any) -> list[str]:
    """The tokens of transformers' ``add_special_tokens({"pad_token": "[PAD]", ...})``: a
    role's token must carry a name lexforge finds that role by (``[PAD]``, ``<pad>``...:
    the roles come from the names), ``additional_special_tokens`` any names."""
    from lexforge.formats.hf_folder import ROLES

    out: list[str] = []
    for key, value in spec.items():
        if key in ("additional_special_tokens", "extra_special_tokens"):
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise TypeError(f"{key} must be a list of strings, got {type(value).__name__}")
            out += list(value)
            continue
        role = key[: -len("_token")] if isinstance(key, str) and key.endswith("_token") else ""
        if role not in ROLES:
            known = ", ".join(f"{r}_token" for r in ROLES)
            raise ConfigError(
                f"add_special_tokens: unknown key {key!r}; the roles are {known}, and "
                "additional_special_tokens for others"
            )
        if not isinstance(value, str):
            raise TypeError(f"{key} must be a str, got {type(value).__name__}")
        if role == "pad":  # (any token: added, then set as the padding token by the caller)
            out.append(value)
            continue
        now = role_token(tok, role)
        if now is not None and now != value:
            raise ConfigError(
                f"add_special_tokens: {key}={value!r}, but this tokenizer's {role} token is "
                f"{now!r}: lexforge takes one {role} token, found by its name; keep {now!r}"
            )
        if value not in ROLES[role]:
            names = ", ".join(ROLES[role])
            raise ConfigError(
                f"add_special_tokens: {key}={value!r} would not make it the {role} token: "
                f"lexforge finds that role by the token's name ({names}); add one of those"
            )
        out.append(value)
    return out


def one_row(ids: list[int], kind: str) -> Any:
    """One text's ids as a (1, n) int64 array (``"np"``) or tensor (``"pt"``)."""
    import numpy as np

    from lexforge.batch import as_tensors

    return as_tensors({"ids": np.asarray([ids], dtype=np.int64).reshape(1, -1)}, kind)["ids"]
