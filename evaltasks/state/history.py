"""Run history: a small SQLite database of invocations and their jobs, in the
user's state directory (``$EVALTASKS_STATE_DIR``, else ``$XDG_STATE_HOME/evaltasks``,
else ``~/.local/state/evaltasks``).

Each thread keeps its own connection, so threads and concurrent launchers can
write at once (SQLite's WAL journal and a busy timeout serialise them)."""

import hashlib
import json
import os
import sqlite3
import threading
import time

from evaltasks.harness import layout
from evaltasks.state.job_states import (ACTIVE, FAILED, KILLED, NOT_RUN, ORPHANED, PENDING,
                                         RUNNING, UP_TO_DATE)

KILLED_BY_USER = "stopped by `evaltasks kill`"
LAUNCHER_GONE = "launcher exited before the job finished"
LAUNCHER_EXITED = "launcher exited before the run finished"
BUSY_TIMEOUT = 30      # seconds a launcher waits for another's write
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
create table if not exists invocation_reasons (invocation text primary key, reason text);
create table if not exists results_digests (job text primary key, digest text);
create table if not exists job_handles (job text primary key, executor text, handle text);
create table if not exists job_models (job text primary key, model text);
create table if not exists results_stats (job text primary key, size integer, mtime_ns integer, code text);
create index if not exists invocations_by_output_dir on invocations (output_dir, started);
create table if not exists confirmed_runs (invocation text primary key, source text);
"""
# Facts added since the first release live in tables of their own: an older
# launcher inserts rows by position, and would fail on a table with more columns.
INVOCATIONS = ("select i.*, r.reason from invocations i "
               "left join invocation_reasons r on r.invocation = i.id")
# ``container_id`` is the column of launchers before executors; ``executor`` and
# ``handle`` (container id, pid record, Slurm job id) say where any job ran.
# ``model``: the model_id the job asked (null for jobs of launchers before it was kept).
JOBS = ("select j.*, d.digest as results_digest, h.executor, h.handle, m.model from jobs j "
        "left join results_digests d on d.job = j.id left join job_handles h on h.job = j.id "
        "left join job_models m on m.job = j.id")


# A run that found every job up to date, each results.json unchanged since the
# output dir's last record of them (invocation ``source``'s), keeps no jobs rows
# of its own (``confirmed_runs``): its jobs are ``source``'s, numbered alike, each
# up to date (``_confirmed``). A rerun of 200 up-to-date tasks then writes one
# row, not 1,000 (issue 22); the readers below see its jobs as any other's.


class UnknownId(Exception):
    pass


def state_dir():
    explicit = os.environ.get("EVALTASKS_STATE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "evaltasks")


def _set_up(conn):
    """WAL journal and the tables, on a database other launchers may be opening
    at the same moment. Switching to WAL does not wait on the busy handler: while
    another connection writes (e.g. a launcher creating the tables of a new
    database), the switch fails at once with "database is locked"; so it is
    retried for as long as a write would wait."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            conn.execute("pragma journal_mode=wal")
            conn.executescript(SCHEMA)
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class History:
    def __init__(self, path=None):
        self.path = path or os.path.join(state_dir(), "history.db")
        self._ready = False
        self._local = threading.local()

    def _connect(self):
        # One connection per thread (and process), kept open: closing the last
        # connection checkpoints the WAL with an fsync, and with an fsync per
        # commit too, recording 200 up-to-date tasks took ~2 s. synchronous=normal
        # may lose the last commits on a power cut, never the database.
        mine = getattr(self._local, "conn", None)
        if mine and mine[0] == os.getpid():
            return mine[1]
        if not self._ready:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT)
        conn.row_factory = sqlite3.Row
        conn.execute("pragma synchronous=normal")
        if not self._ready:
            _set_up(conn)
            self._ready = True
        self._local.conn = (os.getpid(), conn)
        return conn

    def _write(self, sql, args):
        with self._connect() as conn:      # one transaction
            conn.execute(sql, args)

    def _read(self, sql, args=()):
        if not os.path.exists(self.path):
            return []
        return [dict(row) for row in self._connect().execute(sql, args)]

    # -- writing --------------------------------------------------------
    def start_invocation(self, invocation, config, output_dir, overrides, jobs, executor="docker", models=None):
        """Record an invocation and its jobs (``[(job_id, task, results, log)]``) as
        pending, to be run by ``executor`` (its name); ``models``: job id → the
        model_id it asks. The jobs may come later instead (``add_jobs``)."""
        with self._connect() as conn:
            conn.execute("insert into invocations (id, started, finished, config, output_dir, overrides, "
                         "pid, host, status) values (?,?,?,?,?,?,?,?,?)",
                         (invocation, time.time(), None, config, output_dir, json.dumps(list(overrides)),
                          os.getpid(), os.uname().nodename, RUNNING))
            self._insert_jobs(conn, invocation, jobs, executor, models)

    def add_jobs(self, invocation, jobs, executor="docker", models=None, up_to_date=(), read=None, code=None):
        """Record ``invocation``'s ``jobs`` as ``start_invocation`` does, in one
        transaction with those of them already found up to date (``up_to_date``:
        ``[(job_id, results_path)]``, see ``record_up_to_date``), which are written
        so at once: a rerun with nothing to do records its 200 jobs in one pass."""
        with self._connect() as conn:
            if jobs and len(up_to_date) == len(jobs) and _confirm(conn, invocation, jobs, executor, models or {}, code):
                return
            headlines = self._up_to_date_results(conn, invocation, up_to_date, read, code)
            self._insert_jobs(conn, invocation, jobs, executor, models, dict(headlines))

    @staticmethod
    def _insert_jobs(conn, invocation, jobs, executor, models, headlines=None):
        """``headlines``: job id → headline of the jobs that are up to date."""
        headlines = headlines or {}
        conn.executemany("insert into jobs (id, invocation, task, status, results_path, log_path, headline) "
                         "values (?,?,?,?,?,?,?)",
                         [(j, invocation, t, UP_TO_DATE if j in headlines else PENDING, r, l, headlines.get(j))
                          for j, t, r, l in jobs])
        conn.executemany("insert or replace into job_handles values (?, ?, ?)",
                         [(j, executor, None) for j, *_ in jobs])
        conn.executemany("insert or replace into job_models values (?, ?)", (models or {}).items())

    def update_job(self, job_id, **fields):
        """Set fields of a job; a job already killed keeps that status."""
        names = ", ".join(f"{k} = ?" for k in fields)
        self._write(f"update jobs set {names} where id = ? and status != ?", (*fields.values(), job_id, KILLED))

    def finish_invocation(self, invocation, status, reason=None):
        """End an invocation; ``reason`` says why it stopped early (e.g. before any
        task started: the lock, Docker, the preflight)."""
        with self._connect() as conn:
            ended = conn.execute("update invocations set finished = ?, status = ? where id = ? and status != ?",
                                 (time.time(), status, invocation, KILLED)).rowcount
            if ended and reason:
                conn.execute("insert or replace into invocation_reasons values (?, ?)", (invocation, reason))
        # Jobs that never started (a failure stopped the run) stay visible as such.
        self._write("update jobs set status = ?, reason = ? where invocation = ? and status = ?",
                    (NOT_RUN, f"not started: {reason}" if reason else None, invocation, PENDING))

    def mark_killed(self, invocation, job_ids, reason):
        now = time.time()
        with self._connect() as conn:
            for job_id in job_ids:
                conn.execute("update jobs set status = ?, finished = ?, reason = ?, "
                             "duration = ? - coalesce(started, ?) where id = ? and status in (?, ?, ?)",
                             (KILLED, now, reason, now, now, job_id, *ACTIVE))
            if invocation:     # an invocation that already ended keeps its own ending
                conn.execute("update invocations set status = ?, finished = ? "
                             "where id = ? and finished is null", (KILLED, now, invocation))

    def set_handle(self, job_id, executor, handle):
        """Where the job runs: its executor's name and its handle's id there."""
        self._write("insert or replace into job_handles values (?, ?, ?)", (job_id, executor, str(handle)))

    def record_results(self, job_id, status, **fields):
        """A job that stands for a results.json (success, up-to-date): keep its
        headline and the file's digest, so a later run replacing the file shows."""
        self.record_many_results(status, [(job_id, fields)])

    def record_many_results(self, status, jobs):
        """``record_results`` for ``[(job_id, fields)]`` in one transaction (an
        up-to-date run records 200 such jobs; a transaction each cost ~40 ms)."""
        with self._connect() as conn:
            for job_id, fields in jobs:
                fields = dict(fields, status=status)
                names = ", ".join(f"{k} = ?" for k in fields)
                conn.execute(f"update jobs set {names} where id = ? and status != ?",
                             (*fields.values(), job_id, KILLED))
                row = conn.execute("select results_path from jobs where id = ?", (job_id,)).fetchone()
                conn.execute("insert or replace into results_digests values (?, ?)",
                             (job_id, digest(row["results_path"]) if row else None))

    def record_up_to_date(self, invocation, jobs, read, code):
        """Record ``invocation``'s ``jobs`` (``[(job_id, results_path)]``) as up to
        date, each with its results.json's headline and digest, in one transaction.
        ``read(path)`` gives ``(headline, digest)``; a file whose size and
        modification time are those recorded for it by the output dir's previous
        invocation, under the same launcher code (``code``), is not read again: that
        record's headline and digest stand (doit, too, takes an unchanged
        modification time for an unchanged file). A rerun of 200 up-to-date tasks
        then reads none of their results.json."""
        with self._connect() as conn:
            headlines = self._up_to_date_results(conn, invocation, jobs, read, code)
            conn.executemany("update jobs set headline = ?, status = ? where id = ? and status != ?",
                             [(headline, UP_TO_DATE, job_id, KILLED) for job_id, headline in headlines])

    @staticmethod
    def _up_to_date_results(conn, invocation, jobs, read, code):
        """Write the results digest and stats of ``record_up_to_date``'s ``jobs``;
        return their ``[(job_id, headline)]`` for the caller's jobs rows."""
        if not jobs:
            return []
        previous = conn.cursor()
        previous.row_factory = None     # plain tuples: 200 sqlite3.Row lookups by name showed
        before = {row[0]: row[1:] for row in previous.execute(
            "select j.results_path, j.headline, d.digest, s.size, s.mtime_ns, s.code from jobs j "
            "join results_stats s on s.job = j.id join results_digests d on d.job = j.id "
            "where j.invocation = ?", (_last_record(conn, invocation),))}
        headlines, digests, stats = [], [], []
        for job_id, path in jobs:
            try:
                st = os.stat(path)      # before reading: a file changed meanwhile is read again next time
                now = (st.st_size, st.st_mtime_ns, code)
            except OSError:
                now = None
            seen = before.get(path)
            if now and seen and seen[2:] == now:      # (headline, digest, size, mtime_ns, code)
                headline, found = seen[:2]
            else:
                headline, found = read(path)
            headlines.append((job_id, headline))
            digests.append((job_id, found))
            if now:
                stats.append((job_id, *now))
        conn.executemany("insert or replace into results_digests values (?, ?)", digests)
        conn.executemany("insert or replace into results_stats values (?, ?, ?, ?)", stats)
        return headlines

    def orphans_removed(self, invocation, by, kind="container"):
        """The jobs (``kind``: container, process, ...) of ``invocation``, whose launcher
        was killed, were stopped by run ``by``."""
        reason = f"{LAUNCHER_GONE}; its {kind} was removed by invocation {by}"
        self._write("update jobs set status = ?, reason = ?, finished = coalesce(finished, ?) "
                    "where invocation = ? and status in (?, ?, ?)", (FAILED, reason, time.time(), invocation, *ACTIVE))
        self.finish_invocation(invocation, FAILED, reason=LAUNCHER_EXITED)

    def refresh(self, invocation, job_running, kind="container"):
        """Crash repair: make the jobs of an invocation whose launcher is gone tell
        the truth. ``job_running(job_id)`` says whether the job (a ``kind``)
        still runs (None: its executor cannot tell)."""
        inv = self.invocation(invocation)
        jobs = [j for j in self.jobs(invocation) if j["status"] in ACTIVE]
        if not inv or not jobs or launcher_alive(inv):
            return
        for job in jobs:
            if job["status"] == PENDING:        # never started: finish_invocation says so
                continue
            if job_running(job["id"]):
                if job["status"] != ORPHANED:
                    self.update_job(job["id"], status=ORPHANED,
                                    reason=f"launcher exited; its {kind} still runs (the next run of "
                                           f"{inv['output_dir']} removes it, or `evaltasks kill {job['id']}`)")
            else:
                self.update_job(job["id"], status=FAILED, reason=LAUNCHER_GONE, finished=time.time())
        if inv["finished"] is None:
            self.finish_invocation(invocation, FAILED, reason=LAUNCHER_EXITED)

    # -- reading --------------------------------------------------------
    def resolve(self, prefix):
        """``('invocation' | 'job', full_id)`` for a unique id prefix."""
        if not prefix:
            raise UnknownId("empty id")
        like = prefix.replace("%", "").replace("_", r"\_") + "%"
        invocations = [r["id"] for r in self._read(
            r"select id from invocations where id like ? escape '\'", (like,))]
        jobs = [r["id"] for r in self._read(r"select id from jobs where id like ? escape '\'", (like,))]
        if "." in prefix:   # a job of a confirmed run, which has no rows of its own
            jobs += [j["id"] for j in self._confirmed(_parts(prefix)[0]) if j["id"].startswith(prefix)]
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
        rows = self._read(f"{INVOCATIONS} where i.id = ?", (invocation,))
        return rows[0] if rows else None

    def job(self, job_id):
        rows = (self._read(f"{JOBS} where j.id = ?", (job_id,))
                or [j for j in self._confirmed(_parts(job_id)[0]) if j["id"] == job_id])
        return rows[0] if rows else None

    def jobs(self, invocation):
        rows = self._read(f"{JOBS} where j.invocation = ?", (invocation,)) or self._confirmed(invocation)
        return sorted(rows, key=lambda r: int(_parts(r["id"])[1]))

    def _confirmed(self, invocation):
        """The jobs of ``invocation`` when it is a confirmed run (``confirmed_runs``):
        its source's, under its own ids, up to date; else []."""
        source = self._read("select source from confirmed_runs where invocation = ?", (invocation,))
        if not source:
            return []
        jobs = []
        for row in self._read(f"{JOBS} where j.invocation = ?", (source[0]["source"],)):
            job_id = f"{invocation}.{_parts(row['id'])[1]}"
            jobs.append(dict(row, id=job_id, invocation=invocation, status=UP_TO_DATE, started=None,
                             finished=None, duration=None, container_id=None, handle=None, reason=None,
                             log_path=layout.job_log(os.path.dirname(row["results_path"]), job_id)))
        return jobs

    def results_state(self, job):
        """For a job that stood for a results.json: ``("current" | "replaced" |
        "missing", id of the job whose results are there now or None)``."""
        now = digest(job["results_path"])
        if now is None:
            return "missing", None
        if job.get("results_digest") in (None, now):
            return "current", None
        rows = self._read(f"{JOBS} where j.results_path = ? and d.digest = ? "
                          "order by j.started is null, j.started limit 1", (job["results_path"], now))
        return "replaced", rows[0]["id"] if rows else None

    def last_job(self, results_path):
        """The newest recorded job that ran the task writing ``results_path``."""
        rows = self._read(f"{JOBS} where j.results_path = ? and j.started is not null "
                          "order by j.started desc limit 1", (results_path,))
        return rows[0] if rows else None

    def invocations(self, limit=20, since=None):
        return self._read(f"{INVOCATIONS} where i.started >= ? order by i.started desc limit ?",
                          (since or 0, limit))


