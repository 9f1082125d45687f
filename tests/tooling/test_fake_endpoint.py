"""Tests for the fake OpenAI-compatible endpoint in tests/support/endpoint.py."""

import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import REPO
from support.endpoint import FakeEndpoint, RecordedRequest

ENDPOINT_SCRIPT = str(REPO / "tests" / "support" / "endpoint.py")
TIMEOUT = 5


def chat_payload(content="What is 1+1?", model="test-model"):
    return {"model": model, "messages": [{"role": "user", "content": content}]}


@pytest.fixture
def endpoint():
    with FakeEndpoint() as ep:
        yield ep


def test_binds_loopback_only(endpoint):
    assert endpoint.base_url.startswith("http://127.0.0.1:")
    assert endpoint.base_url.endswith("/v1")
    assert endpoint.chat_url == endpoint.base_url + "/chat/completions"
    assert endpoint.completions_url == endpoint.base_url + "/completions"
    assert endpoint._server.server_address[0] == "127.0.0.1"


def test_chat_completion_shape(endpoint):
    r = requests.post(endpoint.chat_url, json=chat_payload("one two three"), timeout=TIMEOUT)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["id"] and isinstance(body["created"], int)
    assert body["model"] == "test-model"
    assert body["choices"] == [{"index": 0,
                                "message": {"role": "assistant", "content": "Answer: 0"},
                                "finish_reason": "stop"}]
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_completions_shape(endpoint):
    r = requests.post(endpoint.completions_url,
                      json={"model": "test-model", "prompt": "a b"}, timeout=TIMEOUT)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "text_completion"
    assert body["choices"] == [{"index": 0, "text": "Answer: 0", "finish_reason": "stop"}]
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}


