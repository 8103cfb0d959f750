#!/usr/bin/env bash
# Evaluate a run on noise it never saw: Gaussian levels beyond its training range and the
# other noise kinds, written as eval/eval-mismatch.{json,csv,md} (the main eval table stays).
#   scripts/eval_mismatch_noise.sh [RUN]        # default: latest
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-latest}"
MNISTMAX="${MNISTMAX:-.venv/bin/mnistmax}"
[ -x "$MNISTMAX" ] || make install
"$MNISTMAX" eval "$RUN" --tag mismatch \
  "noise.eval_kinds=[gaussian, salt_pepper, pixel_flip, lines, blocks, mixed]" \
  "noise.test_sigmas=[0.1, 0.3, 0.5, 0.7, 0.9, 1.0]"
# Gaussian noise stronger than any training level (σ up to 1.5), with what it does to the digits:
"$MNISTMAX" compare limitations "$RUN" --sigmas 0.5,1.0,1.25,1.5
