"""`evaltasks run`: open the config's run (pipeline/session.py, the path `doit`
takes too), then print the dry run or hand the run's tasks to doit. The whole
run, on the launcher's side; harness/run.py is the other end, one task's run
inside its container, process or Slurm job."""

from evaltasks.cli.usage import UsageError, config_path


def cmd_run(args):
    from evaltasks.pipeline import session

    overrides = args.override + (["execution.preflight=false"] if args.skip_preflight else [])
    try:
        # --force reruns the selected tasks and, unlike `doit -a`, asks the endpoint
        # again instead of answering from the response cache.
        run = session.open(config_path(args), overrides, args.task, force=args.force, keep_going=args.continue_,
                           dry_run=args.dry_run, confirm_unsafe_code=args.confirm_run_unsafe_code,
                           refresh_cache=args.force)
    except session.SessionError as e:
        raise UsageError(str(e)) from None
    if args.dry_run:
        from evaltasks.pipeline.dryrun import report

        report(run, only=args.task, forced=args.force)
        return 0
    from evaltasks.pipeline.doit_entry import run_tasks

    return run_tasks(run, args.task, jobs=args.jobs, keep_going=args.continue_, force=args.force)
