"""Running a plan: the state one invocation's tasks share inside the launcher,
and the doit actions that use it — ``prepare`` (the ``_prepare`` setup task)
and ``execute`` (one ``eval:<id>`` task: data, container, results.json) — plus
what Ctrl-C and SIGTERM do."""

import contextlib
import os
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from . import config, container, datasets, docker_args, image, plan
from .harness import benchmarks
from .harness.files import write_json_atomic


class Run:
    """One invocation: the state its tasks share inside one launcher process."""

    def __init__(self, cfg, invocation=None, overrides=(), forced=False, keep_going=False):
        from .history import History
        from .lock import OutputDirLock

        self.cfg = cfg
        self.overrides = list(overrides)
        self.invocation = invocation or plan.new_invocation_id()
        self.specs = plan.task_specs(cfg, self.invocation)
        self.by_task_name = {f"eval:{spec['id']}": spec for spec in self.specs}
        self.history = History()
        self.lock = OutputDirLock(cfg.output_dir)
        self.containers = container.Containers()
        # execution.mode: sequential holds whatever -n says to one task at a time.
        sequential = cfg.data["execution"].get("mode") == "sequential"
        self.slots = threading.Semaphore(1) if sequential else contextlib.nullcontext()
        self.network = docker_args.parse(cfg.data["execution"].get("extra_docker_args")).get("network_mode")
        self.forced = forced            # --force / doit -a: selected tasks run even if up to date
        self.keep_going = keep_going    # --continue: a task that cannot run does not stop the others
        self.selected = [spec["id"] for spec in self.specs]
        self.client = None
        self.image = None
        # `evaltasks run --force`: ask the endpoint again instead of answering
        # from the response cache (the new replies replace the cached ones).
        self.refresh_cache = False
        self.notes = []     # what _prepare did that the run should say (the reporter prints them)

    def doit_tasks(self):
        return plan.doit_tasks(self)

    # -- which tasks will run, and can they -------------------------------
    def select(self, names):
        """Only these tasks were asked for: ids, or doit's names (``eval:<id>``;
        ``eval`` or nothing means all)."""
        ids = [name.split(":", 1)[1] if name.startswith("eval:") else name for name in names]
        if ids and "eval" not in ids:
            self.selected = [i for i in ids if i in {s["id"] for s in self.specs}]

    def to_run(self):
        """The selected tasks that are not up to date (or all selected, forced)."""
        from .dryrun import reasons, saved_inputs

        saved = {} if self.forced else saved_inputs(self.cfg.output_dir)
        return [spec for spec in self.specs if spec["id"] in self.selected
                and (self.forced or reasons(spec, saved)[0] == "would run")]

    @staticmethod
    def blocker(spec, environ=os.environ):
        """Why ``spec`` cannot run on this machine now (data, key variables), or None."""
        return config.blocker(spec, environ) or datasets.missing(benchmarks.resolve(spec["benchmark"]))

    def blocked(self, specs):
        """``{id: why}`` for the tasks among ``specs`` that cannot run."""
        return {spec["id"]: why for spec in specs if (why := self.blocker(spec))}

    def refused(self):
        """One line when a task about to run cannot and --continue was not given, else None."""
        blocked = self.blocked(self.to_run())
        return self.refusal(blocked) if blocked and not self.keep_going else None

    @staticmethod
    def refusal(blocked):
        (first, why), more = next(iter(blocked.items())), len(blocked) - 1
        others = f" (and {more} more task(s))" if more else ""
        return (f"eval:{first} cannot run: {why}{others}; "
                "--continue runs the other tasks, -t picks tasks")

    # -- actions (silent: doit's thread mode captures stdout) ------------
    def prepare(self):
        from doit.exceptions import TaskFailed

        todo = self.to_run()
        blocked = self.blocked(todo)
        if blocked and not self.keep_going:
            return TaskFailed(self.refusal(blocked))
        # Only the endpoints of tasks that will run are checked; a blocked task fails on its own.
        todo = [spec for spec in todo if spec["id"] not in blocked]
        try:
            self.lock.acquire(f"invocation {self.invocation}")
            self.client = container.connect()
            container.check_network(self.client, self.network)
            self.notes += self.remove_orphans()
            self.preflight(todo, in_docker_network=False)
            self.image = image.ensure(self.client, self.specs[0]["base_image"], log=lambda m: None)
            self.preflight(todo, in_docker_network=True)
        except Exception as e:      # lock, daemon, image: each has a one-line message
            return TaskFailed(str(e))
        return None

    def execute(self, spec):
        from doit.exceptions import TaskFailed

        task_dir = Path(spec["task_dir"])
        log = plan.start_log(spec)
        for name in plan.OUTPUTS:
            (task_dir / name).unlink(missing_ok=True)
        write_json_atomic(task_dir / "task.json", harness_task(spec, self.refresh_cache))
        with self.slots, open(log, "wb") as out:
            note = lambda text: (out.write(f"[launcher] {text}\n".encode()), out.flush())
            note(f"invocation {self.invocation}, task {spec['id']}, started {_now()}")
            try:
                why = self.blocker(spec)
                if why:
                    raise RuntimeError(f"cannot run: {why}")
                # A task's env_vars may name where its HF_TOKEN comes from (gated data).
                token = os.environ.get(spec["env_vars"].get("HF_TOKEN", "HF_TOKEN"))
                data = datasets.ensure(benchmarks.resolve(spec["benchmark"]), log=note, hf_token=token)
                options = container.run_options(spec, self.invocation, data)
                note(container.command_line(self.image, options, container.secret_sources(spec)))
                code, oom_killed = container.run(self.client, self.image, options, out, self.containers,
                                                 on_create=lambda c: self.history.update_job(
                                                     spec["job_id"], container_id=c.id),
                                                 secrets=container.secret_values(spec),
                                                 sandboxed=benchmarks.resolve(spec["benchmark"]).runs_model_code)
            except Exception as e:
                note(f"error: {e}")
                return TaskFailed(f"{e} (log: {log})")
            note(f"container exited with code {code} at {_now()}" if code is not None
                 else f"container was removed while it ran, at {_now()}")
            results = task_dir / plan.RESULTS
            if code == 0 and results.is_file():
                return None
            results.unlink(missing_ok=True)
            reason = self._failure_reason(spec, log, code, oom_killed)
            note(f"failed: {reason}")
        return TaskFailed(f"{reason} (log: {log})")

    def _failure_reason(self, spec, log, code, oom_killed):
        if self.containers.stopping.is_set():
            return "interrupted"
        job = self.history.job(spec["job_id"])
        if job and job["status"] == "killed":
            return job["reason"]
        if oom_killed:
            return (f"the container ran out of memory (exit {code}); "
                    "raise --memory in execution.extra_docker_args or lower parallelism")
        if code is None:
            return "the container was removed while it ran (docker rm?)"
        return _harness_error(log) or f"container exited with code {code}"

    def preflight(self, specs, in_docker_network):
        """Check the endpoints reachable from here (before the image build, so a
        typo is found at once), or those whose host is a container name on the
        configured Docker network (from a container on it, once the image exists)."""
        from . import preflight

        if not self.cfg.data["execution"].get("preflight", True):
            return
        send = None     # from this host
        if in_docker_network:
            labels = {container.LABEL_INVOCATION: self.invocation, container.LABEL_OUTPUT_DIR: self.cfg.output_dir}
            send = preflight.from_container(self.client, self.image, self.network,
                                            f"evaltasks-preflight-{self.invocation[:8]}", labels)
        for url, model_id, kind, key_name in preflight.endpoints(specs):
            if preflight.only_inside(url, self.network) == in_docker_network:
                preflight.check(url, model_id, kind, key_name, send=send)

    # -- interrupts ------------------------------------------------------
    def remove_orphans(self):
        """Containers of this output dir left by a launcher that was killed outright
        (we hold the output dir's lock, so no live run owns them); says how many, per invocation."""
        left = {}
        for orphan in container.find(self.client, output_dir=self.cfg.output_dir):
            container.remove(orphan)
            owner = orphan.labels.get(container.LABEL_INVOCATION, "?")
            left[owner] = left.get(owner, 0) + 1
        for owner in left:
            self.history.orphans_removed(owner, by=self.invocation)
        return [f"removed {n} container(s) left by invocation {owner} (its launcher was killed)"
                for owner, n in left.items()]

    def install_signal_handlers(self):
        """Ctrl-C / SIGTERM: remove this run's containers, then stop as usual."""
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum, frame):
            self.history.mark_killed(self.invocation, [s["job_id"] for s in self.specs],
                                     reason=f"interrupted ({signal.Signals(signum).name})")
            stopped = self.containers.stop_all()
            sys.stderr.write(f"\ninterrupted: stopped and removed {stopped} container(s)\n")
            # SystemExit still runs doit's cleanup (reporter, database) but, unlike
            # KeyboardInterrupt, ends the process without a traceback.
            raise SystemExit(130)

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def harness_task(spec, refresh_cache=False):
    """``task.json`` for the harness: the task's settings, no secret values, and
    whether to bypass the response cache (not part of the task's fingerprint:
    how a result is fetched, not what it measures)."""
    keys = ("id", "name", "benchmark", "params", "endpoint")
    return dict({k: spec[k] for k in keys}, refresh_cache=refresh_cache)


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


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
