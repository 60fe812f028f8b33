"""Corpora in the user's data formats (JSON Lines, JSON, csv, tsv, Parquet, gzip): each
record's text is a document. The oracle is the same documents written as a plain text
file (blank lines between documents), which the tokenizer and shard tests hold to HF and
to the reference implementations: the records file must cut the same shards and train the
same WordPiece tokenizer (BERT words ignore line ends); byte-level BPE, which counts line
ends and spaces, is trained on each record's text as it is (tests/test_training_inputs.py
holds that to HF), like the same texts passed as ``texts=``."""

from __future__ import annotations

import csv
import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lexforge as lf
from lexforge.cli import main
from lexforge.errors import ConfigError, CorpusError

DOCS: list[Any] = [
    "Hello world. The first document has two lines,\nand this is its second.",
    "",
    None,
    'A "quoted" document, with a comma; café, naïve and 北京欢迎你.',
    "Windows line ends\r\nend here.  \r\nThree lines.",
    "Short one.",
]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEXFORGE_CACHE", str(tmp_path / "cache"))


def _plain(folder: Path, docs: list[Any] = DOCS) -> Path:
    """The documents as a plain corpus: lines kept (spaces at their ends dropped), empty
    ones dropped, one blank line between documents."""
    kept = []
    for d in docs:
        lines = [x.rstrip() for x in (d or "").replace("\r\n", "\n").split("\n") if x.strip()]
        if lines:
            kept.append("\n".join(lines))
    path = folder / "plain.txt"
    path.write_text("\n\n".join(kept) + "\n", encoding="utf-8")
    return path


def _write(folder: Path, kind: str, column: str = "text", docs: list[Any] = DOCS) -> Path:
    rows = [{"id": i, column: d} for i, d in enumerate(docs)]
    if kind in ("jsonl", "jsonl.gz"):
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        path = folder / f"c.{kind}"
        path.write_bytes(gzip.compress(text.encode()) if kind.endswith("gz") else text.encode())
    elif kind == "json":
        path = folder / "c.json"
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
    elif kind == "json-lines":  # JSON Lines under a .json name, as datasets' to_json writes
        path = folder / "lines.json"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif kind in ("csv", "tsv"):
        path = folder / f"c.{kind}"
        with path.open("w", encoding="utf-8-sig", newline="") as f:  # with a byte-order mark
            if kind == "csv":
                writer = csv.writer(f)
                writer.writerow(["id", column])
                writer.writerows([i, d or ""] for i, d in enumerate(docs))
            else:  # tsv has no quoting: one line per record
                f.write(f"id\t{column}\n")
                f.writelines(
                    f"{i}\t{(d or '').replace(chr(13) + chr(10), ' ').replace(chr(10), ' ')}\n"
                    for i, d in enumerate(docs)
                )
    elif kind == "parquet":
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        path = folder / "c.parquet"
        pq.write_table(pa.table({"id": list(range(len(docs))), column: docs}), path)
    else:
        raise AssertionError(kind)
    return path


KINDS = ["jsonl", "jsonl.gz", "json", "json-lines", "csv", "parquet"]


@pytest.mark.parametrize("kind", KINDS)
def test_records_train_the_tokenizers_their_text_trains(kind: str, tmp_path: Path) -> None:
    source = _write(tmp_path, kind)
    plain = _plain(tmp_path)
    wp = lf.Tokenizer.train_wordpiece(source, vocab_size=90, show_progress=False)
    assert wp.vocab() == lf.Tokenizer.train_wordpiece(plain, vocab_size=90).vocab()
    bpe = lf.Tokenizer.train_bpe(source, vocab_size=300, show_progress=False)
    texts = [d for d in DOCS if d]  # as they are: "\r\n" and spaces at line ends kept
    expected = lf.Tokenizer.train_bpe(texts=texts, vocab_size=300)
    assert (bpe.vocab(), bpe.merges()) == (expected.vocab(), expected.merges())


def test_tsv_and_compressed_text(tmp_path: Path) -> None:
    """tsv has no quoting (one record per line); a .txt.gz is plain text, decompressed."""
    flat = [None if d is None else d.replace("\r\n", " ").replace("\n", " ") for d in DOCS]
    tsv = _write(tmp_path, "tsv", docs=flat)
    expected = lf.Tokenizer.train_wordpiece(_plain(tmp_path, flat), vocab_size=90).vocab()
    assert lf.Tokenizer.train_wordpiece(tsv, vocab_size=90).vocab() == expected
    packed = tmp_path / "corpus.txt.gz"
    packed.write_bytes(gzip.compress(_plain(tmp_path).read_bytes()))
    expected = lf.Tokenizer.train_wordpiece(_plain(tmp_path), vocab_size=90).vocab()
    assert lf.Tokenizer.train_wordpiece(packed, vocab_size=90).vocab() == expected


