"""The executors behind one interface: the same config under runtime: docker and
runtime: process (real harness, real venv, real endpoint on 127.0.0.1), and
runtime: process on a machine whose Docker daemon does not answer."""

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import REPO, FakeEndpoint, Gsm8kModel, evaltasks_cli, write_config
from evaltasks.report.stats import wilson


pytestmark = pytest.mark.usefixtures("own_cache")


def process_config(path, url, out, tasks=None, **execution):
    return write_config(path, url, out, tasks, execution=dict({"runtime": "process"}, **execution))


def test_without_docker_the_example_runs_with_runtime_process(tmp_path, state):
    # This test sees no Docker daemon (conftest points DOCKER_HOST at a dead socket).
    out = tmp_path / "results"
    with FakeEndpoint(Gsm8kModel(right={0, 1, 2, 3})) as ep:
        cfg = process_config(tmp_path / "p.yaml", ep.chat_url, out)
        run = evaltasks_cli("run", "--config", str(cfg))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "preparing: output dir lock, harness venv" in run.stdout
        results = json.loads((out / "gsm8k" / "results.json").read_text())
        assert results["metrics"]["accuracy"]["value"] == pytest.approx(4 / 6)
        log = (out / "gsm8k" / "logs" / "stdout.log").read_text()
        assert "-m evaltasks.harness" in log and "harness exited with code 0" in log
        invocation = run.stdout.split()[1].rstrip(":")
        status = json.loads(evaltasks_cli("status", invocation, "--json").stdout)
        [job] = status["jobs"]
        assert (job["status"], job["executor"]) == ("success", "process") and job["handle"].endswith("process.json")
        # Nothing left: no pid record, and the next run has nothing to do.
        assert not (out / "gsm8k" / "process.json").exists()
        again = evaltasks_cli("run", "--config", str(cfg))
        assert again.returncode == 0 and "1 up to date: eval:gsm8k" in again.stdout
        # A rerun with nothing to do still shows the score, from results.json.
        [row] = [line for line in again.stdout.splitlines() if line.lstrip().startswith("eval:gsm8k")]
        assert row.split()[1:4] == ["up", "to", "date"] and "accuracy=0.6667 (n=6)" in row
        # The end table gives each task that ran its 95% interval: the summary's, or,
        # when only that task was asked for (no summary), from its samples.
        low, high = wilson(4, 6)
        interval = f"accuracy=0.6667 [{low:.4f}, {high:.4f}] (n=6)"
        only = evaltasks_cli("run", "--config", str(cfg), "--force", "-t", "eval:gsm8k")
        assert only.returncode == 0 and "summary.html" not in only.stdout, only.stdout
        for text in (run.stdout, only.stdout):
            [row] = [line for line in text.splitlines() if line.lstrip().startswith("eval:gsm8k")]
            assert row.split()[1] == "done" and interval in row, text


