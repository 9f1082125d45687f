"""Launcher overhead, measured end to end with real doit, Docker and HTTP.

  (a) ``doit`` over 20 and 200 configured tasks that are all up to date (what a
      user pays to confirm nothing needs doing; it should not grow much with the
      config), and ``doit list`` over the same configs;
  (b) the fixed cost of one task — container start → results.json — against an
      endpoint that answers instantly, with limit_samples 1.

Run by hand on a machine set up with scripts/setup.sh:
    python bench/bench_launcher.py [--repeat 5] [--tasks 20 200]
and record the figures in bench/RESULTS.md with the machine and date.
"""

import argparse
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
from endpoint import FakeEndpoint  # noqa: E402


CPU = []   # CPU seconds (user + sys) of each doit call, beside its wall time: on a shared machine
           # the wall time moves with the load, the CPU time much less.


def doit(*args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # As on a user's machine: Python may write and reuse its bytecode cache (some
    # shells, coding sandboxes among them, set PYTHONDONTWRITEBYTECODE, which makes
    # every run compile the launcher and its libraries again).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, "-m", "doit", *args], cwd=REPO, capture_output=True, text=True,
                          env=env)
    if done.returncode != 0:
        sys.exit(f"doit {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return time.perf_counter() - started


def figures(samples):
    cpu = CPU[-len(samples):]
    return (f"median {statistics.median(samples):.3f}s, min {min(samples):.3f}s, max {max(samples):.3f}s "
            f"(CPU median {statistics.median(cpu):.3f}s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tasks", type=int, nargs="+", default=[20, 200],
                        help="sizes of the all-up-to-date configs (default: 20 200)")
    args = parser.parse_args()
    os.environ.setdefault("EVALTASKS_DATA_DIR", str(DATA_DIR))

    with FakeEndpoint(lambda payload: "Answer: 1") as ep, tempfile.TemporaryDirectory() as tmp:
        for count in args.tasks:
            out = Path(tmp) / f"results-{count}"
            tasks = [{"name": "gsm8k", "id": f"t{i:03d}", "overrides": {"config.params.limit_samples": 1}}
                     for i in range(count)]
            cfg = write_config(Path(tmp) / f"tasks-{count}.yaml", ep.chat_url, out, tasks=tasks)
            print(f"(a) {count} tasks: first run (builds nothing if the image exists): "
                  f"{doit('-n', '4', f'config={cfg}'):.1f}s")
            up_to_date = [doit("-n", "4", f"config={cfg}") for _ in range(args.repeat)]
            print(f"(a) doit, {count} tasks all up to date: {figures(up_to_date)}")
            listing = [doit("list", f"config={cfg}") for _ in range(args.repeat)]
            print(f"(a) doit list, {count} tasks:           {figures(listing)}")

        one = write_config(Path(tmp) / "one.yaml", ep.chat_url, Path(tmp) / "one", tasks=[
            {"name": "gsm8k", "overrides": {"config.params.limit_samples": 1}}])
        doit(f"config={one}")
        costs, cpu = [], []
        for _ in range(args.repeat):
            doit("forget", f"config={one}")
            costs.append(doit(f"config={one}"))
            cpu.append(CPU[-1])
        CPU.extend(cpu)
        print(f"(b) one task, container start → results.json (whole doit run): {figures(costs)}")


if __name__ == "__main__":
    main()
