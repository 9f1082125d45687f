"""Running a plan: the state one invocation's tasks share inside the launcher,
and the doit actions that use it — ``prepare`` (the ``_prepare`` setup task)
and ``execute`` (one ``eval:<id>`` task: data, the executor's job, results.json)
— plus what Ctrl-C and SIGTERM do. How a task's harness runs is its executor's
(evaltasks/executors/)."""

import contextlib
import functools
import os
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from evaltasks.config import task_spec
from evaltasks.config import tasks as config_tasks
from evaltasks.config.errors import ConfigError
from evaltasks.data import datasets
from evaltasks.executors import base as executors
from evaltasks.executors import bundle
from evaltasks.pipeline import plan
from evaltasks.harness import benchmarks, layout
from evaltasks.harness.files import write_atomic, write_json_atomic
from evaltasks.state import job_states as states


class Run:
    """One invocation: the state its tasks share inside one launcher process."""

    def __init__(self, cfg, invocation=None, overrides=(), forced=False, keep_going=False,
                 confirm_unsafe_code=False, refresh_cache=False, code=None):
        from evaltasks.state.history import History
        from evaltasks.pipeline.lock import OutputDirLock

        self.cfg = cfg
        self.overrides = list(overrides)
        self.invocation = invocation or plan.new_invocation_id()
        self.specs = plan.task_specs(cfg, self.invocation)
        self.executor = executors.choose(cfg.execution)
        self.executor.validate(self.specs)
        if cfg.deployment is not None and not self.executor.serves_deployments:
            raise ConfigError(f"deployment: {cfg.deployment.type} is not supported with execution: "
                              f"{cfg.execution.type} yet (the server would run here, "
                              "not on the nodes); use execution: local, or deployment: none and your own server")
        self.by_task_name = {spec.doit_name: spec for spec in self.specs}
        self.history = History()
        self.lock = OutputDirLock(cfg.output_dir)
        # execution.mode: sequential holds whatever -n says to one task at a time.
        self.slots = threading.Semaphore(1) if cfg.execution.sequential else contextlib.nullcontext()
        self.forced = forced            # --force / doit -a: selected tasks run even if up to date
        self.keep_going = keep_going    # --continue: a task that cannot run does not stop the others
        # Model-written code may run outside a container only when the user said so.
        self.confirm_unsafe_code = confirm_unsafe_code or cfg.execution.confirm_run_unsafe_code
        self.selected = [spec.id for spec in self.specs]
        self.todo = []      # the tasks _prepare found will run
        # `evaltasks run --force`: ask the endpoint again instead of answering
        # from the response cache (the new replies replace the cached ones).
        self.refresh_cache = refresh_cache
        self.stopping = threading.Event()
        self.notes = []     # what _prepare did that the run should say (the reporter prints them)
        self.say = lambda text: None    # a line printed now (the reporter sets it)
        self.server = None
        self.summary = None     # what the summary task wrote (report.summary.build's), once it ran
        self._code = code       # remembered.code_digest(), when the caller took it
        self._warmed_up = False     # _warm_up ran (the first preflight request started it)
        if cfg.deployment is not None:
            from evaltasks.deploy.lifecycle import ModelServer

            self.server = ModelServer(cfg.deployment, self.invocation, say=lambda text: self.say(text),
                                      on_death=lambda why: self.executor.stop_all())

    def doit_tasks(self):
        return plan.doit_tasks(self)

    @property
    def code(self):
        """A digest of the launcher's code (remembered.code_digest), taken once per run."""
        if self._code is None:
            from evaltasks.config.remembered import code_digest

            self._code = code_digest()
        return self._code

    # -- which tasks will run, and can they -------------------------------
    def select(self, names):
        """Only these tasks were asked for: ids, or doit's names (``eval:<id>``;
        ``eval`` or nothing means all)."""
        ids = [task_spec.id_of(name) for name in names]
        if ids and task_spec.GROUP not in ids:
            self.selected = [i for i in ids if i in {s.id for s in self.specs}]

    def to_run(self):
        """The selected tasks that are not up to date (or all selected, forced)."""
        from evaltasks.pipeline import freshness

        selected = [spec for spec in self.specs if spec.id in self.selected]
        return selected if self.forced else freshness.out_of_date(selected, self.cfg.output_dir)

    @staticmethod
    def blocker(spec, environ=os.environ, data_missing=None):
        """Why ``spec`` cannot run on this machine now (data, key variables), or None.
        ``data_missing``: benchmark name → ``datasets.missing``'s answer (``blocked``'s memo)."""
        return config_tasks.blocker(vars(spec), environ) or (data_missing or _data_missing)(spec.benchmark)

    def blocked(self, specs):
        """``{id: why}`` for the tasks among ``specs`` that cannot run. The data is
        looked at once per benchmark, not once per task (200 tasks, a few benchmarks)."""
        memo = functools.lru_cache(maxsize=None)(_data_missing)
        return {spec.id: why for spec in specs if (why := self.blocker(spec, data_missing=memo))}

    def refused(self):
        """One line when a task about to run cannot and --continue was not given, or
        when the executor refuses one (model-written code outside a container), else None."""
        selected = [spec for spec in self.specs if spec.id in self.selected]
        if not self.blocked(selected) and not self.executor.refuses(selected, self.confirm_unsafe_code):
            return None     # the usual case, decided without asking which tasks are out of date
        todo = self.to_run()
        blocked = self.blocked(todo)
        return (self.executor.refuses(todo, self.confirm_unsafe_code)
                or (self.refusal(blocked) if blocked and not self.keep_going else None))

    @staticmethod
    def refusal(blocked):
        (first, why), more = next(iter(blocked.items())), len(blocked) - 1
        others = f" (and {more} more task(s))" if more else ""
        return (f"{task_spec.doit_name(first)} cannot run: {why}{others}; "
                "--continue runs the other tasks, -t picks tasks")

    # -- actions (silent: doit's thread mode captures stdout) ------------
    def prepare(self):
        from doit.exceptions import TaskFailed

        todo = self.to_run()
        blocked = self.blocked(todo)
        if blocked and not self.keep_going:
            return TaskFailed(self.refusal(blocked))
        unsafe = self.executor.refuses(todo, self.confirm_unsafe_code)
        if unsafe:
            return TaskFailed(unsafe)
        # Only the endpoints of tasks that will run are checked; a blocked task fails on its own.
        self.todo = [spec for spec in todo if spec.id not in blocked]
        try:
            self.lock.acquire(f"invocation {self.invocation}")
            from evaltasks.deploy.server import stop_recorded

            if stop_recorded(self.cfg.output_dir):
                self.notes.append("stopped a model server left by a killed launcher")
            self.executor.prepare(self)
        except Exception as e:      # lock, daemon, image, venv, cluster: each has a one-line message
            return TaskFailed(str(e))
        return None

    def deploy(self):
        """The ``_deploy`` setup task: start the model server the tasks share."""
        from doit.exceptions import TaskFailed

        from evaltasks.deploy.server import ServerFailed

        todo = [spec for spec in self.to_run() if not self.blocker(spec)]
        try:
            self.server.start([spec.id for spec in todo])
            self.preflight([spec for spec in todo if spec.deployed])
        except ServerFailed as e:
            return TaskFailed(str(e))
        except Exception as e:      # preflight, the model file, the docker daemon: one line each
            self.server.stop()
            return TaskFailed(f"model server: {e}")
        return None

    def undeploy(self):
        """``_deploy``'s teardown."""
        self.server.teardown()

    def summarize(self):
        """The ``summary`` task: summary.md/.csv/.json/.html of every task's
        results, then the exports execution.auto_export (a config.sections.AutoExport,
        or None) asks for."""
        from doit.exceptions import TaskFailed

        from evaltasks.report import export, load, summary

        auto_export = self.cfg.execution.auto_export
        try:
            self.summary = summary.write_all(self.cfg.output_dir)
            if auto_export:
                export.auto(self.cfg.output_dir, auto_export)
        except (load.RunError, export.ExportError) as e:
            return TaskFailed(str(e))
        return None

    def execute(self, spec):
        try:
            return self._execute(spec)
        finally:
            if self.server:
                self.server.task_ended(spec.id)

    def _execute(self, spec):
        from doit.exceptions import TaskFailed

        log = layout.start_log(spec.task_dir, spec.job_id)
        layout.clear_outputs(spec.task_dir)
        executor = self.executor
        server = self.server.identity if self.server and spec.deployed else None
        # No fsync (files.py): both are written again whenever the task runs again.
        write_json_atomic(layout.task_file(spec.task_dir),
                          harness_task(spec, self.refresh_cache, executor.provenance(), server), durable=False)
        import yaml     # here: a run with nothing to do needs none (config/remembered.py)

        write_atomic(layout.run_config(spec.task_dir), yaml.safe_dump(self.cfg.data, sort_keys=False), durable=False)
        # Appending: a Slurm job writes to the same file (its output file is the log).
        with self.slots, open(log, "ab") as out:
            note = lambda text: (out.write(f"[launcher] {text}\n".encode()), out.flush())
            note(f"invocation {self.invocation}, task {spec.id}, started {_now()}")
            try:
                why = self.blocker(spec)
                if why:
                    raise RuntimeError(f"cannot run: {why}")
                if self.stopping.is_set():
                    raise RuntimeError("interrupted")
                if self.server and self.server.failure():
                    raise RuntimeError(self.server.failure())
                # A task's env_vars may name where its HF_TOKEN comes from (gated data).
                token = os.environ.get(spec.env_vars.get("HF_TOKEN", "HF_TOKEN"))
                if spec.task_file:
                    from evaltasks.data import taskfiles as filetasks
                    filetasks.stage(spec.task_file, log=note)
                else:
                    datasets.ensure(benchmarks.resolve(spec.benchmark), log=note, hf_token=token)
                outcome = executor.launch(spec, self.invocation, out,
                                          on_start=lambda handle: self.history.set_handle(
                                              spec.job_id, executor.name, handle))
            except Exception as e:
                note(f"error: {e}")
                return TaskFailed(f"{e} (log: {log})")
            note(f"{executor.ended_note(outcome)} at {_now()}")
            results = Path(layout.results(spec.task_dir))
            if outcome.exit_code == 0 and results.is_file():
                return None
            results.unlink(missing_ok=True)
            reason = self._failure_reason(spec, log, outcome)
            if self.server and self.server.failure():
                for line in self.server.death.splitlines():     # the server's last words
                    note(line)
            note(f"failed: {reason}")
        return TaskFailed(f"{reason} (log: {log})")

    def _failure_reason(self, spec, log, outcome):
        if self.server and self.server.failure():
            return self.server.failure()
        if self.stopping.is_set():
            return "interrupted"
        job = self.history.job(spec.job_id)
        if job and job["status"] == states.KILLED:
            return job["reason"]
        if outcome.out_of_memory or (outcome.stopped and outcome.reason):
            return outcome.reason
        return _harness_error(log) or outcome.reason or f"exited with code {outcome.exit_code}"

    def preflight(self, specs, network=None, send=None):
        """Check the endpoints reachable from here (``send`` None; before any image
        or venv is built, so a typo is found at once), or, with ``send``, those
        whose host is a container name on the Docker ``network``."""
        from evaltasks.pipeline import preflight

        if not self.cfg.execution.preflight:
            return
        if self.server and not self.server.ready:
            # A deployed model's endpoint is checked once its server is up (deploy()).
            specs = [spec for spec in specs if not spec.deployed]
        checks = [(endpoint, spec) for endpoint, spec in preflight.endpoints(specs).items()
                  if preflight.only_inside(endpoint[0], network) == (send is not None)]
        if checks and not self._warmed_up:
            # Started only now, as the first request goes out: started with
            # _prepare, it took the GIL from the work before the request (the
            # request went out 10 ms later in one of three traced runs).
            _warm_up()
            self._warmed_up = True
        for (url, model_id, kind, key_name, body), spec in checks:
            preflight.check(url, model_id, kind, key_name, send=send, body=body, task=spec.doit_name)

    def import_preflight(self):
        """Import now all that ``preflight`` will: for an executor about to import
        in another thread while it runs (two threads importing the same modules
        at once can deadlock on their import locks)."""
        from evaltasks.pipeline import preflight

        preflight.imports_done(self.todo)

    # -- interrupts ------------------------------------------------------
    def remove_leftovers(self):
        """Jobs of this output dir left by a launcher that was killed outright
        (we hold the output dir's lock, so no live run owns them); says how many, per invocation."""
        left = {}
        for handle in self.executor.find(self.cfg.output_dir):
            self.executor.stop(handle)
            left[handle.invocation or "?"] = left.get(handle.invocation or "?", 0) + 1
        for owner in left:
            self.history.orphans_removed(owner, by=self.invocation, kind=self.executor.kind)
        self.notes += [f"removed {n} {self.executor.kind}(s) left by invocation {owner} (its launcher was killed)"
                       for owner, n in left.items()]

    def install_signal_handlers(self):
        """Ctrl-C / SIGTERM: stop this run's jobs, then stop as usual."""
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum, frame):
            self.stopping.set()
            # `evaltasks kill <invocation>` marks the run killed, then sends SIGTERM:
            # say so here, where the user is looking, not just "interrupted".
            by_kill = (self.history.invocation(self.invocation) or {}).get("status") == states.KILLED
            self.history.mark_killed(self.invocation, [s.job_id for s in self.specs],
                                     reason=f"interrupted ({signal.Signals(signum).name})")
            stopped = self.executor.stop_all()
            if self.server:
                self.server.stop()
            why = "killed by `evaltasks kill`" if by_kill else "interrupted"
            sys.stderr.write(f"\n{why}: {self.executor.stopped_note(stopped)}\n")
            # SystemExit still runs doit's cleanup (reporter, database) but, unlike
            # KeyboardInterrupt, ends the process without a traceback.
            raise SystemExit(130)

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def harness_task(spec, refresh_cache=False, runtime=None, server=None):
    """``task.json`` for the harness (TaskSpec.harness_task) and, for results.json's
    provenance, what only the launcher knows: the code digest the fingerprint
    uses, where the data came from, ``runtime`` (the executor's account of
    what runs the harness: image or venv) and ``server``, the deployed server's
    identity (which llama.cpp, from which image and packages)."""
    task = spec.harness_task(refresh_cache)
    bench = benchmarks.resolve(spec.benchmark)
    given = {"harness_digest": bundle.task_code_digest(bench.module), "data_sources": datasets.sources(bench),
             "runtime": runtime or {}}
    if server:
        given["deployment"] = server
    if spec.task_file:
        # A task file's own version (metadata.version) and data, as the catalog's are for a built-in.
        given["benchmark_version"] = (spec.task_file["document"].get("metadata") or {}).get("version")
        given["datasets"] = [{"file": s["name"], "source": s.get("url") or s.get("path"), "sha256": s["sha256"],
                              "rows": None} for s in spec.task_file["sources"]]
    task["provenance"] = given
    return task


