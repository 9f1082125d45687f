"""Preflight asks as the task will: its system prompt and its params go into the
check request, so a server that refuses either stops the run before it starts,
in one line. The server here is a scripted one of our own that, like some chat
templates and strict APIs, refuses a system role and parameters it does not know."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import containers_created, doit, write_config
from evaltasks.pipeline import preflight
from evaltasks.pipeline.preflight import PreflightFailed

KNOWN = {"model", "messages", "max_tokens", "temperature", "top_p", "seed"}


class Strict(BaseHTTPRequestHandler):
    """Answers a chat completion; refuses a system message or an unknown parameter with HTTP 400."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        unknown = sorted(set(body) - KNOWN)
        if any(m.get("role") == "system" for m in body.get("messages", [])):
            self.reply(400, {"error": {"message": "System role not supported", "type": "invalid_request_error"}})
        elif unknown:
            self.reply(400, {"error": {"message": f"Unsupported parameter: {unknown[0]}"}})
        else:
            self.reply(200, {"model": body["model"], "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Answer: 4"}, "finish_reason": "stop"}]})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def strict():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Strict)
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"
    server.shutdown()
    server.server_close()


def endpoint(url, **adapter_config):
    return {"url": url, "model_id": "test-model", "type": "chat", "api_key_name": None,
            "adapter_config": adapter_config}


def test_the_check_request_carries_the_tasks_system_prompt_and_params(strict):
    server, url = strict
    params = {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 512, "seed": 7}
    plain = preflight.request(endpoint(url), params)
    assert plain == {"model": "test-model", "messages": [{"role": "user", "content": "Hi"}],
                     "temperature": 0.6, "top_p": 0.95, "seed": 7, "max_tokens": 1}
    assert preflight.check(url, "test-model", "chat", None, body=plain) is None

    system = preflight.request(endpoint(url, use_system_prompt=True, custom_system_prompt="Think."), params)
    with pytest.raises(PreflightFailed) as e:
        preflight.check(url, "test-model", "chat", None, body=system, task="eval:gsm8k")
    assert str(e.value) == (f"preflight: {url} (model test-model): HTTP 400 System role not supported; it "
                            "refused eval:gsm8k's request (a system message, temperature=0.6, top_p=0.95, "
                            "seed=7, max_tokens=1)")

    added = preflight.request(endpoint(url, params_to_add={"min_p": 0.1}), params)
    with pytest.raises(PreflightFailed, match=r"HTTP 400 Unsupported parameter: min_p; it refused the request "):
        preflight.check(url, "test-model", "chat", None, body=added)


def test_tasks_asking_differently_are_each_checked_once(strict):
    from types import SimpleNamespace

    _, url = strict
    task = lambda params, **config: SimpleNamespace(endpoint=endpoint(url, **config), params=params, judges=[])
    cold, warm = {"temperature": 0.0}, {"temperature": 0.7}
    found = preflight.endpoints([task(cold), task(cold), task(warm),
                                 task(cold, use_system_prompt=True, custom_system_prompt="Be brief.")])
    assert len(found) == 3
    assert {json.loads(key[-1]).get("temperature") for key in found} == {0.0, 0.7}


@pytest.mark.docker
def test_a_server_refusing_the_system_role_stops_the_run_at_preflight(strict, tmp_path, docker_client):
    server, url = strict
    out = tmp_path / "results"
    since = time.time()
    cfg = write_config(tmp_path / "c.yaml", url, out, target={"api_endpoint": {
        "model_id": "test-model", "url": url, "api_key_name": None,
        "adapter_config": {"use_system_prompt": True, "custom_system_prompt": "You are a careful mathematician."}}})
    run = doit(f"config={cfg}")
    assert run.returncode != 0
    errors = [line for line in run.stdout.splitlines() if line.startswith("error:")]
    assert errors == [f"error: cannot start: preflight: {url} (model test-model): HTTP 400 System role not "
                      "supported; it refused eval:gsm8k's request (a system message, temperature=0.0, "
                      "max_tokens=1)"], run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert len(server.requests) == 1            # the check only: no sample was sent
    assert containers_created(docker_client, str(out), since) == []
    assert not (out / "gsm8k" / "results.json").exists()
