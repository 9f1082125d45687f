"""`evaltasks status`, `kill` and `logs`: an invocation's or job's state, stopping
it, its log. The same concept as pipeline/jobs.py at the command-line layer:
what the jobs are now comes from there; this parses ids and prints."""

import json
import os
import sys
import time

from evaltasks.cli.usage import UsageError, counts, lookup, when
from evaltasks.state import job_states as states


def cmd_status(args):
    from evaltasks.pipeline.jobs import job_view, refresh, server_log

    history, kind, ident, jobs = lookup(args.id)
    found = refresh(history, jobs[0]["invocation"])
    views = [job_view(history, history.job(j["id"]), found) for j in jobs]
    invocation = history.invocation(views[0]["invocation"])
    if args.json:
        print(json.dumps({"invocation": invocation, "jobs": views}, indent=2, default=str))
        return 0
    print(f"invocation {invocation['id']}  {invocation['status']}  started {when(invocation['started'])}"
          f"  finished {when(invocation['finished'])}")
    if invocation.get("reason"):
        print(f"  why: {invocation['reason']}")
    print(f"  config {invocation['config']}\n  output {invocation['output_dir']}")
    for name, executor in found.executors.items():
        if name in found.unreachable:
            print(f"  ({executor.backend} is not reachable: {executor.kind} states unknown)")
    for v in views:
        took = f"{v['duration']:.1f}s" if v["duration"] else ""
        box = f"{v['live']['kind']} {v['live']['label']} {v['live']['state']}" if v["live"] else ""
        detail = v["progress_text"] or v["headline"] or v["reason"] or ""
        print(f"  {v['id']:<16} {v['task']:<20} {v['status']:<10} {took:>8}  {detail}  {box}".rstrip())
        if v["results_state"]:
            print(f"  {'':<16} results: {v['results_path']}{_results_note(v)}")
        print(f"  {'':<16} log: {v['log_path']}")
    log = server_log(invocation["output_dir"])
    if log:
        print(f"  model server log: {log}  (evaltasks logs {invocation['id']} --server)")
    return 0


def _results_note(view):
    if view["results_state"] == "missing":
        return " (since deleted)"
    if view["results_state"] == "replaced":
        by = f"by job {view['replaced_by']}" if view["replaced_by"] else "by a run not in this history"
        return f" (since replaced {by}; this job's numbers are the ones above)"
    return ""


def _ended(job):
    """How a job that is no longer running ended, e.g. ``success (accuracy=0.84 (n=200)) at …``."""
    detail = job["headline"] or job["reason"]
    return f"{job['status']}" + (f" ({detail})" if detail else "") + (
        f" at {when(job['finished'])}" if job["finished"] else "")


def cmd_kill(args):
    from evaltasks.pipeline.jobs import kill, refresh
    from evaltasks.state.history import ACTIVE

    history, kind, ident, jobs = lookup(args.id)
    found = refresh(history, jobs[0]["invocation"])
    jobs = [history.job(j["id"]) for j in jobs]
    live = [j for j in jobs if j["status"] in ACTIVE]
    if not live:
        if kind == "job":
            print(f"job {ident} already ended: {_ended(jobs[0])}; nothing to stop")
        else:
            inv = history.invocation(ident)
            ended = f"{inv['status']} at {when(inv['finished'])}" if inv["finished"] else "its jobs have"
            print(f"invocation {ident} already ended: {ended} ({counts(jobs)}); nothing to stop")
        return 0
    if found.unreachable:
        name, problem = next(iter(found.unreachable.items()))
        raise UsageError(f"{problem}: cannot stop {found.executors[name].kind}s")
    removed = kill(history, kind, ident, live, found)
    ended = [j for j in jobs if j not in live]
    also = f"; {len(ended)} had already ended ({counts(ended)})" if ended else ""
    print(f"killed {kind} {ident}: stopped {len(live)} job(s), removed {len(removed)} {found.kind()}(s){also}")
    return 0


def cmd_logs(args):
    from evaltasks.pipeline.jobs import refresh, server_log

    history, kind, ident, jobs = lookup(args.id)
    if args.server:
        path = server_log(history.invocation(jobs[0]["invocation"])["output_dir"])
        if not path:
            raise UsageError(f"{kind} {ident}: its output dir has no model server log (no deployment)")
        with open(path, errors="replace") as f:
            sys.stdout.write(f.read())
        return 0
    if len(jobs) > 1:
        listing = ", ".join(f"{j['id']} ({j['task']})" for j in jobs)
        raise UsageError(f"invocation {ident} has {len(jobs)} jobs; pick one: {listing}")
    job = jobs[0]
    path = job["log_path"]
    position = 0
    while True:
        if os.path.exists(path):
            with open(path, "rb") as f:
                f.seek(position)
                chunk = f.read()
                position = f.tell()
            sys.stdout.write(chunk.decode(errors="replace"))
            sys.stdout.flush()
        elif not args.follow:
            raise UsageError(f"job {job['id']} has no log yet ({path})")
        if not args.follow:
            return 0
        # Only a live launcher writes to the log: stop when the job ended or its launcher did.
        refresh(history, job["invocation"])
        if history.job(job["id"])["status"] not in (states.PENDING, states.RUNNING):
            return 0
        time.sleep(0.5)
