"""Glue between a Run and doit, both ways: ``from_doit_command_line`` for
dodo.py (doit loads it, and reads DOIT_CONFIG and the task generator from it),
``run_tasks`` for `evaltasks run` (doit in this process, given the Run's tasks).
Either way the Run comes from session.open.

The only module that touches doit's internals (``_CMDLINE_VARS``, below), and
reads doit's command line before doit does: dodo.py is loaded before doit parses
its own options, yet the session must know which tasks will run to refuse one
that cannot. A session error ends the process here with one line and exit
code 2, before doit opens its database or anything else starts."""

import sys

from evaltasks.config import task_spec
from evaltasks.pipeline import plan, session, shutdown


def fail(message, code=2):
    sys.stderr.write(f"error: {message}\n")
    sys.exit(code)


def doit_config(run):
    """``DOIT_CONFIG`` for ``run``, with the console's reporter."""
    from evaltasks.pipeline.console import reporter_for

    return plan.doit_config(run, reporter_for(run))


# doit's commands that run no task; anything else (`doit`, `doit run`, `doit eval:x`) runs.
LOOKING = {"list", "info", "clean", "forget", "ignore", "dumpdb", "strace", "help", "tabcompletion",
           "reset-dep", "auto"}


def _doit_command(argv):
    """``(runs, selected task names)`` from doit's command line, which doit itself
    parses only after dodo.py is loaded."""
    words = [a for a in argv if not a.startswith("-") and "=" not in a]
    runs = not set(words) & LOOKING
    return runs, [w for w in words if w == task_spec.GROUP or task_spec.task_id(w) is not None]


def _doit_flags(argv):
    """``(forced, keep_going)`` from doit's own options (-a/--always-execute,
    -c/--continue), which doit parses only after dodo.py is loaded."""
    flags = [a for a in argv if a.startswith("-") and not a.startswith("--")]
    short = lambda letter: any(letter in a[1:] for a in flags if a[1:].isalpha())
    return ("--always-execute" in argv or short("a"),
            "--continue" in argv or short("c"))


def _command_line_variables():
    """Every ``name=value`` doit parsed from its command line, in order. doit's
    public ``get_var(name)`` reads one variable by name but cannot list them, and
    every name besides ``config`` is a config override, so this reads the dict
    behind it: the one private doit attribute evaltasks uses."""
    from doit.doit_cmd import _CMDLINE_VARS

    return dict(_CMDLINE_VARS or {})


def from_doit_command_line():
    """``(DOIT_CONFIG, task generator)`` from doit's ``name=value`` variables."""
    from doit import get_initial_workdir

    shutdown.collect_nothing_at_exit()      # doit's process ends with this run

    variables = _command_line_variables()
    config_path = variables.pop("config", None)
    forced, keep_going = _doit_flags(sys.argv[1:])
    runs, selected = _doit_command(sys.argv[1:])
    try:
        # doit runs from dodo.py's folder; paths on the command line mean the caller's.
        run = session.open(config_path, [f"{k}={v}" for k, v in variables.items()], selected, force=forced,
                           keep_going=keep_going, runs=runs, doit_names=True, cwd=get_initial_workdir())
    except session.SessionError as e:
        fail(str(e))

    def task_generator():
        yield from run.doit_tasks()

    task_generator.__doc__ = f"evaluations from {config_path}"
    return doit_config(run), task_generator


def run_tasks(run, selected=(), jobs=None, keep_going=False, force=False):
    """Run ``run``'s tasks with doit, in this process, as `doit` would from dodo.py
    (``-n jobs``, ``--continue``, ``--always-execute``, ``eval:<id>`` per selected
    task); doit's exit code."""
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    namespace = {"DOIT_CONFIG": doit_config(run), "task_eval": lambda: run.doit_tasks()}
    doit_args = ["run"]
    if jobs is not None:
        doit_args += ["-n", str(jobs)]
    if keep_going:
        doit_args.append("--continue")
    if force:
        doit_args.append("--always-execute")
    doit_args += [task_spec.doit_name(task_spec.id_of(t)) for t in selected]
    # No config files: a pyproject.toml or doit.cfg in the folder the user runs from
    # belongs to their project, not to this run (and parsing one cost ~3 ms per run).
    return DoitMain(ModuleTaskLoader(namespace), config_filenames=()).run(doit_args)
