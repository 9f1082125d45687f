"""Run history: a small SQLite database of invocations and their jobs, in the
user's state directory (``$EVALTASKS_STATE_DIR``, else ``$XDG_STATE_HOME/evaltasks``,
else ``~/.local/state/evaltasks``).

Every call opens its own short connection, so threads and concurrent launchers
can write at once (SQLite's WAL journal and a busy timeout serialise them)."""

import json
import os
import sqlite3
import time
from contextlib import closing

TERMINAL = ("success", "failed", "killed", "up-to-date")
KILLED_BY_USER = "stopped by `evaltasks kill`"
SCHEMA = """
create table if not exists invocations (
    id text primary key, started real, finished real, config text, output_dir text,
    overrides text, pid integer, host text, status text
);
create table if not exists jobs (
    id text primary key, invocation text, task text, status text, started real,
    finished real, duration real, container_id text, headline text, results_path text,
    log_path text, reason text
);
create index if not exists jobs_by_invocation on jobs (invocation);
"""


class UnknownId(Exception):
    pass


def state_dir():
    explicit = os.environ.get("EVALTASKS_STATE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "evaltasks")


class History:
    def __init__(self, path=None):
        self.path = path or os.path.join(state_dir(), "history.db")
        self._ready = False

    def _connect(self):
        if not self._ready:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.row_factory = sqlite3.Row
        if not self._ready:
            conn.execute("pragma journal_mode=wal")
            conn.executescript(SCHEMA)
            self._ready = True
        return conn

    def _write(self, sql, args):
        with closing(self._connect()) as conn, conn:
            conn.execute(sql, args)

    def _read(self, sql, args=()):
        if not os.path.exists(self.path):
            return []
        with closing(self._connect()) as conn:
            return [dict(row) for row in conn.execute(sql, args)]

    # -- writing --------------------------------------------------------
    def start_invocation(self, invocation, config, output_dir, overrides, jobs):
        """Record an invocation and its jobs (``[(job_id, task, results, log)]``) as pending."""
        with closing(self._connect()) as conn, conn:
            conn.execute("insert into invocations values (?,?,?,?,?,?,?,?,?)",
                         (invocation, time.time(), None, config, output_dir, json.dumps(list(overrides)),
                          os.getpid(), os.uname().nodename, "running"))
            conn.executemany("insert into jobs (id, invocation, task, status, results_path, log_path) "
                             "values (?,?,?,?,?,?)",
                             [(j, invocation, t, "pending", r, l) for j, t, r, l in jobs])

    def update_job(self, job_id, **fields):
        """Set fields of a job; a job already killed keeps that status."""
        names = ", ".join(f"{k} = ?" for k in fields)
        self._write(f"update jobs set {names} where id = ? and status != 'killed'",
                    (*fields.values(), job_id))

    def finish_invocation(self, invocation, status):
        self._write("update invocations set finished = ?, status = ? where id = ? and status != 'killed'",
                    (time.time(), status, invocation))
        # Jobs that never started (a failure stopped the run) stay visible as such.
        self._write("update jobs set status = 'not-run' where invocation = ? and status = 'pending'",
                    (invocation,))

    def mark_killed(self, invocation, job_ids, reason):
        now = time.time()
        with closing(self._connect()) as conn, conn:
            for job_id in job_ids:
                conn.execute("update jobs set status = 'killed', finished = ?, reason = ?, "
                             "duration = ? - coalesce(started, ?) where id = ? and status in "
                             "('pending', 'running')", (now, reason, now, now, job_id))
            if invocation:
                conn.execute("update invocations set status = 'killed', finished = ? where id = ?",
                             (now, invocation))

    # -- reading --------------------------------------------------------
    def resolve(self, prefix):
        """``('invocation' | 'job', full_id)`` for a unique id prefix."""
        if not prefix:
            raise UnknownId("empty id")
        like = prefix.replace("%", "").replace("_", r"\_") + "%"
        invocations = [r["id"] for r in self._read(
            r"select id from invocations where id like ? escape '\'", (like,))]
        jobs = [r["id"] for r in self._read(r"select id from jobs where id like ? escape '\'", (like,))]
        if prefix in invocations:
            return "invocation", prefix
        if prefix in jobs:
            return "job", prefix
        # A prefix of an invocation id is also a prefix of its jobs' ids: one
        # matching invocation means that invocation.
        if len(invocations) == 1:
            return "invocation", invocations[0]
        matches = [("invocation", i) for i in invocations] + [("job", j) for j in jobs]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UnknownId(f"no invocation or job with id '{prefix}' (see `evaltasks ls runs`)")
        shown = ", ".join(m[1] for m in matches[:5])
        raise UnknownId(f"id '{prefix}' is ambiguous: {shown}{', …' if len(matches) > 5 else ''}")

    def invocation(self, invocation):
        rows = self._read("select * from invocations where id = ?", (invocation,))
        return rows[0] if rows else None

    def job(self, job_id):
        rows = self._read("select * from jobs where id = ?", (job_id,))
        return rows[0] if rows else None

    def jobs(self, invocation):
        rows = self._read("select * from jobs where invocation = ?", (invocation,))
        return sorted(rows, key=lambda r: int(r["id"].rsplit(".", 1)[1]))

    def invocations(self, limit=20, since=None):
        return self._read("select * from invocations where started >= ? order by started desc limit ?",
                          (since or 0, limit))
