"""Masked-language-model masking: ``mask_tokens`` and masking-rate schedules.

The work runs in Rust (``lexforge._core.mask_tokens``) in parallel over rows with the GIL
released; each row draws from a stream seeded by ``(seed, step, row)``, so the output
depends only on the inputs and never on the thread count. This module owns the policy:
argument checking, defaults, dtypes, and NumPy/torch in and out.
"""

from __future__ import annotations

import itertools
import math
import operator
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from lexforge import _core
from lexforge._mask_words import continuation_ids, packed_bytes, vocabulary_bytes, word_end_ids
from lexforge.batch import MAX_THREADS, check_int
from lexforge.errors import ConfigError

# the largest int64 as a uint64: numpy 1 compares a uint64 with a Python int as floats, so
# that 2**63 + 5 came out no larger than 2**63 - 1
INT64_MAX = np.uint64(np.iinfo(np.int64).max)

__all__ = [
    "Masker",
    "Schedule",
    "continuation_ids",
    "cosine_schedule",
    "linear_schedule",
    "mask_tokens",
    "word_end_ids",
]

Schedule = Callable[[int], float]
Mode = Literal["bernoulli", "exact", "span"]
_ID_DTYPES = (np.int64, np.int32, np.uint32, np.uint16)


@dataclass(frozen=True)
class _Ramp:
    """A rate going from ``start`` to ``end`` over ``steps``, then staying at ``end``: a
    plain object (not a closure), so that it pickles into ``spawn``-started workers."""

    start: float
    end: float
    steps: int
    cosine: bool

    def __call__(self, step: int) -> float:
        done = min(max(step, 0), self.steps) / self.steps
        if self.cosine:
            return self.end + (self.start - self.end) * 0.5 * (1 + math.cos(math.pi * done))
        return self.start + (self.end - self.start) * done


def linear_schedule(start: float, end: float, steps: int) -> Schedule:
    """A masking rate going linearly from ``start`` to ``end`` over ``steps``, then staying
    at ``end`` (e.g. 0.30 decaying to 0.15)."""
    return _ramp(start, end, steps, cosine=False)


def cosine_schedule(start: float, end: float, steps: int) -> Schedule:
    """A masking rate going from ``start`` to ``end`` along half a cosine over ``steps``."""
    return _ramp(start, end, steps, cosine=True)


def _ramp(start: Any, end: Any, steps: Any, cosine: bool) -> _Ramp:
    """The schedule, its rates numbers in [0, 1] and ``steps`` a positive integer."""
    for name, rate in (("start", start), ("end", end)):
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
            raise ConfigError(f"the schedule's {name} rate must be a number, got {rate!r}")
        if not 0.0 <= float(rate) <= 1.0:
            raise ConfigError(
                f"the schedule's {name} rate must be in [0, 1] (a share of the tokens), got "
                f"{rate!r}"
            )
    try:
        steps = check_int("steps", steps, least=1)
    except ConfigError as e:
        raise ConfigError(f"{e} (the schedule's length in steps)") from None
    return _Ramp(float(start), float(end), steps, cosine=cosine)


def _array(value: Any, name: str) -> npt.NDArray[Any]:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        if value.device.type == "meta":
            raise ConfigError(f"{name} is a meta tensor (no data); pass one that holds values")
        if value.dtype == torch.bfloat16:  # NumPy has no bfloat16: as float32, checked after
            value = value.float()
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except ValueError:  # rows of different lengths
        raise ConfigError(
            f"{name} must be a rectangular (batch, length) array; rows of different lengths "
            "need padding first (encode_batch(..., padding=True))"
        ) from None
    if array.ndim == 0 and array.dtype == object:  # a generator, a dict...: no array at all
        raise ConfigError(
            f"{name} must be a (batch, length) array, tensor or list of rows, got "
            f"{type(value).__name__}"
        )
    if not array.dtype.isnative:  # big-endian data: the core reads native integers
        array = array.astype(array.dtype.newbyteorder("="))
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ConfigError(f"{name} must have shape (batch, length), got shape {array.shape}")
    return array


MASK_TOKENS = ("[MASK]", "<mask>", "<MASK>")


