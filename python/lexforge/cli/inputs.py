r"""The texts a subcommand reads from files or stdin (``-``): a UTF-8 byte-order mark
dropped (a UTF-16 or UTF-32 one refused, naming the conversion), one text per record of a
records file (JSON Lines, JSON, csv, tsv, Parquet).

``_tokenize_blocks`` streams them a block at a time (``lexforge tokenize``, whatever the
input's size), lines cut at "\n" only and kept whole, line end included (the rows' ids
decode to the input's text); ``_lines`` reads them whole (``embed``, ``predict``,
``similar``), lines cut as the corpus readers cut them ("\n", "\r\n" or a lone "\r").
What is done with the texts is the handlers'.
"""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lexforge.errors import ConfigError, CorpusError

_BLOCK_BYTES = 8 << 20  # text per encode_batch call of `lexforge tokenize`, at most,
_BLOCK_LINES = 1 << 16  # and lines (a file of empty lines: millions of strings and rows)


def _tokenize_blocks(
    files: list[str] | None, text_column: str | None
) -> Iterator[tuple[list[str], int]]:
    r"""(lines, their size in bytes) of ``files`` (stdin when there are none, and for
    ``-``), about 8 MB or 65,536 lines at a time: lines end at "\n" only, kept as part of
    the line; a file's byte-order mark is dropped; records files give one text per record.
    Every file is checked before the first is read."""
    import gzip
    import zlib

    from lexforge._corpus_files import check_text_column
    from lexforge._corpus_records import corpus_format, record_texts
    from lexforge._hf_datasets import row_texts
    from lexforge.errors import CorpusError

    check_text_column(text_column, [Path(f) for f in files or ["<stdin>"]], "--text-column")
    for name in files or []:
        _check_input(name)
    for given in files or ["-"]:
        f = None if given == "-" else given  # (None: stdin)
        # a Hugging Face dataset's folder: a text per row, as lexforge embed reads it
        rows = None if f is None else row_texts(f, text_column)
        kind = None if f is None else corpus_format(Path(f))
        if rows is not None or (f is not None and kind not in (None, "gzip")):
            block: list[str] = []
            size = 0
            texts = record_texts(Path(f or "-"), text_column) if rows is None else rows
            for text in texts:
                block.append(text)
                size += len(text.encode("utf-8"))
                if size >= _BLOCK_BYTES or len(block) >= _BLOCK_LINES:
                    yield block, size
                    block, size = [], 0
            if block:
                yield block, size
            continue
        name = "<stdin>" if f is None else f
        with contextlib.ExitStack() as stack:
            if f is None:
                stream: Any = standard_stream("stdin").buffer
            elif kind == "gzip":
                stream = stack.enter_context(gzip.open(f, "rb"))
            else:
                stream = stack.enter_context(Path(f).open("rb"))
            raws: list[bytes] = []
            pending = lines_before = 0
            try:
                for raw in stream:
                    if not lines_before and not raws:
                        _refuse_wide(name, raw)
                        raw = raw.removeprefix(b"\xef\xbb\xbf")
                    raws.append(raw)
                    pending += len(raw)
                    if pending >= _BLOCK_BYTES or len(raws) >= _BLOCK_LINES:
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


# byte-order marks of the encodings a text editor may save in (UTF-32's before UTF-16's:
# UTF-32LE's starts with UTF-16LE's)
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"),
)  # fmt: skip


def _refuse_wide(name: str, head: bytes) -> None:
    """A ``CorpusError`` naming the conversion when ``head`` (a file's first bytes) opens
    with a UTF-16 or UTF-32 byte-order mark: the text is not UTF-8, whatever it holds."""
    from lexforge.errors import CorpusError

    for bom, encoding in _WIDE_BOMS:
        if head.startswith(bom):
            convert = f"iconv -f {encoding} -t UTF-8"
            if name == "<stdin>":
                fix = f"pipe it through {convert}"
            else:
                path = Path(name)
                fix = f"{convert} {name} > {path.with_name(f'{path.stem}-utf8{path.suffix}')}"
            what = "input" if name == "<stdin>" else "file"
            raise CorpusError(f"{name}: this {what} is {encoding}; convert it to UTF-8 ({fix})")


def _check_input(f: str) -> None:
    """A ``ConfigError`` for an input file that is a directory or is not there (``-`` is
    stdin)."""
    from lexforge._hf_datasets import is_disk_folder

    if f == "-" or is_disk_folder(f):  # (a Hugging Face dataset's folder: its text column)
        return
    path = Path(f)
    if path.is_dir():
        raise ConfigError(f"{f} is a directory; pass text files (one text a line)")
    if not path.exists():
        raise ConfigError(f"no such file: {f}; check the path")


