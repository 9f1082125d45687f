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
from importlib.metadata import version
from pathlib import Path

HARNESS = Path(__file__).parent / "harness"
PACKAGE_INIT = Path(__file__).parent / "__init__.py"
DEFAULT_BASE_IMAGE = "evaltasks-base:bookworm"
REPOSITORY = "evaltasks-harness"
# The harness needs requests; these are its pure-Python wheels, pinned to the
# versions installed here so the container runs the same client code as tests.
REQUIREMENTS = ("requests", "urllib3", "idna", "certifi", "charset-normalizer")


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


def pins():
    return [f"{name}=={version(name)}" for name in REQUIREMENTS]


def image_tag(base):
    h = hashlib.sha256()
    h.update(file_digest(harness_files()).encode())
    h.update(base.encode())
    h.update(" ".join(pins()).encode())
    return f"{REPOSITORY}:{h.hexdigest()[:16]}"


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
    with tempfile.TemporaryDirectory(prefix="evaltasks-build-") as ctx:
        _fill_context(Path(ctx))
        try:
            client.images.build(path=ctx, tag=tag, buildargs={"BASE_IMAGE": base},
                                rm=True, forcerm=True, pull=False,
                                labels={"evaltasks.harness": tag})
        except docker.errors.BuildError as e:
            tail = " | ".join(str(c.get("stream", c.get("error", ""))).strip()
                              for c in list(e.build_log)[-5:])
            raise ImageError(f"building {tag} failed: {e.msg} ({tail})") from None
    return tag


def _fill_context(ctx):
    shutil.copy(HARNESS / "Dockerfile", ctx / "Dockerfile")
    app = ctx / "app" / "evaltasks"
    shutil.copytree(HARNESS, app / "harness", ignore=shutil.ignore_patterns("__pycache__", "Dockerfile"))
    shutil.copy(PACKAGE_INIT, app / "__init__.py")
    wheels = ctx / "wheels"
    wheels.mkdir()
    for wheel in wheelhouse().glob("*.whl"):
        shutil.copy(wheel, wheels)


def cache_dir():
    root = os.environ.get("EVALTASKS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "evaltasks")
    return Path(root)


def wheelhouse():
    """A folder with the harness's dependency wheels, fetched once with pip.

    Air-gapped machines point EVALTASKS_WHEELHOUSE at a folder holding those
    wheels (``pip download`` them elsewhere) and pip reads only that folder."""
    wanted = pins()
    folder = cache_dir() / "wheels" / hashlib.sha256(" ".join(wanted).encode()).hexdigest()[:12]
    if folder.is_dir() and len(list(folder.glob("*.whl"))) == len(wanted):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--implementation", "py", "--abi", "none", "--platform", "any",
           "--python-version", "3.10", "--dest", str(folder), *wanted]
    local = os.environ.get("EVALTASKS_WHEELHOUSE")
    if local:
        cmd[4:4] = ["--no-index", "--find-links", local]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise ImageError(f"cannot fetch the harness wheels ({', '.join(wanted)}): {last}; "
                         "offline, set EVALTASKS_WHEELHOUSE to a folder holding them")
    return folder


@functools.lru_cache(maxsize=None)
def task_code_digest(benchmark_module):
    """Digest of the harness code one task runs: the shared harness and the
    image recipe, plus that benchmark's own module (not the other benchmarks')."""
    own = f"{benchmark_module}.py"
    files = [p for p in harness_files()
             if p.parent.name != "benchmarks" or p.name in (own, "__init__.py")]
    return file_digest(files)[:16]
