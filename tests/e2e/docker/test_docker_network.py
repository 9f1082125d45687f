"""The reference document's "dedicated Docker network" setup: the model server is
a container on a user-defined network and the evaluation reaches it by name
(`extra_docker_args: "--network my-custom-network"`)."""

import json
import os
import time
import uuid

import pytest

from conftest import REPO, containers_created, evaltasks_cli, gsm8k_golds, results, write_config
from evaltasks.executors.docker import image

pytestmark = pytest.mark.docker

RIGHT = {0, 1, 3, 4, 6}     # of the first 8 gsm8k questions


def _answers(path):
    replies = {}
    for i, item in enumerate(gsm8k_golds()[:8]):
        answer = item["gold"] if i in RIGHT else str(int(item["gold"]) + 1)
        replies[item["question"]] = f"Step by step...\nAnswer: {answer}"
    path.write_text(json.dumps(replies))
    return path


def _wait_until_serving(server, timeout=60):
    deadline = time.time() + timeout
    while b"serving" not in server.logs() and time.time() < deadline:
        time.sleep(0.2)
    assert b"serving" in server.logs(), server.logs().decode(errors="replace")


@pytest.fixture(scope="module")
def server_on_a_network(docker_client, tmp_path_factory):
    """A test endpoint container on a network of its own; yields (network name, server name)."""
    tag = uuid.uuid4().hex[:8]
    # internal: containers on it reach each other and nothing else.
    network = docker_client.networks.create(f"evaltasks-test-{tag}", internal=True)
    server = None
    try:
        server = docker_client.containers.run(
            image.ensure(docker_client, image.base_image(), log=lambda m: None),
            entrypoint=["python3", "/tests/support/endpoint.py"],
            command=["--host", "0.0.0.0", "--port", "8000", "--answers", "/answers.json"],
            name=f"evaltasks-test-endpoint-{tag}", network=network.name, detach=True,
            user=f"{os.getuid()}:{os.getgid()}",
            volumes={str(REPO / "tests"): {"bind": "/tests", "mode": "ro"},
                     str(_answers(tmp_path_factory.mktemp("answers") / "answers.json")):
                         {"bind": "/answers.json", "mode": "ro"}})
        _wait_until_serving(server)
        yield network.name, server.name
    finally:
        if server is not None:
            server.remove(force=True)
        network.remove()


def _config(tmp_path, url, network):
    return write_config(tmp_path / "c.yaml", url, tmp_path / "results",
                        tasks=[{"name": "gsm8k", "overrides": {"config.params.limit_samples": 8}}],
                        execution={"extra_docker_args": f"--network {network}"})


def test_endpoint_reached_by_container_name(tmp_path, server_on_a_network):
    network, server = server_on_a_network
    cfg = _config(tmp_path, f"http://{server}:8000/v1/chat/completions", network)
    run = evaltasks_cli("run", "--config", str(cfg))
    assert run.returncode == 0, run.stdout + run.stderr
    assert results(tmp_path / "results")["metrics"]["accuracy"]["value"] == len(RIGHT) / 8


def test_preflight_checks_from_inside_the_network(tmp_path, server_on_a_network, docker_client):
    network, server = server_on_a_network
    url = f"http://{server}:8000/v1/chat/completions"
    cfg = _config(tmp_path, url, network)
    since = time.time()
    wrong_model = evaltasks_cli("run", "--config", str(cfg), "-o", "target.api_endpoint.model_id=nope")
    assert wrong_model.returncode == 1
    assert f"error: cannot start: preflight: {url} (model nope): HTTP 404" in wrong_model.stdout, wrong_model.stdout
    # The check's own container, and no task's.
    invocation = wrong_model.stdout.split()[1].rstrip(":")
    assert containers_created(docker_client, str(tmp_path / "results"), since) == [
        f"evaltasks-preflight-{invocation[:8]}-1"]

    wrong_port = evaltasks_cli("run", "--config", str(cfg), "-o", f"target.api_endpoint.url=http://{server}:9/v1")
    assert f"preflight: http://{server}:9/v1 (model test-model): cannot connect" in wrong_port.stdout

    no_network = evaltasks_cli("run", "--config", str(cfg), "--skip-preflight",
                               "-o", "execution.extra_docker_args=--network evaltasks-test-no-such-network")
    assert ("error: cannot start: Docker network 'evaltasks-test-no-such-network' (execution.extra_docker_args) "
            "does not exist") in no_network.stdout, no_network.stdout
    assert not (tmp_path / "results" / "gsm8k" / "logs").exists()
