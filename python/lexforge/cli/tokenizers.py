"""The tokenizer subcommands: ``train-tokenizer`` (byte-level BPE or WordPiece, saved in
the formats each model has), ``tokenize`` (ids, or token statistics with ``--count``) and
``bench`` (throughput beside the anchors).

Reading the texts to encode is ``inputs``'s; the options are ``parser``'s.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import lexforge
from lexforge.errors import ConfigError
from lexforge.formats import names_folder

from .inputs import _tokenize_blocks, standard_stream, write_out

_DEFAULT_OUTPUT = {
    "hf": "tokenizer.json", "gpt2": ".", "tiktoken": "tokenizer.tiktoken", "vocab": "vocab.txt"
}  # fmt: skip


def _train_tokenizer(args: argparse.Namespace) -> int:
    """Byte-level BPE (``--model bpe``, the default) or WordPiece (``--model wordpiece``,
    BERT's normalizer and pre-tokenizer; the tokenizer ``lexforge pretrain`` expects).
    Options of the other model and formats it cannot be saved in are refused before
    training."""
    fmt = args.format or "hf"
    _check_counts(args)
    _check_output(args.output or _DEFAULT_OUTPUT[fmt], folder=fmt == "gpt2")
    _check_not_an_input(args.output or _DEFAULT_OUTPUT[fmt], fmt, args.files)
    _check_special_spelling(args)
    if "-" in args.files:
        return _on_stdin(args)
    return _train_on_files(args)


def _train_on_files(args: argparse.Namespace) -> int:
    from lexforge.formats.bert import SPECIALS

    wordpiece = args.model == "wordpiece"
    fmt: Any = args.format or "hf"  # a Literal of the save below once checked
    options: dict[str, Any] = {
        "text_column": args.text_column, "vocab_size": args.vocab_size,
        "min_frequency": args.min_frequency, "max_token_length": args.max_token_length,
        "num_threads": args.threads, "show_progress": False if args.quiet else None,
    }  # fmt: skip
    if wordpiece:
        if args.pattern is not None:
            raise ConfigError(
                "--pattern is a BPE option: WordPiece splits words as BERT does (whitespace, "
                "punctuation, CJK characters)"
            )
        if fmt not in ("hf", "vocab"):
            raise ConfigError(
                f"--format {fmt} is not a WordPiece format; use hf (tokenizer.json) or vocab "
                "(vocab.txt)"
            )
        tok: Any = lexforge.Tokenizer.train_wordpiece(
            args.files, special_tokens=args.special or SPECIALS, lowercase=not args.cased,
            limit_alphabet=args.limit_alphabet, **options,
        )  # fmt: skip
    else:
        for flag, value in (("--cased", args.cased), ("--limit-alphabet", args.limit_alphabet)):
            if value is not None and value is not False:  # (0 == False: a count, not a flag)
                raise ConfigError(f"{flag} is a WordPiece option; add --model wordpiece")
        if fmt not in ("hf", "gpt2", "tiktoken"):
            raise ConfigError(f"--format {fmt} is not a BPE format; use hf, gpt2 or tiktoken")
        pattern = "gpt2" if args.pattern is None else args.pattern  # '' is refused, not gpt2
        gpt2 = lexforge.WordCounts(pattern="gpt2").pattern
        if fmt == "gpt2" and lexforge.WordCounts(pattern=pattern).pattern != gpt2:
            # checked before training: GPT-2's file pair cannot record it (BpeTokenizer.save)
            raise ConfigError(
                f"--format gpt2 cannot record --pattern {pattern!r} (the files always load "
                "with GPT-2's pattern); use --format hf or --format tiktoken"
            )
        tok = lexforge.Tokenizer.train_bpe(
            args.files, special_tokens=args.special or (), pattern=pattern, **options
        )
    output = args.output or _DEFAULT_OUTPUT[fmt]
    _save_tokenizer(tok, output, fmt)
    return 0


def _on_stdin(args: argparse.Namespace) -> int:
    """``-`` among the files is stdin, as in ``tokenize``: spooled to a temporary file
    (the trainers read files, twice for WordPiece), and named ``<stdin>`` in errors."""
    import shutil
    import tempfile

    if args.files.count("-") > 1:
        raise ConfigError("- (stdin) is named more than once; name it once")
    with tempfile.TemporaryDirectory(prefix="lexforge-stdin-") as folder:
        spool = Path(folder) / "stdin.txt"
        with spool.open("wb") as out:
            shutil.copyfileobj(standard_stream("stdin").buffer, out, 1 << 20)
        args.files = [str(spool) if f == "-" else f for f in args.files]
        try:
            return _train_on_files(args)
        except (lexforge.LexforgeError, OSError) as e:
            said = str(e.strerror if isinstance(e, OSError) and e.filename is None else e)
            if str(spool) not in said:
                raise
            kind = OSError if isinstance(e, OSError) else lexforge.LexforgeError
            raise kind(said.replace(str(spool), "<stdin>")) from None


def _save_tokenizer(tok: Any, output: str, fmt: Any) -> None:
    if fmt == "gpt2":  # a folder for vocab.json + merges.txt
        from lexforge.formats import write_failed

        try:
            Path(output).mkdir(parents=True, exist_ok=True)
        except OSError as e:  # (checked before training; the disk may have changed since)
            raise write_failed(Path(output), e) from None
    tok.save(output, format=fmt)
    print(f"saved {tok} to {output}")


def _check_counts(args: argparse.Namespace) -> None:
    """The count flags, named as flags (the API's checks name its keywords)."""
    from lexforge.batch import check_int

    for flag, value in (("--threads", args.threads), ("--min-frequency", args.min_frequency)):
        if value is not None:
            check_int(flag, value, least=0)


_TOKEN_LIKE = re.compile(r"<[^<>\s/\\]+>|</[^<>\s/\\]+>|\[[^\[\]\s/\\]+\]")


def _check_special_spelling(args: argparse.Namespace) -> None:
    """``--special <s> <pad>`` gives ``<pad>`` as a corpus file (``--special`` takes one
    token): a missing "file" spelled as a special token is refused with the flag's form,
    before training, rather than as a missing file."""
    from lexforge import datasets

    for f in args.files:
        if _TOKEN_LIKE.fullmatch(f) and not os.path.lexists(f) and f not in datasets.names():
            form = " ".join(f"--special {t}" for t in [*(args.special or [])[-1:], f])
            raise ConfigError(
                f"{f} is no file, and reads as a special token: --special takes one token, "
                f"so repeat the flag for each: {form}"
            )


def _check_not_an_input(output: str, fmt: str, files: list[str]) -> None:
    """Refuses, before training, an output that would replace one of the corpus files."""
    written = (
        [Path(output) / n for n in ("vocab.json", "merges.txt")]
        if fmt == "gpt2"
        else [Path(output)]
    )
    for path in written:
        for f in files:
            if f != "-" and path.exists() and Path(f).exists() and path.samefile(f):
                raise ConfigError(f"-o {output} would replace the corpus file {f}; write elsewhere")


def _check_output(output: str, *, folder: bool) -> None:
    """Where the tokenizer will be saved can take it: said before training, not after."""
    path = Path(output)
    if (path.is_dir() or names_folder(output)) and not folder:
        raise ConfigError(
            f"-o {output} names a directory; name the file to write (e.g. {path}/tok.json)"
        )
    if path.is_file() and folder:
        raise ConfigError(f"-o {path} is a file; --format gpt2 writes a folder")
    at = path if folder else path.parent
    for above in (at, *at.parents):  # the nearest that exists must be a writable directory
        if above.exists():
            if not above.is_dir():
                raise ConfigError(f"-o {path}: {above} is a file, not a directory")
            if not os.access(above, os.W_OK | os.X_OK):
                raise ConfigError(f"-o {path}: {above} is not writable; pick another place")
            return


def _tokenize(args: argparse.Namespace) -> int:
    r"""One line of ids per input line (lines end at "\n" only, kept as part of the line), or
    per record of a records file (JSON Lines, JSON, csv, tsv, Parquet; a .gz text file is
    decompressed). BPE: special tokens' text is encoded as plain text. Each line gets the
    tokenizer's template, if it has one ([CLS]/[SEP] for WordPiece and for a BPE model
    directory's tokenizer.json; ``--no-special-tokens`` drops it), and is never truncated
    or padded. ``--count`` counts exactly the tokens the default mode prints."""
    from lexforge.bpe import BpeTokenizer

    if args.threads is not None:
        from lexforge.batch import check_int

        check_int("--threads", args.threads, least=0)
    tok = lexforge.Tokenizer.from_file(args.tokenizer, pattern=args.pattern)
    special: dict[str, Any] = {"disallowed_special": ()} if isinstance(tok, BpeTokenizer) else {}
    tokens = size = 0
    seconds = 0.0
    try:
        # a block at a time: memory stays bounded by the block, whatever the input's size
        for lines, nbytes in _tokenize_blocks(args.files, args.text_column):
            start = time.perf_counter()
            rows = tok.encode_batch(
                lines, add_special_tokens=not args.no_special_tokens, truncation=False,
                padding=False, num_threads=args.threads, **special,
            )  # fmt: skip
            seconds += time.perf_counter() - start
            size += nbytes
            if args.count:
                tokens += sum(len(ids) for ids in rows)
                continue
            _write_rows(rows)
        standard_stream("stdout").flush()
    except BrokenPipeError:  # the reader stopped (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    if args.count:
        print(
            f"{tokens} tokens, {size} bytes, {size / max(tokens, 1):.3f} bytes/token, "
            f"{size / max(seconds, 1e-9) / 1e6:.1f} MB/s"
        )
    return 0


_ROWS_PER_WRITE = 1024  # (one huge write can miss a closed pipe)
_IDS_PER_WRITE = 1 << 16  # a longer row is written in pieces of this many ids


def _write_rows(rows: list[list[int]]) -> None:
    """Writes ``rows`` as lines of space-separated ids, 1,024 rows a write; a row longer
    than ``_IDS_PER_WRITE`` ids (a line of hundreds of megabytes: minified JSON) in pieces,
    so that its text is never held whole beside its ids (a string per id: 5x the ids'
    own memory)."""
    group: list[str] = []
    for ids in rows:
        if len(ids) > _IDS_PER_WRITE:
            if group:
                write_out("".join(group))
                group = []
            for at in range(0, len(ids), _IDS_PER_WRITE):
                end = "\n" if at + _IDS_PER_WRITE >= len(ids) else " "
                write_out(" ".join(map(str, ids[at : at + _IDS_PER_WRITE])) + end)
            continue
        group.append(" ".join(map(str, ids)) + "\n")
        if len(group) >= _ROWS_PER_WRITE:
            write_out("".join(group))
            group = []
    if group:
        write_out("".join(group))


def _bench(args: argparse.Namespace) -> int:
    from lexforge import _bench

    return _bench.run(
        args.kinds, corpus=args.corpus, texts=args.texts, threads=args.threads,
        repeat=args.repeat,
    )  # fmt: skip
