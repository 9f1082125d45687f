"""A recorded invocation's jobs as they are now, for `evaltasks status`, `kill`,
`logs` and `ls runs`: the run history's record (state/history.py) joined with
what the executors the jobs ran on can see of them (containers, processes,
Slurm jobs), and stopping them. The same concept as cli/jobs.py one layer down:
that module prints what this one finds."""

import os

from evaltasks.state import job_states as states


def lookup(prefix):
    """``(history, kind, full id, jobs)`` for an invocation or job id prefix;
    raises history.UnknownId when none (or more than one) matches."""
    from evaltasks.state.history import History

    history = History()
    kind, ident = history.resolve(prefix)
    jobs = history.jobs(ident) if kind == "invocation" else [history.job(ident)]
    return history, kind, ident, jobs


class Jobs:
    """What the executors an invocation ran on can see of its jobs now: their
    handles (container, process, Slurm job), or that an executor cannot be reached."""

    def __init__(self, history, invocation):
        from evaltasks.executors import base as executors

        names = {job["executor"] or "docker" for job in history.jobs(invocation)}    # older runs: Docker
        self.executors = {name: executors.for_handle_kind(name) for name in sorted(names)}
        self.output_dir = history.invocation(invocation)["output_dir"]
        self.invocation = invocation
        self._found = None

    def _look(self):
        """Ask each executor, once: Docker or Slurm may take a moment to answer."""
        from evaltasks.executors import base as executors

        if self._found is None:
            self._found, self._unreachable = {}, {}
            for name, executor in self.executors.items():
                try:
                    for handle in executor.find(self.output_dir, invocation=self.invocation):
                        self._found.setdefault(handle.job, []).append(handle)
                except executors.Unavailable as e:
                    self._unreachable[name] = e
        return self._found

    @property
    def unreachable(self):
        self._look()
        return self._unreachable

    def handles(self, job=None):
        return [h for j, hs in self._look().items() if job in (None, j) for h in hs]

    def running(self, job):
        """Whether ``job`` still runs; None when its executor cannot tell."""
        if self.handles(job):
            return any(h.running for h in self.handles(job))
        return None if self.unreachable else False

    def kind(self):
        return "/".join(sorted({e.kind for e in self.executors.values()})) or "job"


def refresh(history, invocation, jobs=None):
    """Let the history repair an invocation whose launcher is gone (history.refresh),
    asking its executors whether each job still runs. The Jobs it asked."""
    jobs = jobs or Jobs(history, invocation)
    history.refresh(invocation, jobs.running, kind=jobs.kind())
    return jobs


def job_view(history, job, jobs):
    """``job``'s history record with what `status` shows besides: whether its
    results.json is still its own, its live container/process/Slurm job, its progress."""
    from evaltasks.harness import layout
    from evaltasks.pipeline.live import describe, read_progress

    view = dict(job)
    # A later run may have written another results.json over this job's.
    view["results_state"], view["replaced_by"] = (history.results_state(job)
                                                  if job["status"] in states.WITH_RESULTS else (None, None))
    found = jobs.handles(job["id"])
    view["live"] = None
    if found:
        kind = jobs.executors[found[0].executor].kind
        view["live"] = {"executor": found[0].executor, "kind": kind, "id": found[0].id,
                          "label": found[0].label, "state": found[0].state}
    progress_file = layout.progress(os.path.dirname(job["results_path"]))
    progress = read_progress(progress_file) if job["status"] == states.RUNNING else None
    view["progress"] = progress
    view["progress_text"] = describe(progress) if progress else ""
    return view


def server_log(output_dir):
    """The output dir's model server log, when a run there deployed one."""
    from evaltasks.deploy import SERVER_DIR

    path = os.path.join(output_dir, SERVER_DIR, "logs", "server.log")
    return path if os.path.exists(path) else None


def kill(history, kind, ident, live, found):
    """Stop the ``live`` jobs of invocation or job ``ident`` (``kind``): mark them
    killed, stop an invocation's launcher and model server, remove their
    containers, processes or Slurm jobs (``found``, a Jobs) and the results.json
    a stopped job may have left half-written. The handles removed."""
    import signal

    from evaltasks.state import history as history_module

    inv = history.invocation(live[0]["invocation"])
    history.mark_killed(ident if kind == "invocation" else None, [j["id"] for j in live],
                        reason=history_module.KILLED_BY_USER)
    # Killing an invocation stops its launcher too, or it would start the jobs still pending.
    if (kind == "invocation" and inv["finished"] is None and inv["pid"] != os.getpid()
            and history_module.launcher_alive(inv)):
        os.kill(inv["pid"], signal.SIGTERM)
    removed = found.handles(None if kind == "invocation" else ident)
    for handle in removed:
        found.executors[handle.executor].stop(handle)
    if kind == "invocation":    # its model server, should its launcher be gone already
        from evaltasks.deploy.server import stop_recorded

        stop_recorded(inv["output_dir"], invocation=ident)
    for job in live:     # a pending job wrote nothing: a results.json there is an earlier run's
        if job["status"] != states.PENDING and os.path.exists(job["results_path"]):
            os.unlink(job["results_path"])
    return removed
