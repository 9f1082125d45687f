"""How each deployment type's server is started: a process (generic with a
command; llama_cpp with ``runtime: process``) or a container (vLLM, SGLang, NIM,
TRT-LLM, llama_cpp, generic with an image), with the command lines NeMo Evaluator users know. ``describe`` is the
equivalent shell line, for the dry run and the server log: secrets by name only."""

import os
import shlex
import shutil

from evaltasks.executors.docker import args as docker_args
from . import GPU_TYPES, Deployment, DeploymentError, models

CHECKPOINT_MOUNT = "/checkpoint"
NIM_PORT = 8000          # a NIM listens here inside its container
LABEL_ROLE = "evaltasks.role"


def model_argument(dep: Deployment):
    """The model as the server's command line names it: the handle, else the mounted checkpoint."""
    return dep.hf_model_handle or CHECKPOINT_MOUNT


def gguf_file(dep: Deployment, assemble=True):
    """llama_cpp's GGUF file; ``assemble=False`` (dry run) names it without writing it."""
    if dep.checkpoint_path:
        return os.path.abspath(os.path.expanduser(dep.checkpoint_path))
    if assemble:
        return str(models.gguf_path(dep.model_package))
    ident = models.identity(dep.model_package)
    return str(models.cache_dir() / dep.model_package / ident["version"] / ident["file"])


def server_command(dep: Deployment, assemble=True):
    """The argv of a process server, or the command string run in a server
    container (for llama_cpp, the arguments to its image's ``llama-server``)."""
    extra = shlex.split(dep.extra_args or "")
    if dep.type == "llama_cpp":
        return llama_server_args(dep, assemble) + extra
    if dep.command:
        return dep.command if dep.in_container else ["/bin/sh", "-c", dep.command]
    model, p = model_argument(dep), dep
    if dep.type == "vllm":
        words = ["vllm", "serve", model, f"--tensor-parallel-size={p.tensor_parallel_size}",
                 f"--pipeline-parallel-size={p.pipeline_parallel_size}",
                 f"--data-parallel-size={p.data_parallel_size}", "--port", str(p.port), "--trust-remote-code",
                 "--served-model-name", p.served_model_name]
        if p.gpu_memory_utilization is not None:
            words += ["--gpu-memory-utilization", str(p.gpu_memory_utilization)]
    elif dep.type == "sglang":
        words = ["python3", "-m", "sglang.launch_server", "--model-path", model, "--host", "0.0.0.0",
                 "--port", str(p.port), "--served-model-name", p.served_model_name,
                 "--tp", str(p.tensor_parallel_size), "--dp", str(p.data_parallel_size)]
        if p.gpu_memory_utilization is not None:
            words += ["--mem-fraction-static", str(p.gpu_memory_utilization)]
    elif dep.type == "trtllm":
        words = ["trtllm-serve", "serve", model, "--host", "0.0.0.0", "--port", str(p.port),
                 "--tp_size", str(p.tensor_parallel_size), "--pp_size", str(p.pipeline_parallel_size)]
    else:                      # nim, generic image: the image's own entrypoint and command
        return None
    return shlex.join(words + extra)


def llama_server_args(dep: Deployment, assemble=True):
    """llama.cpp's ``llama-server`` for ``dep``: in a container the image's own
    entrypoint with the GGUF mounted; as a process the binary on PATH."""
    if dep.in_container:
        words = ["-m", CHECKPOINT_MOUNT]
    elif not shutil.which("llama-server"):
        raise DeploymentError("deployment: llama_cpp with execution.runtime: process needs llama-server on PATH "
                              "(Debian unstable's package llama.cpp-tools, or a llama.cpp build); "
                              "execution.runtime: docker runs it in an image made here, no install needed")
    else:
        words = ["llama-server", "-m", gguf_file(dep, assemble)]
    words += ["--host", "127.0.0.1", "--port", str(dep.port)]
    if dep.served_model_name:
        words += ["--alias", dep.served_model_name]
    given = {w.split("=", 1)[0] for w in shlex.split(dep.extra_args or "")}
    # What the user set wins; else one slot per request in flight, each with the context sized from the config.
    if not {"-np", "--parallel"} & given:
        words += ["-np", str(dep.slots)]
    if dep.slot_context and not {"-c", "--ctx-size"} & given:
        words += ["-c", str(dep.slots * dep.slot_context)]
    if not {"-t", "--threads"} & given:
        words += ["-t", str(threads())]
    return words


