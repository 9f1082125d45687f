"""The shipped example configs load, validate and plan (no Docker, no network)."""


import pytest

from conftest import REPO, doit

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_lists_its_tasks(path, tmp_path):
    env = {"API_KEY": "not-a-real-key", "HF_TOKEN_FOR_GPQA_DIAMOND": "not-a-real-token"}
    listed = doit("list", f"config={path}", f"execution.output_dir={tmp_path / 'out'}", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "eval:" in listed.stdout
