"""Model-written code in a sandbox fed through a scratch folder (evaltasks/harness/
sandbox_client.py, sandbox_runner.py), and the sandbox container (evaltasks/executors/docker/sandbox.py)."""

import json
import os
import subprocess
import sys
import threading
import time

import docker
import pytest

from conftest import DATA_DIR, REPO

from evaltasks.executors.docker import image
from evaltasks.executors.docker import sandbox as sandbox_container
from evaltasks.harness import sandbox, sandbox_client
from evaltasks.harness.benchmarks import humaneval

TOY = {"task_id": "toy/0", "prompt": 'def add(a, b):\n    """Add two numbers."""\n', "entry_point": "add",
       "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n", "timeout": 2.0}


@pytest.fixture
def runner(tmp_path, monkeypatch):
    """The runner as a plain process on a scratch folder that this process feeds."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "evaltasks.harness.sandbox_runner", str(scratch)],
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    monkeypatch.setenv(sandbox.SANDBOX_ENV, str(scratch))
    yield scratch
    proc.kill()
    proc.wait()


def test_programs_run_in_the_runner_with_the_same_outcomes(runner):
    assert humaneval.score("    return a + b", TOY)["result"] == "passed"
    assert humaneval.score("    return a - b", TOY)["result"].startswith("failed: AssertionError")
    assert humaneval.score("    while True:\n        pass", TOY)["result"] == "timed out"
    assert humaneval.score("    x = bytearray(1 << 34)\n    return a + b", TOY)["result"] == "failed: MemoryError"
    assert os.listdir(runner / sandbox_client.INBOX) == [] and os.listdir(runner / sandbox_client.OUTBOX) == []


def test_a_program_run_here_has_no_network_where_the_os_allows(tmp_path):
    """The process runtime's case (no sandbox container): a network namespace of
    the program's own, as root or in a user namespace (this machine allows both)."""
    from support.endpoint import FakeEndpoint

    with FakeEndpoint() as ep:
        reach = f"import urllib.request\nurllib.request.urlopen('{ep.chat_url}', data=b'{{}}', timeout=3)\n"
        outcome = sandbox.run_local(reach, 10)
    assert outcome["passed"] is False and "Network is unreachable" in outcome["result"], outcome
    assert ep.requests == []
    # The program can still write its own files.
    assert sandbox.run_local("open('f', 'w').write('x')\nassert open('f').read() == 'x'\n", 10)["passed"]


_NETWORK_IN_A_CONTAINER = r"""
import json, sys
from evaltasks.harness import sandbox
reach = f"import urllib.request\nurllib.request.urlopen('{sys.argv[1]}', data=b'{{}}', timeout=3)\n"
print(json.dumps({"note": sandbox.network_note(), "outcome": sandbox.run_local(reach, 10)}))
"""


@pytest.mark.docker
def test_where_unshare_is_refused_the_harness_says_programs_keep_the_network(docker_client):
    """A container's default seccomp profile refuses unshare: a program run there
    by run_local keeps the network (it reaches our endpoint), and network_note,
    which the harness logs as a WARNING and writes to results.json, says so."""
    from support.endpoint import FakeEndpoint

    harness_image = image.ensure(docker_client, image.base_image(), log=lambda m: None)
    with FakeEndpoint() as ep:
        out = docker_client.containers.run(harness_image, entrypoint=["python3", "-c", _NETWORK_IN_A_CONTAINER],
                                           command=[ep.chat_url], network_mode="host", remove=True,
                                           labels={"evaltasks.test": "unshare-refused"})
    said = json.loads(out.decode().strip().splitlines()[-1])
    assert said["note"] == ("NOT isolated: programs keep this machine's network "
                            "(unshare: Operation not permitted)")
    # It got through (the endpoint answered 400 to its empty body).
    assert [r.path for r in ep.requests] == ["/v1/chat/completions"] and "HTTP Error 400" in said["outcome"]["result"]


