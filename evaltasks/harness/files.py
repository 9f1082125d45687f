"""Atomic file writes: a reader sees the old file or the whole new one, never half;
and a file's sha256 (data digests, for the launcher and the harness alike).

``durable=False`` skips the fsync: a killed process still leaves the old file or
the whole new one (the kernel holds what was written, and the rename comes after
it); only a power cut could leave it empty. For files that are written again
whenever they are needed (progress.json, the task's inputs).
Not for results.json and samples.jsonl: an empty results.json left by a power cut
would stand as the task's target, up to date, and the fsync costs ~0.2 ms here."""

import hashlib
import itertools
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
def atomic_file(path, mode="w", durable=True):
    """A file to write ``path`` through: it replaces ``path`` only once the block
    completes, and leaves nothing behind if the block fails."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=directory)
    with _removed_on_failure(tmp):
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, _MODE)   # mkstemp makes 0600; readers expect an ordinary file
        os.replace(tmp, path)


@contextmanager
def _removed_on_failure(tmp):
    try:
        yield
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_atomic(path, text, durable=True):
    """``durable=False`` skips the fsync and makes missing folders: for files
    written again whenever needed, whose loss to a power cut costs nothing.
    A killed process still leaves the old file or the whole new one (the kernel
    holds what was written); a power cut may leave it empty."""
    if not durable:
        return _write_replace(path, text.encode("utf-8"))
    with atomic_file(path) as f:
        f.write(text)


# A random part per process in temporary names: processes in different containers
# sharing a folder may have the same pid. A counter, not os.urandom, per file:
# one system call fewer (the response cache wrote one file per reply this way).
_TMP_PREFIX = f".tmp-{os.urandom(6).hex()}-"
_TMP_COUNT = itertools.count()      # next() on it is atomic under the GIL


def _write_replace(path, data):
    folder, name = os.path.split(path)
    tmp = f"{folder}/{_TMP_PREFIX}{next(_TMP_COUNT)}-{name}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(tmp, flags, 0o666)     # the umask applies, as for any file
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(tmp, flags, 0o666)
    with _removed_on_failure(tmp):
        try:
            left = memoryview(data)
            while left:
                left = left[os.write(fd, left):]
        finally:
            os.close(fd)
        os.replace(tmp, path)


def write_json_atomic(path, data, durable=True):
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", durable=durable)


def tree(root, suffixes=None):
    """``(path, stat)`` of every file under ``root``, ``__pycache__`` folders aside,
    in no particular order; ``suffixes``: only the names ending so. os.scandir, not
    pathlib's rglob: a third of the time, and the launcher walks its own code on
    every run (config/remembered.py, executors/bundle.py)."""
    found, stack = [], [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(entry.path)
                elif entry.is_file() and (suffixes is None or entry.name.endswith(suffixes)):
                    found.append((entry.path, entry.stat()))
    return found


def tree_signature(found):
    """Path, size and modification time of each of ``tree``'s ``found``, sorted by
    path, a line each: what the launcher keys its memos of its own code by (any
    edit, checkout or upgrade changes it)."""
    return "\n".join(f"{path}\0{st.st_size}\0{st.st_mtime_ns}" for path, st in sorted(found))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
