"""A deployment in the pipeline: one server per run, a setup task of every
evaluation, stopped whatever way the run ends. The server is tests/support/endpoint.py
run as a `generic` deployment's command (a real process, a real port)."""

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, doit, evaltasks_cli, free_port, gone_within
from support.harness_task import cached_replies

ENDPOINT = REPO / "tests" / "support" / "endpoint.py"


def write(tmp_path, port, latency=0.0, tasks=None, timeout=60, extra="", **deployment):
    out = tmp_path / "results"
    command = f"{sys.executable} {ENDPOINT} --port {port} --model-id stand-in --latency {latency} {extra}"
    doc = {
        "defaults": [{"execution": "local"}, {"deployment": "generic"}, "_self_"],
        "execution": {"output_dir": str(out), "endpoint_readiness_timeout": timeout},
        "deployment": dict({"command": command, "port": port, "served_model_name": "stand-in",
                            "endpoints": {"health": "/v1/models"}}, **deployment),
        "target": {"api_endpoint": {"api_key_name": None}},
        "evaluation": {"tasks": tasks or [
            {"name": "gsm8k", "overrides": {"config.params.limit_samples": 4}},
            {"name": "ifeval", "overrides": {"config.params.limit_samples": 3}}]},
    }
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    return cfg, out


def server_processes(port):
    """Pids of live processes serving ``port`` (the stand-in's command line names it)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "endpoint.py" in cmd and f"--port {port} " in cmd and state != "Z":
            found.append(int(pid))
    return found


def server_log(out):
    return (out / "deployment" / "logs" / "server.log").read_text()


def replies(out):
    """Replies received, per deployed model's response cache (each stored as it arrives)."""
    return {folder.name: len(cached_replies(folder))
            for folder in (out / ".response_cache").glob("deployment-*")}


@pytest.mark.docker
def test_one_server_for_all_tasks_then_up_to_date_and_fingerprinted(tmp_path, docker_client):
    port = free_port()
    cfg, out = write(tmp_path, port)
    first = doit("-n", "2", f"config={cfg}")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count("model server started (generic") == 1
    assert "model server ready after" in first.stdout and "model server stopped" in first.stdout
    for task in ("gsm8k", "ifeval"):
        result = json.loads((out / task / "results.json").read_text())
        assert result["endpoint"]["url"] == f"http://127.0.0.1:{port}/v1/chat/completions"
        assert result["model_id"] == "stand-in"
    assert server_processes(port) == []
    assert not (out / "deployment" / "process.json").exists()

    # Up to date: no server started; another port changes nothing measured.
    again = doit("-n", "2", f"config={cfg}", f"deployment.port={free_port()}")
    assert again.returncode == 0, again.stdout
    assert "2 up to date" in again.stdout and "model server" not in again.stdout

    # Another served-model argument: every task reruns, asking the new server (not the old replies' cache).
    command = f"deployment.command={sys.executable} {ENDPOINT} --port {port} --model-id stand-in --latency 0.01"
    dry = evaltasks_cli("run", "--config", str(cfg), "--dry-run", "-o", command)
    assert dry.stdout.count("would run") == 2 and "would start, shared by 2 task(s)" in dry.stdout, dry.stdout
    assert "deployed model changed: deployment.command: " in dry.stdout
    changed = doit("-n", "2", f"config={cfg}", command)
    assert changed.returncode == 0, changed.stdout
    assert "done       eval:gsm8k" in changed.stdout and "done       eval:ifeval" in changed.stdout
    # Replies are cached per deployed model: the new one answered everything again.
    assert sorted(replies(out).values()) == [7, 7]
    invocation = changed.stdout.split()[1].rstrip(":")
    status = evaltasks_cli("status", invocation)
    assert f"model server log: {out}/deployment/logs/server.log" in status.stdout, status.stdout
    logs = evaltasks_cli("logs", invocation, "--server")
    assert logs.returncode == 0 and f"[launcher] invocation {invocation}, model server started" in logs.stdout
    assert "--latency 0.01" in logs.stdout


