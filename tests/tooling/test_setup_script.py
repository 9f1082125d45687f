"""scripts/setup.sh waits for another apt/dpkg's locks (bounded) instead of
failing at once. The functions run from the sourced script, on lock files of
the test's own, held the way apt and dpkg hold theirs (fcntl)."""

import fcntl
import os
import subprocess

from conftest import REPO


def wait_for_apt_locks(lock, wait):
    """setup.sh's wait, on ``lock`` only, in the background."""
    script = f'source {REPO}/scripts/setup.sh; apt_locks=("$1"); wait_for_apt_locks && echo free'
    return subprocess.Popen(["bash", "-c", script, "setup", str(lock)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, EVALTASKS_APT_LOCK_WAIT=str(wait)))


def hold(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.lockf(fd, fcntl.LOCK_EX)
    return fd


def test_a_free_lock_does_not_wait(tmp_path):
    (tmp_path / "lock").touch()
    out, err = wait_for_apt_locks(tmp_path / "lock", 600).communicate(timeout=30)
    assert out == "free\n" and err == ""                # no "waiting for" line: it never waited


def test_a_held_lock_is_waited_for_and_says_so(tmp_path):
    lock = tmp_path / "lock"
    fd = hold(lock)
    try:
        waiting = wait_for_apt_locks(lock, 600)
        said = waiting.stdout.readline()                   # it says it waits, then waits
        assert waiting.poll() is None                      # still waiting, not failed
    finally:
        os.close(fd)                                       # the other apt is done
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert said + out == f"[setup] another apt/dpkg holds {lock}: waiting for it (at most 600s)\nfree\n"


def test_the_wait_is_bounded_and_the_error_names_the_lock(tmp_path):
    lock = tmp_path / "lock"
    fd = hold(lock)
    try:
        out, err = wait_for_apt_locks(lock, 2).communicate(timeout=30)
    finally:
        os.close(fd)
    assert "free" not in out
    assert err.startswith(f"[setup] error: {lock} still held after 2s") and len(err.splitlines()) == 1
