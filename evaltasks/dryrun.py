"""``evaltasks run --dry-run``: what a run would do for every task, and why,
without starting or writing anything (doit's database is only read)."""

import json
import os
import sqlite3

from . import container, datasets, image
from .harness import benchmarks
from .plan import DB_FILE, InputsUnchanged, RESULTS, fingerprint


def saved_inputs(output_dir):
    """The fingerprints doit saved for each ``eval:<id>`` on its last success."""
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


def flatten(tree, prefix=""):
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            flat.update(flatten(value, path))
        else:
            flat[path] = value
    return flat


def reasons(spec, saved, forced=False):
    """``(verdict, [reason, ...])`` for one task."""
    if forced:
        return "would run", ["forced (--force)"]
    target = os.path.join(spec["task_dir"], RESULTS)
    old = saved.get(f"eval:{spec['id']}")
    new = fingerprint(spec)
    why = []
    if not os.path.exists(target):
        why.append(f"target missing: {target}")
    if old is None:
        why.append("no record of a successful run")
    else:
        before, after = flatten(old["config"]), flatten(new["config"])
        for key in sorted(set(before) | set(after)):
            if before.get(key, "∅") != after.get(key, "∅"):
                why.append(f"config changed: {key}: {_show(before.get(key, '∅'))} → {_show(after.get(key, '∅'))}")
        if old.get("harness") != new["harness"]:
            why.append("harness code changed")
    return ("would run", why) if why else ("up to date", [])


def _show(value):
    return json.dumps(value) if not isinstance(value, str) or value == "∅" else repr(value)


def report(run, only=(), forced=False, out=print):
    """Print the plan for ``run``; return the number of tasks that would run."""
    saved = saved_inputs(run.cfg.output_dir)
    tag = image.image_tag(run.specs[0]["base_image"])
    out(f"dry run of {run.cfg.path} → {run.cfg.output_dir} (nothing is started or written)")
    would = 0
    for spec in run.specs:
        if only and spec["id"] not in only:
            continue
        verdict, why = reasons(spec, saved, forced)
        would += verdict == "would run"
        out(f"\neval:{spec['id']}: {verdict}")
        for reason in why:
            out(f"  - {reason}")
        if verdict == "would run":
            data = datasets.folder(benchmarks.resolve(spec["benchmark"]))
            options = container.run_options(spec, run.invocation, data, environ={})
            out(f"  $ {container.command_line(tag, options)}")
    return would
