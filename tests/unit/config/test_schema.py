"""Checking that nothing needs doing must not grow with the config: loading and
planning 200 tasks builds no validator per task (building one costs ~5 ms, so a
validator per task was ~1 s of an up-to-date run). bench/bench_launcher.py
measures the whole up-to-date run's time; a test only checks the work done."""

import pytest
import yaml
from cerberus import SchemaError

from evaltasks.config import compose as config
from evaltasks.pipeline import actions as runner
from evaltasks.config import schema


def test_two_hundred_tasks_plan_without_building_a_validator_per_task(tmp_path, monkeypatch):
    tasks = [{"name": "gsm8k", "id": f"t{i:03d}", "overrides": {"config.params.limit_samples": i + 1,
                                                                 "config.params.temperature": 0.5}}
             for i in range(200)]
    document = {"execution": {"output_dir": str(tmp_path / "out"), "extra_docker_args": "--network host"},
                "target": {"api_endpoint": {"model_id": "m", "url": "http://127.0.0.1:9/v1/chat/completions"}},
                "evaluation": {"tasks": tasks}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    built = []
    original = schema.ConfigValidator.__init__

    def counting(self, *args, **kwargs):
        if not kwargs.get("is_child"):   # cerberus makes children per nested rule as it validates
            built.append(args[0] if args else kwargs.get("schema"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(schema.ConfigValidator, "__init__", counting)
    cfg = config.load(str(path))
    planned = list(runner.Run(cfg).doit_tasks())
    # _prepare, the 200 evaluations, then the summary of them all.
    assert len(planned) == 202 and planned[-2]["name"] == "t199" and planned[-1]["basename"] == "summary"
    # One validator per schema, however many tasks.
    first = len(built)
    assert first <= len(schema._validators), f"{first} validators built to load 200 tasks"
    config.load(str(path))
    assert len(built) == first, "a second load of the same config built validators again"


def test_the_schemas_follow_cerberus_rules():
    # Checked here: runs skip cerberus's own check of them (~30 ms of every `doit`).
    schema.check_definitions()       # CONFIG and TASK_VIEW follow cerberus's rules
    with pytest.raises(SchemaError):     # and a schema that does not is caught
        schema.check_definitions([{"execution": {"type": "dict", "schema": {"mode": {"type": "sometimes"}}}}])
