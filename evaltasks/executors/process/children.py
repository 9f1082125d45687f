"""runtime: process — one task's harness as a plain child process, in the harness
venv (``venv.py``), with its JobEnv (executors/job.py) as its environment, at
the host's paths where a container would have mounts.

The harness runs in a session (and process group) of its own, so a terminal's
Ctrl-C reaches only the launcher, which stops it, and a stop can end everything
it started. A record in the task directory (``process.json``: pid, process
group, start time, invocation, job, host) lets ``status``, ``kill`` and orphan
cleanup find it from another process; the start time (from /proc) tells a live
harness from an unrelated process that got its pid later."""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from evaltasks.executors.job import DATA_ENV, RESPONSE_CACHE_ENV
from evaltasks.harness import secrets as secret_pipe
from evaltasks.harness.files import write_json_atomic

RECORD = "process.json"
GRACE = 10.0        # seconds between SIGTERM and SIGKILL
_KEPT = ("PATH", "LANG", "HOME")
_SHOWN = (DATA_ENV, RESPONSE_CACHE_ENV)


@dataclass(frozen=True)
class Record:
    pid: int
    pgid: int
    start: int          # clock ticks after boot (/proc/<pid>/stat field 22)
    invocation: str
    job: str
    task: str
    output_dir: str
    host: str
    path: str           # of this record's file


@dataclass(frozen=True)
class Outcome:
    code: int = None            # the exit code; None when a signal ended it
    signal: str = None          # e.g. "SIGKILL"
    out_of_memory: bool = False
    stopped: bool = False       # by stop(), from this launcher or another process
    reason: str = None          # one line when it did not exit 0


def environment(job, environ=None):
    """What the harness process gets: PATH, LANG and HOME from here, then its
    JobEnv's variables (the user's, where its data and cache are) at the host's
    paths. Not the API key nor the task's env_vars: those go over its stdin
    (``JobEnv.secret_values``), as to a container."""
    environ = os.environ if environ is None else environ
    env = {k: environ[k] for k in _KEPT if k in environ}
    env.setdefault("LANG", "C.UTF-8")
    env.update(job.environment())
    return env


def command(python, task_dir):
    # -I: nothing from this environment (PYTHONPATH, the user's site, the working
    # directory) can shadow the venv's copy of the harness. -B: the venv stays as built.
    return [python, "-I", "-u", "-B", "-m", "evaltasks.harness", str(task_dir)]


def command_line(python, job):
    """The equivalent shell line. Only the data and cache folders are shown with
    their values: the key and env_vars by the variable they come from, the rest
    (``-e`` of extra_docker_args) by name, as the docker line shows them."""
    env = environment(job, environ={})
    words = [f"{k}={shlex.quote(v)}" if k in _SHOWN else f"{k}=${k}"
             for k, v in env.items() if k not in _KEPT]
    line = f"cd {shlex.quote(job.task_dir)} && " + " ".join(words + [shlex.join(command(python, job.task_dir))])
    sources = job.secret_sources
    if not sources:
        return line
    return f"{line}  # stdin: one JSON line with " + ", ".join(f"{k}=${v}" for k, v in sources.items())


