"""Finding the text files of a corpus for :func:`lexforge.shards.build_shards`: a file, a
directory walked in sorted order (hidden entries, other shard folders and second links to
one file left out), a list of files, or a dataset name; records files (JSON Lines, csv,
Parquet, ...) stand for cached text files of their text column.

It only finds and checks the files; planning and tokenizing them is
:mod:`lexforge._shard_build`'s.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from lexforge._json import loads_json
from lexforge._shard_manifest import FORMAT
from lexforge.errors import ConfigError, CorpusError
from lexforge.training import PathLike, refuse_repeats


def _sources(
    corpus: PathLike | Sequence[PathLike],
    out_dir: Path | None = None,
    text_column: str | None = None,
) -> list[Path]:
    """The text files of a corpus: a file, a directory (every file under it that is not
    hidden, in sorted order, each once however many links lead to it, and none under
    ``out_dir``, where the shards go), a list of files, or a dataset name from
    :mod:`lexforge.datasets`. Records files (JSON Lines, JSON, csv, tsv, Parquet, or
    gzip-compressed) stand for the text of their ``text_column``, as cached text files;
    so does a Hugging Face Dataset (or the folder ``save_to_disk`` wrote)."""
    from lexforge._corpus_files import as_texts
    from lexforge._hf_datasets import dataset_records

    records = dataset_records(corpus, text_column)  # a Hugging Face Dataset's text column
    if records is not None:
        return as_texts([records], text_column)
    files = _corpus_files(corpus, out_dir)
    # a listed folder that save_to_disk wrote: its text column
    files = [dataset_records(f, text_column) or f if f.is_dir() else f for f in files]
    return as_texts(files, text_column)


def _corpus_files(corpus: PathLike | Sequence[PathLike], out_dir: Path | None) -> list[Path]:
    from lexforge._hf_datasets import is_disk_folder

    if isinstance(corpus, str | os.PathLike):
        path = Path(corpus)
        if not path.exists():
            from lexforge import datasets

            if str(corpus) in datasets.names():
                return [datasets.corpus_text(str(corpus))]
            raise FileNotFoundError(
                f"no such file, directory or dataset: {corpus}; pass a text file, a directory "
                f"of text files, or one of {datasets.names()}"
            )
        if path.is_dir():
            skip = out_dir.resolve() if out_dir is not None else None
            if skip is not None and skip == path.resolve():
                raise CorpusError(
                    f"{path} is both the corpus and the shard directory; write the shards "
                    "to another directory (a subdirectory of the corpus is fine)"
                )
            if _is_shard_dir(path):
                raise CorpusError(
                    f"{path} holds shards written by build_shards, not a corpus; read them "
                    "with ShardSet, or pass the directory of the original text files"
                )
            walk = _walk(path)
            # shard folders, this build's and any other (they hold binary token files)
            shard_dirs = {p.parent.resolve() for p in walk if p.name == "manifest.json"}
            shard_dirs = {d for d in shard_dirs if _is_shard_dir(d)}
            if skip is not None:
                shard_dirs.add(skip)
            files: list[Path] = []
            seen: set[tuple[int, int]] = set()  # (device, inode): one file by any link
            for p in walk:
                if any(x.startswith(".") for x in p.relative_to(path).parts):
                    continue
                real = p.resolve()
                if any(d in real.parents for d in shard_dirs):
                    continue  # a file of a shard folder
                found = p.stat()
                if (found.st_dev, found.st_ino) in seen:
                    continue  # a second link to a file, symbolic or hard
                seen.add((found.st_dev, found.st_ino))
                files.append(p)
            if not files:
                from lexforge import datasets

                raise CorpusError(
                    f"{path} holds no files; put the corpus's text files in it"
                    + datasets.shadowed(corpus, ("corpus",))
                )
            return files
        _refuse_unseekable(path)
        return [path]
    listed = None if isinstance(corpus, bytes) or not isinstance(corpus, Iterable) else list(corpus)
    if listed is None or not all(isinstance(p, str | os.PathLike) for p in listed):
        raise ConfigError(
            f"the corpus must be a text file, a directory, a list of files or a dataset name, "
            f"got {type(corpus).__name__} {corpus!r:.80}"
        )
    files = [Path(p) for p in listed]
    if not files:
        raise CorpusError("the corpus is an empty list of files")
    for f in files:
        if is_disk_folder(f):  # (a Hugging Face dataset's folder: its text column)
            continue
        if f.is_dir():
            raise CorpusError(
                f"{f} is a directory; pass it on its own (not in a list), or list its files"
            )
        _refuse_unseekable(f)
        if not f.is_file():
            raise FileNotFoundError(f"no such file: {f}")
    refuse_repeats(files)
    return files


def _refuse_unseekable(f: Path) -> None:
    """Shards are planned from each file's size and read piece by piece, seeking: a pipe
    (``<(cat corpus.txt)``, /dev/stdin) or a device has neither, and is a CorpusError."""
    if not f.exists() or f.is_file() or f.is_dir():
        return
    kind = "a pipe" if stat.S_ISFIFO(f.stat().st_mode) else "a device or socket"
    raise CorpusError(
        f"{f} is {kind}, not a regular file: shards need a file they can seek; save it to "
        "a file first (e.g. cat ... > corpus.txt) and pass that"
    )


def _walk(root: Path) -> list[Path]:
    """The files under ``root``, sorted, following links to folders (each folder once,
    so a link loop ends). A link to nothing, outside hidden folders, is a CorpusError:
    part of the corpus is missing."""
    found: list[Path] = []
    visited: set[Path] = set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        here = Path(folder)
        if here.resolve() in visited:
            subfolders.clear()
            continue
        visited.add(here.resolve())
        for name in names:
            p = here / name
            if p.is_file():
                found.append(p)
            elif p.is_symlink() and not p.exists():
                if any(x.startswith(".") for x in p.relative_to(root).parts):
                    continue
                raise CorpusError(
                    f"{p} is a link to {p.readlink()}, which does not exist: part of the "
                    "corpus is missing; restore it, or remove the link"
                )
    return sorted(found)


def _is_shard_dir(folder: Path) -> bool:
    """Whether ``folder`` holds a manifest written by :func:`build_shards` (or one damaged
    beside its token files, for :class:`ShardSet` to name); a corpus's own
    ``manifest.json`` is text like any other file."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        data = loads_json(manifest.read_bytes())
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return True
    return next(folder.glob("shard-*.tokens.npy"), None) is not None
