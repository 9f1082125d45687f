"""HumanEval's program throughput: the 164 canonical solutions scored from a
harness container, (a) as child processes of the harness (no sandbox container,
as before issue 13) and (b) through a sandbox container (the launcher's way now),
plus what starting and removing the sandbox container costs per task.

Run by hand:
    python bench/bench_sandbox.py [--repeat 3]
and record the figures in bench/RESULTS.md with the machine and date.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA_DIR = REPO.parent / "shared" / "datasets"

import docker  # noqa: E402

from evaltasks.executors.docker import image
from evaltasks.executors.docker import sandbox as sandbox_container

SCORE = r"""
import time
from concurrent.futures import ThreadPoolExecutor
from evaltasks.harness.benchmarks import humaneval
items = humaneval.load("/data/humaneval")
started = time.monotonic()
with ThreadPoolExecutor(8) as pool:
    passed = sum(r["passed"] for r in pool.map(lambda i: humaneval.score(i["gold"], i), items))
print(f"{passed} {time.monotonic() - started:.3f}")
"""


def score(client, harness_image, extra):
    volumes = dict(extra.get("volumes", {}))
    volumes[str((DATA_DIR / "humaneval").resolve())] = {"bind": "/data/humaneval", "mode": "ro"}
    out = client.containers.run(harness_image, entrypoint=["python3", "-c", SCORE], remove=True,
                                volumes=volumes, environment=extra.get("environment", {}))
    passed, seconds = out.decode().split()
    if passed != "164":         # a timeout on a loaded machine: say so beside the figure
        print(f"  note: {passed} of 164 passed in {seconds} s")
    return float(seconds)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    client = docker.from_env()
    harness_image = image.ensure(client, image.base_image(), log=lambda m: None)
    local, boxed, lifecycle = [], [], []
    for n in range(args.repeat):
        local.append(score(client, harness_image, {}))
        started = time.monotonic()
        box = sandbox_container.start(client, harness_image, f"evaltasks-bench-sandbox-{n}", {})
        try:
            boxed.append(score(client, harness_image, sandbox_container.harness_options(box)))
        finally:
            sandbox_container.remove(box)
        lifecycle.append(time.monotonic() - started - boxed[-1])
    for name, values in (("(a) child processes of the harness", local), ("(b) sandbox container", boxed)):
        print(f"{name}: 164 programs, median {statistics.median(values):.2f} s "
              f"(min {min(values):.2f}, max {max(values):.2f}), "
              f"{164 / statistics.median(values):.1f} programs/s")
    print(f"sandbox container start + harness container run + removal, beyond scoring: "
          f"median {statistics.median(lifecycle):.2f} s")


if __name__ == "__main__":
    main()
