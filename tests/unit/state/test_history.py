"""The run history.

The store: id prefixes, job states, and concurrent writers.

History that tells the truth: each job keeps its own log and numbers after a
later run replaces its results, a crashed launcher's jobs do not stay running,
a run stopped before any task started says why, and `kill` of an ended job
says how it ended."""

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO, Gsm8kModel, doit, evaltasks_cli, gone_within, wait_for_container, write_config
from support.endpoint import FakeEndpoint
from evaltasks.state.history import History, UnknownId, digest
from evaltasks.pipeline.lock import OutputDirLock

def test_prefixes_resolve_to_invocations_and_jobs(tmp_path):
    h = History(str(tmp_path / "h.db"))
    h.start_invocation("abc123000000", "c.yaml", "/out", [], [("abc123000000.0", "a", "r", "l"),
                                                              ("abc123000000.1", "b", "r", "l")])
    h.start_invocation("abd999000000", "c.yaml", "/out", [], [("abd999000000.0", "a", "r", "l")])
    assert h.resolve("abc") == ("invocation", "abc123000000")       # its jobs share the prefix
    assert h.resolve("abc123000000.1") == ("job", "abc123000000.1")
    with pytest.raises(UnknownId, match="ambiguous: abc123000000, abd999000000"):
        h.resolve("ab")
    with pytest.raises(UnknownId, match="no invocation or job with id 'zzz'"):
        h.resolve("zzz")


def test_killed_stays_killed(tmp_path):
    h = History(str(tmp_path / "h.db"))
    h.start_invocation("i1", "c.yaml", "/out", [], [("i1.0", "a", "r", "l"), ("i1.1", "b", "r", "l")])
    h.update_job("i1.0", status="running")
    h.mark_killed("i1", ["i1.0", "i1.1"], reason="stopped")
    h.update_job("i1.0", status="failed", reason="container exited 137")   # the launcher, a moment later
    h.finish_invocation("i1", "failed")
    assert [j["status"] for j in h.jobs("i1")] == ["killed", "killed"]
    assert h.job("i1.0")["reason"] == "stopped"
    assert h.invocation("i1")["status"] == "killed"


def _writer(path, n):
    h = History(path)
    for i in range(20):
        inv = f"w{n}-{i:02d}"
        h.start_invocation(inv, "c.yaml", "/out", [], [(f"{inv}.0", "t", "r", "l")])
        h.update_job(f"{inv}.0", status="running")
        h.update_job(f"{inv}.0", status="success", headline="accuracy=1.0")
        h.finish_invocation(inv, "success")


