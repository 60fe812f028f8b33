"""What encode and decode take, checked: texts (a str has a UTF-8 form unless it holds a
lone surrogate) and token ids (integers in the vocabulary, as a list or a 1-D array or
tensor). The core refuses bad input first; these build the typed error that names the
argument, the item and the fix, so encoding never pre-scans what it is given.
"""

from __future__ import annotations

import numbers
import operator
import sys
from collections.abc import Iterable, Mapping, Sequence, Set
from typing import TYPE_CHECKING, Any

from lexforge.errors import TokenIdError

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    import numpy.typing as npt

    Ids: TypeAlias = Sequence[int] | npt.NDArray[np.integer]


def one_or_many(ids: Any) -> Any:
    """One id (an int, a NumPy or 0-d torch integer) as a list of it, as transformers'
    ``decode`` takes one; anything else as it is."""
    if isinstance(ids, numbers.Integral) and not isinstance(ids, bool):
        return [int(ids)]
    if getattr(ids, "ndim", None) == 0:
        return [ids.item()]
    return ids


def check_flag(name: str, value: Any) -> bool:
    """``value`` as a bool if it is one (NumPy's too), else a ``TypeError`` naming ``name``:
    as in HF tokenizers, a truthy value such as ``"no"`` is no ``True``."""
    np = sys.modules.get("numpy")  # (a NumPy boolean implies NumPy is loaded)
    if isinstance(value, bool) or (np is not None and isinstance(value, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def as_ids(ids: Ids) -> npt.NDArray[Any] | list[int]:
    """Token ids as the core takes them: a contiguous int64 array or a list."""
    # a str's characters are no ids, nor are the bytes of binary data
    if ids is None or isinstance(ids, (str, bytes, bytearray, memoryview)):
        raise TypeError(
            f"ids must be a sequence of token ids, got {type(ids).__name__}"
            + ("; to encode text, use encode" if isinstance(ids, str) else "")
            + (
                "; if each byte is an id, pass list(data)"
                if ids is not None and not isinstance(ids, str)
                else ""
            )
        )
    torch = sys.modules.get("torch")  # likewise a tensor: read as the array it holds
    if torch is not None and isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    np = sys.modules.get("numpy")  # an array can only exist if numpy is loaded
    if np is not None and isinstance(ids, np.ndarray):
        if ids.ndim != 1:
            raise ValueError(
                f"ids must be one-dimensional, got shape {ids.shape}; decode rows with decode_batch"
            )
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
        past = np.uint64(np.iinfo(np.int64).max)  # a uint64: numpy 1 compares a Python
        # int with a uint64 as floats, and 2**63 + 5 came out no larger
        if ids.dtype == np.uint64 and ids.size and ids.max() > past:
            raise TokenIdError(  # the int64 copy below would wrap it to a negative id
                f"token id {int(ids.max())} is not in the vocabulary (it does not even fit "
                "in int64); check where the ids came from"
            )
        contiguous: npt.NDArray[Any] = np.ascontiguousarray(ids, dtype=np.int64)
        return contiguous
    if isinstance(ids, numbers.Integral):  # one id: ``list(5)`` would say "not iterable"
        raise TypeError(
            f"ids must be a sequence of token ids, got {type(ids).__name__} {int(ids)}; "
            f"pass one id as [{int(ids)}]"
        )
    if isinstance(ids, (Set, Mapping)):  # list() would take them in no order of the caller's
        raise TypeError(
            f"ids must be a sequence of token ids (a list, array or tensor), got "
            f"{type(ids).__name__}, whose order is arbitrary; pass the ids in their order"
        )
    try:
        return list(ids)
    except TypeError:
        raise TypeError(
            f"ids must be a sequence of token ids (a list, array or tensor), got "
            f"{type(ids).__name__}"
        ) from None


def bad_text(
    err: UnicodeEncodeError, where: str = "text", **sources: str | Sequence[str] | None
) -> Exception:
    """The :class:`EncodingError` for a str the core cannot take (it holds a lone
    surrogate, which has no UTF-8 form), naming the character, where it is and the fix.
    ``sources`` names the arguments the str may have come from (a str or a batch of
    them: ``texts=batch`` gives ``texts[3]``); ``where`` names it otherwise. Built only
    after the core refused the text, so encoding never pre-scans its input."""
    from lexforge.errors import EncodingError

    text = err.object
    if not isinstance(text, str):  # pragma: no cover - the core only refuses str
        return err
    for name, source in sources.items():
        if source is text:
            where = name
            break
        if source is not None and not isinstance(source, str):
            index = next((i for i, item in enumerate(source) if item is text), None)
            if index is not None:
                where = f"{name}[{index}]"
                break
    char = text[err.start]
    origin = (
        f" (the byte 0x{ord(char) - 0xDC00:02x} of undecodable input, kept by "
        "errors='surrogateescape' as in sys.argv and os.environ)"
        if 0xDC80 <= ord(char) <= 0xDCFF
        else ""
    )
    return EncodingError(
        f"{where} holds a lone surrogate {char!r} at character {err.start}, which is "
        f"not valid Unicode and has no UTF-8 form{origin}; decode the input as UTF-8, with "
        "errors='replace' to turn bad bytes into U+FFFD"
    )


def not_texts(err: TypeError, **sources: Any) -> TypeError:
    """The ``TypeError`` for input the core refused as no str (its own message names no
    item), naming the first argument or item of ``sources`` that is not a str and the
    fix; ``err`` itself when every one is. Like :func:`bad_text`, built only after the
    core refused, so encoding never pre-scans its input."""
    for name, source in sources.items():
        if source is None and name != "text":
            continue
        one = name in ("text", "pair")  # a single text's argument: a list there is no text
        items = (
            [(name, source)]
            if one or not isinstance(source, list)
            else [(f"{name}[{i}]", item) for i, item in enumerate(source)]
        )
        for where, item in items:
            if not isinstance(item, str):
                hint = (
                    ": decode it first (data.decode('utf-8'))"
                    if isinstance(item, (bytes, bytearray))
                    else "; for several texts, call encode_batch"
                    if one and isinstance(item, (list, tuple))
                    else ""
                )
                shown = repr(item) if len(repr(item)) <= 40 else repr(item)[:37] + "..."
                return TypeError(f"{where} must be a str, got {type(item).__name__} {shown}{hint}")
    return err


def in_order(texts: Any, name: str = "texts") -> list[Any]:
    """``texts`` as a list, refusing a set or a dict: their order is no order the caller
    chose, so rows of the result could not be matched to the texts."""
    if isinstance(texts, (set, frozenset)):
        raise TypeError(
            f"{name} is a {type(texts).__name__}, whose order is arbitrary: results could not "
            "be matched to the texts; pass a list (sorted(...), or list(...) of an ordered "
            "source)"
        )
    if isinstance(texts, Mapping):
        raise TypeError(
            f"{name} is a {type(texts).__name__}: pass a list of texts (list(d.values()) for "
            "a dict's values, list(d) for its keys)"
        )
    return list(texts)


def token_list(tokens: Any, name: str = "tokens") -> list[str]:
    """``tokens`` (token strings, spelled as ``tokenize`` spells them) as a list; a
    ``TypeError`` naming the argument, or the first item that is no str (a token id is
    no token: ``convert_ids_to_tokens`` reads ids)."""
    text = isinstance(tokens, (str, bytes, bytearray))  # one token is no list of them
    if text or not isinstance(tokens, Sequence):
        raise TypeError(
            f"{name} must be a list of tokens (str), got {type(tokens).__name__}"
            + ("; pass list(...) of it" if isinstance(tokens, Iterable) and not text else "")
        )
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            hint = "; for ids, use convert_ids_to_tokens" if _is_integer(token) else ""
            raise TypeError(
                f"{name}[{i}] must be a token (str), got {type(token).__name__} {token!r}{hint}"
            )
    return list(tokens)


def _is_integer(value: Any) -> bool:
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def word_lists(batch: list[Any], name: str = "texts") -> list[list[Any]]:
    """Each text of ``batch`` split into words (``is_split_into_words``) as a list; a
    ``TypeError`` naming the first that is a str or no sequence. The words themselves are
    checked by the core (:func:`not_texts` names a bad one)."""
    out = []
    for i, words in enumerate(batch):
        if isinstance(words, (str, bytes, bytearray)) or not isinstance(words, Sequence):
            raise TypeError(
                f"{name}[{i}] must be a list of words (str) with is_split_into_words=True, "
                f"got {type(words).__name__}; split the text (text.split()) or pass "
                "is_split_into_words=False"
            )
        out.append(words if isinstance(words, list) else list(words))
    return out


def check_text(**texts: str | None) -> None:
    """Raises :func:`bad_text`'s error, named after its argument, for the first of
    ``texts`` with no UTF-8 form. It scans the texts: call it only once the core has
    refused one, to name which."""
    for name, text in texts.items():
        try:
            if text is not None:
                text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise bad_text(e, where=name) from None


def bad_ids(ids: npt.NDArray[Any] | list[int], vocab_size: int) -> Exception:
    """The error for ids the core would not take: :class:`TokenIdError` naming the first
    integer outside the vocabulary, or ``TypeError`` naming the first non-integer."""
    from lexforge.errors import TokenIdError

    for tid in ids:
        try:
            value = operator.index(tid)
        except TypeError:
            return TypeError(f"token ids must be integers, got {tid!r}")
        if not 0 <= value < vocab_size:
            return TokenIdError(f"token id {value} is not in the vocabulary (0..{vocab_size - 1})")
    return TypeError("token ids must be a sequence of integers or a 1-D integer array")


def at_row(err: Exception, row: int) -> Exception:
    """``err`` again, its message led by the row of a batch it came from (``batch[3]:``);
    a ``UnicodeDecodeError`` keeps its bytes and position."""
    if isinstance(err, UnicodeDecodeError):
        return UnicodeDecodeError(
            err.encoding, err.object, err.start, err.end, f"batch[{row}]: {err.reason}"
        )
    return type(err)(f"batch[{row}]: {err}")
