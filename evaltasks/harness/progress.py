"""Progress reporting: a line in the log now and then, and a small JSON file
(``progress.json``) that the launcher reads for status and ETA."""

import threading
import time

from .files import write_json_atomic

FILE_EVERY = 1.0     # seconds between progress.json updates
LOG_EVERY = 10.0     # seconds between progress log lines


class Progress:
    def __init__(self, path, total, log=print):
        self.path = path
        self.total = total
        self.done = 0
        self.failed = 0
        self.log = log
        self.started = time.time()
        self._lock = threading.Lock()
        self._last_file = 0.0
        self._last_log = self.started
        self._write(time.time())

    def advance(self, failed=False):
        with self._lock:
            self.done += 1
            self.failed += int(failed)
            now = time.time()
            last = self.done == self.total
            if last or now - self._last_file >= FILE_EVERY:
                self._write(now)
            if last or now - self._last_log >= LOG_EVERY:
                self._last_log = now
                self.log(self.line(now))

    def rate(self, now):
        elapsed = now - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self, now):
        rate = self.rate(now)
        eta = (self.total - self.done) / rate if rate > 0 else None
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta_text = f", ETA {eta:.0f}s" if eta is not None and self.done < self.total else ""
        return f"progress {self.done}/{self.total} ({pct:.0f}%), {rate:.2f} samples/s{eta_text}"

    def _write(self, now):
        self._last_file = now
        write_json_atomic(self.path, {
            "done": self.done, "total": self.total, "failed": self.failed,
            "started": self.started, "updated": now, "rate": self.rate(now),
        }, durable=False)
