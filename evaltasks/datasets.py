"""Datasets on the host: a local folder (EVALTASKS_DATA_DIR, laid out as
``<benchmark>/<file>``) or a cache filled from the canonical sources.

The launcher fetches data before a container starts and mounts the benchmark's
folder read-only, so containers need no access to the internet for data."""

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from .image import cache_dir


class DownloadError(Exception):
    pass


def local_root():
    root = os.environ.get("EVALTASKS_DATA_DIR")
    return Path(root).expanduser().resolve() if root else None


def folder(bench):
    root = local_root()
    return (root if root else cache_dir() / "datasets") / bench.dataset


def missing(bench):
    """With EVALTASKS_DATA_DIR set, why the benchmark's data is not all there
    (else None); checked only for the tasks about to run."""
    root = local_root()
    if root is None:
        return None
    for data_file in bench.files:
        path = root / bench.dataset / data_file.name
        if not path.is_file():
            return f"EVALTASKS_DATA_DIR: {bench.name} needs {path}, which does not exist"
    return None


def ensure(bench, log=print, hf_token=None):
    """The benchmark's data folder, downloading missing files into the cache.
    ``hf_token`` opens gated Hugging Face datasets."""
    target = folder(bench)
    if local_root():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".download-") as scratch:
        archives = {}        # url → downloaded file, for several members of one zip
        for data_file in bench.files:
            path = target / data_file.name
            if path.is_file():
                continue
            if data_file.url not in archives:
                log(f"downloading {data_file.url}")
                archives[data_file.url] = _download(data_file, Path(scratch), hf_token)
            _install(data_file, archives[data_file.url], path)
    return target


def _download(data_file, scratch, hf_token):
    import requests

    headers = {}
    if hf_token and "huggingface.co" in data_file.url:
        headers["Authorization"] = f"Bearer {hf_token}"
    hint = f"; {data_file.gated}" if data_file.gated else ""
    try:
        reply = requests.get(data_file.url, headers=headers, timeout=60, stream=True)
    except requests.RequestException as e:
        raise DownloadError(f"cannot download {data_file.url} ({type(e).__name__}){hint}; "
                            "offline, set EVALTASKS_DATA_DIR to a folder with the data") from None
    if reply.status_code != 200:
        raise DownloadError(f"cannot download {data_file.url}: HTTP {reply.status_code}{hint}")
    fd, name = tempfile.mkstemp(dir=scratch)
    with os.fdopen(fd, "wb") as f:
        for chunk in reply.iter_content(1 << 20):
            f.write(chunk)
    return Path(name)


def _install(data_file, downloaded, path):
    """Put the file (or the archive member) at ``path`` once its checksum matches."""
    fd, part = tempfile.mkstemp(dir=downloaded.parent)
    with os.fdopen(fd, "wb") as out:
        if data_file.member:
            try:
                with zipfile.ZipFile(downloaded) as archive, archive.open(data_file.member) as member:
                    shutil.copyfileobj(member, out)
            except (zipfile.BadZipFile, KeyError) as e:
                raise DownloadError(f"{data_file.url}: cannot read {data_file.member} from it ({e})") from None
        else:
            with open(downloaded, "rb") as source:
                shutil.copyfileobj(source, out)
    digest = _sha256(part)
    if data_file.sha256 and digest != data_file.sha256:
        raise DownloadError(f"{data_file.url}{'!' + data_file.member if data_file.member else ''}: "
                            f"sha256 {digest} is not the expected {data_file.sha256}")
    os.replace(part, path)


_DIGESTS = {}


def file_digest(path):
    """The sha256 of the file at ``path``, computed once per path, size and mtime."""
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = _sha256(path)
    return _DIGESTS[key]


def fetch_into(url, out):
    """Write the body at ``url`` to the open binary file ``out``."""
    import requests

    try:
        reply = requests.get(url, timeout=60, stream=True)
        if reply.status_code != 200:
            raise DownloadError(f"cannot download {url}: HTTP {reply.status_code}")
        for chunk in reply.iter_content(1 << 20):
            out.write(chunk)
    except requests.RequestException as e:
        raise DownloadError(f"cannot download {url} ({type(e).__name__}); offline, "
                            "give the file's local path in data_files instead") from None


def sha256(path):
    return _sha256(path)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
