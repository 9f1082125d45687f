"""Issue 22, the fixed cost of one task: the moment the executor asks Docker to
create the container (runtime docker) or spawns the harness process (runtime
process) → the moment results.json is written, for one gsm8k task with
``limit_samples: 1`` whose reply is already in the response cache (``doit forget``,
then the same run again). Beside it: the whole ``doit`` run (start-up, preflight,
the summary task), and the launcher-side phases after results.json (container
wait and removal, process reaping).

How it is timed: ``doit`` runs in a child Python (``--inner``) that wraps, for
timing only, the docker SDK's container create/start/wait/remove and
``subprocess.Popen`` of the harness, writing a nanosecond wall-clock mark for each;
results.json's mtime_ns is the end (the container shares the host's clock).
Nothing of the launcher is changed by the wrapping.

Trees compared interleaved (A, B, A, B, …): each ``--tree`` is a checkout whose
``evaltasks`` is put first on PYTHONPATH and whose dodo.py is run (so each uses
its own harness image or venv, built on the first, uncounted, run).

    python bench/bench_fixed_cost.py [--tree /tmp/main-copy] [--tree .] [--runtime docker process] [--repeat 9]
    python bench/bench_fixed_cost.py --phases [--repeat 9]

``--phases`` also splits the harness's part: its command is swapped for a Python
that runs the same ``run.main`` with the harness's own steps wrapped (marks: ``up``,
its first statement, i.e. interpreter start; ``imported``; ``cpu``, the harness
process's own CPU time up to the end of main (its imports included); ``load`` the task and its
data; ``evaluate`` the cached request and the scoring; ``samples``, ``provenance``
written/built; ``main>`` when main returned), reported in the task's log, plus a floor:
a container of the same image (and same options) whose Python prints the time
at once (``floor``). Those runs are timed apart from the plain ones above.

Prints, per tree and runtime, medians of: start → results.json, the phases, the
whole doit run's wall and CPU (user + sys of the doit process tree; for Docker
the container's CPU is dockerd's child and not in it), and the load average.
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


def _mark(path, name):
    with open(path, "a") as f:
        f.write(f"{name} {time.time_ns()}\n")


# The harness's run.main with its steps wrapped; the marks go to its log as one line.
PHASES = r"""
import time; up = time.time_ns()
import os, sys, json
import evaltasks.harness.run as run
from evaltasks.harness import provenance, samples
marks = {"up": up, "imported": time.time_ns()}
def wrap(owner, name, label):
    real = getattr(owner, name)
    def wrapped(*a, **k):
        marks.setdefault(label + "<", time.time_ns())
        try:
            return real(*a, **k)
        finally:
            marks[label + ">"] = time.time_ns()
    setattr(owner, name, wrapped)
