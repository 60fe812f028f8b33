"""Ctrl-C (or SIGTERM, as batch schedulers, Kubernetes and torchrun stop a job) in a long
training loop: the step under way finishes and the loop saves what a resume needs before
it stops, instead of losing every step since its last checkpoint.

The first signal only sets a flag (and says so on stderr); the loop reads it at a step's
end. A second one acts at once, as Python's own handlers do: SIGINT raises
``KeyboardInterrupt``, SIGTERM ends the process. The handlers are installed only in the
main thread and only over Python's defaults: a caller that handles a signal itself (a
notebook kernel, a service) keeps its own handler.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any

# the signals a loop stops at cleanly, each over the handler Python starts with
_STOPPING: dict[int, Any] = {
    signal.SIGINT: signal.default_int_handler,
    signal.SIGTERM: signal.SIG_DFL,
}


def signal_name(signum: int) -> str:
    """How messages name a stopping signal: Ctrl-C for SIGINT."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class Stopped(KeyboardInterrupt):
    """A training loop stopped by Ctrl-C after ``step``: pretraining with its checkpoint
    saved (``saved``) or not; fine-tuning with its files written (``saved``: it had an
    out_dir) and the run's ``FinetuneResult`` as ``result``."""

    def __init__(self, message: str, step: int, saved: bool, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.step = step
        self.saved = saved
        self.signum = signum  # the signal that stopped it (the command exits 128 + it)


class StopRequest:
    """While entered, records a first Ctrl-C (or SIGTERM) in :attr:`asked`, and which in
    :attr:`signum`, instead of stopping."""

    def __init__(self, what: str, again: str = "stops at once") -> None:
        self.asked = False
        self.signum = int(signal.SIGINT)
        self._what = what  # what the loop does before it stops, for the message
        self._again = again  # what a second signal does (and leaves)
        self._installed: list[int] = []

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for signum, default in _STOPPING.items():
                if signal.getsignal(signum) is default:
                    signal.signal(signum, self._handle)
                    self._installed.append(signum)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> Any:
        self.asked, self.signum = True, signum
        self._restore()  # the next one stops at once
        name = signal_name(signum)
        again = "Ctrl-C again" if name == "Ctrl-C" else f"another {name} or Ctrl-C"
        if sys.stderr is not None:  # (None: a process started without one)
            sys.stderr.write(
                f"\nlexforge: {name}: {self._what} before stopping ({again} {self._again})\n"
            )
            sys.stderr.flush()

    def _restore(self) -> None:
        for signum in self._installed:
            signal.signal(signum, _STOPPING[signum])
        self._installed = []

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._restore()
