"""A dependency-free progress bar on stderr, driven by ``(done, total)`` callbacks.

Shown when ``enabled`` is true, or, with ``enabled=None``, when stderr is a terminal; never
where the process has no stderr (``sys.stderr`` is None).
Redraws at most ten times a second; the last draw ends the line, and shows where the work
stopped: a run interrupted before its first callback shows its starting point (``done``,
``total``), not a full bar, and a total of zero is never 100%.

Inside ``log_lines()`` (the quickstart, whose progress must show in a log file too), a
bar left to ``enabled=None`` on a stderr that is not a terminal writes a plain line
instead, at most every ``LINE_SECONDS``, and one where the work ends.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar
from types import TracebackType

LINE_SECONDS = 30.0
_LOG_LINES: ContextVar[bool] = ContextVar("lexforge_progress_lines", default=False)


@contextlib.contextmanager
def log_lines() -> Iterator[None]:
    """Bars left to ``enabled=None`` write progress lines where stderr is no terminal."""
    token = _LOG_LINES.set(True)
    try:
        yield
    finally:
        _LOG_LINES.reset(token)


def _human(n: float, unit: str) -> str:
    if unit == "B":
        for scale, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if n >= scale:
                return f"{n / scale:.1f} {suffix}"
        return f"{n:.0f} B"
    return f"{n:,.0f}{(' ' + unit) if unit else ''}"


class Progress:
    """``with Progress("counting", unit="B") as bar: work(progress=bar)``."""

    def __init__(
        self,
        desc: str,
        *,
        unit: str = "",
        enabled: bool | None = None,
        done: int = 0,
        total: int | None = None,
    ) -> None:
        self.desc = desc
        self.unit = unit
        # no stderr at all (pythonw, a service, `2>&-`: Python's sys.stderr is None): no bar
        stream = sys.stderr
        terminal = stream is not None and stream.isatty()
        self.enabled = stream is not None and (terminal if enabled is None else enabled)
        # a log's lines in place of a bar (see log_lines)
        self.lines = stream is not None and enabled is None and not terminal and _LOG_LINES.get()
        self.enabled |= self.lines
        self.start = time.perf_counter()
        self._last_draw = -math.inf  # (the first callback draws)
        # where the work stands before the first callback (None: not known, nothing to draw)
        self._last: tuple[int, int] | None = None if total is None else (done, total)
        self._drawn: tuple[int, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        self._last = (done, total)
        now = time.perf_counter()
        every = LINE_SECONDS if self.lines else 0.1
        if self.enabled and (now - self._last_draw >= every or (done >= total and not self.lines)):
            self._draw(done, total, now)

    def _draw(self, done: int, total: int, now: float) -> None:
        self._last_draw = now
        self._drawn = (done, total)
        frac = min(done / total, 1.0) if total > 0 else 0.0  # (nothing to do is not 100%)
        width = 24
        filled = int(frac * width)
        bar = "#" * filled + "." * (width - filled)
        elapsed = now - self.start
        rate = f"{_human(done / elapsed, self.unit)}/s" if elapsed > 0 else ""
        if self.lines:  # one line each time, no bar to redraw
            sys.stderr.write(
                f"{self.desc}: {frac:.1%}, {_human(done, self.unit)}/{_human(total, self.unit)}"
                f" {rate} {elapsed:.0f}s\n"
            )
        else:
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
            if self._last is not None and self._drawn != self._last:  # where it stopped
                self._draw(*self._last, time.perf_counter())
            if self._drawn is not None and not self.lines:
                if exc_type is not None:
                    sys.stderr.write("(stopped)")
                sys.stderr.write("\n")
                sys.stderr.flush()
