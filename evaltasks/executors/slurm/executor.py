"""execution: slurm — each task is one batch job (``sbatch --parsable``) that the
task's doit action follows until it ends (scheduler.wait polls scontrol), so doit's
up-to-date logic, -n, dry runs, history and the output-dir lock work as for a
local run. The job runs the harness as a process in the harness venv
(``runtime: process``).

On a cluster of more than one node, the nodes are not this machine: before a
run submits its tasks, one tiny job checks that a node sees output_dir, the
data and ``execution.shared_dir`` as this host does, and the harness venv is
built for the nodes, by a job on a node, under ``execution.shared_dir``
(nodes.py). On a single-node cluster (the node is the submit host) the venv is
built here, under EVALTASKS_CACHE_DIR, as for a local ``runtime: process`` run.

A job is not requeued by Slurm after a node failure unless ``execution.requeue``
says so: the task fails naming the node, and a rerun takes up the work from the
response cache on shared storage.

With ``runtime: docker`` the job runs the harness container instead (the
Docker executor's image and ``docker run`` line, on nodes that have Docker and
the image). A container belongs to dockerd, not to the job, so scancel alone
would not end it: ``docker run --init`` passes the job's SIGTERM on, and the
job script removes its container when it ends, however it ends.

The job's output file is the task's log. Secrets reach the job through sbatch's
environment (one variable, which the script unsets before it hands the line to
the harness's stdin), never its script or command line. A record in the task directory
(``slurm.json``: Slurm job id, invocation, job) lets ``status``, ``kill`` and
the next run find the job from another process.

Where another runtime would go (apptainer, enroot): ``_job`` — what the batch
script runs, and with which environment.
"""

import json
import os
import shlex
from pathlib import Path

from evaltasks.config.errors import ConfigError
from evaltasks.data import datasets
from evaltasks.executors import job as jobs
from evaltasks.executors.base import Executor, Handle, Outcome, Unavailable, register, unsafe_code_refusal
from evaltasks.executors.docker import containers
from evaltasks.executors.docker.executor import DockerExecutor
from evaltasks.executors.process import children, venv
from evaltasks.executors.slurm import nodes
from evaltasks.executors.slurm import scheduler
from evaltasks.harness import secrets as secret_pipe
from evaltasks.harness.files import write_json_atomic

RECORD = "slurm.json"
SECRETS_VAR = "EVALTASKS_SECRETS"
SCRIPT = "slurm-job.sh"
PLACEHOLDER_PYTHON = "<harness venv>/bin/python"
POLL = 1.0      # seconds between looks at a job's state (sbatch --wait looks every 32 s)


