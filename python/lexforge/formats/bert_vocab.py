"""BERT's ``vocab.txt``: one token per line, the line number is the id. Read with the
options transformers' ``BertTokenizer`` would take from the ``tokenizer_config.json`` (or
``special_tokens_map.json``) beside it (``do_lower_case``, ``strip_accents``, the special
tokens' names), else from the tokens themselves; and written. Errors name the file, the
line or key, and the fix. The ``tokenizer.json`` form is :mod:`lexforge.formats.bert`.
"""

from __future__ import annotations

import itertools
import operator
import re
from pathlib import Path
from typing import Any

from lexforge._core import BertTokenizer, read_vocab_lines
from lexforge.errors import ConfigError, TokenizerFormatError
from lexforge.formats import atomic_write, read_json, read_text
from lexforge.formats.added import core_args, read_folder
from lexforge.formats.bert import TemplateSpec, bert_template

# Unicode's White_Space, as Rust's char::is_whitespace (str.isspace adds \x1c-\x1f)
_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" + (
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def read_vocab(path: Path) -> list[str]:
    """The tokens of a ``vocab.txt`` by id. Lines are split on "\\n" only: vocabularies hold
    characters such as U+2028 that ``str.splitlines`` would treat as line breaks. As in HF
    ``tokenizers`` (Rust's ``trim_end``), white space ending a token's line is not part of
    it: spaces, tabs, ``\\r``, and Unicode's others (U+00A0, U+3000...: "the\\u3000" was
    kept whole, and "the" encoded as [UNK]); a line of white space alone is a token
    (bert-base-chinese lists U+3000)."""
    return _read(path)[0]


def _read(path: Path) -> tuple[list[str], list[str]]:
    """:func:`read_vocab`'s tokens, and those of them that lowercasing may change (all of
    those ``str.lower`` changes, perhaps more): read by the core in one pass where the
    file holds no problem to name, else a line at a time here."""
    text = read_text(path)
    read = read_vocab_lines(text)
    if read is not None:
        return read
    lines = text.removeprefix("\ufeff").split("\n")  # an editor's BOM
    if lines and lines[-1] == "":
        lines.pop()
    tokens = [line.rstrip(_WHITE_SPACE) or line.removesuffix("\r") for line in lines]
    if not tokens:
        raise TokenizerFormatError(f"{path}: the vocabulary is empty")
    for i, token in enumerate(tokens):
        if not token:
            raise TokenizerFormatError(f"{path}:{i + 1}: empty line; every line must hold a token")
    return tokens, tokens


