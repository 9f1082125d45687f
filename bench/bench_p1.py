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
        [--before /tmp/main-copy] [--no-preflight]

``--before`` runs another checkout too, interleaved (after, before, after, …).
``--no-preflight`` runs this checkout once more in each round with
``execution.preflight: false``: no probe at all, the most that starting a
container (or the harness) while the probe is out could save.

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
    parser.add_argument("--before", help="another checkout (e.g. a copy of main) to run as well, interleaved")
    parser.add_argument("--no-preflight", action="store_true",
                        help="also this checkout with execution.preflight: false, interleaved")
    args = parser.parse_args()
    os.environ.setdefault("EVALTASKS_DATA_DIR", str(DATA_DIR))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    script = REPO / "tests" / "support" / "endpoint.py" if args.server == "fake" else REPO / "bench" / "instant_endpoint.py"
    server = subprocess.Popen([sys.executable, str(script), "--port", "0", "--latency", str(args.latency)],
                              stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().split()[1] + "/chat/completions"
    # name → (code, preflight)
    codes = {"after": (REPO, True), **({"before": (Path(args.before).resolve(), True)} if args.before else {}),
             **({"after, no preflight": (REPO, False)} if args.no_preflight else {})}
    runs = {name: [] for name in codes}
    scores = set()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(args.repeat + 1):      # run 0 builds the image or venv if needed: not counted
                for n, (name, (code, preflight)) in enumerate(codes.items()):   # interleaved: each sees the machine as it is then
                    wall, used, score = one_run(code, url, Path(tmp) / f"{n}-{run}", args.runtime, env, preflight)
                    print(f"{name} run {run}{' (warm-up)' if run == 0 else ''}: {wall:.2f} s wall, "
                          f"{used:.2f} s CPU, accuracy {score:.4f}, load average {os.getloadavg()[0]:.1f}",
                          flush=True)
                    scores.add(score)
                    if run:
                        runs[name].append((wall, used))
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert len(scores) == 1, f"the score moved: {scores}"
    for name, results in runs.items():
        print(f"{name}: {args.runtime}, {args.server} endpoint: median {statistics.median(w for w, _ in results):.2f} s "
              f"wall (min {min(w for w, _ in results):.2f}, max {max(w for w, _ in results):.2f}), "
              f"median {statistics.median(c for _, c in results):.2f} s CPU; ideal 2.06 s; "
              f"load average {os.getloadavg()[0]:.1f}")


def one_run(code, url, folder, runtime, env, preflight=True):
    """(wall s, CPU s of the doit process tree, score) of one fresh run."""
    out = folder / "out"
    cfg = write_config(folder.with_suffix(".yaml"), url, out, tasks=[
        {"name": "gsm8k", "overrides": {"config.params.parallelism": 64}}],
        execution={"runtime": runtime, "extra_docker_args": "--network host", "preflight": preflight})
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # cwd: ``-m doit`` imports evaltasks (and its dodo.py) from there, another checkout's with --before.
    done = subprocess.run([sys.executable, "-m", "doit", f"config={cfg}"], cwd=code, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"doit failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    results = json.loads((out / "gsm8k" / "results.json").read_text())
    score = results["metrics"]["accuracy"]["value"]
    assert results["samples"] == 1319, results["samples"]
    return wall, after.ru_utime - cpu.ru_utime + after.ru_stime - cpu.ru_stime, score

if __name__ == "__main__":
    main()
