"""`evaltasks run`'s options and the config keys that shape a run, each through
the real pipeline: --force, --continue, -t, execution.mode: sequential, the
response cache's use_caching / caching_dir, `ls runs` filters, and doit -f
from another folder."""

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from conftest import REPO, answered, evaltasks_cli, results, write_config
from support.endpoint import FakeEndpoint
from support.harness_task import cached_replies


def two_tasks(first="a", second="b", **first_overrides):
    return [{"name": "gsm8k", "id": first, "overrides": {"config.params.limit_samples": 2, **first_overrides}},
            {"name": "gsm8k", "id": second, "overrides": {"config.params.limit_samples": 2}}]


@pytest.mark.docker
def test_force_reruns_an_up_to_date_task_and_rewrites_its_results(tmp_path, state, gsm8k_endpoint):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out)
    assert evaltasks_cli("run", "--config", str(cfg)).returncode == 0
    first = results(out)
    written = (out / "gsm8k" / "results.json").stat().st_mtime_ns
    assert "1 up to date: eval:gsm8k" in evaltasks_cli("run", "--config", str(cfg)).stdout

    forced = evaltasks_cli("run", "--config", str(cfg), "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "running    eval:gsm8k" in forced.stdout and "up to date" not in forced.stdout
    assert (out / "gsm8k" / "results.json").stat().st_mtime_ns > written
    again = results(out)
    assert again["finished"] != first["finished"] and again["metrics"] == first["metrics"]


@pytest.mark.docker
def test_continue_runs_the_other_tasks_after_a_failure(tmp_path, state, gsm8k_endpoint):
    # Task "bad" asks for a model the endpoint does not serve (HTTP 404); one task
    # at a time, in the order -t names them, so without --continue "good" never starts.
    out = tmp_path / "results"
    tasks = two_tasks("bad", "good", **{"target.api_endpoint.model_id": "no-such-model"})
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out, tasks=tasks)
    args = ("run", "--config", str(cfg), "-n", "1", "--skip-preflight", "-t", "bad", "-t", "good")

    stopped = evaltasks_cli(*args)
    assert stopped.returncode != 0
    assert "FAILED     eval:bad" in stopped.stdout and "running    eval:good" not in stopped.stdout
    assert not (out / "good" / "results.json").exists()

    kept_going = evaltasks_cli(*args, "--continue")
    assert kept_going.returncode != 0                          # a failed task still fails the run
    assert "FAILED     eval:bad" in kept_going.stdout and "done       eval:good" in kept_going.stdout
    assert results(out, "good")["samples"] == 2 and not (out / "bad" / "results.json").exists()


@pytest.mark.docker
def test_t_runs_only_the_named_task(tmp_path, state, gsm8k_endpoint):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out, tasks=two_tasks())
    only = evaltasks_cli("run", "--config", str(cfg), "-t", "b")
    assert only.returncode == 0, only.stdout + only.stderr
    assert results(out, "b")["samples"] == 2
    assert not (out / "a").exists() and "eval:a" not in only.stdout
    assert len(answered(gsm8k_endpoint)) == 2


class TasksInFlight:
    """A responder that counts the tasks (each has its own temperature) with a
    request being answered at once; with ``meet``, a request waits (up to 2
    minutes) until that many tasks have one in flight together: it happens, or
    the tasks never ran side by side. Order of events, not clock time."""

    def __init__(self, meet=None):
        self.cond = threading.Condition()
        self.in_flight = Counter()
        self.most = 0
        self.meet, self.met = meet, False

    def __call__(self, payload):
        task = payload.get("temperature")
        with self.cond:
            self.in_flight[task] += 1
            self.most = max(self.most, len(+self.in_flight))
            self.met = self.met or len(+self.in_flight) == self.meet
            self.cond.notify_all()
            if self.meet:
                self.cond.wait_for(lambda: self.met, timeout=120)
        time.sleep(0.2)                                  # a model's answer takes a while
        with self.cond:
            self.in_flight[task] -= 1
        return "The answer is 1."


