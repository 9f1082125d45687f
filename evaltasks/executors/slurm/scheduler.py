"""Slurm's commands from Python: submit a batch script, read a job's state,
cancel jobs, and follow a job until it ends, with the outcome in words a user
understands.

Every command reaches the cluster that ``SLURM_CONF`` names (else Slurm's own
default). Without slurmdbd there is no accounting database: a job that ended
more than MinJobAge ago is gone from ``scontrol`` and is read back from the
job-completion file with ``sacct -c``.
"""

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

# States after which a job holds no resources and runs nothing. COMPLETING is
# not one of them: the job's processes may still be running.
ENDED = {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "PREEMPTED",
         "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"}

# Why a job waits, for the reasons a user meets most; others are shown as Slurm says them.
PENDING_REASONS = {
    "Resources": "waiting for free resources",
    "Priority": "waiting behind higher-priority jobs",
    "Dependency": "waiting for the jobs it depends on",
    "DependencyNeverSatisfied": "its dependency can never be satisfied",
    "JobHeldUser": "held by its user (scontrol release <job id>)",
    "JobHeldAdmin": "held by an administrator",
    "BeginTime": "waiting for its start time",
    "PartitionConfig": "asks for more than the partition offers (CPUs, nodes or GRES)",
    "PartitionTimeLimit": "its walltime is above the partition's limit",
    "PartitionDown": "its partition is down",
    "PartitionInactive": "its partition is inactive",
    "ReqNodeNotAvail": "the nodes it needs are not available",
    "NodeDown": "a node it needs is down",
    "AssocGrpCpuLimit": "its account is at its CPU limit",
    "QOSMaxJobsPerUserLimit": "you are at your QOS's limit of running jobs",
    "InvalidAccount": "its account is not valid",
    "InvalidQOS": "its QOS is not valid",
}


class SlurmError(Exception):
    """A Slurm command could not do what was asked; the message is one line."""


@dataclass(frozen=True)
class JobState:
    state: str                    # Slurm's JobState: PENDING, RUNNING, COMPLETED, TIMEOUT, ...
    reason: str = ""              # why it pends or ended (Slurm's Reason), "" for none
    exit_code: int | None = None  # the batch script's exit status, once it ran
    node: str | None = None       # where it runs or ran
    signal: int = 0               # the signal that ended the script, 0 for none
    time_limit: str = ""          # its walltime as Slurm shows it, e.g. 00:01:00
    restarts: int = 0             # times Slurm requeued it (sbatch --requeue, after a node failure)

    @property
    def ended(self):
        return self.state in ENDED

    @property
    def succeeded(self):
        return self.state == "COMPLETED" and self.exit_code == 0

    def describe(self):
        """The job's state in a user's words, e.g. ``exceeded its walltime (00:01:00)``."""
        s = self.state
        if s == "PENDING":
            again = f" (requeued {self.restarts} time(s))" if self.restarts else ""
            return f"pending{again}: {PENDING_REASONS.get(self.reason, self.reason or 'waiting to be scheduled')}"
        if s in ("RUNNING", "COMPLETING"):
            return f"{s.lower()} on {self.node}"
        if s == "COMPLETED" and self.exit_code == 0:
            return "completed"
        if s == "TIMEOUT":
            return f"exceeded its walltime ({self.time_limit}) and was stopped by Slurm"
        node = f"its node {self.node}" if self.node else "its node"
        if s == "NODE_FAIL":
            return f"{node} failed (NODE_FAIL: Slurm lost contact with it)"
        if s == "PREEMPTED":
            return "was preempted by a higher-priority job"
        if s == "CANCELLED":
            return "was cancelled (scancel)"
        if s == "OUT_OF_MEMORY":
            return "ran out of memory (ask for more with --mem)"
        if s == "BOOT_FAIL":
            return f"{node} failed to boot"
        if s == "DEADLINE":
            return "could not end before its deadline"
        if self.signal:
            return f"was killed by signal {self.signal}"
        if s in ("FAILED", "COMPLETED") and self.exit_code is not None:
            return f"failed with exit code {self.exit_code}"
        return s.lower()


def _run(args, env=None):
    """Run one Slurm command; its stdout, or a SlurmError with its last error line."""
    conf = os.environ.get("SLURM_CONF")
    if conf and not os.path.isfile(conf):
        # Slurm itself would retry for a minute before saying so.
        raise SlurmError(f"SLURM_CONF points to {conf}, which is not a file")
    if shutil.which(args[0]) is None:
        raise SlurmError(f"the Slurm commands are not installed ({args[0]} is not on PATH); "
                         "on one machine, bash scripts/slurm-cluster.sh start installs a cluster")
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        # e.g. "sbatch: error: invalid partition specified: x" then "sbatch: error: Batch
        # job submission failed: ...": the first names the value, the last sums up.
        prefix = re.compile(rf"^{re.escape(args[0])}:\s*(error:\s*)?")
        lines = [prefix.sub("", line.strip()) for line in proc.stderr.splitlines() if line.strip()]
        raise SlurmError(f"{args[0]}: {'; '.join(dict.fromkeys(lines)) or f'exit code {proc.returncode}'}")
    return proc.stdout


