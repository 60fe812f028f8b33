"""Edges of the Rust core found by audit: custom patterns read as HF's Oniguruma reads them
(or refused), WordPiece counting on files with ``\\r`` line ends, a UTF-16 file named as
such, and a pipe refused as a shard corpus. HF ``tokenizers`` is the oracle where it can be."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

import lexforge as lf
from lexforge import _core
from lexforge.errors import CorpusError, PatternError


def hf_pieces(pattern: str, text: str) -> list[str]:
    """HF's Split pre-tokenizer ("isolated", as lexforge saves a pattern) on ``text``."""
    from tokenizers import Regex, pre_tokenizers

    split = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    return [piece for piece, _ in split.pre_tokenize_str(text)]


# (pattern, text) pairs Oniguruma reads otherwise than fancy-regex: lexforge must split
# them the same way as HF does
ONIG_MEANINGS = [
    (r"\p{N}{1,3}+|\p{L}+|\s+|.", "call 12345678"),  # {n,m}+ repeats the interval
    (r"\d{2}+|.", "12345"),
    (r"(ab){1}+|[ab]{2}+|\w{2}+|.", "ababab abcde"),
    (r"a{2}?|.", "aaa a"),  # {n}? is optional, not lazy
    (r"a{2}{2}|a+{2}|.", "aaaaa aaa"),  # a quantifier after a quantifier nests
    (r"(?m)\S.{0,3}|\s+", "ab\ncd"),  # Ruby's (?m): dot matches newlines
    (r"a(?m).|x", "a\n x\n"),
    (r"(?im).+|(?i-m:.+)", "A\nb"),
    (r"a(?i)b|c", "ac c ab aB C"),  # a flag group covers the rest of its group
    (r"x(a(?i)b|c)", "xac xc xaB xC"),
    (r"(?i)\p{Lu}+|\p{Ll}+|.", "HEllo"),  # (?i) leaves properties outside brackets alone
    (r"(?i)\P{Ll}+|.", "HEllo"),
    (r"(?i)\p{Upper}+|.", "HEllo"),
    (r"(?i)[\p{Lu}&&\p{Cyrillic}]+|.", "ПРивет HEllo"),  # ... and folds them inside
    (r"(?i)[^\p{L}]+|.", "straße ẞSS 1!"),  # a negated class folds nothing into several
    (r"(?i)[^\s\p{L}\p{N}]+|.", "straße ẞ!?"),
    (r"(?i)[^a[^\d]]+|.", "ab12 ß"),  # a nested negated class closed under case
    (r"\p{Graph}+|\s+|.", "a\xadb x\ue000y"),  # properties named like POSIX brackets
    (r"\P{Print}+|\p{^Graph}+|.", "a\u2028b\xad c"),
    (r"\p{XDigit}+|\p{x_digit}|.", "fg0 BEEF"),
    (r"\p{Punct}+|[[:punct:]]+|.", "a!?$+b"),  # ... but \p{Punct} is the category P
    (r"\Z|\w+", " \n\n"),  # \Z: the end, or before one final newline
    (r"\w+\Z\s*|\w+|\s+", "end\n\n end\n"),
    (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|\p{L}+|.", "I'VE it'S ok"),
    (r"a\n^|.", "a\na\n"),  # no line starts after a final newline
    ("(?x) a {2}+ # (comment\n|.", "aaaaa"),
    (r"(?x) a {2}+ # (comment to the end|.", "aaaaa"),
    (r"[a-z&&[^aeiou]]+|.", "strength"),
    # literal rows under (?i) that Oniguruma does not let match a multi-character folding
    (r"(?i)ss+|(?i:s)(?i:s)|(?:s|x)s|\p{L}", "ß ss sss straße ẞ"),
    (r"(?i)s{2}|[s]s|\p{L}", "ß ss ẞ"),
    # braces that are no interval are text (fancy-regex read a{,} as a*)
    (r"a{,}|.", "baab aa{,}x"),
    (r"(?:ab){,}|\n{,}|[x]{,}|.", "abab ab{,}\n\n\n{,} x{,}"),
    (r"x{ 2}|x{a}|\}+|.", "x{ 2} x{a} }}"),
    (r"x{,2}|.", "xxxxx"),
    # an interval written high to low is the other way round, possessive
    (r"x{3,1}|.", "xx xxx xxxx"),
    (r"x{5,2}x|x{3,1}+|.", "xx xxxxxxx"),
    (r"(?:ab){2,1}b|.", "ababb abb"),
    # \0 and up to two octal digits: a character
    (r"\012+|[\00-\07]+|\08|\0|.", "a\n\nb\x00\x05\x08\x008\x00"),
    # \< and \> are the characters (fancy-regex: word boundaries); control escapes
    (r"\<\w+\>|.", "a <bc> d"),
    (r"\cA|\C-b+|\c?|[\c@-\cZ]+|.", "a\x01\x02\x02\x7f\x00\x05a\x1b"),
    (r"\c\\+|.", "a\x1c\x1c\\"),
]


@pytest.mark.parametrize(("pattern", "text"), ONIG_MEANINGS)
def test_custom_patterns_split_like_hf(pattern: str, text: str) -> None:
    pytest.importorskip("tokenizers")
    assert _core.pretokenize(pattern, text) == hf_pieces(pattern, text)


# patterns no rewrite reads exactly as HF does, or that HF cannot load: refused by name
REFUSED = [
    (r"(?i:ß)|.", "ß"),  # Oniguruma: also matches "ss"
    (r"(?i)[\x{1E00}-\x{1EFF}]|.", "ẞ"),
    (r"(?i)[[:alpha:]]a|.", "'ß'"),  # classes holding such characters, under (?i)
    (r"(?i)[\w]+|.", "'ß'"),
    (r"(?i)[\p{Lu}]+|.", "'İ'"),
    (r"(?i)[a[^b-z]]+|.", r"\[\^b-z\] inside another class"),  # complemented, then folded
    (r"\pL+|.", r"\\pL without braces"),  # Oniguruma: the letters "pL"
    (r"[a-z--aeiou]+|.", "--"),  # Oniguruma: no class difference
    (r"[a-z~~aeiou]+|.", "~~"),
    (r"\xE9|.", r"\\xE9"),  # Oniguruma: a byte
    (r"(?s).{1,4}", '"s"'),  # HF cannot load these
    (r"(?U)\w+|.", '"U"'),
    (r"(?P<w>\w+)|.", '"P"'),
    (r"(?R)|.", '"R"'),
    (r"\u{61}+|.", r"\\u\{61"),
    (r"\U0001F600|.", r"\\U"),
    (r"\w\b+|.", r"word boundary \\b"),
    (r"\B{2}|.", r"word boundary \\B"),
    (r"(?i)ss", '"ss" in a row'),  # Oniguruma: also matches ß (the row spells its folding)
    (r"(?i)f(?:i)", '"fi" in a row'),
    (r"(?i:st)x?", '"st" in a row'),
    # loops whose body can match nothing before another choice: Oniguruma ends them there
    (r"(?:a?|b)*", "iteration that matches nothing"),
    (r"(?: ?\p{L}*|\p{N})+", "iteration that matches nothing"),
    (r"(?:\s*|x)+|.", "iteration that matches nothing"),
    (r"(?:a??b?)+|.", "iteration that matches nothing"),
    (r"\101|.", r"back reference to group 101 .* octal"),  # here: "A"
    (r"\Ca|.", r"\\C without a hyphen"),
]


@pytest.mark.parametrize(("pattern", "named"), REFUSED)
def test_patterns_hf_reads_otherwise_are_refused(pattern: str, named: str) -> None:
    with pytest.raises(PatternError, match=named):
        lf.Tokenizer.train_bpe(texts=["strasse 12345 hello"] * 5, vocab_size=260, pattern=pattern)


def test_refused_patterns_are_the_ones_hf_reads_otherwise() -> None:
    """What each refusal stands for is true of HF: it splits otherwise, or cannot load."""
    pytest.importorskip("tokenizers")
    assert hf_pieces(r"(?i:ß)|.", "strasse") == ["s", "t", "r", "a", "ss", "e"]
    assert hf_pieces(r"(?i)[[:alpha:]]a|.", "ssa") == ["ssa"]  # [[:alpha:]] matched "ss"
    assert hf_pieces(r"(?i)[\p{Lu}]x|.", "i\u0307x") == ["i\u0307x"]  # İ's folding
    assert hf_pieces(r"(?i)[a[^b-z]]+|.", "xyz") == ["xyz"]  # B-Z, folded: b-z too
    assert hf_pieces(r"\pL+|.", "pLLL hello")[0] == "pLLL"
    assert hf_pieces(r"(?i)ss", "aßb") == ["a", "ß", "b"]  # a row spelling ß's folding
    assert hf_pieces(r"(?i)f(?:i)", "aﬁb") == ["a", "ﬁ", "b"]
    assert hf_pieces(r"(?i:st)x?", "aﬆb") == ["a", "ﬆ", "b"]
    assert hf_pieces(r"[a-z--aeiou]+|.", "strength-") == ["strength-"]
    assert hf_pieces(r"\101|.", "AB") == ["A", "B"]  # octal, with fewer groups
    # an empty iteration ends the loop (the regex crate goes on to the next choice)
    assert hf_pieces(r"(?:a?|b)*", "aab") == ["aa", "b"]
    assert hf_pieces(r"(?:\s*|x)+", "  x  ") == ["  ", "x", "  "]
    for pattern in (r"(?s).", r"(?U)\w", r"(?P<w>\w)", r"(?R)", r"\u{61}", r"\xE9", r"\b+",
                    r"\Ca"):  # fmt: skip
        with pytest.raises(Exception, match="Oniguruma"):
            hf_pieces(pattern, "a")


def _fuzz_pattern(rng: random.Random) -> str:
    atoms = ["a", "s", "\\p{L}", "\\p{Lu}", "\\w", "\\W", "\\d", "\\s", "[a-z]", ".", "(ab)",
             "[[:upper:]]", "\\x{41}", "é", "[\\p{L}]", "[^\\p{L}]", "[a[^\\d]]", "[s[^b]]",
             "\\p{Graph}", "\\P{Print}", "\\<", "\\ca", "\\012", "\\Z", "^", "$"]  # fmt: skip
    quantifiers = ["", "", "+", "*", "?", "{2}", "{1,3}", "{,2}", "{1,3}+", "{2}+", "{2}?",
                   "{1,2}?", "++", "*?", "{,}", "{3,1}", "{2,1}+", "{ 2}"]  # fmt: skip
    parts = []
    for _ in range(rng.randint(1, 5)):
        r = rng.random()
        if r < 0.15:
            parts.append(rng.choice(["(?i)", "(?m)", "(?-i)", "(?im)"]))
        elif r < 0.25:
            parts.append("|")
        elif r < 0.35:
            inner = rng.choice(atoms[:-2]) + rng.choice(quantifiers)
            if rng.random() < 0.3:  # a choice inside, which a loop over it may repeat
                inner += "|" + rng.choice(atoms[:-2]) + rng.choice(quantifiers)
            parts.append(rng.choice(["(", "(?:", "(?i:", "(?m:"]) + inner + ")")
            parts[-1] += rng.choice(["", "", "*", "+", "{2}", "{1,3}"])
        else:
            atom = rng.choice(atoms)
            parts.append(atom + ("" if atom in "^$" else rng.choice(quantifiers)))
    return "".join(parts) + "|."


def test_random_patterns_split_like_hf() -> None:
    """A small fuzz: patterns drawn from the constructs the rewrite handles, on text with
    cases, newlines and non-ASCII letters. Each either splits as HF does or is refused."""
    pytest.importorskip("tokenizers")
    from tokenizers import Regex

    rng = random.Random(5)
    alphabet = [*"aAsSbBé É12\n\r.", "ab", "ss", "\u212a", "ß", "ẞ", "İ", "i\u0307", "\xad"]
    compared = 0
    for _ in range(400):
        pattern = _fuzz_pattern(rng)
        try:
            Regex(pattern)
        except Exception:
            continue  # HF cannot load it either
        try:
            _core.pretokenize(pattern, "")
        except PatternError:
            continue
        for _ in range(10):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
            assert _core.pretokenize(pattern, text) == hf_pieces(pattern, text), (pattern, text)
        compared += 1
    assert compared > 200


def test_word_boundaries_split_like_hf() -> None:
    """\\b and \\B use Oniguruma's word characters, as \\w does: ² ³ ¹ ¼ ½ ¾ are word
    characters there (not in the regex crate), ZWJ and ZWNJ are not (they are there)."""
    pytest.importorskip("tokenizers")
    rng = random.Random(3)
    alphabet = [*"xm10 .\n", "²", "³", "¹", "¼", "½", "¾", "\u200d", "\u200c", "é", "_", "Ⅻ"]
    texts = ["x² m² 10½ ¾a", "a\u200db\u200c c", "¹x ¼ ½½ ab³"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10))) for _ in range(300)]
    for pattern in (r"\b\w+\b|\W+", r"\B.|\b.", r"\b|x", r"\B", r"(?i)\bX\w*|\B.",
                    r"\b\p{N}+\b|\S|\s+"):  # fmt: skip
        for text in texts:
            assert _core.pretokenize(pattern, text) == hf_pieces(pattern, text), (pattern, text)


