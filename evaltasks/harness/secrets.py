"""The task's secrets (the API key, the task's ``env_vars``) reach the harness as
one JSON line on its stdin, which it reads once at start and then closes.

Not the environment and not a file: model-written code running as the same user
can read another process's environment (``/proc/<pid>/environ``) and any file
left on disk, and ``docker inspect`` shows a container's environment to anyone
who may use the daemon. A pipe leaves nothing behind once it is read, and the
values then live only in this process's memory.

Once it holds them, this process makes itself non-dumpable: other processes
of its user (the programs ``sandbox.run_local`` starts, where there is no
sandbox container) can then neither read its memory (/proc/<pid>/mem, ptrace)
nor its /proc files.

The launcher writes the line (``encode``); a harness started with stdin at
end-of-file (or a terminal, for a hand-run) has no secrets.
"""

import json
import os
import sys

MAX_BYTES = 1 << 20


class SecretsError(Exception):
    pass


def encode(values):
    """The line the launcher sends: ``{name: value}`` as JSON, newline-terminated."""
    return (json.dumps(values, ensure_ascii=True) + "\n").encode("ascii")


def read(stream=None):
    """``{name: value}`` from the first line of ``stream`` (stdin by default), which
    is then closed and replaced by /dev/null so nothing started later inherits it."""
    stream = sys.stdin.buffer if stream is None else stream
    try:
        if stream.isatty():
            return {}
        line = stream.readline(MAX_BYTES)
    finally:
        _close(stream)
    if not line.strip():
        return {}
    _not_dumpable()
    try:
        values = json.loads(line)
    except ValueError:
        raise SecretsError("the secrets line on stdin is not JSON") from None
    if not isinstance(values, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                               for k, v in values.items()):
        raise SecretsError("the secrets line on stdin is not an object of strings")
    return values


def _close(stream):
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, fd)
    os.close(null)


def _not_dumpable():
    import ctypes       # here: only a harness given secrets needs it, and it costs every start ~1.5 ms

    PR_SET_DUMPABLE = 4
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass        # not Linux: nothing to do
