"""Checking that nothing needs doing must not grow with the config: loading and
planning 200 tasks is a small part of an up-to-date `doit` (bench/bench_launcher.py
measures the whole run)."""

import time

import yaml

from evaltasks import config, runner


def test_two_hundred_tasks_load_and_plan_in_little_cpu_time(tmp_path):
    tasks = [{"name": "gsm8k", "id": f"t{i:03d}", "overrides": {"config.params.limit_samples": i + 1,
                                                                 "config.params.temperature": 0.5}}
             for i in range(200)]
    document = {"execution": {"output_dir": str(tmp_path / "out"), "extra_docker_args": "--network host"},
                "target": {"api_endpoint": {"model_id": "m", "url": "http://127.0.0.1:9/v1/chat/completions"}},
                "evaluation": {"tasks": tasks}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    config.load(str(path))          # the first load builds the validators
    started = time.process_time()   # CPU time: what the machine's load does not change
    cfg = config.load(str(path))
    tasks = list(runner.Run(cfg).doit_tasks())
    took = time.process_time() - started
    # _prepare, the 200 evaluations, then the summary of them all.
    assert len(tasks) == 202 and tasks[-2]["name"] == "t199" and tasks[-1]["basename"] == "summary"
    # ~0.1 s here, ~1.1 s when every task rebuilt its validators twice.
    assert took < 0.4, f"{took:.2f} s of CPU to load and plan 200 tasks"
