"""execution: slurm on a cluster whose compute nodes are not the submit host:
scripts/slurm-nodes.sh's three containers (slurmctld, node1, node2) on a Docker
network that reaches nothing outside, with Debian's slurm-wlm and python3, one
shared folder at the same path everywhere. The launcher submits from this
machine; the scripted endpoint listens on the host's address on that network."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from conftest import DATA_DIR, REPO, FakeEndpoint, Gsm8kModel, evaltasks_cli, is_preflight, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.docker, pytest.mark.usefixtures("own_cache")]

SCRIPT = REPO / "scripts" / "slurm-nodes.sh"


def nodes_script(*args):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="session")
def nodes_cluster():
    """The three-node cluster, started once for the session and removed at its
    end: {SLURM_CONF, shared folder, gateway address}."""
    folder = Path(tempfile.mkdtemp(prefix="evaltasks-nodes-test-"))
    folder.chmod(0o755)
    started = nodes_script("start", str(folder), "--nodes", "3")
    if started.returncode != 0:
        nodes_script("stop", str(folder))
        pytest.fail(f"the three-node cluster did not start:\n{started.stdout}{started.stderr}")
    exports = dict(line[len("export "):].split("=", 1) for line in started.stdout.splitlines()
                   if line.startswith("export "))
    shared = Path(exports["EVALTASKS_SHARED_DIR"])
    # The tasks' data on shared storage, as on a real cluster.
    shutil.copytree(DATA_DIR / "gsm8k", shared / "data" / "gsm8k")
    try:
        yield dict(folder=folder, conf=exports["SLURM_CONF"], shared=shared,
                   gateway=exports["EVALTASKS_NODES_GATEWAY"])
    finally:
        stopped = nodes_script("stop", str(folder))
        assert stopped.returncode == 0, stopped.stderr
        label = f"label=evaltasks.slurm-nodes={folder}"
        left = subprocess.run(["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True).stdout
        networks = subprocess.run(["docker", "network", "ls", "-q", "--filter", label],
                                  capture_output=True, text=True).stdout
        shutil.rmtree(folder, ignore_errors=True)
        assert left.strip() == "" and networks.strip() == "", "slurm-nodes.sh stop left containers or networks"


@pytest.fixture
def on_nodes(nodes_cluster, monkeypatch, state):
    """This test's Slurm commands and runs go to the three-node cluster, with the data on shared storage."""
    monkeypatch.setenv("SLURM_CONF", nodes_cluster["conf"])
    monkeypatch.setenv("EVALTASKS_DATA_DIR", str(nodes_cluster["shared"] / "data"))
    return nodes_cluster


def config(path, url, out, tasks, shared, **execution):
    execution = {"shared_dir": str(shared / "harness"), **execution}
    cfg = write_config(path, url, out, tasks, execution=execution)
    cfg.write_text(cfg.read_text().replace("- execution: local", "- execution: slurm"))
    return cfg


def jobs(fragment):
    """{job id: (name, state, node)} of ended jobs whose name holds ``fragment`` (sacct -c)."""
    out = subprocess.run(["sacct", "-c", "-n", "-P", "-o", "JobID,JobName,State,NodeList"],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split("|") for line in out.splitlines()]
    return {r[0]: (r[1], r[2].split()[0], r[3]) for r in rows if fragment in r[1]}


def task_jobs(invocation):
    return {k: v for k, v in jobs(invocation[:8]).items() if not v[0].startswith("evaltasks-check-")}


def invocation_of(stdout):
    return stdout.split()[1].rstrip(":")


def gsm8k_tasks(n):
    return [{"name": "gsm8k", "id": f"t{i}", "overrides": {"config.params.limit_samples": 4 + i,
                                                          "config.params.parallelism": 1}} for i in range(n)]


def scores(out, task):
    rows = map(json.loads, (out / task / "samples.jsonl").read_text().splitlines())
    return [(r["index"], r["score"]) for r in rows]


