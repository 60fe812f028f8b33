"""What the commands write and draw, when things go wrong: an output folder that cannot
take the file (refused before the model loads), a temporary file per write, a clean-up
that fails itself (the real error still shown), and a progress bar stopped early (never
"100%" for work not done)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lexforge.cli import main


def _never(*args: object, **kwargs: object) -> None:
    raise AssertionError("reached: the output should have been refused before this")


def test_embed_checks_its_output_can_be_written_before_the_model_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only folder was found at the write, after the model ran, as a raw errno
    naming a temporary file; a folder that is a file was said "not to exist; create it"."""
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    import lexforge.cli.models as cli_models

    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat\n", encoding="utf-8")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root writes whatever the mode: the folder is made to say no
        access = os.access
        monkeypatch.setattr(
            "lexforge.cli.tokenizers.os.access",
            lambda p, mode: False if Path(p) == locked else access(p, mode),
        )
    monkeypatch.setattr(cli_models, "_load_model", _never)
    refused = [
        (a_file / "v.npy", [], f"{a_file} is a file, not a directory"),
        (locked / "v.npy", [], f"{locked} is not writable; pick another place"),
        (locked / "v.parquet", [], f"{locked} is not writable; pick another place"),
        (locked / "v.npy", ["--words"], f"{locked} is not writable; pick another place"),
    ]
    try:
        for output, options, message in refused:
            argv = ["embed", "model", str(corpus), *options, "-o", str(output)]
            assert main(argv) == 1
            err = capsys.readouterr().err
            assert message in err and err.count("\n") == 1
    finally:
        locked.chmod(0o755)


def _cli_atomic(path: Path, write: Callable[[Any], object]) -> None:
    from lexforge.cli.models import _atomic

    _atomic(path, write)


def _shards_atomic(path: Path, write: Callable[[Any], object]) -> None:
    from lexforge.shards import _write_atomic

    _write_atomic(path, write)


def _formats_atomic(path: Path, write: Callable[[Any], object]) -> None:
    """``formats.atomic_write`` takes bytes: ``write`` runs at its sync instead."""
    import lexforge.formats

    real = os.fsync

    def sync(fd: int) -> None:
        write(None)
        real(fd)

    mp = pytest.MonkeyPatch()
    mp.setattr("lexforge.formats.os.fsync", sync)
    try:
        lexforge.formats.atomic_write(path, b"data")
    finally:
        mp.undo()


WRITERS = {"cli": _cli_atomic, "shards": _shards_atomic, "formats": _formats_atomic}


def test_each_embed_write_has_its_own_temporary_file(tmp_path: Path) -> None:
    """Two runs at once wrote through the same ".out.npy.tmp": the second truncated the
    first's file, published it, and the first failed at its rename."""
    out = tmp_path / "out.npy"
    seen: list[set[str]] = []

    def temporaries() -> set[str]:
        return {p.name for p in tmp_path.iterdir()} - {"out.npy"}

    def second(f: Any) -> None:
        seen.append(temporaries())
        f.write(b"second")

    def first(f: Any) -> None:
        f.write(b"first, ")
        _cli_atomic(out, second)  # another run, meanwhile
        f.write(b"whole")

    _cli_atomic(out, first)
    assert len(seen[0]) == 2 and all(n.startswith(".out.npy.") for n in seen[0])
    assert out.read_bytes() == b"first, whole" and temporaries() == set()


