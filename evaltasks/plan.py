"""Config → doit tasks: one ``eval:<id>`` task per configured evaluation, whose
target is ``<output_dir>/<id>/results.json``, plus the hidden ``_prepare`` task
they share (lock the output dir, reach Docker, build the harness image).

``_prepare`` is a doit *setup* task: it runs only when some evaluation is not
up to date, so a run with nothing to do never touches Docker, and generating
tasks (``doit list``) stays instant.
"""

import os
import signal
import sys
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

from . import container, datasets, docker_args, image
from .harness import benchmarks
from .harness.files import write_json_atomic

RESULTS = "results.json"
# Written by a run; removed before a task reruns so no stale file outlives it.
OUTPUTS = (RESULTS, "samples.jsonl", "progress.json")
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
    """Plain dicts, one per task: everything the runner and the harness need."""
    execution = cfg.data["execution"]
    docker_args.parse(execution.get("extra_docker_args"))   # validate before anything starts
    specs = []
    for number, task in enumerate(cfg.tasks):
        bench = benchmarks.resolve(task["benchmark"])
        datasets.check(bench)
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
    endpoint = {k: spec["endpoint"][k] for k in ("url", "model_id", "type")}
    endpoint["adapter_config"] = {k: v for k, v in spec["endpoint"]["adapter_config"].items()
                                  if k not in RUN_ONLY_ADAPTER}
    params = {k: v for k, v in spec["params"].items() if k not in RUN_ONLY_PARAMS}
    return {
        "config": {"benchmark": spec["benchmark"], "config": {"params": params},
                   "target": {"api_endpoint": endpoint}},
        "harness": image.task_code_digest(bench.module),
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


def default_workers(cfg):
    if cfg.data["execution"].get("mode") == "sequential":
        return 1
    return max(1, min(len(cfg.tasks), MAX_DEFAULT_WORKERS))


def doit_config(run):
    from .reporter import EvalReporter

    return {
        "backend": "sqlite3",
        "dep_file": os.path.join(run.cfg.output_dir, DB_FILE),
        "par_type": "thread",
        "num_process": default_workers(run.cfg),
        # doit instantiates the reporter class itself: bind the class to this run.
        "reporter": type("RunReporter", (EvalReporter,), {"run": run}),
        "default_tasks": ["eval"],
        "subtasks": True,   # `doit list` shows every eval:<id>, not just the group
    }


class Run:
    """One invocation: the state its tasks share inside one launcher process."""

    def __init__(self, cfg, invocation=None, overrides=()):
        from .history import History
        from .lock import OutputDirLock

        self.cfg = cfg
        self.overrides = list(overrides)
        self.invocation = invocation or new_invocation_id()
        self.specs = task_specs(cfg, self.invocation)
        self.by_task_name = {f"eval:{spec['id']}": spec for spec in self.specs}
        self.history = History()
        self.lock = OutputDirLock(cfg.output_dir)
        self.containers = container.Containers()
        sequential = cfg.data["execution"].get("mode") == "sequential"
        self.slots = threading.Semaphore(1 if sequential else len(self.specs))
        self.client = None
        self.image = None

    # -- doit task dicts -------------------------------------------------
    def doit_tasks(self):
        yield {
            "basename": "_prepare",
            "doc": "lock the output dir, reach Docker, build the harness image",
            "actions": [self.prepare],
            "uptodate": [False],
        }
        for spec in self.specs:
            yield self.eval_task(spec)

    def eval_task(self, spec):
        bench = benchmarks.resolve(spec["benchmark"])
        limit = spec["params"]["limit_samples"]
        size = f"{limit} of {bench.size}" if limit else f"all {bench.size}"
        target = os.path.join(spec["task_dir"], RESULTS)
        return {
            "basename": "eval",
            "name": spec["id"],
            "doc": f"{bench.name}: {size} samples, {spec['endpoint']['model_id']} → {target}",
            "actions": [(self.execute, [spec])],
            "targets": [target],
            "uptodate": [InputsUnchanged(fingerprint(spec))],
            "setup": ["_prepare"],
            "clean": [(clean, [spec])],
            "meta": {"log": log_path(spec), "results": target, "job": spec["job_id"]},
        }

    # -- actions (silent: doit's thread mode captures stdout) ------------
    def prepare(self):
        from doit.exceptions import TaskFailed

        try:
            self.lock.acquire(f"invocation {self.invocation}")
            self.client = container.connect()
            self.remove_orphans()
            self.preflight()
            self.image = image.ensure(self.client, self.specs[0]["base_image"], log=lambda m: None)
        except Exception as e:      # lock, daemon, image: each has a one-line message
            return TaskFailed(str(e))
        return None

    def execute(self, spec):
        from doit.exceptions import TaskFailed

        task_dir = Path(spec["task_dir"])
        (task_dir / "logs").mkdir(parents=True, exist_ok=True)
        for name in OUTPUTS:
            (task_dir / name).unlink(missing_ok=True)
        write_json_atomic(task_dir / "task.json", harness_task(spec))
        log = log_path(spec)
        with self.slots, open(log, "wb") as out:
            note = lambda text: (out.write(f"[launcher] {text}\n".encode()), out.flush())
            note(f"invocation {self.invocation}, task {spec['id']}, started {_now()}")
            try:
                # A task's env_vars may name where its HF_TOKEN comes from (gated data).
                token = os.environ.get(spec["env_vars"].get("HF_TOKEN", "HF_TOKEN"))
                data = datasets.ensure(benchmarks.resolve(spec["benchmark"]), log=note, hf_token=token)
                options = container.run_options(spec, self.invocation, data)
                note(container.command_line(self.image, options))
                code = container.run(self.client, self.image, options, out, self.containers,
                                     on_create=lambda c: self.history.update_job(
                                         spec["job_id"], container_id=c.id))
            except Exception as e:
                note(f"error: {e}")
                return TaskFailed(f"{e} (log: {log})")
            note(f"container exited with code {code} at {_now()}")
        results = task_dir / RESULTS
        if code == 0 and results.is_file():
            return None
        results.unlink(missing_ok=True)
        if self.containers.stopping.is_set():
            return TaskFailed("interrupted")
        return TaskFailed(f"{_failure_reason(log) or f'container exited with code {code}'} (log: {log})")

    def preflight(self):
        from . import preflight

        if not self.cfg.data["execution"].get("preflight", True):
            return
        network = docker_args.parse(self.cfg.data["execution"].get("extra_docker_args")).get("network_mode")
        for url, model_id, kind, key_name in preflight.endpoints(self.specs):
            preflight.check(url, model_id, kind, key_name, docker_network=network)

    # -- interrupts ------------------------------------------------------
    def remove_orphans(self):
        """Containers of this output dir left by a launcher that was killed outright
        (we hold the output dir's lock, so no live run owns them)."""
        for orphan in container.find(self.client, output_dir=self.cfg.output_dir):
            container.remove(orphan)

    def install_signal_handlers(self):
        """Ctrl-C / SIGTERM: remove this run's containers, then stop as usual."""
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum, frame):
            self.history.mark_killed(None, [s["job_id"] for s in self.specs])
            stopped = self.containers.stop_all()
            if stopped:
                sys.stderr.write(f"\ninterrupted: stopped and removed {stopped} container(s)\n")
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def log_path(spec):
    return os.path.join(spec["task_dir"], "logs", "stdout.log")


def harness_task(spec):
    """``task.json`` for the harness: the task's settings, no secret values."""
    keys = ("id", "name", "benchmark", "params", "endpoint")
    return {k: spec[k] for k in keys}


def clean(spec):
    for name in OUTPUTS + ("task.json",):
        Path(spec["task_dir"], name).unlink(missing_ok=True)


def _failure_reason(log):
    """The harness's own ``FAILED:`` line, or the last line of a traceback."""
    try:
        lines = Path(log).read_text(errors="replace").splitlines()
    except OSError:
        return None
    body = [l for l in lines if not l.startswith("[launcher]") and l.strip()]
    for line in reversed(body):
        if "FAILED: " in line:
            return line.split("FAILED: ", 1)[1]
    return body[-1].strip() if body else None


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
