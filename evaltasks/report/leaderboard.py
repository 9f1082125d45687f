"""A leaderboard across runs: a row per run (called by its model, or its
``--label``), a column per task, each cell the task's headline metric with its
95% interval (as summary.build computes it) and a link to that task in the
run's summary.html.

The cells of one column only compare like with like when their runs measured
the same thing: the same benchmark and headline metric, the same benchmark
version, the same data files (their digests) and the same number of items. A
cell that differs from what most of its column used is marked (†) with a note
saying how, so that a 30-item run is never silently ranked against 1,319-item
ones. The ``mean`` column is the unweighted mean of a run's headline metrics,
given only when the run has every column's task (else it would rank runs on
different task sets).
"""

import csv
import glob
import io
import json
import os
from collections import Counter

from . import cost, load, summary

MARK = "†"


def expand(refs):
    """Output dirs, ids, or glob patterns the shell left alone ('results/*')."""
    out = []
    for ref in refs:
        if os.path.exists(ref) or not glob.has_magic(ref):
            out.append(ref)
            continue
        matched = sorted(p for p in glob.glob(ref) if os.path.isdir(p))
        if not matched:
            raise load.RunError(f"{ref}: no folder matches")
        out += matched
    return out


def _setting(task):
    """What a cell measured: the facts that must agree for two cells to be compared."""
    prov = task["provenance"] or {}
    data = tuple((d.get("file"), d.get("sha256")) for d in prov.get("datasets") or [] if isinstance(d, dict))
    head = task["metrics"][0] if task["metrics"] else {}
    return {"benchmark": task["benchmark"], "metric": head.get("name"), "version": prov.get("benchmark_version"),
            "data": data, "n": head.get("n")}


def _differences(mine, usual):
    notes = []
    if mine["benchmark"] != usual["benchmark"]:
        notes.append(f"benchmark {mine['benchmark']} (the others {usual['benchmark']})")
    if mine["metric"] != usual["metric"]:
        notes.append(f"metric {mine['metric']} (the others {usual['metric']})")
    if mine["version"] != usual["version"]:
        notes.append(f"benchmark version {mine['version']} (the others {usual['version']})")
    if mine["data"] != usual["data"]:
        files = sorted({f for f, _ in set(mine["data"]) ^ set(usual["data"])})
        notes.append(f"other data files or digests ({', '.join(map(str, files))})")
    if mine["n"] != usual["n"]:
        notes.append(f"{mine['n']} items (the others {usual['n']})")
    return notes


def _link(run, task_id, here):
    page = os.path.join(run.output_dir, "summary.html")
    target = f"{page}#task={task_id}" if os.path.exists(page) else \
        os.path.join(run.tasks[task_id].folder, load.RESULTS)
    path, _, anchor = target.partition("#")
    rel = os.path.relpath(os.path.abspath(path), here)
    return rel + (f"#{anchor}" if anchor else "")


