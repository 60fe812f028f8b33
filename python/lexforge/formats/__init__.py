"""Reading and writing tokenizer files.

- ``tokenizer.json`` (HF ``tokenizers``), byte-level BPE: :mod:`lexforge.formats.hf_json`.
- GPT-2's ``vocab.json``/``encoder.json`` + ``merges.txt``/``vocab.bpe``:
  :mod:`lexforge.formats.gpt2`.
- tiktoken rank files (``<base64 token> <rank>`` per line): :mod:`lexforge.formats.tiktoken`.

Every reader raises :class:`lexforge.TokenizerFormatError` naming the file, the line or key,
and the fix; a missing file raises ``FileNotFoundError``. Writers replace files atomically.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from lexforge._json import loads_json
from lexforge.errors import ConfigError, TokenizerFormatError

__all__ = ["atomic_write", "detect", "parse_json", "read_json", "read_text", "sha256_file"]


# Unicode's White_Space property (Rust's char::is_whitespace, which HF tokenizers uses)
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)


def no_such_file(path: Path) -> FileNotFoundError | None:
    """The error for a ``path`` that names no file (a name too long for the file system or
    holding a NUL byte among them: a text passed as a path), else None."""
    # (os.path.exists: False for a name the file system refuses, where Path.exists raises)
    if os.path.exists(path):  # noqa: PTH110
        return None
    return FileNotFoundError(f"no such file: {shown_name(path)}; check the path")


def shown_name(path: Path | str) -> str:
    """``path`` as an error message shows it: quoted when it holds characters that do not
    print, cut when long (a text passed where a file name goes)."""
    name = str(path)
    shown = name if len(name) <= 200 and name.isprintable() else repr(name)
    return shown if len(shown) <= 200 else shown[:160] + f"... ({len(name):,} characters)"


def read_text(path: Path) -> str:
    """Reads a UTF-8 text file with typed errors."""
    if missing := no_such_file(path):
        raise missing
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; pass the tokenizer file inside it")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise TokenizerFormatError(
            f"{path}:{line}: not UTF-8 text (bad byte at offset {e.start}); tokenizer files "
            "must be UTF-8 — is this the right file?"
        ) from None


def read_json(path: Path) -> Any:
    """Parses a JSON file, reporting truncation and syntax errors with line and column."""
    return parse_json(read_text(path), str(path), "the file ends early (truncated download?)")


def parse_json(text: str, name: str, early: str = "the text ends early") -> Any:
    """Parses JSON ``text`` (called ``name`` in errors), reporting truncation (``early``
    says what ending early means) and syntax errors with line and column."""
    try:
        return loads_json(text)
    except json.JSONDecodeError as e:
        # (a string never closed runs to the end: the text was cut inside it, though the
        # error's position is where the string began)
        cut = e.pos >= len(text.rstrip()) - 1 or e.msg.startswith("Unterminated string")
        hint = f"{early}; fetch it again" if cut else "fix the JSON syntax"
        raise TokenizerFormatError(
            f"{name}:{e.lineno}:{e.colno}: invalid JSON ({e.msg}); {hint}"
        ) from None


def public_mode(fd: int) -> None:
    """Gives a file made by ``tempfile.mkstemp`` (owner-only, 0600) the mode ``open()``
    would have given it: 0666 less the umask."""
    os.fchmod(fd, 0o666 & ~_umask())


def replacing_mode(fd: int, path: Path) -> None:
    """Gives a temporary file about to replace ``path`` the mode ``open(path, "w")`` would
    leave: the file's own when it is there (a rename dropped it: a 0444 file came back
    0644), else :func:`public_mode`'s."""
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISREG(mode):
        os.fchmod(fd, stat.S_IMODE(mode))
    else:
        public_mode(fd)


