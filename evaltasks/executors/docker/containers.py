"""Run one task's harness container with the docker SDK and stream its output
to the task's log: the task's JobEnv (executors/job.py) as mounts and ``-e``
variables at the container's paths, plus ``execution.extra_docker_args``.
Containers are labelled so a run (or a later one) can find and stop them."""

import os
import re
import socket
import threading
from pathlib import Path

from evaltasks.executors.docker import args as docker_args
from evaltasks.executors.docker import sandbox as sandbox_container
from evaltasks.executors.running import Running
from evaltasks.harness import secrets as secret_pipe

LABEL_INVOCATION = "evaltasks.invocation"
LABEL_JOB = "evaltasks.job"
LABEL_TASK = "evaltasks.task"
LABEL_OUTPUT_DIR = "evaltasks.output_dir"
TASK_MOUNT = "/out"
DATA_MOUNT = "/data"
CACHE_MOUNT = "/cache"
STOP_GRACE = 5     # seconds a stopped harness has to store the replies in flight


_WHY_NO_DAEMON = [("No such file or directory", "no socket there"), ("Connection refused", "connection refused"),
                  ("timed out", "timed out")]


class DockerUnavailable(Exception):
    pass


def connect():
    """A docker client whose daemon answers, or DockerUnavailable with one clear line."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
        return client
    except docker.errors.DockerException as e:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        if "Permission denied" in str(e):
            raise DockerUnavailable(f"no permission to use the Docker daemon at {host}; add your user to the "
                                    "docker group (`sudo usermod -aG docker $USER`, then log in again)") from None
        reason = next((why for text, why in _WHY_NO_DAEMON if text in str(e)), str(e).split("(", 1)[0].strip())
        raise DockerUnavailable(f"no Docker daemon answers at {host} ({reason.rstrip(':')}); "
                                "start it (e.g. `sudo systemctl start docker`) or set DOCKER_HOST") from None


class Connecting:
    """The docker client, connected in a thread of its own once the daemon is
    known to answer: importing the SDK (requests, urllib3, charset_normalizer)
    takes ~0.1 s, which a run then spends beside its preflight's request instead
    of before it. Whether the daemon answers is asked first, at once, with one
    ``GET /_ping`` on its unix socket, so the preflight still sends nothing when
    there is no daemon. Any other DOCKER_HOST (tcp, ssh, TLS), or no answer to
    the ping, takes ``connect``'s own way, which says what is wrong."""

    def __init__(self):
        self._client, self._error, self._thread = None, None, None
        if not _pings():
            self._client = connect()
            return
        self._thread = threading.Thread(target=self._connect, name="docker-connect", daemon=True)
        self._thread.start()

    def _connect(self):
        try:
            self._client = connect()
        except BaseException as e:      # handed to whoever asks for the client
            self._error = e

    def client(self):
        """The connected client; DockerUnavailable as ``connect`` raises it."""
        if self._thread:
            self._thread.join()
        if self._error:
            raise self._error
        return self._client


PING_TIMEOUT = 5    # seconds; a daemon this slow to answer gets the SDK's own check


def _pings(environ=os.environ):
    """True when the Docker daemon at a unix-socket DOCKER_HOST answers 200 to ``/_ping``."""
    host = environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not host.startswith("unix://") or environ.get("DOCKER_TLS_VERIFY"):
        return False
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(PING_TIMEOUT)
            sock.connect(host[len("unix://"):])
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            head = sock.recv(32)
    except OSError:
        return False
    return head.startswith((b"HTTP/1.0 200 ", b"HTTP/1.1 200 "))


def user_network(network_mode):
    """True when ``--network`` names a user-defined network (not a built-in one, nor container:<name>)."""
    return bool(network_mode) and network_mode not in ("host", "bridge", "none", "default") and ":" not in network_mode


def check_network(client, network_mode):
    """Raise DockerUnavailable naming the network when ``--network`` names a
    user-defined network the daemon does not have."""
    import docker.errors

    if not user_network(network_mode):
        return
    try:
        client.networks.get(network_mode)
    except docker.errors.NotFound:
        raise DockerUnavailable(f"Docker network {network_mode!r} (execution.extra_docker_args) does not exist; "
                                f"create it with `docker network create {network_mode}`") from None


def name(task_id, invocation):
    return f"evaltasks-{re.sub(r'[^A-Za-z0-9_.-]', '-', task_id)}-{invocation[:8]}"


class Containers(Running):
    """The containers this process started and has not yet removed."""

    def __init__(self):
        super().__init__(remove, key=lambda c: c.id, grace=STOP_GRACE)


def remove(container, grace=STOP_GRACE):
    """Stop, then remove; a container already gone (or going) is fine.

    Stopped with SIGTERM first: the harness then starts no new request and
    caches the replies in flight, so a rerun does not ask for them again. What
    is still running after ``grace`` seconds is killed."""
    import docker.errors

    try:
        container.stop(timeout=grace)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError:
        pass        # being removed already, or the daemon refused: the forced removal decides
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as e:
        if "already in progress" not in str(e):
            raise
    if container.labels.get(sandbox_container.LABEL_ROLE) == "sandbox":
        sandbox_container.remove_volume(container)


