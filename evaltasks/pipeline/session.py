"""Opening a run: the one path from a config to a ``Run`` ready for doit, taken by
both `evaltasks run` (cli/run.py) and `doit config=…` (dodo.py, through
doit_entry.py), so the two check the same things in the same order:

  load the config → plan its tasks → select the ones asked for → refuse a task
  that cannot run here → start (create the output dir, catch Ctrl-C)

A problem is one line, ``SessionError``; both callers print it as
``error: <line>`` and exit 2, before anything is created."""

import os
from collections.abc import Sequence

from evaltasks.config import compose, remembered, task_spec
from evaltasks.config.errors import ConfigError, OverrideError
from evaltasks.pipeline.actions import Run


class SessionError(Exception):
    """Why a run cannot be opened, one line: the config, an override, a task asked
    for that the config does not have, or a task that cannot run here."""


def open(config_path: str | None, overrides: Sequence[str] = (), selected: Sequence[str] = (),
         force: bool = False, keep_going: bool = False, *, dry_run: bool = False, runs: bool = True,
         doit_names: bool = False, cwd: str | None = None, **options) -> Run:
    """The Run of ``config_path`` with ``overrides`` (``"a.b=value"`` strings),
    started unless ``dry_run``.

    ``selected``: the tasks asked for (none: all). Task ids, each of which must be
    one of the config's (`evaltasks run -t ID`), or with ``doit_names`` doit's task
    names (``eval:<id>``, ``eval``), which doit itself checks once dodo.py is loaded.
    ``force``: the selected tasks run even if up to date; ``keep_going``: a task
    that cannot run here does not stop the others. ``dry_run``: plan and select
    only: nothing is refused, nothing created. ``runs``: False for doit commands
    that run no task (``list``, ``info``, …): nothing is refused, but the output dir
    is created (doit opens its database there). ``cwd``: where relative paths on
    the command line are taken from. ``options`` go to ``Run`` (``invocation``,
    ``confirm_unsafe_code``, ``refresh_cache``)."""
    if not config_path:
        raise SessionError("no config given: run `doit config=path/to/config.yaml` "
                           "or `evaltasks run --config path/to/config.yaml`")
    try:
        # The launcher's code, read once: the config's memo and the run history both key by it.
        signature = remembered.code_signature()
        cfg = compose.load(config_path, overrides, cwd=cwd, code_signature=signature)
        run = Run(cfg, overrides=overrides, forced=force, keep_going=keep_going,
                  code=remembered.code_digest(signature), **options)
    except OverrideError as e:       # the file is fine: do not point at it
        raise SessionError(e.where()) from None
    except ConfigError as e:
        raise SessionError(f"{config_path}: {e}") from None
    if not doit_names:
        ids = [spec.id for spec in run.specs]
        for task in selected:
            if task_spec.id_of(task) not in ids:
                raise SessionError(f"-t {task}: no such task in this config (tasks: {', '.join(ids)})")
    run.select(selected)
    if dry_run:
        return run
    if runs:
        # Refused before anything is created; the _prepare task checks the same
        # again with doit's own selection.
        refusal = run.refused()
        if refusal:
            raise SessionError(f"{cfg.path}: {refusal}")
    start(run)
    return run


def start(run: Run) -> None:
    """Create the output dir (doit keeps its database there): only once
    everything that can refuse the run has passed (a dry run writes nothing)."""
    os.makedirs(run.cfg.output_dir, exist_ok=True)
    run.install_signal_handlers()
