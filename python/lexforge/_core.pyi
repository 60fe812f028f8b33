# Type stubs for the Rust extension module lexforge._core (rust/py/). Checked in CI with
# `python -m mypy.stubtest lexforge._core`; keep in sync with the #[pymethods].
import os
from collections.abc import Callable, Sequence
from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "BertTokenizer",
    "Bpe",
    "ByteLevelTables",
    "InstanceBlock",
    "Masker",
    "ShardCorpus",
    "WordCounter",
    "__version__",
    "offset_lists",
    "pad_lists",
    "plan_file",
    "pretokenize",
    "read_byte_level",
    "read_rank_lines",
    "read_vocab_lines",
    "resolve_pattern",
    "resolve_threads",
    "shard_order",
    "split_sentences",
    "starts_document",
    "tokenize_piece",
    "tokenize_text",
    "train_bpe",
    "train_wordpiece",
]

__version__: str

_Ids = Sequence[int] | npt.NDArray[np.int64] | npt.NDArray[np.uint32] | npt.NDArray[np.int32]
_Progress = Callable[[int, int], object]

@final
class ByteLevelTables: ...

def read_rank_lines(text: str) -> list[tuple[bytes, int]] | None: ...
def read_vocab_lines(text: str) -> tuple[list[str], list[str]] | None: ...
def read_byte_level(
    vocab: object, merges: object, added: Sequence[tuple[str, int, bool]]
) -> ByteLevelTables | None: ...

@final
class Bpe:
    @staticmethod
    def from_merges(
        vocab: Sequence[tuple[bytes, int]] | ByteLevelTables,
        merges: Sequence[tuple[bytes, bytes]],
        specials: Sequence[tuple[str, int]],
        pattern: str,
        ignore_merges: bool = False,
        lstrip: Sequence[int] = ...,
        added_tokens: Sequence[tuple[str, int]] = ...,
        rstrip: Sequence[int] = ...,
        single_word: Sequence[int] = ...,
        normalized: Sequence[int] = ...,
        normalizer: Sequence[str] = ...,
        add_prefix_space: str = "",
    ) -> Bpe: ...
    @staticmethod
    def from_ranks(
        ranks: Sequence[tuple[bytes, int]],
        specials: Sequence[tuple[str, int]],
        pattern: str,
        lstrip: Sequence[int] = ...,
        added_tokens: Sequence[tuple[str, int]] = ...,
        rstrip: Sequence[int] = ...,
        single_word: Sequence[int] = ...,
        normalized: Sequence[int] = ...,
        normalizer: Sequence[str] = ...,
        add_prefix_space: str = "",
    ) -> Bpe: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...
    def encode(
        self,
        text: str,
        allowed: Sequence[int] | None = None,
        disallowed: Sequence[int] | None = None,
    ) -> list[int]: ...
    def encode_array(
        self,
        text: str,
        allowed: Sequence[int] | None = None,
        disallowed: Sequence[int] | None = None,
    ) -> npt.NDArray[np.uint32]: ...
    def encode_with_offsets(
        self,
        text: str,
        allowed: Sequence[int] | None = None,
        disallowed: Sequence[int] | None = None,
        trim: bool | None = None,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]: ...
    def encode_batch_lists(
        self,
        texts: Sequence[str] | Sequence[Sequence[str]],
        pairs: Sequence[str] | Sequence[Sequence[str]] | None = None,
        allowed: Sequence[int] | None = None,
        disallowed: Sequence[int] | None = None,
        template: tuple[Sequence[tuple[str, int, int]], Sequence[tuple[str, int, int]]]
        | None = None,
        add_special_tokens: bool = True,
        truncation: tuple[int, str, int, str] | None = None,
        padding: tuple[int | None, int | None, int, int, str] | None = None,
        overflow: bool = False,
        num_threads: int | None = None,
        words: bool = False,
    ) -> tuple[list[list[int]], list[int]]: ...
    def encode_batch_arrays(
        self,
        texts: Sequence[str] | Sequence[Sequence[str]],
        fields: Sequence[str],
        pairs: Sequence[str] | Sequence[Sequence[str]] | None = None,
        allowed: Sequence[int] | None = None,
        disallowed: Sequence[int] | None = None,
        template: tuple[Sequence[tuple[str, int, int]], Sequence[tuple[str, int, int]]]
        | None = None,
        add_special_tokens: bool = True,
        truncation: tuple[int, str, int, str] | None = None,
        padding: tuple[int | None, int | None, int, int, str] | None = None,
        overflow: bool = False,
        trim: bool | None = None,
        num_threads: int | None = None,
        words: bool = False,
    ) -> dict[str, npt.NDArray[np.int64]]: ...
    def encode_bytes(
        self,
        data: bytes,
        allowed: Sequence[int] | None = None,
        disallowed: Sequence[int] | None = None,
    ) -> list[int]: ...
    def encode_batch(
        self,
        texts: Sequence[str],
        allowed: Sequence[int] | None = None,
        disallowed: Sequence[int] | None = None,
        num_threads: int | None = None,
        as_arrays: bool = False,
    ) -> list[list[int]] | list[npt.NDArray[np.uint32]]: ...
    def encode_batch_flat(
        self,
        texts: Sequence[str],
        allowed: Sequence[int] | None = None,
        disallowed: Sequence[int] | None = None,
        num_threads: int | None = None,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]: ...
    def decode_bytes(self, ids: _Ids) -> bytes: ...
    def decode_plain(self, ids: _Ids) -> str | None: ...
    def token_bytes(self, id: int) -> bytes | None: ...
    def token_id(self, token: bytes) -> int | None: ...
    def vocab(self) -> list[tuple[bytes, int]]: ...
    def merges(self) -> list[tuple[int, int]]: ...
    def with_tokens(
        self,
        specials: list[tuple[str, int]],
        added_tokens: list[tuple[str, int]] = ...,
        lstrip: list[int] = ...,
        rstrip: list[int] = ...,
        single_word: list[int] = ...,
        normalized: list[int] = ...,
    ) -> Bpe: ...
    def model_span(self) -> tuple[int, int | None]: ...
    def byte_level_tables(self) -> tuple[dict[str, int], list[str]]: ...
    def specials(self) -> list[tuple[str, int]]: ...
    def lstrip(self) -> list[int]: ...
    def added_tokens(self) -> list[tuple[str, int]]: ...
    def flagged(self, name: str) -> list[int]: ...
    def normalize(self, text: str) -> str: ...
    @property
    def normalizer(self) -> list[str]: ...
    @property
    def add_prefix_space(self) -> str: ...
    @property
    def pattern(self) -> str: ...
    @property
    def preset(self) -> str | None: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def rule(self) -> str: ...
    @property
    def ignore_merges(self) -> bool: ...