def forging_runner(scratch, forge):
    """A stand-in for a runner whose programs wrote ``forge(out_folder, name)``
    in place of the real outcome."""
    for name in (sandbox_client.INBOX, sandbox_client.OUTBOX):
        (scratch / name).mkdir()
    (scratch / sandbox_client.READY).write_text("{}")

    def serve():
        while True:
            for job in os.listdir(scratch / sandbox_client.INBOX):
                if not job.startswith("."):
                    os.unlink(scratch / sandbox_client.INBOX / job)
                    forge(scratch / sandbox_client.OUTBOX, job)
                    return
            time.sleep(0.01)

    threading.Thread(target=serve, daemon=True).start()


@pytest.mark.parametrize("forge, result", [
    (lambda out, name: (out / name).write_text('{"passed": true, "result": "all good"}'), "failed: all good"),
    (lambda out, name: (out / name).write_text('{"passed": "yes", "result": "passed"}'), "unreadable"),
    (lambda out, name: (out / name).write_text("not json"), "unreadable"),
    (lambda out, name: (out / name).write_text('{"passed": true, "result": "passed", "x": "%s"}' % ("y" * 70000)),
     "unreadable"),
    (lambda out, name: (out / name).symlink_to("/etc/passwd"), "not a plain file"),
    (lambda out, name: os.mkfifo(out / name), "not a plain file"),
    (lambda out, name: (out / name).mkdir(), "not a plain file"),
])
def test_a_forged_outcome_never_passes_and_never_hangs(tmp_path, forge, result):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    forging_runner(scratch, forge)
    outcome = sandbox_client.Client(str(scratch)).run("print(1)", 1.0)
    assert outcome["passed"] is False and result in outcome["result"]


def test_no_runner_is_a_sandbox_error_not_a_zero(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox_client, "START_WAIT", 0.2)
    with pytest.raises(sandbox_client.SandboxError, match="no sandbox answers"):
        sandbox_client.Client(str(tmp_path)).run("print(1)", 1.0)


# ---- in the sandbox container --------------------------------------------------

_SCORE_IN_HARNESS = r"""
import json, sys
from concurrent.futures import ThreadPoolExecutor
from evaltasks.harness.benchmarks import humaneval
items = json.loads(sys.argv[1])
if items == "canonical":
    items = [dict(i, code=i["gold"]) for i in humaneval.load("/data/humaneval")]
with ThreadPoolExecutor(8) as pool:
    print(json.dumps(list(pool.map(lambda i: humaneval.score(i["code"], i)["result"], items))))
"""


@pytest.fixture(scope="module")
def docker_sandbox():
    client = docker.from_env()
    harness_image = image.ensure(client, image.base_image(), log=lambda m: None)
    box = sandbox_container.start(client, harness_image, f"evaltasks-test-sandbox-{os.getpid()}",
                                  {"evaltasks.test": "sandbox"})
    yield client, harness_image, box
    sandbox_container.remove(box)


def score_in_harness_container(docker_sandbox, items):
    """Score ``items`` (or "canonical": every HumanEval canonical solution) from a
    harness container fed as the launcher feeds it."""
    client, harness_image, box = docker_sandbox
    extra = sandbox_container.harness_options(box)
    extra["volumes"][str((DATA_DIR / "humaneval").resolve())] = {"bind": "/data/humaneval", "mode": "ro"}
    out = client.containers.run(harness_image, entrypoint=["python3", "-c", _SCORE_IN_HARNESS],
                                command=[json.dumps(items)], remove=True, **extra)
    return json.loads(out.decode().strip().splitlines()[-1])


