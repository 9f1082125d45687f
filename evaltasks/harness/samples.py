"""samples.jsonl rows, kept on disk while the task runs.

Rows finish in any order and can hold long responses and reasoning traces:
12,032 of them in memory could take more than the container's 500 MB. Each row
goes to an anonymous temporary file as it is finished (nothing is left behind if
the process is killed) and is read back in index order: by ``write``, line by
line into samples.jsonl, and by the spool itself, a read-only sequence of row
dicts. What the benchmark's ``metrics`` reads is kept in memory as well: each row
without its texts (``scored``), a few hundred bytes.
"""

import json
import mmap
import tempfile
import threading
from collections.abc import Sequence

from .files import atomic_file


# Valid unescaped in JSON, but line splitters (Python's str.splitlines among
# them) would break a row at them.
_BREAKS = "\x85\u2028\u2029"
_LINE_BREAKS = {ord(c): f"\\u{ord(c):04x}" for c in _BREAKS}


# A row's fields that hold the prompt and the reply: most of a row, and read by
# people, not by metrics. ``scored`` keeps a row without them in memory, so that
# metrics never decode the spool's rows back (~8 µs each).
TEXTS = frozenset({"prompt", "request_params", "response", "reasoning", "notes", "extracted", "gold"})

# Text as it is (samples.jsonl is read by people too). A made encoder: json.dumps
# with options makes one per call.
_encode = json.JSONEncoder(ensure_ascii=False).encode


def _one_line(text):
    # Searched for first: translate walks the row a character at a time even when
    # there is nothing to replace, ~120 µs on a 1.4 KB row with any non-ASCII
    # character (a sixth of MMLU-Pro's rows); isascii() is a flag the string holds
    # and each search well under a µs.
    if text.isascii() or not any(c in text for c in _BREAKS):
        return text
    return text.translate(_LINE_BREAKS)


class SampleSpool(Sequence):
    def __init__(self, directory):
        self._file = tempfile.TemporaryFile(dir=directory)
        self._where = {}            # index → (offset, length) in the file
        self._size = 0
        self._order = None
        self._view = None           # the file mapped for reading (_reading)
        self._scored = {}           # index → the row without its TEXTS
        self._lock = threading.Lock()

    def add(self, index, row):
        # A lone surrogate left in a row (the adapter replaces those in the answer)
        # is written as its JSON escape rather than failing the task.
        line = (_one_line(_encode(row)) + "\n").encode("utf-8", "backslashreplace")
        scored = {k: v for k, v in row.items() if k not in TEXTS}
        with self._lock:
            self._scored[index] = scored
            # Counting the size rather than seeking to the end keeps the writes
            # buffered: a seek flushes, a system call per row.
            self._file.write(line)
            self._where[index] = (self._size, len(line))
            self._size += len(line)
            self._order = None

    def scored(self):
        """Every row without its ``TEXTS``, in index order: what a benchmark's
        ``metrics`` and the fallback ``accuracy`` read, from memory."""
        order, _ = self._reading()
        return [self._scored[index] for index in order]

    def __len__(self):
        return len(self._where)

    def __getitem__(self, position):
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        order, view = self._reading()
        offset, length = self._where[order[position]]
        return json.loads(view[offset:offset + length])

    def _reading(self):
        """(the indices in order, the file mapped): rows are read back by slicing
        the mapping, not by a seek and a read each (two system calls a row).
        Mapped again after rows were added."""
        with self._lock:
            if self._order is None:
                self._order = sorted(self._where)
            if self._view is None or len(self._view) != self._size:
                self._unmap()
                self._file.flush()
                self._view = mmap.mmap(self._file.fileno(), self._size, access=mmap.ACCESS_READ) \
                    if self._size else b""
            return self._order, self._view

    def write(self, path):
        """All rows in index order to ``path``, atomically."""
        order, view = self._reading()
        with atomic_file(path, "wb") as out:
            for index in order:
                offset, length = self._where[index]
                out.write(view[offset:offset + length])

    def _unmap(self):
        if isinstance(self._view, mmap.mmap):
            self._view.close()
        self._view = None

    def close(self):
        with self._lock:
            self._unmap()
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
