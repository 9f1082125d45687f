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

from ..harness import warnings
from ..harness.files import write_atomic
from evaltasks.config.params import RUN_ONLY_PARAMS
from . import cost, load, stats
from .options import FORMATS
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


def one_category(task, metrics):
    """When every item of a task falls in one category, its per-category
    metric (``accuracy/business``) and the macro average over that one
    category (``macro_accuracy``) only repeat the headline: ``(names,
    category)`` of those metrics then, else None. Pages hide them and say why."""
    head = task.headline
    per_group = [m["name"] for m in metrics if m["name"].startswith(f"{head}/")]
    if len(per_group) != 1:
        return None
    rows = load.group_rows(task, per_group[0])
    if not rows or len(rows) != len(task.rows):
        return None
    return per_group + [m["name"] for m in metrics if m["name"] == f"macro_{head}"], per_group[0].split("/", 1)[1]


def task_summary(task):
    r = task.results
    metrics = metric_rows(task)
    notes = []
    single = one_category(task, metrics)
    if single:
        names, category = single
        for m in metrics:
            m["one_category"] = m["name"] in names
        notes.append(f"{', '.join(names)} not shown: every item is in one category ({category}), "
                     f"so {'they repeat' if len(names) > 1 else 'it repeats'} {task.headline}")
    spent = cost.usage(task)
    return {
        "task": task.id,
        "benchmark": task.benchmark,
        "model_id": r.get("model_id"),
        "endpoint": (r.get("endpoint") or {}).get("url"),
        "params": {k: v for k, v in (r.get("params") or {}).items() if k not in RUN_ONLY_PARAMS},
        "samples": r.get("samples"),
        "failed_samples": r.get("failed_samples", 0),
        "prompt_tokens": spent["prompt_tokens"],
        "completion_tokens": spent["completion_tokens"],
        "cost": spent["cost"],
        "currency": spent["currency"],
        "duration_s": r.get("duration_s"),
        "finished": r.get("finished"),
        "provenance": task.provenance,
        "headline": task.headline,
        "metrics": metrics,
        "notes": notes,
        "warnings": warnings.of(r),
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
        "model": run.model,
        "output_dir": os.path.abspath(run.output_dir),
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "notes": run.notes,
        "intervals": "95%; Wilson for 0/1 scores, one per item; percentile bootstrap over items "
                     f"({stats.RESAMPLES} resamples) when an item holds several samples or scores "
                     f"are not 0/1 (pass@k, repeats); '{NORMAL}' where samples cannot rebuild the metric",
        "tasks": tasks,
        "overall": overall(tasks),
        "total": cost.total(tasks),
    }


def fmt(value, digits=4):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def value_with_ci(metric):
    """``0.8450 [0.7944, 0.8946]``: the terminal table's and Markdown's form."""
    return f"{fmt(metric['value'])} [{fmt(metric['ci_low'])}, {fmt(metric['ci_high'])}]"


