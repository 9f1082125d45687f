"""The user's cache folder (``$EVALTASKS_CACHE_DIR``, else ``$XDG_CACHE_HOME/evaltasks``,
else ``~/.cache/evaltasks``): downloaded datasets, staged task-file data, the
harness wheels and venvs, the llama.cpp server image's record.

Its own module at the bottom of the layers, so that data, executors and deploy
all find it without importing one another."""

import os
from pathlib import Path


def cache_dir():
    root = os.environ.get("EVALTASKS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "evaltasks")
    return Path(root)