def test_a_saved_custom_pattern_gives_hf_the_same_ids(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    pattern = r"\p{N}{1,3}+|(?m)\S.{0,3}|\s+"
    texts = ["call 12345678 now\nab\ncd", "2024 was a year\n"] * 30
    tok = lf.Tokenizer.train_bpe(texts=texts, vocab_size=300, pattern=pattern)
    tok.save(tmp_path / "tokenizer.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for text in texts[:2]:
        assert tok.encode(text) == hf.encode(text).ids


# ------------------------------------------------------------ WordPiece and line ends
def test_wordpiece_counts_do_not_depend_on_line_ends(tmp_path: Path) -> None:
    """WordPiece counting cuts files after any white space, not only at ``\\n`` (a file of
    ``\\r`` line ends was one line held whole, with memory ~12x its size): the words, and
    so the vocabulary, are the same with LF, CR and CRLF ends, and match Python's split."""
    rng = random.Random(0)
    words = ["the", "a", "Cat", "dog", "sat", "on", "mat", "big", "small", "red", "blue",
             "ran", "fast", "slow", "house", "tree"]  # fmt: skip
    lines = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(3000)]
    lines.append(" ".join(words * 2000))  # a line longer than a block's normalizing piece
    vocabs, counts = [], []
    for name, end in (("lf", "\n"), ("cr", "\r"), ("crlf", "\r\n")):
        path = tmp_path / f"{name}.txt"
        path.write_bytes(end.join(lines).encode() + end.encode())
        tok = lf.Tokenizer.train_wordpiece(path, vocab_size=120, show_progress=False)
        vocabs.append(tok.vocab())
        counter = lf.WordCounts.bert()
        counter.add_files(path, show_progress=False)
        counts.append(sorted(counter.items()))
    assert vocabs[0] == vocabs[1] == vocabs[2]
    assert counts[0] == counts[1] == counts[2]
    expected: dict[bytes, int] = {}
    for line in lines:
        for w in line.lower().split():
            expected[w.encode()] = expected.get(w.encode(), 0) + 1
    assert counts[0] == sorted(expected.items())


def test_utf16_text_is_named_with_its_fix(tmp_path: Path) -> None:
    path = tmp_path / "u16.txt"
    path.write_bytes("the cat sat on the mat.\n".encode("utf-16"))
    with pytest.raises(CorpusError, match=r"UTF-16 text.*iconv -f utf-16 -t utf-8") as e:
        lf.Tokenizer.train_wordpiece(path, vocab_size=60, show_progress=False)
    assert "latin1" not in str(e.value)
    with pytest.raises(CorpusError, match=r"UTF-16 text.*iconv -f utf-16 -t utf-8"):
        lf.Tokenizer.train_bpe(path, vocab_size=260, show_progress=False)


# ------------------------------------------------------------------- pipes as a corpus
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_is_refused_as_a_shard_corpus(tmp_path: Path) -> None:
    """A pipe (``<(cat corpus.txt)``) has no size to plan shards from: it was read as
    holding no text. A writer feeds it as the shell would, so nothing waits forever."""
    source = tmp_path / "source.txt"
    source.write_text("the cat sat on the mat.\n\n" * 50, encoding="utf-8")
    fifo = tmp_path / "corpus.txt"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", 'exec cat "$1" > "$2"', "sh", source, fifo])
    tok = lf.Tokenizer.train_wordpiece(texts=["the cat sat"] * 5, vocab_size=40)
    try:
        for corpus in (fifo, [fifo]):
            with pytest.raises(CorpusError, match=r"is a pipe, not a regular file.*save it"):
                lf.build_shards(corpus, tmp_path / "shards", tok)
    finally:
        writer.kill()
        writer.wait()