def markdown(summary):
    out = [f"# {summary['model']}", "", f"Summary of `{summary['output_dir']}`.", "",
           f"Intervals: {summary['intervals']}.", ""]
    out += [f"> {note}" for note in summary["notes"]]
    out += [f"> warning: {t['task']}: {w['message']}" for t in summary["tasks"] for w in t["warnings"]]
    out += [""] if out[-1] != "" else []        # a table right under a quote would join it
    out += ["| task | benchmark | metric | value [95% CI] | n | failed | tokens (prompt/completion) | cost | wall time |",
            "|---|---|---|---|---|---|---|---|---|"]
    for t in summary["tasks"]:
        head = t["metrics"][0] if t["metrics"] else None
        out.append(f"| {t['task']} | {t['benchmark']} | {head['name'] if head else '–'} | "
                   f"{value_with_ci(head) if head else '–'} | {head['n'] if head else '–'} | "
                   f"{t['failed_samples']} | {fmt(t['prompt_tokens'])}/{fmt(t['completion_tokens'])} | "
                   f"{cost.money(t['cost'], t['currency'])} | {fmt(t['duration_s'], 1)} s |")
    if summary["overall"]:
        o = summary["overall"]
        out.append(f"| overall | | | {fmt(o['value'])} | {o['tasks']} tasks | | | | |")
        out += ["", f"Overall: {o['how']}."]
    total = summary["total"]
    out += ["", f"Total: {fmt(total['prompt_tokens'])} prompt and {fmt(total['completion_tokens'])} completion "
            f"tokens; cost {cost.money(total['cost'], total['currency'])}"
            + ("" if total["cost"] is not None else " (target.api_endpoint.pricing not set for every task)") + "."]
    for t in summary["tasks"]:
        out += ["", f"## {t['task']} ({t['benchmark']})", "",
                f"Model `{t['model_id']}` at {t['endpoint']}; params: "
                + ", ".join(f"`{k}: {v}`" for k, v in flat(t["params"])), ""]
        if t["provenance"]:
            out += provenance_lines(t["provenance"]) + [""]
        out += [f"> {note}" for note in t["notes"]]
        out += ["| metric | value | 95% CI | n | interval |", "|---|---|---|---|---|"]
        out += [f"| {m['name']} | {fmt(m['value'])} | {fmt(m['ci_low'])} – {fmt(m['ci_high'])} | {m['n']} | "
                f"{m['method']} |" for m in t["metrics"] if not m.get("one_category")]
    return "\n".join(out) + "\n"


def flat(params, prefix=""):
    """``[(key, value)]`` with nested dicts spelled ``extra.n_samples``, None and {} left out."""
    out = []
    for k, v in params.items():
        if isinstance(v, dict) and v:
            out += flat(v, f"{prefix}{k}.")
        elif v is not None and v != {}:
            out.append((f"{prefix}{k}", json.dumps(v) if isinstance(v, (list, bool)) else v))
    return out


def short(value):
    """A sha256 digest shortened to 12 hex digits (the full one in results.json)."""
    text = str(value)
    for prefix in ("sha256:", ""):
        digest = text[len(prefix):]
        if text.startswith(prefix) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
            return prefix + digest[:12]
    return text


def provenance_lines(prov):
    """The provenance block as a short Markdown list (results.json holds it whole)."""
    out = ["Provenance:", ""]
    for key, label in (("benchmark_version", "benchmark version"), ("evaltasks_version", "evaltasks"),
                       ("harness_digest", "harness digest")):
        if key in prov:
            out.append(f"- {label}: `{prov[key]}`")
    if isinstance(prov.get("runtime"), dict):
        out.append("- runtime: " + ", ".join(f"{k} `{short(v)}`" for k, v in flat(prov["runtime"])))
    for d in prov.get("datasets") or []:
        if isinstance(d, dict):
            out.append(f"- data `{d.get('file')}`: {d.get('rows') if d.get('rows') is not None else '–'} rows, "
                       f"sha256 `{short(d.get('sha256') or '–')}`")
    server = prov.get("server") if isinstance(prov.get("server"), dict) else {}
    if server:
        out.append("- server: " + "; ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}"
                                            for k, v in server.items() if v))
    return out


CSV_FIELDS = ("task", "benchmark", "model_id", "metric", "value", "ci_low", "ci_high", "interval", "n",
              "samples", "failed_samples", "prompt_tokens", "completion_tokens", "cost", "currency", "duration_s")


def csv_text(summary):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for t in summary["tasks"]:
        for m in t["metrics"]:
            writer.writerow([t["task"], t["benchmark"], t["model_id"], m["name"], m["value"], m["ci_low"],
                             m["ci_high"], m["method"], m["n"], t["samples"], t["failed_samples"],
                             t["prompt_tokens"], t["completion_tokens"], t["cost"], t["currency"], t["duration_s"]])
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
    dir, each written atomically. Returns the summary (``build``'s)."""
    run = load.load_run(output_dir)
    summary = build(run)
    for fmt in FORMATS:
        write_atomic(os.path.join(output_dir, f"summary.{fmt}"), render(summary, run, fmt))
    return summary
