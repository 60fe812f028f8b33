"""The benchmark scripts a GPU run depends on still run (``kernels/README.md``, "The next
GPU run"). A device session is scarce (15 minutes, machine start included, and most
sessions draw none), so a script broken by a change elsewhere must fail here, on the CPU,
and not there: the attention benchmark at its ``--smoke`` shapes under the Triton
interpreter with the plan's flags, the pretraining benchmark at tiny shapes (both sides),
and the plan's flags for the scripts that need CUDA to run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton")

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ROOT / "benches"


def _run(script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCHES / script), *args],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env={**os.environ, **env},
    )  # fmt: skip


def test_the_attention_benchmark_runs_with_the_plans_flags(tmp_path: Path) -> None:
    """``gpu_run.sh --quick --no-flex --dropout 0.1 --time-limit 110`` passes its flags to
    ``bench_attention.py``; ``--smoke`` runs the same cases at tiny shapes on the CPU."""
    done = _run(
        "bench_attention.py", "--smoke", "--quick", "--no-flex", "--dropout", "0.1",
        "--time-limit", "30", "--out", str(tmp_path), TRITON_INTERPRET="1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    text = (tmp_path / "attention.md").read_text(encoding="utf-8")
    assert "lexforge" in text and "SDPA" in text and "Targets:" in text
    json.loads((tmp_path / "attention.json").read_text(encoding="utf-8"))  # valid JSON


def test_the_pretraining_benchmark_runs_both_sides() -> None:
    """``bench_pretrain.py`` (the plan runs it with ``--device cuda --cuda-graphs``): ours
    and HF's ``BertForMaskedLM`` each train and are timed, with a ratio."""
    pytest.importorskip("transformers")
    done = _run(
        "bench_pretrain.py", "--device", "cpu", "--preset", "tiny", "--seq", "32",
        "--batch", "4", "--steps", "2", "--warmup", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 32 | 4 |")]
    assert len(rows) == 2 and "lexforge" in rows[0] and "HF" in rows[1], done.stdout
    assert rows[1].split("|")[5].strip() == "1.00x"  # HF eager is the anchor


@pytest.mark.parametrize(
    ("script", "flags"),
    [
        ("bench_pretrain.py", ["--device", "--preset", "--seq", "--batch", "--steps",
                               "--cuda-graphs", "--compile"]),
        ("profile_pretrain.py", ["--device", "--preset", "--seq", "--batch", "--out",
                                 "--mode", "--sides", "cuda_graphs"]),
        ("bench_checkpointing.py", ["--device", "--preset", "--seq", "--batch", "--steps"]),
        ("sweep_attention_configs.py", ["--kernels", "--time-limit", "--out", "short",
                                        "fused"]),
        ("bench_attention.py", ["--quick", "--no-flex", "--dropout", "--time-limit",
                                "--out", "--groups"]),
    ],
)  # fmt: skip
def test_the_plans_flags_are_the_scripts(script: str, flags: list[str]) -> None:
    """The flags ``kernels/gpu_run.sh`` and the plan's commands give each script (its
    ``PRETRAIN_ARGS``, ``PROFILE_ARGS``, ``SWEEP_ARGS``...) are ones it takes."""
    done = _run(script, "--help")
    assert done.returncode == 0, done.stderr[-3000:]
    missing = [f for f in flags if f not in done.stdout]
    assert not missing, f"{script} --help names none of {missing}"
