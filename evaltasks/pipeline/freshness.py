"""Whether a task is up to date, and why not: its fingerprint (what determines its
result), the fingerprint doit saved on its last success, and the reasons the
two differ. doit decides with ``InputsUnchanged``; the dry run and ``Run.to_run``
ask ``reasons``. The only module that opens doit's database (``.doit.db``)."""

import json
import os
import sqlite3

from evaltasks.config.params import RUN_ONLY_ADAPTER, RUN_ONLY_PARAMS
from evaltasks.data import datasets
from evaltasks.executors import bundle
from evaltasks.harness import benchmarks

DB_FILE = ".doit.db"


def fingerprint(spec, identities=None, bench=None):
    """What determines a task's result: the config keyed as in the config file,
    the harness code, the benchmark's version and the digest of each data file.
    Stored in doit's DB when the task succeeds, and compared on the next run.
    Never holds a secret value. ``identities``: see ``data_identity``; ``bench``:
    the spec's benchmark, when the caller has it already."""
    bench = bench or benchmarks.resolve(spec.benchmark)
    # A deployed model is named by what determines its answers, not by its url (the port).
    endpoint = {k: spec.endpoint[k] for k in ("url", "model_id", "type") if not (k == "url" and spec.deployed)}
    endpoint["adapter_config"] = {k: v for k, v in spec.endpoint["adapter_config"].items()
                                  if k not in RUN_ONLY_ADAPTER}
    params = {k: v for k, v in spec.params.items() if k not in RUN_ONLY_PARAMS}
    config = {"benchmark": spec.benchmark, "config": {"params": params},
              "target": {"api_endpoint": endpoint}}
    if spec.task_file:
        # The file's text (judge settings included) and each data file's digest.
        config["task_file"] = {"sha256": spec.task_file["sha256"], "data": spec.task_file["files"]}
    return {
        "config": config,
        "harness": bundle.task_code_digest(bench.module),
        "benchmark_version": bench.version,
        "data": data_identity(bench, identities),
        **({"deployment": spec.deployment} if spec.deployment else {}),
    }


def data_identity(bench, identities=None):
    """``datasets.identity(bench)``, taken once per benchmark into ``identities``
    (a dict one planning pass shares, or None): the 200 tasks of a config share
    a few benchmarks, and each identity stats every data file (~0.1 ms a task)."""
    if identities is None:
        return datasets.identity(bench)
    if bench.name not in identities:
        identities[bench.name] = datasets.identity(bench)
    return identities[bench.name]


class InputsUnchanged:
    """doit ``uptodate`` check: the saved fingerprint equals the current one."""

    KEY = "evaltasks:inputs"

    def __init__(self, inputs, saved=None):
        self.inputs = inputs
        self.saved = saved or (lambda: inputs)     # what to store once the task succeeded

    def configure_task(self, task):
        task.value_savers.append(lambda: {self.KEY: self.saved()})

    def __call__(self, task, values):
        return values.get(self.KEY) == self.inputs

    def __repr__(self):    # what `doit info` shows when the check fails
        return ("config, harness code, benchmark version or data changed since the last success "
                "(evaltasks run --dry-run shows which)")


def inputs_check(spec, deployment=None, identities=None, bench=None):
    """``spec``'s doit ``uptodate`` check: its fingerprint now, and what to save
    once it succeeded. Data the run downloads is known only once it is there, so
    is a deployed llama.cpp's identity when the run made its image (``deployment``,
    the config's): both are taken again after the task ran. ``identities``: see
    ``data_identity``; ``bench``: as for ``fingerprint``."""
    bench = bench or benchmarks.resolve(spec.benchmark)
    inputs = fingerprint(spec, identities, bench)
    saved = lambda: dict(inputs, data=datasets.identity(bench),
                         **({"deployment": _deployed(deployment)} if spec.deployment else {}))
    return InputsUnchanged(inputs, saved)


