"""runtime: process — the harness venv (executors/process/venv.py) and the harness as a
plain child process (executors/process/children.py), against the real harness, the real
wheelhouse and a real endpoint on 127.0.0.1."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import FakeEndpoint, doit, write_config
from evaltasks.config import compose as config
from evaltasks.data import datasets
from evaltasks.executors import bundle
from evaltasks.pipeline import plan
from evaltasks.executors.process import children as process
from evaltasks.pipeline import actions as runner
from evaltasks.executors.process import venv
from evaltasks.executors.job import JobEnv
from evaltasks.executors.base import unsafe_code_refusal
from evaltasks.executors.process.executor import Processes
from evaltasks.config.sections import Execution
from evaltasks.harness import benchmarks


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache of the tests' own, filled offline from the wheels this machine
    already fetched for the harness (EVALTASKS_WHEELHOUSE), as an air-gapped user would."""
    wheels = bundle.wheelhouse(*venv._probe(sys.executable))
    saved = {k: os.environ.get(k) for k in ("EVALTASKS_CACHE_DIR", "EVALTASKS_WHEELHOUSE")}
    root = tmp_path_factory.mktemp("cache")
    os.environ.update(EVALTASKS_CACHE_DIR=str(root), EVALTASKS_WHEELHOUSE=str(wheels))
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def harness_venv(cache):
    return venv.ensure(log=lambda m: None)


def in_venv(env, code):
    return subprocess.run([env.python, "-I", "-c", code], capture_output=True, text=True, check=True).stdout


def test_venv_holds_the_pinned_requirements_and_a_copy_of_the_harness(cache, harness_venv):
    assert Path(harness_venv.path) == cache / "venvs" / harness_venv.digest
    names = tuple(r.split("==")[0] for r in bundle.requirements())
    found = json.loads(in_venv(harness_venv, (
        "import json, importlib.metadata as m, evaltasks.harness, nltk, langdetect, jinja2\n"
        "print(json.dumps({'file': evaltasks.harness.__file__,"
        f" 'versions': [f'{{d}}=={{m.version(d)}}' for d in {names!r}]}}))")))
    assert found["file"].startswith(harness_venv.path + "/")
    assert found["versions"] == bundle.requirements()


def test_second_ensure_reuses_the_venv_at_once(harness_venv):
    said = []
    again = venv.ensure(log=said.append)
    assert again == harness_venv and said == []         # nothing built or installed, nothing to say


def test_a_harness_edit_gives_a_new_venv_and_leaves_the_old_one(tmp_path, monkeypatch, harness_venv):
    edited = tmp_path / "evaltasks" / "harness"
    shutil.copytree(bundle.HARNESS, edited, ignore=shutil.ignore_patterns("__pycache__"))
    (edited / "__init__.py").write_text((edited / "__init__.py").read_text() + "EDITED = True\n")
    monkeypatch.setattr(bundle, "HARNESS", edited)
    said = []
    new = venv.ensure(log=said.append)
    assert new.digest != harness_venv.digest and new.path != harness_venv.path
    assert said == [f"building harness venv {new.path}"]
    check = "import evaltasks.harness as h; print(getattr(h, 'EDITED', False))"
    assert in_venv(new, check).strip() == "True"
    assert in_venv(harness_venv, check).strip() == "False"


def specs_for(path, url, output_dir, tasks=None):
    write_config(path, url, output_dir, tasks)
    return plan.task_specs(config.load(str(path)), "feedc0ffee00")


def start(spec, env, processes, done):
    """Run the task's harness in a thread, as the runner's execute would."""
    task_dir = Path(spec.task_dir)
    (task_dir / "logs").mkdir(parents=True, exist_ok=True)
    (task_dir / "task.json").write_text(json.dumps(runner.harness_task(spec)))
    data = datasets.ensure(benchmarks.resolve(spec.benchmark), log=lambda m: None)

    def run():
        with open(spec.log, "wb") as log:
            done.append(process.launch(spec, "feedc0ffee00", env.python, JobEnv.of(spec, Execution(), data), log,
                                       processes))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def scores(output_dir):
    rows = [json.loads(l) for l in (Path(output_dir) / "gsm8k" / "samples.jsonl").read_text().splitlines()]
    return [(r["index"], r["extracted"], r["gold"], r["score"]) for r in rows]


