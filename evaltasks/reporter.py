"""What a run prints: a line when a task starts, finishes, fails or is skipped
as up to date, then a summary table of headline metrics and where results are."""

import json
import time

from doit.reporter import ConsoleReporter


class EvalReporter(ConsoleReporter):
    desc = "evaltasks: one line per task, then a summary"

    def __init__(self, outstream, options):
        super().__init__(outstream, options)
        self.rows = []
        self.started = {}

    def _is_eval(self, task):
        return task.name.startswith("eval:")

    def execute_task(self, task):
        if task.name == "_prepare":
            self.write("preparing: output dir lock, Docker, harness image\n")
        elif self._is_eval(task):
            self.started[task.name] = time.time()
            self.write(f"running    {task.name}  (log: {task.meta['log']})\n")

    def skip_uptodate(self, task):
        if self._is_eval(task):
            self.rows.append((task.name, "up to date", _headline(task.meta["results"]),
                              task.meta["results"]))
            self.write(f"up to date {task.name}\n")

    def add_success(self, task):
        if self._is_eval(task):
            took = time.time() - self.started.get(task.name, time.time())
            headline = _headline(task.meta["results"])
            self.rows.append((task.name, "done", headline, task.meta["results"]))
            self.write(f"done       {task.name}  {headline}  in {took:.1f}s\n")

    def add_failure(self, task, fail):
        message = (getattr(fail, "message", "") or fail.get_msg()).strip().splitlines()
        message = message[-1] if message else "failed"
        if task.name == "_prepare":
            self.runtime_errors.append(f"error: cannot start: {message}")
            return
        if self._is_eval(task):
            self.rows.append((task.name, "FAILED", "", task.meta["log"]))
        self.failures.append({"task": task, "exception": fail})
        self.write(f"FAILED     {task.name}  {message}\n")

    def complete_run(self):
        if self.rows:
            width = max(len(r[0]) for r in self.rows)
            self.write("\n")
            for name, status, headline, where in self.rows:
                self.write(f"  {name:<{width}}  {status:<10}  {headline:<22}  {where}\n")
        for error in self.runtime_errors:
            self.write(error + "\n")


def _headline(results_path):
    """The first metric of a results.json, e.g. ``accuracy=0.8450 (n=200)``."""
    try:
        with open(results_path, encoding="utf-8") as f:
            metrics = json.load(f)["metrics"]
        name, metric = next((k, v) for k, v in metrics.items() if isinstance(v, dict))
        return f"{name}={metric['value']:.4f} (n={metric['n']})"
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return ""
