"""``evaltasks run --dry-run``: what a run would do for every task, and why,
without starting or writing anything (doit's database is only read)."""

import json
import os
import sqlite3

from evaltasks.pipeline.plan import DB_FILE, InputsUnchanged, fingerprint


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
    target = spec.results
    old = saved.get(f"eval:{spec.id}")
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


def report(run, only=(), forced=False, out=print):
    """Print the plan for ``run``; return the number of tasks that would run. A
    task that would run but cannot here (data, key variable) says why; the others go on."""
    saved = saved_inputs(run.cfg.output_dir)
    out(f"dry run of {run.cfg.path} → {run.cfg.output_dir} (nothing is started or written)")
    would = 0
    for spec in run.specs:
        if only and spec.id not in only:
            continue
        verdict, why = reasons(spec, saved, forced)
        blocker = run.blocker(spec) if verdict == "would run" else None
        if blocker:
            verdict = f"cannot run: {blocker}"
        would += verdict == "would run"
        out(f"\neval:{spec.id}: {verdict}")
        for reason in why:
            out(f"  - {reason}")
        warning = replaced(spec) if verdict == "would run" else None
        if warning:
            out(f"  ! {warning}")
        if verdict == "would run":
            out(f"  $ {run.executor.describe(spec, run.invocation)}")
    _report_server(run, would, out)
    return would


def _report_server(run, would, out):
    dep = run.cfg.deployment
    if dep is None:
        return
    from evaltasks.deploy import DeploymentError, commands, models

    if not would:
        out(f"\nmodel server ({dep.type}): not started, no task would run")
        return
    try:
        line = commands.describe(dep, run.invocation)
    except (models.ModelPackageError, DeploymentError) as e:
        line = f"(cannot start here: {e})"
    out(f"\nmodel server ({dep.type}): would start, shared by {would} task(s), ready when "
        f"GET {dep.health_url} answers 200 (at most {dep.readiness_timeout:g}s); log: {dep.log_path}")
    out(f"  $ {line}")
