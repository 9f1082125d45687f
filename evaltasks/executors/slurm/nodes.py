"""What a Slurm cluster's compute nodes see, checked from the submit host.

On a cluster of more than one node the nodes are not the machine that submits:
another filesystem unless a folder is shared, another Python, often no network
beyond the cluster. Two things follow, both done with small batch jobs:

- ``check_visible``: before a run submits its tasks, one tiny job reads markers
  the launcher just wrote into output_dir and the shared folder, and checks the
  data files' sizes, so a folder only the submit host sees is one line before
  any task's job starts, not a run split across filesystems.
- ``node_venv``: the harness venv for the nodes, built by a one-off job *on a
  node*, with the nodes' interpreter, from wheels the launcher copied onto
  shared storage (the nodes need no package index), under
  ``<shared_dir>/venvs/<digest>``; the digest names the harness code and that
  interpreter, as the image's tag does, so it is built once and reused.
"""

import fcntl
import os
import secrets
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from evaltasks.executors import bundle
from evaltasks.executors.process.venv import Venv, VenvError
from evaltasks.executors.slurm import scheduler

MARKER = ".evaltasks-visible"
# The probe's output: the interpreter's real path, then bundle.PROBE's (X.Y, glibc, machine).
PROBE = f"import os, sys; print(os.path.realpath(sys.executable)); {bundle.PROBE}"
FIRST_MISSING = 10      # the check job exits FIRST_MISSING + i when folder i is not visible


@dataclass(frozen=True)
class Folder:
    what: str       # how the user names it: "execution.output_dir", "data folder gsm8k"
    path: str
    writable: bool  # a marker can be written there; else (read-only data) its files' sizes are compared


@dataclass(frozen=True)
class Interpreter:
    path: str               # the nodes' python, resolved on a node
    target: tuple           # (X.Y, glibc, machine): what the wheels must fit


def check_visible(folders, python, submit_options, job_name, image=None):
    """Submit one tiny job that must see every folder in ``folders`` as this host
    does; raise scheduler.SlurmError with one line naming the first folder a node
    cannot see. With ``python``, returns the nodes' Interpreter (``python`` run
    on the node), read back through the last folder (the shared folder). With
    ``image`` (runtime: docker), the node must have Docker and that image."""
    token = secrets.token_hex(8)
    lines = ["#!/bin/bash", "# written by evaltasks: can this node see what the submit host wrote?"]
    written = []
    try:
        for i, folder in enumerate(folders):
            code = FIRST_MISSING + i
            if folder.writable:
                os.makedirs(folder.path, exist_ok=True)
                marker = os.path.join(folder.path, f"{MARKER}-{token}")
                Path(marker).write_text(token)
                written.append(marker)
                lines.append(f'[ "$(cat {shlex.quote(marker)} 2>/dev/null)" = {token} ] || exit {code}')
            else:
                for name, size in _sample_files(folder.path):
                    path = shlex.quote(os.path.join(folder.path, name))
                    lines.append(f'[ "$(stat -Lc %s {path} 2>/dev/null)" = {size} ] || exit {code}')
        if image:
            lines.append("command -v docker >/dev/null || exit 4")
            lines.append(f"docker image inspect {shlex.quote(image)} >/dev/null 2>&1 || exit 5")
        probe = os.path.join(folders[-1].path, f".evaltasks-probe-{token}")
        if python:
            written.append(probe)
            lines.append(f"{shlex.quote(python)} -c {shlex.quote(PROBE)} > {shlex.quote(probe)} || exit 3")
        with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="evaltasks-check-", delete=False) as script:
            script.write("\n".join(lines) + "\n")
        try:
            final = _run_job(script.name, submit_options, job_name, output="/dev/null")
        finally:
            os.unlink(script.name)
        node = final.node or "a node"
        if final.succeeded and not python:
            return None
        if final.succeeded:
            path, *target = Path(probe).read_text().split()
            return Interpreter(path, tuple(target))
        if final.exit_code is not None and FIRST_MISSING <= final.exit_code < FIRST_MISSING + len(folders):
            folder = folders[final.exit_code - FIRST_MISSING]
            how = "read what this host wrote there" if folder.writable else "found other files there"
            raise scheduler.SlurmError(f"{folder.what} {folder.path} is not visible on {node} (a check job {how}): "
                                   "put it on storage every node shares")
        if final.exit_code == 4:
            raise scheduler.SlurmError(f"{node} has no docker command: runtime: docker needs Docker and the "
                                   f"harness image {image} on every node (or use runtime: process)")
        if final.exit_code == 5:
            raise scheduler.SlurmError(f"{node} has no image {image}: runtime: docker needs it on every node "
                                   f"(docker save {image} | docker load there, or push it to a registry they pull from)")
        if final.exit_code == 3:
            raise scheduler.SlurmError(f"{node} cannot run {python} (execution.node_python): "
                                   "the nodes need Python 3 for runtime: process")
        raise scheduler.SlurmError(f"the check job on {node} {final.describe()}")
    finally:
        for path in written:
            Path(path).unlink(missing_ok=True)


