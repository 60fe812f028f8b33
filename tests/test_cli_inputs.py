"""The representation and quickstart commands on inputs a demanding user gives them:
stdin as ``-``, outputs that would replace an input or land on a directory, probe words
that are not words, corpus options that contradict each other, an ``--out`` that is a
file, a stage record cut short. Each is refused in one line before any work, or handled."""

from __future__ import annotations

import io
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
import numpy as np

import lexforge
from lexforge.cli import main
from lexforge.errors import ConfigError

TEXTS = ["the cat sat on the mat", "a dog ran in the park", "the bird sang a song"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MLM BERT (hidden 16, 1 layer) with a WordPiece tokenizer: seconds to load."""
    import torch

    from lexforge.model import BertConfig, BertForMaskedLM

    tok = lexforge.Tokenizer.train_wordpiece(texts=TEXTS * 30, vocab_size=120,
                                             show_progress=False)  # fmt: skip
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_layers=1, num_heads=2,
                        intermediate_size=32, max_position_embeddings=32)  # fmt: skip
    out = tmp_path_factory.mktemp("model")
    BertForMaskedLM(config).save_pretrained(out, tokenizer=tok)
    return out


def _never(*args: object, **kwargs: object) -> None:
    raise AssertionError("reached: the input should have been refused before this")


def test_embed_reads_stdin_for_a_dash(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-`` reads stdin (it was opened as a file named "-"), beside files, in order; a
    blank line is a row in .npy and .parquet alike, a CRLF line end is not text."""
    pq = pytest.importorskip("pyarrow.parquet")
    corpus = tmp_path / "c.txt"
    corpus.write_text("a dog ran\n", encoding="utf-8")
    stdin = b"the cat\r\n\r\nthe bird sang"
    rows = {}
    for name in ("v.npy", "v.parquet"):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        assert main(["embed", str(model_dir), "-", str(corpus), "-o", str(tmp_path / name)]) == 0
        rows[name] = tmp_path / name
    table = pq.read_table(rows["v.parquet"]).to_pydict()
    want = ["the cat", "", "the bird sang", "a dog ran"]
    assert table["text"] == want
    from lexforge.model import BertModel

    with warnings.catch_warnings():  # (the MLM head's weights: not an encoder's)
        warnings.simplefilter("ignore")
        encoder = BertModel.from_pretrained(model_dir)
    expected = encoder.embed(want)
    np.testing.assert_allclose(np.load(rows["v.npy"]), expected, atol=1e-5)
    np.testing.assert_allclose(np.array(table["embedding"]), expected, atol=1e-5)


def test_embed_refuses_to_replace_its_input(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A records file named as the output too was read, then replaced by the vectors:
    its other columns were lost. Refused, the file left as it was."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    data = tmp_path / "data.parquet"
    pq.write_table(pa.table({"text": TEXTS, "label": [0, 1, 0]}), data)
    before = data.read_bytes()
    same = str(tmp_path / "." / "data.parquet")
    assert main(["embed", str(model_dir), str(data), "-o", same]) == 1
    assert "would replace the input" in capsys.readouterr().err
    assert data.read_bytes() == before


def test_embed_words_checks_the_files_it_writes_before_the_model_runs(
    model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With --words a .npy output becomes .npz + .words.json: those were only checked at
    the write, after the model ran ("could not write ...; free space there")."""
    import lexforge.cli.models as cli_models

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    monkeypatch.setattr(cli_models, "_load_model", _never)
    (tmp_path / "w.npz").mkdir()
    (tmp_path / "j.words.json").mkdir()
    for output, folder in (("w.npy", "w.npz"), ("j.npz", "j.words.json")):
        argv = ["embed", str(model_dir), str(corpus), "--words", "-o", str(tmp_path / output)]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert f"{tmp_path / folder} is a directory" in err and err.count("\n") == 1


def test_embed_names_a_utf16_stdin_before_the_model_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text piped from a UTF-16 file was "not UTF-8 text (byte 0xff)": the byte-order mark
    says which conversion it needs."""
    import lexforge.cli.models as cli_models

    monkeypatch.setattr(cli_models, "_load_model", _never)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("a cat\n".encode("utf-16"))))
    assert main(["embed", "model", "-", "-o", str(tmp_path / "v.npy")]) == 1
    assert (
        "<stdin>: this input is UTF-16; convert it to UTF-8 (pipe it through iconv -f "
        "UTF-16 -t UTF-8)" in capsys.readouterr().err
    )
    assert not (tmp_path / "v.npy").exists()


@pytest.mark.parametrize("command", ["embed", "predict"])
def test_a_utf16_file_is_named_as_such_before_the_model_runs(
    command: str,
    model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A UTF-16 file given by name was only "not UTF-8 text (byte 0xff at line 1)", where
    the same text on stdin named the conversion."""
    import lexforge.cli.models as cli_models

    monkeypatch.setattr(cli_models, "_load_model", _never)
    model = "model"
    if command == "predict":  # (its checkpoint is read for its head before the texts)
        import warnings

        from lexforge.model import BertForSequenceClassification

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            classifier = BertForSequenceClassification.from_pretrained(model_dir, labels=["a", "b"])
        tok = lexforge.Tokenizer.from_file(model_dir / "tokenizer.json")
        model = str(classifier.save_pretrained(tmp_path / "classifier", tokenizer=tok))
        monkeypatch.setattr(BertForSequenceClassification, "from_pretrained", _never)
    wide = tmp_path / "texts.txt"
    wide.write_bytes("a cat\n".encode("utf-16"))
    assert main([command, model, str(wide), "-o", str(tmp_path / "v.npy")]) == 1
    err = capsys.readouterr().err
    assert f"{wide}: this file is UTF-16; convert it to UTF-8 (iconv -f UTF-16" in err, err


def test_train_tokenizer_refuses_to_replace_its_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o`` naming a corpus file replaced the corpus with the tokenizer it trained."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS * 20) + "\n", encoding="utf-8")
    before = corpus.read_bytes()
    (tmp_path / "gpt2").mkdir()
    merges = tmp_path / "gpt2" / "merges.txt"
    merges.write_bytes(before)
    for given, extra in (
        (corpus, ["-o", str(corpus)]),
        (corpus, ["-o", str(corpus), "--model", "wordpiece", "--format", "vocab"]),
        (merges, ["-o", str(tmp_path / "gpt2"), "--format", "gpt2"]),
    ):
        argv = ["train-tokenizer", str(given), "--vocab-size", "300", "--quiet", *extra]
        assert main(argv) == 1
        assert f"would replace the corpus file {given}; write elsewhere" in capsys.readouterr().err
    assert corpus.read_bytes() == before == merges.read_bytes()


def test_train_tokenizer_names_special_tokens_given_after_one_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--special <s> <pad>`` made ``<pad>`` a corpus file: "no such file: <pad>". A
    missing file spelled as a token is named as a token, with the flag's form; a file of
    that name, or a dataset, is still read as one."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS * 20) + "\n", encoding="utf-8")
    out = str(tmp_path / "t.json")
    monkeypatch.chdir(tmp_path)
    for given, form in (
        (["--special", "<s>", "<pad>"], "--special <s> --special <pad>"),
        (
            ["--special", "[CLS]", "[PAD]", "--model", "wordpiece"],
            "--special [CLS] --special [PAD]",
        ),
        (["<|endoftext|>"], "--special <|endoftext|>"),
    ):
        argv = ["train-tokenizer", str(corpus), "--vocab-size", "300", "-o", out, "--quiet", *given]
        assert main(argv) == 1
        assert (
            f"a special token: --special takes one token, so repeat the flag for each: {form}\n"
            in capsys.readouterr().err
        )
        assert not Path(out).exists()
    (tmp_path / "<pad>").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")  # a real file
    argv = ["train-tokenizer", str(corpus), "--vocab-size", "300", "-o", out, "--quiet",
            "--special", "<s>", "<pad>"]  # fmt: skip
    assert main(argv) == 0
    assert lexforge.Tokenizer.from_file(out).token_to_id("<s>") is not None


@pytest.mark.parametrize(
    ("command", "flag"),
    [("train-tokenizer", "--threads"), ("train-tokenizer", "--min-frequency"),
     ("tokenize", "--threads")],
)  # fmt: skip
def test_tokenizer_counts_are_named_by_their_flags(
    command: str, flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """They were named by the API's keywords (num_threads, min_frequency)."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    if command == "tokenize":
        tok = lexforge.Tokenizer.train_wordpiece(texts=TEXTS, vocab_size=80, show_progress=False)
        tok.save(tmp_path / "tok.json")
        argv = [command, "--tokenizer", str(tmp_path / "tok.json"), str(corpus), flag, "-1"]
    else:
        argv = [command, str(corpus), "--vocab-size", "300", "-o", str(tmp_path / "t.json"),
                "--quiet", flag, "-1"]  # fmt: skip
    assert main(argv) == 1
    assert f"lexforge: error: {flag} must be at least 0, got -1" in capsys.readouterr().err


def test_pretrain_names_an_unknown_preset_by_its_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pretrain", "wiki-leads", str(tmp_path / "run"), "--preset", "huge"]) == 1
    err = capsys.readouterr().err
    assert "--preset 'huge' is not one of tiny, mini, small, medium, base, large" in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
     (["--max-seq-len", "4"], "--max-seq-len 4 is too short"),
     (["--warmup", "9", "--steps", "5"], "--warmup 9 steps is longer than the run's 5 steps"),
     (["--lr", "-1"], "--lr must be positive, got -1"),
     (["--save-every", "-1"], "--save-every must be at least 0"),
     (["--cuda-graphs", "--fsdp"], "--cuda-graphs and --fsdp do not go together")],
)  # fmt: skip
def test_pretrain_options_are_refused_by_their_flags(
    options: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The API checks them and names its keywords (batch_size, max_seq_len=4); the command
    line says which of its flags to change. A folder named like a keyword stays as it is."""
    folder = tmp_path / "max_seq_len"  # (a path, not a keyword)
    folder.mkdir()
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    tok = lexforge.Tokenizer.train_wordpiece(texts=TEXTS, vocab_size=80, show_progress=False)
    tok.save(tmp_path / "tok.json")
    argv = ["pretrain", str(corpus), str(folder / "run"), "--tokenizer", str(tmp_path / "tok.json"),
            "--quiet", *options]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"lexforge: error: {message}" in err, err
    assert "_" not in err.split(": error: ")[1].split(str(tmp_path))[0], err
    assert not (folder / "run").exists()


def test_keywords_become_flags_outside_paths_and_quotes() -> None:
    from lexforge.cli.parser import build_parser, flag_names, in_flags

    flags = flag_names(build_parser(), "finetune")
    assert flags["max_length"] == "--max-length" and flags["out_dir"] == "--out"
    said = in_flags(
        "max_length=2 is too short; out_dir /a/max_length/b.max_length 'max_length' lr", flags
    )
    assert said == "--max-length 2 is too short; --out /a/max_length/b.max_length 'max_length' lr"
    assert in_flags("lr must be positive", flags) == "--lr must be positive"
    assert in_flags("unanswerable=True needs answers", flags) == "--unanswerable needs answers"
    said = in_flags("row 2 has no column 'tokens'; pass tokens_column=/tags_column=", flags)
    assert said == "row 2 has no column 'tokens'; pass --text-column/--label-column"
    said = in_flags("stride must be in [0, max_length); pass 8, or None (half)", flags)
    assert said == "--stride must be in [0, --max-length); pass 8, or leave --stride out (half)"
    assert in_flags("rows must be a list or None", flags) == "rows must be a list or None"
    assert flag_names(build_parser(), None) == {}
    # a message that gave the flag beside the keyword names it once
    said = in_flags("none named 'text'; name it with text_column= (--text-column)", flags)
    assert said == "none named 'text'; name it with --text-column"
    # ... and flags repeated in one parenthesis, with a value or 'in the CLI', or in a
    # clause of it (the rest of the parenthesis kept); flags not said before are kept
    said = in_flags("pass validation= and test= (--validation, --test) with files", flags)
    assert said == "pass --validation and --test with files"
    assert in_flags("need task='tag' (--task tag)", flags) == "need --task 'tag'"
    said = in_flags("pass text_column=/label_column= to name yours (--text-column, "
                    "--label-column in the CLI; task='qa' for questions)", flags)  # fmt: skip
    assert said == "pass --text-column/--label-column to name yours (--task 'qa' for questions)"
    said = in_flags("raise max_length (--max-length; the default grows with it)", flags)
    assert said == "raise --max-length (the default grows with it)"
    assert in_flags("see the files (--lr, --test)", flags) == "see the files (--lr, --test)"
    train = flag_names(build_parser(), "train-tokenizer")
    assert in_flags("remove it from special_tokens", train) == "remove it from --special"
    # a Python call quoted in the message keeps its keywords (flags made a call that runs
    # nowhere: "from_tiktoken(path, --pattern 'gpt2', --special {...})")
    said = in_flags(
        "cannot record the special_tokens; reload with Tokenizer.from_tiktoken(path, "
        "pattern='gpt2', special_tokens={'<s>': 0}), or save with format='hf'",
        train,
    )
    assert said == (
        "cannot record the --special; reload with Tokenizer.from_tiktoken(path, "
        "pattern='gpt2', special_tokens={'<s>': 0}), or save with --format 'hf'"
    )


def test_fill_mask_is_quiet_about_pretrainings_own_heads(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``lexforge pretrain`` exports its NSP head and pooler beside the MLM head; fill-mask
    warned on each run that it ignored them (embed and predict already did not)."""
    from lexforge.model import BertForPreTraining

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pretrained = BertForPreTraining.from_pretrained(model_dir)
    tok = lexforge.Tokenizer.from_file(model_dir / "tokenizer.json")
    folder = pretrained.save_pretrained(tmp_path / "pretrained", tokenizer=tok)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["fill-mask", str(folder), "the [MASK] sat"]) == 0
    assert not [w for w in caught if "ignored" in str(w.message)], caught
    assert capsys.readouterr().out.count("\n") == 5


