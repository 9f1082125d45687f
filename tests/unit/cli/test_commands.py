"""The evaltasks command: the reference document's command lines, dry runs that
say why, run history, status, kill, logs and ls."""

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import (REPO, Gsm8kModel, answered, container_ids, containers_created, doit, evaltasks_cli, gone_within,
                      results, wait_for_container, write_config)
from support.endpoint import FakeEndpoint


def cli(*args, **kw):
    return evaltasks_cli(*args, **kw)


def test_ls_tasks_agrees_with_doit_list(tmp_path, state):
    listed = cli("ls", "tasks", "--json")
    assert listed.returncode == 0
    catalog = json.loads(listed.stdout)
    names = [row["name"] for row in catalog]
    assert "gsm8k" in names and all(row["dataset_size"] > 0 for row in catalog)
    tasks = [{"name": name} for name in names]
    cfg = write_config(tmp_path / "all.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out",
                       tasks=tasks)
    doit_listed = doit("list", f"config={cfg}")
    assert doit_listed.returncode == 0, doit_listed.stderr
    doit_names = sorted(line.split()[0].split(":", 1)[1] for line in doit_listed.stdout.splitlines()
                        if line.startswith("eval:"))
    assert doit_names == sorted(names)
    text = cli("ls", "tasks").stdout
    assert all(name in text for name in names)


@pytest.mark.docker
def test_dry_run_says_why_and_writes_nothing(tmp_path, state, gsm8k_endpoint, docker_client):
    out = tmp_path / "results"
    examples = tmp_path / "examples"
    examples.mkdir()
    tasks = [{"name": "gsm8k", "id": "a", "overrides": {"config.params.limit_samples": 3}},
             {"name": "gsm8k", "id": "b", "overrides": {"config.params.limit_samples": 4}}]
    write_config(examples / "mine.yaml", gsm8k_endpoint.chat_url, out, tasks=tasks)
    args = ("run", "--config-dir", str(examples), "--config-name", "mine")

    since = time.time()
    first = cli(*args, "--dry-run")
    assert first.returncode == 0, first.stderr
    assert not out.exists() and not state.exists()                   # wrote nothing
    assert containers_created(docker_client, str(out), since) == []    # started nothing
    assert first.stdout.count(": would run") == 2
    assert f"target missing: {out}/a/results.json" in first.stdout
    assert "no record of a successful run" in first.stdout
    assert "$ docker run --rm --name evaltasks-a-" in first.stdout and "--network host" in first.stdout

    assert cli(*args).returncode == 0
    sent = len(gsm8k_endpoint.requests)
    unchanged = cli(*args, "--dry-run")
    assert unchanged.stdout.count(": up to date") == 2

    changed = cli(*args, "--dry-run", "-o", "evaluation.tasks.b.overrides.config.params.limit_samples=6")
    assert "eval:a: up to date" in changed.stdout
    assert "eval:b: would run\n  - config changed: config.params.limit_samples: 4 → 6" in changed.stdout

    (out / "a" / "results.json").unlink()
    deleted = cli(*args, "--dry-run")
    assert f"eval:a: would run\n  - target missing: {out}/a/results.json" in deleted.stdout
    assert "eval:b: up to date" in deleted.stdout
    assert len(gsm8k_endpoint.requests) == sent                       # dry runs sent nothing


def test_dry_run_shows_secrets_by_name_only(tmp_path, state):
    cfg = write_config(tmp_path / "c.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out",
                       target={"api_endpoint": {"model_id": "m", "url": "http://127.0.0.1:9/v1/chat/completions",
                                                "api_key_name": "DRY_KEY"}},
                       execution={"output_dir": str(tmp_path / "out"),
                                  "extra_docker_args": "--network host -e EXTRA_TOKEN=abc123"})
    dry = cli("run", "--config", str(cfg), "--dry-run", env={"DRY_KEY": "s3cr3t-value"})
    assert dry.returncode == 0, dry.stderr
    assert "stdin: one JSON line with DRY_KEY=$DRY_KEY" in dry.stdout and "-e EXTRA_TOKEN" in dry.stdout
    assert "-e DRY_KEY" not in dry.stdout
    assert "s3cr3t-value" not in dry.stdout and "abc123" not in dry.stdout