def test_six_tasks_spread_over_both_nodes_score_as_a_local_run(on_nodes, tmp_path):
    shared = on_nodes["shared"]
    tasks = gsm8k_tasks(6)
    out = shared / "six"
    # Jobs that last a few seconds each (one request at a time, 0.5 s a reply), so the
    # six are in the queue together and the scheduler has to use both nodes.
    with FakeEndpoint(Gsm8kModel(right=range(0, 1319, 2)), host=on_nodes["gateway"], latency=0.5) as ep:
        cfg = config(tmp_path / "six.yaml", ep.chat_url, out, tasks, shared)
        first = evaltasks_cli("run", "--config", str(cfg))
        assert first.returncode == 0, first.stdout + first.stderr
        inv = invocation_of(first.stdout)
        ran = task_jobs(inv)
        assert len(ran) == 6 and {state for _, state, _ in ran.values()} == {"COMPLETED"}, ran
        assert {node for _, _, node in ran.values()} == {"node1", "node2"}, ran
        # The venv the jobs ran was built on a node, with the nodes' Python (Debian's, not this pyenv's).
        venvs = list((shared / "harness" / "venvs").iterdir())
        built = [v for v in venvs if not v.name.startswith(".")]
        assert len(built) == 1 and (built[0] / "pyvenv.cfg").read_text().count("home = /usr/bin") == 1
        assert len(jobs("evaltasks-venv")) == 1

        # The same tasks run locally in Docker score the same, sample by sample.
        local_out = tmp_path / "local"
        local = write_config(tmp_path / "local.yaml", ep.chat_url, local_out, tasks)
        done = evaltasks_cli("run", "--config", str(local), env={"EVALTASKS_DATA_DIR": str(DATA_DIR)})
        assert done.returncode == 0, done.stdout + done.stderr
        for task in (t["id"] for t in tasks):
            on_cluster = json.loads((out / task / "results.json").read_text())
            assert on_cluster["metrics"] == json.loads((local_out / task / "results.json").read_text())["metrics"]
            assert scores(out, task) == scores(local_out, task) and len(scores(out, task)) == on_cluster["samples"]
        assert 0 < json.loads((out / "t5" / "results.json").read_text())["metrics"]["accuracy"]["value"] < 1

        again = evaltasks_cli("run", "--config", str(cfg))
        assert again.returncode == 0 and "6 up to date" in again.stdout, again.stdout + again.stderr
        assert jobs(invocation_of(again.stdout)[:8]) == {}

        # A changed task runs again, in the venv built the first time: nothing is built.
        changed = evaltasks_cli("run", "--config", str(cfg), "-o",
                                "evaluation.tasks.t1.overrides.config.params.limit_samples=2")
        assert changed.returncode == 0, changed.stdout + changed.stderr
        assert len(task_jobs(invocation_of(changed.stdout))) == 1
        assert len(jobs("evaltasks-venv")) == 1
        assert json.loads((out / "t1" / "results.json").read_text())["samples"] == 2


def test_the_nodes_reach_no_package_index(on_nodes):
    label = f"label=evaltasks.slurm-nodes={on_nodes['folder']}"
    network = subprocess.run(["docker", "network", "ls", "-q", "--filter", label],
                             capture_output=True, text=True, check=True).stdout.split()
    assert len(network) == 1
    internal = subprocess.run(["docker", "network", "inspect", "-f", "{{.Internal}}", network[0]],
                              capture_output=True, text=True, check=True).stdout.strip()
    assert internal == "true"
    node = subprocess.run(["docker", "ps", "-q", "--filter", label, "--filter", "name=-node1"],
                          capture_output=True, text=True, check=True).stdout.split()[0]
    # pypi.org's address (no DNS needed): the host drops what a node sends beyond the network.
    reach = subprocess.run(["docker", "exec", node, "python3", "-c",
                            "import socket; socket.create_connection(('151.101.0.223', 443), timeout=5)"],
                           capture_output=True, text=True)
    assert reach.returncode != 0 and ("timed out" in reach.stderr or "unreachable" in reach.stderr), reach.stderr


def test_an_output_dir_only_this_host_sees_is_refused_before_any_job(on_nodes, tmp_path):
    out = tmp_path / "host-only"
    with FakeEndpoint(Gsm8kModel(right=range(3)), host=on_nodes["gateway"]) as ep:
        cfg = config(tmp_path / "h.yaml", ep.chat_url, out, gsm8k_tasks(2), on_nodes["shared"])
        run = evaltasks_cli("run", "--config", str(cfg))
    assert run.returncode != 0
    said = [line for line in (run.stdout + run.stderr).splitlines() if str(out) in line]
    assert len(said) == 1, run.stdout + run.stderr
    assert re.search(f"execution.output_dir {re.escape(str(out))} is not visible on node[12] \\(a check job read what "
                     "this host wrote there\\): put it on storage every node shares$", said[0]), said
    assert task_jobs(invocation_of(run.stdout)) == {}
    assert not any(out.glob("*/results.json"))


