"""GPT-2's byte-to-unicode mapping, used by HF ``tokenizer.json`` and GPT-2's files.

Those formats store each token as a string in which every byte is one printable character:
printable Latin-1 bytes stand for themselves, the other 68 bytes are shifted to U+0100 and
up. lexforge keeps tokens as raw bytes and converts only when reading or writing files.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def byte_to_char() -> tuple[str, ...]:
    """The character that stands for each byte 0..255."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars: dict[int, int] = {b: b for b in printable}
    shift = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + shift
            shift += 1
    return tuple(chr(chars[b]) for b in range(256))


@lru_cache(maxsize=1)
def char_to_byte() -> dict[str, int]:
    """The inverse of :func:`byte_to_char`."""
    return {c: b for b, c in enumerate(byte_to_char())}


def encode(token: bytes) -> str:
    """Writes raw token bytes as a byte-level string."""
    table = byte_to_char()
    return "".join(table[b] for b in token)


def decode(token: str) -> bytes | None:
    """Reads a byte-level string back into bytes; ``None`` if a character is not one of
    the 256 byte characters."""
    table = char_to_byte()
    try:
        return bytes(table[c] for c in token)
    except KeyError:
        return None