def test_concurrent_launchers_lose_nothing(tmp_path):
    path = str(tmp_path / "h.db")
    workers = [multiprocessing.Process(target=_writer, args=(path, n)) for n in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    runs = History(path).invocations(limit=1000)
    assert len(runs) == 80 and all(r["status"] == "success" for r in runs)


# What the history tells of jobs.


@pytest.fixture
def state(tmp_path, monkeypatch):
    folder = tmp_path / "state"
    monkeypatch.setenv("EVALTASKS_STATE_DIR", str(folder))
    return folder


def _invocation(stdout):
    return stdout.split()[1].rstrip(":")


def _status(ident):
    done = evaltasks_cli("status", ident, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.docker
def test_two_models_one_output_dir_each_job_keeps_its_numbers_and_log(tmp_path, state, docker_client, data_dir):
    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 6}}]
    with FakeEndpoint(Gsm8kModel(right=[0, 1, 2]), model_id="model-a") as a, \
            FakeEndpoint(Gsm8kModel(right=range(6)), model_id="model-b") as b:
        cfg = write_config(tmp_path / "c.yaml", a.chat_url, out, tasks=tasks,
                           target={"api_endpoint": {"model_id": "model-a", "url": a.chat_url, "api_key_name": None}})
        info = doit("info", "eval:gsm8k", f"config={cfg}")
        assert "'last_job': none recorded" in info.stdout, info.stdout      # no id that does not resolve

        first = evaltasks_cli("run", "--config", str(cfg))
        assert first.returncode == 0, first.stdout + first.stderr
        job_a = f"{_invocation(first.stdout)}.0"
        second = evaltasks_cli("run", "--config", str(cfg), "-o", "target.api_endpoint.model_id=model-b",
                               "-o", f"target.api_endpoint.url={b.chat_url}")
        assert second.returncode == 0, second.stdout + second.stderr
        job_b = f"{_invocation(second.stdout)}.0"

        # A third run changes nothing: the task's row in the end table and the count
        # line, no line of its own as it is skipped.
        third = evaltasks_cli("run", "--config", str(cfg), "-o", "target.api_endpoint.model_id=model-b",
                              "-o", f"target.api_endpoint.url={b.chat_url}")
        assert third.returncode == 0, third.stdout + third.stderr
    mentions = [line.split()[:2] for line in third.stdout.splitlines() if "eval:gsm8k" in line]
    assert mentions == [["eval:gsm8k", "up"], ["1", "up"]], third.stdout
    assert "1 up to date: eval:gsm8k" in third.stdout and "model-b" in third.stdout
    upto = _status(_invocation(third.stdout))["jobs"][0]
    assert upto["status"] == "up-to-date" and upto["headline"] == "accuracy=1.0000 (n=6)"

    view_a = _status(job_a)["jobs"][0]
    assert view_a["headline"] == "accuracy=0.5000 (n=6)"
    assert view_a["results_state"] == "replaced" and view_a["replaced_by"] == job_b
    text = evaltasks_cli("status", job_a).stdout
    assert "accuracy=0.5000 (n=6)" in text and f"since replaced by job {job_b}" in text
    view_b = _status(job_b)["jobs"][0]
    assert view_b["headline"] == "accuracy=1.0000 (n=6)" and view_b["results_state"] == "current"

    log_a, log_b = evaltasks_cli("logs", job_a).stdout, evaltasks_cli("logs", job_b).stdout
    assert f"invocation {job_a[:-2]}, task gsm8k" in log_a and "model-b" not in log_a
    assert f"invocation {job_b[:-2]}, task gsm8k" in log_b
    latest = (out / "gsm8k" / "logs" / "stdout.log").read_text()
    assert latest == log_b                                                  # stdout.log: the newest job's

    info = doit("info", "eval:gsm8k", f"config={cfg}")
    assert f"'last_job': {job_b} (success; evaltasks status {job_b})" in info.stdout, info.stdout

    # Killing a job that ended says how it ended, and changes nothing.
    kill = evaltasks_cli("kill", job_a)
    assert kill.returncode == 0, kill.stderr
    assert kill.stdout.startswith(f"job {job_a} already ended: success (accuracy=0.5000 (n=6))")
    assert "killed" not in kill.stdout
    kill_inv = evaltasks_cli("kill", job_b[:-2])
    assert f"invocation {job_b[:-2]} already ended: success" in kill_inv.stdout and "killed" not in kill_inv.stdout
    assert _status(job_a)["jobs"][0]["status"] == "success"
    assert _status(job_b[:-2])["invocation"]["status"] == "success"


def test_a_run_stopped_before_any_task_says_why(tmp_path, state):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", "http://127.0.0.1:9/v1/chat/completions", out)
    out.mkdir()
    holder = OutputDirLock(str(out))
    holder.acquire("a test holding the lock")
    try:
        run = evaltasks_cli("run", "--config", str(cfg))
    finally:
        holder.release()
    assert run.returncode != 0
    status = _status(_invocation(run.stdout))
    why = f"cannot start: output dir {out} is in use by another run"
    assert status["invocation"]["status"] == "failed" and status["invocation"]["reason"].startswith(why)
    job, = status["jobs"]
    assert job["status"] == "not-run" and job["reason"].startswith(f"not started: {why}")
    assert f"why: {why}" in evaltasks_cli("status", _invocation(run.stdout)).stdout


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _record(history, invocation, pid, started):
    history.start_invocation(invocation, "c.yaml", "/out", [], [(f"{invocation}.0", "a", "/out/a/r", "l"),
                                                                 (f"{invocation}.1", "b", "/out/b/r", "l")])
    with sqlite3.connect(history.path) as conn:
        conn.execute("update invocations set pid = ?, started = ? where id = ?", (pid, started, invocation))
    history.update_job(f"{invocation}.0", status="running")


def test_a_dead_launchers_jobs_are_orphaned_then_failed(tmp_path):
    h = History(str(tmp_path / "h.db"))
    _record(h, "i1", _dead_pid(), time.time())
    still_running = True
    h.refresh("i1", lambda job: still_running)
    assert [j["status"] for j in h.jobs("i1")] == ["orphaned", "not-run"]
    assert "its container still runs" in h.job("i1.0")["reason"]
    assert h.invocation("i1")["status"] == "failed"
    still_running = False
    h.refresh("i1", lambda job: still_running)
    assert h.job("i1.0")["status"] == "failed" and h.job("i1.0")["reason"] == "launcher exited before the job finished"


