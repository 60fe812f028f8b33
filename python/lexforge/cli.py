"""The ``lexforge`` command line: ``lexforge --help``.

Subcommands: ``quickstart`` (the main job), ``train-tokenizer``, ``tokenize``, ``pretrain``,
``finetune``, ``embed``, ``fill-mask``, ``similar``, ``bench``, ``datasets``. Each parses
its arguments, calls the public Python API, and returns an exit code; errors raised on
purpose (``LexforgeError``, ``OSError``) print one line, not a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lexforge
from lexforge._extras import missing_module, require
from lexforge.errors import ConfigError, LexforgeError
from lexforge.formats import names_folder

_DEFAULT_OUTPUT = {
    "hf": "tokenizer.json", "gpt2": ".", "tiktoken": "tokenizer.tiktoken", "vocab": "vocab.txt"
}  # fmt: skip


def _train_tokenizer(args: argparse.Namespace) -> int:
    """Byte-level BPE (``--model bpe``, the default) or WordPiece (``--model wordpiece``,
    BERT's normalizer and pre-tokenizer; the tokenizer ``lexforge pretrain`` expects).
    Options of the other model and formats it cannot be saved in are refused before
    training."""
    from lexforge.formats.bert import SPECIALS

    wordpiece = args.model == "wordpiece"
    fmt: Any = args.format or "hf"  # a Literal of the save below once checked
    _check_output(args.output or _DEFAULT_OUTPUT[fmt], folder=fmt == "gpt2")
    options: dict[str, Any] = {
        "text_column": args.text_column, "vocab_size": args.vocab_size,
        "min_frequency": args.min_frequency, "max_token_length": args.max_token_length,
        "num_threads": args.threads, "show_progress": not args.quiet,
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
        pattern = args.pattern or "gpt2"
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
    if fmt == "gpt2":  # a folder for vocab.json + merges.txt
        Path(output).mkdir(parents=True, exist_ok=True)
    tok.save(output, format=fmt)
    print(f"saved {tok} to {output}")
    return 0


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
            for at in range(0, len(rows), 1024):  # (one huge write can miss a closed pipe)
                sys.stdout.write(
                    "".join(" ".join(map(str, ids)) + "\n" for ids in rows[at : at + 1024])
                )
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    if args.count:
        print(
            f"{tokens} tokens, {size} bytes, {size / max(tokens, 1):.3f} bytes/token, "
            f"{size / max(seconds, 1e-9) / 1e6:.1f} MB/s"
        )
    return 0


_BLOCK_BYTES = 8 << 20  # text per encode_batch call of `lexforge tokenize`


def _tokenize_blocks(
    files: list[str] | None, text_column: str | None
) -> Iterator[tuple[list[str], int]]:
    r"""(lines, their size in bytes) of ``files`` (or stdin), about 8 MB at a time: lines
    end at "\n" only, kept as part of the line; a file's byte-order mark is dropped;
    records files give one text per record."""
    import gzip
    import zlib

    from lexforge._corpus_files import check_text_column, corpus_format, record_texts
    from lexforge.errors import CorpusError

    check_text_column(text_column, [Path(f) for f in files or ["<stdin>"]])
    for f in files or [None]:  # type: ignore[list-item]  # (None: stdin)
        kind = None if f is None else corpus_format(Path(f))
        if f is not None and kind not in (None, "gzip"):  # records: one text each
            block: list[str] = []
            size = 0
            for text in record_texts(Path(f), text_column):
                block.append(text)
                size += len(text.encode("utf-8"))
                if size >= _BLOCK_BYTES:
                    yield block, size
                    block, size = [], 0
            if block:
                yield block, size
            continue
        name = "<stdin>" if f is None else f
        with contextlib.ExitStack() as stack:
            if f is None:
                stream: Any = sys.stdin.buffer
            elif kind == "gzip":
                stream = stack.enter_context(gzip.open(f, "rb"))
            else:
                stream = stack.enter_context(Path(f).open("rb"))
            raws: list[bytes] = []
            pending = lines_before = 0
            try:
                for raw in stream:
                    if not lines_before and not raws:
                        raw = raw.removeprefix(b"\xef\xbb\xbf")
                    raws.append(raw)
                    pending += len(raw)
                    if pending >= _BLOCK_BYTES:
                        yield _block_lines(name, raws, lines_before), pending
                        lines_before += len(raws)
                        raws, pending = [], 0
            except (OSError, EOFError, zlib.error) as e:
                if kind != "gzip":
                    raise
                raise CorpusError(f"{name}: not a readable gzip file ({e})") from None
            if raws:
                yield _block_lines(name, raws, lines_before), pending


def _block_lines(name: str, raws: list[bytes], lines_before: int) -> list[str]:
    r"""Lines read as bytes (each ending in "\n" but perhaps the last), as text; a bad
    byte is a ``CorpusError`` naming its line in the whole input."""
    data = b"".join(raws)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        from lexforge.errors import CorpusError

        line = lines_before + data.count(b"\n", 0, e.start) + 1
        raise CorpusError(
            f"{name}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x}); re-save the file as UTF-8"
        ) from None
    parts = text.split("\n")  # a last part after the final "\n" is a line only if not empty
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _quickstart(args: argparse.Namespace) -> int:
    from lexforge.quickstart import run

    return run(
        minutes=args.minutes,
        preset=args.preset,
        device=args.device,
        out=Path(args.out),
        show_progress=not args.quiet,
    )


def _pretrain(args: argparse.Namespace) -> int:
    from lexforge.train import pretrain

    names = ("steps", "batch_size", "grad_accum", "max_seq_len", "objective", "lr", "warmup",
             "schedule", "seed", "save_every", "eval_every", "compile", "cuda_graphs", "fsdp",
             "device",
             "embedding_init", "mlm_probability", "masking", "whole_word")  # fmt: skip
    from lexforge import datasets

    data = Path(args.data)
    if not data.exists() and args.data not in datasets.names():
        raise ConfigError(
            f"no such shard directory, text file or dataset: {data} (datasets: "
            f"{', '.join(datasets.names())})"
        )
    if not (data / "manifest.json").is_file() and args.tokenizer is None:
        raise ConfigError(
            f"{data} is text, not shards: pass --tokenizer to build shards (train one with "
            "lexforge train-tokenizer --model wordpiece)"
        )
    result = pretrain(
        args.data, args.out, model=args.preset, eval_data=args.eval, tokenizer=args.tokenizer,
        text_column=args.text_column, resume=args.resume, progress=not args.quiet,
        **{name: getattr(args, name) for name in names},
    )  # fmt: skip
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports (and saves)
        return 0
    last = [r for r in result.history if r["split"] == "train"]
    if last:
        print(json.dumps(last[-1]))
    print(f"model: {result.out_dir / 'model'}")
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from lexforge.train import finetune

    result = finetune(
        args.model, args.data, validation=args.validation, test=args.test, out_dir=args.out,
        text_column=args.text_column, pair_column=args.pair_column,
        label_column=args.label_column, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, warmup=args.warmup, weight_decay=args.weight_decay,
        layer_decay=args.layer_decay, max_length=args.max_length, patience=args.patience,
        max_steps=args.max_steps, time_limit=args.time_limit, seed=args.seed,
        device=args.device, progress=not args.quiet, task=args.task, runs=args.runs,
        problem_type=args.problem_type, label_separator=args.label_separator,
        new_head=args.new_head, stride=args.stride,
    )  # fmt: skip
    if len(result.soup) > 1:
        print(f"model soup: the weights of runs {list(result.soup)} averaged")
    elif result.soup:
        print(f"model soup: run {result.soup[0]} alone (averaging scored lower on validation)")
    shown = {"validation": result.validation, "test": result.test}
    for split, metrics in shown.items():
        if metrics:
            print(f"{split}: {_scores(metrics)}")
    print(f"best model: {Path(args.out) / 'best'}")
    return 0


def _scores(metrics: dict[str, Any]) -> str:
    """One line of a split's scores, whatever the task."""
    if "exact_match" in metrics:
        line = f"exact match {metrics['exact_match']:.2f}, F1 {metrics['f1']:.2f}"
        if "no_answer_accuracy" in metrics:
            line += (f"; answerable F1 {metrics['has_answer_f1']:.2f}, no-answer accuracy "
                     f"{metrics['no_answer_accuracy']:.2f} (threshold "
                     f"{metrics['null_threshold']:.3f})")  # fmt: skip
        return line
    if "mse" in metrics:
        return (f"MSE {metrics['mse']:.4f}, Pearson {metrics['pearson']:.4f}, "
                f"Spearman {metrics['spearman']:.4f}")  # fmt: skip
    line = f"accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}"
    if "micro_f1" in metrics:
        line += f", micro-F1 {metrics['micro_f1']:.4f}"
    if "entity" in metrics:
        e = metrics["entity"]
        line += f"; entities P {e['precision']:.4f} R {e['recall']:.4f} F1 {e['f1']:.4f}"
    return line


def _load_model(path: str, kind: str) -> object:
    from lexforge import model as models

    if kind == "mlm":
        return models.BertForMaskedLM.from_pretrained(path)
    with warnings.catch_warnings():  # vectors are hidden states: no head, no pooler needed
        warnings.filterwarnings("ignore", message=".*ignored .* weights the model has no place")
        warnings.filterwarnings("ignore", message=".*no weights for pooler.*")
        return models.BertModel.from_pretrained(path)


def _embed(args: argparse.Namespace) -> int:
    import numpy as np

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
        if path.is_dir():
            raise ConfigError(f"-o {args.output}: {path} is a directory; name another file")
        for f in args.files:  # read whole before the write, but lost all the same
            if f != "-" and path.exists() and Path(f).exists() and path.samefile(f):
                raise ConfigError(f"-o {args.output} would replace the input {f}; write elsewhere")
    if not output.parent.is_dir():  # before the model runs, not at the write
        raise ConfigError(f"-o {output}: the folder {output.parent} does not exist; create it")
    if args.words and (args.pooling is not None or args.normalize):
        raise ConfigError(
            "--pooling and --normalize shape text vectors; with --words use --pooling-words"
        )
    if not args.words and args.pooling_words is not None:
        raise ConfigError("--pooling-words is for --words (one vector per word); add --words")
    parquet = output.suffix.lower() == ".parquet"
    pa: Any = None
    pq: Any = None
    if parquet:
        from lexforge._corpus_files import pyarrow

        pa, pq = pyarrow("writing .parquet")  # before the model runs: fail fast
    texts = _lines(args.files, args.text_column)  # a row per line (or record), blank ones too
    model = _load_model(args.model, "encoder")
    if args.words:
        result = model.embed_words(texts, pooling=args.pooling_words or "mean")  # type: ignore[attr-defined]
        if pq is not None:  # one row per word
            rows = [(t, w, word) for t, r in enumerate(result) for w, word in enumerate(r.words)]
            width = int(model.config.hidden_size)  # type: ignore[attr-defined]
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
            _atomic(output, lambda f: np.savez(f, **arrays))
            words = json.dumps([r.words for r in result], ensure_ascii=False).encode("utf-8")
            _atomic(output.with_suffix(".words.json"), lambda f: f.write(words))
    else:
        vectors = model.embed(texts, pooling=args.pooling or "mean", normalize=args.normalize)  # type: ignore[attr-defined]
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


def _atomic(path: Path, write: Any) -> None:
    """Writes ``path`` through ``write(file)`` into a temporary file, then renames it."""
    from .formats import write_failed

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as f:
            write(f)
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise write_failed(path, e) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _bench(args: argparse.Namespace) -> int:
    from lexforge import _bench

    return _bench.run(
        args.kinds, corpus=args.corpus, texts=args.texts, threads=args.threads,
        repeat=args.repeat,
    )  # fmt: skip


def _needs_escape(token: str) -> bool:
    """Whether a token holds a control character (a tab, a line end) or a backslash: then
    it is printed escaped as in JSON, so a line keeps its three columns."""
    return any(c < " " or c == "\\" for c in token)


def _fill_mask(args: argparse.Namespace) -> int:
    model = _load_model(args.model, "mlm")
    for position, candidates in enumerate(model.fill_mask(args.text, top_k=args.top_k)):  # type: ignore[attr-defined]
        for token, p in candidates:
            # a token that holds a tab or line end (BPE has them) would break the columns
            shown = json.dumps(token, ensure_ascii=False)[1:-1] if _needs_escape(token) else token
            print(f"[MASK]{position}\t{shown}\t{p:.4f}")
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
        check_int(name, getattr(args, name), least=0 if name == "min_count" else 1)
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
    # a probe is one word as the spaces cut them, or it could never be found
    for word, parts in zip(args.words, _tokenizer_words(tok, args.words), strict=True):
        if len(parts) != 1:
            shown = f"the words {', '.join(map(repr, parts))}" if parts else "no word"
            raise ConfigError(
                f"{word!r} is {shown} to this model's tokenizer; similar compares single words"
            )
    spaces = [
        contextual_space(model, texts, min_count=args.min_count, max_words=args.max_words),
        cooccurrence_space(
            texts, tokenizer=tok, min_count=args.min_count, max_words=args.max_words
        ),
    ]
    rows = compare(spaces, args.words, k=args.k)
    missing = [w for w in args.words if w.lower() not in {r["word"].lower() for r in rows}]
    for row in rows:
        print(f"{row['word']}")
        for kind, found in row["neighbours"].items():
            print(f"  {kind:>13}: " + ", ".join(f"{w} {score:.2f}" for w, score in found))
    if missing:
        print(f"not frequent enough in these {len(texts)} texts: {', '.join(missing)} "
              "(lower --min-count, or raise --max-texts or --max-words)")  # fmt: skip
    return 0


def _decode(name: str, data: bytes) -> str:
    """UTF-8 ``data`` as text, a byte-order mark dropped (it marks the encoding, it is not
    text: the file readers drop it too); a ``CorpusError`` naming the line of a bad byte."""
    from lexforge.errors import CorpusError

    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise CorpusError(
            f"{name}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x}); re-save the file as UTF-8"
        ) from None


def _lines(files: list[str], text_column: str | None = None) -> list[str]:
    """The lines of ``files`` (stdin when there are none, and for ``-``), cut at line ends
    only (not at U+2028 and kin); of a records file (JSON Lines, JSON, csv, tsv, Parquet)
    one text per record."""
    from lexforge._corpus_files import check_text_column, corpus_format, record_texts
    from lexforge.train._files import lines, read_text

    check_text_column(text_column, [Path(f) for f in files or ["<stdin>"]])
    texts: list[str] = []
    for f in files or ["-"]:
        path = Path(f)
        if f == "-":  # stdin, as Unix tools read it
            text = _decode("<stdin>", sys.stdin.buffer.read())
            texts += [line for _, line in lines(text.replace("\r\n", "\n").replace("\r", "\n"))]
        elif path.is_dir():
            raise ConfigError(f"{f} is a directory; pass text files (one text a line)")
        elif not path.exists():
            raise ConfigError(f"no such file: {f}; check the path")
        elif corpus_format(path) is None:
            texts += [line for _, line in lines(read_text(path))]
        else:
            texts += record_texts(path, text_column)
    return texts


_TEXT_COLUMN = (
    "the text column of records files (JSON Lines, JSON, csv, tsv, Parquet; default: text, "
    "else their only text column)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lexforge", description="Build BERT-style language models from scratch."
    )
    parser.add_argument("--version", action="version", version=f"lexforge {lexforge.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    q = sub.add_parser(
        "quickstart",
        help="the main job: tokenizer, pretraining, fine-tuning and a report, in a time budget",
    )
    q.add_argument("--minutes", type=float, default=15.0, help="the time budget (default 15)")
    q.add_argument(
        "--preset",
        default=None,
        help="model size (default tiny; a wider one pretrains at a rate scaled to its width)",
    )
    q.add_argument("--device", default=None, help="cpu or cuda (default: cuda if any)")
    q.add_argument("--out", default="lexforge-quickstart", help="output directory")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=_quickstart)

    t = sub.add_parser(
        "train-tokenizer",
        help="train a byte-level BPE or a WordPiece (BERT) tokenizer on text files",
    )
    t.add_argument(
        "files", nargs="+",
        help="UTF-8 text files, dataset names, or JSON Lines/JSON/csv/tsv/Parquet files",
    )  # fmt: skip
    t.add_argument("--text-column", default=None, help=_TEXT_COLUMN)
    t.add_argument("--vocab-size", type=int, required=True)
    t.add_argument(
        "--model", choices=["bpe", "wordpiece"], default="bpe",
        help="byte-level BPE (GPT-2 style, the default) or WordPiece (BERT's normalizer and "
        "pre-tokenizer: what lexforge pretrain wants)",
    )  # fmt: skip
    t.add_argument(
        "--special", action="append", default=None,
        help="a special token (repeatable; WordPiece default: [PAD] [UNK] [CLS] [SEP] [MASK])",
    )  # fmt: skip
    t.add_argument("--pattern", default=None, help="BPE: gpt2 (default), cl100k, o200k or a regex")
    t.add_argument(
        "--cased", action="store_true", help="WordPiece: keep case and accents (default: lower)"
    )
    t.add_argument(
        "--limit-alphabet", type=int, default=None,
        help="WordPiece: keep the N most frequent characters; others become [UNK]",
    )  # fmt: skip
    t.add_argument("--min-frequency", type=int, default=0)
    t.add_argument("--max-token-length", type=int, default=None)
    t.add_argument("--threads", type=int, default=None)
    t.add_argument(
        "-o", "--output", default=None,
        help="where to write (default by format: tokenizer.json, the current folder for "
        "gpt2's two files, tokenizer.tiktoken, vocab.txt)",
    )  # fmt: skip
    t.add_argument(
        "--format", choices=["hf", "gpt2", "tiktoken", "vocab"], default=None,
        help="hf (tokenizer.json, the default); BPE: gpt2 (vocab.json + merges.txt) or "
        "tiktoken; WordPiece: vocab (vocab.txt)",
    )  # fmt: skip
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_train_tokenizer)

    k = sub.add_parser("tokenize", help="encode text files (or stdin) with a tokenizer")
    k.add_argument(
        "--text-column", default=None, help=_TEXT_COLUMN + "; each record gives one line of ids"
    )
    k.add_argument(
        "--tokenizer", required=True, help="tokenizer.json, vocab.json or a tiktoken file"
    )
    k.add_argument("files", nargs="*")
    k.add_argument(
        "--pattern",
        default=None,
        help="a tiktoken rank file's pattern (gpt2, cl100k, o200k or a regex): the file does "
        "not record it",
    )
    k.add_argument("--count", action="store_true", help="print token statistics instead of ids")
    k.add_argument(
        "--no-special-tokens",
        action="store_true",
        help="leave out the [CLS]/[SEP] each line gets by default (WordPiece, framed BPE)",
    )
    k.add_argument("--threads", type=int, default=None)
    k.set_defaults(func=_tokenize)

    p = sub.add_parser(
        "pretrain", help="pretrain a BERT (MLM + NSP/SOP) on shards or text; torchrun works"
    )
    p.add_argument(
        "data",
        help="a shard directory (lexforge.build_shards), or text to shard (a file, a folder, "
        "a dataset name, or JSON Lines/JSON/csv/tsv/Parquet records)",
    )
    p.add_argument("out", help="output directory: checkpoints, log.jsonl, curves.png, model/")
    p.add_argument("--tokenizer", help="tokenizer file, when DATA is text")
    p.add_argument("--text-column", default=None, help=_TEXT_COLUMN)
    p.add_argument(
        "--eval", help="held-out shards, or held-out text (cut with the training tokenizer)"
    )
    p.add_argument("--preset", default="mini", help="tiny, mini, small, medium, base or large")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32, help="rows per micro-batch per process")
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--max-seq-len", type=int, default=128)
    p.add_argument("--objective", choices=["nsp", "sop", "none"], default="nsp")
    p.add_argument(
        "--mlm-probability", type=float, default=0.15, help="the share of tokens to predict"
    )
    p.add_argument(
        "--masking", choices=["bernoulli", "exact", "span"], default="bernoulli",
        help="tokens picked independently (BERT), exactly the share per row, or in spans "
        "(SpanBERT)",
    )  # fmt: skip
    p.add_argument("--whole-word", action="store_true", help="mask all pieces of a word or none")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup", type=float, default=0.06, help="steps, or a fraction below 1")
    p.add_argument("--schedule", choices=["linear", "cosine"], default="linear")
    p.add_argument(
        "--embedding-init", choices=["random", "spectral"], default="random",
        help="spectral: start the word embeddings from PPMI + SVD vectors of the corpus "
        "(seconds on a CPU; helps short runs)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--save-every", type=int, default=500,
        help="steps between checkpoints (0: none but the last; the last step always saves one)",
    )  # fmt: skip
    p.add_argument(
        "--eval-every", type=int, default=0,
        help="evaluate --eval every N steps too (it is always evaluated at the last step)",
    )  # fmt: skip
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument(
        "--cuda-graphs", action="store_true",
        help="compile the step for CUDA-graph replay (static shapes: rows padded to "
        "--max-seq-len); for GPUs whose step is bound by the host",
    )  # fmt: skip
    p.add_argument(
        "--fsdp", action="store_true",
        help="under torchrun: shard parameters, gradients and optimizer state (FSDP) "
        "instead of replicating the model (DDP)",
    )  # fmt: skip
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if any)")
    p.add_argument(
        "--resume", action="store_true",
        help="continue from the latest checkpoint (with none: start at step 0 in its place)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_pretrain)

    f = sub.add_parser("finetune", help="fine-tune an encoder to classify texts or tag words")
    f.add_argument(
        "model",
        help="an HF-format checkpoint directory (saved by lexforge or "
        "transformers), or all-MiniLM-L6-v2",
    )
    f.add_argument(
        "data",
        help="a dataset name (rt-polarity, twitter-ner) or a csv/tsv/jsonl/json/Parquet/CoNLL file",
    )
    f.add_argument(
        "--task", choices=["classify", "tag", "qa"], default=None,
        help="classify texts, or tag words (default: tag for a tagged dataset such as "
        "twitter-ner; for tagging, --text-column/--label-column name jsonl's tokens and tags)",
    )  # fmt: skip
    f.add_argument("--validation", help="validation file (a dataset's own split by default)")
    f.add_argument("--test", help="test file (a dataset's own split by default)")
    f.add_argument("--out", default="lexforge-finetune", help="output directory")
    f.add_argument(
        "--text-column", default=None,
        help="the text's column (default: text; tokens for --task tag, question for qa)",
    )  # fmt: skip
    f.add_argument(
        "--pair-column", default=None,
        help="a second text's column, for sentence pairs (the context for --task qa)",
    )  # fmt: skip
    f.add_argument(
        "--label-column", default=None,
        help="the label's column (default: label; tags for --task tag, answers for qa)",
    )  # fmt: skip
    f.add_argument(
        "--problem-type", default=None,
        choices=["single_label_classification", "multi_label_classification", "regression"],
        help="for texts: one class (default), several classes per text (labels given as "
        "lists, or strings cut at --label-separator), or a number (labels that are numbers "
        "with fractions, scores, need this option)",
    )  # fmt: skip
    f.add_argument("--label-separator", default=None, help="e.g. '|' for labels 'a|b'")
    f.add_argument(
        "--new-head", action="store_true",
        help="MODEL is fine-tuned for another task or other labels: keep its encoder, start "
        "a fresh head",
    )  # fmt: skip
    f.add_argument("--epochs", type=int, default=3)
    f.add_argument("--batch-size", type=int, default=32)
    f.add_argument("--lr", type=float, default=5e-5)
    f.add_argument("--warmup", type=float, default=0.1,
                   help="warm-up: a fraction of the steps (< 1) or a step count")  # fmt: skip
    f.add_argument("--weight-decay", type=float, default=0.01)
    f.add_argument("--layer-decay", type=float, default=1.0, help="layer-wise lr decay (<1)")
    f.add_argument(
        "--max-length", type=int, default=None,
        help="tokens per input (default 128; 384 with --task qa, its windows)",
    )  # fmt: skip
    f.add_argument(
        "--stride", type=int, default=None,
        help="--task qa: tokens that neighbouring windows share (default half a window, at "
        "most 128); an answer longer than it may fall across every window's edge",
    )  # fmt: skip
    f.add_argument(
        "--patience", type=int, default=None,
        help="stop after this many epochs in a row without a better validation score",
    )  # fmt: skip
    f.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    f.add_argument(
        "--time-limit", type=float, default=None,
        help="seconds of training (all runs together): the step count, and the learning-rate "
        "schedule with it, is cut to fit",
    )  # fmt: skip
    f.add_argument("--seed", type=int, default=0)
    f.add_argument(
        "--runs", type=int, default=1,
        help="fine-tune this many times (seeds seed, seed+1, ...) and average the weights of "
        "the runs that help on validation (a greedy model soup)",
    )  # fmt: skip
    f.add_argument("--device", default=None)
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=_finetune)

    e = sub.add_parser("embed", help="sentence or word vectors of texts (one per line)")
    e.add_argument(
        "model", help="an HF-format checkpoint directory with its tokenizer, or all-MiniLM-L6-v2"
    )
    e.add_argument(
        "files", nargs="*",
        help="text files, one text per line (stdin: - or none), or JSON Lines/JSON/csv/tsv/"
        "Parquet files, one text per record",
    )  # fmt: skip
    e.add_argument("--text-column", default=None, help=_TEXT_COLUMN)
    e.add_argument(
        "-o", "--output", default="embeddings.npy",
        help="a .npy (an .npz with --words), or a .parquet table (needs pyarrow): columns "
        "text and embedding, or with --words one row per word: text_index, word_index, "
        "word, embedding",
    )  # fmt: skip
    e.add_argument(
        "--pooling", choices=["mean", "cls"], default=None,
        help="a text's vector: the mean of its tokens' (default) or [CLS]'s",
    )  # fmt: skip
    e.add_argument("--normalize", action="store_true", help="text vectors of length 1")
    e.add_argument("--words", action="store_true", help="one vector per word")
    e.add_argument(
        "--pooling-words", choices=["mean", "first"], default=None,
        help="with --words, a word's vector: the mean of its pieces' (default) or the first's",
    )  # fmt: skip
    e.set_defaults(func=_embed)

    m = sub.add_parser(
        "fill-mask",
        help="the likeliest tokens for each [MASK] in a text",
        description="Prints one line per candidate: [MASK]<i>, the token, its probability, "
        "tab-separated; a token holding a tab, line end or backslash is written escaped "
        "as in JSON (byte-level BPE vocabularies have such tokens).",
    )  # fmt: skip
    m.add_argument(
        "model", help="an HF-format checkpoint directory with its tokenizer, or all-MiniLM-L6-v2"
    )
    m.add_argument("text")
    m.add_argument("--top-k", type=int, default=5)
    m.set_defaults(func=_fill_mask)

    w = sub.add_parser(
        "similar",
        help="nearest words by contextual vectors (averaged over a corpus) and by static "
        "co-occurrence vectors of the same corpus",
    )  # fmt: skip
    w.add_argument(
        "model", help="an HF-format checkpoint directory with its tokenizer, or all-MiniLM-L6-v2"
    )
    w.add_argument("words", nargs="+")
    w.add_argument("--corpus", default=None, help="a dataset name (default wiki-leads)")
    w.add_argument(
        "--files", nargs="+",
        help="text files instead (one text a line), or records files (one text a record)",
    )  # fmt: skip
    w.add_argument("--text-column", default=None, help=_TEXT_COLUMN)
    w.add_argument("--max-texts", type=int, default=3000)
    w.add_argument("--min-count", type=int, default=5)
    w.add_argument("--max-words", type=int, default=3000)
    w.add_argument("-k", type=int, default=8)
    w.set_defaults(func=_similar)

    b = sub.add_parser(
        "bench",
        help="a quick throughput check against the anchors (HF tokenizers, tiktoken, HF's "
        "MLM collator), same process, same texts, outputs compared first",
    )  # fmt: skip
    b.add_argument("kinds", nargs="*", help="wordpiece, bpe, mask (default: all)")
    b.add_argument("--corpus", default="wiki-leads", help="a dataset name (default wiki-leads)")
    b.add_argument("--texts", type=int, default=2000, help="how many texts (default 2000)")
    b.add_argument("--threads", type=int, default=1, help="threads for both sides (default 1)")
    b.add_argument("--repeat", type=int, default=3, help="timed calls, best kept (default 3)")
    b.set_defaults(func=_bench)

    from lexforge.datasets._cli import add_parser

    add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    shown = warnings.formatwarning
    warnings.formatwarning = _one_line  # a warning is a line, not a line of our source
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
        print(f"lexforge: error: {e}", file=sys.stderr)
        return 1
    except ImportError as e:  # an optional dependency a command reached for
        if (missing := missing_module(e)) is None:
            raise
        print(f"lexforge: error: {missing}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lexforge: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = shown
    return code


# the commands that run a model (lexforge[train]); checked before any work starts
_TRAIN_COMMANDS = (_quickstart, _pretrain, _finetune, _embed, _fill_mask, _similar)


def _one_line(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: Any = None
) -> str:
    return f"lexforge: warning: {message}\n"


if __name__ == "__main__":
    sys.exit(main())