def test_data_only_this_host_sees_is_refused_before_any_job(on_nodes, tmp_path, monkeypatch):
    data = tmp_path / "data"            # a copy on this host's disk, not on shared storage
    shutil.copytree(on_nodes["shared"] / "data" / "gsm8k", data / "gsm8k")
    monkeypatch.setenv("EVALTASKS_DATA_DIR", str(data))
    with FakeEndpoint(Gsm8kModel(right=range(3)), host=on_nodes["gateway"]) as ep:
        cfg = config(tmp_path / "d.yaml", ep.chat_url, on_nodes["shared"] / "host-data", gsm8k_tasks(1),
                     on_nodes["shared"])
        run = evaltasks_cli("run", "--config", str(cfg))
    assert run.returncode != 0
    assert re.search(f"the data folder {re.escape(str(data / 'gsm8k'))} is not visible on node[12] "
                     "\\(a check job found other files there\\)", run.stdout + run.stderr), run.stdout + run.stderr
    assert task_jobs(invocation_of(run.stdout)) == {}


def test_a_cluster_of_two_nodes_without_shared_dir_is_refused_saying_why(on_nodes, tmp_path):
    out = on_nodes["shared"] / "no-shared-dir"
    with FakeEndpoint(Gsm8kModel(right=range(3)), host=on_nodes["gateway"]) as ep:
        cfg = config(tmp_path / "n.yaml", ep.chat_url, out, gsm8k_tasks(1), on_nodes["shared"], shared_dir=None)
        run = evaltasks_cli("run", "--config", str(cfg))
    assert run.returncode != 0
    assert ("execution.shared_dir is not set: on a cluster of 2 nodes (node1, node2) the harness venv is built "
            "for the nodes in a folder they all see at the same path") in run.stdout + run.stderr
    assert jobs(invocation_of(run.stdout)[:8]) == {}


class Stalls:
    """Answers gsm8k's questions until it has answered ``answer`` of them, then
    holds every further request until released; records what it answered."""

    def __init__(self, answer):
        self.model = Gsm8kModel(right=range(0, 1319, 2))
        self.answer = answer
        self.answered = []
        self.held = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, payload):
        if is_preflight(payload):
            return "Hi"
        with self.lock:
            stall = len(self.answered) >= self.answer and not self.release.is_set()
        if stall:
            self.held.set()
            self.release.wait(600)
            raise ConnectionAbortedError("released")   # this request's client is gone: no answer
        reply = self.model(payload)
        with self.lock:
            self.answered.append(payload["messages"][-1]["content"])
        return reply


def test_a_node_failure_is_reported_naming_the_node_and_a_rerun_finishes_on_the_other(on_nodes, tmp_path):
    shared = on_nodes["shared"]
    out = shared / "nodefail"
    model = Stalls(answer=3)
    with FakeEndpoint(model, host=on_nodes["gateway"]) as ep:
        cfg = config(tmp_path / "f.yaml", ep.chat_url, out, [{"name": "gsm8k", "id": "victim",
                     "overrides": {"config.params.limit_samples": 8, "config.params.parallelism": 1}}], shared)
        launcher = subprocess.Popen([sys.executable, "-m", "evaltasks", "run", "--config", str(cfg)], cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=dict(os.environ, PYTHONUNBUFFERED="1"))
        try:
            invocation = launcher.stdout.readline().split()[1].rstrip(":")
            assert model.held.wait(300), "the job never reached the endpoint"
            record = json.loads((out / "victim" / "slurm.json").read_text())
            shown = evaltasks_cli("status", invocation).stdout
            node = next(n for n in ("node1", "node2") if f"RUNNING on {n}" in shown)
            assert record["slurm_job"] in shown
            answered_before = list(model.answered)
            assert len(answered_before) == 3

            killed = nodes_script("kill-node", str(on_nodes["folder"]), node)
            assert killed.returncode == 0, killed.stderr
            stdout, stderr = launcher.communicate(timeout=300)
        finally:
            if launcher.poll() is None:
                launcher.kill()
            model.release.set()
        assert launcher.returncode != 0
        assert f"Slurm job {record['slurm_job']} its node {node} failed (NODE_FAIL" in stdout, stdout + stderr
        assert not (out / "victim" / "results.json").exists()
        failed = json.loads(evaltasks_cli("status", invocation, "--json").stdout)["jobs"][0]
        assert failed["status"] == "failed" and f"its node {node} failed (NODE_FAIL" in failed["reason"], failed
        assert jobs(invocation[:8])[record["slurm_job"]][1:] == ("NODE_FAIL", node)

        # The rerun takes up the work on the other node, from the response cache on shared storage.
        model.answered.clear()
        rerun = evaltasks_cli("run", "--config", str(cfg))
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        other = ({"node1", "node2"} - {node}).pop()
        assert [v[2] for v in task_jobs(invocation_of(rerun.stdout)).values()] == [other]
        assert json.loads((out / "victim" / "results.json").read_text())["samples"] == 8
        assert len(model.answered) == 5 and not set(model.answered) & set(answered_before)
        # The job's log, written on the node into output_dir, read from here.
        log = evaltasks_cli("logs", invocation_of(rerun.stdout) + ".0")
        assert log.returncode == 0, log.stderr
        assert "cache: 3 hits, 5 new requests" in log.stdout and "done: accuracy=" in log.stdout, log.stdout


