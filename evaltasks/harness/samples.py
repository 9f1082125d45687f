"""samples.jsonl rows, kept on disk while the task runs.

Rows finish in any order and can hold long responses and reasoning traces:
12,032 of them in memory could take more than the container's 500 MB. Each row
goes to an anonymous temporary file as it is finished (nothing is left behind if
the process is killed) and is read back in index order: by ``write``, line by
line into samples.jsonl, and by the spool itself, a read-only sequence of row
dicts that the benchmark's ``metrics`` reads like a list.
"""

import json
import tempfile
import threading
from collections.abc import Sequence

from .files import atomic_file


# Valid unescaped in JSON, but line splitters (Python's str.splitlines among
# them) would break a row at them.
_LINE_BREAKS = {ord(c): f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"}


def _one_line(text):
    # isascii() is a flag the string holds: most rows skip the translate, which
    # costs ~20 µs on a 3 KB row even when there is nothing to replace.
    return text if text.isascii() else text.translate(_LINE_BREAKS)


class SampleSpool(Sequence):
    def __init__(self, directory):
        self._file = tempfile.TemporaryFile(dir=directory)
        self._where = {}            # index → (offset, length) in the file
        self._size = 0
        self._order = None
        self._lock = threading.Lock()

    def add(self, index, row):
        # A lone surrogate left in a row (the adapter replaces those in the answer)
        # is written as its JSON escape rather than failing the task.
        line = (_one_line(json.dumps(row, ensure_ascii=False)) + "\n").encode("utf-8", "backslashreplace")
        with self._lock:
            # Counting the size rather than seeking to the end keeps the writes
            # buffered: a seek flushes, a system call per row.
            self._file.write(line)
            self._where[index] = (self._size, len(line))
            self._size += len(line)
            self._order = None

    def __len__(self):
        return len(self._where)

    def __getitem__(self, position):
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        return json.loads(self._line(self._sorted()[position]))

    def _sorted(self):
        with self._lock:
            if self._order is None:
                self._order = sorted(self._where)
            return self._order

    def _line(self, index):
        offset, length = self._where[index]
        with self._lock:
            self._file.seek(offset)
            line = self._file.read(length)
            self._file.seek(self._size)         # where the next row goes
            return line

    def write(self, path):
        """All rows in index order to ``path``, atomically."""
        with atomic_file(path, "wb") as out:
            for index in self._sorted():
                out.write(self._line(index))

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