wrap(run, "_load_items", "load"); wrap(run, "_evaluate", "evaluate")
wrap(samples.SampleSpool, "write", "samples"); wrap(provenance, "block", "provenance")
code = run.main(sys.argv[1:])
marks["main>"] = time.time_ns()
import resource; cpu = resource.getrusage(resource.RUSAGE_SELF); marks["cpu"] = cpu.ru_utime + cpu.ru_stime
sys.stdout.write("[phases] " + json.dumps(marks) + "\n"); sys.stdout.flush()
os._exit(code)
"""
FLOOR = "import time; print('[phases] {\"floor\": %d}' % time.time_ns(), flush=True)"


def inner(marks, argv):
    """Run ``doit argv`` here, with the executor's calls wrapped to leave marks
    (and with FIXED_COST_PHASES set, the harness swapped for PHASES or FLOOR)."""
    import subprocess as sp

    swap = {"phases": PHASES, "floor": FLOOR}.get(os.environ.get("FIXED_COST_PHASES"))
    popen_init = sp.Popen.__init__

    def popen(self, args, *a, **kw):
        harness = isinstance(args, (list, tuple)) and "evaltasks.harness" in args
        if harness:
            _mark(marks, "spawn")
            if swap:
                at = list(args).index("-m")
                args = [*args[:at], "-c", swap, *args[at + 2:]]
        popen_init(self, args, *a, **kw)
        if harness:
            _mark(marks, "spawned")
    sp.Popen.__init__ = popen

    real_waitid = os.waitid

    def waitid(*a, **kw):
        out = real_waitid(*a, **kw)
        _mark(marks, "exited")
        return out
    os.waitid = waitid

    def patch_docker(dc):
        def wrap(cls, method, before, after):
            real = getattr(cls, method)

            def wrapped(self, *a, **kw):
                if before:
                    _mark(marks, before)
                if swap and method == "create":
                    kw["entrypoint"] = ["python3", "-c", swap]
                out = real(self, *a, **kw)
                if after:
                    _mark(marks, after)
                return out
            setattr(cls, method, wrapped)
        wrap(dc.ContainerCollection, "create", "create", "created")
        wrap(dc.Container, "start", None, "started")
        wrap(dc.Container, "wait", "logs_done", "waited")
        wrap(dc.Container, "remove", None, "removed")

    # Wrapped once the launcher imports the SDK (importing it here would add its
    # import to the process runtime's figures).
    import importlib.abc
    import importlib.machinery

    class Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "docker.models.containers":
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            real_exec = spec.loader.exec_module

            def exec_module(module):
                real_exec(module)
                patch_docker(module)
            spec.loader.exec_module = exec_module
            return spec
    sys.meta_path.insert(0, Hook())

    from doit.doit_cmd import DoitMain
    sys.argv = ["doit", *argv]
    sys.exit(DoitMain().run(argv))


def one_run(tree, cfg, out, env):
    """Forget the task, run it again (its reply cached); the marks and figures
    (with FIXED_COST_PHASES in ``env``, the harness's own marks too)."""
    subprocess.run([sys.executable, "-m", "doit", "forget", f"config={cfg}"], cwd=tree, env=env,
                   capture_output=True, check=True)
    marks = Path(out).parent / "marks.txt"
    marks.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    started_ns = time.time_ns()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--inner", str(marks), f"config={cfg}"], cwd=tree, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 and env.get("FIXED_COST_PHASES") != "floor":    # the floor writes no results
        sys.exit(f"doit failed in {tree}:\n{done.stdout}{done.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    stamps = {}
    for line in marks.read_text().splitlines():
        name, ns = line.split()
        stamps.setdefault(name, int(ns))
    if env.get("FIXED_COST_PHASES"):
        log = (Path(out) / "gsm8k" / "logs" / "stdout.log").read_text()
        phases = json.loads(log.split("[phases] ", 1)[1].splitlines()[0])
        harness_cpu = phases.pop("cpu", None)
        stamps.update(phases)
    if env.get("FIXED_COST_PHASES") != "floor":
        stamps["results"] = (Path(out) / "gsm8k" / "results.json").stat().st_mtime_ns
    start = stamps.get("create", stamps.get("spawn"))
    rel = {k: (v - start) / 1e9 for k, v in stamps.items()}
    rel["doit_start"] = (started_ns - start) / 1e9
    if env.get("FIXED_COST_PHASES") == "phases":
        rel["harness_cpu"] = harness_cpu
    return {"wall": wall, "cpu": cpu, "load": load, **rel}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", help="checkouts to compare (default: this one)")
    parser.add_argument("--runtime", nargs="+", default=["docker", "process"])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--phases", action="store_true", help="also split the harness's part (see above)")
    parser.add_argument("--inner", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.inner:
        return inner(args.inner[0], args.inner[1:])
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import DATA_DIR, write_config
    from support.endpoint import FakeEndpoint

    trees = [str(Path(t).resolve()) for t in (args.tree or [str(REPO)])]
    os.environ.setdefault("EVALTASKS_DATA_DIR", str(DATA_DIR))
    # As on a user's machine: Python may write and reuse its bytecode cache.
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    modes = [None, "phases", "floor"] if args.phases else [None]
    results = {(t, r, m): [] for t in trees for r in args.runtime for m in modes}
    with FakeEndpoint(lambda payload: "Answer: 1") as ep, tempfile.TemporaryDirectory() as tmp:
        setups = {}
        for i, tree in enumerate(trees):
            env = dict(base_env, PYTHONPATH=tree)
            for runtime in args.runtime:
                folder = Path(tmp) / f"{i}-{runtime}"
                folder.mkdir()
                out = folder / "out"
                cfg = write_config(folder / "one.yaml", ep.chat_url, out, tasks=[
                    {"name": "gsm8k", "overrides": {"config.params.limit_samples": 1}}],
                    execution={"runtime": runtime, "extra_docker_args": "--network host"})
                first = subprocess.run([sys.executable, "-m", "doit", f"config={cfg}"], cwd=tree, env=env,
                                       capture_output=True, text=True)     # builds the image / venv: not counted
                if first.returncode != 0:
                    sys.exit(f"first run failed in {tree}:\n{first.stdout}{first.stderr}")
                setups[(tree, runtime)] = (cfg, out, env)
        for _ in range(args.repeat):
            for runtime in args.runtime:
                for mode in modes:
                    for tree in trees:      # interleaved: every tree sees the machine as it is then
                        cfg, out, env = setups[(tree, runtime)]
                        env = dict(env, FIXED_COST_PHASES=mode) if mode else env
                        results[(tree, runtime, mode)].append(one_run(tree, cfg, out, env))
    for (tree, runtime, mode), runs in results.items():
        keys = [k for k in runs[0] if all(k in r for r in runs)]
        med = {k: statistics.median(r[k] for r in runs) for k in keys}
        if mode:
            print(f"{runtime:8} {tree} ({mode} run, the harness swapped: see --phases)")
        else:
            print(f"{runtime:8} {tree}: start → results.json median {med['results']:.3f}s "
                  f"(min {min(r['results'] for r in runs):.3f}, max {max(r['results'] for r in runs):.3f}); "
                  f"whole doit run {med['wall']:.3f}s wall, {med['cpu']:.3f}s CPU; load {med['load']:.2f}")
        if "harness_cpu" in med:
            print(f"         the harness process's CPU time, imports included: median {med['harness_cpu']:.3f}s")
        phases = sorted((k for k in keys if k not in ("wall", "cpu", "load", "harness_cpu")), key=lambda k: med[k])
        print("         marks (median s from start): " + ", ".join(f"{k} {med[k]:+.3f}" for k in phases))
    print(json.dumps({f"{r}:{t}:{m}": v for (t, r, m), v in results.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
