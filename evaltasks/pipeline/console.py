"""What a run prints and records: the invocation and job ids, a line when a task
starts, finishes or fails, live progress, and at the end a table of the tasks
that ran (a header row; per task its model, headline metric, where results are;
under a task, a note when its server answered as another model than
``model_id`` and each of results.json's ``warnings``; when none ran, the
up-to-date tasks if there are few), and how many were up to date —
`evaltasks status <invocation>` lists every job. Job states go to the run history."""

import json
import os
import time

from doit.exceptions import UnmetDependency
from doit.reporter import ConsoleReporter

from evaltasks.config import task_spec
from evaltasks.config.overrides import recorded_override
from evaltasks.pipeline import plan
from evaltasks.harness import layout
from evaltasks.pipeline.live import LiveProgress
from evaltasks.state import job_states as states
from evaltasks.state.history import digest_of

# Up-to-date tasks named in a run's last line; beyond this, only their number.
NAMED_UP_TO_DATE = 5
# A rerun with nothing to do shows the scores: its up-to-date tasks, up to this
# many, get rows in the end table. A larger config's, and a run where something
# ran (whose table lists what ran), get the count line only.
TABLED_UP_TO_DATE = 20


class EvalReporter(ConsoleReporter):
    desc = "evaltasks: one line per task, live progress, then a summary"

    def __init__(self, outstream, options, run):
        super().__init__(outstream, options)
        self.run = run      # the actions.Run being reported
        self.live = LiveProgress(outstream)
        self.rows = []
        self.up_to_date = []
        self.recorded = []      # (doit name, spec) of the up-to-date tasks the history has heard of
        self.unrecorded = []    # up-to-date tasks the history has not heard of yet
        self.unlisted = None    # the invocation's jobs, until the history has them (_record_jobs)
        self.stop_reason = None
        self.started = {}
        self.failed = False
        self.killed = False

    def write(self, text):
        self.live.write(text)

    def _spec(self, task):
        return self.run.by_task_name.get(task.name)

    def initialize(self, tasks, selected_tasks):
        # The tasks doit was asked for: `_prepare` checks only those (see Run.select).
        self.run.select(selected_tasks)
        selected = set(selected_tasks)
        specs = [s for name, s in self.run.by_task_name.items() if name in selected or task_spec.GROUP in selected]
        self.run.history.start_invocation(
            self.run.invocation, self.run.cfg.file, self.run.cfg.output_dir,
            [recorded_override(o) for o in self.run.overrides], [])
        self.unlisted = specs
        jobs = ", ".join(f"{s.job_id} ({s.id})" for s in specs[:NAMED_UP_TO_DATE])
        if len(specs) > NAMED_UP_TO_DATE:
            jobs += f", … {len(specs)} jobs in all"
        self.write(f"invocation {self.run.invocation}: {jobs}\n")
        self.run.say = lambda text: self.write(f"{text}\n")
        self.live.start()

    def execute_task(self, task):
        self._record_jobs()
        spec = self._spec(task)
        if task.name == "_prepare":
            self.write(f"preparing: {self.run.executor.preparing}\n")
        elif spec:
            self.started[task.name] = time.time()
            self.run.history.update_job(spec.job_id, status=states.RUNNING, started=time.time())
            self.live.running[task.name] = layout.progress(spec.task_dir)
            self.write(f"running    {task.name}  job {spec.job_id}  (log: {spec.log})\n")

    def skip_uptodate(self, task):
        # No line now: complete_run counts them, and `status` lists each. The
        # history hears of them together, before the next task starts or fails
        # and at the end (one transaction, not one per task).
        spec = self._spec(task)
        if spec:
            self.unrecorded.append((task.name, spec))
            self.up_to_date.append(task.name)

    def _record_jobs(self):
        """The history hears of the invocation's jobs once, before the first task
        runs or fails, or at the end: in one transaction with the tasks found up
        to date so far, written as such at once (a rerun of 200 up-to-date tasks
        then records each job once, not as pending and then as up to date); and
        of the tasks found up to date since, each time."""
        if self.unlisted is None:
            return self._record_up_to_date()
        specs, self.unlisted = self.unlisted, None
        self.run.history.add_jobs(
            self.run.invocation, [(s.job_id, s.id, s.results, s.log) for s in specs],
            executor=self.run.executor.name, models={s.job_id: s.endpoint["model_id"] for s in specs},
            up_to_date=[(spec.job_id, spec.results) for _, spec in self.unrecorded],
            read=_headline_and_digest, code=self.run.code)
        self.recorded += self.unrecorded
        self.unrecorded = []

    def _record_up_to_date(self):
        if self.unrecorded:
            jobs = [(spec.job_id, spec.results) for _, spec in self.unrecorded]
            self.run.history.record_up_to_date(self.run.invocation, jobs, read=_headline_and_digest,
                                               code=self.run.code)
            self.recorded += self.unrecorded
            self.unrecorded = []

    def _up_to_date_rows(self):
        """The end table's rows of the up-to-date tasks, when there are few (a
        200-task rerun shows the count line only, and reads no results.json for it)."""
        if len(self.recorded) > TABLED_UP_TO_DATE:
            return []
        model = lambda spec: spec.endpoint["model_id"]
        found = [(name, spec, _read(spec.results)) for name, spec in self.recorded]
        # The plain headline: its interval would mean reading every task's samples.
        return [(name, "up to date", model(spec), _headline(results), spec.results,
                 _notes(results, model(spec))) for name, spec, results in found]

    def add_success(self, task):
        if task.name == "_prepare":
            for note in self.run.notes:
                self.write(f"{note}\n")
        if task.name == plan.SUMMARY:
            where = os.path.join(self.run.cfg.output_dir, "summary.html")
            self.write(f"summary    {where} (and summary.md, .csv, .json)\n")
        spec = self._spec(task)
        if spec:
            took = time.time() - self.started.get(task.name, time.time())
            results = _read(spec.results)
            headline = _headline(results)
            self.live.running.pop(task.name, None)
            self.run.history.record_results(spec.job_id, states.SUCCESS, finished=time.time(),
                                            duration=took, headline=headline)
            # The interval is filled in at the end, from the summary when it ran (it reads
            # every task's samples anyway: reading them here too was ~15 ms a task).
            self.rows.append((task.name, "done", spec.endpoint["model_id"], headline,
                              spec.results, _notes(results, spec.endpoint["model_id"])))
            self.write(f"done       {task.name}  {headline}  in {took:.1f}s\n")

    def add_failure(self, task, fail):
        self._record_jobs()
        message = (getattr(fail, "message", "") or fail.get_msg()).strip().splitlines()
        if task.name == "_deploy":      # one line, then the server log's last lines
            self.stop_reason = f"cannot start: {message[0] if message else 'model server failed'}"
            self.runtime_errors.append("error: " + "\n".join(message))
            return
        message = message[-1] if message else "failed"
        if task.name == plan.SUMMARY and isinstance(fail, UnmetDependency):
            # `--continue` after a failed task: no summary of a partial run, but say how to get one.
            self.failures.append({"task": task, "exception": fail})
            self.write(f"{'no summary':<10} a task failed; `evaltasks report {self.run.cfg.output_dir}` "
                       "summarises the tasks that have results\n")
            return
        if task.name == "_prepare":
            self.stop_reason = f"cannot start: {message}"
            self.runtime_errors.append(f"error: {self.stop_reason}")
            return
        spec = self._spec(task)
        killed = spec is not None and self.run.history.job(spec.job_id)["status"] == states.KILLED
        state = "killed" if killed else "FAILED"
        self.killed |= killed
        self.failed |= not killed
        if spec:
            self.live.running.pop(task.name, None)
            if not killed:      # a killed job's history already says so, and why
                took = time.time() - self.started.get(task.name, time.time())
                self.run.history.update_job(spec.job_id, status=states.FAILED, finished=time.time(),
                                            duration=took, reason=message)
            self.rows.append((task.name, state, spec.endpoint["model_id"], "", spec.log, []))
        self.failures.append({"task": task, "exception": fail})
        self.write(f"{state:<10} {task.name}  {message}\n")

    def complete_run(self):
        self._record_jobs()
        self.live.stop()
        status = (states.FAILED if self.failed or self.runtime_errors
                  else states.KILLED if self.killed else states.SUCCESS)
        self.run.history.finish_invocation(self.run.invocation, status, reason=self.stop_reason)
        rows = self._with_intervals() or self._up_to_date_rows()
        if rows:
            self.write("\n" + _table(rows))
        if self.up_to_date:
            named = ", ".join(self.up_to_date[:NAMED_UP_TO_DATE])
            more = ", …" if len(self.up_to_date) > NAMED_UP_TO_DATE else ""
            self.write(f"{len(self.up_to_date)} up to date: {named}{more} "
                       f"(`evaltasks status {self.run.invocation}` lists every job)\n")
        for error in self.runtime_errors:
            self.write(error + "\n")

    def _with_intervals(self):
        """The rows of the tasks that ran, in the config's order (not the order they
        ended in, which changes from run to run with -n), each done one's headline with
        its 95% interval: the summary's, or (no summary ran, or it lacks the task) from
        the samples."""
        summarized = {t["task"]: t["metrics"] for t in (self.run.summary or {}).get("tasks", [])}
        order = {name: i for i, name in enumerate(self.run.by_task_name)}
        rows = []
        for name, state, model, headline, where, notes in sorted(self.rows, key=lambda row: order[row[0]]):
            if state == "done":
                metrics = summarized.get(self.run.by_task_name[name].id)
                headline = (_metric_with_ci(metrics[0]) if metrics else _with_interval(where)) or headline
            rows.append((name, state, model, headline, where, notes))
        return rows