def _decode(name: str, data: bytes) -> str:
    """UTF-8 ``data`` as text, a byte-order mark dropped (it marks the encoding, it is not
    text: the file readers drop it too); a ``CorpusError`` naming the line of a bad byte."""
    from lexforge.errors import CorpusError

    _refuse_wide(name, data)
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise CorpusError(
            f"{name}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x}); re-save the file as UTF-8"
        ) from None


@contextlib.contextmanager
def _column_named(flag: str) -> Iterator[None]:
    """A column's error, its fix named by ``flag`` (``--pair-column``) where the column is
    not the text's: the readers' messages name text_column (--text-column)."""
    try:
        yield
    except (CorpusError, ConfigError) as e:
        said = str(e)
        if flag == "--text-column" or "text_column" not in said:
            raise
        fixed = said.replace("name the text column with text_column= (--text-column)",
                             f"name the column with {flag}")  # fmt: skip
        fixed = fixed.replace("text_column= (--text-column)", flag)
        raise type(e)(fixed) from None


def _lines(
    files: list[str],
    text_column: str | None = None,
    where: list[str] | None = None,
    flag: str = "--text-column",
) -> list[str]:
    """The lines of ``files`` (stdin when there are none, and for ``-``), cut at line ends
    ("\n", "\r\n", a lone "\r"; not at U+2028 and kin); of a records file (JSON Lines,
    JSON, csv, tsv, Parquet) one text per record. ``where``, when given, gets each text's
    place ("file:line", "file, record n"), for messages about one of them; ``flag`` names
    ``text_column``'s option in them."""
    from lexforge._corpus_files import check_text_column
    from lexforge._corpus_records import corpus_format, record_texts
    from lexforge._hf_datasets import column_texts
    from lexforge.train._files import lines, read_text

    check_text_column(text_column, [Path(f) for f in files or ["<stdin>"]], flag)
    for f in files or []:
        _check_input(f)
        if f != "-" and Path(f).is_file():  # (a UTF-16 file is named as such, as on stdin)
            with Path(f).open("rb") as head:
                _refuse_wide(f, head.read(4))
    texts: list[str] = []
    for f in files or ["-"]:
        path = Path(f)
        before = len(texts)
        numbered = True  # (lines: "file:n"; records and rows: "file, record n")
        if f == "-":  # stdin, as Unix tools read it
            text = _decode("<stdin>", standard_stream("stdin").buffer.read())
            texts += [line for _, line in lines(text.replace("\r\n", "\n").replace("\r", "\n"))]
        else:
            with _column_named(flag):
                if (rows := column_texts(f, text_column)) is not None:
                    texts += rows  # a Hugging Face dataset's folder: a text per row
                    numbered = False
                elif corpus_format(path) is None:
                    texts += [line for _, line in lines(read_text(path))]
                else:
                    texts += record_texts(path, text_column)
                    numbered = corpus_format(path) == "gzip"  # (its lines)
        if where is not None:
            name = "<stdin>" if f == "-" else f
            where += [f"{name}:{i}" if numbered else f"{name}, record {i}"
                      for i in range(1, len(texts) - before + 1)]  # fmt: skip
    return texts


def standard_stream(name: str) -> Any:
    """``sys.stdin`` or ``sys.stdout`` (``name``), or an ``OSError`` naming the fix where
    the process was started without it (``<&-``, ``>&-``, a service): Python sets it to
    None, and reading or writing it was an ``AttributeError`` from deep inside."""
    stream = getattr(sys, name)
    if stream is None:
        said = "name a file to read" if name == "stdin" else "redirect it to a file"
        raise OSError(errno.EBADF, f"standard {name[3:]}put is closed: {said}")
    return stream


def write_out(text: str) -> None:
    """Writes all of ``text`` to standard output, or raises: unbuffered (``python -u``,
    ``PYTHONUNBUFFERED``), a full disk took part of a write and dropped the rest without
    a word, and the command ended as if it had written everything."""
    stdout = standard_stream("stdout")
    buffer = getattr(stdout, "buffer", None)
    if buffer is None:  # (a stream of text alone: written through its own checks)
        stdout.write(text)
        return
    stdout.flush()  # what went through the text layer first
    view = memoryview(text.encode(stdout.encoding or "utf-8", stdout.errors or "strict"))
    try:
        while view:
            written = buffer.write(view)
            if not written:
                raise OSError(errno.EAGAIN, "standard output took none of the output")
            view = view[written:]
        buffer.flush()
    except BrokenPipeError:
        raise
    except OSError as e:  # (a full disk behind a redirection: said to be standard output's)
        if e.errno == errno.EAGAIN:
            raise
        full = e.errno in (errno.ENOSPC, errno.EDQUOT)
        said = "the disk is full; free space there" if full else e.strerror or str(e)
        raise OSError(
            e.errno, f"could not write standard output: {said}, or redirect it elsewhere"
        ) from None
