"""Tokenizer training inputs: a file trains as it is (a ``.txt.gz`` like its ``.txt``, a
record's text whole, as it is), special tokens the line-wise file reader cannot cut,
counts that cannot merge, a corpus of nothing but special tokens, HF's byte ids, and a
corpus of one huge word. Oracles: the uncompressed file, HF ``tokenizers`` trained on the
same texts, and the definition (counting the texts through ``texts=``)."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lexforge as lf
from lexforge.cli import main
from lexforge.errors import CorpusError, TrainerConfigError

# CRLF line ends, spaces and tabs at line ends, blank (and white-space-only) lines, a lone
# CR inside a line, non-ASCII text
TEXT = (
    "The first line  \r\n"
    "second line\t\r\n"
    "\r\n"
    "   \r\n"
    "third: café, naïve, 北京  \n"
    "\n\n"
    "a lone\rcarriage return\r\n"
    "last line without an end   "
)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEXFORGE_CACHE", str(tmp_path / "cache"))


def _corpus(tmp_path: Path, repeat: int = 40) -> tuple[Path, Path]:
    rng = random.Random(5)
    lines = TEXT.split("\n")
    body = "\n".join(rng.choice(lines) for _ in range(repeat * len(lines)))
    plain = tmp_path / "c.txt"
    plain.write_bytes(body.encode("utf-8"))
    packed = tmp_path / "c.txt.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    return plain, packed


def test_a_gzipped_text_trains_the_tokenizers_its_text_trains(tmp_path: Path) -> None:
    plain, packed = _corpus(tmp_path)
    bpe = lf.Tokenizer.train_bpe(plain, vocab_size=330, show_progress=False)
    assert any(b"\r" in a + b for a, b in bpe.merges())  # the file's line ends are learned
    # a paragraph copy of the .gz cached first (shard building makes one) is not reused
    from lexforge._corpus_files import as_text

    assert b"\r" not in as_text(packed).read_bytes()
    for _ in range(2):  # the second time from the cache
        ours = lf.Tokenizer.train_bpe(packed, vocab_size=330, show_progress=False)
        assert (ours.vocab(), ours.merges()) == (bpe.vocab(), bpe.merges())
    counts = lf.WordCounts.from_files(packed, show_progress=False)
    assert counts.items() == lf.WordCounts.from_files(plain, show_progress=False).items()
    for cased in (False, True):
        wp = lf.Tokenizer.train_wordpiece(plain, vocab_size=80, lowercase=not cased)
        assert lf.Tokenizer.train_wordpiece(packed, vocab_size=80, lowercase=not cased).vocab() == (
            wp.vocab()
        )


def _records(tmp_path: Path, texts: list[str]) -> Path:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return path


def _hf_bpe(texts: list[str], vocab_size: int, specials: list[str]) -> Any:
    hf = pytest.importorskip("tokenizers")
    tok = hf.Tokenizer(hf.models.BPE())
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = hf.trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False,
        initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    tok.train_from_iterator(texts, trainer)
    return tok


def _vocab(tok: lf.BpeTokenizer, path: Path) -> dict[str, int]:
    """Every id of ``tok`` by its token as tokenizer.json spells it."""
    tok.save(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {**doc["model"]["vocab"], **{t["content"]: t["id"] for t in doc["added_tokens"]}}


def test_a_records_text_is_counted_whole_as_it_is(tmp_path: Path) -> None:
    rng = random.Random(3)
    parts = TEXT.split("\n")
    texts = ["\n".join(rng.choice(parts) for _ in range(rng.randint(1, 6))) for _ in range(300)]
    path = _records(tmp_path, texts)
    ours = lf.Tokenizer.train_bpe(path, vocab_size=320, show_progress=False)
    assert any(b"\r" in a + b for a, b in ours.merges())
    # HF trained on the same texts (each one sequence) gives the same ids
    theirs = _hf_bpe(texts, 320, [])
    assert _vocab(ours, tmp_path / "t.json") == theirs.get_vocab()
    counts = lf.WordCounts.from_files(path, show_progress=False)
    assert counts.items() == lf.WordCounts.from_texts(texts).items()
    # one record of only white space is counted too (it is text, though no word)
    blank = _records(tmp_path, ["   \r\n  "])
    with pytest.raises(CorpusError, match=r"c\.jsonl: no record holds any text"):
        lf.WordCounts.from_files(blank, show_progress=False)


def test_byte_ids_are_hfs(tmp_path: Path) -> None:
    """The same corpus and vocab_size give HF's vocabulary, ids included (the bytes by the
    code points of their byte-level characters), and so the same ids on held-out text."""
    rng = random.Random(11)
    words = ["low", "lower", "newest", "widest", "über", "北京", "naïve", "x\ty", "\x00\x7f", "€"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 9))) for _ in range(400)]
    specials = ["<s>", "<pad>", "</s>"]
    theirs = _hf_bpe(texts, 340, specials)
    ours = lf.Tokenizer.train_bpe(
        texts=texts, vocab_size=340, special_tokens=specials, show_progress=False
    )
    assert _vocab(ours, tmp_path / "t.json") == theirs.get_vocab()
    held_out = "The newest ÿ widget, \x01 straße, 東京 lowest 😀!\n\r\n"
    assert ours.encode(held_out) == theirs.encode(held_out).ids
    # the counts route (a distributed count) numbers alike
    counts = lf.WordCounts.from_texts(texts, special_tokens=specials)
    again = lf.BpeTokenizer.from_counts(counts, vocab_size=340)
    assert again.vocab() == ours.vocab()


@pytest.mark.parametrize("token", ["<sep>\n", "a\nb", "\n"])
def test_a_special_token_with_a_line_break_is_refused_for_text_files(
    token: str, tmp_path: Path
) -> None:
    plain, packed = _corpus(tmp_path, repeat=2)
    (tmp_path / "s.txt").write_text(f"one{token}two\n", encoding="utf-8")
    for files in (plain, packed, [tmp_path / "s.txt"]):
        with pytest.raises(TrainerConfigError, match=r"holds a line break.*line by line.*texts="):
            lf.Tokenizer.train_bpe(files, vocab_size=300, special_tokens=[token])
        with pytest.raises(TrainerConfigError, match=r"special_tokens / --special"):
            lf.Tokenizer.train_wordpiece(files, vocab_size=60, special_tokens=["[UNK]", token])
    # texts and records are counted whole: the token is cut out of them
    texts = [f"one{token}two", f"{token}three"]
    counts = lf.WordCounts.from_files(_records(tmp_path, texts), special_tokens=[token])
    assert counts.items() == lf.WordCounts.from_texts(texts, special_tokens=[token]).items()
    assert not any(b"\n" in w for w, _ in counts.items())


def test_counts_made_with_other_special_tokens_do_not_merge() -> None:
    a = lf.WordCounts.from_texts(["a <x> b"], special_tokens=["<x>"])
    for specials in ([], ["<y>"], ["<x>", "<y>"]):
        b = lf.WordCounts.from_texts(["a <x> b"], special_tokens=specials)
        with pytest.raises(
            TrainerConfigError,
            match=r"special tokens \[.*\] into counts made with \[\W<x>\W\].*same special",
        ):
            a.merge(b)
    with pytest.raises(TrainerConfigError, match=r"\[\W<y>\W, \W<x>\W\].*\[\W<x>\W, \W<y>\W\]"):
        c = lf.WordCounts(special_tokens=["<x>", "<y>"])
        c.merge(lf.WordCounts(special_tokens=["<y>", "<x>"]))  # the order gives the ids
    same = lf.WordCounts.from_texts(["c"], special_tokens=["<x>"])
    a.merge(same)
    assert a[b"c"] == 1 and a.special_tokens == ["<x>"]
    bert = lf.WordCounts.bert(special_tokens=["[UNK]"])
    with pytest.raises(TrainerConfigError, match=r"\W\[UNK\]\W, \W\[SEP\]\W\] into"):
        bert.merge(lf.WordCounts.bert(special_tokens=["[UNK]", "[SEP]"]))


def test_a_corpus_of_only_special_tokens_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.txt"
    path.write_text("[CLS] [SEP]\n[UNK]\n\n[CLS][SEP]\n", encoding="utf-8")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    message = r"only special tokens.*nothing is left.*special_tokens / --special"
    with pytest.raises(CorpusError, match=message):
        lf.Tokenizer.train_wordpiece(path, vocab_size=100, show_progress=False)
    with pytest.raises(CorpusError, match=r"only special tokens and white space.*--special"):
        lf.Tokenizer.train_bpe(path, vocab_size=300, special_tokens=specials)
    with pytest.raises(CorpusError, match=message):
        lf.Tokenizer.train_bpe(texts=["[CLS][SEP]"], vocab_size=300, special_tokens=specials)
    # a corpus with no text at all is still called empty; files are named (with several,
    # the user could not tell which was empty)
    with pytest.raises(CorpusError, match=r"the corpus is empty"):
        lf.Tokenizer.train_wordpiece(texts=[""], vocab_size=100)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    for train in (lf.Tokenizer.train_wordpiece, lf.Tokenizer.train_bpe):
        with pytest.raises(CorpusError, match=r"no words were counted in '.*empty\.txt'"):
            train([empty], vocab_size=300)
    assert main(["train-tokenizer", str(empty), "--vocab-size", "300", "--quiet", "-o",
                 str(tmp_path / "e.json")]) == 1  # fmt: skip
    assert f"no words were counted in '{empty}'" in capsys.readouterr().err
    out = tmp_path / "t.json"
    argv = ["train-tokenizer", "--model", "wordpiece", str(path), "--vocab-size", "100"]
    assert main([*argv, "-o", str(out), "--quiet"]) == 1
    assert "--special" in capsys.readouterr().err


def test_wordpiece_pieces_never_pass_max_input_chars_per_word() -> None:
    long_word = "abcdefghij" * 15  # 150 characters: read as [UNK] by the tokenizer
    texts = [f"{long_word} short words here"] * 50
    tok = lf.Tokenizer.train_wordpiece(texts=texts, vocab_size=2000, show_progress=False)
    assert max(len(t.removeprefix("##")) for t in tok.vocab()) <= 100
    assert "abcdefghij" not in tok.vocab() and "short" in tok.vocab()
    assert tok.encode(long_word, add_special_tokens=False) == [tok.token_to_id("[UNK]")]
    # the characters of long words stay in the alphabet, as in HF's
    assert "j" in tok.vocab() and "##j" in tok.vocab()
    # with a higher limit the long word is learned, up to max_token_length (default: it)
    roomy = lf.Tokenizer.train_wordpiece(
        texts=texts, vocab_size=2000, max_input_chars_per_word=200, show_progress=False
    )
    assert long_word in roomy.vocab()
    capped = lf.Tokenizer.train_wordpiece(
        texts=texts, vocab_size=2000, max_input_chars_per_word=200, max_token_length=40
    )
    assert max(len(t.removeprefix("##")) for t in capped.vocab()) == 40


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)")
def test_one_huge_word_trains_in_bounded_memory() -> None:
    """A 4 MB word held over a gigabyte of training state; it encodes as [UNK], so it is not
    learned from at all."""
    # the peak of the child's own memory (VmHWM: ru_maxrss would carry pytest's over exec)
    script = (
        "import lexforge as lf\n"
        "tok = lf.Tokenizer.train_wordpiece(texts=['ab' * 2_000_000, 'ab abc'],"
        " vocab_size=300, show_progress=False)\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "print(status, tok.vocab_size, max(len(t) for t in tok.vocab() if t[0] != '['))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    peak_kib, size, longest = map(int, run.stdout.split())
    assert peak_kib < 400_000, f"peak memory {peak_kib} KiB"
    assert size < 20 and longest <= 5


def test_a_word_count_past_64_bits_is_refused_by_name() -> None:
    """Counts are 64-bit in the core: a larger one is a TrainerConfigError naming the
    limit, not an OverflowError from the conversion."""
    counts = lf.WordCounts()
    counts.add(b" hello", 2**64 - 1)  # the largest count is taken
    assert counts[b" hello"] == 2**64 - 1
    with pytest.raises(TrainerConfigError, match=r"at most 2\^64 - 1"):
        counts.add(b" hello", 2**64)
    assert counts[b" hello"] == 2**64 - 1  # (nothing added)


def test_a_word_count_summed_past_64_bits_is_refused_and_changes_nothing() -> None:
    """A count that adding or merging would take past 2^64 - 1 is a TrainerConfigError
    naming the word; it saturated there silently. A merge is all or none."""
    counts = lf.WordCounts()
    counts.add(b" hello", 2**64 - 1)
    counts.add(b" world", 5)
    with pytest.raises(TrainerConfigError, match=r'" hello" would pass 2\^64 - 1'):
        counts.add(b" hello", 1)
    other = lf.WordCounts()
    other.add(b" world", 2)
    other.add(b" hello", 1)
    with pytest.raises(TrainerConfigError, match=r'" hello" would pass 2\^64 - 1'):
        counts.merge(other)
    assert counts[b" hello"] == 2**64 - 1 and counts[b" world"] == 5  # nothing added
    other = lf.WordCounts()
    other.add(b" world", 2)
    counts.merge(other)  # a total past 64 bits whose counts fit merges
    assert counts[b" world"] == 7
