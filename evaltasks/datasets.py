"""Datasets on the host: a local folder (EVALTASKS_DATA_DIR, laid out as
``<benchmark>/<file>``) or a cache filled from the canonical sources.

The launcher fetches data before a container starts and mounts the benchmark's
folder read-only, so containers need no access to the internet for data."""

import hashlib
import os
import tempfile
from pathlib import Path

from .config import ConfigError
from .image import cache_dir


class DownloadError(Exception):
    pass


def local_root():
    root = os.environ.get("EVALTASKS_DATA_DIR")
    return Path(root).expanduser().resolve() if root else None


def folder(bench):
    root = local_root()
    return (root if root else cache_dir() / "datasets") / bench.dataset


def check(bench):
    """With EVALTASKS_DATA_DIR set, every file must be there (checked before anything starts)."""
    root = local_root()
    if root is None:
        return
    for data_file in bench.files:
        path = root / bench.dataset / data_file.name
        if not path.is_file():
            raise ConfigError(f"EVALTASKS_DATA_DIR: {bench.name} needs {path}, which does not exist")


def ensure(bench, log=print):
    """The benchmark's data folder, downloading missing files into the cache."""
    target = folder(bench)
    if local_root():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for data_file in bench.files:
        path = target / data_file.name
        if not path.is_file():
            log(f"downloading {data_file.url}")
            _download(data_file, path)
    return target


def _download(data_file, path):
    import requests

    headers = {}
    if os.environ.get("HF_TOKEN") and "huggingface.co" in data_file.url:
        headers["Authorization"] = f"Bearer {os.environ['HF_TOKEN']}"
    try:
        r = requests.get(data_file.url, headers=headers, timeout=60, stream=True)
        r.raise_for_status()
    except requests.RequestException as e:
        reason = type(e).__name__ if isinstance(e, requests.ConnectionError) else str(e)
        hint = f"; {data_file.gated}" if data_file.gated else ""
        raise DownloadError(f"cannot download {data_file.url} ({reason}){hint}; "
                            "offline, set EVALTASKS_DATA_DIR to a folder with the data") from None
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as f:
        for chunk in r.iter_content(1 << 20):
            digest.update(chunk)
            f.write(chunk)
    if data_file.sha256 and digest.hexdigest() != data_file.sha256:
        os.unlink(tmp)
        raise DownloadError(f"{data_file.url}: sha256 {digest.hexdigest()} does not match "
                            f"the expected {data_file.sha256}")
    os.replace(tmp, path)