def test_a_compressed_file_replaced_with_its_size_and_mtime_is_read_anew(tmp_path: Path) -> None:
    """The decompressed text is cached while the source is unchanged: a file of other text
    with the old one's compressed size and mtime (cp -p, rsync -t, tar) was taken for it,
    and training read the old text. Its change time tells them apart."""
    from lexforge._corpus_files import as_text

    def packed(text: str) -> bytes:
        return gzip.compress(text.encode(), mtime=0)

    old, new = packed("apple apple apple\n" * 100), packed("zebra zebra zebra\n" * 100)
    assert len(old) == len(new)
    path = tmp_path / "corpus.txt.gz"
    path.write_bytes(old)
    os.utime(path, ns=(10**18, 10**18))
    assert as_text(path).read_text(encoding="utf-8").startswith("apple")
    path.write_bytes(new)
    os.utime(path, ns=(10**18, 10**18))
    assert as_text(path).read_text(encoding="utf-8").startswith("zebra")
    cached = as_text(path)
    stamp = cached.stat().st_mtime_ns
    os.utime(path, ns=(5, 5))  # touched only: found the same by its hash, not rewritten
    assert as_text(path) == cached and cached.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_records_cut_the_shards_their_text_cuts(kind: str, tmp_path: Path) -> None:
    """One record, one document: the same token, sentence and document arrays."""
    tok = lf.Tokenizer.train_wordpiece(_plain(tmp_path), vocab_size=90)
    ours = lf.build_shards(_write(tmp_path, kind, "body"), tmp_path / "a", tok,
                           text_column="body")  # fmt: skip
    theirs = lf.build_shards(_plain(tmp_path), tmp_path / "b", tok)
    names = sorted(p.name for p in (tmp_path / "b").glob("shard-*.npy"))
    assert names and names == sorted(p.name for p in (tmp_path / "a").glob("shard-*.npy"))
    for name in names:
        assert np.array_equal(np.load(tmp_path / "a" / name), np.load(tmp_path / "b" / name))
    assert ours.manifest["complete"] and theirs.manifest["complete"]
    # a second build of the same records resumes (the same cached text), a changed one is
    # a different corpus
    lf.build_shards(_write(tmp_path, kind, "body"), tmp_path / "a", tok, text_column="body")


def test_a_hugging_face_dataset_cuts_the_shards_its_records_cut(tmp_path: Path) -> None:
    """A datasets.Dataset (a DatasetDict's train split, the folder save_to_disk wrote)
    is a corpus as a records file of the same texts is: the same arrays; pretraining
    takes one, and its held-out text too."""
    hf = pytest.importorskip("datasets")
    tok = lf.Tokenizer.train_wordpiece(_plain(tmp_path), vocab_size=90)
    records = lf.build_shards(_write(tmp_path, "jsonl", "body"), tmp_path / "a", tok,
                              text_column="body")  # fmt: skip
    data = hf.Dataset.from_dict({"id": list(range(len(DOCS))), "body": DOCS})
    names = sorted(p.name for p in (tmp_path / "a").glob("shard-*.npy"))
    hf.DatasetDict({"train": data}).save_to_disk(str(tmp_path / "saved"))
    for i, given in enumerate([data, hf.DatasetDict({"train": data}), tmp_path / "saved"]):
        ours = lf.build_shards(given, tmp_path / f"b{i}", tok, text_column="body")
        assert ours.manifest["complete"] and records.manifest["complete"]
        for name in names:
            assert np.array_equal(np.load(tmp_path / "a" / name),
                                  np.load(tmp_path / f"b{i}" / name)), (i, name)  # fmt: skip
    lf.build_shards(data, tmp_path / "b0", tok, text_column="body")  # resumes: same text
    # tokenizers train on it as on the records file (texts as they are), the CLI too
    for trainer, size in ((lf.Tokenizer.train_wordpiece, 90), (lf.Tokenizer.train_bpe, 300)):
        want = trainer(_write(tmp_path, "jsonl", "body"), vocab_size=size, text_column="body")
        got = trainer(data, vocab_size=size, text_column="body")
        assert got.vocab() == want.vocab(), trainer
    argv = ["train-tokenizer", str(tmp_path / "saved"), "--text-column", "body", "--model",
            "wordpiece", "--vocab-size", "90", "-o", str(tmp_path / "cli.json"),
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert lf.Tokenizer.from_file(tmp_path / "cli.json").vocab() == records.tokenizer().vocab()
    with pytest.raises(ConfigError, match=r"which column is the text\? .*'id', 'body', 'more'"):
        lf.build_shards(data.add_column("more", ["x"] * len(DOCS)), tmp_path / "c", tok)
    with pytest.raises(ConfigError, match="the dataset has no column 'txt'"):
        lf.build_shards(data, tmp_path / "c", tok, text_column="txt")
    with pytest.raises(CorpusError, match=r"record 1: its 'n' holds a int"):
        lf.build_shards(hf.Dataset.from_dict({"n": [None, 3]}), tmp_path / "c", tok,
                        text_column="n")  # fmt: skip
    with pytest.raises(CorpusError, match="no record of the dataset holds any text"):
        lf.build_shards(hf.Dataset.from_dict({"text": ["", " "]}), tmp_path / "c", tok)
    with pytest.raises(ConfigError, match=r"no 'train' split \(it has 'dev'\)"):
        lf.build_shards(hf.DatasetDict({"dev": data}), tmp_path / "c", tok)
    from lexforge.model import BertConfig
    from lexforge.train import pretrain

    texts = hf.Dataset.from_dict({"text": [d for d in DOCS if d] * 4})
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_layers=1, num_heads=2,
                        intermediate_size=32, max_position_embeddings=64)  # fmt: skip
    options = {"steps": 2, "batch_size": 2, "max_seq_len": 32, "objective": "none"}
    result = pretrain(texts, tmp_path / "run", model=config, tokenizer=tok, eval_data=texts,
                      progress=False, **options)  # fmt: skip
    assert [r["step"] for r in result.history if r["split"] == "eval"] == [2]


