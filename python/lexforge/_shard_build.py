"""Building shards: :func:`build_shards` (public as :func:`lexforge.shards.build_shards`)
checks its options, plans the corpus into pieces of about ``piece_mb`` cut at document
boundaries, tokenizes each piece in parallel (Rust, GIL released) and writes it as one
shard of three ``.npy`` files, recording it in the manifest only once its files are in
place, so that an interrupted build resumes where it stopped. One build at a time writes
into a folder (a lock file).

Finding the corpus's files is :mod:`lexforge._shard_sources`'s, the manifest's format
:mod:`lexforge._shard_manifest`'s, and reading the shards back
:class:`lexforge.shards.ShardSet`'s.
"""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import tempfile
import time
import tokenize
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from lexforge import _core
from lexforge._corpus_records import WHITE_SPACE
from lexforge._progress import Progress
from lexforge._shard_manifest import (
    _PARTS,
    FORMAT,
    VERSION,
    _no_text_yet,
    _read_manifest,
    _same_sources,
    _save_progress,
    _source,
    _write_atomic,
    _write_manifest,
)
from lexforge._shard_sources import _sources
from lexforge.batch import MAX_THREADS, check_int
from lexforge.errors import ConfigError, CorpusError, ShardError
from lexforge.formats import make_folder, sha256_file
from lexforge.training import PathLike

if TYPE_CHECKING:
    from lexforge.shards import ShardSet

__all__ = ["build_shards"]

SentenceMode = Literal["split", "lines"]


def _dtype(vocab_size: int) -> np.dtype[Any]:
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


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
    make_folder(out)
    with _only_builder(out):  # (refused: the folder is another build's, left alone)
        try:
            return _build(out, files, tokenizer, core, sentences, piece_mb, num_threads, progress)
        except BaseException:
            # a build that failed before any text was shard (invalid UTF-8, no text, Ctrl-C
            # at once) leaves nothing behind, so the corrected rerun starts clean
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
            if _source(f) != {k: source[k] for k in ("path", "size", "mtime_ns")}:
                # the plan, the size and the hash would each be of another text
                raise ShardError(
                    f"{f} changed while the shards were being planned (a file still being "
                    "written?); build shards of a file no longer written to (a copy of it)"
                )
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
            if name in manifest["shards"] and _shard_intact(
                out, name, manifest["shards"][name], dtype
            ):
                continue
            tokens, sentence_offsets, document_offsets, continues, breaks = _tokenize_group(
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
                "sha256": {},  # (ShardSet.verify: data changed in place keeps the sizes)
            }
            if continues:  # a document longer than a piece: its rest starts this shard
                record["continues"] = True
            if breaks:  # a document ended after its last text: the next shard's is new
                record["breaks"] = True
            if len(group) > 1:
                record["ranges"] = group
            arrays = {
                "tokens": tokens.astype(dtype, copy=False),
                "sentences": sentence_offsets,
                "documents": document_offsets,
            }
            for part, array in arrays.items():
                path = out / f"{name}.{part}.npy"
                _write_atomic(path, functools.partial(_save_array, array))
                record["bytes"][part] = path.stat().st_size
                record["sha256"][part] = sha256_file(path)
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
    from lexforge.shards import ShardSet  # (here: lexforge.shards imports this module)

    return ShardSet(out)


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
) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64], npt.NDArray[np.int64], bool, bool]:
    """The token ids, sentence offsets and document offsets of a shard's ranges, one
    after the other (each file's documents stay its own); whether its first document
    continues the one before it (a document longer than a piece is cut at a line end, and
    its pieces stay one document: :func:`_core.starts_document`); and whether a document
    ended after its last text (in a range with no text: lines the tokenizer drops, and a
    blank line or a file's start), so that what follows starts a new one."""
    parts = [_core.tokenize_piece(core, files[i], s, e, sentences, threads) for i, s, e in group]
    joins = [not _core.starts_document(files[i], s) for i, s, _ in group]
    tokens = np.concatenate([t for t, _, _ in parts]) if len(parts) > 1 else parts[0][0]
    sentence_offsets, document_offsets = [np.zeros(1, np.int64)], [np.zeros(1, np.int64)]
    n_tokens = n_sentences = n_documents = 0
    continues = broken = False
    for (t, so, do), join, (i, s, e) in zip(parts, joins, group, strict=True):
        if do.size == 1:  # no text: did a document end in it?
            broken = broken or not join or _holds_blank_line(files[i], s, e)
            continue
        join = join and not broken
        broken = _ends_in_no_text(core, files[i], s, e, sentences, threads)
        if join and n_documents:  # the last document goes on in this part
            document_offsets[-1] = document_offsets[-1][:-1]
            n_documents -= 1
        continues = continues or (join and not n_tokens)
        sentence_offsets.append(so[1:] + n_tokens)
        document_offsets.append(do[1:] + n_sentences)
        n_tokens += t.size
        n_sentences += so.size - 1
        n_documents += do.size - 1
    offsets = np.concatenate(sentence_offsets), np.concatenate(document_offsets)
    return tokens, *offsets, continues, broken


