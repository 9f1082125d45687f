"""target.api_endpoint.pricing: checked like every other key (one line, exit
2, nothing started), and not part of what a task measures (a new price reruns
nothing). The costs themselves are checked on real runs in e2e/docker/test_report_pages.py."""

import pytest
import yaml

from conftest import evaltasks_cli, write_config
from evaltasks.config import compose as config
from evaltasks.pipeline import freshness, plan


@pytest.mark.parametrize("pricing, problem", [
    ({"prompt": -1, "completion": 2}, "target.api_endpoint.pricing.prompt: min value is 0"),
    ({"prompt": "3", "completion": 2}, "target.api_endpoint.pricing.prompt: must be of number type"),
    ({"prompt": True, "completion": 2}, "target.api_endpoint.pricing.prompt: must be of number type"),
    ({"prompt": 3}, "target.api_endpoint.pricing.completion: missing (required)"),
    ({"prompt": 3, "completion": 2, "per": "1k"}, "target.api_endpoint.pricing.per: unknown key"),
    (12, "target.api_endpoint.pricing: must be of dict type"),
])
def test_bad_pricing_is_one_line(tmp_path, state, pricing, problem):
    cfg = write_config(tmp_path / "c.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out")
    data = yaml.safe_load(cfg.read_text())
    data["target"]["api_endpoint"]["pricing"] = pricing
    cfg.write_text(yaml.safe_dump(data))
    done = evaltasks_cli("run", "--config", str(cfg), "--dry-run")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().endswith(problem) and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "out").exists()


def test_a_price_is_not_part_of_the_fingerprint(tmp_path):
    def spec(pricing):
        cfg = write_config(tmp_path / "c.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out")
        extra = [f"target.api_endpoint.pricing={pricing}"] if pricing else []
        loaded = config.load(str(cfg), extra)
        return plan.task_specs(loaded, "0" * 12)[0]

    cheap, dear, none = spec("{prompt: 0.1, completion: 0.2}"), spec("{prompt: 5, completion: 15}"), spec(None)
    assert cheap.endpoint["pricing"] == {"prompt": 0.1, "completion": 0.2}
    assert "pricing" not in none.endpoint
    assert freshness.fingerprint(cheap) == freshness.fingerprint(dear) == freshness.fingerprint(none)
    # The harness's task.json carries it, for the reports.
    assert cheap.harness_task()["endpoint"]["pricing"] == {"prompt": 0.1, "completion": 0.2}