def _flags(mask: Any, shape: tuple[int, ...], name: str = "special_tokens_mask") -> Any:
    """Per-position flags (``special_tokens_mask``, ``word_starts``) as an array of
    ``shape``: bool or numbers (nonzero marks a position); text or objects are refused
    (``"0" != 0`` would mark every position)."""
    flags = _array(mask, name)
    if flags.shape != shape:  # said as given: a (length,) row is (1, length) here
        given = tuple(mask.shape) if hasattr(mask, "shape") else np.shape(mask)
        raise ConfigError(f"{name} has shape {given}, input_ids {shape}")
    if flags.dtype.kind not in "biuf":
        hint = (
            "pass encode_batch(..., return_special_tokens_mask=True)'s mask"
            if name == "special_tokens_mask"
            else "pass a bool array, True where a word starts"
        )
        raise ConfigError(f"{name} must be bool or 0/1 numbers, got dtype {flags.dtype}; {hint}")
    return flags


def _core_flags(mask: Any, shape: tuple[int, ...], name: str) -> Any:
    """Flags checked by :func:`_flags` in a dtype the core reads as it is (bool as uint8,
    other dtypes as nonzero), C-contiguous."""
    flags = _flags(mask, shape, name)
    if flags.dtype == np.bool_:
        flags = flags.view(np.uint8)
    elif flags.dtype.type not in (np.uint8, np.int64, np.int32):
        flags = (flags != 0).view(np.uint8)
    return np.ascontiguousarray(flags)


def _id_list(name: str, ids: Any) -> list[int]:
    """Ids given as any collection of integers (a list, a set, a NumPy array, a tensor),
    each checked; a lone id or a string is refused by name."""
    values = ids.tolist() if hasattr(ids, "tolist") else ids  # a 0-d array gives one id
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigError(
            f"{name} must be a collection of ids, got {ids!r}; pass a list such as [0, 101]"
        )
    return [check_int(name, i, most=2**32 - 1) for i in values]


