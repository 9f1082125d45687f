"""Live progress of running tasks, read from each task's ``progress.json``.

On a terminal: one line per running task, redrawn in place below the log lines.
Elsewhere (CI, a pipe): a plain progress line per task every ``PLAIN_EVERY`` seconds.
"""

import json
import threading

TTY_EVERY = 1.0
PLAIN_EVERY = 30.0


def read_progress(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def describe(progress):
    """``120/200 (60%), 4.1/s, ETA 20s`` from a progress.json dict."""
    if not progress:
        return "starting"
    done, total = progress.get("done", 0), progress.get("total", 0)
    rate = progress.get("rate") or 0.0
    pct = 100.0 * done / total if total else 100.0
    text = f"{done}/{total} ({pct:.0f}%), {rate:.1f}/s"
    if rate > 0 and done < total:
        text += f", ETA {_duration((total - done) / rate)}"
    if progress.get("failed"):
        text += f", {progress['failed']} failed"
    return text


def _duration(seconds):
    seconds = int(seconds)
    if seconds < 90:
        return f"{seconds}s"
    if seconds < 5400:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class LiveProgress:
    """Owns the output stream: log lines go through ``write``; a ticker thread
    shows the progress of the tasks in ``running`` (name → progress.json path)."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.running = {}
        self._lock = threading.Lock()
        self._shown = 0
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._tick, name="evaltasks-progress", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        with self._lock:
            self._clear()

    def write(self, text):
        with self._lock:
            self._clear()
            self.stream.write(text)
            self._draw()
            self.stream.flush()

    def _tick(self):
        every = TTY_EVERY if self.tty else PLAIN_EVERY
        while not self._stop.wait(every):
            with self._lock:
                if self.tty:
                    self._clear()
                    self._draw()
                else:
                    for name, path in list(self.running.items()):
                        self.stream.write(f"progress   {name}  {describe(read_progress(path))}\n")
                self.stream.flush()

    def _draw(self):
        if not self.tty:
            return
        lines = [f"  … {name}  {describe(read_progress(path))}" for name, path in list(self.running.items())]
        for line in lines:
            self.stream.write(line + "\n")
        self._shown = len(lines)

    def _clear(self):
        if self.tty and self._shown:
            self.stream.write(f"\x1b[{self._shown}F\x1b[J")    # up N lines, clear to the end
        self._shown = 0
