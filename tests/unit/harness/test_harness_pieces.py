"""Harness pieces that run in the container: sample limits, metrics, the
endpoint client against a real local server, atomic files."""

import json
import os

import pytest

from support.endpoint import FakeEndpoint
from evaltasks.harness import aggregate, run
from evaltasks.harness.adapters import split_reasoning
from evaltasks.harness.client import Client, EndpointError
from evaltasks.harness.files import write_json_atomic
from evaltasks.harness.model import Model


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr("evaltasks.harness.client.BACKOFF", 0.001)


def test_limit_first_n_and_fraction():
    items = list(range(10))
    assert run.limit(items, None) == items
    assert run.limit(items, 3) == [0, 1, 2]
    assert run.limit(items, 0.25) == [0, 1, 2]         # 2.5 rounds up
    assert run.limit(items, 1.0) == items
    assert run.limit(items, 0.01) == [0]


def test_mean_metric_stderr():
    m = aggregate.mean_metric([1, 0, 1, 1])
    assert m["value"] == 0.75 and m["n"] == 4
    assert m["stderr"] == pytest.approx((0.25 / 4) ** 0.5)       # sample var 0.25
    assert aggregate.mean_metric([]) == {"value": 0.0, "stderr": 0.0, "n": 0}


def test_client_sends_generation_params_and_system_prompt():
    with FakeEndpoint(lambda p: "<think>hmm</think>Answer: 7") as ep:
        endpoint = {"url": ep.chat_url, "model_id": "test-model",
                    "adapter_config": {"use_system_prompt": True, "custom_system_prompt": "Be brief.",
                                       "use_reasoning": True}}
        params = {"temperature": 0.0, "max_new_tokens": 64, "top_p": None,
                  "parallelism": 1, "request_timeout": 10, "max_retries": 0}
        with Model(endpoint, params) as model:
            answer = model.ask(model.payload([{"role": "user", "content": "hi"}]))
    assert answer.text == "Answer: 7"
    sent = ep.requests[0].payload
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["max_tokens"] == 64 and sent["temperature"] == 0.0 and "top_p" not in sent


def test_client_retries_transient_failures(fast_retries):
    with FakeEndpoint(lambda p: "ok", fault_rate=1.0, fault_kinds=("503", "reset", "429"), retry_after=0) as ep:
        client = Client(ep.chat_url, max_retries=3, log=lambda m: None)
        for i in range(3):
            reply = client.post({"model": "test-model", "messages": [{"role": "user", "content": f"q{i}"}]})
            assert reply["choices"][0]["message"]["content"] == "ok"
    assert len(ep.completed()) == 3 and len(ep.requests) == 6


def test_client_fails_fast_on_client_errors():
    with FakeEndpoint(model_id="other") as ep:
        client = Client(ep.chat_url, max_retries=5, log=lambda m: None)
        with pytest.raises(EndpointError, match="HTTP 404: The model `test-model` does not exist"):
            client.post({"model": "test-model", "messages": [{"role": "user", "content": "q"}]})
    assert len(ep.requests) == 1


def test_client_gives_up_after_max_retries(fast_retries):
    with FakeEndpoint(lambda p: 1 / 0) as ep:          # the responder fails: HTTP 500 every time
        client = Client(ep.chat_url, max_retries=1, log=lambda m: None)
        with pytest.raises(EndpointError, match="HTTP 500.*gave up after 2 attempts"):
            client.post({"model": "test-model", "messages": [{"role": "user", "content": "q"}]})


@pytest.mark.parametrize("text, expected", [
    ("<think>a</think>b", "b"), ("<think>never closed", ""), ("reasoning</think>answer", "answer"), ("plain", "plain"),
])
def test_strip_reasoning(text, expected):
    assert split_reasoning(text)[1] == expected


def test_atomic_write_leaves_no_temp_files(tmp_path):
    write_json_atomic(tmp_path / "r.json", {"a": 1})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["r.json"]
    assert oct((tmp_path / "r.json").stat().st_mode & 0o777) != "0o600"


def test_samples_file_rows_survive_unicode_line_separators(tmp_path):
    from evaltasks.harness.samples import SampleSpool

    with SampleSpool(tmp_path) as spool:
        spool.add(1, {"response": "b"})
        spool.add(0, {"response": "a\u2028still\x85 a"})
        spool.write(tmp_path / "samples.jsonl")
        assert [row["response"] for row in spool] == ["a\u2028still\x85 a", "b"]
    lines = (tmp_path / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["response"] for line in lines] == ["a\u2028still\x85 a", "b"]


def test_samples_file_keeps_text_as_it_is_and_escapes_only_line_separators(tmp_path):
    # Reading back in index order is test_harness_run's test_sample_spool_reads_back_in_index_order.
    from evaltasks.harness.samples import SampleSpool

    with SampleSpool(tmp_path) as spool:
        spool.add(2, {"response": "café"})
        spool.add(0, {"response": "a"})
        spool.add(1, {"response": "b\u2029"})
        spool.write(tmp_path / "samples.jsonl")
    lines = (tmp_path / "samples.jsonl").read_bytes().split(b"\n")
    assert lines == [b'{"response": "a"}', b'{"response": "b\\u2029"}', '{"response": "café"}'.encode(), b""]


def test_metrics_read_rows_without_their_texts_from_memory(tmp_path):
    from evaltasks.harness.samples import SampleSpool

    row = {"index": 0, "prompt": [{"role": "user", "content": "q" * 5000}], "request_params": {"max_tokens": 8},
           "response": "r" * 5000, "reasoning": "why", "finish_reason": "stop", "extracted": "A", "gold": "B",
           "score": 0.0, "category": "law"}
    with SampleSpool(tmp_path) as spool:
        spool.add(1, dict(row, index=1, score=1.0))
        spool.add(0, row)
        assert spool.scored() == [{"index": 0, "finish_reason": "stop", "score": 0.0, "category": "law"},
                                  {"index": 1, "finish_reason": "stop", "score": 1.0, "category": "law"}]
        assert spool[0] == row          # the whole row, as samples.jsonl has it
