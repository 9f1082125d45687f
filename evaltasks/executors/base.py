"""Executors: how one task's harness runs — in a Docker container, as a plain
process, or as a Slurm batch job — behind one small interface, after
Snakemake's executor plugins. The runner, the dry run and the CLI talk only to
this interface; an executor is one module here plus its config group
(``evaltasks/groups/execution/``) and schema.

One executor object serves one launcher process:

- ``prepare(run)``: before the first task runs (reach the daemon or cluster, clean
  up what a killed launcher left, build the image or venv, preflight). Raises
  with one line when the run cannot start.
- ``launch(spec, invocation, log, on_start) -> Outcome``: run one task's harness,
  its output appended to ``log`` (an open binary file), until it ends.
  ``on_start(handle_id)`` is called once the job exists, so the history records it.
- ``stop_all()``: Ctrl-C — stop every job this launcher started; how many.
- ``find(output_dir, invocation=None, job=None) -> [Handle]`` and ``stop(handle)``:
  for ``status``, ``kill`` and orphan cleanup, from any process.
- ``describe(spec, invocation) -> str``: the dry run's command line, secrets by name only.
- ``provenance() -> dict``: what runs the harness (image, venv), for results.json's provenance.
"""

from dataclasses import asdict, dataclass

from evaltasks.config.errors import ConfigError


class Unavailable(Exception):
    """The executor's backend (Docker daemon, Slurm) cannot be reached; one line."""


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None       # None: the job ended without one (removed, cancelled, killed by a signal)
    reason: str | None = None   # one line when it did not succeed
    out_of_memory: bool = False
    stopped: bool = False       # stopped on purpose (Ctrl-C, `evaltasks kill`)


@dataclass(frozen=True)
class Handle:
    """One running (or left-over) job as its executor sees it: plain data."""
    executor: str       # "docker", "process", "slurm"
    id: str             # what the executor finds it by: container id, pid record path, Slurm job id
    label: str          # what a user reads, e.g. the container's name
    state: str          # e.g. "running", or Slurm's "PENDING (Resources)"
    job: str = ""       # evaltasks job id
    invocation: str = ""

    @property
    def running(self):
        return self.state.split()[0].lower() in ("running", "pending", "configuring", "completing", "created")


class Executor:
    name = "?"
    kind = "job"                    # what `status` calls its handles: "container", "process", ...
    backend = "?"                   # what `status` says it could not reach
    preparing = "output dir lock"   # the reporter's "preparing: ..." line
    # Whether its jobs reach a model server the launcher starts on this machine (deployment:).
    serves_deployments = True

    def __init__(self, execution):
        self.execution = execution

    def validate(self, specs):
        """Config errors this executor alone can see (ConfigError), at plan time."""

    def default_workers(self, n_tasks):
        return None

    def refuses(self, specs, confirmed_unsafe_code):
        """One line when this executor will not run ``specs`` (e.g. model-written
        code outside a container without the user's opt-in), else None."""
        return None

    def prepare(self, run):
        raise NotImplementedError

    def launch(self, spec, invocation, log, on_start):
        raise NotImplementedError

    def provenance(self):
        """What runs the harness, for results.json's provenance (the harness adds its Python)."""
        return {"executor": self.name}

    def ended_note(self, outcome):
        """The log's line when the job ended."""
        code = outcome.exit_code
        return f"{self.kind} exited with code {code}" if code is not None else f"{self.kind} ended: {outcome.reason}"

    def stopped_note(self, count):
        """What Ctrl-C says it did."""
        return f"stopped {count} {self.kind}(s)"

    def stop_all(self):
        raise NotImplementedError

    def find(self, output_dir, invocation=None, job=None):
        raise NotImplementedError

    def stop(self, handle):
        raise NotImplementedError

    def describe(self, spec, invocation):
        raise NotImplementedError


RUNTIMES = ("docker", "process")


def choose(execution):
    """The executor for a config's ``execution`` section: ``type`` (local | slurm,
    from ``defaults: - execution: ...``) and ``runtime`` (docker | process)."""
    if not isinstance(execution, dict):     # until executors read Execution: a config.sections.Execution
        execution = asdict(execution)
    kind = execution.get("type", "local")
    runtime = execution.get("runtime", "docker")
    if kind == "slurm":
        from evaltasks.executors.slurm.executor import SlurmExecutor
        return SlurmExecutor(execution)
    if runtime == "process":
        from evaltasks.executors.process.executor import ProcessExecutor
        return ProcessExecutor(execution)
    if runtime == "docker":
        from evaltasks.executors.docker.executor import DockerExecutor
        return DockerExecutor(execution)
    raise ConfigError(f"execution.runtime: {runtime!r} is not one of {', '.join(RUNTIMES)}")


def for_handle_kind(name, execution=None):
    """The executor that owns handles of ``name`` (for `status`/`kill` of a past run)."""
    execution = dict(execution or {})
    if name == "slurm":
        execution["type"] = "slurm"
    else:
        execution.update(type="local", runtime=name)
    return choose(execution)
