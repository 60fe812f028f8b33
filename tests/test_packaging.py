"""The source distribution: maturin takes its Rust side from what ``cargo package`` lists,
so that list is the sources and the tests, never a stray folder of the checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_sdist_leaves_out_untracked_folders(tmp_path: Path) -> None:
    """A virtual environment or built wheels at the top of the checkout (untracked, under a
    name .gitignore does not hold: ``venv/``, ``wheelhouse/``) went into the sdist whole,
    hundreds of MB of it: ``cargo package`` lists every file it is not told to leave out.
    Checked with the checkout's ``include`` in a manifest of no dependencies (no registry)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11
    if shutil.which("cargo") is None or not (ROOT / "Cargo.toml").exists():
        pytest.skip("needs cargo and the checkout's Cargo.toml (not an installed copy)")
    include = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"].get("include")
    (tmp_path / "Cargo.toml").write_text(
        '[package]\nname = "probe"\nversion = "0.0.0"\nedition = "2021"\n'
        + (f"include = {json.dumps(include)}\n" if include else "")
        + '[lib]\npath = "rust/lib.rs"\n'
    )
    for name in ("rust/lib.rs", "tests/test_x.py", "venv/lib/site.py", "wheelhouse/a.whl"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    listed = subprocess.run(
        ["cargo", "package", "--list", "--allow-dirty", "--offline"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert "rust/lib.rs" in listed and "tests/test_x.py" in listed
    assert [f for f in listed if f.startswith(("venv/", "wheelhouse/"))] == []