def through_link(path: Path) -> Path:
    """The file a write to ``path`` lands in: a symbolic link's target (a rename over the
    link replaced it with a file of its own, leaving the target as it was), else ``path``."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def public_file(path: str | os.PathLike[str]) -> None:
    """``public_mode`` for a file by name: safetensors writes 0600 whatever the umask."""
    Path(path).chmod(0o666 & ~_umask())


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _mkstemp(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path`` (``.<name>.<random>.tmp``, owner-only), open."""
    import tempfile  # (here: it and what it imports were a fifth of importing the tokenizer)

    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in blocks."""
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_failed(path: Path, e: OSError, hint: str = "") -> OSError:
    """The error of a write to ``path`` that failed, naming the file and the fix: a full
    disk says so (NumPy's short write names neither: "4000 requested and 499 written")."""
    full = e.errno in (errno.ENOSPC, errno.EDQUOT) or "requested and" in str(e)
    reason = "the disk is full" if full else (e.strerror or str(e))
    if full:
        fix = "free space there, or write elsewhere"
    elif e.errno == errno.EFBIG:  # (past the process's file size limit, or the system's)
        fix = "raise the file size limit (ulimit -f), or write elsewhere"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "write where you may (or change its permissions)"
    elif e.errno in (errno.ENOTDIR, errno.EEXIST) and (blocking := _file_in_the_way(path)):
        reason = f"{blocking} is a file, where a folder would be"
        fix = "move that file away, or write elsewhere"
    else:
        fix = "write elsewhere"
    message = f"could not write {path}: {reason}; {fix}{hint}"
    return OSError(e.errno, message) if e.errno is not None else OSError(message)


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest folder above ``path`` that is a file instead (None if none is)."""
    return next((p for p in path.parents if p.exists() and not p.is_dir()), None)


def make_parent(path: Path) -> None:
    """Creates the folders above ``path``; a failure (a file where a folder would be, no
    permission) is :func:`write_failed`'s error, naming ``path`` and the fix."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_failed(path, e) from None


def make_folder(path: Path) -> None:
    """Creates the folder ``path`` (and those above it), or raises :func:`write_failed`'s
    error naming it and the fix (a read-only file system, a file in the way, no space)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_failed(path, e) from None


def names_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is written as a folder: it ends with a separator ("out/"), which
    ``Path`` would drop."""
    text = os.fsdecode(path)
    return text.endswith("/") or text.endswith(os.sep)


def save_target(path: str | os.PathLike[str], name: str) -> Path:
    """Where a save goes: ``path/name`` when ``path`` is a directory, or is written as one
    ("out/", created), else ``path`` itself. An empty path (an unset shell variable, most
    likely) is refused: ``Path("")`` is the working directory."""
    if not os.fspath(path):
        raise ConfigError(f"the path to save to is empty; name a file or folder ({name})")
    target = Path(path)
    if names_folder(path) and target.exists() and not target.is_dir():
        raise ConfigError(
            f"{os.fsdecode(path)} names a folder, but {target} is a file: drop the trailing "
            "slash to write that file, or name a folder"
        )
    if names_folder(path) and not target.is_dir():
        try:
            target.mkdir(parents=True)
        except OSError as e:
            raise write_failed(target, e) from None
    return target / name if target.is_dir() else target


def atomic_write(path: Path, data: str | bytes) -> None:
    """Writes ``data`` to ``path`` via a temporary file in the same directory and a rename,
    so readers never see a partial file (with the mode ``open()`` would give it; a link is
    written through, as ``open()`` writes it)."""
    make_parent(through_link(path))
    raw = data.encode("utf-8") if isinstance(data, str) else data
    atomic_write_with(path, lambda f: f.write(raw))


def atomic_write_all(files: list[tuple[Path, str]]) -> None:
    """Writes several files that belong together (GPT-2's ``vocab.json`` + ``merges.txt``)
    as :func:`atomic_write` writes one, and all or none: every temporary file is written
    before the first rename, so a failed write (a full disk, a folder in a file's place)
    leaves the earlier set whole, never a new file beside an old one. The renames are one
    after the other: a reader between them sees one new file and one old."""
    staged: list[tuple[Path, Path]] = []
    try:
        for given, data in files:
            path = through_link(given)
            if path.is_dir():  # (its rename would fail after the others' went through)
                raise write_failed(path, IsADirectoryError(errno.EISDIR, "Is a directory"))
            make_parent(path)
            try:
                fd, name = _mkstemp(path)
            except OSError as e:
                raise write_failed(path, e) from None
            staged.append((path, Path(name)))
            try:
                with os.fdopen(fd, "wb") as f:
                    replacing_mode(fd, path)
                    f.write(data.encode("utf-8"))
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                raise write_failed(path, e) from None
        for path, temporary in staged:
            try:
                temporary.replace(path)
            except OSError as e:
                raise write_failed(path, e) from None
    finally:
        for _, temporary in staged:
            with contextlib.suppress(OSError):  # (a failing clean-up must not hide the error)
                temporary.unlink(missing_ok=True)


def atomic_write_with(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Writes ``path`` as :func:`atomic_write` does (in an existing folder), ``write``
    filling the open temporary file (``np.save``, say). A link is written through."""
    path = through_link(path)
    try:  # (a folder that cannot be written: named as the file's, not the temporary's)
        fd, tmp = _mkstemp(path)
    except OSError as e:
        raise write_failed(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            replacing_mode(fd, path)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException as e:
        with contextlib.suppress(OSError):  # (a failing clean-up must not hide the error)
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise write_failed(path, e) from None
        raise


def detect(path: Path) -> tuple[str, Any]:
    """Identifies a tokenizer file: returns ``(kind, parsed_json_or_None)`` with ``kind`` one
    of ``"hf"`` (tokenizer.json), ``"gpt2"`` (vocab.json, merges.txt or their folder),
    ``"bert-vocab"`` (a WordPiece vocab.txt) or ``"tiktoken"`` (anything else: a rank file)."""
    if missing := no_such_file(path):
        raise missing
    if path.is_dir():
        if (path / "tokenizer.json").exists():
            return "hf", None
        if (path / "vocab.json").exists() or (path / "encoder.json").exists():
            return "gpt2", None
        if (path / "vocab.txt").exists():
            return "bert-vocab", None
        raise FileNotFoundError(
            f"{path} holds no tokenizer.json, vocab.json, encoder.json or vocab.txt; pass a "
            "tokenizer file"
        )
    with path.open("rb") as f:
        raw = f.read(64)
    _refuse_binary(path, raw)
    head = raw.lstrip()
    if head.startswith(b"{"):
        doc = read_json(path)
        # a "model" that is no object marks a damaged tokenizer.json, unless it is an id: a
        # GPT-2 vocab.json may hold the token "model"
        model = doc.get("model") if isinstance(doc, dict) else None
        hf = isinstance(doc, dict) and "model" in doc and not _is_id(model)
        return ("hf" if hf else "gpt2"), doc
    if head.startswith(b"#version") or path.suffix == ".bpe":
        return "gpt2", None
    if path.suffix == ".txt":
        # merges files hold "left right" pairs; WordPiece vocabularies one token a line; a
        # tiktoken rank file renamed .txt, "base64 rank" lines (pairs too, by their shape)
        with path.open("rb") as f:
            lines = f.read(1 << 16).split(b"\n")[:200]
        if _tiktoken_lines([line.rstrip(b"\r") for line in lines[:-1] if line.strip()]):
            return "tiktoken", None
        pairs = sum(1 for line in lines if all(line.rstrip(b"\r").split(b" ", 2)[:2]) and
                    line.rstrip(b"\r").count(b" ") == 1)  # fmt: skip
        return ("gpt2" if pairs > len(lines) // 2 else "bert-vocab"), None
    return "tiktoken", None


def _refuse_binary(path: Path, raw: bytes) -> None:
    """Refuses, by name, the binary files met where tokenizer files are (their first bytes
    ``raw``): gzip-compressed ones (open_clip's ``bpe_simple_vocab_16e6.txt.gz``) and
    SentencePiece models (``tokenizer.model``, ``spiece.model``), which would otherwise be
    read as text and refused as "not UTF-8"."""
    if raw.startswith(b"\x1f\x8b"):
        raise TokenizerFormatError(
            f"{path}: a gzip-compressed file; lexforge reads tokenizer files uncompressed: "
            "decompress it (gunzip) if it is a tokenizer.json, vocab.json + merges.txt, "
            "vocab.txt or tiktoken file (open_clip's bpe_simple_vocab_16e6.txt.gz is none of "
            "them: CLIP's BPE is not byte-level)"
        )
    # a SentencePiece ModelProto: field 1 (a piece: its own field 1, the text, then field 2,
    # the score, a fixed32 tagged 0x15), lengths below 128
    if len(raw) > 4 and raw[0] == raw[2] == 0x0A and raw[1] < 0x80 and raw[3] < 0x80:
        end = 4 + raw[3]
        if end < len(raw) and raw[end] == 0x15:
            raise TokenizerFormatError(
                f"{path}: a SentencePiece model (binary), which lexforge does not read "
                "(it reads byte-level BPE, WordPiece and tiktoken files); use the "
                "sentencepiece library or HF tokenizers for it"
            )


# a base64 token (whole groups of four, the last maybe padded) and a rank
_RANK_LINE = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|"
                        rb"[A-Za-z0-9+/]{2}==) [0-9]+")  # fmt: skip


def _tiktoken_lines(lines: list[bytes]) -> bool:
    """Whether ``lines`` (whole, non-empty) are a tiktoken rank file's: every one a base64
    token and a rank, the ranks increasing. A merges file's pairs never all are."""
    if not lines or not all(_RANK_LINE.fullmatch(line) for line in lines):
        return False
    ranks = [int(line.rsplit(b" ", 1)[1]) for line in lines]
    return all(a < b for a, b in itertools.pairwise(ranks))


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
