"""Datasets on the host: a local folder (EVALTASKS_DATA_DIR, laid out as
``<benchmark>/<file>``) or a cache filled from the canonical sources.

The launcher fetches data before a container starts and mounts the benchmark's
folder read-only, so containers need no access to the internet for data.
harness/datasets.py is the same concept at the harness's end: it reads what this
module put there.

A task's data is identified by the sha256 of each file (``identity``): part of
its fingerprint, so a changed row reruns it. Digests are cached per process by
(path, size, mtime), so listing 200 up-to-date tasks hashes each file once."""

import functools
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from evaltasks.data.cache_dir import cache_dir
from evaltasks.harness.files import sha256_file


_DIGESTS = {}    # (real path, size, mtime_ns) → sha256


class DownloadError(Exception):
    pass


def local_root():
    root = os.environ.get("EVALTASKS_DATA_DIR")
    return _resolved(root) if root else None


@functools.lru_cache(maxsize=16)
def _resolved(root):
    # Asked once per task while planning: resolving is a stat per path component.
    return Path(root).expanduser().resolve()


def folder(bench):
    root = local_root()
    return (root if root else cache_dir() / "datasets") / bench.dataset


def staged_folder():
    """Where task files' data is staged (``taskfiles.stage``), named as the harness
    looks a folder up (``<data root>/<dataset>``), whatever executor runs it. Here,
    not in taskfiles (which imports this module), so that neither imports the other."""
    return cache_dir() / "datasets" / "filetask"


def data_folder(spec):
    """The host folder an executor hands the harness as ``spec``'s data: a task
    file's staged copies (taskfiles.stage), or its benchmark's folder."""
    if spec.task_file:
        return staged_folder()
    from evaltasks.harness import benchmarks
    return folder(benchmarks.resolve(spec.benchmark))


def file_digest(path):
    """The sha256 of the file at ``path``; read at most once per process while
    its size and modification time stay the same."""
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_file(real)
    return _DIGESTS[key]


def present(where, data_file):
    """The catalog entry of the copy of ``data_file`` in folder ``where``: the file
    itself, else its Hugging Face copy (``hub``); None when neither is there."""
    return next((f for f in (data_file, data_file.hub) if f and (where / f.name).is_file()), None)


def identity(bench):
    """``{file name: sha256}`` of the data a task of ``bench`` reads now: the
    file's own digest when it (or its hub copy) is there; before a download, the
    digest it will be checked against (None when the catalog knows none: then the
    run's own download is what the saved fingerprint records)."""
    where = folder(bench)
    found = {f: present(where, f) for f in bench.files}
    return {(found[f] or f).name: file_digest(where / found[f].name) if found[f] else f.sha256
            for f in bench.files}


def sources(bench):
    """``{file name: where it comes from}``: its path under EVALTASKS_DATA_DIR, or its URL."""
    root = local_root()
    where = folder(bench)
    chosen = [present(where, f) or f for f in bench.files]
    if root:
        return {f.name: str(root / bench.dataset / f.name) for f in chosen}
    return {f.name: f.url + (f"!{f.member}" if f.member else "") for f in chosen}


def missing(bench):
    """With EVALTASKS_DATA_DIR set, why the benchmark's data is not all there
    (else None); checked only for the tasks about to run."""
    root = local_root()
    if root is None:
        return None
    for data_file in bench.files:
        if not present(root / bench.dataset, data_file):
            also = f" (or {data_file.hub.name})" if data_file.hub else ""
            return (f"EVALTASKS_DATA_DIR: {bench.name} needs {root / bench.dataset / data_file.name}{also}, "
                    "which does not exist")
    return None


def ensure(bench, log=print, hf_token=None):
    """The benchmark's data folder, downloading missing files into the cache.
    ``hf_token`` opens gated Hugging Face datasets: with it, a file that has a
    ``hub`` copy is fetched from there."""
    target = folder(bench)
    if local_root():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".download-") as scratch:
        archives = {}        # url → downloaded file, for several members of one zip
        for data_file in bench.files:
            if present(target, data_file):
                continue
            if hf_token and data_file.hub:
                data_file = data_file.hub
            path = target / data_file.name
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
    digest = sha256_file(part)
    if data_file.sha256 and digest != data_file.sha256:
        raise DownloadError(f"{data_file.url}{'!' + data_file.member if data_file.member else ''}: "
                            f"sha256 {digest} is not the expected {data_file.sha256}")
    path.parent.mkdir(parents=True, exist_ok=True)     # a name may hold a folder (bbh/<task>.json)
    os.replace(part, path)


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
