"""The image ``deployment: llama_cpp`` runs: llama.cpp's own ``llama-server``
from Debian unstable's package ``llama.cpp-tools``, prebuilt (no compile) with
ggml's CPU backends chosen at run time (no SIGILL on an older CPU). Made
offline as the harness base image is: ``debootstrap --variant=minbase
--include=llama.cpp-tools sid`` into a folder, then ``docker import``.

Its inputs (what unstable holds today) are not known before it is made, so the
image is named by what it got: the tag is a digest of the installed packages'
versions, and the image's labels and a record in the cache
(``~/.cache/evaltasks/llama-server-image.json``) say which llama.cpp it holds.
The record is what a plan reads (no Docker needed to list tasks): it is part of
every deployed task's fingerprint, so a new llama.cpp reruns the tasks.

Unstable moves: an image older than ``EVALTASKS_LLAMA_IMAGE_MAX_AGE_DAYS``
(default 7) is made again when a run next starts the server; when the packages
are the same, the existing image is kept (same tag, same fingerprint).
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ..harness.files import write_json_atomic
from evaltasks.data.cache_dir import cache_dir

PACKAGE = "llama.cpp-tools"
SUITE = "sid"
REPOSITORY = "evaltasks-llama-server"
LABEL = "evaltasks.llama-server"        # the image's identity, as JSON
# The packages whose versions decide what the server computes; all others only run it.
SERVER_PACKAGES = re.compile(r"^(llama\.cpp-tools|libllama\d*|libggml\d*|libggml-.*)$")
DEFAULT_MAX_AGE_DAYS = 7
DEFAULT_MIRROR = "http://deb.debian.org/debian"


class LlamaImageError(Exception):
    """One line: why the image cannot be made, and what to do."""


def record_path():
    return cache_dir() / "llama-server-image.json"


def recorded():
    """The last image made here: ``{"image", "server", "checked"}`` (checked: when unstable was last read), or None."""
    try:
        return json.loads(record_path().read_text())
    except (OSError, ValueError):
        return None


def identity():
    """What the deployed tasks' fingerprint holds of the server: the llama.cpp
    version and build and the packages' versions; None before the first image."""
    record = recorded()
    return record["server"] if record else None


def max_age():
    return float(os.environ.get("EVALTASKS_LLAMA_IMAGE_MAX_AGE_DAYS", DEFAULT_MAX_AGE_DAYS)) * 86400


def ensure(client, log=print):
    """The image's tag, made first when there is none or the last check of
    unstable is older than ``max_age()``."""
    import docker.errors

    record = recorded()
    if record:
        try:
            client.images.get(record["image"])
            if time.time() - record.get("checked", 0) < max_age():
                return record["image"]
            log(f"llama.cpp server image {record['image']} was checked against Debian {SUITE} "
                f"more than {max_age() / 86400:g} days ago: making it again")
        except docker.errors.ImageNotFound:
            pass
    return make(client, log)


def make(client, log=print):
    """debootstrap + docker import; returns the tag and writes the record."""
    import docker.errors

    if not shutil.which("debootstrap"):
        raise LlamaImageError("making the llama.cpp server image needs debootstrap "
                              "(apt-get install debootstrap; bash scripts/setup.sh does), or set "
                              "deployment.image to a llama.cpp server image of your own")
    started = time.monotonic()
    log(f"making the llama.cpp server image: debootstrap {SUITE} with {PACKAGE} (about a minute, once)")
    with tempfile.TemporaryDirectory(prefix="evaltasks-llama-rootfs-") as rootfs:
        _debootstrap(rootfs)
        server, packages = _server_identity(rootfs)
        # Named by every package it holds; the fingerprint holds only the server's.
        tag = f"{REPOSITORY}:{_digest(packages)}"
        try:
            client.images.get(tag)
            log(f"Debian {SUITE} still has the same {PACKAGE}: keeping {tag}")
        except docker.errors.ImageNotFound:
            _import(rootfs, tag, server)
            log(f"made {tag} ({server['llama_cpp']}) in {time.monotonic() - started:.0f}s")
    now = time.time()
    write_json_atomic(str(record_path()), {"image": tag, "server": server, "checked": now})
    return tag


def _sudo():
    return [] if os.geteuid() == 0 else ["sudo", "-n"]


