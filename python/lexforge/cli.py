"""The ``lexforge`` command line: ``lexforge --help``.

Subcommands: ``quickstart`` (the main job), ``train-tokenizer``, ``tokenize``, ``datasets``.
Each parses its arguments, calls the public Python API, and returns an exit code;
errors raised on purpose (``LexforgeError``, ``OSError``) print one line, not a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import lexforge
from lexforge.errors import LexforgeError


def _train_tokenizer(args: argparse.Namespace) -> int:
    tok = lexforge.Tokenizer.train_bpe(
        args.files,
        vocab_size=args.vocab_size,
        special_tokens=args.special,
        pattern=args.pattern,
        min_frequency=args.min_frequency,
        max_token_length=args.max_token_length,
        num_threads=args.threads,
        show_progress=not args.quiet,
    )
    tok.save(args.output, format=args.format)
    print(f"saved {tok} to {args.output}")
    return 0


def _tokenize(args: argparse.Namespace) -> int:
    tok = lexforge.Tokenizer.from_file(args.tokenizer)
    sources = (
        [Path(f).read_text(encoding="utf-8") for f in args.files]
        if args.files
        else [sys.stdin.read()]
    )
    if args.count:
        start = time.perf_counter()
        n = sum(len(ids) for ids in tok.encode_batch(sources, num_threads=args.threads))
        seconds = time.perf_counter() - start
        size = sum(len(s.encode("utf-8")) for s in sources)
        print(
            f"{n} tokens, {size} bytes, {size / max(n, 1):.3f} bytes/token, "
            f"{size / seconds / 1e6:.1f} MB/s"
        )
        return 0
    for text in sources:
        for line in text.splitlines(keepends=True):
            print(" ".join(map(str, tok.encode(line, disallowed_special=()))))
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    from lexforge.quickstart import run

    return run(
        corpus=args.corpus,
        vocab_size=args.vocab_size,
        out=Path(args.out),
        num_threads=args.threads,
        show_progress=not args.quiet,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lexforge", description="Build BERT-style language models from scratch."
    )
    parser.add_argument("--version", action="version", version=f"lexforge {lexforge.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    q = sub.add_parser(
        "quickstart", help="the main job: train a tokenizer on a default corpus and report"
    )
    q.add_argument(
        "--corpus", default="wiki-leads", help="dataset name or text file (default: wiki-leads)"
    )
    q.add_argument("--vocab-size", type=int, default=16_384)
    q.add_argument("--out", default="lexforge-quickstart", help="output directory")
    q.add_argument("--threads", type=int, default=None)
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=_quickstart)

    t = sub.add_parser("train-tokenizer", help="train a byte-level BPE tokenizer on text files")
    t.add_argument("files", nargs="+", help="UTF-8 text files or dataset names")
    t.add_argument("--vocab-size", type=int, required=True)
    t.add_argument("--special", action="append", default=[], help="a special token (repeatable)")
    t.add_argument("--pattern", default="gpt2", help="gpt2, cl100k, o200k or a regex")
    t.add_argument("--min-frequency", type=int, default=0)
    t.add_argument("--max-token-length", type=int, default=None)
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("-o", "--output", default="tokenizer.json")
    t.add_argument("--format", choices=["hf", "gpt2", "tiktoken"], default="hf")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_train_tokenizer)

    k = sub.add_parser("tokenize", help="encode text files (or stdin) with a tokenizer")
    k.add_argument(
        "--tokenizer", required=True, help="tokenizer.json, vocab.json or a tiktoken file"
    )
    k.add_argument("files", nargs="*")
    k.add_argument("--count", action="store_true", help="print token statistics instead of ids")
    k.add_argument("--threads", type=int, default=None)
    k.set_defaults(func=_tokenize)

    from lexforge.datasets._cli import add_parser

    add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except (LexforgeError, OSError) as e:
        print(f"lexforge: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lexforge: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
