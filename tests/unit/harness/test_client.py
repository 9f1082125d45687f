"""The endpoint transport (retries, Retry-After, failing fast) against a real local
server, and the adapters: what a payload holds and how a reply is read."""

import socket
import time

import pytest

from support.endpoint import FakeEndpoint
from evaltasks.harness import client
from evaltasks.harness.adapters import Adapter, TrafficLog, flatten, split_reasoning
from evaltasks.harness.client import Client, EndpointError, retry_after
from evaltasks.harness.response_stats import ResponseStats
from support.drivers import both_drivers  # noqa: F401  (a fixture)

# Each transport test runs through both drivers (support/drivers.py).
pytestmark = pytest.mark.usefixtures("both_drivers")

USER = [{"role": "user", "content": "What is 2+2?"}]


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(client, "BACKOFF", 0.001)


def chat(content="q"):
    return {"model": "test-model", "messages": [{"role": "user", "content": content}]}


# -- transport ------------------------------------------------------------------

def test_every_transient_kind_is_retried_and_observed(fast_retries):
    stats = ResponseStats()
    with FakeEndpoint(lambda p: "ok", fault_rate=1.0, retry_after=0) as ep:
        c = Client(ep.chat_url, max_retries=5, log=lambda m: None, observe=stats.attempt)
        for i in range(40):         # the seeded draw hands out every kind over 40 payloads
            assert c.post(chat(f"q{i}"))["choices"][0]["message"]["content"] == "ok"
    codes = stats.summary()["status_codes"]
    assert codes["200"] == 40 and sum(codes.values()) == len(ep.requests) == 80
    assert {"429", "500", "502", "503", "connection_error"} <= set(codes)
    assert len(stats.latencies) == 40


def test_retry_after_is_honoured(fast_retries):
    with FakeEndpoint(lambda p: "ok", fault_rate=1.0, fault_kinds=("429",), retry_after=1) as ep:
        started = time.monotonic()
        Client(ep.chat_url, max_retries=1, log=lambda m: None).post(chat())
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in ep.requests] == [429, 200]


@pytest.mark.parametrize("header, seconds", [
    (None, None), ("0", 0.0), ("2.5", 2.5), ("-3", 0.0), ("999", client.MAX_BACKOFF), ("soon", None),
    ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
])
def test_retry_after_header(header, seconds):
    now = 1445412480.0          # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after(header, now=now) == seconds


def test_timeouts_are_retried_then_reported(fast_retries):
    stats = ResponseStats()
    with FakeEndpoint(lambda p: "late", latency=1.5) as ep:
        c = Client(ep.chat_url, request_timeout=0.2, max_retries=1, log=lambda m: None, observe=stats.attempt)
        with pytest.raises(EndpointError, match="gave up after 2 attempts") as failed:
            c.post(chat())
    assert failed.value.kind == "timeout" and stats.status_codes == {"timeout": 2}


def test_connection_refused_is_retried_then_reported(fast_retries):
    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    logged = []
    c = Client(f"http://127.0.0.1:{port}/v1/chat/completions", max_retries=2, log=logged.append)
    with pytest.raises(EndpointError, match=r"cannot connect; is the server running\? \(gave up after 3 attempts\)") as failed:
        c.post(chat())
    assert failed.value.kind == "connection_error" and len(logged) == 2


def test_other_client_errors_fail_at_once_with_the_endpoints_message():
    logged = []
    with FakeEndpoint(api_key="right") as ep:
        c = Client(ep.chat_url, api_key="wrong", max_retries=5, log=logged.append)
        with pytest.raises(EndpointError, match="HTTP 401: Incorrect API key provided") as failed:
            c.post(chat())
        assert failed.value.kind == "HTTP 401" and len(ep.requests) == 1 and logged == []
        assert Client(ep.chat_url, api_key="right").post(chat())["choices"]
        assert ep.requests[-1].headers["authorization"] == "Bearer right"


# -- payload ----------------------------------------------------------------------

def test_generation_params_then_add_remove_rename_in_that_order():
    adapter = Adapter("m", generation={"temperature": 0.5, "max_new_tokens": 64, "seed": 3, "top_p": None},
                      config={"params_to_add": {"top_k": 20, "max_tokens": 99, "scratch": 1},
                              "params_to_remove": ["scratch", "seed"],
                              "params_to_rename": {"max_tokens": "max_completion_tokens", "absent": "x"}})
    assert adapter.payload(USER) == {"model": "m", "messages": USER, "temperature": 0.5,
                                     "max_completion_tokens": 99, "top_k": 20}


def test_custom_system_prompt_replaces_the_benchmarks():
    messages = [{"role": "system", "content": "Theirs."}] + USER
    adapter = Adapter("m", config={"use_system_prompt": True, "custom_system_prompt": "Ours."})
    assert adapter.payload(messages)["messages"] == [{"role": "system", "content": "Ours."}] + USER
    assert Adapter("m", config={"custom_system_prompt": "Ours."}).payload(messages)["messages"] == messages


