"""Shared helpers of the benchmark scripts: the benchmark corpus, peak-memory probes and
table printing. Not a test module."""

from __future__ import annotations

import hashlib
import itertools
import os
import platform
import resource
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
GPT2_REGEX = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def corpus(name: str, megabytes: float | None) -> Path:
    """A UTF-8 text file of the named dataset (or a path), cut to ``megabytes`` at a line
    boundary when given. Cached under benches/out/."""
    source = Path(name)
    if name == "synthetic-cjk":
        return synthetic_cjk(megabytes or 20.0)
    if not source.exists():
        from lexforge import datasets

        source = datasets.corpus_text(name)
    if megabytes is None:
        return source
    OUT.mkdir(exist_ok=True)
    if Path(name).exists():  # a file of one's own: its cut is named by where it lives too
        stat = source.resolve().stat()
        tag = hashlib.sha1(f"{source.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        stem = f"{source.stem}-{tag.hexdigest()[:8]}"
    else:
        stem = name
    target = OUT / f"{stem}-{megabytes:g}MB.txt"
    if not target.exists():
        limit = int(megabytes * 1e6)
        data = source.read_bytes()
        while len(data) < limit:  # repeat a small corpus up to the size asked for
            data = data + data
        cut = data.rfind(b"\n", 0, limit) + 1 or limit
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data[:cut])
        tmp.replace(target)
    return target


def synthetic_cjk(megabytes: float) -> Path:
    """Chinese-like text without repetition (``--corpus synthetic-cjk``): lines of one to
    four clauses of 3-30 ideographs drawn from 3,000 with Zipf frequencies, joined by "，"
    and ended by "。". Byte-level BPE's hard case: every clause is one pre-token (the
    ideographs are letters), nearly all distinct, each character three bytes. Seeded, so
    every run and machine gets the same file; cached under benches/out/."""
    import random

    target = OUT / f"synthetic-cjk-{megabytes:g}MB.txt"
    if target.exists():
        return target
    OUT.mkdir(exist_ok=True)
    rng = random.Random(1)
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    weights = list(itertools.accumulate(1 / (i + 1) for i in range(len(chars))))
    tmp, size, limit = target.with_suffix(".tmp"), 0, int(megabytes * 1e6)
    with tmp.open("w", encoding="utf-8") as f:
        while size < limit:
            clauses = (
                "".join(rng.choices(chars, cum_weights=weights, k=rng.randint(3, 30)))
                for _ in range(rng.randint(1, 4))
            )
            line = "，".join(clauses) + "。\n"
            f.write(line)
            size += len(line.encode())
    tmp.replace(target)
    return target


def reset_peak_rss() -> None:
    """Makes VmHWM restart from the current RSS (Linux), so the next reading is the peak of
    the work that follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mib() -> float:
    """Peak resident memory of this process in MiB (VmHWM, else ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    """One line describing this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}"
