"""scripts/setup.sh: it waits for another apt/dpkg's locks (bounded) instead of
failing at once (the functions run from the sourced script, on lock files of the
test's own, held the way apt and dpkg hold theirs: fcntl); it installs into a
venv in the checkout when python3 is externally managed (PEP 668), and only what
the demo uses. And when the harness wheelhouse cannot be filled, the message
says pip's reason."""

import fcntl
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

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


# -- where set-up installs (PEP 668), and what it installs ------------------------

def evaltasks_python(path_first):
    """What setup.sh's evaltasks_python answers with ``path_first`` first on PATH."""
    env = dict(os.environ, PATH=f"{path_first}:{os.environ['PATH']}")
    done = subprocess.run(["bash", "-c", f"source {REPO}/scripts/setup.sh; evaltasks_python"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def base_python():
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def test_a_python_pip_may_install_into_is_used_as_it_is(tmp_path):
    (tmp_path / "python3").symlink_to(base_python())
    assert evaltasks_python(tmp_path) == "python3"


def test_an_externally_managed_python_gets_a_venv_in_the_checkout(tmp_path):
    """Debian's python3 (PEP 668's marker beside its standard library) refuses
    `pip install`: set-up then installs into, and runs from, <checkout>/.venv.
    Here a real interpreter whose standard library folder holds the marker."""
    stdlib = Path(sysconfig.get_path("stdlib"))
    home = tmp_path / "prefix"
    fake = home / stdlib.relative_to(Path(sys.base_prefix))
    fake.mkdir(parents=True)
    for entry in stdlib.iterdir():
        (fake / entry.name).symlink_to(entry)
    (fake / "EXTERNALLY-MANAGED").write_text("[externally-managed]\nError=use a venv\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(f'#!/bin/sh\nPYTHONHOME={home} exec {base_python()} "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    assert evaltasks_python(bin_dir) == f"{REPO}/.venv/bin/python"


def test_set_up_installs_only_what_the_demo_uses(tmp_path):
    """On a machine with Docker and the base image, and the llama step skipped,
    set-up installs the package alone: no test extra, no chromium, no reference
    wheels (scripts/test.sh installs those), and no apt-get at all."""
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {
        # the PEP 668 check answers "not managed"; pip records what it is asked
        "python3": 'case "$1" in -c) exit 1;; esac; echo "python3 $*" >> CALLS',
        "docker": 'case "$1" in version) echo 99.0;; esac; exit 0',
        "apt-get": 'echo "apt-get $*" >> CALLS',
        "sudo": 'echo "sudo $*" >> CALLS',
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body.replace("CALLS", str(calls)) + "\n")
        (bin_dir / name).chmod(0o755)
    done = subprocess.run(["bash", f"{REPO}/scripts/setup.sh"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", EVALTASKS_SKIP_LLAMA="1"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert calls.read_text().splitlines() == [
        "python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e ."]
    assert "chromium" not in done.stdout and "reference" not in done.stdout


# -- the harness wheelhouse says why pip failed -------------------------------------

def pip_failure(tmp_path, output):
    from evaltasks.executors import bundle

    pip = tmp_path / "pip.py"
    pip.write_text(f"import sys\nsys.stderr.write({output!r})\nsys.exit(1)\n")
    with pytest.raises(bundle.BundleError) as failed:
        bundle._pip([sys.executable, str(pip)], ["langdetect==1.0.9"])
    return str(failed.value)


def test_a_failed_build_names_its_cause_not_the_network(tmp_path):
    # What pip 23.0.1 says building langdetect in a venv without `wheel`.
    said = pip_failure(tmp_path, "  error: subprocess-exited-with-error\n"
                                 "      error: invalid command 'bdist_wheel'\n"
                                 "  ERROR: Failed building wheel for langdetect\n"
                                 "ERROR: Failed to build one or more wheels\n")
    assert said == ("cannot fetch the harness wheels (langdetect==1.0.9): "
                    "pip said: error: invalid command 'bdist_wheel'")


def test_a_missing_index_says_how_to_work_offline(tmp_path):
    said = pip_failure(tmp_path, "ERROR: Could not find a version that satisfies the requirement langdetect\n"
                                 "ERROR: No matching distribution found for langdetect==1.0.9\n")
    assert said.endswith("pip said: ERROR: No matching distribution found for langdetect==1.0.9; "
                         "offline, set EVALTASKS_WHEELHOUSE to a folder holding them")
