"""The subcommands that run a trained model: ``embed`` (text or word vectors, written as
.npy, .npz or .parquet), ``fill-mask`` and ``similar`` (nearest words, contextual and
static).

Loading the texts is ``inputs``'s; the models are ``lexforge.model``'s.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import stat
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lexforge.errors import ConfigError

from .inputs import _check_input, _lines, write_out
from .tokenizers import _check_output


def _load_model(path: str, kind: str) -> object:
    from lexforge import model as models

    if kind == "mlm":
        with warnings.catch_warnings():  # (lexforge pretrain's export keeps its NSP head)
            unused = ".*ignored .* weights the model has no place for .*(pooler|next-sentence)"
            warnings.filterwarnings("ignore", message=unused)
            # a checkpoint without an MLM head: fill-mask itself says so (an error for a
            # task's head, a warning for an encoder alone), not this load's warning first
            warnings.filterwarnings("ignore", message=".*has no weights for mlm .*")
            return models.BertForMaskedLM.from_pretrained(path)
    with warnings.catch_warnings():  # vectors are hidden states: no head, no pooler needed
        warnings.filterwarnings("ignore", message=".*ignored .* weights the model has no place")
        warnings.filterwarnings("ignore", message=".*no weights for pooler.*")
        return models.BertModel.from_pretrained(path)


def _embed(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.is_dir():
        raise ConfigError(f"-o {output} is a directory; name a file (.npy, .npz or .parquet)")
    if output.suffix.lower() not in (".npy", ".npz", ".parquet"):
        raise ConfigError(
            f"-o {output}: write .npy, .npz or .parquet (the suffix picks the format)"
        )
    written = [output]
    if args.words and output.suffix.lower() != ".parquet":  # vectors of many lengths: .npz
        output = output.with_suffix(".npz")
        written = [output, output.with_suffix(".words.json")]
    for path in written:  # each file that will be replaced, checked before the model runs
        _check_written(path, args.output, args.files)
    if args.words and (args.pooling is not None or args.normalize is not None):
        raise ConfigError(
            "--pooling and --normalize shape text vectors; with --words use --pooling-words"
        )
    if not args.words and args.pooling_words is not None:
        raise ConfigError("--pooling-words is for --words (one vector per word); add --words")
    if args.words and args.max_length is not None:
        raise ConfigError("--max-length cuts text vectors' texts; --words reads texts whole")
    parquet = output.suffix.lower() == ".parquet"
    pa: Any = None
    pq: Any = None
    if parquet:
        from lexforge._corpus_records import pyarrow

        pa, pq = pyarrow("writing .parquet")  # before the model runs: fail fast
    where: list[str] = []
    # a row per line (or record), blank ones too
    texts = _lines(args.files, args.text_column, where)
    model = _load_model(args.model, "encoder")
    with _named_texts(where):
        return _embed_texts(args, model, texts, output, pa, pq)


@contextlib.contextmanager
def _named_texts(where: list[str]) -> Iterator[None]:
    """A text's error as the API words it ("texts[5] (text number 6) has ...") named by
    its file and line instead."""
    try:
        yield
    except ConfigError as e:
        at = getattr(e, "text_index", None)
        if at is None or not 0 <= at < len(where) or " has " not in str(e):
            raise
        raise ConfigError(f"{where[at]}: the text has {str(e).split(' has ', 1)[1]}") from None


def _embed_texts(
    args: argparse.Namespace, model: Any, texts: list[str], output: Path, pa: Any, pq: Any
) -> int:
    import numpy as np

    if args.words:
        result = model.embed_words(texts, pooling=args.pooling_words or "mean",
                                   layers=args.layers)  # fmt: skip
        if pq is not None:  # one row per word
            rows = [(t, w, word) for t, r in enumerate(result) for w, word in enumerate(r.words)]
            width = int(model.config.hidden_size)
            stacked = np.concatenate([r.vectors for r in result]) if rows else np.zeros((0, width))
            table = pa.table({
                "text_index": pa.array([t for t, _, _ in rows], pa.int32()),
                "word_index": pa.array([w for _, w, _ in rows], pa.int32()),
                "word": pa.array([word for _, _, word in rows], pa.string()),
                "embedding": _fixed_lists(pa, stacked),
            })  # fmt: skip
            _atomic(output, lambda f: pq.write_table(table, f))
        else:
            arrays = {f"text_{i}": r.vectors for i, r in enumerate(result)}
            words = json.dumps([r.words for r in result], ensure_ascii=False).encode("utf-8")
            _atomic(output, lambda f: np.savez(f, **arrays),
                    (output.with_suffix(".words.json"), lambda f: f.write(words)))  # fmt: skip
    else:
        vectors = model.embed(texts, pooling=args.pooling, normalize=args.normalize,
                              layers=args.layers, max_length=args.max_length)  # fmt: skip
        if pq is not None:
            table = pa.table({"text": pa.array(texts, pa.string()),
                              "embedding": _fixed_lists(pa, vectors)})  # fmt: skip
            _atomic(output, lambda f: pq.write_table(table, f))
        elif output.suffix.lower() == ".npz":
            _atomic(output, lambda f: np.savez(f, embeddings=vectors))
        else:
            _atomic(output, lambda f: np.save(f, vectors))
    print(f"{len(texts)} texts -> {output}")
    return 0


def _fixed_lists(pa: Any, vectors: Any) -> Any:
    """(rows, width) float32 as an Arrow fixed-size-list column (one vector per row)."""
    import numpy as np

    flat = np.ascontiguousarray(vectors, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])


def _atomic(path: Path, write: Any, *more: tuple[Path, Any]) -> None:
    """Writes ``path`` through ``write(file)`` into a temporary file of its own in the same
    folder (two runs at once never share one), then renames it; files that belong with it
    (``more``: (path, write) pairs) all or none: every one is written before the first
    rename (a failed second write left a new .npz beside the old .words.json)."""
    from lexforge.formats import replacing_mode, write_failed

    staged: list[tuple[Path, Path]] = []
    direct: list[tuple[Path, Any]] = []
    try:
        for target, writer in ((path, write), *more):
            try:
                mode = target.stat().st_mode  # (through a link)
            except OSError:
                mode = None
            if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                direct.append((target, writer))  # a pipe, a device (/dev/stdout): written to
                continue
            # a link to a file is written through, the link kept (a rename replaced it)
            target = Path(os.path.realpath(target))
            if target.is_dir():  # (its rename would fail after the others' went through)
                raise write_failed(target, IsADirectoryError(errno.EISDIR, "Is a directory"))
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(
                    prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
                )
            except OSError as e:
                raise write_failed(target, e) from None
            staged.append((target, Path(name)))
            try:
                with os.fdopen(fd, "wb") as f:
                    replacing_mode(fd, target)
                    writer(f)
            except OSError as e:
                raise write_failed(target, e) from None
        for target, tmp in staged:
            try:
                tmp.replace(target)
            except OSError as e:
                raise write_failed(target, e) from None
        for target, writer in direct:
            try:
                with target.open("wb") as f:
                    writer(f)
            except OSError as e:
                raise write_failed(target, e) from None
    finally:
        for _, tmp in staged:
            with contextlib.suppress(OSError):  # (a failing clean-up must not hide the error)
                tmp.unlink(missing_ok=True)


def _needs_escape(token: str) -> bool:
    """Whether a token holds a control character (a tab, a line end) or a backslash: then
    it is printed escaped as in JSON, so a line keeps its three columns."""
    return any(c < " " or c == "\\" for c in token)


def _fill_mask(args: argparse.Namespace) -> int:
    from lexforge.batch import check_int

    check_int("--top-k", args.top_k, least=1)  # named as the flag, before the model loads
    from lexforge.formats.hf_folder import token_roles as _roles

    model = _load_model(args.model, "mlm")
    tok = getattr(model, "tokenizer", None)
    mask = _roles(tok).get("mask", "[MASK]") if tok is not None else "[MASK]"  # (<mask>...)
    for position, candidates in enumerate(model.fill_mask(args.text, top_k=args.top_k)):  # type: ignore[attr-defined]
        for token, p in candidates:
            # a token that holds a tab or line end (BPE has them) would break the columns
            shown = json.dumps(token, ensure_ascii=False)[1:-1] if _needs_escape(token) else token
            print(f"{mask}{position}\t{shown}\t{p:.4f}")
    return 0


def _similar(args: argparse.Namespace) -> int:
    from lexforge import datasets
    from lexforge.batch import check_int
    from lexforge.model.represent import _tokenizer
    from lexforge.model.similarity import (
        _tokenizer_words,
        compare,
        contextual_space,
        cooccurrence_space,
    )

    for name in ("k", "min_count", "max_words", "max_texts"):  # before the model loads
        flag = "-k" if name == "k" else "--" + name.replace("_", "-")
        check_int(flag, getattr(args, name), least=0 if name == "min_count" else 1)
    if args.files is not None:
        if args.corpus is not None:
            raise ConfigError("--corpus and --files both name the corpus; pass one of them")
        texts = [t for t in _lines(args.files, args.text_column) if t.strip()]  # a corpus
    else:
        if args.text_column is not None:
            raise ConfigError("--text-column names a column of --files; add --files")
        corpus = args.corpus or "wiki-leads"
        if corpus not in datasets.names() and Path(corpus).exists():
            raise ConfigError(f"--corpus takes a dataset name; for a file pass --files {corpus}")
        texts = [d for d in datasets.load_corpus(corpus) if d.strip()]
    texts = texts[: args.max_texts]
    model = _load_model(args.model, "encoder")
    tok = _tokenizer(model, None)  # type: ignore[arg-type]  # (none saved: a ConfigError)
    # a probe is one word as the spaces cut them, or it could never be found; it is looked
    # up as that word (" cat" is "cat")
    probes: list[str] = []
    for word, parts in zip(args.words, _tokenizer_words(tok, args.words), strict=True):
        if len(parts) != 1:
            shown = f"the words {', '.join(map(repr, parts))}" if parts else "no word"
            raise ConfigError(
                f"{word!r} is {shown} to this model's tokenizer; similar compares single words"
            )
        if parts[0].lower() not in {p.lower() for p in probes}:  # (CAT and Cat: one word)
            probes.append(parts[0])
    spaces = [
        contextual_space(model, texts, min_count=args.min_count, max_words=args.max_words),
        cooccurrence_space(
            texts, tokenizer=tok, min_count=args.min_count, max_words=args.max_words
        ),
    ]
    rows = compare(spaces, probes, k=args.k)
    missing = [w for w in probes if w.lower() not in {r["word"].lower() for r in rows}]
    for row in rows:
        print(f"{row['word']}")
        for kind, found in row["neighbours"].items():
            print(f"  {kind:>13}: " + ", ".join(f"{w} {score:.2f}" for w, score in found))
    if missing:
        print(f"not frequent enough in these {len(texts)} texts: {', '.join(missing)} "
              "(lower --min-count, or raise --max-texts or --max-words)")  # fmt: skip
    return 0


_HEADS = {
    "BertForSequenceClassification": "classify",
    "BertForTokenClassification": "tag",
    "BertForQuestionAnswering": "answer",
}
_NAMES = {"classify": "classifiers", "tag": "taggers", "answer": "QA models"}


def _refuse_pairless(files: list[str], column: str) -> None:
    """A ``ConfigError`` for a plain text file (or stdin) among records files given with
    ``--pair-column``: its lines hold no pair, and were scored as their own pairs, silently.
    (Plain text alone is refused by the column's own check.)"""
    from lexforge._corpus_files import is_records

    given = files or ["-"]
    plain = [f for f in given if f == "-" or (Path(f).is_file() and not is_records(Path(f)))]
    if plain and len(plain) < len(given):
        name = "standard input" if plain[0] == "-" else plain[0]
        raise ConfigError(
            f"--pair-column={column!r} reads each text's pair from records files (.jsonl, "
            f".json, .csv, .tsv, .parquet), but {name} is plain text, a text a line with no "
            "pair; give its texts with their pairs as records, or predict it in a run "
            "without --pair-column"
        )


def _predict(args: argparse.Namespace) -> int:
    """A fine-tuned model's predictions as JSON Lines, one per input (a line, or a record
    of a records file): a classifier's label and probability (labels for multi-label, a
    score for regression), a tagger's tag per word (a line cut at whitespace), a QA
    model's answer (records with question and context columns)."""
    from lexforge import model as models
    from lexforge.batch import check_int
    from lexforge.model.hf_read import (
        architecture,
        checkpoint_folder,
        checkpoint_kind,
        saved_labels,
    )
    from lexforge.train._fit_model import _weight_names

    check_int("--batch-size", args.batch_size, least=1)
    folder = checkpoint_folder(args.model)
    # config.json's architecture, else what the head weights show (as from_pretrained)
    kind = checkpoint_kind(_weight_names(folder), architecture(folder), saved_labels(folder))
    head = _HEADS.get(kind)
    if head is None:
        raise ConfigError(
            f"{args.model} is a {kind}, not a fine-tuned classifier, tagger or QA model "
            "(lexforge finetune makes one); for vectors use lexforge embed, for masked "
            "words lexforge fill-mask"
        )
    for flag, value, kinds in (("--max-length", args.max_length, ("classify", "tag", "answer")),
                               ("--stride", args.stride, ("answer",)),
                               ("--max-answer-length", args.max_answer_length, ("answer",)),
                               ("--null-threshold", args.null_threshold, ("answer",))):  # fmt: skip
        if value is not None and head not in kinds:
            raise ConfigError(f"{flag} is for {' and '.join(_NAMES[k] for k in kinds)}")
    if args.max_length is not None:  # (named by its flag, before the model loads)
        least = {"tag": 3, "answer": 1}.get(head, 5 if args.pair_column else 3)
        check_int("--max-length", args.max_length, least=least)
    if args.max_answer_length is not None:
        check_int("--max-answer-length", args.max_answer_length, least=1)
    if args.output is not None:
        _check_written(Path(args.output), args.output, args.files)
    where: list[str] = []
    if head == "answer":
        if not args.files or "-" in args.files:
            raise ConfigError(
                "a QA model reads records files (.jsonl, .json, .csv, .tsv, .parquet) with "
                "question and context columns, not lines of stdin; name such a file"
            )
        from lexforge._corpus_files import is_records

        plain = [f for f in args.files if Path(f).is_file() and not is_records(Path(f))]
        if plain:
            raise ConfigError(
                f"a QA model reads records files (.jsonl, .json, .csv, .tsv, .parquet) with "
                f"question and context columns; {plain[0]} is not one: write each question "
                "with its context as a record"
            )
        first, second, ids = _qa_inputs(
            args.files, args.text_column or "question", args.pair_column or "context", where
        )
    else:
        conll = [f for f in args.files if _is_conll(f)]
        if head == "tag":
            columns = next((f for f in args.files if _txt_in_conll_columns(f)), None)
            if columns is not None:  # (fine-tuning reads it as CoNLL: a line is no text)
                raise ConfigError(
                    f"{columns} holds CoNLL columns (a word and its tags per line, a blank "
                    "line between sentences), as fine-tuning reads a .txt file, but predict "
                    "reads a .txt file as a text per line (each 'word POS tag' line one "
                    f"sentence); name it {Path(columns).stem}.conll to tag its sentences"
                )
        if conll and head != "tag":
            raise ConfigError(
                f"{conll[0]} is CoNLL (a word per line, a blank line between sentences): a "
                "tagger reads it; a classifier reads a text per line, or records files"
            )
        if args.pair_column is not None:
            if head != "classify":
                raise ConfigError("--pair-column is for sentence-pair classifiers")
            _refuse_pairless(args.files, args.pair_column)
        first = []
        for f in args.files or ["-"]:  # (CoNLL files: their sentences' words, tags unread)
            first += _conll_words(f, where) if _is_conll(f) else _lines(
                [f], args.text_column, where, "--text-column"
            )  # fmt: skip
        second, ids = None, []
        if args.pair_column is not None:
            second = _lines(args.files, args.pair_column, flag="--pair-column")
    cls = getattr(models, kind)
    with warnings.catch_warnings():  # a head's checkpoint may keep pretraining's parts
        unused = ".*ignored .* weights the model has no place for .*(pooler|next-sentence)"
        warnings.filterwarnings("ignore", message=unused)
        if head != "classify":  # (a classifier reads its pooler: a fresh one is news)
            warnings.filterwarnings("ignore", message=".*no weights for pooler.*")
        model = cls.from_pretrained(folder)
    options: dict[str, Any] = {"batch_size": args.batch_size}
    if args.max_length is not None:
        options["max_length"] = args.max_length
    if head == "answer":
        options.update(stride=args.stride, null_threshold=args.null_threshold)
        if args.max_answer_length is not None:
            options["max_answer_length"] = args.max_answer_length
    rows: list[dict[str, Any]] = []
    with _named_texts(where):
        if head == "classify":
            for text, got in zip(first, model.classify(first, second, **options), strict=True):
                if isinstance(got, float):
                    rows.append({"text": text, "score": got})
                elif isinstance(got, dict):  # a regression of several outputs
                    rows.append({"text": text, "scores": got})
                elif isinstance(got, tuple):
                    rows.append({"text": text, "label": got[0], "score": got[1]})
                else:
                    rows.append({"text": text, "labels": [label for label, _ in got],
                                 "scores": [p for _, p in got]})  # fmt: skip
        elif head == "tag":
            for tagged in model.tag(first, **options):
                rows.append({"words": [w for w, _ in tagged], "tags": [t for _, t in tagged]})
        else:
            assert second is not None
            for i, (answer, start, score) in enumerate(model.answer(first, second, **options)):
                ident = {} if ids[i] is None else {"id": ids[i]}  # SQuAD's question ids
                rows.append({**ident, "answer": answer, "start": start, "score": score})
    text = _json_lines(rows, where)
    if args.output is None:
        if not _stdout_takes(text):  # JSON's escapes, not the console's \xe9 (no JSON)
            text = _json_lines(rows, where, ensure_ascii=True)
        write_out(text)
    else:
        _atomic(Path(args.output), lambda f: f.write(text.encode("utf-8")))
        print(f"{len(rows)} predictions -> {args.output}", file=sys.stderr)
    return 0


def _json_lines(rows: list[dict[str, Any]], where: list[str], *, ensure_ascii: bool = False) -> str:
    """``rows`` as strict JSON Lines; ``ensure_ascii``: every other character as ``\\uXXXX``."""
    lines = []
    for i, row in enumerate(rows):
        try:  # strict JSON: a NaN score (a diverged checkpoint) has no spelling in it
            lines.append(json.dumps(row, ensure_ascii=ensure_ascii, allow_nan=False) + "\n")
        except ValueError:
            from lexforge.model.predict import not_finite

            raise not_finite(where[i] if i < len(where) else f"input {i + 1}") from None
    return "".join(lines)


def _stdout_takes(text: str) -> bool:
    """Whether standard output's encoding spells every character of ``text``: under
    ``PYTHONIOENCODING=ascii`` or a Latin-1 locale it does not, and the command's
    ``backslashreplace`` would write ``\\xe9`` for an é, which no JSON reader reads."""
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _is_conll(f: str) -> bool:
    """A CoNLL file by its name (.conll, .conllu, .bio, .iob, .iob2; not .txt, which
    ``predict`` reads as a text per line)."""
    from lexforge.train._files import data_format

    name = f.lower().removesuffix(".gz")
    return f != "-" and data_format(Path(f)) == "conll" and not name.endswith(".txt")


def _txt_in_conll_columns(f: str) -> bool:
    """True for a ``.txt`` file (read as a text per line) laid out as CoNLL columns, as
    ``finetune`` reads a ``.txt``: every non-blank line the same two or more columns
    (CoNLL-U's ten with a word number first, or 'token ... tag' with a tag set smaller
    than half its lines), blank lines between sentences of several lines each. Tagged a
    line at a time, each 'word POS tag' line would be a sentence of its columns."""
    from lexforge.train._files import lines, read_text
    from lexforge.train.tagging_data import _conllu_layout

    path = Path(f)
    if f == "-" or not path.is_file() or not f.lower().removesuffix(".gz").endswith(".txt"):
        return False
    try:
        text = read_text(path)
    except ConfigError:
        return False  # (the text reader says what is wrong with it)
    rows = list(lines(text))
    words = [line.split() for _, line in rows if line.strip()]
    if not words or len(words) == len(rows):  # no blank line: no sentences to break
        return False
    if _conllu_layout([(str(n), line) for n, line in rows]):
        return True
    blocks = "\n".join("x" if line.strip() else "" for _, line in rows).split("\n\n")
    return (
        len({len(w) for w in words}) == 1
        and len(words[0]) >= 2
        and any(block.count("x") >= 2 for block in blocks)
        and len({w[-1] for w in words}) * 2 <= len(words)
    )


def _conll_words(f: str, where: list[str]) -> list[Any]:
    """The sentences of a CoNLL (or CoNLL-U) file as lists of words, read as fine-tuning
    reads them; its tags, if any, are not read (a word per line with no tag is a word).
    ``where`` gets each sentence's first line."""
    from lexforge.train._files import read_rows
    from lexforge.train.tagging_data import _COMMENT, _conll, _conllu, _conllu_layout, _is_conllu

    _check_input(f)
    path = Path(f)
    rows = read_rows(path, ("conll",))[1]
    if _is_conllu(path) or _conllu_layout(rows):
        sentences = _conllu(f, rows)
    else:
        words_only = all(len(line.split()) <= 1 or _COMMENT.fullmatch(line.rstrip())
                         for _, line in rows)  # fmt: skip
        if words_only:  # (no tag column: each word given the tag O, never read)
            rows = [(at, f"{line.strip()}\tO" if line.strip() and not _COMMENT.fullmatch(
                line.rstrip()) else line) for at, line in rows]  # fmt: skip
        sentences = _conll(f, rows)
    where += [f"{f}: {start}" for start, _ in sentences]
    return [tokens for _, (tokens, _) in sentences]


def _qa_inputs(
    files: list[str], question: str, context: str, where: list[str]
) -> tuple[list[str], list[str], list[str | None]]:
    """Questions, their contexts and ids from records files (a question and a context
    column each; no ids) or SQuAD ``.json`` files (its layout: each question with its
    paragraph's context, and its id); answers, if any, are not read."""
    from lexforge.train._files import data_format, read_rows
    from lexforge.train.qa_data import _squad_rows

    questions: list[str] = []
    contexts: list[str] = []
    ids: list[str | None] = []
    for f in files:
        path = Path(f)
        rows = read_rows(path, ("json",))[1] if data_format(path) == "json" else []
        if not (rows and rows[0][0] == "the file"):  # one record per question
            before = len(where)
            questions += _lines([f], question, where, "--text-column")
            contexts += _lines([f], context, flag="--pair-column")
            ids += [None] * (len(where) - before)
            continue
        for at, row in _squad_rows(rows[0][1], path, (question, context, "answers")):
            if not isinstance(row.get(question), str):
                raise ConfigError(f"{f}: {at}: no {question!r} text (--text-column names it)")
            questions.append(row[question])
            contexts.append(row[context])
            given = row.get("id")
            ids.append(None if given is None else str(given))
            where.append(f"{f}, {at}")
    return questions, contexts, ids


def _check_written(path: Path, given: str, files: list[str]) -> None:
    """Refuses an output file before the model runs: a directory, a path through a file or
    a read-only folder, or one of the inputs (read whole before the write, but lost all
    the same). A folder that does not exist yet is made when the file is written (as
    train-tokenizer and finetune make theirs)."""
    if path.is_dir():
        raise ConfigError(f"-o {given}: {path} is a directory; name a file")
    _check_output(str(path), folder=False)
    for f in files:
        if f != "-" and path.exists() and Path(f).exists() and path.samefile(f):
            raise ConfigError(f"-o {given} would replace the input {f}; write elsewhere")
