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

from evaltasks.data.cache_dir import cache_dir

from . import compare, cost, load
from .summary import flat, short


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept in the user's cache folder. Compiling the pages'
    templates took ~50 ms of every run's summary task (a third of it for 1,319
    samples); loading them back takes ~1.5 ms. Jinja checks each entry against the
    template's source and its own and Python's versions. A folder we cannot write
    or a damaged entry only means compiling, as without the cache."""

    def __init__(self):
        super().__init__(str(cache_dir() / "jinja"))

    def load_bytecode(self, bucket):
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError, TypeError):
            bucket.reset()

    def dump_bytecode(self, bucket):
        try:
            os.makedirs(self.directory, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:
            pass


_env = jinja2.Environment(loader=jinja2.PackageLoader("evaltasks.report", "templates"),
                          autoescape=True, trim_blocks=True, lstrip_blocks=True,
                          bytecode_cache=_CompiledTemplates())
_env.filters["num"] = lambda v, d=4: "–" if v is None or (isinstance(v, float) and math.isnan(v)) else (
    f"{v:.{d}f}" if isinstance(v, float) else str(v))
_env.filters["signed"] = lambda v, d=4: "–" if v is None else f"{v:+.{d}f}"
# p-values: the markdown's rule (7.2e-11 stays 7.2e-11, not 0.0000).
_env.filters["p"] = compare.fmt


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
    """gzip + base64 of the rows' JSON: what a ``<script type=application/gzip>`` holds.
    Level 1: a sixth larger than level 6 on gsm8k's samples, a quarter of the time
    (5 against 17 ms for 1,319 samples), which every run's summary pays."""
    raw = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, 1, mtime=0)).decode("ascii")


def ticks(lo, hi, most=6):
    """Round tick positions covering [lo, hi]: steps of 1, 2, 2.5 or 5 × 10^k."""
    span = hi - lo
    for step in (m * 10 ** e for e in range(-4, 6) for m in (1, 2, 2.5, 5)):
        if span / step <= most:
            break
    first = math.ceil(lo / step - 1e-9)
    return [round(k * step, 10) for k in range(first, math.floor(hi / step + 1e-9) + 1)]


CHAR_PX = 7.2           # a generous average width of a 12 px system-ui character


def chart(bars, centre=None, axis="score", centre_label="no difference"):
    """An inline SVG of horizontal intervals: ``bars`` = [(label, value, low,
    high)], each with its label on the left and its numbers on the right; an
    x axis with ticks and ``axis`` as its title; ``centre`` draws a labelled
    reference line (0 for differences). The margins are sized from the
    longest label and value text, and the SVG scales to its container (its
    viewBox), so on a narrow window it shrinks rather than being cut."""
    signed = centre is not None
    shown = lambda v: "–" if v is None or math.isnan(v) else (f"{v:+.4f}" if signed else f"{v:.4f}")
    texts = [f"{shown(v)} [{shown(lo)}, {shown(hi)}]" for _, v, lo, hi in bars]
    row, plot = 26, 320
    left = 12 + CHAR_PX * max([len(b[0]) for b in bars] + [4])
    right = 16 + CHAR_PX * max([len(t) for t in texts] + [4])
    width = left + plot + right
    values = [x for _, v, lo, hi in bars for x in (v, lo, hi) if x is not None and not math.isnan(x)]
    lo = min(values + [0.0] + ([centre] if signed else []))
    hi = max(values + [1.0 if not signed else 0.0])
    if hi - lo < 1e-9:
        hi = lo + 1
    marks = ticks(lo, hi)
    lo, hi = min(lo, marks[0]), max(hi, marks[-1])
    x = lambda v: left + plot * (v - lo) / (hi - lo)
    top = 24 if signed else 8
    base = top + row * len(bars)
    height = base + 44
    return _env.get_template("chart.svg.j2").render(
        bars=[(*b, t) for b, t in zip(bars, texts)], x=x, row=row, top=top, base=base, width=round(width),
        left=left, plot=plot, height=height, lo=lo, hi=hi, centre=centre, marks=marks, axis=axis,
        centre_label=centre_label,
        tick=lambda v: f"{v:+g}" if signed and v else f"{v:g}")


_env.globals.update(flat=flat, short=short, money=cost.money)
_env.filters["tokens"] = cost.tokens


def summary_page(summary, run):
    bars = [(t["task"] + " " + t["metrics"][0]["name"], t["metrics"][0]["value"], t["metrics"][0]["ci_low"],
             t["metrics"][0]["ci_high"]) for t in summary["tasks"] if t["metrics"]]
    blocks = {t["task"]: packed(sample_rows(run.tasks[t["task"]])) for t in summary["tasks"]}
    return _env.get_template("summary.html.j2").render(s=summary, chart=chart(bars, axis="score (95% interval)"),
                                                        blocks=blocks)


def compare_page(result, runs, here=None):
    """``here``: the folder the page will be written to, so links to each run's
    summary.html are relative and survive moving both together."""
    def link(run):
        target = os.path.abspath(os.path.join(run.output_dir, "summary.html"))
        return os.path.relpath(target, here) if here else "file://" + target
    links = {r.label: link(r) for r in runs}
    display = load.display_names(runs)
    names = dict(zip((r.label for r in runs), display))
    bars = [(f"{names[c['run']]}: {e['task']}", e["diff"], e["ci_low"], e["ci_high"])
            for c in result["comparisons"] for e in c["tasks"] if e.get("p") is not None]
    axis = f"B − A, {names[result['baseline']]} = A (95% interval)"
    return _env.get_template("compare.html.j2").render(
        r=result, links=links, names=names, usage=cost.runs_usage(runs, display),
        folders={r.label: os.path.abspath(r.output_dir) for r in runs}, chart=chart(bars, centre=0.0, axis=axis))


def leaderboard_page(board):
    from .leaderboard import MARK

    return _env.get_template("leaderboard.html.j2").render(b=board, mark=MARK)
