"""The sandbox container: where a task's model-written code runs (HumanEval, and
any benchmark whose catalog entry says ``runs_model_code``).

One per task, started before the harness container and removed after it. It
runs ``evaltasks.harness.sandbox_runner`` from the harness image, with no
network, a read-only root file system, no /dev/shm (``--ipc none``), no
capabilities, no secrets, limits on processes, memory and CPU, and a single
writable mount: a small tmpfs volume, the scratch folder, which the harness
container mounts too and feeds programs through. Nothing of ours (output,
data, cache folders) is mounted, and it runs as a user other than root.
The same concept as harness/sandbox.py at the launcher's layer: that module runs
each program; this one gives it a container to run in.
"""

import os
import secrets
from dataclasses import dataclass

from evaltasks.harness import sandbox_client
from evaltasks.harness.sandbox import SANDBOX_ENV

SCRATCH = "/scratch"            # in the sandbox container
HARNESS_SCRATCH = "/sandbox"    # the same folder, in the harness container
SCRATCH_SIZE = "256m"
MEMORY = "3g"                   # each program has 1 GiB of address space; a few run at once
PIDS = 256                      # a fork bomb stops here
CPUS = 2
NOBODY = (65534, 65534)
LABEL_ROLE = "evaltasks.role"
LABEL_SCRATCH_OF = "evaltasks.scratch_of"     # on the volume: its sandbox container's name


@dataclass
class Sandbox:
    container: object
    volume: object


def user():
    """The harness's user, unless that is root: programs never run as root."""
    uid, gid = os.getuid(), os.getgid()
    return NOBODY if uid == 0 else (uid, gid)


def volume_options(name, labels):
    uid, gid = user()
    return dict(name=name, driver="local", labels=labels,
                driver_opts={"type": "tmpfs", "device": "tmpfs",
                             "o": f"size={SCRATCH_SIZE},uid={uid},gid={gid},mode=0700"})


def options(name, volume_name, labels):
    """SDK keyword arguments for the sandbox container."""
    uid, gid = user()
    cpus = min(CPUS, os.cpu_count() or 1)
    return dict(
        entrypoint=["python3", "-m", "evaltasks.harness.sandbox_runner"], command=["--sweep", SCRATCH],
        name=name, labels=dict(labels, **{LABEL_ROLE: "sandbox"}), user=f"{uid}:{gid}", working_dir=SCRATCH,
        environment={"TMPDIR": f"{SCRATCH}/{sandbox_client.TMP}", "HOME": f"{SCRATCH}/{sandbox_client.TMP}"},
        network_mode="none", read_only=True, ipc_mode="none", cap_drop=["ALL"],
        security_opt=["no-new-privileges"], pids_limit=PIDS, mem_limit=MEMORY, memswap_limit=MEMORY,
        nano_cpus=int(cpus * 1e9), init=True,
        volumes={volume_name: {"bind": SCRATCH, "mode": "rw"}},
    )


def start(client, image, name, labels):
    """Create the scratch volume and start the sandbox container on it."""
    volume = client.volumes.create(**volume_options(f"{name}-{secrets.token_hex(4)}",
                                                    dict(labels, **{LABEL_SCRATCH_OF: name})))
    try:
        box = client.containers.create(image, detach=True, **options(name, volume.name, labels))
        box.start()
    except Exception:
        volume.remove(force=True)
        raise
    return Sandbox(box, volume)


def describe(sandbox):
    """One line for the task's log: what the sandbox container is kept from."""
    return (f"sandbox container {sandbox.container.name} for model-written code: --network none --read-only "
            f"--ipc none --cap-drop ALL --pids-limit {PIDS} --memory {MEMORY}, scratch: tmpfs volume "
            f"{sandbox.volume.name} ({SCRATCH_SIZE}), no other mount, no secret")


def harness_options(sandbox):
    """What the harness container needs to feed the sandbox: the scratch volume
    and the variable that tells ``sandbox.run_python`` where it is."""
    return {"volumes": {sandbox.volume.name: {"bind": HARNESS_SCRATCH, "mode": "rw"}},
            "environment": {SANDBOX_ENV: HARNESS_SCRATCH}}


def remove(sandbox):
    """Kill and remove the container, then its volume (already gone is fine)."""
    import docker.errors

    try:
        sandbox.container.remove(force=True)
    except docker.errors.NotFound:
        pass
    remove_volume(sandbox.container)


def remove_volume(box):
    """Remove the scratch volume of sandbox container ``box`` (removed already):
    ``container.remove`` calls this for every sandbox container it removes, so
    `evaltasks kill` and the cleanup after a killed launcher leave none behind."""
    import docker.errors

    for volume in box.client.volumes.list(filters={"label": f"{LABEL_SCRATCH_OF}={box.name}"}):
        try:
            volume.remove(force=True)
        except docker.errors.NotFound:
            pass
