"""Run one evaluation task: load items, query the endpoint ``parallelism`` at a
time, score, and write ``samples.jsonl`` then ``results.json`` (atomically, last).

The task description comes from ``task.json`` in the task directory, written by
the launcher; it never holds the API key's value, only the variable's name.
"""

import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from . import benchmarks, stats
from .client import ChatClient, EndpointError
from .datasets import DatasetError, data_dir
from .files import write_json_atomic, write_jsonl_atomic
from .progress import Progress


class TaskFailed(Exception):
    pass


def log(message):
    stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


def limit(items, limit_samples):
    """int → the first N items; float in (0, 1] → that fraction, rounded up (as lm-eval does)."""
    if limit_samples is None:
        return items
    if isinstance(limit_samples, float):
        return items[: math.ceil(len(items) * limit_samples)]
    return items[:limit_samples]


def _iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def run(task_dir):
    with open(os.path.join(task_dir, "task.json"), encoding="utf-8") as f:
        task = json.load(f)
    bench = benchmarks.resolve(task["benchmark"])
    module = bench.load_module()
    params = task["params"]
    endpoint = task["endpoint"]
    started = time.time()

    source = data_dir(bench.dataset)
    try:
        items = limit(module.load(source), params.get("limit_samples"))
        if hasattr(module, "expand"):
            items = module.expand(items, params)
    except FileNotFoundError as e:
        raise TaskFailed(f"dataset file missing: {e.filename}")
    except DatasetError as e:
        raise TaskFailed(f"bad dataset: {e}")
    log(f"{task['id']}: {bench.name}, {len(items)} samples, model {endpoint['model_id']} "
        f"at {endpoint['url']}, parallelism {params['parallelism']}")

    key_name = endpoint.get("api_key_name")
    client = ChatClient(
        endpoint["url"], endpoint["model_id"], os.environ.get(key_name) if key_name else None,
        parallelism=params["parallelism"], request_timeout=params["request_timeout"],
        max_retries=params["max_retries"],
        generation={k: params.get(k) for k in ("temperature", "top_p", "max_new_tokens", "seed")},
        adapter=endpoint.get("adapter_config"), log=log,
    )
    progress = Progress(os.path.join(task_dir, "progress.json"), len(items), log=log)

    def evaluate(index):
        item = items[index]
        messages = module.prompt(item, params)
        try:
            request, response = client.chat(messages)
        except EndpointError as e:
            log(f"sample {index} failed: {e}")
            progress.advance(failed=True)
            return {"index": index, "prompt": messages, "error": str(e)}
        extracted = module.extract(response)
        scored = module.score(extracted, item)
        sample = {
            "index": index, "prompt": request["messages"], "response": response,
            "extracted": extracted, "gold": item["gold"],
        }
        sample.update(scored if isinstance(scored, dict) else {"score": scored})
        progress.advance()
        return sample

    with ThreadPoolExecutor(max_workers=params["parallelism"]) as pool:
        samples = list(pool.map(evaluate, range(len(items))))
    client.close()

    failed = [s for s in samples if "error" in s]
    if failed:
        raise TaskFailed(f"{len(failed)} of {len(samples)} samples failed; first: {failed[0]['error']}")

    metrics = module.metrics(samples, params) if hasattr(module, "metrics") else stats.accuracy(samples)
    finished = time.time()
    results = {
        "task": task["id"],
        "benchmark": bench.name,
        "model_id": endpoint["model_id"],
        "endpoint": {"url": endpoint["url"], "type": endpoint.get("type", "chat")},
        "params": params,
        "samples": len(samples),
        "metrics": metrics,
        "started": _iso(started),
        "finished": _iso(finished),
        "duration_s": round(finished - started, 3),
    }
    write_jsonl_atomic(os.path.join(task_dir, "samples.jsonl"), samples)
    write_json_atomic(os.path.join(task_dir, "results.json"), results)
    headline = ", ".join(f"{k}={v['value']:.4f}" for k, v in metrics.items() if isinstance(v, dict))
    log(f"done: {headline} over {len(samples)} samples in {finished - started:.1f}s")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    task_dir = argv[0] if argv else "/out"
    try:
        run(task_dir)
    except TaskFailed as e:
        log(f"FAILED: {e}")
        return 1
    return 0
