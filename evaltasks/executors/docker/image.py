"""The harness image: built from this package's harness on top of a local base
image, offline, and tagged by a digest of everything that goes into it, so it is
rebuilt exactly when the harness changes."""

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from evaltasks.harness import benchmarks

# The package root: this module is evaltasks/executors/docker/image.py.
PACKAGE = Path(__file__).resolve().parents[2]
HARNESS = PACKAGE / "harness"
PACKAGE_INIT = PACKAGE / "__init__.py"
DEFAULT_BASE_IMAGE = "evaltasks-base:bookworm"
REPOSITORY = "evaltasks-harness"
# Published only as source: built into a wheel on the host before the rest is fetched.
SOURCE_ONLY = ("langdetect",)
# Run inside the base image: the Python and platform its wheels must fit.
PROBE = ("import os, platform, sys; print('%d.%d' % sys.version_info[:2], "
         "os.confstr('CS_GNU_LIBC_VERSION').split()[-1], platform.machine())")


class ImageError(Exception):
    pass


def base_image(configured=None):
    return configured or os.environ.get("EVALTASKS_BASE_IMAGE") or DEFAULT_BASE_IMAGE


def harness_files():
    """Every file that ends up in the image's code, relative to the package root."""
    files = [p for p in HARNESS.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(files)


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


def image_tag(base):
    return f"{REPOSITORY}:{harness_digest(base)}"


def ensure(client, base, log=print):
    """The harness image's tag, building the image first if it does not exist."""
    import docker.errors

    tag = image_tag(base)
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.get(base)
    except docker.errors.ImageNotFound:
        raise ImageError(
            f"base image '{base}' not found; make it with scripts/make-base-image.sh {base} "
            "(no registry needed) or set EVALTASKS_BASE_IMAGE to an image with python3 and pip"
        ) from None
    log(f"building harness image {tag} on {base}")
    target = client.containers.run(base, ["python3", "-c", PROBE], remove=True).decode().split()
    with tempfile.TemporaryDirectory(prefix="evaltasks-build-") as ctx:
        _fill_context(Path(ctx), wheelhouse(*target))
        try:
            client.images.build(path=ctx, tag=tag, buildargs={"BASE_IMAGE": base},
                                rm=True, forcerm=True, pull=False,
                                labels={"evaltasks.harness": tag})
        except docker.errors.BuildError as e:
            tail = " | ".join(str(c.get("stream", c.get("error", ""))).strip()
                              for c in list(e.build_log)[-5:])
            raise ImageError(f"building {tag} failed: {e.msg} ({tail})") from None
    return tag


def _fill_context(ctx, wheel_folder):
    shutil.copy(HARNESS / "Dockerfile", ctx / "Dockerfile")
    copy_code(ctx / "app")
    shutil.copytree(wheel_folder, ctx / "wheels")
    shutil.copy(HARNESS / "requirements.txt", ctx / "wheels" / "requirements.txt")


def copy_code(folder):
    """Copy the harness's code into ``folder``/evaltasks, importable from ``folder``."""
    app = Path(folder) / "evaltasks"
    shutil.copytree(HARNESS, app / "harness",
                    ignore=shutil.ignore_patterns("__pycache__", "Dockerfile", "requirements.txt"))
    shutil.copy(PACKAGE_INIT, app / "__init__.py")


def cache_dir():
    root = os.environ.get("EVALTASKS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "evaltasks")
    return Path(root)


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
        errors = [l for l in done.stderr.strip().splitlines() if l.startswith("ERROR")] or ["pip failed"]
        raise ImageError(f"cannot fetch the harness wheels ({', '.join(wanted)}): {errors[-1]}; "
                         "offline, set EVALTASKS_WHEELHOUSE to a folder holding them")


@functools.lru_cache(maxsize=None)
def task_code_digest(benchmark_module):
    """Digest of the harness code one task runs: the shared harness and the
    image recipe, plus that benchmark's own files in ``benchmarks/`` (not the
    other benchmarks'): its module and every helper named after it
    (``ifeval_instructions.py`` belongs to ``ifeval``; see the catalog's rule).
    A file task's code is ``harness/filetask/`` (which reads numbers as gsm8k.py does)."""
    file_task = benchmark_module == "filetask"
    files = [p for p in harness_files()
             if (p.parent.name != "benchmarks" or p.name == "__init__.py"
                 or benchmarks.owns(benchmark_module, p.stem)
                 or (file_task and p.name == "gsm8k.py"))
             and (p.parent.name != "filetask" or file_task)]
    return file_digest(files)[:16]
