"""Content-addressed response cache: one small JSON file per successful reply,
under ``$EVALTASKS_RESPONSE_CACHE/ab/cd/<sha256>.json``.

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

    @staticmethod
    def key(model_id, payload, sample=0):
        text = json.dumps({"model": model_id, "payload": payload, "sample": sample},
                          sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def path(self, key):
        return f"{self.root}/{key[:2]}/{key[2:4]}/{key}.json"      # not os.path.join: its checks showed in the profile

    def get(self, key):
        """The stored reply, or None. A file that is not a JSON object (edited by
        hand, a full disk) counts as a miss, and the next reply replaces it."""
        try:
            with open(self.path(key), encoding="utf-8") as f:
                reply = json.load(f)
        except (FileNotFoundError, ValueError):
            return None
        return reply if isinstance(reply, dict) else None

    def put(self, key, reply):
        path = self.path(key)
        # ASCII: the reply as the server sent it, lone surrogates ("\ud800") escaped.
        # Not fsynced (write_atomic makes the folders): a killed run keeps it all the
        # same, and the file a power cut might leave empty reads as a miss (get).
        # The fsync and mkstemp per reply were 40% of the harness's CPU per request.
        write_atomic(path, json.dumps(reply), durable=False)
