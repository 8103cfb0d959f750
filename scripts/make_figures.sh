#!/usr/bin/env bash
# Every picture of a run, then its HTML report: scripts/make_figures.sh [RUN]   (default: latest)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-latest}"
MNISTMAX="${MNISTMAX:-.venv/bin/mnistmax}"
[ -x "$MNISTMAX" ] || make install
for picture in recon-grid sigma-panel curves cases; do
  "$MNISTMAX" viz "$picture" "$RUN"
done
"$MNISTMAX" viz noise-gallery
"$MNISTMAX" compare limitations "$RUN"
"$MNISTMAX" report "$RUN"
