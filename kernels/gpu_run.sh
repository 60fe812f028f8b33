#!/usr/bin/env bash
# The one-shot GPU run, from the repository root: installs the wheel in dist/, runs the
# attention tests natively on CUDA (no TRITON_INTERPRET), then benches/bench_attention.py.
#
#     kernels/gpu_run.sh             # every benchmark group
#     kernels/gpu_run.sh --quick     # extra arguments go to bench_attention.py
#
# Writes to $OUT (default ./gpu-run-out): env.txt, pytest.txt, sweep.txt, bench.txt,
# attention.md, attention.json, pretrain.txt, profile*.txt, configs.* and status.txt, with one "step exit-code" line
# per step. A failing step does not stop the next one. Python runs with PYTHONSAFEPATH=1 from the repository root,
# which has no lexforge/ folder, so the installed wheel is what gets imported (checked
# below), never the source tree in python/. dist/ is git-ignored: a copy of the working
# tree must carry it. BENCH_TIMEOUT (seconds, default 600) bounds the benchmark;
# RUN_TESTS=0, RUN_SWEEP=0 and RUN_BENCH=0 skip the tests, the tests' config sweep and the
# attention benchmark.
set -u

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$REPO/gpu-run-out}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
cd "$REPO" || exit 1
STATUS="$OUT/status.txt"
: >"$STATUS"
export PYTHONSAFEPATH=1 PYTHONUNBUFFERED=1
unset TRITON_INTERPRET

# step NAME LOG COMMAND...: runs COMMAND, its output shown and appended to LOG; records
# the exit code in status.txt and returns it.
step() {
    local name=$1 log=$2
    shift 2
    echo "== $name: $*" | tee -a "$log"
    "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    echo "$name $rc" >>"$STATUS"
    echo "== $name: exit $rc" | tee -a "$log"
    return "$rc"
}

versions() {
    python - <<'EOF'
import sys

import torch
import triton

print("python", sys.version.split()[0], sys.executable)
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
print("triton", triton.__version__)
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(), torch.cuda.get_device_capability())
EOF
}

step nvidia-smi "$OUT/env.txt" nvidia-smi
step versions "$OUT/env.txt" versions

shopt -s nullglob
wheels=(dist/lexforge-*-abi3-*.whl)
if [ ${#wheels[@]} -eq 0 ]; then
    echo "no dist/lexforge-*-abi3-*.whl: build the wheel (maturin build --release --out dist)" \
        "and carry dist/ with the working tree" | tee -a "$OUT/env.txt"
    echo "wheel missing" >>"$STATUS"
    exit 2
fi
wheel=$(ls -t "${wheels[@]}" | head -n 1)  # the newest, if there are several
step install "$OUT/env.txt" python -m pip install --no-deps --force-reinstall "$wheel"

where=$(python -c "import lexforge, sys; print(lexforge.__file__)" 2>&1)
echo "lexforge imported from: $where" | tee -a "$OUT/env.txt"
case "$where" in
*site-packages* | *dist-packages*) echo "import-location ok" >>"$STATUS" ;;
*) echo "import-location NOT-INSTALLED ($where)" >>"$STATUS" ;;
esac
if ! python -c "import lexforge.ops.attention" >>"$OUT/env.txt" 2>&1; then
    echo "the installed wheel $wheel has no lexforge.ops.attention: it predates the" \
        "attention kernels; rebuild it" | tee -a "$OUT/env.txt"
    echo "wheel stale" >>"$STATUS"
    exit 3
fi

# The GPU-marked tests and the regular ones, natively on CUDA, with the kernels pinned to
# their first config (LEXFORGE_ATTENTION_CONFIG: no tuning, so the run stays short), over
# pytest-xdist workers when it is there; -m overrides the "not slow" of pyproject's addopts.
# Meanwhile, in the background, the bf16 GPU cases run once per other config, so every
# config the autotuner may pick has been checked.
xdist=()
python -c "import xdist" 2>/dev/null && xdist=(-n "${PYTEST_WORKERS:-8}")
SWEEP=$(mktemp -d)
configs=(1 2 3 4)
[ "${RUN_SWEEP:-1}" = 0 ] && configs=()  # RUN_SWEEP=0: no sweep (a rerun, say)
for i in "${configs[@]}"; do
    LEXFORGE_ATTENTION_CONFIG=$i timeout "${TEST_TIMEOUT:-240}" python -m pytest -q -rfEs \
        -p no:cacheprovider --rootdir "$REPO" -k "(gpu_bf16 or gpu_short) and dtype0" \
        tests/test_attention.py >"$SWEEP/config-$i.txt" 2>&1 &
