"""Content-addressed response cache: one small JSON file per successful reply,
under ``$EVALTASKS_RESPONSE_CACHE/ab/<sha256>.json`` (``ab``: the key's first two
hex digits, 256 folders at most).

Until 2026-12-05 the layout was ``ab/cd/<sha256>.json``: a new folder for nearly
every reply of a fresh cache, whose cost in the kernel moved a lot and at times
was most of the harness's CPU per request (get + put: 385 µs of system time per
reply against 50 µs with one level; bench/RESULTS.md, issue 22). Entries in that
layout are still read, so a cache written by an older evaltasks re-sends
nothing; a cache that has none (no folder in it has subfolders, which a
folder's link count tells) is not searched for them: one failed open per miss,
not two.

Each reply is stored the moment it arrives, by an atomic rename, so a killed run
keeps every finished response and several containers can share one cache. The
key covers everything that shapes the reply: the model, the exact payload
(temperature, max_tokens, adapter edits…) and which copy of a repeated sample
this is, so that n samples of one prompt at temperature > 0 stay n replies.
"""

import hashlib
import json
import os

from .files import write_atomic

ENV = "EVALTASKS_RESPONSE_CACHE"


def from_environment():
    """The cache the launcher mounted, or None when caching is off."""
    root = os.environ.get(ENV)
    return ResponseCache(root) if root else None


def sample_number(item):
    """Which copy of a repeated prompt ``item`` is: benchmarks' ``expand`` numbers
    copies as ``repeat`` (gpqa) or ``sample`` (humaneval)."""
    return item.get("repeat", item.get("sample", 0))


class ResponseCache:
    def __init__(self, root):
        self.root = root
        self._older = None      # whether any entry may be in the older layout; known at the first get

    @staticmethod
    def key(model_id, payload, sample=0):
        text = json.dumps({"model": model_id, "payload": payload, "sample": sample},
                          sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def path(self, key):
        return f"{self.root}/{key[:2]}/{key}.json"      # not os.path.join: its checks showed in the profile

    def older_path(self, key):
        """Where the layout before 2026-12-05 kept ``key``'s reply."""
        return f"{self.root}/{key[:2]}/{key[2:4]}/{key}.json"

    def get(self, key):
        """The stored reply, or None. A file that is not a JSON object (edited by
        hand, a full disk) counts as a miss, and the next reply replaces it."""
        reply = _read(self.path(key))
        if reply is None:
            if self._older is None:
                self._older = _has_subfolders(self.root)
            if self._older:
                reply = _read(self.older_path(key))
        return reply

    def put(self, key, reply):
        path = self.path(key)
        # ASCII: the reply as the server sent it, lone surrogates ("\ud800") escaped.
        # Not fsynced (write_atomic makes the folders): a killed run keeps it all the
        # same, and the file a power cut might leave empty reads as a miss (get).
        # The fsync and mkstemp per reply were 40% of the harness's CPU per request.
        write_atomic(path, json.dumps(reply), durable=False)


def _has_subfolders(root):
    """Whether a folder in ``root`` has folders in it (the older layout's ``ab/cd``):
    its link count is 2 plus its subfolders; a file system that does not count
    them (btrfs says 1) is taken to have some."""
    try:
        with os.scandir(root) as entries:
            return any(e.is_dir(follow_symlinks=False) and e.stat(follow_symlinks=False).st_nlink != 2
                       for e in entries)
    except OSError:
        return True


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            reply = json.load(f)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return reply if isinstance(reply, dict) else None
