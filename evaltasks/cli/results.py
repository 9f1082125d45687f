"""`evaltasks report`, `compare`, `leaderboard`, `export` and `reproduce`: what
finished runs say, read from their output dirs (report/), and a config that
reruns one task's result (pipeline/reproduce.py)."""

import argparse
import json
import os
import sys

from evaltasks.cli.usage import UsageError, lookup


def cmd_reproduce(args):
    from evaltasks.harness.files import write_atomic
    from evaltasks.pipeline.reproduce import ReproduceError, config_for, dump

    path = args.what
    if not os.path.isfile(path):
        if path.endswith(".json") or os.sep in path:
            raise UsageError(f"{path}: no such file")
        history, kind, ident, jobs = lookup(path)
        if len(jobs) != 1:
            listing = ", ".join(f"{j['id']} ({j['task']})" for j in jobs)
            raise UsageError(f"invocation {ident} has {len(jobs)} jobs; pick one: {listing}")
        job = history.job(jobs[0]["id"])
        state, by = history.results_state(job)
        if state == "missing" or not os.path.isfile(job["results_path"]):
            raise UsageError(f"job {job['id']} has no results.json any more ({job['results_path']})")
        if state == "replaced":
            raise UsageError(f"job {job['id']}'s results.json was since replaced"
                             f"{f' by job {by}' if by else ''}: pass that results.json, or that job")
        path = job["results_path"]
    try:
        config, notes, comments = config_for(path)
    except ReproduceError as e:
        raise UsageError(str(e)) from None
    text = dump(config, comments)
    if args.output:
        try:
            write_atomic(args.output, text)
        except OSError as e:
            raise UsageError(f"{args.output}: cannot write it ({e.strerror})") from None
        print(f"wrote {args.output}: `evaltasks run --config {args.output}` reruns {config['evaluation']['tasks'][0]['id']} "
              "(up to date until something below differs; `doit forget` or --force runs it again)")
    else:
        sys.stdout.write(text)
    for note in notes:
        sys.stderr.write(f"cannot pin: {note}\n")
    return 0


def _write_or_print(text, path):
    """-o FILE: write ``text`` there and say so; else print it."""
    if path:
        from evaltasks.harness.files import write_atomic

        try:
            write_atomic(path, text)
        except OSError as e:
            raise UsageError(f"-o {path}: cannot write it: {e.strerror}") from None
        print(f"wrote {path}")
    else:
        sys.stdout.write(text)


def cmd_report(args):
    from evaltasks.report import load, summary

    try:
        run = load.load_run(args.run)
    except load.RunError as e:
        raise UsageError(str(e)) from None
    _write_or_print(summary.render(summary.build(run), run, args.format), args.output)
    return 0


def labelled(runs, labels):
    """--label NAME, once per run in order: what pages and tables call each run
    (default: its model)."""
    if labels and len(labels) != len(runs):
        raise UsageError(f"--label given {len(labels)} time(s) for {len(runs)} runs: give one per run, in order")
    if len(set(labels)) != len(labels):
        raise UsageError("--label: each run needs its own label")
    for run, label in zip(runs, labels):
        run.label = run.given_label = label
    return runs


def flips_shown(value):
    """``--flips``: ``all`` (None) or a count ≥ 0."""
    if value == "all":
        return None
    if value.isdigit():
        return int(value)
    raise argparse.ArgumentTypeError(f"{value!r}: give 'all' or a number of flips per task")


def cmd_compare(args):
    from evaltasks.report import compare, load

    if len(args.runs) < 2:
        raise UsageError("compare needs at least two runs: the baseline, then the run(s) to compare with it")
    try:
        runs = labelled([load.load_run(ref) for ref in args.runs], args.label)
        result = compare.compare(runs, mde_threshold=args.mde_threshold)
    except load.RunError as e:
        raise UsageError(str(e)) from None
    from evaltasks.report import cost

    usage = cost.runs_usage(runs, load.display_names(runs))
    if args.format == "json":
        from evaltasks.report.summary import finite

        text = json.dumps(finite(dict(result, usage=usage)), indent=2, ensure_ascii=False) + "\n"
    elif args.format == "html":
        from evaltasks.report import html

        text = html.compare_page(result, runs, here=os.path.dirname(os.path.abspath(args.output or ".")))
    else:
        text = compare.markdown(result, flips=args.flips) + "\n" + cost.markdown(usage)
    _write_or_print(text, args.output)
    worse = compare.regressions(result)
    if args.fail_on_regression and worse:
        sys.stderr.write("regression: " + ", ".join(f"{task} worse in {run}" for run, task in worse) + "\n")
        return 1
    return 0


def cmd_leaderboard(args):
    from evaltasks.report import leaderboard, load

    here = os.path.dirname(os.path.abspath(args.output)) if args.output else os.getcwd()
    try:
        runs = labelled([load.load_run(ref) for ref in leaderboard.expand(args.runs)], args.label)
    except load.RunError as e:
        raise UsageError(str(e)) from None
    _write_or_print(leaderboard.render(leaderboard.build(runs, here), args.format), args.output)
    return 0


def cmd_export(args):
    from evaltasks.report import export

    if args.dest == "local":
        config = {"output_dir": args.output_dir}
    elif args.dest == "wandb":
        config = {"project": args.project, "entity": args.entity, "group": args.group, "name": args.run_name,
                  "tags": args.tag, "description": args.description}
    else:
        tags = {}
        for tag in args.tag:
            key, sep, value = tag.partition("=")
            if not sep or not key:
                raise UsageError(f"--tag {tag!r}: expected KEY=VALUE")
            tags[key] = value
        config = {"tracking_uri": args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"),
                  "experiment_name": args.experiment_name, "run_name": args.run_name, "tags": tags,
                  "description": args.description}
    try:
        for line in export.export(args.runs, args.dest, config):
            print(f"exported: {line}")
    except export.ExportError as e:
        raise UsageError(str(e)) from None
    return 0
