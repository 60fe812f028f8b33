"""Records files read one text at a time: JSON Lines (a record may be a bare string),
JSON (a list of records), csv, tsv and Parquet, each possibly gzip-compressed, and plain
or gzip-compressed text by line. :func:`corpus_format` names a file's format from its name.

The text column: ``text_column`` when given; else a column named ``text``; else the only
column whose first value is a string (checked in every record). Values that are not
strings, lone surrogates and undecodable bytes are a :class:`~lexforge.errors.CorpusError`
naming the file and the record. The cached corpus files built from these texts live in
:mod:`lexforge._corpus_files`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import json
import re
import warnings
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import ConfigError, CorpusError

# white space as the Rust core trims it (Unicode's White_Space, Rust's char::is_whitespace):
# Python's str.strip also takes the separators \x1c-\x1f, which the core reads as text
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

_STRUCTURED = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
    ".tab": "tsv", ".parquet": "parquet",
}  # fmt: skip


def corpus_format(path: Path) -> str | None:
    """``"jsonl"``, ``"json"``, ``"csv"``, ``"tsv"``, ``"parquet"``, ``"gzip"`` (plain text,
    compressed) or None (plain text: read as it is), from the file's name."""
    name = path.name.lower()
    packed = name.endswith(".gz")
    kind = _STRUCTURED.get(Path(name[:-3] if packed else name).suffix)
    if kind == "parquet" and packed:
        return None  # Parquet compresses inside; a .parquet.gz is not something to guess at
    return kind or ("gzip" if packed else None)


def record_texts(path: Path, text_column: str | None = None) -> Iterator[str]:
    """One text per record of a records file, in order, "" for an empty or null text (rows
    stay aligned with the records); for plain or gzip-compressed text, one per line."""
    kind = corpus_format(path)
    if kind in (None, "gzip"):
        yield from (line for _, line in _lines(path))
    elif kind == "parquet":
        yield from _parquet(path, text_column, keep_empty=True)
    else:
        picker = _Picker(path, text_column)
        for where, record in _records(path, kind):
            yield _encodable(path, where, picker(where, record) or "")


def texts(path: Path, kind: str, column: str | None) -> Iterator[str]:
    """The non-empty texts of a file of format ``kind`` (see :func:`corpus_format`), in order."""
    if kind == "gzip":
        yield from _gunzipped_lines(path)
    elif kind == "parquet":
        yield from _parquet(path, column)
    else:
        picker = _Picker(path, column)
        for where, record in _records(path, kind):
            text = picker(where, record)
            if text:
                yield _encodable(path, where, text)


