"""What Docker itself costs a task's container on this machine, apart from
anything the harness does: create, start, the exit seen, remove, for a
container of the harness image that runs ``true``, on each network mode a
task's container can have (the default bridge; ``--network host``, as the P1
benches run; ``none``), and with the harness's stdin attached before the start
as the docker executor does (containers.start_with_secrets).

These are the floor under a Docker task's fixed cost: the start is on the
critical path of every run after its preflight (the preflight must answer
before any container exists: tests/unit/pipeline/test_preflight.py).

    python bench/container_start.py [--repeat 7] [--image evaltasks-harness:TAG]

The image defaults to the newest harness image (build one with any Docker run).
Runs are interleaved across the variants; medians and minima in ms.
"""

import argparse
import statistics
import time

import docker

VARIANTS = {
    "bridge (the default)": {},
    "--network host": {"network_mode": "host"},
    "--network none": {"network_mode": "none"},
    "host, stdin attached first": {"network_mode": "host", "stdin_open": True},
}


def newest_harness_image(client):
    images = sorted(client.images.list(name="evaltasks-harness"), key=lambda i: i.attrs["Created"], reverse=True)
    if not images:
        raise SystemExit("no evaltasks-harness image: run a task with runtime docker once first")
    return images[0].tags[0]


def one(client, image, options):
    """(create, start, exit seen, remove) in ms."""
    marks = [time.perf_counter()]
    box = client.containers.create(image, entrypoint=["true"], detach=True, **options)
    marks.append(time.perf_counter())
    if options.get("stdin_open"):
        stdin = box.attach_socket(params={"stdin": 1, "stream": 1})
        box.start()
        stdin.close()
    else:
        box.start()
    marks.append(time.perf_counter())
    box.wait()
    marks.append(time.perf_counter())
    box.remove(force=True)
    marks.append(time.perf_counter())
    return [(b - a) * 1000 for a, b in zip(marks, marks[1:])]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--image")
    args = parser.parse_args()
    client = docker.from_env()
    image = args.image or newest_harness_image(client)
    runs = {name: [] for name in VARIANTS}
    for run in range(args.repeat + 1):      # run 0 warms the daemon's caches: not counted
        for name, options in VARIANTS.items():
            spans = one(client, image, options)
            if run:
                runs[name].append(spans)
    print(f"{image}, {args.repeat} runs each (ms: median, min):")
    print(f"  {'':28} {'create':>12} {'start':>12} {'exit seen':>12} {'remove':>12}")
    for name, spans in runs.items():
        cells = [f"{statistics.median(s[i] for s in spans):5.1f} {min(s[i] for s in spans):5.1f}" for i in range(4)]
        print(f"  {name:28} " + " ".join(f"{c:>12}" for c in cells))


if __name__ == "__main__":
    main()
