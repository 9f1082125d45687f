"""Glue between a config and doit, for ``dodo.py`` and for the ``evaltasks`` CLI.

Config errors end the process here with one line and exit code 2, before doit
opens its database or anything else starts."""

import os
import sys

from . import config, plan, runner


def fail(message, code=2):
    sys.stderr.write(f"error: {message}\n")
    sys.exit(code)


def prepare(config_path, overrides, invocation=None, cwd=None, create=True):
    """Load and validate the config and plan its tasks; create the output dir
    (doit keeps its database there) only once all of that succeeded, and only
    when ``create`` (a dry run writes nothing)."""
    if not config_path:
        fail("no config given: run `doit config=path/to/config.yaml` "
             "or `evaltasks run --config path/to/config.yaml`")
    try:
        cfg = config.load(config_path, overrides, cwd=cwd)
        run = runner.Run(cfg, invocation, overrides)
    except config.ConfigError as e:
        fail(f"{config_path}: {e}")
    if create:
        os.makedirs(cfg.output_dir, exist_ok=True)
        run.install_signal_handlers()
    return run


def from_doit_command_line():
    """``(DOIT_CONFIG, task generator)`` from doit's ``name=value`` variables."""
    from doit import get_initial_workdir
    from doit.doit_cmd import _CMDLINE_VARS  # every name=value doit parsed, in order

    variables = dict(_CMDLINE_VARS or {})
    config_path = variables.pop("config", None)
    # doit runs from dodo.py's folder; paths on the command line mean the caller's.
    run = prepare(config_path, [f"{k}={v}" for k, v in variables.items()], cwd=get_initial_workdir())

    def task_generator():
        yield from run.doit_tasks()

    task_generator.__doc__ = f"evaluations from {config_path}"
    return plan.doit_config(run), task_generator
