"""Pretraining corpora on disk: text files tokenized once into memory-mapped shards.

``build_shards(corpus, out_dir, tokenizer)`` cuts the corpus into pieces of about
``piece_mb`` of text at document boundaries (blank lines; files smaller than that share a
piece), tokenizes each piece in parallel (Rust, GIL released) and writes it as one shard:
three ``.npy`` files holding the token ids (uint16 when the vocabulary fits, else uint32),
where each sentence starts, and where each document starts (in sentences). Memory is
bounded by the piece size, whatever the corpus size. Each shard is written to temporary
files and renamed into place, and the manifest (``manifest.json``, rewritten atomically
at most once a second, and at the end) records it only then, so an interrupted run leaves
only whole shards behind; running the same command again continues where it stopped,
redoing at most the shards of its last second.

``ShardSet(out_dir)`` opens the shards memory-mapped, after checking every file against
the manifest (a truncated or missing file is a :class:`ShardError` naming it).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from lexforge import _core
from lexforge._progress import Progress
from lexforge.batch import MAX_THREADS, check_int
from lexforge.errors import ConfigError, CorpusError, ShardError
from lexforge.formats import public_mode, sha256_file, write_failed
from lexforge.training import refuse_repeats

__all__ = ["ShardSet", "build_shards", "split_sentences", "write_corpus"]

PathLike = str | os.PathLike[str]
SentenceMode = Literal["split", "lines"]
FORMAT = "lexforge-shards"
VERSION = 1
_PARTS = ("tokens", "sentences", "documents")


def split_sentences(text: str) -> list[str]:
    """The sentences of one paragraph, as the shard builder cuts them: after ``.``, ``!``,
    ``?`` (and runs of them, with closing quotes or brackets) followed by whitespace and
    not by a lowercase letter, except after abbreviations ("Dr.", "e.g.") and initials;
    after the CJK ``。！？`` with no space needed."""
    return _core.split_sentences(text)


def write_corpus(documents: Iterable[str | Sequence[str]], path: PathLike) -> Path:
    """Writes documents as a corpus file for :func:`build_shards` (atomically) and returns
    its path: documents separated by blank lines; a document given as a list of sentences
    has one sentence per line (build with ``sentences="lines"`` to keep them as they are),
    one given as text keeps its lines (blank lines inside it are dropped, since they would
    end the document).

    Raises:
        CorpusError: an empty document (naming its index), or no documents at all.
    """
    out = Path(path)
    parts: list[str] = []
    for i, doc in enumerate(documents):
        lines = (
            [" ".join(s.split()) for s in doc]
            if not isinstance(doc, str)
            else [line.strip() for line in doc.splitlines()]
        )
        lines = [line for line in lines if line]
        if not lines:
            raise CorpusError(f"document {i} is empty; drop it or give it text")
        parts.append("\n".join(lines) + "\n")
    if not parts:
        raise CorpusError("no documents to write")
    data = "\n".join(parts).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(out, lambda f: f.write(data))
    return out


def _sources(
    corpus: PathLike | Sequence[PathLike],
    out_dir: Path | None = None,
    text_column: str | None = None,
) -> list[Path]:
    """The text files of a corpus: a file, a directory (every file under it that is not
    hidden, in sorted order, each once however many links lead to it, and none under
    ``out_dir``, where the shards go), a list of files, or a dataset name from
    :mod:`lexforge.datasets`. Records files (JSON Lines, JSON, csv, tsv, Parquet, or
    gzip-compressed) stand for the text of their ``text_column``, as cached text files."""
    from lexforge._corpus_files import as_texts

    return as_texts(_corpus_files(corpus, out_dir), text_column)


def _corpus_files(corpus: PathLike | Sequence[PathLike], out_dir: Path | None) -> list[Path]:
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
                raise CorpusError(f"{path} holds no files; put the corpus's text files in it")
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
    """Whether ``folder`` holds a manifest written by :func:`build_shards`."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        data = json.loads(manifest.read_bytes())
    except (OSError, ValueError):
        return False  # a user's own manifest.json, not JSON: text like any other file
    return isinstance(data, dict) and data.get("format") == FORMAT


