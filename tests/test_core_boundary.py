"""The compiled core called directly, past the checks of the public API: a value no
wrapper would pass is still a typed ``lexforge.errors`` exception, never a Rust panic
(``PanicException``), an abort of the process on an allocation, or a silently wrong
result. Cases that would abort run in a child process, so a regression fails this test
rather than ending the whole run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lexforge as lf
from lexforge import _core, datasets
from lexforge.errors import ConfigError

HUGE = 2**40  # a length no machine holds: a request this size used to abort the process


@pytest.fixture(scope="module")
def bert() -> lf.Tokenizer:
    return lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])


@pytest.fixture(scope="module")
def bpe() -> lf.Tokenizer:
    texts = ["hello world, the cat sat on the mat"] * 20
    return lf.Tokenizer.train_bpe(texts=texts, vocab_size=300, special_tokens=["[PAD]"])


def _in_a_child(code: str) -> str:
    """Runs ``code`` in a fresh interpreter; what it prints (an abort has no output and a
    negative return code, which fails the test)."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    return done.stdout


def test_a_piece_of_a_file_outside_it_is_refused(bert: lf.Tokenizer, tmp_path: Path) -> None:
    path = tmp_path / "doc.txt"
    path.write_text("Hello world. Bye now.\n\nNext doc.\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bytes 5\.\.3 .* its end comes before its start"):
        _core.tokenize_piece(bert._core, path, 5, 3)
    # an end far past the file: the piece is refused, not reserved in memory first
    out = _in_a_child(
        "from lexforge import _core, datasets; import lexforge as lf\n"
        "tok = lf.Tokenizer.from_file(datasets.files('bert-base-uncased')['tokenizer.json'])\n"
        f"try: _core.tokenize_piece(tok._core, {str(path)!r}, 0, {HUGE})\n"
        "except Exception as e: print(type(e).__name__, e)\n"
    )
    assert out.startswith("CorpusError") and "shorter than planned" in out
    whole = _core.tokenize_piece(bert._core, path, 0, path.stat().st_size)
    assert whole is not None  # (the same call within the file works)


@pytest.mark.parametrize("which", ["bert", "bpe"])
@pytest.mark.parametrize("padding", [(None, HUGE), (HUGE, None), (None, 2**63), (2**34, None)])
def test_padding_past_memory_is_refused(
    which: str, padding: tuple[int | None, int | None], bert: lf.Tokenizer, bpe: lf.Tokenizer
) -> None:
    tok = {"bert": bert, "bpe": bpe}[which]
    spec = (*padding, 0, 0, "right")
    for call in (
        lambda: tok._core.encode_batch_lists(["hello world", "a"], padding=spec),
        lambda: tok._core.encode_batch_arrays(["hello world", "a"], ["input_ids"], padding=spec),
    ):
        with pytest.raises(ConfigError, match=r"padding 2 rows to .* more memory than can be"):
            call()
    # a padding that fits still pads (the oracle: the public API's own padding)
    got = tok._core.encode_batch_arrays(
        ["hello world", "a"], ["input_ids"], padding=(9, None, 0, 0, "right")
    )
    want = tok.encode_batch(["hello world", "a"], padding="max_length", max_length=9)
    assert got["input_ids"].tolist() == want


def test_masking_reads_only_row_major_arrays() -> None:
    """A Fortran-ordered array is contiguous too, but its flat values are its columns: it
    is refused with the fix, never masked as if its columns were rows."""
    masker = _core.Masker([0], 100, 3, 1.0, 0.0, 0.0, "bernoulli", False, 0)  # keep every id
    ids = np.arange(4 * 30, dtype=np.int64).reshape(4, 30) % 90 + 5
    ids[:, 0] = 0
    _, labels = masker.mask(ids, 0)
    assert (labels[:, 1:] == ids[:, 1:]).all() and (labels[:, 0] == -100).all()
    with pytest.raises(ConfigError, match=r"input_ids must be C-contiguous"):
        masker.mask(np.asfortranarray(ids), 0)
    special = np.asfortranarray(ids == 0).astype(np.uint8)
    with pytest.raises(ConfigError, match=r"special_tokens_mask must be C-contiguous"):
        masker.mask(ids, 0, special_mask=special)
    with pytest.raises(ConfigError, match=r"word_ids must be C-contiguous"):
        masker.mask(ids, 0, word_ids=np.asfortranarray(np.zeros_like(ids)))
    # the public Masker takes any layout: the same masks as the row-major array's
    public = lf.Masker(special_ids=[0], vocab_size=100, mask_token_id=3, seed=1)
    a, b = public(ids, step=0), public(np.asfortranarray(ids), step=0)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))


def test_a_vocabulary_past_memory_is_refused_by_the_masker() -> None:
    """The masker's per-id tables for vocab_size 2**32 - 1 (which the options accept): a
    ConfigError where memory is limited, not an abort on the allocation (run in a child
    whose address space is capped at 3 GiB)."""
    out = _in_a_child(
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "from lexforge.masking import Masker\n"
        "try: Masker(vocab_size=2**32 - 1, mask_token_id=5, special_ids=[0])\n"
        "except Exception as e: print(type(e).__name__, e)\n"
    )
    assert out.startswith("ConfigError vocab_size 4294967295 needs 1 table"), out
    # a vocabulary that fits is taken as before
    masker = lf.Masker(vocab_size=30_000, mask_token_id=5, special_ids=[0])
    assert masker(np.array([[0, 7, 8]]), step=0)[0].shape == (1, 3)


