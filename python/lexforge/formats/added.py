"""HF ``tokenizers``' added tokens: the ``added_tokens`` entries of a ``tokenizer.json``,
read and checked, handed to the core, and written back. Both readers (byte-level BPE and
WordPiece) use it.

An added token is special (a control token such as ``[CLS]``: skipped by
``decode(skip_special_tokens=True)``, under byte-level BPE's ``allowed_special`` policy) or
not (a word added after training, HF's ``add_tokens``: always found, decoded as text), and
carries HF's four options: ``lstrip``/``rstrip`` (it takes the whitespace beside it),
``single_word`` (found only where no word character touches it) and ``normalized`` (found
by its normalized form in the normalized text, after the tokens that are not). What the
options do is the core's (``lexforge._core``); the file's spelling and its errors are here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lexforge.errors import TokenizerFormatError

FLAGS = ("lstrip", "rstrip", "single_word", "normalized")
_ID_LIMIT = 2**32 - 1  # ids the core can hold (u32::MAX marks 'no id')


@dataclass(frozen=True)
class AddedToken:
    """One ``added_tokens`` entry: its text, id, whether it is special, and HF's options."""

    content: str
    id: int
    special: bool = True
    lstrip: bool = False
    rstrip: bool = False
    single_word: bool = False
    normalized: bool = False

    def entry(self) -> dict[str, Any]:
        """The entry as HF writes it (its key order)."""
        return {
            "id": self.id, "content": self.content, "single_word": self.single_word,
            "lstrip": self.lstrip, "rstrip": self.rstrip, "normalized": self.normalized,
            "special": self.special,
        }  # fmt: skip


def _fail(path: Path, where: str, problem: str) -> TokenizerFormatError:
    return TokenizerFormatError(f"{path}: {where}: {problem}")


def read(path: Path, doc: dict[str, Any], vocab: dict[str, Any]) -> list[AddedToken]:
    """The file's ``added_tokens``, checked: each an object with a non-empty ``content``,
    an integer ``id`` (the one HF gives it: see :func:`check_ids`; ``vocab``: the file's
    ``model.vocab``) and true/false options (absent: false), none listed twice."""
    raw = doc.get("added_tokens") or []
    if not isinstance(raw, list):
        raise _fail(path, "added_tokens", f"must be a list of objects, got {raw!r}")
    out: list[AddedToken] = []
    for i, added in enumerate(raw):
        where = f"added_tokens[{i}]"
        if not isinstance(added, dict):
            raise _fail(path, where, f'{added!r} is not an object {{"id", "content", ...}}')
        content, tid = added.get("content"), added.get("id")
        if not isinstance(content, str):
            raise _fail(path, f"{where}.content", f"must be the token's text, got {content!r}")
        if not content:
            raise _fail(
                path, f"{where}.content", "is empty: an added token needs text; remove the "
                "entry or give it its text",
            )  # fmt: skip
        if isinstance(tid, bool) or not isinstance(tid, int) or not 0 <= tid < _ID_LIMIT:
            raise _fail(path, f"{where}.id", f"{tid!r} is not an integer in [0, {_ID_LIMIT})")
        flags = {key: _flag(path, where, added, key) for key in ("special", *FLAGS)}
        out.append(AddedToken(content, tid, **flags))
    check_ids(path, out, vocab)
    texts: dict[str, int] = {}
    for i, token in enumerate(out):
        if token.content in texts:
            raise _fail(
                path, f"added_tokens[{i}]", f"{token.content!r} is listed twice (also "
                f"added_tokens[{texts[token.content]}]); list each added token once",
            )  # fmt: skip
        texts[token.content] = i
    return out


def check_ids(path: Path, tokens: list[AddedToken], vocab: dict[str, Any]) -> None:
    """Refuses added tokens whose ids HF ``tokenizers`` would not give them. HF takes the
    id of a token in ``model.vocab`` from there, and numbers the others itself whatever
    the file says: in file order, from the vocabulary's size up (a token listed twice
    keeps its first id)."""
    new: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token.content in vocab:
            continue  # its id is checked against model.vocab's
        want = new.setdefault(token.content, len(vocab) + len(new))
        if token.id != want:
            raise _fail(
                path, f"added_tokens[{i}]", f"{token.content!r} has id {token.id}, but HF "
                "tokenizers numbers the added tokens that are not in model.vocab itself, in "
                f"file order from the vocabulary's size ({len(vocab)} tokens) up without gaps, "
                f"and gives it {want}; give it id {want}, or list the added tokens in the order "
                "of their ids",
            )  # fmt: skip


def _flag(path: Path, where: str, entry: dict[str, Any], key: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise _fail(
            path, f"{where}.{key}", f"must be true or false, got {value!r}; write true or "
            "false (a string such as \"false\" would read as true)",
        )  # fmt: skip
    return value


def core_args(tokens: list[AddedToken]) -> dict[str, list[Any]]:
    """The core constructors' arguments for ``tokens``: ``added_tokens`` (those not
    special, ``(text, id)``) and the ids with each option."""
    args: dict[str, list[Any]] = {
        "added_tokens": [(t.content, t.id) for t in tokens if not t.special]
    }
    for flag in FLAGS:
        args[flag] = [t.id for t in tokens if getattr(t, flag)]
    return args


def from_core(core: Any) -> list[AddedToken]:
    """A core model's added tokens (``specials()``, ``added_tokens()``, ``flagged()``),
    in id order."""
    flagged = {flag: set(core.flagged(flag)) for flag in FLAGS}
    tokens = [(text, tid, True) for text, tid in core.specials()]
    tokens += [(text, tid, False) for text, tid in core.added_tokens()]
    return [
        AddedToken(text, tid, special, **{f: tid in flagged[f] for f in FLAGS})
        for text, tid, special in sorted(tokens, key=lambda t: t[1])
    ]
