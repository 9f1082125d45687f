"""Past runs as `evaltasks ls runs` lists them: the newest invocations of the
run history, repaired when their launcher is gone, with their jobs; a run that
found everything up to date folded into the run whose results it found."""

from evaltasks.pipeline.jobs import refresh
from evaltasks.state import job_states as states

# Headline scores named in an `ls runs` line; beyond this, how many more.
NAMED_SCORES = 3


def recent(history, limit, since=None):
    """The ``limit`` newest invocations (started after ``since``, a timestamp),
    each with its ``jobs``. One still marked running whose launcher is gone is
    repaired first (jobs.refresh)."""
    for inv in history.invocations(limit=limit, since=since):
        if inv["status"] == states.RUNNING:
            refresh(history, inv["id"])
    return [dict(i, jobs=history.jobs(i["id"])) for i in history.invocations(limit=limit, since=since)]


def fold_reruns(invocations):
    """``[(invocation, [its up-to-date re-runs, newest first])]``: a run that
    ran nothing (every job up to date) is folded into the older listed run of
    the same output dir whose results it found, else listed on its own."""
    noop = lambda inv: inv["status"] == states.SUCCESS and inv["jobs"] and all(
        j["status"] == states.UP_TO_DATE for j in inv["jobs"])
    listed, pending = [], {}
    for inv in invocations:                 # newest first
        if noop(inv):
            pending.setdefault(inv["output_dir"], []).append(inv)
            continue
        listed.append((inv, pending.pop(inv["output_dir"], [])))
    leftover = [(inv, []) for group in pending.values() for inv in group]
    return sorted(listed + leftover, key=lambda pair: pair[0]["started"] or 0, reverse=True)


def models(jobs):
    """The models an invocation's jobs asked, e.g. ``llama, qwen``, or ``-``."""
    models = sorted({j["model"] for j in jobs if j.get("model")})
    return ", ".join(models) if models else "-"


def scores(jobs):
    """``gsm8k accuracy=0.8450, …``: each job's headline without its n."""
    scores = [f"{j['task']} {j['headline'].split(' (')[0]}" for j in jobs if j.get("headline")]
    more = f", +{len(scores) - NAMED_SCORES} more" if len(scores) > NAMED_SCORES else ""
    return (", ".join(scores[:NAMED_SCORES]) + more) if scores else "-"
