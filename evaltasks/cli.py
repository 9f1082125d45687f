"""The ``evaltasks`` command: the same doit pipeline as ``dodo.py``, driven with
the reference document's command lines (``run --config-dir examples --config-name X``)."""

import argparse
import os
import sys

from . import __version__


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line and exit 2, like every other usage error.
        sys.stderr.write(f"error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def config_path(args):
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


def cmd_run(args):
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    from .doit_loader import prepare
    from .plan import doit_config
    from .reporter import EvalReporter

    run = prepare(config_path(args), args.override)
    ids = {spec["id"] for spec in run.specs}
    for task in args.task:
        if task not in ids:
            raise UsageError(f"-t {task}: no such task in this config (tasks: {', '.join(sorted(ids))})")
    namespace = {
        "DOIT_CONFIG": doit_config(run.cfg, EvalReporter),
        "task_eval": lambda: run.doit_tasks(),
    }
    doit_args = ["run"]
    if args.jobs is not None:
        doit_args += ["-n", str(args.jobs)]
    if args.continue_:
        doit_args.append("--continue")
    doit_args += [f"eval:{t}" for t in args.task]
    return DoitMain(ModuleTaskLoader(namespace)).run(doit_args)


def parser():
    p = _Parser(prog="evaltasks", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"evaltasks {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the evaluations of a config (only those not up to date)")
    run.add_argument("--config", help="config YAML file")
    run.add_argument("--config-dir", help="folder holding configs (with --config-name)")
    run.add_argument("--config-name", help="config name in --config-dir, without .yaml")
    run.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                     help="set a config value, e.g. -o target.api_endpoint.url=http://...")
    run.add_argument("-n", "--jobs", type=int, metavar="N",
                     help="tasks to run at once (default: all, or 1 with execution.mode: sequential)")
    run.add_argument("-t", "--task", action="append", default=[], metavar="ID",
                     help="run only this task (repeatable)")
    run.add_argument("--continue", dest="continue_", action="store_true",
                     help="keep running other tasks after one fails")
    run.set_defaults(func=cmd_run)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
