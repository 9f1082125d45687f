"""One planned task: what the pipeline, an executor and the harness need to run
it, and nothing about how it runs (that is the executor's, from the config's
``execution`` section). Built from one of ``Config.tasks`` (config/tasks.py): the pipeline and the
executors read these, not the resolved tasks' dicts."""

import functools
import os
from dataclasses import dataclass

from evaltasks.harness import layout

# doit's name of the evaluations, as a group (`doit eval`) and one by one
# (`doit eval:<id>`): the one place that spells it.
GROUP = "eval"


def doit_name(task_id: str) -> str:
    return f"{GROUP}:{task_id}"


def task_id(name: str) -> str | None:
    """The id in a doit task name ``eval:<id>``; None for any other name."""
    prefix = GROUP + ":"
    return name[len(prefix):] if name.startswith(prefix) else None


def id_of(name: str) -> str:
    """The task a user names by its id or by its doit name (``eval:<id>``, as a run's lines print it)."""
    return task_id(name) or name


# eq=False: compared by identity (nothing compares two of them by value), and dataclass's
# generated __eq__ and __hash__ are two more exec()s at every launcher start.
@dataclass(frozen=True, eq=False)
class TaskSpec:
    """One task as planned: everything the pipeline, an executor and the harness need."""
    id: str             # unique in the config; names the task directory and `eval:<id>`
    name: str           # as written in the config
    benchmark: str      # the catalog's canonical name
    params: dict
    endpoint: dict      # url, model_id, type, api_key_name (a variable's NAME), adapter_config
    env_vars: dict      # inner name → the NAME of the variable the value comes from
    job_id: str         # <invocation>.<number>
    output_dir: str
    task_dir: str
    task_file: dict | None = None    # a task defined in a file (data/taskfiles.load), None for a built-in benchmark
    deployment: dict | None = None   # the deployed model's fingerprint (deploy.fingerprint), or None
    deployed: bool = False      # the url is the deployment's own (so its port is not measured)

    @classmethod
    def planned(cls, task: dict, invocation: str, number: int, output_dir: str) -> "TaskSpec":
        """From one of ``config.tasks``."""
        return cls(id=task["id"], name=task["name"], benchmark=task["benchmark"], params=task["params"],
                   endpoint=task["endpoint"], env_vars=task["env_vars"], job_id=f"{invocation}.{number}",
                   output_dir=output_dir, task_dir=os.path.join(output_dir, task["id"]),
                   task_file=task.get("task_file"), deployment=task.get("deployment"),
                   deployed=task.get("deployed", False))

    @property
    def judges(self) -> list[dict]:
        """The judge endpoints the task asks besides its model: a task file's, or
        a built-in benchmark's with ``scoring: judge``."""
        if self.task_file:
            return self.task_file.get("judges", [])
        from evaltasks.harness.benchmarks import judge_endpoint
        judge = judge_endpoint(self.params.get("extra"))
        return [judge] if judge else []

    @property
    def doit_name(self) -> str:
        return doit_name(self.id)

    # Computed once (cached_property stores into the instance's __dict__, which a frozen
    # dataclass allows): the plan, the reporter and the history ask each a few times per task.
    @functools.cached_property
    def results(self) -> str:
        return layout.results(self.task_dir)

    @functools.cached_property
    def log(self) -> str:
        return layout.job_log(self.task_dir, self.job_id)

    def harness_task(self, refresh_cache: bool = False) -> dict:
        """``task.json`` for the harness: the task's settings, no secret values, and
        whether to bypass the response cache (not part of the task's fingerprint:
        how a result is fetched, not what it measures)."""
        task = {"id": self.id, "name": self.name, "benchmark": self.benchmark, "params": self.params,
                "endpoint": self.endpoint, "refresh_cache": refresh_cache}
        if self.task_file:
            from evaltasks.data.taskfiles import harness_view
            task["task_file"] = harness_view(self.task_file)
        return task
