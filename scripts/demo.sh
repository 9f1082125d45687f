#!/usr/bin/env bash
# Set up, then run the example evaluation end to end on this machine:
# a demo endpoint (tests/endpoint.py, answering scripted replies — most right,
# some wrong) serves on 127.0.0.1:8000, and
#   evaltasks run --config-dir examples --config-name local_endpoint
# evaluates it in a harness container. Results land in results/local_endpoint/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

if [ -z "${EVALTASKS_DATA_DIR:-}" ] && [ -d ../shared/datasets ]; then
    export EVALTASKS_DATA_DIR="$(cd ../shared/datasets && pwd)"
fi

answers=$(mktemp /tmp/evaltasks-demo-answers.XXXXXX.json)
python3 - "$answers" <<'PY'
# The demo "model": right on 4 of every 5 of the first 50 gsm8k questions.
import json, os, sys
from evaltasks import datasets
from evaltasks.harness.benchmarks import gsm8k, resolve
folder = datasets.ensure(resolve("gsm8k"))
replies = {}
for i, item in enumerate(gsm8k.load(str(folder))[:50]):
    answer = item["gold"] if i % 5 else str(int(item["gold"]) + 1)
    replies[item["question"]] = f"Working through it step by step...\nAnswer: {answer}"
json.dump(replies, open(sys.argv[1], "w"))
PY

python3 tests/endpoint.py --port 8000 --model-id meta/llama-3.1-8b-instruct --answers "$answers" &
endpoint=$!
trap 'kill $endpoint 2>/dev/null; rm -f "$answers"' EXIT
for _ in $(seq 1 50); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/v1/models')" 2>/dev/null && break
    sleep 0.1
done

evaltasks run --config-dir examples --config-name local_endpoint "$@"
