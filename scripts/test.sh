#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite, Docker tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec python3 -m pytest -q tests
