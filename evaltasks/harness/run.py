"""Run one evaluation task: load items, query the endpoint ``parallelism`` at a
time, score, and write ``samples.jsonl`` then ``results.json`` (atomically, last).

The task description comes from ``task.json`` in the task directory, written by
the launcher; it never holds the API key's value, only the variable's name.
When the launcher sets ``EVALTASKS_RESPONSE_CACHE``, every reply is cached there
as it arrives (``cache.py``), so a rerun sends only the requests still unanswered;
with ``refresh_cache`` in task.json (``evaltasks run --force``) every request is
sent again and its reply replaces the cached one.

Failed samples: a request that still fails after ``max_retries`` retries, or at
once (a 4xx other than 429, a malformed reply, a reply with no text), fails its sample. By default one
failed sample fails the task: no results.json (samples.jsonl is still written,
errors included), and the log says how many samples failed and why. ``config.params.allowed_failure_rate`` (0 to 0.5) tolerates up
to that fraction of failed samples: each is scored as an empty reply with score
0, kept in samples.jsonl with its ``error``, and counted in results.json's
``failed_samples``. Once more samples have failed than allowed, no further
request is started and the task fails.

samples.jsonl, one row per sample in order: ``index``; ``prompt``, the messages
as sent (after the system-prompt adapter; a plain string for a completions
endpoint); ``request_params``, the rest of the payload; ``response``, the answer
as scored (reasoning removed); ``reasoning`` when the reply had some; ``notes``
when reading the reply took a repair (see ``adapters``);
``finish_reason``; ``prompt_tokens`` when the server counted them; ``extracted``, ``gold``, ``score`` and the benchmark's own
fields; or, for a failed sample, ``error`` in place of the reply's fields.

results.json adds ``failed_samples``, ``response_stats`` (``response_stats.py``)
and ``warnings`` (``warnings.py``) to the task's settings, metrics and timings; its ``endpoint`` says how the
requests were made: url, type, the API key variable's name and the effective
``adapter_config`` (as task.json has them: never a secret value), and its
``provenance`` what produced it (``provenance.py``).

SIGTERM (``docker stop``: the launcher's Ctrl-C, ``evaltasks kill``) stops the
task: no new request starts, the requests in flight finish and their replies
are cached, and the task fails without results.json. The launcher kills the
container if that takes longer than its grace period.
"""

import asyncio
import json
import math
import os
import signal
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone

from . import benchmarks, cache, layout, provenance, secrets as secret_pipe, warnings
from .aggregate import accuracy
from .client import EndpointError
from .datasets import DatasetError, data_dir
from .files import write_json_atomic
from .model import Model
from .progress import Progress
from .sandbox_client import SandboxError
from .samples import SampleSpool


class TaskFailed(Exception):
    pass


_LOG_LOCK = threading.Lock()


def log(message):
    stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
    # print() writes the text and the newline separately: another worker's line
    # could land between them.
    with _LOG_LOCK:
        sys.stdout.write(f"[{stamp}] {message}\n")
        sys.stdout.flush()


def limit(items, limit_samples):
    """int → the first N items; float in (0, 1] → that fraction, rounded up (as lm-eval does)."""
    if limit_samples is None:
        return items
    if isinstance(limit_samples, float):
        return items[: math.ceil(len(items) * limit_samples)]
    return items[:limit_samples]


def allowed_failures(rate, total):
    # The epsilon keeps 0.29 * 100 = 28.999… from allowing only 28.
    return math.floor(rate * total + 1e-9)


