"""The response cache's cost per reply, this checkout beside another (``--before``):
``get`` (a miss) then ``put`` of N replies into a fresh cache folder, as a first
run does, in this process; user and system CPU time per reply, interleaved runs.

    python bench/bench_cache_put.py --before /tmp/main-copy [--replies 6000] [--repeat 5]
"""

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPLY = {"id": "x", "object": "chat.completion", "model": "test-model",
         "choices": [{"index": 0, "message": {"role": "assistant", "content": "The answer is (A).\nAnswer: A"},
                      "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}


def one_run(replies):
    """In a child process whose sys.path starts with the code to measure."""
    from evaltasks.harness.cache import ResponseCache

    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(replies)]
    with tempfile.TemporaryDirectory() as folder:      # removed after (a file per reply before 2026-12-06)
        responses = ResponseCache(folder)
        before = os.times()
        for key in keys:
            responses.get(key)
            responses.put(key, REPLY)
        after = os.times()
    print((after.user - before.user) / replies * 1e6, (after.system - before.system) / replies * 1e6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--replies", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return one_run(args.replies)
    runs = {"before": [], "after": []}
    for _ in range(args.repeat):
        for name, code in (("before", Path(args.before).resolve()), ("after", REPO)):
            done = subprocess.run([sys.executable, __file__, "--child", "--before", "-", "--replies",
                                   str(args.replies)], env=dict(os.environ, PYTHONPATH=str(code)),
                                  capture_output=True, text=True, check=True)
            runs[name].append(tuple(map(float, done.stdout.split())))
    print(f"{args.replies} replies, get (miss) + put into a fresh cache, {args.repeat} interleaved runs, "
          f"load average {os.getloadavg()[0]:.1f}")
    for name, results in runs.items():
        print(f"{name:>7}: user {statistics.median(u for u, _ in results):.1f} µs, "
              f"system {statistics.median(s for _, s in results):.1f} µs per reply (medians)")


if __name__ == "__main__":
    main()