def test_a_reused_pid_does_not_keep_a_job_running(tmp_path):
    h = History(str(tmp_path / "h.db"))
    # This process is alive, but started long after that invocation: its pid was reused.
    _record(h, "old", os.getpid(), time.time() - 30 * 86400)
    _record(h, "live", os.getpid(), time.time())
    for inv in ("old", "live"):
        h.refresh(inv, lambda job: False)
    assert h.job("old.0")["status"] == "failed" and h.job("live.0")["status"] == "running"


def test_history_databases_work_across_versions(tmp_path):
    path = tmp_path / "h.db"
    with sqlite3.connect(path) as conn:     # the first release's schema
        conn.executescript("""
            create table invocations (id text primary key, started real, finished real, config text,
                output_dir text, overrides text, pid integer, host text, status text);
            create table jobs (id text primary key, invocation text, task text, status text, started real,
                finished real, duration real, container_id text, headline text, results_path text,
                log_path text, reason text);
            insert into invocations values ('old1', 1.0, 2.0, 'c.yaml', '/out', '[]', 1, 'h', 'success');""")
    h = History(str(path))
    h.start_invocation("new1", "c.yaml", "/out", [], [("new1.0", "a", str(tmp_path / "r.json"), "l")])
    (tmp_path / "r.json").write_text("{}")
    h.record_results("new1.0", "success")
    assert h.invocation("old1")["status"] == "success" and h.results_state(h.job("new1.0")) == ("current", None)
    # ...and the first release, using a database this one wrote, still records its runs.
    with sqlite3.connect(path) as conn:
        conn.execute("insert into invocations values ('old2', 3.0, null, 'c.yaml', '/out', '[]', 1, 'h', 'running')")


@pytest.mark.docker
def test_a_mostly_up_to_date_run_lists_only_what_ran(tmp_path, state, gsm8k_endpoint, docker_client):
    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "id": f"t{i}", "overrides": {"config.params.limit_samples": 1}} for i in range(7)]
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out, tasks=tasks)
    assert evaltasks_cli("run", "--config", str(cfg), "-n", "4").returncode == 0

    again = evaltasks_cli("run", "--config", str(cfg), "-o", "evaluation.tasks.t3.overrides.config.params.limit_samples=2")
    assert again.returncode == 0, again.stdout + again.stderr
    lines = [line for line in again.stdout.splitlines() if line.strip()]
    ran = [line for line in lines if "eval:t3" in line]
    assert len(ran) == 3            # running, done, and its row in the table
    assert "6 up to date: eval:t0, eval:t1, eval:t2, eval:t4, eval:t5, …" in again.stdout
    assert f"summary    {out / 'summary.html'}" in again.stdout    # t3 changed: the summary is rebuilt
    # ids, preparing, running, done, summary, the table's header row and t3's row, up to date
    assert len(lines) == 8, again.stdout
    listed = _status(_invocation(again.stdout))["jobs"]
    assert [j["status"] for j in listed].count("up-to-date") == 6 and all(j["headline"] for j in listed)


def test_200_up_to_date_tasks_are_recorded_with_their_digests_without_a_sync_per_write(tmp_path):
    # A run over 200 up-to-date tasks records each. At one fsync per write that
    # alone took 2-4 s (bench/bench_launcher.py measures the whole run): the
    # history is a WAL database with synchronous=NORMAL, which syncs only at
    # checkpoints, and a run's up-to-date jobs go in one transaction.
    h = History(str(tmp_path / "h.db"))
    jobs = []
    for i in range(200):
        results = tmp_path / f"r{i}.json"
        results.write_text(json.dumps({"metrics": {"accuracy": {"value": 1.0, "n": 1}}}))
        jobs.append((f"inv.{i}", f"t{i}", str(results), "l"))
    h.start_invocation("inv", "c.yaml", str(tmp_path), [], jobs)
    h.record_many_results("up-to-date", [(job_id, {"headline": f"accuracy=1.0000 (n={i})"})
                                         for i, (job_id, *_) in enumerate(jobs)])
    h.finish_invocation("inv", "success")
    listed = History(h.path).jobs("inv")
    assert [j["status"] for j in listed] == ["up-to-date"] * 200
    assert [j["headline"] for j in listed] == [f"accuracy=1.0000 (n={i})" for i in range(200)]
    # Each keeps its results' digest: replacing one file later shows in status.
    (tmp_path / "r7.json").write_text("{}")
    assert [h.results_state(j)[0] for j in listed].count("replaced") == 1
    conn = h._connect()
    assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert conn.execute("pragma synchronous").fetchone()[0] == 1      # NORMAL


