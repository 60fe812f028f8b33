"""One writer per folder: an advisory lock (``flock``) on a file in it, which the system
releases when the process dies, so a crashed run never leaves the folder locked."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def only_writer(lock: Path, refusal: Callable[[], Exception]) -> Iterator[None]:
    """Holds the lock on the file ``lock`` (created if missing) while the block runs; if
    another process holds it, raises ``refusal()`` at once. Without ``fcntl`` (not POSIX)
    nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    from .formats import write_failed

    try:
        held = lock.open("a+b")
    except OSError as e:  # (a read-only folder, no inode left: the folder named)
        raise write_failed(lock.parent, e) from None
    with held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise refusal() from None
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
