#!/usr/bin/env bash
# Paper-sized stages on a GPU: full MNIST when its files are present (or downloadable), else mnist-5k.
# Usage: bash benchmarks/gpu.sh [WORKSPACE]   (prints each stage's JSON and its wall time)
# Environment: NFGEN (the command, default `nfgen`), ITERS (GPT steps, default 3000), DATA (skip the MNIST probe).
set -euo pipefail
WS=${1:-/tmp/nfgen-gpu}
NFGEN=${NFGEN:-nfgen}
ITERS=${ITERS:-3000}
export NFGEN_WORKSPACE=$WS
if [[ -z ${DATA:-} ]]; then
    if $NFGEN data prepare mnist >/dev/null 2>&1 || $NFGEN data prepare mnist --download >/dev/null 2>&1; then
        DATA=mnist
    else
        DATA=mnist-5k
    fi
fi
RUN=paper-$DATA
$NFGEN init $RUN --preset paper --dataset $DATA >/dev/null 2>&1 || true
stage() {
    local name=$1 t0=$SECONDS
    shift
    $NFGEN "$name" $RUN --json "$@"
    echo "$name: $((SECONDS - t0)) s" >&2
}
echo "dataset: $DATA"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
stage fit
stage codebook
stage train --iters "$ITERS"
stage sample
stage eval
