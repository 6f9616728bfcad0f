#!/usr/bin/env bash
# Paper-sized stages on a GPU in ~8 minutes: full MNIST when its files are present (or downloadable), else mnist-5k.
# Usage: bash benchmarks/gpu.sh [WORKSPACE]   (prints each stage's JSON and its wall time)
set -euo pipefail
WS=${1:-/tmp/nfgen-gpu}
NFGEN=${NFGEN:-nfgen}
ITERS=${ITERS:-3000}
export NFGEN_WORKSPACE=$WS
python -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' || { echo "no CUDA device: this script is for a GPU machine" >&2; exit 2; }
if $NFGEN data prepare mnist >/dev/null 2>&1 || $NFGEN data prepare mnist --download >/dev/null 2>&1; then DATA=mnist; else DATA=mnist-5k; fi
RUN=paper-$DATA
$NFGEN init $RUN --preset paper --dataset $DATA >/dev/null 2>&1 || true
stage() { local t0=$(date +%s.%N); "$@"; local t1=$(date +%s.%N); printf '%s: %.1f s\n' "$2" "$(echo "$t1 - $t0" | bc)" >&2; }
echo "dataset: $DATA"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
stage $NFGEN fit $RUN --json
stage $NFGEN codebook $RUN --json
stage $NFGEN train $RUN --iters "$ITERS" --json
stage $NFGEN sample $RUN --json
stage $NFGEN eval $RUN --json