@pytest.mark.docker
def test_run_records_history_and_status(tmp_path, state, gsm8k_endpoint):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out)
    run = cli("run", "--config", str(cfg))
    assert run.returncode == 0, run.stdout + run.stderr
    invocation = run.stdout.split()[1].rstrip(":")
    assert f"{invocation}.0 (gsm8k)" in run.stdout
    assert f"job {invocation}.0" in run.stdout

    status = json.loads(cli("status", invocation[:6], "--json").stdout)
    assert status["invocation"]["id"] == invocation and status["invocation"]["status"] == "success"
    job, = status["jobs"]
    assert job["id"] == f"{invocation}.0" and job["status"] == "success"
    assert job["headline"] == "accuracy=0.6667 (n=6)" and job["results_path"] == str(out / "gsm8k" / "results.json")
    assert job["duration"] > 0 and job["executor"] == "docker" and job["handle"]

    text = cli("status", f"{invocation}.0").stdout
    assert "success" in text and "accuracy=0.6667" in text

    again = cli("run", "--config", str(cfg))
    second = again.stdout.split()[1].rstrip(":")
    assert json.loads(cli("status", second, "--json").stdout)["jobs"][0]["status"] == "up-to-date"
    # The up-to-date re-run is folded into the run whose results it found (issue 21).
    runs = cli("ls", "runs").stdout.splitlines()
    assert len(runs) == 1 and runs[0].startswith(invocation)
    assert f"(+1 up-to-date re-run, last {second} at " in runs[0]

    log = cli("logs", f"{invocation}.0")
    assert log.returncode == 0 and "progress 6/6" in log.stdout


@pytest.mark.parametrize("args, message", [
    (("status", "ffffffffffff"), "no invocation or job with id 'ffffffffffff'"),
    (("kill", "nope"), "no invocation or job with id 'nope'"),
    (("logs", "nope"), "no invocation or job with id 'nope'"),
    (("run", "--config-dir", "examples", "--config-name", "no_such"), "no config named 'no_such' in examples"),
    (("run", "--config", "examples/local_endpoint.yaml", "-o", "novalue"), "bad override 'novalue'"),
    (("run", "--config", "examples/local_endpoint.yaml", "-t", "nosuch"), "-t nosuch: no such task"),
    (("ls", "runs", "--since", "yesterday"), "--since 'yesterday': expected a number and a unit"),
    (("frobnicate",), "invalid choice: 'frobnicate'"),
])
def test_bad_usage_is_one_line_and_exit_2(state, args, message):
    done = cli(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.docker
def test_kill_a_running_invocation_then_rerun(tmp_path, state, docker_client, data_dir):
    out = tmp_path / "results"
    label = f"evaltasks.output_dir={out}"
    tasks = [{"name": "gsm8k", "id": "slow", "overrides": {"config.params.limit_samples": 30,
                                                           "config.params.parallelism": 1}}]
    with FakeEndpoint(Gsm8kModel(right=range(30))) as quick:
        done_cfg = write_config(tmp_path / "done.yaml", quick.chat_url, tmp_path / "other", tasks=tasks)
        completed = cli("run", "--config", str(done_cfg))
        assert completed.returncode == 0
    completed_id = completed.stdout.split()[1].rstrip(":")

    with FakeEndpoint(Gsm8kModel(right=range(30)), latency=0.5) as slow:
        cfg = write_config(tmp_path / "c.yaml", slow.chat_url, out, tasks=tasks)
        launcher = _start_launcher(cfg)
        invocation = wait_for_container(docker_client, label).labels["evaltasks.invocation"]
        deadline = time.time() + 60
        while len(answered(slow)) < 3 and time.time() < deadline:
            time.sleep(0.1)
        live = json.loads(cli("status", invocation, "--json").stdout)["jobs"][0]
        assert live["status"] == "running" and live["live"]["state"] == "running"
        assert live["progress"]["total"] == 30 and 1 <= live["progress"]["done"] < 30

        killed_at = time.time()
        kill = cli("kill", invocation)
        assert kill.returncode == 0, kill.stderr
        assert gone_within(docker_client, label, killed_at + 10 - time.time())
        launcher.communicate(timeout=30)

    assert not (out / "slow" / "results.json").exists()
    status = json.loads(cli("status", invocation, "--json").stdout)
    assert status["invocation"]["status"] == "killed" and status["jobs"][0]["status"] == "killed"
    runs = {line.split()[0]: line.split()[3] for line in cli("ls", "runs").stdout.splitlines()}
    assert (runs[invocation], runs[completed_id]) == ("killed", "success")

    with FakeEndpoint(Gsm8kModel(right=range(30))) as fast:
        cfg = write_config(tmp_path / "c.yaml", fast.chat_url, out, tasks=tasks)
        rerun = cli("run", "--config", str(cfg))
    assert rerun.returncode == 0, rerun.stdout
    assert results(out, "slow")["metrics"]["accuracy"]["value"] == 1.0


@pytest.mark.docker
def test_kill_one_job_lets_the_others_finish(tmp_path, state, docker_client, data_dir):
    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "id": "long", "overrides": {"config.params.limit_samples": 60,
                                                           "config.params.parallelism": 1}},
             {"name": "gsm8k", "id": "short", "overrides": {"config.params.limit_samples": 12,
                                                            "config.params.parallelism": 1}}]
    with FakeEndpoint(Gsm8kModel(right=range(60)), latency=0.3) as slow:
        cfg = write_config(tmp_path / "c.yaml", slow.chat_url, out, tasks=tasks)
        launcher = subprocess.Popen([sys.executable, "-m", "evaltasks", "run", "--config", str(cfg), "-n", "2"],
                                    cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        long_box = wait_for_container(docker_client, [f"evaltasks.output_dir={out}", "evaltasks.task=long"])
        job = long_box.labels["evaltasks.job"]
        assert cli("kill", job).returncode == 0
        stdout, _ = launcher.communicate(timeout=120)

    assert launcher.returncode == 1
    assert "killed     eval:long  stopped by `evaltasks kill`" in stdout
    assert "done       eval:short  accuracy=1.0000 (n=12)" in stdout and "Traceback" not in stdout
    assert not (out / "long" / "results.json").exists() and (out / "short" / "results.json").exists()
    assert "[launcher] failed: stopped by `evaltasks kill`" in (out / "long" / "logs" / "stdout.log").read_text()
    status = json.loads(cli("status", job.split(".")[0], "--json").stdout)
    assert status["invocation"]["status"] == "killed"
    assert [(j["status"], j["reason"]) for j in status["jobs"]] == [("killed", "stopped by `evaltasks kill`"),
                                                                    ("success", None)]


def _start_launcher(cfg):
    return subprocess.Popen([sys.executable, "-m", "evaltasks", "run", "--config", str(cfg)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.docker
def test_logs_follow_until_the_job_ends(tmp_path, state, docker_client, data_dir):
    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 8, "config.params.parallelism": 1}}]
    with FakeEndpoint(Gsm8kModel(right=range(8)), latency=0.4) as slow:
        cfg = write_config(tmp_path / "c.yaml", slow.chat_url, out, tasks=tasks)
        launcher = _start_launcher(cfg)
        box = wait_for_container(docker_client, f"evaltasks.output_dir={out}")
        follow = cli("logs", box.labels["evaltasks.job"], "-f", timeout=120)
        launcher.communicate(timeout=60)
    assert follow.returncode == 0
    assert "[launcher] docker run" in follow.stdout and "done: accuracy=1.0000" in follow.stdout


