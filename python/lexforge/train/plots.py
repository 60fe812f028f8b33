"""Loss and accuracy curves from ``log.jsonl``, and confusion matrices, as PNGs
(matplotlib, headless)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lexforge._json import loads_json

_SAID: set[str] = set()


def _unplotted(png: Path) -> None:
    """Warns, once a process for each kind of plot, that ``png`` is not drawn: matplotlib
    is missing (the run is not failed for a picture, nor silently short of one)."""
    if png.name not in _SAID:
        _SAID.add(png.name)
        import warnings

        warnings.warn(
            f"{png.name} is not drawn: matplotlib is not installed; pip install "
            "'lexforge[train]' (or matplotlib) to draw it",
            stacklevel=3,
        )


def plot_curves(log: Path, png: Path, objective: str = "nsp") -> Path | None:
    """Draws MLM (and NSP) loss and accuracy, train and eval, against the step; returns the
    PNG's path, or None when matplotlib is not installed (``pip install lexforge[train]``).
    The log's ``nsp_*`` values are the sentence-pair task's, named by ``objective`` (an
    SOP run's are SOP's). A series of one point (a run no longer than its log interval)
    is drawn as a marker."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _unplotted(png)
        return None
    records = [loads_json(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for split, style in (("train", "-"), ("eval", "o--")):
        rows = [r for r in records if r.get("split") == split]
        for task in ("mlm", "nsp"):
            points = [  # (a null loss: no token was masked in that window)
                (r["step"], r[f"{task}_loss"], r[f"{task}_accuracy"])
                for r in rows
                if all(_number(r.get(k)) for k in ("step", f"{task}_loss", f"{task}_accuracy"))
            ]
            if not points:
                continue
            steps, losses, accs = zip(*points, strict=True)
            name = objective.upper() if task == "nsp" and objective != "none" else task.upper()
            shown = style if len(points) > 1 or "o" in style else "o" + style
            loss_ax.plot(steps, losses, shown, label=f"{name} {split}", markersize=3)
            acc_ax.plot(steps, accs, shown, label=f"{name} {split}", markersize=3)
    for ax, title in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    return save_png(fig, png)


def _number(value: Any) -> bool:
    """Whether a log field is a number matplotlib draws: a line damaged on disk, which a
    resumed run keeps when its step still reads, may hold anything (a line the run wrote
    holds numbers, or a null loss)."""
    return isinstance(value, float) or (
        isinstance(value, int) and not isinstance(value, bool) and abs(value) < 1e300
    )


def _families_drawing(text: str) -> list[str] | None:
    """Font families (matplotlib's default first, then one installed font holding the
    characters it lacks) that draw every character of ``text``; None if no font does."""
    from matplotlib import font_manager, ft2font

    def chars_of(path: str) -> set[int]:
        try:
            return set(ft2font.FT2Font(path).get_charmap())
        except (OSError, RuntimeError, ValueError):
            return set()

    default = font_manager.FontProperties()
    first = font_manager.findfont(default)
    needed = {ord(c) for c in text if not c.isspace()} - chars_of(first)
    family = font_manager.get_font(first).family_name
    if not needed:
        return [family]
    for entry in font_manager.fontManager.ttflist:
        # (Last Resort maps every code point to a placeholder of its block: not the text)
        if "last resort" not in entry.name.lower() and needed <= chars_of(entry.fname):
            return [family, entry.name]
    return None


def save_png(fig: Any, png: Path) -> Path:
    """Writes a matplotlib figure atomically (a temporary file renamed) and closes it; a
    failed write (a full disk) leaves no temporary file and names ``png`` and the fix."""
    import matplotlib.pyplot as plt

    from ..formats import write_failed

    fig.tight_layout()
    tmp = png.with_name(f".{png.name}.tmp-{os.getpid()}.png")
    try:
        fig.savefig(tmp, dpi=100)
        tmp.replace(png)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise write_failed(png, e) from None
        raise
    finally:
        plt.close(fig)
    return png


def plot_confusion(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], png: Path, title: str
) -> Path | None:
    """The confusion matrix as a PNG (None without matplotlib). Past 30 labels the cells
    carry no numbers, and past 60 the axes no names (the figure stays under 40 inches: a
    drawing per cell, or one inch per two labels, grows with the square of the labels)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _unplotted(png)
        return None
    m = np.asarray(matrix)
    n = len(labels)
    size = min(40.0, max(4.0, 0.5 * n + 2))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    families = _families_drawing("".join(labels)) if n <= 60 else None
    if n <= 60:
        # names no installed font draws (Chinese class names without a CJK font) would be
        # empty boxes: the ticks then number the labels, in the order the metrics list them
        names = list(labels) if families else [str(i) for i in range(n)]
        ax.set_xticks(range(n), names, rotation=45, ha="right", fontfamily=families)
        ax.set_yticks(range(n), names, fontfamily=families)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    if n > 60:
        title = f"{title} ({n} labels)"
    elif not families:
        title = f"{title}\n(labels numbered: no font for them)"
    ax.set_title(title)
    if n <= 30:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, str(m[i, j]), ha="center", va="center",
                        color="white" if m[i, j] > m.max() / 2 else "black")  # fmt: skip
    return save_png(fig, png)
