"""The states of a job and of an invocation: the words the run history stores
and `status` shows, spelled here only. A module of its own, importing nothing, so
that modules which only compare states need not import the history (and sqlite3)."""

# Jobs: pending → running → success | failed | killed; up-to-date (not run: its results
# stand); not-run (the run stopped first). ``orphaned``: its launcher is gone but
# its job (container, process, Slurm job) still runs; nothing will record its
# result, and the next run of its output dir (or `evaltasks kill`) removes it.
# An invocation is running, then success, failed or killed.
PENDING, RUNNING, SUCCESS, FAILED, KILLED = "pending", "running", "success", "failed", "killed"
UP_TO_DATE, NOT_RUN, ORPHANED = "up-to-date", "not-run", "orphaned"
ACTIVE = (PENDING, RUNNING, ORPHANED)
WITH_RESULTS = (SUCCESS, UP_TO_DATE)    # the task's results.json is this job's
