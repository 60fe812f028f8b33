"""BPE training: the Rust trainer against the Python reference, determinism across thread
counts and runs, file and iterator inputs, mergeable counts, bad input, pathological input."""

from __future__ import annotations

import bz2
import gzip
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lexforge as lf
from lexforge import _core
from lexforge.errors import CorpusError, LexforgeError, TrainerConfigError
from lexforge.reference import pretokenize, train

WORDS = [
    "low",
    "lower",
    "newest",
    "widest",
    "the",
    "then",
    "there",
    "aaab",
    "ab ab",
    "über",
    "中文字",
]


def corpus(seed: int, n: int = 300) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))) for _ in range(n)]


def reference_merges(
    texts: list[str], vocab_size: int, n_special: int = 0, **kw: int | None
) -> list[tuple[bytes, bytes]]:
    counts: dict[bytes, int] = {}
    for text in texts:
        for piece in pretokenize("gpt2", text):
            counts[piece.encode()] = counts.get(piece.encode(), 0) + 1
    merges = train(counts, vocab_size - 256 - n_special, **kw)  # type: ignore[arg-type]
    tokens = [bytes([b]) for b in range(256)]
    for a, b in merges:
        tokens.append(tokens[a] + tokens[b])
    return [(tokens[a], tokens[b]) for a, b in merges]


@pytest.mark.parametrize("seed", range(5))
def test_merges_equal_the_reference(seed: int) -> None:
    texts = corpus(seed)
    tok = lf.Tokenizer.train_bpe(texts=texts, vocab_size=256 + 60, show_progress=False)
    assert tok.merges() == reference_merges(texts, 256 + 60)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(alphabet="ab c\nd'é", max_size=30), min_size=1, max_size=20),
    extra=st.integers(1, 40),
    min_frequency=st.integers(0, 3),
    max_token_length=st.none() | st.integers(1, 6),
)
def test_merges_equal_the_reference_on_random_corpora(
    texts: list[str], extra: int, min_frequency: int, max_token_length: int | None
) -> None:
    if not "".join(texts).strip():  # white space only: refused (test_tokenizer_bad_input)
        return
    tok = lf.Tokenizer.train_bpe(
        texts=texts,
        vocab_size=256 + extra,
        min_frequency=min_frequency,
        max_token_length=max_token_length,
        show_progress=False,
    )
    expect = reference_merges(
        texts, 256 + extra, min_frequency=min_frequency, max_token_length=max_token_length
    )
    assert tok.merges() == expect


def test_identical_for_1_2_4_threads_and_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(corpus(7, 3000)), encoding="utf-8")
    results = []
    for threads in (1, 2, 4, 4):
        tok = lf.Tokenizer.train_bpe(path, vocab_size=400, num_threads=threads, show_progress=False)
        results.append((tok.vocab(), tok.merges()))
        tok2 = lf.Tokenizer.train_bpe(
            texts=corpus(7, 3000), vocab_size=400, num_threads=threads, show_progress=False
        )
        results.append((tok2.vocab(), tok2.merges()))
    assert all(r == results[0] for r in results)


def test_files_are_lines_and_iterators_are_items(tmp_path: Path) -> None:
    lines = corpus(3, 500)
    path = tmp_path / "c.txt"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    from_file = lf.WordCounts.from_files(path, show_progress=False)
    from_iter = lf.WordCounts.from_texts(line + "\n" for line in lines)
    assert from_file.items() == from_iter.items()
    assert from_file.total == sum(len(pretokenize("gpt2", line + "\n")) for line in lines)


