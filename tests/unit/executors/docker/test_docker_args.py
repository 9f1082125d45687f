"""extra_docker_args: docker-CLI flags → docker SDK arguments."""

import pytest

from evaltasks.executors.docker import args as docker_args
from evaltasks.config.errors import ConfigError


def test_supported_flags():
    kw = docker_args.parse(
        "--network host -e A=1 --env B=two -v /tmp/x:/x:ro --volume=/tmp/y:/y "
        "--add-host db:10.0.0.2 --shm-size 2g --ipc=host --memory 4g --cpus 1.5 --dns 1.1.1.1 --gpus all")
    assert kw["network_mode"] == "host"
    assert kw["environment"] == {"A": "1", "B": "two"}
    assert kw["volumes"] == {"/tmp/x": {"bind": "/x", "mode": "ro"}, "/tmp/y": {"bind": "/y", "mode": "rw"}}
    assert kw["extra_hosts"] == {"db": "10.0.0.2"}
    assert kw["shm_size"] == "2g" and kw["ipc_mode"] == "host" and kw["mem_limit"] == "4g"
    assert kw["nano_cpus"] == 1_500_000_000 and kw["dns"] == ["1.1.1.1"]
    (gpus,) = kw["device_requests"]
    assert gpus["Count"] == -1 and gpus["Capabilities"] == [["gpu"]]


def test_env_without_value_passes_the_launchers_own(monkeypatch):
    monkeypatch.setenv("PASS_ME", "v")
    assert docker_args.parse("-e PASS_ME")["environment"] == {"PASS_ME": "v"}


def test_empty_is_nothing():
    assert docker_args.parse("") == {} and docker_args.parse(None) == {}


@pytest.mark.parametrize("text, message", [
    ("--privileged", "unsupported docker flag '--privileged'"),
    ("--network", "flag '--network' needs a value"),
    ("--cpus lots", "bad value 'lots' for '--cpus'"),
    ("-v nocolon", "bad value 'nocolon' for '-v'"),
    ("--network 'unclosed", "cannot parse"),
])
def test_bad_flags_are_config_errors_naming_the_flag(text, message):
    with pytest.raises(ConfigError, match="execution.extra_docker_args: " + message.replace("(", r"\(")):
        docker_args.parse(text)


def test_describe_shows_env_names_only():
    words = docker_args.describe(docker_args.parse("--network host -e TOKEN=s3cret"))
    assert words == ["--network", "host", "-e", "TOKEN"]


@pytest.mark.parametrize("url, network, reachable", [
    ("http://127.0.0.1:8000/v1", None, False),
    ("http://localhost:8000/v1", "bridge", False),
    ("http://[::1]:8000/v1", "my-net", False),
    ("http://127.0.0.2:8000/v1", None, False),
    ("http://LOCALHOST/v1", None, False),
    ("http://127.0.0.1:8000/v1", "host", True),
    ("http://localhost:8000/v1", "container:vllm", True),     # that container's own loopback
    ("http://my-phi-container:8000/v1", "my-net", True),
    ("http://10.0.0.5:8000/v1", None, True),
    ("https://integrate.api.nvidia.com/v1/chat/completions", None, True),
])
def test_loopback_urls_need_the_host_network(url, network, reachable):
    if reachable:
        docker_args.check_reachable(url, network, "t")
    else:
        with pytest.raises(ConfigError, match="task t: .* is this machine's loopback.*add --network host"):
            docker_args.check_reachable(url, network, "t")
