#!/usr/bin/env bash
# Train a denoiser and evaluate it: scripts/train_mnist.sh [CONFIG] [KEY=VALUE ...]
#   scripts/train_mnist.sh                                   # configs/mnist.yaml (U-Net, ~4 min on 2 CPU cores)
#   scripts/train_mnist.sh configs/models/conv_dae.yaml train.epochs=10
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG="${1:-configs/mnist.yaml}"
shift || true
MNISTMAX="${MNISTMAX:-.venv/bin/mnistmax}"
[ -x "$MNISTMAX" ] || make install
"$MNISTMAX" train --config "$CONFIG" "$@"
"$MNISTMAX" eval latest