def _encodable(path: Path, where: str, text: str) -> str:
    """``text``, refused when it cannot be written as UTF-8 (a JSON escape of a lone
    surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise CorpusError(
            f"{path}: {where}: the text holds a lone surrogate {text[e.start]!r} "
            "(an escape that is half of a UTF-16 pair); fix or drop that escape"
        ) from None
    return text


class _Picker:
    """The text of a record: its text column, chosen at the first record. A column chosen
    as the only one holding text is checked in every record: a record where another
    column holds text makes the choice ambiguous."""

    def __init__(self, path: Path, column: str | None) -> None:
        self.path, self.column = path, column
        self.guessed = False

    def __call__(self, where: str, record: Any) -> str | None:
        if (record is None or isinstance(record, str)) and self.column is None:
            return record  # JSON Lines of bare strings (null: no text)
        if not isinstance(record, dict):
            raise CorpusError(
                f"{self.path}: {where} is a JSON {type(record).__name__}, not a record "
                "(an object with a text field) or a string"
            )
        if self.column is None:
            self.column = _choose(self.path, record, where)
            self.guessed = self.column != "text"
        if self.guessed:
            other = next(
                (k for k, v in record.items() if k != self.column and isinstance(v, str)), None
            )
            if other is not None:
                raise CorpusError(
                    f"{self.path}: which column is the text? The first record has text only "
                    f"in {self.column!r}, but {where} has text in {other!r} too; name the "
                    "text column with text_column= (--text-column)"
                )
        if self.column not in record:
            _one_column(self.path, record)
            raise CorpusError(
                f"{self.path}: {where} has no column {self.column!r} (it has "
                f"{_names(record)}); name the text column with text_column= (--text-column)"
            )
        value = record[self.column]
        if value is None or isinstance(value, str):
            return value
        raise CorpusError(
            f"{self.path}: {where}: column {self.column!r} holds a {type(value).__name__} "
            f"({str(value)[:40]!r}), not text; name the text column with text_column= "
            "(--text-column)"
        )


def _choose(path: Path, record: dict[str, Any], where: str) -> str:
    if "text" in record:
        return "text"
    strings = [k for k, v in record.items() if isinstance(v, str)]
    empty = [k for k, v in record.items() if v is None]  # text columns, for all we know
    if len(strings) == 1 and not empty:
        _one_column(path, record)
        return strings[0]
    raise CorpusError(
        f"{path}: which column is the text? {where} has {_names(record)}, none named "
        "'text'; name it with text_column= (--text-column)"
    )


def _one_column(path: Path, record: dict[str, Any]) -> None:
    """``CorpusError`` for a csv whose header is one column cut at another separator
    (``text;label``, or ``text<TAB>label`` in a .csv): the whole line would be the text,
    its labels with it."""
    kind = corpus_format(Path(path.name[:-3]) if path.name.lower().endswith(".gz") else path)
    if kind not in ("csv", "tsv") or len(record) != 1:
        return
    header = str(next(iter(record)))
    if ";" in header:
        sep, named = ("a tab", "tab") if kind == "tsv" else ("','", "comma")
        raise CorpusError(
            f"{path}: the header {header!r} is one column: the file is cut at ';', not "
            f"{sep}; save it {named}-separated (each line would be read whole as text, its "
            "other fields with it), or name that column with text_column= (--text-column)"
        )
    if kind == "csv" and "\t" in header:
        raise CorpusError(
            f"{path}: the header {header!r} is one column: the file is tab-separated; name "
            "it .tsv (or save it comma-separated; each line would be read whole as text, "
            "its other fields with it)"
        )


def _names(record: dict[str, Any]) -> str:
    return ", ".join(repr(k) for k in list(record)[:12]) or "no columns"


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    r"""(line number, line) with line ends (``\n``, ``\r\n``, ``\r``) dropped; a file's
    byte-order mark is dropped; errors name the line."""
    number = 0
    with _open_binary(path) as f:
        try:
            for number, raw in enumerate(f, start=1):
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                if "\r" not in text:  # the common case, fast
                    yield number, text[:-1] if text.endswith("\n") else text
                    continue
                parts = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
                if parts[-1] == "":
                    parts.pop()
                for part in parts:  # a lone \r ends a line too
                    yield number, part
        except UnicodeDecodeError as e:
            raise CorpusError(
                f"{path}: line {number} is not UTF-8 text "
                f"(byte 0x{e.object[e.start]:02x}); re-save the file as UTF-8"
            ) from None
        except (OSError, EOFError, zlib.error) as e:
            raise CorpusError(f"{path}: cannot be read ({e})") from None


def _open_binary(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path)  # type: ignore[return-value]
    return path.open("rb")


def _gunzipped_lines(path: Path) -> Iterator[str]:
    """A compressed plain-text corpus: blank lines still separate documents."""
    document: list[str] = []
    for _, line in _lines(path):
        if line.strip(WHITE_SPACE):
            document.append(line)
        elif document:
            yield "\n".join(document)
            document = []
    if document:
        yield "\n".join(document)


def _records(path: Path, kind: str) -> Iterator[tuple[str, Any]]:
    if kind == "jsonl":
        yield from _json_lines(path, _lines(path))
        return
    if kind == "json":
        text = "\n".join(line for _, line in _lines(path))
        stripped = text.lstrip()
        if not stripped:
            return  # an empty file: no records (as_text says the corpus is empty)
        if stripped.startswith("{") and "\n" in stripped.strip():
            first = stripped.split("\n", 1)[0]
            try:
                json.loads(first)
            except (ValueError, RecursionError):
                pass
            else:  # JSON Lines under a .json name (datasets.Dataset.to_json writes these)
                yield from _records_of_lines(path, text)
                return
        value = _json(path, text, "the file")
        if isinstance(value, dict) and "\n" not in text.strip():
            yield "line 1", value  # JSON Lines of one record
            return
        if not isinstance(value, list):
            raise CorpusError(
                f"{path}: a JSON corpus is a list of records (or JSON Lines); this file "
                f"holds one {type(value).__name__}"
            )
        yield from ((f"record {i}", r) for i, r in enumerate(value, start=1))
        return
    yield from _delimited(path, kind)


def _records_of_lines(path: Path, text: str) -> Iterator[tuple[str, Any]]:
    yield from _json_lines(path, enumerate(text.split("\n"), start=1))


def _json_lines(path: Path, lines: Iterable[tuple[int, str]]) -> Iterator[tuple[str, Any]]:
    """Records of JSON Lines, parsed a thousand lines at a time as one JSON array (one
    parser call, not a thousand); a batch that does not give one value per line is parsed
    line by line, so that an error names its line."""
    batch: list[tuple[int, str]] = []
    for number, line in lines:
        if line.strip():
            batch.append((number, line))
            if len(batch) == 1000:
                yield from _json_batch(path, batch)
                batch = []
    yield from _json_batch(path, batch)


def _json_batch(path: Path, batch: list[tuple[int, str]]) -> Iterator[tuple[str, Any]]:
    try:
        values = json.loads("[" + ",".join(line for _, line in batch) + "]")
    except (ValueError, RecursionError):  # (a ValueError: an integer of thousands of digits)
        values = None
    if values is None or len(values) != len(batch):  # a line with no value or with several
        values = [_json(path, line, f"line {number}") for number, line in batch]
    for (number, _), value in zip(batch, values, strict=True):
        yield f"line {number}", value


def _json(path: Path, text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        at = f"line {e.lineno}, column {e.colno}" if where == "the file" else f"column {e.colno}"
        raise CorpusError(f"{path}: {where} is not JSON ({at}: {e.msg})") from None
    except RecursionError:
        raise CorpusError(
            f"{path}: {where} nests JSON arrays or objects too deeply to read (thousands of "
            "levels); flatten the records"
        ) from None
    except ValueError as e:  # an integer of thousands of digits
        raise CorpusError(
            f"{path}: {where} holds a number too long to read ({e}); write it as a string"
        ) from None


def _delimited(path: Path, kind: str) -> Iterator[tuple[str, Any]]:
    quoted = False
    if kind == "tsv":  # a first pass: does the file quote its fields as csv does?
        # (a file this pass cannot read: the pass below names the problem)
        with (
            contextlib.suppress(UnicodeDecodeError, OSError, EOFError, zlib.error),
            io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", newline="") as f,
        ):
            quoted = tsv_quoted(f, path)
    with io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", newline="") as f:
        try:
            yield from delimited_rows(f, path, kind, CorpusError, quoted=quoted)
        except UnicodeDecodeError:  # the wrapper decodes ahead: find the byte itself
            raise CorpusError(
                f"{path}: not UTF-8 text ({_first_bad_byte(path)}); re-save the file as UTF-8"
            ) from None
        except (OSError, EOFError, zlib.error) as e:
            raise CorpusError(f"{path}: not a readable gzip file ({e})") from None


# a tsv field quoted as csv quotes it: whole, with a quote inside doubled
_QUOTED_FIELD = re.compile(r'"(?:[^"]|"")*""(?:[^"]|"")*"')
_QUOTED_NAME = re.compile(r'"(?:[^"]|"")*"')


def tsv_quoted(source: Iterable[str], path: Path) -> bool:
    """Whether a tsv text (its lines, read with ``newline=""``) quotes fields as csv does,
    as pandas' ``to_csv(sep="\\t")`` and spreadsheets write it: a field wholly in quotes
    with a doubled quote inside (``"The ""best"" film"``), a header with a name in quotes
    (R's ``write.table``, ``csv.writer`` with ``QUOTE_ALL``), or a quoted field holding
    what a plain tsv cannot (a tab, a line end), where csv's reading with tabs gives every
    row as many fields as the header and the plain reading does not. Such fields are no
    plain text (one would not double its quotes, nor could a plain field hold a tab), so
    the file is read with csv's quoting; a plain tsv keeps every quote as it is.

    A plain tsv whose texts open a quote on one line and close it on a later one reads
    both ways with the header's width; with two columns or more it is read plainly (a
    quoted field as pandas writes one would break the plain rows' widths). One column
    cannot tell the two apart: it is read quoted, as pandas would, with a warning that
    names the lines joined."""
    quoting, plain_width, plain_ok = False, 0, True

    def watched() -> Iterator[str]:
        nonlocal quoting, plain_width, plain_ok
        for line in source:
            body = line.rstrip("\r\n")
            if body.strip():  # blank lines are skipped by either reading
                fields = body.split("\t")
                if not plain_width:  # the header: a column's name in quotes is quoting
                    quoting = any(_QUOTED_NAME.fullmatch(f) for f in fields)
                plain_width = plain_width or len(fields)
                plain_ok = plain_ok and len(fields) == plain_width
                if not quoting and '""' in body:
                    quoting = any(_QUOTED_FIELD.fullmatch(f) for f in fields)
            yield line

    lines = watched()
    width, joined, whole = None, None, False
    with contextlib.suppress(csv.Error):
        reader = csv.reader(lines, delimiter="\t", strict=True)
        start = 1
        for fields in reader:
            if quoting:
                return True
            begun, start = start, reader.line_num + 1
            if len(fields) <= 1 and not "".join(fields).strip():
                continue  # a blank line (or a quoted empty field: no width to learn)
            width = width or len(fields)
            if len(fields) != width:
                break
            if joined is None and any("\t" in f or "\n" in f or "\r" in f for f in fields):
                joined = (begun, reader.line_num)
        else:
            whole = True
    for _ in lines:  # the rest: a doubled quote there still decides, and the plain widths
        pass
    if quoting:
        return True
    if not whole or joined is None or (plain_ok and plain_width > 1):
        return False
    if plain_ok:
        first, last = joined
        warnings.warn(
            f"{path}: lines {first}-{last} are read as one text in quotes, as pandas writes "
            "a text that holds a line break (a one-column tsv cannot tell it from plain "
            "lines that open and close a quote); if these are separate texts, write the "
            "file as jsonl (one JSON record a line)",
            stacklevel=2,
        )
    return True


def delimited_rows(
    source: Iterable[str], path: Path, kind: str, error: type[Exception], *, quoted: bool = False
) -> Iterator[tuple[str, dict[str, str]]]:
    """The rows of a csv or tsv text (``source`` read with ``newline=""``) as ``(where,
    {column: field})``, ``where`` naming the line a row starts on. A tsv has no quoting
    unless ``quoted`` (:func:`tsv_quoted`): then it is read as csv with tabs. The header is
    the first line that is not blank; its names are stripped, a name given twice is
    refused, and columns without a name (the empty ones a spreadsheet leaves, pandas'
    index) are not data, though a value in those after the last named column (a row
    shifted by an unquoted comma) is refused. Blank lines are skipped (a quoted field,
    ``""`` or ``"  "``, under a header of one column is a record); a row with another
    number of fields than the header, or malformed quoting, raises ``error`` naming the
    line and the fix."""
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # texts may be long
    raw: list[str] = []  # the lines of the row being read (csv reads no further)

    def lines() -> Iterator[str]:
        for line in source:
            raw.append(line)
            yield line

    if kind != "tsv":
        reader = csv.reader(lines(), strict=True)
    elif quoted:
        reader = csv.reader(lines(), delimiter="\t", strict=True)
    else:
        reader = csv.reader(lines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    header: list[str] | None = None
    start = 1
    try:
        for fields in reader:
            where, start = f"line {start}", reader.line_num + 1
            written = "".join(raw)
            raw.clear()
            # a blank line (whitespace only, as pandas skips it); but a quoted field ("",
            # "   ") under a header of one column is a record whose text is empty or
            # blank, as in pandas: rows stay aligned with the records
            blank = not fields or (len(fields) == 1 and not fields[0].strip())
            if blank and (header is None or len(header) != 1 or '"' not in written):
                continue
            if header is None:
                header = [f.strip() for f in fields]
                twice = sorted({h for h in header if h and header.count(h) > 1})
                if twice:
                    raise error(f"{path}: the header names {twice[0]!r} twice; rename one of them")
                continue
            if len(fields) != len(header):
                if kind == "tsv" and quoted:
                    quote = "; quote a field that holds a tab"
                elif kind == "tsv":
                    quote = (
                        "; a tsv field cannot hold a tab (tsv has no quoting): replace the tab, "
                        "or save the file as .csv with the field quoted"
                    )
                elif len(header) == 1 and ";" in header[0]:  # "text;label": not a comma
                    quote = (
                        ": the header is cut at ';', not ','; save the file comma-separated "
                        "(or tab-separated, as .tsv)"
                    )
                else:
                    quote = "; quote a field that holds a comma"
                raise error(
                    f"{path}: {where} has {len(fields)} fields, the header {len(header)} "
                    f"({', '.join(header)}){quote}"
                )
            # a value in the unnamed columns after the last named one (the empty ones a
            # spreadsheet leaves): a field shifted right by an unquoted comma in a text,
            # its row's last values lost; (an unnamed column first is pandas' index)
            last = max((i for i, h in enumerate(header) if h), default=-1)
            stray = next((i for i in range(last + 1, len(header)) if fields[i].strip()), None)
            if stray is not None:
                cut = "tab" if kind == "tsv" else "comma"
                raise error(
                    f"{path}: {where} has {fields[stray].strip()!r:.40} in column {stray + 1}, "
                    f"which the header leaves unnamed; quote a field that holds a {cut}, or "
                    "name the column in the header"
                )
            yield where, {h: f for h, f in zip(header, fields, strict=True) if h}
    except csv.Error as e:
        if reader.line_num > start:  # the record began lines before: its quote is open
            raise error(
                f"{path}: the record that starts at line {start}: malformed {kind} ({e} at "
                f"line {reader.line_num}); a quote opened there is never closed, or a quote "
                'inside a quoted field is not doubled ("")'
            ) from None
        mixed = (
            " (its fields are quoted as csv quotes them, yet this one is not: quote it, or "
            "unquote every field and double no quote)"
            if quoted
            else ""
        )
        raise error(f"{path}: line {reader.line_num}: malformed {kind} ({e}){mixed}") from None


def _first_bad_byte(path: Path) -> str:
    """Where the first byte that is not UTF-8 sits: "byte 0x.. at line L, column C"."""
    with _open_binary(path) as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]  # (column 1 is the text's first byte)
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                return f"byte 0x{raw[e.start]:02x} at line {number}, column {e.start + 1}"
    return "a byte split across the end of the file"


def pyarrow(what: str) -> tuple[Any, Any]:
    """``pyarrow`` and ``pyarrow.parquet``, or a ConfigError: ``what`` (e.g. "reading
    data.parquet") needs it, and how to install it."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            f"{what} needs pyarrow: pip install 'lexforge[parquet]' (or pyarrow), or use "
            "another format (text, JSON Lines, csv; .npy for vectors)"
        ) from None
    return pa, pq


def _parquet(path: Path, column: str | None, keep_empty: bool = False) -> Iterator[str]:
    pa, pq = pyarrow(f"reading {path}")
    try:
        table = pq.ParquetFile(path)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as e:  # (a column name not UTF-8)
        raise CorpusError(f"{path}: not a readable Parquet file ({e})") from None
    schema = table.schema_arrow
    names = list(schema.names)
    if column is None:
        strings = [f.name for f in schema if _is_text(pa, f.type)]
        column = "text" if "text" in names else (strings[0] if len(strings) == 1 else None)
        if column is None:
            raise CorpusError(
                f"{path}: which column is the text? The file has {', '.join(map(repr, names))}, "
                "none named 'text'; name it with text_column= (--text-column)"
            )
    if column not in names:
        raise CorpusError(
            f"{path} has no column {column!r} (it has {', '.join(map(repr, names))}); name "
            "the text column with text_column= (--text-column)"
        )
    if names.count(column) > 1:
        raise CorpusError(
            f"{path} has {names.count(column)} columns named {column!r}: which one is the "
            "text is unclear; rename them when writing the file"
        )
    kind = schema.field(column).type
    if not _is_text(pa, kind):
        raise CorpusError(
            f"{path}: column {column!r} holds {kind}, not text; name the text column with "
            "text_column= (--text-column)"
        )
    rows = 0
    try:
        for batch in table.iter_batches(batch_size=4096, columns=[column]):
            try:
                texts = batch.column(0).to_pylist()
            except UnicodeDecodeError as e:  # (Arrow reads strings unchecked)
                raise CorpusError(
                    f"{path}: column {column!r} holds a string that is not UTF-8 (byte "
                    f"0x{e.object[e.start]:02x}, in rows {rows + 1} to {rows + len(batch)}); "
                    "write the file from valid text"
                ) from None
            rows += len(texts)
            yield from ((t or "" for t in texts) if keep_empty else (t for t in texts if t))
    except (pa.ArrowException, OSError) as e:
        raise CorpusError(f"{path}: not a readable Parquet file ({e})") from None


def _is_text(pa: Any, kind: Any) -> bool:
    """A string column: plain, large, a view (Arrow >= 16) or dictionary-encoded strings."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    view = getattr(pa.types, "is_string_view", None)
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or (view and view(kind)))