def _iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def run(task_dir, stop=None, secrets=None):
    """Evaluate the task in ``task_dir``; ``stop``, a threading.Event, ends it
    early once set (see SIGTERM above); ``secrets`` are the values the launcher
    piped in (``secrets.py``), by variable name."""
    stop = stop or threading.Event()
    secrets = secrets or {}
    with open(layout.task_file(task_dir), encoding="utf-8") as f:
        task = json.load(f)
    key_name = task["endpoint"].get("api_key_name")
    # The task's env_vars (a file task's judge keys among them) are the harness's
    # environment, as documented. Only in this process's memory: putenv does not
    # change /proc/<pid>/environ, and programs get an environment of their own
    # (sandbox.py).
    os.environ.update(secrets)
    bench = benchmarks.resolve(task["benchmark"])
    module = bench.load_module()
    if hasattr(module, "for_task"):      # a task defined in a file: the module binds it
        module = module.for_task(task, log)
    params = task["params"]
    endpoint = task["endpoint"]
    started = time.time()

    items, rows = _load_items(module, bench, params)
    log(f"{task['id']}: {bench.name}, {len(items)} samples, model {endpoint['model_id']} "
        f"at {endpoint['url']}, parallelism {params['parallelism']}")
    # Model-written code: say what keeps it off the network, loudly when nothing does.
    network = _sandbox_network() if bench.runs_model_code else None
    if network and network.startswith("NOT"):
        log(f"WARNING: model-written programs run with this machine's network: {network}; "
            "runtime: docker keeps them off it")
    responses = cache.from_environment()
    refresh = bool(task.get("refresh_cache")) and responses is not None
    rate = params.get("allowed_failure_rate") or 0.0
    allowed = allowed_failures(rate, len(items))
    progress = Progress(layout.progress(task_dir), len(items), log=log)
    tally = warnings.Tally()
    with SampleSpool(task_dir) as samples:
        with Model(endpoint, params, (secrets.get(key_name) or os.environ.get(key_name)) if key_name else None,
                   cache=responses, refresh=refresh, log=log) as model:
            failures = _evaluate(items, module, params, model, progress, allowed, samples, tally, stop,
                                 bench.runs_model_code or _scoring_waits(module, params))
        response_stats = model.stats.summary()
        server = model.server_said()
        log(f"cache: off, {response_stats['requests']} requests" if not responses else
            f"cache: refreshed (--force), {response_stats['requests']} new requests" if refresh else
            f"cache: {response_stats['cache_hits']} hits, {response_stats['requests']} new requests")
        if stop.is_set():
            kept = "; the replies received are cached for a rerun" if responses else ""
            raise TaskFailed(f"stopped (SIGTERM) after {len(samples)} of {len(items)} samples{kept}")
        samples.write(layout.samples(task_dir))
        if len(failures) > allowed:
            raise TaskFailed(_failure_message(failures, len(items), len(samples), rate, allowed,
                                              responses is not None and model.stats.answers > 0))
        scored = samples.scored()
        metrics = module.metrics(scored, params) if hasattr(module, "metrics") else accuracy(scored)
        found = tally.found(response_stats)

    finished = time.time()
    results = {
        "task": task["id"],
        "benchmark": bench.name,
        "model_id": endpoint["model_id"],
        "endpoint": {"url": endpoint["url"], "type": endpoint.get("type", "chat"),
                     "api_key_name": endpoint.get("api_key_name"),
                     "adapter_config": endpoint.get("adapter_config") or {}},
        "params": params,
        "samples": len(items),
        "failed_samples": len(failures),
        "metrics": metrics,
        "response_stats": response_stats,
        "warnings": found,
        "started": _iso(started),
        "finished": _iso(finished),
        "duration_s": round(finished - started, 3),
        "provenance": provenance.block(task, bench, rows, server),
    }
    if network:
        results["sandbox"] = {"network": network}
    write_json_atomic(layout.results(task_dir), results)    # durable: files.py says why
    headline = ", ".join(f"{k}={v['value']:.4f}" for k, v in metrics.items() if isinstance(v, dict))
    failed = f" ({len(failures)} failed, scored 0)" if failures else ""
    cut = response_stats["cut_off"]
    cut = f"; {cut} answers cut off at the token limit (finish_reason length)" if cut else ""
    log(f"done: {headline} over {len(items)} samples{failed} in {finished - started:.1f}s{cut}")
    for warning in results["warnings"]:
        log(f"warning: {warning['message']}")


def _scoring_waits(module, params):
    """Whether the module's ``score`` waits on a model or program (contract.Waiting)."""
    return hasattr(module, "scoring_waits") and module.scoring_waits(params)


def _sandbox_network():
    # Imported here: only benchmarks that run model-written code need the sandbox
    # (and its subprocess), which cost every other task's start ~3 ms.
    from . import sandbox

    return sandbox.network_note()


def _load_items(module, bench, params):
    try:
        subset = (bench.subset,) if bench.subset else ()
        rows = module.load(data_dir(bench.dataset), *subset)
        if hasattr(module, "select"):
            rows = module.select(rows, params)
        rows = limit(rows, params.get("limit_samples"))
        items = module.expand(rows, params) if hasattr(module, "expand") else rows
    except FileNotFoundError as e:
        raise TaskFailed(f"dataset file missing: {e.filename}")
    except DatasetError as e:
        raise TaskFailed(f"bad dataset: {e}")
    return items, len(rows)