def _dtype(vocab_size: int) -> np.dtype[Any]:
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def _write_atomic(path: Path, write: Any) -> None:
    """Writes ``path`` through a temporary file in the same folder, synced and renamed."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise write_failed(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            public_mode(fd)
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


def _source(f: Path) -> dict[str, Any]:
    stat = f.stat()
    return {"path": str(f.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _same_sources(before: Any, now: list[dict[str, Any]]) -> bool:
    """Whether the corpus files are the ones the shards were built from: the same paths
    and sizes, and the same contents where a file was modified since (an edit that keeps
    the size is caught by its sha256; a file only touched is still the same)."""
    if not isinstance(before, list) or len(before) != len(now):
        return False
    for old, new in zip(before, now, strict=True):
        if not isinstance(old, dict) or (old.get("path"), old.get("size")) != (
            new["path"],
            new["size"],
        ):
            return False
        if "mtime_ns" in old and old["mtime_ns"] != new["mtime_ns"]:
            if sha256_file(Path(new["path"])) != old.get("sha256"):
                return False
            old["mtime_ns"] = new["mtime_ns"]  # touched, not changed: saved with the manifest
    return True


def _shard_name(k: int) -> str:
    return f"shard-{k:05d}"


def build_shards(
    corpus: PathLike | Sequence[PathLike],
    out_dir: PathLike,
    tokenizer: Any,
    *,
    sentences: SentenceMode = "split",
    piece_mb: float = 32.0,
    num_threads: int | None = None,
    progress: bool | None = None,
    text_column: str | None = None,
) -> ShardSet:
    r"""Tokenizes ``corpus`` into shards under ``out_dir`` and returns them opened.

    Args:
        corpus: a text file, a directory of text files, a list of files, or a dataset name
            (e.g. ``"wiki-leads"``). Documents are separated by blank lines; lines end at
            ``\n``, ``\r\n`` or ``\r``. In a JSON Lines, JSON, csv, tsv or Parquet file
            (or a gzip-compressed one) each record's ``text_column`` is a document.
        out_dir: the shard directory (created). If it holds shards of this same corpus,
            tokenizer and options, finished shards are kept and the rest are built.
        tokenizer: a lexforge tokenizer (WordPiece or BPE); saved into ``out_dir`` as
            ``tokenizer.json``.
        sentences: ``"split"`` (each line is a paragraph, cut into sentences; the default)
            or ``"lines"`` (each line is one sentence, BERT's input format).
        piece_mb: megabytes of text per shard (memory use is a few times this).
        num_threads: threads for tokenizing (default: all cores); results do not depend
            on it.
        progress: show a progress bar (default: when stderr is a terminal).
        text_column: the text column of records files (default: ``text``, else the
            records' only text column).

    Raises:
        CorpusError: invalid UTF-8 (naming the file and byte), a corpus with no text.
        ShardError: ``out_dir`` holds shards of a different corpus, tokenizer or options.
    """
    if sentences not in ("split", "lines"):
        raise ConfigError(f"sentences must be 'split' or 'lines', got {sentences!r}")
    if isinstance(piece_mb, bool) or not isinstance(piece_mb, (int, float)):
        raise ConfigError(f"piece_mb must be a number of megabytes, got {piece_mb!r}")
    if not 0 < piece_mb < 1e9:
        raise ConfigError(f"piece_mb must be a positive number of megabytes, got {piece_mb}")
    if num_threads is not None:
        check_int("num_threads", num_threads, most=MAX_THREADS)
    core = getattr(tokenizer, "_core", None)
    if not isinstance(core, _core.Bpe | _core.BertTokenizer):
        raise ConfigError(f"tokenizer must be a lexforge tokenizer, got {type(tokenizer).__name__}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():  # said before the corpus is read
        raise ConfigError(f"out_dir {out} is a file; pass a directory for the shards")
    files = _sources(corpus, out, text_column)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with _only_builder(out):
            return _build(out, files, tokenizer, core, sentences, piece_mb, num_threads, progress)
    except BaseException:
        # a build that failed before any text was shard (invalid UTF-8, no text, Ctrl-C at
        # once) leaves nothing behind, so the corrected rerun starts clean
        if created and _no_text_yet(out / "manifest.json", missing=True):
            shutil.rmtree(out, ignore_errors=True)
        raise


LOCK = ".build.lock"


def _only_builder(out: Path) -> contextlib.AbstractContextManager[None]:
    """Holds ``out``'s build lock (``out/.build.lock``): a second build into the same
    folder would delete the first one's files in progress and mix the two runs' shards."""
    from ._locks import only_writer

    return only_writer(
        out / LOCK,
        lambda: ShardError(
            f"another build_shards is writing into {out}; wait for it to finish, or build "
            "into another directory"
        ),
    )


def _no_text_yet(manifest_path: Path, *, missing: bool = False) -> bool:
    """Whether ``manifest_path`` is one of our manifests, of a build that stopped before
    any shard with text was finished (``missing``: what a manifest never written says)."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return missing
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return False
    shards = manifest.get("shards")
    return (
        not manifest.get("complete")
        and isinstance(shards, dict)
        and not any(isinstance(r, dict) and r.get("documents") for r in shards.values())
    )


def _build(
    out: Path,
    files: list[Path],
    tokenizer: Any,
    core: Any,
    sentences: str,
    piece_mb: float,
    num_threads: int | None,
    progress: bool | None,
) -> ShardSet:
    """``build_shards`` once its options are checked and ``out`` exists."""
    with tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / "tokenizer.json"
        tokenizer.save(saved)
        fingerprint = sha256_file(saved)
        tokenizer_bytes = saved.read_bytes()
    piece_bytes = max(1, int(piece_mb * 1e6))
    sources = [_source(f) for f in files]
    options = {"sentences": sentences, "piece_bytes": piece_bytes}
    manifest_path = out / "manifest.json"
    manifest: dict[str, Any] | None = None
    if _no_text_yet(manifest_path):
        manifest_path.unlink()  # a build that failed before any text: nothing to resume
    if manifest_path.exists():
        manifest = _read_manifest(manifest_path)
        differ = []
        if manifest.get("tokenizer_sha256") != fingerprint:
            differ.append("the tokenizer")
        if not _same_sources(manifest.get("sources"), sources):
            differ.append("the corpus files")
        saved_options = manifest.get("options")
        if saved_options != options:
            were = saved_options if isinstance(saved_options, dict) else {}
            for key, now in options.items():
                if were.get(key) != now:
                    name, was = key, were.get(key)
                    if key == "piece_bytes":  # as the caller gave it
                        name, now = "piece_mb", piece_bytes / 1e6
                        was = was / 1e6 if isinstance(was, int | float) else was
                    differ.append(f"{name} (was {was!r}, now {now!r})")
        if differ:
            raise ShardError(
                f"{out} holds shards of a different corpus, tokenizer or options (other: "
                f"{', '.join(differ)}); use another directory, or delete this one to rebuild"
            )
    if manifest is None:
        plan = _plan(files, piece_bytes)
        for source, f in zip(sources, files, strict=True):
            source["sha256"] = sha256_file(f)  # a later run compares contents if mtimes differ
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "tokenizer_sha256": fingerprint,
            "vocab_size": tokenizer.vocab_size,
            "dtype": _dtype(tokenizer.vocab_size).name,
            "sources": sources,
            "options": options,
            "plan": plan,
            "shards": {},
            "complete": False,
        }
    tokenizer_path = out / "tokenizer.json"
    if not tokenizer_path.exists() or sha256_file(tokenizer_path) != fingerprint:
        _write_atomic(tokenizer_path, lambda f: f.write(tokenizer_bytes))
    # the temporary files of an interrupted run: only names this function writes, never a
    # user's own ".notes.tmp" in the same folder
    for pattern in (".shard-*.npy.*.tmp", ".manifest.json.*.tmp", ".tokenizer.json.*.tmp"):
        for stale in out.glob(pattern):
            stale.unlink(missing_ok=True)

    dtype = np.dtype(manifest["dtype"])
    plan = [_ranges(entry) for entry in manifest["plan"]]
    total = sum(end - start for group in plan for _, start, end in group)
    done = sum(
        end - start
        for k, group in enumerate(plan)
        if _shard_name(k) in manifest["shards"]
        for _, start, end in group
    )
    written = time.monotonic()
    with (
        contextlib.ExitStack() as stack,
        Progress("building shards", unit="B", enabled=progress) as bar,
    ):
        # an interrupted build records the shards it finished (a killed one, up to a second)
        stack.callback(_save_progress, manifest_path, manifest)
        bar(done, total)
        for k, group in enumerate(plan):
            name = _shard_name(k)
            if name in manifest["shards"] and _shard_intact(out, name, manifest["shards"][name]):
                continue
            tokens, sentence_offsets, document_offsets, continues = _tokenize_group(
                core, files, group, sentences, num_threads
            )
            (first, start, end), *_ = group
            record: dict[str, Any] = {
                "source": first,
                "start": start,
                "end": end,
                "tokens": int(tokens.size),
                "sentences": int(sentence_offsets.size - 1),
                "documents": int(document_offsets.size - 1),
                "bytes": {},
            }
            if continues:  # a document longer than a piece: its rest starts this shard
                record["continues"] = True
            if len(group) > 1:
                record["ranges"] = group
            arrays = {
                "tokens": tokens.astype(dtype, copy=False),
                "sentences": sentence_offsets,
                "documents": document_offsets,
            }
            for part, array in arrays.items():
                path = out / f"{name}.{part}.npy"
                _write_atomic(path, lambda f, a=array: np.save(f, a, allow_pickle=False))
                record["bytes"][part] = path.stat().st_size
            manifest["shards"][name] = record
            if time.monotonic() - written >= 1.0:  # (every shard: quadratic in their count)
                _write_manifest(manifest_path, manifest)
                written = time.monotonic()
            done += sum(e - s for _, s, e in group)
            bar(done, total)
    if not any(r["documents"] for r in manifest["shards"].values()):
        raise CorpusError(
            f"the corpus ({', '.join(str(f) for f in files)}) holds no text to tokenize"
        )
    manifest["complete"] = True
    _write_manifest(manifest_path, manifest)
    return ShardSet(out)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ShardError(f"{path} is not a readable shard manifest ({e}); rebuild them") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ShardError(f"{path} is not a lexforge shard manifest")
    if manifest.get("version") != VERSION:
        raise ShardError(
            f"{path} has shard format version {manifest.get('version')}, this lexforge reads "
            f"version {VERSION}; rebuild the shards"
        )
    problem = _manifest_problem(manifest)
    if problem:
        raise ShardError(f"{path} is damaged: {problem}; delete the folder and rebuild the shards")
    return manifest


def _whole(value: Any, most: int = 2**63) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most


def _manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is wrong with the fields of a manifest of this format, or None."""
    if not _whole(manifest.get("vocab_size"), 2**32 - 1) or not manifest["vocab_size"]:
        return f"vocab_size is {manifest.get('vocab_size')!r}, not a count in [1, 2**32)"
    if manifest.get("dtype") not in ("uint16", "uint32"):
        return f"dtype is {manifest.get('dtype')!r}, not 'uint16' or 'uint32'"
    sources, shards = manifest.get("sources"), manifest.get("shards")
    if not isinstance(sources, list) or not all(
        isinstance(x, dict) and isinstance(x.get("path"), str) for x in sources
    ):
        return "sources is not a list of {path: ...} records"
    if not isinstance(manifest.get("plan"), list):
        return "plan is not a list"
    if not isinstance(shards, dict):
        return "shards is not an object"
    for name, record in shards.items():
        counts = ("source", "start", "end", *_PARTS)
        if not isinstance(record, dict) or not all(_whole(record.get(k)) for k in counts):
            return f"shard {name!r} lacks whole-number {', '.join(counts)}"
        if record["source"] >= len(sources):
            return f"shard {name!r} names source {record['source']} of {len(sources)}"
        sizes = record.get("bytes")
        if not isinstance(sizes, dict) or not all(_whole(sizes.get(k)) for k in _PARTS):
            return f"shard {name!r} lacks the byte sizes of its {', '.join(_PARTS)} files"
        if not record["documents"] and record["tokens"]:
            return f"shard {name!r} records {record['tokens']} tokens in no document"
    return None


def _save_progress(path: Path, manifest: dict[str, Any]) -> None:
    if not manifest["complete"]:
        with contextlib.suppress(OSError):  # (a full disk: the shards are rebuilt next time)
            _write_manifest(path, manifest)


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    data = json.dumps(manifest, separators=(",", ":")).encode("utf-8")  # json's C encoder
    _write_atomic(path, lambda f: f.write(data))


def _plan(files: Sequence[Path], piece_bytes: int) -> list[list[list[int]]]:
    """The shards to build, each a list of ``[file, start, end]`` byte ranges cut at
    document boundaries: a big file's pieces one to a shard, consecutive small files
    together up to ``piece_bytes`` (a directory of a million short files makes shards of
    ``piece_bytes``, not a million shards)."""
    groups: list[list[list[int]]] = []
    group: list[list[int]] = []
    size = 0
    for i, f in enumerate(files):
        for start, end in _core.plan_file(f, piece_bytes):
            if group and size + (end - start) > piece_bytes:
                groups.append(group)
                group, size = [], 0
            group.append([i, start, end])
            size += end - start
    if group:
        groups.append(group)
    return groups


def _ranges(entry: list[Any]) -> list[list[int]]:
    """A plan entry's ranges (manifests before grouping hold one ``[file, start, end]``)."""
    return [entry] if entry and isinstance(entry[0], int) else entry


def _tokenize_group(
    core: Any, files: Sequence[Path], group: list[list[int]], sentences: str, threads: Any
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64], npt.NDArray[np.int64], bool]:
    """The token ids, sentence offsets and document offsets of a shard's ranges, one
    after the other (each file's documents stay its own), and whether its first document
    continues the one before it: a document longer than a piece is cut at a line end, and
    its pieces stay one document (:func:`_core.starts_document`)."""
    parts = [_core.tokenize_piece(core, files[i], s, e, sentences, threads) for i, s, e in group]
    joins = [not _core.starts_document(files[i], s) for i, s, _ in group]
    tokens = np.concatenate([t for t, _, _ in parts]) if len(parts) > 1 else parts[0][0]
    sentence_offsets, document_offsets = [np.zeros(1, np.int64)], [np.zeros(1, np.int64)]
    n_tokens = n_sentences = n_documents = 0
    continues = False
    for (t, so, do), join in zip(parts, joins, strict=True):
        if do.size == 1:
            continue  # no text: what comes next starts after a blank line
        if join and n_documents:  # the last document goes on in this part
            document_offsets[-1] = document_offsets[-1][:-1]
            n_documents -= 1
        continues = continues or (join and not n_tokens)
        sentence_offsets.append(so[1:] + n_tokens)
        document_offsets.append(do[1:] + n_sentences)
        n_tokens += t.size
        n_sentences += so.size - 1
        n_documents += do.size - 1
    return tokens, np.concatenate(sentence_offsets), np.concatenate(document_offsets), continues