def _check_number(name: str, value: Any) -> None:
    """A probability is a real number (not a str, a bool or None); its range is checked
    where it is used."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be a number, got {value!r}")


class Masker:
    """BERT's masked-language-model corruption, configured once and applied per batch.

    Args:
        vocab_size: ids must be below it; random replacements are drawn below it.
        mask_token_id: the ``[MASK]`` id.
        special_ids: ids that are special (``[CLS]``, ``[SEP]``, ``[PAD]``, ``[UNK]``...):
            never picked and never drawn as random replacements.
        mlm_probability: the share of tokens to predict, or a schedule ``step -> share``
            (see :func:`linear_schedule`).
        mask_probability, random_probability: of the picked tokens, the shares replaced by
            ``[MASK]`` and by a random non-special token; the rest stay as they are.
        mode: ``"bernoulli"`` (each token, or word, independently: HF's collator),
            ``"exact"`` (exactly ``round(p × eligible tokens)`` per row, half to even;
            with ``whole_word``, at most that many: a word that would overshoot it is
            skipped, as BERT's script and transformers 4's whole-word collator skip it,
            so 10 two-piece words at 0.15 give 2 tokens, not 3; their budget differs:
            ``round(p × all tokens)``, [CLS] and [SEP] counted, at least 1, at most
            ``max_predictions_per_seq``) or
            ``"span"`` (SpanBERT: spans of geometric length, parameter
            ``span_probability``, truncated to ``[1, max_span]`` and renormalised, mean 3.8
            at the defaults, until that many tokens are picked; spans that fall next to
            each other, or over picked tokens, make longer runs, so a run of masked tokens
            may exceed ``max_span``).
        whole_word: pick whole words (all pieces of a word or none): words come from
            ``word_ids`` per call or, without them, from ``continuation_ids`` (the tokens
            that continue a word), ``word_end_ids`` (the tokens after which none does) and
            the call's ``word_starts`` (positions where a word starts whatever the token);
            :meth:`from_tokenizer` fills the ids in, see :func:`continuation_ids` and
            :func:`word_end_ids`; for a byte-level BPE vocabulary it also passes
            ``token_bytes``.
        token_bytes: each id's bytes (a byte-level BPE vocabulary, ``vocab_size`` of
            them), with ``continuation_ids``: words then follow whole characters on both
            sides of each token boundary (a token continues the word before it when it
            starts inside a character, or when its first character and the one before
            it are both letters, digits or marks, not CJK ideographs), so a character
            whose bytes span two tokens (GPT-2's curly quotes) is read whole, which the
            per-id tables cannot do. ``word_end_ids`` is then not consulted.
        seed: with the step, seeds row ``r``'s random stream by ``(seed, step, r)``; the
            output depends on nothing else (not on the thread count).
        num_threads: threads (default ``LEXFORGE_NUM_THREADS`` or all cores).

    Raises:
        ConfigError: probabilities outside [0, 1] or whose sum exceeds 1, a mask id outside
            the vocabulary, an unknown mode.
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        mask_token_id: int,
        special_ids: Iterable[int],
        mlm_probability: float | Schedule = 0.15,
        mask_probability: float = 0.8,
        random_probability: float = 0.1,
        mode: Mode = "bernoulli",
        whole_word: bool = False,
        span_probability: float = 0.2,
        max_span: int = 10,
        seed: int = 0,
        num_threads: int | None = None,
        continuation_ids: Iterable[int] | None = None,
        word_end_ids: Iterable[int] | None = None,
        token_bytes: Sequence[bytes] | None = None,
    ) -> None:
        # ids are 32-bit in the core, seeds 64-bit: out of range is an error, not an overflow
        check_int("vocab_size", vocab_size, least=1, most=2**32 - 1)
        check_int("mask_token_id", mask_token_id)
        if not mask_token_id < vocab_size:
            raise ConfigError(
                f"mask_token_id={mask_token_id} is outside the vocabulary [0, {vocab_size}); "
                "pass the tokenizer's [MASK] id"
            )
        check_int("max_span", max_span, least=1, most=2**32)
        if not isinstance(whole_word, (bool, np.bool_)):
            raise ConfigError(f"whole_word must be True or False, got {whole_word!r}")
        if mode not in ("bernoulli", "exact", "span"):
            raise ConfigError(f"mode must be 'bernoulli', 'exact' or 'span', got {mode!r}")
        for name, value in (("mlm_probability", mlm_probability),
                            ("mask_probability", mask_probability),
                            ("random_probability", random_probability),
                            ("span_probability", span_probability)):  # fmt: skip
            if not (name == "mlm_probability" and callable(value)):
                _check_number(name, value)
        check_int("seed", seed, most=2**64 - 1)
        if num_threads is not None:
            check_int("num_threads", num_threads, most=MAX_THREADS)
        if continuation_ids is not None:
            continuation_ids = _id_list("continuation_ids", continuation_ids)
        if word_end_ids is not None:
            word_end_ids = _id_list("word_end_ids", word_end_ids)
        data, ends = packed_bytes(token_bytes, vocab_size)
        self.vocab_size, self.mask_token_id = vocab_size, mask_token_id
        specials = _id_list("special_ids", special_ids)
        outside = [i for i in specials if i >= vocab_size]
        if outside:
            raise ConfigError(
                f"special_ids holds {outside[0]}, outside the vocabulary [0, {vocab_size}): "
                "the special ids come from another tokenizer than vocab_size's"
            )
        self.special_ids = frozenset(specials)
        self.mlm_probability = mlm_probability
        self.whole_word, self.num_threads = bool(whole_word), num_threads
        rate = self.rate(0)  # a schedule's first rate is checked as every later one is
        self._core = _core.Masker(
            sorted(self.special_ids), vocab_size, mask_token_id, float(rate),
            float(mask_probability), float(random_probability), mode, bool(whole_word), seed,
            float(span_probability), max_span,
            None if continuation_ids is None else sorted({int(i) for i in continuation_ids}),
            None if word_end_ids is None else sorted({int(i) for i in word_end_ids}),
            data, ends,
        )  # fmt: skip
        # what rebuilds it in another process (the core holds Rust tables, not picklable)
        self._options: dict[str, Any] = {
            "vocab_size": vocab_size, "mask_token_id": mask_token_id,
            "special_ids": sorted(self.special_ids), "mlm_probability": mlm_probability,
            "mask_probability": mask_probability, "random_probability": random_probability,
            "mode": mode, "whole_word": whole_word, "span_probability": span_probability,
            "max_span": max_span, "seed": seed, "num_threads": num_threads,
            "continuation_ids": continuation_ids, "word_end_ids": word_end_ids,
            "token_bytes": token_bytes,
        }  # fmt: skip
        self._calls = itertools.count()  # the steps of calls that give none
        # in a DataLoader worker: the pass's seed and the count of its calls
        self._worker_calls: tuple[int, Iterator[int]] | None = None
        # in a DataLoader: the last call's pass seed, the id of its pass object, the
        # pass's number, the batch's index and the call's number within the batch
        self._loader_pass: tuple[int, int, int, int, int] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_masker, (self._options,))

    @property
    def knows_words(self) -> bool:
        """Whether whole words can be picked without ``word_ids``: the masker was given the
        tokens that continue a word (``continuation_ids``)."""
        return self._options["continuation_ids"] is not None

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, **kwargs: Any) -> Masker:
        """A masker for ``tokenizer``'s vocabulary: its mask token (``[MASK]`` or ``<mask>``),
        its special tokens and (for ``whole_word``) its word-continuation tokens. A
        transformers fast tokenizer (or a ``tokenizers.Tokenizer``) is read through its
        ``tokenizer.json``; anything else is a ``ConfigError``."""
        from lexforge.tokenizer import Tokenizer

        if not isinstance(tokenizer, Tokenizer):
            twin = lexforge_twin(tokenizer)
            if twin is None:
                raise ConfigError(
                    f"Masker.from_tokenizer takes a lexforge tokenizer, or a transformers "
                    f"fast one, not a {type(tokenizer).__module__}.{type(tokenizer).__name__}; "
                    "load its tokenizer.json with lexforge.Tokenizer.from_file, or build "
                    "Masker(vocab_size=..., mask_token_id=..., special_ids=...) directly"
                )
            tokenizer = twin
        specials: dict[str, int] = dict(tokenizer.special_tokens)
        mask = next((specials[t] for t in MASK_TOKENS if t in specials), None)
        if mask is None and "mask_token_id" not in kwargs:
            raise ConfigError(
                f"the tokenizer has no mask token (special tokens: {sorted(specials)}); train it "
                "with special_tokens=[..., '[MASK]'], or pass mask_token_id= here (for "
                "PretrainingBatches: masker=Masker.from_tokenizer(tok, mask_token_id=...))"
            )
        kwargs.setdefault("mask_token_id", mask)
        kwargs.setdefault("special_ids", specials.values())
        if kwargs.get("whole_word"):
            kwargs.setdefault("continuation_ids", continuation_ids(tokenizer))
            kwargs.setdefault("word_end_ids", word_end_ids(tokenizer))
            kwargs.setdefault("token_bytes", vocabulary_bytes(tokenizer))
        return cls(vocab_size=tokenizer.vocab_size, **kwargs)

    def rate(self, step: int) -> float:
        """The masking rate at ``step``."""
        check_int("step", step, most=2**64 - 1)
        p = self.mlm_probability
        value = p(step) if callable(p) else p
        _check_number("the mlm_probability schedule's rate" if callable(p) else "rate", value)
        return float(value)

    def __call__(
        self,
        input_ids: Any,
        *,
        step: int | None = None,
        special_tokens_mask: Any = None,
        word_ids: Any = None,
        schedule_step: int | None = None,
        word_starts: Any = None,
    ) -> tuple[Any, Any]:
        """Masks a (batch, length) array of ids, or one (length,) row, for training step
        ``step``: any integer dtype wide enough for ``vocab_size`` (int64, int32, uint32 and
        uint16 are used as they are, others are copied through int64; big-endian data comes
        back in native order), NumPy or a CPU torch tensor, not modified.

        ``step`` defaults to how many calls without a step this masker has had, so that
        each call picks new positions, as HF's collator does. As a torch ``DataLoader``'s
        ``collate_fn`` the count is the batch's index in the loader's pass, and the masks
        also follow the pass's seed, which torch draws anew for each pass from its
        generator: every epoch masks anew, as HF's collator does there, reproducibly
        under ``torch.manual_seed`` (or the loader's ``generator``), alike for any number
        of workers (0 included) and any start method. Persistent workers keep the first
        pass's seed; they number the passes instead, which gives every worker count the
        same masks as long as each worker has a batch in each pass (more batches than
        workers). A rate schedule is read at the batch's index in its pass. Pass ``step``
        for masks that depend on the step alone.

        ``special_tokens_mask`` ((batch, length), bool or integers, nonzero at special and
        padding positions) marks positions that are never picked, beside those holding
        ``special_ids``; random replacements are drawn from the vocabulary less
        ``special_ids`` alone, so list every special id there (the padding id too);
        ``word_ids`` ((batch, length), -1 for none, as
        ``encode_batch(..., return_word_ids=True)`` gives) is needed with ``whole_word``
        unless the masker knows the words from the vocabulary (:meth:`from_tokenizer`).
        ``word_starts`` ((batch, length), bool or integers like ``special_tokens_mask``)
        marks positions where a word starts whatever the token there, for whole words from
        the vocabulary: rows of texts encoded one by one and put end to end (as pretraining
        shards are: a line's first word has no space before it, so a byte-level BPE
        ``"Next"`` would continue the ``"world"`` ending the line before) mark each text's
        first token; it changes nothing without ``whole_word`` or with ``word_ids``, which
        alone say where words are. ``schedule_step`` is the step a rate schedule is
        evaluated at (default ``step``; with several data-parallel ranks, the training step
        rather than the batch index).

        Returns ``(input_ids, labels)``: the corrupted ids, same shape, dtype and kind (NumPy
        or torch) as the input, and int64 labels holding the original id at picked positions
        and -100 elsewhere.
        """
        torch = sys.modules.get("torch")
        was_torch = torch is not None and isinstance(input_ids, torch.Tensor)
        ids = _array(input_ids, "input_ids")
        one_row = np.ndim(input_ids) == 1  # rectangular: _array has checked
        if ids.dtype.kind not in "iu":
            empty = " (an empty list reads as floats: pass np.empty((0, n), np.int64))"
            raise ConfigError(
                f"input_ids must be integers, got dtype {ids.dtype}{empty if ids.size == 0 else ''}"
            )
        given = ids.dtype
        if np.iinfo(given).max < self.vocab_size - 1:  # [MASK] and random ids would wrap
            fits = "int64" if np.iinfo(np.int32).max < self.vocab_size - 1 else "int32 or int64"
            raise ConfigError(
                f"input_ids are {given}, which cannot hold ids up to {self.vocab_size - 1} "
                f"(vocab_size {self.vocab_size}); the masked ids come back in the input's "
                f"dtype: pass {fits} ids"
            )
        if given.type not in _ID_DTYPES:  # the core takes four dtypes; others go through int64
            if given == np.uint64 and ids.size and ids.max() > INT64_MAX:
                row, col = np.unravel_index(int(ids.argmax()), ids.shape)
                raise ConfigError(
                    f"input_ids[{row}, {col}] = {ids[row, col]} is outside the vocabulary "
                    f"[0, {self.vocab_size}); check vocab_size and the ids' dtype"
                )
            ids = ids.astype(np.int64)
        special = None
        if special_tokens_mask is not None:
            special = _core_flags(special_tokens_mask, ids.shape, "special_tokens_mask")
        starts = None
        if word_starts is not None:
            starts = _core_flags(word_starts, ids.shape, "word_starts")
        words = None
        if word_ids is not None:
            words = _array(word_ids, "word_ids")
            if words.dtype.kind not in "iu":  # floats would be cut to whole words silently
                raise ConfigError(
                    f"word_ids must be integers (-1 for none), got dtype {words.dtype}"
                )
            if words.dtype == np.uint64 and words.size and words.max() > INT64_MAX:
                raise ConfigError(  # the int64 copy would wrap it to a negative id: no word
                    f"word_ids holds {int(words.max())}, past int64; number words from 0 in "
                    "each row (-1 for none)"
                )
            words = np.ascontiguousarray(words, dtype=np.int64)
            if words.shape != ids.shape:
                raise ConfigError(f"word_ids has shape {words.shape}, input_ids {ids.shape}")
        if step is None:
            step, counted = self._next_step()
            if schedule_step is None:
                schedule_step = counted
        check_int("step", step, most=2**64 - 1)
        if schedule_step is not None:
            check_int("schedule_step", schedule_step, most=2**64 - 1)
        at = step if schedule_step is None else schedule_step
        rate = self.rate(at) if callable(self.mlm_probability) else None
        out, labels = self._core.mask(
            np.ascontiguousarray(ids), step, special, words, rate, self.num_threads, starts
        )
        if out.dtype != given:  # every id in out is below vocab_size, which fits `given`
            out = out.astype(given)
        if one_row:  # a (length,) row comes back with its own shape
            out, labels = out[0], labels[0]
        if was_torch:
            assert torch is not None
            return torch.from_numpy(out), torch.from_numpy(labels)
        return out, labels

    def _next_step(self) -> tuple[int, int]:
        """The step of a call that gives none, and the count it stands for. In a torch
        ``DataLoader`` (its ``collate_fn``, in a worker or in the main process): the
        batch's index in the loader's pass, with the pass's seed in the step's high bits,
        so the masks of a batch are the same for any number of workers, 0 included.
        Elsewhere: the count of such calls."""
        batch = _loader_batch()
        if batch is not None:
            seed, index, current = batch
            base = seed & 0xFFFF_FFFF
            # a persistent worker keeps its pass seed from pass to pass: its passes are
            # told apart by the fetcher torch makes anew for each, and numbered; calls
            # within one batch (a dataset masking its items) are numbered too
            last = self._loader_pass
            number = call = 0
            if last is not None and last[0] == base:
                number = last[2] + (last[1] != id(current))
                call = last[4] + 1 if (last[1], last[3]) == (id(current), index) else 0
            self._loader_pass = (base, id(current), number, index, call)
            base = (base + number * _GOLDEN + call * _SILVER) & 0xFFFF_FFFF
            return (base << 32) | (index & 0xFFFF_FFFF), index
        data = sys.modules.get("torch.utils.data")
        worker = data.get_worker_info() if data is not None else None
        if worker is None:
            calls = next(self._calls)
            return calls, calls
        # a worker whose loop is not torch's own: the workers' counts interleaved (torch
        # seeds worker w of a pass with base + w)
        base = (worker.seed - worker.id) & 0xFFFF_FFFF
        if self._worker_calls is None or self._worker_calls[0] != base:
            self._worker_calls = (base, itertools.count())
        index = next(self._worker_calls[1]) * worker.num_workers + worker.id
        return (base << 32) | (index & 0xFFFF_FFFF), index


