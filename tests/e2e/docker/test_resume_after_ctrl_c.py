"""Ctrl-C mid-run, then the same command again: a request that got its answer is
never sent again (issue 8, item 2). The launcher stops containers with SIGTERM
and a grace period; the harness then starts no new request and caches the
replies in flight."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import DATA_DIR, REPO, Gsm8kModel, doit, is_preflight, results, wait_for_container, write_config
from support.endpoint import FakeEndpoint
from support.harness_task import cached_replies, partial_replies, task_dir

ITEMS, PARALLELISM = 160, 4


def sample_requests(records):
    return [r for r in records if r.path.endswith("/chat/completions") and not is_preflight(r.payload)]


def key(record):
    return json.dumps(record.payload, sort_keys=True)


def test_sigterm_stops_the_harness_with_every_reply_cached(tmp_path):
    cache = tmp_path / "cache"
    with FakeEndpoint(Gsm8kModel(right=range(40)), latency=0.3) as ep:
        out = task_dir(tmp_path / "out", ep.chat_url, limit_samples=40, parallelism=PARALLELISM)
        env = dict(os.environ, PYTHONPATH=str(REPO), EVALTASKS_DATA_DIR=str(DATA_DIR),
                   EVALTASKS_RESPONSE_CACHE=str(cache))
        harness = subprocess.Popen([sys.executable, "-m", "evaltasks.harness", str(out)], env=env,
                                   stdout=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while len(ep.completed()) < 8 and time.time() < deadline:
            time.sleep(0.02)
        answered_before = len(ep.completed())
        harness.send_signal(signal.SIGTERM)
        log, _ = harness.communicate(timeout=120)
        sent = len(ep.requests)
    # The requests in flight at SIGTERM (one per worker at most), not the remaining ones.
    assert sent <= answered_before + PARALLELISM
    assert harness.returncode == 1
    assert "FAILED: stopped (SIGTERM) after" in log and "cached for a rerun" in log
    assert not (out / "results.json").exists()
    assert 8 <= sent < 40 and len(cached_replies(cache)) == sent == len(ep.completed())


@pytest.mark.docker
def test_rerun_after_ctrl_c_repeats_no_answered_request(tmp_path, docker_client):
    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": ITEMS,
                                             "config.params.parallelism": PARALLELISM}}]
    with FakeEndpoint(Gsm8kModel(right=range(ITEMS)), latency=0.25) as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=tasks)
        # A process group of its own, signalled as a terminal's Ctrl-C signals one.
        launcher = subprocess.Popen([sys.executable, "-m", "doit", f"config={cfg}"], cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True)
        wait_for_container(docker_client, f"evaltasks.output_dir={out}")
        deadline = time.time() + 120
        while len(sample_requests(ep.completed())) < 60 and time.time() < deadline:
            time.sleep(0.05)
        os.killpg(launcher.pid, signal.SIGINT)
        _, err = launcher.communicate(timeout=60)
        assert launcher.returncode != 0 and "interrupted" in err
        assert not (out / "gsm8k" / "results.json").exists()
        # The endpoint finishes answering what it received.
        deadline = time.monotonic() + 60
        while any(r.status == -1 for r in list(ep.requests)) and time.monotonic() < deadline:
            time.sleep(0.05)
        n_first = len(ep.requests)
        first = sample_requests(ep.requests[:n_first])
        answered_first = {key(r) for r in first if r.status == 200}
        assert 60 <= len(answered_first) < ITEMS
        # Every reply is stored whole: no half-written entry is left in the cache.
        cache = out / ".response_cache"
        assert len(cached_replies(cache)) == len(answered_first) and partial_replies(cache) == 0

        again = doit(f"config={cfg}")
        assert again.returncode == 0, again.stdout + again.stderr
        second = sample_requests(ep.requests[n_first:])

    repeated = {key(r) for r in second} & {key(r) for r in first}
    assert not repeated & answered_first, "answered requests were sent again"
    assert len(repeated) <= PARALLELISM
    assert len({key(r) for r in first} | {key(r) for r in second}) == ITEMS
    assert results(out)["metrics"]["accuracy"]["value"] == 1.0