def test_the_harness_gets_the_key_and_env_vars_on_stdin_and_no_file_line_or_environment_shows_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "s3cret-key")
    monkeypatch.setenv("MY_TOKEN", "s3cret-token")
    write_config(tmp_path / "k.yaml", "http://127.0.0.1:9/v1/chat/completions", tmp_path / "out",
                 target={"api_endpoint": {"model_id": "m", "url": "http://127.0.0.1:9/v1/chat/completions",
                                          "api_key_name": "MY_KEY"}},
                 evaluation={"tasks": [{"name": "gsm8k", "env_vars": {"HF_TOKEN": "MY_TOKEN"}}]})
    [spec] = plan.task_specs(config.load(str(tmp_path / "k.yaml")), "feedc0ffee00")
    data = datasets.folder(benchmarks.resolve("gsm8k"))
    job = JobEnv.of(spec, Execution(), data)
    env = process.environment(job)
    # Over its stdin, never in its environment (which code it runs could read).
    assert "MY_KEY" not in env and "HF_TOKEN" not in env and "s3cret" not in json.dumps(env)
    assert job.secret_values() == {"MY_KEY": "s3cret-key", "HF_TOKEN": "s3cret-token"}
    assert Path(env["EVALTASKS_DATA_DIR"], "gsm8k") == Path(data)
    assert env["EVALTASKS_RESPONSE_CACHE"] == str(tmp_path / "out" / ".response_cache")
    line = process.command_line("/venv/bin/python", job)
    assert "MY_KEY=$MY_KEY" in line and "HF_TOKEN=$MY_TOKEN" in line and "s3cret" not in line
    assert line.endswith(f"-m evaltasks.harness {spec.task_dir}  # stdin: one JSON line with "
                         "HF_TOKEN=$MY_TOKEN, MY_KEY=$MY_KEY")


def test_the_harness_process_gets_the_key_over_stdin_not_its_environment(tmp_path, harness_venv, monkeypatch):
    monkeypatch.setenv("PROC_KEY", "sk-proc-4411")
    with FakeEndpoint(api_key="sk-proc-4411", latency=0.5) as ep:
        write_config(tmp_path / "k.yaml", ep.chat_url, tmp_path / "out",
                     target={"api_endpoint": {"model_id": "test-model", "url": ep.chat_url, "api_key_name": "PROC_KEY"}},
                     evaluation={"tasks": [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 2}}]})
        [spec] = plan.task_specs(config.load(str(tmp_path / "k.yaml")), "feedc0ffee00")
        done = []
        thread = start(spec, harness_venv, Processes(), done)
        assert wait_for(lambda: ep.requests, 60), Path(spec.log).read_text()
        [pid] = running(spec.task_dir)
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        thread.join(60)
    assert done == [process.Outcome(code=0)], Path(spec.log).read_text()
    assert {r.headers["authorization"] for r in ep.requests} == {"Bearer sk-proc-4411"}
    assert b"sk-proc-4411" not in environ


@pytest.mark.docker
def test_gsm8k_scores_as_in_the_container(tmp_path, gsm8k_endpoint, harness_venv, docker_client):
    tasks = [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 12}}]
    in_docker = tmp_path / "docker"
    assert doit(f"config={write_config(tmp_path / 'd.yaml', gsm8k_endpoint.chat_url, in_docker, tasks)}").returncode == 0
    [spec] = specs_for(tmp_path / "p.yaml", gsm8k_endpoint.chat_url, tmp_path / "process", tasks)
    done = []
    start(spec, harness_venv, Processes(), done).join(120)
    assert done == [process.Outcome(code=0)], Path(spec.log).read_text()
    assert scores(tmp_path / "process") == scores(in_docker)
    assert sum(s[3] for s in scores(in_docker)) == 8        # 2 of every 3 right
    metrics = lambda d: json.loads((Path(d) / "gsm8k" / "results.json").read_text())["metrics"]
    assert metrics(tmp_path / "process") == metrics(in_docker)
    assert not (Path(spec.task_dir) / process.RECORD).exists()
    # provenance says which runtime produced each: the venv, or the image; the same data.
    prov = lambda d: json.loads((Path(d) / "gsm8k" / "results.json").read_text())["provenance"]
    assert Path(prov(tmp_path / "process")["runtime"]["venv"]).resolve() == Path(harness_venv.path).resolve()
    assert "venv" not in prov(in_docker)["runtime"] and prov(in_docker)["runtime"]["image_id"]
    read = lambda d: [(f["file"], f["sha256"], f["rows"]) for f in prov(d)["datasets"]]
    assert read(tmp_path / "process") == read(in_docker) and read(in_docker)[0][2] == 12


