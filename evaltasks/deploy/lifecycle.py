"""The model server of one run, in doit's terms: ``_deploy`` is a setup task of
every evaluation (so a run whose tasks are all up to date starts nothing), its
teardown stops the server.

doit's parallel runner calls every teardown from each worker thread that runs
out of tasks, while other workers may still be evaluating: a worker's teardown
stops the server only once no task that needs it is pending or running; the
main thread's (at the end of the run, after a failure or Ctrl-C) always does."""

import atexit
import threading
from dataclasses import replace

from . import server as server_module
from . import server_identity


class ModelServer:
    def __init__(self, dep, invocation, say=lambda text: None, on_death=None):
        self.dep = dep
        self.invocation = invocation
        self.say = say                  # a line for the user (the reporter's output)
        self.on_death = on_death        # the run stops its tasks' containers
        self.server = None
        self.death = None               # one line, once the server died while in use
        self.ready = False
        self.identity = None            # which llama.cpp serves (results.json: provenance.deployment)
        self._pending = set()           # ids of tasks that will use it and have not ended
        self._lock = threading.Lock()

    # -- the _deploy task ----------------------------------------------------
    def start(self, task_ids, client=None):
        """Start the server and wait for it; raise ServerFailed (one line, then the
        log's last lines) when it exits first or is not ready in time."""
        with self._lock:
            self._pending = set(task_ids)
        dep = self.dep
        if dep.type == "llama_cpp" and dep.in_container and not dep.image:
            from evaltasks.executors.docker import containers as container
            from . import llama_image

            client = client or container.connect()
            dep = replace(dep, image=llama_image.ensure(client, log=self.say))
            self.identity = dict(llama_image.identity() or {}, image=dep.image)
        elif dep.type == "llama_cpp":
            self.identity = server_identity(dep) or {"image": dep.image}
        self.server = server_module.Server(dep, self.invocation, client=client, on_death=self._died)
        atexit.register(self.stop)      # whatever way the launcher ends, the server ends with it
        line = self.server.start()
        self.say(f"model server started ({self.dep.type}, log: {self.dep.log_path}): {line}")
        took = self.server.wait_ready(say=self.say)
        self.ready = True
        self.say(f"model server ready after {took:.0f}s at {self.dep.health_url}")

    def _died(self, why):
        self.death = why
        first = why.splitlines()[0]
        self.say(f"{first}: stopping the tasks that use it (log: {self.dep.log_path})")
        if self.on_death:
            self.on_death(why)

    # -- the tasks -----------------------------------------------------------
    def task_ended(self, task_id):
        with self._lock:
            self._pending.discard(task_id)

    def failure(self):
        """Why a task using the server failed, in one line, or None when the server is fine."""
        if self.death is None:
            return None
        return f"{self.death.splitlines()[0]} (server log: {self.dep.log_path})"

    # -- teardown ------------------------------------------------------------
    def teardown(self):
        with self._lock:
            busy = bool(self._pending)
        if busy and threading.current_thread() is not threading.main_thread():
            return      # a worker out of tasks while others still use the server
        self.stop()

    def stop(self):
        if self.server is not None and not self.server.stopping.is_set():
            self.server.stop()
            self.say(f"model server stopped (log: {self.dep.log_path})")