def test_the_end_table_lists_tasks_in_the_configs_order_whatever_order_they_end_in(tmp_path, state):
    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "id": "slow",
              "overrides": {"config.params.limit_samples": 4, "config.params.parallelism": 1}},
             {"name": "gsm8k", "id": "fast", "overrides": {"config.params.limit_samples": 1}}]
    with FakeEndpoint(Gsm8kModel(right={0}), latency=1.0) as ep:
        cfg = process_config(tmp_path / "p.yaml", ep.chat_url, out, tasks)
        run = evaltasks_cli("run", "--config", str(cfg), "-n", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    done = [line.split()[1] for line in run.stdout.splitlines() if line.startswith("done ")]
    assert done == ["eval:fast", "eval:slow"], run.stdout       # 1 request of 1 s against 4 in a row
    table = [line.split()[0] for line in run.stdout.split("\n\n")[-1].splitlines()[1:]
             if line.lstrip().startswith("eval:")]
    assert table == ["eval:slow", "eval:fast"], run.stdout


def test_runtime_docker_without_a_daemon_names_runtime_process(tmp_path, state):
    cfg = write_config(tmp_path / "d.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out")
    run = evaltasks_cli("run", "--config", str(cfg), "--skip-preflight")
    assert run.returncode != 0
    [line] = [l for l in run.stdout.splitlines() if l.startswith("error:")]
    assert "no Docker daemon answers" in line and line.endswith("or run without Docker: execution.runtime: process")


def test_humaneval_under_runtime_process_needs_the_opt_in(tmp_path, state):
    out = tmp_path / "out"
    cfg = process_config(tmp_path / "h.yaml", "http://127.0.0.1:9/v1/chat/completions", out,
                         [{"name": "humaneval", "overrides": {"config.params.limit_samples": 1}}])
    refused = evaltasks_cli("run", "--config", str(cfg))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1
    assert "task(s) humaneval run model-written code" in refused.stderr and "--confirm-run-unsafe-code" in refused.stderr
    assert not out.exists()
    # Opted in (here by the config key), it gets past the refusal: to the preflight, whose endpoint is down.
    opted = evaltasks_cli("run", "--config", str(cfg), "-o", "execution.confirm_run_unsafe_code=true")
    assert "model-written code" not in opted.stdout + opted.stderr and "preflight" in opted.stdout


def mixed_answers(payload):
    """Deterministic replies, some right for each of the four benchmarks: a letter,
    a number, and a function body, chosen by the prompt."""
    prompt = json.dumps(payload["messages"])
    n = sum(map(ord, prompt))
    return (f"Let me think. The answer is {n % 7}.\nAnswer: {'ABCDEFGHIJ'[n % 10]}\n"
            f"```python\n    return {'[]' if n % 2 else 'None'}\n```\nDONE. All lowercase words here")


@pytest.mark.docker
def test_docker_and_process_give_the_same_scores(tmp_path, docker_client):
    tasks = [{"name": name, "overrides": {"config.params.limit_samples": 8}}
             for name in ("gsm8k", "mmlu_pro", "humaneval", "ifeval")]
    outs = {}
    with FakeEndpoint(mixed_answers) as ep:
        for runtime in ("docker", "process"):
            outs[runtime] = tmp_path / runtime
            cfg = process_config(tmp_path / f"{runtime}.yaml", ep.chat_url, outs[runtime], tasks, runtime=runtime,
                                 confirm_run_unsafe_code=True)
            run = evaltasks_cli("run", "--config", str(cfg), env={"EVALTASKS_STATE_DIR": str(tmp_path / "state")})
            assert run.returncode == 0, run.stdout + run.stderr
    for task in ("gsm8k", "mmlu_pro", "humaneval", "ifeval"):
        read = lambda runtime, name: (outs[runtime] / task / name).read_text()
        assert json.loads(read("docker", "results.json"))["metrics"] == \
            json.loads(read("process", "results.json"))["metrics"], task
        scores = lambda runtime: [(r["index"], r["score"]) for r in map(json.loads, read(runtime, "samples.jsonl").splitlines())]
        assert scores("docker") == scores("process") and len(scores("docker")) == 8, task
    # Not all wrong, not all right: the comparison says something.
    total = [r["score"] for t in ("gsm8k", "mmlu_pro", "humaneval", "ifeval")
             for r in map(json.loads, (outs["process"] / t / "samples.jsonl").read_text().splitlines())]
    assert 0 < sum(bool(s) for s in total) < len(total)


@pytest.fixture
def slow_process_run(tmp_path, state):
    """A runtime: process run of one task whose harness waits on a slow endpoint."""
    import subprocess
    import time

    out = tmp_path / "results"
    with FakeEndpoint(latency=60) as ep:
        cfg = process_config(tmp_path / "slow.yaml", ep.chat_url, out, preflight=False)
        launcher = subprocess.Popen([sys.executable, "-m", "evaltasks", "run", "--config", str(cfg)], cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=dict(os.environ, PYTHONUNBUFFERED="1"))
        invocation = launcher.stdout.readline().split()[1].rstrip(":")
        deadline = time.monotonic() + 120
        while not ep.requests and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ep.requests
        yield launcher, invocation, out
        if launcher.poll() is None:
            launcher.kill()
        launcher.wait(30)


def harness_pids(task_dir):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if f"evaltasks.harness\0{task_dir}" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                found.append(pid)
        except OSError:
            pass
    return found


def test_status_and_kill_of_a_process_job(slow_process_run):
    launcher, invocation, out = slow_process_run
    text = evaltasks_cli("status", invocation).stdout
    assert "running" in text and "process pid" in text, text
    assert harness_pids(out / "gsm8k")
    kill = evaltasks_cli("kill", f"{invocation}.0")
    assert kill.stdout.startswith(f"killed job {invocation}.0: stopped 1 job(s), removed 1 process(s)"), kill.stdout
    assert harness_pids(out / "gsm8k") == []
    assert launcher.wait(60) != 0
    assert not (out / "gsm8k" / "results.json").exists() and not (out / "gsm8k" / "process.json").exists()


def test_ctrl_c_stops_the_harness_processes(slow_process_run):
    import signal

    launcher, invocation, out = slow_process_run
    launcher.send_signal(signal.SIGINT)
    assert launcher.wait(60) == 130
    assert "interrupted: stopped 1 process(s)" in launcher.stderr.read()
    assert harness_pids(out / "gsm8k") == []
    assert not (out / "gsm8k" / "results.json").exists()


def test_a_killed_launchers_harness_is_orphaned_then_removed_by_the_next_run(slow_process_run, tmp_path):
    launcher, invocation, out = slow_process_run
    launcher.kill()         # SIGKILL: no handler runs; the harness, in a session of its own, goes on
    launcher.wait(30)
    assert harness_pids(out / "gsm8k")
    [job] = json.loads(evaltasks_cli("status", invocation, "--json").stdout)["jobs"]
    assert job["status"] == "orphaned" and job["live"]["kind"] == "process"
    with FakeEndpoint(Gsm8kModel(right=range(6))) as fast:
        rerun = evaltasks_cli("run", "--config", str(tmp_path / "slow.yaml"), "-o", f"target.api_endpoint.url={fast.chat_url}")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"removed 1 process(s) left by invocation {invocation}" in rerun.stdout
    assert harness_pids(out / "gsm8k") == []
    [job] = json.loads(evaltasks_cli("status", invocation, "--json").stdout)["jobs"]
    assert job["status"] == "failed" and "its process was removed by invocation" in job["reason"]
