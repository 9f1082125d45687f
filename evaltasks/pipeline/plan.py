"""Config → doit tasks: one ``eval:<id>`` task per configured evaluation, whose
target is ``<output_dir>/<id>/results.json``, plus the hidden ``_prepare`` task
they share (lock the output dir, then the executor's own preparation: reach
Docker or the cluster, build the harness image or venv, preflight). The plan
depends on the config alone: whether a task can run on this machine (data, key
variables, endpoint) is checked when it is about to run.

``_prepare`` is a doit *setup* task: it runs only when some evaluation is not
up to date, so a run with nothing to do never touches Docker, and generating
tasks (``doit list``) stays instant. The tasks' actions are ``actions.Run``'s
bound methods, and whether a task is up to date is freshness.py's: this module
only lays them out as doit's task dicts.
"""

import os
import uuid

from evaltasks.config import task_spec
from evaltasks.config.task_spec import TaskSpec
from evaltasks.harness import benchmarks, layout
from evaltasks.pipeline import freshness

MAX_DEFAULT_WORKERS = 16


def new_invocation_id():
    return uuid.uuid4().hex[:12]


def task_specs(cfg, invocation):
    """One TaskSpec per configured task."""
    return [TaskSpec.planned(task, invocation, number, cfg.output_dir) for number, task in enumerate(cfg.tasks)]


def default_workers(cfg, executor=None):
    if cfg.execution.sequential:
        return 1
    wanted = executor and executor.default_workers(len(cfg.tasks))
    return wanted or max(1, min(len(cfg.tasks), MAX_DEFAULT_WORKERS))


def doit_tasks(run):
    """The task dicts doit runs, for ``run`` (an actions.Run)."""
    yield {
        "basename": "_prepare",
        "doc": f"lock the output dir, prepare the {run.executor.name} executor ({run.executor.preparing})",
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
    identities = {}     # benchmark → its data's identity, taken once for all its tasks
    for spec in run.specs:
        yield eval_task(run, spec, setup, identities)
    yield summary_task(run)


def eval_task(run, spec, setup=("_prepare",), identities=None):
    bench = benchmarks.resolve(spec.benchmark)
    limit = spec.params["limit_samples"]
    size = f"{limit} of {bench.size}" if limit else f"all {bench.size}"
    if spec.task_file:
        size = f"{spec.task_file['task']} ({spec.task_file['path']}), {limit or 'all'}"
    target = spec.results
    return {
        "basename": task_spec.GROUP,
        "name": spec.id,
        "doc": f"{bench.name}: {size} samples, {spec.endpoint['model_id']} → {target}",
        "actions": [(run.execute, [spec])],
        "targets": [target],
        "uptodate": [freshness.inputs_check(spec, run.cfg.deployment, identities, bench)],
        "setup": list(setup),
        "clean": [(clean, [spec])],
        # No job id of this invocation: it is recorded only if the task runs, and
        # `doit info` would show an id `evaltasks status` cannot find.
        "meta": {"results": target, "log": layout.latest_log(spec.task_dir), "last_job": LastJob(target)},
    }


SUMMARY = "summary"
SUMMARY_FILES = tuple(f"summary.{ext}" for ext in ("md", "csv", "json", "html"))


def summary_task(run):
    """``summary``: the report of every task's results, after the evaluations
    (their results.json are its file dependencies, so doit orders it after them
    and it is up to date while none changed)."""
    out = run.cfg.output_dir
    return {
        "basename": SUMMARY,
        "doc": f"summary.md/.csv/.json/.html of every task's results in {out}",
        "actions": [run.summarize],
        "file_dep": [spec.results for spec in run.specs],
        "targets": [os.path.join(out, name) for name in SUMMARY_FILES],
        "clean": True,
    }


class LastJob:
    """``doit info``'s view of the task's newest recorded job; looked up only when shown."""

    def __init__(self, results_path):
        self.results_path = results_path

    def __repr__(self):
        from evaltasks.state.history import History

        job = History().last_job(self.results_path)
        if not job:
            return "none recorded"
        return f"{job['id']} ({job['status']}; evaltasks status {job['id']})"


def clean(spec):
    layout.clear_outputs(spec.task_dir, also_task=True)


def doit_config(run, reporter):
    """``DOIT_CONFIG`` for ``run``; ``reporter`` is the reporter class doit makes
    (console.reporter_for's), passed in so the plan does not import the console."""
    return {
        "backend": "sqlite3",
        "dep_file": os.path.join(run.cfg.output_dir, freshness.DB_FILE),
        "par_type": "thread",
        "num_process": default_workers(run.cfg, run.executor),
        "reporter": reporter,
        "default_tasks": [task_spec.GROUP, SUMMARY],
        "subtasks": True,   # `doit list` shows every eval:<id>, not just the group
    }
