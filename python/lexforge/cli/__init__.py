"""The ``lexforge`` command line: ``lexforge --help``.

Subcommands: ``quickstart`` (the main job), ``train-tokenizer``, ``tokenize``, ``pretrain``,
``finetune``, ``embed``, ``fill-mask``, ``similar``, ``bench``, ``datasets``. Each parses
its arguments, calls the public Python API, and returns an exit code; errors raised on
purpose (``LexforgeError``, ``OSError``) print one line, not a traceback.

This module owns ``main``: the run of one command, its errors and warnings as one line.
The options are ``parser``'s; the handlers are ``tokenizers`` (train-tokenizer, tokenize,
bench), ``training`` (quickstart, pretrain, finetune) and ``models`` (embed, fill-mask,
similar); ``inputs`` reads their texts.
"""

from __future__ import annotations

import io
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from lexforge._extras import missing_module, require
from lexforge.errors import LexforgeError

from .models import _embed, _fill_mask, _similar
from .parser import build_parser, flag_names, in_flags, take_strays
from .training import _finetune, _pretrain, _quickstart

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, strays = parser.parse_known_args(argv)
    take_strays(parser, args, strays)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    shown = warnings.formatwarning
    flags = flag_names(parser, args.command)

    def one_line(message: Warning | str, *where: Any, **line: Any) -> str:
        # a warning is a line, not a line of our source, in the command's words
        return _one_line(in_flags(str(message), flags), *where, **line)

    warnings.formatwarning = one_line
    for stream in (sys.stdout, sys.stderr):  # a token a console cannot show: escaped
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        if args.func in _TRAIN_COMMANDS:
            name = args.func.__name__.strip("_").replace("_", "-")
            require(f"lexforge {name}", "torch", "safetensors")
        code: int = args.func(args)
    except BrokenPipeError:  # the reader stopped (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (LexforgeError, OSError) as e:
        # (an OSError of lexforge's own message, errno kept: without its "[Errno N]")
        message: object = e.strerror if isinstance(e, OSError) and e.errno and e.strerror and (
            e.filename is None
        ) else e  # fmt: skip
        # (the API's keywords as this command's flags: batch_size as --batch-size)
        message = in_flags(str(message), flags)
        print(f"lexforge: error: {message}", file=sys.stderr)
        return 1
    except ImportError as e:  # an optional dependency a command reached for
        if (missing := missing_module(e)) is None:
            raise
        print(f"lexforge: error: {missing}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # (a training loop says what it saved first)
        print(f"lexforge: interrupted{f': {e}' if str(e) else ''}", file=sys.stderr)
        return 128 + int(getattr(e, "signum", 2))  # (130 for Ctrl-C, 143 for SIGTERM)
    finally:
        warnings.formatwarning = shown
    return code


# the commands that run a model (lexforge[train]); checked before any work starts
_TRAIN_COMMANDS = (_quickstart, _pretrain, _finetune, _embed, _fill_mask, _similar)


def _one_line(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: Any = None
) -> str:
    return f"lexforge: warning: {message}\n"
