"""The harness image: the harness bundle (executors/bundle.py: code and wheels)
built on top of a local base image, offline, and tagged by the bundle's digest
on that base, so it is rebuilt exactly when the harness changes."""

import os
import shutil
import tempfile
from pathlib import Path

from evaltasks.executors import bundle

DEFAULT_BASE_IMAGE = "evaltasks-base:bookworm"
REPOSITORY = "evaltasks-harness"


class ImageError(Exception):
    pass


def base_image(configured=None):
    return configured or os.environ.get("EVALTASKS_BASE_IMAGE") or DEFAULT_BASE_IMAGE


def image_tag(base):
    return f"{REPOSITORY}:{bundle.harness_digest(base)}"


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
    target = client.containers.run(base, ["python3", "-c", bundle.PROBE], remove=True).decode().split()
    with tempfile.TemporaryDirectory(prefix="evaltasks-build-") as ctx:
        _fill_context(Path(ctx), bundle.wheelhouse(*target))
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
    shutil.copy(bundle.HARNESS / "Dockerfile", ctx / "Dockerfile")
    bundle.copy_code(ctx / "app")
    shutil.copytree(wheel_folder, ctx / "wheels")
    shutil.copy(bundle.HARNESS / "requirements.txt", ctx / "wheels" / "requirements.txt")