def test_an_up_to_date_rerun_reuses_what_it_recorded_only_while_the_file_is_unchanged(tmp_path):
    # A rerun of 200 up-to-date tasks need not read their results.json again;
    # but a file that changed, or another launcher code, is read anew, so status
    # shows the headline and digest of what is there now.
    h = History(str(tmp_path / "h.db"))
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"metrics": {"accuracy": {"value": 0.5, "n": 2}}}))
    read = []

    def reader(path):
        read.append(path)
        if not os.path.exists(path):
            return "", None
        value = json.loads(open(path).read())["metrics"]["accuracy"]["value"]
        return f"accuracy={value:.4f}", f"digest of {value}"

    def rerun(invocation, code="code-1", out=str(tmp_path)):
        h.start_invocation(invocation, "c.yaml", out, [], [(f"{invocation}.0", "t", str(results), "l")])
        h.record_up_to_date(invocation, [(f"{invocation}.0", str(results))], read=reader, code=code)
        h.finish_invocation(invocation, "success")
        job = h.job(f"{invocation}.0")
        return job["status"], job["headline"], job["results_digest"]

    assert rerun("i1") == ("up-to-date", "accuracy=0.5000", "digest of 0.5") and len(read) == 1
    assert rerun("i2") == ("up-to-date", "accuracy=0.5000", "digest of 0.5") and len(read) == 1
    results.write_text(json.dumps({"metrics": {"accuracy": {"value": 0.25, "n": 2}}}))
    assert rerun("i3") == ("up-to-date", "accuracy=0.2500", "digest of 0.25") and len(read) == 2
    assert rerun("i4", code="code-2")[1] == "accuracy=0.2500" and len(read) == 3
    assert rerun("i5", out=str(tmp_path / "other"))[1] == "accuracy=0.2500" and len(read) == 4    # another dir
    results.unlink()
    assert rerun("i6") == ("up-to-date", "", None) and len(read) == 5


def test_jobs_recorded_late_come_in_with_the_up_to_date_ones_already_so(tmp_path):
    # A run records its jobs with the first task that runs, or at its end: those
    # found up to date by then are written as such at once, the others pending,
    # and a rerun still reuses what the last one recorded of an unchanged file.
    h = History(str(tmp_path / "h.db"))
    done, todo = tmp_path / "a.json", tmp_path / "b.json"
    done.write_text(json.dumps({"metrics": {"accuracy": {"value": 0.5, "n": 2}}}))
    read = []
    reader = lambda path: read.append(path) or ("accuracy=0.5000", "digest a")
    for invocation in ("i1", "i2"):
        h.start_invocation(invocation, "c.yaml", str(tmp_path), [], [])
        assert h.jobs(invocation) == []         # until the first task runs, or the end
        h.add_jobs(invocation, [(f"{invocation}.0", "a", str(done), "la"), (f"{invocation}.1", "b", str(todo), "lb")],
                   executor="process", models={f"{invocation}.0": "m", f"{invocation}.1": "m"},
                   up_to_date=[(f"{invocation}.0", str(done))], read=reader, code="code-1")
        h.finish_invocation(invocation, "success")
        jobs = h.jobs(invocation)
        assert [(j["status"], j["headline"], j["results_digest"], j["executor"], j["model"]) for j in jobs] == [
            ("up-to-date", "accuracy=0.5000", "digest a", "process", "m"),
            ("not-run", None, None, "process", "m")]
    assert read == [str(done)]      # the second run took the first one's record