def launch(spec, invocation, python, job, log_file, processes, on_start=None, environ=None):
    """Run the harness of task ``spec`` (its JobEnv ``job``) in its task folder,
    output to ``log_file`` (an open binary file), until it ends; its Outcome."""
    env = environment(job, environ)
    job.make_folders()
    if processes.stopping.is_set():
        return Outcome(code=130, stopped=True, reason="interrupted")
    log_file.flush()
    proc = subprocess.Popen(command(python, spec.task_dir), cwd=spec.task_dir, env=env,
                            stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        proc.stdin.write(secret_pipe.encode(job.secret_values(environ)))
        proc.stdin.close()
    except OSError:
        pass        # it already ended: its outcome says why
    path = os.path.join(spec.task_dir, RECORD)
    record = Record(pid=proc.pid, pgid=proc.pid, start=_stat(proc.pid)["start"], invocation=invocation,
                    job=spec.job_id, task=spec.id, output_dir=spec.output_dir,
                    host=socket.gethostname(), path=path)
    try:
        # No fsync (files.py): a power cut ends the harness with the record.
        write_json_atomic(path, asdict(record), durable=False)
        processes.add(record)
        if on_start:
            on_start(record)
        if processes.stopping.is_set():
            stop(record)
        # Wait without reaping: until it is reaped, its pid (the group's id) cannot
        # be reused, so the group can still be swept of anything it left behind.
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        stopped = _stop_requested(path)
        _signal({record.pgid}, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.returncode is None:     # the launcher itself is being torn down
            _signal({record.pgid}, signal.SIGKILL)
            proc.wait()
        processes.discard(record)
        Path(path).unlink(missing_ok=True)
    return _outcome(proc.returncode, stopped, proc.pid)


def _outcome(returncode, stopped, pid):
    if returncode >= 0:
        reason = None if returncode == 0 else f"the harness exited with code {returncode}"
        return Outcome(code=returncode, stopped=stopped, reason="stopped" if stopped else reason)
    name = signal.Signals(-returncode).name
    if stopped:
        return Outcome(signal=name, stopped=True, reason="stopped")
    if name != "SIGKILL":
        return Outcome(signal=name, reason=f"killed by {name}")
    oom = _oom_killed(pid)
    if oom:
        return Outcome(signal=name, out_of_memory=True, reason="out of memory: the kernel killed the harness")
    return Outcome(signal=name, reason="killed by SIGKILL" + (" (out of memory?)" if oom is None else ""))


def _oom_killed(pid):
    """Whether the kernel log says the OOM killer ended ``pid``; None when it cannot be read."""
    try:
        done = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return re.search(rf"(Killed process|oom-kill:.*pid=){pid}\b", done.stdout) is not None


def find(output_dir, invocation=None, job=None):
    """Records of harness processes still running for ``output_dir`` (the history
    knows each job's), optionally only those of one invocation or job."""
    found = []
    for path in Path(output_dir).glob(f"*/{RECORD}"):
        try:
            record = Record(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if invocation not in (None, record.invocation) or job not in (None, record.job):
            continue
        if alive(record):
            found.append(record)
    return found


def alive(record):
    """Whether the record's harness, or anything left in its process group, still runs here."""
    if record.host != socket.gethostname():
        return False
    stat = _stat(record.pid)
    if stat:
        # The kernel does not reuse a pid while a process group carries it, so a
        # different process at that pid means our group is gone.
        return stat["start"] == record.start and stat["state"] != "Z"
    return bool(_members({record.pgid}))


def stop(record, grace=GRACE):
    """SIGTERM the harness's group and every process group its descendants lead
    (HumanEval's programs run in sessions of their own), SIGKILL what is left
    after ``grace`` seconds. False when it was no longer running."""
    if not alive(record):
        return False
    _mark_stop(record)
    groups = {record.pgid} | _descendant_groups(record.pgid)
    _signal(groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _members(groups) and time.monotonic() < deadline:
        groups |= _descendant_groups(record.pgid)
        time.sleep(0.1)
    groups |= _descendant_groups(record.pgid)
    _signal(groups, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _members(groups) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def _mark_stop(record):
    """Tell the launcher waiting for this harness that its end was asked for."""
    try:
        data = json.loads(Path(record.path).read_text())
        data["stop_requested"] = time.time()
        write_json_atomic(record.path, data, durable=False)
    except (OSError, ValueError):
        pass


def _stop_requested(path):
    try:
        return "stop_requested" in json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False


def _signal(groups, signum):
    for pgid in groups:
        try:
            os.killpg(pgid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def _stat(pid):
    """State, parent, process group and start time of ``pid``, or None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after it.
    fields = text[text.rindex(")") + 2:].split()
    return {"pid": pid, "state": fields[0], "ppid": int(fields[1]), "pgid": int(fields[2]),
            "start": int(fields[19])}


def _processes():
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _stat(int(name))
            if stat and stat["state"] != "Z":
                found.append(stat)
    return found


def _members(groups):
    return [p["pid"] for p in _processes() if p["pgid"] in groups]


def _descendant_groups(pgid):
    """Process groups of every descendant of the members of ``pgid``."""
    procs = _processes()
    children = {}
    for p in procs:
        children.setdefault(p["ppid"], []).append(p)
    todo = [p for p in procs if p["pgid"] == pgid]
    groups = set()
    while todo:
        p = todo.pop()
        groups.add(p["pgid"])
        todo.extend(children.get(p["pid"], ()))
    return groups
