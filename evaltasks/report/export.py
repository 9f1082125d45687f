"""Exports of finished runs, with NeMo Evaluator's exporter names and layouts.

- ``local``: ``processed_results.json`` in NeMo Evaluator's local-exporter
  layout (``benchmarks.<benchmark>.models.<model>`` → a list of entries with
  ``invocation_id``, ``job_id``, ``harness``, ``scores`` …; an entry of the same
  invocation and job is replaced, others are kept) and ``processed_results.csv``
  (one row per entry, a column per metric), plus a copy of each run's summary
  and task files under ``<dir>/<run>/``. Our entries carry ``intervals`` too.
- ``mlflow`` (``pip install evaltasks[mlflow]``): one MLflow run per exported
  run: params (model, endpoint, each task's benchmark and result-determining
  params), metrics ``<task>/<metric>`` with ``…/ci_low`` and ``…/ci_high``, tags,
  and the summary and task files as artifacts. Config keys as NeMo Evaluator
  names them: ``tracking_uri``, ``experiment_name``, ``run_name``, ``tags``,
  ``description``, ``log_artifacts``.
- ``wandb`` (``pip install evaltasks[wandb]``): one W&B run per task (NeMo
  Evaluator's ``per_task`` mode): its metrics with ``…/ci_low`` and
  ``…/ci_high`` in the run's summary, a config with model, endpoint, params,
  provenance, tokens and cost, and the samples as a ``wandb.Table`` in an
  artifact (with results.json and samples.jsonl when ``log_artifacts``). Keys as
  NeMo Evaluator names them: ``entity``, ``project``, ``name``, ``group``,
  ``job_type``, ``tags``, ``description``, ``log_metrics``, ``log_artifacts``,
  ``extra_metadata``, ``log_mode`` (``per_task`` only; schema.WANDB_EXPORT). With
  ``WANDB_MODE=offline`` nothing leaves the machine: each run is a folder
  under ``$WANDB_DIR/wandb/`` that ``wandb sync`` uploads later.
"""

import csv
import io
import json
import os
import re
import shutil
from datetime import datetime, timezone

from ..harness.files import write_atomic
from . import load, summary

DESTINATIONS = ("local", "mlflow", "wandb")
HARNESS = "evaltasks"
CSV_BASE = ("Model Name", "Harness", "Task Name", "Executor", "Container", "Invocation ID", "Job ID")
DEFAULT_LOCAL_DIR = "evaltasks-results"


class ExportError(Exception):
    """An export that cannot be done: one line for the user."""


def _job_id(task):
    """The run history's job that wrote this task's results.json, if recorded
    (the history holds the path as the run's config resolved it)."""
    from evaltasks.state.history import History

    path = os.path.join(task.folder, load.RESULTS)
    history = History()
    job = history.last_job(path) or history.last_job(os.path.abspath(path))
    return job["id"] if job else None


def _run_name(run):
    return os.path.basename(os.path.abspath(run.output_dir.rstrip("/")))


# -- local ------------------------------------------------------------------
def export_local(runs, config):
    folder = config.get("output_dir") or DEFAULT_LOCAL_DIR
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "processed_results.json")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        data = {"benchmarks": {}}
    except ValueError as e:
        raise ExportError(f"{path}: not JSON ({e}); move it away or pick another --output-dir") from None
    for run in runs:
        s = summary.build(run)
        copy = os.path.join(folder, _run_name(run))
        for t in s["tasks"]:
            task = run.tasks[t["task"]]
            job = _job_id(task)
            entry = {"invocation_id": job.split(".", 1)[0] if job else None, "job_id": job or t["task"], "task": t["task"],
                     "harness": HARNESS, "container": None, "executor": "local",
                     "scores": {m["name"]: m["value"] for m in t["metrics"]},
                     "intervals": summary.finite({m["name"]: [m["ci_low"], m["ci_high"], m["method"]]
                                                  for m in t["metrics"]}),
                     "n": t["metrics"][0]["n"] if t["metrics"] else None,
                     "output_dir": s["output_dir"], "artifacts": os.path.abspath(os.path.join(copy, t["task"])),
                     "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            entries = (data.setdefault("benchmarks", {}).setdefault(t["benchmark"], {})
                       .setdefault("models", {}).setdefault(t["model_id"] or "", []))
            same = [i for i, e in enumerate(entries)
                    if (e.get("invocation_id"), e.get("job_id")) == (entry["invocation_id"], entry["job_id"])]
            if same:
                entries[same[0]] = entry
            else:
                entries.append(entry)
            os.makedirs(os.path.join(copy, t["task"]), exist_ok=True)
            for name in (load.RESULTS, load.SAMPLES):
                if os.path.exists(os.path.join(task.folder, name)):
                    shutil.copy2(os.path.join(task.folder, name), os.path.join(copy, t["task"], name))
        for fmt in summary.FORMATS:
            write_atomic(os.path.join(copy, f"summary.{fmt}"), summary.render(s, run, fmt))
    data["export_timestamp"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    csv_path = os.path.join(folder, "processed_results.csv")
    write_atomic(csv_path, _csv(data))
    return [path, csv_path]


def _csv(data):
    rows, metrics = [], []
    for bench, b in data.get("benchmarks", {}).items():
        for model, entries in b.get("models", {}).items():
            for e in entries:
                rows.append((model, bench, e))
                metrics += [m for m in e.get("scores", {}) if m not in metrics]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_BASE + tuple(metrics))
    for model, bench, e in rows:
        writer.writerow([model, e.get("harness"), e.get("task") or bench, e.get("executor"), e.get("container"),
                         e.get("invocation_id"), e.get("job_id")] + [e.get("scores", {}).get(m, "") for m in metrics])
    return out.getvalue()