TABLE_HEADER = ("task", "state", "model", "headline metric [95% CI] (n)", "results / log")


def _table(rows):
    """The end-of-run table: a header row, then a row per task that ran, each
    note (``_notes``) on a line of its own under its task."""
    widths = [max(len(str(r[i])) for r in [TABLE_HEADER, *rows]) for i in range(4)]
    line = lambda cells: "  " + "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths)) + f"  {cells[4]}\n"
    out = line(TABLE_HEADER)
    for name, state, model, headline, where, notes in rows:
        out += line((name, state, model, headline, where))
        out += "".join(f"  {'':<{widths[0]}}  ! {note}\n" for note in notes)
    return out


def _read(results_path):
    """A task's results.json, read once for the lines about it; None when it
    cannot be read (those lines are then left out, the run is not failed)."""
    return _read_digested(results_path)[0]


def _read_digested(results_path):
    """``(_read's results, the history's digest of the file or None)``."""
    try:
        with open(results_path, "rb") as f:
            content = f.read()
    except OSError:
        return None, None
    try:
        return json.loads(content), digest_of(content)
    except ValueError:
        return None, digest_of(content)


def _headline_and_digest(results_path):
    """What the history keeps of an up-to-date task's results.json, from one read."""
    results, digest = _read_digested(results_path)
    return _headline(results), digest


