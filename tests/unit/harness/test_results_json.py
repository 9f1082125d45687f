"""results.json says how its result was produced: the endpoint's url and type,
the API key variable's name (never its value) and the effective adapter_config
(issue 8, item 11)."""

import json

from conftest import Gsm8kModel
from support.endpoint import FakeEndpoint
from evaltasks.harness import run
from support.harness_task import task_dir

ADAPTER = {"use_system_prompt": True, "custom_system_prompt": "Be brief.",
           "params_to_add": {"top_k": 5}, "params_to_remove": ["temperature"],
           "use_request_logging": True, "max_logged_requests": 1}


def test_results_carry_the_effective_adapter_config_and_no_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret-value-123")
    with FakeEndpoint(Gsm8kModel(right=range(4)), api_key="sk-secret-value-123") as ep:
        out = task_dir(tmp_path / "out", ep.chat_url, adapter=ADAPTER, limit_samples=4)
        task = json.loads((out / "task.json").read_text())
        task["endpoint"]["api_key_name"] = "MY_KEY"
        (out / "task.json").write_text(json.dumps(task))
        run.run(out)
    text = (out / "results.json").read_text()
    endpoint = json.loads(text)["endpoint"]
    assert endpoint == {"url": ep.chat_url, "type": "chat", "api_key_name": "MY_KEY", "adapter_config": ADAPTER}
    assert "sk-secret-value-123" not in text
    # What the adapter_config says is what the endpoint got.
    sent = ep.completed()[0].payload
    assert sent["top_k"] == 5 and "temperature" not in sent and sent["messages"][0]["content"] == "Be brief."
