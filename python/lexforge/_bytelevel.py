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


@lru_cache(maxsize=1)
def _encoding() -> dict[int, str]:
    """``str.translate``'s table from each byte, as a Latin-1 character, to its character."""
    return dict(enumerate(byte_to_char()))


@lru_cache(maxsize=1)
def _decoding() -> dict[int, int]:
    """``str.translate``'s table from each byte character to its byte's Latin-1 character;
    a Latin-1 character that stands for no byte goes to U+FFFF, which no byte is, so that
    the Latin-1 encoding after it fails as it does for any other character."""
    table = dict.fromkeys(range(256), 0xFFFF)
    table.update({ord(c): b for b, c in enumerate(byte_to_char())})
    return table


def encode(token: bytes) -> str:
    """Writes raw token bytes as a byte-level string."""
    return token.decode("latin-1").translate(_encoding())


def decode(token: str) -> bytes | None:
    """Reads a byte-level string back into bytes; ``None`` if a character is not one of
    the 256 byte characters. (Through ``str.translate``: loading a tokenizer.json decodes
    every token of its vocabulary, a character at a time in Python before.)"""
    try:
        return token.translate(_decoding()).encode("latin-1")
    except UnicodeEncodeError:
        return None
