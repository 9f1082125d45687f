"""The harness ↔ launcher failure contract, on the harness process itself (no
Docker): ``python3 -m evaltasks.harness <task_dir>`` exits 1 with one
``FAILED: <why>`` line, leaves no results.json, and the launcher reads that
line back as the task's reason."""

import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from conftest import DATA_DIR, REPO
from support.endpoint import FakeEndpoint
from evaltasks.pipeline.actions import _harness_error
from support.harness_task import task_dir


def harness(task, data_dir=DATA_DIR):
    """The harness process as the container runs it, its stdout kept as the log."""
    env = dict(os.environ, PYTHONPATH=str(REPO), EVALTASKS_DATA_DIR=str(data_dir))
    env.pop("EVALTASKS_RESPONSE_CACHE", None)
    done = subprocess.run([sys.executable, "-m", "evaltasks.harness", str(task)], env=env,
                          capture_output=True, text=True, timeout=120)
    (task / "stdout.log").write_text(done.stdout)
    return done


def assert_failed_with(done, task, reason):
    assert done.returncode == 1, done.stdout + done.stderr
    failed = [line for line in done.stdout.splitlines() if "FAILED: " in line]
    assert len(failed) == 1 and reason in failed[0], done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert not (task / "results.json").exists()
    assert reason in _harness_error(task / "stdout.log")       # what the launcher will report


def test_a_bad_dataset_is_one_failed_line(tmp_path):
    data = tmp_path / "data"
    (data / "gsm8k").mkdir(parents=True)
    (data / "gsm8k" / "test.jsonl").write_text('{"question": "q", "answer": "#### 1"}\nnot json\n')
    with FakeEndpoint() as ep:
        task = task_dir(tmp_path / "task", ep.chat_url, limit_samples=2)
        done = harness(task, data_dir=data)
    assert_failed_with(done, task, f"bad dataset: {data / 'gsm8k' / 'test.jsonl'}:2")
    assert ep.requests == []


def test_a_missing_dataset_names_the_file(tmp_path):
    with FakeEndpoint() as ep:
        task = task_dir(tmp_path / "task", ep.chat_url, limit_samples=2)
        done = harness(task, data_dir=tmp_path / "empty")
    assert_failed_with(done, task, f"dataset file missing: {tmp_path / 'empty' / 'gsm8k'}")


def test_failed_requests_are_one_failed_line(tmp_path):
    with FakeEndpoint(model_id="another-model") as ep:       # every request: 404 unknown model
        task = task_dir(tmp_path / "task", ep.chat_url, limit_samples=3, parallelism=1)
        done = harness(task)
    assert_failed_with(done, task, "1 of 3 samples failed (1× HTTP 404)")
    assert "The model `test-model` does not exist" in _harness_error(task / "stdout.log")


class NotJson(BaseHTTPRequestHandler):
    """A proxy's error page served with status 200, as misconfigured gateways do."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<html><body>Gateway says hello</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def not_json_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotJson)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"
    server.shutdown()
    server.server_close()


def test_a_200_that_is_not_json_is_one_failed_line(tmp_path, not_json_url):
    task = task_dir(tmp_path / "task", not_json_url, limit_samples=2, parallelism=1)
    done = harness(task)
    assert_failed_with(done, task, f"reply from {not_json_url} is not JSON")
    assert "Gateway says hello" in _harness_error(task / "stdout.log")