def build(runs, here="."):
    """``{columns: [{task, metric, n}], rows: [{model, output_dir, cells: {task:
    cell}, mean}], notes}``; ``here`` is the folder the output goes to, so that
    links are relative to it."""
    summaries = [summary.build(run) for run in runs]
    tasks = list(dict.fromkeys(t["task"] for s in summaries for t in s["tasks"]))
    rows = []
    for name, run, s in zip(load.display_names(runs), runs, summaries):
        cells = {}
        for t in s["tasks"]:
            head = t["metrics"][0] if t["metrics"] else None
            cells[t["task"]] = {
                "benchmark": t["benchmark"], "metric": head and head["name"],
                "value": head and head["value"], "ci_low": head and head["ci_low"],
                "ci_high": head and head["ci_high"], "n": head and head["n"],
                "link": _link(run, t["task"], here), "setting": _setting(t), "marks": [],
                **{k: t[k] for k in ("prompt_tokens", "completion_tokens", "cost", "currency")}}
        rows.append({"model": name, "output_dir": s["output_dir"], "cells": cells, "total": s["total"]})
    columns, notes = [], []
    for task in tasks:
        cells = [(r, r["cells"][task]) for r in rows if task in r["cells"]]
        counts = Counter(json.dumps(c["setting"], sort_keys=True, default=str) for _, c in cells)
        usual = json.loads(counts.most_common(1)[0][0])
        usual["data"] = tuple(tuple(d) for d in usual["data"])
        for row, cell in cells:
            cell["marks"] = _differences(cell["setting"], usual)
            notes += [f"{MARK} {task}, {row['model']}: {n}" for n in cell["marks"]]
        columns.append({"task": task, "metric": usual["metric"], "n": usual["n"],
                        "mixed": any(c["marks"] for _, c in cells)})
    for row in rows:
        values = [row["cells"][t]["value"] for t in tasks if t in row["cells"]]
        complete = len(values) == len(tasks) and None not in values
        row["mean"] = sum(values) / len(values) if complete and len(tasks) > 1 else None
        row["mean_marked"] = complete and any(row["cells"][t]["marks"] for t in tasks)
    return {"columns": columns, "rows": rows, "notes": notes,
            "how": "Each cell: the task's headline metric [95% interval] (as in the run's summary); mean: the "
                   "unweighted mean of a run's headline metrics, only for runs with every task"}


def _cell_text(cell, digits=4):
    if cell is None:
        return "–"
    text = f"{summary.fmt(cell['value'], digits)} [{summary.fmt(cell['ci_low'], digits)}, " \
           f"{summary.fmt(cell['ci_high'], digits)}]"
    return text + (f" {MARK}" if cell["marks"] else "")


def markdown(board):
    cols = board["columns"]
    out = ["# Leaderboard", "",
           "| model | " + " | ".join(f"{c['task']} ({c['metric']}, n={c['n']})" for c in cols)
           + " | mean | tokens (prompt/completion) | cost |",
           "|---|" + "---|" * (len(cols) + 3)]
    for row in board["rows"]:
        cells = [_cell_text(row["cells"].get(c["task"])) for c in cols]
        mean = summary.fmt(row["mean"]) + (f" {MARK}" if row["mean_marked"] else "")
        total = row["total"]
        out.append(f"| {row['model']} | " + " | ".join(cells) + f" | {mean} | {cost.tokens(total['prompt_tokens'])}/"
                   f"{cost.tokens(total['completion_tokens'])} | {cost.money(total['cost'], total['currency'])} |")
    if board["notes"]:
        out += [""] + [f"- {n}" for n in board["notes"]]
    out += ["", "Runs: " + "; ".join(f"{r['model']} = {r['output_dir']}" for r in board["rows"]) + ".",
            "", board["how"] + ".", ""]
    usage = [{"run": r["model"], "tasks": {c["task"]: r["cells"][c["task"]] for c in cols if c["task"] in r["cells"]},
              "total": r["total"]} for r in board["rows"]]
    return "\n".join(out) + "\n" + cost.markdown(usage)


CSV_FIELDS = ("model", "output_dir", "task", "benchmark", "metric", "value", "ci_low", "ci_high", "n", "marks",
              "prompt_tokens", "completion_tokens", "cost", "currency")


def csv_text(board):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in board["rows"]:
        for c in board["columns"]:
            cell = row["cells"].get(c["task"])
            if cell:
                writer.writerow([row["model"], row["output_dir"], c["task"], cell["benchmark"], cell["metric"],
                                 cell["value"], cell["ci_low"], cell["ci_high"], cell["n"], "; ".join(cell["marks"]),
                                 cell["prompt_tokens"], cell["completion_tokens"], cell["cost"], cell["currency"]])
    return buffer.getvalue()


def render(board, fmt):
    if fmt == "md":
        return markdown(board)
    if fmt == "csv":
        return csv_text(board)
    if fmt == "json":
        return json.dumps(summary.finite(board), indent=2, ensure_ascii=False, default=list) + "\n"
    from . import html

    return html.leaderboard_page(board)
