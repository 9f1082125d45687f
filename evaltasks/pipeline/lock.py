"""One run per output dir at a time: an exclusive flock on ``<output_dir>/.evaltasks.lock``.

The kernel drops the lock when the process ends, however it ends, so a crashed
run never leaves a stale lock behind."""

import fcntl
import os

LOCK_NAME = ".evaltasks.lock"


class Locked(Exception):
    pass


class OutputDirLock:
    def __init__(self, output_dir):
        self.path = os.path.join(output_dir, LOCK_NAME)
        self._fd = None

    def acquire(self, owner):
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise Locked(f"output dir {os.path.dirname(self.path)} is in use by another run "
                         f"({holder}); wait for it to finish or stop it") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, {owner}\n".encode())
        self._fd = fd

    def release(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