@pytest.mark.docker
@pytest.mark.parametrize("mode", ["sequential", "parallel"])
def test_sequential_mode_runs_one_task_at_a_time(tmp_path, state, data_dir, mode):
    """The endpoint never answers two tasks' requests at once, whatever -n says;
    in parallel mode (the control) all three tasks have a request in flight together."""
    tasks = [{"name": "gsm8k", "id": f"t{i}",
              "overrides": {"config.params.limit_samples": 4, "config.params.parallelism": 2,
                            "config.params.temperature": i / 10}} for i in range(3)]
    counter = TasksInFlight(meet=3 if mode == "parallel" else None)
    with FakeEndpoint(counter) as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, tmp_path / "results", tasks=tasks,
                           execution={"mode": mode, "preflight": False})
        run = evaltasks_cli("run", "--config", str(cfg), "-n", "3")
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(answered(ep)) == 12
    if mode == "sequential":
        assert counter.most == 1
    else:
        assert counter.met and counter.most == 3


@pytest.mark.docker
def test_without_caching_nothing_is_cached_and_a_rerun_asks_again(tmp_path, state, gsm8k_endpoint):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out,
                       evaluation={"overrides": {"target.api_endpoint.adapter_config.use_caching": False}})
    assert evaltasks_cli("run", "--config", str(cfg)).returncode == 0
    assert len(answered(gsm8k_endpoint)) == 6
    assert not (out / ".response_cache").exists()
    (out / "gsm8k" / "results.json").unlink()
    assert evaltasks_cli("run", "--config", str(cfg)).returncode == 0
    assert len(answered(gsm8k_endpoint)) == 12


@pytest.mark.docker
def test_caching_dir_shares_one_cache_between_output_dirs(tmp_path, state, gsm8k_endpoint):
    shared = tmp_path / "shared-cache"
    shared_cache = {"overrides": {"target.api_endpoint.adapter_config.caching_dir": str(shared)}}
    for out in (tmp_path / "first", tmp_path / "second"):
        cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out, evaluation=shared_cache)
        run = evaltasks_cli("run", "--config", str(cfg))
        assert run.returncode == 0, run.stdout + run.stderr
        assert not (out / ".response_cache").exists()
    assert len(answered(gsm8k_endpoint)) == 6                   # the second output dir's run asked nothing
    assert len(cached_replies(shared)) == 6
    assert results(tmp_path / "second")["response_stats"]["cache_hits"] == 6


def test_ls_runs_filters_by_age_and_count_and_speaks_json(state):
    from evaltasks.state.history import History

    history = History()
    for invocation in ("aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"):
        history.start_invocation(invocation, "c.yaml", "/out", [], [(f"{invocation}.0", "gsm8k", "r", "l")])
        history.finish_invocation(invocation, "success")
        time.sleep(0.01)                                        # distinct start times, in this order
    with sqlite3.connect(history.path) as db:                   # the first run was two days ago
        db.execute("update invocations set started = started - 2 * 86400 where id = 'aaaaaaaaaaaa'")

    def ls(*args):
        done = evaltasks_cli("ls", "runs", *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    every = json.loads(ls("--json"))
    assert [i["id"] for i in every] == ["cccccccccccc", "bbbbbbbbbbbb", "aaaaaaaaaaaa"]
    assert every[0]["status"] == "success" and [j["id"] for j in every[0]["jobs"]] == ["cccccccccccc.0"]
    assert [i["id"] for i in json.loads(ls("--json", "--since", "1d"))] == ["cccccccccccc", "bbbbbbbbbbbb"]
    assert [i["id"] for i in json.loads(ls("--json", "--limit", "1"))] == ["cccccccccccc"]
    text = ls("--since", "3d", "--limit", "2").splitlines()
    assert [line.split()[0] for line in text] == ["cccccccccccc", "bbbbbbbbbbbb"]


@pytest.mark.docker
def test_doit_f_from_another_folder_takes_paths_from_there(tmp_path, state, gsm8k_endpoint):
    """The README's `doit -f path/to/dodo.py config=my.yaml`: the config and a relative
    output_dir are the caller's, not dodo.py's folder."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_config(elsewhere / "my.yaml", gsm8k_endpoint.chat_url, "results/mine")
    run = subprocess.run([sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"), "config=my.yaml"],
                         cwd=elsewhere, env=dict(os.environ), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert results(elsewhere / "results" / "mine")["samples"] == 6
    assert not (REPO / "results" / "mine").exists()
