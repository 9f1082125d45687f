"""The runner at the sandbox container's end of the scratch folder.

The sandbox container (started by the launcher: no network, read-only root,
no secrets, no mount but this folder) runs ``python -m evaltasks.harness.sandbox_runner
--sweep <scratch>``: ``serve`` waits for programs the harness drops into ``in/``, runs
each with ``sandbox.run_local`` (its time and memory limits), and writes the
outcome to ``out/``. The harness's end, and why it trusts nothing it finds in the
folder, is ``sandbox_client.py``.
"""

import json
import os
import queue
import secrets
import signal
import sys
import threading
import time

from . import sandbox
from .sandbox_client import CLAIMED, INBOX, MAX_PROGRAM, OUTBOX, POLL, READY, TMP


def serve(scratch, workers=None, sweeping=False):
    """Run every program dropped into ``in/`` until killed. The worker threads
    are started up front: a program that fills the container's process limit
    must not keep the runner from taking (and failing) the next one.
    ``sweeping`` (``--sweep``) only in the sandbox container: see ``sweep``."""
    for name in (INBOX, CLAIMED, OUTBOX, TMP):
        os.makedirs(os.path.join(scratch, name), exist_ok=True)
    os.environ["TMPDIR"] = os.path.join(scratch, TMP)
    jobs = queue.Queue()
    for _ in range(workers or sandbox.SLOTS):
        threading.Thread(target=_worker, args=(scratch, jobs), daemon=True).start()
    _write(os.path.join(scratch, OUTBOX), READY, {"pid": os.getpid()})
    os.rename(os.path.join(scratch, OUTBOX, READY), os.path.join(scratch, READY))
    while True:
        for entry in os.scandir(os.path.join(scratch, INBOX)):
            if entry.name.startswith(".") or not entry.name.endswith(".json"):
                continue
            claimed = os.path.join(scratch, CLAIMED, entry.name)
            try:
                os.rename(entry.path, claimed)
            except OSError:
                continue
            jobs.put((claimed, sweeping))
        time.sleep(POLL)


def _worker(scratch, jobs):
    while True:
        claimed, sweeping = jobs.get()
        try:
            _run_one(scratch, claimed, sweeping)
        except Exception:       # noqa: BLE001 - the worker must live on; the harness times the program out
            pass


def _run_one(scratch, claimed, sweeping):
    name = os.path.basename(claimed)
    try:
        with open(claimed, encoding="utf-8") as f:
            job = json.loads(f.read(MAX_PROGRAM))
        os.unlink(claimed)
        outcome = sandbox.run_local(job["source"], float(job["timeout"]))
    except Exception as e:     # noqa: BLE001 - the harness must hear of every program
        outcome = {"passed": False, "result": f"failed: the sandbox could not run it: {type(e).__name__}"}
    if sweeping:
        sweep()
    _write(os.path.join(scratch, OUTBOX), name, outcome)


def sweep():
    """Kill every process of this user in this container that neither is the
    runner nor belongs to a program still running: a program's ``setsid()``
    children would otherwise outlive it (and a fork bomb fill ``--pids-limit``).

    Only ever inside the sandbox container (its own PID namespace, a user that
    is not root): anywhere else this would kill the machine's processes. So it
    does nothing as root, and touches only processes of its own user."""
    if os.getuid() == 0:
        return
    with sandbox.SESSIONS_LOCK:
        keep = {os.getsid(0)} | sandbox.LIVE_SESSIONS
        for _ in range(50):
            strays = [pid for pid, sid, uid in _processes()
                      if sid not in keep and uid == os.getuid() and pid not in (1, os.getpid())]
            if not strays:
                return
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def _processes():
    """(pid, session id, real uid) of each live process this one can see."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    text = f.read()
                uid = os.stat(f"/proc/{name}").st_uid
            except OSError:
                continue
            fields = text[text.rindex(")") + 2:].split()
            if fields[0] != "Z":
                yield int(name), int(fields[3]), uid


def _write(folder, name, data):
    tmp = os.path.join(folder, f".tmp-{secrets.token_hex(8)}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.rename(tmp, os.path.join(folder, name))


if __name__ == "__main__":
    serve(sys.argv[-1], sweeping=sys.argv[1:] == ["--sweep", sys.argv[-1]])
