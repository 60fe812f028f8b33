"""Loss and accuracy curves from ``log.jsonl``, as a PNG (matplotlib, headless)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def plot_curves(log: Path, png: Path) -> Path | None:
    """Draws MLM (and NSP) loss and accuracy, train and eval, against the step; returns the
    PNG's path, or None when matplotlib is not installed (``pip install lexforge[train]``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for split, style in (("train", "-"), ("eval", "o--")):
        rows = [r for r in records if r.get("split") == split]
        for task in ("mlm", "nsp"):
            points = [(r["step"], r[f"{task}_loss"], r[f"{task}_accuracy"]) for r in rows
                      if f"{task}_loss" in r]  # fmt: skip
            if not points:
                continue
            steps, losses, accs = zip(*points, strict=True)
            loss_ax.plot(steps, losses, style, label=f"{task.upper()} {split}", markersize=3)
            acc_ax.plot(steps, accs, style, label=f"{task.upper()} {split}", markersize=3)
    for ax, title in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    return save_png(fig, png)


def save_png(fig: Any, png: Path) -> Path:
    """Writes a matplotlib figure atomically (a temporary file renamed) and closes it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = png.with_name(f".{png.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(png)
    return png
