"""``execution.extra_docker_args``: docker-CLI syntax → docker SDK ``containers.run`` kwargs."""

import os
import re
import shlex
from urllib.parse import urlparse

from evaltasks.config.errors import ConfigError

KEY = "execution.extra_docker_args"
_SIZE = re.compile(r"^\d+(\.\d+)?[bkmgBKMG]?$")


def _network(kw, v):
    kw["network_mode"] = v


def _env(kw, v):
    name, sep, value = v.partition("=")
    # `-e NAME` passes the launcher's own value through, like the docker CLI.
    kw.setdefault("environment", {})[name] = value if sep else os.environ.get(name, "")


def _volume(kw, v):
    parts = v.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ValueError("expected SRC:DST[:ro|rw]")
    mode = parts[2] if len(parts) == 3 else "rw"
    src = os.path.abspath(os.path.expanduser(parts[0])) if parts[0].startswith((".", "/", "~")) else parts[0]
    kw.setdefault("volumes", {})[src] = {"bind": parts[1], "mode": mode}


def _add_host(kw, v):
    host, sep, ip = v.partition(":")
    if not sep or not host or not ip:
        raise ValueError("expected HOST:IP")
    kw.setdefault("extra_hosts", {})[host] = ip


def _size(name):
    def apply(kw, v):
        if not _SIZE.match(v):
            raise ValueError("expected a size like 512m or 2g")
        kw[name] = v
    return apply


def _gpus(kw, v):
    from docker.types import DeviceRequest
    v = v.strip('"')
    if v == "all":
        request = DeviceRequest(count=-1, capabilities=[["gpu"]])
    elif v.isdigit():
        request = DeviceRequest(count=int(v), capabilities=[["gpu"]])
    elif v.startswith("device="):
        request = DeviceRequest(device_ids=v[len("device="):].split(","), capabilities=[["gpu"]])
    else:
        raise ValueError("expected all, a count, or device=ID[,ID]")
    kw.setdefault("device_requests", []).append(request)


def _ipc(kw, v):
    kw["ipc_mode"] = v


def _cpus(kw, v):
    kw["nano_cpus"] = int(float(v) * 1e9)


def _dns(kw, v):
    kw.setdefault("dns", []).append(v)


FLAGS = {
    "--network": _network, "--net": _network,
    "-e": _env, "--env": _env,
    "-v": _volume, "--volume": _volume,
    "--add-host": _add_host,
    "--shm-size": _size("shm_size"),
    "--gpus": _gpus,
    "--ipc": _ipc,
    "-m": _size("mem_limit"), "--memory": _size("mem_limit"),
    "--cpus": _cpus,
    "--dns": _dns,
}


def parse(text):
    """Parse docker-CLI flags into SDK keyword arguments; anything unsupported is
    a ConfigError naming the flag."""
    try:
        words = shlex.split(text or "")
    except ValueError as e:
        raise ConfigError(f"{KEY}: cannot parse {text!r}: {e}") from None
    kwargs = {}
    i = 0
    while i < len(words):
        word = words[i]
        flag, sep, value = word.partition("=") if word.startswith("--") else (word, "", "")
        if flag not in FLAGS:
            supported = ", ".join(sorted({f for f in FLAGS if f.startswith("--")}))
            raise ConfigError(f"{KEY}: unsupported docker flag '{flag}' (supported: {supported}, -e, -v, -m)")
        if not sep:
            i += 1
            if i >= len(words):
                raise ConfigError(f"{KEY}: flag '{flag}' needs a value")
            value = words[i]
        try:
            FLAGS[flag](kwargs, value)
        except ValueError as e:
            raise ConfigError(f"{KEY}: bad value {value!r} for '{flag}': {e}") from None
        i += 1
    return kwargs


def describe(kwargs):
    """Docker-CLI words for SDK kwargs, for printing a command line (values of
    ``environment`` are shown only by name)."""
    words = []
    if "network_mode" in kwargs:
        words += ["--network", kwargs["network_mode"]]
    for name in kwargs.get("environment", {}):
        words += ["-e", name]
    for src, spec in kwargs.get("volumes", {}).items():
        words += ["-v", f"{src}:{spec['bind']}:{spec['mode']}"]
    for host, ip in kwargs.get("extra_hosts", {}).items():
        words += ["--add-host", f"{host}:{ip}"]
    for key, flag in (("shm_size", "--shm-size"), ("ipc_mode", "--ipc"), ("mem_limit", "--memory")):
        if key in kwargs:
            words += [flag, str(kwargs[key])]
    if "nano_cpus" in kwargs:
        words += ["--cpus", f"{kwargs['nano_cpus'] / 1e9:g}"]
    for server in kwargs.get("dns", []):
        words += ["--dns", server]
    if kwargs.get("device_requests"):
        words += ["--gpus", "…"]
    return words


def check_reachable(url, network_mode, task_id):
    """A loopback URL means the launcher's machine, which a container reaches only
    with the host's network (``container:<name>`` shares that container's loopback)."""
    host = (urlparse(url).hostname or "").lower()
    loopback = host == "localhost" or host.endswith(".localhost") or _is_loopback_ip(host)
    if loopback and network_mode != "host" and not (network_mode or "").startswith("container:"):
        where = f"network {network_mode!r}" if network_mode else "Docker's default network"
        raise ConfigError(f"task {task_id}: target.api_endpoint.url {url} is this machine's loopback, which a "
                          f"container on {where} cannot reach; add --network host to {KEY}")


def _is_loopback_ip(host):
    import ipaddress    # here: ~1 ms, and a process run parses extra_docker_args without asking this

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
