"""The core's one-pass reading of a tiktoken rank file (``_core.read_rank_lines``) against
the Python reading it stands in for (``tiktoken._checked_ranks``, a line at a time) and
tiktoken's own reader: the same ranks from every file the fast path takes, and every line
it does not take as it stands left to the checked reading, which reads or names it."""

from __future__ import annotations

import base64
import random
from pathlib import Path

import pytest

import lexforge as lf
from lexforge._core import read_rank_lines
from lexforge.errors import TokenizerFormatError
from lexforge.formats import tiktoken as rank_format


@pytest.fixture(scope="module")
def cl100k_text(rank_files: dict[str, Path]) -> str:
    return rank_files["cl100k_base"].read_text(encoding="utf-8")


def test_a_real_rank_file_reads_as_the_checked_reading_and_tiktoken(
    rank_files: dict[str, Path],
) -> None:
    load = pytest.importorskip("tiktoken.load")
    for name, path in rank_files.items():
        text = path.read_text(encoding="utf-8")
        fast = read_rank_lines(text)
        assert fast is not None, name
        assert fast == _checked(path, text), name
        assert dict(fast) == load.load_tiktoken_bpe(str(path)), name


def _checked(path: Path, text: str) -> list[tuple[bytes, int]]:
    return rank_format._checked_ranks(path, text)


@pytest.mark.parametrize("shape", ["crlf", "blank lines", "no last newline", "every byte"])
def test_layouts_the_fast_path_takes_read_alike(cl100k_text: str, shape: str) -> None:
    lines = cl100k_text.split("\n")[:5000]
    if shape == "crlf":
        text = "\r\n".join(lines)
    elif shape == "blank lines":
        text = "\n\n".join(lines) + "\n\r\n"
    elif shape == "no last newline":
        text = "\n".join(line for line in lines if line)
    else:  # tokens of every length mod 3 (each padding), and bytes past ASCII
        rng = random.Random(0)
        tokens = [bytes(rng.randrange(256) for _ in range(n % 7 + 1)) for n in range(3000)]
        text = "\n".join(f"{base64.b64encode(t).decode()} {i}" for i, t in enumerate(tokens))
    fast = read_rank_lines(text)
    assert fast is not None
    assert fast == _checked(Path("x.tiktoken"), text)


LINES = {
    "tab between": ("IQ==\t{rank}", "read"),
    "two spaces": ("IQ==  {rank}", "read"),
    "spaces only": ("   ", "read"),
    "whisper's empty token": ("= {rank}", "read"),
    "leading space": (" IQ== {rank}", "read"),
    "url-safe base64": ("_-8= {rank}", "error"),
    "bad padding": ("IQ= {rank}", "error"),
    "negative rank": ("IQ== -1", "error"),
    "rank past 32 bits": ("IQ== 4294967296", "error"),
    "arabic digits": ("IQ== \u0661", "error"),
    "three fields": ("IQ== {rank} 7", "error"),
    "no rank": ("IQ==", "error"),
}


@pytest.mark.parametrize("name", sorted(LINES))
def test_lines_the_fast_path_leaves_are_read_or_named_by_the_checked_reading(
    cl100k_text: str, name: str, tmp_path: Path
) -> None:
    line, outcome = LINES[name]
    head = cl100k_text.split("\n")[:300]
    text = "\n".join([*head, line.format(rank=300), ""])
    assert read_rank_lines(text) is None
    path = tmp_path / "x.tiktoken"
    path.write_text(text, encoding="utf-8")
    if outcome == "error":
        with pytest.raises(TokenizerFormatError, match=r"x\.tiktoken:301: "):
            rank_format.read_ranks(path)
    else:
        want = _checked(path, text)
        assert rank_format.read_ranks(path) == want
        assert len(want) in (300, 301)


def test_an_empty_file_holds_no_ranks(tmp_path: Path) -> None:
    path = tmp_path / "x.tiktoken"
    for text in ("", "\n\n", "\r\n"):
        path.write_text(text, encoding="utf-8")
        assert read_rank_lines(text) == []
        with pytest.raises(TokenizerFormatError, match="holds no ranks"):
            lf.Tokenizer.from_tiktoken(path, pattern="gpt2")
