"""runtime: docker (the default) — each task's harness in a container of the
harness image, through the docker SDK (containers.py, args.py, image.py; the
preflight from inside a container, probe.py). Containers carry evaltasks labels,
so another process finds them by job, invocation or output dir."""

from evaltasks.executors.base import Executor, Handle, Outcome, Unavailable, register
from evaltasks.executors.docker import args as docker_args
from evaltasks.executors.docker import containers
from evaltasks.executors.docker import image, probe
from evaltasks.executors.job import JobEnv
from evaltasks.harness import benchmarks


@register("docker")
class DockerExecutor(Executor):
    kind = "container"
    backend = "Docker"
    preparing = "output dir lock, Docker, harness image"

    def __init__(self, execution):
        super().__init__(execution)
        self.extra_docker_args = execution.extra_docker_args
        self.network = docker_args.parse(self.extra_docker_args).get("network_mode")
        self.base_image = image.base_image(execution.base_image)
        self.containers = containers.Containers()
        self.client = None
        self._connecting = None     # containers.Connecting, from prepare() on
        self.image = None
        self._image_ids = {}

    def validate(self, specs):
        for spec in specs:      # the model's endpoint, and any judge's
            for endpoint in [spec.endpoint] + spec.judges:
                docker_args.check_reachable(endpoint["url"], self.network, spec.id)

    def _client(self):
        if self.client is None:
            try:
                self.client = self._connecting.client() if self._connecting else containers.connect()
            except containers.DockerUnavailable as e:
                raise Unavailable(str(e)) from None
        return self.client

    def prepare(self, run):
        run.import_preflight()      # before the SDK's import starts in a thread
        try:
            self._connecting = containers.Connecting()      # asks the daemon at once
        except containers.DockerUnavailable as e:
            raise _without_docker(e) from None
        if containers.user_network(self.network):   # the endpoint checks go through it
            containers.check_network(self._connected(), self.network)
        run.preflight(run.todo, network=self.network)       # while the SDK is imported
        self._connected()
        run.remove_leftovers()
        self.ensure_image()
        labels = {containers.LABEL_INVOCATION: run.invocation, containers.LABEL_OUTPUT_DIR: run.cfg.output_dir}
        send = probe.from_container(self.client, self.image, self.network,
                                    f"evaltasks-preflight-{run.invocation[:8]}", labels)
        run.preflight(run.todo, network=self.network, send=send)

    def _connected(self):
        try:
            return self._client()
        except Unavailable as e:
            raise _without_docker(e) from None

    def provenance(self):
        return {"executor": self.name, "image": self.image, "image_id": self._image_id(), "base_image": self.base_image}

    def _image_id(self):
        # Asked of the daemon once per image, not for every task: a run's image does not change.
        if self.image not in self._image_ids:
            try:
                self._image_ids[self.image] = self._client().images.get(self.image).id
            except Exception:       # provenance only: never a reason to fail the task
                return None
        return self._image_ids[self.image]

    def ensure_image(self):
        """The harness image's tag, built first when missing."""
        self.image = image.ensure(self._client(), self.base_image, log=lambda m: None)
        return self.image

    def job_command(self, spec, invocation):
        """The task's ``docker run`` line for a batch job (execution: slurm): with
        --init, whose init passes the job's SIGTERM on to the harness; ``-e NAME``
        takes each value from the job's environment (``job_environment``), and the
        job script feeds the secrets line to its stdin (``-i``)."""
        tag = self.image or image.image_tag(self.base_image)     # before prepare: for the dry run
        line = containers.command_line(tag, self._options(spec, invocation, JobEnv.of(spec, self.execution)))
        return line.replace("docker run ", "docker run --init ", 1)

    def job_environment(self, spec, invocation):
        """The variables ``job_command``'s -e flags name, with their values (no
        secret: the Slurm executor passes those on separately)."""
        job = JobEnv.of(spec, self.execution)
        job.make_folders()
        return self._options(spec, invocation, job)["environment"]

    def _options(self, spec, invocation, job):
        return containers.run_options(spec, invocation, job, self.extra_docker_args)

    def launch(self, spec, invocation, log, on_start):
        job = JobEnv.of(spec, self.execution)
        options = self._options(spec, invocation, job)
        log.write(f"[launcher] {containers.command_line(self.image, options, job.secret_sources)}\n".encode())
        log.flush()
        job.make_folders()
        # Secrets over the harness's stdin; model-written code in a sandbox container (issue 13).
        code, oom_killed = containers.run(self.client, self.image, options, log, self.containers,
                                         on_create=lambda c: on_start(c.id), secrets=job.secret_values(),
                                         sandboxed=benchmarks.resolve(spec.benchmark).runs_model_code)
        if self.containers.stopping.is_set():
            return Outcome(code, "interrupted", stopped=True)
        if code == 0:
            return Outcome(0)
        if oom_killed:
            return Outcome(code, f"the container ran out of memory (exit {code}); "
                                 "raise --memory in execution.extra_docker_args or lower parallelism",
                           out_of_memory=True)
        if code is None:
            return Outcome(None, "the container was removed while it ran (docker rm?)", stopped=True)
        return Outcome(code, f"container exited with code {code}")

    def ended_note(self, outcome):
        return (f"container exited with code {outcome.exit_code}" if outcome.exit_code is not None
                else "container was removed while it ran")

    def stop_all(self):
        return self.containers.stop_all()

    def stopped_note(self, count):
        return f"stopped and removed {count} container(s)"

    def find(self, output_dir, invocation=None, job=None):
        labels = {"output_dir": output_dir}
        if invocation:
            labels["invocation"] = invocation
        if job:
            labels["job"] = job
        return [Handle("docker", c.id, c.name, c.status, c.labels.get(containers.LABEL_JOB, ""),
                       c.labels.get(containers.LABEL_INVOCATION, ""))
                for c in containers.find(self._client(), **labels)]

    def stop(self, handle):
        import docker.errors

        try:
            containers.remove(self._client().containers.get(handle.id))
        except docker.errors.NotFound:
            pass

    def describe(self, spec, invocation):
        job = JobEnv.of(spec, self.execution)
        return containers.command_line(image.image_tag(self.base_image), self._options(spec, invocation, job),
                                      job.secret_sources)


def _without_docker(e):
    # The one other way to run here: say so where the user looks.
    return Unavailable(f"{e}; or run without Docker: execution.runtime: process")
