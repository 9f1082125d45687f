"""`evaltasks ls [tasks|runs]`: the benchmark catalog and task files
(config/catalog.py), the run history's recent runs (pipeline/runs.py)."""

import json
import time

from evaltasks.cli.usage import UsageError, counts, parse_age, when


def cmd_ls(args):
    """``ls tasks``, ``ls runs``, or with neither both, one after the other."""
    if args.what:
        return LISTINGS[args.what](args)
    if args.json:
        print(json.dumps({what: listing(args, as_data=True) for what, listing in LISTINGS.items()},
                         indent=2, default=str))
        return 0
    for n, (what, listing) in enumerate(LISTINGS.items()):
        print(f"{'' if n == 0 else chr(10)}{what} (`evaltasks ls {what}`):")
        listing(args)
    return 0


def ls_tasks(args, as_data=False):
    from evaltasks.config.catalog import catalog_rows, file_task_rows
    from evaltasks.config.errors import ConfigError

    try:
        rows, files = catalog_rows(), file_task_rows(args.config)
    except ConfigError as e:
        raise UsageError(f"{args.config}: {e}") from None
    if as_data or args.json:
        data = rows + [dict(f, name=f["task"]) for f in files]
        if as_data:
            return data
        print(json.dumps(data, indent=2))
        return 0
    for r in rows:
        aliases = f" (also {', '.join(r['aliases'])})" if r["aliases"] else ""
        reference = f" [as {r['reference']}]" if r["reference"] else ""
        print(f"{r['name']:<14} {r['endpoint_type']:<5} {r['dataset_size']:>6}  {r['description']}{aliases}"
              f"{reference}")
    for f in files:
        what = f"cannot be used: {f['problem']}" if f.get("problem") else f"from {f['origin']}"
        print(f"{f['task'] or '?':<14} file  {'':>6}  {f['path']} {what}")
    return 0


def ls_runs(args, as_data=False):
    from evaltasks.pipeline.runs import fold_reruns, models, recent, scores
    from evaltasks.state.history import History

    history = History()
    since = time.time() - parse_age(args.since) if args.since else None
    invocations = recent(history, args.limit, since)
    if as_data:
        return invocations
    if args.json:
        print(json.dumps(invocations, indent=2, default=str))
        return 0
    if not invocations:
        print("no runs recorded yet")
    for inv, reruns in fold_reruns(invocations):
        folded = (f"  (+{len(reruns)} up-to-date re-run{'s' if len(reruns) > 1 else ''}, last "
                  f"{reruns[0]['id']} at {when(reruns[0]['started'])})" if reruns else "")
        print(f"{inv['id']}  {when(inv['started'])}  {inv['status']:<8}  {counts(inv['jobs']):<20}  "
              f"{models(inv['jobs'])}  {scores(inv['jobs'])}  {inv['config']} → {inv['output_dir']}{folded}")
    return 0


LISTINGS = {"tasks": ls_tasks, "runs": ls_runs}
