"""Where the launcher's own steps fall in one run, from inside the launcher: a
`doit config=CONFIG` run in this process with a timestamp on entry and exit of
the steps between doit's start and the end of the summary (session.open, the
_prepare task and its preflight request, Docker's connection, image check and
leftover sweep, each task's start: dataset check, container create and start or
the harness process, the summary). p1_timeline.py times the same run from the
outside (the endpoint's arrivals, the files' mtimes); this says which launcher
step holds the critical path between them, and which thread runs it.

    python bench/launcher_trace.py CONFIG

The config's output dir should be fresh (or the task is up to date and nothing
starts). The docker SDK is imported before doit starts (to wrap its calls), so
the times before session.open are not a run's; those after it are.
"""

import functools
import runpy
import sys
import threading
import time

T0 = time.perf_counter()
MARKS = []


def mark(label):
    MARKS.append((time.perf_counter() - T0, threading.current_thread().name, label))


def wrap(owner, name):
    inner = getattr(owner, name)
    label = f"{owner.__name__.rsplit('.', 1)[-1]}.{name}"

    @functools.wraps(inner)
    def timed(*args, **kwargs):
        mark(label + " >")
        try:
            return inner(*args, **kwargs)
        finally:
            mark(label + " <")
    setattr(owner, name, timed)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    import docker.models.containers as sdk

    from evaltasks.data import datasets
    from evaltasks.executors.docker import containers, image
    from evaltasks.executors.docker.executor import DockerExecutor
    from evaltasks.executors.process.executor import ProcessExecutor
    from evaltasks.pipeline import actions, preflight, session

    for owner, names in [(session, ["open"]), (actions.Run, ["prepare", "remove_leftovers", "_execute", "summarize"]),
                         (preflight, ["check"]), (containers, ["Connecting", "_run", "start_with_secrets", "remove"]),
                         (DockerExecutor, ["_connected"]), (image, ["ensure"]), (datasets, ["ensure"]),
                         (ProcessExecutor, ["launch"]), (sdk.ContainerCollection, ["create"]),
                         (sdk.Container, ["logs", "wait"])]:
        for name in names:
            wrap(owner, name)
    sys.argv = ["doit", f"config={sys.argv[1]}"]
    try:
        runpy.run_module("doit", run_name="__main__")
    finally:
        for at, thread, label in MARKS:
            print(f"{at * 1000:9.1f} ms  {thread[:24]:24s} {label}", file=sys.stderr)


if __name__ == "__main__":
    main()