def _shard_intact(out: Path, name: str, record: dict[str, Any]) -> bool:
    for part in _PARTS:
        path = out / f"{name}.{part}.npy"
        if not path.exists() or path.stat().st_size != record["bytes"][part]:
            return False
    return True


_Arrays = tuple[npt.NDArray[Any], npt.NDArray[np.int64], npt.NDArray[np.int64]]


def _allow_open_files(needed: int) -> None:
    """Raises this process's soft limit on open files towards its hard limit when
    ``needed`` more would not fit in it (1,024 is common, and a memory map holds its
    file open): what the shell's ``ulimit -n`` would do, within what the system allows."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed + 1024  # and room for everything else the process opens
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    new = want if hard == resource.RLIM_INFINITY else min(hard, want)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def _open_file_limit() -> str:
    try:
        import resource
    except ImportError:
        return "the system's limit"
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return f"ulimit -n is {soft}"


@dataclass(frozen=True)
class ShardInfo:
    """One shard: its name, its counts and its (first) source range: consecutive small
    files share a shard, whose manifest record lists all of their ranges."""

    name: str
    tokens: int
    sentences: int
    documents: int
    source: str
    start: int
    end: int
    #: its first document continues the last of the shard before (one document of the
    #: source, longer than a piece, cut at a line end)
    continues: bool = False


class ShardSet:
    """The shards of a directory written by :func:`build_shards`, memory-mapped.

    Raises:
        ShardError: no manifest, an unfinished build, or a shard file that is missing,
            truncated or otherwise not what the manifest recorded.
    """

    def __init__(self, directory: PathLike) -> None:
        self.directory = Path(directory)
        manifest_path = self.directory / "manifest.json"
        if not manifest_path.exists():
            raise ShardError(
                f"{self.directory} has no manifest.json; build shards there with "
                "lexforge.build_shards(corpus, directory, tokenizer)"
            )
        self.manifest = _read_manifest(manifest_path)
        if not self.manifest.get("complete"):
            raise ShardError(
                f"the shards in {self.directory} are unfinished; run build_shards again with "
                "the same arguments to finish them"
            )
        self.vocab_size: int = self.manifest["vocab_size"]
        self.dtype = np.dtype(self.manifest["dtype"])
        self.shards: list[ShardInfo] = []
        self._arrays: list[_Arrays] = []
        sources = self.manifest["sources"]
        # each shard holds three memory-mapped files open
        self._open_files = 3 * len(self.manifest["shards"])
        _allow_open_files(self._open_files)
        for name in sorted(self.manifest["shards"]):
            record = self.manifest["shards"][name]
            if not record["documents"]:
                continue  # a piece with no text (only blank lines)
            arrays = tuple(self._load(name, part, record) for part in _PARTS)
            self._arrays.append(arrays)  # type: ignore[arg-type]
            source = sources[record["source"]]["path"]
            counts = (record["tokens"], record["sentences"], record["documents"])
            where = (source, record["start"], record["end"])
            # (the shard before it holds the start of its document: none is skipped, as a
            # piece with no text holds a blank line, which ends a document)
            continues = bool(self.shards) and record.get("continues") is True
            self.shards.append(ShardInfo(name, *counts, *where, continues))
        self._corpus: Any = None

    def _load(self, name: str, part: str, record: dict[str, Any]) -> npt.NDArray[Any]:
        path = self.directory / f"{name}.{part}.npy"
        if not path.exists():
            raise ShardError(f"shard file {path} is missing; run build_shards again to rebuild it")
        size = path.stat().st_size
        if size != record["bytes"][part]:
            raise ShardError(
                f"shard file {path} has {size} bytes, the manifest recorded "
                f"{record['bytes'][part]} (truncated or replaced); delete it and run "
                "build_shards again to rebuild it"
            )
        try:
            array: npt.NDArray[Any] = np.load(path, mmap_mode="r", allow_pickle=False)
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE):
                raise ShardError(
                    f"opening the shards of {self.directory} needs about {self._open_files} "
                    f"open files, more than this process may have ({_open_file_limit()}); "
                    "raise the limit (`ulimit -n`), or build fewer, bigger shards "
                    "(build_shards(..., piece_mb=...))"
                ) from None
            raise ShardError(f"shard file {path} is unreadable ({e}); rebuild it") from e
        except ValueError as e:
            raise ShardError(f"shard file {path} is unreadable ({e}); rebuild it") from e
        want = {"tokens": record["tokens"], "sentences": record["sentences"] + 1}
        want["documents"] = record["documents"] + 1
        expected = self.dtype if part == "tokens" else np.dtype(np.int64)
        if array.ndim != 1 or array.shape[0] != want[part] or array.dtype != expected:
            raise ShardError(f"shard file {path} does not match the manifest; rebuild it")
        return array

    def __len__(self) -> int:
        return len(self.shards)

    @property
    def n_tokens(self) -> int:
        return sum(s.tokens for s in self.shards)

    @property
    def n_documents(self) -> int:
        """Documents of the source: one cut across shards counts once."""
        return sum(s.documents - s.continues for s in self.shards)

    @property
    def n_sentences(self) -> int:
        return sum(s.sentences for s in self.shards)

    def fingerprint(self) -> str:
        """A digest that tells these shards from others (and stays the same when the
        directory moves): the tokenizer's, each shard's counts, and its first and last
        4,096 tokens. A resumed pretraining run checks it."""
        digest = hashlib.sha256(str(self.manifest.get("tokenizer_sha256")).encode())
        for info, (tokens, _, _) in zip(self.shards, self._arrays, strict=True):
            counts: tuple[Any, ...] = (info.name, info.tokens, info.sentences, info.documents)
            counts += ("continues",) if info.continues else ()
            digest.update(json.dumps(counts).encode())
            digest.update(np.ascontiguousarray(tokens[:4096]).tobytes())
            digest.update(np.ascontiguousarray(tokens[-4096:]).tobytes())
        return digest.hexdigest()

    def tokenizer(self) -> Any:
        """The tokenizer the shards were built with (its ``tokenizer.json``, checked against
        the fingerprint the manifest recorded: another tokenizer's ids would train wrong)."""
        from lexforge.tokenizer import Tokenizer

        path = self.directory / "tokenizer.json"
        if not path.is_file():
            raise ShardError(
                f"{path} is missing: the tokenizer these shards were built with (build_shards "
                "writes it next to them) is needed to mask them; put it back, or build the "
                "shards again"
            )
        recorded = self.manifest.get("tokenizer_sha256")
        if recorded is not None and path.is_file() and sha256_file(path) != recorded:
            raise ShardError(
                f"{path} is not the tokenizer these shards were built with (its sha256 differs "
                "from the manifest's); put the original back, or build the shards again with "
                "this tokenizer"
            )
        return Tokenizer.from_file(path)

    def arrays(self, k: int) -> _Arrays:
        """Shard ``k``'s (tokens, sentence offsets, document offsets), memory-mapped."""
        return self._arrays[k]

    def documents(self) -> Iterator[list[npt.NDArray[Any]]]:
        """Every document as a list of sentences (arrays of ids), in corpus order; one cut
        across shards comes whole."""
        held: list[npt.NDArray[Any]] = []
        for info, (tokens, sentences, documents) in zip(self.shards, self._arrays, strict=True):
            for d in range(documents.size - 1):
                if held and not (d == 0 and info.continues):
                    yield held
                    held = []
                held += [
                    tokens[sentences[s] : sentences[s + 1]]
                    for s in range(documents[d], documents[d + 1])
                ]
        if held:
            yield held

    def core(self) -> Any:
        """The shards as a ``_core.ShardCorpus`` (validated once, then cached)."""
        if self._corpus is None:
            self._corpus = _core.ShardCorpus(
                [(s.name, *a) for s, a in zip(self.shards, self._arrays, strict=True)],
                self.vocab_size,
                [s.continues for s in self.shards],
            )
        return self._corpus

    def __repr__(self) -> str:
        return (
            f"ShardSet({str(self.directory)!r}: {len(self)} shards, {self.n_documents:,} "
            f"documents, {self.n_tokens:,} tokens, {self.dtype.name})"
        )
