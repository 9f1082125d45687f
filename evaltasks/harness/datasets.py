"""Where a benchmark's data lives inside the container."""

import os


class DatasetError(Exception):
    """A dataset file that is missing or malformed; the message names the file."""


def data_dir(benchmark):
    """The benchmark's read-only data folder (mounted by the launcher)."""
    root = os.environ.get("EVALTASKS_DATA_DIR", "/data")
    return os.path.join(root, benchmark)
