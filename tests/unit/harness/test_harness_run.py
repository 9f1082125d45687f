"""The harness on the host, against FakeEndpoint on 127.0.0.1.

``run.run`` end to end: faults, the response cache across reruns, adapters,
failed samples, completions.

The harness ↔ launcher failure contract, on the harness process itself (no
Docker): ``python3 -m evaltasks.harness <task_dir>`` exits 1 with one
``FAILED: <why>`` line, leaves no results.json, and the launcher reads that
line back as the task's reason."""

import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from conftest import DATA_DIR, REPO, Gsm8kModel
from support.endpoint import FakeEndpoint, InFlight
from evaltasks.harness import client, run
from evaltasks.harness.samples import SampleSpool
from evaltasks.pipeline.actions import _harness_error
from support.harness_task import cached_replies, results, samples, task_dir

RIGHT = [i for i in range(200) if i % 3 != 1]       # the questions Gsm8kModel answers right


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(client, "BACKOFF", 0.001)


@pytest.fixture
def response_cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("EVALTASKS_RESPONSE_CACHE", str(folder))
    return folder


def test_faults_and_retries_change_nothing_in_the_results(tmp_path, monkeypatch):
    with FakeEndpoint(Gsm8kModel(RIGHT)) as ep:
        monkeypatch.setenv("EVALTASKS_RESPONSE_CACHE", str(tmp_path / "clean-cache"))
        run.run(task_dir(tmp_path / "clean", ep.chat_url))
    with FakeEndpoint(Gsm8kModel(RIGHT), fault_rate=0.3, retry_after=0,
                      fault_kinds=("500", "502", "503", "429", "reset")) as faulty:
        monkeypatch.setenv("EVALTASKS_RESPONSE_CACHE", str(tmp_path / "faulty-cache"))
        run.run(task_dir(tmp_path / "faulty", faulty.chat_url))

    clean, noisy = results(tmp_path / "clean"), results(tmp_path / "faulty")
    assert clean["metrics"] == noisy["metrics"]
    assert clean["metrics"]["accuracy"]["value"] == sum(i in RIGHT for i in range(30)) / 30
    assert noisy["samples"] == 30 and noisy["failed_samples"] == 0
    assert [s["index"] for s in samples(tmp_path / "faulty")] == list(range(30))
    assert not any("error" in s for s in samples(tmp_path / "faulty"))
    stats = noisy["response_stats"]
    faults = len(faulty.requests) - 30
    assert faults > 0 and stats["retries"] == faults and stats["requests"] == 30
    assert stats["status_codes"]["200"] == 30 and sum(stats["status_codes"].values()) == 30 + faults
    assert set(stats["status_codes"]) - {"200"} <= {"500", "502", "503", "429", "connection_error"}


