"""Glue between a config and doit, for ``dodo.py`` and for the ``evaltasks`` CLI.

Config errors end the process here with one line and exit code 2, before doit
opens its database or anything else starts."""

import os
import sys

from evaltasks.config import compose as config
from evaltasks.config.errors import ConfigError, OverrideError
from evaltasks.pipeline import plan
from evaltasks.pipeline import actions as runner


def fail(message, code=2):
    sys.stderr.write(f"error: {message}\n")
    sys.exit(code)


def prepare(config_path, overrides, invocation=None, cwd=None, create=True, **options):
    """Load and validate the config and plan its tasks (``options`` go to
    runner.Run); with ``create``, ``start`` it."""
    if not config_path:
        fail("no config given: run `doit config=path/to/config.yaml` "
             "or `evaltasks run --config path/to/config.yaml`")
    try:
        cfg = config.load(config_path, overrides, cwd=cwd)
        run = runner.Run(cfg, invocation, overrides, **options)
    except OverrideError as e:       # the file is fine: do not point at it
        fail(e.where())
    except ConfigError as e:
        fail(f"{config_path}: {e}")
    if create:
        start(run)
    return run


def doit_config(run):
    """``DOIT_CONFIG`` for ``run``, with the console's reporter."""
    from evaltasks.pipeline.console import reporter_for

    return plan.doit_config(run, reporter_for(run))


def start(run):
    """Create the output dir (doit keeps its database there): only once
    everything that can refuse the run has passed (a dry run writes nothing)."""
    os.makedirs(run.cfg.output_dir, exist_ok=True)
    run.install_signal_handlers()


# doit's commands that run no task; anything else (`doit`, `doit run`, `doit eval:x`) runs.
LOOKING = {"list", "info", "clean", "forget", "ignore", "dumpdb", "strace", "help", "tabcompletion",
           "reset-dep", "auto"}


def _doit_command(argv):
    """``(runs, selected task names)`` from doit's command line, which doit itself
    parses only after dodo.py is loaded."""
    words = [a for a in argv if not a.startswith("-") and "=" not in a]
    runs = not set(words) & LOOKING
    return runs, [w for w in words if w == "eval" or w.startswith("eval:")]


def _doit_flags(argv):
    """``(forced, keep_going)`` from doit's own options (-a/--always-execute,
    -c/--continue), which doit parses only after dodo.py is loaded."""
    flags = [a for a in argv if a.startswith("-") and not a.startswith("--")]
    short = lambda letter: any(letter in a[1:] for a in flags if a[1:].isalpha())
    return ("--always-execute" in argv or short("a"),
            "--continue" in argv or short("c"))


def from_doit_command_line():
    """``(DOIT_CONFIG, task generator)`` from doit's ``name=value`` variables."""
    from doit import get_initial_workdir
    from doit.doit_cmd import _CMDLINE_VARS  # every name=value doit parsed, in order

    variables = dict(_CMDLINE_VARS or {})
    config_path = variables.pop("config", None)
    # doit runs from dodo.py's folder; paths on the command line mean the caller's.
    forced, keep_going = _doit_flags(sys.argv[1:])
    runs, selected = _doit_command(sys.argv[1:])
    run = prepare(config_path, [f"{k}={v}" for k, v in variables.items()], cwd=get_initial_workdir(),
                  create=False, forced=forced, keep_going=keep_going)
    if runs:
        # As `evaltasks run` does: a task about to run that cannot is refused before
        # anything is created; `_prepare` checks again with doit's own selection.
        run.select(selected)
        refusal = run.refused()
        if refusal:
            fail(f"{config_path}: {refusal}")
    start(run)

    def task_generator():
        yield from run.doit_tasks()

    task_generator.__doc__ = f"evaluations from {config_path}"
    return doit_config(run), task_generator
