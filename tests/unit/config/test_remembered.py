"""A config loaded before is taken back from the last load (config/remembered.py)
only while nothing it depended on changed: what a user notices is that every
change is still seen at once, and that errors are said as before."""

import os
import shutil
import subprocess
import sys

import pytest
import yaml

import evaltasks
from evaltasks.config import compose, remembered
from evaltasks.config.errors import ConfigError
from support.paths import REPO

BASE = {
    "defaults": [{"execution": "local"}, {"deployment": "none"}, "_self_"],
    "execution": {"output_dir": "results/x"},
    "target": {"api_endpoint": {"model_id": "m", "url": "http://127.0.0.1:9/v1/chat/completions"}},
    "evaluation": {"tasks": [{"name": "gsm8k", "id": f"t{i}", "overrides": {"config.params.limit_samples": 3}}
                             for i in range(3)]},
}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALTASKS_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def reads(monkeypatch):
    """How many loads read the config anew (the rest came from the last load)."""
    count = []
    anew = compose._load_anew
    monkeypatch.setattr(compose, "_load_anew", lambda *a: count.append(1) or anew(*a))
    return count


def write(tmp_path, document=None, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document or BASE, sort_keys=False))
    return path


def load(tmp_path, path, overrides=()):
    return compose.load(str(path), list(overrides), cwd=str(tmp_path))


def entries(tmp_path):
    folder = tmp_path / "cache" / remembered.FOLDER
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_an_unchanged_config_is_taken_back_whole(tmp_path, reads):
    path = write(tmp_path)
    first = load(tmp_path, path)
    again = load(tmp_path, path)
    assert len(reads) == 1
    assert again == first


def test_taken_back_without_yaml_or_cerberus(tmp_path):
    path = write(tmp_path)
    load(tmp_path, path)
    code = ("import sys; from evaltasks.config import compose; "
            f"cfg = compose.load({str(path)!r}, [], cwd={str(tmp_path)!r}); "
            "print(len(cfg.tasks), 'yaml' in sys.modules, 'cerberus' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.stdout.split() == ["3", "False", "False"], done.stderr


def test_an_edited_file_is_read_again(tmp_path, reads):
    path = write(tmp_path)
    load(tmp_path, path)
    edited = yaml.safe_load(path.read_text())
    edited["evaluation"]["tasks"][0]["overrides"]["config.params.limit_samples"] = 7
    write(tmp_path, edited)
    assert load(tmp_path, path).tasks[0]["params"]["limit_samples"] == 7
    assert len(reads) == 2


def test_another_override_is_applied(tmp_path, reads):
    path = write(tmp_path)
    load(tmp_path, path, ["target.api_endpoint.model_id=a"])
    assert load(tmp_path, path, ["target.api_endpoint.model_id=b"]).target.api_endpoint.model_id == "b"
    assert load(tmp_path, path).target.api_endpoint.model_id == "m"
    assert len(reads) == 3


def test_another_folder_resolves_relative_paths_anew(tmp_path, reads):
    path = write(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    assert load(tmp_path, path).output_dir == str(tmp_path / "results" / "x")
    moved = compose.load(str(path), [], cwd=str(tmp_path / "elsewhere"))
    assert moved.output_dir == str(tmp_path / "elsewhere" / "results" / "x")


def test_a_changed_group_file_or_version_is_read_again(tmp_path, reads, monkeypatch):
    path = write(tmp_path)
    load(tmp_path, path)
    group = os.path.join(remembered.PACKAGE, "config", "groups", "execution", "local.yaml")
    st = os.stat(group)
    os.utime(group, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    try:
        load(tmp_path, path)
    finally:
        os.utime(group, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert len(reads) == 2
    monkeypatch.setattr(evaltasks, "__version__", evaltasks.__version__ + ".post1")
    load(tmp_path, path)
    assert len(reads) == 3


def test_a_changed_task_file_is_seen(tmp_path, reads):
    folder = tmp_path / "tasks"
    shutil.copytree(REPO / "examples" / "tasks", folder)
    path = write(tmp_path, dict(BASE, evaluation={"tasks": [{"name": str(folder / "capitals.yaml")}]}))
    before = load(tmp_path, path).tasks[0]["task_file"]["sha256"]
    task = folder / "capitals.yaml"
    task.write_text(task.read_text().replace("What is the capital", "Name the capital"))
    assert load(tmp_path, path).tasks[0]["task_file"]["sha256"] != before
    assert entries(tmp_path) == []      # a task file's config is never kept: its data may change too


def test_a_changed_environment_variable_is_seen_and_never_stored(tmp_path, monkeypatch):
    document = yaml.safe_load(yaml.safe_dump(BASE))
    document["target"]["api_endpoint"]["model_id"] = "${oc.env:EVAL_TEST_REMEMBERED_MODEL}"
    path = write(tmp_path, document)
    monkeypatch.setenv("EVAL_TEST_REMEMBERED_MODEL", "first")
    assert load(tmp_path, path).target.api_endpoint.model_id == "first"
    monkeypatch.setenv("EVAL_TEST_REMEMBERED_MODEL", "second")
    assert load(tmp_path, path).target.api_endpoint.model_id == "second"
    assert entries(tmp_path) == []


@pytest.mark.parametrize("damage", [b"not marshal at all", b"", None], ids=["garbage", "empty", "truncated"])
def test_a_damaged_entry_is_a_miss_not_an_error(tmp_path, reads, damage):
    path = write(tmp_path)
    first = load(tmp_path, path)
    entry, = entries(tmp_path)
    entry.write_bytes(entry.read_bytes()[:100] if damage is None else damage)
    assert load(tmp_path, path) == first
    assert len(reads) == 2
    assert load(tmp_path, path) == first and len(reads) == 2    # written again, whole


def test_an_error_is_said_the_same_every_time_and_never_kept(tmp_path):
    path = write(tmp_path)
    load(tmp_path, path)
    broken = yaml.safe_load(path.read_text())
    broken["execution"]["mode"] = "sideways"
    write(tmp_path, broken)
    messages = []
    for _ in range(2):
        with pytest.raises(ConfigError) as e:
            load(tmp_path, path)
        messages.append(str(e.value))
    assert messages[0] == messages[1] and "execution.mode" in messages[0] and "\n" not in messages[0]
    with pytest.raises(ConfigError) as e:       # an override's error too
        load(tmp_path, write(tmp_path), ["execution.mode=sideways"])
    assert "execution.mode" in str(e.value)


def test_a_config_read_from_a_pipe_is_read_once(tmp_path):
    # `evaltasks run --config <(envsubst < c.yaml)`: a pipe gives its bytes once.
    read, write_end = os.pipe()
    os.write(write_end, yaml.safe_dump(BASE).encode())
    os.close(write_end)
    try:
        cfg = compose.load(f"/dev/fd/{read}", [], cwd=str(tmp_path))
    finally:
        os.close(read)
    assert [t["id"] for t in cfg.tasks] == ["t0", "t1", "t2"]


def test_an_unwritable_cache_does_not_fail_the_load(tmp_path, monkeypatch):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setenv("EVALTASKS_CACHE_DIR", str(blocked))
    path = write(tmp_path)
    assert load(tmp_path, path) == load(tmp_path, path)
