"""``evaltasks reproduce``: from one results.json, a config that reruns exactly
that task — its benchmark, id and output dir, every param and endpoint setting
spelled out — and what such a config cannot pin.

The config uses the task's own output dir and id, so its run finds the task up
to date (the same fingerprint) until the code, the data or a setting differs;
``doit forget`` (or ``--force``) makes it run again. What it cannot pin is said
beside it: the model behind a name may have changed, and this checkout's
benchmark version, harness code or data may differ from those that produced
the results."""

import json
import os

import yaml

from evaltasks import __version__
from evaltasks.data import datasets
from evaltasks.executors import bundle
from evaltasks.harness import benchmarks
from evaltasks.harness.layout import RUN_CONFIG


class ReproduceError(Exception):
    pass


def config_for(results_path):
    """``(config dict, [what it cannot pin, one line each], [what produced the
    results, as the config's comment lines])``."""
    try:
        with open(results_path, encoding="utf-8") as f:
            results = json.load(f)
        bench = benchmarks.resolve(results["benchmark"])
        task_id, params, endpoint = results["task"], results["params"], dict(results["endpoint"])
        endpoint["model_id"] = results["model_id"]
    except OSError as e:
        raise ReproduceError(f"{results_path}: cannot read it ({e.strerror})") from None
    except (ValueError, KeyError, TypeError, AttributeError, benchmarks.UnknownBenchmark) as e:
        raise ReproduceError(f"{results_path}: not an evaltasks results.json ({type(e).__name__}: {e})") from None
    task_dir = os.path.dirname(os.path.abspath(results_path))
    as_run = _run_config(task_dir)
    task = {"name": bench.name, "id": task_id,
            "overrides": {f"config.params.{k}": v for k, v in params.items()}}
    ran = [t for t in as_run.get("evaluation", {}).get("tasks", []) if t.get("id", t.get("name")) == task_id]
    if ran and ran[0].get("env_vars"):
        task["env_vars"] = ran[0]["env_vars"]
    config = {
        "defaults": as_run.get("defaults", [{"execution": "local"}, {"deployment": "none"}, "_self_"]),
        "execution": dict(as_run.get("execution") or {}, output_dir=os.path.dirname(task_dir)),
        "target": {"api_endpoint": endpoint},
        "evaluation": {"tasks": [task]},
    }
    if "deployment" in as_run:
        config["deployment"] = as_run["deployment"]
    return config, cannot_pin(results, bench, as_run), produced_by(results, results_path)


def produced_by(results, results_path):
    """What the rerun should match, from the results' provenance: a config has no
    key for it, but its run is up to date only while code and data match it."""
    lines = [f"evaltasks reproduce {results_path}"]
    prov = results.get("provenance")
    if not isinstance(prov, dict):
        return lines + ["(no provenance recorded with these results)"]
    lines.append(f"produced by evaltasks {prov.get('evaltasks_version')}, {results['benchmark']} version "
                 f"{prov.get('benchmark_version')}, harness code {prov.get('harness_digest')}")
    for entry in prov.get("datasets") or []:
        rows = f", {entry['rows']} rows" if entry.get("rows") is not None else ""
        lines.append(f"data {entry.get('file')}: sha256 {entry.get('sha256')}{rows} (from {entry.get('source')})")
    return lines


def _run_config(task_dir):
    """The composed config the task ran with (run_config.yml beside results.json), or {}."""
    try:
        with open(os.path.join(task_dir, RUN_CONFIG), encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def cannot_pin(results, bench, as_run):
    model, url = results["model_id"], results["endpoint"].get("url")
    notes = [f"the model behind {url} may have changed under the name {model!r}: a rerun answers from the "
             "response cache where it can; `evaltasks run --force` asks the server again"]
    if not as_run:
        notes.append(f"no {RUN_CONFIG} beside the results: execution settings (docker args) are not known")
    prov = results.get("provenance")
    if not isinstance(prov, dict):
        notes.append("the results have no provenance (made before evaltasks recorded it): "
                     "code, benchmark version and data cannot be checked")
        return notes
    served = [m for m in (prov.get("server") or {}).get("models") or [] if m != model]
    if served:
        notes.append(f"the server answered as {', '.join(map(repr, served))}, not {model!r}")
    if prov.get("benchmark_version") != bench.version:
        notes.append(f"{bench.name} is version {bench.version} here; the results came from version "
                     f"{prov.get('benchmark_version')} (evaltasks {prov.get('evaltasks_version')})")
    if prov.get("harness_digest") != bundle.task_code_digest(bench.module):
        notes.append(f"the harness code here differs from the one that produced the results "
                     f"(evaltasks {__version__} here, {prov.get('evaltasks_version')} then)")
    now = datasets.identity(bench)
    for entry in prov.get("datasets") or []:
        name = str(entry.get("file", "")).split("/", 1)[-1]
        if name in now and now[name] != entry.get("sha256"):
            here = f"sha256 {now[name][:12]}" if now[name] else "not here yet"
            notes.append(f"data {entry.get('file')} differs from the copy read then: {here} now, "
                         f"sha256 {str(entry.get('sha256'))[:12]} then (source then: {entry.get('source')})")
    return notes


def dump(config, comments=()):
    head = "".join(f"# {line}\n" for line in comments)
    return head + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