@pytest.mark.docker
def test_the_sandbox_container_has_no_network_mounts_or_writable_root(docker_sandbox):
    client, _, box = docker_sandbox
    attrs = client.api.inspect_container(box.container.id)
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] and host["IpcMode"] == "none"
    assert host["CapDrop"] == ["ALL"] and host["PidsLimit"] == 256
    # 3 GiB of memory and no swap beyond it; at most 2 CPUs; no gaining privileges (setuid files).
    assert (host["Memory"], host["MemorySwap"]) == (3 << 30, 3 << 30)
    assert host["NanoCpus"] == min(2, os.cpu_count()) * 10 ** 9
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert [(m["Type"], m["Destination"], m["RW"]) for m in attrs["Mounts"]] == [("volume", "/scratch", True)]
    volume = client.api.inspect_volume(box.volume.name)
    # Not root: the harness's own user, or nobody when the harness runs as root.
    uid, gid = (65534, 65534) if os.getuid() == 0 else (os.getuid(), os.getgid())
    assert volume["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": f"size=256m,uid={uid},gid={gid},mode=0700"}
    assert attrs["Config"]["User"] == f"{uid}:{gid}"
    # Every process in it (init and the runner) runs as that user (docker top: uid of each).
    top = client.api.top(box.container.id, ps_args="-o pid,uid,gid,args")
    assert any("sandbox_runner" in p[-1] for p in top["Processes"])
    assert {(int(p[1]), int(p[2])) for p in top["Processes"]} == {(uid, gid)}


@pytest.mark.docker
def test_canonical_solutions_all_pass_through_the_sandbox_container(docker_sandbox):
    assert score_in_harness_container(docker_sandbox, "canonical") == ["passed"] * 164


@pytest.mark.docker
def test_what_programs_cannot_do_in_the_sandbox_container(docker_sandbox):
    attacks = {
        "network": "    import socket\n    socket.create_connection(('1.1.1.1', 53), 2)\n    return a + b",
        "root fs": "    open('/opt/evaltasks/x', 'w').write('x')\n    return a + b",
        "shm": "    open('/dev/shm/x', 'w').write('x')\n    return a + b",
        "4 GiB": "    x = bytearray(4 << 30)\n    return a + b",
    }
    results = score_in_harness_container(docker_sandbox, [dict(TOY, code=code) for code in attacks.values()])
    assert all(not r.startswith("passed") for r in results), dict(zip(attacks, results))
    # The sandbox is still there afterwards.
    assert score_in_harness_container(docker_sandbox, [dict(TOY, code="    return a + b")]) == ["passed"]


@pytest.mark.docker
def test_a_process_a_program_leaves_in_a_session_of_its_own_is_gone_before_the_next(docker_sandbox):
    leaves = ("    import subprocess\n"
              "    subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
              "    return a + b")
    finds = ("    import os\n"
             "    assert any(b'sleep' in open(f'/proc/{p}/cmdline', 'rb').read()\n"
             "               for p in os.listdir('/proc') if p.isdigit()), 'no sleeper'\n"
             "    return a + b")
    assert score_in_harness_container(docker_sandbox, [dict(TOY, code=leaves)]) == ["passed"]
    assert score_in_harness_container(docker_sandbox, [dict(TOY, code=finds)]) == ["failed: AssertionError: no sleeper"]


def test_a_program_that_breaks_the_scratch_folder_fails_the_task_in_one_line(runner):
    import shutil
    assert humaneval.score("    return a + b", TOY)["result"] == "passed"
    shutil.rmtree(runner / sandbox_client.INBOX)
    with pytest.raises(sandbox_client.SandboxError, match="cannot hand the sandbox a program"):
        sandbox_client.client(str(runner)).run("print(1)", 1.0)


@pytest.mark.docker
def test_removing_a_sandbox_container_as_kill_and_orphan_cleanup_do_removes_its_volume():
    from evaltasks.executors.docker import containers as container

    client = docker.from_env()
    harness_image = image.ensure(client, image.base_image(), log=lambda m: None)
    box = sandbox_container.start(client, harness_image, f"evaltasks-test-sandbox-rm-{os.getpid()}",
                                  {"evaltasks.test": "sandbox"})
    found = client.containers.get(box.container.id)      # as find() gives it to kill and cleanup
    assert client.volumes.get(box.volume.name)
    container.remove(found, grace=0)
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get(box.volume.name)
