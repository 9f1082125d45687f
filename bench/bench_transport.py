"""The harness's HTTP client alone: ``Client.post`` of N chat payloads (~1.5 KB
each) from a pool of threads (as the workers did until 2026-12-06) and from one
thread, and ``Client.apost`` from as many coroutines on one event loop (as the
harness sends now; "nan" for a checkout without it), against
bench/instant_endpoint.py; CPU ms per request of this process, this checkout
beside another (``--before``), interleaved.

    python bench/bench_transport.py --before /tmp/main-copy [--requests 6000] [--threads 128] [--repeat 3]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(url, requests, threads):
    """In a process whose PYTHONPATH is the code measured: (threaded, serial, event loop)
    CPU ms per request."""
    import asyncio

    from evaltasks.harness.client import Client

    client = Client(url, parallelism=threads, log=lambda m: None)
    payloads = [{"model": "test-model", "messages": [{"role": "user", "content": f"question {i} " + "x" * 1500}],
                 "max_tokens": 64} for i in range(requests)]
    cpu = time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(client.post, payloads))
    threaded = (time.process_time() - cpu) / requests * 1000
    cpu = time.process_time()
    for payload in payloads[: requests // 4]:
        client.post(payload)
    serial = (time.process_time() - cpu) / (requests // 4) * 1000
    on_loop = float("nan")
    if hasattr(client, "apost"):
        left = iter(payloads)

        async def worker():
            for payload in left:
                await client.apost(payload)

        async def all_of_them():
            await asyncio.gather(*(worker() for _ in range(threads)))
            client.close_loop()

        cpu = time.process_time()
        asyncio.run(all_of_them())
        on_loop = (time.process_time() - cpu) / requests * 1000
    print(threaded, serial, on_loop)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--threads", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), int(args.child[2]))
    sys.path.insert(0, str(REPO / "bench"))
    from bench_vs_lmeval import start_endpoint, stop_endpoint

    server, url = start_endpoint()
    runs = {"before": [], "after": []}
    loads = []
    try:
        for _ in range(args.repeat):
            for name, code in (("before", Path(args.before).resolve()), ("after", REPO)):
                loads.append(os.getloadavg()[0])
                done = subprocess.run([sys.executable, __file__, "--before", "-", "--child", url + "/chat/completions",
                                       str(args.requests), str(args.threads)],
                                      env=dict(os.environ, PYTHONPATH=str(code)), capture_output=True, text=True,
                                      check=True)
                runs[name].append(tuple(map(float, done.stdout.split())))
    finally:
        stop_endpoint(server)
    print(f"{args.requests} requests, {args.repeat} interleaved runs, load average {min(loads):.1f}–{max(loads):.1f}")
    for name, results in runs.items():
        print(f"{name:>7}: {statistics.median(r[0] for r in results):.3f} CPU ms / request from {args.threads} threads, "
              f"{statistics.median(r[1] for r in results):.3f} from one, "
              f"{statistics.median(r[2] for r in results):.3f} from {args.threads} coroutines on an event loop "
              f"(medians)")


if __name__ == "__main__":
    main()
