"""results.json's ``provenance``: what produced a result, so it can be cited and
run again. The harness knows the benchmark's version, the data it read and what
the server said about itself; the launcher writes into task.json's
``provenance`` what only it knows (the harness code digest its fingerprint
uses, the runtime, where each data file came from).

    evaltasks_version   the package's version
    harness_digest      of the harness code the task ran (executors/bundle.task_code_digest)
    benchmark_version   of the prompt, extraction and scoring (the catalog's rule)
    runtime             executor, image id or venv, python version
    datasets            [{file, source, sha256, rows}]: each file of the benchmark's
                        data folder; ``rows``, the dataset rows used (after
                        limit_samples), on its main (first) file
    server              {models, system_fingerprint, server_header}: the distinct
                        ``model`` and ``system_fingerprint`` values of its replies,
                        cached ones included, and its ``Server`` header(s)
    deployment          the server the launcher started, when it knows it (llama_cpp:
                        {llama_cpp: "0.7.0 (build 11669)", build, packages, suite, image})
"""

import os
import sys

from .. import __version__
from .datasets import data_dir
from .files import sha256_file


class ServerSeen:
    """What the server said about itself, reply by reply. Called from the
    worker threads: set.add is atomic under the GIL."""

    def __init__(self):
        self.models, self.fingerprints = set(), set()

    def reply(self, reply):
        if not isinstance(reply, dict):
            return
        for value, seen in ((reply.get("model"), self.models), (reply.get("system_fingerprint"), self.fingerprints)):
            if isinstance(value, str) and value:
                seen.add(value)

    def summary(self, server_headers):
        headers = sorted(h for h in server_headers if h)
        return {"models": sorted(self.models), "system_fingerprint": sorted(self.fingerprints),
                "server_header": "; ".join(headers) or None}


def block(task, bench, rows, server):
    """results.json's ``provenance`` for ``task`` (task.json) of ``bench``, which
    read ``rows`` dataset rows; ``server`` is ``ServerSeen.summary``."""
    given = task.get("provenance") or {}
    sources = given.get("data_sources") or {}
    folder = data_dir(bench.dataset)
    datasets = []
    for n, data_file in enumerate(bench.files):
        # The copy that is there: the file, or its Hugging Face copy (datasets.present).
        data_file = next((f for f in (data_file, data_file.hub)
                          if f and os.path.isfile(os.path.join(folder, f.name))), data_file)
        path = os.path.join(folder, data_file.name)
        datasets.append({"file": f"{bench.dataset}/{data_file.name}",
                         "source": sources.get(data_file.name, data_file.url),
                         "sha256": sha256_file(path) if os.path.isfile(path) else None,
                         "rows": rows if n == 0 else None})
    if "datasets" in given:         # a task file: the launcher knows its data
        datasets = given["datasets"]
    return {
        "evaltasks_version": __version__,
        "harness_digest": given.get("harness_digest"),
        "benchmark_version": given.get("benchmark_version", bench.version),
        "runtime": dict(given.get("runtime") or {}, **_interpreter()),
        "datasets": datasets,
        "server": server,
        **({"deployment": given["deployment"]} if given.get("deployment") else {}),
    }


def _interpreter():
    """What the harness process knows of its runtime: Python's version and, in
    the process runtime's venv (named after the harness digest), that venv."""
    # What platform.python_version() says, without importing platform on every start.
    found = {"python": sys.version.split()[0]}
    if sys.prefix != sys.base_prefix:
        found["venv"] = sys.prefix
    return found
