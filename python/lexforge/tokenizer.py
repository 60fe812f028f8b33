"""The byte-level BPE :class:`Tokenizer`: train, load, save, encode, decode.

Policy lives here (defaults, special-token safety, file formats, argument checks); the
mechanism is the Rust core (``lexforge._core.Bpe``), which runs every O(n) step with the
GIL released. Special tokens follow tiktoken's safety rule: by default a special token's
text inside ordinary input raises :class:`SpecialTokenError` instead of silently becoming
a control token; pass ``allowed_special`` to encode it, or ``disallowed_special=()`` to
encode it as plain text.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from lexforge import _core
from lexforge._progress import Progress
from lexforge.formats import detect, gpt2, hf_json, tiktoken
from lexforge.training import PathLike, WordCounts

if TYPE_CHECKING:  # numpy loads only when arrays are used, so training stays lean
    from typing import TypeAlias

    import numpy as np
    import numpy.typing as npt

    Ids: TypeAlias = Sequence[int] | npt.NDArray[np.integer]

__all__ = ["Tokenizer"]

SpecialSet = Literal["all"] | Collection[str]


class Tokenizer:
    """A byte-level BPE tokenizer (GPT-2 / tiktoken family).

    Build one with :meth:`train_bpe`, :meth:`from_counts`, :meth:`from_file`,
    :meth:`from_tiktoken` or :meth:`from_gpt2`.
    """

    def __init__(self, core: _core.Bpe) -> None:
        self._core = core
        self._specials: dict[str, int] = dict(core.specials())
        self._special_index = {text: i for i, (text, _) in enumerate(core.specials())}

    # ----------------------------------------------------------------- training
    @classmethod
    def train_bpe(
        cls,
        files: PathLike | Sequence[PathLike] | None = None,
        *,
        texts: Iterable[str] | None = None,
        vocab_size: int,
        special_tokens: Sequence[str] = (),
        pattern: str = "gpt2",
        min_frequency: int = 0,
        max_token_length: int | None = None,
        num_threads: int | None = None,
        show_progress: bool | None = None,
    ) -> Tokenizer:
        """Trains a byte-level BPE tokenizer.

        Args:
            files: UTF-8 text file(s), streamed line by line, or a dataset name such as
                ``"wiki-leads"``. Give ``files``, ``texts`` or both.
            texts: any iterable of strings (consumed in buffers, trained without the GIL).
            vocab_size: total ids: special tokens + 256 bytes + merges.
            special_tokens: strings that get the first ids and are never split or merged;
                they are cut out of the training text.
            pattern: pre-tokenization preset (``"gpt2"``, ``"cl100k"``, ``"o200k"``) or regex.
            min_frequency: stop when the best pair occurs fewer times than this.
            max_token_length: never create tokens longer than this many bytes.
            num_threads: threads for counting (default: ``LEXFORGE_NUM_THREADS`` or all
                cores). The result does not depend on it.
            show_progress: progress bars on stderr (default: when stderr is a terminal).
        """
        if files is None and texts is None:
            raise TypeError("train_bpe needs files=... or texts=...")
        counts = WordCounts(pattern=pattern, special_tokens=special_tokens)
        if files is not None:
            counts.add_files(files, num_threads=num_threads, show_progress=show_progress)
        if texts is not None:
            counts.add_texts(texts, num_threads=num_threads)
        # the counts are ours alone: let training consume them and free them early
        return cls._train(
            counts,
            vocab_size,
            list(special_tokens),
            min_frequency,
            max_token_length,
            show_progress,
            True,
        )

    @classmethod
    def from_counts(
        cls,
        counts: WordCounts,
        *,
        vocab_size: int,
        special_tokens: Sequence[str] | None = None,
        min_frequency: int = 0,
        max_token_length: int | None = None,
        show_progress: bool | None = None,
    ) -> Tokenizer:
        """Runs the merge phase on word counts (possibly merged from many shards).

        Merges are chosen by highest count; ties go to the smallest (left, right) pair in
        training ids (bytes by value, then merges in creation order), so the result is a
        pure function of the counts. ``special_tokens`` defaults to the counts' own.
        """
        specials = list(counts.special_tokens if special_tokens is None else special_tokens)
        return cls._train(
            counts, vocab_size, specials, min_frequency, max_token_length, show_progress, False
        )

    @classmethod
    def _train(
        cls,
        counts: WordCounts,
        vocab_size: int,
        specials: list[str],
        min_frequency: int,
        max_token_length: int | None,
        show_progress: bool | None,
        consume: bool,
    ) -> Tokenizer:
        with Progress("learning merges", enabled=show_progress) as bar:
            core = _core.train_bpe(
                counts._core, vocab_size, specials, min_frequency, max_token_length, bar, consume
            )
        return cls(core)

    # ----------------------------------------------------------------- files
    @classmethod
    def from_file(
        cls,
        path: PathLike,
        *,
        pattern: str | None = None,
        special_tokens: dict[str, int] | Sequence[str] | None = None,
    ) -> Tokenizer:
        """Loads a tokenizer, picking the format from the file: HF ``tokenizer.json``,
        GPT-2 ``vocab.json``/``encoder.json`` (with ``merges.txt``/``vocab.bpe`` beside it,
        or a directory holding both), or a tiktoken rank file (see :meth:`from_tiktoken`)."""
        path = Path(path)
        kind, doc = detect(path)
        if kind == "hf":
            return cls(hf_json.load(path / "tokenizer.json" if path.is_dir() else path, doc))
        if kind == "gpt2":
            vocab_path, merges_path = gpt2.find_pair(path)
            names = None if special_tokens is None else tuple(special_tokens)
            return cls(
                gpt2.load(vocab_path, merges_path, names, doc if path == vocab_path else None)
            )
        specials = special_tokens if isinstance(special_tokens, dict) else None
        return cls.from_tiktoken(path, pattern=pattern, special_tokens=specials)

    @classmethod
    def from_gpt2(
        cls,
        path: PathLike,
        merges: PathLike | None = None,
        *,
        special_tokens: Sequence[str] | None = None,
    ) -> Tokenizer:
        """Loads GPT-2's ``vocab.json`` + ``merges.txt`` (``path`` may be either file or
        their directory; ``merges`` names the merges file explicitly)."""
        vocab_path, merges_path = gpt2.find_pair(Path(path))
        if merges is not None:
            merges_path = Path(merges)
        specials = None if special_tokens is None else tuple(special_tokens)
        return cls(gpt2.load(vocab_path, merges_path, specials))

    @classmethod
    def from_tiktoken(
        cls,
        path: PathLike,
        *,
        pattern: str | None = None,
        special_tokens: dict[str, int] | None = None,
    ) -> Tokenizer:
        """Loads a tiktoken rank file. ``pattern`` and ``special_tokens`` default to the
        preset the file is named after (``cl100k_base.tiktoken`` -> cl100k)."""
        path = Path(path)
        preset = tiktoken.preset_for(path)
        if pattern is None:
            if preset is None:
                raise ValueError(
                    f"{path.name} is not named after a known encoding; pass pattern= "
                    "(a preset such as 'cl100k' or a regex)"
                )
            pattern = preset
        if special_tokens is None:
            special_tokens = tiktoken.PRESET_SPECIALS.get(preset or pattern, {})
        return cls(tiktoken.load(path, pattern, special_tokens))

    def save(self, path: PathLike, *, format: Literal["hf", "gpt2", "tiktoken"] = "hf") -> None:
        """Saves the tokenizer: ``"hf"`` writes ``tokenizer.json`` (loads in HF
        ``tokenizers`` with identical ids; a directory path gets ``tokenizer.json`` inside),
        ``"gpt2"`` writes ``vocab.json`` + ``merges.txt`` into the directory ``path``,
        ``"tiktoken"`` writes a rank file. Writes are atomic."""
        path = Path(path)
        if format == "hf":
            hf_json.save(self._core, path / "tokenizer.json" if path.is_dir() else path)
        elif format == "gpt2":
            gpt2.save(self._core, path)
        elif format == "tiktoken":
            tiktoken.save(self._core, path)
        else:
            raise ValueError(f"unknown format {format!r}; use 'hf', 'gpt2' or 'tiktoken'")

    # ----------------------------------------------------------------- encoding
    def _policy(
        self, allowed: SpecialSet, disallowed: SpecialSet
    ) -> tuple[list[int] | None, list[int] | None]:
        return self._indices(allowed, "allowed_special"), self._indices(
            disallowed, "disallowed_special"
        )

    def _indices(self, names: SpecialSet, arg: str) -> list[int] | None:
        if names == "all":
            return None
        if isinstance(names, str):
            raise TypeError(
                f'{arg} must be "all" or a collection of special tokens, not the string {names!r}'
            )
        out = []
        for name in names:
            i = self._special_index.get(name)
            if i is None:
                known = ", ".join(repr(s) for s in self._specials) or "none"
                raise ValueError(
                    f"{arg} names {name!r}, which is not a special token (special tokens: {known})"
                )
            out.append(i)
        return out

    def encode(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
    ) -> list[int]:
        """Encodes one text to a list of ids.

        Args:
            allowed_special: special tokens to encode as such (``"all"`` for every one).
            disallowed_special: special tokens whose text raises :class:`SpecialTokenError`
                if found (default ``"all"``: every special not allowed). Special tokens in
                neither set are encoded as ordinary text.
        """
        return self._core.encode(text, *self._policy(allowed_special, disallowed_special))

    def encode_ordinary(self, text: str) -> list[int]:
        """Encodes ``text`` treating special tokens' text as ordinary text."""
        return self._core.encode(text, [], [])

    def encode_to_numpy(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
    ) -> npt.NDArray[np.uint32]:
        """Like :meth:`encode`, returning a uint32 array of shape (n,) without copying."""
        return self._core.encode_array(text, *self._policy(allowed_special, disallowed_special))

    def encode_with_offsets(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
        """Encodes and returns ``(ids, offsets)``: uint32 (n,) and int64 (n, 2), where
        ``text[start:end]`` is the span of each token (character indices). A token holding
        part of a multi-byte character spans that whole character."""
        return self._core.encode_with_offsets(
            text, *self._policy(allowed_special, disallowed_special)
        )

    def encode_bytes(
        self,
        data: bytes,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
    ) -> list[int]:
        """Encodes raw bytes, invalid UTF-8 included: valid stretches are encoded as text,
        each invalid sequence as bytes of its own. ``decode_bytes`` inverts it exactly."""
        return self._core.encode_bytes(
            bytes(data), *self._policy(allowed_special, disallowed_special)
        )

    @overload
    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        allowed_special: SpecialSet = ...,
        disallowed_special: SpecialSet = ...,
        num_threads: int | None = ...,
        return_tensors: None = ...,
    ) -> list[list[int]]: ...
    @overload
    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        allowed_special: SpecialSet = ...,
        disallowed_special: SpecialSet = ...,
        num_threads: int | None = ...,
        return_tensors: Literal["np"],
    ) -> list[npt.NDArray[np.uint32]]: ...
    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
        num_threads: int | None = None,
        return_tensors: Literal["np"] | None = None,
    ) -> list[list[int]] | list[npt.NDArray[np.uint32]]:
        """Encodes many texts in parallel with the GIL released.

        Returns a list of id lists, or with ``return_tensors="np"`` a list of uint32 arrays.
        ``num_threads`` defaults to ``LEXFORGE_NUM_THREADS`` or all cores; results do not
        depend on it.
        """
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a sequence of texts; for one text use encode()")
        if return_tensors not in (None, "np"):
            raise ValueError(f"return_tensors must be None or 'np', got {return_tensors!r}")
        allowed, disallowed = self._policy(allowed_special, disallowed_special)
        return self._core.encode_batch(
            list(texts), allowed, disallowed, num_threads, return_tensors == "np"
        )

    def encode_batch_flat(
        self,
        texts: Sequence[str],
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
        num_threads: int | None = None,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
        """Encodes many texts into one flat uint32 array ``ids`` plus int64 boundaries
        ``cu`` of shape (len(texts) + 1,): text ``i`` is ``ids[cu[i]:cu[i + 1]]``."""
        if isinstance(texts, str):
            raise TypeError("encode_batch_flat takes a sequence of texts")
        allowed, disallowed = self._policy(allowed_special, disallowed_special)
        return self._core.encode_batch_flat(list(texts), allowed, disallowed, num_threads)

    # ----------------------------------------------------------------- decoding
    def decode_bytes(self, ids: Ids) -> bytes:
        """The bytes of ``ids``; raises :class:`TokenIdError` for an id not in the vocabulary."""
        return self._core.decode_bytes(_as_ids(ids))

    def decode(self, ids: Ids, *, errors: str = "replace") -> str:
        """The text of ``ids``. Bytes that are not valid UTF-8 (a sequence cut mid-character)
        are handled by ``errors`` as in ``bytes.decode`` (default: U+FFFD)."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def decode_batch(self, batch: Iterable[Ids], *, errors: str = "replace") -> list[str]:
        """Decodes each sequence of ``batch``."""
        return [self.decode(ids, errors=errors) for ids in batch]

    # ----------------------------------------------------------------- vocabulary
    @property
    def vocab_size(self) -> int:
        """One more than the largest id (special tokens included)."""
        return self._core.vocab_size

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special tokens and their ids."""
        return dict(self._specials)

    @property
    def pattern(self) -> str:
        """The pre-tokenization regex."""
        return self._core.pattern

    @property
    def preset(self) -> str | None:
        """``"gpt2"``, ``"cl100k"`` or ``"o200k"`` when the pattern is a preset."""
        return self._core.preset

    def token_to_id(self, token: bytes | str) -> int | None:
        """The id of a token given as bytes, or as a special token's text."""
        if isinstance(token, str):
            if token in self._specials:
                return self._specials[token]
            token = token.encode("utf-8")
        return self._core.token_id(token)

    def id_to_token(self, id: int) -> bytes:
        """The bytes of a token; raises :class:`TokenIdError` for an unknown id."""
        return self.decode_bytes([id])

    def vocab(self) -> dict[bytes, int]:
        """Every mergeable token (bytes) and its id."""
        return dict(self._core.vocab())

    def merges(self) -> list[tuple[bytes, bytes]]:
        """The merges in priority order, as pairs of token bytes."""
        text = {tid: tok for tok, tid in self._core.vocab()}
        return [(text[a], text[b]) for a, b in self._core.merges()]

    def __repr__(self) -> str:
        return (
            f"Tokenizer(vocab_size={self.vocab_size}, pattern={self.preset or self.pattern!r}, "
            f"special_tokens={len(self._specials)})"
        )


def _as_ids(ids: Ids) -> npt.NDArray[Any] | list[int]:
    np = sys.modules.get("numpy")  # an array can only exist if numpy is loaded
    if np is not None and isinstance(ids, np.ndarray):
        if ids.ndim != 1:
            raise ValueError(
                f"ids must be one-dimensional, got shape {ids.shape}; decode rows with decode_batch"
            )
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
        contiguous: npt.NDArray[Any] = np.ascontiguousarray(ids, dtype=np.int64)
        return contiguous
    return list(ids)
