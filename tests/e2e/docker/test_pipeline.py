"""End to end: config → doit → real harness containers → results.json, against
a real HTTP endpoint on 127.0.0.1."""

import ast
import json
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, answered, containers_created, doit, gone_within, results, wait_for_container, write_config
from evaltasks.executors import bundle
from evaltasks.harness import benchmarks
from evaltasks.pipeline.lock import OutputDirLock
from support.harness_task import cached_replies


@pytest.mark.docker
def test_run_scores_exactly_then_is_up_to_date(tmp_path, gsm8k_endpoint, docker_client):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out, tasks=[
        {"name": "gsm8k", "overrides": {"config.params.limit_samples": 12, "config.params.parallelism": 4}}])

    first = doit("-n", "2", f"config={cfg}")
    assert first.returncode == 0, first.stdout + first.stderr
    r = results(out)
    # The endpoint answers items 1, 2, 4, 5, 7, 8, 10, 11 right: 8 of 12.
    assert r["metrics"]["accuracy"]["value"] == 8 / 12
    assert r["metrics"]["accuracy"]["n"] == 12 and r["samples"] == 12
    assert r["model_id"] == "test-model" and r["params"]["limit_samples"] == 12
    assert len(answered(gsm8k_endpoint)) == 12
    samples = (out / "gsm8k" / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 12
    assert "progress 12/12" in (out / "gsm8k" / "logs" / "stdout.log").read_text()
    assert "done       eval:gsm8k  accuracy=0.6667 (n=12)" in first.stdout

    since = time.time()
    second = doit("-n", "2", f"config={cfg}")
    assert second.returncode == 0, second.stderr
    assert "1 up to date: eval:gsm8k" in second.stdout
    assert len(gsm8k_endpoint.requests) == 13                     # no new request (12 + preflight)
    assert containers_created(docker_client, str(out), since) == []


@pytest.mark.docker
def test_only_the_changed_task_reruns(tmp_path, gsm8k_endpoint):
    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "id": "a", "overrides": {"config.params.limit_samples": 3}},
             {"name": "gsm8k", "id": "b", "overrides": {"config.params.limit_samples": 4}}]
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out, tasks=tasks)
    assert doit("-n", "1", f"config={cfg}").returncode == 0
    # b runs after a, and its first three questions are a's: the shared response cache answers them.
    assert len(answered(gsm8k_endpoint)) == 4
    sent = len(gsm8k_endpoint.requests)

    # execution.mode and run-only params do not change what a task measures.
    quiet = doit(f"config={cfg}", "execution.mode=sequential",
                 "evaluation.tasks.a.overrides.config.params.parallelism=3")
    assert quiet.returncode == 0 and "2 up to date: eval:a, eval:b" in quiet.stdout
    assert len(gsm8k_endpoint.requests) == sent
    # Both scores in the end table, in the config's order.
    table = [line.split()[:4] for line in quiet.stdout.splitlines() if line.startswith("  eval:")]
    assert table == [["eval:a", "up", "to", "date"], ["eval:b", "up", "to", "date"]]

    changed = doit("-n", "2", f"config={cfg}", "evaluation.tasks.b.overrides.config.params.limit_samples=5")
    assert changed.returncode == 0, changed.stderr
    assert "1 up to date: eval:a" in changed.stdout and "running    eval:b" in changed.stdout
    table = [line.split()[:2] for line in changed.stdout.splitlines() if line.startswith("  eval:")]
    assert table == [["eval:b", "done"]]            # what ran; a is in the count line
    assert len(answered(gsm8k_endpoint)) == 5                     # only question 5 is new
    assert results(out, "b")["samples"] == 5 and results(out, "a")["samples"] == 3


