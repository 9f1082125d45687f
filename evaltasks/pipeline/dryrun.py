"""``evaltasks run --dry-run``: what a run would do for every task, and why,
without starting or writing anything. Printing only: whether a task is up to
date, and why not, is freshness.py's (which only reads doit's database)."""

from evaltasks.pipeline.freshness import reasons, replaced, saved_inputs


def report(run, only=(), forced=False, out=print):
    """Print the plan for ``run``; return the number of tasks that would run. A
    task that would run but cannot here (data, key variable) says why; the others go on."""
    saved = saved_inputs(run.cfg.output_dir)
    out(f"dry run of {run.cfg.path} → {run.cfg.output_dir} (nothing is started or written)")
    would = 0
    for spec in run.specs:
        if only and spec.id not in only:
            continue
        verdict, why = reasons(spec, saved, forced)
        blocker = run.blocker(spec) if verdict == "would run" else None
        if blocker:
            verdict = f"cannot run: {blocker}"
        would += verdict == "would run"
        out(f"\n{spec.doit_name}: {verdict}")
        for reason in why:
            out(f"  - {reason}")
        warning = replaced(spec) if verdict == "would run" else None
        if warning:
            out(f"  ! {warning}")
        if verdict == "would run":
            out(f"  $ {run.executor.describe(spec, run.invocation)}")
    _report_server(run, would, out)
    return would


def _report_server(run, would, out):
    dep = run.cfg.deployment
    if dep is None:
        return
    from evaltasks.deploy import DeploymentError, commands, models

    if not would:
        out(f"\nmodel server ({dep.type}): not started, no task would run")
        return
    try:
        line = commands.describe(dep, run.invocation)
    except (models.ModelPackageError, DeploymentError) as e:
        line = f"(cannot start here: {e})"
    out(f"\nmodel server ({dep.type}): would start, shared by {would} task(s), ready when "
        f"GET {dep.health_url} answers 200 (at most {dep.readiness_timeout:g}s); log: {dep.log_path}")
    out(f"  $ {line}")