def test_hugging_face_datasets_in_every_shape_are_the_same_corpus(tmp_path: Path) -> None:
    """A streamed dataset (columns unknown until read), a streamed DatasetDict, a dataset
    with a format set, a list of save_to_disk folders: each is the corpus its texts make
    as JSON Lines. Two columns of the same texts are two cached files; a folder that only
    holds a state.json is a folder of files; an unreadable dataset folder is a typed
    error."""
    hf = pytest.importorskip("datasets")
    texts = [d for d in DOCS if d]
    want = lf.Tokenizer.train_wordpiece(_write(tmp_path, "jsonl", "body"), vocab_size=90,
                                        text_column="body").vocab()  # fmt: skip
    data = hf.Dataset.from_dict({"body": texts, "n": list(range(len(texts)))})
    streamed = hf.IterableDataset.from_generator(lambda: ({"body": t} for t in texts))
    assert streamed.column_names is None  # (what this case is about)
    with_texts = hf.Dataset.from_dict({"text": texts})
    for i, given in enumerate([
        streamed, hf.IterableDatasetDict({"train": data.to_iterable_dataset()}),
        data.with_format("torch", columns=["n"]), data.with_format("arrow"),
    ]):  # fmt: skip
        got = lf.Tokenizer.train_wordpiece(given, vocab_size=90, text_column="body")
        assert got.vocab() == want, i
    got = lf.Tokenizer.train_wordpiece(
        hf.IterableDataset.from_generator(lambda: ({"text": t} for t in texts)), vocab_size=90
    )
    assert got.vocab() == lf.Tokenizer.train_wordpiece(with_texts, vocab_size=90).vocab()
    # a list of folders, two of one content among them: as a list of two copies of a file
    hf.Dataset.from_dict({"body": texts[:3]}).save_to_disk(str(tmp_path / "d1"))
    hf.Dataset.from_dict({"body": texts[3:]}).save_to_disk(str(tmp_path / "d2"))
    hf.Dataset.from_dict({"body": texts[3:]}).save_to_disk(str(tmp_path / "d3"))
    folders = [tmp_path / "d1", tmp_path / "d2"]
    tok = lf.Tokenizer.train_wordpiece(folders, vocab_size=90, text_column="body")
    assert tok.vocab() == want
    both = lf.build_shards(folders, tmp_path / "s1", tok, text_column="body")
    one = lf.build_shards(data, tmp_path / "s2", tok, text_column="body")
    assert both.n_documents == one.n_documents == len(texts)
    assert both.n_tokens == one.n_tokens
    lf.Tokenizer.train_wordpiece([*folders, tmp_path / "d3"], vocab_size=90, text_column="body")
    with pytest.raises(CorpusError, match=r"lists .*d1 twice"):
        lf.Tokenizer.train_wordpiece([tmp_path / "d1"] * 2, vocab_size=90, text_column="body")
    # the same texts under two column names: two records files, each of its own column
    slash = hf.Dataset.from_dict({"a/b": texts})
    assert lf.Tokenizer.train_wordpiece(slash, vocab_size=90, text_column="a/b").vocab() == want
    under = hf.Dataset.from_dict({"a_b": texts})
    assert lf.Tokenizer.train_wordpiece(under, vocab_size=90, text_column="a_b").vocab() == want
    # a folder of text files that holds some program's state.json is not a dataset's
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (plain / "state.json").write_text(json.dumps({"text": "a step"}), encoding="utf-8")
    assert lf.build_shards(plain, tmp_path / "s3", tok).n_documents == 2  # (a file each)
    hf.Dataset.from_dict({"text": []}, features=hf.Features({"text": hf.Value("string")})
                         ).save_to_disk(str(tmp_path / "empty"))  # fmt: skip
    from lexforge._hf_datasets import from_disk

    try:  # (datasets fails to load its own empty folder in some versions)
        loaded = from_disk(tmp_path / "empty")
    except ConfigError as e:
        assert "a Hugging Face dataset folder (save_to_disk's) that datasets could not" in str(e)
    else:
        assert len(loaded) == 0