def copy_of_the_repo(dest):
    """The launcher and harness as a clone would have them, to edit without
    touching this checkout; ``python -m doit`` run there imports this copy."""
    shutil.copytree(REPO / "evaltasks", dest / "evaltasks", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dodo.py", "README.md"):
        shutil.copy(REPO / name, dest / name)
    return dest


@pytest.mark.docker
def test_editing_a_benchmark_reruns_exactly_its_task(tmp_path, data_dir):
    """The up-to-date check follows the harness code each task runs: a README
    edit reruns nothing, an edit of gsm8k.py reruns gsm8k and not math500."""
    from support.endpoint import FakeEndpoint

    repo = copy_of_the_repo(tmp_path / "clone")
    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 3}},
             {"name": "math500", "overrides": {"config.params.limit_samples": 3}}]
    no_cache = {"overrides": {"target.api_endpoint.adapter_config.use_caching": False}}
    with FakeEndpoint() as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=tasks, evaluation=no_cache)
        first = doit("-n", "2", f"config={cfg}", cwd=repo)
        assert first.returncode == 0, first.stdout + first.stderr
        sent = len(answered(ep))
        assert sent == 6
        written = {t: (out / t / "results.json").stat().st_mtime_ns for t in ("gsm8k", "math500")}

        (repo / "README.md").write_text((repo / "README.md").read_text() + "\nAn edit.\n")
        readme = doit("-n", "2", f"config={cfg}", cwd=repo)
        assert readme.returncode == 0, readme.stdout
        assert "2 up to date: " in readme.stdout, readme.stdout
        assert len(answered(ep)) == sent

        module = repo / "evaltasks" / "harness" / "benchmarks" / "gsm8k.py"
        module.write_text(module.read_text() + "\n# an edit that changes no behaviour\n")
        edited = doit("-n", "2", f"config={cfg}", cwd=repo)
    assert edited.returncode == 0, edited.stdout + edited.stderr
    assert "1 up to date: eval:math500" in edited.stdout and "running    eval:gsm8k" in edited.stdout
    assert len(answered(ep)) == sent + 3                       # caching is off: gsm8k asked again
    assert (out / "gsm8k" / "results.json").stat().st_mtime_ns > written["gsm8k"]
    assert (out / "math500" / "results.json").stat().st_mtime_ns == written["math500"]


@pytest.mark.docker
def test_api_key_reaches_the_endpoint_and_no_file(tmp_path, data_dir):
    from conftest import Gsm8kModel
    from support.endpoint import FakeEndpoint

    secret = "sk-test-0123456789abcdef"
    out = tmp_path / "results"
    with FakeEndpoint(Gsm8kModel(right=range(6)), api_key=secret) as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out,
                           target={"api_endpoint": {"model_id": "test-model", "url": ep.chat_url,
                                                    "api_key_name": "EVAL_TEST_KEY"}})
        run = doit(f"config={cfg}", env={"EVAL_TEST_KEY": secret})
    assert run.returncode == 0, run.stdout + run.stderr
    assert results(out)["metrics"]["accuracy"]["value"] == 1.0       # 401s would have failed the run
    assert secret not in run.stdout + run.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == ".doit.db" for p in files) and any(p.name == "stdout.log" for p in files)
    assert "api_key_name: EVAL_TEST_KEY" in (out / "gsm8k" / "run_config.yml").read_text()    # by name
    for path in files:
        assert secret.encode() not in path.read_bytes(), path


@pytest.mark.docker
def test_failed_task_leaves_no_results_and_says_why(tmp_path, data_dir):
    from support.endpoint import FakeEndpoint

    out = tmp_path / "results"
    with FakeEndpoint(model_id="another-model") as ep:          # every request: 404 unknown model
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out)
        run = doit(f"config={cfg}", "execution.preflight=false")
    assert run.returncode != 0
    assert not (out / "gsm8k" / "results.json").exists()
    # Workers stop taking new samples after the first failure; how many were in flight varies.
    assert re.search(r"FAILED     eval:gsm8k  \d of 6 samples failed \(\d× HTTP 404\)", run.stdout), run.stdout
    assert "first: HTTP 404: The model `test-model` does not exist" in run.stdout
    assert "HTTP 404" in (out / "gsm8k" / "logs" / "stdout.log").read_text()


@pytest.mark.docker
def test_a_task_out_of_memory_says_so(tmp_path, gsm8k_endpoint):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out,
                       execution={"extra_docker_args": "--network host --memory 10m"})
    run = doit(f"config={cfg}")
    assert run.returncode != 0
    assert "FAILED     eval:gsm8k  the container ran out of memory (exit 137); raise --memory" in run.stdout
    assert "[launcher] failed: the container ran out of memory" in (out / "gsm8k" / "logs" / "stdout.log").read_text()
    assert not (out / "gsm8k" / "results.json").exists()