def _evaluate(items, module, params, model, progress, allowed, samples, tally, stop, scoring_waits=False):
    """Every item's row into ``samples`` and the warnings' ``tally``; returns the
    failures as (kind, error).
    Once more than ``allowed`` samples have failed, or ``stop`` is set, the items
    not yet started are skipped and have no row.

    ``parallelism`` coroutines on one event loop, each taking the next index: a
    thread per request in flight spent a third of the harness's CPU handing the
    GIL around (``http1_loop`` says more). A benchmark whose ``score`` waits on
    something outside the process (``scoring_waits``: a sandboxed program, a judge
    model) scores in as many threads, so that one score does not hold up the
    others or the requests."""
    return asyncio.run(_evaluate_on_loop(items, module, params, model, progress, allowed, samples, tally, stop,
                                         scoring_waits))


async def _evaluate_on_loop(items, module, params, model, progress, allowed, samples, tally, stop, scoring_waits):
    failures = []
    workers = min(params["parallelism"], len(items))
    if scoring_waits:
        from concurrent.futures import ThreadPoolExecutor

        threads = ThreadPoolExecutor(workers, thread_name_prefix="score")
        loop = asyncio.get_running_loop()

        def score(extracted, item):
            return loop.run_in_executor(threads, _scored, module, extracted, item)
    else:
        threads = None

        async def score(extracted, item):
            return _scored(module, extracted, item)

    indices = iter(range(len(items)))       # shared: each index goes to one worker
    errors = {}

    async def worker():
        for index in indices:
            if len(failures) > allowed or stop.is_set():
                continue
            try:
                row, kind = await _sample(index, items[index], module, params, model, score)
                samples.add(index, row)
                tally.add(row)
                if kind:
                    failures.append((kind, row["error"]))
                progress.advance(failed=kind is not None)
            except Exception as e:          # an unexpected error: raised below, once all are done
                errors[index] = e

    try:
        await asyncio.gather(*(worker() for _ in range(workers)))
    finally:
        model.client.close_loop()
        if threads is not None:
            threads.shutdown()
    if errors:
        raise errors[min(errors)]           # the first in sample order
    return failures


async def _sample(index, item, module, params, model, score):
    """(the sample's samples.jsonl row, None), or (row, failure kind) when the
    endpoint gave no usable reply."""
    number = cache.sample_number(item)
    payload = model.payload(module.prompt(item, params), number)
    sample = {"index": index, "prompt": payload.get("messages", payload.get("prompt")),
              "request_params": {k: v for k, v in payload.items() if k not in ("messages", "prompt")}}
    try:
        answer = await model.aask(payload, number)
    except EndpointError as e:
        log(f"sample {index} failed: {e}")
        sample["error"] = str(e)
        # Scored as an empty reply, so that the fields the benchmark's metrics read exist.
        sample["gold"] = item["gold"]
        sample.update(await score(module.extract(""), item), score=0.0)
        return sample, e.kind
    sample["response"] = answer.text
    if answer.reasoning is not None:
        sample["reasoning"] = answer.reasoning
    if answer.notes:
        sample["notes"] = answer.notes
    sample["finish_reason"] = answer.finish_reason
    if answer.prompt_tokens is not None:
        sample["prompt_tokens"] = answer.prompt_tokens      # as the server counted them (warnings.py)
    sample["extracted"] = module.extract(answer.text)
    sample["gold"] = item["gold"]
    try:
        sample.update(await score(sample["extracted"], item))
    except EndpointError as e:      # a judging model (file tasks) that gave no reply
        log(f"sample {index} failed: {e}")
        sample.update(error=str(e), score=0.0)
        return sample, e.kind
    return sample, None


def _scored(module, extracted, item):
    scored = module.score(extracted, item)
    return scored if isinstance(scored, dict) else {"score": scored}


def _failure_message(failures, total, tried, rate, allowed, cached):
    kinds = ", ".join(f"{n}× {kind}" for kind, n in Counter(k for k, _ in failures).most_common())
    message = (f"{len(failures)} of {total} samples failed ({kinds}), more than "
               f"allowed_failure_rate {rate} allows ({allowed}); first: {failures[0][1]}")
    if tried < total:
        message += f"; {total - tried} samples not tried"
    if cached:
        message += "; the replies received are cached for a rerun"
    return message


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # First: nothing may start before the pipe is read and closed.
    try:
        secrets = secret_pipe.read()
    except secret_pipe.SecretsError as e:
        log(f"FAILED: {e}")
        return 2
    task_dir = argv[0] if argv else "/out"
    stop = threading.Event()
    # Only sets the flag: the workers finish (and cache) the requests in flight.
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        run(task_dir, stop, secrets)
    except (TaskFailed, SandboxError) as e:
        log(f"FAILED: {e}")
        return 1
    return 0
