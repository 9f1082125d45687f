"""One run's summary: per task, every metric with its 95% interval computed from
the per-sample scores (stats.py says how), n, failed samples, tokens, wall time,
model, endpoint and the params that determine the result — as a dict (the JSON
form), Markdown, CSV, and the rows the HTML page shows.

The harness's own metrics are the values; the intervals are rebuilt from
samples.jsonl: the headline metric, pass@k and per-group ones
(``accuracy/<category>``) from their items, ifeval's instruction-level rates
from its prompts (load.ratio_units), anything the rows cannot rebuild (macro
averages, gpqa's per-repeat spread) as value ± 1.96 × the harness's stderr,
labelled so.
"""

import csv
import io
import json
import math
import os
from datetime import datetime, timezone

from ..harness.files import write_atomic
from ..plan import RUN_ONLY_PARAMS
from . import load, stats

FORMATS = ("md", "csv", "json", "html")
NORMAL = "normal (harness stderr)"


def metric_rows(task):
    rows = []
    for name, metric in task.results.get("metrics", {}).items():
        if not isinstance(metric, dict) or "value" not in metric:
            continue
        low, high, method, n = _interval(task, name, metric)
        rows.append({"name": name, "value": metric["value"], "ci_low": low, "ci_high": high,
                     "method": method, "n": n})
    return rows


def _interval(task, name, metric):
    """``(low, high, method, n)`` of one metric, from the samples where they can
    rebuild it, else from the harness's stderr."""
    # pass@k for every k is rebuilt from all rows, like the headline.
    whole = name == task.headline or name.startswith("pass@")
    subset = task.rows if whole else load.group_rows(task, name)
    if subset:
        values = list(load.units(task, name, subset).values())
        return (*stats.interval(values), len(values))
    field = load.row_field(task, name)
    if field:
        values = [float(row.get(field) or 0.0) for row in task.rows]
        return (*stats.interval(values), len(values))
    ratio = load.ratio_units(task, name)
    if ratio:
        right, total = ratio
        return (*stats.ratio_interval(right, total), int(sum(total)))
    half = 1.96 * float(metric.get("stderr") or 0.0)
    low, high = metric["value"] - half, metric["value"] + half
    if 0 <= metric["value"] <= 1:       # every metric here is a rate: keep its interval in [0, 1]
        low, high = max(0.0, low), min(1.0, high)
    return low, high, NORMAL, metric.get("n")


def task_summary(task):
    r = task.results
    tokens = (r.get("response_stats") or {}).get("tokens") or {}
    return {
        "task": task.id,
        "benchmark": task.benchmark,
        "model_id": r.get("model_id"),
        "endpoint": (r.get("endpoint") or {}).get("url"),
        "params": {k: v for k, v in (r.get("params") or {}).items() if k not in RUN_ONLY_PARAMS},
        "samples": r.get("samples"),
        "failed_samples": r.get("failed_samples", 0),
        "prompt_tokens": (tokens.get("prompt") or {}).get("total"),
        "completion_tokens": (tokens.get("completion") or {}).get("total"),
        "duration_s": r.get("duration_s"),
        "finished": r.get("finished"),
        "provenance": task.provenance,
        "headline": task.headline,
        "metrics": metric_rows(task),
        "warnings": r.get("warnings") or [],
    }


def overall(tasks):
    """Across tasks only the unweighted mean of their headline scores means
    something (each task counts once; a mean over all samples would let the
    largest benchmark decide); no interval, as the tasks measure different things."""
    heads = [t["metrics"][0] for t in tasks if t["metrics"]]
    if len(heads) < 2:
        return None
    return {"value": sum(h["value"] for h in heads) / len(heads), "tasks": len(heads),
            "how": "unweighted mean of the tasks' headline metrics (each task counts once); no interval"}