def test_a_killed_run_resumes_with_only_the_unfinished_requests(tmp_path, response_cache):
    total = 40
    model = Gsm8kModel(RIGHT)
    with FakeEndpoint(model, latency=0.2) as slow:
        out = task_dir(tmp_path / "out", slow.chat_url, limit_samples=total, parallelism=2)
        env = dict(os.environ, PYTHONPATH=str(REPO), EVALTASKS_DATA_DIR=str(DATA_DIR))
        harness = subprocess.Popen([sys.executable, "-m", "evaltasks.harness", str(out)], env=env,
                                   stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120      # a hung harness, not a slow machine
            done = 0
            while done < total // 2 and time.monotonic() < deadline and harness.poll() is None:
                time.sleep(0.05)
                if (out / "progress.json").exists():
                    done = json.loads((out / "progress.json").read_text())["done"]
            harness.send_signal(signal.SIGKILL)      # as `docker kill` or the OOM killer would
        finally:
            harness.wait(timeout=10)
    assert harness.returncode == -signal.SIGKILL
    assert total // 2 <= done < total and not (out / "results.json").exists()
    finished = len(cached_replies(response_cache))
    assert finished >= done

    with FakeEndpoint(model) as ep:
        run.run(task_dir(out, ep.chat_url, limit_samples=total, parallelism=2))
    assert len(ep.requests) == total - finished
    r = results(out)
    assert r["response_stats"]["cache_hits"] == finished and r["response_stats"]["requests"] == total - finished
    assert r["metrics"]["accuracy"]["value"] == sum(i in RIGHT for i in range(total)) / total


def test_a_failed_run_keeps_its_replies_for_the_rerun(tmp_path, response_cache):
    model = Gsm8kModel(RIGHT)
    answered = []

    def until_the_server_breaks(payload):
        if len(answered) >= 12:
            raise RuntimeError("server fell over")
        answered.append(1)
        return model(payload)

    out = tmp_path / "out"
    with FakeEndpoint(until_the_server_breaks) as broken:
        with pytest.raises(run.TaskFailed, match=r"1 of 30 samples failed \(1× HTTP 500\).*"
                                                 r"17 samples not tried; the replies received are cached for a rerun"):
            run.run(task_dir(out, broken.chat_url, parallelism=1, max_retries=2))
    assert not (out / "results.json").exists()
    assert len(broken.requests) == 12 + 3 and len(cached_replies(response_cache)) == 12

    with FakeEndpoint(model) as ep:
        run.run(task_dir(out, ep.chat_url, parallelism=1))
    assert len(ep.requests) == 30 - 12
    assert results(out)["metrics"]["accuracy"]["value"] == sum(i in RIGHT for i in range(30)) / 30


def test_more_samples_send_only_the_new_ones_and_new_params_send_all(tmp_path, response_cache, capsys):
    out = tmp_path / "out"
    with FakeEndpoint(Gsm8kModel(RIGHT)) as ep:
        run.run(task_dir(out, ep.chat_url, limit_samples=100, parallelism=8))
        assert len(ep.requests) == 100
        assert "cache: 0 hits, 100 new requests" in capsys.readouterr().out

        run.run(task_dir(out, ep.chat_url, limit_samples=200, parallelism=8))
        assert len(ep.requests) == 200
        assert "cache: 100 hits, 100 new requests" in capsys.readouterr().out
        assert results(out)["samples"] == 200 and results(out)["response_stats"]["cache_hits"] == 100

        run.run(task_dir(out, ep.chat_url, limit_samples=200, parallelism=8, temperature=0.6))
        assert len(ep.requests) == 400
        assert "cache: 0 hits, 200 new requests" in capsys.readouterr().out


@pytest.mark.parametrize("parallelism", [1, 16])
def test_parallelism_is_how_many_requests_are_in_flight(tmp_path, parallelism):
    """The endpoint is kept exactly ``parallelism`` requests busy: never more,
    and (with 4 times as many samples) that many at some point."""
    slow = InFlight(0.2)
    with FakeEndpoint(slow) as ep:
        out = task_dir(tmp_path / "out", ep.chat_url, limit_samples=4 * parallelism, parallelism=parallelism)
        run.run(out)
    assert slow.peak == parallelism
    assert results(out)["samples"] == 4 * parallelism


def test_without_the_cache_variable_nothing_is_cached(tmp_path, monkeypatch):
    monkeypatch.delenv("EVALTASKS_RESPONSE_CACHE", raising=False)
    out = tmp_path / "out"
    with FakeEndpoint(Gsm8kModel(RIGHT)) as ep:
        run.run(task_dir(out, ep.chat_url, limit_samples=5))
        run.run(task_dir(out, ep.chat_url, limit_samples=5))
    assert len(ep.requests) == 10 and sorted(os.listdir(out)) == [
        "progress.json", "results.json", "samples.jsonl", "task.json"]


ADAPTER = {"use_system_prompt": True, "custom_system_prompt": "You are a careful mathematician.",
           "use_reasoning": True,
           "params_to_add": {"top_k": 20, "chat_template_kwargs": {"enable_thinking": True}},
           "params_to_remove": ["seed"],
           "params_to_rename": {"max_tokens": "max_completion_tokens"}}


@pytest.mark.parametrize("style", ["think tags", "reasoning_content"])
def test_adapters_show_in_what_the_endpoint_receives_and_in_samples(tmp_path, response_cache, style):
    model = Gsm8kModel(RIGHT)

    def reasoning_model(payload):
        answer = model(payload)
        if style == "think tags":
            return f"<think>Let me add it all up.</think>{answer}"
        return {"role": "assistant", "content": answer, "reasoning_content": "Let me add it all up."}

    out = tmp_path / "out"
    with FakeEndpoint(reasoning_model) as ep:
        run.run(task_dir(out, ep.chat_url, limit_samples=6, seed=7, adapter=ADAPTER))
    sent = ep.requests[0].payload
    assert sent["messages"][0] == {"role": "system", "content": ADAPTER["custom_system_prompt"]}
    assert sent["top_k"] == 20 and sent["chat_template_kwargs"] == {"enable_thinking": True}
    assert sent["max_completion_tokens"] == 256 and "max_tokens" not in sent and "seed" not in sent

    rows = samples(out)
    by_prompt = {json.dumps(r.payload["messages"], sort_keys=True): r.payload for r in ep.requests}
    for row in rows:
        payload = by_prompt[json.dumps(row["prompt"], sort_keys=True)]
        assert row["request_params"] == {k: v for k, v in payload.items() if k != "messages"}
        assert row["reasoning"] == "Let me add it all up."
        assert "<think>" not in row["response"] and row["response"].endswith(f"Answer: {row['extracted']}")
    r = results(out)
    assert r["metrics"]["accuracy"]["value"] == sum(i in RIGHT for i in range(6)) / 6
    assert r["response_stats"]["tokens"]["reasoning"] == {"total": 6 * 6, "mean": 6.0}
    assert r["response_stats"]["finish_reasons"] == {"stop": 6}


def test_request_and_response_logging_never_shows_the_key(tmp_path, response_cache, monkeypatch, capsys):
    monkeypatch.setenv("EVAL_KEY", "sk-secret-123")
    out = task_dir(tmp_path / "out", "", limit_samples=8,
                   adapter={"use_request_logging": True, "use_response_logging": True, "max_logged_responses": 2})
    with FakeEndpoint(Gsm8kModel(RIGHT), api_key="sk-secret-123") as ep:
        task = json.loads((out / "task.json").read_text())
        task["endpoint"].update(url=ep.chat_url, api_key_name="EVAL_KEY")
        (out / "task.json").write_text(json.dumps(task))
        run.run(out)
    assert all(r.headers["authorization"] == "Bearer sk-secret-123" for r in ep.requests)
    log = capsys.readouterr().out
    assert log.count("] request: {") == 5 and log.count("] response: {") == 2
    assert "sk-secret" not in log and "Bearer" not in log


def failing_for(indices):
    """Gsm8kModel answering every question right, except that it breaks (HTTP 500,
    every time) on the questions with these indices."""
    model = Gsm8kModel(range(1319))
    broken = {question for question, (index, _) in model.by_question.items() if index in indices}

    def respond(payload):
        if any(question in payload["messages"][-1]["content"] for question in broken):
            raise RuntimeError("this one always fails")
        return model(payload)

    return respond


def test_failed_samples_fail_the_task_by_default(tmp_path, response_cache):
    out = tmp_path / "out"
    with FakeEndpoint(failing_for({3, 11, 20})) as ep:
        with pytest.raises(run.TaskFailed, match=r"samples failed \(\d× HTTP 500\), more than "
                                                 r"allowed_failure_rate 0.0 allows \(0\); first: HTTP 500: "
                                                 r"Responder failed: RuntimeError: this one always fails "
                                                 r"\(gave up after 3 attempts\)"):
            run.run(task_dir(out, ep.chat_url, max_retries=2))
        assert not (out / "results.json").exists()
        assert any("error" in row for row in samples(out))

        # Once the second failure exceeds the budget of one, no further request starts.
        with pytest.raises(run.TaskFailed, match=r"2 of 30 samples failed \(2× HTTP 500\), more than allowed_failure_rate "
                                                 r"0.05 allows \(1\);.* 18 samples not tried"):
            run.run(task_dir(out, ep.chat_url, max_retries=2, allowed_failure_rate=0.05, parallelism=1))
        assert not (out / "results.json").exists()


def test_allowed_failure_rate_scores_failed_samples_zero(tmp_path, response_cache):
    out = tmp_path / "out"
    with FakeEndpoint(failing_for({3, 11, 20})) as ep:
        run.run(task_dir(out, ep.chat_url, max_retries=2, allowed_failure_rate=0.1))
    r = results(out)
    assert r["failed_samples"] == 3 and r["samples"] == 30
    assert r["metrics"]["accuracy"] == pytest.approx({"value": 27 / 30, "stderr": r["metrics"]["accuracy"]["stderr"],
                                                      "n": 30})
    assert r["response_stats"]["status_codes"] == {"200": 27, "500": 9}
    failed = [row for row in samples(out) if "error" in row]
    assert [row["index"] for row in failed] == [3, 11, 20]
    assert all(row["score"] == 0.0 and "this one always fails" in row["error"] and row["prompt"] for row in failed)


def test_completions_endpoint(tmp_path, response_cache):
    model = Gsm8kModel(RIGHT)
    out = tmp_path / "out"
    with FakeEndpoint(lambda p: model({"messages": [{"content": p["prompt"]}]})) as ep:
        run.run(task_dir(out, ep.completions_url, type="completions", limit_samples=6,
                         adapter={"use_system_prompt": True, "custom_system_prompt": "Be exact."}))
    assert {r.path for r in ep.requests} == {"/v1/completions"}
    sent = ep.requests[0].payload
    assert "messages" not in sent and sent["prompt"].startswith("Be exact.\n\nSolve the following math problem")
    rows = samples(out)
    assert rows[0]["prompt"].startswith("Be exact.\n\n") and rows[0]["request_params"]["max_tokens"] == 256
    r = results(out)
    assert r["endpoint"]["type"] == "completions"
    assert r["metrics"]["accuracy"]["value"] == sum(i in RIGHT for i in range(6)) / 6


def test_sample_spool_reads_back_in_index_order(tmp_path):
    with SampleSpool(tmp_path) as spool:
        for index in (2, 0, 3):
            spool.add(index, {"index": index, "response": "é" * index})
        assert len(spool) == 3 and [row["index"] for row in spool] == [0, 2, 3]
        assert spool[-1] == {"index": 3, "response": "ééé"} and [r["index"] for r in spool[1:]] == [2, 3]
        spool.add(1, {"index": 1, "response": "é"})          # a row after reading goes to the end
        spool.write(tmp_path / "samples.jsonl")
        assert [r["index"] for r in spool] == [0, 1, 2, 3]
    assert samples(tmp_path) == [{"index": i, "response": "é" * i} for i in range(4)]
    assert os.listdir(tmp_path) == ["samples.jsonl"]                   # the spool file leaves no trace
    assert (tmp_path / "samples.jsonl").stat().st_mode & 0o077 != 0    # not mkstemp's 0600


# The failure contract.


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