@final
class BertTokenizer:
    def __new__(
        cls,
        vocab: Sequence[str],
        unk_token: str,
        prefix: str,
        max_input_chars_per_word: int,
        normalizer: tuple[bool, bool, bool, bool] | None,
        specials: Sequence[tuple[str, int]],
        single: Sequence[tuple[str, int, int]],
        pair: Sequence[tuple[str, int, int]],
        added: int = 0,
        added_tokens: Sequence[tuple[str, int]] = ...,
        lstrip: Sequence[int] = ...,
        rstrip: Sequence[int] = ...,
        single_word: Sequence[int] = ...,
        normalized: Sequence[int] = ...,
        steps: Sequence[str] = ...,
        splits: Sequence[str] = ...,
    ) -> BertTokenizer: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...
    def encode(
        self, text: str, pair: str | None = None, add_special_tokens: bool = True
    ) -> list[int]: ...
    def encode_batch_lists(
        self,
        texts: Sequence[str] | Sequence[Sequence[str]],
        pairs: Sequence[str] | Sequence[Sequence[str]] | None = None,
        add_special_tokens: bool = True,
        truncation: tuple[int, str, int, str] | None = None,
        padding: tuple[int | None, int | None, int, int, str] | None = None,
        overflow: bool = False,
        num_threads: int | None = None,
        words: bool = False,
    ) -> tuple[list[list[int]], list[int]]: ...
    def encode_batch_arrays(
        self,
        texts: Sequence[str] | Sequence[Sequence[str]],
        fields: Sequence[str],
        pairs: Sequence[str] | Sequence[Sequence[str]] | None = None,
        add_special_tokens: bool = True,
        truncation: tuple[int, str, int, str] | None = None,
        padding: tuple[int | None, int | None, int, int, str] | None = None,
        overflow: bool = False,
        num_threads: int | None = None,
        words: bool = False,
    ) -> dict[str, npt.NDArray[np.int64]]: ...
    def vocab(self) -> list[str]: ...
    def token_to_id(self, token: str) -> int | None: ...
    def with_tokens(
        self,
        new: list[str],
        specials: list[tuple[str, int]],
        added_tokens: list[tuple[str, int]] = ...,
        lstrip: list[int] = ...,
        rstrip: list[int] = ...,
        single_word: list[int] = ...,
        normalized: list[int] = ...,
    ) -> BertTokenizer: ...
    def specials(self) -> list[tuple[str, int]]: ...
    def added_tokens(self) -> list[tuple[str, int]]: ...
    def flagged(self, name: str) -> list[int]: ...
    def normalize(self, text: str) -> str: ...
    def templates(self) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]: ...
    @property
    def normalizer(self) -> tuple[bool, bool, bool, bool] | None: ...
    @property
    def pipeline(self) -> tuple[list[str], list[str]]: ...
    @property
    def wordpiece(self) -> tuple[str, str, int]: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def model_size(self) -> int: ...

