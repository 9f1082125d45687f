"""Config → doit tasks: one ``eval:<id>`` task per configured evaluation, whose
target is ``<output_dir>/<id>/results.json``, plus the hidden ``_prepare`` task
they share (lock the output dir, reach Docker, preflight, build the harness image).
The plan depends on the config alone: whether a task can run on this machine
(data, key variables, endpoint) is checked when it is about to run.

``_prepare`` is a doit *setup* task: it runs only when some evaluation is not
up to date, so a run with nothing to do never touches Docker, and generating
tasks (``doit list``) stays instant. The tasks' actions are ``runner.Run``'s.
"""

import os
import uuid
from pathlib import Path

from . import docker_args, image
from .harness import benchmarks

RESULTS = "results.json"
# Written by a run; removed before a task reruns so no stale file outlives it.
OUTPUTS = (RESULTS, "samples.jsonl", "progress.json")
DB_FILE = ".doit.db"
LATEST_LOG = "stdout.log"
# Params that change how a task runs but not what it measures; editing them
# does not make a task out of date.
RUN_ONLY_PARAMS = ("parallelism", "request_timeout", "max_retries")
RUN_ONLY_ADAPTER = ("use_request_logging", "max_logged_requests", "use_response_logging",
                    "max_logged_responses", "use_caching", "caching_dir")
MAX_DEFAULT_WORKERS = 16


def new_invocation_id():
    return uuid.uuid4().hex[:12]


def task_specs(cfg, invocation):
    """Plain dicts, one per task: everything the runner and the harness need."""
    execution = cfg.data["execution"]
    network = docker_args.parse(execution.get("extra_docker_args")).get("network_mode")
    specs = []
    for number, task in enumerate(cfg.tasks):
        docker_args.check_reachable(task["endpoint"]["url"], network, task["id"])
        specs.append(dict(
            task,
            job_id=f"{invocation}.{number}",
            output_dir=cfg.output_dir,
            task_dir=os.path.join(cfg.output_dir, task["id"]),
            extra_docker_args=execution.get("extra_docker_args") or "",
            base_image=image.base_image(execution.get("base_image")),
        ))
    return specs


def fingerprint(spec):
    """What determines a task's result, keyed as in the config file: stored in
    doit's DB when the task succeeds, and compared on the next run. Never holds
    a secret value."""
    bench = benchmarks.resolve(spec["benchmark"])
    # A deployed model is named by what determines its answers, not by its url (the port).
    endpoint = {k: spec["endpoint"][k] for k in ("url", "model_id", "type")
                if not (k == "url" and spec.get("deployed"))}
    endpoint["adapter_config"] = {k: v for k, v in spec["endpoint"]["adapter_config"].items()
                                  if k not in RUN_ONLY_ADAPTER}
    params = {k: v for k, v in spec["params"].items() if k not in RUN_ONLY_PARAMS}
    return {
        "config": {"benchmark": spec["benchmark"], "config": {"params": params},
                   "target": {"api_endpoint": endpoint}},
        "harness": image.task_code_digest(bench.module),
        **({"deployment": spec["deployment"]} if spec.get("deployment") else {}),
    }


class InputsUnchanged:
    """doit ``uptodate`` check: the saved fingerprint equals the current one."""

    KEY = "evaltasks:inputs"

    def __init__(self, inputs):
        self.inputs = inputs

    def configure_task(self, task):
        task.value_savers.append(lambda: {self.KEY: self.inputs})

    def __call__(self, task, values):
        return values.get(self.KEY) == self.inputs

    def __repr__(self):    # what `doit info` shows when the check fails
        return "config or harness code changed since the last success (evaltasks run --dry-run shows which)"


def default_workers(cfg):
    if cfg.data["execution"].get("mode") == "sequential":
        return 1
    return max(1, min(len(cfg.tasks), MAX_DEFAULT_WORKERS))


def doit_tasks(run):
    """The task dicts doit runs, for ``run`` (a runner.Run)."""
    yield {
        "basename": "_prepare",
        "doc": "lock the output dir, reach Docker, preflight the endpoints, build the harness image",
        "actions": [run.prepare],
        "uptodate": [False],
    }
    setup = ["_prepare"]
    if run.server:
        # A setup task of every evaluation: started only when one of them runs.
        yield {
            "basename": "_deploy",
            "doc": "start the model server the evaluations share",
            "actions": [run.deploy],
            "teardown": [run.undeploy],
            "setup": ["_prepare"],
            "uptodate": [False],
        }
        setup.append("_deploy")
    for spec in run.specs:
        yield eval_task(run, spec, setup)


def eval_task(run, spec, setup=("_prepare",)):
    bench = benchmarks.resolve(spec["benchmark"])
    limit = spec["params"]["limit_samples"]
    size = f"{limit} of {bench.size}" if limit else f"all {bench.size}"
    target = os.path.join(spec["task_dir"], RESULTS)
    return {
        "basename": "eval",
        "name": spec["id"],
        "doc": f"{bench.name}: {size} samples, {spec['endpoint']['model_id']} → {target}",
        "actions": [(run.execute, [spec])],
        "targets": [target],
        "uptodate": [InputsUnchanged(fingerprint(spec))],
        "setup": list(setup),
        "clean": [(clean, [spec])],
        # No job id of this invocation: it is recorded only if the task runs, and
        # `doit info` would show an id `evaltasks status` cannot find.
        "meta": {"results": target, "log": latest_log(spec), "last_job": LastJob(target)},
    }


def log_path(spec):
    """The job's own log: a later run of the task writes another."""
    return os.path.join(spec["task_dir"], "logs", f"{spec['job_id']}.log")


def latest_log(spec):
    """``logs/stdout.log``: a link to the newest job's log."""
    return os.path.join(spec["task_dir"], "logs", LATEST_LOG)


def start_log(spec):
    """Create the job's log folder and point ``stdout.log`` at its log; the path."""
    path = log_path(spec)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    link = latest_log(spec)
    tmp = f"{link}.{spec['job_id']}.tmp"
    Path(tmp).unlink(missing_ok=True)
    os.symlink(os.path.basename(path), tmp)
    os.replace(tmp, link)
    return path


class LastJob:
    """``doit info``'s view of the task's newest recorded job; looked up only when shown."""

    def __init__(self, results_path):
        self.results_path = results_path

    def __repr__(self):
        from .history import History

        job = History().last_job(self.results_path)
        if not job:
            return "none recorded"
        return f"{job['id']} ({job['status']}; evaltasks status {job['id']})"


def clean(spec):
    for name in OUTPUTS + ("task.json",):
        Path(spec["task_dir"], name).unlink(missing_ok=True)


def doit_config(run):
    from .reporter import EvalReporter

    class RunReporter(EvalReporter):
        def initialize(self, tasks, selected_tasks):
            # The tasks doit was asked for: `_prepare` checks only those (see Run.select).
            run.select(selected_tasks)
            super().initialize(tasks, selected_tasks)

    RunReporter.run = run
    return {
        "backend": "sqlite3",
        "dep_file": os.path.join(run.cfg.output_dir, DB_FILE),
        "par_type": "thread",
        "num_process": default_workers(run.cfg),
        # doit instantiates the reporter class itself: bind the class to this run.
        "reporter": RunReporter,
        "default_tasks": ["eval"],
        "subtasks": True,   # `doit list` shows every eval:<id>, not just the group
    }