def test_a_second_run_on_the_same_output_dir_is_refused(tmp_path, gsm8k_endpoint):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out)
    out.mkdir()
    holder = OutputDirLock(str(out))
    holder.acquire("a test holding the lock")
    try:
        run = doit(f"config={cfg}")
    finally:
        holder.release()
    assert run.returncode != 0
    assert f"error: cannot start: output dir {out} is in use by another run" in run.stdout
    assert gsm8k_endpoint.requests == []


def test_no_docker_daemon_is_one_clear_line(tmp_path, gsm8k_endpoint):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out)
    run = doit(f"config={cfg}", env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert run.returncode != 0
    assert f"error: cannot start: no Docker daemon answers at unix://{tmp_path}/no-such.sock (no socket there)" \
        in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert gsm8k_endpoint.requests == []


@pytest.mark.docker
def test_ctrl_c_removes_containers_and_leaves_no_results(tmp_path, docker_client, data_dir):
    from conftest import Gsm8kModel
    from support.endpoint import FakeEndpoint

    out = tmp_path / "results"
    label = f"evaltasks.output_dir={out}"
    with FakeEndpoint(Gsm8kModel(right=range(50)), latency=0.5) as slow:
        cfg = write_config(tmp_path / "c.yaml", slow.chat_url, out, tasks=[
            {"name": "gsm8k", "overrides": {"config.params.limit_samples": 40, "config.params.parallelism": 1}}])
        proc = subprocess.Popen([sys.executable, "-m", "doit", f"config={cfg}"], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_container(docker_client, label)
        deadline = time.time() + 60
        while len(answered(slow)) < 3 and time.time() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        assert gone_within(docker_client, label, 10)
        assert not (out / "gsm8k" / "results.json").exists()

    # Every reply the interrupted run received is in the response cache (whole
    # entries only: a line cut short is no answer): the rerun asks only for the rest.
    received = len(cached_replies(out / ".response_cache"))
    assert received == len(answered(slow)) >= 3
    with FakeEndpoint(Gsm8kModel(right=range(50))) as fast:
        cfg = write_config(tmp_path / "c.yaml", fast.chat_url, out, tasks=[
            {"name": "gsm8k", "overrides": {"config.params.limit_samples": 40, "config.params.parallelism": 1}}])
        again = doit(f"config={cfg}")
        assert len(answered(fast)) == 40 - received
    assert again.returncode == 0, again.stdout
    assert results(out)["metrics"]["accuracy"]["value"] == 1.0


def test_doit_list_needs_no_docker(tmp_path, gsm8k_endpoint):
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, tmp_path / "results", tasks=[
        {"name": "gsm8k", "id": "first", "overrides": {"config.params.limit_samples": 5}},
        {"name": "gsm8k", "id": "second"}])
    listed = doit("list", f"config={cfg}", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any(l.startswith("eval:first") and "5 of 1319 samples" in l for l in lines)
    assert any(l.startswith("eval:second") and "all 1319 samples" in l for l in lines)


@pytest.mark.docker
def test_transient_faults_change_nothing(tmp_path, data_dir):
    from conftest import Gsm8kModel
    from support.endpoint import FakeEndpoint

    out = tmp_path / "results"
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 24, "config.params.parallelism": 8}}]
    with FakeEndpoint(Gsm8kModel(right=[i for i in range(24) if i % 3]), fault_rate=0.3, retry_after=1,
                      fault_kinds=("500", "502", "503", "429", "reset")) as flaky:
        cfg = write_config(tmp_path / "c.yaml", flaky.chat_url, out, tasks=tasks)
        run = doit(f"config={cfg}", "execution.preflight=false")
    assert run.returncode == 0, run.stdout
    faults = [r for r in flaky.requests if r.status != 200]
    assert faults, "no fault was injected"
    r = results(out)
    assert r["metrics"]["accuracy"]["value"] == 16 / 24 and r["samples"] == 24 and r["failed_samples"] == 0
    assert r["response_stats"]["requests"] == 24


