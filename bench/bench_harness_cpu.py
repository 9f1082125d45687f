"""CPU per request of the harness process alone, this checkout beside another
(``--before``, e.g. a copy of main), interleaved, against bench/instant_endpoint.py.

Each run is ``python -m evaltasks.harness <task dir>`` on an mmlu_pro task
(``--requests`` at ``--parallelism``), with the response cache on (a fresh,
empty one per run, as a first run has it) unless ``--no-cache``: its start-up,
requests, cache writes, samples and results. CPU is user + sys of the process
(getrusage of the children); the endpoint's own CPU per request is printed too.
The runs alternate (before, after, before, …) because a shared machine's speed
moves; the medians are printed with the load average.

    python bench/bench_harness_cpu.py --before /tmp/main-copy [--requests 6000]
        [--parallelism 128] [--repeat 5] [--no-cache]
    python bench/bench_harness_cpu.py --cache-vs-none       # what the response cache costs
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_vs_lmeval import cpu_of_children, report, start_endpoint, stop_endpoint  # noqa: E402


def write_task(out, url, requests, parallelism):
    """The task folder ``out`` (made here) of an mmlu_pro task of ``requests``
    questions at ``parallelism`` against the endpoint at ``url``, as the launcher
    would write its task.json."""
    out.mkdir()
    (out / "task.json").write_text(json.dumps({
        "id": "mmlu_pro", "name": "mmlu_pro", "benchmark": "mmlu_pro",
        "params": {"limit_samples": requests, "temperature": 0.0, "top_p": None, "max_new_tokens": 64,
                   "parallelism": parallelism, "request_timeout": 30, "max_retries": 0, "seed": None,
                   "allowed_failure_rate": 0.0, "extra": {}},
        "endpoint": {"url": url + "/chat/completions", "model_id": "test-model", "type": "chat",
                     "api_key_name": None, "adapter_config": {}},
    }))


def one_run(code, url, folder, name, requests, parallelism, cache):
    out = Path(folder) / name
    write_task(out, url, requests, parallelism)
    env = dict(os.environ, PYTHONPATH=str(code))
    env.pop("EVALTASKS_RESPONSE_CACHE", None)
    if cache:
        env["EVALTASKS_RESPONSE_CACHE"] = str(Path(folder) / f"{name}-cache")
    cpu, started = cpu_of_children(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "evaltasks.harness", str(out)], env=env, cwd=folder,
                          capture_output=True, text=True)
    wall, cpu = time.perf_counter() - started, cpu_of_children() - cpu
    if done.returncode != 0:
        sys.exit(f"{code}: harness failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    stats = json.loads((out / "results.json").read_text())["response_stats"]
    assert stats["requests"] == requests and stats["status_codes"] == {"200": requests}, stats
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a checkout of the code to compare with")
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--parallelism", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--cache-vs-none", action="store_true",
                        help="this checkout with the response cache on, beside itself with it off")
    args = parser.parse_args()
    os.environ.setdefault("EVALTASKS_DATA_DIR", str(REPO.parent / "shared" / "datasets"))
    if args.cache_vs_none:
        variants = {"cache on": (REPO, True), "no cache": (REPO, False)}
    elif args.before:
        variants = {"before": (Path(args.before).resolve(), not args.no_cache), "after": (REPO, not args.no_cache)}
    else:
        parser.error("--before or --cache-vs-none")
    runs = {name: [] for name in variants}
    loads = []
    server, url = start_endpoint()
    try:
        with tempfile.TemporaryDirectory() as folder:
            for i in range(args.repeat):
                for n, (name, (code, cache)) in enumerate(variants.items()):
                    loads.append(os.getloadavg()[0])
                    runs[name].append(one_run(code, url, folder, f"{n}-{i}", args.requests, args.parallelism, cache))
    finally:
        served, server_cpu = stop_endpoint(server)
    n = args.requests
    print(f"{n} mmlu_pro requests (CPU s / 1,000 requests = ms / request), parallelism {args.parallelism}, "
          f"{args.repeat} interleaved runs each, {os.cpu_count()} CPUs, load average "
          f"{min(loads):.1f}–{max(loads):.1f} (median {statistics.median(loads):.1f})")
    report(runs, n)
    print(f"endpoint: {served} requests, {server_cpu / served * 1000:.4f} CPU ms / request (start-up included)")


if __name__ == "__main__":
    main()
