"""What runs the harness, whatever holds it: the harness's code and the wheels of
its requirements, and the digests that name them. The image (docker/image.py),
the local venv (process/venv.py) and the nodes' venv (slurm/nodes.py) are each
built from this bundle, on top of a Python (a base image's, this one, the nodes'),
and named by ``harness_digest`` of the code plus that Python; ``task_code_digest``
is the part of the code one task runs, for its fingerprint.

Offline by design: the wheels are fetched once into the user's cache (or read
from EVALTASKS_WHEELHOUSE on an air-gapped machine) and installed from there."""

import functools
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from evaltasks.data.cache_dir import cache_dir
from evaltasks.harness import benchmarks
from evaltasks.harness.files import tree, tree_signature, write_atomic

# The package root: this module is evaltasks/executors/bundle.py.
PACKAGE = Path(__file__).resolve().parents[1]
HARNESS = PACKAGE / "harness"
PACKAGE_INIT = PACKAGE / "__init__.py"
# Published only as source: built into a wheel on the host before the rest is fetched.
SOURCE_ONLY = ("langdetect",)
# Run by the Python the bundle is installed on (in a base image, on a node):
# the Python and platform its wheels must fit.
PROBE = ("import os, platform, sys; print('%d.%d' % sys.version_info[:2], "
         "os.confstr('CS_GNU_LIBC_VERSION').split()[-1], platform.machine())")


class BundleError(Exception):
    """One line: the wheels cannot be fetched, and what to do."""


def harness_files():
    """Every file of the harness's code, as installed in an image or a venv."""
    return _in_order(tree(str(HARNESS)))


def _in_order(found):
    """``tree``'s files as Paths, in the order of their paths' parts (as pathlib
    sorts them: the digests depend on it)."""
    return [Path(path) for path, _ in sorted(found, key=lambda f: f[0].split(os.sep))]


def file_digest(paths):
    h = hashlib.sha256()
    for path in paths:
        h.update(str(path.relative_to(HARNESS.parent)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def requirements():
    lines = (HARNESS / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def harness_digest(*where):
    """Digest of the harness code and requirements plus what they are installed on
    (a base image, an interpreter): it names the image and the process runtime's venv."""
    h = hashlib.sha256()
    h.update(file_digest(harness_files()).encode())
    for part in where:
        h.update(part.encode())
    return h.hexdigest()[:16]


def copy_code(folder):
    """Copy the harness's code into ``folder``/evaltasks, importable from ``folder``."""
    app = Path(folder) / "evaltasks"
    shutil.copytree(HARNESS, app / "harness",
                    ignore=shutil.ignore_patterns("__pycache__", "Dockerfile", "requirements.txt"))
    shutil.copy(PACKAGE_INIT, app / "__init__.py")


def wheelhouse(python, glibc, machine):
    """A folder with every wheel the harness needs on the base image (that Python,
    glibc and machine), fetched once with pip and kept in the cache.

    Air-gapped machines point EVALTASKS_WHEELHOUSE at a folder holding them
    (``pip download`` them elsewhere) and pip then reads only that folder."""
    wanted = requirements()
    key = hashlib.sha256(" ".join(wanted + [python, glibc, machine]).encode()).hexdigest()[:12]
    folder = cache_dir() / "wheels" / key
    if (folder / ".complete").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    index = ["--no-index", "--find-links", os.environ["EVALTASKS_WHEELHOUSE"]] \
        if os.environ.get("EVALTASKS_WHEELHOUSE") else []
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    source_only = [r for r in wanted if r.split("==")[0] in SOURCE_ONLY]
    if source_only:
        _pip(pip + ["wheel", "--no-deps", *index, "--wheel-dir", str(folder), *source_only], wanted)
    # pip does not widen a manylinux tag to older glibc versions: list them all.
    major, minor = (int(x) for x in glibc.split(".")[:2])
    platforms = [f"manylinux_{major}_{m}_{machine}" for m in range(5, minor + 1)]
    platforms += [f"manylinux{tag}_{machine}" for tag in ("1", "2010", "2014") if major == 2]
    _pip(pip + ["download", "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
                *(f"--platform={p}" for p in platforms), *index, "--find-links", str(folder), "--dest", str(folder), *wanted],
         wanted)
    (folder / ".complete").touch()
    return folder


def _pip(cmd, wanted):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        said = [l.strip() for l in (done.stdout + done.stderr).splitlines() if l.strip()] or ["pip failed"]
        # A failed build's own "error: ..." says why; pip's closing lines only that it failed.
        cause = next((l for l in reversed(said) if l.startswith("error:") and "subprocess-exited" not in l),
                     said[-1])
        offline = any(s in cause for s in ("No matching distribution", "Could not find a version", "connection"))
        raise BundleError(f"cannot fetch the harness wheels ({', '.join(wanted)}): pip said: {cause}"
                          + ("; offline, set EVALTASKS_WHEELHOUSE to a folder holding them" if offline else ""))


@functools.lru_cache(maxsize=None)
def task_code_digest(benchmark_module):
    """Digest of the harness code one task runs: the shared harness and the
    image recipe, plus that benchmark's own files in ``benchmarks/`` (not the
    other benchmarks'): its module and every helper named after it
    (``ifeval_instructions.py`` belongs to ``ifeval``; see the catalog's rule).
    A file task's code is ``harness/filetask/`` (which reads numbers as gsm8k.py does).

    Kept in the cache folder under the harness files' paths, sizes and
    modification times (as config/remembered.py keeps a loaded config): reading
    and hashing every file was ~2.5 ms of each run with nothing to do, and any
    edit, checkout or upgrade changes a modification time. A memo that cannot be
    read or written only means computing the digest."""
    found = tree(str(HARNESS))
    signature = hashlib.sha256(tree_signature(found).encode("utf-8", "surrogateescape")).hexdigest()
    memo = cache_dir() / "code" / f"{signature[:32]}-{benchmark_module}"
    try:
        with open(memo, encoding="ascii") as f:
            kept = f.read()
        if len(kept) == 16:
            return kept
    except (OSError, ValueError):
        pass
    digest = _task_code_digest(_in_order(found), benchmark_module)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(str(memo), digest, durable=False)
    except OSError:
        pass
    return digest


def _task_code_digest(files, benchmark_module):
    file_task = benchmark_module == "filetask"
    files = [p for p in files
             if (p.parent.name != "benchmarks" or p.name == "__init__.py"
                 or benchmarks.owns(benchmark_module, p.stem)
                 or (file_task and p.name == "gsm8k.py"))
             and (p.parent.name != "filetask" or file_task)]
    return file_digest(files)[:16]
