"""The HTML pages: one self-contained file each (inline CSS, JS and SVG, no
network), made with Jinja2 from ``templates/``.

A task's samples ride in the page gzip-compressed and base64-encoded, one block
per task, and are unpacked (the browser's DecompressionStream) only when that
task's samples are opened, then shown a page at a time: full MMLU-Pro (12,032
samples) stays a few MB and opens at once (bench/bench_report.py measures it).
Model output is untrusted text: the page's script only ever sets textContent.
"""

import base64
import gzip
import json
import math
import os

import jinja2


_env = jinja2.Environment(loader=jinja2.PackageLoader("evaltasks.report", "templates"),
                          autoescape=True, trim_blocks=True, lstrip_blocks=True)
_env.filters["num"] = lambda v, d=4: "–" if v is None or (isinstance(v, float) and math.isnan(v)) else (
    f"{v:.{d}f}" if isinstance(v, float) else str(v))
_env.filters["signed"] = lambda v, d=4: "–" if v is None else f"{v:+.{d}f}"


def _prompt_text(prompt):
    """The question as the user sees it: the last user message (a system prompt
    or few-shot turns are the same on every row)."""
    if isinstance(prompt, list):
        users = [m.get("content") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users and isinstance(users[-1], str) else json.dumps(prompt)
    return prompt if isinstance(prompt, str) else json.dumps(prompt)


def _text(value):
    return value if value is None or isinstance(value, str) else json.dumps(value)


def sample_rows(task):
    return [{"i": r.get("index"), "p": _prompt_text(r.get("prompt")), "r": _text(r.get("response")),
             "x": _text(r.get("extracted")), "g": _text(r.get("gold")), "s": r.get("score"),
             "e": r.get("error")} for r in task.rows]


def packed(rows):
    """gzip + base64 of the rows' JSON: what a ``<script type=application/gzip>`` holds."""
    raw = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, 6, mtime=0)).decode("ascii")


def chart(bars, centre=None):
    """An inline SVG of horizontal intervals: ``bars`` = [(label, value, low, high)];
    ``centre`` draws a reference line (0 for differences)."""
    width, left, row = 640, 180, 26
    values = [x for _, v, lo, hi in bars for x in (v, lo, hi) if x is not None and not math.isnan(x)]
    lo = min(values + [0.0] + ([centre] if centre is not None else []))
    hi = max(values + [1.0 if centre is None else 0.0])
    if hi - lo < 1e-9:
        hi = lo + 1
    x = lambda v: left + (width - left - 20) * (v - lo) / (hi - lo)
    height = row * len(bars) + 30
    return _env.get_template("chart.svg.j2").render(bars=bars, x=x, row=row, width=width, left=left,
                                                      height=height, lo=lo, hi=hi, centre=centre)


def summary_page(summary, run):
    bars = [(t["task"] + " " + t["metrics"][0]["name"], t["metrics"][0]["value"], t["metrics"][0]["ci_low"],
             t["metrics"][0]["ci_high"]) for t in summary["tasks"] if t["metrics"]]
    blocks = {t["task"]: packed(sample_rows(run.tasks[t["task"]])) for t in summary["tasks"]}
    return _env.get_template("summary.html.j2").render(s=summary, chart=chart(bars), blocks=blocks)


def compare_page(result, runs, here=None):
    """``here``: the folder the page will be written to, so links to each run's
    summary.html are relative and survive moving both together."""
    def link(run):
        target = os.path.abspath(os.path.join(run.output_dir, "summary.html"))
        return os.path.relpath(target, here) if here else "file://" + target
    links = {r.label: link(r) for r in runs}
    bars = [(f"{c['run']}: {e['task']}", e["diff"], e["ci_low"], e["ci_high"])
            for c in result["comparisons"] for e in c["tasks"] if e.get("p") is not None]
    return _env.get_template("compare.html.j2").render(r=result, links=links, chart=chart(bars, centre=0.0))