# -- mlflow -----------------------------------------------------------------
def export_mlflow(runs, config):
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ExportError("the mlflow exporter needs MLflow: pip install 'evaltasks[mlflow]'") from None
    uri = config.get("tracking_uri")
    if not uri:
        raise ExportError("mlflow export: no tracking_uri (give --tracking-uri, or "
                          "execution.auto_export.configs.mlflow.tracking_uri)")
    # MLflow's client retries an unreachable server for minutes by default.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    client = MlflowClient(tracking_uri=uri)
    name = config.get("experiment_name") or "evaltasks"
    try:
        experiment = client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    except Exception as e:      # MLflow raises its own and requests' errors; one line either way
        raise ExportError(f"mlflow export: cannot reach the tracking server at {uri}: "
                          f"{str(e).splitlines()[0][:300]}") from None
    done = []
    for run in runs:
        s = summary.build(run)
        tags = {str(k): str(v) for k, v in (config.get("tags") or {}).items()}
        tags.update({"evaltasks.output_dir": s["output_dir"], "evaltasks.harness": HARNESS})
        if config.get("description"):
            tags["mlflow.note.content"] = str(config["description"])
        run_name = config.get("run_name") or f"{_model(s)}-{_run_name(run)}"
        created = client.create_run(experiment_id, run_name=run_name, tags=tags)
        rid = created.info.run_id
        from mlflow.entities import Metric, Param

        params, metrics = {"model_id": _model(s)}, []
        now = int(datetime.now(timezone.utc).timestamp() * 1000)
        for t in s["tasks"]:
            params[f"{t['task']}.benchmark"] = t["benchmark"]
            params[f"{t['task']}.endpoint"] = t["endpoint"]
            params.update({f"{t['task']}.{k}": json.dumps(v) if isinstance(v, (dict, list)) else v
                           for k, v in t["params"].items() if v is not None})
            for m in t["metrics"]:
                for suffix, value in (("", m["value"]), ("/ci_low", m["ci_low"]), ("/ci_high", m["ci_high"])):
                    if summary.finite(value) is not None:
                        metrics.append(Metric(f"{t['task']}/{_metric_key(m['name'])}{suffix}", float(value), now, 0))
        client.log_batch(rid, metrics=metrics, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        if config.get("log_artifacts", True):
            staging = os.path.join(run.output_dir, ".export-mlflow")
            shutil.rmtree(staging, ignore_errors=True)
            os.makedirs(staging)
            try:
                for fmt in summary.FORMATS:
                    write_atomic(os.path.join(staging, f"summary.{fmt}"), summary.render(s, run, fmt))
                for task in run.tasks.values():
                    os.makedirs(os.path.join(staging, task.id))
                    for file in (load.RESULTS, load.SAMPLES):
                        if os.path.exists(os.path.join(task.folder, file)):
                            shutil.copy2(os.path.join(task.folder, file), os.path.join(staging, task.id, file))
                client.log_artifacts(rid, staging)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        client.set_terminated(rid)
        done.append(f"{uri} experiment {name} run {rid} ({run_name})")
    return done


def _model(s):
    models = sorted({t["model_id"] for t in s["tasks"] if t["model_id"]})
    return ",".join(models) or "model"


def _metric_key(name):
    # MLflow allows letters, digits, _ - . space / in names; ifeval's ids have ':'.
    return "".join(c if c.isalnum() or c in "_-. /" else "_" for c in name)


# -- wandb ------------------------------------------------------------------
def _samples_table(wandb, task):
    from .html import sample_rows

    # A table column holds one type: ids and errors as text, scores as numbers.
    text = lambda v: None if v is None else str(v)
    return wandb.Table(columns=["index", "prompt", "response", "extracted", "gold", "score", "error"],
                       data=[[text(r["i"]), r["p"], r["r"], r["x"], r["g"], r["s"], text(r["e"])]
                             for r in sample_rows(task)])


def export_wandb(runs, config):
    try:
        import wandb
    except ImportError:
        raise ExportError("the wandb exporter needs W&B: pip install 'evaltasks[wandb]'") from None
    # Keys and types as schema.WANDB_EXPORT checks them in a config (the CLI builds its own).
    tags, wanted = config.get("tags") or [], config.get("log_metrics") or []
    offline = os.environ.get("WANDB_MODE") in ("offline", "dryrun")
    if not offline and not os.environ.get("WANDB_API_KEY") and not _wandb_logged_in():
        raise ExportError("wandb export: no W&B credentials (set WANDB_API_KEY, or `wandb login`), "
                          "or export offline with WANDB_MODE=offline and `wandb sync` later")
    done = []
    for run in runs:
        s = summary.build(run)
        for t in s["tasks"]:
            task = run.tasks[t["task"]]
            job = _job_id(task)
            invocation = job.split(".", 1)[0] if job else _run_name(run)
            metrics = {}
            for m in t["metrics"]:
                if wanted and not any(w in m["name"] for w in wanted):
                    continue
                for suffix, value in (("", m["value"]), ("/ci_low", m["ci_low"]), ("/ci_high", m["ci_high"])):
                    if summary.finite(value) is not None:
                        metrics[f"{t['task']}/{m['name']}{suffix}"] = float(value)
            run_config = summary.finite({
                "model_id": t["model_id"], "endpoint": t["endpoint"], "task": t["task"], "benchmark": t["benchmark"],
                "params": t["params"], "provenance": t["provenance"], "samples": t["samples"],
                "failed_samples": t["failed_samples"], "prompt_tokens": t["prompt_tokens"],
                "completion_tokens": t["completion_tokens"], "cost": t["cost"], "currency": t["currency"],
                "output_dir": s["output_dir"], "invocation_id": invocation, "job_id": job, "harness": HARNESS,
                **(config.get("extra_metadata") or {})})
            try:
                wrun = wandb.init(project=config.get("project") or "evaltasks", entity=config.get("entity"),
                                  name=config.get("name") or f"eval-{invocation}-{t['task']}",
                                  group=config.get("group") or invocation, job_type=config.get("job_type") or "evaluation",
                                  tags=tags, notes=config.get("description"), config=run_config,
                                  reinit="create_new", settings=wandb.Settings(console="off", silent=True))
            except Exception as e:          # wandb raises its own errors for auth and network; one line either way
                raise ExportError(f"wandb export: {str(e).splitlines()[0][:300]}") from None
            try:
                wrun.log(metrics)
                wrun.summary.update(metrics)
                # Artifact names allow letters, digits, '-', '_' and '.'.
                artifact = wandb.Artifact(re.sub(r"[^A-Za-z0-9_.-]", "_", f"{invocation}-{t['task']}-samples"),
                                          type="evaluation-samples")
                artifact.add(_samples_table(wandb, task), "samples")
                if config.get("log_artifacts", True):
                    for name in (load.RESULTS, load.SAMPLES):
                        if os.path.exists(os.path.join(task.folder, name)):
                            artifact.add_file(os.path.join(task.folder, name), name=name)
                wrun.log_artifact(artifact)
                where = wrun.settings.sync_dir if offline else wrun.url
            finally:
                wrun.finish()
            done.append(f"wandb run {wrun.id} ({t['task']}): {where}"
                        + (f" (offline: upload with `wandb sync {where}`)" if offline else ""))
    return done


def _wandb_logged_in():
    """Whether ~/.netrc (or $NETRC) holds a W&B key, as `wandb login` leaves it."""
    import netrc

    try:
        hosts = netrc.netrc(os.environ.get("NETRC")).hosts
    except (OSError, netrc.NetrcParseError):
        return False
    return any("wandb" in host for host in hosts)


# -- entry points -----------------------------------------------------------
def export(refs, dest, config):
    if dest not in DESTINATIONS:
        raise ExportError(f"--dest {dest}: unknown destination (one of {', '.join(DESTINATIONS)})")
    try:
        runs = [load.load_run(ref) for ref in refs]
    except load.RunError as e:
        raise ExportError(str(e)) from None
    return {"local": export_local, "mlflow": export_mlflow, "wandb": export_wandb}[dest](runs, config)


def auto(output_dir, auto_export):
    """``execution.auto_export: {destinations: [...], configs: {dest: {...}}}``
    (a config.sections.AutoExport), at the end of a run (the summary task)."""
    done = []
    for dest in auto_export.destinations:
        done += export([output_dir], dest, auto_export.configs.get(dest) or {})
    return done
