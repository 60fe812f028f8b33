"""The attention kernels compile for the GPU we benchmark on (sm90: H100, H200), checked on
a machine without one: Triton compiles ahead of time for any target, with the ptxas it
ships. The interpreter that runs the other kernel tests on the CPU accepts programs the
compiler rejects, and cannot say whether a config's tiles fit the GPU's shared memory;
``kernels/aot_check.py`` can, for every config the autotuner may pick.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

triton = pytest.importorskip("triton")

ROOT = Path(__file__).resolve().parents[1]
TOOLS = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"


@pytest.mark.skipif(
    not (TOOLS / "ptxas").exists() or not (TOOLS / "cuobjdump").exists(),
    reason="this Triton ships no ptxas/cuobjdump",
)
def test_every_attention_config_compiles_for_sm90_and_fits() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    run = subprocess.run(
        [sys.executable, str(ROOT / "kernels" / "aot_check.py"), "--dims", "64",
         "--flags", "plain", "causal+mask+dropout"],
        capture_output=True, text=True, env=env, timeout=1200, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ")][2:]
    kernels = {row.split("|")[1].strip() for row in rows}
    assert kernels == {"fwd", "short", "fused", "dkdv", "dq"}, run.stdout
    built = [row for row in rows if "| pruned |" not in row]
    # every listed config of every kernel, plain and with a mask, dropout and causal
    least = 2 * (5 + 2 * 5 + 2 * 3 + 4 + 4) - 4
    from lexforge.kernels import attention_configs

    if attention_configs._triton_older_than(3, 6):  # 8-warp short tiles of 64 are pruned
        least -= sum("| short | 64 | 64 |" in row and " w8 " in row for row in rows)
    assert len(built) >= least, run.stdout
    for row in built:
        status = row.split("|")[10].strip()
        assert status.startswith(("ok", "spills")), row


def test_short_kernel_takes_no_8_warp_small_tiles_on_an_older_triton(monkeypatch: Any) -> None:
    """Triton 3.0 (torch 2.4's) aborts the process compiling the short forward for sm90 with
    8 warps on a tile of 64 positions (an assertion no fallback catches): below Triton 3.6,
    the one checked on sm90, those configs are pruned; bigger tiles and newer Tritons keep
    every config."""
    from lexforge.kernels import attention_configs as c

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # the GPU's configs
    configs = c._short_configs()
    every = sorted(x.num_warps for x in configs)

    def warps(block: int) -> list[int]:
        return sorted(x.num_warps for x in c._prune_short(configs, {}, HEAD_DIM=64, BLOCK=block))

    assert 8 in every
    if not c._triton_older_than(3, 6):
        assert warps(64) == warps(128) == every
    monkeypatch.setattr(triton, "__version__", "3.0.0")
    assert warps(64) and 8 not in warps(64)
    assert warps(128) == every
