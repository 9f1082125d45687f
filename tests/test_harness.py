"""Harness pieces that run in the container: sample limits, metrics, the
endpoint client against a real local server, atomic files."""

import json
import os

import pytest

from endpoint import FakeEndpoint
from evaltasks.harness import run, stats
from evaltasks.harness.client import ChatClient, EndpointError, strip_reasoning
from evaltasks.harness.files import write_json_atomic


def test_limit_first_n_and_fraction():
    items = list(range(10))
    assert run.limit(items, None) == items
    assert run.limit(items, 3) == [0, 1, 2]
    assert run.limit(items, 0.25) == [0, 1, 2]         # 2.5 rounds up
    assert run.limit(items, 1.0) == items
    assert run.limit(items, 0.01) == [0]


def test_mean_metric_stderr():
    m = stats.mean_metric([1, 0, 1, 1])
    assert m["value"] == 0.75 and m["n"] == 4
    assert m["stderr"] == pytest.approx((0.25 / 4) ** 0.5)       # sample var 0.25
    assert stats.mean_metric([]) == {"value": 0.0, "stderr": 0.0, "n": 0}


def test_client_sends_generation_params_and_system_prompt():
    with FakeEndpoint(lambda p: "<think>hmm</think>Answer: 7") as ep:
        client = ChatClient(ep.chat_url, "test-model", generation={"temperature": 0.0, "max_new_tokens": 64,
                                                                    "top_p": None},
                            adapter={"use_system_prompt": True, "custom_system_prompt": "Be brief.",
                                     "use_reasoning": True})
        body, text = client.chat([{"role": "user", "content": "hi"}])
    assert text == "Answer: 7"
    sent = ep.requests[0].payload
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["max_tokens"] == 64 and sent["temperature"] == 0.0 and "top_p" not in sent


def test_client_retries_transient_failures():
    with FakeEndpoint(lambda p: "ok", fault_rate=1.0, fault_kinds=("503", "reset", "429"), retry_after=0) as ep:
        client = ChatClient(ep.chat_url, "test-model", max_retries=3, log=lambda m: None)
        for i in range(3):
            assert client.chat([{"role": "user", "content": f"q{i}"}])[1] == "ok"
    assert len(ep.completed()) == 3 and len(ep.requests) == 6


def test_client_fails_fast_on_client_errors():
    with FakeEndpoint(model_id="other") as ep:
        client = ChatClient(ep.chat_url, "test-model", max_retries=5, log=lambda m: None)
        with pytest.raises(EndpointError, match="HTTP 404: The model `test-model` does not exist"):
            client.chat([{"role": "user", "content": "q"}])
    assert len(ep.requests) == 1


def test_client_gives_up_after_max_retries():
    with FakeEndpoint(lambda p: 1 / 0) as ep:          # the responder fails: HTTP 500 every time
        client = ChatClient(ep.chat_url, "test-model", max_retries=1, log=lambda m: None)
        with pytest.raises(EndpointError, match="HTTP 500.*gave up after 2 attempts"):
            client.chat([{"role": "user", "content": "q"}])


@pytest.mark.parametrize("text, expected", [
    ("<think>a</think>b", "b"), ("<think>never closed", ""), ("reasoning</think>answer", "answer"), ("plain", "plain"),
])
def test_strip_reasoning(text, expected):
    assert strip_reasoning(text) == expected


def test_atomic_write_leaves_no_temp_files(tmp_path):
    write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["r.json"]
    assert oct((tmp_path / "r.json").stat().st_mode & 0o777) != "0o600"
