"""Request throughput of the harness, through the runner's own code path
(``run.run`` on a gsm8k task, response cache off), against FakeEndpoint
answering every request after a fixed latency.

The ideal is parallelism / latency requests per second; the ratio to it shows
what the harness (client, threads, scoring, progress) costs. FakeEndpoint runs
in a separate process, as a real server would: in this process its handler
threads would compete with the harness for the GIL.

Run by hand:
    python bench/bench_client.py [--latency 0.1] [--parallelism 1 16 64] [--per-worker 20]
and record the figures in bench/RESULTS.md with the machine and date.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA_DIR = REPO.parent / "shared" / "datasets"

from evaltasks.harness import run  # noqa: E402


def start_endpoint(latency):
    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "support" / "endpoint.py"), "--port", "0",
                               "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()             # "serving http://127.0.0.1:PORT/v1 (model …)"
    if not line.startswith("serving "):
        server.kill()
        sys.exit(f"FakeEndpoint did not start: {line!r}")
    return server, line.split()[1] + "/chat/completions"


def measure(url, parallelism, requests, folder):
    task = {
        "id": f"p{parallelism}", "name": "gsm8k", "benchmark": "gsm8k",
        "params": {"limit_samples": requests, "parallelism": parallelism, "request_timeout": 30,
                   "max_retries": 0, "temperature": 0.0, "top_p": None, "max_new_tokens": 64,
                   "seed": None, "extra": {}},
        "endpoint": {"url": url, "model_id": "test-model", "type": "chat", "api_key_name": None,
                     "adapter_config": {}},
    }
    task_dir = Path(folder) / task["id"]
    task_dir.mkdir()
    (task_dir / "task.json").write_text(json.dumps(task))
    started = time.perf_counter()
    run.run(str(task_dir))
    elapsed = time.perf_counter() - started
    stats = json.loads((task_dir / "results.json").read_text())["response_stats"]
    assert stats["requests"] == requests and stats["status_codes"] == {"200": requests}, stats
    return elapsed, stats["latency_ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--per-worker", type=int, default=20, help="requests per unit of parallelism")
    args = parser.parse_args()
    os.environ.setdefault("EVALTASKS_DATA_DIR", str(DATA_DIR))
    os.environ.pop("EVALTASKS_RESPONSE_CACHE", None)
    run.log = lambda message: None

    server, url = start_endpoint(args.latency)
    try:
        print(f"latency {args.latency * 1000:.0f} ms, cache off, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        print(f"{'parallelism':>11} {'requests':>8} {'seconds':>8} {'req/s':>8} {'ideal':>7} {'ratio':>6} "
              f"{'p50 ms':>7} {'p99 ms':>7}")
        with tempfile.TemporaryDirectory() as folder:
            for parallelism in args.parallelism:
                requests = args.per_worker * parallelism
                elapsed, latency = measure(url, parallelism, requests, folder)
                ideal = parallelism / args.latency
                print(f"{parallelism:>11} {requests:>8} {elapsed:>8.2f} {requests / elapsed:>8.1f} {ideal:>7.0f} "
                      f"{requests / elapsed / ideal:>6.2f} {latency['p50']:>7.1f} {latency['p99']:>7.1f}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
