"""runtime: process — each task's harness as a child process of the launcher,
in the harness venv (venv.py) built from the same bundle as the image
(children.py runs, finds and stops it). No Docker needed; what that gives up is
in the README ("Without Docker")."""

from evaltasks.executors.base import Executor, Handle, Outcome, register, unsafe_code_refusal
from evaltasks.executors.running import Running

_PLACEHOLDER_PYTHON = "<harness venv>/bin/python"


def _children():
    # Imported when a process is started, found or stopped, not with the executor:
    # a run with nothing to do needs none of it (children, venv, the job's mounts:
    # ~4 ms of a 200-task rerun's ~40 ms of launcher CPU).
    from evaltasks.executors.process import children
    return children


class Processes(Running):
    """The harness processes this launcher started and that have not ended
    (``children.launch`` adds and discards them; stopping one imports children.py)."""

    def __init__(self):
        super().__init__(_stop, key=lambda record: record.pid, grace=None)


def _stop(record, grace):
    children = _children()
    children.stop(record, children.GRACE if grace is None else grace)


@register("process")
class ProcessExecutor(Executor):
    kind = "process"
    backend = "the process runtime"
    preparing = "output dir lock, harness venv"

    def __init__(self, execution):
        super().__init__(execution)
        if execution.extra_docker_args:     # JobEnv.check's: refused now, in one line
            from evaltasks.executors.docker import args     # (shlex, ipaddress: ~0.7 ms of every rerun)

            args.parse(execution.extra_docker_args)
        self.processes = Processes()
        self.venv = None

    def refuses(self, specs, confirmed_unsafe_code):
        return unsafe_code_refusal(specs, confirmed_unsafe_code)

    def prepare(self, run):
        from evaltasks.executors.process import venv

        run.remove_leftovers()
        run.preflight(run.todo)
        self.venv = venv.ensure(log=lambda m: None)

    def provenance(self):
        return {"executor": self.name, "venv": self.venv and self.venv.digest}

    def launch(self, spec, invocation, log, on_start):
        from evaltasks.executors.job import JobEnv

        children = _children()
        job = JobEnv.of(spec, self.execution)
        log.write(f"[launcher] {children.command_line(self.venv.python, job)}\n".encode())
        done = children.launch(spec, invocation, self.venv.python, job, log, self.processes,
                               on_start=lambda record: on_start(record.path))
        return Outcome(done.code, done.reason, done.out_of_memory, done.stopped)

    def ended_note(self, outcome):
        return (f"harness exited with code {outcome.exit_code}" if outcome.exit_code is not None
                else f"harness ended: {outcome.reason}")

    def stop_all(self):
        return self.processes.stop_all()

    def find(self, output_dir, invocation=None, job=None):
        return [Handle("process", r.path, f"pid {r.pid}", "running", r.job, r.invocation)
                for r in _children().find(output_dir, invocation=invocation, job=job)]

    def stop(self, handle):
        children = _children()
        for record in children.find(handle.id.rsplit("/", 2)[0], job=handle.job):
            if record.path == handle.id:
                children.stop(record)

    def describe(self, spec, invocation, python=_PLACEHOLDER_PYTHON):
        from evaltasks.executors.job import JobEnv

        return _children().command_line(python, JobEnv.of(spec, self.execution))
