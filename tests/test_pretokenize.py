"""The hand-compiled pre-tokenizers against the ``regex`` module (an independent engine
running the original patterns) on adversarial random text. The Rust unit tests also check
them against ``fancy-regex``; this catches any disagreement between engines too."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lexforge import _core
from lexforge.errors import PatternError
from lexforge.reference import pretokenize as reference_pretokenize

ALPHABET = list(
    "abstlvedmSTLVEDMſKéÉßǅʰا中文Ωω\u0301\u0300\u20dd07٣²Ⅻ½   \t\n\n\r\x0b\x0c\x85\xa0\u2028\u3000''/.,!?-\"😀\u200d\ufeff"  # noqa: E501
)


def _assigned_in_rust(c: str) -> bool:
    """Whether the Rust side's tables (``regex-syntax``'s Unicode) assign ``c``: two
    unassigned characters are one gap between ``\\P{Cn}`` matches, two assigned ones two."""
    return _core.pretokenize(r"\P{Cn}", c * 2) == [c, c]


# Code points unassigned in Python's Unicode tables or in the Rust side's are left out: the
# engines carry different Unicode versions, and a letter added in Unicode 16 is "other" to an
# older table (Python 3.15's Unicode 17 letters, such as U+323B0, to regex-syntax's 16).
texts = st.lists(st.sampled_from(ALPHABET), max_size=50).map("".join) | st.text(
    st.characters(exclude_categories=["Cn", "Cs"]).filter(_assigned_in_rust), max_size=50
)


def test_the_unassigned_filter_tells_assigned_from_unassigned() -> None:
    assert _assigned_in_rust("a") and _assigned_in_rust("中") and _assigned_in_rust("😀")
    assert not _assigned_in_rust("\u0378")  # unassigned in every Unicode version so far


@pytest.mark.parametrize("preset", ["gpt2", "cl100k", "o200k"])
@settings(max_examples=1500, deadline=None)
@given(text=texts)
def test_presets_match_the_regex_module(preset: str, text: str) -> None:
    assert _core.pretokenize(preset, text) == reference_pretokenize(preset, text)


@settings(max_examples=300, deadline=None)
@given(text=texts)
def test_user_patterns_keep_every_character(text: str) -> None:
    pieces = _core.pretokenize(r"\p{L}+|\d", text)
    assert "".join(pieces) == text
    assert all(pieces)
    assert pieces == reference_pretokenize(r"\p{L}+|\d", text)


def test_preset_names_and_patterns_resolve() -> None:
    pattern, preset = _core.resolve_pattern("cl100k_base")
    assert preset == "cl100k"
    assert _core.resolve_pattern(pattern) == (pattern, "cl100k")
    assert _core.resolve_pattern(r"\w+") == (r"\w+", None)


@pytest.mark.parametrize("bad", ["(", "", "[z-a]"])
def test_bad_patterns_raise_pattern_error(bad: str) -> None:
    with pytest.raises(PatternError, match="pattern"):
        _core.pretokenize(bad, "text")


def test_hf_spellings_of_presets_resolve_to_the_presets() -> None:
    from lexforge.formats.hf_json import ONIG_SPELLING

    for preset, spelling in ONIG_SPELLING.items():
        assert _core.resolve_pattern(spelling)[1] == preset


LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2 = LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")  # Qwen2's tokenizer.json: one digit a piece


@pytest.mark.parametrize("pattern", [LLAMA3, QWEN2])
@settings(max_examples=1500, deadline=None)
@given(text=texts)
def test_llama3_and_qwen2_patterns_match_the_regex_module(pattern: str, text: str) -> None:
    # no presets (read and saved as regexes), but hand-compiled like them
    assert _core.resolve_pattern(pattern) == (pattern, None)
    assert _core.pretokenize(pattern, text) == reference_pretokenize(pattern, text)


@pytest.mark.parametrize("pattern", [LLAMA3, QWEN2])
def test_llama3_and_qwen2_patterns_take_a_million_spaces(pattern: str) -> None:
    # on fancy-regex, `\s+(?!\S)` overflowed its backtracking stack at about a million
    # white-space characters (PatternError) where HF's Split and the regex module split
    text = "\t" + " " * 1_100_000 + "x 12345\n \n "
    pieces = _core.pretokenize(pattern, text)
    assert pieces == reference_pretokenize(pattern, text)
    assert len(pieces[0]) == 1_100_000 and pieces[-2:] == ["\n \n", " "]
    tokenizers = pytest.importorskip("tokenizers")
    split = tokenizers.pre_tokenizers.Split(tokenizers.Regex(pattern), "isolated")
    assert [p for p, _ in split.pre_tokenize_str(text)] == pieces
