"""The task directory's file names: the one place that spells them. The launcher
writes ``task.json`` and the logs, the harness writes the rest; both import this
module (the harness imports nothing else from the launcher).

    <output_dir>/<task id>/
        task.json            the task's settings, no secret values (launcher → harness)
        results.json         the metrics; exists only once a run succeeded
        samples.jsonl        one scored line per sample
        progress.json        samples done so far, while it runs
        run_config.yml       the config as run (launcher; for provenance and reproduce)
        logs/<job id>.log    each job's own log
        logs/stdout.log      a link to the newest job's log
"""

import os

TASK = "task.json"
RESULTS = "results.json"
SAMPLES = "samples.jsonl"
PROGRESS = "progress.json"
RUN_CONFIG = "run_config.yml"   # the composed config as run (secrets by name only)
LOGS = "logs"
LATEST_LOG = "stdout.log"
# Written by a run; removed before a task reruns so no stale file outlives it.
OUTPUTS = (RESULTS, SAMPLES, PROGRESS)


def task_file(task_dir):
    return os.path.join(task_dir, TASK)


def results(task_dir):
    return os.path.join(task_dir, RESULTS)


def samples(task_dir):
    return os.path.join(task_dir, SAMPLES)


def run_config(task_dir):
    return os.path.join(task_dir, RUN_CONFIG)


def progress(task_dir):
    return os.path.join(task_dir, PROGRESS)


def job_log(task_dir, job_id):
    """The job's own log: a later run of the task writes another."""
    return os.path.join(task_dir, LOGS, f"{job_id}.log")


def latest_log(task_dir):
    """``logs/stdout.log``: a link to the newest job's log."""
    return os.path.join(task_dir, LOGS, LATEST_LOG)


def start_log(task_dir, job_id):
    """Create the job's log folder and point ``stdout.log`` at its log; the path."""
    path = job_log(task_dir, job_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    link = latest_log(task_dir)
    tmp = f"{link}.{job_id}.tmp"
    _unlink(tmp)
    os.symlink(os.path.basename(path), tmp)
    os.replace(tmp, link)
    return path


def clear_outputs(task_dir, also_task=False):
    """Remove what an earlier run wrote (and what the launcher wrote for it, ``task.json``
    and ``run_config.yml``, with ``also_task``)."""
    for name in OUTPUTS + ((TASK, RUN_CONFIG) if also_task else ()):
        _unlink(os.path.join(task_dir, name))


def _unlink(path):
    # Not pathlib: its import cost every harness start ~3 ms, for this alone.
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass