"""Where a `doit` run with nothing to do spends its CPU, phase by phase: the
profile behind bench_launcher.py (a)'s figure, for this checkout and, with
``--before``, an older one, interleaved.

    python bench/phases_up_to_date.py CONFIG [--before /tmp/main [--before-config CONFIG2]] [--repeat 7]

CONFIG must be all up to date already (run it once). ``--before-config``: the same
config on an output dir of its own for the older code (by default CONFIG): a run
of this checkout reuses what the output dir's previous run recorded, which an
older launcher's run in between would not have. Each run is a fresh
``python`` that runs doit's ``main`` as `doit -n 4 config=CONFIG` would, with the
launcher's phases wrapped to add up their CPU time (``time.thread_time``: the
phases all run in the main thread): imports, ``session.open`` (loading the
config, of which ``compose.load``; the executor's module), generating doit's
tasks, and the reporter's calls that write the run history. What is left of
the total is doit's own: reading its database, checking each task.
Medians per phase, in milliseconds.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Run in the child: times each phase into a dict, printed as JSON at exit.
CHILD = r"""
import atexit, json, sys, time
T = time.thread_time
acc = {}
t0 = T()
import doit.doit_cmd, doit.reporter, doit.tools, doit.loader, doit.runner, doit.dependency
t1 = T()
from evaltasks.pipeline import console, doit_entry, plan
from evaltasks.config import compose
from evaltasks.executors import base
acc["import doit"] = t1 - t0
acc["import evaltasks"] = T() - t1

def wrap(owner, name, label):
    inner = getattr(owner, name)
    def timed(*a, **k):
        t = T()
        try:
            return inner(*a, **k)
        finally:
            acc[label] = acc.get(label, 0) + T() - t
    setattr(owner, name, timed)

wrap(doit_entry.session, "open", "session.open")
wrap(compose, "load", "  of which compose.load")
wrap(base, "choose", "  of which executors.choose")
# _record_jobs: since 2026-12-06 the jobs are recorded there (with the up-to-date ones), not in initialize.
for name in ("initialize", "_record_jobs", "_record_up_to_date", "complete_run"):
    if hasattr(console.EvalReporter, name):
        wrap(console.EvalReporter, name, f"history: {name}")
tasks = plan.doit_tasks
def doit_tasks(run):
    generated = tasks(run)
    while True:
        t = T()
        try:
            task = next(generated)
        except StopIteration:
            break
        finally:
            acc["doit_tasks"] = acc.get("doit_tasks", 0) + T() - t
        yield task
plan.doit_tasks = doit_tasks
atexit.register(lambda: sys.stderr.write("PHASES " + json.dumps(dict(acc, total=T() - t0)) + "\n"))
sys.argv = ["doit", "-n", "4", "config=" + sys.argv[1]]
import runpy
runpy.run_module("doit", run_name="__main__")
"""


def phases(config, code):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if code:
        env["PYTHONPATH"] = str(code)
    done = subprocess.run([sys.executable, "-c", CHILD, str(config)], cwd=code or REPO, env=env,
                          capture_output=True, text=True)
    line = next((l for l in done.stderr.splitlines() if l.startswith("PHASES ")), None)
    if done.returncode != 0 or line is None:
        sys.exit(f"run failed:\n{done.stdout}{done.stderr}")
    return json.loads(line[len("PHASES "):])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--before", type=Path, help="a checkout of an older evaltasks, timed beside this one")
    parser.add_argument("--before-config", type=Path)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    runs = {"this": [], **({"before": []} if args.before else {})}
    for _ in range(args.repeat):
        runs["this"].append(phases(args.config.resolve(), None))
        if args.before:
            runs["before"].append(phases((args.before_config or args.config).resolve(), args.before.resolve()))
    names = list(dict.fromkeys(["import doit", "import evaltasks", "session.open", "  of which compose.load",
                                "  of which executors.choose", "doit_tasks"]
                               + sorted(k for rows in runs.values() for row in rows for k in row if k != "total")
                               + ["total"]))
    print(f"load average {os.getloadavg()[0]:.1f}; CPU ms, medians of {args.repeat} interleaved runs")
    print(f"{'phase':32s}" + "".join(f"{name:>10s}" for name in runs))
    for phase in names:
        cells = [statistics.median(row.get(phase, 0) for row in rows) * 1000 for rows in runs.values()]
        print(f"{phase:32s}" + "".join(f"{c:10.1f}" for c in cells))


if __name__ == "__main__":
    main()
