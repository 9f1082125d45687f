"""runtime: process — each task's harness as a child process of the launcher,
in the harness venv (venv.py) built from the same code and wheels as the image
(process.py runs, finds and stops it). No Docker needed; what that gives up is
in the README ("Without Docker")."""

from evaltasks.data import datasets
from evaltasks.executors.process import children as process
from evaltasks.executors.process import venv
from evaltasks.executors.base import Executor, Handle, Outcome

_PLACEHOLDER_PYTHON = "<harness venv>/bin/python"


class ProcessExecutor(Executor):
    name = "process"
    kind = "process"
    backend = "the process runtime"
    preparing = "output dir lock, harness venv"

    def __init__(self, execution):
        super().__init__(execution)
        self.extra_docker_args = execution.get("extra_docker_args") or ""
        self.processes = process.Processes()
        self.venv = None

    def refuses(self, specs, confirmed_unsafe_code):
        return process.unsafe_code_refusal(specs, confirmed_unsafe_code)

    def prepare(self, run):
        run.remove_leftovers()
        run.preflight(run.todo)
        self.venv = venv.ensure(log=lambda m: None)

    def provenance(self):
        return {"executor": self.name, "venv": self.venv and self.venv.digest}

    def launch(self, spec, invocation, log, on_start):
        data = datasets.data_folder(spec)
        log.write(f"[launcher] {self.describe(spec, invocation, self.venv.python)}\n".encode())
        done = process.launch(spec, invocation, self.venv.python, data, log, self.processes,
                              on_start=lambda record: on_start(record.path),
                              extra_docker_args=self.extra_docker_args)
        return Outcome(done.code, done.reason, done.out_of_memory, done.stopped)

    def ended_note(self, outcome):
        return (f"harness exited with code {outcome.exit_code}" if outcome.exit_code is not None
                else f"harness ended: {outcome.reason}")

    def stop_all(self):
        return self.processes.stop_all()

    def find(self, output_dir, invocation=None, job=None):
        return [Handle("process", r.path, f"pid {r.pid}", "running", r.job, r.invocation)
                for r in process.find(output_dir, invocation=invocation, job=job)]

    def stop(self, handle):
        for record in process.find(handle.id.rsplit("/", 2)[0], job=handle.job):
            if record.path == handle.id:
                process.stop(record)

    def describe(self, spec, invocation, python=_PLACEHOLDER_PYTHON):
        data = datasets.data_folder(spec)
        return process.command_line(python, spec, invocation, data, self.extra_docker_args)