def test_runtime_docker_on_nodes_without_docker_is_refused_naming_the_node(on_nodes, tmp_path, docker_client):
    out = on_nodes["shared"] / "docker-runtime"
    with FakeEndpoint(Gsm8kModel(right=range(3)), host=on_nodes["gateway"]) as ep:
        cfg = config(tmp_path / "d.yaml", ep.chat_url, out, gsm8k_tasks(1), on_nodes["shared"], runtime="docker")
        run = evaltasks_cli("run", "--config", str(cfg))
    assert run.returncode != 0
    said = [line for line in (run.stdout + run.stderr).splitlines() if "has no docker command" in line]
    assert len(said) == 1 and "runtime: docker needs Docker and the harness image evaltasks-harness:" in said[0], \
        run.stdout + run.stderr
    assert task_jobs(invocation_of(run.stdout)) == {}


def test_with_requeue_slurm_reruns_a_job_whose_node_failed_and_the_run_succeeds(on_nodes, tmp_path):
    for node in ("node1", "node2"):     # a node an earlier test stopped comes back
        revived = nodes_script("revive-node", str(on_nodes["folder"]), node)
        assert revived.returncode == 0, revived.stdout + revived.stderr
    shared = on_nodes["shared"]
    out = shared / "requeue"
    model = Stalls(answer=2)
    with FakeEndpoint(model, host=on_nodes["gateway"]) as ep:
        cfg = config(tmp_path / "r.yaml", ep.chat_url, out, [{"name": "gsm8k", "id": "again",
                     "overrides": {"config.params.limit_samples": 5, "config.params.parallelism": 1}}],
                     shared, requeue=True)
        launcher = subprocess.Popen([sys.executable, "-m", "evaltasks", "run", "--config", str(cfg)], cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=dict(os.environ, PYTHONUNBUFFERED="1"))
        try:
            assert model.held.wait(300), "the job never reached the endpoint"
            job = json.loads((out / "again" / "slurm.json").read_text())["slurm_job"]
            node = subprocess.run(["squeue", "-h", "-j", job, "-o", "%N"], capture_output=True, text=True).stdout.strip()
            answered_before = list(model.answered)
            killed = nodes_script("kill-node", str(on_nodes["folder"]), node)
            assert killed.returncode == 0, killed.stderr
            model.answered.clear()
            model.release.set()
            stdout, stderr = launcher.communicate(timeout=600)
        finally:
            if launcher.poll() is None:
                launcher.kill()
            model.release.set()
    assert launcher.returncode == 0, stdout + stderr
    assert json.loads((out / "again" / "results.json").read_text())["samples"] == 5
    assert len(model.answered) == 3 and not set(model.answered) & set(answered_before)
    assert "requeued 1 time(s)" in next((out / "again" / "logs").glob("*.*.log")).read_text()
    other = ({"node1", "node2"} - {node}).pop()
    assert jobs("evaltasks-again-")[job][1:] == ("COMPLETED", other)
