"""Where the harness's own CPU goes, by step: one mmlu_pro task run by
``harness.run.run`` in this process against bench/instant_endpoint.py, with
``time.process_time`` around its steps: the imports, the dataset (parsed and
checked), the event loop's work on every sample, samples.jsonl, provenance,
results.json. Also counts Python's garbage collections and the time they took.

bench_harness_cpu.py times the whole harness process; this says which step
holds that time. ``--no-cache`` runs without the response cache, so the
difference between the two is the cache's share of the loop.

    python bench/harness_phases.py [--requests 6000] [--parallelism 128] [--repeat 3] [--no-cache]
"""

import argparse
import functools
import gc
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

from bench_harness_cpu import write_task  # noqa: E402
from bench_vs_lmeval import start_endpoint, stop_endpoint  # noqa: E402

STEPS = ("imports", "dataset", "loop", "samples.jsonl", "provenance", "results.json", "rest", "gc")
# "gc": the garbage collections, wherever they fell (inside the steps above, not beside them)


def child(url, requests, parallelism, cache):
    """One run in this process: prints the steps' CPU ms as JSON."""
    folder = tempfile.mkdtemp()
    task_dir = Path(folder) / "task"
    write_task(task_dir, url, requests, parallelism)
    if cache:
        os.environ["EVALTASKS_RESPONSE_CACHE"] = f"{folder}/cache"
    spent = dict.fromkeys(STEPS, 0.0)
    started = [0.0]

    def collected(phase, info):
        if phase == "start":
            started[0] = time.process_time()
        else:
            spent["gc"] += time.process_time() - started[0]

    gc.callbacks.append(collected)
    before = time.process_time()
    sys.path.insert(0, str(REPO))
    from evaltasks.harness import provenance, run, samples

    spent["imports"] = time.process_time() - before
    for owner, name, step in [(run, "_load_items", "dataset"), (run, "_evaluate", "loop"),
                              (samples.SampleSpool, "write", "samples.jsonl"), (provenance, "block", "provenance"),
                              (run, "write_json_atomic", "results.json")]:
        setattr(owner, name, _timed(getattr(owner, name), spent, step))
    before = time.process_time()
    run.run(str(task_dir))
    whole = time.process_time() - before
    spent["rest"] = whole - sum(spent[s] for s in STEPS if s not in ("imports", "rest", "gc"))
    print(json.dumps({step: seconds * 1000 for step, seconds in spent.items()}))


def _timed(inner, spent, step):
    @functools.wraps(inner)
    def timed(*args, **kwargs):
        before = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[step] += time.process_time() - before
    return timed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--parallelism", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, requests, parallelism, cache = args.child
        return child(url, int(requests), int(parallelism), cache == "on")
    os.environ.setdefault("EVALTASKS_DATA_DIR", str(REPO.parent / "shared" / "datasets"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    server, url = start_endpoint()
    runs = []
    try:
        for _ in range(args.repeat):
            done = subprocess.run([sys.executable, __file__, "--child", url, str(args.requests),
                                   str(args.parallelism), "off" if args.no_cache else "on"],
                                  env=env, capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout.splitlines()[-1]))
    finally:
        stop_endpoint(server)
    print(f"{args.requests} mmlu_pro requests at {args.parallelism}, cache {'off' if args.no_cache else 'on'}, "
          f"{args.repeat} runs, load average {os.getloadavg()[0]:.1f} (CPU ms: median, min–max):")
    for step in STEPS:
        values = [r[step] for r in runs]
        per = f"   {statistics.median(values) / args.requests * 1000:.1f} µs a request" if step == "loop" else ""
        print(f"  {step:14} {statistics.median(values):8.1f}  {min(values):.1f}–{max(values):.1f}{per}")


if __name__ == "__main__":
    main()
