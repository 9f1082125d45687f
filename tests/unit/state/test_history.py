"""The run history: id prefixes, job states, and concurrent writers."""

import multiprocessing

import pytest

from evaltasks.state.history import History, UnknownId


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
