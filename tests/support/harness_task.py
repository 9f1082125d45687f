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


def cached_replies(folder):
    return [n for _, _, names in os.walk(folder) for n in names if not n.startswith(".tmp-")]
