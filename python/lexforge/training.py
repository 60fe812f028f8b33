"""Training inputs: word counts, the mergeable first half of BPE training.

:class:`WordCounts` pre-tokenizes text (files streamed line by line, or any iterable of
strings) and counts each distinct piece. Counts made on different machines merge exactly
(:meth:`WordCounts.merge`, :meth:`WordCounts.save`/:meth:`WordCounts.load`), so a corpus too
big for one machine can be counted by a distributed engine and trained centrally with
:meth:`lexforge.Tokenizer.from_counts`.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import operator
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from lexforge import _core
from lexforge._json import loads_json
from lexforge._progress import Progress
from lexforge.errors import CorpusError, TrainerConfigError
from lexforge.formats import atomic_write, read_text

__all__ = ["PathLike", "WordCounts", "check_counts", "naming_files", "resolve_files"]

PathLike = str | os.PathLike[str]
_HEADER = "#lexforge-word-counts v1"
# how much text an iterable contributes before it is counted in parallel
_BATCH_CHARS = 4 << 20
_BATCH_ITEMS = 8192
# the largest value the core's sizes and counts take (usize, u64): 2**64 - 1 on 64-bit
_MAX_SIZE = sys.maxsize * 2 + 1


def resolve_files(
    files: PathLike | Sequence[PathLike], text_column: str | None = None
) -> list[Path]:
    """Normalizes one path, several paths, or a dataset name (see ``lexforge datasets``) to
    a list of existing files, each as given: plain text, gzip-compressed text, or records
    files (JSON Lines, JSON, csv, tsv, Parquet, or those gzip-compressed), whose
    ``text_column`` (default: ``text``, else their only text column) holds the text. A
    Hugging Face Dataset (or its ``save_to_disk`` folder) is a records file of its text
    column. A file listed twice, or a ``text_column`` given with no records file to have
    it, is refused here; a records file without that column is refused when it is read."""
    from lexforge._corpus_files import check_text_column
    from lexforge._hf_datasets import dataset_records, is_disk_folder

    records = dataset_records(files, text_column)  # a Hugging Face Dataset's text column
    if records is not None:
        return [records]
    items = [files] if isinstance(files, str | bytes | os.PathLike) else list(files)
    if not items:
        raise CorpusError("no input files were given; pass at least one text file")
    found: list[Path] = []
    given: list[Path] = []  # (as listed: a dataset folder, not its cached records file)
    for item in items:
        if isinstance(item, bytes):
            item = os.fsdecode(item)
        if not isinstance(item, str | os.PathLike):
            raise TypeError(
                f"files must be paths (str or os.PathLike) or dataset names, got {item!r}"
            )
        path = Path(item)
        given.append(path)
        if is_disk_folder(path):  # a Hugging Face dataset's folder: its text column
            found.append(cast(Path, dataset_records(path, text_column)))
            continue
        from lexforge import datasets

        # (os.path.exists: False for a name too long for the file system, a text passed as a
        # file, where Path.exists raises)
        if os.path.exists(path):  # noqa: PTH110
            if path.is_dir() and (hint := datasets.shadowed(item, ("corpus",))):
                raise CorpusError(f"{path} is a directory; pass the text files inside it{hint}")
            found.append(path)
            continue
        if isinstance(item, str) and item in datasets.names():
            found.append(datasets.corpus_text(item))
            given[-1] = found[-1]
            continue
        # a string that is not a path but reads like text: strings meant as the corpus
        text_hint = (
            "; to train on strings in memory, pass them as texts=..."
            if isinstance(item, str) and (any(c.isspace() for c in item) or len(item) > 255)
            else ""
        )
        from lexforge.formats import shown_name

        raise FileNotFoundError(
            f"no such file: {shown_name(path)}; pass a text file, a list of files, or a "
            f"dataset name ({', '.join(datasets.names())}){text_hint}"
        )
    check_text_column(text_column, found)
    refuse_repeats(given)
    return found


def refuse_line_breaks(special_tokens: Sequence[str]) -> None:
    """Raises :class:`TrainerConfigError` for a special token holding a line break when text
    files are counted: they are counted line by line, so such a token is never found."""
    for token in special_tokens:
        if "\n" in token:
            raise TrainerConfigError(
                f"the special token {token!r} holds a line break, but text files are counted "
                "line by line (each line on its own, as HF tokenizers trains), so it would "
                "never be cut out of them; drop the line break from the token "
                "(special_tokens / --special), or pass the documents through texts= (an "
                "iterable of strings) or as a records file (.jsonl, .csv, ...), whose texts "
                "are counted whole"
            )


def refuse_repeats(paths: Sequence[Path]) -> None:
    """Raises :class:`CorpusError` when a list of files names one file twice (by another
    path or link too, symbolic or hard): its text would be read, and weigh, twice."""
    first: dict[object, int] = {}
    for i, path in enumerate(paths):
        try:
            found = path.stat()
            key: object = (found.st_dev, found.st_ino)
        except OSError:  # (reading it will say what is wrong)
            key = path.resolve()
        at = first.setdefault(key, i)
        if at != i:
            same = "" if paths[at] == path else f" (as {paths[at]} and {path}: one file)"
            raise CorpusError(
                f"the corpus lists {path} twice{same} (entries {at} and {i}), so its text "
                "would be read twice; list each file once"
            )


_MAX_COUNT = 2**64 - 1  # a word's count (u64 in the core)
# the largest max_input_chars_per_word a tokenizer.json loads with (a 32-bit count)
_MAX_WORD = 2**32 - 2


def special_list(special_tokens: object) -> list[str]:
    """``special_tokens`` as a list of strings, in the order given (their ids follow it):
    a single string, an unordered set or something not a string are refused (a set's
    order, so the ids, would change between runs), as are an empty token and one listed
    twice (:class:`TrainerConfigError`, not the file reader's error); an iterator is read
    once."""
    if isinstance(special_tokens, str):
        raise TypeError(
            f"special_tokens must be a list of tokens, not the string {special_tokens!r}; "
            "wrap it in a list"
        )
    if isinstance(special_tokens, (set, frozenset)):
        raise TrainerConfigError(
            "special_tokens must be ordered (a list or tuple): the order of a set changes "
            "between runs, and the tokens' ids follow it"
        )
    try:
        tokens: list[object] = list(special_tokens)  # type: ignore[call-overload]
    except TypeError:
        raise TrainerConfigError(
            f"special_tokens must be a list of strings, got {type(special_tokens).__name__}"
        ) from None
    checked: list[str] = []
    seen: set[str] = set()
    for token in tokens:
        if not isinstance(token, str):
            raise TrainerConfigError(f"special_tokens must be strings, got {token!r}")
        try:
            token.encode("utf-8")
        except UnicodeEncodeError:
            raise TrainerConfigError(
                f"special token {token!r} holds a lone surrogate, which is no text (and no "
                "UTF-8); pass real characters"
            ) from None
        if not token:
            raise TrainerConfigError("a special token is the empty string; remove it")
        if token in seen:
            raise TrainerConfigError(f"the special token {token!r} is listed twice; list it once")
        seen.add(token)
        checked.append(token)
    return checked


def check_flags(**flags: object) -> None:
    """Raises :class:`TrainerConfigError` naming the first flag that is not True, False or
    (for the flags whose default it is) None."""
    numpy = sys.modules.get("numpy")  # (a NumPy boolean implies NumPy is loaded: training
    # text loads none, 13 MiB of memory)
    for name, value in flags.items():  # NumPy's booleans are booleans
        numpy_bool = numpy is not None and isinstance(value, numpy.bool_)
        if value is not None and not isinstance(value, bool) and not numpy_bool:
            raise TrainerConfigError(f"{name} must be True or False, got {value!r}")


@contextlib.contextmanager
def naming_files(files: Any) -> Iterator[None]:
    """The core's "the corpus is empty" raised inside, as :class:`CorpusError` naming
    ``files`` (with several, the user could not tell which input held no text)."""
    try:
        yield
    except CorpusError as e:
        if files is None or not str(e).startswith("the corpus is empty: no words were counted"):
            raise
        items = [files] if isinstance(files, str | bytes | os.PathLike) else list(files)
        names = [repr(os.fsdecode(f)) if isinstance(f, str | bytes | os.PathLike) else repr(f)
                 for f in items[:3]]  # fmt: skip
        shown = ", ".join(names) + (f" and {len(items) - 3} more" if len(items) > 3 else "")
        raise CorpusError(
            f"the corpus is empty: no words were counted in {shown} (empty, or white space "
            "alone); pass files that hold text"
        ) from None


def check_counts(**options: int | None) -> None:
    """Raises :class:`TrainerConfigError` naming the first option that is not a
    non-negative integer the core can take (None passes: the option's default).
    ``vocab_size`` must be set, every value fit the core's 64-bit sizes, and
    ``max_token_length`` be at least 1 (``num_threads=0`` means the default)."""
    at_least_one = ("max_token_length",)
    for name, value in options.items():
        if value is None and name != "vocab_size":
            continue
        least = 1 if name in at_least_one else 0
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
            raise TrainerConfigError(
                f"{name} must be an integer >= {least}"
                + (" (or None)" if name != "vocab_size" else "")
                + f", got {value!r}"
            )
        if name == "max_input_chars_per_word" and value > _MAX_WORD:  # what a file may hold
            raise TrainerConfigError(
                f"max_input_chars_per_word must be at most {_MAX_WORD} (the most a "
                f"tokenizer.json loads with), got {value}"
            )
        if value > _MAX_SIZE:
            hint = (
                "training stops when the corpus runs out, so no larger size could matter"
                if name == "vocab_size"
                else "pass a smaller value"
            )
            raise TrainerConfigError(
                f"{name} must be in the range {least}..{_MAX_SIZE} (the largest size the core "
                f"takes), got {value}; {hint}"
            )


def _batches(texts: Iterable[str]) -> Iterator[list[str]]:
    """``texts`` in buffers of about ``_BATCH_CHARS`` characters or ``_BATCH_ITEMS`` texts;
    an item that is not a ``str`` is refused, as is one str or bytes object given whole
    (iterated, it was trained on as one text per character or byte value)."""
    if isinstance(texts, str | bytes | bytearray):
        what = "a str" if isinstance(texts, str) else f"a {type(texts).__name__} object"
        raise TypeError(
            f"texts must be an iterable of texts, got {what}; pass [text] for one text"
            + ("" if isinstance(texts, str) else ", decoded to str")
        )
    batch: list[str] = []
    size = 0
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"texts[{index}] must be a str, got {type(text).__name__}"
                + ("; decode bytes first" if isinstance(text, bytes | bytearray) else "")
            )
        batch.append(text)
        size += len(text)
        if size >= _BATCH_CHARS or len(batch) >= _BATCH_ITEMS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class _Guarded:
    """A core counter used by one call at a time: a count runs with the GIL released, and
    another thread's call then met PyO3's borrow check ("Already borrowed", a raw
    RuntimeError) and its batch was lost. A waiting call lets go of the GIL."""

    def __init__(self, core: Any) -> None:
        import threading

        self.core, self.lock = core, threading.RLock()

    def __getattr__(self, name: str) -> Any:
        with self.lock:
            value = getattr(self.core, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                return value(*args, **kwargs)

        return call

    def __len__(self) -> int:
        with self.lock:
            return len(self.core)


class WordCounts:
    """Counts of pre-tokenized words under one pattern. Threads may count into one
    ``WordCounts`` together (their calls take turns).

    Args:
        pattern: pre-tokenization preset (``"gpt2"``, ``"cl100k"``, ``"o200k"``) or regex.
        special_tokens: strings cut out of the text and never counted.
    """

    def __init__(self, *, pattern: str = "gpt2", special_tokens: Sequence[str] = ()) -> None:
        self._core = _Guarded(_core.WordCounter(pattern, special_list(special_tokens)))

    @classmethod
    def bert(
        cls,
        *,
        lowercase: bool = True,
        strip_accents: bool | None = None,
        handle_chinese_chars: bool = True,
        clean_text: bool = True,
        special_tokens: Sequence[str] = (),
    ) -> WordCounts:
        """Counts of BERT words (normalizer, then whitespace/punctuation split), the input
        of WordPiece training. ``strip_accents`` follows ``lowercase`` when None."""
        counts = cls.__new__(cls)
        strip = lowercase if strip_accents is None else strip_accents
        normalizer = (clean_text, handle_chinese_chars, strip, lowercase)
        counts._core = _Guarded(_core.WordCounter.bert(normalizer, special_list(special_tokens)))
        return counts

    @classmethod
    def from_files(
        cls,
        files: PathLike | Sequence[PathLike],
        *,
        pattern: str = "gpt2",
        special_tokens: Sequence[str] = (),
        num_threads: int | None = None,
        show_progress: bool | None = None,
        text_column: str | None = None,
    ) -> WordCounts:
        """Counts UTF-8 text files as they are (streamed; each line, with its line end, is
        pre-tokenized on its own; a ``.gz`` file is read decompressed), or the
        ``text_column`` of records files (JSON Lines, JSON, csv, tsv, Parquet; each
        record's text pre-tokenized whole, as it is)."""
        counts = cls(pattern=pattern, special_tokens=special_tokens)
        counts.add_files(
            files, text_column=text_column, num_threads=num_threads, show_progress=show_progress
        )
        return counts

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        *,
        pattern: str = "gpt2",
        special_tokens: Sequence[str] = (),
        num_threads: int | None = None,
    ) -> WordCounts:
        """Counts an iterable of texts (each pre-tokenized on its own)."""
        counts = cls(pattern=pattern, special_tokens=special_tokens)
        counts.add_texts(texts, num_threads=num_threads)
        return counts

    @classmethod
    def from_items(
        cls,
        items: Iterable[tuple[bytes, int]],
        *,
        pattern: str = "gpt2",
        special_tokens: Sequence[str] = (),
    ) -> WordCounts:
        """Builds counts from ``(word_bytes, count)`` pairs, e.g. from a distributed job."""
        counts = cls(pattern=pattern, special_tokens=special_tokens)
        for word, n in items:
            counts.add(word, n)
        return counts

    def add_files(
        self,
        files: PathLike | Sequence[PathLike],
        *,
        text_column: str | None = None,
        num_threads: int | None = None,
        show_progress: bool | None = None,
    ) -> None:
        """Counts more files (or a dataset name's corpus), as they are: text files line by
        line (a ``.gz`` one decompressed, byte for byte); of a JSON Lines, JSON, csv, tsv or
        Parquet file, the text of each record whole, from its ``text_column`` (default:
        ``text``, else its only text column)."""
        from lexforge._corpus_files import as_raw_text, document_texts, is_records

        paths = resolve_files(files, text_column)
        plain = [p for p in paths if not is_records(p)]
        if plain:
            refuse_line_breaks(self.special_tokens)
            texts = {as_raw_text(p): p for p in plain}
            with Progress("counting words", unit="B", enabled=show_progress) as bar:
                try:
                    self._core.add_files([str(p) for p in texts], num_threads, bar)
                except CorpusError as e:  # name the user's file, not its decompressed copy
                    message = str(e)
                    for text, source in texts.items():
                        if text != source:
                            message = message.replace(str(text), str(source))
                    raise CorpusError(message) from None
        for path in (p for p in paths if is_records(p)):
            found = 0
            for batch in _batches(document_texts(path, text_column)):
                found += sum(bool(text.strip()) for text in batch)
                self._core.add_texts(batch, num_threads)
            if not found and len(paths) == 1:  # the whole corpus (in a larger one, welcome)
                raise CorpusError(f"{path}: no record holds any text; the corpus would be empty")

    def add_texts(self, texts: Iterable[str], *, num_threads: int | None = None) -> None:
        """Counts more texts; the iterable is consumed in buffers, each counted in parallel
        with the GIL released."""
        if isinstance(texts, str):
            raise TypeError("add_texts takes an iterable of texts, not one str; wrap it in a list")
        done = 0  # texts counted before this batch
        for batch in _batches(texts):
            self._add_batch(batch, done, num_threads)
            done += len(batch)

    def _add_batch(self, batch: list[str], done: int, num_threads: int | None) -> None:
        try:
            self._core.add_texts(batch, num_threads)
        except UnicodeEncodeError as e:
            from lexforge._text_checks import bad_text

            # encoding's message, as a corpus error; the index counts from the iterable's start
            index = next((i for i, text in enumerate(batch) if text is e.object), 0)
            raise CorpusError(str(bad_text(e, where=f"texts[{done + index}]"))) from None

    def add(self, word: bytes, count: int = 1) -> None:
        """Adds ``count`` occurrences of one already pre-tokenized word."""
        if not isinstance(word, bytes | bytearray):
            raise TypeError(f"word must be bytes, got {type(word).__name__}")
        if isinstance(count, bool):
            raise TypeError(f"count must be an integer, got {count!r}")
        try:  # ints and NumPy integers; not floats or str
            count = operator.index(count)
        except TypeError:
            raise TypeError(f"count must be an integer, got {count!r}") from None
        if count < 0:
            raise ValueError(f"count must be non-negative, got {count}")
        if count > _MAX_COUNT:  # the core's counts are 64-bit (a sum past them is refused)
            raise TrainerConfigError(
                f"count must be at most 2^64 - 1 (counts are 64-bit), got {count}; scale "
                "the counts down (divide them by a common factor)"
            )
        self._core.add_word(bytes(word), count)

    def merge(self, other: WordCounts) -> None:
        """Adds every count of ``other`` to this one. Both must be made alike: the same
        pattern (or BERT normalizer) and the same ``special_tokens`` in the same order, else
        :class:`~lexforge.errors.TrainerConfigError` names both. Merging counts into
        themselves doubles them."""
        if other is self or other._core.core is self._core.core:
            for word, n in self.items():
                self.add(word, n)
            return
        first, second = sorted((self._core, other._core), key=id)  # (one order: no deadlock)
        with first.lock, second.lock:
            self._core.merge(other._core.core)

    def __getitem__(self, word: bytes) -> int:
        return int(self._core.get(word))

    def __len__(self) -> int:
        return len(self._core)

    @property
    def total(self) -> int:
        """Total number of words counted."""
        return int(self._core.total)

    @property
    def pattern(self) -> str | None:
        """The pre-tokenization regex (None for BERT words)."""
        return cast("str | None", self._core.pattern)

    @property
    def normalizer(self) -> tuple[bool, bool, bool, bool] | None:
        """For BERT words: ``(clean_text, handle_chinese_chars, strip_accents, lowercase)``."""
        return cast("tuple[bool, bool, bool, bool] | None", self._core.normalizer)

    @property
    def special_tokens(self) -> list[str]:
        """The special tokens cut out of the text."""
        return cast("list[str]", self._core.special_tokens)

    def items(self) -> list[tuple[bytes, int]]:
        """All ``(word, count)`` pairs, sorted by word."""
        return cast("list[tuple[bytes, int]]", self._core.items())

    def save(self, path: PathLike) -> None:
        """Writes the counts as text (a header, then ``<count>\\t<base64 word>`` lines),
        atomically. Load with :meth:`load`."""
        import base64

        items = self.items()
        header = json.dumps(
            {
                "pattern": self.pattern,
                "normalizer": self.normalizer,
                "special_tokens": self.special_tokens,
                "words": len(items),  # so that a file cut at a line's end is found out
            }
        )
        lines = [f"{_HEADER}\t{header}"]
        lines += [f"{n}\t{base64.b64encode(w).decode('ascii')}" for w, n in items]
        atomic_write(Path(path), "\n".join(lines) + "\n")

    @classmethod
    def load(cls, path: PathLike) -> WordCounts:
        """Reads counts written by :meth:`save`."""
        path = Path(path)
        lines = read_text(path).split("\n")
        first = lines[0].split("\t", 1)
        if first[0] != _HEADER or len(first) != 2:
            raise CorpusError(f"{path}:1: not a lexforge word-count file (expected '{_HEADER}')")
        try:
            meta = loads_json(first[1])
            counts = cls._empty(meta["pattern"], meta.get("normalizer"), meta["special_tokens"])
        except (ValueError, KeyError, TypeError):
            raise CorpusError(f"{path}:1: malformed header") from None
        import base64

        words = 0
        # the new counter is no other thread's yet, and each line is checked here: its
        # words go to the core as they are, without add's checks and lock (they were
        # two thirds of the time: 1.6 M words, 3.1 s then, 0.9 s now)
        add_word = counts._core.core.add_word
        for lineno, line in enumerate(lines[1:], start=2):
            if not line:
                continue
            count, _, word = line.partition("\t")
            try:
                # (a line cut short after its count, "5" or "5\t", is no word: save writes none
                # empty; int would also take " 5", "1_0" and other digits than 0-9; a
                # negative count is named below, "-0" is no count save writes)
                digits = count.removeprefix("-")
                plain = digits.isascii() and digits.isdigit() and (digits == count or int(digits))
                if not (word and plain):
                    raise ValueError
                n, text = int(count), base64.b64decode(word, validate=True)
            except ValueError:
                raise CorpusError(f"{path}:{lineno}: expected '<count>\\t<base64 word>'") from None
            if not 0 <= n < 2**64:  # counts are 64-bit
                raise CorpusError(f"{path}:{lineno}: the count {n} is not in [0, 2**64)")
            add_word(text, n)
            words += 1
        if isinstance(meta.get("words"), int) and meta["words"] != words:  # (older files: none)
            raise CorpusError(
                f"{path}: holds {words} words of the {meta['words']} its header lists (the "
                "file was cut short, or edited); save the counts again"
            )
        return counts

    @classmethod
    def _empty(
        cls, pattern: str | None, normalizer: Sequence[bool] | None, special_tokens: list[str]
    ) -> WordCounts:
        """No counts yet, made as counts with these ``pattern``, ``normalizer`` (BERT words
        when ``pattern`` is None) and ``special_tokens`` were."""
        if pattern is not None:
            return cls(pattern=pattern, special_tokens=special_tokens)
        counts = cls.__new__(cls)
        norm = None if normalizer is None else tuple(normalizer)
        if norm is not None and len(norm) != 4:
            raise ValueError(f"a BERT normalizer is 4 switches, got {normalizer!r}")
        counts._core = _Guarded(_core.WordCounter.bert(norm, special_tokens))
        return counts

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickling and ``copy`` (counts made in worker processes, then merged)."""
        return (_restore_counts, (self.pattern, self.normalizer, self.special_tokens, self.items()))

    def __repr__(self) -> str:
        rule = f"pattern={self.pattern!r}" if self.pattern is not None else "bert"
        return f"WordCounts(words={len(self)}, total={self.total}, {rule})"


def _restore_counts(
    pattern: str | None,
    normalizer: Sequence[bool] | None,
    special_tokens: list[str],
    items: list[tuple[bytes, int]],
) -> WordCounts:
    """Pickled counts, unpickled (see :meth:`WordCounts.__reduce__`)."""
    counts = WordCounts._empty(pattern, normalizer, special_tokens)
    for word, n in items:
        counts._core.add_word(word, n)
    return counts
