"""What a `doit` process spends after its work is done: the interpreter's exit.

bench_launcher.py (a)'s runs again (200 up-to-date tasks; a bare dodo.py of as
many ``config_changed`` tasks beside them, interleaved), each with one more
atexit handler, registered before doit starts so that it runs last: it notes
the process's CPU time then. The rest of the process's CPU (user + sys, from
the parent's getrusage) is the teardown: freeing what is left, the garbage
collections of the exit. ``--before``: an older checkout, timed the same way.

    python bench/exit_cost.py [--tasks 200] [--repeat 15] [--before /tmp/main]
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from bench_launcher import bare_doit_folder, doit  # noqa: E402
from conftest import DATA_DIR, write_config  # noqa: E402
from support.endpoint import FakeEndpoint  # noqa: E402

CHILD = (
    "import atexit, resource, runpy, sys\n"
    "def noted():\n"
    "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    sys.stderr.write(f'ATEXIT {r.ru_utime + r.ru_stime}\\n')\n"
    "atexit.register(noted)\n"
    "sys.argv = ['doit', '-n', '4'] + sys.argv[1:]\n"
    "runpy.run_module('doit', run_name='__main__')\n")


def one(cwd, args, code=None):
    """``(CPU seconds in all, CPU seconds after the last atexit handler)``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if code:
        env["PYTHONPATH"] = str(code)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=cwd, env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    noted = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("ATEXIT ")]
    if done.returncode != 0 or not noted:
        sys.exit(f"run failed in {cwd}:\n{done.stdout}{done.stderr}")
    total = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return total, total - float(noted[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--before", type=Path, help="an older checkout, timed the same way")
    args = parser.parse_args()
    os.environ.setdefault("EVALTASKS_DATA_DIR", str(DATA_DIR))
    with FakeEndpoint(lambda payload: "Answer: 1") as ep, tempfile.TemporaryDirectory() as tmp:
        tasks = [{"name": "gsm8k", "id": f"t{i:03d}", "overrides": {"config.params.limit_samples": 1}}
                 for i in range(args.tasks)]
        runs = {"bare dodo.py": (bare_doit_folder(tmp, args.tasks), [], None)}
        for name, code in [("this", None)] + ([("before", args.before)] if args.before else []):
            cfg = write_config(Path(tmp) / f"{name}.yaml", ep.chat_url, Path(tmp) / f"out-{name}", tasks=tasks,
                               execution={"runtime": "process"})
            doit("-n", "4", f"config={cfg}", cwd=code or REPO, code=code)
            runs[name] = (code or REPO, [f"config={cfg}"], code)
        timed = {name: [] for name in runs}
        for _ in range(args.repeat):        # interleaved
            for name, (cwd, argv, code) in runs.items():
                timed[name].append(one(cwd, argv, code))
    bare = statistics.median(total for total, _ in timed["bare dodo.py"])
    print(f"{args.tasks} up-to-date tasks, medians of {args.repeat} interleaved runs, "
          f"load average {os.getloadavg()[0]:.1f}")
    for name, rows in timed.items():
        total = statistics.median(t for t, _ in rows)
        exit_cpu = statistics.median(e for _, e in rows)
        print(f"  {name:<13} CPU {total * 1000:6.1f} ms ({total / bare:.3f}x the bare dodo.py's), "
              f"of which after the last atexit handler {exit_cpu * 1000:5.1f} ms")


if __name__ == "__main__":
    main()
