"""P1 of issue 22: all 1,319 gsm8k questions at parallelism 64 against an endpoint
answering each request after 100 ms, end to end through ``doit`` (config load,
preflight, the harness container or process, samples, results, the summary).

The ideal is 1,319 requests in waves of 64 at 100 ms: ceil(1319 / 64) = 21 waves,
2.06 s. Each run gets a fresh output dir (so its response cache is empty and every
request is sent); the endpoint is tests/support/endpoint.py (FakeEndpoint) in a process of
its own, or with ``--server instant`` bench/instant_endpoint.py, whose replies cost
it almost no CPU (FakeEndpoint's thread per request costs ~1 ms of CPU each, which
on 2 cores lengthens every wave of 64). Prints each run's wall and CPU time (user + sys of the doit process tree)
and the score, which must not move between runs.

    python bench/bench_p1.py [--runtime docker|process] [--server fake|instant] [--repeat 5]

Record the figures in bench/RESULTS.md with the machine, its load and the date.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import DATA_DIR, write_config  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="docker", choices=["docker", "process"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--server", default="fake", choices=["fake", "instant"])
    args = parser.parse_args()
    os.environ.setdefault("EVALTASKS_DATA_DIR", str(DATA_DIR))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    script = REPO / "tests" / "support" / "endpoint.py" if args.server == "fake" else REPO / "bench" / "instant_endpoint.py"
    server = subprocess.Popen([sys.executable, str(script), "--port", "0", "--latency", str(args.latency)],
                              stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().split()[1] + "/chat/completions"
    runs = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(args.repeat + 1):      # run 0 builds the image or venv if needed: not counted
                out = Path(tmp) / f"out-{run}"
                cfg = write_config(Path(tmp) / f"p1-{run}.yaml", url, out, tasks=[
                    {"name": "gsm8k", "overrides": {"config.params.parallelism": 64}}],
                    execution={"runtime": args.runtime, "extra_docker_args": "--network host"})
                cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "doit", f"config={cfg}"], cwd=REPO, env=env,
                                      capture_output=True, text=True)
                wall = time.perf_counter() - started
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if done.returncode != 0:
                    sys.exit(f"doit failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
                used = after.ru_utime - cpu.ru_utime + after.ru_stime - cpu.ru_stime
                results = json.loads((out / "gsm8k" / "results.json").read_text())
                score = results["metrics"]["accuracy"]["value"]
                print(f"run {run}{' (warm-up)' if run == 0 else ''}: {wall:.2f} s wall, {used:.2f} s CPU, "
                      f"{results['samples']} samples, accuracy {score:.4f}", flush=True)
                if run:
                    runs.append((wall, used))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{args.runtime}, {args.server} endpoint: median {statistics.median(w for w, _ in runs):.2f} s wall "
          f"(min {min(w for w, _ in runs):.2f}, max {max(w for w, _ in runs):.2f}), "
          f"median {statistics.median(c for _, c in runs):.2f} s CPU; ideal 2.06 s; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
