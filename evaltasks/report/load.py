"""A finished run as report and compare see it: an output dir (or an invocation
or job id, looked up in the run history) → its tasks, each with its results.json
and its samples.jsonl rows, grouped into units.

A unit is one item of the benchmark with all its samples (gpqa's repeats,
humaneval's n_samples), keyed by what identifies the item itself rather than by
its position, so that two runs pair the same question even when they were made
with different limits: the benchmark's own id where it has one (mmlu_pro
``question_id``, gpqa ``record_id``, humaneval ``task_id``, ifeval ``key``),
else a digest of the question as sent (the last user message: gsm8k, math500).
"""

import hashlib
import json
import os
import re
from dataclasses import dataclass, field

from ..harness.layout import RESULTS, SAMPLES
from ..state import job_states as states

ITEM_IDS = ("question_id", "record_id", "task_id", "key")
# Fields that name a sample's group in the harness's per-group metrics ("accuracy/<group>").
GROUP_FIELDS = ("category", "domain", "subject")


class RunError(Exception):
    """Bad input to report/compare/export: one line for the user."""


@dataclass
class Task:
    id: str
    folder: str
    results: dict
    rows: list = field(repr=False)

    @property
    def benchmark(self):
        return self.results.get("benchmark", "")

    @property
    def headline(self):
        """The first metric of results.json: what the harness reports first."""
        return next((k for k, v in self.results.get("metrics", {}).items() if isinstance(v, dict)), None)

    @property
    def provenance(self):
        value = self.results.get("provenance")
        return value if isinstance(value, dict) else {}


@dataclass
class Run:
    label: str          # what the user named: an output dir or an id
    output_dir: str
    tasks: dict         # id → Task, in name order
    notes: list = field(default_factory=list)
    given_label: str | None = None     # compare --label / leaderboard --label

    @property
    def model(self):
        """The model the run evaluated, as its results.json name it (several,
        comma-separated, when its tasks named different ones)."""
        names = dict.fromkeys(t.results.get("model_id") for t in self.tasks.values())
        return ", ".join(n for n in names if n) or os.path.basename(os.path.abspath(self.output_dir))


def display_names(runs):
    """What a page calls each run: its --label, else its model; runs that
    would share a name get their folder's name after it."""
    names = [r.given_label or r.model for r in runs]
    return [f"{name} [{os.path.basename(os.path.abspath(r.output_dir))}]"
            if not r.given_label and names.count(name) > 1 else name for name, r in zip(names, runs)]


def item_key(row):
    for name in ITEM_IDS:
        value = row.get(name)
        if value not in (None, ""):
            return f"{name}:{value}"
    prompt = row.get("prompt")
    if isinstance(prompt, list):
        users = [m.get("content") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        prompt = users[-1] if users else prompt
    text = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True)
    return "prompt:" + hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:16]


def units(task, metric=None, rows=None):
    """``{item key: value}``: each item's value for ``metric`` (default: the
    headline) — the mean score of its samples, or for ``pass@k`` the unbiased
    estimate from its n samples of which c passed."""
    metric = metric or task.headline or ""
    grouped = {}
    for row in task.rows if rows is None else rows:
        grouped.setdefault(item_key(row), []).append(float(row.get("score") or 0.0))
    k = re.fullmatch(r"pass@(\d+)", metric)
    if k and int(k.group(1)) > 1:
        from ..harness.codegen import pass_at_k

        wanted = int(k.group(1))
        return {key: pass_at_k(len(s), int(sum(s)), wanted) for key, s in grouped.items() if len(s) >= wanted}
    return {key: sum(s) / len(s) for key, s in grouped.items()}


def group_rows(task, metric):
    """The rows a per-group metric (``accuracy/<group>``) is computed over, or
    None when the metric is not one the rows can rebuild."""
    if "/" not in metric or not metric.startswith(task.headline + "/"):
        return None
    group = metric.split("/", 1)[1]
    for name in GROUP_FIELDS:
        rows = [r for r in task.rows if str(r.get(name)) == group]
        if rows:
            return rows
    return None


def row_field(task, metric):
    """The 0/1 field of every row a prompt-level metric averages, when the rows
    have one (ifeval's ``prompt_level_loose_acc`` ← ``prompt_level_loose``)."""
    field = metric[:-len("_acc")] if metric.endswith("_acc") else None
    numeric = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v in (0, 1) or isinstance(v, bool)
    return field if field and task.rows and all(numeric(row.get(field)) for row in task.rows) else None


def ratio_units(task, metric):
    """``(right, total)`` per item for an instruction-level rate (ifeval's
    ``inst_level_strict_acc`` and ``…/<instruction>``: the share of instructions
    followed, each prompt holding several), or None."""
    match = re.fullmatch(r"inst_level_(strict|loose)_acc(?:/(.+))?", metric)
    if not match:
        return None
    kind, only = match.groups()
    right, total = [], []
    for row in task.rows:
        pairs = [(i, ok) for i, ok in zip(row.get("instruction_id_list") or [], row.get(f"inst_level_{kind}") or [])
                 if only is None or i == only]
        if pairs:
            right.append(sum(bool(ok) for _, ok in pairs))
            total.append(len(pairs))
    return (right, total) if total else None


def read_task(folder):
    with open(os.path.join(folder, RESULTS), encoding="utf-8") as f:
        results = json.load(f)
    rows = []
    path = os.path.join(folder, SAMPLES)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    if not isinstance(results, dict) or not isinstance(results.get("metrics"), dict):
        raise ValueError("not an evaltasks results.json (no metrics object)")
    if not all(isinstance(row, dict) for row in rows):
        raise ValueError(f"{SAMPLES} has a line that is not a JSON object")
    return Task(results.get("task") or os.path.basename(folder), folder, results, rows)


def output_dir_of(ref):
    """The output dir ``ref`` names: a folder, or an invocation/job id prefix."""
    if os.path.isdir(ref):
        return ref, []
    from evaltasks.state.history import History, UnknownId

    history = History()
    try:
        kind, ident = history.resolve(ref)
    except UnknownId as e:
        raise RunError(f"{ref}: not a folder, and {e}") from None
    jobs = history.jobs(ident) if kind == "invocation" else [history.job(ident)]
    inv = history.invocation(jobs[0]["invocation"])
    notes = [f"{j['task']}: its results.json has since been {state} (the numbers are of the newer run)"
             for j in jobs if j["status"] in states.WITH_RESULTS
             for state in [history.results_state(j)[0]] if state != "current"]
    return inv["output_dir"], notes


def load_run(ref):
    folder, notes = output_dir_of(ref)
    tasks = {}
    for name in sorted(os.listdir(folder)):
        sub = os.path.join(folder, name)
        if os.path.isfile(os.path.join(sub, RESULTS)):
            try:
                task = read_task(sub)
            except (OSError, ValueError) as e:
                raise RunError(f"{os.path.join(sub, RESULTS)}: cannot read it: {e}") from None
            tasks[task.id] = task
    if not tasks:
        raise RunError(f"{ref}: no results ({folder} has no <task>/{RESULTS}; did the run finish?)")
    return Run(ref, folder, tasks, notes)
