"""Warnings attributed to the user's code: the first frame outside lexforge, however deep
inside the package the condition is found."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

_PACKAGE = str(Path(__file__).parent) + os.sep  # as frames name their files: unresolved


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` at the first caller outside this package."""
    frame = sys._getframe(1)
    level = 2  # warnings.warn's stacklevel of our caller's frame
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
