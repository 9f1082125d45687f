"""Whatever a server sends back (issue 14): the harness process, run on a task
dir against HostileEndpoint, ends with a clear line (or a real score), never
hangs, never crashes, never scores a missing answer as a silent zero."""

import json
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import REPO, Gsm8kModel, doit, write_config
from support.hostile_endpoint import HostileEndpoint
from evaltasks.pipeline import preflight
from evaltasks.pipeline.preflight import PreflightFailed
from support.harness_task import cached_replies, results, samples, task_dir

MODEL = Gsm8kModel(range(1319))         # every answer right, when it arrives intact
QUESTIONS = {question: index for question, (index, _) in MODEL.by_question.items()}


def index_of(payload):
    text = payload["messages"][-1]["content"]
    return next(i for q, i in QUESTIONS.items() if q in text)


def only(indices):
    """A ``hostile`` predicate: just the samples with these indices."""
    return lambda payload: "messages" in payload and payload.get("max_tokens") != 1 and index_of(payload) in indices


def harness(out, cache=None, timeout=120):
    """The harness process on task dir ``out``: (exit code, stdout, seconds)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("EVALTASKS_RESPONSE_CACHE", None)
    if cache:
        env["EVALTASKS_RESPONSE_CACHE"] = str(cache)
    started = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "evaltasks.harness", str(out)], env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in p.stdout + p.stderr, p.stdout + p.stderr
    return p.returncode, p.stdout, time.monotonic() - started


def failed_line(stdout):
    lines = [line for line in stdout.splitlines() if "] FAILED: " in line]
    assert len(lines) == 1, stdout
    return lines[0].split("] FAILED: ", 1)[1]


def run_against(tmp_path, way, *, hostile=None, seconds=1.0, **params):
    """A run of its own (task dir and cache) against a server answering ``way``."""
    kwargs = {"hostile": hostile} if hostile else {}
    folder = tmp_path / f"{way}-{len(list(tmp_path.iterdir()))}"
    with HostileEndpoint(way, MODEL, seconds=seconds, **kwargs) as ep:
        out = task_dir(folder / "out", ep.chat_url, **{"limit_samples": 20, **params})
        code, stdout, seconds = harness(out, cache=folder / "cache")
    return code, stdout, seconds, out


# -- a whole-request deadline --------------------------------------------------------

def test_a_trickling_server_fails_the_task_within_the_deadline(tmp_path):
    # The server sends a byte a second, minutes for a whole reply: a sample that
    # failed "timed out after 5 s" was cut by the deadline, whatever the machine's load.
    code, stdout, seconds, out = run_against(tmp_path, "trickle", request_timeout=5, max_retries=1)
    assert code == 1, (seconds, stdout)
    assert re.fullmatch(r"\d of 20 samples failed \(\d× timeout\), more than allowed_failure_rate 0.0 allows \(0\); "
                        r"first: timed out after 5 s, the reply incomplete \(gave up after 2 attempts\); "
                        r"\d+ samples not tried", failed_line(stdout))
    assert not (out / "results.json").exists()
    rows = samples(out)
    assert rows and all(r["error"].startswith("timed out after 5 s") and r["score"] == 0.0 for r in rows)


def test_a_server_that_stalls_after_the_headers_is_a_timeout(tmp_path):
    code, stdout, _, out = run_against(tmp_path, "stall", hostile=only({2, 7}), request_timeout=2, max_retries=0,
                                       allowed_failure_rate=0.1)
    assert code == 0
    r = results(out)
    assert r["failed_samples"] == 2 and r["metrics"]["accuracy"]["value"] == 18 / 20
    assert r["response_stats"]["status_codes"] == {"200": 18, "timeout": 2}       # not connection_error
    rows = samples(out)
    assert [i for i, row in enumerate(rows) if "error" in row] == [2, 7]
    assert rows[2]["error"] == "timed out after 2 s, the reply incomplete (gave up after 1 attempts)"


def test_a_server_that_closes_without_a_reply_says_so(tmp_path):
    code, stdout, _, out = run_against(tmp_path, "close", max_retries=1)
    assert code == 1
    line = failed_line(stdout)
    assert re.search(r"\(\d× connection_error\).*first: closed the connection without a reply "
                     r"\(gave up after 2 attempts\)", line), line
    # Nothing was answered, so nothing was cached for a rerun.
    assert "cached" not in line and cached_replies(out.parent / "cache") == []
    assert not (out / "results.json").exists()
    assert all(row["error"].startswith("closed the connection without a reply") for row in samples(out))


# -- what the reply holds ------------------------------------------------------------

def test_a_lone_surrogate_is_replaced_and_noted(tmp_path):
    code, stdout, _, out = run_against(tmp_path, "surrogate")
    assert code == 0, stdout
    assert results(out)["metrics"]["accuracy"]["value"] == 1.0
    for row in samples(out):
        assert row["response"].endswith(" \ufffd")
        assert row["notes"] == ["replaced 1 lone surrogate(s), which no file can hold, with U+FFFD"]
    # The cache keeps the reply as sent, and a rerun reads it back the same.
    assert len(cached_replies(out.parent / "cache")) == 20
    code, stdout, _ = harness(out, cache=out.parent / "cache")
    assert code == 0 and "cache: 20 hits, 0 new requests" in stdout
    assert all(row["notes"] for row in samples(out))


@pytest.mark.parametrize("way, reason", [("null_content", "no content: finish_reason stop"),
                                         ("tool_calls", "no content: finish_reason tool_calls")])
def test_no_content_is_a_failed_sample_not_a_zero(tmp_path, way, reason):
    code, stdout, _, out = run_against(tmp_path, way)
    assert code == 1
    assert re.fullmatch(rf"\d of 20 samples failed \(\d× no content\), .* first: {reason}; \d+ samples not tried",
                        failed_line(stdout))
    assert not (out / "results.json").exists()
    assert all(row["error"] == reason for row in samples(out))

    code, stdout, _, out = run_against(tmp_path, way, hostile=only({4, 9}), allowed_failure_rate=0.1)
    assert code == 0
    r = results(out)
    assert r["failed_samples"] == 2 and r["metrics"]["accuracy"]["value"] == 18 / 20
    assert [(row["index"], row["error"]) for row in samples(out) if "error" in row] == [(4, reason), (9, reason)]


def test_content_parts_are_joined(tmp_path):
    code, stdout, _, out = run_against(tmp_path, "parts")
    assert code == 0, stdout
    assert results(out)["metrics"]["accuracy"]["value"] == 1.0
    assert all(row["response"].startswith("Let me think step by step.") for row in samples(out))


def test_think_blocks_go_even_beside_reasoning_content(tmp_path):
    code, stdout, _, out = run_against(tmp_path, "think_and_reasoning", adapter={"use_reasoning": True})
    assert code == 0, stdout
    assert results(out)["metrics"]["accuracy"]["value"] == 1.0
    for row in samples(out):
        assert "<think>" not in row["response"] and "99999" not in row["response"]
        assert row["reasoning"] == "Let me add it all up.\n\nMaybe it is Answer: 99999"
        assert row["notes"] == ["removed a <think> block (25 characters) from the content beside "
                                "reasoning_content; added to reasoning"]


def test_a_bad_usage_is_reported_as_such_and_the_answer_still_scored(tmp_path):
    code, stdout, _, out = run_against(tmp_path, "bad_usage")
    assert code == 0, stdout
    r = results(out)
    assert r["metrics"]["accuracy"]["value"] == 1.0 and r["failed_samples"] == 0
    assert r["response_stats"]["invalid_token_counts"] == 20
    assert r["response_stats"]["tokens"]["prompt"] == {"total": 0, "mean": None}
    assert all(row["notes"] == ['usage ignored: "n/a" is not an object'] for row in samples(out))


def test_negative_and_string_token_counts_are_dropped_and_counted(tmp_path):
    code, stdout, _, out = run_against(tmp_path, "bad_tokens")
    assert code == 0, stdout
    stats = results(out)["response_stats"]
    assert stats["invalid_token_counts"] == 40
    assert stats["tokens"]["prompt"] == {"total": 0, "mean": None}
    assert stats["tokens"]["completion"] == {"total": 0, "mean": None}


def test_answers_cut_off_at_the_token_limit_are_counted(tmp_path):
    code, stdout, _, out = run_against(tmp_path, "length", hostile=only({0, 1, 2}))
    assert code == 0, stdout
    stats = results(out)["response_stats"]
    assert stats["cut_off"] == 3 and stats["finish_reasons"] == {"length": 3, "stop": 17}
    assert "3 answers cut off at the token limit (finish_reason length)" in stdout
    assert [row["finish_reason"] for row in samples(out)][:4] == ["length"] * 3 + ["stop"]


# -- the replies that were handled well already --------------------------------------

@pytest.mark.parametrize("way, kind, first", [
    ("invalid_json", "malformed reply", "reply from .* is not JSON: '{\"choices\": \\[{\"message\": '"),
    ("html", "malformed reply", "reply from .* is not JSON: '<html><body><h1>502 Bad Gateway"),
    ("sse", "malformed reply", "reply from .* is not JSON: 'data: {"),
    ("no_choices", "malformed reply", r"malformed reply: choices is \[\] in "),
    ("deep", "malformed reply", r"reply from .* is not JSON: '\[\[\["),
    ("http400", "HTTP 400", "HTTP 400: context length exceeded"),
    ("http401", "HTTP 401", "HTTP 401: key revoked"),
])
def test_bad_replies_mid_run_fail_with_one_line(tmp_path, way, kind, first):
    code, stdout, _, out = run_against(tmp_path, way, hostile=only(set(range(10, 20))), parallelism=1)
    assert code == 1
    line = failed_line(stdout)
    assert re.fullmatch(rf"1 of 20 samples failed \(1× {kind}\), .*; first: {first}.*; 9 samples not tried; "
                        r"the replies received are cached for a rerun", line), line
    rows = samples(out)
    assert len(rows) == 11 and "error" in rows[10] and not any("error" in row for row in rows[:10])


def test_slow_and_huge_replies_are_just_answers(tmp_path):
    code, stdout, seconds, out = run_against(tmp_path, "slow", seconds=0.5, limit_samples=8)
    assert code == 0 and results(out)["metrics"]["accuracy"]["value"] == 1.0
    code, stdout, seconds, out = run_against(tmp_path, "huge", hostile=only({3}), limit_samples=8)
    assert code == 0, stdout
    assert results(out)["metrics"]["accuracy"]["value"] == 1.0 and len(samples(out)[3]["response"]) > 20_000_000


def test_log_lines_of_parallel_workers_never_share_a_line(tmp_path):
    code, stdout, _, _ = run_against(tmp_path, "http503", limit_samples=40, parallelism=16, max_retries=3,
                                     allowed_failure_rate=0.5)
    assert stdout.count("retry ") >= 40
    assert all(re.match(r"\[\d\d:\d\d:\d\d\] \S", line) for line in stdout.splitlines()), stdout


# -- the preflight -------------------------------------------------------------------

@pytest.mark.parametrize("way, message", [
    ("trickle", "timed out after 2 s, the reply incomplete"),
    ("trickle_headers", "timed out after 2 s, no reply"),
    ("stall", "timed out after 2 s, the reply incomplete"),
    ("close", "closed the connection without a reply"),
    ("html", "HTTP 200 but not a completion: the reply is not JSON: '<html>"),
    ("sse", "HTTP 200 but not a completion: the reply is not JSON: 'data: {"),
    ("invalid_json", "HTTP 200 but not a completion: the reply is not JSON"),
    ("no_choices", "HTTP 200 but not a completion: malformed reply: choices is []"),
    ("deep", "HTTP 200 but not a completion: the reply is not JSON"),
])
def test_preflight_says_what_is_wrong_within_its_deadline(monkeypatch, way, message):
    monkeypatch.setattr(preflight, "TIMEOUT", 2)
    with HostileEndpoint(way, hostile=lambda p: True) as ep:
        with pytest.raises(PreflightFailed) as e:
            preflight.check(ep.chat_url, "test-model", "chat", None)
    assert str(e.value).startswith(f"preflight: {ep.chat_url} (model test-model): {message}"), str(e.value)


@pytest.mark.parametrize("way", ["null_content", "tool_calls", "parts", "bad_usage"])
def test_preflight_accepts_a_completion_without_text(way):
    with HostileEndpoint(way, hostile=lambda p: True) as ep:
        assert preflight.check(ep.chat_url, "test-model", "chat", None) is None


# -- through the pipeline, in a container --------------------------------------------

@pytest.mark.docker
def test_a_trickling_server_fails_the_task_in_its_container(tmp_path, docker_client):
    out = tmp_path / "results"
    with HostileEndpoint("trickle", MODEL) as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=[{"name": "gsm8k", "overrides": {
            "config.params.limit_samples": 20, "config.params.parallelism": 4,
            "config.params.request_timeout": 5, "config.params.max_retries": 1}}])
        run = doit(f"config={cfg}", timeout=300)
    assert run.returncode != 0
    assert re.search(r"FAILED     eval:gsm8k  \d of 20 samples failed \(\d× timeout\), .*first: timed out after 5 s",
                     run.stdout), run.stdout
    assert not (out / "gsm8k" / "results.json").exists()
    rows = [json.loads(line) for line in (out / "gsm8k" / "samples.jsonl").read_text().splitlines()]
    assert rows and all(row["error"].startswith("timed out after 5 s") for row in rows)
    # A reply trickles a byte a second (minutes in all): "timed out after 5 s" is the deadline cutting it.


@pytest.mark.docker
@pytest.mark.parametrize("way, message", [("trickle", "timed out after 2 s, the reply incomplete"),
                                          ("close", "closed the connection without a reply"),
                                          ("html", "HTTP 200 but not a completion: the reply is not JSON")])
def test_preflight_from_a_container_says_what_is_wrong_within_its_deadline(monkeypatch, docker_client, way, message):
    from evaltasks.executors.docker import image, probe

    monkeypatch.setattr(preflight, "TIMEOUT", 2)
    harness_image = image.ensure(docker_client, image.base_image(), log=lambda m: None)
    send = probe.from_container(docker_client, harness_image, "host", f"evaltasks-test-probe-{way}", {})
    with HostileEndpoint(way, hostile=lambda p: True) as ep:
        with pytest.raises(PreflightFailed) as e:
            preflight.check(ep.chat_url, "test-model", "chat", None, send=send)
    assert str(e.value).startswith(f"preflight: {ep.chat_url} (model test-model): {message}"), str(e.value)
