"""Preflight: one tiny request per distinct endpoint before anything starts."""

from types import SimpleNamespace

import pytest

from conftest import containers_created, doit, write_config
from support.endpoint import FakeEndpoint
from evaltasks.pipeline import preflight
from evaltasks.pipeline.preflight import PreflightFailed


def test_healthy_endpoint_passes_with_one_tiny_request():
    with FakeEndpoint(api_key="k") as ep:
        assert preflight.check(ep.chat_url, "test-model", "chat", "KEY", environ={"KEY": "k"}) is None
        assert preflight.check(ep.completions_url, "test-model", "completions", "KEY", environ={"KEY": "k"}) is None
    chat, completion = ep.requests
    assert chat.payload["max_tokens"] == 1 and chat.payload["messages"][0]["content"] == "Hi"
    assert completion.payload["prompt"] == "Hi"


@pytest.mark.parametrize("setup, expected", [
    (dict(model_id="other-model"), "HTTP 404 The model `test-model` does not exist"),
    (dict(api_key="right"), "refused the key in KEY: HTTP 401"),
])
def test_refusals_name_url_and_model(setup, expected):
    with FakeEndpoint(**setup) as ep:
        with pytest.raises(PreflightFailed) as e:
            preflight.check(ep.chat_url, "test-model", "chat", "KEY", environ={"KEY": "wrong"})
    assert f"{ep.chat_url} (model test-model)" in str(e.value) and expected in str(e.value)


def test_unreachable():
    with FakeEndpoint() as ep:
        url = ep.chat_url
    with pytest.raises(PreflightFailed, match=r"http://127.0.0.1:\d+/v1/chat/completions \(model m\): cannot connect"):
        preflight.check(url, "m", "chat", None)


def test_busy_server_is_not_a_refusal():
    with FakeEndpoint(fault_rate=1.0, fault_kinds=("503",)) as ep:
        assert preflight.check(ep.chat_url, "test-model", "chat", None) is None


def test_container_names_on_a_docker_network_are_checked_from_inside_it():
    url = "http://my-phi-container.invalid:8000/v1/chat/completions"
    assert preflight.only_inside(url, "my-custom-network")
    assert not preflight.only_inside(url, "host") and not preflight.only_inside(url, None)
    assert not preflight.only_inside("http://127.0.0.1:8000/v1/chat/completions", "my-custom-network")


def test_distinct_endpoints():
    spec = lambda url, model: SimpleNamespace(endpoint={"url": url, "model_id": model, "type": "chat", "api_key_name": None},
                                              judges=[], params={"temperature": 0.0})
    found = preflight.endpoints([spec("u1", "a"), spec("u1", "a"), spec("u1", "b"), spec("u2", "a")])
    assert [key[:4] for key in found] == [("u1", "a", "chat", None), ("u1", "b", "chat", None), ("u2", "a", "chat", None)]


@pytest.mark.docker
def test_a_run_against_a_wrong_model_starts_nothing(tmp_path, docker_client):
    out = tmp_path / "results"
    import time
    since = time.time()
    with FakeEndpoint(model_id="served-model") as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out)
        run = doit(f"config={cfg}")
    assert run.returncode != 0
    line = f"error: cannot start: preflight: {ep.chat_url} (model test-model): HTTP 404"
    assert line in run.stdout, run.stdout
    assert len(ep.requests) == 1
    assert containers_created(docker_client, str(out), since) == []
    assert not (out / "gsm8k" / "logs").exists()