_LINE_END = r"(?:\r\n|\r|\n)"
_BLANK_LINE = re.compile(  # (a "\r" before "\n" is one line end, not an empty line)
    r"(?:^|\r\n|\r(?!\n)|\n)["
    + re.escape(WHITE_SPACE.translate({10: None, 13: None}))
    + "]*"
    + _LINE_END
)


def _holds_blank_line(path: Path, start: int, end: int) -> bool:
    """Whether bytes ``start..end`` of ``path`` (whole lines) hold a blank line, which ends
    a document."""
    return _after_last_blank_line(path, start, end) is not None


def _after_last_blank_line(path: Path, start: int, end: int) -> int | None:
    """The offset just past the last blank line in bytes ``start..end`` of ``path`` (whole
    lines of valid UTF-8), or None; read from the end, 64 KiB first, then twice as much
    each time (a document's end is usually near)."""
    size = 1 << 16
    with path.open("rb") as f:
        high = end
        while high > start:
            low, size = max(start, high - size), size * 2
            f.seek(low)
            data = f.read(high - low)
            if low > start:  # from a line's start (a piece's start is one)
                cut = data.find(b"\n")
                if cut < 0:
                    high = low
                    continue
                low, data = low + cut + 1, data[cut + 1 :]
            text = data.decode("utf-8", errors="replace")
            found = list(_BLANK_LINE.finditer(text))
            if found:
                return low + len(text[: found[-1].end()].encode("utf-8"))
            high = low
    return None


def _ends_in_no_text(
    core: Any, path: Path, start: int, end: int, sentences: str, threads: Any
) -> bool:
    """Whether a range with text ends in a document with none (lines the tokenizer drops
    after a blank line): the document its last text is in has ended."""
    after = _after_last_blank_line(path, start, end)
    if after is None or after >= end:
        return after is not None
    return bool(_core.tokenize_piece(core, path, after, end, sentences, threads)[2].size == 1)


def _shard_intact(out: Path, name: str, record: dict[str, Any], dtype: np.dtype[Any]) -> bool:
    """Whether a finished shard's files are as written: of their recorded sizes and
    SHA-256, each read by numpy as the array its record counts (a header damaged in place,
    which ShardSet refuses with "rebuild it", is built again; it was kept, and refused
    again)."""
    lengths = {"tokens": record["tokens"], "sentences": record["sentences"] + 1}
    lengths["documents"] = record["documents"] + 1
    for part in _PARTS:
        path = out / f"{name}.{part}.npy"
        if not path.exists() or path.stat().st_size != record["bytes"][part]:
            return False
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, tokenize.TokenError):  # (see ShardSet._load)
            return False
        kind = dtype if part == "tokens" else np.dtype(np.int64)
        if array.ndim != 1 or array.shape[0] != lengths[part] or array.dtype != kind:
            return False
        size = record["bytes"][part]  # (a header length changed in place shifts the data)
        if getattr(array, "offset", size - array.nbytes) + array.nbytes != size:
            return False
        sums = record.get("sha256")  # (none in manifests from before they were recorded)
        if isinstance(sums, dict) and part in sums and sha256_file(path) != sums[part]:
            return False  # changed in place: its tokens are built again
    return True


def _save_array(array: npt.NDArray[Any], f: IO[bytes]) -> None:
    np.save(f, array, allow_pickle=False)
