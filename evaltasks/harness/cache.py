"""Content-addressed response cache, kept as append-only logs: each harness process
that stores a reply appends it, the moment it arrives, as one line
``<sha256 key>\\t<reply as JSON>\\n`` to a log file of its own,
``$EVALTASKS_RESPONSE_CACHE/replies-<time ns>-<random>.log``.

Why logs and not a file per reply (the layout until 2026-12-06): creating a file
per reply was most of the harness's CPU per request — a failed open, a create, a
write and a rename, each a system call that hands the GIL to one of the 128
workers, and an inode allocation that on some file systems (ext4 without a
journal skips recently deleted inodes, one read each) cost 0.3–0.6 ms a reply
after a large deletion. One ``write`` to an open file costs a few µs
(bench/RESULTS.md, issue 22).

What the file per reply gave, the logs keep:
- a killed run keeps every finished reply: each is one ``write`` to an
  ``O_APPEND`` file, in the kernel's hands once it returns; a line cut short (a
  full disk; no trailing newline, or not JSON) is a miss, read as such;
- several processes (the containers of one output dir, output dirs sharing a
  ``caching_dir``) share one cache: each appends to its own log, so their lines
  never interleave; the replies another process stores while this one runs are
  not seen by it (each process reads the cache once, at its start);
- a later reply replaces an earlier one (``--force``; an entry that was not
  JSON): logs are read in the order of their names (the time they were started),
  each from top to bottom, and the last line for a key wins.

At start the logs are scanned for keys only (the line's first 64 bytes, no JSON
parsed): the index holds each key's log, offset and length, and a hit reads that
one line back. Entries in the older layouts (``ab/<key>.json``, and before
2026-12-05 ``ab/cd/<key>.json``) are still read, so an upgrade re-sends nothing;
a cache with no such folders is not searched for them.

The key covers everything that shapes the reply: the model, the exact payload
(temperature, max_tokens, adapter edits…) and which copy of a repeated sample
this is, so that n samples of one prompt at temperature > 0 stay n replies.
"""

import hashlib
import json
import mmap
import os
import threading
import time

ENV = "EVALTASKS_RESPONSE_CACHE"
LOG_PREFIX, LOG_SUFFIX = "replies-", ".log"
KEY_LENGTH = 64         # a sha256 in hex


# Sorted keys, no spaces, text as it is: one text per payload, whatever the
# order its dict was built in. A made encoder: json.dumps with options makes one
# per call.
canonical = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode


def from_environment():
    """The cache the launcher mounted, or None when caching is off."""
    root = os.environ.get(ENV)
    return ResponseCache(root) if root else None


def sample_number(item):
    """Which copy of a repeated prompt ``item`` is: benchmarks' ``expand`` numbers
    copies as ``repeat`` (gpqa) or ``sample`` (humaneval)."""
    return item.get("repeat", item.get("sample", 0))


def logs(root):
    """The cache's log files, oldest first (their names start with the time)."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return [f"{root}/{n}" for n in sorted(names) if n.startswith(LOG_PREFIX) and n.endswith(LOG_SUFFIX)]


def entries(data):
    """``(key, offset, length)`` of each complete line of a log's bytes ``data``
    (bytes or an mmap), in order; a last line without its newline (a full disk)
    is left out."""
    found, start, end = [], 0, data.find(b"\n")
    while end >= 0:
        if end - start > KEY_LENGTH and data[start + KEY_LENGTH] == 9:      # "\t"
            found.append((data[start:start + KEY_LENGTH].decode("ascii", "replace"), start, end - start))
        start, end = end + 1, data.find(b"\n", end + 1)
    return found


class ResponseCache:
    def __init__(self, root):
        self.root = root
        self._index = {}        # key → (log path, offset, length) of its latest line
        for path in logs(root):
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size == 0:
                    continue
                # mapped, not read: a log of long replies may be large; only keys are kept
                with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    for key, offset, length in entries(data):
                        self._index[key] = (path, offset, length)
        self._older = _has_older_entries(root)
        self._lock = threading.Lock()       # our log's opening, and its offset, for the index
        self._log = None                    # (path, fd) once this process stores its first reply
        self._size = 0

    @staticmethod
    def key(model_id, payload, sample=0):
        """The sha256 of ``{"model":…,"payload":…,"sample":…}`` in ``canonical``
        JSON. ``payload``: the dict, or its ``canonical`` text, which the harness
        also sends as the request's body (one encoding of it per request, not two)."""
        text = payload if isinstance(payload, str) else canonical(payload)
        number = sample if type(sample) is int else canonical(sample)      # an int is its own JSON
        whole = f'{{"model":{canonical(model_id)},"payload":{text},"sample":{number}}}'
        # surrogatepass: a lone surrogate in a prompt (a dataset's "\\ud800") still has a key.
        return hashlib.sha256(whole.encode("utf-8", "surrogatepass")).hexdigest()

    def older_paths(self, key):
        """Where the layouts before 2026-12-06 kept ``key``'s reply, newest first."""
        return (f"{self.root}/{key[:2]}/{key}.json", f"{self.root}/{key[:2]}/{key[2:4]}/{key}.json")

    def get(self, key):
        """The stored reply, or None. An entry that is not a JSON object (edited by
        hand, cut short by a full disk) counts as a miss; the next reply replaces it."""
        where = self._index.get(key)
        if where is not None:
            return _line(*where)
        if self._older:
            for path in self.older_paths(key):
                reply = _read(path)
                if reply is not None:
                    return reply
        return None

    def put(self, key, reply):
        # ASCII: the reply as the server sent it, lone surrogates ("\ud800") escaped,
        # so the line has no newline but its last byte. Not fsynced: a killed run
        # keeps it all the same; a power cut may cost the last replies (re-sent).
        line = f"{key}\t{json.dumps(reply)}\n".encode("ascii")
        with self._lock:
            if self._log is None:
                self._log, self._size = self._open_log(), 0
            path, fd = self._log
            offset = self._size
            try:
                _write_all(fd, line)
            except OSError:
                # A full disk may have kept part of the line: later offsets in this
                # log would be wrong, so the next reply starts a new one.
                self._drop_log()
                raise
            self._size += len(line)
            self._index[key] = (path, offset, len(line) - 1)

    def _open_log(self):
        os.makedirs(self.root, exist_ok=True)
        # The time first, so names sort in the order logs were started; a random
        # part, as processes in different containers may share a pid.
        path = f"{self.root}/{LOG_PREFIX}{time.time_ns():020d}-{os.urandom(4).hex()}{LOG_SUFFIX}"
        return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o666)

    def close(self):
        with self._lock:
            self._drop_log()

    def _drop_log(self):
        if self._log is not None:
            os.close(self._log[1])
            self._log = None


def _write_all(fd, data):
    left = memoryview(data)
    while left:
        left = left[os.write(fd, left):]


def _line(path, offset, length):
    try:
        with open(path, "rb") as f:
            f.seek(offset + KEY_LENGTH + 1)
            reply = json.loads(f.read(length - KEY_LENGTH - 1))
    except (OSError, ValueError):
        return None
    return reply if isinstance(reply, dict) else None


def _has_older_entries(root):
    """Whether ``root`` has a folder of the older layouts (``ab/``: two hex digits;
    not a deployed model's ``deployment-…``, a cache of its own)."""
    try:
        with os.scandir(root) as found:
            return any(len(e.name) == 2 and e.is_dir(follow_symlinks=False)
                       and all(c in "0123456789abcdef" for c in e.name) for e in found)
    except OSError:
        return False


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            reply = json.load(f)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return reply if isinstance(reply, dict) else None