def _parts(job_id):
    """A job id, ``<invocation>.<n>`` (task_spec.planned makes them), as ``(invocation, n)``."""
    invocation, _, number = job_id.rpartition(".")
    return invocation, number


def _last_record(conn, invocation):
    """The invocation whose jobs rows hold the output dir's record before
    ``invocation``: the one before it there, or, if that was a confirmed run, its source."""
    row = conn.execute(
        "select coalesce(c.source, p.id) from invocations p join invocations i on p.output_dir = i.output_dir "
        "left join confirmed_runs c on c.invocation = p.id where i.id = ? and p.id != i.id "
        "order by p.started desc limit 1", (invocation,)).fetchone()
    return row[0] if row else None


def _confirm(conn, invocation, jobs, executor, models, code):
    """Record ``invocation`` as a confirmed run of the last record's jobs and say
    True, when its ``jobs`` (all up to date) are those jobs, task for task (same
    number, task, results.json, executor and model), and each results.json's
    size and modification time are those recorded under this launcher ``code``
    (the headline and digest recorded still stand; see record_up_to_date)."""
    source = _last_record(conn, invocation)
    if source is None:
        return False
    rows = conn.cursor()
    rows.row_factory = None     # plain tuples, as in _up_to_date_results
    recorded = {_parts(row[0])[1]: row[1:] for row in rows.execute(
        "select j.id, j.task, j.results_path, h.executor, m.model, s.size, s.mtime_ns, s.code from jobs j "
        "join results_stats s on s.job = j.id join results_digests d on d.job = j.id "
        "left join job_handles h on h.job = j.id left join job_models m on m.job = j.id "
        "where j.invocation = ?", (source,))}
    if len(recorded) != len(jobs):
        return False
    for job_id, task, results, _ in jobs:
        seen = recorded.get(_parts(job_id)[1])
        try:
            st = os.stat(results)
        except OSError:
            return False
        if seen != (task, results, executor, models.get(job_id), st.st_size, st.st_mtime_ns, code):
            return False
    conn.execute("insert into confirmed_runs values (?, ?)", (invocation, source))
    return True


def digest(path):
    try:
        with open(path, "rb") as f:
            return digest_of(f.read())
    except OSError:
        return None


def digest_of(content: bytes) -> str:
    """The digest the history keeps of a results.json's ``content``."""
    return hashlib.sha256(content).hexdigest()


def launcher_alive(inv):
    """Whether the process that launched ``inv`` still runs. Another host's
    launcher counts as alive (we cannot look). A pid reused by a later process
    does not count: that process started after the invocation did."""
    if inv["host"] != os.uname().nodename:
        return True
    try:
        os.kill(inv["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = _process_start(inv["pid"])
    return started is None or started <= inv["started"] + 1


def _process_start(pid):
    """Epoch seconds at which ``pid`` started, from /proc (None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