def test_models(endpoint):
    r = requests.get(endpoint.base_url + "/models", timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.json() == {"object": "list", "data": [{"id": "test-model", "object": "model"}]}


def test_custom_responder_gets_payload():
    seen = []

    def responder(payload):
        seen.append(payload)
        return "echo: " + payload["messages"][-1]["content"]

    payload = dict(chat_payload("hello"), temperature=0.0)
    with FakeEndpoint(responder) as ep:
        r = requests.post(ep.chat_url, json=payload, timeout=TIMEOUT)
    assert r.json()["choices"][0]["message"]["content"] == "echo: hello"
    assert seen == [payload]


def test_dict_responder_passes_reasoning_content():
    message = {"role": "assistant", "content": "Answer: 4", "reasoning_content": "2+2=4"}
    with FakeEndpoint(lambda payload: message) as ep:
        chat = requests.post(ep.chat_url, json=chat_payload(), timeout=TIMEOUT).json()
        comp = requests.post(ep.completions_url, json={"model": "test-model", "prompt": "x"},
                             timeout=TIMEOUT).json()
    assert chat["choices"][0]["message"] == message
    assert comp["choices"][0]["text"] == "Answer: 4"


def test_responder_exception_is_500():
    def responder(payload):
        raise RuntimeError("boom")

    with FakeEndpoint(responder) as ep:
        r = requests.post(ep.chat_url, json=chat_payload(), timeout=TIMEOUT)
    assert r.status_code == 500
    assert "boom" in r.json()["error"]["message"]


def test_unknown_model_is_404(endpoint):
    r = requests.post(endpoint.chat_url, json=chat_payload(model="x"), timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.json() == {"error": {"message": "The model `x` does not exist.",
                                  "type": "invalid_request_error", "param": None,
                                  "code": "model_not_found"}}


def test_malformed_json_and_unknown_path(endpoint):
    r = requests.post(endpoint.chat_url, data=b"{not json",
                      headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert r.status_code == 400
    assert "error" in r.json()
    assert requests.post(endpoint.base_url + "/nope", json={}, timeout=TIMEOUT).status_code == 404
    assert requests.get(endpoint.base_url + "/nope", timeout=TIMEOUT).status_code == 404


def test_api_key():
    with FakeEndpoint(api_key="sekrit") as ep:
        missing = requests.post(ep.chat_url, json=chat_payload(), timeout=TIMEOUT)
        wrong = requests.post(ep.chat_url, json=chat_payload(),
                              headers={"Authorization": "Bearer nope"}, timeout=TIMEOUT)
        right = requests.post(ep.chat_url, json=chat_payload(),
                              headers={"Authorization": "Bearer sekrit"}, timeout=TIMEOUT)
    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert right.status_code == 200


def test_fault_429_then_retry_succeeds():
    with FakeEndpoint(fault_rate=1.0, fault_kinds=("429",), retry_after=7) as ep, \
            requests.Session() as session:
        first = session.post(ep.chat_url, json=chat_payload(), timeout=TIMEOUT)
        second = session.post(ep.chat_url, json=chat_payload(), timeout=TIMEOUT)
        other = session.post(ep.chat_url, json=chat_payload("different"), timeout=TIMEOUT)
        models = session.get(ep.base_url + "/models", timeout=TIMEOUT)
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "7"
    assert "error" in first.json()
    assert second.status_code == 200
    assert other.status_code == 429  # a different payload is a different request
    assert models.status_code == 200  # faults only hit completion endpoints
    assert [r.status for r in ep.requests] == [429, 200, 429, 200]


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_fault_status_codes(kind):
    with FakeEndpoint(fault_rate=1.0, fault_kinds=(kind,)) as ep:
        first = requests.post(ep.completions_url, json={"model": "test-model", "prompt": "p"},
                              timeout=TIMEOUT)
        second = requests.post(ep.completions_url, json={"model": "test-model", "prompt": "p"},
                               timeout=TIMEOUT)
    assert first.status_code == int(kind)
    assert "error" in first.json()
    assert second.status_code == 200


def test_fault_reset_then_retry_succeeds():
    with FakeEndpoint(fault_rate=1.0, fault_kinds=("reset",)) as ep, \
            requests.Session() as session:
        with pytest.raises(requests.exceptions.ConnectionError) as e:
            session.post(ep.chat_url, json=chat_payload(), timeout=TIMEOUT)
        assert not isinstance(e.value, requests.exceptions.Timeout)  # a reset, not a hang until timeout
        retry = session.post(ep.chat_url, json=chat_payload(), timeout=TIMEOUT)
    assert retry.status_code == 200
    assert [r.status for r in ep.requests] == [0, 200]


def test_fault_rate_zero_never_faults():
    with FakeEndpoint(fault_rate=0.0) as ep, requests.Session() as session:
        codes = {session.post(ep.chat_url, json=chat_payload(str(i)), timeout=TIMEOUT).status_code
                 for i in range(20)}
    assert codes == {200}


def test_latency_is_concurrent():
    # Each reply waits until all 16 requests are being answered at once: served
    # one after another, the barrier would never open (and break after 60 s).
    everyone = threading.Barrier(16, timeout=60)

    def respond(payload):
        everyone.wait()
        return "ok"

    with FakeEndpoint(respond, latency=0.2) as ep, ThreadPoolExecutor(16) as pool:
        start = time.monotonic()
        codes = list(pool.map(
            lambda i: requests.post(ep.chat_url, json=chat_payload(str(i)),
                                    timeout=TIMEOUT).status_code,
            range(16)))
        elapsed = time.monotonic() - start
    assert codes == [200] * 16 and not everyone.broken
    assert elapsed >= 0.2


def test_completed_filtering_and_reset_log(endpoint):
    with requests.Session() as session:
        session.post(endpoint.chat_url, json=chat_payload(), timeout=TIMEOUT)
        session.post(endpoint.chat_url, json=chat_payload(model="x"), timeout=TIMEOUT)
        session.post(endpoint.completions_url, json={"model": "test-model", "prompt": "p"},
                     headers={"X-Custom": "yes"}, timeout=TIMEOUT)
    assert len(endpoint.requests) == 3
    assert all(isinstance(r, RecordedRequest) for r in endpoint.requests)
    assert [r.status for r in endpoint.requests] == [200, 404, 200]
    assert len(endpoint.completed()) == 2
    [chat] = endpoint.completed("/v1/chat/completions")
    assert chat.payload == chat_payload()
    assert chat.headers["content-type"] == "application/json"
    [comp] = endpoint.completed("/v1/completions")
    assert comp.headers["x-custom"] == "yes"
    assert endpoint.requests[0].time <= endpoint.requests[2].time
    endpoint.reset_log()
    assert endpoint.requests == [] and endpoint.completed() == []


def test_keep_alive_reuses_connection(endpoint):
    with requests.Session() as session:
        for i in range(5):
            r = session.post(endpoint.chat_url, json=chat_payload(str(i)), timeout=TIMEOUT)
            assert r.status_code == 200
        pools = session.get_adapter(endpoint.chat_url).poolmanager.pools
        # One pooled connection served all five requests.
        assert sum(pools[key].num_connections for key in pools.keys()) == 1
    assert len(endpoint.completed()) == 5


def test_standalone_mode(tmp_path):
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"capital of France": "Paris", "France": "no"}))
    proc = subprocess.Popen(
        [sys.executable, ENDPOINT_SCRIPT, "--port", "0", "--model-id", "demo",
         "--answers", str(answers)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("serving http://127.0.0.1:") and line.endswith("/v1 (model demo)")
        base_url = line.split()[1]
        r = requests.post(base_url + "/chat/completions", timeout=TIMEOUT,
                          json=chat_payload("What is the capital of France?", model="demo"))
        assert r.json()["choices"][0]["message"]["content"] == "Paris"
        r = requests.post(base_url + "/chat/completions", timeout=TIMEOUT,
                          json=chat_payload("Unrelated", model="demo"))
        assert r.json()["choices"][0]["message"]["content"] == "Answer: 0"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
