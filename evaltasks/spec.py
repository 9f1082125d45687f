"""One planned task: what the runner, an executor and the harness need to run
it, and nothing about how it runs (that is the executor's, from the config's
``execution`` section)."""

import os
from dataclasses import dataclass

from .harness import layout


@dataclass(frozen=True)
class TaskSpec:
    id: str             # unique in the config; names the task directory and `eval:<id>`
    name: str           # as written in the config
    benchmark: str      # the catalog's canonical name
    params: dict
    endpoint: dict      # url, model_id, type, api_key_name (a variable's NAME), adapter_config
    env_vars: dict      # inner name → the NAME of the variable the value comes from
    job_id: str         # <invocation>.<number>
    output_dir: str
    task_dir: str
    task_file: dict = None  # a task defined in a file (filetasks.load), None for a built-in benchmark

    @classmethod
    def planned(cls, task, invocation, number, output_dir):
        """From one of ``config.tasks``."""
        return cls(id=task["id"], name=task["name"], benchmark=task["benchmark"], params=task["params"],
                   endpoint=task["endpoint"], env_vars=task["env_vars"], job_id=f"{invocation}.{number}",
                   output_dir=output_dir, task_dir=os.path.join(output_dir, task["id"]),
                   task_file=task.get("task_file"))

    @property
    def results(self):
        return layout.results(self.task_dir)

    @property
    def log(self):
        return layout.job_log(self.task_dir, self.job_id)

    def harness_task(self, refresh_cache=False):
        """``task.json`` for the harness: the task's settings, no secret values, and
        whether to bypass the response cache (not part of the task's fingerprint:
        how a result is fetched, not what it measures)."""
        task = {"id": self.id, "name": self.name, "benchmark": self.benchmark, "params": self.params,
                "endpoint": self.endpoint, "refresh_cache": refresh_cache}
        if self.task_file:
            from .filetasks import harness_view
            task["task_file"] = harness_view(self.task_file)
        return task
