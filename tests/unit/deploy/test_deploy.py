"""The model server on its own (evaltasks.deploy): config → Deployment, command
lines of each type, fingerprint, and the lifecycle of a real server process —
tests/support/endpoint.py run as a `generic` deployment's command."""

import dataclasses
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import REPO, evaltasks_cli, free_port
from evaltasks import deploy
from evaltasks.config import compose as config
from evaltasks.config.errors import ConfigError
from evaltasks.deploy import commands, server

ENDPOINT = REPO / "tests" / "support" / "endpoint.py"


def load(tmp_path, deployment, overrides=(), group="generic", **extra):
    doc = {"defaults": [{"execution": "local"}, {"deployment": group}, "_self_"],
           "execution": {"output_dir": str(tmp_path / "out"), **extra},
           "deployment": deployment,
           "evaluation": {"tasks": [{"name": "gsm8k"}, {"name": "ifeval"}]}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(doc))
    return config.load(str(path), overrides, cwd=str(tmp_path))


def generic(tmp_path, command, port=None, timeout=30):
    port = port or free_port()
    cfg = load(tmp_path, {"command": command, "port": port, "served_model_name": "stand-in",
                          "endpoints": {"health": "/v1/models"}}, endpoint_readiness_timeout=timeout)
    return cfg.deployment


def stand_in(port):
    return f"{sys.executable} {ENDPOINT} --port {port} --model-id stand-in"


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


# -- config -----------------------------------------------------------------
def test_tasks_get_url_and_model_from_the_deployment(tmp_path):
    cfg = load(tmp_path, {"command": "serve", "port": 8123, "served_model_name": "m1"})
    assert cfg.deployment.type == "generic"
    assert {t["endpoint"]["url"] for t in cfg.tasks} == {"http://127.0.0.1:8123/v1/chat/completions"}
    assert {t["endpoint"]["model_id"] for t in cfg.tasks} == {"m1"}
    assert cfg.deployment.log_path == str(tmp_path / "out" / "deployment" / "logs" / "server.log")
    assert cfg.deployment.readiness_timeout == 600


def test_the_user_may_still_override_url_and_model(tmp_path):
    cfg = load(tmp_path, {"command": "serve", "port": 8123, "served_model_name": "m1"},
               overrides=["target.api_endpoint.url=http://127.0.0.1:9999/v1/chat/completions",
                          "target.api_endpoint.model_id=other"])
    assert cfg.tasks[0]["endpoint"]["url"] == "http://127.0.0.1:9999/v1/chat/completions"
    assert cfg.tasks[0]["endpoint"]["model_id"] == "other"


@pytest.mark.parametrize("group, deployment, message", [
    ("vllm", {"hf_model_handle": "org/m"}, "deployment.served_model_name: vllm needs"),
    ("vllm", {"served_model_name": "m"}, "deployment.checkpoint_path: vllm needs checkpoint_path or hf_model_handle"),
    ("nim", {"served_model_name": "m"}, "deployment.image: nim needs"),
    ("generic", {"served_model_name": "m"}, "deployment.command: generic needs a command or an image"),
    ("llama_cpp", {"checkpoint_path": "/nonexistent/m.gguf"}, "deployment.checkpoint_path: /nonexistent/m.gguf does not exist"),
    ("generic", {"command": "x", "served_model_name": "m", "port": 0}, "deployment.port: min value is 1"),
    ("generic", {"command": "x", "served_model_name": "m", "types": 1}, "deployment.types: unknown key"),
])
def test_bad_deployment_is_one_line_naming_the_key(tmp_path, group, deployment, message):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, deployment, group=group)
    assert message in str(e.value) and "\n" not in str(e.value)


