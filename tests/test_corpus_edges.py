"""Corpora the shard builder must not get wrong: line ends of every kind, byte-order marks,
lines longer than the cut search, pieces of a few bytes, directories with links and the
shards inside them, text that is not UTF-8; and the pretraining options' types. The oracle
is Python's own text handling (universal newlines) and the tokenizer run on whole text."""

from __future__ import annotations

import io
import itertools
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import lexforge as lf
from lexforge import _core, datasets
from lexforge.errors import ConfigError, CorpusError, ShardError


@pytest.fixture(scope="module")
def bert() -> Any:
    return lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])


def universal_documents(bert: Any, data: bytes, sentences: str) -> list[list[list[int]]]:
    """The oracle: Python decodes the bytes (BOM dropped, lines ending at \\n, \\r\\n or \\r),
    blank lines separate documents, each line is cut into sentences (or kept whole), and
    each sentence is encoded on its own."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=None).read()
    docs: list[list[list[int]]] = [[]]
    for line in text.split("\n"):
        if not line.strip():
            docs.append([])
            continue
        parts = lf.split_sentences(line) if sentences == "split" else [line.strip()]
        docs[-1] += [ids for s in parts if (ids := bert.encode(s, add_special_tokens=False))]
    return [d for d in docs if d]


def shard_documents(shards: lf.ShardSet) -> list[list[list[int]]]:
    return [[s.tolist() for s in doc] for doc in shards.documents()]


MIXED = (
    "\ufeffFirst doc. It has two sentences.\r\nAnd a CRLF line.\r\n\r\n"
    "Old Mac doc.\rSecond line, lone CR.\r\rThird doc after CR CR.\r"
    " \t \nFourth doc, after a whitespace line.\n\u3000\n"
    "Ünïcödé dóc ✓ 日本語です。次の文！\r\n\r\nNo final newline"
)


@pytest.mark.parametrize("sentences", ["split", "lines"])
def test_line_ends_match_universal_newlines(bert: Any, tmp_path: Path, sentences: str) -> None:
    data = (MIXED * 40).encode("utf-8")
    path = tmp_path / "mixed.txt"
    path.write_bytes(data)
    want = universal_documents(bert, data, sentences)
    assert len(want) == 40 * 6 - 39  # the last doc of each copy runs into the next's first
    # pieces of one byte up to the whole file, one thread or two: the same documents
    for k, (piece_mb, threads) in enumerate([(1e-6, 1), (3e-5, 2), (32.0, 2)]):
        built = lf.build_shards(
            path, tmp_path / f"s{k}", bert, sentences=sentences, piece_mb=piece_mb,  # type: ignore[arg-type]
            num_threads=threads,
        )  # fmt: skip
        assert shard_documents(built) == want, (piece_mb, threads)


def test_byte_level_bpe_sentences_keep_the_space_before_them(tmp_path: Path) -> None:
    """Cut into sentences, a line still gives the ids the tokenizer gives the whole line:
    byte-level BPE marks a word after a space (" The"), so a sentence after the first of
    its line starts with the whitespace before it (it once lost it: "mat.The")."""
    files = datasets.files("gpt2")
    gpt2 = lf.Tokenizer.from_gpt2(files["encoder.json"], files["vocab.bpe"])
    lines = [
        "The cat sat on the mat. The dog ran away.",
        "Two  spaces. Then\ta tab! And\u3000an ideographic space? Yes.",
        "  Indented first. Second one.  ",
        "你好。我很好！“真的。”他说",
    ]
    path = tmp_path / "bpe.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    built = lf.build_shards(path, tmp_path / "shards", gpt2, sentences="split")
    (doc,) = shard_documents(built)
    k = 0
    for line in lines:
        n = len(lf.split_sentences(line))
        got = doc[k : k + n]
        k += n
        assert [i for s in got for i in s] == gpt2.encode(line.strip(), add_special_tokens=False)
        # each sentence is the splitter's, with the whitespace before it
        texts = [gpt2.decode(s) for s in got]
        assert [t.strip() for t in texts] == lf.split_sentences(line)
        assert "".join(texts) == line.strip()
    assert k == len(doc)


def test_added_tokens_are_found_in_shards_as_encode_finds_them(bert: Any, tmp_path: Path) -> None:
    """Tokens added with ``add_tokens`` are one id in the shards, as in ``encode`` (and HF):
    byte-level BPE shards split them into pieces (an audit at scale), WordPiece's did not.
    A special token's text stays text in both; a vocabulary past 65,536 ids with them
    keeps them whole in uint32 shards."""
    files = datasets.files("gpt2")
    lines = ["We saw zzqqxxnew and COVID-19 today.", "COVID-19 again <|endoftext|> here."]
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name, tok in [
        ("gpt2", lf.Tokenizer.from_gpt2(files["encoder.json"], files["vocab.bpe"])),
        ("bert", lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])),
        ("wide", lf.Tokenizer.from_gpt2(files["encoder.json"], files["vocab.bpe"])),
    ]:
        if name == "wide":  # past uint16's ids
            tok.add_tokens([f"zzwide{i}" for i in range(65_536 - len(tok) + 1)])
        tok.add_tokens(["zzqqxxnew", "COVID-19"])
        added = {tok.token_to_id("zzqqxxnew"), tok.token_to_id("COVID-19")}
        built = lf.build_shards(path, tmp_path / name, tok, sentences="lines")
        (doc,) = shard_documents(built)
        plain = {} if name == "bert" else {"disallowed_special": ()}  # GPT-2's <|endoftext|>
        want = [tok.encode(line, add_special_tokens=False, **plain) for line in lines]
        assert doc == want, name
        assert added <= {i for s in doc for i in s}, name


def test_plan_never_cuts_inside_a_crlf_or_a_character(tmp_path: Path) -> None:
    data = ("dóc\r\n\r\n日本\r\r✓\r\n" * 200).encode("utf-8")
    path = tmp_path / "c.txt"
    path.write_bytes(data)
    for piece_bytes in (1, 2, 3, 7, 64):
        plan = _core.plan_file(path, piece_bytes)
        assert plan[0][0] == 0 and plan[-1][1] == len(data)
        for (_, end), (start, _) in itertools.pairwise(plan):
            assert end == start
            assert data[end - 1 : end] in (b"\n", b"\r") and data[end : end + 1] != b"\n"
            data[start:].decode("utf-8")  # a character boundary


def test_a_long_line_does_not_make_the_rest_one_piece(bert: Any, tmp_path: Path) -> None:
    small = "".join(f"Doc {i} is short.\n\n" for i in range(3000))
    long_line = "word " * 400_000 + "\n\n"  # 2 MB, past the 1 MiB search for a blank line
    path = tmp_path / "long.txt"
    path.write_text(small + long_line + small, encoding="utf-8")
    plan = _core.plan_file(path, 10_000)
    assert plan[-1][1] == path.stat().st_size
    after = [end - start for start, end in plan if start >= len(small) + len(long_line)]
    assert len(after) > 4 and max(after) < 20_000  # was: one piece of all the rest


def test_directory_corpus_reads_each_file_once_and_not_its_shards(
    bert: Any, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.txt").write_text("Alpha doc.\n\nBeta doc.\n", encoding="utf-8")
    (corpus / "empty.txt").write_text("", encoding="utf-8")
    (corpus / "sub" / "c.txt").write_text("Gamma doc.\n", encoding="utf-8")
    (corpus / ".hidden.txt").write_text("Hidden doc.\n", encoding="utf-8")
    (corpus / "latest.txt").symlink_to(corpus / "a.txt")  # a second name for a.txt
    os.link(corpus / "sub" / "c.txt", corpus / "c-again.txt")  # a hard link: a third
    built = lf.build_shards(corpus, corpus / "shards", bert)
    assert built.n_documents == 3
    # (not c.txt: the same file as c-again.txt, met first)
    assert [Path(s["path"]).name for s in built.manifest["sources"]] == [
        "a.txt", "c-again.txt", "empty.txt"
    ]  # fmt: skip
    # the shards now inside the corpus directory are not part of the corpus: a rerun
    # finds the same corpus and keeps them
    again = lf.build_shards(corpus, corpus / "shards", bert)
    assert again.manifest["sources"] == built.manifest["sources"]
    with pytest.raises(CorpusError, match="is a directory; pass it on its own"):
        lf.build_shards([corpus / "a.txt", corpus / "sub"], tmp_path / "s", bert)
    with pytest.raises(CorpusError, match="both the corpus and the shard directory"):
        lf.build_shards(corpus, corpus, bert)
    # another build's shards in the corpus are not text either, nor is a shard folder a corpus
    other = lf.build_shards(corpus, tmp_path / "elsewhere", bert)
    assert other.manifest["sources"] == built.manifest["sources"]
    with pytest.raises(CorpusError, match="holds shards written by build_shards"):
        lf.build_shards(corpus / "shards", tmp_path / "s5", bert)
    # a manifest.json of the user's own is records like any other .json file
    (corpus / "sub" / "manifest.json").write_text('[{"text": "Delta doc."}]', encoding="utf-8")
    mine = lf.build_shards(corpus, tmp_path / "mine", bert)
    assert Path(mine.manifest["sources"][-1]["path"]).name.startswith("manifest.json.")
    assert mine.n_documents == 4
    # a list naming one file twice (here once through a link) would read it twice
    with pytest.raises(CorpusError, match=r"lists .*latest\.txt twice \(as .*a\.txt and"):
        lf.build_shards([corpus / "a.txt", corpus / "sub" / "c.txt", corpus / "latest.txt"],
                        tmp_path / "s6", bert)  # fmt: skip
    with pytest.raises(CorpusError, match="twice"):
        lf.Tokenizer.train_wordpiece([corpus / "a.txt", corpus / "a.txt"], vocab_size=100)
    # a hard link too (it was read twice)
    for train in (lambda f: lf.build_shards(f, tmp_path / "s7", bert),
                  lambda f: lf.Tokenizer.train_bpe(f, vocab_size=300)):  # fmt: skip
        with pytest.raises(CorpusError, match=r"c-again\.txt twice .*entries 0 and 1"):
            train([corpus / "sub" / "c.txt", corpus / "c-again.txt"])


def test_a_corpus_edited_in_place_is_not_taken_for_its_shards(bert: Any, tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text("Alpha doc here.\n\nBeta doc here.\n", encoding="utf-8")
    built = lf.build_shards(path, tmp_path / "s", bert)
    os.utime(path, ns=(1, 10**18))  # touched only: still the same corpus
    again = lf.build_shards(path, tmp_path / "s", bert)
    assert again.fingerprint() == built.fingerprint()
    path.write_text("Gamma doc here.\n\nDelta doc here.\n", encoding="utf-8")  # same size
    with pytest.raises(ShardError, match="different corpus"):
        lf.build_shards(path, tmp_path / "s", bert)


def test_a_corpus_written_to_while_planned_is_refused(
    bert: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that grows while the build plans and hashes it (a log still being written)
    is refused by name: its plan, recorded size and hash were each of another text."""
    from lexforge import _shard_build

    path = tmp_path / "c.txt"
    path.write_text("Alpha doc here.\n\nBeta doc here.\n", encoding="utf-8")
    hashed = _shard_build.sha256_file

    def growing(f: Path) -> str:
        digest = hashed(f)
        if f == path:
            with path.open("a", encoding="utf-8") as out:
                out.write("\nGamma doc, written meanwhile.\n")
        return digest

    monkeypatch.setattr(_shard_build, "sha256_file", growing)
    with pytest.raises(ShardError, match=r"c\.txt changed while the shards were being planned"):
        lf.build_shards(path, tmp_path / "s", bert)
    monkeypatch.setattr(_shard_build, "sha256_file", hashed)
    built = lf.build_shards(path, tmp_path / "s", bert)  # written: built as it is now
    assert len(shard_documents(built)) == 3


