"""Executors: how one task's harness runs — in a Docker container, as a plain
process, or as a Slurm batch job — behind one small interface, after
Snakemake's executor plugins. The pipeline, the dry run and the CLI talk only to
this interface; an executor is one subpackage here, registered with
``@register``, plus its config group (``config/groups/execution/``) and schema.

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

What the pipeline hands ``prepare`` (``run``) is its Run: the executor calls back
``run.remove_leftovers()``, ``run.preflight(...)`` (and ``run.import_preflight()``
before importing in a thread of its own) and reads ``run.todo``,
``run.invocation`` and ``run.cfg.output_dir``; it imports nothing of the pipeline.
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, BinaryIO, Callable, ClassVar

from evaltasks.config.errors import ConfigError
from evaltasks.config.sections import Execution
from evaltasks.harness import benchmarks

if TYPE_CHECKING:
    from evaltasks.config.task_spec import TaskSpec


class Unavailable(Exception):
    """The executor's backend (Docker daemon, Slurm) cannot be reached; one line."""


@dataclass(frozen=True)
class Outcome:
    """How a job ended, as its executor tells it. (A docstring on every dataclass: without
    one, dataclass builds it from the signature, with inspect, when the module is imported.)"""
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


class Executor(abc.ABC):
    name: ClassVar[str] = "?"           # set by @register; Handle.executor and the history say it
    kind: ClassVar[str] = "job"         # what `status` calls its handles: "container", "process", ...
    backend: ClassVar[str] = "?"        # what `status` says it could not reach
    preparing: str = "output dir lock"  # the reporter's "preparing: ..." line
    # Whether its jobs reach a model server the launcher starts on this machine (deployment:).
    serves_deployments: ClassVar[bool] = True

    def __init__(self, execution: Execution):
        self.execution = execution

    def validate(self, specs: list[TaskSpec]) -> None:
        """Config errors this executor alone can see (ConfigError), at plan time."""

    def default_workers(self, n_tasks: int) -> int | None:
        return None

    def refuses(self, specs: list[TaskSpec], confirmed_unsafe_code: bool) -> str | None:
        """One line when this executor will not run ``specs`` (e.g. model-written
        code outside a container without the user's opt-in), else None."""
        return None

    @abc.abstractmethod
    def prepare(self, run) -> None: ...

    @abc.abstractmethod
    def launch(self, spec: TaskSpec, invocation: str, log: BinaryIO, on_start: Callable[[str], None]) -> Outcome: ...

    def provenance(self) -> dict:
        """What runs the harness, for results.json's provenance (the harness adds its Python)."""
        return {"executor": self.name}

    def ended_note(self, outcome: Outcome) -> str:
        """The log's line when the job ended."""
        code = outcome.exit_code
        return f"{self.kind} exited with code {code}" if code is not None else f"{self.kind} ended: {outcome.reason}"

    def stopped_note(self, count: int) -> str:
        """What Ctrl-C says it did."""
        return f"stopped {count} {self.kind}(s)"

    @abc.abstractmethod
    def stop_all(self) -> int: ...

    @abc.abstractmethod
    def find(self, output_dir: str, invocation: str | None = None, job: str | None = None) -> list[Handle]: ...

    @abc.abstractmethod
    def stop(self, handle: Handle) -> None: ...

    @abc.abstractmethod
    def describe(self, spec: TaskSpec, invocation: str) -> str: ...


# (execution.type, execution.runtime) → the module whose @register serves it,
# imported on first use: importing this module costs nothing of any backend (no
# docker SDK, no Slurm code), and a run imports only its own executor (startup
# time is benchmarked). The executor named X lives in executors/X/executor.py
# (``for_handle_kind`` finds it by that name). A test checks that each module
# registers what it is listed for.
MODULES = {
    ("local", "docker"): "evaltasks.executors.docker.executor",
    ("local", "process"): "evaltasks.executors.process.executor",
    ("slurm", "process"): "evaltasks.executors.slurm.executor",
    ("slurm", "docker"): "evaltasks.executors.slurm.executor",
}
_BY_KEY: dict[tuple[str, str], type[Executor]] = {}
_BY_NAME: dict[str, tuple[str, str]] = {}   # executor name → the (type, runtime) to rebuild it for


def register(name: str, *serves: tuple[str, str]):
    """Class decorator: the executor called ``name`` (what its Handles and the
    history say) serves these (execution.type, execution.runtime) pairs; by
    default ``("local", name)``, the runtime of that name on this machine."""
    serves = serves or (("local", name),)

    def add(cls: type[Executor]) -> type[Executor]:
        cls.name = name
        for key in serves:
            _BY_KEY[key] = cls
        _BY_NAME.setdefault(name, serves[0])
        return cls
    return add


def _registered(key: tuple[str, str]) -> type[Executor] | None:
    if key not in _BY_KEY and key in MODULES:
        importlib.import_module(MODULES[key])
    return _BY_KEY.get(key)


def choose(execution: Execution) -> Executor:
    """The executor for a config's ``execution`` section: ``type`` (local | slurm,
    from ``defaults: - execution: ...``) and ``runtime`` (docker | process)."""
    cls = _registered((execution.type, execution.runtime))
    if cls is None:
        runtimes = sorted(runtime for kind, runtime in MODULES if kind == execution.type)
        where = f" with execution: {execution.type}" if execution.type != "local" else ""
        raise ConfigError(f"execution.runtime: {execution.runtime!r} is not one of {', '.join(runtimes)}{where}")
    return cls(execution)


def for_handle_kind(name: str, execution: Execution | None = None) -> Executor:
    """The executor that owns handles of ``name`` (for `status`/`kill` of a past run)."""
    execution = execution or Execution()
    module = f"{__package__}.{name}.executor"
    if name not in _BY_NAME and module in MODULES.values():
        importlib.import_module(module)
    kind, runtime = _BY_NAME.get(name, ("local", name))
    return choose(replace(execution, type=kind, runtime=runtime))


def unsafe_code_refusal(specs, confirmed):
    """The one line refusing tasks that would run model-written code on this
    machine (runtime: process; a Slurm job without Docker says so of its nodes)
    without the user's explicit opt-in; None when fine."""
    unsafe = sorted({s.id for s in specs if benchmarks.executes_model_code(s.benchmark)})
    if not unsafe or confirmed:
        return None
    return (f"task(s) {', '.join(unsafe)} run model-written code, and under runtime: process it runs on this "
            "machine outside a container; opt in with execution.confirm_run_unsafe_code: true "
            "(or --confirm-run-unsafe-code), or use runtime: docker")
