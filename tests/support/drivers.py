"""The harness's HTTP client has two drivers over one reader and one retry
policy: ``Client.post`` blocks (the launcher's preflight, a judge asked from a
scoring thread) and ``Client.apost`` runs on an event loop (every request of a
task). The transport tests hold both to the same behaviour: with the fixture
``both_drivers``, each runs once as written and once with ``Client.post`` sent
through ``apost`` on an event loop of the client's own."""

import asyncio

import pytest

from evaltasks.harness.client import Client


@pytest.fixture(params=["blocking", "event loop"])
def both_drivers(request, monkeypatch):
    if request.param == "blocking":
        yield request.param
        return
    loops = []

    def post_on_a_loop(client, payload):
        loop = client.__dict__.get("_test_loop")
        if loop is None:
            loop = client.__dict__["_test_loop"] = asyncio.new_event_loop()
            loops.append((client, loop))
        return loop.run_until_complete(client.apost(payload))

    monkeypatch.setattr(Client, "post", post_on_a_loop)
    yield request.param
    for client, loop in loops:
        client.close_loop()
        loop.run_until_complete(asyncio.sleep(0))       # the transports' close, which is a callback
        loop.close()
