"""Launcher overhead, measured end to end with real doit, Docker and HTTP.

  (a) ``doit`` over 20 and 200 configured tasks that are all up to date (what a
      user pays to confirm nothing needs doing; it should not grow much with the
      config), and ``doit list`` over the same configs; beside each, interleaved
      with it, a bare dodo.py of as many up-to-date ``config_changed`` tasks:
      doit's own cost on this machine at that moment, the yardstick for ours;
  (b) the fixed cost of one task against an endpoint that answers instantly, with
      limit_samples 1: the whole doit run (bench_fixed_cost.py times the part from
      container start to results.json, and its phases).

Run by hand on a machine set up with scripts/setup.sh:
    python bench/bench_launcher.py [--repeat 5] [--tasks 20 200] [--runtime process]
        [--before /tmp/main] [--parts a]
``--before``: a checkout of an older evaltasks (e.g. ``git archive main | tar -x -C
/tmp/main``), timed in (a) interleaved with this one and the bare dodo.py, on an
output dir of its own (its code is put first on PYTHONPATH). ``evaltasks run`` of the
same config is timed the same way.
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
from support.endpoint import FakeEndpoint  # noqa: E402


def doit(*args, cwd=REPO, code=None):
    """``(wall seconds, CPU seconds)`` of one ``python -m doit`` run (of the
    evaltasks in folder ``code`` when given, else this one's). The CPU time
    (user + sys) is beside the wall time because on a shared machine the wall time
    moves with the load, the CPU time much less."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # As on a user's machine: Python may write and reuse its bytecode cache (some
    # shells, coding sandboxes among them, set PYTHONDONTWRITEBYTECODE, which makes
    # every run compile the launcher and its libraries again).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if code:
        env["PYTHONPATH"] = str(code)
    command = ["doit", *args] if args[:1] != ("evaltasks",) else list(args)
    done = subprocess.run([sys.executable, "-m", *command], cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - started, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def figures(runs):
    wall, cpu = [w for w, _ in runs], [c for _, c in runs]
    return (f"median {statistics.median(wall):.3f}s, min {min(wall):.3f}s, max {max(wall):.3f}s "
            f"(CPU median {statistics.median(cpu):.3f}s)")


def ratios(runs, baseline):
    """``runs``' medians over ``baseline``'s, CPU and wall; and the median of the
    ratios round by round (each run over the bare run timed beside it: steadier
    when the machine's speed drifts during the bench)."""
    ratio = lambda i: statistics.median(r[i] for r in runs) / statistics.median(r[i] for r in baseline)
    paired = statistics.median(r[1] / b[1] for r, b in zip(runs, baseline))
    return f"{ratio(1):.3f}x CPU (paired {paired:.3f}x), {ratio(0):.3f}x wall of"


BARE_DODO = """\
from doit.tools import config_changed

DOIT_CONFIG = {{"backend": "sqlite3", "dep_file": ".doit.db", "verbosity": 0}}


def task_eval():
    for i in range({count}):
        yield {{"name": f"t{{i:03d}}", "actions": [f"echo {{i}} > out{{i}}.txt"], "targets": [f"out{{i}}.txt"],
               "uptodate": [config_changed({{"limit_samples": 1, "model_id": "m", "task": i}})]}}
"""


def bare_doit_folder(tmp, count):
    """doit's own cost for ``count`` up-to-date tasks, the yardstick issue 8 measured
    ours against: a dodo.py of ``count`` tasks with a config_changed check each."""
    folder = Path(tmp) / f"bare-{count}"
    folder.mkdir()
    (folder / "dodo.py").write_text(BARE_DODO.format(count=count))
    doit("-n", "4", cwd=folder)
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tasks", type=int, nargs="+", default=[20, 200],
                        help="sizes of the all-up-to-date configs (default: 20 200)")
    parser.add_argument("--runtime", choices=["docker", "process"], default="docker")
    parser.add_argument("--before", type=Path, help="a checkout of an older evaltasks to time beside this one")
    parser.add_argument("--parts", default="ab", help="which parts to run (default: ab)")
    args = parser.parse_args()
    os.environ.setdefault("EVALTASKS_DATA_DIR", str(DATA_DIR))

    with FakeEndpoint(lambda payload: "Answer: 1") as ep, tempfile.TemporaryDirectory() as tmp:
        for count in args.tasks if "a" in args.parts else ():
            out = Path(tmp) / f"results-{count}"
            tasks = [{"name": "gsm8k", "id": f"t{i:03d}", "overrides": {"config.params.limit_samples": 1}}
                     for i in range(count)]
            cfg = write_config(Path(tmp) / f"tasks-{count}.yaml", ep.chat_url, out, tasks=tasks,
                               execution={"runtime": args.runtime})
            print(f"(a) {count} tasks: first run (builds nothing if the image exists): "
                  f"{doit('-n', '4', f'config={cfg}')[0]:.1f}s")
            if args.before:     # its own output dir: see phases_up_to_date.py's --before-config
                cfg_before = write_config(Path(tmp) / f"tasks-{count}-before.yaml", ep.chat_url,
                                          Path(tmp) / f"results-{count}-before", tasks=tasks,
                                          execution={"runtime": args.runtime})
                doit("-n", "4", f"config={cfg_before}", cwd=args.before, code=args.before)
            bare = bare_doit_folder(tmp, count)
            timed = {"doit": [], "bare": [], "run": []}
            if args.before:
                timed.update({"doit (before)": [], "run (before)": []})
            for _ in range(args.repeat):     # interleaved: all see the machine as it is then
                timed["doit"].append(doit("-n", "4", f"config={cfg}"))
                timed["bare"].append(doit("-n", "4", cwd=bare))
                if args.before:
                    timed["doit (before)"].append(doit("-n", "4", f"config={cfg_before}", cwd=args.before,
                                                       code=args.before))
                timed["run"].append(doit("evaltasks", "run", "--config", str(cfg)))
                if args.before:
                    timed["run (before)"].append(doit("evaltasks", "run", "--config", str(cfg_before),
                                                      cwd=args.before, code=args.before))
            print(f"(a) load average {os.getloadavg()[0]:.1f}")
            bare_runs = timed.pop("bare")
            print(f"(a) bare doit, {count} config_changed tasks: {figures(bare_runs)}")
            for name, runs in timed.items():
                print(f"(a) {name}, {count} tasks all up to date: {figures(runs)}; "
                      f"{ratios(runs, bare_runs)} the bare dodo.py's")
            listing = [doit("list", f"config={cfg}") for _ in range(args.repeat)]
            print(f"(a) doit list, {count} tasks:           {figures(listing)}")

        if "b" not in args.parts:
            return
        one = write_config(Path(tmp) / "one.yaml", ep.chat_url, Path(tmp) / "one", tasks=[
            {"name": "gsm8k", "overrides": {"config.params.limit_samples": 1}}])
        doit(f"config={one}")
        costs = []
        for _ in range(args.repeat):
            doit("forget", f"config={one}")
            costs.append(doit(f"config={one}"))
        print(f"(b) one cached task, whole doit run (container start → results.json: bench_fixed_cost.py): "
              f"{figures(costs)}")


if __name__ == "__main__":
    main()