@pytest.mark.docker
def test_raising_the_limit_sends_only_the_new_requests(tmp_path, gsm8k_endpoint):
    out = tmp_path / "results"
    cfg = write_config(tmp_path / "c.yaml", gsm8k_endpoint.chat_url, out, tasks=[
        {"name": "gsm8k", "overrides": {"config.params.limit_samples": 100, "config.params.parallelism": 16}}])
    assert doit(f"config={cfg}").returncode == 0
    assert len(answered(gsm8k_endpoint)) == 100
    more = doit(f"config={cfg}", "evaluation.tasks.gsm8k.overrides.config.params.limit_samples=200")
    assert more.returncode == 0, more.stdout
    assert len(answered(gsm8k_endpoint)) == 200                 # exactly 100 new
    warmer = doit(f"config={cfg}", "evaluation.tasks.gsm8k.overrides.config.params.temperature=0.5")
    assert warmer.returncode == 0
    assert len(answered(gsm8k_endpoint)) == 300                 # a new temperature is a new request
    assert results(out)["samples"] == 100


@pytest.mark.docker
def test_adapters_shape_what_the_endpoint_receives(tmp_path, data_dir):
    from support.endpoint import FakeEndpoint

    out = tmp_path / "results"
    reply = {"role": "assistant", "content": "<think>18 minus 3 is 15</think>Answer: 18"}
    with FakeEndpoint(lambda payload: reply) as ep:
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=[
            {"name": "gsm8k", "overrides": {"config.params.limit_samples": 2}}],
            evaluation={"overrides": {
                "target.api_endpoint.adapter_config.use_system_prompt": True,
                "target.api_endpoint.adapter_config.custom_system_prompt": "Think step by step.",
                "target.api_endpoint.adapter_config.use_reasoning": True,
                "target.api_endpoint.adapter_config.params_to_add": {"top_k": 5},
                "target.api_endpoint.adapter_config.params_to_remove": ["temperature"]}})
        run = doit(f"config={cfg}", "execution.preflight=false")
    assert run.returncode == 0, run.stdout
    sent = ep.requests[0].payload
    assert sent["messages"][0] == {"role": "system", "content": "Think step by step."}
    assert sent["top_k"] == 5 and "temperature" not in sent
    first = json.loads((out / "gsm8k" / "samples.jsonl").read_text().splitlines()[0])
    assert first["prompt"][0]["content"] == "Think step by step."
    assert first["request_params"]["top_k"] == 5 and "temperature" not in first["request_params"]
    assert first["response"] == "Answer: 18" and first["reasoning"] == "18 minus 3 is 15"
    assert first["score"] == 1.0                                # question 0's answer is 18


def sibling_imports(path):
    """The modules of benchmarks/ that a benchmark module imports (``from . import x``, ``from .x import``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {alias.name for alias in node.names}
    return found


BENCHMARK_MODULES = sorted({b.module for b in benchmarks.CATALOG.values()})


@pytest.mark.parametrize("module", BENCHMARK_MODULES)
def test_each_task_is_fingerprinted_on_exactly_the_benchmark_code_it_runs(module, tmp_path, monkeypatch):
    """Editing any file of harness/benchmarks/ changes a task's fingerprint iff
    the task runs that file: its own module, what it imports, the package's
    __init__.py. (The end-to-end test above shows one such edit rerunning its task.)"""
    harness = copy_of_the_repo(tmp_path) / "evaltasks" / "harness"
    monkeypatch.setattr(bundle, "HARNESS", harness)
    digest = bundle.task_code_digest.__wrapped__
    uses = {module, "__init__"} | sibling_imports(harness / "benchmarks" / f"{module}.py")
    wrong = []
    for path in sorted((harness / "benchmarks").glob("*.py")):
        before = digest(module)
        path.write_text(path.read_text() + "\n# an edit\n")
        if (digest(module) != before) != (path.stem in uses):
            wrong.append(path.name)
    assert wrong == [], f"{module}: the fingerprint disagrees on edits of {wrong}"
