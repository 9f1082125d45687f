"""Where P1's time goes, on the wall clock: one fresh `doit` run of gsm8k 1,319 at
parallelism 64 against a 100 ms endpoint (bench_p1.py's run), with the moments
that bound each phase.

The endpoint is bench/instant_endpoint.py's, served from a thread of this process,
which notes when each request arrives: the first is the launcher's preflight probe,
the second the harness's first request, the last the harness's last. With the
mtimes of results.json and summary.* and doit's exit, a run splits into:

  start → probe sent          Python, doit and the launcher start, load the config, plan
  probe sent → first request  the probe's 100 ms, then the harness starts (venv process or container)
  first request → last reply  the requests (ideal: 21 waves of 100 ms = 2.06 s)
  last reply → results.json   the harness scores, writes samples and results
  results.json → summary      the harness ends (a container is removed), the summary task runs
  summary → exit              doit and the launcher finish

Also printed: how many requests arrived in each 100 ms after the first (64 a wave
when nothing holds the harness back).

``--bare`` also runs, interleaved, bench_vs_lmeval.py's bare asyncio client (a
process of its own, next to no CPU per request) on the same 1,319 gsm8k
prompts at 64 against the same endpoint: its first request → last reply is
the floor of that phase here, set by the waves and the endpoint's timers, not
by the client.

    python bench/p1_timeline.py [--runtime process|docker] [--repeat 3] [--bare]
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

import bench_vs_lmeval  # noqa: E402
import instant_endpoint  # noqa: E402
from conftest import DATA_DIR, write_config  # noqa: E402

LATENCY = 0.1
PHASES = ("start → probe sent", "probe sent → first request", "first request → last reply",
          "last reply → results.json", "results.json → summary", "summary → exit", "total")


class _Noting(instant_endpoint._Protocol):
    arrivals = []

    def data_received(self, data):
        before = instant_endpoint._Protocol.count
        super().data_received(data)
        now = time.time()
        self.arrivals.extend([now] * (instant_endpoint._Protocol.count - before))


ANSWER = "Answer: 1"


def serve():
    _Noting.reply = instant_endpoint.reply_bytes(ANSWER)
    _Noting.latency = LATENCY
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(_Noting, "127.0.0.1", 0))
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"


def one_run(url, folder, runtime, env):
    _Noting.arrivals.clear()
    out = folder / "out"
    cfg = write_config(folder.with_suffix(".yaml"), url, out, tasks=[
        {"name": "gsm8k", "overrides": {"config.params.parallelism": 64}}],
        execution={"runtime": runtime, "extra_docker_args": "--network host"})
    started = time.time()
    done = subprocess.run([sys.executable, "-m", "doit", f"config={cfg}"], cwd=REPO, env=env,
                          capture_output=True, text=True)
    ended = time.time()
    if done.returncode != 0:
        sys.exit(f"doit failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    probe, first, last = _Noting.arrivals[0], _Noting.arrivals[1], _Noting.arrivals[-1]
    results = (out / "gsm8k" / "results.json").stat().st_mtime
    summary = max(p.stat().st_mtime for p in out.glob("summary.*"))
    marks = [started, probe, first, last + LATENCY, results, summary, ended]
    spans = [b - a for a, b in zip(marks, marks[1:])] + [ended - started]
    waves = [0] * (int((last - first) / LATENCY) + 1)
    for t in _Noting.arrivals[1:]:
        waves[int((t - first) / LATENCY)] += 1
    return spans, waves


def bare_run(url, prompt_file):
    """First request → last reply of the bare client on the prompts at parallelism 64."""
    _Noting.arrivals.clear()
    bench_vs_lmeval.bare(url.removesuffix("/chat/completions"), prompt_file, 64, ANSWER)
    return _Noting.arrivals[-1] + LATENCY - _Noting.arrivals[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="process", choices=["docker", "process"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bare", action="store_true", help="the bare client's request phase too, interleaved")
    args = parser.parse_args()
    os.environ.setdefault("EVALTASKS_DATA_DIR", str(DATA_DIR))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    url = serve()
    runs, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        prompt_file = str(Path(tmp) / "prompts.json")
        if args.bare:
            bench_vs_lmeval.prompts(1319, prompt_file, "gsm8k")
        for run in range(args.repeat + 1):      # run 0 builds the venv or image if needed: not counted
            spans, waves = one_run(url, Path(tmp) / f"run-{run}", args.runtime, env)
            print(f"run {run}{' (warm-up)' if run == 0 else ''}: " + ", ".join(
                f"{name} {s:.3f}" for name, s in zip(PHASES, spans)), flush=True)
            print(f"  requests per 100 ms after the first: {waves}")
            if args.bare:
                bare.append(bare_run(url, prompt_file))
                print(f"  bare client: first request → last reply {bare[-1]:.3f}", flush=True)
            if run:
                runs.append(spans)
    print(f"{args.runtime}, medians of {len(runs)} runs (s), load average {os.getloadavg()[0]:.1f}:")
    for i, name in enumerate(PHASES):
        print(f"  {name:<28} {statistics.median(r[i] for r in runs):.3f}")
    if args.bare:
        print(f"  bare client's first request → last reply: {statistics.median(bare[1:]):.3f} "
              f"({min(bare[1:]):.3f}–{max(bare[1:]):.3f})")


if __name__ == "__main__":
    main()
