"""Config → doit tasks: one ``eval:<id>`` task per configured evaluation, whose
target is ``<output_dir>/<id>/results.json``, plus the hidden ``_prepare`` task
they share (lock the output dir, then the executor's own preparation: reach
Docker or the cluster, build the harness image or venv, preflight). The plan
depends on the config alone: whether a task can run on this machine (data, key
variables, endpoint) is checked when it is about to run.

``_prepare`` is a doit *setup* task: it runs only when some evaluation is not
up to date, so a run with nothing to do never touches Docker, and generating
tasks (``doit list``) stays instant. The tasks' actions are ``runner.Run``'s.
"""

import os
import uuid

from evaltasks import deploy
from evaltasks.data import datasets
from evaltasks.executors import bundle
from evaltasks.harness import benchmarks, layout
from evaltasks.config.task_spec import TaskSpec

DB_FILE = ".doit.db"
# Params that change how a task runs but not what it measures; editing them
# does not make a task out of date.
RUN_ONLY_PARAMS = ("parallelism", "request_timeout", "max_retries")
RUN_ONLY_ADAPTER = ("use_request_logging", "max_logged_requests", "use_response_logging",
                    "max_logged_responses", "use_caching", "caching_dir")
MAX_DEFAULT_WORKERS = 16


def new_invocation_id():
    return uuid.uuid4().hex[:12]


def task_specs(cfg, invocation):
    """One TaskSpec per configured task."""
    return [TaskSpec.planned(task, invocation, number, cfg.output_dir) for number, task in enumerate(cfg.tasks)]


def fingerprint(spec):
    """What determines a task's result: the config keyed as in the config file,
    the harness code, the benchmark's version and the digest of each data file.
    Stored in doit's DB when the task succeeds, and compared on the next run.
    Never holds a secret value."""
    bench = benchmarks.resolve(spec.benchmark)
    # A deployed model is named by what determines its answers, not by its url (the port).
    endpoint = {k: spec.endpoint[k] for k in ("url", "model_id", "type") if not (k == "url" and spec.deployed)}
    endpoint["adapter_config"] = {k: v for k, v in spec.endpoint["adapter_config"].items()
                                  if k not in RUN_ONLY_ADAPTER}
    params = {k: v for k, v in spec.params.items() if k not in RUN_ONLY_PARAMS}
    config = {"benchmark": spec.benchmark, "config": {"params": params},
              "target": {"api_endpoint": endpoint}}
    if spec.task_file:
        # The file's text (judge settings included) and each data file's digest.
        config["task_file"] = {"sha256": spec.task_file["sha256"], "data": spec.task_file["files"]}
    return {
        "config": config,
        "harness": bundle.task_code_digest(bench.module),
        "benchmark_version": bench.version,
        "data": datasets.identity(bench),
        **({"deployment": spec.deployment} if spec.deployment else {}),
    }


class InputsUnchanged:
    """doit ``uptodate`` check: the saved fingerprint equals the current one."""

    KEY = "evaltasks:inputs"

    def __init__(self, inputs, saved=None):
        self.inputs = inputs
        self.saved = saved or (lambda: inputs)     # what to store once the task succeeded

    def configure_task(self, task):
        task.value_savers.append(lambda: {self.KEY: self.saved()})

    def __call__(self, task, values):
        return values.get(self.KEY) == self.inputs

    def __repr__(self):    # what `doit info` shows when the check fails
        return ("config, harness code, benchmark version or data changed since the last success "
                "(evaltasks run --dry-run shows which)")


def default_workers(cfg, executor=None):
    if cfg.execution.sequential:
        return 1
    wanted = executor and executor.default_workers(len(cfg.tasks))
    return wanted or max(1, min(len(cfg.tasks), MAX_DEFAULT_WORKERS))


def doit_tasks(run):
    """The task dicts doit runs, for ``run`` (a runner.Run)."""
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
    for spec in run.specs:
        yield eval_task(run, spec, setup)
    yield summary_task(run)


def eval_task(run, spec, setup=("_prepare",)):
    bench = benchmarks.resolve(spec.benchmark)
    limit = spec.params["limit_samples"]
    size = f"{limit} of {bench.size}" if limit else f"all {bench.size}"
    if spec.task_file:
        size = f"{spec.task_file['task']} ({spec.task_file['path']}), {limit or 'all'}"
    target = spec.results
    inputs = fingerprint(spec)
    # Data this run downloads is known only once it is there: saved with its digest.
    # So is a deployed llama.cpp's identity when the run made its image.
    saved = lambda: dict(inputs, data=datasets.identity(bench),
                         **({"deployment": deploy.fingerprint(run.cfg.deployment)} if spec.deployment else {}))
    return {
        "basename": "eval",
        "name": spec.id,
        "doc": f"{bench.name}: {size} samples, {spec.endpoint['model_id']} → {target}",
        "actions": [(run.execute, [spec])],
        "targets": [target],
        "uptodate": [InputsUnchanged(inputs, saved)],
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
        "actions": [(write_summary, [out, run.cfg.execution.auto_export])],
        "file_dep": [spec.results for spec in run.specs],
        "targets": [os.path.join(out, name) for name in SUMMARY_FILES],
        "clean": True,
    }


def write_summary(output_dir, auto_export=None):
    """The summary files of ``output_dir``, then the exports ``auto_export``
    (a config.sections.AutoExport, or None) asks for."""
    from doit.exceptions import TaskFailed

    from evaltasks.report import export, load, summary

    try:
        summary.write_all(output_dir)
        if auto_export:
            export.auto(output_dir, auto_export)
    except (load.RunError, export.ExportError) as e:
        return TaskFailed(str(e))
    return None


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


def doit_config(run):
    from evaltasks.pipeline.console import reporter_for

    return {
        "backend": "sqlite3",
        "dep_file": os.path.join(run.cfg.output_dir, DB_FILE),
        "par_type": "thread",
        "num_process": default_workers(run.cfg, run.executor),
        "reporter": reporter_for(run),
        "default_tasks": ["eval", SUMMARY],
        "subtasks": True,   # `doit list` shows every eval:<id>, not just the group
    }