def _deployed(deployment):
    # deploy is imported only by a run that deploys: a rerun with nothing to do needs none of it.
    from evaltasks import deploy

    return deploy.fingerprint(deployment)


def saved_inputs(output_dir):
    """The fingerprints doit saved for each ``eval:<id>`` on its last success,
    read from doit's database without doit (and without writing to it)."""
    path = os.path.join(output_dir, DB_FILE)
    if not os.path.exists(path):
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("select task_id, task_data from doit").fetchall()
    except sqlite3.DatabaseError:
        return {}
    finally:
        conn.close()
    saved = {}
    for task_id, data in rows:
        values = json.loads(data).get("_values_:", {})
        if InputsUnchanged.KEY in values:
            saved[task_id] = values[InputsUnchanged.KEY]
    return saved


def out_of_date(specs, output_dir):
    """The tasks among ``specs`` that are not up to date."""
    saved, identities = saved_inputs(output_dir), {}
    return [spec for spec in specs if reasons(spec, saved, identities=identities)[0] == "would run"]


def flatten(tree, prefix=""):
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            flat.update(flatten(value, path))
        else:
            flat[path] = value
    return flat


def reasons(spec, saved, forced=False, identities=None):
    """``(verdict, [reason, ...])`` for one task: ``("would run", why)`` or
    ``("up to date", [])``; ``saved`` is ``saved_inputs``'; ``identities``: see ``data_identity``."""
    if forced:
        return "would run", ["forced (--force)"]
    target = spec.results
    old = saved.get(spec.doit_name)
    new = fingerprint(spec, identities)
    why = []
    if not os.path.exists(target):
        why.append(f"target missing: {target}")
    if old is None:
        why.append("no record of a successful run")
    else:
        before, after = flatten(old["config"]), flatten(new["config"])
        for key in sorted(set(before) | set(after)):
            if before.get(key, "∅") != after.get(key, "∅"):
                why.append(f"config changed: {key}: {_show(key, before.get(key, '∅'))} → "
                           f"{_show(key, after.get(key, '∅'))}")
        # The deployed model's identity (checkpoint size and mtime, image, answer-changing args).
        before = flatten(old.get("deployment") or {}, "deployment")
        after = flatten(new.get("deployment") or {}, "deployment")
        for key in sorted(set(before) | set(after)):
            if before.get(key, "∅") != after.get(key, "∅"):
                why.append(f"deployed model changed: {key}: {before.get(key, '∅')} → {after.get(key, '∅')}")
        if old.get("harness") != new["harness"]:
            why.append("harness code changed")
        if old.get("benchmark_version") != new["benchmark_version"]:
            why.append(f"benchmark version changed: {old.get('benchmark_version', 'none recorded')} → "
                       f"{new['benchmark_version']}")
        before, after = old.get("data") or {}, new["data"]
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                why.append(f"data changed: {spec.benchmark}/{name}: sha256 {_short(before.get(name))} → "
                           f"{_short(after.get(name))}")
    return ("would run", why) if why else ("up to date", [])


def _short(digest):
    return digest[:12] if digest else "unknown"


def _show(key, value):
    if value is None and key.endswith(".limit_samples"):
        return "all"
    return json.dumps(value) if not isinstance(value, str) or value == "∅" else repr(value)


def replaced(spec):
    """What a rerun would overwrite, when its results.json came from another model
    or endpoint (e.g. after ``-o target.api_endpoint.model_id=...``), else None."""
    try:
        with open(spec.results, encoding="utf-8") as f:
            old = json.load(f)
        before = (old.get("model_id"), (old.get("endpoint") or {}).get("url"))
    except (OSError, ValueError, AttributeError):
        return None
    after = (spec.endpoint["model_id"], spec.endpoint["url"])
    if before == after:
        return None
    return (f"would replace the results of model {before[0]!r} at {before[1]} "
            f"with those of {after[0]!r} at {after[1]} (a per-model output_dir keeps both: "
            "output_dir: results/${target.api_endpoint.model_id})")
