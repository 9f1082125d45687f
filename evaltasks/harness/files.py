"""Atomic file writes: a reader sees the old file or the whole new one, never half;
and a file's sha256 (data digests, for the launcher and the harness alike)."""

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


@contextmanager
def atomic_file(path, mode="w"):
    """A file to write ``path`` through: it replaces ``path`` only once the block
    completes, and leaves nothing behind if the block fails."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _MODE)   # mkstemp makes 0600; readers expect an ordinary file
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_atomic(path, text):
    with atomic_file(path) as f:
        f.write(text)


def write_json_atomic(path, data):
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
