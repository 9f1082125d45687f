"""One model server for a run: start it (a process group of its own, or a
container), wait until its health route answers, notice when it dies, stop it
so that nothing is left. Its output goes to ``<output_dir>/deployment/logs/server.log``.

A process server leaves a record (``deployment/process.json``, the process
runtime's format) so that ``evaltasks kill`` and the next run's orphan cleanup
can stop it from another process."""

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from evaltasks.executors.process import children as process
from ..harness.files import write_json_atomic
from . import commands

TAIL_LINES = 12
PROGRESS_EVERY = 10.0     # seconds between "still waiting" lines
RECORD = os.path.join("deployment", process.RECORD)


class ServerFailed(Exception):
    """The first line says what happened; the following lines are the end of the server's log."""


def tail(path, lines=TAIL_LINES):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return []
    return [l for l in text.splitlines() if l.strip() and not l.startswith("[launcher]")][-lines:]


def with_tail(line, path):
    last = tail(path)
    if not last:
        return f"{line} (log: {path}, empty)"
    return "\n".join([line, f"last lines of {path}:"] + [f"  | {l}" for l in last])


def exit_text(code):
    """``code 1``; a signal as the shell shows it (``code 137, SIGKILL``)."""
    if code is not None and code < 0:
        return f"code {128 - code}, {signal.Signals(-code).name}"
    return f"code {code}"


class Server:
    def __init__(self, dep, invocation, client=None, on_death=None):
        self.dep = dep
        self.invocation = invocation
        self.client = client            # docker client, for a server container
        self.on_death = on_death        # called with the exit text when it dies while in use
        self.exit_code = None
        self.exited = threading.Event()
        self.stopping = threading.Event()
        self._proc = self._container = self._record = None
        self._lock = threading.Lock()

    # -- start -------------------------------------------------------------
    def start(self):
        log_path = self.dep.log_path
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        line = commands.describe(self.dep, self.invocation)
        with open(log_path, "wb") as log:
            log.write(f"[launcher] invocation {self.invocation}, model server started {_now()}\n"
                      f"[launcher] {line}\n".encode())
        if self.dep.in_container:
            self._start_container(log_path)
        else:
            self._start_process(log_path)
        return line

    def _start_process(self, log_path):
        argv = commands.server_command(self.dep)
        env = dict(os.environ, **commands.environment(self.dep))
        with open(log_path, "ab") as log:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          env=env, cwd=self.dep.folder, start_new_session=True)
        pid = self._proc.pid
        path = os.path.join(self.dep.output_dir, RECORD)
        stat = process._stat(pid)
        self._record = process.Record(pid=pid, pgid=pid, start=stat["start"] if stat else 0,
                                      invocation=self.invocation, job=f"{self.invocation}.server",
                                      task="deployment", output_dir=self.dep.output_dir,
                                      host=socket.gethostname(), path=path)
        write_json_atomic(path, asdict(self._record))
        threading.Thread(target=self._watch_process, daemon=True, name="model-server").start()

    def _watch_process(self):
        code = self._proc.wait()
        self._ended(code)
        Path(self._record.path).unlink(missing_ok=True)

    def _start_container(self, log_path):
        from evaltasks.executors.docker import containers as container

        options = commands.container_options(self.dep, self.invocation)
        self.client = self.client or container.connect()
        self._container = self.client.containers.run(self.dep.image, detach=True, **options)
        threading.Thread(target=self._watch_container, args=(log_path,), daemon=True, name="model-server").start()

    def _watch_container(self, log_path):
        code = None
        try:
            with open(log_path, "ab") as log:
                for chunk in self._container.logs(stream=True, follow=True):
                    log.write(chunk)
                    log.flush()
            code = self._container.wait().get("StatusCode")
        except Exception:       # removed while we followed it
            pass
        self._ended(code)

    def _ended(self, code):
        self.exit_code = code
        self.exited.set()
        if not self.stopping.is_set():
            with open(self.dep.log_path, "ab") as log:
                log.write(f"[launcher] model server exited ({exit_text(code)}) at {_now()}\n".encode())
            if self.on_death:
                self.on_death(self.death())

    def death(self):
        """Why a task using this server failed: it exited, with the end of its log."""
        return with_tail(f"model server exited ({exit_text(self.exit_code)})", self.dep.log_path)

    # -- ready -------------------------------------------------------------
    def wait_ready(self, say=lambda text: None, timeout=None):
        """Return once the health route answers 200; ServerFailed (and the server
        stopped) when it exits first or ``timeout`` seconds pass."""
        timeout = self.dep.readiness_timeout if timeout is None else timeout
        url = self.dep.health_url
        started = time.monotonic()
        next_note, last = started + PROGRESS_EVERY, "no answer yet"
        while True:
            if self.exited.is_set():
                raise ServerFailed(with_tail(f"model server exited ({exit_text(self.exit_code)}) "
                                             f"before it was ready", self.dep.log_path))
            status, last = _probe(url, last)
            if status == 200:
                return time.monotonic() - started
            now = time.monotonic()
            if now - started >= timeout:
                self.stop()
                raise ServerFailed(with_tail(f"model server not ready after {timeout:g}s "
                                             f"(GET {url}: {last}; execution.endpoint_readiness_timeout)",
                                             self.dep.log_path))
            if now >= next_note:
                say(f"waiting for the model server at {url}: {now - started:.0f}s of {timeout:g}s")
                next_note += PROGRESS_EVERY
            self.exited.wait(0.25)

    # -- stop --------------------------------------------------------------
    def stop(self):
        """Stop it and everything it started; safe to call again, from any thread."""
        with self._lock:
            self.stopping.set()
            if self._proc is None and self._container is None:
                return True     # it never started
            if self._proc is not None:
                process.stop(self._record)
                self._proc.wait()
                Path(self._record.path).unlink(missing_ok=True)
            if self._container is not None:
                from evaltasks.executors.docker import containers as container

                container.remove(self._container)
            self.exited.wait(10)
            running = not self.exited.is_set()
        return not running


def stop_recorded(output_dir, invocation=None):
    """Stop a process server recorded for ``output_dir`` (by ``evaltasks kill``, or
    a run finding one left by a launcher that was killed outright); how many."""
    stopped = 0
    for record in process.find(output_dir, invocation=invocation):
        if record.task == "deployment" and process.stop(record):
            Path(record.path).unlink(missing_ok=True)
            stopped += 1
    return stopped


def _probe(url, last):
    # Imported here: every run imports this module (stop_recorded, before its
    # preflight), and urllib.request (http.client, email, ssl) cost it ~10 ms.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status, f"HTTP {reply.status}"
    except urllib.error.HTTPError as e:
        return e.code, f"HTTP {e.code}"
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return None, str(reason) if str(reason) else last


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