_GOLDEN = 0x9E37_79B9  # 2^32 / the golden ratio: pass n's seed is the first's + n times it
_SILVER = 0x85EB_CA6B  # (murmur3's) and call k within a batch's, + k times this


def _loader_batch() -> tuple[int, int, Any] | None:
    """The torch ``DataLoader`` batch being collated, if a loader is collating: its pass's
    seed (what torch draws from the loader's generator for each pass, and seeds worker w
    with, plus w), its index in the pass (the order the loader yields batches in), and an
    object that is new for each pass. Read from the loader's own frames: the worker loop's
    locals in a worker, the iterator in the main process (``num_workers=0``). None outside
    a loader, or with a loader whose internals differ."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(24):
        if frame is None:
            return None
        name = frame.f_code.co_name
        if name in ("_worker_loop", "_next_data") and frame.f_globals.get(
            "__name__", ""
        ).startswith("torch.utils.data"):
            local = frame.f_locals
            if name == "_worker_loop":
                seed, index, current = (local.get(k) for k in ("base_seed", "idx", "fetcher"))
            else:
                current = local.get("self")
                seed = getattr(current, "_base_seed", None)
                index = getattr(current, "_num_yielded", None)
            if isinstance(seed, int) and isinstance(index, int) and current is not None:
                return seed, index, current
            return None
        frame = frame.f_back
    return None


def _rebuild_masker(options: dict[str, Any]) -> Masker:
    return Masker(**options)


_UNSTEPPED: set[str] = set()  # the seeds mask_tokens has been called with and no step


def mask_tokens(
    input_ids: Any,
    *,
    vocab_size: int,
    mask_token_id: int,
    special_tokens_mask: Any = None,
    special_ids: Iterable[int] | None = None,
    word_ids: Any = None,
    word_starts: Any = None,
    step: int | None = None,
    **options: Any,
) -> tuple[Any, Any]:
    """Picks tokens to predict and corrupts them, BERT-style: ``Masker(...)(input_ids)`` in
    one call (see :class:`Masker` for the options: ``mlm_probability``,
    ``mask_probability``, ``random_probability``, ``mode``, ``whole_word``,
    ``span_probability``, ``max_span``, ``seed``, ``num_threads``). A training loop
    should build one :class:`Masker` and call it per batch.

    ``word_ids`` and ``word_starts`` are as for :meth:`Masker.__call__`. At least one of
    ``special_tokens_mask`` and ``special_ids`` must be given. The mask excludes the
    positions it flags; the special ids are ``special_ids`` and the ids found only under
    the mask in this batch, never outside it ([CLS], [SEP], padding: so random
    replacements avoid them too). An ordinary token flagged at some positions (a prompt
    left unmasked) is still picked where it is not flagged. ``step`` defaults to 0: the same
    seed then picks the same positions on every call (for rows of one length), which a
    second call without a step warns about; a loop passes ``step=`` or uses one
    :class:`Masker`, which counts its calls.

    Returns ``(input_ids, labels)`` as :meth:`Masker.__call__`.

    Raises:
        ConfigError: a wrong dtype or shape, an id outside the vocabulary, a mask id outside
            it, probabilities outside [0, 1] or whose sum exceeds 1, no special-token
            information.
    """
    if special_tokens_mask is None and special_ids is None:
        raise ConfigError(
            "pass special_tokens_mask= or special_ids= so that special and padding tokens "
            "are never masked (e.g. special_ids=tokenizer.special_tokens.values())"
        )
    if special_tokens_mask is not None:  # the ids under the mask are special ids too
        ids = _array(input_ids, "input_ids")
        flags = _flags(special_tokens_mask, ids.shape)
        found: list[int] = []
        if ids.dtype.kind in "iu":  # ids under the mask and nowhere else
            found = np.setdiff1d(ids[flags != 0], ids[flags == 0]).tolist()
        try:  # an id outside the vocabulary (padding as -100) is input_ids' fault, which
            size = operator.index(vocab_size)  # the masker names: not one of special_ids
            found = [i for i in found if 0 <= i < size]
        except TypeError:  # not an integer: the masker names vocab_size
            pass
        given = [] if special_ids is None else _id_list("special_ids", special_ids)
        special_ids = sorted({*given, *found})
    masker = Masker(
        vocab_size=vocab_size,
        mask_token_id=mask_token_id,
        special_ids=() if special_ids is None else special_ids,
        **options,
    )
    masked = masker(input_ids, step=0 if step is None else step,
                    special_tokens_mask=special_tokens_mask, word_ids=word_ids,
                    word_starts=word_starts)  # fmt: skip
    if step is None:
        seed = repr(options.get("seed", 0))
        if seed in _UNSTEPPED:
            warnings.warn(
                f"mask_tokens without step= picks the same positions on every call with "
                f"seed={seed} (for rows of one length); pass step=<the batch's index>, or "
                "build one Masker for the loop and call it per batch (it counts its calls)",
                stacklevel=2,
            )
        _UNSTEPPED.add(seed)
    return masked


def lexforge_twin(tokenizer: Any) -> Any:
    """The lexforge tokenizer of a transformers fast tokenizer or a ``tokenizers.Tokenizer``
    (from its ``tokenizer.json``), or None when it has none or lexforge cannot read it."""
    from lexforge.errors import LexforgeError
    from lexforge.tokenizer import Tokenizer

    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    to_str = getattr(backend, "to_str", None)
    if not callable(to_str):
        return None
    try:
        return Tokenizer.from_str(to_str())
    except (LexforgeError, ValueError, TypeError):
        return None