SLEEPER = "sleep 3171"      # a command line no other process has


def sleeping_code(payload):
    """HumanEval code that starts a background process and then waits."""
    return (f"```python\nimport subprocess, time\nsubprocess.Popen({SLEEPER.split()!r})\n"
            "time.sleep(300)\n```")


def running(words):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if words in cmdline and state != "Z":
            found.append(int(pid))
    return found


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


@pytest.fixture
def sleeping_task(tmp_path, harness_venv):
    """A humaneval task whose one program is running (with a child of its own)."""
    with FakeEndpoint(sleeping_code) as ep:
        tasks = [{"name": "humaneval", "overrides": {"config.params.limit_samples": 1,
                                                     "config.params.extra.timeout": 120}}]
        [spec] = specs_for(tmp_path / "h.yaml", ep.chat_url, tmp_path / "out", tasks)
        done, processes = [], Processes()
        thread = start(spec, harness_venv, processes, done)
        assert wait_for(lambda: running(SLEEPER), 60), Path(spec.log).read_text()
        yield spec, done, thread
        processes.stop_all(grace=1)
        thread.join(30)


def test_stop_ends_the_harness_and_every_process_it_started(sleeping_task):
    spec, done, thread = sleeping_task
    [record] = process.find(spec.output_dir, job=spec.job_id)
    assert process.find(spec.output_dir, invocation="000000000000") == []
    assert process.stop(record, grace=2)
    thread.join(30)
    # The harness ends itself on SIGTERM (it stores the replies in flight, then exits 1).
    assert done == [process.Outcome(code=1, stopped=True, reason="stopped")]
    assert running(SLEEPER) == [] and running(spec.task_dir) == []
    assert process.find(spec.output_dir) == []
    assert not (Path(spec.task_dir) / "results.json").exists()
    assert not process.stop(record)


def test_a_kill_from_outside_is_not_taken_for_a_stop(tmp_path, harness_venv):
    with FakeEndpoint(latency=60) as ep:
        [spec] = specs_for(tmp_path / "g.yaml", ep.chat_url, tmp_path / "out")
        done = []
        thread = start(spec, harness_venv, Processes(), done)
        assert wait_for(lambda: len(ep.requests) > 0, 60)
        [record] = process.find(spec.output_dir)
        os.kill(record.pid, 9)
        thread.join(30)
    [outcome] = done
    # As root dmesg is readable, and it says the OOM killer was not involved.
    assert (outcome.signal, outcome.stopped, outcome.out_of_memory, outcome.reason) == \
        ("SIGKILL", False, False, "killed by SIGKILL")


def test_sandbox_limits_hold_outside_a_container(harness_venv):
    found = json.loads(in_venv(harness_venv, (
        "import json; from evaltasks.harness.sandbox import run_python as run\n"
        "print(json.dumps([run('x = bytearray(1 << 34)', 5), run('while True: pass', 1)]))")))
    assert found[0]["result"].startswith("failed: MemoryError")
    assert found[1]["result"] == "timed out"


def test_only_benchmarks_that_run_model_code_need_the_opt_in():
    assert [name for name in benchmarks.CATALOG if benchmarks.executes_model_code(name)] == ["humaneval", "mbpp"]
    specs = [SimpleNamespace(id="he", benchmark="simple_evals.humaneval"), SimpleNamespace(id="g", benchmark="gsm8k")]
    refusal = unsafe_code_refusal(specs, confirmed=False)
    assert refusal.startswith("task(s) he run model-written code") and "\n" not in refusal
    assert unsafe_code_refusal(specs, confirmed=True) is None
    assert unsafe_code_refusal(specs[1:], confirmed=False) is None