def test_a_run_folder_moved_with_its_corpus_keeps_its_shards(bert: Any, tmp_path: Path) -> None:
    """A folder holding the corpus and its shards (a quickstart run) copied or renamed:
    the same text elsewhere is the same corpus; its shards are kept, and the manifest
    records where the text is now. Another text of the same size is still refused."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "c.txt").write_text("Alpha doc here.\n\nBeta doc here.\n", encoding="utf-8")
    built = lf.build_shards(run / "c.txt", run / "s", bert)
    moved = tmp_path / "renamed"
    shutil.copytree(run, moved)
    shutil.rmtree(run)
    stamp = (moved / "s" / "shard-00000.tokens.npy").stat().st_mtime_ns
    again = lf.build_shards(moved / "c.txt", moved / "s", bert)
    assert again.fingerprint() == built.fingerprint()
    assert (moved / "s" / "shard-00000.tokens.npy").stat().st_mtime_ns == stamp  # not rebuilt
    (moved / "c.txt").write_text("Gamma doc here.\n\nDelta doc here.\n", encoding="utf-8")
    with pytest.raises(ShardError, match="different corpus"):
        lf.build_shards(moved / "c.txt", moved / "s", bert)


def test_utf16_corpus_is_named(bert: Any, tmp_path: Path) -> None:
    path = tmp_path / "windows.txt"
    path.write_bytes("Saved as Unicode.\r\n".encode("utf-16"))
    with pytest.raises(CorpusError, match=r"windows\.txt is UTF-16 text.*iconv -f utf-16"):
        lf.build_shards(path, tmp_path / "s", bert)
    for bad in (float("inf"), float("nan"), 0):
        with pytest.raises(ConfigError, match="piece_mb"):
            lf.build_shards(path, tmp_path / "s", bert, piece_mb=bad)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("batch_size", 2.5, "batch_size must be an integer"),
        ("max_seq_len", -1, "max_seq_len must be at least 0"),
        ("seed", 1.5, "seed must be an integer"),
        ("seed", 1 << 64, "below 2"),
        ("epochs", 1.5, "epochs must be an integer"),
        ("num_threads", -1, "num_threads must be at least 0"),
        ("max_seq_len", 10**30, "max_seq_len must be at most"),
    ],
)
def test_batch_options_are_checked(
    bert: Any, tmp_path: Path, option: str, value: Any, message: str
) -> None:
    path = lf.write_corpus(["One doc. Two sentences.", "Another doc."], tmp_path / "c.txt")
    shards = lf.build_shards(path, tmp_path / "s", bert)
    options: dict[str, Any] = {"batch_size": 2, option: value}
    with pytest.raises(ConfigError, match=message):
        lf.PretrainingBatches(shards, **options)


def test_dataset_steps_must_be_integers(bert: Any, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    path = lf.write_corpus(["One doc. Two sentences.", "Another doc."], tmp_path / "c.txt")
    shards = lf.build_shards(path, tmp_path / "s", bert)
    for bad in ({"start_step": 1.5}, {"rank": 0.5, "world_size": 2}, {"world_size": 0}):
        with pytest.raises(ConfigError):
            lf.PretrainingDataset(shards, batch_size=2, **bad)  # type: ignore[arg-type]


def test_small_files_share_shards_and_big_ones_are_cut(bert: Any, tmp_path: Path) -> None:
    """A directory of many short files makes shards of about piece_mb, not a shard per
    file; each file's documents stay its own, in order (the oracle: each file alone)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rng = __import__("random").Random(0)
    words = ["the", "film", "was", "a", "fine", "dull", "play", "of", "light", "at", "night"]
    for i in range(300):
        docs = [" ".join(rng.choices(words, k=rng.randrange(3, 20))) + "." for _ in range(2)]
        (corpus / f"doc-{i:04d}.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    (corpus / "zz-big.txt").write_text("A long one. " * 4000 + "\n", encoding="utf-8")
    built = lf.build_shards(corpus, tmp_path / "shards", bert, piece_mb=0.02)
    expected = [
        doc
        for f in sorted(corpus.iterdir())
        for doc in universal_documents(bert, f.read_bytes(), "split")
    ]
    assert [[s.tolist() for s in doc] for doc in built.documents()] == expected
    sizes = [sum(e - s for _, s, e in r.get("ranges", [[r["source"], r["start"], r["end"]]]))
             for r in built.manifest["shards"].values()]  # fmt: skip
    assert len(sizes) < 300 // 10 and all(size <= 20_000 for size in sizes[:-3])
    assert lf.build_shards(corpus, tmp_path / "shards", bert, piece_mb=0.02).n_tokens == (
        built.n_tokens
    )  # finished: nothing to rebuild


def test_links_to_folders_are_followed_and_links_to_nothing_refused(
    bert: Any, tmp_path: Path
) -> None:
    corpus, elsewhere = tmp_path / "corpus", tmp_path / "elsewhere"
    corpus.mkdir()
    elsewhere.mkdir()
    (corpus / "a.txt").write_text("Alpha doc.\n\nBeta doc.\n", encoding="utf-8")
    (elsewhere / "b.txt").write_text("Gamma doc.\n\nDelta doc.\n", encoding="utf-8")
    (corpus / "more").symlink_to(elsewhere)
    (elsewhere / "loop").symlink_to(corpus)  # a cycle: each folder is read once
    assert lf.build_shards(corpus, tmp_path / "s1", bert).n_documents == 4
    (corpus / "gone.txt").symlink_to(tmp_path / "deleted.txt")
    with pytest.raises(CorpusError, match=r"gone\.txt is a link to .*deleted\.txt, which does"):
        lf.build_shards(corpus, tmp_path / "s2", bert)


_FEW_FILES = """
import resource, sys
import lexforge as lf
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit if sys.argv[3] == "hard" else hard))
print(len(lf.ShardSet(sys.argv[1])))
"""


def test_many_shards_open_past_a_low_soft_limit_on_open_files(bert: Any, tmp_path: Path) -> None:
    """Each shard holds three memory-mapped files open: a soft limit too low for them is
    raised towards the hard limit; a hard limit too low is a ShardError saying so."""
    import subprocess
    import sys

    pytest.importorskip("resource")
    text = "".join(f"Document number {i} is here.\n\n" for i in range(6000))
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    built = lf.build_shards(tmp_path / "c.txt", tmp_path / "s", bert, piece_mb=0.002)
    assert len(built) > 60
    script = [sys.executable, "-c", _FEW_FILES, str(tmp_path / "s"), "120"]
    done = subprocess.run([*script, "soft"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == str(len(built)), done.stderr
    done = subprocess.run([*script, "hard"], capture_output=True, text=True)
    assert done.returncode != 0
    assert "needs about" in done.stderr and "ulimit -n is 120" in done.stderr, done.stderr


_SMALL_DISK = """
import resource, signal, sys
import lexforge as lf
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, not kills
tok = lf.Tokenizer.from_file(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))
try:
    lf.build_shards(sys.argv[2], sys.argv[3], tok)
except OSError as e:
    print(e)
"""


def test_a_failed_write_names_the_file(bert: Any, tmp_path: Path) -> None:
    import subprocess
    import sys

    pytest.importorskip("resource")
    (tmp_path / "c.txt").write_text("Some words here. " * 20_000, encoding="utf-8")
    tok = datasets.files("bert-base-uncased")["tokenizer.json"]
    done = subprocess.run(
        [sys.executable, "-c", _SMALL_DISK, str(tok), str(tmp_path / "c.txt"), str(tmp_path / "s")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "could not write" in done.stdout and "ulimit -f" in done.stdout, (
        done.stdout + done.stderr
    )
    assert not list((tmp_path / "s").glob("shard-*"))  # nothing half-written under its name


def test_a_build_that_fails_before_any_text_leaves_nothing(bert: Any, tmp_path: Path) -> None:
    """A corpus with a bad byte (or no text) once left a manifest of no shards behind, and
    the rerun its own error message asked for was refused as "a different corpus"."""
    corpus = tmp_path / "c.txt"
    corpus.write_bytes(b"Good doc one.\n\nBad caf\xe9 doc.\n")
    with pytest.raises(CorpusError, match="UTF-8"):
        lf.build_shards(corpus, tmp_path / "new", bert)
    assert not (tmp_path / "new").exists()  # made by the call: removed
    (tmp_path / "mine").mkdir()  # the user's folder stays; what the build wrote does not block
    with pytest.raises(CorpusError, match="UTF-8"):
        lf.build_shards(corpus, tmp_path / "mine", bert)
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no text"):
        lf.build_shards(tmp_path / "empty.txt", tmp_path / "mine", bert)
    corpus.write_text("Good doc one.\n\nBad cafe doc.\n", encoding="utf-8")  # fixed as told
    for out in ("new", "mine"):
        built = lf.build_shards(corpus, tmp_path / out, bert)
        assert shard_documents(built) == universal_documents(bert, corpus.read_bytes(), "split")
    # a foreign manifest.json is never taken for a stale one of ours
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text('{"name": "my app"}', encoding="utf-8")
    with pytest.raises(ShardError, match="not a lexforge shard manifest"):
        lf.build_shards(corpus, tmp_path / "other", bert)
    assert (tmp_path / "other" / "manifest.json").exists()


def test_a_document_longer_than_a_piece_stays_one_document(bert: Any, tmp_path: Path) -> None:
    """A document with no blank line within the 1 MiB search is cut at a line end: its
    pieces were documents of their own (a next-sentence "other document" could be its own
    rest, and one long document passed the two-document check); a line of no-break spaces
    ends a document for the layout but was no cut point."""
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]

    def document(n_lines: int, seed: int) -> str:
        lines = (
            " ".join(words[(seed + i * 7 + k * k) % len(words)] for k in range(80))
            for i in range(n_lines)
        )
        return "\r\n".join(lines) + "\r\n"

    long = document(5_000, 1)  # about 2.3 MB: cut inside
    short = [document(3, s) for s in range(40)]
    data = (
        "\n".join(short[:20]) + "\n" + long + "\u00a0\u3000\n" + document(4_800, 2) + "\n"
        + "\n".join(short[20:])
    ).encode("utf-8")  # fmt: skip
    path = tmp_path / "c.txt"
    path.write_bytes(data)
    expected = universal_documents(bert, data, "lines")
    assert len(expected) == 42
    cut = lf.build_shards(path, tmp_path / "cut", bert, sentences="lines", piece_mb=0.3)
    assert sum(s.continues for s in cut.shards) >= 4  # the long ones were cut inside
    assert shard_documents(cut) == expected
    assert cut.n_documents == len(expected)
    whole = lf.build_shards(path, tmp_path / "whole", bert, sentences="lines")
    assert len(whole) == 1 and shard_documents(whole) == expected
    # a long document cut in pieces is still one: no pair of documents to draw from
    path.write_text(long, encoding="utf-8")
    one = lf.build_shards(path, tmp_path / "one", bert, sentences="lines", piece_mb=0.3)
    assert len(one) >= 3 and one.n_documents == 1
    with pytest.raises(CorpusError, match="at least 2 documents"):
        lf.PretrainingBatches(one, batch_size=2)


def test_shards_are_read_in_corpus_order_past_the_names_width(
    bert: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shard names have 5 digits, so from shard 100,000 on they no longer sort as text in
    corpus order ("shard-100000" < "shard-99999"); the reader took that order, which put
    documents out of order and glued a cut document onto the wrong shard. Scaled down:
    names of 1 digit overflow at shard 10."""
    import lexforge._shard_build as build
    import lexforge.shards as shards

    lines = [" ".join(f"word{(d * 31 + k) % 97}" for k in range(60)) for d in range(4_000)]
    # a document past the 1 MiB search for a blank line: cut across shards at line ends
    data = "\n\n".join(lines[:10]) + "\n\n" + "\n".join(lines[10:3_990]) + "\n\n"
    data += "\n\n".join(lines[3_990:]) + "\n"
    path = tmp_path / "c.txt"
    path.write_text(data, encoding="utf-8")
    expected = universal_documents(bert, data.encode(), "lines")
    for module in (build, shards):
        monkeypatch.setattr(module, "_shard_name", lambda k: f"shard-{k:01d}", raising=False)
    built = lf.build_shards(path, tmp_path / "s", bert, sentences="lines", piece_mb=0.04)
    assert len(built) > 12 and any(s.continues for s in built.shards[10:])
    assert [s.name for s in built.shards][9:12] == ["shard-9", "shard-10", "shard-11"]
    assert shard_documents(built) == expected
    assert built.n_documents == len(expected)


def test_a_manifest_that_lost_a_shards_record_is_refused(bert: Any, tmp_path: Path) -> None:
    import json

    path = tmp_path / "c.txt"
    path.write_text("\n\n".join(f"Document {i} has words in it." for i in range(300)) + "\n")
    built = lf.build_shards(path, tmp_path / "s", bert, piece_mb=0.002)
    assert len(built) > 2
    manifest_path = tmp_path / "s" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["shards"]["shard-00001"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match="no record of shard shard-00001"):
        lf.ShardSet(tmp_path / "s")


def test_a_compressed_corpus_gives_the_documents_of_its_plain_text(
    bert: Any, tmp_path: Path
) -> None:
    """The ASCII separators \\x1c-\\x1f are white space to Python's str.strip but text to
    the core (Unicode's White_Space): a line holding only \\x1e split a .txt.gz corpus into
    one more document than the same .txt, and the line ends lost their separators (other
    byte-level ids). Both now read as the plain file does."""
    import gzip

    gpt2 = lf.Tokenizer.from_file(datasets.files("gpt2")["encoder.json"])
    text = (
        "First document, line one.\nLine two.\n\x1e\nSecond part\x1f\n \u3000\n"
        "Third document.\x1c  \n\n\x1d\n\nFourth.\n"
    ).encode()
    (tmp_path / "c.txt").write_bytes(text)
    (tmp_path / "c.txt.gz").write_bytes(gzip.compress(text))
    for tok in (bert, gpt2):
        options = {"sentences": "lines", "progress": False}
        built = [
            lf.build_shards(tmp_path / name, tmp_path / f"{name}-{id(tok)}", tok, **options)
            for name in ("c.txt", "c.txt.gz")
        ]
        plain, compressed = (list(s.documents()) for s in built)
        # the separators are text (a document of \x1d alone for byte-level ids; WordPiece
        # drops control characters), the U+3000 line is blank
        assert len(plain) == (3 if tok is bert else 4)
        assert [[list(x) for x in d] for d in compressed] == [[list(x) for x in d] for d in plain]


def test_write_corpus_reads_lines_as_the_core_does(bert: Any, tmp_path: Path) -> None:
    """write_corpus cut a text at str.splitlines's line ends (U+2028, \\x1c, \\x85...) and
    stripped \\x1c-\\x1f, so its file held other sentences than the same text in a plain
    file or a JSON Lines record, where lines end at \\n, \\r\\n and \\r alone."""
    docs = ["First part\u2028second\x85 part\x1cthird\r\nNext line\rlast \x1f", "Another one."]
    plain = tmp_path / "plain.txt"
    plain.write_text("\n\n".join(docs) + "\n", encoding="utf-8", newline="")
    written = lf.write_corpus(docs, tmp_path / "written.txt")
    listed = lf.write_corpus([[" a\u2028b ", "c\x1cd"]], tmp_path / "listed.txt")
    assert listed.read_text(encoding="utf-8") == "a b\nc\x1cd\n"
    read = [
        [[s.tolist() for s in d] for d in
         lf.build_shards(path, tmp_path / path.stem, bert, sentences="lines",
                         progress=False).documents()]
        for path in (plain, written)
    ]  # fmt: skip
    assert read[0] == read[1] and [len(d) for d in read[0]] == [3, 1]


@pytest.mark.parametrize("junk_mb,piece_mb", [(3.0, 0.4), (1.5, 0.2)])
def test_a_document_starting_with_dropped_lines_stays_its_own(
    bert: Any, tmp_path: Path, junk_mb: float, piece_mb: float
) -> None:
    """A document whose first piece (it is longer than a piece, so cut at a line end) held
    only lines the tokenizer drops was glued to the document before the blank line: the
    next piece 'continued' the last document that had text. Cut or not, the same two."""
    junk = "\x00\x01\n" * int(junk_mb * 1e6 / 3)
    corpus = tmp_path / "c.txt"
    corpus.write_text("First document here.\n\n" + junk + "Second document text.\n\nThird.\n")
    whole = lf.build_shards(corpus, tmp_path / "whole", bert, progress=False)
    cut = lf.build_shards(corpus, tmp_path / "cut", bert, piece_mb=piece_mb, progress=False)
    records = cut.manifest["shards"].values()  # (the document was cut at a line end)
    assert any(r.get("continues") for r in records) and any(not r["tokens"] for r in records)
    read = [[[s.tolist() for s in d] for d in shards.documents()] for shards in (whole, cut)]
    assert read[0] == read[1] and len(read[0]) == 3