def load_vocab(
    path: Path,
    *,
    lowercase: bool | None = None,
    strip_accents: bool | None = None,
    handle_chinese_chars: bool | None = None,
    unk_token: str = "[UNK]",
    cls_token: str | None = "[CLS]",
    sep_token: str | None = "[SEP]",
    max_input_chars_per_word: int = 100,
) -> BertTokenizer:
    """A BERT tokenizer from ``vocab.txt``. Options left at None come from the folder's
    ``tokenizer_config.json`` as transformers reads it (``do_lower_case``,
    ``strip_accents``, ``tokenize_chinese_chars``); without it, ``lowercase`` is whether
    the vocabulary is uncased (no token but the bracketed special ones changes when
    lowercased: a lowercasing tokenizer could never produce one), ``strip_accents``
    follows ``lowercase`` and Chinese characters are split."""
    tokens, cased = _read(path)
    config = _config_options(path)
    if lowercase is None:
        lowercase = config.get("do_lower_case")
    if lowercase is None:
        lowercase = _uncased(cased)  # (the tokens it leaves out do not change)
    if strip_accents is None:
        strip_accents = config.get("strip_accents")
    if strip_accents is None:  # HF: accents go with lowercasing unless told otherwise
        strip_accents = lowercase
    if handle_chinese_chars is None:
        handle_chinese_chars = config.get("tokenize_chinese_chars", True)
    named = _config_specials(path)
    # the folder's own names for the roles, where the caller kept the defaults
    if unk_token == "[UNK]":
        unk_token = named.get("unk_token", unk_token)
    if cls_token == "[CLS]":
        cls_token = named.get("cls_token", cls_token)
    if sep_token == "[SEP]":
        sep_token = named.get("sep_token", sep_token)
    # the special tokens are BERT's five by role, each as the folder names it (a "[CLS]"
    # beside a named "<cls>" is text, as in transformers), those it names besides, and
    # the ones it adds; a named one that vocab.txt lacks gets a new id, as transformers
    # gives it (BERT's defaults that vocab.txt lacks are left out: no model has them)
    roles = [named.get(k, default) for k, default in zip(_ROLE_KEYS, _DEFAULTS, strict=True)]
    roles += [named[k] for k in ("bos_token", "eos_token") if k in named]
    order = [named[k] for k in _HF_ORDER if k in named]
    ids = {t: i for i, t in enumerate(tokens)}
    added = read_folder(path.parent, ids, roles, named.get("additional", []), order)
    beyond = [t.content for t in added if t.id >= len(tokens)]
    every = tokens + beyond
    # every token's id (the vocabulary's dict, when nothing is added past it)
    position = {**ids, **{t: len(tokens) + i for i, t in enumerate(beyond)}} if beyond else ids
    try:
        single, pair = bert_template(every, cls_token, sep_token, position)
    except TokenizerFormatError as e:  # often not a vocabulary at all
        raise TokenizerFormatError(
            f"{path} (read as a BERT vocab.txt, one token a line): {e}; if it is no "
            "vocabulary, pass a tokenizer.json, vocab.json or tiktoken file instead"
        ) from None
    single, pair = _framing_of(_config_class(path), single, pair)
    chosen = [unk_token, cls_token, sep_token, *roles, *named.get("additional", [])]
    specials = dict.fromkeys(t for t in chosen if t in ids)
    specials.update(dict.fromkeys(t.content for t in added if t.special))
    try:
        return BertTokenizer(
            every,
            unk_token,
            "##",
            max_input_chars_per_word,
            (True, handle_chinese_chars, strip_accents, lowercase),
            [(t, position[t]) for t in specials],
            single,
            pair,
            added=len(every) - len(tokens),
            **core_args(added),
        )
    except TokenizerFormatError as e:
        raise TokenizerFormatError(f"{path}: {e}") from None


_SPECIAL_FORM = re.compile(r"\[[^\[\]]*\]|<[^<>]*>")  # [CLS], [unused0], <s>


def _uncased(tokens: list[str]) -> bool:
    """Whether no token but the bracketed special ones changes when lowercased (ℝ is
    uppercase but has no lowercase form: it stays). The tokens are lowercased as one text
    (no token holds a line break, which no lowercasing makes or takes, and Python's one
    context rule, the final sigma, stops at it) and compared in C; the regular expression
    runs on the tokens that changed alone."""
    lowered = "\n".join(tokens).lower().split("\n")
    changed = itertools.compress(tokens, map(operator.ne, tokens, lowered))
    return all(_SPECIAL_FORM.fullmatch(token) for token in changed)


_CONFIG_OPTIONS = ("do_lower_case", "strip_accents", "tokenize_chinese_chars")


def _config_class(vocab: Path) -> str | None:
    """The ``tokenizer_class`` of the ``tokenizer_config.json`` beside a ``vocab.txt``."""
    config = Path(vocab).parent / "tokenizer_config.json"
    doc = read_json(config) if config.is_file() else None
    kind = doc.get("tokenizer_class") if isinstance(doc, dict) else None
    return kind if isinstance(kind, str) else None


