"""Shared fixtures: the real datasets, a scripted gsm8k endpoint, configs, and
helpers that run the real pipeline (doit, Docker) in a subprocess."""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker.errors
import pytest
import yaml

# tests/ on sys.path: test modules import this file's helpers (``from conftest
# import ...``) and tests/support (``from support.endpoint import ...``) from any
# folder below, and so do bench/ scripts.
sys.path.insert(0, str(Path(__file__).parent))

from support.endpoint import FakeEndpoint, is_preflight  # noqa: E402,F401
from support.paths import DATA_DIR, REFERENCE_DIR, REPO  # noqa: E402,F401

# Skips fail the run in CI unless allowed for a named reason (tests/support/skips.py).
pytest_plugins = ["support.skips"]


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory):
    """Tests read the real datasets from DATA_DIR, never the network (gpqa from
    the authors' locked archive, which the harness reads in memory)."""
    if not DATA_DIR.is_dir():
        pytest.exit(f"datasets not found at {DATA_DIR} (set EVALTASKS_DATA_DIR)", returncode=2)
    root = tmp_path_factory.mktemp("datasets")
    catalog_layout(root)
    os.environ["EVALTASKS_DATA_DIR"] = str(root)
    # Runs are recorded in a history of the tests' own, not the user's.
    os.environ["EVALTASKS_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    return root


def catalog_layout(root):
    """Fill ``root`` with DATA_DIR's datasets as the catalog lays them out
    (``<benchmark>/<file>``): mmlu's single CSV built from the per-subject files,
    aime's files under each benchmark's name; every other folder linked."""
    if (DATA_DIR / "mmlu" / "test").is_dir() and not (DATA_DIR / "mmlu" / "mmlu.csv").is_file():
        (root / "mmlu").mkdir()
        mmlu_csv(DATA_DIR / "mmlu" / "test", root / "mmlu" / "mmlu.csv")
    for name, copy in (("aime_2024", "aime24_test.jsonl"), ("aime_2025", "aime25_test.jsonl")):
        if (DATA_DIR / "aime" / copy).is_file() and not (DATA_DIR / name).exists():
            # NeMo-Skills' test.txt, as the catalog names it; a copy, not a link, since
            # a container sees the folder but not what a link inside it points to.
            (root / name).mkdir()
            shutil.copyfile(DATA_DIR / "aime" / copy, root / name / "test.jsonl")
    for folder in DATA_DIR.iterdir():
        if folder.is_dir() and not (root / folder.name).exists():
            (root / folder.name).symlink_to(folder)


def mmlu_csv(per_subject, out):
    """simple-evals' ``mmlu.csv`` (``,Question,A,B,C,D,Answer,Subject``) from the
    Hendrycks per-subject test CSVs in ``per_subject`` (``<subject>_test.csv``, with
    or without a header row), subjects in name order, rows in file order."""
    header = ["Question", "A", "B", "C", "D", "Answer"]
    with open(out, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([""] + header + ["Subject"])
        index = 0
        for path in sorted(per_subject.glob("*_test.csv")):
            with open(path, encoding="utf-8", newline="") as rows:
                for row in csv.reader(rows):
                    if row == header:
                        continue
                    writer.writerow([index] + row + [path.name[:-len("_test.csv")]])
                    index += 1


@pytest.fixture(autouse=True)
def no_docker_unless_marked(request, monkeypatch):
    """A test not marked ``docker`` sees no Docker daemon, so one that needs it
    fails until it is marked, and ``-m "not docker"`` runs on a machine without one."""
    if request.node.get_closest_marker("docker") is None:
        monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/no-docker-for-unmarked-tests.sock")


def reference(*parts):
    """A file or folder of the upstream references the fidelity tests compare with.
    Missing is a failure, not a skip: a suite that skips them is green without
    having checked any benchmark against its upstream."""
    path = REFERENCE_DIR.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"upstream reference {path} not found: these tests compare with it "
                    f"(set EVALTASKS_REFERENCE_DIR, or put it at ../shared/reference)")
    return path


@pytest.fixture(scope="module", autouse=True)
def module_state(data_dir, tmp_path_factory):
    """A run history for each test module, so that no test reads another
    module's runs (a module's own fixtures may share theirs with its tests); a
    test that needs one of its own asks for ``state``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EVALTASKS_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        yield


@pytest.fixture
def state(tmp_path, monkeypatch):
    """A private run history for each test."""
    folder = tmp_path / "state"
    monkeypatch.setenv("EVALTASKS_STATE_DIR", str(folder))
    return folder


def gsm8k_golds():
    from evaltasks.harness.benchmarks import gsm8k

    return gsm8k.load(str(DATA_DIR / "gsm8k"))


class Gsm8kModel:
    """Answers gsm8k questions: right for those whose index is in ``right``,
    off by one otherwise; counts what it was asked."""

    def __init__(self, right):
        self.right = set(right)
        self.by_question = {item["question"]: (i, item["gold"]) for i, item in enumerate(gsm8k_golds())}

    def __call__(self, payload):
        text = payload["messages"][-1]["content"]
        for question, (index, gold) in self.by_question.items():
            if question in text:
                answer = gold if index in self.right else str(int(gold) + 1)
                return f"Let me think step by step.\nSo the total is {answer}.\nAnswer: {answer}"
        return "I do not know."


@pytest.fixture
def gsm8k_endpoint():
    """A live endpoint on 127.0.0.1 answering 2 of every 3 gsm8k questions right."""
    model = Gsm8kModel(right=[i for i in range(1319) if i % 3 != 0])
    with FakeEndpoint(model) as ep:
        yield ep


def free_port():
    """A port free on 127.0.0.1 now, for a server that must be told its port
    before it starts (a deployment's, whose config names it). The one place that
    does this: servers of our own bind port 0 and say which port they got."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answered(ep):
    """Requests for samples the endpoint answered (the preflight check left out)."""
    return [r for r in ep.completed() if not is_preflight(r.payload)]


def container_ids(client, label=None, running_only=False):
    """Ids of the containers the daemon lists, carrying ``label`` (one or a list)
    if given. A plain listing: unlike containers.list(), which inspects each one,
    it cannot fail because a container was removed in the meantime."""
    filters = {"label": label} if label else {}
    return [c["Id"] for c in client.api.containers(all=not running_only, filters=filters)]


def wait_for_container(client, label, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for cid in container_ids(client, label, running_only=True):
            try:
                return client.containers.get(cid)
            except docker.errors.NotFound:
                pass
        time.sleep(0.2)
    raise AssertionError(f"no container with label {label} started")


def gone_within(client, label, seconds):
    """True once no container (running or not) carries ``label``, waiting at most ``seconds``."""
    deadline = time.time() + seconds
    while container_ids(client, label) and time.time() < deadline:
        time.sleep(0.2)
    return container_ids(client, label) == []


def write_config(path, url, output_dir, tasks=None, **sections):
    """A config in the reference document's shape."""
    config = {
        "defaults": [{"execution": "local"}, {"deployment": "none"}, "_self_"],
        "execution": {"output_dir": str(output_dir), "extra_docker_args": "--network host"},
        "target": {"api_endpoint": {"model_id": "test-model", "url": url, "api_key_name": None}},
        "evaluation": {"tasks": tasks or [{"name": "gsm8k", "overrides": {"config.params.limit_samples": 6}}]},
    }
    for key, value in sections.items():
        config[key].update(value)
    Path(path).write_text(yaml.safe_dump(config, sort_keys=False))
    return Path(path)


def doit(*args, env=None, timeout=600, cwd=REPO):
    """Run ``doit`` from the repo root (or ``cwd``), as a user would."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "doit", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def evaltasks_cli(*args, env=None, timeout=600):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "evaltasks", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def results(output_dir, task="gsm8k"):
    return json.loads((Path(output_dir) / task / "results.json").read_text())


@pytest.fixture(scope="session")
def docker_client():
    """The real Docker engine; tests that need it fail (not skip) without it."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as e:
        pytest.fail(f"these tests need a running Docker daemon and the base image "
                    f"(bash scripts/setup.sh starts both): {e}")
    return client


def containers_created(client, output_dir, since):
    """Names of containers created for ``output_dir`` since ``since`` (epoch s)."""
    events = client.events(since=int(since), until=int(time.time()) + 1, decode=True,
                           filters={"type": "container", "event": "create",
                                    "label": f"evaltasks.output_dir={output_dir}"})
    return [e["Actor"]["Attributes"].get("name") for e in events if e["timeNano"] / 1e9 >= since]


SLURM_SCRIPT = REPO / "scripts" / "slurm-cluster.sh"


def cluster_script(*args):
    return subprocess.run(["bash", str(SLURM_SCRIPT), *args], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """SLURM_CONF for the session's cluster; a cluster this fixture started is
    stopped at the end, with nothing left running."""
    if os.environ.get("SLURM_CONF"):
        yield os.environ["SLURM_CONF"]
        return
    # Not under pytest's tmp folders: every user must reach munge's socket.
    folder = Path(tempfile.mkdtemp(prefix="evaltasks-slurm-test-"))
    started = cluster_script("start", str(folder))
    if started.returncode != 0:
        pytest.fail(f"the Slurm cluster did not start:\n{started.stdout}{started.stderr}")
    conf = str(folder / "slurm.conf")
    assert f"export SLURM_CONF={conf}" in started.stdout
    os.environ["SLURM_CONF"] = conf
    try:
        yield conf
    finally:
        del os.environ["SLURM_CONF"]
        stopped = cluster_script("stop", str(folder))
        assert stopped.returncode == 0, stopped.stderr
        assert cluster_script("status", str(folder)).returncode == 3
        shutil.rmtree(folder)


@pytest.fixture(scope="module")
def own_cache(tmp_path_factory):
    """A cache of the module's own (the harness venv is built there), filled offline
    from the wheels this machine already fetched, as an air-gapped user would."""
    from evaltasks.executors import bundle
    from evaltasks.executors.process import venv
    wheels = bundle.wheelhouse(*venv._probe(sys.executable))
    saved = {k: os.environ.get(k) for k in ("EVALTASKS_CACHE_DIR", "EVALTASKS_WHEELHOUSE")}
    os.environ.update(EVALTASKS_CACHE_DIR=str(tmp_path_factory.mktemp("cache")), EVALTASKS_WHEELHOUSE=str(wheels))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                           "--disable-background-networking", "--disable-component-update",
                                           "--disable-sync"])
        yield chromium
        chromium.close()


def open_page(browser, url, width=1280):
    """A page of ``url`` in a window ``width`` px wide, with the console errors
    and any request that leaves file:// (a self-contained page makes none)."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors, requests = [], []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: r.url.startswith("file://") or requests.append(r.url))
    page.goto(url)
    return page, errors, requests