def test_sizes_past_memory_in_the_data_path_are_config_errors() -> None:
    """From a fuzz of the core: an empty batch padded to a width past the address space
    (a (0, width) array's row stride overflowed: a segfault), a shard count past memory
    (a panic on the capacity, or an abort), and a continuation id past the vocabulary (a
    table of 4 GiB, an abort where memory is capped). Run in a child, as a crash would be."""
    out = _in_a_child(
        "import numpy as np\n"
        "from lexforge import _core\n"
        "tokens = np.arange(5, 23, dtype=np.uint32)\n"
        "c = _core.ShardCorpus([('s', tokens, np.arange(0, 19, 3, dtype=np.int64),\n"
        "                        np.array([0, 2, 4, 6], dtype=np.int64))], 50)\n"
        "calls = [lambda: _core.pad_lists([], 0, 'input_ids', 1, 2**60),\n"
        "         lambda: _core.shard_order(2**64 - 1, 0, 0),\n"
        "         lambda: _core.shard_order(2**40, 0, 0),\n"
        "         lambda: c.build_block(0, 0, 16, 0.1, 'sop', 0, None, [2**32 - 1])]\n"
        "for call in calls:\n"
        "    try: call(); print('no error')\n"
        "    except Exception as e: print(type(e).__name__, str(e)[:60])\n"
        "print(len(c.build_block(0, 0, 16, 0.1, 'sop', 0, None, [7, 49])))\n"
    )
    said = out.splitlines()
    assert [line.split()[0] for line in said[:4]] == ["ConfigError"] * 4, said
    assert "continuation_ids holds 4294967295, outside the vocabulary" in said[3]
    assert int(said[4]) > 0  # ids inside it are taken


def test_masking_refuses_side_arrays_of_another_shape() -> None:
    """A special-tokens mask, word ids or word starts holding as many values as the ids in
    another shape would be read as other positions: refused, naming both shapes."""
    masker = _core.Masker([0], 100, 3, 0.5, 0.8, 0.1, "bernoulli", False, 0)
    ids = np.arange(4 * 6, dtype=np.int64).reshape(4, 6) % 90 + 5
    ids[:, 0] = 0
    flags = (ids == 0).astype(np.uint8)
    with pytest.raises(ConfigError, match=r"special_tokens_mask has shape \[6, 4\] but input"):
        masker.mask(ids, 0, special_mask=np.ascontiguousarray(flags.T))
    with pytest.raises(ConfigError, match=r"word_ids has shape \[3, 8\] but input_ids has"):
        masker.mask(ids, 0, word_ids=np.zeros((3, 8), dtype=np.int64))
    with pytest.raises(ConfigError, match=r"word_starts has shape \[2, 12\]"):
        masker.mask(ids, 0, word_starts=np.ones((2, 12), dtype=np.uint8))
    # the same arrays in the ids' shape are taken, and the mask keeps specials out
    _, labels = masker.mask(ids, 0, special_mask=flags)
    assert (labels[:, 0] == -100).all()


def test_counts_merged_into_themselves_double() -> None:
    """The core counter merged with itself (PyO3 used to refuse the second borrow with a
    bare RuntimeError): every count doubles, as the public WordCounts does."""
    counter = _core.WordCounter(r"\S+", [])
    counter.add_texts(["a b b c c c"], None)
    before = {w: counter.get(w) for w in (b"a", b"b", b"c")}
    counter.merge(counter)
    assert {w: counter.get(w) for w in before} == {w: 2 * n for w, n in before.items()}
    other = _core.WordCounter(r"\S+", [])
    other.add_texts(["a d"], None)
    counter.merge(other)
    assert (counter.get(b"a"), counter.get(b"d"), other.get(b"a")) == (3, 1, 1)


def test_shard_arrays_changed_after_the_corpus_is_made_change_nothing(tmp_path: Path) -> None:
    """The corpus validates its shards once. Arrays the caller can still write to (or whose
    owner can be made writeable again) are copied, so offsets changed afterwards neither
    send the instance builder out of bounds nor into allocations of any size (a sentence
    offset set to 10**9 drew the OOM killer). Run in a child capped at 3 GiB."""
    out = _in_a_child(
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "import numpy as np\n"
        "from lexforge import _core\n"
        "def arrays():\n"
        "    tokens = np.arange(5, 200, dtype=np.uint16)\n"
        "    sentences = np.append(np.arange(0, 195, 7), 195).astype(np.int64)\n"
        "    return tokens, sentences, np.array([0, 10, sentences.size - 1], dtype=np.int64)\n"
        "def rows(c):\n"
        "    got = []\n"
        "    for objective in ('nsp', 'none'):\n"
        "        b = c.build_block(0, 0, 32, 0.1, objective, 0)\n"
        "        got.append(c.materialize([(b, 0, len(b))], 1, 2, 0)['input_ids'].tolist())\n"
        "    return got\n"
        "for which, at, value in [(1, 3, 10**9), (1, -1, 10**6), (2, 1, -3), (0, 4, 60000)]:\n"
        "    for frozen_owner in (False, True):\n"
        "        shard = arrays()\n"
        "        if frozen_owner: [a.setflags(write=False) for a in shard]\n"
        "        c = _core.ShardCorpus([('s', *shard)], 1000)\n"
        "        before = rows(c)\n"
        "        if frozen_owner: [a.setflags(write=True) for a in shard]\n"
        "        shard[which][at] = value\n"
        "        print(rows(c) == before)\n"
    )
    assert out.split() == ["True"] * 8, out
