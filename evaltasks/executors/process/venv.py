"""The process runtime's counterpart of the harness image: a virtual environment
with the harness bundle (executors/bundle.py: its requirements and a copy of its code), made once per harness
digest under ``<cache>/venvs/<digest>`` and reused after that.

It installs offline from the same wheelhouse the image is built from, and it
holds its own copy of the harness, so editing the source never changes a task
that is running (an edit changes the digest, and the next run gets a new venv)."""

import fcntl
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from evaltasks.data.cache_dir import cache_dir
from evaltasks.executors import bundle


class VenvError(Exception):
    pass


@dataclass(frozen=True)
class Venv:
    python: str     # the venv's interpreter: run ``python -m evaltasks.harness <task_dir>``
    digest: str
    path: str


def ensure(log=print, interpreter=None):
    """The harness venv for ``interpreter`` (default: the one running the launcher),
    building it first when it does not exist. Two launchers building it at once
    wait for each other: one builds, the other reuses."""
    base = interpreter or sys.executable
    target = _probe(base)
    digest = bundle.harness_digest(os.path.realpath(base), *target)
    root = cache_dir() / "venvs"
    path = root / digest
    if not (path / "bin" / "python").exists():
        root.mkdir(parents=True, exist_ok=True)
        with open(root / f".{digest}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                log(f"building harness venv {path}")
                _build(base, bundle.wheelhouse(*target), path)
    return Venv(python=str(path / "bin" / "python"), digest=digest, path=str(path))


def _probe(python):
    """(X.Y, glibc version, machine) of ``python``: what the wheels must fit.
    The running interpreter (the usual case) answers in this process, as
    bundle.PROBE would have it answer: starting it again to ask was two thirds
    of ``ensure`` in every run (~45 ms)."""
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        return ("%d.%d" % sys.version_info[:2], os.confstr("CS_GNU_LIBC_VERSION").split()[-1],
                platform.machine())
    done = _run([python, "-c", bundle.PROBE], f"cannot run {python}")
    return tuple(done.stdout.split())


def _build(base, wheels, path):
    """Build in a temporary folder next to ``path``, then rename it into place, so
    ``path`` exists only once it is complete. A venv finds its packages relative
    to its interpreter, so the move does not break it."""
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{path.name}-", dir=path.parent))
    try:
        _run([base, "-m", "venv", "--without-pip", str(tmp)], "cannot make a virtual environment")
        python = str(tmp / "bin" / "python")
        _run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", "--python", python,
              "install", "--no-index", "--find-links", str(wheels), "-r", str(bundle.HARNESS / "requirements.txt")],
             f"cannot install the harness requirements from {wheels}")
        site = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                    "cannot ask the venv for its site-packages").stdout.strip()
        bundle.copy_code(site)
        # Compiled now: tasks run with -B and never write into the shared venv.
        _run([python, "-m", "compileall", "-q", str(Path(site) / "evaltasks")], "cannot compile the harness")
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _run(cmd, what):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [l for l in done.stderr.strip().splitlines() if l.strip()] or [f"exit code {done.returncode}"]
        raise VenvError(f"{what}: {lines[-1].strip()}")
    return done
