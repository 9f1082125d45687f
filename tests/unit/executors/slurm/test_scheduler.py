"""evaltasks.slurm against a real single-node Slurm cluster: the one in
$SLURM_CONF if set, else one started by scripts/slurm-cluster.sh for this
session and stopped at its end."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from evaltasks.executors.slurm import scheduler as slurm


def batch_script(tmp_path, body, name="job.sh"):
    path = tmp_path / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    return path


@pytest.fixture(scope="session")
def overtime_job(cluster, tmp_path_factory):
    """A job over its 1-minute walltime (Slurm's least), submitted first so
    that it runs while the other tests do."""
    folder = tmp_path_factory.mktemp("overtime")
    return slurm.submit(batch_script(folder, "sleep 300"), job_name="overtime", walltime="1",
                        output=str(folder / "out.log"))


def processes_with(token):
    """Pids of processes whose command line holds ``token``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and token in (proc / "cmdline").read_bytes().decode(errors="replace"):
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids


def in_squeue(job_id):
    out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%A"], capture_output=True, text=True)
    return out.stdout.strip() != ""


@pytest.mark.slurm
def test_a_job_that_succeeds_reports_exit_0_and_writes_its_output(cluster, overtime_job, tmp_path):
    script = batch_script(tmp_path, 'echo "hello from $SLURM_JOB_NAME, greeting=$EVALTASKS_GREETING"')
    job = slurm.submit(script, job_name="hello", output=str(tmp_path / "out.log"),
                       env={"EVALTASKS_GREETING": "hi"})
    seen = []
    final = slurm.wait(job, poll=0.2, on_state=seen.append, timeout=60)
    assert final.succeeded and final.exit_code == 0, final
    assert final.describe() == "completed"
    assert final.node == socket.gethostname().split(".")[0]
    assert (tmp_path / "out.log").read_text() == "hello from hello, greeting=hi\n"
    assert seen[-1] == final


@pytest.mark.slurm
def test_a_failing_job_reports_its_exit_code(cluster, overtime_job, tmp_path):
    # A walltime of its own: without one, the job's limit is the partition's
    # (UNLIMITED), or a year (525600 minutes) when the backfill scheduler started it,
    # as on a busy CI machine.
    job = slurm.submit(batch_script(tmp_path, "echo failing; exit 3"), output=str(tmp_path / "out.log"),
                       walltime="1-00:05")
    final = slurm.wait(job, poll=0.2, timeout=60)
    assert (final.state, final.exit_code, final.time_limit) == ("FAILED", 3, "1-00:05:00")
    assert final.describe() == "failed with exit code 3"
    # Once slurmctld forgets the job (MinJobAge, 5 min here, longer than these
    # tests), its state comes from the job-completion file: exit code intact,
    # walltime spelled as scontrol spells it.
    assert slurm._from_jobcomp(job) == slurm.JobState("FAILED", "", 3, final.node, 0, "1-00:05:00")


@pytest.mark.slurm
def test_cancel_of_a_running_job_leaves_nothing_within_10_s(cluster, overtime_job, tmp_path):
    token = f"{os.getpid() % 1000 + 7000}"  # the job's own sleep, found by its argument
    job = slurm.submit(batch_script(tmp_path, f"sleep {token}"), output=str(tmp_path / "out.log"))
    deadline = time.time() + 60
    while time.time() < deadline and slurm.state(job).state != "RUNNING":
        time.sleep(0.2)
    assert slurm.state(job).state == "RUNNING"
    # RUNNING is the scheduler's word: slurmstepd may not have started the script yet.
    while time.time() < deadline and not processes_with(f"sleep\0{token}"):
        time.sleep(0.1)
    assert processes_with(f"sleep\0{token}")
    cancelled = time.time()
    slurm.cancel([job])
    while (in_squeue(job) or processes_with(f"sleep\0{token}")) and time.time() < cancelled + 10:
        time.sleep(0.1)
    assert not in_squeue(job)
    assert processes_with(f"sleep\0{token}") == []
    final = slurm.state(job)
    assert final.state == "CANCELLED" and final.describe() == "was cancelled (scancel)"
    slurm.cancel([job])  # cancelling an ended job is not an error


@pytest.mark.slurm
def test_a_pending_job_reports_why_it_waits(cluster, overtime_job, tmp_path):
    script = batch_script(tmp_path, "true")
    held = slurm.submit(script, extra_args=["--hold"])
    too_big = slurm.submit(script, extra_args=[f"--cpus-per-task={os.cpu_count() + 1}"])
    try:
        for job in (held, too_big):  # the scheduler gives its reason within a few seconds
            deadline = time.time() + 20
            while slurm.state(job).reason in ("", "None") and time.time() < deadline:
                time.sleep(0.2)
        assert slurm.state(held).describe() == "pending: held by its user (scontrol release <job id>)"
        assert slurm.state(too_big).describe() == \
            "pending: asks for more than the partition offers (CPUs, nodes or GRES)"
        with pytest.raises(slurm.SlurmError, match="still pending: held by its user"):
            slurm.wait(held, poll=0.1, timeout=0.5)
    finally:
        slurm.cancel([held, too_big])


@pytest.mark.slurm
def test_a_job_over_its_walltime_fails_with_a_reason_that_says_so(cluster, overtime_job):
    # Slurm checks time limits every 30 s: the job ends 60-90 s after it started.
    final = slurm.wait(overtime_job, poll=1, timeout=150)
    assert final.state == "TIMEOUT"
    assert final.describe() == "exceeded its walltime (00:01:00) and was stopped by Slurm"


@pytest.mark.slurm
def test_sbatch_errors_are_one_line(cluster, tmp_path):
    with pytest.raises(slurm.SlurmError) as e:
        slurm.submit(batch_script(tmp_path, "true"), partition="no-such-partition")
    assert str(e.value) == ("sbatch: invalid partition specified: no-such-partition; "
                            "Batch job submission failed: Invalid partition name specified")
    with pytest.raises(slurm.SlurmError, match=f"batch script {tmp_path}/missing.sh does not exist"):
        slurm.submit(tmp_path / "missing.sh")


def test_missing_commands_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(slurm.SlurmError, match=r"^the Slurm commands are not installed \(scontrol is not on PATH\)"):
        slurm.state("1")


def test_slurm_conf_pointing_nowhere_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "nowhere.conf"))
    # Our own check answers, before Slurm's minute of retries would (its message differs).
    with pytest.raises(slurm.SlurmError, match=f"^SLURM_CONF points to {tmp_path}/nowhere.conf, which is not a file$"):
        slurm.cancel(["1"])


@pytest.mark.parametrize("job, words", [
    (slurm.JobState("NODE_FAIL", node="n7"), "its node n7 failed (NODE_FAIL: Slurm lost contact with it)"),
    (slurm.JobState("PREEMPTED"), "was preempted by a higher-priority job"),
    (slurm.JobState("OUT_OF_MEMORY", exit_code=0, signal=9), "ran out of memory (ask for more with --mem)"),
    (slurm.JobState("FAILED", exit_code=0, signal=9), "was killed by signal 9"),
    (slurm.JobState("PENDING", reason="Priority"), "pending: waiting behind higher-priority jobs"),
    (slurm.JobState("PENDING", reason="SomeNewReason"), "pending: SomeNewReason"),
])
def test_endings_this_cluster_cannot_produce_are_in_words_too(job, words):
    # Node failure, preemption and memory limits need more than one node, a
    # preemption policy and cgroups: the words for them, from Slurm's states.
    assert job.describe() == words
    assert job.ended == (job.state != "PENDING")