def _sample_files(folder, most=3):
    """(name, size) of a few of a read-only folder's files: enough to tell the same
    folder from an empty or missing one on the node."""
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.is_file())[:most]
    except OSError:
        return []
    return [(name, os.stat(os.path.join(folder, name)).st_size) for name in names]


def node_venv(shared_dir, interpreter, submit_options, job_name, log=print):
    """The harness venv for the nodes under ``shared_dir``, building it with a job
    on a node first when it does not exist. Two launchers building it at once
    wait for each other (a lock on the shared folder): one builds, the other reuses."""
    digest = bundle.harness_digest(interpreter.path, *interpreter.target)
    root = Path(shared_dir) / "venvs"
    path = root / digest
    if (path / "bin" / "python").exists():
        return Venv(python=str(path / "bin" / "python"), digest=digest, path=str(path))
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            log(f"building the nodes' harness venv {path} with {interpreter.path}")
            _build(Path(shared_dir), interpreter, path, submit_options, job_name)
    return Venv(python=str(path / "bin" / "python"), digest=digest, path=str(path))


def _build(shared, interpreter, path, submit_options, job_name):
    wheels = _shared_wheels(shared, bundle.wheelhouse(*interpreter.target))
    stage = Path(tempfile.mkdtemp(prefix=f".build-{path.name}-", dir=path.parent))
    try:
        bundle.copy_code(stage / "code")
        shutil.copy(bundle.HARNESS / "requirements.txt", stage / "requirements.txt")
        venv, q = stage / "venv", shlex.quote
        # Debian's python3-venv brings pip's wheel for ensurepip: no index involved.
        body = f"""#!/bin/bash
# written by evaltasks: the harness venv for the nodes, built on a node
set -euo pipefail
{q(interpreter.path)} -m venv {q(str(venv))}
{q(str(venv / 'bin' / 'python'))} -m pip --disable-pip-version-check --quiet install --no-index \\
    --find-links {q(str(wheels))} -r {q(str(stage / 'requirements.txt'))}
site=$({q(str(venv / 'bin' / 'python'))} -c "import sysconfig; print(sysconfig.get_path('purelib'))")
cp -r {q(str(stage / 'code' / 'evaltasks'))} "$site/"
{q(str(venv / 'bin' / 'python'))} -m compileall -q "$site/evaltasks"
mv {q(str(venv))} {q(str(path))}
"""
        script = stage / "build.sh"
        script.write_text(body)
        final = _run_job(str(script), submit_options, job_name, output=str(stage / "build.log"))
        if not final.succeeded or not (path / "bin" / "python").exists():
            tail = [l for l in (stage / "build.log").read_text(errors="replace").splitlines() if l.strip()] \
                if (stage / "build.log").exists() else []
            raise VenvError(f"building the nodes' harness venv on {final.node or 'a node'} "
                            f"{final.describe()}: {tail[-1].strip() if tail else 'no output'}")
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _shared_wheels(shared, wheels):
    """The wheelhouse copied onto shared storage (once per set of wheels)."""
    target = shared / "wheels" / Path(wheels).name
    if not (target / ".complete").exists():
        tmp = Path(tempfile.mkdtemp(prefix=".copy-", dir=shared / "venvs"))
        shutil.copytree(wheels, tmp / "w", dirs_exist_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(tmp / "w", target)
        tmp.rmdir()
        (target / ".complete").touch()
    return target


def _run_job(script, submit_options, job_name, output):
    options = dict(submit_options, extra_args=[*submit_options.get("extra_args", ()), "--no-requeue"])
    job = scheduler.submit(script, job_name=job_name, output=output, **options)
    try:
        return scheduler.wait(job, poll=0.5)
    except BaseException:       # Ctrl-C, or Slurm stopped answering: leave no job behind
        try:
            scheduler.cancel([job])
        except scheduler.SlurmError:
            pass
        raise