def test_completions_get_the_messages_as_one_plain_prompt():
    adapter = Adapter("m", "completions", config={"use_system_prompt": True, "custom_system_prompt": "Be brief."})
    body = adapter.payload(USER)
    assert body == {"model": "m", "prompt": "Be brief.\n\nWhat is 2+2?"} and "messages" not in body
    assert flatten(USER) == "What is 2+2?"


# -- reading replies ----------------------------------------------------------------

def reply(message, usage=None, finish="stop"):
    return {"choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage or {"prompt_tokens": 5, "completion_tokens": 9}}


@pytest.mark.parametrize("text, reasoning, answer", [
    ("<think>a b</think>Answer: 4", "a b", "Answer: 4"),
    ("<think>never closed", "never closed", ""),
    ("template opened it</think>Answer: 4", "template opened it", "Answer: 4"),
    ("<think>one</think>mid<think>two</think>end", "one\n\ntwo", "midend"),
    ("plain", None, "plain"),
])
def test_split_reasoning(text, reasoning, answer):
    assert split_reasoning(text) == (reasoning, answer)


def test_think_blocks_are_stripped_only_when_asked():
    message = {"role": "assistant", "content": "<think>two plus two</think>Answer: 4"}
    on = Adapter("m", config={"process_reasoning_traces": True}).read(reply(message))
    assert (on.text, on.reasoning, on.reasoning_tokens) == ("Answer: 4", "two plus two", 3)
    off = Adapter("m").read(reply(message))
    assert (off.text, off.reasoning, off.reasoning_tokens) == (message["content"], None, None)


def test_reasoning_content_is_the_reasoning_and_think_blocks_in_content_go_too():
    message = {"role": "assistant", "content": "Answer: <think>4</think>", "reasoning_content": "add them up"}
    usage = {"prompt_tokens": 5, "completion_tokens": 30, "completion_tokens_details": {"reasoning_tokens": 21}}
    answer = Adapter("m", config={"use_reasoning": True}).read(reply(message, usage, "length"))
    assert answer.text == "Answer:" and answer.reasoning == "add them up\n\n4"
    assert answer.notes == ["removed a <think> block (1 characters) from the content beside reasoning_content; "
                            "added to reasoning"]
    assert (answer.prompt_tokens, answer.completion_tokens, answer.reasoning_tokens) == (5, 30, 21)
    assert answer.finish_reason == "length"
    plain = Adapter("m").read(reply(message))
    assert plain.text == "Answer: <think>4</think>" and plain.reasoning == "add them up" and plain.notes == []
    with pytest.raises(EndpointError, match="^no content: finish_reason stop$"):
        Adapter("m", config={"use_reasoning": True}).read(reply(dict(message, content=None)))


def test_completions_replies_are_read_from_text():
    answer = Adapter("m", "completions").read({"choices": [{"text": " 4", "finish_reason": "stop"}]})
    assert answer.text == " 4" and answer.prompt_tokens is None


@pytest.mark.parametrize("bad", [{}, {"choices": []}, {"choices": [{"text": "x"}]}, {"choices": ["x"]},
                                 {"choices": [{"message": {"content": ["parts"]}}]}, []])
def test_malformed_replies_are_endpoint_errors(bad):
    with pytest.raises(EndpointError, match="malformed reply") as failed:
        Adapter("m").read(bad)
    assert failed.value.kind == "malformed reply"


# -- traffic log ----------------------------------------------------------------------

def test_traffic_log_writes_the_first_n_bodies():
    logged = []
    traffic = TrafficLog({"use_request_logging": True, "max_logged_requests": 2,
                          "use_response_logging": True, "max_logged_responses": None}, logged.append)
    for i in range(8):
        traffic.request({"n": i})
        traffic.response({"r": i})
    assert sum(line.startswith("request: ") for line in logged) == 2
    assert sum(line.startswith("response: ") for line in logged) == 5       # the default
    quiet = []
    for config in ({}, {"use_request_logging": False, "max_logged_requests": 3},
                   {"use_request_logging": True, "max_logged_requests": 0}):
        TrafficLog(config, quiet.append).request({"n": 0})
    assert quiet == []


def test_proxy_variables_are_still_honoured(monkeypatch):
    # The client reads them once, not per request; a proxy sees the absolute URL.
    with FakeEndpoint() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        c = Client("http://model.invalid/v1/chat/completions", max_retries=0, log=lambda m: None)
        with pytest.raises(EndpointError, match="HTTP 404"):
            c.post(chat())
    assert proxy.requests[0].path == "http://model.invalid/v1/chat/completions"


def test_repeated_samples_get_their_own_seed():
    from evaltasks.harness.adapters import Adapter

    adapter = Adapter("m", generation={"seed": 7, "temperature": 0.8})
    messages = [{"role": "user", "content": "q"}]
    assert adapter.payload(messages)["seed"] == 7
    assert adapter.payload(messages, sample=2)["seed"] == 9
    assert "seed" not in Adapter("m", generation={"seed": None}).payload(messages, sample=2)