def test_lexforge_tokenize_reads_a_dataset_folder_a_row_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``lexforge tokenize`` on a save_to_disk folder writes a line of ids per row (a null
    text: an empty one), as for the same texts in a JSON Lines file."""
    hf = pytest.importorskip("datasets")
    tok = lf.Tokenizer.train_wordpiece(_plain(tmp_path), vocab_size=90)
    tok.save(tmp_path / "tok.json")
    rows = ["Hello world.", None, "A café, naïve.\nTwo lines."]
    hf.Dataset.from_dict({"body": rows}).save_to_disk(str(tmp_path / "saved"))
    capsys.readouterr()
    argv = ["tokenize", "--tokenizer", str(tmp_path / "tok.json"), "--text-column", "body"]
    assert main([*argv, str(tmp_path / "saved")]) == 0
    got = capsys.readouterr().out.splitlines()
    assert got == [" ".join(map(str, tok.encode(r or ""))) for r in rows]


def test_the_text_column(tmp_path: Path) -> None:
    """``text`` by default, else the only text column; bare strings in JSON Lines; another
    column by name; a corpus whose records changed is read afresh."""
    plain = _plain(tmp_path)
    expected = lf.Tokenizer.train_wordpiece(plain, vocab_size=90).vocab()
    body = _write(tmp_path, "jsonl", "body")  # ids are numbers: body is the only text column
    assert lf.Tokenizer.train_wordpiece(body, vocab_size=90).vocab() == expected
    bare = tmp_path / "bare.jsonl"
    bare.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    assert lf.Tokenizer.train_wordpiece(bare, vocab_size=90).vocab() == expected
    two = tmp_path / "two.jsonl"
    two.write_text(
        "".join(json.dumps({"title": "x", "body": d}) + "\n" for d in DOCS), encoding="utf-8"
    )
    with pytest.raises(CorpusError, match=r"which column is the text\? line 1 has 'title', "
                       r"'body', none named 'text'; name it with text_column="):  # fmt: skip
        lf.Tokenizer.train_wordpiece(two, vocab_size=90)
    assert lf.Tokenizer.train_wordpiece(two, vocab_size=90, text_column="body").vocab() == expected
    with pytest.raises(CorpusError, match=r"line 1 has no column 'txt' \(it has 'title', 'body'\)"):
        lf.Tokenizer.train_wordpiece(two, vocab_size=90, text_column="txt")
    two.write_text(json.dumps({"title": "x", "body": "something else entirely"}) + "\n")
    assert lf.Tokenizer.train_wordpiece(two, vocab_size=90, text_column="body").vocab() != expected
    # the only text column of the first record, when another of its columns is null or
    # another record has text elsewhere, is a guess: refused, never the ids
    for records, where in (
        ([{"id": "doc-1", "body": None}, {"id": "doc-2", "body": "The first document."}],
         r"line 1 has 'id', 'body', none named 'text'"),
        ([{"id": 1, "body": "A document."}, {"id": "doc-2", "body": "Another."}],
         r"text only in 'body', but line 2 has text in 'id' too"),
    ):  # fmt: skip
        guessed = tmp_path / "guessed.jsonl"
        guessed.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        with pytest.raises(CorpusError, match=where):
            lf.Tokenizer.train_wordpiece(guessed, vocab_size=90)
    one = tmp_path / "one.json"  # JSON Lines of one record, under a .json name
    one.write_text(json.dumps({"body": "something else entirely"}) + "\n")
    assert lf.Tokenizer.train_wordpiece(one, vocab_size=90).vocab() == (
        lf.Tokenizer.train_wordpiece(two, vocab_size=90, text_column="body").vocab()
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.jsonl", b'{"text": "fine"}\n{"text": oops}\n', r"a\.jsonl: line 2 is not JSON"),
        ("b.jsonl", b'{"text": "fine"}\n{"text": "caf\xe9"}\n',
         r"b\.jsonl: line 2 is not UTF-8 text \(byte 0xe9\); re-save the file as UTF-8"),
        ("c.jsonl", b'{"text": "ok"}\n{"text": "half \\ud800 a pair"}\n',
         r"c\.jsonl: line 2: the text holds a lone surrogate"),
        ("d.jsonl", b'{"text": "ok"}\n{"text": 42}\n',
         r"d\.jsonl: line 2: column 'text' holds a int \('42'\), not text"),
        ("e.jsonl", b'{"text": "ok"}\n[1, 2]\n', r"e\.jsonl: line 2 is a JSON list, not a record"),
        ("f.json", b'{"text": "one object",\n "n": 1}', r"f\.json: a JSON corpus is a list"),
        ("g.csv", b'id,text\n1,"fine"\n2,"unclosed\n', r"g\.csv: line 3: malformed csv"),
        ("h.csv", b"id,text\n1,fine\n2,too,many\n", r"h\.csv: line 3 has 3 fields, the header 2"),
        ("h.tsv", b'id\ttext\n1\ta\tb\n',
         r"h\.tsv: line 2 has 3 fields, the header 2 \(id, text\); a tsv field cannot hold a tab"),
        ("k.csv", b"text,text\nfirst,second\n", r"k\.csv: the header names 'text' twice"),
        ("l.csv", b"text,id\n" + b"row,1\n" * 5000 + b"caf\xe9,2\n",
         r"l\.csv: not UTF-8 text \(byte 0xe9 at line 5002, column 4\)"),
        ("o.csv", b"\xef\xbb\xbftext,id\nrow,1\ncaf\xe9,2\n",  # columns count after the BOM
         r"o\.csv: not UTF-8 text \(byte 0xe9 at line 3, column 4\)"),
        ("p.csv", b"\xef\xbb\xbfte\xffxt,id\nrow,1\n",
         r"p\.csv: not UTF-8 text \(byte 0xff at line 1, column 3\)"),
        ("i.parquet", b"PAR1 not really", r"i\.parquet: not a readable Parquet file"),
        ("j.jsonl.gz", b"not gzip at all", r"j\.jsonl\.gz: cannot be read"),
        ("m.jsonl", b'{"text": "ok"}\n{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
         r"m\.jsonl: line 2 nests JSON arrays or objects too deeply"),
        ("n.json", b"[" * 100_000 + b"]" * 100_000, r"n\.json: the file nests JSON"),
    ],
)  # fmt: skip
def test_bad_records_files_are_named(
    name: str, content: bytes, message: str, tmp_path: Path
) -> None:
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        lf.Tokenizer.train_bpe(path, vocab_size=300)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # none half-written


def test_delimited_corpora_read_as_fine_tuning_files(tmp_path: Path) -> None:
    # one csv reader for both: blank lines before the header, a BOM, unnamed columns
    from lexforge._corpus_records import record_texts
    from lexforge.train._files import read_rows

    path = tmp_path / "a.csv"
    path.write_bytes(b'\xef\xbb\xbf\n\ntext,,label\r\nhello,,x\r\n\r\n"two\nlines",,y\r\n')
    assert list(record_texts(path)) == ["hello", "two\nlines"]
    _, rows = read_rows(path, ("csv",))
    assert [r for _, r in rows] == [
        {"text": "hello", "label": "x"},
        {"text": "two\nlines", "label": "y"},
    ]


def test_a_parquet_column_that_is_not_text(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "n.parquet"
    pq.write_table(pa.table({"n": [1, 2], "m": [3, 4]}), path)
    with pytest.raises(CorpusError, match=r"which column is the text\? The file has 'n', 'm'"):
        lf.Tokenizer.train_bpe(path, vocab_size=300)
    with pytest.raises(CorpusError, match=r"column 'n' holds int64, not text"):
        lf.Tokenizer.train_bpe(path, vocab_size=300, text_column="n")
    with pytest.raises(ConfigError, match="text_column must be a column name"):
        lf.Tokenizer.train_bpe(path, vocab_size=300, text_column="")
    twice = pa.Table.from_arrays([pa.array(["a", "b"]), pa.array(["c", "d"])], ["text", "text"])
    pq.write_table(twice, path)
    with pytest.raises(CorpusError, match=r"has 2 columns named 'text'"):
        lf.Tokenizer.train_bpe(path, vocab_size=300)
    # dictionary-encoded (categorical) and large strings are text
    texts = ["a fine film", "a dull film", "a fine film"]
    for column in (pa.array(texts).dictionary_encode(), pa.array(texts, pa.large_string())):
        pq.write_table(pa.table({"n": [1, 2, 3], "review": column}), path)
        plain = tmp_path / "p.txt"
        plain.write_text("\n\n".join(texts) + "\n", encoding="utf-8")
        expected = lf.Tokenizer.train_wordpiece(plain, vocab_size=60).vocab()
        assert lf.Tokenizer.train_wordpiece(path, vocab_size=60).vocab() == expected


def test_records_with_no_text_are_an_empty_corpus(tmp_path: Path) -> None:
    path = _write(tmp_path, "jsonl", docs=["", None, "   "])
    with pytest.raises(CorpusError, match=r"c\.jsonl: no record holds any text"):
        lf.Tokenizer.train_bpe(path, vocab_size=300)
    for name, content in (("e.json", " \n"), ("e.csv", "text\r\n"), ("e.jsonl", "")):
        (tmp_path / name).write_text(content, encoding="utf-8")
        with pytest.raises(CorpusError, match=rf"{name}: no record holds any text"):
            lf.Tokenizer.train_bpe(tmp_path / name, vocab_size=300)


def test_the_command_line_takes_a_text_column(tmp_path: Path) -> None:
    source = _write(tmp_path, "csv", "review")
    out = tmp_path / "tok.json"
    argv = ["train-tokenizer", str(source), "--model", "wordpiece", "--vocab-size", "90"]
    assert main([*argv, "--text-column", "review", "-o", str(out), "--quiet"]) == 0
    expected = lf.Tokenizer.train_wordpiece(_plain(tmp_path), vocab_size=90).vocab()
    assert lf.Tokenizer.from_file(out).vocab() == expected


def test_finetuning_reads_parquet(tmp_path: Path) -> None:
    """A Parquet table gives the records its JSON Lines twin gives."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from lexforge.train.records import read_records
    from lexforge.train.tagging import read_tagged

    rows = [{"text": "a fine film", "label": "pos"}, {"text": "dull", "label": "neg"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_records(tmp_path / "c.parquet") == read_records(tmp_path / "c.jsonl")
    tagged = [{"tokens": ["Paris", "is", "big"], "tags": ["B-LOC", "O", "O"]}]
    pq.write_table(pa.Table.from_pylist(tagged), tmp_path / "t.parquet")
    (tmp_path / "t.jsonl").write_text(json.dumps(tagged[0]) + "\n")
    assert read_tagged(tmp_path / "t.parquet") == read_tagged(tmp_path / "t.jsonl")


def test_embed_gives_one_vector_per_record(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """Rows stay aligned with the records (an empty or null text is a row too); a text
    with line breaks is one text, not one per line."""
    texts: list[Any] = ["a fine film", None, "dull,\nand long", ""]
    records = tmp_path / "r.jsonl"
    records.write_text(
        "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts))
    )
    plain = tmp_path / "p.txt"
    plain.write_text("a fine film\n\ndull, and long\n\n", encoding="utf-8")
    for source, out in ((records, "a.npy"), (plain, "b.npy")):
        assert main(["embed", str(tiny_checkpoint), str(source), "-o", str(tmp_path / out)]) == 0
    ours, lines = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert ours.shape[0] == len(texts) == lines.shape[0]
    assert np.allclose(ours, lines, atol=1e-6)  # "dull,\nand long" embeds as "dull, and long"


def test_tokenize_gives_one_line_of_ids_per_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Records give a line each, in file order among plain and compressed text files,
    whose lines keep their line ends as before."""
    tok = lf.Tokenizer.train_bpe(_plain(tmp_path), vocab_size=300)
    tok.save(tmp_path / "tok.json")
    texts = ["one record,\nwith a line break", "", "café 北京"]
    records = tmp_path / "r.jsonl"
    records.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    plain = tmp_path / "p.txt"
    plain.write_text("first line\nsecond line\n", encoding="utf-8")
    packed = tmp_path / "p.txt.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    argv = ["tokenize", "--tokenizer", str(tmp_path / "tok.json")]
    assert main([*argv, str(plain), str(records), str(packed)]) == 0
    got = [[int(x) for x in line.split()] for line in capsys.readouterr().out.splitlines()]
    lines = [tok.encode("first line\n"), tok.encode("second line\n")]
    assert got == [*lines, *(tok.encode(t) for t in texts), *lines]


def test_long_json_lines_files_keep_every_record_and_name_bad_lines(tmp_path: Path) -> None:
    """Past the parser's batches of lines: every record in order, and a bad line named by
    its own number (a line holding two values, too)."""
    from lexforge._corpus_files import as_text

    docs = [f"document number {i}, with words {i % 7} and {i % 11}." for i in range(2500)]
    path = _write(tmp_path, "jsonl", docs=docs)
    assert as_text(path).read_text(encoding="utf-8") == _plain(tmp_path, docs).read_text()
    lines = path.read_text(encoding="utf-8").splitlines()
    for bad, message in (
        ('{"text": "a"}, {"text": "b"}', "is not JSON"),
        ('{"text": ', "is not JSON"),
    ):
        broken = tmp_path / "broken.jsonl"
        broken.write_text("\n".join([*lines[:1499], bad, *lines[1500:]]) + "\n", encoding="utf-8")
        with pytest.raises(CorpusError, match=rf"broken\.jsonl: line 1500 {message}"):
            as_text(broken)


def test_a_killed_conversion_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    """A records file converted into the cache through a temporary file: what killed
    conversions left (untouched for ten minutes) goes with the next one; a running one's
    stays."""
    import os
    import time

    from lexforge._corpus_files import as_text

    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": "A document."}) + "\n", encoding="utf-8")
    target = as_text(path)
    stale = target.with_name(f"..{target.name}.building-x1y2")
    running = target.with_name(f"..{target.name}.building-z3w4")
    for left in (stale, running):
        left.write_text("half a corpus")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    target.unlink()  # so that the next call converts again
    assert as_text(path) == target and target.is_file()
    assert not stale.exists() and running.exists()
    running.unlink()


def test_a_text_column_needs_a_records_file(tmp_path: Path) -> None:
    """JSON Lines saved under a .txt name is plain text by its name: a text column named
    for it is refused, never ignored (the JSON syntax would be learned as words)."""
    records = tmp_path / "records.txt"
    records.write_text("".join(json.dumps({"body": d}) + "\n" for d in ("a cat", "a dog")))
    tok = lf.Tokenizer.train_wordpiece(_plain(tmp_path), vocab_size=90)
    calls = [
        lambda: lf.Tokenizer.train_wordpiece(records, vocab_size=60, text_column="body"),
        lambda: lf.build_shards(records, tmp_path / "s", tok, text_column="body"),
        lambda: lf.Tokenizer.train_bpe("rt-polarity", vocab_size=300, text_column="body"),
    ]
    for call in calls:
        with pytest.raises(ConfigError, match=r"text_column='body' applies to records files"):
            call()
    tok.save(tmp_path / "tok.json")
    trained = tmp_path / "t.json"
    for argv in (
        ["tokenize", "--tokenizer", str(tmp_path / "tok.json")],
        ["train-tokenizer", "--vocab-size", "60", "-o", str(trained)],
    ):
        assert main([*argv, str(records), "--text-column", "body"]) == 1
    # among records files a plain one is read as text, and the column applies to the others
    both = [records, _write(tmp_path, "jsonl", "body")]
    assert lf.Tokenizer.train_wordpiece(both, vocab_size=60, text_column="body").vocab_size


def test_an_empty_records_file_in_a_larger_corpus(tmp_path: Path) -> None:
    """Like an empty text file, a records file with no text adds nothing to a corpus of
    several files; alone, it is an empty corpus (above)."""
    plain = _plain(tmp_path)
    empty = tmp_path / "part-1.jsonl"
    empty.write_text(json.dumps({"text": ""}) + "\n")
    expected = lf.Tokenizer.train_wordpiece(plain, vocab_size=90).vocab()
    assert lf.Tokenizer.train_wordpiece([plain, empty], vocab_size=90).vocab() == expected
    tok = lf.Tokenizer.train_wordpiece(plain, vocab_size=90)
    ours = lf.build_shards([plain, empty], tmp_path / "a", tok)
    assert ours.n_tokens == lf.build_shards(plain, tmp_path / "b", tok).n_tokens


def test_a_lone_surrogate_in_a_record_is_named(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON escape of half a UTF-16 pair cannot be UTF-8: every reader names the file
    and the line (before, `lexforge tokenize` raised UnicodeEncodeError)."""
    source = tmp_path / "s.jsonl"
    source.write_text('{"text": "fine"}\n{"text": "the cat \\ud800 sat"}\n')
    tok = lf.Tokenizer.train_bpe(_plain(tmp_path), vocab_size=300)
    tok.save(tmp_path / "tok.json")
    capsys.readouterr()
    assert main(["tokenize", "--tokenizer", str(tmp_path / "tok.json"), str(source)]) == 1
    assert main(["embed", str(tiny_checkpoint), str(source), "-o", str(tmp_path / "e.npy")]) == 1
    err = capsys.readouterr().err
    assert err.count("s.jsonl: line 2: the text holds a lone surrogate") == 2
    assert "Traceback" not in err


def test_a_records_file_with_a_long_name(tmp_path: Path) -> None:
    """A legal name of 221 bytes: its cached text file takes the name's start only."""
    source = _write(tmp_path, "jsonl")
    long = source.rename(tmp_path / ("x" * 215 + ".jsonl"))
    expected = lf.Tokenizer.train_wordpiece(_plain(tmp_path), vocab_size=90).vocab()
    assert lf.Tokenizer.train_wordpiece(long, vocab_size=90).vocab() == expected


def test_finetuning_parquet_with_a_repeated_column_name(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from lexforge.train.records import read_records

    table = pa.Table.from_arrays(
        [pa.array([1, 2]), pa.array(["a", "b"]), pa.array([3, 4]), pa.array(["x", "y"])],
        names=["id", "text", "id", "label"],
    )
    pq.write_table(table, tmp_path / "d.parquet")
    with pytest.raises(ConfigError, match=r"d\.parquet has 2 columns named 'id'; rename"):
        read_records(tmp_path / "d.parquet")


def test_processes_converting_one_file_at_once(tmp_path: Path) -> None:
    """Three processes read the same records into the cache at once: each writes its own
    temporary file, so none deletes another's or finds it half-made (a raw
    FileNotFoundError, or a false "no record holds any text", before)."""
    import subprocess
    import sys

    from lexforge._corpus_files import as_text

    path = tmp_path / "race.jsonl"
    path.write_text("".join(json.dumps({"text": f"document {i}."}) + "\n" for i in range(3000)))
    script = (
        "import sys; from pathlib import Path; from lexforge._corpus_files import as_text\n"
        "for i in range(int(sys.argv[2])):\n"
        "    target = as_text(Path(sys.argv[1]))\n"
        "    target.unlink(missing_ok=True)  # so that the next call converts again\n"
    )
    runs = [subprocess.Popen([sys.executable, "-c", script, str(path), "15"],
                             stderr=subprocess.PIPE, text=True) for _ in range(3)]  # fmt: skip
    errors = [run.communicate()[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], errors
    expected = "\n\n".join(f"document {i}." for i in range(3000)) + "\n"
    assert as_text(path).read_text(encoding="utf-8") == expected


def test_a_csv_cut_at_another_separator_is_refused_not_read_whole(tmp_path: Path) -> None:
    """A .csv cut at ';' (a European spreadsheet's export), or at tabs, has one column as
    csv reads it: its header ("text;label"). That column was taken as the only text column,
    so every line went into the corpus whole, its labels with it. Fine-tuning's reader
    refused such files; the corpus readers (tokenizer training, shards) now do too, and
    naming the column reads it as it is."""
    rows = [("a first document", "pos"), ("the second one", "neg")] * 20
    cut = {"semi.csv": ";", "tabs.csv": "\t", "semi.tsv": ";", "semi.csv.gz": ";"}
    tok = lf.Tokenizer.train_wordpiece(texts=["a b"] * 3, vocab_size=40)
    for name, sep in cut.items():
        text = "".join(f"{a}{sep}{b}\n" for a, b in [("text", "label"), *rows])
        path = tmp_path / name
        path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
        for read in (
            lambda p: lf.Tokenizer.train_wordpiece(p, vocab_size=60),
            lambda p: lf.build_shards(p, tmp_path / "shards", tokenizer=tok),
        ):
            refused = r"the header 'text(;|\\t)label' is one column: the file is (cut at|tab-)"
            with pytest.raises(CorpusError, match=refused):
                read(path)
    # a one-column csv whose text holds ';' is read as it is; so is the cut one, by name
    fine = tmp_path / "fine.csv"
    fine.write_text("review\na first; document\n", encoding="utf-8")
    assert lf.Tokenizer.train_wordpiece(fine, vocab_size=60).vocab_size > 0
    named = lf.Tokenizer.train_wordpiece(tmp_path / "semi.csv", vocab_size=60,
                                         text_column="text;label")  # fmt: skip
    assert "pos" in named.vocab()
