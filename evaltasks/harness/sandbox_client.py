"""The scratch folder between the harness and its sandbox container: its layout,
shared with the runner at the other end (``sandbox_runner.py``), and the
harness's end, ``client(scratch).run``, which ``sandbox.run_python`` calls.

Model-written code runs as the same user as the runner, so it can write
anything into the scratch folder. The harness therefore trusts nothing found
there: it works through directory descriptors opened once (a directory swapped
for a symlink cannot redirect it), opens no file by a name it did not create
itself, follows no symlink, reads at most ``MAX_RESULT`` bytes and accepts only
a well-formed outcome. A program can still forge the outcomes of its task's
programs (it shares the sandbox with them); what the sandbox guarantees is that nothing it runs reaches secrets, the network or our
files, not an honest score for hostile code.

Its own module, apart from the runner: the harness's ``sandbox.py`` needs this
end, and the runner needs ``sandbox.run_local``, so neither imports the other's importer.
"""

import json
import os
import secrets
import stat
import threading
import time

READY = "ready"
INBOX, CLAIMED, OUTBOX, TMP = "in", "claimed", "out", "tmp"
MAX_RESULT = 64 << 10
MAX_PROGRAM = 16 << 20
START_WAIT = 120.0      # seconds for the sandbox container to come up
GRACE = 30.0            # beyond a program's timeout, before its outcome counts as lost
POLL = 0.005


class SandboxError(Exception):
    """The sandbox is not there or lost a program: the task fails, scores are not zeroed."""


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