def build(run):
    tasks = [task_summary(t) for t in run.tasks.values()]
    return {
        "output_dir": os.path.abspath(run.output_dir),
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        # A task's warnings (results.json) are notes of the run: every format shows those.
        "notes": run.notes + [f"{t['task']}: warning: {w['message']}" for t in tasks for w in t["warnings"]],
        "intervals": "95%; Wilson for 0/1 scores, one per item; percentile bootstrap over items "
                     f"({stats.RESAMPLES} resamples) when an item holds several samples or scores "
                     f"are not 0/1 (pass@k, repeats); '{NORMAL}' where samples cannot rebuild the metric",
        "tasks": tasks,
        "overall": overall(tasks),
    }


def fmt(value, digits=4):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def value_with_ci(metric):
    """``0.8450 [0.7944, 0.8946]``: the terminal table's and Markdown's form."""
    return f"{fmt(metric['value'])} [{fmt(metric['ci_low'])}, {fmt(metric['ci_high'])}]"


def markdown(summary):
    out = [f"# Summary of {summary['output_dir']}", "", f"Intervals: {summary['intervals']}.", ""]
    out += [f"> {note}" for note in summary["notes"]]
    out += ["| task | benchmark | metric | value [95% CI] | n | failed | tokens (prompt/completion) | wall time |",
            "|---|---|---|---|---|---|---|---|"]
    for t in summary["tasks"]:
        head = t["metrics"][0] if t["metrics"] else None
        out.append(f"| {t['task']} | {t['benchmark']} | {head['name'] if head else '–'} | "
                   f"{value_with_ci(head) if head else '–'} | {head['n'] if head else '–'} | "
                   f"{t['failed_samples']} | {fmt(t['prompt_tokens'])}/{fmt(t['completion_tokens'])} | "
                   f"{fmt(t['duration_s'], 1)} s |")
    if summary["overall"]:
        o = summary["overall"]
        out.append(f"| overall | | | {fmt(o['value'])} | {o['tasks']} tasks | | | |")
        out += ["", f"Overall: {o['how']}."]
    for t in summary["tasks"]:
        out += ["", f"## {t['task']} ({t['benchmark']})", "",
                f"Model `{t['model_id']}` at {t['endpoint']}; params: "
                + ", ".join(f"`{k}={v}`" for k, v in t["params"].items() if v not in (None, {})), ""]
        if t["provenance"]:
            out += [f"Provenance: `{t['provenance']}`", ""]
        out += ["| metric | value | 95% CI | n | interval |", "|---|---|---|---|---|"]
        out += [f"| {m['name']} | {fmt(m['value'])} | {fmt(m['ci_low'])} – {fmt(m['ci_high'])} | {m['n']} | "
                f"{m['method']} |" for m in t["metrics"]]
    return "\n".join(out) + "\n"


CSV_FIELDS = ("task", "benchmark", "model_id", "metric", "value", "ci_low", "ci_high", "interval", "n",
              "samples", "failed_samples", "prompt_tokens", "completion_tokens", "duration_s")


def csv_text(summary):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for t in summary["tasks"]:
        for m in t["metrics"]:
            writer.writerow([t["task"], t["benchmark"], t["model_id"], m["name"], m["value"], m["ci_low"],
                             m["ci_high"], m["method"], m["n"], t["samples"], t["failed_samples"],
                             t["prompt_tokens"], t["completion_tokens"], t["duration_s"]])
    return buffer.getvalue()


def finite(value):
    """JSON has no NaN: an interval that cannot be computed is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def render(summary, run, fmt):
    if fmt == "md":
        return markdown(summary)
    if fmt == "csv":
        return csv_text(summary)
    if fmt == "json":
        return json.dumps(finite(summary), indent=2, ensure_ascii=False) + "\n"
    from . import html

    return html.summary_page(summary, run)


def write_all(output_dir):
    """The ``summary`` task's action: summary.md/.csv/.json/.html in the output
    dir, each written atomically. Returns the paths."""
    run = load.load_run(output_dir)
    summary = build(run)
    paths = []
    for fmt in FORMATS:
        path = os.path.join(output_dir, f"summary.{fmt}")
        write_atomic(path, render(summary, run, fmt))
        paths.append(path)
    return paths
