"""A dependency-free progress bar on stderr, driven by ``(done, total)`` callbacks.

Shown when ``enabled`` is true, or, with ``enabled=None``, when stderr is a terminal.
Redraws at most ten times a second; the last draw ends the line.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType


def _human(n: float, unit: str) -> str:
    if unit == "B":
        for scale, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if n >= scale:
                return f"{n / scale:.1f} {suffix}"
        return f"{n:.0f} B"
    return f"{n:,.0f}{(' ' + unit) if unit else ''}"


class Progress:
    """``with Progress("counting", unit="B") as bar: work(progress=bar)``."""

    def __init__(self, desc: str, *, unit: str = "", enabled: bool | None = None) -> None:
        self.desc = desc
        self.unit = unit
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last: tuple[int, int] = (0, 0)
        self._drawn: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        self._last = (done, total)
        now = time.perf_counter()
        if self.enabled and (now - self._last_draw >= 0.1 or done >= total):
            self._draw(done, total, now)

    def _draw(self, done: int, total: int, now: float) -> None:
        self._last_draw = now
        self._drawn = (done, total)
        frac = min(done / total, 1.0) if total else 1.0
        width = 24
        filled = int(frac * width)
        bar = "#" * filled + "." * (width - filled)
        elapsed = now - self.start
        rate = f"{_human(done / elapsed, self.unit)}/s" if elapsed > 0 else ""
        sys.stderr.write(
            f"\r{self.desc} [{bar}] {frac:6.1%} "
            f"{_human(done, self.unit)}/{_human(total, self.unit)} {rate} {elapsed:5.1f}s "
        )
        sys.stderr.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.enabled:
            if exc_type is None and self._drawn != self._last:
                self._draw(*self._last, time.perf_counter())
            sys.stderr.write("\n")
            sys.stderr.flush()