@final
class WordCounter:
    def __new__(cls, pattern: str, special_tokens: Sequence[str] = ...) -> WordCounter: ...
    @staticmethod
    def bert(
        normalizer: tuple[bool, bool, bool, bool] | None, special_tokens: Sequence[str] = ...
    ) -> WordCounter: ...
    def add_texts(self, texts: Sequence[str], num_threads: int | None = None) -> None: ...
    def add_files(
        self,
        paths: Sequence[str],
        num_threads: int | None = None,
        progress: _Progress | None = None,
    ) -> None: ...
    def add_word(self, word: bytes, count: int) -> None: ...
    def merge(self, other: WordCounter) -> None: ...
    def get(self, word: bytes) -> int: ...
    def items(self) -> list[tuple[bytes, int]]: ...
    def __len__(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def pattern(self) -> str | None: ...
    @property
    def normalizer(self) -> tuple[bool, bool, bool, bool] | None: ...
    @property
    def special_tokens(self) -> list[str]: ...

def train_bpe(
    counter: WordCounter,
    vocab_size: int,
    special_tokens: Sequence[str],
    min_frequency: int = 0,
    max_token_length: int | None = None,
    progress: _Progress | None = None,
    consume: bool = False,
) -> Bpe: ...
def train_wordpiece(
    counter: WordCounter,
    vocab_size: int,
    special_tokens: Sequence[str],
    min_frequency: int = 0,
    limit_alphabet: int | None = None,
    prefix: str = ...,
    max_token_length: int | None = None,
    progress: _Progress | None = None,
    max_word_chars: int | None = None,
) -> list[str]: ...
def pretokenize(pattern: str, text: str) -> list[str]: ...
def resolve_pattern(pattern: str) -> tuple[str, str | None]: ...
def resolve_threads(num_threads: int | None = None) -> int: ...

_Flags = npt.NDArray[np.uint8] | npt.NDArray[np.int64] | npt.NDArray[np.int32]

@final
class Masker:
    def __new__(
        cls,
        special_ids: Sequence[int],
        vocab_size: int,
        mask_token_id: int,
        probability: float,
        mask_prob: float,
        random_prob: float,
        select: str,
        whole_word: bool,
        seed: int,
        span_p: float = 0.2,
        max_span: int = 10,
        continuation_ids: Sequence[int] | None = None,
        word_end_ids: Sequence[int] | None = None,
        token_bytes: bytes | None = None,
        token_ends: Sequence[int] | None = None,
    ) -> Masker: ...
    def mask(
        self,
        input_ids: npt.NDArray[Any],
        step: int,
        special_mask: _Flags | None = None,
        word_ids: npt.NDArray[np.int64] | None = None,
        probability: float | None = None,
        num_threads: int | None = None,
        word_starts: _Flags | None = None,
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]: ...

_Offsets = npt.NDArray[np.int64]
_Tokenized = tuple[npt.NDArray[np.uint32], _Offsets, _Offsets]

def pad_lists(
    rows: list[Any],
    pad: int,
    name: str,
    multiple: int = 1,
    min_width: int = 0,
    left: bool = False,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def offset_lists(rows: Sequence[npt.NDArray[np.int64]]) -> list[list[tuple[int, int]]]: ...
def split_sentences(text: str) -> list[str]: ...
def plan_file(path: str | os.PathLike[str], piece_bytes: int) -> list[tuple[int, int]]: ...
def starts_document(path: str | os.PathLike[str], start: int) -> bool: ...
def tokenize_piece(
    tokenizer: Bpe | BertTokenizer,
    path: str | os.PathLike[str],
    start: int,
    end: int,
    sentences: str = "split",
    num_threads: int | None = None,
) -> _Tokenized: ...
def tokenize_text(
    tokenizer: Bpe | BertTokenizer,
    text: str,
    sentences: str = "split",
    num_threads: int | None = None,
) -> _Tokenized: ...
def shard_order(n_shards: int, seed: int, epoch: int) -> list[int]: ...

@final
class ShardCorpus:
    def __new__(
        cls,
        shards: Sequence[tuple[str, npt.NDArray[Any], _Offsets, _Offsets]],
        vocab_size: int,
        continues: Sequence[bool] | None = None,
    ) -> ShardCorpus: ...
    @property
    def n_docs(self) -> int: ...
    @property
    def n_shards(self) -> int: ...
    def build_block(
        self,
        shard: int,
        epoch: int,
        max_seq_len: int,
        short_seq_prob: float,
        objective: str,
        seed: int,
        num_threads: int | None = None,
        continuation_ids: Sequence[int] | None = None,
    ) -> InstanceBlock: ...
    def materialize(
        self,
        parts: Sequence[tuple[InstanceBlock, int, int]],
        cls: int,
        sep: int,
        pad: int,
        width: int | None = None,
        multiple_of: int = 1,
    ) -> dict[str, npt.NDArray[np.int64] | npt.NDArray[np.uint8]]: ...

@final
class InstanceBlock:
    def __len__(self) -> int: ...
    def lengths(self) -> npt.NDArray[np.uint32]: ...
    def labels(self) -> npt.NDArray[np.int8]: ...
    def spans(self) -> npt.NDArray[np.int64]: ...
