#!/usr/bin/env bash
# The GPU figures in docs/results.md, from one CUDA machine: field fitting at MNIST scale, GPT training throughput (MFU)
# and its profile, KV-cache sampling, SSIM pairs (part "bench", ~2 min on an H200), then the paper-sized pipeline
# on mnist-5k and the test suite with CUDA visible, so every "auto" device resolves to the GPU (part "pipeline",
# ~4 min).
# Usage: bash benchmarks/gpu_bench.sh bench|pipeline|all [LOGDIR]   (PY=python3 picks the interpreter,
#        WORKSPACE=/tmp/nfgen-gpu-ws the pipeline's workspace, ITERS=2000 its GPT steps)
# Each step runs under its own time limit; a step that fails or times out is reported and the next one runs.
set -uo pipefail
PART=${1:-all}
LOG=${2:-/tmp/nfgen-gpu-bench}
PY=${PY:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$LOG"
step() {
    local name=$1 limit=$2 t0=$SECONDS
    shift 2
    echo "=== $name (limit ${limit} s): $*"
    timeout "$limit" "$@" 2>&1 | tee "$LOG/$name.log"
    echo "=== $name: exit ${PIPESTATUS[0]} after $((SECONDS - t0)) s"
}
$PY -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
    || { echo "no CUDA device: this script is for a GPU machine" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__)'

if [[ $PART == bench || $PART == all ]]; then
    step fit-60k 100 $PY benchmarks/fit_fields.py --device cuda --fields 60000 --ref-fields 0
    step fit-60k-one-chunk 60 $PY benchmarks/fit_fields.py --device cuda --fields 60000 --ref-fields 0 --chunk 60000
    step train-throughput 90 $PY benchmarks/train_throughput.py --device cuda --steps 5
    step train-probe 150 $PY benchmarks/train_probe.py --device cuda
    step sample-speed 45 $PY benchmarks/sample_speed.py --device cuda --size paper --n 8
    step ssim-pairs 40 $PY benchmarks/ssim_pairs.py --device cuda
fi
if [[ $PART == pipeline || $PART == all ]]; then
    step pipeline 190 env DATA=mnist-5k ITERS="${ITERS:-2000}" NFGEN="$PY -m nfgen_tui.cli" \
        bash benchmarks/gpu.sh "${WORKSPACE:-/tmp/nfgen-gpu-ws}"
    # the TUI tests need textual, which GPU images seldom have; everything else runs with CUDA visible
    step tests 130 $PY -m pytest -q -p no:cacheprovider -n 8 --ignore-glob='tests/test_tui*' \
        --ignore=tests/test_core_boundary.py tests
fi
