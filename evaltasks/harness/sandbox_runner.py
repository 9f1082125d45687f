"""Both ends of the scratch folder between the harness and its sandbox container.

The sandbox container (started by the launcher: no network, read-only root,
no secrets, no mount but this folder) runs ``python -m evaltasks.harness.sandbox_runner
--sweep <scratch>``: ``serve`` waits for programs the harness drops into ``in/``, runs
each with ``sandbox.run_local`` (its time and memory limits), and writes the
outcome to ``out/``. ``client(scratch).run`` is the harness's end.

Model-written code runs as the same user as the runner, so it can write
anything into the scratch folder. The harness therefore trusts nothing found
there: it works through directory descriptors opened once (a directory swapped
for a symlink cannot redirect it), opens no file by a name it did not create
itself, follows no symlink, reads at most ``MAX_RESULT`` bytes and accepts only
a well-formed outcome. A program can still forge the outcomes of its task's
programs (it shares the sandbox with them); what the sandbox guarantees is that nothing it runs reaches secrets, the network or our
files, not an honest score for hostile code.
"""

import json
import os
import queue
import secrets
import signal
import stat
import sys
import threading
import time

from . import sandbox

READY = "ready"
INBOX, CLAIMED, OUTBOX, TMP = "in", "claimed", "out", "tmp"
MAX_RESULT = 64 << 10
MAX_PROGRAM = 16 << 20
START_WAIT = 120.0      # seconds for the sandbox container to come up
GRACE = 30.0            # beyond a program's timeout, before its outcome counts as lost
POLL = 0.005


class SandboxError(Exception):
    """The sandbox is not there or lost a program: the task fails, scores are not zeroed."""


# ---- the runner, inside the sandbox container --------------------------------

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


# ---- the harness's end ----------------------------------------------------------

_CLIENTS = {}
_CLIENTS_LOCK = threading.Lock()


def client(scratch):
    with _CLIENTS_LOCK:
        if scratch not in _CLIENTS:
            _CLIENTS[scratch] = Client(scratch)
        return _CLIENTS[scratch]


class Client:
    def __init__(self, scratch):
        self.scratch = scratch
        self._dirs = None
        self._lock = threading.Lock()

    def run(self, source, timeout):
        inbox, outbox = self._open()
        name = f"{secrets.token_hex(12)}.json"
        tmp = f".tmp-{name}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=inbox)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"source": source, "timeout": timeout}, f)
            os.rename(tmp, name, src_dir_fd=inbox, dst_dir_fd=inbox)
        except OSError as e:
            # A program removed the folder, or filled the scratch tmpfs.
            raise SandboxError(f"cannot hand the sandbox a program: {e.strerror}") from None
        deadline = time.monotonic() + timeout + GRACE
        while time.monotonic() < deadline:
            outcome = _read_outcome(outbox, name)
            if outcome is not None:
                return outcome
            time.sleep(POLL)
        raise SandboxError(f"the sandbox gave no outcome for a program within {timeout + GRACE:g} s "
                           f"(its container stopped, or a program broke it)")

    def _open(self):
        """Descriptors of in/ and out/, once the runner says it is ready."""
        with self._lock:
            if self._dirs is None:
                deadline = time.monotonic() + START_WAIT
                while not os.path.isfile(os.path.join(self.scratch, READY)):
                    if time.monotonic() > deadline:
                        raise SandboxError(f"no sandbox answers in {self.scratch} after {START_WAIT:g} s "
                                           "(its container did not start)")
                    time.sleep(0.05)
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                try:
                    root = os.open(self.scratch, flags)
                    try:
                        self._dirs = (os.open(INBOX, flags, dir_fd=root), os.open(OUTBOX, flags, dir_fd=root))
                    finally:
                        os.close(root)
                except OSError as e:
                    raise SandboxError(f"the sandbox's scratch folder {self.scratch} is broken: {e.strerror}") from None
            return self._dirs


def _read_outcome(outbox, name):
    """The outcome in out/<name>, checked, or None while there is none yet."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=outbox)
    except FileNotFoundError:
        return None
    except OSError:
        return _broken("not a plain file")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return _broken("not a plain file")
        data = os.read(fd, MAX_RESULT + 1)
    finally:
        os.close(fd)
        try:
            os.unlink(name, dir_fd=outbox)
        except OSError:
            pass
    try:
        outcome = json.loads(data) if len(data) <= MAX_RESULT else None
    except ValueError:
        outcome = None
    if not (isinstance(outcome, dict) and isinstance(outcome.get("passed"), bool)
            and isinstance(outcome.get("result"), str)):
        return _broken("unreadable")
    result = outcome["result"][:400]
    passed = outcome["passed"] and result == "passed"
    if not passed and not (result == "timed out" or result.startswith("failed: ")):
        result = "failed: " + result
    return {"passed": passed, "result": result}


def _broken(why):
    return {"passed": False, "result": f"failed: its outcome in the sandbox was {why}"}


if __name__ == "__main__":
    serve(sys.argv[-1], sweeping=sys.argv[1:] == ["--sweep", sys.argv[-1]])