def run_options(spec, invocation, job, extra_docker_args=""):
    """SDK keyword arguments for the task's container, from its JobEnv ``job``
    (no secret: those go over its stdin, see ``run``)."""
    options = docker_args.parse(extra_docker_args)
    options.pop("environment", None)        # the -e flags: the job's own variables
    volumes = options.pop("volumes", {})
    # The data folder at its own name, which the harness looks up (several benchmarks may share one).
    inside = {"task": TASK_MOUNT, "data": f"{DATA_MOUNT}/{Path(job.data_folder).name}", "cache": CACHE_MOUNT}
    for mount in job.mounts():
        volumes[mount.host] = {"bind": inside[mount.role], "mode": "rw" if mount.writable else "ro"}
    environment = job.environment(data_dir=DATA_MOUNT, response_cache=CACHE_MOUNT)
    return dict(
        command=[TASK_MOUNT], stdin_open=True,
        name=name(spec.id, invocation),
        labels={LABEL_INVOCATION: invocation, LABEL_JOB: spec.job_id, LABEL_TASK: spec.id,
                LABEL_OUTPUT_DIR: spec.output_dir},
        user=f"{os.getuid()}:{os.getgid()}",
        environment=environment,
        volumes=volumes,
        **options,
    )


def command_line(image, options, secrets=None):
    """The equivalent `docker run` line; ``secrets``, the names the harness gets
    on stdin, are shown only by name."""
    words = ["docker", "run", "--rm", "--name", options["name"], "--user", options["user"]]
    for key, value in options["labels"].items():
        words += ["--label", f"{key}={value}"]
    words.append("-i")
    rest = {k: v for k, v in options.items() if k not in ("name", "user", "labels", "command", "stdin_open")}
    words += docker_args.describe(rest)
    line = " ".join(words + [image] + options["command"])
    if not secrets:
        return line
    return f"{line}  # stdin: one JSON line with " + ", ".join(f"{k}=${v}" for k, v in secrets.items())


def find(client, **labels):
    """Containers (running or not) carrying all the given evaltasks labels."""
    import docker.errors

    filters = [f"evaltasks.{key}={value}" for key, value in labels.items()]
    found = []
    # Not containers.list(): it inspects each listed container and raises when
    # one is removed in between (a finished or killed task removes its own).
    for summary in client.api.containers(all=True, filters={"label": filters}):
        try:
            found.append(client.containers.get(summary["Id"]))
        except docker.errors.NotFound:
            pass
    return found


def start_with_secrets(box, values):
    """Start ``box`` (created with ``stdin_open``) and write ``values`` to its stdin
    as the one line the harness reads first (``harness/secrets.py``)."""
    # Attached before the start, so the harness's first read finds the line.
    stdin = box.attach_socket(params={"stdin": 1, "stream": 1})
    try:
        box.start()
        stdin._sock.sendall(secret_pipe.encode(values))
    finally:
        stdin.close()


def run(client, image, options, log_file, containers, on_create=None, secrets=None, sandboxed=False):
    """Start the container, hand it ``secrets`` over its stdin, copy its output to
    ``log_file`` until it exits, remove it; return its exit code (None when it was
    removed from outside while it ran, e.g. by ``evaltasks kill``) and whether the
    kernel killed it for lack of memory (asked only when it failed: a task that
    exited 0 succeeded whatever it was). ``sandboxed``: the task runs model-written
    code, in a sandbox container (``sandbox.py``) started first and removed
    last. The job's folders exist already (``JobEnv.make_folders``)."""
    if not sandboxed:
        return _run(client, image, options, log_file, containers, on_create, secrets or {})
    box = sandbox_container.start(client, image, f"{options['name']}-sandbox", options["labels"])
    containers.add(box.container)
    try:
        log_file.write(f"[launcher] {sandbox_container.describe(box)}\n".encode())
        log_file.flush()
        extra = sandbox_container.harness_options(box)
        options = dict(options, volumes={**options["volumes"], **extra["volumes"]},
                       environment={**options["environment"], **extra["environment"]})
        return _run(client, image, options, log_file, containers, on_create, secrets or {})
    finally:
        containers.discard(box.container)
        sandbox_container.remove(box)


def _run(client, image, options, log_file, containers, on_create, secrets):
    import docker.errors

    container = client.containers.create(image, detach=True, **options)
    containers.add(container)
    if on_create:
        on_create(container)
    try:
        if containers.stopping.is_set():
            return 130, False
        start_with_secrets(container, secrets)
        for chunk in container.logs(stream=True, follow=True):
            log_file.write(chunk)
            log_file.flush()
        code = container.wait().get("StatusCode", 1)
        if code == 0:
            return 0, False
        container.reload()
        return code, bool(container.attrs["State"].get("OOMKilled"))
    except Exception as e:
        if containers.stopping.is_set():
            return 130, False
        if isinstance(e, docker.errors.NotFound):
            return None, False
        if isinstance(e, docker.errors.APIError) and "OOM-killed" in str(e):
            return 137, True        # too little memory for even the container's init
        raise
    finally:
        remove(container)
        containers.discard(container)