def threads(cores=None, load=None):
    """llama-server's threads: one per core, or one when the machine is already
    busy (load average above its cores). llama.cpp's threads wait for each other
    at every step, so on a busy machine each step waits for the one that was
    descheduled. Measured on 2 cores (bench/RESULTS.md): at load < 2, -t 2
    served 1.6x faster than -t 1; at load ~3.5 the demo took 250 s with -t 2
    and 200 s with -t 1 at a higher load; at load ~10, -t 1 generated 8x faster."""
    cores = cores or os.cpu_count() or 1
    load = os.getloadavg()[0] if load is None else load
    return 1 if load > cores else cores


def image(dep: Deployment):
    """The server container's image: ``deployment.image``, else (llama_cpp) the
    one made here, named as the last one made until the run makes it."""
    if dep.image or dep.type != "llama_cpp":
        return dep.image
    from . import llama_image

    made = llama_image.recorded()
    return made["image"] if made else f"{llama_image.REPOSITORY}:<made on first use>"


def environment(dep: Deployment, environ=None):
    """The server's environment: each ``env_vars`` entry from the host variable it
    names (values go to the process or the daemon, never to a file)."""
    environ = os.environ if environ is None else environ
    env = {inner: environ.get(outer, "") for inner, outer in dep.env_vars.items()}
    if dep.type == "nim":
        env.setdefault("NIM_SERVED_MODEL_NAME", dep.served_model_name)
    return env


def container_options(dep: Deployment, invocation, environ=None, assemble=True):
    """docker SDK keyword arguments for a server container (``assemble=False``,
    the dry run: the model package's GGUF named, not written)."""
    flags = f"--shm-size {dep.shm_size} --network {dep.network or 'host'}"
    if dep.type in GPU_TYPES:
        flags += " --gpus all"
    options = docker_args.parse(flags)
    if dep.checkpoint_path or dep.type == "llama_cpp":
        source = gguf_file(dep, assemble) if dep.type == "llama_cpp" else dep.checkpoint_path
        options["volumes"] = {os.path.abspath(os.path.expanduser(source)): {"bind": CHECKPOINT_MOUNT, "mode": "ro"}}
    if options.get("network_mode") != "host":
        inside = NIM_PORT if dep.type == "nim" else dep.port
        options["ports"] = {f"{inside}/tcp": ("127.0.0.1", dep.port)}
    options["environment"] = environment(dep, environ)
    command = server_command(dep, assemble)
    if dep.type == "llama_cpp":
        # Arguments to the image's entrypoint, llama-server (ours, and llama.cpp's own server images).
        options["command"] = command
    elif command is not None:
        # The images' entrypoints differ (vllm serve, a NIM launcher): run the command as is.
        options.update(entrypoint=["/bin/sh", "-c"], command=[command])
    from evaltasks.executors.docker.containers import LABEL_INVOCATION, LABEL_OUTPUT_DIR

    options.update(name=f"evaltasks-server-{invocation[:8]}",
                   labels={LABEL_INVOCATION: invocation, LABEL_OUTPUT_DIR: dep.output_dir, LABEL_ROLE: "server"})
    return options


def describe(dep: Deployment, invocation="<invocation>"):
    """The shell line that starts this server; env_vars by the variable they come from."""
    if dep.in_container:
        options = container_options(dep, invocation, environ={}, assemble=False)
        words = ["docker", "run", "--rm", "--name", options["name"]]
        if options.get("device_requests"):
            words += ["--gpus", "all"]
        shown = {k: v for k, v in options.items() if k not in ("device_requests", "environment")}
        words += docker_args.describe(shown)
        for inner, outer in dep.env_vars.items():
            words += ["-e", inner if inner == outer else f"{inner}=${outer}"]
        # Set by us, not from a host variable (NIM_SERVED_MODEL_NAME): no secret, shown as is.
        for inner, value in options["environment"].items():
            if inner not in dep.env_vars:
                words += ["-e", shlex.quote(f"{inner}={value}")]
        for inside, (host, port) in options.get("ports", {}).items():
            words += ["-p", f"{host}:{port}:{inside.split('/')[0]}"]
        if "entrypoint" in options:
            words += ["--entrypoint", "/bin/sh", dep.image, "-c", shlex.quote(options["command"][0])]
        else:
            words += [image(dep)] + [shlex.quote(w) for w in options.get("command") or []]
        return " ".join(words)
    env = " ".join(f"{inner}=${outer}" for inner, outer in dep.env_vars.items())
    return (env + " " if env else "") + shlex.join(server_command(dep, assemble=False))
