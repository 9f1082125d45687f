"""The shipped example configs load, validate and plan (no Docker, no network),
and write their results where a clone ignores them."""

import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, doit

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_lists_its_tasks(path, tmp_path):
    tasks = yaml.safe_load(path.read_text())["evaluation"]["tasks"]
    env = {"API_KEY": "not-a-real-key", "HF_TOKEN_FOR_GPQA_DIAMOND": "not-a-real-token"}
    listed = doit("list", f"config={path}", f"execution.output_dir={tmp_path / 'out'}", env=env)
    assert listed.returncode == 0, listed.stderr
    names = sorted(line.split()[0] for line in listed.stdout.splitlines() if line.startswith("eval:"))
    assert names == sorted(f"eval:{task.get('id', task['name'])}" for task in tasks)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_writes_under_a_git_ignored_folder(path):
    output_dir = yaml.safe_load(path.read_text())["execution"]["output_dir"]
    assert not Path(output_dir).is_absolute() and len(Path(output_dir).parts) > 1, output_dir
    ignored = subprocess.run(["git", "check-ignore", "-q", output_dir], cwd=REPO)
    assert ignored.returncode == 0, f"{output_dir} is not git-ignored: a run would leave untracked results"
