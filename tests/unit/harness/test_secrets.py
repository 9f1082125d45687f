"""The harness takes its secrets from one line on stdin (evaltasks/harness/secrets.py),
never from its environment: model-written code can read /proc/<pid>/environ."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import DATA_DIR, REPO, Gsm8kModel, write_config
from support.endpoint import FakeEndpoint

from evaltasks.config import compose as config
from evaltasks.executors.docker import containers as container
from evaltasks.executors.docker import image, probe
from evaltasks.pipeline import plan
from evaltasks.pipeline import preflight
from evaltasks.executors.slurm.executor import SECRETS_VAR, SlurmExecutor
from evaltasks.harness import secrets

KEY = "sk-by-pipe-7d41"


def write_task(out, url):
    out.mkdir()
    (out / "task.json").write_text(json.dumps({
        "id": "gsm8k", "benchmark": "gsm8k",
        "endpoint": {"url": url, "model_id": "test-model", "type": "chat", "api_key_name": "EVAL_KEY",
                     "adapter_config": {}},
        "params": {"limit_samples": 4, "parallelism": 1, "temperature": 0.0, "max_new_tokens": 64,
                   "request_timeout": 10, "max_retries": 0, "extra": {}}}))


def harness(out, stdin):
    env = {k: v for k, v in os.environ.items() if k != "EVAL_KEY"}
    env.update(PYTHONPATH=str(REPO), EVALTASKS_DATA_DIR=str(DATA_DIR))
    env.pop("EVALTASKS_RESPONSE_CACHE", None)
    return subprocess.Popen([sys.executable, "-m", "evaltasks.harness", str(out)], env=env, stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_the_key_comes_by_stdin_and_stays_out_of_the_environment_and_fd_0(tmp_path):
    with FakeEndpoint(Gsm8kModel(range(1319)), api_key=KEY, latency=0.3) as ep:
        write_task(tmp_path / "out", ep.chat_url)
        proc = harness(tmp_path / "out", subprocess.PIPE)
        proc.stdin.write(secrets.encode({"EVAL_KEY": KEY, "HF_TOKEN": "hf-by-pipe"}))
        proc.stdin.flush()      # left open: the harness must not wait for end-of-file
        while not ep.requests and proc.poll() is None:
            time.sleep(0.02)
        environ = open(f"/proc/{proc.pid}/environ", "rb").read()
        stdin_now = os.readlink(f"/proc/{proc.pid}/fd/0")
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output.decode()
    assert [r.headers["authorization"] for r in ep.requests] == [f"Bearer {KEY}"] * 4
    assert KEY.encode() not in environ and b"hf-by-pipe" not in environ
    assert stdin_now == os.devnull
    assert KEY not in output.decode()


def test_without_the_line_no_key_is_sent(tmp_path):
    with FakeEndpoint(Gsm8kModel(range(1319)), api_key=KEY) as ep:
        write_task(tmp_path / "out", ep.chat_url)
        proc = harness(tmp_path / "out", subprocess.DEVNULL)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "401" in output.decode()
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_malformed_line_is_one_line_and_exit_2(tmp_path):
    write_task(tmp_path / "out", "http://127.0.0.1:9/v1/chat/completions")
    for line in (b"sk-not-json\n", b'["a list"]\n', b'{"EVAL_KEY": 3}\n'):
        proc = harness(tmp_path / "out", subprocess.PIPE)
        output, _ = proc.communicate(line, timeout=60)
        text = output.decode()
        assert proc.returncode == 2 and text.count("\n") == 1 and "secrets line on stdin" in text
        assert "sk-not-json" not in text and "Traceback" not in text


@pytest.mark.docker
def test_the_preflight_container_gets_the_key_on_stdin_and_inspect_shows_none(docker_client):
    harness_image = image.ensure(docker_client, image.base_image(), log=lambda m: None)
    inspected = []
    real_start = container.start_with_secrets

    def start_and_inspect(box, values):
        real_start(box, values)
        inspected.append(json.dumps(docker_client.api.inspect_container(box.id)))

    send = probe.from_container(docker_client, harness_image, "host", "evaltasks-test-probe-key", {})
    with FakeEndpoint(api_key=KEY) as ep, pytest.MonkeyPatch.context() as patch:
        patch.setattr(container, "start_with_secrets", start_and_inspect)
        preflight.check(ep.chat_url, "test-model", "chat", "EVAL_KEY", environ={"EVAL_KEY": KEY}, send=send)
    assert [r.headers["authorization"] for r in ep.requests] == [f"Bearer {KEY}"]
    assert len(inspected) == 1 and KEY not in inspected[0]


def test_once_it_holds_secrets_other_processes_of_its_user_cannot_read_its_memory():
    """Where programs run beside the harness (no sandbox container), they run as its
    user; the harness, once it has read the line, is not dumpable, so they cannot
    read /proc/<pid>/mem. Both sides as an unprivileged user (root could anyway)."""
    as_user = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"] if os.getuid() == 0 else []
    # The module alone, where that user can read it: the clone may sit in a folder
    # only its owner can enter (CI clones into `mktemp -d`, mode 0700).
    readable = Path(tempfile.mkdtemp(dir="/tmp"))
    readable.chmod(0o755)
    shutil.copy(secrets.__file__, readable / "harness_secrets.py")
    (readable / "harness_secrets.py").chmod(0o644)
    holder = "import harness_secrets; harness_secrets.read(); print('ready', flush=True); import time; time.sleep(60)"

    def memory_readable(line):
        proc = subprocess.Popen([*as_user, "/usr/bin/python3", "-c", holder], env={"PYTHONPATH": str(readable)},
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd="/")
        try:
            proc.stdin.write(line)
            proc.stdin.flush()
            assert proc.stdout.readline() == b"ready\n"
            reader = subprocess.run([*as_user, "/usr/bin/python3", "-c", f"open('/proc/{proc.pid}/mem', 'rb')"],
                                    capture_output=True, text=True, cwd="/")
            return reader.returncode == 0
        finally:
            proc.kill()
            proc.wait()

    try:
        assert memory_readable(b"\n") is True       # the control: nothing held, nothing protected
        assert memory_readable(secrets.encode({"EVAL_KEY": KEY})) is False
    finally:
        shutil.rmtree(readable)


def test_a_slurm_job_script_hands_the_secrets_to_the_harness_stdin_and_keeps_them_out_of_its_environment(
        tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_KEY", KEY)
    cfg = write_config(tmp_path / "s.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out",
                       target={"api_endpoint": {"model_id": "m", "url": "http://127.0.0.1:9/v1/chat/completions",
                                                "api_key_name": "SLURM_KEY"}})
    cfg.write_text(cfg.read_text().replace("- execution: local", "- execution: slurm"))
    loaded = config.load(str(cfg))
    [spec] = plan.task_specs(loaded, "feedc0ffee00")
    # A stand-in for the venv's python: what the harness would find on its stdin and in its environment.
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nread line\necho \"stdin: $line\"\nenv\n")
    fake.chmod(0o755)
    body, env, line = SlurmExecutor(loaded.execution)._job(spec, "feedc0ffee00", str(fake))
    assert KEY not in body and KEY not in line
    ran = subprocess.run(["bash", "-c", body], env=dict(env, PATH=os.environ["PATH"]), capture_output=True, text=True)
    stdin, _, environment = ran.stdout.partition("\n")
    assert json.loads(stdin.removeprefix("stdin: ")) == {"SLURM_KEY": KEY}
    assert KEY not in environment and SECRETS_VAR not in environment
