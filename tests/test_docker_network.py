"""The reference document's "dedicated Docker network" setup: the model server is
a container on a user-defined network and the evaluation reaches it by name
(`extra_docker_args: "--network my-custom-network"`)."""

import json
import os
import time
import uuid

import pytest

from conftest import REPO, evaltasks_cli, gsm8k_golds, results, write_config
from evaltasks import image

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


def test_endpoint_on_a_dedicated_docker_network(tmp_path, docker_client):
    tag = uuid.uuid4().hex[:8]
    # internal: containers on it reach each other and nothing else.
    network = docker_client.networks.create(f"evaltasks-test-{tag}", internal=True)
    server = None
    try:
        server = docker_client.containers.run(
            image.ensure(docker_client, image.base_image(), log=lambda m: None),
            entrypoint=["python3", "/tests/endpoint.py"],
            command=["--host", "0.0.0.0", "--port", "8000", "--answers", "/answers.json"],
            name=f"evaltasks-test-endpoint-{tag}", network=network.name, detach=True,
            user=f"{os.getuid()}:{os.getgid()}",
            volumes={str(REPO / "tests"): {"bind": "/tests", "mode": "ro"},
                     str(_answers(tmp_path / "answers.json")): {"bind": "/answers.json", "mode": "ro"}})
        _wait_until_serving(server)
        url = f"http://{server.name}:8000/v1/chat/completions"
        out = tmp_path / "results"
        cfg = write_config(tmp_path / "c.yaml", url, out,
                           tasks=[{"name": "gsm8k", "overrides": {"config.params.limit_samples": 8}}],
                           execution={"extra_docker_args": f"--network {network.name}"})
        run = evaltasks_cli("run", "--config", str(cfg))
    finally:
        if server is not None:
            server.remove(force=True)
        network.remove()

    assert run.returncode == 0, run.stdout + run.stderr
    # The launcher cannot resolve the server's name, so it says it skipped the check.
    assert (f"note: preflight skipped for {url}: {server.name} resolves only inside Docker network "
            f"{network.name}") in run.stdout
    assert results(out)["metrics"]["accuracy"]["value"] == len(RIGHT) / 8