def _debootstrap(rootfs):
    command = _sudo() + ["debootstrap", "--variant=minbase", f"--include={PACKAGE}", SUITE, rootfs, mirror()]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode == 0:
        return
    text = done.stdout + done.stderr
    if re.search(rf"Couldn't find these debs: .*{re.escape(PACKAGE)}|{re.escape(PACKAGE)}.*not found", text):
        raise LlamaImageError(f"Debian {SUITE} has no package {PACKAGE} today: set deployment.image to a "
                              "llama.cpp server image (e.g. the upstream ggml-org server image where a "
                              "registry is reachable), or put a llama-server on PATH and use "
                              "execution.runtime: process")
    last = [l for l in text.splitlines() if l.strip()][-1:] or ["no output"]
    raise LlamaImageError(f"debootstrap {SUITE} with {PACKAGE} failed: {last[0]}")


def mirror():
    """The Debian mirror this machine's apt uses (EVALTASKS_DEBIAN_MIRROR wins),
    as scripts/make-base-image.sh finds it."""
    if os.environ.get("EVALTASKS_DEBIAN_MIRROR"):
        return os.environ["EVALTASKS_DEBIAN_MIRROR"]
    sources = sorted(Path("/etc/apt").glob("sources.list.d/*.sources"))
    lists = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt").glob("sources.list.d/*.list"))
    uris = [u for p in sources for line in _lines(p) if line.startswith("URIs:") for u in line.split()[1:]]
    uris += [line.split()[1] for p in lists for line in _lines(p) if line.startswith("deb ") and len(line.split()) > 1]
    found = [u for u in uris if "-security" not in u and re.search(r"/debian/*$", u)]
    return found[0] if found else DEFAULT_MIRROR


def _lines(path):
    try:
        return [line.strip() for line in path.read_text().splitlines()]
    except OSError:
        return []


def _server_identity(rootfs):
    """What llama-server says it is with its packages' versions, and every
    installed package's version."""
    listed = subprocess.run(["dpkg-query", f"--admindir={rootfs}/var/lib/dpkg", "-W",
                             "-f", "${Package}\t${Version}\n"], capture_output=True, text=True, check=True)
    packages = dict(line.split("\t", 1) for line in listed.stdout.splitlines() if "\t" in line)
    if PACKAGE not in packages:
        raise LlamaImageError(f"debootstrap did not install {PACKAGE}")
    server = {name: version for name, version in sorted(packages.items()) if SERVER_PACKAGES.match(name)}
    version = subprocess.run(_sudo() + ["chroot", rootfs, "llama-server", "--version"],
                             capture_output=True, text=True)
    said = (version.stdout + version.stderr).strip()
    # "version: 0.7.0 (build 11669, commit Debian)"
    match = re.search(r"version: (\S+) \(build (\d+)", said)
    llama_cpp = f"{match.group(1)} (build {match.group(2)})" if match else said.splitlines()[0] if said else "?"
    return {"llama_cpp": llama_cpp, "build": int(match.group(2)) if match else None,
            "packages": server, "suite": SUITE}, packages


def _digest(packages):
    return hashlib.sha256(json.dumps(packages, sort_keys=True).encode()).hexdigest()[:16]


def _import(rootfs, tag, server):
    # Package caches and docs are not needed to run the server.
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                 "usr/share/locale"):
        subprocess.run(_sudo() + ["rm", "-rf", os.path.join(rootfs, junk)], check=False)
    labels = {LABEL: json.dumps(server, sort_keys=True), "evaltasks.role": "llama-server-image"}
    changes = ["ENV LANG=C.UTF-8", 'ENTRYPOINT ["llama-server"]']
    changes += [f"LABEL {k}={json.dumps(v)}" for k, v in labels.items()]
    tar = subprocess.Popen(_sudo() + ["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    done = subprocess.run(["docker", "import", *(a for c in changes for a in ("--change", c)), "-", tag],
                          stdin=tar.stdout, capture_output=True, text=True)
    tar.stdout.close()
    tar.wait()
    if done.returncode != 0:
        raise LlamaImageError(f"docker import of {tag} failed: {done.stderr.strip()[-200:]}")


if __name__ == "__main__":      # scripts/setup.sh: make it now rather than in the first run
    import sys

    from evaltasks.executors.docker import containers as container

    try:
        print(ensure(container.connect(), log=lambda text: print(f"[llama-image] {text}", file=sys.stderr)))
    except LlamaImageError as e:
        sys.exit(f"error: {e}")
