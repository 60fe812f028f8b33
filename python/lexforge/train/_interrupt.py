"""Ctrl-C in a long training loop: the step under way finishes and the loop saves what a
resume needs before it stops, instead of losing every step since its last checkpoint.

The first SIGINT only sets a flag (and says so on stderr); the loop reads it at a step's
end. A second SIGINT raises ``KeyboardInterrupt`` at once, as Python's own handler does.
The handler is installed only in the main thread and only over Python's default one: a
caller that handles SIGINT itself (a notebook kernel, a service) keeps its own handler.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any


class Stopped(KeyboardInterrupt):
    """A training loop stopped by Ctrl-C after ``step``: pretraining with its checkpoint
    saved (``saved``) or not; fine-tuning with its files written (``saved``: it had an
    out_dir) and the run's ``FinetuneResult`` as ``result``."""

    def __init__(self, message: str, step: int, saved: bool) -> None:
        super().__init__(message)
        self.step = step
        self.saved = saved


class StopRequest:
    """While entered, records a first Ctrl-C in :attr:`asked` instead of raising."""

    def __init__(self, what: str, again: str = "stops at once") -> None:
        self.asked = False
        self._what = what  # what the loop does before it stops, for the message
        self._again = again  # what a second Ctrl-C does (and leaves)
        self._installed = False

    def __enter__(self) -> StopRequest:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> Any:
        self.asked = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the next one stops at once
        sys.stderr.write(
            f"\nlexforge: Ctrl-C: {self._what} before stopping (Ctrl-C again {self._again})\n"
        )
        sys.stderr.flush()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._installed = False