def _data_missing(benchmark):
    return datasets.missing(benchmarks.resolve(benchmark))


def _harness_error(log):
    """The harness's own ``FAILED:`` line, or the last line of a traceback."""
    try:
        lines = Path(log).read_text(errors="replace").splitlines()
    except OSError:
        return None
    body = [l for l in lines if not l.startswith("[launcher]") and l.strip()]
    for line in reversed(body):
        if "FAILED: " in line:
            return line.split("FAILED: ", 1)[1]
    if any(l.startswith("Traceback") for l in body):
        return body[-1].strip()
    return None


def _warm_up():
    """Import, in a thread of its own, what the tasks and the summary will need
    (PyYAML for each task's run_config.yaml, ~10 ms; the report modules, ~25 ms),
    while _prepare waits for the endpoint's preflight answer (Run.preflight).
    Imported later, both sat on the critical path: the first task's start, a
    container's start (containers.run records the container between its create
    and its start), the summary after the last task (bench/RESULTS.md).

    Beside other threads' imports (the docker SDK's, the preflight's) this cannot
    deadlock: a thread importing a module waits for another only on a module both
    import (on 2026-12-06 none: PyYAML, Jinja2 and statistics are not among the
    SDK's), and the report modules import one another without a cycle
    (tests/unit/report/test_imports.py). Nothing here may fail a run: a failed
    import happens again where the module is used, and says why there."""
    def imports():
        try:
            import yaml  # noqa: F401
            from evaltasks.report import export, html, load, summary  # noqa: F401
        except Exception:
            pass

    threading.Thread(target=imports, name="warm-up imports").start()


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
