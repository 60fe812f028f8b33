"""The ``lexforge`` command line and the package surface: version, subcommands, lazy
imports, shipped type information."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import lexforge
from lexforge import _core
from lexforge.cli import main
from lexforge.errors import ConfigError


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lexforge.cli", *args], capture_output=True, text=True, check=False
    )


def test_version() -> None:
    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"lexforge {lexforge.__version__}"
    assert lexforge.__version__ == _core.__version__


def test_train_and_tokenize(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world\nhello there\n" * 50, encoding="utf-8")
    out = tmp_path / "tok.json"
    assert (
        main(["train-tokenizer", str(corpus), "--vocab-size", "270", "-o", str(out), "--quiet"])
        == 0
    )
    assert 256 < lexforge.Tokenizer.from_file(out).vocab_size <= 270  # the corpus may run out first
    assert main(["tokenize", "--tokenizer", str(out), str(corpus), "--count"]) == 0
    assert "bytes/token" in capsys.readouterr().out
    # a byte-order mark marks the encoding: it is not tokenized (as when training)
    marked = tmp_path / "marked.txt"
    marked.write_text("hello world\n", encoding="utf-8-sig")
    assert main(["tokenize", "--tokenizer", str(out), str(marked)]) == 0
    ids = [int(i) for i in capsys.readouterr().out.split()]
    assert ids == lexforge.Tokenizer.from_file(out).encode("hello world\n")


def test_tokenize_writes_a_long_line_in_pieces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line of more ids than a write takes (hundreds of megabytes of minified JSON:
    simulated with a small limit) is written in pieces, the same line of ids as whole."""
    from lexforge.cli import tokenizers

    corpus = tmp_path / "c.txt"
    lines = ["hello world " * 40 + "\n", "hi\n", "\n", "hello " * 7 + "\n"]
    corpus.write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "tok.json"
    train = ["train-tokenizer", str(corpus), "--vocab-size", "270", "-o", str(out), "--quiet"]
    assert main(train) == 0
    tok = lexforge.Tokenizer.from_file(out)
    want = "".join(" ".join(map(str, tok.encode(line))) + "\n" for line in lines)
    for limit in (1, 7, 8, 80, 10**6):  # pieces of one id, a row's length exactly, whole
        monkeypatch.setattr(tokenizers, "_IDS_PER_WRITE", limit)
        monkeypatch.setattr(tokenizers, "_ROWS_PER_WRITE", 2)
        capsys.readouterr()
        assert main(["tokenize", "--tokenizer", str(out), str(corpus)]) == 0
        assert capsys.readouterr().out == want, limit


def test_tokenize_frames_with_a_bpe_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A BPE model directory's tokenizer.json frames each line as the model saw its rows;
    --no-special-tokens gives the bare ids."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world\nhello there\n" * 50, encoding="utf-8")
    tok = lexforge.Tokenizer.train_bpe(corpus, vocab_size=270, special_tokens=["[CLS]", "[SEP]"])
    framed = tok.with_template("[CLS]", "[SEP]")
    framed.save(tmp_path / "framed.json")
    capsys.readouterr()
    assert main(["tokenize", "--tokenizer", str(tmp_path / "framed.json"), str(corpus)]) == 0
    rows = [[int(x) for x in line.split()] for line in capsys.readouterr().out.splitlines()]
    assert rows[:2] == [framed.encode("hello world\n"), framed.encode("hello there\n")]
    assert rows[0][0] == 0 and rows[0][-1] == 1
    argv = ["tokenize", "--tokenizer", str(tmp_path / "framed.json"), "--no-special-tokens"]
    assert main([*argv, str(corpus)]) == 0
    bare = [[int(x) for x in line.split()] for line in capsys.readouterr().out.splitlines()]
    assert bare[0] == tok.encode("hello world\n") == rows[0][1:-1]
    # a file that pads (and truncates) encode_batch's rows: lines are still whole
    doc = json.loads((tmp_path / "framed.json").read_text())
    doc["truncation"] = {"max_length": 3, "strategy": "LongestFirst", "stride": 0,
                         "direction": "Right"}  # fmt: skip
    doc["padding"] = {"strategy": {"Fixed": 40}, "direction": "Right", "pad_id": 0,
                      "pad_type_id": 0, "pad_token": "[CLS]"}  # fmt: skip
    (tmp_path / "padded.json").write_text(json.dumps(doc))
    assert main(["tokenize", "--tokenizer", str(tmp_path / "padded.json"), str(corpus)]) == 0
    again = [[int(x) for x in line.split()] for line in capsys.readouterr().out.splitlines()]
    assert again == rows