def test_outputs_are_written_through_links_and_into_pipes(tmp_path: Path) -> None:
    """-o at a link was replaced by a file of its own (the link's file left as it was), and
    a FIFO, or /dev/stdout, likewise: its reader got nothing."""
    import os
    import threading

    real = tmp_path / "real.jsonl"
    real.write_bytes(b"old")
    link = tmp_path / "link.jsonl"
    link.symlink_to("real.jsonl")
    _cli_atomic(link, lambda f: f.write(b"new"))
    assert link.is_symlink() and real.read_bytes() == b"new"
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    _cli_atomic(fifo, lambda f: f.write(b"piped"))
    reader.join(timeout=30)
    assert got == [b"piped"] and fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.jsonl", "out.fifo", "real.jsonl"]


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_failing_clean_up_does_not_hide_the_write_error(
    writer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a read-only file system the temporary file's removal fails too (EROFS): that
    error replaced the one that names the file and the fix; an interrupt stays one."""

    def unwritable(self: Path, missing_ok: bool = False) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    def full(f: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def interrupted(f: object) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "out.bin"
    monkeypatch.setattr(Path, "unlink", unwritable)
    with pytest.raises(OSError, match=f"could not write {out}: the disk is full") as caught:
        WRITERS[writer](out, full)
    assert caught.value.errno == errno.ENOSPC
    with pytest.raises(KeyboardInterrupt):
        WRITERS[writer](out, interrupted)
    assert not out.exists()


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_folder_that_refuses_the_temporary_file_is_named_as_the_file(
    writer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary file is the first thing made: a folder that refuses it gave a raw
    errno naming ".out.bin.x1y2.tmp", a file the user never asked for."""
    import tempfile

    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".out.bin.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    out = tmp_path / "out.bin"
    with pytest.raises(OSError) as caught:
        WRITERS[writer](out, lambda f: f.write(b"x"))
    assert f"could not write {out}: Permission denied" in str(caught.value)
    assert ".tmp" not in str(caught.value)


def test_a_bar_stopped_early_shows_where_it_stopped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt before the first callback drew "100.0% 0/0"; a total of zero was 100%;
    an interrupt kept the last (throttled) draw, not where the work was."""
    from lexforge._progress import Progress

    monkeypatch.setattr("lexforge._progress.time.perf_counter", lambda: 1000.0)  # one instant
    with pytest.raises(KeyboardInterrupt), Progress("work", enabled=True, done=3, total=10):
        raise KeyboardInterrupt
    err = capsys.readouterr().err
    assert " 30.0% 3/10 " in err and err.endswith("(stopped)\n")
    with Progress("work", enabled=True) as bar:
        bar(0, 0)
    err = capsys.readouterr().err
    assert "100.0%" not in err and "0.0% 0/0" in err
    with pytest.raises(KeyboardInterrupt), Progress("work", enabled=True) as bar:
        bar(3, 10)
        bar(5, 10)  # (the same instant: not drawn then)
        raise KeyboardInterrupt
    assert " 50.0% 5/10 " in capsys.readouterr().err.rsplit("\r", 1)[-1]
    with Progress("work", enabled=True):  # nothing known, nothing drawn: no blank line
        pass
    assert capsys.readouterr().err == ""


def test_inside_log_lines_a_bar_on_a_log_writes_a_line_every_interval(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quickstart run into a log file (nohup, CI) drew nothing at all: a bar is for
    a terminal. Inside ``log_lines`` a bar left to the terminal's say writes a line at
    its start, every ``LINE_SECONDS`` and where it ends; bars told on or off, and bars
    outside it, are as before."""
    from lexforge import _progress
    from lexforge._progress import Progress, log_lines

    clock = iter(float(t) for t in range(0, 1000, 10))  # ten seconds a reading
    monkeypatch.setattr("lexforge._progress.time.perf_counter", lambda: next(clock))
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    with log_lines(), Progress("pretraining", unit="steps") as bar:
        for step in range(1, 10):
            bar(step, 9)
    lines = capsys.readouterr().err.splitlines()
    assert "\r" not in "".join(lines) and len(lines) == 4  # the first, two, and the end
    assert lines[0].startswith("pretraining: 11.1%, 1 steps/9 steps")
    assert lines[-1].startswith("pretraining: 100.0%, 9 steps/9 steps")
    assert _progress._LOG_LINES.get() is False  # (left as it was)
    with Progress("quiet") as bar:  # outside: nothing on a log
        bar(1, 2)
    with log_lines(), Progress("off", enabled=False) as bar:
        bar(1, 2)
    assert capsys.readouterr().err == ""


def test_pretraining_interrupted_before_its_first_step_is_not_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C before the first step drew "100.0% 0 steps/0 steps" on the way out."""
    pytest.importorskip("torch")
    from lexforge.train.pretrain_log import _Log

    for start, shown in ((0, "  0.0% 0 steps/1,000 steps"), (400, " 40.0% 400 steps/1,000 steps")):
        log = _Log(tmp_path / str(start), enabled=True, progress=True, total=1000, start=start)
        with pytest.raises(KeyboardInterrupt):
            try:
                raise KeyboardInterrupt
            finally:
                log.close()  # as the loop's `finally` does
        err = capsys.readouterr().err
        assert shown in err and "100.0%" not in err and err.endswith("(stopped)\n")


def test_tokenize_on_a_full_disk_unbuffered_fails_instead_of_cutting_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unbuffered (python -u, PYTHONUNBUFFERED), standard output is a raw file whose write
    takes part of the bytes when the disk fills: the rest was dropped, and `lexforge
    tokenize > file` ended with status 0 and a cut file."""
    import io

    import lexforge as lf

    class FullDisk(io.RawIOBase):
        def __init__(self) -> None:
            self.kept = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            room = 300 - len(self.kept)
            if room <= 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.kept += bytes(data)[:room]
            return min(room, len(data))

    disk = FullDisk()
    monkeypatch.setattr("sys.stdout", io.TextIOWrapper(disk, write_through=True))  # type: ignore[arg-type]
    tok = lf.Tokenizer.train_wordpiece(texts=["some words here and there"] * 50, vocab_size=120)
    tok.save(tmp_path / "tok.json")
    corpus = tmp_path / "c.txt"
    corpus.write_text("some words here and there\n" * 200, encoding="utf-8")
    assert main(["tokenize", "--tokenizer", str(tmp_path / "tok.json"), str(corpus)]) == 1
    assert "could not write standard output: the disk is full" in capsys.readouterr().err
    assert len(disk.kept) == 300


def test_files_that_belong_together_are_written_all_or_none(tmp_path: Path) -> None:
    """`lexforge embed --words` writes a .npz and its .words.json: the second failing (a
    full disk) left the new .npz beside the old .words.json, misaligned."""
    from lexforge.cli.models import _atomic

    vectors, words = tmp_path / "e.npz", tmp_path / "e.words.json"
    vectors.write_bytes(b"old vectors")
    words.write_bytes(b"old words")

    def full(f: Any) -> None:
        f.write(b"new wo")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=f"could not write {words}: the disk is full"):
        _atomic(vectors, lambda f: f.write(b"new vectors"), (words, full))
    assert vectors.read_bytes() == b"old vectors" and words.read_bytes() == b"old words"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.npz", "e.words.json"]
    words.unlink()
    words.mkdir()  # a folder where a file goes: refused before any rename
    with pytest.raises(OSError, match="Is a directory"):
        _atomic(vectors, lambda f: f.write(b"new vectors"), (words, lambda f: f.write(b"x")))
    assert vectors.read_bytes() == b"old vectors"
    _atomic(vectors, lambda f: f.write(b"new vectors"), (tmp_path / "w", lambda f: f.write(b"w")))
    assert vectors.read_bytes() == b"new vectors" and (tmp_path / "w").read_bytes() == b"w"