done
if [ "${RUN_TESTS:-1}" != 0 ]; then  # RUN_TESTS=0: no tests (a benchmark-only call)
    LEXFORGE_ATTENTION_CONFIG=0 step pytest "$OUT/pytest.txt" timeout "${TEST_TIMEOUT:-240}" \
        python -m pytest -q -rfEs -p no:cacheprovider --rootdir "$REPO" "${xdist[@]}" \
        -m "gpu or not slow" tests/test_attention.py \
        tests/test_model.py::test_gpu_unpadded_kernel_path_matches_sdpa_in_bf16 \
        tests/test_reproducible.py::test_gpu_training_twice_gives_the_same_weights \
        tests/test_ecosystem.py::test_gpu_activation_checkpointing_gives_the_same_gradients
fi
sweep_rc=0
for i in "${configs[@]}"; do
    wait -n || sweep_rc=1
done
for i in "${configs[@]}"; do
    echo "== config $i" >>"$OUT/sweep.txt"
    cat "$SWEEP/config-$i.txt" >>"$OUT/sweep.txt"
done
if [ ${#configs[@]} -gt 0 ]; then
    tail -n 3 "$OUT/sweep.txt"
    echo "config-sweep $sweep_rc" >>"$STATUS"
fi

# Where a BERT-base pretraining step's time goes, ours and HF's (issue 6): PRETRAIN_PROFILE=1
if [ -n "${PRETRAIN_PROFILE:-}" ] && [ -d "$REPO/gpu-cache/datasets" ]; then
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 LEXFORGE_CACHE="$REPO/gpu-cache" \
        step profile "$OUT/profile.txt" timeout "${PROFILE_TIMEOUT:-180}" \
        python benches/profile_pretrain.py --device cuda --preset base --seq 128 \
        --batch "${PRETRAIN_BATCH:-128}" --out "$OUT" ${PROFILE_ARGS:-}  # e.g. --mode cuda_graphs
fi

if [ "${RUN_BENCH:-1}" != 0 ]; then  # RUN_BENCH=0: no attention benchmark
    step bench "$OUT/bench.txt" timeout "${BENCH_TIMEOUT:-600}" \
        python benches/bench_attention.py --out "$OUT" "$@"
fi

# BERT-base pretraining throughput against HF (issue 6): needs the corpus and the
# bert-base-uncased tokenizer offline, in gpu-cache/ (see kernels/README.md)
if [ -n "${PRETRAIN_BENCH:-}" ] && [ -d "$REPO/gpu-cache/datasets" ]; then
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    LEXFORGE_CACHE="$REPO/gpu-cache" step pretrain "$OUT/pretrain.txt" \
        timeout "${PRETRAIN_TIMEOUT:-300}" python benches/bench_pretrain.py --device cuda \
        --preset base --seq 128 512 --batch "${PRETRAIN_BATCH:-128}" --steps 20 \
        ${PRETRAIN_ARGS:-}  # e.g. PRETRAIN_ARGS=--compile
fi

# Activation checkpointing on BERT-base at seq 512 (CKPT_BENCH=1): step time, memory kept
# and peak, and the gradients' equality, with the layers recomputed against kept
if [ -n "${CKPT_BENCH:-}" ]; then
    step checkpointing "$OUT/checkpointing.txt" timeout "${CKPT_TIMEOUT:-120}" \
        python benches/bench_checkpointing.py --device cuda --preset base --seq 512 \
        --batch "${CKPT_BATCH:-32}" --steps 10
fi

# Every candidate config of the attention kernels timed alone (CONFIG_SWEEP=1): evidence
# for the autotuner's list in lexforge/kernels/attention_configs.py; SWEEP_LIMIT bounds the
# candidates (seconds), SWEEP_TIMEOUT the step
if [ -n "${CONFIG_SWEEP:-}" ]; then
    step configs "$OUT/configs.txt" timeout "${SWEEP_TIMEOUT:-300}" \
        python benches/sweep_attention_configs.py --out "$OUT" \
        --time-limit "${SWEEP_LIMIT:-240}" ${SWEEP_ARGS:-}  # e.g. SWEEP_ARGS="--kernels fwd fused"
fi

echo "== status"
cat "$STATUS"
# exit 0 only when every step did
! grep -qvE ' (0|ok)$' "$STATUS"