# -- command lines (no GPU here: what NeMo Evaluator users expect to see) -----
GPUS = [{"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}]
HOST_ENV = {"MY_HF_TOKEN": "hf_secret_value", "NGC_KEY": "ngc_secret_value"}


def server_container(dep):
    """What the docker SDK is given for ``dep``'s server container, and the dry run's line."""
    return commands.container_options(dep, "abcdef123456", environ=HOST_ENV), commands.describe(dep, "abcdef123456")


def labels(tmp_path):
    return {"evaltasks.invocation": "abcdef123456", "evaltasks.output_dir": str(tmp_path / "out"),
            "evaltasks.role": "server"}


def test_vllm_container_every_key(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    dep = load(tmp_path, {"checkpoint_path": str(ckpt), "served_model_name": "llama", "port": 8001,
                          "tensor_parallel_size": 2, "pipeline_parallel_size": 3, "data_parallel_size": 4,
                          "gpu_memory_utilization": 0.8, "env_vars": {"HF_TOKEN": "MY_HF_TOKEN"},
                          "extra_args": "--max-model-len 4096"}, group="vllm").deployment
    serve = ("vllm serve /checkpoint --tensor-parallel-size=2 --pipeline-parallel-size=3 --data-parallel-size=4 "
             "--port 8001 --trust-remote-code --served-model-name llama --gpu-memory-utilization 0.8 "
             "--max-model-len 4096")
    options, line = server_container(dep)
    assert options == {"name": "evaltasks-server-abcdef12", "labels": labels(tmp_path), "device_requests": GPUS,
                       "network_mode": "host", "shm_size": "16g", "environment": {"HF_TOKEN": "hf_secret_value"},
                       "volumes": {str(ckpt): {"bind": "/checkpoint", "mode": "ro"}},
                       "entrypoint": ["/bin/sh", "-c"], "command": [serve]}
    # The secret by the name of the variable it comes from, never its value.
    assert line == (f"docker run --rm --name evaltasks-server-abcdef12 --gpus all --network host "
                    f"-v {ckpt}:/checkpoint:ro --shm-size 16g -e HF_TOKEN=$MY_HF_TOKEN --entrypoint /bin/sh "
                    f"vllm/vllm-openai:latest -c '{serve}'")
    assert dep.health_url == "http://127.0.0.1:8001/health"


def test_sglang_container_on_its_own_network_publishes_its_port(tmp_path):
    dep = load(tmp_path, {"hf_model_handle": "org/m", "served_model_name": "m", "tensor_parallel_size": 2,
                          "data_parallel_size": 3, "gpu_memory_utilization": 0.7, "network": "evalnet"},
               group="sglang").deployment
    serve = ("python3 -m sglang.launch_server --model-path org/m --host 0.0.0.0 --port 8000 --served-model-name m "
             "--tp 2 --dp 3 --mem-fraction-static 0.7")
    options, line = server_container(dep)
    assert options == {"name": "evaltasks-server-abcdef12", "labels": labels(tmp_path), "device_requests": GPUS,
                       "network_mode": "evalnet", "shm_size": "16g", "environment": {},
                       "ports": {"8000/tcp": ("127.0.0.1", 8000)},
                       "entrypoint": ["/bin/sh", "-c"], "command": [serve]}
    assert line == ("docker run --rm --name evaltasks-server-abcdef12 --gpus all --network evalnet --shm-size 16g "
                    f"-p 127.0.0.1:8000:8000 --entrypoint /bin/sh lmsysorg/sglang:latest -c '{serve}'")
    # Without gpu_memory_utilization (sglang's group has no default) the flag is left to sglang.
    default = load(tmp_path, {"hf_model_handle": "org/m", "served_model_name": "m"}, group="sglang").deployment
    assert server_container(default)[0]["command"] == [
        "python3 -m sglang.launch_server --model-path org/m --host 0.0.0.0 --port 8000 --served-model-name m "
        "--tp 8 --dp 1"]


def test_trtllm_container_every_key(tmp_path):
    dep = load(tmp_path, {"hf_model_handle": "org/m", "served_model_name": "m", "tensor_parallel_size": 2,
                          "pipeline_parallel_size": 2, "extra_args": "--max_batch_size 8"}, group="trtllm").deployment
    serve = "trtllm-serve serve org/m --host 0.0.0.0 --port 8000 --tp_size 2 --pp_size 2 --max_batch_size 8"
    options, line = server_container(dep)
    assert options == {"name": "evaltasks-server-abcdef12", "labels": labels(tmp_path), "device_requests": GPUS,
                       "network_mode": "host", "shm_size": "16g", "environment": {},
                       "entrypoint": ["/bin/sh", "-c"], "command": [serve]}
    assert line == ("docker run --rm --name evaltasks-server-abcdef12 --gpus all --network host --shm-size 16g "
                    f"--entrypoint /bin/sh nvcr.io/nvidia/tensorrt-llm/release:latest -c '{serve}'")


def test_nim_container_gets_its_served_model_name_and_keeps_its_entrypoint(tmp_path):
    dep = load(tmp_path, {"image": "nvcr.io/nim/x:1", "served_model_name": "m", "port": 8005, "network": "evalnet",
                          "env_vars": {"NGC_API_KEY": "NGC_KEY"}}, group="nim").deployment
    options, line = server_container(dep)
    assert options == {"name": "evaltasks-server-abcdef12", "labels": labels(tmp_path), "device_requests": GPUS,
                       "network_mode": "evalnet", "shm_size": "16g",
                       "environment": {"NGC_API_KEY": "ngc_secret_value", "NIM_SERVED_MODEL_NAME": "m"},
                       "ports": {"8000/tcp": ("127.0.0.1", 8005)}}
    # NIM listens on 8000 inside; the dry run shows every variable the container gets.
    assert line == ("docker run --rm --name evaltasks-server-abcdef12 --gpus all --network evalnet --shm-size 16g "
                    "-e NGC_API_KEY=$NGC_KEY -e NIM_SERVED_MODEL_NAME=m -p 127.0.0.1:8005:8000 nvcr.io/nim/x:1")
    assert dep.health_url == "http://127.0.0.1:8005/v1/health/ready"


def test_generic_image_and_command(tmp_path):
    dep = load(tmp_path, {"image": "my/server:1", "command": "serve --port 9000", "served_model_name": "g",
                          "port": 9000, "env_vars": {"TOKEN": "MY_HF_TOKEN"}}).deployment
    options, line = server_container(dep)
    # No GPU asked for: a generic image is any server.
    assert options == {"name": "evaltasks-server-abcdef12", "labels": labels(tmp_path), "network_mode": "host",
                       "shm_size": "16g", "environment": {"TOKEN": "hf_secret_value"},
                       "entrypoint": ["/bin/sh", "-c"], "command": ["serve --port 9000"]}
    assert line == ("docker run --rm --name evaltasks-server-abcdef12 --network host --shm-size 16g "
                    "-e TOKEN=$MY_HF_TOKEN --entrypoint /bin/sh my/server:1 -c 'serve --port 9000'")
    # A command on this machine: through the shell, its environment from the host's variables.
    process = load(tmp_path, {"command": "serve --port 9001", "served_model_name": "g", "port": 9001,
                              "env_vars": {"TOKEN": "MY_HF_TOKEN"}}).deployment
    assert commands.server_command(process) == ["/bin/sh", "-c", "serve --port 9001"]
    assert commands.environment(process, HOST_ENV) == {"TOKEN": "hf_secret_value"}
    assert commands.describe(process) == "TOKEN=$MY_HF_TOKEN /bin/sh -c 'serve --port 9001'"


def llama(tmp_path, parallelism=(8, 8), max_new_tokens=(None, None), **deployment):
    """A llama_cpp deployment serving gsm8k and ifeval with these params each."""
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    tasks = [{"name": name, "overrides": {"config.params.parallelism": n, "config.params.max_new_tokens": m}}
             for name, n, m in zip(("gsm8k", "ifeval"), parallelism, max_new_tokens)]
    doc = {"defaults": [{"execution": "local"}, {"deployment": "llama_cpp"}, "_self_"],
           "execution": {"output_dir": str(tmp_path / "out")},
           "deployment": dict({"checkpoint_path": str(gguf), "port": 8111}, **deployment),
           "evaluation": {"tasks": tasks}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(doc))
    return gguf, config.load(str(tmp_path / "cfg.yaml"), cwd=str(tmp_path)).deployment


def test_llama_cpp_runs_llama_server_in_an_image_with_slots_for_the_busiest_task(tmp_path):
    gguf, dep = llama(tmp_path, parallelism=(2, 16), max_new_tokens=(256, 1024),
                      extra_args="--no-jinja --chat-template gemma")
    line = commands.describe(dep, "abcdef123456")
    assert line.startswith("docker run --rm --name evaltasks-server-abcdef12 --network host")
    assert f"-v {gguf}:/checkpoint:ro" in line and " evaltasks-llama-server:" in line
    # 16 slots (the busiest task), each with room for 1024 new tokens and a 2048-token prompt.
    args = re.search(r" -m /checkpoint --host 127\.0\.0\.1 --port 8111 --alias gemma-3-270m -np 16 -c 49152 "
                     r"-t (\d+) --no-jinja --chat-template gemma$", line)
    assert args and args.group(1) in {"1", str(os.cpu_count())}, line      # the machine's load decides (below)
    # A thread per core, or one on an overloaded machine (llama.cpp's threads wait for each other).
    assert [commands.threads(cores=2, load=load) for load in (0.5, 3.5, 10.0)] == [2, 1, 1]
    assert dep.health_url == "http://127.0.0.1:8111/health"
    # What the user sets wins; another image is llama.cpp's own server image, say.
    _, own = llama(tmp_path, extra_args="-np 4 -c 8192 -t 3", image="ghcr.io/ggml-org/llama.cpp:server")
    line = commands.describe(own, "abcdef123456")
    assert line.endswith("ghcr.io/ggml-org/llama.cpp:server -m /checkpoint --host 127.0.0.1 --port 8111 "
                         "--alias gemma-3-270m -np 4 -c 8192 -t 3")


def fake_llama_server(folder, version):
    """A `llama-server` on PATH that only says its version (as llama.cpp's does)."""
    folder.mkdir(exist_ok=True)
    script = folder / "llama-server"
    script.write_text(f"#!/bin/sh\necho 'version: {version} (build 42, commit abc)'\n")
    script.chmod(0o755)
    return script


def test_llama_cpp_as_a_process_uses_the_llama_server_on_path_or_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    cfg = tmp_path / "cfg.yaml"
    llama(tmp_path)
    run = evaltasks_cli("run", "--config", str(cfg), "--dry-run", "-o", "execution.runtime=process")
    assert run.returncode == 0, run.stderr
    assert ("(cannot start here: deployment: llama_cpp with execution.runtime: process needs llama-server on PATH "
            "(Debian unstable's package llama.cpp-tools, or a llama.cpp build)") in run.stdout
    started = evaltasks_cli("run", "--config", str(cfg), "-o", "execution.runtime=process")
    assert started.returncode != 0 and "Traceback" not in started.stdout + started.stderr
    assert "model server: deployment: llama_cpp with execution.runtime: process needs llama-server" in started.stdout
    assert not (tmp_path / "out" / "gsm8k" / "results.json").exists()

    server = fake_llama_server(tmp_path / "bin", "1.0.0")
    gguf, dep = llama(tmp_path)
    dep = dataclasses.replace(dep, runtime="process")
    assert commands.describe(dep).rsplit(" -t ", 1)[0] == (
        f"llama-server -m {gguf} --host 127.0.0.1 --port 8111 --alias gemma-3-270m -np 8 -c 32768")
    # Which llama.cpp serves is part of the tasks' fingerprint.
    before = deploy.fingerprint(dep)
    assert before["server"] == {"llama_server": str(server), "llama_cpp": "1.0.0 (build 42, commit abc)"}
    server.unlink()
    fake_llama_server(tmp_path / "bin2", "1.0.1")
    monkeypatch.setenv("PATH", str(tmp_path / "bin2"))
    assert deploy.fingerprint(dep)["server"]["llama_cpp"] == "1.0.1 (build 42, commit abc)"


def test_the_image_made_here_is_in_the_fingerprint_by_its_packages(tmp_path, monkeypatch):
    from evaltasks.deploy import llama_image

    monkeypatch.setenv("EVALTASKS_CACHE_DIR", str(tmp_path / "cache"))
    _, dep = llama(tmp_path)
    assert deploy.fingerprint(dep)["server"] is None        # not made yet: taken once a task ran
    server = {"llama_cpp": "0.7.0 (build 11669)", "build": 11669, "suite": "sid",
              "packages": {"libllama0": "1:0.7.0+dfsg-2", "llama.cpp-tools": "1:0.7.0+dfsg-2"}}
    record = {"image": "evaltasks-llama-server:0123456789abcdef", "server": server, "checked": time.time()}
    llama_image.record_path().parent.mkdir(parents=True)
    llama_image.record_path().write_text(json.dumps(record))
    first = deploy.fingerprint(dep)
    assert first["server"]["build"] == 11669 and "evaltasks-llama-server:0123456789abcdef" in commands.describe(dep)
    server["packages"]["libllama0"] = "1:0.7.1+dfsg-1"      # unstable moved on: a new image
    llama_image.record_path().write_text(json.dumps(dict(record, server=server)))
    assert deploy.fingerprint(dep) != first


# -- fingerprint --------------------------------------------------------------
def test_fingerprint_follows_the_model_not_the_port(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF v1")

    def fp(**deployment):
        dep = load(tmp_path, dict({"checkpoint_path": str(gguf), "extra_args": "--n_ctx 4096"}, **deployment),
                   group="llama_cpp").deployment
        return deploy.fingerprint(dep)

    base = fp()
    assert fp(port=9000) == base
    assert fp(extra_args="--n_ctx 4096 --n_threads 2 --verbose true") == base
    assert fp(extra_args="--n_ctx 8192") != base
    assert fp(served_model_name="other") != base
    gguf.write_bytes(b"GGUF v2 with other weights")
    assert fp() != base


def test_fingerprint_of_a_command_ignores_its_port(tmp_path):
    a = load(tmp_path, {"command": "serve --port 8123 --temp 0", "port": 8123, "served_model_name": "m"})
    b = load(tmp_path, {"command": "serve --port 9000 --temp 0", "port": 9000, "served_model_name": "m"})
    c = load(tmp_path, {"command": "serve --port 9000 --temp 1", "port": 9000, "served_model_name": "m"})
    assert deploy.fingerprint(a.deployment) == deploy.fingerprint(b.deployment) != deploy.fingerprint(c.deployment)


# -- lifecycle of a real server process ---------------------------------------
def test_server_starts_answers_and_stops_with_nothing_left(tmp_path):
    port = free_port()
    dep = generic(tmp_path, stand_in(port), port)
    srv = server.Server(dep, "inv000000001")
    line = srv.start()
    assert "endpoint.py --port" in line
    try:
        srv.wait_ready(timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5) as reply:
            assert reply.status == 200
        record = json.loads((tmp_path / "out" / "deployment" / "process.json").read_text())
        assert pid_alive(record["pid"])
    finally:
        srv.stop()
    assert not pid_alive(record["pid"])
    assert not (tmp_path / "out" / "deployment" / "process.json").exists()
    assert "endpoint.py" in Path(dep.log_path).read_text()


def test_readiness_timeout_is_one_line_with_the_last_log_lines(tmp_path):
    dep = generic(tmp_path, f"{sys.executable} -c \"import time; print('loading weights 3/7', flush=True); "
                            f"time.sleep(120)\"", timeout=2)
    srv = server.Server(dep, "inv000000002")
    srv.start()
    with pytest.raises(server.ServerFailed) as e:
        srv.wait_ready()
    first, *rest = str(e.value).splitlines()
    # Given up after its 2 s, not after the server's 120 s sleep.
    assert first.startswith("model server not ready after 2s (GET http://127.0.0.1:")
    assert "execution.endpoint_readiness_timeout" in first
    assert any("loading weights 3/7" in line for line in rest)
    assert srv._proc.poll() is not None and not pid_alive(srv._proc.pid)


def test_server_that_exits_while_starting(tmp_path):
    dep = generic(tmp_path, "echo 'error: no such model' >&2; exit 3")
    srv = server.Server(dep, "inv000000003")
    srv.start()
    with pytest.raises(server.ServerFailed) as e:
        srv.wait_ready()
    assert str(e.value).splitlines()[0].startswith("model server exited (code 3) before it was ready")
    assert "error: no such model" in str(e.value)


def test_server_killed_from_outside_is_reported_with_its_exit(tmp_path):
    port = free_port()
    dep = generic(tmp_path, stand_in(port), port)
    died = []
    done = threading.Event()
    srv = server.Server(dep, "inv000000004", on_death=lambda why: (died.append(why), done.set()))
    srv.start()
    try:
        srv.wait_ready(timeout=30)
        os.killpg(srv._proc.pid, signal.SIGKILL)
        assert done.wait(10)
    finally:
        srv.stop()
    assert died[0].startswith("model server exited (code 137, SIGKILL)")
    assert "model server exited (code 137, SIGKILL)" in Path(dep.log_path).read_text()


def test_stop_recorded_finds_a_server_from_another_process(tmp_path):
    port = free_port()
    dep = generic(tmp_path, stand_in(port), port)
    srv = server.Server(dep, "inv000000005")
    srv.start()
    try:
        srv.wait_ready(timeout=30)
        assert server.stop_recorded(dep.output_dir, invocation="someoneelse") == 0
        assert server.stop_recorded(dep.output_dir, invocation="inv000000005") == 1
        assert srv.exited.wait(10)
    finally:
        srv.stop()


def test_a_deployment_with_the_slurm_executor_is_refused_in_one_line(tmp_path):
    from evaltasks.pipeline import actions as runner

    cfg = load(tmp_path, {"command": "serve", "port": 8123, "served_model_name": "m1"},
               overrides=["execution.type=slurm"])
    with pytest.raises(ConfigError) as e:
        runner.Run(cfg)
    assert str(e.value).startswith("deployment: generic is not supported with execution: slurm yet")