@pytest.mark.docker
def test_kill_stops_an_orphaned_job(tmp_path, state, docker_client, data_dir):
    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 40, "config.params.parallelism": 1}}]
    with FakeEndpoint(Gsm8kModel(right=range(40)), latency=0.5) as slow:
        cfg = write_config(tmp_path / "c.yaml", slow.chat_url, out, tasks=tasks)
        launcher = subprocess.Popen([sys.executable, "-m", "evaltasks", "run", "--config", str(cfg)], cwd=REPO,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        job = wait_for_container(docker_client, f"evaltasks.output_dir={out}").labels["evaltasks.job"]
        launcher.kill()
        launcher.wait(30)
        assert _status(job)["jobs"][0]["status"] == "orphaned"
        kill = evaltasks_cli("kill", job)
        assert kill.returncode == 0, kill.stderr
        assert kill.stdout.startswith(f"killed job {job}: stopped 1 job(s), removed 1 container(s)")
        assert gone_within(docker_client, f"evaltasks.job={job}", 10)
    view = _status(job)
    assert view["jobs"][0]["status"] == "killed" and view["invocation"]["status"] == "failed"
    assert not (out / "gsm8k" / "results.json").exists()


def test_opening_the_history_while_another_launcher_writes_waits_for_it(tmp_path):
    # Switching a database to WAL does not wait for a busy handler: a launcher
    # opening a new history while another one was creating its tables failed at
    # once with "database is locked" (seen as a flake of the test above).
    path = str(tmp_path / "h.db")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("begin")
    other.execute("create table elsewhere (x)")      # holds the write lock until its commit
    threading.Timer(0.3, other.execute, ["commit"]).start()
    History(path).start_invocation("a", "c.yaml", "/out", [], [("a.0", "t", "r", "l")])
    assert [j["status"] for j in History(path).jobs("a")] == ["pending"]
    assert sqlite3.connect(path).execute("pragma journal_mode").fetchone()[0] == "wal"


def test_a_rerun_that_confirms_the_last_record_writes_no_jobs_rows_yet_lists_every_job(tmp_path):
    # A rerun with nothing to do, every results.json unchanged since the last
    # record, is kept as one row naming that record; status, ls runs and job ids
    # see its jobs as their own: up to date, under its ids, with the headlines.
    h = History(str(tmp_path / "h.db"))
    files = [tmp_path / f"t{i}" / "results.json" for i in range(3)]
    for i, f in enumerate(files):
        f.parent.mkdir()
        f.write_text(json.dumps({"metrics": {"accuracy": {"value": i / 4, "n": 4}}}))
    read = []
    reader = lambda path: read.append(path) or (f"read {os.path.basename(os.path.dirname(path))}", digest(path))

    def rerun(invocation, models="m", executor="process", code="code-1", count=3):
        h.start_invocation(invocation, "c.yaml", str(tmp_path), [], [])
        ids = [f"{invocation}.{i}" for i in range(count)]
        jobs = [(j, f"t{i}", str(files[i]), f"l{i}") for i, j in enumerate(ids)]
        h.add_jobs(invocation, jobs, executor=executor, models={j: models for j in ids},
                   up_to_date=[(j, str(files[i])) for i, j in enumerate(ids)], read=reader, code=code)
        h.finish_invocation(invocation, "success")
        with sqlite3.connect(h.path) as conn:
            rows = conn.execute("select count(*) from jobs where invocation = ?", (invocation,)).fetchone()[0]
        return rows, h.jobs(invocation)

    rows, first = rerun("i1")
    assert rows == 3 and len(read) == 3
    rows, jobs = rerun("i2")
    assert rows == 0 and len(read) == 3         # one row, no file read
    assert [(j["id"], j["invocation"], j["status"], j["headline"], j["results_digest"], j["executor"], j["model"])
            for j in jobs] == [(f"i2.{i}", "i2", "up-to-date", f"read t{i}", digest(files[i]), "process", "m")
                               for i in range(3)]
    assert [j["log_path"] for j in jobs] == [str(tmp_path / f"t{i}" / "logs" / f"i2.{i}.log") for i in range(3)]
    assert h.job("i2.1") == jobs[1] and h.job("i2.7") is None
    assert h.resolve("i2.1") == ("job", "i2.1") and h.resolve("i2") == ("invocation", "i2")
    assert h.results_state(jobs[0]) == ("current", None)
    rows, again = rerun("i3")                   # confirms the same record, not i2's nothing
    assert rows == 0 and [j["headline"] for j in again] == [j["headline"] for j in jobs] and len(read) == 3
    # Anything that differs from the record is recorded in full: a results.json
    # changed (its size here), another model, executor, launcher code, or job set.
    files[2].write_text(json.dumps({"metrics": {"accuracy": {"value": 1.0, "n": 4}}}) + "\n")
    rows, changed = rerun("i4")
    assert rows == 3 and len(read) == 4 and changed[0]["headline"] == "read t0"    # only t2 read again
    assert rerun("i5")[0] == 0
    assert rerun("i6", models="other")[0] == 3
    assert rerun("i7", models="other", executor="docker")[0] == 3
    assert rerun("i8", models="other", executor="docker", code="code-2")[0] == 3
    assert rerun("i9", models="other", executor="docker", code="code-2", count=2)[0] == 2
