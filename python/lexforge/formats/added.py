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

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lexforge.errors import TokenizerFormatError
from lexforge.formats import read_json

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
    if not _AS_GIVEN.get():
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


def check_ids(
    path: Path,
    tokens: list[AddedToken],
    vocab: dict[str, Any],
    where: Callable[[int], str] = "added_tokens[{}]".format,
    order: str = "file order",
) -> None:
    """Refuses added tokens whose ids HF ``tokenizers`` would not give them. HF takes the
    id of a token in ``model.vocab`` from there, and numbers the others itself whatever
    the file says: in ``order`` (that of ``tokens``), from the vocabulary's size up (a
    token listed twice keeps its first id). ``where(i)``: how an error names entry i."""
    new: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token.content in vocab:
            continue  # its id is checked against model.vocab's
        want = new.setdefault(token.content, len(vocab) + len(new))
        if token.id != want:
            raise _fail(
                path, where(i), f"{token.content!r} has id {token.id}, but HF tokenizers "
                "numbers the added tokens that are not in the vocabulary itself, in "
                f"{order} from the vocabulary's size ({len(vocab)} tokens) up without gaps, "
                f"and gives it {want}; give it id {want}, or list the added tokens in the "
                "order of their ids",
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


def read_folder(
    folder: Path, vocab: dict[str, int], roles: list[str], extras: list[str], named: list[str]
) -> list[AddedToken]:
    """The tokens that a ``vocab.txt`` folder adds (ids past the vocabulary) or marks, as
    transformers reads them: the ``added_tokens_decoder`` of its ``tokenizer_config.json``
    (``{id: {"content", "special", HF's options}}``), else its ``added_tokens.json``
    (transformers' older ``{token: id}``: special, not normalized, when the files name it
    (``named``, ``extras``), the others normalized). A token that ``roles`` (the
    tokenizer's unknown, padding... tokens, BERT's defaults included) holds is special
    whatever the files say, its ``normalized`` kept (an unnamed "[MASK]" from
    added_tokens.json is special and normalized, as transformers makes it). Then each token
    of ``named`` (those the folder names, in transformers' order) and ``extras`` (its
    additional special tokens) that the vocabulary and these lack gets the next id,
    special. In id order, ids checked as HF gives them (:func:`check_ids`)."""
    config, legacy = folder / "tokenizer_config.json", folder / "added_tokens.json"
    doc = read_json(config) if config.is_file() else None
    if isinstance(doc, dict) and "added_tokens_decoder" in doc:
        path, tokens = config, _decoder_entries(config, doc["added_tokens_decoder"])

        def where(i: int) -> str:
            return f'added_tokens_decoder["{tokens[i].id}"]'
    elif legacy.is_file():
        path, tokens = legacy, _legacy_entries(legacy, read_json(legacy), {*named, *extras})

        def where(i: int) -> str:
            return json.dumps({tokens[i].content: tokens[i].id}, ensure_ascii=False)
    else:
        return [
            AddedToken(t, len(vocab) + i) for i, t in enumerate(_lacking(vocab, [], named, extras))
        ]
    by_id = {tid: text for text, tid in vocab.items()}
    for i, token in enumerate(tokens):
        if token.id in by_id and by_id[token.id] != token.content:
            raise _fail(
                path, where(i), f"{token.content!r} has id {token.id}, which vocab.txt gives "
                f"to {by_id[token.id]!r} (line {token.id + 1}); make the two agree",
            )  # fmt: skip
        if token.content in vocab and vocab[token.content] != token.id:
            raise _fail(
                path, where(i), f"{token.content!r} has id {token.id}, but it is line "
                f"{vocab[token.content] + 1} of vocab.txt (id {vocab[token.content]}); make "
                "the two agree",
            )  # fmt: skip
    check_ids(path, tokens, vocab, where, order="the order of their ids")
    # transformers makes the role tokens special, and adds the named ones it lacks
    tokens = [replace(t, special=True) if t.content in roles else t for t in tokens]
    beyond = sum(t.id >= len(vocab) for t in tokens)
    lacking = _lacking(vocab, tokens, named, extras)
    return tokens + [AddedToken(t, len(vocab) + beyond + i) for i, t in enumerate(lacking)]


def _lacking(
    vocab: dict[str, int], tokens: list[AddedToken], named: list[str], extras: list[str]
) -> list[str]:
    """The named special tokens that neither the vocabulary nor ``tokens`` holds."""
    have = {t.content for t in tokens}
    return [t for t in dict.fromkeys([*named, *extras]) if t not in have and t not in vocab]


def _decoder_entries(path: Path, entries: Any) -> list[AddedToken]:
    """``added_tokens_decoder``: ``{"id": {"content": ..., "special": ..., ...}}``, the
    options as transformers' ``AddedToken`` defaults them (``normalized``: not special)."""
    if not isinstance(entries, dict):
        raise _fail(
            path, "added_tokens_decoder",
            f'must be an object {{"id": {{"content": ...}}}}, got {entries!r}',
        )  # fmt: skip
    out = []
    for key, entry in entries.items():
        where = f'added_tokens_decoder["{key}"]'
        if not key.isascii() or not key.isdigit() or int(key) >= _ID_LIMIT:
            raise _fail(
                path, where, f"the key must be a token id (an integer as text), got {key!r}"
            )
        if isinstance(entry, str):  # an older transformers' bare token text
            entry = {"content": entry}
        if not isinstance(entry, dict):
            raise _fail(path, where, f'{entry!r} is not an object {{"content", "special", ...}}')
        content = entry.get("content")
        if not isinstance(content, str) or not content:
            raise _fail(path, f"{where}.content", f"must be the token's text, got {content!r}")
        special = _flag(path, where, entry, "special")
        flags = {key: _flag(path, where, entry, key) for key in FLAGS if key != "normalized"}
        normalized = _flag(path, where, {"normalized": not special, **entry}, "normalized")
        out.append(AddedToken(content, int(key), special, normalized=normalized, **flags))
    return _unique(path, sorted(out, key=lambda t: t.id))


def _legacy_entries(path: Path, doc: Any, specials: set[str]) -> list[AddedToken]:
    """``added_tokens.json``: ``{token: id}``, as transformers takes it (special when named
    so, else normalized; no other option)."""
    if not isinstance(doc, dict):
        raise _fail(path, "the file", f"must be an object {{token: id}}, got {doc!r}")
    out = []
    for content, tid in doc.items():
        if not content:
            raise _fail(path, json.dumps({content: tid}), "an added token needs text; remove it")
        if isinstance(tid, bool) or not isinstance(tid, int) or not 0 <= tid < _ID_LIMIT:
            raise _fail(
                path, json.dumps({content: tid}, ensure_ascii=False),
                f"the id of {content!r} is not an integer in [0, {_ID_LIMIT})",
            )  # fmt: skip
        special = content in specials
        out.append(AddedToken(content, tid, special, normalized=not special))
    return _unique(path, sorted(out, key=lambda t: t.id))


def _unique(path: Path, tokens: list[AddedToken]) -> list[AddedToken]:
    seen: dict[str, int] = {}
    for token in tokens:
        if seen.setdefault(token.content, token.id) != token.id:
            raise _fail(
                path, repr(token.content), f"listed twice, with ids {seen[token.content]} and "
                f"{token.id}; keep one",
            )  # fmt: skip
    return tokens


def model_vocab(vocab: dict[str, int], added: list[AddedToken]) -> dict[str, int]:
    """``model.vocab`` for a file, by id: ``vocab`` (the model's tokens by spelling; an
    added token the model also makes among them, as its file listed it) and the added
    tokens whose ids HF would not give them otherwise. HF looks an added token up in
    ``model.vocab`` and numbers those it does not find itself, in file order from the
    vocabulary's size up (:func:`check_ids`): a trained model's special tokens (ids 0,
    1...) must be listed, while tokens HF added after training (ids past the model's) are
    left out, as HF writes them, so that a file HF wrote is written back with HF's
    vocabulary."""
    vocab = dict(vocab)
    while True:
        new: dict[str, int] = {}
        wrong = next(
            (
                t
                for t in added
                if t.content not in vocab
                and new.setdefault(t.content, len(vocab) + len(new)) != t.id
            ),
            None,
        )
        if wrong is None:
            return dict(sorted(vocab.items(), key=lambda item: item[1]))
        vocab[wrong.content] = wrong.id  # HF finds it there; the numbers after it move


def _by_id(
    added: Iterable[AddedToken],
) -> tuple[dict[int, AddedToken], dict[str, AddedToken]]:
    """A tokenizer's added tokens by id, and those sharing an id with an earlier one
    (tiktoken's o200k_harmony), by text: kept after it, not overwritten by it."""
    entries: dict[int, AddedToken] = {}
    sharing: dict[str, AddedToken] = {}
    for token in added:
        if token.id in entries and entries[token.id].content != token.content:
            sharing[token.content] = token
        else:
            entries[token.id] = token
    return entries, sharing


def changes_nothing(added: list[AddedToken], tokens: list[AddedToken]) -> bool:
    """Whether adding ``tokens`` (their ``id`` ignored) to a tokenizer whose added tokens
    are ``added`` changes nothing, as :func:`add_to_doc` counts: each is empty, or added
    already as the same kind with the same options (HF's ``add_tokens`` returns 0; a
    rebuild would give the same tokenizer)."""
    entries, sharing = _by_id(added)
    ids = {t.content: i for i, t in entries.items()}
    for token in tokens:
        if not token.content:
            continue
        kept = sharing.get(token.content) or entries.get(ids.get(token.content, -1))
        if kept is None or kept != replace(token, id=kept.id):
            return False
    return True


def ids_of_new(
    added: list[AddedToken],
    tokens: list[AddedToken],
    in_model: Callable[[str], bool],
    model_size: int,
    model_ids: tuple[Callable[[int], bool], int],
) -> list[AddedToken] | None:
    """``tokens`` with the ids :func:`add_to_doc` gives them, computed from the model's
    lookups instead of its document, when each is new (empty ones left out, as there):
    not added already, not in the model's vocabulary (``in_model``: a spelling's;
    ``model_size`` tokens; of the ``model_ids`` pair, whether an id is a token's, and the
    largest), each once. None for any other call (the rebuild through the document
    decides it)."""
    tokens = [t for t in tokens if t.content]  # (an empty one is ignored, as there)
    entries, sharing = _by_id(added)
    ids = {t.content for t in entries.values()} | set(sharing)
    texts = [t.content for t in tokens]
    if len(set(texts)) < len(texts) or any(t in ids or in_model(t) for t in texts):
        return None
    # HF's model.vocab (model_vocab's): the model's tokens and the added tokens whose ids
    # HF would not give them otherwise
    extra: dict[str, int] = {}
    while True:
        new: dict[str, int] = {}
        wrong = next((t for t in (entries[i] for i in sorted(entries))
                      if not in_model(t.content) and t.content not in extra
                      and new.setdefault(t.content, model_size + len(extra) + len(new)) != t.id),
                     None)  # fmt: skip
        if wrong is None:
            break
        extra[wrong.content] = wrong.id
    is_model_id, model_top = model_ids
    size, taken = model_size + len(extra), {*extra.values(), *entries}
    top, most = max(entries, default=None), max([model_top, *taken], default=-1)
    out = []
    for token in tokens:  # (add_to_doc's numbering)
        tid = size if top is None or (top < size and size) else top + 1
        if tid in taken or is_model_id(tid):
            tid = most + 1
        taken.add(tid)
        top, most = tid if top is None else max(top, tid), max(most, tid)
        out.append(replace(token, id=tid))
    return out


def add_to_doc(doc: dict[str, Any], tokens: list[AddedToken]) -> int:
    """Adds ``tokens`` (their ``id`` ignored) to a ``tokenizer.json`` document as HF's
    ``add_tokens``/``add_special_tokens`` do, and returns HF's count (the tokens not
    ignored). An empty token, or one added already with the same options, is ignored. A
    token added already, or in ``model.vocab``, keeps that id (an added one takes the new
    options and kind, as HF saves it); the others get the next id: one past the largest
    added id, or the vocabulary's size when that is larger (HF's rule), or, where that id
    is a token's already (a vocabulary whose ids have gaps), one past the largest id."""
    vocab: dict[str, int] = doc["model"]["vocab"]
    entries, sharing = _by_id(
        AddedToken(e["content"], e["id"], **{k: e.get(k, False) for k in ("special", *FLAGS)})
        for e in doc.get("added_tokens") or []
    )
    ids = {t.content: i for i, t in entries.items()}
    # the model's vocabulary as HF holds it: as the file it read lists it
    hf_vocab = model_vocab(vocab, [entries[i] for i in sorted(entries)])
    taken = {*hf_vocab.values(), *entries}
    # (the largest ids kept as they grow: one pass over many tokens stays linear)
    top, most, size = max(entries, default=None), max(taken, default=-1), len(hf_vocab)
    count = 0
    for token in tokens:
        if token.content in sharing:  # (its id is another's too: it keeps it)
            kept = sharing[token.content]
            if kept != replace(token, id=kept.id):
                sharing[token.content] = replace(token, id=kept.id)
                count += 1
            continue
        had = ids.get(token.content)
        if not token.content or (had is not None and entries[had] == replace(token, id=had)):
            continue  # (added already, with the same options)
        count += 1
        if had is not None:
            tid = had
        elif token.content in hf_vocab:
            tid = hf_vocab[token.content]
        else:
            tid = size if top is None or (top < size and size) else top + 1
            if tid in taken:  # a vocabulary with gaps in its ids (a tiktoken file's):
                # HF's next id would be a token's own, and decode would give the wrong one
                tid = most + 1
        taken.add(tid)
        top, most = tid if top is None else max(top, tid), max(most, tid)
        entries[tid] = replace(token, id=tid)  # the last definition holds, as HF saves it
        ids[token.content] = tid
    after: dict[int, list[AddedToken]] = {}
    for t in sharing.values():
        after.setdefault(t.id, []).append(t)
    doc["added_tokens"] = [
        e.entry() for i in sorted(entries) for e in [entries[i], *after.get(i, [])]
    ]
    return count


# Set while a tokenizer is rebuilt with tokens added in memory: their ids are HF's in
# memory (one past the largest added id), which a file would need to list in model.vocab
# for HF to read them back alike (a save lists them there); see ``ids_as_given``.
_AS_GIVEN: ContextVar[bool] = ContextVar("lexforge_added_ids_as_given", default=False)


@contextmanager
def ids_as_given() -> Iterator[None]:
    """Within it, :func:`read` takes the ids of the added tokens as the document gives them
    (HF's in memory after ``add_tokens``), without :func:`check_ids`."""
    token = _AS_GIVEN.set(True)
    try:
        yield
    finally:
        _AS_GIVEN.reset(token)