def submit(script_path, *, job_name=None, output=None, partition=None, account=None, walltime=None,
           gres=None, nodes=None, extra_args=(), env=None):
    """Submit a batch script with sbatch; its job id.

    ``env`` adds variables to the job's environment. They go to sbatch through
    its own environment, never on its command line; like any batch job's
    environment, Slurm keeps them in its state folder until the job is purged.
    """
    if not os.path.isfile(script_path):
        raise SlurmError(f"batch script {script_path} does not exist")
    args = sbatch_command(script_path, job_name=job_name, output=output, partition=partition, account=account,
                          walltime=walltime, gres=gres, nodes=nodes, extra_args=extra_args)
    out = _run(args, env=dict(os.environ, **env) if env else None)
    # "<id>" or, on a federation, "<id>;<cluster>".
    return out.strip().split(";")[0]


def sbatch_command(script_path, *, job_name=None, output=None, partition=None, account=None, walltime=None,
                   gres=None, nodes=None, extra_args=()):
    """The sbatch command line ``submit`` runs (it holds no secret: those go in its environment)."""
    options = {"--job-name": job_name, "--output": output, "--partition": partition,
               "--account": account, "--time": walltime, "--gres": gres, "--nodes": nodes}
    args = ["sbatch", "--parsable"]
    args += [f"{flag}={value}" for flag, value in options.items() if value is not None]
    return args + [*extra_args, str(script_path)]


def ping():
    """Raise SlurmError with one line unless the cluster's controller answers."""
    out = _run(["scontrol", "ping"])
    if "UP" not in out:
        raise SlurmError(f"the Slurm controller does not answer: {out.strip() or 'scontrol ping said nothing'}")


def nodes(partition=None):
    """The names of the nodes in ``partition`` (default: every partition), sorted."""
    out = _run(["sinfo", "-h", "-N", "-o", "%N", *(["-p", partition] if partition else [])])
    return sorted(set(out.split()))


def _field(text, key):
    m = re.search(rf"(?:^|\s){key}=(\S*)", text)
    return m.group(1) if m else ""


def _exit(value):
    """Slurm's ExitCode ``status:signal`` as two ints."""
    status, _, signal = value.partition(":")
    return (int(status) if status.isdigit() else None), (int(signal) if signal.isdigit() else 0)


def _node(value):
    return value if value and value not in ("(null)", "None assigned") else None


def state(job_id):
    """The job's state now: from slurmctld, or the job-completion file once slurmctld forgot it."""
    try:
        text = _run(["scontrol", "show", "job", "-o", str(job_id)])
    except SlurmError as e:
        if "Invalid job id" not in str(e):
            raise
        return _from_jobcomp(job_id)
    reason = _field(text, "Reason")
    exit_code, signal = _exit(_field(text, "ExitCode"))
    st = _field(text, "JobState")
    restarts = _field(text, "Restarts")
    return JobState(st, "" if reason == "None" else reason, exit_code if st in ENDED else None,
                    _node(_field(text, "NodeList")), signal if st in ENDED else 0, _field(text, "TimeLimit"),
                    int(restarts) if restarts.isdigit() else 0)


def _from_jobcomp(job_id):
    out = _run(["sacct", "-c", "-n", "-P", "-j", str(job_id), "-o", "JobID,State,ExitCode,NodeList,Timelimit"])
    for line in out.splitlines():
        jid, st, code, node, limit = line.split("|")
        if jid == str(job_id):
            exit_code, signal = _exit(code)
            # "CANCELLED by 0": the state is the first word.
            return JobState(st.split()[0], "", exit_code, _node(node), signal, _walltime(limit))
    raise SlurmError(f"Slurm knows no job {job_id}")


def _walltime(limit):
    """The job-completion file keeps a walltime in minutes ("5"); scontrol shows
    it as [D-]HH:MM:SS ("00:05:00"): one spelling whichever Slurm answered."""
    if not limit.isdigit():
        return limit          # UNLIMITED, Partition_Limit, or already formatted
    days, minutes = divmod(int(limit), 24 * 60)
    clock = f"{minutes // 60:02d}:{minutes % 60:02d}:00"
    return f"{days}-{clock}" if days else clock


def cancel(job_ids):
    """scancel these jobs; ones that already ended are left as they are."""
    ids = [str(j) for j in job_ids]
    if ids:
        _run(["scancel", *ids])


def wait(job_id, poll=1.0, on_state=None, timeout=None):
    """Poll the job until it has ended; its final state. ``on_state(JobState)``
    hears each change of state or reason. (``sbatch --wait`` notices an end
    only after 2 s, 10 s, then every 32 s.)"""
    deadline = None if timeout is None else time.monotonic() + timeout
    last = None
    while True:
        current = state(job_id)
        if on_state and (current.state, current.reason, current.restarts) != last:
            on_state(current)
        last = (current.state, current.reason, current.restarts)
        if current.ended:
            return current
        if deadline is not None and time.monotonic() > deadline:
            raise SlurmError(f"job {job_id} is still {current.describe()} after {timeout} s")
        time.sleep(poll)