@pytest.mark.docker
def test_a_killed_launcher_is_not_running_forever_and_its_orphans_go(tmp_path, state, docker_client, data_dir):
    out = tmp_path / "results"
    label = f"evaltasks.output_dir={out}"
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 40, "config.params.parallelism": 1}}]
    with FakeEndpoint(Gsm8kModel(right=range(40)), latency=0.5) as slow:
        cfg = write_config(tmp_path / "c.yaml", slow.chat_url, out, tasks=tasks)
        launcher = _start_launcher(cfg)
        orphan = wait_for_container(docker_client, label)
        job = orphan.labels["evaltasks.job"]
        launcher.send_signal(signal.SIGKILL)
        launcher.communicate(timeout=30)
        # The container outlives its launcher: the job is orphaned, not running...
        assert json.loads(cli("status", job, "--json").stdout)["jobs"][0]["status"] == "orphaned"
        assert cli("logs", job, "-f", timeout=30).returncode == 0     # nobody writes its log now: -f ends

        # ...until the next run of that output dir removes it before starting its own, and says so.
        with FakeEndpoint(Gsm8kModel(right=range(40))) as fast:
            cfg = write_config(tmp_path / "c.yaml", fast.chat_url, out, tasks=tasks)
            rerun = cli("run", "--config", str(cfg))
        assert rerun.returncode == 0, rerun.stdout
        assert orphan.id not in container_ids(docker_client)
    second = rerun.stdout.split()[1].rstrip(":")
    assert f"removed 1 container(s) left by invocation {job.split('.')[0]}" in rerun.stdout
    status = json.loads(cli("status", job, "--json").stdout)["jobs"][0]
    assert status["status"] == "failed" and "launcher exited" in status["reason"]
    assert f"container was removed by invocation {second}" in status["reason"]
    assert results(out)["metrics"]["accuracy"]["value"] == 1.0


def test_help_says_all_of_what_the_command_is():
    from evaltasks.cli import main as module

    shown = " ".join(cli("--help").stdout.split())
    for paragraph in module.__doc__.split("\n\n"):
        assert " ".join(paragraph.split()) in shown


def test_the_parser_imports_no_report_code():
    # Every command builds the whole parser, `run` included: the report
    # commands' choices and defaults come from report/options.py, so that a
    # `run` (a rerun with nothing to do above all) does not import the report
    # code (statistics, fractions, decimal) for them.
    code = ("import sys\nfrom evaltasks.cli.main import parser\nparser().parse_args(['run', '--config', 'c.yaml'])\n"
            "print(sorted(m for m in sys.modules if m.startswith(('evaltasks.report', 'statistics', 'decimal'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "['evaltasks.report', 'evaltasks.report.options']"
    # and `evaltasks compare --help` still shows the defaults it takes from there
    shown = cli("compare", "--help").stdout
    assert "(default 0.05)" in shown and "(default 3;" in shown
