"""What the command modules share: the usage error every command ends with
(one line, exit 2), finding the config a command line names, reading a job or
invocation id, and the few ways the commands write times and counts."""

import os
import re
import time


class UsageError(Exception):
    """A problem with what the command line asked; main() prints ``error: <it>`` and exits 2."""


def config_path(args):
    """The config file ``--config FILE`` or ``--config-dir DIR --config-name NAME`` names."""
    if args.config:
        if args.config_dir or args.config_name:
            raise UsageError("give either --config FILE or --config-dir/--config-name, not both")
        return args.config
    if not args.config_name:
        raise UsageError("no config: give --config FILE, or --config-dir DIR --config-name NAME")
    folder = args.config_dir or "."
    candidates = [os.path.join(folder, args.config_name + ext) for ext in ("", ".yaml", ".yml")]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise UsageError(f"no config named '{args.config_name}' in {folder} "
                     f"(looked for {', '.join(os.path.basename(c) for c in candidates[1:])})")


def lookup(prefix):
    """``(history, kind, full id, jobs)`` for an invocation or job id prefix (pipeline.jobs.lookup)."""
    from evaltasks.pipeline import jobs
    from evaltasks.state.history import UnknownId

    try:
        return jobs.lookup(prefix)
    except UnknownId as e:
        raise UsageError(str(e)) from None


def parse_age(text):
    """``--since``: seconds in ``30m``, ``12h``, ``1d``, ``2w``."""
    match = re.fullmatch(r"(\d+)([smhdw])", text.strip())
    if not match:
        raise UsageError(f"--since {text!r}: expected a number and a unit, like 30m, 12h, 1d or 2w")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]


def when(ts):
    """A timestamp as local time, ``-`` when there is none."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def counts(jobs):
    """``2 failed, 3 success``: how many jobs are in each state."""
    counts = {}
    for job in jobs:
        counts[job["status"]] = counts.get(job["status"], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