@register("slurm", ("slurm", "process"), ("slurm", "docker"))
class SlurmExecutor(Executor):
    kind = "slurm job"
    backend = "Slurm"
    preparing = "output dir lock, Slurm, harness venv"
    # A deployment's server would run on the login node, out of the compute nodes' reach.
    serves_deployments = False

    def __init__(self, execution):
        super().__init__(execution)
        self.runtime = execution.runtime
        self.docker = DockerExecutor(execution) if self.runtime == "docker" else None
        jobs.JobEnv.check(execution)
        if self.docker:
            self.preparing = "output dir lock, Slurm, harness image"
        self.submitted = set()
        self.stopping = False
        self.venv = None

    def validate(self, specs):
        if self.docker:
            self.docker.validate(specs)

    def default_workers(self, n_tasks):
        return n_tasks      # the scheduler decides what runs at once

    def refuses(self, specs, confirmed_unsafe_code):
        refusal = unsafe_code_refusal(specs, confirmed_unsafe_code)
        return refusal and refusal.replace("on this machine", "on the cluster's nodes")

    def prepare(self, run):
        try:
            scheduler.ping()
            cluster = scheduler.nodes(self.execution.partition)
        except scheduler.SlurmError as e:
            raise Unavailable(str(e)) from None
        run.remove_leftovers()
        run.preflight(run.todo)
        shared = self.execution.shared_dir
        shared = shared and os.path.abspath(os.path.expanduser(shared))
        if len(cluster) > 1 and not shared and not self.docker:
            raise ConfigError(f"execution.shared_dir is not set: on a cluster of {len(cluster)} nodes "
                              f"({', '.join(cluster)}) the harness venv is built for the nodes in a folder "
                              "they all see at the same path")
        if len(cluster) > 1 or shared:
            self._check_nodes(run, shared)
        elif self.docker:
            self.docker.ensure_image()
        else:
            self.venv = venv.ensure(log=lambda m: None)

    def _check_nodes(self, run, shared):
        """One job checks what a node sees, then (runtime: process) the nodes' venv."""
        options = self._helper_options()
        image = self.docker.ensure_image() if self.docker else None
        folders = [nodes.Folder("execution.output_dir", os.path.abspath(run.cfg.output_dir), True)]
        caches = {jobs.response_cache_dir(spec) for spec in run.todo} - {None}
        folders += [nodes.Folder("the response cache (adapter_config.caching_dir)", c, True) for c in sorted(caches)
                    if not c.startswith(folders[0].path + os.sep)]
        folders += [nodes.Folder("the data folder", d, False)
                    for d in sorted({str(datasets.data_folder(spec)) for spec in run.todo})]
        if shared:
            folders.append(nodes.Folder("execution.shared_dir", shared, True))
        python = None if self.docker else self.execution.node_python
        try:
            interpreter = nodes.check_visible(folders, python, options, f"evaltasks-check-{run.invocation[:8]}",
                                              image=image)
            if not self.docker:
                self.venv = nodes.node_venv(shared, interpreter, options, "evaltasks-venv", log=lambda m: None)
        except scheduler.SlurmError as e:
            raise Unavailable(str(e)) from None

    def _helper_options(self):
        """sbatch options of the launcher's own small jobs: the tasks' partition, account and flags."""
        e = self.execution
        return dict(partition=e.partition, account=e.account, walltime="00:30:00",
                    extra_args=[str(flag) for flag in e.sbatch_extra_flags])

    def _sbatch_options(self, spec, invocation):
        e = self.execution
        extra = ["--open-mode=append", f"--chdir={spec.task_dir}", "--requeue" if e.requeue else "--no-requeue"]
        if e.gpus_per_node:
            extra.append(f"--gpus-per-node={e.gpus_per_node}")
        extra += [str(flag) for flag in e.sbatch_extra_flags]
        return dict(job_name=f"evaltasks-{spec.id}-{invocation[:8]}", output=spec.log,
                    partition=e.partition, account=e.account, walltime=e.walltime,
                    gres=e.gres, nodes=e.num_nodes, extra_args=extra)

    def _job(self, spec, invocation, python=PLACEHOLDER_PYTHON, environ=True):
        """``(script body, environment, the line a user reads)`` for the task's job;
        the environment (secret values included) goes to sbatch, never to a file."""
        # The harness reads its secrets as one line on stdin (harness/secrets.py):
        # the job has the line in SECRETS_VAR, takes it out of its environment,
        # and feeds it through a pipe (process substitution: no file).
        feed = f'secrets=${{{SECRETS_VAR}-}}; unset {SECRETS_VAR}\n'
        stdin = '< <(printf \'%s\\n\' "$secrets")'
        job = jobs.JobEnv.of(spec, self.execution)
        secret_env = {SECRETS_VAR: secret_pipe.encode(job.secret_values()).decode().strip()}
        if self.docker:
            line = self.docker.job_command(spec, invocation)
            name = containers.name(spec.id, invocation)
            body = (f"# scancel signals this script, not the container (dockerd's): remove it at the end\n"
                    f"trap 'docker stop -t 4 {name} >/dev/null 2>&1; docker rm -f {name} >/dev/null 2>&1' EXIT\n"
                    "trap 'exit 143' TERM INT\n"
                    f"{feed}{line} {stdin} &\nwait $!\n")
            env = dict(self.docker.job_environment(spec, invocation), **secret_env) if environ else {}
            return body, env, line
        env = {}
        if environ:
            env = children.environment(job)
            job.make_folders()
            env.update(secret_env)
        line = children.command_line(python, job)
        return f"{feed}exec {shlex.join(children.command(python, spec.task_dir))} {stdin}\n", env, line

    def _script(self, spec, body):
        # No secrets here: the job gets them from sbatch's environment.
        return ("#!/bin/bash\n# written by evaltasks; the job's environment comes from sbatch\n"
                f"cd {shlex.quote(spec.task_dir)} || exit 1\n{body}")

    def provenance(self):
        if self.docker:
            return dict(self.docker.provenance(), executor=self.name, runtime="docker")
        return {"executor": self.name, "runtime": "process", "venv": self.venv and self.venv.digest}

    def launch(self, spec, invocation, log, on_start):
        if self.stopping:
            return Outcome(None, "interrupted", stopped=True)
        body, env, line = self._job(spec, invocation, self.venv and self.venv.python)
        script = Path(spec.task_dir, SCRIPT)
        script.write_text(self._script(spec, body))
        note = lambda text: (log.write(f"[launcher] {text}\n".encode()), log.flush())
        note(self._shown(spec, invocation, line))
        job_id = scheduler.submit(script, **self._sbatch_options(spec, invocation), env=env)
        self.submitted.add(job_id)
        record = os.path.join(spec.task_dir, RECORD)
        write_json_atomic(record, {"slurm_job": job_id, "invocation": invocation, "job": spec.job_id})
        on_start(job_id)
        note(f"submitted Slurm job {job_id}")
        try:
            final = scheduler.wait(job_id, poll=POLL,
                               on_state=lambda st: note(f"Slurm job {job_id}: {st.describe()}"))
        finally:
            Path(record).unlink(missing_ok=True)
            self.submitted.discard(job_id)
        if final.succeeded:
            return Outcome(0)
        reason = f"Slurm job {job_id} {final.describe()}"
        if final.state in ("COMPLETED", "FAILED") and final.exit_code not in (None, 0) and not final.signal:
            return Outcome(final.exit_code, reason)     # the harness's own failure: its log says why
        return Outcome(None, reason, out_of_memory=final.state == "OUT_OF_MEMORY",
                       stopped=final.state == "CANCELLED")

    def ended_note(self, outcome):
        return "Slurm job completed" if outcome.exit_code == 0 else f"Slurm job ended: {outcome.reason}"

    def stop_all(self):
        self.stopping = True
        jobs = list(self.submitted)
        try:
            scheduler.cancel(jobs)
        except scheduler.SlurmError:
            pass
        return len(jobs)

    def stopped_note(self, count):
        return f"cancelled {count} Slurm job(s)"

    def find(self, output_dir, invocation=None, job=None):
        found = []
        for path in Path(output_dir).glob(f"*/{RECORD}"):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if invocation not in (None, record["invocation"]) or job not in (None, record["job"]):
                continue
            try:
                st = scheduler.state(record["slurm_job"])
            except scheduler.SlurmError as e:
                if "knows no job" in str(e):
                    continue
                raise Unavailable(str(e)) from None
            if not st.ended:
                shown = st.state + (f" ({st.describe().split(': ', 1)[-1]})" if st.state == "PENDING" else "")
                shown += f" on {st.node}" if st.node and st.state != "PENDING" else ""
                found.append(Handle("slurm", record["slurm_job"], record["slurm_job"], shown,
                                    record["job"], record["invocation"]))
        return found

    def stop(self, handle):
        try:
            scheduler.cancel([handle.id])
        except scheduler.SlurmError as e:
            raise Unavailable(str(e)) from None

    def describe(self, spec, invocation):
        return self._shown(spec, invocation, self._job(spec, invocation, environ=False)[2])

    def _shown(self, spec, invocation, runs):
        line = shlex.join(scheduler.sbatch_command(os.path.join(spec.task_dir, SCRIPT),
                                               **self._sbatch_options(spec, invocation)))
        return f"{line}  # the job runs: {runs}"