def test_similar_refuses_a_probe_that_is_not_one_word(
    model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A probe of two words, a word with its punctuation or nothing at all can never be
    among the spaces' words: it was reported "not frequent enough" after the whole corpus
    was embedded. Refused before the spaces are built, naming the words it is."""
    import lexforge.model.similarity as similarity

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(TEXTS * 10) + "\n", encoding="utf-8")
    monkeypatch.setattr(similarity, "contextual_space", _never)
    for probe, shown in (("new york", "'new', 'york'"), ("cat,", "'cat', ','"), ("", "no word")):
        assert main(["similar", str(model_dir), "cat", probe, "--files", str(corpus)]) == 1
        err = capsys.readouterr().err
        assert shown in err and "single words" in err and err.count("\n") == 1, err
    bare = tmp_path / "no-tokenizer"  # the probes are cut by the model's tokenizer: none
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((model_dir / name).read_bytes())
    assert main(["similar", str(bare), "cat", "--files", str(corpus)]) == 1
    err = capsys.readouterr().err  # the fix a shell user can apply comes first
    assert "no tokenizer: put its tokenizer.json or vocab.txt in the model's folder" in err


def test_similar_refuses_contradicting_corpus_options(
    model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--corpus beside --files was ignored without a word; --corpus naming a file said
    only "unknown dataset"; --text-column without --files was ignored."""
    import lexforge.cli.models as cli_models

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    monkeypatch.setattr(cli_models, "_load_model", _never)
    cases = [
        (["--corpus", "wiki-leads", "--files", str(corpus)], "pass one of them"),
        (["--corpus", str(corpus)], f"for a file pass --files {corpus}"),
        (["--text-column", "body"], "add --files"),
    ]
    for extra, message in cases:
        assert main(["similar", str(model_dir), "cat", *extra]) == 1
        assert message in capsys.readouterr().err, extra


def test_numbers_are_refused_by_their_flags_before_the_model_loads(
    model_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """They were named as the Python arguments (``top_k``, ``min_count``), and fill-mask's
    was checked only after the model had loaded."""
    import lexforge.cli.models as cli_models

    monkeypatch.setattr(cli_models, "_load_model", _never)
    cases = [
        (["fill-mask", str(model_dir), "a [MASK]", "--top-k", "0"], "--top-k must be at least 1"),
        (["similar", str(model_dir), "cat", "--min-count", "-1"], "--min-count must be at"),
        (["similar", str(model_dir), "cat", "-k", "0"], "-k must be at least 1"),
        (["similar", str(model_dir), "cat", "--max-words", "0"], "--max-words must be at"),
    ]
    for argv, message in cases:
        assert main(argv) == 1
        assert message in capsys.readouterr().err, argv


def test_quickstart_out_that_is_a_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was "[Errno 17] File exists: ...", naming neither --out nor the fix."""
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me\n", encoding="utf-8")
    for out, where in ((a_file, "is a file"), (a_file / "run", f"is inside {a_file}")):
        assert main(["quickstart", "--out", str(out), "--quiet"]) == 1
        err = capsys.readouterr().err
        assert f"--out {out} {where}" in err and "pass a directory" in err
    assert a_file.read_text(encoding="utf-8") == "keep me\n"


def test_a_file_where_a_quickstart_stage_goes_is_refused_before_any_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file named as a stage's folder inside --out was "[Errno 17] File exists" after the
    stages before it had run (the word stage: minutes)."""
    from lexforge import quickstart

    monkeypatch.setattr(quickstart._Stages, "run", _never)
    out = tmp_path / "run"
    out.mkdir()
    (out / "quickstart.json").write_text("{}")  # an earlier run's folder
    (out / "words").write_text("notes\n", encoding="utf-8")
    assert main(["quickstart", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"--out {out} holds a file words, where the quickstart writes its words" in err
    assert (out / "words").read_text(encoding="utf-8") == "notes\n"


def test_an_empty_output_path_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--out "$DIR"`` with DIR unset: the quickstart ran into the working directory."""
    from lexforge.quickstart import run

    monkeypatch.chdir(tmp_path)
    for argv in (["quickstart", "--out", ""], ["pretrain", "corpus.txt", ""],
                 ["finetune", "m", "rt-polarity", "--out", ""], ["embed", "m", "-o", ""],
                 ["train-tokenizer", "c.txt", "--vocab-size", "9", "-o", ""],
                 ["predict", "m", "a.txt", "-o", ""]):  # fmt: skip
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        assert "is empty (an unset shell variable?)" in capsys.readouterr().err, argv
    with pytest.raises(ConfigError, match="--out is empty"):
        run(out="")
    assert list(tmp_path.iterdir()) == []  # nothing written here


def test_quickstart_reruns_a_stage_whose_record_is_unreadable(tmp_path: Path) -> None:
    """A done.json cut short (a copy of the folder interrupted) was a JSON traceback on
    every rerun; the stage now runs again and records its result."""
    from lexforge.quickstart import _Stages

    calls = []

    def stage(folder: Path) -> dict[str, int]:
        calls.append(folder)
        return {"steps": 3}

    marker = tmp_path / "pretrain" / "done.json"
    marker.parent.mkdir()
    for broken in (b'{"steps": 3, "tok', b"\xff\xfe", b"[]"):
        marker.write_bytes(broken)
        assert _Stages(tmp_path).run("pretrain", stage)["steps"] == 3
        assert json.loads(marker.read_text(encoding="utf-8"))["steps"] == 3
    assert len(calls) == 3
    assert _Stages(tmp_path).run("pretrain", stage)["steps"] == 3 and len(calls) == 3


def test_a_failed_write_is_one_line_with_the_fix_for_its_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write refused for want of permission said "[Errno 13] ... free space there"; the
    CLI prints the message alone, and only a full disk is told to free space."""
    import errno

    import lexforge.cli.models as cli_models
    from lexforge.formats import write_failed

    corpus = tmp_path / "c.txt"
    corpus.write_text("a cat\n", encoding="utf-8")
    for code, fix in ((errno.EACCES, "write where you may"), (errno.ENOSPC, "free space there"),
                      (errno.EIO, "write elsewhere")):  # fmt: skip
        failed = write_failed(tmp_path / "v.npy", OSError(code, "no"))
        assert failed.errno == code and ("free space" in str(failed)) == (code == errno.ENOSPC)

        def refuse(*args: object, failed: OSError = failed, **kwargs: object) -> None:
            raise failed

        monkeypatch.setattr(cli_models, "_load_model", refuse)
        assert main(["embed", "model", str(corpus), "-o", str(tmp_path / "v.npy")]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"lexforge: error: could not write {tmp_path / 'v.npy'}: ")
        assert fix in err and "[Errno" not in err and err.count("\n") == 1, err


def test_embed_keeps_a_row_per_record_and_names_a_long_text_by_its_line(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A one-column csv's quoted empty record ("") was dropped as a blank line, so the
    vectors no longer lined up with the records (pandas reads it as a row, and skips a
    line of spaces as we do), and so was a quoted blank one ("   "); a text too long for
    the model was "texts[5]", counted over every input: it is named by its file and
    line."""
    import pandas as pd

    from lexforge.model import BertModel

    for name, content in (("one.csv", 'text\na\n""\nb\n   \n\nc\n"   "\n\t\n" \n "\nd\n'),
                          ("two.csv", 'text,id\na,1\n"",2\nb,3\n')):  # fmt: skip
        (tmp_path / name).write_text(content, encoding="utf-8")
        want = pd.read_csv(tmp_path / name)["text"].fillna("").tolist()
        argv = ["embed", str(model_dir), str(tmp_path / name), "-o", str(tmp_path / "v.npy")]
        assert main(argv) == 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = BertModel.from_pretrained(model_dir)
        np.testing.assert_allclose(np.load(tmp_path / "v.npy"), model.embed(want), atol=1e-6)
    (tmp_path / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("three\n" + "word " * 60 + "\n", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text('{"text": "x"}\n' + json.dumps({"text": "w " * 60}) + "\n")
    capsys.readouterr()
    for given, where in (("b.txt", "b.txt:2"), ("c.jsonl", "c.jsonl, record 2")):
        argv = ["embed", str(model_dir), str(tmp_path / "a.txt"), str(tmp_path / given), "-o",
                str(tmp_path / "w.npy")]  # fmt: skip
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert f"lexforge: error: {tmp_path / where}: the text has 6" in err, err
        assert "more than the model's 32 positions" in err and not (tmp_path / "w.npy").exists()


def test_a_file_where_a_folder_would_be_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Saving under a path whose folder is a file gave a bare "[Errno 20] Not a directory"
    from mkdir; the error names the file in the way, in the API and in the CLI."""
    import errno

    blocking = tmp_path / "notes"
    blocking.write_text("mine\n", encoding="utf-8")
    tok = lexforge.Tokenizer.train_wordpiece(texts=["a cat sat"] * 5, vocab_size=60)
    for save in (lambda: tok.save(blocking / "sub" / "tok.json"),
                 lambda: tok.save(blocking / "sub" / "", format="vocab"),
                 lambda: lexforge.write_corpus(["a cat"], blocking / "c.txt")):  # fmt: skip
        with pytest.raises(OSError, match=f"{blocking} is a file, where a folder would be") as e:
            save()
        assert e.value.errno in (errno.ENOTDIR, errno.EEXIST)  # (mkdir -p on a file: EEXIST)
    assert blocking.read_text(encoding="utf-8") == "mine\n"
    corpus = tmp_path / "c.txt"
    corpus.write_text("a cat sat\n" * 5, encoding="utf-8")
    argv = ["train-tokenizer", str(corpus), "--vocab-size", "60", "-o", str(blocking / "t.json")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"{blocking} is a file" in err and "[Errno" not in err, err  # (checked up front)


def test_model_commands_name_the_real_problem(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an audit of the CLI: a QA model given a text file was told about a
    --text-column it was never given; a pretraining run's folder was "not an HF-format
    checkpoint" without naming the model inside it; fill-mask on a task's checkpoint warned
    of fresh MLM weights just before refusing it; an unreadable tokenizer.json in a model
    folder gave "put its tokenizer.json or vocab.txt in the model's folder"; --runs too
    large was blamed on --seed."""
    import shutil

    from lexforge.model import BertForQuestionAnswering, BertForSequenceClassification

    tok = lexforge.Tokenizer.from_file(model_dir / "tokenizer.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qa = BertForQuestionAnswering.from_pretrained(model_dir)
        clf = BertForSequenceClassification.from_pretrained(model_dir, labels=["a", "b"])
    qa.save_pretrained(tmp_path / "qa", tokenizer=tok)
    clf.save_pretrained(tmp_path / "run" / "best", tokenizer=tok)
    lines = tmp_path / "in.txt"
    lines.write_text("the cat sat\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "qa"), str(lines)]) == 1
    err = capsys.readouterr().err
    assert "a QA model reads records files" in err and "in.txt is not one" in err, err
    assert "--text-column" not in err
    assert main(["embed", str(tmp_path / "run"), str(lines), "-o", str(tmp_path / "v.npy")]) == 1
    assert f"the run's model is {tmp_path / 'run' / 'best'}" in capsys.readouterr().err
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["fill-mask", str(tmp_path / "run" / "best"), "the [MASK] sat"]) == 1
    assert not [w for w in caught if "no weights for mlm" in str(w.message)], caught
    assert "has no MLM head weights" in capsys.readouterr().err
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["embed", str(broken), str(lines), "-o", str(tmp_path / "v.npy")]) == 1
    err = capsys.readouterr().err
    assert f"no tokenizer: {broken / 'tokenizer.json'} could not be read (" in err, err
    data = tmp_path / "train.csv"
    data.write_text("text,label\na,x\nb,y\n", encoding="utf-8")
    assert main(["finetune", str(model_dir), str(data), "--out", str(tmp_path / "ft"),
                 "--runs", str(10**30)]) == 1  # fmt: skip
    assert "runs must be at most 1,000" in capsys.readouterr().err


def test_a_missing_pair_column_is_named_by_its_own_flag(tmp_path: Path) -> None:
    """A --pair-column (or a QA file's context column) missing from a records file was
    blamed on --text-column."""
    from lexforge.cli.inputs import _lines
    from lexforge.errors import CorpusError

    path = tmp_path / "pairs.jsonl"
    path.write_text('{"body": "a", "other": "b"}\n')
    assert _lines([str(path)], "other", flag="--pair-column") == ["b"]
    with pytest.raises(
        CorpusError, match=r"no column 'nope' .*; name the column with --pair-column$"
    ):
        _lines([str(path)], "nope", flag="--pair-column")
    with pytest.raises(CorpusError, match=r"no column 'nope' .*\(--text-column\)$"):
        _lines([str(path)], "nope")


def test_ctrl_c_in_finetune_says_what_was_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in lexforge finetune printed a bare "interrupted": nothing said that no model
    was written or what to do."""
    pytest.importorskip("torch")
    import lexforge.train

    def stopped(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(lexforge.train, "finetune", stopped)
    out = tmp_path / "ft"
    assert main(["finetune", "model", "rt-polarity", "--out", str(out), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert f"no model was written to {out / 'best'}" in err and "starts it over" in err


def test_warnings_name_the_commands_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Errors said the API's keywords as flags, warnings did not ("null_threshold=1.0 is
    not used ... pass unanswerable=True")."""
    pytest.importorskip("torch")
    import lexforge.train

    def warns(*args: Any, **kwargs: Any) -> Any:
        warnings.warn("null_threshold=1.0 is not used (pass unanswerable=True)", stacklevel=1)
        raise KeyboardInterrupt("stopped")

    def shown(message: Any, category: Any, filename: str, lineno: int, *rest: Any) -> None:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno))

    monkeypatch.setattr(lexforge.train, "finetune", warns)
    monkeypatch.setattr(warnings, "showwarning", shown)  # (as outside pytest's recording)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        main(["finetune", "model", "rt-polarity", "--out", str(tmp_path / "ft"), "--quiet"])
    err = capsys.readouterr().err
    assert "warning: --null-threshold 1.0 is not used (pass --unanswerable)" in err


def test_files_after_an_option_are_read(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse fills a list of files in one go, before the options: `lexforge embed MODEL
    --pooling cls a.txt` failed with "unrecognized arguments: a.txt", blaming the file for
    the order. Files before, between and after options are read, in their order; an
    unknown option is named alone (with what follows it, which may be its value)."""
    for name, text in (("a.txt", "one two\nthree\n"), ("b.txt", "four five six\n")):
        (tmp_path / name).write_text(text, encoding="utf-8")
    a, b, out = str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), tmp_path / "v.npy"
    assert main(["embed", model_dir.as_posix(), a, b, "--pooling", "cls", "-o", str(out)]) == 0
    want = np.load(out)
    assert want.shape[0] == 3
    for argv in (
        ["embed", model_dir.as_posix(), "--pooling", "cls", a, b, "-o", str(out)],
        ["embed", model_dir.as_posix(), a, "--pooling", "cls", b, "-o", str(out)],
        ["embed", model_dir.as_posix(), "--pooling", "cls", "-o", str(out), a, b],
    ):
        out.unlink()
        assert main(argv) == 0, argv
        np.testing.assert_array_equal(np.load(out), want)
    capsys.readouterr()
    tokenizer = str(model_dir / "tokenizer.json")
    assert main(["tokenize", a, "--tokenizer", tokenizer, b]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    for tail, named in ((["--bogus"], "--bogus"), (["--bogus", b], f"--bogus {b}")):
        with pytest.raises(SystemExit) as exit_:
            main(["embed", model_dir.as_posix(), "--pooling", "cls", a, *tail])
        assert exit_.value.code == 2
        assert capsys.readouterr().err.endswith(f"error: unrecognized arguments: {named}\n")
