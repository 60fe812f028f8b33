"""Threads, fork and Ctrl-C around the core's calls, which release the GIL: a child forked
while another thread used the thread pools, a collector paused for every thread, counts
shared by threads, and a Ctrl-C at a process's first array (found by a helper's audit)."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import lexforge as lf
from lexforge import datasets


@pytest.fixture(scope="module")
def bert() -> Any:
    return lf.Tokenizer.from_file(datasets.files("bert-base-uncased")["tokenizer.json"])


@pytest.fixture(scope="module")
def lines(wiki_text: str) -> list[str]:
    return [line for line in wiki_text.splitlines() if line.strip()]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_child_forked_while_a_thread_uses_the_pools_works(bert: Any, lines: list[str]) -> None:
    """The pools' lock was held while a pool was built or dropped; a child forked then
    inherited it locked and its first parallel call waited for ever (5 of 60 forks)."""
    texts = lines[:200]
    want = bert.encode_batch(texts, num_threads=2)
    stop = threading.Event()

    def busy() -> None:  # sizes that vary: pools built and dropped all the time
        n = 0
        while not stop.is_set():
            bert.encode_batch(texts[:20], num_threads=2 + n % 5)
            n += 1

    thread = threading.Thread(target=busy, daemon=True)
    thread.start()
    outcomes = []
    try:
        for _ in range(40):
            pid = os.fork()
            if pid == 0:  # pragma: no cover (the child)
                signal.alarm(20)  # a child that hangs dies of SIGALRM
                os._exit(0 if bert.encode_batch(texts, num_threads=2) == want else 3)
            outcomes.append(os.waitpid(pid, 0)[1])
    finally:
        stop.set()
        thread.join()
    assert all(os.WIFEXITED(s) and os.WEXITSTATUS(s) == 0 for s in outcomes), outcomes


def test_encoding_in_a_thread_leaves_the_collector_to_the_others(
    bert: Any, lines: list[str]
) -> None:
    """encode_batch paused the cyclic collector for the whole process while the core
    encoded with the GIL released: other threads ran without it (81% of the time under a
    prefetching thread), and a gc.disable() they made meanwhile was undone."""
    assert gc.isenabled()
    stop = threading.Event()

    def encode() -> None:
        while not stop.is_set():
            bert.encode_batch(lines[:3000])

    thread = threading.Thread(target=encode)
    thread.start()
    try:
        seen, end = [], time.monotonic() + 1.5
        while time.monotonic() < end:
            seen.append(gc.isenabled())
    finally:
        stop.set()
        thread.join()
    assert all(seen), f"collector off in {seen.count(False)} of {len(seen)} checks"


def test_threads_count_into_one_word_counts(lines: list[str]) -> None:
    """Two threads counting into one WordCounts met PyO3's borrow check ('Already
    borrowed', a raw RuntimeError) and lost their batches; a count into itself raised."""
    texts = lines[:4000]
    alone = lf.WordCounts()
    alone.add_texts(texts)
    shared = lf.WordCounts()
    errors: list[BaseException] = []

    def count() -> None:
        try:
            for at in range(0, len(texts), 500):
                shared.add_texts(texts[at : at + 500])
                assert len(shared) > 0 and shared.total > 0
        except BaseException as e:  # (reported below)
            errors.append(e)

    threads = [threading.Thread(target=count) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert shared.total == 3 * alone.total and len(shared) == len(alone)
    shared.merge(shared)
    assert shared.total == 6 * alone.total


def test_ctrl_c_at_a_processs_first_array_is_a_keyboard_interrupt(tmp_path: Path) -> None:
    """NumPy's C API is looked up at the first array a process makes, by running Python
    code: a Ctrl-C pending from the encoding before it was raised there, inside
    rust-numpy, as a PanicException (a BaseException no handler expected)."""
    script = tmp_path / "first_array.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, threading
        import lexforge as lf
        import numpy  # (as a program using arrays has: its import is not what is timed)
        tok = lf.Tokenizer.from_file({str(datasets.files("bert-base-uncased")["tokenizer.json"])!r})
        texts = ["a few words of text, and then some more of them"] * 400_000
        timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:  # (the signal lands in the encoding or, on a fast machine, in the join)
            tok.encode_batch(texts, max_length=32, truncation=True, padding="max_length",
                             return_tensors="np", num_threads=2)
            timer.join()
        except KeyboardInterrupt:
            pass
        print(tok.encode_batch(texts[:3], return_tensors="np", padding=True).input_ids.shape)
    """))  # fmt: skip
    env = {**os.environ, "RUST_BACKTRACE": "0"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "PanicException" not in done.stderr and "(3," in done.stdout, done.stdout
