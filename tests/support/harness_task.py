"""A task folder as the launcher writes it (task.json), for tests that run the
harness on the host (``run.run`` or ``python -m evaltasks.harness``), and what
the harness leaves in it."""

import json
import os


def task_dir(path, url, *, type="chat", adapter=None, **params):
    """A task folder with the task.json the launcher would write."""
    path.mkdir(parents=True, exist_ok=True)
    task = {
        "id": "gsm8k", "name": "gsm8k", "benchmark": "gsm8k",
        "params": {"limit_samples": 30, "temperature": 0.0, "top_p": None, "max_new_tokens": 256,
                   "parallelism": 4, "request_timeout": 10, "max_retries": 5, "seed": None,
                   "allowed_failure_rate": 0.0, "extra": {}, **params},
        "endpoint": {"url": url, "model_id": "test-model", "type": type, "api_key_name": None,
                     "adapter_config": adapter or {}},
    }
    (path / "task.json").write_text(json.dumps(task))
    return path


def results(path):
    return json.loads((path / "results.json").read_text())


def samples(path):
    return [json.loads(line) for line in (path / "samples.jsonl").read_text().splitlines()]


def cache_lines(folder):
    """Every line of the response cache's logs under ``folder`` (any depth: a
    deployed model's cache is a folder of its own), read here without the
    harness's code: ``<64 hex>\t<JSON>`` each, the last one perhaps without its
    newline."""
    lines = []
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            if name.startswith("replies-") and name.endswith(".log"):
                with open(os.path.join(root, name), "rb") as f:
                    lines += f.read().splitlines(keepends=True)
    return lines


def cached_replies(folder):
    """The keys of the replies stored whole in the response cache under ``folder``
    (one per reply received), in the order stored per log."""
    keys = []
    for line in cache_lines(folder):
        key, _, reply = line.partition(b"\t")
        if line.endswith(b"\n") and len(key) == 64 and isinstance(json.loads(reply), dict):
            keys.append(key.decode())
    return keys


def partial_replies(folder):
    """How many entries in the response cache are not whole (a line cut short)."""
    return len(cache_lines(folder)) - len(cached_replies(folder))
