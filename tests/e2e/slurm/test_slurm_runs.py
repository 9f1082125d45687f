"""execution: slurm on the repo's real single-node cluster (scripts/slurm-cluster.sh):
each task is one batch job running the real harness in the harness venv, against
a real endpoint on 127.0.0.1."""

import json
import re
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, FakeEndpoint, Gsm8kModel, container_ids, evaltasks_cli, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("own_cache")]


def slurm_config(path, url, out, tasks=None, **execution):
    cfg = write_config(path, url, out, tasks, execution=execution)
    text = cfg.read_text().replace("- execution: local", "- execution: slurm")
    cfg.write_text(text)
    return cfg


def jobs_named(fragment):
    """Slurm jobs (ended or not) whose name holds ``fragment``: from the job-completion file and squeue."""
    ended = subprocess.run(["sacct", "-c", "-n", "-P", "-o", "JobID,JobName"], capture_output=True, text=True).stdout
    live = subprocess.run(["squeue", "-h", "-o", "%i|%j"], capture_output=True, text=True).stdout
    return {line.split("|")[0] for line in (ended + live).splitlines() if fragment in line}


def in_squeue(fragment):
    """squeue's ``id|name`` lines holding ``fragment`` (a job id, or part of a name)."""
    out = subprocess.run(["squeue", "-h", "-o", "%i|%j"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if fragment == line.split("|")[0] or fragment in line.split("|")[1]]


def invocation_of(stdout):
    return stdout.split()[1].rstrip(":")


def wait_until(condition, seconds):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()


def test_three_tasks_are_three_batch_jobs_and_only_what_changed_resubmits(cluster, tmp_path, state):
    out = tmp_path / "shared" / "results"
    tasks = [{"name": "gsm8k", "id": f"g{n}", "overrides": {"config.params.limit_samples": 3 + n}} for n in range(3)]
    with FakeEndpoint(Gsm8kModel(right=range(0, 1319, 2))) as ep:
        cfg = slurm_config(tmp_path / "s.yaml", ep.chat_url, out, tasks)
        first = evaltasks_cli("run", "--config", str(cfg))
        assert first.returncode == 0, first.stdout + first.stderr
        inv = invocation_of(first.stdout)
        assert len(jobs_named(inv[:8])) == 3
        for n in range(3):
            assert json.loads((out / f"g{n}" / "results.json").read_text())["samples"] == 3 + n
            log = (out / f"g{n}" / "logs" / "stdout.log").read_text()
            assert "submitted Slurm job" in log and "g" in log and "Slurm job completed" in log
        status = json.loads(evaltasks_cli("status", inv, "--json").stdout)
        assert {(j["status"], j["executor"]) for j in status["jobs"]} == {("success", "slurm")}

        again = evaltasks_cli("run", "--config", str(cfg))
        assert again.returncode == 0 and "3 up to date" in again.stdout
        assert "preparing" not in again.stdout and jobs_named(invocation_of(again.stdout)[:8]) == set()

        changed = evaltasks_cli("run", "--config", str(cfg), "-o", "evaluation.tasks.g1.overrides.config.params.limit_samples=2")
        assert changed.returncode == 0, changed.stdout + changed.stderr
        assert len(jobs_named(invocation_of(changed.stdout)[:8])) == 1
        assert json.loads((out / "g1" / "results.json").read_text())["samples"] == 2


@pytest.fixture
def slow_run(cluster, tmp_path, state):
    """A run of one task whose job is RUNNING (its endpoint takes a minute per reply)."""
    out = tmp_path / "results"
    with FakeEndpoint(latency=60) as ep:
        cfg = slurm_config(tmp_path / "slow.yaml", ep.chat_url, out, [{"name": "gsm8k", "id": "slow",
                           "overrides": {"config.params.limit_samples": 2}}], preflight=False)
        launcher = subprocess.Popen([sys.executable, "-m", "evaltasks", "run", "--config", str(cfg)], cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=dict(os.environ, PYTHONUNBUFFERED="1"))
        invocation = launcher.stdout.readline().split()[1].rstrip(":")
        assert wait_until(lambda: [l for l in in_squeue(invocation[:8]) if l], 60)
        assert wait_until(lambda: len(ep.requests) > 0, 60)
        yield launcher, invocation, out
        if launcher.poll() is None:
            launcher.kill()
        launcher.wait(30)
        for line in in_squeue(invocation[:8]):
            subprocess.run(["scancel", line.split("|")[0]])


def test_status_shows_the_slurm_state_and_kill_scancels(slow_run):
    launcher, invocation, out = slow_run
    text = evaltasks_cli("status", invocation).stdout
    assert "running" in text and "slurm job" in text and "RUNNING" in text, text
    killed = time.monotonic()
    kill = evaltasks_cli("kill", invocation)
    assert kill.returncode == 0 and kill.stdout.startswith(f"killed invocation {invocation}"), kill.stdout + kill.stderr
    assert wait_until(lambda: in_squeue(invocation[:8]) == [], 10 - (time.monotonic() - killed))
    launcher.wait(60)
    assert not (out / "slow" / "results.json").exists()


def test_ctrl_c_scancels_the_runs_jobs(slow_run):
    launcher, invocation, out = slow_run
    launcher.send_signal(signal.SIGINT)
    assert launcher.wait(60) == 130
    assert "interrupted: cancelled 1 Slurm job(s)" in launcher.stderr.read()
    assert wait_until(lambda: in_squeue(invocation[:8]) == [], 10)
    job = json.loads(evaltasks_cli("status", invocation, "--json").stdout)["jobs"][0]
    assert job["status"] == "killed" and job["reason"] == "interrupted (SIGINT)"


def test_a_job_over_its_walltime_fails_its_task_saying_so(cluster, tmp_path, state):
    out = tmp_path / "results"
    with FakeEndpoint(latency=300) as ep:
        cfg = slurm_config(tmp_path / "w.yaml", ep.chat_url, out, [{"name": "gsm8k", "id": "late",
                           "overrides": {"config.params.limit_samples": 1}}], preflight=False, walltime="1")
        run = evaltasks_cli("run", "--config", str(cfg), timeout=400)
    assert run.returncode != 0
    assert "FAILED     eval:late  Slurm job" in run.stdout and "exceeded its walltime (00:01:00)" in run.stdout, run.stdout
    assert not (out / "late" / "results.json").exists()


@pytest.mark.docker
def test_runtime_docker_in_a_job_scores_as_a_process_and_scancel_removes_its_container(
        cluster, tmp_path, state, docker_client):
    docker_run = {"runtime": "docker", "extra_docker_args": "--network host"}
    with FakeEndpoint(Gsm8kModel(right=range(0, 1319, 2))) as ep:
        for runtime in ("docker", "process"):
            cfg = slurm_config(tmp_path / f"{runtime}.yaml", ep.chat_url, tmp_path / runtime,
                               **(docker_run if runtime == "docker" else {}))
            run = evaltasks_cli("run", "--config", str(cfg))
            assert run.returncode == 0, run.stdout + run.stderr
    read = lambda runtime: json.loads((tmp_path / runtime / "gsm8k" / "results.json").read_text())["metrics"]
    assert read("docker") == read("process") and read("docker")["accuracy"]["value"] == 0.5
    assert "docker run --init" in (tmp_path / "docker" / "gsm8k" / "logs" / "stdout.log").read_text()

    out = tmp_path / "slow"
    with FakeEndpoint(latency=60) as ep:
        cfg = slurm_config(tmp_path / "slow.yaml", ep.chat_url, out, preflight=False, **docker_run)
        launcher = subprocess.Popen([sys.executable, "-m", "evaltasks", "run", "--config", str(cfg)], cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # container_ids, not containers.list(): that inspects each container it
            # listed, and fails when one is removed in between (it did, once, in CI).
            label = f"evaltasks.output_dir={out}"
            assert wait_until(lambda: container_ids(docker_client, label, running_only=True) and ep.requests, 120)
            job = json.loads((out / "gsm8k" / "slurm.json").read_text())["slurm_job"]
            cancelled = time.monotonic()
            subprocess.run(["scancel", job], check=True)
            assert wait_until(lambda: not container_ids(docker_client, label)
                              and not in_squeue(job), 10 - (time.monotonic() - cancelled))
            assert launcher.wait(60) != 0
        finally:
            if launcher.poll() is None:
                launcher.kill()
    assert not (out / "gsm8k" / "results.json").exists()


def test_every_slurm_key_reaches_sbatch_in_the_dry_runs_command(tmp_path):
    """partition, account, walltime, gres, gpus_per_node, num_nodes and
    sbatch_extra_flags: the whole sbatch line, in order (a key dropped or
    misspelt on the way would change it)."""
    out = tmp_path / "results"
    cfg = slurm_config(tmp_path / "keys.yaml", "http://127.0.0.1:9/v1/chat/completions", out,
                       partition="gpu", account="my-account", walltime="02:00:00", gres="gpu:2",
                       gpus_per_node=2, num_nodes=2, sbatch_extra_flags=["--qos=normal", "--mem=16G"])
    dry = evaltasks_cli("run", "--config", str(cfg), "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    line = next(l.strip() for l in dry.stdout.splitlines() if l.strip().startswith("$ sbatch"))
    sbatch = line.split("  # the job runs:")[0]
    inv = re.search(r"--job-name=evaltasks-gsm8k-([0-9a-f]{8}) ", sbatch).group(1)
    log = re.search(r"--output=(\S+) ", sbatch).group(1)
    assert log.startswith(f"{out}/gsm8k/logs/{inv}") and log.endswith(".log")
    assert sbatch == (f"$ sbatch --parsable --job-name=evaltasks-gsm8k-{inv} --output={log} --partition=gpu "
                      f"--account=my-account --time=02:00:00 --gres=gpu:2 --nodes=2 --open-mode=append "
                      f"--chdir={out}/gsm8k --no-requeue --gpus-per-node=2 --qos=normal --mem=16G {out}/gsm8k/slurm-job.sh")


def test_partition_nodes_account_and_extra_flags_reach_the_real_job(cluster, tmp_path, state):
    """What the cluster made of the keys, read back from ``scontrol show job``
    (the one partition here is ``debug``; without GPUs gres cannot be asked)."""
    out = tmp_path / "results"
    comment = f"evaltasks-keys-{os.getpid()}-{tmp_path.name}"
    with FakeEndpoint(Gsm8kModel(right=range(1319))) as ep:
        cfg = slurm_config(tmp_path / "k.yaml", ep.chat_url, out, [{"name": "gsm8k", "id": "keys",
                           "overrides": {"config.params.limit_samples": 1}}],
                           partition="debug", account="evaltasks-acct", num_nodes=1,
                           sbatch_extra_flags=[f"--comment={comment}"])
        run = evaltasks_cli("run", "--config", str(cfg))
    assert run.returncode == 0, run.stdout + run.stderr
    job = re.search(r"submitted Slurm job (\d+)", (out / "keys" / "logs" / "stdout.log").read_text()).group(1)
    shown = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True, check=True).stdout
    fields = dict(f.split("=", 1) for f in shown.split() if "=" in f)
    assert (fields["Partition"], fields["NumNodes"], fields["Account"], fields["Comment"]) == (
        "debug", "1", "evaltasks-acct", comment)
