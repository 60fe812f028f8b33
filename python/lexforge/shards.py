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

This module holds the reader and the public names; the build lives in
:mod:`lexforge._shard_build`, the manifest in :mod:`lexforge._shard_manifest`, and
finding a corpus's files in :mod:`lexforge._shard_sources`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import re
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lexforge import _core
from lexforge._corpus_records import WHITE_SPACE
from lexforge._shard_build import _shard_name, build_shards
from lexforge._shard_manifest import _PARTS, _read_manifest, _write_atomic
from lexforge.errors import CorpusError, ShardError
from lexforge.formats import make_parent, sha256_file
from lexforge.training import PathLike

__all__ = ["ShardSet", "build_shards", "split_sentences", "write_corpus"]


def split_sentences(text: str) -> list[str]:
    """The sentences of one paragraph, as the shard builder cuts them: after ``.``, ``!``,
    ``?`` (and runs of them, with closing quotes or brackets) followed by whitespace and
    not by a lowercase letter, except after abbreviations ("Dr.", "e.g.") and initials;
    after the CJK ``。！？`` with no space needed. A text with no UTF-8 form (a lone
    surrogate) raises :class:`~lexforge.errors.EncodingError` naming where."""
    try:
        return _core.split_sentences(text)
    except UnicodeEncodeError:  # (the core's str conversion): named as every entry names it
        from lexforge._text_checks import check_text

        check_text(text=text)
        raise


_LINE_ENDS = re.compile(r"\r\n|\r|\n")
_SPACES = re.compile(f"[{re.escape(WHITE_SPACE)}]+")


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
        lines = (  # lines and white space as the core reads them (not str.splitlines's)
            [_SPACES.sub(" ", s).strip(" ") for s in doc]
            if not isinstance(doc, str)
            else [line.strip(WHITE_SPACE) for line in _LINE_ENDS.split(doc)]
        )
        lines = [line for line in lines if line]
        if not lines:
            raise CorpusError(f"document {i} is empty; drop it or give it text")
        parts.append("\n".join(lines) + "\n")
    if not parts:
        raise CorpusError("no documents to write")
    data = "\n".join(parts).encode("utf-8")
    make_parent(out)
    _write_atomic(out, lambda f: f.write(data))
    return out


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
        broken = False  # a document ended in shards with no text since the last kept one
        for name in self._names_in_plan_order():
            record = self.manifest["shards"][name]
            if not record["documents"]:  # a piece with no text (blank or dropped lines)
                broken = broken or record.get("breaks") is True
                continue
            arrays = tuple(self._load(name, part, record) for part in _PARTS)
            self._arrays.append(arrays)  # type: ignore[arg-type]
            source = sources[record["source"]]["path"]
            counts = (record["tokens"], record["sentences"], record["documents"])
            where = (source, record["start"], record["end"])
            # (the shard before it holds the start of its document, unless one ended in
            # a piece with no text between them)
            continues = bool(self.shards) and record.get("continues") is True and not broken
            broken = record.get("breaks") is True
            self.shards.append(ShardInfo(name, *counts, *where, continues))
        self._corpus: Any = None

    def _names_in_plan_order(self) -> list[str]:
        """The shards' names in corpus order: one per piece of the plan (names sorted as
        text would put shard-100000 before shard-99999), each recorded in the manifest."""
        names = [_shard_name(k) for k in range(len(self.manifest["plan"]))]
        recorded = self.manifest["shards"]
        missing = [n for n in names if n not in recorded]
        extra = sorted(set(recorded) - set(names))
        if missing or extra:
            what = f"no record of shard {missing[0]}" if missing else f"a record of {extra[0]}"
            raise ShardError(
                f"{self.directory / 'manifest.json'} has {what}, which its plan of "
                f"{len(names)} shards does not match (edited or merged); delete the folder "
                "and rebuild the shards"
            )
        return names

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
        except (ValueError, tokenize.TokenError) as e:  # (numpy reads an old-style header
            # with the tokenize module, whose TokenError a header cut short raises)
            raise ShardError(f"shard file {path} is unreadable ({e}); rebuild it") from e
        want = {"tokens": record["tokens"], "sentences": record["sentences"] + 1}
        want["documents"] = record["documents"] + 1
        expected = self.dtype if part == "tokens" else np.dtype(np.int64)
        # (np.save ends the file with the data: a header length changed in place shifts it)
        shifted = getattr(array, "offset", size - array.nbytes) + array.nbytes != size
        if array.ndim != 1 or array.shape[0] != want[part] or array.dtype != expected or shifted:
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

    def verify(self) -> int:
        """Reads every shard file through and checks it against the SHA-256 the manifest
        recorded when it was written (opening the shards checks sizes and headers alone):
        a bit flipped on disk, or a file changed in place that keeps ids in the vocabulary,
        would otherwise train silently. Returns the bytes checked; shards built before
        lexforge recorded digests have none to check. :func:`lexforge.pretrain` calls it
        once a run.

        Raises:
            ShardError: naming the first file whose contents are not the ones written.
        """
        checked = 0
        for info in self.shards:
            sums = self.manifest["shards"][info.name].get("sha256", {})
            for part in _PARTS:
                if part not in sums:
                    continue
                path = self.directory / f"{info.name}.{part}.npy"
                try:
                    found = sha256_file(path)
                except OSError as e:
                    raise ShardError(f"shard file {path} is unreadable ({e}); rebuild it") from e
                if found != sums[part]:
                    raise ShardError(
                        f"shard file {path} is not the file that was written: its SHA-256 is "
                        f"{found[:16]}..., the manifest recorded {sums[part][:16]}... (changed "
                        "on disk since: a disk error, an edit, a mixed-up copy); delete it and "
                        "run build_shards again with the same arguments to rebuild it"
                    )
                checked += path.stat().st_size
        return checked

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

    def sources_digest(self) -> str | None:
        """A digest of the texts the shards were cut from (the sha256 of each that the
        manifest records), or None when it records none: shards rebuilt from an edited
        corpus tell apart even where ``fingerprint``'s samples of the tokens match."""
        sources = self.manifest.get("sources")
        sums = [s.get("sha256") for s in sources] if isinstance(sources, list) else []
        if not sums or not all(isinstance(x, str) for x in sums):
            return None
        return hashlib.sha256(json.dumps(sums).encode()).hexdigest()

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