def test_dry_run_shows_the_server_command_line_secrets_by_name(tmp_path):
    port = free_port()
    cfg, out = write(tmp_path, port, env_vars={"TOKEN": "MY_SERVER_TOKEN"})
    run = evaltasks_cli("run", "--config", str(cfg), "--dry-run", env={"MY_SERVER_TOKEN": "s3cret-value"})
    assert run.returncode == 0, run.stderr
    assert "model server (generic): would start, shared by 2 task(s)" in run.stdout
    assert f"$ TOKEN=$MY_SERVER_TOKEN /bin/sh -c '{sys.executable} {ENDPOINT} --port {port}" in run.stdout
    assert "s3cret-value" not in run.stdout and not out.exists()


@pytest.mark.docker
def test_server_killed_mid_run_fails_the_running_tasks(tmp_path, docker_client):
    port = free_port()
    cfg, out = write(tmp_path, port, latency=0.5, tasks=[
        {"name": "gsm8k", "overrides": {"config.params.limit_samples": 40, "config.params.parallelism": 1}},
        {"name": "ifeval", "overrides": {"config.params.limit_samples": 40, "config.params.parallelism": 1}}])
    proc = subprocess.Popen([sys.executable, "-m", "doit", "-n", "2", "--continue", f"config={cfg}"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and sum(replies(out).values()) >= 3):
        time.sleep(0.2)
    record = json.loads((out / "deployment" / "process.json").read_text())
    os.killpg(record["pgid"], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0
    for task in ("gsm8k", "ifeval"):
        assert f"FAILED     eval:{task}  model server exited (code 137, SIGKILL) (server log: {out}" in stdout, stdout
        assert not (out / task / "results.json").exists()
        log = (out / task / "logs" / "stdout.log").read_text()
        assert "[launcher] model server exited (code 137, SIGKILL)" in log
        assert "[launcher]   | serving http://127.0.0.1:" in log      # the server log's last lines
    assert gone_within(docker_client, f"evaltasks.output_dir={out}", 10)
    assert server_processes(port) == []


@pytest.mark.docker
def test_readiness_timeout_is_one_line_with_the_log_and_starts_no_task(tmp_path, docker_client):
    port = free_port()
    cfg, out = write(tmp_path, port, timeout=2,
                     command=f"echo 'loading shard 1 of 9'; sleep 300 # --port {port} endpoint.py")
    run = doit(f"config={cfg}")
    assert run.returncode != 0
    assert "error: model server not ready after 2s (GET http://127.0.0.1:" in run.stdout, run.stdout
    assert "loading shard 1 of 9" in run.stdout and "Traceback" not in run.stdout + run.stderr
    assert "running    eval:" not in run.stdout
    assert server_processes(port) == []


@pytest.mark.docker
@pytest.mark.parametrize("how", ["ctrl-c", "kill", "task failure"])
def test_no_server_left_however_the_run_ends(tmp_path, docker_client, how):
    port = free_port()
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 30, "config.params.parallelism": 1}}]
    if how == "task failure":    # every first attempt fails and this task does not retry
        tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 3, "config.params.max_retries": 0}},
                 {"name": "ifeval", "overrides": {"config.params.limit_samples": 3}}]
    cfg, out = write(tmp_path, port, latency=0.3, tasks=tasks,
                     extra="--fault-rate 1.0" if how == "task failure" else "")
    proc = subprocess.Popen([sys.executable, "-m", "evaltasks", "run", "--config", str(cfg), "-n", "1"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if how != "task failure":
        deadline = time.time() + 120
        while time.time() < deadline and not (out.exists() and sum(replies(out).values()) >= 2):
            time.sleep(0.2)
        assert server_processes(port)
        if how == "ctrl-c":
            proc.send_signal(signal.SIGINT)
        else:
            invocation = json.loads((out / "deployment" / "process.json").read_text())["invocation"]
            killed = evaltasks_cli("kill", invocation)
            assert killed.returncode == 0, killed.stderr
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0, stdout
    assert server_processes(port) == [], stdout + stderr
    assert not (out / "deployment" / "process.json").exists()
    assert gone_within(docker_client, f"evaltasks.output_dir={out}", 10)
    if how == "task failure":
        assert "FAILED     eval:gsm8k" in stdout, stdout


@pytest.mark.docker
def test_a_worker_out_of_tasks_does_not_stop_the_server_others_use(tmp_path, docker_client):
    # doit's parallel runner runs every teardown from each worker that runs out of
    # tasks: the short task's worker must not stop the server the long task uses.
    port = free_port()
    cfg, out = write(tmp_path, port, latency=0.3, tasks=[
        {"name": "gsm8k", "overrides": {"config.params.limit_samples": 1}},
        {"name": "ifeval", "overrides": {"config.params.limit_samples": 12, "config.params.parallelism": 1}}])
    # Named tasks (no `eval` group waiting on them all) let doit end idle workers early.
    run = doit("-n", "4", "eval:gsm8k", "eval:ifeval", f"config={cfg}")
    assert run.returncode == 0, run.stdout
    assert run.stdout.index("done       eval:gsm8k") < run.stdout.index("done       eval:ifeval")
    assert run.stdout.index("done       eval:ifeval") < run.stdout.index("model server stopped")
    assert server_processes(port) == []


@pytest.mark.docker
def test_a_server_left_by_a_killed_launcher_is_stopped_by_the_next_run(tmp_path, docker_client):
    port = free_port()
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 8, "config.params.parallelism": 1}}]
    cfg, out = write(tmp_path, port, latency=0.3, tasks=tasks)
    proc = subprocess.Popen([sys.executable, "-m", "doit", f"config={cfg}"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and sum(replies(out).values()) >= 2):
        time.sleep(0.2)
    proc.kill()                       # SIGKILL: no handler, no teardown
    proc.wait()
    left = server_processes(port)
    assert left
    again = doit(f"config={cfg}")
    assert again.returncode == 0, again.stdout
    assert "stopped a model server left by a killed launcher" in again.stdout
    assert server_processes(port) == []



@pytest.fixture(scope="module")
def stand_in_image(docker_client, tmp_path_factory):
    """A server image built here (no registry): tests/support/endpoint.py on the harness base image."""
    from evaltasks.executors.docker import image

    context = tmp_path_factory.mktemp("stand-in")
    shutil.copy(ENDPOINT, context / "endpoint.py")
    (context / "Dockerfile").write_text(f"FROM {image.base_image(None)}\nCOPY endpoint.py /srv/endpoint.py\n")
    # A tag of this session's own: another run on the same daemon builds its own.
    tag = f"evaltasks-test-stand-in-server:{os.getpid()}-{secrets.token_hex(4)}"
    docker_client.images.build(path=str(context), tag=tag, rm=True)
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.mark.docker
def test_a_server_container_is_shared_then_removed_and_its_death_reported(tmp_path, docker_client, stand_in_image):
    # As a GPU type runs (`sh -c "vllm serve …"` in its image, host network), minus the GPUs.
    port = free_port()
    cfg, out = write(tmp_path, port, latency=0.3, image=stand_in_image,
                     command=f"python3 /srv/endpoint.py --port {port} --model-id stand-in --latency 0.3")
    server = {"label": ["evaltasks.role=server", f"evaltasks.output_dir={out}"]}
    first = doit("-n", "2", f"config={cfg}")
    assert first.returncode == 0, first.stdout
    assert first.stdout.count("model server started (generic") == 1
    assert "docker run --rm --name evaltasks-server-" in first.stdout and stand_in_image in first.stdout
    assert "serving http://127.0.0.1:" in server_log(out)       # the container's output
    assert docker_client.api.containers(all=True, filters=server) == []
    cached = sum(replies(out).values())

    # Killed mid-run: the running task fails naming the server's exit.
    proc = subprocess.Popen([sys.executable, "-m", "doit", "-a", f"config={cfg}",
                             "evaluation.tasks.gsm8k.overrides.config.params.limit_samples=40",
                             "evaluation.tasks.gsm8k.overrides.config.params.parallelism=1"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    # Mid-run: once the task got replies of this run from the server, not at a guessed time.
    while time.time() < deadline and not (docker_client.api.containers(filters=server)
                                          and sum(replies(out).values()) >= cached + 2):
        time.sleep(0.2)
    docker_client.api.kill(docker_client.api.containers(filters=server)[0]["Id"])
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, stdout
    assert "FAILED     eval:gsm8k  model server exited (code 137" in stdout, stdout
    assert gone_within(docker_client, f"evaltasks.output_dir={out}", 15)


def test_runtime_process_shares_the_server_too(tmp_path):
    # No Docker needed here: the harness runs as a process and reaches the server on 127.0.0.1.
    port = free_port()
    cfg, out = write(tmp_path, port)
    run = doit("-n", "2", f"config={cfg}", "execution.runtime=process")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("model server started (generic") == 1 and "model server stopped" in run.stdout
    assert all((out / task / "results.json").exists() for task in ("gsm8k", "ifeval"))
    assert server_processes(port) == []
