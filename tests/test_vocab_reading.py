"""The fast paths of reading a WordPiece vocabulary, against the per-entry rules they
replace (kept readable here as the oracles) and HF ``tokenizers`` on the same files:
a ``vocab.txt``'s lines read by the core (the tokens, and those that lowercasing may
change), whether it is uncased (every token but the bracketed special ones its own
lowercase), and a ``tokenizer.json``'s ``model.vocab`` by id (ids 0..n-1 in any order;
anything else left to the checks that name the entry)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

import lexforge as lf
from lexforge._core import read_vocab_lines
from lexforge.errors import TokenizerFormatError
from lexforge.formats.bert import tokens_by_id
from lexforge.formats.bert_vocab import _uncased

_SPECIAL = re.compile(r"\[[^\[\]]*\]|<[^<>]*>")
# cased and uncased letters, letters without a lowercase form (ℝ), one that lowercases to
# two characters (İ), Greek sigma (final or not, by context), CJK, digits, specials
_PIECES = ["a", "B", "é", "É", "ℝ", "İ", "Σ", "σ", "ς", "ΟΣ", "東", "7", "##", "[X]", "<S>",
           "[unused0]", "ǅ", "ß", "ẞ", "Ⅷ", "ⓐ", "Ⓐ", "\u3000"]  # fmt: skip


def _uncased_by_rule(tokens: list[str]) -> bool:
    return all(t == t.lower() for t in tokens if not _SPECIAL.fullmatch(t))


def test_uncased_is_the_per_token_rule() -> None:
    rng = random.Random(0)
    seen = set()
    for _ in range(3000):
        tokens = [
            "".join(rng.choices(_PIECES, k=rng.randint(1, 3))) for _ in range(rng.randint(1, 6))
        ]
        want = _uncased_by_rule(tokens)
        seen.add(want)
        assert _uncased(tokens) == want, tokens
    assert seen == {True, False}


# Unicode's White_Space (what ends a line's token), other spaces, line breaks that are not
# "\n", a byte-order mark
_WHITE = ["\t", "\x0b", "\x0c", "\r", " ", "\x85", "\xa0", "\u1680", "\u2000", "\u200a",
          "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\x1c", "\u200b", "\ufeff"]  # fmt: skip


def _lines_by_rule(text: str) -> list[str] | None:
    """``vocab.txt``'s per-line rule: lines split on "\\n" after a leading byte-order
    mark (one ending "\\n" is no line), the white space ending a line cut unless the
    line holds nothing else ("\\r" aside); None for an empty line or no line."""
    lines = text.removeprefix("\ufeff").split("\n")
    if lines[-1] == "":
        lines.pop()
    ws = "".join(c for c in map(chr, range(0x3001)) if c.isspace() and c not in "\x1c\x1d\x1e\x1f")
    tokens = [line.rstrip(ws) or line.removesuffix("\r") for line in lines]
    return tokens if tokens and all(tokens) else None


def test_vocab_lines_read_by_the_core_follow_the_per_line_rule() -> None:
    rng = random.Random(3)
    for _ in range(4000):
        lines = [
            "".join(rng.choices([*_PIECES, *_WHITE, "ab"], k=rng.randint(0, 4)))
            for _ in range(rng.randint(0, 5))
        ]
        text = rng.choice(["", "\ufeff"]) + "\n".join(lines) + rng.choice(["", "\n", "\n\n"])
        want = _lines_by_rule(text)
        got = read_vocab_lines(text)
        assert (None if got is None else got[0]) == want, repr(text)
        if got is not None:  # every token that lowercasing changes is among those listed
            tokens, cased = got
            assert {t for t in tokens if t.lower() != t} <= set(cased), repr(text)
            assert set(cased) <= set(tokens)


def _by_rule(vocab: dict[str, Any]) -> list[str] | None:
    """Each id an int (no bool), 0..n-1, each once: the tokens by id, else None."""
    by_id: dict[int, str] = {}
    for token, tid in vocab.items():
        if isinstance(tid, bool) or not isinstance(tid, int) or tid in by_id:
            return None
        by_id[tid] = token
    if not by_id or sorted(by_id) != list(range(len(by_id))):
        return None
    return [by_id[i] for i in range(len(by_id))]


def test_tokens_by_id_is_the_per_entry_reading() -> None:
    rng = random.Random(1)
    for _ in range(2000):
        n = rng.randint(0, 8)
        ids: list[Any] = list(range(n))
        rng.shuffle(ids)
        if n and rng.random() < 0.5:  # damage one: a gap, a repeat, another type
            ids[rng.randrange(n)] = rng.choice([n, n + 3, -1, 0, True, False, 1.0, "1", None])
        vocab = {f"t{i}": tid for i, tid in enumerate(ids)}
        assert tokens_by_id(vocab) == _by_rule(vocab), vocab


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat",
             "##s", "##ting", "a", "c", "t", "##a", "##t", "s", "o", "n", "m"]  # fmt: skip
    hf = Tokenizer(models.WordPiece({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    hf.normalizer = normalizers.BertNormalizer(lowercase=True)
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    loaded: dict[str, Any] = json.loads(hf.to_str())
    return loaded


@pytest.mark.parametrize("order", ["ids", "shuffled", "reversed"])
def test_a_tokenizer_json_vocab_in_any_order_loads_as_in_hf(
    doc: dict[str, Any], tmp_path: Path, order: str
) -> None:
    from tokenizers import Tokenizer

    items = list(doc["model"]["vocab"].items())
    if order == "shuffled":
        random.Random(2).shuffle(items)
    elif order == "reversed":
        items.reverse()
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps({**doc, "model": {**doc["model"], "vocab": dict(items)}}))
    ours, theirs = lf.Tokenizer.from_file(path), Tokenizer.from_file(str(path))
    text = "The cats sat on the mats, sitting; a Cat ZZZ."
    assert ours.encode(text, add_special_tokens=False) == theirs.encode(text).ids
    assert ours.get_vocab() == theirs.get_vocab()
    assert ours.vocab_size == theirs.get_vocab_size()
    assert [ours.id_to_token(i) for i in range(ours.vocab_size)] == [
        theirs.id_to_token(i) for i in range(theirs.get_vocab_size())
    ]


@pytest.mark.parametrize(
    ("damage", "named"),
    [({"cat": 6.0}, "token 'cat' has id 6.0, not an integer"),
     ({"cat": True}, "token 'cat' has id True, not an integer"),
     ({"cat": 5}, "ids must be unique|id 5 is also"), ({"cat": 99}, "without gaps")],
    ids=["float", "bool", "repeat", "gap"],
)  # fmt: skip
def test_a_vocab_that_is_not_ids_0_to_n_is_named(
    doc: dict[str, Any], tmp_path: Path, damage: dict[str, Any], named: str
) -> None:
    path = tmp_path / "tokenizer.json"
    vocab = {**doc["model"]["vocab"], **damage}
    path.write_text(json.dumps({**doc, "model": {**doc["model"], "vocab": vocab}}))
    with pytest.raises(TokenizerFormatError, match=named):
        lf.Tokenizer.from_file(path)
