"""Peak memory of a harness container running a whole benchmark (default: all
12,032 mmlu_pro questions) against an endpoint that answers instantly.

Runs the real pipeline (doit → container) and samples the container's memory
from Docker every 0.2 s; the peak is the cgroup's own high-water mark
(``memory_stats.max_usage``) where the engine reports it, else the largest sample.

    python bench/bench_memory.py [--benchmark mmlu_pro] [--parallelism 64]

Record the figures in bench/RESULTS.md with the machine and date.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import DATA_DIR, write_config  # noqa: E402
from support.endpoint import FakeEndpoint  # noqa: E402


def watch(client, label, peak, stop):
    while not stop.is_set():
        for box in client.containers.list(filters={"label": label}):
            try:
                memory = box.stats(stream=False)["memory_stats"]
            except Exception:
                continue
            peak["samples"] = max(peak["samples"], memory.get("usage", 0))
            peak["max_usage"] = max(peak["max_usage"], memory.get("max_usage", 0))
        time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="mmlu_pro")
    parser.add_argument("--parallelism", type=int, default=64)
    args = parser.parse_args()
    os.environ.setdefault("EVALTASKS_DATA_DIR", str(DATA_DIR))

    import docker

    client = docker.from_env()
    with FakeEndpoint(lambda payload: "The answer is (A).\nAnswer: A") as ep, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results"
        cfg = write_config(Path(tmp) / "mem.yaml", ep.chat_url, out, tasks=[
            {"name": args.benchmark, "overrides": {"config.params.parallelism": args.parallelism}}])
        peak, stop = {"samples": 0, "max_usage": 0}, threading.Event()
        watcher = threading.Thread(target=watch, args=(client, f"evaltasks.output_dir={out}", peak, stop))
        watcher.start()
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "doit", f"config={cfg}"], cwd=REPO,
                              capture_output=True, text=True)
        took = time.perf_counter() - started
        stop.set()
        watcher.join()
        if done.returncode != 0:
            sys.exit(done.stdout + done.stderr)
        samples = len((out / args.benchmark / "samples.jsonl").read_text().splitlines())
        print(f"{args.benchmark}: {samples} samples at parallelism {args.parallelism} in {took:.1f}s "
              f"({len(ep.completed())} requests)")
        print(f"container peak memory: max_usage {peak['max_usage'] / 2**20:.0f} MiB, "
              f"largest sample {peak['samples'] / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
