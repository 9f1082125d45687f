"""The preflight's request sent from inside a harness container: for an endpoint
whose host is a container name on a user-defined Docker network, which only a
container on that network can resolve. The preflight (pipeline/preflight.py)
decides what to check and what a reply means; this module only carries the
request there and the reply back.

A ``send`` is ``send(url, body, api_key_name, environ, timeout) -> answer``, the
answer as the harness's ``client.probe`` gives it: ``{"status", "reason",
"text"}``, or ``{"unreachable": why}``. The key goes over the container's stdin,
as to a task's harness, never on its command line or in its environment."""

import itertools
import json
import os

from evaltasks.executors.docker import containers

# Runs in a harness container; prints the reply (or why there is none) as JSON.
SCRIPT = """
import json, sys
from evaltasks.harness import secrets
from evaltasks.harness.client import probe
key = secrets.read().get(sys.argv[3])
url, body, timeout = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[4])
answer = probe(url, body, key, timeout)
print(json.dumps(dict(answer, text=answer.get("text", "")[:65536])))
"""
# Beyond the request's own deadline: for the container to start and end.
STARTUP = 30


def from_container(client, image, docker_network, name, labels):
    """A ``send`` that makes the request from a short-lived harness container
    (``name``-1, -2, ...) on ``docker_network``, where the endpoint's name
    resolves. ``labels`` let a later run remove it should this launcher die."""
    probes = itertools.count(1)

    def send(url, body, api_key_name, environ, timeout):
        secrets = {api_key_name: environ.get(api_key_name, "")} if api_key_name else {}
        box = None
        try:
            box = client.containers.create(
                image, entrypoint=["python3", "-c", SCRIPT],
                command=[url, json.dumps(body), api_key_name or "", str(timeout)],
                network=docker_network, stdin_open=True, user=f"{os.getuid()}:{os.getgid()}",
                name=f"{name}-{next(probes)}", labels=labels)
            containers.start_with_secrets(box, secrets)
            box.wait(timeout=timeout + STARTUP)
            out = box.logs(stdout=True, stderr=False).decode(errors="replace").strip().splitlines()
        finally:
            if box is not None:
                containers.remove(box)
        try:
            return json.loads(out[-1])
        except (IndexError, ValueError):
            return {"unreachable": "the check container printed no reply"}

    return send