def test_train_a_wordpiece_tokenizer(tmp_path: Path) -> None:
    """``--model wordpiece`` trains what the Python API trains (its own tests hold it to the
    reference trainer), in either file format; the file loads in HF tokenizers with the
    same ids; ``--cased`` keeps case; options of the other model are refused by name."""
    corpus = tmp_path / "c.txt"
    corpus.write_text(
        "Héllo World, hello there!\n北京欢迎你 unbelievable things\nThe WORLD turns.\n" * 30,
        encoding="utf-8",
    )
    out = tmp_path / "tok.json"
    argv = ["train-tokenizer", str(corpus), "--model", "wordpiece", "--vocab-size", "120"]
    assert main([*argv, "-o", str(out), "--quiet"]) == 0
    expected = lexforge.Tokenizer.train_wordpiece(corpus, vocab_size=120, show_progress=False)
    ours = lexforge.Tokenizer.from_file(out)
    assert ours.vocab() == expected.vocab()
    assert list(ours.vocab())[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert main([*argv, "--format", "vocab", "-o", str(tmp_path / "vocab.txt"), "--quiet"]) == 0
    lines = (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert lines == sorted(expected.vocab(), key=expected.vocab().__getitem__)
    text = "Hello, unbelievable WORLD 北京!"
    tokenizers = pytest.importorskip("tokenizers")
    assert tokenizers.Tokenizer.from_file(str(out)).encode(text).ids == ours.encode(text)
    assert main([*argv, "--cased", "-o", str(tmp_path / "cased.json"), "--quiet"]) == 0
    cased = lexforge.Tokenizer.from_file(tmp_path / "cased.json")
    assert "W" in cased.vocab() and "W" not in ours.vocab()
    for extra, message in (
        (["--pattern", "cl100k"], "--pattern is a BPE option"),
        (["--format", "gpt2"], "--format gpt2 is not a WordPiece format"),
    ):
        failed = run(*argv, *extra, "-o", str(tmp_path / "x.json"))
        assert failed.returncode == 1 and message in failed.stderr, failed.stderr
    bpe = ["train-tokenizer", str(corpus), "--vocab-size", "300"]
    for extra, message in (
        (["--format", "vocab"], "--format vocab is not a BPE format"),
        (["--cased"], "--cased is a WordPiece option; add --model wordpiece"),
    ):
        failed = run(*bpe, *extra, "-o", str(tmp_path / "x.json"))
        assert failed.returncode == 1 and message in failed.stderr, failed.stderr
    assert not (tmp_path / "x.json").exists()


def test_errors_are_one_line(tmp_path: Path) -> None:
    out = run("train-tokenizer", str(tmp_path / "missing.txt"), "--vocab-size", "300")
    assert out.returncode == 1
    assert out.stderr.startswith("lexforge: error: no such file") and "Traceback" not in out.stderr
    assert run("train-tokenizer", str(tmp_path), "--vocab-size", "10").returncode == 1


def test_datasets_subcommand() -> None:
    out = run("datasets", "list")
    assert out.returncode == 0 and "wiki-leads" in out.stdout


def test_bench_compares_before_it_times() -> None:
    pytest.importorskip("tokenizers")
    out = run("bench", "wordpiece", "bpe", "--texts", "40", "--repeat", "1")
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if "tokens/s" in line]
    assert [line.split()[0] for line in lines] == ["wordpiece", "bpe"]
    assert all("ratio" in line or "not installed" in line for line in lines)
    bad = run("bench", "nonsense")
    assert bad.returncode == 1 and "unknown benchmark 'nonsense'" in bad.stderr


def test_bench_checks_bpe_against_tiktokens_own_cl100k(monkeypatch: pytest.MonkeyPatch) -> None:
    """The anchor is tiktoken's cl100k definition (its pattern), not one built from ours: a
    lexforge tokenizer with GPT-2's pattern on cl100k's ranks is caught, not timed."""
    pytest.importorskip("tiktoken")
    public = pytest.importorskip("tiktoken_ext.openai_public")
    from lexforge import _bench
    from lexforge.tokenizer import Tokenizer

    texts = ["I'm 12345 years OLD's!!\n\n  hello   world", "naïve 2024年 x"] * 5
    assert "ratio" in _bench._bpe(texts, 1, 1)
    right = Tokenizer.from_tiktoken.__func__  # type: ignore[attr-defined]

    def wrong(cls: Any, path: Any, **kwargs: Any) -> Any:
        return right(cls, path, pattern=public.r50k_pat_str)

    monkeypatch.setattr(Tokenizer, "from_tiktoken", classmethod(wrong))
    with pytest.raises(ConfigError, match="different ids: nothing timed"):
        _bench._bpe(texts, 1, 1)


@pytest.mark.parametrize(
    "broken",
    [{"mlm_probability": 0.125}, {"mask_probability": 0.0, "random_probability": 0.0}],
    ids=["picks-too-few", "changes-nothing"],
)
def test_bench_refuses_a_masker_off_berts_recipe(
    broken: dict[str, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("transformers")
    from lexforge import _bench, datasets
    from lexforge.masking import Masker

    texts = [t for t in datasets.load_corpus("wiki-leads") if t.strip()][:300]
    assert "ratio" in _bench._mask(texts, 1, 1)
    right = Masker.from_tokenizer.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        Masker,
        "from_tokenizer",
        classmethod(lambda cls, tok, **kw: right(cls, tok, **kw, **broken)),
    )
    with pytest.raises(ConfigError, match="lexforge's masking is off"):
        _bench._mask(texts, 1, 1)


def test_bench_collate_checks_both_collators(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("transformers")
    from lexforge import _bench, datasets
    from lexforge.collate import MLMCollator

    texts = [t for t in datasets.load_corpus("wiki-leads") if t.strip()][:300]
    line = _bench._collate(texts, 1, 1)
    assert line.startswith("collate") and "ratio" in line
    right = MLMCollator.__init__

    def skewed(self: Any, tok: Any, **kw: Any) -> None:  # picks 12.5%, not BERT's 15%
        right(self, tok, **kw, mlm_probability=0.125)

    monkeypatch.setattr(MLMCollator, "__init__", skewed)
    with pytest.raises(ConfigError, match="lexforge's masking is off"):
        _bench._collate(texts, 1, 1)


def test_bench_refuses_more_threads_than_lexforge_runs() -> None:
    """Past lexforge's cap the anchors would get more threads than ours (and a huge count
    spawned threads for minutes): refused, with the cap named."""
    from lexforge._bench import run
    from lexforge._core import resolve_threads

    most = resolve_threads(10**6)
    with pytest.raises(ConfigError, match=rf"at most {most} threads.*--threads {most} or fewer"):
        run(["wordpiece"], threads=most + 1)


def test_import_is_lazy() -> None:
    code = "import sys, lexforge; print('lexforge._core' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_training_a_tokenizer_from_text_loads_no_numpy(tmp_path: Path) -> None:
    """NumPy is 13 MiB of resident memory, over a tenth of the peak of training on 100 MB
    (benches/RESULTS.md): tokenizers train and save without it; the first array loads it."""
    code = (
        "import sys, lexforge as lf\n"
        "bpe = lf.Tokenizer.train_bpe(texts=['ab cd'] * 5, vocab_size=260)\n"
        "wp = lf.Tokenizer.train_wordpiece(texts=['ab cd'] * 5, vocab_size=40)\n"
        f"bpe.save({str(tmp_path / 'a.json')!r}); wp.save({str(tmp_path / 'b.json')!r})\n"
        "print('numpy' in sys.modules)\n"
        "print(type(bpe.encode_batch(['ab cd'], return_tensors='np')['input_ids']).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "ndarray"]


def test_ships_type_information() -> None:
    files = resources.files("lexforge")
    assert files.joinpath("py.typed").is_file()
    assert files.joinpath("_core.pyi").is_file()


def test_tokenize_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world, hello there\n" * 50_000, encoding="utf-8")
    tok = tmp_path / "tok.json"
    assert main(["train-tokenizer", str(corpus), "--vocab-size", "270", "-o", str(tok)]) == 0
    command = [sys.executable, "-m", "lexforge.cli", "tokenize", "--tokenizer", str(tok)]
    with subprocess.Popen(
        [*command, str(corpus)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()  # as `| head -1` does
        stderr = proc.stderr.read().decode()
    assert proc.returncode == 141 and stderr == ""  # was: "lexforge: error: [Errno 32] ..."


def test_pretrain_refuses_an_output_inside_the_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("One doc.\n\nAnother doc.\n", encoding="utf-8")
    out = run("pretrain", str(corpus), str(corpus / "run"), "--tokenizer", "unused.json")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "is inside the corpus directory" in out.stderr
    assert not (corpus / "run").exists()
    # refused before held-out text is cut (its shards were left inside the corpus folder)
    held = tmp_path / "held.txt"
    held.write_text("A held doc.\n\nAnd one more.\n", encoding="utf-8")
    tok = tmp_path / "tok.json"
    texts = ["one doc another held and more"] * 20
    lexforge.Tokenizer.train_wordpiece(texts=texts, vocab_size=60).save(tok)
    out = run("pretrain", str(corpus), str(corpus / "run"), "--tokenizer", str(tok),
              "--eval", str(held))  # fmt: skip
    assert out.returncode == 1 and "is inside the corpus directory" in out.stderr
    assert sorted(p.name for p in corpus.iterdir()) == ["a.txt"]


def test_pretrain_checks_its_options_before_tokenizing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lexforge import datasets

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("One doc here.\n\nAnother doc there.\n", encoding="utf-8")
    bert = str(datasets.files("bert-base-uncased")["tokenizer.json"])
    bpe = tmp_path / "bpe.json"
    lexforge.Tokenizer.train_bpe(texts=["a b c"] * 5, vocab_size=260).save(bpe)
    for extra, message in [
        (["--mlm-probability", "1.5"], "--mlm-probability must be in"),
        (["--max-seq-len", "4"], "--max-seq-len 4 is too short"),
        (["--eval", str(tmp_path / "held-out.txt")], "--eval: no such shard directory"),
        (["--tokenizer", str(bpe)], "MASK"),
    ]:
        argv = ["pretrain", str(corpus), str(tmp_path / "run"), "--tokenizer", bert, *extra]
        assert main(argv) == 1, extra
        assert message in capsys.readouterr().err, extra
        assert not (tmp_path / "run").exists(), extra  # nothing built, nothing left


def test_warnings_are_one_line(tmp_path: Path) -> None:
    # a rank file whose ranks start at 1: loading it warns that no rank holds id 0
    path = tmp_path / "ranks.tiktoken"
    path.write_text("".join(f"{base64.b64encode(bytes([b])).decode()} {b + 1}\n"
                            for b in range(256)))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "lexforge.cli", "tokenize", "--tokenizer", str(path),
         "--pattern", "gpt2"],
        input="hello world\n", capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip()
    assert done.stderr.startswith("lexforge: warning: ") and "no rank holds" in done.stderr
    assert done.stderr.count("\n") == 1  # not followed by a line of lexforge's source


def test_tokenize_streams_in_blocks_and_names_the_line_of_a_bad_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of a few bytes (the default is 8 MB) give the same lines as one block: none
    lost or split at a block's edge; a bad byte's line is counted over the whole input."""
    import lexforge.cli.inputs

    corpus = tmp_path / "c.txt"
    lines = [f"line {i} has some words, ünïcode and 北京.\n" for i in range(200)]
    corpus.write_bytes(b"\xef\xbb\xbf" + "".join(lines).encode() + b"no newline at the end")
    tok = tmp_path / "tok.json"
    assert main(["train-tokenizer", str(corpus), "--vocab-size", "300", "-o", str(tok)]) == 0
    capsys.readouterr()
    argv = ["tokenize", "--tokenizer", str(tok), str(corpus)]
    assert main(argv) == 0
    whole = capsys.readouterr().out
    monkeypatch.setattr(lexforge.cli.inputs, "_BLOCK_BYTES", 100)
    assert main(argv) == 0
    assert capsys.readouterr().out == whole
    assert whole.count("\n") == 201
    bad = tmp_path / "bad.txt"
    bad.write_bytes("".join(lines).encode() + b"caf\xe9\n")
    assert main(["tokenize", "--tokenizer", str(tok), str(bad)]) == 1
    assert "bad.txt:201: not UTF-8 text (byte 0xe9)" in capsys.readouterr().err


def test_tokenize_blocks_hold_a_bounded_number_of_lines(tmp_path: Path) -> None:
    """A block was cut at 8 MB alone, so a file of empty or one-character lines gave a
    block of millions of lines (2.5 GB of strings and id lists for 40 MB of input); a
    block now ends at 65,536 lines too, with every line read once, in order, for text
    files and records files alike."""
    from lexforge.cli.inputs import _BLOCK_LINES, _tokenize_blocks

    n = 2 * _BLOCK_LINES + 5
    plain = tmp_path / "tiny.txt"
    plain.write_text("".join("x\n" if i % 3 else "\n" for i in range(n)), encoding="utf-8")
    records = tmp_path / "tiny.jsonl"
    records.write_text("".join(json.dumps({"text": str(i % 10)}) + "\n" for i in range(n)))
    for path, want in ((plain, plain.read_text().splitlines(keepends=True)),
                       (records, [str(i % 10) for i in range(n)])):  # fmt: skip
        blocks = [lines for lines, _ in _tokenize_blocks([str(path)], None)]
        assert [len(b) for b in blocks] == [_BLOCK_LINES, _BLOCK_LINES, 5]
        assert [line for b in blocks for line in b] == want


def test_tokenize_reads_stdin_for_a_dash_and_names_inputs_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-`` was opened as a file named "-"; a missing file or a directory was a raw errno
    (after the ids of the files before it), a UTF-16 file a "not UTF-8" error at byte 0xff.
    Now ``-`` is stdin, beside files, in order; the others are one line naming the fix,
    before anything is printed."""
    import io

    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world\n", encoding="utf-8")
    tok_path = tmp_path / "tok.json"
    assert main(["train-tokenizer", str(corpus), "--vocab-size", "270", "-o", str(tok_path)]) == 0
    tok = lexforge.Tokenizer.from_file(tok_path)
    capsys.readouterr()

    def stdin(data: bytes) -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    stdin(b"\xef\xbb\xbfhello there\n")  # (a UTF-8 byte-order mark: dropped, as from files)
    assert main(["tokenize", "--tokenizer", str(tok_path), "-", str(corpus)]) == 0
    rows = [[int(i) for i in line.split()] for line in capsys.readouterr().out.splitlines()]
    assert rows == [tok.encode("hello there\n"), tok.encode("hello world\n")]

    (tmp_path / "folder").mkdir()
    wide = {}
    for encoding, name in (("utf-16", "UTF-16"), ("utf-32", "UTF-32")):
        wide[name] = tmp_path / f"{encoding}.txt"
        wide[name].write_text("hello world\n", encoding=encoding)  # (with its byte-order mark)
    refused = [
        ("missing.txt", "no such file: missing.txt; check the path"),
        (str(tmp_path / "folder"), "folder is a directory; pass text files"),
    ]
    for f, message in refused:
        assert main(["tokenize", "--tokenizer", str(tok_path), str(corpus), f]) == 1
        out, err = capsys.readouterr()
        assert message in err and err.count("\n") == 1
        assert out == ""  # checked before the first file is read
    for name, path in wide.items():
        assert main(["tokenize", "--tokenizer", str(tok_path), str(path)]) == 1
        err = capsys.readouterr().err
        fix = f"iconv -f {name} -t UTF-8 {path} > {tmp_path / path.stem}-utf8.txt"
        assert f"{path}: this file is {name}; convert it to UTF-8 ({fix})" in err
        assert err.count("\n") == 1
    stdin("hello world\n".encode("utf-16"))
    assert main(["tokenize", "--tokenizer", str(tok_path)]) == 1
    assert (
        "<stdin>: this input is UTF-16; convert it to UTF-8 (pipe it through iconv -f "
        "UTF-16 -t UTF-8)" in capsys.readouterr().err
    )
    assert "stdin: - or none" in " ".join(run("tokenize", "--help").stdout.split())


def test_train_tokenizer_reads_stdin_for_a_dash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-`` among the corpus files is stdin, as for ``tokenize`` (it was "no such file:
    -"): the tokenizer is the one trained on the same bytes in a file, for both models,
    and stdin's problems are named as ``<stdin>``'s, not a temporary file's."""
    import io

    text = "Héllo World, hello there!\n\n北京欢迎你 unbelievable things\nThe WORLD turns.\n" * 20
    corpus, more = tmp_path / "c.txt", tmp_path / "more.txt"
    corpus.write_text(text, encoding="utf-8")
    more.write_text("another file, other words\n" * 5, encoding="utf-8")

    def stdin(data: bytes) -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    for model in ("bpe", "wordpiece"):
        argv = ["train-tokenizer", "--model", model, "--vocab-size", "300", "--quiet"]
        stdin(text.encode())
        assert main([*argv, str(more), "-", "-o", str(tmp_path / f"{model}-in.json")]) == 0
        assert main([*argv, str(more), str(corpus), "-o", str(tmp_path / f"{model}.json")]) == 0
        piped = lexforge.Tokenizer.from_file(tmp_path / f"{model}-in.json")
        assert piped.to_str() == lexforge.Tokenizer.from_file(tmp_path / f"{model}.json").to_str()
    capsys.readouterr()
    argv = ["train-tokenizer", "--vocab-size", "300", "-o", str(tmp_path / "t.json"), "-"]
    for data, message in ((b"ok\nbad \xff byte\n", "<stdin>:2: invalid UTF-8"),
                          (b"", "the corpus is empty")):  # fmt: skip
        stdin(data)
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert message in err and "lexforge-stdin-" not in err, err
    assert main([*argv, "-"]) == 1
    assert "- (stdin) is named more than once" in capsys.readouterr().err
    stdin(text.encode())
    assert main([*argv[:-3], "-o", str(tmp_path), "-"]) == 1  # refused before stdin is read
    assert "names a directory" in capsys.readouterr().err
    assert sys.stdin.read() == text


def test_train_tokenizer_checks_where_it_saves_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import lexforge

    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world\n" * 10, encoding="utf-8")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained before the output was checked")

    monkeypatch.setattr(lexforge.Tokenizer, "train_bpe", never)
    bad = [(tmp_path, "names a directory; name the file"),
           (f"{tmp_path / 'new'}/", "names a directory; name the file"),
           (a_file / "tok.json", "a-file is a file, not a directory")]  # fmt: skip
    for output, message in bad:
        argv = ["train-tokenizer", str(corpus), "--vocab-size", "270", "-o", str(output)]
        assert main(argv) == 1
        assert message in capsys.readouterr().err
    argv = ["train-tokenizer", str(corpus), "--vocab-size", "270", "--format", "gpt2"]
    assert main([*argv, "-o", str(a_file)]) == 1
    assert "--format gpt2 writes a folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def bpe_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MLM BERT whose tokenizer is a byte-level BPE: its vocabulary has the byte
    tokens "\\t" and "\\n"."""
    from lexforge.model import BertConfig, BertForMaskedLM

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = lexforge.Tokenizer.train_bpe(
        texts=["the cat sat\ton the mat, naïve café\n"] * 20, vocab_size=280,
        special_tokens=specials,
    )  # fmt: skip
    out = tmp_path_factory.mktemp("bpe-model")
    BertForMaskedLM(BertConfig.preset("tiny", vocab_size=tok.vocab_size)).save_pretrained(
        out, tokenizer=tok
    )
    return out


def test_fill_mask_lines_keep_three_columns(bpe_model: Path) -> None:
    """Byte-level BPE has tokens holding a tab or a line end; printed raw they broke the
    tab-separated lines. Escaped, every line has three columns and reads back (as JSON)
    to the Python API's tokens, in its order; a console that cannot show a character gets
    it escaped, not a traceback."""
    from lexforge.model import BertForMaskedLM

    model = BertForMaskedLM.from_pretrained(bpe_model)
    want = model.fill_mask("the [MASK] sat", top_k=model.config.vocab_size)[0]
    out = run("fill-mask", str(bpe_model), "the [MASK] sat", "--top-k", str(len(want)))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")[:-1]
    assert len(lines) == len(want) and all(line.count("\t") == 2 for line in lines)
    shown = [line.split("\t")[1] for line in lines]  # escaped when it holds a backslash
    tokens = [json.loads(f'"{s}"') if "\\" in s else s for s in shown]
    assert tokens == [t for t, _ in want] and "\t" in tokens and "\n" in tokens
    ascii_out = subprocess.run(
        [sys.executable, "-m", "lexforge.cli", "fill-mask", str(bpe_model), "the [MASK] sat",
         "--top-k", str(len(want))],
        capture_output=True, check=False, env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )  # fmt: skip
    assert ascii_out.returncode == 0 and b"Traceback" not in ascii_out.stderr
    assert b"\\xe9" in ascii_out.stdout or b"\\u" in ascii_out.stdout  # é, or a CJK byte


def test_every_command_stops_quietly_at_a_closed_pipe(bpe_model: Path) -> None:
    command = [sys.executable, "-m", "lexforge.cli", "fill-mask", str(bpe_model),
               "[MASK] " * 60, "--top-k", "280"]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()  # as `| head -1` does
        stderr = proc.stderr.read().decode()
    assert proc.returncode == 141 and stderr == ""  # was: "lexforge: error: [Errno 32] ..."


def test_pretrain_and_train_tokenizer_name_their_real_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pretrain", str(tmp_path / "no-such"), str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "no such shard directory, text file or dataset" in err, err  # not "is text"
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world\n", encoding="utf-8")
    argv = [
        "train-tokenizer",
        str(corpus),
        "--vocab-size",
        "300",
        "--limit-alphabet",
        "0",
        "-o",
        str(tmp_path / "t"),
    ]
    assert main(argv) == 1
    assert "--limit-alphabet is a WordPiece option" in capsys.readouterr().err


def test_a_missing_training_dependency_is_named_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without safetensors a run would train until its first checkpoint, then lose it all:
    the commands that run a model, and the Python loops that save, check first and name
    the extra that installs it."""
    import importlib.util

    from lexforge import _extras
    from lexforge.errors import MissingDependencyError

    found = importlib.util.find_spec
    monkeypatch.setattr(
        _extras.importlib.util,
        "find_spec",
        lambda name: None if name == "safetensors" else found(name),
    )
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("hello world\n\n" * 10, encoding="utf-8")
    out = tmp_path / "run"
    for argv in (["pretrain", str(corpus), str(out), "--tokenizer", "t.json"],
                 ["finetune", "model", "rt-polarity", "--out", str(out)],
                 ["embed", "model", str(corpus)], ["quickstart", "--out", str(out)]):  # fmt: skip
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert f"lexforge {argv[0]} needs safetensors" in err
        assert "pip install 'lexforge[train]'" in err
    assert not out.exists()
    from lexforge.train import finetune, pretrain

    with pytest.raises(MissingDependencyError, match=r"lexforge\[train\]"):
        pretrain(corpus, out, tokenizer="t.json")
    with pytest.raises(ImportError):  # (a MissingDependencyError is an ImportError too)
        finetune("model", "rt-polarity", out_dir=out)
    assert not out.exists()


def test_an_optional_module_missing_midway_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    from lexforge import _extras
    from lexforge.cli import parser

    def needs_pyarrow(args: object) -> int:
        raise ModuleNotFoundError("No module named 'pyarrow'", name="pyarrow")

    found = importlib.util.find_spec
    monkeypatch.setattr(
        _extras.importlib.util, "find_spec", lambda name: None if name == "pyarrow" else found(name)
    )
    monkeypatch.setattr(parser, "_bench", needs_pyarrow)
    assert main(["bench"]) == 1
    assert "pip install 'lexforge[parquet]'" in capsys.readouterr().err


def test_an_installed_but_older_dependency_is_not_called_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name an installed torch lacks (an older version) is its own error, not "install
    torch"; a missing torch met through ``lexforge.<name>`` is named with its extra."""
    import importlib.util

    from lexforge import _extras
    from lexforge.cli import parser
    from lexforge.errors import MissingDependencyError

    older_torch = [
        ImportError("cannot import name 'fully_shard'", name="torch.distributed"),
        ModuleNotFoundError("No module named 'torch.nope'", name="torch.nope"),
    ]
    for error in older_torch:

        def older(args: object, error: ImportError = error) -> int:
            raise error

        monkeypatch.setattr(parser, "_bench", older)
        with pytest.raises(ImportError) as caught:
            main(["bench"])
        assert caught.value is error
    found = importlib.util.find_spec
    monkeypatch.setattr(
        _extras.importlib.util, "find_spec", lambda name: None if name == "torch" else found(name)
    )
    missing = ModuleNotFoundError("No module named 'torch'", name="torch")
    monkeypatch.delitem(lexforge.__dict__, "finetune", raising=False)
    monkeypatch.setattr(
        lexforge.importlib, "import_module", lambda name: (_ for _ in ()).throw(missing)
    )
    with pytest.raises(MissingDependencyError, match=r"pip install 'lexforge\[train\]'"):
        lexforge.finetune  # noqa: B018


def test_every_option_says_what_it_is_and_its_default() -> None:
    """Help for each option of each subcommand, with its default (stated in the text, or
    added as "(default: ...)"), as the code has it: options with no help hid theirs."""
    import argparse

    from lexforge.cli.parser import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        shown = sub.format_help()
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue  # (-h; the datasets command's actions, each with its help)
            assert action.help, (name, action.dest)  # every option and argument described
            default = action.default
            if action.option_strings and default not in (None, False):
                assert "default" in sub._get_formatter()._get_help_string(action).lower(), (
                    name, action.dest
                )  # fmt: skip
                if "%(default)" in sub._get_formatter()._get_help_string(action):
                    assert f"(default: {default})" in " ".join(shown.split()), (name, default)


def test_finetune_names_the_flags_another_task_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--stride and the other QA flags without --task qa (and the classification flags
    with --task tag or qa) are refused by their flags, before anything is read: the API's
    refusal named its keywords (stride=8: only task='qa' takes it)."""
    out = tmp_path / "run"
    command = ["finetune", "no-such-model", "no-such-data.csv", "--out", str(out)]
    for flags, said in (
        (["--stride", "8"], "--stride 8: only --task qa takes it (its windows and answers); "
         "add --task qa to answer questions"),
        (["--task", "classify", "--no-unanswerable", "--max-answer-length", "5"],
         "--max-answer-length 5, --no-unanswerable: only --task qa takes them"),
        (["--task", "tag", "--problem-type", "regression"],
         "--problem-type regression: only text classification (--task classify) takes it; "
         "this is --task tag"),
    ):  # fmt: skip
        assert main([*command, *flags]) == 1
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err, err
    assert not out.exists()


def test_precision_flag_reaches_the_training_calls(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import lexforge.train
    from lexforge.cli.parser import build_parser

    asked: dict[str, Any] = {}

    class CalledError(Exception):
        pass

    def finetune(*args: Any, **kwargs: Any) -> Any:
        asked.update(kwargs)
        raise CalledError  # (stops the command once the call is made)

    monkeypatch.setattr(lexforge.train, "finetune", finetune)
    for flags, want in (
        ([], None),
        (["--precision", "bf16"], "bf16"),
        (["--precision", "fp32"], "fp32"),
    ):
        asked.clear()
        with pytest.raises(CalledError):
            main(["finetune", "model", "data.csv", *flags])
        assert asked["precision"] == want
    parser = build_parser()
    assert (
        parser.parse_args(["pretrain", "corpus", "out", "--precision", "bf16"]).precision == "bf16"
    )
    assert parser.parse_args(["quickstart", "--precision", "bf16"]).precision == "bf16"
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune", "model", "data.csv", "--precision", "fp16"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fp16'" in capsys.readouterr().err


def test_python_dash_m_lexforge_is_the_command() -> None:
    """``python -m lexforge`` runs the CLI ('No module named lexforge.__main__')."""
    out = subprocess.run([sys.executable, "-m", "lexforge", "--version"], capture_output=True,
                         text=True, check=True)  # fmt: skip
    import lexforge

    assert lexforge.__version__ in out.stdout