def test_a_byte_order_mark_is_not_counted(tmp_path: Path) -> None:
    lines = corpus(5, 300)
    text = "".join(line + "\n" for line in lines)
    plain, marked = tmp_path / "plain.txt", tmp_path / "marked.txt"
    plain.write_text(text, encoding="utf-8")
    marked.write_text(text, encoding="utf-8-sig")  # what Windows editors save
    counts = [lf.WordCounts.from_files(p, show_progress=False) for p in (plain, marked)]
    assert counts[0].items() == counts[1].items()
    for trainer in (lf.Tokenizer.train_bpe, lf.Tokenizer.train_wordpiece):
        a, b = (trainer(p, vocab_size=400, show_progress=False) for p in (plain, marked))
        a.save(tmp_path / "a.json")
        b.save(tmp_path / "b.json")
        same = (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
        assert same, trainer.__name__


def test_counts_merge_like_one_pass(tmp_path: Path) -> None:
    texts = corpus(11, 1000)
    whole = lf.WordCounts.from_texts(texts)
    shards = [lf.WordCounts.from_texts(texts[i::3]) for i in range(3)]
    merged = lf.WordCounts()
    for shard in shards:
        shard.save(tmp_path / "shard.counts")
        merged.merge(lf.WordCounts.load(tmp_path / "shard.counts"))
    assert merged.items() == whole.items()
    a = lf.Tokenizer.from_counts(merged, vocab_size=350, special_tokens=["<s>"])
    b = lf.Tokenizer.train_bpe(
        texts=texts, vocab_size=350, special_tokens=["<s>"], show_progress=False
    )
    assert a.vocab() == b.vocab() and a.merges() == b.merges()
    other = lf.WordCounts(pattern="cl100k")
    with pytest.raises(TrainerConfigError, match="same pattern"):
        merged.merge(other)


def test_special_tokens_are_cut_out_and_get_the_first_ids() -> None:
    tok = lf.Tokenizer.train_bpe(
        texts=["hello<|eot|>hello", "<pad>hello"],
        vocab_size=300,
        special_tokens=["<pad>", "<|eot|>"],
        show_progress=False,
    )
    assert tok.special_tokens == {"<pad>": 0, "<|eot|>": 1}
    assert tok.token_to_id(b"hello") is not None
    assert all(b"<" not in t for t in tok.vocab() if len(t) > 1)
    assert tok.encode("<pad>hello<|eot|>", allowed_special="all") == [
        0,
        tok.token_to_id(b"hello"),
        1,
    ]


def test_counts_beyond_2_to_the_31() -> None:
    counts = lf.WordCounts.from_items(
        [(b"hello", 3_000_000_000), (b"help", 2_500_000_000), (b"yo", 1)]
    )
    assert counts.total == 5_500_000_001
    tok = lf.Tokenizer.from_counts(counts, vocab_size=256 + 4)
    assert tok.merges() == reference_merges_from_counts(dict(counts.items()), 4)
    # 5e9 wraps to about 7e8 in 32 bits, which would put ("c", "d") first
    wide = lf.WordCounts.from_items([(b"ab", 5_000_000_000), (b"cd", 1_000_000_000)])
    assert lf.Tokenizer.from_counts(wide, vocab_size=258).merges() == [(b"a", b"b"), (b"c", b"d")]


def reference_merges_from_counts(counts: dict[bytes, int], n: int) -> list[tuple[bytes, bytes]]:
    tokens = [bytes([b]) for b in range(256)]
    out = []
    for a, b in train(counts, n):
        tokens.append(tokens[a] + tokens[b])
        out.append((tokens[a], tokens[b]))
    return out


def test_one_repeated_word_corpus(tmp_path: Path) -> None:
    path = tmp_path / "same.txt"
    path.write_text("tokenizer " * 200_000 + "\n", encoding="utf-8")
    tok = lf.Tokenizer.train_bpe(path, vocab_size=1000, show_progress=False)
    # every merge builds toward the two words, then nothing is left to merge
    assert tok.encode("tokenizer tokenizer") == [
        tok.token_to_id(b"tokenizer"),
        tok.token_to_id(b" tokenizer"),
    ]
    assert len(tok.merges()) < 30


def test_a_long_line_without_whitespace(tmp_path: Path) -> None:
    rng = random.Random(0)
    line = "".join(rng.choices("abcdefghij", k=10_000_000))
    path = tmp_path / "long.txt"
    path.write_text(line, encoding="utf-8")
    tok = lf.Tokenizer.train_bpe(path, vocab_size=256 + 200, show_progress=False)
    assert len(tok.merges()) == 200
    assert tok.decode(tok.encode(line[:10_000])) == line[:10_000]


def test_min_frequency_and_max_token_length() -> None:
    texts = ["aaaa bbbb", "aaaa"]
    tok = lf.Tokenizer.train_bpe(texts=texts, vocab_size=300, min_frequency=3, show_progress=False)
    assert all(len(a + b) <= 2 for a, b in tok.merges())
    tok = lf.Tokenizer.train_bpe(
        texts=texts, vocab_size=300, max_token_length=2, show_progress=False
    )
    assert max(len(t) for t in tok.vocab()) == 2


def test_empty_corpus(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="empty"):
        lf.Tokenizer.train_bpe(texts=[], vocab_size=300)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(CorpusError, match="empty"):
        lf.Tokenizer.train_bpe(tmp_path / "empty.txt", vocab_size=300, show_progress=False)


def test_vocab_size_below_the_alphabet() -> None:
    with pytest.raises(TrainerConfigError, match=r"vocab_size=100 .*use vocab_size >= 258"):
        lf.Tokenizer.train_bpe(texts=["abc"], vocab_size=100, special_tokens=["<a>", "<b>"])
    assert issubclass(TrainerConfigError, ValueError)


def test_missing_paths_and_directories(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.txt"):
        lf.Tokenizer.train_bpe(tmp_path / "nope.txt", vocab_size=300)
    with pytest.raises(CorpusError, match="directory"):
        lf.Tokenizer.train_bpe(tmp_path, vocab_size=300, show_progress=False)


def test_non_utf8_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("first line\nsecond caf\xe9\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1\.txt:2: invalid UTF-8.*iconv") as info:
        lf.Tokenizer.train_bpe(path, vocab_size=300, show_progress=False)
    assert isinstance(info.value, ValueError)
    # a .gz file is decompressed (tests/test_corpus_formats.py); other packings are named
    (tmp_path / "c.txt.bz2").write_bytes(bz2.compress(b"first line\n"))
    with pytest.raises(CorpusError, match=r"c\.txt\.bz2\b.* is a bzip2-compressed file"):
        lf.Tokenizer.train_bpe(tmp_path / "c.txt.bz2", vocab_size=300, show_progress=False)
    (tmp_path / "c.txt.gz").write_bytes(gzip.compress("second caf\xe9\n".encode("latin-1")))
    # (read like the .txt it holds, and named as the .gz, not its decompressed copy)
    with pytest.raises(CorpusError, match=r"/c\.txt\.gz:1: invalid UTF-8 at byte 10.*iconv"):
        lf.Tokenizer.train_bpe(tmp_path / "c.txt.gz", vocab_size=300, show_progress=False)


def test_bad_texts_in_iterators() -> None:
    with pytest.raises(TypeError, match="str"):
        lf.Tokenizer.train_bpe(texts=["ok", b"bytes"], vocab_size=300)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not one str"):
        lf.WordCounts().add_texts("a string")


def test_progress_callback_errors_propagate(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("\n".join(corpus(1, 100)), encoding="utf-8")
    counter = _core.WordCounter("gpt2")

    def boom(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        counter.add_files([str(path)], None, boom)
    counter.add_files([str(path)], None, None)
    calls: list[tuple[int, int]] = []
    _core.train_bpe(counter, 300, [], 0, None, lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1]


def test_errors_share_a_base_class() -> None:
    for cls in (CorpusError, TrainerConfigError):
        assert issubclass(cls, LexforgeError) and issubclass(cls, ValueError)
