"""Run model-written Python in a separate, limited process inside the container.

Each program runs as ``python -I -B`` in a fresh temporary directory, in its own
session (so the whole process group can be killed), with a minimal environment
(the API key is not passed on), stdin at EOF, and resource limits on address
space, CPU time, file size, processes and core dumps. A program passes only when
it exits 0 *after* the bootstrap has run it to the end: the bootstrap then writes
a random token, read from stdin before the program starts, to stdout, so an early
``exit(0)`` in the program cannot count as a pass.

Where the programs run: with ``EVALTASKS_SANDBOX`` set (the launcher's Docker
executor does), in a separate sandbox container (executors/docker/sandbox.py: the same concept at the launcher's layer) with no network, no secrets and
none of our mounts, fed through that scratch folder (``sandbox_client.py``, ``sandbox_runner.py``);
otherwise here, as a child process (``run_local``). The limits above hold in
both: the runner in the sandbox container runs each program with ``run_local``.
Locally they guard against accidents (infinite loops, memory bombs, stray
files) and, where the OS allows a network namespace, keep programs off the
network; they do not keep a determined attacker from this user's files.
"""

import functools
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time

from . import sandbox_client

MEMORY_BYTES = 1 << 30         # RLIMIT_AS: 1 GiB of address space
FILE_BYTES = 16 << 20          # RLIMIT_FSIZE: largest file the program may write
MAX_PROCESSES = 64             # RLIMIT_NPROC (per uid; no effect when running as root)

# More programs at once than CPUs only makes slow-but-correct ones time out.
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
SLOTS = max(1, _CPUS or 1)
_SLOTS = threading.BoundedSemaphore(SLOTS)

_NO_NETWORK = r"""
import ctypes, os
def no_network():
    # A network namespace of its own (nothing but a loopback that is down): as
    # root directly, else inside a user namespace mapping only this user. Where
    # the OS allows neither (e.g. the sandbox container's seccomp profile, which
    # has --network none anyway), the program keeps this process's network:
    # returns why (network_isolation() tells the harness, which says so).
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) == 0:                    # CLONE_NEWNET
        return None
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(0x10000000 | 0x40000000) != 0:       # CLONE_NEWUSER | CLONE_NEWNET
        return "unshare: " + os.strerror(ctypes.get_errno())
    for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", f"{uid} {uid} 1"),
                       ("/proc/self/gid_map", f"{gid} {gid} 1")):
        with open(path, "w") as f:
            f.write(text)
    return None
"""

_BOOTSTRAP = _NO_NETWORK + r"""
import resource, runpy, sys
token = sys.stdin.readline().strip()
null = os.open(os.devnull, os.O_RDONLY)
os.dup2(null, 0)
no_network()
def limit(which, soft, hard=None):
    hard = soft if hard is None else hard
    _, old = resource.getrlimit(which)
    if old != resource.RLIM_INFINITY:
        soft, hard = min(soft, old), min(hard, old)
    try:
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError):
        pass
cpu = int(sys.argv[2])
limit(resource.RLIMIT_AS, int(sys.argv[3]))
limit(resource.RLIMIT_FSIZE, int(sys.argv[4]))
limit(resource.RLIMIT_NPROC, int(sys.argv[5]))
limit(resource.RLIMIT_CPU, cpu, cpu + 1)
limit(resource.RLIMIT_CORE, 0)
try:
    runpy.run_path(sys.argv[1], run_name="__candidate__")
except SystemExit as e:
    sys.stderr.write(f"SystemExit({e.code!r}) before the tests finished\n")
    sys.stderr.flush()
    os._exit(1)
sys.stdout.flush()
os.write(1, ("\n" + token + "\n").encode())
"""


SANDBOX_ENV = "EVALTASKS_SANDBOX"
_PROBE = _NO_NETWORK + "print(no_network() or '')\n"
# Session ids of the programs running now: the sandbox runner ends every other
# process a program left behind (see sandbox_runner.sweep). The lock spans a
# program's start and its entry here, so a sweep never sees it unlisted.
LIVE_SESSIONS = set()
SESSIONS_LOCK = threading.Lock()


def run_python(source, timeout):
    """Run ``source``; return ``{"passed": bool, "result": str}`` where ``result`` is
    "passed", "timed out" or "failed: <reason>"."""
    scratch = os.environ.get(SANDBOX_ENV)
    if scratch:
        with _SLOTS:
            return sandbox_client.client(scratch).run(source, timeout)
    return run_local(source, timeout)


@functools.cache
def network_isolation():
    """None when a program run here gets a network namespace of its own, else
    why not (e.g. "unshare: Operation not permitted"): asked once, of a child
    that tries what the bootstrap does."""
    probe = subprocess.run([sys.executable, "-I", "-B", "-c", _PROBE], capture_output=True, text=True,
                           env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"})
    if probe.returncode != 0:
        return "the network-namespace probe failed: " + _reason(probe.returncode, probe.stderr)
    return probe.stdout.strip() or None


def network_note():
    """What keeps model-written programs off the network, for results.json; a
    note starting "NOT isolated" when nothing does."""
    if os.environ.get(SANDBOX_ENV):
        return "none: programs run in a sandbox container without a network"
    why = network_isolation()
    if why:
        return f"NOT isolated: programs keep this machine's network ({why})"
    return "none: each program runs in a network namespace of its own"


def run_local(source, timeout):
    """``run_python`` in a child process of this one."""
    with _SLOTS, tempfile.TemporaryDirectory(prefix="evaltasks-run-", ignore_cleanup_errors=True) as tmp:
        work = os.path.join(tmp, "work")
        os.mkdir(work)
        program = os.path.join(tmp, "program.py")
        with open(program, "w", encoding="utf-8") as f:
            f.write(source)
        token = secrets.token_hex(16)
        out_path, err_path = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        # Output goes to files, not pipes: a stray grandchild holding a pipe open
        # could otherwise block us after the program itself is gone.
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            with SESSIONS_LOCK:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-B", "-c", _BOOTSTRAP, program, str(math.ceil(timeout) + 1),
                     str(MEMORY_BYTES), str(FILE_BYTES), str(MAX_PROCESSES)],
                    cwd=work, stdin=subprocess.PIPE, stdout=out, stderr=err, start_new_session=True,
                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": work,
                         "TMPDIR": work, "LANG": "C.UTF-8"},
                )
                LIVE_SESSIONS.add(proc.pid)
            try:
                proc.stdin.write((token + "\n").encode())
                proc.stdin.close()
            except OSError:
                pass
            timed_out = not _wait_unreaped(proc.pid, timeout)
            # The leader is dead but not yet reaped (or still running), so its pid,
            # which is the group id, cannot have been reused: killing the group also
            # ends any background processes the program left behind.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
            LIVE_SESSIONS.discard(proc.pid)
        if timed_out:
            return {"passed": False, "result": "timed out"}
        stdout = _tail(out_path)
        if proc.returncode == 0 and stdout.rstrip().endswith(token):
            return {"passed": True, "result": "passed"}
        return {"passed": False, "result": "failed: " + _reason(proc.returncode, _tail(err_path))}


def _wait_unreaped(pid, timeout):
    """Wait until ``pid`` exits without reaping it; False on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.02)


def _tail(path, size=4096):
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - size))
        return f.read().decode("utf-8", "replace")


def _reason(returncode, stderr):
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if lines:
        return lines[-1][:300]
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"