def _notes(results, model_id):
    """What the table says under a task: that the server answered as another
    model, and results.json's ``warnings`` (harness/warnings.py), every one."""
    from evaltasks.harness import warnings     # only for a task shown in the table (~0.7 ms)

    if results is None:
        return []
    server = _server_note(results, model_id)
    return ([server] if server else []) + [f"warning: {w['message']}" for w in warnings.of(results)]


def _server_note(results, model_id):
    """A line when the server's replies named another model than ``model_id``
    (an alias, or another model behind that name), else None."""
    try:
        models = results["provenance"]["server"]["models"]
    except (KeyError, TypeError):
        return None
    other = [m for m in models if m != model_id]
    if not other:
        return None
    return (f"the server answered as model {', '.join(repr(m) for m in other)}, "
            f"not {model_id!r} (results.json: provenance.server)")


def _headline(results):
    """The first metric of a results.json (as read by ``_read``), e.g.
    ``accuracy=0.8450 (n=200)``, and how many samples failed when some did."""
    try:
        name, metric = next((k, v) for k, v in results["metrics"].items() if isinstance(v, dict))
        failed = results.get("failed_samples")
        return f"{name}={metric['value']:.4f} (n={metric['n']})" + (f", {failed} failed" if failed else "")
    except (KeyError, StopIteration, TypeError, AttributeError):
        return ""


def reporter_for(run):
    """The reporter class for doit's ``reporter`` option. doit makes the reporter
    itself, calling the class with (outstream, options) only: this subclass
    passes ``run`` in, the one thing the reporter needs besides."""

    class RunReporter(EvalReporter):
        def __init__(self, outstream, options):
            super().__init__(outstream, options, run)

    return RunReporter


def _with_interval(results_path):
    """The headline metric with its 95% interval from the task's samples, e.g.
    ``accuracy=0.8450 [0.7944, 0.8946] (n=200)``; None when it cannot be made."""
    from evaltasks.report import load, summary

    try:
        metric = summary.metric_rows(load.read_task(os.path.dirname(results_path)))[0]
    except Exception:   # the table must not fail a run that succeeded; the plain headline stays
        return None
    return _metric_with_ci(metric)


def _metric_with_ci(metric):
    """``accuracy=0.8450 [0.7944, 0.8946] (n=200)`` of a summary metric row."""
    from evaltasks.report import summary

    return f"{metric['name']}={summary.value_with_ci(metric)} (n={metric['n']})"