def _framing_of(
    kind: str | None, single: TemplateSpec, pair: TemplateSpec
) -> tuple[TemplateSpec, TemplateSpec]:
    """BERT's templates as transformers' ``tokenizer_class`` ``kind`` frames texts instead:
    MPNet's pair is ``<s> A </s> </s> B </s>`` with type ids all 0 (all-mpnet-base-v2's
    folder: BERT's ``<s> A </s> B </s>`` gave other ids for every pair), Funnel's
    ``<cls>`` has type id 2."""
    if kind is None or len(single) != 3:  # (no template: cls_token=None, sep_token=None)
        return single, pair
    cls, text, sep = single
    if kind.startswith("MPNetTokenizer"):
        return single, [*single, sep, ("B", 0, 0), sep]
    if kind.startswith("FunnelTokenizer"):
        framed = [("special", cls[1], 2), text, sep]
        return framed, [*framed, ("B", 0, 1), ("special", sep[1], 1)]
    return single, pair


def _config_options(vocab: Path) -> dict[str, bool]:
    """The normalizer options set in the ``tokenizer_config.json`` beside a ``vocab.txt``
    (HF's layout): those of ``do_lower_case``, ``strip_accents`` and
    ``tokenize_chinese_chars`` that it sets (null is unset, as in transformers)."""
    config = Path(vocab).parent / "tokenizer_config.json"
    if not config.is_file():
        return {}
    doc = read_json(config)
    if not isinstance(doc, dict):
        return {}
    options = {}
    for name in _CONFIG_OPTIONS:
        value = doc.get(name)
        if value is not None and not isinstance(value, bool):
            raise TokenizerFormatError(f"{config}: {name} must be true or false, got {value!r}")
        if value is not None:
            options[name] = value
    return options


_ROLE_KEYS = ("unk_token", "cls_token", "sep_token", "pad_token", "mask_token")
_DEFAULTS = ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]")  # transformers' BertTokenizer's
# the roles in the order transformers adds the tokens it lacks
_HF_ORDER = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
             "mask_token")  # fmt: skip


def _config_specials(vocab: Path) -> dict[str, Any]:
    """The special tokens that the ``tokenizer_config.json`` (else the
    ``special_tokens_map.json``) beside a ``vocab.txt`` names, as transformers reads them:
    ``{"unk_token": ..., "cls_token": ..., ..., "additional": [...]}`` (a value may be a
    str or ``{"content": str}``; the additional ones are ``additional_special_tokens``, or
    ``extra_special_tokens`` as transformers 5 writes them, a list or ``{name: token}``);
    empty when neither file names one. A config that holds an ``added_tokens_decoder``
    (transformers 4.34 on) is read alone, as transformers reads it."""
    folder = Path(vocab).parent
    config = folder / "tokenizer_config.json"
    docs = [read_json(config) if config.is_file() else None]
    if not (isinstance(docs[0], dict) and "added_tokens_decoder" in docs[0]):
        mapping = folder / "special_tokens_map.json"
        docs.insert(0, read_json(mapping) if mapping.is_file() else None)  # the config wins
    found: dict[str, Any] = {}
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        for key in _HF_ORDER:
            value = _text(doc.get(key))
            if value is not None:
                found[key] = value
        for key in ("additional_special_tokens", "extra_special_tokens"):
            listed = doc.get(key)
            if isinstance(listed, dict):
                listed = list(listed.values())
            if isinstance(listed, list) and listed:
                found["additional"] = [t for t in map(_text, listed) if t is not None]
    return found


def _text(value: Any) -> str | None:
    """A special token as the files write it: its text, or ``{"content": text, ...}``."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def save_vocab(core: BertTokenizer, path: Path) -> None:
    """Writes ``vocab.txt`` atomically. A token the file cannot give back as it is (one
    with a line break, or ending in whitespace that ``read_vocab`` strips) is refused."""
    tokens = core.vocab()
    for tid, token in enumerate(tokens):
        if "\n" in token or (token.rstrip(_WHITE_SPACE) or token.removesuffix("\r")) != token:
            raise ConfigError(
                f"token {token!r} (id {tid}) cannot be a line of vocab.txt (a line break, or "
                "whitespace ending it, would be lost): save with format='hf' (tokenizer.json)"
            )
    atomic_write(path, "".join(t + "\n" for t in tokens))
